// HostedSystem.run() pausing (pauseOnExit, pauseBeforeLaunch, CPU hook stops in a guest or in host
// code) for debuggers: a paused and continued run reaches exactly the states of a run that never
// paused -- the guest, the host kernel, the VMM process and the KVM module alike.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import type { PagingMode } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import { type HostedExitRecord, HostedSystem } from "../src/index.js";

const KERNEL = join(dirname(fileURLToPath(import.meta.url)), "../../vmm/examples/guest-kernel.asm");
const image = assembleOrThrow(readFileSync(KERNEL, "utf8"), {
  fileName: KERNEL,
  readFile: (p) => readFileSync(p, "utf8"),
}).bytes;

function system(paging: PagingMode, onExit?: (r: HostedExitRecord) => void): HostedSystem {
  return new HostedSystem([{ name: "vm0", memoryMiB: 4, image, paging }], {
    hostLoad: 1,
    ...(onExit ? { onExit } : {}),
  });
}

function outcome(s: HostedSystem) {
  const vm = s.vms[0]!;
  const k = s.kernel;
  return {
    stop: vm.stop,
    console: vm.consoleText(),
    regs: vm.finalRegs,
    cycles: k.cpu.cycles,
    instret: k.cpu.instret,
    stats: { ...vm.stats, exits: [...vm.stats.exits.entries()] },
    kernel: { ...k.stats },
    host: s.hostProgress(),
  };
}

describe.each(["ept", "shadow"] as const)("pausing hosted runs (%s)", (paging) => {
  it("pauses before the first VMLAUNCH and after the exits pauseOnExit chooses, and continues identically", () => {
    const straightRecords: HostedExitRecord[] = [];
    const straight = system(paging, (r) => straightRecords.push(r));
    expect(straight.run()).toBe("done");
    const records: HostedExitRecord[] = [];
    const s = system(paging, (r) => records.push(r));
    expect(s.run({ pauseBeforeLaunch: true })).toBe("paused");
    expect(s.pausedAt).toEqual({ vm: s.vms[0], at: "launch" });
    expect(s.vms[0]!.vcpu!.launched).toBe(false);
    const offered: HostedExitRecord[] = [];
    let pauses = 0;
    for (;;) {
      const r = s.run({
        pauseOnExit: (record) => {
          offered.push(record);
          return record.seq % 5 === 0 || record.handledIn === "user";
        },
      });
      if (r === "done") break;
      pauses++;
      const last = offered[offered.length - 1]!;
      expect(s.pausedAt).toEqual({ vm: s.vms[0], at: "exit" });
      expect(s.machine.vmx.nonRoot).toBe(false);
      // Handled, not yet resumed: every hop but the entry is there.
      expect(last.hops.map((h) => h.name)).not.toContain("entry");
      if (last.handledIn === "user") expect(last.hops.map((h) => h.name)).toContain("device-model");
    }
    expect(pauses).toBeGreaterThan(10);
    expect(s.pausedAt).toBeNull();
    // Every exit was offered once, in order, and the records are the unpaused run's.
    expect(offered.map((r) => r.seq)).toEqual(records.map((r) => r.seq));
    expect(records).toEqual(straightRecords);
    expect(outcome(s)).toEqual(outcome(straight));
  });

  it("pauses wherever a CPU hook stops the CPU, in the guest or in host code, and continues identically", () => {
    // Both runs use the same hook (it keeps the CPU in its one-instruction-at-a-time mode); only one stops.
    const straight = system(paging);
    straight.machine.cpu.hooks.instruction = () => undefined;
    expect(straight.run()).toBe("done");
    const s = system(paging);
    const cpu = s.machine.cpu;
    let countdown = 3001;
    cpu.hooks.instruction = () => (--countdown === 0 ? "stop" : undefined);
    const where = new Set<string>();
    let pauses = 0;
    while (s.run() === "paused") {
      pauses++;
      countdown = 3001 + pauses;
      const at = s.pausedAt!;
      where.add(at.at);
      expect(s.machine.vmx.nonRoot).toBe(at.at === "guest");
      if (at.at === "guest") expect(at.vm).toBe(s.vms[0]);
    }
    expect(where).toEqual(new Set(["guest", "host"]));
    expect(pauses).toBeGreaterThan(10);
    expect(outcome(s)).toEqual(outcome(straight));
  });
});
