// Event delivery through the IDT (Intel SDM Vol. 3A, 6.12): 32-bit interrupt and trap gates, the
// privilege check for software interrupts, the stack switch through the TSS, and the double-fault /
// triple-fault rules (Table 6-5) for faults raised while delivering another event.

import type { Cpu } from "./cpu.js";
import { FAULT, NO_ERROR_CODE } from "./fault.js";
import {
  CS,
  DOUBLE_FAULT,
  EFLAGS_FIXED1,
  ESP,
  EXCEPTION_NAMES,
  GP,
  IF,
  NP,
  NT,
  PAGE_FAULT,
  RF,
  SS,
  TF,
  VM,
} from "./registers.js";
import {
  checkCodeTarget,
  loadCodeSegment,
  loadStackSegment,
  pairHigh,
  readSystemPair,
  tssStackAddress,
  writeSystem32,
} from "./segments.js";

/**
 * exception: raised by an instruction (fault or trap); external: from the interrupt controller;
 * nmi; software: INT n; software-exception: INT3 / INTO (software, but reported as exceptions).
 */
export type EventKind = "exception" | "external" | "nmi" | "software" | "software-exception";

const CONTRIBUTORY = new Set([0, 10, 11, 12, 13]);

/** Whether a fault raised while delivering `first` turns into #DF (Intel SDM Vol. 3A, Table 6-5). */
export function isDoubleFault(first: number, second: number): boolean {
  if (CONTRIBUTORY.has(first)) return CONTRIBUTORY.has(second);
  if (first === PAGE_FAULT) return CONTRIBUTORY.has(second) || second === PAGE_FAULT;
  return false;
}

export function eventName(vector: number, errorCode: number, kind: EventKind): string {
  if (kind === "external") return `interrupt 0x${vector.toString(16)}`;
  if (kind === "software") return `INT 0x${vector.toString(16)}`;
  const name = EXCEPTION_NAMES[vector] ?? `vector ${vector}`;
  return errorCode === NO_ERROR_CODE ? name : `${name}(0x${(errorCode >>> 0).toString(16)})`;
}

/**
 * Delivers an event; a fault during delivery is handled per the double-fault rules. A fault while
 * delivering #DF is a triple fault: the VMX layer may turn it into a VM exit, else the CPU shuts down.
 */
export function deliverEvent(cpu: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  let v = vector;
  let err = errorCode;
  let k = kind;
  // The chain of faults is only told in a triple fault's diagnostic: its text starts with the first
  // event's EIP and, for an exception, the instruction's bytes, read when its delivery first faults
  // (not before every delivery: most exceptions are delivered, or exit, without a second fault).
  const originEip = cpu.eip;
  let chain: string[] | null = null;
  for (;;) {
    try {
      if (cpu.vmx?.interceptEvent?.(v, err, k)) return;
      deliverOnce(cpu, v, err, k);
      return;
    } catch (signal) {
      if (signal !== FAULT) throw signal;
      // INT n, INT3 and INTO are benign: a fault while delivering one is simply a fault of that
      // instruction (saved EIP = the INT, not the next instruction). Rethrow it so the run loop
      // restores EIP to the instruction and delivers the fault from there.
      if (k === "software" || k === "software-exception") throw signal;
      const second = cpu.pendingVector;
      const secondErr = cpu.pendingErrorCode;
      chain ??= [
        describeOrigin(originEip, kind === "exception" ? cpu.peekBytes(originEip, 4) : null, vector, errorCode, kind),
      ];
      chain.push(`${eventName(second, secondErr, "exception")} while delivering it`);
      // In VMX non-root operation an exception the exception bitmap intercepts exits (with the first
      // event as IDT-vectoring information) before the double-fault rules apply (SDM Vol. 3C, 25.2).
      const combines = v === DOUBLE_FAULT || isDoubleFault(v, second);
      if (combines && cpu.vmx?.interceptEvent?.(second, secondErr, "exception")) return;
      if (v === DOUBLE_FAULT) {
        if (cpu.vmx?.tripleFault?.()) return;
        cpu.stopRequest = { kind: "shutdown", diagnostic: `triple fault: ${chain.join(", then ")}; shutdown` };
        cpu.halted = true;
        return;
      }
      if (isDoubleFault(v, second)) {
        // A page fault that turns into #DF still loads CR2 with its linear address.
        if (second === PAGE_FAULT) cpu.cr2 = cpu.faultLinear;
        v = DOUBLE_FAULT;
        err = 0;
        chain.push("#DF");
      } else {
        v = second;
        err = secondErr;
      }
      k = "exception";
    }
  }
}

function describeOrigin(
  eip: number,
  bytes: Uint8Array | null,
  vector: number,
  errorCode: number,
  kind: EventKind,
): string {
  const where = `at 0x${(eip >>> 0).toString(16).padStart(8, "0")}`;
  if (kind !== "exception") return `${eventName(vector, errorCode, kind)} ${where}`;
  const hex = bytes ? ` (bytes ${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")})` : "";
  return `${eventName(vector, errorCode, kind)} ${where}${hex}`;
}

function deliverOnce(cpu: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  if (kind === "exception" && vector === PAGE_FAULT) cpu.cr2 = cpu.faultLinear;
  const software = kind === "software" || kind === "software-exception";
  const ext = software ? 0 : 1;
  const idtError = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > cpu.idtrLimit) cpu.fault(GP, idtError);
  const gate = (cpu.idtrBase + vector * 8) | 0;
  const lo = readSystemPair(cpu, gate);
  const hi = pairHigh;
  const type = (hi >>> 8) & 0x1f;
  const dpl = (hi >>> 13) & 3;
  // Only 32-bit interrupt (0xE) and trap (0xF) gates; task gates and 16-bit gates are not in the subset.
  if (type !== 0x0e && type !== 0x0f) cpu.fault(GP, idtError);
  if (software && dpl < cpu.cpl) cpu.fault(GP, vector * 8 + 2);
  if (!(hi & 0x8000)) cpu.fault(NP, idtError);
  const selector = lo >>> 16;
  const offset = ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0;
  const desc = checkCodeTarget(cpu, selector, ext);
  const conforming = (desc.type & 4) !== 0;
  if (desc.dpl > cpu.cpl) cpu.fault(GP, (selector & 0xfffc) + ext);
  const newCpl = conforming ? cpu.cpl : desc.dpl;
  const eflags = cpu.getEflags();
  const hasError = errorCode !== NO_ERROR_CODE;
  const oldCs = cpu.segSel[CS]!;
  const oldEsp = cpu.regs[ESP]!;
  const oldSs = cpu.segSel[SS]!;
  let sp: number;
  const frame = FRAME;
  let n = 0;
  if (newCpl < cpu.cpl) {
    // Inner privilege: switch to the stack the TSS gives for the new level, then push SS:ESP first.
    const stack = tssStackAddress(cpu, newCpl, ext);
    sp = readSystemPair(cpu, stack | 0);
    const ss = pairHigh & 0xffff;
    frame[n++] = oldSs;
    frame[n++] = oldEsp;
    frame[n++] = eflags;
    frame[n++] = oldCs;
    frame[n++] = cpu.eip;
    if (hasError) frame[n++] = errorCode;
    sp = pushFrame(cpu, sp, n);
    loadStackSegment(cpu, ss, newCpl, 10, ext);
  } else {
    frame[n++] = eflags;
    frame[n++] = oldCs;
    frame[n++] = cpu.eip;
    if (hasError) frame[n++] = errorCode;
    sp = pushFrame(cpu, oldEsp, n);
  }
  loadCodeSegment(cpu, selector, desc, newCpl);
  cpu.regs[ESP] = sp;
  let fl = eflags & ~(TF | NT | RF | VM);
  if (type === 0x0e) fl &= ~IF;
  cpu.setEflags(fl | EFLAGS_FIXED1);
  cpu.eip = offset | 0;
  cpu.halted = false;
  cpu.cycles += cpu.cost.instructions.interruptDelivery;
}

/** Pushes one dword of an interrupt frame (a supervisor access); returns the new stack pointer. */
function push(cpu: Cpu, sp: number, value: number): number {
  const at = (sp - 4) | 0;
  writeSystem32(cpu, at, value);
  return at;
}

/** The dwords of the interrupt frame being pushed, in push order (one frame at a time). */
const FRAME = new Int32Array(6);

/**
 * Pushes the first `n` dwords of FRAME below `sp`, as n push() calls would; returns the new stack
 * pointer. When the frame lies in one page whose translation is in the TLB, every push would hit that
 * entry: the hits are counted and the one lookup serves them all.
 */
function pushFrame(cpu: Cpu, sp: number, n: number): number {
  const last = (sp - 4 * n) | 0;
  const direct = cpu.supervisorDwords(last, 4 * n, true);
  if (direct >= 0) {
    for (let k = 0; k < n; k++) cpu.i32[direct + n - 1 - k] = FRAME[k]!;
    return last;
  }
  let at = sp;
  for (let k = 0; k < n; k++) at = push(cpu, at, FRAME[k]!);
  return at;
}
