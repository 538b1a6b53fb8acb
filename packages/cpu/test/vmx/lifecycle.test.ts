// VMCLEAR / VMPTRLD / VMPTRST and the launch state of a VMCS (Intel SDM Vol. 3C, 25.1 and the
// instruction reference): VMsucceed (CF = ZF = 0), VMfailInvalid (CF = 1) without a current VMCS,
// VMfailValid (ZF = 1) with the VM-instruction error number in the current VMCS.
import { describe, expect, it } from "vitest";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VmcsAccess } from "../../src/vmx/vmcs.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import {
  ALL_STATUS_FLAGS,
  expectOk,
  FLAGS,
  initRegion,
  L,
  type LogEntry,
  runHost,
  standardFields,
  tsVm,
} from "./helpers.js";

const VMCS3 = 0x20d000;
const BADREV = 0x20e000;
const NONE = 0xffffffff;

/**
 * One program walks the whole life cycle on the CPU; LOG after each step records EFLAGS, the
 * VM-instruction error and VMPTRST. The VMCS contents (a guest that executes HLT, with HLT exiting)
 * come from the standard field list, copied by the program with VMWRITE.
 */
function lifecycle() {
  return runHost(
    `
    ENABLE_VMX
    vmxon [p_vmxon]                 ; 0
    LOG
    ; ---- no current VMCS: VMfailInvalid
    vmptrst [scratch]               ; 1: VMsucceed, stores FFFFFFFF_FFFFFFFF
    LOG
    mov ebx, 0x4400
    vmread eax, ebx                 ; 2
    LOG
    vmwrite ebx, eax                ; 3
    LOG
    vmlaunch                        ; 4
    LOG
    vmresume                        ; 5
    LOG
    vmclear [p_misaligned]          ; 6: VMfail with no current VMCS = VMfailInvalid
    LOG
    vmxon [p_vmxon]                 ; 7: VMXON in root, no current VMCS
    LOG
    ; ---- a current VMCS: VMfailValid(n)
    vmptrld [p_vmcs]                ; 8
    LOG
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
    vmptrld [p_misaligned]          ; 9: error 9
    LOG
    vmptrld [p_beyond]              ; 10: error 9
    LOG
    vmptrld [p_high]                ; 11: error 9
    LOG
    vmptrld [p_vmxon]               ; 12: error 10
    LOG
    vmptrld [p_badrev]              ; 13: error 11
    LOG
    vmptrld [p_shadow]              ; 14: error 11 (bit 31 set, no VMCS shadowing)
    LOG
    vmclear [p_misaligned]          ; 15: error 2
    LOG
    vmclear [p_high]                ; 16: error 2
    LOG
    vmclear [p_vmxon]               ; 17: error 3
    LOG
    vmresume                        ; 18: error 5 (launch state clear)
    LOG
    vmxon [p_vmxon]                 ; 19: error 15
    LOG
    vmcall                          ; 20: error 1 (VMCALL in VMX root operation)
    LOG
    ; ---- launch: the guest's HLT exits to .exit1
    call write_fields
    mov ebx, 0x681e                 ; GUEST_RIP
    mov eax, guest
    vmwrite ebx, eax
    mov ebx, 0x6c16
    mov eax, .exit1
    vmwrite ebx, eax
    vmlaunch
    EXIT 0x66                       ; not reached
.exit1:
    LOG                             ; 21: after the exit, RFLAGS = 2
    vmlaunch                        ; 22: error 4 (launch state launched)
    LOG
    vmclear [p_vmcs]                ; 23: VMsucceed, no current VMCS any more
    LOG
    vmresume                        ; 24: VMfailInvalid
    LOG
    vmptrld [p_vmcs]                ; 25
    LOG
    vmresume                        ; 26: error 5: VMCLEAR made it clear again
    LOG
    mov ebx, 0x6c16
    mov eax, .exit2
    vmwrite ebx, eax
    vmlaunch
    EXIT 0x67
.exit2:
    LOG                             ; 27
    mov ebx, 0x6c16
    mov eax, .exit3
    vmwrite ebx, eax
    vmresume                        ; the guest's HLT exits again
    EXIT 0x68
.exit3:
    LOG                             ; 28
    vmptrld [p_vmcs2]               ; 29: another VMCS becomes current
    LOG
    vmptrld [p_vmcs]                ; 30: back; its launch state is still "launched"
    LOG
    vmlaunch                        ; 31: error 4
    LOG
    vmxoff                          ; 32
    LOGF
    EXIT 0x42

write_fields:
    mov esi, 0x${L.FIELDS.toString(16)}
.field:
    mov ebx, [esi]
    cmp ebx, 0xffffffff
    je .done
    vmwrite ebx, [esi + 4]
    jbe .bad
    add esi, 8
    jmp .field
.done:
    ret
.bad:
    EXIT 0x99

guest:
    hlt

align 8
p_vmxon:      dq VMXON_REGION
p_vmcs:       dq VMCS_REGION
p_vmcs2:      dq VMCS2_REGION
p_misaligned: dq VMCS_REGION + 0x10
p_beyond:     dq 0x7ffff000
p_high:       dq 0x100000000 + VMCS_REGION
p_badrev:     dq 0x${BADREV.toString(16)}    ; revision 2
p_shadow:     dq 0x${VMCS3.toString(16)}    ; revision 0x80000001
scratch:      dq 0
`,
    (m) => {
      initRegion(m, L.VMCS2);
      initRegion(m, BADREV, 2);
      initRegion(m, VMCS3, 0x80000001);
      // The field list write_fields copies (the program then sets GUEST_RIP and HOST_RIP itself).
      const fields = standardFields(m, { guestRip: 0, proc: C.CPU_BASED_HLT_EXITING });
      let a: number = L.FIELDS;
      for (const [e, v] of fields) {
        m.memory.write32(a, e);
        m.memory.write32(a + 4, v);
        a += 8;
      }
      m.memory.write32(a, 0xffffffff);
    },
  );
}

describe("VMCS life cycle through the instructions", () => {
  const r = lifecycle();
  const log = r.log;
  const ok = (e: LogEntry | undefined) => expect(e!.eflags & (FLAGS.CF | FLAGS.ZF)).toBe(0);
  const invalid = (e: LogEntry | undefined) => {
    expect(e!.eflags & (FLAGS.CF | FLAGS.ZF)).toBe(FLAGS.CF);
    expect(e!.error).toBe(NONE);
  };
  const valid = (e: LogEntry | undefined, error: number) => {
    // VMfailValid: ZF = 1, CF = PF = AF = SF = OF = 0.
    expect(e!.eflags & ALL_STATUS_FLAGS).toBe(FLAGS.ZF);
    expect(e!.error).toBe(error);
  };

  it("runs to the end", () => {
    expect(r.exceptions).toEqual([]);
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
    expect(log.length).toBe(33);
  });

  it("VMXON succeeds with CF = ZF = 0; VMPTRST without a current VMCS stores FFFFFFFF_FFFFFFFF", () => {
    expect(log[0]!.eflags).toBe(0x2);
    ok(log[1]);
    expect([log[1]!.vmcsLow, log[1]!.vmcsHigh]).toEqual([NONE, NONE]);
  });

  it("without a current VMCS, VMREAD, VMWRITE, VMLAUNCH, VMRESUME, VMCLEAR(bad) and VMXON fail invalid (CF = 1)", () => {
    for (const k of [2, 3, 4, 5, 6, 7]) invalid(log[k]);
  });

  it("VMPTRLD makes the VMCS current with CF = ZF = 0 (and every status flag cleared)", () => {
    expect(log[8]!.eflags).toBe(0x2);
    expect([log[8]!.vmcsLow, log[8]!.vmcsHigh]).toEqual([L.VMCS, 0]);
  });

  it("VMPTRLD: invalid address (9) for misaligned / outside RAM / above 4 GiB, VMXON pointer (10), bad revision (11)", () => {
    valid(log[9], C.VMXERR.VMPTRLD_INVALID_ADDRESS);
    valid(log[10], 9);
    valid(log[11], 9);
    valid(log[12], C.VMXERR.VMPTRLD_VMXON_POINTER);
    valid(log[13], C.VMXERR.VMPTRLD_INCORRECT_VMCS_REVISION_ID);
    valid(log[14], 11);
    // A failed VMPTRLD leaves the current VMCS unchanged.
    for (const k of [9, 10, 11, 12, 13, 14]) expect([log[k]!.vmcsLow, log[k]!.vmcsHigh]).toEqual([L.VMCS, 0]);
  });

  it("VMCLEAR: invalid address (2), VMXON pointer (3)", () => {
    valid(log[15], C.VMXERR.VMCLEAR_INVALID_ADDRESS);
    valid(log[16], 2);
    valid(log[17], C.VMXERR.VMCLEAR_VMXON_POINTER);
  });

  it("VMRESUME of a clear VMCS: error 5; VMXON in root: 15; VMCALL in root: 1", () => {
    valid(log[18], C.VMXERR.VMRESUME_NONLAUNCHED_VMCS);
    valid(log[19], C.VMXERR.VMXON_IN_VMX_ROOT_OPERATION);
    valid(log[20], C.VMXERR.VMCALL_IN_VMX_ROOT_OPERATION);
  });

  it("VMLAUNCH of a clear VMCS enters the guest; the VM exit continues at HOST_RIP with RFLAGS = 2", () => {
    expect(log[21]!.eflags).toBe(0x2);
    // (after VMXOFF there is no current VMCS: read the region directly)
    expect(new VmcsAccess(r.machine.memory, L.VMCS).read(VMCS.VM_EXIT_REASON)).toBe(EXIT_REASON.HLT);
  });

  it("VMLAUNCH of a launched VMCS: error 4", () => {
    valid(log[22], C.VMXERR.VMLAUNCH_NONCLEAR_VMCS);
  });

  it("VMCLEAR of the current VMCS succeeds and leaves no current VMCS; VMPTRLD it again: it is clear", () => {
    ok(log[23]);
    expect([log[23]!.vmcsLow, log[23]!.vmcsHigh]).toEqual([NONE, NONE]);
    invalid(log[24]);
    ok(log[25]);
    valid(log[26], C.VMXERR.VMRESUME_NONLAUNCHED_VMCS);
  });

  it("after VMCLEAR, VMLAUNCH works again, then VMRESUME", () => {
    expect(log[27]!.eflags).toBe(0x2);
    expect(log[28]!.eflags).toBe(0x2);
  });

  it("the launch state belongs to the VMCS: it survives switching to another VMCS and back", () => {
    ok(log[29]);
    expect(log[29]!.vmcsLow).toBe(L.VMCS2);
    ok(log[30]);
    valid(log[31], C.VMXERR.VMLAUNCH_NONCLEAR_VMCS);
  });

  it("VMXOFF succeeds and leaves VMX operation", () => {
    expect(log[32]!.eflags & (FLAGS.CF | FLAGS.ZF)).toBe(0);
    expect(r.machine.vmx.inVmxOperation).toBe(false);
  });
});

describe("VM entry blocked by MOV SS", () => {
  it("VMLAUNCH right after MOV SS: VMfailValid(26); one instruction later it proceeds", () => {
    const r = runHost(`
    ENABLE_VMX
    vmxon [p_vmxon]
    vmptrld [p_vmcs]
    mov ax, 0x10
    mov ss, ax
    vmlaunch                        ; in the MOV-SS shadow
    LOG
    mov ss, ax
    nop
    vmresume                        ; no shadow any more: error 5 (the VMCS is clear)
    LOG
    EXIT 0x42
align 8
p_vmxon: dq VMXON_REGION
p_vmcs:  dq VMCS_REGION`);
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
    expect(r.log[0]!.eflags & ALL_STATUS_FLAGS).toBe(FLAGS.ZF);
    expect(r.log[0]!.error).toBe(C.VMXERR.ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
    expect(r.log[1]!.error).toBe(C.VMXERR.VMRESUME_NONLAUNCHED_VMCS);
  });
});

describe("VMCS life cycle through the TypeScript API", () => {
  it("launch / resume follow the launch state; VMCLEAR resets it", () => {
    const { machine } = tsVm("start:\n  hlt", { proc: C.CPU_BASED_HLT_EXITING });
    const vmx = machine.vmx;
    expect(vmx.resume()).toEqual({ ok: false, invalid: false, error: 5 });
    expect(vmx.read(VMCS.VM_INSTRUCTION_ERROR)).toBe(5);
    expectOk(vmx.launch());
    expect(machine.run()).toEqual({ kind: "vmexit", reason: EXIT_REASON.HLT, qualification: 0 });
    expect(vmx.launch()).toEqual({ ok: false, invalid: false, error: 4 });
    expectOk(vmx.resume());
    expect(machine.run()).toEqual({ kind: "vmexit", reason: EXIT_REASON.HLT, qualification: 0 });
    expectOk(vmx.vmclear(L.VMCS));
    expect(vmx.currentVmcs).toBe(-1);
    expect(vmx.resume()).toEqual({ ok: false, invalid: true });
    expect(vmx.launch()).toEqual({ ok: false, invalid: true });
    expectOk(vmx.vmptrld(L.VMCS));
    expect(vmx.resume()).toEqual({ ok: false, invalid: false, error: 5 });
    expectOk(vmx.launch());
    expect(machine.run().kind).toBe("vmexit");
  });

  it("VMPTRLD / VMCLEAR errors through the API match the instructions", () => {
    const { machine } = tsVm("start:\n  hlt");
    const vmx = machine.vmx;
    initRegion(machine, L.VMCS2, 2);
    expect(vmx.vmptrld(L.VMCS + 8)).toEqual({ ok: false, invalid: false, error: 9 });
    expect(vmx.vmptrld(L.VMCS, 1)).toEqual({ ok: false, invalid: false, error: 9 });
    expect(vmx.vmptrld(L.VMXON)).toEqual({ ok: false, invalid: false, error: 10 });
    expect(vmx.vmptrld(L.VMCS2)).toEqual({ ok: false, invalid: false, error: 11 });
    expect(vmx.vmclear(L.VMCS + 8)).toEqual({ ok: false, invalid: false, error: 2 });
    expect(vmx.vmclear(L.VMXON)).toEqual({ ok: false, invalid: false, error: 3 });
    expect(vmx.currentVmcs).toBe(L.VMCS);
    expect(vmx.vmxon(L.VMXON)).toEqual({ ok: false, invalid: false, error: 15 });
  });
});

describe("system state moved as banks (segment registers, LDTR, TR, GDTR, IDTR, SYSENTER)", () => {
  it("a host-state VMWRITE between exits reaches the next exit (the cached host bank is rebuilt)", () => {
    const { machine } = tsVm("start:\n  hlt\n  hlt", { proc: C.CPU_BASED_HLT_EXITING });
    const vmx = machine.vmx;
    const cpu = machine.cpu;
    expectOk(vmx.launch());
    expect(machine.run()).toMatchObject({ kind: "vmexit", reason: EXIT_REASON.HLT });
    const gdtr = cpu.gdtrBase;
    expect(gdtr).toBe(vmx.read(VMCS.HOST_GDTR_BASE));
    vmx.write(VMCS.HOST_GDTR_BASE, gdtr + 0x1000);
    vmx.write(VMCS.HOST_IA32_SYSENTER_EIP, 0x12345678);
    vmx.write(VMCS.GUEST_RIP, vmx.read(VMCS.GUEST_RIP) + 1);
    expectOk(vmx.resume());
    expect(machine.run()).toMatchObject({ kind: "vmexit", reason: EXIT_REASON.HLT });
    expect(cpu.gdtrBase).toBe(gdtr + 0x1000);
    expect(cpu.sysenterEip).toBe(0x12345678);
    expect(cpu.gdtrLimit).toBe(0xffff);
    expect(cpu.trLimit).toBe(0x67);
  });

  it("guest fields written with VMWRITE reach the CPU at entry and come back unchanged at exit", () => {
    const { machine } = tsVm("start:\n  hlt", { proc: C.CPU_BASED_HLT_EXITING });
    const vmx = machine.vmx;
    const cpu = machine.cpu;
    vmx.write(VMCS.GUEST_SYSENTER_CS, 0x08);
    vmx.write(VMCS.GUEST_SYSENTER_ESP, 0xfffff000);
    vmx.write(VMCS.GUEST_LDTR_BASE, 0x4000);
    vmx.write(VMCS.GUEST_LDTR_LIMIT, 0x17);
    // The LDTR stays unusable: base and limit are held, not checked.
    const ldtrAr = vmx.read(VMCS.GUEST_LDTR_AR_BYTES);
    expectOk(vmx.launch());
    expect(cpu.sysenterEsp).toBe(0xfffff000);
    expect(cpu.ldtrBase).toBe(0x4000);
    expect(machine.run()).toMatchObject({ kind: "vmexit", reason: EXIT_REASON.HLT });
    expect(vmx.read(VMCS.GUEST_SYSENTER_CS)).toBe(0x08);
    expect(vmx.read(VMCS.GUEST_SYSENTER_ESP)).toBe(0xfffff000);
    expect(vmx.read(VMCS.GUEST_LDTR_BASE)).toBe(0x4000);
    expect(vmx.read(VMCS.GUEST_LDTR_LIMIT)).toBe(0x17);
    expect(vmx.read(VMCS.GUEST_LDTR_AR_BYTES)).toBe(ldtrAr);
    // A VM exit leaves LDTR base and limit as they were (the host's LDTR is only made unusable).
    expect(cpu.ldtrBase).toBe(0x4000);
    expect(cpu.ldtrAr).toBe(0x10000);
  });
});
