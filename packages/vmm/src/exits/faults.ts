// Exits about the guest's own misbehaviour or VMX use: a guest's VMX instruction gets #UD (no nested
// VMX yet); a triple fault shuts the VM down as it would a bare machine; a failed VM entry and an
// EPT misconfiguration are hypervisor bugs reported with the VMCS state.

import type { ExitAction, ExitContext } from "./context.js";
import { injectException } from "./context.js";

export function handleVmxInstruction(ctx: ExitContext): ExitAction {
  injectException(ctx, 6);
  ctx.note(`${ctx.exit.name} in the guest: #UD injected (nested VMX is not offered)`);
  return "resume";
}

export function handleTripleFault(ctx: ExitContext): ExitAction {
  return ctx.stopVm({
    kind: "shutdown",
    diagnostic: `triple fault in VM ${ctx.vm.name} at 0x${ctx.exit.guestRip.toString(16).padStart(8, "0")}; shutdown`,
  });
}

export function handleEptMisconfig(ctx: ExitContext): ExitAction {
  return ctx.stopVm({
    kind: "error",
    diagnostic: `EPT misconfiguration at gpa 0x${ctx.exit.guestPhysicalAddress.toString(16)} (hypervisor bug)`,
  });
}

export function handleEntryFailure(ctx: ExitContext): ExitAction {
  return ctx.stopVm({
    kind: "error",
    diagnostic: `VM entry failed: exit reason 0x${ctx.exit.reason.toString(16)} (${ctx.exit.name}), qualification 0x${ctx.exit.qualification.toString(16)}`,
  });
}
