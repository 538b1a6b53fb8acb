// The type-1 hypervisor (packages/vmm): it owns the machine, one VM per run, with EPT or shadow paging,
// with and without VPID.

import type { PagingMode } from "@vmxlab/vmm";
import { Hypervisor } from "@vmxlab/vmm";
import type { Configuration, GuestProgram, RunCounters, RunOptions } from "../types.js";
import {
  benchVm,
  DEFAULT_MAX_INSTRUCTIONS,
  emptyTime,
  exitsByName,
  measure,
  NOVPID_QUICK_WORKLOADS,
  vmStop,
} from "./common.js";

function runner(paging: PagingMode, vpid: boolean) {
  return (program: GuestProgram, options: RunOptions): RunCounters => {
    const hv = new Hypervisor([benchVm(program, paging, vpid)], { costModel: options.costModel });
    const vm = hv.vms[0]!;
    const m = measure(hv.machine.cpu, () =>
      hv.run({ maxInstructions: program.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS }),
    );
    const s = vm.stats;
    return {
      stop: vmStop(vm.stop),
      guestInstructions: s.guestInstructions,
      cycles: m.cycles,
      exits: exitsByName(s.exits),
      userExits: 0,
      tlbMisses: m.tlbMisses,
      walkReferences: m.walkReferences,
      time: {
        ...emptyTime(),
        guest: s.guestCycles,
        hypervisor: s.hypervisorCycles,
        idle: Math.max(0, m.cycles - s.guestCycles - s.hypervisorCycles),
      },
      tablePages: hv.hostPagesFor(vm) - vm.memory.populatedPages,
      wallSeconds: m.wallSeconds,
    };
  };
}

function type1(paging: PagingMode, vpid: boolean, order: number): Configuration {
  const name = `type1-${paging}${vpid ? "" : "-novpid"}`;
  const what = paging === "ept" ? "EPT" : "shadow paging";
  return {
    name,
    family: "type1",
    paging,
    vpid,
    hostLoad: 0,
    title: `Type-1 hypervisor, ${what}${vpid ? "" : ", VPID off (TLB flushed at every entry and exit)"}`,
    order,
    // CI checks every profile on the main designs; the VPID-off variants on exit-heavy loops only.
    quick: vpid ? { allProfiles: true } : { workloads: NOVPID_QUICK_WORKLOADS },
    run: runner(paging, vpid),
  };
}

const configurations: Configuration[] = [
  type1("ept", true, 10),
  type1("shadow", true, 11),
  type1("ept", false, 12),
  type1("shadow", false, 13),
];

export default configurations;
