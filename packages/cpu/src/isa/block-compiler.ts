// The block compiler: a block that has run often enough becomes one JavaScript function. Instructions
// whose table row has an inliner (exec/inline.ts) become their handler's body with the decoded fields
// as constants; the others call their handler. Semantics are unchanged: the same Cpu methods run in
// the same order, and `cpu.blockPos` tells the run loop which instruction faulted. A block that
// branches back to its own start loops inside the function for as long as the run loop would have
// chained it to itself (Cpu.repeatBlock).
//
// The generated source depends only on the instructions, so blocks with the same code (the same program
// in another machine, or another copy of it) share one function, with the JIT's work on it.

import type { Cpu } from "../cpu/cpu.js";
import { RESTART } from "../cpu/fault.js";
import { conditionCode, INLINE_HELPERS } from "../exec/inline.js";
import { type Block, inBlockHandler, isDirectJump, tableHandler } from "./block-cache.js";
import type { Insn } from "./insn.js";
import type { Handler, InlineCode } from "./types.js";

/** Executions of a block before it is compiled. */
export const COMPILE_THRESHOLD = 32;

export type CompiledBlock = (cpu: Cpu, block: Block) => void;

/** Compiled functions by source. Bounded: dropped as a whole when full (blocks keep their functions). */
const bySource = new Map<string, CompiledBlock>();
const MAX_FUNCTIONS = 8192;

/** A number per handler, written into the source so that blocks share a function only with the same handlers. */
const handlerIds = new Map<Handler, number>();

export function compileBlock(block: Block): CompiledBlock {
  const source = blockSource(block);
  let fn = bySource.get(source);
  if (fn === undefined) {
    if (bySource.size >= MAX_FUNCTIONS) bySource.clear();
    const factory = new Function("RESTART", "H", `return function block(c, b) {\n${source}\n};`);
    fn = factory(RESTART, INLINE_HELPERS) as CompiledBlock;
    bySource.set(source, fn);
  }
  return fn;
}

/** The instruction's inline source, unless its handler is not the table's (a misplaced LOCK raises #UD). */
export function inlineCode(i: Insn): InlineCode | null {
  const inline = i.def.inline;
  return inline !== undefined && i.exec === tableHandler(i) ? inline(i) : null;
}

/**
 * A Jcc inside the block (block-cache.ts) as inline code: taken, it counts itself and the instructions
 * before it, sets EIP to its target and returns from the block function.
 */
function sideExitCode(block: Block, k: number): InlineCode | null {
  const i = block.insns[k]!;
  const cc = i.def.condition;
  if (cc === undefined || i.exec !== inBlockHandler(i)) return null;
  const target = i.offset + i.len + i.imm;
  const exit = `c.cycles += ${block.costBefore[k + 1]}; c.instret += ${k + 1}; c.eip = (s + ${target}) | 0; return;`;
  return { code: `if (${conditionCode(cc)}) { ${exit} }`, mayFault: false, writes: false };
}

function handlerId(h: Handler): number {
  let id = handlerIds.get(h);
  if (id === undefined) {
    id = handlerIds.size;
    handlerIds.set(h, id);
  }
  return id;
}

/** Whether the block ends with a relative branch to its own first instruction. */
function loopsToItself(block: Block): boolean {
  const last = block.insns[block.insns.length - 1]!;
  const relative = last.def.operands.includes("Jb") || last.def.operands.includes("Jz");
  return relative && last.opsize === 32 && last.offset + last.len + last.imm === 0;
}

/**
 * The body of `function block(c, b)`. EIP is materialized only before the last instruction, and the
 * clock and the count include every earlier instruction by then (it may read them: RDTSC, the PIT),
 * exactly as the interpretive loop does.
 */
function blockSource(block: Block): string {
  const insns = block.insns;
  const n = insns.length;
  const last = n - 1;
  const loop = loopsToItself(block);
  const body: string[] = [];
  let storedPos = -1; // the blockPos value known to be stored, -1 if none
  let mayBeStale = false; // a store since the last check may have overwritten the block
  const inlined = insns.map((i, k) => (k < last ? (sideExitCode(block, k) ?? inlineCode(i)) : inlineCode(i)));
  // The last instruction is counted with the others when it can neither fault nor read the clock.
  const countAtEnd = inlined[last] !== null && !inlined[last]!.mayFault;
  for (let k = 0; k < n; k++) {
    const insn = insns[k]!;
    const inline = inlined[k]!;
    if (inline !== null && mayBeStale) {
      // A handler call checks by itself (a stale instruction's handler raises RESTART); inline code cannot.
      body.push(`if (b.stale) { c.blockPos = ${k}; throw RESTART; }`);
      storedPos = k;
      mayBeStale = false;
    }
    if (k === last) {
      if (last > 0 && !countAtEnd) body.push(`c.cycles += ${block.costBefore[last]}; c.instret += ${last};`);
      body.push(`c.eip = (s + ${block.length}) | 0;`);
    }
    // blockPos === n: the last instruction, with the earlier ones already counted.
    const pos = k === last ? n : k;
    if ((inline === null || inline.mayFault) && storedPos !== pos) {
      body.push(`c.blockPos = ${pos};`);
      storedPos = pos;
    }
    if (k < last && isDirectJump(insn)) {
      // A JMP the block followed: the next instruction is its target; only its cycles count (at the end).
    } else if (inline !== null) {
      body.push(inline.code);
      mayBeStale = inline.writes;
    } else {
      // Through insn.exec (not a copy), so an instruction whose bytes were overwritten while its block
      // runs still raises the restart signal (self-modifying code, block-cache.ts).
      body.push(`{ const i = b.insns[${k}]; i.exec(c, i); } // h${handlerId(insn.exec)}`);
      mayBeStale = true;
      if (k < last && insn.exec === inBlockHandler(insn)) {
        // It may leave the block after itself (POPF that set TF or IF): counted, EIP at the next one.
        const exit = `c.leftBlock = false; c.cycles += ${block.costBefore[k + 1]}; c.instret += ${k + 1};`;
        body.push(`if (c.leftBlock) { ${exit} c.eip = (s + ${insn.offset + insn.len}) | 0; return; }`);
      }
    }
  }
  if (countAtEnd) body.push(`c.cycles += ${block.cost}; c.instret += ${n};`);
  else body.push(`c.cycles += ${insns[last]!.cost}; c.instret++;`);
  const prologue = ["const s = c.eip;", "const r = c.regs;"];
  if (!loop) return [...prologue, ...body].join("\n");
  if (inlined.some((i) => i === null)) {
    return [...prologue, "for (;;) {", ...body, "if (c.eip !== s || !c.repeatBlock(b)) return;", "}"].join("\n");
  }
  // Inline code changes what the run loop decides between two runs of the block only through the clock
  // or a slow memory access: without one since the last full check, the budget is all there is to check.
  const again = [
    "if (c.eip !== s) return;",
    "if (c.slowAccesses === checked ? !c.blockFits(b) : !c.repeatBlock(b)) return;",
    "checked = c.slowAccesses;",
  ];
  return [...prologue, "let checked = -1;", "for (;;) {", ...body, ...again, "}"].join("\n");
}
