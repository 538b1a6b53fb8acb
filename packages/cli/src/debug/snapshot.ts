// Checkpoints of a whole emulated system, taken and restored in place, for reverse execution.
//
// A system (a Machine, a Hypervisor, a hosted system) is a graph of objects: the CPU and its
// register arrays, the TLB, the VMX unit, devices, and on top the hypervisor's own structures (VMs,
// the guest-physical maps, shadow page tables as Maps and Sets of objects...). A checkpoint records,
// for every object reachable from the root, its own property values (references to other objects
// are kept as references), the entries of its Maps and Sets, and the bytes of its ArrayBuffers.
// Restoring puts those values back into the very same objects, so every identity (and every closure
// that refers to an object) stays valid: the system is exactly as it was, whatever happened since.
//
// Big buffers (physical memory, disk images) are not copied whole: each one has a reference copy
// equal to its contents at the newest checkpoint, and every checkpoint keeps the old contents of the
// 4 KiB pages that changed before the next one (an undo log). Going back copies those pages in,
// newest first.
//
// Not recorded: functions (leaves: kept by reference), objects passed in `exclude` (debugger
// configuration such as CPU hooks), and objects with a `special` handler (the decoded-block cache,
// which only needs its set of code pages back).

const PAGE = 4096;
/** Buffers at least this big are tracked by pages; smaller ones are copied at each checkpoint. */
const LARGE_BUFFER = 1 << 20;
const CHUNK = 1 << 20;

/** An object with its own save/restore (captured by value, restored after the graph). */
export interface SpecialState {
  save(): unknown;
  load(state: unknown): void;
}

type Saved =
  | { kind: "object"; obj: Record<string, unknown>; keys: string[]; values: unknown[] }
  | { kind: "array"; obj: unknown[]; values: unknown[] }
  | { kind: "map"; obj: Map<unknown, unknown>; entries: [unknown, unknown][] }
  | { kind: "set"; obj: Set<unknown>; values: unknown[] };

/** A large buffer: its contents at the newest checkpoint, page by page. */
interface Tracked {
  bytes: Uint8Array;
  reference: Uint8Array;
}

export interface Checkpoint {
  readonly id: number;
  readonly objects: Saved[];
  readonly small: [Uint8Array, Uint8Array][];
  readonly special: [SpecialState, unknown][];
  /** For each large buffer: the contents, at this checkpoint, of pages that changed before the next one. */
  readonly undo: Map<Tracked, Map<number, Uint8Array>>;
  /** Bytes held by this checkpoint (objects are estimated). */
  bytes: number;
}

function isPlainContainer(v: object): boolean {
  return !(v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet || v instanceof RegExp);
}

export class Checkpointer {
  private readonly tracked = new Map<ArrayBufferLike, Tracked>();
  /** The newest copy of each small buffer. */
  private readonly lastCopy = new Map<ArrayBufferLike, Uint8Array>();
  private nextId = 0;

  constructor(
    private readonly root: object,
    private readonly exclude: ReadonlySet<object>,
    private readonly special: ReadonlyMap<object, SpecialState>,
  ) {}

  /** Records the current state of everything reachable from the root. */
  capture(previous: Checkpoint | null): Checkpoint {
    const objects: Saved[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const special: [SpecialState, unknown][] = [];
    const seen = new Set<object>();
    const stack: unknown[] = [this.root];
    let estimate = 0;
    while (stack.length > 0) {
      const v = stack.pop();
      if (v === null || (typeof v !== "object" && typeof v !== "function")) continue;
      if (typeof v === "function") continue;
      const obj = v as object;
      if (seen.has(obj) || this.exclude.has(obj)) continue;
      seen.add(obj);
      const handler = this.special.get(obj);
      if (handler) {
        special.push([handler, handler.save()]);
        continue;
      }
      if (ArrayBuffer.isView(obj)) {
        buffers.add(obj.buffer);
        continue;
      }
      if (obj instanceof ArrayBuffer) {
        buffers.add(obj);
        continue;
      }
      if (!isPlainContainer(obj)) continue;
      if (obj instanceof Map) {
        const entries = [...obj.entries()];
        objects.push({ kind: "map", obj, entries });
        for (const [k, x] of entries) stack.push(k, x);
        estimate += 16 * entries.length;
      } else if (obj instanceof Set) {
        const values = [...obj];
        objects.push({ kind: "set", obj, values });
        stack.push(...values);
        estimate += 8 * values.length;
      } else if (Array.isArray(obj)) {
        const values = obj.slice();
        objects.push({ kind: "array", obj, values });
        for (const x of values) if (x !== null && typeof x === "object") stack.push(x);
        estimate += 8 * values.length;
      } else {
        const rec = obj as Record<string, unknown>;
        const keys = Object.keys(rec);
        const values = keys.map((k) => rec[k]);
        if (!Object.isFrozen(obj)) objects.push({ kind: "object", obj: rec, keys, values });
        for (const x of values) if (x !== null && typeof x === "object") stack.push(x);
        estimate += 16 * keys.length;
      }
    }
    const small: [Uint8Array, Uint8Array][] = [];
    for (const buffer of buffers) {
      if (buffer.byteLength >= LARGE_BUFFER) {
        this.track(buffer, previous);
        continue;
      }
      // Copies are immutable: an unchanged buffer shares the copy of the previous checkpoint.
      const bytes = new Uint8Array(buffer);
      const last = this.lastCopy.get(buffer);
      if (last && Buffer.compare(last, bytes) === 0) {
        small.push([bytes, last]);
      } else {
        const copy = bytes.slice();
        this.lastCopy.set(buffer, copy);
        small.push([bytes, copy]);
        estimate += buffer.byteLength;
      }
    }
    return { id: this.nextId++, objects, small, special, undo: new Map(), bytes: estimate };
  }

  /** A large buffer at a checkpoint: pages changed since the previous one go into its undo log. */
  private track(buffer: ArrayBufferLike, previous: Checkpoint | null): void {
    const t = this.tracked.get(buffer);
    if (!t) {
      const bytes = new Uint8Array(buffer);
      this.tracked.set(buffer, { bytes, reference: bytes.slice() });
      return;
    }
    const changed = changedPages(t.bytes, t.reference);
    if (changed.length === 0) return;
    const undo = new Map<number, Uint8Array>();
    for (const page of changed) {
      const at = page * PAGE;
      undo.set(page, t.reference.slice(at, at + PAGE));
      t.reference.set(t.bytes.subarray(at, at + PAGE), at);
    }
    if (previous) {
      previous.undo.set(t, undo);
      previous.bytes += changed.length * PAGE;
    }
  }

  /**
   * Restores `target`; `later` are the checkpoints taken after it, oldest first (their undo logs
   * are applied newest first and they become invalid).
   */
  restore(target: Checkpoint, later: readonly Checkpoint[]): void {
    // Large buffers: back to the newest checkpoint (the reference copy), then undo page by page.
    for (const t of this.tracked.values()) {
      for (const page of changedPages(t.bytes, t.reference)) {
        const at = page * PAGE;
        t.bytes.set(t.reference.subarray(at, at + PAGE), at);
      }
    }
    const chain = [target, ...later];
    for (let k = chain.length - 2; k >= 0; k--) {
      for (const [t, pages] of chain[k]!.undo) {
        for (const [page, data] of pages) {
          t.bytes.set(data, page * PAGE);
          t.reference.set(data, page * PAGE);
        }
      }
    }
    target.undo.clear();
    for (const [bytes, copy] of target.small) {
      bytes.set(copy);
      this.lastCopy.set(bytes.buffer, copy);
    }
    for (const s of target.objects) {
      switch (s.kind) {
        case "map":
          s.obj.clear();
          for (const [k, v] of s.entries) s.obj.set(k, v);
          break;
        case "set":
          s.obj.clear();
          for (const v of s.values) s.obj.add(v);
          break;
        case "array":
          s.obj.length = s.values.length;
          for (let i = 0; i < s.values.length; i++) s.obj[i] = s.values[i];
          break;
        default: {
          const keep = new Set(s.keys);
          for (const k of Object.keys(s.obj)) {
            if (!keep.has(k)) {
              try {
                delete s.obj[k];
              } catch {
                // non-configurable: leave it
              }
            }
          }
          for (let i = 0; i < s.keys.length; i++) {
            const k = s.keys[i]!;
            if (s.obj[k] === s.values[i]) continue;
            try {
              s.obj[k] = s.values[i];
            } catch {
              // read-only property (a getter without setter): it is derived from restored state
            }
          }
        }
      }
    }
    for (const [handler, state] of target.special) handler.load(state);
  }
}

/** Indices of the 4 KiB pages where `a` and `b` differ (compared a megabyte at a time first). */
function changedPages(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  const A = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const B = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const n = a.byteLength;
  for (let c = 0; c < n; c += CHUNK) {
    const end = Math.min(c + CHUNK, n);
    if (A.compare(B, c, end, c, end) === 0) continue;
    for (let p = c; p < end; p += PAGE) {
      const e = Math.min(p + PAGE, end);
      if (A.compare(B, p, e, p, e) !== 0) out.push(p / PAGE);
    }
  }
  return out;
}
