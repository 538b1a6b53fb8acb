// The bare machine: a PC-like board with RAM, the CPU, the port bus and the platform devices
// (8259A PIC pair, 8254 PIT, COM1 16550, the 0xE9 debug console and the 0xF4 debug exit).
// It is also the "no hypervisor" baseline the benchmarks compare against.

import { COST_MODELS, type CostModel, DEFAULT_COST_MODEL } from "./cost-model.js";
import { Cpu } from "./cpu/cpu.js";
import { CR0_ET, CR0_PE, CS, DS, EFLAGS_FIXED1, ES, FS, GS, SS } from "./cpu/registers.js";
import { setFlatSegment } from "./cpu/segments.js";
import type { StopReason } from "./cpu/stop.js";
import { DebugConsole } from "./devices/debug-console.js";
import { DebugExit } from "./devices/debug-exit.js";
import type { AccessSize } from "./devices/device.js";
import { Pic } from "./devices/pic.js";
import { Pit } from "./devices/pit.js";
import { PortBus } from "./devices/port-bus.js";
import { Uart16550 } from "./devices/uart16550.js";
import { setDecoderCostModel } from "./isa/decoder.js";
import { ImageFormatError, isElf, parseElf32 } from "./loaders/elf.js";
import { PhysicalMemory } from "./memory/physical.js";
import { Vmx } from "./vmx/vmx.js";

export interface MachineOptions {
  /** RAM in MiB (default 64). */
  memoryMiB?: number;
  /** A cost-model profile or its name ("recent", "nehalem"). */
  costModel?: CostModel | string;
  /** Modeled core frequency in Hz (default 3 GHz). */
  hz?: number;
  /** TLB entries (power of two, default 4096). */
  tlbEntries?: number;
  /** Called with every byte the guest writes to the debug console or COM1, as it is written. */
  onConsole?: (byte: number) => void;
}

export interface LoadOptions {
  /** Load address of a flat binary (default 0x100000). */
  load?: number;
  /** Entry point (default: the load address, or e_entry for ELF). */
  entry?: number;
  /** Name for error messages. */
  name?: string;
}

export interface LoadedImage {
  format: "flat" | "elf";
  entry: number;
  /** [start, end) physical ranges written. */
  ranges: [number, number][];
  symbols: Map<string, number>;
}

export const DEFAULT_LOAD_ADDRESS = 0x100000;
/** Access rights of the boot descriptors (VMX layout): flat 4 GiB, DPL 0, 32-bit, present, accessed. */
export const FLAT_CODE_AR = 0xc09b;
export const FLAT_DATA_AR = 0xc093;

export function resolveCostModel(model: CostModel | string | undefined): CostModel {
  if (model === undefined) return DEFAULT_COST_MODEL;
  if (typeof model !== "string") return model;
  const found = COST_MODELS[model];
  if (!found) throw new Error(`unknown cost model '${model}' (known: ${Object.keys(COST_MODELS).join(", ")})`);
  return found;
}

export class Machine {
  readonly memory: PhysicalMemory;
  readonly cpu: Cpu;
  readonly ports = new PortBus();
  readonly pic = new Pic();
  readonly pit: Pit;
  readonly com1: Uart16550;
  readonly debugConsole: DebugConsole;
  readonly debugExit: DebugExit;
  readonly costModel: CostModel;
  /** The CPU's VMX unit (VMXON and friends, and the API a TypeScript hypervisor drives). */
  readonly vmx: Vmx;
  /** Everything written to the debug console and COM1, in order. */
  private consoleBytes: number[] = [];
  onConsole: ((byte: number) => void) | undefined;

  constructor(options: MachineOptions = {}) {
    const mib = options.memoryMiB ?? 64;
    if (!Number.isInteger(mib) || mib < 1 || mib > 2048) throw new RangeError(`memory must be 1-2048 MiB, got ${mib}`);
    this.costModel = resolveCostModel(options.costModel);
    const cost = this.costModel;
    setDecoderCostModel((cls) => cost.instructions[cls]);
    this.memory = new PhysicalMemory(mib * 1024 * 1024);
    this.onConsole = options.onConsole;
    const bus = this.ports;
    const timerPorts = (port: number) => port >= 0x40 && port <= 0x43;
    this.cpu = new Cpu(
      this.memory,
      {
        in: (port: number, size: AccessSize) => {
          const v = bus.in(port, size);
          if (timerPorts(port)) this.rescheduleEvents();
          return v;
        },
        out: (port: number, size: AccessSize, value: number) => {
          bus.out(port, size, value);
          if (timerPorts(port)) this.rescheduleEvents();
        },
      },
      {
        cost,
        ...(options.hz ? { hz: options.hz } : {}),
        ...(options.tlbEntries ? { tlbEntries: options.tlbEntries } : {}),
      },
    );
    const cpu = this.cpu;
    const emit = (byte: number) => {
      this.consoleBytes.push(byte);
      this.onConsole?.(byte);
    };
    this.pit = new Pit({ now: () => cpu.cycles, hz: cpu.hz }, this.pic.irqLine(0));
    this.com1 = new Uart16550({ base: 0x3f8, irq: this.pic.irqLine(4), onTransmit: emit });
    this.debugConsole = new DebugConsole({ onByte: emit });
    this.debugExit = new DebugExit({
      onExit: (value) => {
        cpu.stopRequest = { kind: "debug-exit", value: value >>> 0 };
      },
    });
    bus.register(this.pic, [0x20, 0x21, 0xa0, 0xa1]);
    bus.register(this.pit, { from: 0x40, to: 0x43 });
    bus.register(this.com1, { from: 0x3f8, to: 0x3ff });
    bus.register(this.debugConsole, [0xe9]);
    bus.register(this.debugExit, [0xf4]);
    cpu.pic = this.pic;
    this.vmx = new Vmx(cpu);
    cpu.serviceEvents = () => {
      this.pit.advance(cpu.cycles);
      this.rescheduleEvents();
    };
    this.reset(DEFAULT_LOAD_ADDRESS);
  }

  private rescheduleEvents(): void {
    this.cpu.nextEventCycle = this.pit.nextEvent();
  }

  /**
   * The boot contract: 32-bit protected mode, paging off, CR0 = 0x11, EFLAGS = 0x2, CS = 0x08 and
   * DS = ES = FS = GS = SS = 0x10 with flat 4 GiB descriptors in the caches, GDTR/IDTR base 0
   * limit 0, every general register 0, EIP = entry. Memory is not touched here.
   */
  reset(entry: number): void {
    const cpu = this.cpu;
    cpu.regs.fill(0);
    cpu.eip = entry | 0;
    cpu.setEflags(EFLAGS_FIXED1);
    cpu.cr0 = CR0_PE | CR0_ET;
    cpu.cr2 = 0;
    cpu.cr3 = 0;
    cpu.cr4 = 0;
    setFlatSegment(cpu, CS, 0x08, FLAT_CODE_AR);
    for (const seg of [ES, SS, DS, FS, GS]) setFlatSegment(cpu, seg, 0x10, FLAT_DATA_AR);
    cpu.gdtrBase = cpu.gdtrLimit = cpu.idtrBase = cpu.idtrLimit = 0;
    cpu.setCpl(0);
    cpu.halted = false;
    cpu.interruptShadow = false;
    cpu.tlb.flushAll();
    cpu.updateAccessMasks();
    this.rescheduleEvents();
  }

  /** Loads a flat binary or an ELF32 executable (detected by its magic) and resets the CPU to its entry. */
  load(image: Uint8Array, options: LoadOptions = {}): LoadedImage {
    const name = options.name ?? "image";
    if (isElf(image)) {
      const elf = parseElf32(image, name);
      const ranges: [number, number][] = [];
      for (const seg of elf.segments) {
        this.checkRange(seg.address, seg.memorySize, name);
        this.memory.writeBytes(seg.address, seg.bytes);
        this.memory.u8.fill(0, seg.address + seg.bytes.length, seg.address + seg.memorySize);
        ranges.push([seg.address, seg.address + seg.memorySize]);
      }
      const entry = options.entry ?? elf.entry;
      this.reset(entry);
      return { format: "elf", entry, ranges, symbols: elf.symbols };
    }
    const at = options.load ?? DEFAULT_LOAD_ADDRESS;
    this.checkRange(at, image.length, name);
    this.memory.writeBytes(at, image);
    const entry = options.entry ?? at;
    this.reset(entry);
    return { format: "flat", entry, ranges: [[at, at + image.length]], symbols: new Map() };
  }

  private checkRange(address: number, size: number, name: string): void {
    if (address < 0 || address + size > this.memory.size) {
      throw new ImageFormatError(
        `${name}: 0x${address.toString(16)}-0x${(address + size).toString(16)} does not fit in ${this.memory.size >>> 20} MiB of RAM`,
      );
    }
  }

  writePhysical(address: number, bytes: Uint8Array): void {
    this.memory.writeBytes(address, bytes);
  }

  readPhysical(address: number, length: number): Uint8Array {
    return this.memory.readBytes(address, length);
  }

  run(options: { maxInstructions?: number; maxCycles?: number } = {}): StopReason {
    return this.cpu.run(options);
  }

  step(): StopReason {
    return this.cpu.step();
  }

  /** Bytes the guest wrote to the console ports, as a string (Latin-1, byte for byte). */
  consoleText(): string {
    let s = "";
    for (const b of this.consoleBytes) s += String.fromCharCode(b);
    return s;
  }

  consoleOutput(): Uint8Array {
    return Uint8Array.from(this.consoleBytes);
  }
}
