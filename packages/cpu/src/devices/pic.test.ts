import { describe, expect, it } from "vitest";
import { Pic } from "./pic.js";

/** The usual protected-mode remap: master base 0x20, slave base 0x28, all unmasked. */
function initPic(pic: Pic, masterBase = 0x20, slaveBase = 0x28): void {
  pic.portOut(0x20, 1, 0x11); // ICW1: edge, cascade, ICW4 needed
  pic.portOut(0xa0, 1, 0x11);
  pic.portOut(0x21, 1, masterBase); // ICW2
  pic.portOut(0xa1, 1, slaveBase);
  pic.portOut(0x21, 1, 0x04); // ICW3: slave on IR2
  pic.portOut(0xa1, 1, 0x02); // ICW3: slave id 2
  pic.portOut(0x21, 1, 0x01); // ICW4: 8086 mode
  pic.portOut(0xa1, 1, 0x01);
  pic.portOut(0x21, 1, 0x00); // OCW1: unmask all
  pic.portOut(0xa1, 1, 0x00);
}

const EOI = 0x20;

function readIsr(pic: Pic, port: number): number {
  pic.portOut(port, 1, 0x0b);
  return pic.portIn(port, 1);
}

function readIrr(pic: Pic, port: number): number {
  pic.portOut(port, 1, 0x0a);
  return pic.portIn(port, 1);
}

describe("Pic power-on state", () => {
  it("is BIOS-initialised: bases 0x08/0x70, everything masked", () => {
    const pic = new Pic();
    expect(pic.vectorBases).toEqual([0x08, 0x70]);
    expect(pic.portIn(0x21, 1)).toBe(0xff);
    expect(pic.portIn(0xa1, 1)).toBe(0xff);
    pic.setIrq(0, true);
    expect(pic.hasInterrupt()).toBe(false);
    expect(pic.irr & 1).toBe(1); // latched while masked
    pic.portOut(0x21, 1, 0xfe);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x08);
  });

  it("delivers slave IRQs at the 0x70 base once unmasked", () => {
    const pic = new Pic();
    pic.portOut(0x21, 1, 0xfb); // unmask the cascade
    pic.portOut(0xa1, 1, 0xfe); // unmask IRQ8
    pic.setIrq(8, true);
    expect(pic.acknowledge()).toBe(0x70);
  });
});

describe("Pic initialisation", () => {
  it("ICW1 clears the IMR and ISR; ICW2 sets the vector base", () => {
    const pic = new Pic();
    pic.portOut(0x21, 1, 0xfe);
    pic.setIrq(0, true);
    pic.acknowledge();
    expect(pic.isr).toBe(1);
    initPic(pic, 0x40, 0x48);
    expect(pic.imr).toBe(0);
    expect(pic.isr).toBe(0);
    expect(pic.vectorBases).toEqual([0x40, 0x48]);
  });

  it("ignores the low 3 bits of ICW2", () => {
    const pic = new Pic();
    initPic(pic, 0x25, 0x2f);
    expect(pic.vectorBases).toEqual([0x20, 0x28]);
  });

  it("resets the edge sense: a line already high must fall and rise again", () => {
    const pic = new Pic();
    pic.setIrq(1, true);
    initPic(pic);
    expect(pic.hasInterrupt()).toBe(false);
    pic.setIrq(1, false);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21);
  });

  it("the odd port is the IMR only after the sequence; ICW3/ICW4 are skipped when not requested", () => {
    const pic = new Pic();
    pic.portOut(0x20, 1, 0x12); // ICW1: single, no ICW4
    pic.portOut(0x21, 1, 0x30); // ICW2
    pic.portOut(0x21, 1, 0xf0); // OCW1 already
    expect(pic.portIn(0x21, 1)).toBe(0xf0);
    expect(pic.vectorBases[0]).toBe(0x30);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x33);
  });

  it("in single mode the master supplies the IR2 vector itself", () => {
    const pic = new Pic();
    pic.portOut(0x20, 1, 0x13); // single, ICW4
    pic.portOut(0x21, 1, 0x30);
    pic.portOut(0x21, 1, 0x01); // ICW4 (no ICW3 in single mode)
    pic.portOut(0x21, 1, 0x00);
    pic.portOut(0xa1, 1, 0x00);
    pic.setIrq(8, true); // slave raises INT onto IR2
    expect(pic.acknowledge()).toBe(0x32);
  });
});

describe("Pic masking and priority", () => {
  it("masks with OCW1 and reads the IMR back", () => {
    const pic = new Pic();
    initPic(pic);
    pic.portOut(0x21, 1, 0x08);
    expect(pic.portIn(0x21, 1)).toBe(0x08);
    pic.setIrq(3, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x21, 1, 0x00);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it("delivers the lowest-numbered request first (IRQ0 highest)", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(5, true);
    pic.setIrq(3, true);
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x23);
    pic.portOut(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x24);
    pic.portOut(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x25);
  });

  it("blocks equal and lower priorities while in service, lets higher ones nest", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x23);
    pic.setIrq(4, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.setIrq(1, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x21);
    expect(pic.isr).toBe(0b1010);
    pic.portOut(0x20, 1, EOI); // non-specific: clears the highest (IRQ1)
    expect(pic.isr).toBe(0b1000);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x24);
  });

  it("specific EOI clears the named level", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.setIrq(1, true);
    pic.acknowledge();
    pic.portOut(0x20, 1, 0x60 | 3); // specific EOI for IRQ3
    expect(pic.isr).toBe(0b0010);
  });

  it("gives slave IRQs the master IR2's priority", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(3, true);
    pic.setIrq(8, true);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x21);
    pic.portOut(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x28); // IRQ8 (via IR2) beats IRQ3
    pic.portOut(0xa0, 1, EOI);
    pic.portOut(0x20, 1, EOI);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it("rotates priorities with rotate-on-EOI and set-priority", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(3, true);
    pic.acknowledge();
    pic.portOut(0x20, 1, 0xa0); // rotate on non-specific EOI: IRQ3 becomes lowest
    pic.setIrq(1, true);
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x24); // 4 is now highest
    pic.portOut(0x20, 1, EOI);
    pic.portOut(0x20, 1, 0xc0 | 7); // set priority: IRQ7 lowest again
    expect(pic.acknowledge()).toBe(0x21);
  });
});

describe("Pic edge triggering and EOI", () => {
  it("one rising edge is one interrupt; a line held high does not repeat", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x20);
    pic.portOut(0x20, 1, EOI);
    expect(pic.hasInterrupt()).toBe(false);
    pic.setIrq(0, false);
    pic.setIrq(0, true);
    expect(pic.acknowledge()).toBe(0x20);
  });

  it("a new edge while in service is remembered until EOI", () => {
    const pic = new Pic();
    initPic(pic);
    const line = pic.irqLine(0);
    line(true);
    pic.acknowledge();
    line(false);
    line(true);
    expect(pic.hasInterrupt()).toBe(false);
    expect(readIrr(pic, 0x20)).toBe(1);
    pic.portOut(0x20, 1, EOI);
    expect(pic.hasInterrupt()).toBe(true);
  });

  it("level mode keeps requesting while the line is high", () => {
    const pic = new Pic();
    pic.portOut(0x20, 1, 0x19); // ICW1 with LTIM
    pic.portOut(0x21, 1, 0x20);
    pic.portOut(0x21, 1, 0x04);
    pic.portOut(0x21, 1, 0x01);
    pic.portOut(0x21, 1, 0x00);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
    pic.portOut(0x20, 1, EOI);
    expect(pic.hasInterrupt()).toBe(true);
    pic.setIrq(6, false);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("auto-EOI leaves nothing in service", () => {
    const pic = new Pic();
    pic.portOut(0x20, 1, 0x11);
    pic.portOut(0x21, 1, 0x20);
    pic.portOut(0x21, 1, 0x04);
    pic.portOut(0x21, 1, 0x03); // ICW4: 8086, AEOI
    pic.portOut(0x21, 1, 0x00);
    pic.setIrq(4, true);
    expect(pic.acknowledge()).toBe(0x24);
    expect(pic.isr).toBe(0);
  });
});

describe("Pic OCW3", () => {
  it("selects IRR or ISR for reads of the even port", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(5, true);
    pic.setIrq(6, true);
    expect(readIrr(pic, 0x20)).toBe(0x60);
    pic.acknowledge();
    expect(readIsr(pic, 0x20)).toBe(0x20);
    expect(pic.portIn(0x20, 1)).toBe(0x20); // the selection sticks
    expect(readIrr(pic, 0x20)).toBe(0x40);
  });

  it("poll command returns and acknowledges the highest request", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(6, true);
    pic.portOut(0x20, 1, 0x0c); // OCW3 poll
    expect(pic.portIn(0x20, 1)).toBe(0x86);
    expect(pic.isr).toBe(0x40);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x20, 1, 0x0c);
    expect(pic.portIn(0x20, 1)).toBe(0x00);
  });

  it("special mask mode lets lower priorities through while a level is in service", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(1, true);
    pic.acknowledge();
    pic.setIrq(5, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x21, 1, 0x02); // mask IRQ1
    pic.portOut(0x20, 1, 0x68); // OCW3: set special mask mode
    expect(pic.acknowledge()).toBe(0x25);
    pic.portOut(0x20, 1, 0x48); // reset special mask mode
  });
});

describe("Pic cascade", () => {
  it("delivers slave IRQs with both chips in service and needs EOI on both", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(10, true);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x2a);
    expect(pic.isr).toBe(0x0404); // master IR2 and slave IR2
    pic.setIrq(9, true); // higher on the slave, but the master's IR2 is in service
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0xa0, 1, EOI);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x20, 1, EOI);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x29);
  });

  it("masks the whole slave through the master's IR2 mask bit", () => {
    const pic = new Pic();
    initPic(pic);
    pic.portOut(0x21, 1, 0x04);
    pic.setIrq(14, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0x21, 1, 0x00);
    expect(pic.acknowledge()).toBe(0x2e);
  });

  it("masks individual slave IRQs with the slave IMR", () => {
    const pic = new Pic();
    initPic(pic);
    pic.portOut(0xa1, 1, 0x10);
    pic.setIrq(12, true);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0xa1, 1, 0x00);
    expect(pic.acknowledge()).toBe(0x2c);
  });

  it("routes IRQ 2 to IRQ 9", () => {
    const pic = new Pic();
    initPic(pic);
    pic.irqLine(2)(true);
    expect(pic.acknowledge()).toBe(0x29);
  });
});

describe("Pic spurious interrupts", () => {
  it("gives IRQ7 when a master request vanishes before acknowledge", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(5, true);
    expect(pic.hasInterrupt()).toBe(true);
    pic.setIrq(5, false);
    expect(pic.hasInterrupt()).toBe(false);
    expect(pic.acknowledge()).toBe(0x27);
    expect(pic.isr).toBe(0); // nothing in service: no EOI is due
  });

  it("gives IRQ15 when a slave request vanishes before acknowledge; the master's IR2 is in service", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(12, true);
    pic.setIrq(12, false);
    expect(pic.hasInterrupt()).toBe(true); // the master latched the cascade edge
    expect(pic.acknowledge()).toBe(0x2f);
    expect(pic.isr).toBe(0x0004);
    pic.portOut(0x20, 1, EOI);
    expect(pic.isr).toBe(0);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it("withdraws the cascade request when the slave IRQ is masked before acknowledge", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(12, true);
    expect(pic.hasInterrupt()).toBe(true);
    pic.portOut(0xa1, 1, 0x10);
    expect(pic.hasInterrupt()).toBe(false);
    pic.portOut(0xa1, 1, 0x00);
    expect(pic.acknowledge()).toBe(0x2c);
  });

  it("gives IRQ7 when acknowledged with nothing pending (e.g. masked after INTR)", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(3, true);
    pic.portOut(0x21, 1, 0x08);
    expect(pic.acknowledge()).toBe(0x27);
    pic.portOut(0x21, 1, 0x00);
    expect(pic.acknowledge()).toBe(0x23); // the real request is still there
  });
});

describe("Pic plumbing", () => {
  it("reports INTR changes", () => {
    const pic = new Pic();
    initPic(pic);
    const seen: boolean[] = [];
    pic.onIntrChange = (v) => seen.push(v);
    pic.setIrq(0, true);
    pic.acknowledge();
    expect(seen).toEqual([true, false]);
  });

  it("irqLine identity is stable and out-of-range IRQs throw", () => {
    const pic = new Pic();
    expect(pic.irqLine(4)).toBe(pic.irqLine(4));
    expect(() => pic.irqLine(16)).toThrow(RangeError);
    expect(() => pic.setIrq(-1, true)).toThrow(RangeError);
  });

  it("saves and restores plain-data state", () => {
    const pic = new Pic();
    initPic(pic, 0x30, 0x38);
    pic.portOut(0x21, 1, 0x10);
    pic.setIrq(1, true);
    expect(pic.acknowledge()).toBe(0x31);
    pic.setIrq(11, true);
    const state = pic.saveState();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    const copy = new Pic();
    copy.loadState(state);
    expect(copy.saveState()).toEqual(state);
    expect(copy.hasInterrupt()).toBe(false); // IRQ1 in service blocks IR2
    copy.portOut(0x20, 1, EOI);
    expect(copy.acknowledge()).toBe(0x3b);
    expect(copy.imr).toBe(0x10);
  });

  it("reset() returns to the power-on state", () => {
    const pic = new Pic();
    initPic(pic);
    pic.setIrq(0, true);
    pic.reset();
    expect(pic.saveState()).toEqual(new Pic().saveState());
  });
});
