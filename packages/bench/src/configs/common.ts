// Shared by the configuration modules (this module has no default export: the registry skips it).

import { exitReasonName } from "@vmxlab/cpu";
import type { TimeBreakdown } from "../types.js";

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
