// examples/hypervisor.asm, the minimal hypervisor `vmxlab run` runs on the bare machine: its exact
// console output (one line per VM exit it handles) and the VMX state it leaves.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { assembleOrThrow } from "../../src/asm/index.js";
import { examplePath } from "../../src/examples.js";
import { Machine } from "../../src/machine.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";

function runExample() {
  const path = examplePath("hypervisor.asm");
  const asm = assembleOrThrow(readFileSync(path, "utf8"), { fileName: path });
  // As `vmxlab run`: 64 MiB, loaded at the program's org, entry = its first byte.
  const machine = new Machine({ memoryMiB: 64 });
  machine.load(asm.bytes, { load: asm.origin });
  const stop = machine.run({ maxInstructions: 1_000_000 });
  return { machine, stop, asm };
}

describe("examples/hypervisor.asm", () => {
  const { machine, stop, asm } = runExample();
  const sym = (name: string) => asm.symbols.get(name)!;

  it("ends with debug exit 0 after the guest's HLT", () => {
    expect(stop).toEqual({ kind: "debug-exit", value: 0 });
  });

  it("prints one line per VM exit: CPUID, two OUTs, VMCALL (the guest's own #PF), EPT violation, HLT", () => {
    // Addresses of the exiting guest instructions, from the labels around them.
    const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
    const cpuid = hex(sym("guest_start") + 4); // after XOR EAX, EAX; XOR ECX, ECX
    const out = hex(sym("guest_start.print") + 5); // after LODSB; TEST AL, AL; JZ short
    const lines = machine.consoleText().split("\n");
    expect(lines).toEqual([
      "vmxlab example hypervisor: VMXON, a VMCS with EPT, one guest",
      "[hv] VMCS ready, VMLAUNCH",
      `[hv] exit 1 at ${cpuid}: CPUID, executed for the guest, leaf 0x00000000`,
      `[hv] exit 2 at ${out}: OUT to port 0xe9, emulated: 'h'`,
      `[hv] exit 3 at ${out}: OUT to port 0xe9, emulated: 'i'`,
      expect.stringMatching(
        /^\[hv\] exit 4 at 0x[0-9a-f]{8}: VMCALL, the guest's page-fault handler ran 1 time\(s\), last CR2 0x001d0000$/,
      ),
      expect.stringMatching(
        /^\[hv\] exit 5 at 0x[0-9a-f]{8}: EPT violation at guest-physical 0x00600000, qualification 0x00000182, mapped 2 MiB$/,
      ),
      expect.stringMatching(/^\[hv\] exit 6 at 0x[0-9a-f]{8}: HLT, guest done \(EAX = 0x0000cafe\), ending the run$/),
      "",
    ]);
  });

  it("handled exactly those exits, and left the guest's state in the VMCS", () => {
    const vmx = machine.vmx;
    expect(vmx.exitCount).toBe(6);
    expect(Object.fromEntries(vmx.exitCounts)).toEqual({
      [EXIT_REASON.CPUID]: 1,
      [EXIT_REASON.IO_INSTRUCTION]: 2,
      [EXIT_REASON.VMCALL]: 1,
      [EXIT_REASON.EPT_VIOLATION]: 1,
      [EXIT_REASON.HLT]: 1,
    });
    expect(vmx.inVmxOperation).toBe(true);
    expect(vmx.nonRoot).toBe(false);
    // The guest enabled paging itself; VMXE stayed set although the guest cleared it in what it wrote.
    expect(vmx.read(VMCS.GUEST_CR0) & 0x80000000).not.toBe(0);
    expect(vmx.read(VMCS.GUEST_CR4)).toBe(0x2010);
    expect(vmx.read(VMCS.GUEST_CR3)).toBe(0x1c0000);
    // The guest's write reached the page the hypervisor mapped on the EPT violation.
    expect(machine.memory.read32(0x600000)).toBe(0xcafe);
    // The lazily mapped page was mapped by the guest's own #PF handler (PTE present, writable).
    expect(machine.memory.read32(0x1c1000 + 0x1d0 * 4) & 0xfffff003).toBe(0x1d0003);
    expect(machine.memory.read32(0x1d0000)).toBe(0x600df00d);
  });
});
