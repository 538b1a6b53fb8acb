// Vmx.fastpath (KVM's exit fastpath): Cpu.run() offers each VM exit of an API-entered guest to it after
// the exiting instruction completed; when it handles the exit and enters the guest again, run() goes on
// without returning. Otherwise run() returns the exit, as a value of its own every time.

import { describe, expect, it } from "vitest";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import { expectOk, skipInstruction, sym, tsVm } from "./helpers.js";

// Five CPUIDs (each one exits), then VMCALL (always exits).
const GUEST = `start:
  mov ecx, 5
again:
  xor eax, eax
  cpuid
  dec ecx
  jnz again
done:
  vmcall`;

describe("the exit fastpath", () => {
  it("handles exits inside one run(): the guest goes on until an exit the fastpath declines", () => {
    const { machine, symbols } = tsVm(GUEST);
    const vmx = machine.vmx;
    const seen: number[] = [];
    let cyclesAtFastpath = 0;
    vmx.fastpath = () => {
      const reason = vmx.read(VMCS.VM_EXIT_REASON);
      seen.push(reason);
      if (reason !== EXIT_REASON.CPUID) return false;
      // Called in VMX root operation once the exiting instruction has completed (its cycles are in).
      expect(vmx.nonRoot).toBe(false);
      cyclesAtFastpath = machine.cpu.cycles;
      machine.cpu.regs[3] = 0x1234; // EBX: what a virtual CPUID would return
      skipInstruction(machine);
      expectOk(vmx.resume());
      return true;
    };
    expectOk(vmx.launch());
    const stop = machine.run({ maxInstructions: 1000 });
    expect(stop).toEqual({ kind: "vmexit", reason: EXIT_REASON.VMCALL, qualification: 0 });
    expect(seen).toEqual([10, 10, 10, 10, 10, EXIT_REASON.VMCALL]);
    expect(vmx.read(VMCS.GUEST_RIP)).toBe(sym(symbols, "done"));
    expect(machine.cpu.regs[1]).toBe(0); // ECX counted down: every CPUID was skipped exactly once
    expect(machine.cpu.regs[3]).toBe(0x1234);
    expect(cyclesAtFastpath).toBeGreaterThan(0);
    expect(vmx.exitCounts.get(EXIT_REASON.CPUID)).toBe(5);
  });

  it("run() stops at its instruction limit across exits the fastpath handled", () => {
    const { machine } = tsVm(GUEST);
    const vmx = machine.vmx;
    vmx.fastpath = () => {
      skipInstruction(machine);
      expectOk(vmx.resume());
      return true;
    };
    expectOk(vmx.launch());
    // mov, then (xor, cpuid, dec, jnz) per round: 7 instructions end inside the second round.
    expect(machine.run({ maxInstructions: 7 })).toEqual({ kind: "limit" });
    expect(vmx.nonRoot).toBe(true);
    expect(vmx.exitCounts.get(EXIT_REASON.CPUID)).toBe(2);
  });

  it("without a fastpath each exit is returned, as a distinct value", () => {
    const { machine } = tsVm(GUEST);
    const vmx = machine.vmx;
    expectOk(vmx.launch());
    const first = machine.run({ maxInstructions: 1000 });
    skipInstruction(machine);
    expectOk(vmx.resume());
    const second = machine.run({ maxInstructions: 1000 });
    expect(first).toEqual({ kind: "vmexit", reason: EXIT_REASON.CPUID, qualification: 0 });
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });
});

// VM entry keeps the controls it cached at the previous entry of the same VMCS while no field the entry
// checks examine was written (every control is one): a VMWRITE to a control must still take effect at the
// next entry, and another VMCS brings its own controls.
describe("controls cached across entries", () => {
  const RDTSC_EXITING = 1 << 12;

  it("a control written between two entries of the same VMCS takes effect at the next one", () => {
    const { machine, symbols } = tsVm("start:\n  rdtsc\n  vmcall");
    const vmx = machine.vmx;
    const start = sym(symbols, "start");
    expectOk(vmx.launch());
    expect(machine.run({ maxInstructions: 100 })).toMatchObject({ reason: EXIT_REASON.VMCALL });
    const proc = vmx.read(VMCS.CPU_BASED_VM_EXEC_CONTROL);
    vmx.write(VMCS.CPU_BASED_VM_EXEC_CONTROL, (proc | RDTSC_EXITING) >>> 0);
    vmx.write(VMCS.GUEST_RIP, start);
    expectOk(vmx.resume());
    expect(machine.run({ maxInstructions: 100 })).toMatchObject({ reason: EXIT_REASON.RDTSC });
    vmx.write(VMCS.CPU_BASED_VM_EXEC_CONTROL, proc);
    vmx.write(VMCS.GUEST_RIP, start);
    expectOk(vmx.resume());
    expect(machine.run({ maxInstructions: 100 })).toMatchObject({ reason: EXIT_REASON.VMCALL });
    // Only unchecked fields written (GUEST_RIP): the cached controls serve, and they are the right ones.
    vmx.write(VMCS.GUEST_RIP, start);
    expectOk(vmx.resume());
    expect(machine.run({ maxInstructions: 100 })).toMatchObject({ reason: EXIT_REASON.VMCALL });
  });
});
