// The TLB's flushes and searches visit only the slots that were filled (Tlb's slot list). Checked against
// the plain definition, a scan of every slot, over long random sequences of fills, drops and flushes.
import { describe, expect, it } from "vitest";
import { TLB_CODE, TLB_GLOBAL, TLB_LARGE, Tlb } from "./tlb.js";

const INVALID = -1;

/** What each operation must leave, by scanning every slot. */
class Reference {
  readonly tag: Int32Array;
  readonly info: Int32Array;
  constructor(readonly tlb: Tlb) {
    this.tag = new Int32Array(tlb.size).fill(INVALID);
    this.info = new Int32Array(tlb.size);
  }
  private slot(vpn: number, asid: number): number {
    return (vpn ^ ((asid << 7) ^ (asid << 13))) & this.tlb.mask;
  }
  fill(vpn: number, asid: number, info: number): void {
    const i = this.slot(vpn, asid);
    this.tag[i] = vpn | (asid << 20);
    this.info[i] = info;
  }
  flushPage(vpn: number, asid: number): void {
    const i = this.slot(vpn, asid);
    const large = this.tag[i] === (vpn | (asid << 20)) && this.info[i]! & TLB_LARGE;
    if (this.tag[i] === (vpn | (asid << 20))) this.tag[i] = INVALID;
    if (large || this.anyLarge()) {
      const first = vpn & ~0x3ff;
      for (let v = first; v < first + 1024; v++) {
        const k = this.slot(v, asid);
        if (this.tag[k] === (v | (asid << 20)) && this.info[k]! & TLB_LARGE) this.tag[k] = INVALID;
      }
    }
  }
  private anyLarge(): boolean {
    for (let i = 0; i < this.tag.length; i++) if (this.tag[i] !== INVALID && this.info[i]! & TLB_LARGE) return true;
    return false;
  }
  flushAsid(asid: number, keepGlobal: boolean): void {
    for (let i = 0; i < this.tag.length; i++) {
      const t = this.tag[i]!;
      if (t !== INVALID && t >>> 20 === asid && !(keepGlobal && this.info[i]! & TLB_GLOBAL)) this.tag[i] = INVALID;
    }
  }
  flushAll(): void {
    this.tag.fill(INVALID);
  }
  flushPhysicalPage(hpa: number, asid: number): void {
    for (let i = 0; i < this.tag.length; i++) {
      const t = this.tag[i]!;
      if (t !== INVALID && t >>> 20 === asid && (this.info[i]! & ~0xfff) === (hpa & ~0xfff)) {
        this.flushPage(t & 0xfffff, asid);
      }
    }
  }
  setCodeFlag(frame: number, on: boolean): void {
    for (let i = 0; i < this.tag.length; i++) {
      if (this.tag[i] !== INVALID && (this.info[i]! & ~0xfff) === frame << 12) {
        this.info[i] = on ? this.info[i]! | TLB_CODE : this.info[i]! & ~TLB_CODE;
      }
    }
  }
}

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** The valid slots of a TLB (tag and info), for comparison. */
function entries(tag: Int32Array, info: Int32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < tag.length; i++) if (tag[i] !== INVALID) out.push(`${i}:${tag[i]}:${info[i]}`);
  return out;
}

describe("the TLB's slot list", () => {
  it.each([1, 2, 3, 4, 5])("flushes, searches and code flags match a scan of every slot (random run %i)", (seed) => {
    const rnd = random(seed * 7919);
    const tlb = new Tlb(256);
    const ref = new Reference(tlb);
    const pick = (n: number) => Math.floor(rnd() * n);
    for (let step = 0; step < 20_000; step++) {
      const asid = pick(3);
      const vpn = pick(1024) | (pick(2) << 10); // two 4 MiB regions: slots collide and evict
      const frame = pick(64);
      const op = pick(100);
      if (op < 60) {
        const info = (frame << 12) | (pick(4) === 0 ? TLB_GLOBAL : 0) | (pick(50) === 0 ? TLB_LARGE : 0);
        tlb.fill(vpn, asid, info);
        ref.fill(vpn, asid, info);
      } else if (op < 75) {
        tlb.flushPage(vpn << 12, asid);
        ref.flushPage(vpn, asid);
      } else if (op < 85) {
        const keep = pick(2) === 0;
        tlb.flushAsid(asid, keep);
        ref.flushAsid(asid, keep);
      } else if (op < 92) {
        tlb.flushPhysicalPage(frame << 12, asid);
        ref.flushPhysicalPage(frame << 12, asid);
      } else if (op < 99) {
        const on = pick(2) === 0;
        tlb.setCodeFlag(frame, on);
        ref.setCodeFlag(frame, on);
      } else {
        tlb.flushAll();
        ref.flushAll();
      }
      if (step % 500 === 0) expect(entries(tlb.tag, tlb.info)).toEqual(entries(ref.tag, ref.info));
    }
    expect(entries(tlb.tag, tlb.info)).toEqual(entries(ref.tag, ref.info));
  });

  it("finds entries again after a state is loaded (saveState/loadState)", () => {
    const tlb = new Tlb(64);
    tlb.fill(5, 1, 0x7000);
    tlb.fill(6, 2, 0x8000 | TLB_GLOBAL);
    const saved = tlb.saveState();
    const other = new Tlb(64);
    other.loadState(saved);
    other.flushAsid(1, true);
    other.flushAsid(2, true);
    expect(other.peek(5, 1)).toBeUndefined();
    expect(other.peek(6, 2)).toBe(0x8000 | TLB_GLOBAL);
    other.flushAsid(2, false);
    expect(other.peek(6, 2)).toBeUndefined();
  });
});
