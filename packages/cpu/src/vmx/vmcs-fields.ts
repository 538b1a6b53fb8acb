// THE table of VMCS fields: every field vmxlab implements, with Intel's encoding and KVM's name
// (arch/x86/include/asm/vmx.h, enum vmcs_field). VMREAD/VMWRITE, the VM-entry checks, VM exits and
// every viewer (debugger, traces) take field facts from here and nowhere else.
//
// An encoding (Intel SDM Vol. 3C, Appendix B) packs: bit 0 access type (1 = high half of a 64-bit
// field), bits 9:1 index, bits 11:10 type (0 control, 1 read-only exit information, 2 guest state,
// 3 host state), bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width).

import * as SB from "../cpu/system-bank.js";

export type FieldWidth = 16 | 32 | 64 | "natural";
export type FieldType = "control" | "exit-info" | "guest" | "host";

export interface VmcsField {
  name: string;
  encoding: number;
  width: FieldWidth;
  type: FieldType;
  /** Viewer group (debugger `vmcs guest|host|controls|exit`). */
  group: "controls" | "exit" | "guest" | "host";
  description: string;
}

const WIDTHS: readonly FieldWidth[] = [16, 64, 32, "natural"];
const TYPES: readonly FieldType[] = ["control", "exit-info", "guest", "host"];

export function encodingWidth(encoding: number): FieldWidth {
  return WIDTHS[(encoding >>> 13) & 3]!;
}

export function encodingType(encoding: number): FieldType {
  return TYPES[(encoding >>> 10) & 3]!;
}

/** True for the "high" access encoding of a 64-bit field (bit 0 set). */
export function isHighAccess(encoding: number): boolean {
  return (encoding & 1) === 1;
}

const FIELDS = [
  // ---- 16-bit control ----
  ["VIRTUAL_PROCESSOR_ID", 0x0000, "VPID tagging guest TLB entries (enable VPID)"],
  // ---- 16-bit guest state ----
  ["GUEST_ES_SELECTOR", 0x0800, "guest ES selector"],
  ["GUEST_CS_SELECTOR", 0x0802, "guest CS selector"],
  ["GUEST_SS_SELECTOR", 0x0804, "guest SS selector"],
  ["GUEST_DS_SELECTOR", 0x0806, "guest DS selector"],
  ["GUEST_FS_SELECTOR", 0x0808, "guest FS selector"],
  ["GUEST_GS_SELECTOR", 0x080a, "guest GS selector"],
  ["GUEST_LDTR_SELECTOR", 0x080c, "guest LDTR selector"],
  ["GUEST_TR_SELECTOR", 0x080e, "guest TR selector"],
  // ---- 16-bit host state ----
  ["HOST_ES_SELECTOR", 0x0c00, "host ES selector"],
  ["HOST_CS_SELECTOR", 0x0c02, "host CS selector"],
  ["HOST_SS_SELECTOR", 0x0c04, "host SS selector"],
  ["HOST_DS_SELECTOR", 0x0c06, "host DS selector"],
  ["HOST_FS_SELECTOR", 0x0c08, "host FS selector"],
  ["HOST_GS_SELECTOR", 0x0c0a, "host GS selector"],
  ["HOST_TR_SELECTOR", 0x0c0c, "host TR selector"],
  // ---- 64-bit control ----
  ["IO_BITMAP_A", 0x2000, "I/O bitmap A (ports 0x0000-0x7FFF), physical address"],
  ["IO_BITMAP_B", 0x2002, "I/O bitmap B (ports 0x8000-0xFFFF), physical address"],
  ["MSR_BITMAP", 0x2004, "MSR bitmaps page, physical address"],
  ["VM_EXIT_MSR_STORE_ADDR", 0x2006, "VM-exit MSR-store list"],
  ["VM_EXIT_MSR_LOAD_ADDR", 0x2008, "VM-exit MSR-load list"],
  ["VM_ENTRY_MSR_LOAD_ADDR", 0x200a, "VM-entry MSR-load list"],
  ["TSC_OFFSET", 0x2010, "added to the TSC in the guest (use TSC offsetting)"],
  ["EPT_POINTER", 0x201a, "EPTP: EPT PML4 address, memory type, walk length, A/D enable"],
  // ---- 64-bit read-only ----
  ["GUEST_PHYSICAL_ADDRESS", 0x2400, "guest-physical address of an EPT violation or misconfiguration"],
  // ---- 64-bit guest state ----
  ["VMCS_LINK_POINTER", 0x2800, "VMCS link pointer (must be all ones: no shadow VMCS)"],
  // ---- 32-bit control ----
  ["PIN_BASED_VM_EXEC_CONTROL", 0x4000, "pin-based VM-execution controls"],
  ["CPU_BASED_VM_EXEC_CONTROL", 0x4002, "primary processor-based VM-execution controls"],
  ["EXCEPTION_BITMAP", 0x4004, "exceptions that cause VM exits (bit n = vector n)"],
  ["PAGE_FAULT_ERROR_CODE_MASK", 0x4006, "#PF error-code mask"],
  ["PAGE_FAULT_ERROR_CODE_MATCH", 0x4008, "#PF error-code match"],
  ["CR3_TARGET_COUNT", 0x400a, "number of CR3-target values (0-4)"],
  ["VM_EXIT_CONTROLS", 0x400c, "VM-exit controls"],
  ["VM_EXIT_MSR_STORE_COUNT", 0x400e, "VM-exit MSR-store count"],
  ["VM_EXIT_MSR_LOAD_COUNT", 0x4010, "VM-exit MSR-load count"],
  ["VM_ENTRY_CONTROLS", 0x4012, "VM-entry controls"],
  ["VM_ENTRY_MSR_LOAD_COUNT", 0x4014, "VM-entry MSR-load count"],
  ["VM_ENTRY_INTR_INFO_FIELD", 0x4016, "event to inject on VM entry"],
  ["VM_ENTRY_EXCEPTION_ERROR_CODE", 0x4018, "error code of the injected exception"],
  ["VM_ENTRY_INSTRUCTION_LEN", 0x401a, "length of the injected software interrupt/exception"],
  ["SECONDARY_VM_EXEC_CONTROL", 0x401e, "secondary processor-based VM-execution controls"],
  // ---- 32-bit read-only ----
  ["VM_INSTRUCTION_ERROR", 0x4400, "VM-instruction error number of the last VMfailValid"],
  ["VM_EXIT_REASON", 0x4402, "exit reason: basic reason in bits 15:0, bit 31 = VM-entry failure"],
  ["VM_EXIT_INTR_INFO", 0x4404, "VM-exit interruption information"],
  ["VM_EXIT_INTR_ERROR_CODE", 0x4406, "VM-exit interruption error code"],
  ["IDT_VECTORING_INFO_FIELD", 0x4408, "event being delivered when the exit happened"],
  ["IDT_VECTORING_ERROR_CODE", 0x440a, "its error code"],
  ["VM_EXIT_INSTRUCTION_LEN", 0x440c, "length of the instruction that exited"],
  ["VMX_INSTRUCTION_INFO", 0x440e, "operands of the VMX/descriptor instruction that exited"],
  // ---- 32-bit guest state ----
  ["GUEST_ES_LIMIT", 0x4800, "guest ES limit"],
  ["GUEST_CS_LIMIT", 0x4802, "guest CS limit"],
  ["GUEST_SS_LIMIT", 0x4804, "guest SS limit"],
  ["GUEST_DS_LIMIT", 0x4806, "guest DS limit"],
  ["GUEST_FS_LIMIT", 0x4808, "guest FS limit"],
  ["GUEST_GS_LIMIT", 0x480a, "guest GS limit"],
  ["GUEST_LDTR_LIMIT", 0x480c, "guest LDTR limit"],
  ["GUEST_TR_LIMIT", 0x480e, "guest TR limit"],
  ["GUEST_GDTR_LIMIT", 0x4810, "guest GDTR limit"],
  ["GUEST_IDTR_LIMIT", 0x4812, "guest IDTR limit"],
  ["GUEST_ES_AR_BYTES", 0x4814, "guest ES access rights"],
  ["GUEST_CS_AR_BYTES", 0x4816, "guest CS access rights"],
  ["GUEST_SS_AR_BYTES", 0x4818, "guest SS access rights"],
  ["GUEST_DS_AR_BYTES", 0x481a, "guest DS access rights"],
  ["GUEST_FS_AR_BYTES", 0x481c, "guest FS access rights"],
  ["GUEST_GS_AR_BYTES", 0x481e, "guest GS access rights"],
  ["GUEST_LDTR_AR_BYTES", 0x4820, "guest LDTR access rights"],
  ["GUEST_TR_AR_BYTES", 0x4822, "guest TR access rights"],
  ["GUEST_INTERRUPTIBILITY_INFO", 0x4824, "blocking by STI (bit 0), MOV SS (1), NMI (3)"],
  ["GUEST_ACTIVITY_STATE", 0x4826, "0 active, 1 HLT"],
  ["GUEST_SYSENTER_CS", 0x482a, "guest IA32_SYSENTER_CS"],
  ["VMX_PREEMPTION_TIMER_VALUE", 0x482e, "VMX-preemption timer count-down value"],
  // ---- 32-bit host state ----
  ["HOST_IA32_SYSENTER_CS", 0x4c00, "host IA32_SYSENTER_CS"],
  // ---- natural-width control ----
  ["CR0_GUEST_HOST_MASK", 0x6000, "CR0 bits owned by the host"],
  ["CR4_GUEST_HOST_MASK", 0x6002, "CR4 bits owned by the host"],
  ["CR0_READ_SHADOW", 0x6004, "what the guest reads for host-owned CR0 bits"],
  ["CR4_READ_SHADOW", 0x6006, "what the guest reads for host-owned CR4 bits"],
  ["CR3_TARGET_VALUE0", 0x6008, "CR3-target value 0"],
  ["CR3_TARGET_VALUE1", 0x600a, "CR3-target value 1"],
  ["CR3_TARGET_VALUE2", 0x600c, "CR3-target value 2"],
  ["CR3_TARGET_VALUE3", 0x600e, "CR3-target value 3"],
  // ---- natural-width read-only ----
  ["EXIT_QUALIFICATION", 0x6400, "exit qualification (layout depends on the exit reason)"],
  ["GUEST_LINEAR_ADDRESS", 0x640a, "guest-linear address of an EPT violation or INS/OUTS"],
  // ---- natural-width guest state ----
  ["GUEST_CR0", 0x6800, "guest CR0"],
  ["GUEST_CR3", 0x6802, "guest CR3"],
  ["GUEST_CR4", 0x6804, "guest CR4"],
  ["GUEST_ES_BASE", 0x6806, "guest ES base"],
  ["GUEST_CS_BASE", 0x6808, "guest CS base"],
  ["GUEST_SS_BASE", 0x680a, "guest SS base"],
  ["GUEST_DS_BASE", 0x680c, "guest DS base"],
  ["GUEST_FS_BASE", 0x680e, "guest FS base"],
  ["GUEST_GS_BASE", 0x6810, "guest GS base"],
  ["GUEST_LDTR_BASE", 0x6812, "guest LDTR base"],
  ["GUEST_TR_BASE", 0x6814, "guest TR base"],
  ["GUEST_GDTR_BASE", 0x6816, "guest GDTR base"],
  ["GUEST_IDTR_BASE", 0x6818, "guest IDTR base"],
  ["GUEST_DR7", 0x681a, "guest DR7"],
  ["GUEST_RSP", 0x681c, "guest ESP"],
  ["GUEST_RIP", 0x681e, "guest EIP"],
  ["GUEST_RFLAGS", 0x6820, "guest EFLAGS"],
  ["GUEST_PENDING_DBG_EXCEPTIONS", 0x6822, "pending debug exceptions"],
  ["GUEST_SYSENTER_ESP", 0x6824, "guest IA32_SYSENTER_ESP"],
  ["GUEST_SYSENTER_EIP", 0x6826, "guest IA32_SYSENTER_EIP"],
  // ---- natural-width host state ----
  ["HOST_CR0", 0x6c00, "host CR0"],
  ["HOST_CR3", 0x6c02, "host CR3"],
  ["HOST_CR4", 0x6c04, "host CR4"],
  ["HOST_FS_BASE", 0x6c06, "host FS base"],
  ["HOST_GS_BASE", 0x6c08, "host GS base"],
  ["HOST_TR_BASE", 0x6c0a, "host TR base"],
  ["HOST_GDTR_BASE", 0x6c0c, "host GDTR base"],
  ["HOST_IDTR_BASE", 0x6c0e, "host IDTR base"],
  ["HOST_IA32_SYSENTER_ESP", 0x6c10, "host IA32_SYSENTER_ESP"],
  ["HOST_IA32_SYSENTER_EIP", 0x6c12, "host IA32_SYSENTER_EIP"],
  ["HOST_RSP", 0x6c14, "host ESP after a VM exit"],
  ["HOST_RIP", 0x6c16, "host EIP after a VM exit"],
] as const;

export type VmcsFieldName = (typeof FIELDS)[number][0];

export const VMCS_FIELDS: readonly VmcsField[] = FIELDS.map(([name, encoding, description]) => {
  const type = encodingType(encoding);
  return {
    name,
    encoding,
    width: encodingWidth(encoding),
    type,
    group: type === "control" ? "controls" : type === "exit-info" ? "exit" : type,
    description,
  };
});

/** Field by its (full, bit 0 clear) encoding. */
const BY_ENCODING = new Map<number, { field: VmcsField; index: number }>(
  VMCS_FIELDS.map((field, index) => [field.encoding, { field, index }]),
);
const BY_NAME = new Map<string, VmcsField>(VMCS_FIELDS.map((f) => [f.name, f]));

/** Looks a field up by any of its encodings (the high encoding of a 64-bit field included). */
export function fieldByEncoding(encoding: number): { field: VmcsField; index: number; high: boolean } | undefined {
  if (encoding >>> 0 > 0xffff || (encoding & 0x9000) !== 0) return undefined; // reserved bits (bochs: 0xffff9000)
  const high = isHighAccess(encoding);
  const entry = BY_ENCODING.get(encoding & ~1);
  if (!entry) return undefined;
  if (high && entry.field.width !== 64) return undefined;
  return { ...entry, high };
}

/**
 * The guest-state fields of the Cpu's system bank (cpu/system-bank.ts), in the bank's order: the VMCS
 * keeps them as one block of 32-bit words in that order, so VM entry loads them with one copy and VM
 * exit saves them with one (our layout: the SDM leaves the VMCS format to the implementation).
 */
export const GUEST_BANK_FIELDS: readonly VmcsFieldName[] = (() => {
  const bank: VmcsFieldName[] = [];
  (["ES", "CS", "SS", "DS", "FS", "GS"] as const).forEach((s, seg) => {
    bank[SB.SEG_SEL + seg] = `GUEST_${s}_SELECTOR`;
    bank[SB.SEG_BASE + seg] = `GUEST_${s}_BASE`;
    bank[SB.SEG_LIMIT + seg] = `GUEST_${s}_LIMIT`;
    bank[SB.SEG_AR + seg] = `GUEST_${s}_AR_BYTES`;
  });
  bank[SB.LDTR_SEL] = "GUEST_LDTR_SELECTOR";
  bank[SB.LDTR_AR] = "GUEST_LDTR_AR_BYTES";
  bank[SB.TR_SEL] = "GUEST_TR_SELECTOR";
  bank[SB.TR_BASE] = "GUEST_TR_BASE";
  bank[SB.TR_LIMIT] = "GUEST_TR_LIMIT";
  bank[SB.TR_AR] = "GUEST_TR_AR_BYTES";
  bank[SB.GDTR_BASE] = "GUEST_GDTR_BASE";
  bank[SB.GDTR_LIMIT] = "GUEST_GDTR_LIMIT";
  bank[SB.IDTR_BASE] = "GUEST_IDTR_BASE";
  bank[SB.IDTR_LIMIT] = "GUEST_IDTR_LIMIT";
  bank[SB.SYSENTER_CS] = "GUEST_SYSENTER_CS";
  bank[SB.SYSENTER_ESP] = "GUEST_SYSENTER_ESP";
  bank[SB.SYSENTER_EIP] = "GUEST_SYSENTER_EIP";
  bank[SB.LDTR_BASE] = "GUEST_LDTR_BASE";
  bank[SB.LDTR_LIMIT] = "GUEST_LDTR_LIMIT";
  if (Object.keys(bank).length !== SB.SYS_BANK_WORDS)
    throw new Error("vmcs-fields: guest bank misses system-bank words");
  return bank;
})();

/** Byte offset of that block in the field area: after the 64-bit slots of every field. */
export const GUEST_BANK_OFFSET = VMCS_FIELDS.length * 8;

/**
 * Direct lookup tables for VMREAD/VMWRITE (hot on every VM entry and exit): by encoding (below
 * 0x8000), the byte offset of the value inside the field area of a VMCS region (+4 for the high half
 * of a 64-bit field), or -1; and the mask of the field's width. Field i has the 64-bit slot at 8 * i,
 * except the fields of the guest bank, which have their word in the block at GUEST_BANK_OFFSET.
 */
export const FIELD_OFFSET = new Int32Array(0x8000).fill(-1);
export const FIELD_MASK = new Uint32Array(0x8000);
VMCS_FIELDS.forEach((f, index) => {
  const inBank = GUEST_BANK_FIELDS.indexOf(f.name as VmcsFieldName);
  FIELD_OFFSET[f.encoding] = inBank >= 0 ? GUEST_BANK_OFFSET + 4 * inBank : index * 8;
  FIELD_MASK[f.encoding] = f.width === 16 ? 0xffff : 0xffffffff;
  if (f.width === 64) {
    FIELD_OFFSET[f.encoding + 1] = index * 8 + 4;
    FIELD_MASK[f.encoding + 1] = 0xffffffff;
  }
});

/**
 * Where each field's value sits in a VMCS region, as an index into VmcsAccess.words (the high half
 * of a 64-bit field is the next word; GUEST_BANK_WORD starts the guest bank). VM entry and exit move dozens of fields each time: they index
 * the words directly, VMREAD/VMWRITE go through FIELD_OFFSET and its checks.
 */
export const VMCS_WORD = Object.fromEntries(
  VMCS_FIELDS.map((f) => [f.name, FIELD_OFFSET[f.encoding]! >>> 2]),
) as Record<VmcsFieldName, number>;

/** The guest bank's first word in VmcsAccess.words. */
export const GUEST_BANK_WORD = GUEST_BANK_OFFSET >>> 2;

export function fieldByName(name: string): VmcsField | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Encodings by name, for code: VMCS.GUEST_RIP === 0x681e. */
export const VMCS = Object.fromEntries(VMCS_FIELDS.map((f) => [f.name, f.encoding])) as Record<VmcsFieldName, number>;

/** The highest field index (bits 9:1) implemented: IA32_VMX_VMCS_ENUM reports it. */
export const HIGHEST_FIELD_INDEX = Math.max(...VMCS_FIELDS.map((f) => (f.encoding >>> 1) & 0x1ff));

/** Mask of a field's value by width (natural width is 32 bits on this 32-bit processor). */
export function widthMask(width: FieldWidth): number {
  return width === 16 ? 0xffff : 0xffffffff;
}
