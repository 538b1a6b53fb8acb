// vmxlab disasm: disassemble a flat binary or the loadable segments of an ELF32 (objdump -M intel style).

import { disassemble, formatListing, isElf, parseElf32 } from "@vmxlab/cpu";
import type { CommandSpec, ParsedArgs } from "../args.js";
import { CliError, type Command, type Io } from "../command.js";
import { readInput } from "../program.js";

export const disasmSpec: CommandSpec = {
  name: "disasm",
  summary: "Disassemble a flat binary or an ELF32 executable (Intel syntax, as objdump -d -M intel)",
  positionals: "FILE",
  minPositionals: 1,
  maxPositionals: 1,
  options: [
    {
      name: "org",
      type: "address",
      value: "ADDR",
      description: "address of the first byte of a flat binary",
      defaultText: "0x100000",
    },
  ],
};

function run(args: ParsedArgs, io: Io): number {
  const file = args.positionals[0]!;
  const bytes = readInput(file, io.cwd);
  if (isElf(bytes)) {
    let elf: ReturnType<typeof parseElf32>;
    try {
      elf = parseElf32(bytes, file);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
    const symbols = new Map([...elf.symbols.entries()].map(([name, addr]) => [addr, name]));
    for (const seg of elf.segments) {
      io.stdout(`segment at 0x${seg.address.toString(16)} (${seg.bytes.length} bytes):\n`);
      io.stdout(`${formatListing(disassemble(seg.bytes, seg.address, { symbols }))}\n`);
    }
    return 0;
  }
  const origin = (args.options.org as number | undefined) ?? 0x100000;
  io.stdout(`${formatListing(disassemble(bytes, origin))}\n`);
  return 0;
}

export const disasmCommand: Command = { spec: disasmSpec, run };
