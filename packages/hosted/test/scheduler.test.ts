// The host scheduler shares the CPU between a VM (its VMM process, guest time included) and host
// processes as it promises: each always-runnable task gets weight / (sum of weights) of the CPU.
import { assembleOrThrow } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { FairScheduler, type HostedOptions, HostedSystem, type SchedEntity } from "../src/index.js";

// A CPU-bound guest: never exits on its own (only the host's timer and its scheduler take the CPU away).
const SPIN = assembleOrThrow(`
bits 32
org 0x100000
.l:
  times 40 add eax, 1
  jmp .l
`).bytes;

const FAST_SCHED: HostedOptions = {
  tickHz: 8000,
  scheduler: { latencyCycles: 1_500_000, minGranularityCycles: 300_000, wakeupGranularityCycles: 300_000 },
};
const CYCLES = 40_000_000;

function share(system: HostedSystem, pid: number): number {
  const all = system.kernel.processes.reduce((s, p) => s + p.runtime, 0);
  return system.kernel.processes.find((p) => p.pid === pid)!.runtime / all;
}

describe("a CPU-bound host process and a VM share the CPU", () => {
  it("equal weights: each gets half of the CPU (within 10%), and both make progress", () => {
    const alone = new HostedSystem([{ name: "vm", memoryMiB: 4, image: SPIN }], FAST_SCHED);
    alone.run({ maxCycles: CYCLES });
    const system = new HostedSystem([{ name: "vm", memoryMiB: 4, image: SPIN }], { ...FAST_SCHED, hostJobs: ["cpu"] });
    system.run({ maxCycles: CYCLES });
    const vm = system.vms[0]!;
    const job = system.hostProgress()[0]!;
    const vmShare = share(system, vm.process.pid);
    const jobShare = share(system, job.pid);
    expect(Math.abs(vmShare - 0.5) / 0.5).toBeLessThanOrEqual(0.1);
    expect(Math.abs(jobShare - 0.5) / 0.5).toBeLessThanOrEqual(0.1);
    expect(vm.stats.guestInstructions).toBeGreaterThan(0);
    expect(job.progress).toBeGreaterThan(0);
    // The contention is real: the guest retires about half the instructions it retires alone.
    const ratio = vm.stats.guestInstructions / alone.vms[0]!.stats.guestInstructions;
    expect(Math.abs(ratio - 0.5) / 0.5).toBeLessThanOrEqual(0.1);
    // Preemption happened many times, through the timer interrupt (VM exits on the host's IRQ 0).
    expect(system.contextSwitches).toBeGreaterThan(10);
    expect(vm.stats.exits.get(1)).toBeGreaterThan(10);
    expect(vm.stop).toEqual({ kind: "limit" });
  }, 120_000);

  it("weights: a VM of weight 2 gets two thirds of the CPU against one host job (within 10%)", () => {
    const system = new HostedSystem([{ name: "vm", memoryMiB: 4, image: SPIN, weight: 2 }], {
      ...FAST_SCHED,
      hostJobs: ["cpu"],
    });
    system.run({ maxCycles: CYCLES });
    const vmShare = share(system, system.vms[0]!.process.pid);
    expect(Math.abs(vmShare - 2 / 3) / (2 / 3)).toBeLessThanOrEqual(0.1);
    expect(system.hostProgress()[0]!.progress).toBeGreaterThan(0);
  }, 120_000);

  it("an I/O-bound job gets the CPU promptly when its disk request completes", () => {
    const system = new HostedSystem([{ name: "vm", memoryMiB: 4, image: SPIN }], {
      ...FAST_SCHED,
      hostJobs: ["cpu", "io"],
      ioLatencyCycles: 200_000,
    });
    system.run({ maxCycles: CYCLES });
    const [cpu, io] = system.hostProgress();
    expect(cpu!.progress).toBeGreaterThan(0);
    // Requests complete nearly back to back: the job wakes and preempts whoever runs.
    expect(io!.progress).toBeGreaterThan((0.8 * CYCLES) / 200_000 / 1.1);
    expect(io!.runtime).toBeLessThan(CYCLES / 10);
  }, 120_000);
});

describe("FairScheduler", () => {
  const task = (pid: number, weight = 1): SchedEntity => ({ pid, weight, vruntime: 0, sliceRuntime: 0 });
  const params = { latencyCycles: 6000, minGranularityCycles: 750, wakeupGranularityCycles: 1000 };

  it("runs the task with the least virtual runtime, scaled by weight", () => {
    const s = new FairScheduler(params);
    const a = task(1);
    const b = task(2, 2);
    s.enqueue(a, false);
    s.enqueue(b, false);
    const run: Record<number, number> = { 1: 0, 2: 0 };
    for (let k = 0; k < 3000; k++) {
      const t = s.pick()!;
      s.account(t, 100);
      run[t.pid]! += 100;
    }
    expect(run[2]! / (run[1]! + run[2]!)).toBeCloseTo(2 / 3, 2);
  });

  it("slices split the period by weight; a woken sleeper gets at most half a period of credit", () => {
    const s = new FairScheduler(params);
    const a = task(1);
    const b = task(2, 2);
    s.enqueue(a, false);
    s.enqueue(b, false);
    expect(s.slice(a)).toBe(2000);
    expect(s.slice(b)).toBe(4000);
    s.account(a, 50_000);
    s.account(b, 100_000);
    const sleeper = task(3);
    s.enqueue(sleeper, true);
    expect(sleeper.vruntime).toBe(s.minVruntime - 3000);
    expect(s.wakeupPreempts(a, sleeper)).toBe(true);
  });
});
