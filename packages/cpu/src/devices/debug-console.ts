// The Bochs/QEMU debug console at port 0xE9 (the "port E9 hack"): an OUT of any width writes its low
// byte to the console; an IN returns 0xE9, which guests use to detect that the console is present.
//
// Each byte goes to `onByte(byte)` (if set) and into an internal buffer readable with `bytes()` and
// `text()` (UTF-8 decoded, invalid sequences become U+FFFD). The buffer keeps the most recent
// `capacity` bytes (default 1 MiB) so a runaway guest cannot exhaust host memory; `dropped` counts the
// older bytes discarded. `onByte` sees every byte regardless.

import type { AccessSize, PortDevice, StatefulDevice } from "./device.js";

export const DEBUG_CONSOLE_PORT = 0xe9;

export interface DebugConsoleOptions {
  /** Port to claim (default 0xE9). */
  port?: number;
  /** Called with each byte written. */
  onByte?: (byte: number) => void;
  /** Bytes kept in the buffer (default 1 MiB). */
  capacity?: number;
  name?: string;
}

export interface DebugConsoleState {
  /** The buffered bytes, oldest first. */
  bytes: number[];
  dropped: number;
}

export class DebugConsole implements PortDevice, StatefulDevice<DebugConsoleState> {
  readonly name: string;
  readonly ports: readonly number[];
  onByte: ((byte: number) => void) | undefined;

  private readonly capacity: number;
  private buf = new Uint8Array(256);
  private length = 0;
  private droppedBytes = 0;

  constructor(options: DebugConsoleOptions = {}) {
    const capacity = options.capacity ?? 1 << 20;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`DebugConsole: capacity must be a positive integer, got ${String(capacity)}`);
    }
    this.capacity = capacity;
    this.ports = [options.port ?? DEBUG_CONSOLE_PORT];
    this.onByte = options.onByte;
    this.name = options.name ?? "debug-console";
  }

  portIn(_port: number, _size: AccessSize): number {
    return DEBUG_CONSOLE_PORT;
  }

  portOut(_port: number, _size: AccessSize, value: number): void {
    const byte = value & 0xff;
    this.append(byte);
    if (this.onByte !== undefined) this.onByte(byte);
  }

  /** A copy of the buffered bytes. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** The buffered bytes decoded as UTF-8. */
  text(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.length));
  }

  /** Bytes discarded because the buffer was full. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** Empties the buffer. */
  clear(): void {
    this.length = 0;
    this.droppedBytes = 0;
  }

  saveState(): DebugConsoleState {
    return { bytes: Array.from(this.buf.subarray(0, this.length)), dropped: this.droppedBytes };
  }

  loadState(state: DebugConsoleState): void {
    this.clear();
    for (const b of state.bytes) this.append(b & 0xff);
    this.droppedBytes += state.dropped;
  }

  private append(byte: number): void {
    if (this.length === this.capacity) {
      // Full: drop the oldest half in one move, keeping appends amortised O(1).
      const keep = this.capacity >> 1;
      this.buf.copyWithin(0, this.length - keep, this.length);
      this.droppedBytes += this.length - keep;
      this.length = keep;
    }
    if (this.length === this.buf.length) {
      const grown = new Uint8Array(Math.min(this.capacity, this.buf.length * 2));
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = byte;
  }
}
