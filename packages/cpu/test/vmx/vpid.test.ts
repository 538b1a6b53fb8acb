// VPIDs and the TLB (Intel SDM Vol. 3C, 29.1 and 29.4): with a VPID the guest's translations are
// tagged and survive VM exits and entries, as do the host's (VPID 0); without one, every entry and
// exit flushes. INVVPID (types 0-3) and INVEPT (single / all context) drop what the SDM says and fail
// with VMfailValid(28) on bad operands. Two VPIDs never see each other's translations.
import { describe, expect, test } from "vitest";
import { VMCS_REVISION_ID } from "../../src/vmx/capabilities.js";
import {
  A,
  D,
  DATA,
  EPT_AREA2,
  EptBuilder,
  EXIT_REASON,
  expectOk,
  fillVmcs,
  G,
  GUEST_CODE,
  HOST_CODE,
  launchToExit,
  loadCode,
  P,
  RW,
  resumeToExit,
  runHost,
  type Setup,
  setup,
  US,
  VMCS,
  VMCS_REGION,
  VMCS_REGION2,
} from "./setup-ept.js";

const EBX = 3;
const CF = 1;
const ZF = 0x40;
/** The guest reads [ebx] then exits; resuming past the VMCALL loops back. */
const LOOP = "top:\nmov eax, [ebx]\nvmcall\njmp top\n";
/** A page the host touches (identity-mapped by the host's 4 MiB pages). */
const HOST_PAGE = 0x700000;
const DESC = 0xa000;

const vpn = (linear: number) => linear >>> 12;

function cached(s: Setup, linear: number, asid: number): boolean {
  return s.m.cpu.tlb.peek(vpn(linear), asid) !== undefined;
}

function guestAsid(s: Setup, vpid: number): number {
  const asid = s.m.vmx.asidOf(vpid);
  if (asid === undefined) throw new Error(`VPID ${vpid} never ran`);
  return asid;
}

/** Runs INVVPID or INVEPT in the host with a 128-bit descriptor; returns the flags and VM-instruction error. */
function invalidate(
  s: Setup,
  insn: "invvpid" | "invept",
  type: number,
  desc: [number, number, number, number],
): { flags: number; error: number } {
  for (const [k, d] of desc.entries()) s.m.memory.write32(DESC + 4 * k, d);
  s.write(VMCS.VM_INSTRUCTION_ERROR, 0);
  const host = runHost(s, `mov ecx, ${type}\n${insn} ecx, [${DESC}]\npushfd\npop ebx\n`);
  return { flags: host[EBX]! & (CF | ZF), error: s.read(VMCS.VM_INSTRUCTION_ERROR) };
}

const SUCCEED = { flags: 0, error: 0 };
const FAIL_28 = { flags: ZF, error: 28 };

describe("TLB across VM exits and entries", () => {
  test("with a VPID, guest translations survive exit and re-entry: no new misses", () => {
    const s = setup({ vpid: 1, code: LOOP });
    s.m.cpu.regs[EBX] = DATA;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    const asid = guestAsid(s, 1);
    expect(asid).not.toBe(0);
    expect(cached(s, GUEST_CODE, asid)).toBe(true);
    expect(cached(s, DATA, asid)).toBe(true);
    const misses = s.m.cpu.tlb.stats.misses;
    s.skip();
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(s.m.cpu.tlb.stats.misses - misses).toBe(0);
  });

  test("with a VPID, host translations survive the guest's run", () => {
    const s = setup({ vpid: 1, code: LOOP });
    s.m.cpu.regs[EBX] = DATA;
    runHost(s, `mov eax, [${HOST_PAGE}]`);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
    const misses = s.m.cpu.tlb.stats.misses;
    runHost(s, `mov eax, [${HOST_PAGE}]`);
    expect(s.m.cpu.tlb.stats.misses - misses).toBe(0);
  });

  test("without a VPID, entry and exit flush: the guest misses again, the host too", () => {
    const s = setup({ code: LOOP });
    s.m.cpu.regs[EBX] = DATA;
    runHost(s, `mov eax, [${HOST_PAGE}]`);
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    // The guest used address space 0 like the host; the exit flushed it.
    expect(s.m.vmx.guestAsids()).toEqual([]);
    expect(cached(s, HOST_PAGE, 0)).toBe(false);
    expect(cached(s, DATA, 0)).toBe(false);
    expect(cached(s, GUEST_CODE, 0)).toBe(false);
    const misses = s.m.cpu.tlb.stats.misses;
    s.skip();
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    // The code page (jmp, mov, vmcall) and DATA again.
    expect(s.m.cpu.tlb.stats.misses - misses).toBe(2);
    const hostMisses = s.m.cpu.tlb.stats.misses;
    runHost(s, `mov eax, [${HOST_PAGE}]`);
    // The host code page and HOST_PAGE.
    expect(s.m.cpu.tlb.stats.misses - hostMisses).toBe(2);
  });
});

/** A second VMCS with its own VPID, EPT and (optionally) different guest-physical to host-physical mapping. */
function secondGuest(s: Setup, vpid: number, remap?: number): EptBuilder {
  const ept2 = new EptBuilder(s.m, EPT_AREA2, 0x100000);
  ept2.identity4k(0, 0x800000);
  if (remap !== undefined) ept2.map4k(DATA, remap);
  s.m.memory.write32(VMCS_REGION2, VMCS_REVISION_ID);
  expectOk(s.m.vmx.vmclear(VMCS_REGION2), "VMCLEAR");
  expectOk(s.m.vmx.vmptrld(VMCS_REGION2), "VMPTRLD");
  fillVmcs(s.m, { vpid }, ept2.eptp(), false);
  return ept2;
}

describe("two VPIDs", () => {
  test("each sees only its own translations of the same linear address", () => {
    const s = setup({ vpid: 1, code: LOOP });
    const cpu = s.m.cpu;
    s.m.memory.write32(DATA, 0x1111);
    s.m.memory.write32(DATA + 0x10000, 0x2222);
    cpu.regs[EBX] = DATA;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(0x1111);
    expect((cpu.tlb.peek(vpn(DATA), guestAsid(s, 1))! & ~0xfff) >>> 0).toBe(DATA);
    // Guest 2 maps the same guest-physical page elsewhere; a stale VPID-1 entry would read 0x1111.
    secondGuest(s, 2, DATA + 0x10000);
    cpu.regs[0] = 0;
    expectOk(s.launch(), "VMLAUNCH 2");
    expect(s.runToExit().reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(0x2222);
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    expect(a1).not.toBe(a2);
    expect((cpu.tlb.peek(vpn(DATA), a2)! & ~0xfff) >>> 0).toBe(DATA + 0x10000);
    // Back to guest 1: the TLB's set index mixes the VPID's tag in, so guest 2's entries for the same
    // linear pages (code and DATA) did not evict guest 1's: it runs without a miss.
    expect((cpu.tlb.peek(vpn(DATA), a1)! & ~0xfff) >>> 0).toBe(DATA);
    expectOk(s.m.vmx.vmptrld(VMCS_REGION), "VMPTRLD 1");
    s.skip();
    const misses = cpu.tlb.stats.misses;
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(0x1111);
    expect(cpu.tlb.stats.misses - misses).toBe(0);
  });

  test("translations of different pages of two VPIDs coexist across switches", () => {
    const s = setup({ vpid: 1, code: LOOP });
    const cpu = s.m.cpu;
    cpu.regs[EBX] = DATA;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    secondGuest(s, 2);
    loadGuest2Code(s);
    cpu.regs[EBX] = DATA + 0x2000;
    expectOk(s.launch(), "VMLAUNCH 2");
    expect(s.runToExit().reason).toBe(EXIT_REASON.VMCALL);
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    expect(cached(s, DATA, a1) && cached(s, GUEST_CODE, a1)).toBe(true);
    expect(cached(s, DATA + 0x2000, a2) && cached(s, GUEST2_CODE, a2)).toBe(true);
    // Neither VPID can use the other's entries.
    expect(cached(s, DATA, a2) || cached(s, DATA + 0x2000, a1)).toBe(false);
    expectOk(s.m.vmx.vmptrld(VMCS_REGION), "VMPTRLD 1");
    cpu.regs[EBX] = DATA;
    s.skip();
    const misses = cpu.tlb.stats.misses;
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.tlb.stats.misses - misses).toBe(0);
  });
});

/** Guest 2's code: its own page, reading [ebx] like LOOP. */
const GUEST2_CODE = 0x110000;
function loadGuest2Code(s: Setup): void {
  loadCode(s.m, LOOP, GUEST2_CODE);
  s.write(VMCS.GUEST_RIP, GUEST2_CODE);
}

/**
 * Guest 1 (VPID 1) touched DATA, DATA+0x1000 and its code page; guest 2 (VPID 2) touched DATA+0x2000
 * and its own code page (pages apart: the direct-mapped TLB keeps one entry per VPN); the host
 * touched HOST_PAGE.
 */
function populated(options: { globalPage?: boolean } = {}): Setup {
  const code = `mov eax, [${DATA}]\nmov eax, [${DATA + 0x1000}]\nvmcall\n`;
  const s = setup({ vpid: 1, code, paging: options.globalPage === true });
  if (options.globalPage) {
    s.paging!.map4k(DATA, DATA, P | RW | US | A | D | G);
    s.write(VMCS.GUEST_CR4, s.read(VMCS.GUEST_CR4) | 0x80); // PGE
  }
  runHost(s, `mov eax, [${HOST_PAGE}]`);
  expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
  if (!options.globalPage) {
    secondGuest(s, 2);
    loadGuest2Code(s);
    s.m.cpu.regs[EBX] = DATA + 0x2000;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expectOk(s.m.vmx.vmptrld(VMCS_REGION), "VMPTRLD 1");
  }
  return s;
}

describe("INVVPID", () => {
  test("type 0 (individual address) drops one page of one VPID", () => {
    const s = populated();
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    expect(invalidate(s, "invvpid", 0, [1, 0, DATA, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, a1)).toBe(false);
    expect(cached(s, DATA + 0x1000, a1)).toBe(true);
    expect(cached(s, GUEST_CODE, a1)).toBe(true);
    expect(cached(s, DATA + 0x2000, a2)).toBe(true);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
    // The same page of the other VPID is not touched.
    expect(invalidate(s, "invvpid", 0, [1, 0, DATA + 0x2000, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA + 0x2000, a2)).toBe(true);
    expect(invalidate(s, "invvpid", 0, [2, 0, DATA + 0x2000, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA + 0x2000, a2)).toBe(false);
    expect(cached(s, GUEST2_CODE, a2)).toBe(true);
  });

  test("type 1 (single context) drops every translation of that VPID only", () => {
    const s = populated();
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    expect(invalidate(s, "invvpid", 1, [1, 0, 0, 0])).toEqual(SUCCEED);
    for (const page of [DATA, DATA + 0x1000, GUEST_CODE]) expect(cached(s, page, a1)).toBe(false);
    expect(cached(s, DATA + 0x2000, a2)).toBe(true);
    expect(cached(s, GUEST2_CODE, a2)).toBe(true);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
    expect(cached(s, HOST_CODE + 0x100, 0)).toBe(true);
  });

  test("type 2 (all contexts) drops every VPID's translations but not the host's (VPID 0)", () => {
    const s = populated();
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    // The VPID in the descriptor is ignored for type 2 (0 is fine).
    expect(invalidate(s, "invvpid", 2, [0, 0, 0, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, a1)).toBe(false);
    expect(cached(s, GUEST_CODE, a1)).toBe(false);
    expect(cached(s, DATA + 0x2000, a2)).toBe(false);
    expect(cached(s, GUEST2_CODE, a2)).toBe(false);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
  });

  test("type 3 (single context, retaining globals) keeps the guest's global pages", () => {
    const s = populated({ globalPage: true });
    const a1 = guestAsid(s, 1);
    expect(cached(s, DATA, a1)).toBe(true);
    expect(invalidate(s, "invvpid", 3, [1, 0, 0, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, a1)).toBe(true); // G = 1 with CR4.PGE
    expect(cached(s, DATA + 0x1000, a1)).toBe(false);
    expect(cached(s, GUEST_CODE, a1)).toBe(false);
    // Type 1 drops the global page too.
    expect(invalidate(s, "invvpid", 1, [1, 0, 0, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, a1)).toBe(false);
  });

  test("after INVVPID the guest walks again (misses) and sees the new mapping", () => {
    const s = setup({ vpid: 1, code: LOOP });
    const cpu = s.m.cpu;
    s.m.memory.write32(DATA, 1);
    s.m.memory.write32(DATA + 0x1000, 2);
    cpu.regs[EBX] = DATA;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(1);
    // The host changes EPT without invalidating: the stale translation is still used.
    s.ept.map4k(DATA, DATA + 0x1000);
    s.skip();
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(1);
    expect(invalidate(s, "invvpid", 0, [1, 0, DATA, 0])).toEqual(SUCCEED);
    s.skip();
    const misses = cpu.tlb.stats.misses;
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(2);
    expect(cpu.tlb.stats.misses - misses).toBe(1);
  });

  test.each([
    ["type 0 with VPID 0", 0, [0, 0, DATA, 0]],
    ["type 1 with VPID 0", 1, [0, 0, 0, 0]],
    ["type 3 with VPID 0", 3, [0, 0, 0, 0]],
    ["reserved descriptor bits 31:16", 1, [0x10001, 0, 0, 0]],
    ["reserved descriptor bits 63:32", 2, [1, 1, 0, 0]],
    ["type 4", 4, [1, 0, 0, 0]],
    ["type 0xffffffff", 0xffffffff, [1, 0, 0, 0]],
    ["type 0 with a non-canonical linear address", 0, [1, 0, DATA, 0x00010000]],
  ] as [string, number, [number, number, number, number]][])(
    "%s: VMfailValid(28), nothing flushed",
    (_n, type, desc) => {
      const s = populated();
      const a1 = guestAsid(s, 1);
      expect(invalidate(s, "invvpid", type, desc)).toEqual(FAIL_28);
      expect(cached(s, DATA, a1)).toBe(true);
    },
  );

  test("INVVPID in the guest exits (reason 53) with the instruction information", () => {
    const s = setup({ vpid: 1, code: `mov ecx, 1\ninvvpid ecx, [${DESC}]\n` });
    const e = launchToExit(s);
    expect(e.reason).toBe(EXIT_REASON.INVVPID);
    expect(e.guestRip).toBe(GUEST_CODE + 5);
    expect(e.instructionLength).toBe(9);
  });
});

describe("INVEPT", () => {
  test("type 1 (single context) with a valid EPTP drops guest translations, keeps the host's", () => {
    const s = populated();
    const a1 = guestAsid(s, 1);
    const a2 = guestAsid(s, 2);
    expect(invalidate(s, "invept", 1, [s.ept.eptp(), 0, 0, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, a1)).toBe(false);
    expect(cached(s, GUEST_CODE, a1)).toBe(false);
    // Guest 2 uses another EPTP: dropping it too is allowed (over-invalidation), and what we do.
    expect(cached(s, DATA + 0x2000, a2)).toBe(false);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
  });

  test("type 2 (all context) drops every guest translation, keeps the host's", () => {
    const s = populated();
    expect(invalidate(s, "invept", 2, [0, 0, 0, 0])).toEqual(SUCCEED);
    expect(cached(s, DATA, guestAsid(s, 1))).toBe(false);
    expect(cached(s, DATA + 0x2000, guestAsid(s, 2))).toBe(false);
    expect(cached(s, HOST_PAGE, 0)).toBe(true);
  });

  test("after INVEPT the guest sees a changed EPT mapping", () => {
    const s = setup({ vpid: 1, code: LOOP });
    const cpu = s.m.cpu;
    s.m.memory.write32(DATA, 1);
    s.m.memory.write32(DATA + 0x1000, 2);
    cpu.regs[EBX] = DATA;
    expect(launchToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    s.ept.map4k(DATA, DATA + 0x1000);
    expect(invalidate(s, "invept", 1, [s.ept.eptp(), 0, 0, 0])).toEqual(SUCCEED);
    s.skip();
    expect(resumeToExit(s).reason).toBe(EXIT_REASON.VMCALL);
    expect(cpu.regs[0]).toBe(2);
  });

  test.each([
    ["type 0", 0, 6 | 0x18],
    ["type 3", 3, 6 | 0x18],
    ["single context, EPTP memory type 1", 1, 1 | 0x18],
    ["single context, EPTP walk length 3", 1, 6 | 0x10],
    ["single context, EPTP reserved bit 8", 1, 6 | 0x18 | 0x100],
  ])("%s: VMfailValid(28), nothing flushed", (_n, type, eptpLow) => {
    const s = populated();
    const a1 = guestAsid(s, 1);
    expect(invalidate(s, "invept", type, [(s.ept.pml4 | eptpLow) >>> 0, 0, 0, 0])).toEqual(FAIL_28);
    expect(cached(s, DATA, a1)).toBe(true);
  });
});
