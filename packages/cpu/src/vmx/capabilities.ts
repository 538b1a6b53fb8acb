// What vmxlab's VMX implements, in one place (like KVM's capabilities.h): the capability MSRs
// report exactly this, and VM entry checks controls against it (allowed-0 / allowed-1 settings).

import { CR4_PGE, CR4_PSE, CR4_SMEP, CR4_VMXE } from "../cpu/registers.js";
import * as C from "./controls.js";
import { HIGHEST_FIELD_INDEX } from "./vmcs-fields.js";

/** VMCS revision identifier (IA32_VMX_BASIC[30:0]). */
export const VMCS_REVISION_ID = 0x00000001;
/** IA32_VMX_MISC[4:0]: the preemption timer counts down every 2^5 = 32 TSC cycles. */
export const PREEMPTION_TIMER_RATE = 5;
/** CR3-target values supported (IA32_VMX_MISC[24:16]). */
export const CR3_TARGET_COUNT_MAX = 4;

export const MSR_IA32_VMX_BASIC = 0x480;
export const MSR_IA32_VMX_PINBASED_CTLS = 0x481;
export const MSR_IA32_VMX_PROCBASED_CTLS = 0x482;
export const MSR_IA32_VMX_EXIT_CTLS = 0x483;
export const MSR_IA32_VMX_ENTRY_CTLS = 0x484;
export const MSR_IA32_VMX_MISC = 0x485;
export const MSR_IA32_VMX_CR0_FIXED0 = 0x486;
export const MSR_IA32_VMX_CR0_FIXED1 = 0x487;
export const MSR_IA32_VMX_CR4_FIXED0 = 0x488;
export const MSR_IA32_VMX_CR4_FIXED1 = 0x489;
export const MSR_IA32_VMX_VMCS_ENUM = 0x48a;
export const MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b;
export const MSR_IA32_VMX_EPT_VPID_CAP = 0x48c;
export const MSR_IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
export const MSR_IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e;
export const MSR_IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
export const MSR_IA32_VMX_TRUE_ENTRY_CTLS = 0x490;

/** A control word's allowed settings: bits that must be 1 (allowed-0 = 1) and bits that may be 1. */
export interface AllowedSettings {
  mustBeOne: number;
  mayBeOne: number;
}

const PIN_DEFAULT1 = 0x16;
const PROC_DEFAULT1 = 0x0401e172;
const EXIT_DEFAULT1 = 0x00036dff;
const ENTRY_DEFAULT1 = 0x000011ff;

/** Controls checked at VM entry: the TRUE_* settings (bits that are default-1 only in the legacy MSRs may be 0). */
export const PIN_CONTROLS: AllowedSettings = {
  mustBeOne: PIN_DEFAULT1,
  mayBeOne: PIN_DEFAULT1 | C.PIN_BASED_EXT_INTR_MASK | C.PIN_BASED_NMI_EXITING | C.PIN_BASED_VMX_PREEMPTION_TIMER,
};
export const PROC_CONTROLS: AllowedSettings = {
  mustBeOne: PROC_DEFAULT1 & ~(C.CPU_BASED_CR3_LOAD_EXITING | C.CPU_BASED_CR3_STORE_EXITING),
  mayBeOne:
    PROC_DEFAULT1 |
    C.CPU_BASED_INTR_WINDOW_EXITING |
    C.CPU_BASED_USE_TSC_OFFSETTING |
    C.CPU_BASED_HLT_EXITING |
    C.CPU_BASED_INVLPG_EXITING |
    C.CPU_BASED_RDTSC_EXITING |
    C.CPU_BASED_CR3_LOAD_EXITING |
    C.CPU_BASED_CR3_STORE_EXITING |
    C.CPU_BASED_UNCOND_IO_EXITING |
    C.CPU_BASED_USE_IO_BITMAPS |
    C.CPU_BASED_USE_MSR_BITMAPS |
    C.CPU_BASED_PAUSE_EXITING |
    C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
};
export const SECONDARY_CONTROLS: AllowedSettings = {
  mustBeOne: 0,
  mayBeOne: C.SECONDARY_EXEC_ENABLE_EPT | C.SECONDARY_EXEC_ENABLE_VPID | C.SECONDARY_EXEC_UNRESTRICTED_GUEST,
};
export const EXIT_CONTROLS: AllowedSettings = {
  mustBeOne: EXIT_DEFAULT1 & ~C.VM_EXIT_SAVE_DEBUG_CONTROLS,
  mayBeOne: EXIT_DEFAULT1 | C.VM_EXIT_ACK_INTR_ON_EXIT | C.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER,
};
export const ENTRY_CONTROLS: AllowedSettings = {
  mustBeOne: ENTRY_DEFAULT1 & ~C.VM_ENTRY_LOAD_DEBUG_CONTROLS,
  mayBeOne: ENTRY_DEFAULT1,
};

/** CR0 bits that must be 1 in VMX operation (PE, NE, PG) and CR4 bits (VMXE). */
export const CR0_FIXED0 = 0x80000021;
export const CR0_FIXED1 = 0xffffffff;
export const CR4_FIXED0 = CR4_VMXE;
export const CR4_FIXED1 =
  0x1 | 0x2 | 0x4 | 0x8 | CR4_PSE | 0x40 | CR4_PGE | 0x100 | 0x200 | 0x400 | CR4_VMXE | CR4_SMEP;

// IA32_VMX_EPT_VPID_CAP bits.
export const EPT_CAP_EXECUTE_ONLY = 1 << 0;
export const EPT_CAP_PAGE_WALK_4 = 1 << 6;
export const EPT_CAP_UC = 1 << 8;
export const EPT_CAP_WB = 1 << 14;
export const EPT_CAP_2MB_PAGE = 1 << 16;
export const EPT_CAP_INVEPT = 1 << 20;
export const EPT_CAP_AD_BITS = 1 << 21;
export const EPT_CAP_INVEPT_SINGLE_CONTEXT = 1 << 25;
export const EPT_CAP_INVEPT_ALL_CONTEXT = 1 << 26;
/** High dword: VPID capabilities. */
export const VPID_CAP_INVVPID = 1 << 0;
export const VPID_CAP_INDIVIDUAL_ADDR = 1 << 8;
export const VPID_CAP_SINGLE_CONTEXT = 1 << 9;
export const VPID_CAP_ALL_CONTEXT = 1 << 10;
export const VPID_CAP_SINGLE_CONTEXT_RETAIN_GLOBALS = 1 << 11;

const EPT_CAP_LOW =
  EPT_CAP_EXECUTE_ONLY |
  EPT_CAP_PAGE_WALK_4 |
  EPT_CAP_UC |
  EPT_CAP_WB |
  EPT_CAP_2MB_PAGE |
  EPT_CAP_INVEPT |
  EPT_CAP_AD_BITS |
  EPT_CAP_INVEPT_SINGLE_CONTEXT |
  EPT_CAP_INVEPT_ALL_CONTEXT;
const VPID_CAP_HIGH =
  VPID_CAP_INVVPID |
  VPID_CAP_INDIVIDUAL_ADDR |
  VPID_CAP_SINGLE_CONTEXT |
  VPID_CAP_ALL_CONTEXT |
  VPID_CAP_SINGLE_CONTEXT_RETAIN_GLOBALS;

/** Every capability MSR as [low, high] dwords. */
export function capabilityMsrs(): Map<number, [number, number]> {
  const ctl = (legacyMustBeOne: number, s: AllowedSettings): [number, number] => [
    legacyMustBeOne >>> 0,
    s.mayBeOne >>> 0,
  ];
  // IA32_VMX_BASIC: revision, VMCS size 4096 (bits 44:32), 32-bit physical addresses (bit 48),
  // write-back VMCS memory (bits 53:50 = 6), INS/OUTS info (bit 54), TRUE controls (bit 55).
  const basicHigh = 4096 | (1 << 16) | (6 << 18) | (1 << 22) | (1 << 23);
  // IA32_VMX_MISC: timer rate, activity state HLT (bit 6), CR3-target count, 512 MSR-list entries.
  const misc = PREEMPTION_TIMER_RATE | (1 << 6) | (CR3_TARGET_COUNT_MAX << 16);
  return new Map<number, [number, number]>([
    [MSR_IA32_VMX_BASIC, [VMCS_REVISION_ID, basicHigh]],
    [MSR_IA32_VMX_PINBASED_CTLS, ctl(PIN_DEFAULT1, PIN_CONTROLS)],
    [MSR_IA32_VMX_PROCBASED_CTLS, ctl(PROC_DEFAULT1, PROC_CONTROLS)],
    [MSR_IA32_VMX_EXIT_CTLS, ctl(EXIT_DEFAULT1, EXIT_CONTROLS)],
    [MSR_IA32_VMX_ENTRY_CTLS, ctl(ENTRY_DEFAULT1, ENTRY_CONTROLS)],
    [MSR_IA32_VMX_MISC, [misc, 0]],
    [MSR_IA32_VMX_CR0_FIXED0, [CR0_FIXED0 >>> 0, 0]],
    [MSR_IA32_VMX_CR0_FIXED1, [CR0_FIXED1 >>> 0, 0]],
    [MSR_IA32_VMX_CR4_FIXED0, [CR4_FIXED0, 0]],
    [MSR_IA32_VMX_CR4_FIXED1, [CR4_FIXED1 >>> 0, 0]],
    [MSR_IA32_VMX_VMCS_ENUM, [HIGHEST_FIELD_INDEX << 1, 0]],
    [MSR_IA32_VMX_PROCBASED_CTLS2, [SECONDARY_CONTROLS.mustBeOne, SECONDARY_CONTROLS.mayBeOne]],
    [MSR_IA32_VMX_EPT_VPID_CAP, [EPT_CAP_LOW >>> 0, VPID_CAP_HIGH]],
    [MSR_IA32_VMX_TRUE_PINBASED_CTLS, [PIN_CONTROLS.mustBeOne, PIN_CONTROLS.mayBeOne >>> 0]],
    [MSR_IA32_VMX_TRUE_PROCBASED_CTLS, [PROC_CONTROLS.mustBeOne, PROC_CONTROLS.mayBeOne >>> 0]],
    [MSR_IA32_VMX_TRUE_EXIT_CTLS, [EXIT_CONTROLS.mustBeOne, EXIT_CONTROLS.mayBeOne >>> 0]],
    [MSR_IA32_VMX_TRUE_ENTRY_CTLS, [ENTRY_CONTROLS.mustBeOne, ENTRY_CONTROLS.mayBeOne >>> 0]],
  ]);
}

/** Whether a control word respects its allowed settings. */
export function controlsAllowed(value: number, s: AllowedSettings): boolean {
  return (value & s.mustBeOne) === s.mustBeOne && (value & ~s.mayBeOne) === 0;
}
