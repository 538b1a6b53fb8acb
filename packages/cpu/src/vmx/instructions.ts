// The VMX instructions (Intel SDM Vol. 3C, chapter 31): their #UD/#GP checks, the VM exits they
// cause in non-root operation (with VMX-instruction information), and VMsucceed / VMfailInvalid /
// VMfailValid reported in RFLAGS.

import type { Cpu } from "../cpu/cpu.js";
import { materialize } from "../cpu/flags.js";
import { AF, CF, CR4_VMXE, DS, EBP, ESP, GP, OF, PF, SF, SS, UD, ZERO_REG, ZF } from "../cpu/registers.js";
import { readE, writeE } from "../exec/operands.js";
import type { Insn } from "../isa/insn.js";
import type { Handler } from "../isa/types.js";
import { VMXERR } from "./controls.js";
import { eptpProblem } from "./entry-checks.js";
import { EXIT_REASON } from "./exit-reasons.js";
import { fieldByEncoding } from "./vmcs-fields.js";
import type { Vmx, VmxResult } from "./vmx.js";

/** RFLAGS after a VMX instruction: CF = VMfailInvalid, ZF = VMfailValid, the other status flags 0. */
function report(c: Cpu, r: VmxResult): void {
  const fl = materialize(c) & ~(CF | PF | AF | ZF | SF | OF);
  c.fl = r.ok ? fl : r.invalid ? fl | CF : fl | ZF;
}

/**
 * VMX-instruction information (Intel SDM Vol. 3C, Tables 28-12..28-14): scaling 1:0, reg1 6:3,
 * address size 9:7 (1 = 32-bit), register operand 10, segment 17:15, index 21:18 (+ invalid 22),
 * base 26:23 (+ invalid 27), reg2 31:28.
 */
export function vmxInstructionInfo(i: Insn, reg2: number): number {
  let info = (1 << 7) | (reg2 << 28);
  if (i.mod === 3) info |= (1 << 10) | (i.rm << 3);
  else {
    info |= i.scale;
    // Default segment: SS for an ESP- or EBP-based address, else DS.
    const defaultSeg = i.base === ESP || i.base === EBP ? SS : DS;
    info |= (i.segOverride >= 0 ? i.segOverride : defaultSeg) << 15;
    info |= i.index === ZERO_REG ? 1 << 22 : i.index << 18;
    info |= i.base === ZERO_REG ? 1 << 27 : i.base << 23;
  }
  return info >>> 0;
}

/**
 * The common prologue: #UD outside VMX operation, a VM exit in non-root operation, #GP(0) at
 * CPL > 0. Returns the VMX unit when the instruction should go on.
 */
function prologue(c: Cpu, i: Insn, reason: number): Vmx | null {
  const vmx = c.vmx as Vmx | null;
  if (!vmx?.inVmxOperation) return c.fault(UD);
  if (vmx.nonRoot) {
    vmx.exitFromInstruction(reason, i, i.mod === 3 ? 0 : i.disp >>> 0, vmxInstructionInfo(i, i.reg));
    return null;
  }
  if (c.cpl !== 0) c.fault(GP, 0);
  return vmx;
}

function readM64(c: Cpu, i: Insn): [number, number] {
  const a = c.ea(i);
  return [c.read32(a) >>> 0, c.read32((a + 4) | 0) >>> 0];
}

export const vmxon: Handler = (c, i) => {
  const vmx = c.vmx as Vmx | null;
  if (!vmx || !(c.cr4 & CR4_VMXE)) c.fault(UD);
  const unit = vmx as Vmx;
  if (unit.nonRoot) {
    unit.exitFromInstruction(EXIT_REASON.VMON, i, i.disp >>> 0, vmxInstructionInfo(i, 0));
    return;
  }
  if (c.cpl !== 0) c.fault(GP, 0);
  c.cycles += c.cost.vmx.vmxManagement;
  if (unit.inVmxOperation) {
    report(c, unit.vmxon(0));
    return;
  }
  // Outside VMX operation: CR0/CR4 fixed bits and IA32_FEATURE_CONTROL (lock + enable outside SMX).
  if (!unit.fixedBitsOk(c.cr0, c.cr4) || (c.featureControl & 5) !== 5) c.fault(GP, 0);
  const [lo, hi] = readM64(c, i);
  report(c, unit.vmxon(lo, hi));
};

export const vmxoff: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMOFF);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmxManagement;
  report(c, vmx.vmxoff());
};

export const vmclear: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMCLEAR);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmxManagement;
  const [lo, hi] = readM64(c, i);
  report(c, vmx.vmclear(lo, hi));
};

export const vmptrld: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMPTRLD);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmxManagement;
  const [lo, hi] = readM64(c, i);
  report(c, vmx.vmptrld(lo, hi));
};

export const vmptrst: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMPTRST);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmxManagement;
  const a = c.ea(i);
  c.probeWrite(a, 8);
  c.write32(a, vmx.currentVmcs);
  c.write32((a + 4) | 0, vmx.currentVmcs === -1 ? -1 : 0);
  report(c, { ok: true });
};

/** VMREAD r/m32, r32: the field encoding is in the register operand. */
export const vmread: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMREAD);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmread;
  const { result, value } = vmx.vmread(c.regs[i.reg]! >>> 0);
  if (result.ok) writeE(c, i, value, 32);
  report(c, result);
};

/** VMWRITE r32, r/m32: the field encoding is in the register operand, the value in r/m. */
export const vmwrite: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.VMWRITE);
  if (!vmx) return;
  c.cycles += c.cost.vmx.vmwrite;
  const encoding = c.regs[i.reg]! >>> 0;
  // A memory operand is read only once the VMCS pointer and the field are known to be valid.
  if (vmx.currentVmcs === -1 || !fieldByEncoding(encoding)) return report(c, vmx.vmwrite(encoding, 0));
  report(c, vmx.vmwrite(encoding, readE(c, i, 32)));
};

function entry(launch: boolean): Handler {
  return (c, i) => {
    const vmx = prologue(c, i, launch ? EXIT_REASON.VMLAUNCH : EXIT_REASON.VMRESUME);
    if (!vmx) return;
    const r = vmx.vmentry(launch, false);
    // On success the guest (or, after a failed guest-state check, the host) state is loaded.
    if (!r.ok) report(c, r);
  };
}

export const vmlaunch = entry(true);
export const vmresume = entry(false);

/** VMCALL: exits in non-root operation at any CPL; in root operation it fails (no dual-monitor treatment). */
export const vmcall: Handler = (c, i) => {
  const vmx = c.vmx as Vmx | null;
  if (!vmx?.inVmxOperation) c.fault(UD);
  const unit = vmx as Vmx;
  if (unit.nonRoot) {
    unit.exitFromInstruction(EXIT_REASON.VMCALL, i);
    return;
  }
  if (c.cpl !== 0) c.fault(GP, 0);
  report(c, failValid(unit, VMXERR.VMCALL_IN_VMX_ROOT_OPERATION));
};

function failValid(vmx: Vmx, error: number): VmxResult {
  if (vmx.currentVmcs === -1) return { ok: false, invalid: true };
  vmx.write(0x4400, error);
  return { ok: false, invalid: false, error };
}

/**
 * INVEPT r32, m128: type 1 single-context, 2 all-context. The TLB caches combined mappings only,
 * tagged by VPID, so both types drop every guest address space (invalidating more than required is
 * architecturally allowed).
 */
export const invept: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.INVEPT);
  if (!vmx) return;
  c.cycles += c.cost.vmx.invalidate;
  const type = c.regs[i.reg]! >>> 0;
  // The type is checked before the descriptor is read.
  if (type !== 1 && type !== 2) return report(c, failValid(vmx, VMXERR.INVALID_OPERAND_TO_INVEPT_INVVPID));
  const a = c.ea(i);
  const eptpLow = c.read32(a) >>> 0;
  const eptpHigh = c.read32((a + 4) | 0) >>> 0;
  if (type === 1 && eptpProblem(eptpLow, eptpHigh))
    return report(c, failValid(vmx, VMXERR.INVALID_OPERAND_TO_INVEPT_INVVPID));
  for (const asid of vmx.guestAsids()) c.tlb.flushAsid(asid, false);
  report(c, { ok: true });
};

/**
 * INVVPID r32, m128: type 0 individual address, 1 single context, 2 all contexts, 3 single
 * context retaining global translations. The descriptor holds the VPID (bits 15:0, 63:16 reserved)
 * and a linear address (bits 127:64).
 */
export const invvpid: Handler = (c, i) => {
  const vmx = prologue(c, i, EXIT_REASON.INVVPID);
  if (!vmx) return;
  c.cycles += c.cost.vmx.invalidate;
  const type = c.regs[i.reg]! >>> 0;
  if (type > 3) return report(c, failValid(vmx, VMXERR.INVALID_OPERAND_TO_INVEPT_INVVPID));
  const a = c.ea(i);
  const d0 = c.read32(a) >>> 0;
  const d1 = c.read32((a + 4) | 0) >>> 0;
  const linear = c.read32((a + 8) | 0) >>> 0;
  const linearHigh = c.read32((a + 12) | 0) >>> 0;
  const vpid = d0 & 0xffff;
  const bad = type > 3 || d0 >>> 16 !== 0 || d1 !== 0 || (type !== 2 && vpid === 0) || (type === 0 && linearHigh !== 0);
  if (bad) return report(c, failValid(vmx, VMXERR.INVALID_OPERAND_TO_INVEPT_INVVPID));
  if (type === 2) {
    for (const asid of vmx.guestAsids()) c.tlb.flushAsid(asid, false);
  } else {
    const asid = vmx.asidOf(vpid);
    if (asid !== undefined) {
      if (type === 0) c.tlb.flushPage(linear, asid);
      else c.tlb.flushAsid(asid, type === 3);
    }
  }
  report(c, { ok: true });
};
