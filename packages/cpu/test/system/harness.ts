// The system-test harness: assembles the NASM programs in this directory, boots one case (a label
// of the program) on a fresh Machine under the boot contract, and reads back the exception log and
// other memory the programs leave behind (the layout is described in lib.inc).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { assembleOrThrow } from "../../src/asm/index.js";
import type { RegisterSnapshot } from "../../src/cpu/cpu.js";
import type { StopReason } from "../../src/cpu/stop.js";
import { Machine } from "../../src/machine.js";

export const HERE = dirname(fileURLToPath(import.meta.url));

export interface Program {
  bytes: Uint8Array;
  symbols: Map<string, number>;
}

/**
 * Assembles test/system/<name> to a flat binary with its symbol table (labels, local labels as
 * "parent.local", and equ constants), with the project's own assembler. `assembleWithNasm` does the
 * same with the real NASM (system.test.ts cross-checks the two when nasm is installed).
 */
export function assembleProgram(path: string): Program {
  const r = assembleOrThrow(readFileSync(path, "utf8"), { fileName: path, readFile: (p) => readFileSync(p, "utf8") });
  return { bytes: r.bytes, symbols: r.symbols };
}

export function hasNasm(): boolean {
  try {
    execFileSync("nasm", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function assembleWithNasm(path: string): Program {
  const dir = mkdtempSync(join(tmpdir(), "vmxlab-sys-"));
  try {
    const wrapper = join(dir, "wrapper.asm");
    const out = join(dir, "out.bin");
    const map = join(dir, "out.map");
    writeFileSync(wrapper, `[map symbols ${map}]\n%include "${path}"\n`);
    execFileSync("nasm", ["-f", "bin", "-w+all", "-w-reloc-abs", "-i", `${dirname(path)}/`, "-o", out, wrapper], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { bytes: new Uint8Array(readFileSync(out)), symbols: parseNasmMap(readFileSync(map, "utf8")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Symbols from a NASM map file: "Value Name" rows (equ constants) and "Real Virtual Name" rows (labels). */
function parseNasmMap(text: string): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^\s*([0-9A-Fa-f]+)\s+(?:([0-9A-Fa-f]+)\s+)?([A-Za-z_.$?@][\w.$?@#~]*)\s*$/.exec(line);
    if (!m) continue;
    symbols.set(m[3]!, Number.parseInt(m[2] ?? m[1]!, 16));
  }
  return symbols;
}

const programs = new Map<string, Program>();

export function program(file: string): Program {
  let p = programs.get(file);
  if (!p) {
    p = assembleProgram(join(HERE, file));
    programs.set(file, p);
  }
  return p;
}

export interface LogEntry {
  vector: number;
  /** ESP at handler entry: it points at the error code, or at EIP when there is none. */
  esp: number;
  ss: number;
  cr2: number;
  /** Eight dwords from the handler's stack starting at `esp` (the raw frame). */
  raw: number[];
  eax: number;
  ecx: number;
  edx: number;
  ebx: number;
}

export class Run {
  readonly machine: Machine;
  stop: StopReason;

  constructor(
    readonly prog: Program,
    entry: string,
    options: { maxInstructions?: number; run?: boolean; memoryMiB?: number } = {},
  ) {
    this.machine = new Machine({ memoryMiB: options.memoryMiB ?? 16 });
    this.machine.load(this.prog.bytes, { load: 0x100000, entry: this.sym(entry) });
    this.stop = { kind: "limit" };
    if (options.run !== false) this.run(options.maxInstructions ?? 2_000_000);
  }

  run(maxInstructions = 2_000_000): StopReason {
    this.stop = this.machine.run({ maxInstructions });
    return this.stop;
  }

  sym(name: string): number {
    const v = this.prog.symbols.get(name);
    if (v === undefined) throw new Error(`no symbol '${name}'`);
    return v;
  }

  get regs(): RegisterSnapshot {
    return this.machine.cpu.snapshotRegisters();
  }

  u32(address: number): number {
    return this.machine.memory.read32(address) >>> 0;
  }

  u16(address: number): number {
    return this.machine.memory.read16(address);
  }

  u8(address: number): number {
    return this.machine.memory.read8(address);
  }

  words(address: number, count: number): number[] {
    return Array.from({ length: count }, (_, k) => this.u32(address + 4 * k));
  }

  /** The exception log (see lib.inc). */
  log(): LogEntry[] {
    const base = this.sym("LOG");
    const count = Math.min(this.u32(base), this.sym("LOG_MAX"));
    const out: LogEntry[] = [];
    for (let k = 0; k < count; k++) {
      const e = base + 0x40 + 64 * k;
      out.push({
        vector: this.u32(e),
        esp: this.u32(e + 4),
        ss: this.u32(e + 8),
        cr2: this.u32(e + 12),
        raw: this.words(e + 16, 8),
        eax: this.u32(e + 48),
        ecx: this.u32(e + 52),
        edx: this.u32(e + 56),
        ebx: this.u32(e + 60),
      });
    }
    return out;
  }

  /** Total events that reached a stub (may exceed the entries kept). */
  logCount(): number {
    return this.u32(this.sym("LOG"));
  }
}

/** The frame an event pushed, decoded: [error code,] EIP, CS, EFLAGS[, ESP, SS]. */
export function frameOf(
  e: LogEntry,
  withErrorCode: boolean,
): { error?: number; eip: number; cs: number; eflags: number; esp?: number; ss?: number } {
  const w = withErrorCode ? e.raw : [0, ...e.raw];
  const f: { error?: number; eip: number; cs: number; eflags: number; esp?: number; ss?: number } = {
    eip: w[1]!,
    cs: w[2]! & 0xffff,
    eflags: w[3]!,
  };
  if (withErrorCode) f.error = w[0]!;
  if ((f.cs & 3) !== 0) {
    f.esp = w[4]!;
    f.ss = w[5]! & 0xffff;
  }
  return f;
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** The cases of a system program: labels followed by START. */
export function systemCases(file: string): string[] {
  const lines = readFileSync(join(HERE, file), "utf8").split("\n");
  const out: string[] = [];
  for (let k = 0; k + 1 < lines.length; k++) {
    const m = /^([a-z]\w*):\s*$/.exec(lines[k]!);
    if (m && lines[k + 1]!.trim() === "START") out.push(m[1]!);
  }
  return out;
}

/** What two runs of one program that must agree are compared on (memory apart). */
export function finalState(m: Machine, stop: unknown) {
  const c = m.cpu;
  return {
    stop,
    regs: c.snapshotRegisters(),
    instret: c.instret,
    cycles: c.cycles,
    // TLB hits are left out: the single-step path looks each block up, the fast path follows links.
    tlb: { misses: c.tlb.stats.misses, walkReferences: c.tlb.stats.walkReferences, flushes: c.tlb.stats.flushes },
    console: m.consoleText(),
  };
}

/**
 * One test per system-test case: the case runs as it is and again with `alter` applied to the fresh
 * machine first, and both runs must end in the same state and memory.
 */
export function everyCaseAgreesWhen(alter: (m: Machine) => void): void {
  const files = readdirSync(HERE).filter((f) => f.endsWith(".asm") && f !== "lib.inc");
  for (const file of files) {
    for (const entry of systemCases(file)) {
      it(`${file} ${entry}`, () => {
        const plain = new Run(program(file), entry);
        const altered = new Run(program(file), entry, { run: false });
        alter(altered.machine);
        altered.run();
        expect(finalState(plain.machine, plain.stop)).toEqual(finalState(altered.machine, altered.stop));
        expect(Buffer.compare(plain.machine.memory.u8, altered.machine.memory.u8)).toBe(0);
      });
    }
  }
}
