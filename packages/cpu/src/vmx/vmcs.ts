// The VMCS lives in its 4 KiB region of physical memory (plain data: a snapshot of RAM is a snapshot
// of every VMCS). Our implementation-specific layout, as the SDM permits (Vol. 3C, 25.2):
//   offset 0: revision identifier (bits 30:0) | shadow-VMCS indicator (bit 31)
//   offset 4: VMX-abort indicator
//   offset 8: launch state (0 clear, 1 launched)
//   offset 16 + 8 * i: field i of VMCS_FIELDS, 64 bits little-endian, except
//   offset 16 + GUEST_BANK_OFFSET: the guest segment/descriptor-table/SYSENTER fields as one block of
//     32-bit words in the order of the Cpu's system bank (vmcs-fields.ts GUEST_BANK_FIELDS).
// Software must use VMREAD/VMWRITE; reading the region directly is undefined, as on hardware.

import { type SystemBankViews, systemBankViews } from "../cpu/system-bank.js";
import type { PhysicalMemory } from "../memory/physical.js";
import { FIELD_MASK, FIELD_OFFSET, GUEST_BANK_WORD, VMCS_FIELDS, widthMask } from "./vmcs-fields.js";

export const VMCS_ABORT_OFFSET = 4;
export const VMCS_LAUNCH_STATE_OFFSET = 8;
export const VMCS_FIELDS_OFFSET = 16;
export const VMCS_SIZE = 4096;

/** Fields the VM-entry checks never look at: writing them keeps an earlier successful check valid. */
const UNCHECKED_BY_ENTRY = new Uint8Array(0x8000);
for (const e of [
  0x681e, 0x681c, 0x482e, 0x4400, 0x4402, 0x4404, 0x4406, 0x4408, 0x440a, 0x440c, 0x440e, 0x6400, 0x640a, 0x2400,
  0x2401,
]) {
  UNCHECKED_BY_ENTRY[e] = 1;
}

/**
 * Typed access to one VMCS region (like KVM's vmcs_read16/32/64/l, by encoding), through a 32-bit view
 * of the region itself: the values stay in physical memory.
 */
export class VmcsAccess {
  /** The field area of the region as 32-bit words (two per field). */
  readonly words: Uint32Array;
  /**
   * The guest bank of the field area (vmcs-fields.ts GUEST_BANK_FIELDS), as the Cpu's views of a system
   * bank: in VMX non-root operation the Cpu works on these words directly (Cpu.useBank).
   */
  readonly guestBank: SystemBankViews;
  /** The header before it (revision, abort indicator, launch state), also as 32-bit words. */
  private readonly header: Uint32Array;
  /**
   * The VMCS passed the VM-entry checks and no field they examine was written since (processors cache
   * the same knowledge); the next entry skips re-checking. Reset by any such write.
   */
  verified = false;
  /**
   * What a VM exit loads into the Cpu's system bank (cpu/system-bank.ts), built from the host-state
   * fields at the first exit (Vmx.hostBank) and kept until a host-state field is written.
   */
  hostBank: Uint32Array | null = null;

  constructor(
    readonly mem: PhysicalMemory,
    readonly base: number,
  ) {
    this.words = new Uint32Array(mem.buffer, base + VMCS_FIELDS_OFFSET, (VMCS_SIZE - VMCS_FIELDS_OFFSET) >>> 2);
    this.guestBank = systemBankViews(mem.buffer, base + VMCS_FIELDS_OFFSET + 4 * GUEST_BANK_WORD);
    this.header = new Uint32Array(mem.buffer, base, VMCS_FIELDS_OFFSET >>> 2);
  }

  /** Index of a field's 32-bit word in `words`, or throws for an unsupported encoding. */
  private wordOf(encoding: number): number {
    const offset = encoding >= 0 && encoding < 0x8000 ? FIELD_OFFSET[encoding]! : -1;
    if (offset < 0) throw new Error(`unsupported VMCS field encoding 0x${encoding.toString(16)}`);
    return offset >>> 2;
  }

  /** Reads a field (32 bits at most: the low half of a 64-bit field, or its high half by the high encoding). */
  read(encoding: number): number {
    return (this.words[this.wordOf(encoding)]! & FIELD_MASK[encoding]!) >>> 0;
  }

  /**
   * Whether any of `mask`'s bits is set in a field. A control word with bit 31 set does not fit V8's small
   * integers: read() returns it as a heap number (an allocation) wherever the call is not inlined, and
   * testing a bit that way on every VM entry kept the garbage collector busy.
   */
  test(encoding: number, mask: number): boolean {
    return (this.words[this.wordOf(encoding)]! & mask) !== 0;
  }

  write(encoding: number, value: number): void {
    this.words[this.wordOf(encoding)] = value & FIELD_MASK[encoding]!;
    // Anything the VM-entry checks look at makes the next entry check again.
    if (UNCHECKED_BY_ENTRY[encoding] === 0) this.verified = false;
    if (((encoding >>> 10) & 3) === 3) this.hostBank = null;
  }

  /** A 64-bit field as a number (both halves). */
  read64(encoding: number): number {
    const w = this.wordOf(encoding & ~1);
    return this.words[w]! + this.words[w + 1]! * 0x1_0000_0000;
  }

  get revision(): number {
    return this.mem.read32(this.base) & 0x7fffffff;
  }

  get launched(): boolean {
    return this.header[VMCS_LAUNCH_STATE_OFFSET >>> 2] === 1;
  }

  set launched(on: boolean) {
    this.header[VMCS_LAUNCH_STATE_OFFSET >>> 2] = on ? 1 : 0;
  }

  /** Every field's current value, for viewers (by name). */
  dump(): { name: string; encoding: number; value: number; high?: number }[] {
    return VMCS_FIELDS.map((f) => {
      const offset = this.base + VMCS_FIELDS_OFFSET + FIELD_OFFSET[f.encoding]!;
      const value = (this.mem.read32(offset) & widthMask(f.width)) >>> 0;
      return f.width === 64
        ? { name: f.name, encoding: f.encoding, value, high: this.mem.read32(offset + 4) >>> 0 }
        : { name: f.name, encoding: f.encoding, value };
    });
  }
}
