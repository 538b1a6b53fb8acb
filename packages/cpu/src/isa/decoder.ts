// The decoder: x86 bytes -> Insn, driven entirely by the opcode table. Prefixes, the opcode (one
// byte, 0F xx, or 0F 38 xx), ModRM/SIB with 32-bit addressing, displacement and immediates. Bytes
// that match no table row decode to an instruction that raises #UD when executed, so the fault is
// taken at the right EIP (and the disassembler prints "(bad)").

import type { CostClass } from "../cost-model.js";
import type { Cpu } from "../cpu/cpu.js";
import { GP, UD, ZERO_REG } from "../cpu/registers.js";
import { Insn, REP_E, REP_NE, REP_NONE } from "./insn.js";
import { OPCODES } from "./opcodes.js";
import type { Handler, OpcodeDef, OperandKind } from "./types.js";

const MODRM_KINDS = new Set<OperandKind>([
  "Eb",
  "Ew",
  "Ed",
  "Ev",
  "Gb",
  "Gw",
  "Gd",
  "Gv",
  "M",
  "Mp",
  "Ms",
  "Mq",
  "Rd",
  "Sw",
  "Cd",
]);
const MEMORY_KINDS = new Set<OperandKind>([
  "Eb",
  "Ew",
  "Ed",
  "Ev",
  "M",
  "Mp",
  "Ms",
  "Mq",
  "Ob",
  "Ov",
  "Xb",
  "Xv",
  "Yb",
  "Yv",
]);

/** Table rows by opcode key (0xXX, 0x0FXX, 0x0F38XX). Rows with a Z operand fill all eight keys. */
const BY_KEY = new Map<number, OpcodeDef[]>();

function addRow(key: number, def: OpcodeDef): void {
  let list = BY_KEY.get(key);
  if (!list) {
    list = [];
    BY_KEY.set(key, list);
  }
  list.push(def);
}

export function hasModrm(def: OpcodeDef): boolean {
  return def.ext !== undefined || def.modrm !== undefined || def.operands.some((o) => MODRM_KINDS.has(o));
}

export function registerOpcodes(defs: readonly OpcodeDef[]): void {
  // Exact opcodes first; a "+r" row fills only the keys no exact row claims (90 stays NOP).
  const isZ = (d: OpcodeDef) => d.operands.includes("Zv") || d.operands.includes("Zb");
  for (const def of defs) if (!isZ(def)) addRow(def.opcode, def);
  const exact = new Set(BY_KEY.keys());
  for (const def of defs) {
    if (!isZ(def)) continue;
    for (let r = 0; r < 8; r++) if (!exact.has(def.opcode + r)) addRow(def.opcode + r, def);
  }
}
registerOpcodes(OPCODES);

/** Rows that could match this opcode key (for the disassembler and assembler tests). */
export function rowsForKey(key: number): readonly OpcodeDef[] {
  return BY_KEY.get(key) ?? [];
}

let costOf: (cls: CostClass) => number = (cls) => (cls === "simple" ? 1 : 1);
/** The decoder stamps each Insn with its modeled cost; the machine sets the active cost model. */
export function setDecoderCostModel(fn: (cls: CostClass) => number): void {
  costOf = fn;
}

const raiseUD: Handler = (cpu: Cpu) => cpu.fault(UD);
const raiseGP: Handler = (cpu: Cpu) => cpu.fault(GP, 0);

export const INVALID_DEF: OpcodeDef = {
  mnemonic: "(bad)",
  opcode: -1,
  operands: [],
  exec: raiseUD,
  cost: "simple",
  endsBlock: true,
};
const TOO_LONG_DEF: OpcodeDef = { ...INVALID_DEF, exec: raiseGP };

/** Reads byte k of the instruction (k counts from the first prefix). */
export type ByteFetch = (k: number) => number;

function invalid(len: number, def: OpcodeDef = INVALID_DEF): Insn {
  const insn = new Insn(def, def.exec as Handler);
  insn.len = Math.max(1, len);
  insn.cost = 1;
  return insn;
}

export function decode(fetch: ByteFetch): Insn {
  let k = 0;
  let opsize = 32;
  let rep = REP_NONE;
  let lock = false;
  let seg = -1;
  let prefixes = 0;
  let sawOpsize = false;
  let lastRep = 0;
  let b = fetch(k);
  for (;;) {
    if (b === 0x66) {
      opsize = 16;
      sawOpsize = true;
    } else if (b === 0xf3 || b === 0xf2) {
      rep = b === 0xf3 ? REP_E : REP_NE;
      lastRep = b;
    } else if (b === 0xf0) lock = true;
    else if (b === 0x26) seg = 0;
    else if (b === 0x2e) seg = 1;
    else if (b === 0x36) seg = 2;
    else if (b === 0x3e) seg = 3;
    else if (b === 0x64) seg = 4;
    else if (b === 0x65) seg = 5;
    else if (b === 0x67) {
      // 16-bit addressing is outside the subset (docs/isa.md).
      return invalid(k + 1);
    } else break;
    prefixes++;
    k++;
    if (k >= 15) return invalid(15, TOO_LONG_DEF);
    b = fetch(k);
  }
  let key = b;
  k++;
  if (b === 0x0f) {
    const b2 = fetch(k++);
    if (b2 === 0x38) key = 0x0f3800 | fetch(k++);
    else key = 0x0f00 | b2;
  }
  const rows = BY_KEY.get(key);
  if (!rows) return invalid(k);
  const needsModrm = hasModrm(rows[0]!);
  let modrm = 0;
  if (needsModrm) modrm = fetch(k++);
  const mod = modrm >>> 6;
  const regField = (modrm >>> 3) & 7;
  const rmField = modrm & 7;
  let def: OpcodeDef | undefined;
  // The mandatory prefix of a two-byte-map form is the last F2/F3 if there is one, else 66 (as in the
  // SDM's SSE/VMX encodings). In the 0F map, an F2/F3 that selects no form makes the opcode undefined.
  const mandatory = lastRep !== 0 ? lastRep : sawOpsize ? 0x66 : 0;
  const twoByteMap = key > 0xff;
  const hasMandatoryRows =
    twoByteMap && rows.some((r) => r.mandatoryPrefix !== undefined && (r.ext === undefined || r.ext === regField));
  for (const pass of [true, false]) {
    if (!pass && hasMandatoryRows && lastRep !== 0) break;
    for (const row of rows) {
      if (pass !== (row.mandatoryPrefix !== undefined)) continue;
      if (pass && row.mandatoryPrefix !== mandatory) continue;
      if (row.ext !== undefined && row.ext !== regField) continue;
      if (row.modrm !== undefined && row.modrm !== modrm) continue;
      if (row.mod === "mem" && mod === 3) continue;
      if (row.mod === "reg" && mod !== 3) continue;
      def = row;
      break;
    }
    if (def) break;
  }
  if (def?.noPrefix && (sawOpsize || lastRep !== 0)) return invalid(k);
  if (!def) return invalid(k);
  if (def.mandatoryPrefix === 0x66) opsize = 32;
  if (def.mandatoryPrefix === 0xf3 || def.mandatoryPrefix === 0xf2) rep = REP_NONE;

  const exec = typeof def.exec === "function" ? def.exec : opsize === 16 ? def.exec.w : def.exec.d;
  const insn = new Insn(def, exec);
  insn.opsize = opsize;
  insn.rep = rep;
  insn.lock = lock;
  insn.segOverride = seg;
  insn.prefixes = prefixes;
  // MOV to/from CRn ignores ModRM.mod: the operand is always a register (Intel SDM, MOV CR).
  const registerOnly = def.operands.includes("Rd");
  insn.mod = needsModrm && !registerOnly ? mod : 3;
  // LOCK is only valid on the read-modify-write forms with a memory destination (Intel SDM, LOCK):
  // anything else raises #UD when executed (the disassembler still shows the instruction).
  if (lock && (insn.mod === 3 || (def.objdump?.hle !== "lock" && def.objdump?.hle !== "always"))) insn.exec = raiseUD;
  insn.reg = regField;
  insn.rm = rmField;

  if (needsModrm && mod !== 3 && !registerOnly) {
    let base = rmField;
    let index = ZERO_REG;
    let scale = 0;
    if (rmField === 4) {
      const sib = fetch(k++);
      scale = sib >>> 6;
      index = (sib >>> 3) & 7;
      if (index === 4) index = ZERO_REG; // no index
      base = sib & 7;
      if (base === 5 && mod === 0) base = ZERO_REG; // disp32, no base
    } else if (rmField === 5 && mod === 0) {
      base = ZERO_REG; // disp32 absolute
    }
    let disp = 0;
    if (mod === 1) {
      disp = (fetch(k++) << 24) >> 24;
    } else if (mod === 2 || base === ZERO_REG) {
      disp = fetch(k) | (fetch(k + 1) << 8) | (fetch(k + 2) << 16) | (fetch(k + 3) << 24);
      k += 4;
    }
    insn.base = base;
    insn.index = index;
    insn.scale = scale;
    insn.disp = disp;
  }

  const readImm = (size: number, signed: boolean): number => {
    let v = 0;
    for (let j = 0; j < size; j++) v |= fetch(k + j) << (8 * j);
    k += size;
    if (size === 1) return signed ? (v << 24) >> 24 : v & 0xff;
    if (size === 2) return signed ? (v << 16) >> 16 : v & 0xffff;
    return v | 0;
  };
  let immCount = 0;
  const setImm = (v: number) => {
    if (immCount++ === 0) insn.imm = v;
    else insn.imm2 = v;
  };
  let memory = insn.mod !== 3 && def.operands.some((o) => MEMORY_KINDS.has(o));
  for (const op of def.operands) {
    switch (op) {
      case "Ib":
        setImm(readImm(1, false));
        break;
      case "Ibs":
      case "Jb":
        setImm(readImm(1, true));
        break;
      case "Iw":
        setImm(readImm(2, false));
        break;
      case "Iz":
        setImm(readImm(opsize === 16 ? 2 : 4, false));
        break;
      case "Jz":
        setImm(readImm(opsize === 16 ? 2 : 4, true));
        break;
      case "Ap":
        insn.imm = readImm(opsize === 16 ? 2 : 4, false);
        insn.imm2 = readImm(2, false);
        immCount = 2;
        break;
      case "Ob":
      case "Ov":
        insn.mod = 0;
        insn.base = ZERO_REG;
        insn.index = ZERO_REG;
        insn.disp = readImm(4, false);
        memory = true;
        break;
      case "Zb":
      case "Zv":
        insn.reg = (key & 7) as number;
        break;
      case "Xb":
      case "Xv":
      case "Yb":
      case "Yv":
        memory = true;
        break;
      default:
        break;
    }
  }
  if (k > 15) return invalid(15, TOO_LONG_DEF);
  insn.len = k;
  insn.cost = costOf(def.cost) + (memory ? costOf("memoryOperand") : 0);
  return insn;
}

/** Decodes from a byte array (disassembler, tests); bytes past the end read as 0. */
export function decodeBytes(bytes: Uint8Array, offset = 0): Insn {
  return decode((k) => bytes[offset + k] ?? 0);
}
