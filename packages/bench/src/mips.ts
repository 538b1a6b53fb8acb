// Emulator speed: guest instructions per host second on the bare machine, measured with benchmark.js
// (host time). Each sample runs a whole loop program; MIPS = instructions / mean seconds per run.

import { assembleOrThrow, Machine } from "@vmxlab/cpu";
import Benchmark from "benchmark";
import { loadStoreLoop, registerLoop } from "./workloads/loops.js";

export interface MipsResult {
  name: string;
  instructionsPerRun: number;
  meanSeconds: number;
  mips: number;
  samples: number;
  /** Relative margin of error of the mean (percent). */
  rme: number;
}

export interface MipsKernel {
  name: string;
  image: Uint8Array;
}

export function mipsKernels(iterations = 2_000_000): MipsKernel[] {
  return [
    { name: "register loop", image: assembleOrThrow(registerLoop(iterations)).bytes },
    { name: "load/store loop, paging on", image: assembleOrThrow(loadStoreLoop(iterations)).bytes },
  ];
}

/** Runs one kernel to completion on a fresh 16 MiB machine; returns the instructions it retired. */
export function runKernel(image: Uint8Array): number {
  const m = new Machine({ memoryMiB: 16 });
  m.load(image);
  const stop = m.run({ maxInstructions: 1e10 });
  if (stop.kind !== "debug-exit") throw new Error(`loop kernel stopped with ${stop.kind}`);
  return m.cpu.instret;
}

export function measureMips(kernels: MipsKernel[], minTime = 1): MipsResult[] {
  const results: MipsResult[] = [];
  for (const k of kernels) {
    const instructions = runKernel(k.image); // warm-up and instruction count
    const bench = new Benchmark(k.name, () => runKernel(k.image), { minTime, maxTime: minTime * 4, initCount: 1 });
    bench.run();
    const mean = bench.stats.mean;
    results.push({
      name: k.name,
      instructionsPerRun: instructions,
      meanSeconds: mean,
      mips: instructions / mean / 1e6,
      samples: bench.stats.sample.length,
      rme: bench.stats.rme,
    });
  }
  return results;
}
