// The TLB: a direct-mapped array of translations in typed arrays (one slot per set), tagged with an
// address-space id so entries of several VPIDs (and the root, ASID 0) live side by side. It caches
// the combined translation linear -> host-physical (through EPT when it is on), like real hardware.
//
// Slot layout: tag[i] = vpn | (asid << 20); info[i] = host-physical frame (bits 31:12) | TLB_* flags.
// The flags say what an access may NOT do through this entry, so the hot path is one AND against a
// per-mode deny mask; anything denied takes the slow path, which walks again and faults precisely.

export const TLB_NO_USER = 1 << 0; // U/S = 0 somewhere in the walk
export const TLB_NO_WRITE_USER = 1 << 1; // R/W = 0 somewhere in the walk
export const TLB_NO_WRITE_SUP = 1 << 2; // R/W = 0 and CR0.WP = 1, or EPT write denied
export const TLB_CLEAN = 1 << 3; // PTE dirty bit not yet set: a write must walk to set it
export const TLB_CODE = 1 << 4; // the physical page holds decoded code: writes must invalidate it
export const TLB_GLOBAL = 1 << 5; // G = 1 with CR4.PGE: survives MOV CR3
export const TLB_NO_EXEC = 1 << 6; // EPT execute denied
export const TLB_NO_READ = 1 << 7; // EPT read denied
export const TLB_MMIO = 1 << 8; // not RAM: every access goes through the bus
export const TLB_LARGE = 1 << 9; // part of a 4 MiB page (INVLPG drops the whole page)

const INVALID_TAG = -1;
export const MAX_ASID = 4094;
/** Larger than any link context (asid * 4 + CPL), so contexts never alias across change counts. */
const EPOCH_STEP = 4 * (MAX_ASID + 1) + 4;

export interface TlbStats {
  hits: number;
  misses: number;
  /** Paging-structure memory references made by page walks (guest tables and EPT tables). */
  walkReferences: number;
  flushes: number;
}

/** The set index mixes the address-space id in, so two VPIDs using the same linear pages don't evict each other. */
export function asidHash(asid: number): number {
  return (asid << 7) ^ (asid << 13);
}

export class Tlb {
  readonly size: number;
  readonly mask: number;
  readonly tag: Int32Array;
  readonly info: Int32Array;
  readonly stats: TlbStats = { hits: 0, misses: 0, walkReferences: 0, flushes: 0 };
  private largeEntries = 0;
  /**
   * What a block link (a cached "next block at this EIP") depends on, in one number for one compare
   * (cpu burst): EPOCH_STEP times the count of changes that can invalidate a cached translation or
   * decoded code (evictions, drops, flushes, code invalidation), plus the link context (address-space
   * id and CPL). A round trip to another context (a VM exit and entry under VPID, a system call and its
   * return) that changed nothing comes back to the same epoch, so links made before it stay usable.
   */
  epoch = 0;
  /** The link context now: asid * 4 + CPL (see linkContext). */
  private context = 0;
  /**
   * The slots filled since they were last found empty, each once (`listed`): flushes and searches visit
   * these few instead of every slot (a MOV CR3, or a VM transition without VPID, flushes; scanning all
   * 4096 slots took microseconds of host time each). A slot dropped since may still be listed; the next
   * flush takes it off.
   */
  private readonly slots: Int32Array;
  private readonly listed: Uint8Array;
  private listedCount = 0;

  constructor(entries = 4096) {
    if (entries < 1 || (entries & (entries - 1)) !== 0) throw new RangeError("TLB size must be a power of two");
    this.size = entries;
    this.mask = entries - 1;
    this.tag = new Int32Array(entries).fill(INVALID_TAG);
    this.info = new Int32Array(entries);
    this.slots = new Int32Array(entries);
    this.listed = new Uint8Array(entries);
  }

  /** Something that can invalidate cached translations or decoded code changed: every link is dropped. */
  bumpEpoch(): void {
    this.epoch += EPOCH_STEP;
  }

  /** The CPU switched address space or privilege level: links made in the new context become usable again. */
  setLinkContext(asid: number, cpl: number): void {
    const context = asid * 4 + cpl;
    this.epoch += context - this.context;
    this.context = context;
  }

  fill(vpn: number, asid: number, info: number): void {
    const idx = (vpn ^ asidHash(asid)) & this.mask;
    if (this.tag[idx] !== INVALID_TAG) {
      if (this.info[idx]! & TLB_LARGE) this.largeEntries--;
      this.epoch += EPOCH_STEP;
    } else if (this.listed[idx] === 0) {
      this.listed[idx] = 1;
      this.slots[this.listedCount++] = idx;
    }
    this.tag[idx] = vpn | (asid << 20);
    this.info[idx] = info;
    if (info & TLB_LARGE) this.largeEntries++;
  }

  /** Side-effect-free lookup for debuggers: the info word, or undefined. */
  peek(vpn: number, asid: number): number | undefined {
    const idx = (vpn ^ asidHash(asid)) & this.mask;
    return this.tag[idx] === (vpn | (asid << 20)) ? this.info[idx] : undefined;
  }

  private drop(idx: number): void {
    this.epoch += EPOCH_STEP;
    if (this.info[idx]! & TLB_LARGE) this.largeEntries--;
    this.tag[idx] = INVALID_TAG;
  }

  /** INVLPG / INVVPID individual-address: drop the page holding `linear` for one ASID. */
  flushPage(linear: number, asid: number): void {
    const vpn = linear >>> 12;
    const idx = (vpn ^ asidHash(asid)) & this.mask;
    const isLarge = this.tag[idx] === (vpn | (asid << 20)) && this.info[idx]! & TLB_LARGE;
    if (this.tag[idx] === (vpn | (asid << 20))) this.drop(idx);
    if (isLarge || this.largeEntries > 0) {
      // A 4 MiB page is cached as 4 KiB pieces: drop every piece of it.
      const first = vpn & ~0x3ff;
      for (let v = first; v < first + 1024; v++) {
        const i = (v ^ asidHash(asid)) & this.mask;
        if (this.tag[i] === (v | (asid << 20)) && this.info[i]! & TLB_LARGE) this.drop(i);
      }
    }
  }

  /** Flush one ASID; keepGlobal leaves G entries (MOV CR3 with CR4.PGE). */
  flushAsid(asid: number, keepGlobal: boolean): void {
    this.stats.flushes++;
    this.epoch += EPOCH_STEP;
    const tag = this.tag;
    const slots = this.slots;
    let kept = 0;
    for (let k = 0; k < this.listedCount; k++) {
      const i = slots[k]!;
      const t = tag[i]!;
      if (t !== INVALID_TAG && t >>> 20 === asid && !(keepGlobal && this.info[i]! & TLB_GLOBAL)) this.drop(i);
      if (tag[i] !== INVALID_TAG) slots[kept++] = i;
      else this.listed[i] = 0;
    }
    this.listedCount = kept;
  }

  flushAll(): void {
    this.stats.flushes++;
    this.epoch += EPOCH_STEP;
    this.tag.fill(INVALID_TAG);
    this.largeEntries = 0;
    this.listed.fill(0);
    this.listedCount = 0;
  }

  /** Drops every entry of `asid` that maps the host-physical page at `hpa` (a page a hypervisor write-protects). */
  flushPhysicalPage(hpa: number, asid: number): void {
    const base = hpa & ~0xfff;
    for (let k = 0; k < this.listedCount; k++) {
      const i = this.slots[k]!;
      const t = this.tag[i]!;
      if (t !== INVALID_TAG && t >>> 20 === asid && (this.info[i]! & ~0xfff) === base)
        this.flushPage((t & 0xfffff) << 12, asid);
    }
  }

  /** Mark (or unmark) every entry that maps host-physical page `frame` as holding code. */
  setCodeFlag(frame: number, on: boolean): void {
    const base = frame << 12;
    for (let k = 0; k < this.listedCount; k++) {
      const i = this.slots[k]!;
      if (this.tag[i] !== INVALID_TAG && (this.info[i]! & ~0xfff) === base) {
        this.info[i] = on ? this.info[i]! | TLB_CODE : this.info[i]! & ~TLB_CODE;
      }
    }
  }

  /** Number of valid entries per ASID (for debuggers and the bench). */
  occupancy(): Map<number, number> {
    const out = new Map<number, number>();
    for (let i = 0; i < this.size; i++) {
      const t = this.tag[i]!;
      if (t !== INVALID_TAG) out.set(t >>> 20, (out.get(t >>> 20) ?? 0) + 1);
    }
    return out;
  }

  saveState(): { tag: number[]; info: number[]; stats: TlbStats } {
    return { tag: Array.from(this.tag), info: Array.from(this.info), stats: { ...this.stats } };
  }

  loadState(s: { tag: number[]; info: number[]; stats: TlbStats }): void {
    this.tag.set(s.tag);
    this.info.set(s.info);
    Object.assign(this.stats, s.stats);
    this.largeEntries = 0;
    this.listed.fill(0);
    this.listedCount = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] === INVALID_TAG) continue;
      if (this.info[i]! & TLB_LARGE) this.largeEntries++;
      this.listed[i] = 1;
      this.slots[this.listedCount++] = i;
    }
  }
}
