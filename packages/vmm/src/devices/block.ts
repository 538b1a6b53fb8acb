// A virtual block device with DMA into guest memory, driven by port I/O. Written against
// GuestMemoryAccess so the type-1 hypervisor and the hosted VMM use the same model.
//
// Registers (32-bit, at base + offset; base 0x6000 by default):
//   +0x00 SECTOR    first sector (512 bytes each)
//   +0x04 COUNT     number of sectors
//   +0x08 BUFFER    guest-physical address of the transfer buffer
//   +0x0C COMMAND   write 1 = read disk -> memory, 2 = write memory -> disk; reads back STATUS
//   +0x10 CAPACITY  disk size in sectors (read-only)
//   +0x14 ERROR     0 ok, 1 sector range past the end of the disk, 2 buffer outside guest memory,
//                   3 unknown command (read-only)
//   +0x18 CONTROL   bit 0: raise the IRQ line when a command completes
// STATUS (COMMAND read): bit 0 = the last command failed (see ERROR), bit 1 = a command completed.
// Transfers complete synchronously; every range is checked before any byte moves.

import type { AccessSize, IrqLine, PortDevice } from "@vmxlab/cpu";
import type { GuestMemoryAccess } from "../memory/guest-memory.js";

export const SECTOR_SIZE = 512;
export const BLOCK_BASE_PORT = 0x6000;
export const BLOCK_IRQ = 14;

export const BLOCK_ERROR = { NONE: 0, OUT_OF_RANGE: 1, BAD_BUFFER: 2, BAD_COMMAND: 3 } as const;

export interface BlockDeviceState {
  sector: number;
  count: number;
  buffer: number;
  status: number;
  error: number;
  control: number;
  reads: number;
  writes: number;
}

export class BlockDevice implements PortDevice {
  readonly name: string;
  readonly base: number;
  private s: BlockDeviceState = {
    sector: 0,
    count: 0,
    buffer: 0,
    status: 0,
    error: 0,
    control: 0,
    reads: 0,
    writes: 0,
  };

  constructor(
    readonly disk: Uint8Array,
    private readonly memory: GuestMemoryAccess,
    private readonly irq?: IrqLine,
    base = BLOCK_BASE_PORT,
  ) {
    if (disk.length % SECTOR_SIZE !== 0) throw new RangeError("disk image size must be a multiple of 512 bytes");
    this.base = base;
    this.name = `block@${base.toString(16)}`;
  }

  get capacity(): number {
    return this.disk.length / SECTOR_SIZE;
  }

  get stats(): { reads: number; writes: number } {
    return { reads: this.s.reads, writes: this.s.writes };
  }

  portIn(port: number, _size: AccessSize): number {
    switch (port - this.base) {
      case 0x00:
        return this.s.sector;
      case 0x04:
        return this.s.count;
      case 0x08:
        return this.s.buffer;
      case 0x0c:
        return this.s.status;
      case 0x10:
        return this.capacity;
      case 0x14:
        return this.s.error;
      case 0x18:
        return this.s.control;
      default:
        return 0xffffffff;
    }
  }

  portOut(port: number, _size: AccessSize, value: number): void {
    value >>>= 0;
    switch (port - this.base) {
      case 0x00:
        this.s.sector = value;
        break;
      case 0x04:
        this.s.count = value;
        break;
      case 0x08:
        this.s.buffer = value;
        break;
      case 0x0c:
        this.command(value);
        break;
      case 0x18:
        this.s.control = value & 1;
        break;
    }
  }

  private command(cmd: number): void {
    const s = this.s;
    const bytes = s.count * SECTOR_SIZE;
    let error: number = BLOCK_ERROR.NONE;
    if (cmd !== 1 && cmd !== 2) error = BLOCK_ERROR.BAD_COMMAND;
    else if (s.sector + s.count > this.capacity) error = BLOCK_ERROR.OUT_OF_RANGE;
    else if (s.buffer + bytes > this.memory.size) error = BLOCK_ERROR.BAD_BUFFER;
    if (error === BLOCK_ERROR.NONE) {
      const offset = s.sector * SECTOR_SIZE;
      if (cmd === 1) {
        this.memory.write(s.buffer, this.disk.subarray(offset, offset + bytes));
        s.reads++;
      } else {
        this.disk.set(this.memory.read(s.buffer, bytes), offset);
        s.writes++;
      }
    }
    s.error = error;
    s.status = (error ? 1 : 0) | 2;
    if (s.control & 1 && this.irq) {
      // Edge for the PIC: drop then raise the line, and leave it raised until the next command.
      this.irq(false);
      this.irq(true);
    }
  }

  saveState(): BlockDeviceState {
    return { ...this.s };
  }

  loadState(state: BlockDeviceState): void {
    this.s = { ...state };
  }
}
