// What an exit handler works with (KVM's struct kvm_vcpu, in miniature), and what it returns.

import type { CostModel, Cpu, Machine, VmExitInfo, Vmx } from "@vmxlab/cpu";
import type { Vm, VmStop } from "../vm.js";

/**
 * resume: re-enter the guest now (KVM's "return 1"); yield: give up the rest of the time slice;
 * halt: the vCPU waits for an interrupt; stop: the VM is finished (vm.stop says why).
 */
export type ExitAction = "resume" | "yield" | "halt" | "stop";

export interface ExitContext {
  readonly machine: Machine;
  readonly cpu: Cpu;
  readonly vmx: Vmx;
  readonly cost: CostModel;
  readonly vm: Vm;
  readonly exit: VmExitInfo;
  /** Charges modeled hypervisor cycles for the handler's software work. */
  charge(cycles: number): void;
  /** Records what the handler did, in words (shown by --trace). */
  note(text: string): void;
  /**
   * False when nobody reads the notes: handlers of frequent exits then skip building their text
   * (see noting()). Absent means the notes are read.
   */
  readonly tracing?: boolean;
  /** Ends the VM with a guest-visible stop or a diagnostic. */
  stopVm(stop: VmStop): ExitAction;
}

export type ExitHandler = (ctx: ExitContext) => ExitAction;

/**
 * The ExitContext a hypervisor hands its handlers (the type-1 one, and the hosted KVM module per vCPU).
 * Exits come one at a time, so one object serves them all: begin() refills it and nothing is allocated
 * per exit. Notes are kept only when someone reads them (`tracing`).
 */
export class ReusableExitContext implements ExitContext {
  readonly cpu: Cpu;
  readonly vmx: Vmx;
  vm!: Vm;
  exit!: VmExitInfo;
  /** Modeled cycles of the handler's work so far (dispatch included). */
  handlerCycles = 0;
  readonly notes: string[] = [];
  tracing = false;

  constructor(
    readonly machine: Machine,
    readonly cost: CostModel,
    private readonly finish: (vm: Vm, stop: VmStop) => void,
  ) {
    this.cpu = machine.cpu;
    this.vmx = machine.vmx;
  }

  begin(vm: Vm, exit: VmExitInfo, dispatchCycles: number, tracing: boolean): void {
    this.vm = vm;
    this.exit = exit;
    this.handlerCycles = dispatchCycles;
    if (this.notes.length > 0) this.notes.length = 0;
    this.tracing = tracing;
  }

  charge(cycles: number): void {
    this.handlerCycles += cycles;
  }

  note(text: string): void {
    if (this.tracing) this.notes.push(text);
  }

  stopVm(stop: VmStop): ExitAction {
    this.finish(this.vm, stop);
    return "stop";
  }
}

/** Whether a note is worth its text: `if (noting(ctx)) ctx.note(\`...\`)` in handlers of frequent exits. */
export function noting(ctx: ExitContext): boolean {
  return ctx.tracing !== false;
}

/**
 * Advances GUEST_RIP past the exiting instruction (VM_EXIT_INSTRUCTION_LEN). The instruction is now
 * complete, so blocking by STI / MOV SS (which covered it) ends, as KVM's skip does: else an HLT
 * right after STI would keep the wake-up interrupt blocked past the HLT.
 */
export function skipInstruction(ctx: ExitContext): void {
  const exit = ctx.exit;
  ctx.vmx.write(0x681e, (exit.guestRip + exit.instructionLength) >>> 0); // GUEST_RIP as the exit saved it
  const interruptibility = ctx.vmx.read(0x4824);
  if (interruptibility & 3) ctx.vmx.write(0x4824, interruptibility & ~3);
}

/** Queues an exception for the next VM entry (VM_ENTRY_INTR_INFO_FIELD, hardware-exception type). */
export function injectException(ctx: ExitContext, vector: number, errorCode?: number): void {
  const hasCode = errorCode !== undefined;
  ctx.vmx.write(0x4016, (vector | (3 << 8) | (hasCode ? 1 << 11 : 0) | 0x80000000) >>> 0);
  if (hasCode) ctx.vmx.write(0x4018, errorCode);
  ctx.charge(ctx.cost.hypervisor.exceptionInjection);
}
