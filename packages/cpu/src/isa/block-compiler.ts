// The block compiler: a block that has run often enough becomes one JavaScript function that calls
// its instructions' handlers in sequence with the decoded instructions bound as constants. Each call
// site then sees a single target, so the JIT can inline the handlers — the interpretive loop, the
// array loads and the megamorphic dispatch disappear. Semantics are unchanged: the same handlers run,
// and `cpu.blockPos` tells the run loop which instruction faulted.

import type { Cpu } from "../cpu/cpu.js";
import type { Block } from "./block-cache.js";

/** Executions of a block before it is compiled. */
export const COMPILE_THRESHOLD = 32;

export type CompiledBlock = (cpu: Cpu) => void;

/**
 * Builds `function (c) { const s = c.eip; i0.exec(c, i0); c.blockPos = 1; ...; c.eip = s + len; iN.exec(c, iN); }`.
 * EIP is materialized only before the last instruction, exactly as the interpretive loop does.
 */
export function compileBlock(block: Block): CompiledBlock {
  const n = block.insns.length;
  const params: string[] = [];
  const args: unknown[] = [];
  const body: string[] = ["const s = c.eip;"];
  for (let k = 0; k < n; k++) {
    const insn = block.insns[k]!;
    params.push(`i${k}`);
    args.push(insn);
    if (k === n - 1) {
      // The clock and the count include every earlier instruction before the last one runs.
      body.push(`c.cycles += ${block.costBefore[n - 1]}; c.instret += ${n - 1}; c.blockPos = ${n};`);
      body.push(`c.eip = (s + ${block.length}) | 0;`);
    }
    // Through insn.exec (not a bound copy), so an instruction whose bytes were overwritten while its
    // block runs still raises the restart signal (self-modifying code, block-cache.ts).
    body.push(`i${k}.exec(c, i${k});`);
    if (k < n - 1) body.push(`c.blockPos = ${k + 1};`);
  }
  const factory = new Function(...params, `return function block(c) {\n${body.join("\n")}\n};`);
  return factory(...args) as CompiledBlock;
}
