// 32-bit (non-PAE) two-level paging: the page walk, accessed/dirty bits, page faults, and TLB fills.
// When VMX non-root operation has EPT on, every guest-physical address the walk touches (the PDE,
// the PTE and the final page) is translated through EPT: the two-dimensional walk.

import type { Cpu } from "../cpu/cpu.js";
import { CR4_PGE, CR4_PSE, CR4_SMEP, PAGE_FAULT, PFEC_I, PFEC_P, PFEC_U, PFEC_W } from "../cpu/registers.js";
import {
  TLB_CLEAN,
  TLB_GLOBAL,
  TLB_LARGE,
  TLB_MMIO,
  TLB_NO_EXEC,
  TLB_NO_READ,
  TLB_NO_USER,
  TLB_NO_WRITE_SUP,
  TLB_NO_WRITE_USER,
} from "./tlb.js";

export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_FETCH = 2;

export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PTE_PS = 1 << 7;
export const PTE_G = 1 << 8;

/** EPT permission bits as reported by a guest-physical translation. */
export const EPT_R = 1;
export const EPT_W = 2;
export const EPT_X = 4;

/**
 * Translates guest-physical to host-physical addresses (EPT, provided by the VMX layer).
 * `translate` throws the VM-exit signal on an EPT violation or misconfiguration.
 */
export interface GuestPhysicalTranslator {
  /**
   * @param gpa guest-physical address
   * @param access ACCESS_READ / ACCESS_WRITE / ACCESS_FETCH
   * @param linear the guest-linear address being translated (for the exit qualification)
   * @param finalAccess true for the final page, false for a paging-structure entry
   */
  translate(gpa: number, access: number, linear: number, finalAccess: boolean): number;
  /** EPT_R/W/X of the last translation (AND of all EPT levels). */
  lastPermissions: number;
  /** Side-effect-free walk for debuggers: host-physical address or -1, and the entries visited. */
  peek(gpa: number): { hpa: number; steps: { level: number; address: number; entry: number }[] };
}

/** One step of a page walk as a debugger shows it. */
export interface WalkStep {
  level: "PDE" | "PTE" | "page";
  /** Guest-physical address of the entry (or of the page). */
  gpa: number;
  /** Host-physical address after EPT (same as gpa without EPT). */
  hpa: number;
  entry: number;
  eptSteps?: { level: number; address: number; entry: number }[];
}

export interface WalkResult {
  ok: boolean;
  linear: number;
  physical: number;
  steps: WalkStep[];
  /** Memory references the walk makes (guest entries plus EPT entries). */
  references: number;
  /** Why the walk fails, if it does. */
  problem?: string;
}

export interface PageWalker {
  /** Full translation for an access: TLB fill, A/D updates, faults. Returns the host-physical address. */
  translate(linear: number, access: number, user: boolean): number;
  /** Side-effect-free walk for debuggers (no A/D bits, no TLB fill, no faults, no counters). */
  peek(linear: number): WalkResult;
  /** EPT while in VMX non-root operation with "enable EPT"; null otherwise. */
  ept: GuestPhysicalTranslator | null;
}

export function createPageWalker(cpu: Cpu): PageWalker {
  const stats = cpu.tlb.stats;

  /** Guest-physical -> host-physical for a paging-structure access, counting the reference. */
  function structure(gpa: number, access: number, linear: number, ept: GuestPhysicalTranslator | null): number {
    return ept ? ept.translate(gpa, access, linear, false) : gpa;
  }

  const walker: PageWalker = {
    ept: null,

    translate(linear: number, access: number, user: boolean): number {
      stats.misses++;
      const ept = walker.ept;
      const mem = cpu.mem;
      const vpn = linear >>> 12;
      let frame: number; // guest-physical page base
      let flags = 0;
      let large = false;
      if (!cpu.pagingEnabled) {
        frame = linear & ~0xfff;
      } else {
        const pdeGpa = ((cpu.cr3 & ~0xfff) | ((linear >>> 22) << 2)) >>> 0;
        const pdeHpa = structure(pdeGpa, ACCESS_READ, linear, ept);
        const pdePerms = ept ? ept.lastPermissions : EPT_R | EPT_W | EPT_X;
        stats.walkReferences++;
        cpu.cycles += cpu.cost.paging.walkReference;
        const pde = mem.read32(pdeHpa);
        const write = access === ACCESS_WRITE;
        const fetch = access === ACCESS_FETCH;
        // The I/D bit is reported only when it can matter: with SMEP (Intel SDM Vol. 3A, 4.7).
        const smep = (cpu.cr4 & CR4_SMEP) !== 0;
        const errBase = (write ? PFEC_W : 0) | (user ? PFEC_U : 0) | (fetch && smep ? PFEC_I : 0);
        if (!(pde & PTE_P)) return pageFault(linear, errBase);
        large = (pde & PTE_PS) !== 0 && (cpu.cr4 & CR4_PSE) !== 0;
        let entry: number;
        let rw: number;
        let us: number;
        if (large) {
          entry = pde;
          rw = pde & PTE_RW;
          us = pde & PTE_US;
          frame = ((pde & 0xffc00000) | (linear & 0x003ff000)) >>> 0;
          if (!permitted(rw, us, write, user) || (fetch && smep && !user && us))
            return pageFault(linear, errBase | PFEC_P);
          const want = PTE_A | (write ? PTE_D : 0);
          if ((pde & want) !== want) writeEntry(pdeGpa, pdeHpa, pde | want, linear, ept, pdePerms);
          entry = pde | want;
        } else {
          const pteGpa = ((pde & ~0xfff) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
          const pteHpa = structure(pteGpa, ACCESS_READ, linear, ept);
          const ptePerms = ept ? ept.lastPermissions : EPT_R | EPT_W | EPT_X;
          stats.walkReferences++;
          cpu.cycles += cpu.cost.paging.walkReference;
          const pte = mem.read32(pteHpa);
          if (!(pte & PTE_P)) return pageFault(linear, errBase);
          rw = pde & pte & PTE_RW;
          us = pde & pte & PTE_US;
          if (!permitted(rw, us, write, user) || (fetch && smep && !user && us))
            return pageFault(linear, errBase | PFEC_P);
          if (!(pde & PTE_A)) writeEntry(pdeGpa, pdeHpa, pde | PTE_A, linear, ept, pdePerms);
          const want = PTE_A | (write ? PTE_D : 0);
          if ((pte & want) !== want) writeEntry(pteGpa, pteHpa, pte | want, linear, ept, ptePerms);
          entry = pte | want;
          frame = (pte & ~0xfff) >>> 0;
        }
        if (!us) flags |= TLB_NO_USER;
        if (!rw) flags |= TLB_NO_WRITE_USER | (cpu.writeProtect ? TLB_NO_WRITE_SUP : 0);
        if (!(entry & PTE_D)) flags |= TLB_CLEAN;
        if (entry & PTE_G && cpu.cr4 & CR4_PGE) flags |= TLB_GLOBAL;
        if (large) flags |= TLB_LARGE;
      }
      let hpa = frame;
      if (ept) {
        hpa = ept.translate((frame | (linear & 0xfff)) >>> 0, access, linear, true) & ~0xfff;
        const perms = ept.lastPermissions;
        if (!(perms & EPT_R)) flags |= TLB_NO_READ;
        if (!(perms & EPT_W)) flags |= TLB_NO_WRITE_USER | TLB_NO_WRITE_SUP;
        if (!(perms & EPT_X)) flags |= TLB_NO_EXEC;
      }
      hpa >>>= 0;
      if (hpa + 0x1000 > cpu.memSize) flags |= TLB_MMIO;
      if (cpu.blocks.hasCode(hpa)) flags |= 1 << 4; // TLB_CODE
      cpu.tlb.fill(vpn, cpu.asid, hpa | flags | 0);
      return (hpa | (linear & 0xfff)) >>> 0;
    },

    peek(linear: number): WalkResult {
      const steps: WalkStep[] = [];
      const ept = walker.ept;
      let references = 0;
      const viaEpt = (gpa: number): { hpa: number; eptSteps?: WalkStep["eptSteps"] } => {
        if (!ept) return { hpa: gpa };
        const r = ept.peek(gpa);
        references += r.steps.length;
        return { hpa: r.hpa, eptSteps: r.steps };
      };
      const fail = (problem: string): WalkResult => ({ ok: false, linear, physical: -1, steps, references, problem });
      let gpa: number;
      if (!cpu.pagingEnabled) {
        gpa = linear >>> 0;
      } else {
        const pdeGpa = ((cpu.cr3 & ~0xfff) | ((linear >>> 22) << 2)) >>> 0;
        const pdeX = viaEpt(pdeGpa);
        if (pdeX.hpa < 0) return fail(`EPT does not map the PDE at gpa 0x${pdeGpa.toString(16)}`);
        references++;
        const pde = cpu.mem.read32(pdeX.hpa) >>> 0;
        steps.push({
          level: "PDE",
          gpa: pdeGpa,
          hpa: pdeX.hpa,
          entry: pde,
          ...(pdeX.eptSteps ? { eptSteps: pdeX.eptSteps } : {}),
        });
        if (!(pde & PTE_P)) return fail("PDE not present");
        if (pde & PTE_PS && cpu.cr4 & CR4_PSE) {
          gpa = ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
        } else {
          const pteGpa = ((pde & ~0xfff) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
          const pteX = viaEpt(pteGpa);
          if (pteX.hpa < 0) return fail(`EPT does not map the PTE at gpa 0x${pteGpa.toString(16)}`);
          references++;
          const pte = cpu.mem.read32(pteX.hpa) >>> 0;
          steps.push({
            level: "PTE",
            gpa: pteGpa,
            hpa: pteX.hpa,
            entry: pte,
            ...(pteX.eptSteps ? { eptSteps: pteX.eptSteps } : {}),
          });
          if (!(pte & PTE_P)) return fail("PTE not present");
          gpa = ((pte & ~0xfff) | (linear & 0xfff)) >>> 0;
        }
      }
      const fin = viaEpt(gpa);
      steps.push({ level: "page", gpa, hpa: fin.hpa, entry: 0, ...(fin.eptSteps ? { eptSteps: fin.eptSteps } : {}) });
      if (fin.hpa < 0) return fail(`EPT does not map gpa 0x${gpa.toString(16)}`);
      return { ok: true, linear, physical: fin.hpa >>> 0, steps, references };
    },
  };

  function permitted(rw: number, us: number, write: boolean, user: boolean): boolean {
    if (user && !us) return false;
    if (write && !rw && (user || cpu.writeProtect)) return false;
    return true;
  }

  function writeEntry(
    gpa: number,
    hpa: number,
    value: number,
    linear: number,
    ept: GuestPhysicalTranslator | null,
    eptPermissions: number,
  ): void {
    // Setting A/D bits writes the entry the walk just read, through the EPT translation that read
    // established. It needs EPT write permission: without it, translating again as a write raises the
    // EPT violation (the only case that walks EPT a second time).
    if (ept && !(eptPermissions & EPT_W)) ept.translate(gpa, ACCESS_WRITE, linear, false);
    cpu.mem.write32(hpa, value);
  }

  function pageFault(linear: number, errorCode: number): never {
    cpu.faultLinear = linear >>> 0;
    return cpu.fault(PAGE_FAULT, errorCode);
  }

  return walker;
}
