// vmxlab demo: the README's first command ends here. The example guest kernel (two ring-3 processes,
// timer preemption, system calls) runs on the bare machine and then in a VM on the type-1 hypervisor
// with EPT; it prints the guest's output and what virtualizing it cost, exit by exit.

import { exitReasonName, Machine } from "@vmxlab/cpu";
import { guestKernelImage, Hypervisor } from "@vmxlab/vmm";
import type { CommandSpec, ParsedArgs } from "../args.js";
import type { Command, Io } from "../command.js";
import { describeStop } from "../output.js";

export const demoSpec: CommandSpec = {
  name: "demo",
  summary: "Run the example guest kernel on the bare machine and in a VM (type-1, EPT) and compare",
  positionals: "",
  minPositionals: 0,
  maxPositionals: 0,
  options: [],
};

const n = (x: number) => x.toLocaleString("en-US");

function run(_args: ParsedArgs, io: Io): number {
  const image = guestKernelImage();

  io.stdout("== the example guest kernel on the bare machine ==\n");
  const bare = new Machine({ memoryMiB: 32, onConsole: (b) => io.stdout(String.fromCharCode(b)) });
  bare.load(image);
  const bareStop = bare.run({ maxInstructions: 100_000_000 });
  io.stdout(
    `-- ${describeStop(bareStop)}: ${n(bare.cpu.instret)} instructions, ${n(bare.cpu.cycles)} modeled cycles\n\n`,
  );

  io.stdout("== the same kernel in a VM on the type-1 hypervisor, EPT ==\n");
  const started = performance.now();
  const hv = new Hypervisor([{ name: "guest", memoryMiB: 32, image, paging: "ept" }], {
    onConsole: (_vm, b) => io.stdout(String.fromCharCode(b)),
  });
  hv.run({ maxInstructions: 100_000_000 });
  const seconds = (performance.now() - started) / 1000;
  const vm = hv.vms[0]!;
  const stats = vm.stats;
  const exits = [...stats.exits.entries()].sort((a, b) => b[1] - a[1]);
  const total = exits.reduce((sum, [, count]) => sum + count, 0);
  io.stdout(`-- ${describeStop(vm.stop ?? { kind: "limit" })}: ${n(stats.guestInstructions)} guest instructions\n`);
  io.stdout(`\nVM exits (${n(total)}):\n`);
  for (const [reason, count] of exits)
    io.stdout(`  ${exitReasonName(reason).padEnd(20)} ${String(reason).padStart(3)}  ${n(count).padStart(8)}\n`);
  const vmCycles = stats.guestCycles + stats.hypervisorCycles;
  io.stdout(
    `\nmodeled cycles: bare ${n(bare.cpu.cycles)}; in the VM ${n(vmCycles)} = guest ${n(stats.guestCycles)} + hypervisor ${n(stats.hypervisorCycles)} ` +
      `(${(vmCycles / bare.cpu.cycles).toFixed(2)}x bare)\n`,
  );
  io.stdout(
    `host time for the VM run: ${seconds.toFixed(2)} s (${n(Math.round(total / seconds))} VM exits per host second)\n`,
  );
  const same = vm.consoleText() === bare.consoleText();
  io.stdout(`guest-visible output identical to the bare machine: ${same ? "yes" : "NO"}\n`);
  return bareStop.kind === "debug-exit" && bareStop.value === 0 && vm.stop?.kind === "debug-exit" && same ? 0 : 1;
}

export const demoCommand: Command = { spec: demoSpec, run };
