// Host-physical page allocation: the hypervisor owns the machine's RAM and hands out 4 KiB pages to
// itself (VMCS regions, EPT and shadow tables, bitmaps) and to guests. Plain data: a free-page stack.

export const PAGE = 4096;

export class PageAllocator {
  private readonly free: Uint32Array;
  private top = 0;
  readonly totalPages: number;

  /** Manages pages [firstPage, firstPage + count) of host-physical memory. */
  constructor(firstPage: number, count: number) {
    this.totalPages = count;
    this.free = new Uint32Array(count);
    // Lowest addresses are handed out first (stack top = lowest page).
    for (let k = 0; k < count; k++) this.free[k] = firstPage + count - 1 - k;
    this.top = count;
  }

  get freePages(): number {
    return this.top;
  }

  /** A host-physical page address, or throws when memory is exhausted. */
  allocate(): number {
    if (this.top === 0) throw new Error("out of host memory: no free 4 KiB page left");
    return this.free[--this.top]! * PAGE;
  }

  release(address: number): void {
    this.free[this.top++] = address / PAGE;
  }

  saveState(): { free: number[] } {
    return { free: Array.from(this.free.subarray(0, this.top)) };
  }

  loadState(s: { free: number[] }): void {
    this.free.set(s.free);
    this.top = s.free.length;
  }
}
