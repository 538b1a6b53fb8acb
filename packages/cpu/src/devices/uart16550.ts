// A 16550A UART (PC serial port). The base port and the interrupt output line are constructor
// parameters: COM1 is base 0x3F8 on IRQ 4, COM2 0x2F8 on IRQ 3 (see `COM_PORTS`). Written from the
// National/TI PC16550D datasheet.
//
// Registers (offset from base; DLAB = LCR bit 7): 0 RBR (read) / THR (write) / DLL (DLAB), 1 IER / DLM
// (DLAB), 2 IIR (read) / FCR (write), 3 LCR, 4 MCR, 5 LSR, 6 MSR, 7 SCR.
//
// Modeled:
// - Transmit: a byte written to THR goes to `onTransmit(byte)` immediately; there is no modeled baud
//   delay, so THRE and TEMT are always set. Writing THR clears a pending THR-empty interrupt, and as the
//   byte leaves at once the THR-empty interrupt is raised again (the line drops and rises, an edge). The
//   THR-empty interrupt is also raised when IER bit 1 goes from 0 to 1, and cleared by reading IIR while
//   it is the reported source. The byte is passed whole: LCR word length, parity and stop bits and the
//   divisor are stored (and read back) but do not alter the data or timing.
// - Receive: `receive(bytes | string)` (strings are UTF-8 encoded) queues input in a receive FIFO of
//   `rxCapacity` bytes (default 65536, at least 16), so the host can paste input with no pacing. A byte
//   arriving with the FIFO full is dropped and sets LSR.OE (overrun). LSR.DR is set while the FIFO holds
//   data; reading RBR pops it (an empty RBR reads the last byte again). With FIFOs disabled the receive
//   queue is still used (as if the chip had a large buffer); FCR only changes the IIR bits and the
//   trigger/timeout reporting. With FIFOs enabled, data at or above the FCR trigger level reports
//   "received data available" (IIR 0x04); data below it reports "character timeout" (IIR 0x0C)
//   immediately, as if the four character times had already passed.
// - FCR: bit 0 enables the FIFOs (IIR bits 7-6 read 11), bit 1 clears the receive FIFO, bits 7-6 set the
//   trigger level (1/4/8/14); disabling the FIFOs clears the receive FIFO, as on the chip (input queued
//   before a driver resets its FIFOs is therefore discarded). DMA mode (bit 3) is ignored.
// - Interrupts, in IIR priority order: receiver line status (0x06, an overrun; cleared by reading LSR) >
//   received data (0x04/0x0C; cleared by emptying the FIFO) > THR empty (0x02) > modem status (0x00;
//   cleared by reading MSR). IIR reads 0x01 (| 0xC0 with FIFOs) when nothing is pending. The interrupt
//   output is an IrqLine held high while an IER-enabled condition is pending.
//   By default the line is not gated by MCR OUT2; with `out2GatesIrq: true` it is, as on PC serial cards
//   (where OUT2 enables the IRQ driver and loopback forces it off).
// - MCR loopback (bit 4): THR bytes are received by the UART itself instead of going to `onTransmit`,
//   `receive()` is ignored (the serial input is disconnected), and MSR reflects MCR: CTS = RTS,
//   DSR = DTR, RI = OUT1, DCD = OUT2.
// - MSR: outside loopback the modem inputs default to CTS, DSR and DCD asserted (a connected cable);
//   `setModemInputs()` changes them. Changes set the delta bits (DCTS, DDSR, TERI, DDCD).
// - Never modeled: parity/framing errors, break, LSR bit 7.

import type { AccessSize, IrqLine, PortDevice, StatefulDevice } from "./device.js";
import type { PortRange } from "./port-bus.js";

/** The standard PC serial ports: base port and IRQ number. */
export const COM_PORTS = {
  COM1: { base: 0x3f8, irq: 4 },
  COM2: { base: 0x2f8, irq: 3 },
  COM3: { base: 0x3e8, irq: 4 },
  COM4: { base: 0x2e8, irq: 3 },
} as const;

export interface Uart16550Options {
  /** First of the 8 ports (default 0x3F8, COM1). */
  base?: number;
  /** The interrupt output (e.g. `pic.irqLine(4)`). */
  irq?: IrqLine;
  /** Device name on the port bus (default "uart@<base>"). */
  name?: string;
  /** Receives each transmitted byte. */
  onTransmit?: (byte: number) => void;
  /** Receive FIFO size in bytes (default 65536; at least 16). */
  rxCapacity?: number;
  /** Gate the interrupt output with MCR OUT2 like a PC serial card (default false). */
  out2GatesIrq?: boolean;
}

export interface Uart16550State {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  fifoEnabled: boolean;
  /** Receive FIFO trigger level: 1, 4, 8 or 14. */
  rxTrigger: number;
  /** Pending LSR error bits (OE, PE, FE, BI: bits 1-4), cleared by reading LSR. */
  lineErrors: number;
  /** MSR: status bits 7-4 as seen by the guest, delta bits 3-0. */
  msr: number;
  /** External modem inputs in MSR bit positions (CTS 0x10, DSR 0x20, RI 0x40, DCD 0x80). */
  modemInputs: number;
  threPending: boolean;
  /** Receive FIFO contents, oldest first. */
  rx: number[];
  /** The byte RBR returns when the FIFO is empty. */
  lastRx: number;
  /** Level of the interrupt output. */
  irqLevel: boolean;
}

const RX_TRIGGER_LEVELS = [1, 4, 8, 14] as const;
const DEFAULT_MODEM_INPUTS = 0xb0; // CTS, DSR, DCD

export class Uart16550 implements PortDevice, StatefulDevice<Uart16550State> {
  readonly name: string;
  readonly base: number;
  /** The ports to register: base .. base+7. */
  readonly ports: PortRange;
  /** Receives each byte written to THR (outside loopback). */
  onTransmit: ((byte: number) => void) | undefined;
  irq: IrqLine | undefined;

  private readonly out2GatesIrq: boolean;
  private readonly rxBuf: Uint8Array;
  private rxHead = 0;
  private rxCount = 0;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0x0c;
  private dlm = 0;
  private fifoEnabled = false;
  private rxTrigger = 1;
  private lineErrors = 0;
  private msr = DEFAULT_MODEM_INPUTS;
  private modemInputs = DEFAULT_MODEM_INPUTS;
  private threPending = false;
  private lastRx = 0;
  private irqLevel = false;

  constructor(options: Uart16550Options = {}) {
    const base = options.base ?? COM_PORTS.COM1.base;
    if (!Number.isInteger(base) || base < 0 || base > 0xfff8) {
      throw new RangeError(`Uart16550: base port ${String(base)} is out of range`);
    }
    const capacity = options.rxCapacity ?? 0x10000;
    if (!Number.isInteger(capacity) || capacity < 16) {
      throw new RangeError(`Uart16550: rxCapacity must be an integer ≥ 16, got ${String(capacity)}`);
    }
    this.base = base;
    this.ports = { from: base, to: base + 7 };
    this.name = options.name ?? `uart@0x${base.toString(16)}`;
    this.irq = options.irq;
    this.onTransmit = options.onTransmit;
    this.out2GatesIrq = options.out2GatesIrq ?? false;
    this.rxBuf = new Uint8Array(capacity);
  }

  /** Back to the reset state (drops the interrupt output if it was asserted). */
  reset(): void {
    this.rxHead = 0;
    this.rxCount = 0;
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.scr = 0;
    this.dll = 0x0c;
    this.dlm = 0;
    this.fifoEnabled = false;
    this.rxTrigger = 1;
    this.lineErrors = 0;
    this.modemInputs = DEFAULT_MODEM_INPUTS;
    this.msr = DEFAULT_MODEM_INPUTS;
    this.threPending = false;
    this.lastRx = 0;
    this.updateIrq();
  }

  // --- host side -------------------------------------------------------------------------------------

  /**
   * Queues received bytes (a string is UTF-8 encoded). Returns how many were accepted; the rest were
   * dropped with an overrun (FIFO full) or ignored (loopback mode).
   */
  receive(data: Uint8Array | string): number {
    if ((this.mcr & 0x10) !== 0) return 0;
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    let accepted = 0;
    for (const byte of bytes) {
      if (!this.pushRx(byte)) break;
      accepted++;
    }
    this.updateIrq();
    return accepted;
  }

  /** Bytes waiting in the receive FIFO. */
  get rxPending(): number {
    return this.rxCount;
  }

  /** Free space in the receive FIFO. */
  get rxFree(): number {
    return this.rxBuf.length - this.rxCount;
  }

  /** The baud-rate divisor (DLM:DLL); the baud rate is 115200 / divisor. */
  get divisor(): number {
    return this.dll | (this.dlm << 8);
  }

  /** Sets the external modem status inputs (outside loopback these are what MSR shows). */
  setModemInputs(inputs: { cts?: boolean; dsr?: boolean; ri?: boolean; dcd?: boolean }): void {
    let v = this.modemInputs;
    const set = (bit: number, on: boolean | undefined) => {
      if (on !== undefined) v = on ? v | bit : v & ~bit;
    };
    set(0x10, inputs.cts);
    set(0x20, inputs.dsr);
    set(0x40, inputs.ri);
    set(0x80, inputs.dcd);
    const before = this.modemStatus();
    this.modemInputs = v;
    this.modemStatusChanged(before);
    this.updateIrq();
  }

  // --- ports -----------------------------------------------------------------------------------------

  portIn(port: number, _size: AccessSize): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch ((port - this.base) & 7) {
      case 0:
        return dlab ? this.dll : this.readRbr();
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2:
        return this.readIir();
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.readLsr();
      case 6:
        return this.readMsr();
      default:
        return this.scr;
    }
  }

  portOut(port: number, _size: AccessSize, value: number): void {
    value &= 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch ((port - this.base) & 7) {
      case 0:
        if (dlab) this.dll = value;
        else this.transmit(value);
        break;
      case 1:
        if (dlab) this.dlm = value;
        else this.writeIer(value);
        break;
      case 2:
        this.writeFcr(value);
        break;
      case 3:
        this.lcr = value;
        break;
      case 4:
        this.writeMcr(value);
        break;
      case 7:
        this.scr = value;
        break;
      default:
        break; // LSR and MSR writes (factory test) are ignored
    }
  }

  // --- registers -------------------------------------------------------------------------------------

  private transmit(byte: number): void {
    this.threPending = false;
    this.updateIrq();
    if ((this.mcr & 0x10) !== 0) {
      this.pushRx(byte);
    } else if (this.onTransmit !== undefined) {
      this.onTransmit(byte);
    }
    this.threPending = true; // the byte left at once: THR is empty again
    this.updateIrq();
  }

  private readRbr(): number {
    if (this.rxCount > 0) {
      this.lastRx = this.rxBuf[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % this.rxBuf.length;
      this.rxCount--;
      this.updateIrq();
    }
    return this.lastRx;
  }

  private writeIer(value: number): void {
    const old = this.ier;
    this.ier = value & 0x0f;
    if ((this.ier & 0x02) !== 0 && (old & 0x02) === 0) this.threPending = true; // THR is always empty
    this.updateIrq();
  }

  private readIir(): number {
    const id = this.interruptId();
    if (id === 0x02) {
      this.threPending = false;
      this.updateIrq();
    }
    return id | (this.fifoEnabled ? 0xc0 : 0);
  }

  private writeFcr(value: number): void {
    if ((value & 0x01) === 0) {
      if (this.fifoEnabled) this.clearRx();
      this.fifoEnabled = false;
      this.rxTrigger = 1;
    } else {
      this.fifoEnabled = true;
      if ((value & 0x02) !== 0) this.clearRx();
      this.rxTrigger = RX_TRIGGER_LEVELS[value >> 6]!;
    }
    this.updateIrq();
  }

  private writeMcr(value: number): void {
    const before = this.modemStatus();
    this.mcr = value & 0x1f;
    this.modemStatusChanged(before);
    this.updateIrq();
  }

  private readLsr(): number {
    const value = 0x60 | this.lineErrors | (this.rxCount > 0 ? 0x01 : 0);
    if (this.lineErrors !== 0) {
      this.lineErrors = 0;
      this.updateIrq();
    }
    return value;
  }

  private readMsr(): number {
    const value = this.msr;
    if ((value & 0x0f) !== 0) {
      this.msr &= 0xf0;
      this.updateIrq();
    }
    return value;
  }

  // --- internals -------------------------------------------------------------------------------------

  private pushRx(byte: number): boolean {
    const cap = this.rxBuf.length;
    if (this.rxCount >= cap) {
      this.lineErrors |= 0x02; // overrun
      return false;
    }
    this.rxBuf[(this.rxHead + this.rxCount) % cap] = byte;
    this.rxCount++;
    return true;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  /** The modem status bits (MSR 7-4) the guest sees. */
  private modemStatus(): number {
    const mcr = this.mcr;
    if ((mcr & 0x10) === 0) return this.modemInputs;
    return (
      ((mcr & 0x02) !== 0 ? 0x10 : 0) |
      ((mcr & 0x01) !== 0 ? 0x20 : 0) |
      ((mcr & 0x04) !== 0 ? 0x40 : 0) |
      ((mcr & 0x08) !== 0 ? 0x80 : 0)
    );
  }

  private modemStatusChanged(before: number): void {
    const after = this.modemStatus();
    const diff = before ^ after;
    let deltas = 0;
    if ((diff & 0x10) !== 0) deltas |= 0x01; // DCTS
    if ((diff & 0x20) !== 0) deltas |= 0x02; // DDSR
    if ((before & 0x40) !== 0 && (after & 0x40) === 0) deltas |= 0x04; // TERI: RI trailing edge
    if ((diff & 0x80) !== 0) deltas |= 0x08; // DDCD
    this.msr = after | ((this.msr | deltas) & 0x0f);
  }

  /** IIR bits 3-0 of the highest-priority enabled pending interrupt (0x01 = none). */
  private interruptId(): number {
    const ier = this.ier;
    if ((ier & 0x04) !== 0 && this.lineErrors !== 0) return 0x06;
    if ((ier & 0x01) !== 0 && this.rxCount > 0) return this.fifoEnabled && this.rxCount < this.rxTrigger ? 0x0c : 0x04;
    if ((ier & 0x02) !== 0 && this.threPending) return 0x02;
    if ((ier & 0x08) !== 0 && (this.msr & 0x0f) !== 0) return 0x00;
    return 0x01;
  }

  private updateIrq(): void {
    let level = this.interruptId() !== 0x01;
    if (this.out2GatesIrq && ((this.mcr & 0x08) === 0 || (this.mcr & 0x10) !== 0)) level = false;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      if (this.irq !== undefined) this.irq(level);
    }
  }

  // --- state -----------------------------------------------------------------------------------------

  saveState(): Uart16550State {
    const rx: number[] = [];
    for (let i = 0; i < this.rxCount; i++) rx.push(this.rxBuf[(this.rxHead + i) % this.rxBuf.length]!);
    return {
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fifoEnabled: this.fifoEnabled,
      rxTrigger: this.rxTrigger,
      lineErrors: this.lineErrors,
      msr: this.msr,
      modemInputs: this.modemInputs,
      threPending: this.threPending,
      rx,
      lastRx: this.lastRx,
      irqLevel: this.irqLevel,
    };
  }

  /** Restores a saved state. The interrupt output level is restored without driving the line. */
  loadState(state: Uart16550State): void {
    this.ier = state.ier & 0x0f;
    this.lcr = state.lcr & 0xff;
    this.mcr = state.mcr & 0x1f;
    this.scr = state.scr & 0xff;
    this.dll = state.dll & 0xff;
    this.dlm = state.dlm & 0xff;
    this.fifoEnabled = state.fifoEnabled;
    this.rxTrigger = state.rxTrigger;
    this.lineErrors = state.lineErrors & 0x1e;
    this.msr = state.msr & 0xff;
    this.modemInputs = state.modemInputs & 0xf0;
    this.threPending = state.threPending;
    this.lastRx = state.lastRx & 0xff;
    this.irqLevel = state.irqLevel;
    this.clearRx();
    const n = Math.min(state.rx.length, this.rxBuf.length);
    for (let i = 0; i < n; i++) this.rxBuf[i] = state.rx[i]! & 0xff;
    this.rxCount = n;
  }
}
