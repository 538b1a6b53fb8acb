// Shadow paging (being written): see the Mmu interface in ./mmu.ts.
import type { ExitAction, ExitContext } from "../exits/context.js";
import type { Hypervisor } from "../hypervisor.js";
import type { Vm } from "../vm.js";
import type { Mmu, MmuVmcsSettings } from "./mmu.js";

export class ShadowMmu implements Mmu {
  readonly kind = "shadow";
  readonly tablePages = 0;
  constructor(
    readonly hv: Hypervisor,
    readonly vm: Vm,
  ) {
    throw new Error("shadow paging is not available in this build");
  }
  settings(): MmuVmcsSettings {
    throw new Error("unavailable");
  }
  onEptViolation(ctx: ExitContext): ExitAction {
    return ctx.stopVm({ kind: "error", diagnostic: "unavailable" });
  }
  onPageFault(ctx: ExitContext): ExitAction {
    return ctx.stopVm({ kind: "error", diagnostic: "unavailable" });
  }
  onCrAccess(ctx: ExitContext): ExitAction {
    return ctx.stopVm({ kind: "error", diagnostic: "unavailable" });
  }
  onInvlpg(ctx: ExitContext): ExitAction {
    return ctx.stopVm({ kind: "error", diagnostic: "unavailable" });
  }
  guestCr3(): number | null {
    return null;
  }
}
