import { commandHelp, parseArgs, UsageError, usageLine } from "./args.js";
import { CliError, type Command, type Io } from "./command.js";
import { commands } from "./commands/index.js";

const VERSION = "0.1.0";

export function topLevelHelp(): string {
  const width = Math.max(...commands.map((c) => c.spec.name.length)) + 4;
  return [
    "usage: vmxlab <command> [options]",
    "",
    "vmxlab: an emulated x86 CPU with Intel-VMX-style extensions, and hypervisors built on it.",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    "",
    "Run 'vmxlab <command> --help' for a command's options.",
  ].join("\n");
}

/** Runs the CLI; returns the exit status instead of exiting, so tests can call it in-process. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const target = name === "help" && rest[0] ? commands.find((c) => c.spec.name === rest[0]) : undefined;
    io.stdout(`${target ? commandHelp(target.spec) : topLevelHelp()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    io.stdout(`vmxlab ${VERSION}\n`);
    return 0;
  }
  const command: Command | undefined = commands.find((c) => c.spec.name === name);
  if (!command) {
    io.stderr(`vmxlab: unknown command '${name}'\nusage: vmxlab <command> [options] (see vmxlab --help)\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`${commandHelp(command.spec)}\n`);
    return 0;
  }
  try {
    return await command.run(parseArgs(command.spec, rest), io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`vmxlab ${name}: ${error.message}\n${usageLine(command.spec)} (see vmxlab ${name} --help)\n`);
      return 2;
    }
    if (error instanceof CliError) {
      io.stderr(`vmxlab ${name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
