// The multi-dword memory paths (PUSHAD/POPAD, IRET's frame, interrupt frames, descriptors, gates and
// TSS stacks read with one TLB lookup when they lie in one page) against one access at a time: a
// memory hook sends every data access down the slow path, one by one, and the runs must agree.
import { describe, expect, it } from "vitest";
import { assembleOrThrow } from "../src/asm/index.js";
import { Machine } from "../src/machine.js";
import { everyCaseAgreesWhen } from "./system/harness.js";

describe("multi-dword accesses agree with one access at a time", () => {
  everyCaseAgreesWhen((m) => {
    m.cpu.hooks.memory = () => undefined;
    m.cpu.updateAccessMasks();
  });
});

// Paging on (identity map of the first 4 MiB with a 4 MiB page), so the stack accesses go through the TLB.
const PAGED = `
  mov eax, 0x200000
  mov dword [eax], 0x87          ; PDE 0: 4 MiB page, present, writable, user
  mov cr3, eax
  mov eax, cr4
  or eax, 0x10                   ; CR4.PSE
  mov cr4, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
`;

function run(body: string, hook = false): { machine: Machine; seen: string[] } {
  const machine = new Machine({ memoryMiB: 8 });
  const code = assembleOrThrow(`bits 32\norg 0x100000\n${PAGED}\n${body}\n  hlt\n`);
  machine.load(code.bytes, { load: 0x100000, entry: 0x100000 });
  const seen: string[] = [];
  if (hook) {
    machine.cpu.hooks.memory = (kind, linear, size) => {
      if (linear >= 0x300000) seen.push(`${kind} ${linear.toString(16)}/${size}`);
      return undefined;
    };
    machine.cpu.updateAccessMasks();
  }
  expect(machine.run({ maxInstructions: 1000 })).toEqual({ kind: "halt" });
  return { machine, seen };
}

const SET_REGS = `
  mov eax, 0xaaaa0001
  mov ecx, 0xcccc0002
  mov edx, 0xdddd0003
  mov ebx, 0xbbbb0004
  mov ebp, 0xbbbb0005
  mov esi, 0x55550006
  mov edi, 0xdddd0007
`;

describe("PUSHAD and POPAD", () => {
  it("store and load the same eight dwords inside one page and across a page boundary", () => {
    for (const top of [0x300800, 0x301010]) {
      // The two stores first put the stack's pages in the TLB (PUSHAD's one-lookup path needs a hit).
      const { machine } = run(
        `${SET_REGS}\n  mov esp, ${top}\n  mov [esp - 32], eax\n  mov [esp - 4], eax\n  pushad\n  mov dword [${top - 20}], 0x12345678\n  popad`,
      );
      const mem = machine.memory;
      const saved = Array.from({ length: 8 }, (_, k) => mem.read32(top - 32 + 4 * k) >>> 0);
      // EDI ESI EBP ESP(original) EBX EDX ECX EAX, lowest address first
      expect(saved).toEqual([
        0xdddd0007, 0x55550006, 0xbbbb0005, 0x12345678, 0xbbbb0004, 0xdddd0003, 0xcccc0002, 0xaaaa0001,
      ]);
      const r = machine.cpu.snapshotRegisters();
      // POPAD skips the saved ESP: the one overwritten above is not loaded.
      expect([r.eax, r.ecx, r.edx, r.ebx, r.ebp, r.esi, r.edi, r.esp]).toEqual([
        0xaaaa0001,
        0xcccc0002,
        0xdddd0003,
        0xbbbb0004,
        0xbbbb0005,
        0x55550006,
        0xdddd0007,
        top,
      ]);
    }
  });

  it("a memory hook sees each of their accesses, in order", () => {
    const { seen } = run(`${SET_REGS}\n  mov esp, 0x300800\n  pushad\n  popad`, true);
    const writes = Array.from({ length: 8 }, (_, k) => `write ${(0x3007fc - 4 * k).toString(16)}/4`);
    const reads = Array.from({ length: 8 }, (_, k) => `read ${(0x3007e0 + 4 * k).toString(16)}/4`);
    expect(seen).toEqual([...writes, ...reads]);
  });
});
