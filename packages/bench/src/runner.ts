// Runs the matrix: every workload on every configuration under every cost-model profile. Each cell runs
// the workload's program and its empty-loop baseline on fresh machines; modeled figures per iteration
// are (program - baseline) / iterations, and the overhead is the ratio to the bare machine's figure for
// the same workload and profile. Modeled results are deterministic; host times are not.

import { COST_MODELS, type CostModel } from "@vmxlab/cpu";
import { sampleRuns } from "./perf/sample.js";
import { loadRegistry } from "./registry.js";
import {
  type Configuration,
  type GuestProgram,
  type RunCounters,
  TIME_CATEGORIES,
  type TimeBreakdown,
  type Workload,
} from "./types.js";

export interface PerIteration {
  cycles: number;
  guestInstructions: number;
  exits: Record<string, number>;
  totalExits: number;
  userExits: number;
  tlbMisses: number;
  walkReferences: number;
  time: TimeBreakdown;
  /** Host seconds per iteration (program minus baseline; noisy, may even come out negative). */
  hostSeconds: number;
}

export interface HostTiming {
  /**
   * Mean host seconds of one run of the program, and of its baseline: benchmark.js samples of whole runs
   * (machine creation included: it cancels in program minus baseline), or one timed run of a long program.
   */
  seconds: number;
  baselineSeconds: number | null;
  /** Mean host seconds inside the run itself (machine creation excluded): what MIPS and exits/s use. */
  runSeconds: number;
  /** benchmark.js samples (1 = a single timed run). */
  samples: number;
  /** Relative margin of error of the mean, percent (0 for a single run). */
  rme: number;
}

export interface CellResult {
  workload: string;
  configuration: string;
  profile: string;
  status: "ok" | "n/a" | "error";
  /** Why the cell is n/a, or what went wrong. */
  reason?: string;
  iterations: number;
  program?: RunCounters;
  baseline?: RunCounters | null;
  perIteration?: PerIteration;
  /** Modeled cycles per iteration relative to the bare machine (same workload and profile), or null. */
  overhead?: number | null;
  host?: HostTiming;
  /** Guest instructions per host second of the program run (millions). */
  mips?: number;
  /** VM exits per host second of the program run. */
  exitsPerSecond?: number;
}

export interface WorkloadInfo {
  name: string;
  kind: string;
  title: string;
  unit: string;
  iterations: number;
  hasBaseline: boolean;
}

export interface ConfigurationInfo {
  name: string;
  family: string;
  paging: string;
  vpid: boolean;
  hostLoad: number;
  title: string;
}

export interface MatrixResults {
  quick: boolean;
  profiles: string[];
  workloads: WorkloadInfo[];
  configurations: ConfigurationInfo[];
  cells: CellResult[];
}

export interface ProgressEvent {
  done: number;
  total: number;
  label: string;
}

export interface MatrixOptions {
  quick?: boolean;
  /** Names of workloads, configurations or profiles to keep (each axis is filtered only if named). */
  only?: readonly string[];
  /** Cost-model profiles (default: every profile in COST_MODELS). */
  profiles?: readonly string[];
  /** Time every cell with benchmark.js (several samples) instead of one timed run; default !quick. */
  sampleHostTime?: boolean;
  onProgress?: (event: ProgressEvent) => void;
}

/** The configurations that always run (bare is the reference of every overhead ratio). */
const REFERENCE = "bare";

export interface MatrixSelection {
  workloads: Workload[];
  configurations: Configuration[];
  profiles: string[];
  /** Whether the cell runs (--quick leaves some configurations' cells out). */
  includes(workload: Workload, config: Configuration, profile: string): boolean;
}

/** Selects the workloads, configurations, profiles and cells of a run. */
export function selectMatrix(
  workloads: readonly Workload[],
  configurations: readonly Configuration[],
  options: MatrixOptions,
): MatrixSelection {
  const only = new Set(options.only ?? []);
  const quick = options.quick ?? false;
  const profiles = [...(options.profiles ?? Object.keys(COST_MODELS))];
  for (const name of only) {
    const known =
      workloads.some((w) => w.name === name) || configurations.some((c) => c.name === name) || profiles.includes(name);
    if (!known) {
      throw new Error(
        `--only: '${name}' is no workload, configuration or profile (workloads: ${workloads.map((w) => w.name).join(", ")}; configurations: ${configurations.map((c) => c.name).join(", ")}; profiles: ${profiles.join(", ")})`,
      );
    }
  }
  const pick = <T extends { name: string }>(items: readonly T[]): T[] => {
    const named = items.filter((x) => only.has(x.name));
    return named.length > 0 ? named : [...items];
  };
  const w = pick(workloads).filter((x) => !(quick && x.fullOnly && !only.has(x.name)));
  let c = pick(configurations).filter((x) => !(quick && x.fullOnly && !only.has(x.name)));
  const bare = configurations.find((x) => x.name === REFERENCE);
  if (bare && !c.includes(bare)) c = [bare, ...c];
  const namedProfiles = profiles.filter((p) => only.has(p));
  const chosenProfiles = namedProfiles.length > 0 ? namedProfiles : profiles;
  const includes = (workload: Workload, config: Configuration, profile: string): boolean => {
    if (!quick || only.has(config.name) || config.name === REFERENCE) return true;
    const q = config.quick ?? {};
    if (q.workloads && !q.workloads.includes(workload.name) && !only.has(workload.name)) return false;
    return profile === chosenProfiles[0] || namedProfiles.length > 0 || q.allProfiles === true;
  };
  return { workloads: w, configurations: c, profiles: chosenProfiles, includes };
}

function checkStop(run: RunCounters, program: GuestProgram, what: string): string | null {
  const expected = program.exitValue ?? 0;
  if (run.stop.kind === "debug-exit" && run.stop.value === expected) return null;
  const got =
    run.stop.kind === "debug-exit"
      ? `debug-exit ${run.stop.value} (0x${(run.stop.value ?? 0).toString(16)})`
      : `${run.stop.kind}${run.stop.diagnostic ? `: ${run.stop.diagnostic}` : ""}`;
  return `${what} stopped with ${got}, expected debug-exit ${expected}`;
}

function perIteration(p: RunCounters, b: RunCounters | null, n: number, host: HostTiming): PerIteration {
  const zero: RunCounters | null = b;
  const d = (x: number, y: number | undefined) => (x - (y ?? 0)) / n;
  const exits: Record<string, number> = {};
  const names = new Set([...Object.keys(p.exits), ...Object.keys(zero?.exits ?? {})]);
  for (const name of names) {
    const v = d(p.exits[name] ?? 0, zero?.exits[name]);
    if (v !== 0) exits[name] = v;
  }
  const total = (r: RunCounters) => Object.values(r.exits).reduce((s, v) => s + v, 0);
  const time = {} as TimeBreakdown;
  for (const k of TIME_CATEGORIES) time[k] = d(p.time[k], zero?.time[k]);
  return {
    cycles: d(p.cycles, zero?.cycles),
    guestInstructions: d(p.guestInstructions, zero?.guestInstructions),
    exits,
    totalExits: d(total(p), zero ? total(zero) : 0),
    userExits: d(p.userExits, zero?.userExits),
    tlbMisses: d(p.tlbMisses, zero?.tlbMisses),
    walkReferences: d(p.walkReferences, zero?.walkReferences),
    time,
    hostSeconds: d(host.seconds, host.baselineSeconds ?? 0),
  };
}

/** Runs shorter than this (host seconds) are timed with benchmark.js samples; longer ones once. */
const SAMPLE_BELOW_SECONDS = 0.5;

/** A workload's two programs for one iteration count (built once, run on every configuration). */
export interface BuiltPrograms {
  iterations: number;
  program: GuestProgram;
  baseline: GuestProgram | null;
}

export function buildPrograms(workload: Workload, quick: boolean): BuiltPrograms {
  const n = quick ? workload.iterations.quick : workload.iterations.full;
  return { iterations: n, program: workload.program(n), baseline: workload.baseline?.(n) ?? null };
}

/** Runs one workload on one configuration under one profile. */
export function runCell(
  workload: Workload,
  config: Configuration,
  cost: CostModel,
  options: { quick?: boolean; sampleHostTime?: boolean; programs?: BuiltPrograms } = {},
): CellResult {
  const n = options.programs?.iterations ?? (options.quick ? workload.iterations.quick : workload.iterations.full);
  const cell: CellResult = {
    workload: workload.name,
    configuration: config.name,
    profile: cost.name,
    status: "ok",
    iterations: n,
  };
  const why = workload.notApplicable?.(config) ?? null;
  if (why) return { ...cell, status: "n/a", reason: why };
  try {
    const built = options.programs ?? buildPrograms(workload, options.quick ?? false);
    const program = built.program;
    const baselineProgram = built.baseline;
    const p = config.run(program, { costModel: cost });
    const problem = checkStop(p, program, "the program");
    if (problem) return { ...cell, status: "error", reason: problem, program: p };
    const b = baselineProgram ? config.run(baselineProgram, { costModel: cost }) : null;
    if (b && baselineProgram) {
      const bad = checkStop(b, baselineProgram, "the baseline");
      if (bad) return { ...cell, status: "error", reason: bad, program: p, baseline: b };
    }
    let host: HostTiming = {
      seconds: p.wallSeconds,
      baselineSeconds: b ? b.wallSeconds : null,
      runSeconds: p.wallSeconds,
      samples: 1,
      rme: 0,
    };
    // A run long enough is its own measurement; short ones are sampled with benchmark.js.
    if (options.sampleHostTime && p.wallSeconds < SAMPLE_BELOW_SECONDS) {
      const sp = sampleRuns(() => config.run(program, { costModel: cost }), 0.05);
      const sb = baselineProgram ? sampleRuns(() => config.run(baselineProgram, { costModel: cost }), 0.05) : null;
      host = {
        seconds: sp.mean,
        baselineSeconds: sb ? sb.mean : null,
        runSeconds: sp.runSeconds,
        samples: sp.samples,
        rme: sp.rme,
      };
    }
    const totalExits = Object.values(p.exits).reduce((s, v) => s + v, 0);
    return {
      ...cell,
      program: p,
      baseline: b,
      perIteration: perIteration(p, b, n, host),
      host,
      mips: p.guestInstructions / host.runSeconds / 1e6,
      exitsPerSecond: totalExits / host.runSeconds,
    };
  } catch (error) {
    return { ...cell, status: "error", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** Fills in each cell's overhead ratio against the bare machine. */
export function computeOverheads(cells: CellResult[]): void {
  const bare = new Map<string, CellResult>();
  for (const c of cells) if (c.configuration === REFERENCE) bare.set(`${c.workload}/${c.profile}`, c);
  for (const c of cells) {
    if (c.status !== "ok" || !c.perIteration) continue;
    const ref = bare.get(`${c.workload}/${c.profile}`);
    const base = ref?.status === "ok" ? ref.perIteration?.cycles : undefined;
    c.overhead = base !== undefined && base > 0 ? c.perIteration.cycles / base : null;
  }
}

/** Runs the whole matrix. */
export async function runMatrix(options: MatrixOptions = {}): Promise<MatrixResults> {
  const registry = await loadRegistry();
  const selection = selectMatrix(registry.workloads, registry.configurations, options);
  const { workloads, configurations, profiles } = selection;
  const quick = options.quick ?? false;
  const cells: CellResult[] = [];
  let total = 0;
  for (const w of workloads) {
    for (const p of profiles) for (const c of configurations) if (selection.includes(w, c, p)) total++;
  }
  let done = 0;
  for (const workload of workloads) {
    let programs: BuiltPrograms | null = null;
    for (const profile of profiles) {
      const cost = COST_MODELS[profile];
      if (!cost) throw new Error(`unknown cost-model profile '${profile}'`);
      for (const config of configurations) {
        if (!selection.includes(workload, config, profile)) continue;
        options.onProgress?.({ done, total, label: `${workload.name} on ${config.name} (${profile})` });
        // Host time does not depend on the profile: sample it (when asked) under the first one only.
        const sample = (options.sampleHostTime ?? !quick) && profile === profiles[0];
        try {
          programs ??= buildPrograms(workload, quick);
          cells.push(runCell(workload, config, cost, { quick, sampleHostTime: sample, programs }));
        } catch (error) {
          cells.push({
            workload: workload.name,
            configuration: config.name,
            profile,
            status: "error",
            reason: `building the program: ${error instanceof Error ? error.message : String(error)}`,
            iterations: 0,
          });
        }
        done++;
      }
    }
  }
  const order = new Map(profiles.map((p, i) => [p, i]));
  cells.sort((a, b) => order.get(a.profile)! - order.get(b.profile)!);
  options.onProgress?.({ done, total, label: "done" });
  computeOverheads(cells);
  return {
    quick,
    profiles,
    workloads: workloads.map((w) => ({
      name: w.name,
      kind: w.kind,
      title: w.title,
      unit: w.unit,
      iterations: quick ? w.iterations.quick : w.iterations.full,
      hasBaseline: w.baseline !== undefined,
    })),
    configurations: configurations.map((c) => ({
      name: c.name,
      family: c.family,
      paging: c.paging,
      vpid: c.vpid,
      hostLoad: c.hostLoad,
      title: c.title,
    })),
    cells,
  };
}
