// QEMU's isa-debug-exit device at port 0xF4: an OUT ends the run. The value written, at its full access
// width (8/16/32 bits, unsigned), is passed to `onExit(value, size)` and kept in `exitValue`. An IN reads
// all ones of the access width (the port is write-only).
//
// QEMU itself exits the emulator with status (value << 1) | 1; `qemuExitStatus()` computes that for hosts
// that want QEMU-compatible exit codes. What "ending the run" means is up to the machine: it can stop in
// `onExit` or poll `exited` between instructions.

import type { AccessSize, PortDevice, StatefulDevice } from "./device.js";
import { allOnes, maskToSize } from "./port-bus.js";

export const DEBUG_EXIT_PORT = 0xf4;

export interface DebugExitOptions {
  /** Port to claim (default 0xF4). */
  port?: number;
  /** Called on each OUT with the value at its access width. */
  onExit?: (value: number, size: AccessSize) => void;
  name?: string;
}

export interface DebugExitState {
  /** The last value written, or null if the guest never wrote. */
  exitValue: number | null;
}

/** QEMU's process exit status for a value written to isa-debug-exit: (value << 1) | 1. */
export function qemuExitStatus(value: number): number {
  return ((value << 1) | 1) >>> 0;
}

export class DebugExit implements PortDevice, StatefulDevice<DebugExitState> {
  readonly name: string;
  readonly ports: readonly number[];
  onExit: ((value: number, size: AccessSize) => void) | undefined;
  /** The last value written, or null. */
  exitValue: number | null = null;

  constructor(options: DebugExitOptions = {}) {
    this.ports = [options.port ?? DEBUG_EXIT_PORT];
    this.onExit = options.onExit;
    this.name = options.name ?? "debug-exit";
  }

  /** True once the guest has written to the port. */
  get exited(): boolean {
    return this.exitValue !== null;
  }

  reset(): void {
    this.exitValue = null;
  }

  portIn(_port: number, size: AccessSize): number {
    return allOnes(size);
  }

  portOut(_port: number, size: AccessSize, value: number): void {
    const v = maskToSize(value, size);
    this.exitValue = v;
    if (this.onExit !== undefined) this.onExit(v, size);
  }

  saveState(): DebugExitState {
    return { exitValue: this.exitValue };
  }

  loadState(state: DebugExitState): void {
    this.exitValue = state.exitValue;
  }
}
