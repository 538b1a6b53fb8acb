// Extended page tables (Intel SDM Vol. 3C, 29.3): the 4-level walk from guest-physical to
// host-physical addresses with 8-byte entries, R/W/X permissions, 2 MiB pages, accessed and dirty
// flags (EPTP bit 6), EPT violations (exit 48) and misconfigurations (exit 49). Every entry read is
// one page-walk reference, so a TLB miss with 2-level guest paging costs (2+1)(4+1)-1 = 14.

import { ACCESS_FETCH, ACCESS_WRITE, type GuestPhysicalTranslator } from "../memory/paging.js";
import { EXIT_REASON } from "./exit-reasons.js";
import type { Vmx } from "./vmx.js";

export const EPT_READ = 1;
export const EPT_WRITE = 2;
export const EPT_EXEC = 4;
export const EPT_LARGE = 1 << 7;
export const EPT_ACCESSED = 1 << 8;
export const EPT_DIRTY = 1 << 9;

// EPT-violation exit qualification (Intel SDM Vol. 3C, Table 28-7).
export const EPT_VIOLATION_ACC_READ = 1 << 0;
export const EPT_VIOLATION_ACC_WRITE = 1 << 1;
export const EPT_VIOLATION_ACC_INSTR = 1 << 2;
export const EPT_VIOLATION_READABLE = 1 << 3;
export const EPT_VIOLATION_WRITABLE = 1 << 4;
export const EPT_VIOLATION_EXECUTABLE = 1 << 5;
export const EPT_VIOLATION_GVA_IS_VALID = 1 << 7;
export const EPT_VIOLATION_GVA_TRANSLATED = 1 << 8;

export interface EptStep {
  /** 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE. */
  level: number;
  /** Host-physical address of the entry. */
  address: number;
  /** Low 32 bits of the entry. */
  entry: number;
}

const LEVEL_SHIFT = [0, 12, 21, 30, 39];

export class Ept implements GuestPhysicalTranslator {
  lastPermissions = 7;
  private pml4 = 0;
  private accessedDirty = false;

  constructor(private readonly vmx: Vmx) {}

  /** Takes the EPTP at VM entry (already checked for validity): its low 32 bits are enough. */
  load(eptp: number): this {
    this.pml4 = (eptp % 0x1_0000_0000) & ~0xfff;
    this.accessedDirty = (eptp & 0x40) !== 0;
    return this;
  }

  get root(): number {
    return this.pml4 >>> 0;
  }

  translate(gpa: number, access: number, linear: number, finalAccess: boolean): number {
    const cpu = this.vmx.cpu;
    const mem = cpu.mem;
    // With A/D flags on, the processor's accesses to guest paging-structure entries are treated as
    // writes: they need EPT write permission and set the dirty flag (Intel SDM Vol. 3C, 29.3.3.2).
    const write = access === ACCESS_WRITE || (this.accessedDirty && !finalAccess);
    let table = this.pml4 >>> 0;
    let perms = 7;
    for (let level = 4; level >= 1; level--) {
      const index = level === 4 ? 0 : (gpa >>> LEVEL_SHIFT[level]!) & 0x1ff;
      const address = (table + index * 8) >>> 0;
      cpu.tlb.stats.walkReferences++;
      cpu.cycles += cpu.cost.vmx.eptWalkReference;
      const lo = mem.read32(address) >>> 0;
      const hi = mem.read32(address + 4) >>> 0;
      const p = lo & 7;
      if (p === 0) return this.violation(gpa, access, linear, finalAccess, 0);
      const leaf = level === 1 || (lo & EPT_LARGE) !== 0;
      if (misconfigured(lo, hi, level, leaf)) {
        return this.vmx.signalExit({ reason: EXIT_REASON.EPT_MISCONFIG, qualification: 0, guestPhysical: gpa >>> 0 });
      }
      perms &= p;
      if (this.accessedDirty && !(lo & EPT_ACCESSED)) mem.write32(address, lo | EPT_ACCESSED);
      if (leaf) {
        const need = write ? EPT_WRITE : access === ACCESS_FETCH ? EPT_EXEC : EPT_READ;
        if (!(perms & need)) return this.violation(gpa, access, linear, finalAccess, perms);
        if (this.accessedDirty && write && !(lo & EPT_DIRTY)) {
          mem.write32(address, mem.read32(address) | EPT_DIRTY);
        }
        this.lastPermissions = perms;
        const pageMask = level === 2 ? 0x1fffff : 0xfff;
        return ((lo & ~pageMask & ~0xfff) | (gpa & pageMask)) >>> 0;
      }
      table = lo & ~0xfff;
    }
    return -1; // unreachable: level 1 is always a leaf
  }

  private violation(gpa: number, access: number, linear: number, finalAccess: boolean, perms: number): never {
    let acc =
      access === ACCESS_WRITE
        ? EPT_VIOLATION_ACC_WRITE
        : access === ACCESS_FETCH
          ? EPT_VIOLATION_ACC_INSTR
          : EPT_VIOLATION_ACC_READ;
    // A paging-structure read treated as a write (A/D flags on) reports both (as KVM's nested EPT does).
    if (this.accessedDirty && !finalAccess) acc |= EPT_VIOLATION_ACC_WRITE;
    const qualification =
      acc | (perms << 3) | EPT_VIOLATION_GVA_IS_VALID | (finalAccess ? EPT_VIOLATION_GVA_TRANSLATED : 0);
    return this.vmx.signalExit({
      reason: EXIT_REASON.EPT_VIOLATION,
      qualification,
      guestPhysical: gpa >>> 0,
      guestLinear: linear >>> 0,
    });
  }

  /** Side-effect-free walk for debuggers. hpa = -1 when the walk stops at a missing or bad entry. */
  peek(gpa: number): { hpa: number; steps: EptStep[] } {
    const mem = this.vmx.cpu.mem;
    const steps: EptStep[] = [];
    let table = this.pml4 >>> 0;
    for (let level = 4; level >= 1; level--) {
      const index = level === 4 ? 0 : (gpa >>> LEVEL_SHIFT[level]!) & 0x1ff;
      const address = (table + index * 8) >>> 0;
      const lo = mem.read32(address) >>> 0;
      const hi = mem.read32(address + 4) >>> 0;
      steps.push({ level, address, entry: lo });
      const leaf = level === 1 || (lo & EPT_LARGE) !== 0;
      if ((lo & 7) === 0 || misconfigured(lo, hi, level, leaf)) return { hpa: -1, steps };
      if (leaf) {
        const pageMask = level === 2 ? 0x1fffff : 0xfff;
        return { hpa: ((lo & ~pageMask & ~0xfff) | (gpa & pageMask)) >>> 0, steps };
      }
      table = lo & ~0xfff;
    }
    return { hpa: -1, steps };
  }
}

/**
 * EPT misconfiguration (Intel SDM Vol. 3C, 29.3.3.1): write without read, address bits above the
 * 32-bit physical-address width, a reserved memory type in a leaf, a large page where none may be
 * (PML4E, or a 1 GiB PDPTE, which vmxlab does not support), reserved bits 6:3 in a non-leaf entry.
 */
function misconfigured(lo: number, hi: number, level: number, leaf: boolean): boolean {
  if ((lo & 3) === 2) return true;
  if (hi & 0xfffff) return true;
  if (level === 4 && lo & EPT_LARGE) return true;
  if (level === 3 && lo & EPT_LARGE) return true;
  if (leaf) {
    const type = (lo >>> 3) & 7;
    if (type === 2 || type === 3 || type === 7) return true;
    if (level === 2 && lo & 0x1ff000) return true; // a 2 MiB page's address bits 20:12 are reserved
  } else if (lo & 0x78) return true;
  return false;
}
