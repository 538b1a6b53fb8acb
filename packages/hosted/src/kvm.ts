// The KVM-like kernel module. User space drives it through system calls (the ioctls of /dev/kvm, of a
// VM fd and of a vCPU fd): create a VM, register its memory (the VMM process's own anonymous memory),
// create a vCPU (its VMCS, and a kvm_run page mapped into the VMM), set registers, run.
//
// KVM_RUN enters the guest from the kernel (VMRESUME through the CPU's VMX), with the host state of
// the VMM process: HOST_CR3 = its page directory, HOST_RSP = its kernel stack (the trap frame of the
// KVM_RUN call), HOST_RIP = the kernel's exit path. Exits the kernel can finish stay in the kernel,
// handled by the same exit handlers as the type-1 hypervisor (packages/vmm): CPUID, CR accesses,
// MSRs, EPT violations on memory the VMM already backs (mapped on first touch, as KVM faults pages
// in through the VMM's page tables), shadow-paging faults, HLT (the vCPU thread blocks until its
// virtual timer), the VMX-preemption timer (the guest's virtual PIT deadline), interrupt windows, and
// the in-kernel PIC and PIT (KVM_CREATE_IRQCHIP / KVM_CREATE_PIT2). External interrupts exit too
// (pin-based external-interrupt exiting, acknowledged on exit): the host's own timer interrupt runs
// the host scheduler, which may preempt the vCPU thread inside the kernel, as cond_resched() would.
// Hypercalls get type-1's checks and answers (packages/vmm's handleVmcall: -1 from guest ring 3 or for
// a bad buffer); only a valid console write is a device operation for user space.
// Port I/O to other devices, MMIO and the console hypercall go to user space: the module fills the
// kvm_run page and KVM_RUN returns 0; the next KVM_RUN completes the access (IN data, MMIO read data,
// hypercall return value) before re-entering.

import {
  vmxControls as C,
  decodeBytes,
  EXIT_REASON,
  type RegisterSnapshot,
  VMCS,
  VMCS_REVISION_ID,
  type VmExitInfo,
} from "@vmxlab/cpu";
import {
  decodeIoQualification,
  EptBuilder,
  EptMmu,
  EXIT_HANDLERS,
  type ExitAction,
  type ExitContext,
  type ExitRecord,
  emulatePortIo,
  exitRecordHead,
  GuestMemory,
  guestInstructionText,
  guestRegisterSnapshot,
  HYPERCALL,
  handleUnexpectedExit,
  handleVmcall,
  injectPendingInterrupt,
  PAGE,
  type PagingMode,
  ReusableExitContext,
  readGuestLinear,
  reinjectInterruptedEvent,
  ShadowMmu,
  setupVmcs,
  skipInstruction,
  Vm,
  type VmConfig,
  type VmDevices,
  type VmStop,
} from "@vmxlab/vmm";
import { MODE } from "./cpu-time.js";
import { HOST_CR0, HOST_CR4, type HostKernel, type Process, type SyscallResult } from "./kernel.js";
import {
  ERRNO,
  GDT_BASE,
  IDT_BASE,
  KCODE,
  KDATA,
  KVM_EXIT,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_REGS,
  KVM_RUN,
  KVM_RUN_ADDR,
  REGION,
  SYS,
  TSS_BASE,
  TSS_ESP0,
  TSS_SEL,
} from "./layout.js";

const ESP = 4;
/** Ports of the in-kernel interrupt controller and timer (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2). */
const IN_KERNEL_PORTS: ReadonlySet<number> = new Set([0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43]);
const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];
/** The limits of one stretch in the guest (rewritten before each: the CPU reads them when it starts). */
const guestRun = { maxInstructions: 0, maxCycles: 0 };
/** The module's system calls (the ioctls of /dev/kvm, a VM fd and a vCPU fd). */
const KVM_SYSCALLS: ReadonlySet<number> = new Set([
  SYS.KVM_CREATE_VM,
  SYS.KVM_SET_USER_MEMORY_REGION,
  SYS.KVM_CREATE_VCPU,
  SYS.KVM_SET_REGS,
  SYS.KVM_GET_REGS,
  SYS.KVM_RUN,
]);

/** What a VMM process brings to KVM_CREATE_VM: its configuration and its device models. */
export interface VmPlatform {
  config: VmConfig;
  devices: VmDevices;
}

export type HopName = "exit" | "kernel" | "to-user" | "device-model" | "syscall" | "entry" | "wait" | "blocked";

export interface Hop {
  name: HopName;
  cycles: number;
}

/**
 * One VM exit with every hop of its round trip (what --trace shows): the type-1 record's fields
 * (reason, qualification, guest EIP, instruction, handler text), with hosted's own action and timing.
 */
export interface HostedExitRecord extends Omit<ExitRecord, "action" | "cycles"> {
  /** Where the exit was handled: entirely in the kernel module, or in the user-space VMM. */
  handledIn: "kernel" | "user";
  /** resume (re-entered), block (the vCPU thread slept), user (returned to the VMM), stop (the VM ended). */
  action: "resume" | "block" | "user" | "stop";
  /**
   * The hops in order: exit (hardware), kernel (the module's handler), to-user (return from KVM_RUN,
   * up to the VMM's device-model call), device-model, syscall (the VMM's next KVM_RUN, into the
   * module), entry (completion, injection, hardware entry). "wait" is time the VMM process was
   * runnable but host processes had the CPU; "blocked" is time its vCPU thread slept (HLT).
   */
  hops: Hop[];
  /** Modeled cycles from the VM exit to the entry that resumed the guest (waits included). */
  latency: number;
  waited: number;
  blocked: number;
}

interface OpenRecord {
  rec: HostedExitRecord;
  start: number;
  /** Cycle at which the current hop began. */
  mark: number;
  /** Wait/blocked cycles inside the current hop (reported as their own hops). */
  carry: number;
  /** pauseOnExit has seen the record (it is offered once, when the exit's handling is complete). */
  offered: boolean;
}

type Pending =
  | { kind: "pio-in"; size: 1 | 2 | 4 }
  | { kind: "mmio-read"; reg: number; size: 1 | 2 | 4; byteReg: boolean; opsize: number }
  | { kind: "hypercall" };

/** struct kvm: one VM. */
export class KvmVm {
  memory: GuestMemory | null = null;
  hva = 0;
  ept: EptBuilder | null = null;
  /** Guest pages mapped in the EPT so far. */
  eptMapped: Uint8Array | null = null;
  vcpu: KvmVcpu | null = null;
  destroyed = false;

  constructor(
    readonly id: number,
    readonly owner: Process,
    readonly platform: VmPlatform,
  ) {}

  get name(): string {
    return this.platform.config.name;
  }

  get paging(): PagingMode {
    return this.platform.config.paging ?? "ept";
  }
}

export interface VcpuStats {
  /** Exits handled entirely in the kernel module. */
  kernelExits: number;
  /** Exits that went to the user-space VMM. */
  userExits: number;
  /** KVM_RUN calls. */
  runCalls: number;
  /** Times the vCPU thread blocked on HLT. */
  halts: number;
}

function emptyExitInfo(): VmExitInfo {
  return {
    reason: 0,
    name: "",
    qualification: 0,
    instructionLength: 0,
    guestRip: 0,
    guestLinearAddress: 0,
    guestPhysicalAddress: 0,
    interruptionInfo: 0,
    interruptionErrorCode: 0,
    idtVectoringInfo: 0,
  };
}

/** struct kvm_vcpu: the VMCS, the kvm_run page and the state between exits. */
export class KvmVcpu {
  launched = false;
  pending: Pending | null = null;
  stop: VmStop | null = null;
  finalRegs: RegisterSnapshot | null = null;
  /** The last exit that went to user space (the VMM's diagnostics read it as KVM_GET_REGS would). */
  lastExit: VmExitInfo | null = null;
  /**
   * The vCPU's own exit information for exits no record keeps (one object rewritten per exit, not a
   * new one): the exit is read into exitScratch; one that goes to user space becomes lastExit and
   * the two objects trade places, so lastExit is never rewritten by a later exit.
   */
  exitScratch: VmExitInfo = emptyExitInfo();
  private spareExit: VmExitInfo = emptyExitInfo();
  open: OpenRecord | null = null;
  readonly stats: VcpuStats = { kernelExits: 0, userExits: 0, runCalls: 0, halts: 0 };
  /**
   * Where a paused run stopped this vCPU: inside the guest (the next run continues it there), after a
   * handled exit or before its first VMLAUNCH (both before a VM entry).
   */
  pausedIn: "guest" | "exit" | "launch" | null = null;
  /** A pause before the first VMLAUNCH happened (it happens once). */
  launchOffered = false;
  /** The module's per-vCPU helpers, made on first use (KvmModule.vcpuLoopOf, exitContextOf). */
  loop: (() => void) | null = null;
  exitContext: ReusableExitContext | null = null;
  private hostRsp = -1;

  constructor(
    readonly kvm: KvmVm,
    readonly vm: Vm,
    readonly vmcs: number,
    readonly runPage: number,
  ) {}

  /** The exit `info` went to user space: it is lastExit from now on. */
  keepExit(info: VmExitInfo): void {
    if (info === this.exitScratch) {
      this.exitScratch = this.spareExit;
      this.spareExit = info;
    }
    this.lastExit = info;
  }

  setHostRsp(module: KvmModule, rsp: number): void {
    if (rsp !== this.hostRsp) {
      module.kernel.machine.vmx.write(VMCS.HOST_RSP, rsp);
      this.hostRsp = rsp;
    }
  }
}

export class KvmModule {
  /**
   * Host pages the module takes for one VM: the VMCS, the kvm_run page and the VMM page table that
   * maps it, and under EPT the EPT tables for all of guest RAM. (Shadow tables grow with the guest's
   * own page tables: they come from the kernel's reserve, as the type-1 hypervisor's do from its own.)
   */
  static vmPages(guestBytes: number, paging: PagingMode): number {
    return 3 + (paging === "ept" ? EptBuilder.tablePagesFor(guestBytes) : 0);
  }

  readonly vms: KvmVm[] = [];
  /** Per-VM guest instruction budget (RunLimits.maxInstructions). */
  maxGuestInstructions = Number.POSITIVE_INFINITY;
  onExit: ((record: HostedExitRecord) => void) | null = null;
  /**
   * Called once per VM exit when its handling is complete: before the VM entry that resumes the guest
   * (after the user-space round trip, waits and HLT sleeps), or as the VM stops. True pauses the run
   * there, in VMX root operation (not for an exit that ends the VM). The record's "entry" hop and its
   * final latency are added at the entry.
   */
  pauseOnExit: ((record: HostedExitRecord) => boolean) | null = null;
  /** Pause each vCPU once, before its first VM entry (VMLAUNCH). */
  pauseBeforeLaunch = false;
  /** The vCPU of the last pause (null when the run did not pause in a vCPU). */
  pausedVcpu: KvmVcpu | null = null;
  private readonly msrBitmap: number;
  private readonly byProcess = new Map<Process, KvmVcpu>();
  private exitSeq = 0;
  /** exitIo's decoded qualification, one object for every I/O exit (used up before the next). */
  private readonly ioScratch = decodeIoQualification(0);
  /** The exit fastpath (see fastpath()): off, every exit returns from the guest's cpu.run() (tests compare). */
  fastpathEnabled = true;
  /** The vCPU (and its process) whose exits fastpath() handles: set only during runLoop()'s cpu.run(). */
  private fastVcpu: KvmVcpu | null = null;
  private fastProc: Process | null = null;
  /** fastpath() handled an exit and did not go on: how runLoop() continues (see tryEntry), or null. */
  private fastHandled: "again" | "leave" | null = null;
  /** fastpath() went on into host code: the guest's cpu.run() ends with a stop of the host kernel's. */
  private fastInHost = false;
  /** CPU counters at the start of the current stretch in the guest (endGuestRun). */
  private guestStartInstret = 0;
  private guestStartCycles = 0;

  constructor(
    readonly kernel: HostKernel,
    private readonly platformOf: (proc: Process) => VmPlatform | null,
  ) {
    // MSR bitmap: every MSR access exits except the SYSENTER MSRs, which the VMCS switches anyway.
    const mem = kernel.machine.memory;
    const page = kernel.allocPage();
    mem.u8.fill(0xff, page, page + PAGE);
    for (const msr of [0x174, 0x175, 0x176]) {
      for (const base of [0, 2048])
        mem.write8(page + base + (msr >>> 3), mem.read8(page + base + (msr >>> 3)) & ~(1 << (msr & 7)));
    }
    this.msrBitmap = page;
    kernel.machine.vmx.fastpath = () => this.fastpath();
  }

  vcpuOf(proc: Process): KvmVcpu | undefined {
    return this.byProcess.get(proc);
  }

  private charge(cycles: number): void {
    this.kernel.cpu.cycles += cycles;
  }

  // ======================= the system-call interface =======================

  syscall(proc: Process, nr: number, args: [number, number, number]): SyscallResult | undefined {
    if (!KVM_SYSCALLS.has(nr)) return undefined;
    this.kernel.enterMode(MODE.kvm);
    try {
      return this.ioctl(proc, nr, args);
    } finally {
      this.kernel.enterMode(MODE.kernel);
    }
  }

  private ioctl(proc: Process, nr: number, args: [number, number, number]): SyscallResult {
    const cost = this.kernel.cost;
    switch (nr) {
      case SYS.KVM_CREATE_VM:
        this.charge(cost.hosted.syscall);
        return this.createVm(proc);
      case SYS.KVM_SET_USER_MEMORY_REGION:
        this.charge(cost.hosted.syscall);
        return this.setMemoryRegion(proc, args[0], args[1]);
      case SYS.KVM_CREATE_VCPU:
        this.charge(cost.hosted.syscall);
        return this.createVcpu(proc, args[0]);
      case SYS.KVM_SET_REGS:
        this.charge(cost.hosted.syscall);
        return this.setRegs(proc, args[0], args[1]);
      case SYS.KVM_GET_REGS:
        this.charge(cost.hosted.syscall);
        return this.getRegs(proc, args[0], args[1]);
      default: // SYS.KVM_RUN, the last of KVM_SYSCALLS
        return this.run(proc, args[0]);
    }
  }

  private fd(proc: Process, fd: number): unknown {
    return proc.fds.get(fd);
  }

  private createVm(proc: Process): number {
    const platform = this.platformOf(proc);
    if (!platform) return -ERRNO.EINVAL;
    for (const f of proc.fds.values()) if (f instanceof KvmVm) return -ERRNO.EEXIST;
    const kvm = new KvmVm(this.vms.length, proc, platform);
    this.vms.push(kvm);
    const fd = proc.nextFd++;
    proc.fds.set(fd, kvm);
    return fd;
  }

  /**
   * Memory slot 0 = the VMM's memory at userspace_addr: the module looks up the host page behind each
   * of its pages through the VMM's page tables (as KVM does with get_user_pages) to build the
   * guest-physical map. The EPT starts empty; pages are mapped on their first EPT violation.
   */
  private setMemoryRegion(proc: Process, vmfd: number, regionPtr: number): number {
    const k = this.kernel;
    const kvm = this.fd(proc, vmfd);
    if (!(kvm instanceof KvmVm)) return -ERRNO.EBADF;
    const region = k.copyFromUser(proc, regionPtr, REGION.BYTES);
    if (!region) return -ERRNO.EFAULT;
    const view = new DataView(region.buffer);
    const slot = view.getUint32(REGION.SLOT, true);
    const gpa = view.getUint32(REGION.GPA, true);
    const size = view.getUint32(REGION.SIZE, true);
    const hva = view.getUint32(REGION.HVA, true);
    if (slot !== 0 || gpa !== 0 || kvm.memory || size === 0 || size % PAGE || hva % PAGE) return -ERRNO.EINVAL;
    if (!k.userRangeOk(proc, hva, size, true)) return -ERRNO.EFAULT;
    const memory = new GuestMemory(k.machine.memory, k.allocator, size);
    for (let off = 0; off < size; off += PAGE) {
      memory.p2m[off / PAGE] = k.userToPhys(proc, hva + off, true);
      memory.populatedPages++;
    }
    kvm.memory = memory;
    kvm.hva = hva;
    if (kvm.paging === "ept") {
      kvm.ept = new EptBuilder(k.machine.memory, k.allocator);
      kvm.eptMapped = new Uint8Array(size / PAGE);
    }
    return 0;
  }

  private createVcpu(proc: Process, vmfd: number): number {
    const k = this.kernel;
    const kvm = this.fd(proc, vmfd);
    if (!(kvm instanceof KvmVm)) return -ERRNO.EBADF;
    if (!kvm.memory) return -ERRNO.EINVAL;
    if (kvm.vcpu) return -ERRNO.EEXIST;
    const machine = k.machine;
    const vmx = machine.vmx;
    const vmcs = k.allocPage();
    machine.memory.write32(vmcs, VMCS_REVISION_ID);
    const runPage = k.allocPage();
    k.mapUser(proc, KVM_RUN_ADDR, runPage);
    const vm = new Vm(kvm.id, { ...kvm.platform.config, paging: kvm.paging }, kvm.memory, vmcs, kvm.platform.devices);
    if (kvm.paging === "ept") vm.mmu = new EptMmu(kvm.ept!);
    else {
      // The shadow MMU's host is the module: the machine, and kernel pages for the shadow tables.
      vm.mmu = new ShadowMmu({ machine, allocatePage: () => k.allocPage() }, vm);
    }
    const vcpu = new KvmVcpu(kvm, vm, vmcs, runPage);
    kvm.vcpu = vcpu;
    this.byProcess.set(proc, vcpu);
    vmx.vmclear(vmcs);
    vmx.vmptrld(vmcs);
    setupVmcs(machine, vm.mmu.settings(vm), { cr3: proc.pd, msrBitmap: this.msrBitmap }, vm.vpid, 0);
    // The host state of a hosted kernel, and its own controls: external interrupts exit (and are
    // acknowledged on exit) so the host's timer interrupt always reaches the host scheduler.
    const w = (f: number, v: number) => vmx.write(f, v >>> 0);
    w(VMCS.PIN_BASED_VM_EXEC_CONTROL, vmx.read(VMCS.PIN_BASED_VM_EXEC_CONTROL) | C.PIN_BASED_EXT_INTR_MASK);
    w(VMCS.VM_EXIT_CONTROLS, vmx.read(VMCS.VM_EXIT_CONTROLS) | C.VM_EXIT_ACK_INTR_ON_EXIT);
    w(VMCS.HOST_CR0, HOST_CR0);
    w(VMCS.HOST_CR4, HOST_CR4);
    w(VMCS.HOST_GDTR_BASE, GDT_BASE);
    w(VMCS.HOST_IDTR_BASE, IDT_BASE);
    w(VMCS.HOST_TR_BASE, TSS_BASE);
    w(VMCS.HOST_CS_SELECTOR, KCODE);
    for (const f of [VMCS.HOST_SS_SELECTOR, VMCS.HOST_DS_SELECTOR, VMCS.HOST_ES_SELECTOR]) w(f, KDATA);
    w(VMCS.HOST_TR_SELECTOR, TSS_SEL);
    // A VM exit loads IA32_SYSENTER_* from these: the VMM's next SYSENTER needs the host's values.
    w(VMCS.HOST_IA32_SYSENTER_CS, KCODE);
    w(VMCS.HOST_IA32_SYSENTER_ESP, TSS_ESP0);
    w(VMCS.HOST_IA32_SYSENTER_EIP, k.sysenterEntry);
    w(VMCS.HOST_RIP, k.vmxExitPath);
    const fd = proc.nextFd++;
    proc.fds.set(fd, vcpu);
    return fd;
  }

  private vcpuFd(proc: Process, fd: number): KvmVcpu | null {
    const v = this.fd(proc, fd);
    return v instanceof KvmVcpu && !v.kvm.destroyed ? v : null;
  }

  /** Makes the vCPU's VMCS current (VMPTRLD when another VM's was). */
  private vcpuLoad(vcpu: KvmVcpu): void {
    const vmx = this.kernel.machine.vmx;
    if (vmx.currentVmcs !== vcpu.vmcs) {
      vmx.vmptrld(vcpu.vmcs);
      this.charge(this.kernel.cost.vmx.vmxManagement);
    }
  }

  private setRegs(proc: Process, fd: number, ptr: number): number {
    const vcpu = this.vcpuFd(proc, fd);
    if (!vcpu) return -ERRNO.EBADF;
    const bytes = this.kernel.copyFromUser(proc, ptr, KVM_REGS.BYTES);
    if (!bytes) return -ERRNO.EFAULT;
    const r = new DataView(bytes.buffer);
    const get = (off: number) => r.getUint32(off, true) | 0;
    const regs = vcpu.vm.regs;
    regs[0] = get(KVM_REGS.EAX);
    regs[1] = get(KVM_REGS.ECX);
    regs[2] = get(KVM_REGS.EDX);
    regs[3] = get(KVM_REGS.EBX);
    regs[5] = get(KVM_REGS.EBP);
    regs[6] = get(KVM_REGS.ESI);
    regs[7] = get(KVM_REGS.EDI);
    this.vcpuLoad(vcpu);
    const vmx = this.kernel.machine.vmx;
    vmx.write(VMCS.GUEST_RSP, get(KVM_REGS.ESP) >>> 0);
    vmx.write(VMCS.GUEST_RIP, get(KVM_REGS.EIP) >>> 0);
    vmx.write(VMCS.GUEST_RFLAGS, (get(KVM_REGS.EFLAGS) | 2) >>> 0);
    return 0;
  }

  private getRegs(proc: Process, fd: number, ptr: number): number {
    const vcpu = this.vcpuFd(proc, fd);
    if (!vcpu) return -ERRNO.EBADF;
    const s = this.snapshot(vcpu);
    const out = new Uint8Array(KVM_REGS.BYTES);
    const v = new DataView(out.buffer);
    const put = (off: number, x: number) => v.setUint32(off, x >>> 0, true);
    put(KVM_REGS.EAX, s.eax);
    put(KVM_REGS.EBX, s.ebx);
    put(KVM_REGS.ECX, s.ecx);
    put(KVM_REGS.EDX, s.edx);
    put(KVM_REGS.ESI, s.esi);
    put(KVM_REGS.EDI, s.edi);
    put(KVM_REGS.ESP, s.esp);
    put(KVM_REGS.EBP, s.ebp);
    put(KVM_REGS.EIP, s.eip);
    put(KVM_REGS.EFLAGS, s.eflags);
    return this.kernel.copyToUser(proc, ptr, out) ? 0 : -ERRNO.EFAULT;
  }

  /** The guest-visible registers of a vCPU that is not in guest mode (observation: nothing is charged). */
  snapshot(vcpu: KvmVcpu): RegisterSnapshot {
    const vmx = this.kernel.machine.vmx;
    const previous = vmx.currentVmcs;
    if (previous !== vcpu.vmcs) vmx.vmptrld(vcpu.vmcs);
    const s = guestRegisterSnapshot(vmx, vcpu.vm, vcpu.vm.regs, vcpu.vm.cr2);
    if (previous !== vcpu.vmcs && previous >= 0) vmx.vmptrld(previous);
    return s;
  }

  // ======================= KVM_RUN =======================

  private run(proc: Process, fd: number): SyscallResult {
    const k = this.kernel;
    const vcpu = this.vcpuFd(proc, fd);
    // The VMM's system call into the module (syscall entry, vcpu_load's software part).
    this.charge(k.cost.hosted.userToKernel);
    if (!vcpu) return -ERRNO.EBADF;
    vcpu.stats.runCalls++;
    if (vcpu.open) this.closeHop(vcpu, "syscall");
    if (vcpu.stop) return this.fillStopExit(vcpu);
    this.vcpuLoad(vcpu);
    this.completeUserExit(vcpu);
    proc.continuation = this.vcpuLoopOf(proc, vcpu);
    return "deferred";
  }

  /** The kernel continuation of a vCPU's KVM_RUN, made once per vCPU (one closure, not one per call). */
  private vcpuLoopOf(proc: Process, vcpu: KvmVcpu): () => void {
    // (The closure is made apart: one here would make V8 allocate this function's context at every call.)
    return vcpu.loop ?? this.makeVcpuLoop(proc, vcpu);
  }

  private makeVcpuLoop(proc: Process, vcpu: KvmVcpu): () => void {
    const k = this.kernel;
    const loop = () => {
      k.enterMode(MODE.kvm);
      this.runLoop(proc, vcpu);
      k.enterMode(MODE.kernel);
    };
    vcpu.loop = loop;
    return loop;
  }

  private exitContextOf(vcpu: KvmVcpu): ReusableExitContext {
    return vcpu.exitContext ?? this.makeExitContext(vcpu);
  }

  private makeExitContext(vcpu: KvmVcpu): ReusableExitContext {
    const ctx = new ReusableExitContext(this.kernel.machine, this.kernel.cost, (_vm, stop) =>
      this.stopVcpu(vcpu, stop),
    );
    vcpu.exitContext = ctx;
    return ctx;
  }

  /** What user space did with the last exit goes back into the guest (complete_userspace_io). */
  private completeUserExit(vcpu: KvmVcpu): void {
    const p = vcpu.pending;
    if (!p) return;
    vcpu.pending = null;
    const mem = this.kernel.machine.memory;
    const regs = vcpu.vm.regs;
    const run = vcpu.runPage;
    if (p.kind === "pio-in") {
      const value = mem.read32(run + KVM_RUN.DATA) & MASK[p.size]!;
      regs[0] = p.size === 4 ? value : (regs[0]! & ~MASK[p.size]!) | value;
    } else if (p.kind === "mmio-read") {
      const value = mem.read32(run + KVM_RUN.MMIO_DATA) & MASK[p.size]!;
      if (p.byteReg) {
        const r = p.reg & 3;
        const shift = p.reg & 4 ? 8 : 0;
        regs[r] = (regs[r]! & ~(0xff << shift)) | ((value & 0xff) << shift);
      } else if (p.reg === 4) {
        const vmx = this.kernel.machine.vmx;
        const esp = vmx.read(VMCS.GUEST_RSP);
        vmx.write(VMCS.GUEST_RSP, (p.opsize === 16 ? (esp & ~0xffff) | (value & 0xffff) : value) >>> 0);
      } else if (p.opsize === 16) regs[p.reg] = (regs[p.reg]! & ~0xffff) | (value & 0xffff);
      else regs[p.reg] = value;
    } else {
      regs[0] = mem.read32(run + KVM_RUN.HC_RET);
    }
  }

  /**
   * The vCPU loop of a KVM_RUN in progress (the process's kernel continuation): enter the guest,
   * handle exits in the kernel, re-enter; leave for user space, to block, or when the host scheduler
   * wants the CPU (the process stays in the kernel and the loop resumes when it runs again). With the
   * exit fastpath armed, the guest's cpu.run() does the same inside the CPU's loop (fastpath()).
   */
  private runLoop(proc: Process, vcpu: KvmVcpu): void {
    const k = this.kernel;
    const cpu = k.cpu;
    const vmx = k.machine.vmx;
    const vm = vcpu.vm;
    // A run paused inside the guest continues there (the CPU is still in VMX non-root operation).
    let inGuest = vcpu.pausedIn === "guest";
    vcpu.pausedIn = null;
    for (;;) {
      if (!inGuest) {
        const entry = this.tryEntry(proc, vcpu);
        if (entry === "leave") return;
        if (entry === "again") continue;
      }
      inGuest = false;
      // ---- the guest runs ----
      this.startGuestRun(vm);
      const fast = this.fastpathAllowed();
      if (fast) {
        this.fastProc = proc;
        this.fastVcpu = vcpu;
      }
      const stop = cpu.run(guestRun);
      this.fastVcpu = null;
      this.fastProc = null;
      if (fast) {
        if (this.fastInHost) {
          // The fastpath returned to the VMM and the CPU went on in host code: the stop is the kernel's.
          this.fastInHost = false;
          k.hostCodeStopped(stop);
          return;
        }
        const handled = this.fastHandled;
        if (handled !== null) {
          // The fastpath handled the exit but did not go on: the loop goes on from where it stopped.
          this.fastHandled = null;
          if (handled === "leave") return;
          continue;
        }
      }
      const exitCost = this.endGuestRun(vm);
      if ((stop.kind === "hook" || stop.kind === "breakpoint") && vmx.nonRoot) {
        // A debugger's hook or breakpoint stopped the CPU inside the guest: the vCPU stays in VMX
        // non-root operation and the next run continues it at that instruction boundary.
        this.pause(vcpu, "guest");
        return;
      }
      if (stop.kind !== "vmexit") {
        // Out of budget (or an unexpected stop) in the guest: take the CPU back, as a timer would.
        if (vmx.nonRoot) {
          vmx.forceExit();
          vm.stats.hypervisorCycles += k.cost.vmx.vmExit;
        }
        this.saveGuest(vcpu);
        cpu.regs[ESP] = proc.kernelEsp;
        if (
          stop.kind === "limit" &&
          cpu.cycles >= k.cycleLimit &&
          vm.stats.guestInstructions < this.maxGuestInstructions
        ) {
          return; // the run's cycle limit: the loop resumes if the system runs on
        }
        if (stop.kind !== "limit")
          this.stopVcpu(vcpu, { kind: "error", diagnostic: `unexpected stop in the guest: ${stop.kind}` });
        continue;
      }
      const outcome = this.handleExit(proc, vcpu, exitCost);
      if (outcome === "resume") continue;
      if (outcome === "stop") continue;
      return; // "user" (the CPU returns to the VMM) or "block" (another process runs)
    }
  }

  /**
   * The loop's checks before a VM entry, then the entry: "entered", "again" (check again: the VM
   * stopped, or its entry failed) or "leave" (the loop returns: to user space, to the scheduler, at
   * the cycle limit, or to pause).
   */
  private tryEntry(proc: Process, vcpu: KvmVcpu): "entered" | "again" | "leave" {
    const k = this.kernel;
    if (vcpu.stop) {
      this.returnToUser(proc, vcpu, this.stopExitReason(vcpu.stop));
      return "leave";
    }
    if (k.needResched) {
      k.schedule();
      return "leave";
    }
    if (k.cpu.cycles >= k.cycleLimit) return "leave";
    if (vcpu.vm.stats.guestInstructions >= this.maxGuestInstructions) {
      this.vcpuLoad(vcpu);
      this.stopVcpu(vcpu, { kind: "limit" });
      return "again";
    }
    if (this.pauseBeforeEntry(vcpu)) return "leave";
    return this.enter(proc, vcpu) ? "entered" : "again";
  }

  /** A stretch in the guest starts (after the entry): its limits, and the marks endGuestRun() counts from. */
  private startGuestRun(vm: Vm): void {
    const k = this.kernel;
    const cpu = k.cpu;
    this.guestStartInstret = cpu.instret;
    this.guestStartCycles = cpu.cycles;
    k.enterMode(MODE.guest);
    const budget = this.maxGuestInstructions - vm.stats.guestInstructions;
    const limit = k.cycleLimit - cpu.cycles;
    // (an infinite budget or limit is no limit, as an absent one)
    guestRun.maxInstructions = Math.max(0, budget);
    guestRun.maxCycles = Math.max(0, limit);
  }

  /** The stretch in the guest ended (a VM exit, or a stop in the guest): its instructions and cycles. Returns the exit's cost. */
  private endGuestRun(vm: Vm): number {
    const k = this.kernel;
    const cpu = k.cpu;
    const retired = cpu.instret - this.guestStartInstret;
    vm.stats.guestInstructions += retired;
    k.guestInstret += retired;
    const exitCost = k.machine.vmx.nonRoot ? 0 : k.cost.vmx.vmExit;
    k.enterMode(MODE.kvm, exitCost);
    vm.stats.guestCycles += cpu.cycles - this.guestStartCycles - exitCost;
    vm.stats.hypervisorCycles += exitCost;
    return exitCost;
  }

  /**
   * Whether the guest's cpu.run() may handle exits in fastpath(): not when someone observes each exit
   * (records, pauses) or the CPU (a debugger's hooks and breakpoints), which need the loops to see it.
   */
  fastpathAllowed(): boolean {
    const cpu = this.kernel.cpu;
    return (
      this.fastpathEnabled &&
      this.onExit === null &&
      this.pauseOnExit === null &&
      cpu.hooks.instruction === null &&
      cpu.hooks.memory === null &&
      cpu.breakpoints.size === 0
    );
  }

  /**
   * The exit fastpath (Vmx.fastpath), called by the guest's cpu.run() at each VM exit while armed:
   * what runLoop() and the kernel's main loop do after that cpu.run() returns, at the same cycles, so
   * every count and record comes out the same. An exit handled in the kernel re-enters the guest; one
   * that goes to user space goes on into the kernel's exit path to the VMM (true: cpu.run() goes on).
   * Otherwise (false) fastHandled tells runLoop() how to go on.
   */
  private fastpath(): boolean {
    const vcpu = this.fastVcpu;
    if (vcpu === null) return false;
    const proc = this.fastProc!;
    // Disarmed while it works: an exit during the entry below (delivering an injected event) ends cpu.run().
    this.fastVcpu = null;
    const vm = vcpu.vm;
    const outcome = this.handleExit(proc, vcpu, this.endGuestRun(vm));
    if (outcome === "user") {
      // KVM_RUN returns to the VMM: the continuation ends (its return to the main loop) and the main
      // loop runs the CPU in the VMM's code.
      if (this.kernel.continueIntoHostCode()) {
        this.fastInHost = true;
        return true;
      }
      this.fastHandled = "leave";
      return false;
    }
    if (outcome === "block") {
      this.fastHandled = "leave";
      return false;
    }
    const entry = this.tryEntry(proc, vcpu);
    if (entry !== "entered") {
      this.fastHandled = entry === "leave" ? "leave" : "again";
      return false;
    }
    this.startGuestRun(vm);
    this.fastVcpu = vcpu;
    return true;
  }

  /** A pause the run asked for: the kernel's main loop returns "paused" when this continuation returns. */
  private pause(vcpu: KvmVcpu, at: "guest" | "exit" | "launch"): void {
    vcpu.pausedIn = at;
    this.pausedVcpu = vcpu;
    this.kernel.pauseRequested = true;
  }

  /**
   * The pause points before a VM entry: once an exit's handling is complete (pauseOnExit), and before
   * a vCPU's first VMLAUNCH (pauseBeforeLaunch). Resuming runs the loop's checks again, which find
   * what they found before the pause (nothing ran in between).
   */
  private pauseBeforeEntry(vcpu: KvmVcpu): boolean {
    const o = vcpu.open;
    if (o && !o.offered) {
      o.offered = true;
      o.rec.latency = this.kernel.cpu.cycles - o.start;
      if (this.pauseOnExit?.(o.rec)) {
        this.pause(vcpu, "exit");
        return true;
      }
    } else if (!vcpu.launched && this.pauseBeforeLaunch && !vcpu.launchOffered) {
      vcpu.launchOffered = true;
      this.pause(vcpu, "launch");
      return true;
    }
    return false;
  }

  /** VM entry: event injection, the preemption timer armed, VMLAUNCH/VMRESUME. False if the entry failed. */
  private enter(proc: Process, vcpu: KvmVcpu): boolean {
    const k = this.kernel;
    const cpu = k.cpu;
    const vmx = k.machine.vmx;
    const vm = vcpu.vm;
    this.vcpuLoad(vcpu);
    const next = vm.devices.advance(cpu.cycles);
    if (injectPendingInterrupt(vmx, vm)) {
      this.charge(k.cost.hypervisor.interruptInjection);
      vm.stats.hypervisorCycles += k.cost.hypervisor.interruptInjection;
    }
    const unit = 2 ** 5; // the preemption timer counts every 32 TSC cycles (IA32_VMX_MISC)
    const ticks = next === Number.POSITIVE_INFINITY ? 0xffffffff : Math.max(0, Math.ceil((next - cpu.cycles) / unit));
    vmx.write(VMCS.VMX_PREEMPTION_TIMER_VALUE, Math.min(ticks, 0xffffffff));
    vcpu.setHostRsp(this, proc.kernelEsp);
    for (let r = 0; r < 8; r++) cpu.regs[r] = vm.regs[r]!; // (a loop: TypedArray.set costs more for 8)
    cpu.regs[ESP] = proc.kernelEsp;
    cpu.cr2 = vm.cr2;
    const beforeEntry = cpu.cycles;
    const r = vcpu.launched ? vmx.resume() : vmx.launch();
    if (!r.ok) {
      cpu.regs[ESP] = proc.kernelEsp;
      this.stopVcpu(vcpu, {
        kind: "error",
        diagnostic: `VM entry failed: VM-instruction error ${r.invalid ? "(VMfailInvalid)" : r.error}`,
      });
      return false;
    }
    vcpu.launched = true;
    vm.stats.hypervisorCycles += cpu.cycles - beforeEntry;
    if (vcpu.open) this.finishRecord(vcpu, "entry");
    return true;
  }

  private saveGuest(vcpu: KvmVcpu): void {
    const cpu = this.kernel.cpu;
    const regs = vcpu.vm.regs;
    for (let r = 0; r < 8; r++) regs[r] = cpu.regs[r]!;
    vcpu.vm.cr2 = cpu.cr2;
  }

  private stopVcpu(vcpu: KvmVcpu, stop: VmStop): void {
    if (vcpu.stop) return;
    vcpu.stop = stop;
    vcpu.finalRegs = this.snapshot(vcpu);
  }

  private stopExitReason(stop: VmStop): number {
    switch (stop.kind) {
      case "halt":
        return KVM_EXIT.HLT;
      case "shutdown":
        return KVM_EXIT.SHUTDOWN;
      case "limit":
        return KVM_EXIT.INTR;
      default:
        return KVM_EXIT.INTERNAL_ERROR;
    }
  }

  private fillStopExit(vcpu: KvmVcpu): number {
    this.kernel.machine.memory.write32(vcpu.runPage + KVM_RUN.EXIT_REASON, this.stopExitReason(vcpu.stop!));
    this.charge(this.kernel.cost.hosted.kernelToUser);
    return 0;
  }

  /**
   * Back to the VMM: KVM_RUN returns 0 with the exit in kvm_run. TR is reloaded (the exit left its
   * limit at 0x67), the system call returns (kernelToUser), and the CPU leaves the kernel through
   * the exit path from HOST_RIP: POPAD ... SYSEXIT (IRETD after an INT 0x80) restore the VMM's user
   * context from its trap frame.
   */
  private returnToUser(proc: Process, vcpu: KvmVcpu, exitReason: number): void {
    const k = this.kernel;
    const cpu = k.cpu;
    k.machine.memory.write32(vcpu.runPage + KVM_RUN.EXIT_REASON, exitReason);
    k.reloadTrIfNeeded();
    this.charge(k.cost.hosted.kernelToUser);
    proc.continuation = null;
    k.setReturn(proc, 0);
    cpu.regs[ESP] = proc.kernelEsp;
    cpu.eip = k.vmxExitPath;
  }

  // ======================= exits =======================

  private handleExit(proc: Process, vcpu: KvmVcpu, exitCycles: number): "resume" | "user" | "block" | "stop" {
    const k = this.kernel;
    const machine = k.machine;
    const cpu = k.cpu;
    const vmx = machine.vmx;
    const vm = vcpu.vm;
    // The exit's record (its hops, for --trace and debuggers) only when someone listens: it costs host
    // time per exit. A record keeps its exit's information: then it gets an object of its own.
    const recording = this.onExit !== null || this.pauseOnExit !== null;
    const info = recording ? vmx.exitInfo() : vmx.exitInfo(vcpu.exitScratch);
    const basic = info.reason & 0xffff;
    const failedEntry = (info.reason & 0x80000000) !== 0;
    vm.countExit(basic);
    const start = cpu.cycles - exitCycles;
    const seq = ++this.exitSeq;
    const rec: HostedExitRecord | null = recording
      ? {
          ...exitRecordHead(seq, vm, info),
          instruction: "",
          handledIn: "kernel",
          handler: "",
          action: "resume",
          hops: [{ name: "exit", cycles: exitCycles }],
          latency: 0,
          waited: 0,
          blocked: 0,
        }
      : null;
    if (rec) {
      if (info.instructionLength > 0 || basic === EXIT_REASON.EPT_VIOLATION || basic === EXIT_REASON.EXCEPTION_NMI) {
        rec.instruction = this.instructionText(vcpu, info.guestRip);
      }
      vcpu.open = { rec, start, mark: cpu.cycles, carry: 0, offered: false };
    }
    let toUser: number | null = null;
    const ctx = this.exitContextOf(vcpu);
    ctx.begin(vm, info, k.cost.hypervisor.dispatch, rec !== null);
    let action: ExitAction;
    if (failedEntry) action = EXIT_HANDLERS[EXIT_REASON.INVALID_STATE]!(ctx);
    else {
      switch (basic) {
        case EXIT_REASON.IO_INSTRUCTION: {
          const r = this.exitIo(ctx, vcpu);
          action = r === "user" ? "resume" : r;
          if (r === "user") toUser = KVM_EXIT.IO;
          break;
        }
        case EXIT_REASON.EPT_VIOLATION:
          if (vcpu.kvm.paging === "ept") {
            const r = this.exitEptViolation(ctx, vcpu);
            action = r === "user" ? "resume" : r;
            if (r === "user") toUser = KVM_EXIT.MMIO;
          } else action = vm.mmu.onEptViolation(ctx);
          break;
        case EXIT_REASON.EXTERNAL_INTERRUPT: {
          // The host's interrupt (acknowledged on exit): run its handler, as KVM calls the IDT entry.
          const vector = info.interruptionInfo & 0xff;
          k.interrupt(vector);
          ctx.note(`host interrupt 0x${vector.toString(16)}: the host kernel's handler ran`);
          if (k.needResched) ctx.note("the host scheduler preempts the vCPU thread");
          action = "resume";
          break;
        }
        case EXIT_REASON.VMCALL: {
          const r = this.exitVmcall(ctx, vcpu);
          action = r === "user" ? "resume" : r;
          if (r === "user") toUser = KVM_EXIT.HYPERCALL;
          if (action === "yield") k.yieldCpu(proc);
          break;
        }
        default: {
          const handler = EXIT_HANDLERS[basic];
          action = handler ? handler(ctx) : handleUnexpectedExit(ctx);
        }
      }
    }
    reinjectInterruptedEvent(ctx);
    const handlerCycles = ctx.handlerCycles;
    cpu.cycles += handlerCycles;
    vm.stats.hypervisorCycles += handlerCycles;
    this.saveGuest(vcpu);
    cpu.regs[ESP] = proc.kernelEsp;
    if (rec) rec.handler = ctx.notes.join("; ");
    this.closeHop(vcpu, "kernel");
    if (toUser !== null && !vcpu.stop) {
      vcpu.stats.userExits++;
      vcpu.keepExit(info);
      if (rec) {
        rec.handledIn = "user";
        rec.action = "user";
      }
      this.returnToUser(proc, vcpu, toUser);
      return "user";
    }
    vcpu.stats.kernelExits++;
    if (action === "stop" || vcpu.stop) {
      if (rec) rec.action = "stop";
      this.emit(vcpu);
      return "stop";
    }
    if (action === "halt") {
      // HLT: the vCPU thread sleeps until the guest's next virtual timer event.
      if (rec) rec.action = "block";
      vcpu.stats.halts++;
      k.reloadTrIfNeeded();
      k.block(proc, "vcpu-halt", vm.devices.advance(cpu.cycles));
      k.schedule();
      return "block";
    }
    return "resume";
  }

  private instructionText(vcpu: KvmVcpu, eip: number): string {
    const cpu = this.kernel.cpu;
    const regs = guestRegisterSnapshot(this.kernel.machine.vmx, vcpu.vm, cpu.regs, cpu.cr2);
    return guestInstructionText(
      vcpu.vm,
      { paging: (regs.cr0 & 0x80000000) !== 0, cr3: regs.cr3, pse: (regs.cr4 & 0x10) !== 0 },
      eip,
    );
  }

  /**
   * VMCALL: the type-1 hypervisor's checks and calls (a ring-3 caller or a bad buffer gets -1); only a
   * valid console write is a device operation, which user space does (KVM_EXIT_HYPERCALL). (A method of
   * its own: a closure in handleExit would make V8 allocate its context at every exit.)
   */
  private exitVmcall(ctx: ReusableExitContext, vcpu: KvmVcpu): ExitAction | "user" {
    let toUser = false;
    const action = handleVmcall(ctx, (_, gpa, length) => {
      const mem = this.kernel.machine.memory;
      const run = vcpu.runPage;
      mem.write32(run + KVM_RUN.HC_NR, HYPERCALL.CONSOLE_WRITE);
      mem.write32(run + KVM_RUN.HC_ARGS, gpa);
      mem.write32(run + KVM_RUN.HC_ARGS + 4, length);
      mem.write32(run + KVM_RUN.HC_ARGS + 8, ctx.cpu.regs[2]!);
      mem.write32(run + KVM_RUN.HC_RET, 0);
      ctx.note("hypercall CONSOLE_WRITE: to user space (KVM_EXIT_HYPERCALL)");
      vcpu.pending = { kind: "hypercall" };
      toUser = true;
      return "resume";
    });
    return toUser ? "user" : action;
  }

  /** Port I/O: the in-kernel PIC and PIT here; anything else goes to the VMM's device models. */
  private exitIo(ctx: ReusableExitContext, vcpu: KvmVcpu): ExitAction | "user" {
    const io = decodeIoQualification(ctx.exit.qualification, this.ioScratch);
    const cost = ctx.cost;
    if (io.string) {
      return ctx.stopVm({
        kind: "error",
        diagnostic: `string port I/O (INS/OUTS) on port 0x${io.port.toString(16)} is not emulated`,
      });
    }
    if (IN_KERNEL_PORTS.has(io.port)) {
      const what = emulatePortIo(ctx, io);
      skipInstruction(ctx);
      ctx.charge(cost.hypervisor.portIo);
      ctx.note(`${what} (in-kernel ${io.port >= 0x40 ? "PIT" : "PIC"})`);
      return "resume";
    }
    // The kernel's I/O bus has no device here: describe the access in kvm_run for user space.
    const mem = this.kernel.machine.memory;
    const run = vcpu.runPage;
    mem.write8(run + KVM_RUN.IO_DIRECTION, io.input ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
    mem.write8(run + KVM_RUN.IO_SIZE, io.size);
    mem.write16(run + KVM_RUN.IO_PORT, io.port);
    mem.write32(run + KVM_RUN.IO_COUNT, 1);
    mem.write32(run + KVM_RUN.IO_DATA_OFFSET, KVM_RUN.DATA);
    const value = io.input ? 0 : (ctx.cpu.regs[0]! >>> 0) & MASK[io.size]!;
    if (io.input) vcpu.pending = { kind: "pio-in", size: io.size };
    else mem.write32(run + KVM_RUN.DATA, value);
    skipInstruction(ctx);
    ctx.charge(cost.hypervisor.portIo);
    if (ctx.tracing) {
      const what = io.input
        ? `IN port 0x${io.port.toString(16)} size ${io.size}`
        : `OUT port 0x${io.port.toString(16)} size ${io.size} value 0x${value.toString(16)}`;
      ctx.note(`${what}: to user space (KVM_EXIT_IO)`);
    }
    return "user";
  }

  /**
   * EPT violation: a guest page inside the memory slot is mapped to the VMM's page behind it (the
   * memory is already backed); outside the slot it is MMIO for user space, after the module decodes
   * the instruction (size, direction, register).
   */
  private exitEptViolation(ctx: ExitContext, vcpu: KvmVcpu): ExitAction | "user" {
    const kvm = vcpu.kvm;
    const memory = kvm.memory!;
    const gpa = ctx.exit.guestPhysicalAddress;
    if (memory.contains(gpa)) {
      const page = Math.floor(gpa / PAGE);
      const hpa = memory.translate(gpa);
      if (hpa < 0 || kvm.eptMapped![page]) {
        return ctx.stopVm({
          kind: "error",
          diagnostic: `EPT violation on mapped gpa 0x${gpa.toString(16)}: permissions`,
        });
      }
      kvm.ept!.map(page * PAGE, hpa - (gpa % PAGE));
      kvm.eptMapped![page] = 1;
      ctx.charge(ctx.cost.hypervisor.eptViolation);
      ctx.note(
        `mapped gpa 0x${(page * PAGE).toString(16).padStart(8, "0")} to the VMM's page at hva 0x${(kvm.hva + page * PAGE).toString(16)} on first touch`,
      );
      return "resume";
    }
    // MMIO: fetch and decode the instruction (what KVM's emulator does before exiting to user space).
    ctx.charge(ctx.cost.hosted.mmioEmulation);
    const access = this.decodeMmio(ctx, vcpu);
    if (!access) {
      return ctx.stopVm({
        kind: "error",
        diagnostic: `MMIO at guest-physical 0x${gpa.toString(16)} by an instruction the kernel module cannot emulate (EIP 0x${ctx.exit.guestRip.toString(16)})`,
      });
    }
    const mem = this.kernel.machine.memory;
    const run = vcpu.runPage;
    mem.write32(run + KVM_RUN.MMIO_PHYS, gpa);
    mem.write32(run + KVM_RUN.MMIO_PHYS + 4, 0);
    mem.write32(run + KVM_RUN.MMIO_DATA, access.write ? access.value : 0);
    mem.write32(run + KVM_RUN.MMIO_DATA + 4, 0);
    mem.write32(run + KVM_RUN.MMIO_LEN, access.size);
    mem.write8(run + KVM_RUN.MMIO_IS_WRITE, access.write ? 1 : 0);
    if (!access.write) {
      vcpu.pending = {
        kind: "mmio-read",
        reg: access.reg,
        size: access.size,
        byteReg: access.byteReg,
        opsize: access.opsize,
      };
    }
    ctx.vmx.write(VMCS.GUEST_RIP, (ctx.exit.guestRip + access.length) >>> 0);
    ctx.note(
      `MMIO ${access.write ? "write" : "read"} of ${access.size} bytes at gpa 0x${gpa.toString(16)}: to user space (KVM_EXIT_MMIO)`,
    );
    return "user";
  }

  /** The MOV forms a device driver uses for MMIO: MOV r/m,r; MOV r,r/m; MOV r/m,imm; MOVZX; MOV moffs. */
  private decodeMmio(
    ctx: ExitContext,
    vcpu: KvmVcpu,
  ): {
    write: boolean;
    size: 1 | 2 | 4;
    value: number;
    reg: number;
    byteReg: boolean;
    opsize: number;
    length: number;
  } | null {
    const cpu = ctx.cpu;
    const regs = guestRegisterSnapshot(ctx.vmx, vcpu.vm, cpu.regs, cpu.cr2);
    const view = { paging: (regs.cr0 & 0x80000000) !== 0, cr3: regs.cr3, pse: (regs.cr4 & 0x10) !== 0 };
    const bytes = readGuestLinear(vcpu.vm, view, ctx.exit.guestRip, 15);
    if (!bytes || bytes.length === 0) return null;
    let insn: ReturnType<typeof decodeBytes>;
    try {
      insn = decodeBytes(bytes);
    } catch {
      return null;
    }
    const op = insn.def.opcode;
    const wide = (insn.opsize / 8) as 2 | 4;
    const reg8 = (r: number) => (r & 4 ? (cpu.regs[r & 3]! >>> 8) & 0xff : cpu.regs[r]! & 0xff);
    // ESP lives in GUEST_RSP while the host runs (the CPU's ESP is the host's).
    const reg32 = (r: number) => (r === 4 ? ctx.vmx.read(VMCS.GUEST_RSP) : cpu.regs[r]!) >>> 0;
    const base = { reg: insn.reg, byteReg: false, opsize: insn.opsize, length: insn.len };
    const memOperand = insn.mod !== 3;
    switch (op) {
      case 0x88:
        return memOperand ? { ...base, write: true, size: 1, value: reg8(insn.reg) } : null;
      case 0x89:
        return memOperand ? { ...base, write: true, size: wide, value: reg32(insn.reg) & MASK[wide]! } : null;
      case 0x8a:
        return memOperand ? { ...base, write: false, size: 1, value: 0, byteReg: true } : null;
      case 0x8b:
        return memOperand ? { ...base, write: false, size: wide, value: 0 } : null;
      case 0xc6:
        return memOperand ? { ...base, write: true, size: 1, value: insn.imm & 0xff } : null;
      case 0xc7:
        return memOperand ? { ...base, write: true, size: wide, value: (insn.imm >>> 0) & MASK[wide]! } : null;
      case 0x0fb6:
        return memOperand ? { ...base, write: false, size: 1, value: 0 } : null;
      case 0x0fb7:
        return memOperand ? { ...base, write: false, size: 2, value: 0 } : null;
      case 0xa0:
        return { ...base, reg: 0, write: false, size: 1, value: 0, byteReg: true };
      case 0xa1:
        return { ...base, reg: 0, write: false, size: wide, value: 0 };
      case 0xa2:
        return { ...base, reg: 0, write: true, size: 1, value: cpu.regs[0]! & 0xff };
      case 0xa3:
        return { ...base, reg: 0, write: true, size: wide, value: (cpu.regs[0]! >>> 0) & MASK[wide]! };
      default:
        return null;
    }
  }

  // ======================= exit records (the --trace hops) =======================

  /** Ends the current hop of the vCPU's open exit record (the VMM library closes "to-user" and "device-model"). */
  closeHop(vcpu: KvmVcpu, name: HopName): void {
    const o = vcpu.open;
    if (!o) return;
    const now = this.kernel.cpu.cycles;
    o.rec.hops.push({ name, cycles: now - o.mark - o.carry });
    o.mark = now;
    o.carry = 0;
  }

  private finishRecord(vcpu: KvmVcpu, name: HopName): void {
    this.closeHop(vcpu, name);
    this.emit(vcpu);
  }

  /** Emits the open record (at the entry that resumes the guest, or when the VM stops). */
  emit(vcpu: KvmVcpu): void {
    const o = vcpu.open;
    if (!o) return;
    vcpu.open = null;
    o.rec.latency = this.kernel.cpu.cycles - o.start;
    // An exit that ends the VM is offered here (the run does not pause: the VM will not run again).
    if (!o.offered) this.pauseOnExit?.(o.rec);
    this.onExit?.(o.rec);
  }

  /** The VMM process got the CPU back: time it was blocked (HLT) or waiting for the CPU goes in its open record. */
  switchedIn(proc: Process): void {
    const vcpu = this.byProcess.get(proc);
    const o = vcpu?.open;
    if (!o) return;
    const now = this.kernel.cpu.cycles;
    const blocked = Math.max(0, proc.wokeAt - proc.offCpuSince);
    const waited = Math.max(0, now - Math.max(proc.wokeAt, proc.offCpuSince));
    if (blocked > 0) o.rec.hops.push({ name: "blocked", cycles: blocked });
    if (waited > 0) o.rec.hops.push({ name: "wait", cycles: waited });
    o.rec.blocked += blocked;
    o.rec.waited += waited;
    o.carry += blocked + waited;
  }

  /** A VMM process ended: its VM and vCPU go away with it (the fds are closed). */
  processExit(proc: Process): void {
    const vcpu = this.byProcess.get(proc);
    for (const f of proc.fds.values()) {
      if (f instanceof KvmVm && !f.destroyed) {
        f.destroyed = true;
        const vmx = this.kernel.machine.vmx;
        if (f.vcpu) {
          if (!f.vcpu.stop) f.vcpu.finalRegs = this.snapshot(f.vcpu);
          vmx.vmclear(f.vcpu.vmcs);
          this.kernel.allocator.release(f.vcpu.vmcs);
          this.kernel.allocator.release(f.vcpu.runPage);
        }
      }
    }
    if (vcpu) this.emit(vcpu);
  }
}
