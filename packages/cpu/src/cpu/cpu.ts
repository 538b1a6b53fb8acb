// The CPU: register file, lazy flags, memory access through the TLB, and the run loop over cached
// decoded blocks. Instruction semantics live in ../exec, exception delivery in ./interrupts.ts,
// segment loading in ./segments.ts and the page walk in ../memory/paging.ts.

import { type CostModel, DEFAULT_COST_MODEL } from "../cost-model.js";
import type { AccessSize, InterruptController } from "../devices/device.js";
import { type Block, BlockCache } from "../isa/block-cache.js";
import { COMPILE_THRESHOLD, compileBlock } from "../isa/block-compiler.js";
import type { Insn } from "../isa/insn.js";
import { ACCESS_FETCH, ACCESS_READ, ACCESS_WRITE, createPageWalker, type PageWalker } from "../memory/paging.js";
import type { PhysicalMemory } from "../memory/physical.js";
import {
  asidHash,
  TLB_CLEAN,
  TLB_CODE,
  TLB_MMIO,
  TLB_NO_EXEC,
  TLB_NO_READ,
  TLB_NO_USER,
  TLB_NO_WRITE_SUP,
  TLB_NO_WRITE_USER,
  Tlb,
} from "../memory/tlb.js";
import { FAULT, NO_ERROR_CODE, RESTART, VMEXIT } from "./fault.js";
import {
  L_ADC1,
  L_ADD,
  L_LOGIC,
  L_SBB1,
  L_SUB,
  type LazyFlagState,
  lazyCF,
  lazyOF,
  materialize,
  PARITY,
} from "./flags.js";
import { deliverEvent, type EventKind } from "./interrupts.js";
import {
  AF,
  ARITH_FLAGS,
  CF,
  CR0_PG,
  CR0_WP,
  CS,
  DB,
  DF,
  EFLAGS_FIXED1,
  ESP,
  GP,
  IF,
  MSR_IA32_FEATURE_CONTROL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_TIME_STAMP_COUNTER,
  OF,
  PF,
  REG8_BYTE,
  REG32_NAMES,
  type Reg32Name,
  SF,
  TF,
  UD,
  ZERO_REG,
  ZF,
} from "./registers.js";
import type { StopReason } from "./stop.js";
import {
  GDTR_BASE,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_LIMIT,
  LDTR_AR,
  LDTR_BASE,
  LDTR_LIMIT,
  LDTR_SEL,
  resetSystemBank,
  SYSENTER_CS,
  SYSENTER_EIP,
  SYSENTER_ESP,
  type SystemBankViews,
  TR_AR,
  TR_BASE,
  TR_LIMIT,
  TR_SEL,
} from "./system-bank.js";

/** Port I/O as the CPU sees it (the machine's PortBus implements it). */
export interface PortIo {
  in(port: number, size: AccessSize): number;
  out(port: number, size: AccessSize, value: number): void;
}

/** Hooks; each slot is null when unused so the hot path only tests one field. */
export interface CpuHooks {
  /** Before each instruction (forces single-instruction stepping while set). Return a string to stop. */
  instruction: ((cpu: Cpu, eip: number) => string | undefined) | null;
  /** After each data read or write of linear memory (forces the slow memory path while set). */
  memory: ((kind: "read" | "write", linear: number, size: number, value: number) => string | undefined) | null;
  /** When an exception or interrupt is about to be delivered. */
  exception: ((vector: number, errorCode: number, kind: EventKind) => void) | null;
}

/**
 * The VMX layer plugs in here (../vmx); null when VMX is not in use. Instructions that VMX can
 * intercept call intercept() while a guest runs; it returns true when a VM exit happened instead.
 */
export interface VmxHooks {
  /** True in VMX non-root operation (a guest is running). */
  readonly nonRoot: boolean;
  /** TSC_OFFSET when "use TSC offsetting" is on in non-root operation, else 0. */
  readonly tscOffset: number;
  /**
   * An instruction that may exit: reason = basic exit reason, a/b = reason-specific operands. True means
   * VMX took care of the instruction (a VM exit happened, or VMX completed it without one, as CLTS with a
   * host-owned TS bit clear in the shadow): the instruction then does nothing more.
   */
  intercept(reason: number, insn: Insn, a: number, b: number): boolean;
  /** MOV from CR0/CR4 in non-root operation: host-owned bits read from the read shadow. */
  readCr(cr: number, actual: number): number;
  /** Whether a CR0/CR4 value respects the VMX fixed bits (in VMX operation). */
  crAllowed(cr: number, value: number): boolean;
  /** Before delivering an event in non-root operation: true if it caused a VM exit instead. */
  interceptEvent?(vector: number, errorCode: number, kind: EventKind): boolean;
  /** A triple fault in non-root operation: true if it caused a VM exit (reason 2). */
  tripleFault?(): boolean;
  /** After IRET (NMI unblocking). */
  afterIret?(): void;
  /** Finishes a VM exit signalled from inside an instruction, once EIP points at that instruction. */
  completeExit?(): void;
  /** MOV to CR0/CR4 in non-root operation that did not exit: host-owned bits keep their value. */
  filterCrWrite?(cr: number, value: number): number;
  /** Timer, interrupt-window, NMI and external-interrupt exits due at this instruction boundary. */
  pollEvents?(): boolean;
  /**
   * Whether pollEvents() may exit at this boundary, apart from the timer deadline and a pending NMI (the
   * run loop checks those itself): the block loop asks this before it chains to the next block.
   */
  eventsPending?(): boolean;
  /** An event reached the guest's IDT handler without an exit. */
  eventDelivered?(): void;
  /** Whether external interrupts cause VM exits (then they are not delivered through the IDT). */
  readonly externalInterruptsExit?: boolean;
  /**
   * The embedder's exit fastpath (Vmx.fastpath): run() offers it each VM exit before returning it, and
   * goes on running when it took care of the exit. Null: every exit ends run().
   */
  readonly fastpath?: (() => boolean) | null;
}

/** A model-specific register implemented by some part of the machine. */
export interface MsrHandler {
  read(): [number, number];
  /** Returns false to refuse the write (#GP). */
  write(low: number, high: number): boolean;
}

/** Registers as `vmxlab run --json` reports them (unsigned integers). */
export interface RegisterSnapshot {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
  ebp: number;
  esp: number;
  eip: number;
  eflags: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
}

export interface RunOptions {
  /** Stop after this many more instructions. */
  maxInstructions?: number;
  /** Stop once the modeled cycle counter reaches this many more cycles. */
  maxCycles?: number;
}

const U32 = 0x1_0000_0000;

/** What the TLB must not deny for the processor's own supervisor reads and writes (supervisorDwords, supervisorPhys). */
const SUPERVISOR_READ_DENY = TLB_NO_READ | TLB_MMIO;
const SUPERVISOR_WRITE_DENY = TLB_CLEAN | TLB_CODE | TLB_MMIO | TLB_NO_READ | TLB_NO_WRITE_SUP;
/**
 * TLB_CODE is the emulator's flag, not the processor's: it keeps stores off the direct paths so that they
 * reach memory's watch, which drops the decoded blocks. A store that takes the slow path hits the TLB as
 * on hardware (no page walk is charged for writing next to code).
 */
const SLOW_WRITE_ALLOWS = ~TLB_CODE;

/** Byte k of a page-crossing access at `linear`, whose two pages translated to `first` (linear's) and `second`. */
function splitByte(linear: number, k: number, first: number, second: number): number {
  const lin = (linear + k) | 0;
  return (lin & ~0xfff) === (linear & ~0xfff) ? first + k : second + (lin & 0xfff);
}

export class Cpu implements LazyFlagState {
  // ---- register file: 8 general registers + an always-zero slot for address computation ----
  readonly regBuffer = new ArrayBuffer(36);
  readonly regs = new Int32Array(this.regBuffer);
  readonly regs8 = new Uint8Array(this.regBuffer);
  readonly regs16 = new Uint16Array(this.regBuffer);
  eip = 0;

  // ---- flags: materialized bits and the lazy record (see flags.ts) ----
  fl = EFLAGS_FIXED1;
  lazy = 0;
  lOp = L_LOGIC;
  lA = 0;
  lB = 0;
  lR = 0;
  lSign = 0x80000000;

  // ---- segment registers and descriptor caches (access rights in VMX layout) ----
  /**
   * Segment registers, LDTR, TR, GDTR, IDTR and IA32_SYSENTER_*: one bank of words that VM entries
   * and exits copy as a block (system-bank.ts). The arrays below are views of it; gdtrBase, trSel,
   * sysenterEip and the like are accessors over it (further down).
   */
  /** The Cpu's own bank: the one in use outside VMX non-root operation. */
  readonly rootBank: SystemBankViews = resetSystemBank();
  // The bank in use, through its views (see useBank): always read them from the Cpu, never keep one.
  sys = this.rootBank.sys;
  /** The same bank as unsigned words (what the VMCS and the scalar accessors use). */
  sysWords = this.rootBank.sysWords;
  segSel = this.rootBank.segSel;
  segBase = this.rootBank.segBase;
  segLimit = this.rootBank.segLimit;
  segAr = this.rootBank.segAr;
  /**
   * Counts writes into the bank in use (segment loads, descriptor-table and SYSENTER registers): VM
   * exit compares it to know the root bank still holds the host state it loaded last time. Code that
   * writes the bank's words must go through segments.ts or the accessors, which count.
   */
  bankWrites = 0;
  declare gdtrBase: number;
  declare gdtrLimit: number;
  declare idtrBase: number;
  declare idtrLimit: number;
  declare ldtrSel: number;
  declare ldtrBase: number;
  declare ldtrLimit: number;
  declare ldtrAr: number;
  declare trSel: number;
  declare trBase: number;
  declare trLimit: number;
  declare trAr: number;
  /** Current privilege level (CS.RPL in protected mode). */
  cpl = 0;

  // ---- control registers and MSRs ----
  cr0 = 0x11;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  declare sysenterCs: number;
  declare sysenterEsp: number;
  declare sysenterEip: number;
  featureControl = 0;
  /** MSRs by index; parts of the machine (the VMX layer) register their own. */
  readonly msrs = new Map<number, MsrHandler>();
  /** Added to the cycle count to form the TSC (a WRMSR to IA32_TIME_STAMP_COUNTER sets it). */
  tscAdjust = 0;
  /** CPUID reports VMX (leaf 1 ECX bit 5) when the VMX layer is attached. */
  vmxSupported = false;

  // ---- time ----
  /** Modeled cycles since reset; RDTSC reads this (plus the TSC offset in VMX non-root operation). */
  cycles = 0;
  /** Instructions retired since reset. */
  instret = 0;
  /**
   * Cycles spent at CPL 3 up to the last change of CPL, and the cycle of that change: what a
   * performance counter of unhalted cycles with only its USR filter set would count (cyclesAtCpl3).
   * An instruction counts at the CPL it completes at (INT n from ring 3 is not, IRET to ring 3 is).
   * A system that runs several kinds of code on one CPU (a host kernel and its processes) splits its
   * time with it exactly; the count moves only when the CPL does, never in the instruction loop.
   */
  cpl3Cycles = 0;
  cplChangedAt = 0;
  /** Cycles spent waiting in HLT (skipped to the event that ends the wait). */
  haltedCycles = 0;
  cost: CostModel;
  /** Modeled core frequency (Hz), for devices that convert periods to cycles. */
  readonly hz: number;

  // ---- memory ----
  readonly mem: PhysicalMemory;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  readonly memSize: number;
  readonly tlb: Tlb;
  private readonly tlbTag: Int32Array;
  private readonly tlbInfo: Int32Array;
  private readonly tlbMask: number;
  /** TLB hits (kept on the CPU: the hot path bumps a field, not a nested object); tlb.stats.hits reads it. */
  tlbHits = 0;
  /**
   * Data accesses that took the slow path (a page walk, MMIO, a store into decoded code, a memory hook):
   * the only way inline code in a compiled block can change what the run loop decides (see repeatBlock).
   */
  slowAccesses = 0;
  /** Address-space id of the current context (0 = root / no VPID); tags TLB entries. */
  asid = 0;
  private asidTag = 0;
  /** asidHash(asid): mixed into the TLB set index. */
  private asidMix = 0;
  /** TLB flags that deny the current kind of access at the current CPL (recomputed on mode changes). */
  private readDeny = 0;
  private writeDeny = 0;
  /** The deny masks of the current mode, also while a memory hook forces the slow path (readDeny = -1). */
  private dataReadDeny = 0;
  private dataWriteDeny = 0;
  private fetchDeny = 0;
  readonly walker: PageWalker;

  // ---- decoded code ----
  readonly blocks: BlockCache;

  // ---- events and run state ----
  ports: PortIo;
  pic: InterruptController | null = null;
  /** A pending NMI (set by devices or VMX injection). */
  nmiPending = false;
  /** HLT executed; waiting for an interrupt. */
  halted = false;
  /** STI / MOV SS shadow: the next instruction runs before interrupts are recognized. */
  interruptShadow = false;
  /** The shadow comes from MOV SS / POP SS (VMLAUNCH then fails with error 26). */
  movSsShadow = false;
  /** instret before the instruction that set the shadow (STI, MOV SS, a VM entry with blocking). */
  shadowSetAt = 0;
  /** Length of the INT n / INT3 / INTO being delivered (VM exits during software events report it). */
  softwareInstructionLength = 0;
  /** Modeled cycle at which the VMX-preemption timer expires (Infinity when not armed). */
  timerDeadline = Number.POSITIVE_INFINITY;
  /** In VMX non-root operation with controls that need a check at every instruction boundary. */
  vmxPollEvents = false;
  /** Set by instructions and devices to end run() after the current instruction. */
  stopRequest: StopReason | null = null;
  /** Modeled cycle at which timed devices need attention (Infinity if none). */
  nextEventCycle = Number.POSITIVE_INFINITY;
  /** Called when cycles reach nextEventCycle; must update nextEventCycle. */
  serviceEvents: (() => void) | null = null;
  /** Execution breakpoints by linear address. */
  readonly breakpoints = new Set<number>();
  readonly hooks: CpuHooks = { instruction: null, memory: null, exception: null };
  /** VMX state when VMX is in use (set by the VMX layer). */
  vmx: VmxHooks | null = null;

  // ---- the exception in flight ----
  pendingVector = 0;
  pendingErrorCode = NO_ERROR_CODE;
  /** Linear address of the last page fault (becomes CR2 when the #PF is delivered). */
  faultLinear = 0;
  /** Events delivered so far (the single-step trap is discarded after an instruction that delivered one). */
  deliveries = 0;
  /** Nesting of event delivery, for #DF and triple-fault detection. */
  deliveryDepth = 0;
  /** Vector being delivered at each depth (for the diagnostic). */
  readonly deliveryChain: number[] = [];
  /** EIP of the instruction that started the current block (fault recovery, a Jcc's target inside it). */
  blockEip = 0;
  /** A Jcc inside the block was taken: the interpretive loops end the block after it (sideExitJcc). */
  leftBlock = false;
  /** Index of the instruction a compiled block is executing (which one faulted). */
  blockPos = 0;
  /** The running burst's cycle deadline and instruction limit (see burst and repeatBlock). */
  private burstDeadline = 0;
  private burstInstrLimit = 0;
  /** The requested VM exit was offered to the fastpath already (by a burst), which declined it. */
  private exitOffered = false;
  /** The cycle limit of the run() in progress (a burst that goes on after a VM exit recomputes its deadline). */
  private runCycleLimit = Number.POSITIVE_INFINITY;

  constructor(
    mem: PhysicalMemory,
    ports: PortIo,
    options: { cost?: CostModel; hz?: number; tlbEntries?: number } = {},
  ) {
    this.mem = mem;
    this.u8 = mem.u8;
    this.view = mem.view;
    this.i32 = new Int32Array(mem.buffer, 0, mem.size >>> 2);
    this.memSize = mem.size;
    this.ports = ports;
    this.cost = options.cost ?? DEFAULT_COST_MODEL;
    this.hz = options.hz ?? 3_000_000_000;
    this.tlb = new Tlb(options.tlbEntries ?? 4096);
    this.tlbTag = this.tlb.tag;
    this.tlbInfo = this.tlb.info;
    this.tlbMask = this.tlb.mask;
    Object.defineProperty(this.tlb.stats, "hits", {
      get: () => this.tlbHits,
      set: (v: number) => {
        this.tlbHits = v;
      },
      enumerable: true,
    });
    this.walker = createPageWalker(this);
    this.blocks = new BlockCache(this);
    mem.onWrite = (addr, length) => this.blocks.invalidatePhysical(addr, length);
    this.updateAccessMasks();
    this.registerArchitecturalMsrs();
  }

  private registerArchitecturalMsrs(): void {
    const simple = (get: () => number, set: (v: number) => void): MsrHandler => ({
      read: () => [get() >>> 0, 0],
      write: (lo) => {
        set(lo);
        return true;
      },
    });
    this.msrs.set(MSR_IA32_TIME_STAMP_COUNTER, {
      read: () => {
        const t = this.cycles + this.tscAdjust;
        return [t % U32, Math.floor(t / U32)];
      },
      write: (lo, hi) => {
        this.tscAdjust = hi * U32 + lo - this.cycles;
        return true;
      },
    });
    this.msrs.set(
      MSR_IA32_SYSENTER_CS,
      simple(
        () => this.sysenterCs,
        (v) => (this.sysenterCs = v & 0xffff),
      ),
    );
    this.msrs.set(
      MSR_IA32_SYSENTER_ESP,
      simple(
        () => this.sysenterEsp,
        (v) => (this.sysenterEsp = v),
      ),
    );
    this.msrs.set(
      MSR_IA32_SYSENTER_EIP,
      simple(
        () => this.sysenterEip,
        (v) => (this.sysenterEip = v),
      ),
    );
    this.msrs.set(MSR_IA32_FEATURE_CONTROL, {
      read: () => [this.featureControl >>> 0, 0],
      // Once the lock bit (0) is set the MSR is read-only until reset.
      write: (lo, hi) => {
        if (this.featureControl & 1 || hi !== 0 || lo & ~0x7) return false;
        this.featureControl = lo;
        return true;
      },
    });
  }

  readMsr(index: number): [number, number] | undefined {
    return this.msrs.get(index >>> 0)?.read();
  }

  writeMsr(index: number, low: number, high: number): boolean {
    const h = this.msrs.get(index >>> 0);
    return h ? h.write(low >>> 0, high >>> 0) : false;
  }

  /** The time-stamp counter as software sees it (RDTSC). */
  readTsc(): number {
    return this.cycles + this.tscAdjust + (this.vmx?.nonRoot ? this.vmx.tscOffset : 0);
  }

  // ======================= registers =======================

  getReg(name: Reg32Name): number {
    return this.regs[REG32_NAMES.indexOf(name)]! >>> 0;
  }

  setReg(name: Reg32Name, value: number): void {
    const i = REG32_NAMES.indexOf(name);
    if (i < 0) throw new Error(`unknown register '${name}'`);
    this.regs[i] = value;
  }

  reg8(r: number): number {
    return this.regs8[REG8_BYTE[r]!]!;
  }

  setReg8(r: number, v: number): void {
    this.regs8[REG8_BYTE[r]!] = v;
  }

  reg16(r: number): number {
    return this.regs16[r << 1]!;
  }

  setReg16(r: number, v: number): void {
    this.regs16[r << 1] = v;
  }

  // ======================= flags =======================

  /** EFLAGS with every lazy flag computed. */
  getEflags(): number {
    return (materialize(this) | EFLAGS_FIXED1) >>> 0;
  }

  setEflags(value: number): void {
    const oldIf = this.fl & IF;
    this.fl = (value & ~0x8028) | EFLAGS_FIXED1;
    this.lazy = 0;
    if (!oldIf && this.fl & IF) this.afterInterruptEnable();
  }

  /** Called when IF goes from 0 to 1 so a halted wait can be re-examined. */
  afterInterruptEnable(): void {}

  getCF(): number {
    return this.lazy & CF ? (lazyCF(this) ? 1 : 0) : this.fl & CF;
  }

  /** Evaluates condition code cc (0-15: O NO B AE E NE BE A S NS P NP L GE LE G). */
  cond(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0:
        r = this.lazy & OF ? lazyOF(this) : (this.fl & OF) !== 0;
        break;
      case 1:
        r = this.lazy & CF ? lazyCF(this) : (this.fl & CF) !== 0;
        break;
      case 2:
        r = this.lazy & ZF ? this.lR === 0 : (this.fl & ZF) !== 0;
        break;
      case 3:
        r =
          (this.lazy & CF ? lazyCF(this) : (this.fl & CF) !== 0) ||
          (this.lazy & ZF ? this.lR === 0 : (this.fl & ZF) !== 0);
        break;
      case 4:
        r = this.lazy & SF ? (this.lR & this.lSign) !== 0 : (this.fl & SF) !== 0;
        break;
      case 5:
        r = this.lazy & PF ? PARITY[this.lR & 0xff] !== 0 : (this.fl & PF) !== 0;
        break;
      case 6:
        r = this.flagSF() !== this.flagOF();
        break;
      default:
        r = this.flagZF() || this.flagSF() !== this.flagOF();
        break;
    }
    return cc & 1 ? !r : r;
  }

  flagZF(): boolean {
    return this.lazy & ZF ? this.lR === 0 : (this.fl & ZF) !== 0;
  }

  flagSF(): boolean {
    return this.lazy & SF ? (this.lR & this.lSign) !== 0 : (this.fl & SF) !== 0;
  }

  flagOF(): boolean {
    return this.lazy & OF ? lazyOF(this) : (this.fl & OF) !== 0;
  }

  /** Sets CF (keeping the other lazy flags lazy). */
  setCF(on: boolean): void {
    if (this.lazy & CF) {
      // Fold the lazy record first: CF's lazy formula shares inputs with OF and AF.
      materialize(this);
    }
    this.fl = on ? this.fl | CF : this.fl & ~CF;
  }

  /**
   * ADD OR ADC SBB AND SUB XOR CMP (op = the /digit order) on unsigned operands of `bits` width.
   * Returns the masked result and records the flags lazily.
   */
  arith(op: number, a: number, b: number, bits: number): number {
    const mask = bits === 32 ? 0xffffffff : bits === 16 ? 0xffff : 0xff;
    a = bits === 32 ? a >>> 0 : a & mask;
    b = bits === 32 ? b >>> 0 : b & mask;
    let r: number;
    let lop: number;
    switch (op) {
      case 0:
        r = a + b;
        lop = L_ADD;
        break;
      case 1:
        r = a | b;
        lop = L_LOGIC;
        break;
      case 2: {
        const c = this.getCF();
        r = a + b + c;
        lop = c ? L_ADC1 : L_ADD;
        break;
      }
      case 3: {
        const c = this.getCF();
        r = a - b - c;
        lop = c ? L_SBB1 : L_SUB;
        break;
      }
      case 4:
        r = a & b;
        lop = L_LOGIC;
        break;
      case 6:
        r = a ^ b;
        lop = L_LOGIC;
        break;
      default:
        r = a - b;
        lop = L_SUB;
        break;
    }
    r = bits === 32 ? r >>> 0 : r & mask;
    this.lOp = lop;
    this.lA = a;
    this.lB = b;
    this.lR = r;
    this.lSign = bits === 32 ? 0x80000000 : bits === 16 ? 0x8000 : 0x80;
    this.lazy = ARITH_FLAGS;
    return r;
  }

  /** 32-bit ADD with lazy flags (hot path of arith(0, ...)). */
  add32(a: number, b: number): number {
    const r = (a + b) >>> 0;
    this.lOp = L_ADD;
    this.lA = a >>> 0;
    this.lB = b >>> 0;
    this.lR = r;
    this.lSign = 0x80000000;
    this.lazy = ARITH_FLAGS;
    return r;
  }

  /** 32-bit SUB/CMP with lazy flags. */
  sub32(a: number, b: number): number {
    const r = (a - b) >>> 0;
    this.lOp = L_SUB;
    this.lA = a >>> 0;
    this.lB = b >>> 0;
    this.lR = r;
    this.lSign = 0x80000000;
    this.lazy = ARITH_FLAGS;
    return r;
  }

  /** 32-bit AND/OR/XOR/TEST result: CF = OF = AF = 0 (AF is undefined; we clear it), ZF/SF/PF lazy. */
  logic32(r: number): number {
    this.fl &= ~(CF | OF | AF);
    this.lOp = L_LOGIC;
    this.lR = r >>> 0;
    this.lSign = 0x80000000;
    this.lazy = ZF | SF | PF;
    return r;
  }

  /** 32-bit INC/DEC: every flag but CF comes from the result; CF is preserved. */
  incDec32(a: number, delta: number): number {
    if (this.lazy & CF) this.fl = (this.fl & ~CF) | (lazyCF(this) ? CF : 0);
    const r = (a + delta) >>> 0;
    this.lOp = delta > 0 ? L_ADD : L_SUB;
    this.lA = a >>> 0;
    this.lB = 1;
    this.lR = r;
    this.lSign = 0x80000000;
    this.lazy = ARITH_FLAGS & ~CF;
    return r;
  }

  /** INC (delta 1) / DEC (delta -1): like ADD/SUB 1 but CF is preserved. */
  incDec(a: number, delta: number, bits: number): number {
    const mask = bits === 32 ? 0xffffffff : bits === 16 ? 0xffff : 0xff;
    if (this.lazy & CF) materialize(this);
    a = bits === 32 ? a >>> 0 : a & mask;
    const r = bits === 32 ? (a + delta) >>> 0 : (a + delta) & mask;
    this.lOp = delta > 0 ? L_ADD : L_SUB;
    this.lA = a;
    this.lB = 1;
    this.lR = r;
    this.lSign = bits === 32 ? 0x80000000 : bits === 16 ? 0x8000 : 0x80;
    this.lazy = ARITH_FLAGS & ~CF;
    return r;
  }

  /** Records a result whose ZF/SF/PF are computed lazily; CF, OF and AF are given explicitly. */
  setResultFlags(r: number, bits: number, cf: boolean, of: boolean): void {
    this.fl = (this.fl & ~(CF | OF | AF)) | (cf ? CF : 0) | (of ? OF : 0);
    this.lOp = L_LOGIC;
    this.lA = 0;
    this.lB = 0;
    this.lR = bits === 32 ? r >>> 0 : r & (bits === 16 ? 0xffff : 0xff);
    this.lSign = bits === 32 ? 0x80000000 : bits === 16 ? 0x8000 : 0x80;
    this.lazy = ZF | SF | PF;
  }

  /** Sets CF and OF, leaving every other flag as it is (rotates, BT). */
  setCarryOverflow(cf: boolean, of: boolean | null): void {
    materialize(this);
    let fl = (this.fl & ~CF) | (cf ? CF : 0);
    if (of !== null) fl = (fl & ~OF) | (of ? OF : 0);
    this.fl = fl;
  }

  /**
   * Makes `bank` the system state the Cpu works on: VM entry points it at the guest-state area of the
   * VMCS, VM exit back at rootBank (system-bank.ts).
   */
  useBank(bank: SystemBankViews): void {
    this.sys = bank.sys;
    this.sysWords = bank.sysWords;
    this.segSel = bank.segSel;
    this.segBase = bank.segBase;
    this.segLimit = bank.segLimit;
    this.segAr = bank.segAr;
  }

  // ======================= privilege and mode =======================

  /** Recomputes the TLB deny masks after a change of CPL, CR0.WP or hooks. */
  updateAccessMasks(): void {
    const user = this.cpl === 3;
    this.dataReadDeny = TLB_NO_READ | TLB_MMIO | (user ? TLB_NO_USER : 0);
    this.dataWriteDeny =
      TLB_CLEAN | TLB_CODE | TLB_MMIO | TLB_NO_READ | (user ? TLB_NO_USER | TLB_NO_WRITE_USER : TLB_NO_WRITE_SUP);
    // A memory hook sends every data access through the slow path, which calls it; the slow path then
    // still uses the TLB as the fast path would (dataPhys), so a hook never changes the modeled timing.
    this.readDeny = this.hooks.memory ? -1 : this.dataReadDeny;
    this.writeDeny = this.hooks.memory ? -1 : this.dataWriteDeny;
    this.fetchDeny = TLB_NO_EXEC | TLB_MMIO | (user ? TLB_NO_USER : 0);
  }

  setCpl(cpl: number): void {
    if (cpl !== this.cpl) {
      if (this.cpl === 3) this.cpl3Cycles += this.cycles - this.cplChangedAt;
      this.cplChangedAt = this.cycles;
      this.cpl = cpl;
      this.updateAccessMasks();
      this.tlb.setLinkContext(this.asid, cpl);
    }
  }

  /** Cycles spent at CPL 3 since reset (VMX non-root time at CPL 3 included). */
  get cyclesAtCpl3(): number {
    return this.cpl3Cycles + (this.cpl === 3 ? this.cycles - this.cplChangedAt : 0);
  }

  /** Switches the TLB tag to another address-space id (VMX VPIDs). */
  setAsid(asid: number): void {
    this.asid = asid;
    this.asidTag = asid << 20;
    this.asidMix = asidHash(asid);
    this.tlb.setLinkContext(asid, this.cpl);
  }

  get pagingEnabled(): boolean {
    return (this.cr0 & CR0_PG) !== 0;
  }

  get writeProtect(): boolean {
    return (this.cr0 & CR0_WP) !== 0;
  }

  // ======================= exceptions =======================

  /** Raises an exception from inside an instruction; never returns. */
  fault(vector: number, errorCode: number = NO_ERROR_CODE): never {
    this.pendingVector = vector;
    this.pendingErrorCode = errorCode;
    throw FAULT;
  }

  /** #GP(0) unless at CPL 0 (privileged instructions). */
  requireCpl0(): void {
    if (this.cpl !== 0) this.fault(GP, 0);
  }

  /** #UD. */
  undefinedOpcode(): never {
    return this.fault(UD);
  }

  // ======================= linear memory (through the TLB) =======================

  /** Translates for a data access; fills the TLB or faults. */
  translate(linear: number, access: number): number {
    return this.walker.translate(linear, access, this.cpl === 3);
  }

  private tlbPhys(linear: number, deny: number): number {
    const vpn = linear >>> 12;
    const idx = (vpn ^ this.asidMix) & this.tlbMask;
    if (this.tlbTag[idx] === (vpn | this.asidTag)) {
      const info = this.tlbInfo[idx]!;
      if ((info & deny) === 0) {
        this.tlbHits++;
        return (info & ~0xfff) | (linear & 0xfff);
      }
    }
    return -1;
  }

  read8(linear: number): number {
    const vpn = linear >>> 12;
    const idx = (vpn ^ this.asidMix) & this.tlbMask;
    if (this.tlbTag[idx] === (vpn | this.asidTag)) {
      const info = this.tlbInfo[idx]!;
      if ((info & this.readDeny) === 0) {
        this.tlbHits++;
        return this.u8[(info & ~0xfff) | (linear & 0xfff)]!;
      }
    }
    return this.readSlow(linear, 1);
  }

  read16(linear: number): number {
    if ((linear & 0xfff) !== 0xfff) {
      const vpn = linear >>> 12;
      const idx = (vpn ^ this.asidMix) & this.tlbMask;
      if (this.tlbTag[idx] === (vpn | this.asidTag)) {
        const info = this.tlbInfo[idx]!;
        if ((info & this.readDeny) === 0) {
          this.tlbHits++;
          return this.view.getUint16((info & ~0xfff) | (linear & 0xfff), true);
        }
      }
    }
    return this.readSlow(linear, 2);
  }

  read32(linear: number): number {
    if ((linear & 0xfff) <= 0xffc) {
      const vpn = linear >>> 12;
      const idx = (vpn ^ this.asidMix) & this.tlbMask;
      if (this.tlbTag[idx] === (vpn | this.asidTag)) {
        const info = this.tlbInfo[idx]!;
        if ((info & this.readDeny) === 0) {
          this.tlbHits++;
          const p = (info & ~0xfff) | (linear & 0xfff);
          return (p & 3) === 0 ? this.i32[p >>> 2]! : this.view.getInt32(p, true);
        }
      }
    }
    return this.readSlow(linear, 4);
  }

  write8(linear: number, value: number): void {
    const vpn = linear >>> 12;
    const idx = (vpn ^ this.asidMix) & this.tlbMask;
    if (this.tlbTag[idx] === (vpn | this.asidTag)) {
      const info = this.tlbInfo[idx]!;
      if ((info & this.writeDeny) === 0) {
        this.tlbHits++;
        this.u8[(info & ~0xfff) | (linear & 0xfff)] = value;
        return;
      }
    }
    this.writeSlow(linear, 1, value);
  }

  write16(linear: number, value: number): void {
    if ((linear & 0xfff) !== 0xfff) {
      const vpn = linear >>> 12;
      const idx = (vpn ^ this.asidMix) & this.tlbMask;
      if (this.tlbTag[idx] === (vpn | this.asidTag)) {
        const info = this.tlbInfo[idx]!;
        if ((info & this.writeDeny) === 0) {
          this.tlbHits++;
          this.view.setUint16((info & ~0xfff) | (linear & 0xfff), value, true);
          return;
        }
      }
    }
    this.writeSlow(linear, 2, value);
  }

  write32(linear: number, value: number): void {
    if ((linear & 0xfff) <= 0xffc) {
      const vpn = linear >>> 12;
      const idx = (vpn ^ this.asidMix) & this.tlbMask;
      if (this.tlbTag[idx] === (vpn | this.asidTag)) {
        const info = this.tlbInfo[idx]!;
        if ((info & this.writeDeny) === 0) {
          this.tlbHits++;
          const p = (info & ~0xfff) | (linear & 0xfff);
          if ((p & 3) === 0) this.i32[p >>> 2] = value;
          else this.view.setInt32(p, value, true);
          return;
        }
      }
    }
    this.writeSlow(linear, 4, value);
  }

  /** Host-physical address for an implicit supervisor access (GDT, IDT, TSS, interrupt stack frames). */
  supervisorPhys(linear: number, write: boolean): number {
    // (Its callers access memory through PhysicalMemory, whose watch sees a write into decoded code.)
    const deny = write ? SUPERVISOR_WRITE_DENY & SLOW_WRITE_ALLOWS : SUPERVISOR_READ_DENY;
    const p = this.tlbPhys(linear, deny);
    return p >= 0 ? p : this.walker.translate(linear, write ? ACCESS_WRITE : ACCESS_READ, false);
  }

  /** Reads one instruction byte (fetch permission: EPT execute, U/S). */
  fetch8(linear: number): number {
    let p = this.tlbPhys(linear, this.fetchDeny);
    if (p < 0) p = this.walker.translate(linear, ACCESS_FETCH, this.cpl === 3);
    return this.mem.read8(p);
  }

  /** Translates an instruction address for fetching (used to find decoded blocks). */
  fetchPhys(linear: number): number {
    const p = this.tlbPhys(linear, this.fetchDeny);
    return p >= 0 ? p : this.walker.translate(linear, ACCESS_FETCH, this.cpl === 3);
  }

  private readSlow(linear: number, size: number): number {
    this.slowAccesses++;
    let v: number;
    if ((linear & 0xfff) + size > 0x1000) {
      // Page-crossing access: each page translated once (its TLB entry, else a walk), the first page first,
      // then byte by byte.
      const first = this.dataPhys(linear, ACCESS_READ);
      const second = this.dataPhys((linear + size - 1) & ~0xfff, ACCESS_READ);
      v = 0;
      for (let k = 0; k < size; k++) v |= this.readPhysByte(splitByte(linear, k, first, second)) << (8 * k);
      if (size === 2) v &= 0xffff;
    } else {
      const p = this.dataPhys(linear, ACCESS_READ);
      v = size === 1 ? this.mem.read8(p) : size === 2 ? this.mem.read16(p) : this.mem.read32(p);
    }
    if (this.hooks.memory) {
      const stop = this.hooks.memory("read", linear >>> 0, size, v);
      if (stop) this.stopRequest = { kind: "hook", reason: stop };
    }
    return v;
  }

  /**
   * Physical address of a data access on the slow path: the TLB entry that answers it on hardware (the fast
   * path's, which a memory hook or a store into a page of decoded code bypasses), else a walk.
   */
  private dataPhys(linear: number, access: number): number {
    const p = this.tlbPhys(
      linear,
      access === ACCESS_WRITE ? this.dataWriteDeny & SLOW_WRITE_ALLOWS : this.dataReadDeny,
    );
    return p >= 0 ? p : this.translate(linear, access);
  }

  private readPhysByte(p: number): number {
    return this.mem.read8(p);
  }

  private writeSlow(linear: number, size: number, value: number): void {
    this.slowAccesses++;
    if ((linear & 0xfff) + size > 0x1000) {
      // Check both pages before writing anything, so a fault leaves memory untouched.
      const first = this.dataPhys(linear, ACCESS_WRITE);
      const second = this.dataPhys((linear + size - 1) & ~0xfff, ACCESS_WRITE);
      for (let k = 0; k < size; k++) this.mem.write8(splitByte(linear, k, first, second), value >>> (8 * k));
    } else {
      const p = this.dataPhys(linear, ACCESS_WRITE);
      if (size === 1) this.mem.write8(p, value);
      else if (size === 2) this.mem.write16(p, value);
      else this.mem.write32(p, value);
    }
    if (this.hooks.memory) {
      const stop = this.hooks.memory("write", linear >>> 0, size, value);
      if (stop) this.stopRequest = { kind: "hook", reason: stop };
    }
  }

  /**
   * The RAM dword index of `size` bytes at an aligned `linear` when they lie in one page the fast path
   * may access (write, or read): the dword accesses to them would each hit that TLB entry, so their
   * hits are counted. -1 otherwise: the caller makes the accesses one by one.
   */
  fastDwords(linear: number, size: number, write: boolean): number {
    return this.dwordsThrough(linear, size, write ? this.writeDeny : this.readDeny);
  }

  /**
   * fastDwords for the processor's own supervisor accesses (descriptors, gates, the TSS, interrupt
   * frames): the deny masks of supervisorPhys. Memory hooks do not see these accesses.
   */
  supervisorDwords(linear: number, size: number, write: boolean): number {
    return this.dwordsThrough(linear, size, write ? SUPERVISOR_WRITE_DENY : SUPERVISOR_READ_DENY);
  }

  private dwordsThrough(linear: number, size: number, deny: number): number {
    if ((linear & 3) !== 0 || (linear & 0xfff) + size > 0x1000) return -1;
    const vpn = linear >>> 12;
    const idx = (vpn ^ this.asidMix) & this.tlbMask;
    if (this.tlbTag[idx] !== (vpn | this.asidTag)) return -1;
    const info = this.tlbInfo[idx]!;
    if ((info & deny) !== 0) return -1;
    this.tlbHits += size >>> 2;
    return ((info & ~0xfff) | (linear & 0xfff)) >>> 2;
  }

  /** Checks that a write to [linear, linear+size) would succeed, without writing (for multi-part stores). */
  probeWrite(linear: number, size: number): void {
    if (this.tlbPhys(linear, this.dataWriteDeny) < 0) this.translate(linear, ACCESS_WRITE);
    const last = (linear + size - 1) | 0;
    if ((last & ~0xfff) !== (linear & ~0xfff) && this.tlbPhys(last, this.dataWriteDeny) < 0) {
      this.translate(last, ACCESS_WRITE);
    }
  }

  // ======================= operands =======================

  /** Effective (linear) address of a memory operand; segments are flat (base 0, no limit checks). */
  ea(i: Insn): number {
    return (this.regs[i.base]! + (this.regs[i.index]! << i.scale) + i.disp) | 0;
  }

  // ======================= stack =======================

  push32(v: number): void {
    const sp = (this.regs[ESP]! - 4) | 0;
    this.write32(sp, v);
    this.regs[ESP] = sp;
  }

  push16(v: number): void {
    const sp = (this.regs[ESP]! - 2) | 0;
    this.write16(sp, v);
    this.regs[ESP] = sp;
  }

  pop32(): number {
    const sp = this.regs[ESP]!;
    const v = this.read32(sp);
    this.regs[ESP] = (sp + 4) | 0;
    return v;
  }

  pop16(): number {
    const sp = this.regs[ESP]!;
    const v = this.read16(sp);
    this.regs[ESP] = (sp + 2) | 0;
    return v;
  }

  // ======================= port I/O =======================

  portIn(port: number, size: AccessSize): number {
    return this.ports.in(port, size);
  }

  portOut(port: number, size: AccessSize, value: number): void {
    this.ports.out(port, size, value);
  }

  // ======================= TLB control =======================

  /** MOV CR3 / task switch: drop the current address space's non-global translations. */
  flushTlb(keepGlobal: boolean): void {
    this.tlb.flushAsid(this.asid, keepGlobal);
    this.cycles += this.cost.paging.tlbFlush;
  }

  invlpg(linear: number): void {
    this.tlb.flushPage(linear, this.asid);
  }

  // ======================= the run loop =======================

  /**
   * Sets the VMX-preemption timer's deadline (VM entry). A VM entry by an instruction (VMLAUNCH,
   * VMRESUME, or a hypervisor's code inside one, as an OUT) happens inside a burst: the burst ends at
   * the new deadline, as one started after the entry would.
   */
  armTimerDeadline(cycle: number): void {
    this.timerDeadline = cycle;
    if (cycle < this.burstDeadline) this.burstDeadline = cycle;
  }

  /** Adds modeled cycles (device waits, VM transitions) outside instruction execution. */
  addCycles(n: number): void {
    this.cycles += n;
  }

  /**
   * Runs until something stops it. Interrupts and device events are taken between instructions,
   * exactly when the cycle counter reaches them, independent of how code was split into blocks.
   */
  run(options: RunOptions = {}): StopReason {
    const instrLimit =
      options.maxInstructions === undefined ? Number.POSITIVE_INFINITY : this.instret + options.maxInstructions;
    const cycleLimit = options.maxCycles === undefined ? Number.POSITIVE_INFINITY : this.cycles + options.maxCycles;
    this.runCycleLimit = cycleLimit;
    this.stopRequest = null;
    this.exitOffered = false;
    let firstInstruction = true;
    for (;;) {
      if (this.stopRequest) {
        // (TypeScript keeps the narrowing of the assignment above across the loop: the instructions set it.)
        const s = this.stopRequest as StopReason;
        this.stopRequest = null;
        // A VM exit the embedder's fastpath handled (the guest is entered again, or root code set up to
        // run): go on as a new run() would, without the return and the call.
        if (s.kind === "vmexit") {
          const offered = this.exitOffered;
          this.exitOffered = false;
          if (!offered && this.vmx?.fastpath?.() === true) {
            firstInstruction = true;
            continue;
          }
          // VMX reuses its request for every exit: the caller gets a value of its own.
          return { kind: "vmexit", reason: s.reason, qualification: s.qualification };
        }
        return s;
      }
      if (this.instret >= instrLimit || this.cycles >= cycleLimit) return { kind: "limit" };
      if (this.cycles >= this.nextEventCycle && this.serviceEvents) this.serviceEvents();
      if ((this.vmxPollEvents || this.cycles >= this.timerDeadline) && this.vmx?.pollEvents?.()) continue;
      if (
        !this.interruptShadow &&
        (this.nmiPending || (this.fl & IF && !this.vmx?.externalInterruptsExit && this.pic?.hasInterrupt()))
      ) {
        this.takeExternalEvent();
        continue;
      }
      if (this.halted) {
        const wake = this.waitForInterrupt(cycleLimit);
        if (wake) return wake;
        continue;
      }
      if (!firstInstruction && this.breakpoints.size > 0 && this.breakpoints.has(this.eip >>> 0)) {
        return { kind: "breakpoint", address: this.eip >>> 0 };
      }
      firstInstruction = false;
      const deadline = Math.min(cycleLimit, this.nextEventCycle, this.timerDeadline);
      if (
        this.interruptShadow ||
        this.fl & TF ||
        this.hooks.instruction ||
        this.hooks.memory ||
        this.breakpoints.size > 0
      ) {
        // Careful mode: one instruction at a time with every check.
        const budget = this.interruptShadow ? 1 : instrLimit - this.instret;
        this.runBlockStepwise(budget, deadline);
        // The shadow covers exactly one instruction after the one that set it (a VM exit during that
        // instruction saves it in the guest's interruptibility state).
        if (this.interruptShadow && this.instret > this.shadowSetAt + 1) {
          this.interruptShadow = false;
          this.movSsShadow = false;
        }
      } else {
        this.burst(deadline, instrLimit);
      }
    }
  }

  /** Executes exactly one instruction (taking a pending interrupt first, as hardware would). */
  step(): StopReason {
    return this.run({ maxInstructions: 1 });
  }

  private waitForInterrupt(cycleLimit: number): StopReason | null {
    // What can end the wait: an interrupt the CPU will take, an NMI, or (in VMX non-root
    // operation) the preemption timer or an external interrupt that causes a VM exit.
    const interruptsWake = (this.fl & IF) !== 0 || this.vmx?.externalInterruptsExit === true;
    const wakeAt = Math.min(interruptsWake ? this.nextEventCycle : Number.POSITIVE_INFINITY, this.timerDeadline);
    if (!interruptsWake && !this.nmiPending && wakeAt === Number.POSITIVE_INFINITY) return { kind: "halt" };
    // Skip idle time to the next event; with none coming, nothing can wake us.
    if (wakeAt === Number.POSITIVE_INFINITY) return { kind: "halt" };
    if (wakeAt >= cycleLimit) {
      if (this.cycles < cycleLimit) this.haltedCycles += cycleLimit - this.cycles;
      this.cycles = cycleLimit;
      return { kind: "limit" };
    }
    if (this.cycles < wakeAt) {
      this.haltedCycles += wakeAt - this.cycles;
      this.cycles = wakeAt;
    }
    return null;
  }

  private takeExternalEvent(): void {
    this.halted = false;
    if (this.nmiPending) {
      this.nmiPending = false;
      this.deliver(2, NO_ERROR_CODE, "nmi");
      return;
    }
    const vector = this.pic!.acknowledge();
    this.deliver(vector, NO_ERROR_CODE, "external");
  }

  /**
   * Delivers an event through the IDT, turning faults during delivery into #DF or a shutdown.
   * A VM exit during delivery (EPT violation, an intercepted exception) is completed here.
   */
  deliver(vector: number, errorCode: number, kind: EventKind): void {
    this.deliveries++;
    this.hooks.exception?.(vector, errorCode, kind);
    try {
      deliverEvent(this, vector, errorCode, kind);
      this.vmx?.eventDelivered?.();
    } catch (signal) {
      if (signal !== VMEXIT) throw signal;
      this.vmx?.completeExit?.();
    }
  }

  /** Finds the block at EIP; a fault while fetching it is delivered and null returned. */
  private blockAt(eip: number): Block | null {
    try {
      return this.blocks.lookup(eip);
    } catch (signal) {
      this.eip = eip;
      this.onSignal(signal);
      return null;
    }
  }

  /**
   * The hot loop: whole blocks back to back, following cached successor links, until the next
   * event is due or something needs the outer loop (a stop, HLT, an interrupt, an STI shadow).
   * EIP is only materialized before a block's last instruction (the only one that reads it);
   * a fault mid-block recovers it from the instruction's offset.
   */
  private burst(deadline: number, instrLimit: number): void {
    this.burstDeadline = deadline;
    this.burstInstrLimit = instrLimit;
    const blocks = this.blocks;
    let block = blocks.lastRun !== null ? this.nextBlock(blocks.lastRun, this.eip) : this.blockAt(this.eip);
    while (block !== null) {
      const insns = block.insns;
      const n = insns.length;
      if (!this.blockFits(block)) {
        // Up to the next event as blockFits sees it: a timer programmed inside the burst moved it.
        this.runBlockStepwise(instrLimit - this.instret, Math.min(this.burstDeadline, this.nextEventCycle));
        return;
      }
      const startEip = this.eip;
      const last = n - 1;
      // k = index of the running instruction; k === n once the cycles and count of instructions
      // 0..last-1 have been added, just before the last one runs (it may read the clock: RDTSC, the PIT).
      let k = 0;
      const compiled = block.compiled;
      try {
        if (compiled !== null) {
          // The compiled block counts its last instruction itself (it may run itself again: repeatBlock)
          // and keeps k in blockPos.
          compiled(this, block);
        } else {
          if (++block.runs >= COMPILE_THRESHOLD) block.compiled = compileBlock(block);
          this.blockEip = startEip; // (a Jcc inside the block computes its target from it)
          for (; k < last; k++) {
            const i = insns[k]!;
            i.exec(this, i);
            if (this.leftBlock) break;
          }
          if (k < last) {
            // Jcc k was taken: it ran, and set EIP to its target (compiled blocks return there instead).
            this.leftBlock = false;
            this.cycles += block.costBefore[k + 1]!;
            this.instret += k + 1;
          } else {
            this.cycles += block.costBefore[last]!;
            this.instret += last;
            k = n;
            const i = insns[last]!;
            this.eip = (startEip + block.length) | 0;
            i.exec(this, i);
            this.cycles += i.cost;
            this.instret++;
          }
        }
      } catch (signal) {
        if (compiled !== null) k = this.blockPos;
        let at = k;
        if (k === n) at = last;
        else {
          this.cycles += block.costBefore[k]!;
          this.instret += k;
        }
        this.eip = (startEip + insns[at]!.offset) | 0;
        blocks.lastRun = block;
        this.onSignal(signal);
        return;
      }
      // Where the burst ends, the block that ran last is remembered (its links start the next burst).
      if (!this.mayChain() && !this.reenteredAfterExit()) {
        blocks.lastRun = block;
        return;
      }
      const next = this.nextBlock(block, this.eip);
      if (next === null) {
        blocks.lastRun = block;
        return;
      }
      block = next;
    }
  }

  /**
   * A block that ended in a VM exit (CPUID, I/O, ...) ends the burst with the exit requested. The exit goes
   * to the embedder's fastpath right here, as run()'s loop would give it, when nothing else would make that
   * loop do more before the next burst; if the fastpath entered the guest again, the burst goes on with
   * the guest (a new deadline: the entry armed the preemption timer). False leaves it all to run()'s loop.
   */
  private reenteredAfterExit(): boolean {
    const s = this.stopRequest;
    const vmx = this.vmx;
    if (s === null || s.kind !== "vmexit" || !vmx?.fastpath) return false;
    if (this.hooks.instruction || this.hooks.memory || this.breakpoints.size > 0) return false;
    this.stopRequest = null;
    if (vmx.fastpath() !== true) {
      this.stopRequest = s;
      this.exitOffered = true; // run() returns it without asking again
      return false;
    }
    // The checks of run()'s loop; if one of them has something to do, it does it from its top.
    this.burstDeadline = Math.min(this.runCycleLimit, this.nextEventCycle, this.timerDeadline);
    return this.mayChain() && this.instret < this.burstInstrLimit;
  }

  /** The block at EIP after `block`: its successor link if still valid, else a lookup that becomes one. */
  private nextBlock(block: Block, eip: number): Block | null {
    const linked = this.linkedBlock(block, eip);
    if (linked !== null) return linked;
    const epoch = this.tlb.epoch;
    const next = this.blockAt(eip);
    if (next === null) return null;
    if (block.linkEpoch !== epoch) {
      block.linkEpoch = epoch;
      block.linkEip0 = eip;
      block.link0 = next;
      block.linkEip1 = -1;
    } else {
      block.linkEip1 = eip;
      block.link1 = next;
    }
    return next;
  }

  /** Whether the burst may go on to the next block: nothing needs the outer loop (a stop, HLT, an event). */
  private mayChain(): boolean {
    if (this.stopRequest !== null || this.halted || this.nmiPending) return false;
    // (A guest with external-interrupt exiting, as KVM runs every guest, polls at each boundary; the
    // burst chains its blocks while nothing is pending.)
    if (this.vmxPollEvents && this.vmx?.eventsPending?.() !== false) return false;
    // The block's last instruction reached the next event (its extra cycles: a REP string, page walks,
    // device work): run() takes it before the next instruction, as between single steps.
    if (this.cycles >= this.burstDeadline || this.cycles >= this.nextEventCycle) return false;
    if (this.fl & IF && this.pic !== null && this.pic.hasInterrupt()) return false;
    if (this.fl & TF) return false; // POPF or IRET set TF: single-step from the next instruction on
    return !this.interruptShadow || this.shadowHoldsNothing();
  }

  /**
   * An STI shadow holds back interrupts only at the boundary right after STI. In root operation, with
   * nothing pending and no event due there (mayChain checked both; in root operation no preemption
   * timer runs), it holds back nothing: it ends here and the burst goes on (an STI that ends its
   * block at a page's end; elsewhere STI's block ends after the covered instruction, whose handler
   * ends the shadow: block-cache.ts). A MOV SS shadow (it also blocks VM entry) and any shadow in VMX
   * non-root operation (VM exits save it, interrupt-window exiting reads it) stay, for run()'s
   * one-instruction careful step.
   */
  private shadowHoldsNothing(): boolean {
    if (this.movSsShadow || this.vmx?.nonRoot) return false;
    this.interruptShadow = false;
    return true;
  }

  /** The block's still-valid successor link for EIP, or null. */
  private linkedBlock(block: Block, eip: number): Block | null {
    if (block.linkEpoch !== this.tlb.epoch) return null;
    if (block.linkEip0 === eip) return block.link0;
    if (block.linkEip1 === eip) return block.link1;
    return null;
  }

  /**
   * Called by a compiled block that has just branched back to its own start: true if it may run again
   * at once, which is exactly when burst() would chain to it and run it whole (its link to itself is
   * valid, and neither the budget nor an event stops it).
   */
  repeatBlock(block: Block): boolean {
    return this.mayChain() && this.linkedBlock(block, this.eip) === block && this.blockFits(block);
  }

  /**
   * Whether the whole block fits in the burst's budget: the next event is not due before its end, even
   * if its instructions miss the TLB (Block.fitCost). Otherwise it runs one instruction at a time.
   */
  blockFits(block: Block): boolean {
    // nextEventCycle moves when the guest programs a timer inside the burst (OUT to the PIT).
    return (
      this.cycles + block.fitCost < Math.min(this.burstDeadline, this.nextEventCycle) &&
      this.instret + block.insns.length <= this.burstInstrLimit
    );
  }

  /** One block with every per-instruction check (hooks, breakpoints, exact event timing, budgets). */
  private runBlockStepwise(instrBudget: number, deadline: number): void {
    const startEip = this.eip;
    this.blockEip = startEip;
    const block = this.blockAt(startEip);
    if (block === null) return;
    const insns = block.insns;
    let n = insns.length;
    if (n > instrBudget) n = instrBudget;
    let k = 0;
    try {
      for (; k < n; k++) {
        const i = insns[k]!;
        if (k > 0 && this.breakpoints.size > 0 && this.breakpoints.has(this.eip >>> 0)) {
          this.stopRequest = { kind: "breakpoint", address: this.eip >>> 0 };
          return;
        }
        if (this.hooks.instruction) {
          const stop = this.hooks.instruction(this, this.eip >>> 0);
          if (stop) {
            this.stopRequest = { kind: "hook", reason: stop };
            return;
          }
        }
        // Single step: an instruction that starts with TF = 1 is followed by a #DB trap, unless it
        // delivered an event itself (INT n, INT3 and INTO clear TF; the trap is discarded).
        const singleStep = this.fl & TF;
        const deliveries = this.deliveries;
        this.eip = (this.eip + i.len) | 0;
        i.exec(this, i);
        const leaves = this.leftBlock; // a Jcc inside the block was taken: it ran, and set EIP to its target
        this.leftBlock = false;
        this.cycles += i.cost;
        this.instret++;
        if (singleStep && this.deliveries === deliveries) {
          this.deliver(DB, NO_ERROR_CODE, "exception");
          k++;
          break;
        }
        if (leaves || this.cycles >= deadline || this.stopRequest) {
          k++;
          break;
        }
      }
    } catch (signal) {
      this.eip = (startEip + insns[k]!.offset) | 0;
      this.onSignal(signal);
    }
  }

  private onSignal(signal: unknown): void {
    if (signal === FAULT) {
      this.deliver(this.pendingVector, this.pendingErrorCode, "exception");
    } else if (signal === VMEXIT) {
      this.vmx?.completeExit?.();
    } else if (signal === RESTART) {
      // The instruction's bytes were overwritten after it was decoded: EIP points at it; decode afresh.
    } else {
      throw signal;
    }
  }

  // ======================= state for debuggers and snapshots =======================

  /** The general registers, EIP, EFLAGS and control registers as unsigned integers. */
  snapshotRegisters(): RegisterSnapshot {
    const r = this.regs;
    return {
      eax: r[0]! >>> 0,
      ebx: r[3]! >>> 0,
      ecx: r[1]! >>> 0,
      edx: r[2]! >>> 0,
      esi: r[6]! >>> 0,
      edi: r[7]! >>> 0,
      ebp: r[5]! >>> 0,
      esp: r[4]! >>> 0,
      eip: this.eip >>> 0,
      eflags: this.getEflags(),
      cr0: this.cr0 >>> 0,
      cr2: this.cr2 >>> 0,
      cr3: this.cr3 >>> 0,
      cr4: this.cr4 >>> 0,
    };
  }

  /** Reads linear memory without side effects (no A/D bits, no TLB fill); null if unmapped. */
  peekBytes(linear: number, length: number): Uint8Array | null {
    const out = new Uint8Array(length);
    for (let k = 0; k < length; k++) {
      const walk = this.walker.peek((linear + k) | 0);
      if (!walk.ok) return k === 0 ? null : out.subarray(0, k);
      out[k] = this.mem.read8(walk.physical);
    }
    return out;
  }

  /** DF as +1/-1 for string instructions. */
  get direction(): number {
    return this.fl & DF ? -1 : 1;
  }

  /** CS selector (for IRET/CALL FAR and the debugger). */
  get cs(): number {
    return this.segSel[CS]!;
  }

  /** The unsigned value of a 32-bit register. */
  u32(r: number): number {
    return this.regs[r]! >>> 0;
  }

  get zeroReg(): number {
    return ZERO_REG;
  }
}

/**
 * The Cpu's scalar system registers are accessors over its system bank (unsigned words); selectors
 * keep 16 bits, as the VMCS fields that hold them.
 */
const BANK_PROPERTIES: Record<string, [word: number, mask: number]> = {
  gdtrBase: [GDTR_BASE, 0xffffffff],
  gdtrLimit: [GDTR_LIMIT, 0xffffffff],
  idtrBase: [IDTR_BASE, 0xffffffff],
  idtrLimit: [IDTR_LIMIT, 0xffffffff],
  ldtrSel: [LDTR_SEL, 0xffff],
  ldtrBase: [LDTR_BASE, 0xffffffff],
  ldtrLimit: [LDTR_LIMIT, 0xffffffff],
  ldtrAr: [LDTR_AR, 0xffffffff],
  trSel: [TR_SEL, 0xffff],
  trBase: [TR_BASE, 0xffffffff],
  trLimit: [TR_LIMIT, 0xffffffff],
  trAr: [TR_AR, 0xffffffff],
  sysenterCs: [SYSENTER_CS, 0xffffffff],
  sysenterEsp: [SYSENTER_ESP, 0xffffffff],
  sysenterEip: [SYSENTER_EIP, 0xffffffff],
};
for (const [name, [word, mask]] of Object.entries(BANK_PROPERTIES)) {
  Object.defineProperty(Cpu.prototype, name, {
    get(this: Cpu): number {
      return this.sysWords[word]!;
    },
    set(this: Cpu, v: number) {
      this.bankWrites++;
      this.sysWords[word] = v & mask;
    },
  });
}

export { U32 };
