// The terminal report: plain text tables (no colors, so it reads the same in a log), columns split into
// blocks that fit the width.

import { checkTargets, metText } from "../perf/targets.js";
import type { CellResult, MatrixResults } from "../runner.js";
import {
  EXIT_RATE_COLUMNS,
  exitRateCells,
  fmtCount,
  fmtCycles,
  fmtMips,
  fmtRate,
  fmtRatio,
  fmtSeconds,
  shortReason,
} from "./format.js";
import type { BenchResults } from "./results.js";
import { cellOf } from "./results.js";

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** Word-wraps a line to `width` columns, keeping its indentation (continuations get two more spaces). */
export function wrap(text: string, width: number): string {
  const indent = /^ */.exec(text)![0];
  const lines: string[] = [];
  let line = indent;
  for (const word of text.slice(indent.length).split(" ")) {
    if (line.trim() && line.length + 1 + word.length > width) {
      lines.push(line);
      line = `${indent}  ${word}`;
    } else line = line.trim() ? `${line} ${word}` : `${line}${word}`;
  }
  if (line.trim()) lines.push(line);
  return lines.join("\n");
}

/** Renders rows x columns, splitting the columns into blocks no wider than `width`. */
export function grid(
  title: string,
  rowHeader: string,
  rows: readonly string[],
  columns: readonly string[],
  cell: (row: number, column: number) => string,
  width = 120,
): string {
  const first = Math.max(rowHeader.length, ...rows.map((r) => r.length)) + 2;
  const texts = rows.map((_, r) => columns.map((_, c) => cell(r, c)));
  const widths = columns.map((name, c) => Math.max(name.length, ...texts.map((t) => t[c]!.length)) + 2);
  const blocks: number[][] = [];
  let current: number[] = [];
  let used = first;
  columns.forEach((_, c) => {
    if (current.length > 0 && used + widths[c]! > width) {
      blocks.push(current);
      current = [];
      used = first;
    }
    current.push(c);
    used += widths[c]!;
  });
  if (current.length > 0) blocks.push(current);
  const out = [wrap(title, width)];
  for (const block of blocks) {
    out.push("");
    out.push(pad(rowHeader, first) + block.map((c) => pad(columns[c]!, widths[c]!, true)).join(""));
    out.push("-".repeat(first + block.reduce((s, c) => s + widths[c]!, 0)));
    rows.forEach((name, r) => {
      out.push(pad(name, first) + block.map((c) => pad(texts[r]![c]!, widths[c]!, true)).join(""));
    });
  }
  return out.join("\n");
}

function cellText(cell: CellResult | undefined, what: (c: CellResult) => string): string {
  if (!cell) return "";
  if (cell.status === "n/a") return "n/a";
  if (cell.status === "error") return "ERROR";
  return what(cell);
}

export function exitsText(c: CellResult): string {
  const p = c.perIteration!;
  const reasons = Object.entries(p.exits)
    .filter(([, v]) => Math.abs(v) >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([k]) => shortReason(k));
  if (reasons.length === 0) return "0";
  return `${fmtCount(p.totalExits)} ${reasons.slice(0, 2).join("+")}${reasons.length > 2 ? "+" : ""}`;
}

function matrixTables(m: MatrixResults, width: number): string[] {
  const rows = m.workloads.map((w) => w.name);
  const columns = m.configurations.map((c) => c.name);
  const out: string[] = [];
  m.profiles.forEach((profile, k) => {
    out.push(
      grid(
        `Modeled cycles per iteration, cost model '${profile}' (in parentheses: overhead against the bare machine)`,
        "workload",
        rows,
        columns,
        (r, c) =>
          cellText(cellOf(m, rows[r]!, columns[c]!, profile), (x) => {
            const cycles = fmtCycles(x.perIteration!.cycles);
            return columns[c] === "bare" ? cycles : `${cycles} (${fmtRatio(x.overhead)})`;
          }),
        width,
      ),
    );
    if (k > 0) return;
    out.push(
      grid(
        `VM exits per iteration by reason, cost model '${profile}' (EXC = intercepted exception, IO = port I/O, CR = control register, TIMER = preemption timer)`,
        "workload",
        rows,
        columns.filter((c) => c !== "bare"),
        (r, c) => cellText(cellOf(m, rows[r]!, columns.filter((x) => x !== "bare")[c]!, profile), exitsText),
        width,
      ),
    );
    out.push(
      grid(
        "TLB misses and page-walk references per iteration",
        "workload",
        rows,
        columns,
        (r, c) =>
          cellText(cellOf(m, rows[r]!, columns[c]!, profile), (x) => {
            const p = x.perIteration!;
            return `${fmtCount(p.tlbMisses)}/${fmtCount(p.walkReferences)}`;
          }),
        width,
      ),
    );
    out.push(
      grid(
        "Host time per iteration (program minus baseline) | guest MIPS of the program run | VM exits per host second",
        "workload",
        rows,
        columns,
        (r, c) =>
          cellText(cellOf(m, rows[r]!, columns[c]!, profile), (x) => {
            const p = x.perIteration!;
            const exits = x.exitsPerSecond ? ` ${fmtRate(x.exitsPerSecond)}/s` : "";
            return `${fmtSeconds(p.hostSeconds)} ${fmtMips(x.mips ?? 0)}${exits}`;
          }),
        width,
      ),
    );
  });
  const problems = m.cells.filter((c) => c.status === "error");
  if (problems.length > 0) {
    out.push(
      [
        "Errors:",
        ...problems.map((c) => wrap(`  ${c.workload} on ${c.configuration} (${c.profile}): ${c.reason}`, width)),
      ].join("\n"),
    );
  }
  const na = new Map<string, string>();
  for (const c of m.cells) if (c.status === "n/a" && c.reason) na.set(c.workload, c.reason);
  if (na.size > 0) {
    out.push(["Not applicable:", ...[...na].map(([w, why]) => wrap(`  ${w}: ${why}`, width))].join("\n"));
  }
  return out;
}

function emulatorTables(r: BenchResults): string[] {
  const e = r.emulator;
  if (!e) return [];
  const out: string[] = [];
  const v86 = e.v86.available ? `v86 ${e.v86.version}` : `v86 not run (${e.v86.error ?? "unavailable"})`;
  out.push(
    grid(
      `Emulator speed on the bare machine, guest MIPS (host time; ${v86})`,
      "program",
      e.speed.map((s) => s.kernel),
      ["vmxlab", "±%", "v86 JIT", "ratio", "v86 interp.", "ratio"],
      (row, col) => {
        const s = e.speed[row]!;
        switch (col) {
          case 0:
            return fmtMips(s.vmxlab.mips);
          case 1:
            return s.vmxlab.rme.toFixed(1);
          case 2:
            return s.v86Jit ? fmtMips(s.v86Jit.mips) : "-";
          case 3:
            return s.v86Jit ? fmtRatio(s.vmxlab.mips / s.v86Jit.mips) : "-";
          case 4:
            return s.v86Interpreter ? fmtMips(s.v86Interpreter.mips) : "-";
          default:
            return s.v86Interpreter ? fmtRatio(s.vmxlab.mips / s.v86Interpreter.mips) : "-";
        }
      },
    ),
  );
  if (e.exitRates.length > 0) {
    out.push(
      grid(
        "VM exits per host second",
        "loop",
        e.exitRates.map((x) => x.name),
        [...EXIT_RATE_COLUMNS],
        (row, col) => exitRateCells(e.exitRates[row]!)[col]!,
      ),
    );
  }
  if (e.memory.length > 0) {
    out.push(
      grid(
        `Host memory per VM (JS heap + array buffers, slope over ${e.memory[0]!.vms} VMs${e.gcExposed ? "" : "; GC not exposed: noisy"})`,
        "configuration",
        e.memory.map((x) => x.configuration),
        ["guest RAM", "host per VM", "beyond guest RAM", "hypervisor tables"],
        (row, col) => {
          const x = e.memory[row]!;
          return [
            `${x.guestMiB} MiB`,
            `${x.hostMiBPerVm.toFixed(2)} MiB`,
            `${x.overheadMiBPerVm.toFixed(2)} MiB`,
            `${x.tableKiBPerVm} KiB`,
          ][col]!;
        },
      ),
    );
  }
  const targets = checkTargets(e);
  out.push(
    grid(
      "Against the targets",
      "figure",
      targets.map((t) => t.figure),
      ["target", "measured", ""],
      (row, col) => {
        const t = targets[row]!;
        return [t.target, t.measured, metText(t)][col]!;
      },
    ),
  );
  return out;
}

/** The whole terminal report. */
export function formatReport(results: BenchResults, width = 120): string {
  const h = results.host;
  const head = wrap(
    `vmxlab bench${results.matrix.quick ? " --quick" : ""} on ${h.cpu} (${h.cores} cores), Node ${h.node}`,
    width,
  );
  return `${[head, ...matrixTables(results.matrix, width), ...emulatorTables(results)].join("\n\n")}\n`;
}
