import type { Readable } from "node:stream";
import type { CommandSpec, ParsedArgs } from "./args.js";

/** Where a command writes; tests pass buffers, the binary passes the process streams. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is a terminal (colors and progress are allowed). */
  isTTY: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Where interactive commands read from (default: process.stdin). */
  stdin?: Readable;
}

export interface Command {
  spec: CommandSpec;
  /** Returns the process exit status. Throw UsageError for bad arguments, CliError for bad input. */
  run(args: ParsedArgs, io: Io): Promise<number> | number;
}

/** A user-facing failure (missing file, malformed input): printed as one line, exit status 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}
