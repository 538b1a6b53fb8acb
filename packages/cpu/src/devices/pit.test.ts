import { describe, expect, it } from "vitest";
import type { Clock } from "./device.js";
import { Pic } from "./pic.js";
import { PIT_FREQUENCY_HZ, Pit } from "./pit.js";

class TestClock implements Clock {
  t = 0;
  constructor(readonly hz: number) {}
  now(): number {
    return this.t;
  }
}

/** Reference: cycles from the programming cycle to PIT tick k, floor(k * hz / 1193182), in BigInt. */
function ref(k: number, hz: number): number {
  return Number((BigInt(k) * BigInt(hz)) / BigInt(PIT_FREQUENCY_HZ));
}

function setup(hz: number) {
  const clock = new TestClock(hz);
  const edges: [number, boolean][] = [];
  const pit = new Pit(clock, (level) => edges.push([clock.t, level]));
  return { clock, pit, edges };
}

/** Writes a control word and an LSB/MSB count to channel `ch` at cycle `at`. */
function program(pit: Pit, clock: TestClock, at: number, control: number, count: number, ch = 0): void {
  clock.t = at;
  pit.portOut(0x43, 1, control);
  pit.portOut(0x40 + ch, 1, count & 0xff);
  pit.portOut(0x40 + ch, 1, (count >> 8) & 0xff);
}

/** Runs the timer like the machine does: jump to nextEvent(), advance(). Returns the event cycles. */
function runEvents(pit: Pit, clock: TestClock, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = pit.nextEvent();
    clock.t = e;
    pit.advance(e);
    out.push(e);
  }
  return out;
}

function readCount(pit: Pit, ch = 0): number {
  const lo = pit.portIn(0x40 + ch, 1);
  const hi = pit.portIn(0x40 + ch, 1);
  return lo | (hi << 8);
}

function status(pit: Pit, ch = 0): number {
  pit.portOut(0x43, 1, 0xe0 | (2 << ch)); // read-back: status only
  return pit.portIn(0x40 + ch, 1);
}

describe("Pit timebase", () => {
  it("has no events until programmed", () => {
    const { pit, clock, edges } = setup(33_000_000);
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    clock.t = 1e9;
    pit.advance(1e9);
    expect(edges).toEqual([]);
    expect(pit.ticks).toBe(0);
  });

  it("rejects a non-integer clock frequency", () => {
    expect(() => new Pit(new TestClock(1.5e6 + 0.5))).toThrow(RangeError);
    expect(() => new Pit(new TestClock(0))).toThrow(RangeError);
  });

  it("puts the first and Nth IRQ of mode 2 at floor(N * reload * hz / 1193182) after programming", () => {
    const hz = 33_333_333;
    const { pit, clock } = setup(hz);
    const at = 12_345;
    program(pit, clock, at, 0x34, 1193);
    expect(pit.nextEvent()).toBe(at + ref(1193, hz));
    const events = runEvents(pit, clock, 1000);
    for (let n = 1; n <= 1000; n++) expect(events[n - 1]).toBe(at + ref(n * 1193, hz));
    expect(pit.ticks).toBe(1000);
  });

  it("does nothing when advanced short of the next event", () => {
    const hz = 10_000_000;
    const { pit, clock, edges } = setup(hz);
    program(pit, clock, 0, 0x34, 100);
    const e = pit.nextEvent();
    pit.advance(e - 1);
    expect(edges).toEqual([]);
    pit.advance(e);
    expect(edges).toEqual([
      [0, false],
      [0, true],
    ]);
  });

  it("pulses IRQ0 low then high at each period and leaves it high", () => {
    const { pit, clock, edges } = setup(PIT_FREQUENCY_HZ * 4);
    program(pit, clock, 100, 0x34, 10);
    runEvents(pit, clock, 3);
    expect(edges).toEqual([
      [140, false],
      [140, true],
      [180, false],
      [180, true],
      [220, false],
      [220, true],
    ]);
  });

  it("coalesces periods that expired before advance() into one edge but counts them all", () => {
    const { pit, clock, edges } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 100);
    clock.t = 1050;
    pit.advance(1050);
    expect(edges.length).toBe(2);
    expect(pit.ticks).toBe(10);
    expect(pit.nextEvent()).toBe(1100);
  });

  it("treats a reload value of 0 as 65536", () => {
    const hz = 50_000_000;
    const { pit, clock } = setup(hz);
    program(pit, clock, 7, 0x34, 0);
    expect(runEvents(pit, clock, 2)).toEqual([7 + ref(65536, hz), 7 + ref(2 * 65536, hz)]);
    clock.t = 7;
    expect(pit.count(0)).toBe(0); // 65536 reads as 0
  });

  it("stays exact at huge cycle counts and high frequencies (BigInt path)", () => {
    const hz = 3_000_000_000;
    const { pit, clock } = setup(hz);
    const at = 2 ** 50;
    program(pit, clock, at, 0x34, 1193);
    let last = 0;
    for (let n = 1; n <= 5_000; n++) {
      last = pit.nextEvent();
      expect(last).toBe(at + ref(n * 1193, hz));
      clock.t = last;
      pit.advance(last);
    }
    // Just before the 5001st edge the count is 1; at the edge it is reloaded.
    const next = pit.nextEvent();
    clock.t = next - 1;
    expect(pit.count(0)).toBe(1);
    clock.t = next;
    expect(pit.count(0)).toBe(1193);
  });

  it("converts ticks and cycles consistently", () => {
    for (const hz of [1_000_000, PIT_FREQUENCY_HZ, 33_333_333, 4_000_000_007]) {
      const pit = new Pit(new TestClock(hz));
      let seed = 12345;
      for (let i = 0; i < 500; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const k = i < 250 ? seed % 100_000 : seed * 997;
        const c = pit.tickToCycles(k);
        expect(c).toBe(ref(k, hz));
        expect(pit.cyclesToTicks(c)).toBeGreaterThanOrEqual(k);
        expect(pit.cyclesToTicks(c - 1)).toBeLessThan(k);
      }
    }
  });
});

describe("Pit modes", () => {
  it("mode 0 interrupts once at terminal count, then keeps counting down", () => {
    const { pit, clock, edges } = setup(PIT_FREQUENCY_HZ * 2);
    program(pit, clock, 0, 0x34, 100);
    runEvents(pit, clock, 1); // leaves the line high
    edges.length = 0;
    program(pit, clock, 300, 0x30, 100);
    expect(edges).toEqual([[300, false]]); // OUT low at programming (once)
    expect(pit.outLevel(0)).toBe(false);
    clock.t = 320;
    expect(pit.count(0)).toBe(90);
    expect(pit.nextEvent()).toBe(500);
    runEvents(pit, clock, 1);
    expect(edges.slice(1)).toEqual([
      [500, false],
      [500, true],
    ]);
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    expect(pit.outLevel(0)).toBe(true);
    clock.t = 502;
    expect(pit.count(0)).toBe(0xffff);
  });

  it("mode 0: writing the first count byte stops counting until the second", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x30, 100);
    clock.t = 40;
    pit.portOut(0x40, 1, 0x10);
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    clock.t = 70;
    expect(pit.count(0)).toBe(60);
    pit.portOut(0x40, 1, 0x00); // count 0x0010 = 16
    expect(pit.nextEvent()).toBe(86);
  });

  it("mode 2 reads count down from the reload to 1", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 10);
    const seen: number[] = [];
    for (let t = 0; t <= 20; t++) {
      clock.t = t;
      seen.push(pit.count(0));
    }
    expect(seen).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 10]);
    clock.t = 9;
    expect(pit.outLevel(0)).toBe(false); // low while the count is 1
    clock.t = 10;
    expect(pit.outLevel(0)).toBe(true);
  });

  it("mode 2: a new count written while running applies from the next period", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 100);
    clock.t = 30;
    pit.portOut(0x40, 1, 50);
    pit.portOut(0x40, 1, 0);
    expect(status(pit) & 0x40).toBe(0x40); // null count until loaded
    clock.t = 60;
    expect(pit.count(0)).toBe(40);
    expect(runEvents(pit, clock, 3)).toEqual([100, 150, 200]);
    expect(status(pit) & 0x40).toBe(0);
  });

  it("mode 3 counts down by two in each half period", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x36, 10);
    const counts: number[] = [];
    const outs: boolean[] = [];
    for (let t = 0; t < 10; t++) {
      clock.t = t;
      counts.push(pit.count(0));
      outs.push(pit.outLevel(0));
    }
    expect(counts).toEqual([10, 8, 6, 4, 2, 10, 8, 6, 4, 2]);
    expect(outs).toEqual([true, true, true, true, true, false, false, false, false, false]);
    expect(runEvents(pit, clock, 2)).toEqual([10, 20]);
  });

  it("mode 3 with an odd count is high one tick longer than low", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x36, 5);
    const outs: boolean[] = [];
    for (let t = 0; t < 5; t++) {
      clock.t = t;
      outs.push(pit.outLevel(0));
    }
    expect(outs).toEqual([true, true, true, false, false]);
  });

  it("accepts the 8254 aliases 6 and 7 for modes 2 and 3", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x3c, 10); // mode bits 110
    expect(status(pit) & 0x0e).toBe(2 << 1);
  });

  it("mode 4 strobes at terminal count (rising edge one tick later)", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x38, 10);
    clock.t = 10;
    expect(pit.outLevel(0)).toBe(false);
    expect(runEvents(pit, clock, 1)).toEqual([11]);
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
  });

  it("supports BCD counting", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x35, 0x1000); // mode 2, BCD, count 1000
    expect(pit.nextEvent()).toBe(1000);
    clock.t = 1;
    expect(readCount(pit)).toBe(0x0999);
    program(pit, clock, 0, 0x35, 0x0000); // 0 = 10000 in BCD
    expect(pit.nextEvent()).toBe(10000);
  });
});

describe("Pit access modes and latches", () => {
  it("reads a live LSB/MSB count", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 0x1234);
    clock.t = 0x34;
    expect(readCount(pit)).toBe(0x1200);
  });

  it("the latch command freezes the count until both bytes are read", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 1000);
    clock.t = 10;
    pit.portOut(0x43, 1, 0x00); // latch channel 0
    clock.t = 500;
    pit.portOut(0x43, 1, 0x00); // ignored: already latched
    expect(pit.portIn(0x40, 1)).toBe(990 & 0xff);
    clock.t = 700;
    expect(pit.portIn(0x40, 1)).toBe(990 >> 8);
    expect(readCount(pit)).toBe(300); // live again
  });

  it("LSB-only and MSB-only access", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    clock.t = 0;
    pit.portOut(0x43, 1, 0x14); // ch0, LSB only, mode 2
    pit.portOut(0x40, 1, 100);
    expect(pit.nextEvent()).toBe(100);
    clock.t = 1;
    expect(pit.portIn(0x40, 1)).toBe(99);
    expect(pit.portIn(0x40, 1)).toBe(99);
    clock.t = 0;
    pit.portOut(0x43, 1, 0x24); // ch0, MSB only, mode 2
    pit.portOut(0x40, 1, 0x02);
    expect(pit.nextEvent()).toBe(512);
    clock.t = 256;
    expect(pit.portIn(0x40, 1)).toBe(1);
  });

  it("read-back latches status and count", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    clock.t = 0;
    pit.portOut(0x43, 1, 0x34);
    expect(status(pit)).toBe(0x80 | 0x40 | 0x30 | 0x04); // OUT high, null count, LSB/MSB, mode 2
    pit.portOut(0x40, 1, 100);
    pit.portOut(0x40, 1, 0);
    clock.t = 5;
    pit.portOut(0x43, 1, 0xc2); // read-back: count and status of channel 0
    expect(pit.portIn(0x40, 1)).toBe(0xb4);
    expect(readCount(pit)).toBe(95);
    pit.portOut(0x43, 1, 0x30); // mode 0: OUT low
    expect(status(pit)).toBe(0x70);
  });

  it("returns 0xFF for reads of the control port", () => {
    const { pit } = setup(PIT_FREQUENCY_HZ);
    expect(pit.portIn(0x43, 1)).toBe(0xff);
  });
});

describe("Pit channels 1 and 2", () => {
  it("accept programming, read back counts, and do not raise IRQ0", () => {
    const { pit, clock, edges } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0xb6, 1193, 2); // ch2, LSB/MSB, mode 3
    program(pit, clock, 0, 0x54, 18, 1); // ch1, LSB only, mode 2
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    clock.t = 3;
    expect(readCount(pit, 2)).toBe(1193 - 1 - 6); // odd count: even value minus 2 per tick
    expect(pit.portIn(0x41, 1)).toBe(15);
    expect(edges).toEqual([]);
  });

  it("channel 2 gate low pauses mode 0; the OUT level is readable", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    clock.t = 0;
    pit.setGate(2, false);
    program(pit, clock, 0, 0xb0, 100, 2); // ch2 mode 0
    clock.t = 50;
    expect(pit.count(2)).toBe(100);
    pit.setGate(2, true);
    clock.t = 149;
    expect(pit.count(2)).toBe(1);
    expect(pit.outLevel(2)).toBe(false);
    clock.t = 150;
    expect(pit.outLevel(2)).toBe(true);
  });

  it("mode 1 is triggered by a rising gate edge", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0xb2, 10, 2);
    clock.t = 20;
    expect(pit.outLevel(2)).toBe(true);
    pit.setGate(2, false);
    pit.setGate(2, true);
    expect(pit.outLevel(2)).toBe(false);
    clock.t = 25;
    expect(pit.count(2)).toBe(5);
    clock.t = 30;
    expect(pit.outLevel(2)).toBe(true);
  });
});

describe("Pit with the PIC", () => {
  it("delivers one IRQ0 per period to an initialised PIC", () => {
    const clock = new TestClock(PIT_FREQUENCY_HZ * 10);
    const pic = new Pic();
    const pit = new Pit(clock, pic.irqLine(0));
    pic.portOut(0x21, 1, 0xfe); // unmask IRQ0 (vector base 0x08)
    program(pit, clock, 0, 0x34, 1000);
    for (let i = 1; i <= 5; i++) {
      const e = pit.nextEvent();
      expect(e).toBe(i * 10_000);
      expect(pic.hasInterrupt()).toBe(false);
      clock.t = e;
      pit.advance(e);
      expect(pic.hasInterrupt()).toBe(true);
      expect(pic.acknowledge()).toBe(0x08);
      pic.portOut(0x20, 1, 0x20);
    }
  });
});

describe("Pit state", () => {
  it("saves and restores plain data, continuing identically", () => {
    const hz = 33_333_333;
    const a = setup(hz);
    program(a.pit, a.clock, 99, 0x34, 1193);
    runEvents(a.pit, a.clock, 3);
    program(a.pit, a.clock, a.clock.t + 5, 0xb6, 777, 2);
    a.clock.t += 12_345;
    a.pit.portOut(0x43, 1, 0x00); // a pending latch is state too
    const state = a.pit.saveState();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);

    const b = setup(hz);
    b.clock.t = a.clock.t;
    b.pit.loadState(state);
    expect(b.pit.ticks).toBe(3);
    expect(b.pit.nextEvent()).toBe(a.pit.nextEvent());
    expect(readCount(b.pit)).toBe(readCount(a.pit));
    expect(readCount(b.pit, 2)).toBe(readCount(a.pit, 2));
    expect(runEvents(b.pit, b.clock, 5)).toEqual(runEvents(a.pit, a.clock, 5));
  });

  it("reset() returns to power-on", () => {
    const { pit, clock } = setup(PIT_FREQUENCY_HZ);
    program(pit, clock, 0, 0x34, 10);
    pit.reset();
    expect(pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    expect(pit.saveState()).toEqual(new Pit(clock).saveState());
  });
});
