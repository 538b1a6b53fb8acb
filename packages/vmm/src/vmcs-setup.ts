// The VMCS a new VM starts with: controls (from the capability MSRs plus what we need), the host
// state the CPU returns to on every exit, and the guest state of the boot contract, so a program
// starts in a VM exactly as on the bare machine (flat protected mode, paging off, EIP = entry).

import { vmxControls as C, type Machine, VMCS } from "@vmxlab/cpu";
import type { MmuVmcsSettings } from "./memory/mmu.js";

const TRUE_PINBASED = 0x48d;
const TRUE_PROCBASED = 0x48e;
const TRUE_EXIT = 0x48f;
const TRUE_ENTRY = 0x490;

export interface HostLayout {
  /** Host page directory (identity-mapped) and the MSR bitmap page, allocated by the hypervisor. */
  cr3: number;
  msrBitmap: number;
}

function allowed0(machine: Machine, msr: number): number {
  return machine.cpu.readMsr(msr)![0];
}

/** Writes every field of a fresh VMCS (the VMCS must be current). */
export function setupVmcs(
  machine: Machine,
  settings: MmuVmcsSettings,
  host: HostLayout,
  vpid: number,
  entry: number,
): void {
  const vmx = machine.vmx;
  const w = (f: number, v: number) => vmx.write(f, v >>> 0);
  // ---- controls ----
  w(VMCS.PIN_BASED_VM_EXEC_CONTROL, allowed0(machine, TRUE_PINBASED) | C.PIN_BASED_VMX_PREEMPTION_TIMER);
  w(
    VMCS.CPU_BASED_VM_EXEC_CONTROL,
    allowed0(machine, TRUE_PROCBASED) |
      C.CPU_BASED_HLT_EXITING |
      C.CPU_BASED_UNCOND_IO_EXITING |
      C.CPU_BASED_USE_MSR_BITMAPS |
      C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS |
      settings.primary,
  );
  // VPID 0 is the host's: a VM given none runs with "enable VPID" off (every entry and exit flushes the TLB).
  w(VMCS.SECONDARY_VM_EXEC_CONTROL, (vpid !== 0 ? C.SECONDARY_EXEC_ENABLE_VPID : 0) | settings.secondary);
  w(VMCS.VM_EXIT_CONTROLS, allowed0(machine, TRUE_EXIT));
  w(VMCS.VM_ENTRY_CONTROLS, allowed0(machine, TRUE_ENTRY));
  w(VMCS.VIRTUAL_PROCESSOR_ID, vpid);
  w(VMCS.EXCEPTION_BITMAP, settings.exceptionBitmap);
  w(VMCS.PAGE_FAULT_ERROR_CODE_MASK, 0);
  w(VMCS.PAGE_FAULT_ERROR_CODE_MATCH, 0);
  w(VMCS.CR3_TARGET_COUNT, 0);
  w(VMCS.MSR_BITMAP, host.msrBitmap);
  w(VMCS.CR0_GUEST_HOST_MASK, settings.cr0Mask);
  w(VMCS.CR4_GUEST_HOST_MASK, settings.cr4Mask);
  // The guest reads the boot contract's CR0 = 0x11 and CR4 = 0 through the shadows.
  w(VMCS.CR0_READ_SHADOW, 0x11);
  w(VMCS.CR4_READ_SHADOW, 0);
  if (settings.eptp !== undefined) {
    w(VMCS.EPT_POINTER, settings.eptp);
    w(VMCS.EPT_POINTER + 1, 0);
  }
  w(VMCS.VMCS_LINK_POINTER, 0xffffffff);
  w(VMCS.VMCS_LINK_POINTER + 1, 0xffffffff);
  // ---- host state: a flat 32-bit kernel with paging on (the hypervisor's own view) ----
  w(VMCS.HOST_CR0, 0x80000031);
  w(VMCS.HOST_CR3, host.cr3);
  w(VMCS.HOST_CR4, (1 << 13) | (1 << 4));
  w(VMCS.HOST_CS_SELECTOR, 0x08);
  for (const f of [VMCS.HOST_SS_SELECTOR, VMCS.HOST_DS_SELECTOR, VMCS.HOST_ES_SELECTOR]) w(f, 0x10);
  w(VMCS.HOST_FS_SELECTOR, 0);
  w(VMCS.HOST_GS_SELECTOR, 0);
  w(VMCS.HOST_TR_SELECTOR, 0x18);
  w(VMCS.HOST_RSP, 0);
  w(VMCS.HOST_RIP, 0);
  // ---- guest state: the boot contract ----
  w(VMCS.GUEST_CR0, settings.cr0);
  w(VMCS.GUEST_CR3, settings.cr3);
  w(VMCS.GUEST_CR4, settings.cr4);
  const segments: [number, number, number, number, number][] = [
    [VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_AR_BYTES, 0x10],
    [VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_BASE, VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_AR_BYTES, 0x08],
    [VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_AR_BYTES, 0x10],
    [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_AR_BYTES, 0x10],
    [VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_BASE, VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_AR_BYTES, 0x10],
    [VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_BASE, VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_AR_BYTES, 0x10],
  ];
  for (const [sel, base, limit, ar, selector] of segments) {
    w(sel, selector);
    w(base, 0);
    w(limit, 0xffffffff);
    w(ar, selector === 0x08 ? 0xc09b : 0xc093);
  }
  w(VMCS.GUEST_LDTR_SELECTOR, 0);
  w(VMCS.GUEST_LDTR_AR_BYTES, 0x10000);
  w(VMCS.GUEST_TR_SELECTOR, 0);
  w(VMCS.GUEST_TR_BASE, 0);
  w(VMCS.GUEST_TR_LIMIT, 0x67);
  w(VMCS.GUEST_TR_AR_BYTES, 0x8b);
  w(VMCS.GUEST_GDTR_BASE, 0);
  w(VMCS.GUEST_GDTR_LIMIT, 0);
  w(VMCS.GUEST_IDTR_BASE, 0);
  w(VMCS.GUEST_IDTR_LIMIT, 0);
  w(VMCS.GUEST_RFLAGS, 0x2);
  w(VMCS.GUEST_RSP, 0);
  w(VMCS.GUEST_RIP, entry);
  w(VMCS.GUEST_ACTIVITY_STATE, 0);
  w(VMCS.GUEST_INTERRUPTIBILITY_INFO, 0);
  w(VMCS.GUEST_SYSENTER_CS, 0);
  w(VMCS.GUEST_SYSENTER_ESP, 0);
  w(VMCS.GUEST_SYSENTER_EIP, 0);
}
