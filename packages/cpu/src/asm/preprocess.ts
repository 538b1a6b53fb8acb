// The NASM-style preprocessor: %include, %define/%idefine/%xdefine/%undef/%assign (single-line
// macros, with parameters), %macro/%endmacro (multi-line macros with %1.. %0 and %%local labels),
// %rep/%endrep, %if/%ifdef/%ifndef/%elif/%else/%endif, %error and %warning. It works on tokens, so
// the assembler's error columns stay meaningful; tokens produced by a macro carry the column of
// the macro's name at its use.
import type { AsmError } from "./errors.js";
import { StatementError } from "./errors.js";
import { Cursor, type Expr, evaluate, parseExpr, type Value } from "./expr.js";
import { lexLine, type Token } from "./lexer.js";

/** One line handed to the assembler. */
export interface PLine {
  /** Where errors of this line are reported (for macro expansions: the invocation line). */
  file: string;
  line: number;
  sourceLine: string;
  /** Text shown in the listing. */
  listText: string;
  /** Tokens after macro expansion; empty for preprocessor directives and blank lines. */
  tokens: Token[];
  /** Include nesting (0 = main file) and macro nesting, for the listing. */
  includeDepth: number;
  macroDepth: number;
  /** Set when the line comes from a macro expansion (error messages mention it). */
  macroName?: string;
}

export interface PreprocessOptions {
  fileName: string;
  readFile?: (path: string) => string;
  /** Single-line macros predefined as with `nasm -D`. */
  defines?: Record<string, string>;
}

interface SingleMacro {
  name: string;
  params: string[] | undefined;
  body: Token[];
  caseless: boolean;
}

interface MultiMacro {
  name: string;
  caseless: boolean;
  minParams: number;
  maxParams: number;
  greedy: boolean;
  defaults: Token[][];
  body: RawLine[];
}

interface RawLine {
  file: string;
  line: number;
  text: string;
}

interface Origin {
  file: string;
  line: number;
  text: string;
  col: number;
  macroName: string;
}

interface Frame {
  kind: "file" | "macro" | "rep";
  lines: RawLine[];
  idx: number;
  /** File used to resolve %include inside this frame. */
  file: string;
  includeDepth: number;
  macroDepth: number;
  /** For macro expansions: the arguments and the unique id of %%labels. */
  args?: Token[][];
  uniq?: number;
  /** Location errors are reported at (macro invocation). */
  origin?: Origin;
  condDepth: number;
}

interface Cond {
  /** This branch is being assembled. */
  active: boolean;
  /** Some branch of this %if has been taken. */
  done: boolean;
  /** The enclosing region is active. */
  parentActive: boolean;
  sawElse: boolean;
}

const MAX_INCLUDE_DEPTH = 32;
const MAX_EXPANSIONS = 10_000;

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i + 1);
}

function joinPath(dir: string, rel: string): string {
  if (rel.startsWith("/") || dir === "") return rel;
  const parts = (dir + rel).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "." || (p === "" && out.length > 0)) continue;
    if (p === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else out.push(p);
  }
  return out.join("/");
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

type ExpandableToken = Token & { hidden?: ReadonlySet<string> };

export class Preprocessor {
  private readonly opts: PreprocessOptions;
  private readonly out: PLine[] = [];
  readonly errors: AsmError[] = [];
  /** For each error, the index of the output line it belongs with (to merge with later errors in order). */
  readonly errorLines: number[] = [];
  private readonly defines = new Map<string, SingleMacro>();
  private readonly idefines = new Map<string, SingleMacro>();
  private readonly macros = new Map<string, MultiMacro>();
  private readonly imacros = new Map<string, MultiMacro>();
  private readonly frames: Frame[] = [];
  private readonly conds: Cond[] = [];
  private uniqCounter = 0;
  /** A %macro or %rep body being collected. */
  private collecting:
    | { kind: "macro"; def: MultiMacro; nest: number; start: RawLine }
    | { kind: "rep"; count: number; lines: RawLine[]; nest: number; start: RawLine; frame: Frame }
    | undefined;

  constructor(opts: PreprocessOptions) {
    this.opts = opts;
    for (const [name, value] of Object.entries(opts.defines ?? {})) {
      this.defines.set(name, { name, params: undefined, body: lexLine(value).tokens, caseless: false });
    }
  }

  run(source: string): PLine[] {
    this.pushFile(this.opts.fileName, source, 0);
    this.loop();
    if (this.collecting) {
      const s = this.collecting.start;
      const what = this.collecting.kind === "macro" ? "%macro" : "%rep";
      this.errorAt(s.file, s.line, s.text, 1, `${what} has no matching %end${this.collecting.kind}`);
    }
    return this.out;
  }

  private pushFile(file: string, text: string, includeDepth: number): void {
    const lines = splitLines(text).map((t, i) => ({ file, line: i + 1, text: t }));
    this.frames.push({ kind: "file", lines, idx: 0, file, includeDepth, macroDepth: 0, condDepth: this.conds.length });
  }

  private errorAt(file: string, line: number, text: string, col: number, message: string): void {
    this.errors.push({ file, line, column: col, message, sourceLine: text });
    this.errorLines.push(this.out.length);
  }

  private error(frame: Frame, raw: RawLine, col: number, message: string): void {
    if (frame.origin) {
      const o = frame.origin;
      this.errorAt(o.file, o.line, o.text, o.col, `${message} (in macro '${o.macroName}')`);
    } else {
      this.errorAt(raw.file, raw.line, raw.text, col, message);
    }
  }

  private get active(): boolean {
    const c = this.conds[this.conds.length - 1];
    return c === undefined || c.active;
  }

  private loop(): void {
    while (this.frames.length > 0) {
      const frame = this.frames[this.frames.length - 1]!;
      if (frame.idx >= frame.lines.length) {
        this.frames.pop();
        if (this.conds.length > frame.condDepth) {
          const last = frame.lines[frame.lines.length - 1];
          if (last) this.error(frame, last, 1, "%if has no matching %endif");
          this.conds.length = frame.condDepth;
        }
        continue;
      }
      const raw = frame.lines[frame.idx++]!;
      try {
        this.line(frame, raw);
      } catch (e) {
        if (e instanceof StatementError) this.error(frame, raw, e.column, e.message);
        else throw e;
      }
    }
  }

  private emit(frame: Frame, raw: RawLine, tokens: Token[]): void {
    const o = frame.origin;
    const line: PLine = {
      file: o ? o.file : raw.file,
      line: o ? o.line : raw.line,
      sourceLine: o ? o.text : raw.text,
      listText: raw.text,
      tokens,
      includeDepth: frame.includeDepth,
      macroDepth: frame.macroDepth,
    };
    if (o) {
      line.macroName = o.macroName;
      for (const t of tokens) t.col = o.col;
    }
    this.out.push(line);
  }

  private line(frame: Frame, raw: RawLine): void {
    const lexed = lexLine(raw.text);
    let tokens = lexed.tokens;

    // Collecting a %macro / %rep body: only watch for nesting and the terminator.
    if (this.collecting) {
      const first = tokens[0];
      const dir = first?.kind === "ppdir" ? first.text : "";
      const c = this.collecting;
      if (c.kind === "macro") {
        if (dir === "%macro" || dir === "%imacro") c.nest++;
        else if (dir === "%endmacro" || dir === "%endm") {
          if (c.nest === 0) {
            this.collecting = undefined;
            (c.def.caseless ? this.imacros : this.macros).set(
              c.def.caseless ? c.def.name.toLowerCase() : c.def.name,
              c.def,
            );
            this.emit(frame, raw, []);
            return;
          }
          c.nest--;
        }
        c.def.body.push(raw);
      } else {
        if (dir === "%rep") c.nest++;
        else if (dir === "%endrep") {
          if (c.nest === 0) {
            this.collecting = undefined;
            this.emit(frame, raw, []);
            this.startRep(c.frame, c.count, c.lines);
            return;
          }
          c.nest--;
        }
        c.lines.push(raw);
      }
      this.emit(frame, raw, []);
      return;
    }

    const first = tokens[0];
    if (first?.kind === "ppdir" && /^%(if|elif|else|endif)/.test(first.text)) {
      this.conditional(frame, raw, first, tokens);
      this.emit(frame, raw, []);
      return;
    }
    if (!this.active) {
      this.emit(frame, raw, []);
      return;
    }
    for (const e of lexed.errors) this.error(frame, raw, e.col, e.message);
    if (lexed.errors.length > 0) {
      this.emit(frame, raw, []);
      return;
    }

    tokens = this.substituteMacroParams(frame, tokens);

    if (first?.kind === "ppdir") {
      this.emit(frame, raw, []);
      this.directive(frame, raw, first, tokens);
      return;
    }

    tokens = this.expand(tokens);

    // Multi-line macro invocation: `name args` or `label: name args`.
    let at = 0;
    if (tokens[0]?.kind === "ident" && tokens[1]?.kind === "op" && tokens[1].text === ":") at = 2;
    const nameTok = tokens[at];
    if (nameTok?.kind === "ident" && !nameTok.escaped) {
      const def = this.macros.get(nameTok.text) ?? this.imacros.get(nameTok.text.toLowerCase());
      if (def) {
        if (at > 0) this.emit(frame, raw, tokens.slice(0, at));
        else this.emit(frame, raw, []);
        this.invoke(frame, raw, def, nameTok, tokens.slice(at + 1));
        return;
      }
    }
    this.emit(frame, raw, tokens);
  }

  /** Replaces %1.., %0 and %%labels inside a macro expansion (and rejects them outside). */
  private substituteMacroParams(frame: Frame, tokens: Token[]): Token[] {
    const out: Token[] = [];
    for (const t of tokens) {
      if (t.kind === "mparam") {
        if (frame.args === undefined) {
          // Outside a macro `a%2` is the modulo operator followed by a number.
          out.push({ kind: "op", text: "%", col: t.col, spaceBefore: t.spaceBefore });
          out.push({ kind: "num", text: t.text, value: BigInt(t.text), col: t.col + 1, spaceBefore: false });
          continue;
        }
        const n = Number(t.text);
        if (n === 0) {
          out.push({
            kind: "num",
            text: String(frame.args.length),
            value: BigInt(frame.args.length),
            col: t.col,
            spaceBefore: t.spaceBefore,
          });
          continue;
        }
        const arg = frame.args[n - 1];
        if (arg) for (const a of arg) out.push({ ...a });
        continue;
      }
      if (t.kind === "mlocal") {
        if (frame.uniq === undefined) throw new StatementError(t.col, `'%%${t.text}' used outside a macro`);
        out.push({ kind: "ident", text: `..@${frame.uniq}.${t.text}`, col: t.col, spaceBefore: t.spaceBefore });
        continue;
      }
      out.push(t);
    }
    return out;
  }

  private lookupDefine(name: string): SingleMacro | undefined {
    return this.defines.get(name) ?? this.idefines.get(name.toLowerCase());
  }

  /** Expands single-line macros (rescanning the result), keeping the use's column. */
  expand(input: Token[]): Token[] {
    let tokens: ExpandableToken[] = input;
    let count = 0;
    for (let i = 0; i < tokens.length; ) {
      const t = tokens[i]!;
      if (t.kind !== "ident" || t.escaped) {
        i++;
        continue;
      }
      const def = this.lookupDefine(t.text);
      if (!def || t.hidden?.has(def.name)) {
        i++;
        continue;
      }
      let end = i + 1;
      let args: Token[][] = [];
      if (def.params !== undefined) {
        const next = tokens[end];
        if (next?.kind !== "op" || next.text !== "(") {
          i++;
          continue;
        }
        const parsed = splitArgs(tokens, end + 1, ")");
        if (!parsed) throw new StatementError(next.col, `unterminated argument list of macro '${def.name}'`);
        args = parsed.args;
        end = parsed.end;
        if (
          args.length !== def.params.length &&
          !(def.params.length === 0 && args.length === 1 && args[0]!.length === 0)
        ) {
          throw new StatementError(
            t.col,
            `macro '${def.name}' takes ${def.params.length} parameter(s), got ${args.length}`,
          );
        }
      }
      if (++count > MAX_EXPANSIONS) throw new StatementError(t.col, "macro expansion too deep (recursive %define?)");
      const hidden = new Set(t.hidden ?? []);
      hidden.add(def.name);
      const replacement: ExpandableToken[] = [];
      for (const b of def.body) {
        const pi = b.kind === "ident" && def.params ? def.params.indexOf(b.text) : -1;
        if (pi >= 0) {
          for (const a of args[pi] ?? []) replacement.push({ ...a, col: t.col });
        } else {
          replacement.push({ ...b, col: t.col, hidden });
        }
      }
      if (replacement[0]) replacement[0].spaceBefore = t.spaceBefore;
      tokens = [...tokens.slice(0, i), ...replacement, ...tokens.slice(end)];
    }
    return tokens.map((t) => {
      if ((t as ExpandableToken).hidden === undefined) return t;
      const { hidden: _h, ...rest } = t as ExpandableToken;
      return rest;
    });
  }

  private evalCondition(tokens: Token[], col: number): boolean {
    const expanded = this.expand(tokens);
    if (expanded.length === 0) throw new StatementError(col, "expression expected");
    const cur = new Cursor(expanded, col);
    const e = parseExpr(cur, (n) => n);
    if (!cur.atEnd()) throw new StatementError(cur.col(), `unexpected '${cur.peek()!.text}' after expression`);
    const v = ppEvaluate(e);
    return v.n !== 0n;
  }

  private conditional(frame: Frame, raw: RawLine, dir: Token, tokens: Token[]): void {
    const rest = tokens.slice(1);
    const name = dir.text;
    /** %if/%elif evaluate an expression; the -def forms test whether a single-line macro exists. */
    const test = (isDef: boolean): boolean => {
      if (!isDef) return this.evalCondition(rest, dir.col + dir.text.length);
      const ident = rest[0];
      if (ident?.kind !== "ident" || rest.length !== 1) {
        throw new StatementError(ident?.col ?? dir.col, `${name} expects one macro name`);
      }
      return this.lookupDefine(ident.text) !== undefined;
    };
    const m = /^%(if|elif)(n?)(def)?$/.exec(name);
    if (m) {
      const isElif = m[1] === "elif";
      const neg = m[2] === "n";
      const isDef = m[3] === "def";
      if (!isElif) {
        const parentActive = this.active;
        let result = false;
        if (parentActive) {
          try {
            result = test(isDef) !== neg;
          } catch (e) {
            if (e instanceof StatementError) this.error(frame, raw, e.column, e.message);
            else throw e;
          }
        }
        this.conds.push({ active: parentActive && result, done: result, parentActive, sawElse: false });
        return;
      }
      const c = this.conds[this.conds.length - 1];
      if (!c || this.conds.length <= frame.condDepth) throw new StatementError(dir.col, `${name} without %if`);
      if (c.sawElse) throw new StatementError(dir.col, `${name} after %else`);
      if (c.done || !c.parentActive) {
        c.active = false;
        return;
      }
      const result = test(isDef) !== neg;
      c.active = result;
      c.done = result;
      return;
    }
    if (name.startsWith("%if")) {
      // An unsupported test (%ifidn, %ifmacro, ...): keep the nesting right, assemble nothing.
      const parentActive = this.active;
      this.conds.push({ active: false, done: true, parentActive, sawElse: false });
      if (parentActive) throw new StatementError(dir.col, `unsupported preprocessor directive '${name}'`);
      return;
    }
    const c = this.conds[this.conds.length - 1];
    if (!c || this.conds.length <= frame.condDepth) throw new StatementError(dir.col, `${name} without %if`);
    if (name.startsWith("%elif")) {
      c.active = false;
      if (c.parentActive && !c.done) throw new StatementError(dir.col, `unsupported preprocessor directive '${name}'`);
      return;
    }
    if (name === "%else") {
      if (c.sawElse) throw new StatementError(dir.col, "%else after %else");
      c.sawElse = true;
      c.active = c.parentActive && !c.done;
      c.done = true;
      return;
    }
    if (name === "%endif") {
      this.conds.pop();
      return;
    }
    throw new StatementError(dir.col, `unknown preprocessor directive '${name}'`);
  }

  private directive(frame: Frame, raw: RawLine, dir: Token, tokens: Token[]): void {
    const rest = tokens.slice(1);
    const endCol = raw.text.length + 1;
    switch (dir.text) {
      case "%define":
      case "%idefine":
      case "%xdefine":
      case "%xidefine": {
        const caseless = dir.text.includes("idefine");
        const nameTok = rest[0];
        if (nameTok?.kind !== "ident") throw new StatementError(nameTok?.col ?? endCol, "macro name expected");
        let i = 1;
        let params: string[] | undefined;
        const paren = rest[1];
        if (paren && paren.kind === "op" && paren.text === "(" && !paren.spaceBefore) {
          params = [];
          i = 2;
          for (;;) {
            const p = rest[i];
            if (p?.kind === "op" && p.text === ")") {
              i++;
              break;
            }
            if (p?.kind !== "ident") throw new StatementError(p?.col ?? endCol, "parameter name expected");
            params.push(p.text);
            i++;
            const sep = rest[i];
            if (sep?.kind === "op" && sep.text === ",") i++;
            else if (!(sep?.kind === "op" && sep.text === ")")) {
              throw new StatementError(sep?.col ?? endCol, "expected ',' or ')' in macro parameters");
            }
          }
        }
        let body = rest.slice(i);
        if (dir.text.startsWith("%x")) body = this.expand(body);
        const def: SingleMacro = { name: caseless ? nameTok.text.toLowerCase() : nameTok.text, params, body, caseless };
        this.undefine(nameTok.text);
        (caseless ? this.idefines : this.defines).set(def.name, def);
        return;
      }
      case "%undef": {
        const nameTok = rest[0];
        if (nameTok?.kind !== "ident") throw new StatementError(nameTok?.col ?? endCol, "macro name expected");
        this.undefine(nameTok.text);
        return;
      }
      case "%assign":
      case "%iassign": {
        const nameTok = rest[0];
        if (nameTok?.kind !== "ident") throw new StatementError(nameTok?.col ?? endCol, "macro name expected");
        const expanded = this.expand(rest.slice(1));
        const cur = new Cursor(expanded, endCol);
        const e = parseExpr(cur, (n) => n);
        if (!cur.atEnd()) throw new StatementError(cur.col(), `unexpected '${cur.peek()!.text}' after expression`);
        const v = ppEvaluate(e);
        const caseless = dir.text === "%iassign";
        const numTok: Token = { kind: "num", text: String(v.n), value: v.n, col: nameTok.col, spaceBefore: true };
        const body: Token[] =
          v.n < 0n
            ? [
                { kind: "op", text: "(", col: nameTok.col, spaceBefore: true },
                { kind: "op", text: "-", col: nameTok.col, spaceBefore: false },
                { ...numTok, text: String(-v.n), value: -v.n },
                { kind: "op", text: ")", col: nameTok.col, spaceBefore: false },
              ]
            : [numTok];
        this.undefine(nameTok.text);
        const name = caseless ? nameTok.text.toLowerCase() : nameTok.text;
        (caseless ? this.idefines : this.defines).set(name, { name, params: undefined, body, caseless });
        return;
      }
      case "%include": {
        const t = rest[0];
        let rel: string | undefined;
        if (t?.kind === "str") rel = new TextDecoder().decode(new Uint8Array(t.bytes ?? []));
        if (rel === undefined || rest.length !== 1) {
          throw new StatementError(t?.col ?? endCol, "%include expects a quoted file name");
        }
        if (frame.includeDepth + 1 > MAX_INCLUDE_DEPTH) throw new StatementError(t!.col, "%include nested too deeply");
        const readFile = this.opts.readFile;
        if (!readFile) {
          throw new StatementError(t!.col, `cannot include '${rel}': no readFile function was given to the assembler`);
        }
        const path = joinPath(dirname(frame.file), rel);
        let text: string;
        try {
          text = readFile(path);
        } catch {
          throw new StatementError(t!.col, `cannot open include file '${rel}'`);
        }
        this.pushFile(path, text, frame.includeDepth + 1);
        const pushed = this.frames[this.frames.length - 1]!;
        pushed.origin = frame.origin;
        pushed.macroDepth = frame.macroDepth;
        return;
      }
      case "%macro":
      case "%imacro": {
        const nameTok = rest[0];
        if (nameTok?.kind !== "ident") throw new StatementError(nameTok?.col ?? endCol, "macro name expected");
        const spec = rest.slice(1);
        let min = 0;
        let max = 0;
        let greedy = false;
        let i = 0;
        const num = (): number => {
          const t = spec[i];
          if (t?.kind !== "num") throw new StatementError(t?.col ?? endCol, "parameter count expected");
          i++;
          return Number(t.value);
        };
        if (spec.length > 0) {
          min = num();
          max = min;
          if (spec[i]?.kind === "op" && spec[i]!.text === "-") {
            i++;
            if (spec[i]?.kind === "op" && spec[i]!.text === "*") {
              i++;
              max = Number.POSITIVE_INFINITY;
            } else max = num();
          }
          if (spec[i]?.kind === "op" && spec[i]!.text === "+") {
            i++;
            greedy = true;
          }
        }
        if (spec[i]?.kind === "op" && spec[i]!.text === ",") i++;
        const defaults = i < spec.length ? splitTopLevel(spec.slice(i)) : [];
        const caseless = dir.text === "%imacro";
        this.collecting = {
          kind: "macro",
          def: { name: nameTok.text, caseless, minParams: min, maxParams: max, greedy, defaults, body: [] },
          nest: 0,
          start: raw,
        };
        return;
      }
      case "%endmacro":
      case "%endm":
        throw new StatementError(dir.col, `${dir.text} without %macro`);
      case "%rep": {
        const expanded = this.expand(rest);
        const cur = new Cursor(expanded, endCol);
        const e = parseExpr(cur, (n) => n);
        const v = ppEvaluate(e);
        if (v.n < 0n || v.n > 1_000_000n) throw new StatementError(rest[0]?.col ?? endCol, "%rep count out of range");
        this.collecting = { kind: "rep", count: Number(v.n), lines: [], nest: 0, start: raw, frame };
        return;
      }
      case "%endrep":
        throw new StatementError(dir.col, "%endrep without %rep");
      case "%exitrep": {
        const rep = [...this.frames].reverse().find((f) => f.kind === "rep");
        if (!rep) throw new StatementError(dir.col, "%exitrep outside %rep");
        while (this.frames.length > 0) {
          const f = this.frames.pop()!;
          this.conds.length = f.condDepth;
          if (f === rep) break;
        }
        return;
      }
      case "%rotate": {
        if (frame.args === undefined) throw new StatementError(dir.col, "%rotate outside a macro");
        const expanded = this.expand(rest);
        const cur = new Cursor(expanded, endCol);
        const e = parseExpr(cur, (n) => n);
        const v = ppEvaluate(e);
        const n = frame.args.length;
        if (n > 0) {
          const k = ((Number(v.n) % n) + n) % n;
          const rotated = [...frame.args.slice(k), ...frame.args.slice(0, k)];
          // Rotation applies to the whole macro invocation (rep frames inside it share the arguments).
          for (const f of this.frames) if (f.args === frame.args && f !== frame) f.args = rotated;
          frame.args = rotated;
        }
        return;
      }
      case "%error": {
        const msg = rest.map((t) =>
          t.kind === "str" ? new TextDecoder().decode(new Uint8Array(t.bytes ?? [])) : t.text,
        );
        throw new StatementError(dir.col, msg.join(" ") || "%error");
      }
      case "%warning":
      case "%pragma":
      case "%line":
        return;
      default:
        throw new StatementError(dir.col, `unknown preprocessor directive '${dir.text}'`);
    }
  }

  private undefine(name: string): void {
    this.defines.delete(name);
    this.idefines.delete(name.toLowerCase());
  }

  private startRep(frame: Frame, count: number, lines: RawLine[]): void {
    if (count === 0 || lines.length === 0) return;
    const all: RawLine[] = [];
    for (let k = 0; k < count; k++) all.push(...lines);
    const f: Frame = {
      kind: "rep",
      lines: all,
      idx: 0,
      file: frame.file,
      includeDepth: frame.includeDepth,
      macroDepth: frame.macroDepth,
      condDepth: this.conds.length,
    };
    if (frame.args !== undefined) f.args = frame.args;
    if (frame.uniq !== undefined) f.uniq = frame.uniq;
    if (frame.origin !== undefined) f.origin = frame.origin;
    this.frames.push(f);
  }

  private invoke(frame: Frame, raw: RawLine, def: MultiMacro, nameTok: Token, argTokens: Token[]): void {
    let args = argTokens.length === 0 ? [] : splitTopLevel(argTokens);
    if (def.greedy && args.length > def.maxParams && Number.isFinite(def.maxParams) && def.maxParams > 0) {
      // The last parameter takes the rest of the line, commas included.
      const keep = args.slice(0, def.maxParams - 1);
      const restTokens: Token[] = [];
      args.slice(def.maxParams - 1).forEach((a, k) => {
        if (k > 0) restTokens.push({ kind: "op", text: ",", col: a[0]?.col ?? nameTok.col, spaceBefore: false });
        restTokens.push(...a);
      });
      args = [...keep, restTokens];
    }
    if (args.length < def.minParams || args.length > def.maxParams) {
      const want =
        def.minParams === def.maxParams
          ? `${def.minParams}`
          : Number.isFinite(def.maxParams)
            ? `${def.minParams} to ${def.maxParams}`
            : `at least ${def.minParams}`;
      throw new StatementError(nameTok.col, `macro '${def.name}' takes ${want} parameter(s), got ${args.length}`);
    }
    for (let k = args.length; k < def.maxParams && k - def.minParams < def.defaults.length; k++) {
      args.push(def.defaults[k - def.minParams]!);
    }
    if (frame.macroDepth >= 64) throw new StatementError(nameTok.col, "macros nested too deeply");
    const origin: Origin = frame.origin ?? {
      file: raw.file,
      line: raw.line,
      text: raw.text,
      col: nameTok.col,
      macroName: def.name,
    };
    this.frames.push({
      kind: "macro",
      lines: def.body,
      idx: 0,
      file: frame.file,
      includeDepth: frame.includeDepth,
      macroDepth: frame.macroDepth + 1,
      args,
      uniq: ++this.uniqCounter,
      origin,
      condDepth: this.conds.length,
    });
  }
}

/** Evaluates a preprocessor expression: numbers only, no labels. */
function ppEvaluate(e: Expr): Value {
  return evaluate(e, {
    lookup: (name, c) => {
      throw new StatementError(c, `symbol '${name}' is not defined in the preprocessor`);
    },
    here: 0n,
    start: 0n,
  });
}

/** Splits tokens at top-level commas (parentheses, brackets and braces group). Braces are removed. */
function splitTopLevel(tokens: readonly Token[]): Token[][] {
  const out: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "op") {
      if (t.text === "{") {
        if (depth++ === 0) continue;
      } else if (t.text === "}") {
        if (--depth === 0) continue;
      } else if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") depth--;
      else if (t.text === "," && depth === 0) {
        out.push([]);
        continue;
      }
    }
    out[out.length - 1]!.push(t);
  }
  return out;
}

/** Parses a parenthesised argument list starting after '('. */
function splitArgs(
  tokens: readonly Token[],
  start: number,
  close: string,
): { args: Token[][]; end: number } | undefined {
  const args: Token[][] = [[]];
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === "op") {
      if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") {
        if (depth === 0 && t.text === close) return { args, end: i + 1 };
        depth--;
      } else if (t.text === "," && depth === 0) {
        args.push([]);
        continue;
      }
    }
    args[args.length - 1]!.push(t);
  }
  return undefined;
}

/** Runs the preprocessor over a source file. */
export function preprocess(
  source: string,
  opts: PreprocessOptions,
): { lines: PLine[]; errors: AsmError[]; errorLines: number[] } {
  const pp = new Preprocessor(opts);
  const lines = pp.run(source);
  return { lines, errors: pp.errors, errorLines: pp.errorLines };
}
