// Events and VMX (Intel SDM Vol. 3C, 26.2-26.3, 27.2, 28.6): event injection on VM entry, interrupt-
// window exiting, external-interrupt exiting with the PIC and PIT (acknowledge on exit), NMI exiting,
// the exception bitmap with the #PF error-code mask/match rule, IDT-vectoring information for exits
// during event delivery, triple faults, TSC offsetting and RDTSC exiting.
//
// Every vector of the guest IDT points at its own `vmcall; iret` stub, so a VMCALL exit with
// GUEST_RIP = stubFor(v) means vector v was delivered to the guest; the frame is at GUEST_RSP.
import { describe, expect, test } from "vitest";
import {
  C,
  EXIT_REASON,
  expectOk,
  GUEST_CODE,
  GUEST_IDT,
  GUEST_STACK_TOP,
  launchToExit,
  loadCode,
  resumeToExit,
  type Setup,
  setup,
  stubFor,
  VMCS,
} from "./setup-ept.js";

const IF = 0x200;
const VALID = 0x80000000;
const DELIVER_CODE = 0x800;
const info = (vector: number, type: number, code = false) =>
  (VALID | (type << 8) | (code ? DELIVER_CODE : 0) | vector) >>> 0;
const EXT = 0;
const NMI = 2;
const HW = 3;
const SW_INT = 4;
const PRIV_SW = 5;
const SW_EXC = 6;

/** The frame the guest's handler got: [error code,] EIP, CS, EFLAGS. */
function frame(s: Setup, words: number): number[] {
  const esp = s.read(VMCS.GUEST_RSP);
  return Array.from({ length: words }, (_, k) => s.m.memory.read32(esp + 4 * k) >>> 0);
}

/** Points IDT vector v at `handler`. */
function setGate(s: Setup, vector: number, handler: number): void {
  s.m.memory.write32(GUEST_IDT + vector * 8, (0x08 << 16) | (handler & 0xffff));
  s.m.memory.write32(GUEST_IDT + vector * 8 + 4, ((handler & 0xffff0000) | 0x8e00) >>> 0);
}

function inject(s: Setup, intrInfo: number, errorCode?: number, length?: number): void {
  s.write(VMCS.VM_ENTRY_INTR_INFO_FIELD, intrInfo);
  if (errorCode !== undefined) s.write(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, errorCode);
  if (length !== undefined) s.write(VMCS.VM_ENTRY_INSTRUCTION_LEN, length);
}

describe("event injection on VM entry", () => {
  test("external interrupt (IF = 1): the guest's handler gets it, returning to GUEST_RIP", () => {
    const s = setup({ code: "vmcall\n", rflags: 2 | IF });
    inject(s, info(0x30, EXT));
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(0x30));
    expect(frame(s, 3)).toEqual([GUEST_CODE, 0x08, 2 | IF]);
    expect(s.read(VMCS.GUEST_RSP)).toBe(GUEST_STACK_TOP - 12);
    // Through an interrupt gate: IF is clear in the handler.
    expect(s.read(VMCS.GUEST_RFLAGS) & IF).toBe(0);
    // The exit cleared the valid bit of the injection field (and left the rest).
    expect(s.read(VMCS.VM_ENTRY_INTR_INFO_FIELD)).toBe(0x30);
    // Nothing was being delivered when the VMCALL exited.
    expect(e.idtVectoringInfo).toBe(0);
    // Resuming past the VMCALL runs the stub's IRET back to GUEST_RIP, which VMCALLs again; no re-injection.
    s.skip();
    const again = resumeToExit(s);
    expect(again.reason).toBe(EXIT_REASON.VMCALL);
    expect(again.guestRip).toBe(GUEST_CODE);
    expect(s.read(VMCS.GUEST_RFLAGS) & IF).toBe(IF);
  });

  test("external interrupt with IF = 0: VM entry fails on the guest state (exit 33 | bit 31)", () => {
    const s = setup({ code: "vmcall\n" });
    inject(s, info(0x30, EXT));
    expectOk(s.launch(), "VMLAUNCH");
    const r = s.m.run({ maxCycles: 100_000 });
    expect(r).toEqual({ kind: "vmexit", reason: (0x80000000 | EXIT_REASON.INVALID_STATE) >>> 0, qualification: 0 });
    expect(s.read(VMCS.VM_EXIT_REASON)).toBe((VALID | EXIT_REASON.INVALID_STATE) >>> 0);
    expect(s.m.vmx.nonRoot).toBe(false);
    expect(s.read(VMCS.GUEST_RIP)).toBe(GUEST_CODE);
  });

  test("NMI (type 2, vector 2)", () => {
    const s = setup({ code: "vmcall\n" });
    inject(s, info(2, NMI));
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(2));
    expect(frame(s, 3)).toEqual([GUEST_CODE, 0x08, 2]);
  });

  test("hardware exception with an error code: #GP(0x1234)", () => {
    const s = setup({ code: "vmcall\n" });
    inject(s, info(13, HW, true), 0x1234);
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(13));
    expect(frame(s, 4)).toEqual([0x1234, GUEST_CODE, 0x08, 2]);
  });

  test("hardware exception without an error code: #UD returns to GUEST_RIP (a fault)", () => {
    const s = setup({ code: "vmcall\n" });
    inject(s, info(6, HW));
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(6));
    expect(frame(s, 3)).toEqual([GUEST_CODE, 0x08, 2]);
  });

  test("#PF with an error code: the handler reads the CR2 the host left (VM entry does not load CR2)", () => {
    const s = setup({ code: "vmcall\n" });
    loadCode(s.m, "mov eax, cr2\nvmcall\n", GUEST_CODE + 0x800);
    setGate(s, 14, GUEST_CODE + 0x800);
    s.m.cpu.cr2 = 0xdead0123 | 0;
    inject(s, info(14, HW, true), 0x6);
    const e = launchToExit(s);
    expect(e.guestRip).toBe(GUEST_CODE + 0x800 + 3);
    expect(s.m.cpu.regs[0]! >>> 0).toBe(0xdead0123);
    expect(frame(s, 4)).toEqual([6, GUEST_CODE, 0x08, 2]);
  });

  test("software interrupt INT 0x80 (type 4) returns past it: EIP = GUEST_RIP + VM_ENTRY_INSTRUCTION_LEN", () => {
    const s = setup({ code: "int 0x80\nvmcall\n" });
    inject(s, info(0x80, SW_INT), undefined, 2);
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(0x80));
    expect(frame(s, 3)).toEqual([GUEST_CODE + 2, 0x08, 2]);
  });

  test("software exception INT3 (type 6, length 1)", () => {
    const s = setup({ code: "int3\nvmcall\n" });
    inject(s, info(3, SW_EXC), undefined, 1);
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(3));
    expect(frame(s, 3)).toEqual([GUEST_CODE + 1, 0x08, 2]);
  });

  test("privileged software exception (type 5, ICEBP #DB, length 1)", () => {
    const s = setup({ code: "db 0xf1\nvmcall\n" });
    inject(s, info(1, PRIV_SW), undefined, 1);
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(1));
    expect(frame(s, 3)).toEqual([GUEST_CODE + 1, 0x08, 2]);
  });

  test("an injected exception is not subject to the exception bitmap", () => {
    const s = setup({ code: "vmcall\n" });
    s.write(VMCS.EXCEPTION_BITMAP, 0xffffffff);
    inject(s, info(6, HW));
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(6));
  });

  test("injection wakes a guest entered in the HLT activity state", () => {
    const s = setup({ code: "hlt\nvmcall\n", rflags: 2 | IF });
    s.write(VMCS.GUEST_RIP, GUEST_CODE + 1);
    s.write(VMCS.GUEST_ACTIVITY_STATE, 1);
    inject(s, info(0x30, EXT));
    const e = launchToExit(s);
    expect(e.guestRip).toBe(stubFor(0x30));
    expect(s.read(VMCS.GUEST_ACTIVITY_STATE)).toBe(0);
    expect(frame(s, 1)).toEqual([GUEST_CODE + 1]);
  });

  test.each([
    ["type 1 (reserved)", info(0x30, 1), 0, 0],
    ["NMI with vector 3", info(3, NMI), 0, 0],
    ["hardware exception vector 32", info(32, HW), 0, 0],
    ["#GP without deliver-error-code", info(13, HW), 0, 0],
    ["#UD with deliver-error-code", info(6, HW, true), 0, 0],
    ["#PF error code with bit 16 set", info(14, HW, true), 0x10000, 0],
    ["reserved bit 12", (info(0x30, EXT) | 0x1000) >>> 0, 0, 0],
    ["reserved bit 30", (info(0x30, EXT) | 0x40000000) >>> 0, 0, 0],
    ["software interrupt with length 0", info(0x80, SW_INT), 0, 0],
    ["software exception with length 16", info(3, SW_EXC), 0, 16],
    ["other event (type 7) with vector 1", info(1, 7), 0, 0],
    ["external interrupt with deliver-error-code", info(0x30, EXT, true), 0, 0],
  ])("invalid injection: %s -> VMfailValid(7)", (_n, intr, code, len) => {
    const s = setup({ code: "vmcall\n", rflags: 2 | IF });
    inject(s, intr, code, len);
    expect(s.launch()).toEqual({ ok: false, invalid: false, error: 7 });
    expect(s.read(VMCS.VM_INSTRUCTION_ERROR)).toBe(7);
    expect(s.m.vmx.nonRoot).toBe(false);
    // Nothing was injected: the field is untouched.
    expect(s.read(VMCS.VM_ENTRY_INTR_INFO_FIELD)).toBe(intr);
  });

  test("an invalid field is not checked when the valid bit is clear", () => {
    const s = setup({ code: "vmcall\n" });
    inject(s, info(32, HW) & ~VALID);
    expect(launchToExit(s).guestRip).toBe(GUEST_CODE);
  });
});

describe("interrupt-window exiting", () => {
  const win = { proc: C.CPU_BASED_INTR_WINDOW_EXITING };

  test("IF = 1 and no blocking at entry: exit 7 before the first instruction", () => {
    const s = setup({ ...win, code: "nop\nvmcall\n", rflags: 2 | IF });
    const i0 = s.m.cpu.instret;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(e.qualification).toBe(0);
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(s.m.cpu.instret - i0).toBe(0);
  });

  test("IF = 0: the window opens one instruction after STI (the STI shadow)", () => {
    const s = setup({ ...win, code: "nop\nsti\nnop\nnop\nvmcall\n" });
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(e.guestRip).toBe(GUEST_CODE + 3);
    expect(s.read(VMCS.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
    expect(s.read(VMCS.GUEST_RFLAGS) & IF).toBe(IF);
  });

  test.each([
    ["blocking by STI", 1],
    ["blocking by MOV SS", 2],
  ])("entered with IF = 1 and %s: one instruction runs first", (_n, blocking) => {
    const s = setup({ ...win, code: "nop\nnop\nvmcall\n", rflags: 2 | IF });
    s.write(VMCS.GUEST_INTERRUPTIBILITY_INFO, blocking);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(e.guestRip).toBe(GUEST_CODE + 1);
  });

  test("STI then MOV SS: the MOV SS shadow extends the blocking by one more instruction", () => {
    const s = setup({ ...win, code: "mov eax, 0x10\nsti\nmov ss, ax\nnop\nnop\nvmcall\n" });
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(e.guestRip).toBe(GUEST_CODE + 5 + 1 + 2 + 1);
  });

  test("IF set by POPF opens the window at the next boundary", () => {
    const s = setup({ ...win, code: "push 0x202\npopfd\nnop\nvmcall\n" });
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(e.guestRip).toBe(GUEST_CODE + 6);
  });

  // KNOWN BUG (src/cpu/cpu.ts, Cpu.run): the careful-mode path clears interruptShadow/movSsShadow before it
  // runs the shadowed instruction, so an exit caused by that instruction saves interruptibility 0.
  // Turn test.fails back into test once fixed.
  test("an exit inside the STI / MOV SS shadow saves the blocking in the interruptibility state", () => {
    const s = setup({ code: "sti\nvmcall\n" });
    launchToExit(s);
    expect(s.read(VMCS.GUEST_INTERRUPTIBILITY_INFO)).toBe(1);
    const t = setup({ code: "mov eax, 0x10\nmov ss, ax\nvmcall\n" });
    launchToExit(t);
    expect(t.read(VMCS.GUEST_INTERRUPTIBILITY_INFO)).toBe(2);
  });

  test("window exits follow event injection", () => {
    const s = setup({ ...win, code: "vmcall\n", rflags: 2 | IF });
    inject(s, info(6, HW));
    const e = launchToExit(s);
    // The #UD handler runs with IF = 0 (interrupt gate): no window until its IRET.
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(6));
    s.skip();
    const w = resumeToExit(s);
    expect(w.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(w.guestRip).toBe(GUEST_CODE);
  });
});

/** Programs the PIC pair (master base 0x20, only IRQ 0 unmasked) and PIT channel 0 (rate generator). */
function startTimerIrq(s: Setup, count = 100): void {
  const out = (port: number, value: number) => s.m.cpu.portOut(port, 1, value);
  out(0x20, 0x11);
  out(0x21, 0x20);
  out(0x21, 0x04);
  out(0x21, 0x01);
  out(0xa0, 0x11);
  out(0xa1, 0x28);
  out(0xa1, 0x02);
  out(0xa1, 0x01);
  out(0x21, 0xfe);
  out(0xa1, 0xff);
  out(0x43, 0x34);
  out(0x40, count & 0xff);
  out(0x40, count >>> 8);
}

const SPIN = "top:\ninc eax\njmp top\n";

describe("external-interrupt exiting with the PIC and PIT", () => {
  test("exits (reason 1) even with IF = 0; acknowledge-on-exit puts the vector in VM_EXIT_INTR_INFO", () => {
    const s = setup({ pin: C.PIN_BASED_EXT_INTR_MASK, exit: C.VM_EXIT_ACK_INTR_ON_EXIT, code: SPIN });
    startTimerIrq(s);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(e.qualification).toBe(0);
    expect(e.interruptionInfo).toBe(info(0x20, EXT));
    expect(s.read(VMCS.GUEST_RFLAGS) & IF).toBe(0);
    // Acknowledged: IRQ 0 is in service, nothing is pending any more.
    expect(s.m.pic.hasInterrupt()).toBe(false);
    expect(s.m.cpu.regs[0]).toBeGreaterThan(0);
  });

  test("without acknowledge-on-exit the interruption info is invalid and the interrupt stays pending", () => {
    const s = setup({ pin: C.PIN_BASED_EXT_INTR_MASK, code: SPIN });
    startTimerIrq(s);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(e.interruptionInfo & VALID).toBe(0);
    expect(s.m.pic.hasInterrupt()).toBe(true);
    expect(s.m.pic.acknowledge()).toBe(0x20);
  });

  test("without external-interrupt exiting the interrupt goes through the guest's IDT (IF = 1)", () => {
    const s = setup({ code: SPIN, rflags: 2 | IF });
    startTimerIrq(s);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(0x20));
  });

  test("chained guest blocks exit at the instruction and cycle where single steps exit", () => {
    // The burst chains a guest's blocks while no interrupt is pending (external-interrupt exiting is
    // on for every KVM guest); the PIT's interrupt must still end them at its instruction boundary.
    const code = "top:\ninc eax\njmp one\none:\nadd ebx, 3\njmp two\ntwo:\nsub ecx, 1\njmp top\n";
    const results = [false, true].map((stepwise) => {
      const s = setup({ pin: C.PIN_BASED_EXT_INTR_MASK, exit: C.VM_EXIT_ACK_INTR_ON_EXIT, code });
      if (stepwise) s.m.cpu.hooks.instruction = () => undefined;
      startTimerIrq(s);
      const e = launchToExit(s);
      const r = s.m.cpu.regs;
      return {
        reason: e.reason,
        rip: e.guestRip,
        cycles: s.m.cpu.cycles,
        instret: s.m.cpu.instret,
        regs: [r[0], r[1], r[3]],
      };
    });
    expect(results[0]!.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(results[0]!.regs[0]).toBeGreaterThan(1000);
    expect(results[0]).toEqual(results[1]);
  });

  test("the usual flow: exit, wait for the window, inject the acknowledged vector", () => {
    const s = setup({
      pin: C.PIN_BASED_EXT_INTR_MASK,
      exit: C.VM_EXIT_ACK_INTR_ON_EXIT,
      code: "cli\ntop:\ninc eax\ncmp eax, 100000\njne top\nsti\nnop\nvmcall\n",
    });
    startTimerIrq(s);
    let e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    const vector = e.interruptionInfo & 0xff;
    // The guest has IF = 0: ask for the window.
    const proc = s.read(VMCS.CPU_BASED_VM_EXEC_CONTROL);
    s.write(VMCS.CPU_BASED_VM_EXEC_CONTROL, proc | C.CPU_BASED_INTR_WINDOW_EXITING);
    // Mask IRQ 0 so the PIT does not exit again while we wait.
    s.m.cpu.portOut(0x21, 1, 0xff);
    e = resumeToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    const sti = s.sym("top") + 1 + 5 + 2;
    expect(e.guestRip).toBe(sti + 1 + 1); // after STI and the NOP in its shadow
    s.write(VMCS.CPU_BASED_VM_EXEC_CONTROL, proc);
    inject(s, info(vector, EXT));
    e = resumeToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(0x20));
    expect(frame(s, 1)).toEqual([sti + 2]);
  });
});

describe("NMI exiting", () => {
  test("a pending NMI exits (reason 0) with NMI interruption info", () => {
    const s = setup({ pin: C.PIN_BASED_NMI_EXITING, code: SPIN });
    s.m.cpu.nmiPending = true;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(2, NMI));
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(s.m.cpu.nmiPending).toBe(false);
  });

  test("without NMI exiting the NMI goes to the guest's vector 2", () => {
    const s = setup({ code: SPIN });
    s.m.cpu.nmiPending = true;
    expect(launchToExit(s).guestRip).toBe(stubFor(2));
  });
});

describe("exception bitmap", () => {
  function bitmapRun(code: string, bitmap: number): { s: Setup; e: ReturnType<typeof launchToExit> } {
    const s = setup({ code });
    s.write(VMCS.EXCEPTION_BITMAP, bitmap);
    return { s, e: launchToExit(s) };
  }

  test("#UD (UD2) with bit 6: exit 0, hardware exception, no error code, RIP at the UD2", () => {
    const { e } = bitmapRun("nop\nud2\n", 1 << 6);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(6, HW));
    expect(e.interruptionErrorCode).toBe(0);
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(e.qualification).toBe(0);
    expect(e.idtVectoringInfo).toBe(0);
  });

  test("#UD without bit 6 goes to the guest", () => {
    const { e } = bitmapRun("nop\nud2\n", ~(1 << 6));
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(6));
  });

  test("#GP from a bad selector: error code in VM_EXIT_INTR_ERROR_CODE", () => {
    const { e } = bitmapRun("mov eax, 0x1230\nmov ds, ax\n", 1 << 13);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(13, HW, true));
    expect(e.interruptionErrorCode).toBe(0x1230);
    expect(e.guestRip).toBe(GUEST_CODE + 5);
  });

  test("#DE (DIV by 0) with bit 0", () => {
    const { e } = bitmapRun("xor ecx, ecx\ndiv ecx\n", 1);
    expect(e.interruptionInfo).toBe(info(0, HW));
    expect(e.guestRip).toBe(GUEST_CODE + 2);
  });

  // KNOWN BUG: Vmx.softwareInstructionLength is never set (INT3/INT n/INTO in src/exec/control.ts do not
  // store i.len), so the exit saves RIP after the INT3 and length 0. Turn test.fails back into test once fixed.
  test("INT3 with bit 3: a software exception, RIP at the INT3, instruction length 1", () => {
    const { e } = bitmapRun("nop\nint3\n", 1 << 3);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(3, SW_EXC));
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(e.instructionLength).toBe(1);
  });

  test("INT n is a software interrupt, never subject to the bitmap", () => {
    const { e } = bitmapRun("int 0x0d\n", 0xffffffff);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(e.guestRip).toBe(stubFor(13));
  });

  describe("#PF and the error-code mask/match rule", () => {
    const NOT_PRESENT = 0x600000;
    const PF = 1 << 14;
    // A read of a not-present page: error code 0; a write: error code 2 (W).
    const table: [number, number, number, boolean, boolean][] = [
      // bit 14, mask, match, read exits, write exits
      [PF, 0, 0, true, true],
      [PF, 2, 2, false, true],
      [PF, 2, 0, true, false],
      [PF, 0, 1, false, false],
      [0, 0, 0, false, false],
      [0, 2, 2, true, false],
      [0, 2, 0, false, true],
      [0, 0, 1, true, true],
    ];
    test.each(
      table.flatMap(([bit, mask, match, r, w]) => [
        [bit ? 1 : 0, mask, match, "read", r] as const,
        [bit ? 1 : 0, mask, match, "write", w] as const,
      ]),
    )("bit 14 = %i, mask %i, match %i: a %s fault exits: %s", (bit, mask, match, access, exits) => {
      const code = access === "read" ? `mov eax, [${NOT_PRESENT + 0x10}]\n` : `mov dword [${NOT_PRESENT + 0x10}], 1\n`;
      const s = setup({ paging: true, code });
      s.m.memory.write32(s.paging!.pteAddress(NOT_PRESENT), 0);
      s.write(VMCS.EXCEPTION_BITMAP, bit ? PF : 0);
      s.write(VMCS.PAGE_FAULT_ERROR_CODE_MASK, mask);
      s.write(VMCS.PAGE_FAULT_ERROR_CODE_MATCH, match);
      s.m.cpu.cr2 = 0x1234;
      const e = launchToExit(s);
      const errorCode = access === "read" ? 0 : 2;
      if (exits) {
        expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
        expect(e.interruptionInfo).toBe(info(14, HW, true));
        expect(e.interruptionErrorCode).toBe(errorCode);
        // The qualification holds the faulting linear address; CR2 is not written by the exit.
        expect(e.qualification).toBe(NOT_PRESENT + 0x10);
        expect(s.m.cpu.cr2).toBe(0x1234);
        expect(e.guestRip).toBe(GUEST_CODE);
      } else {
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        expect(e.guestRip).toBe(stubFor(14));
        expect(frame(s, 2)).toEqual([errorCode, GUEST_CODE]);
        expect(s.m.cpu.cr2).toBe(NOT_PRESENT + 0x10);
      }
    });
  });
});

describe("IDT-vectoring information (exits during event delivery)", () => {
  test("EPT violation reading the guest IDT while delivering #UD", () => {
    const s = setup({ code: "nop\nud2\n" });
    s.ept.setEntry(1, GUEST_IDT, 0);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.idtVectoringInfo).toBe(info(6, HW));
    expect(e.guestPhysicalAddress).toBe(GUEST_IDT + 6 * 8);
    expect(e.guestLinearAddress).toBe(GUEST_IDT + 6 * 8);
    expect(e.qualification).toBe(0x181); // read, linear valid, final access
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    // The host maps the page and re-injects the event from the vectoring info: the guest gets its #UD.
    s.ept.map4k(GUEST_IDT, GUEST_IDT);
    inject(s, e.idtVectoringInfo);
    const again = resumeToExit(s);
    expect(again.guestRip).toBe(stubFor(6));
    expect(again.idtVectoringInfo).toBe(0);
    expect(frame(s, 1)).toEqual([GUEST_CODE + 1]);
  });

  test("EPT violation pushing the frame of an injected #GP(0x1234): error code in IDT_VECTORING_ERROR_CODE", () => {
    const s = setup({ code: "vmcall\n" });
    s.ept.setEntry(1, GUEST_STACK_TOP - 4, 0);
    inject(s, info(13, HW, true), 0x1234);
    expectOk(s.launch(), "VMLAUNCH");
    // The exit happened inside VM entry; its information is in the VMCS already.
    const e = s.m.vmx.exitInfo();
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.idtVectoringInfo).toBe(info(13, HW, true));
    expect(s.read(VMCS.IDT_VECTORING_ERROR_CODE)).toBe(0x1234);
    expect(e.qualification).toBe(0x182); // write, linear valid, final access
    expect(e.guestPhysicalAddress).toBe(GUEST_STACK_TOP - 4);
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(s.read(VMCS.GUEST_RSP)).toBe(GUEST_STACK_TOP);
    expect(s.m.vmx.nonRoot).toBe(false);
  });

  test("...and the next Machine.run() reports that exit", () => {
    const s = setup({ code: "vmcall\n" });
    s.ept.setEntry(1, GUEST_STACK_TOP - 4, 0);
    inject(s, info(13, HW, true), 0x1234);
    expectOk(s.launch(), "VMLAUNCH");
    expect(s.m.run({ maxCycles: 100_000 })).toEqual({
      kind: "vmexit",
      reason: EXIT_REASON.EPT_VIOLATION,
      qualification: 0x182,
    });
  });

  test("EPT violation on the IDT while delivering an injected external interrupt", () => {
    const s = setup({ code: "vmcall\n", rflags: 2 | IF });
    s.ept.setEntry(1, GUEST_IDT, 0);
    inject(s, info(0x30, EXT));
    expectOk(s.launch(), "VMLAUNCH");
    const e = s.m.vmx.exitInfo();
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.idtVectoringInfo).toBe(info(0x30, EXT));
    expect(e.guestPhysicalAddress).toBe(GUEST_IDT + 0x30 * 8);
    expect(s.read(VMCS.VM_ENTRY_INTR_INFO_FIELD)).toBe(0x30);
  });

  test("EPT violation while delivering INT n: software interrupt, RIP at the INT, its length saved", () => {
    const s = setup({ code: "nop\nint 0x80\nvmcall\n" });
    s.ept.setEntry(1, GUEST_IDT, 0);
    const i0 = s.m.cpu.instret;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.idtVectoringInfo).toBe(info(0x80, SW_INT));
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(e.instructionLength).toBe(2);
    // Only the NOP completed.
    expect(s.m.cpu.instret - i0).toBe(1);
  });

  test("EPT violation while delivering INT n: the vectoring info names the software interrupt", () => {
    const s = setup({ code: "nop\nint 0x80\nvmcall\n" });
    s.ept.setEntry(1, GUEST_IDT, 0);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.idtVectoringInfo).toBe(info(0x80, SW_INT));
    expect(e.guestPhysicalAddress).toBe(GUEST_IDT + 0x80 * 8);
    expect(e.qualification).toBe(0x181);
  });

  test("#PF (in the bitmap) while delivering #UD to a not-present guest stack: exit 0 with the #UD vectoring", () => {
    const s = setup({ paging: true, code: "nop\nud2\n" });
    s.m.memory.write32(s.paging!.pteAddress(GUEST_STACK_TOP - 4), 0);
    s.write(VMCS.EXCEPTION_BITMAP, 1 << 14);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(14, HW, true));
    expect(e.interruptionErrorCode).toBe(2); // a supervisor write to a not-present page
    expect(e.qualification).toBe(GUEST_STACK_TOP - 4);
    expect(e.idtVectoringInfo).toBe(info(6, HW));
    expect(e.guestRip).toBe(GUEST_CODE + 1);
  });

  test("#PF (in the bitmap) while delivering INT n to a not-present stack: RIP at the INT, its length saved", () => {
    const s = setup({ paging: true, code: "nop\nint 0x80\n" });
    s.m.memory.write32(s.paging!.pteAddress(GUEST_STACK_TOP - 4), 0);
    s.write(VMCS.EXCEPTION_BITMAP, 1 << 14);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(14, HW, true));
    expect(e.idtVectoringInfo).toBe(info(0x80, SW_INT));
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(e.instructionLength).toBe(2);
  });

  test("the guest walks its own tables for the IDT: a violation on its page table has bit 8 clear", () => {
    // The IDT is seen at linear 0x500000, whose page table (guest-physical 0x42000) EPT does not map.
    const s = setup({ paging: true, code: "ud2\n" });
    s.paging!.map4k(0x500000, GUEST_IDT);
    s.write(VMCS.GUEST_IDTR_BASE, 0x500000);
    const pte = s.paging!.pteAddress(0x500000);
    s.ept.setEntry(1, pte, 0);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(0x81); // read of a paging-structure entry, linear address valid
    expect(e.guestPhysicalAddress).toBe(pte);
    expect(e.guestLinearAddress).toBe(0x500000 + 6 * 8);
    expect(e.idtVectoringInfo).toBe(info(6, HW));
    expect(e.guestRip).toBe(GUEST_CODE);
  });
});

describe("triple fault", () => {
  test("a fault with an empty IDT becomes #GP, #DF, then a triple fault: exit 2", () => {
    const s = setup({ code: "nop\nud2\n" });
    s.write(VMCS.GUEST_IDTR_LIMIT, 0);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.TRIPLE_FAULT);
    expect(e.qualification).toBe(0);
    expect(e.idtVectoringInfo).toBe(0);
    expect(s.m.vmx.nonRoot).toBe(false);
  });

  test("with #DF in the bitmap the double fault exits first (exit 0, vector 8, error code 0)", () => {
    const s = setup({ code: "nop\nud2\n" });
    s.write(VMCS.GUEST_IDTR_LIMIT, 0);
    s.write(VMCS.EXCEPTION_BITMAP, 1 << 8);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(e.interruptionInfo).toBe(info(8, HW, true));
    expect(e.interruptionErrorCode).toBe(0);
  });
});

describe("TSC offsetting and RDTSC exiting", () => {
  function rdtsc(offset?: number): { eax: number; edx: number; entered: number } {
    const s = setup({ proc: offset === undefined ? 0 : C.CPU_BASED_USE_TSC_OFFSETTING, code: "rdtsc\nvmcall\n" });
    if (offset !== undefined) {
      const big = BigInt.asUintN(64, BigInt(offset));
      s.write(VMCS.TSC_OFFSET, Number(big & 0xffffffffn));
      s.write(VMCS.TSC_OFFSET + 1, Number(big >> 32n));
    }
    expectOk(s.launch(), "VMLAUNCH");
    const entered = s.m.cpu.cycles;
    expect(s.runToExit().reason).toBe(EXIT_REASON.VMCALL);
    return { eax: s.m.cpu.regs[0]! >>> 0, edx: s.m.cpu.regs[2]! >>> 0, entered };
  }

  test("without offsetting RDTSC reads the cycle count at the instruction", () => {
    const r = rdtsc();
    // The first instruction's fetch walked EPT for the code page (4 references of 4 cycles).
    expect(r.edx).toBe(0);
    expect(r.eax).toBe(r.entered + 16);
  });

  test.each([0, 1_000_000, 0x1_0000_0005, -1000])("RDTSC in the guest = TSC + offset (%i)", (offset) => {
    const base = rdtsc();
    const r = rdtsc(offset);
    const want = BigInt.asUintN(64, BigInt(base.eax) + BigInt(offset));
    expect(r.eax).toBe(Number(want & 0xffffffffn));
    expect(r.edx).toBe(Number(want >> 32n));
  });

  test("RDTSC exiting: exit 16 at the RDTSC, length 2, EDX:EAX untouched (offsetting on too)", () => {
    const s = setup({ proc: C.CPU_BASED_RDTSC_EXITING | C.CPU_BASED_USE_TSC_OFFSETTING, code: "nop\nrdtsc\n" });
    s.m.cpu.regs[0] = 0x55;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.RDTSC);
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(e.instructionLength).toBe(2);
    expect(s.m.cpu.regs[0]).toBe(0x55);
  });

  test("the host's TSC is not offset after the exit", () => {
    const s = setup({ proc: C.CPU_BASED_USE_TSC_OFFSETTING, code: "vmcall\n" });
    s.write(VMCS.TSC_OFFSET, 5000);
    launchToExit(s);
    expect(s.m.cpu.readTsc()).toBe(s.m.cpu.cycles);
  });
});
