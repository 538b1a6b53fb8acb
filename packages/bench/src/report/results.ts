// One bench run's results, as written to JSON and read by the table, HTML and README generators.

import { cpus } from "node:os";
import { appliedV8Flags } from "@vmxlab/cpu";
import type { EmulatorPerf } from "../perf/emulator.js";
import type { CellResult, MatrixResults } from "../runner.js";

export interface HostInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  /** The V8 options the bench's process applied (packages/cpu tuneV8); absent in older results. */
  v8Flags?: string[];
}

export interface BenchResults {
  schema: "vmxlab-bench/1";
  createdAt: string;
  host: HostInfo;
  matrix: MatrixResults;
  emulator: EmulatorPerf | null;
}

export function hostInfo(): HostInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown CPU",
    cores: list.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    v8Flags: [...appliedV8Flags()],
  };
}

export function bundle(matrix: MatrixResults, emulator: EmulatorPerf | null): BenchResults {
  return { schema: "vmxlab-bench/1", createdAt: new Date().toISOString(), host: hostInfo(), matrix, emulator };
}

/** The cell of a workload, configuration and profile, if it was run. */
export function cellOf(
  matrix: MatrixResults,
  workload: string,
  configuration: string,
  profile: string,
): CellResult | undefined {
  return matrix.cells.find(
    (c) => c.workload === workload && c.configuration === configuration && c.profile === profile,
  );
}

/** JSON text of the results (typed arrays never appear in them; numbers as they are). */
export function resultsJson(results: BenchResults): string {
  return `${JSON.stringify(results, null, 2)}\n`;
}
