// @vmxlab/bench: emulator speed and VM-exit overhead across designs.

export type { BaselineFile, ModeledCell, ModeledRun } from "./baseline.js";
export { BASELINE_PATH, compareSnapshots, readBaseline, snapshot, UPDATE_COMMAND, writeBaseline } from "./baseline.js";
export type { BenchCommandOptions } from "./bench.js";
export { EMULATOR_SECTION, README_PATH, runBenchCommand, wantsProgress } from "./bench.js";
export type { LoopWorkloadSpec } from "./harness/loop-workload.js";
export { loopWorkload, needsHypervisor } from "./harness/loop-workload.js";
export type { HarnessOptions, HarnessParts } from "./harness/nano.js";
export { describeHarnessExit, harnessProgram, harnessSource, LAYOUT } from "./harness/nano.js";
export type { MipsKernel, MipsResult } from "./mips.js";
export { measureMips, mipsKernels, runKernel } from "./mips.js";
export type { EmulatorPerf, EmulatorPerfOptions, MemoryRow, SpeedRow } from "./perf/emulator.js";
export { measureEmulator } from "./perf/emulator.js";
export type { ExitRate, ExitRateCase, ForkOptions } from "./perf/exit-rate.js";
export { exitRateCases, measureExitRate, measureExitRateInFork, measureExitRateInForks } from "./perf/exit-rate.js";
export type { TargetCheck } from "./perf/targets.js";
export { checkTargets, metText } from "./perf/targets.js";
export type { Registry } from "./registry.js";
export { loadConfigurations, loadRegistry, loadWorkloads, moduleFiles } from "./registry.js";
export { htmlReport } from "./report/html.js";
export { figuresMarkdown, writeReadmeFigures } from "./report/readme.js";
export type { BenchResults, HostInfo } from "./report/results.js";
export { bundle, cellOf, hostInfo, resultsJson } from "./report/results.js";
export { formatReport } from "./report/table.js";
export type {
  BuiltPrograms,
  CellResult,
  ConfigurationInfo,
  HostTiming,
  MatrixOptions,
  MatrixResults,
  PerIteration,
  ProgressEvent,
  WorkloadInfo,
} from "./runner.js";
export { buildPrograms, computeOverheads, runCell, runMatrix, selectMatrix } from "./runner.js";
export type {
  Configuration,
  Family,
  GuestProgram,
  Paging,
  RunCounters,
  RunOptions,
  TimeBreakdown,
  Workload,
  WorkloadKind,
} from "./types.js";
export { TIME_CATEGORIES } from "./types.js";
export type { LoopKind } from "./workloads/loops.js";
export { loadStoreLoop, loopKernel, multibootLoopKernel, registerLoop } from "./workloads/loops.js";
