// The assembler proper: statement parsing (labels, instructions, data and directives), the
// multi-pass layout that sizes branches and displacements like NASM's optimizer, and the output
// (flat binary, symbols, listing, per-line address map, errors).
import type { OpcodeDef } from "../isa/types.js";
import { effectiveAddress, encodeInstruction, InstructionSet, type ResolvedOperand } from "./encoder.js";
import { type AsmError, AsmErrorList, StatementError } from "./errors.js";
import {
  addressVector,
  Cursor,
  describeFound,
  type EvalContext,
  type Expr,
  evaluate,
  parseExpr,
  type Value,
} from "./expr.js";
import type { Token } from "./lexer.js";
import { type PLine, preprocess } from "./preprocess.js";
import { lookupRegister, type Register } from "./registers.js";

export interface AssembleOptions {
  /** Name used in error messages and for resolving %include (default "<source>"). */
  fileName?: string;
  /** Reads an included file (path relative to the including file already resolved). */
  readFile?: (path: string) => string;
  /** Load address when the source has no `org` (default 0). */
  origin?: number;
  /** Predefined single-line macros, as with `nasm -DNAME=value`. */
  defines?: Record<string, string>;
}

/** Where one source line's bytes went (for debuggers). */
export interface AsmLineInfo {
  file: string;
  line: number;
  /** Address of the line's first byte. */
  address: number;
  /** Offset of that byte in `bytes`. */
  offset: number;
  /** Number of bytes the line produced (0 for labels, directives, ...). */
  size: number;
}

export interface AsmResult {
  /** The flat binary image (empty when there are errors). */
  bytes: Uint8Array;
  /** Address of bytes[0]. */
  origin: number;
  /** Labels and equ constants by full name (local labels as "parent.local"), as unsigned 32-bit values. */
  symbols: Map<string, number>;
  /** NASM-like listing: line number, address, bytes, source. */
  listing: string;
  lines: AsmLineInfo[];
  errors: AsmError[];
}

// ---------------------------------------------------------------------------------------------
// Statements.

type OperandAst =
  | { k: "reg"; reg: Register; col: number }
  | {
      k: "imm";
      expr: Expr;
      size: number | undefined;
      strict: boolean;
      jump: "short" | "near" | "far" | undefined;
      col: number;
    }
  | {
      k: "mem";
      expr: Expr;
      size: number | undefined;
      far: boolean;
      nosplit: boolean;
      forceDisp: 8 | 32 | undefined;
      seg: number | undefined;
      col: number;
    }
  | { k: "far"; seg: Expr; off: Expr; col: number };

type DataItem =
  | { k: "expr"; e: Expr }
  | { k: "str"; bytes: number[] }
  | { k: "float"; v: number; col: number }
  | { k: "undef" };

type Body =
  | {
      k: "insn";
      mnem: string;
      mnemCol: number;
      rep: number | undefined;
      repCol: number;
      lock: boolean;
      seg: number | undefined;
      o16: boolean;
      operands: OperandAst[];
    }
  | { k: "data"; unit: number; items: DataItem[]; col: number }
  | { k: "res"; unit: number; count: Expr; col: number }
  | { k: "times"; count: Expr; body: Body; col: number }
  | { k: "align"; n: Expr; fill: Body | undefined; zero: boolean; col: number }
  | { k: "org"; expr: Expr; col: number };

interface Stmt {
  pl: PLine;
  index: number;
  label?: { name: string; col: number };
  equ?: { expr: Expr; col: number };
  body?: Body;
}

const SIZE_WORDS: Record<string, number> = { byte: 8, word: 16, dword: 32, qword: 64, tword: 80, oword: 128 };
const DATA_UNITS: Record<string, number> = { db: 1, dw: 2, dd: 4, dq: 8, dt: 10, do: 16 };
const RES_UNITS: Record<string, number> = { resb: 1, resw: 2, resd: 4, resq: 8, rest: 10, reso: 16 };
const PREFIX_WORDS = new Set(["rep", "repe", "repz", "repne", "repnz", "lock", "o16", "o32", "a32", "a16"]);
const SEG_WORDS = ["es", "cs", "ss", "ds", "fs", "gs"];
const DIRECTIVES = new Set([
  "bits",
  "use16",
  "use32",
  "use64",
  "org",
  "align",
  "alignb",
  "section",
  "segment",
  "global",
  "extern",
  "common",
  "cpu",
  "default",
  "absolute",
  "incbin",
  "times",
  "equ",
  "struc",
  "endstruc",
]);

const setCache = new WeakMap<readonly OpcodeDef[], InstructionSet>();

function instructionSet(table: readonly OpcodeDef[]): InstructionSet {
  let set = setCache.get(table);
  if (!set) {
    set = new InstructionSet(table);
    setCache.set(table, set);
  }
  return set;
}

class Parser {
  readonly stmts: Stmt[] = [];
  readonly errors: AsmError[] = [];
  /** Every symbol defined anywhere, with where (for duplicate and undefined checks). */
  readonly defined = new Map<string, PLine>();
  private scope = "";
  private orgSeen = false;

  constructor(private readonly set: InstructionSet) {}

  /** Errors with the index of their statement (for ordering). */
  readonly errorLines: number[] = [];

  error(pl: PLine, col: number, message: string): void {
    this.errors.push(makeError(pl, col, message));
    this.errorLines.push(this.stmts.length - 1);
  }

  isKeyword(word: string): boolean {
    const w = word.toLowerCase();
    return (
      this.set.has(w) ||
      DIRECTIVES.has(w) ||
      PREFIX_WORDS.has(w) ||
      SEG_WORDS.includes(w) ||
      w in DATA_UNITS ||
      w in RES_UNITS
    );
  }

  /** Full name of a symbol as written: local labels (.x) get the enclosing label's name. */
  resolveName = (name: string): string => {
    if (name.startsWith(".") && !name.startsWith("..")) return this.scope + name;
    return name;
  };

  parseLine(pl: PLine): void {
    const stmt: Stmt = { pl, index: this.stmts.length };
    this.stmts.push(stmt);
    let tokens = pl.tokens;
    if (tokens.length === 0) return;
    // [bits 32], [org 0x7c00], [section .text]: the bracketed "primitive" forms of directives.
    const t0 = tokens[0]!;
    const t1 = tokens[1];
    const last = tokens[tokens.length - 1]!;
    if (
      t0.kind === "op" &&
      t0.text === "[" &&
      t1?.kind === "ident" &&
      DIRECTIVES.has(t1.text.toLowerCase()) &&
      last.kind === "op" &&
      last.text === "]"
    ) {
      tokens = tokens.slice(1, -1);
    }
    const cur = new Cursor(tokens, pl.sourceLine.length + 1);
    try {
      this.parseStatement(stmt, cur);
    } catch (e) {
      if (e instanceof StatementError) {
        this.error(pl, e.column, e.message);
        delete stmt.body;
        delete stmt.equ;
      } else throw e;
    }
  }

  private defineSymbol(stmt: Stmt, name: string, col: number): void {
    const prev = this.defined.get(name);
    if (prev) {
      throw new StatementError(col, `symbol '${name}' is already defined (at ${prev.file}:${prev.line})`);
    }
    this.defined.set(name, stmt.pl);
    stmt.label = { name, col };
  }

  private parseStatement(stmt: Stmt, cur: Cursor): void {
    const first = cur.peek()!;
    // Label or equ.
    if (first.kind === "ident") {
      const word = first.text.toLowerCase();
      const next = cur.peek(1);
      const isReg = !first.escaped && lookupRegister(first.text) !== undefined;
      const colon = next?.kind === "op" && next.text === ":";
      const nextIsEqu = next?.kind === "ident" && next.text.toLowerCase() === "equ";
      const afterColonEqu = colon && cur.peek(2)?.kind === "ident" && cur.peek(2)!.text.toLowerCase() === "equ";
      const bare =
        !colon &&
        !nextIsEqu &&
        (first.escaped || !this.isKeyword(word)) &&
        !isReg &&
        (next === undefined || (next.kind === "ident" && this.isKeyword(next.text)));
      if (!isReg && (colon || nextIsEqu || bare)) {
        const local = first.text.startsWith(".") && !first.text.startsWith("..");
        const name = this.resolveName(first.text);
        cur.next();
        if (colon) cur.next();
        if (nextIsEqu || afterColonEqu) {
          const equTok = cur.next()!;
          if (cur.atEnd()) throw new StatementError(cur.col(), "expression expected after 'equ'");
          const expr = parseExpr(cur, this.resolveName);
          this.expectEnd(cur);
          this.defineSymbol(stmt, name, first.col);
          stmt.equ = { expr, col: equTok.col };
          return;
        }
        this.defineSymbol(stmt, name, first.col);
        if (!local && !first.text.startsWith("..@")) this.scope = first.text;
        if (cur.atEnd()) return;
      } else if (
        !isReg &&
        !first.escaped &&
        !this.isKeyword(word) &&
        next !== undefined &&
        !(next.kind === "op" && next.text === ":")
      ) {
        throw new StatementError(first.col, `unknown instruction '${first.text}'`);
      }
    }
    stmt.body = this.parseBody(cur, stmt);
  }

  private expectEnd(cur: Cursor): void {
    if (!cur.atEnd()) {
      const t = cur.peek()!;
      throw new StatementError(t.col, `unexpected '${t.text}' (expected end of line)`);
    }
  }

  private parseBody(cur: Cursor, stmt: Stmt): Body | undefined {
    const t = cur.peek();
    if (!t) throw new StatementError(cur.col(), "instruction expected");
    if (t.kind !== "ident" || t.escaped) {
      throw new StatementError(t.col, `instruction or directive expected, found '${t.text}'`);
    }
    const word = t.text.toLowerCase();
    if (word === "times") {
      cur.next();
      const count = parseExpr(cur, this.resolveName);
      const body = this.parseBody(cur, stmt);
      if (!body) throw new StatementError(cur.col(), "instruction or data expected after 'times' count");
      if (body.k === "org" || body.k === "align") throw new StatementError(t.col, `'times' cannot repeat '${body.k}'`);
      return { k: "times", count, body, col: t.col };
    }
    if (word in DATA_UNITS) {
      cur.next();
      return this.parseData(cur, DATA_UNITS[word]!, t);
    }
    if (word in RES_UNITS) {
      cur.next();
      const count = parseExpr(cur, this.resolveName);
      this.expectEnd(cur);
      return { k: "res", unit: RES_UNITS[word]!, count, col: t.col };
    }
    if (DIRECTIVES.has(word)) {
      cur.next();
      return this.parseDirective(word, t, cur, stmt);
    }
    return this.parseInstruction(cur);
  }

  private parseDirective(word: string, t: Token, cur: Cursor, stmt: Stmt): Body | undefined {
    switch (word) {
      case "bits": {
        const v = cur.next();
        if (v?.kind !== "num") throw new StatementError(v?.col ?? cur.col(), "'bits' expects 16, 32 or 64");
        this.expectEnd(cur);
        if (v.value !== 32n) throw new StatementError(v.col, `only 32-bit code is supported ('bits ${v.text}')`);
        return undefined;
      }
      case "use32":
        this.expectEnd(cur);
        return undefined;
      case "use16":
      case "use64":
        throw new StatementError(t.col, `only 32-bit code is supported ('${word}')`);
      case "org": {
        const expr = parseExpr(cur, this.resolveName);
        this.expectEnd(cur);
        if (this.orgSeen) throw new StatementError(t.col, "program origin redefined: 'org' may appear only once");
        this.orgSeen = true;
        return { k: "org", expr, col: t.col };
      }
      case "align":
      case "alignb": {
        const n = parseExpr(cur, this.resolveName);
        let fill: Body | undefined;
        if (cur.acceptOp(",")) {
          const ft = cur.peek();
          if (ft?.kind === "ident" && !ft.escaped && this.isKeyword(ft.text)) fill = this.parseBody(cur, stmt);
          else {
            const e = parseExpr(cur, this.resolveName);
            this.expectEnd(cur);
            fill = { k: "data", unit: 1, items: [{ k: "expr", e }], col: ft?.col ?? t.col };
          }
        } else this.expectEnd(cur);
        return { k: "align", n, fill, zero: word === "alignb", col: t.col };
      }
      case "section":
      case "segment": {
        const name = cur.next();
        if (name?.kind !== "ident") throw new StatementError(name?.col ?? cur.col(), "section name expected");
        if (name.text !== ".text") {
          throw new StatementError(
            name.col,
            `only the .text section is supported in flat binary output (found '${name.text}')`,
          );
        }
        while (!cur.atEnd()) cur.next();
        return undefined;
      }
      case "global":
      case "common":
      case "cpu":
      case "default":
        while (!cur.atEnd()) cur.next();
        return undefined;
      case "extern":
        throw new StatementError(t.col, "'extern' is not supported: flat binary output has no linker");
      case "equ":
        throw new StatementError(t.col, "'equ' must follow a label name");
      default:
        throw new StatementError(t.col, `'${word}' is not supported`);
    }
  }

  private parseData(cur: Cursor, unit: number, t: Token): Body {
    const items: DataItem[] = [];
    if (cur.atEnd()) throw new StatementError(cur.col(), `'${t.text}' expects at least one value`);
    for (;;) {
      const a = cur.peek()!;
      const b = cur.peek(1);
      const endsItem = (tok: Token | undefined): boolean =>
        tok === undefined || (tok.kind === "op" && tok.text === ",");
      if (a.kind === "str" && endsItem(b)) {
        cur.next();
        items.push({ k: "str", bytes: a.bytes ?? [] });
      } else if (a.kind === "float" && endsItem(b)) {
        cur.next();
        items.push({ k: "float", v: a.fvalue ?? 0, col: a.col });
      } else if (
        a.kind === "op" &&
        (a.text === "-" || a.text === "+") &&
        b?.kind === "float" &&
        endsItem(cur.peek(2))
      ) {
        cur.next();
        cur.next();
        items.push({ k: "float", v: a.text === "-" ? -(b.fvalue ?? 0) : (b.fvalue ?? 0), col: a.col });
      } else if (a.kind === "op" && a.text === "?" && endsItem(b)) {
        cur.next();
        items.push({ k: "undef" });
      } else {
        items.push({ k: "expr", e: parseExpr(cur, this.resolveName) });
      }
      if (cur.atEnd()) break;
      if (!cur.acceptOp(",")) {
        const bad = cur.peek()!;
        throw new StatementError(bad.col, `expected ',' between values, found '${bad.text}'`);
      }
      if (cur.atEnd()) throw new StatementError(cur.col(), "value expected after ','");
    }
    return { k: "data", unit, items, col: t.col };
  }

  private parseInstruction(cur: Cursor): Body {
    let rep: number | undefined;
    let repCol = 0;
    let lock = false;
    let seg: number | undefined;
    let o16 = false;
    for (;;) {
      const t = cur.peek();
      if (t?.kind !== "ident" || t.escaped) {
        throw new StatementError(
          t?.col ?? cur.col(),
          t ? `instruction expected, found '${t.text}'` : "instruction expected after prefix",
        );
      }
      const w = t.text.toLowerCase();
      if (PREFIX_WORDS.has(w)) {
        cur.next();
        if (w === "lock") lock = true;
        else if (w === "o16") o16 = true;
        else if (w === "a16") throw new StatementError(t.col, "16-bit addressing is not supported ('a16')");
        else if (w === "o32" || w === "a32") {
          // Already the default in 32-bit code.
        } else {
          rep = w === "repne" || w === "repnz" ? 0xf2 : 0xf3;
          repCol = t.col;
        }
        continue;
      }
      const segNum = SEG_WORDS.indexOf(w);
      if (segNum >= 0 && cur.peek(1)?.kind === "ident") {
        cur.next();
        seg = segNum;
        continue;
      }
      break;
    }
    const m = cur.next()!;
    if (!this.set.has(m.text)) throw new StatementError(m.col, `unknown instruction '${m.text}'`);
    const operands: OperandAst[] = [];
    if (!cur.atEnd()) {
      for (;;) {
        operands.push(this.parseOperand(cur));
        if (cur.atEnd()) break;
        if (!cur.acceptOp(",")) {
          const bad = cur.peek()!;
          throw new StatementError(bad.col, `expected ',' between operands, found '${bad.text}'`);
        }
      }
    }
    return { k: "insn", mnem: m.text, mnemCol: m.col, rep, repCol, lock, seg, o16, operands };
  }

  private parseOperand(cur: Cursor): OperandAst {
    const col = cur.col();
    if (cur.atEnd() || cur.isOp(",")) throw new StatementError(col, "operand expected");
    let size: number | undefined;
    let strict = false;
    let jump: "short" | "near" | "far" | undefined;
    for (;;) {
      const t = cur.peek();
      if (t?.kind !== "ident" || t.escaped) break;
      const w = t.text.toLowerCase();
      if (w === "ptr") {
        throw new StatementError(t.col, "'ptr' is not NASM syntax: write 'dword [x]', not 'dword ptr [x]'");
      }
      if (w === "strict") strict = true;
      else if (w in SIZE_WORDS) {
        if (size !== undefined) throw new StatementError(t.col, "more than one size given");
        size = SIZE_WORDS[w];
      } else if (w === "short" || w === "near" || w === "far") jump = w;
      else break;
      cur.next();
    }
    if (cur.isOp("[")) {
      const open = cur.next()!;
      let nosplit = false;
      let forceDisp: 8 | 32 | undefined;
      let seg: number | undefined;
      for (;;) {
        const t = cur.peek();
        if (t?.kind !== "ident" || t.escaped) break;
        const w = t.text.toLowerCase();
        if (w === "nosplit") nosplit = true;
        else if (w === "byte") forceDisp = 8;
        else if (w === "dword") forceDisp = 32;
        else if (w === "word") throw new StatementError(t.col, "16-bit displacements are not supported");
        else if (w === "ptr") {
          throw new StatementError(t.col, "'ptr' is not NASM syntax: write 'dword [x]', not 'dword ptr [x]'");
        } else if (w === "abs") {
          // Absolute addressing is the only kind in 32-bit code.
        } else if (SEG_WORDS.includes(w) && cur.isOp(":", 1)) {
          seg = SEG_WORDS.indexOf(w);
          cur.next();
        } else break;
        cur.next();
      }
      if (cur.isOp("]")) throw new StatementError(cur.col(), "empty memory reference");
      const expr = parseExpr(cur, this.resolveName);
      if (!cur.isOp("]")) {
        throw new StatementError(
          cur.col(),
          `expected ']' to close the memory reference opened at column ${open.col}${describeFound(cur.peek())}`,
        );
      }
      cur.next();
      if (jump === "short") throw new StatementError(col, "'short' cannot qualify a memory operand");
      return { k: "mem", expr, size, far: jump === "far", nosplit, forceDisp, seg, col };
    }
    const t = cur.peek()!;
    if (t.kind === "ident" && !t.escaped) {
      const reg = lookupRegister(t.text);
      const after = cur.peek(1);
      if (reg && (after === undefined || (after.kind === "op" && after.text === ","))) {
        cur.next();
        if (size !== undefined && size !== reg.size) {
          throw new StatementError(col, `mismatch in operand sizes: '${reg.name}' is not ${sizeName(size)}`);
        }
        if (jump !== undefined) throw new StatementError(col, `'${jump}' cannot qualify a register`);
        return { k: "reg", reg, col };
      }
    }
    const expr = parseExpr(cur, this.resolveName);
    if (cur.acceptOp(":")) {
      const off = parseExpr(cur, this.resolveName);
      return { k: "far", seg: expr, off, col };
    }
    return { k: "imm", expr, size, strict, jump, col };
  }
}

function sizeName(bits: number): string {
  return Object.entries(SIZE_WORDS).find(([, v]) => v === bits)?.[0] ?? `${bits}-bit`;
}

function makeError(pl: PLine, col: number, message: string): AsmError {
  return {
    file: pl.file,
    line: pl.line,
    column: col,
    message: pl.macroName ? `${message} (in macro '${pl.macroName}')` : message,
    sourceLine: pl.sourceLine,
  };
}

// ---------------------------------------------------------------------------------------------
// Passes.

interface SymVal {
  value: Value;
}

interface PassResult {
  bytes: number[];
  symbols: Map<string, SymVal>;
  origin: bigint;
  /** Per statement: start offset and byte count. */
  spans: { offset: number; size: number }[];
  sizes: Map<string, number>;
  errors: AsmError[];
  /** Statement index of each error (for ordering). */
  errorLines: number[];
  /** Some expression used a symbol that had no value yet in this pass. */
  sawUnknown: boolean;
}

const MAX_PASSES = 60;
const PESSIMIZE_AFTER = 12;

class Assembly {
  private symbols = new Map<string, SymVal>();
  private prev = new Map<string, SymVal>();
  private final = false;
  private origin = 0n;
  private addr = 0n;
  private out: number[] = [];
  private sizes = new Map<string, number>();
  private readonly history = new Map<string, number[]>();
  private readonly pessimized = new Set<string>();
  private errors: AsmError[] = [];
  private errorLines: number[] = [];
  private sawUnknown = false;

  constructor(
    private readonly set: InstructionSet,
    private readonly parser: Parser,
    private readonly defaultOrigin: bigint,
  ) {}

  run(): PassResult {
    let result: PassResult | undefined;
    let origin = this.defaultOrigin;
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      const r = this.pass(origin, false);
      const stable = result !== undefined && sameSymbols(result.symbols, r.symbols) && r.origin === origin;
      this.recordSizes(r.sizes, pass);
      origin = r.origin;
      result = r;
      // A stable pass that never met an unresolved symbol is exactly what the final pass would be.
      if (stable && !r.sawUnknown) return r;
      if (stable) break;
    }
    return this.pass(origin, true);
  }

  private recordSizes(sizes: Map<string, number>, pass: number): void {
    for (const [key, size] of sizes) {
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = []));
      h.push(size);
      if (pass >= PESSIMIZE_AFTER && h.length >= 2 && h[h.length - 1] !== h[h.length - 2]) this.pessimized.add(key);
    }
  }

  private pass(origin: bigint, final: boolean): PassResult {
    this.prev = this.symbols;
    this.symbols = new Map();
    this.final = final;
    this.origin = origin;
    this.addr = origin;
    this.out = [];
    this.sizes = new Map();
    this.errors = [];
    this.errorLines = [];
    this.sawUnknown = false;
    let newOrigin = origin;
    const spans: { offset: number; size: number }[] = [];
    for (const stmt of this.parser.stmts) {
      const offset = this.out.length;
      try {
        if (stmt.label) {
          if (stmt.equ) {
            const v = this.eval(stmt.equ.expr, this.addr);
            if (final && v.unknown) {
              throw new StatementError(stmt.equ.col, `cannot resolve the value of '${stmt.label.name}'`);
            }
            this.symbols.set(stmt.label.name, { value: v });
          } else {
            this.symbols.set(stmt.label.name, { value: { n: this.addr, reloc: 1, unknown: false } });
          }
        }
        if (stmt.body) {
          if (stmt.body.k === "org") {
            const v = this.eval(stmt.body.expr, this.addr);
            if (final && v.unknown) throw new StatementError(stmt.body.col, "'org' needs a value known in advance");
            if (v.n < 0n || v.n > 0xffffffffn) throw new StatementError(stmt.body.col, "'org' address out of range");
            if (!v.unknown) newOrigin = v.n;
          } else {
            this.emitBody(stmt.body, stmt.index, -1, this.addr);
          }
        }
      } catch (e) {
        if (!(e instanceof StatementError)) throw e;
        this.errors.push(makeError(stmt.pl, e.column, e.message));
        this.errorLines.push(stmt.index);
        this.out.length = offset;
        for (let i = 0; i < e.size; i++) this.out.push(0);
      }
      this.addr = origin + BigInt(this.out.length);
      spans.push({ offset, size: this.out.length - offset });
    }
    return {
      bytes: this.out,
      symbols: this.symbols,
      origin: newOrigin,
      spans,
      sizes: this.sizes,
      errors: this.errors,
      errorLines: this.errorLines,
      sawUnknown: this.sawUnknown,
    };
  }

  private readonly lookup = (name: string, col: number): Value | undefined => {
    const cur = this.symbols.get(name);
    if (cur) {
      if (cur.value.unknown) this.sawUnknown = true;
      return cur.value;
    }
    const prev = this.prev.get(name);
    if (prev && !prev.value.unknown) return prev.value;
    this.sawUnknown = true;
    if (this.final) {
      if (this.parser.defined.has(name)) throw new StatementError(col, `cannot resolve the value of '${name}'`);
      throw new StatementError(col, `undefined symbol '${name}'`);
    }
    return undefined;
  };

  private ctx(here: bigint): EvalContext {
    return { here, start: this.origin, lookup: this.lookup };
  }

  private eval(e: Expr, here: bigint): Value {
    return evaluate(e, this.ctx(here));
  }

  private knownCount(e: Expr, here: bigint, col: number, what: string): number | undefined {
    const v = this.eval(e, here);
    if (v.unknown) {
      if (this.final) throw new StatementError(col, `${what} must be known`);
      return undefined;
    }
    if (v.reloc !== 0) throw new StatementError(col, `${what} must be a number, not an address`);
    if (v.n < 0n) throw new StatementError(col, `${what} is negative (${v.n})`);
    if (v.n > 0x1000000n) throw new StatementError(col, `${what} is too large (${v.n})`);
    return Number(v.n);
  }

  /** Emits one statement body; `key`/`iteration` identify the instance (for the size history). */
  private emitBody(body: Body, key: number, iteration: number, here: bigint): void {
    switch (body.k) {
      case "insn": {
        const start = this.out.length;
        const instance = iteration < 0 ? `${key}` : `${key}:${iteration}`;
        const bytes = encodeInstruction(this.set, {
          mnemonic: body.mnem,
          mnemonicCol: body.mnemCol,
          operands: body.operands.map((o) => this.resolveOperand(o, here)),
          address: this.origin + BigInt(this.out.length),
          rep: body.rep,
          repCol: body.repCol,
          lock: body.lock,
          segPrefix: body.seg,
          forceOpsize16: body.o16,
          pessimize: this.pessimized.has(instance),
        });
        for (const b of bytes) this.out.push(b);
        this.sizes.set(instance, this.out.length - start);
        return;
      }
      case "data":
        this.emitData(body, here);
        return;
      case "res": {
        const n = this.knownCount(body.count, here, body.col, "reserve count") ?? 0;
        for (let i = 0; i < n * body.unit; i++) this.out.push(0);
        return;
      }
      case "times": {
        const n = this.knownCount(body.count, here, body.col, "'times' count") ?? 0;
        for (let i = 0; i < n; i++) this.emitBody(body.body, key, i, here);
        return;
      }
      case "align": {
        const v = this.eval(body.n, here);
        if (v.unknown) {
          if (this.final) throw new StatementError(body.col, "alignment must be known");
          return;
        }
        const n = v.n;
        if (v.reloc !== 0 || n <= 0n || (n & (n - 1n)) !== 0n || n > 0x10000n) {
          throw new StatementError(body.col, `alignment must be a power of two (got ${n})`);
        }
        const offset = here - this.origin;
        const count = Number((n - (offset % n)) % n);
        if (body.fill) {
          for (let i = 0; i < count; i++) this.emitBody(body.fill, key, i, here);
        } else {
          for (let i = 0; i < count; i++) this.out.push(body.zero ? 0 : 0x90);
        }
        return;
      }
      case "org":
        throw new StatementError(body.col, "'org' cannot be used here");
    }
  }

  private emitData(body: Extract<Body, { k: "data" }>, here: bigint): void {
    const unit = body.unit;
    for (const item of body.items) {
      switch (item.k) {
        case "str": {
          for (const b of item.bytes) this.out.push(b);
          const pad = (unit - (item.bytes.length % unit)) % unit;
          for (let i = 0; i < pad; i++) this.out.push(0);
          break;
        }
        case "undef":
          for (let i = 0; i < unit; i++) this.out.push(0);
          break;
        case "float": {
          if (unit !== 4 && unit !== 8) {
            throw new StatementError(item.col, "floating-point values are only supported in dd and dq");
          }
          const dv = new DataView(new ArrayBuffer(8));
          if (unit === 4) dv.setFloat32(0, item.v, true);
          else dv.setFloat64(0, item.v, true);
          for (let i = 0; i < unit; i++) this.out.push(dv.getUint8(i));
          break;
        }
        case "expr": {
          const v = this.eval(item.e, here);
          if (!v.unknown && unit <= 4) {
            const bits = BigInt(unit * 8);
            const min = -(1n << (bits - 1n));
            const max = (1n << bits) - 1n;
            if (v.n < min || v.n > max) {
              throw new StatementError(item.e.col, `value ${v.n} is out of range for ${unit * 8}-bit data`);
            }
          }
          let x = BigInt.asUintN(unit * 8, v.n);
          for (let i = 0; i < unit; i++) {
            this.out.push(Number(x & 0xffn));
            x >>= 8n;
          }
          break;
        }
      }
    }
  }

  private resolveOperand(o: OperandAst, here: bigint): ResolvedOperand {
    switch (o.k) {
      case "reg":
        return o;
      case "imm":
        return { k: "imm", v: this.eval(o.expr, here), size: o.size, strict: o.strict, jump: o.jump, col: o.col };
      case "far":
        return { k: "far", seg: this.eval(o.seg, here), off: this.eval(o.off, here), col: o.col };
      case "mem": {
        const vec = addressVector(o.expr, this.ctx(here));
        const ea = effectiveAddress(vec, { nosplit: o.nosplit, forceDisp: o.forceDisp, seg: o.seg }, o.col);
        return { k: "mem", ea, size: o.size, far: o.far, col: o.col };
      }
    }
  }
}

function sameSymbols(a: Map<string, SymVal>, b: Map<string, SymVal>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.value.n !== v.value.n || w.value.unknown !== v.value.unknown || w.value.reloc !== v.value.reloc) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Listing.

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, "0");
const LIST_BYTES_PER_ROW = 8;
const LIST_MAX_ROWS = 4;

function listing(
  lines: readonly PLine[],
  spans: readonly { offset: number; size: number }[],
  bytes: readonly number[],
  origin: bigint,
): string {
  const rows: string[] = [];
  lines.forEach((pl, i) => {
    const span = spans[i] ?? { offset: 0, size: 0 };
    const marker = pl.includeDepth + pl.macroDepth > 0 ? `<${pl.includeDepth + pl.macroDepth}> ` : "";
    const lineNo = String(pl.line).padStart(6);
    const addr = hex(Number(BigInt.asUintN(32, origin + BigInt(span.offset))), 8);
    if (span.size === 0) {
      const hasCode = pl.tokens.length > 0;
      rows.push(`${lineNo} ${hasCode ? addr : " ".repeat(8)} ${" ".repeat(24)}${marker}${pl.listText}`.trimEnd());
      return;
    }
    const count = Math.ceil(span.size / LIST_BYTES_PER_ROW);
    const shown = count > LIST_MAX_ROWS ? LIST_MAX_ROWS - 1 : count;
    for (let r = 0; r < shown; r++) {
      const from = span.offset + r * LIST_BYTES_PER_ROW;
      const to = Math.min(span.offset + span.size, from + LIST_BYTES_PER_ROW);
      let hexBytes = "";
      for (let k = from; k < to; k++) hexBytes += hex(bytes[k]!, 2);
      const more = to < span.offset + span.size ? "-" : "";
      const rowAddr = hex(Number(BigInt.asUintN(32, origin + BigInt(from))), 8);
      if (r === 0) rows.push(`${lineNo} ${rowAddr} ${(hexBytes + more).padEnd(24)}${marker}${pl.listText}`.trimEnd());
      else rows.push(`${lineNo} ${rowAddr} ${hexBytes + more}`);
    }
    if (shown < count) rows.push(`${lineNo} ${" ".repeat(8)} <${span.size} bytes in all>`);
  });
  return `${rows.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/** Assembles NASM-style 32-bit source with the given opcode table. Never throws for mistakes in the source. */
export function assembleWith(table: readonly OpcodeDef[], source: string, options: AssembleOptions = {}): AsmResult {
  const set = instructionSet(table);
  const fileName = options.fileName ?? "<source>";
  const ppOpts: Parameters<typeof preprocess>[1] = { fileName };
  if (options.readFile) ppOpts.readFile = options.readFile;
  if (options.defines) ppOpts.defines = options.defines;
  const pp = preprocess(source, ppOpts);
  const parser = new Parser(set);
  for (const pl of pp.lines) parser.parseLine(pl);
  const asm = new Assembly(set, parser, BigInt(options.origin ?? 0));
  const result = asm.run();

  // All errors, in source order (the preprocessor's first on a line, then the parser's, then the passes').
  const ordered = [
    ...pp.errors.map((e, i) => ({ e, at: pp.errorLines[i]!, phase: 0 })),
    ...parser.errors.map((e, i) => ({ e, at: parser.errorLines[i]!, phase: 1 })),
    ...result.errors.map((e, i) => ({ e, at: result.errorLines[i]!, phase: 2 })),
  ];
  ordered.sort((a, b) => a.at - b.at || a.phase - b.phase);
  const errors = ordered.map((o) => o.e);
  const origin = Number(result.origin);
  const symbols = new Map<string, number>();
  for (const [name, v] of result.symbols) {
    if (!name.startsWith("..@")) symbols.set(name, Number(BigInt.asUintN(32, v.value.n)));
  }
  const lines: AsmLineInfo[] = [];
  pp.lines.forEach((pl, i) => {
    const span = result.spans[i];
    if (!span || pl.tokens.length === 0) return;
    lines.push({
      file: pl.file,
      line: pl.line,
      address: Number(BigInt.asUintN(32, result.origin + BigInt(span.offset))),
      offset: span.offset,
      size: span.size,
    });
  });
  return {
    bytes: errors.length > 0 ? new Uint8Array(0) : Uint8Array.from(result.bytes),
    origin,
    symbols,
    listing: listing(pp.lines, result.spans, result.bytes, result.origin),
    lines,
    errors,
  };
}

/** Like assembleWith, but throws an AsmErrorList (whose message lists every error) when there are errors. */
export function assembleWithOrThrow(
  table: readonly OpcodeDef[],
  source: string,
  options: AssembleOptions = {},
): AsmResult {
  const r = assembleWith(table, source, options);
  if (r.errors.length > 0) throw new AsmErrorList(r.errors);
  return r;
}
