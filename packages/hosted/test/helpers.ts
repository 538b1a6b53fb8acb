// Shared pieces of the hosted tests: the bare machine and the type-1 hypervisor as references, and
// the hosted system with its results in the same shape.
import { readdirSync, readFileSync } from "node:fs";
import { examplePath, Machine, type RegisterSnapshot } from "@vmxlab/cpu";
import { Hypervisor, type PagingMode, type VmStop } from "@vmxlab/vmm";
import { type HostedExitRecord, type HostedOptions, HostedSystem, type HostedVmConfig } from "../src/index.js";

export interface GuestResult {
  stop: unknown;
  console: string;
  regs: RegisterSnapshot | null;
  instructions: number;
}

export const MAX = 50_000_000;
/** A safety net: no test run goes past this many modeled cycles (about 0.3 s of the modeled core). */
export const MAX_CYCLES = 1_000_000_000;

export function bare(image: Uint8Array, max = MAX): GuestResult {
  const m = new Machine({ memoryMiB: 16 });
  m.load(image);
  const stop = m.run({ maxInstructions: max });
  return { stop, console: m.consoleText(), regs: m.cpu.snapshotRegisters(), instructions: m.cpu.instret };
}

export function type1(image: Uint8Array, paging: PagingMode = "ept", max = MAX): GuestResult {
  const hv = new Hypervisor([{ name: "vm0", memoryMiB: 16, image, paging }]);
  hv.run({ maxInstructions: max });
  const vm = hv.vms[0]!;
  return { stop: vm.stop, console: vm.consoleText(), regs: vm.finalRegs, instructions: vm.stats.guestInstructions };
}

export interface HostedRun extends GuestResult {
  system: HostedSystem;
  records: HostedExitRecord[];
}

export function hosted(
  image: Uint8Array,
  options: HostedOptions & { paging?: PagingMode; config?: Partial<HostedVmConfig>; keepRecords?: boolean } = {},
  max = MAX,
): HostedRun {
  const records: HostedExitRecord[] = [];
  const { config, keepRecords, ...rest } = options;
  const system = new HostedSystem([{ name: "vm0", memoryMiB: 16, image, ...config }], {
    ...rest,
    ...(keepRecords ? { onExit: (r: HostedExitRecord) => records.push(r) } : {}),
  });
  system.run({ maxInstructions: max, maxCycles: MAX_CYCLES });
  const vm = system.vms[0]!;
  return {
    stop: vm.stop as VmStop,
    console: vm.consoleText(),
    regs: vm.finalRegs,
    instructions: vm.stats.guestInstructions,
    system,
    records,
  };
}

export const C_BUILD = examplePath("c/build");
export const C_PROGRAMS = readdirSync(C_BUILD)
  .filter((f) => f.endsWith(".elf"))
  .sort();

export function cProgram(file: string): Uint8Array {
  return new Uint8Array(readFileSync(`${C_BUILD}/${file}`));
}

export function guestVisible(r: GuestResult): GuestResult {
  return { stop: r.stop, console: r.console, regs: r.regs, instructions: r.instructions };
}
