// Instructions that cause VM exits in VMX non-root operation (Intel SDM Vol. 3C, 26.1 and 28.2):
// each conditional one exits if and only if its control is set, unconditional ones always exit,
// with the right basic exit reason, exit qualification, instruction length, VMX-instruction
// information and GUEST_RIP = the instruction's address (the guest's registers untouched).
import { describe, expect, it } from "vitest";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import { runToExit, sym, tsVm } from "./helpers.js";

interface Case {
  name: string;
  reason: number;
  /** Primary control that makes it exit (none: it always exits). */
  control?: number;
  /** Guest code: the instruction under test at label `insn`; the harness appends `after: vmcall`. */
  code: string;
  qualification: number;
  length: number;
}

const CONDITIONAL: Case[] = [
  {
    name: "HLT",
    reason: EXIT_REASON.HLT,
    control: C.CPU_BASED_HLT_EXITING,
    code: "insn: hlt",
    qualification: 0,
    length: 1,
  },
  {
    name: "INVLPG [disp32]",
    reason: EXIT_REASON.INVLPG,
    control: C.CPU_BASED_INVLPG_EXITING,
    code: "insn: invlpg [0x12345678]",
    qualification: 0x12345678,
    length: 7,
  },
  {
    name: "INVLPG [eax + ecx*4 + 8] (qualification = the linear address)",
    reason: EXIT_REASON.INVLPG,
    control: C.CPU_BASED_INVLPG_EXITING,
    code: "mov eax, 0xc0000000\nmov ecx, 0x100\ninsn: invlpg [eax + ecx * 4 + 8]",
    qualification: 0xc0000408,
    length: 5,
  },
  {
    name: "RDTSC",
    reason: EXIT_REASON.RDTSC,
    control: C.CPU_BASED_RDTSC_EXITING,
    code: "insn: rdtsc",
    qualification: 0,
    length: 2,
  },
  {
    name: "MOV to CR3 from EAX (qualification 0x3 | EAX << 8)",
    reason: EXIT_REASON.CR_ACCESS,
    control: C.CPU_BASED_CR3_LOAD_EXITING,
    code: "mov eax, 0x5000\ninsn: mov cr3, eax",
    qualification: 0x003,
    length: 3,
  },
  {
    name: "MOV to CR3 from ESI",
    reason: EXIT_REASON.CR_ACCESS,
    control: C.CPU_BASED_CR3_LOAD_EXITING,
    code: "mov esi, 0x6000\ninsn: mov cr3, esi",
    qualification: 0x603,
    length: 3,
  },
  {
    name: "MOV from CR3 to EDX (qualification 0x13 | EDX << 8)",
    reason: EXIT_REASON.CR_ACCESS,
    control: C.CPU_BASED_CR3_STORE_EXITING,
    code: "insn: mov edx, cr3",
    qualification: 0x213,
    length: 3,
  },
  {
    name: "MOV from CR3 to EDI",
    reason: EXIT_REASON.CR_ACCESS,
    control: C.CPU_BASED_CR3_STORE_EXITING,
    code: "insn: mov edi, cr3",
    qualification: 0x713,
    length: 3,
  },
  {
    name: "PAUSE",
    reason: EXIT_REASON.PAUSE_INSTRUCTION,
    control: C.CPU_BASED_PAUSE_EXITING,
    code: "insn: pause",
    qualification: 0,
    length: 2,
  },
];

const UNCONDITIONAL: Case[] = [
  { name: "CPUID", reason: EXIT_REASON.CPUID, code: "mov eax, 1\ninsn: cpuid", qualification: 0, length: 2 },
  { name: "VMCALL", reason: EXIT_REASON.VMCALL, code: "insn: vmcall", qualification: 0, length: 3 },
  { name: "VMLAUNCH", reason: EXIT_REASON.VMLAUNCH, code: "insn: vmlaunch", qualification: 0, length: 3 },
  { name: "VMRESUME", reason: EXIT_REASON.VMRESUME, code: "insn: vmresume", qualification: 0, length: 3 },
  { name: "VMXOFF", reason: EXIT_REASON.VMOFF, code: "insn: vmxoff", qualification: 0, length: 3 },
  // Memory operands: the qualification is the displacement.
  {
    name: "VMCLEAR [ebx + 0x40]",
    reason: EXIT_REASON.VMCLEAR,
    code: "insn: vmclear [ebx + 0x40]",
    qualification: 0x40,
    length: 5,
  },
  {
    name: "VMPTRLD [0x2000]",
    reason: EXIT_REASON.VMPTRLD,
    code: "insn: vmptrld [0x2000]",
    qualification: 0x2000,
    length: 7,
  },
  {
    name: "VMPTRST [esp + 8]",
    reason: EXIT_REASON.VMPTRST,
    code: "insn: vmptrst [esp + 8]",
    qualification: 8,
    length: 5,
  },
  { name: "VMXON [0x1000]", reason: EXIT_REASON.VMON, code: "insn: vmxon [0x1000]", qualification: 0x1000, length: 8 },
  { name: "VMREAD eax, ebx", reason: EXIT_REASON.VMREAD, code: "insn: vmread eax, ebx", qualification: 0, length: 3 },
  {
    name: "VMREAD [ebp - 4], ecx",
    reason: EXIT_REASON.VMREAD,
    code: "insn: vmread [ebp - 4], ecx",
    qualification: 0xfffffffc,
    length: 4,
  },
  {
    name: "VMWRITE ecx, [esi + edi*4 + 0x10]",
    reason: EXIT_REASON.VMWRITE,
    code: "insn: vmwrite ecx, [esi + edi * 4 + 0x10]",
    qualification: 0x10,
    length: 5,
  },
  {
    name: "VMWRITE edx, eax",
    reason: EXIT_REASON.VMWRITE,
    code: "insn: vmwrite edx, eax",
    qualification: 0,
    length: 3,
  },
  {
    name: "INVEPT edx, [eax]",
    reason: EXIT_REASON.INVEPT,
    code: "insn: invept edx, [eax]",
    qualification: 0,
    length: 5,
  },
  {
    name: "INVVPID ecx, [es:ebx + 0x100]",
    reason: EXIT_REASON.INVVPID,
    code: "insn: invvpid ecx, [es:ebx + 0x100]",
    qualification: 0x100,
    length: 10,
  },
];

/** Runs the case's guest with `proc` and returns the first exit, the machine and the symbols. */
function run(c: Case, proc: number) {
  const { machine, symbols } = tsVm(`start:\n${c.code}\nafter: vmcall`, { proc });
  const before = machine.cpu.snapshotRegisters();
  machine.vmx.launch();
  const stop = machine.run({ maxInstructions: 10_000 });
  return { machine, symbols, stop, before };
}

describe("conditional exits: the instruction exits if and only if its control is set", () => {
  for (const c of CONDITIONAL) {
    it(`${c.name}: exit ${c.reason} with the control`, () => {
      const { machine, symbols, stop } = run(c, c.control!);
      expect(stop).toEqual({ kind: "vmexit", reason: c.reason, qualification: c.qualification });
      const info = machine.vmx.exitInfo();
      expect(info.instructionLength).toBe(c.length);
      expect(info.guestRip).toBe(sym(symbols, "insn"));
      expect(sym(symbols, "after") - sym(symbols, "insn")).toBe(c.length);
    });
    it(`${c.name}: no exit without it`, () => {
      const { machine, symbols, stop } = run(c, 0);
      if (c.reason === EXIT_REASON.HLT) {
        // HLT with interrupts off and nothing to wake it: the guest stays halted.
        expect(stop).toEqual({ kind: "halt" });
        expect(machine.vmx.nonRoot).toBe(true);
        return;
      }
      expect(stop).toEqual({ kind: "vmexit", reason: EXIT_REASON.VMCALL, qualification: 0 });
      expect(machine.vmx.exitInfo().guestRip).toBe(sym(symbols, "after"));
    });
  }

  it("the control of one instruction does not make another one exit", () => {
    const all = CONDITIONAL.reduce((a, c) => a | c.control!, 0);
    for (const c of CONDITIONAL) {
      if (c.reason === EXIT_REASON.HLT) continue;
      const others = all & ~c.control!;
      const { stop } = run(c, others & ~C.CPU_BASED_HLT_EXITING);
      expect(stop, c.name).toEqual({ kind: "vmexit", reason: EXIT_REASON.VMCALL, qualification: 0 });
    }
  });

  it("an exiting instruction has no effect: RDTSC leaves EAX/EDX, MOV to CR3 leaves CR3, INVLPG is skipped", () => {
    const rdtsc = run(CONDITIONAL.find((c) => c.reason === EXIT_REASON.RDTSC)!, C.CPU_BASED_RDTSC_EXITING);
    expect(rdtsc.machine.cpu.regs[0]).toBe(0);
    expect(rdtsc.machine.cpu.regs[2]).toBe(0);
    const cr3 = run(CONDITIONAL.find((c) => c.name.startsWith("MOV to CR3 from EAX"))!, C.CPU_BASED_CR3_LOAD_EXITING);
    expect(cr3.machine.vmx.read(VMCS.GUEST_CR3)).toBe(0);
    expect(cr3.machine.cpu.regs[0]).toBe(0x5000);
    const store = run(
      CONDITIONAL.find((c) => c.name.startsWith("MOV from CR3 to EDX"))!,
      C.CPU_BASED_CR3_STORE_EXITING,
    );
    expect(store.machine.cpu.regs[2]).toBe(0);
  });

  it("without the control the instruction works: RDTSC reads the TSC, MOV CR3 loads, MOV from CR3 stores", () => {
    const cr3 = run({ ...CONDITIONAL[4]!, code: "mov eax, 0x5000\ninsn: mov cr3, eax\nmov edx, cr3" }, 0);
    expect(cr3.machine.vmx.read(VMCS.GUEST_CR3)).toBe(0x5000);
    expect(cr3.machine.cpu.regs[2]).toBe(0x5000);
    const rdtsc = run(CONDITIONAL.find((c) => c.reason === EXIT_REASON.RDTSC)!, 0);
    expect(rdtsc.machine.cpu.regs[0]! >>> 0).toBeGreaterThan(0);
  });
});

describe("unconditional exits: CPUID, VMCALL and every VMX instruction", () => {
  for (const c of UNCONDITIONAL) {
    it(`${c.name}: exit ${c.reason}`, () => {
      const { machine, symbols, stop, before } = run(c, 0);
      expect(stop).toEqual({ kind: "vmexit", reason: c.reason, qualification: c.qualification });
      const info = machine.vmx.exitInfo();
      expect(info.instructionLength).toBe(c.length);
      expect(info.guestRip).toBe(sym(symbols, "insn"));
      expect(sym(symbols, "after") - sym(symbols, "insn")).toBe(c.length);
      // Nothing executed: the general registers are those the guest set up (CPUID: EAX = 1 only).
      const after = machine.cpu.snapshotRegisters();
      expect(after.ebx).toBe(before.ebx);
      expect(after.ecx).toBe(before.ecx);
      expect(after.edx).toBe(before.edx);
    });
  }

  it("no control turns them off (all conditional controls clear, or all set)", () => {
    const all = CONDITIONAL.reduce((a, c) => a | c.control!, 0);
    for (const c of UNCONDITIONAL) {
      expect(run(c, all).stop, c.name).toMatchObject({ kind: "vmexit", reason: c.reason });
    }
  });
});

describe("VMX-instruction information (Intel SDM Vol. 3C, Table 28-13 / 28-14)", () => {
  /** The defined bits of the field for a memory operand: scaling, address size, segment, index, base. */
  const memInfo = (o: { scale?: number; seg: number; index?: number; base?: number; reg2?: number }) =>
    ((o.scale ?? 0) |
      (1 << 7) | // 32-bit address size
      (o.seg << 15) |
      (o.index === undefined ? 1 << 22 : o.index << 18) |
      (o.base === undefined ? 1 << 27 : o.base << 23) |
      ((o.reg2 ?? 0) << 28)) >>>
    0;
  const infoOf = (code: string) => {
    const { machine } = run({ name: code, code: `insn: ${code}`, reason: 0, qualification: 0, length: 0 }, 0);
    return machine.vmx.read(VMCS.VMX_INSTRUCTION_INFO);
  };
  // Reg2 (bits 31:28) is undefined for VMCLEAR/VMPTRLD/VMPTRST/VMXON, and Reg1 (6:3) for memory forms.
  const DEFINED_MEM = 0x0fff8783;

  it("VMCLEAR [ebx + 0x40]: DS, base EBX, no index", () => {
    expect(infoOf("vmclear [ebx + 0x40]") & DEFINED_MEM).toBe(memInfo({ seg: 3, base: 3 }));
  });
  it("VMPTRST [esp + 8]: the default segment of an ESP base is SS", () => {
    expect(infoOf("vmptrst [esp + 8]") & DEFINED_MEM).toBe(memInfo({ seg: 2, base: 4 }));
  });
  it("VMREAD [ebp - 4], ecx: SS (EBP base), Reg2 = ECX", () => {
    expect(infoOf("vmread [ebp - 4], ecx") >>> 0).toBe(memInfo({ seg: 2, base: 5, reg2: 1 }));
  });
  it("VMPTRLD [0x2000]: no base, no index", () => {
    expect(infoOf("vmptrld [0x2000]") & DEFINED_MEM).toBe(memInfo({ seg: 3 }));
  });
  it("VMWRITE ecx, [esi + edi*4 + 0x10]: scaling 2, index EDI, base ESI, Reg2 = ECX", () => {
    expect(infoOf("vmwrite ecx, [esi + edi * 4 + 0x10]")).toBe(
      memInfo({ scale: 2, seg: 3, index: 7, base: 6, reg2: 1 }),
    );
  });
  it("INVVPID ecx, [es:ebx + 0x100]: segment override ES, Reg2 = ECX (the type register)", () => {
    expect(infoOf("invvpid ecx, [es:ebx + 0x100]")).toBe(memInfo({ seg: 0, base: 3, reg2: 1 }));
  });
  it("INVEPT edx, [eax]: Reg2 = EDX", () => {
    expect(infoOf("invept edx, [eax]")).toBe(memInfo({ seg: 3, base: 0, reg2: 2 }));
  });
  it("register forms: VMREAD eax, ebx (bit 10, Reg1 = EAX, Reg2 = EBX); VMWRITE edx, esi (Reg1 = ESI, Reg2 = EDX)", () => {
    expect(infoOf("vmread eax, ebx")).toBe(((1 << 10) | (1 << 7) | (0 << 3) | (3 << 28)) >>> 0);
    expect(infoOf("vmwrite edx, esi")).toBe(((1 << 10) | (1 << 7) | (6 << 3) | (2 << 28)) >>> 0);
  });
});

describe("exceptions with priority over VM exits (Intel SDM Vol. 3C, 26.1.1)", () => {
  /** A CPL-3 guest (ring-3 selectors in the VMCS) with #GP in the exception bitmap. */
  const ring3 = (code: string, proc: number, cr4 = 0x2000) => {
    const { machine, symbols } = tsVm(`start:\n${code}\nafter: vmcall`, {
      proc,
      exceptionBitmap: 1 << 13,
      guestCr4: cr4,
      extra: [
        [VMCS.GUEST_CS_SELECTOR, 0x23],
        [VMCS.GUEST_CS_AR_BYTES, 0xc0fb],
        ...[VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_ES_SELECTOR].map(
          (f) => [f, 0x2b] as [number, number],
        ),
        ...[VMCS.GUEST_SS_AR_BYTES, VMCS.GUEST_DS_AR_BYTES, VMCS.GUEST_ES_AR_BYTES].map(
          (f) => [f, 0xc0f3] as [number, number],
        ),
      ],
    });
    return { machine, symbols, exit: runToExit(machine, true) };
  };

  it("HLT at CPL 3 raises #GP(0) instead of the HLT exit", () => {
    const { machine, symbols, exit } = ring3("insn: hlt", C.CPU_BASED_HLT_EXITING);
    expect(machine.cpu.cpl).toBe(0); // host
    expect(exit).toEqual({ reason: EXIT_REASON.EXCEPTION_NMI, qualification: 0 });
    const info = machine.vmx.exitInfo();
    expect(info.interruptionInfo >>> 0).toBe(0x80000b0d);
    expect(info.interruptionErrorCode).toBe(0);
    expect(info.guestRip).toBe(sym(symbols, "insn"));
  });

  it("RDTSC at CPL 3 with CR4.TSD raises #GP(0) instead of the RDTSC exit", () => {
    const { exit } = ring3("insn: rdtsc", C.CPU_BASED_RDTSC_EXITING, 0x2004);
    expect(exit.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
  });

  it("MOV to CR3 at CPL 3 raises #GP(0) instead of the CR-access exit", () => {
    const { exit } = ring3("insn: mov cr3, eax", C.CPU_BASED_CR3_LOAD_EXITING);
    expect(exit.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
  });

  it("but the VMX instructions and CPUID exit at CPL 3 too", () => {
    for (const code of ["insn: vmptrst [0x100]", "insn: vmxoff", "insn: cpuid", "insn: vmcall"]) {
      const { exit } = ring3(code, 0);
      expect(exit.reason, code).not.toBe(EXIT_REASON.EXCEPTION_NMI);
    }
  });
});
