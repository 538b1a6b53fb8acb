// The type-1 hypervisor: it owns the whole emulated machine (no host OS), enters VMX operation,
// creates VMs, and runs them one time slice at a time through the CPU's VMX, handling every VM exit
// in TypeScript through one table of handlers indexed by exit reason (exits/table.ts).

import {
  type CostModel,
  EXIT_REASON,
  isElf,
  Machine,
  parseElf32,
  type RegisterSnapshot,
  type RunOptions,
  VMCS,
  VMCS_REVISION_ID,
  type VmExitInfo,
  type VmxResult,
} from "@vmxlab/cpu";
import { VmDevices } from "./devices/vm-devices.js";
import { type ExitAction, type ExitContext, ReusableExitContext } from "./exits/context.js";
import { injectPendingInterrupt, reinjectInterruptedEvent } from "./exits/events.js";
import { EXIT_HANDLERS } from "./exits/table.js";
import { handleUnexpectedExit } from "./exits/unexpected.js";
import { type GuestPagingView, guestInstructionText, guestRegisterSnapshot } from "./inspect.js";
import { PAGE, PageAllocator } from "./memory/allocator.js";
import { EptBuilder } from "./memory/ept-builder.js";
import { EptMmu } from "./memory/ept-mmu.js";
import { GuestMemory } from "./memory/guest-memory.js";
import { ShadowMmu } from "./memory/shadow-mmu.js";
import { exitRecordHead } from "./trace.js";
import { Vm, type VmConfig, type VmStop } from "./vm.js";
import { setupVmcs } from "./vmcs-setup.js";

export interface HypervisorOptions {
  /** Cost-model profile ("recent", "nehalem") or a model. */
  costModel?: CostModel | string;
  /** Time slice, in modeled cycles, of a VM with weight 1 (default 250,000 = 83 µs at 3 GHz). */
  sliceCycles?: number;
  /** Memory the hypervisor keeps for itself (VMCS, EPT/shadow tables, bitmaps), in MiB (default 8). */
  reservedMiB?: number;
  /** Every byte a guest writes to its console (0xE9 or COM1). */
  onConsole?: (vm: Vm, byte: number) => void;
  /** Every VM exit, after it was handled (traces, debuggers). */
  onExit?: (record: ExitRecord) => void;
}

/** One VM exit as the trace shows it. */
export interface ExitRecord {
  seq: number;
  vm: string;
  reason: number;
  name: string;
  qualification: number;
  /** The qualification decoded in words ("OUT port 0xE9 size 1 value 0x41"). */
  detail: string;
  info: VmExitInfo;
  guestEip: number;
  /** The exiting instruction, disassembled ("out dx,al"); "" for exits not caused by one. */
  instruction: string;
  /** What the handler did. */
  handler: string;
  action: ExitAction;
  /** Modeled cycles of the round trip: hardware exit, handler, hardware entry (0 if the VM stopped). */
  cycles: { exit: number; handler: number; entry: number; total: number };
}

export interface RunLimits {
  /** Guest instructions per VM before it stops with "limit". */
  maxInstructions?: number;
  /** Total modeled cycles before every VM still running stops with "limit". */
  maxCycles?: number;
  /**
   * Called after each VM exit was handled: return true to pause there (run() returns "paused" in
   * VMX root operation, before the VM is entered again). Debuggers and viewers step exit by exit.
   */
  pauseOnExit?: (record: ExitRecord) => boolean;
}

/**
 * How run() ended: every VM stopped ("done"), or it paused ("paused"): after an exit that
 * pauseOnExit chose, or inside a guest because a CPU hook or breakpoint stopped the CPU (the VM then
 * stays in VMX non-root operation). The next run() continues from a pause exactly where it left off:
 * a paused run and an unpaused one reach the same states.
 */
export type RunResult = "done" | "paused";

/** Where a paused run() is: inside the guest ("guest") or in the hypervisor after a handled exit ("exit"). */
export interface PausePoint {
  vm: Vm;
  at: "guest" | "exit";
}

const HOST_RESERVED_DEFAULT_MIB = 8;

export class Hypervisor {
  readonly machine: Machine;
  readonly vms: Vm[] = [];
  readonly cost: CostModel;
  readonly sliceCycles: number;
  private readonly allocator: PageAllocator;
  private readonly hostCr3: number;
  private readonly msrBitmap: number;
  private readonly options: HypervisorOptions;
  private exitSeq = 0;
  private current: Vm | null = null;
  /** Round-robin position of the scheduler (kept across paused runs). */
  private turn = 0;
  /** The slice a paused run() continues. */
  private paused: (PausePoint & { sliceEnd: number; action: ExitAction }) | null = null;
  /** The last exit's record, when someone needs it (onExit, pauseOnExit). */
  private lastExit: ExitRecord | null = null;
  /** What exit handlers work with: one object, refilled for every exit. */
  private readonly exitContext: ReusableExitContext;
  private readonly exitInfoScratch = {} as VmExitInfo;
  /** Options of each cpu.run() (it reads them when called): one object, not one per VM entry. */
  private readonly runOptions: RunOptions = { maxInstructions: undefined };
  /**
   * The exit fastpath (fastpath()): the VM whose exits it handles inside cpu.run() and the end of its
   * slice. Set only while runSlice()'s cpu.run() runs and nobody asked for exit records.
   */
  private fastVm: Vm | null = null;
  private fastSliceEnd = 0;
  /** Cycles the fastpath spent outside the guest during the current cpu.run() (exits, handlers, entries). */
  private fastCycles = 0;
  /** What the handler decided for an exit the fastpath handled but did not re-enter after, or null. */
  private fastAction: ExitAction | null = null;

  constructor(configs: VmConfig[], options: HypervisorOptions = {}) {
    if (configs.length === 0) throw new Error("a hypervisor needs at least one VM");
    this.options = options;
    const reserved = options.reservedMiB ?? HOST_RESERVED_DEFAULT_MIB;
    const guestMiB = configs.reduce((sum, c) => sum + c.memoryMiB, 0);
    this.machine = new Machine({
      memoryMiB: reserved + guestMiB,
      ...(options.costModel ? { costModel: options.costModel } : {}),
    });
    this.cost = this.machine.costModel;
    this.sliceCycles = options.sliceCycles ?? 250_000;
    const pages = this.machine.memory.size / PAGE;
    // Page 0 stays unused so a null physical pointer never reaches a real structure.
    this.allocator = new PageAllocator(1, pages - 1);
    this.hostCr3 = this.buildHostPageDirectory();
    this.msrBitmap = this.buildMsrBitmap();
    this.exitContext = new ReusableExitContext(this.machine, this.cost, (vm, stop) => this.finish(vm, stop));
    this.enterVmxOperation();
    this.machine.vmx.fastpath = () => this.fastpath();
    configs.forEach((config, i) => {
      this.vms.push(this.createVm(i, config));
    });
  }

  private page(): number {
    const p = this.allocator.allocate();
    this.machine.memory.u8.fill(0, p, p + PAGE);
    return p;
  }

  /** The host's own address space: identity-mapped with 4 MiB pages (what HOST_CR3 points to). */
  private buildHostPageDirectory(): number {
    const pd = this.page();
    for (let k = 0; k < 1024; k++) this.machine.memory.write32(pd + 4 * k, ((k << 22) | 0x83) >>> 0);
    return pd;
  }

  /** MSR bitmap: every MSR exits except the SYSENTER MSRs, which the VMCS switches anyway. */
  private buildMsrBitmap(): number {
    const page = this.page();
    this.machine.memory.u8.fill(0xff, page, page + PAGE);
    for (const msr of [0x174, 0x175, 0x176]) {
      for (const base of [0, 2048]) {
        const at = page + base + (msr >>> 3);
        this.machine.memory.write8(at, this.machine.memory.read8(at) & ~(1 << (msr & 7)));
      }
    }
    return page;
  }

  /** What a VMM's start-up code does: CR0/CR4 for VMX, IA32_FEATURE_CONTROL, VMXON. */
  private enterVmxOperation(): void {
    const cpu = this.machine.cpu;
    cpu.cr0 = 0x80000031 | 0;
    cpu.cr4 = (1 << 13) | (1 << 4);
    cpu.cr3 = this.hostCr3;
    cpu.writeMsr(0x3a, 5, 0);
    const region = this.page();
    this.machine.memory.write32(region, VMCS_REVISION_ID);
    const r = this.machine.vmx.vmxon(region);
    if (!r.ok) throw new Error("VMXON failed");
  }

  private createVm(id: number, config: VmConfig): Vm {
    const machine = this.machine;
    const cpu = machine.cpu;
    const size = config.memoryMiB * 1024 * 1024;
    const memory = new GuestMemory(machine.memory, this.allocator, size);
    const vmcs = this.page();
    machine.memory.write32(vmcs, VMCS_REVISION_ID);
    let vmRef: Vm | null = null;
    const devices = new VmDevices({
      clock: { now: () => cpu.cycles, hz: cpu.hz },
      memory,
      ...(config.disk ? { disk: config.disk } : {}),
      onConsole: (byte) => {
        vmRef!.consoleBytes.push(byte);
        this.options.onConsole?.(vmRef!, byte);
      },
      onExit: (value) => {
        vmRef!.exitValue = value >>> 0;
      },
    });
    const vm = new Vm(id, config, memory, vmcs, devices);
    vmRef = vm;
    if (vm.paging === "ept") {
      const ept = new EptBuilder(machine.memory, this.allocator);
      const mmu = new EptMmu(ept);
      memory.onPopulate = (gpa, hpa) => mmu.map(gpa, hpa);
      vm.mmu = mmu;
    } else {
      vm.mmu = new ShadowMmu(this, vm);
    }
    if (!config.lazyMemory || vm.paging === "shadow") memory.populateAll();
    const entry = this.loadImage(vm);
    const vmx = machine.vmx;
    vmx.vmclear(vmcs);
    vmx.vmptrld(vmcs);
    setupVmcs(machine, vm.mmu.settings(vm), { cr3: this.hostCr3, msrBitmap: this.msrBitmap }, vm.vpid, entry);
    return vm;
  }

  private loadImage(vm: Vm): number {
    const { image, load, entry } = vm.config;
    const name = vm.name;
    if (isElf(image)) {
      const elf = parseElf32(image, name);
      for (const seg of elf.segments) {
        if (!vm.memory.contains(seg.address, seg.memorySize)) {
          throw new Error(
            `${name}: segment at 0x${seg.address.toString(16)} does not fit in ${vm.config.memoryMiB} MiB`,
          );
        }
        vm.memory.write(seg.address, seg.bytes);
      }
      return entry ?? elf.entry;
    }
    const at = load ?? 0x100000;
    if (!vm.memory.contains(at, image.length)) {
      throw new Error(
        `${name}: image at 0x${at.toString(16)} (${image.length} bytes) does not fit in ${vm.config.memoryMiB} MiB`,
      );
    }
    vm.memory.write(at, image);
    return entry ?? at;
  }

  /** Host pages backing this VM's guest RAM plus the hypervisor's tables for it. */
  hostPagesFor(vm: Vm): number {
    return vm.memory.populatedPages + vm.mmu.tablePages + 1;
  }

  allocatePage(): number {
    return this.page();
  }

  // ======================= running =======================

  /** Where run() paused, or null. */
  get pausedAt(): PausePoint | null {
    return this.paused ? { vm: this.paused.vm, at: this.paused.at } : null;
  }

  /** Runs every VM until each has stopped (or the limits are reached), or until it pauses. */
  run(limits: RunLimits = {}): RunResult {
    const cpu = this.machine.cpu;
    const cycleLimit = limits.maxCycles === undefined ? Number.POSITIVE_INFINITY : cpu.cycles + limits.maxCycles;
    if (this.paused) {
      const resume = this.paused;
      this.paused = null;
      if (this.runSlice(resume.vm, resume.sliceEnd, limits, resume) === "paused") return "paused";
    }
    for (;;) {
      const live = this.vms.filter((vm) => vm.state !== "stopped");
      if (live.length === 0) return "done";
      if (cpu.cycles >= cycleLimit) {
        for (const vm of live) this.finish(vm, { kind: "limit" });
        return "done";
      }
      // Weighted round robin over runnable VMs; a halted VM becomes runnable when its interrupt is due.
      let chosen: Vm | null = null;
      for (let k = 0; k < this.vms.length; k++) {
        const vm = this.vms[(this.turn + k) % this.vms.length]!;
        if (vm.state === "halted" && this.wakeable(vm)) vm.state = "runnable";
        if (vm.state === "runnable") {
          chosen = vm;
          this.turn = (this.turn + k + 1) % this.vms.length;
          break;
        }
      }
      if (!chosen) {
        // Every live VM is halted: the CPU idles until the earliest virtual timer.
        const next = Math.min(...live.map((vm) => vm.devices.advance(cpu.cycles)));
        if (next === Number.POSITIVE_INFINITY) {
          for (const vm of live) this.finish(vm, { kind: "halt" });
          return "done";
        }
        cpu.cycles = Math.min(Math.max(cpu.cycles, next), cycleLimit);
        continue;
      }
      const sliceEnd = Math.min(cycleLimit, cpu.cycles + this.sliceCycles * chosen.weight);
      if (this.runSlice(chosen, sliceEnd, limits) === "paused") return "paused";
    }
  }

  private wakeable(vm: Vm): boolean {
    const next = vm.devices.advance(this.machine.cpu.cycles);
    return vm.devices.pic.hasInterrupt() || next <= this.machine.cpu.cycles;
  }

  private switchTo(vm: Vm): void {
    const cpu = this.machine.cpu;
    if (this.current === vm) {
      // Someone (a test, a debugger) may have made another VMCS current through hv.machine.vmx: the
      // registers are still this VM's, but its VMCS must be current again before we read or enter it.
      if (this.machine.vmx.currentVmcs !== vm.vmcs) this.machine.vmx.vmptrld(vm.vmcs);
      return;
    }
    if (this.current) this.saveVcpu(this.current);
    this.machine.vmx.vmptrld(vm.vmcs);
    cpu.regs.set(vm.regs);
    cpu.cr2 = vm.cr2;
    cpu.cycles += this.cost.hypervisor.vmSwitch;
    vm.stats.hypervisorCycles += this.cost.hypervisor.vmSwitch;
    this.current = vm;
  }

  private saveVcpu(vm: Vm): void {
    vm.regs.set(this.machine.cpu.regs.subarray(0, 8));
    vm.cr2 = this.machine.cpu.cr2;
  }

  /**
   * One time slice of a VM: enter, handle exits, re-enter, until the slice ends or the VM blocks.
   * `resume` continues a paused slice: inside the guest, or after the exit it paused at.
   */
  private runSlice(
    vm: Vm,
    sliceEnd: number,
    limits: RunLimits,
    resume?: PausePoint & { action: ExitAction },
  ): "paused" | undefined {
    const machine = this.machine;
    const cpu = machine.cpu;
    const vmx = machine.vmx;
    if (!resume) {
      this.switchTo(vm);
      vm.stats.slices++;
    } else if (resume.at === "exit") {
      this.switchTo(vm); // its VMCS again, should the pause have been used to look at another one
      if (!this.continueSlice(vm, resume.action, sliceEnd)) return undefined;
    }
    let inGuest = resume?.at === "guest";
    for (;;) {
      let entryCycles = 0;
      if (!inGuest) {
        const entered = this.enter(vm, sliceEnd);
        if (entered < 0) return undefined;
        entryCycles = entered;
      }
      inGuest = false;
      const startInstret = cpu.instret;
      const startCycles = cpu.cycles;
      const budget =
        limits.maxInstructions === undefined ? undefined : limits.maxInstructions - vm.stats.guestInstructions;
      const run = this.runOptions;
      run.maxInstructions = budget === undefined ? undefined : Math.max(0, budget);
      // Exits go through the fastpath unless someone wants a record of each (it would have to stop there).
      const recording = this.options.onExit !== undefined || limits.pauseOnExit !== undefined;
      this.fastCycles = 0;
      this.fastAction = null;
      if (!recording) {
        this.fastVm = vm;
        this.fastSliceEnd = sliceEnd;
      }
      const stop = cpu.run(run);
      this.fastVm = null;
      vm.stats.guestInstructions += cpu.instret - startInstret;
      const exitCost = vmx.nonRoot ? 0 : this.cost.vmx.vmExit;
      vm.stats.guestCycles += cpu.cycles - startCycles - exitCost - this.fastCycles;
      vm.stats.hypervisorCycles += entryCycles + exitCost;
      if ((stop.kind === "hook" || stop.kind === "breakpoint") && vmx.nonRoot) {
        // A debugger's hook or breakpoint stopped the CPU inside the guest: the VM stays in non-root
        // operation, and the next run() continues it at the instruction boundary where it stopped.
        this.paused = { vm, at: "guest", sliceEnd, action: "resume" };
        return "paused";
      }
      if (stop.kind !== "vmexit") {
        // The guest ran out of budget or halted with nothing to wake it: take the CPU back.
        if (vmx.nonRoot) vmx.forceExit();
        this.finish(
          vm,
          stop.kind === "limit"
            ? { kind: "limit" }
            : stop.kind === "halt"
              ? { kind: "halt" }
              : { kind: "error", diagnostic: `unexpected stop: ${stop.kind}` },
        );
        return undefined;
      }
      const action = this.fastAction ?? this.handleExit(vm, exitCost, limits.pauseOnExit !== undefined);
      if (limits.pauseOnExit && this.lastExit && limits.pauseOnExit(this.lastExit)) {
        this.paused = { vm, at: "exit", sliceEnd, action };
        return "paused";
      }
      if (!this.continueSlice(vm, action, sliceEnd)) return undefined;
    }
  }

  /**
   * The exit fastpath, called by cpu.run() at a VM exit of the armed VM: the same handling as runSlice's
   * loop (handleExit, continueSlice, enter) with the same cycle accounting, without returning from
   * cpu.run(). True when the guest was entered again. Otherwise the exit is handled already
   * (fastAction) and cpu.run() returns it to runSlice().
   */
  private fastpath(): boolean {
    const vm = this.fastVm;
    if (vm === null) return false;
    const cpu = this.machine.cpu;
    const exitCost = this.cost.vmx.vmExit;
    const start = cpu.cycles;
    // Disarmed while it works: an exit during the entry below (delivering an injected event) ends cpu.run().
    this.fastVm = null;
    const action = this.handleExit(vm, exitCost, false);
    const sliceEnd = this.fastSliceEnd;
    const entered = this.continueSlice(vm, action, sliceEnd) ? this.enter(vm, sliceEnd) : Number.NaN;
    if (!(entered >= 0)) {
      // The slice ends here (NaN), or the entry failed and stopped the VM (-1).
      this.fastAction = entered === -1 ? "stop" : action;
      this.fastCycles += cpu.cycles - start;
      return false;
    }
    vm.stats.hypervisorCycles += entered + exitCost;
    this.fastCycles += cpu.cycles - start + exitCost;
    this.fastVm = vm;
    return true;
  }

  /** After a handled exit: whether the slice goes on (enter the VM again). */
  private continueSlice(vm: Vm, action: ExitAction, sliceEnd: number): boolean {
    if (action === "resume") return this.machine.cpu.cycles < sliceEnd;
    // The preemption timer also fires for the VM's own virtual timer (enter() arms it for the earlier
    // of the slice end and the next timer event): before the slice end that only means an interrupt
    // to inject. Yielding there would cost a VM with a fast timer most of every slice.
    if (action === "yield" && (this.machine.vmx.read(VMCS.VM_EXIT_REASON) & 0xffff) === EXIT_REASON.PREEMPTION_TIMER) {
      return this.machine.cpu.cycles < sliceEnd;
    }
    if (action === "halt") vm.state = "halted";
    return false;
  }

  /** VM entry (with event injection and the preemption timer armed): its cycles, or -1 if it failed. */
  private enter(vm: Vm, sliceEnd: number): number {
    const machine = this.machine;
    const cpu = machine.cpu;
    const vmx = machine.vmx;
    {
      const next = vm.devices.advance(cpu.cycles);
      this.injectPendingInterrupt(vm);
      const until = Math.min(sliceEnd, next);
      const unit = 2 ** 5; // IA32_VMX_MISC rate: the timer counts every 32 TSC cycles
      vmx.write(VMCS.VMX_PREEMPTION_TIMER_VALUE, Math.max(0, Math.ceil((until - cpu.cycles) / unit)));
      const beforeEntry = cpu.cycles;
      const r = vm.launched ? vmx.resume() : vmx.launch();
      if (!r.ok) return this.entryFailed(vm, r);
      vm.launched = true;
      return cpu.cycles - beforeEntry;
    }
  }

  /** A VMLAUNCH/VMRESUME that failed (VMfailInvalid, VMfailValid): the VM stops with the error. Returns -1. */
  private entryFailed(vm: Vm, r: Exclude<VmxResult, { ok: true }>): number {
    this.finish(vm, {
      kind: "error",
      diagnostic: `VM entry failed: VM-instruction error ${r.invalid ? "(VMfailInvalid)" : r.error}`,
    });
    return -1;
  }

  /** Injects the VM's pending virtual interrupt, or asks for an interrupt-window exit. */
  private injectPendingInterrupt(vm: Vm): void {
    if (injectPendingInterrupt(this.machine.vmx, vm)) {
      this.machine.cpu.cycles += this.cost.hypervisor.interruptInjection;
      vm.stats.hypervisorCycles += this.cost.hypervisor.interruptInjection;
    }
  }

  private handleExit(vm: Vm, exitCycles: number, wantRecord: boolean): ExitAction {
    const cpu = this.machine.cpu;
    const recording = this.options.onExit !== undefined || wantRecord;
    // A record keeps its exit information; without one, the same object serves every exit.
    const info = this.machine.vmx.exitInfo(recording ? undefined : this.exitInfoScratch);
    const basic = info.reason & 0xffff;
    const failedEntry = (info.reason & 0x80000000) !== 0;
    vm.countExit(basic);
    const ctx = this.exitContext;
    ctx.begin(vm, info, this.cost.hypervisor.dispatch, recording);
    const handler = failedEntry ? EXIT_HANDLERS[EXIT_REASON.INVALID_STATE] : EXIT_HANDLERS[basic];
    const action: ExitAction = handler ? handler(ctx) : this.unexpectedExit(ctx);
    if (action === "resume" || action === "yield" || action === "halt") reinjectInterruptedEvent(ctx);
    const handlerCycles = ctx.handlerCycles;
    cpu.cycles += handlerCycles;
    vm.stats.hypervisorCycles += handlerCycles;
    this.lastExit = null;
    if (recording) this.record(vm, info, action, exitCycles, handlerCycles);
    else this.exitSeq++;
    return action;
  }

  /** The exit's record, for onExit and pauseOnExit (apart: the common path stays small). */
  private record(vm: Vm, info: VmExitInfo, action: ExitAction, exitCycles: number, handlerCycles: number): void {
    const basic = info.reason & 0xffff;
    const notes = this.exitContext.notes;
    const record: ExitRecord = {
      ...exitRecordHead(++this.exitSeq, vm, info),
      instruction:
        info.instructionLength > 0 || basic === EXIT_REASON.EPT_VIOLATION || basic === EXIT_REASON.EXCEPTION_NMI
          ? guestInstructionText(vm, this.pagingView(vm), info.guestRip)
          : "",
      handler: notes.join("; "),
      action,
      cycles: {
        exit: exitCycles,
        handler: handlerCycles,
        entry: action === "resume" ? this.cost.vmx.vmEntry : 0,
        total: exitCycles + handlerCycles + (action === "resume" ? this.cost.vmx.vmEntry : 0),
      },
    };
    this.lastExit = record;
    this.options.onExit?.(record);
  }

  /** An exit no handler claims: stop that VM with the reason, qualification and a VMCS dump. */
  private unexpectedExit(ctx: ExitContext): ExitAction {
    return handleUnexpectedExit(ctx);
  }

  /** Marks a VM stopped and records its final guest-visible registers. */
  finish(vm: Vm, stop: VmStop): void {
    if (vm.state === "stopped") return;
    this.switchTo(vm);
    vm.stop = stop;
    vm.state = "stopped";
    vm.finalRegs = this.guestRegisters(vm);
  }

  /** How the guest currently translates its linear addresses (its own CR0.PG, CR3, CR4.PSE). */
  pagingView(vm: Vm): GuestPagingView {
    const regs = this.guestRegisters(vm);
    return { paging: (regs.cr0 & 0x80000000) !== 0, cr3: regs.cr3, pse: (regs.cr4 & 0x10) !== 0 };
  }

  /** The registers the guest sees (CR0/CR4 through the read shadows, CR3 as the guest loaded it). */
  guestRegisters(vm: Vm): RegisterSnapshot {
    const { cpu, vmx } = this.machine;
    if (vmx.nonRoot) {
      // Paused inside a guest: its state is in the CPU (the VMCS has it only from the next exit on).
      if (this.current !== vm) throw new Error(`${vm.name} is not on the CPU: ${this.current?.name} is in the guest`);
      const live = cpu.snapshotRegisters();
      return {
        ...live,
        cr0: vmx.readCr(0, live.cr0),
        cr3: vm.mmu.guestCr3(vm) ?? live.cr3,
        cr4: vmx.readCr(4, live.cr4),
      };
    }
    this.switchTo(vm);
    return guestRegisterSnapshot(this.machine.vmx, vm, this.machine.cpu.regs, this.machine.cpu.cr2);
  }
}
