// The PC/AT pair of 8259A programmable interrupt controllers: the master at ports 0x20/0x21 and the
// slave at 0xA0/0xA1, whose INT output drives the master's IR2 (IRQ 2 is the cascade). Written from the
// Intel 8259A datasheet.
//
// Modeled:
// - Initialisation: ICW1 (edge/level trigger LTIM, single/cascade SNGL, IC4), ICW2 (vector base: bits
//   7-3; bits 2-0 are the IR level), ICW3 (master: slave bit mask; slave: its id), ICW4 (AEOI, SFNM; BUF
//   and M/S are stored but not used). ICW1 clears the IMR and ISR, resets the edge-sense latches, sets
//   IR7 lowest priority, clears special mask mode and selects IRR for reads (as the datasheet says).
//   The chip always runs in 8086 mode: ICW4's µPM bit, ADI and the MCS-80 modes are ignored.
// - OCW1: the IMR (read back at the odd port). OCW2: non-specific and specific EOI, rotate on
//   non-specific/specific EOI, set priority, rotate-in-AEOI set/clear (rotation is modeled: priorities
//   rotate, IRQ0 is only highest until rotated). OCW3: IRR/ISR read select, poll command, special mask
//   mode.
// - Priority: fully nested (IR0 highest after reset); a request is delivered only if no level of equal
//   or higher priority is in service. Slave IRQs 8-15 share the master IR2's priority. SFNM lets a
//   master see a further request on a level already in service (for cascaded slaves).
// - Edge triggering as on the real chip: a rising edge latches the request in the IRR, but the line must
//   still be high at INTA. If it falls first the request is withdrawn (and an INTA already begun gets
//   the spurious vector, below). So a device that wants one interrupt from a pulse must drive its line
//   low then high and leave it high (the PIT does this); a high-then-low pulse is lost before INTA.
//   While a line stays high no further request is made; it must fall and rise again. Level mode (LTIM)
//   makes the IRR follow the line.
// - The cascade: the slave's INT output drives the master's IR2. When a slave IRQ line falls before
//   INTA, the master (in edge mode) keeps its IR2 request latched although the slave's INT fell; this
//   stands for the real window between the master committing to IR2 and the slave answering INTA. So a
//   vanished slave request yields the slave's spurious vector (IRQ15 = slave base+7) with the master's
//   IR2 in service (the OS EOIs the master only), and a vanished master request yields IRQ7 (master
//   base+7) with nothing in service. Other reasons for the slave's INT to fall (masking, ICW1)
//   withdraw the master's IR2 request as on the real pair.
// - INTA when no request is pending (e.g. the CPU masked it between INTR and INTA) also yields the
//   master's spurious vector (base+7) with nothing put in service.
// - `setIrq(2)` is routed to IRQ 9, as the PC/AT bus reroutes the old IRQ2 pin (the master's IR2 pin is
//   the cascade input).
//
// Power-on state (documented choice): as a PC BIOS leaves the pair after POST, fully initialised in
// cascade mode with edge triggering and ICW4 (8086, normal EOI), master vector base 0x08, slave vector
// base 0x70, and every IRQ masked (IMR 0xFF on both chips). A guest normally re-initialises both anyway.
// hasInterrupt() reads a cached flag recomputed on every state change, so polling it between
// instructions is one field read.

import type { AccessSize, InterruptController, IrqLine, PortDevice, StatefulDevice } from "./device.js";

/** The plain-data state of one 8259A. */
export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  /** Current levels of the IR input lines (bit per line). */
  lines: number;
  /** Vector base from ICW2 (bits 7-3). */
  vectorBase: number;
  /** 0 = initialised (odd-port writes are OCW1); 2/3/4 = the next odd-port write is ICW2/ICW3/ICW4. */
  initStep: number;
  icw1: number;
  icw3: number;
  icw4: number;
  /** OCW3 read select: true = ISR, false = IRR. */
  readIsr: boolean;
  /** OCW3 poll command pending: the next even-port read returns the poll word. */
  poll: boolean;
  specialMask: boolean;
  rotateOnAutoEoi: boolean;
  /** The IR level with the lowest priority (7 after initialisation). */
  lowestPriority: number;
}

export interface PicState {
  master: PicChipState;
  slave: PicChipState;
}

/** One 8259A (internal; `Pic` wires two of them together). */
class Chip {
  irr = 0;
  isr = 0;
  imr = 0xff;
  lines = 0;
  vectorBase: number;
  initStep = 0;
  icw1 = 0x11;
  icw3: number;
  icw4 = 0x01;
  readIsr = false;
  poll = false;
  specialMask = false;
  rotateOnAutoEoi = false;
  lowestPriority = 7;

  constructor(vectorBase: number, icw3: number) {
    this.vectorBase = vectorBase;
    this.icw3 = icw3;
  }

  get levelTriggered(): boolean {
    return (this.icw1 & 0x08) !== 0;
  }

  get single(): boolean {
    return (this.icw1 & 0x02) !== 0;
  }

  /** Drives IR line n. `keepRequest`: a falling edge-triggered line keeps its latched request. */
  setLine(n: number, high: boolean, keepRequest = false): void {
    const bit = 1 << n;
    if (high) {
      if ((this.lines & bit) === 0) {
        this.lines |= bit;
        this.irr |= bit; // rising edge (or level high): request
      }
    } else if ((this.lines & bit) !== 0) {
      this.lines &= ~bit;
      // The request is withdrawn if not yet acknowledged.
      if (!keepRequest || this.levelTriggered) this.irr &= ~bit;
    }
  }

  /** The IR level the chip would deliver now, or -1 (its INT output is `resolve() >= 0`). */
  resolve(): number {
    const req = this.irr & ~this.imr & 0xff;
    if (req === 0) return -1;
    const sfnm = (this.icw4 & 0x10) !== 0;
    for (let i = 1; i <= 8; i++) {
      const level = (this.lowestPriority + i) & 7;
      const bit = 1 << level;
      if (this.specialMask) {
        // Special mask mode: every unmasked level not itself in service may interrupt.
        if ((req & bit & ~this.isr) !== 0) return level;
        continue;
      }
      if ((req & bit) !== 0) return (this.isr & bit) === 0 || sfnm ? level : -1;
      if ((this.isr & bit) !== 0) return -1;
    }
    return -1;
  }

  /** The INTA cycle for `level` (or a poll): IRR → ISR, or auto-EOI. */
  acknowledgeLevel(level: number): void {
    const bit = 1 << level;
    if (!this.levelTriggered) this.irr &= ~bit;
    if ((this.icw4 & 0x02) !== 0) {
      if (this.rotateOnAutoEoi) this.lowestPriority = level;
    } else {
      this.isr |= bit;
    }
  }

  /** The in-service level with the highest priority, or -1. */
  highestInService(): number {
    if (this.isr === 0) return -1;
    for (let i = 1; i <= 8; i++) {
      const level = (this.lowestPriority + i) & 7;
      if ((this.isr & (1 << level)) !== 0) return level;
    }
    return -1;
  }

  write(odd: boolean, value: number): void {
    value &= 0xff;
    if (!odd) {
      if ((value & 0x10) !== 0) this.icw1Write(value);
      else if ((value & 0x08) !== 0) this.ocw3(value);
      else this.ocw2(value);
      return;
    }
    switch (this.initStep) {
      case 2:
        this.vectorBase = value & 0xf8;
        this.initStep = this.single ? ((this.icw1 & 1) !== 0 ? 4 : 0) : 3;
        break;
      case 3:
        this.icw3 = value;
        this.initStep = (this.icw1 & 1) !== 0 ? 4 : 0;
        break;
      case 4:
        this.icw4 = value & 0x1f;
        this.initStep = 0;
        break;
      default:
        this.imr = value; // OCW1
    }
  }

  private icw1Write(value: number): void {
    this.icw1 = value;
    this.initStep = 2;
    this.imr = 0;
    this.isr = 0;
    // Edge-sense latches are reset: a line already high must go low and high again to request.
    this.irr = this.levelTriggered ? this.lines : 0;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.rotateOnAutoEoi = false;
    this.lowestPriority = 7;
    if ((value & 0x01) === 0) this.icw4 = 0;
  }

  private ocw2(value: number): void {
    const level = value & 7;
    switch (value >> 5) {
      case 0b001: // non-specific EOI
        this.eoi(this.highestInService(), false);
        break;
      case 0b011: // specific EOI
        this.eoi(level, false);
        break;
      case 0b101: // rotate on non-specific EOI
        this.eoi(this.highestInService(), true);
        break;
      case 0b111: // rotate on specific EOI
        this.eoi(level, true);
        break;
      case 0b100: // rotate in automatic EOI mode (set)
        this.rotateOnAutoEoi = true;
        break;
      case 0b000: // rotate in automatic EOI mode (clear)
        this.rotateOnAutoEoi = false;
        break;
      case 0b110: // set priority
        this.lowestPriority = level;
        break;
      default: // 0b010: no operation
        break;
    }
  }

  private eoi(level: number, rotate: boolean): void {
    if (level < 0) return;
    this.isr &= ~(1 << level);
    if (rotate) this.lowestPriority = level;
  }

  private ocw3(value: number): void {
    if ((value & 0x40) !== 0) this.specialMask = (value & 0x20) !== 0;
    if ((value & 0x04) !== 0) this.poll = true;
    if ((value & 0x02) !== 0) this.readIsr = (value & 0x01) !== 0;
  }

  read(odd: boolean): number {
    if (odd) return this.imr;
    if (this.poll) {
      this.poll = false;
      const level = this.resolve();
      if (level < 0) return 0;
      this.acknowledgeLevel(level);
      return 0x80 | level;
    }
    return this.readIsr ? this.isr : this.irr;
  }

  save(): PicChipState {
    return {
      irr: this.irr,
      isr: this.isr,
      imr: this.imr,
      lines: this.lines,
      vectorBase: this.vectorBase,
      initStep: this.initStep,
      icw1: this.icw1,
      icw3: this.icw3,
      icw4: this.icw4,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      lowestPriority: this.lowestPriority,
    };
  }

  load(s: PicChipState): void {
    this.irr = s.irr & 0xff;
    this.isr = s.isr & 0xff;
    this.imr = s.imr & 0xff;
    this.lines = s.lines & 0xff;
    this.vectorBase = s.vectorBase & 0xf8;
    this.initStep = s.initStep;
    this.icw1 = s.icw1 & 0xff;
    this.icw3 = s.icw3 & 0xff;
    this.icw4 = s.icw4 & 0x1f;
    this.readIsr = s.readIsr;
    this.poll = s.poll;
    this.specialMask = s.specialMask;
    this.rotateOnAutoEoi = s.rotateOnAutoEoi;
    this.lowestPriority = s.lowestPriority & 7;
  }
}

/** Master and slave 8259A as wired in a PC/AT. Register it on ports `Pic.PORTS`. */
export class Pic implements PortDevice, InterruptController, StatefulDevice<PicState> {
  static readonly PORTS: readonly number[] = [0x20, 0x21, 0xa0, 0xa1];

  readonly name: string;
  readonly ports: readonly number[] = Pic.PORTS;
  /** Optional: called when the INTR output changes (e.g. to wake a halted CPU). */
  onIntrChange: ((asserted: boolean) => void) | undefined = undefined;

  private readonly master = new Chip(0x08, 0x04);
  private readonly slave = new Chip(0x70, 0x02);
  private intr = false;
  private readonly lines: readonly IrqLine[];

  constructor(name = "pic") {
    this.name = name;
    const lines: IrqLine[] = [];
    for (let n = 0; n < 16; n++) lines.push((level: boolean) => this.setIrq(n, level));
    this.lines = lines;
  }

  /** Back to the power-on (BIOS-initialised) state; input line levels are forgotten. */
  reset(): void {
    const fresh = new Pic();
    this.loadState(fresh.saveState());
  }

  /** Drives IRQ line n (0-15). IRQ 2 is routed to IRQ 9 (the cascade occupies the master's IR2). */
  setIrq(n: number, level: boolean): void {
    if (!Number.isInteger(n) || n < 0 || n > 15) throw new RangeError(`IRQ ${String(n)} is outside 0-15`);
    if (n === 2) n = 9;
    if (n < 8) {
      this.master.setLine(n, level);
      this.update();
    } else {
      this.slave.setLine(n - 8, level);
      // A vanished slave request leaves the master's IR2 latched (see the file comment).
      this.update(!level);
    }
  }

  /** The IrqLine for IRQ n (stable identity per n). */
  irqLine(n: number): IrqLine {
    const line = this.lines[n];
    if (line === undefined) throw new RangeError(`IRQ ${String(n)} is outside 0-15`);
    return line;
  }

  hasInterrupt(): boolean {
    return this.intr;
  }

  acknowledge(): number {
    const master = this.master;
    const level = master.resolve();
    let vector: number;
    if (level < 0) {
      vector = master.vectorBase | 7; // spurious IRQ7
    } else {
      master.acknowledgeLevel(level);
      if (level === 2 && !master.single && (master.icw3 & 0x04) !== 0) {
        const slave = this.slave;
        const slaveLevel = slave.resolve();
        if (slaveLevel < 0) {
          vector = slave.vectorBase | 7; // spurious IRQ15 (the master's IR2 stays in service)
        } else {
          slave.acknowledgeLevel(slaveLevel);
          vector = slave.vectorBase | slaveLevel;
        }
      } else {
        vector = master.vectorBase | level;
      }
    }
    this.update();
    return vector;
  }

  portIn(port: number, _size: AccessSize): number {
    const chip = (port & 0x80) !== 0 ? this.slave : this.master;
    const value = chip.read((port & 1) !== 0);
    this.update(); // a poll read acts as an acknowledge
    return value;
  }

  portOut(port: number, _size: AccessSize, value: number): void {
    const chip = (port & 0x80) !== 0 ? this.slave : this.master;
    chip.write((port & 1) !== 0, value);
    this.update();
  }

  /** IRR of both chips as 16 bits (slave in the high byte). */
  get irr(): number {
    return this.master.irr | (this.slave.irr << 8);
  }

  /** ISR of both chips as 16 bits (slave in the high byte). */
  get isr(): number {
    return this.master.isr | (this.slave.isr << 8);
  }

  /** IMR of both chips as 16 bits (slave in the high byte). */
  get imr(): number {
    return this.master.imr | (this.slave.imr << 8);
  }

  /** Vector bases from ICW2: [master, slave]. */
  get vectorBases(): [number, number] {
    return [this.master.vectorBase, this.slave.vectorBase];
  }

  saveState(): PicState {
    return { master: this.master.save(), slave: this.slave.save() };
  }

  loadState(state: PicState): void {
    this.master.load(state.master);
    this.slave.load(state.slave);
    this.update();
  }

  /** Propagates the slave's INT to the master's IR2 and recomputes INTR. */
  private update(holdCascade = false): void {
    this.master.setLine(2, this.slave.resolve() >= 0, holdCascade);
    const intr = this.master.resolve() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      if (this.onIntrChange !== undefined) this.onIntrChange(intr);
    }
  }
}
