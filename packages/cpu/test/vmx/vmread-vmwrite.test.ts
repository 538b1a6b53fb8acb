// VMREAD / VMWRITE (Intel SDM Vol. 3C, 25.11.2 and the instruction reference) for every field of
// the field table, through the instructions (register and memory operands) and the API: widths,
// the high access of 64-bit fields, read-only exit-information fields (error 13) and unsupported
// encodings (error 12).
import { describe, expect, it } from "vitest";
import { VMXERR } from "../../src/vmx/controls.js";
import { fieldByEncoding, VMCS, VMCS_FIELDS, type VmcsField } from "../../src/vmx/vmcs-fields.js";
import { ALL_STATUS_FLAGS, FLAGS, L, runHost, tsVm } from "./helpers.js";

const mask = (f: VmcsField) => (f.width === 16 ? 0xffff : 0xffffffff);
/** A distinct value per field (and another one for the high half of 64-bit fields). */
const pattern = (k: number) => (0x9e370001 + k * 0x01010101) >>> 0;
const highPattern = (k: number) => (0x51ed0000 + k * 0x111) >>> 0;

/** Encodings the field table does not implement (each is checked to be unknown). */
const UNSUPPORTED = [
  0x0001, // high access of a 16-bit field
  0x0002, // posted-interrupt notification vector
  0x0c0e, // a 16-bit host field past HOST_TR_SELECTOR
  0x1000, // bit 12 set (reserved)
  0x2802, // GUEST_IA32_DEBUGCTL
  0x4001, // high access of a 32-bit field
  0x4828, // GUEST_SMBASE
  0x6801, // high access of a natural-width field
  0x6c18, // HOST_S_CET
  0x8000, // bit 15 set (reserved)
  0x10000, // bits 31:16 set
  0x80004402, // bit 31 set on VM_EXIT_REASON's encoding
];

/** Every (encoding, value) the instruction test writes: full encodings, then high halves. */
function writes(): { encoding: number; value: number; field?: VmcsField; high: boolean }[] {
  const out: { encoding: number; value: number; field?: VmcsField; high: boolean }[] = [];
  VMCS_FIELDS.forEach((field, k) => {
    out.push({ encoding: field.encoding, value: pattern(k), field, high: false });
    if (field.width === 64) out.push({ encoding: field.encoding | 1, value: highPattern(k), field, high: true });
  });
  for (const encoding of UNSUPPORTED) out.push({ encoding, value: 0x12345678, high: false });
  return out;
}

describe("VMREAD / VMWRITE instructions, every field", () => {
  const list = writes();
  const OUT = 0x250000;
  const r = runHost(
    `
    ENABLE_VMX
    vmxon [p_vmxon]
    vmclear [p_vmcs]
    vmptrld [p_vmcs]
    mov esi, 0x${L.FIELDS.toString(16)}
    mov edi, 0x${OUT.toString(16)}
.next:
    mov ebx, [esi]
    cmp ebx, 0xffffffff
    je .done
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
    vmwrite ebx, [esi + 4]          ; memory source operand
    pushfd
    pop dword [edi]
    mov eax, 0x4400
    vmread [edi + 4], eax           ; VM-instruction error after the VMWRITE
    mov dword [edi + 8], 0xdeadbeef
    mov eax, ${ALL_STATUS_FLAGS} | 2
    push eax
    popfd
    vmread [edi + 8], ebx           ; memory destination operand
    pushfd
    pop dword [edi + 12]
    mov eax, 0x4400
    vmread [edi + 16], eax          ; VM-instruction error after the VMREAD
    mov eax, 0xffffffff
    vmread eax, ebx                 ; register destination operand
    mov [edi + 20], eax
    add esi, 8
    add edi, 32
    jmp .next
.done:
    EXIT 0x42
align 8
p_vmxon: dq VMXON_REGION
p_vmcs:  dq VMCS_REGION`,
    (m) => {
      let a: number = L.FIELDS;
      for (const w of list) {
        m.memory.write32(a, w.encoding);
        m.memory.write32(a + 4, w.value);
        a += 8;
      }
      m.memory.write32(a, 0xffffffff);
    },
  );
  const rows = list.map((w, k) => {
    const e = OUT + 32 * k;
    const m = r.machine.memory;
    return {
      ...w,
      writeFlags: m.read32(e) >>> 0,
      writeError: m.read32(e + 4) >>> 0,
      memoryValue: m.read32(e + 8) >>> 0,
      readFlags: m.read32(e + 12) >>> 0,
      readError: m.read32(e + 16) >>> 0,
      registerValue: m.read32(e + 20) >>> 0,
    };
  });

  it("runs through the list", () => {
    expect(r.exceptions).toEqual([]);
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x42 });
  });

  it("every writable field round-trips, truncated to its width (16-bit fields zero-extend into the register)", () => {
    const writable = rows.filter((x) => x.field && x.field.type !== "exit-info");
    expect(writable.length).toBeGreaterThan(100);
    for (const x of writable) {
      const expected = (x.value & mask(x.field!)) >>> 0;
      const name = `${x.field!.name}${x.high ? " (high)" : ""}`;
      expect(x.writeFlags, name).toBe(0x2);
      expect(x.memoryValue, name).toBe(expected);
      expect(x.readFlags, name).toBe(0x2);
      expect(x.registerValue, name).toBe(expected);
    }
  });

  it("the high access of a 64-bit field reads and writes bits 63:32 only", () => {
    const vmx = r.machine.vmx;
    VMCS_FIELDS.forEach((f, k) => {
      if (f.width !== 64 || f.type === "exit-info") return;
      expect(vmx.read(f.encoding), f.name).toBe(pattern(k));
      expect(vmx.read(f.encoding | 1), f.name).toBe(highPattern(k));
      expect(vmx.vmcs.read64(f.encoding), f.name).toBe(highPattern(k) * 2 ** 32 + pattern(k));
    });
  });

  it("every VM-exit information field is read-only: VMfailValid(13), the value unchanged", () => {
    const readOnly = rows.filter((x) => x.field?.type === "exit-info");
    expect(readOnly.map((x) => x.field!.name)).toEqual(
      VMCS_FIELDS.filter((f) => f.type === "exit-info").flatMap((f) => (f.width === 64 ? [f.name, f.name] : [f.name])),
    );
    for (const x of readOnly) {
      expect(x.writeFlags, x.field!.name).toBe(0x2 | FLAGS.ZF);
      expect(x.writeError, x.field!.name).toBe(VMXERR.VMWRITE_READ_ONLY_VMCS_COMPONENT);
      // The VMREAD that follows succeeds and returns the untouched value (0 in a fresh VMCS).
      expect(x.readFlags, x.field!.name).toBe(0x2);
      expect(x.memoryValue, x.field!.name).toBe(x.field!.name === "VM_INSTRUCTION_ERROR" ? 13 : 0);
    }
  });

  it("unsupported encodings: VMfailValid(12) for both; VMREAD writes nothing", () => {
    const bad = rows.filter((x) => !x.field);
    expect(bad.length).toBe(UNSUPPORTED.length);
    for (const x of bad) {
      const name = `0x${x.encoding.toString(16)}`;
      expect(fieldByEncoding(x.encoding), name).toBeUndefined();
      expect(x.writeFlags, name).toBe(0x2 | FLAGS.ZF);
      expect(x.writeError, name).toBe(VMXERR.UNSUPPORTED_VMCS_COMPONENT);
      expect(x.readFlags, name).toBe(0x2 | FLAGS.ZF);
      expect(x.readError, name).toBe(12);
      expect(x.memoryValue, name).toBe(0xdeadbeef);
      expect(x.registerValue, name).toBe(0xffffffff);
    }
  });
});

describe("VMREAD / VMWRITE through the API, every field", () => {
  it("round trip, read-only and unsupported encodings", () => {
    const { machine } = tsVm("start:\n  hlt");
    const vmx = machine.vmx;
    VMCS_FIELDS.forEach((f, k) => {
      const before = vmx.read(f.encoding);
      const r = vmx.vmwrite(f.encoding, pattern(k));
      if (f.type === "exit-info") {
        expect(r, f.name).toEqual({ ok: false, invalid: false, error: 13 });
        expect(vmx.vmread(f.encoding).value, f.name).toBe(f.name === "VM_INSTRUCTION_ERROR" ? 13 : before);
        return;
      }
      expect(r, f.name).toEqual({ ok: true });
      expect(vmx.vmread(f.encoding), f.name).toEqual({ result: { ok: true }, value: (pattern(k) & mask(f)) >>> 0 });
      if (f.width === 64) {
        expect(vmx.vmwrite(f.encoding | 1, highPattern(k)), f.name).toEqual({ ok: true });
        expect(vmx.vmread(f.encoding | 1).value, f.name).toBe(highPattern(k));
        expect(vmx.vmread(f.encoding).value, f.name).toBe(pattern(k));
      }
    });
    for (const encoding of UNSUPPORTED) {
      expect(vmx.vmwrite(encoding, 1)).toEqual({ ok: false, invalid: false, error: 12 });
      expect(vmx.vmread(encoding)).toEqual({ result: { ok: false, invalid: false, error: 12 }, value: 0 });
    }
  });

  it("a full-access VMWRITE of a 64-bit field clears bits 63:32 (32-bit operand)", () => {
    const { machine } = tsVm("start:\n  hlt");
    const vmx = machine.vmx;
    vmx.vmwrite(VMCS.TSC_OFFSET + 1, 0xaaaa5555);
    vmx.vmwrite(VMCS.TSC_OFFSET, 0x12345678);
    expect(vmx.read(VMCS.TSC_OFFSET + 1)).toBe(0);
    expect(vmx.read(VMCS.TSC_OFFSET)).toBe(0x12345678);
    // The high access leaves the low half alone.
    vmx.vmwrite(VMCS.TSC_OFFSET + 1, 0xffffffff);
    expect(vmx.vmcs.read64(VMCS.TSC_OFFSET)).toBe(0xffffffff * 2 ** 32 + 0x12345678);
  });

  it("test(): whether any bit of a mask is set in a field, bit 31 included, for every field; an unsupported encoding throws", () => {
    const { machine } = tsVm("start:\n  hlt");
    const vmx = machine.vmx;
    const writable = VMCS_FIELDS.filter((f) => f.type !== "exit-info");
    writable.forEach((f, k) => {
      vmx.vmwrite(f.encoding, pattern(k));
    });
    writable.forEach((f, k) => {
      const value = (pattern(k) & mask(f)) >>> 0;
      for (let bit = 0; bit < 32; bit++) {
        expect(vmx.test(f.encoding, (1 << bit) >>> 0), `${f.name} bit ${bit}`).toBe(((value >>> bit) & 1) === 1);
      }
      expect(vmx.test(f.encoding, 0xffffffff), f.name).toBe(value !== 0);
    });
    vmx.write(VMCS.CPU_BASED_VM_EXEC_CONTROL, 0x80000004);
    expect(vmx.test(VMCS.CPU_BASED_VM_EXEC_CONTROL, 0x80000000)).toBe(true);
    expect(vmx.test(VMCS.CPU_BASED_VM_EXEC_CONTROL, 0x00000004 | 0x40000000)).toBe(true);
    expect(vmx.test(VMCS.CPU_BASED_VM_EXEC_CONTROL, 0x7ffffffb)).toBe(false);
    expect(() => vmx.test(0x4828, 1)).toThrow("unsupported VMCS field encoding 0x4828");
  });

  it("without a current VMCS: VMfailInvalid", () => {
    const { machine } = tsVm("start:\n  hlt");
    machine.vmx.vmclear(0x201000);
    expect(machine.vmx.vmwrite(VMCS.GUEST_RIP, 1)).toEqual({ ok: false, invalid: true });
    expect(machine.vmx.vmread(VMCS.GUEST_RIP)).toEqual({ result: { ok: false, invalid: true }, value: 0 });
  });
});

describe("VMREAD / VMWRITE memory operands", () => {
  const program = (pre: string, insn: string) => `
    ENABLE_VMX
    vmxon [p_vmxon]
    ${pre}
    mov ebx, ENCODING
    mov esi, 0x40000000             ; not mapped by the host page directory
insn:
    ${insn}
    LOG
    EXIT 0x42
align 8
p_vmxon: dq VMXON_REGION
p_vmcs:  dq VMCS_REGION`;
  const run = (encoding: number, current: boolean, insn: string) =>
    runHost(`ENCODING equ 0x${encoding.toString(16)}\n${program(current ? "vmptrld [p_vmcs]" : "", insn)}`);

  it("an unmapped memory operand is not touched when the VMCS pointer or the field is invalid", () => {
    for (const insn of ["vmwrite ebx, [esi]", "vmread [esi], ebx"]) {
      const noVmcs = run(VMCS.GUEST_RIP, false, insn);
      expect(noVmcs.exceptions, insn).toEqual([]);
      expect(noVmcs.log[0]!.eflags & (FLAGS.CF | FLAGS.ZF), insn).toBe(FLAGS.CF);
      const unsupported = run(0x4001, true, insn);
      expect(unsupported.exceptions, insn).toEqual([]);
      expect(unsupported.log[0]!.eflags & (FLAGS.CF | FLAGS.ZF), insn).toBe(FLAGS.ZF);
      expect(unsupported.log[0]!.error, insn).toBe(12);
    }
  });

  it("with a valid pointer and field, the unmapped operand page-faults (#PF at the instruction)", () => {
    for (const insn of ["vmwrite ebx, [esi]", "vmread [esi], ebx"]) {
      const r = run(VMCS.GUEST_RIP, true, insn);
      expect(r.exceptions[0], insn).toEqual({
        vector: 14,
        errorCode: insn.startsWith("vmread") ? 2 : 0,
        eip: r.symbols.get("insn"),
      });
      expect(r.machine.cpu.cr2 >>> 0).toBe(0x40000000);
    }
  });

  it("base + index * scale + displacement addressing, both directions", () => {
    const r = runHost(`
    ENABLE_VMX
    vmxon [p_vmxon]
    vmptrld [p_vmcs]
    mov esi, table
    mov ecx, 2
    mov ebx, 0x681e                 ; GUEST_RIP
    vmwrite ebx, [esi + ecx * 4 + 4] ; table[3]
    vmread [esi + ecx * 8], ebx      ; table[4]
    LOG
    EXIT 0x42
align 8
p_vmxon: dq VMXON_REGION
p_vmcs:  dq VMCS_REGION
table: dd 0, 0, 0, 0xfeedf00d, 0`);
    expect(r.log[0]!.eflags).toBe(0x2);
    const table = r.symbols.get("table")!;
    expect(r.machine.memory.read32(table + 16) >>> 0).toBe(0xfeedf00d);
    expect(r.machine.vmx.read(VMCS.GUEST_RIP)).toBe(0xfeedf00d);
  });
});
