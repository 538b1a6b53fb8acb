import { describe, expect, it } from "vitest";
import { COM_PORTS, Uart16550 } from "./uart16550.js";

const B = 0x3f8;
const RBR = B;
const THR = B;
const IER = B + 1;
const IIR = B + 2;
const FCR = B + 2;
const LCR = B + 3;
const MCR = B + 4;
const LSR = B + 5;
const MSR = B + 6;
const SCR = B + 7;

function setup(options: { rxCapacity?: number; out2GatesIrq?: boolean } = {}) {
  const sent: number[] = [];
  const irq: boolean[] = [];
  const uart = new Uart16550({ irq: (level) => irq.push(level), onTransmit: (b) => sent.push(b), ...options });
  const out = (port: number, value: number) => uart.portOut(port, 1, value);
  const inp = (port: number) => uart.portIn(port, 1);
  return { uart, sent, irq, out, inp };
}

describe("Uart16550 transmit and line status", () => {
  it("passes each THR byte to onTransmit immediately", () => {
    const { sent, out } = setup();
    for (const c of "hi\n") out(THR, c.charCodeAt(0));
    expect(String.fromCharCode(...sent)).toBe("hi\n");
  });

  it("reports THRE and TEMT always, DR only with data", () => {
    const { uart, out, inp } = setup();
    expect(inp(LSR)).toBe(0x60);
    out(THR, 0x41);
    expect(inp(LSR)).toBe(0x60);
    uart.receive("x");
    expect(inp(LSR)).toBe(0x61);
  });

  it("defaults to COM1 and claims 8 ports from its base", () => {
    const uart = new Uart16550();
    expect(uart.ports).toEqual({ from: 0x3f8, to: 0x3ff });
    const com2 = new Uart16550({ base: COM_PORTS.COM2.base });
    expect(com2.ports).toEqual({ from: 0x2f8, to: 0x2ff });
    com2.portOut(0x2ff, 1, 0x5a);
    expect(com2.portIn(0x2ff, 1)).toBe(0x5a);
    expect(com2.name).toBe("uart@0x2f8");
  });
});

describe("Uart16550 registers", () => {
  it("DLAB switches offsets 0 and 1 to the divisor latch", () => {
    const { uart, sent, out, inp } = setup();
    out(IER, 0x01);
    out(LCR, 0x83);
    out(B, 0x01); // DLL
    out(B + 1, 0x00); // DLM
    expect(inp(B)).toBe(0x01);
    expect(inp(B + 1)).toBe(0x00);
    expect(uart.divisor).toBe(1);
    expect(sent).toEqual([]); // the DLL write did not transmit
    out(LCR, 0x03);
    expect(inp(IER)).toBe(0x01);
    expect(inp(LCR)).toBe(0x03);
    out(THR, 0x42);
    expect(sent).toEqual([0x42]);
  });

  it("keeps the scratch register, IER low nibble and MCR low 5 bits", () => {
    const { out, inp } = setup();
    out(SCR, 0xa5);
    expect(inp(SCR)).toBe(0xa5);
    out(IER, 0xff);
    expect(inp(IER)).toBe(0x0f);
    out(MCR, 0xff);
    expect(inp(MCR)).toBe(0x1f);
  });

  it("reports FIFO state in IIR bits 7-6", () => {
    const { out, inp } = setup();
    expect(inp(IIR)).toBe(0x01);
    out(FCR, 0x01);
    expect(inp(IIR)).toBe(0xc1);
    out(FCR, 0x00);
    expect(inp(IIR)).toBe(0x01);
  });
});

describe("Uart16550 receive", () => {
  it("queues input, sets DR, and pops on RBR reads", () => {
    const { uart, inp } = setup();
    expect(uart.receive("ab")).toBe(2);
    expect(uart.receive(new Uint8Array([0xff]))).toBe(1);
    expect(inp(LSR) & 1).toBe(1);
    expect([inp(RBR), inp(RBR), inp(RBR)]).toEqual([0x61, 0x62, 0xff]);
    expect(inp(LSR) & 1).toBe(0);
    expect(inp(RBR)).toBe(0xff); // empty: the last byte again
  });

  it("encodes strings as UTF-8", () => {
    const { uart, inp } = setup();
    uart.receive("é");
    expect([inp(RBR), inp(RBR)]).toEqual([0xc3, 0xa9]);
  });

  it("holds at least 16 bytes and overruns beyond its capacity", () => {
    const { uart, out, inp, irq } = setup({ rxCapacity: 16 });
    out(IER, 0x04); // line status interrupts only
    expect(uart.receive("0123456789abcdefXYZ")).toBe(16);
    expect(irq).toEqual([true]);
    expect(inp(IIR)).toBe(0x06);
    expect(inp(LSR)).toBe(0x63); // OE | DR | THRE | TEMT
    expect(inp(LSR)).toBe(0x61); // OE cleared by the read
    expect(irq).toEqual([true, false]);
    let s = "";
    while (inp(LSR) & 1) s += String.fromCharCode(inp(RBR));
    expect(s).toBe("0123456789abcdef");
    expect(() => new Uart16550({ rxCapacity: 8 })).toThrow(RangeError);
  });

  it("raises the received-data interrupt while data is waiting (IER bit 0)", () => {
    const { uart, out, inp, irq } = setup();
    uart.receive("z");
    expect(irq).toEqual([]); // not enabled
    out(IER, 0x01);
    expect(irq).toEqual([true]);
    expect(inp(IIR)).toBe(0x04);
    expect(inp(IIR)).toBe(0x04); // reading IIR does not clear it
    inp(RBR);
    expect(irq).toEqual([true, false]);
    expect(inp(IIR)).toBe(0x01);
  });

  it("with FIFOs reports trigger-level data (0x04) or a character timeout (0x0C)", () => {
    const { uart, out, inp } = setup();
    out(FCR, 0xc7); // enable, clear both, trigger 14
    out(IER, 0x01);
    uart.receive("abc");
    expect(inp(IIR)).toBe(0xcc);
    uart.receive("defghijklmn");
    expect(inp(IIR)).toBe(0xc4);
    inp(RBR);
    expect(inp(IIR)).toBe(0xcc);
    out(FCR, 0x03); // clear the receive FIFO
    expect(inp(LSR) & 1).toBe(0);
    expect(inp(IIR)).toBe(0xc1);
  });

  it("disabling the FIFOs clears them", () => {
    const { uart, out, inp } = setup();
    out(FCR, 0x01);
    uart.receive("abc");
    out(FCR, 0x00);
    expect(inp(LSR) & 1).toBe(0);
    expect(uart.rxPending).toBe(0);
  });
});

describe("Uart16550 transmit interrupts", () => {
  it("raises THR empty when IER bit 1 is enabled; reading IIR clears it", () => {
    const { out, inp, irq } = setup();
    out(IER, 0x02);
    expect(irq).toEqual([true]);
    expect(inp(IIR)).toBe(0x02);
    expect(irq).toEqual([true, false]);
    expect(inp(IIR)).toBe(0x01);
    out(IER, 0x02); // still enabled: no new interrupt
    expect(inp(IIR)).toBe(0x01);
    out(IER, 0x00);
    out(IER, 0x02); // re-enabled: a new one
    expect(inp(IIR)).toBe(0x02);
  });

  it("raises THR empty again after each transmitted byte (a fresh edge)", () => {
    const { out, inp, irq, sent } = setup();
    out(IER, 0x02);
    inp(IIR);
    irq.length = 0;
    out(THR, 0x31);
    expect(irq).toEqual([true]);
    out(THR, 0x32); // without acknowledging: the line drops and rises
    expect(irq).toEqual([true, false, true]);
    expect(sent).toEqual([0x31, 0x32]);
  });
});

describe("Uart16550 IIR priority", () => {
  it("orders line status > received data > THR empty > modem status", () => {
    const { uart, out, inp } = setup({ rxCapacity: 16 });
    out(IER, 0x0f);
    uart.setModemInputs({ cts: false }); // DCTS: modem status pending
    uart.receive("0123456789abcdefg"); // overrun + data
    expect(inp(IIR)).toBe(0x06);
    inp(LSR);
    expect(inp(IIR)).toBe(0x04);
    while (inp(LSR) & 1) inp(RBR);
    expect(inp(IIR)).toBe(0x02);
    expect(inp(IIR)).toBe(0x00); // THRE was cleared by the previous read
    expect(inp(MSR)).toBe(0xa1); // DSR, DCD, DCTS
    expect(inp(MSR)).toBe(0xa0);
    expect(inp(IIR)).toBe(0x01);
  });

  it("holds the interrupt line while any enabled condition is pending", () => {
    const { uart, out, inp, irq } = setup();
    out(IER, 0x03);
    uart.receive("a");
    expect(irq).toEqual([true]);
    expect(inp(IIR)).toBe(0x04);
    inp(RBR);
    expect(irq).toEqual([true]); // THR empty still pending
    expect(inp(IIR)).toBe(0x02);
    expect(irq).toEqual([true, false]);
  });
});

describe("Uart16550 modem control", () => {
  it("defaults MSR to CTS, DSR and DCD asserted", () => {
    const { inp } = setup();
    expect(inp(MSR)).toBe(0xb0);
  });

  it("loopback echoes THR into RBR and maps MCR onto MSR", () => {
    const { uart, out, inp, sent } = setup();
    out(MCR, 0x1a); // loop | OUT2 | RTS
    expect(inp(MSR) & 0xf0).toBe(0x90); // CTS (from RTS) and DCD (from OUT2)
    out(THR, 0x55);
    expect(sent).toEqual([]);
    expect(inp(LSR) & 1).toBe(1);
    expect(inp(RBR)).toBe(0x55);
    expect(uart.receive("ignored")).toBe(0);
    out(MCR, 0x1f);
    expect(inp(MSR) & 0xf0).toBe(0xf0);
    out(MCR, 0x1b); // OUT1 (RI) falls: trailing-edge RI
    expect(inp(MSR) & 0x04).toBe(0x04);
    out(MCR, 0x00);
    out(THR, 0x56);
    expect(sent).toEqual([0x56]);
  });

  it("can gate the interrupt with MCR OUT2 like a PC serial card", () => {
    const { out, irq } = setup({ out2GatesIrq: true });
    out(IER, 0x02);
    expect(irq).toEqual([]);
    out(MCR, 0x08);
    expect(irq).toEqual([true]);
    out(MCR, 0x18); // loopback forces the IRQ driver off
    expect(irq).toEqual([true, false]);
  });
});

describe("Uart16550 state", () => {
  it("saves and restores plain data", () => {
    const a = setup();
    a.out(LCR, 0x83);
    a.out(B, 0x03);
    a.out(LCR, 0x03);
    a.out(FCR, 0x41);
    a.out(IER, 0x05);
    a.out(SCR, 0x77);
    a.uart.receive("hello");
    a.inp(RBR);
    const state = a.uart.saveState();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    const b = setup();
    b.uart.loadState(state);
    expect(b.uart.saveState()).toEqual(state);
    expect(b.uart.divisor).toBe(3);
    expect(b.inp(IIR)).toBe(0xc4);
    let s = "";
    while (b.inp(LSR) & 1) s += String.fromCharCode(b.inp(RBR));
    expect(s).toBe("ello");
  });

  it("reset() drops the interrupt and clears the FIFO", () => {
    const { uart, out, irq } = setup();
    out(IER, 0x01);
    uart.receive("x");
    uart.reset();
    expect(irq).toEqual([true, false]);
    expect(uart.rxPending).toBe(0);
  });
});
