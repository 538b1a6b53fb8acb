// VMX operation (Intel SDM Vol. 3C, chapters 24-31): the VMX state of the processor, VM entry,
// VM exit, and the decisions that make an instruction or event in non-root operation exit.
//
// Two ways to drive it, with one code path underneath:
//  - a hypervisor written in assembly runs on the CPU and uses VMXON ... VMLAUNCH; a VM exit loads
//    the host state and continues at HOST_RIP;
//  - a hypervisor written in TypeScript calls vmxon()/vmptrld()/vmwrite()/launch() on this object and
//    Cpu.run() returns each VM exit as a typed StopReason (like KVM_RUN), the VMCS holding the same
//    exit information either way.

import type { Cpu, VmxHooks } from "../cpu/cpu.js";
import { FAULT, NO_ERROR_CODE, VMEXIT } from "../cpu/fault.js";
import type { EventKind } from "../cpu/interrupts.js";
import { CR0_ET, CS, DS, EFLAGS_FIXED1, ES, ESP, FS, GS, IF, PAGE_FAULT, SS } from "../cpu/registers.js";
import type { StopReason } from "../cpu/stop.js";
import * as SB from "../cpu/system-bank.js";
import type { Insn } from "../isa/insn.js";
import { MAX_ASID } from "../memory/tlb.js";
import {
  CR0_FIXED0,
  CR0_FIXED1,
  CR4_FIXED0,
  CR4_FIXED1,
  capabilityMsrs,
  PREEMPTION_TIMER_RATE,
  VMCS_REVISION_ID,
} from "./capabilities.js";
import * as C from "./controls.js";
import { checkControls, checkGuestState, checkHostState } from "./entry-checks.js";
import { Ept } from "./ept.js";
import { ExitCounter } from "./exit-counter.js";
import { EXIT_REASON, exitReasonName } from "./exit-reasons.js";
import { VmcsAccess } from "./vmcs.js";
import { VMCS, VMCS_WORD as W } from "./vmcs-fields.js";

// The control bits and the VMCS word indices (VMCS_WORD) this file uses, as module constants: VM entry and
// exit read dozens of them each time, and a namespace or object property load per use costs measurably
// (V8 does not fold imported values).
const {
  CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
  CPU_BASED_CR3_LOAD_EXITING,
  CPU_BASED_CR3_STORE_EXITING,
  CPU_BASED_HLT_EXITING,
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_INVLPG_EXITING,
  CPU_BASED_PAUSE_EXITING,
  CPU_BASED_RDTSC_EXITING,
  CPU_BASED_UNCOND_IO_EXITING,
  CPU_BASED_USE_IO_BITMAPS,
  CPU_BASED_USE_MSR_BITMAPS,
  CPU_BASED_USE_TSC_OFFSETTING,
  GUEST_ACTIVITY_ACTIVE,
  GUEST_ACTIVITY_HLT,
  GUEST_INTR_STATE_MOV_SS,
  GUEST_INTR_STATE_STI,
  INTR_INFO_DELIVER_CODE_MASK,
  INTR_INFO_VALID_MASK,
  INTR_TYPE_EXT_INTR,
  INTR_TYPE_HARD_EXCEPTION,
  INTR_TYPE_NMI_INTR,
  INTR_TYPE_PRIV_SW_EXCEPTION,
  INTR_TYPE_SOFT_EXCEPTION,
  INTR_TYPE_SOFT_INTR,
  PIN_BASED_EXT_INTR_MASK,
  PIN_BASED_NMI_EXITING,
  PIN_BASED_VMX_PREEMPTION_TIMER,
  SECONDARY_EXEC_ENABLE_EPT,
  SECONDARY_EXEC_ENABLE_VPID,
  SECONDARY_EXEC_UNRESTRICTED_GUEST,
  VMXERR,
  VMX_EXIT_REASONS_FAILED_VMENTRY,
  VM_EXIT_ACK_INTR_ON_EXIT,
  VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
} = C;
const {
  CPU_BASED_VM_EXEC_CONTROL: W_CPU_BASED_VM_EXEC_CONTROL,
  CR0_GUEST_HOST_MASK: W_CR0_GUEST_HOST_MASK,
  CR0_READ_SHADOW: W_CR0_READ_SHADOW,
  CR4_GUEST_HOST_MASK: W_CR4_GUEST_HOST_MASK,
  CR4_READ_SHADOW: W_CR4_READ_SHADOW,
  EPT_POINTER: W_EPT_POINTER,
  EXIT_QUALIFICATION: W_EXIT_QUALIFICATION,
  GUEST_ACTIVITY_STATE: W_GUEST_ACTIVITY_STATE,
  GUEST_CR0: W_GUEST_CR0,
  GUEST_CR3: W_GUEST_CR3,
  GUEST_CR4: W_GUEST_CR4,
  GUEST_INTERRUPTIBILITY_INFO: W_GUEST_INTERRUPTIBILITY_INFO,
  GUEST_LINEAR_ADDRESS: W_GUEST_LINEAR_ADDRESS,
  GUEST_PHYSICAL_ADDRESS: W_GUEST_PHYSICAL_ADDRESS,
  GUEST_RFLAGS: W_GUEST_RFLAGS,
  GUEST_RIP: W_GUEST_RIP,
  GUEST_RSP: W_GUEST_RSP,
  HOST_CR0: W_HOST_CR0,
  HOST_CR3: W_HOST_CR3,
  HOST_CR4: W_HOST_CR4,
  HOST_CS_SELECTOR: W_HOST_CS_SELECTOR,
  HOST_DS_SELECTOR: W_HOST_DS_SELECTOR,
  HOST_ES_SELECTOR: W_HOST_ES_SELECTOR,
  HOST_FS_BASE: W_HOST_FS_BASE,
  HOST_FS_SELECTOR: W_HOST_FS_SELECTOR,
  HOST_GDTR_BASE: W_HOST_GDTR_BASE,
  HOST_GS_BASE: W_HOST_GS_BASE,
  HOST_GS_SELECTOR: W_HOST_GS_SELECTOR,
  HOST_IA32_SYSENTER_CS: W_HOST_IA32_SYSENTER_CS,
  HOST_IA32_SYSENTER_EIP: W_HOST_IA32_SYSENTER_EIP,
  HOST_IA32_SYSENTER_ESP: W_HOST_IA32_SYSENTER_ESP,
  HOST_IDTR_BASE: W_HOST_IDTR_BASE,
  HOST_RIP: W_HOST_RIP,
  HOST_RSP: W_HOST_RSP,
  HOST_SS_SELECTOR: W_HOST_SS_SELECTOR,
  HOST_TR_BASE: W_HOST_TR_BASE,
  HOST_TR_SELECTOR: W_HOST_TR_SELECTOR,
  IDT_VECTORING_ERROR_CODE: W_IDT_VECTORING_ERROR_CODE,
  IDT_VECTORING_INFO_FIELD: W_IDT_VECTORING_INFO_FIELD,
  PIN_BASED_VM_EXEC_CONTROL: W_PIN_BASED_VM_EXEC_CONTROL,
  SECONDARY_VM_EXEC_CONTROL: W_SECONDARY_VM_EXEC_CONTROL,
  TSC_OFFSET: W_TSC_OFFSET,
  VIRTUAL_PROCESSOR_ID: W_VIRTUAL_PROCESSOR_ID,
  VMX_INSTRUCTION_INFO: W_VMX_INSTRUCTION_INFO,
  VMX_PREEMPTION_TIMER_VALUE: W_VMX_PREEMPTION_TIMER_VALUE,
  VM_ENTRY_INTR_INFO_FIELD: W_VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_MSR_LOAD_ADDR: W_VM_ENTRY_MSR_LOAD_ADDR,
  VM_ENTRY_MSR_LOAD_COUNT: W_VM_ENTRY_MSR_LOAD_COUNT,
  VM_EXIT_CONTROLS: W_VM_EXIT_CONTROLS,
  VM_EXIT_INSTRUCTION_LEN: W_VM_EXIT_INSTRUCTION_LEN,
  VM_EXIT_INTR_ERROR_CODE: W_VM_EXIT_INTR_ERROR_CODE,
  VM_EXIT_INTR_INFO: W_VM_EXIT_INTR_INFO,
  VM_EXIT_MSR_LOAD_ADDR: W_VM_EXIT_MSR_LOAD_ADDR,
  VM_EXIT_MSR_LOAD_COUNT: W_VM_EXIT_MSR_LOAD_COUNT,
  VM_EXIT_MSR_STORE_ADDR: W_VM_EXIT_MSR_STORE_ADDR,
  VM_EXIT_MSR_STORE_COUNT: W_VM_EXIT_MSR_STORE_COUNT,
  VM_EXIT_REASON: W_VM_EXIT_REASON,
} = W;

/** A VM exit as a TypeScript hypervisor receives it (all of it is also in the VMCS). */
export interface VmExitInfo {
  /** Full exit reason (bit 31 set for a failed VM entry). */
  reason: number;
  /** Basic exit reason name ("CPUID", "IO_INSTRUCTION", ...). */
  name: string;
  qualification: number;
  instructionLength: number;
  guestRip: number;
  guestLinearAddress: number;
  guestPhysicalAddress: number;
  interruptionInfo: number;
  interruptionErrorCode: number;
  idtVectoringInfo: number;
}

/** Result of a VMX instruction or API call: VMsucceed, VMfailInvalid, or VMfailValid(error). */
export type VmxResult = { ok: true } | { ok: false; invalid: true } | { ok: false; invalid: false; error: number };

/** Exit details gathered before the exit is performed. */
export interface PendingExit {
  reason: number;
  qualification: number;
  instructionLength?: number;
  instructionInfo?: number;
  guestLinear?: number;
  guestPhysical?: number;
  intrInfo?: number;
  intrErrorCode?: number;
  /** GUEST_RIP to save (default: cpu.eip at the time of the exit). */
  rip?: number;
}

const INVALID_POINTER = -1;

/** VMsucceed: one shared value (entries and exits are frequent; a result is never modified). */
const SUCCEED: VmxResult = Object.freeze({ ok: true });

const HOST_CODE_AR = 0xc09b; // execute/read, accessed, 32-bit, 4 KiB granularity
const HOST_DATA_AR = 0xc093; // read/write, accessed, 32-bit, 4 KiB granularity

/** A segment register, the word of its host selector field, and the access rights a VM exit gives it. */
const HOST_SEGMENT_WORDS: readonly { seg: number; selector: number; ar: number }[] = [
  { seg: CS, selector: W_HOST_CS_SELECTOR, ar: HOST_CODE_AR },
  { seg: SS, selector: W_HOST_SS_SELECTOR, ar: HOST_DATA_AR },
  { seg: DS, selector: W_HOST_DS_SELECTOR, ar: HOST_DATA_AR },
  { seg: ES, selector: W_HOST_ES_SELECTOR, ar: HOST_DATA_AR },
  { seg: FS, selector: W_HOST_FS_SELECTOR, ar: HOST_DATA_AR },
  { seg: GS, selector: W_HOST_GS_SELECTOR, ar: HOST_DATA_AR },
];

/** The exit reasons of intercepted instructions whose exit the VM-execution controls decide (interceptByControls). */
const DECIDED_BY_CONTROLS = new Uint8Array(128); // (basic exit reasons defined so far are below 80)
for (const r of [
  EXIT_REASON.HLT,
  EXIT_REASON.INVLPG,
  EXIT_REASON.RDTSC,
  EXIT_REASON.PAUSE_INSTRUCTION,
  EXIT_REASON.CR_ACCESS,
  EXIT_REASON.IO_INSTRUCTION,
  EXIT_REASON.MSR_READ,
  EXIT_REASON.MSR_WRITE,
]) {
  DECIDED_BY_CONTROLS[r] = 1;
}

/** TSC cycles per tick of the VMX-preemption timer. */
const PREEMPTION_TIMER_UNIT = 2 ** PREEMPTION_TIMER_RATE;

export class Vmx implements VmxHooks {
  readonly cpu: Cpu;
  /** In VMX operation (after VMXON). */
  inVmxOperation = false;
  vmxonPointer = INVALID_POINTER;
  /** Physical address of the current VMCS, or -1 (invalid). */
  currentVmcs = INVALID_POINTER;
  nonRoot = false;
  /** The current guest was entered through the TypeScript API: exits stop Cpu.run(). */
  exitToCaller = false;
  tscOffset = 0;
  readonly ept: Ept;
  /** VPID -> TLB address-space id. */
  private readonly asids = new Map<number, number>();
  private nextAsid = 1;
  private lastVpid = -1;
  private lastAsid = 0;
  /** Controls cached at VM entry (they cannot change in non-root operation). */
  pin = 0;
  proc = 0;
  proc2 = 0;
  exitControls = 0;
  private cr0Mask = 0;
  private cr4Mask = 0;
  private cr0Shadow = 0;
  private cr4Shadow = 0;
  /** Event being delivered to the guest (for IDT-vectoring information), or 0. */
  private vectoringInfo = 0;
  private vectoringError = 0;
  /** The host bank the last VM exit put into the CPU's root bank, and cpu.bankWrites right after. */
  private rootLoadedFrom: Uint32Array | null = null;
  private rootStamp = 0;
  /** No write reached the root bank since then (brought up to date at each VM entry). */
  private rootUntouched = false;
  /** An exit signalled from inside an instruction, performed by completeExit(). */
  pendingExit: PendingExit | null = null;
  /** Every VM exit, for traces: set by the embedder (null costs nothing). */
  onExit: ((info: VmExitInfo) => void) | null = null;
  /**
   * KVM's exit fastpath (vmx_exit_handlers_fastpath, EXIT_FASTPATH_REENTER_GUEST), for a hypervisor
   * driving VMX through this object: Cpu.run() calls it at each VM exit it would return, after the
   * exiting instruction completed, in VMX root operation with the exit information in the VMCS. True:
   * the hypervisor handled the exit and left the CPU ready to go on (it entered the guest again, or set
   * up host code to run), so run() continues without returning. False: run() returns the exit.
   */
  fastpath: (() => boolean) | null = null;
  exitCount = 0;
  /** VM exits by basic reason, since the machine was created. */
  readonly exitCounts = new ExitCounter();

  constructor(cpu: Cpu) {
    this.cpu = cpu;
    this.ept = new Ept(this);
    for (const [index, [low, high]] of capabilityMsrs()) {
      cpu.msrs.set(index, { read: () => [low, high], write: () => false });
    }
    cpu.vmxSupported = true;
    cpu.vmx = this;
  }

  // ======================= the current VMCS =======================

  private access: VmcsAccess | null = null;

  get vmcs(): VmcsAccess {
    const access = this.access;
    return access !== null && access.base === this.currentVmcs ? access : this.accessCurrent();
  }

  /** The access object of a newly current VMCS (apart from the getter, which every exit and entry calls). */
  private accessCurrent(): VmcsAccess {
    if (this.currentVmcs === INVALID_POINTER) throw new Error("no current VMCS");
    this.access = new VmcsAccess(this.cpu.mem, this.currentVmcs);
    return this.access;
  }

  read(encoding: number): number {
    return this.vmcs.read(encoding);
  }

  /** Whether any bit of `mask` is set in a field of the current VMCS (no number crosses the call: see VmcsAccess.test). */
  test(encoding: number, mask: number): boolean {
    return this.vmcs.test(encoding, mask);
  }

  write(encoding: number, value: number): void {
    this.vmcs.write(encoding, value);
  }

  // ======================= VMX operation: the API the instructions also use =======================

  private succeed(): VmxResult {
    return SUCCEED;
  }

  private failInvalid(): VmxResult {
    return { ok: false, invalid: true };
  }

  private failValid(error: number): VmxResult {
    if (this.currentVmcs === INVALID_POINTER) return this.failInvalid();
    this.vmcs.write(VMCS.VM_INSTRUCTION_ERROR, error);
    return { ok: false, invalid: false, error };
  }

  /** CR0/CR4 satisfy the VMX fixed bits (IA32_VMX_CR0_FIXED0/1, CR4_FIXED0/1). */
  fixedBitsOk(cr0: number, cr4: number): boolean {
    return (
      (cr0 & CR0_FIXED0) >>> 0 === CR0_FIXED0 >>> 0 &&
      (cr0 & ~CR0_FIXED1) === 0 &&
      (cr4 & CR4_FIXED0) === CR4_FIXED0 &&
      (cr4 & ~CR4_FIXED1) === 0
    );
  }

  private validRegion(address: number, high: number): boolean {
    return high === 0 && (address & 0xfff) === 0 && address + 0x1000 <= this.cpu.memSize;
  }

  /** VMXON (after the #UD/#GP checks the instruction makes). */
  vmxon(address: number, high = 0): VmxResult {
    if (this.inVmxOperation) return this.failValid(VMXERR.VMXON_IN_VMX_ROOT_OPERATION);
    // Bits 30:0 must hold the revision identifier and bit 31 must be 0 (Intel SDM Vol. 3C, VMXON).
    if (!this.validRegion(address, high) || this.cpu.mem.read32(address) >>> 0 !== VMCS_REVISION_ID) {
      return this.failInvalid();
    }
    this.inVmxOperation = true;
    this.vmxonPointer = address;
    this.currentVmcs = INVALID_POINTER;
    return this.succeed();
  }

  vmxoff(): VmxResult {
    this.inVmxOperation = false;
    this.vmxonPointer = INVALID_POINTER;
    this.currentVmcs = INVALID_POINTER;
    return this.succeed();
  }

  vmclear(address: number, high = 0): VmxResult {
    if (!this.validRegion(address, high)) return this.failValid(VMXERR.VMCLEAR_INVALID_ADDRESS);
    if (address === this.vmxonPointer) return this.failValid(VMXERR.VMCLEAR_VMXON_POINTER);
    new VmcsAccess(this.cpu.mem, address).launched = false;
    if (address === this.currentVmcs) this.currentVmcs = INVALID_POINTER;
    return this.succeed();
  }

  vmptrld(address: number, high = 0): VmxResult {
    if (!this.validRegion(address, high)) return this.failValid(VMXERR.VMPTRLD_INVALID_ADDRESS);
    if (address === this.vmxonPointer) return this.failValid(VMXERR.VMPTRLD_VMXON_POINTER);
    // Bit 31 (shadow-VMCS indicator) set is also an incorrect revision: no VMCS shadowing here.
    if (this.cpu.mem.read32(address) >>> 0 !== VMCS_REVISION_ID) {
      return this.failValid(VMXERR.VMPTRLD_INCORRECT_VMCS_REVISION_ID);
    }
    this.currentVmcs = address;
    return this.succeed();
  }

  /** VMREAD: the value, or a failure. */
  vmread(encoding: number): { result: VmxResult; value: number } {
    if (this.currentVmcs === INVALID_POINTER) return { result: this.failInvalid(), value: 0 };
    try {
      return { result: this.succeed(), value: this.vmcs.read(encoding) };
    } catch {
      return { result: this.failValid(VMXERR.UNSUPPORTED_VMCS_COMPONENT), value: 0 };
    }
  }

  vmwrite(encoding: number, value: number): VmxResult {
    if (this.currentVmcs === INVALID_POINTER) return this.failInvalid();
    const type = (encoding >>> 10) & 3;
    try {
      this.vmcs.read(encoding);
    } catch {
      return this.failValid(VMXERR.UNSUPPORTED_VMCS_COMPONENT);
    }
    if (type === 1) return this.failValid(VMXERR.VMWRITE_READ_ONLY_VMCS_COMPONENT);
    this.vmcs.write(encoding, value);
    // Outside IA-32e mode the operand is 32 bits: a full-access write to a 64-bit field clears
    // bits 63:32 ("if the field is longer than the operand, its high bits are cleared").
    if ((encoding & 1) === 0 && (encoding >>> 13) % 4 === 1) this.vmcs.write(encoding | 1, 0);
    return this.succeed();
  }

  // ======================= VM entry =======================

  /** VMLAUNCH / VMRESUME from the TypeScript API: on success the next Cpu.run() runs the guest. */
  launch(): VmxResult {
    return this.vmentry(true, true);
  }

  resume(): VmxResult {
    return this.vmentry(false, true);
  }

  /**
   * VM entry (Intel SDM Vol. 3C, chapter 27): launch-state checks, control checks (VMfailValid 7),
   * host-state checks (VMfailValid 8), guest-state checks (an exit with reason 33 | bit 31), guest
   * state loading, MSR loading, event injection.
   */
  vmentry(launch: boolean, fromApi: boolean): VmxResult {
    const cpu = this.cpu;
    if (this.currentVmcs === INVALID_POINTER) return this.failInvalid();
    const v = this.vmcs;
    if (cpu.interruptShadow && cpu.movSsShadow) return this.failValid(VMXERR.ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
    if (launch && v.launched) return this.failValid(VMXERR.VMLAUNCH_NONCLEAR_VMCS);
    if (!launch && !v.launched) return this.failValid(VMXERR.VMRESUME_NONLAUNCHED_VMCS);
    const checked = v.verified;
    if (!checked && checkControls(this, v) !== null) return this.failValid(VMXERR.ENTRY_INVALID_CONTROL_FIELD);
    if (!checked && checkHostState(this, v) !== null) return this.failValid(VMXERR.ENTRY_INVALID_HOST_STATE_FIELD);
    cpu.cycles += cpu.cost.vmx.vmEntry;
    this.exitToCaller = fromApi;
    if (!checked && checkGuestState(this, v) !== null) {
      this.entryFailure(EXIT_REASON.INVALID_STATE, 0);
      return this.succeed();
    }
    v.verified = true;
    // The controls cached at the previous entry still hold when it was this VMCS and nothing the entry
    // checks look at (every control field is such) was written since.
    if (!checked || this.controlsFrom !== v) this.loadControls(v);
    // Guest state is loaded first, then the VM-entry MSR-load list (SDM Vol. 3C, 27.3.2 and 27.4): an MSR in
    // the list overrides the guest-state field (IA32_SYSENTER_*).
    this.loadGuestState(v);
    const msrFailure =
      v.words[W_VM_ENTRY_MSR_LOAD_COUNT] === 0
        ? 0
        : this.loadMsrList(v, W_VM_ENTRY_MSR_LOAD_ADDR, W_VM_ENTRY_MSR_LOAD_COUNT);
    if (msrFailure !== 0) {
      this.entryFailure(EXIT_REASON.MSR_LOAD_FAIL, msrFailure);
      return this.succeed();
    }
    v.launched = true;
    // (Most entries inject nothing: the delivery is called for only when there is an event.)
    const injected = v.words[W_VM_ENTRY_INTR_INFO_FIELD]!;
    if (injected & INTR_INFO_VALID_MASK) this.injectEvent(v, injected);
    // Delivering the injected event can exit (EPT violation, triple fault) before any instruction.
    this.deferApiStop();
    return this.succeed();
  }

  /** A VM entry that fails after the guest-state checks: host state is loaded, reason has bit 31. */
  private entryFailure(reason: number, qualification: number): void {
    this.performExit(
      {
        reason: (reason | VMX_EXIT_REASONS_FAILED_VMENTRY) >>> 0,
        qualification,
        rip: this.vmcs.read(VMCS.GUEST_RIP),
      },
      false,
    );
    this.deferApiStop();
  }

  /**
   * An exit performed inside VM entry itself. Entered from the TypeScript API, launch()/resume() run
   * outside Cpu.run(), which clears stopRequest when it starts; hand the exit over at the first
   * instruction boundary instead.
   */
  private deferApiStop(): void {
    if (this.exitToCaller && this.cpu.stopRequest) {
      this.deferredStop = this.cpu.stopRequest;
      this.cpu.stopRequest = null;
      this.cpu.vmxPollEvents = true;
    }
  }

  /** The stop request of every VM exit to the caller (see exitWith). */
  private readonly exitStop: { kind: "vmexit"; reason: number; qualification: number } = {
    kind: "vmexit",
    reason: 0,
    qualification: 0,
  };

  /** A VM-entry failure of an API entry, reported by the next Cpu.run(). */
  private deferredStop: StopReason | null = null;

  /**
   * Caches the VM-execution and VM-exit controls an entry uses until the exit (they cannot change in
   * non-root operation), and what follows from them: the TSC offset, the guest's TLB tag (VPID) and
   * the EPT root.
   */
  private loadControls(v: VmcsAccess): void {
    const w = v.words;
    this.controlsFrom = v;
    this.pin = w[W_PIN_BASED_VM_EXEC_CONTROL]!;
    this.proc = w[W_CPU_BASED_VM_EXEC_CONTROL]!;
    this.proc2 = this.proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? w[W_SECONDARY_VM_EXEC_CONTROL]! : 0;
    this.exitControls = w[W_VM_EXIT_CONTROLS]!;
    this.cr0Mask = w[W_CR0_GUEST_HOST_MASK]!;
    this.cr4Mask = w[W_CR4_GUEST_HOST_MASK]!;
    this.cr0Shadow = w[W_CR0_READ_SHADOW]!;
    this.cr4Shadow = w[W_CR4_READ_SHADOW]!;
    // From the two halves: read64() as one double loses the low bits of a negative offset.
    this.guestTscOffset =
      this.proc & CPU_BASED_USE_TSC_OFFSETTING ? (w[W_TSC_OFFSET + 1]! | 0) * 0x1_0000_0000 + w[W_TSC_OFFSET]! : 0;
    // Address space: a VPID tags the guest's TLB entries; without one the guest shares VPID 0 with
    // the host and every entry and exit flushes it (Intel SDM Vol. 3C, 29.1).
    this.guestAsid = this.proc2 & SECONDARY_EXEC_ENABLE_VPID ? this.asidFor(w[W_VIRTUAL_PROCESSOR_ID]! & 0xffff) : 0;
    // The EPT PML4 address is in the pointer's low word (physical memory is below 4 GiB).
    this.guestEpt = this.proc2 & SECONDARY_EXEC_ENABLE_EPT ? this.ept.load(w[W_EPT_POINTER]!) : null;
    // Conditions that must be examined at every instruction boundary while the guest runs.
    this.pollWhileGuest =
      (this.proc & CPU_BASED_INTR_WINDOW_EXITING) !== 0 ||
      (this.pin & (PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING)) !== 0;
  }

  /** The VMCS whose controls loadControls() cached (null: none, or they must be loaded again). */
  private controlsFrom: VmcsAccess | null = null;
  private guestTscOffset = 0;
  private guestAsid = 0;
  private guestEpt: Ept | null = null;
  private pollWhileGuest = false;

  /**
   * Loads the guest-state area into the processor (Intel SDM Vol. 3C, 27.3.2). Entries and exits
   * move every field each time, so they index the region's words directly (VMCS_WORD): the same
   * values VMREAD returns, without its per-field lookups. 16-bit fields keep their mask.
   */
  private loadGuestState(v: VmcsAccess): void {
    const cpu = this.cpu;
    const w = v.words;
    cpu.cr0 = w[W_GUEST_CR0]! | CR0_ET; // ET is hard-wired to 1 (never modified by VM entry)
    this.tscOffset = this.guestTscOffset;
    cpu.cr3 = w[W_GUEST_CR3]! | 0;
    cpu.cr4 = w[W_GUEST_CR4]! | 0;
    // Segment registers, LDTR, TR, GDTR, IDTR, SYSENTER: the CPU works on the VMCS's guest bank itself
    // until the exit (selectors are 16-bit fields, masked by VMWRITE): nothing to copy in or out.
    this.rootUntouched &&= cpu.bankWrites === this.rootStamp;
    cpu.useBank(v.guestBank);
    cpu.regs[ESP] = w[W_GUEST_RSP]!;
    cpu.eip = w[W_GUEST_RIP]! | 0;
    cpu.setEflags(w[W_GUEST_RFLAGS]! | EFLAGS_FIXED1);
    cpu.setCpl((cpu.segAr[SS]! >>> 5) & 3);
    const intr = w[W_GUEST_INTERRUPTIBILITY_INFO]!;
    cpu.interruptShadow = (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) !== 0;
    cpu.movSsShadow = (intr & GUEST_INTR_STATE_MOV_SS) !== 0;
    cpu.shadowSetAt = cpu.instret - 1;
    cpu.halted = w[W_GUEST_ACTIVITY_STATE]! === GUEST_ACTIVITY_HLT;

    this.nonRoot = true;
    cpu.setAsid(this.guestAsid);
    if (!(this.proc2 & SECONDARY_EXEC_ENABLE_VPID)) cpu.tlb.flushAsid(0, false);
    cpu.walker.ept = this.guestEpt;
    // (setCpl above recomputed the access masks if the CPL changed: nothing else they depend on did.)
    if (this.pin & PIN_BASED_VMX_PREEMPTION_TIMER) this.armPreemptionTimer(w[W_VMX_PREEMPTION_TIMER_VALUE]!);
    else cpu.timerDeadline = Number.POSITIVE_INFINITY;
    cpu.vmxPollEvents = this.pollWhileGuest;
  }

  /**
   * The VMX-preemption timer counts down every 2^rate TSC cycles from `value` (SDM Vol. 3C, 25.5.1);
   * 0 exits before any instruction.
   */
  private armPreemptionTimer(value: number): void {
    const cpu = this.cpu;
    const unit = PREEMPTION_TIMER_UNIT;
    cpu.armTimerDeadline(value === 0 ? cpu.cycles : (Math.floor(cpu.cycles / unit) + value) * unit);
  }

  /** Event injection from VM_ENTRY_INTR_INFO_FIELD (Intel SDM Vol. 3C, 27.6). */
  private injectEvent(v: VmcsAccess, info: number): void {
    const cpu = this.cpu;
    const vector = info & 0xff;
    const type = (info >>> 8) & 7;
    const error = info & INTR_INFO_DELIVER_CODE_MASK ? v.read(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE) : NO_ERROR_CODE;
    cpu.halted = false;
    let kind: EventKind;
    if (type === INTR_TYPE_EXT_INTR) kind = "external";
    else if (type === INTR_TYPE_NMI_INTR) kind = "nmi";
    else if (
      type === INTR_TYPE_SOFT_INTR ||
      type === INTR_TYPE_SOFT_EXCEPTION ||
      type === INTR_TYPE_PRIV_SW_EXCEPTION
    ) {
      // Software events return past the instruction: the length comes from the VMCS.
      cpu.eip = (cpu.eip + v.read(VMCS.VM_ENTRY_INSTRUCTION_LEN)) | 0;
      kind = type === INTR_TYPE_SOFT_INTR ? "software" : "software-exception";
    } else kind = "exception";
    this.injecting = true;
    if (type === INTR_TYPE_HARD_EXCEPTION && vector === PAGE_FAULT) cpu.faultLinear = cpu.cr2;
    try {
      cpu.deliver(vector, error, kind);
    } catch (signal) {
      // A fault while delivering an injected software interrupt or exception is a fault of the
      // "instruction" at GUEST_RIP, as for INT n (Intel SDM Vol. 3C, 27.6.1.1): deliver it from there.
      if (signal !== FAULT) throw signal;
      this.injecting = false;
      cpu.eip = v.read(VMCS.GUEST_RIP) | 0;
      cpu.deliver(cpu.pendingVector, cpu.pendingErrorCode, "exception");
    }
    this.injecting = false;
  }

  /** An injected event is delivered without consulting the exception bitmap. */
  private injecting = false;

  private asidFor(vpid: number): number {
    // The VPID of the previous entry (a hypervisor re-entering the same vCPU): no map lookup.
    if (vpid === this.lastVpid) return this.lastAsid;
    let asid = this.asids.get(vpid);
    if (asid === undefined) {
      if (this.nextAsid > MAX_ASID) {
        // Out of tags: recycle them all (a full flush is always architecturally allowed).
        this.asids.clear();
        this.lastVpid = -1;
        this.cpu.tlb.flushAll();
        this.nextAsid = 1;
      }
      asid = this.nextAsid++;
      this.asids.set(vpid, asid);
    }
    this.lastVpid = vpid;
    this.lastAsid = asid;
    return asid;
  }

  /** TLB tag of a VPID, if it has one (INVVPID). */
  asidOf(vpid: number): number | undefined {
    return this.asids.get(vpid);
  }

  /** All guest TLB tags (INVEPT: combined mappings of every VPID). */
  guestAsids(): number[] {
    return [...this.asids.values()];
  }

  /**
   * VM_ENTRY/EXIT MSR lists: 16-byte entries (index, reserved, value), the list's address and count
   * given by their VMCS words. Returns 0 or the failing entry (1-based).
   */
  private loadMsrList(v: VmcsAccess, addrWord: number, countWord: number): number {
    const count = v.words[countWord]!;
    const base = v.words[addrWord]!;
    for (let k = 0; k < count; k++) {
      const e = base + 16 * k;
      const index = this.cpu.mem.read32(e) >>> 0;
      // Bits 63:32 of an entry are reserved (SDM Vol. 3C, 27.4): a set bit fails the load like a refused WRMSR.
      if (this.cpu.mem.read32(e + 4) !== 0) return k + 1;
      const ok = this.cpu.writeMsr(index, this.cpu.mem.read32(e + 8), this.cpu.mem.read32(e + 12));
      if (!ok) return k + 1;
    }
    return 0;
  }

  private storeMsrList(v: VmcsAccess): void {
    const count = v.words[W_VM_EXIT_MSR_STORE_COUNT]!;
    const base = v.words[W_VM_EXIT_MSR_STORE_ADDR]!;
    for (let k = 0; k < count; k++) {
      const e = base + 16 * k;
      const value = this.cpu.readMsr(this.cpu.mem.read32(e));
      if (value) {
        this.cpu.mem.write32(e + 8, value[0]);
        this.cpu.mem.write32(e + 12, value[1]);
      }
    }
  }

  // ======================= VM exit =======================

  /** Performs a VM exit now (from an instruction handler, whose EIP already points past it). */
  exitFromInstruction(reason: number, insn: Insn, qualification = 0, instructionInfo?: number): true {
    const len = insn.len;
    this.exitWith(reason, qualification, len, instructionInfo ?? 0, 0, 0, 0, 0, (this.cpu.eip - len) | 0, true);
    return true;
  }

  /** Signals an exit from deep inside an instruction (EPT); the run loop calls completeExit(). */
  signalExit(exit: PendingExit): never {
    this.pendingExit = exit;
    throw VMEXIT;
  }

  /**
   * For embedders: takes the CPU back from a guest at the current instruction boundary, as a
   * preemption timer of 0 would (the guest state is saved; the exit reason is 52).
   */
  forceExit(): void {
    if (!this.nonRoot) return;
    this.performExit({ reason: EXIT_REASON.PREEMPTION_TIMER, qualification: 0 }, true);
  }

  completeExit(): void {
    const exit = this.pendingExit;
    if (!exit) return;
    this.pendingExit = null;
    // An exit while delivering INT n / INT3 / INTO is reported on the instruction itself, with its
    // length (Intel SDM Vol. 3C, 28.2.4: IDT-vectoring information of a software event).
    const type = (this.vectoringInfo >>> 8) & 7;
    if (this.vectoringInfo & INTR_INFO_VALID_MASK && (type === 4 || type === 5 || type === 6)) {
      const len = this.cpu.softwareInstructionLength;
      exit.rip = (this.cpu.eip - len) | 0;
      exit.instructionLength = len;
      // The INT does not retire: the run loop counts it when its handler returns, so take it back here.
      this.cpu.instret--;
    }
    this.performExit(exit, true);
  }

  /**
   * VM exit (Intel SDM Vol. 3C, chapter 28): record the exit information, save guest state, load
   * host state, then continue at HOST_RIP (assembly hypervisor) or stop Cpu.run() (TypeScript).
   */
  performExit(exit: PendingExit, saveGuest: boolean): void {
    this.exitWith(
      exit.reason,
      exit.qualification,
      exit.instructionLength ?? 0,
      exit.instructionInfo ?? 0,
      exit.guestLinear ?? 0,
      exit.guestPhysical ?? 0,
      exit.intrInfo ?? 0,
      exit.intrErrorCode ?? 0,
      exit.rip ?? this.cpu.eip,
      saveGuest,
    );
  }

  /** performExit with the exit information as arguments (the instruction exits call it directly). */
  private exitWith(
    reason: number,
    qualification: number,
    instructionLength: number,
    instructionInfo: number,
    guestLinear: number,
    guestPhysical: number,
    intrInfo: number,
    intrErrorCode: number,
    rip: number,
    saveGuest: boolean,
  ): void {
    const cpu = this.cpu;
    const v = this.vmcs;
    // The state a VM exit saves is consistent by construction: it keeps an earlier check valid.
    const verified = v.verified;
    // The exit-information fields (SDM Vol. 3C, 28.2), written straight into the region's words.
    const w = v.words;
    w[W_VM_EXIT_REASON] = reason;
    w[W_EXIT_QUALIFICATION] = qualification;
    w[W_VM_EXIT_INSTRUCTION_LEN] = instructionLength;
    w[W_VMX_INSTRUCTION_INFO] = instructionInfo;
    w[W_GUEST_LINEAR_ADDRESS] = guestLinear;
    w[W_GUEST_PHYSICAL_ADDRESS] = guestPhysical;
    w[W_GUEST_PHYSICAL_ADDRESS + 1] = 0;
    w[W_VM_EXIT_INTR_INFO] = intrInfo;
    w[W_VM_EXIT_INTR_ERROR_CODE] = intrErrorCode;
    w[W_IDT_VECTORING_INFO_FIELD] = this.vectoringInfo;
    w[W_IDT_VECTORING_ERROR_CODE] = this.vectoringError;
    this.vectoringInfo = 0;
    this.vectoringError = 0;
    // Every VM exit clears the valid bit of the VM-entry interruption-information field.
    w[W_VM_ENTRY_INTR_INFO_FIELD] = w[W_VM_ENTRY_INTR_INFO_FIELD]! & ~INTR_INFO_VALID_MASK;

    // A VM-entry failure saves no guest state and does not use the VM-exit MSR-store area (SDM Vol. 3C, 27.8).
    // (The MSR lists are called for only when they have entries, the rare cases apart: every exit passes
    // here, and V8 inlines a small path whole.)
    if (saveGuest) {
      this.saveGuestState(v, rip);
      if (w[W_VM_EXIT_MSR_STORE_COUNT] !== 0) this.storeMsrList(v);
    }
    this.loadHostState(v);
    v.verified = verified;
    if (w[W_VM_EXIT_MSR_LOAD_COUNT] !== 0) this.loadMsrList(v, W_VM_EXIT_MSR_LOAD_ADDR, W_VM_EXIT_MSR_LOAD_COUNT);
    cpu.cycles += cpu.cost.vmx.vmExit;
    this.exitCount++;
    const basic = reason & 0xffff;
    this.exitCounts.add(basic);
    if (basic === EXIT_REASON.EXTERNAL_INTERRUPT) this.acknowledgeOnExit(w);
    if (this.onExit) this.onExit(this.exitInfo());
    if (this.exitToCaller) {
      // One request object serves every exit (Cpu.run() returns a copy): an exit the fastpath handles
      // allocates nothing.
      const stop = this.exitStop;
      stop.reason = reason;
      stop.qualification = qualification;
      cpu.stopRequest = stop;
    }
  }

  /** "Acknowledge interrupt on exit": the vector goes into the exit's interruption information. */
  private acknowledgeOnExit(w: Uint32Array): void {
    const pic = this.cpu.pic;
    if (this.exitControls & VM_EXIT_ACK_INTR_ON_EXIT && pic) {
      w[W_VM_EXIT_INTR_INFO] = (pic.acknowledge() & 0xff) | INTR_INFO_VALID_MASK;
    }
  }

  /**
   * The exit information of the current VMCS, as a new value, or written into `into` (a caller that
   * does not keep it reuses one object for every exit).
   */
  exitInfo(into?: VmExitInfo): VmExitInfo {
    const w = this.vmcs.words;
    const info = into ?? ({} as VmExitInfo);
    const reason = w[W_VM_EXIT_REASON]!;
    info.reason = reason;
    info.name = exitReasonName(reason);
    info.qualification = w[W_EXIT_QUALIFICATION]!;
    info.instructionLength = w[W_VM_EXIT_INSTRUCTION_LEN]!;
    info.guestRip = w[W_GUEST_RIP]!;
    info.guestLinearAddress = w[W_GUEST_LINEAR_ADDRESS]!;
    info.guestPhysicalAddress = w[W_GUEST_PHYSICAL_ADDRESS]!;
    info.interruptionInfo = w[W_VM_EXIT_INTR_INFO]!;
    info.interruptionErrorCode = w[W_VM_EXIT_INTR_ERROR_CODE]!;
    info.idtVectoringInfo = w[W_IDT_VECTORING_INFO_FIELD]!;
    return info;
  }

  /** Saves the processor's state into the guest-state area (Intel SDM Vol. 3C, 28.3). */
  private saveGuestState(v: VmcsAccess, rip: number): void {
    const cpu = this.cpu;
    const w = v.words;
    w[W_GUEST_CR0] = cpu.cr0;
    w[W_GUEST_CR3] = cpu.cr3;
    w[W_GUEST_CR4] = cpu.cr4;
    // Segment registers, LDTR, TR, GDTR, IDTR, SYSENTER are in the guest bank already (loadGuestState),
    // unless someone made another VMCS current while the guest ran (then it gets them, as a copy would).
    if (cpu.sysWords !== v.guestBank.sysWords) v.guestBank.sysWords.set(cpu.sysWords);
    w[W_GUEST_RSP] = cpu.regs[ESP]!;
    w[W_GUEST_RIP] = rip;
    w[W_GUEST_RFLAGS] = cpu.getEflags();
    let intr = 0;
    if (cpu.interruptShadow) intr |= cpu.movSsShadow ? GUEST_INTR_STATE_MOV_SS : GUEST_INTR_STATE_STI;
    w[W_GUEST_INTERRUPTIBILITY_INFO] = intr;
    w[W_GUEST_ACTIVITY_STATE] = cpu.halted ? GUEST_ACTIVITY_HLT : GUEST_ACTIVITY_ACTIVE;
    if (this.exitControls & VM_EXIT_SAVE_VMX_PREEMPTION_TIMER && this.pin & PIN_BASED_VMX_PREEMPTION_TIMER) {
      this.savePreemptionTimer(w);
    }
  }

  /** "Save VMX-preemption timer value": the ticks left until it would have fired. */
  private savePreemptionTimer(w: Uint32Array): void {
    const cpu = this.cpu;
    const unit = PREEMPTION_TIMER_UNIT;
    w[W_VMX_PREEMPTION_TIMER_VALUE] = Math.max(0, Math.floor(cpu.timerDeadline / unit) - Math.floor(cpu.cycles / unit));
  }

  private loadHostState(v: VmcsAccess): void {
    const cpu = this.cpu;
    const vpidOn = (this.proc2 & SECONDARY_EXEC_ENABLE_VPID) !== 0;
    this.nonRoot = false;
    cpu.walker.ept = null;
    cpu.timerDeadline = Number.POSITIVE_INFINITY;
    cpu.vmxPollEvents = false;
    this.tscOffset = 0;
    const w = v.words;
    cpu.cr0 = w[W_HOST_CR0]! | CR0_ET;
    cpu.cr3 = w[W_HOST_CR3]! | 0;
    cpu.cr4 = w[W_HOST_CR4]! | 0;
    // Back to the CPU's own bank; segment registers, TR, LDTR, GDTR, IDTR, SYSENTER in one copy. LDTR base
    // and limit stay as they are (the SDM only makes LDTR unusable): carried over from the bank left.
    const left = cpu.sysWords;
    cpu.useBank(cpu.rootBank);
    const root = cpu.sysWords;
    root[SB.LDTR_BASE] = left[SB.LDTR_BASE]!;
    root[SB.LDTR_LIMIT] = left[SB.LDTR_LIMIT]!;
    // The copy is skipped when the root bank still holds what the previous exit loaded from these same
    // host fields: no root code wrote it since (a TypeScript hypervisor runs none).
    const host = v.hostBank ?? this.buildHostBank(v);
    const untouched = this.rootUntouched && (left !== root || cpu.bankWrites === this.rootStamp);
    if (!untouched || this.rootLoadedFrom !== host) root.set(host);
    this.rootLoadedFrom = host;
    this.rootUntouched = true;
    this.rootStamp = cpu.bankWrites;
    cpu.regs[ESP] = w[W_HOST_RSP]!;
    cpu.eip = w[W_HOST_RIP]! | 0;
    cpu.setEflags(EFLAGS_FIXED1);
    cpu.halted = false;
    cpu.interruptShadow = false;
    cpu.movSsShadow = false;
    cpu.setAsid(0);
    if (!vpidOn) cpu.tlb.flushAsid(0, false);
    cpu.setCpl(0); // recomputes the access masks if the CPL changes
  }

  /**
   * The system bank a VM exit loads (Intel SDM Vol. 3C, 28.5.2: flat segments with fixed access
   * rights, TR limit 0x67, GDTR/IDTR limits 0xFFFF, LDTR unusable), from the host-state fields. Kept
   * on the VMCS access until a host-state field is written.
   */
  private buildHostBank(v: VmcsAccess): Uint32Array {
    const w = v.words;
    const bank = new Uint32Array(SB.SYS_HOST_WORDS);
    for (const s of HOST_SEGMENT_WORDS) {
      const selector = w[s.selector]! & 0xffff;
      bank[SB.SEG_SEL + s.seg] = selector;
      bank[SB.SEG_BASE + s.seg] = 0;
      bank[SB.SEG_LIMIT + s.seg] = 0xffffffff;
      // A null selector leaves the register unusable (except CS, which is never null here).
      bank[SB.SEG_AR + s.seg] = s.seg !== CS && (selector & 0xfffc) === 0 ? 0x10000 : s.ar;
    }
    bank[SB.SEG_BASE + FS] = w[W_HOST_FS_BASE]!;
    bank[SB.SEG_BASE + GS] = w[W_HOST_GS_BASE]!;
    bank[SB.TR_SEL] = w[W_HOST_TR_SELECTOR]! & 0xffff;
    bank[SB.TR_BASE] = w[W_HOST_TR_BASE]!;
    bank[SB.TR_LIMIT] = 0x67;
    bank[SB.TR_AR] = 0x8b;
    bank[SB.LDTR_SEL] = 0;
    bank[SB.LDTR_AR] = 0x10000;
    bank[SB.GDTR_BASE] = w[W_HOST_GDTR_BASE]!;
    bank[SB.GDTR_LIMIT] = 0xffff;
    bank[SB.IDTR_BASE] = w[W_HOST_IDTR_BASE]!;
    bank[SB.IDTR_LIMIT] = 0xffff;
    bank[SB.SYSENTER_CS] = w[W_HOST_IA32_SYSENTER_CS]!;
    bank[SB.SYSENTER_ESP] = w[W_HOST_IA32_SYSENTER_ESP]!;
    bank[SB.SYSENTER_EIP] = w[W_HOST_IA32_SYSENTER_EIP]!;
    v.hostBank = bank;
    return bank;
  }

  // ======================= non-root operation: what exits =======================

  /** Per-instruction-boundary checks in non-root operation (run loop). Returns true after an exit. */
  pollEvents(): boolean {
    const cpu = this.cpu;
    if (this.deferredStop) {
      cpu.stopRequest = this.deferredStop;
      this.deferredStop = null;
      cpu.vmxPollEvents = false;
      return true;
    }
    if (!this.nonRoot) return false;
    if (cpu.cycles >= cpu.timerDeadline) {
      this.performExit({ reason: EXIT_REASON.PREEMPTION_TIMER, qualification: 0 }, true);
      return true;
    }
    if (this.pin & PIN_BASED_NMI_EXITING && cpu.nmiPending) {
      cpu.nmiPending = false;
      const info = 2 | (INTR_TYPE_NMI_INTR << 8) | INTR_INFO_VALID_MASK;
      this.performExit({ reason: EXIT_REASON.EXCEPTION_NMI, qualification: 0, intrInfo: info }, true);
      return true;
    }
    if (this.proc & CPU_BASED_INTR_WINDOW_EXITING && cpu.fl & IF && !cpu.interruptShadow) {
      this.performExit({ reason: EXIT_REASON.INTERRUPT_WINDOW, qualification: 0 }, true);
      return true;
    }
    if (this.pin & PIN_BASED_EXT_INTR_MASK && cpu.pic?.hasInterrupt() && !cpu.interruptShadow) {
      this.performExit({ reason: EXIT_REASON.EXTERNAL_INTERRUPT, qualification: 0 }, true);
      return true;
    }
    return false;
  }

  /**
   * What pollEvents() could act on at this boundary besides the preemption timer and an NMI: a stop
   * deferred from the API, an open interrupt window, an external interrupt that exits.
   */
  eventsPending(): boolean {
    const cpu = this.cpu;
    if (this.deferredStop !== null) return true;
    if (!this.nonRoot) return false;
    if (this.proc & CPU_BASED_INTR_WINDOW_EXITING && cpu.fl & IF) return true;
    return (this.pin & PIN_BASED_EXT_INTR_MASK) !== 0 && cpu.pic?.hasInterrupt() === true;
  }

  /** Whether external interrupts reach the guest's IDT (false: they exit instead). */
  get externalInterruptsExit(): boolean {
    return this.nonRoot && (this.pin & PIN_BASED_EXT_INTR_MASK) !== 0;
  }

  /**
   * Whether an instruction in non-root operation exits (then the exit has happened). True also
   * means "the instruction's effect is complete" when VMX changes it without an exit (CLTS with a
   * host-owned TS): the caller then does nothing more.
   */
  intercept(reason: number, insn: Insn, a: number, b: number): boolean {
    // An instruction no control decides about (CPUID; SDM Vol. 3C, 26.1.2) exits unconditionally, without
    // the switch: CPUID is the most frequent exit, and V8 inlines this path whole into the instruction.
    if (DECIDED_BY_CONTROLS[reason] !== 1) return this.exitFromInstruction(reason, insn);
    return this.interceptByControls(reason, insn, a, b);
  }

  /** intercept() for the reasons in DECIDED_BY_CONTROLS: the VM-execution controls decide. */
  private interceptByControls(reason: number, insn: Insn, a: number, b: number): boolean {
    switch (reason) {
      case EXIT_REASON.HLT:
        return this.proc & CPU_BASED_HLT_EXITING ? this.exitFromInstruction(reason, insn) : false;
      case EXIT_REASON.INVLPG:
        return this.proc & CPU_BASED_INVLPG_EXITING ? this.exitFromInstruction(reason, insn, a >>> 0) : false;
      case EXIT_REASON.RDTSC:
        return this.proc & CPU_BASED_RDTSC_EXITING ? this.exitFromInstruction(reason, insn) : false;
      case EXIT_REASON.PAUSE_INSTRUCTION:
        return this.proc & CPU_BASED_PAUSE_EXITING ? this.exitFromInstruction(reason, insn) : false;
      case EXIT_REASON.CR_ACCESS:
        return this.interceptCr(insn, a, b);
      case EXIT_REASON.IO_INSTRUCTION:
        return this.interceptIo(insn, a, b);
      case EXIT_REASON.MSR_READ:
      case EXIT_REASON.MSR_WRITE:
        return this.interceptMsr(reason, insn, a >>> 0);
      default:
        throw new Error(`exit reason ${reason} is in DECIDED_BY_CONTROLS but has no case in interceptByControls`);
    }
  }

  /** CR accesses (exit 28): a = CR number, b = 0 MOV to CR, 1 MOV from CR, 2 CLTS. */
  private interceptCr(insn: Insn, cr: number, access: number): boolean {
    const qual = cr | (access << 4) | ((access < 2 ? insn.rm : 0) << 8);
    const exit = () => this.exitFromInstruction(EXIT_REASON.CR_ACCESS, insn, qual);
    if (access === 2) {
      // CLTS (SDM Vol. 3C, 26.3): exits when the host owns TS and the shadow has it set; when the host owns TS
      // and the shadow has it clear, CLTS completes without changing CR0.TS (handled: return true).
      if (!(this.cr0Mask & 8)) return false;
      return this.cr0Shadow & 8 ? exit() : true;
    }
    if (cr === 3) {
      if (access === 1) return this.proc & CPU_BASED_CR3_STORE_EXITING ? exit() : false;
      if (!(this.proc & CPU_BASED_CR3_LOAD_EXITING)) return false;
      const value = this.cpu.regs[insn.rm]! >>> 0;
      const v = this.vmcs;
      const count = Math.min(v.read(VMCS.CR3_TARGET_COUNT), 4);
      for (let k = 0; k < count; k++) if (v.read(VMCS.CR3_TARGET_VALUE0 + 2 * k) === value) return false;
      return exit();
    }
    if (access === 1) return false; // MOV from CR0/CR4 reads through the shadow, never exits
    const value = this.cpu.regs[insn.rm]!;
    const mask = cr === 0 ? this.cr0Mask : this.cr4Mask;
    const shadow = cr === 0 ? this.cr0Shadow : this.cr4Shadow;
    return (mask & (value ^ shadow)) !== 0 ? exit() : false;
  }

  /** I/O (exit 30): a = port, b = size | 8 (IN) | 0x40 (immediate operand). */
  private interceptIo(insn: Insn, port: number, b: number): boolean {
    const size = b & 7;
    let exits: boolean;
    if (this.proc & CPU_BASED_USE_IO_BITMAPS) {
      exits = false;
      if (port + size > 0x10000)
        exits = true; // wrapping past 0xFFFF always exits
      else {
        const v = this.vmcs;
        for (let p = port; p < port + size && !exits; p++) {
          const bitmap = v.read(p < 0x8000 ? VMCS.IO_BITMAP_A : VMCS.IO_BITMAP_B);
          const bit = p & 0x7fff;
          if ((this.cpu.mem.read8(bitmap + (bit >>> 3)) >>> (bit & 7)) & 1) exits = true;
        }
      }
    } else exits = (this.proc & CPU_BASED_UNCOND_IO_EXITING) !== 0;
    if (!exits) return false;
    const qual = (size - 1) | (b & 8) | (b & 0x40) | (port << 16);
    return this.exitFromInstruction(EXIT_REASON.IO_INSTRUCTION, insn, qual >>> 0);
  }

  /** RDMSR/WRMSR (exits 31/32): MSR bitmaps, or every access exits without them. */
  private interceptMsr(reason: number, insn: Insn, index: number): boolean {
    let exits = true;
    if (this.proc & CPU_BASED_USE_MSR_BITMAPS) {
      const write = reason === EXIT_REASON.MSR_WRITE;
      let offset = -1;
      if (index <= 0x1fff) offset = write ? 2048 : 0;
      else if (index >= 0xc0000000 && index <= 0xc0001fff) offset = write ? 3072 : 1024;
      if (offset >= 0) {
        const bit = index & 0x1fff;
        const page = this.vmcs.read(VMCS.MSR_BITMAP);
        exits = ((this.cpu.mem.read8(page + offset + (bit >>> 3)) >>> (bit & 7)) & 1) === 1;
      }
    }
    return exits ? this.exitFromInstruction(reason, insn) : false;
  }

  readCr(cr: number, actual: number): number {
    const mask = cr === 0 ? this.cr0Mask : this.cr4Mask;
    const shadow = cr === 0 ? this.cr0Shadow : this.cr4Shadow;
    return ((actual & ~mask) | (shadow & mask)) >>> 0;
  }

  /** MOV to CR0/CR4 that did not exit: host-owned bits keep their current value. */
  filterCrWrite(cr: number, value: number): number {
    if (!this.nonRoot) return value;
    const mask = cr === 0 ? this.cr0Mask : this.cr4Mask;
    const current = cr === 0 ? this.cpu.cr0 : this.cpu.cr4;
    return ((value & ~mask) | (current & mask)) >>> 0;
  }

  crAllowed(cr: number, value: number): boolean {
    if (!this.inVmxOperation) return true;
    if (this.nonRoot && this.proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST && cr === 0) {
      const relaxed = CR0_FIXED0 & ~0x80000001;
      return (value & relaxed) === relaxed;
    }
    if (cr === 0) return (value & CR0_FIXED0) >>> 0 === CR0_FIXED0 >>> 0;
    return (value & CR4_FIXED0) === CR4_FIXED0 && (value & ~CR4_FIXED1) === 0;
  }

  /** Exception bitmap and NMI exiting, before an event reaches the guest's IDT. */
  interceptEvent(vector: number, errorCode: number, kind: EventKind): boolean {
    if (!this.nonRoot) return false;
    const cpu = this.cpu;
    const software = kind === "software" || kind === "software-exception";
    if (this.injecting) {
      this.recordVectoring(vector, errorCode, kind);
      this.injecting = false;
      return false;
    }
    if (kind === "exception" || kind === "software-exception") {
      const bitmap = this.vmcs.read(VMCS.EXCEPTION_BITMAP);
      let exits = ((bitmap >>> vector) & 1) === 1;
      if (vector === PAGE_FAULT) {
        const v = this.vmcs;
        const matches =
          (errorCode & v.read(VMCS.PAGE_FAULT_ERROR_CODE_MASK)) === v.read(VMCS.PAGE_FAULT_ERROR_CODE_MATCH);
        exits = matches === exits;
      }
      if (exits) {
        const type = kind === "exception" ? INTR_TYPE_HARD_EXCEPTION : INTR_TYPE_SOFT_EXCEPTION;
        const hasError = errorCode !== NO_ERROR_CODE;
        const info = vector | (type << 8) | (hasError ? INTR_INFO_DELIVER_CODE_MASK : 0) | INTR_INFO_VALID_MASK;
        // An exit during the delivery of INT n / INT3 / INTO / INT1 (this exception hit it: a #PF on the
        // guest's IDT or stack) reports that instruction's length with its IDT-vectoring information, so
        // the hypervisor can inject the event again (Intel SDM Vol. 3C, 28.2.4); GUEST_RIP is already
        // the instruction (the run loop restarted it).
        const vectoringType = (this.vectoringInfo >>> 8) & 7;
        const duringSoftware =
          (this.vectoringInfo & INTR_INFO_VALID_MASK) !== 0 &&
          (vectoringType === INTR_TYPE_SOFT_INTR ||
            vectoringType === INTR_TYPE_SOFT_EXCEPTION ||
            vectoringType === INTR_TYPE_PRIV_SW_EXCEPTION);
        const len = software || duringSoftware ? cpu.softwareInstructionLength : 0;
        this.performExit(
          {
            reason: EXIT_REASON.EXCEPTION_NMI,
            qualification: vector === PAGE_FAULT ? cpu.faultLinear : 0,
            intrInfo: info >>> 0,
            intrErrorCode: hasError ? errorCode : 0,
            instructionLength: len,
            rip: software ? (cpu.eip - len) | 0 : cpu.eip,
          },
          true,
        );
        return true;
      }
    }
    this.recordVectoring(vector, errorCode, kind);
    return false;
  }

  /** Remembers the event being delivered: an exit during its delivery reports it as IDT-vectoring info. */
  private recordVectoring(vector: number, errorCode: number, kind: EventKind): void {
    const type =
      kind === "external"
        ? INTR_TYPE_EXT_INTR
        : kind === "nmi"
          ? INTR_TYPE_NMI_INTR
          : kind === "software"
            ? INTR_TYPE_SOFT_INTR
            : kind === "software-exception"
              ? INTR_TYPE_SOFT_EXCEPTION
              : INTR_TYPE_HARD_EXCEPTION;
    const hasError = errorCode !== NO_ERROR_CODE;
    this.vectoringInfo =
      (vector | (type << 8) | (hasError ? INTR_INFO_DELIVER_CODE_MASK : 0) | INTR_INFO_VALID_MASK) >>> 0;
    this.vectoringError = hasError ? errorCode : 0;
  }

  /** Delivery finished without an exit: nothing is being vectored any more. */
  eventDelivered(): void {
    this.vectoringInfo = 0;
    this.vectoringError = 0;
  }

  tripleFault(): boolean {
    if (!this.nonRoot) return false;
    this.vectoringInfo = 0;
    this.performExit({ reason: EXIT_REASON.TRIPLE_FAULT, qualification: 0 }, true);
    return true;
  }

  /** VM exit the guest's VMX instruction or VMCALL causes (used by ./instructions.ts). */
  static readonly FAULT = FAULT;
}
