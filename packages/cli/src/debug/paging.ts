// Side-effect-free address translation for the debugger: the guest's two-level page walk, each of
// its guest-physical addresses translated through EPT (the two-dimensional walk) or the hypervisor's
// guest-physical map, and under shadow paging the walk of the shadow tables the CPU really uses.
// Nothing here sets accessed/dirty bits, fills the TLB or counts cycles.

/** One entry read by an EPT walk: level 4 = PML4E ... 1 = PTE. */
export interface EptStep {
  level: number;
  /** Host-physical address of the entry. */
  address: number;
  /** Low 32 bits of the entry. */
  entry: number;
}

export interface GpaTranslation {
  /** Host-physical address, or -1 when nothing backs the guest-physical address. */
  hpa: number;
  /** The EPT entries read (EPT only). */
  ept?: EptStep[];
  problem?: string;
}

/** How a debugged program's addresses translate. */
export interface AddressSpace {
  /** The guest's own paging, as it set it up (CR0.PG, CR3, CR4.PSE as the guest sees them). */
  paging: { enabled: boolean; cr3: number; pse: boolean };
  /** Guest-physical to host-physical (identity on the bare machine). */
  gpaToHpa(gpa: number): GpaTranslation;
  /** A 32-bit word of host-physical memory (no side effects). */
  readHpa32(hpa: number): number;
  /**
   * Where a guest-physical address's contents are when gpaToHpa finds no mapping yet (hosted: the
   * VMM process's memory, which the KVM module maps into the EPT on first touch), or -1.
   */
  backing?(gpa: number): number;
}

/** The space through which the debugger reads guest data: the hardware's map, else the backing memory. */
export function dataSpace(space: AddressSpace): AddressSpace {
  const backing = space.backing;
  if (!backing) return space;
  return {
    ...space,
    gpaToHpa: (gpa) => {
      const t = space.gpaToHpa(gpa);
      if (t.hpa >= 0) return t;
      const hpa = backing(gpa);
      return hpa >= 0 ? { hpa } : t;
    },
  };
}

export interface WalkStep {
  level: "PDE" | "PTE" | "page";
  /** Guest-physical address of the entry (or of the byte, for "page"). */
  gpa: number;
  /** Its host-physical address, or -1. */
  hpa: number;
  /** The guest's entry (0 for "page"). */
  entry: number;
  ept?: EptStep[];
}

export interface Walk {
  ok: boolean;
  gva: number;
  gpa: number;
  hpa: number;
  steps: WalkStep[];
  /** Memory references a TLB miss costs: guest entries plus EPT entries. */
  references: number;
  /** A 4 MiB guest page. */
  large: boolean;
  problem?: string;
}

const P = 1;
const PS = 0x80;

/** The guest's walk of `gva`, each guest-physical address through `gpaToHpa` (as the CPU does with EPT). */
export function walkGuest(space: AddressSpace, gva: number): Walk {
  gva >>>= 0;
  const steps: WalkStep[] = [];
  let references = 0;
  let large = false;
  const fail = (problem: string): Walk => ({
    ok: false,
    gva,
    gpa: -1,
    hpa: -1,
    steps,
    references,
    large,
    problem,
  });
  const via = (level: WalkStep["level"], gpa: number, entry: number): GpaTranslation => {
    const t = space.gpaToHpa(gpa);
    references += t.ept?.length ?? 0;
    steps.push({ level, gpa, hpa: t.hpa, entry, ...(t.ept ? { ept: t.ept } : {}) });
    return t;
  };
  let gpa = gva;
  if (space.paging.enabled) {
    const pdeGpa = ((space.paging.cr3 & ~0xfff) | ((gva >>> 22) << 2)) >>> 0;
    const pdeAt = space.gpaToHpa(pdeGpa);
    references += pdeAt.ept?.length ?? 0;
    if (pdeAt.hpa < 0) {
      steps.push({ level: "PDE", gpa: pdeGpa, hpa: -1, entry: 0, ...(pdeAt.ept ? { ept: pdeAt.ept } : {}) });
      return fail(pdeAt.problem ?? `nothing backs the PDE at gpa ${hexa(pdeGpa)}`);
    }
    references++;
    const pde = space.readHpa32(pdeAt.hpa) >>> 0;
    steps.push({ level: "PDE", gpa: pdeGpa, hpa: pdeAt.hpa, entry: pde, ...(pdeAt.ept ? { ept: pdeAt.ept } : {}) });
    if (!(pde & P)) return fail("PDE not present: the guest would take a #PF");
    if (pde & PS && space.paging.pse) {
      large = true;
      gpa = ((pde & 0xffc00000) | (gva & 0x3fffff)) >>> 0;
    } else {
      const pteGpa = ((pde & ~0xfff) | (((gva >>> 12) & 0x3ff) << 2)) >>> 0;
      const pteAt = space.gpaToHpa(pteGpa);
      references += pteAt.ept?.length ?? 0;
      if (pteAt.hpa < 0) {
        steps.push({ level: "PTE", gpa: pteGpa, hpa: -1, entry: 0, ...(pteAt.ept ? { ept: pteAt.ept } : {}) });
        return fail(pteAt.problem ?? `nothing backs the PTE at gpa ${hexa(pteGpa)}`);
      }
      references++;
      const pte = space.readHpa32(pteAt.hpa) >>> 0;
      steps.push({ level: "PTE", gpa: pteGpa, hpa: pteAt.hpa, entry: pte, ...(pteAt.ept ? { ept: pteAt.ept } : {}) });
      if (!(pte & P)) return fail("PTE not present: the guest would take a #PF");
      gpa = ((pte & ~0xfff) | (gva & 0xfff)) >>> 0;
    }
  }
  const page = via("page", gpa, 0);
  if (page.hpa < 0) {
    const w = fail(page.problem ?? `nothing backs gpa ${hexa(gpa)}`);
    w.gpa = gpa;
    return w;
  }
  return { ok: true, gva, gpa, hpa: page.hpa >>> 0, steps, references, large };
}

const LEVEL_SHIFT = [0, 12, 21, 30, 39];

/** The EPT walk of `gpa` from the PML4 table at `root` (host-physical). */
export function eptWalk(readHpa32: (hpa: number) => number, root: number, gpa: number): GpaTranslation {
  const steps: EptStep[] = [];
  let table = root >>> 0;
  for (let level = 4; level >= 1; level--) {
    const index = level === 4 ? 0 : (gpa >>> LEVEL_SHIFT[level]!) & 0x1ff;
    const address = (table + index * 8) >>> 0;
    const entry = readHpa32(address) >>> 0;
    steps.push({ level, address, entry });
    if ((entry & 7) === 0) {
      return {
        hpa: -1,
        ept: steps,
        problem: `EPT ${EPT_LEVEL_NAMES[level]} not present: an access exits (EPT violation)`,
      };
    }
    if (level === 1 || (level === 2 && entry & 0x80)) {
      const mask = level === 2 ? 0x1fffff : 0xfff;
      return { hpa: ((entry & ~mask & ~0xfff) | (gpa & mask)) >>> 0, ept: steps };
    }
    table = entry & ~0xfff;
  }
  return { hpa: -1, ept: steps };
}

export const EPT_LEVEL_NAMES = ["", "PTE", "PDE", "PDPTE", "PML4E"];

export interface ShadowWalk {
  /** The shadow PDE and PTE the CPU reads (host-physical addresses). */
  steps: { level: "PDE" | "PTE"; hpa: number; entry: number }[];
  hpa: number;
  problem?: string;
}

/** The walk the CPU makes under shadow paging: the shadow page directory at `root` (host-physical). */
export function shadowWalk(readHpa32: (hpa: number) => number, root: number, gva: number): ShadowWalk {
  gva >>>= 0;
  const steps: ShadowWalk["steps"] = [];
  const pdeAt = ((root & ~0xfff) | ((gva >>> 22) << 2)) >>> 0;
  const pde = readHpa32(pdeAt) >>> 0;
  steps.push({ level: "PDE", hpa: pdeAt, entry: pde });
  if (!(pde & P)) return { steps, hpa: -1, problem: "shadow PDE not present: an access takes a #PF exit" };
  if (pde & PS) return { steps, hpa: ((pde & 0xffc00000) | (gva & 0x3fffff)) >>> 0 };
  const pteAt = ((pde & ~0xfff) | (((gva >>> 12) & 0x3ff) << 2)) >>> 0;
  const pte = readHpa32(pteAt) >>> 0;
  steps.push({ level: "PTE", hpa: pteAt, entry: pte });
  if (!(pte & P)) return { steps, hpa: -1, problem: "shadow PTE not filled yet: an access takes a #PF exit" };
  return { steps, hpa: ((pte & ~0xfff) | (gva & 0xfff)) >>> 0 };
}

/** The flags of a 32-bit paging entry: "P W U A D" (only those set). */
export function pteFlags(entry: number, large = false): string {
  const names: string[] = [];
  if (entry & 1) names.push("P");
  names.push(entry & 2 ? "W" : "R");
  names.push(entry & 4 ? "U" : "S");
  if (entry & 0x20) names.push("A");
  if (entry & 0x40) names.push("D");
  if (large && entry & 0x80) names.push("PS");
  if (entry & 0x100) names.push("G");
  return names.join(" ");
}

/** The permissions of an EPT entry: "rwx", "r-x", ... plus "2M" for a large page. */
export function eptFlags(entry: number, level: number): string {
  const p = `${entry & 1 ? "r" : "-"}${entry & 2 ? "w" : "-"}${entry & 4 ? "x" : "-"}`;
  return level === 2 && entry & 0x80 ? `${p} 2M` : p;
}

function hexa(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
