// Several VMs at once, each in its own VMM process, beside host jobs: every VM gives the bare
// machine's results, and the host scheduler interleaves all of them.
import { describe, expect, it } from "vitest";
import { HostedSystem } from "../src/index.js";
import { bare, cProgram, MAX_CYCLES } from "./helpers.js";

describe("several VMs in several VMM processes", () => {
  for (const paging of ["ept", "shadow"] as const) {
    it(`${paging}: three VMs and two host jobs; each VM ends exactly as on the bare machine`, () => {
      const files = ["printf-O2.elf", "crc32-O2.elf", "mix-O2.elf"];
      const system = new HostedSystem(
        files.map((f, i) => ({ name: `vm${i}`, memoryMiB: 8, image: cProgram(f) })),
        { paging, hostLoad: 2, tickHz: 4000, scheduler: { latencyCycles: 3_000_000, minGranularityCycles: 500_000 } },
      );
      system.run({ maxCycles: MAX_CYCLES });
      files.forEach((f, i) => {
        const vm = system.vms[i]!;
        const b = bare(cProgram(f));
        expect({
          stop: vm.stop,
          console: vm.consoleText(),
          regs: vm.finalRegs,
          instructions: vm.stats.guestInstructions,
        }).toEqual(b);
        expect(vm.process.switchesIn).toBeGreaterThan(2);
      });
      // Distinct VMCSs, VPIDs, address spaces.
      const vcpus = system.vms.map((vm) => vm.vcpu!);
      expect(new Set(vcpus.map((v) => v.vmcs)).size).toBe(3);
      expect(new Set(vcpus.map((v) => v.vm.vpid)).size).toBe(3);
      expect(new Set(system.vms.map((vm) => vm.process.pd)).size).toBe(3);
      for (const job of system.hostProgress()) expect(job.progress).toBeGreaterThan(0);
      // Every cycle of the run is charged once (src/cpu-time.ts).
      const t = system.time();
      expect(t.guest + t.kvm + t.hostKernel + t.userVmm + t.otherProcesses + t.idle).toBe(system.cycles);
      expect(t.guest).toBe(system.vms.reduce((sum, vm) => sum + vm.stats.guestCycles, 0));
    }, 180_000);
  }
});
