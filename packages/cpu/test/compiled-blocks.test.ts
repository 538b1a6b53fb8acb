// Compiled blocks (isa/block-compiler.ts, inlined instructions and loops inside one function) against
// one instruction at a time: every system-test case and some C programs run both ways (an instruction
// hook forces the single-step path) and must end in the same state, to the cycle: registers, EFLAGS,
// instruction and cycle counts, TLB misses and walks, memory and the stop reason.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { examplePath, Machine } from "../src/index.js";
import { everyCaseAgreesWhen, finalState, frameOf, program, Run } from "./system/harness.js";

function stepwise(m: Machine): void {
  m.cpu.hooks.instruction = () => undefined;
}

describe("compiled blocks run exactly like single steps", () => {
  everyCaseAgreesWhen(stepwise);

  for (const file of ["printf-O2.elf", "mix-O2.elf", "sieve-O0.elf"]) {
    it(file, () => {
      const image = new Uint8Array(readFileSync(examplePath(`c/build/${file}`)));
      const [fast, slow] = [new Machine({ memoryMiB: 16 }), new Machine({ memoryMiB: 16 })];
      fast.load(image);
      slow.load(image);
      stepwise(slow);
      const fastStop = fast.run({ maxInstructions: 400_000_000 });
      const slowStop = slow.run({ maxInstructions: 400_000_000 });
      expect(finalState(fast, fastStop)).toEqual(finalState(slow, slowStop));
      expect(Buffer.compare(fast.memory.u8, slow.memory.u8)).toBe(0);
    });
  }
});

describe("loops inside one compiled block", () => {
  it("take each timer interrupt between two instructions", () => {
    const r = new Run(program("blocks.asm"), "blocks_timer_loop");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.u32(r.sym("TICKS"))).toBe(8);
    const counts = r.words(r.sym("TICK_EBX"), 8);
    // Thousands of iterations between ticks: the loop ran compiled, and each tick lands inside it.
    expect(counts[0]).toBeGreaterThan(1000);
    for (let k = 1; k < 8; k++) expect(counts[k]).toBeGreaterThan(counts[k - 1]! + 1000);
    const loop = r.sym("blocks_timer_loop.loop");
    for (const eip of r.words(r.sym("TICK_EIP"), 8)) expect(eip - loop).toBeLessThan(20);
  });

  it("take a tick that falls due during page walks or a REP string at the instruction where it is due", () => {
    // (everyCaseAgreesWhen above compares them with single steps; here: they test what they mean to.)
    const walks = new Run(program("blocks.asm"), "blocks_timer_walks");
    expect(walks.stop).toEqual({ kind: "halt" });
    expect(walks.machine.cpu.tlb.stats.walkReferences).toBeGreaterThan(8 * 100);
    const rep = new Run(program("blocks.asm"), "blocks_timer_rep");
    expect(rep.stop).toEqual({ kind: "halt" });
    for (const r of [walks, rep]) {
      expect(r.u32(r.sym("TICKS"))).toBe(8);
      // Ticks land at several instructions of the loop, not only at its block ends.
      expect(new Set(r.words(r.sym("TICK_EIP"), 8)).size).toBeGreaterThan(1);
    }
  });

  it("fault at the faulting instruction, after the iterations before it", () => {
    const r = new Run(program("paging.asm"), "pf_in_loop");
    expect(r.stop).toEqual({ kind: "halt" });
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([14]);
    expect(log[0]!.cr2).toBe(0x800000);
    expect(frameOf(log[0]!, true)).toMatchObject({ eip: r.sym("pf_in_loop.store"), error: 2 });
    expect([log[0]!.eax, log[0]!.ebx]).toEqual([7 * 201, 200]);
  });

  it("run new code at once after a store into the rest of their own block", () => {
    const r = new Run(program("smc.asm"), "smc_loop_own_block");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(r.regs.ebx).toBe(600);
  });
});

describe("blocks that go on past a jump, a forward Jcc, a data-segment load, POPF or STI", () => {
  const blockAt = (r: Run, label: string) => r.machine.cpu.blocks.lookup(r.sym(label));
  const mnemonics = (b: { insns: { def: { mnemonic: string | object } }[] }) =>
    b.insns.map((i) => i.def.mnemonic).join(" ");

  it("follow a JMP within the page, and take each tick where it falls due", () => {
    const r = new Run(program("blocks.asm"), "blocks_jmp_follow");
    expect(r.stop).toEqual({ kind: "halt" });
    // add, jmp, add, mov, jmp, add, jmp, cmp, jb: one block that loops to itself.
    const loop = blockAt(r, "blocks_jmp_follow.loop");
    expect(mnemonics(loop)).toBe("add jmp add mov jmp add jmp cmp jb");
    expect(loop.compiled).not.toBeNull();
    expect(r.u32(r.sym("TICKS"))).toBe(8);
    expect(new Set(r.words(r.sym("TICK_EIP"), 8)).size).toBeGreaterThan(1);
  });

  it("report a fault at a followed jump's target there, after a Jcc not taken, and stop at a jump back to the block's start", () => {
    const r = new Run(program("blocks.asm"), "blocks_jmp_fault");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(mnemonics(blockAt(r, "blocks_jmp_fault.loop"))).toBe("inc cmp jae jmp mov add jmp");
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([14]);
    expect(log[0]!.cr2).toBe(0x800000);
    expect(frameOf(log[0]!, true)).toMatchObject({ eip: r.sym("blocks_jmp_fault.store"), error: 2 });
    expect(log[0]!.ebx).toBe(51);
  });

  it("go on after a forward Jcc, leave at it when it is taken, and take each tick where it falls due", () => {
    const r = new Run(program("blocks.asm"), "blocks_side_exit");
    expect(r.stop).toEqual({ kind: "halt" });
    // add, test, jnz (forward), add, mov, cmp, jb (backward: the end): one block.
    const loop = blockAt(r, "blocks_side_exit.loop");
    expect(mnemonics(loop)).toBe("add test jne add mov cmp jb");
    expect(loop.compiled).not.toBeNull();
    expect(r.u32(r.sym("TICKS"))).toBe(8);
    expect(r.regs.esi).toBe(r.regs.ebx + Math.floor(r.regs.ebx / 2));
    // Ticks land after the JNZ too (inside the block's second half), not only at block ends.
    const store = r.sym("blocks_side_exit.loop") + 7;
    expect(r.words(r.sym("TICK_EIP"), 8).some((eip) => eip > store && eip < r.sym("blocks_side_exit.odd"))).toBe(true);
  });

  it("go on after a POPF that leaves IF and TF clear, leave after one that sets IF, and end after STI's shadow", () => {
    const r = new Run(program("blocks.asm"), "blocks_popf_sti");
    expect(r.stop).toEqual({ kind: "halt" });
    const names = (label: string) =>
      blockAt(r, label)
        .insns.map((i) => (typeof i.def.mnemonic === "string" ? i.def.mnemonic : i.def.mnemonic.d))
        .join(" ");
    expect(names("blocks_popf_sti.loop")).toBe("cli add push popfd add push popfd add cli add sti add");
    expect(names("blocks_popf_sti.open")).toBe("add cli add sti add");
    expect(blockAt(r, "blocks_popf_sti.loop").compiled).not.toBeNull();
    expect(r.u32(r.sym("TICKS"))).toBe(8);
    const allowed = ["open", "open_cli", "after", "jb", "loop"].map((l) => r.sym(`blocks_popf_sti.${l}`));
    const eips = r.words(r.sym("TICK_EIP"), 8);
    for (const eip of eips) expect(allowed).toContain(eip);
    // The tick pending when the second POPFD sets IF is taken right after it.
    expect(eips).toContain(r.sym("blocks_popf_sti.open"));
    expect(r.regs.esi).toBe(3 * r.regs.ebx);
    expect(r.regs.edi).toBe(r.regs.ebx);
  });

  it("go on after MOV DS and MOV ES, and report a #GP from one of them at that instruction", () => {
    const r = new Run(program("blocks.asm"), "blocks_mov_ds_fault");
    expect(r.stop).toEqual({ kind: "halt" });
    expect(blockAt(r, "blocks_mov_ds_fault.loop").insns.length).toBe(5);
    const log = r.log();
    expect(log.map((e) => e.vector)).toEqual([13]);
    expect(frameOf(log[0]!, true)).toMatchObject({ eip: r.sym("blocks_mov_ds_fault.bad"), error: 0x1000 });
    expect(log[0]!.ecx).toBe(40 + 0x100);
  });
});
