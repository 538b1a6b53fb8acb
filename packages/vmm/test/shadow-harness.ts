// Runs one guest program twice, on the bare machine and in a VM under shadow paging, and gives both
// outcomes in the same shape so a test can demand they are identical (the guest must not be able to
// tell). Programs are NASM-syntax sources assembled with the project's assembler; they may include
// the cpu package's system-test runtime (packages/cpu/test/system/lib.inc: GDT, IDT with logging
// stubs, TSS, ring-3 entry, paging helpers).

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow, Machine, type RegisterSnapshot } from "@vmxlab/cpu";
import { type ExitRecord, Hypervisor, type Vm } from "../src/index.js";
import type { ShadowMmu } from "../src/memory/shadow-mmu.js";

export const SYSTEM_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../cpu/test/system");
export const LOAD = 0x100000;

export interface Program {
  bytes: Uint8Array;
  symbols: Map<string, number>;
}

/** Assembles a source that may %include files of the cpu package's system tests (lib.inc). */
export function assemble(source: string, fileName = join(SYSTEM_DIR, "shadow-case.asm")): Program {
  const r = assembleOrThrow(source, { fileName, readFile: (p) => readFileSync(p, "utf8") });
  return { bytes: r.bytes, symbols: r.symbols };
}

export function assembleSystemFile(file: string): Program {
  const path = join(SYSTEM_DIR, file);
  return assemble(readFileSync(path, "utf8"), path);
}

export function sym(p: Program, name: string): number {
  const v = p.symbols.get(name);
  if (v === undefined) throw new Error(`no symbol '${name}'`);
  return v;
}

/** How a run ended, without the diagnostic text (which names the machine or the VM). */
export type Stop = { kind: string; value?: number };

export interface Outcome {
  stop: Stop;
  diagnostic: string;
  regs: RegisterSnapshot;
  console: string;
  instructions: number;
  read32(address: number): number;
  bytes(address: number, length: number): Uint8Array;
}

export interface RunOptions {
  entry?: string | number;
  maxInstructions?: number;
  memoryMiB?: number;
}

function entryOf(p: Program, options: RunOptions): number {
  if (options.entry === undefined) return LOAD;
  return typeof options.entry === "number" ? options.entry : sym(p, options.entry);
}

function stopOf(s: { kind: string; value?: number; diagnostic?: string }): { stop: Stop; diagnostic: string } {
  const stop: Stop = { kind: s.kind };
  if (s.kind === "debug-exit" && s.value !== undefined) stop.value = s.value;
  return { stop, diagnostic: s.diagnostic ?? "" };
}

export function runBare(p: Program, options: RunOptions = {}): Outcome & { machine: Machine } {
  const machine = new Machine({ memoryMiB: options.memoryMiB ?? 16 });
  machine.load(p.bytes, { load: LOAD, entry: entryOf(p, options) });
  const startInstret = machine.cpu.instret;
  const s = machine.run({ maxInstructions: options.maxInstructions ?? 2_000_000 });
  const mem = machine.memory;
  return {
    machine,
    ...stopOf(s as { kind: string; value?: number; diagnostic?: string }),
    regs: machine.cpu.snapshotRegisters(),
    console: machine.consoleText(),
    instructions: machine.cpu.instret - startInstret,
    read32: (a) => mem.read32(a) >>> 0,
    bytes: (a, n) => mem.u8.slice(a, a + n),
  };
}

export interface ShadowOutcome extends Outcome {
  hv: Hypervisor;
  vm: Vm;
  mmu: ShadowMmu;
  exits: ExitRecord[];
}

export function runShadow(p: Program, options: RunOptions & { trace?: boolean } = {}): ShadowOutcome {
  const exits: ExitRecord[] = [];
  const hv = new Hypervisor(
    [
      {
        name: "g",
        memoryMiB: options.memoryMiB ?? 16,
        image: p.bytes,
        load: LOAD,
        entry: entryOf(p, options),
        paging: "shadow",
      },
    ],
    {
      onExit: (r) => {
        exits.push(r);
        if (options.trace) console.log(`${r.name.padEnd(16)} ${r.detail.padEnd(44)} | ${r.handler}`);
      },
    },
  );
  hv.run({ maxInstructions: options.maxInstructions ?? 2_000_000 });
  const vm = hv.vms[0]!;
  const s = vm.stop ?? { kind: "none" };
  return {
    hv,
    vm,
    mmu: vm.mmu as ShadowMmu,
    exits,
    ...stopOf(s as { kind: string; value?: number; diagnostic?: string }),
    regs: vm.finalRegs!,
    console: vm.consoleText(),
    instructions: vm.stats.guestInstructions,
    read32: (a) => {
      const b = vm.memory.read(a, 4);
      return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    },
    bytes: (a, n) => vm.memory.read(a, n),
  };
}

/** Both runs of one program. */
export function runBoth(p: Program, options: RunOptions = {}): { bare: Outcome; shadow: ShadowOutcome } {
  return { bare: runBare(p, options), shadow: runShadow(p, options) };
}

/** Byte ranges where the two runs' guest memory differs (as "0xADDR: bare xx, shadow yy"), at most `limit`. */
export function memoryDiff(bare: Outcome, shadow: Outcome, size: number, limit = 8): string[] {
  const a = bare.bytes(0, size);
  const b = shadow.bytes(0, size);
  const out: string[] = [];
  for (let i = 0; i < size && out.length < limit; i += 4) {
    const x = a[i]! | (a[i + 1]! << 8) | (a[i + 2]! << 16) | (a[i + 3]! << 24);
    const y = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    if (x !== y) out.push(`0x${i.toString(16)}: bare 0x${(x >>> 0).toString(16)}, shadow 0x${(y >>> 0).toString(16)}`);
  }
  return out;
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}
