// vmxlab debug: an interactive debugger for a guest program on the bare machine or in a VM, that
// steps through instructions and VM exits alike (the engine is ../debug/session.ts).

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { PassThrough, Writable } from "node:stream";
import type { CommandSpec, ParsedArgs } from "../args.js";
import { UsageError } from "../args.js";
import { CliError, type Command, type Io } from "../command.js";
import { createTarget, describeTarget } from "../debug/create.js";
import { runRepl, runScript } from "../debug/repl.js";
import { DebugSession } from "../debug/session.js";
import { loadProgram } from "../program.js";
import * as vmOption from "./vm-options.js";

export const debugSpec: CommandSpec = {
  name: "debug",
  summary: "Debug a program: step through its instructions and its VM exits (bare, type1, hosted)",
  positionals: "FILE",
  minPositionals: 1,
  maxPositionals: 1,
  options: [
    vmOption.on,
    { ...vmOption.paging, description: "memory virtualization of the VM" },
    vmOption.lazyMemory,
    { name: "script", type: "string", value: "FILE", description: "run the commands in FILE and print the transcript" },
    { ...vmOption.load, defaultText: "0x100000" },
    { ...vmOption.entry, defaultText: "the load address" },
    { ...vmOption.mem, description: "guest RAM in MiB" },
    { ...vmOption.costModel, description: "cycle-cost profile" },
    { name: "history", type: "integer", value: "N", description: "stops kept for 'back'", defaultText: "500" },
    {
      name: "limit",
      type: "integer",
      value: "N",
      description: "guest instructions one command may run",
      defaultText: "100000000",
    },
  ],
  details: [
    "FILE is assembly (.asm, assembled on the fly: its labels become symbols), an ELF32 executable or",
    "a flat binary. Interactive: line editing, history (up/down), tab completion, an empty line repeats",
    "step/next, Ctrl-C interrupts a long run, Ctrl-D or 'quit' leaves. With --script the commands come",
    "from FILE and the output is a transcript: each command after its prompt, then what it printed.",
    "Type 'help' in the debugger for its commands. With --on hosted the session starts once the",
    "host kernel has booted and the VMM process has set the VM up; host activity between two",
    "guest instructions runs as a unit, and exits stop once handled (in the kernel or user space).",
  ].join("\n"),
};

async function run(args: ParsedArgs, io: Io): Promise<number> {
  const o = args.options;
  const on = (o.on as "bare" | "type1" | "hosted" | undefined) ?? "bare";
  if (on === "bare") {
    for (const flag of ["paging", "lazy-memory"]) {
      if (o[flag] !== undefined) throw new UsageError(`--${flag} needs --on type1 or --on hosted`);
    }
  }
  const paging = (o.paging as "ept" | "shadow" | undefined) ?? "ept";
  if (o["lazy-memory"] && paging === "shadow")
    throw new UsageError("--lazy-memory needs EPT (shadow paging backs all RAM)");
  if (o["lazy-memory"] && on === "hosted") {
    throw new UsageError("--lazy-memory needs --on type1 (the hosted KVM module maps guest RAM on first touch anyway)");
  }
  const memoryMiB = (o.mem as number | undefined) ?? 64;
  if (memoryMiB < 1 || memoryMiB > 2048) throw new UsageError("--mem must be 1-2048");
  const file = args.positionals[0]!;
  const program = loadProgram(file, io.cwd);
  let script: string[] | undefined;
  if (o.script !== undefined) {
    try {
      script = readFileSync(resolve(io.cwd, o.script as string), "utf8").split(/\r?\n/);
    } catch (error) {
      throw new CliError(
        `cannot read '${o.script}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  const targetOptions = {
    memoryMiB,
    costModel: (o["cost-model"] as string | undefined) ?? "recent",
    paging,
    lazyMemory: o["lazy-memory"] === true,
    ...(o.load !== undefined ? { load: o.load as number } : {}),
    ...(o.entry !== undefined ? { entry: o.entry as number } : {}),
  };
  const interactive = script === undefined;
  const input = io.stdin ?? process.stdin;
  const color = interactive && io.isTTY && !io.env.NO_COLOR;
  let session: DebugSession;
  try {
    session = new DebugSession((hooks) => createTarget(on, program, { ...targetOptions, ...hooks }), program, {
      color,
      fileName: file,
      description: describeTarget(on, targetOptions),
      ...(o.history !== undefined ? { history: o.history as number } : {}),
      ...(o.limit !== undefined ? { commandLimit: o.limit as number } : {}),
    });
  } catch (error) {
    if (error instanceof UsageError || error instanceof CliError) throw error;
    throw new CliError((error as Error).message);
  }
  if (script !== undefined) {
    runScript(session, script, io.stdout);
    return 0;
  }
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      io.stdout(chunk.toString());
      done();
    },
  });
  const terminal = Boolean((input as { isTTY?: boolean }).isTTY) && io.isTTY;
  await runRepl(session, { input: input ?? new PassThrough(), output, terminal });
  return 0;
}

export const debugCommand: Command = { spec: debugSpec, run };
