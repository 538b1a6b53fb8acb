// Control transfer: JMP, Jcc, CALL, RET, LOOP/JECXZ, far JMP/CALL/RET, INT n, INT3, INTO, IRET, HLT.
// Every handler here ends its decoded block, except a forward Jcc's (sideExitJcc).

import type { Cpu } from "../cpu/cpu.js";
import { NO_ERROR_CODE } from "../cpu/fault.js";
import {
  AC,
  ARITH_FLAGS,
  BP,
  CS,
  DF,
  ECX,
  EFLAGS_FIXED1,
  ESP,
  GP,
  ID,
  IF,
  IOPL_MASK,
  NT,
  OVERFLOW,
  RF,
  SS,
  TF,
  ZF,
} from "../cpu/registers.js";
import { checkCodeTarget, loadCodeSegment, loadStackSegment, nullInaccessibleSegments } from "../cpu/segments.js";
import type { Handler } from "../isa/types.js";
import { EXIT_REASON } from "../vmx/exit-reasons.js";
import { readE } from "./operands.js";

/** EIP after a relative transfer; 16-bit operand size truncates EIP to 16 bits (Intel SDM, JMP). */
function target(c: Cpu, disp: number, bits: number): number {
  const t = (c.eip + disp) | 0;
  return bits === 16 ? t & 0xffff : t;
}

export function jmpRel(bits: number): Handler {
  return (c, i) => {
    c.eip = target(c, i.imm, bits);
  };
}

/** JE/JNE at 32 bits: the most frequent branches, with ZF read straight from the lazy record. */
const JE32: Handler = (c, i) => {
  if (c.lazy & ZF ? c.lR === 0 : (c.fl & ZF) !== 0) c.eip = (c.eip + i.imm) | 0;
};
const JNE32: Handler = (c, i) => {
  if (c.lazy & ZF ? c.lR !== 0 : (c.fl & ZF) === 0) c.eip = (c.eip + i.imm) | 0;
};

export function jcc(cc: number, bits: number): Handler {
  if (bits === 32 && cc === 4) return JE32;
  if (bits === 32 && cc === 5) return JNE32;
  return (c, i) => {
    if (c.cond(cc)) c.eip = target(c, i.imm, bits);
  };
}

/**
 * Jcc (32-bit, forward) where it is not its block's last instruction: EIP is not kept up to date inside
 * a block, so the target comes from the block's start (cpu.blockEip); taken, the branch leaves the block
 * (cpu.leftBlock tells the interpretive loops to stop there).
 */
export function sideExitJcc(cc: number): Handler {
  return SIDE_EXIT_JCC[cc]!;
}

const SIDE_EXIT_JCC: readonly Handler[] = Array.from({ length: 16 }, (_, cc): Handler => {
  return (c, i) => {
    if (c.cond(cc)) {
      c.eip = (c.blockEip + i.offset + i.len + i.imm) | 0;
      c.leftBlock = true;
    }
  };
});

export function jmpE(bits: number): Handler {
  return (c, i) => {
    c.eip = readE(c, i, bits);
  };
}

export function callRel(bits: number): Handler {
  return (c, i) => {
    if (bits === 32) c.push32(c.eip);
    else c.push16(c.eip);
    c.eip = target(c, i.imm, bits);
  };
}

export function callE(bits: number): Handler {
  return (c, i) => {
    const t = readE(c, i, bits);
    if (bits === 32) c.push32(c.eip);
    else c.push16(c.eip);
    c.eip = t;
  };
}

export function ret(bits: number, withImm: boolean): Handler {
  return (c, i) => {
    const t = bits === 32 ? c.pop32() : c.pop16();
    if (withImm) c.regs[ESP] = (c.regs[ESP]! + (i.imm & 0xffff)) | 0;
    c.eip = t;
  };
}

/** LOOP (E2), LOOPE (E1), LOOPNE (E0): ECX is decremented without touching flags. */
export function loop(kind: "loop" | "loope" | "loopne"): Handler {
  return (c, i) => {
    const n = (c.regs[ECX]! - 1) | 0;
    c.regs[ECX] = n;
    let taken = n !== 0;
    if (kind === "loope") taken &&= c.flagZF();
    else if (kind === "loopne") taken &&= !c.flagZF();
    if (taken) c.eip = (c.eip + i.imm) | 0;
  };
}

export const jecxz: Handler = (c, i) => {
  if (c.regs[ECX] === 0) c.eip = (c.eip + i.imm) | 0;
};

// ---- far transfers (same privilege; RET/IRET may return outward) ----

/** Far JMP to a code segment at the same privilege (conforming: DPL <= CPL; else DPL == CPL, RPL <= CPL). */
function farJump(c: Cpu, selector: number, offset: number, isCall: boolean, bits: number): void {
  const desc = checkCodeTarget(c, selector, 0);
  const conforming = (desc.type & 4) !== 0;
  const rpl = selector & 3;
  if (conforming ? desc.dpl > c.cpl : desc.dpl !== c.cpl || rpl > c.cpl) c.fault(GP, selector & 0xfffc);
  if (isCall) {
    if (bits === 32) {
      c.probeWrite((c.regs[ESP]! - 8) | 0, 8);
      c.push32(c.segSel[CS]!);
      c.push32(c.eip);
    } else {
      c.probeWrite((c.regs[ESP]! - 4) | 0, 4);
      c.push16(c.segSel[CS]!);
      c.push16(c.eip);
    }
  }
  loadCodeSegment(c, selector, desc, c.cpl);
  c.eip = bits === 16 ? offset & 0xffff : offset;
}

export function jmpFarPtr(bits: number): Handler {
  return (c, i) => farJump(c, i.imm2, i.imm, false, bits);
}

export function callFarPtr(bits: number): Handler {
  return (c, i) => farJump(c, i.imm2, i.imm, true, bits);
}

/** JMP/CALL m16:32 (FF /5, FF /3). */
export function farIndirect(bits: number, isCall: boolean): Handler {
  return (c, i) => {
    const a = c.ea(i);
    const offset = bits === 32 ? c.read32(a) : c.read16(a);
    const selector = c.read16((a + bits / 8) | 0);
    farJump(c, selector, offset, isCall, bits);
  };
}

/** RET far (CB / CA imm16): same privilege, or outward with SS:ESP popped too. */
export function retFar(bits: number, withImm: boolean): Handler {
  return (c, i) => {
    const size = bits / 8;
    const sp = c.regs[ESP]!;
    const offset = bits === 32 ? c.read32(sp) : c.read16(sp);
    const selector = (bits === 32 ? c.read32((sp + size) | 0) : c.read16((sp + size) | 0)) & 0xffff;
    const rpl = selector & 3;
    if (rpl < c.cpl) c.fault(GP, selector & 0xfffc);
    const desc = checkCodeTarget(c, selector, 0);
    const conforming = (desc.type & 4) !== 0;
    if (conforming ? desc.dpl > rpl : desc.dpl !== rpl) c.fault(GP, selector & 0xfffc);
    const extra = withImm ? i.imm & 0xffff : 0;
    if (rpl === c.cpl) {
      loadCodeSegment(c, selector, desc, c.cpl);
      c.regs[ESP] = (sp + 2 * size + extra) | 0;
    } else {
      const newEsp = bits === 32 ? c.read32((sp + 2 * size + extra) | 0) : c.read16((sp + 2 * size + extra) | 0);
      const newSs =
        (bits === 32 ? c.read32((sp + 3 * size + extra) | 0) : c.read16((sp + 3 * size + extra) | 0)) & 0xffff;
      // SS is checked (and may fault) before anything of the return is committed.
      loadStackSegment(c, newSs, rpl, GP);
      loadCodeSegment(c, selector, desc, rpl);
      c.regs[ESP] = (newEsp + extra) | 0;
      nullInaccessibleSegments(c);
    }
    c.eip = offset;
  };
}

// ---- interrupts ----

/** INT n: a software interrupt; the gate's DPL must be >= CPL. */
export const intN: Handler = (c, i) => {
  c.softwareInstructionLength = i.len;
  c.deliver(i.imm & 0xff, NO_ERROR_CODE, "software");
};

export const int3: Handler = (c, i) => {
  c.softwareInstructionLength = i.len;
  c.deliver(BP, NO_ERROR_CODE, "software-exception");
};

export const into: Handler = (c, i) => {
  c.softwareInstructionLength = i.len;
  if (c.flagOF()) c.deliver(OVERFLOW, NO_ERROR_CODE, "software-exception");
};

/** The k-th word (16 or 32 bits) of an IRET frame at `sp`. */
function stackWord(c: Cpu, sp: number, k: number, bits: number): number {
  return bits === 32 ? c.read32((sp + k * 4) | 0) : c.read16((sp + k * 2) | 0);
}

/** The words of the IRET frame being popped (EIP, CS, EFLAGS, then ESP and SS for an outward return). */
const IRET_WORDS = new Int32Array(5);

/** Reads words from..from+count-1 of an IRET frame into IRET_WORDS, in order (one lookup when they share a page). */
function readIretWords(c: Cpu, sp: number, from: number, count: number, bits: number): void {
  if (bits === 32) {
    const at = c.fastDwords((sp + from * 4) | 0, count * 4, false);
    if (at >= 0) {
      for (let k = 0; k < count; k++) IRET_WORDS[from + k] = c.i32[at + k]!;
      return;
    }
  }
  for (let k = from; k < from + count; k++) IRET_WORDS[k] = stackWord(c, sp, k, bits);
}

/**
 * IRET (32-bit): return to the same privilege, or outward (pops ESP and SS too). Task returns
 * (NT = 1) are not in the subset: #GP(0). Flag restoration follows the CPL/IOPL rules.
 */
export function iret(bits: number): Handler {
  return (c) => {
    if (c.fl & NT) c.fault(GP, 0);
    const size = bits / 8;
    const sp = c.regs[ESP]!;
    readIretWords(c, sp, 0, 3, bits);
    const offset = IRET_WORDS[0]!;
    const selector = IRET_WORDS[1]! & 0xffff;
    const flags = IRET_WORDS[2]!;
    const rpl = selector & 3;
    if (rpl < c.cpl) c.fault(GP, selector & 0xfffc);
    const desc = checkCodeTarget(c, selector, 0);
    const conforming = (desc.type & 4) !== 0;
    if (conforming ? desc.dpl > rpl : desc.dpl !== rpl) c.fault(GP, selector & 0xfffc);
    const oldCpl = c.cpl;
    const old = c.getEflags();
    let changeable = ARITH_FLAGS | TF | DF | NT | RF | (bits === 32 ? AC | ID : 0);
    if (oldCpl === 0) changeable |= IOPL_MASK | IF;
    else if (oldCpl <= (old & IOPL_MASK) >>> 12) changeable |= IF;
    if (bits === 16) changeable &= 0xffff;
    if (rpl === oldCpl) {
      loadCodeSegment(c, selector, desc, oldCpl);
      c.regs[ESP] = (sp + 3 * size) | 0;
    } else {
      readIretWords(c, sp, 3, 2, bits);
      const newEsp = IRET_WORDS[3]!;
      const newSs = IRET_WORDS[4]! & 0xffff;
      // SS is checked (and may fault) before anything of the return is committed.
      loadStackSegment(c, newSs, rpl, GP);
      loadCodeSegment(c, selector, desc, rpl);
      c.regs[ESP] = newEsp;
      nullInaccessibleSegments(c);
    }
    c.setEflags(((old & ~changeable) | (flags & changeable) | EFLAGS_FIXED1) >>> 0);
    c.eip = offset;
    c.vmx?.afterIret?.();
  };
}

/** HLT: privileged; waits for an interrupt (the run loop skips idle time to the next event). */
export const hlt: Handler = (c, i) => {
  c.requireCpl0();
  if (c.vmx?.nonRoot && c.vmx.intercept(EXIT_REASON.HLT, i, 0, 0)) return;
  c.halted = true;
};

export { SS };
