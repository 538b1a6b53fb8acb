// The bare machine: the program runs directly on the emulated CPU, no VMX. The block device, which only
// the hypervisors' virtual platforms have, is attached to the machine's port bus when a program brings
// a disk, so the I/O workload runs here too.

import { Machine } from "@vmxlab/cpu";
import { BLOCK_BASE_PORT, BlockDevice } from "@vmxlab/vmm";
import type { Configuration, GuestProgram, RunCounters, RunOptions } from "../types.js";
import { DEFAULT_MAX_INSTRUCTIONS, emptyTime } from "./common.js";

function run(program: GuestProgram, options: RunOptions): RunCounters {
  const machine = new Machine({ memoryMiB: program.memoryMiB, costModel: options.costModel });
  if (program.disk) {
    const memory = machine.memory;
    const dma = {
      size: memory.size,
      read: (address: number, length: number) => memory.readBytes(address, length),
      write: (address: number, bytes: Uint8Array) => memory.writeBytes(address, bytes),
    };
    machine.ports.register(new BlockDevice(program.disk, dma), { from: BLOCK_BASE_PORT, to: BLOCK_BASE_PORT + 0x1b });
  }
  machine.load(program.image);
  const cpu = machine.cpu;
  const tlb = { ...cpu.tlb.stats };
  const startCycles = cpu.cycles;
  const startInstret = cpu.instret;
  const t0 = performance.now();
  const stop = machine.run({ maxInstructions: program.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cycles = cpu.cycles - startCycles;
  return {
    stop: stop.kind === "debug-exit" ? { kind: stop.kind, value: stop.value } : { kind: stop.kind },
    guestInstructions: cpu.instret - startInstret,
    cycles,
    exits: {},
    userExits: 0,
    tlbMisses: cpu.tlb.stats.misses - tlb.misses,
    walkReferences: cpu.tlb.stats.walkReferences - tlb.walkReferences,
    // Halted time is the guest's own on the bare machine (it waits on real hardware too).
    time: { ...emptyTime(), guest: cycles },
    tablePages: 0,
    wallSeconds,
  };
}

const bare: Configuration = {
  name: "bare",
  family: "bare",
  paging: "none",
  vpid: false,
  hostLoad: 0,
  title: "Bare machine (no hypervisor)",
  order: 0,
  run,
};

export default bare;
