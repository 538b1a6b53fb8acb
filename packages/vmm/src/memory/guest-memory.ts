// A VM's guest-physical memory: a map from guest page to host page (the p2m), populated eagerly or
// on demand. The hypervisor and the device models reach guest memory only through here, and every
// access is bounds-checked against the VM's memory size: a guest cannot make a device touch memory
// outside its own RAM.

import type { PhysicalMemory } from "@vmxlab/cpu";
import { PAGE, type PageAllocator } from "./allocator.js";

export class GuestMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuestMemoryError";
  }
}

/** What device models use to reach a VM's memory (DMA), on any hypervisor design. */
export interface GuestMemoryAccess {
  readonly size: number;
  read(gpa: number, length: number): Uint8Array;
  write(gpa: number, bytes: Uint8Array): void;
}

export class GuestMemory implements GuestMemoryAccess {
  /** Host-physical address of each guest page, or -1 while unpopulated. */
  readonly p2m: Float64Array;
  populatedPages = 0;
  /** Called when a page gets backed (EPT maps it, shadow paging notes it). */
  onPopulate: ((gpa: number, hpa: number) => void) | null = null;

  constructor(
    readonly host: PhysicalMemory,
    private readonly allocator: PageAllocator,
    readonly size: number,
  ) {
    if (size % PAGE !== 0 || size <= 0) throw new RangeError("guest memory must be a positive multiple of 4 KiB");
    this.p2m = new Float64Array(size / PAGE).fill(-1);
  }

  contains(gpa: number, length = 1): boolean {
    return gpa >= 0 && length >= 0 && gpa + length <= this.size;
  }

  /** Host page backing a guest page, allocating (zeroed) on first use. */
  backing(gpa: number): number {
    const page = Math.floor(gpa / PAGE);
    let hpa = this.p2m[page]!;
    if (hpa < 0) {
      hpa = this.allocator.allocate();
      this.host.u8.fill(0, hpa, hpa + PAGE);
      this.p2m[page] = hpa;
      this.populatedPages++;
      this.onPopulate?.(page * PAGE, hpa);
    }
    return hpa;
  }

  /** Host-physical address of a guest-physical address, or -1 if the page is not backed yet. */
  translate(gpa: number): number {
    const hpa = this.p2m[Math.floor(gpa / PAGE)];
    return hpa === undefined || hpa < 0 ? -1 : hpa + (gpa % PAGE);
  }

  populateAll(): void {
    for (let gpa = 0; gpa < this.size; gpa += PAGE) this.backing(gpa);
  }

  private check(gpa: number, length: number): void {
    if (!this.contains(gpa, length)) {
      throw new GuestMemoryError(
        `guest-physical range 0x${gpa.toString(16)}-0x${(gpa + length).toString(16)} is outside the VM's ${this.size >>> 20} MiB`,
      );
    }
  }

  read(gpa: number, length: number): Uint8Array {
    this.check(gpa, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = gpa + done;
      const n = Math.min(length - done, PAGE - (at % PAGE));
      const hpa = this.translate(at);
      if (hpa >= 0) out.set(this.host.u8.subarray(hpa, hpa + n), done);
      done += n;
    }
    return out;
  }

  write(gpa: number, bytes: Uint8Array): void {
    this.check(gpa, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const at = gpa + done;
      const n = Math.min(bytes.length - done, PAGE - (at % PAGE));
      const hpa = this.backing(at) + (at % PAGE);
      this.host.writeBytes(hpa, bytes.subarray(done, done + n));
      done += n;
    }
  }

  read32(gpa: number): number {
    this.check(gpa, 4);
    const hpa = this.translate(gpa);
    return hpa < 0 ? 0 : this.host.read32(hpa);
  }
}
