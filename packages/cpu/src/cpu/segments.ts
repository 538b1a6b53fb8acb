// Segment registers, descriptors, and the system-structure accesses (GDT/LDT/IDT/TSS) that the
// processor makes with supervisor privilege whatever the CPL. Segmentation is flat in vmxlab:
// descriptor checks are made and the caches are loaded, but addresses never add a base or check a
// limit (docs/isa.md), which is how every 32-bit OS of interest sets segments up anyway.

import type { Cpu } from "./cpu.js";
import { CS, DS, ES, FS, GP, GS, NP, SS, SS_FAULT } from "./registers.js";

/** VMX access-rights layout (Intel SDM Vol. 3C, 24.4.1): type 3:0, S 4, DPL 6:5, P 7, AVL 12, D/B 14, G 15. */
export const AR_UNUSABLE = 1 << 16;
export const AR_PRESENT = 1 << 7;

export interface Descriptor {
  lo: number;
  hi: number;
  base: number;
  limit: number;
  /** Access rights in VMX layout. */
  ar: number;
  dpl: number;
  present: boolean;
  /** S = 1: code or data. */
  codeOrData: boolean;
  type: number;
}

/** A descriptor to decode into (each caller below keeps its own: descriptor loads allocate nothing). */
export function emptyDescriptor(): Descriptor {
  return { lo: 0, hi: 0, base: 0, limit: 0, ar: 0, dpl: 0, present: false, codeOrData: false, type: 0 };
}

/** Decodes the descriptor words `lo`/`hi` into `into` (returned). */
export function decodeDescriptor(lo: number, hi: number, into: Descriptor = emptyDescriptor()): Descriptor {
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if (hi & (1 << 23)) limit = ((limit << 12) | 0xfff) >>> 0;
  const ar = (hi >>> 8) & 0xf0ff;
  into.lo = lo;
  into.hi = hi;
  into.base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  into.limit = limit;
  into.ar = ar;
  into.dpl = (ar >>> 5) & 3;
  into.present = (ar & AR_PRESENT) !== 0;
  into.codeOrData = (ar & 0x10) !== 0;
  into.type = ar & 0xf;
  return into;
}

/** Reads a 32-bit value of a system structure with supervisor privilege. */
export function readSystem32(cpu: Cpu, linear: number): number {
  return cpu.mem.read32(cpu.supervisorPhys(linear | 0, false));
}

/**
 * The physical address of the dword after the one at `linear` (which a supervisor read translated to
 * `phys`), for an 8-byte entry (descriptor, gate, a TSS stack's ESPn:SSn): in the same RAM page the
 * TLB entry that translated the first answers it, as a second lookup would (its hit is counted), so
 * one translation serves both.
 */
export function nextSystemDword(cpu: Cpu, linear: number, phys: number): number {
  if ((linear & 0xfff) <= 0xff8 && phys < cpu.memSize) {
    cpu.tlbHits++;
    return phys + 4;
  }
  return cpu.supervisorPhys((linear + 4) | 0, false);
}

/** The second dword of the last readSystemPair (one pair at a time: no allocation). */
export let pairHigh = 0;

/**
 * Reads the 8-byte system entry at `linear` (a descriptor, a gate, a TSS stack's ESPn:SSn) with
 * supervisor privilege: returns its first dword, the second in pairHigh. One TLB lookup serves both
 * when the entry is in the TLB, else one translation (nextSystemDword).
 */
export function readSystemPair(cpu: Cpu, linear: number): number {
  const at = cpu.supervisorDwords(linear, 8, false);
  if (at >= 0) {
    pairHigh = cpu.i32[at + 1]!;
    return cpu.i32[at]!;
  }
  const p = cpu.supervisorPhys(linear, false);
  const lo = cpu.mem.read32(p);
  pairHigh = cpu.mem.read32(nextSystemDword(cpu, linear, p));
  return lo;
}

export function writeSystem32(cpu: Cpu, linear: number, value: number): void {
  cpu.mem.write32(cpu.supervisorPhys(linear | 0, true), value);
}

/**
 * Reads the descriptor for `selector` from the GDT or LDT into `into`; returns its linear address.
 * #GP(selector | ext) past the table limit.
 */
export function readDescriptor(cpu: Cpu, selector: number, into: Descriptor, errorVector = GP, ext = 0): number {
  const address = descriptorAddress(cpu, selector, errorVector, ext);
  decodeDescriptor(readSystemPair(cpu, address), pairHigh, into);
  return address;
}

/** The linear address of the descriptor for `selector` in the GDT or LDT; #GP(selector | ext) past the table limit. */
function descriptorAddress(cpu: Cpu, selector: number, errorVector: number, ext: number): number {
  const index = selector & 0xfff8;
  const ldt = (selector & 4) !== 0;
  const base = ldt ? cpu.ldtrBase : cpu.gdtrBase;
  const limit = ldt ? cpu.ldtrLimit : cpu.gdtrLimit;
  if ((ldt && cpu.ldtrAr & AR_UNUSABLE) || index + 7 > limit) cpu.fault(errorVector, (selector & 0xfffc) | ext);
  return (base + index) | 0;
}

// One descriptor per kind of load: a caller may hold a code target across a stack load (IRET, event
// delivery), never a descriptor across another load of the same kind.
const dataDesc = emptyDescriptor();
const stackDesc = emptyDescriptor();
const codeDesc = emptyDescriptor();

/** Sets the accessed bit of a code/data descriptor, as loading a segment register does. */
function markAccessed(cpu: Cpu, address: number, desc: Descriptor): void {
  if (!(desc.hi & 0x100)) writeSystem32(cpu, address + 4, desc.hi | 0x100);
}

function setCache(cpu: Cpu, seg: number, selector: number, desc: Descriptor | null): void {
  if (desc) {
    setCacheFrom(cpu, seg, selector, desc.lo, desc.hi | 0x100); // accessed
    return;
  }
  cpu.bankWrites++;
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = 0;
  cpu.segAr[seg] = AR_UNUSABLE;
}

/** Loads a segment cache from a descriptor's two dwords (base, limit and access rights as decodeDescriptor gives them). */
function setCacheFrom(cpu: Cpu, seg: number, selector: number, lo: number, hi: number): void {
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if (hi & (1 << 23)) limit = ((limit << 12) | 0xfff) >>> 0;
  cpu.bankWrites++;
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  cpu.segLimit[seg] = limit;
  cpu.segAr[seg] = (hi >>> 8) & 0xf0ff;
}

/** MOV Sreg / POP Sreg: protected-mode checks (Intel SDM Vol. 2, MOV) and the cache load. */
export function loadDataSegment(cpu: Cpu, seg: number, selector: number): void {
  selector &= 0xffff;
  const rpl = selector & 3;
  if ((selector & 0xfffc) === 0) {
    if (seg === SS) cpu.fault(GP, 0);
    setCache(cpu, seg, selector, null);
    return;
  }
  const address = descriptorAddress(cpu, selector, GP, 0);
  const lo = readSystemPair(cpu, address);
  const hi = pairHigh;
  // The common case, as kernels load DS and ES on every entry and exit: a present, already-accessed data
  // segment (always readable) the CPL and RPL may use passes every check below and writes no accessed
  // bit: its cache is loaded from the two dwords as they are.
  const dpl = (hi >>> 13) & 3;
  if (seg !== SS && (hi & 0x9900) === 0x9100 && dpl >= cpu.cpl && dpl >= rpl) {
    setCacheFrom(cpu, seg, selector, lo, hi);
    return;
  }
  const desc = decodeDescriptor(lo, hi, dataDesc);
  const sel = selector & 0xfffc;
  const isCode = (desc.type & 8) !== 0;
  const readable = !isCode || (desc.type & 2) !== 0;
  const writable = !isCode && (desc.type & 2) !== 0;
  const conforming = isCode && (desc.type & 4) !== 0;
  if (!desc.codeOrData) cpu.fault(GP, sel);
  if (seg === SS) {
    if (rpl !== cpu.cpl || desc.dpl !== cpu.cpl || !writable) cpu.fault(GP, sel);
    if (!desc.present) cpu.fault(SS_FAULT, sel);
  } else {
    if (!readable) cpu.fault(GP, sel);
    if (!conforming && (desc.dpl < cpu.cpl || desc.dpl < rpl)) cpu.fault(GP, sel);
    if (!desc.present) cpu.fault(NP, sel);
  }
  markAccessed(cpu, address, desc);
  setCache(cpu, seg, selector, desc);
  if (seg === SS) {
    cpu.interruptShadow = true; // MOV SS blocks interrupts for one instruction
    cpu.movSsShadow = true;
    cpu.shadowSetAt = cpu.instret;
  }
}

/** Loads CS for a far transfer to `selector` at privilege `newCpl` (checks done by the caller). */
export function loadCodeSegment(cpu: Cpu, selector: number, desc: Descriptor, newCpl: number): void {
  setCache(cpu, CS, (selector & 0xfffc) | newCpl, desc);
  cpu.setCpl(newCpl);
}

/**
 * Checks a code-segment descriptor as the target of a far JMP/CALL/RET/IRET or a gate. `ext` is the
 * EXT bit of the error codes (1 when a gate is used for an event not caused by software). The
 * descriptor returned is valid until the next checkCodeTarget.
 */
export function checkCodeTarget(cpu: Cpu, selector: number, ext: number): Descriptor {
  ext &= 1;
  if ((selector & 0xfffc) === 0) cpu.fault(GP, ext);
  const desc = codeDesc;
  const address = readDescriptor(cpu, selector, desc, GP, ext);
  if (!desc.codeOrData || !(desc.type & 8)) cpu.fault(GP, (selector & 0xfffc) | ext);
  if (!desc.present) cpu.fault(NP, (selector & 0xfffc) | ext);
  markAccessed(cpu, address, desc);
  return desc;
}

const DATA_SEGMENTS: readonly number[] = [ES, DS, FS, GS];

/** After a return to an outer privilege level, data segments the new CPL may not use become null. */
export function nullInaccessibleSegments(cpu: Cpu): void {
  for (const seg of DATA_SEGMENTS) {
    const ar = cpu.segAr[seg]!;
    if (ar & AR_UNUSABLE) continue;
    const dpl = (ar >>> 5) & 3;
    const conformingCode = (ar & 0xc) === 0xc;
    if (!conformingCode && dpl < cpu.cpl) setCache(cpu, seg, 0, null);
  }
}

/**
 * Loads SS from a selector chosen by the processor (stack switch) with its checks. `ext` is the EXT
 * bit of the error codes: 1 when the stack switch is for an event not caused by software.
 */
export function loadStackSegment(cpu: Cpu, selector: number, cpl: number, faultVector: number, ext = 0): void {
  if ((selector & 0xfffc) === 0) cpu.fault(faultVector, ext);
  const desc = stackDesc;
  const address = readDescriptor(cpu, selector, desc, faultVector, ext);
  const writableData = desc.codeOrData && !(desc.type & 8) && (desc.type & 2) !== 0;
  if ((selector & 3) !== cpl || desc.dpl !== cpl || !writableData) cpu.fault(faultVector, (selector & 0xfffc) | ext);
  if (!desc.present) cpu.fault(SS_FAULT, (selector & 0xfffc) | ext);
  markAccessed(cpu, address, desc);
  setCache(cpu, SS, selector, desc);
}

/** Loads a flat segment cache directly (boot state, SYSENTER/SYSEXIT, VM entry/exit). */
export function setFlatSegment(cpu: Cpu, seg: number, selector: number, ar: number): void {
  cpu.bankWrites++;
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = 0;
  cpu.segLimit[seg] = -1;
  cpu.segAr[seg] = ar;
}

/**
 * The linear address of the stack for privilege level `cpl` in the 32-bit TSS: ESPn there, SSn at +4
 * (#TS(TR | ext) past its limit).
 */
export function tssStackAddress(cpu: Cpu, cpl: number, ext = 0): number {
  const offset = 4 + cpl * 8;
  if (cpu.trAr & AR_UNUSABLE || offset + 5 > cpu.trLimit) cpu.fault(10, (cpu.trSel & 0xfffc) | ext); // #TS
  return cpu.trBase + offset;
}
