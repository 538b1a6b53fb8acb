// Runs the CLI in-process and collects what it wrote: the one set-up every CLI test shares.
import type { Io } from "../src/command.js";
import { main } from "../src/main.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `vmxlab ARGV` in `cwd` (not a terminal, empty environment unless `more` says otherwise). */
export async function cli(
  argv: string[],
  cwd = process.cwd(),
  more: { stdin?: Io["stdin"]; isTTY?: boolean; env?: Record<string, string> } = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    isTTY: more.isTTY ?? false,
    env: more.env ?? {},
    cwd,
    ...(more.stdin ? { stdin: more.stdin } : {}),
  });
  return { code, stdout, stderr };
}
