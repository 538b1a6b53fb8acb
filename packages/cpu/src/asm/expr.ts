// Expressions: parsing (NASM operators and precedence) and evaluation with 64-bit integer semantics.
// A value remembers how many label addresses it contains ("reloc"), as NASM does: a label is an
// address, the difference of two labels is a plain number. The assembler uses this to choose
// encodings the way NASM does (no sign-extended imm8 or disp8 for addresses, no short jumps to
// absolute numbers).
import { StatementError } from "./errors.js";
import type { Token } from "./lexer.js";
import { lookupRegister, type Register } from "./registers.js";

export type Expr =
  | { k: "num"; v: bigint; col: number }
  | { k: "float"; v: number; col: number }
  | { k: "str"; bytes: number[]; col: number }
  | { k: "sym"; name: string; col: number }
  | { k: "here"; col: number }
  | { k: "start"; col: number }
  | { k: "reg"; reg: Register; col: number }
  | { k: "un"; op: string; a: Expr; col: number }
  | { k: "bin"; op: string; a: Expr; b: Expr; col: number }
  | { k: "cond"; c: Expr; a: Expr; b: Expr; col: number };

/** A token cursor shared by the statement and expression parsers. */
export class Cursor {
  readonly tokens: readonly Token[];
  pos = 0;
  /** Column used for "end of line" errors. */
  readonly endCol: number;

  constructor(tokens: readonly Token[], endCol: number) {
    this.tokens = tokens;
    this.endCol = endCol;
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset];
  }

  next(): Token | undefined {
    const t = this.tokens[this.pos];
    if (t) this.pos++;
    return t;
  }

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }

  /** Column of the current token, or the end-of-line column. */
  col(): number {
    return this.peek()?.col ?? this.endCol;
  }

  isOp(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t !== undefined && t.kind === "op" && t.text === text;
  }

  acceptOp(text: string): boolean {
    if (this.isOp(text)) {
      this.pos++;
      return true;
    }
    return false;
  }

  expectOp(text: string, what?: string): Token {
    const t = this.peek();
    if (t?.kind !== "op" || t.text !== text) {
      throw new StatementError(this.col(), `expected '${text}'${what ? ` ${what}` : ""}${describeFound(t)}`);
    }
    this.pos++;
    return t;
  }
}

export function describeFound(t: Token | undefined): string {
  if (!t) return " at end of line";
  return ` before '${t.text}'`;
}

/** Resolves a symbol name as written to its full name (local labels get their scope prefixed). */
export type NameResolver = (name: string, col: number) => string;

const BINARY_LEVELS: readonly (readonly string[])[] = [
  ["||"],
  ["^^"],
  ["&&"],
  ["==", "=", "!=", "<>", "<", "<=", ">", ">="],
  ["|"],
  ["^"],
  ["&"],
  ["<<", ">>", "<<<", ">>>"],
  ["+", "-"],
  ["*", "/", "//", "%", "%%"],
];

/** Parses an expression at the cursor. */
export function parseExpr(cur: Cursor, resolve: NameResolver): Expr {
  return parseCond(cur, resolve);
}

function parseCond(cur: Cursor, resolve: NameResolver): Expr {
  const c = parseBinary(cur, resolve, 0);
  if (cur.isOp("?")) {
    const col = cur.next()!.col;
    const a = parseCond(cur, resolve);
    cur.expectOp(":", "in conditional expression");
    const b = parseCond(cur, resolve);
    return { k: "cond", c, a, b, col };
  }
  return c;
}

function parseBinary(cur: Cursor, resolve: NameResolver, level: number): Expr {
  if (level >= BINARY_LEVELS.length) return parseUnary(cur, resolve);
  const ops = BINARY_LEVELS[level]!;
  let a = parseBinary(cur, resolve, level + 1);
  for (;;) {
    const t = cur.peek();
    if (t?.kind !== "op" || !ops.includes(t.text)) return a;
    cur.next();
    const b = parseBinary(cur, resolve, level + 1);
    a = { k: "bin", op: t.text, a, b, col: t.col };
  }
}

function parseUnary(cur: Cursor, resolve: NameResolver): Expr {
  const t = cur.peek();
  if (t && t.kind === "op" && (t.text === "-" || t.text === "+" || t.text === "~" || t.text === "!")) {
    cur.next();
    const a = parseUnary(cur, resolve);
    return { k: "un", op: t.text, a, col: t.col };
  }
  return parsePrimary(cur, resolve);
}

function parsePrimary(cur: Cursor, resolve: NameResolver): Expr {
  const t = cur.peek();
  if (!t) throw new StatementError(cur.endCol, "expression expected at end of line");
  switch (t.kind) {
    case "num":
      cur.next();
      return { k: "num", v: t.value ?? 0n, col: t.col };
    case "float":
      cur.next();
      return { k: "float", v: t.fvalue ?? 0, col: t.col };
    case "str":
      cur.next();
      return { k: "str", bytes: t.bytes ?? [], col: t.col };
    case "ident": {
      cur.next();
      if (!t.escaped) {
        const reg = lookupRegister(t.text);
        if (reg) return { k: "reg", reg, col: t.col };
        if (isReservedWord(t.text)) {
          throw new StatementError(t.col, `unexpected keyword '${t.text}' in expression`);
        }
      }
      return { k: "sym", name: resolve(t.text, t.col), col: t.col };
    }
    case "op":
      if (t.text === "(") {
        cur.next();
        const e = parseExpr(cur, resolve);
        cur.expectOp(")", "to close '('");
        return e;
      }
      if (t.text === "$") {
        cur.next();
        return { k: "here", col: t.col };
      }
      if (t.text === "$$") {
        cur.next();
        return { k: "start", col: t.col };
      }
      break;
    default:
      break;
  }
  throw new StatementError(t.col, `expression expected, found '${t.text}'`);
}

const RESERVED = new Set([
  "byte",
  "word",
  "dword",
  "qword",
  "tword",
  "oword",
  "ptr",
  "short",
  "near",
  "far",
  "strict",
  "nosplit",
  "seg",
  "wrt",
]);

function isReservedWord(name: string): boolean {
  return RESERVED.has(name.toLowerCase());
}

/** The value of an expression. */
export interface Value {
  /** Signed 64-bit result. */
  n: bigint;
  /** Number of label addresses in the value (1 for an address, 0 for a plain number). */
  reloc: number;
  /** The value depends on a symbol not yet defined in this pass. */
  unknown: boolean;
}

export interface EvalContext {
  /** Value of a symbol (full name), or undefined when it has no value in this pass. */
  lookup(name: string, col: number): Value | undefined;
  /** Address of the current statement ($). */
  here: bigint;
  /** Address of the start of the section ($$). */
  start: bigint;
}

const wrap = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const bool = (b: boolean): bigint => (b ? 1n : 0n);

/** Little-endian value of a character constant ('ab' = 0x6261). */
export function charConstant(bytes: readonly number[], col: number): bigint {
  if (bytes.length > 8) throw new StatementError(col, "character constant too long");
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return wrap(v);
}

/** Evaluates an expression (no registers allowed). */
export function evaluate(e: Expr, ctx: EvalContext): Value {
  switch (e.k) {
    case "num":
      return { n: wrap(e.v), reloc: 0, unknown: false };
    case "float":
      throw new StatementError(e.col, "floating-point constant not allowed here");
    case "str":
      return { n: charConstant(e.bytes, e.col), reloc: 0, unknown: false };
    case "sym": {
      const v = ctx.lookup(e.name, e.col);
      return v ?? { n: 0n, reloc: 0, unknown: true };
    }
    case "here":
      return { n: ctx.here, reloc: 1, unknown: false };
    case "start":
      return { n: ctx.start, reloc: 1, unknown: false };
    case "reg":
      throw new StatementError(e.col, `register '${e.reg.name}' not allowed in this expression`);
    case "un": {
      const a = evaluate(e.a, ctx);
      switch (e.op) {
        case "-":
          return { n: wrap(-a.n), reloc: -a.reloc, unknown: a.unknown };
        case "+":
          return a;
        case "~":
          return { n: wrap(~a.n), reloc: 0, unknown: a.unknown };
        default:
          return { n: bool(a.n === 0n), reloc: 0, unknown: a.unknown };
      }
    }
    case "cond": {
      const c = evaluate(e.c, ctx);
      const a = evaluate(e.a, ctx);
      const b = evaluate(e.b, ctx);
      const r = c.n !== 0n ? a : b;
      return { ...r, unknown: c.unknown || r.unknown };
    }
    case "bin":
      return binary(e.op, evaluate(e.a, ctx), evaluate(e.b, ctx), e.col);
  }
}

function binary(op: string, a: Value, b: Value, col: number): Value {
  const unknown = a.unknown || b.unknown;
  const plain = (n: bigint): Value => ({ n: wrap(n), reloc: 0, unknown });
  switch (op) {
    case "+":
      return { n: wrap(a.n + b.n), reloc: a.reloc + b.reloc, unknown };
    case "-":
      return { n: wrap(a.n - b.n), reloc: a.reloc - b.reloc, unknown };
    case "*":
      if (a.reloc !== 0 && b.reloc !== 0 && !unknown) {
        throw new StatementError(col, "cannot multiply two addresses");
      }
      return { n: wrap(a.n * b.n), reloc: a.reloc * Number(b.n) + b.reloc * Number(a.n), unknown };
    case "/":
    case "//":
    case "%":
    case "%%": {
      if (b.n === 0n) {
        if (unknown) return plain(0n);
        throw new StatementError(col, "division by zero");
      }
      if (op === "/") return plain(u64(a.n) / u64(b.n));
      if (op === "%") return plain(u64(a.n) % u64(b.n));
      if (op === "//") return plain(a.n / b.n);
      return plain(a.n % b.n);
    }
    case "<<":
    case "<<<":
      return plain(b.n >= 64n || b.n < 0n ? 0n : a.n << b.n);
    case ">>":
      return plain(b.n >= 64n || b.n < 0n ? 0n : u64(a.n) >> b.n);
    case ">>>":
      return plain(a.n >> (b.n >= 64n || b.n < 0n ? 63n : b.n));
    case "&":
      return plain(a.n & b.n);
    case "|":
      return plain(a.n | b.n);
    case "^":
      return plain(a.n ^ b.n);
    case "&&":
      return plain(bool(a.n !== 0n && b.n !== 0n));
    case "||":
      return plain(bool(a.n !== 0n || b.n !== 0n));
    case "^^":
      return plain(bool((a.n !== 0n) !== (b.n !== 0n)));
    case "==":
    case "=":
      return plain(bool(a.n === b.n));
    case "!=":
    case "<>":
      return plain(bool(a.n !== b.n));
    case "<":
      return plain(bool(a.n < b.n));
    case "<=":
      return plain(bool(a.n <= b.n));
    case ">":
      return plain(bool(a.n > b.n));
    case ">=":
      return plain(bool(a.n >= b.n));
    default:
      throw new StatementError(col, `unknown operator '${op}'`);
  }
}

// ---------------------------------------------------------------------------------------------
// Memory operands. NASM evaluates an address to a vector of terms kept in its internal type order
// (registers by name, then the plain number, then label bases) and remembers a "hint": the first
// register written is meant as the base, unless it was multiplied; the hint is lost as soon as two
// terms of the same type are summed (e.g. [ecx+eax+6-1]). Base and index follow from both, so we
// reproduce the vector and the hint.

/** NASM's base-register hint. */
export interface EaHint {
  type: "none" | "makebase" | "notbase" | "summed";
  reg: Register | undefined;
}

/** A memory operand's address as NASM sees it. */
export interface AddressVector {
  /** Registers with non-zero coefficients, in NASM's order (by name). */
  regs: { reg: Register; coef: bigint }[];
  hint: EaHint;
  disp: Value;
}

/** A vector term: a register, the plain number ("S") or the section base of labels ("B"). */
interface Term {
  reg: Register | undefined;
  kind: "R" | "S" | "B";
  value: bigint;
}

function termOrder(a: Term, b: Term): number {
  const rank = (t: Term): number => (t.kind === "R" ? 0 : t.kind === "S" ? 1 : 2);
  const d = rank(a) - rank(b);
  if (d !== 0 || a.kind !== "R") return d;
  return a.reg!.name < b.reg!.name ? -1 : a.reg!.name > b.reg!.name ? 1 : 0;
}

class VectorEval {
  readonly hint: EaHint = { type: "none", reg: undefined };
  unknown = false;

  constructor(private readonly ctx: EvalContext) {}

  private simple(n: bigint): Term[] {
    return [{ reg: undefined, kind: "S", value: wrap(n) }];
  }

  private fromValue(v: Value): Term[] {
    if (v.unknown) this.unknown = true;
    if (v.reloc === 0) return this.simple(v.n);
    return [
      { reg: undefined, kind: "S", value: wrap(v.n - BigInt(v.reloc) * this.ctx.start) },
      { reg: undefined, kind: "B", value: BigInt(v.reloc) },
    ];
  }

  toValue(vec: readonly Term[]): Value {
    let n = 0n;
    let reloc = 0;
    for (const t of vec) {
      if (t.kind === "S") n += t.value;
      else if (t.kind === "B") reloc += Number(t.value);
    }
    return { n: wrap(n + BigInt(reloc) * this.ctx.start), reloc, unknown: this.unknown };
  }

  /** Only a plain number (NASM's is_simple). */
  private isSimple(vec: readonly Term[]): boolean {
    return vec.every((t) => t.kind === "S" || t.value === 0n);
  }

  private simpleValue(vec: readonly Term[]): bigint {
    return vec.find((t) => t.kind === "S")?.value ?? 0n;
  }

  private add(p: readonly Term[], q: readonly Term[]): Term[] {
    const preserve = this.isSimple(p) || this.isSimple(q);
    const out: Term[] = [];
    let i = 0;
    let j = 0;
    while (i < p.length && j < q.length) {
      const c = termOrder(p[i]!, q[j]!);
      if (c > 0) out.push(q[j++]!);
      else if (c < 0) out.push(p[i++]!);
      else {
        const sum = wrap(p[i]!.value + q[j]!.value);
        if (sum !== 0n) {
          out.push({ ...p[i]!, value: sum });
          this.hint.type = "summed";
        }
        i++;
        j++;
      }
    }
    for (; i < p.length; i++) if (preserve || p[i]!.value !== 0n) out.push(p[i]!);
    for (; j < q.length; j++) if (preserve || q[j]!.value !== 0n) out.push(q[j]!);
    return out;
  }

  private scale(vec: readonly Term[], k: bigint, affectHint: boolean): Term[] {
    return vec.map((t) => {
      if (affectHint && this.hint.type === "makebase" && t.kind === "R" && t.reg === this.hint.reg) {
        this.hint.type = "notbase";
      }
      return { ...t, value: wrap(t.value * k) };
    });
  }

  private scalar(e: Expr, vec: readonly Term[]): Value {
    if (vec.some((t) => t.kind === "R" && t.value !== 0n)) {
      throw new StatementError(e.col, "invalid effective address: registers can only be added, subtracted or scaled");
    }
    return this.toValue(vec);
  }

  eval(e: Expr): Term[] {
    switch (e.k) {
      case "reg":
        if (this.hint.type === "none") {
          this.hint.type = "makebase";
          this.hint.reg = e.reg;
        }
        return [{ reg: e.reg, kind: "R", value: 1n }];
      case "un": {
        const a = this.eval(e.a);
        if (e.op === "+") return a;
        if (e.op === "-") return this.scale(a, -1n, false);
        const v = this.scalar(e.a, a);
        return this.fromValue(
          evaluate({ k: "un", op: e.op, a: { k: "num", v: v.n, col: e.col }, col: e.col }, this.ctx),
        );
      }
      case "bin": {
        const a = this.eval(e.a);
        const b = this.eval(e.b);
        if (e.op === "+") return this.add(a, b);
        if (e.op === "-") return this.add(a, this.scale(b, -1n, false));
        if (e.op === "*") {
          if (this.isSimple(a)) return this.scale(b, this.simpleValue(a), true);
          if (this.isSimple(b)) return this.scale(a, this.simpleValue(b), true);
          if (a.some((t) => t.kind === "R") || b.some((t) => t.kind === "R")) {
            throw new StatementError(e.col, "invalid effective address: only one register can be scaled");
          }
        }
        return this.fromValue(binary(e.op, this.scalar(e.a, a), this.scalar(e.b, b), e.col));
      }
      case "cond": {
        const c = this.scalar(e.c, this.eval(e.c));
        const a = this.eval(e.a);
        const b = this.eval(e.b);
        return c.n !== 0n ? a : b;
      }
      default:
        return this.fromValue(evaluate(e, this.ctx));
    }
  }
}

/** Evaluates a memory operand's expression the way NASM does (see AddressVector). */
export function addressVector(e: Expr, ctx: EvalContext): AddressVector {
  const ev = new VectorEval(ctx);
  const vec = ev.eval(e);
  const regs = vec.filter((t) => t.kind === "R" && t.value !== 0n).map((t) => ({ reg: t.reg!, coef: t.value }));
  return { regs, hint: { ...ev.hint }, disp: ev.toValue(vec) };
}
