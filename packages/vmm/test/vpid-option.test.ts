// VmConfig.vpid = false: the VM runs without a VPID (secondary control "enable VPID" off, VPID field 0),
// so the processor flushes the TLB at every VM entry and exit; the guest computes the same thing.
import { assembleOrThrow, VMCS, vmxControls } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor } from "../src/index.js";

const LOOP = assembleOrThrow(`bits 32
org 0x100000
  mov ebp, 200
.l:
  xor eax, eax
  cpuid
  dec ebp
  jnz .l
  mov eax, 0
  out 0xf4, al
`).bytes;

function run(vpid: boolean | undefined) {
  const hv = new Hypervisor([{ name: "vm", memoryMiB: 4, image: LOOP, ...(vpid === undefined ? {} : { vpid }) }]);
  const tlb = hv.machine.cpu.tlb.stats;
  const before = { ...tlb };
  hv.run();
  const vm = hv.vms[0]!;
  return { hv, vm, flushes: tlb.flushes - before.flushes, misses: tlb.misses - before.misses };
}

describe("VmConfig.vpid", () => {
  it("is on by default: a VPID tags the guest's TLB entries across exits", () => {
    const { hv, vm, flushes } = run(undefined);
    expect(vm.vpid).toBe(1);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(hv.machine.vmx.read(VMCS.SECONDARY_VM_EXEC_CONTROL) & vmxControls.SECONDARY_EXEC_ENABLE_VPID).not.toBe(0);
    expect(flushes).toBeLessThan(10);
  });

  it("off: VPID 0, and every entry and exit flushes the TLB", () => {
    const on = run(true);
    const off = run(false);
    expect(off.vm.vpid).toBe(0);
    expect(off.vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(off.hv.machine.vmx.read(VMCS.SECONDARY_VM_EXEC_CONTROL) & vmxControls.SECONDARY_EXEC_ENABLE_VPID).toBe(0);
    expect(off.vm.stats.exits).toEqual(on.vm.stats.exits);
    expect(off.flushes).toBeGreaterThanOrEqual(2 * 200);
    expect(off.misses).toBeGreaterThanOrEqual(on.misses + 200); // the code page again after each exit
    expect(off.hv.machine.cpu.cycles).toBeGreaterThan(on.hv.machine.cpu.cycles);
  });
});
