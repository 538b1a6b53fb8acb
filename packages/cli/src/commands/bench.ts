// vmxlab bench: the exit-overhead benchmarks (packages/bench) -- every workload on the bare machine,
// the type-1 hypervisor and the hosted design, EPT and shadow paging, under each cost model -- with the
// emulator's own speed. Tables on stdout; JSON and a self-contained HTML report on request.

import { runBenchCommand, wantsProgress } from "@vmxlab/bench";
import type { CommandSpec, ParsedArgs } from "../args.js";
import { UsageError } from "../args.js";
import { CliError, type Command, type Io } from "../command.js";

export const benchSpec: CommandSpec = {
  name: "bench",
  summary: "Benchmark VM-exit overheads across the bare machine, type-1 and hosted designs",
  positionals: "",
  minPositionals: 0,
  maxPositionals: 0,
  options: [
    { name: "quick", type: "boolean", description: "fewer iterations and a smaller matrix (what CI runs)" },
    {
      name: "only",
      type: "string",
      value: "NAME[,NAME]",
      multiple: true,
      description: "only these workloads, configurations or cost models, or 'emulator' for the emulator-speed section",
    },
    { name: "json", type: "string", value: "FILE", description: "write every result as JSON" },
    { name: "html", type: "string", value: "FILE", description: "write a self-contained HTML report with SVG charts" },
    { name: "no-v86", type: "boolean", description: "leave v86 out of the emulator-speed comparison" },
  ],
  details: [
    "Workloads: syscall-sysenter, syscall-int80, in, out, cpuid, vmcall, cr3-write, pgfault, divzero, ptemod,",
    "call-ret, hlt (nanobenchmarks), guest-kernel, mem-sweep, block-io, c-crc32 (macro). Configurations: bare,",
    "type1-ept, type1-shadow, hosted-ept, hosted-shadow, with VPID off (-novpid) and with host load (-load).",
    "Cost models: recent, nehalem. Modeled cycles are deterministic; host times depend on this machine.",
  ].join("\n"),
};

async function run(args: ParsedArgs, io: Io): Promise<number> {
  const only = (args.options.only as string[] | undefined) ?? [];
  try {
    const { status } = await runBenchCommand({
      quick: args.options.quick === true,
      only,
      ...(typeof args.options.json === "string" ? { json: args.options.json } : {}),
      ...(typeof args.options.html === "string" ? { html: args.options.html } : {}),
      skipV86: args.options["no-v86"] === true,
      cwd: io.cwd,
      stdout: io.stdout,
      stderr: io.stderr,
      progress: wantsProgress(io.isTTY, io.env),
    });
    return status;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.startsWith("--only")) throw new UsageError(message, benchSpec);
    throw new CliError(message);
  }
}

export const benchCommand: Command = { spec: benchSpec, run };
