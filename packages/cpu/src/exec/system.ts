// System instructions: descriptor tables, control registers, INVLPG, port I/O, CPUID, RDTSC,
// RDMSR/WRMSR, SYSENTER/SYSEXIT, CLI/STI and the other flag/processor-control instructions.
// Instructions that VMX can intercept ask cpu.vmx first when a guest is running.

import type { Cpu } from "../cpu/cpu.js";
import {
  CR0_CD,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  CR4_VMXE,
  CS,
  DF,
  DS,
  EAX,
  EBX,
  ECX,
  EDX,
  ES,
  ESP,
  FS,
  GP,
  GS,
  IF,
  IOPL_MASK,
  NP,
  RF,
  SS,
  UD,
  VM,
} from "../cpu/registers.js";
import { emptyDescriptor, readDescriptor, readSystem32, setFlatSegment, writeSystem32 } from "../cpu/segments.js";
import type { AccessSize } from "../devices/device.js";
import type { Insn } from "../isa/insn.js";
import type { Handler } from "../isa/types.js";
import { EXIT_REASON } from "../vmx/exit-reasons.js";
import { getReg, readE, readMem, setReg, writeMem } from "./operands.js";

/** Asks the VMX layer whether this instruction exits; true means a VM exit happened instead. */
function exits(c: Cpu, reason: number, i: Insn, a = 0, b = 0): boolean {
  return c.vmx?.nonRoot === true && c.vmx.intercept(reason, i, a, b);
}

// ---- descriptor tables ----

/** LGDT / LIDT m16&32 (with a 16-bit operand size only 24 bits of the base are used). */
export function loadTable(which: "gdt" | "idt"): Handler {
  return (c, i) => {
    c.requireCpl0();
    const a = c.ea(i);
    const limit = c.read16(a);
    let base = c.read32((a + 2) | 0);
    if (i.opsize === 16) base &= 0xffffff;
    if (which === "gdt") {
      c.gdtrBase = base;
      c.gdtrLimit = limit;
    } else {
      c.idtrBase = base;
      c.idtrLimit = limit;
    }
  };
}

/** SGDT / SIDT m: not privileged (no UMIP in the subset). */
export function storeTable(which: "gdt" | "idt"): Handler {
  return (c, i) => {
    const a = c.ea(i);
    c.probeWrite(a, 6);
    c.write16(a, which === "gdt" ? c.gdtrLimit : c.idtrLimit);
    c.write32((a + 2) | 0, which === "gdt" ? c.gdtrBase : c.idtrBase);
  };
}

/** LTR r/m16: loads an available 32-bit TSS descriptor and marks it busy. */
export const ltr: Handler = (c, i) => {
  c.requireCpl0();
  const sel = readE(c, i, 16);
  if ((sel & 0xfffc) === 0 || sel & 4) c.fault(GP, sel & 0xfffc);
  const desc = emptyDescriptor();
  const address = readDescriptor(c, sel, desc);
  if (desc.codeOrData || desc.type !== 9) c.fault(GP, sel & 0xfffc);
  if (!desc.present) c.fault(NP, sel & 0xfffc);
  writeSystem32(c, address + 4, desc.hi | 0x200); // busy
  c.trSel = sel;
  c.trBase = desc.base;
  c.trLimit = desc.limit;
  c.trAr = (desc.ar & ~0xf) | 0xb;
};

/** LLDT r/m16: a null selector disables the LDT. */
export const lldt: Handler = (c, i) => {
  c.requireCpl0();
  const sel = readE(c, i, 16);
  if ((sel & 0xfffc) === 0) {
    c.ldtrSel = sel;
    c.ldtrAr = 0x10000;
    return;
  }
  if (sel & 4) c.fault(GP, sel & 0xfffc);
  const desc = emptyDescriptor();
  readDescriptor(c, sel, desc);
  if (desc.codeOrData || desc.type !== 2) c.fault(GP, sel & 0xfffc);
  if (!desc.present) c.fault(NP, sel & 0xfffc);
  c.ldtrSel = sel;
  c.ldtrBase = desc.base;
  c.ldtrLimit = desc.limit;
  c.ldtrAr = desc.ar;
};

export function storeSelector(which: "tr" | "ldtr"): Handler {
  return (c, i) => {
    const sel = which === "tr" ? c.trSel : c.ldtrSel;
    if (i.mod === 3) setReg(c, i.rm, sel, i.opsize);
    else c.write16(c.ea(i), sel);
  };
}

// ---- control registers ----

const CR4_SUPPORTED = 0x1 | 0x2 | 0x4 | 0x8 | CR4_PSE | 0x40 | CR4_PGE | 0x100 | 0x200 | 0x400 | CR4_VMXE | (1 << 20);

/** MOV r32, CRn (0F 20). */
export const movFromCr: Handler = (c, i) => {
  const cr = i.reg;
  if (cr === 1 || cr > 4) c.fault(UD);
  c.requireCpl0();
  if (exits(c, EXIT_REASON.CR_ACCESS, i, cr, 1)) return;
  let v: number;
  if (cr === 0) v = c.vmx?.nonRoot ? c.vmx.readCr(0, c.cr0) : c.cr0;
  else if (cr === 2) v = c.cr2;
  else if (cr === 3) v = c.cr3;
  else v = c.vmx?.nonRoot ? c.vmx.readCr(4, c.cr4) : c.cr4;
  c.regs[i.rm] = v;
};

/** MOV CRn, r32 (0F 22): checks reserved and inconsistent bits; flushes the TLB as the SDM says. */
export const movToCr: Handler = (c, i) => {
  const cr = i.reg;
  if (cr === 1 || cr > 4) c.fault(UD);
  c.requireCpl0();
  if (exits(c, EXIT_REASON.CR_ACCESS, i, cr, 0)) return;
  let v = c.regs[i.rm]!;
  if (c.vmx?.nonRoot && c.vmx.filterCrWrite && cr !== 3) v = c.vmx.filterCrWrite(cr, v);
  writeControlRegister(c, cr, v);
};

export function writeControlRegister(c: Cpu, cr: number, v: number): void {
  if (cr === 0) {
    if (v & CR0_PG && !(v & CR0_PE)) c.fault(GP, 0);
    if (v & CR0_NW && !(v & CR0_CD)) c.fault(GP, 0);
    if (!(v & CR0_PE)) c.fault(GP, 0); // real mode is outside the subset
    if (c.vmx && !c.vmx.crAllowed(0, v)) c.fault(GP, 0);
    const old = c.cr0;
    c.cr0 = v | 0x10; // ET is hard-wired to 1
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) {
      c.tlb.flushAsid(c.asid, false);
      c.updateAccessMasks();
    }
  } else if (cr === 2) {
    c.cr2 = v;
  } else if (cr === 3) {
    c.cr3 = v;
    c.flushTlb((c.cr4 & CR4_PGE) !== 0);
  } else {
    if (v & ~CR4_SUPPORTED) c.fault(GP, 0);
    if (c.vmx && !c.vmx.crAllowed(4, v)) c.fault(GP, 0);
    const old = c.cr4;
    c.cr4 = v;
    if ((old ^ v) & (CR4_PGE | CR4_PSE)) c.tlb.flushAsid(c.asid, false);
  }
}

/** CLTS: clears CR0.TS. */
export const clts: Handler = (c, i) => {
  c.requireCpl0();
  if (exits(c, EXIT_REASON.CR_ACCESS, i, 0, 2)) return;
  c.cr0 &= ~CR0_TS;
};

export const invlpg: Handler = (c, i) => {
  c.requireCpl0();
  const a = c.ea(i);
  if (exits(c, EXIT_REASON.INVLPG, i, a)) return;
  c.invlpg(a);
};

// ---- port I/O ----

/** Protected-mode I/O permission: CPL <= IOPL, or every byte allowed by the TSS I/O bitmap. */
function checkIoPermission(c: Cpu, port: number, size: number): void {
  const iopl = (c.fl & IOPL_MASK) >>> 12;
  if (c.cpl <= iopl) return;
  if (c.trAr & 0x10000 || c.trLimit < 0x67) c.fault(GP, 0);
  const mapBase = readSystem32(c, c.trBase + 0x64) >>> 16;
  const byteOffset = mapBase + (port >>> 3);
  if (byteOffset + 1 > c.trLimit) c.fault(GP, 0);
  const bits = readSystem32(c, (c.trBase + byteOffset) & ~0) & 0xffff;
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) c.fault(GP, 0);
}

export function inPort(bits: number, fromDx: boolean): Handler {
  const size = (bits / 8) as AccessSize;
  return (c, i) => {
    const port = fromDx ? c.reg16(EDX) : i.imm & 0xff;
    checkIoPermission(c, port, size);
    if (exits(c, EXIT_REASON.IO_INSTRUCTION, i, port, size | 8 | (fromDx ? 0 : 0x40))) return;
    setReg(c, EAX, c.portIn(port, size) >>> 0, bits);
  };
}

export function outPort(bits: number, fromDx: boolean): Handler {
  const size = (bits / 8) as AccessSize;
  return (c, i) => {
    const port = fromDx ? c.reg16(EDX) : i.imm & 0xff;
    checkIoPermission(c, port, size);
    if (exits(c, EXIT_REASON.IO_INSTRUCTION, i, port, size | (fromDx ? 0 : 0x40))) return;
    c.portOut(port, size, getReg(c, EAX, bits));
  };
}

// ---- identification and time ----

const VENDOR = "VMXLAB-IA-32";

function vendorWord(k: number): number {
  let v = 0;
  for (let j = 0; j < 4; j++) v |= VENDOR.charCodeAt(k * 4 + j) << (8 * j);
  return v;
}

/** CPUID feature bits we implement (leaf 1 EDX): PSE, TSC, MSR, SEP, PGE, CMOV. */
export const CPUID_1_EDX = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 11) | (1 << 13) | (1 << 15);
/** Leaf 1 ECX bit 5: VMX. */
export const CPUID_1_ECX_VMX = 1 << 5;

/** The bare CPU's CPUID answers (a hypervisor can substitute its own virtual CPUID). */
export function cpuidLeaf(c: Cpu, leaf: number, _subleaf: number): [number, number, number, number] {
  switch (leaf >>> 0) {
    case 0:
      return [1, vendorWord(0), vendorWord(2), vendorWord(1)];
    case 1:
      // Family 6, model 0x3A-like signature; one logical processor.
      return [0x000306a9, 0x00010000, c.vmxSupported ? CPUID_1_ECX_VMX : 0, CPUID_1_EDX];
    case 0x80000000:
      return [0x80000000, 0, 0, 0];
    default:
      return [0, 0, 0, 0];
  }
}

export const cpuid: Handler = (c, i) => {
  if (exits(c, EXIT_REASON.CPUID, i)) return;
  const [a, b, cx, d] = cpuidLeaf(c, c.regs[EAX]!, c.regs[ECX]!);
  c.regs[EAX] = a;
  c.regs[EBX] = b;
  c.regs[ECX] = cx;
  c.regs[EDX] = d;
};

export const rdtsc: Handler = (c, i) => {
  if (c.cr4 & CR4_TSD && c.cpl !== 0) c.fault(GP, 0);
  if (exits(c, EXIT_REASON.RDTSC, i)) return;
  const tsc = c.readTsc();
  c.regs[EAX] = tsc % 0x1_0000_0000;
  c.regs[EDX] = Math.floor(tsc / 0x1_0000_0000);
};

export const rdmsr: Handler = (c, i) => {
  c.requireCpl0();
  const index = c.regs[ECX]! >>> 0;
  if (exits(c, EXIT_REASON.MSR_READ, i, index)) return;
  const v = c.readMsr(index);
  if (v === undefined) return c.fault(GP, 0);
  c.regs[EAX] = v[0];
  c.regs[EDX] = v[1];
};

export const wrmsr: Handler = (c, i) => {
  c.requireCpl0();
  const index = c.regs[ECX]! >>> 0;
  if (exits(c, EXIT_REASON.MSR_WRITE, i, index)) return;
  if (!c.writeMsr(index, c.regs[EAX]! >>> 0, c.regs[EDX]! >>> 0)) c.fault(GP, 0);
};

// ---- fast system calls (Intel SDM, SYSENTER / SYSEXIT) ----

const FLAT_CODE_AR = 0xc09b; // present, DPL 0, execute/read, accessed, 32-bit, 4 KiB granularity
const FLAT_DATA_AR = 0xc093;

export const sysenter: Handler = (c) => {
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0) c.fault(GP, 0);
  c.setEflags(c.getEflags() & ~(VM | IF | RF));
  setFlatSegment(c, CS, cs, FLAT_CODE_AR);
  setFlatSegment(c, SS, (cs + 8) & 0xfffc, FLAT_DATA_AR);
  c.setCpl(0);
  c.regs[ESP] = c.sysenterEsp;
  c.eip = c.sysenterEip;
};

export const sysexit: Handler = (c) => {
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0 || c.cpl !== 0) c.fault(GP, 0);
  setFlatSegment(c, CS, (cs + 16) | 3, FLAT_CODE_AR | 0x60);
  setFlatSegment(c, SS, (cs + 24) | 3, FLAT_DATA_AR | 0x60);
  c.setCpl(3);
  c.regs[ESP] = c.regs[ECX]!;
  c.eip = c.regs[EDX]!;
};

// ---- flags and processor control ----

/** CLI/STI need CPL <= IOPL (no virtual-interrupt extensions in the subset). */
export const cli: Handler = (c) => {
  if (c.cpl > (c.fl & IOPL_MASK) >>> 12) c.fault(GP, 0);
  c.fl &= ~IF;
};

export const sti: Handler = (c) => {
  if (c.cpl > (c.fl & IOPL_MASK) >>> 12) c.fault(GP, 0);
  if (!(c.fl & IF)) {
    c.fl |= IF;
    c.interruptShadow = true; // interrupts are recognized after the NEXT instruction
    c.movSsShadow = false;
    c.shadowSetAt = c.instret;
  }
};

export const cld: Handler = (c) => void (c.fl &= ~DF);
export const std: Handler = (c) => void (c.fl |= DF);
export const nop: Handler = () => {};

/** PAUSE: a spin-loop hint; exits with PAUSE exiting in VMX non-root operation. */
export const pause: Handler = (c, i) => {
  exits(c, EXIT_REASON.PAUSE_INSTRUCTION, i);
};
export const ud2: Handler = (c) => c.fault(UD);

/** Data segment registers a flat system typically uses (for the boot state). */
export const DATA_SEGMENTS = [ES, SS, DS, FS, GS];
export { readMem, writeMem };
