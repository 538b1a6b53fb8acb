// Reading a guest program from the command line: NASM-style assembly (.asm, assembled on the fly),
// an ELF32 executable (by its magic) or a flat binary.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { assemble, formatAsmErrors, isElf } from "@vmxlab/cpu";
import { CliError } from "./command.js";

export interface Program {
  /** The path as the user gave it (for messages). */
  name: string;
  bytes: Uint8Array;
  kind: "asm" | "elf" | "flat";
  /** Origin of an assembled program (its `org`), used as the default load address. */
  origin?: number;
  symbols: Map<string, number>;
}

export function readInput(file: string, cwd: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(resolve(cwd, file)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (error as Error).message;
    throw new CliError(`cannot read '${file}': ${why}`);
  }
}

export function loadProgram(file: string, cwd: string): Program {
  const bytes = readInput(file, cwd);
  if (file.toLowerCase().endsWith(".asm") || file.toLowerCase().endsWith(".s")) {
    const source = new TextDecoder().decode(bytes);
    const result = assemble(source, {
      fileName: file,
      readFile: (path: string) => new TextDecoder().decode(readInput(path, cwd)),
    });
    if (result.errors.length > 0) {
      const count = result.errors.length;
      throw new CliError(`${count} error${count === 1 ? "" : "s"} in ${file}:\n${formatAsmErrors(result.errors)}`);
    }
    return { name: file, bytes: result.bytes, kind: "asm", origin: result.origin, symbols: result.symbols };
  }
  return { name: file, bytes, kind: isElf(bytes) ? "elf" : "flat", symbols: new Map() };
}
