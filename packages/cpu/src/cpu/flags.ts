// Lazily computed arithmetic flags. An ALU instruction records its operands and result; a flag is
// computed only when something reads it (Jcc, PUSHF, ...). `lazy` is the set of flags still held in
// that record; all other flags live in `fl`. Values are kept unsigned and masked to the operand size.

import { AF, CF, OF, PF, SF, ZF } from "./registers.js";

export const L_ADD = 0; // also INC (CF excluded from lazy)
export const L_ADC1 = 1; // ADC with carry-in 1
export const L_SUB = 2; // also CMP, NEG (a = 0), DEC (CF excluded)
export const L_SBB1 = 3; // SBB with borrow-in 1
export const L_LOGIC = 4; // AND/OR/XOR/TEST and shift results: CF = OF = AF = 0

/** Parity flag of the low byte: 1 when the number of set bits is even. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let b = i; b; b >>= 1) bits += b & 1;
  PARITY[i] = bits & 1 ? 0 : PF;
}

export interface LazyFlagState {
  fl: number;
  lazy: number;
  lOp: number;
  lA: number;
  lB: number;
  lR: number;
  lSign: number;
}

export function lazyCF(s: LazyFlagState): boolean {
  switch (s.lOp) {
    case L_ADD:
      return s.lR < s.lA;
    case L_ADC1:
      return s.lR <= s.lA;
    case L_SUB:
      return s.lA < s.lB;
    case L_SBB1:
      return s.lA <= s.lB;
    default:
      return false;
  }
}

export function lazyOF(s: LazyFlagState): boolean {
  switch (s.lOp) {
    case L_ADD:
    case L_ADC1:
      return ((s.lA ^ s.lR) & (s.lB ^ s.lR) & s.lSign) !== 0;
    case L_SUB:
    case L_SBB1:
      return ((s.lA ^ s.lB) & (s.lA ^ s.lR) & s.lSign) !== 0;
    default:
      return false;
  }
}

export function lazyAF(s: LazyFlagState): boolean {
  return s.lOp !== L_LOGIC && ((s.lA ^ s.lB ^ s.lR) & 0x10) !== 0;
}

/** Folds every lazy flag into `fl` and returns the six status flags' new values merged in. */
export function materialize(s: LazyFlagState): number {
  const lazy = s.lazy;
  if (lazy === 0) return s.fl;
  let fl = s.fl & ~lazy;
  if (lazy & CF && lazyCF(s)) fl |= CF;
  if (lazy & PF) fl |= PARITY[s.lR & 0xff]!;
  if (lazy & AF && lazyAF(s)) fl |= AF;
  if (lazy & ZF && s.lR === 0) fl |= ZF;
  if (lazy & SF && (s.lR & s.lSign) !== 0) fl |= SF;
  if (lazy & OF && lazyOF(s)) fl |= OF;
  s.fl = fl;
  s.lazy = 0;
  return fl;
}
