// Host time of whole guest runs with benchmark.js. Each sample is a fresh machine running the program;
// the mean of the whole call (machine creation included) is benchmark.js's, and the time inside the
// run itself (creation excluded, what MIPS and exits per second are computed from) is kept beside it.

import Benchmark from "benchmark";
import type { RunCounters } from "../types.js";

export interface RunSamples {
  /** benchmark.js mean of one whole call, seconds. */
  mean: number;
  samples: number;
  /** Relative margin of error of the mean, percent. */
  rme: number;
  /** Mean seconds inside the runs (RunCounters.wallSeconds). */
  runSeconds: number;
  /**
   * The fastest run's seconds inside it: the run's own cost with the least of whatever else the machine
   * was doing (other load only ever adds time), for figures that must not depend on it.
   */
  fastestRunSeconds: number;
}

export function sampleRuns(fn: () => RunCounters, minTime: number, minSamples = 2): RunSamples {
  let inside = 0;
  let runs = 0;
  let fastest = Number.POSITIVE_INFINITY;
  const bench = new Benchmark(
    "run",
    () => {
      const seconds = fn().wallSeconds;
      inside += seconds;
      fastest = Math.min(fastest, seconds);
      runs++;
    },
    { minSamples, minTime, maxTime: Math.max(1, minTime * 4), initCount: 1 },
  );
  bench.run();
  return {
    mean: bench.stats.mean,
    samples: bench.stats.sample.length,
    rme: bench.stats.rme,
    runSeconds: runs > 0 ? inside / runs : bench.stats.mean,
    fastestRunSeconds: runs > 0 ? fastest : bench.stats.mean,
  };
}
