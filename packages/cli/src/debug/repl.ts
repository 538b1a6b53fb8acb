// The debugger's two front ends: a script (each command echoed after the prompt, then its output,
// like a terminal transcript) and the interactive REPL (node:readline, with history, tab completion
// and Ctrl-C to interrupt a long run). Both only move text between a stream and the session.

import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { DebugSession } from "./session.js";

/** Runs `lines` as commands; `write` receives the transcript. Stops early at `quit`. */
export function runScript(session: DebugSession, lines: readonly string[], write: (text: string) => void): void {
  write(session.banner());
  for (const line of lines) {
    if (session.quit) break;
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    write(`${session.prompt()}${line.trim()}\n`);
    write(session.execute(line));
  }
}

/** Commands that an empty line repeats (in a terminal, as gdb does). */
const REPEATABLE = new Set(["step", "s", "si", "stepi", "next", "n", "ni", "nexti", "until-exit", "ue", "back", "rs"]);

export interface ReplOptions {
  input: Readable;
  output: Writable;
  /** The input is a terminal: line editing, history, completion; otherwise commands are echoed. */
  terminal: boolean;
}

/** The interactive session; resolves when the user quits or the input ends. */
export async function runRepl(session: DebugSession, o: ReplOptions): Promise<void> {
  const rl = createInterface({
    input: o.input,
    output: o.output,
    terminal: o.terminal,
    historySize: 1000,
    removeHistoryDuplicates: true,
    completer: (line: string) => session.complete(line),
  });
  let busy = false;
  let interrupted = false;
  rl.on("SIGINT", () => {
    if (busy) {
      interrupted = true;
      return;
    }
    // Ctrl-C at the prompt drops the line, as in a shell.
    o.output.write("^C\n");
    rl.setPrompt(session.prompt());
    rl.prompt();
  });
  o.output.write(session.banner());
  rl.setPrompt(session.prompt());
  rl.prompt();
  let last = "";
  try {
    for await (const raw of rl) {
      let line = raw;
      if (!o.terminal) o.output.write(`${line}\n`);
      if (line.trim() === "" && o.terminal && REPEATABLE.has(last.split(/\s+/)[0] ?? "")) line = last;
      if (line.trim() !== "") last = line.trim();
      busy = true;
      interrupted = false;
      const out = await session.executeAsync(line, () => interrupted);
      busy = false;
      o.output.write(out);
      if (session.quit) break;
      rl.setPrompt(session.prompt());
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  if (!session.quit) o.output.write("\n");
}
