// Shadow paging: memory virtualization without EPT. The guest's own page tables map guest-virtual to
// guest-physical addresses; the CPU never walks them. It walks shadow tables that the hypervisor
// keeps in its own pages, which map guest-virtual straight to host-physical. The guest must not be
// able to tell, so the hypervisor intercepts everything that reads or changes the translation:
//
//  - CR3: loads and stores exit (the guest reads back its own CR3; GUEST_CR3 holds a shadow root).
//    Shadow roots are cached per guest page directory (LRU, ROOT_CACHE of them), so switching
//    between address spaces does not rebuild them; the VM's VPID-tagged TLB is flushed as a MOV CR3
//    flushes it on the bare machine (global pages survive when the guest has CR4.PGE).
//  - CR0/CR4: the guest's view lives in the read shadows (PE, NE, WP, PG, CD, NW of CR0; all of CR4).
//    The real CR0 always has PE, PG, NE and WP: without unrestricted guest there is no paging-off
//    guest, so a guest with paging off runs on an identity shadow table (guest-physical = linear,
//    mapped to host pages through the p2m; addresses outside its RAM stay unmapped), and WP = 1 makes
//    the write protection below catch supervisor writes too. Changing the guest's PG, WP, PSE or PGE
//    drops every shadow table (the processor flushes its whole TLB then as well).
//  - #PF: every page fault exits (exception bitmap bit 14, PFEC mask = match = 0). The hypervisor
//    walks the guest's tables as the processor would (CR0.WP, CR4.PSE/PGE/SMEP of the guest):
//      * the guest's tables deny the access: a real fault, reflected into the guest with the error
//        code the processor would have given and CR2 = the linear address (or #DF / triple fault by
//        the double-fault rules when it happened while delivering another event);
//      * they allow it: a hidden fault. The shadow PTE is filled (4 KiB leaves only: guest 4 MiB
//        pages are split) and the guest resumes without knowing; an event whose delivery was
//        interrupted by the fault is re-injected.
//  - Accessed/dirty bits: filling a shadow PTE sets A in the guest's PDE and PTE (D too for a write),
//    exactly as the processor's walk would. A clean page is mapped read-only in the shadow, so its
//    first write faults (hidden) and sets D.
//  - CR0.WP = 0 in the guest (the real WP stays 1): a supervisor write to a page the guest maps
//    read-only is allowed by mapping that page writable but supervisor-only in the shadow. If the
//    guest lets user mode read the page, a user access then faults (hidden) and the entry goes back
//    to read-only + user. The two alternate as needed; the guest sees the permissions it set up.
//  - Write protection: every guest page used as a page directory or page table by some shadow is
//    mapped read-only in all shadows. A write to one faults; the hypervisor then unprotects it and
//    zaps: it drops every shadow entry derived from that page (the real TLB keeps what it cached,
//    exactly the stale translations hardware could also be using) and lets the guest write the page
//    freely. Shadow entries built from such an unsynchronized page are refilled from the guest's
//    current entries on the next fault. At the next CR3 load (where the processor flushes its TLB)
//    every unsynchronized page is compared with the shadow entries derived from it, mismatches are
//    dropped, and the page is write-protected again. INVLPG drops the shadow entry of its address
//    (and the shadow page table of its 4 MiB region if the guest's PDE changed).
//    This handles a PTE that maps its own page table (the table stays writable until the next CR3
//    load instead of faulting forever), a page table shared by two page directories (each shadow
//    root has its own shadow page table; all of them are zapped and resynchronized together), and a
//    live PTE modified without INVLPG (the guest may see the old translation only while the TLB
//    still holds it, as on hardware) or with INVLPG (never stale).
//
// Limitations: writes by device DMA into a guest page table are not noticed (the block device
// writes guest memory directly); with CR0.WP = 0 and CR4.SMEP = 1, a supervisor fetch from a user
// page the guest wrote at CPL 0 is not caught while the page is mapped supervisor-only.

import { vmxControls as C, type PhysicalMemory, VMCS } from "@vmxlab/cpu";
import { type ExitAction, type ExitContext, injectException, noting, skipInstruction } from "../exits/context.js";
import { type CrPolicy, decodeCrQualification, emulateCrAccess } from "../exits/cr.js";
import type { Hypervisor } from "../hypervisor.js";
import type { Vm } from "../vm.js";
import { PAGE } from "./allocator.js";
import type { Mmu, MmuVmcsSettings } from "./mmu.js";

// ---- paging-structure entry bits (32-bit paging) ----
const P = 1 << 0;
const RW = 1 << 1;
const US = 1 << 2;
const PWT = 1 << 3;
const PCD = 1 << 4;
const A = 1 << 5;
const D = 1 << 6;
const PS = 1 << 7;
const G = 1 << 8;
const FRAME = 0xfffff000;
const LARGE_FRAME = 0xffc00000;
/** PDE bits that, if the guest changes them, make a shadow table built from a 4 MiB PDE obsolete. */
const LARGE_KEY = (LARGE_FRAME | P | RW | US | PS | G | PWT | PCD) >>> 0;

// ---- page-fault error code ----
const PFEC_P = 1 << 0;
const PFEC_W = 1 << 1;
const PFEC_U = 1 << 2;
const PFEC_I = 1 << 4;

// ---- control registers ----
const CR0_PE = 1 << 0;
const CR0_ET = 1 << 4;
const CR0_NE = 1 << 5;
const CR0_WP = 1 << 16;
const CR0_NW = 1 << 29;
const CR0_CD = 1 << 30;
const CR0_PG = 1 << 31;
const CR4_PSE = 1 << 4;
const CR4_PGE = 1 << 7;
const CR4_VMXE = 1 << 13;
const CR4_SMEP = 1 << 20;

/** CR0 bits the guest owns only through the read shadow (changing one exits). */
const CR0_MASK = (CR0_PE | CR0_NE | CR0_WP | CR0_PG | CR0_CD | CR0_NW) >>> 0;
/** Always 1 in the real CR0 while the guest runs. */
const CR0_FORCED = (CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG) >>> 0;
const CR4_MASK = 0xffffffff;

const PAGE_FAULT = 14;
const DOUBLE_FAULT = 8;
const INTR_VALID = 0x80000000;

/** Shadow roots kept across CR3 switches. */
export const ROOT_CACHE = 8;
/** The same hidden fault this many times in a row means the shadow cannot satisfy the guest. */
const LIVELOCK_LIMIT = 16;

/** source of a shadow page table that splits a guest 4 MiB page, or maps guest-physical 1:1. */
const LARGE = -1;
const IDENTITY = -2;

/** One shadow page table: the 4 MiB region `index` of a shadow root. */
interface ShadowPt {
  /** Host-physical address of the table page. */
  readonly page: number;
  readonly root: ShadowRoot;
  readonly index: number;
  /** Guest page-table frame (gfn) it mirrors, LARGE for a guest 4 MiB page, IDENTITY with paging off. */
  readonly source: number;
  /** The guest PDE it was built from (kept current as the hypervisor sets A/D in it). */
  gpde: number;
  /** Guest frame (gfn) each shadow PTE maps, -1 where none. */
  readonly gfns: Int32Array;
  live: boolean;
}

/** One shadow page directory: what GUEST_CR3 points to. */
interface ShadowRoot {
  readonly page: number;
  /** Guest page-directory frame (gfn), or IDENTITY. */
  readonly pd: number;
  readonly pts: (ShadowPt | undefined)[];
}

/** A guest page some shadow is derived from (as page table, page directory, or both). */
interface GuestTable {
  readonly gfn: number;
  /** Unprotected since its last write fault: may differ from the shadows until the next CR3 load. */
  unsync: boolean;
  readonly pts: Set<ShadowPt>;
  readonly roots: Set<ShadowRoot>;
}

/** The guest's own translation of a linear address, as its page walk found it. */
interface GuestWalk {
  pdeGpa: number;
  pde: number;
  pteGpa: number;
  pte: number;
  large: boolean;
  /** Guest-physical 4 KiB page the address lies in. */
  frame: number;
  rw: boolean;
  us: boolean;
}

type WalkOutcome =
  | { kind: "ok"; walk: GuestWalk }
  | { kind: "fault"; errorCode: number }
  | { kind: "error"; diagnostic: string };

export interface ShadowStats {
  hiddenFaults: number;
  guestFaults: number;
  /** Writes to write-protected guest page tables (each unprotects one page until the next CR3 load). */
  tableWrites: number;
  cr3Loads: number;
  rootHits: number;
  rootBuilds: number;
  rootEvictions: number;
  /** Shadow page tables built (4 MiB regions). */
  tableBuilds: number;
  invlpgs: number;
  /** Unsynchronized guest tables checked and write-protected again at CR3 loads. */
  resyncs: number;
  /** Full rebuilds after the guest changed CR0.PG/WP or CR4.PSE/PGE. */
  resets: number;
}

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** What the shadow MMU needs from its host: the machine, and pages for its tables (the type-1 hypervisor, or the hosted KVM module). */
export type ShadowMmuHost = Pick<Hypervisor, "machine" | "allocatePage">;

export class ShadowMmu implements Mmu {
  readonly kind = "shadow";
  readonly stats: ShadowStats = {
    hiddenFaults: 0,
    guestFaults: 0,
    tableWrites: 0,
    cr3Loads: 0,
    rootHits: 0,
    rootBuilds: 0,
    rootEvictions: 0,
    tableBuilds: 0,
    invlpgs: 0,
    resyncs: 0,
    resets: 0,
  };
  private readonly mem: PhysicalMemory;
  /** The guest's CR3 as it loaded it (0 under the boot contract). */
  private cr3 = 0;
  private identity: ShadowRoot | null = null;
  /** Guest page-directory gfn -> shadow root, least recently used first. */
  private readonly roots = new Map<number, ShadowRoot>();
  private current: ShadowRoot | null = null;
  private readonly tables = new Map<number, GuestTable>();
  private readonly unsynced = new Set<GuestTable>();
  /** Guest frame -> host addresses of the shadow PTEs mapping it (identity root excluded). */
  private readonly rmap = new Map<number, Set<number>>();
  private readonly freePages: number[] = [];
  private allocatedPages = 0;
  private lastFault = { key: "", count: 0 };
  private readonly policy: CrPolicy;

  constructor(
    readonly hv: ShadowMmuHost,
    readonly vm: Vm,
  ) {
    this.mem = hv.machine.memory;
    this.policy = {
      cr0Forced: CR0_FORCED,
      cr4Forced: CR4_VMXE,
      onPagingChange: (ctx) => this.reset(ctx),
    };
  }

  /** Host pages holding shadow tables (roots, page tables, and the identity map). */
  get tablePages(): number {
    return this.allocatedPages;
  }

  /** Number of shadow roots cached (for tests and the debugger). */
  get cachedRoots(): number {
    return this.roots.size;
  }

  settings(_vm: Vm): MmuVmcsSettings {
    this.identity ??= this.buildIdentity();
    return {
      secondary: 0,
      primary: C.CPU_BASED_CR3_LOAD_EXITING | C.CPU_BASED_CR3_STORE_EXITING | C.CPU_BASED_INVLPG_EXITING,
      exceptionBitmap: 1 << PAGE_FAULT,
      cr0Mask: CR0_MASK,
      cr4Mask: CR4_MASK,
      cr0: CR0_FORCED,
      cr3: this.identity.page,
      cr4: CR4_VMXE,
    };
  }

  guestCr3(_vm: Vm): number | null {
    return this.cr3 >>> 0;
  }

  onEptViolation(ctx: ExitContext): ExitAction {
    return ctx.stopVm({ kind: "error", diagnostic: "unexpected EPT violation under shadow paging" });
  }

  // ======================= guest state =======================

  private guestCr0(): number {
    return this.hv.machine.vmx.read(VMCS.CR0_READ_SHADOW);
  }

  private guestCr4(): number {
    return this.hv.machine.vmx.read(VMCS.CR4_READ_SHADOW);
  }

  private guestPaging(): boolean {
    return (this.guestCr0() & CR0_PG) !== 0;
  }

  /** Host address of a guest-physical dword, or -1 outside the VM's RAM. */
  private hostOf(gpa: number): number {
    if (!this.vm.memory.contains(gpa, 4)) return -1;
    return this.vm.memory.backing(gpa) + (gpa % PAGE);
  }

  private asid(): number | undefined {
    return this.hv.machine.vmx.asidOf(this.vm.vpid);
  }

  // ======================= host pages =======================

  private allocPage(): number {
    const reused = this.freePages.pop();
    if (reused !== undefined) {
      this.mem.u8.fill(0, reused, reused + PAGE);
      return reused;
    }
    this.allocatedPages++;
    return this.hv.allocatePage();
  }

  // ======================= shadow tables =======================

  /** The identity map used while the guest has paging off: all of its RAM, nothing else. */
  private buildIdentity(): ShadowRoot {
    const root: ShadowRoot = { page: this.allocPage(), pd: IDENTITY, pts: new Array(1024) };
    for (let gpa = 0; gpa < this.vm.memory.size; gpa += PAGE) {
      const index = gpa >>> 22;
      const pt = root.pts[index] ?? this.newPt(root, index, IDENTITY, 0);
      const hpa = this.vm.memory.backing(gpa);
      this.setPte(pt, (gpa >>> 12) & 0x3ff, (hpa | P | RW | US | A | D) >>> 0, gpa / PAGE);
    }
    return root;
  }

  private newPt(root: ShadowRoot, index: number, source: number, gpde: number): ShadowPt {
    const pt: ShadowPt = {
      page: this.allocPage(),
      root,
      index,
      source,
      gpde,
      gfns: new Int32Array(1024).fill(-1),
      live: true,
    };
    root.pts[index] = pt;
    // The shadow PDE allows everything: the leaf carries the guest's combined permissions.
    this.mem.write32(root.page + 4 * index, (pt.page | P | RW | US | A) >>> 0);
    if (source >= 0) this.track(source).pts.add(pt);
    if (source !== IDENTITY) this.stats.tableBuilds++;
    return pt;
  }

  /** Writes one shadow PTE and keeps the reverse map current. */
  private setPte(pt: ShadowPt, i: number, value: number, gfn: number): void {
    const at = pt.page + 4 * i;
    const old = pt.gfns[i]!;
    const reverse = pt.source !== IDENTITY;
    if (old >= 0 && reverse) this.rmap.get(old)?.delete(at);
    this.mem.write32(at, value >>> 0);
    const now = value & P ? gfn : -1;
    pt.gfns[i] = now;
    if (now >= 0 && reverse) {
      let set = this.rmap.get(now);
      if (!set) this.rmap.set(now, (set = new Set()));
      set.add(at);
    }
  }

  private clearPte(pt: ShadowPt, i: number): void {
    if (pt.gfns[i]! >= 0) this.setPte(pt, i, 0, -1);
  }

  /** Drops every entry of a shadow page table but keeps it linked (its guest PDE is unchanged). */
  private zapPt(pt: ShadowPt): void {
    for (let i = 0; i < 1024; i++) this.clearPte(pt, i);
  }

  /** Unlinks a shadow page table from its root and recycles its page. */
  private freePt(pt: ShadowPt): void {
    if (!pt.live) return;
    this.zapPt(pt);
    pt.live = false;
    pt.root.pts[pt.index] = undefined;
    this.mem.write32(pt.root.page + 4 * pt.index, 0);
    this.freePages.push(pt.page);
    if (pt.source >= 0) {
      const t = this.tables.get(pt.source);
      if (t) {
        t.pts.delete(pt);
        this.untrackIfUnused(t);
      }
    }
  }

  /** Drops every shadow page table of a root (the root page stays, all its PDEs not present). */
  private zapRoot(root: ShadowRoot): void {
    for (const pt of root.pts) if (pt) this.freePt(pt);
  }

  /** Registers a guest page as a table some shadow derives from; write-protects it if new. */
  private track(gfn: number): GuestTable {
    let t = this.tables.get(gfn);
    if (!t) {
      t = { gfn, unsync: false, pts: new Set(), roots: new Set() };
      this.tables.set(gfn, t);
      this.writeProtect(gfn);
    }
    return t;
  }

  private untrackIfUnused(t: GuestTable): void {
    // An unsynchronized page stays known until the next CR3 load, so a shadow rebuilt from it in the
    // meantime does not protect it again (a PTE that maps its own page table would fault forever).
    if (!t.unsync && t.pts.size === 0 && t.roots.size === 0) this.tables.delete(t.gfn);
  }

  /**
   * Makes every shadow mapping of a guest frame read-only, and drops the VM's TLB entries that map
   * it (one may be writable even where the shadow entry is gone: the TLB keeps what it cached).
   */
  private writeProtect(gfn: number): void {
    const set = this.rmap.get(gfn);
    if (set) {
      for (const at of set) {
        const v = this.mem.read32(at);
        if (v & RW) this.mem.write32(at, (v & ~RW) >>> 0);
      }
    }
    const asid = this.asid();
    const hpa = gfn * PAGE;
    if (asid === undefined || !this.vm.memory.contains(hpa)) return;
    this.hv.machine.cpu.tlb.flushPhysicalPage(this.vm.memory.backing(hpa), asid);
  }

  private root(pdGfn: number, ctx: ExitContext): { root: ShadowRoot; built: boolean } {
    const cached = this.roots.get(pdGfn);
    if (cached) {
      this.roots.delete(pdGfn);
      this.roots.set(pdGfn, cached);
      this.stats.rootHits++;
      return { root: cached, built: false };
    }
    const root: ShadowRoot = { page: this.allocPage(), pd: pdGfn, pts: new Array(1024) };
    this.roots.set(pdGfn, root);
    this.track(pdGfn).roots.add(root);
    this.stats.rootBuilds++;
    ctx.charge(ctx.cost.hypervisor.shadowTableBuild);
    while (this.roots.size > ROOT_CACHE) {
      const [oldest] = this.roots.values();
      if (!oldest || oldest === root) break;
      this.evict(oldest);
    }
    return { root, built: true };
  }

  private evict(root: ShadowRoot, lru = true): void {
    this.zapRoot(root);
    this.roots.delete(root.pd);
    const t = this.tables.get(root.pd);
    if (t) {
      t.roots.delete(root);
      this.untrackIfUnused(t);
    }
    if (this.current === root) this.current = null;
    this.freePages.push(root.page);
    if (lru) this.stats.rootEvictions++;
  }

  /** The guest changed CR0.PG/WP/PE or CR4.PSE/PGE/PAE: start over (the TLB was flushed with it). */
  private reset(ctx: ExitContext): void {
    for (const root of [...this.roots.values()]) this.evict(root, false);
    this.tables.clear();
    this.unsynced.clear();
    this.rmap.clear();
    this.current = null;
    this.stats.resets++;
    if (this.guestPaging()) {
      const { root } = this.root(this.cr3 >>> 12, ctx);
      this.current = root;
      ctx.vmx.write(VMCS.GUEST_CR3, root.page);
      ctx.note(`guest paging on: shadow root ${hex8(root.page)} for CR3 ${hex8(this.cr3)}`);
    } else {
      ctx.vmx.write(VMCS.GUEST_CR3, this.identity!.page);
      ctx.note("guest paging off: identity shadow table");
    }
  }

  // ======================= the guest's page walk =======================

  private walkGuest(linear: number, write: boolean, user: boolean, fetch: boolean): WalkOutcome {
    const cr4 = this.guestCr4();
    const wp = (this.guestCr0() & CR0_WP) !== 0;
    const smep = (cr4 & CR4_SMEP) !== 0;
    const errBase = (write ? PFEC_W : 0) | (user ? PFEC_U : 0) | (fetch && smep ? PFEC_I : 0);
    const pdeGpa = ((this.cr3 & FRAME) | ((linear >>> 22) << 2)) >>> 0;
    const pdeAt = this.hostOf(pdeGpa);
    if (pdeAt < 0) return outside("page directory entry", pdeGpa, linear);
    const pde = this.mem.read32(pdeAt) >>> 0;
    if (!(pde & P)) return { kind: "fault", errorCode: errBase };
    const large = (pde & PS) !== 0 && (cr4 & CR4_PSE) !== 0;
    let pteGpa = -1;
    let pte = 0;
    let rw: number;
    let us: number;
    let frame: number;
    if (large) {
      rw = pde & RW;
      us = pde & US;
      frame = ((pde & LARGE_FRAME) | (linear & 0x003ff000)) >>> 0;
    } else {
      pteGpa = ((pde & FRAME) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
      const pteAt = this.hostOf(pteGpa);
      if (pteAt < 0) return outside("page table entry", pteGpa, linear);
      pte = this.mem.read32(pteAt) >>> 0;
      if (!(pte & P)) return { kind: "fault", errorCode: errBase };
      rw = pde & pte & RW;
      us = pde & pte & US;
      frame = (pte & FRAME) >>> 0;
    }
    const denied = (user && !us) || (write && !rw && (user || wp)) || (fetch && smep && !user && us);
    if (denied) return { kind: "fault", errorCode: errBase | PFEC_P };
    return { kind: "ok", walk: { pdeGpa, pde, pteGpa, pte, large, frame, rw: rw !== 0, us: us !== 0 } };
  }

  /** Sets A (and D for a write) in the guest's entries, as the processor's walk does. */
  private setAccessedDirty(w: GuestWalk, write: boolean): void {
    const want = A | (write ? D : 0);
    if (w.large) {
      if ((w.pde & want) !== want) {
        w.pde = (w.pde | want) >>> 0;
        this.mem.write32(this.hostOf(w.pdeGpa), w.pde);
      }
      return;
    }
    if (!(w.pde & A)) {
      w.pde = (w.pde | A) >>> 0;
      this.mem.write32(this.hostOf(w.pdeGpa), w.pde);
    }
    if ((w.pte & want) !== want) {
      w.pte = (w.pte | want) >>> 0;
      this.mem.write32(this.hostOf(w.pteGpa), w.pte);
    }
  }

  /** Whether a shadow page table still mirrors the guest PDE of its region. */
  private mirrors(pt: ShadowPt, gpde: number, cr4: number): boolean {
    if (!(gpde & P)) return false;
    const large = (gpde & PS) !== 0 && (cr4 & CR4_PSE) !== 0;
    if (pt.source === LARGE) return large && ((gpde ^ pt.gpde) & LARGE_KEY) === 0;
    return !large && (gpde & FRAME) >>> 0 === pt.source * PAGE && ((gpde ^ pt.gpde) & (RW | US)) === 0;
  }

  /** The shadow page table for a walk's region, rebuilt if the guest's PDE no longer matches it. */
  private shadowPt(root: ShadowRoot, linear: number, w: GuestWalk): ShadowPt {
    const index = linear >>> 22;
    let pt = root.pts[index];
    if (pt && !this.mirrors(pt, w.pde, this.guestCr4())) {
      this.freePt(pt);
      pt = undefined;
    }
    if (!pt) pt = this.newPt(root, index, w.large ? LARGE : (w.pde & FRAME) / PAGE, w.pde);
    pt.gpde = w.pde;
    return pt;
  }

  private isProtected(gfn: number): boolean {
    const t = this.tables.get(gfn);
    return t !== undefined && !t.unsync;
  }

  // ======================= exits =======================

  onPageFault(ctx: ExitContext): ExitAction {
    const linear = ctx.exit.qualification >>> 0;
    const err = ctx.exit.interruptionErrorCode;
    const write = (err & PFEC_W) !== 0;
    const user = (err & PFEC_U) !== 0;
    const fetch = (err & PFEC_I) !== 0;
    ctx.charge(ctx.cost.hypervisor.shadowPageFault);
    if (!this.guestPaging()) {
      // The identity map covers all of the guest's RAM: this address is outside it.
      return ctx.stopVm({
        kind: "error",
        diagnostic: `guest accessed guest-physical ${hex(linear)} (paging off), outside its ${this.vm.memory.size >>> 20} MiB of RAM (EIP ${hex(ctx.exit.guestRip)})`,
      });
    }
    const outcome = this.walkGuest(linear, write, user, fetch);
    if (outcome.kind === "error") return ctx.stopVm({ kind: "error", diagnostic: outcome.diagnostic });
    if (outcome.kind === "fault") return this.reflect(ctx, linear, outcome.errorCode);

    const w = outcome.walk;
    // The same fault again with no instruction retired since: the fill did not satisfy the access.
    const key = `${linear}:${err}:${ctx.exit.guestRip}:${ctx.cpu.instret}`;
    if (key === this.lastFault.key) {
      if (++this.lastFault.count >= LIVELOCK_LIMIT) {
        return ctx.stopVm({
          kind: "error",
          diagnostic: `shadow paging cannot resolve #PF at ${hex8(linear)} (error ${hex(err)}, EIP ${hex8(ctx.exit.guestRip)})`,
        });
      }
    } else this.lastFault = { key, count: 1 };
    if (!this.vm.memory.contains(w.frame)) {
      return ctx.stopVm({
        kind: "error",
        diagnostic: `guest maps linear ${hex8(linear)} to guest-physical ${hex(w.frame)}, outside its ${this.vm.memory.size >>> 20} MiB of RAM (EIP ${hex(ctx.exit.guestRip)})`,
      });
    }
    this.stats.hiddenFaults++;
    this.setAccessedDirty(w, write);
    const root = this.current ?? (this.current = this.root(this.cr3 >>> 12, ctx).root);
    const gfn = w.frame / PAGE;
    let pt = this.shadowPt(root, linear, w);
    let unprotected = "";
    if (write && this.isProtected(gfn)) {
      unprotected = this.unprotect(ctx, this.tables.get(gfn)!);
      pt = this.shadowPt(root, linear, w);
    }
    const cr4 = this.guestCr4();
    const wp = (this.guestCr0() & CR0_WP) !== 0;
    const leaf = w.large ? w.pde : w.pte;
    const hpa = this.vm.memory.backing(w.frame);
    let value = hpa | P | A | (leaf & (PWT | PCD));
    if (w.us) value |= US;
    if (leaf & G && cr4 & CR4_PGE) value |= G;
    let how: string;
    if (w.rw && leaf & D && !this.isProtected(gfn)) {
      value |= RW | D;
      how = "writable";
    } else if (write && !w.rw && !user && !wp) {
      // CR0.WP = 0: a supervisor write to a read-only page; writable for supervisor only.
      value = (value & ~US) | RW | D;
      how = "writable for supervisor only (guest CR0.WP = 0)";
    } else {
      how = !w.rw ? "read-only" : this.isProtected(gfn) ? "read-only (guest page table)" : "read-only until dirty";
    }
    this.setPte(pt, (linear >>> 12) & 0x3ff, value, gfn);
    if (noting(ctx))
      ctx.note(
        `${unprotected}hidden #PF: shadow PTE filled for ${hex8(linear)} -> gpa ${hex8(w.frame)}, ${how}${write ? ", guest D set" : ", guest A set"}`,
      );
    this.reinjectInterrupted(ctx);
    return "resume";
  }

  /**
   * A write to a write-protected guest page table: drop every shadow entry derived from it and let
   * the guest write it until the next CR3 load (unprotect-and-zap). Returns the start of the exit's
   * note ("" when nobody reads notes).
   */
  private unprotect(ctx: ExitContext, t: GuestTable): string {
    this.stats.tableWrites++;
    ctx.charge(ctx.cost.hypervisor.shadowPteWrite);
    t.unsync = true;
    this.unsynced.add(t);
    const pts = t.pts.size;
    const roots = t.roots.size;
    for (const pt of [...t.pts]) this.zapPt(pt);
    for (const root of [...t.roots]) this.zapRoot(root);
    if (!noting(ctx)) return "";
    const what = [
      pts ? `${pts} shadow page table${pts > 1 ? "s" : ""}` : "",
      roots ? `${roots} shadow root${roots > 1 ? "s" : ""}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    return `write to guest page table gpa ${hex8(t.gfn * PAGE)}: ${what} zapped, page unprotected until the next CR3 load; `;
  }

  /** Reflects a fault the guest's own tables raise (with the double-fault rules of event delivery). */
  private reflect(ctx: ExitContext, linear: number, errorCode: number): ExitAction {
    this.stats.guestFaults++;
    const info = ctx.exit.idtVectoringInfo;
    const type = (info >>> 8) & 7;
    const first = info & INTR_VALID && (type === 0 || type === 2 || type === 3) ? info & 0xff : -1;
    ctx.cpu.cr2 = linear;
    if (first === DOUBLE_FAULT) {
      return ctx.stopVm({
        kind: "shutdown",
        diagnostic: `triple fault: #PF(${hex(errorCode)}) at ${hex8(linear)} while delivering #DF at ${hex8(ctx.exit.guestRip)}; shutdown`,
      });
    }
    // #PF then #PF is a double fault; contributory or benign then #PF is handled serially.
    if (first === PAGE_FAULT) {
      injectException(ctx, DOUBLE_FAULT, 0);
      ctx.note(`guest #PF at ${hex8(linear)} while delivering vector ${first}: #DF injected`);
      return "resume";
    }
    injectException(ctx, PAGE_FAULT, errorCode);
    if (noting(ctx)) ctx.note(`guest #PF reflected (error ${hex(errorCode)}), CR2 = ${hex8(linear)}`);
    return "resume";
  }

  /** An event whose delivery the hidden fault interrupted is delivered again on the next entry. */
  private reinjectInterrupted(ctx: ExitContext): void {
    const info = ctx.exit.idtVectoringInfo;
    if (!(info & INTR_VALID)) return;
    const type = (info >>> 8) & 7;
    // INT n, INT3, INTO: GUEST_RIP is the instruction itself, which simply runs again.
    if (type !== 0 && type !== 2 && type !== 3) return;
    ctx.vmx.write(VMCS.VM_ENTRY_INTR_INFO_FIELD, (info & 0x80000fff) >>> 0);
    if (info & 0x800) ctx.vmx.write(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, ctx.vmx.read(VMCS.IDT_VECTORING_ERROR_CODE));
    if (noting(ctx)) ctx.note(`vector ${info & 0xff} re-injected (its delivery was interrupted)`);
  }

  onCrAccess(ctx: ExitContext): ExitAction {
    const { cr, access, gpr } = decodeCrQualification(ctx.exit.qualification);
    if (cr !== 3 || access > 1) return emulateCrAccess(ctx, this.policy);
    ctx.charge(ctx.cost.hypervisor.crAccess);
    if (access === 1) {
      if (gpr === 4) ctx.vmx.write(VMCS.GUEST_RSP, this.cr3);
      else ctx.cpu.regs[gpr] = this.cr3;
      skipInstruction(ctx);
      if (noting(ctx)) ctx.note(`MOV from CR3: guest CR3 ${hex8(this.cr3)}`);
      return "resume";
    }
    const value = (gpr === 4 ? ctx.vmx.read(VMCS.GUEST_RSP) : ctx.cpu.regs[gpr]!) >>> 0;
    return this.loadCr3(ctx, value);
  }

  private loadCr3(ctx: ExitContext, value: number): ExitAction {
    ctx.charge(ctx.cost.hypervisor.shadowCr3Switch);
    skipInstruction(ctx);
    this.cr3 = value;
    this.stats.cr3Loads++;
    // What MOV CR3 does to the TLB: every non-global translation of this address space goes.
    const keepGlobal = (this.guestCr4() & CR4_PGE) !== 0;
    const asid = this.asid();
    if (asid !== undefined) ctx.cpu.tlb.flushAsid(asid, keepGlobal);
    const resynced = this.resync();
    if (!this.guestPaging()) {
      if (noting(ctx)) ctx.note(`CR3 load ${hex8(value)} with guest paging off (TLB flushed)`);
      return "resume";
    }
    const { root, built } = this.root(value >>> 12, ctx);
    this.current = root;
    ctx.vmx.write(VMCS.GUEST_CR3, root.page);
    if (noting(ctx)) {
      const sync = resynced ? `, ${resynced} unprotected table${resynced > 1 ? "s" : ""} resynchronized` : "";
      ctx.note(
        `CR3 load ${hex8(value)}: ${built ? "new" : "cached"} shadow root ${hex8(root.page)}${sync}, TLB flushed${keepGlobal ? " (global pages kept)" : ""}`,
      );
    }
    return "resume";
  }

  /**
   * At a CR3 load: every guest table written since it was unprotected gets its derived shadow
   * entries compared with the guest's current entries (mismatches dropped) and is write-protected
   * again. Returns how many tables were resynchronized.
   */
  private resync(): number {
    const n = this.unsynced.size;
    if (n === 0) return 0;
    const cr4 = this.guestCr4();
    const list = [...this.unsynced];
    this.unsynced.clear();
    for (const t of list) {
      for (const root of [...t.roots]) this.resyncRoot(root, cr4);
      for (const pt of [...t.pts]) if (pt.live) this.resyncPt(pt, cr4);
    }
    for (const t of list) {
      t.unsync = false;
      if (t.pts.size === 0 && t.roots.size === 0) this.tables.delete(t.gfn);
      else this.writeProtect(t.gfn);
    }
    this.stats.resyncs += n;
    return n;
  }

  private readGuest(gpa: number): number {
    const at = this.hostOf(gpa);
    return at < 0 ? 0 : this.mem.read32(at) >>> 0;
  }

  private resyncRoot(root: ShadowRoot, cr4: number): void {
    for (const pt of root.pts) {
      if (!pt) continue;
      const gpde = this.readGuest(root.pd * PAGE + 4 * pt.index);
      // A cleared A bit must be set again by the next access, as the processor's walk would.
      const dirtyLost = pt.source === LARGE && pt.gpde & D && !(gpde & D);
      if (!this.mirrors(pt, gpde, cr4) || !(gpde & A) || dirtyLost) this.freePt(pt);
      else pt.gpde = gpde;
    }
  }

  private resyncPt(pt: ShadowPt, cr4: number): void {
    const base = pt.source * PAGE;
    for (let i = 0; i < 1024; i++) {
      const gfn = pt.gfns[i]!;
      if (gfn < 0) continue;
      const gpte = this.readGuest(base + 4 * i);
      const s = this.mem.read32(pt.page + 4 * i);
      const us = pt.gpde & gpte & US;
      const rw = pt.gpde & gpte & RW;
      const global = gpte & G && cr4 & CR4_PGE ? G : 0;
      const current =
        gpte & P &&
        gpte & A &&
        (gpte & FRAME) >>> 0 === gfn * PAGE &&
        (s & US) === us &&
        (s & G) === global &&
        (!(s & RW) || (rw && gpte & D));
      if (!current) this.clearPte(pt, i);
    }
  }

  onInvlpg(ctx: ExitContext): ExitAction {
    const linear = ctx.exit.qualification >>> 0;
    ctx.charge(ctx.cost.hypervisor.shadowInvlpg);
    skipInstruction(ctx);
    this.stats.invlpgs++;
    const tlb = ctx.cpu.tlb;
    const asid = this.asid();
    if (asid !== undefined) tlb.flushPage(linear, asid);
    const root = this.current;
    if (!this.guestPaging() || !root) {
      if (noting(ctx)) ctx.note(`INVLPG ${hex8(linear)} with guest paging off: TLB entry dropped`);
      return "resume";
    }
    const cr4 = this.guestCr4();
    const index = linear >>> 22;
    const gpde = this.readGuest(((this.cr3 & FRAME) | (index << 2)) >>> 0);
    const pt = root.pts[index];
    const guestLarge = (gpde & (P | PS)) === (P | PS) && (cr4 & CR4_PSE) !== 0;
    const large = pt?.source === LARGE || guestLarge;
    if (large && asid !== undefined) {
      // A 4 MiB guest page is cached as 4 KiB pieces: INVLPG of any address in it drops all of them.
      const first = linear & LARGE_FRAME;
      for (let k = 0; k < 1024; k++) tlb.flushPage((first + k * PAGE) >>> 0, asid);
    }
    let what = "no shadow entry";
    if (pt) {
      if (!this.mirrors(pt, gpde, cr4)) {
        this.freePt(pt);
        what = "guest PDE changed: shadow page table dropped";
      } else if (pt.source === LARGE) {
        this.zapPt(pt);
        what = "shadow entries of the 4 MiB page dropped";
      } else {
        this.clearPte(pt, (linear >>> 12) & 0x3ff);
        what = "shadow PTE dropped";
      }
    }
    if (noting(ctx)) ctx.note(`INVLPG ${hex8(linear)}: ${what}`);
    return "resume";
  }
}

function outside(what: string, gpa: number, linear: number): WalkOutcome {
  return {
    kind: "error",
    diagnostic: `guest ${what} for linear ${hex8(linear)} is at guest-physical ${hex(gpa)}, outside the VM's RAM`,
  };
}
