// Data movement: MOV (all forms), MOVZX/MOVSX, LEA, XCHG, PUSH/POP, PUSHF/POPF, PUSHA/POPA,
// sign extensions (CBW/CWDE/CWD/CDQ), SETcc, CMOVcc, BSWAP, LAHF/SAHF and segment-register moves.

import type { Cpu } from "../cpu/cpu.js";
import { materialize } from "../cpu/flags.js";
import {
  AC,
  ARITH_FLAGS,
  CS,
  DF,
  EAX,
  EBP,
  EDX,
  EFLAGS_FIXED1,
  ESP,
  GP,
  ID,
  IF,
  IOPL_MASK,
  NT,
  OF,
  RF,
  SS,
  TF,
  UD,
} from "../cpu/registers.js";
import { loadDataSegment } from "../cpu/segments.js";
import type { Handler } from "../isa/types.js";
import { getReg, readE, readMem, setReg, signExtend, writeE, writeMem } from "./operands.js";

// ---- MOV ----

export function movEG(bits: number): Handler {
  if (bits === 32) {
    return (c, i) => {
      if (i.mod === 3) c.regs[i.rm] = c.regs[i.reg]!;
      else c.write32(c.ea(i), c.regs[i.reg]!);
    };
  }
  return (c, i) => writeE(c, i, getReg(c, i.reg, bits), bits);
}

export function movGE(bits: number): Handler {
  if (bits === 32) {
    return (c, i) => {
      c.regs[i.reg] = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    };
  }
  return (c, i) => setReg(c, i.reg, readE(c, i, bits), bits);
}

export function movEImm(bits: number): Handler {
  return (c, i) => writeE(c, i, i.imm, bits);
}

/** MOV reg, imm (B0+r / B8+r): the register is in insn.reg. */
export function movZImm(bits: number): Handler {
  if (bits === 32) return (c, i) => void (c.regs[i.reg] = i.imm);
  return (c, i) => setReg(c, i.reg, i.imm, bits);
}

/** MOV AL/eAX, moffs and MOV moffs, AL/eAX (A0-A3). */
export function movAccMoffs(bits: number, store: boolean): Handler {
  return store
    ? (c, i) => writeMem(c, i.disp, getReg(c, EAX, bits), bits)
    : (c, i) => setReg(c, EAX, readMem(c, i.disp, bits), bits);
}

export function movzx(srcBits: number, bits: number): Handler {
  return (c, i) => setReg(c, i.reg, readE(c, i, srcBits), bits);
}

export function movsx(srcBits: number, bits: number): Handler {
  return (c, i) => setReg(c, i.reg, signExtend(readE(c, i, srcBits), srcBits) >>> 0, bits);
}

export function lea(bits: number): Handler {
  if (bits === 32) return (c, i) => void (c.regs[i.reg] = c.ea(i));
  return (c, i) => setReg(c, i.reg, c.ea(i) & 0xffff, bits);
}

/** XCHG E, G (86/87): with a memory operand the exchange is locked, which we model as atomic anyway. */
export function xchgEG(bits: number): Handler {
  return (c, i) => {
    const r = getReg(c, i.reg, bits);
    if (i.mod === 3) {
      setReg(c, i.reg, getReg(c, i.rm, bits), bits);
      setReg(c, i.rm, r, bits);
    } else {
      const a = c.ea(i);
      const m = readMem(c, a, bits);
      writeMem(c, a, r, bits);
      setReg(c, i.reg, m, bits);
    }
  };
}

/** XCHG eAX, reg (91-97). */
export function xchgAccZ(bits: number): Handler {
  return (c, i) => {
    const a = getReg(c, EAX, bits);
    setReg(c, EAX, getReg(c, i.reg, bits), bits);
    setReg(c, i.reg, a, bits);
  };
}

export function bswap(c: Cpu, i: { reg: number }): void {
  const v = c.regs[i.reg]!;
  c.regs[i.reg] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

// ---- sign extension of the accumulator ----

export const cbw: Handler = (c) => c.setReg16(EAX, signExtend(c.reg8(EAX), 8) & 0xffff);
export const cwde: Handler = (c) => void (c.regs[EAX] = signExtend(c.reg16(EAX), 16));
export const cwd: Handler = (c) => c.setReg16(EDX, c.reg16(EAX) & 0x8000 ? 0xffff : 0);
export const cdq: Handler = (c) => void (c.regs[EDX] = c.regs[EAX]! >> 31);

// ---- conditional moves and sets ----

export function setcc(cc: number): Handler {
  return (c, i) => writeE(c, i, c.cond(cc) ? 1 : 0, 8);
}

export function cmovcc(cc: number, bits: number): Handler {
  // The source is read (and may fault) whether or not the condition holds, as on hardware.
  return (c, i) => {
    const v = readE(c, i, bits);
    if (c.cond(cc)) setReg(c, i.reg, v, bits);
  };
}

// ---- stack ----

export function pushZ(bits: number): Handler {
  if (bits === 32) return (c, i) => c.push32(c.regs[i.reg]!);
  return (c, i) => c.push16(c.reg16(i.reg));
}

export function popZ(bits: number): Handler {
  if (bits === 32) {
    return (c, i) => {
      const v = c.pop32();
      c.regs[i.reg] = v;
    };
  }
  return (c, i) => c.setReg16(i.reg, c.pop16());
}

export function pushImm(bits: number): Handler {
  return bits === 32 ? (c, i) => c.push32(i.imm) : (c, i) => c.push16(i.imm);
}

export function pushE(bits: number): Handler {
  return bits === 32 ? (c, i) => c.push32(readE(c, i, 32)) : (c, i) => c.push16(readE(c, i, 16));
}

/** POP r/m: ESP is incremented before the destination address is computed (Intel SDM, POP). */
export function popE(bits: number): Handler {
  return (c, i) => {
    const sp = c.regs[ESP]!;
    const v = bits === 32 ? c.read32(sp) : c.read16(sp);
    c.regs[ESP] = (sp + bits / 8) | 0;
    try {
      writeE(c, i, v, bits);
    } catch (signal) {
      c.regs[ESP] = sp;
      throw signal;
    }
  };
}

/** PUSHA/PUSHAD: pushes EAX, ECX, EDX, EBX, the original ESP, EBP, ESI, EDI. */
export function pusha(bits: number): Handler {
  return (c) => {
    const size = bits / 8;
    const sp = c.regs[ESP]!;
    if (bits === 32) {
      // The common case, eight dwords in one page: the probe's hit and the eight stores' hits, one lookup.
      const at = c.fastDwords((sp - 32) | 0, 32, true);
      if (at >= 0) {
        c.tlbHits++;
        const m = c.i32;
        for (let r = 0; r < 8; r++) m[at + 7 - r] = r === ESP ? sp : c.regs[r]!;
        c.regs[ESP] = (sp - 32) | 0;
        return;
      }
    }
    c.probeWrite((sp - 8 * size) | 0, 8 * size);
    for (let r = 0; r < 8; r++) {
      const addr = (sp - (r + 1) * size) | 0;
      const v = r === ESP ? sp : c.regs[r]!;
      if (bits === 32) c.write32(addr, v);
      else c.write16(addr, v);
    }
    c.regs[ESP] = (sp - 8 * size) | 0;
  };
}

/** POPA/POPAD: the saved ESP is skipped. */
/** POPA's eight values, all read before any register changes (a fault leaves them as they were). */
const popaValues = new Int32Array(8);

export function popa(bits: number): Handler {
  return (c) => {
    const size = bits / 8;
    const sp = c.regs[ESP]!;
    const values = popaValues;
    const at = bits === 32 ? c.fastDwords(sp, 32, false) : -1;
    if (at >= 0) for (let k = 0; k < 8; k++) values[k] = c.i32[at + k]!;
    else
      for (let k = 0; k < 8; k++)
        values[k] = bits === 32 ? c.read32((sp + k * size) | 0) : c.read16((sp + k * size) | 0);
    for (let k = 0; k < 8; k++) {
      const r = 7 - k;
      if (r === ESP) continue;
      setReg(c, r, values[k]!, bits);
    }
    c.regs[ESP] = (sp + 8 * size) | 0;
  };
}

// ---- EFLAGS ----

export function pushf(bits: number): Handler {
  return (c) => {
    const fl = c.getEflags() & ~(RF | (1 << 17)); // RF and VM are pushed as 0
    if (bits === 32) c.push32(fl);
    else c.push16(fl & 0xffff);
  };
}

/**
 * POPF: at CPL 0 every writable flag changes; otherwise IOPL is kept, and IF changes only when
 * CPL <= IOPL (Intel SDM, POPF, protected mode).
 */
export function popf(bits: number): Handler {
  return (c) => {
    const v = bits === 32 ? c.pop32() : c.pop16();
    writeFlagsFromStack(c, v, bits);
  };
}

/**
 * POPF inside a block (OpcodeDef.inBlock): it leaves the block after itself when it set TF (single-step
 * from the next instruction on) or set IF (an interrupt may be pending: the run loop takes it before
 * the next instruction, as POPF has no shadow). Otherwise the block goes on.
 */
export function popfInBlock(bits: number): Handler {
  const pop = popf(bits);
  return (c, i) => {
    const before = c.fl;
    pop(c, i);
    if (c.fl & TF || (c.fl & IF && !(before & IF))) {
      c.eip = (c.blockEip + i.offset + i.len) | 0;
      c.leftBlock = true;
    }
  };
}

export function writeFlagsFromStack(c: Cpu, value: number, bits: number): void {
  const old = c.getEflags();
  let changeable = ARITH_FLAGS | TF | DF | NT | (bits === 32 ? AC | ID : 0);
  const iopl = (old & IOPL_MASK) >>> 12;
  if (c.cpl === 0) changeable |= IOPL_MASK | IF;
  else if (c.cpl <= iopl) changeable |= IF;
  if (bits === 16) changeable &= 0xffff;
  c.setEflags(((old & ~changeable) | (value & changeable) | EFLAGS_FIXED1) >>> 0);
}

/** LAHF: AH = SF ZF 0 AF 0 PF 1 CF. */
export const lahf: Handler = (c) => c.setReg8(4, (materialize(c) & 0xd5) | 0x02);

/** SAHF: loads SF ZF AF PF CF from AH. */
export const sahf: Handler = (c) => {
  const fl = materialize(c);
  c.fl = (fl & ~0xd5) | (c.reg8(4) & 0xd5);
};

// ---- segment registers ----

/** MOV r/m16, Sreg. With a register destination and 32-bit operand size the upper bits are zeroed. */
export function movESreg(bits: number): Handler {
  return (c, i) => {
    if (i.reg > 5) c.fault(UD);
    const sel = c.segSel[i.reg]!;
    if (i.mod === 3) setReg(c, i.rm, sel, bits);
    else c.write16(c.ea(i), sel);
  };
}

/** MOV Sreg, r/m16. Loading CS this way is #UD. */
export const movSregE: Handler = (c, i) => {
  if (i.reg > 5 || i.reg === CS) c.fault(UD);
  loadDataSegment(c, i.reg, readE(c, i, 16));
};

export function pushSreg(seg: number, bits: number): Handler {
  return (c) => {
    if (bits === 32) c.push32(c.segSel[seg]!);
    else c.push16(c.segSel[seg]!);
  };
}

export function popSreg(seg: number, bits: number): Handler {
  return (c) => {
    const sp = c.regs[ESP]!;
    const sel = bits === 32 ? c.read32(sp) & 0xffff : c.read16(sp);
    loadDataSegment(c, seg, sel);
    c.regs[ESP] = (sp + bits / 8) | 0;
  };
}

// ---- LEAVE / ENTER ----

export function leave(bits: number): Handler {
  return (c) => {
    const bp = c.regs[EBP]!;
    const v = bits === 32 ? c.read32(bp) : c.read16(bp);
    c.regs[ESP] = (bp + bits / 8) | 0;
    setReg(c, EBP, v, bits);
  };
}

/** ENTER imm16, imm8 (nesting level 0-31). */
export function enter(bits: number): Handler {
  return (c, i) => {
    const size = i.imm & 0xffff;
    const level = i.imm2 & 31;
    const push = (v: number) => (bits === 32 ? c.push32(v) : c.push16(v));
    const oldSp = c.regs[ESP]!;
    try {
      push(c.regs[EBP]!);
      const frame = c.regs[ESP]!;
      let bp = c.regs[EBP]!;
      for (let k = 1; k < level; k++) {
        bp = (bp - bits / 8) | 0;
        push(bits === 32 ? c.read32(bp) : c.read16(bp));
      }
      if (level > 0) push(frame);
      const newSp = (c.regs[ESP]! - size) | 0;
      c.probeWrite(newSp, 1);
      setReg(c, EBP, frame, bits);
      c.regs[ESP] = newSp;
    } catch (signal) {
      c.regs[ESP] = oldSp;
      throw signal;
    }
  };
}

/** Segment register numbers that POP may load (POP CS does not exist). */
export const POPPABLE = [0, SS, 3, 4, 5];
export const GP_ZERO: Handler = (c) => c.fault(GP, 0);
export { OF };
