// Decoded blocks, keyed by the host-physical address of their first instruction. A block is a run of
// instructions that ends at a control transfer (or anything marked endsBlock), at a page boundary or
// after MAX_BLOCK instructions; a JMP whose target is in the same page does not end it (the block goes
// on at the target), nor does a Jcc that branches forward (the block goes on after it; taken, it leaves
// the block there: a side exit), nor does POPF (it leaves the block after itself when it sets TF or IF);
// STI's block ends after the instruction its shadow covers. Writes to a page that holds decoded code
// drop that page's blocks (self-modifying code stays correct); the TLB_CODE flag routes such writes to
// the slow path.

import type { Cpu } from "../cpu/cpu.js";
import { RESTART } from "../cpu/fault.js";
import type { CompiledBlock } from "./block-compiler.js";
import { decode } from "./decoder.js";
import { type Insn, REP_NONE } from "./insn.js";
import type { Handler, SizedHandler } from "./types.js";

const restartStale: Handler = () => {
  throw RESTART;
};

export const MAX_BLOCK = 64;

/**
 * Linear pages one instruction that does not end its block can touch: PUSH/POP m32, MOVS, LDS, POP DS
 * or LAR each touch two regions (an operand and the stack, two strings, or an operand and the GDT),
 * each of which may straddle a page boundary.
 */
const MAX_TRANSLATIONS = 4;

/** Instruction cost classes that never touch memory beyond a ModRM or string operand. */
const REGISTER_CLASSES: ReadonlySet<string> = new Set(["simple", "branch", "multiply", "divide"]);

/** Whether the instruction may translate a linear address (and so walk the page tables on a TLB miss). */
function mayTranslate(insn: Insn): boolean {
  if (insn.mod !== 3 || !REGISTER_CLASSES.has(insn.def.cost)) return true;
  return insn.def.operands.some((o) => o[0] === "X" || o[0] === "Y");
}

/** The most cycles one TLB miss can add: a two-level walk whose every reference, and the page, go through EPT. */
function worstTranslationCost(cpu: Cpu): number {
  return 2 * cpu.cost.paging.walkReference + 3 * 4 * cpu.cost.vmx.eptWalkReference;
}

/** JMP rel8/rel32 with a 32-bit operand size (a 16-bit one truncates EIP): its target is known at decode. */
export function isDirectJump(insn: Insn): boolean {
  const op = insn.def.operands[0];
  return insn.def.mnemonic === "jmp" && (op === "Jb" || op === "Jz") && insn.opsize === 32;
}

/** The handler of a table entry for the instruction's operand size. */
function forSize(h: Handler | SizedHandler, insn: Insn): Handler {
  return typeof h === "function" ? h : insn.opsize === 16 ? h.w : h.d;
}

/** The handler the opcode table gives the instruction (a misplaced LOCK prefix gets #UD's instead). */
export function tableHandler(insn: Insn): Handler {
  return forSize(insn.def.exec, insn);
}

/** The handler the form runs with when it is not the last of its block (OpcodeDef.inBlock), or null. */
export function inBlockHandler(insn: Insn): Handler | null {
  const h = insn.def.inBlock;
  return h === undefined ? null : forSize(h, insn);
}

/** Wrappers that end an STI shadow after the handler they wrap, one per handler (blocks share them). */
const shadowEnders = new Map<Handler, Handler>();

/**
 * The covered instruction's handler: when it completes, the shadow has held for its one instruction
 * and ends, unless the instruction set a MOV SS shadow of its own. One that faults or exits keeps it
 * (a VM exit saves it as blocking by STI, as on hardware).
 */
function endingShadow(h: Handler): Handler {
  let wrapped = shadowEnders.get(h);
  if (wrapped === undefined) {
    wrapped = (c, i) => {
      h(c, i);
      if (!c.movSsShadow) c.interruptShadow = false;
    };
    shadowEnders.set(h, wrapped);
  }
  return wrapped;
}

/**
 * A Jcc its block goes on after (OpcodeDef.condition): forward, and with a 32-bit operand size (a
 * 16-bit one truncates EIP). Backward branches are mostly taken (loops), so they end their blocks.
 */
function continuesBlock(insn: Insn): boolean {
  return insn.opsize === 32 && insn.imm >= 0 && insn.exec === tableHandler(insn);
}

const SLOTS = 1 << 14;

export interface Block {
  /** Host-physical address of the first byte. */
  phys: number;
  insns: Insn[];
  /** Total modeled cycles of the block. */
  cost: number;
  /**
   * cost plus the most its instructions before the last can add while they run (page walks): the run
   * loop runs the block whole only if even this ends before the next event, so that no event falls due
   * inside it unnoticed (the last instruction's own extra cycles are seen at the block's end).
   */
  fitCost: number;
  /** costBefore[k]: cycles of insns[0..k-1] (for fault accounting). */
  costBefore: Float64Array;
  /** Linear EIP the block was decoded at (the code may be mapped elsewhere too). */
  decodedAt: number;
  /** From the first instruction to the end of the last, in bytes (EIP after the block, less EIP before). */
  length: number;
  // Successor links (block chaining): valid while linkEpoch equals the TLB epoch, which moves on
  // every flush, eviction and code invalidation and names the address space and CPL (memory/tlb.ts).
  linkEpoch: number;
  linkEip0: number;
  link0: Block | null;
  linkEip1: number;
  link1: Block | null;
  /** Times the block ran through the interpretive loop, and its compiled form once it is hot. */
  runs: number;
  compiled: CompiledBlock | null;
  /** The block's bytes were overwritten: what is left of it must not run (compiled code checks this after stores). */
  stale: boolean;
}

export class BlockCache {
  private readonly slots: (Block | null)[] = new Array(SLOTS).fill(null);
  /** Physical page number -> blocks starting in it. */
  private readonly byPage = new Map<number, Block[]>();
  /**
   * 1 for each physical page that is a key of byPage: the memory's watched pages, so that a non-CPU
   * physical write reports to invalidatePhysical only when it touches code (almost none do: page
   * tables, stacks, kvm_run).
   */
  private readonly codePage: Uint8Array;
  decodedBlocks = 0;
  invalidations = 0;
  /**
   * The block that ended the last burst: its successor links find the block a new burst starts
   * with (after a VM exit and entry, an interrupt and its IRET) without a lookup.
   */
  lastRun: Block | null = null;

  constructor(private readonly cpu: Cpu) {
    this.codePage = cpu.mem.watchedPages;
  }

  hasCode(hpaPage: number): boolean {
    return this.codePage[hpaPage >>> 12] === 1;
  }

  lookup(eip: number): Block {
    const phys = this.cpu.fetchPhys(eip);
    const slot = (phys ^ (phys >>> 14)) & (SLOTS - 1);
    const cached = this.slots[slot];
    if (cached !== null && cached !== undefined && cached.phys === phys) return cached;
    const block = this.decodeBlock(eip, phys);
    const crossesPage = (phys & 0xfff) + block.length > 0x1000;
    if (phys + 0x1000 <= this.cpu.memSize && !crossesPage) {
      // Only RAM-backed code is cached; code in MMIO space is decoded every time.
      this.slots[slot] = block;
      const page = phys >>> 12;
      let list = this.byPage.get(page);
      if (!list) {
        list = [];
        this.byPage.set(page, list);
        this.codePage[page] = 1;
        this.cpu.tlb.setCodeFlag(page, true);
      }
      list.push(block);
    }
    return block;
  }

  private decodeBlock(eip: number, phys: number): Block {
    const cpu = this.cpu;
    const insns: Insn[] = [];
    let offset = 0;
    let cost = 0;
    const pageEnd = 0x1000 - (phys & 0xfff);
    const u8 = cpu.u8;
    const inRam = phys + 0x1000 <= cpu.memSize;
    // A JMP to a place in the same page is followed: the block goes on at its target (one block, not two
    // chained), unless the target was decoded into it already (a loop: the block would unroll it).
    const pageStart = -(phys & 0xfff);
    // STI's shadow covers the next instruction, which then ends the block (OpcodeDef.shadow).
    let shadowed = false;
    let covered = -1;
    for (;;) {
      const start = offset;
      // Bytes inside the block's page come straight from RAM; an instruction that runs past the page
      // end is fetched through translation (which may fault, as on hardware).
      const insn = decode((k) => {
        const o = start + k;
        if (inRam && o < pageEnd) return u8[phys + o]!;
        return cpu.fetch8((eip + o) | 0);
      });
      insn.offset = start;
      insns.push(insn);
      cost += insn.cost;
      offset += insn.len;
      if (shadowed) {
        covered = insns.length - 1;
        break;
      }
      if (offset >= pageEnd || insns.length >= MAX_BLOCK) break;
      if (isDirectJump(insn) && inRam) {
        const target = offset + insn.imm;
        if (target < pageStart || target + 15 > pageEnd || insns.some((i) => i.offset === target)) break;
        offset = target;
        continue;
      }
      if (insn.def.condition !== undefined) {
        if (!continuesBlock(insn)) break;
      } else if (insn.def.endsBlock || insn.def.endsBlockIf?.(insn)) break;
      if (insn.def.shadow && insn.exec === tableHandler(insn)) shadowed = true;
      // A REP string instruction adds cycles per iteration, without bound: it ends its block.
      if (insn.rep !== REP_NONE && insn.def.cost === "stringIteration") break;
      // An instruction that may run past the page end starts a block of its own (never cached).
      if (offset + 15 > pageEnd) break;
    }
    // An instruction the block went on after runs with its handler for inside a block where it has one
    // (OpcodeDef.inBlock: a Jcc, which leaves the block when taken; POPF): the last instruction keeps
    // the table's, which sets EIP as the run loop expects of a block's end.
    const last = insns.length - 1;
    for (let k = 0; k < last; k++) {
      const insn = insns[k]!;
      if (insn.exec === tableHandler(insn)) insn.exec = inBlockHandler(insn) ?? insn.exec;
    }
    if (covered >= 0) insns[covered]!.exec = endingShadow(insns[covered]!.exec);
    const costBefore = new Float64Array(insns.length + 1);
    let acc = 0;
    for (let k = 0; k < insns.length; k++) {
      costBefore[k] = acc;
      acc += insns[k]!.cost;
    }
    costBefore[insns.length] = acc;
    let translations = 0;
    for (let k = 0; k < insns.length - 1; k++) translations += mayTranslate(insns[k]!) ? MAX_TRANSLATIONS : 0;
    this.decodedBlocks++;
    return {
      phys,
      insns,
      cost,
      fitCost: cost + translations * worstTranslationCost(cpu),
      costBefore,
      decodedAt: eip,
      length: offset, // where the last instruction ends (a followed JMP moved offset to its target)
      linkEpoch: -1,
      linkEip0: -1,
      link0: null,
      linkEip1: -1,
      link1: null,
      runs: 0,
      compiled: null,
      stale: false,
    };
  }

  /** Drops blocks in the pages a physical write touched. */
  invalidatePhysical(addr: number, length: number): void {
    const first = addr >>> 12;
    const last = (addr + length - 1) >>> 12;
    for (let page = first; page <= last; page++) {
      if (this.codePage[page] !== 1) continue;
      const list = this.byPage.get(page)!;
      for (const b of list) {
        const slot = (b.phys ^ (b.phys >>> 14)) & (SLOTS - 1);
        if (this.slots[slot] === b) this.slots[slot] = null;
        // The block may be the one running (a store into its next instructions): what is left of it
        // must not run from the stale decode, so each instruction now restarts at its own EIP.
        for (const i of b.insns) i.exec = restartStale;
        b.stale = true;
      }
      this.byPage.delete(page);
      this.codePage[page] = 0;
      this.cpu.tlb.setCodeFlag(page, false);
      this.cpu.tlb.bumpEpoch();
      this.invalidations++;
    }
  }

  clear(): void {
    this.lastRun = null;
    for (const page of this.byPage.keys()) this.cpu.tlb.setCodeFlag(page, false);
    this.slots.fill(null);
    this.byPage.clear();
    this.codePage.fill(0);
    this.cpu.tlb.bumpEpoch();
  }

  /** The physical pages holding decoded code (machine snapshots keep this set: see restoreCodePages). */
  codePages(): number[] {
    return [...this.byPage.keys()];
  }

  /**
   * Puts back a snapshot's set of code pages (the TLB, restored with it, already carries their TLB_CODE
   * flags). The blocks themselves are dropped and decoded again when they run; what must match is
   * which pages count as code, because that decides which writes take the slow, invalidating path.
   */
  restoreCodePages(pages: readonly number[]): void {
    this.slots.fill(null);
    this.byPage.clear();
    this.codePage.fill(0);
    for (const page of pages) {
      this.byPage.set(page, []);
      this.codePage[page] = 1;
    }
    this.lastRun = null;
    this.cpu.tlb.bumpEpoch();
  }
}
