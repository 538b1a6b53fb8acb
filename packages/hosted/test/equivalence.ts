// The equivalence suite of one paging mode: each C program gives guest-visible results (stop, console,
// registers, instruction count) identical to the bare machine on the type-1 hypervisor and on the
// hosted path, with and without host load. One test file per mode, so the two run in parallel.
import type { PagingMode } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import { bare, C_PROGRAMS, cProgram, type GuestResult, guestVisible, hosted, type1 } from "./helpers.js";

const TIMEOUT = 240_000;

export function equivalenceSuite(paging: PagingMode): void {
  for (const file of C_PROGRAMS) {
    describe(file, () => {
      const image = cProgram(file);
      let reference: GuestResult | null = null;
      const ref = () => {
        reference ??= bare(image);
        return reference;
      };

      it(
        `type-1 (${paging === "ept" ? "EPT" : paging}) matches the bare machine`,
        () => {
          expect(guestVisible(type1(image, paging))).toEqual(ref());
        },
        TIMEOUT,
      );

      for (const hostLoad of [0, 2]) {
        it(
          `hosted-${paging}${hostLoad ? `, ${hostLoad} host jobs` : ", no host load"}: identical to bare and type-1`,
          () => {
            const r = hosted(image, { paging, hostLoad });
            expect(guestVisible(r)).toEqual(ref());
            const vm = r.system.vms[0]!;
            expect(vm.stats.userExits).toBeGreaterThan(0); // console output went through the VMM
            if (hostLoad) {
              // The host jobs really ran beside the VM.
              expect(r.system.contextSwitches).toBeGreaterThan(2);
              for (const job of r.system.hostProgress()) expect(job.progress).toBeGreaterThan(0);
            }
          },
          TIMEOUT,
        );
      }
    });
  }
}
