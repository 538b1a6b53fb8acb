// The emulator's own performance, in host time: guest MIPS of the loop kernels and the C programs on
// the bare machine (side by side with v86, JIT and interpreter, on the same loops), VM exits per host
// second (a CPUID loop under the type-1 hypervisor, an OUT loop under the hosted design, each timed in a
// fresh process: exit-rate.ts), and host memory per VM beyond its guest RAM.

import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { assembleOrThrow, examplePath } from "@vmxlab/cpu";
import { HostedSystem } from "@vmxlab/hosted";
import { Hypervisor, type PagingMode } from "@vmxlab/vmm";
import { type MipsKernel, measureMips } from "../mips.js";
import { loadRegistry } from "../registry.js";
import { type LoopKind, loopKernel } from "../workloads/loops.js";
import { type ExitRate, exitRateCases, type ForkOptions, measureExitRateInForks } from "./exit-rate.js";
import { loadV86, runOnV86 } from "./v86.js";

export type { ExitRate } from "./exit-rate.js";

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
  /** How the exit-rate children are started (tests run them from the TypeScript sources). */
  fork?: ForkOptions;
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

function measureExitRates(options: EmulatorPerfOptions, perf: EmulatorPerf): void {
  for (const c of exitRateCases(options.quick ?? false)) {
    options.onProgress?.(`exits per second: ${c.name}`);
    perf.exitRates.push(measureExitRateInForks(c, options.fork));
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

function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Heap and array buffers in use once garbage is gone. V8 frees the backing stores of dead array buffers
 * on a background thread after a collection, so one reading right after gc() may still count them (a
 * freed 25 MiB machine showed up as -3 MiB per VM once): collect and read until two readings agree.
 */
async function settledBytes(gc: (() => void) | null): Promise<number> {
  let last = Number.NaN;
  for (let k = 0; k < 20; k++) {
    gc?.();
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = usedBytes();
    if (now === last) return now;
    last = now;
  }
  return last;
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
    const measure = async (vms: number) => {
      const before = await settledBytes(gc);
      const built = c.build(vms);
      const after = await settledBytes(gc);
      const result = { bytes: after - before, tablePages: built.tablePages };
      // keep the system alive until measured
      if (built.keep === null) throw new Error("unreachable");
      return result;
    };
    await measure(1); // warm-up: module-level caches, compiled code
    const one = await measure(1);
    const n = await measure(many);
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
  measureExitRates(options, perf);
  await measureMemory(options, perf);
  return perf;
}
