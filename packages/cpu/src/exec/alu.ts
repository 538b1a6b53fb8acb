// Integer arithmetic and logic: the eight classic ALU operations, TEST, INC/DEC, NEG/NOT,
// multiply/divide, shifts and rotates, bit tests and scans. Flags follow the Intel SDM exactly for
// defined flags; what we produce for undefined ones is listed in docs/isa.md.

import type { Cpu } from "../cpu/cpu.js";
import { CF, DE, EAX, EDX, OF } from "../cpu/registers.js";
import type { Insn } from "../isa/insn.js";
import type { Handler, SizedHandler } from "../isa/types.js";
import { ALU32_EG, ALU32_EIMM, ALU32_GE } from "./alu32.js";
import { getReg, maskOf, readE, readMem, setReg, signExtend, writeE, writeMem } from "./operands.js";

const CMP = 7;

export function sized(make: (bits: number) => Handler): SizedHandler {
  return { w: make(16), d: make(32) };
}

// ---- ADD OR ADC SBB AND SUB XOR CMP (op = /digit) ----

/** op E, G */
export function aluEG(op: number, bits: number): Handler {
  if (bits === 32) return ALU32_EG[op]!;
  return (c, i) => {
    if (i.mod === 3) {
      const r = c.arith(op, getReg(c, i.rm, bits), getReg(c, i.reg, bits), bits);
      if (op !== CMP) setReg(c, i.rm, r, bits);
    } else {
      const a = c.ea(i);
      const r = c.arith(op, readMem(c, a, bits), getReg(c, i.reg, bits), bits);
      if (op !== CMP) writeMem(c, a, r, bits);
    }
  };
}

/** op G, E */
export function aluGE(op: number, bits: number): Handler {
  if (bits === 32) return ALU32_GE[op]!;
  return (c, i) => {
    const r = c.arith(op, getReg(c, i.reg, bits), readE(c, i, bits), bits);
    if (op !== CMP) setReg(c, i.reg, r, bits);
  };
}

/** op AL/AX/EAX, imm */
export function aluAccImm(op: number, bits: number): Handler {
  return (c, i) => {
    const r = c.arith(op, getReg(c, EAX, bits), i.imm, bits);
    if (op !== CMP) setReg(c, EAX, r, bits);
  };
}

/** op E, imm (groups 80, 81, 83: the immediate is already sign-extended by the decoder for Ibs) */
export function aluEImm(op: number, bits: number): Handler {
  if (bits === 32) return ALU32_EIMM[op]!;
  return (c, i) => {
    if (i.mod === 3) {
      const r = c.arith(op, getReg(c, i.rm, bits), i.imm, bits);
      if (op !== CMP) setReg(c, i.rm, r, bits);
    } else {
      const a = c.ea(i);
      const r = c.arith(op, readMem(c, a, bits), i.imm, bits);
      if (op !== CMP) writeMem(c, a, r, bits);
    }
  };
}

// ---- TEST ----

export function testEG(bits: number): Handler {
  return (c, i) => {
    c.arith(4, readE(c, i, bits), getReg(c, i.reg, bits), bits);
  };
}

export function testEImm(bits: number): Handler {
  return (c, i) => {
    c.arith(4, readE(c, i, bits), i.imm, bits);
  };
}

export function testAccImm(bits: number): Handler {
  return (c, i) => {
    c.arith(4, getReg(c, EAX, bits), i.imm, bits);
  };
}

// ---- INC / DEC / NEG / NOT ----

const INC32_Z: Handler = (c, i) => {
  c.regs[i.reg] = c.incDec32(c.regs[i.reg]!, 1);
};
const DEC32_Z: Handler = (c, i) => {
  c.regs[i.reg] = c.incDec32(c.regs[i.reg]!, -1);
};

/** INC/DEC of the register coded in the opcode (40+r / 48+r). */
export function incDecZ(delta: number, bits: number): Handler {
  if (bits === 32) return delta > 0 ? INC32_Z : DEC32_Z;
  return (c, i) => setReg(c, i.reg, c.incDec(getReg(c, i.reg, bits), delta, bits), bits);
}

export function incDecE(delta: number, bits: number): Handler {
  return (c, i) => {
    if (i.mod === 3) setReg(c, i.rm, c.incDec(getReg(c, i.rm, bits), delta, bits), bits);
    else {
      const a = c.ea(i);
      writeMem(c, a, c.incDec(readMem(c, a, bits), delta, bits), bits);
    }
  };
}

export function negE(bits: number): Handler {
  return (c, i) => {
    if (i.mod === 3) setReg(c, i.rm, c.arith(5, 0, getReg(c, i.rm, bits), bits), bits);
    else {
      const a = c.ea(i);
      writeMem(c, a, c.arith(5, 0, readMem(c, a, bits), bits), bits);
    }
  };
}

export function notE(bits: number): Handler {
  const mask = maskOf(bits);
  return (c, i) => {
    if (i.mod === 3) setReg(c, i.rm, ~getReg(c, i.rm, bits) & mask, bits);
    else {
      const a = c.ea(i);
      writeMem(c, a, ~readMem(c, a, bits) & mask, bits);
    }
  };
}

// ---- multiply and divide ----

/** Unsigned 32x32 -> 64 multiply, exact, as [low, high] unsigned. */
export function mulU32(a: number, b: number): [number, number] {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const lo = ((mid & 0xffff) << 16) | (ll & 0xffff);
  const hi = hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 0x10000);
  return [lo >>> 0, hi >>> 0];
}

/** Signed 32x32 -> 64 multiply as [low, high] (two's complement words, unsigned). */
export function mulS32(a: number, b: number): [number, number] {
  const [lo, hiU] = mulU32(a >>> 0, b >>> 0);
  let hi = hiU;
  if (a < 0) hi = (hi - (b >>> 0)) >>> 0;
  if (b < 0) hi = (hi - (a >>> 0)) >>> 0;
  return [lo, hi];
}

/** MUL r/m: AX = AL*src, DX:AX = AX*src, EDX:EAX = EAX*src. CF = OF = (high half != 0). */
export function mulE(bits: number): Handler {
  return (c, i) => {
    const src = readE(c, i, bits);
    let hi: number;
    let lo: number;
    if (bits === 8) {
      const r = c.reg8(EAX) * src;
      c.setReg16(EAX, r);
      lo = r & 0xff;
      hi = r >>> 8;
    } else if (bits === 16) {
      const r = c.reg16(EAX) * src;
      lo = r & 0xffff;
      hi = r >>> 16;
      c.setReg16(EAX, lo);
      c.setReg16(EDX, hi);
    } else {
      [lo, hi] = mulU32(c.regs[EAX]! >>> 0, src);
      c.regs[EAX] = lo;
      c.regs[EDX] = hi;
    }
    c.setResultFlags(lo, bits, hi !== 0, hi !== 0);
  };
}

/** IMUL r/m (one operand). CF = OF = (result != sign extension of its low half). */
export function imul1E(bits: number): Handler {
  return (c, i) => {
    const src = signExtend(readE(c, i, bits), bits);
    let overflow: boolean;
    let lo: number;
    if (bits === 8) {
      const r = signExtend(c.reg8(EAX), 8) * src;
      c.setReg16(EAX, r & 0xffff);
      lo = r & 0xff;
      overflow = r !== signExtend(lo, 8);
    } else if (bits === 16) {
      const r = signExtend(c.reg16(EAX), 16) * src;
      lo = r & 0xffff;
      c.setReg16(EAX, lo);
      c.setReg16(EDX, (r >>> 16) & 0xffff);
      overflow = r !== signExtend(lo, 16);
    } else {
      const [l, h] = mulS32(c.regs[EAX]!, src);
      c.regs[EAX] = l;
      c.regs[EDX] = h;
      lo = l;
      overflow = (h | 0) !== (l | 0) >> 31;
    }
    c.setResultFlags(lo, bits, overflow, overflow);
  };
}

function imulTrunc(a: number, b: number, bits: number): { r: number; overflow: boolean } {
  if (bits === 16) {
    const full = signExtend(a, 16) * signExtend(b, 16);
    const r = full & 0xffff;
    return { r, overflow: full !== signExtend(r, 16) };
  }
  const [lo, hi] = mulS32(a | 0, b | 0);
  return { r: lo, overflow: (hi | 0) !== (lo | 0) >> 31 };
}

/** IMUL G, E (0F AF). */
export function imulGE(bits: number): Handler {
  return (c, i) => {
    const { r, overflow } = imulTrunc(getReg(c, i.reg, bits), readE(c, i, bits), bits);
    setReg(c, i.reg, r, bits);
    c.setResultFlags(r, bits, overflow, overflow);
  };
}

/** IMUL G, E, imm (69 / 6B). */
export function imulGEI(bits: number): Handler {
  return (c, i) => {
    const { r, overflow } = imulTrunc(readE(c, i, bits), i.imm, bits);
    setReg(c, i.reg, r, bits);
    c.setResultFlags(r, bits, overflow, overflow);
  };
}

/** DIV r/m: #DE on a zero divisor or a quotient that does not fit. Flags are left unchanged. */
export function divE(bits: number): Handler {
  return (c, i) => {
    const d = readE(c, i, bits);
    if (d === 0) c.fault(DE);
    if (bits === 8) {
      const n = c.reg16(EAX);
      const q = Math.floor(n / d);
      if (q > 0xff) c.fault(DE);
      c.setReg16(EAX, ((n % d) << 8) | q);
    } else if (bits === 16) {
      const n = ((c.reg16(EDX) << 16) | c.reg16(EAX)) >>> 0;
      const q = Math.floor(n / d);
      if (q > 0xffff) c.fault(DE);
      c.setReg16(EAX, q);
      c.setReg16(EDX, n % d);
    } else {
      const hi = c.regs[EDX]! >>> 0;
      const lo = c.regs[EAX]! >>> 0;
      if (hi >= d) c.fault(DE);
      const n = (BigInt(hi) << 32n) | BigInt(lo);
      const bd = BigInt(d);
      c.regs[EAX] = Number(n / bd);
      c.regs[EDX] = Number(n % bd);
    }
  };
}

/** IDIV r/m: quotient truncated toward zero; #DE on zero or overflow. Flags are left unchanged. */
export function idivE(bits: number): Handler {
  return (c, i) => {
    const d = signExtend(readE(c, i, bits), bits);
    if (d === 0) c.fault(DE);
    if (bits === 8) {
      const n = signExtend(c.reg16(EAX), 16);
      const q = Math.trunc(n / d);
      if (q > 127 || q < -128) c.fault(DE);
      const r = n - q * d;
      c.setReg16(EAX, ((r & 0xff) << 8) | (q & 0xff));
    } else if (bits === 16) {
      const n = (c.reg16(EDX) << 16) | c.reg16(EAX);
      const q = Math.trunc(n / d);
      if (q > 32767 || q < -32768) c.fault(DE);
      c.setReg16(EAX, q & 0xffff);
      c.setReg16(EDX, (n - q * d) & 0xffff);
    } else {
      const n = (BigInt(c.regs[EDX]!) << 32n) | BigInt(c.regs[EAX]! >>> 0);
      const bd = BigInt(d);
      const q = n / bd;
      if (q > 2147483647n || q < -2147483648n) c.fault(DE);
      c.regs[EAX] = Number(q);
      c.regs[EDX] = Number(n % bd);
    }
  };
}

// ---- shifts and rotates (group 2: /0 ROL /1 ROR /2 RCL /3 RCR /4 SHL /5 SHR /6 SAL /7 SAR) ----

/** Where the count comes from: 1, CL or imm8. */
export type CountSource = "1" | "CL" | "Ib";

export function shiftE(op: number, bits: number, count: CountSource): Handler {
  const shift = SHIFTS[op]!;
  return (c, i) => {
    const n = (count === "1" ? 1 : count === "CL" ? c.reg8(1) : i.imm) & 0x1f;
    if (i.mod === 3) {
      const v = getReg(c, i.rm, bits);
      if (n !== 0) setReg(c, i.rm, shift(c, v, n, bits), bits);
    } else {
      const a = c.ea(i);
      const v = readMem(c, a, bits);
      if (n !== 0) writeMem(c, a, shift(c, v, n, bits), bits);
    }
  };
}

/** One shift or rotate of a masked value by n (1-31); updates flags; returns the masked result. */
export type ShiftFunction = (c: Cpu, v: number, n: number, bits: number) => number;

/** ROL: CF = new LSB; OF = MSB xor CF (defined for n = 1). */
export function rol(c: Cpu, v: number, n: number, bits: number): number {
  const k = n % bits;
  const r = k === 0 ? v : ((v << k) | (v >>> (bits - k))) & maskOf(bits);
  const cf = (r & 1) !== 0;
  c.setCarryOverflow(cf, ((r >>> (bits - 1)) & 1) !== (cf ? 1 : 0));
  return r >>> 0;
}

/** ROR: CF = new MSB; OF = xor of the two most significant bits. */
export function ror(c: Cpu, v: number, n: number, bits: number): number {
  const msb = bits - 1;
  const k = n % bits;
  const r = k === 0 ? v : ((v >>> k) | (v << (bits - k))) & maskOf(bits);
  c.setCarryOverflow(((r >>> msb) & 1) !== 0, (((r >>> msb) ^ (r >>> (msb - 1))) & 1) !== 0);
  return r >>> 0;
}

/** RCL / RCR through CF: a rotate of bits+1 bits. */
function rotateThroughCarry(c: Cpu, left: boolean, v: number, n: number, bits: number): number {
  const mask = maskOf(bits);
  const msb = bits - 1;
  const k = n % (bits + 1);
  let cf = c.getCF();
  let r = v;
  for (let j = 0; j < k; j++) {
    if (left) {
      const out = (r >>> msb) & 1;
      r = ((r << 1) | cf) & mask;
      cf = out;
    } else {
      const out = r & 1;
      r = ((r >>> 1) | (cf << msb)) & mask;
      cf = out;
    }
  }
  r >>>= 0;
  const of = left ? ((r >>> msb) & 1) !== cf : (((r >>> msb) ^ (r >>> (msb - 1))) & 1) !== 0;
  c.setCarryOverflow(cf !== 0, of);
  return r;
}

export function rcl(c: Cpu, v: number, n: number, bits: number): number {
  return rotateThroughCarry(c, true, v, n, bits);
}

export function rcr(c: Cpu, v: number, n: number, bits: number): number {
  return rotateThroughCarry(c, false, v, n, bits);
}

/** SHL/SAL: CF = last bit shifted out; OF = MSB(result) xor CF. */
export function shl(c: Cpu, v: number, n: number, bits: number): number {
  const r = n >= 32 ? 0 : (v << n) & maskOf(bits);
  const cf = n <= bits ? ((v >>> (bits - n)) & 1) !== 0 : false;
  c.setResultFlags(r, bits, cf, ((r >>> (bits - 1)) & 1) !== (cf ? 1 : 0));
  return r >>> 0;
}

/** SHR: CF = last bit shifted out; OF = MSB of the original operand. */
export function shr(c: Cpu, v: number, n: number, bits: number): number {
  const r = v >>> n;
  const cf = n <= bits ? ((v >>> (n - 1)) & 1) !== 0 : false;
  c.setResultFlags(r, bits, cf, ((v >>> (bits - 1)) & 1) !== 0);
  return r >>> 0;
}

/** SAR: arithmetic; OF = 0. */
export function sar(c: Cpu, v: number, n: number, bits: number): number {
  const s = signExtend(v, bits);
  const r = (s >> Math.min(n, 31)) & maskOf(bits);
  const cf = ((s >> Math.min(n - 1, 31)) & 1) !== 0;
  c.setResultFlags(r, bits, cf, false);
  return r >>> 0;
}

/** The shifts and rotates by group-2 /digit (/6 SAL is SHL). */
export const SHIFTS: readonly ShiftFunction[] = [rol, ror, rcl, rcr, shl, shr, shl, sar];

/** SHLD/SHRD E, G, count (0F A4/A5/AC/AD). */
export function shiftDoubleE(left: boolean, bits: number, count: "CL" | "Ib"): Handler {
  return (c, i) => {
    const n = (count === "CL" ? c.reg8(1) : i.imm) & 0x1f;
    if (n === 0) return;
    const dst = readE(c, i, bits);
    const src = getReg(c, i.reg, bits);
    const mask = maskOf(bits);
    let r: number;
    let cf: boolean;
    if (bits === 16 && n > 16) {
      // Undefined result for 16-bit counts above 16; model it as a 32-bit rotate pattern.
      r = dst;
      cf = false;
    } else if (left) {
      r = ((dst << n) | (src >>> (bits - n))) & mask;
      cf = ((dst >>> (bits - n)) & 1) !== 0;
    } else {
      r = ((dst >>> n) | (src << (bits - n))) & mask;
      cf = ((dst >>> (n - 1)) & 1) !== 0;
    }
    r >>>= 0;
    const signChanged = ((r ^ dst) >>> (bits - 1)) & 1;
    writeE(c, i, r, bits);
    c.setResultFlags(r, bits, cf, signChanged !== 0);
  };
}

// ---- bit test and scan ----

/** BT/BTS/BTR/BTC E, G|imm (op: 4 BT, 5 BTS, 6 BTR, 7 BTC). Only CF is changed. */
export function bitTest(op: number, bits: number, immediate: boolean): Handler {
  return (c, i) => {
    let offset = immediate ? i.imm & (bits - 1) : getReg(c, i.reg, bits);
    let v: number;
    let a = 0;
    if (i.mod === 3) {
      offset &= bits - 1;
      v = getReg(c, i.rm, bits);
    } else {
      // With a register bit offset the operand may lie outside the addressed word.
      const signed = immediate ? offset : signExtend(offset, bits);
      a = (c.ea(i) + (bits / 8) * Math.floor(signed / bits)) | 0;
      offset = ((signed % bits) + bits) % bits;
      v = readMem(c, a, bits);
    }
    const bit = (v >>> offset) & 1;
    c.setCarryOverflow(bit !== 0, null);
    if (op === 4) return;
    const m = 1 << offset;
    const r = (op === 5 ? v | m : op === 6 ? v & ~m : v ^ m) >>> 0;
    if (i.mod === 3) setReg(c, i.rm, r, bits);
    else writeMem(c, a, r, bits);
  };
}

/** BSF/BSR G, E: ZF = (source == 0); the destination is left unchanged then. */
export function bitScan(reverse: boolean, bits: number): Handler {
  return (c, i) => {
    const v = readE(c, i, bits);
    if (v === 0) {
      c.setResultFlags(0, bits, false, false);
      return;
    }
    const idx = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
    setReg(c, i.reg, idx, bits);
    c.setResultFlags(1, bits, false, false);
  };
}

// ---- flag instructions ----

export const clc: Handler = (c) => c.setCF(false);
export const stc: Handler = (c) => c.setCF(true);
export const cmc: Handler = (c) => c.setCF(c.getCF() === 0);

/** The flag bits that the multiply helpers' CF/OF rule touches (for tests). */
export const CARRY_OVERFLOW = CF | OF;

/** Reads the E operand at 32 bits signed (shared by helpers that need an int32). */
export function readE32(c: Cpu, i: Insn): number {
  return readE(c, i, 32) | 0;
}
