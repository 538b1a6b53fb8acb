import { describe, expect, it } from "vitest";
import { DebugConsole } from "./debug-console.js";
import { DebugExit, qemuExitStatus } from "./debug-exit.js";
import { PortBus } from "./port-bus.js";

describe("DebugConsole (port 0xE9)", () => {
  it("appends the low byte of OUTs of any width", () => {
    const seen: number[] = [];
    const con = new DebugConsole({ onByte: (b) => seen.push(b) });
    con.portOut(0xe9, 1, 0x48);
    con.portOut(0xe9, 2, 0x1269);
    con.portOut(0xe9, 4, 0xdeadbe0a);
    expect(seen).toEqual([0x48, 0x69, 0x0a]);
    expect(con.text()).toBe("Hi\n");
    expect(Array.from(con.bytes())).toEqual([0x48, 0x69, 0x0a]);
  });

  it("answers IN with 0xE9 (the port E9 hack presence check)", () => {
    const bus = new PortBus();
    const con = new DebugConsole();
    bus.register(con, con.ports);
    expect(bus.in(0xe9, 1)).toBe(0xe9);
  });

  it("decodes UTF-8 and works through the bus", () => {
    const bus = new PortBus();
    const con = new DebugConsole();
    bus.register(con, con.ports);
    for (const b of new TextEncoder().encode("ünï ✓")) bus.out(0xe9, 1, b);
    expect(con.text()).toBe("ünï ✓");
  });

  it("keeps the most recent bytes when the buffer is full", () => {
    const seen: number[] = [];
    const con = new DebugConsole({ capacity: 8, onByte: (b) => seen.push(b) });
    for (const c of "0123456789") con.portOut(0xe9, 1, c.charCodeAt(0));
    expect(seen.length).toBe(10);
    expect(con.text()).toBe("456789");
    expect(con.dropped).toBe(4);
    con.clear();
    expect(con.text()).toBe("");
  });

  it("saves and restores its buffer", () => {
    const con = new DebugConsole();
    for (const c of "ok") con.portOut(0xe9, 1, c.charCodeAt(0));
    const state = con.saveState();
    const copy = new DebugConsole();
    copy.loadState(JSON.parse(JSON.stringify(state)));
    expect(copy.text()).toBe("ok");
  });
});

describe("DebugExit (port 0xF4)", () => {
  it("passes the value at its full access width, unsigned", () => {
    const exits: [number, number][] = [];
    const dev = new DebugExit({ onExit: (v, size) => exits.push([v, size]) });
    expect(dev.exited).toBe(false);
    dev.portOut(0xf4, 1, 0x1ff);
    dev.portOut(0xf4, 2, 0x12345);
    dev.portOut(0xf4, 4, -1);
    expect(exits).toEqual([
      [0xff, 1],
      [0x2345, 2],
      [0xffffffff, 4],
    ]);
    expect(dev.exited).toBe(true);
    expect(dev.exitValue).toBe(0xffffffff);
  });

  it("reads as all ones", () => {
    const dev = new DebugExit();
    expect(dev.portIn(0xf4, 1)).toBe(0xff);
    expect(dev.portIn(0xf4, 2)).toBe(0xffff);
    expect(dev.portIn(0xf4, 4)).toBe(0xffffffff);
  });

  it("works on the bus, with QEMU's exit status helper", () => {
    const bus = new PortBus();
    const dev = new DebugExit();
    bus.register(dev, dev.ports);
    bus.out(0xf4, 1, 0x10);
    expect(dev.exitValue).toBe(0x10);
    expect(qemuExitStatus(0x10)).toBe(0x21);
    expect(qemuExitStatus(0)).toBe(1);
    dev.reset();
    expect(dev.exited).toBe(false);
    expect(dev.saveState()).toEqual({ exitValue: null });
  });
});
