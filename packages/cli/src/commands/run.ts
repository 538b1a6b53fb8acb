// vmxlab run: a guest program on the bare machine, or in VMs on the type-1 hypervisor or the hosted
// (type-2) path.

import type { CommandSpec, ParsedArgs } from "../args.js";
import { UsageError } from "../args.js";
import type { Command, Io } from "../command.js";
import { loadProgram, readInput } from "../program.js";
import { runBare } from "../run-bare.js";
import { runHosted } from "../run-hosted.js";
import { runType1 } from "../run-type1.js";
import * as vmOption from "./vm-options.js";

export const runSpec: CommandSpec = {
  name: "run",
  summary: "Run a guest program (.asm, flat binary or ELF32) on the bare machine or in VMs",
  positionals: "[FILE]",
  minPositionals: 0,
  maxPositionals: 1,
  options: [
    vmOption.on,
    vmOption.paging,
    vmOption.lazyMemory,
    {
      name: "vm",
      type: "string",
      value: "FILE",
      multiple: true,
      description: "run FILE as one more VM (with --on type1 or hosted)",
    },
    {
      name: "host-load",
      type: "integer",
      value: "N",
      description: "N background host processes, CPU-bound and I/O-bound alternately (with --on hosted)",
      defaultText: "0",
    },
    vmOption.load,
    vmOption.entry,
    vmOption.mem,
    {
      name: "disk",
      type: "string",
      value: "FILE",
      description: "disk image for the VMs' block device (--on type1 or hosted)",
    },
    {
      name: "max-instructions",
      type: "integer",
      value: "N",
      description: 'stop after N guest instructions (stop kind "limit")',
    },
    vmOption.costModel,
    {
      name: "json",
      type: "boolean",
      description: "print one JSON object (stop, console, regs, instructions, cycles, ...) on stdout",
    },
    {
      name: "trace",
      type: "boolean",
      description: "print one line per VM exit on stderr (--on type1; with hosted, every hop and its cycles)",
    },
    {
      name: "trace-json",
      type: "string",
      value: "FILE",
      description: "write the VM-exit trace as JSON lines to FILE (--on type1 or hosted)",
    },
  ],
  details: [
    "Without --json the guest's console output (ports 0xE9 and COM1) streams to stdout and a summary",
    'goes to stderr; with several VMs each console line starts with "[name] ". Exit status: the',
    "debug-exit value written to port 0xF4 (its low 8 bits), 0 after HLT, 1 after a shutdown or a",
    "hypervisor error, 124 when --max-instructions ran out; with several VMs, the first non-zero one.",
    "--on hosted runs each VM in its own user-space VMM process on a host kernel with a KVM-like",
    "module; --json adds the exits handled in the kernel and in user space, the host's context",
    "switches and the host processes' progress.",
  ].join("\n"),
};

function run(args: ParsedArgs, io: Io): number {
  const o = args.options;
  const on = (o.on as string | undefined) ?? "bare";
  const vmFiles = (o.vm as string[] | undefined) ?? [];
  const files = [...args.positionals, ...vmFiles];
  if (files.length === 0) throw new UsageError("missing FILE (or --vm FILE)");
  if (on === "bare") {
    for (const flag of ["vm", "paging", "trace", "trace-json", "disk"]) {
      if (o[flag] !== undefined) throw new UsageError(`--${flag} needs --on type1 or --on hosted`);
    }
  }
  if (on !== "hosted" && o["host-load"] !== undefined) throw new UsageError("--host-load needs --on hosted");
  if (o["lazy-memory"] !== undefined && (on !== "type1" || o.paging === "shadow")) {
    throw new UsageError("--lazy-memory needs --on type1 with EPT");
  }
  const common = {
    memoryMiB: (o.mem as number | undefined) ?? 64,
    costModel: (o["cost-model"] as string | undefined) ?? "recent",
    json: o.json === true,
    ...(o.load !== undefined ? { load: o.load as number } : {}),
    ...(o.entry !== undefined ? { entry: o.entry as number } : {}),
    ...(o["max-instructions"] !== undefined ? { maxInstructions: o["max-instructions"] as number } : {}),
  };
  if (common.memoryMiB < 1 || common.memoryMiB > 2048) throw new UsageError("--mem must be 1-2048");
  const programs = files.map((f) => loadProgram(f, io.cwd));
  if (on === "bare") return runBare(programs[0]!, common, io);
  const vmOptions = {
    ...common,
    paging: ((o.paging as string | undefined) ?? "ept") as "ept" | "shadow",
    trace: o.trace === true,
    ...(o["trace-json"] !== undefined ? { traceJson: o["trace-json"] as string } : {}),
    ...(o.disk !== undefined ? { disk: readInput(o.disk as string, io.cwd) } : {}),
  };
  if (on === "hosted") {
    const hostLoad = (o["host-load"] as number | undefined) ?? 0;
    if (hostLoad > 64) throw new UsageError("--host-load must be 0-64");
    return runHosted(programs, { ...vmOptions, hostLoad }, io);
  }
  return runType1(programs, { ...vmOptions, lazyMemory: o["lazy-memory"] === true }, io);
}

export const runCommand: Command = { spec: runSpec, run };
