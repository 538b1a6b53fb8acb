// The virtual platform every VM gets: its own port bus with the 0xE9 console, the 0xF4 debug exit,
// COM1 (16550), a PIC pair and PIT, and optionally the block device. These are the same device
// models the bare machine uses (from @vmxlab/cpu), instantiated per VM: no VM can reach another's.

import { type Clock, DebugConsole, DebugExit, Pic, Pit, PortBus, Uart16550 } from "@vmxlab/cpu";
import type { GuestMemoryAccess } from "../memory/guest-memory.js";
import { BLOCK_BASE_PORT, BLOCK_IRQ, BlockDevice } from "./block.js";

export interface VmDevicesOptions {
  clock: Clock;
  memory: GuestMemoryAccess;
  disk?: Uint8Array;
  /** Every byte the guest writes to its console ports. */
  onConsole: (byte: number) => void;
  /** The guest wrote to the debug-exit port. */
  onExit: (value: number) => void;
}

export class VmDevices {
  readonly bus = new PortBus();
  readonly pic = new Pic("vpic");
  readonly pit: Pit;
  readonly com1: Uart16550;
  readonly console: DebugConsole;
  readonly debugExit: DebugExit;
  readonly block: BlockDevice | null;

  constructor(options: VmDevicesOptions) {
    this.pit = new Pit(options.clock, this.pic.irqLine(0), "vpit");
    this.com1 = new Uart16550({ base: 0x3f8, irq: this.pic.irqLine(4), onTransmit: options.onConsole, name: "vcom1" });
    this.console = new DebugConsole({ onByte: options.onConsole, name: "vconsole" });
    this.debugExit = new DebugExit({ onExit: (value) => options.onExit(value), name: "vdebug-exit" });
    this.bus.register(this.pic, [0x20, 0x21, 0xa0, 0xa1]);
    this.bus.register(this.pit, { from: 0x40, to: 0x43 });
    this.bus.register(this.com1, { from: 0x3f8, to: 0x3ff });
    this.bus.register(this.console, [0xe9]);
    this.bus.register(this.debugExit, [0xf4]);
    this.block = options.disk ? new BlockDevice(options.disk, options.memory, this.pic.irqLine(BLOCK_IRQ)) : null;
    if (this.block) this.bus.register(this.block, { from: BLOCK_BASE_PORT, to: BLOCK_BASE_PORT + 0x1b });
  }

  /** Brings timers up to `now`; returns the cycle of the next timer event. */
  advance(now: number): number {
    this.pit.advance(now);
    return this.pit.nextEvent();
  }
}
