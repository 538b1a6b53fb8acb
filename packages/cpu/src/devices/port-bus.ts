// The I/O port bus: the 64 Ki ports of the IA-32 I/O address space, each claimed by at most one device.
//
// - The port→device map is a Uint16Array of device slot numbers (0 = unclaimed), so a lookup is one
//   typed-array load and the map is plain data.
// - A port nobody claims reads as all ones of the access width (0xFF, 0xFFFF, 0xFFFFFFFF; the ISA bus
//   floats high) and writes to it are ignored.
// - An access is delivered whole to the device that claims its first port: a 16- or 32-bit access is not
//   split into byte accesses across neighbouring devices (the real ISA bus would split it). Byte-wide
//   devices answer such accesses from their own register; the bus masks the result to the access width.
// - `onAccess` is a single optional hook (tracing, debuggers) that costs one field check when unset. It
//   sees every access, claimed or not, with the value read (masked) or written (masked).

import type { AccessSize, PortDevice } from "./device.js";

/** An inclusive range of ports. */
export interface PortRange {
  from: number;
  to: number;
}

/** The access hook: `value` is the value returned by an IN or written by an OUT, masked to `size`. */
export type PortAccessHook = (dir: "in" | "out", port: number, size: AccessSize, value: number) => void;

/** One contiguous run of ports claimed by one device, as listed by `PortBus.claimedPorts()`. */
export interface ClaimedPortRange {
  from: number;
  to: number;
  name: string;
  device: PortDevice;
}

const PORT_COUNT = 0x10000;
const MAX_DEVICES = 0xffff;

/** Masks `value` to an access width, returning it unsigned. */
export function maskToSize(value: number, size: AccessSize): number {
  return size === 1 ? value & 0xff : size === 2 ? value & 0xffff : value >>> 0;
}

/** All ones of an access width: what an unclaimed port reads as. */
export function allOnes(size: AccessSize): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

function isRange(ports: Iterable<number> | PortRange): ports is PortRange {
  return typeof (ports as Partial<PortRange>).from === "number" && typeof (ports as Partial<PortRange>).to === "number";
}

function hex(port: number): string {
  return `0x${port.toString(16).toUpperCase().padStart(4, "0")}`;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port >= PORT_COUNT) {
    throw new RangeError(`I/O port ${String(port)} is outside 0x0000-0xFFFF`);
  }
}

export class PortBus {
  /** Optional hook called on every access (one field check when unset). */
  onAccess: PortAccessHook | undefined = undefined;

  /** Port → device slot (0 = unclaimed). */
  private readonly owner = new Uint16Array(PORT_COUNT);
  /** Slot → device; slot 0 is "nobody". Freed slots are reused. */
  private readonly slots: (PortDevice | undefined)[] = [undefined];

  /**
   * Claims `ports` (a list, or an inclusive `{ from, to }` range) for `device`. A device may be registered
   * several times for different ports. Throws, claiming nothing, if any port is already claimed.
   */
  register(device: PortDevice, ports: Iterable<number> | PortRange): void {
    const list: number[] = [];
    if (isRange(ports)) {
      checkPort(ports.from);
      checkPort(ports.to);
      if (ports.to < ports.from) throw new RangeError(`Empty port range ${hex(ports.from)}-${hex(ports.to)}`);
      for (let p = ports.from; p <= ports.to; p++) list.push(p);
    } else {
      for (const p of ports) {
        checkPort(p);
        list.push(p);
      }
    }
    const seen = new Set<number>();
    for (const port of list) {
      if (seen.has(port)) continue;
      seen.add(port);
      const current = this.owner[port]!;
      if (current !== 0) {
        const other = this.slots[current]!;
        throw new Error(
          `I/O port ${hex(port)} is already claimed by device "${other.name}"; cannot register device "${device.name}"`,
        );
      }
    }
    let slot = this.slots.indexOf(device);
    if (slot <= 0) {
      slot = this.slots.indexOf(undefined, 1);
      if (slot < 0) {
        if (this.slots.length > MAX_DEVICES) throw new Error("PortBus: too many devices");
        slot = this.slots.length;
        this.slots.push(device);
      } else {
        this.slots[slot] = device;
      }
    }
    for (const port of seen) this.owner[port] = slot;
  }

  /** Releases every port `device` claims. Returns false if it claimed none. */
  unregister(device: PortDevice): boolean {
    const slot = this.slots.indexOf(device);
    if (slot <= 0) return false;
    const owner = this.owner;
    for (let p = 0; p < PORT_COUNT; p++) if (owner[p] === slot) owner[p] = 0;
    this.slots[slot] = undefined;
    return true;
  }

  /** The device claiming `port`, if any. */
  deviceAt(port: number): PortDevice | undefined {
    return this.slots[this.owner[port & 0xffff]!];
  }

  /** IN: the value read, masked to `size` and unsigned; all ones for an unclaimed port. */
  in(port: number, size: AccessSize): number {
    port &= 0xffff;
    const slot = this.owner[port]!;
    const value = slot === 0 ? allOnes(size) : maskToSize(this.slots[slot]!.portIn(port, size), size);
    if (this.onAccess !== undefined) this.onAccess("in", port, size, value);
    return value;
  }

  /** OUT: delivers the value (masked to `size`) to the claiming device; ignored for an unclaimed port. */
  out(port: number, size: AccessSize, value: number): void {
    port &= 0xffff;
    value = maskToSize(value, size);
    const slot = this.owner[port]!;
    if (slot !== 0) this.slots[slot]!.portOut(port, size, value);
    if (this.onAccess !== undefined) this.onAccess("out", port, size, value);
  }

  /** The claimed ports as contiguous per-device ranges, in port order (for debuggers). */
  claimedPorts(): ClaimedPortRange[] {
    const out: ClaimedPortRange[] = [];
    const owner = this.owner;
    let p = 0;
    while (p < PORT_COUNT) {
      const slot = owner[p]!;
      if (slot === 0) {
        p++;
        continue;
      }
      const from = p;
      while (p + 1 < PORT_COUNT && owner[p + 1] === slot) p++;
      const device = this.slots[slot]!;
      out.push({ from, to: p, name: device.name, device });
      p++;
    }
    return out;
  }
}
