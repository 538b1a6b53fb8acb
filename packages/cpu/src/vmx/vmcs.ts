// The VMCS lives in its 4 KiB region of physical memory (plain data: a snapshot of RAM is a snapshot
// of every VMCS). Our implementation-specific layout, as the SDM permits (Vol. 3C, 25.2):
//   offset 0: revision identifier (bits 30:0) | shadow-VMCS indicator (bit 31)
//   offset 4: VMX-abort indicator
//   offset 8: launch state (0 clear, 1 launched)
//   offset 16 + 8 * i: field i of VMCS_FIELDS, 64 bits little-endian.
// Software must use VMREAD/VMWRITE; reading the region directly is undefined, as on hardware.

import type { PhysicalMemory } from "../memory/physical.js";
import { fieldByEncoding, VMCS_FIELDS, widthMask } from "./vmcs-fields.js";

export const VMCS_ABORT_OFFSET = 4;
export const VMCS_LAUNCH_STATE_OFFSET = 8;
export const VMCS_FIELDS_OFFSET = 16;
export const VMCS_SIZE = 4096;

/** Typed access to one VMCS region (like KVM's vmcs_read16/32/64/l, by encoding). */
export class VmcsAccess {
  constructor(
    readonly mem: PhysicalMemory,
    readonly base: number,
  ) {}

  private offsetOf(encoding: number): { offset: number; high: boolean; mask: number } {
    const f = fieldByEncoding(encoding);
    if (!f) throw new Error(`unsupported VMCS field encoding 0x${encoding.toString(16)}`);
    return { offset: this.base + VMCS_FIELDS_OFFSET + 8 * f.index, high: f.high, mask: widthMask(f.field.width) };
  }

  /** Reads a field (32 bits at most: the low half of a 64-bit field, or its high half by the high encoding). */
  read(encoding: number): number {
    const { offset, high, mask } = this.offsetOf(encoding);
    return (this.mem.read32(offset + (high ? 4 : 0)) & mask) >>> 0;
  }

  write(encoding: number, value: number): void {
    const { offset, high, mask } = this.offsetOf(encoding);
    this.mem.write32(offset + (high ? 4 : 0), value & mask);
  }

  /** A 64-bit field as a number (both halves). */
  read64(encoding: number): number {
    const { offset } = this.offsetOf(encoding);
    return (this.mem.read32(offset) >>> 0) + (this.mem.read32(offset + 4) >>> 0) * 0x1_0000_0000;
  }

  get revision(): number {
    return this.mem.read32(this.base) & 0x7fffffff;
  }

  get launched(): boolean {
    return this.mem.read32(this.base + VMCS_LAUNCH_STATE_OFFSET) === 1;
  }

  set launched(on: boolean) {
    this.mem.write32(this.base + VMCS_LAUNCH_STATE_OFFSET, on ? 1 : 0);
  }

  /** Every field's current value, for viewers (by name). */
  dump(): { name: string; encoding: number; value: number; high?: number }[] {
    return VMCS_FIELDS.map((f, i) => {
      const offset = this.base + VMCS_FIELDS_OFFSET + 8 * i;
      const value = (this.mem.read32(offset) & widthMask(f.width)) >>> 0;
      return f.width === 64
        ? { name: f.name, encoding: f.encoding, value, high: this.mem.read32(offset + 4) >>> 0 }
        : { name: f.name, encoding: f.encoding, value };
    });
  }
}
