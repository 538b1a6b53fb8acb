// vmxlab demo: the README's first command ends here. It runs real guest programs and shows what
// happened; as the hypervisors land it grows into the type-1 tour of the example guest kernel.

import { examplePath, Machine } from "@vmxlab/cpu";
import type { CommandSpec, ParsedArgs } from "../args.js";
import type { Command, Io } from "../command.js";
import { describeStop } from "../output.js";
import { readInput } from "../program.js";

export const demoSpec: CommandSpec = {
  name: "demo",
  summary: "Run the demo: gcc-compiled C programs on the emulated bare machine, with statistics",
  positionals: "",
  minPositionals: 0,
  maxPositionals: 0,
  options: [],
};

const PROGRAMS = ["sieve-O2.elf", "crc32-O2.elf"];

function run(_args: ParsedArgs, io: Io): number {
  let status = 0;
  for (const name of PROGRAMS) {
    const path = examplePath(`c/build/${name}`);
    io.stdout(`== ${name} on the bare machine (gcc -m32 -O2, loaded as ELF32) ==\n`);
    const machine = new Machine({ memoryMiB: 16, onConsole: (b) => io.stdout(String.fromCharCode(b)) });
    machine.load(readInput(path, io.cwd), { name });
    const start = performance.now();
    const stop = machine.run({ maxInstructions: 500_000_000 });
    const seconds = (performance.now() - start) / 1000;
    const cpu = machine.cpu;
    const tlb = cpu.tlb.stats;
    io.stdout(
      `-- ${describeStop(stop)}: ${cpu.instret.toLocaleString("en-US")} instructions, ${cpu.cycles.toLocaleString("en-US")} modeled cycles, ` +
        `TLB ${tlb.hits.toLocaleString("en-US")} hits / ${tlb.misses} misses, ` +
        `${(cpu.instret / seconds / 1e6).toFixed(0)} MIPS on this host\n\n`,
    );
    if (stop.kind !== "debug-exit" || stop.value !== 0) status = 1;
  }
  return status;
}

export const demoCommand: Command = { spec: demoSpec, run };
