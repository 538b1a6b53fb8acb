// The type-1 hypervisor runs programs in VMs with results identical to the bare machine.
import { readdirSync, readFileSync } from "node:fs";
import { assembleOrThrow, examplePath, Machine } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor } from "../src/index.js";

function bare(image: Uint8Array, max = 50_000_000) {
  const m = new Machine({ memoryMiB: 16 });
  m.load(image);
  const stop = m.run({ maxInstructions: max });
  return { stop, console: m.consoleText(), regs: m.cpu.snapshotRegisters(), instructions: m.cpu.instret };
}

function inVm(image: Uint8Array, paging: "ept" | "shadow" = "ept", max = 50_000_000) {
  const hv = new Hypervisor([{ name: "vm0", memoryMiB: 16, image, paging }]);
  hv.run({ maxInstructions: max });
  const vm = hv.vms[0]!;
  return {
    stop: vm.stop,
    console: vm.consoleText(),
    regs: vm.finalRegs,
    instructions: vm.stats.guestInstructions,
    vm,
    hv,
  };
}

const HELLO = `
bits 32
org 0x100000
  mov eax, 0
  cpuid
  mov [vendor], ebx
  mov [vendor+4], edx
  mov [vendor+8], ecx
  mov esi, vendor
  mov ecx, 12
.p: mov al, [esi]
  out 0xe9, al
  inc esi
  dec ecx
  jnz .p
  mov al, 10
  out 0xe9, al
  mov eax, 7
  out 0xf4, eax
vendor: times 12 db 0
`;

describe("type-1 hypervisor, EPT", () => {
  it("runs a program that exits through the virtual debug-exit port", () => {
    const image = assembleOrThrow(HELLO).bytes;
    const r = inVm(image);
    expect(r.stop).toEqual({ kind: "debug-exit", value: 7 });
    expect(r.console).toBe("VMXlabHyperV\n");
    expect(r.vm.stats.exits.get(10)).toBe(1);
    expect(r.vm.stats.exits.get(30)).toBe(14);
  });

  const buildDir = examplePath("c/build");
  for (const file of readdirSync(buildDir).filter((f) => f.endsWith(".elf"))) {
    it(`${file}: identical guest-visible results to the bare machine`, () => {
      const image = new Uint8Array(readFileSync(`${buildDir}/${file}`));
      const b = bare(image);
      const v = inVm(image);
      expect(v.stop).toEqual(b.stop);
      expect(v.console).toBe(b.console);
      expect(v.regs).toEqual(b.regs);
      expect(v.instructions).toBe(b.instructions);
    });
  }
});
