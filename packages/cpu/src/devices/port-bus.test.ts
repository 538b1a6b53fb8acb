import { describe, expect, it } from "vitest";
import type { AccessSize, PortDevice } from "./device.js";
import { PortBus } from "./port-bus.js";

class Recorder implements PortDevice {
  readonly writes: [number, AccessSize, number][] = [];
  readonly reads: [number, AccessSize][] = [];
  constructor(
    readonly name: string,
    private readonly answer: (port: number, size: AccessSize) => number = (port) => port & 0xff,
  ) {}
  portIn(port: number, size: AccessSize): number {
    this.reads.push([port, size]);
    return this.answer(port, size);
  }
  portOut(port: number, size: AccessSize, value: number): void {
    this.writes.push([port, size, value]);
  }
}

describe("PortBus", () => {
  it("reads unclaimed ports as all ones of the access width, unsigned", () => {
    const bus = new PortBus();
    expect(bus.in(0x80, 1)).toBe(0xff);
    expect(bus.in(0x80, 2)).toBe(0xffff);
    expect(bus.in(0x80, 4)).toBe(0xffffffff);
    expect(bus.in(0xffff, 4)).toBe(0xffffffff);
  });

  it("ignores writes to unclaimed ports", () => {
    const bus = new PortBus();
    expect(() => bus.out(0x1234, 4, 0xdeadbeef)).not.toThrow();
    expect(bus.claimedPorts()).toEqual([]);
  });

  it("dispatches to the claiming device, by list or by range", () => {
    const bus = new PortBus();
    const a = new Recorder("a");
    const b = new Recorder("b");
    bus.register(a, [0x60, 0x64]);
    bus.register(b, { from: 0x3f8, to: 0x3ff });
    expect(bus.in(0x64, 1)).toBe(0x64);
    expect(bus.in(0x3fd, 1)).toBe(0xfd);
    bus.out(0x60, 1, 0xab);
    bus.out(0x3f8, 2, 0x1234);
    expect(a.writes).toEqual([[0x60, 1, 0xab]]);
    expect(b.writes).toEqual([[0x3f8, 2, 0x1234]]);
    expect(bus.in(0x61, 1)).toBe(0xff); // between a's ports: unclaimed
    expect(bus.deviceAt(0x3ff)).toBe(b);
    expect(bus.deviceAt(0x400)).toBeUndefined();
  });

  it("masks values to the access width and returns them unsigned", () => {
    const bus = new PortBus();
    const dev = new Recorder("neg", () => -1);
    bus.register(dev, [0x10]);
    expect(bus.in(0x10, 1)).toBe(0xff);
    expect(bus.in(0x10, 2)).toBe(0xffff);
    expect(bus.in(0x10, 4)).toBe(0xffffffff);
    bus.out(0x10, 1, 0x1ff);
    bus.out(0x10, 2, 0x12345);
    bus.out(0x10, 4, -2);
    expect(dev.writes).toEqual([
      [0x10, 1, 0xff],
      [0x10, 2, 0x2345],
      [0x10, 4, 0xfffffffe],
    ]);
  });

  it("wraps port numbers to 16 bits", () => {
    const bus = new PortBus();
    bus.register(new Recorder("a"), [0x20]);
    expect(bus.in(0x10020, 1)).toBe(0x20);
  });

  it("rejects a conflicting registration, naming both devices and the port, and claims nothing", () => {
    const bus = new PortBus();
    bus.register(new Recorder("pic"), [0x20, 0x21]);
    const other = new Recorder("intruder");
    expect(() => bus.register(other, { from: 0x1e, to: 0x22 })).toThrow(
      'I/O port 0x0020 is already claimed by device "pic"; cannot register device "intruder"',
    );
    expect(bus.deviceAt(0x1e)).toBeUndefined();
    expect(bus.deviceAt(0x22)).toBeUndefined();
    expect(() => bus.register(other, [0x21])).toThrow(/0x0021.*"pic".*"intruder"/);
  });

  it("rejects a port claimed twice by the same device, but tolerates duplicates within one call", () => {
    const bus = new PortBus();
    const a = new Recorder("a");
    bus.register(a, [0x70, 0x70, 0x71]);
    expect(() => bus.register(a, [0x71])).toThrow(/0x0071/);
    bus.register(a, [0x72]); // more ports for the same device
    expect(bus.claimedPorts().map((r) => [r.from, r.to, r.name])).toEqual([[0x70, 0x72, "a"]]);
  });

  it("rejects invalid ports and ranges", () => {
    const bus = new PortBus();
    const a = new Recorder("a");
    expect(() => bus.register(a, [0x10000])).toThrow(RangeError);
    expect(() => bus.register(a, [-1])).toThrow(RangeError);
    expect(() => bus.register(a, [1.5])).toThrow(RangeError);
    expect(() => bus.register(a, { from: 5, to: 4 })).toThrow(RangeError);
    expect(bus.claimedPorts()).toEqual([]);
  });

  it("unregisters a device and lets another claim its ports", () => {
    const bus = new PortBus();
    const a = new Recorder("a");
    const b = new Recorder("b", () => 0x42);
    bus.register(a, { from: 0x40, to: 0x43 });
    expect(bus.unregister(a)).toBe(true);
    expect(bus.unregister(a)).toBe(false);
    expect(bus.in(0x40, 1)).toBe(0xff);
    bus.register(b, [0x40]);
    expect(bus.in(0x40, 1)).toBe(0x42);
    bus.register(a, [0x41]);
    expect(bus.deviceAt(0x41)).toBe(a);
  });

  it("lists claimed ports as contiguous per-device ranges", () => {
    const bus = new PortBus();
    const pic = new Recorder("pic");
    const pit = new Recorder("pit");
    bus.register(pic, [0xa0, 0x20, 0x21, 0xa1]);
    bus.register(pit, { from: 0x40, to: 0x43 });
    expect(bus.claimedPorts().map(({ from, to, name }) => ({ from, to, name }))).toEqual([
      { from: 0x20, to: 0x21, name: "pic" },
      { from: 0x40, to: 0x43, name: "pit" },
      { from: 0xa0, to: 0xa1, name: "pic" },
    ]);
    expect(bus.claimedPorts()[0]!.device).toBe(pic);
  });

  it("calls the access hook for every access, claimed or not, with masked values", () => {
    const bus = new PortBus();
    bus.register(new Recorder("a", () => 0x1234), [0x20]);
    const log: string[] = [];
    bus.onAccess = (dir, port, size, value) => log.push(`${dir} ${port.toString(16)} ${size} ${value.toString(16)}`);
    bus.in(0x20, 1);
    bus.in(0x21, 2);
    bus.out(0x20, 1, 0x1ff);
    bus.onAccess = undefined;
    bus.in(0x20, 1);
    expect(log).toEqual(["in 20 1 34", "in 21 2 ffff", "out 20 1 ff"]);
  });
});
