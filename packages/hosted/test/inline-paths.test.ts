// The hosted fast paths change host time only: the KVM module's exit fastpath (exits handled inside
// the guest's cpu.run(), KVM_RUN returning to the VMM in the same run) and the VMM library run inside
// the VMM's OUT (the CPU does not stop for it). Each system here runs twice,
// with it and with it turned off (every exit returns from cpu.run() to the loops), and everything
// must come out the same: guest
// results, exit counts, the host's context switches and per-process, per-mode CPU time, the host
// jobs' progress, the cycle count.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import type { PagingMode } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import { type HostedRunLimits, HostedSystem, type HostedVmConfig } from "../src/index.js";
import { C_BUILD, TIMER } from "./helpers.js";

const KERNEL = join(dirname(fileURLToPath(import.meta.url)), "../../vmm/examples/guest-kernel.asm");
const GUEST_KERNEL = assembleOrThrow(readFileSync(KERNEL, "utf8"), {
  fileName: KERNEL,
  readFile: (p) => readFileSync(p, "utf8"),
}).bytes;
const PRINTF = new Uint8Array(readFileSync(`${C_BUILD}/printf-O2.elf`));

/** `count` OUTs to the console port, each a round trip through the VMM process. */
const outLoop = (count: number) =>
  assembleOrThrow(`
bits 32
org 0x100000
  mov ecx, ${count}
.next:
  mov al, 'o'
  out 0xe9, al
  loop .next
  xor eax, eax
  out 0xf4, eax
`).bytes;

const OUT_LOOP = outLoop(400);
/** Host timer interrupts fall inside the VMM's device work now and then. */
const LONG_OUT_LOOP = outLoop(20_000);

/** Computation between OUTs: host timer interrupts exit from it, and the host scheduler preempts the vCPU. */
const BUSY_LOOP = assembleOrThrow(`
bits 32
org 0x100000
  mov ebx, 100
.outer:
  mov ecx, 20000
.spin:
  dec ecx
  jnz .spin
  mov al, 'b'
  out 0xe9, al
  dec ebx
  jnz .outer
  xor eax, eax
  out 0xf4, eax
`).bytes;

interface Case {
  name: string;
  images: Uint8Array[];
  paging: PagingMode;
  hostLoad: number;
  limits?: HostedRunLimits;
  /** Run in slices of this many cycles (each run() continues the last). */
  slice?: number;
}

const CASES: Case[] = [
  { name: "OUT loop, EPT", images: [OUT_LOOP], paging: "ept", hostLoad: 0 },
  { name: "OUT loop, shadow paging, 2 host jobs", images: [OUT_LOOP], paging: "shadow", hostLoad: 2 },
  { name: "20,000 OUTs and a host job, EPT", images: [LONG_OUT_LOOP], paging: "ept", hostLoad: 1 },
  { name: "two VMs and 3 host jobs, EPT", images: [OUT_LOOP, GUEST_KERNEL], paging: "ept", hostLoad: 3 },
  { name: "busy guest preempted by 2 host jobs, EPT", images: [BUSY_LOOP], paging: "ept", hostLoad: 2 },
  { name: "guest kernel, EPT, 2 host jobs", images: [GUEST_KERNEL], paging: "ept", hostLoad: 2 },
  { name: "guest kernel, shadow paging, 1 host job", images: [GUEST_KERNEL], paging: "shadow", hostLoad: 1 },
  { name: "timer interrupts and HLT, 1 host job", images: [TIMER], paging: "ept", hostLoad: 1 },
  { name: "C printf (hypercalls), shadow paging", images: [PRINTF], paging: "shadow", hostLoad: 0 },
  {
    name: "guest instruction budget ends the run",
    images: [GUEST_KERNEL],
    paging: "ept",
    hostLoad: 1,
    limits: { maxInstructions: 40_000 },
  },
  { name: "run in slices of 200k cycles", images: [OUT_LOOP, TIMER], paging: "ept", hostLoad: 2, slice: 200_000 },
];

function build(c: Case, inline: boolean): { system: HostedSystem; cpuRuns: () => number } {
  const configs: HostedVmConfig[] = c.images.map((image, i) => ({
    name: `vm${i}`,
    memoryMiB: 4,
    image,
    paging: c.paging,
  }));
  const system = new HostedSystem(configs, { hostLoad: c.hostLoad });
  system.kvm.fastpathEnabled = inline;
  const cpu = system.machine.cpu;
  const run = cpu.run.bind(cpu);
  let runs = 0;
  cpu.run = (options) => {
    runs++;
    return run(options);
  };
  return { system, cpuRuns: () => runs };
}

function runAll(c: Case, s: HostedSystem): void {
  if (c.slice === undefined) {
    expect(s.run({ maxCycles: 400_000_000, ...c.limits })).toBe("done");
    return;
  }
  for (let k = 0; k < 4000 && s.vms.some((vm) => vm.stop === null); k++) s.run({ maxCycles: c.slice, ...c.limits });
}

/** Everything a run produces that the fast paths must not change. */
function outcome(s: HostedSystem) {
  const k = s.kernel;
  return {
    cycles: k.cpu.cycles,
    instret: k.cpu.instret,
    cpl3: k.cpu.cyclesAtCpl3,
    halted: k.cpu.haltedCycles,
    vms: s.vms.map((vm) => ({
      stop: vm.stop,
      console: vm.consoleText(),
      regs: vm.finalRegs,
      stats: { ...vm.stats, exits: [...vm.stats.exits.entries()] },
      vcpu: vm.vcpu ? { ...vm.vcpu.stats } : null,
    })),
    kernel: { ...k.stats },
    time: s.time(),
    processes: k.processes.map((p) => ({
      name: p.name,
      state: p.state,
      runtime: p.runtime,
      vruntime: p.vruntime,
      instructions: p.instructions,
      switchesIn: p.switchesIn,
      time: k.timeOf(p),
    })),
    host: s.hostProgress(),
  };
}

describe("the hosted exit fastpath", () => {
  for (const c of CASES) {
    it(`${c.name}: identical with and without them, in fewer cpu.run() calls`, () => {
      const fast = build(c, true);
      const slow = build(c, false);
      runAll(c, fast.system);
      runAll(c, slow.system);
      const expected = outcome(slow.system);
      expect(outcome(fast.system)).toEqual(expected);
      for (const vm of expected.vms) expect(vm.stop).not.toBeNull();
      expect(fast.cpuRuns()).toBeLessThan(slow.cpuRuns());
    }, 120_000);
  }

  it("an OUT's round trip through the VMM takes one cpu.run(): only KVM_RUN's upcall stops the CPU", () => {
    const c = CASES[0]!;
    const fast = build(c, true);
    const slow = build(c, false);
    runAll(c, fast.system);
    runAll(c, slow.system);
    // 400 round trips (plus the VMM's start-up and exit): the library runs inside the VMM's OUT, the
    // exit goes back to the VMM inside the guest's run; without the fast paths each is a run of its own.
    expect(fast.cpuRuns()).toBeGreaterThanOrEqual(400);
    expect(fast.cpuRuns()).toBeLessThan(420);
    expect(slow.cpuRuns()).toBeGreaterThanOrEqual(3 * 400);
  });

  it("turns itself off for exit records: the same records with and without", () => {
    const records = (inline: boolean) => {
      const list: unknown[] = [];
      const s = new HostedSystem([{ name: "vm0", memoryMiB: 4, image: OUT_LOOP, paging: "ept" }], {
        hostLoad: 1,
        onExit: (r) => list.push(r),
      });
      s.kvm.fastpathEnabled = inline;
      s.run();
      return { list, outcome: outcome(s) };
    };
    const fast = records(true);
    expect(fast.list.length).toBeGreaterThan(400);
    expect(fast).toEqual(records(false));
  });
});
