// The emulator's own performance, in host time: guest MIPS of the loop kernels and the C programs on
// the bare machine (side by side with v86, JIT and interpreter, on the same loops), VM exits per host
// second (a CPUID loop under the type-1 hypervisor, an OUT loop under the hosted design), and host
// memory per VM beyond its guest RAM.

import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { assembleOrThrow, COST_MODELS, examplePath } from "@vmxlab/cpu";
import { HostedSystem } from "@vmxlab/hosted";
import { Hypervisor, type PagingMode } from "@vmxlab/vmm";
import { type MipsKernel, measureMips } from "../mips.js";
import { loadRegistry } from "../registry.js";
import { type LoopKind, loopKernel } from "../workloads/loops.js";
import { sampleRuns } from "./sample.js";
import { loadV86, runOnV86 } from "./v86.js";

export interface EngineSpeed {
  mips: number;
  seconds: number;
  instructions: number;
  /** benchmark.js samples and relative margin of error (percent); 1 and 0 for a single timed run. */
  samples: number;
  rme: number;
}

export interface SpeedRow {
  kernel: string;
  vmxlab: EngineSpeed;
  v86Jit: EngineSpeed | null;
  v86Interpreter: EngineSpeed | null;
}

export interface ExitRate {
  /** "CPUID loop, type1-ept". */
  name: string;
  workload: string;
  configuration: string;
  iterations: number;
  exits: number;
  /**
   * Host seconds inside the fastest run of the loop program (benchmark.js samples; machine creation
   * excluded; the fastest, because load from elsewhere on the machine only adds time).
   */
  seconds: number;
  exitsPerSecond: number;
  /**
   * Host µs per loop iteration beyond the empty loop (fastest runs of both): what one exit round trip
   * costs the emulator.
   */
  usPerExit: number;
  /** The same round trip in modeled cycles (for scale: real hardware takes about 1,000-1,500). */
  modeledCyclesPerExit: number;
}

export interface MemoryRow {
  configuration: string;
  guestMiB: number;
  vms: number;
  /** JS heap + array buffers per additional VM, in MiB (slope between 1 VM and `vms` VMs). */
  hostMiBPerVm: number;
  /** hostMiBPerVm minus the guest RAM: what a VM costs beyond its memory. */
  overheadMiBPerVm: number;
  /** The hypervisor's own pages for the VM in the emulated machine (EPT or shadow tables, VMCS, ...), KiB. */
  tableKiBPerVm: number;
}

export interface EmulatorPerf {
  speed: SpeedRow[];
  v86: { available: boolean; version?: string; error?: string };
  exitRates: ExitRate[];
  memory: MemoryRow[];
  /** Whether garbage collection could be forced for the memory figures (else they are noisier). */
  gcExposed: boolean;
}

export interface EmulatorPerfOptions {
  quick?: boolean;
  /** Skip v86 (e.g. in tests). */
  skipV86?: boolean;
  onProgress?: (label: string) => void;
}

const C_PROGRAMS = ["crc32-O2.elf", "mix-O2.elf", "printf-O2.elf", "sieve-O2.elf", "sort-O2.elf"];

function loopName(kind: LoopKind): string {
  return kind === "register" ? "register loop (add/xor/dec/jnz)" : "load/store loop, paging on";
}

async function measureSpeed(options: EmulatorPerfOptions, perf: EmulatorPerf): Promise<void> {
  const quick = options.quick ?? false;
  const minTime = quick ? 0.3 : 2;
  const kinds: LoopKind[] = ["register", "load-store"];
  const ours: MipsKernel[] = kinds.map((kind) => ({
    name: loopName(kind),
    image: assembleOrThrow(loopKernel(kind, quick ? 500_000 : 5_000_000)).bytes,
  }));
  for (const name of C_PROGRAMS) {
    ours.push({ name: `${name} (gcc -O2)`, image: new Uint8Array(readFileSync(examplePath(`c/build/${name}`))) });
  }
  options.onProgress?.("emulator speed: our loops and C programs");
  const mine = measureMips(ours, minTime);
  for (const r of mine) {
    perf.speed.push({
      kernel: r.name,
      vmxlab: {
        mips: r.mips,
        seconds: r.meanSeconds,
        instructions: r.instructionsPerRun,
        samples: r.samples,
        rme: r.rme,
      },
      v86Jit: null,
      v86Interpreter: null,
    });
  }
  if (options.skipV86) {
    perf.v86 = { available: false, error: "skipped" };
    return;
  }
  const v86 = await loadV86();
  if ("error" in v86) {
    perf.v86 = { available: false, error: v86.error };
    return;
  }
  perf.v86 = { available: true, version: v86.version };
  // Long enough runs that v86's JIT (which compiles asynchronously) reaches its steady state.
  const counts: Record<LoopKind, { jit: number; interpreter: number }> = quick
    ? {
        register: { jit: 25_000_000, interpreter: 2_500_000 },
        "load-store": { jit: 20_000_000, interpreter: 2_000_000 },
      }
    : {
        register: { jit: 300_000_000, interpreter: 25_000_000 },
        "load-store": { jit: 200_000_000, interpreter: 20_000_000 },
      };
  try {
    for (const kind of kinds) {
      const row = perf.speed.find((r) => r.kernel === loopName(kind))!;
      for (const jit of [true, false]) {
        options.onProgress?.(`v86 ${jit ? "JIT" : "interpreter"}: ${loopName(kind)}`);
        const run = await runOnV86(v86, kind, jit ? counts[kind].jit : counts[kind].interpreter, jit);
        const speed: EngineSpeed = {
          mips: run.mips,
          seconds: run.seconds,
          instructions: run.instructions,
          samples: 1,
          rme: 0,
        };
        if (jit) row.v86Jit = speed;
        else row.v86Interpreter = speed;
      }
    }
  } catch (error) {
    perf.v86 = {
      available: false,
      version: v86.version,
      error: `v86 failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

async function measureExitRates(options: EmulatorPerfOptions, perf: EmulatorPerf): Promise<void> {
  const registry = await loadRegistry();
  const quick = options.quick ?? false;
  const cases = [
    { workload: "cpuid", configuration: "type1-ept", name: "CPUID loop, type-1 (EPT)" },
    { workload: "out", configuration: "hosted-ept", name: "OUT loop, hosted (EPT), user-space round trip" },
  ];
  const cost = COST_MODELS.recent!;
  for (const c of cases) {
    const workload = registry.workloads.find((w) => w.name === c.workload);
    const config = registry.configurations.find((x) => x.name === c.configuration);
    if (!workload || !config || !workload.baseline) continue;
    options.onProgress?.(`exits per second: ${c.name}`);
    // Long loops, so the machine's creation and warm-up (also in the baseline, but noisy) are small
    // beside the exits themselves.
    const n = quick ? 2_000 : 200_000;
    const program = workload.program(n);
    const baseline = workload.baseline(n);
    const first = config.run(program, { costModel: cost });
    const base = config.run(baseline, { costModel: cost });
    const exits = Object.values(first.exits).reduce((s, v) => s + v, 0);
    const exitsDelta = exits - Object.values(base.exits).reduce((s, v) => s + v, 0);
    const minTime = quick ? 0.2 : 1.5;
    const p = sampleRuns(() => config.run(program, { costModel: cost }), minTime, 3);
    const b = sampleRuns(() => config.run(baseline, { costModel: cost }), minTime, 3);
    perf.exitRates.push({
      name: c.name,
      workload: c.workload,
      configuration: c.configuration,
      iterations: n,
      exits,
      seconds: p.fastestRunSeconds,
      exitsPerSecond: exits / p.fastestRunSeconds,
      // The loop's fastest run against the empty loop's: machine creation is outside both.
      usPerExit: ((p.fastestRunSeconds - b.fastestRunSeconds) / Math.max(1, exitsDelta)) * 1e6,
      modeledCyclesPerExit: (first.cycles - base.cycles) / Math.max(1, exitsDelta),
    });
  }
}

/** A function that forces a full garbage collection, if the runtime lets us have one. */
function gcFunction(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return g;
  try {
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    return typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

function usedBytes(gc: (() => void) | null): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface MemoryCase {
  configuration: string;
  build: (vms: number) => { keep: unknown; tablePages: number };
}

async function measureMemory(options: EmulatorPerfOptions, perf: EmulatorPerf): Promise<void> {
  const registry = await loadRegistry();
  const callRet = registry.workloads.find((w) => w.name === "call-ret");
  if (!callRet) return;
  const program = callRet.program(100);
  const guestMiB = program.memoryMiB;
  const gc = gcFunction();
  perf.gcExposed = gc !== null;
  const type1 = (paging: PagingMode): MemoryCase => ({
    configuration: `type1-${paging}`,
    build: (vms) => {
      const hv = new Hypervisor(
        Array.from({ length: vms }, (_, i) => ({ name: `vm${i}`, memoryMiB: guestMiB, image: program.image, paging })),
      );
      hv.run();
      const vm = hv.vms[0]!;
      return { keep: hv, tablePages: hv.hostPagesFor(vm) - vm.memory.populatedPages };
    },
  });
  const hosted = (paging: PagingMode): MemoryCase => ({
    configuration: `hosted-${paging}`,
    build: (vms) => {
      const sys = new HostedSystem(
        Array.from({ length: vms }, (_, i) => ({ name: `vm${i}`, memoryMiB: guestMiB, image: program.image, paging })),
      );
      sys.run();
      const vcpu = sys.vms[0]!.vcpu;
      return { keep: sys, tablePages: vcpu ? vcpu.vm.mmu.tablePages + 2 : 0 };
    },
  });
  const cases = [type1("ept"), type1("shadow"), hosted("ept"), hosted("shadow")];
  const many = options.quick ? 5 : 9;
  for (const c of cases) {
    if (!registry.configurations.some((x) => x.name === c.configuration)) continue;
    options.onProgress?.(`memory per VM: ${c.configuration}`);
    const measure = (vms: number) => {
      const before = usedBytes(gc);
      const built = c.build(vms);
      const after = usedBytes(gc);
      const result = { bytes: after - before, tablePages: built.tablePages };
      // keep the system alive until measured
      if (built.keep === null) throw new Error("unreachable");
      return result;
    };
    measure(1); // warm-up: module-level caches, compiled code
    const one = measure(1);
    const n = measure(many);
    const perVm = (n.bytes - one.bytes) / (many - 1) / (1 << 20);
    perf.memory.push({
      configuration: c.configuration,
      guestMiB,
      vms: many,
      hostMiBPerVm: perVm,
      overheadMiBPerVm: perVm - guestMiB,
      tableKiBPerVm: one.tablePages * 4,
    });
  }
}

export async function measureEmulator(options: EmulatorPerfOptions = {}): Promise<EmulatorPerf> {
  const perf: EmulatorPerf = { speed: [], v86: { available: false }, exitRates: [], memory: [], gcExposed: false };
  await measureSpeed(options, perf);
  await measureExitRates(options, perf);
  await measureMemory(options, perf);
  return perf;
}
