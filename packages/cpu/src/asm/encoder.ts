// Table-driven instruction encoder. It indexes an OpcodeDef[] by mnemonic, matches the written
// operands against every form of the mnemonic (operand kinds in the SDM notation of isa/types.ts),
// and picks the encoding NASM would pick: forms with an explicit asmRank first, then the shortest
// encoding, then table order. Nothing here knows a particular instruction's encoding.
import type { OpcodeDef, OperandKind } from "../isa/types.js";
import { StatementError } from "./errors.js";
import type { AddressVector, Value } from "./expr.js";
import { EBP_NUM, ESP_NUM, type Register, registerClassName } from "./registers.js";

// ---------------------------------------------------------------------------------------------
// Operands as the assembler hands them to the encoder (expressions already evaluated).

export interface EffectiveAddress {
  /** Base and index register numbers, or -1. */
  base: number;
  index: number;
  /** 1, 2, 4 or 8. */
  scale: number;
  disp: Value;
  /** Displacement size forced with [byte ...] / [dword ...]. */
  forceDisp: 8 | 32 | undefined;
  /** Segment-override register number, when written as [es:...]. */
  seg: number | undefined;
}

export type ResolvedOperand =
  | { k: "reg"; reg: Register; col: number }
  | {
      k: "imm";
      v: Value;
      /** Explicit size keyword (bits). */
      size: number | undefined;
      strict: boolean;
      jump: "short" | "near" | "far" | undefined;
      col: number;
    }
  | { k: "mem"; ea: EffectiveAddress; size: number | undefined; far: boolean; col: number }
  | { k: "far"; seg: Value; off: Value; col: number };

export interface EncodeRequest {
  mnemonic: string;
  mnemonicCol: number;
  operands: ResolvedOperand[];
  /** Address of the first byte of the instruction (for relative branches). */
  address: bigint;
  /** 0xF3 / 0xF2 from a rep/repe/repne word. */
  rep: number | undefined;
  repCol: number;
  lock: boolean;
  /** Segment override from a prefix word (es movsb). */
  segPrefix: number | undefined;
  /** o16 prefix word: emit 0x66 (once) whatever the operands say. */
  forceOpsize16: boolean;
  /** Choose encodings whose length does not depend on operand values (used when passes do not converge). */
  pessimize: boolean;
}

// ---------------------------------------------------------------------------------------------
// The index.

type KindClass = "E" | "G" | "M" | "R" | "I" | "J" | "O" | "S" | "C" | "A" | "Z" | "X" | "Y" | "fixed" | "seg" | "one";

interface KindInfo {
  cls: KindClass;
  /** Bits, or "v" for the operand size, or 0 for none. */
  size: number | "v";
  /** Fixed register for AL/CL/DX/eAX and the segment registers. */
  reg?: string;
  /** Ibs: sign-extended imm8. */
  signExt?: boolean;
  /** Memory sub-kind: "p" far pointer, "s" pseudo-descriptor, "q" qword, "any". */
  mem?: "p" | "s" | "q" | "any";
}

const KINDS: Record<OperandKind, KindInfo> = {
  Eb: { cls: "E", size: 8 },
  Ew: { cls: "E", size: 16 },
  Ed: { cls: "E", size: 32 },
  Ev: { cls: "E", size: "v" },
  Gb: { cls: "G", size: 8 },
  Gw: { cls: "G", size: 16 },
  Gd: { cls: "G", size: 32 },
  Gv: { cls: "G", size: "v" },
  M: { cls: "M", size: 0, mem: "any" },
  Mp: { cls: "M", size: 0, mem: "p" },
  Ms: { cls: "M", size: 0, mem: "s" },
  Mq: { cls: "M", size: 64, mem: "q" },
  Rd: { cls: "R", size: 32 },
  Ib: { cls: "I", size: 8 },
  Iw: { cls: "I", size: 16 },
  Iz: { cls: "I", size: "v" },
  Ibs: { cls: "I", size: "v", signExt: true },
  Jb: { cls: "J", size: 8 },
  Jz: { cls: "J", size: 32 },
  Ob: { cls: "O", size: 8 },
  Ov: { cls: "O", size: "v" },
  Sw: { cls: "S", size: 16 },
  Cd: { cls: "C", size: 32 },
  Ap: { cls: "A", size: 0 },
  Zb: { cls: "Z", size: 8 },
  Zv: { cls: "Z", size: "v" },
  Xb: { cls: "X", size: 8 },
  Xv: { cls: "X", size: "v" },
  Yb: { cls: "Y", size: 8 },
  Yv: { cls: "Y", size: "v" },
  AL: { cls: "fixed", size: 8, reg: "al" },
  CL: { cls: "fixed", size: 8, reg: "cl" },
  DX: { cls: "fixed", size: 16, reg: "dx" },
  eAX: { cls: "fixed", size: "v", reg: "eax" },
  ES: { cls: "seg", size: 16, reg: "es" },
  CS: { cls: "seg", size: 16, reg: "cs" },
  SS: { cls: "seg", size: 16, reg: "ss" },
  DS: { cls: "seg", size: 16, reg: "ds" },
  FS: { cls: "seg", size: 16, reg: "fs" },
  GS: { cls: "seg", size: 16, reg: "gs" },
  "1": { cls: "one", size: 0 },
};

/** One assemblable form of a mnemonic. */
export interface Form {
  def: OpcodeDef;
  /** Position in the table (tie-breaker). */
  index: number;
  /** Operand size fixed by the mnemonic ({ w, d } names), if any. */
  fixedOpsize: 16 | 32 | undefined;
  /** Has operands whose size follows the operand size (v/z kinds). */
  sized: boolean;
  /** String instruction: the operands are implicit and never written. */
  implicit: boolean;
  /**
   * An Rv/Mw form (MOV with a segment register, SLDT, STR): a memory operand is always a word and never
   * takes the operand-size prefix, and a word register operand may be written as its 32-bit register (NASM).
   */
  wordInMemory: boolean;
  kinds: readonly KindInfo[];
}

/** Condition-code aliases: every name of a group assembles the same forms. */
const CONDITION_GROUPS: readonly (readonly string[])[] = [
  ["o"],
  ["no"],
  ["b", "c", "nae"],
  ["ae", "nb", "nc"],
  ["e", "z"],
  ["ne", "nz"],
  ["be", "na"],
  ["a", "nbe"],
  ["s"],
  ["ns"],
  ["p", "pe"],
  ["np", "po"],
  ["l", "nge"],
  ["ge", "nl"],
  ["le", "ng"],
  ["g", "nle"],
];

/** Other spellings NASM accepts: [alias, name in the table]. Only added when the alias is not a table name. */
const ALIASES: readonly (readonly [string, string])[] = [
  ["sal", "shl"],
  ["loopz", "loope"],
  ["loopnz", "loopne"],
  ["pusha", "pushad"],
  ["popa", "popad"],
  ["pushf", "pushfd"],
  ["popf", "popfd"],
  ["iret", "iretd"],
  ["retn", "ret"],
];

/**
 * Instructions whose two operands may be written in either order (NASM accepts both), and which
 * order NASM encodes when both fit equally well: TEST keeps the written order (r/m, reg), XCHG puts
 * the first register in ModRM.reg.
 */
const COMMUTATIVE = new Map<string, "written" | "swapped">([
  ["test", "written"],
  ["xchg", "swapped"],
]);

export class InstructionSet {
  private readonly forms = new Map<string, Form[]>();

  constructor(table: readonly OpcodeDef[]) {
    table.forEach((def, index) => {
      if (def.decodeOnly) return;
      const kinds = def.operands.map((k) => {
        const info = KINDS[k];
        if (!info) throw new Error(`opcode table: unknown operand kind '${k}'`);
        return info;
      });
      const sized = kinds.some((k) => k.size === "v");
      const implicit = kinds.some((k) => k.cls === "X" || k.cls === "Y");
      const wordInMemory = def.rvMw === true || kinds.some((k) => k.cls === "S");
      if (typeof def.mnemonic === "string") {
        this.add(def.mnemonic, { def, index, fixedOpsize: undefined, sized, implicit, wordInMemory, kinds });
      } else {
        this.add(def.mnemonic.w, { def, index, fixedOpsize: 16, sized, implicit, wordInMemory, kinds });
        this.add(def.mnemonic.d, { def, index, fixedOpsize: 32, sized, implicit, wordInMemory, kinds });
      }
    });
    for (const prefix of ["j", "set", "cmov"]) {
      for (const group of CONDITION_GROUPS) {
        const all: Form[] = [];
        for (const cc of group) {
          for (const f of this.forms.get(prefix + cc) ?? []) if (!all.includes(f)) all.push(f);
        }
        if (all.length === 0) continue;
        all.sort((a, b) => a.index - b.index);
        for (const cc of group) this.forms.set(prefix + cc, all);
      }
    }
    for (const [alias, name] of ALIASES) {
      const target = this.forms.get(name);
      if (target && !this.forms.has(alias)) this.forms.set(alias, target);
    }
  }

  private add(name: string, form: Form): void {
    const key = name.toLowerCase();
    const list = this.forms.get(key);
    if (list) list.push(form);
    else this.forms.set(key, [form]);
  }

  has(mnemonic: string): boolean {
    return this.forms.has(mnemonic.toLowerCase());
  }

  lookup(mnemonic: string): readonly Form[] | undefined {
    return this.forms.get(mnemonic.toLowerCase());
  }

  mnemonics(): string[] {
    return [...this.forms.keys()];
  }
}

// ---------------------------------------------------------------------------------------------
// Effective addresses.

const SCALES = new Set([1, 2, 4, 8]);

/**
 * Chooses base, index and scale for a memory operand the way NASM does: registers in NASM's order,
 * the first one with coefficient 1 as the base unless the hint says otherwise, [eax*2] split into
 * [eax+eax] and [eax*3/5/9] into [eax+eax*2/4/8] (unless `nosplit`), esp never an index.
 */
export function effectiveAddress(
  vec: AddressVector,
  opts: { nosplit: boolean; forceDisp: 8 | 32 | undefined; seg: number | undefined },
  col: number,
): EffectiveAddress {
  for (const r of vec.regs) {
    if (r.reg.cls !== "gpr") throw new StatementError(col, `register '${r.reg.name}' cannot be used in an address`);
    if (r.reg.size === 16) throw new StatementError(col, "16-bit addressing is not supported (use 32-bit registers)");
    if (r.reg.size !== 32) throw new StatementError(col, `register '${r.reg.name}' cannot be used in an address`);
    if (r.coef < 0n) throw new StatementError(col, `register '${r.reg.name}' cannot be subtracted in an address`);
  }
  if (vec.regs.length > 2) throw new StatementError(col, "invalid effective address: too many registers");
  let base: Register | undefined;
  let index: Register | undefined;
  let scale = 0n;
  const [r0, r1] = vec.regs;
  if (r0) {
    if (r0.coef === 1n) base = r0.reg;
    else [index, scale] = [r0.reg, r0.coef];
  }
  if (r1) {
    if (base) [index, scale] = [r1.reg, r1.coef];
    else if (r1.coef !== 1n)
      throw new StatementError(col, "invalid effective address: only one register can be scaled");
    else base = r1.reg;
  }
  const hint = vec.hint;
  const hinted = (r: Register | undefined, type: string): boolean =>
    r !== undefined && hint.reg === r && hint.type === type;
  if (base && index && scale === 1n && base !== index && (hinted(base, "notbase") || hinted(index, "makebase"))) {
    [base, index] = [index, base];
  }
  const keepIndex = opts.nosplit && hinted(base ?? index, "notbase");
  if (base && !index && keepIndex && base.num !== ESP_NUM) {
    // [nosplit eax*1]: an index without a base.
    [index, scale, base] = [base, 1n, undefined];
  } else if (!base && index) {
    if (scale === 1n) [base, index] = [index, undefined];
    else if (scale === 3n || scale === 5n || scale === 9n) [base, scale] = [index, scale - 1n];
    else if (scale === 2n && !keepIndex) [base, scale] = [index, 1n];
  }
  if (index && index.num === ESP_NUM) {
    if (scale !== 1n || base?.num === ESP_NUM) {
      throw new StatementError(col, "invalid effective address: esp cannot be an index register");
    }
    [base, index] = [index, base];
  }
  if (index && !SCALES.has(Number(scale))) {
    throw new StatementError(col, `invalid effective address: scale factor ${scale} is not 1, 2, 4 or 8`);
  }
  return {
    base: base ? base.num : -1,
    index: index ? index.num : -1,
    scale: index ? Number(scale) : 1,
    disp: vec.disp,
    forceDisp: opts.forceDisp,
    seg: opts.seg,
  };
}

function signed32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

function checkRange32(v: Value, col: number, what: string): void {
  if (!v.unknown && (v.n < -0x80000000n || v.n > 0xffffffffn)) {
    throw new StatementError(col, `${what} ${v.n} is out of range for 32 bits`);
  }
}

/** Encodes ModRM (with the given reg field), SIB and displacement of a memory operand. */
function encodeMemory(ea: EffectiveAddress, regField: number, pessimize: boolean, col: number): number[] {
  const out: number[] = [];
  const d = ea.disp;
  checkRange32(d, col, "displacement");
  const push32 = (v: bigint): void => {
    const n = Number(BigInt.asUintN(32, v));
    out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  };
  if (ea.base < 0 && ea.index < 0) {
    out.push((regField << 3) | 5);
    push32(d.n);
    return out;
  }
  if (ea.base < 0) {
    out.push((regField << 3) | 4);
    out.push((Math.log2(ea.scale) << 6) | (ea.index << 3) | 5);
    push32(d.n);
    return out;
  }
  let dispSize: 0 | 8 | 32;
  const dv = signed32(d.n);
  if (ea.forceDisp === 8) {
    if (!d.unknown && (d.reloc !== 0 || dv < -128 || dv > 127)) {
      throw new StatementError(col, `displacement ${d.n} does not fit in a signed byte`);
    }
    dispSize = 8;
  } else if (ea.forceDisp === 32 || pessimize) {
    dispSize = 32;
  } else if (d.unknown) {
    dispSize = 8;
  } else if (d.reloc !== 0) {
    dispSize = 32;
  } else if (dv === 0 && ea.base !== EBP_NUM) {
    dispSize = 0;
  } else if (dv >= -128 && dv <= 127) {
    dispSize = 8;
  } else {
    dispSize = 32;
  }
  const mod = dispSize === 0 ? 0 : dispSize === 8 ? 1 : 2;
  if (ea.index >= 0 || ea.base === ESP_NUM) {
    out.push((mod << 6) | (regField << 3) | 4);
    const index = ea.index >= 0 ? ea.index : 4;
    const scale = ea.index >= 0 ? Math.log2(ea.scale) : 0;
    out.push((scale << 6) | (index << 3) | ea.base);
  } else {
    out.push((mod << 6) | (regField << 3) | ea.base);
  }
  if (dispSize === 8) out.push(dv & 0xff);
  else if (dispSize === 32) push32(d.n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matching.

interface Candidate {
  form: Form;
  opsize: 16 | 32;
  swapped: boolean;
  /** Sizes the unsized memory operand could have (set when no other operand implies its size). */
  fuzzy: number[] | undefined;
  /** Ranked after everything else (a short jump to an absolute address, which NASM never picks by itself). */
  penalty: number;
  /** Uses a sign-extended imm8 (NASM prefers it over a full immediate of the same length). */
  signExtImm: boolean;
  /** The operands were matched in the other order and that order is not the preferred one. */
  unpreferredOrder: boolean;
  bytes: number[];
}

/** Why a form was rejected although its operand kinds fit (value range, jump distance). */
class SoftFailure {
  constructor(
    readonly col: number,
    readonly message: string,
    /** Length the encoding would have had. */
    readonly size = 0,
  ) {}
}

function kindSize(k: KindInfo, opsize: number): number {
  return k.size === "v" ? opsize : k.size;
}

function describeOperand(op: ResolvedOperand): string {
  switch (op.k) {
    case "reg":
      return registerClassName(op.reg);
    case "imm":
      return op.size ? `imm${op.size}` : "imm";
    case "mem":
      return op.far ? "far mem" : op.size ? `mem${op.size}` : "mem";
    case "far":
      return "ptr16:32";
  }
}

interface MatchState {
  determined: boolean;
}

/** Kind-level match of one operand: false when the kind cannot take it. */
function operandFits(k: KindInfo, op: ResolvedOperand, opsize: number, form: Form, st: MatchState): boolean {
  const size = kindSize(k, opsize);
  switch (k.cls) {
    case "E":
    case "G":
    case "Z":
    case "R":
      if (op.k === "reg") {
        if (op.reg.cls !== "gpr") return false;
        const r32AsWord = form.wordInMemory && k.cls === "E" && k.size === 16 && op.reg.size === 32;
        if (op.reg.size !== size && !r32AsWord) return false;
        if (k.cls === "E" && form.def.mod === "mem") return false;
        if (k.size === "v") st.determined = true;
        return true;
      }
      if (op.k === "mem" && k.cls === "E") {
        if (form.def.mod === "reg" || op.far) return false;
        if (form.wordInMemory) return op.size === undefined || op.size === 16;
        if (op.size !== undefined) {
          if (op.size !== size) return false;
          if (k.size === "v") st.determined = true;
        }
        return true;
      }
      return false;
    case "M":
      if (op.k !== "mem" || form.def.mod === "reg") return false;
      if (k.mem === "p") return op.far;
      if (op.far) return false;
      if (k.mem === "s") return op.size === undefined;
      if (k.mem === "q") return op.size === undefined || op.size === 64;
      return true;
    case "O":
      if (op.k !== "mem" || op.far || op.ea.base >= 0 || op.ea.index >= 0 || op.ea.forceDisp === 8) return false;
      if (op.size !== undefined) {
        if (op.size !== size) return false;
        if (k.size === "v") st.determined = true;
      }
      return true;
    case "I":
      if (op.k !== "imm" || op.jump !== undefined) return false;
      if (op.size !== undefined) {
        if (k.signExt) {
          if (op.size === 8) return true;
          if (op.size !== opsize || op.strict) return false;
          st.determined = true;
          return true;
        }
        if (op.size !== size) return false;
        if (k.size === "v") st.determined = true;
      }
      return true;
    case "J":
      if (op.k !== "imm") return false;
      if (op.jump === "far") return false;
      if (op.jump === "short" && k.size !== 8) return false;
      if (op.jump === "near" && k.size === 8) return false;
      if (op.size !== undefined && op.size !== 32) return false;
      return true;
    case "A":
      return op.k === "far";
    case "S":
      return op.k === "reg" && op.reg.cls === "sreg";
    case "seg":
      return op.k === "reg" && op.reg.name === k.reg;
    case "C":
      return op.k === "reg" && op.reg.cls === "cr";
    case "fixed":
      if (op.k !== "reg" || op.reg.cls !== "gpr") return false;
      if (k.reg === "eax") {
        if (op.reg.num !== 0 || op.reg.size !== opsize) return false;
        st.determined = true;
        return true;
      }
      return op.reg.name === k.reg;
    case "one":
      // NASM uses the shift-by-one form only for a plain 1 (`shl eax, byte 1` takes the imm8 form).
      return op.k === "imm" && op.jump === undefined && op.size === undefined;
    case "X":
    case "Y":
      return false;
  }
}

/** Operand classes coded in the ModRM byte. */
const MODRM_CLASSES = new Set<KindClass>(["E", "G", "M", "R", "S", "C"]);

const SIZE_STATING_REG = new Set<KindClass>(["G", "Z", "E", "R", "S", "fixed"]);

/** The size an operand itself states (to imply the size of an unsized memory operand). */
function statedSize(k: KindInfo, op: ResolvedOperand, opsize: number): number | undefined {
  if (k.cls === "one" || k.signExt || (k.cls === "fixed" && k.reg === "cl")) return undefined;
  if (op.k === "reg" && SIZE_STATING_REG.has(k.cls)) {
    return kindSize(k, opsize);
  }
  if (op.k === "imm" && k.cls === "I" && op.size !== undefined) return kindSize(k, opsize);
  if (op.k === "mem" && op.size !== undefined && (k.cls === "E" || k.cls === "O")) return op.size;
  return undefined;
}

const LOW8 = (v: bigint): number => Number(BigInt.asUintN(8, v));

function pushLE(out: number[], v: bigint, bytes: number): void {
  let x = BigInt.asUintN(bytes * 8, v);
  for (let i = 0; i < bytes; i++) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
  }
}

const SEG_PREFIX = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

function opcodeBytes(opcode: number): number[] {
  if (opcode > 0xffff) return [(opcode >> 16) & 0xff, (opcode >> 8) & 0xff, opcode & 0xff];
  if (opcode > 0xff) return [(opcode >> 8) & 0xff, opcode & 0xff];
  return [opcode];
}

/** Tries one form at one operand size; returns a candidate, a soft failure, or undefined (no match). */
function tryForm(
  form: Form,
  opsize: 16 | 32,
  ops: ResolvedOperand[],
  swapped: boolean,
  req: EncodeRequest,
): Candidate | SoftFailure | undefined {
  const kinds = form.kinds;
  if (form.implicit) {
    if (ops.length !== 0) return undefined;
  } else if (kinds.length !== ops.length) return undefined;
  const st: MatchState = { determined: false };
  if (!form.implicit) {
    for (let i = 0; i < kinds.length; i++) if (!operandFits(kinds[i]!, ops[i]!, opsize, form, st)) return undefined;
  }
  // A 16-bit operand size must be asked for by an operand (o16 is only a raw prefix, as in NASM).
  if (form.sized && form.fixedOpsize === undefined && !st.determined && opsize === 16) return undefined;

  // An unsized memory operand takes its size from another operand, or stays "fuzzy".
  let fuzzy: number[] | undefined;
  if (!form.implicit) {
    kinds.forEach((k, i) => {
      const op = ops[i]!;
      if (op.k !== "mem" || op.size !== undefined || (k.cls !== "E" && k.cls !== "O")) return;
      if (form.wordInMemory) return;
      const need = kindSize(k, opsize);
      if (k.size === "v") {
        // Control transfers (jmp [x], call [x]) default to the 32-bit operand size, as in NASM.
        const defaulted = form.def.endsBlock === true;
        if (!st.determined && form.fixedOpsize === undefined && !defaulted) fuzzy = [16, 32];
        return;
      }
      const implied = kinds.some((k2, j) => j !== i && statedSize(k2, ops[j]!, opsize) === need);
      if (!implied) fuzzy = [need];
    });
  }

  // Encode.
  const def = form.def;
  const out: number[] = [];
  if (req.lock) out.push(0xf0);
  if (req.rep !== undefined) out.push(req.rep);
  let seg = req.segPrefix;
  for (const op of ops) if (op.k === "mem" && op.ea.seg !== undefined) seg = op.ea.seg;
  if (seg !== undefined) out.push(SEG_PREFIX[seg]!);
  const opsizePrefix = form.fixedOpsize !== undefined ? form.fixedOpsize === 16 : form.sized && opsize === 16;
  if (opsizePrefix || req.forceOpsize16) out.push(0x66);
  if (def.mandatoryPrefix !== undefined) out.push(def.mandatoryPrefix);
  const opc = opcodeBytes(def.opcode);
  const zIndex = kinds.findIndex((k) => k.cls === "Z");
  if (zIndex >= 0 && !form.implicit) {
    const op = ops[zIndex]!;
    if (op.k === "reg") opc[opc.length - 1]! += op.reg.num;
  }
  out.push(...opc);

  const needsModrm = !form.implicit && kinds.some((k) => MODRM_CLASSES.has(k.cls));
  if (def.modrm !== undefined) {
    out.push(def.modrm);
  } else if (needsModrm || def.ext !== undefined) {
    let regField = def.ext ?? 0;
    let rm: ResolvedOperand | undefined;
    for (let i = 0; i < kinds.length && !form.implicit; i++) {
      const k = kinds[i]!;
      const op = ops[i]!;
      if ((k.cls === "G" || k.cls === "S" || k.cls === "C") && op.k === "reg") regField = op.reg.num;
      else if (k.cls === "E" || k.cls === "M" || k.cls === "R") rm = op;
    }
    if (rm === undefined) {
      out.push(0xc0 | (regField << 3));
    } else if (rm.k === "reg") {
      out.push(0xc0 | (regField << 3) | rm.reg.num);
    } else if (rm.k === "mem") {
      try {
        out.push(...encodeMemory(rm.ea, regField, req.pessimize, rm.col));
      } catch (e) {
        if (e instanceof StatementError) return new SoftFailure(e.column, e.message);
        throw e;
      }
    }
  }

  // Immediates, moffs, far pointers and relative targets, in operand order.
  let relAt = -1;
  let relSize = 0;
  let relTarget: Value | undefined;
  let relCol = req.mnemonicCol;
  let penalty = 0;
  if (!form.implicit) {
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[i]!;
      const op = ops[i]!;
      if (k.cls === "I" && op.k === "imm") {
        const v = op.v;
        const bits = k.signExt ? 8 : kindSize(k, opsize);
        if (k.signExt && req.pessimize && op.size === undefined) return undefined;
        const failure = immediateFailure(v, bits, k.signExt === true, opsize, op);
        if (failure) return failure;
        pushLE(out, v.n, bits / 8);
      } else if (k.cls === "O" && op.k === "mem") {
        checkRange32(op.ea.disp, op.col, "address");
        pushLE(out, op.ea.disp.n, 4);
      } else if (k.cls === "A" && op.k === "far") {
        checkRange32(op.off, op.col, "offset");
        if (!op.seg.unknown && (op.seg.n < 0n || op.seg.n > 0xffffn)) {
          return new SoftFailure(op.col, `segment selector ${op.seg.n} is out of range for 16 bits`);
        }
        pushLE(out, op.off.n, opsize / 8);
        pushLE(out, op.seg.n, 2);
      } else if (k.cls === "J" && op.k === "imm") {
        relAt = out.length;
        relSize = k.size === 8 ? 1 : 4;
        relTarget = op.v;
        relCol = op.col;
        for (let b = 0; b < relSize; b++) out.push(0);
        if (relSize === 1 && op.jump !== "short") {
          if (op.v.unknown) penalty = 0;
          else if (op.v.reloc !== 1 || req.pessimize) penalty = 1;
        }
      } else if (k.cls === "one" && op.k === "imm") {
        if (op.v.unknown ? req.pessimize : op.v.reloc !== 0 || op.v.n !== 1n) return undefined;
      }
    }
  }
  if (relTarget !== undefined) {
    const rel = relTarget.n - (req.address + BigInt(out.length));
    if (relSize === 1) {
      if (!relTarget.unknown && (rel < -128n || rel > 127n)) {
        return new SoftFailure(relCol, `short jump is out of range (${rel} bytes)`, out.length);
      }
      out[relAt] = LOW8(rel);
    } else {
      const r = Number(BigInt.asUintN(32, rel));
      out[relAt] = r & 0xff;
      out[relAt + 1] = (r >>> 8) & 0xff;
      out[relAt + 2] = (r >>> 16) & 0xff;
      out[relAt + 3] = r >>> 24;
    }
  }
  const signExtImm = kinds.some((k) => k.signExt === true);
  return { form, opsize, swapped, fuzzy, penalty, signExtImm, unpreferredOrder: false, bytes: out };
}

function immediateFailure(
  v: Value,
  bits: number,
  signExt: boolean,
  opsize: number,
  op: { col: number; size: number | undefined },
): SoftFailure | undefined {
  if (v.unknown) return undefined;
  if (signExt) {
    if (v.reloc !== 0) return new SoftFailure(op.col, "an address does not fit in a sign-extended byte");
    const s = BigInt.asIntN(opsize, v.n);
    const inRange = v.n >= -(1n << BigInt(opsize - 1)) && v.n < 1n << BigInt(opsize);
    if (!inRange || s < -128n || s > 127n) {
      return new SoftFailure(op.col, `value ${v.n} does not fit in a sign-extended byte (-128..127)`);
    }
    return undefined;
  }
  const min = -(1n << BigInt(bits - 1));
  const max = (1n << BigInt(bits)) - 1n;
  if (v.n < min || v.n > max) {
    return new SoftFailure(
      op.col,
      `value ${v.n} is out of range for ${bits === 8 ? "an" : "a"} ${bits}-bit immediate (${min}..${max})`,
    );
  }
  return undefined;
}

/** Candidate order: NASM's preferences, most important first. */
function better(a: Candidate, b: Candidate): boolean {
  if (a.penalty !== b.penalty) return a.penalty < b.penalty;
  const ra = a.form.def.asmRank ?? 0;
  const rb = b.form.def.asmRank ?? 0;
  if (ra !== rb) return ra < rb;
  if (a.bytes.length !== b.bytes.length) return a.bytes.length < b.bytes.length;
  if (a.signExtImm !== b.signExtImm) return a.signExtImm;
  if (a.unpreferredOrder !== b.unpreferredOrder) return !a.unpreferredOrder;
  if (a.form.index !== b.form.index) return a.form.index < b.form.index;
  return a.opsize === 32 && b.opsize !== 32;
}

/** Encodes one instruction. Throws StatementError for operands no form takes. */
export function encodeInstruction(set: InstructionSet, req: EncodeRequest): Uint8Array {
  const name = req.mnemonic.toLowerCase();
  const forms = set.lookup(name);
  if (!forms) throw new StatementError(req.mnemonicCol, `unknown instruction '${req.mnemonic}'`);
  let operands = req.operands;
  // NASM's two-operand IMUL with an immediate: imul r, imm = imul r, r, imm.
  if (name === "imul" && operands.length === 2 && operands[0]!.k === "reg" && operands[1]!.k === "imm") {
    operands = [operands[0]!, operands[0]!, operands[1]!];
  }
  const orders: { ops: ResolvedOperand[]; swapped: boolean }[] = [{ ops: operands, swapped: false }];
  const commutative = COMMUTATIVE.get(name);
  if (commutative && operands.length === 2) {
    orders.push({ ops: [operands[1]!, operands[0]!], swapped: true });
  }
  const candidates: Candidate[] = [];
  let soft: SoftFailure | undefined;
  let repRejected = false;
  for (const form of forms) {
    for (const order of orders) {
      const sizes: (16 | 32)[] = form.fixedOpsize ? [form.fixedOpsize] : form.sized ? [32, 16] : [32];
      for (const opsize of sizes) {
        const r = tryForm(form, opsize, order.ops, order.swapped, req);
        if (r instanceof SoftFailure) soft ??= r;
        else if (r) {
          if (req.rep !== undefined && (form.def.rep === undefined || form.def.rep === "none")) {
            repRejected = true;
            continue;
          }
          r.unpreferredOrder = commutative !== undefined && order.swapped !== (commutative === "swapped");
          candidates.push(r);
        }
      }
    }
  }
  const exact = candidates.filter((c) => c.fuzzy === undefined);
  let pool = exact;
  if (pool.length === 0) {
    const fuzzy = candidates.filter((c) => c.fuzzy !== undefined);
    const sizes = new Set(fuzzy.flatMap((c) => c.fuzzy!));
    if (sizes.size > 1) {
      const mem = req.operands.find((o) => o.k === "mem");
      throw new StatementError(mem?.col ?? req.mnemonicCol, "operation size not specified");
    }
    pool = fuzzy;
  }
  if (pool.length === 0) {
    if (soft) throw new StatementError(soft.col, soft.message, soft.size);
    if (repRejected) throw new StatementError(req.repCol, `'${req.mnemonic}' cannot take a rep prefix`);
    const implicit = forms.every((f) => f.implicit);
    if (implicit) {
      throw new StatementError(req.operands[0]?.col ?? req.mnemonicCol, `'${name}' takes no operands`);
    }
    const shape = req.operands.map(describeOperand).join(", ");
    throw new StatementError(
      req.operands[0]?.col ?? req.mnemonicCol,
      `invalid combination of opcode and operands: no form of '${name}' takes (${shape})`,
    );
  }
  let best = pool[0]!;
  for (const c of pool) if (better(c, best)) best = c;
  return Uint8Array.from(best.bytes);
}
