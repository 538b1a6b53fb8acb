// The bench as a command: `vmxlab bench` and `pnpm bench` both land here. Runs the matrix (and the
// emulator-performance section), prints the tables, writes JSON / HTML / the README figures on request.
// Progress goes to stderr, and only on a terminal outside CI.

import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type EmulatorPerf, measureEmulator } from "./perf/emulator.js";
import { htmlReport } from "./report/html.js";
import { writeReadmeFigures } from "./report/readme.js";
import { type BenchResults, bundle, resultsJson } from "./report/results.js";
import { formatReport } from "./report/table.js";
import { runMatrix } from "./runner.js";

/** The pseudo-name that selects the emulator-performance section in --only. */
export const EMULATOR_SECTION = "emulator";

/** This package's README (the figures section lives there). */
export const README_PATH = fileURLToPath(new URL("../README.md", import.meta.url));

export interface BenchCommandOptions {
  quick?: boolean;
  /** Workload, configuration or profile names, or "emulator"; empty = everything. */
  only?: readonly string[];
  json?: string;
  html?: string;
  /** Write the figures section of packages/bench/README.md. */
  readme?: boolean;
  /** Skip v86 in the emulator section. */
  skipV86?: boolean;
  /** Render the reports from a saved JSON results file instead of running anything. */
  from?: string;
  cwd?: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Show progress (a terminal, not CI). */
  progress: boolean;
  /** Terminal width for the tables. */
  width?: number;
}

/** Progress is for people at a terminal: never in CI logs or pipes. */
export function wantsProgress(isTTY: boolean | undefined, env: Record<string, string | undefined>): boolean {
  return isTTY === true && !env.CI;
}

export async function runBenchCommand(o: BenchCommandOptions): Promise<{ status: number; results: BenchResults }> {
  const cwd = o.cwd ?? process.cwd();
  const results = o.from ? readResults(resolve(cwd, o.from)) : await run(o);
  o.stdout(formatReport(results, o.width ?? 120));
  if (o.json) {
    writeFileSync(resolve(cwd, o.json), resultsJson(results));
    o.stdout(`results written to ${o.json}\n`);
  }
  if (o.html) {
    writeFileSync(resolve(cwd, o.html), htmlReport(results));
    o.stdout(`report written to ${o.html}\n`);
  }
  if (o.readme) {
    writeReadmeFigures(results, README_PATH);
    o.stdout(`figures written to ${README_PATH}\n`);
  }
  const errors = results.matrix.cells.filter((c) => c.status === "error").length;
  return { status: errors > 0 ? 1 : 0, results };
}

function readResults(path: string): BenchResults {
  const r = JSON.parse(readFileSync(path, "utf8")) as BenchResults;
  if (r.schema !== "vmxlab-bench/1") throw new Error(`${path}: not a vmxlab bench results file`);
  return r;
}

async function run(o: BenchCommandOptions): Promise<BenchResults> {
  const only = (o.only ?? []).flatMap((s) => s.split(",")).filter(Boolean);
  const matrixNames = only.filter((n) => n !== EMULATOR_SECTION);
  const runMatrixPart = only.length === 0 || matrixNames.length > 0;
  const runEmulatorPart = only.length === 0 || only.includes(EMULATOR_SECTION);
  let lastLength = 0;
  const progress = (text: string) => {
    if (!o.progress) return;
    const line = text.length > 110 ? `${text.slice(0, 107)}...` : text;
    o.stderr(`\r${line.padEnd(lastLength)}`);
    lastLength = line.length;
  };
  // Host time first, before the modeled matrix runs every workload on every configuration: the code the
  // MIPS figures time should have seen as little else as possible in this process (V8 specializes it on
  // what ran). The exit rates do not depend on it: each is timed in a fresh process of its own.
  let emulator: EmulatorPerf | null = null;
  if (runEmulatorPart) {
    emulator = await measureEmulator({
      quick: o.quick ?? false,
      skipV86: o.skipV86 ?? false,
      onProgress: (label) => progress(label),
    });
  }
  const matrix = runMatrixPart
    ? await runMatrix({
        quick: o.quick ?? false,
        only: matrixNames,
        onProgress: (e) => progress(`[${e.done}/${e.total}] ${e.label}`),
      })
    : { quick: o.quick ?? false, profiles: [], workloads: [], configurations: [], cells: [] };
  if (o.progress) o.stderr(`\r${" ".repeat(lastLength)}\r`);
  return bundle(matrix, emulator);
}
