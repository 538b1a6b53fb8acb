// A hosted (type-2) system: the host kernel with the KVM-like module, one user-space VMM process per
// VM, and optionally background host processes (CPU-bound and I/O-bound jobs) competing for the CPU.

import type { CostModel, RegisterSnapshot } from "@vmxlab/cpu";
import { PAGE, type PagingMode, type RunLimits, type RunResult, type VmConfig, type VmStop } from "@vmxlab/vmm";
import type { HostTime } from "./cpu-time.js";
import { HostKernel, type Process, type ProcessKind } from "./kernel.js";
import { type HostedExitRecord, KvmModule, type KvmVcpu } from "./kvm.js";
import { assembleUser, cpuBoundSource, ioBoundSource, vmmSource } from "./programs.js";
import type { SchedulerParams } from "./scheduler.js";
import { VmmUserSpace } from "./vmm-lib.js";

const MiB = 1024 * 1024;

export interface HostedVmConfig extends VmConfig {
  /** A bug to inject into this VM's device models: the access to `port` makes the model fail (the VMM aborts). */
  deviceFault?: { port: number; message?: string };
}

export type HostJobKind = "cpu" | "io";

export interface HostedOptions {
  /** Cost-model profile ("recent", "nehalem") or a model. */
  costModel?: CostModel | string;
  /** Memory virtualization of every VM whose config does not say (default "ept"). */
  paging?: PagingMode;
  /** Background host processes: N jobs, CPU-bound and I/O-bound alternately (CPU-bound first). */
  hostLoad?: number;
  /** The background jobs explicitly (instead of hostLoad). */
  hostJobs?: readonly HostJobKind[];
  /** Host scheduler tick rate (default 1000 Hz). */
  tickHz?: number;
  scheduler?: Partial<SchedulerParams>;
  /** Latency of one disk request of an I/O-bound job (default 100 µs). */
  ioLatencyCycles?: number;
  /**
   * Host memory for the kernel, shadow tables and host processes, besides each VM's guest RAM and the
   * pages its VMM process and the module take for it (default 16 MiB).
   */
  reservedMiB?: number;
  /** Every byte a guest writes to its console (0xE9 or COM1). */
  onConsole?: (vm: HostedVm, byte: number) => void;
  /** Every VM exit with its hops, when the round trip is complete. */
  onExit?: (record: HostedExitRecord) => void;
}

/** What a run of a hosted system may do besides running: limits, and pauses for debuggers and viewers. */
export interface HostedRunLimits extends Omit<RunLimits, "pauseOnExit"> {
  /**
   * Called once per VM exit when its handling is complete (in the kernel module, or after the round
   * trip through the VMM process, and any time the vCPU thread waited or slept): return true to pause
   * there, in VMX root operation before the VM entry that resumes the guest. The record has every hop
   * but the entry (added, with the final latency, when the guest is entered again). An exit that ends
   * its VM is reported but does not pause.
   */
  pauseOnExit?: (record: HostedExitRecord) => boolean;
  /** Pause before each VM's first VM entry (VMLAUNCH), once its VMM process has set the vCPU up. */
  pauseBeforeLaunch?: boolean;
}

/**
 * Where a paused run() is: inside a guest ("guest": a CPU hook or breakpoint stopped it in VMX non-root
 * operation), before a VM entry after a handled exit ("exit") or before the first one ("launch"), or in
 * host code ("host": a CPU hook or breakpoint stopped the CPU in the host kernel or a process).
 */
export interface HostedPausePoint {
  vm: HostedVm | null;
  at: "guest" | "exit" | "launch" | "host";
}

/** Per-VM results, in the type-1 hypervisor's terms plus the hosted split. */
export interface HostedVmStats {
  exits: ReadonlyMap<number, number>;
  guestInstructions: number;
  guestCycles: number;
  /** Kernel-module cycles for this VM: VM transitions, in-kernel handlers, its ioctls (KVM_RUN entry and return). */
  kernelCycles: number;
  /** The VMM process at ring 3: its loop around KVM_RUN and its device models. */
  userCycles: number;
  /**
   * The host kernel outside the module while the VMM process had the CPU: the entry and exit paths of
   * its system calls, timer ticks (also those a VM exit brought), context switches away from it.
   */
  hostKernelCycles: number;
  /** kernelCycles + userCycles + hostKernelCycles: everything the VM cost beyond its own instructions. */
  hypervisorCycles: number;
  kernelExits: number;
  userExits: number;
  runCalls: number;
  /** Cycles the VMM process was on the CPU: guestCycles + hypervisorCycles. */
  runtime: number;
}

export class HostedVm {
  readonly name: string;
  stop: VmStop | null = null;
  finalRegs: RegisterSnapshot | null = null;
  readonly consoleBytes: number[] = [];
  process!: Process;
  user!: VmmUserSpace;

  constructor(
    readonly config: HostedVmConfig,
    private readonly system: HostedSystem,
  ) {
    this.name = config.name;
  }

  get paging(): PagingMode {
    return this.config.paging ?? "ept";
  }

  get vcpu(): KvmVcpu | null {
    return this.system.kvm.vcpuOf(this.process) ?? null;
  }

  consoleText(): string {
    let s = "";
    for (const b of this.consoleBytes) s += String.fromCharCode(b);
    return s;
  }

  get stats(): HostedVmStats {
    const vcpu = this.vcpu;
    const vm = vcpu?.vm;
    const t = this.system.kernel.timeOf(this.process);
    const hypervisorCycles = t.kvm + t.user + t.kernel;
    return {
      exits: vm?.stats.exits ?? new Map(),
      guestInstructions: vm?.stats.guestInstructions ?? 0,
      guestCycles: t.guest,
      kernelCycles: t.kvm,
      userCycles: t.user,
      hostKernelCycles: t.kernel,
      hypervisorCycles,
      kernelExits: vcpu?.stats.kernelExits ?? 0,
      userExits: vcpu?.stats.userExits ?? 0,
      runCalls: vcpu?.stats.runCalls ?? 0,
      runtime: t.guest + hypervisorCycles,
    };
  }
}

/** A host process's progress as the host sees it. */
export interface HostProcessInfo {
  pid: number;
  name: string;
  kind: ProcessKind;
  /** Work done: batches of a CPU-bound job, disk requests of an I/O-bound job (its own counter in memory). */
  progress: number;
  /** Cycles on the CPU. */
  runtime: number;
  instructions: number;
  /** Times it got the CPU. */
  switchesIn: number;
}

export class HostedSystem {
  readonly kernel: HostKernel;
  readonly kvm: KvmModule;
  readonly vms: HostedVm[] = [];
  readonly hostProcesses: Process[] = [];
  private readonly byProcess = new Map<Process, HostedVm>();
  private readonly startCycles: number;

  constructor(configs: HostedVmConfig[], options: HostedOptions = {}) {
    if (configs.length === 0) throw new Error("a hosted system needs at least one VM");
    const jobs: HostJobKind[] =
      options.hostJobs !== undefined
        ? [...options.hostJobs]
        : Array.from({ length: options.hostLoad ?? 0 }, (_, k) => (k % 2 === 0 ? "cpu" : "io"));
    const vmConfigs = configs.map((c) => ({ ...c, paging: c.paging ?? options.paging ?? "ept" }));
    // Each VM: its guest RAM, its VMM process (the program, and the page tables of its guest-RAM
    // mapping) and the module's structures for it, counted to the page.
    const vmms = vmConfigs.map((c) => assembleUser(vmmSource(c.memoryMiB * MiB), "vmm.asm"));
    const vmBytes = vmConfigs.reduce((sum, c, i) => {
      const ram = c.memoryMiB * MiB;
      const pages =
        HostKernel.processPages(vmms[i]!) + HostKernel.pageTablesFor(ram) + KvmModule.vmPages(ram, c.paging);
      return sum + ram + pages * PAGE;
    }, 0);
    const memoryMiB = (options.reservedMiB ?? 16) + Math.ceil(vmBytes / MiB) + Math.ceil(jobs.length / 8);
    this.kernel = new HostKernel({
      memoryMiB,
      ...(options.costModel !== undefined ? { costModel: options.costModel } : {}),
      ...(options.tickHz !== undefined ? { tickHz: options.tickHz } : {}),
      ...(options.scheduler !== undefined ? { scheduler: options.scheduler } : {}),
      ...(options.ioLatencyCycles !== undefined ? { ioLatencyCycles: options.ioLatencyCycles } : {}),
    });
    const k = this.kernel;
    this.kvm = new KvmModule(k, (proc) => {
      const vm = this.byProcess.get(proc);
      return vm ? { config: { ...vm.config, paging: vm.paging }, devices: vm.user.devices } : null;
    });
    if (options.onExit) this.kvm.onExit = options.onExit;
    k.hooks.syscall = (proc, nr, args) => this.kvm.syscall(proc, nr, args);
    k.hooks.userLibrary = (proc) => {
      // (a VMM process's user space is proc.user: no lookup on every device exit)
      if (proc.user instanceof VmmUserSpace) proc.user.call();
    };
    k.hooks.libraryInline = () => this.kvm.fastpathAllowed();
    k.hooks.switchIn = (proc) => this.kvm.switchedIn(proc);
    k.hooks.processExit = (proc) => this.processExit(proc);
    vmConfigs.forEach((config, i) => {
      const vm = new HostedVm(config, this);
      vm.process = k.spawn(`vmm:${config.name}`, "vmm", vmms[i]!, config.weight ?? 1);
      vm.user = new VmmUserSpace(k, this.kvm, vm.process, vm, (byte) => {
        vm.consoleBytes.push(byte);
        options.onConsole?.(vm, byte);
      });
      vm.process.user = vm.user;
      this.byProcess.set(vm.process, vm);
      this.vms.push(vm);
    });
    jobs.forEach((kind, i) => {
      const program =
        kind === "cpu" ? assembleUser(cpuBoundSource(), "cpu-job.asm") : assembleUser(ioBoundSource(), "io-job.asm");
      this.hostProcesses.push(k.spawn(`${kind}-job-${i}`, kind, program));
    });
    this.startCycles = k.cpu.cycles;
  }

  get machine() {
    return this.kernel.machine;
  }

  /**
   * Runs until every VM has stopped or a limit is reached ("done"; host jobs run alongside), or until
   * the run pauses ("paused", see HostedRunLimits and pausedAt). The next run() continues a paused
   * one exactly where it stopped: the host kernel, the VMM processes and the KVM module go on as if
   * never paused, so a paused run and an unpaused one reach the same states and cycle counts.
   */
  run(limits: HostedRunLimits = {}): RunResult {
    const k = this.kernel;
    const kvm = this.kvm;
    k.cycleLimit = limits.maxCycles === undefined ? Number.POSITIVE_INFINITY : k.cpu.cycles + limits.maxCycles;
    kvm.maxGuestInstructions = limits.maxInstructions ?? Number.POSITIVE_INFINITY;
    kvm.pauseOnExit = limits.pauseOnExit ?? null;
    kvm.pauseBeforeLaunch = limits.pauseBeforeLaunch ?? false;
    kvm.pausedVcpu = null;
    const result = k.run(this.allStopped);
    kvm.pauseOnExit = null;
    kvm.pauseBeforeLaunch = false;
    if (result === "paused") return "paused";
    for (const vm of this.vms) {
      if (vm.stop) continue;
      vm.stop = { kind: "limit" };
      const vcpu = vm.vcpu;
      vm.finalRegs = vcpu ? (vcpu.finalRegs ?? this.kvm.snapshot(vcpu)) : null;
    }
    return "done";
  }

  /** Whether every VM has stopped: the kernel's loop asks before each stretch on the CPU (no closure per call). */
  private readonly allStopped = (): boolean => {
    for (const vm of this.vms) if (vm.stop === null) return false;
    return true;
  };

  /** Where the last run() paused, or null. */
  get pausedAt(): HostedPausePoint | null {
    const k = this.kernel;
    if (k.pausedIn === null) return null;
    const vcpu = this.kvm.pausedVcpu;
    if (k.pausedIn === "cpu" || !vcpu?.pausedIn) return { vm: this.byProcess.get(k.current) ?? null, at: "host" };
    return { vm: this.byProcess.get(vcpu.kvm.owner) ?? null, at: vcpu.pausedIn };
  }

  private processExit(proc: Process): void {
    this.kvm.processExit(proc);
    const vm = this.byProcess.get(proc);
    if (!vm || vm.stop) return;
    const why = proc.killedBy
      ? `was killed: ${proc.killedBy}`
      : `exited with status ${proc.exitStatus} before its VM stopped`;
    const detail = vm.user.error ? ` (${vm.user.error})` : "";
    vm.stop = { kind: "error", diagnostic: `VMM process ${proc.name} (pid ${proc.pid}) ${why}${detail}` };
    vm.finalRegs = vm.vcpu?.finalRegs ?? null;
  }

  /** Modeled cycles since the system was created. */
  get cycles(): number {
    return this.kernel.cpu.cycles - this.startCycles;
  }

  /** The machine's cycles since the system was created, by where they were spent (cpu-time.ts); the parts sum to `total`. */
  time(): HostTime {
    const k = this.kernel;
    const sum: HostTime = {
      guest: 0,
      kvm: 0,
      hostKernel: 0,
      userVmm: 0,
      otherProcesses: 0,
      idle: 0,
      total: this.cycles,
    };
    for (const p of k.processes) {
      const t = k.timeOf(p);
      sum.guest += t.guest;
      sum.kvm += t.kvm;
      sum.hostKernel += t.kernel;
      if (p.kind === "vmm") sum.userVmm += t.user;
      else sum.otherProcesses += t.user;
      sum.idle += t.idle;
    }
    return sum;
  }

  get contextSwitches(): number {
    return this.kernel.stats.contextSwitches;
  }

  /** The background host jobs' progress and CPU time. */
  hostProgress(): HostProcessInfo[] {
    return this.hostProcesses.map((p) => ({
      pid: p.pid,
      name: p.name,
      kind: p.kind,
      progress: p.state === "dead" ? 0 : this.kernel.readSymbol32(p, "progress"),
      runtime: p.runtime,
      instructions: p.instructions,
      switchesIn: p.switchesIn,
    }));
  }
}
