// The quick matrix, run once: its modeled results must equal the committed baseline (packages/bench/
// baseline.json), and they must have the known shape of VM-exit overheads (Adams & Agesen, ASPLOS 2006;
// the EPT/shadow trade-off; hosted vs type-1). Everything here is modeled cycles: deterministic.
//
// Accept an intended change of modeled results with:
//   VMXLAB_UPDATE_BASELINE=1 pnpm --filter @vmxlab/bench test

import { COST_MODELS } from "@vmxlab/cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { compareSnapshots, readBaseline, snapshot, UPDATE_COMMAND, writeBaseline } from "../src/baseline.js";
import type { CellResult, MatrixResults, PerIteration } from "../src/index.js";
import { runMatrix } from "../src/index.js";

let m: MatrixResults;

beforeAll(async () => {
  m = await runMatrix({ quick: true, sampleHostTime: false });
}, 600_000);

function cell(
  workload: string,
  configuration: string,
  profile = "recent",
): CellResult & { perIteration: PerIteration } {
  const c = m.cells.find((x) => x.workload === workload && x.configuration === configuration && x.profile === profile);
  if (!c) throw new Error(`no cell ${workload} on ${configuration} (${profile})`);
  if (c.status !== "ok" || !c.perIteration) throw new Error(`${workload} on ${configuration}: ${c.status} ${c.reason}`);
  return c as CellResult & { perIteration: PerIteration };
}

const cycles = (w: string, c: string, p = "recent") => cell(w, c, p).perIteration.cycles;

/** Exits per iteration, leaving out the preemption timer that ends time slices. */
function exitsPerIteration(w: string, c: string, p = "recent"): number {
  const e = cell(w, c, p).perIteration.exits;
  return Object.entries(e)
    .filter(([k]) => k !== "PREEMPTION_TIMER")
    .reduce((s, [, v]) => s + v, 0);
}

describe("the quick run", () => {
  it("runs every cell (or says why a workload does not apply)", () => {
    const errors = m.cells
      .filter((c) => c.status === "error")
      .map((c) => `${c.workload}/${c.configuration}: ${c.reason}`);
    expect(errors).toEqual([]);
    const na = m.cells.filter((c) => c.status === "n/a");
    expect(new Set(na.map((c) => `${c.workload}/${c.configuration}`))).toEqual(new Set(["vmcall/bare"]));
    expect(na[0]!.reason).toMatch(/#UD/);
  });

  it("covers every profile on the main designs", () => {
    for (const profile of Object.keys(COST_MODELS)) {
      for (const config of ["bare", "type1-ept", "type1-shadow", "hosted-ept", "hosted-shadow"]) {
        expect(cycles("cpuid", config, profile)).toBeGreaterThan(0);
      }
    }
  });

  it("matches the committed baseline of modeled results", () => {
    const actual = snapshot(m);
    if (process.env.VMXLAB_UPDATE_BASELINE) {
      writeBaseline(actual);
      return;
    }
    const expected = readBaseline();
    if (!expected) throw new Error(`packages/bench/baseline.json is missing: create it with ${UPDATE_COMMAND}`);
    const diffs = compareSnapshots(expected, actual);
    const shown = diffs.slice(0, 40).join("\n");
    const more = diffs.length > 40 ? `\n... and ${diffs.length - 40} more` : "";
    expect(
      diffs,
      `modeled results changed (${diffs.length} differences):\n${shown}${more}\nIf the change is intended, accept it with: ${UPDATE_COMMAND}`,
    ).toEqual([]);
  });
});

describe("the known shape of VM-exit overheads (modeled cycles)", () => {
  it("system calls inside the guest cost the same under EPT as on the bare machine (no exit)", () => {
    for (const w of ["syscall-sysenter", "syscall-int80"]) {
      for (const c of ["type1-ept", "hosted-ept"]) {
        expect(exitsPerIteration(w, c)).toBe(0);
        expect(cycles(w, c)).toBeCloseTo(cycles(w, "bare"), 0);
      }
    }
  });

  it("under shadow paging ptemod, pgfault and cr3-write each cost at least one exit, and far more than under EPT", () => {
    for (const w of ["ptemod", "pgfault", "cr3-write"]) {
      for (const design of ["type1", "hosted"]) {
        expect(exitsPerIteration(w, `${design}-shadow`)).toBeGreaterThanOrEqual(1);
        expect(exitsPerIteration(w, `${design}-ept`)).toBeLessThan(0.01);
        expect(cycles(w, `${design}-shadow`)).toBeGreaterThan(5 * cycles(w, `${design}-ept`));
      }
    }
  });

  it("a TLB miss walks 2 references on the bare machine and under shadow paging, up to 14 under EPT", () => {
    const perMiss = (c: string) => {
      const p = cell("mem-sweep", c).perIteration;
      expect(p.tlbMisses).toBeCloseTo(1, 2);
      return p.walkReferences / p.tlbMisses;
    };
    expect(perMiss("bare")).toBeCloseTo(2, 2);
    expect(perMiss("type1-shadow")).toBeCloseTo(2, 2);
    for (const c of ["type1-ept", "hosted-ept"]) {
      expect(perMiss(c)).toBeGreaterThan(2);
      expect(perMiss(c)).toBeLessThanOrEqual(14.05);
      expect(perMiss(c)).toBeCloseTo(14, 1);
    }
  });

  it("the memory sweep is slower under EPT than under shadow paging; the guest kernel is faster under EPT", () => {
    for (const design of ["type1", "hosted"]) {
      expect(cycles("mem-sweep", `${design}-ept`)).toBeGreaterThan(2 * cycles("mem-sweep", `${design}-shadow`));
      expect(cycles("guest-kernel", `${design}-ept`)).toBeLessThan(cycles("guest-kernel", `${design}-shadow`));
    }
  });

  it("hosted I/O exits cost more than type-1 I/O exits by the user-space round trip", () => {
    const h = COST_MODELS.recent!.hosted;
    const roundTrip = h.kernelToUser + h.userToKernel + h.userspaceDeviceDispatch;
    for (const w of ["in", "out", "block-io"]) {
      const exits = exitsPerIteration(w, "type1-ept");
      expect(exitsPerIteration(w, "hosted-ept")).toBeCloseTo(exits, 2);
      expect(cell(w, "hosted-ept").perIteration.userExits).toBeCloseTo(exits, 2);
      const extraPerExit = (cycles(w, "hosted-ept") - cycles(w, "type1-ept")) / exits;
      // The modeled hops, plus the VMM's own ring-3 instructions around KVM_RUN.
      expect(extraPerExit).toBeGreaterThanOrEqual(roundTrip);
      expect(extraPerExit).toBeLessThan(2 * roundTrip);
    }
  });

  it("CPUID and VMCALL cost the same hosted as type-1 (handled in the kernel module)", () => {
    for (const profile of Object.keys(COST_MODELS)) {
      expect(cycles("cpuid", "hosted-ept", profile)).toBe(cycles("cpuid", "type1-ept", profile));
      expect(cell("cpuid", "hosted-ept", profile).perIteration.userExits).toBe(0);
    }
    expect(cycles("vmcall", "hosted-ept")).toBe(cycles("vmcall", "type1-ept"));
  });

  it("host load makes hosted guests slower; a type-1 guest has no host to compete with", () => {
    // --quick runs the -load configurations on the guest kernel only (the full run: on everything).
    for (const w of ["guest-kernel"]) {
      for (const paging of ["ept", "shadow"]) {
        expect(cycles(w, `hosted-${paging}-load`)).toBeGreaterThan(1.5 * cycles(w, `hosted-${paging}`));
        expect(cell(w, `hosted-${paging}-load`).perIteration.time.otherProcesses).toBeGreaterThan(0);
      }
    }
    for (const c of m.cells.filter((x) => x.configuration.startsWith("type1") && x.status === "ok")) {
      const t = c.program!.time;
      expect(t.hostKernel + t.userVmm + t.otherProcesses).toBe(0);
      expect(t.guest + t.hypervisor + t.idle).toBe(c.program!.cycles);
    }
  });

  it("the hosted time breakdown sums to the cycles; device exits show in the user-space VMM, CPUID exits do not", () => {
    for (const c of m.cells.filter((x) => x.configuration.startsWith("hosted") && x.status === "ok")) {
      const t = c.program!.time;
      expect(t.guest + t.hypervisor + t.hostKernel + t.userVmm + t.otherProcesses + t.idle).toBe(c.program!.cycles);
    }
    const h = COST_MODELS.recent!.hosted;
    expect(cell("out", "hosted-ept").perIteration.time.userVmm).toBeGreaterThan(h.userspaceDeviceDispatch);
    expect(cell("out", "hosted-ept").perIteration.time.hostKernel).toBeGreaterThan(0);
    expect(cell("cpuid", "hosted-ept").perIteration.time.userVmm).toBe(0);
  });

  it("exits cost more on the older core, and without VPID", () => {
    expect(cycles("cpuid", "type1-ept", "nehalem")).toBeGreaterThan(1.5 * cycles("cpuid", "type1-ept", "recent"));
    for (const w of ["cpuid", "in", "block-io"]) {
      expect(cycles(w, "type1-ept-novpid")).toBeGreaterThan(cycles(w, "type1-ept"));
      expect(cell(w, "type1-ept-novpid").perIteration.tlbMisses).toBeGreaterThan(0);
    }
  });

  it("nothing outside the guest is touched by call/ret or #DE", () => {
    for (const c of m.configurations.map((x) => x.name)) {
      const calls = m.cells.find((x) => x.workload === "call-ret" && x.configuration === c && x.profile === "recent");
      if (calls?.status === "ok") expect(calls.perIteration!.cycles).toBe(cycles("call-ret", "bare"));
    }
    // (the first #DE's handler and IDT entry are first touched in the program, not in the baseline)
    expect(exitsPerIteration("divzero", "type1-shadow")).toBeLessThan(0.01);
  });
});
