// The system bank across VM entries and exits (cpu/system-bank.ts): in non-root operation the CPU works
// on the VMCS's guest-state area itself, and an exit loads the host state into the CPU's own bank,
// skipping the copy only when nothing wrote that bank since the previous exit loaded it.
import { describe, expect, it } from "vitest";
import { DS, ES } from "../../src/cpu/registers.js";
import { setFlatSegment } from "../../src/cpu/segments.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import { runToExit, skipInstruction, tsVm } from "./helpers.js";

const GUEST = `start:
  xor eax, eax
  mov es, ax        ; a null selector: ES becomes unusable
  vmcall
  mov fs, ax
  vmcall
  hlt`;

const HOST_DATA_AR = 0xc093;
const UNUSABLE = 0x10000;

describe("system bank across VM transitions", () => {
  it("a guest's segment load is in the guest-state area at the exit, and the host's segments are back", () => {
    const { machine } = tsVm(GUEST);
    const { cpu, vmx } = machine;
    expect(runToExit(machine, true).reason).toBe(EXIT_REASON.VMCALL);
    expect(vmx.read(VMCS.GUEST_ES_SELECTOR)).toBe(0);
    expect(vmx.read(VMCS.GUEST_ES_AR_BYTES)).toBe(UNUSABLE);
    expect(vmx.read(VMCS.GUEST_FS_AR_BYTES)).toBe(HOST_DATA_AR);
    expect([cpu.segSel[ES], cpu.segAr[ES]]).toEqual([0x10, HOST_DATA_AR]);
    expect(cpu.segSel).toBe(cpu.rootBank.segSel);
  });

  it("a VMWRITE to a guest segment field between exits is what the guest runs with", () => {
    const { machine } = tsVm(GUEST);
    const { cpu, vmx } = machine;
    runToExit(machine, true);
    skipInstruction(machine);
    vmx.write(VMCS.GUEST_DS_SELECTOR, 0x2b);
    expect(runToExit(machine, false).reason).toBe(EXIT_REASON.VMCALL);
    expect(vmx.read(VMCS.GUEST_DS_SELECTOR)).toBe(0x2b);
    expect(vmx.read(VMCS.GUEST_FS_AR_BYTES)).toBe(UNUSABLE);
    expect(cpu.segSel[DS]).toBe(0x10);
  });

  it("root-mode writes to the CPU's segments and descriptor tables are undone by the next exit", () => {
    const { machine } = tsVm(GUEST);
    const { cpu, vmx } = machine;
    runToExit(machine, true);
    skipInstruction(machine);
    setFlatSegment(cpu, DS, 0x23, 0xc0f3);
    cpu.gdtrBase = 0x5000;
    cpu.sysenterEip = 0x1234;
    runToExit(machine, false);
    expect([cpu.segSel[DS], cpu.segAr[DS]]).toEqual([0x10, HOST_DATA_AR]);
    expect(cpu.gdtrBase).toBe(vmx.read(VMCS.HOST_GDTR_BASE));
    expect(cpu.sysenterEip).toBe(vmx.read(VMCS.HOST_IA32_SYSENTER_EIP));
  });

  it("a VM entry that fails its guest-state checks still reloads host segments changed in root mode", () => {
    const { machine } = tsVm(GUEST);
    const { cpu, vmx } = machine;
    runToExit(machine, true);
    skipInstruction(machine);
    setFlatSegment(cpu, DS, 0x23, 0xc0f3);
    vmx.write(VMCS.GUEST_TR_AR_BYTES, 0x89); // an available (not busy) TSS: fails the guest-state checks
    expect(vmx.resume().ok).toBe(true);
    const stop = machine.run({ maxInstructions: 10 });
    expect(stop).toMatchObject({ kind: "vmexit", reason: (EXIT_REASON.INVALID_STATE | 0x80000000) >>> 0 });
    expect([cpu.segSel[DS], cpu.segAr[DS]]).toEqual([0x10, HOST_DATA_AR]);
  });

  it("a host-state VMWRITE between exits changes what the next exit loads", () => {
    const { machine } = tsVm(GUEST);
    const { cpu, vmx } = machine;
    runToExit(machine, true);
    skipInstruction(machine);
    vmx.write(VMCS.HOST_IDTR_BASE, 0x7000);
    runToExit(machine, false);
    expect(cpu.idtrBase).toBe(0x7000);
    expect(cpu.idtrLimit).toBe(0xffff);
  });
});
