// A small hypervisor in TypeScript for the EPT / VPID / timer / event / walk tests: it builds a
// Machine in VMX root operation with host paging, one (or more) VMCS for a flat 32-bit guest, an EPT
// builder, optional guest page tables, a guest GDT and an IDT whose every vector points at its own
// `vmcall; iret` stub (so a VMCALL exit with GUEST_RIP = stubFor(v) says "vector v reached the
// guest's handler"). Everything goes through machine.vmx (the TypeScript API).
//
// Physical layout (guest-physical = host-physical wherever the identity EPT maps it):
//   0x001000 host page directory (4 MiB pages, identity)   0x002000 VMXON region
//   0x003000 VMCS   0x004000 second VMCS   0x006000-0x008000 host stack   0x009000 host code
//   0x020000 guest GDT   0x021000 guest IDT   0x022000 IDT stubs   0x02f000 guest stack page (top 0x30000)
//   0x040000 guest page directory   0x041000.. guest page tables
//   0x080000-0x0bffff EPT paging structures (bump-allocated)   0x0c0000-0x0fffff a second EPT
//   0x100000 guest code   0x300000.. data pages the tests probe
import { assembleOrThrow } from "../../src/index.js";
import { Machine } from "../../src/machine.js";
import {
  ENTRY_CONTROLS,
  EXIT_CONTROLS,
  PIN_CONTROLS,
  PROC_CONTROLS,
  VMCS_REVISION_ID,
} from "../../src/vmx/capabilities.js";
import * as C from "../../src/vmx/controls.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import type { VmExitInfo, VmxResult } from "../../src/vmx/vmx.js";

export const HOST_PD = 0x1000;
export const VMXON_REGION = 0x2000;
export const VMCS_REGION = 0x3000;
export const VMCS_REGION2 = 0x4000;
export const HOST_STACK_TOP = 0x8000;
export const HOST_CODE = 0x9000;
export const GUEST_GDT = 0x20000;
export const GUEST_IDT = 0x21000;
export const IDT_STUBS = 0x22000;
export const GUEST_STACK_TOP = 0x30000;
export const GUEST_PD = 0x40000;
export const GUEST_PT = 0x41000;
export const EPT_AREA = 0x80000;
/** The default EPT builder's area ends here; a second EPT can be built from EPT_AREA2. */
export const EPT_AREA_END = 0xc0000;
export const EPT_AREA2 = 0xc0000;
export const GUEST_CODE = 0x100000;
export const DATA = 0x300000;

/** HOST_CR0: PG | NE | ET | PE. */
export const HOST_CR0 = 0x80000031;
/** HOST_CR4: VMXE | PSE. */
export const HOST_CR4 = 0x2010;
/** Guest CR0 without paging (unrestricted guest): NE | ET | PE. */
export const GUEST_CR0_FLAT = 0x31;
/** Guest CR0 with paging. */
export const GUEST_CR0_PAGED = 0x80000031;
export const CR4_VMXE = 0x2000;
export const CR4_PSE = 0x10;
export const CR4_PGE = 0x80;

/** EPT permission bits and the write-back memory type of a leaf entry. */
export const R = 1;
export const W = 2;
export const X = 4;
export const RWX = 7;
export const WB = 6 << 3;

/** Guest (32-bit paging) entry bits. */
export const P = 1;
export const RW = 2;
export const US = 4;
export const A = 0x20;
export const D = 0x40;
export const PS = 0x80;
export const G = 0x100;

/** The address of the IDT stub of vector v (`vmcall; iret`, 8 bytes apart). */
export function stubFor(vector: number): number {
  return IDT_STUBS + vector * 8;
}

/** Four-level EPT built in guest-visible memory from a bump allocator. */
export class EptBuilder {
  private next: number;
  readonly pml4: number;

  constructor(
    private readonly m: Machine,
    base = EPT_AREA,
    private readonly limit = EPT_AREA_END,
  ) {
    this.next = base;
    this.pml4 = this.alloc();
  }

  private alloc(): number {
    const page = this.next;
    if (page >= this.limit) throw new Error("EPT area exhausted");
    this.next += 0x1000;
    this.m.memory.u8.fill(0, page, page + 0x1000);
    return page;
  }

  /** EPTP: PML4 address, WB, walk length 4, A/D flags when asked. */
  eptp(accessedDirty = false): number {
    return this.pml4 | 6 | (3 << 3) | (accessedDirty ? 0x40 : 0);
  }

  private table(parent: number, index: number): number {
    const at = parent + index * 8;
    const lo = this.m.memory.read32(at) >>> 0;
    if (lo & 7) return lo & ~0xfff;
    const t = this.alloc();
    this.m.memory.write32(at, t | RWX);
    this.m.memory.write32(at + 4, 0);
    return t;
  }

  /** Host-physical address of the entry for gpa at `level` (4 = PML4E ... 1 = PTE), creating tables above it. */
  entryAddress(level: number, gpa: number): number {
    let t = this.pml4;
    for (let l = 4; l > level; l--) t = this.table(t, index(l, gpa));
    return t + index(level, gpa) * 8;
  }

  setEntry(level: number, gpa: number, lo: number, hi = 0): void {
    const at = this.entryAddress(level, gpa);
    this.m.memory.write32(at, lo);
    this.m.memory.write32(at + 4, hi);
  }

  entry(level: number, gpa: number): number {
    return this.m.memory.read32(this.entryAddress(level, gpa)) >>> 0;
  }

  map4k(gpa: number, hpa: number, perms = RWX, memType = WB): void {
    this.setEntry(1, gpa, (hpa & ~0xfff) | memType | perms);
  }

  map2m(gpa: number, hpa: number, perms = RWX, memType = WB): void {
    this.setEntry(2, gpa, (hpa & ~0x1fffff) | 0x80 | memType | perms);
  }

  /** Identity-maps [from, to) with 4 KiB pages. */
  identity4k(from: number, to: number, perms = RWX): void {
    for (let a = from; a < to; a += 0x1000) this.map4k(a, a, perms);
  }

  /** Identity-maps [from, to) with 2 MiB pages. */
  identity2m(from: number, to: number, perms = RWX): void {
    for (let a = from; a < to; a += 0x200000) this.map2m(a, a, perms);
  }

  /** The low dwords of the entries the walk for gpa uses, PML4E first. */
  walk(gpa: number): number[] {
    const out: number[] = [];
    let t = this.pml4;
    for (let l = 4; l >= 1; l--) {
      const lo = this.m.memory.read32(t + index(l, gpa) * 8) >>> 0;
      out.push(lo);
      if (l === 1 || lo & 0x80 || !(lo & 7)) break;
      t = lo & ~0xfff;
    }
    return out;
  }
}

function index(level: number, gpa: number): number {
  return level === 4 ? 0 : (gpa >>> [0, 12, 21, 30][level]!) & 0x1ff;
}

/** 32-bit guest page tables: a page directory at GUEST_PD and page tables after it. */
export class GuestPaging {
  private nextTable = GUEST_PT;

  constructor(
    private readonly m: Machine,
    readonly pd = GUEST_PD,
  ) {
    m.memory.u8.fill(0, pd, pd + 0x1000);
  }

  private pdeAt(linear: number): number {
    return this.pd + (linear >>> 22) * 4;
  }

  /** Guest-physical address of the PTE of `linear` (its page table must exist). */
  pteAddress(linear: number): number {
    const pde = this.m.memory.read32(this.pdeAt(linear)) >>> 0;
    return (pde & ~0xfff) + ((linear >>> 12) & 0x3ff) * 4;
  }

  pdeAddress(linear: number): number {
    return this.pdeAt(linear);
  }

  /** Maps one 4 KiB page; the page table gets PDE flags `pdeFlags`. */
  map4k(linear: number, phys: number, flags = P | RW | US | A | D, pdeFlags = P | RW | US | A): void {
    const at = this.pdeAt(linear);
    let pde = this.m.memory.read32(at) >>> 0;
    if (!(pde & P)) {
      const t = this.nextTable;
      this.nextTable += 0x1000;
      this.m.memory.u8.fill(0, t, t + 0x1000);
      pde = t | pdeFlags;
      this.m.memory.write32(at, pde);
    }
    this.m.memory.write32(this.pteAddress(linear), (phys & ~0xfff) | flags);
  }

  /** Maps one 4 MiB page (needs CR4.PSE). */
  map4m(linear: number, phys: number, flags = P | RW | US | A | D): void {
    this.m.memory.write32(this.pdeAt(linear), (phys & 0xffc00000) | PS | flags);
  }

  identity4k(from: number, to: number, flags = P | RW | US | A | D): void {
    for (let a = from; a < to; a += 0x1000) this.map4k(a, a, flags);
  }
}

export interface SetupOptions {
  memoryMiB?: number;
  /** Extra pin-based / primary / secondary / exit / entry controls. */
  pin?: number;
  proc?: number;
  proc2?: number;
  exit?: number;
  entry?: number;
  /** EPT on (default true; also turns on "unrestricted guest" unless paging is on). */
  ept?: boolean;
  /** EPTP bit 6. */
  accessedDirty?: boolean;
  /** VPID (sets "enable VPID" when given). */
  vpid?: number;
  /** Guest paging (2-level, identity 0-4 MiB with 4 KiB pages, 4-8 MiB 4 KiB pages too). */
  paging?: boolean;
  /** Guest code (NASM syntax, `bits 32` and `org GUEST_CODE` are prepended). */
  code?: string;
  /** Skip the default identity EPT map (the test builds its own). */
  emptyEpt?: boolean;
  /** RFLAGS for the guest (default 2). */
  rflags?: number;
}

export interface Setup {
  m: Machine;
  ept: EptBuilder;
  paging: GuestPaging | null;
  symbols: Map<string, number>;
  /** Reads a VMCS field of the current VMCS. */
  read(field: number): number;
  write(field: number, value: number): void;
  launch(): VmxResult;
  resume(): VmxResult;
  /** Runs the guest until something stops the CPU (exit, limit). Throws if it is not a VM exit. */
  runToExit(maxCycles?: number): VmExitInfo;
  /** Skips the instruction that exited (GUEST_RIP += VM_EXIT_INSTRUCTION_LEN). */
  skip(): void;
  /** A label of the guest code. */
  sym(name: string): number;
}

/** Assembles guest code at GUEST_CODE (or `origin`) and writes it there. */
export function loadCode(m: Machine, code: string, origin = GUEST_CODE): Map<string, number> {
  const r = assembleOrThrow(`bits 32\norg ${origin}\n${code}\n`);
  m.memory.writeBytes(origin, r.bytes);
  return r.symbols;
}

function writeDescriptor(m: Machine, at: number, lo: number, hi: number): void {
  m.memory.write32(at, lo);
  m.memory.write32(at + 4, hi);
}

/** Guest GDT (null, flat code 0x08, flat data 0x10, TSS 0x18) and IDT (256 interrupt gates to the stubs). */
export function writeGuestTables(m: Machine): void {
  m.memory.u8.fill(0, GUEST_GDT, GUEST_GDT + 0x20);
  writeDescriptor(m, GUEST_GDT + 0x08, 0x0000ffff, 0x00cf9b00);
  writeDescriptor(m, GUEST_GDT + 0x10, 0x0000ffff, 0x00cf9300);
  writeDescriptor(m, GUEST_GDT + 0x18, 0x00000067, 0x00008b00);
  for (let v = 0; v < 256; v++) {
    const handler = stubFor(v);
    writeDescriptor(m, GUEST_IDT + v * 8, (0x08 << 16) | (handler & 0xffff), (handler & 0xffff0000) | 0x8e00);
    // vmcall (0F 01 C1); iret (CF); padding
    m.memory.writeBytes(handler, Uint8Array.of(0x0f, 0x01, 0xc1, 0xcf, 0x90, 0x90, 0x90, 0x90));
  }
}

/** Puts the CPU in the state the host runs in: paging with 4 MiB identity pages, CR4.VMXE, VMXON done. */
export function enterRootOperation(m: Machine): void {
  const cpu = m.cpu;
  const mib = m.memory.size >>> 20;
  for (let k = 0; k < 1024; k++) m.memory.write32(HOST_PD + k * 4, k * 4 < mib ? ((k << 22) | 0x83) >>> 0 : 0);
  cpu.cr4 = HOST_CR4;
  cpu.cr3 = HOST_PD;
  cpu.cr0 = HOST_CR0 | 0;
  cpu.featureControl = 5;
  cpu.regs[4] = HOST_STACK_TOP;
  cpu.tlb.flushAll();
  cpu.updateAccessMasks();
  m.memory.write32(VMXON_REGION, VMCS_REVISION_ID);
  expectOk(m.vmx.vmxon(VMXON_REGION), "VMXON");
  // Host code: a HLT with IF = 0 stops Machine.run() if the host is ever resumed at HOST_RIP.
  m.memory.writeBytes(HOST_CODE, Uint8Array.of(0xf4));
}

export function expectOk(r: VmxResult, what: string): void {
  if (!r.ok) throw new Error(`${what} failed: ${JSON.stringify(r)}`);
}

/** Fills the current VMCS with host state, a flat guest and the controls asked for. */
export function fillVmcs(m: Machine, o: SetupOptions, eptp: number, paging: boolean): void {
  const vmx = m.vmx;
  const w = (f: number, v: number) => expectOk(vmx.vmwrite(f, v >>> 0), `VMWRITE 0x${f.toString(16)}`);
  const eptOn = o.ept ?? true;
  let proc2 = o.proc2 ?? 0;
  if (eptOn) proc2 |= C.SECONDARY_EXEC_ENABLE_EPT | (paging ? 0 : C.SECONDARY_EXEC_UNRESTRICTED_GUEST);
  if (o.vpid !== undefined) proc2 |= C.SECONDARY_EXEC_ENABLE_VPID;
  const proc = PROC_CONTROLS.mustBeOne | (o.proc ?? 0) | (proc2 ? C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS : 0);
  w(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_CONTROLS.mustBeOne | (o.pin ?? 0));
  w(VMCS.CPU_BASED_VM_EXEC_CONTROL, proc);
  w(VMCS.SECONDARY_VM_EXEC_CONTROL, proc2);
  w(VMCS.VM_EXIT_CONTROLS, EXIT_CONTROLS.mustBeOne | (o.exit ?? 0));
  w(VMCS.VM_ENTRY_CONTROLS, ENTRY_CONTROLS.mustBeOne | (o.entry ?? 0));
  w(VMCS.EXCEPTION_BITMAP, 0);
  w(VMCS.PAGE_FAULT_ERROR_CODE_MASK, 0);
  w(VMCS.PAGE_FAULT_ERROR_CODE_MATCH, 0);
  w(VMCS.CR3_TARGET_COUNT, 0);
  w(VMCS.VM_ENTRY_INTR_INFO_FIELD, 0);
  if (eptOn) w(VMCS.EPT_POINTER, eptp);
  if (o.vpid !== undefined) w(VMCS.VIRTUAL_PROCESSOR_ID, o.vpid);
  // Host state.
  w(VMCS.HOST_CR0, HOST_CR0);
  w(VMCS.HOST_CR3, HOST_PD);
  w(VMCS.HOST_CR4, HOST_CR4);
  w(VMCS.HOST_CS_SELECTOR, 0x08);
  for (const f of [VMCS.HOST_SS_SELECTOR, VMCS.HOST_DS_SELECTOR, VMCS.HOST_ES_SELECTOR]) w(f, 0x10);
  w(VMCS.HOST_FS_SELECTOR, 0x10);
  w(VMCS.HOST_GS_SELECTOR, 0x10);
  w(VMCS.HOST_TR_SELECTOR, 0x18);
  w(VMCS.HOST_RSP, HOST_STACK_TOP);
  w(VMCS.HOST_RIP, HOST_CODE);
  // Guest state: flat protected mode.
  w(VMCS.GUEST_CR0, paging ? GUEST_CR0_PAGED : GUEST_CR0_FLAT);
  w(VMCS.GUEST_CR3, paging ? GUEST_PD : 0);
  w(VMCS.GUEST_CR4, CR4_VMXE | (paging ? CR4_PSE : 0));
  const segs: [number, number, number, number, number][] = [
    [VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_AR_BYTES, 0x10],
    [VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_BASE, VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_AR_BYTES, 0x08],
    [VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_AR_BYTES, 0x10],
    [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_AR_BYTES, 0x10],
    [VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_BASE, VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_AR_BYTES, 0x10],
    [VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_BASE, VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_AR_BYTES, 0x10],
  ];
  for (const [sel, base, limit, ar, value] of segs) {
    w(sel, value);
    w(base, 0);
    w(limit, 0xffffffff);
    w(ar, value === 0x08 ? 0xc09b : 0xc093);
  }
  w(VMCS.GUEST_LDTR_SELECTOR, 0);
  w(VMCS.GUEST_LDTR_AR_BYTES, 0x10000);
  w(VMCS.GUEST_TR_SELECTOR, 0x18);
  w(VMCS.GUEST_TR_BASE, 0);
  w(VMCS.GUEST_TR_LIMIT, 0x67);
  w(VMCS.GUEST_TR_AR_BYTES, 0x8b);
  w(VMCS.GUEST_GDTR_BASE, GUEST_GDT);
  w(VMCS.GUEST_GDTR_LIMIT, 0x1f);
  w(VMCS.GUEST_IDTR_BASE, GUEST_IDT);
  w(VMCS.GUEST_IDTR_LIMIT, 0x7ff);
  w(VMCS.GUEST_RSP, GUEST_STACK_TOP);
  w(VMCS.GUEST_RIP, GUEST_CODE);
  w(VMCS.GUEST_RFLAGS, o.rflags ?? 2);
  w(VMCS.GUEST_INTERRUPTIBILITY_INFO, 0);
  w(VMCS.GUEST_ACTIVITY_STATE, 0);
  w(VMCS.VMCS_LINK_POINTER, 0xffffffff);
  w(VMCS.VMCS_LINK_POINTER + 1, 0xffffffff);
}

/** A machine in VMX root operation with a current, filled VMCS and guest memory ready. */
export function setup(o: SetupOptions = {}): Setup {
  const m = new Machine({ memoryMiB: o.memoryMiB ?? 16 });
  enterRootOperation(m);
  writeGuestTables(m);
  const ept = new EptBuilder(m);
  if (!o.emptyEpt) ept.identity4k(0, 0x800000);
  let paging: GuestPaging | null = null;
  if (o.paging) {
    paging = new GuestPaging(m);
    paging.identity4k(0, 0x800000);
  }
  const symbols = o.code !== undefined ? loadCode(m, o.code) : new Map<string, number>();
  m.memory.write32(VMCS_REGION, VMCS_REVISION_ID);
  expectOk(m.vmx.vmclear(VMCS_REGION), "VMCLEAR");
  expectOk(m.vmx.vmptrld(VMCS_REGION), "VMPTRLD");
  fillVmcs(m, o, ept.eptp(o.accessedDirty ?? false), o.paging ?? false);
  const s: Setup = {
    m,
    ept,
    paging,
    symbols,
    read: (f) => m.vmx.read(f),
    write: (f, v) => m.vmx.write(f, v >>> 0),
    launch: () => m.vmx.launch(),
    resume: () => m.vmx.resume(),
    runToExit(maxCycles = 50_000_000) {
      const r = m.run({ maxCycles });
      if (r.kind !== "vmexit") throw new Error(`expected a VM exit, got ${JSON.stringify(r)}`);
      return m.vmx.exitInfo();
    },
    skip() {
      s.write(VMCS.GUEST_RIP, s.read(VMCS.GUEST_RIP) + s.read(VMCS.VM_EXIT_INSTRUCTION_LEN));
    },
    sym(name) {
      const v = symbols.get(name);
      if (v === undefined) throw new Error(`no guest label '${name}'`);
      return v;
    },
  };
  return s;
}

/** Launches and runs to the first exit. */
export function launchToExit(s: Setup): VmExitInfo {
  expectOk(s.launch(), "VMLAUNCH");
  return s.runToExit();
}

/** Resumes and runs to the next exit. */
export function resumeToExit(s: Setup): VmExitInfo {
  expectOk(s.resume(), "VMRESUME");
  return s.runToExit();
}

/**
 * Runs host code (assembled at HOST_CODE + 0x100) in root operation until it writes to port 0xF4.
 * The general registers are shared with the guest (a VM exit saves none of them), so they are saved
 * around the host code and restored; the host's final registers are returned.
 */
export function runHost(s: Setup, code: string): Int32Array {
  const at = HOST_CODE + 0x100;
  loadCode(s.m, `${code}\nout 0xf4, al\n`, at);
  const cpu = s.m.cpu;
  const saved = cpu.regs.slice();
  cpu.eip = at;
  const r = s.m.run({ maxCycles: 1_000_000 });
  if (r.kind !== "debug-exit") throw new Error(`host code did not finish: ${JSON.stringify(r)}`);
  const host = cpu.regs.slice();
  cpu.regs.set(saved);
  return host;
}

export * as C from "../../src/vmx/controls.js";
/** VMX exit reasons used here. */
export { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
export { VMCS } from "../../src/vmx/vmcs-fields.js";
