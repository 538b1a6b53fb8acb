// `vmxlab run --on hosted`: one or several programs as VMs on the type-2 path: a host OS with a
// KVM-like kernel module and one user-space VMM process per VM, optionally beside host load.

import { type HostedExitRecord, HostedSystem, type HostedVm } from "@vmxlab/hosted";
import type { Io } from "./command.js";
import { describeStop, exitJson, traceLineHead } from "./output.js";
import type { Program } from "./program.js";
import {
  exitTotal,
  runJsonHead,
  runVms,
  sumOver,
  type VmListeners,
  type VmRunOptions,
  vmConfigs,
  vmJsonHead,
  vmStop,
  vmsExitStatus,
} from "./run-vms.js";

export interface HostedCliOptions extends VmRunOptions {
  hostLoad: number;
}

/** One --trace line per exit: where it was handled, each hop with its modeled cycles, the latency. */
export function formatHostedTraceLine(r: HostedExitRecord): string {
  const hops = r.hops.map((h) => `${h.name} ${h.cycles}`).join(", ");
  return `${traceLineHead(r)}${r.handledIn}: ${r.handler || r.action} | ${hops} | latency ${r.latency} cycles`;
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
    ...vmJsonHead(vm, s, vm.finalRegs),
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
  const configs = vmConfigs(programs, o, {});
  const trace = { line: formatHostedTraceLine, json: hostedTraceJson };
  const system = runVms(
    programs,
    o,
    io,
    trace,
    (listeners: VmListeners<HostedVm, HostedExitRecord>) =>
      new HostedSystem(configs, { costModel: o.costModel, hostLoad: o.hostLoad, ...listeners }),
  );
  const status = vmsExitStatus(system.vms);
  const hostProcesses = system.hostProgress();
  if (o.json) {
    const vms = system.vms.map((vm) => vmJson(vm));
    const stats = system.vms.map((vm) => vm.stats);
    const k = system.kernel;
    const out = {
      ...runJsonHead(vms, stats, k.cpu.cycles),
      kernelExits: sumOver(stats, (s) => s.kernelExits),
      userExits: sumOver(stats, (s) => s.userExits),
      contextSwitches: k.stats.contextSwitches,
      timerInterrupts: k.stats.timerInterrupts,
      idleCycles: k.stats.idleCycles,
      // Every cycle since the system started, by where it was spent (the parts sum to total).
      time: system.time(),
      hostProcesses,
      vms,
    };
    delete (out as Record<string, unknown>).pid;
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    for (const vm of system.vms) {
      const s = vm.stats;
      io.stderr(
        `vmxlab: ${vm.name}: ${describeStop(vmStop(vm))}; ${s.guestInstructions} guest instructions, ${exitTotal(s)} VM exits (${s.kernelExits} in the kernel, ${s.userExits} in user space), ${s.guestCycles} guest + ${s.kernelCycles} KVM module + ${s.hostKernelCycles} host kernel + ${s.userCycles} VMM user cycles\n`,
      );
    }
    const jobs = hostProcesses.map((p) => `${p.name} ${p.progress} (${p.runtime} cycles)`).join(", ");
    io.stderr(
      `vmxlab: host: ${system.contextSwitches} context switches, ${system.kernel.stats.timerInterrupts} timer interrupts${jobs ? `; host jobs: ${jobs}` : ""}\n`,
    );
  }
  return status;
}
