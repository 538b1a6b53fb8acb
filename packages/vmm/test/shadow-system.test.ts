// The cpu package's system-test programs (packages/cpu/test/system/*.asm: exceptions, privilege,
// paging, self-modifying code, string instructions, interrupts) run in a VM under shadow paging and
// must leave exactly what they leave on the bare machine: stop reason, registers (CR0-CR4 as the
// guest sees them), retired instructions, console output and all 16 MiB of guest RAM (their logs,
// the A/D bits in their page tables, their stacks). Every case label of every program is run.
//
// Three interrupt cases depend on when the PIT fires relative to the instruction stream; a VM's exits
// shift that by a few instructions, so for them the instruction count is not compared, and for
// int_ring3 the saved EIP of each tick may be either instruction of the spin loop (as the system
// test itself allows).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  assembleSystemFile,
  hex,
  memoryDiff,
  type Outcome,
  runBare,
  runShadow,
  SYSTEM_DIR,
  sym,
} from "./shadow-harness.js";

const FILES = ["exceptions.asm", "privilege.asm", "paging.asm", "smc.asm", "string.asm", "interrupts.asm"];
const TIMING_DEPENDENT = new Set(["int_sti_shadow", "int_popf_no_shadow", "int_ring3"]);

/** The case labels of a program: top-level labels whose first statement is START. */
function cases(file: string): string[] {
  const source = readFileSync(join(SYSTEM_DIR, file), "utf8");
  return [...source.matchAll(/^([a-z_0-9]+):\s*\n\s*START\b/gm)].map((m) => m[1]!);
}

describe.each(FILES)("system tests under shadow paging: %s", (file) => {
  const program = assembleSystemFile(file);
  it.each(cases(file))("%s ends as on the bare machine", (entry) => {
    const bare = runBare(program, { entry });
    const shadow = runShadow(program, { entry });
    expect(shadow.stop, shadow.diagnostic).toEqual(bare.stop);
    const regs = (o: Outcome) => Object.fromEntries(Object.entries(o.regs).map(([k, v]) => [k, hex(v)]));
    expect(regs(shadow)).toEqual(regs(bare));
    expect(shadow.console).toBe(bare.console);
    if (!TIMING_DEPENDENT.has(entry)) {
      expect(shadow.instructions).toBe(bare.instructions);
      expect(memoryDiff(bare, shadow, 16 << 20)).toEqual([]);
      return;
    }
    // Only the saved EIPs of the ticks may differ, and only between the two instructions of the loop.
    const tickEip = sym(program, "SCRATCH") + 0x10;
    const allowed = entry === "int_ring3" ? [sym(program, "int_ring3.spin"), sym(program, "int_ring3.jb")] : [];
    for (const line of memoryDiff(bare, shadow, 16 << 20, 64)) {
      const address = Number.parseInt(line.slice(2, line.indexOf(":")), 16);
      expect(address >= tickEip && address < tickEip + 0x40, line).toBe(true);
      expect(allowed).toContain(shadow.read32(address));
    }
  });
});

describe("shadow paging did the work", () => {
  it("the paging cases take hidden faults, reflect guest faults, and unprotect written page tables", () => {
    const program = assembleSystemFile("paging.asm");
    const faults = runShadow(program, { entry: "pg_faults" }).mmu.stats;
    expect(faults.hiddenFaults).toBeGreaterThan(5);
    expect(faults.guestFaults).toBe(8);
    const global = runShadow(program, { entry: "pg_global" }).mmu.stats;
    expect(global.tableWrites).toBeGreaterThan(0);
    expect(global.resyncs).toBeGreaterThan(0);
    expect(global.invlpgs).toBe(1);
  });
});
