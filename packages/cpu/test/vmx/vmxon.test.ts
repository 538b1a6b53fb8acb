// VMXON and the way into and out of VMX operation (Intel SDM Vol. 3C, 24.7, 24.8 and the VMXON /
// VMXOFF reference): the #UD and #GP(0) conditions, VMfailInvalid for a bad VMXON region, and
// VMfail for VMXON in VMX root operation.
import { describe, expect, it } from "vitest";
import { NO_ERROR_CODE } from "../../src/cpu/fault.js";
import { VMXERR } from "../../src/vmx/controls.js";
import { ALL_STATUS_FLAGS, FLAGS, L, runHost, sym } from "./helpers.js";

const UD = 6;
const GP = 13;

/** The program: `setup`, then VMXON [vmxon_ptr] at label `insn`, LOGF, debug exit 0x42. */
function vmxonWith(setup: string, pointer = "dq VMXON_REGION") {
  return runHost(`
    ${setup}
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
insn:
    vmxon [vmxon_ptr]
    LOGF
    EXIT 0x42
align 8
vmxon_ptr: ${pointer}
`);
}

function expectFault(r: ReturnType<typeof runHost>, vector: number, errorCode: number) {
  expect(r.exceptions[0]).toEqual({ vector, errorCode, eip: sym(r.symbols, "insn") });
  expect(r.machine.vmx.inVmxOperation).toBe(false);
  expect(r.log).toEqual([]);
}

describe("VMXON preconditions", () => {
  it("succeeds with CR0.PE/NE/PG, CR4.VMXE and IA32_FEATURE_CONTROL locked + enabled: CF = ZF = 0", () => {
    const r = vmxonWith("ENABLE_VMX");
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
    expect(r.exceptions).toEqual([]);
    // VMsucceed clears CF, PF, AF, ZF, SF and OF.
    expect(r.log[0]!.eflags).toBe(0x2);
    expect(r.machine.vmx.inVmxOperation).toBe(true);
    expect(r.machine.vmx.vmxonPointer).toBe(L.VMXON);
    expect(r.machine.vmx.currentVmcs).toBe(-1);
  });

  it("#UD when CR4.VMXE = 0 (everything else in order)", () => {
    expectFault(vmxonWith("PAGING_ON\nFEATURE_CONTROL 5"), UD, NO_ERROR_CODE);
  });

  it("#UD for every other VMX instruction outside VMX operation", () => {
    for (const insn of [
      "vmxoff",
      "vmclear [vmxon_ptr]",
      "vmptrld [vmxon_ptr]",
      "vmptrst [vmxon_ptr]",
      "vmread eax, ebx",
      "vmwrite ebx, eax",
      "vmlaunch",
      "vmresume",
      "vmcall",
      "invept eax, [vmxon_ptr]",
      "invvpid eax, [vmxon_ptr]",
    ]) {
      const r = runHost(`
    ENABLE_VMX
insn:
    ${insn}
    EXIT 0x42
align 8
vmxon_ptr: dq VMXON_REGION, 0`);
      expect(r.exceptions[0], insn).toEqual({ vector: UD, errorCode: NO_ERROR_CODE, eip: sym(r.symbols, "insn") });
    }
  });

  it("#GP(0) when IA32_FEATURE_CONTROL is not locked, or locked without 'enable VMX outside SMX'", () => {
    expectFault(vmxonWith("PAGING_ON\nVMXE_ON"), GP, 0); // never written: 0
    expectFault(vmxonWith("PAGING_ON\nVMXE_ON\nFEATURE_CONTROL 4"), GP, 0); // enabled, unlocked
    expectFault(vmxonWith("PAGING_ON\nVMXE_ON\nFEATURE_CONTROL 1"), GP, 0); // locked, disabled
    expectFault(vmxonWith("PAGING_ON\nVMXE_ON\nFEATURE_CONTROL 3"), GP, 0); // locked, SMX only
  });

  it("IA32_FEATURE_CONTROL is read-only once locked (WRMSR #GP)", () => {
    const r = runHost(`
    FEATURE_CONTROL 5
insn:
    FEATURE_CONTROL 4
    EXIT 0x42`);
    expect(r.exceptions[0]?.vector).toBe(GP);
    expect(r.machine.cpu.featureControl).toBe(5);
  });

  it("#GP(0) when CR0 violates IA32_VMX_CR0_FIXED0 (NE = 0, or PG = 0)", () => {
    const noNe = `
    PAGING_ON
    mov eax, cr0
    and eax, ~0x20
    mov cr0, eax
    VMXE_ON
    FEATURE_CONTROL 5`;
    expectFault(vmxonWith(noNe), GP, 0);
    const noPg = `
    mov eax, cr0
    or eax, 0x20
    mov cr0, eax
    VMXE_ON
    FEATURE_CONTROL 5`;
    expectFault(vmxonWith(noPg), GP, 0);
  });

  it("#GP(0) at CPL 3 (before any check of the operand)", () => {
    const r = runHost(`
    ENABLE_VMX
    ; user-accessible identity map: set U/S in the 4 MiB PDEs
    or dword [HOST_PD], 4
    mov eax, cr3
    mov cr3, eax
    push dword 0x2b                 ; SS: ring-3 data
    push dword 0x80000              ; ESP
    push dword 0x2                  ; EFLAGS
    push dword 0x23                 ; CS: ring-3 code
    push dword insn
    mov ax, 0x2b
    mov ds, ax
    mov es, ax
    iretd
insn:
    vmxon [vmxon_ptr]
    EXIT 0x42
align 8
vmxon_ptr: dq 0x12345               ; misaligned: would be VMfailInvalid at CPL 0
`);
    expect(r.machine.cpu.cpl).toBe(3);
    expectFault(r, GP, 0);
  });

  it("#GP(0) at CPL 3 in VMX root operation too, for VMXON and the other VMX instructions", () => {
    for (const insn of ["vmxon [vmxon_ptr]", "vmptrst [vmxon_ptr]", "vmxoff", "vmcall"]) {
      const r = runHost(`
    ENABLE_VMX
    vmxon [vmxon_ptr]
    or dword [HOST_PD], 4
    mov eax, cr3
    mov cr3, eax
    push dword 0x2b
    push dword 0x80000
    push dword 0x2
    push dword 0x23
    push dword insn
    iretd
insn:
    ${insn}
    EXIT 0x42
align 8
vmxon_ptr: dq VMXON_REGION`);
      expect(r.exceptions[0], insn).toEqual({ vector: GP, errorCode: 0, eip: sym(r.symbols, "insn") });
    }
  });
});

describe("VMXON region checks: VMfailInvalid (CF = 1, ZF = 0)", () => {
  const cases: [string, string, (m: ReturnType<typeof runHost>["machine"]) => void][] = [
    ["not 4 KiB aligned", "dq VMXON_REGION + 0x800", () => {}],
    ["high dword set (beyond the 32-bit physical-address width)", "dq 0x100000000 + VMXON_REGION", () => {}],
    ["outside RAM", "dq 0x7ffff000", () => {}],
    ["wrong revision identifier", "dq VMXON_REGION", (m) => m.memory.write32(L.VMXON, 2)],
    ["revision identifier with bit 31 set", "dq VMXON_REGION", (m) => m.memory.write32(L.VMXON, 0x80000001)],
  ];
  for (const [name, pointer, corrupt] of cases) {
    it(name, () => {
      const r = runHost(
        `
    ENABLE_VMX
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
    vmxon [vmxon_ptr]
    LOGF
    EXIT 0x42
align 8
vmxon_ptr: ${pointer}`,
        corrupt,
      );
      expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
      expect(r.log[0]!.eflags).toBe(0x2 | FLAGS.CF);
      expect(r.machine.vmx.inVmxOperation).toBe(false);
    });
  }
});

describe("VMXON in VMX root operation", () => {
  it("is VMfailInvalid without a current VMCS and VMfailValid(15) with one; VMXOFF leaves VMX operation", () => {
    const r = runHost(`
    ENABLE_VMX
    vmxon [vmxon_ptr]
    LOG
    vmxon [vmxon_ptr]
    LOG
    vmptrld [vmcs_ptr]
    LOG
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
    vmxon [vmxon_ptr]
    LOG
    vmxoff
    LOGF
    mov eax, cr4                    ; CR4.VMXE may be cleared again outside VMX operation
    and eax, ~0x2000
    mov cr4, eax
    EXIT 0x42
align 8
vmxon_ptr: dq VMXON_REGION
vmcs_ptr: dq VMCS_REGION`);
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
    expect(r.exceptions).toEqual([]);
    const [on, again, load, valid, off] = r.log;
    expect(on!.eflags).toBe(0x2);
    expect(again!.eflags).toBe(0x2 | FLAGS.CF);
    expect(again!.error).toBe(0xffffffff); // no current VMCS to hold an error number
    expect(load!.eflags).toBe(0x2);
    expect(valid!.eflags).toBe(0x2 | FLAGS.ZF);
    expect(valid!.error).toBe(VMXERR.VMXON_IN_VMX_ROOT_OPERATION);
    expect(valid!.error).toBe(15);
    expect(off!.eflags).toBe(0x2);
    expect(r.machine.vmx.inVmxOperation).toBe(false);
    expect(r.machine.cpu.cr4 & 0x2000).toBe(0);
  });

  it("CR4.VMXE cannot be cleared and CR0.PG/NE cannot be cleared in VMX operation (#GP(0))", () => {
    for (const [what, code] of [
      ["CR4.VMXE", "mov eax, cr4\n    and eax, ~0x2000\n    mov cr4, eax"],
      ["CR0.NE", "mov eax, cr0\n    and eax, ~0x20\n    mov cr0, eax"],
      ["CR0.PG", "mov eax, cr0\n    and eax, 0x7fffffff\n    mov cr0, eax"],
    ] as const) {
      const r = runHost(`
    ENABLE_VMX
    vmxon [vmxon_ptr]
    ${code.replace("mov cr", "insn:\n    mov cr")}
    EXIT 0x42
align 8
vmxon_ptr: dq VMXON_REGION`);
      expect(r.exceptions[0], what).toEqual({ vector: GP, errorCode: 0, eip: sym(r.symbols, "insn") });
    }
  });
});
