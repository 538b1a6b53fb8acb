// The host OS kernel: it owns the machine and runs in VMX root operation. Its logic is TypeScript;
// every privilege transition is real on the emulated CPU. Processes are ring-3 programs, each with
// its own page directory (the kernel's direct map of RAM is in every one, as global supervisor
// pages). A process enters the kernel through the IDT (INT 0x80, the PIT's IRQ 0 through the 8259A,
// exceptions) or by SYSENTER (the VMM's system calls): a ring-0 stub saves its context on the
// process's kernel stack and issues an OUT to the upcall port, where the TypeScript kernel takes over
// with the trap frame at ESP. A context switch saves ESP, loads the next process's ESP, CR3 (a real
// MOV CR3: non-global TLB entries are flushed) and TSS.ESP0; the CPU then leaves the kernel through
// the common exit path (POPAD ... SYSEXIT for a frame from SYSENTER, IRETD for any other).
//
// Time is kept by the PIT programmed one-shot (mode 0) at the earliest kernel timer: the scheduler
// tick or a sleeping process's wake-up (a blocked vCPU's virtual timer, a disk request). Scheduling
// is fair-share (scheduler.ts). Costs: the hops the CPU executes (INT, IRET, the stubs' instructions)
// are modeled by the CPU; the kernel's own work is charged from cost.hosted (syscall, schedulerTick,
// contextSwitch) and the instruction costs of the port I/O it does (EOI, PIT programming). Which
// process and which mode (guest, KVM module, kernel, user, idle) each cycle goes to: cpu-time.ts.

import {
  type CostModel,
  type Cpu,
  Machine,
  PIT_FREQUENCY_HZ,
  type PortDevice,
  type RunOptions,
  registers,
  type StopReason,
  VMCS_REVISION_ID,
} from "@vmxlab/cpu";
import { PAGE, PageAllocator } from "@vmxlab/vmm";
import { MODE, type ModeIndex, type ProcessTime, processTime } from "./cpu-time.js";
import {
  DIRECT_MAP_LIMIT,
  ERRNO,
  FAST_SYSCALL_VECTOR,
  FIRST_FREE_PAGE,
  FRAME,
  GDT_BASE,
  IDT_BASE,
  IRQ_BASE,
  KCODE,
  KDATA,
  KERNEL_CODE,
  KERNEL_FRAME_SIZE,
  KERNEL_UPCALL_PORT,
  SYS,
  SYSCALL_VECTOR,
  TIMER_VECTOR,
  TSS_BASE,
  TSS_ESP0,
  TSS_IOMAP_OFFSET,
  TSS_LIMIT,
  TSS_SEL,
  UCODE,
  UDATA,
  USER_BASE,
  USER_FRAME_SIZE,
  USER_STACK_PAGES,
  USER_STACK_TOP,
  VMM_LIB_PORT,
} from "./layout.js";
import { type Assembled, assembleKernel, STUB_VECTORS } from "./programs.js";
import { FairScheduler, type SchedEntity, type SchedulerParams } from "./scheduler.js";

const ESP = registers.ESP;
const CR0_PE = 1;
const CR0_ET = 1 << 4;
const CR0_NE = 1 << 5;
const CR0_WP = 1 << 16;
const CR0_PG = 1 << 31;
const CR4_PSE = 1 << 4;
const CR4_PGE = 1 << 7;
const CR4_VMXE = 1 << 13;
/** Host CR0 and CR4 (VMX operation needs NE and VMXE; the kernel uses 4 MiB global pages). */
export const HOST_CR0 = (CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG) >>> 0;
export const HOST_CR4 = CR4_PSE | CR4_PGE | CR4_VMXE;

const PTE_P = 1;
const PTE_RW = 2;
const PTE_US = 4;
const PDE_PS = 0x80;
const PTE_G = 0x100;
/** What the main loop gives the CPU when the run has no cycle limit (one object, not one per run). */
const NO_LIMIT: Readonly<RunOptions> = {};
/** The CPU's stop at the two boundary ports (one object each: one of them stops the CPU at every exit). */
const KERNEL_UPCALL: Readonly<StopReason> = { kind: "hook", reason: "kernel upcall" };
const LIBRARY_UPCALL: Readonly<StopReason> = { kind: "hook", reason: "vmm library" };

export type ProcessKind = "idle" | "vmm" | "cpu" | "io";
export type ProcessState = "runnable" | "blocked" | "dead";

/** A process (task): address space, kernel stack, scheduling state and accounting. */
export class Process implements SchedEntity {
  state: ProcessState = "runnable";
  vruntime = 0;
  sliceRuntime = 0;
  /** Modeled cycles on the CPU (user, kernel and, for a VMM process, its guest's time). */
  runtime = 0;
  /** The same cycles by mode (indexed by cpu-time.ts's MODE), settled with runtime: at every account(). */
  readonly modeCycles: number[] = [0, 0, 0, 0, 0];
  /** Instructions retired on the CPU for this process (its guest's instructions excluded). */
  instructions = 0;
  /** Page directory (physical). */
  pd = 0;
  kstackTop = 0;
  /** Kernel ESP while the process is off the CPU: its trap frame (it resumes at ret_to_user). */
  kernelEsp = 0;
  /** Pages owned by the process (freed at exit). */
  readonly pages: number[] = [];
  /** Page tables of its user half, by page-directory index. */
  readonly pageTables = new Map<number, number>();
  /** Changes to its user mappings (mapUser, exit): a translation cached at one value holds while it is unchanged. */
  mappings = 0;
  symbols = new Map<string, number>();
  /**
   * Kernel work to resume instead of returning to user space (the KVM module's vCPU loop while a
   * KVM_RUN is in progress: the process may be preempted, or block, inside the kernel).
   */
  continuation: (() => void) | null = null;
  /** Cycle at which a blocked process wakes (its timer), or Infinity. */
  wakeAt = Number.POSITIVE_INFINITY;
  /** What it waits for, while blocked. */
  blockedOn: "io" | "sleep" | "vcpu-halt" | null = null;
  exitStatus: number | null = null;
  /** The fatal signal's description when the kernel killed the process. */
  killedBy: string | null = null;
  readonly fds = new Map<number, unknown>();
  nextFd = 3;
  /** Completed disk requests (I/O-bound jobs). */
  ioCompleted = 0;
  /** Times the process got the CPU. */
  switchesIn = 0;
  // accounting marks
  onCpuSince = 0;
  instretSince = 0;
  guestInstretSince = 0;
  offCpuSince = 0;
  wokeAt = 0;
  /** Per-process data of subsystems (the VMM library's state for a VMM process). */
  user: unknown = null;

  constructor(
    readonly pid: number,
    readonly name: string,
    readonly kind: ProcessKind,
    readonly weight: number,
  ) {}

  /** The value of a symbol of its program (for reading its memory, e.g. `progress`). */
  symbol(name: string): number {
    const v = this.symbols.get(name);
    if (v === undefined) throw new Error(`${this.name}: no symbol '${name}'`);
    return v;
  }
}

export interface KernelOptions {
  /** Machine RAM in MiB (below 1 GiB: the kernel maps all of it under USER_BASE). */
  memoryMiB: number;
  costModel?: CostModel | string;
  /** Scheduler tick rate (default 1000 Hz). */
  tickHz?: number;
  scheduler?: Partial<SchedulerParams>;
  /** Latency of one request to the modeled disk of the I/O-bound jobs (default 100 µs). */
  ioLatencyCycles?: number;
}

/** What the kernel reports. */
export interface KernelStats {
  contextSwitches: number;
  timerInterrupts: number;
  syscalls: number;
  /** Cycles the CPU spent in the idle task. */
  idleCycles: number;
}

/** A system-call handler result: a value for EAX, or "deferred" (the handler set the result up itself). */
export type SyscallResult = number | "deferred";

/** Subsystems plug in here: the KVM module's system calls, the VMM library, exit notifications. */
export interface KernelHooks {
  /** System calls the core does not know (the KVM module's); `args` is reused by the next call: read, never keep. */
  syscall?: (proc: Process, nr: number, args: [number, number, number]) => SyscallResult | undefined;
  /** OUT to the VMM library port from a VMM process (its user-space code, in TypeScript). */
  userLibrary?: (proc: Process) => void;
  /** Whether the VMM library may run inside its OUT (no debugger or trace needs the CPU to stop there). */
  libraryInline?: () => boolean;
  /** A process ended (exit or killed); called before its memory is freed. */
  processExit?: (proc: Process) => void;
  /** The process is about to lose the CPU / has just got it (the KVM module's vcpu_put/vcpu_load, traces). */
  switchOut?: (proc: Process) => void;
  switchIn?: (proc: Process) => void;
}

export class HostKernel {
  readonly machine: Machine;
  readonly cpu: Cpu;
  readonly cost: CostModel;
  readonly allocator: PageAllocator;
  readonly scheduler: FairScheduler<Process>;
  readonly processes: Process[] = [];
  readonly idle: Process;
  current: Process;
  needResched = false;
  readonly hooks: KernelHooks = {};
  readonly stats: KernelStats = { contextSwitches: 0, timerInterrupts: 0, syscalls: 0, idleCycles: 0 };
  readonly tickCycles: number;
  readonly ioLatencyCycles: number;
  /** Address of `ret_to_user`, `vmx_vmexit` and `sysenter_entry` in the kernel image. */
  readonly retToUser: number;
  readonly vmxExitPath: number;
  readonly sysenterEntry: number;
  readonly kernelImage: Assembled;
  /** Instructions retired in VMX non-root operation (the KVM module adds them), to keep them out of process counts. */
  guestInstret = 0;
  /** The run's cycle limit (the main loop and the KVM module stop there). */
  cycleLimit = Number.POSITIVE_INFINITY;
  /**
   * Set by a subsystem (the KVM module) inside a kernel continuation: run() returns "paused" as soon
   * as that continuation returns, and the next run() goes on exactly from there.
   */
  pauseRequested = false;
  /** Where the last run() paused, or null: in a continuation ("kernel") or in code on the CPU ("cpu"). */
  pausedIn: "kernel" | "cpu" | null = null;
  /** The mode the CPU's cycles since `modeSince` are spent in, for the current process (cpu-time.ts). */
  private mode: ModeIndex = MODE.kernel;
  private modeSince = 0;
  private nextPid = 1;
  private nextTick = 0;
  /** Cycle of the PIT's programmed interrupt (Infinity when it has fired and not been re-armed). */
  private clockDeadline = Number.POSITIVE_INFINITY;
  private pendingUpcall: "kernel" | "library" | "done" | null = null;
  /** The run's end test (run()'s `done`), for the KVM module's fastpath that goes on into host code. */
  private done: () => boolean = () => false;
  /** CPU counters at the start of the current stretch of host code on the CPU (chargeRun splits it). */
  private runUser = 0;
  private runHalted = 0;
  /**
   * How a stretch of host code that a kernel continuation's cpu.run() went on into ended (the KVM
   * module's exit fastpath returned to the VMM inside the guest's run): the main loop takes it as the
   * end of its own cpu.run().
   */
  private hostStop: StopReason | null = null;
  private readonly directMapPdes: number;
  /** A system call's EBX, ECX, EDX for its handler (reused: handlers read them, never keep the array). */
  private readonly syscallArgs: [number, number, number] = [0, 0, 0];

  constructor(options: KernelOptions) {
    if (options.memoryMiB * 1024 * 1024 > DIRECT_MAP_LIMIT) {
      throw new Error(`host memory must stay below ${DIRECT_MAP_LIMIT >>> 20} MiB (the kernel's direct map)`);
    }
    this.machine = new Machine({
      memoryMiB: options.memoryMiB,
      ...(options.costModel ? { costModel: options.costModel } : {}),
    });
    this.cpu = this.machine.cpu;
    this.cost = this.machine.costModel;
    const hz = this.cpu.hz;
    this.tickCycles = Math.round(hz / (options.tickHz ?? 1000));
    this.ioLatencyCycles = options.ioLatencyCycles ?? Math.round(hz / 10_000);
    const ms = hz / 1000;
    this.scheduler = new FairScheduler<Process>({
      latencyCycles: options.scheduler?.latencyCycles ?? 6 * ms,
      minGranularityCycles: options.scheduler?.minGranularityCycles ?? 0.75 * ms,
      wakeupGranularityCycles: options.scheduler?.wakeupGranularityCycles ?? 1 * ms,
    });
    const pages = this.machine.memory.size / PAGE;
    this.allocator = new PageAllocator(FIRST_FREE_PAGE / PAGE, pages - FIRST_FREE_PAGE / PAGE);
    this.directMapPdes = Math.ceil(this.machine.memory.size / (4 << 20));
    this.kernelImage = assembleKernel();
    this.retToUser = this.kernelSymbol("ret_to_user");
    this.vmxExitPath = this.kernelSymbol("vmx_vmexit");
    this.sysenterEntry = this.kernelSymbol("sysenter_entry");
    this.boot();
    this.idle = this.createIdle();
    this.current = this.idle;
    this.modeSince = this.cpu.cycles;
  }

  private kernelSymbol(name: string): number {
    const v = this.kernelImage.symbols.get(name);
    if (v === undefined) throw new Error(`kernel image: no symbol '${name}'`);
    return v;
  }

  // ======================= boot =======================

  /** What the boot loader and early init do: descriptor tables, paging, the PIC, VMX operation. */
  private boot(): void {
    const mem = this.machine.memory;
    const cpu = this.cpu;
    mem.writeBytes(KERNEL_CODE, this.kernelImage.bytes);
    // GDT: null, kernel code/data, user code/data (flat 4 GiB segments, in SYSENTER/SYSEXIT's order), TSS.
    const gdt: [number, number][] = [
      [0, 0],
      [0x0000ffff, 0x00cf9a00],
      [0x0000ffff, 0x00cf9200],
      [0x0000ffff, 0x00cffa00],
      [0x0000ffff, 0x00cff200],
      [0, 0],
    ];
    gdt.forEach(([lo, hi], k) => {
      mem.write32(GDT_BASE + 8 * k, lo);
      mem.write32(GDT_BASE + 8 * k + 4, hi);
    });
    this.writeTssDescriptor(false);
    // TSS: SS0 and the I/O permission bitmap (every port denied; VMM processes get the library port).
    mem.u8.fill(0, TSS_BASE, TSS_BASE + TSS_LIMIT + 1);
    mem.write32(TSS_BASE + 8, KDATA);
    mem.write16(TSS_BASE + 0x66, TSS_IOMAP_OFFSET);
    mem.u8.fill(0xff, TSS_BASE + TSS_IOMAP_OFFSET, TSS_BASE + TSS_LIMIT + 1);
    // IDT: interrupt gates to the stubs; INT 0x80 may be used from ring 3.
    for (const v of STUB_VECTORS) {
      const offset = this.kernelSymbol(`vec_${v}`);
      const dpl3 = v === SYSCALL_VECTOR;
      mem.write32(IDT_BASE + 8 * v, ((KCODE << 16) | (offset & 0xffff)) >>> 0);
      mem.write32(IDT_BASE + 8 * v + 4, ((offset & 0xffff0000) | (dpl3 ? 0xee00 : 0x8e00)) >>> 0);
    }
    cpu.gdtrBase = GDT_BASE;
    cpu.gdtrLimit = gdt.length * 8 - 1;
    cpu.idtrBase = IDT_BASE;
    cpu.idtrLimit = 256 * 8 - 1;
    this.loadTr();
    // SYSENTER: into sysenter_entry on the kernel stack TSS.ESP0 points to (found through IA32_SYSENTER_ESP).
    cpu.writeMsr(registers.MSR_IA32_SYSENTER_CS, KCODE, 0);
    cpu.writeMsr(registers.MSR_IA32_SYSENTER_ESP, TSS_ESP0, 0);
    cpu.writeMsr(registers.MSR_IA32_SYSENTER_EIP, this.sysenterEntry, 0);
    // Paging: the boot page directory (the idle task's) maps RAM; CR4.PSE/PGE, CR0.PG.
    const pd = this.newPageDirectory();
    cpu.cr4 = CR4_PSE | CR4_PGE;
    cpu.cr3 = pd;
    cpu.cr0 = HOST_CR0;
    cpu.tlb.flushAll();
    cpu.updateAccessMasks();
    // The 8259A pair: vectors 0x20-0x2F, only IRQ 0 (the PIT) unmasked.
    const out = (port: number, value: number) => cpu.portOut(port, 1, value);
    out(0x20, 0x11);
    out(0xa0, 0x11);
    out(0x21, IRQ_BASE);
    out(0xa1, IRQ_BASE + 8);
    out(0x21, 0x04);
    out(0xa1, 0x02);
    out(0x21, 0x01);
    out(0xa1, 0x01);
    out(0x21, 0xfe);
    out(0xa1, 0xff);
    // The kernel's two boundary ports.
    const upcall: PortDevice = {
      name: "kernel-upcall",
      portIn: () => 0,
      portOut: () => {
        this.pendingUpcall = "kernel";
        cpu.stopRequest = KERNEL_UPCALL;
      },
    };
    const library: PortDevice = {
      name: "vmm-library",
      portIn: () => 0,
      portOut: () => {
        if (this.hooks.libraryInline?.() === true) {
          // The library runs here, inside the VMM's OUT, at the cycles it would run at after it: the OUT's
          // own cost (the CPU adds it when the port returns) is counted first and taken back after. At
          // CPL 3, the host run's split counts its cycles as user time, as userLibrary() does. The CPU
          // goes on in the VMM unless the kernel's loop has something to do first. (A device event that
          // fell due during the library's work is the CPU's: its run loop takes it after this OUT.)
          const outCost = this.cost.instructions.portIo;
          cpu.cycles += outCost;
          this.hooks.userLibrary?.(this.current);
          const goOn = !this.needResched && !this.pauseRequested && !this.done() && cpu.cycles < this.cycleLimit;
          cpu.cycles -= outCost;
          if (goOn) return;
          this.pendingUpcall = "done";
        } else this.pendingUpcall = "library";
        cpu.stopRequest = LIBRARY_UPCALL;
      },
    };
    this.machine.ports.register(upcall, [KERNEL_UPCALL_PORT]);
    this.machine.ports.register(library, { from: VMM_LIB_PORT, to: VMM_LIB_PORT + 3 });
    // VMX operation (what a KVM-like module does when it loads): feature control, CR4.VMXE, VMXON.
    cpu.writeMsr(0x3a, 5, 0);
    cpu.cr4 = HOST_CR4;
    const region = this.allocPage();
    mem.write32(region, VMCS_REVISION_ID);
    if (!this.machine.vmx.vmxon(region).ok) throw new Error("VMXON failed");
  }

  private writeTssDescriptor(busy: boolean): void {
    const mem = this.machine.memory;
    const lo = ((TSS_LIMIT & 0xffff) | ((TSS_BASE & 0xffff) << 16)) >>> 0;
    const hi =
      (((TSS_BASE >>> 16) & 0xff) | ((busy ? 0x8b : 0x89) << 8) | (TSS_LIMIT & 0xf0000) | (TSS_BASE & 0xff000000)) >>>
      0;
    mem.write32(GDT_BASE + TSS_SEL, lo);
    mem.write32(GDT_BASE + TSS_SEL + 4, hi);
  }

  /** LTR TSS_SEL (after clearing the busy bit): what the CPU does for the instruction. */
  private loadTr(): void {
    this.writeTssDescriptor(true);
    const cpu = this.cpu;
    cpu.trSel = TSS_SEL;
    cpu.trBase = TSS_BASE;
    cpu.trLimit = TSS_LIMIT;
    cpu.trAr = 0x8b;
  }

  /**
   * A VM exit loads TR with a limit of 0x67 (Intel SDM Vol. 3C, 28.5.2), which hides the I/O
   * permission bitmap: a VMM process's OUT to the library port would #GP. The KVM module reloads TR
   * before the CPU goes back to any process (as KVM does after an exit on a host whose TSS is larger).
   */
  reloadTrIfNeeded(): number {
    if (this.cpu.trLimit === TSS_LIMIT) return 0;
    this.loadTr();
    const c = this.cost.instructions.system;
    this.cpu.cycles += c;
    return c;
  }

  // ======================= memory =======================

  allocPage(): number {
    const p = this.allocator.allocate();
    this.machine.memory.u8.fill(0, p, p + PAGE);
    return p;
  }

  /** A page directory with the kernel half: RAM mapped 1:1 with 4 MiB global supervisor pages. */
  newPageDirectory(): number {
    const pd = this.allocPage();
    for (let k = 0; k < this.directMapPdes; k++) {
      this.machine.memory.write32(pd + 4 * k, ((k << 22) | PTE_P | PTE_RW | PDE_PS | PTE_G) >>> 0);
    }
    return pd;
  }

  /** Maps one user page (4 KiB) in a process's address space. */
  mapUser(proc: Process, linear: number, phys: number, writable = true): void {
    if (linear >>> 0 < USER_BASE) throw new Error(`0x${linear.toString(16)} is in the kernel half`);
    const mem = this.machine.memory;
    proc.mappings++;
    const index = linear >>> 22;
    let pt = proc.pageTables.get(index);
    if (pt === undefined) {
      pt = this.allocPage();
      proc.pageTables.set(index, pt);
      proc.pages.push(pt);
      mem.write32(proc.pd + 4 * index, pt | PTE_P | PTE_RW | PTE_US);
    }
    mem.write32(pt + 4 * ((linear >>> 12) & 0x3ff), (phys | PTE_P | PTE_US | (writable ? PTE_RW : 0)) >>> 0);
  }

  /** Physical address of a user linear address in a process (a walk of its tables), or -1 (copy_to/from_user's check). */
  userToPhys(proc: Process, linear: number, write = false): number {
    linear >>>= 0;
    if (linear < USER_BASE) return -1;
    const mem = this.machine.memory;
    const pde = mem.read32(proc.pd + 4 * (linear >>> 22)) >>> 0;
    if (!(pde & PTE_P) || !(pde & PTE_US) || pde & PDE_PS) return -1;
    const pte = mem.read32((pde & ~0xfff) + 4 * ((linear >>> 12) & 0x3ff)) >>> 0;
    if (!(pte & PTE_P) || !(pte & PTE_US) || (write && !(pte & PTE_RW))) return -1;
    return ((pte & ~0xfff) | (linear & 0xfff)) >>> 0;
  }

  /** Whether [linear, linear + length) is user memory of the process (writable if asked). */
  userRangeOk(proc: Process, linear: number, length: number, write = false): boolean {
    for (let page = (linear & ~0xfff) >>> 0; page < linear + length; page += PAGE) {
      if (this.userToPhys(proc, page, write) < 0) return false;
    }
    return length >= 0;
  }

  copyFromUser(proc: Process, linear: number, length: number): Uint8Array | null {
    if (!this.userRangeOk(proc, linear, length)) return null;
    const out = new Uint8Array(length);
    const mem = this.machine.memory;
    for (let done = 0; done < length; ) {
      const at = (linear + done) >>> 0;
      const n = Math.min(length - done, PAGE - (at & 0xfff));
      const p = this.userToPhys(proc, at);
      out.set(mem.u8.subarray(p, p + n), done);
      done += n;
    }
    return out;
  }

  copyToUser(proc: Process, linear: number, bytes: Uint8Array): boolean {
    if (!this.userRangeOk(proc, linear, bytes.length, true)) return false;
    const mem = this.machine.memory;
    for (let done = 0; done < bytes.length; ) {
      const at = (linear + done) >>> 0;
      const n = Math.min(bytes.length - done, PAGE - (at & 0xfff));
      mem.writeBytes(this.userToPhys(proc, at, true), bytes.subarray(done, done + n));
      done += n;
    }
    return true;
  }

  readUser32(proc: Process, linear: number): number | null {
    const b = this.copyFromUser(proc, linear, 4);
    return b ? (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0 : null;
  }

  writeUser32(proc: Process, linear: number, value: number): boolean {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.copyToUser(proc, linear, b);
  }

  /** Anonymous memory at [linear, linear + length), populated now (mmap with MAP_POPULATE). */
  mmap(proc: Process, linear: number, length: number): number {
    if (linear & 0xfff || length <= 0 || length & 0xfff || linear >>> 0 < USER_BASE) return -ERRNO.EINVAL;
    if (linear + length > 0x1_0000_0000) return -ERRNO.EINVAL;
    for (let at = linear; at < linear + length; at += PAGE) {
      if (this.userToPhys(proc, at) >= 0) return -ERRNO.EEXIST;
    }
    if (this.allocator.freePages < length / PAGE + HostKernel.pageTablesFor(length)) return -ERRNO.ENOMEM;
    for (let at = linear; at < linear + length; at += PAGE) {
      const page = this.allocPage();
      proc.pages.push(page);
      this.mapUser(proc, at >>> 0, page);
    }
    return 0;
  }

  // ======================= processes =======================

  private createIdle(): Process {
    const idle = new Process(0, "idle", "idle", 1);
    idle.pd = this.cpu.cr3;
    idle.kstackTop = this.allocPage() + PAGE;
    // Its frame returns (at ring 0) to the idle loop with interrupts on.
    const frame = idle.kstackTop - KERNEL_FRAME_SIZE;
    const mem = this.machine.memory;
    mem.write32(frame + FRAME.ES, KDATA);
    mem.write32(frame + FRAME.DS, KDATA);
    mem.write32(frame + FRAME.EIP, this.kernelSymbol("idle_loop"));
    mem.write32(frame + FRAME.CS, KCODE);
    mem.write32(frame + FRAME.EFLAGS, 0x202);
    idle.kernelEsp = frame;
    this.processes.push(idle);
    // The CPU starts in the idle task, at the exit path.
    this.cpu.regs[ESP] = frame;
    this.cpu.eip = this.retToUser;
    this.cpu.setEflags(0x2);
    return idle;
  }

  /**
   * Host pages a process created by spawn() takes: its page directory, image and bss, user stack,
   * kernel stack, and the page table mapping image and stack (both in the first 4 MiB of user space).
   */
  static processPages(program: Assembled, bssBytes = PAGE): number {
    return 1 + Math.ceil((program.bytes.length + bssBytes) / PAGE) + USER_STACK_PAGES + 1 + 1;
  }

  /** Page tables mapping `length` bytes of user memory from a 4 MiB boundary (mmap's, beyond its pages). */
  static pageTablesFor(length: number): number {
    return Math.ceil(length / (4 << 20));
  }

  /** Creates a ring-3 process running `program` (assembled at USER_BASE). */
  spawn(name: string, kind: Exclude<ProcessKind, "idle">, program: Assembled, weight = 1, bssBytes = PAGE): Process {
    const proc = new Process(this.nextPid++, name, kind, weight);
    proc.symbols = program.symbols;
    proc.pd = this.newPageDirectory();
    proc.pages.push(proc.pd);
    const mem = this.machine.memory;
    const imagePages = Math.ceil((program.bytes.length + bssBytes) / PAGE);
    for (let k = 0; k < imagePages; k++) {
      const page = this.allocPage();
      proc.pages.push(page);
      const from = k * PAGE;
      if (from < program.bytes.length)
        mem.writeBytes(page, program.bytes.subarray(from, Math.min(from + PAGE, program.bytes.length)));
      this.mapUser(proc, USER_BASE + from, page);
    }
    for (let k = 1; k <= USER_STACK_PAGES; k++) {
      const page = this.allocPage();
      proc.pages.push(page);
      this.mapUser(proc, USER_STACK_TOP - k * PAGE, page);
    }
    const kstack = this.allocPage();
    proc.pages.push(kstack);
    proc.kstackTop = kstack + PAGE;
    const frame = proc.kstackTop - USER_FRAME_SIZE;
    mem.write32(frame + FRAME.ES, UDATA);
    mem.write32(frame + FRAME.DS, UDATA);
    mem.write32(frame + FRAME.EIP, USER_BASE);
    mem.write32(frame + FRAME.CS, UCODE);
    mem.write32(frame + FRAME.EFLAGS, 0x202);
    mem.write32(frame + FRAME.USER_ESP, USER_STACK_TOP);
    mem.write32(frame + FRAME.USER_SS, UDATA);
    proc.kernelEsp = frame;
    this.processes.push(proc);
    this.scheduler.enqueue(proc, false);
    if (this.current === this.idle) this.needResched = true;
    return proc;
  }

  /** Reads a 32-bit value of a process's memory by symbol (e.g. a progress counter). */
  readSymbol32(proc: Process, name: string): number {
    return this.readUser32(proc, proc.symbol(name)) ?? 0;
  }

  private frameRead(proc: Process, offset: number): number {
    return this.machine.memory.read32(proc.kernelEsp + offset) >>> 0;
  }

  /** Sets the value a system call returns (EAX in the saved user context). */
  setReturn(proc: Process, value: number): void {
    this.machine.memory.write32(proc.kernelEsp + FRAME.EAX, value >>> 0);
  }

  // ======================= the main loop =======================

  /**
   * Runs the machine until `done()` or the cycle limit ("done"), or until it pauses ("paused"): a
   * subsystem asked for it (pauseRequested), or a CPU hook or breakpoint stopped the CPU. The CPU
   * executes the current process (ring 3, or the kernel's exit path and idle loop at ring 0); at each
   * upcall the kernel's logic runs. After a pause the next run() continues exactly where this one
   * stopped (nothing is accounted or rescheduled at the pause), so paused and unpaused runs agree.
   */
  run(done: () => boolean): "done" | "paused" {
    const cpu = this.cpu;
    if (this.nextTick === 0) {
      this.nextTick = cpu.cycles + this.tickCycles;
      this.programClock();
    }
    if (this.pausedIn !== null) this.pausedIn = null;
    else if (this.needResched) this.schedule();
    this.done = done;
    for (;;) {
      if (done() || cpu.cycles >= this.cycleLimit) {
        this.account();
        return "done";
      }
      const proc = this.current;
      let stop: StopReason;
      if (proc.continuation) {
        proc.continuation();
        if (this.pauseRequested) {
          this.pauseRequested = false;
          this.pausedIn = "kernel";
          return "paused";
        }
        if (this.hostStop === null) continue;
        // The continuation went on into host code (the KVM module's fastpath): its stop is this loop's.
        stop = this.hostStop;
        this.hostStop = null;
      } else {
        this.startHostRun();
        stop = cpu.run(
          this.cycleLimit === Number.POSITIVE_INFINITY ? NO_LIMIT : { maxCycles: this.cycleLimit - cpu.cycles },
        );
        this.endHostRun();
      }
      if (stop.kind === "hook" && this.pendingUpcall) {
        const kind = this.pendingUpcall;
        this.pendingUpcall = null;
        if (kind === "library") this.userLibrary();
        else if (kind === "kernel") this.kernelEntry();
        if (this.needResched) this.schedule();
        continue;
      }
      if (stop.kind === "limit") continue;
      if (stop.kind === "hook" || stop.kind === "breakpoint") {
        // A debugger's hook or breakpoint in host code: the CPU continues there on the next run().
        this.pausedIn = "cpu";
        return "paused";
      }
      throw new Error(`host kernel panic: the CPU stopped (${JSON.stringify(stop)}) in ${this.current.name}`);
    }
  }

  /** A stretch of host code starts on the CPU: its ring-3 and halted cycles are counted from here. */
  private startHostRun(): void {
    this.enterMode(MODE.kernel);
    this.runUser = this.cpu.cyclesAtCpl3;
    this.runHalted = this.cpu.haltedCycles;
  }

  private endHostRun(): void {
    this.chargeRun(this.cpu.cyclesAtCpl3 - this.runUser, this.cpu.haltedCycles - this.runHalted);
  }

  /**
   * For the KVM module's exit fastpath, inside the guest's cpu.run() with the current process's
   * continuation just ended and the CPU set up to run its host code (KVM_RUN returning to the VMM):
   * what the main loop does from there up to its next cpu.run(). False when the loop would not run
   * the CPU (the run is done or at its cycle limit): the continuation then returns as usual.
   */
  continueIntoHostCode(): boolean {
    if (
      this.pauseRequested ||
      this.current.continuation !== null ||
      this.done() ||
      this.cpu.cycles >= this.cycleLimit
    ) {
      this.enterMode(MODE.kernel);
      return false;
    }
    this.startHostRun(); // (enters the kernel's mode too: the checks above charge no cycle)
    return true;
  }

  /** The cpu.run() that continueIntoHostCode() went on in stopped in host code: the main loop takes the stop. */
  hostCodeStopped(stop: StopReason): void {
    this.endHostRun();
    this.hostStop = stop;
  }

  /** The VMM's own code (its device models), at ring 3. */
  private userLibrary(): void {
    this.enterMode(MODE.user);
    this.hooks.userLibrary?.(this.current);
    this.enterMode(MODE.kernel);
  }

  /** The upcall from the common entry stub: the trap frame is at ESP. */
  private kernelEntry(): void {
    const cpu = this.cpu;
    const proc = this.current;
    proc.kernelEsp = cpu.regs[ESP]! >>> 0;
    const vector = this.frameRead(proc, FRAME.VECTOR);
    const fromUser = (this.frameRead(proc, FRAME.CS) & 3) === 3;
    if ((vector === FAST_SYSCALL_VECTOR || vector === SYSCALL_VECTOR) && fromUser) {
      this.syscall(proc, vector === FAST_SYSCALL_VECTOR);
    } else if (vector >= IRQ_BASE && vector < IRQ_BASE + 16) {
      this.interrupt(vector);
    } else if (vector < 32 && fromUser) {
      const name = registers.EXCEPTION_NAMES[vector] ?? `vector ${vector}`;
      const err = this.frameRead(proc, FRAME.ERROR);
      const eip = this.frameRead(proc, FRAME.EIP);
      const cr2 = vector === 14 ? ` (CR2 0x${(cpu.cr2 >>> 0).toString(16)})` : "";
      this.kill(
        proc,
        `${name}${vector === 13 || vector === 14 ? `(0x${err.toString(16)})` : ""} at 0x${eip.toString(16)}${cr2}`,
      );
    } else {
      throw new Error(
        `host kernel panic: vector ${vector} in ${fromUser ? "user" : "kernel"} mode, process ${proc.name}, EIP 0x${this.frameRead(proc, FRAME.EIP).toString(16)}`,
      );
    }
  }

  // ======================= interrupts and time =======================

  /** An external interrupt, from the IDT or (the KVM module) from a VM exit that acknowledged it. */
  interrupt(vector: number): void {
    const cpu = this.cpu;
    const mode = this.enterMode(MODE.kernel);
    // EOI to the master 8259A.
    cpu.portOut(0x20, 1, 0x20);
    cpu.cycles += this.cost.instructions.portIo;
    if (vector === TIMER_VECTOR) this.timerInterrupt();
    this.enterMode(mode);
  }

  /** The timer interrupt: expire kernel timers (scheduler tick, wake-ups), re-arm the one-shot PIT. */
  private timerInterrupt(): void {
    const cpu = this.cpu;
    this.stats.timerInterrupts++;
    cpu.cycles += this.cost.hosted.schedulerTick;
    this.clockDeadline = Number.POSITIVE_INFINITY;
    this.account();
    const now = cpu.cycles;
    if (now >= this.nextTick) {
      while (this.nextTick <= now) this.nextTick += this.tickCycles;
      const cur = this.current;
      if (cur !== this.idle && this.scheduler.tickPreempts(cur)) this.needResched = true;
    }
    for (const p of this.processes) {
      if (p.state === "blocked" && p.wakeAt <= now) this.wake(p);
    }
    this.programClock();
  }

  /** Programs the PIT (channel 0, mode 0, one-shot) for the earliest kernel timer. */
  private programClock(): void {
    const cpu = this.cpu;
    let next = this.nextTick;
    for (const p of this.processes) if (p.state === "blocked" && p.wakeAt < next) next = p.wakeAt;
    const pitTick = cpu.hz / PIT_FREQUENCY_HZ;
    const count = Math.min(0xffff, Math.max(1, Math.ceil((next - cpu.cycles) / pitTick)));
    cpu.portOut(0x43, 1, 0x30);
    cpu.portOut(0x40, 1, count & 0xff);
    cpu.portOut(0x40, 1, count >>> 8);
    cpu.cycles += 3 * this.cost.instructions.portIo;
    this.clockDeadline = this.machine.pit.nextEvent();
  }

  /** A new kernel timer at `at`: re-arm the PIT if it fires later (and has not fired yet). */
  private armTimer(at: number): void {
    if (at < this.clockDeadline && this.cpu.cycles < this.clockDeadline) this.programClock();
  }

  // ======================= CPU time by mode (cpu-time.ts) =======================

  /**
   * The cycles since the last mode change up to `ago` cycles before now were spent in the current mode;
   * from there on the current process spends them in `mode`. Returns the mode left (to go back to it).
   * (A small offset, not a cycle count: a count past 2^30 is a heap number in V8, and passing one to a
   * call that is not inlined allocates it, at every mode change.)
   */
  enterMode(mode: ModeIndex, ago = 0): ModeIndex {
    const at = this.cpu.cycles - ago;
    const left = this.mode;
    this.current.modeCycles[left]! += at - this.modeSince;
    this.modeSince = at;
    this.mode = mode;
    return left;
  }

  /** A stretch the CPU ran on its own (from the kernel mode's mark): its ring-3 and halted cycles, the rest at ring 0. */
  private chargeRun(user: number, halted: number): void {
    const t = this.current.modeCycles;
    const now = this.cpu.cycles;
    t[MODE.user]! += user;
    t[MODE.idle]! += halted;
    t[MODE.kernel]! += now - this.modeSince - user - halted;
    this.modeSince = now;
  }

  /** A process's time by mode, the current process's unsettled cycles included (observation: nothing changes). */
  timeOf(proc: Process): ProcessTime {
    const counts = proc.modeCycles.slice();
    if (proc === this.current) counts[this.mode]! += this.cpu.cycles - this.modeSince;
    return processTime(counts);
  }

  // ======================= scheduling =======================

  /** Charges the CPU time since the last mark to the current process. */
  account(): void {
    const cpu = this.cpu;
    const p = this.current;
    this.enterMode(this.mode);
    const delta = cpu.cycles - p.onCpuSince;
    if (delta > 0) {
      p.runtime += delta;
      if (p === this.idle) this.stats.idleCycles += delta;
      else if (this.scheduler.has(p)) this.scheduler.account(p, delta);
    }
    p.onCpuSince = cpu.cycles;
    p.instructions += cpu.instret - p.instretSince - (this.guestInstret - p.guestInstretSince);
    p.instretSince = cpu.instret;
    p.guestInstretSince = this.guestInstret;
  }

  /** Picks the next process and switches to it if it is another one. */
  schedule(): void {
    this.enterMode(MODE.kernel);
    this.needResched = false;
    this.account();
    const next = this.scheduler.pick() ?? this.idle;
    if (next !== this.current) this.switchTo(next);
  }

  private switchTo(next: Process): void {
    const cpu = this.cpu;
    const mem = this.machine.memory;
    const prev = this.current;
    this.hooks.switchOut?.(prev);
    // After a VM exit TR's limit is 0x67 (the I/O bitmap is out of reach): reload it before any
    // process can return to user space (a VMM's OUT to its library port would #GP).
    this.reloadTrIfNeeded();
    if (prev.state !== "dead") prev.kernelEsp = cpu.regs[ESP]! >>> 0;
    // switch_to: the software part of a context switch.
    cpu.cycles += this.cost.hosted.contextSwitch;
    this.stats.contextSwitches++;
    // Address space: MOV CR3 (non-global TLB entries are flushed, as the instruction does).
    if (cpu.cr3 >>> 0 !== next.pd >>> 0) {
      cpu.cr3 = next.pd;
      cpu.flushTlb((cpu.cr4 & CR4_PGE) !== 0);
    }
    // The whole switch is the previous process's time (the flush included: no cycle goes uncharged).
    this.account();
    prev.offCpuSince = cpu.cycles;
    prev.wokeAt = cpu.cycles;
    // The kernel stack for the next entry from ring 3, and the I/O bitmap (ioperm of VMM processes).
    mem.write32(TSS_ESP0, next.kstackTop);
    const bitmapByte = TSS_BASE + TSS_IOMAP_OFFSET + (VMM_LIB_PORT >>> 3);
    const bits = 0xf << (VMM_LIB_PORT & 7);
    mem.write8(bitmapByte, next.kind === "vmm" ? mem.read8(bitmapByte) & ~bits : mem.read8(bitmapByte) | bits);
    cpu.regs[ESP] = next.kernelEsp;
    cpu.eip = this.retToUser;
    this.current = next;
    next.switchesIn++;
    next.onCpuSince = cpu.cycles;
    next.instretSince = cpu.instret;
    next.guestInstretSince = this.guestInstret;
    this.hooks.switchIn?.(next);
  }

  /** Blocks the current process until `wakeAt` (its state is kept: a syscall frame or a kernel continuation). */
  block(proc: Process, why: "io" | "sleep" | "vcpu-halt", wakeAt: number): void {
    proc.state = "blocked";
    proc.blockedOn = why;
    proc.wakeAt = wakeAt;
    this.scheduler.dequeue(proc);
    this.armTimer(wakeAt);
    this.needResched = true;
  }

  wake(proc: Process): void {
    if (proc.state !== "blocked") return;
    if (proc.blockedOn === "io") proc.ioCompleted++;
    proc.state = "runnable";
    proc.blockedOn = null;
    proc.wakeAt = Number.POSITIVE_INFINITY;
    proc.wokeAt = this.cpu.cycles;
    this.scheduler.enqueue(proc, true);
    if (this.current === this.idle || this.scheduler.wakeupPreempts(this.current, proc)) this.needResched = true;
  }

  /** sched_yield(). */
  yieldCpu(proc: Process): void {
    this.scheduler.yield(proc);
    this.needResched = true;
  }

  /** A fatal signal: the process dies. */
  kill(proc: Process, why: string): void {
    proc.killedBy = why;
    this.exit(proc, 128 + 9);
  }

  exit(proc: Process, status: number): void {
    if (proc.state === "dead") return;
    proc.exitStatus = status;
    proc.continuation = null;
    this.scheduler.dequeue(proc);
    proc.state = "dead";
    this.hooks.processExit?.(proc);
    if (proc === this.current) this.needResched = true;
    // Its memory goes back to the allocator (the kernel stack too: nothing runs on it any more once
    // the scheduler has switched away, which happens before the CPU executes again).
    for (const p of proc.pages) this.allocator.release(p);
    proc.pages.length = 0;
    proc.mappings++;
  }

  // ======================= system calls =======================

  /** A system call by INT 0x80 (arguments in EBX, ECX, EDX) or SYSENTER (EBX, ESI, EDI: layout.ts). */
  private syscall(proc: Process, fast: boolean): void {
    const cpu = this.cpu;
    this.stats.syscalls++;
    const nr = this.frameRead(proc, FRAME.EAX);
    const args = this.syscallArgs;
    args[0] = this.frameRead(proc, FRAME.EBX);
    args[1] = this.frameRead(proc, fast ? FRAME.ESI : FRAME.ECX);
    args[2] = this.frameRead(proc, fast ? FRAME.EDI : FRAME.EDX);
    let result: SyscallResult | undefined;
    switch (nr) {
      case SYS.EXIT:
        cpu.cycles += this.cost.hosted.syscall;
        this.exit(proc, args[0] | 0);
        return;
      case SYS.YIELD:
        cpu.cycles += this.cost.hosted.syscall;
        this.yieldCpu(proc);
        result = 0;
        break;
      case SYS.GETPID:
        cpu.cycles += this.cost.hosted.syscall;
        result = proc.pid;
        break;
      case SYS.IO_WAIT:
        cpu.cycles += this.cost.hosted.syscall;
        this.setReturn(proc, 0);
        this.block(proc, "io", cpu.cycles + this.ioLatencyCycles);
        return;
      case SYS.SLEEP:
        cpu.cycles += this.cost.hosted.syscall;
        this.setReturn(proc, 0);
        this.block(proc, "sleep", cpu.cycles + args[0]);
        return;
      case SYS.MMAP:
        cpu.cycles += this.cost.hosted.syscall;
        result = this.mmap(proc, args[0], args[1]);
        break;
      default:
        result = this.hooks.syscall?.(proc, nr, args);
        if (result === undefined) {
          cpu.cycles += this.cost.hosted.syscall;
          result = -ERRNO.ENOSYS;
        }
    }
    if (result !== "deferred") this.setReturn(proc, result);
  }
}
