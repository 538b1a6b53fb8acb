// How a VM's memory is virtualized. Two implementations: EptMmu (hardware nested paging) and
// ShadowMmu (software shadow page tables). The hypervisor asks the MMU for the VMCS settings it
// needs and routes the memory-related exits to it.

import type { ExitAction, ExitContext } from "../exits/context.js";
import type { Vm } from "../vm.js";

export interface MmuVmcsSettings {
  /** Secondary-control bits (EPT, unrestricted guest). */
  secondary: number;
  /** Primary-control bits (CR3 load/store exiting, INVLPG exiting). */
  primary: number;
  exceptionBitmap: number;
  cr0Mask: number;
  cr4Mask: number;
  /** Actual guest CR0/CR3/CR4 at boot (the guest sees the boot contract values through the shadows). */
  cr0: number;
  cr3: number;
  cr4: number;
  eptp?: number;
}

export interface Mmu {
  readonly kind: "ept" | "shadow";
  /** VMCS settings for this MMU, at VM creation. */
  settings(vm: Vm): MmuVmcsSettings;
  /** EXIT_REASON_EPT_VIOLATION (48). */
  onEptViolation(ctx: ExitContext): ExitAction;
  /** A #PF intercepted by the exception bitmap (shadow paging). */
  onPageFault(ctx: ExitContext): ExitAction;
  /** MOV to/from CR0/CR3/CR4 and CLTS that exited. */
  onCrAccess(ctx: ExitContext): ExitAction;
  /** INVLPG that exited (shadow paging). */
  onInvlpg(ctx: ExitContext): ExitAction;
  /** The guest's CR3 when it differs from GUEST_CR3 (shadow paging), else null. */
  guestCr3(vm: Vm): number | null;
  /** Host pages used by the MMU's tables (memory overhead). */
  readonly tablePages: number;
}
