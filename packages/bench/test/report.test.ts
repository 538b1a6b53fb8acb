// The outputs: terminal tables, JSON, the self-contained HTML report with its SVG charts, and the
// README figures section, from a small real run.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { BenchResults, EmulatorPerf } from "../src/index.js";
import {
  bundle,
  checkTargets,
  figuresMarkdown,
  formatReport,
  htmlReport,
  metText,
  resultsJson,
  runMatrix,
  wantsProgress,
  writeReadmeFigures,
} from "../src/index.js";
import { exitRatesNote, FIGURES_END, FIGURES_START } from "../src/report/readme.js";
import { barChart } from "../src/report/svg.js";

const emulator: EmulatorPerf = {
  speed: [
    {
      kernel: "register loop (add/xor/dec/jnz)",
      vmxlab: { mips: 100, seconds: 0.2, instructions: 2e7, samples: 5, rme: 1.5 },
      v86Jit: { mips: 1000, seconds: 1, instructions: 1e9, samples: 1, rme: 0 },
      v86Interpreter: { mips: 80, seconds: 1, instructions: 8e7, samples: 1, rme: 0 },
    },
  ],
  v86: { available: true, version: "0.5.462" },
  exitRates: [
    {
      name: "CPUID loop, type-1 (EPT)",
      workload: "cpuid",
      configuration: "type1-ept",
      iterations: 100,
      exits: 101,
      seconds: 0.001,
      exitsPerSecond: 101_000,
      usPerExit: 9.5,
      modeledCyclesPerExit: 1040,
    },
  ],
  memory: [
    {
      configuration: "type1-ept",
      guestMiB: 8,
      vms: 9,
      hostMiBPerVm: 8.3,
      overheadMiBPerVm: 0.3,
      tableKiBPerVm: 32,
    },
  ],
  gcExposed: true,
};

let results: BenchResults;

beforeAll(async () => {
  const matrix = await runMatrix({
    quick: true,
    only: ["cpuid", "vmcall", "out", "type1-ept", "hosted-ept", "recent"],
    sampleHostTime: false,
  });
  results = bundle(matrix, emulator);
}, 120_000);

describe("reports", () => {
  it("terminal tables: modeled cycles with overheads, exits by reason, n/a cells, the emulator section", () => {
    const text = formatReport(results);
    expect(text).toMatch(/cpuid\s+40\s+1,040 \(26\.0x\)\s+1,040 \(26\.0x\)/);
    expect(text).toMatch(/out\s+100\s+1,240 \(12\.4x\)\s+3,666 \(36\.7x\)/);
    expect(text).toMatch(/vmcall\s+n\/a\s+1,080 \(-\)/);
    expect(text).toMatch(/Not applicable:\n {2}vmcall: VMCALL outside VMX non-root operation is #UD/);
    expect(text).toMatch(/cpuid\s+1 CPUID\s+1 CPUID/);
    expect(text).toMatch(/register loop \(add\/xor\/dec\/jnz\)\s+100\s+1\.5\s+1000\s+0\.10x\s+80\.0\s+1\.25x/);
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(120);
  });

  it("JSON: everything, parseable", () => {
    const back = JSON.parse(resultsJson(results)) as BenchResults;
    expect(back.matrix.cells).toHaveLength(results.matrix.cells.length);
    const cell = back.matrix.cells.find((c) => c.workload === "out" && c.configuration === "hosted-ept")!;
    expect(cell.perIteration!.exits).toEqual({ IO_INSTRUCTION: 1 });
    expect(cell.perIteration!.userExits).toBe(1);
    expect(cell.overhead).toBeCloseTo(36.66, 2);
  });

  it("HTML: self-contained, with the three kinds of charts", () => {
    const html = htmlReport(results);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    expect(html.match(/<svg/g)?.length).toBe(html.match(/<\/svg>/g)?.length);
    expect(html).toMatch(/Overhead against the bare machine/);
    expect(html).toMatch(/VM exits per iteration/);
    expect(html).toMatch(/modeled cycles per iteration/);
    expect(html).toMatch(/<title>out on hosted-ept: 1 IO_INSTRUCTION exits per iteration<\/title>/);
    expect(html).toMatch(/Guest MIPS on the bare machine/);
  });

  it("SVG bars: log and linear axes, escaped text", () => {
    const svg = barChart({
      title: "a <b> & c",
      axis: "x",
      groups: [{ label: "g", bars: [{ label: "one", segments: [{ value: 50, key: "k", title: "fifty" }] }] }],
      legend: [{ key: "k", label: "key", color: "#000" }],
      scale: "log",
    });
    expect(svg).toMatch(/a &lt;b&gt; &amp; c/);
    expect(svg).toMatch(/<title>fifty<\/title>/);
    expect(svg).toMatch(/\(log scale\)/);
  });

  it("README figures: generated between the markers, the rest untouched", () => {
    const dir = mkdtempSync(join(tmpdir(), "vmxlab-readme-"));
    const path = join(dir, "README.md");
    writeFileSync(path, `# title\n\n${FIGURES_START}\nold\n${FIGURES_END}\n\nafter\n`);
    writeReadmeFigures(results, path);
    const text = readFileSync(path, "utf8");
    expect(text.startsWith("# title\n\n<!-- figures:start -->\n")).toBe(true);
    expect(text).not.toMatch(/\nold\n/);
    expect(text).toMatch(/after\n$/);
    expect(text).toContain(results.host.cpu);
    expect(figuresMarkdown(results)).toMatch(/\| cpuid \| 40 \| 1,040 \(26\.0x\) \| 1,040 \(26\.0x\) \|/);
  });

  it("the exit-rate note says how the rows were timed: forked, or in the bench's process in older results", () => {
    const forked = emulator.exitRates.map((x) => ({ ...x, process: "forked" as const }));
    expect(exitRatesNote(forked)).toBe(
      "Each loop timed in a fresh Node process of its own, so what else the bench ran does not shape its figure.",
    );
    expect(exitRatesNote(emulator.exitRates)).toBe(
      "Timed inside the bench's process (results from before the exit rates were forked).",
    );
    expect(figuresMarkdown(results)).toContain("### VM exits per host second\n\nTimed inside the bench's process");
    const fiveForks = forked.map((x) => ({ ...x, forks: 5, usPerExitByFork: [9.8, 9.5, 12.25, 9.6, 9.7] }));
    expect(exitRatesNote(fiveForks)).toBe(
      "Each loop timed in 5 fresh Node processes, one after another, so what else the bench ran does not shape its figure; the row is the fastest process's, and every process's figure is beside it.",
    );
    const withForks = { ...results, emulator: { ...emulator, exitRates: fiveForks } };
    expect(figuresMarkdown(withForks)).toContain(
      "| CPUID loop, type-1 (EPT) | 101.0k | 9.50 | 9.80, 9.50, 12.25, 9.60, 9.70 | 1,040 |",
    );
    expect(figuresMarkdown(results)).toContain("| CPUID loop, type-1 (EPT) | 101.0k | 9.50 | - | 1,040 |");
    expect(formatReport(withForks)).toMatch(/9\.80, 9\.50, 12\.25, 9\.60, 9\.70/);
    expect(htmlReport(withForks)).toContain("<td>9.80, 9.50, 12.25, 9.60, 9.70</td>");
  });

  it("the V8 tuning the children ran with, and the figure with V8's defaults, in every report", () => {
    const flags = ["--max-inlined-bytecode-size=1000", "--max-inlined-bytecode-size-cumulative=3000"];
    const tuned = emulator.exitRates.map((x) => ({
      ...x,
      process: "forked" as const,
      v8Flags: flags,
      withDefaultV8: { usPerExit: 12.5, exitsPerSecond: 80e3, usPerExitByFork: [12.5, 13] },
    }));
    expect(exitRatesNote(tuned)).toBe(
      "Each loop timed in a fresh Node process of its own, so what else the bench ran does not shape its figure. The processes run with V8's inlining budgets raised as the vmxlab CLI runs (--max-inlined-bytecode-size=1000 --max-inlined-bytecode-size-cumulative=3000; packages/cpu/src/host-tuning.ts), and again with V8's defaults for the last column.",
    );
    const untuned = tuned.map(({ withDefaultV8: _, ...x }) => ({ ...x, v8Flags: [] }));
    expect(exitRatesNote(untuned)).toMatch(/The processes run with V8's default options \(VMXLAB_V8_TUNING=off\)\.$/);
    const withTuning = { ...results, emulator: { ...emulator, exitRates: tuned } };
    expect(figuresMarkdown(withTuning)).toContain(
      "| loop | exits/s | µs per exit | µs per exit in each process | modeled cycles per exit | µs per exit, V8's defaults (each process) |",
    );
    expect(figuresMarkdown(withTuning)).toContain(
      "| CPUID loop, type-1 (EPT) | 101.0k | 9.50 | - | 1,040 | 12.50 (12.50, 13.00) |",
    );
    expect(formatReport(withTuning)).toContain("12.50 (12.50, 13.00)");
    expect(htmlReport(withTuning)).toContain("<td>12.50 (12.50, 13.00)</td>");
    expect(htmlReport(withTuning)).toContain("<th>µs per exit, V8&#39;s defaults (each process)</th>");
    // The first line says what the bench's own process ran with (older results said nothing).
    const host = (v8Flags: string[]) => ({ ...results, host: { ...results.host, v8Flags } });
    expect(figuresMarkdown(host(flags))).toContain(
      `Node ${results.host.node} with --max-inlined-bytecode-size=1000 --max-inlined-bytecode-size-cumulative=3000, `,
    );
    expect(figuresMarkdown(host([]))).toContain(`Node ${results.host.node} with V8's default options, `);
    const { v8Flags: _, ...olderHost } = results.host;
    expect(figuresMarkdown({ ...results, host: olderHost })).toContain(`Node ${results.host.node}, `);
  });

  it("the targets: met, not met, or not measured (never counted as met), in every report", () => {
    const checks = checkTargets(emulator);
    expect(checks.map((t) => [t.figure, t.target, t.measured, metText(t)])).toEqual([
      ["Guest MIPS, register loop (bare machine)", "at least 150 MIPS", "100 MIPS", "not met"],
      ["Guest MIPS, load/store loop with paging on (bare machine)", "at least 100 MIPS", "not measured", "-"],
      ["CPUID exit round trip, type-1 (EPT): host time per exit", "at most 0.30 µs", "9.50 µs", "not met"],
      ["CPUID loop, type-1 (EPT): VM exits per host second", "at least 3.3M", "101.0k", "not met"],
      ["OUT round trip through user space, hosted (EPT): host time per exit", "at most 1.00 µs", "not measured", "-"],
      ["OUT loop, hosted (EPT): VM exits per host second", "at least 1.0M", "not measured", "-"],
      ["Host memory per VM beyond its guest RAM (largest configuration)", "at most 2 MiB", "0.30 MiB", "met"],
    ]);
    const fast = {
      ...emulator,
      exitRates: [{ ...emulator.exitRates[0]!, usPerExit: 0.3, exitsPerSecond: 3.3e6 }],
    };
    expect(
      checkTargets(fast)
        .filter((t) => t.figure.startsWith("CPUID"))
        .map(metText),
    ).toEqual(["met", "met"]);
    expect(figuresMarkdown(results)).toContain(
      "| CPUID exit round trip, type-1 (EPT): host time per exit | at most 0.30 µs | 9.50 µs | not met |",
    );
    expect(formatReport(results)).toMatch(
      /Host memory per VM beyond its guest RAM \(largest configuration\)\s+at most 2 MiB\s+0\.30 MiB\s+met/,
    );
    expect(htmlReport(results)).toContain('<td class="err">not met</td>');
  });

  it("progress only on a terminal outside CI", () => {
    expect(wantsProgress(true, {})).toBe(true);
    expect(wantsProgress(true, { CI: "true" })).toBe(false);
    expect(wantsProgress(false, {})).toBe(false);
    expect(wantsProgress(undefined, {})).toBe(false);
  });
});
