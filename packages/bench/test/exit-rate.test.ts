import { COST_MODELS, V8_TUNING_FLAGS, v8TuningFlags } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import {
  exitRateCases,
  type ForkOptions,
  measureExitRateInFork,
  measureExitRateInForks,
} from "../src/perf/exit-rate.js";
import { loadRegistry } from "../src/registry.js";

// The child runs from the TypeScript sources, as the tests do: a fresh `node` process with hooks that
// transpile them (the bench itself forks the compiled dist/perf/exit-rate-child.js).
const hooks = new URL("./source-loader.mjs", import.meta.url).href;
const FROM_SOURCES: ForkOptions = {
  childModule: new URL("../src/perf/exit-rate-child.ts", import.meta.url),
  execArgv: ["--import", `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(hooks)})`],
};

// Each fork transpiles the sources as it loads them: about 7 s alone, but several times that while the
// other packages' tests share the machine's cores (74 s once on two cores), hence the longer timeout.
const FORKS_TIMEOUT = 300_000;

describe("exit rates, each in a forked process", () => {
  it("the bench's cases: CPUID under type1-ept, then OUT under hosted-ept", () => {
    expect(exitRateCases(true).map((c) => [c.workload, c.configuration, c.iterations, c.costModel])).toEqual([
      ["cpuid", "type1-ept", 2_000, "recent"],
      ["out", "hosted-ept", 2_000, "recent"],
    ]);
    expect(exitRateCases(false).map((c) => c.iterations)).toEqual([200_000, 200_000]);
    expect(exitRateCases(false).map((c) => c.forks)).toEqual([5, 5]);
    expect(exitRateCases(true).map((c) => c.forks)).toEqual([1, 1]);
    // The full run also times each loop with V8's default options, beside the tuned figure.
    expect(exitRateCases(false).map((c) => c.compareDefaultV8)).toEqual([true, true]);
    expect(exitRateCases(true).map((c) => c.compareDefaultV8)).toEqual([false, false]);
  });

  it("children run with the CLI's V8 tuning, and with V8's defaults for the comparison", () => {
    const options = { childModule: new URL("./fixtures/options-child.mjs", import.meta.url) };
    const c = { ...exitRateCases(true)[0]!, forks: 2, compareDefaultV8: true };
    const row = measureExitRateInForks(c, { ...options, v8Flags: V8_TUNING_FLAGS });
    const tunedArgv = ["--no-concurrent-recompilation", ...V8_TUNING_FLAGS];
    expect(row).toMatchObject({ execArgv: tunedArgv, v8Flags: V8_TUNING_FLAGS, forks: 2, usPerExitByFork: [4, 4] });
    // The fixture's µs per exit is 1 + its option count: 4 tuned, 2 with V8's defaults.
    expect(row.withDefaultV8).toEqual({ usPerExit: 2, exitsPerSecond: c.iterations, usPerExitByFork: [2, 2] });

    const untuned = measureExitRateInForks(c, { ...options, v8Flags: [] });
    expect(untuned).toMatchObject({ execArgv: ["--no-concurrent-recompilation"], v8Flags: [] });
    expect(untuned.withDefaultV8).toBeUndefined(); // nothing to compare against
    expect(measureExitRateInForks({ ...c, compareDefaultV8: false }, options).withDefaultV8).toBeUndefined();
    // Without v8Flags, the tuning VMXLAB_V8_TUNING allows (the CLI's).
    expect(measureExitRateInFork(c, options).v8Flags).toEqual(v8TuningFlags());
  });

  it(
    "several processes, one after another: the fastest one's row, every process's figure beside it",
    () => {
      const c = { ...exitRateCases(true)[0]!, iterations: 50, minTime: 0.01, forks: 2 };
      const row = measureExitRateInForks(c, FROM_SOURCES);
      expect(row.forks).toBe(2);
      expect(row.usPerExitByFork).toHaveLength(2);
      expect(row.usPerExit).toBe(Math.min(...row.usPerExitByFork!));
      expect(row).toMatchObject({ workload: "cpuid", configuration: "type1-ept", iterations: 50, process: "forked" });
    },
    FORKS_TIMEOUT,
  );

  it(
    "a child measures one case and returns its row: exits and modeled cycles as computed in-process",
    async () => {
      const c = { ...exitRateCases(true)[0]!, iterations: 50, minTime: 0.01 };
      const row = measureExitRateInFork(c, FROM_SOURCES);

      const registry = await loadRegistry();
      const workload = registry.workloads.find((w) => w.name === "cpuid")!;
      const config = registry.configurations.find((x) => x.name === "type1-ept")!;
      const cost = COST_MODELS.recent!;
      const sum = (exits: Record<string, number>) => Object.values(exits).reduce((s, v) => s + v, 0);
      const program = config.run(workload.program(50), { costModel: cost });
      const baseline = config.run(workload.baseline!(50), { costModel: cost });
      const exitsDelta = sum(program.exits) - sum(baseline.exits);

      expect(exitsDelta).toBe(50);
      expect(row).toMatchObject({
        name: "CPUID loop, type-1 (EPT)",
        workload: "cpuid",
        configuration: "type1-ept",
        iterations: 50,
        exits: sum(program.exits),
        modeledCyclesPerExit: (program.cycles - baseline.cycles) / exitsDelta,
        process: "forked",
      });
      // Host times are only checked for being times, never for their values.
      for (const k of ["seconds", "exitsPerSecond", "usPerExit"] as const) expect(Number.isFinite(row[k])).toBe(true);
      expect(row.seconds).toBeGreaterThan(0);
    },
    FORKS_TIMEOUT,
  );

  it("a child that fails or writes no row: one line naming the case and what the child said", () => {
    const misbehaving = { childModule: new URL("./fixtures/misbehaving-child.mjs", import.meta.url) };
    const c = exitRateCases(true)[0]!;
    expect(() => measureExitRateInFork({ ...c, name: "fails" }, misbehaving)).toThrow(
      /^exit rate 'fails': the child process exited with status 1: first line \/ second line$/,
    );
    expect(() => measureExitRateInFork({ ...c, name: "chatters" }, misbehaving)).toThrow(
      /^exit rate 'chatters': the child's output is not JSON: hello from the guest$/,
    );
    expect(() => measureExitRateInFork({ ...c, name: "half-row" }, misbehaving)).toThrow(
      /^exit rate 'half-row': the child's row lacks seconds, exitsPerSecond, usPerExit, modeledCyclesPerExit$/,
    );
  });

  it("a missing child module says so and how to build it", () => {
    const c = exitRateCases(true)[0]!;
    expect(() => measureExitRateInFork(c, { childModule: new URL("./no-such-child.js", import.meta.url) })).toThrow(
      /^exit rate 'CPUID loop, type-1 \(EPT\)': no child module .*no-such-child\.js \(build the bench: pnpm build\)$/,
    );
  });
});
