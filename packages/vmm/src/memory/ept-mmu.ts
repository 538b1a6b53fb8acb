// Memory virtualization with EPT: the guest owns its page tables and CR3 (no exits for them); the
// hypervisor maps guest-physical pages to host pages in the EPT, all at creation or lazily on the
// first EPT violation of each page. With "unrestricted guest" the guest may run with paging off.

import { vmxControls as C, vmxCapabilities } from "@vmxlab/cpu";
import type { ExitAction, ExitContext } from "../exits/context.js";
import { emulateCrAccess } from "../exits/cr.js";
import { handleUnexpectedExit } from "../exits/unexpected.js";
import type { Vm } from "../vm.js";
import type { EptBuilder } from "./ept-builder.js";
import type { Mmu, MmuVmcsSettings } from "./mmu.js";

const CR0_NE = 1 << 5;
const CR4_VMXE = 1 << 13;

export class EptMmu implements Mmu {
  readonly kind = "ept";

  constructor(private readonly ept: EptBuilder) {}

  get tablePages(): number {
    return this.ept.tablePages;
  }

  settings(_vm: Vm): MmuVmcsSettings {
    return {
      secondary: C.SECONDARY_EXEC_ENABLE_EPT | C.SECONDARY_EXEC_UNRESTRICTED_GUEST,
      primary: 0,
      exceptionBitmap: 0,
      // NE and VMXE must be 1 in VMX non-root operation; the guest sees the shadow instead.
      cr0Mask: CR0_NE,
      cr4Mask: CR4_VMXE,
      cr0: 0x11 | CR0_NE,
      cr3: 0,
      cr4: vmxCapabilities.CR4_FIXED0,
      eptp: this.ept.eptp(true),
    };
  }

  /** Maps a backed guest page (called when GuestMemory populates one). */
  map(gpa: number, hpa: number): void {
    this.ept.map(gpa, hpa);
  }

  onEptViolation(ctx: ExitContext): ExitAction {
    const gpa = ctx.exit.guestPhysicalAddress;
    const vm = ctx.vm;
    if (!vm.memory.contains(gpa)) {
      return ctx.stopVm({
        kind: "error",
        diagnostic: `guest accessed guest-physical 0x${gpa.toString(16)}, outside its ${vm.memory.size >>> 20} MiB of RAM (EIP 0x${ctx.exit.guestRip.toString(16)})`,
      });
    }
    if (vm.memory.translate(gpa) >= 0) {
      return ctx.stopVm({
        kind: "error",
        diagnostic: `EPT violation on mapped gpa 0x${gpa.toString(16)}: permissions`,
      });
    }
    vm.memory.backing(gpa); // populates and maps through onPopulate
    ctx.charge(ctx.cost.hypervisor.eptViolation);
    ctx.note(`mapped gpa 0x${(gpa & ~0xfff).toString(16).padStart(8, "0")} on first touch`);
    return "resume";
  }

  onPageFault(ctx: ExitContext): ExitAction {
    return handleUnexpectedExit(ctx, "#PF exit under EPT");
  }

  onCrAccess(ctx: ExitContext): ExitAction {
    return emulateCrAccess(ctx, { cr0Forced: CR0_NE, cr4Forced: CR4_VMXE });
  }

  onInvlpg(ctx: ExitContext): ExitAction {
    return handleUnexpectedExit(ctx, "INVLPG exit under EPT");
  }

  guestCr3(_vm: Vm): number | null {
    return null;
  }
}
