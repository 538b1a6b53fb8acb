// The project's host-time targets (issues #5 and #7), next to what a bench run measured: the README,
// the terminal report and the HTML report show this one table, so a reader sees at a glance which
// figures meet their target and which do not. A figure the run did not measure (--only, a failed
// child) is "not measured", never counted as met.

import { fmtRate } from "../report/format.js";
import type { EmulatorPerf } from "./emulator.js";

export interface TargetCheck {
  /** What is measured ("CPUID exit round trip, type-1 (EPT)"). */
  figure: string;
  /** The target as text ("at most 0.30 µs"). */
  target: string;
  /** The measured value as text, or "not measured". */
  measured: string;
  /** Whether the target is met; null when the run did not measure the figure. */
  met: boolean | null;
}

interface Target {
  figure: string;
  target: string;
  /** The measured value and its text, or null when the run lacks it. */
  measure: (e: EmulatorPerf) => { value: number; text: string } | null;
  meets: (value: number) => boolean;
}

const REGISTER_LOOP = "register loop (add/xor/dec/jnz)";
const LOAD_STORE_LOOP = "load/store loop, paging on";

function mips(e: EmulatorPerf, kernel: string) {
  const row = e.speed.find((s) => s.kernel === kernel);
  return row ? { value: row.vmxlab.mips, text: `${row.vmxlab.mips.toFixed(0)} MIPS` } : null;
}

function exitRate(e: EmulatorPerf, workload: string, configuration: string) {
  return e.exitRates.find((x) => x.workload === workload && x.configuration === configuration) ?? null;
}

function usPerExit(e: EmulatorPerf, workload: string, configuration: string) {
  const x = exitRate(e, workload, configuration);
  return x ? { value: x.usPerExit, text: `${x.usPerExit.toFixed(2)} µs` } : null;
}

function exitsPerSecond(e: EmulatorPerf, workload: string, configuration: string) {
  const x = exitRate(e, workload, configuration);
  return x ? { value: x.exitsPerSecond, text: fmtRate(x.exitsPerSecond) } : null;
}

/** The targets, in the issues' words and numbers. */
const TARGETS: readonly Target[] = [
  {
    figure: "Guest MIPS, register loop (bare machine)",
    target: "at least 150 MIPS",
    measure: (e) => mips(e, REGISTER_LOOP),
    meets: (v) => v >= 150,
  },
  {
    figure: "Guest MIPS, load/store loop with paging on (bare machine)",
    target: "at least 100 MIPS",
    measure: (e) => mips(e, LOAD_STORE_LOOP),
    meets: (v) => v >= 100,
  },
  {
    figure: "CPUID exit round trip, type-1 (EPT): host time per exit",
    target: "at most 0.30 µs",
    measure: (e) => usPerExit(e, "cpuid", "type1-ept"),
    meets: (v) => v <= 0.3,
  },
  {
    figure: "CPUID loop, type-1 (EPT): VM exits per host second",
    target: "at least 3.3M",
    measure: (e) => exitsPerSecond(e, "cpuid", "type1-ept"),
    meets: (v) => v >= 3.3e6,
  },
  {
    figure: "OUT round trip through user space, hosted (EPT): host time per exit",
    target: "at most 1.00 µs",
    measure: (e) => usPerExit(e, "out", "hosted-ept"),
    meets: (v) => v <= 1,
  },
  {
    figure: "OUT loop, hosted (EPT): VM exits per host second",
    target: "at least 1.0M",
    measure: (e) => exitsPerSecond(e, "out", "hosted-ept"),
    meets: (v) => v >= 1e6,
  },
  {
    figure: "Host memory per VM beyond its guest RAM (largest configuration)",
    target: "at most 2 MiB",
    measure: (e) => {
      if (e.memory.length === 0) return null;
      const worst = Math.max(...e.memory.map((m) => m.overheadMiBPerVm));
      return { value: worst, text: `${worst.toFixed(2)} MiB` };
    },
    meets: (v) => v <= 2,
  },
];

/** Every target against the run's figures. */
export function checkTargets(e: EmulatorPerf): TargetCheck[] {
  return TARGETS.map((t) => {
    const m = t.measure(e);
    return m
      ? { figure: t.figure, target: t.target, measured: m.text, met: t.meets(m.value) }
      : { figure: t.figure, target: t.target, measured: "not measured", met: null };
  });
}

/** "met", "not met" or "-" (not measured), for the tables. */
export function metText(check: TargetCheck): string {
  return check.met === null ? "-" : check.met ? "met" : "not met";
}
