// Shared set-up for the VMX tests (and for anyone who needs a VMCS that enters): a fixed physical
// memory layout, an EPT identity map, a host page directory, and one "standard" VMCS — flat 32-bit
// protected-mode guest with paging off under unrestricted guest + EPT, host state that passes every
// VM-entry check — expressed as a list of (encoding, value) pairs so that the TypeScript API and an
// assembly hypervisor (harness.asm) can write exactly the same VMCS.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "../../src/asm/index.js";
import type { StopReason } from "../../src/cpu/stop.js";
import { Machine } from "../../src/machine.js";
import { VMCS_REVISION_ID } from "../../src/vmx/capabilities.js";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import type { VmxResult } from "../../src/vmx/vmx.js";

export const HERE = dirname(fileURLToPath(import.meta.url));

/** Physical memory layout shared by the tests and harness.asm (keep the two in sync). */
export const L = {
  /** Top of the host stack (assembly hypervisors). */
  HOST_STACK: 0x90000,
  /** Assembly hypervisors are assembled with `org 0x100000`. */
  HV: 0x100000,
  VMXON: 0x200000,
  VMCS: 0x201000,
  /** A second VMCS region (life-cycle tests). */
  VMCS2: 0x202000,
  EPT_PML4: 0x203000,
  EPT_PDPT: 0x204000,
  EPT_PD: 0x205000,
  /** Host page directory: 4 MiB identity pages. */
  HOST_PD: 0x206000,
  IO_BITMAP_A: 0x207000,
  IO_BITMAP_B: 0x208000,
  MSR_BITMAP: 0x209000,
  /** VM-entry / VM-exit MSR lists. */
  MSR_AREA: 0x20a000,
  /** (encoding, value) pairs for harness.asm, terminated by encoding 0xFFFFFFFF. */
  FIELDS: 0x20c000,
  /** Exit records written by harness.asm (RECORD_SIZE bytes each). */
  RECORDS: 0x210000,
  /** Guest code is assembled with `org 0x300000`. */
  GUEST: 0x300000,
  GUEST_STACK: 0x380000,
  /** Scratch data for guests (page tables, IDT, ...). */
  GUEST_DATA: 0x390000,
} as const;

/** Memory of the test machines; the EPT identity map covers EPT_MIB of it. */
export const MEMORY_MIB = 32;
export const EPT_MIB = 16;
/** EPTP: PML4 address, write-back (6), 4-level walk (3 << 3). */
export const EPTP = L.EPT_PML4 | 6 | (3 << 3);
/** A 2 MiB EPT leaf: read/write/execute, write-back memory type, large page. */
export const EPT_LARGE_RWX_WB = 0x7 | (6 << 3) | 0x80;

export const HOST_CR0 = 0x80000031; // PG | NE | ET | PE
export const HOST_CR4 = 0x2010; // VMXE | PSE
export const GUEST_CR0 = 0x31; // NE | ET | PE: paging off (unrestricted guest)
export const GUEST_CR4 = 0x2000; // VMXE (fixed to 1 in VMX operation)

const TRUE_PINBASED = 0x48d;
const TRUE_PROCBASED = 0x48e;
const TRUE_EXIT = 0x48f;
const TRUE_ENTRY = 0x490;

export function newMachine(): Machine {
  return new Machine({ memoryMiB: MEMORY_MIB });
}

/** The allowed-0 settings (bits that must be 1) of a TRUE capability MSR. */
export function mustBeOne(machine: Machine, msr: number): number {
  return machine.cpu.readMsr(msr)![0] >>> 0;
}

/** EPT identity map of [0, mib) MiB with 2 MiB pages; the rest of the guest-physical space unmapped. */
export function buildEpt(machine: Machine, mib = EPT_MIB): void {
  const m = machine.memory;
  for (const page of [L.EPT_PML4, L.EPT_PDPT, L.EPT_PD]) m.u8.fill(0, page, page + 0x1000);
  m.write32(L.EPT_PML4, L.EPT_PDPT | 7);
  m.write32(L.EPT_PDPT, L.EPT_PD | 7);
  for (let k = 0; k < mib / 2; k++) m.write32(L.EPT_PD + 8 * k, (k << 21) | EPT_LARGE_RWX_WB);
}

/** Maps the 2 MiB guest-physical page holding `gpa` (identity), as an EPT-violation handler would. */
export function eptMap(machine: Machine, gpa: number): void {
  const base = (gpa & ~0x1fffff) >>> 0;
  machine.memory.write32(L.EPT_PD + 8 * (base >>> 21), base | EPT_LARGE_RWX_WB);
}

/** Host page directory: identity map of the first 32 MiB with 4 MiB pages. */
export function buildHostPaging(machine: Machine): void {
  const m = machine.memory;
  m.u8.fill(0, L.HOST_PD, L.HOST_PD + 0x1000);
  for (let k = 0; k < 8; k++) m.write32(L.HOST_PD + 4 * k, (k << 22) | 0x83);
}

/** Writes the revision identifier into a VMXON/VMCS region (and clears the rest of the page). */
export function initRegion(machine: Machine, address: number, revision = VMCS_REVISION_ID): void {
  machine.memory.u8.fill(0, address, address + 0x1000);
  machine.memory.write32(address, revision);
}

export interface Controls {
  /** Bits ORed into the must-be-one bits of the TRUE capability MSRs. */
  pin?: number;
  proc?: number;
  /** SECONDARY_VM_EXEC_CONTROL (default EPT | unrestricted guest); activate-secondary is set when nonzero. */
  proc2?: number;
  exit?: number;
  entry?: number;
}

export interface VmcsOptions extends Controls {
  guestRip: number;
  guestRsp?: number;
  guestCr0?: number;
  guestCr3?: number;
  guestCr4?: number;
  guestRflags?: number;
  hostRip?: number;
  hostRsp?: number;
  exceptionBitmap?: number;
  vpid?: number;
}

export type Fields = [encoding: number, value: number][];

/** The control words of a standard VMCS. */
export function controlFields(machine: Machine, c: Controls): Fields {
  const proc2 = c.proc2 ?? C.SECONDARY_EXEC_ENABLE_EPT | C.SECONDARY_EXEC_UNRESTRICTED_GUEST;
  const proc =
    mustBeOne(machine, TRUE_PROCBASED) | (c.proc ?? 0) | (proc2 !== 0 ? C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS : 0);
  return [
    [VMCS.PIN_BASED_VM_EXEC_CONTROL, mustBeOne(machine, TRUE_PINBASED) | (c.pin ?? 0)],
    [VMCS.CPU_BASED_VM_EXEC_CONTROL, proc >>> 0],
    [VMCS.SECONDARY_VM_EXEC_CONTROL, proc2],
    [VMCS.VM_EXIT_CONTROLS, mustBeOne(machine, TRUE_EXIT) | (c.exit ?? 0)],
    [VMCS.VM_ENTRY_CONTROLS, mustBeOne(machine, TRUE_ENTRY) | (c.entry ?? 0)],
  ];
}

/** Host state: flat 32-bit ring 0, paging on with HOST_PD (what harness.asm sets up for itself). */
export function hostFields(rip: number, rsp: number): Fields {
  return [
    [VMCS.HOST_CR0, HOST_CR0],
    [VMCS.HOST_CR3, L.HOST_PD],
    [VMCS.HOST_CR4, HOST_CR4],
    [VMCS.HOST_CS_SELECTOR, 0x08],
    [VMCS.HOST_SS_SELECTOR, 0x10],
    [VMCS.HOST_DS_SELECTOR, 0x10],
    [VMCS.HOST_ES_SELECTOR, 0x10],
    [VMCS.HOST_FS_SELECTOR, 0x10],
    [VMCS.HOST_GS_SELECTOR, 0x10],
    [VMCS.HOST_TR_SELECTOR, 0x18],
    [VMCS.HOST_RSP, rsp],
    [VMCS.HOST_RIP, rip],
  ];
}

/** Guest state: flat protected mode, CPL 0, the boot GDT's selectors, interrupts off. */
export function guestFields(o: VmcsOptions): Fields {
  const f: Fields = [
    [VMCS.GUEST_CR0, o.guestCr0 ?? GUEST_CR0],
    [VMCS.GUEST_CR3, o.guestCr3 ?? 0],
    [VMCS.GUEST_CR4, o.guestCr4 ?? GUEST_CR4],
  ];
  const segs = [
    [VMCS.GUEST_ES_SELECTOR, 0x10, 0xc093],
    [VMCS.GUEST_CS_SELECTOR, 0x08, 0xc09b],
    [VMCS.GUEST_SS_SELECTOR, 0x10, 0xc093],
    [VMCS.GUEST_DS_SELECTOR, 0x10, 0xc093],
    [VMCS.GUEST_FS_SELECTOR, 0x10, 0xc093],
    [VMCS.GUEST_GS_SELECTOR, 0x10, 0xc093],
  ] as const;
  // Selector, base, limit and access rights are at the same index in their four field groups.
  for (const [sel, selector, ar] of segs) {
    const k = sel - VMCS.GUEST_ES_SELECTOR;
    f.push([sel, selector], [VMCS.GUEST_ES_BASE + k, 0], [VMCS.GUEST_ES_LIMIT + k, 0xffffffff]);
    f.push([VMCS.GUEST_ES_AR_BYTES + k, ar]);
  }
  f.push(
    [VMCS.GUEST_LDTR_SELECTOR, 0],
    [VMCS.GUEST_LDTR_AR_BYTES, 0x10000],
    [VMCS.GUEST_TR_SELECTOR, 0x18],
    [VMCS.GUEST_TR_BASE, 0],
    [VMCS.GUEST_TR_LIMIT, 0x67],
    [VMCS.GUEST_TR_AR_BYTES, 0x8b],
    [VMCS.GUEST_GDTR_BASE, 0],
    [VMCS.GUEST_GDTR_LIMIT, 0],
    [VMCS.GUEST_IDTR_BASE, 0],
    [VMCS.GUEST_IDTR_LIMIT, 0],
    [VMCS.GUEST_RFLAGS, o.guestRflags ?? 2],
    [VMCS.GUEST_RSP, o.guestRsp ?? L.GUEST_STACK],
    [VMCS.GUEST_RIP, o.guestRip],
    [VMCS.GUEST_ACTIVITY_STATE, 0],
    [VMCS.GUEST_INTERRUPTIBILITY_INFO, 0],
    [VMCS.VMCS_LINK_POINTER, 0xffffffff],
    [VMCS.VMCS_LINK_POINTER + 1, 0xffffffff],
  );
  return f;
}

/** Every field of the standard VMCS (controls, execution-control fields, host and guest state). */
export function standardFields(machine: Machine, o: VmcsOptions): Fields {
  return [
    ...controlFields(machine, o),
    [VMCS.EXCEPTION_BITMAP, o.exceptionBitmap ?? 0],
    [VMCS.IO_BITMAP_A, L.IO_BITMAP_A],
    [VMCS.IO_BITMAP_B, L.IO_BITMAP_B],
    [VMCS.MSR_BITMAP, L.MSR_BITMAP],
    [VMCS.EPT_POINTER, EPTP],
    [VMCS.EPT_POINTER + 1, 0],
    [VMCS.VIRTUAL_PROCESSOR_ID, o.vpid ?? 1],
    ...hostFields(o.hostRip ?? 0, o.hostRsp ?? L.HOST_STACK),
    ...guestFields(o),
  ];
}

/** Writes fields through the VMWRITE API; throws on the first failure. */
export function applyFields(machine: Machine, fields: Fields): void {
  for (const [encoding, value] of fields) {
    const r = machine.vmx.vmwrite(encoding, value >>> 0);
    if (!r.ok) throw new Error(`VMWRITE 0x${encoding.toString(16)} failed: ${JSON.stringify(r)}`);
  }
}

/** Clears the bitmaps, builds EPT and host paging, writes the revision into the VMXON region and VMCS. */
export function prepareMemory(machine: Machine): void {
  buildEpt(machine);
  buildHostPaging(machine);
  for (const page of [L.IO_BITMAP_A, L.IO_BITMAP_B, L.MSR_BITMAP, L.MSR_AREA])
    machine.memory.u8.fill(0, page, page + 0x1000);
  initRegion(machine, L.VMXON);
  initRegion(machine, L.VMCS);
}

/** Assembles a guest (org L.GUEST unless the source says otherwise) and loads it; returns its symbols. */
export function loadGuest(machine: Machine, body: string, org: number = L.GUEST): Map<string, number> {
  const source = `bits 32\norg 0x${org.toString(16)}\n${body}\n`;
  const r = assembleOrThrow(source);
  machine.memory.writeBytes(r.origin, r.bytes);
  return r.symbols;
}

export function sym(symbols: Map<string, number>, name: string): number {
  const v = symbols.get(name);
  if (v === undefined) throw new Error(`no symbol '${name}'`);
  return v;
}

/**
 * A machine with a current, standard VMCS written through the TypeScript API (VMXON, VMCLEAR,
 * VMPTRLD, VMWRITE), ready for machine.vmx.launch(). `guest` is assembled at L.GUEST and its entry
 * is its first byte (or the label "start" if it has one).
 */
export function tsVm(
  guest: string,
  options: Partial<VmcsOptions> & { extra?: Fields } = {},
): { machine: Machine; symbols: Map<string, number> } {
  const machine = newMachine();
  prepareMemory(machine);
  const symbols = loadGuest(machine, guest);
  expectOk(machine.vmx.vmxon(L.VMXON));
  expectOk(machine.vmx.vmclear(L.VMCS));
  expectOk(machine.vmx.vmptrld(L.VMCS));
  const guestRip = options.guestRip ?? symbols.get("start") ?? L.GUEST;
  applyFields(machine, [...standardFields(machine, { ...options, guestRip }), ...(options.extra ?? [])]);
  return { machine, symbols };
}

export function expectOk(r: VmxResult): void {
  if (!r.ok) throw new Error(`VMX operation failed: ${JSON.stringify(r)}`);
}

/** Launches (first time) or resumes and runs to the next VM exit; throws if the run stops otherwise. */
export function runToExit(machine: Machine, launch: boolean): { reason: number; qualification: number } {
  const r = launch ? machine.vmx.launch() : machine.vmx.resume();
  expectOk(r);
  const stop = machine.run({ maxInstructions: 1_000_000 });
  if (stop.kind !== "vmexit") throw new Error(`expected a VM exit, got ${JSON.stringify(stop)}`);
  return { reason: stop.reason, qualification: stop.qualification };
}

/** Advances GUEST_RIP past the exiting instruction (VM_EXIT_INSTRUCTION_LEN). */
export function skipInstruction(machine: Machine): void {
  const vmx = machine.vmx;
  vmx.write(VMCS.GUEST_RIP, (vmx.read(VMCS.GUEST_RIP) + vmx.read(VMCS.VM_EXIT_INSTRUCTION_LEN)) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Exit records: what harness.asm stores at each exit, and the same thing read through the API.

/** The guest registers, then these fields (VMREAD), in this order (harness.asm: record_fields). */
export const RECORD_FIELDS = [
  VMCS.VM_EXIT_REASON,
  VMCS.EXIT_QUALIFICATION,
  VMCS.VM_EXIT_INSTRUCTION_LEN,
  VMCS.VMX_INSTRUCTION_INFO,
  VMCS.GUEST_RIP,
  VMCS.GUEST_RSP,
  VMCS.GUEST_RFLAGS,
  VMCS.GUEST_LINEAR_ADDRESS,
  VMCS.GUEST_PHYSICAL_ADDRESS,
  VMCS.VM_EXIT_INTR_INFO,
  VMCS.VM_EXIT_INTR_ERROR_CODE,
  VMCS.IDT_VECTORING_INFO_FIELD,
  VMCS.GUEST_CR0,
  VMCS.GUEST_CR3,
  VMCS.GUEST_CR4,
  VMCS.GUEST_INTERRUPTIBILITY_INFO,
  VMCS.GUEST_ACTIVITY_STATE,
] as const;
export const RECORD_REGS = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"] as const;
export const RECORD_SIZE = 128;
export const MAX_RECORDS = 16;

export interface ExitRecord {
  regs: Record<(typeof RECORD_REGS)[number], number>;
  /** RECORD_FIELDS values by field name. */
  fields: Record<string, number>;
}

const FIELD_NAMES = new Map(Object.entries(VMCS).map(([name, enc]) => [enc, name]));

function fieldName(encoding: number): string {
  return FIELD_NAMES.get(encoding) ?? `0x${encoding.toString(16)}`;
}

/** The exit record of the current exit, through the API (guest GPRs are still in the CPU). */
export function recordNow(machine: Machine): ExitRecord {
  const r = machine.cpu.snapshotRegisters();
  const regs = { eax: r.eax, ecx: r.ecx, edx: r.edx, ebx: r.ebx, ebp: r.ebp, esi: r.esi, edi: r.edi };
  const fields: Record<string, number> = {};
  for (const f of RECORD_FIELDS) fields[fieldName(f)] = machine.vmx.read(f);
  return { regs, fields };
}

/** The records harness.asm wrote. */
export function recordsInMemory(machine: Machine): ExitRecord[] {
  const m = machine.memory;
  const count = m.read32(L.RECORDS - 4);
  const out: ExitRecord[] = [];
  for (let k = 0; k < count; k++) {
    const base = L.RECORDS + k * RECORD_SIZE;
    const regs = Object.fromEntries(RECORD_REGS.map((name, j) => [name, m.read32(base + 4 * j) >>> 0])) as Record<
      (typeof RECORD_REGS)[number],
      number
    >;
    const fields: Record<string, number> = {};
    RECORD_FIELDS.forEach((f, j) => {
      fields[fieldName(f)] = m.read32(base + 4 * (RECORD_REGS.length + j)) >>> 0;
    });
    out.push({ regs, fields });
  }
  return out;
}

/**
 * The exit loop harness.asm implements, through the TypeScript API: record the exit; stop after HLT,
 * a failed VM entry or MAX_RECORDS exits; map the page on an EPT violation (no RIP change); skip
 * the instruction otherwise; resume.
 */
export function runTsHypervisor(machine: Machine): { records: ExitRecord[]; stop: StopReason } {
  const records: ExitRecord[] = [];
  let launch = true;
  for (;;) {
    const r = launch ? machine.vmx.launch() : machine.vmx.resume();
    if (!r.ok) throw new Error(`VM entry failed: ${JSON.stringify(r)}`);
    launch = false;
    const stop = machine.run({ maxInstructions: 1_000_000 });
    if (stop.kind !== "vmexit") return { records, stop };
    records.push(recordNow(machine));
    const reason = stop.reason;
    if (reason === EXIT_REASON.HLT || reason & 0x80000000 || records.length >= MAX_RECORDS) {
      return { records, stop };
    }
    if (reason === EXIT_REASON.EPT_VIOLATION) eptMap(machine, machine.vmx.read(VMCS.GUEST_PHYSICAL_ADDRESS));
    else skipInstruction(machine);
  }
}

/** harness.asm, assembled once. */
let harness: { bytes: Uint8Array; symbols: Map<string, number> } | null = null;

function harnessImage(): { bytes: Uint8Array; symbols: Map<string, number> } {
  if (!harness) {
    const path = join(HERE, "harness.asm");
    const r = assembleOrThrow(readFileSync(path, "utf8"), { fileName: path });
    harness = { bytes: r.bytes, symbols: r.symbols };
  }
  return harness;
}

/**
 * Runs `fields` (the VMCS less its host RIP/RSP, which harness.asm writes itself) under the
 * assembly hypervisor harness.asm: it sets up paging and VMX itself, VMWRITEs the field list,
 * VMLAUNCHes and records every exit in memory with the same loop as runTsHypervisor().
 */
export function runAsmHypervisor(
  machine: Machine,
  fields: Fields,
): { records: ExitRecord[]; stop: StopReason; symbols: Map<string, number> } {
  const { bytes, symbols } = harnessImage();
  machine.load(bytes, { load: L.HV });
  const m = machine.memory;
  let a: number = L.FIELDS;
  for (const [encoding, value] of fields) {
    m.write32(a, encoding);
    m.write32(a + 4, value);
    a += 8;
  }
  m.write32(a, 0xffffffff);
  const stop = machine.run({ maxInstructions: 2_000_000 });
  return { records: recordsInMemory(machine), stop, symbols };
}

// ---------------------------------------------------------------------------------------------
// Programs that run in VMX root operation (or before VMXON) on the bare machine.

/** Where LOG / LOGF (runHost programs) append 16-byte entries: EFLAGS, VM-instruction error, VMPTRST. */
export const LOG = 0x240000;
const LOG_ENTRIES = LOG + 0x10;

/** Macros and constants every runHost program can use (HOST_PD is built by runHost before it runs). */
const HOST_PRELUDE = `
HOST_PD      equ 0x${L.HOST_PD.toString(16)}
VMXON_REGION equ 0x${L.VMXON.toString(16)}
VMCS_REGION  equ 0x${L.VMCS.toString(16)}
VMCS2_REGION equ 0x${L.VMCS2.toString(16)}
LOG_COUNT    equ 0x${LOG.toString(16)}
LOG_ENTRIES  equ 0x${LOG_ENTRIES.toString(16)}

; paging with the 4 MiB identity map (VMX operation requires CR0.PG = 1) and CR0.NE
%macro PAGING_ON 0
    mov eax, HOST_PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000020
    mov cr0, eax
%endmacro
%macro VMXE_ON 0
    mov eax, cr4
    or eax, 0x2000
    mov cr4, eax
%endmacro
; IA32_FEATURE_CONTROL = %1 (bit 0 lock, bit 2 enable VMX outside SMX)
%macro FEATURE_CONTROL 1
    mov ecx, 0x3a
    mov eax, %1
    xor edx, edx
    wrmsr
%endmacro
%macro ENABLE_VMX 0
    PAGING_ON
    VMXE_ON
    FEATURE_CONTROL 5
%endmacro
; Ends the run with debug-exit value %1.
%macro EXIT 1
    mov eax, %1
    out 0xf4, eax
%endmacro
; Appends EFLAGS, VM_INSTRUCTION_ERROR (0xFFFFFFFF without a current VMCS) and the VMPTRST value.
%macro LOG 0
    call log_vmx
%endmacro
; Appends EFLAGS only (usable outside VMX operation).
%macro LOGF 0
    call log_flags
%endmacro
start:
    mov esp, 0x${L.HOST_STACK.toString(16)}
    lgdt [host_gdtr]
    jmp body
`;

const HOST_RUNTIME = `
log_vmx:
    pushfd
    push eax
    push ebx
    mov ebx, [LOG_COUNT]
    shl ebx, 4
    add ebx, LOG_ENTRIES
    mov eax, [esp + 8]
    mov [ebx], eax
    mov dword [ebx + 4], 0xffffffff
    vmptrst [ebx + 8]
    mov eax, 0x4400
    vmread [ebx + 4], eax
    inc dword [LOG_COUNT]
    pop ebx
    pop eax
    popfd
    ret
log_flags:
    pushfd
    push eax
    push ebx
    mov ebx, [LOG_COUNT]
    shl ebx, 4
    add ebx, LOG_ENTRIES
    mov eax, [esp + 8]
    mov [ebx], eax
    inc dword [LOG_COUNT]
    pop ebx
    pop eax
    popfd
    ret
align 8
host_gdt:
    dq 0
    dq 0x00cf9b000000ffff           ; 0x08 code, DPL 0
    dq 0x00cf93000000ffff           ; 0x10 data, DPL 0
    dq 0x00008b0000000067           ; 0x18 busy 32-bit TSS
    dq 0x00cffb000000ffff           ; 0x20 code, DPL 3
    dq 0x00cff3000000ffff           ; 0x28 data, DPL 3
host_gdt_end:
host_gdtr:
    dw host_gdt_end - host_gdt - 1
    dd host_gdt
`;

export interface LogEntry {
  eflags: number;
  /** VM_INSTRUCTION_ERROR, or 0xFFFFFFFF when there was no current VMCS (LOGF: undefined). */
  error: number;
  /** VMPTRST: the current-VMCS pointer's low and high dwords. */
  vmcsLow: number;
  vmcsHigh: number;
}

export interface HostRun {
  machine: Machine;
  stop: StopReason;
  symbols: Map<string, number>;
  /** Every exception the CPU started to deliver (no IDT: the first one ends in a triple fault). */
  exceptions: { vector: number; errorCode: number; eip: number }[];
  log: LogEntry[];
}

/**
 * Runs `body` (NASM; it starts at the label `body`, the prelude's macros above are available) at
 * CPL 0 on a fresh machine with the VMX test memory prepared (prepareMemory) and no IDT.
 */
export function runHost(body: string, prepare?: (machine: Machine) => void): HostRun {
  const machine = newMachine();
  prepareMemory(machine);
  machine.memory.u8.fill(0, LOG, LOG + 0x1000);
  prepare?.(machine);
  const source = `bits 32\norg 0x${L.HV.toString(16)}\n${HOST_PRELUDE}\nbody:\n${body}\n${HOST_RUNTIME}`;
  const asm = assembleOrThrow(source);
  machine.load(asm.bytes, { load: asm.origin });
  const exceptions: HostRun["exceptions"] = [];
  machine.cpu.hooks.exception = (vector, errorCode) => {
    exceptions.push({ vector, errorCode, eip: machine.cpu.eip >>> 0 });
  };
  const stop = machine.run({ maxInstructions: 1_000_000 });
  const m = machine.memory;
  const log: LogEntry[] = [];
  for (let k = 0; k < m.read32(LOG); k++) {
    const e = LOG_ENTRIES + 16 * k;
    log.push({
      eflags: m.read32(e) >>> 0,
      error: m.read32(e + 4) >>> 0,
      vmcsLow: m.read32(e + 8) >>> 0,
      vmcsHigh: m.read32(e + 12) >>> 0,
    });
  }
  return { machine, stop, symbols: asm.symbols, exceptions, log };
}

/** EFLAGS bits of the VMX conventions. */
export const FLAGS = { CF: 0x1, PF: 0x4, AF: 0x10, ZF: 0x40, SF: 0x80, OF: 0x800 } as const;
/** CF, PF, AF, ZF, SF, OF: set before an instruction to see that it clears them. */
export const ALL_STATUS_FLAGS = 0x8d5;
