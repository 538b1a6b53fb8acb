// The 8254 programmable interval timer at ports 0x40-0x43 (channels 0-2 and the control word register),
// clocked at 1,193,182 Hz. Channel 0's OUT drives IRQ0 through an IrqLine. Written from the Intel 8254
// datasheet.
//
// Timebase (exact and deterministic): each channel counts from the cycle its count was loaded, its
// "epoch". Tick k of a run happens at cycle epoch + floor(k * hz / 1193182), where hz = clock.hz (which
// must be a positive integer). Conversions are exact integer arithmetic (BigInt when a product would
// exceed 2^53), so there is no accumulated drift however long the counter runs; reads compute the
// count from the clock, nothing is stepped per tick.
//
// Modeled: control words (channel, access mode LSB / MSB / LSB-then-MSB, mode 0-5 with 6/7 aliasing
// 2/3, BCD), the counter latch command, the 8254 read-back command (count and/or status latches), the
// read/write byte flip-flops, null count, OUT levels (readable with `outLevel()` and in the status byte),
// and per-channel GATE inputs via `setGate()` (all gates power on high, as channels 0 and 1 are wired on
// a PC; the port 0x61 logic that drives channel 2's gate belongs to another device).
// - Mode 0 (interrupt on terminal count): OUT low from the count write until the count reaches 0, then
//   high; the counter keeps decrementing (wrapping). Writing the first byte of an LSB/MSB count stops
//   counting and drops OUT; GATE low pauses.
// - Mode 2 (rate generator) and 3 (square wave): period N; a count written while running takes effect at
//   the end of the current period (the real mode 3 switches at the end of the current half-cycle).
//   GATE low stops the counter (OUT high); a rising GATE reloads it.
// - Modes 1 and 5 are armed by a count write and triggered by a rising GATE edge; mode 4 is mode 0
//   with a one-tick low strobe at terminal count.
// - BCD counting is supported (modulus 10000; counts are written and read in BCD).
// - A reload value of 0 means 65536 (10000 in BCD).
//
// Simplifications (documented):
// - The count is loaded at the cycle of the write (a real 8254 loads it on the next CLK edge of a
//   free-running clock); each load starts a fresh tick phase.
// - The IRQ0 line is driven only at channel 0's OUT rising edges and when OUT falls to wait for a
//   mode 0/1 terminal count (mode 0 control word or count write, mode 1 trigger). At each rising edge
//   (the end of each mode 2/3 period, terminal count in modes 0/1, the end of the mode 4/5 strobe) the
//   PIT drives the line low then high and leaves it high: the PIC sees one rising edge, and the request
//   stays asserted until INTA, which the 8259A model requires (a high-then-low pulse would be withdrawn
//   before INTA). The one-tick low pulse of mode 2, the low half of mode 3 and the mode 4/5 strobe are
//   visible in reads and the status byte but are not driven on the line.
// - If several periods expired before advance() ran, they are coalesced into one IRQ0 edge; the
//   `ticks` counter (saved in the state) still counts every expired period.
// - Power-on state: all channels mode 0, LSB/MSB access, binary, no count loaded (not counting, count
//   reads 0); the PIT produces no events until a guest programs channel 0.

import type { AccessSize, Clock, IrqLine, PortDevice, StatefulDevice, TimedDevice } from "./device.js";
import type { PortRange } from "./port-bus.js";

/** The 8254 input clock frequency on a PC. */
export const PIT_FREQUENCY_HZ = 1_193_182;

const F = PIT_FREQUENCY_HZ;
const F_BIG = BigInt(F);

/** The plain-data state of one counter. */
export interface PitChannelState {
  /** Operating mode 0-5. */
  mode: number;
  /** Read/write access mode: 1 = LSB, 2 = MSB, 3 = LSB then MSB. */
  access: number;
  bcd: boolean;
  gate: boolean;
  /** A complete count has been written since the control word (modes 1/5: armed). */
  loaded: boolean;
  /** Counting from `epoch`. */
  counting: boolean;
  /** Cycle of tick 0 of the current run. */
  epoch: number;
  /** Modes 2/3: tick at which the current period began. */
  periodStart: number;
  /** Modes 0/1/4/5: the count at tick 0 (≤ 0 after a GATE pause past terminal count); modes 2/3: the period. */
  initial: number;
  /** Effective value of the last count written (1..65536, or 1..10000 in BCD); 0 = none. */
  countReg: number;
  /** Modes 2/3: `countReg` replaces the period at the end of the current period. */
  pending: boolean;
  /** Tick of the next OUT rising edge, or -1. */
  nextEdge: number;
  /** The (binary) count shown while not counting. */
  frozen: number;
  nullCount: boolean;
  /** Write flip-flop: the next byte written is the MSB. */
  writeHigh: boolean;
  writeLow: number;
  /** Read flip-flop: the next byte read is the MSB. */
  readHigh: boolean;
  latched: boolean;
  /** The latched count as it will be read (BCD-encoded in BCD mode). */
  latch: number;
  statusLatched: boolean;
  status: number;
}

export interface PitState {
  channels: PitChannelState[];
  /** Channel 0 OUT rising edges (IRQ0 periods) so far, counting coalesced ones. */
  ticks: number;
  /** The level last driven on the IRQ0 line. */
  irqLevel: boolean;
}

function powerOnChannel(): PitChannelState {
  return {
    mode: 0,
    access: 3,
    bcd: false,
    gate: true,
    loaded: false,
    counting: false,
    epoch: 0,
    periodStart: 0,
    initial: 0,
    countReg: 0,
    pending: false,
    nextEdge: -1,
    frozen: 0,
    nullCount: true,
    writeHigh: false,
    writeLow: 0,
    readHigh: false,
    latched: false,
    latch: 0,
    statusLatched: false,
    status: 0,
  };
}

function fromBcd(raw: number): number {
  return (raw & 0xf) + ((raw >> 4) & 0xf) * 10 + ((raw >> 8) & 0xf) * 100 + ((raw >> 12) & 0xf) * 1000;
}

function toBcd(value: number): number {
  return (
    (value % 10) |
    ((Math.floor(value / 10) % 10) << 4) |
    ((Math.floor(value / 100) % 10) << 8) |
    ((Math.floor(value / 1000) % 10) << 12)
  );
}

function modulus(ch: PitChannelState): number {
  return ch.bcd ? 10000 : 0x10000;
}

export class Pit implements PortDevice, TimedDevice, StatefulDevice<PitState> {
  static readonly PORTS: PortRange = { from: 0x40, to: 0x43 };

  readonly name: string;
  readonly ports: PortRange = Pit.PORTS;
  /** Channel 0's output, normally the PIC's IRQ 0 line. */
  irq0: IrqLine | undefined;

  private readonly clock: Clock;
  private readonly hz: number;
  private readonly hzBig: bigint;
  private channels: PitChannelState[] = [powerOnChannel(), powerOnChannel(), powerOnChannel()];
  private tickCount = 0;
  /** The level the PIT last drove on the IRQ0 line. */
  private line0 = false;
  private eventCycle = Number.POSITIVE_INFINITY;

  constructor(clock: Clock, irq0?: IrqLine, name = "pit") {
    if (!Number.isSafeInteger(clock.hz) || clock.hz <= 0) {
      throw new RangeError(`Pit: clock.hz must be a positive integer, got ${String(clock.hz)}`);
    }
    this.clock = clock;
    this.hz = clock.hz;
    this.hzBig = BigInt(clock.hz);
    this.irq0 = irq0;
    this.name = name;
  }

  /** Back to the power-on state. */
  reset(): void {
    this.channels = [powerOnChannel(), powerOnChannel(), powerOnChannel()];
    this.tickCount = 0;
    this.line0 = false;
    this.eventCycle = Number.POSITIVE_INFINITY;
  }

  /** Channel 0 OUT rising edges (IRQ0 periods) so far, counting coalesced ones. */
  get ticks(): number {
    return this.tickCount;
  }

  // --- time conversion -------------------------------------------------------------------------------

  /** Cycles from a run's epoch to its tick k: floor(k * hz / F). */
  tickToCycles(k: number): number {
    const x = k * this.hz;
    if (x <= Number.MAX_SAFE_INTEGER) return Math.floor(x / F);
    return Number((BigInt(k) * this.hzBig) / F_BIG);
  }

  /** The last tick at or before `d` cycles after an epoch: the largest k with tickToCycles(k) ≤ d. */
  cyclesToTicks(d: number): number {
    if (d < 0) return -1;
    const x = (d + 1) * F;
    if (x <= Number.MAX_SAFE_INTEGER) return Math.floor((x - 1) / this.hz);
    return Number((BigInt(d + 1) * F_BIG - 1n) / this.hzBig);
  }

  private ticksAt(ch: PitChannelState, now: number): number {
    const k = this.cyclesToTicks(Math.floor(now) - ch.epoch);
    return Math.max(k, 0);
  }

  // --- TimedDevice -----------------------------------------------------------------------------------

  nextEvent(): number {
    return this.eventCycle;
  }

  advance(now: number): void {
    // (Hypervisors call this before every VM entry: the common case, nothing due, stays small to inline.)
    if (now >= this.eventCycle) this.fire(now);
  }

  /** Channel 0's edges up to `now` (an event is due): counts them and pulses IRQ 0. */
  private fire(now: number): void {
    const ch = this.channels[0]!;
    const k = this.ticksAt(ch, now);
    let edges: number;
    if (ch.mode === 2 || ch.mode === 3) {
      edges = 0;
      if (ch.pending) {
        // The current period ended (k ≥ nextEdge): the new count takes over from here.
        ch.periodStart = ch.nextEdge;
        ch.initial = ch.countReg;
        ch.pending = false;
        ch.nullCount = false;
        ch.nextEdge = ch.periodStart + ch.initial;
        edges = 1;
      }
      if (k >= ch.nextEdge) {
        const m = Math.floor((k - ch.nextEdge) / ch.initial) + 1;
        edges += m;
        ch.periodStart = ch.nextEdge + (m - 1) * ch.initial;
        ch.nextEdge = ch.periodStart + ch.initial;
      }
    } else {
      edges = 1;
      ch.nextEdge = -1;
    }
    this.tickCount += edges;
    this.updateEvent();
    this.line0 = true;
    const irq = this.irq0;
    if (irq !== undefined) {
      irq(false);
      irq(true);
    }
  }

  private updateEvent(): void {
    const ch = this.channels[0]!;
    this.eventCycle =
      ch.counting && ch.nextEdge >= 0 ? ch.epoch + this.tickToCycles(ch.nextEdge) : Number.POSITIVE_INFINITY;
  }

  // --- counter arithmetic ----------------------------------------------------------------------------

  /** The binary count of `ch` at tick k of its run. */
  private countAt(ch: PitChannelState, k: number): number {
    if (!ch.counting) return ch.frozen;
    const m = modulus(ch);
    if (ch.mode === 2 || ch.mode === 3) {
      let start = ch.periodStart;
      let n = ch.initial;
      if (ch.pending && k >= start + n) {
        start += n;
        n = ch.countReg;
      }
      const phase = (k - start) % n;
      if (ch.mode === 2) return (n - phase) % m;
      const half = (n + 1) >> 1;
      return (n - (n & 1) - 2 * (phase < half ? phase : phase - half)) % m;
    }
    return (((ch.initial - k) % m) + m) % m;
  }

  /** The OUT level of `ch` at tick k of its run. */
  private outAt(ch: PitChannelState, k: number): boolean {
    if (!ch.counting) return ch.mode === 0 ? ch.loaded && ch.initial <= 0 : true;
    switch (ch.mode) {
      case 0:
      case 1:
        return k >= ch.initial;
      case 4:
      case 5:
        return k !== ch.initial;
      default: {
        let start = ch.periodStart;
        let n = ch.initial;
        if (ch.pending && k >= start + n) {
          start += n;
          n = ch.countReg;
        }
        const phase = (k - start) % n;
        return ch.mode === 2 ? phase !== n - 1 : phase < (n + 1) >> 1;
      }
    }
  }

  private encode(ch: PitChannelState, value: number): number {
    return ch.bcd ? toBcd(value) : value;
  }

  /** Starts a run from `ch.initial` at cycle `now`. */
  private start(ch: PitChannelState, now: number): void {
    ch.epoch = Math.floor(now);
    ch.counting = true;
    ch.periodStart = 0;
    switch (ch.mode) {
      case 0:
      case 1:
        ch.nextEdge = ch.initial > 0 ? ch.initial : -1;
        break;
      case 4:
      case 5:
        ch.nextEdge = ch.initial >= 0 ? ch.initial + 1 : -1;
        break;
      default:
        ch.nextEdge = ch.initial;
    }
  }

  /** Stops counting at tick k, keeping the count (modes 0/4 keep the remainder to resume from). */
  private stop(ch: PitChannelState, k: number): void {
    if (!ch.counting) return;
    ch.frozen = this.countAt(ch, k);
    if (ch.mode === 0 || ch.mode === 4) ch.initial -= k;
    ch.counting = false;
    ch.nextEdge = -1;
  }

  /** Modes 2/3: applies a pending count and moves periodStart to the period containing tick k. */
  private normalize(ch: PitChannelState, k: number): void {
    if (!ch.counting || (ch.mode !== 2 && ch.mode !== 3)) return;
    if (ch.pending && k >= ch.periodStart + ch.initial) {
      ch.periodStart += ch.initial;
      ch.initial = ch.countReg;
      ch.pending = false;
      ch.nullCount = false;
    }
    if (k >= ch.periodStart + ch.initial) {
      ch.periodStart += Math.floor((k - ch.periodStart) / ch.initial) * ch.initial;
    }
    ch.nextEdge = ch.periodStart + ch.initial;
  }

  private outLow(index: number): void {
    if (index !== 0 || !this.line0) return;
    this.line0 = false;
    if (this.irq0 !== undefined) this.irq0(false);
  }

  private loadCount(ch: PitChannelState, index: number, raw: number, now: number): void {
    const m = modulus(ch);
    const value = (ch.bcd ? fromBcd(raw) : raw) % m;
    const count = value === 0 ? m : value;
    ch.countReg = count;
    ch.loaded = true;
    switch (ch.mode) {
      case 0:
      case 4:
        ch.initial = count;
        ch.nullCount = false;
        ch.pending = false;
        if (ch.gate) this.start(ch, now);
        else {
          ch.counting = false;
          ch.frozen = value;
          ch.nextEdge = -1;
        }
        if (ch.mode === 0) this.outLow(index);
        break;
      case 2:
      case 3:
        if (ch.counting) {
          ch.pending = true;
          ch.nullCount = true;
        } else {
          ch.initial = count;
          ch.pending = false;
          ch.nullCount = false;
          if (ch.gate) this.start(ch, now);
          else ch.frozen = value;
        }
        break;
      default:
        // Modes 1 and 5: armed; the count is loaded by the next rising GATE edge.
        ch.nullCount = true;
    }
  }

  // --- public helpers --------------------------------------------------------------------------------

  /** The current (binary) count of a channel, as a read would return it without BCD encoding. */
  count(channel: number): number {
    const ch = this.channel(channel);
    return this.countAt(ch, this.ticksAt(ch, this.clock.now()));
  }

  /** The current OUT level of a channel (e.g. for port 0x61 bit 5). */
  outLevel(channel: number): boolean {
    const ch = this.channel(channel);
    return this.outAt(ch, this.ticksAt(ch, this.clock.now()));
  }

  /** Drives a channel's GATE input (power-on level: high). */
  setGate(channel: number, level: boolean): void {
    const ch = this.channel(channel);
    const now = this.clock.now();
    this.advance(now);
    if (ch.gate === level) return;
    ch.gate = level;
    const k = this.ticksAt(ch, now);
    switch (ch.mode) {
      case 0:
      case 4:
        if (!level) this.stop(ch, k);
        else if (ch.loaded && !ch.counting) this.start(ch, now);
        break;
      case 2:
      case 3:
        if (!level) {
          this.normalize(ch, k);
          this.stop(ch, k);
        } else if (ch.loaded) {
          ch.initial = ch.countReg;
          ch.pending = false;
          ch.nullCount = false;
          this.start(ch, now);
        }
        break;
      default:
        if (level && ch.loaded) {
          ch.initial = ch.countReg;
          ch.nullCount = false;
          this.start(ch, now);
          if (ch.mode === 1) this.outLow(channel);
        }
    }
    if (channel === 0) this.updateEvent();
  }

  private channel(index: number): PitChannelState {
    const ch = this.channels[index];
    if (ch === undefined) throw new RangeError(`PIT channel ${String(index)} is outside 0-2`);
    return ch;
  }

  // --- ports -----------------------------------------------------------------------------------------

  portIn(port: number, _size: AccessSize): number {
    const index = port & 3;
    if (index === 3) return 0xff; // the control word register is write-only
    const ch = this.channels[index]!;
    if (ch.statusLatched) {
      ch.statusLatched = false;
      return ch.status;
    }
    const value = ch.latched ? ch.latch : this.encode(ch, this.countAt(ch, this.ticksAt(ch, this.clock.now())));
    if (ch.access === 3 && !ch.readHigh) {
      ch.readHigh = true;
      return value & 0xff;
    }
    ch.readHigh = false;
    ch.latched = false;
    return ch.access === 2 || ch.access === 3 ? (value >> 8) & 0xff : value & 0xff;
  }

  portOut(port: number, _size: AccessSize, value: number): void {
    const now = this.clock.now();
    this.advance(now); // fire expired edges before reprogramming
    value &= 0xff;
    const index = port & 3;
    if (index === 3) this.controlWord(value, now);
    else this.writeCount(index, value, now);
    this.updateEvent();
  }

  private writeCount(index: number, byte: number, now: number): void {
    const ch = this.channels[index]!;
    this.normalize(ch, this.ticksAt(ch, now));
    switch (ch.access) {
      case 1:
        this.loadCount(ch, index, byte, now);
        break;
      case 2:
        this.loadCount(ch, index, byte << 8, now);
        break;
      default:
        if (!ch.writeHigh) {
          ch.writeHigh = true;
          ch.writeLow = byte;
          if (ch.mode === 0) {
            // Mode 0: writing the first byte disables counting and sets OUT low.
            this.stop(ch, this.ticksAt(ch, now));
            ch.loaded = false;
            this.outLow(index);
          }
        } else {
          ch.writeHigh = false;
          this.loadCount(ch, index, ch.writeLow | (byte << 8), now);
        }
    }
  }

  private controlWord(value: number, now: number): void {
    const select = value >> 6;
    if (select === 3) {
      this.readBack(value, now);
      return;
    }
    const ch = this.channels[select]!;
    const access = (value >> 4) & 3;
    if (access === 0) {
      this.latchCount(ch, now);
      return;
    }
    const k = this.ticksAt(ch, now);
    ch.frozen = this.countAt(ch, k);
    let mode = (value >> 1) & 7;
    if (mode > 5) mode -= 4;
    ch.mode = mode;
    ch.access = access;
    ch.bcd = (value & 1) !== 0;
    ch.frozen %= modulus(ch);
    ch.counting = false;
    ch.loaded = false;
    ch.pending = false;
    ch.countReg = 0;
    ch.initial = 0;
    ch.nextEdge = -1;
    ch.nullCount = true;
    ch.writeHigh = false;
    ch.readHigh = false;
    ch.latched = false;
    ch.statusLatched = false;
    if (mode === 0) this.outLow(select);
  }

  private latchCount(ch: PitChannelState, now: number): void {
    if (ch.latched) return; // a second latch before the first is read is ignored
    ch.latched = true;
    ch.latch = this.encode(ch, this.countAt(ch, this.ticksAt(ch, now)));
  }

  private readBack(value: number, now: number): void {
    for (let index = 0; index < 3; index++) {
      if ((value & (2 << index)) === 0) continue;
      const ch = this.channels[index]!;
      if ((value & 0x20) === 0) this.latchCount(ch, now);
      if ((value & 0x10) === 0 && !ch.statusLatched) {
        const k = this.ticksAt(ch, now);
        this.normalize(ch, k);
        ch.statusLatched = true;
        ch.status =
          (this.outAt(ch, k) ? 0x80 : 0) |
          (ch.nullCount ? 0x40 : 0) |
          (ch.access << 4) |
          (ch.mode << 1) |
          (ch.bcd ? 1 : 0);
      }
    }
  }

  // --- state -----------------------------------------------------------------------------------------

  saveState(): PitState {
    return { channels: this.channels.map((ch) => ({ ...ch })), ticks: this.tickCount, irqLevel: this.line0 };
  }

  loadState(state: PitState): void {
    if (state.channels.length !== 3) throw new Error("PitState must have 3 channels");
    this.channels = state.channels.map((ch) => ({ ...ch }));
    this.tickCount = state.ticks;
    this.line0 = state.irqLevel;
    this.updateEvent();
  }
}
