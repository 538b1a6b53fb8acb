// One virtual machine: its configuration, guest memory, VMCS, saved vCPU registers, virtual devices,
// memory-virtualization mode and statistics. All plain data except the device objects, which save
// and load their own state.

import { ExitCounter, type RegisterSnapshot } from "@vmxlab/cpu";
import type { VmDevices } from "./devices/vm-devices.js";
import type { GuestMemory } from "./memory/guest-memory.js";
import type { Mmu } from "./memory/mmu.js";

export type PagingMode = "ept" | "shadow";

export interface VmConfig {
  name: string;
  /** Guest RAM in MiB. */
  memoryMiB: number;
  /** The program: flat binary or ELF32 (already assembled). */
  image: Uint8Array;
  /** Load address of a flat image (default 0x100000). */
  load?: number;
  /** Entry point (default: load address, or ELF e_entry). */
  entry?: number;
  paging?: PagingMode;
  /** Scheduler weight (default 1): a VM with weight 2 gets twice the CPU time. */
  weight?: number;
  /** Back guest memory on first touch (EPT violations) instead of all at creation. */
  lazyMemory?: boolean;
  /** Disk image for the block device. */
  disk?: Uint8Array;
  /**
   * Tag the VM's TLB entries with a VPID (default true). Off, the VM runs with VPID 0 like the host, and
   * the processor flushes the TLB at every VM entry and exit (Intel SDM Vol. 3C, 29.1): the benchmarks
   * use it to show what VPID saves.
   */
  vpid?: boolean;
}

/** How a VM's run ended, in the bare machine's terms (guest-visible) or as a hypervisor diagnostic. */
export type VmStop =
  | { kind: "debug-exit"; value: number }
  | { kind: "halt" }
  | { kind: "shutdown"; diagnostic: string }
  | { kind: "limit" }
  | { kind: "error"; diagnostic: string };

export type VmState = "runnable" | "halted" | "stopped";

export interface VmStats {
  /** VM exits by basic reason number. */
  exits: ExitCounter;
  /** Guest instructions retired. */
  guestInstructions: number;
  /** Modeled cycles spent in the guest (non-root operation). */
  guestCycles: number;
  /** Modeled cycles spent in VM transitions and hypervisor handlers for this VM. */
  hypervisorCycles: number;
  /** Times the scheduler gave this VM the CPU. */
  slices: number;
}

export class Vm {
  readonly id: number;
  readonly name: string;
  /** The VPID tagging this VM's TLB entries; 0 when the VM runs without one (VmConfig.vpid false). */
  readonly vpid: number;
  readonly config: VmConfig;
  readonly memory: GuestMemory;
  readonly vmcs: number;
  readonly devices: VmDevices;
  mmu!: Mmu;
  /** General registers while the VM is not on the CPU (EAX..EDI in encoding order). */
  readonly regs = new Int32Array(8);
  /** CR2 is not part of the VMCS: the hypervisor saves it across switches (as KVM does). */
  cr2 = 0;
  launched = false;
  state: VmState = "runnable";
  stop: VmStop | null = null;
  readonly stats: VmStats = {
    exits: new ExitCounter(),
    guestInstructions: 0,
    guestCycles: 0,
    hypervisorCycles: 0,
    slices: 0,
  };
  readonly consoleBytes: number[] = [];
  /** Guest-visible registers captured when the VM stopped. */
  finalRegs: RegisterSnapshot | null = null;
  /** Set by the I/O path when the guest wrote to the debug-exit port. */
  exitValue: number | null = null;

  constructor(id: number, config: VmConfig, memory: GuestMemory, vmcs: number, devices: VmDevices) {
    this.id = id;
    this.name = config.name;
    this.vpid = config.vpid === false ? 0 : id + 1;
    this.config = config;
    this.memory = memory;
    this.vmcs = vmcs;
    this.devices = devices;
  }

  get weight(): number {
    return this.config.weight ?? 1;
  }

  get paging(): PagingMode {
    return this.config.paging ?? "ept";
  }

  consoleText(): string {
    let s = "";
    for (const b of this.consoleBytes) s += String.fromCharCode(b);
    return s;
  }

  countExit(reason: number): void {
    this.stats.exits.add(reason);
  }
}
