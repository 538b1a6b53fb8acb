// The HTML report: one self-contained file (inline CSS, inline SVG, no script, no external resource).
// Charts for the first cost-model profile: overhead by workload and configuration, VM exits by reason
// (stacked), and the modeled-time breakdown (stacked); then the numbers of every profile as tables.

import { checkTargets, metText } from "../perf/targets.js";
import type { CellResult, MatrixResults } from "../runner.js";
import { TIME_CATEGORIES, type TimeBreakdown } from "../types.js";
import {
  EXIT_RATE_COLUMNS,
  exitRateCells,
  fmtCount,
  fmtCycles,
  fmtMips,
  fmtRate,
  fmtRatio,
  fmtSeconds,
} from "./format.js";
import { exitRatesNote } from "./readme.js";
import type { BenchResults } from "./results.js";
import { cellOf } from "./results.js";
import { type BarGroup, barChart, color, escapeXml } from "./svg.js";

const TIME_LABEL: Record<keyof TimeBreakdown, string> = {
  guest: "guest",
  hypervisor: "hypervisor / kernel module",
  hostKernel: "host kernel (other)",
  userVmm: "user-space VMM",
  otherProcesses: "other host processes",
  idle: "idle (vCPU halted)",
};

const TIME_COLOR: Record<keyof TimeBreakdown, string> = {
  guest: "#009E73",
  hypervisor: "#0072B2",
  hostKernel: "#56B4E9",
  userVmm: "#E69F00",
  otherProcesses: "#CC79A7",
  idle: "#BBBBBB",
};

function ok(c: CellResult | undefined): c is CellResult & { perIteration: NonNullable<CellResult["perIteration"]> } {
  return c !== undefined && c.status === "ok" && c.perIteration !== undefined;
}

function overheadChart(m: MatrixResults, profile: string): string {
  const configs = m.configurations.filter((c) => c.name !== "bare");
  const legend = configs.map((c, i) => ({ key: c.name, label: c.name, color: color(i) }));
  const groups: BarGroup[] = [];
  for (const w of m.workloads) {
    const bars = configs.flatMap((c) => {
      const cell = cellOf(m, w.name, c.name, profile);
      if (!ok(cell) || cell.overhead === null || cell.overhead === undefined) return [];
      return [
        {
          label: c.name,
          note: fmtRatio(cell.overhead),
          segments: [
            {
              value: cell.overhead,
              key: c.name,
              title: `${w.name} on ${c.name}: ${fmtRatio(cell.overhead)} the bare machine's ${fmtCycles(cell.perIteration.cycles)} cycles per iteration`,
            },
          ],
        },
      ];
    });
    if (bars.length > 0) groups.push({ label: `${w.name} (${w.unit})`, bars });
  }
  return barChart({
    title: `Overhead against the bare machine, modeled cycles per iteration (cost model '${profile}')`,
    axis: "times the bare machine's cycles per iteration",
    groups,
    legend,
    scale: "log",
    logMin: 0.5,
    reference: { value: 1, label: "bare" },
    barHeight: 8,
  });
}

function exitsCharts(m: MatrixResults, profile: string): string {
  const reasons = new Set<string>();
  for (const c of m.cells)
    if (c.profile === profile && ok(c)) for (const r of Object.keys(c.perIteration.exits)) reasons.add(r);
  const legend = [...reasons].sort().map((r, i) => ({ key: r, label: r, color: color(i) }));
  const groups: BarGroup[] = [];
  for (const w of m.workloads) {
    const bars = m.configurations
      .filter((c) => c.name !== "bare")
      .flatMap((c) => {
        const cell = cellOf(m, w.name, c.name, profile);
        if (!ok(cell)) return [];
        const p = cell.perIteration;
        const segments = Object.entries(p.exits)
          .filter(([, v]) => v > 0)
          .map(([r, v]) => ({
            key: r,
            value: v,
            title: `${w.name} on ${c.name}: ${fmtCount(v)} ${r} exits per iteration`,
          }));
        return [{ label: c.name, segments, note: fmtCount(p.totalExits) }];
      });
    if (bars.some((b) => b.segments.length > 0)) groups.push({ label: `${w.name} (per ${w.unit})`, bars });
  }
  const quiet = m.workloads.filter((w) => !groups.some((g) => g.label.startsWith(`${w.name} (`))).map((w) => w.name);
  const charts = groups.map((g) =>
    barChart({
      title: g.label,
      axis: "VM exits per iteration",
      groups: [g],
      legend: legend.filter((l) => g.bars.some((b) => b.segments.some((s) => s.key === l.key))),
      scale: "linear",
      width: 440,
      barHeight: 9,
    }),
  );
  const note = quiet.length > 0 ? `<p>No VM exits in any configuration: ${quiet.map(escapeXml).join(", ")}.</p>` : "";
  return `${note}<div class="multiples">${charts.join("\n")}</div>`;
}

function timeCharts(m: MatrixResults, profile: string): string {
  const legend = TIME_CATEGORIES.map((k) => ({ key: k, label: TIME_LABEL[k], color: TIME_COLOR[k] }));
  const charts = m.workloads.flatMap((w) => {
    const bars = m.configurations.flatMap((c) => {
      const cell = cellOf(m, w.name, c.name, profile);
      if (!ok(cell)) return [];
      const t = cell.perIteration.time;
      return [
        {
          label: c.name,
          note: fmtCycles(cell.perIteration.cycles),
          segments: TIME_CATEGORIES.map((k) => ({
            key: k,
            value: t[k],
            title: `${w.name} on ${c.name}: ${fmtCycles(t[k])} cycles per iteration in ${TIME_LABEL[k]}`,
          })),
        },
      ];
    });
    if (bars.length === 0) return [];
    const used = legend.filter((l) => bars.some((b) => b.segments.some((s) => s.key === l.key && s.value > 0)));
    return [
      barChart({
        title: `${w.name} (per ${w.unit})`,
        axis: "modeled cycles per iteration",
        groups: [{ label: w.name, bars }],
        legend: used,
        scale: "linear",
        width: 440,
        barHeight: 9,
      }),
    ];
  });
  return `<div class="multiples">${charts.join("\n")}</div>`;
}

function cyclesTable(m: MatrixResults, profile: string): string {
  const head = `<tr><th>workload</th><th>iterations</th>${m.configurations.map((c) => `<th>${escapeXml(c.name)}</th>`).join("")}</tr>`;
  const rows = m.workloads.map((w) => {
    const cells = m.configurations.map((c) => {
      const cell = cellOf(m, w.name, c.name, profile);
      if (!cell) return "<td></td>";
      if (cell.status !== "ok") {
        return `<td class="${cell.status === "n/a" ? "na" : "err"}" title="${escapeXml(cell.reason ?? "")}">${cell.status}</td>`;
      }
      const p = cell.perIteration!;
      const ratio = c.name === "bare" ? "" : `<br><small>${fmtRatio(cell.overhead)}</small>`;
      return `<td title="${escapeXml(`${fmtCount(p.totalExits)} exits, ${fmtCount(p.guestInstructions)} guest instructions per iteration`)}">${fmtCycles(p.cycles)}${ratio}</td>`;
    });
    return `<tr><th title="${escapeXml(w.title)}">${escapeXml(w.name)}</th><td>${w.iterations.toLocaleString("en-US")}</td>${cells.join("")}</tr>`;
  });
  return `<table class="grid"><thead>${head}</thead><tbody>${rows.join("\n")}</tbody></table>`;
}

function detailTable(m: MatrixResults, profile: string): string {
  const head =
    "<tr><th>workload</th><th>configuration</th><th>cycles/iter</th><th>overhead</th><th>guest insns/iter</th><th>exits/iter by reason</th><th>user exits/iter</th><th>TLB misses/iter</th><th>walk refs/iter</th>" +
    TIME_CATEGORIES.map((k) => `<th>${escapeXml(TIME_LABEL[k])}</th>`).join("") +
    "<th>host time/iter</th><th>MIPS</th><th>exits/s</th></tr>";
  const rows = m.cells
    .filter((c) => c.profile === profile)
    .map((c) => {
      if (!ok(c)) {
        return `<tr><td>${escapeXml(c.workload)}</td><td>${escapeXml(c.configuration)}</td><td colspan="${12 + TIME_CATEGORIES.length - 2}" class="${c.status === "n/a" ? "na" : "err"}">${c.status}: ${escapeXml(c.reason ?? "")}</td></tr>`;
      }
      const p = c.perIteration;
      const exits =
        Object.entries(p.exits)
          .map(([k, v]) => `${fmtCount(v)} ${k}`)
          .join(", ") || "0";
      return `<tr><td>${escapeXml(c.workload)}</td><td>${escapeXml(c.configuration)}</td><td>${fmtCycles(p.cycles)}</td><td>${fmtRatio(c.overhead)}</td><td>${fmtCount(p.guestInstructions)}</td><td class="l">${escapeXml(exits)}</td><td>${fmtCount(p.userExits)}</td><td>${fmtCount(p.tlbMisses)}</td><td>${fmtCount(p.walkReferences)}</td>${TIME_CATEGORIES.map((k) => `<td>${fmtCycles(p.time[k])}</td>`).join("")}<td>${fmtSeconds(p.hostSeconds)}</td><td>${fmtMips(c.mips ?? 0)}</td><td>${fmtRate(c.exitsPerSecond ?? 0)}</td></tr>`;
    });
  return `<table class="grid detail"><thead>${head}</thead><tbody>${rows.join("\n")}</tbody></table>`;
}

function emulatorSection(r: BenchResults): string {
  const e = r.emulator;
  if (!e) return "";
  const v86 = e.v86.available
    ? `v86 ${escapeXml(e.v86.version ?? "")} in the same process, with its JIT and with <code>disable_jit</code>`
    : `v86 was not run: ${escapeXml(e.v86.error ?? "unavailable")}`;
  const legend = [
    { key: "vmxlab", label: "vmxlab (interpreter)", color: color(0) },
    { key: "jit", label: "v86 JIT", color: color(1) },
    { key: "interp", label: "v86 interpreter", color: color(2) },
  ];
  const groups: BarGroup[] = e.speed.map((s) => ({
    label: s.kernel,
    bars: [
      { label: "vmxlab", mips: s.vmxlab.mips, key: "vmxlab" },
      ...(s.v86Jit ? [{ label: "v86 JIT", mips: s.v86Jit.mips, key: "jit" }] : []),
      ...(s.v86Interpreter ? [{ label: "v86 interpreter", mips: s.v86Interpreter.mips, key: "interp" }] : []),
    ].map((b) => ({
      label: b.label,
      note: `${fmtMips(b.mips)} MIPS`,
      segments: [{ value: b.mips, key: b.key, title: `${s.kernel}: ${b.label} ${fmtMips(b.mips)} MIPS` }],
    })),
  }));
  const chart = barChart({
    title: "Guest MIPS on the bare machine (host time)",
    axis: "million guest instructions per host second",
    groups,
    legend,
    scale: "log",
    barHeight: 10,
  });
  const speedRows = e.speed
    .map(
      (s) =>
        `<tr><th>${escapeXml(s.kernel)}</th><td>${fmtMips(s.vmxlab.mips)} <small>±${s.vmxlab.rme.toFixed(1)}%</small></td><td>${s.v86Jit ? fmtMips(s.v86Jit.mips) : "-"}</td><td>${s.v86Jit ? fmtRatio(s.vmxlab.mips / s.v86Jit.mips) : "-"}</td><td>${s.v86Interpreter ? fmtMips(s.v86Interpreter.mips) : "-"}</td><td>${s.v86Interpreter ? fmtRatio(s.vmxlab.mips / s.v86Interpreter.mips) : "-"}</td></tr>`,
    )
    .join("\n");
  const exitRows = e.exitRates
    .map(
      (x) =>
        `<tr><th>${escapeXml(x.name)}</th>${exitRateCells(x)
          .map((cell) => `<td>${escapeXml(cell)}</td>`)
          .join("")}</tr>`,
    )
    .join("\n");
  const memRows = e.memory
    .map(
      (x) =>
        `<tr><th>${escapeXml(x.configuration)}</th><td>${x.guestMiB} MiB</td><td>${x.hostMiBPerVm.toFixed(2)} MiB</td><td>${x.overheadMiBPerVm.toFixed(2)} MiB</td><td>${x.tableKiBPerVm} KiB</td></tr>`,
    )
    .join("\n");
  const targetRows = checkTargets(e)
    .map(
      (t) =>
        `<tr><th>${escapeXml(t.figure)}</th><td>${escapeXml(t.target)}</td><td>${escapeXml(t.measured)}</td><td${t.met === false ? ' class="err"' : ""}>${metText(t)}</td></tr>`,
    )
    .join("\n");
  return `<h2>Emulator performance</h2>
<p>${v86}. Ratios are vmxlab's MIPS divided by v86's.</p>
${chart}
<table class="grid"><thead><tr><th>program</th><th>vmxlab MIPS</th><th>v86 JIT</th><th>ratio</th><th>v86 interpreter</th><th>ratio</th></tr></thead><tbody>${speedRows}</tbody></table>
<h3>VM exits per host second</h3>
<p>${escapeXml(exitRatesNote(e.exitRates))}</p>
<table class="grid"><thead><tr><th>loop</th>${EXIT_RATE_COLUMNS.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${exitRows}</tbody></table>
<h3>Host memory per VM</h3>
<p>JS heap and array buffers per additional VM (slope between 1 and ${e.memory[0]?.vms ?? 0} VMs${e.gcExposed ? "" : "; garbage collection could not be forced, so the figures are noisy"}), and the hypervisor's own pages for one VM in the emulated machine.</p>
<table class="grid"><thead><tr><th>configuration</th><th>guest RAM</th><th>host per VM</th><th>beyond guest RAM</th><th>hypervisor tables</th></tr></thead><tbody>${memRows}</tbody></table>
<h3>Against the targets</h3>
<table class="grid"><thead><tr><th>figure</th><th>target</th><th>measured</th><th></th></tr></thead><tbody>${targetRows}</tbody></table>`;
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1400px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table.grid{border-collapse:collapse;margin:8px 0 16px;font-size:12px}
table.grid th,table.grid td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
table.grid th{background:#f6f6f6}table.grid td.l{text-align:left}
td.na{color:#888}td.err{color:#b00;font-weight:600}small{color:#666}
.multiples{display:flex;flex-wrap:wrap;gap:12px}.multiples svg{border:1px solid #eee}
details{margin:8px 0}code{background:#f4f4f4;padding:0 3px}`;

export function htmlReport(r: BenchResults): string {
  const m = r.matrix;
  const profile = m.profiles[0] ?? "recent";
  const h = r.host;
  const workloadList = m.workloads
    .map(
      (w) =>
        `<li><b>${escapeXml(w.name)}</b> (${w.kind}): ${escapeXml(w.title)}; one iteration = ${escapeXml(w.unit)}, ${w.iterations.toLocaleString("en-US")} iterations${w.hasBaseline ? "" : ", measured as a whole"}.</li>`,
    )
    .join("\n");
  const configList = m.configurations
    .map((c) => `<li><b>${escapeXml(c.name)}</b>: ${escapeXml(c.title)}</li>`)
    .join("\n");
  const tables = m.profiles
    .map(
      (p) =>
        `<h3>Cost model '${escapeXml(p)}'</h3>${cyclesTable(m, p)}<details><summary>Every figure per iteration (${escapeXml(p)})</summary>${detailTable(m, p)}</details>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vmxlab bench${m.quick ? " (quick)" : ""}</title>
<style>${CSS}</style>
</head>
<body>
<h1>vmxlab: VM-exit overhead across the bare machine, type-1 and hosted designs</h1>
<p>${escapeXml(h.cpu)} (${h.cores} cores), Node ${escapeXml(h.node)}, ${escapeXml(h.platform)}; ${escapeXml(r.createdAt)}${m.quick ? "; quick run (fewer iterations)" : ""}.
Modeled cycles come from the deterministic cost model (packages/cpu/src/cost-model.ts) and do not depend on this host; host times do.
Per-iteration figures are (program &minus; empty-loop baseline) / iterations.</p>
<h2>Overhead by workload and configuration</h2>
${overheadChart(m, profile)}
<h2>VM exits by reason</h2>
${exitsCharts(m, profile)}
<h2>Where the modeled time goes</h2>
${timeCharts(m, profile)}
<h2>Modeled cycles per iteration</h2>
<p>Each cell: cycles per iteration and, below, the overhead against the bare machine. Hover for exits and guest instructions.</p>
${tables}
${emulatorSection(r)}
<h2>Workloads</h2>
<ul>${workloadList}</ul>
<h2>Configurations</h2>
<ul>${configList}</ul>
</body>
</html>
`;
}
