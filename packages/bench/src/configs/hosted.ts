// The hosted (type-2) design (packages/hosted): a host OS kernel with a KVM-like module and a user-space
// VMM process per VM; optionally background host processes competing for the CPU (hostLoad: one
// CPU-bound and one I/O-bound job).

import { HostedSystem } from "@vmxlab/hosted";
import type { PagingMode } from "@vmxlab/vmm";
import type { Configuration, GuestProgram, RunCounters, RunOptions } from "../types.js";
import { benchVm, DEFAULT_MAX_INSTRUCTIONS, exitsByName, measure, NOVPID_QUICK_WORKLOADS, vmStop } from "./common.js";

/** Background jobs of the "-load" configurations. */
export const HOST_LOAD = 2;

/** What the "-load" configurations run in --quick. */
const LOAD_WORKLOADS = ["guest-kernel"];

function runner(paging: PagingMode, vpid: boolean, hostLoad: number) {
  return (program: GuestProgram, options: RunOptions): RunCounters => {
    const sys = new HostedSystem([benchVm(program, paging, vpid)], { costModel: options.costModel, hostLoad });
    const vm = sys.vms[0]!;
    const m = measure(sys.machine.cpu, () =>
      sys.run({ maxInstructions: program.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS }),
    );
    const s = vm.stats;
    // Every cycle of the run by where it was spent (packages/hosted/src/cpu-time.ts): the parts sum to cycles.
    const t = sys.time();
    return {
      stop: vmStop(vm.stop),
      guestInstructions: s.guestInstructions,
      cycles: m.cycles,
      exits: exitsByName(s.exits),
      userExits: s.userExits,
      tlbMisses: m.tlbMisses,
      walkReferences: m.walkReferences,
      time: {
        guest: t.guest,
        hypervisor: t.kvm,
        hostKernel: t.hostKernel,
        userVmm: t.userVmm,
        otherProcesses: t.otherProcesses,
        idle: t.idle,
      },
      tablePages: vm.vcpu ? vm.vcpu.vm.mmu.tablePages + 2 : 0,
      wallSeconds: m.wallSeconds,
    };
  };
}

function hosted(paging: PagingMode, vpid: boolean, hostLoad: number, order: number): Configuration {
  const name = `hosted-${paging}${hostLoad ? "-load" : ""}${vpid ? "" : "-novpid"}`;
  const what = paging === "ept" ? "EPT" : "shadow paging";
  return {
    name,
    family: "hosted",
    paging,
    vpid,
    hostLoad,
    title: `Hosted (host kernel + KVM-like module + user-space VMM), ${what}${
      hostLoad ? `, ${hostLoad} background host processes` : ""
    }${vpid ? "" : ", VPID off"}`,
    order,
    // In CI: every profile on the main designs; with host load only the guest kernel, which is long
    // enough to span many host scheduler slices (quick loops fit inside one and show nothing of the load).
    quick: hostLoad
      ? { workloads: LOAD_WORKLOADS }
      : vpid
        ? { allProfiles: true }
        : { workloads: NOVPID_QUICK_WORKLOADS },
    run: runner(paging, vpid, hostLoad),
  };
}

const configurations: Configuration[] = [
  hosted("ept", true, 0, 20),
  hosted("shadow", true, 0, 21),
  hosted("ept", true, HOST_LOAD, 22),
  hosted("shadow", true, HOST_LOAD, 23),
  hosted("ept", false, 0, 24),
];

export default configurations;
