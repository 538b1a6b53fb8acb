// Memory-related exits go to the VM's MMU (EPT or shadow paging): EPT violations (48), #PF
// intercepted by the exception bitmap (0, vector 14), CR accesses (28) and INVLPG (14).

import type { ExitAction, ExitContext } from "./context.js";
import { handleUnexpectedExit } from "./unexpected.js";

export function handleEptViolation(ctx: ExitContext): ExitAction {
  return ctx.vm.mmu.onEptViolation(ctx);
}

export function handleCrAccess(ctx: ExitContext): ExitAction {
  return ctx.vm.mmu.onCrAccess(ctx);
}

export function handleInvlpg(ctx: ExitContext): ExitAction {
  return ctx.vm.mmu.onInvlpg(ctx);
}

/** EXIT_REASON_EXCEPTION_NMI (0): only #PF is intercepted (shadow paging). */
export function handleException(ctx: ExitContext): ExitAction {
  const vector = ctx.exit.interruptionInfo & 0xff;
  if (vector === 14) return ctx.vm.mmu.onPageFault(ctx);
  return handleUnexpectedExit(
    ctx,
    `exception vector ${vector} (interruption info 0x${ctx.exit.interruptionInfo.toString(16)})`,
  );
}
