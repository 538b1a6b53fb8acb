// The C programs give guest-visible results (stop, console, registers, instruction count) identical
// to the bare machine and to the type-1 hypervisor on hosted-shadow, with and without host load.
import { describe, expect, it } from "vitest";
import { bare, C_PROGRAMS, cProgram, type GuestResult, guestVisible, hosted, type1 } from "./helpers.js";

const TIMEOUT = 240_000;

for (const file of C_PROGRAMS) {
  describe(file, () => {
    const image = cProgram(file);
    let reference: GuestResult | null = null;
    const ref = () => {
      reference ??= bare(image);
      return reference;
    };

    it(
      "type-1 (shadow) matches the bare machine",
      () => {
        expect(guestVisible(type1(image, "shadow"))).toEqual(ref());
      },
      TIMEOUT,
    );

    for (const paging of ["shadow"] as const) {
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
    }
  });
}
