// The committed baseline of modeled results (packages/bench/baseline.json): the raw integer counters of
// every cell of the quick run. Modeled cycles are deterministic, so any difference is a change in the
// CPU, the cost model, a hypervisor or a workload; the CI test fails on it until the change is accepted
// with `VMXLAB_UPDATE_BASELINE=1 pnpm --filter @vmxlab/bench test`.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CellResult, MatrixResults } from "./runner.js";
import type { RunCounters } from "./types.js";

export const BASELINE_PATH = fileURLToPath(new URL("../baseline.json", import.meta.url));
export const UPDATE_COMMAND = "VMXLAB_UPDATE_BASELINE=1 pnpm --filter @vmxlab/bench test";

/** The modeled part of one run (no host times). */
export interface ModeledRun {
  cycles: number;
  guestInstructions: number;
  exits: Record<string, number>;
  userExits: number;
  tlbMisses: number;
  walkReferences: number;
  time: Record<string, number>;
}

export type ModeledCell =
  | { status: "ok"; iterations: number; program: ModeledRun; baseline: ModeledRun | null }
  | { status: "n/a" | "error"; reason: string };

export interface BaselineFile {
  schema: "vmxlab-bench-baseline/1";
  note: string;
  cells: Record<string, ModeledCell>;
}

function modeled(r: RunCounters): ModeledRun {
  return {
    cycles: r.cycles,
    guestInstructions: r.guestInstructions,
    exits: Object.fromEntries(Object.entries(r.exits).sort(([a], [b]) => a.localeCompare(b))),
    userExits: r.userExits,
    tlbMisses: r.tlbMisses,
    walkReferences: r.walkReferences,
    time: { ...r.time },
  };
}

export function cellKey(c: Pick<CellResult, "profile" | "workload" | "configuration">): string {
  return `${c.profile}/${c.workload}/${c.configuration}`;
}

/** The modeled results of a run, keyed "profile/workload/configuration", in a stable order. */
export function snapshot(m: MatrixResults): BaselineFile {
  const cells: Record<string, ModeledCell> = {};
  for (const c of [...m.cells].sort((a, b) => cellKey(a).localeCompare(cellKey(b)))) {
    cells[cellKey(c)] =
      c.status === "ok" && c.program
        ? {
            status: "ok",
            iterations: c.iterations,
            program: modeled(c.program),
            baseline: c.baseline ? modeled(c.baseline) : null,
          }
        : { status: c.status === "ok" ? "error" : c.status, reason: c.reason ?? "" };
  }
  return {
    schema: "vmxlab-bench-baseline/1",
    note: `Modeled results of \`pnpm --filter @vmxlab/bench bench -- --quick\` (deterministic). Accept an intended change with: ${UPDATE_COMMAND}`,
    cells,
  };
}

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, value);
}

/** Every difference between two baselines, one line each ("key field: expected -> actual"). */
export function compareSnapshots(expected: BaselineFile, actual: BaselineFile): string[] {
  const diffs: string[] = [];
  const keys = new Set([...Object.keys(expected.cells), ...Object.keys(actual.cells)]);
  for (const key of [...keys].sort()) {
    const e = expected.cells[key];
    const a = actual.cells[key];
    if (!e) {
      diffs.push(`${key}: new cell (not in the baseline)`);
      continue;
    }
    if (!a) {
      diffs.push(`${key}: missing (in the baseline, not in this run)`);
      continue;
    }
    const fe = new Map<string, unknown>();
    const fa = new Map<string, unknown>();
    flatten(e, "", fe);
    flatten(a, "", fa);
    for (const field of new Set([...fe.keys(), ...fa.keys()])) {
      const x = fe.get(field);
      const y = fa.get(field);
      if (x !== y)
        diffs.push(
          `${key} ${field}: ${x === undefined ? "(none)" : String(x)} -> ${y === undefined ? "(none)" : String(y)}`,
        );
    }
  }
  return diffs;
}

export function readBaseline(path = BASELINE_PATH): BaselineFile | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as BaselineFile;
  } catch {
    return null;
  }
}

export function writeBaseline(file: BaselineFile, path = BASELINE_PATH): void {
  writeFileSync(path, `${JSON.stringify(file, null, 1)}\n`);
}
