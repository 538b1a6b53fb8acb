// Operand access shared by the instruction semantics: registers and memory by width (8/16/32).
// Values are returned unsigned and masked to the width.

import type { Cpu } from "../cpu/cpu.js";
import { REG8_BYTE } from "../cpu/registers.js";
import type { Insn } from "../isa/insn.js";

export function getReg(c: Cpu, r: number, bits: number): number {
  if (bits === 32) return c.regs[r]! >>> 0;
  if (bits === 16) return c.regs16[r << 1]!;
  return c.regs8[REG8_BYTE[r]!]!;
}

export function setReg(c: Cpu, r: number, v: number, bits: number): void {
  if (bits === 32) c.regs[r] = v;
  else if (bits === 16) c.regs16[r << 1] = v;
  else c.regs8[REG8_BYTE[r]!] = v;
}

export function readMem(c: Cpu, a: number, bits: number): number {
  if (bits === 32) return c.read32(a) >>> 0;
  if (bits === 16) return c.read16(a);
  return c.read8(a);
}

export function writeMem(c: Cpu, a: number, v: number, bits: number): void {
  if (bits === 32) c.write32(a, v);
  else if (bits === 16) c.write16(a, v);
  else c.write8(a, v);
}

/** Reads the E operand (ModRM r/m). */
export function readE(c: Cpu, i: Insn, bits: number): number {
  return i.mod === 3 ? getReg(c, i.rm, bits) : readMem(c, c.ea(i), bits);
}

/** Writes the E operand (ModRM r/m). */
export function writeE(c: Cpu, i: Insn, v: number, bits: number): void {
  if (i.mod === 3) setReg(c, i.rm, v, bits);
  else writeMem(c, c.ea(i), v, bits);
}

/** Width of a "v" operand. */
export function vbits(i: Insn): number {
  return i.opsize;
}

/** Sign-extends a value of `bits` width to a JS int32. */
export function signExtend(v: number, bits: number): number {
  return bits === 32 ? v | 0 : bits === 16 ? (v << 16) >> 16 : (v << 24) >> 24;
}

export function maskOf(bits: number): number {
  return bits === 32 ? 0xffffffff : bits === 16 ? 0xffff : 0xff;
}
