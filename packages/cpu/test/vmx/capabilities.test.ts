// The VMX capability MSRs 0x480-0x490 (Intel SDM Vol. 3D, Appendix A): internal consistency, the
// TRUE controls against the legacy ones, and agreement with what VM entry and the VMCS accept.
import { describe, expect, it } from "vitest";
import { PREEMPTION_TIMER_RATE, VMCS_REVISION_ID } from "../../src/vmx/capabilities.js";
import { HIGHEST_FIELD_INDEX, VMCS_FIELDS } from "../../src/vmx/vmcs-fields.js";
import { newMachine, runHost } from "./helpers.js";

const machine = newMachine();
const msr = (index: number): [number, number] => {
  const v = machine.cpu.readMsr(index);
  if (!v) throw new Error(`MSR 0x${index.toString(16)} is not implemented`);
  return [v[0] >>> 0, v[1] >>> 0];
};
const bit = (value: number, n: number) => (value >>> n) & 1;

/** The control MSRs: [legacy, TRUE] (PROCBASED_CTLS2 has no TRUE twin). */
const CONTROL_MSRS = [
  ["pin-based", 0x481, 0x48d],
  ["primary processor-based", 0x482, 0x48e],
  ["VM-exit", 0x483, 0x48f],
  ["VM-entry", 0x484, 0x490],
] as const;

/** Default1 classes (Intel SDM Vol. 3D, A.2): bits reserved as 1 in the legacy control MSRs. */
const DEFAULT1 = { 1153: 0x16, 1154: 0x0401e172, 1155: 0x00036dff, 1156: 0x000011ff } as Record<number, number>;

describe("IA32_VMX_BASIC (0x480)", () => {
  const [low, high] = msr(0x480);
  it("reports the revision identifier the VMXON region and VMCS must carry, with bit 31 = 0", () => {
    expect(low).toBe(VMCS_REVISION_ID);
    expect(bit(low, 31)).toBe(0);
  });
  it("VMCS size 4096 (bits 44:32), 32-bit physical addresses (bit 48), WB memory (53:50 = 6), TRUE controls (55)", () => {
    expect(high & 0x1fff).toBe(4096);
    expect(bit(high, 48 - 32)).toBe(1);
    expect((high >>> (50 - 32)) & 0xf).toBe(6);
    expect(bit(high, 54 - 32)).toBe(1);
    expect(bit(high, 55 - 32)).toBe(1);
    // Bit 49 (dual-monitor treatment of SMIs) is not supported; bits 31 and 45-47 are reserved 0.
    expect(bit(high, 49 - 32)).toBe(0);
    expect((high >>> (45 - 32)) & 7).toBe(0);
  });
});

describe("control capability MSRs", () => {
  for (const [name, legacy, trueMsr] of CONTROL_MSRS) {
    it(`${name}: allowed-0 settings are a subset of allowed-1, in both the legacy and the TRUE MSR`, () => {
      for (const index of [legacy, trueMsr]) {
        const [mustBeOne, mayBeOne] = msr(index);
        expect((mustBeOne & ~mayBeOne) >>> 0, `0x${index.toString(16)}`).toBe(0);
      }
    });
    it(`${name}: TRUE allowed-1 = legacy allowed-1; TRUE allowed-0 is a subset of legacy allowed-0`, () => {
      const [legacy0, legacy1] = msr(legacy);
      const [true0, true1] = msr(trueMsr);
      expect(true1).toBe(legacy1);
      expect((true0 & ~legacy0) >>> 0).toBe(0);
      // The legacy MSR reports every default1 bit as allowed-0 = 1 (SDM A.2: "default1" class).
      expect(legacy0).toBe(DEFAULT1[legacy]);
      // Only default1 bits may differ between the two.
      expect(((legacy0 ^ true0) & ~DEFAULT1[legacy]!) >>> 0).toBe(0);
    });
  }

  it("the TRUE MSRs relax exactly CR3-load/store exiting, and save/load debug controls", () => {
    expect((msr(0x482)[0] ^ msr(0x48e)[0]) >>> 0).toBe((1 << 15) | (1 << 16));
    expect((msr(0x483)[0] ^ msr(0x48f)[0]) >>> 0).toBe(1 << 2);
    expect((msr(0x484)[0] ^ msr(0x490)[0]) >>> 0).toBe(1 << 2);
    expect(msr(0x481)[0]).toBe(msr(0x48d)[0]);
  });

  it("IA32_VMX_PROCBASED_CTLS2 (0x48B): EPT (1), VPID (5) and unrestricted guest (7), nothing required", () => {
    const [mustBeOne, mayBeOne] = msr(0x48b);
    expect(mustBeOne).toBe(0);
    expect(mayBeOne).toBe((1 << 1) | (1 << 5) | (1 << 7));
  });

  it("primary controls may activate the secondary controls; 64-bit-only controls are never allowed", () => {
    const [, proc1] = msr(0x48e);
    expect(bit(proc1, 31)).toBe(1);
    // CR8-load/store exiting and TPR shadow need IA-32e mode: not allowed on this 32-bit CPU.
    expect(bit(proc1, 19) | bit(proc1, 20) | bit(proc1, 21)).toBe(0);
    // Host address-space size (exit bit 9) and IA-32e mode guest (entry bit 9) must be 0.
    expect(bit(msr(0x48f)[1], 9)).toBe(0);
    expect(bit(msr(0x490)[1], 9)).toBe(0);
  });
});

describe("IA32_VMX_MISC (0x485)", () => {
  const [low, high] = msr(0x485);
  it("timer rate, activity states, CR3-target count, MSR-list size, no VMWRITE to exit information", () => {
    expect(low & 0x1f).toBe(PREEMPTION_TIMER_RATE);
    expect(low & 0x1f).toBe(5); // the preemption timer counts every 2^5 TSC cycles
    expect(bit(low, 6)).toBe(1); // HLT activity state
    expect(bit(low, 7)).toBe(0); // no shutdown activity state
    expect(bit(low, 8)).toBe(0); // no wait-for-SIPI
    expect((low >>> 16) & 0x1ff).toBe(4); // CR3-target values
    expect((low >>> 25) & 7).toBe(0); // 512 * (0 + 1) MSR-list entries recommended
    expect(bit(low, 29)).toBe(0); // VMWRITE to VM-exit information fields not supported
    expect(bit(low, 30)).toBe(0); // injection with instruction length 0 not supported
    expect(high).toBe(0); // MSEG revision identifier
  });
});

describe("CR0/CR4 fixed-bit MSRs (0x486-0x489)", () => {
  it("FIXED0 is a subset of FIXED1; CR0 must have PE, NE and PG; CR4 must have VMXE", () => {
    const [cr0f0] = msr(0x486);
    const [cr0f1] = msr(0x487);
    const [cr4f0] = msr(0x488);
    const [cr4f1] = msr(0x489);
    expect((cr0f0 & ~cr0f1) >>> 0).toBe(0);
    expect((cr4f0 & ~cr4f1) >>> 0).toBe(0);
    expect(cr0f0).toBe(0x80000021);
    expect(cr4f0).toBe(0x2000);
    // PAE (bit 5) is not supported by this CPU, so it is fixed to 0 in VMX operation.
    expect(bit(cr4f1, 5)).toBe(0);
    expect(bit(cr4f1, 13)).toBe(1);
  });
});

describe("IA32_VMX_VMCS_ENUM (0x48A)", () => {
  it("bits 9:1 are the highest field index of the field table", () => {
    const [low] = msr(0x48a);
    const highest = Math.max(...VMCS_FIELDS.map((f) => (f.encoding >>> 1) & 0x1ff));
    expect(low).toBe(highest << 1);
    expect(HIGHEST_FIELD_INDEX).toBe(highest);
  });
});

describe("IA32_VMX_EPT_VPID_CAP (0x48C)", () => {
  const [low, high] = msr(0x48c);
  it("EPT: execute-only, 4-level walk, UC and WB, 2 MiB pages, INVEPT single/all-context, A/D flags", () => {
    for (const n of [0, 6, 8, 14, 16, 20, 21, 25, 26]) expect(bit(low, n), `bit ${n}`).toBe(1);
    // No 5-level walk (7), no 1 GiB pages (17), no advanced EPT-violation information (22).
    for (const n of [7, 17, 22]) expect(bit(low, n), `bit ${n}`).toBe(0);
  });
  it("VPID: INVVPID with individual-address, single-context, all-context and single-context-retaining-globals", () => {
    expect(high).toBe((1 << 0) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11));
  });
});

describe("the capability MSRs through RDMSR / WRMSR", () => {
  it("RDMSR returns the same values; WRMSR to any of them is #GP(0); CPUID.1:ECX.VMX = 1", () => {
    const r = runHost(`
    mov esi, 0x480
    mov edi, 0x250000
.read:
    mov ecx, esi
    rdmsr
    mov [edi], eax
    mov [edi + 4], edx
    add edi, 8
    inc esi
    cmp esi, 0x491
    jb .read
    mov eax, 1
    cpuid
    mov [0x250100], ecx
    mov ecx, 0x481
    xor eax, eax
    xor edx, edx
insn:
    wrmsr
    EXIT 0x42`);
    for (let index = 0x480; index <= 0x490; index++) {
      const a = 0x250000 + 8 * (index - 0x480);
      expect([r.machine.memory.read32(a) >>> 0, r.machine.memory.read32(a + 4) >>> 0]).toEqual(msr(index));
    }
    expect(bit(r.machine.memory.read32(0x250100), 5)).toBe(1);
    expect(r.exceptions[0]).toEqual({ vector: 13, errorCode: 0, eip: r.symbols.get("insn") });
  });
});
