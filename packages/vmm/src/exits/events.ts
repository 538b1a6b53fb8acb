// Exits that are about time and interrupts: the VMX-preemption timer (52) ends a time slice or
// brings the hypervisor back to deliver a virtual timer interrupt; interrupt-window exiting (7)
// says the guest can take the interrupt we are holding.

import type { ExitAction, ExitContext } from "./context.js";

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
