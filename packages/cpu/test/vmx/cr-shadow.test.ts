// Control-register accesses in VMX non-root operation (Intel SDM Vol. 3C, 26.1.3 and 26.3): CR0/CR4
// guest/host masks and read shadows, the CR-access exit qualification (Table 28-3), CLTS, and the
// CR3-target values that suppress CR3-load exits.
import { describe, expect, it } from "vitest";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import { type Fields, runToExit, skipInstruction, sym, tsVm } from "./helpers.js";

const EAX = 0;
const EDX = 2;
const EBX = 3;

/** Runs `code` (then VMCALL) with the given masks/shadows and GUEST_CR0/CR4; returns the first exit. */
function run(code: string, extra: Fields, options: { guestCr0?: number; guestCr4?: number; proc?: number } = {}) {
  const { machine, symbols } = tsVm(`start:\n${code}\nafter: vmcall`, { ...options, extra });
  const exit = runToExit(machine, true);
  return { machine, symbols, exit, info: machine.vmx.exitInfo(), regs: machine.cpu.regs };
}

const cr0 = (mask: number, shadow: number): Fields => [
  [VMCS.CR0_GUEST_HOST_MASK, mask],
  [VMCS.CR0_READ_SHADOW, shadow],
];
const cr4 = (mask: number, shadow: number): Fields => [
  [VMCS.CR4_GUEST_HOST_MASK, mask],
  [VMCS.CR4_READ_SHADOW, shadow],
];

describe("MOV from CR0/CR4: host-owned bits read from the read shadow, never an exit", () => {
  it("CR0: masked bits from the shadow, the others from CR0", () => {
    // CR0 = PE|MP|ET|NE (0x33); the host owns MP and TS; the shadow says TS = 1, MP = 0.
    const r = run("mov eax, cr0", cr0(0xa, 0x8), { guestCr0: 0x33 });
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.regs[EAX]! >>> 0).toBe(0x39);
  });

  it("CR0 with every bit host-owned reads the shadow exactly", () => {
    const r = run("mov ebx, cr0", cr0(0xffffffff, 0x12345678));
    expect(r.regs[EBX]! >>> 0).toBe(0x12345678);
  });

  it("CR4: VMXE hidden by its shadow, a PSE the guest does not have shown", () => {
    const r = run("mov eax, cr4", cr4(0x2010, 0x10), { guestCr4: 0x2000 });
    expect(r.regs[EAX]! >>> 0).toBe(0x10);
    expect(r.machine.vmx.read(VMCS.GUEST_CR4)).toBe(0x2000);
  });

  it("with mask 0 the real values are read", () => {
    const r = run("mov eax, cr0\nmov edx, cr4", [...cr0(0, 0xffff), ...cr4(0, 0xffff)], { guestCr0: 0x33 });
    expect([r.regs[EAX]! >>> 0, r.regs[EDX]! >>> 0]).toEqual([0x33, 0x2000]);
  });
});

describe("MOV to CR0/CR4", () => {
  it("exits when a host-owned bit differs from the shadow: qualification CR | 0 << 4 | GPR << 8", () => {
    const r = run("mov ebx, 0x39\ninsn: mov cr0, ebx", cr0(0x8, 0));
    expect(r.exit).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x300 });
    expect(r.info.guestRip).toBe(sym(r.symbols, "insn"));
    expect(r.info.instructionLength).toBe(3);
    expect(r.machine.vmx.read(VMCS.GUEST_CR0)).toBe(0x31); // not applied
  });

  it("MOV to CR4 from EDX changing VMXE against its shadow 0: qualification 0x204", () => {
    const r = run("mov edx, 0x2010\ninsn: mov cr4, edx", cr4(0x2000, 0));
    expect(r.exit).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x204 });
    expect(r.machine.vmx.read(VMCS.GUEST_CR4)).toBe(0x2000);
  });

  it("does not exit when host-owned bits match the shadow; host-owned bits keep their value, the rest is written", () => {
    // The host owns TS (shadow 1, real 0): writing TS = 1 matches the shadow, so no exit, and the
    // real TS stays 0 while MP (guest-owned) is set.
    const r = run("mov eax, 0x3b\nmov cr0, eax\nmov edx, cr0", cr0(0x8, 0x8));
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.vmx.read(VMCS.GUEST_CR0)).toBe(0x33);
    expect(r.regs[EDX]! >>> 0).toBe(0x3b); // and the guest reads back what it believes it wrote
  });

  it("CR4 written without VMXE matching a 0 shadow: no exit, VMXE stays 1", () => {
    const r = run("mov eax, 0x10\nmov cr4, eax", cr4(0x2000, 0));
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.vmx.read(VMCS.GUEST_CR4)).toBe(0x2010);
  });

  it("the exit comes before the checks of the value (setting PG without a valid state does not #GP)", () => {
    const r = run("mov eax, 0x80000031\ninsn: mov cr0, eax", cr0(0x80000000, 0), { guestCr0: 0x31 });
    expect(r.exit).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x000 });
  });

  it("a guest-owned CR0 write that breaks VMX's fixed bits is #GP (NE cleared without a mask)", () => {
    const { machine } = tsVm("start:\nmov eax, 0x11\ninsn: mov cr0, eax\nafter: vmcall", { exceptionBitmap: 1 << 13 });
    const exit = runToExit(machine, true);
    expect(exit.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(machine.vmx.exitInfo().interruptionInfo >>> 0).toBe(0x80000b0d);
  });
});

describe("CLTS", () => {
  it("exits when TS is host-owned and set in the shadow: qualification 0x20 (access type 2)", () => {
    const r = run("insn: clts", cr0(0x8, 0x8), { guestCr0: 0x39 });
    expect(r.exit).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x20 });
    expect(r.info.instructionLength).toBe(2);
    expect(r.info.guestRip).toBe(sym(r.symbols, "insn"));
    expect(r.machine.vmx.read(VMCS.GUEST_CR0)).toBe(0x39);
  });

  it("host-owned TS with shadow 0: no exit, and CR0.TS is not changed", () => {
    const r = run("clts", cr0(0x8, 0), { guestCr0: 0x39 });
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.vmx.read(VMCS.GUEST_CR0)).toBe(0x39);
  });

  it("guest-owned TS: no exit, TS cleared (whatever the shadow)", () => {
    const r = run("clts", cr0(0x2, 0x8), { guestCr0: 0x39 });
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.vmx.read(VMCS.GUEST_CR0)).toBe(0x31);
  });
});

describe("CR3-load exiting and the CR3-target values", () => {
  const targets = (count: number, values: number[]): Fields => [
    [VMCS.CR3_TARGET_COUNT, count],
    ...values.map((v, k) => [VMCS.CR3_TARGET_VALUE0 + 2 * k, v] as [number, number]),
  ];
  const load = (value: number) => `mov eax, 0x${value.toString(16)}\nmov cr3, eax`;

  it("a load of one of the first CR3_TARGET_COUNT values does not exit (and loads CR3)", () => {
    const r = run(`${load(0x5000)}\n${load(0x6000)}`, targets(2, [0x5000, 0x6000, 0x7000]), {
      proc: C.CPU_BASED_CR3_LOAD_EXITING,
    });
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.machine.vmx.read(VMCS.GUEST_CR3)).toBe(0x6000);
  });

  it("a value beyond the count, or not among the targets, exits with qualification 0x3 | GPR << 8", () => {
    for (const value of [0x7000, 0x8000, 0x5001]) {
      const r = run(
        `insn: ${load(value).replace("mov eax", "mov ebx").replace("cr3, eax", "cr3, ebx")}`,
        targets(2, [0x5000, 0x6000, 0x7000]),
        {
          proc: C.CPU_BASED_CR3_LOAD_EXITING,
        },
      );
      expect(r.exit, `0x${value.toString(16)}`).toEqual({ reason: EXIT_REASON.CR_ACCESS, qualification: 0x303 });
      expect(r.machine.vmx.read(VMCS.GUEST_CR3)).toBe(0);
    }
  });

  it("count 0: every load exits; count 4: all four targets are honoured", () => {
    const none = run(load(0x5000), targets(0, [0x5000]), { proc: C.CPU_BASED_CR3_LOAD_EXITING });
    expect(none.exit.reason).toBe(EXIT_REASON.CR_ACCESS);
    const four = run(
      [0x1000, 0x2000, 0x3000, 0x4000].map(load).join("\n"),
      targets(4, [0x1000, 0x2000, 0x3000, 0x4000]),
      { proc: C.CPU_BASED_CR3_LOAD_EXITING },
    );
    expect(four.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(four.machine.vmx.read(VMCS.GUEST_CR3)).toBe(0x4000);
  });

  it("the target values do nothing without CR3-load exiting; CR3 stores are governed by CR3-store exiting only", () => {
    const r = run(`${load(0x9000)}\nmov edx, cr3`, targets(1, [0x5000]));
    expect(r.exit.reason).toBe(EXIT_REASON.VMCALL);
    expect(r.regs[EDX]! >>> 0).toBe(0x9000);
  });

  it("the hypervisor emulates the load and resumes after it", () => {
    const { machine, symbols } = tsVm(`start:\n${load(0x8000)}\nafter: vmcall`, {
      proc: C.CPU_BASED_CR3_LOAD_EXITING,
    });
    expect(runToExit(machine, true).qualification).toBe(0x003);
    // Emulate: GUEST_CR3 <- the GPR of the qualification, skip the instruction.
    machine.vmx.write(VMCS.GUEST_CR3, machine.cpu.regs[(machine.vmx.exitInfo().qualification >>> 8) & 15]! >>> 0);
    skipInstruction(machine);
    expect(runToExit(machine, false).reason).toBe(EXIT_REASON.VMCALL);
    expect(machine.vmx.exitInfo().guestRip).toBe(sym(symbols, "after"));
    expect(machine.vmx.read(VMCS.GUEST_CR3)).toBe(0x8000);
  });
});
