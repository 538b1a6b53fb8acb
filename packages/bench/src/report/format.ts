// Number formatting shared by the terminal table, the HTML report and the README section.

import type { ExitRate } from "../perf/exit-rate.js";

/** Cycles: whole numbers with separators from 1,000 (one decimal below when fractional), then k and M. */
export function fmtCycles(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 1e3 || Number.isInteger(n)) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(1);
}

export function fmtRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return "-";
  if (r >= 100) return `${r.toFixed(0)}x`;
  if (r >= 10) return `${r.toFixed(1)}x`;
  return `${r.toFixed(2)}x`;
}

/** A count per iteration: integers plain, else 2-3 significant decimals. */
export function fmtCount(n: number): string {
  if (n === 0) return "0";
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  const a = Math.abs(n);
  if (a >= 100) return n.toFixed(0);
  if (a >= 1) return n.toFixed(2);
  if (a >= 0.01) return n.toFixed(3);
  return n.toExponential(1);
}

export function fmtMips(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

export function fmtSeconds(s: number): string {
  const a = Math.abs(s);
  if (a >= 1) return `${s.toFixed(2)} s`;
  if (a >= 1e-3) return `${(s * 1e3).toFixed(1)} ms`;
  if (a >= 1e-6) return `${(s * 1e6).toFixed(2)} µs`;
  return `${(s * 1e9).toFixed(0)} ns`;
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** Short names of exit reasons for narrow table cells. */
export const SHORT_REASON: Readonly<Record<string, string>> = {
  EXCEPTION_NMI: "EXC",
  EXTERNAL_INTERRUPT: "EXTINT",
  INTERRUPT_WINDOW: "IWIN",
  CPUID: "CPUID",
  HLT: "HLT",
  INVLPG: "INVLPG",
  VMCALL: "VMCALL",
  CR_ACCESS: "CR",
  IO_INSTRUCTION: "IO",
  MSR_READ: "RDMSR",
  MSR_WRITE: "WRMSR",
  EPT_VIOLATION: "EPT",
  PREEMPTION_TIMER: "TIMER",
};

export function shortReason(name: string): string {
  return SHORT_REASON[name] ?? name;
}

/** Each process's µs per exit, in the order they ran ("-" for rows saved before the bench forked several). */
export function forkSpread(x: ExitRate): string {
  return x.usPerExitByFork ? usList(x.usPerExitByFork) : "-";
}

function usList(values: readonly number[]): string {
  return values.map((us) => us.toFixed(2)).join(", ");
}

/** The columns of an exit-rate row, after its name, in every report (terminal, README, HTML). */
export const EXIT_RATE_COLUMNS = [
  "exits/s",
  "µs per exit",
  "µs per exit in each process",
  "modeled cycles per exit",
  "µs per exit, V8's defaults (each process)",
] as const;

/** An exit-rate row's cells under EXIT_RATE_COLUMNS. */
export function exitRateCells(x: ExitRate): string[] {
  const d = x.withDefaultV8;
  return [
    fmtRate(x.exitsPerSecond),
    x.usPerExit.toFixed(2),
    forkSpread(x),
    fmtCycles(x.modeledCyclesPerExit),
    d ? `${d.usPerExit.toFixed(2)} (${usList(d.usPerExitByFork)})` : "-",
  ];
}
