// vmxlab asm: assemble NASM-style source to a flat binary, with an optional listing.

import { writeFileSync } from "node:fs";
import { assemble, formatAsmErrors } from "@vmxlab/cpu";
import type { CommandSpec, ParsedArgs } from "../args.js";
import { CliError, type Command, type Io } from "../command.js";
import { readInput } from "../program.js";

export const asmSpec: CommandSpec = {
  name: "asm",
  summary: "Assemble a NASM-style source file to a flat binary",
  positionals: "FILE.asm",
  minPositionals: 1,
  maxPositionals: 1,
  options: [
    { name: "o", type: "string", value: "FILE.bin", description: "output file", defaultText: "FILE with .bin" },
    {
      name: "listing",
      type: "string",
      value: "FILE.lst",
      description: "also write a listing (line, address, bytes, source)",
    },
    { name: "symbols", type: "boolean", description: "print the symbol table on stdout" },
  ],
  details: "Errors are reported as file:line:col: message, with the source line; all of them, not just the first.",
};

function write(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data);
  } catch (error) {
    throw new CliError(`cannot write '${path}': ${(error as Error).message}`);
  }
}

function run(args: ParsedArgs, io: Io): number {
  const file = args.positionals[0]!;
  const source = new TextDecoder().decode(readInput(file, io.cwd));
  const result = assemble(source, { fileName: file, readFile: (p) => new TextDecoder().decode(readInput(p, io.cwd)) });
  if (result.errors.length > 0) {
    io.stderr(`${formatAsmErrors(result.errors)}\n`);
    io.stderr(`vmxlab asm: ${result.errors.length} error${result.errors.length === 1 ? "" : "s"} in ${file}\n`);
    return 1;
  }
  const out = (args.options.o as string | undefined) ?? `${file.replace(/\.(asm|s)$/i, "")}.bin`;
  write(out, result.bytes);
  if (args.options.listing !== undefined) write(args.options.listing as string, result.listing);
  if (args.options.symbols) {
    for (const [name, value] of [...result.symbols.entries()].sort((a, b) => a[1] - b[1])) {
      io.stdout(`0x${(value >>> 0).toString(16).padStart(8, "0")} ${name}\n`);
    }
  }
  io.stderr(`vmxlab asm: ${out}: ${result.bytes.length} bytes at 0x${result.origin.toString(16)}\n`);
  return 0;
}

export const asmCommand: Command = { spec: asmSpec, run };
