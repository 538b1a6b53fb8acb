// Lazy EPT population (VmConfig.lazyMemory): a VM's RAM is backed only when the guest first touches a
// page (an EPT violation maps it). The C programs (packages/cpu/examples/c) must end exactly as on the
// bare machine -- stop, console, registers, retired instructions -- while only the pages they use get
// host memory: far fewer than the VM's 16 MiB.

import { readdirSync, readFileSync } from "node:fs";
import { examplePath } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor, PAGE } from "../src/index.js";
import { runBare } from "./vm-helpers.js";

const BUILD = examplePath("c/build");
const EXPECTED = examplePath("c/expected");
const MEMORY_MIB = 16;
const TOTAL_PAGES = (MEMORY_MIB << 20) / PAGE;

describe("C programs under lazy EPT population", () => {
  for (const file of readdirSync(BUILD).filter((f) => f.endsWith(".elf"))) {
    it(`${file}: identical results to the bare machine, with a fraction of the pages populated`, () => {
      const image = new Uint8Array(readFileSync(`${BUILD}/${file}`));
      const bare = runBare(image, { memoryMiB: MEMORY_MIB });
      const hv = new Hypervisor([{ name: file, memoryMiB: MEMORY_MIB, image, lazyMemory: true }]);
      const vm = hv.vms[0]!;
      const atLoad = vm.memory.populatedPages; // the pages the ELF loader wrote
      hv.run({ maxInstructions: 50_000_000 });
      expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
      expect(vm.stop).toEqual(bare.stop);
      expect(vm.consoleText()).toBe(bare.console);
      expect(vm.consoleText()).toBe(readFileSync(`${EXPECTED}/${file.replace(/-O[02]\.elf$/, ".txt")}`, "utf8"));
      expect(vm.finalRegs).toEqual(bare.regs);
      expect(vm.stats.guestInstructions).toBe(bare.instructions);
      // Every page beyond the loaded image was backed by exactly one EPT violation on first touch.
      const populated = vm.memory.populatedPages;
      expect(vm.stats.exits.get(48) ?? 0).toBe(populated - atLoad);
      expect(populated).toBeGreaterThan(atLoad);
      expect(populated).toBeLessThan(TOTAL_PAGES / 8);
      let backed = 0;
      for (const hpa of vm.memory.p2m) if (hpa >= 0) backed++;
      expect(backed).toBe(populated);
      // The host's cost: those pages plus the EPT tables and the VMCS, far below an eager VM's.
      expect(hv.hostPagesFor(vm)).toBeLessThan(TOTAL_PAGES / 8 + 16);
    });
  }
});
