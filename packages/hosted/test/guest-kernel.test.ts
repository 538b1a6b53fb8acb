// The guest kernel of packages/vmm/examples (paging, two ring-3 processes, its own timer interrupts,
// system calls) on hosted-EPT and hosted-shadow, with and without host load: the same console as on
// the bare machine, with the shadow-paging faults, CR accesses and INVLPGs handled in the kernel module.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow, EXIT_REASON } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import type { HostedExitRecord } from "../src/index.js";
import { bare, hosted } from "./helpers.js";

const KERNEL = join(dirname(fileURLToPath(import.meta.url)), "../../vmm/examples/guest-kernel.asm");
const image = assembleOrThrow(readFileSync(KERNEL, "utf8"), {
  fileName: KERNEL,
  readFile: (p) => readFileSync(p, "utf8"),
}).bytes;

describe("the guest kernel (paging, ring 3, timer interrupts) on the hosted path", () => {
  const reference = bare(image);

  for (const paging of ["ept", "shadow"] as const) {
    for (const hostLoad of [0, 2]) {
      it(`hosted-${paging}, ${hostLoad} host jobs: the bare machine's console and stop`, () => {
        const records: HostedExitRecord[] = [];
        const r = hosted(image, { paging, hostLoad, onExit: (x) => records.push(x) });
        expect(r.stop).toEqual(reference.stop);
        expect(r.console).toBe(reference.console);
        const vm = r.system.vms[0]!;
        const exits = vm.stats.exits;
        // Its PIT and PIC are the in-kernel ones; only console output and the debug exit reach the VMM.
        const userRecords = records.filter((x) => x.handledIn === "user");
        for (const x of userRecords) expect(x.detail).toMatch(/^OUT port 0x(e9|f4) /);
        expect(vm.stats.userExits).toBe(userRecords.length);
        if (paging === "shadow") {
          // Shadow-paging work: hidden page faults, CR3 loads, all in the kernel.
          expect(exits.get(EXIT_REASON.EXCEPTION_NMI) ?? 0).toBeGreaterThan(0);
          expect(exits.get(EXIT_REASON.CR_ACCESS) ?? 0).toBeGreaterThan(0);
          for (const x of records) {
            const basic = x.reason & 0xffff;
            if (
              basic === EXIT_REASON.EXCEPTION_NMI ||
              basic === EXIT_REASON.CR_ACCESS ||
              basic === EXIT_REASON.INVLPG
            ) {
              expect(x.handledIn).toBe("kernel");
            }
          }
        } else {
          expect(exits.get(EXIT_REASON.EPT_VIOLATION) ?? 0).toBeGreaterThan(0);
          expect(exits.get(EXIT_REASON.CR_ACCESS) ?? 0).toBe(0);
        }
        if (hostLoad) for (const job of r.system.hostProgress()) expect(job.progress).toBeGreaterThan(0);
      }, 120_000);
    }
  }
});
