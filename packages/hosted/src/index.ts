// @vmxlab/hosted: the type-2 path. A host OS kernel in VMX root operation on the emulated CPU, with
// processes, a fair scheduler and system calls; a KVM-like kernel module; and one user-space VMM
// process per VM that reuses packages/vmm's device models.

export type { HostTime, ProcessTime, TimeMode } from "./cpu-time.js";
export type { KernelHooks, KernelOptions, KernelStats, ProcessKind, ProcessState } from "./kernel.js";
export { HostKernel, Process } from "./kernel.js";
export type { Hop, HopName, HostedExitRecord, VcpuStats, VmPlatform } from "./kvm.js";
export { KvmModule, KvmVcpu, KvmVm } from "./kvm.js";
export * as hostedLayout from "./layout.js";
export { cpuBoundSource, ioBoundSource, kernelSource, vmmSource } from "./programs.js";
export type { SchedEntity, SchedulerParams } from "./scheduler.js";
export { FairScheduler } from "./scheduler.js";
export type {
  HostedOptions,
  HostedPausePoint,
  HostedRunLimits,
  HostedVmConfig,
  HostedVmStats,
  HostJobKind,
  HostProcessInfo,
} from "./system.js";
export { HostedSystem, HostedVm } from "./system.js";
export { UserGuestRam, VmmUserSpace } from "./vmm-lib.js";
