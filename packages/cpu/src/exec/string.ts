// String instructions: MOVS, STOS, LODS, CMPS, SCAS with REP / REPE / REPNE. A REP instruction runs
// all its iterations in one step; after a fault ESI/EDI/ECX describe the completed iterations and
// EIP still points at the instruction, so it restarts where it stopped (as on hardware).

import type { Cpu } from "../cpu/cpu.js";
import { EAX, ECX, EDI, ESI } from "../cpu/registers.js";
import { REP_E, REP_NE, REP_NONE } from "../isa/insn.js";
import type { Handler } from "../isa/types.js";
import { getReg, readMem, setReg, writeMem } from "./operands.js";

type Body = (c: Cpu, bits: number, step: number) => void;

const movsBody: Body = (c, bits, step) => {
  writeMem(c, c.regs[EDI]!, readMem(c, c.regs[ESI]!, bits), bits);
  c.regs[ESI] = (c.regs[ESI]! + step) | 0;
  c.regs[EDI] = (c.regs[EDI]! + step) | 0;
};

const stosBody: Body = (c, bits, step) => {
  writeMem(c, c.regs[EDI]!, getReg(c, EAX, bits), bits);
  c.regs[EDI] = (c.regs[EDI]! + step) | 0;
};

const lodsBody: Body = (c, bits, step) => {
  setReg(c, EAX, readMem(c, c.regs[ESI]!, bits), bits);
  c.regs[ESI] = (c.regs[ESI]! + step) | 0;
};

const cmpsBody: Body = (c, bits, step) => {
  const a = readMem(c, c.regs[ESI]!, bits);
  const b = readMem(c, c.regs[EDI]!, bits);
  c.arith(7, a, b, bits);
  c.regs[ESI] = (c.regs[ESI]! + step) | 0;
  c.regs[EDI] = (c.regs[EDI]! + step) | 0;
};

const scasBody: Body = (c, bits, step) => {
  c.arith(7, getReg(c, EAX, bits), readMem(c, c.regs[EDI]!, bits), bits);
  c.regs[EDI] = (c.regs[EDI]! + step) | 0;
};

function stringOp(body: Body, bits: number, compares: boolean): Handler {
  const size = bits / 8;
  const perIteration = (c: Cpu) => c.cost.instructions.stringIteration;
  return (c, i) => {
    const step = c.direction * size;
    if (i.rep === REP_NONE) {
      body(c, bits, step);
      return;
    }
    const cost = perIteration(c);
    while (c.regs[ECX] !== 0) {
      body(c, bits, step);
      c.regs[ECX] = (c.regs[ECX]! - 1) | 0;
      c.cycles += cost;
      if (compares) {
        // REPE stops when ZF = 0, REPNE when ZF = 1 (MOVS/STOS/LODS ignore the distinction).
        const zf = c.flagZF();
        if ((i.rep === REP_E && !zf) || (i.rep === REP_NE && zf)) break;
      }
    }
  };
}

export const movs = (bits: number): Handler => stringOp(movsBody, bits, false);
export const stos = (bits: number): Handler => stringOp(stosBody, bits, false);
export const lods = (bits: number): Handler => stringOp(lodsBody, bits, false);
export const cmps = (bits: number): Handler => stringOp(cmpsBody, bits, true);
export const scas = (bits: number): Handler => stringOp(scasBody, bits, true);
