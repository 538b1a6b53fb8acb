// The system state a VM entry loads and a VM exit saves and loads (Intel SDM Vol. 3C, 25.4.1 and 28.5):
// segment registers, LDTR, TR, GDTR, IDTR and the IA32_SYSENTER MSRs, kept in ONE bank of 32-bit words
// on the Cpu. The VMCS keeps its guest-state copy of these fields as a block in the same order
// (vmcs-fields.ts), so a VM entry or exit moves them with one typed-array copy instead of field by field.
// The Cpu's segSel/segBase/segLimit/segAr arrays are views of the bank and its scalar properties
// (gdtrBase, trSel, ...) accessors over it, so the rest of the code does not know.

/** First word of each segment-register array (indexed by ES..GS). */
export const SEG_SEL = 0;
export const SEG_BASE = 6;
export const SEG_LIMIT = 12;
export const SEG_AR = 18;
export const LDTR_SEL = 24;
export const LDTR_AR = 25;
export const TR_SEL = 26;
export const TR_BASE = 27;
export const TR_LIMIT = 28;
export const TR_AR = 29;
export const GDTR_BASE = 30;
export const GDTR_LIMIT = 31;
export const IDTR_BASE = 32;
export const IDTR_LIMIT = 33;
export const SYSENTER_CS = 34;
export const SYSENTER_ESP = 35;
export const SYSENTER_EIP = 36;
/**
 * LDTR base and limit come last: a VM exit loads everything before them from the host-state area
 * (SYS_HOST_WORDS) and leaves these two as they were (the SDM only makes LDTR unusable).
 */
export const LDTR_BASE = 37;
export const LDTR_LIMIT = 38;

export const SYS_BANK_WORDS = 39;
export const SYS_HOST_WORDS = 37;

/**
 * The views the Cpu works through over one bank's words. A bank lives either in the Cpu's own storage
 * (root operation and the bare machine) or in the guest-state area of the VMCS a VM entry loaded: in
 * VMX non-root operation the Cpu works on that area directly, so entry and exit repoint these views
 * (Cpu.useBank) instead of copying the words in and out.
 */
export interface SystemBankViews {
  /** The bank as signed words. */
  readonly sys: Int32Array;
  /** The same words unsigned (what the VMCS and the scalar accessors use). */
  readonly sysWords: Uint32Array;
  readonly segSel: Int32Array;
  readonly segBase: Int32Array;
  readonly segLimit: Int32Array;
  readonly segAr: Int32Array;
}

/** Views of the SYS_BANK_WORDS words at `byteOffset` of `buffer`. */
export function systemBankViews(buffer: ArrayBufferLike, byteOffset: number): SystemBankViews {
  const sys = new Int32Array(buffer, byteOffset, SYS_BANK_WORDS);
  return {
    sys,
    sysWords: new Uint32Array(buffer, byteOffset, SYS_BANK_WORDS),
    segSel: sys.subarray(SEG_SEL, SEG_SEL + 6),
    segBase: sys.subarray(SEG_BASE, SEG_BASE + 6),
    segLimit: sys.subarray(SEG_LIMIT, SEG_LIMIT + 6),
    segAr: sys.subarray(SEG_AR, SEG_AR + 6),
  };
}

/** A bank of its own at reset: every register 0 except the access rights of LDTR (unusable) and TR (busy 32-bit TSS). */
export function resetSystemBank(): SystemBankViews {
  const bank = systemBankViews(new ArrayBuffer(4 * SYS_BANK_WORDS), 0);
  bank.sys[LDTR_AR] = 0x10000;
  bank.sys[TR_AR] = 0x8b;
  return bank;
}
