// I/O bitmaps and unconditional I/O exiting (Intel SDM Vol. 3C, 26.1.3, 25.6.4) with the I/O exit
// qualification (Table 28-5: size - 1, direction, string, REP, operand encoding, port), and the
// MSR bitmaps (25.6.9): low and high MSR ranges, read and write halves, MSRs outside both ranges.
import { describe, expect, it } from "vitest";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import { L, runToExit, sym, tsVm } from "./helpers.js";

type Machine = ReturnType<typeof tsVm>["machine"];

/** Sets the I/O-bitmap bit of each port (bitmap A for 0-0x7FFF, B for 0x8000-0xFFFF). */
function setPorts(machine: Machine, ports: number[]): void {
  for (const port of ports) {
    const base = port < 0x8000 ? L.IO_BITMAP_A : L.IO_BITMAP_B;
    const bit = port & 0x7fff;
    const a = base + (bit >>> 3);
    machine.memory.write8(a, machine.memory.read8(a) | (1 << (bit & 7)));
  }
}

/** Runs `code` (then VMCALL) and returns the first exit plus where the instruction and the VMCALL are. */
function io(code: string, proc: number, ports: number[] = []) {
  const { machine, symbols } = tsVm(`start:\n${code}\nafter: vmcall`, { proc });
  setPorts(machine, ports);
  const exit = runToExit(machine, true);
  return { machine, exit, info: machine.vmx.exitInfo(), insn: symbols.get("insn"), after: sym(symbols, "after") };
}

const BITMAPS = C.CPU_BASED_USE_IO_BITMAPS;
const UNCOND = C.CPU_BASED_UNCOND_IO_EXITING;
const q = (size: number, isIn: boolean, imm: boolean, port: number) =>
  ((size - 1) | (isIn ? 8 : 0) | (imm ? 0x40 : 0) | (port << 16)) >>> 0;

describe("I/O bitmaps: the exit qualification", () => {
  const cases: [string, string, number, number][] = [
    ["OUT imm8, AL", "insn: out 0x80, al", q(1, false, true, 0x80), 2],
    ["IN AL, imm8", "insn: in al, 0x80", q(1, true, true, 0x80), 2],
    ["OUT imm8, AX", "insn: out 0x80, ax", q(2, false, true, 0x80), 3],
    ["IN EAX, imm8", "insn: in eax, 0x80", q(4, true, true, 0x80), 2],
    ["OUT DX, AL", "mov edx, 0x80\ninsn: out dx, al", q(1, false, false, 0x80), 1],
    ["IN AX, DX", "mov edx, 0x80\ninsn: in ax, dx", q(2, true, false, 0x80), 2],
    ["OUT DX, EAX", "mov edx, 0x80\ninsn: out dx, eax", q(4, false, false, 0x80), 1],
    ["IN EAX, DX", "mov edx, 0x80\ninsn: in eax, dx", q(4, true, false, 0x80), 1],
  ];
  for (const [name, code, qualification, length] of cases) {
    it(`${name}: 0x${qualification.toString(16)}, length ${length}`, () => {
      const r = io(code, BITMAPS, [0x80]);
      expect(r.exit).toEqual({ reason: EXIT_REASON.IO_INSTRUCTION, qualification });
      expect(r.info.instructionLength).toBe(length);
      expect(r.info.guestRip).toBe(r.insn);
    });
  }

  it("the exiting IN does not change EAX", () => {
    const r = io("mov eax, 0x11223344\nmov edx, 0x80\ninsn: in eax, dx", BITMAPS, [0x80]);
    expect(r.machine.cpu.regs[0]! >>> 0).toBe(0x11223344);
  });
});

describe("I/O bitmaps: which accesses exit", () => {
  const exits = (code: string, ports: number[]) => io(code, BITMAPS, ports).exit.reason === EXIT_REASON.IO_INSTRUCTION;

  it("a port whose bit is clear does not exit, its neighbour's bit notwithstanding", () => {
    expect(exits("out 0x81, al", [0x80, 0x82])).toBe(false);
    expect(exits("out 0x80, al", [0x80])).toBe(true);
  });

  it("ports 0x8000-0xFFFF use bitmap B (0x8000 is bit 0 of B)", () => {
    expect(exits("mov edx, 0x8000\nout dx, al", [0x8000])).toBe(true);
    expect(exits("mov edx, 0x8001\nout dx, al", [0x8000])).toBe(false);
    expect(exits("mov edx, 0xfffe\nout dx, al", [0xfffe])).toBe(true);
    // Bit 0 of bitmap A is port 0, not 0x8000.
    expect(exits("mov edx, 0x8000\nout dx, al", [0])).toBe(false);
    const r = io("mov edx, 0x8000\ninsn: out dx, al", BITMAPS, [0x8000]);
    expect(r.exit.qualification).toBe(q(1, false, false, 0x8000));
  });

  it("a multi-byte access exits if the bit of any port it touches is set", () => {
    // Only 0x81 is set: a dword at 0x7E covers 0x7E-0x81, a word at 0x7E does not reach it.
    expect(exits("mov edx, 0x7e\nout dx, eax", [0x81])).toBe(true);
    expect(exits("mov edx, 0x7e\nout dx, ax", [0x81])).toBe(false);
    expect(exits("mov edx, 0x80\nin ax, dx", [0x81])).toBe(true);
    expect(exits("mov edx, 0x82\nin ax, dx", [0x81])).toBe(false);
  });

  it("an access straddling bitmaps A and B checks both", () => {
    expect(exits("mov edx, 0x7fff\nout dx, ax", [0x8000])).toBe(true);
    expect(exits("mov edx, 0x7fff\nout dx, ax", [0x7fff])).toBe(true);
    expect(exits("mov edx, 0x7fff\nout dx, ax", [])).toBe(false);
  });

  it("an access that wraps past 0xFFFF always exits", () => {
    const r = io("mov edx, 0xffff\ninsn: out dx, ax", BITMAPS, []);
    expect(r.exit).toEqual({ reason: EXIT_REASON.IO_INSTRUCTION, qualification: q(2, false, false, 0xffff) });
    expect(exits("mov edx, 0xfffd\nin eax, dx", [])).toBe(true);
    expect(exits("mov edx, 0xfffc\nin eax, dx", [])).toBe(false);
    expect(exits("mov edx, 0xffff\nout dx, al", [])).toBe(false);
  });
});

describe("unconditional I/O exiting and its precedence", () => {
  it("without I/O bitmaps, unconditional I/O exiting makes every access exit", () => {
    const r = io("insn: out 0xe9, al", UNCOND);
    expect(r.exit).toEqual({ reason: EXIT_REASON.IO_INSTRUCTION, qualification: q(1, false, true, 0xe9) });
    expect(r.machine.consoleText()).toBe("");
  });

  it("with I/O bitmaps, unconditional I/O exiting is ignored", () => {
    const r = io("mov al, 'x'\nout 0xe9, al", BITMAPS | UNCOND, [0x80]);
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.consoleText()).toBe("x");
  });

  it("with neither control, I/O never exits and reaches the devices", () => {
    const r = io("mov al, 'o'\nout 0xe9, al\nmov al, 'k'\nmov edx, 0xe9\nout dx, al", 0);
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.consoleText()).toBe("ok");
  });

  it("the hypervisor emulates the OUT and skips it: the guest goes on", () => {
    const { machine, symbols } = tsVm("start:\nmov al, 'h'\ninsn: out 0xe9, al\nafter: vmcall", { proc: UNCOND });
    const exit = runToExit(machine, true);
    expect(exit.qualification >>> 16).toBe(0xe9);
    machine.ports.out(exit.qualification >>> 16, 1, machine.cpu.regs[0]! & 0xff);
    machine.vmx.write(VMCS.GUEST_RIP, sym(symbols, "after"));
    expect(runToExit(machine, false).reason).toBe(EXIT_REASON.VMCALL);
    expect(machine.consoleText()).toBe("h");
  });
});

// ---------------------------------------------------------------------------------------------

/** Sets MSR-bitmap bits: which = 0 read-low, 1 read-high, 2 write-low, 3 write-high (1 KiB each). */
function setMsr(machine: Machine, which: 0 | 1 | 2 | 3, msr: number): void {
  const bit = msr & 0x1fff;
  const a = L.MSR_BITMAP + 1024 * which + (bit >>> 3);
  machine.memory.write8(a, machine.memory.read8(a) | (1 << (bit & 7)));
}

function msrRun(code: string, proc: number, bits: [0 | 1 | 2 | 3, number][] = []) {
  const { machine, symbols } = tsVm(`start:\n${code}\nafter: vmcall`, {
    proc,
    exceptionBitmap: 1 << 13,
    extra: [[VMCS.GUEST_SYSENTER_CS, 0x1234]],
  });
  for (const [which, msr] of bits) setMsr(machine, which, msr);
  const exit = runToExit(machine, true);
  return { machine, exit, info: machine.vmx.exitInfo(), insn: symbols.get("insn") };
}

const rd = (msr: number) => `mov ecx, 0x${msr.toString(16)}\ninsn: rdmsr`;
const wr = (msr: number) => `mov ecx, 0x${msr.toString(16)}\nxor eax, eax\nxor edx, edx\ninsn: wrmsr`;
const MSR_BITMAPS = C.CPU_BASED_USE_MSR_BITMAPS;

describe("MSR bitmaps", () => {
  it("without MSR bitmaps every RDMSR (31) and WRMSR (32) exits, qualification 0, length 2", () => {
    const r = msrRun(rd(0x174), 0);
    expect(r.exit).toEqual({ reason: EXIT_REASON.MSR_READ, qualification: 0 });
    expect(r.info.instructionLength).toBe(2);
    expect(r.info.guestRip).toBe(r.insn);
    expect(msrRun(wr(0x174), 0).exit).toEqual({ reason: EXIT_REASON.MSR_WRITE, qualification: 0 });
  });

  it("with all-zero bitmaps RDMSR/WRMSR of MSRs in the two ranges do not exit", () => {
    const r = msrRun(`${rd(0x174)}\nmov ebx, eax\nmov eax, 0x10\nwrmsr`, MSR_BITMAPS);
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.cpu.regs[3]).toBe(0x1234); // GUEST_SYSENTER_CS, read without an exit
    expect(r.machine.vmx.read(VMCS.GUEST_SYSENTER_CS)).toBe(0x10);
  });

  it("low range: the read bit (offset 0) makes RDMSR exit, not WRMSR", () => {
    expect(msrRun(rd(0x174), MSR_BITMAPS, [[0, 0x174]]).exit.reason).toBe(EXIT_REASON.MSR_READ);
    expect(msrRun(wr(0x174), MSR_BITMAPS, [[0, 0x174]]).exit.reason).toBe(EXIT_REASON.VMCALL);
  });

  it("low range: the write bit (offset 2048) makes WRMSR exit, not RDMSR", () => {
    expect(msrRun(wr(0x174), MSR_BITMAPS, [[2, 0x174]]).exit.reason).toBe(EXIT_REASON.MSR_WRITE);
    expect(msrRun(rd(0x174), MSR_BITMAPS, [[2, 0x174]]).exit.reason).toBe(EXIT_REASON.VMCALL);
  });

  it("the last MSR of each range: 0x1FFF and 0xC0001FFF", () => {
    expect(msrRun(rd(0x1fff), MSR_BITMAPS, [[0, 0x1fff]]).exit.reason).toBe(EXIT_REASON.MSR_READ);
    expect(msrRun(wr(0xc0001fff), MSR_BITMAPS, [[3, 0xc0001fff]]).exit.reason).toBe(EXIT_REASON.MSR_WRITE);
  });

  it("high range (0xC0000000-0xC0001FFF): read bits at offset 1024, write bits at 3072", () => {
    expect(msrRun(rd(0xc0000080), MSR_BITMAPS, [[1, 0xc0000080]]).exit.reason).toBe(EXIT_REASON.MSR_READ);
    expect(msrRun(wr(0xc0000080), MSR_BITMAPS, [[3, 0xc0000080]]).exit.reason).toBe(EXIT_REASON.MSR_WRITE);
  });

  it("the halves are independent: no exit goes through to the CPU, which raises #GP for an absent MSR", () => {
    // Read bit of the high MSR set, its write bit clear: WRMSR of 0xC0000080 does not exit, so the
    // (absent) MSR raises #GP(0), which exits through the exception bitmap instead.
    const r = msrRun(wr(0xc0000080), MSR_BITMAPS, [[1, 0xc0000080]]);
    expect(r.exit.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(r.info.interruptionInfo >>> 0).toBe(0x80000b0d);
    expect(r.info.guestRip).toBe(r.insn);
    // The low bitmap's bit 0x80 does not cover MSR 0xC0000080.
    expect(msrRun(rd(0xc0000080), MSR_BITMAPS, [[0, 0x80]]).exit.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
  });

  it("MSRs outside both ranges always exit", () => {
    for (const msr of [0x2000, 0xbfffffff, 0xc0002000, 0x40000000, 0xffffffff]) {
      expect(msrRun(rd(msr), MSR_BITMAPS).exit.reason, `0x${msr.toString(16)}`).toBe(EXIT_REASON.MSR_READ);
      expect(msrRun(wr(msr), MSR_BITMAPS).exit.reason, `0x${msr.toString(16)}`).toBe(EXIT_REASON.MSR_WRITE);
    }
  });
});
