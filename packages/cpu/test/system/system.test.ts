// System tests: NASM-syntax programs (test/system/*.asm, sharing lib.inc, assembled by the
// project's own assembler) run on the whole machine under the boot contract, and the state they
// leave is compared, exactly, with what a real IA-32 processor produces: registers, EFLAGS, CR2,
// the frames and error codes events push, memory, stop reasons and instruction counts.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assembleWithNasm, frameOf, HERE, hasNasm, hex, program, Run } from "./harness.js";

const KCODE = 0x08;
const KDATA = 0x10;
const UCODE = 0x1b;
const UDATA = 0x23;

function exceptions(entry: string): Run {
  return new Run(program("exceptions.asm"), entry);
}

describe("exceptions", () => {
  it("#DE on divide by zero is a fault: saved EIP = the DIV, operands untouched", () => {
    const r = exceptions("de_div_zero");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([0]);
    // EFLAGS: ZF PF from XOR ECX, ECX; IF clear (START did CLI).
    expect(frameOf(log[0]!, false)).toEqual({ eip: r.sym("de_div_zero.fault"), cs: KCODE, eflags: 0x46 });
    expect(log[0]!.esp).toBe(0x80000 - 12);
    expect(log[0]!.ss).toBe(KDATA);
    expect([r.regs.eax, r.regs.edx, r.regs.ecx]).toEqual([0x1234, 0x5678, 0]);
  });

  it("#DE on quotient overflow: DIV r32, IDIV INT_MIN/-1, DIV r8", () => {
    const r = exceptions("de_overflow");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([0, 0, 0]);
    expect(log.map((e) => frameOf(e, false).eip)).toEqual([
      r.sym("de_overflow.f1"),
      r.sym("de_overflow.i1"),
      r.sym("de_overflow.b1"),
    ]);
    // The registers are those of the faulting instruction, unchanged.
    expect([log[0]!.eax, log[0]!.edx, log[0]!.ecx]).toEqual([0, 1, 1]);
    expect([log[1]!.eax, log[1]!.edx, log[1]!.ecx]).toEqual([0x80000000, 0xffffffff, 0xffffffff]);
    expect([log[2]!.eax, log[2]!.ecx]).toEqual([0x1000, 0x10]);
    expect(r.regs.eax).toBe(0x1000);
  });

  it("#BP from INT3 and INT 3 is a trap: saved EIP = the next instruction", () => {
    const r = exceptions("bp_int3");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([3, 3]);
    expect(frameOf(log[0]!, false).eip).toBe(r.sym("bp_int3.after1"));
    expect(frameOf(log[1]!, false).eip).toBe(r.sym("bp_int3.after2"));
    expect(r.regs.eax).toBe(0x11);
    expect(r.regs.ebx).toBe(0x22);
  });

  it("#OF from INTO only with OF = 1, as a trap with the flags of the ADD", () => {
    const r = exceptions("of_into");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([4]);
    const f = frameOf(log[0]!, false);
    expect(f.eip).toBe(r.sym("of_into.after"));
    expect(f.cs).toBe(KCODE);
    // 0x7fffffff + 1: OF SF AF PF set, ZF CF clear, IF clear (START did CLI).
    expect(hex(f.eflags)).toBe(hex(0x2 | 0x800 | 0x80 | 0x10 | 0x4));
    expect(r.regs.eax).toBe(0x80000000);
  });

  it("#UD from UD2 and from an undefined opcode is a fault at the instruction", () => {
    const r = exceptions("ud_opcodes");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([6, 6]);
    expect(frameOf(log[0]!, false).eip).toBe(r.sym("ud_opcodes.ud2"));
    expect(frameOf(log[1]!, false).eip).toBe(r.sym("ud_opcodes.bad"));
  });

  it("#UD for LOCK on an instruction that cannot be locked, not for LOCK ADD to memory", () => {
    const r = exceptions("ud_lock");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([6, 6]);
    expect(frameOf(log[0]!, false).eip).toBe(r.sym("ud_lock.nop"));
    expect(frameOf(log[1]!, false).eip).toBe(r.sym("ud_lock.reg"));
    expect(r.regs.eax).toBe(8);
  });

  it("with no IDT an exception ends in a triple fault whose diagnostic names the address and bytes", () => {
    const r = exceptions("ud_no_idt");
    expect(r.stop.kind).toBe("shutdown");
    const diag = r.stop.kind === "shutdown" ? r.stop.diagnostic : "";
    const at = r.sym("ud_no_idt.ud").toString(16).padStart(8, "0");
    expect(diag).toContain("triple fault");
    expect(diag).toContain(`#UD at 0x${at}`);
    expect(diag).toContain("0f 0b");
    expect(r.regs.eip).toBe(r.sym("ud_no_idt.ud"));
    expect(r.regs.eax).toBe(0xdead);
  });

  it("#NP for a not-present gate reached by INT n: error vector*8+2, EIP at the INT", () => {
    const r = exceptions("np_gate");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([11]);
    expect(frameOf(log[0]!, true)).toEqual({
      error: 0x41 * 8 + 2,
      eip: r.sym("np_gate.int"),
      cs: KCODE,
      eflags: 0x2,
    });
  });

  it("#NP for a not-present gate reached by an exception has EXT set, and is not a #DF", () => {
    const r = exceptions("np_gate_exception");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([11]);
    const f = frameOf(log[0]!, true);
    expect(f.error).toBe(6 * 8 + 2 + 1);
    expect(f.eip).toBe(r.sym("np_gate_exception.ud"));
  });

  it("#NP for a gate whose code segment is not present: selector | EXT", () => {
    const r = exceptions("np_gate_target");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.log().map((e) => [e.vector, hex(frameOf(e, true).error!), frameOf(e, true).eip])).toEqual([
      [11, hex(0x38 | 1), r.sym("np_gate_target.f1")],
      [11, hex(0x38), r.sym("np_gate_target.f2")],
    ]);
  });

  it("#NP for not-present segments (MOV DS, far JMP) with the selector as error code", () => {
    const r = exceptions("np_segment");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([11, 11]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0x30, eip: r.sym("np_segment.movds") });
    expect(frameOf(log[1]!, true)).toMatchObject({ error: 0x38, eip: r.sym("np_segment.jmp") });
    expect(r.regs.eax & 0xffff).toBe(KDATA);
  });

  it("#SS when SS is loaded with a not-present segment", () => {
    const r = exceptions("ss_not_present");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([12]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0x30, eip: r.sym("ss_not_present.movss") });
    expect(r.regs.eax & 0xffff).toBe(KDATA);
  });

  it("#GP for bad selectors, with the selector (or 0) as error code", () => {
    const r = exceptions("gp_selectors");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([13, 13, 13, 13, 13, 13, 13]);
    expect(log.map((e) => hex(frameOf(e, true).error!))).toEqual([0x1000, 0x28, 0x48, 0, 0x40, 0x20, 0x0c].map(hex));
    expect(log.map((e) => frameOf(e, true).eip)).toEqual(
      ["f1", "f2", "f3", "f4", "f5", "f6", "f7"].map((l) => r.sym(`gp_selectors.${l}`)),
    );
  });

  it("data segment loads: the accessed bit set on first use, the hidden caches from the descriptor", () => {
    const r = exceptions("data_segment_loads");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.log()).toEqual([]);
    expect(hex(r.regs.ebx)).toBe(hex(0x00409312));
    expect(hex(r.regs.ecx)).toBe(hex(0x00cffb00));
    const cpu = r.machine.cpu;
    const cache = (seg: number) => [cpu.segSel[seg]!, cpu.segBase[seg]!, cpu.segLimit[seg]!, cpu.segAr[seg]!].map(hex);
    // ES loaded the descriptor while its accessed bit was clear, FS after: the same cache.
    expect(cache(0)).toEqual([0x50, 0x123000, 0xfff, 0x4093].map(hex));
    expect(cache(4)).toEqual(cache(0));
    expect(cache(5)).toEqual([0x58, 0, 0xffffffff, 0xc0fb].map(hex));
    expect(cache(3)).toEqual([KDATA, 0, 0xffffffff, 0xc093].map(hex));
  });

  it("#DF: a #GP whose gate is not present double-faults with error code 0", () => {
    const r = exceptions("df_gp_np");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([8]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0, cs: KCODE });
  });

  it("#DF: a #DE whose gate is not present double-faults", () => {
    const r = exceptions("df_de_np");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([8]);
    expect(frameOf(log[0]!, true).error).toBe(0);
  });

  it("#DF: a #PF whose gate is not present double-faults (page fault, then contributory)", () => {
    const r = exceptions("df_pf_np");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([8]);
    expect(frameOf(log[0]!, true).error).toBe(0);
    expect(hex(log[0]!.cr2)).toBe(hex(0x410000));
  });

  it("instruction counts: every executed instruction retires once, a faulting one does not", () => {
    const loop = exceptions("icount_loop");
    expect(loop.stop).toEqual({ kind: "halt" });
    expect(loop.machine.cpu.instret).toBe(1 + 2 * 100 + 2);
    const fault = exceptions("icount_fault");
    expect(fault.stop.kind).toBe("shutdown");
    expect(fault.machine.cpu.instret).toBe(2);
    expect(fault.regs.eip).toBe(fault.sym("icount_fault") + 10);
  });

  it("#DB single-step trap after each instruction that starts with TF = 1", () => {
    const r = exceptions("db_single_step");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(log.map((e) => frameOf(e, false).eip)).toEqual(
      ["i2", "i3", "i4", "i5", "i6", "i7"].map((l) => r.sym(`db_single_step.${l}`)),
    );
    // Every trap came from an instruction that ran with TF = 1 (the handler runs with TF = 0).
    expect(log.map((e) => frameOf(e, false).eflags & 0x100)).toEqual([0x100, 0x100, 0x100, 0x100, 0x100, 0]);
    expect([r.regs.eax, r.regs.ebx]).toEqual([3, 3]);
    expect(r.regs.eflags & 0x100).toBe(0);
  });

  it("triple fault: a fault while delivering #DF shuts the machine down", () => {
    const r = exceptions("triple_fault");
    expect(r.stop.kind).toBe("shutdown");
    const diag = r.stop.kind === "shutdown" ? r.stop.diagnostic : "";
    expect(diag).toContain("triple fault");
    expect(diag).toContain(`#GP(0x1000) at 0x${r.sym("triple_fault.fault").toString(16).padStart(8, "0")}`);
    expect(diag).toContain("#DF");
    expect(r.logCount()).toBe(0);
  });
});

function privilege(entry: string): Run {
  return new Run(program("privilege.asm"), entry);
}

const USTACK_TOP = 0x58000;
const RING0_STACK_TOP = 0x68000;
const SCRATCH = 0x40000;

describe("privilege", () => {
  it("IRET to ring 3 switches CS/SS/ESP, nulls DPL-0 data segments; INT from ring 3 uses TSS SS0:ESP0", () => {
    const r = privilege("priv_roundtrip");
    expect(r.stop).toEqual({ kind: "halt" });
    // What ring 3 saw: CS SS DS FS GS ESP EFLAGS.
    expect(r.words(SCRATCH, 7).map(hex)).toEqual([UCODE, UDATA, UDATA, 0, 0, USTACK_TOP, 0x3].map(hex));
    // INT 0x81 through a DPL-3 gate: stack switch to SS0:ESP0, frame EIP CS EFLAGS ESP SS.
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([0x81]);
    expect(log[0]!.ss).toBe(KDATA);
    expect(log[0]!.esp).toBe(RING0_STACK_TOP - 20);
    expect(frameOf(log[0]!, false)).toEqual({
      eip: r.sym("priv_roundtrip.after81"),
      cs: UCODE,
      eflags: 0x3,
      esp: USTACK_TOP,
      ss: UDATA,
    });
    // Back in ring 3 after the handler's IRET: same stack, FS still null.
    expect(r.u32(SCRATCH + 28)).toBe(USTACK_TOP);
    expect(r.u32(SCRATCH + 32)).toBe(0);
    // INT 0x80: the frame (CF from the STC survived INT 0x81/IRET), the ring-0 stack and ring 3's registers.
    expect(r.words(r.sym("USER_FRAME"), 5).map(hex)).toEqual(
      [r.sym("priv_roundtrip.after80"), UCODE, 0x3, USTACK_TOP, UDATA].map(hex),
    );
    expect(r.u32(r.sym("USER_ESP0"))).toBe(RING0_STACK_TOP - 20);
    expect(r.u16(r.sym("USER_SS0"))).toBe(KDATA);
    const userRegs = r.words(r.sym("USER_REGS"), 8); // EDI ESI EBP ESP EBX EDX ECX EAX
    expect(userRegs[0]).toBe(0x5678);
    expect(userRegs[1]).toBe(0x1234);
    expect(userRegs[2]).toBe(0xb0b);
    // Back in the kernel.
    expect(r.words(SCRATCH + 0x40, 2).map(hex)).toEqual([0x80000, KCODE].map(hex));
    expect(r.regs.ebp).toBe(0xb0b);
  });

  it("privileged instructions, DPL-0 gates and segment loads fault with #GP at ring 3", () => {
    const r = privilege("priv_gp");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    const expected: [string, number, number][] = [
      ["f1", 13, 0], // HLT
      ["f2", 13, 0], // CLI
      ["f3", 13, 0], // STI
      ["f4", 13, 0], // MOV r, CR0
      ["f5", 13, 0], // MOV CR3, r
      ["f6", 13, 0], // LGDT
      ["f7", 13, 0], // LIDT
      ["f8", 13, 0], // IN not in the bitmap
      ["f9", 13, 0], // OUT not in the bitmap
      ["f10", 13, 0], // OUT past the bitmap
      ["f11", 13, 0x40 * 8 + 2], // INT 0x40
      ["f12", 13, 3 * 8 + 2], // INT3
      ["f13", 13, 4 * 8 + 2], // INTO
      ["f14", 13, 0], // RDMSR
      ["f15", 13, 0], // WRMSR
      ["f16", 13, 0], // INVLPG
      ["f17", 13, 0], // CLTS
      ["f18", 13, 0], // LTR
      ["f19", 13, 0], // SYSEXIT
      ["f20", 13, KDATA], // MOV DS, DPL-0 data
      ["f21", 13, KDATA], // MOV SS, RPL 0
      ["f22", 6, -1], // UD2: #UD, no error code
    ];
    expect(log.map((e) => [e.vector, e.vector === 6 ? -1 : frameOf(e, true).error])).toEqual(
      expected.map(([, v, err]) => [v, err]),
    );
    for (const [k, [label, vector]] of expected.entries()) {
      const f = frameOf(log[k]!, vector !== 6);
      expect({ label, eip: f.eip, cs: f.cs, esp: f.esp, ss: f.ss }).toEqual({
        label,
        eip: r.sym(`priv_gp.${label}`),
        cs: UCODE,
        esp: USTACK_TOP,
        ss: UDATA,
      });
      expect(log[k]!.esp).toBe(RING0_STACK_TOP - (vector === 6 ? 20 : 24));
    }
    // POPF at CPL 3, IOPL 0: DF and CF change, IF and IOPL do not.
    expect(hex(r.u32(SCRATCH))).toBe(hex(0x2 | 0x400 | 0x1));
  });

  it("IOPL 3 allows CLI, STI, IN and OUT at ring 3; POPF there changes IF but not IOPL", () => {
    const r = privilege("priv_iopl3");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.log()).toEqual([]);
    expect(r.words(SCRATCH, 4).map(hex)).toEqual([0x3202, 0x3002, 0xff, 0x3202].map(hex));
    expect(r.machine.consoleText()).toBe("A");
  });

  it("the TSS I/O bitmap allows exactly the clear bits, for every byte of the access", () => {
    const r = privilege("priv_iobitmap");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => [e.vector, frameOf(e, true).error, frameOf(e, true).eip])).toEqual(
      ["f1", "f2", "f3", "f4", "f5"].map((l) => [13, 0, r.sym(`priv_iobitmap.${l}`)]),
    );
    expect(r.machine.consoleText()).toBe("BCD");
    expect(r.words(r.sym("USER_REGS"), 8)[7]! & 0xffff).toBe(0xff44); // EAX: AL = 'D' after IN AX = 0xFFFF
  });

  it("IRET/RETF to ring 3 with a bad SS fault at ring 0 without committing CS", () => {
    const r = privilege("priv_bad_return_ss");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => frameOf(e, true))).toEqual([
      { error: KDATA, eip: r.sym("priv_bad_return_ss.f1"), cs: KCODE, eflags: 0x46 },
      { error: KDATA, eip: r.sym("priv_bad_return_ss.f2"), cs: KCODE, eflags: 0x46 },
    ]);
    // The #GP frame (16 bytes with the error code) sits right below the IRET/RETF frame on the ring-0 stack.
    expect(log.map((e) => e.esp)).toEqual([0x80000 - 20 - 16, 0x80000 - 16 - 16]);
    expect([r.regs.eax, r.regs.ebx]).toEqual([KCODE, KDATA]);
  });

  it("a ring-3 event whose TSS.SS0 is not present: #SS(SS0 | EXT), then #DF, then shutdown", () => {
    const r = privilege("priv_tss_ss_np");
    expect(r.stop.kind).toBe("shutdown");
    const diag = r.stop.kind === "shutdown" ? r.stop.diagnostic : "";
    const at = r.sym("priv_tss_ss_np.fault").toString(16).padStart(8, "0");
    expect(diag.replace(/\(bytes (\w\w \w\w)[\w ]*\)/, "(bytes $1 ..)")).toBe(
      `triple fault: #UD at 0x${at} (bytes 0f 0b ..), ` +
        "then #SS(0x31) while delivering it, then #SS(0x31) while delivering it, then #DF, " +
        "then #SS(0x31) while delivering it; shutdown",
    );
  });

  it("INT n from ring 3 whose TSS.SS0 is read-only data: #TS(SS0) with EXT = 0, then #TS(SS0 | EXT)", () => {
    const r = privilege("priv_tss_ss_ro");
    expect(r.stop.kind).toBe("shutdown");
    const diag = r.stop.kind === "shutdown" ? r.stop.diagnostic : "";
    const at = r.sym("priv_tss_ss_ro.fault").toString(16).padStart(8, "0");
    expect(diag.replace(/\(bytes (\w\w \w\w)[\w ]*\)/, "(bytes $1 ..)")).toBe(
      `triple fault: #TS(0x40) at 0x${at} (bytes cd 80 ..), ` +
        "then #TS(0x41) while delivering it, then #DF, then #TS(0x41) while delivering it; shutdown",
    );
  });

  it("a trap gate leaves IF set, an interrupt gate clears it", () => {
    const r = privilege("priv_gate_if");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 2).map((f) => f & 0x200)).toEqual([0x200, 0]);
  });

  it("SYSENTER/SYSEXIT round trip through the SYSENTER MSRs", () => {
    const r = privilege("priv_sysenter");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.log()).toEqual([]);
    // In the kernel: CS = SYSENTER_CS, SS = SYSENTER_CS + 8, ESP = SYSENTER_ESP, IF cleared.
    expect(r.words(SCRATCH, 5).map(hex)).toEqual([KCODE, KDATA, 0x6c000, 0x2, 0x77].map(hex));
    // Back in ring 3: CS = SYSENTER_CS + 16 | 3, SS = + 24 | 3, ESP = ECX; EFLAGS as SYSENTER left them.
    expect(r.words(SCRATCH + 0x20, 4).map(hex)).toEqual([UCODE, UDATA, USTACK_TOP, 0x2].map(hex));
    expect(r.words(r.sym("USER_FRAME") + 4, 4).map(hex)).toEqual([UCODE, 0x2, USTACK_TOP, UDATA].map(hex));
    expect(r.words(r.sym("USER_REGS"), 8)[1]).toBe(0x99); // ESI set by the kernel
    expect(r.words(SCRATCH + 0x40, 4).map(hex)).toEqual([KCODE, 0, 0x6c000, r.sym("priv_sysenter.kernel")].map(hex));
  });

  it("SYSENTER and SYSEXIT with SYSENTER_CS = 0 are #GP(0)", () => {
    const r = privilege("priv_sysenter_gp");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => frameOf(e, true))).toEqual([
      // EFLAGS = ZF PF from the XORs that end sys_init.
      { error: 0, eip: r.sym("priv_sysenter_gp.f1"), cs: KCODE, eflags: 0x46 },
      { error: 0, eip: r.sym("priv_sysenter_gp.f2"), cs: UCODE, eflags: 0x2, esp: USTACK_TOP, ss: UDATA },
    ]);
  });
});

function paging(entry: string, options: { run?: boolean } = {}): Run {
  return new Run(program("paging.asm"), entry, options);
}

const PT1 = 0x12000;

describe("paging", () => {
  it("a read sets A (PDE and PTE), a write sets A and D, also through a TLB entry a read made", () => {
    const r = paging("pg_ad_bits");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 5).map(hex)).toEqual(
      [PT1 | 0x27, 0x400000 | 0x27, 0x401000 | 0x67, 0x402000 | 0x07, 0x400000 | 0x67].map(hex),
    );
    // The code page was only fetched; the stack page was written; pages never touched keep A = D = 0.
    const codePage = r.sym("pg_ad_bits.after_paging") & ~0xfff;
    expect(hex(r.u32(0x11000 + 4 * (codePage >>> 12)))).toBe(hex(codePage | 0x27));
    expect(hex(r.u32(0x11000 + 4 * 0x7f))).toBe(hex(0x7f000 | 0x67));
    expect(hex(r.u32(0x11000 + 4 * 0x50))).toBe(hex(0x50000 | 0x07));
    expect(hex(r.u32(0x10000))).toBe(hex(0x11000 | 0x27));
  });

  it("#PF error codes (P, W, U) and CR2, with and without CR0.WP, at ring 0 and ring 3", () => {
    const r = paging("pg_faults");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    const cases: [string, number, number][] = [
      ["pg_faults.f1", 0, 0x410000], // supervisor read, not present
      ["pg_faults.f2", 2, 0x410ffc], // supervisor write, not present
      ["pg_faults.f3", 3, 0x411004], // supervisor write, read-only, CR0.WP = 1
      ["pg_faults.g1", 5, 0x414000], // user read of a supervisor page
      ["pg_faults.g2", 7, 0x414008], // user write of a supervisor page
      ["pg_faults.g3", 7, 0x413000], // user write of a read-only user page
      ["pg_faults.g4", 4, 0x410010], // user read, not present
      ["", 5, 0x414000], // user fetch from a supervisor page (EIP = the target)
    ];
    expect(log.map((e) => [e.vector, frameOf(e, true).error, hex(e.cr2)])).toEqual(
      cases.map(([, err, cr2]) => [14, err, hex(cr2)]),
    );
    expect(log.map((e) => frameOf(e, true).eip)).toEqual(cases.map(([l]) => (l ? r.sym(l) : 0x414000)));
    expect(log.map((e) => frameOf(e, true).cs)).toEqual([KCODE, KCODE, KCODE, UCODE, UCODE, UCODE, UCODE, UCODE]);
    expect(frameOf(log[7]!, true).esp).toBe(USTACK_TOP - 4);
    // The write with CR0.WP = 0 went through; the faulting ones did not.
    expect(r.words(0x411000, 2).map(hex)).toEqual([0x11, 0].map(hex));
    expect(r.u32(0x412000)).toBe(5);
    expect(r.u32(0x413000)).toBe(0);
    expect(hex(r.regs.cr2)).toBe(hex(0x414000));
  });

  it("page walks make 2 references per 4 KiB miss, 1 per 4 MiB miss; CR3 keeps global pages", () => {
    const r = paging("pg_walks", { run: false });
    const stats = r.machine.cpu.tlb.stats;
    const deltas: [number, number][] = [];
    let prev = { ...stats };
    for (let k = 1; k <= 9; k++) {
      expect(r.run()).toEqual({ kind: "debug-exit", value: k });
      deltas.push([stats.misses - prev.misses, stats.walkReferences - prev.walkReferences]);
      prev = { ...stats };
    }
    expect(r.run()).toEqual({ kind: "halt" });
    expect(deltas.slice(1)).toEqual([
      [1, 2], // 4 KiB read miss
      [0, 0], // hit in the same page
      [1, 1], // 4 MiB page
      [1, 2], // 4 KiB write miss (sets A and D)
      [2, 4], // a global and a non-global 4 KiB page
      [1, 2], // MOV CR3: the (non-global) code page is walked again
      [0, 0], // the global page survived MOV CR3
      [1, 2], // the non-global one did not
    ]);
  });

  it("a store into the page of the running code hits the TLB (no walk) and drops the page's blocks", () => {
    const r = paging("pg_code_store", { run: false });
    expect(r.sym("code_store_var") >>> 12).toBe(r.sym("code_store_code.again") >>> 12);
    const cpu = r.machine.cpu;
    expect(r.run()).toEqual({ kind: "debug-exit", value: 1 });
    const before = { ...cpu.tlb.stats, invalidations: cpu.blocks.invalidations };
    expect(r.run()).toEqual({ kind: "debug-exit", value: 2 });
    expect(r.run()).toEqual({ kind: "halt" });
    expect(cpu.tlb.stats.misses - before.misses).toBe(0);
    expect(cpu.tlb.stats.walkReferences - before.walkReferences).toBe(0);
    expect(cpu.blocks.invalidations - before.invalidations).toBe(3);
    expect(r.u32(r.sym("code_store_var"))).toBe(1);
  });

  it("a page-crossing read and write use the TLB entry of each page: no walk", () => {
    const r = paging("pg_split", { run: false });
    const stats = r.machine.cpu.tlb.stats;
    expect(r.run()).toEqual({ kind: "debug-exit", value: 1 });
    const before = { ...stats };
    expect(r.run()).toEqual({ kind: "debug-exit", value: 2 });
    expect([stats.misses - before.misses, stats.walkReferences - before.walkReferences]).toEqual([0, 0]);
    expect(r.run()).toEqual({ kind: "halt" });
    expect([r.regs.edx, r.regs.ebx, r.regs.ecx].map(hex)).toEqual([0x66554433, 0xaa332211, 0x88ddccbb].map(hex));
  });

  it("global pages survive MOV CR3; stale translations stay until INVLPG; clearing CR4.PGE flushes", () => {
    const r = paging("pg_global");
    expect(r.stop).toEqual({ kind: "halt" });
    const G0 = 0x6730;
    const N0 = 0x4e30;
    const G1 = 0x6731;
    const N1 = 0x4e31;
    expect(r.words(SCRATCH, 9).map(hex)).toEqual([G0, N0, G0, N0, G0, N1, G1, G1, G0].map(hex));
  });

  it("4 MiB pages: aliasing, A then D in the PDE, INVLPG anywhere in the page drops it", () => {
    const r = paging("pg_large");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 6).map(hex)).toEqual(
      [0x11111111, 0x400000 | 0xa3, 0x400000 | 0xe3, 0x33333333, 0x11111111, 0x22222222].map(hex),
    );
  });

  it("#DF for a #PF while delivering a #PF; CR2 = the address of the second fault", () => {
    const r = paging("pg_df_pf");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([8]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0, cs: KCODE });
    expect(hex(log[0]!.cr2)).toBe(hex(0x44000 - 9 * 8 + 14 * 8));
  });

  it("a #PF while delivering a #GP is delivered as #PF (contributory then page fault is no #DF)", () => {
    const r = paging("pg_gp_then_pf");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([14]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0, eip: r.sym("pg_gp_then_pf.fault"), cs: KCODE });
    expect(hex(log[0]!.cr2)).toBe(hex(0x45000 - 14 * 8 + 13 * 8));
  });

  it("an instruction straddling into a not-present page: #PF at its start, CR2 = the next page", () => {
    const r = paging("pg_straddle");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    const page = r.sym("straddle_page_end") & ~0xfff;
    expect(log.map((e) => [e.vector, frameOf(e, true).error, hex(e.cr2)])).toEqual([[14, 0, hex(page)]]);
    expect(frameOf(log[0]!, true).eip).toBe(r.sym("straddle_code.insn"));
    expect(r.sym("straddle_code.insn")).toBe(page - 3);
    expect([r.regs.eax, r.regs.ebx]).toEqual([1, 0]);
  });

  it("a ring-3 fault with an unmapped TSS.ESP0 stack: #PF, #DF, triple fault", () => {
    const r = paging("pg_triple");
    expect(r.stop.kind).toBe("shutdown");
    const diag = r.stop.kind === "shutdown" ? r.stop.diagnostic : "";
    expect(diag).toContain(`#PF(0x4) at 0x${r.sym("pg_triple.fault").toString(16).padStart(8, "0")}`);
    expect(diag).toContain("#DF");
    expect(diag).toContain("triple fault");
    expect(hex(r.regs.cr2)).toBe(hex(0x67ffc));
  });

  it("REP MOVSB restarts after a #PF with ECX/ESI/EDI at the faulting iteration", () => {
    const r = paging("pg_rep_fault");
    expect(r.stop).toEqual({ kind: "halt" });
    // CR2, error code (write, not present), EIP = the REP MOVSB, ECX ESI EDI at the fault.
    expect(r.words(SCRATCH + 0x200, 6).map(hex)).toEqual(
      [0x430000, 2, r.sym("pg_rep_fault.movs"), 0x80, SCRATCH + 0x80, 0x430000].map(hex),
    );
    expect([r.regs.ecx, r.regs.esi, r.regs.edi].map(hex)).toEqual([0, SCRATCH + 0x100, 0x430080].map(hex));
    expect(hex(r.regs.eax)).toBe(hex(0x7f7e7d7c));
    expect(hex(r.regs.ebx)).toBe(hex(0x83828180));
  });
});

describe("self-modifying code", () => {
  it("a function patched after it ran runs its new code", () => {
    const r = new Run(program("smc.asm"), "smc_patch_function");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 3)).toEqual([1, 2, 11]);
  });

  it("a loop rewriting its own ADD immediate every iteration", () => {
    const r = new Run(program("smc.asm"), "smc_loop");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.regs.eax).toBe(1 + 2 + 3 + 4 + 5);
  });

  it("a store into the next instructions of the same straight-line run takes effect", () => {
    const r = new Run(program("smc.asm"), "smc_next");
    expect(r.stop).toEqual({ kind: "halt" });
    expect([hex(r.regs.eax), hex(r.regs.ebx)]).toEqual([hex(0x42), hex(0x43)]);
  });

  it("a store through another linear alias of the code's physical page takes effect", () => {
    const r = new Run(program("smc.asm"), "smc_alias");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 2).map(hex)).toEqual([1, 0x77].map(hex));
  });
});

describe("string instructions", () => {
  const BUF = SCRATCH + 0x100;
  const strings = (entry: string) => new Run(program("string.asm"), entry);

  it("REP MOVSB with DF = 1 copies an overlapping range backward", () => {
    const r = strings("str_movsb_backward");
    expect(r.stop).toEqual({ kind: "halt" });
    const expected = Array.from({ length: 0x40 }, (_, k) => (k >= 4 && k < 20 ? k - 4 : k));
    expect(Array.from(r.machine.readPhysical(BUF, 0x40))).toEqual(expected);
    expect([r.regs.ecx, r.regs.esi, r.regs.edi].map(hex)).toEqual([0, BUF - 1, BUF + 3].map(hex));
    expect(hex(r.u32(SCRATCH))).toBe(hex(0x446)); // DF, and ZF PF from the last CMP
  });

  it("REP STOSD, LODSD and LODSW with DF = 1 step downward", () => {
    const r = strings("str_stosd_backward");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(BUF, 4).map(hex)).toEqual([0x03020100, 0xaabbccdd, 0xaabbccdd, 0xaabbccdd].map(hex));
    expect(hex(r.u32(SCRATCH))).toBe(hex(BUF));
    expect(hex(r.regs.ebx)).toBe(hex(0x23222120));
    expect(hex(r.regs.ecx)).toBe(hex(0x23221d1c));
    expect(hex(r.regs.esi)).toBe(hex(BUF + 0x1a));
  });

  it("REPE CMPSB stops after the first difference, REPNE CMPSB after the first match", () => {
    const r = strings("str_repe_cmpsb");
    expect(r.stop).toEqual({ kind: "halt" });
    const s1 = r.sym("str_repe_cmpsb.s1");
    const s2 = r.sym("str_repe_cmpsb.s2");
    // 'w' - 't' = 3: PF only.
    expect(r.words(SCRATCH, 4).map(hex)).toEqual([0x6, 4, s1 + 7, s2 + 7].map(hex));
    // Equal strings: ECX runs out, ZF = 1.
    expect(r.words(SCRATCH + 16, 3).map(hex)).toEqual([0x46, 0, s1 + 11].map(hex));
    expect(r.words(SCRATCH + 28, 2).map(hex)).toEqual([0x46, 6].map(hex));
  });

  it("REPNE SCASB forward (strlen) and backward (last '/'), REPE SCASB", () => {
    const r = strings("str_scasb");
    expect(r.stop).toEqual({ kind: "halt" });
    const path = r.sym("str_scasb.path");
    expect(r.words(SCRATCH, 4).map(hex)).toEqual([0x46, 0xfffffff0, path + 15, 14].map(hex));
    expect(r.words(SCRATCH + 16, 3).map(hex)).toEqual([0x446, 10, path + 9].map(hex));
    expect(r.words(SCRATCH + 28, 2).map(hex)).toEqual([2, r.sym("str_scasb.aaa") + 6].map(hex));
  });

  it("with ECX = 0 REP string instructions do nothing and leave the flags alone", () => {
    const r = strings("str_ecx_zero");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.words(SCRATCH, 4).map(hex)).toEqual([0x97, 0x97, 0xfffff000, 0xfffff000].map(hex));
  });
});

describe("interrupts", () => {
  const TICKS = SCRATCH;
  const TICK_EIP = SCRATCH + 0x10;
  const TICK_CS = SCRATCH + 0x50;
  const TICK_EBX = SCRATCH + 0x90;
  const TICK_ESP = SCRATCH + 0xd0;
  const ints = (entry: string) => new Run(program("interrupts.asm"), entry);

  it("PIT mode 2 through the PIC: HLT waits for each tick, the saved EIP follows the HLT", () => {
    const r = ints("int_timer_hlt");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(TICKS)).toBe(5);
    expect(r.words(TICK_EIP, 5)).toEqual(Array(5).fill(r.sym("int_timer_hlt.after_hlt")));
    expect(r.words(TICK_CS, 5)).toEqual(Array(5).fill(KCODE));
    // Five periods of 1193 PIT clocks at 3 GHz passed (HLT skips the idle time).
    const period = (1193 * 3e9) / 1193182;
    expect(r.machine.cpu.cycles).toBeGreaterThanOrEqual(5 * period - 1);
    expect(r.machine.cpu.cycles).toBeLessThan(6 * period);
  });

  it("STI: a pending IRQ is taken only after the next instruction", () => {
    const r = ints("int_sti_shadow");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(TICKS)).toBe(1);
    expect(r.u32(TICK_EIP)).toBe(r.sym("int_sti_shadow.next"));
    expect(r.u32(TICK_EBX)).toBe(1);
    expect(r.regs.ebx).toBe(2);
  });

  it("POPF setting IF has no shadow: the pending IRQ is taken right after it", () => {
    const r = ints("int_popf_no_shadow");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(TICKS)).toBe(1);
    expect(r.u32(TICK_EIP)).toBe(r.sym("int_popf_no_shadow.after_popf"));
    expect(r.u32(TICK_EBX)).toBe(0);
  });

  it("STI; HLT halts (the shadow covers the HLT) and the timer wakes it", () => {
    const r = ints("int_sti_hlt");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(TICKS)).toBe(1);
    expect(r.u32(TICK_EIP)).toBe(r.sym("int_sti_hlt.after_hlt"));
  });

  it("an IRQ at ring 3 switches to the TSS stack and pushes ring 3's SS:ESP", () => {
    const r = ints("int_ring3");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(TICKS)).toBe(3);
    // Taken between two instructions of the spin loop: the saved EIP is one of them.
    const between = [r.sym("int_ring3.spin"), r.sym("int_ring3.jb")];
    for (const eip of r.words(TICK_EIP, 3)) expect(between).toContain(eip);
    expect(r.words(TICK_CS, 3)).toEqual([UCODE, UCODE, UCODE]);
    expect(r.words(TICK_EBX, 3)).toEqual([0x3333, 0x3333, 0x3333]);
    expect(r.words(TICK_ESP, 3)).toEqual(Array(3).fill(RING0_STACK_TOP - 20));
    expect(r.words(r.sym("USER_FRAME") + 4, 4).map(hex)).toEqual(
      [UCODE, r.u32(r.sym("USER_FRAME") + 8), USTACK_TOP, UDATA].map(hex),
    );
    expect(r.u32(r.sym("USER_FRAME") + 8) & 0x200).toBe(0x200);
  });

  it("an IRQ through a not-present gate is #NP with EXT set", () => {
    const r = ints("int_np_gate");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([11]);
    expect(frameOf(log[0]!, true)).toMatchObject({ error: 0x20 * 8 + 2 + 1, eip: r.sym("int_np_gate.wait") + 1 });
  });
});

describe.skipIf(!hasNasm())("the programs themselves", () => {
  it.each(["exceptions.asm", "privilege.asm", "paging.asm", "smc.asm", "string.asm", "interrupts.asm", "blocks.asm"])(
    "%s: the project's assembler and NASM produce the same bytes and labels",
    (file) => {
      const ours = program(file);
      const nasm = assembleWithNasm(join(HERE, file));
      expect(Buffer.from(ours.bytes).equals(Buffer.from(nasm.bytes))).toBe(true);
      for (const [name, value] of nasm.symbols) {
        if (!name.startsWith("..@")) expect([name, ours.symbols.get(name)]).toEqual([name, value]);
      }
    },
  );
});
