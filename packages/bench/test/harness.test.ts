// The workloads are correct guest programs: each runs to completion on the bare machine (or says why it
// cannot), retires exactly the instructions its loop should, and reports a failure as a failure.
import { COST_MODELS } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { describeHarnessExit, harnessProgram, loadRegistry } from "../src/index.js";

/** Guest instructions per iteration (program minus baseline), as the loop bodies and handlers say. */
const EXPECTED_INSTRUCTIONS: Record<string, number> = {
  "syscall-sysenter": 3, // sysenter; handler: mov eax, sysexit (minus nothing: the two movs are in both)
  "syscall-int80": 3, // int 0x80; handler: mov eax, iretd
  in: 1,
  out: 1,
  cpuid: 1,
  "cr3-write": 1,
  pgfault: 13, // the retried store + a 12-instruction handler (the faulting store does not retire)
  divzero: 2, // the handler's add and iretd (the faulting DIV does not retire)
  ptemod: 3,
  "call-ret": 2,
  hlt: 8, // sti, hlt, cli + the handler's push, mov, out, pop, iretd
  "mem-sweep": 1,
  "block-io": 15,
};

describe("workloads on the bare machine", async () => {
  const { workloads, configurations } = await loadRegistry();
  const bare = configurations.find((c) => c.name === "bare")!;
  const cost = COST_MODELS.recent!;

  it("has every workload of the issue", () => {
    expect(workloads.map((w) => w.name).sort()).toEqual(
      [
        "block-io",
        "c-crc32",
        "call-ret",
        "cpuid",
        "cr3-write",
        "divzero",
        "guest-kernel",
        "hlt",
        "in",
        "mem-sweep",
        "out",
        "pgfault",
        "ptemod",
        "syscall-int80",
        "syscall-sysenter",
        "vmcall",
      ].sort(),
    );
  });

  for (const w of workloads.filter((x) => x.baseline && x.name !== "mem-sweep")) {
    it(`${w.name}: N iterations retire N bodies`, () => {
      if (w.notApplicable?.(bare)) {
        expect(w.name).toBe("vmcall");
        return;
      }
      const n = 20;
      const p = bare.run(w.program(n), { costModel: cost });
      const b = bare.run(w.baseline!(n), { costModel: cost });
      expect(p.stop).toEqual({ kind: "debug-exit", value: 0 });
      expect(b.stop).toEqual({ kind: "debug-exit", value: 0 });
      expect((p.guestInstructions - b.guestInstructions) / n).toBe(EXPECTED_INSTRUCTIONS[w.name]);
    });
  }

  it("mem-sweep: every access after the warm-up misses the TLB and walks 2 references", () => {
    const w = workloads.find((x) => x.name === "mem-sweep")!;
    const n = 20_000;
    const p = bare.run(w.program(n), { costModel: cost });
    const b = bare.run(w.baseline!(n), { costModel: cost });
    expect((p.tlbMisses - b.tlbMisses) / n).toBeCloseTo(1, 2);
    expect((p.walkReferences - b.walkReferences) / n).toBeCloseTo(2, 2);
  });

  it("the guest kernel and the C program run as a whole", () => {
    for (const name of ["guest-kernel", "c-crc32"]) {
      const w = workloads.find((x) => x.name === name)!;
      expect(w.baseline).toBeUndefined();
      const r = bare.run(w.program(1), { costModel: cost });
      expect(r.stop).toEqual({ kind: "debug-exit", value: 0 });
      expect(r.guestInstructions).toBeGreaterThan(1_000_000);
    }
  });

  it("reports an unexpected exception in the guest through the debug-exit port", () => {
    const program = harnessProgram({ body: "  mov eax, [0xf0000000]" }, { iterations: 1 });
    const r = bare.run(program, { costModel: cost });
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x8e });
    expect(describeHarnessExit(0x8e)).toBe("unexpected exception 14 in the guest");
  });
});
