// VM exits per host second, one case at a time, each in a fresh Node process (as JMH forks a JVM per
// benchmark): V8 specializes the shared code (the interpreter's run loop, memory accessors) on whatever
// ran before it in the same process, so a round trip timed after the rest of the bench came out slower
// than one timed alone. The figure should be the emulator's, not the bench's run order's.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { COST_MODELS, v8TuningFlags } from "@vmxlab/cpu";
import { loadRegistry } from "../registry.js";
import { sampleRuns } from "./sample.js";

export interface ExitRate {
  /** "CPUID loop, type1-ept". */
  name: string;
  workload: string;
  configuration: string;
  iterations: number;
  exits: number;
  /**
   * Host seconds inside the fastest run of the loop program (benchmark.js samples; machine creation
   * excluded; the fastest, because load from elsewhere on the machine only adds time).
   */
  seconds: number;
  exitsPerSecond: number;
  /**
   * Host µs per loop iteration beyond the empty loop (fastest runs of both): what one exit round trip
   * costs the emulator.
   */
  usPerExit: number;
  /** The same round trip in modeled cycles (for scale: real hardware takes about 1,000-1,500). */
  modeledCyclesPerExit: number;
  /** "forked": timed in a fresh process of its own. Absent in results saved before the bench forked. */
  process?: "forked";
  /**
   * The processes the case was timed in, one after another; the row is the fastest one's (absent in
   * results saved before the bench forked more than once).
   */
  forks?: number;
  /** µs per exit in each of those processes, in the order they ran. */
  usPerExitByFork?: number[];
  /**
   * The V8 options the processes ran with besides --no-concurrent-recompilation: packages/cpu's
   * V8_TUNING_FLAGS, as the vmxlab CLI runs, or none with VMXLAB_V8_TUNING=off. Absent in results saved
   * before the bench tuned V8.
   */
  v8Flags?: string[];
  /** The same loop timed in as many processes with V8's default options (ExitRateCase.compareDefaultV8). */
  withDefaultV8?: DefaultV8Rate;
}

/** A loop's figures with V8's default options: what the tuning is worth on this machine. */
export interface DefaultV8Rate {
  usPerExit: number;
  exitsPerSecond: number;
  usPerExitByFork: number[];
}

/** One exit-rate measurement: what the child process is told to run. */
export interface ExitRateCase {
  name: string;
  workload: string;
  configuration: string;
  iterations: number;
  /** benchmark.js minimum time per sampled function, seconds. */
  minTime: number;
  /** A key of COST_MODELS. */
  costModel: string;
  /** Fresh processes to time it in (measureExitRateInForks keeps the fastest); default 1. */
  forks?: number;
  /** Also time it in as many processes with V8's default options (withDefaultV8); default false. */
  compareDefaultV8?: boolean;
}

export function exitRateCases(quick: boolean): ExitRateCase[] {
  // Long loops, so the machine's creation and warm-up (also in the baseline, but noisy) are small
  // beside the exits themselves.
  // Several processes, as JMH runs several forks: what V8 makes of the code can differ from one process
  // to the next (see SYNCHRONOUS_OPTIMIZATION), and the spread is reported with the figure.
  const common = {
    iterations: quick ? 2_000 : 200_000,
    minTime: quick ? 0.2 : 1.5,
    costModel: "recent",
    forks: quick ? 1 : 5,
    compareDefaultV8: !quick,
  };
  return [
    { name: "CPUID loop, type-1 (EPT)", workload: "cpuid", configuration: "type1-ept", ...common },
    {
      name: "OUT loop, hosted (EPT), user-space round trip",
      workload: "out",
      configuration: "hosted-ept",
      ...common,
    },
  ];
}

/** Measures one case in this process (what the forked child runs). */
export async function measureExitRate(c: ExitRateCase): Promise<ExitRate> {
  const registry = await loadRegistry();
  const workload = registry.workloads.find((w) => w.name === c.workload);
  const config = registry.configurations.find((x) => x.name === c.configuration);
  const cost = COST_MODELS[c.costModel];
  if (!workload?.baseline) throw new Error(`no workload '${c.workload}' with a baseline`);
  if (!config) throw new Error(`no configuration '${c.configuration}'`);
  if (!cost) throw new Error(`unknown cost model '${c.costModel}'`);
  const n = c.iterations;
  const program = workload.program(n);
  const baseline = workload.baseline(n);
  const first = config.run(program, { costModel: cost });
  const base = config.run(baseline, { costModel: cost });
  const exits = Object.values(first.exits).reduce((s, v) => s + v, 0);
  const exitsDelta = exits - Object.values(base.exits).reduce((s, v) => s + v, 0);
  const p = sampleRuns(() => config.run(program, { costModel: cost }), c.minTime, 3);
  const b = sampleRuns(() => config.run(baseline, { costModel: cost }), c.minTime, 3);
  return {
    name: c.name,
    workload: c.workload,
    configuration: c.configuration,
    iterations: n,
    exits,
    seconds: p.fastestRunSeconds,
    exitsPerSecond: exits / p.fastestRunSeconds,
    // The loop's fastest run against the empty loop's: machine creation is outside both.
    usPerExit: ((p.fastestRunSeconds - b.fastestRunSeconds) / Math.max(1, exitsDelta)) * 1e6,
    modeledCyclesPerExit: (first.cycles - base.cycles) / Math.max(1, exitsDelta),
  };
}

export interface ForkOptions {
  /** The child entry module; default the compiled exit-rate-child.js beside this module. */
  childModule?: URL;
  /** Node options for the child (e.g. a loader in tests); default none, a plain `node child.js`. */
  execArgv?: string[];
  /** The V8 options to tune the child with; default v8TuningFlags(), those the vmxlab CLI runs with. */
  v8Flags?: readonly string[];
}

const NUMBER_FIELDS = [
  "iterations",
  "exits",
  "seconds",
  "exitsPerSecond",
  "usPerExit",
  "modeledCyclesPerExit",
] as const satisfies readonly (keyof ExitRate)[];

function oneLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const joined = lines.join(" / ");
  return joined.length > 600 ? `${joined.slice(0, 597)}...` : joined || "(no stderr)";
}

/**
 * The child's V8 builds optimized code on the main thread, from the feedback it has when it asks: with
 * the background compiler, a process now and then ran on code built from early feedback, a whole process
 * at half speed (CPUID round trip 0.55-0.7 µs against 0.27-0.29), which made the figure a coin toss.
 */
const SYNCHRONOUS_OPTIMIZATION = "--no-concurrent-recompilation";

/** Measures one case in a fresh Node process, one at a time (blocks until the child has exited). */
export function measureExitRateInFork(c: ExitRateCase, fork: ForkOptions = {}): ExitRate {
  const child = fileURLToPath(fork.childModule ?? new URL("./exit-rate-child.js", import.meta.url));
  const where = `exit rate '${c.name}'`;
  if (!existsSync(child)) throw new Error(`${where}: no child module ${child} (build the bench: pnpm build)`);
  const v8Flags = fork.v8Flags ?? v8TuningFlags();
  const r = spawnSync(
    process.execPath,
    [SYNCHRONOUS_OPTIMIZATION, ...v8Flags, ...(fork.execArgv ?? []), child, JSON.stringify(c)],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  if (r.error) throw new Error(`${where}: could not start the child process: ${r.error.message}`);
  if (r.status !== 0) {
    const how = r.status === null ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
    throw new Error(`${where}: the child process ${how}: ${oneLine(r.stderr)}`);
  }
  let row: Partial<ExitRate>;
  try {
    row = JSON.parse(r.stdout) as Partial<ExitRate>;
  } catch {
    throw new Error(`${where}: the child's output is not JSON: ${oneLine(r.stdout)}`);
  }
  const bad = NUMBER_FIELDS.filter((k) => typeof row[k] !== "number");
  if (row.name !== c.name || bad.length > 0) {
    throw new Error(`${where}: the child's row lacks ${bad.length > 0 ? bad.join(", ") : "the case's name"}`);
  }
  return { ...(row as ExitRate), process: "forked", v8Flags: [...v8Flags] };
}

/**
 * Times one case in `c.forks` fresh processes, one after another, and returns the fastest one's row
 * (the least disturbed by other load and by the process's own JIT luck) with every process's µs per
 * exit beside it, so the spread is reported, not hidden. With `c.compareDefaultV8`, the same again
 * with V8's default options (withDefaultV8).
 */
export function measureExitRateInForks(c: ExitRateCase, fork: ForkOptions = {}): ExitRate {
  const v8Flags = fork.v8Flags ?? v8TuningFlags();
  const tuned = timeInForks(c, { ...fork, v8Flags });
  const row: ExitRate = { ...tuned.fastest, forks: tuned.rows.length, usPerExitByFork: tuned.usPerExitByFork };
  if (c.compareDefaultV8 === true && v8Flags.length > 0) {
    const plain = timeInForks(c, { ...fork, v8Flags: [] });
    row.withDefaultV8 = {
      usPerExit: plain.fastest.usPerExit,
      exitsPerSecond: plain.fastest.exitsPerSecond,
      usPerExitByFork: plain.usPerExitByFork,
    };
  }
  return row;
}

function timeInForks(c: ExitRateCase, fork: ForkOptions) {
  const rows: ExitRate[] = [];
  const forks = c.forks !== undefined && c.forks >= 1 ? Math.floor(c.forks) : 1;
  for (let k = 0; k < forks; k++) rows.push(measureExitRateInFork(c, fork));
  const fastest = rows.reduce((best, row) => (row.usPerExit < best.usPerExit ? row : best));
  return { rows, fastest, usPerExitByFork: rows.map((r) => r.usPerExit) };
}
