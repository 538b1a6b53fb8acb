// Physical memory: one ArrayBuffer with typed-array views. Addresses at or above the RAM size are
// open bus (reads all ones, writes ignored) unless an MMIO region claims them.

export interface MmioRegion {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
}

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

export class PhysicalMemory {
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly view: DataView;
  private readonly mmio: MmioRegion[] = [];
  /**
   * Called after a write through write8..32 that touches a watched page, and after any writeBytes, so
   * caches of decoded code can be invalidated.
   */
  onWrite: ((addr: number, length: number) => void) | null = null;
  /**
   * 1 for each 4 KiB page of RAM whose writes onWrite must hear about (its owner sets them: the pages
   * that hold decoded code). Most writes touch no such page and cost one load more, not a call.
   */
  readonly watchedPages: Uint8Array;

  constructor(sizeBytes: number) {
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`memory size must be a positive multiple of 4 KiB, got ${sizeBytes}`);
    }
    if (sizeBytes > 0x1_0000_0000) throw new RangeError("memory size must be at most 4 GiB");
    this.size = sizeBytes;
    this.buffer = new ArrayBuffer(sizeBytes);
    this.u8 = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.watchedPages = new Uint8Array(sizeBytes / PAGE_SIZE);
  }

  addMmio(region: MmioRegion): void {
    for (const r of this.mmio) {
      if (region.base < r.base + r.size && r.base < region.base + region.size) {
        throw new Error(`MMIO region ${region.name} overlaps ${r.name}`);
      }
    }
    this.mmio.push(region);
  }

  isRam(addr: number): boolean {
    return addr >>> 0 < this.size;
  }

  private region(addr: number): MmioRegion | undefined {
    for (const r of this.mmio) if (addr >= r.base && addr < r.base + r.size) return r;
    return undefined;
  }

  // Sized accesses. Callers on the hot path check isRam() themselves and use u8/view directly.
  read8(addr: number): number {
    addr >>>= 0;
    if (addr < this.size) return this.u8[addr]!;
    const r = this.region(addr);
    return r ? r.read(addr - r.base, 1) & 0xff : 0xff;
  }

  read16(addr: number): number {
    addr >>>= 0;
    if (addr + 1 < this.size) return this.view.getUint16(addr, true);
    const r = this.region(addr);
    if (r) return r.read(addr - r.base, 2) & 0xffff;
    return this.read8(addr) | (this.read8(addr + 1) << 8);
  }

  read32(addr: number): number {
    addr >>>= 0;
    if (addr + 3 < this.size) return this.view.getInt32(addr, true);
    const r = this.region(addr);
    if (r) return r.read(addr - r.base, 4) | 0;
    return this.read16(addr) | (this.read16(addr + 2) << 16) | 0;
  }

  write8(addr: number, value: number): void {
    addr >>>= 0;
    if (addr < this.size) {
      this.u8[addr] = value;
      if (this.watchedPages[addr >>> PAGE_SHIFT] !== 0) this.onWrite?.(addr, 1);
      return;
    }
    const r = this.region(addr);
    if (r) r.write(addr - r.base, 1, value & 0xff);
  }

  write16(addr: number, value: number): void {
    addr >>>= 0;
    if (addr + 1 < this.size) {
      this.view.setUint16(addr, value, true);
      if (this.watched(addr, 2)) this.onWrite?.(addr, 2);
      return;
    }
    const r = this.region(addr);
    if (r) r.write(addr - r.base, 2, value & 0xffff);
    else {
      this.write8(addr, value);
      this.write8(addr + 1, value >>> 8);
    }
  }

  write32(addr: number, value: number): void {
    addr >>>= 0;
    if (addr + 3 < this.size) {
      this.view.setInt32(addr, value, true);
      if (this.watched(addr, 4)) this.onWrite?.(addr, 4);
      return;
    }
    const r = this.region(addr);
    if (r) r.write(addr - r.base, 4, value | 0);
    else {
      this.write16(addr, value);
      this.write16(addr + 2, value >>> 16);
    }
  }

  /** Whether a write of `size` bytes at `addr` (in RAM) touches a watched page. */
  private watched(addr: number, size: number): boolean {
    return (this.watchedPages[addr >>> PAGE_SHIFT]! | this.watchedPages[(addr + size - 1) >>> PAGE_SHIFT]!) !== 0;
  }

  /** Copies bytes into RAM (loaders, DMA). Throws if the range is not entirely RAM. */
  writeBytes(addr: number, bytes: Uint8Array): void {
    addr >>>= 0;
    if (addr + bytes.length > this.size) {
      throw new RangeError(
        `physical range 0x${addr.toString(16)}-0x${(addr + bytes.length - 1).toString(16)} is outside RAM (0-0x${(this.size - 1).toString(16)})`,
      );
    }
    this.u8.set(bytes, addr);
    this.onWrite?.(addr, bytes.length);
  }

  /** Reads bytes without side effects (debuggers); bytes outside RAM read as 0xFF. */
  readBytes(addr: number, length: number): Uint8Array {
    addr >>>= 0;
    const out = new Uint8Array(length).fill(0xff);
    const end = Math.min(addr + length, this.size);
    if (addr < end) out.set(this.u8.subarray(addr, end), 0);
    return out;
  }
}
