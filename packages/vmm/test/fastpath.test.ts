// The exit fastpath: exits are handled inside cpu.run() (KVM's EXIT_FASTPATH_REENTER_GUEST) unless
// someone records them. It is an optimization only: with it and without it (an onExit observer turns
// it off) every VM ends in the same state with the same statistics and modeled cycles.

import { describe, expect, it } from "vitest";
import { Hypervisor, type HypervisorOptions, type PagingMode } from "../src/index.js";
import { guestKernel } from "./vm-helpers.js";

describe("the exit fastpath", () => {
  const kernel = guestKernel();

  function runKernels(modes: PagingMode[], options: HypervisorOptions, maxInstructions = 20_000_000, lazy = false) {
    const hv = new Hypervisor(
      modes.map((paging, i) => ({ name: `k${i}`, memoryMiB: 4, image: kernel.bytes, paging, lazyMemory: lazy })),
      { sliceCycles: 100_000, ...options },
    );
    const cpu = hv.machine.cpu;
    let runs = 0;
    const run = cpu.run.bind(cpu);
    cpu.run = (o) => {
      runs++;
      return run(o);
    };
    hv.run({ maxInstructions });
    const vms = hv.vms.map((vm) => ({
      stop: vm.stop,
      console: vm.consoleText(),
      regs: vm.finalRegs,
      exits: [...vm.stats.exits],
      guestInstructions: vm.stats.guestInstructions,
      guestCycles: vm.stats.guestCycles,
      hypervisorCycles: vm.stats.hypervisorCycles,
      slices: vm.stats.slices,
    }));
    return { vms, cycles: cpu.cycles, instret: cpu.instret, exits: hv.machine.vmx.exitCount, runs };
  }

  it("gives the same results as handling every exit after cpu.run() returns, under EPT and shadow paging", () => {
    const modes: PagingMode[] = ["ept", "shadow"];
    const fast = runKernels(modes, {});
    const recorded: number[] = [];
    const slow = runKernels(modes, { onExit: (r) => recorded.push(r.reason) });
    expect(fast.vms[0]!.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(fast.vms[1]!.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(fast.vms).toEqual(slow.vms);
    expect(fast.cycles).toBe(slow.cycles);
    expect(fast.instret).toBe(slow.instret);
    expect(fast.exits).toBe(slow.exits);
    expect(recorded).toHaveLength(slow.exits);
    // Without an observer, most exits never left cpu.run(); with one, every exit did.
    expect(slow.runs).toBeGreaterThanOrEqual(slow.exits);
    expect(fast.runs).toBeLessThan(fast.exits / 4);
  });

  it("gives the same results with guest memory populated on EPT violations", () => {
    const fast = runKernels(["ept"], {}, 20_000_000, true);
    const slow = runKernels(["ept"], { onExit: () => {} }, 20_000_000, true);
    expect(fast.vms[0]!.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(fast.vms[0]!.exits.find(([reason]) => reason === 48)?.[1]).toBeGreaterThan(0);
    expect(fast.vms).toEqual(slow.vms);
    expect(fast.cycles).toBe(slow.cycles);
  });

  it("stops at the same instruction limit with the same state", () => {
    const fast = runKernels(["ept"], {}, 150_000);
    const slow = runKernels(["ept"], { onExit: () => {} }, 150_000);
    expect(fast.vms[0]!.stop).toEqual({ kind: "limit" });
    expect(fast.vms).toEqual(slow.vms);
    expect(fast.cycles).toBe(slow.cycles);
  });
});
