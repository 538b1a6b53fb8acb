// The two-dimensional walk: every guest paging-structure entry and the final guest-physical address
// go through EPT, so a TLB miss with n guest levels and m EPT levels makes (n+1)(m+1)-1 paging-
// structure references (cpu.tlb.stats.walkReferences), each costing its modeled cycles.
//
// Measured one miss at a time: the guest loops `mov eax, [ebx]; vmcall`; with a VPID the code page
// stays in the TLB across exits, so after a warm-up run the only miss is the new page in EBX.
// The guest's page-table entries have A (and D) preset: see the note on A/D updates at the end.
import { describe, expect, test } from "vitest";
import { A, D, launchToExit, P, RW, resumeToExit, type Setup, setup, US } from "./setup-ept.js";

const LOOP = "top:\nmov eax, [ebx]\nvmcall\njmp top\n";
const EBX = 3;

interface Config {
  ept: "4k" | "2m" | "off";
  guest: "4k" | "4m" | "off";
}

function configured(c: Config): Setup {
  const s = setup({ ept: c.ept !== "off", emptyEpt: c.ept === "2m", paging: c.guest !== "off", vpid: 1, code: LOOP });
  if (c.ept === "2m") s.ept.identity2m(0, 0x800000);
  // 0x400000-0x7fffff: one 4 MiB guest page when asked for.
  if (c.guest === "4m") s.paging!.map4m(0x400000, 0x400000);
  return s;
}

/** Runs one warm-up access, then one access to a fresh page: returns that miss's counters. */
function oneMiss(c: Config): { misses: number; refs: number; cycles: number; hitCycles: number } {
  const s = configured(c);
  const cpu = s.m.cpu;
  cpu.regs[EBX] = 0x500000;
  expect(launchToExit(s).reason).toBe(18);
  // A run that hits in the TLB, for the cycle baseline.
  s.skip();
  let c0 = cpu.cycles;
  expect(resumeToExit(s).reason).toBe(18);
  const hitCycles = cpu.cycles - c0;
  // The measured run: a page never touched (but in the same guest page table / 4 MiB page).
  cpu.regs[EBX] = 0x501000;
  s.skip();
  const stats = cpu.tlb.stats;
  const m0 = stats.misses;
  const r0 = stats.walkReferences;
  c0 = cpu.cycles;
  expect(resumeToExit(s).reason).toBe(18);
  return { misses: stats.misses - m0, refs: stats.walkReferences - r0, cycles: cpu.cycles - c0, hitCycles };
}

describe("page-walk references of one TLB miss", () => {
  // [config, references, guest-table references, EPT references]
  const table: [string, Config, number, number, number][] = [
    ["2-level guest paging, 4-level EPT: (2+1)(4+1)-1", { guest: "4k", ept: "4k" }, 14, 2, 12],
    ["4 MiB guest page, 4-level EPT: (1+1)(4+1)-1", { guest: "4m", ept: "4k" }, 9, 1, 8],
    ["guest paging off, 4-level EPT: the EPT walk alone", { guest: "off", ept: "4k" }, 4, 0, 4],
    ["2-level guest paging, no EPT", { guest: "4k", ept: "off" }, 2, 2, 0],
    ["4 MiB guest page, no EPT", { guest: "4m", ept: "off" }, 1, 1, 0],
    ["2-level guest paging, EPT 2 MiB pages (3 levels used): (2+1)(3+1)-1", { guest: "4k", ept: "2m" }, 11, 2, 9],
    ["4 MiB guest page, EPT 2 MiB pages: (1+1)(3+1)-1", { guest: "4m", ept: "2m" }, 7, 1, 6],
    ["guest paging off, EPT 2 MiB pages", { guest: "off", ept: "2m" }, 3, 0, 3],
  ];

  test.each(table)("%s = %i", (_name, config, refs, guestRefs, eptRefs) => {
    const r = oneMiss(config);
    expect(r.misses).toBe(1);
    expect(r.refs).toBe(refs);
    expect(guestRefs + eptRefs).toBe(refs);
    // The miss costs its references on top of the same run hitting in the TLB.
    const cost = configured(config).m.costModel;
    expect(r.cycles - r.hitCycles).toBe(guestRefs * cost.paging.walkReference + eptRefs * cost.vmx.eptWalkReference);
  });

  test("the debugger's side-effect-free walk agrees: 14 references, and it changes no counter", () => {
    const s = configured({ guest: "4k", ept: "4k" });
    s.m.cpu.regs[EBX] = 0x500000;
    expect(launchToExit(s).reason).toBe(18);
    // Re-enter with EPT loaded but stop before the first instruction to inspect the walker.
    s.skip();
    expect(s.resume().ok).toBe(true);
    const stats = { ...s.m.cpu.tlb.stats };
    const walk = s.m.cpu.walker.peek(0x502000);
    expect(walk.ok).toBe(true);
    expect(walk.references).toBe(14);
    expect(walk.steps.map((step) => step.level)).toEqual(["PDE", "PTE", "page"]);
    expect(walk.steps.map((step) => step.eptSteps?.length)).toEqual([4, 4, 4]);
    expect(s.m.cpu.tlb.stats.walkReferences).toBe(stats.walkReferences);
    expect(s.m.cpu.tlb.stats.misses).toBe(stats.misses);
  });
});

describe("a TLB miss to an EPT-violating page counts the references it made", () => {
  test("guest 4 KiB paging, the final page not present in EPT: 2 guest + 12 EPT references, then the exit", () => {
    const s = configured({ guest: "4k", ept: "4k" });
    const cpu = s.m.cpu;
    cpu.regs[EBX] = 0x500000;
    expect(launchToExit(s).reason).toBe(18);
    s.ept.setEntry(1, 0x501000, 0);
    cpu.regs[EBX] = 0x501000;
    s.skip();
    const r0 = cpu.tlb.stats.walkReferences;
    const e = resumeToExit(s);
    expect(e.reason).toBe(48);
    // PDE: 4 EPT + 1, PTE: 4 EPT + 1, final: the walk stops at the missing EPT PTE (4 references).
    expect(cpu.tlb.stats.walkReferences - r0).toBe(14);
  });
});

describe("guest A/D updates", () => {
  test("with A/D preset in the guest tables a write miss costs the same 14 references as a read", () => {
    const s = configured({ guest: "4k", ept: "4k" });
    s.m.memory.writeBytes(0x100000, Uint8Array.of(0x89, 0x03)); // mov [ebx], eax
    const cpu = s.m.cpu;
    cpu.regs[EBX] = 0x500000;
    expect(launchToExit(s).reason).toBe(18);
    cpu.regs[EBX] = 0x501000;
    s.skip();
    const r0 = cpu.tlb.stats.walkReferences;
    expect(resumeToExit(s).reason).toBe(18);
    expect(cpu.tlb.stats.walkReferences - r0).toBe(14);
  });

  test("the guest's accessed and dirty flags are set by a miss that needs them", () => {
    const s = configured({ guest: "4k", ept: "4k" });
    s.m.memory.writeBytes(0x100000, Uint8Array.of(0x89, 0x03)); // mov [ebx], eax
    s.paging!.map4k(0x501000, 0x501000, P | RW | US);
    const cpu = s.m.cpu;
    cpu.regs[EBX] = 0x501000;
    expect(launchToExit(s).reason).toBe(18);
    expect(s.m.memory.read32(s.paging!.pteAddress(0x501000)) & (A | D)).toBe(A | D);
  });
});
