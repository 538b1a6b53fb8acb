// Exits that are about time and interrupts: the VMX-preemption timer (52) ends a time slice or
// brings the hypervisor back to deliver a virtual timer interrupt; interrupt-window exiting (7)
// says the guest can take the interrupt we are holding.

import { vmxControls as C, VMCS, type Vmx } from "@vmxlab/cpu";
import type { Vm } from "../vm.js";
import type { ExitAction, ExitContext } from "./context.js";

const { VM_ENTRY_INTR_INFO_FIELD, CPU_BASED_VM_EXEC_CONTROL, GUEST_RFLAGS, GUEST_INTERRUPTIBILITY_INFO } = VMCS;

/**
 * Before a VM entry (the VM's VMCS is current): injects the VM's pending virtual interrupt if the
 * guest can take it now, else asks for an interrupt-window exit. Returns true when an interrupt was
 * injected (the caller charges cost.hypervisor.interruptInjection). Used by the type-1 hypervisor and
 * the hosted kernel module alike.
 */
export function injectPendingInterrupt(vmx: Vmx, vm: Vm): boolean {
  // (Every entry passes here and most have nothing to do: that case stays small enough to inline, and
  // tests its bit without reading the control word, a number too large for V8 to pass without boxing.)
  if (vm.devices.pic.hasInterrupt()) return injectOrAskForWindow(vmx, vm);
  if (vmx.test(CPU_BASED_VM_EXEC_CONTROL, C.CPU_BASED_INTR_WINDOW_EXITING)) {
    vmx.write(CPU_BASED_VM_EXEC_CONTROL, vmx.read(CPU_BASED_VM_EXEC_CONTROL) & ~C.CPU_BASED_INTR_WINDOW_EXITING);
  }
  return false;
}

/** injectPendingInterrupt with an interrupt pending in the VM's PIC. */
function injectOrAskForWindow(vmx: Vmx, vm: Vm): boolean {
  const proc = vmx.read(CPU_BASED_VM_EXEC_CONTROL);
  const pic = vm.devices.pic;
  if (vmx.read(VM_ENTRY_INTR_INFO_FIELD) & 0x80000000) {
    // An exception goes in first (a #GP for a refused WRMSR, say); the interrupt waits, but for the
    // window right after that event's delivery, not for whatever exit comes next (KVM likewise
    // requests an interrupt window when it cannot inject).
    if (!(proc & C.CPU_BASED_INTR_WINDOW_EXITING)) {
      vmx.write(CPU_BASED_VM_EXEC_CONTROL, proc | C.CPU_BASED_INTR_WINDOW_EXITING);
    }
    return false;
  }
  const canTake = (vmx.read(GUEST_RFLAGS) & 0x200) !== 0 && (vmx.read(GUEST_INTERRUPTIBILITY_INFO) & 3) === 0;
  if (canTake) {
    const vector = pic.acknowledge();
    vmx.write(VM_ENTRY_INTR_INFO_FIELD, (vector | 0x80000000) >>> 0);
    vmx.write(CPU_BASED_VM_EXEC_CONTROL, proc & ~C.CPU_BASED_INTR_WINDOW_EXITING);
    return true;
  }
  vmx.write(CPU_BASED_VM_EXEC_CONTROL, proc | C.CPU_BASED_INTR_WINDOW_EXITING);
  return false;
}

/**
 * After an exit handler, before the next entry: an exit that interrupted the delivery of an event (its
 * IDT-vectoring information is valid: an EPT violation or shadow-paging #PF on the guest's IDT or
 * stack, say) must not lose it, so an external interrupt, NMI or hardware exception is injected again,
 * as KVM's vmx_complete_interrupts does. A software event (INT n, INT3, INTO, INT1) is not: GUEST_RIP
 * references its instruction, which simply runs again and raises it once more. (KVM injects those too,
 * with the instruction length; running the instruction again keeps the guest's retired-instruction
 * count equal to the bare machine's, which the tests compare.)
 */
export function reinjectInterruptedEvent(ctx: ExitContext): void {
  // (Called after every handled exit; few interrupted a delivery: that case is apart, to keep this inlined.)
  if (ctx.exit.idtVectoringInfo & 0x80000000) reinject(ctx);
}

function reinject(ctx: ExitContext): void {
  const vectoring = ctx.exit.idtVectoringInfo;
  if (ctx.vm.stop) return;
  const type = (vectoring >>> 8) & 7;
  if (type !== C.INTR_TYPE_EXT_INTR && type !== C.INTR_TYPE_NMI_INTR && type !== C.INTR_TYPE_HARD_EXCEPTION) return;
  const vmx = ctx.vmx;
  if (vmx.read(VM_ENTRY_INTR_INFO_FIELD) & 0x80000000) return; // the handler queued an event itself
  vmx.write(VM_ENTRY_INTR_INFO_FIELD, (vectoring & 0x80000fff) >>> 0);
  if (vectoring & 0x800) vmx.write(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, vmx.read(VMCS.IDT_VECTORING_ERROR_CODE));
  if (ctx.tracing !== false) {
    ctx.note(`vector 0x${(vectoring & 0xff).toString(16)} whose delivery the exit interrupted is injected again`);
  }
}

export function handlePreemptionTimer(ctx: ExitContext): ExitAction {
  ctx.charge(ctx.cost.hypervisor.dispatch);
  ctx.note("preemption timer: time slice or virtual timer due");
  return "yield";
}

export function handleInterruptWindow(ctx: ExitContext): ExitAction {
  ctx.charge(ctx.cost.hypervisor.dispatch);
  ctx.note("interrupt window open: pending interrupt will be injected");
  return "resume";
}

export function handleExternalInterrupt(ctx: ExitContext): ExitAction {
  ctx.charge(ctx.cost.hypervisor.dispatch);
  ctx.note("external interrupt");
  return "resume";
}
