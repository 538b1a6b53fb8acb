// Hypervisor.run() pausing (RunLimits.pauseOnExit, CPU hook stops inside a guest) for debuggers: a
// paused and continued run reaches exactly the states of a run that never paused.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor, type PagingMode } from "../src/index.js";

const KERNEL = join(dirname(fileURLToPath(import.meta.url)), "..", "examples", "guest-kernel.asm");
const image = assembleOrThrow(readFileSync(KERNEL, "utf8"), {
  fileName: KERNEL,
  readFile: (p) => readFileSync(p, "utf8"),
}).bytes;

function hypervisor(paging: PagingMode): Hypervisor {
  return new Hypervisor([{ name: "vm0", memoryMiB: 4, image, paging, lazyMemory: paging === "ept" }]);
}

function outcome(hv: Hypervisor) {
  const vm = hv.vms[0]!;
  return {
    stop: vm.stop,
    console: vm.consoleText(),
    regs: vm.finalRegs,
    cycles: hv.machine.cpu.cycles,
    instret: hv.machine.cpu.instret,
    exits: [...vm.stats.exits.entries()],
    stats: { ...vm.stats, exits: null },
  };
}

describe.each(["ept", "shadow"] as const)("pausing runs (%s)", (paging) => {
  it("pauses after the exits pauseOnExit chooses, in root operation, and continues identically", () => {
    const straight = hypervisor(paging);
    expect(straight.run()).toBe("done");
    const hv = hypervisor(paging);
    const seen: string[] = [];
    let pauses = 0;
    for (;;) {
      const r = hv.run({
        pauseOnExit: (record) => {
          seen.push(record.name);
          return record.seq % 3 === 0;
        },
      });
      if (r === "done") break;
      pauses++;
      expect(hv.pausedAt).toEqual({ vm: hv.vms[0], at: "exit" });
      expect(hv.machine.vmx.nonRoot).toBe(false);
    }
    expect(pauses).toBe(Math.floor(seen.length / 3));
    expect(hv.pausedAt).toBeNull();
    expect(outcome(hv)).toEqual(outcome(straight));
  });

  it("pauses inside the guest when a CPU hook stops the CPU, and continues identically", () => {
    // Both runs use the same hook (it keeps the CPU in its one-instruction-at-a-time mode); only one stops.
    const straight = hypervisor(paging);
    straight.machine.cpu.hooks.instruction = () => undefined;
    expect(straight.run()).toBe("done");
    const hv = hypervisor(paging);
    const cpu = hv.machine.cpu;
    let countdown = 5000;
    cpu.hooks.instruction = () => (--countdown === 0 ? "stop" : undefined);
    let pauses = 0;
    while (hv.run() === "paused") {
      pauses++;
      countdown = 5000 + pauses;
      expect(hv.pausedAt?.at).toBe("guest");
      expect(hv.machine.vmx.nonRoot).toBe(true);
      // The guest's registers are read from the CPU while it is inside the guest.
      expect(hv.guestRegisters(hv.vms[0]!).eip).toBe(cpu.eip >>> 0);
    }
    expect(pauses).toBeGreaterThan(10);
    expect(outcome(hv)).toEqual(outcome(straight));
  });
});
