// Types of the one opcode table (isa/opcodes.ts). Each row is one instruction form as the Intel SDM
// opcode map lists it; the decoder, the interpreter, the disassembler and the assembler all read it.
import type { CostClass } from "../cost-model.js";
import type { Cpu } from "../cpu/cpu.js";
import type { Insn } from "./insn.js";

/** An instruction's semantics: runs with cpu.eip already pointing past the instruction. */
export type Handler = (cpu: Cpu, insn: Insn) => void;

/**
 * An instruction's semantics as JavaScript source, for the block compiler (block-compiler.ts): the
 * handler's body with this decoded instance's fields (registers, displacement, immediate) as constants.
 * It must leave exactly the state the handler leaves. Null: the compiled block calls the handler.
 */
export type Inliner = (insn: Insn) => InlineCode | null;

export interface InlineCode {
  /** Statements over `c` (the Cpu) and `r` (c.regs); EIP is as the handler would see it. */
  code: string;
  /** May raise a fault or a VM exit (memory operands): the block records which instruction runs first. */
  mayFault: boolean;
  /** May write memory, so the block itself may have been overwritten (self-modifying code). */
  writes: boolean;
}

/** Handlers for the two operand sizes of a "v"/"z" form (w = 0x66 prefix, d = default 32-bit). */
export interface SizedHandler {
  w: Handler;
  d: Handler;
}

/**
 * Operand notation of the Intel SDM, Vol. 2, Appendix A (opcode map), with a few additions:
 *   E? ModRM r/m (register or memory)     G? ModRM.reg general register
 *   M  ModRM memory only (Mp far pointer, Ms pseudo-descriptor)   R? ModRM.rm register only
 *   I? immediate (Ib, Iw, Iz = 16/32 by operand size)   Ibs sign-extended imm8 (opcode 83, 6B, 6A)
 *   J? relative branch target (Jb, Jz)     O? moffs (absolute address, no ModRM)
 *   Sw segment register in ModRM.reg       Cd control register in ModRM.reg
 *   Ap direct far pointer ptr16:32         Z? register coded in the opcode's low three bits (+r)
 *   X? DS:[ESI]   Y? ES:[EDI] (string operands)
 *   fixed registers: AL, CL, DX, eAX (AX or EAX), segment registers ES..GS, and the constant 1 (shift by one)
 * Size suffixes: b byte, w word, d dword, v 16 or 32 by operand size.
 */
export type OperandKind =
  | "Eb"
  | "Ew"
  | "Ed"
  | "Ev"
  | "Gb"
  | "Gw"
  | "Gd"
  | "Gv"
  | "M"
  | "Mp"
  | "Ms"
  | "Mq"
  | "Rd"
  | "Ib"
  | "Iw"
  | "Iz"
  | "Ibs"
  | "Jb"
  | "Jz"
  | "Ob"
  | "Ov"
  | "Sw"
  | "Cd"
  | "Ap"
  | "Zb"
  | "Zv"
  | "Xb"
  | "Xv"
  | "Yb"
  | "Yv"
  | "AL"
  | "CL"
  | "DX"
  | "eAX"
  | "ES"
  | "CS"
  | "SS"
  | "DS"
  | "FS"
  | "GS"
  | "1";

/**
 * How GNU objdump (-M intel) prints a form, where the mnemonic and operand kinds do not already say it.
 * Only the disassembler reads this.
 */
export interface ObjdumpStyle {
  /** The mnemonic objdump prints: "pusha" for PUSHAD, "movs" for MOVSD, { w: "retw", d: "ret" } for RET. */
  name?: string | { w: string; d: string };
  /** Size keyword of an "M" operand (INVLPG prints BYTE PTR); none by default (LEA). */
  ptr?: string;
  /** A near branch: F2 prints as "bnd" (MPX), 3E on the indirect forms as "notrack" (CET). */
  nearBranch?: boolean;
  /**
   * HLE (TSX) hints on a memory destination: F2/F3 print as "xacquire"/"xrelease" when a LOCK prefix is
   * present ("lock": the lockable read-modify-write forms), always ("always": XCHG), or F3 only,
   * always ("release": MOV to memory).
   */
  hle?: "lock" | "always" | "release";
}

/** A mandatory or allowed prefix attached to a form. */
export type RepKind = "none" | "rep" | "repe-repne";

export interface OpcodeDef {
  /** Intel mnemonic, lower case. When the name depends on operand size: { w: "cbw", d: "cwde" }. */
  mnemonic: string | { w: string; d: string };
  /** Opcode: one byte (0x01), or two bytes with the 0x0F escape (0x0FAF). */
  opcode: number;
  /** ModRM.reg opcode extension (the SDM's /digit), for group opcodes. */
  ext?: number;
  /** When the form only exists for one ModRM.mod kind ("mem": mod != 3, "reg": mod == 3). */
  mod?: "mem" | "reg";
  /** A fixed full ModRM byte (e.g. 0F 01 C1 VMCALL). */
  modrm?: number;
  /** A mandatory prefix that selects this form (e.g. 0x66 or 0xF3 for some VMX instructions). */
  mandatoryPrefix?: number;
  /** Operands in Intel order (destination first). */
  operands: readonly OperandKind[];
  /** Which REP prefixes the form accepts (string instructions). */
  rep?: RepKind;
  /** Semantics. A SizedHandler for forms with v/z operands. */
  exec: Handler | SizedHandler;
  /** JavaScript source of the semantics for compiled blocks (the hottest forms only). */
  inline?: Inliner;
  /** Cost class in the cost model. */
  cost: CostClass;
  /** Ends a decoded block: control transfers, and anything that may change mode, paging or stop the run. */
  endsBlock?: boolean;
  /** Ends its block only when this holds for the decoded instance (MOV Sreg: a load of SS). */
  endsBlockIf?: (insn: Insn) => boolean;
  /**
   * A conditional near branch (Jcc) on this condition code (0-15, as in the opcode's low nibble). One
   * that branches forward does not end its block: taken, it leaves the block there (a side exit). One
   * that branches backward, usually a loop's, ends its block.
   */
  condition?: number;
  /**
   * Sets a one-instruction interrupt shadow (STI): its block goes on to the next instruction, which the
   * shadow covers, and ends after it (no interrupt is taken inside a block, as none may be inside the
   * shadow). The covered instruction's handler ends the shadow when it completes (block-cache.ts).
   */
  shadow?: boolean;
  /**
   * The handler the form runs with when it is not the last of its block, instead of exec: it may leave
   * the block after itself (cpu.leftBlock, EIP where it goes on). A forward Jcc leaves it when taken
   * (sideExitJcc); POPF goes on in its block unless it set TF or IF, whose effects the run loop must see
   * at once.
   */
  inBlock?: Handler | SizedHandler;
  /**
   * Assembler preference when several forms match the same operands: lower wins; ties go to the
   * shorter encoding, then to table order (mirrors what NASM picks).
   */
  asmRank?: number;
  /** The form is accepted by the decoder but the assembler never picks it (e.g. 82 aliases). */
  decodeOnly?: boolean;
  /** A 66, F2 or F3 prefix makes the form undefined (#UD), e.g. VMREAD/VMWRITE. */
  noPrefix?: boolean;
  /**
   * The E operand is the SDM's Rv/Mw: a register sized by the operand size, or always a word in memory
   * (MOV to/from Sreg, SLDT, STR). The assembler then takes `sldt ax` with 66 and `sldt eax` without, and
   * never prefixes the memory form, as NASM does.
   */
  rvMw?: boolean;
  /** Display details for the disassembler, which prints what `objdump -d -M intel` prints. */
  objdump?: ObjdumpStyle;
}
