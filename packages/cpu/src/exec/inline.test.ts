// Every inliner (exec/inline.ts) against its handler: decoded instances of each inlined table row run
// both ways from the same random state (registers, lazy flags, memory, faults included) and must leave
// the same state.
import { describe, expect, it } from "vitest";
import { CpuSignal } from "../cpu/fault.js";
import { inlineCode } from "../isa/block-compiler.js";
import { decodeBytes, hasModrm } from "../isa/decoder.js";
import type { Insn } from "../isa/insn.js";
import { OPCODES } from "../isa/opcodes.js";
import type { OpcodeDef } from "../isa/types.js";
import { Machine } from "../machine.js";
import { INLINE_HELPERS } from "./inline.js";

/** xorshift32: the same sequence on every run. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const MEMORY = 1 << 20;
/** The memory both machines start from. */
const CONTENT = new Int32Array(MEMORY >>> 2);
{
  const next = rng(12345);
  for (let k = 0; k < CONTENT.length; k++) CONTENT[k] = next();
}

/** Register values that make addresses land in RAM most of the time, and anywhere sometimes. */
function randomState(m: Machine, seed: number): void {
  const next = rng(seed);
  const c = m.cpu;
  for (let r = 0; r < 8; r++) c.regs[r] = next() % 8 === 0 ? next() : next() % (MEMORY - 0x1000);
  c.fl = (next() & 0x8d5) | 0x2;
  c.lazy = next() & 0x8d5;
  c.lOp = next() % 5;
  c.lSign = [0x80, 0x8000, 0x80000000][next() % 3]!;
  c.lA = next();
  c.lB = next();
  c.lR = next();
  c.eip = 0x1000;
  c.i32.set(CONTENT);
}

function snapshot(m: Machine, outcome: string) {
  const c = m.cpu;
  return {
    outcome,
    regs: Array.from(c.regs),
    eip: c.eip,
    flags: [c.fl, c.lazy, c.lOp, c.lA, c.lB, c.lR, c.lSign],
    fault: [c.pendingVector, c.pendingErrorCode, c.faultLinear],
    tlb: { ...c.tlb.stats },
    cycles: c.cycles,
  };
}

function outcome(body: () => void): string {
  try {
    body();
    return "ok";
  } catch (signal) {
    if (signal instanceof CpuSignal) return signal.kind;
    throw signal;
  }
}

/** Byte sequences for a row: its opcode (with a random +r register), a ModRM that selects it, random rest. */
function encodings(def: OpcodeDef, next: () => number): Uint8Array {
  const bytes: number[] = def.opcode > 0xff ? [0x0f, def.opcode & 0xff] : [def.opcode];
  if (def.operands.includes("Zv") || def.operands.includes("Zb")) bytes[bytes.length - 1]! += next() % 8;
  if (hasModrm(def)) {
    let mod = next() % 4;
    if (def.mod === "mem" && mod === 3) mod = next() % 3;
    const reg = def.ext ?? next() % 8;
    bytes.push((mod << 6) | (reg << 3) | (next() % 8));
  }
  for (let k = 0; k < 10; k++) bytes.push(next() & 0xff);
  return new Uint8Array(bytes);
}

describe("inlined instructions behave exactly like their handlers", () => {
  const inlined = OPCODES.filter((d) => d.inline !== undefined);
  it("has inlined rows", () => {
    expect(inlined.length).toBeGreaterThan(50);
  });
  const a = new Machine({ memoryMiB: 1 });
  const b = new Machine({ memoryMiB: 1 });
  for (const def of inlined) {
    const name = typeof def.mnemonic === "string" ? def.mnemonic : def.mnemonic.d;
    it(`${name} ${def.operands.join(",")} (${def.opcode.toString(16)}${def.ext === undefined ? "" : `/${def.ext}`})`, () => {
      const next = rng(def.opcode * 8 + (def.ext ?? 0) + 1);
      let checked = 0;
      for (let round = 0; round < 80; round++) {
        // Both operand sizes of the v/z forms.
        const bytes = encodings(def, next);
        const insn: Insn = decodeBytes(round % 4 === 3 ? new Uint8Array([0x66, ...bytes]) : bytes);
        if (insn.def !== def) continue;
        const code = inlineCode(insn);
        if (code === null) continue;
        const seed = next();
        randomState(a, seed);
        randomState(b, seed);
        const fn = new Function("c", "r", "H", code.code) as (c: unknown, r: Int32Array, h: unknown) => void;
        const viaHandler = snapshot(
          a,
          outcome(() => insn.exec(a.cpu, insn)),
        );
        const viaInline = snapshot(
          b,
          outcome(() => fn(b.cpu, b.cpu.regs, INLINE_HELPERS)),
        );
        expect(viaInline, `${code.code}`).toEqual(viaHandler);
        expect(Buffer.compare(a.cpu.u8, b.cpu.u8)).toBe(0);
        if (!code.mayFault) expect(viaInline.outcome).toBe("ok");
        checked++;
      }
      expect(checked).toBeGreaterThan(10);
    });
  }
});
