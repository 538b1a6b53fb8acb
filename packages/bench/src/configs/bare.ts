// The bare machine: the program runs directly on the emulated CPU, no VMX. The block device, which only
// the hypervisors' virtual platforms have, is attached to the machine's port bus when a program brings
// a disk, so the I/O workload runs here too.

import { Machine } from "@vmxlab/cpu";
import { BLOCK_BASE_PORT, BlockDevice } from "@vmxlab/vmm";
import type { Configuration, GuestProgram, RunCounters, RunOptions } from "../types.js";
import { DEFAULT_MAX_INSTRUCTIONS, emptyTime, measure } from "./common.js";

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
  const startInstret = cpu.instret;
  const m = measure(cpu, () => machine.run({ maxInstructions: program.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS }));
  const stop = m.result;
  return {
    stop: stop.kind === "debug-exit" ? { kind: stop.kind, value: stop.value } : { kind: stop.kind },
    guestInstructions: cpu.instret - startInstret,
    cycles: m.cycles,
    exits: {},
    userExits: 0,
    tlbMisses: m.tlbMisses,
    walkReferences: m.walkReferences,
    // Halted time is the guest's own on the bare machine (it waits on real hardware too).
    time: { ...emptyTime(), guest: m.cycles },
    tablePages: 0,
    wallSeconds: m.wallSeconds,
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
