import { ZERO_REG } from "../cpu/registers.js";
import type { Handler, OpcodeDef } from "./types.js";

/** REP prefix state of a decoded instruction. */
export const REP_NONE = 0;
export const REP_E = 0xf3; // REP / REPE / REPZ
export const REP_NE = 0xf2; // REPNE / REPNZ

/**
 * One decoded instruction. All fields are plain numbers so the shape stays monomorphic for the JIT
 * and a decoded block can be cached and replayed. Memory operands are base + (index << scale) + disp,
 * with ZERO_REG standing for "no base" or "no index".
 */
export class Insn {
  exec: Handler;
  def: OpcodeDef;
  /** Length in bytes, prefixes included. */
  len = 0;
  /** Offset of the instruction from the start of its decoded block. */
  offset = 0;
  /** 16 or 32. */
  opsize = 32;
  /** ModRM fields; mod = 3 means a register operand in rm. */
  mod = 3;
  reg = 0;
  rm = 0;
  base = ZERO_REG;
  index = ZERO_REG;
  scale = 0;
  disp = 0;
  /** Segment override prefix (0-5), or -1. Segments are flat, so this only matters for display. */
  segOverride = -1;
  /** First and second immediates (ENTER and far pointers use both). */
  imm = 0;
  imm2 = 0;
  rep = REP_NONE;
  lock = false;
  /** Modeled cycles of one execution (without paging costs). */
  cost = 1;
  /** Raw prefix bytes seen, in order (for the disassembler). */
  prefixes = 0;

  constructor(def: OpcodeDef, exec: Handler) {
    this.def = def;
    this.exec = exec;
  }

  get hasMemoryOperand(): boolean {
    return this.mod !== 3;
  }
}
