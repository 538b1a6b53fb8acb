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

/** A memory-operand expression reduced to registers with coefficients plus a constant. */
export interface LinearAddress {
  /** Registers in order of first appearance, with their total coefficients. */
  regs: { reg: Register; coef: bigint }[];
  /** The first register that appeared in a multiplication (NASM's "not a base" hint). */
  multiplied: Register | undefined;
  disp: Value;
}

interface Lin {
  regs: { reg: Register; coef: bigint }[];
  multiplied: Register | undefined;
  c: Value;
}

function addLin(a: Lin, b: Lin, sign: bigint, ctx: EvalContext, col: number): Lin {
  const regs = a.regs.map((r) => ({ ...r }));
  for (const r of b.regs) {
    const same = regs.find((x) => x.reg.name === r.reg.name);
    if (same) same.coef += sign * r.coef;
    else regs.push({ reg: r.reg, coef: sign * r.coef });
  }
  const c = sign > 0n ? binary("+", a.c, b.c, col) : binary("-", a.c, b.c, col);
  void ctx;
  return { regs, multiplied: a.multiplied ?? b.multiplied, c };
}

function linear(e: Expr, ctx: EvalContext): Lin {
  const hasReg = (x: Expr): boolean => {
    switch (x.k) {
      case "reg":
        return true;
      case "un":
        return hasReg(x.a);
      case "bin":
        return hasReg(x.a) || hasReg(x.b);
      case "cond":
        return hasReg(x.c) || hasReg(x.a) || hasReg(x.b);
      default:
        return false;
    }
  };
  if (!hasReg(e)) return { regs: [], multiplied: undefined, c: evaluate(e, ctx) };
  switch (e.k) {
    case "reg":
      return { regs: [{ reg: e.reg, coef: 1n }], multiplied: undefined, c: { n: 0n, reloc: 0, unknown: false } };
    case "un":
      if (e.op === "+") return linear(e.a, ctx);
      if (e.op === "-") {
        const a = linear(e.a, ctx);
        return {
          regs: a.regs.map((r) => ({ reg: r.reg, coef: -r.coef })),
          multiplied: a.multiplied,
          c: binary("-", { n: 0n, reloc: 0, unknown: false }, a.c, e.col),
        };
      }
      break;
    case "bin":
      if (e.op === "+" || e.op === "-") {
        return addLin(linear(e.a, ctx), linear(e.b, ctx), e.op === "+" ? 1n : -1n, ctx, e.col);
      }
      if (e.op === "*") {
        const aReg = hasReg(e.a);
        const bReg = hasReg(e.b);
        if (aReg && bReg) break;
        const l = linear(aReg ? e.a : e.b, ctx);
        const k = evaluate(aReg ? e.b : e.a, ctx);
        return {
          regs: l.regs.map((r) => ({ reg: r.reg, coef: r.coef * k.n })),
          multiplied: l.multiplied ?? l.regs[0]?.reg,
          c: binary("*", l.c, k, e.col),
        };
      }
      break;
    default:
      break;
  }
  throw new StatementError(e.col, "invalid effective address: registers can only be added, subtracted or scaled");
}

/** Reduces a memory-operand expression to registers*coefficients + displacement. */
export function linearize(e: Expr, ctx: EvalContext): LinearAddress {
  const l = linear(e, ctx);
  return { regs: l.regs.filter((r) => r.coef !== 0n), multiplied: l.multiplied, disp: l.c };
}
