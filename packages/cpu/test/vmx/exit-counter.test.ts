import { describe, expect, it } from "vitest";
import { ExitCounter } from "../../src/vmx/exit-counter.js";

describe("ExitCounter", () => {
  it("counts by basic reason and reads like a Map in first-occurrence order", () => {
    const c = new ExitCounter();
    for (const r of [30, 10, 30, 48, 10, 30]) c.add(r);
    c.add((33 | 0x80000000) >>> 0); // a failed entry counts under its basic reason
    expect(c.size).toBe(4);
    expect(c.get(30)).toBe(3);
    expect(c.get(12)).toBeUndefined();
    expect(c.has(48)).toBe(true);
    expect([...c.entries()]).toEqual([
      [30, 3],
      [10, 2],
      [48, 1],
      [33, 1],
    ]);
    expect([...c.keys()]).toEqual([30, 10, 48, 33]);
    expect([...c.values()]).toEqual([3, 2, 1, 1]);
    expect(c.toMap()).toEqual(new Map([...c]));
    const seen: number[] = [];
    c.forEach((n, r) => {
      seen.push(r, n);
    });
    expect(seen).toEqual([30, 3, 10, 2, 48, 1, 33, 1]);
  });

  it("grows for a reason past its first table", () => {
    const c = new ExitCounter();
    c.add(0xfff0);
    c.add(1);
    expect([...c]).toEqual([
      [0xfff0, 1],
      [1, 1],
    ]);
  });
});
