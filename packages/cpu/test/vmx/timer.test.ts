// The VMX-preemption timer (Intel SDM Vol. 3C, 26.5.1 and 27.7.4): it counts down by one each time
// bit X of the TSC changes (X = IA32_VMX_MISC[4:0] = 5 here), so a timer loaded with N at TSC t0
// reaches 0 at (floor(t0 / 2^X) + N) * 2^X; the exit (52) happens at the first instruction boundary
// at or after that cycle. Value 0 exits before the first guest instruction (after event injection).
// "Save VMX-preemption timer value" stores what is left at every exit. HLT does not stop the timer.
import { describe, expect, test } from "vitest";
import {
  C,
  EXIT_REASON,
  expectOk,
  GUEST_CODE,
  launchToExit,
  resumeToExit,
  type Setup,
  setup,
  stubFor,
  VMCS,
} from "./setup-ept.js";

const SPIN = "top:\ninc eax\njmp top\n";

function timerSetup(value: number, code = SPIN, exit = 0): Setup {
  const s = setup({ pin: C.PIN_BASED_VMX_PREEMPTION_TIMER, exit, code });
  s.write(VMCS.VMX_PREEMPTION_TIMER_VALUE, value);
  return s;
}

function rate(s: Setup): number {
  const misc = s.m.cpu.readMsr(0x485);
  if (!misc) throw new Error("no IA32_VMX_MISC");
  return misc[0] & 0x1f;
}

describe("VMX-preemption timer", () => {
  test("IA32_VMX_MISC reports rate 5 (one tick per 32 TSC cycles)", () => {
    expect(rate(timerSetup(1))).toBe(5);
  });

  test("value 0 exits before the first guest instruction", () => {
    const s = timerSetup(0);
    const cpu = s.m.cpu;
    const c0 = cpu.cycles;
    const i0 = cpu.instret;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(e.qualification).toBe(0);
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(cpu.instret - i0).toBe(0);
    expect(cpu.regs[0]).toBe(0);
    // Nothing but the VM entry and the VM exit.
    const cost = s.m.costModel.vmx;
    expect(cpu.cycles - c0).toBe(cost.vmEntry + cost.vmExit);
  });

  test("value 0 with an injected event: the event is delivered first, the exit is at the handler", () => {
    const s = timerSetup(0);
    s.write(VMCS.GUEST_RFLAGS, 0x202);
    s.write(VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000030);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(e.guestRip).toBe(stubFor(0x30));
    expect(s.m.memory.read32(s.read(VMCS.GUEST_RSP))).toBe(GUEST_CODE);
  });

  test.each([1, 2, 100, 1000])(
    "value %i exits at the first boundary at or after (floor(entry TSC / 32) + N) * 32",
    (n) => {
      const s = timerSetup(n);
      const cpu = s.m.cpu;
      const unit = 2 ** rate(s);
      const i0 = cpu.instret;
      expectOk(s.launch(), "VMLAUNCH");
      const entered = cpu.cycles;
      const e = s.runToExit();
      expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
      const deadline = (Math.floor(entered / unit) + n) * unit;
      const exitCycle = cpu.cycles - s.m.costModel.vmx.vmExit;
      // Instruction boundaries: the entry, then after the first instruction (its fetch walks EPT for the
      // code page: 4 references) and after every one-cycle instruction from there on. The exit is at the
      // first boundary at or after the deadline.
      const walk = 4 * s.m.costModel.vmx.eptWalkReference;
      const retired = Math.max(1, deadline - entered - walk);
      expect(exitCycle).toBe(entered + walk + retired);
      if (deadline - entered - walk >= 1) expect(exitCycle).toBe(deadline);
      expect(cpu.instret - i0).toBe(retired);
      expect(cpu.regs[0]).toBe(Math.ceil(retired / 2)); // inc, jmp, inc, jmp, ...
      expect(e.guestRip).toBe(GUEST_CODE + (retired % 2 === 0 ? 0 : 1));
    },
  );

  test("the countdown starts at the next 32-cycle boundary: a later entry still exits on a multiple of 32", () => {
    const s = timerSetup(10);
    const cpu = s.m.cpu;
    cpu.cycles = 1000 - s.m.costModel.vmx.vmEntry + 7; // entry completes at 1007
    expectOk(s.launch(), "VMLAUNCH");
    expect(cpu.cycles).toBe(1007);
    s.runToExit();
    expect(cpu.cycles - s.m.costModel.vmx.vmExit).toBe((Math.floor(1007 / 32) + 10) * 32);
  });

  test("without the save control the field keeps its value; each entry reloads it", () => {
    const s = timerSetup(40);
    const cpu = s.m.cpu;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(s.read(VMCS.VMX_PREEMPTION_TIMER_VALUE)).toBe(40);
    expectOk(s.resume(), "VMRESUME");
    const entered = cpu.cycles;
    expect(s.runToExit().reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(cpu.cycles - s.m.costModel.vmx.vmExit).toBe((Math.floor(entered / 32) + 40) * 32);
  });

  test("save VMX-preemption timer value: another exit stores what is left; resuming continues from it", () => {
    // The guest spins 300 times, then VMCALLs.
    const code = "mov ecx, 300\nspin:\ndec ecx\njnz spin\nvmcall\njmp $\n";
    const s = timerSetup(1000, code, C.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER);
    const cpu = s.m.cpu;
    expectOk(s.launch(), "VMLAUNCH");
    const entered = cpu.cycles;
    let e = s.runToExit();
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    // The value is saved when the VMCALL exits: before the exit's own cost, and before the VMCALL's
    // instruction cost, which the run loop adds when the instruction returns (after the exit).
    const exitCycle = cpu.cycles - s.m.costModel.vmx.vmExit - s.m.costModel.instructions.system;
    const left = 1000 - (Math.floor(exitCycle / 32) - Math.floor(entered / 32));
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(1000);
    expect(s.read(VMCS.VMX_PREEMPTION_TIMER_VALUE)).toBe(left);
    // Resume past the VMCALL (into `jmp $`): the timer fires `left` ticks after re-entry.
    s.skip();
    expectOk(s.resume(), "VMRESUME");
    const reentered = cpu.cycles;
    e = s.runToExit();
    expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    const fired = cpu.cycles - s.m.costModel.vmx.vmExit;
    expect(fired).toBeGreaterThanOrEqual((Math.floor(reentered / 32) + left) * 32);
    // `jmp $` costs one cycle: the exit is on the deadline.
    expect(fired).toBe((Math.floor(reentered / 32) + left) * 32);
    // A timer exit saves 0.
    expect(s.read(VMCS.VMX_PREEMPTION_TIMER_VALUE)).toBe(0);
  });

  test("save control without the timer is an invalid control (VMfailValid 7)", () => {
    const s = setup({ exit: C.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER, code: SPIN });
    expect(s.launch()).toEqual({ ok: false, invalid: false, error: 7 });
  });

  test("the timer fires while the guest is in HLT: activity state 1, RIP after the HLT", () => {
    const s = timerSetup(50, "hlt\nvmcall\n");
    const cpu = s.m.cpu;
    expectOk(s.launch(), "VMLAUNCH");
    const entered = cpu.cycles;
    const e = s.runToExit();
    expect(e.reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(e.guestRip).toBe(GUEST_CODE + 1);
    expect(s.read(VMCS.GUEST_ACTIVITY_STATE)).toBe(1);
    // The halted guest skips idle time straight to the deadline.
    expect(cpu.cycles - s.m.costModel.vmx.vmExit).toBe((Math.floor(entered / 32) + 50) * 32);
    // Re-entered in the HLT state (activity state 1) it stays halted until the timer fires again.
    expectOk(s.resume(), "VMRESUME");
    const again = cpu.cycles;
    const i0 = cpu.instret;
    expect(s.runToExit().reason).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(cpu.instret - i0).toBe(0);
    expect(s.read(VMCS.GUEST_RIP)).toBe(GUEST_CODE + 1);
    expect(s.read(VMCS.GUEST_ACTIVITY_STATE)).toBe(1);
    expect(cpu.cycles - s.m.costModel.vmx.vmExit).toBe((Math.floor(again / 32) + 50) * 32);
    // Entered active, the guest goes on with the VMCALL.
    s.write(VMCS.GUEST_ACTIVITY_STATE, 0);
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  });

  test("HLT exiting takes precedence over halting: exit 12 at the HLT, activity state 0", () => {
    const s = setup({ pin: C.PIN_BASED_VMX_PREEMPTION_TIMER, proc: C.CPU_BASED_HLT_EXITING, code: "hlt\n" });
    s.write(VMCS.VMX_PREEMPTION_TIMER_VALUE, 50);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.HLT);
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(e.instructionLength).toBe(1);
    expect(s.read(VMCS.GUEST_ACTIVITY_STATE)).toBe(0);
  });

  test("the timer is not armed without the pin-based control", () => {
    const s = setup({ code: "mov ecx, 2000\nspin:\ndec ecx\njnz spin\nvmcall\n" });
    s.write(VMCS.VMX_PREEMPTION_TIMER_VALUE, 1);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  });
});
