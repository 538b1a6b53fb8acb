// `vmxlab run --on bare`: the program on the bare machine (the no-hypervisor baseline).

import { Machine } from "@vmxlab/cpu";
import { CliError, type Io } from "./command.js";
import { describeStop, exitStatus, exitsByName, latin1, stopJson } from "./output.js";
import type { Program } from "./program.js";

export interface BareOptions {
  memoryMiB: number;
  costModel: string;
  load?: number;
  entry?: number;
  maxInstructions?: number;
  json: boolean;
}

export function runBare(program: Program, o: BareOptions, io: Io): number {
  let machine: Machine;
  try {
    machine = new Machine({ memoryMiB: o.memoryMiB, costModel: o.costModel });
    if (!o.json) machine.onConsole = (byte) => io.stdout(String.fromCharCode(byte));
    machine.load(program.bytes, {
      name: program.name,
      ...(o.load !== undefined ? { load: o.load } : program.origin !== undefined ? { load: program.origin } : {}),
      ...(o.entry !== undefined ? { entry: o.entry } : {}),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const stop = machine.run(o.maxInstructions !== undefined ? { maxInstructions: o.maxInstructions } : {});
  const cpu = machine.cpu;
  if (o.json) {
    const out: Record<string, unknown> = {
      stop: stopJson(stop),
      console: latin1(machine.consoleOutput()),
      regs: cpu.snapshotRegisters(),
      instructions: cpu.instret,
      cycles: cpu.cycles,
    };
    // A hypervisor written in assembly running on the bare machine: its guests' exits by Intel name.
    if (machine.vmx.exitCount > 0) out.exits = exitsByName(machine.vmx.exitCounts);
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    io.stderr(`vmxlab: ${describeStop(stop)}; ${cpu.instret} instructions, ${cpu.cycles} cycles\n`);
  }
  return exitStatus(stop);
}
