// VM-entry checks in three functions, as the SDM groups them (Vol. 3C, 27.2 and 27.3) and as
// Bochs does (VMenterLoadCheckVmControls / HostState / GuestState). Each returns null when the
// VMCS passes, or a sentence naming the first check that failed (debuggers show it).
// docs/vmx.md lists which of the SDM's checks are implemented.

import { CR0_PE, CR0_PG, IF } from "../cpu/registers.js";
import {
  CR0_FIXED0,
  CR0_FIXED1,
  CR3_TARGET_COUNT_MAX,
  CR4_FIXED0,
  CR4_FIXED1,
  controlsAllowed,
  ENTRY_CONTROLS,
  EXIT_CONTROLS,
  PIN_CONTROLS,
  PROC_CONTROLS,
  SECONDARY_CONTROLS,
  VMCS_REVISION_ID,
} from "./capabilities.js";
import * as C from "./controls.js";
import type { VmcsAccess } from "./vmcs.js";
import { VMCS } from "./vmcs-fields.js";
import type { Vmx } from "./vmx.js";

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

function physicalPageOk(vmx: Vmx, address: number, high: number): boolean {
  return high === 0 && (address & 0xfff) === 0 && address + 0x1000 <= vmx.cpu.memSize;
}

/** EPTP validity (Intel SDM Vol. 3C, 27.2.1.1): memory type UC or WB, 4-level walk, reserved bits clear. */
export function eptpProblem(low: number, high: number): string | null {
  const type = low & 7;
  if (type !== 0 && type !== 6) return `EPTP memory type ${type} is not UC (0) or WB (6)`;
  if (((low >>> 3) & 7) !== 3) return "EPTP page-walk length must be 4 (bits 5:3 = 3)";
  if (low & 0xf80) return "EPTP reserved bits 11:7 are set";
  if (high !== 0) return "EPTP points above the 32-bit physical-address width";
  return null;
}

/** 27.2.1: VM-execution, VM-exit and VM-entry control fields. Failure: VMfailValid(7). */
export function checkControls(vmx: Vmx, v: VmcsAccess): string | null {
  const pin = v.read(VMCS.PIN_BASED_VM_EXEC_CONTROL);
  const proc = v.read(VMCS.CPU_BASED_VM_EXEC_CONTROL);
  const exit = v.read(VMCS.VM_EXIT_CONTROLS);
  const entry = v.read(VMCS.VM_ENTRY_CONTROLS);
  if (!controlsAllowed(pin, PIN_CONTROLS)) return `pin-based controls ${hex(pin)} violate IA32_VMX_TRUE_PINBASED_CTLS`;
  if (!controlsAllowed(proc, PROC_CONTROLS))
    return `primary controls ${hex(proc)} violate IA32_VMX_TRUE_PROCBASED_CTLS`;
  const proc2 = proc & C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? v.read(VMCS.SECONDARY_VM_EXEC_CONTROL) : 0;
  if (!controlsAllowed(proc2, SECONDARY_CONTROLS))
    return `secondary controls ${hex(proc2)} violate IA32_VMX_PROCBASED_CTLS2`;
  if (!controlsAllowed(exit, EXIT_CONTROLS)) return `VM-exit controls ${hex(exit)} violate IA32_VMX_TRUE_EXIT_CTLS`;
  if (!controlsAllowed(entry, ENTRY_CONTROLS))
    return `VM-entry controls ${hex(entry)} violate IA32_VMX_TRUE_ENTRY_CTLS`;
  if (v.read(VMCS.CR3_TARGET_COUNT) > CR3_TARGET_COUNT_MAX) return "CR3_TARGET_COUNT is greater than 4";
  if (proc & C.CPU_BASED_USE_IO_BITMAPS) {
    for (const f of [VMCS.IO_BITMAP_A, VMCS.IO_BITMAP_B]) {
      if (!physicalPageOk(vmx, v.read(f), v.read(f + 1)))
        return "an I/O bitmap address is not a 4 KiB-aligned page in memory";
    }
  }
  if (
    proc & C.CPU_BASED_USE_MSR_BITMAPS &&
    !physicalPageOk(vmx, v.read(VMCS.MSR_BITMAP), v.read(VMCS.MSR_BITMAP + 1))
  ) {
    return "the MSR bitmap address is not a 4 KiB-aligned page in memory";
  }
  if (proc2 & C.SECONDARY_EXEC_ENABLE_VPID && v.read(VMCS.VIRTUAL_PROCESSOR_ID) === 0) {
    return "enable VPID is set but VIRTUAL_PROCESSOR_ID is 0";
  }
  if (proc2 & C.SECONDARY_EXEC_ENABLE_EPT) {
    const problem = eptpProblem(v.read(VMCS.EPT_POINTER), v.read(VMCS.EPT_POINTER + 1));
    if (problem) return problem;
  }
  if (proc2 & C.SECONDARY_EXEC_UNRESTRICTED_GUEST && !(proc2 & C.SECONDARY_EXEC_ENABLE_EPT)) {
    return "unrestricted guest requires enable EPT";
  }
  if (exit & C.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER && !(pin & C.PIN_BASED_VMX_PREEMPTION_TIMER)) {
    return "save VMX-preemption timer value requires activate VMX-preemption timer";
  }
  for (const [count, addr] of [
    [VMCS.VM_EXIT_MSR_STORE_COUNT, VMCS.VM_EXIT_MSR_STORE_ADDR],
    [VMCS.VM_EXIT_MSR_LOAD_COUNT, VMCS.VM_EXIT_MSR_LOAD_ADDR],
    [VMCS.VM_ENTRY_MSR_LOAD_COUNT, VMCS.VM_ENTRY_MSR_LOAD_ADDR],
  ] as const) {
    const n = v.read(count);
    if (n > 512) return "an MSR list has more than 512 entries";
    if (n > 0 && (v.read(addr) & 0xf || v.read(addr + 1) !== 0)) return "an MSR list address is not 16-byte aligned";
  }
  return checkEntryEvent(v);
}

/** The event-injection field (27.2.1.3). */
function checkEntryEvent(v: VmcsAccess): string | null {
  const info = v.read(VMCS.VM_ENTRY_INTR_INFO_FIELD);
  if (!(info & C.INTR_INFO_VALID_MASK)) return null;
  const vector = info & 0xff;
  const type = (info >>> 8) & 7;
  if (type === 1) return "VM-entry interruption type 1 is reserved";
  // Type 7 ("other event") is reserved without the 1-setting of "monitor trap flag", which vmxlab lacks.
  if (type === C.INTR_TYPE_OTHER_EVENT) return "VM-entry interruption type 7 is reserved (no monitor trap flag)";
  if (type === C.INTR_TYPE_NMI_INTR && vector !== 2) return "an injected NMI must have vector 2";
  if (type === C.INTR_TYPE_HARD_EXCEPTION && vector > 31) return "an injected hardware exception must have vector 0-31";
  // The guest is always in protected mode (CR0.PE = 1), so the unrestricted-guest exemption never applies.
  const wantsCode = type === C.INTR_TYPE_HARD_EXCEPTION && [8, 10, 11, 12, 13, 14, 17].includes(vector);
  if (Boolean(info & C.INTR_INFO_DELIVER_CODE_MASK) !== wantsCode) {
    return "deliver-error-code must be set exactly for hardware exceptions 8, 10-14 and 17";
  }
  if (info & 0x7ffff000) return "VM-entry interruption-information reserved bits 30:12 are set";
  // Error codes are 16 bits: bits 31:16 must be 0 (older SDM editions said 31:15).
  if (info & C.INTR_INFO_DELIVER_CODE_MASK && v.read(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff0000) {
    return "the injected error code has bits 31:16 set";
  }
  if (type === C.INTR_TYPE_SOFT_INTR || type === C.INTR_TYPE_PRIV_SW_EXCEPTION || type === C.INTR_TYPE_SOFT_EXCEPTION) {
    const len = v.read(VMCS.VM_ENTRY_INSTRUCTION_LEN);
    if (len < 1 || len > 15) return "VM_ENTRY_INSTRUCTION_LEN must be 1-15 for a software event";
  }
  return null;
}

/** 27.2.2-27.2.4: host control registers, selectors and address-space size. Failure: VMfailValid(8). */
export function checkHostState(_vmx: Vmx, v: VmcsAccess): string | null {
  const cr0 = v.read(VMCS.HOST_CR0);
  const cr4 = v.read(VMCS.HOST_CR4);
  if ((cr0 & CR0_FIXED0) >>> 0 !== CR0_FIXED0 >>> 0 || (cr0 & ~CR0_FIXED1) !== 0) {
    return `HOST_CR0 ${hex(cr0)} violates IA32_VMX_CR0_FIXED0/1`;
  }
  if ((cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cr4 & ~CR4_FIXED1) !== 0)
    return `HOST_CR4 ${hex(cr4)} violates IA32_VMX_CR4_FIXED0/1`;
  const selectors = [
    ["HOST_ES_SELECTOR", VMCS.HOST_ES_SELECTOR],
    ["HOST_CS_SELECTOR", VMCS.HOST_CS_SELECTOR],
    ["HOST_SS_SELECTOR", VMCS.HOST_SS_SELECTOR],
    ["HOST_DS_SELECTOR", VMCS.HOST_DS_SELECTOR],
    ["HOST_FS_SELECTOR", VMCS.HOST_FS_SELECTOR],
    ["HOST_GS_SELECTOR", VMCS.HOST_GS_SELECTOR],
    ["HOST_TR_SELECTOR", VMCS.HOST_TR_SELECTOR],
  ] as const;
  for (const [name, f] of selectors) if (v.read(f) & 7) return `${name} must have RPL 0 and TI 0`;
  if (v.read(VMCS.HOST_CS_SELECTOR) === 0) return "HOST_CS_SELECTOR must not be null";
  if (v.read(VMCS.HOST_TR_SELECTOR) === 0) return "HOST_TR_SELECTOR must not be null";
  if (v.read(VMCS.HOST_SS_SELECTOR) === 0) return "HOST_SS_SELECTOR must not be null (32-bit host)";
  return null;
}

/** Reserved access-rights bits and the granularity rule, for CS and every usable register (27.3.1.2). */
function arLayoutProblem(name: string, ar: number, limit: number): string | null {
  if (ar & 0xf00) return `guest ${name} access-rights reserved bits 11:8 must be 0`;
  if (ar & 0xfffe0000) return `guest ${name} access-rights reserved bits 31:17 must be 0`;
  if ((limit & 0xfff) !== 0xfff && ar & 0x8000) return `guest ${name}.G must be 0 when limit bits 11:0 are not all 1`;
  if (limit >>> 20 !== 0 && !(ar & 0x8000)) return `guest ${name}.G must be 1 when limit bits 31:20 are not all 0`;
  return null;
}

const UNUSABLE = 0x10000;
const dplOf = (ar: number) => (ar >>> 5) & 3;

/** 27.3.1.2: segment registers (protected mode; vmxlab has no virtual-8086 or IA-32e guests). */
function checkGuestSegments(v: VmcsAccess, unrestricted: boolean): string | null {
  const csSel = v.read(VMCS.GUEST_CS_SELECTOR);
  const ssSel = v.read(VMCS.GUEST_SS_SELECTOR);
  const csAr = v.read(VMCS.GUEST_CS_AR_BYTES);
  const ssAr = v.read(VMCS.GUEST_SS_AR_BYTES);
  const csType = csAr & 0xf;
  // ---- selectors ----
  if (v.read(VMCS.GUEST_TR_SELECTOR) & 4) return "guest TR selector must reference the GDT (TI = 0)";
  const ldtrAr = v.read(VMCS.GUEST_LDTR_AR_BYTES);
  if (!(ldtrAr & UNUSABLE) && v.read(VMCS.GUEST_LDTR_SELECTOR) & 4) {
    return "a usable guest LDTR selector must reference the GDT (TI = 0)";
  }
  if (!unrestricted && (ssSel & 3) !== (csSel & 3)) return "guest SS.RPL must equal CS.RPL";
  // ---- CS ----
  if (csAr & UNUSABLE) return "guest CS must be usable";
  const csTypes = unrestricted ? [3, 9, 11, 13, 15] : [9, 11, 13, 15];
  if (!csTypes.includes(csType)) {
    return `guest CS type ${csType} must be an accessed code segment (9, 11, 13, 15${unrestricted ? ", or 3" : ""})`;
  }
  if (!(csAr & 0x10)) return "guest CS.S must be 1";
  if (csType === 3 && dplOf(csAr) !== 0) return "guest CS.DPL must be 0 when CS type is 3";
  if ((csType === 9 || csType === 11) && dplOf(csAr) !== dplOf(ssAr)) {
    return "guest CS.DPL must equal SS.DPL for a non-conforming code segment";
  }
  if ((csType === 13 || csType === 15) && dplOf(csAr) > dplOf(ssAr)) {
    return "guest CS.DPL must not exceed SS.DPL for a conforming code segment";
  }
  if (!(csAr & 0x80)) return "guest CS must be present";
  const csLayout = arLayoutProblem("CS", csAr, v.read(VMCS.GUEST_CS_LIMIT));
  if (csLayout) return csLayout;
  // ---- SS ----
  if (!unrestricted && dplOf(ssAr) !== (ssSel & 3)) return "guest SS.DPL must equal SS.RPL";
  if (csType === 3 && dplOf(ssAr) !== 0) return "guest SS.DPL must be 0 when CS type is 3";
  if (!(ssAr & UNUSABLE)) {
    const type = ssAr & 0xf;
    if (type !== 3 && type !== 7) return "guest SS must be a read/write accessed data segment (type 3 or 7)";
    if (!(ssAr & 0x10)) return "guest SS.S must be 1";
    if (!(ssAr & 0x80)) return "guest SS must be present";
    const layout = arLayoutProblem("SS", ssAr, v.read(VMCS.GUEST_SS_LIMIT));
    if (layout) return layout;
  }
  // ---- DS, ES, FS, GS ----
  const data = [
    ["DS", VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_AR_BYTES, VMCS.GUEST_DS_LIMIT],
    ["ES", VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_AR_BYTES, VMCS.GUEST_ES_LIMIT],
    ["FS", VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_AR_BYTES, VMCS.GUEST_FS_LIMIT],
    ["GS", VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_AR_BYTES, VMCS.GUEST_GS_LIMIT],
  ] as const;
  for (const [name, selField, arField, limitField] of data) {
    const ar = v.read(arField);
    if (ar & UNUSABLE) continue;
    const type = ar & 0xf;
    if (!(type & 1)) return `guest ${name} must be accessed (type bit 0 = 1)`;
    if (type & 8 && !(type & 2)) return `guest ${name}: a code segment must be readable`;
    if (!(ar & 0x10)) return `guest ${name}.S must be 1`;
    if (!unrestricted && type <= 11 && dplOf(ar) < (v.read(selField) & 3)) {
      return `guest ${name}.DPL must not be less than its RPL`;
    }
    if (!(ar & 0x80)) return `guest ${name} must be present`;
    const layout = arLayoutProblem(name, ar, v.read(limitField));
    if (layout) return layout;
  }
  // ---- TR ----
  const trAr = v.read(VMCS.GUEST_TR_AR_BYTES);
  // The SDM also allows type 3 (16-bit busy TSS); vmxlab has only 32-bit TSSs.
  if (trAr & UNUSABLE || (trAr & 0xf) !== 11) return "guest TR must be a usable busy 32-bit TSS (type 11)";
  if (trAr & 0x10) return "guest TR.S must be 0";
  if (!(trAr & 0x80)) return "guest TR must be present";
  const trLayout = arLayoutProblem("TR", trAr, v.read(VMCS.GUEST_TR_LIMIT));
  if (trLayout) return trLayout;
  // ---- LDTR ----
  if (!(ldtrAr & UNUSABLE)) {
    if ((ldtrAr & 0xf) !== 2) return "a usable guest LDTR must have type 2 (LDT)";
    if (ldtrAr & 0x10) return "guest LDTR.S must be 0";
    if (!(ldtrAr & 0x80)) return "a usable guest LDTR must be present";
    const layout = arLayoutProblem("LDTR", ldtrAr, v.read(VMCS.GUEST_LDTR_LIMIT));
    if (layout) return layout;
  }
  return null;
}

/** 27.3.1: guest-state area. Failure: VM exit with reason 33 | bit 31 ("invalid guest state"). */
export function checkGuestState(vmx: Vmx, v: VmcsAccess): string | null {
  const proc = v.read(VMCS.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = proc & C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS ? v.read(VMCS.SECONDARY_VM_EXEC_CONTROL) : 0;
  const unrestricted = (proc2 & C.SECONDARY_EXEC_UNRESTRICTED_GUEST) !== 0;
  // ---- 27.3.1.1 control registers ----
  const cr0 = v.read(VMCS.GUEST_CR0);
  const cr4 = v.read(VMCS.GUEST_CR4);
  const fixed0 = unrestricted ? CR0_FIXED0 & ~(CR0_PE | CR0_PG) : CR0_FIXED0;
  if ((cr0 & fixed0) >>> 0 !== fixed0 >>> 0 || (cr0 & ~CR0_FIXED1) !== 0)
    return `GUEST_CR0 ${hex(cr0)} violates the fixed bits`;
  if (cr0 & CR0_PG && !(cr0 & CR0_PE)) return "GUEST_CR0.PG = 1 requires PE = 1";
  // vmxlab models no real mode: even an unrestricted guest runs with CR0.PE = 1.
  if (!(cr0 & CR0_PE)) return "GUEST_CR0.PE must be 1 (vmxlab has no real mode)";
  if ((cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cr4 & ~CR4_FIXED1) !== 0)
    return `GUEST_CR4 ${hex(cr4)} violates the fixed bits`;
  // ---- 27.3.1.2 segment registers ----
  const segments = checkGuestSegments(v, unrestricted);
  if (segments) return segments;
  // ---- 27.3.1.3 descriptor-table registers ----
  if (v.read(VMCS.GUEST_GDTR_LIMIT) > 0xffff || v.read(VMCS.GUEST_IDTR_LIMIT) > 0xffff) {
    return "guest GDTR/IDTR limits must fit in 16 bits";
  }
  // ---- 27.3.1.4 RFLAGS ----
  const rflags = v.read(VMCS.GUEST_RFLAGS);
  if (!(rflags & 2) || rflags & 0xffc08028)
    return "GUEST_RFLAGS reserved bits are wrong (bit 1 must be 1; 3, 5, 15, 22-31 must be 0)";
  if (rflags & (1 << 17)) return "GUEST_RFLAGS.VM must be 0 (vmxlab has no virtual-8086 mode)";
  const info = v.read(VMCS.VM_ENTRY_INTR_INFO_FIELD);
  const injecting = (info & C.INTR_INFO_VALID_MASK) !== 0;
  const injectType = (info >>> 8) & 7;
  if (injecting && injectType === C.INTR_TYPE_EXT_INTR && !(rflags & IF)) {
    return "injecting an external interrupt requires GUEST_RFLAGS.IF = 1";
  }
  // ---- 27.3.1.5 non-register state ----
  const activity = v.read(VMCS.GUEST_ACTIVITY_STATE);
  const intr = v.read(VMCS.GUEST_INTERRUPTIBILITY_INFO);
  const shadow = (intr & (C.GUEST_INTR_STATE_STI | C.GUEST_INTR_STATE_MOV_SS)) !== 0;
  if (activity > C.GUEST_ACTIVITY_HLT) return `guest activity state ${activity} is not supported (0 active, 1 HLT)`;
  if (activity === C.GUEST_ACTIVITY_HLT) {
    if (dplOf(v.read(VMCS.GUEST_SS_AR_BYTES)) !== 0) return "activity state HLT requires SS.DPL = 0";
    if (shadow) return "activity state HLT is not allowed with blocking by STI or MOV SS";
    const vector = info & 0xff;
    const wakes =
      injectType === C.INTR_TYPE_EXT_INTR ||
      injectType === C.INTR_TYPE_NMI_INTR ||
      (injectType === C.INTR_TYPE_HARD_EXCEPTION && (vector === 1 || vector === 18));
    if (injecting && !wakes) return "in the HLT state only external interrupts, NMIs, #DB and #MC can be injected";
  }
  if (intr & 0xffffffe0) return "guest interruptibility reserved bits 31:5 are set";
  if (intr & 0x10) return "guest interruptibility bit 4 (enclave interruption) needs SGX";
  if (intr & 4) return "guest interruptibility bit 2 (blocking by SMI) requires SMM";
  if ((intr & 3) === 3) return "blocking by STI and by MOV SS cannot both be set";
  if (intr & C.GUEST_INTR_STATE_STI && !(rflags & IF)) return "blocking by STI requires RFLAGS.IF = 1";
  if (injecting && injectType === C.INTR_TYPE_EXT_INTR && intr & 3) {
    return "injecting an external interrupt requires no blocking by STI or MOV SS";
  }
  if (injecting && injectType === C.INTR_TYPE_NMI_INTR && intr & C.GUEST_INTR_STATE_MOV_SS) {
    return "injecting an NMI requires no blocking by MOV SS";
  }
  const pending = v.read(VMCS.GUEST_PENDING_DBG_EXCEPTIONS);
  if (pending & 0xfffeaff0) return "guest pending debug exceptions reserved bits (11:4, 13, 15, 31:17) are set";
  if (shadow || activity === C.GUEST_ACTIVITY_HLT) {
    // IA32_DEBUGCTL.BTF is 0 (vmxlab has no guest IA32_DEBUGCTL field): BS must equal RFLAGS.TF.
    if (Boolean(pending & 0x4000) !== Boolean(rflags & 0x100)) {
      return "pending debug exception BS must equal RFLAGS.TF with blocking by STI/MOV SS or in HLT";
    }
  }
  const linkLow = v.read(VMCS.VMCS_LINK_POINTER);
  const linkHigh = v.read(VMCS.VMCS_LINK_POINTER + 1);
  if (linkLow !== 0xffffffff || linkHigh !== 0xffffffff) {
    if (!physicalPageOk(vmx, linkLow, linkHigh)) return "the VMCS link pointer is not a 4 KiB-aligned page in memory";
    // Bit 31 must equal the "VMCS shadowing" control, which vmxlab does not support (always 0).
    if (vmx.cpu.mem.read32(linkLow) >>> 0 !== VMCS_REVISION_ID) {
      return "the VMCS link pointer must reference a region with the VMCS revision identifier (bit 31 clear)";
    }
    if (linkLow === vmx.currentVmcs) return "the VMCS link pointer must not be the current-VMCS pointer";
  }
  return null;
}
