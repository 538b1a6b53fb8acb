// `vmxlab run --on type1`: one or several programs as VMs on the bare-metal hypervisor.

import { type ExitRecord, Hypervisor, type Vm } from "@vmxlab/vmm";
import type { Io } from "./command.js";
import { describeStop, exitJson, traceLineHead } from "./output.js";
import type { Program } from "./program.js";
import {
  exitTotal,
  runJsonHead,
  runVms,
  type VmListeners,
  type VmRunOptions,
  vmConfigs,
  vmJsonHead,
  vmStop,
  vmsExitStatus,
} from "./run-vms.js";

export interface Type1Options extends VmRunOptions {
  /** Back guest RAM on first touch (EPT violations). */
  lazyMemory?: boolean;
}

/** One --trace line per exit. */
export function formatTraceLine(r: ExitRecord): string {
  return `${traceLineHead(r)}${r.handler || r.action} | ${r.cycles.total} cycles`;
}

/** The JSON-lines object of one exit (vmxlab run --trace-json). */
export function traceJson(r: ExitRecord): Record<string, unknown> {
  return { ...exitJson(r), cycles: r.cycles };
}

function vmJson(hv: Hypervisor, vm: Vm): Record<string, unknown> {
  return { ...vmJsonHead(vm, vm.stats, vm.finalRegs ?? hv.guestRegisters(vm)), paging: vm.paging };
}

export function runType1(programs: Program[], o: Type1Options, io: Io): number {
  const configs = vmConfigs(programs, o, o.lazyMemory ? { lazyMemory: true } : {});
  const trace = { line: formatTraceLine, json: traceJson };
  const hv = runVms(
    programs,
    o,
    io,
    trace,
    (listeners: VmListeners<Vm, ExitRecord>) => new Hypervisor(configs, { costModel: o.costModel, ...listeners }),
  );
  const status = vmsExitStatus(hv.vms);
  if (o.json) {
    const vms = hv.vms.map((vm) => vmJson(hv, vm));
    const out = {
      ...runJsonHead(
        vms,
        hv.vms.map((vm) => vm.stats),
        hv.machine.cpu.cycles,
      ),
      vms,
    };
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    for (const vm of hv.vms) {
      io.stderr(
        `vmxlab: ${vm.name}: ${describeStop(vmStop(vm))}; ${vm.stats.guestInstructions} guest instructions, ${exitTotal(vm.stats)} VM exits, ${vm.stats.guestCycles} guest + ${vm.stats.hypervisorCycles} hypervisor cycles\n`,
      );
    }
  }
  return status;
}
