// The debugger engine: one debugged program, the commands, and everything about running it --
// stops, breakpoints, watchpoints, VM-exit breakpoints, checkpoints and reverse execution. It has no
// I/O of its own: execute() takes a command line and returns its output, so tests drive it directly
// and the REPL (repl.ts) only reads lines and prints.
//
// How stops work. The session installs a CPU instruction hook, called before every instruction
// (which also keeps the CPU in its careful one-instruction-at-a-time mode, whose timing does not
// depend on where runs start and stop: a debugged run is the same whatever the debugger does). The
// hook counts guest instructions and stops the CPU before an instruction when a step is done or a
// breakpoint is reached; the target (bare machine or hypervisor) then returns "paused" and later
// continues exactly there. VM exits are paused after the hypervisor handled them (its pauseOnExit).
//
// Time and reverse execution. The position of a stop is the number of guest instructions retired
// so far (G). At every stop the session records a checkpoint of the whole system (snapshot.ts).
// `back N` restores the newest checkpoint at or before G - N and re-executes to the first
// instruction boundary after instruction G - N retired: the state a forward `step` showed there.

import { type Cpu, disassembleOne, exitReasonName, parseExitReason, registers as R, symbolResolver } from "@vmxlab/cpu";
import type { Program } from "../program.js";
import { findCommand, helpText } from "./commands.js";
import { clip, hex8, type Paint, painter, plural, softWrap, wrap } from "./format.js";
import { walkGuest } from "./paging.js";
import { type Checkpoint, Checkpointer } from "./snapshot.js";
import type { DebugExitRecord, GuestRegisters, Target } from "./targets.js";
import * as views from "./views.js";

export type AddressSpaceName = "gva" | "gpa" | "hpa";

export type Breakpoint =
  | { id: number; kind: "exec"; address: number }
  | { id: number; kind: "watch"; space: AddressSpaceName; address: number; length: number; access: "r" | "w" | "rw" }
  | { id: number; kind: "exit"; reason: number | null };

/** An interrupt or exception delivered to the guest (CPU exception hook). */
export interface GuestEvent {
  vector: number;
  errorCode: number;
  kind: string;
  eip: number;
}

interface RunControl {
  /** Re-execution for `back`: stop at the first guest instruction boundary with G = replayTo. */
  replayTo?: number;
  stepTarget: number | null;
  next: { eip: number; esp: number } | null;
  untilExit: boolean;
  /** Stop (to yield to the event loop) when G reaches this. */
  chunkEnd: number;
  /** Where the run started: a breakpoint there does not stop it again. */
  resumeEip: number;
  resumeG: number;
}

type StopCause =
  | { kind: "step" }
  | { kind: "next" }
  | { kind: "replay" }
  | { kind: "chunk" }
  | { kind: "breakpoint"; bp: Breakpoint }
  | {
      kind: "watch";
      bp: Breakpoint;
      access: "read" | "write";
      address: number;
      size: number;
      value: number;
      eip: number;
    }
  | { kind: "exit"; record: DebugExitRecord; bp: Breakpoint | null };

/** Debugger-side state that moves with the machine (saved with each checkpoint). */
interface EngineState {
  G: number;
  hookG: number;
  hookFirst: boolean;
  lastInstret: number;
  lastWasGuest: boolean;
  lastHookEip: number;
  exits: number;
  events: number;
  /**
   * Where the state lies relative to the first instruction boundary after instruction G retired
   * (what `step` shows, "at" it): before it (nothing ran yet) or after it (an exit, a watchpoint).
   */
  phase: "before" | "at" | "after";
}

interface HistoryEntry {
  checkpoint: Checkpoint;
  state: EngineState;
}

/** A one-line error a command reports (the session goes on). */
export class DebugError extends Error {}

export interface SessionOptions {
  color: boolean;
  /** Checkpoints kept for `back` (default 500). */
  history?: number;
  /** Guest instructions one command may run before it stops (default 100,000,000). */
  commandLimit?: number;
  /** Name of the program for the banner. */
  fileName: string;
  /** Description of the configuration for the banner ("the type-1 hypervisor, EPT"). */
  description: string;
}

const CHUNK = 250_000;
/** Memory the checkpoints may hold (besides one reference copy of guest memory). */
const HISTORY_BYTES = 256 * 1024 * 1024;
const SHOWN_EXITS = 5;
const SHOWN_EVENTS = 3;

export class DebugSession {
  readonly target: Target;
  readonly cpu: Cpu;
  readonly paint: Paint;
  /** Output may use ANSI colour (a terminal without NO_COLOR). */
  readonly color: boolean;
  radix = 16;
  quit = false;
  /** Every VM exit so far, oldest first. */
  readonly exits: DebugExitRecord[] = [];
  readonly events: GuestEvent[] = [];
  readonly breakpoints = new Map<number, Breakpoint>();
  private nextBreakpoint = 1;
  /** Symbols of the program (address -> name, labels only) and its image range. */
  readonly labels: Map<number, string>;
  readonly symbols: Map<string, number>;
  private readonly imageRange: [number, number];
  private readonly resolve: ReturnType<typeof symbolResolver>;

  // ---- position ----
  private G = 0;
  private hookG = -1;
  private hookFirst = false;
  private lastInstret = 0;
  private lastWasGuest = false;
  private lastHookEip = 0;

  // ---- the run in progress ----
  private run: RunControl | null = null;
  private cause: StopCause | null = null;
  private replaying = false;
  private console: number[] = [];
  /** Registers at the previous stop (regs marks what changed since). */
  private previousRegs: GuestRegisters;
  private currentRegsAt = -1;
  private currentRegs: GuestRegisters;

  // ---- history ----
  private readonly checkpointer: Checkpointer;
  private readonly history: HistoryEntry[] = [];
  private readonly historyLimit: number;
  private readonly commandLimit: number;
  private readonly options: SessionOptions;

  constructor(makeTarget: (hooks: TargetHooks) => Target, program: Program, options: SessionOptions) {
    this.options = options;
    this.color = options.color;
    this.paint = painter(options.color);
    this.historyLimit = Math.max(2, options.history ?? 500);
    this.commandLimit = options.commandLimit ?? 100_000_000;
    this.target = makeTarget({
      onConsole: (byte) => {
        if (!this.replaying) this.console.push(byte);
      },
      onExit: (record) => {
        this.exits.push(record);
        this.dropInterceptedEvent(record);
      },
    });
    this.cpu = this.target.machine.cpu;
    this.symbols = program.symbols;
    const start = program.origin ?? 0;
    this.imageRange = [start, start + program.bytes.length];
    this.labels = labelMap(program.symbols, this.imageRange);
    this.resolve = symbolResolver(this.labels);
    const cpu = this.cpu;
    cpu.hooks.instruction = (_c, eip) => this.onInstruction(eip);
    cpu.hooks.exception = (vector, errorCode, kind) => {
      if (this.target.inGuest()) this.events.push({ vector, errorCode, kind, eip: cpu.eip >>> 0 });
    };
    this.lastInstret = cpu.instret;
    this.checkpointer = new Checkpointer(
      this.target,
      new Set<object>([cpu.hooks, cpu.breakpoints]),
      new Map([
        [
          cpu.blocks,
          {
            save: () => cpu.blocks.codePages(),
            load: (pages: unknown) => cpu.blocks.restoreCodePages(pages as number[]),
          },
        ],
      ]),
    );
    this.currentRegs = this.target.registers();
    this.previousRegs = this.currentRegs;
    this.currentRegsAt = 0;
    this.record("before");
  }

  // ======================= presentation =======================

  /** The prompt: `[type1 vm0 non-root 0x00100004]> `. */
  prompt(): string {
    const t = this.target;
    const parts: string[] = [t.kind];
    if (t.vmName) parts.push(t.vmName);
    if (t.ended()) parts.push("stopped");
    else if (t.mode()) parts.push(t.mode()!);
    parts.push(hex8(this.regs().eip));
    return `[${parts.join(" ")}]> `;
  }

  /** What the session prints when it starts. */
  banner(): string {
    const lines = [
      `vmxlab debug: ${this.options.fileName}`,
      `on ${this.options.description}; 'help' lists the commands.`,
    ];
    if (this.target.startText) lines.push(...wrap(this.target.startText.split(" "), ""));
    else if (this.target.kind !== "bare") {
      lines.push(
        `${this.target.vmName} is created and has not run yet: the CPU is in VMX root operation,`,
        "before the first VM entry (VMLAUNCH).",
      );
    }
    lines.push(this.location());
    return `${lines.flatMap((l) => softWrap(l)).join("\n")}\n`;
  }

  /** The guest registers now (cached per stop). */
  regs(): GuestRegisters {
    if (this.currentRegsAt !== this.stopCount) {
      this.currentRegs = this.target.registers();
      this.currentRegsAt = this.stopCount;
    }
    return this.currentRegs;
  }

  private stopCount = 0;

  /** `=> 0x00100005 <start+5>:  cld` for the next guest instruction. */
  location(): string {
    if (this.target.ended()) return `the program has ended: ${this.target.ended()}`;
    return views.locationLine(this, this.regs().eip);
  }

  symbolize(address: number): string {
    address >>>= 0;
    if (address < this.imageRange[0] || address >= this.imageRange[1]) return "";
    const s = this.resolve(address);
    if (!s) return "";
    return s.offset === 0 ? `<${s.name}>` : `<${s.name}+0x${s.offset.toString(16)}>`;
  }

  // ======================= commands =======================

  /** Runs one command line and returns its output ("" for none; otherwise ends with a newline). */
  execute(line: string): string {
    const it = this.executeSteps(line);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Like execute(), but yields to the event loop every 250,000 guest instructions, so a long
   * `continue` can be interrupted (`interrupted()` is polled between chunks).
   */
  async executeAsync(line: string, interrupted: () => boolean): Promise<string> {
    const it = this.executeSteps(line);
    for (;;) {
      const r = it.next(interrupted());
      if (r.done) return r.value;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private *executeSteps(line: string): Generator<void, string, boolean | undefined> {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0);
    if (words.length === 0 || words[0]!.startsWith("#")) return "";
    const [word, ...args] = words as [string, ...string[]];
    const command = findCommand(word.toLowerCase());
    try {
      if (!command) throw new DebugError(`unknown command '${word}'; 'help' lists the commands`);
      const out = (yield* this.dispatch(command.name, args)).flatMap((line) => softWrap(line));
      return out.length ? `${out.join("\n")}\n` : "";
    } catch (error) {
      if (error instanceof DebugError) return `${this.paint("red", clip(error.message.replace(/\n/g, " "), 79))}\n`;
      throw error;
    }
  }

  private *dispatch(name: string, args: string[]): Generator<void, string[], boolean | undefined> {
    switch (name) {
      case "step": {
        this.maxArgs(args, 1, "step [N]");
        const n = args[0] === undefined ? 1 : this.count(args[0]);
        return yield* this.go({ stepTarget: this.G + n });
      }
      case "next":
        this.maxArgs(args, 0, "next");
        return yield* this.next();
      case "continue":
        this.maxArgs(args, 0, "continue");
        return yield* this.go({});
      case "until-exit":
        this.maxArgs(args, 0, "until-exit");
        this.needVm("until-exit");
        return yield* this.go({ untilExit: true });
      case "break":
        return this.breakCommand(args);
      case "watch":
        return this.watchCommand(args);
      case "delete":
        return this.deleteCommand(args);
      case "regs":
        this.maxArgs(args, 1, "regs [NAME]");
        return views.registers(this, args[0]);
      case "vmcs":
        this.maxArgs(args, 1, "vmcs [guest|host|controls|exit]");
        this.needVm("vmcs");
        return views.vmcs(this, args[0]);
      case "mem": {
        this.maxArgs(args, 2, "mem ADDR [LEN]");
        if (args[0] === undefined) throw new DebugError("usage: mem ADDR [LEN]");
        const a = this.address(args[0]);
        const len = args[1] === undefined ? 64 : this.count(args[1]);
        if (len > 4096) throw new DebugError("mem shows at most 4096 bytes");
        return views.memory(this, a.space, a.address, len);
      }
      case "translate": {
        this.maxArgs(args, 1, "translate ADDR");
        if (args[0] === undefined) throw new DebugError("usage: translate ADDR");
        const a = this.address(args[0]);
        if (a.space !== "gva") throw new DebugError("translate takes a guest-virtual address (gva:)");
        return views.translate(this, a.address);
      }
      case "tlb":
        this.maxArgs(args, 1, "tlb [N]");
        return views.tlb(this, args[0] === undefined ? 16 : this.count(args[0]));
      case "disasm": {
        this.maxArgs(args, 2, "disasm [ADDR] [N]");
        const eip = this.regs().eip;
        const a = args[0] === undefined ? { space: "gva" as const, address: eip } : this.address(args[0]);
        if (a.space !== "gva") throw new DebugError("disasm takes a guest-virtual address (gva:)");
        const n = args[1] === undefined ? 8 : this.count(args[1]);
        if (n > 200) throw new DebugError("disasm shows at most 200 instructions");
        return views.disasmLines(this, a.address, n, eip);
      }
      case "exits":
        this.maxArgs(args, 1, "exits [N]");
        this.needVm("exits");
        return views.exitTable(this, args[0] === undefined ? 20 : this.count(args[0]));
      case "back": {
        this.maxArgs(args, 1, "back [N]");
        const n = args[0] === undefined ? 1 : this.count(args[0]);
        return yield* this.back(n);
      }
      case "radix": {
        this.maxArgs(args, 1, "radix [16|10]");
        if (args[0] !== undefined) {
          if (args[0] !== "16" && args[0] !== "10") throw new DebugError("radix is 16 or 10");
          this.radix = Number(args[0]);
        }
        return [`radix ${this.radix}: values in ${this.radix === 16 ? "hex" : "decimal"}`];
      }
      case "help":
        return helpText(args[0]);
      case "quit":
        this.quit = true;
        return [];
      default:
        throw new DebugError(`unknown command '${name}'`);
    }
  }

  private maxArgs(args: string[], n: number, usage: string): void {
    if (args.length > n) throw new DebugError(`too many arguments; usage: ${usage}`);
  }

  private needVm(command: string): void {
    if (this.target.kind === "bare") throw new DebugError(`${command} needs a VM: --on type1 or --on hosted`);
  }

  // ======================= parsing =======================

  /** A decimal count (or 0x... hex). */
  count(text: string): number {
    const n = /^0x[0-9a-f]+$/i.test(text)
      ? Number.parseInt(text.slice(2), 16)
      : /^\d+$/.test(text)
        ? Number(text)
        : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new DebugError(`bad count '${text}': expected a number`);
    return n;
  }

  /** `[gva:|gpa:|hpa:]TERM[(+|-)TERM...]`, TERM = number | symbol | $reg. */
  address(text: string): { space: AddressSpaceName; address: number } {
    let space: AddressSpaceName = "gva";
    let rest = text;
    const m = /^(gva|gpa|hpa):(.*)$/i.exec(text);
    if (m) {
      space = m[1]!.toLowerCase() as AddressSpaceName;
      rest = m[2]!;
    }
    const terms = rest.split(/(?=[+-])/);
    let value = 0;
    for (const raw of terms) {
      const sign = raw.startsWith("-") ? -1 : 1;
      const term = raw.replace(/^[+-]/, "");
      if (term === "") throw new DebugError(`bad address '${text}'`);
      value += sign * this.term(term, text);
    }
    return { space, address: value >>> 0 };
  }

  private term(term: string, whole: string): number {
    if (/^0x[0-9a-f]+$/i.test(term)) return Number.parseInt(term.slice(2), 16);
    if (this.radix === 16 && /^[0-9a-f]+$/i.test(term) && /^[0-9]/.test(term)) return Number.parseInt(term, 16);
    if (this.radix === 10 && /^[0-9]+$/.test(term)) return Number(term);
    const reg = term.startsWith("$") ? term.slice(1) : term;
    const regs = this.regs() as unknown as Record<string, number>;
    if (REGISTER_NAMES.includes(reg.toLowerCase())) return regs[reg.toLowerCase()]!;
    if (term.startsWith("$")) throw new DebugError(unknownRegister(reg));
    const s = this.symbols.get(term);
    if (s !== undefined) return s;
    throw new DebugError(`bad address '${whole}': '${term}' is not a number, register or symbol`);
  }

  // ======================= breakpoints =======================

  private breakCommand(args: string[]): string[] {
    if (args.length === 0) return views.breakpointList(this);
    if (args[0] === "exit") {
      this.needVm("break exit");
      if (args.length !== 2) throw new DebugError("usage: break exit REASON|any");
      const text = args[1]!;
      let reason: number | null = null;
      if (text.toLowerCase() !== "any") {
        const r = parseExitReason(text);
        if (r === undefined || r > 0xffff) {
          throw new DebugError(`unknown VM exit reason '${text}' (an Intel name like CPUID, or a number)`);
        }
        reason = r;
      }
      const bp: Breakpoint = { id: this.nextBreakpoint++, kind: "exit", reason };
      this.breakpoints.set(bp.id, bp);
      return [
        `breakpoint ${bp.id}: after every VM exit ${reason === null ? "(any reason)" : `${exitReasonName(reason)} (${reason})`}`,
      ];
    }
    if (args.length !== 1) throw new DebugError("usage: break ADDR | break exit REASON|any");
    const a = this.address(args[0]!);
    if (a.space !== "gva") throw new DebugError("execution breakpoints take a guest-virtual address");
    const bp: Breakpoint = { id: this.nextBreakpoint++, kind: "exec", address: a.address };
    this.breakpoints.set(bp.id, bp);
    return [`breakpoint ${bp.id} at ${hex8(a.address)} ${this.symbolize(a.address)}`.trimEnd()];
  }

  private watchCommand(args: string[]): string[] {
    if (args.length < 1 || args.length > 3) throw new DebugError("usage: watch ADDR [r|w|rw] [LEN]");
    const a = this.address(args[0]!);
    let access: "r" | "w" | "rw" = "w";
    let length = 4;
    for (const arg of args.slice(1)) {
      if (arg === "r" || arg === "w" || arg === "rw") access = arg;
      else length = this.count(arg);
    }
    if (length < 1 || length > 4096) throw new DebugError("a watchpoint covers 1-4096 bytes");
    const bp: Breakpoint = {
      id: this.nextBreakpoint++,
      kind: "watch",
      space: a.space,
      address: a.address,
      length,
      access,
    };
    this.breakpoints.set(bp.id, bp);
    this.updateMemoryHook();
    const what = access === "r" ? "reads of" : access === "w" ? "writes to" : "reads of and writes to";
    return [
      `watchpoint ${bp.id}: ${what} ${a.space} ${hex8(a.address)} ${this.symbolize(a.space === "gva" ? a.address : -1)}`.trimEnd() +
        ` (${plural(length, "byte")})`,
    ];
  }

  private deleteCommand(args: string[]): string[] {
    this.maxArgs(args, 1, "delete [N]");
    if (args[0] === undefined) {
      const n = this.breakpoints.size;
      this.breakpoints.clear();
      this.updateMemoryHook();
      return [`deleted ${plural(n, "breakpoint")}`];
    }
    const id = this.count(args[0]);
    if (!this.breakpoints.delete(id)) throw new DebugError(`no breakpoint ${id}`);
    this.updateMemoryHook();
    return [`deleted breakpoint ${id}`];
  }

  /** The memory hook is installed only while watchpoints exist (it sends every access the slow way). */
  private updateMemoryHook(): void {
    const watching = [...this.breakpoints.values()].some((b) => b.kind === "watch");
    const cpu = this.cpu;
    cpu.hooks.memory = watching ? (kind, linear, size, value) => this.onMemory(kind, linear, size, value) : null;
    cpu.updateAccessMasks();
  }

  // ======================= the hooks =======================

  /** Folds the instructions retired since the last look into G. */
  private syncPosition(): void {
    const instret = this.cpu.instret;
    if (this.lastWasGuest) this.G += instret - this.lastInstret;
    this.lastInstret = instret;
  }

  private onInstruction(eip: number): string | undefined {
    this.syncPosition();
    const guest = this.target.inGuest();
    this.lastWasGuest = guest;
    if (!guest) return undefined;
    const G = this.G;
    this.hookFirst = G !== this.hookG;
    this.hookG = G;
    this.lastHookEip = eip;
    const run = this.run;
    if (!run) return undefined;
    if (run.replayTo !== undefined) return G >= run.replayTo ? this.stopWith({ kind: "replay" }) : undefined;
    if (this.cause) return "watchpoint";
    if (run.stepTarget !== null && G >= run.stepTarget) return this.stopWith({ kind: "step" });
    if (run.next && eip === run.next.eip && this.cpu.regs[R.ESP]! >>> 0 >= run.next.esp) {
      return this.stopWith({ kind: "next" });
    }
    if (this.breakpoints.size > 0 && !(eip === run.resumeEip && G === run.resumeG)) {
      for (const bp of this.breakpoints.values()) {
        if (bp.kind === "exec" && bp.address === eip) return this.stopWith({ kind: "breakpoint", bp });
      }
    }
    if (G >= run.chunkEnd) return this.stopWith({ kind: "chunk" });
    return undefined;
  }

  private stopWith(cause: StopCause): string {
    this.cause = cause;
    return cause.kind;
  }

  private onMemory(kind: "read" | "write", linear: number, size: number, value: number): string | undefined {
    const run = this.run;
    if (!run || run.replayTo !== undefined || this.cause || !this.target.inGuest()) return undefined;
    for (const bp of this.breakpoints.values()) {
      if (bp.kind !== "watch") continue;
      if (kind === "read" ? bp.access === "w" : bp.access === "r") continue;
      let address = linear;
      if (bp.space !== "gva") {
        const w = walkGuest(this.target.space(), linear);
        address = bp.space === "gpa" ? w.gpa : w.hpa;
        if (address < 0) continue;
      }
      if (address < bp.address + bp.length && bp.address < address + size) {
        this.cause = { kind: "watch", bp, access: kind, address, size, value, eip: this.lastHookEip };
        return "watchpoint";
      }
    }
    return undefined;
  }

  /**
   * The CPU's exception hook fires before VMX decides whether the event exits: an exception the
   * exception bitmap intercepts, or an event whose delivery caused an exit, never reached the guest.
   */
  private dropInterceptedEvent(record: DebugExitRecord): void {
    const last = this.events[this.events.length - 1];
    if (!last || this.events.length <= this.eventsAtExit) {
      this.eventsAtExit = this.events.length;
      return;
    }
    const info = record.info;
    const intercepted = (record.reason & 0xffff) === 0 && info.interruptionInfo & 0x80000000;
    const vectoring = info.idtVectoringInfo & 0x80000000;
    const vector = intercepted ? info.interruptionInfo & 0xff : vectoring ? info.idtVectoringInfo & 0xff : -1;
    if (vector === last.vector) this.events.pop();
    this.eventsAtExit = this.events.length;
  }

  private eventsAtExit = 0;

  /** Why the CPU stopped (set by the hooks while the target runs). */
  private stopCause(): StopCause | null {
    return this.cause;
  }

  private pauseAt(record: DebugExitRecord): boolean {
    const run = this.run;
    if (!run || run.replayTo !== undefined) return false;
    if (run.untilExit) {
      this.cause = { kind: "exit", record, bp: null };
      return true;
    }
    const basic = record.reason & 0xffff;
    for (const bp of this.breakpoints.values()) {
      if (bp.kind === "exit" && (bp.reason === null || bp.reason === basic)) {
        this.cause = { kind: "exit", record, bp };
        return true;
      }
    }
    return false;
  }

  // ======================= running =======================

  private *next(): Generator<void, string[], boolean | undefined> {
    const regs = this.regs();
    const bytes = views.readGuest(this, regs.eip, 15);
    if (bytes && bytes.length > 0) {
      const insn = disassembleOne(bytes, 0, regs.eip);
      if (/^call\b/.test(insn.text)) {
        return yield* this.go({ next: { eip: (regs.eip + insn.length) >>> 0, esp: regs.esp } });
      }
    }
    return yield* this.go({ stepTarget: this.G + 1 });
  }

  /** Runs the target under `control` until a stop; returns the stop report. */
  private *go(control: Partial<RunControl>): Generator<void, string[], boolean | undefined> {
    const ended = this.target.ended();
    if (ended) throw new DebugError(`the program has ended (${ended}); 'back' goes back in time`);
    const startG = this.G;
    const limitG = startG + this.commandLimit;
    const exitsBefore = this.exits.length;
    const eventsBefore = this.events.length;
    const resumeEip = this.regs().eip;
    this.console = [];
    let finished = false;
    let limited = false;
    let interrupted = false;
    for (;;) {
      this.run = {
        stepTarget: control.stepTarget ?? null,
        next: control.next ?? null,
        untilExit: control.untilExit ?? false,
        chunkEnd: Math.min(this.G + CHUNK, limitG),
        resumeEip,
        resumeG: startG,
      };
      this.cause = null;
      const r = this.target.resume((record) => this.pauseAt(record));
      this.syncPosition();
      this.run = null;
      if (r === "done") {
        finished = true;
        break;
      }
      if (this.stopCause()?.kind !== "chunk") break;
      if (this.G >= limitG) {
        limited = true;
        break;
      }
      const stop = yield;
      if (stop) {
        interrupted = true;
        break;
      }
    }
    const cause = finished || limited || interrupted ? null : this.stopCause();
    this.stopCount++;
    this.previousRegs = this.currentRegs;
    const last = this.stopCause();
    const atHook = !finished && last !== null && last.kind !== "exit" && last.kind !== "watch";
    this.record(atHook && this.hookFirst ? "at" : "after");
    return this.report({
      cause,
      finished,
      limited,
      interrupted,
      exitsBefore,
      eventsBefore,
      steps: this.G - startG,
    });
  }

  private report(r: {
    cause: StopCause | null;
    finished: boolean;
    limited: boolean;
    interrupted: boolean;
    exitsBefore: number;
    eventsBefore: number;
    steps: number;
  }): string[] {
    const out: string[] = [];
    // What the guest printed on the way.
    if (this.console.length > 0) {
      const text = String.fromCharCode(...this.console.slice(0, 20000));
      const lines = text.split("\n");
      if (lines[lines.length - 1] === "") lines.pop();
      for (const l of lines) out.push(`${this.paint("dim", "console|")} ${l}`);
    }
    // Exits handled on the way (the one the run stopped at is reported below).
    const cause = r.cause;
    const stopRecord = cause?.kind === "exit" ? cause.record : null;
    const passed = this.exits.slice(r.exitsBefore).filter((e) => e !== stopRecord);
    for (const e of passed.slice(0, SHOWN_EXITS)) out.push(`  ${views.exitLine(e)}`);
    if (passed.length > SHOWN_EXITS) {
      out.push(`  ... and ${plural(passed.length - SHOWN_EXITS, "more VM exit")} ('exits' lists them)`);
    }
    const events = this.events.slice(r.eventsBefore);
    for (const e of events.slice(0, SHOWN_EVENTS)) out.push(`  ${views.eventLine(this, e)}`);
    if (events.length > SHOWN_EVENTS) out.push(`  ... and ${plural(events.length - SHOWN_EVENTS, "more event")}`);
    if (r.finished) {
      out.push(this.paint("bold", `the program has ended: ${this.target.ended() ?? "stopped"}`));
      out.push(`(${plural(r.steps, "guest instruction")} in this command; 'back' goes back in time)`);
      return out;
    }
    if (r.limited)
      out.push(`stopped after ${plural(r.steps, "guest instruction")} (the command limit); 'continue' goes on`);
    if (r.interrupted) out.push(`interrupted after ${plural(r.steps, "guest instruction")}`);
    if (cause) {
      switch (cause.kind) {
        case "breakpoint":
          out.push(
            this.paint(
              "bold",
              `breakpoint ${cause.bp.id} at ${hex8(this.regs().eip)} ${this.symbolize(this.regs().eip)}`.trimEnd(),
            ),
          );
          break;
        case "watch": {
          const at = cause.bp.kind === "watch" ? cause.bp.space : "gva";
          const sym = at === "gva" ? this.symbolize(cause.address) : "";
          const size = cause.size === 1 ? 0xff : cause.size === 2 ? 0xffff : 0xffffffff;
          out.push(
            this.paint(
              "bold",
              `watchpoint ${cause.bp.id}: ${cause.access} of ${plural(cause.size, "byte")} at ${at} ${hex8(cause.address)}${sym ? ` ${sym}` : ""}`,
            ),
            `  value ${views.num(this, (cause.value & size) >>> 0)}, by the instruction at ${hex8(cause.eip)} ${this.symbolize(cause.eip)}`.trimEnd(),
          );
          break;
        }
        case "exit":
          out.push(...views.exitStop(this, cause.record, cause.bp));
          break;
        default:
          break;
      }
    }
    out.push(this.location());
    return out;
  }

  // ======================= history =======================

  private engineState(phase: EngineState["phase"]): EngineState {
    return {
      G: this.G,
      hookG: this.hookG,
      hookFirst: this.hookFirst,
      lastInstret: this.lastInstret,
      lastWasGuest: this.lastWasGuest,
      lastHookEip: this.lastHookEip,
      exits: this.exits.length,
      events: this.events.length,
      phase,
    };
  }

  /** Records a checkpoint of the current stop. */
  private record(phase: EngineState["phase"]): void {
    const previous = this.history[this.history.length - 1]?.checkpoint ?? null;
    const checkpoint = this.checkpointer.capture(previous);
    this.history.push({ checkpoint, state: this.engineState(phase) });
    // Bounded: at most historyLimit stops, and about HISTORY_BYTES of saved pages and values.
    let bytes = this.history.reduce((sum, h) => sum + h.checkpoint.bytes, 0);
    while (this.history.length > this.historyLimit || (bytes > HISTORY_BYTES && this.history.length > 2)) {
      bytes -= this.history.shift()!.checkpoint.bytes;
    }
  }

  /** The oldest position `back` can reach. */
  get oldestPosition(): number {
    return this.history[0]!.state.G;
  }

  /** Guest instructions retired so far. */
  get position(): number {
    return this.G;
  }

  private *back(n: number): Generator<void, string[], boolean | undefined> {
    if (n === 0) return [this.location()];
    const target = this.G - n;
    if (target < 0) throw new DebugError(`cannot go back ${plural(n, "instruction")}: only ${this.G} ran so far`);
    let index = -1;
    for (let k = this.history.length - 1; k >= 0; k--) {
      const s = this.history[k]!.state;
      if (s.G < target || (s.G === target && s.phase !== "after")) {
        index = k;
        break;
      }
    }
    if (index < 0) {
      throw new DebugError(
        `cannot go back that far: the history starts after instruction ${this.oldestPosition} (--history ${this.historyLimit})`,
      );
    }
    const before = this.regs();
    const entry = this.history[index]!;
    const later = this.history.slice(index + 1).map((h) => h.checkpoint);
    this.checkpointer.restore(entry.checkpoint, later);
    this.history.length = index + 1;
    const s = entry.state;
    this.G = s.G;
    this.hookG = s.hookG;
    this.hookFirst = s.hookFirst;
    this.lastInstret = s.lastInstret;
    this.lastWasGuest = s.lastWasGuest;
    this.lastHookEip = s.lastHookEip;
    this.exits.length = s.exits;
    this.events.length = s.events;
    this.eventsAtExit = s.events;
    // Watchpoints may have been added or removed since: the CPU's access masks follow the hooks now.
    this.cpu.updateAccessMasks();
    let replayed = 0;
    if (!(s.G === target && s.phase === "at")) {
      // Re-execute to the target; nothing stops on the way and nothing is printed twice.
      this.replaying = true;
      try {
        for (;;) {
          this.run = {
            replayTo: target,
            stepTarget: null,
            next: null,
            untilExit: false,
            chunkEnd: Number.POSITIVE_INFINITY,
            resumeEip: -1,
            resumeG: -1,
          };
          this.cause = null;
          const r = this.target.resume(null);
          this.syncPosition();
          if (r === "done" || this.stopCause()?.kind === "replay") break;
          yield;
        }
      } finally {
        this.run = null;
        this.replaying = false;
      }
      if (this.G !== target) {
        throw new DebugError(`re-execution ended at instruction ${this.G}, not ${target}: the history is unusable`);
      }
      replayed = Math.max(1, target - s.G);
    }
    this.stopCount++;
    this.previousRegs = before;
    // The checkpoint restored stays (it is an earlier stop); the new position gets its own.
    if (replayed > 0) this.record("at");
    const out = [`back ${plural(n, "instruction")}: now after instruction ${target}`];
    if (target > s.G) {
      out.push(`(the checkpoint at ${s.G} restored, ${plural(target - s.G, "instruction")} re-executed)`);
    }
    out.push(this.location());
    return out;
  }

  /** Registers at the previous stop (for change marks). */
  get previous(): GuestRegisters {
    return this.previousRegs;
  }

  /** Completions for a partial line (for the REPL's tab key). */
  complete(line: string): [string[], string] {
    return views.completions(this, line);
  }
}

/** What a target reports to the session. */
export interface TargetHooks {
  onConsole: (byte: number) => void;
  onExit: (record: DebugExitRecord) => void;
}

export function unknownRegister(name: string): string {
  return `unknown register '${name}' (eax..edi, esp, ebp, eip, eflags, cr0-cr4, cs..gs, cpl)`;
}

export const REGISTER_NAMES = [
  "eax",
  "ebx",
  "ecx",
  "edx",
  "esi",
  "edi",
  "ebp",
  "esp",
  "eip",
  "eflags",
  "cr0",
  "cr2",
  "cr3",
  "cr4",
  "cs",
  "ss",
  "ds",
  "es",
  "fs",
  "gs",
  "cpl",
];

/**
 * Labels for disassembly and `<name+off>` annotations: symbols inside the image, preferring code
 * labels over constants (names written in capitals are taken as `equ` constants).
 */
function labelMap(symbols: ReadonlyMap<string, number>, [start, end]: [number, number]): Map<number, string> {
  const out = new Map<number, string>();
  for (const [name, address] of symbols) {
    if (address < start || address >= end) continue;
    if (!/[a-z]/.test(name)) continue;
    // A later label at the same address wins (an end marker comes before the next label), but a
    // local label (parent.local) never replaces a global one.
    const had = out.get(address);
    if (had !== undefined && name.includes(".") && !had.includes(".")) continue;
    out.set(address, name);
  }
  return out;
}
