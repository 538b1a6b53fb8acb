// Tokenizer for one source line of NASM-style assembly.

export type TokenKind =
  /** Identifier, keyword, register or mnemonic. `escaped` is set for `$name`. */
  | "ident"
  /** Integer literal (value) or character constant handled as a string. */
  | "num"
  /** Floating-point literal (only meaningful in dd/dq). */
  | "float"
  /** Quoted string: bytes hold the decoded contents. */
  | "str"
  /** Operator or punctuation. */
  | "op"
  /** Macro parameter reference: %1, %2, ... %0 (text holds the digits). */
  | "mparam"
  /** Macro-local label: %%name (text holds the name without %%). */
  | "mlocal"
  /** Preprocessor keyword: %define, %include, ... (text lower-cased, with the %). */
  | "ppdir";

export interface Token {
  kind: TokenKind;
  /** Source text of the token (for ppdir: lower-cased). */
  text: string;
  /** 1-based column of the token's first character. */
  col: number;
  /** Integer value of a num token. */
  value?: bigint;
  /** Value of a float token. */
  fvalue?: number;
  /** Decoded bytes of a str token. */
  bytes?: number[];
  /** The identifier was written with a leading `$` (never a register or keyword). */
  escaped?: boolean;
  /** Whitespace precedes the token. */
  spaceBefore: boolean;
}

export interface LexError {
  col: number;
  message: string;
}

export interface LexedLine {
  tokens: Token[];
  errors: LexError[];
}

const OPERATORS = [
  "<<<",
  ">>>",
  "<<",
  ">>",
  "//",
  "%%",
  "==",
  "!=",
  "<>",
  "<=",
  ">=",
  "&&",
  "||",
  "^^",
  "+",
  "-",
  "*",
  "/",
  "%",
  "&",
  "|",
  "^",
  "~",
  "!",
  "(",
  ")",
  "[",
  "]",
  ",",
  ":",
  "<",
  ">",
  "=",
  "?",
  "{",
  "}",
];

const IDENT_START = /[A-Za-z_.?]/;
const IDENT_CHAR = /[A-Za-z0-9_$#@~.?]/;

export function isIdentStart(ch: string | undefined): boolean {
  return ch !== undefined && IDENT_START.test(ch);
}

function isIdentChar(ch: string | undefined): boolean {
  return ch !== undefined && IDENT_CHAR.test(ch);
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "9";
}

const DIGITS: Record<number, RegExp> = {
  2: /^[01]+$/,
  8: /^[0-7]+$/,
  10: /^[0-9]+$/,
  16: /^[0-9a-fA-F]+$/,
};

function radixOf(letter: string): number | undefined {
  switch (letter.toLowerCase()) {
    case "x":
    case "h":
      return 16;
    case "o":
    case "q":
      return 8;
    case "b":
    case "y":
      return 2;
    case "d":
    case "t":
      return 10;
    default:
      return undefined;
  }
}

function digitsValue(digits: string, radix: number): bigint | undefined {
  if (!DIGITS[radix]!.test(digits)) return undefined;
  let v = 0n;
  const r = BigInt(radix);
  for (const ch of digits) v = v * r + BigInt(Number.parseInt(ch, radix));
  return v;
}

/** Parses a NASM integer literal (123, 0x1F, 1Fh, 0b101, 101b, 0o17, 17q, 0d19, 1_000). */
export function parseInteger(text: string): bigint | undefined {
  const t = text.replace(/_/g, "");
  if (t.length === 0) return undefined;
  if (t.length > 2 && t[0] === "0") {
    const radix = radixOf(t[1]!);
    if (radix !== undefined) {
      const v = digitsValue(t.slice(2), radix);
      if (v !== undefined) return v;
    }
  }
  if (t.length > 1) {
    const radix = radixOf(t[t.length - 1]!);
    if (radix !== undefined) {
      const v = digitsValue(t.slice(0, -1), radix);
      if (v !== undefined) return v;
    }
  }
  return digitsValue(t, 10);
}

function utf8(codePoint: number, out: number[]): void {
  const s = String.fromCodePoint(codePoint);
  for (const b of new TextEncoder().encode(s)) out.push(b);
}

/** Decodes the body of a backquoted string (C-style escapes). Returns an error message on failure. */
function decodeBackquoted(body: string, out: number[]): string | undefined {
  for (let i = 0; i < body.length; ) {
    const cp = body.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (ch !== "\\") {
      utf8(cp, out);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    switch (e) {
      case "'":
      case '"':
      case "`":
      case "\\":
      case "?":
        out.push(e.charCodeAt(0));
        break;
      case "a":
        out.push(7);
        break;
      case "b":
        out.push(8);
        break;
      case "t":
        out.push(9);
        break;
      case "n":
        out.push(10);
        break;
      case "v":
        out.push(11);
        break;
      case "f":
        out.push(12);
        break;
      case "r":
        out.push(13);
        break;
      case "e":
        out.push(27);
        break;
      case "x": {
        const m = /^[0-9a-fA-F]{1,2}/.exec(body.slice(i));
        if (!m) return "\\x escape needs hexadecimal digits";
        out.push(Number.parseInt(m[0], 16));
        i += m[0].length;
        break;
      }
      case "u":
      case "U": {
        const n = e === "u" ? 4 : 8;
        const m = new RegExp(`^[0-9a-fA-F]{${n}}`).exec(body.slice(i));
        if (!m) return `\\${e} escape needs ${n} hexadecimal digits`;
        const code = Number.parseInt(m[0], 16);
        if (code > 0x10ffff) return `\\${e} escape out of range`;
        utf8(code, out);
        i += n;
        break;
      }
      default: {
        if (e !== undefined && e >= "0" && e <= "7") {
          const m = /^[0-7]{1,3}/.exec(body.slice(i - 1))!;
          out.push(Number.parseInt(m[0], 8) & 0xff);
          i += m[0].length - 1;
          break;
        }
        if (e === undefined) return "backslash at end of string";
        return `unknown escape sequence '\\${e}'`;
      }
    }
  }
  return undefined;
}

/** Tokenizes one line. A `;` outside a string starts a comment. */
export function lexLine(line: string): LexedLine {
  const tokens: Token[] = [];
  const errors: LexError[] = [];
  let i = 0;
  let space = true;
  const n = line.length;
  while (i < n) {
    const ch = line[i]!;
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\f" || ch === "\v") {
      i++;
      space = true;
      continue;
    }
    if (ch === ";") break;
    const col = i + 1;
    const push = (t: Omit<Token, "col" | "spaceBefore">): void => {
      const tok = t as Token;
      tok.col = col;
      tok.spaceBefore = space;
      tokens.push(tok);
      space = false;
    };
    // Strings.
    if (ch === "'" || ch === '"' || ch === "`") {
      let j = i + 1;
      if (ch === "`") {
        while (j < n && line[j] !== "`") j += line[j] === "\\" ? 2 : 1;
      } else {
        while (j < n && line[j] !== ch) j++;
      }
      if (j >= n) {
        errors.push({ col, message: "unterminated string" });
        break;
      }
      const body = line.slice(i + 1, j);
      const bytes: number[] = [];
      if (ch === "`") {
        const err = decodeBackquoted(body, bytes);
        if (err) errors.push({ col, message: err });
      } else {
        for (const b of new TextEncoder().encode(body)) bytes.push(b);
      }
      push({ kind: "str", text: line.slice(i, j + 1), bytes });
      i = j + 1;
      continue;
    }
    // Numbers.
    if (isDigit(ch)) {
      const fm = /^[0-9][0-9_]*\.[0-9_]*(?:[eE][+-]?[0-9]+)?/.exec(line.slice(i));
      if (fm && !isIdentChar(line[i + fm[0].length])) {
        push({ kind: "float", text: fm[0], fvalue: Number(fm[0].replace(/_/g, "")) });
        i += fm[0].length;
        continue;
      }
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_]/.test(line[j]!)) j++;
      const text = line.slice(i, j);
      const value = parseInteger(text);
      if (value === undefined) errors.push({ col, message: `invalid number '${text}'` });
      push({ kind: "num", text, value: value ?? 0n });
      i = j;
      continue;
    }
    if (ch === "$") {
      const next = line[i + 1];
      if (isDigit(next)) {
        let j = i + 1;
        while (j < n && /[0-9A-Za-z_]/.test(line[j]!)) j++;
        const text = line.slice(i, j);
        const value = digitsValue(text.slice(1).replace(/_/g, ""), 16);
        if (value === undefined) errors.push({ col, message: `invalid number '${text}'` });
        push({ kind: "num", text, value: value ?? 0n });
        i = j;
        continue;
      }
      if (next === "$") {
        push({ kind: "op", text: "$$" });
        i += 2;
        continue;
      }
      if (isIdentStart(next)) {
        let j = i + 1;
        while (j < n && isIdentChar(line[j])) j++;
        push({ kind: "ident", text: line.slice(i + 1, j), escaped: true });
        i = j;
        continue;
      }
      push({ kind: "op", text: "$" });
      i++;
      continue;
    }
    if (isIdentStart(ch) && !(ch === "?" && !isIdentChar(line[i + 1]))) {
      let j = i + 1;
      while (j < n && isIdentChar(line[j])) j++;
      push({ kind: "ident", text: line.slice(i, j) });
      i = j;
      continue;
    }
    if (ch === "%") {
      const next = line[i + 1];
      if (next === "%" && isIdentStart(line[i + 2])) {
        let j = i + 2;
        while (j < n && isIdentChar(line[j])) j++;
        push({ kind: "mlocal", text: line.slice(i + 2, j) });
        i = j;
        continue;
      }
      if (isDigit(next)) {
        let j = i + 1;
        while (j < n && isDigit(line[j])) j++;
        push({ kind: "mparam", text: line.slice(i + 1, j) });
        i = j;
        continue;
      }
      if (next !== undefined && /[A-Za-z]/.test(next)) {
        let j = i + 1;
        while (j < n && /[A-Za-z0-9_]/.test(line[j]!)) j++;
        push({ kind: "ppdir", text: line.slice(i, j).toLowerCase() });
        i = j;
        continue;
      }
    }
    const op = OPERATORS.find((o) => line.startsWith(o, i));
    if (op) {
      push({ kind: "op", text: op });
      i += op.length;
      continue;
    }
    errors.push({ col, message: `unexpected character '${ch}'` });
    i++;
  }
  return { tokens, errors };
}
