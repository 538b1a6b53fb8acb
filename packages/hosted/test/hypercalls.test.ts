// Hypercalls on the hosted path behave as on type-1 (the same checks, packages/vmm's handleVmcall):
// the guest kernel's CONSOLE_WRITE reaches the console through the user-space VMM; bad buffers,
// unknown calls and any call from guest ring 3 get -1 in the kernel module and write nothing.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import { Hypervisor } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import { VMM_LIB } from "../src/layout.js";
import { hosted } from "./helpers.js";

// The type-1 devices test's guest (packages/vmm/test/hypercalls.asm), on the cpu package's system-test
// runtime (descriptor tables, ring 3 entry, INT 0x80 back to ring 0).
const HERE = dirname(fileURLToPath(import.meta.url));
const program = assembleOrThrow(readFileSync(join(HERE, "../../vmm/test/hypercalls.asm"), "utf8"), {
  fileName: join(HERE, "../../cpu/test/system/hypercalls.asm"),
  readFile: (p) => readFileSync(p, "utf8"),
});
const entry = program.symbols.get("start")!;
const R = 0x40000;
/** The results the guest stored (TIME's TSC values at R+24..R+48 left out: the designs' clocks differ). */
const OFFSETS = [0, 4, 8, 12, 16, 20, 52, 56];
const results = (read: (gpa: number, length: number) => Uint8Array) =>
  OFFSETS.map((o) => `0x${new DataView(read(R + o, 4).slice().buffer).getUint32(0, true).toString(16)}`);

describe("hypercalls on the hosted path", () => {
  for (const paging of ["ept", "shadow"] as const) {
    it(`${paging}: type-1's results; bad buffers and ring 3 get -1 in the kernel module, never reaching user space`, () => {
      const hv = new Hypervisor([{ name: "g", memoryMiB: 4, image: program.bytes, entry, paging }]);
      hv.run({ maxInstructions: 10_000_000 });
      const t1 = hv.vms[0]!;
      const r = hosted(program.bytes, { paging, keepRecords: true, config: { memoryMiB: 4, entry } });
      const vm = r.system.vms[0]!;
      expect(r.stop).toEqual({ kind: "debug-exit", value: 0 });
      expect(r.stop).toEqual(t1.stop);
      expect(r.console).toBe("hello from a hypercall\n");
      expect(r.console).toBe(t1.consoleText());
      const memory = vm.vcpu!.vm.memory;
      const got = results((gpa, n) => memory.read(gpa, n));
      expect(got).toEqual(results((gpa, n) => t1.memory.read(gpa, n)));
      // CONSOLE_WRITE 0; bad buffers (past RAM, wrapping, too long) and unknown calls -1; YIELD 0; ring 3 -1.
      expect(got).toEqual([
        "0x0",
        "0xffffffff",
        "0xffffffff",
        "0xffffffff",
        "0xffffffff",
        "0xffffffff",
        "0x0",
        "0xffffffff",
      ]);
      // Only the kernel's good CONSOLE_WRITE went to the VMM; everything else stayed in the module.
      const vmcalls = r.records.filter((x) => x.name === "VMCALL");
      expect(vmcalls.map((x) => x.handledIn)).toEqual(["user", ...Array(9).fill("kernel")]);
      expect(vmcalls[9]!.handler).toBe("hypercall 1 from CPL 3: refused");
      expect(vm.user.calls.get(VMM_LIB.HYPERCALL)).toBe(1);
    });
  }
});
