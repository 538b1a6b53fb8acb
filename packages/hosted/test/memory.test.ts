// Host memory: the machine has the kernel's reserve plus, for each VM, its guest RAM and exactly the
// pages its VMM process and the module's structures take (issue #6/#7: under 2 MiB beyond guest RAM).
import { assembleOrThrow } from "@vmxlab/cpu";
import { PAGE } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import { HostedSystem, HostKernel, KvmModule } from "../src/index.js";
import { assembleUser, vmmSource } from "../src/programs.js";

const GUEST_MIB = 8;
/** Touches every 2 MiB of its RAM (so every EPT table exists), then spins: its VMM stays alive. */
const TOUCH_ALL = assembleOrThrow(`
bits 32
org 0x100000
  xor eax, eax
.t:
  mov byte [eax], 1
  add eax, 0x200000
  cmp eax, ${GUEST_MIB} * 0x100000
  jb .t
.s:
  jmp .s
`).bytes;

function system(vms: number) {
  // Short slices: every VMM is set up and its guest has touched its RAM within a few million cycles.
  const sys = new HostedSystem(
    Array.from({ length: vms }, (_, i) => ({ name: `vm${i}`, memoryMiB: GUEST_MIB, image: TOUCH_ALL })),
    { tickHz: 10_000, scheduler: { latencyCycles: 400_000, minGranularityCycles: 100_000 } },
  );
  sys.run({ maxCycles: 3_000_000 });
  for (const vm of sys.vms) expect(vm.vcpu!.vm.stats.guestInstructions).toBeGreaterThan(20);
  const a = sys.kernel.allocator;
  return { sys, usedPages: a.totalPages - a.freePages, bytes: sys.machine.memory.size };
}

describe("host memory per VM", () => {
  it("each more VM takes its guest RAM and the pages of its VMM and module structures, all of them in use", () => {
    const one = system(1);
    const four = system(4);
    const perVmPages = (four.usedPages - one.usedPages) / 3;
    const perVmBytes = (four.bytes - one.bytes) / 3;
    // Guest RAM, the VMM's page directory, image, stacks and page tables, VMCS, kvm_run, EPT tables.
    const ram = GUEST_MIB << 20;
    const overhead = perVmPages - ram / PAGE;
    const vmm = assembleUser(vmmSource(ram), "vmm.asm");
    expect(overhead).toBe(HostKernel.processPages(vmm) + HostKernel.pageTablesFor(ram) + KvmModule.vmPages(ram, "ept"));
    // 1 + 3 (code, data, bss) + 4 + 1 + 1 (process) + 2 (guest-RAM tables) + 3 (VMCS, kvm_run and its
    // table) + 7 (EPT).
    expect(overhead).toBe(22);
    // The machine grows by the guest RAM plus that overhead, rounded to whole MiB over all VMs.
    expect(perVmBytes).toBeLessThanOrEqual((GUEST_MIB << 20) + (1 << 20) / 3);
    expect(four.bytes - 16 * (1 << 20)).toBeGreaterThanOrEqual(4 * perVmPages * PAGE);
  });
});
