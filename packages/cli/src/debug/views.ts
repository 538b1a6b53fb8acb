// What the debugger shows: registers, memory dumps, page walks, the TLB, the VMCS, the exit history,
// disassembly. Each view reads the session's target without side effects and returns lines of at
// most 79 characters.

import {
  decodeControls,
  disassemble,
  EXIT_REASON,
  exitReasonName,
  registers as R,
  VMCS,
  VMCS_FIELDS,
  type VmExitInfo,
} from "@vmxlab/cpu";
import { describeExit } from "@vmxlab/vmm";
import { COMMANDS } from "./commands.js";
import { clip, hex8, hex16, plural, value32, wrap } from "./format.js";
import { type AddressSpace, dataSpace, EPT_LEVEL_NAMES, eptFlags, pteFlags, shadowWalk, walkGuest } from "./paging.js";
import {
  type AddressSpaceName,
  DebugError,
  type DebugSession,
  type GuestEvent,
  REGISTER_NAMES,
  unknownRegister,
} from "./session.js";
import type { DebugExitRecord, GuestRegisters } from "./targets.js";

const W = 79;

/** A 32-bit value in the session's radix. */
export function num(s: DebugSession, v: number): string {
  return value32(v, s.radix);
}

// ======================= registers =======================

const FLAG_NAMES: [number, string][] = [
  [R.CF, "CF"],
  [R.PF, "PF"],
  [R.AF, "AF"],
  [R.ZF, "ZF"],
  [R.SF, "SF"],
  [R.TF, "TF"],
  [R.IF, "IF"],
  [R.DF, "DF"],
  [R.OF, "OF"],
];

export function flagText(eflags: number): string {
  return `[${FLAG_NAMES.filter(([bit]) => eflags & bit)
    .map(([, n]) => n)
    .join(" ")}]`;
}

export function registers(s: DebugSession, name?: string): string[] {
  const now = s.regs();
  const before = s.previous;
  const regs = now as unknown as Record<string, number>;
  if (name !== undefined) {
    const key = name.replace(/^\$/, "").toLowerCase();
    if (!REGISTER_NAMES.includes(key)) throw new DebugError(unknownRegister(name));
    const v = regs[key]!;
    const extra = key === "eflags" ? ` ${flagText(v)}` : "";
    return [`${key} ${num(s, v)}${s.radix === 16 ? ` (${v >>> 0})` : ` (${hex8(v)})`}${extra}`];
  }
  // A changed value is marked with * (or shown in colour on a terminal); columns stay aligned.
  const cell = (k: keyof GuestRegisters, width = 10) => {
    const v = now[k] as number;
    const segment = k === "cs" || k === "ss" || k === "ds" || k === "es" || k === "fs" || k === "gs";
    const text = (segment ? hex4(s, v) : k === "cpl" ? String(v) : num(s, v)).padEnd(width);
    const changed = now[k] !== before[k];
    if (!changed) return `${k} ${text} `;
    return s.color ? `${k} ${s.paint("yellow", text)} ` : `${k} ${text}*`;
  };
  const lines: string[] = [];
  const t = s.target;
  if (t.kind !== "bare") {
    const where = t.ended()
      ? "as the VM stopped"
      : t.mode() === "non-root"
        ? "live in the CPU: VMX non-root operation"
        : "from the VMCS and the saved GPRs: VMX root operation";
    lines.push(`${t.vmName} guest registers (${where}):`);
  }
  const row = (cells: string[]) => cells.join(" ").trimEnd();
  lines.push(
    row([cell("eax"), cell("ebx"), cell("ecx"), cell("edx")]),
    row([cell("esi"), cell("edi"), cell("ebp"), cell("esp")]),
    row([cell("eip"), cell("eflags"), flagText(now.eflags)]),
    row([cell("cr0"), cell("cr2"), cell("cr3"), cell("cr4")]),
    row([cell("cs", 6), cell("ss", 6), cell("ds", 6), cell("es", 6), cell("fs", 6), cell("gs", 6), cell("cpl", 1)]),
  );
  return lines;
}

// ======================= memory =======================

/** Reads guest-virtual memory through the guest's translation; null if the first byte is unmapped. */
export function readGuest(s: DebugSession, gva: number, length: number): Uint8Array | null {
  const space = dataSpace(s.target.space());
  const mem = s.target.machine.memory;
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const at = (gva + done) >>> 0;
    const w = walkGuest(space, at);
    if (!w.ok || w.hpa >= mem.size) return done === 0 ? null : out.subarray(0, done);
    const n = Math.min(length - done, 0x1000 - (at & 0xfff));
    out.set(mem.readBytes(w.hpa, n), done);
    done += n;
  }
  return out;
}

export function memory(s: DebugSession, space: AddressSpaceName, address: number, length: number): string[] {
  const t = s.target;
  const mem = t.machine.memory;
  const bare = t.kind === "bare";
  const lines: string[] = [];
  let bytes: Uint8Array;
  let problem = "";
  if (space === "hpa" || (bare && space === "gpa")) {
    if (address >= mem.size) {
      throw new DebugError(`${space} ${hex8(address)} is outside the machine's ${mem.size >>> 20} MiB of RAM`);
    }
    bytes = mem.readBytes(address, Math.min(length, mem.size - address));
    if (bytes.length < length) problem = `the rest is beyond the end of RAM`;
  } else if (space === "gpa") {
    const sp = dataSpace(t.space());
    const parts: Uint8Array[] = [];
    let done = 0;
    while (done < length) {
      const at = (address + done) >>> 0;
      const tr = sp.gpaToHpa(at);
      if (tr.hpa < 0) {
        problem = `gpa ${hex8(at)}: ${tr.problem ?? "not mapped"}`;
        break;
      }
      const n = Math.min(length - done, 0x1000 - (at & 0xfff));
      parts.push(mem.readBytes(tr.hpa, n));
      done += n;
    }
    bytes = concat(parts);
    if (done === 0) throw new DebugError(problem);
    const first = sp.gpaToHpa(address);
    lines.push(`gpa ${hex8(address)} -> hpa ${hex8(first.hpa)}`);
  } else {
    const sp = dataSpace(t.space());
    const w = walkGuest(sp, address);
    if (!w.ok) throw new DebugError(`${bare ? "linear" : "gva"} ${hex8(address)} is not mapped: ${w.problem}`);
    const got = readGuest(s, address, length) ?? new Uint8Array(0);
    bytes = got;
    if (got.length < length) {
      const at = (address + got.length) >>> 0;
      problem = `${hex8(at)} is not mapped: ${walkGuest(sp, at).problem}`;
    }
    const sym = s.symbolize(address);
    lines.push(
      bare
        ? `linear ${hex8(address)}${sym ? ` ${sym}` : ""} -> physical ${hex8(w.hpa)}`
        : `gva ${hex8(address)}${sym ? ` ${sym}` : ""} -> gpa ${hex8(w.gpa)} -> hpa ${hex8(w.hpa)}`,
    );
  }
  lines.push(...hexdump(address, bytes));
  if (problem) lines.push(`(${problem})`);
  return lines;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `0x00101000  00 01 ... 0f  |................|`: 16 bytes a line (79 columns). */
export function hexdump(address: number, bytes: Uint8Array): string[] {
  const lines: string[] = [];
  for (let k = 0; k < bytes.length; k += 16) {
    const row = bytes.subarray(k, k + 16);
    const hexes = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${hex8(address + k)}  ${hexes.padEnd(47)}  |${ascii}|`);
  }
  return lines;
}

// ======================= disassembly =======================

/** N instructions at a guest-virtual address; the one at `eip` is marked `=>`. */
export function disasmLines(s: DebugSession, address: number, n: number, eip: number): string[] {
  const bytes = readGuest(s, address, n * 15);
  if (!bytes || bytes.length === 0) {
    const w = walkGuest(dataSpace(s.target.space()), address);
    throw new DebugError(`cannot read ${hex8(address)}: ${w.problem ?? "not mapped"}`);
  }
  const lines: string[] = [];
  const first = s.symbolize(address);
  for (const insn of disassemble(bytes, address, { maxInstructions: n, symbols: s.labels })) {
    // objdump's `<label>:` lines, and where the listing starts inside a routine.
    if (insn.label !== undefined) lines.push(`<${insn.label}>:`);
    else if (insn.address === address && first) lines.push(`${first}:`);
    const mark = insn.address === eip >>> 0 ? "=>" : "  ";
    const raw = Array.from(insn.bytes.subarray(0, 7), (b) => b.toString(16).padStart(2, "0")).join(" ");
    lines.push(clip(`${mark} ${hex8(insn.address)}  ${raw.padEnd(20)}  ${insn.text.replace(/\s+/, " ")}`, W));
  }
  return lines;
}

/** `=> 0x00100005 <start+0x5>:  cld`: the instruction at a guest-virtual address, on one line. */
export function locationLine(s: DebugSession, eip: number): string {
  const bytes = readGuest(s, eip, 15);
  const sym = s.symbolize(eip);
  const head = `=> ${hex8(eip)}${sym ? ` ${sym}` : ""}:`;
  if (!bytes || bytes.length === 0) {
    const w = walkGuest(dataSpace(s.target.space()), eip);
    return `${head}  (cannot read the instruction: ${w.problem ?? "not mapped"})`;
  }
  const insn = disassemble(bytes, eip, { maxInstructions: 1, symbols: s.labels })[0]!;
  return clip(`${head}  ${insn.text.replace(/\s+/, " ")}`, W);
}

// ======================= translation =======================

export function translate(s: DebugSession, gva: number): string[] {
  const t = s.target;
  const space: AddressSpace = t.space();
  const bare = t.kind === "bare";
  const shadowRoot = t.shadowRoot();
  const w = walkGuest(space, gva);
  const sym = s.symbolize(gva);
  const pg = space.paging;
  const lines: string[] = [];
  if (bare) {
    lines.push(
      ...oneOrTwo(
        `linear ${hex8(gva)}${sym ? ` ${sym}` : ""}:`,
        pg.enabled ? `paging on, CR3 ${hex8(pg.cr3)}` : "paging off",
      ),
    );
  } else {
    const cr3 = pg.enabled ? `guest paging on, guest CR3 ${hex8(pg.cr3)}` : "guest paging off: gva = gpa";
    lines.push(
      ...oneOrTwo(`gva ${hex8(gva)}${sym ? ` ${sym}` : ""}:`, `${cr3}${shadowRoot !== null ? " (shadowed)" : ""}`),
    );
  }
  let guestEntries = 0;
  let eptEntries = 0;
  for (const step of w.steps) {
    const present = step.hpa >= 0;
    if (step.level !== "page" && present) guestEntries++;
    const entry =
      step.level === "page" || !present
        ? ""
        : `  entry ${hex8(step.entry)} ${pteFlags(step.entry, step.level === "PDE")}`;
    if (bare) {
      lines.push(`  ${step.level.padEnd(5)} ${hex8(step.gpa)}${entry}`);
    } else {
      const label = step.level === "page" ? "page      " : `guest ${step.level}`;
      const hpa = present ? hex8(step.hpa) : "(nothing)";
      const note = step.level === "page" && t.paging === "shadow" ? `  (${t.handlerName}'s map)` : "";
      lines.push(clip(`  ${label} gpa ${hex8(step.gpa)} -> hpa ${hpa}${entry}${note}`, W));
    }
    if (step.ept) {
      eptEntries += step.ept.length;
      const cells = step.ept.map(
        (e) =>
          `${EPT_LEVEL_NAMES[e.level]!.padEnd(5)} ${hex8(e.address)} = ${hex8(e.entry)} ${eptFlags(e.entry, e.level)}`,
      );
      for (let k = 0; k < cells.length; k += 2)
        lines.push(`    ${k === 0 ? "EPT" : "   "}  ${cells.slice(k, k + 2).join("   ")}`);
    }
  }
  if (!w.ok) lines.push(`  the guest's walk stops: ${w.problem}`);
  const backed = !w.ok && w.gpa >= 0 && space.backing ? space.backing(w.gpa) : -1;
  if (backed >= 0) {
    lines.push(`  (memory at hpa ${hex8(backed)} backs it: ${t.handlerName} maps it into the EPT on first access)`);
  }
  if (shadowRoot !== null) {
    // What the CPU really walks: the shadow tables (GUEST_CR3 points at their root).
    const sw = shadowWalk((a) => t.machine.memory.read32(a), shadowRoot, gva);
    lines.push(`  the CPU walks the shadow tables instead (root ${hex8(shadowRoot)}, the real CR3):`);
    for (const step of sw.steps) {
      const flags = step.entry & 1 ? pteFlags(step.entry) : "not present";
      lines.push(`  shadow ${step.level} hpa ${hex8(step.hpa)}  entry ${hex8(step.entry)} ${flags}`);
    }
    if (sw.hpa >= 0) {
      lines.push(`= hpa ${hex8(sw.hpa)}: a TLB miss costs 2 memory references (shadow PDE and PTE)`);
    } else {
      lines.push(
        "= not in the shadow tables yet: an access takes a #PF exit, hidden from the",
        w.ok
          ? "  guest; the hypervisor then fills the shadow entry from the guest's tables"
          : "  guest; as the guest's tables deny it too, the hypervisor reflects the #PF",
      );
    }
    lines.push(...tlbNote(s, gva));
    return lines;
  }
  if (!w.ok) return lines;
  const refs = plural(w.references, "memory reference");
  if (bare) lines.push(`= physical ${hex8(w.hpa)}: a TLB miss costs ${refs}`);
  else {
    lines.push(`= hpa ${hex8(w.hpa)}: a TLB miss costs ${refs}`);
    if (eptEntries > 0) {
      lines.push(
        `  (${plural(guestEntries, "guest paging entry", "guest paging entries")} + ${plural(eptEntries, "EPT entry", "EPT entries")})`,
      );
    }
  }
  lines.push(...tlbNote(s, gva));
  return lines;
}

/** `head rest` on one line if it fits, else `head` and an indented `rest`. */
function oneOrTwo(head: string, rest: string): string[] {
  return head.length + 1 + rest.length <= W ? [`${head} ${rest}`] : [head, `  ${rest}`];
}

function tlbNote(s: DebugSession, gva: number): string[] {
  const info = s.target.machine.cpu.tlb.peek(gva >>> 12, s.target.asid());
  if (info === undefined) return ["  not in the TLB now"];
  return [`  in the TLB now: -> hpa frame ${hex8(info & ~0xfff)} ${tlbFlags(info)}`];
}

// ======================= TLB =======================

const TLB_BITS: [number, string][] = [
  [1 << 3, "clean"],
  [1 << 4, "code"],
  [1 << 5, "G"],
  [1 << 6, "nx"],
  [1 << 7, "nr"],
  [1 << 8, "mmio"],
  [1 << 9, "4M"],
];

function tlbFlags(info: number): string {
  const out = [info & 1 ? "S" : "U", info & (1 << 2) ? "R" : info & (1 << 1) ? "W(S)" : "W"];
  for (const [bit, name] of TLB_BITS) if (info & bit) out.push(name);
  return out.join(" ");
}

export function tlb(s: DebugSession, n: number): string[] {
  const t = s.target;
  const cpu = t.machine.cpu;
  const tl = cpu.tlb;
  const asid = t.asid();
  const occupancy = [...tl.occupancy().entries()].sort((a, b) => a[0] - b[0]);
  const total = occupancy.reduce((sum, [, k]) => sum + k, 0);
  const who = (a: number) => (a === asid ? (t.vmName ? `${t.vmName}` : "current") : a === 0 ? "host" : "other");
  const lines = [
    `TLB: ${tl.size} entries, direct-mapped by page; ${total} valid` +
      (occupancy.length ? `: ${occupancy.map(([a, k]) => `asid ${a} (${who(a)}) ${k}`).join(", ")}` : ""),
    `hits ${tl.stats.hits}, misses ${tl.stats.misses}, page-walk references ${tl.stats.walkReferences}, flushes ${tl.stats.flushes}`,
  ];
  const entries: [number, number][] = [];
  for (let i = 0; i < tl.size; i++) {
    const tag = tl.tag[i]!;
    if (tag !== -1 && tag >>> 20 === asid) entries.push([(tag & 0xfffff) << 12, tl.info[i]!]);
  }
  entries.sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0));
  lines.push(
    `${t.vmName ? `${t.vmName}'s` : "the"} translations (asid ${asid}): ${entries.length}` +
      (entries.length > n ? `, the first ${n}` : ""),
  );
  if (entries.length > 0) lines.push("  linear      host-phys   flags");
  for (const [linear, info] of entries.slice(0, n)) {
    const sym = s.symbolize(linear);
    lines.push(clip(`  ${hex8(linear)}  ${hex8(info & ~0xfff)}  ${tlbFlags(info)}${sym ? `  ${sym}` : ""}`, W));
  }
  return lines;
}

// ======================= VMCS =======================

const CONTROL_FIELDS = [
  "PIN_BASED_VM_EXEC_CONTROL",
  "CPU_BASED_VM_EXEC_CONTROL",
  "SECONDARY_VM_EXEC_CONTROL",
  "VM_EXIT_CONTROLS",
  "VM_ENTRY_CONTROLS",
];

function exitInfoFromVmcs(read: (f: number) => number): VmExitInfo {
  const reason = read(VMCS.VM_EXIT_REASON);
  return {
    reason,
    name: exitReasonName(reason),
    qualification: read(VMCS.EXIT_QUALIFICATION),
    instructionLength: read(VMCS.VM_EXIT_INSTRUCTION_LEN),
    guestRip: read(VMCS.GUEST_RIP),
    guestLinearAddress: read(VMCS.GUEST_LINEAR_ADDRESS),
    guestPhysicalAddress: read(VMCS.GUEST_PHYSICAL_ADDRESS),
    interruptionInfo: read(VMCS.VM_EXIT_INTR_INFO),
    interruptionErrorCode: read(VMCS.VM_EXIT_INTR_ERROR_CODE),
    idtVectoringInfo: read(VMCS.IDT_VECTORING_INFO_FIELD),
  };
}

const INTR_TYPES = [
  "external interrupt",
  "reserved",
  "NMI",
  "hardware exception",
  "software interrupt",
  "privileged software exception",
  "software exception",
  "other event",
];

/** An interruption-information field in words. */
export function interruptionText(info: number): string {
  if (!(info & 0x80000000)) return "not valid";
  const vector = info & 0xff;
  const type = INTR_TYPES[(info >>> 8) & 7]!;
  const name = R.EXCEPTION_NAMES[vector];
  return `valid, vector 0x${vector.toString(16)}${name && (info >>> 8) & 2 ? ` (${name})` : ""}, ${type}${info & 0x800 ? ", error code" : ""}`;
}

export function vmcs(s: DebugSession, group?: string): string[] {
  const v = s.target.vmcs();
  if (!v) throw new DebugError("no VMCS: the bare machine has no VM");
  const g = group?.toLowerCase();
  if (g !== undefined && !["guest", "host", "controls", "exit"].includes(g)) {
    throw new DebugError(`unknown VMCS group '${group}' (guest, host, controls or exit)`);
  }
  const t = s.target;
  const read = (f: number) => v.read(f);
  const lines = [`VMCS of ${t.vmName} at hpa ${hex8(v.base)} (${v.launched ? "launched" : "clear: not launched yet"})`];
  if (t.mode() === "non-root" && (g === undefined || g === "guest")) {
    lines.push("(the guest is running: these guest-state fields are from the last VM exit)");
  }
  const dump = v.dump();
  const byName = new Map(dump.map((f) => [f.name, f]));
  const groupFields = VMCS_FIELDS.filter((f) => f.group === g);
  const nameWidth = Math.max(0, ...groupFields.map((f) => f.name.length));
  const valueWidth = groupFields.some((f) => f.width === 64) ? 18 : 10;
  const fieldLine = (name: string) => {
    const f = byName.get(name)!;
    const def = VMCS_FIELDS.find((x) => x.name === name)!;
    const value = f.high !== undefined ? hex16(f.value, f.high) : def.width === 16 ? hex4(s, f.value) : num(s, f.value);
    return clip(`  ${name.padEnd(nameWidth)} ${value.padEnd(valueWidth)} ${def.description}`, W);
  };
  if (g === undefined) {
    const info = exitInfoFromVmcs(read);
    lines.push("last exit:");
    if (info.reason === 0 && !v.launched) lines.push("  none yet");
    else lines.push(...exitInfoLines(info));
    lines.push("controls:");
    for (const name of CONTROL_FIELDS) lines.push(...controlLines(s, name, byName.get(name)!.value));
    lines.push(
      `  EXCEPTION_BITMAP ${hex8(read(VMCS.EXCEPTION_BITMAP))}  EPT_POINTER ${hex16(read(VMCS.EPT_POINTER), read(VMCS.EPT_POINTER + 1))}`,
      `  CR0 mask/shadow ${hex8(read(VMCS.CR0_GUEST_HOST_MASK))}/${hex8(read(VMCS.CR0_READ_SHADOW))}` +
        `  CR4 mask/shadow ${hex8(read(VMCS.CR4_GUEST_HOST_MASK))}/${hex8(read(VMCS.CR4_READ_SHADOW))}`,
      "guest state:",
      `  RIP ${hex8(read(VMCS.GUEST_RIP))}  RSP ${hex8(read(VMCS.GUEST_RSP))}  RFLAGS ${hex8(read(VMCS.GUEST_RFLAGS))}` +
        `  CR3 ${hex8(read(VMCS.GUEST_CR3))}`,
      "'vmcs guest|host|controls|exit' shows every field of a group.",
    );
    return lines;
  }
  for (const f of VMCS_FIELDS) {
    if (f.group !== g) continue;
    if (CONTROL_FIELDS.includes(f.name)) lines.push(...controlLines(s, f.name, byName.get(f.name)!.value));
    else lines.push(fieldLine(f.name));
  }
  if (g === "exit") {
    lines.push("decoded:");
    lines.push(...exitInfoLines(exitInfoFromVmcs(read)));
  }
  const note = g === "host" ? t.hostStateNote?.() : undefined;
  if (note) lines.push(...wrap(note.split(" "), ""));
  return lines;
}

function hex4(s: DebugSession, v: number): string {
  return s.radix === 10 ? String(v) : `0x${v.toString(16).padStart(4, "0")}`;
}

/** A control word and its set bits by name; unnamed bits (the reserved ones that must be 1) summed up. */
function controlLines(s: DebugSession, name: string, value: number): string[] {
  const names = decodeControls(name, value);
  const named = names.filter((n) => !n.startsWith("bit "));
  const other = names.filter((n) => n.startsWith("bit ")).map((n) => n.slice(4));
  const words = named.length ? [...named] : ["(no named bit)"];
  if (other.length) words.push(`+ reserved bits ${other.join(",")}`);
  return [`  ${name.padEnd(26)} ${num(s, value)}`, ...wrap(words, "      ")];
}

function exitInfoLines(info: VmExitInfo): string[] {
  const failed = info.reason & 0x80000000 ? " (VM-entry failure)" : "";
  const lines = [`  reason ${info.name} (${info.reason & 0xffff})${failed}, qualification ${hex8(info.qualification)}`];
  const detail = describeExit(info);
  if (detail) lines.push(`  ${clip(detail, W - 2)}`);
  lines.push(
    `  guest EIP ${hex8(info.guestRip)}, instruction length ${info.instructionLength}` +
      ((info.reason & 0xffff) === EXIT_REASON.EPT_VIOLATION
        ? `, gpa ${hex8(info.guestPhysicalAddress)}, gva ${hex8(info.guestLinearAddress)}`
        : ""),
  );
  if (info.interruptionInfo & 0x80000000) lines.push(`  exit interruption: ${interruptionText(info.interruptionInfo)}`);
  if (info.idtVectoringInfo & 0x80000000) lines.push(`  IDT vectoring: ${interruptionText(info.idtVectoringInfo)}`);
  return lines;
}

// ======================= exits =======================

/** One line per exit handled during a command (hosted: where it was handled, [kernel] or [user]). */
export function exitLine(r: DebugExitRecord): string {
  // The decoded qualification says more than the instruction; exits without one show the instruction.
  const detail = r.detail && r.detail !== r.name ? r.detail.replace(/^EPT violation /, "") : "";
  const what = detail || (r.instruction ? r.instruction.replace(/\s+/, " ") : "");
  const where = r.handledIn ? ` [${r.handledIn}]` : "";
  return clip(`exit #${r.seq} ${r.name} at ${hex8(r.guestEip)}${where}${what ? `: ${what}` : ""}`, W - 2);
}

/** Who handled an exit and what followed, for the stop report (user space: the notes say how it got there). */
function handled(s: DebugSession, r: DebugExitRecord): string {
  const notes = r.handler || "(no note)";
  if (r.handledIn === "user") return `handled in user space by the VMM process: ${notes},`;
  const by = r.handledIn === "kernel" ? "in the host kernel by the KVM module" : `by ${s.target.handlerName}`;
  return `handled ${by}: ${notes} -> ${r.action},`;
}

/** The report of a stop after a VM exit. */
export function exitStop(s: DebugSession, r: DebugExitRecord, bp: { id: number } | null): string[] {
  const sym = s.symbolize(r.guestEip);
  const insn = r.instruction ? `: ${r.instruction.replace(/\s+/, " ")}` : "";
  const detail = r.detail && r.detail !== r.name ? `, ${r.detail}` : "";
  const lines = [
    s.paint("bold", clip(`VM exit #${r.seq}: ${r.name} (${r.reason & 0xffff})${detail}`, W)),
    clip(`  at guest EIP ${hex8(r.guestEip)}${sym ? ` ${sym}` : ""}${insn}`, W),
  ];
  // A hosted record is complete up to the VM entry that resumes the guest (added when it happens).
  const soFar =
    r.hops && !r.hops.some((h) => h.name === "entry") ? ["so", "far", "(the", "VM", "entry", "follows)"] : [];
  lines.push(...wrap([...handled(s, r).split(" "), `${r.cycles.total}`, "cycles", ...soFar], "  "));
  if (r.hops) {
    const hops = r.hops.map((h) => `${h.name} ${h.cycles}`);
    lines.push(...wrap(["hops:", ...hops.map((h, i) => (i < hops.length - 1 ? `${h},` : h))], "  "));
  }
  lines.push(`  stopped in VMX root operation, before the next VM entry${bp ? ` (breakpoint ${bp.id})` : ""}`);
  return lines;
}

export function exitTable(s: DebugSession, n: number): string[] {
  const all = s.exits;
  if (all.length === 0) return ["no VM exits yet"];
  const shown = all.slice(Math.max(0, all.length - n));
  // Hosted exits say where they were handled: in the kernel module or in the VMM process (user space).
  const hosted = all.some((r) => r.handledIn !== undefined);
  const width = hosted ? 27 : 34;
  const lines = [
    `${plural(all.length, "VM exit")}${shown.length < all.length ? `, the last ${shown.length}` : ""}:`,
    hosted
      ? "    #  reason           guest EIP   where  detail (or what was done)     cycles"
      : "    #  reason           guest EIP   detail (or what the handler did)    cycles",
  ];
  for (const r of shown) {
    const what = (r.detail && r.detail !== r.name ? r.detail : r.handler).replace(/^EPT violation /, "");
    const where = hosted ? `${(r.handledIn ?? "").padEnd(6)} ` : "";
    lines.push(
      `${String(r.seq).padStart(5)}  ${clip(r.name, 16).padEnd(16)} ${hex8(r.guestEip)}  ${where}${clip(what, width).padEnd(width)} ${String(r.cycles.total).padStart(hosted ? 7 : 6)}`,
    );
  }
  const counts = new Map<string, number>();
  for (const r of all) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
  lines.push(
    ...wrap(
      ["by", "reason:", ...[...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k} ${c}`)],
      "",
    ).map((l, i) => (i === 0 ? l : `  ${l}`)),
  );
  if (hosted) {
    const user = all.filter((r) => r.handledIn === "user").length;
    lines.push(`handled in the kernel module ${all.length - user}, in the VMM process (user space) ${user}`);
  }
  return lines;
}

export function eventLine(s: DebugSession, e: GuestEvent): string {
  const name = R.EXCEPTION_NAMES[e.vector];
  const vector = `0x${e.vector.toString(16)}`;
  const at = `at ${hex8(e.eip)}`;
  switch (e.kind) {
    case "external":
      return s.target.kind === "bare"
        ? `interrupt ${vector} (external, from the PIC) ${at}`
        : `interrupt ${vector} (external: injected by ${s.target.handlerName}) ${at}`;
    case "software":
      return `software interrupt INT ${vector} ${at}`;
    case "nmi":
      return `NMI ${at}`;
    default:
      return `exception ${name ?? vector} (vector ${e.vector})${e.errorCode >= 0 ? ` error ${hex8(e.errorCode)}` : ""} ${at}`;
  }
}

// ======================= breakpoints =======================

export function breakpointList(s: DebugSession): string[] {
  if (s.breakpoints.size === 0) return ["no breakpoints or watchpoints"];
  const lines: string[] = [];
  for (const bp of s.breakpoints.values()) {
    switch (bp.kind) {
      case "exec":
        lines.push(`  ${bp.id}  break at ${hex8(bp.address)} ${s.symbolize(bp.address)}`.trimEnd());
        break;
      case "watch":
        lines.push(
          `  ${bp.id}  watch ${bp.access} ${bp.space} ${hex8(bp.address)} (${plural(bp.length, "byte")}) ${bp.space === "gva" ? s.symbolize(bp.address) : ""}`.trimEnd(),
        );
        break;
      default:
        lines.push(
          `  ${bp.id}  break after VM exits: ${bp.reason === null ? "any" : `${exitReasonName(bp.reason)} (${bp.reason})`}`,
        );
    }
  }
  return lines;
}

// ======================= completion =======================

const EXIT_NAMES = Object.keys(EXIT_REASON);

export function completions(s: DebugSession, line: string): [string[], string] {
  const words = line.split(/\s+/);
  const last = words[words.length - 1] ?? "";
  const match = (list: readonly string[]) => {
    const hits = list.filter((w) => w.toLowerCase().startsWith(last.toLowerCase()));
    return [hits.length ? hits : [], last] as [string[], string];
  };
  if (words.length <= 1) return match(COMMANDS.flatMap((c) => [c.name]));
  const cmd = words[0]!.toLowerCase();
  if ((cmd === "break" || cmd === "b") && words[1] === "exit" && words.length === 3)
    return match([...EXIT_NAMES, "any"]);
  if (cmd === "vmcs") return match(["guest", "host", "controls", "exit"]);
  if (cmd === "radix") return match(["16", "10"]);
  if (cmd === "help" || cmd === "h") return match([...COMMANDS.map((c) => c.name), "addresses"]);
  if (cmd === "watch" && words.length >= 3) return match(["r", "w", "rw"]);
  if (cmd === "regs" || cmd === "r") return match(REGISTER_NAMES);
  if (last.length === 0) return [[], last];
  const prefix = /^(gva:|gpa:|hpa:)/i.exec(last)?.[0] ?? "";
  const rest = last.slice(prefix.length);
  const names = [...s.labels.values(), ...REGISTER_NAMES.map((r) => `$${r}`), "gva:", "gpa:", "hpa:"];
  if (cmd === "break" || cmd === "b") names.push("exit");
  const hits = names.filter((n) => n.startsWith(rest)).map((n) => prefix + n);
  return [hits, last];
}
