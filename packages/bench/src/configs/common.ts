// Shared by the configuration modules (this module has no default export: the registry skips it).

import { exitReasonName } from "@vmxlab/cpu";
import type { PagingMode, VmStop } from "@vmxlab/vmm";
import type { GuestProgram, RunCounters, TimeBreakdown } from "../types.js";

export const DEFAULT_MAX_INSTRUCTIONS = 2e9;

export function emptyTime(): TimeBreakdown {
  return { guest: 0, hypervisor: 0, hostKernel: 0, userVmm: 0, otherProcesses: 0, idle: 0 };
}

/** Exit counts keyed by Intel's reason name ("CPUID", "IO_INSTRUCTION"). */
export function exitsByName(exits: ReadonlyMap<number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, count] of [...exits].sort((a, b) => a[0] - b[0])) out[exitReasonName(reason)] = count;
  return out;
}

/** What the VPID-off variants run in --quick: exit-heavy loops, where the flushes show. */
export const NOVPID_QUICK_WORKLOADS: readonly string[] = ["cpuid", "in", "out", "cr3-write", "ptemod", "block-io"];

/** The one VM of a run on either VM design. */
export function benchVm(program: GuestProgram, paging: PagingMode, vpid: boolean) {
  return {
    name: "bench",
    memoryMiB: program.memoryMiB,
    image: program.image,
    paging,
    vpid,
    ...(program.disk ? { disk: program.disk } : {}),
  };
}

/** What a run measures on the CPU beside the guest's own counts. */
type Measured = Pick<RunCounters, "cycles" | "tlbMisses" | "walkReferences" | "wallSeconds">;

/** Runs `run` and measures it on `cpu`: elapsed modeled cycles, TLB misses and walk references, host
 * wall time; `result` is what `run` returned. */
export function measure<T>(
  cpu: { readonly cycles: number; readonly tlb: { readonly stats: { misses: number; walkReferences: number } } },
  run: () => T,
): Measured & { result: T } {
  const tlb = { ...cpu.tlb.stats };
  const startCycles = cpu.cycles;
  const t0 = performance.now();
  const result = run();
  const wallSeconds = (performance.now() - t0) / 1000;
  return {
    result,
    cycles: cpu.cycles - startCycles,
    tlbMisses: cpu.tlb.stats.misses - tlb.misses,
    walkReferences: cpu.tlb.stats.walkReferences - tlb.walkReferences,
    wallSeconds,
  };
}

/** A VM's stop as a run reports it (a VM still running at the end is an error). */
export function vmStop(vmStop: VmStop | null): RunCounters["stop"] {
  const stop = vmStop ?? { kind: "error", diagnostic: "the VM did not stop" };
  return stop.kind === "debug-exit"
    ? { kind: stop.kind, value: stop.value }
    : { kind: stop.kind, ...("diagnostic" in stop ? { diagnostic: stop.diagnostic } : {}) };
}
