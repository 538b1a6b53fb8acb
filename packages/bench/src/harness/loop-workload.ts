// A loop workload in one declaration: the harness parts of the measured program, what the baseline
// changes (by default only the body, which becomes empty), and the iteration counts.

import type { Configuration, GuestProgram, Workload, WorkloadKind } from "../types.js";
import { type HarnessParts, harnessProgram } from "./nano.js";

export interface LoopWorkloadSpec {
  name: string;
  title: string;
  unit: string;
  order: number;
  kind?: WorkloadKind;
  iterations: { full: number; quick: number };
  parts: HarnessParts;
  /** What differs in the baseline program (default: an empty body, everything else the same). */
  baseline?: Partial<HarnessParts>;
  /** Guest RAM in MiB (default 8). */
  memoryMiB?: number;
  disk?: () => Uint8Array;
  notApplicable?: (config: Configuration) => string | null;
  fullOnly?: boolean;
}

export function loopWorkload(spec: LoopWorkloadSpec): Workload {
  const build = (parts: HarnessParts, n: number): GuestProgram =>
    harnessProgram(parts, {
      iterations: n,
      ...(spec.memoryMiB !== undefined ? { memoryMiB: spec.memoryMiB } : {}),
      ...(spec.disk ? { disk: spec.disk() } : {}),
    });
  const workload: Workload = {
    name: spec.name,
    kind: spec.kind ?? "nano",
    title: spec.title,
    unit: spec.unit,
    order: spec.order,
    iterations: spec.iterations,
    program: (n) => build(spec.parts, n),
    baseline: (n) => build({ ...spec.parts, body: "", ...spec.baseline }, n),
  };
  if (spec.notApplicable) workload.notApplicable = spec.notApplicable;
  if (spec.fullOnly) workload.fullOnly = true;
  return workload;
}

/** The notApplicable of workloads that need VMX non-root operation (a hypervisor to talk to). */
export function needsHypervisor(what: string): (config: Configuration) => string | null {
  return (config) =>
    config.family === "bare" ? `${what} outside VMX non-root operation is #UD: there is no hypervisor to call` : null;
}
