// EPT (Intel SDM Vol. 3C, 29.3): the access matrix of a leaf entry's R/W/X bits against reads,
// writes and fetches, with and without guest paging; violations while the guest walks its own page
// tables; not-present entries at each level; misconfigurations; 2 MiB pages; accessed/dirty flags;
// EPTP checks at VM entry.
import { describe, expect, test } from "vitest";
import {
  A,
  D,
  DATA,
  EPT_AREA,
  EXIT_REASON,
  expectOk,
  GUEST_CODE,
  GUEST_PD,
  launchToExit,
  P,
  R,
  RW,
  RWX,
  type Setup,
  setup,
  US,
  VMCS,
  W,
  WB,
  X,
} from "./setup-ept.js";

// Exit-qualification bits of an EPT violation (Table 28-7).
const Q_READ = 1 << 0;
const Q_WRITE = 1 << 1;
const Q_FETCH = 1 << 2;
const Q_GLA_VALID = 1 << 7;
const Q_FINAL = 1 << 8;

type Access = "read" | "write" | "fetch";
const ACCESSES: Access[] = ["read", "write", "fetch"];
const QUAL_ACCESS: Record<Access, number> = { read: Q_READ, write: Q_WRITE, fetch: Q_FETCH };
const NEEDS: Record<Access, number> = { read: R, write: W, fetch: X };

/** Offsets in the probed page: a dword the guest reads or writes, and code it jumps to. */
const DATA_OFF = 0x124;
const CODE_OFF = 0x800;
const MAGIC = 0xcafef00d;
const STORED = 0xfeedface;
/** With guest paging, the probed page is seen at this linear address (so GLA != GPA). */
const REMAP = 0x500000;

function probe(access: Access, linear: number): string {
  if (access === "read") return `mov eax, [${linear + DATA_OFF}]\nvmcall\n`;
  if (access === "write") return `mov dword [${linear + DATA_OFF}], ${STORED}\nvmcall\n`;
  return `jmp ${linear + CODE_OFF}\n`;
}

/** A guest that makes one access to the DATA page, whose EPT PTE gets `perms`. */
function probeSetup(access: Access, perms: number, paging: boolean): Setup {
  const linear = paging ? REMAP : DATA;
  const s = setup({ paging, code: probe(access, linear) });
  if (paging) s.paging!.map4k(REMAP, DATA);
  s.m.memory.write32(DATA + DATA_OFF, MAGIC);
  s.m.memory.writeBytes(DATA + CODE_OFF, Uint8Array.of(0x0f, 0x01, 0xc1)); // vmcall
  s.ept.map4k(DATA, DATA, perms);
  return s;
}

describe("EPT access matrix (leaf PTE permissions x access)", () => {
  const cases: [number, Access, boolean][] = [];
  for (const paging of [false, true])
    for (let perms = 0; perms < 8; perms++) for (const a of ACCESSES) cases.push([perms, a, paging]);

  test.each(cases)("perms %i, %s, guest paging %s", (perms, access, paging) => {
    const s = probeSetup(access, perms, paging);
    const linear = (paging ? REMAP : DATA) + (access === "fetch" ? CODE_OFF : DATA_OFF);
    const gpa = DATA + (access === "fetch" ? CODE_OFF : DATA_OFF);
    const e = launchToExit(s);
    if ((perms & 3) === 2) {
      // Write without read (W, W+X) is a misconfiguration whatever the access.
      expect(e.reason).toBe(EXIT_REASON.EPT_MISCONFIG);
      expect(e.guestPhysicalAddress).toBe(gpa);
      expect(s.read(VMCS.GUEST_PHYSICAL_ADDRESS + 1)).toBe(0);
      return;
    }
    if (perms & NEEDS[access]) {
      // No violation: the access completes and the guest reaches its VMCALL.
      expect(e.reason).toBe(EXIT_REASON.VMCALL);
      if (access === "read") expect(s.m.cpu.regs[0]! >>> 0).toBe(MAGIC);
      if (access === "write") expect(s.m.memory.read32(DATA + DATA_OFF) >>> 0).toBe(STORED);
      if (access === "fetch") expect(e.guestRip).toBe(linear);
      return;
    }
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    // Bits 2:0 the access, 5:3 the entry's R/W/X (0 when not present), 7 linear valid, 8 final access.
    expect(e.qualification).toBe(QUAL_ACCESS[access] | (perms << 3) | Q_GLA_VALID | Q_FINAL);
    expect(e.guestPhysicalAddress).toBe(gpa);
    expect(e.guestLinearAddress).toBe(linear);
    // The access did not happen; RIP is the instruction (or, for a fetch, the target).
    expect(e.guestRip).toBe(access === "fetch" ? linear : GUEST_CODE);
    expect(s.m.memory.read32(DATA + DATA_OFF) >>> 0).toBe(MAGIC);
    if (access === "read") expect(s.m.cpu.regs[0]).toBe(0);
  });

  test("permissions are AND-ed over the levels: R at the PDE, RWX at the PTE allows only reads", () => {
    for (const access of ACCESSES) {
      const s = probeSetup(access, RWX, false);
      s.ept.setEntry(2, DATA, (s.ept.entry(2, DATA) & ~7) | R);
      const e = launchToExit(s);
      if (access === "read") {
        expect(e.reason).toBe(EXIT_REASON.VMCALL);
        continue;
      }
      expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
      expect(e.qualification).toBe(QUAL_ACCESS[access] | (R << 3) | Q_GLA_VALID | Q_FINAL);
    }
  });

  test("X at the PML4E masks R and W for everything: the first fetch succeeds, the read faults with bits 5:3 = X", () => {
    const s = probeSetup("read", RWX, false);
    s.ept.setEntry(4, 0, (s.ept.entry(4, 0) & ~7) | X);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_READ | (X << 3) | Q_GLA_VALID | Q_FINAL);
    expect(e.guestPhysicalAddress).toBe(DATA + DATA_OFF);
  });

  test("a TLB entry filled by a read does not let a later write through a read-only EPT page", () => {
    const s = setup({ code: `mov eax, [${DATA}]\nmov dword [${DATA}], 1\nvmcall\n` });
    s.ept.map4k(DATA, DATA, R);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_WRITE | (R << 3) | Q_GLA_VALID | Q_FINAL);
    expect(e.guestRip).toBe(GUEST_CODE + 5);
  });
});

describe("EPT violations while the guest walks its own page tables (bit 8 = 0)", () => {
  function pagedProbe(access: Access): Setup {
    const s = probeSetup(access, RWX, true);
    return s;
  }

  test.each(ACCESSES)("page table not mapped in EPT: %s reports a read of the PTE", (access) => {
    const s = pagedProbe(access);
    const pte = s.paging!.pteAddress(REMAP + DATA_OFF);
    s.ept.setEntry(1, pte, 0);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    // A read of a paging-structure entry, not present in EPT, linear address valid, not the final access.
    expect(e.qualification).toBe(Q_READ | Q_GLA_VALID);
    expect(e.guestPhysicalAddress).toBe(pte + ((access === "fetch" ? CODE_OFF : DATA_OFF) >>> 12) * 4);
    expect(e.guestLinearAddress).toBe(REMAP + (access === "fetch" ? CODE_OFF : DATA_OFF));
  });

  test("page directory execute-only in EPT: the very first fetch faults on the PDE read", () => {
    const s = pagedProbe("read");
    s.ept.map4k(GUEST_PD, GUEST_PD, X);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_READ | (X << 3) | Q_GLA_VALID);
    expect(e.guestPhysicalAddress).toBe(GUEST_PD + (GUEST_CODE >>> 22) * 4);
    expect(e.guestLinearAddress).toBe(GUEST_CODE);
    expect(e.guestRip).toBe(GUEST_CODE);
  });

  test("setting the guest PTE's accessed flag needs EPT write access: a write of the PTE is reported", () => {
    const s = pagedProbe("read");
    s.paging!.map4k(REMAP, DATA, P | RW | US); // A = D = 0
    const pte = s.paging!.pteAddress(REMAP);
    s.ept.map4k(pte, pte & ~0xfff, R | X);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_WRITE | ((R | X) << 3) | Q_GLA_VALID);
    expect(e.guestPhysicalAddress).toBe(pte);
    expect(e.guestLinearAddress).toBe(REMAP + DATA_OFF);
    // The guest PTE is unchanged.
    expect(s.m.memory.read32(pte) & A).toBe(0);
  });

  test("setting the dirty flag on a write is a write of the PTE too", () => {
    const s = pagedProbe("write");
    s.paging!.map4k(REMAP, DATA, P | RW | US | A); // D = 0
    const pte = s.paging!.pteAddress(REMAP);
    s.ept.map4k(pte, pte & ~0xfff, R);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_WRITE | (R << 3) | Q_GLA_VALID);
    expect(e.guestPhysicalAddress).toBe(pte);
    expect(s.m.memory.read32(DATA + DATA_OFF) >>> 0).toBe(MAGIC);
  });

  test("with A/D already set a read-only page table is enough (EPT A/D off)", () => {
    const s = pagedProbe("write");
    const pte = s.paging!.pteAddress(REMAP);
    s.ept.map4k(pte, pte & ~0xfff, R);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.memory.read32(DATA + DATA_OFF) >>> 0).toBe(STORED);
  });
});

/** Guest-physical address beyond 1 GiB (PDPTE index 1) that EPT maps to DATA. */
const HIGH_GPA = 0x40300000;

describe("EPT entries not present at each level", () => {
  function highSetup(): Setup {
    const s = setup({ code: `mov eax, [${HIGH_GPA + DATA_OFF}]\nvmcall\n` });
    s.ept.map4k(HIGH_GPA, DATA);
    s.m.memory.write32(DATA + DATA_OFF, MAGIC);
    return s;
  }

  test("all present: the access reads DATA through the second PDPTE", () => {
    const s = highSetup();
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.cpu.regs[0]! >>> 0).toBe(MAGIC);
  });

  test.each([
    [3, 2],
    [2, 3],
    [1, 4],
  ])("level %i not present: violation, bits 5:3 = 0, the walk stopped after %i references", (level, refs) => {
    const s = highSetup();
    s.ept.setEntry(level, HIGH_GPA, 0);
    const before = s.m.cpu.tlb.stats.walkReferences;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_READ | Q_GLA_VALID | Q_FINAL);
    expect(e.guestPhysicalAddress).toBe(HIGH_GPA + DATA_OFF);
    expect(e.guestLinearAddress).toBe(HIGH_GPA + DATA_OFF);
    // 4 references for the code page, then the data walk up to the missing entry.
    expect(s.m.cpu.tlb.stats.walkReferences - before).toBe(4 + refs);
  });

  test("PML4E not present: the first instruction fetch faults", () => {
    const s = highSetup();
    s.ept.setEntry(4, 0, 0);
    const before = s.m.cpu.tlb.stats.walkReferences;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_FETCH | Q_GLA_VALID | Q_FINAL);
    expect(e.guestPhysicalAddress).toBe(GUEST_CODE);
    expect(e.guestRip).toBe(GUEST_CODE);
    expect(s.m.cpu.tlb.stats.walkReferences - before).toBe(1);
  });

  test("a not-present entry is never a misconfiguration, whatever its other bits", () => {
    const s = highSetup();
    s.ept.setEntry(1, HIGH_GPA, (DATA | (7 << 3) | 0x80) >>> 0, 0xfffff);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_READ | Q_GLA_VALID | Q_FINAL);
  });
});

describe("EPT misconfigurations (exit 49)", () => {
  function misconfig(patch: (s: Setup) => void, gpa = HIGH_GPA + DATA_OFF): void {
    const s = setup({ code: `mov eax, [${HIGH_GPA + DATA_OFF}]\nvmcall\n` });
    s.ept.map4k(HIGH_GPA, DATA);
    patch(s);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_MISCONFIG);
    expect(e.guestPhysicalAddress).toBe(gpa);
  }

  test.each([2, 3, 7])("leaf memory type %i is reserved", (type) => {
    misconfig((s) => s.ept.map4k(HIGH_GPA, DATA, RWX, type << 3));
  });

  test.each([0, 1, 4, 5, 6])("leaf memory type %i is fine", (type) => {
    const s = setup({ code: `mov eax, [${HIGH_GPA + DATA_OFF}]\nvmcall\n` });
    s.ept.map4k(HIGH_GPA, DATA, RWX, type << 3);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  });

  test("a large page in the PML4E (bit 7): the first fetch hits it", () => {
    misconfig((s) => s.ept.setEntry(4, 0, s.ept.entry(4, 0) | 0x80), GUEST_CODE);
  });

  test("a 1 GiB page in a PDPTE (not supported: reserved)", () => {
    misconfig((s) => s.ept.setEntry(3, HIGH_GPA, s.ept.entry(3, HIGH_GPA) | 0x80));
  });

  test.each([3, 4, 5, 6])("reserved bit %i of a non-leaf PDE", (bit) => {
    misconfig((s) => s.ept.setEntry(2, HIGH_GPA, s.ept.entry(2, HIGH_GPA) | (1 << bit)));
  });

  test("reserved bit 3 of the PML4E", () => {
    misconfig((s) => s.ept.setEntry(4, 0, s.ept.entry(4, 0) | 8), GUEST_CODE);
  });

  test("an address bit beyond the 32-bit physical-address width (bit 32 of the PTE)", () => {
    misconfig((s) => s.ept.setEntry(1, HIGH_GPA, s.ept.entry(1, HIGH_GPA), 1));
  });

  test("bits 20:12 of a 2 MiB page are reserved", () => {
    misconfig((s) => s.ept.setEntry(2, HIGH_GPA, (0x200000 | 0x1000 | 0x80 | WB | RWX) >>> 0));
  });

  test("write-only in a non-leaf entry", () => {
    misconfig((s) => s.ept.setEntry(2, HIGH_GPA, (s.ept.entry(2, HIGH_GPA) & ~7) | W));
  });

  test("a misconfiguration takes precedence over a permission violation further down", () => {
    // PDE W+X (misconfigured) above a PTE that is not present.
    misconfig((s) => {
      s.ept.setEntry(1, HIGH_GPA, 0);
      s.ept.setEntry(2, HIGH_GPA, (s.ept.entry(2, HIGH_GPA) & ~7) | W | X);
    });
  });
});

describe("EPT 2 MiB pages", () => {
  const LARGE = 0x400000;

  test("a 2 MiB leaf maps the offset within the large page; the walk makes 3 references", () => {
    const s = setup({ code: `mov eax, [${LARGE + 0x12344}]\nvmcall\n` });
    s.ept.map2m(LARGE, 0x600000);
    s.m.memory.write32(0x612344, MAGIC);
    s.m.memory.write32(LARGE + 0x12344, 0);
    const before = s.m.cpu.tlb.stats.walkReferences;
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.cpu.regs[0]! >>> 0).toBe(MAGIC);
    expect(s.m.cpu.tlb.stats.walkReferences - before).toBe(4 + 3);
  });

  test.each(ACCESSES)("a read-only 2 MiB page: %s", (access) => {
    const code = access === "fetch" ? `jmp ${LARGE + 0x1ff800}\n` : probe(access, LARGE + 0x1ff000);
    const s = setup({ code });
    s.ept.map2m(LARGE, LARGE, R);
    s.m.memory.writeBytes(LARGE + 0x1ff800, Uint8Array.of(0x0f, 0x01, 0xc1));
    const e = launchToExit(s);
    if (access === "read") {
      expect(e.reason).toBe(EXIT_REASON.VMCALL);
      return;
    }
    const gpa = LARGE + 0x1ff000 + (access === "fetch" ? CODE_OFF : DATA_OFF);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(QUAL_ACCESS[access] | (R << 3) | Q_GLA_VALID | Q_FINAL);
    expect(e.guestPhysicalAddress).toBe(gpa);
  });
});

describe("EPT accessed and dirty flags (EPTP bit 6)", () => {
  const EA = 1 << 8;
  const ED = 1 << 9;

  function adRun(accessedDirty: boolean, code: string, paging = false): Setup {
    const s = setup({ accessedDirty, code, paging });
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.VMCALL);
    return s;
  }

  test("a read sets A on every entry of the walk and D nowhere", () => {
    const s = adRun(true, `mov eax, [${DATA}]\nvmcall\n`);
    const walk = s.ept.walk(DATA);
    expect(walk).toHaveLength(4);
    for (const entry of walk) expect(entry & (EA | ED)).toBe(EA);
  });

  test("a write sets D on the leaf only", () => {
    const s = adRun(true, `mov dword [${DATA}], 1\nvmcall\n`);
    const walk = s.ept.walk(DATA);
    expect(walk.slice(0, 3).map((e) => e & (EA | ED))).toEqual([EA, EA, EA]);
    expect(walk[3]! & (EA | ED)).toBe(EA | ED);
  });

  test("a fetch sets A on the code page's entries, D stays clear", () => {
    const s = adRun(true, "vmcall\n");
    for (const entry of s.ept.walk(GUEST_CODE)) expect(entry & (EA | ED)).toBe(EA);
    // Pages the guest never touched stay clean.
    expect(s.ept.entry(1, DATA) & (EA | ED)).toBe(0);
  });

  test("2 MiB leaf: A on the three entries, D on the PDE after a write", () => {
    const s = setup({ accessedDirty: true, code: `mov dword [${0x400010}], 1\nvmcall\n` });
    s.ept.map2m(0x400000, 0x400000);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(s.ept.walk(0x400000).map((e) => e & (EA | ED))).toEqual([EA, EA, EA | ED]);
  });

  test("with bit 6 clear nothing is set", () => {
    const s = adRun(false, `mov eax, [${DATA}]\nmov dword [${DATA + 0x1000}], 1\nvmcall\n`);
    for (const gpa of [DATA, DATA + 0x1000, GUEST_CODE]) {
      for (const entry of s.ept.walk(gpa)) expect(entry & (EA | ED)).toBe(0);
    }
  });

  test("guest paging-structure reads count as writes: D is set on the EPT entry of the guest page table", () => {
    const s = adRun(true, `mov eax, [${DATA}]\nvmcall\n`, true);
    const pt = s.paging!.pteAddress(DATA) & ~0xfff;
    expect(s.ept.entry(1, pt) & (EA | ED)).toBe(EA | ED);
    expect(s.ept.entry(1, GUEST_PD) & (EA | ED)).toBe(EA | ED);
    expect(s.ept.entry(1, DATA) & (EA | ED)).toBe(EA);
  });

  test("...and need EPT write permission: a read-only guest page table faults as a write (A/D on)", () => {
    // The probed page is at REMAP, whose page table holds nothing else the guest uses.
    const s = setup({ accessedDirty: true, paging: true, code: `mov eax, [${REMAP}]\nvmcall\n` });
    s.paging!.map4k(REMAP, DATA);
    const pte = s.paging!.pteAddress(REMAP);
    s.ept.map4k(pte, pte & ~0xfff, R);
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(e.qualification).toBe(Q_READ | Q_WRITE | (R << 3) | Q_GLA_VALID);
    expect(e.guestPhysicalAddress).toBe(pte);
    expect(e.guestLinearAddress).toBe(REMAP);
  });

  test("...while with A/D off the same read-only guest page table is fine", () => {
    const s = setup({ accessedDirty: false, paging: true, code: `mov eax, [${REMAP}]\nvmcall\n` });
    s.paging!.map4k(REMAP, DATA);
    const pte = s.paging!.pteAddress(REMAP);
    s.ept.map4k(pte, pte & ~0xfff, R);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  });

  test("guest page-table A/D flags are set as usual alongside", () => {
    const s = setup({ accessedDirty: true, paging: true, code: `mov dword [${DATA}], 1\nvmcall\n` });
    s.paging!.map4k(DATA, DATA, P | RW);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.memory.read32(s.paging!.pteAddress(DATA)) & (A | D)).toBe(A | D);
  });
});

describe("EPTP checks at VM entry (VMfailValid 7)", () => {
  test.each([
    ["memory type 1 (WC)", (p: number) => (p & ~7) | 1, 0],
    ["memory type 4 (WT)", (p: number) => (p & ~7) | 4, 0],
    ["walk length 3 (bits 5:3 = 2)", (p: number) => (p & ~0x38) | (2 << 3), 0],
    ["walk length 5 (bits 5:3 = 4)", (p: number) => (p & ~0x38) | (4 << 3), 0],
    ["reserved bit 7", (p: number) => p | 0x80, 0],
    ["reserved bit 11", (p: number) => p | 0x800, 0],
    ["PML4 above 4 GiB", (p: number) => p, 1],
  ])("%s", (_name, patch, high) => {
    const s = setup({ code: "vmcall\n" });
    s.write(VMCS.EPT_POINTER, patch(s.ept.eptp()));
    s.write(VMCS.EPT_POINTER + 1, high);
    expect(s.launch()).toEqual({ ok: false, invalid: false, error: 7 });
    expect(s.read(VMCS.VM_INSTRUCTION_ERROR)).toBe(7);
    expect(s.m.vmx.nonRoot).toBe(false);
    // Fixed, the same VMCS launches (a failed VMLAUNCH leaves it clear).
    s.write(VMCS.EPT_POINTER, s.ept.eptp());
    s.write(VMCS.EPT_POINTER + 1, 0);
    expectOk(s.launch(), "VMLAUNCH");
    expect(s.runToExit().reason).toBe(EXIT_REASON.VMCALL);
  });

  test("UC memory type and the A/D bit are accepted", () => {
    const s = setup({ code: "vmcall\n" });
    s.write(VMCS.EPT_POINTER, (s.ept.eptp(true) & ~7) | 0);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  });

  test("the EPTP takes effect: a second EPT remaps the guest's view", () => {
    const s = setup({ code: `mov eax, [${DATA}]\nvmcall\n` });
    s.m.memory.write32(DATA, 1);
    s.m.memory.write32(DATA + 0x1000, 2);
    s.ept.map4k(DATA, DATA + 0x1000);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.cpu.regs[0]).toBe(2);
    expect(s.ept.pml4).toBe(EPT_AREA);
  });
});
