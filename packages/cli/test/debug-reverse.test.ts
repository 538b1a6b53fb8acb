// Reverse execution: `back` must give the registers AND memory (and the cycle counter, the exits so
// far...) exactly as the forward run had them, on the bare machine and in VMs with EPT and shadow
// paging on the type-1 hypervisor and on the hosted system (whose host kernel, VMM process and KVM
// module are restored with it), wherever the debugger stopped on the way; and the future after going
// back is the same.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fingerprint, openSession, type SessionSetup } from "./debug-helpers.js";

const SETUPS: [string, SessionSetup][] = [
  ["bare", { on: "bare" }],
  ["type1 EPT, lazy memory", { on: "type1", lazyMemory: true }],
  ["type1 shadow paging", { on: "type1", paging: "shadow" }],
  ["hosted EPT", { on: "hosted" }],
  ["hosted shadow paging", { on: "hosted", paging: "shadow" }],
];

describe.each(SETUPS)("back on %s", (_name, setup) => {
  it("restores exactly the state a forward step reached", () => {
    const s = openSession({ ...setup, memoryMiB: 4 });
    // Forward: steps of various sizes, exits, breakpoints; remember the state after every step.
    const byPosition = new Map<number, Record<string, unknown>>();
    const remember = () => {
      const f = fingerprint(s);
      if (!byPosition.has(s.position)) byPosition.set(s.position, f);
    };
    s.execute("step 0");
    remember();
    for (let k = 0; k < 40; k++) {
      if (k % 9 === 4 && setup.on !== "bare") s.execute("until-exit");
      else if (k === 20) {
        s.execute("break timer_interrupt");
        s.execute("continue");
        s.execute("delete");
      } else {
        s.execute(`step ${1 + ((k * 37) % 150)}`);
        remember();
      }
    }
    const end = s.position;
    // Backwards to many of those positions, in a scrambled order, stepping forward in between.
    const targets = [...byPosition.keys()].filter((p) => p < end);
    let seed = 11;
    for (let k = 0; k < 12; k++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const candidates = targets.filter((p) => p < s.position);
      const target = candidates[seed % candidates.length]!;
      const out = s.execute(`back ${s.position - target}`);
      expect(out).toContain(`now after instruction ${target}`);
      expect(fingerprint(s)).toEqual(byPosition.get(target));
      s.execute(`step ${1 + (seed % 40)}`);
      const again = byPosition.get(s.position);
      if (again) expect(fingerprint(s)).toEqual(again);
    }
  });

  it("the run after going back ends exactly as a run that never went back", () => {
    const straight = openSession({ ...setup, memoryMiB: 4 });
    const a = straight.execute("continue");
    const s = openSession({ ...setup, memoryMiB: 4 });
    s.execute("step 3000");
    s.execute("watch stat_ticks");
    s.execute("continue");
    s.execute("delete");
    s.execute("back 2500");
    s.execute("step 7");
    s.execute("back 1");
    const b = s.execute("continue");
    expect(b).toContain("the program has ended: debug-exit 0");
    expect(a).toContain("the program has ended: debug-exit 0");
    const fa = fingerprint(straight);
    const fb = fingerprint(s);
    expect({ ...fb, position: 0 }).toEqual({ ...fa, position: 0 });
    expect(s.position).toBe(straight.position);
    expect(s.exits.map((e) => [e.seq, e.name, e.guestEip, e.qualification])).toEqual(
      straight.exits.map((e) => [e.seq, e.name, e.guestEip, e.qualification]),
    );
  });

  it("refuses to go back beyond the recorded history", () => {
    const s = openSession({ ...setup, memoryMiB: 4, history: 3 });
    for (let k = 0; k < 5; k++) s.execute("step 10");
    // Three stops are kept: after instructions 30, 40 and 50.
    expect(s.execute("back 45")).toBe(
      "cannot go back that far: the history starts after instruction 30 (--history 3)\n",
    );
    expect(s.execute("back 100")).toBe("cannot go back 100 instructions: only 50 ran so far\n");
    expect(s.execute("back 20")).toContain("now after instruction 30");
  });
});

describe("back on hosted across the host's own activity", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmxlab-reverse-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A guest that spins long enough for the host's timer to interrupt it (EXTERNAL_INTERRUPT exits: the
  // host kernel's handler, its timers and scheduler run) and then writes to the console (user space).
  const file = join(dir, "spin.asm");
  writeFileSync(
    file,
    "bits 32\norg 0x100000\n  mov ecx, 4000000\n.l: dec ecx\n  jnz .l\n  mov al, 'k'\n  out 0xe9, al\n  out 0xf4, al\n",
  );

  it.each(["ept", "shadow"] as const)("restores the host kernel, the VMM process and the module (%s)", (paging) => {
    const s = openSession({ on: "hosted", paging, file, memoryMiB: 2 });
    s.execute("break exit EXTERNAL_INTERRUPT");
    expect(s.execute("continue")).toContain("EXTERNAL_INTERRUPT (1)");
    s.execute("step 1000");
    const early = fingerprint(s);
    const at = s.position;
    expect(s.execute("continue")).toContain("EXTERNAL_INTERRUPT (1)");
    s.execute("delete");
    s.execute("step 5");
    const late = fingerprint(s);
    const lateAt = s.position;
    expect(s.execute("continue")).toContain("the program has ended: debug-exit 107");
    const end = fingerprint(s);
    expect(s.execute(`back ${s.position - at}`)).toContain(`now after instruction ${at}`);
    expect(fingerprint(s)).toEqual(early);
    s.execute(`step ${lateAt - at}`);
    expect(fingerprint(s)).toEqual(late);
    expect(s.execute("continue")).toContain("the program has ended: debug-exit 107");
    expect(fingerprint(s)).toEqual(end);
  });
});
