// vmxlab run: runs a guest program on the bare machine (later issues add --on type1|hosted).

import { Machine, type StopReason } from "@vmxlab/cpu";
import type { CommandSpec, ParsedArgs } from "../args.js";
import { CliError, type Command, type Io } from "../command.js";
import { loadProgram } from "../program.js";

export const runSpec: CommandSpec = {
  name: "run",
  summary: "Run a guest program (.asm, flat binary or ELF32) on the emulated machine",
  positionals: "FILE",
  minPositionals: 1,
  maxPositionals: 1,
  options: [
    {
      name: "load",
      type: "address",
      value: "ADDR",
      description: "load address of a flat binary",
      defaultText: "0x100000, or the org of an .asm file",
    },
    {
      name: "entry",
      type: "address",
      value: "ADDR",
      description: "entry point",
      defaultText: "the load address; ELF: e_entry",
    },
    { name: "mem", type: "integer", value: "MIB", description: "guest RAM in MiB", defaultText: "64" },
    {
      name: "max-instructions",
      type: "integer",
      value: "N",
      description: 'stop after N instructions (stop kind "limit")',
    },
    {
      name: "cost-model",
      type: "string",
      value: "NAME",
      description: "cycle cost profile",
      choices: ["recent", "nehalem"],
      defaultText: "recent",
    },
    {
      name: "json",
      type: "boolean",
      description: "print one JSON object (stop, console, regs, instructions, cycles) on stdout",
    },
  ],
  details: [
    "Without --json the guest's console output (ports 0xE9 and COM1) streams to stdout and a one-line",
    "summary goes to stderr. Exit status: the debug-exit value written to port 0xF4 (its low 8 bits),",
    "0 after HLT, 1 after a shutdown (triple fault), 124 when --max-instructions ran out.",
  ].join("\n"),
};

export function exitStatus(stop: StopReason): number {
  switch (stop.kind) {
    case "debug-exit":
      return stop.value & 0xff;
    case "halt":
      return 0;
    case "shutdown":
      return 1;
    case "limit":
      return 124;
    default:
      return 1;
  }
}

export function describeStop(stop: StopReason): string {
  switch (stop.kind) {
    case "debug-exit":
      return `debug-exit ${stop.value} (0x${stop.value.toString(16)})`;
    case "shutdown":
      return `shutdown: ${stop.diagnostic}`;
    case "limit":
      return "instruction limit reached";
    case "breakpoint":
      return `breakpoint at 0x${stop.address.toString(16)}`;
    case "hook":
      return `stopped by hook: ${stop.reason}`;
    case "vmexit":
      return `VM exit ${stop.reason}`;
    default:
      return stop.kind;
  }
}

/** The JSON shape of issue #3's bare-machine contract. */
export function stopJson(stop: StopReason): Record<string, unknown> {
  switch (stop.kind) {
    case "debug-exit":
      return { kind: "debug-exit", value: stop.value };
    case "shutdown":
      return { kind: "shutdown", diagnostic: stop.diagnostic };
    default:
      return { kind: stop.kind };
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

async function run(args: ParsedArgs, io: Io): Promise<number> {
  const file = args.positionals[0]!;
  const json = args.options.json === true;
  const program = loadProgram(file, io.cwd);
  let machine: Machine;
  try {
    machine = new Machine({
      memoryMiB: (args.options.mem as number | undefined) ?? 64,
      costModel: (args.options["cost-model"] as string | undefined) ?? "recent",
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  if (!json) machine.onConsole = (byte) => io.stdout(String.fromCharCode(byte));
  try {
    machine.load(program.bytes, {
      name: file,
      ...(args.options.load !== undefined
        ? { load: args.options.load as number }
        : program.origin !== undefined
          ? { load: program.origin }
          : {}),
      ...(args.options.entry !== undefined ? { entry: args.options.entry as number } : {}),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const max = args.options["max-instructions"] as number | undefined;
  const stop = machine.run(max !== undefined ? { maxInstructions: max } : {});
  const cpu = machine.cpu;
  if (json) {
    const out = {
      stop: stopJson(stop),
      console: latin1(machine.consoleOutput()),
      regs: cpu.snapshotRegisters(),
      instructions: cpu.instret,
      cycles: cpu.cycles,
    };
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    io.stderr(`vmxlab: ${describeStop(stop)}; ${cpu.instret} instructions, ${cpu.cycles} cycles\n`);
  }
  return exitStatus(stop);
}

export const runCommand: Command = { spec: runSpec, run };
