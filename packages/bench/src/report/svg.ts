// Hand-written SVG: one horizontal bar chart that does grouped bars (one segment per bar) and stacked bars
// (several segments), on a linear or logarithmic axis, with a legend and a <title> tooltip on every
// segment. Strings in, a string out: no DOM, no chart library.

export interface Segment {
  value: number;
  /** Legend key (its color). */
  key: string;
  /** Tooltip. */
  title: string;
}

export interface Bar {
  label: string;
  segments: Segment[];
  /** Text after the bar's end (e.g. the value); default none. */
  note?: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  /** Axis caption ("modeled cycles per iteration"). */
  axis: string;
  groups: BarGroup[];
  /** Legend order and colors. */
  legend: { key: string; label: string; color: string }[];
  scale: "linear" | "log";
  /** On a log axis, the value at the left edge (default: from the data). */
  logMin?: number;
  width?: number;
  barHeight?: number;
  /** A vertical reference line (e.g. ratio 1). */
  reference?: { value: number; label: string };
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Distinct colors (Okabe-Ito, then a few more), readable on white. */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
  "#999999",
  "#8C564B",
  "#7F3C8D",
  "#11A579",
];

export function color(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1 || a === 0) return `${+v.toPrecision(3)}`;
  return `${+v.toPrecision(2)}`;
}

const n2 = (x: number) => (Math.round(x * 10) / 10).toString();

export function barChart(chart: BarChart): string {
  const width = chart.width ?? 900;
  const barH = chart.barHeight ?? 11;
  const labelW = 190;
  const noteW = 90;
  const plotX = labelW + 10;
  const plotW = width - plotX - noteW;
  const totals = chart.groups.flatMap((g) =>
    g.bars.map((b) => b.segments.reduce((s, x) => s + Math.max(0, x.value), 0)),
  );
  const maxTotal = Math.max(0, ...totals);
  let scale: (v: number) => number;
  let ticks: number[];
  if (chart.scale === "log") {
    const positive = totals.filter((t) => t > 0);
    const lo = chart.logMin ?? 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(maxTotal, lo * 10)));
    const span = Math.log10(hi) - Math.log10(lo);
    scale = (v) => (v <= lo ? 0 : ((Math.log10(v) - Math.log10(lo)) / span) * plotW);
    // 1-2-5 ticks, thinned to powers of ten when the range is wide
    ticks = [];
    const wide = span > 3;
    for (let p = Math.floor(Math.log10(lo)); p <= Math.log10(hi) + 1e-9; p++) {
      for (const m of wide ? [1] : [1, 2, 5]) {
        const t = m * 10 ** p;
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
      }
    }
  } else {
    const step = niceStep(maxTotal || 1, 5);
    const hi = Math.max(step, Math.ceil((maxTotal || 1) / step) * step);
    scale = (v) => (Math.max(0, v) / hi) * plotW;
    ticks = [];
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  }
  const legendColumns = Math.max(1, Math.min(4, Math.floor(width / 210)));
  const legendRows = Math.ceil(chart.legend.length / legendColumns);
  const top = 28 + legendRows * 16 + 6;
  const groupGap = 8;
  let y = top;
  const body: string[] = [];
  for (const g of chart.groups) {
    // A group of several bars gets a header line; a group of one bar is labelled on the bar's line.
    // (a chart of one group has its title instead)
    const single = g.bars.length === 1 && g.bars[0]!.label === g.label;
    const header = !single && chart.groups.length > 1;
    if (header) {
      body.push(`<text x="4" y="${n2(y + barH - 1)}" class="gl">${escapeXml(g.label)}</text>`);
      y += barH + 3;
    }
    for (const b of g.bars) {
      let x = plotX;
      const cy = y;
      body.push(
        `<text x="${plotX - 6}" y="${n2(cy + barH - 2)}" text-anchor="end" class="${single ? "gl" : "bl"}">${escapeXml(b.label)}</text>`,
      );
      // On a log axis a stack is drawn in proportion to its segments inside the total's length.
      const total = b.segments.reduce((s, v) => s + Math.max(0, v.value), 0);
      const length = scale(total);
      for (const s of b.segments) {
        if (s.value <= 0) continue;
        const w = chart.scale === "log" ? (total > 0 ? (length * s.value) / total : 0) : scale(s.value);
        const c = chart.legend.find((l) => l.key === s.key)?.color ?? "#888";
        body.push(
          `<rect x="${n2(x)}" y="${n2(cy)}" width="${n2(Math.max(w, 0.5))}" height="${barH}" fill="${c}"><title>${escapeXml(s.title)}</title></rect>`,
        );
        x += w;
      }
      if (b.note) body.push(`<text x="${n2(x + 4)}" y="${n2(cy + barH - 2)}" class="note">${escapeXml(b.note)}</text>`);
      y += barH + 2;
    }
    if (!single) {
      body.push(
        `<line x1="4" x2="${width - 4}" y1="${n2(y + groupGap / 2 - 1)}" y2="${n2(y + groupGap / 2 - 1)}" class="sep"/>`,
      );
      y += groupGap;
    }
  }
  const bottom = y + 4;
  const height = bottom + 34;
  const axis: string[] = [];
  for (const t of ticks) {
    const x = plotX + scale(t);
    axis.push(`<line x1="${n2(x)}" x2="${n2(x)}" y1="${top - 4}" y2="${bottom}" class="grid"/>`);
    axis.push(`<text x="${n2(x)}" y="${bottom + 13}" text-anchor="middle" class="tick">${tickLabel(t)}</text>`);
  }
  if (chart.reference) {
    const x = plotX + scale(chart.reference.value);
    axis.push(`<line x1="${n2(x)}" x2="${n2(x)}" y1="${top - 4}" y2="${bottom}" class="ref"/>`);
    axis.push(`<text x="${n2(x + 3)}" y="${top - 6}" class="note">${escapeXml(chart.reference.label)}</text>`);
  }
  axis.push(
    `<text x="${n2(plotX + plotW / 2)}" y="${bottom + 28}" text-anchor="middle" class="axis">${escapeXml(chart.axis)}${chart.scale === "log" ? " (log scale)" : ""}</text>`,
  );
  const legend = chart.legend.map((l, i) => {
    const lx = 4 + (i % legendColumns) * ((width - 8) / legendColumns);
    const ly = 24 + Math.floor(i / legendColumns) * 16;
    return `<rect x="${n2(lx)}" y="${ly}" width="10" height="10" fill="${l.color}"/><text x="${n2(lx + 14)}" y="${ly + 9}" class="leg">${escapeXml(l.label)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${n2(height)}" viewBox="0 0 ${width} ${n2(height)}" role="img" aria-label="${escapeXml(chart.title)}">`,
    "<style>text{font:11px system-ui,sans-serif;fill:#222}.gl{font-weight:600}.bl,.note,.tick,.leg{fill:#444}.title{font-size:13px;font-weight:600}.grid{stroke:#e4e4e4}.sep{stroke:#f0f0f0}.ref{stroke:#c00;stroke-dasharray:3 2}.axis{fill:#555}</style>",
    `<text x="4" y="14" class="title">${escapeXml(chart.title)}</text>`,
    ...legend,
    ...axis,
    ...body,
    "</svg>",
  ].join("\n");
}
