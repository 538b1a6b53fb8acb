// `vmxlab run --on hosted`: one or several programs as VMs on the type-2 path: a host OS with a
// KVM-like kernel module and one user-space VMM process per VM, optionally beside host load.

import { writeFileSync } from "node:fs";
import { type HostedExitRecord, HostedSystem, type HostedVm } from "@vmxlab/hosted";
import type { PagingMode } from "@vmxlab/vmm";
import { CliError, type Io } from "./command.js";
import { ConsoleStream, describeStop, exitJson, exitStatus, exitsByName, latin1, stopJson } from "./output.js";
import type { Program } from "./program.js";

export interface HostedCliOptions {
  memoryMiB: number;
  costModel: string;
  paging: PagingMode;
  hostLoad: number;
  load?: number;
  entry?: number;
  maxInstructions?: number;
  json: boolean;
  trace: boolean;
  traceJson?: string;
  disk?: Uint8Array;
}

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/** One --trace line per exit: where it was handled, each hop with its modeled cycles, the latency. */
export function formatHostedTraceLine(r: HostedExitRecord): string {
  const reason = `${r.name}(${r.reason & 0xffff})`;
  const insn = r.instruction ? ` ${r.instruction}` : "";
  const detail = r.detail ? ` ${r.detail}` : "";
  const hops = r.hops.map((h) => `${h.name} ${h.cycles}`).join(", ");
  return `#${r.seq} ${r.vm} ${reason}${detail} | eip ${hex8(r.guestEip)}${insn} | ${r.handledIn}: ${r.handler || r.action} | ${hops} | latency ${r.latency} cycles`;
}

/** The JSON-lines object of one exit: where it was handled, its hops, and cycles.total = its latency. */
export function hostedTraceJson(r: HostedExitRecord): Record<string, unknown> {
  return {
    ...exitJson(r),
    handledIn: r.handledIn,
    hops: r.hops,
    latency: r.latency,
    waited: r.waited,
    blocked: r.blocked,
    cycles: { total: r.latency },
  };
}

function vmJson(vm: HostedVm): Record<string, unknown> {
  const s = vm.stats;
  return {
    name: vm.name,
    stop: stopJson(vm.stop ?? { kind: "limit" }),
    console: latin1(vm.consoleBytes),
    regs: vm.finalRegs,
    instructions: s.guestInstructions,
    exits: exitsByName(s.exits),
    guestCycles: s.guestCycles,
    hypervisorCycles: s.hypervisorCycles,
    kernelCycles: s.kernelCycles,
    userCycles: s.userCycles,
    hostKernelCycles: s.hostKernelCycles,
    kernelExits: s.kernelExits,
    userExits: s.userExits,
    paging: vm.paging,
    pid: vm.process.pid,
  };
}

export function runHosted(programs: Program[], o: HostedCliOptions, io: Io): number {
  const names = new Map<string, number>();
  const configs = programs.map((p) => {
    let name = p.name.replace(/^.*\//, "").replace(/\.[^.]*$/, "") || "vm";
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}-${seen + 1}`;
    return {
      name,
      memoryMiB: o.memoryMiB,
      image: p.bytes,
      paging: o.paging,
      ...(o.load !== undefined ? { load: o.load } : p.origin !== undefined ? { load: p.origin } : {}),
      ...(o.entry !== undefined ? { entry: o.entry } : {}),
      ...(o.disk ? { disk: o.disk } : {}),
    };
  });
  const stream = new ConsoleStream(io.stdout, programs.length > 1);
  const traceLines: string[] = [];
  let system: HostedSystem;
  try {
    system = new HostedSystem(configs, {
      costModel: o.costModel,
      hostLoad: o.hostLoad,
      ...(o.json ? {} : { onConsole: (vm: HostedVm, byte: number) => stream.byte(vm.name, byte) }),
      ...(o.trace || o.traceJson
        ? {
            onExit: (r: HostedExitRecord) => {
              if (o.trace) io.stderr(`${formatHostedTraceLine(r)}\n`);
              if (o.traceJson) traceLines.push(JSON.stringify(hostedTraceJson(r)));
            },
          }
        : {}),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  system.run(o.maxInstructions !== undefined ? { maxInstructions: o.maxInstructions } : {});
  if (o.traceJson) {
    try {
      writeFileSync(o.traceJson, traceLines.length ? `${traceLines.join("\n")}\n` : "");
    } catch (error) {
      throw new CliError(`cannot write '${o.traceJson}': ${(error as Error).message}`);
    }
  }
  const status = system.vms.map((vm) => exitStatus(vm.stop ?? { kind: "limit" })).find((s) => s !== 0) ?? 0;
  const hostProcesses = system.hostProgress();
  if (o.json) {
    const vms = system.vms.map((vm) => vmJson(vm));
    const stats = system.vms.map((vm) => vm.stats);
    const total = (f: (s: (typeof stats)[number]) => number) => stats.reduce((sum, s) => sum + f(s), 0);
    const allExits = new Map<number, number>();
    for (const s of stats) for (const [r, n] of s.exits) allExits.set(r, (allExits.get(r) ?? 0) + n);
    const k = system.kernel;
    const out = {
      ...vms[0],
      instructions: stats[0]!.guestInstructions,
      cycles: k.cpu.cycles,
      exits: exitsByName(allExits),
      guestInstructions: total((s) => s.guestInstructions),
      guestCycles: total((s) => s.guestCycles),
      hypervisorCycles: total((s) => s.hypervisorCycles),
      kernelExits: total((s) => s.kernelExits),
      userExits: total((s) => s.userExits),
      contextSwitches: k.stats.contextSwitches,
      timerInterrupts: k.stats.timerInterrupts,
      idleCycles: k.stats.idleCycles,
      // Every cycle since the system started, by where it was spent (the parts sum to total).
      time: system.time(),
      hostProcesses,
      vms,
    };
    delete (out as Record<string, unknown>).name;
    delete (out as Record<string, unknown>).pid;
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    for (const vm of system.vms) {
      const s = vm.stats;
      const exits = [...s.exits.values()].reduce((a, b) => a + b, 0);
      io.stderr(
        `vmxlab: ${vm.name}: ${describeStop(vm.stop ?? { kind: "limit" })}; ${s.guestInstructions} guest instructions, ${exits} VM exits (${s.kernelExits} in the kernel, ${s.userExits} in user space), ${s.guestCycles} guest + ${s.kernelCycles} KVM module + ${s.hostKernelCycles} host kernel + ${s.userCycles} VMM user cycles\n`,
      );
    }
    const jobs = hostProcesses.map((p) => `${p.name} ${p.progress} (${p.runtime} cycles)`).join(", ");
    io.stderr(
      `vmxlab: host: ${system.contextSwitches} context switches, ${system.kernel.stats.timerInterrupts} timer interrupts${jobs ? `; host jobs: ${jobs}` : ""}\n`,
    );
  }
  return status;
}
