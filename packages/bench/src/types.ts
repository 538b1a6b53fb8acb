// The two things the benchmark matrix is made of. A Workload is a guest program (built for N iterations,
// plus an empty-loop baseline built by the same harness); a Configuration runs one guest program to
// completion on one design (bare machine, type-1, hosted) and returns raw counters. Everything here is
// plain data so results serialize to JSON unchanged.

import type { CostModel } from "@vmxlab/cpu";

/** A guest program ready to run: a flat binary (loaded at `load`, default 0x100000) or an ELF32 image. */
export interface GuestProgram {
  image: Uint8Array;
  /** Guest RAM in MiB. */
  memoryMiB: number;
  /** Disk image for the block device (port 0x6000), when the program uses one. */
  disk?: Uint8Array;
  /** The value the program writes to the debug-exit port (0xF4) when it succeeded (default 0). */
  exitValue?: number;
  /** Instruction budget (a safety net against a runaway guest; default 2e9). */
  maxInstructions?: number;
}

export type WorkloadKind = "nano" | "macro";

export interface Workload {
  /** Short id, used by --only and in the JSON ("cpuid", "mem-sweep"). */
  name: string;
  kind: WorkloadKind;
  /** One line for tables and the report. */
  title: string;
  /** What one iteration is ("one CPUID", "one whole run"). */
  unit: string;
  /** Iterations for the full and the quick run. */
  iterations: { full: number; quick: number };
  /** Builds the measured program for n iterations. */
  program(n: number): GuestProgram;
  /**
   * The empty-loop baseline with the same harness and n iterations: the per-iteration figures are
   * (program - baseline) / n. Workloads measured as a whole (a guest kernel, a C program) have none.
   */
  baseline?(n: number): GuestProgram;
  /** A reason this workload cannot run on a configuration (shown as "n/a"), or null. */
  notApplicable?(config: Configuration): string | null;
  /** Left out of --quick (too long for CI); default false. */
  fullOnly?: boolean;
  /** Sort key in tables (nanobenchmarks first, in the order of the Adams & Agesen table). */
  order: number;
}

export type Family = "bare" | "type1" | "hosted";
export type Paging = "none" | "ept" | "shadow";

/** Modeled time, split by who spent it (cycles). */
export interface TimeBreakdown {
  /** Guest instructions (VMX non-root operation; everything on the bare machine). */
  guest: number;
  /** The type-1 hypervisor, or the hosted kernel module (KVM): VM transitions, in-kernel handlers, its ioctls. */
  hypervisor: number;
  /**
   * The hosted host kernel outside the module: the entry and exit paths of system calls and interrupts,
   * scheduler ticks, context switches, other system calls (also those of the background processes).
   */
  hostKernel: number;
  /** The hosted user-space VMM at ring 3: its device models and its loop around KVM_RUN. */
  userVmm: number;
  /** Other host processes at ring 3 (background load). */
  otherProcesses: number;
  /** Nothing to run: every vCPU halted, waiting for a timer. */
  idle: number;
}

export const TIME_CATEGORIES: readonly (keyof TimeBreakdown)[] = [
  "guest",
  "hypervisor",
  "hostKernel",
  "userVmm",
  "otherProcesses",
  "idle",
];

/** Raw counters of one program run on one configuration. All modeled figures are integers. */
export interface RunCounters {
  /** How the guest stopped: "debug-exit" with its value, or anything else (an error). */
  stop: { kind: string; value?: number; diagnostic?: string };
  guestInstructions: number;
  /** Modeled cycles from the start of the run to the guest's stop (elapsed, everyone's time included). */
  cycles: number;
  /** VM exits by reason name (empty on the bare machine). */
  exits: Record<string, number>;
  /** Hosted only: exits the kernel module sent to the user-space VMM. */
  userExits: number;
  tlbMisses: number;
  walkReferences: number;
  time: TimeBreakdown;
  /** Host pages of the hypervisor's tables for this VM (EPT or shadow tables, VMCS), if any. */
  tablePages: number;
  /** Host wall time of the run (seconds, performance.now). */
  wallSeconds: number;
}

export interface RunOptions {
  costModel: CostModel;
}

export interface Configuration {
  /** Short id ("type1-ept", "hosted-shadow-load"). */
  name: string;
  family: Family;
  paging: Paging;
  /** VPID tags the guest's TLB entries (off: every VM entry and exit flushes the TLB). */
  vpid: boolean;
  /** Background host processes competing with the VM (hosted only). */
  hostLoad: number;
  /** One line for the report. */
  title: string;
  /** Runs one program to completion (fresh machine every time). */
  run(program: GuestProgram, options: RunOptions): RunCounters;
  /** Left out of --quick; default false. */
  fullOnly?: boolean;
  /**
   * What this configuration runs in --quick (CI): only these workloads (default: all), and under every
   * cost-model profile or only the first (default: the first). Naming it in --only lifts both limits.
   */
  quick?: { workloads?: readonly string[]; allProfiles?: boolean };
  /** Sort key in tables. */
  order: number;
}
