// JavaScript source of the hottest handlers, for compiled blocks (isa/block-compiler.ts). Each inliner
// mirrors one handler of alu.ts, alu32.ts, move.ts or control.ts with the decoded instance's fields as
// constants, calling the same Cpu methods in the same order, so the state it leaves is the handler's to
// the bit (inline.test.ts runs both on random states). An inliner may return null: the compiled block
// then calls the handler.

import { REG8_BYTE, ZERO_REG } from "../cpu/registers.js";
import type { Insn } from "../isa/insn.js";
import type { InlineCode, Inliner } from "../isa/types.js";
import { type CountSource, rcl, rcr, rol, ror, sar, shl, shr } from "./alu.js";
import { maskOf } from "./operands.js";

/** Functions the inline code calls as H.name (passed to every compiled block). */
export const INLINE_HELPERS = { rol, ror, rcl, rcr, shl, shr, sar };
/** INLINE_HELPERS' names of alu.ts's SHIFTS, by group-2 /digit. */
const SHIFT_NAMES = ["rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar"] as const;

const CMP = 7;

/** Cpu.ea(i) with the fields folded in: (base + (index << scale) + disp) | 0. */
function ea(i: Insn): string {
  const parts: string[] = [];
  if (i.base !== ZERO_REG) parts.push(`r[${i.base}]`);
  if (i.index !== ZERO_REG) parts.push(i.scale === 0 ? `r[${i.index}]` : `(r[${i.index}] << ${i.scale})`);
  if (parts.length === 0) return String(i.disp | 0);
  if (i.disp !== 0) parts.push(String(i.disp));
  return `(${parts.join(" + ")}) | 0`;
}

const registerOnly = (code: string): InlineCode => ({ code, mayFault: false, writes: false });
const reads = (code: string): InlineCode => ({ code, mayFault: true, writes: false });
const writes = (code: string): InlineCode => ({ code, mayFault: true, writes: true });

/** Only the 32-bit operand size is inlined. */
function only32(emit: (i: Insn) => InlineCode | null): Inliner {
  return (i) => (i.opsize === 32 ? emit(i) : null);
}

// Operand access as operands.ts does it (getReg/setReg/readMem/writeMem), by width.
/** getReg(c, n, bits): unsigned. */
function regRead(n: number, bits: number): string {
  return bits === 32 ? `(r[${n}] >>> 0)` : bits === 16 ? `c.regs16[${n << 1}]` : `c.regs8[${REG8_BYTE[n]}]`;
}
/** What setReg(c, n, v, bits) assigns to. */
function regSlot(n: number, bits: number): string {
  return bits === 32 ? `r[${n}]` : bits === 16 ? `c.regs16[${n << 1}]` : `c.regs8[${REG8_BYTE[n]}]`;
}
/** readMem(c, a, bits): unsigned. */
function memRead(a: string, bits: number): string {
  return bits === 32 ? `(c.read32(${a}) >>> 0)` : `c.read${bits}(${a})`;
}
/** writeMem(c, a, v, bits). */
function memWrite(a: string, v: string, bits: number): string {
  return `c.write${bits}(${a}, ${v});`;
}
/** readE(c, i, bits). */
function readE(i: Insn, bits: number): { code: string; memory: boolean } {
  return i.mod === 3 ? { code: regRead(i.rm, bits), memory: false } : { code: memRead(ea(i), bits), memory: true };
}
/** writeE(c, i, v, bits) (the value expression is evaluated first). */
function writeE(i: Insn, v: string, bits: number): InlineCode {
  return i.mod === 3 ? registerOnly(`${regSlot(i.rm, bits)} = ${v};`) : writes(memWrite(ea(i), v, bits));
}
/** Code reading the E operand: may fault when it is in memory. */
const readingE = (e: { memory: boolean }, code: string): InlineCode => (e.memory ? reads(code) : registerOnly(code));
/** Read-modify-write of the E operand: `update` maps the old value's expression to the new one. */
function updateE(i: Insn, bits: number, update: (old: string) => string): InlineCode {
  if (i.mod === 3) return registerOnly(`${regSlot(i.rm, bits)} = ${update(regRead(i.rm, bits))};`);
  return writes(`{ const a = ${ea(i)}; ${memWrite("a", update(memRead("a", bits)), bits)} }`);
}

/** The operand width of a form: fixed (8-bit rows) or the instruction's operand size. */
const width = (i: Insn, bits: number | undefined): number => bits ?? i.opsize;

// ---- ADD OR ADC SBB AND SUB XOR CMP ----
// 32-bit forms mirror alu32.ts (Cpu.add32/sub32/logic32); 8- and 16-bit ones alu.ts (Cpu.arith).

/** The flag-recording form of a 32-bit ALU operation on two int32 operands: alu32.ts's choice of Cpu method. */
function alu32Call(op: number, a: string, b: string): string {
  switch (op) {
    case 0:
      return `c.add32(${a}, ${b})`;
    case 1:
      return `c.logic32(${a} | ${b})`;
    case 4:
      return `c.logic32(${a} & ${b})`;
    case 5:
    case CMP:
      return `c.sub32(${a}, ${b})`;
    case 6:
      return `c.logic32(${a} ^ ${b})`;
    default:
      return `c.arith(${op}, ${a}, ${b}, 32)`; // ADC, SBB
  }
}

/** op E, src at 32 bits (ALU32_EG and ALU32_EIMM). */
function alu32E(op: number, i: Insn, src: string): InlineCode {
  if (i.mod === 3) {
    const call = alu32Call(op, `r[${i.rm}]`, src);
    return registerOnly(op === CMP ? `${call};` : `r[${i.rm}] = ${call};`);
  }
  if (op === CMP) return reads(`${alu32Call(op, `c.read32(${ea(i)})`, src)};`);
  return writes(`{ const a = ${ea(i)}; c.write32(a, ${alu32Call(op, "c.read32(a)", src)}); }`);
}

/** op E, src at 8 or 16 bits (aluEG and aluEImm of alu.ts). */
function aluE(op: number, i: Insn, bits: number, src: string): InlineCode {
  if (op !== CMP) return updateE(i, bits, (old) => `c.arith(${op}, ${old}, ${src}, ${bits})`);
  const e = readE(i, bits);
  return readingE(e, `c.arith(${op}, ${e.code}, ${src}, ${bits});`);
}

/** op E, G. `bits` for the byte forms; else the operand size. */
export function inlineAluEG(op: number, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return w === 32 ? alu32E(op, i, `r[${i.reg}]`) : aluE(op, i, w, regRead(i.reg, w));
  };
}

/** op E, imm (80, 81, 83). */
export function inlineAluEImm(op: number, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return w === 32 ? alu32E(op, i, String(i.imm)) : aluE(op, i, w, String(i.imm));
  };
}

/** op G, E: at 32 bits the source is read before the destination register (ALU32_GE), else after (aluGE). */
export function inlineAluGE(op: number, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    const e = readE(i, w);
    if (w !== 32) {
      const call = `c.arith(${op}, ${regRead(i.reg, w)}, ${e.code}, ${w})`;
      return readingE(e, op === CMP ? `${call};` : `${regSlot(i.reg, w)} = ${call};`);
    }
    const call = alu32Call(op, `r[${i.reg}]`, "v");
    const src = i.mod === 3 ? `r[${i.rm}]` : `c.read32(${ea(i)})`;
    return readingE(e, `{ const v = ${src}; ${op === CMP ? `${call};` : `r[${i.reg}] = ${call};`} }`);
  };
}

/** op AL/AX/EAX, imm (aluAccImm through Cpu.arith). */
export function inlineAluAccImm(op: number, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    const call = `c.arith(${op}, ${regRead(0, w)}, ${i.imm}, ${w})`;
    return registerOnly(op === CMP ? `${call};` : `${regSlot(0, w)} = ${call};`);
  };
}

/** TEST E, G / TEST E, imm / TEST accumulator, imm: Cpu.arith with AND, result dropped. */
export function inlineTestEG(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    const e = readE(i, w);
    return readingE(e, `c.arith(4, ${e.code}, ${regRead(i.reg, w)}, ${w});`);
  };
}

export function inlineTestEImm(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    const e = readE(i, w);
    return readingE(e, `c.arith(4, ${e.code}, ${i.imm}, ${w});`);
  };
}

export function inlineTestAccImm(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return registerOnly(`c.arith(4, ${regRead(0, w)}, ${i.imm}, ${w});`);
  };
}

// ---- INC DEC NOT NEG ----

/** INC/DEC of the register in the opcode (40+r / 48+r): Cpu.incDec32 at 32 bits, else Cpu.incDec. */
export function inlineIncDecZ(delta: number): Inliner {
  return (i) => {
    if (i.opsize === 32) return registerOnly(`r[${i.reg}] = c.incDec32(r[${i.reg}], ${delta});`);
    return registerOnly(`${regSlot(i.reg, 16)} = c.incDec(${regRead(i.reg, 16)}, ${delta}, 16);`);
  };
}

/** INC/DEC r/m (FE/FF /0, /1): Cpu.incDec. */
export function inlineIncDecE(delta: number, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return updateE(i, w, (old) => `c.incDec(${old}, ${delta}, ${w})`);
  };
}

export function inlineNot(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return updateE(i, w, (old) => `~${old} & ${maskOf(w)}`);
  };
}

export function inlineNeg(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return updateE(i, w, (old) => `c.arith(5, 0, ${old}, ${w})`);
  };
}

// ---- shifts and rotates: the count is a constant (1, imm8) or CL; the work is alu.ts's SHIFTS ----

export function inlineShift(op: number, count: CountSource, bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    const call = (v: string, n: string) => `H.${SHIFT_NAMES[op]}(c, ${v}, ${n}, ${w})`;
    if (count === "CL") {
      // The count is read first, and a zero count leaves the operand (and the flags) alone.
      if (i.mod === 3) {
        const slot = regSlot(i.rm, w);
        return registerOnly(`{ const n = c.regs8[4] & 0x1f; if (n !== 0) ${slot} = ${call(regRead(i.rm, w), "n")}; }`);
      }
      const body = `const n = c.regs8[4] & 0x1f; const a = ${ea(i)}; const v = ${memRead("a", w)};`;
      return writes(`{ ${body} if (n !== 0) ${memWrite("a", call("v", "n"), w)} }`);
    }
    const n = (count === "1" ? 1 : i.imm) & 0x1f;
    if (n === 0) return i.mod === 3 ? registerOnly("") : reads(`${memRead(ea(i), w)};`);
    return updateE(i, w, (old) => call(old, String(n)));
  };
}

// ---- data movement ----

export function inlineMovEG(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    return writeE(i, w === 32 ? `r[${i.reg}]` : regRead(i.reg, w), w);
  };
}

export function inlineMovGE(bits?: number): Inliner {
  return (i) => {
    const w = width(i, bits);
    // movGE(32) reads the register or memory as int32, the other widths through readE.
    const e = w === 32 && i.mod === 3 ? { code: `r[${i.rm}]`, memory: false } : readE(i, w);
    const src = w === 32 && i.mod !== 3 ? `c.read32(${ea(i)})` : e.code;
    return readingE(e, `${regSlot(i.reg, w)} = ${src};`);
  };
}

export function inlineMovEImm(bits?: number): Inliner {
  return (i) => writeE(i, String(i.imm), width(i, bits));
}

/** MOV reg, imm (B0+r / B8+r): the register is in insn.reg. */
export function inlineMovZImm(bits?: number): Inliner {
  return (i) => registerOnly(`${regSlot(i.reg, width(i, bits))} = ${i.imm};`);
}

export const inlineLea: Inliner = only32((i) => registerOnly(`r[${i.reg}] = ${ea(i)};`));

/** MOVZX/MOVSX r16/32, r/m8 or r/m16. */
export function inlineMovx(srcBits: number, signed: boolean): Inliner {
  return (i) => {
    const e = readE(i, srcBits);
    const shift = 32 - srcBits;
    const value = signed ? `((${e.code} << ${shift}) >> ${shift})` : e.code;
    return readingE(e, `${regSlot(i.reg, i.opsize)} = ${value};`);
  };
}

export const inlinePushZ: Inliner = only32((i) => writes(`c.push32(r[${i.reg}]);`));

export const inlinePopZ: Inliner = only32((i) => reads(`r[${i.reg}] = c.pop32();`));

export const inlinePushImm: Inliner = only32((i) => writes(`c.push32(${i.imm});`));

// ---- conditions and control transfer (always a block's last instruction: EIP is already past it) ----

/** Condition cc as Cpu.cond evaluates it; JE/JNE read ZF straight from the lazy record (control.ts). */
export function conditionCode(cc: number): string {
  if (cc === 4) return "(c.lazy & 64 ? c.lR === 0 : (c.fl & 64) !== 0)";
  if (cc === 5) return "(c.lazy & 64 ? c.lR !== 0 : (c.fl & 64) === 0)";
  return `c.cond(${cc})`;
}

export function inlineJcc(cc: number): Inliner {
  return only32((i) => registerOnly(`if (${conditionCode(cc)}) c.eip = (c.eip + ${i.imm}) | 0;`));
}

export const inlineJmpRel: Inliner = only32((i) => registerOnly(`c.eip = (c.eip + ${i.imm}) | 0;`));

export const inlineCallRel: Inliner = only32((i) => writes(`c.push32(c.eip); c.eip = (c.eip + ${i.imm}) | 0;`));

export const inlineRet: Inliner = only32(() => reads("c.eip = c.pop32();"));

/** SETcc r/m8. */
export function inlineSetcc(cc: number): Inliner {
  return (i) => {
    const v = `${conditionCode(cc)} ? 1 : 0`;
    return i.mod === 3 ? registerOnly(`c.regs8[${REG8_BYTE[i.rm]}] = ${v};`) : writes(`c.write8(${ea(i)}, ${v});`);
  };
}

/** CMOVcc r32, r/m32: the source is read (and may fault) whatever the condition. */
export function inlineCmovcc(cc: number): Inliner {
  return (i) => {
    const e = readE(i, i.opsize);
    return readingE(e, `{ const v = ${e.code}; if (${conditionCode(cc)}) ${regSlot(i.reg, i.opsize)} = v; }`);
  };
}
