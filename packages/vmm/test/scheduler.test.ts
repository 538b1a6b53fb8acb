// The scheduler: several VMs time-share the CPU. The guest kernel runs in two or three VMs at once and
// every copy prints what it prints on the bare machine; CPU-bound VMs get equal shares of the guest
// cycles (or shares in proportion to their weights) over a window where all are runnable, also when
// one of them takes a virtual timer interrupt every few thousand cycles; a VM halted until a far-off
// timer takes no slices; and VPIDs keep each VM's TLB entries across switches.

import { VMCS, vmxControls } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor, type PagingMode, type Vm } from "../src/index.js";
import { asm, guestKernel, MINI_RUNTIME, pitProgram, read32, rtStart, runBare, sym } from "./vm-helpers.js";

// =============================================================================================
// The guest kernel, in several VMs at once.

describe("the guest kernel in several VMs at once", () => {
  const kernel = guestKernel();
  const bare = runBare(kernel.bytes, { memoryMiB: 4 });

  function runKernels(modes: PagingMode[]) {
    const hv = new Hypervisor(
      modes.map((paging, i) => ({ name: `k${i}`, memoryMiB: 4, image: kernel.bytes, paging })),
      { sliceCycles: 100_000 },
    );
    hv.run({ maxInstructions: 20_000_000 });
    return hv;
  }

  function expectKernelRan(vm: Vm): void {
    expect(vm.stop, `${vm.name}: ${JSON.stringify(vm.stop)}`).toEqual({ kind: "debug-exit", value: 0 });
    expect(vm.consoleText()).toBe(bare.console);
    // It really ran its processes under timer preemption, here too.
    expect(read32(vm, sym(kernel, "stat_ticks"))).toBeGreaterThanOrEqual(5);
    expect(read32(vm, sym(kernel, "stat_switches"))).toBeGreaterThanOrEqual(5);
    expect(read32(vm, sym(kernel, "stat_syscalls"))).toBe(33);
    expect(read32(vm, sym(kernel, "stat_sysenter"))).toBe(2);
  }

  it("the bare machine reference ends with debug-exit 0", () => {
    expect(bare.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(bare.console).toContain("kernel: 2 processes done\n");
  });

  it("three EPT VMs: each prints exactly the bare machine's console text", () => {
    const hv = runKernels(["ept", "ept", "ept"]);
    for (const vm of hv.vms) expectKernelRan(vm);
    // They were interleaved, not run one after the other.
    for (const vm of hv.vms) expect(vm.stats.slices).toBeGreaterThan(5);
  });

  it("EPT and shadow-paged VMs side by side: the same text in each", () => {
    const hv = runKernels(["shadow", "ept", "shadow"]);
    for (const vm of hv.vms) expectKernelRan(vm);
    for (const vm of hv.vms) expect(vm.stats.slices).toBeGreaterThan(5);
  });
});

// =============================================================================================
// Fairness and weights, measured on CPU-bound guests at a cycle limit.

/** Spins forever, touching nothing: all its cycles are guest cycles. */
const SPINNER = asm(`
bits 32
org 0x100000
start:
    xor eax, eax
.spin:
    inc eax
    add ebx, eax
    jmp .spin
`);

/** Spins too, but takes a PIT interrupt every `count` PIT ticks (every ~count * 2514 cycles). */
function ticker(count: number) {
  return asm(`
bits 32
org 0x100000
start:
${rtStart(0x20, "tick", 0x01)}
${pitProgram(2, count)}
    sti
.spin:
    inc eax
    jmp .spin
tick:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd
align 4
ticks: dd 0
${MINI_RUNTIME}
`);
}

function share(vms: Vm[]): number[] {
  const total = vms.reduce((n, vm) => n + vm.stats.guestCycles, 0);
  return vms.map((vm) => vm.stats.guestCycles / total);
}

describe("fair shares of the CPU", () => {
  it("three CPU-bound VMs with equal weights: guest cycles within 10% of each other", () => {
    const hv = new Hypervisor(
      ["a", "b", "c"].map((name) => ({ name, memoryMiB: 2, image: SPINNER.bytes })),
      { sliceCycles: 50_000 },
    );
    hv.run({ maxCycles: 6_000_000 });
    const cycles = hv.vms.map((vm) => vm.stats.guestCycles);
    for (const vm of hv.vms) expect(vm.stop).toEqual({ kind: "limit" });
    expect(Math.max(...cycles) / Math.min(...cycles)).toBeLessThan(1.1);
    // Most of the window went to the guests; the rest is VM transitions and the scheduler.
    expect(cycles.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.9 * 6_000_000);
    for (const vm of hv.vms) expect(vm.stats.slices).toBeGreaterThanOrEqual(35);
  });

  it("weights 2:1: the shares are 2:1 within 10%", () => {
    const hv = new Hypervisor(
      [
        { name: "heavy", memoryMiB: 2, image: SPINNER.bytes, weight: 2 },
        { name: "light", memoryMiB: 2, image: SPINNER.bytes },
      ],
      { sliceCycles: 50_000 },
    );
    hv.run({ maxCycles: 6_000_000 });
    const [heavy, light] = hv.vms.map((vm) => vm.stats.guestCycles) as [number, number];
    expect(heavy / light).toBeGreaterThan(2 * 0.9);
    expect(heavy / light).toBeLessThan(2 * 1.1);
  });

  it("weights 3:2:1 with three VMs", () => {
    const hv = new Hypervisor(
      [3, 2, 1].map((weight) => ({ name: `w${weight}`, memoryMiB: 2, image: SPINNER.bytes, weight })),
      { sliceCycles: 40_000 },
    );
    hv.run({ maxCycles: 7_200_000 });
    const [a, b, c] = share(hv.vms) as [number, number, number];
    expect(a / c).toBeGreaterThan(3 * 0.9);
    expect(a / c).toBeLessThan(3 * 1.1);
    expect(b / c).toBeGreaterThan(2 * 0.9);
    expect(b / c).toBeLessThan(2 * 1.1);
  });

  it("a VM whose virtual timer fires within every slice still gets its full share", () => {
    // The ticker's PIT fires every ~50,000 cycles, five times per 250,000-cycle slice. Delivering a
    // timer interrupt must not cost it the rest of its slice.
    const t = ticker(20);
    const hv = new Hypervisor([
      { name: "ticker", memoryMiB: 2, image: t.bytes },
      { name: "spinner", memoryMiB: 2, image: SPINNER.bytes },
    ]);
    hv.run({ maxCycles: 10_000_000 });
    const [tickerVm, spinner] = hv.vms as [Vm, Vm];
    // It did take its interrupts (about one per 50,000 cycles of its own time).
    const ticks = read32(tickerVm, sym(t, "ticks"));
    expect(ticks).toBeGreaterThan(50);
    expect(tickerVm.stats.exits.get(52)).toBeGreaterThan(ticks / 2);
    const ratio = tickerVm.stats.guestCycles / spinner.stats.guestCycles;
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  });
});

// =============================================================================================
// A halted VM takes no slices.

/** Sleeps (HLT) until a one-shot PIT interrupt `count` ticks away, `times` times, then exits 0. */
function sleeper(count: number, times: number) {
  return asm(`
bits 32
org 0x100000
start:
${rtStart(0x20, "wake", 0x01)}
    mov esi, ${times}
.sleep:
${pitProgram(0, count)}
    sti
    hlt
    cli
    dec esi
    jnz .sleep
    xor eax, eax
    out 0xf4, eax
wake:
    inc dword [wakeups]
    push eax
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd
align 4
wakeups: dd 0
${MINI_RUNTIME}
`);
}

describe("halted VMs", () => {
  it("a VM halted until a far-off timer consumes no slices while the others run", () => {
    const s = sleeper(0xffff, 1); // 65535 PIT ticks = 165 million cycles away
    const hv = new Hypervisor(
      [
        { name: "sleeper", memoryMiB: 2, image: s.bytes },
        { name: "a", memoryMiB: 2, image: SPINNER.bytes },
        { name: "b", memoryMiB: 2, image: SPINNER.bytes },
      ],
      { sliceCycles: 50_000 },
    );
    hv.run({ maxCycles: 5_000_000 });
    const [sleeping, a, b] = hv.vms as [Vm, Vm, Vm];
    expect(sleeping.stats.slices).toBe(1);
    expect(sleeping.stats.exits.get(12)).toBe(1);
    expect(sleeping.stats.guestCycles).toBeLessThan(20_000);
    expect(a.stats.slices).toBeGreaterThan(40);
    expect(b.stats.slices).toBeGreaterThan(40);
    // The two runnable VMs share the CPU the sleeper does not use.
    expect(a.stats.guestCycles / b.stats.guestCycles).toBeGreaterThan(0.9);
    expect(a.stats.guestCycles / b.stats.guestCycles).toBeLessThan(1.1);
    expect(a.stats.guestCycles + b.stats.guestCycles).toBeGreaterThan(0.9 * 5_000_000);
  });

  it("a VM that sleeps repeatedly takes one slice per wake-up and finishes", () => {
    const s = sleeper(400, 5); // ~1 million cycles per sleep
    const hv = new Hypervisor(
      [
        { name: "sleeper", memoryMiB: 2, image: s.bytes },
        { name: "a", memoryMiB: 2, image: SPINNER.bytes },
      ],
      { sliceCycles: 50_000 },
    );
    hv.run({ maxCycles: 8_000_000 });
    const [sleeping, a] = hv.vms as [Vm, Vm];
    expect(sleeping.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(read32(sleeping, sym(s, "wakeups"))).toBe(5);
    expect(sleeping.stats.slices).toBeLessThanOrEqual(6);
    expect(a.stats.slices).toBeGreaterThan(100);
  });

  it("when every VM is halted the CPU idles to the earliest timer", () => {
    const s1 = sleeper(2000, 2);
    const s2 = sleeper(3000, 2);
    const hv = new Hypervisor([
      { name: "s1", memoryMiB: 2, image: s1.bytes },
      { name: "s2", memoryMiB: 2, image: s2.bytes },
    ]);
    hv.run({ maxCycles: 100_000_000 });
    for (const vm of hv.vms) expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    // Two sleeps of 3000 PIT ticks (~7.5 million cycles each) went by, with almost no guest work.
    expect(hv.machine.cpu.cycles).toBeGreaterThan(2 * 3000 * 2514);
    for (const vm of hv.vms) expect(vm.stats.guestCycles).toBeLessThan(50_000);
  });
});

// =============================================================================================
// VPIDs: TLB entries survive VM switches.

const PAGES = 48;
const TOUCHER = asm(`
bits 32
org 0x100000
start:
.loop:
    mov edi, 0x200000
    mov ecx, ${PAGES}
.touch:
    add eax, [edi]
    add edi, 0x1000
    dec ecx
    jnz .touch
    jmp .loop
`);

function runTouchers(vpid: boolean) {
  const hv = new Hypervisor(
    ["a", "b"].map((name) => ({ name, memoryMiB: 4, image: TOUCHER.bytes })),
    { sliceCycles: 20_000 },
  );
  if (!vpid) {
    const vmx = hv.machine.vmx;
    for (const vm of hv.vms) {
      vmx.vmptrld(vm.vmcs);
      vmx.write(
        VMCS.SECONDARY_VM_EXEC_CONTROL,
        vmx.read(VMCS.SECONDARY_VM_EXEC_CONTROL) & ~vmxControls.SECONDARY_EXEC_ENABLE_VPID,
      );
    }
  }
  const missesBefore = hv.machine.cpu.tlb.stats.misses;
  hv.run({ maxCycles: 4_000_000 });
  return { hv, misses: hv.machine.cpu.tlb.stats.misses - missesBefore };
}

describe("VPIDs", () => {
  it("each VM's TLB entries are still there after the other VM ran", () => {
    const { hv } = runTouchers(true);
    const vmx = hv.machine.vmx;
    const tlb = hv.machine.cpu.tlb;
    for (const vm of hv.vms) expect(vm.stats.slices).toBeGreaterThan(20);
    for (const vm of hv.vms) {
      const asid = vmx.asidOf(vm.vpid);
      expect(asid).toBeDefined();
      for (let k = 0; k < PAGES; k++) {
        const gpa = 0x200000 + k * 0x1000;
        const info = tlb.peek(gpa >>> 12, asid!);
        expect(info, `${vm.name} page ${k}`).toBeDefined();
        // The entry maps the page to this VM's own host page.
        expect((info! & ~0xfff) >>> 0).toBe(vm.memory.translate(gpa));
      }
    }
    // Different VPIDs, different tags.
    expect(vmx.asidOf(hv.vms[0]!.vpid)).not.toBe(vmx.asidOf(hv.vms[1]!.vpid));
  });

  it("TLB misses stay at the warm-up count; without VPIDs every switch starts cold", () => {
    const tagged = runTouchers(true);
    const untagged = runTouchers(false);
    const slices = tagged.hv.vms.reduce((n, vm) => n + vm.stats.slices, 0);
    expect(slices).toBeGreaterThan(100);
    // With VPIDs: each VM misses once per page it uses (data pages + its code page), whatever the slices.
    expect(tagged.misses).toBeLessThanOrEqual(2 * (PAGES + 4));
    // Without: the TLB is flushed at every VM entry and exit, so every slice misses on all of them.
    expect(untagged.misses).toBeGreaterThan(slices * PAGES * 0.5);
  });
});
