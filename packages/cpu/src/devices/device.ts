// How devices plug into the machine. Devices are written once against these interfaces and reused by
// the bare machine, the type-1 hypervisor's virtual devices and the hosted VMM processes.

export type AccessSize = 1 | 2 | 4;

/** A device on the I/O port bus. */
export interface PortDevice {
  readonly name: string;
  /** IN from one of the device's ports; returns the value (only the low `size` bytes are used). */
  portIn(port: number, size: AccessSize): number;
  /** OUT to one of the device's ports. */
  portOut(port: number, size: AccessSize, value: number): void;
}

/** A level-triggered interrupt request line (IRQ n of the PIC, or a virtual line of a hypervisor). */
export type IrqLine = (level: boolean) => void;

/** What the CPU asks its interrupt controller between instructions (the INTR pin and INTA cycle). */
export interface InterruptController {
  /** True while an unmasked request is waiting to be delivered (the INTR pin is asserted). */
  hasInterrupt(): boolean;
  /** The INTA cycle: the vector to deliver; the request moves to in-service. */
  acknowledge(): number;
}

/** The modeled clock devices run on: cycles of the emulated CPU (deterministic, never host time). */
export interface Clock {
  /** Current modeled cycle count. */
  now(): number;
  /** Modeled CPU frequency in Hz, to convert device periods (e.g. the PIT's 1.193182 MHz) to cycles. */
  readonly hz: number;
}

/** A device with time-driven behaviour (timers). The machine calls advance() when now() reaches nextEvent(). */
export interface TimedDevice {
  /** The modeled cycle at which the device next needs attention, or Infinity. */
  nextEvent(): number;
  /** Bring the device up to `now` (fire expired timers). */
  advance(now: number): void;
}

/** Devices keep their state in plain data so machines can be snapshotted and migrated. */
export interface StatefulDevice<S> {
  saveState(): S;
  loadState(state: S): void;
}
