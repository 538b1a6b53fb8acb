// Formats one decoded instruction (an Insn and its opcode-table row) the way GNU objdump prints it
// with `-d -M intel`. There is no second opcode table here: mnemonics and operands come from the
// row (isa/opcodes.ts), and the few places where objdump prints something the SDM notation does not
// imply (PUSHAD is "pusha", 66 C3 is "retw", INVLPG's operand is a BYTE PTR...) are the row's
// optional `objdump` style (isa/types.ts, ObjdumpStyle).
//
// Prefixes follow objdump's rules: a prefix the instruction "uses" (the last 66 when the operand size
// matters, the last segment override when a memory operand takes it, a mandatory prefix) is folded
// into the instruction; every other prefix byte is printed by name before the mnemonic, in byte
// order ("data16", "cs", "lock", "repz"/"repnz"; "rep" for the last F3 of MOVS/STOS/LODS, "bnd" for
// the last F2 of a near branch, "notrack" in place of the last segment prefix of an indirect near
// branch when a 3E prefix is present, "xacquire"/"xrelease" for the HLE forms).

import { ESP, REG8_NAMES, REG16_NAMES, REG32_NAMES, SEG_NAMES, ZERO_REG } from "../cpu/registers.js";
import type { Insn } from "../isa/insn.js";
import { OPCODES } from "../isa/opcodes.js";
import type { OpcodeDef, OperandKind } from "../isa/types.js";

/** Resolves a branch target to the nearest symbol at or below it (objdump's `<name+0x4>`). */
export type SymbolResolver = (address: number) => { name: string; offset: number } | undefined;

/** The mnemonic column: objdump pads "prefixes + mnemonic" to six characters, then one space. */
const MNEMONIC_WIDTH = 6;

const PREFIX_NAMES: ReadonlyMap<number, string> = new Map([
  [0x26, "es"],
  [0x2e, "cs"],
  [0x36, "ss"],
  [0x3e, "ds"],
  [0x64, "fs"],
  [0x65, "gs"],
  [0x66, "data16"],
  [0xf0, "lock"],
  [0xf2, "repnz"],
  [0xf3, "repz"],
]);
const SEGMENT_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]);

/** Operand kinds whose size follows the operand-size attribute: with any of them a 66 prefix is "used". */
const SIZED_KINDS = new Set<OperandKind>(["Ev", "Gv", "Iz", "Jz", "Zv", "eAX", "Xv", "Yv", "Ov", "Mp", "Ap"]);
/** ModRM register-or-memory operands. */
const E_KINDS = new Set<OperandKind>(["Eb", "Ew", "Ed", "Ev"]);
/** ModRM memory-only operands. */
const M_KINDS = new Set<OperandKind>(["M", "Mp", "Ms", "Mq"]);
/** Operands that are always memory and take a segment override (ES:[EDI] does not). */
const FIXED_MEMORY = new Set<OperandKind>(["Ob", "Ov", "Xb", "Xv"]);

export const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;

function regName(size: number, n: number): string {
  const names = size === 8 ? REG8_NAMES : size === 16 ? REG16_NAMES : REG32_NAMES;
  return names[n & 7] ?? "?";
}

function ptrKeyword(size: number): string {
  return size === 8 ? "BYTE PTR " : size === 16 ? "WORD PTR " : size === 32 ? "DWORD PTR " : "QWORD PTR ";
}

/** The mnemonic objdump prints for this row at this operand size. */
export function objdumpMnemonic(def: OpcodeDef, opsize: number): string {
  const name = def.objdump?.name ?? def.mnemonic;
  return typeof name === "string" ? name : opsize === 16 ? name.w : name.d;
}

/** Whether objdump considers a 66 prefix part of this instruction (otherwise it prints "data16"). */
function usesOperandSize(def: OpcodeDef, mod: number): boolean {
  const name = def.objdump?.name ?? def.mnemonic;
  if (typeof name !== "string") return true;
  const rvMw = def.rvMw === true;
  return def.operands.some((k) => (rvMw && E_KINDS.has(k) ? mod === 3 : SIZED_KINDS.has(k)));
}

function lastIndexOf(prefixes: readonly number[], pred: (b: number) => boolean): number {
  for (let i = prefixes.length - 1; i >= 0; i--) if (pred(prefixes[i]!)) return i;
  return -1;
}

/** The ModRM memory operand: `[base+index*scale+disp]`, or `ds:0x1234` for a bare displacement. */
function modrmAddress(insn: Insn, seg: string | undefined): string {
  const hasSib = insn.rm === 4;
  if (!hasSib && insn.base === ZERO_REG) return `${seg ?? "ds"}:${hex(insn.disp)}`;
  let s = insn.base === ZERO_REG ? "" : (REG32_NAMES[insn.base] ?? "?");
  const scale = 1 << insn.scale;
  if (insn.index !== ZERO_REG) s += `${s ? "+" : ""}${REG32_NAMES[insn.index] ?? "?"}*${scale}`;
  else if (hasSib && !(insn.base === ESP && insn.scale === 0)) s += `${s ? "+" : ""}eiz*${scale}`;
  if (insn.mod === 1 || insn.mod === 2 || insn.base === ZERO_REG) {
    const d = insn.disp | 0;
    s += d < 0 ? `-${hex(-d)}` : `+${hex(d)}`;
  }
  return `${seg ? `${seg}:` : ""}[${s}]`;
}

/**
 * Formats a decoded instruction.
 * @param insn the decoded instruction (decode / decodeBytes)
 * @param raw the instruction's bytes, starting at its first prefix (at least `insn.prefixes` of them)
 * @param address the instruction's address, for branch targets
 */
export function formatInsn(insn: Insn, raw: ArrayLike<number>, address: number, symbols?: SymbolResolver): string {
  let def = insn.def;
  if (def.opcode < 0) return "(bad)";
  const op16 = insn.opsize === 16;
  // 66 90 is XCHG AX,AX to objdump (the table's exact 90 row is NOP; the +r row is XCHG).
  if (op16 && def.opcode === 0x90 && def.operands.length === 0 && def.mandatoryPrefix === undefined) {
    def = OPCODES.find((r) => r.opcode === 0x90 && r.operands.includes("Zv") && !r.mandatoryPrefix) ?? def;
  }
  const style = def.objdump ?? {};
  const prefixes: number[] = [];
  for (let i = 0; i < insn.prefixes; i++) prefixes.push(raw[i] ?? 0);
  const names: (string | undefined)[] = prefixes.map((b) => PREFIX_NAMES.get(b) ?? `.byte ${hex(b)}`);

  // Prefixes folded into the instruction.
  const consume = (i: number) => {
    if (i >= 0) names[i] = undefined;
  };
  const mandatory = def.mandatoryPrefix;
  if (mandatory !== undefined) consume(lastIndexOf(prefixes, (b) => b === mandatory));
  if (mandatory !== 0x66 && usesOperandSize(def, insn.mod)) consume(lastIndexOf(prefixes, (b) => b === 0x66));
  const lastSeg = lastIndexOf(prefixes, (b) => SEGMENT_PREFIXES.has(b));
  const hasMemory = def.operands.some(
    (k) => FIXED_MEMORY.has(k) || (insn.mod !== 3 && (E_KINDS.has(k) || M_KINDS.has(k))),
  );
  const notrack = style.nearBranch === true && def.operands.some((k) => E_KINDS.has(k)) && prefixes.includes(0x3e);
  let seg: string | undefined;
  if (notrack) names[lastSeg] = "notrack";
  else if (hasMemory && lastSeg >= 0) {
    seg = SEG_NAMES[insn.segOverride];
    consume(lastSeg);
  }
  if (def.rep === "rep") {
    const i = lastIndexOf(prefixes, (b) => b === 0xf3);
    if (i >= 0 && names[i] !== undefined) names[i] = "rep";
  }
  if (style.nearBranch) {
    const i = lastIndexOf(prefixes, (b) => b === 0xf2);
    if (i >= 0) names[i] = "bnd";
  }
  // HLE hints need a memory destination (and, for the lockable forms, a LOCK prefix).
  const hle = style.hle;
  if (hle !== undefined && insn.mod !== 3 && (hle !== "lock" || prefixes.includes(0xf0))) {
    if (hle === "release") {
      // MOV: only when F3 is the last of the F2/F3 prefixes.
      const i = lastIndexOf(prefixes, (b) => b === 0xf2 || b === 0xf3);
      if (i >= 0 && prefixes[i] === 0xf3) names[i] = "xrelease";
    } else {
      const rel = lastIndexOf(prefixes, (b) => b === 0xf3);
      if (rel >= 0) names[rel] = "xrelease";
      const acq = lastIndexOf(prefixes, (b) => b === 0xf2);
      if (acq >= 0) names[acq] = "xacquire";
    }
  }
  // LOCK MOV CRn is AMD's encoding of CR8-CR15: objdump folds the LOCK into the register number.
  let crBase = 0;
  if (def.operands.includes("Cd") && prefixes.includes(0xf0)) {
    consume(lastIndexOf(prefixes, (b) => b === 0xf0));
    crBase = 8;
  }

  // Immediates fill imm, then imm2 (ENTER's Iw,Ib), in operand order.
  let immCount = 0;
  const operands = def.operands.map((k) => {
    const imm = immCount === 0 ? insn.imm : insn.imm2;
    if (k.startsWith("I") || k.startsWith("J")) immCount++;
    return formatOperand(k, insn, def, imm, seg, crBase, address, symbols);
  });
  let head = objdumpMnemonic(def, insn.opsize);
  const shown = names.filter((n): n is string => n !== undefined);
  if (shown.length > 0) head = `${shown.join(" ")} ${head}`;
  return operands.length > 0 ? `${head.padEnd(MNEMONIC_WIDTH)} ${operands.join(",")}` : head;
}

function formatOperand(
  kind: OperandKind,
  insn: Insn,
  def: OpcodeDef,
  imm: number,
  seg: string | undefined,
  crBase: number,
  address: number,
  symbols: SymbolResolver | undefined,
): string {
  const v = insn.opsize;
  const rvMw = def.rvMw === true;
  const modrmOperand = (size: number, keyword: string): string =>
    insn.mod === 3 ? regName(size, insn.rm) : keyword + modrmAddress(insn, seg);
  switch (kind) {
    case "Eb":
      return modrmOperand(8, ptrKeyword(8));
    case "Ew":
      return modrmOperand(rvMw ? v : 16, ptrKeyword(16));
    case "Ed":
      return modrmOperand(32, ptrKeyword(32));
    case "Ev":
      return modrmOperand(v, ptrKeyword(rvMw ? 16 : v));
    case "Gb":
      return regName(8, insn.reg);
    case "Gw":
      return regName(16, insn.reg);
    case "Gd":
      return regName(32, insn.reg);
    case "Gv":
      return regName(v, insn.reg);
    case "M":
      return modrmOperand(32, def.objdump?.ptr ? `${def.objdump.ptr} PTR ` : "");
    case "Ms":
      return modrmOperand(32, "");
    case "Mp":
      return modrmOperand(32, v === 16 ? "DWORD PTR " : "FWORD PTR ");
    case "Mq":
      return modrmOperand(32, "QWORD PTR ");
    case "Rd":
      return regName(32, insn.rm);
    case "Ib":
      return hex(imm & 0xff);
    case "Iw":
      return hex(imm & 0xffff);
    case "Iz":
      return hex(v === 16 ? imm & 0xffff : imm);
    case "Ibs":
      return hex(v === 16 ? imm & 0xffff : imm);
    case "Jb":
    case "Jz": {
      let target = (address + insn.len + imm) >>> 0;
      if (kind === "Jz" && v === 16) target &= 0xffff;
      const sym = symbols?.(target);
      if (!sym) return hex(target);
      return `${(target >>> 0).toString(16)} <${sym.name}${sym.offset ? `+${hex(sym.offset)}` : ""}>`;
    }
    case "Ob":
    case "Ov":
      return `${seg ?? "ds"}:${hex(insn.disp)}`;
    case "Sw":
      return SEG_NAMES[insn.reg] ?? "?";
    case "Cd":
      return `cr${crBase + insn.reg}`;
    case "Ap":
      return `${hex(insn.imm2 & 0xffff)}:${hex(v === 16 ? insn.imm & 0xffff : insn.imm)}`;
    case "Zb":
      return regName(8, insn.reg);
    case "Zv":
      return regName(v, insn.reg);
    case "Xb":
      return `BYTE PTR ${seg ?? "ds"}:[esi]`;
    case "Xv":
      return `${ptrKeyword(v)}${seg ?? "ds"}:[esi]`;
    case "Yb":
      return "BYTE PTR es:[edi]";
    case "Yv":
      return `${ptrKeyword(v)}es:[edi]`;
    case "AL":
      return "al";
    case "CL":
      return "cl";
    case "DX":
      return "dx";
    case "eAX":
      return regName(v, 0);
    case "ES":
    case "CS":
    case "SS":
    case "DS":
    case "FS":
    case "GS":
      return kind.toLowerCase();
    case "1":
      return "1";
    default:
      // A kind added to the table after this formatter: show it rather than guess.
      return `?${kind as string}`;
  }
}
