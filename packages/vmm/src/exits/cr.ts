// EXIT_REASON_CR_ACCESS (28): MOV to CR0/CR4 that changed a host-owned bit, and CLTS. The guest's
// view lives in the read shadows; the actual register keeps the bits VMX operation requires.
// Shadow paging handles CR3 and the paging bits itself and uses this for the rest.

import type { ExitAction, ExitContext } from "./context.js";
import { injectException, skipInstruction } from "./context.js";
import { handleUnexpectedExit } from "./unexpected.js";

const CR0_PE = 1;
const CR0_TS = 1 << 3;
const CR0_WP = 1 << 16;
const CR0_NW = 1 << 29;
const CR0_CD = 1 << 30;
const CR0_PG = 1 << 31;
/** CR4 bits the CPU implements (as on the bare machine): VME..PCE without PAE, VMXE, SMEP. */
const CR4_SUPPORTED = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | (1 << 13) | (1 << 20);

const GUEST_CR0 = 0x6800;
const GUEST_CR4 = 0x6804;
const CR0_READ_SHADOW = 0x6004;
const CR4_READ_SHADOW = 0x6006;

export interface CrPolicy {
  /** CR0 bits that stay 1 in the real register whatever the guest writes. */
  cr0Forced: number;
  cr4Forced: number;
  /** Called after the guest's paging-related CR0/CR4 bits changed (shadow paging rebuilds). */
  onPagingChange?: (ctx: ExitContext) => void;
}

export function decodeCrQualification(q: number): { cr: number; access: number; gpr: number } {
  return { cr: q & 15, access: (q >>> 4) & 3, gpr: (q >>> 8) & 15 };
}

export function emulateCrAccess(ctx: ExitContext, policy: CrPolicy): ExitAction {
  const { cr, access, gpr } = decodeCrQualification(ctx.exit.qualification);
  const vmx = ctx.vmx;
  ctx.charge(ctx.cost.hypervisor.crAccess);
  if (access === 2) {
    vmx.write(CR0_READ_SHADOW, vmx.read(CR0_READ_SHADOW) & ~CR0_TS);
    vmx.write(GUEST_CR0, vmx.read(GUEST_CR0) & ~CR0_TS);
    skipInstruction(ctx);
    ctx.note("CLTS emulated");
    return "resume";
  }
  if (access !== 0 || (cr !== 0 && cr !== 4)) {
    return handleUnexpectedExit(ctx, `CR${cr} access type ${access} is not emulated`);
  }
  // ESP lives in GUEST_RSP while the host runs; the other GPRs are still in the CPU's registers.
  const value = (gpr === 4 ? ctx.vmx.read(0x681c) : ctx.cpu.regs[gpr]!) >>> 0;
  if (cr === 0) {
    // The same checks the processor makes for MOV to CR0: #GP(0) on an inconsistent value.
    if (!(value & CR0_PE) || (value & CR0_NW && !(value & CR0_CD))) {
      injectException(ctx, 13, 0);
      ctx.note(`MOV CR0, 0x${value.toString(16)} is invalid: #GP(0) injected`);
      return "resume";
    }
    const before = vmx.read(CR0_READ_SHADOW);
    vmx.write(CR0_READ_SHADOW, value);
    vmx.write(GUEST_CR0, (value | policy.cr0Forced) >>> 0);
    skipInstruction(ctx);
    if ((before ^ value) & (CR0_PG | CR0_WP | CR0_PE)) {
      flushGuestTlb(ctx);
      policy.onPagingChange?.(ctx);
    }
    ctx.note(`CR0 write 0x${value.toString(16).padStart(8, "0")} emulated through the read shadow`);
    return "resume";
  }
  if (value & ~CR4_SUPPORTED) {
    injectException(ctx, 13, 0);
    ctx.note(`MOV CR4, 0x${value.toString(16)} sets reserved bits: #GP(0) injected`);
    return "resume";
  }
  const before = vmx.read(CR4_READ_SHADOW);
  vmx.write(CR4_READ_SHADOW, value);
  vmx.write(GUEST_CR4, (value | policy.cr4Forced) >>> 0);
  skipInstruction(ctx);
  if ((before ^ value) & 0xb0) {
    flushGuestTlb(ctx);
    policy.onPagingChange?.(ctx);
  }
  ctx.note(`CR4 write 0x${value.toString(16).padStart(8, "0")} emulated through the read shadow`);
  return "resume";
}

/** Drops the VM's cached translations (its VPID's TLB entries). */
export function flushGuestTlb(ctx: ExitContext): void {
  const asid = ctx.vmx.asidOf(ctx.vm.vpid);
  if (asid !== undefined) ctx.cpu.tlb.flushAsid(asid, false);
}
