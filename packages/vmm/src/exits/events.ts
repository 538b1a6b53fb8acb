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
  const proc = vmx.read(CPU_BASED_VM_EXEC_CONTROL);
  const pic = vm.devices.pic;
  if (!pic.hasInterrupt()) {
    if (proc & C.CPU_BASED_INTR_WINDOW_EXITING) {
      vmx.write(CPU_BASED_VM_EXEC_CONTROL, proc & ~C.CPU_BASED_INTR_WINDOW_EXITING);
    }
    return false;
  }
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
