// VM exits counted by basic exit reason. Every exit bumps a counter, so the count is one typed-array
// increment (no hashing); readers see a ReadonlyMap of the reasons seen, in the order they first occurred.
// Plain data (a typed array and an array), so machine checkpoints capture it like any other state.

/** Basic exit reasons are 16 bits (Intel SDM Vol. 3C, 24.9.1); the architecture defines fewer than 80. */
const REASONS = 0x10000;

export class ExitCounter implements ReadonlyMap<number, number> {
  /** Count per basic reason; grown when a reason past its end first occurs. */
  private counts = new Float64Array(80);
  /** Reasons with a non-zero count, in first-occurrence order. */
  private readonly order: number[] = [];

  /** Counts one exit with this basic reason (bits 15:0 of the exit reason). */
  add(reason: number): void {
    const r = reason & (REASONS - 1);
    const n = r < this.counts.length ? this.counts[r]! : 0;
    // (The first of a reason is apart: every exit passes here, and V8 inlines a small add into it.)
    if (n === 0) this.addFirst(r);
    else this.counts[r] = n + 1;
  }

  private addFirst(r: number): void {
    if (r >= this.counts.length) {
      const grown = new Float64Array(Math.max(r + 1, 2 * this.counts.length));
      grown.set(this.counts);
      this.counts = grown;
    }
    this.order.push(r);
    this.counts[r] = 1;
  }

  get size(): number {
    return this.order.length;
  }

  get(reason: number): number | undefined {
    const n = reason >= 0 && reason < this.counts.length ? this.counts[reason]! : 0;
    return n === 0 ? undefined : n;
  }

  has(reason: number): boolean {
    return this.get(reason) !== undefined;
  }

  *entries(): MapIterator<[number, number]> {
    for (const r of this.order) yield [r, this.counts[r]!];
  }

  *keys(): MapIterator<number> {
    yield* this.order;
  }

  *values(): MapIterator<number> {
    for (const r of this.order) yield this.counts[r]!;
  }

  [Symbol.iterator](): MapIterator<[number, number]> {
    return this.entries();
  }

  forEach(fn: (value: number, key: number, map: ReadonlyMap<number, number>) => void, thisArg?: unknown): void {
    for (const r of this.order) fn.call(thisArg, this.counts[r]!, r, this);
  }

  /** The counts as a Map (for callers that want to keep or compare one). */
  toMap(): Map<number, number> {
    return new Map(this.entries());
  }
}
