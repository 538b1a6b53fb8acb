// Shared pieces of `vmxlab run` output: stop descriptions, exit statuses, the JSON stop shape,
// exit counts by Intel reason name, and console streaming with per-VM line prefixes.

import { exitReasonName, type StopReason } from "@vmxlab/cpu";
import type { ExitRecord } from "@vmxlab/vmm";
import { hex8 } from "./debug/format.js";

/** A stop as the bare machine reports it, or a hypervisor diagnostic ("error"). */
export type RunStop = StopReason | { kind: "error"; diagnostic: string };

export function exitStatus(stop: RunStop): number {
  switch (stop.kind) {
    case "debug-exit":
      return stop.value & 0xff;
    case "halt":
      return 0;
    case "limit":
      return 124;
    default:
      return 1;
  }
}

export function describeStop(stop: RunStop): string {
  switch (stop.kind) {
    case "debug-exit":
      return `debug-exit ${stop.value} (0x${stop.value.toString(16)})`;
    case "shutdown":
      return `shutdown: ${stop.diagnostic}`;
    case "error":
      return `stopped by the hypervisor: ${stop.diagnostic}`;
    case "limit":
      return "instruction limit reached";
    case "breakpoint":
      return `breakpoint at 0x${stop.address.toString(16)}`;
    case "hook":
      return `stopped by hook: ${stop.reason}`;
    case "vmexit":
      return `VM exit ${stop.reason}`;
    default:
      return stop.kind;
  }
}

/** The JSON shape of a stop: {"kind": "debug-exit", "value": N} | {"kind": "halt"} | ... */
export function stopJson(stop: RunStop): Record<string, unknown> {
  switch (stop.kind) {
    case "debug-exit":
      return { kind: "debug-exit", value: stop.value };
    case "shutdown":
    case "error":
      return { kind: stop.kind, diagnostic: stop.diagnostic };
    default:
      return { kind: stop.kind };
  }
}

/** {"CPUID": 3, "IO_INSTRUCTION": 12, ...} from counts by basic reason. */
export function exitsByName(counts: ReadonlyMap<number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, n] of [...counts.entries()].sort((a, b) => a[0] - b[0])) out[exitReasonName(reason)] = n;
  return out;
}

export function latin1(bytes: Iterable<number>): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Streams console bytes; with several VMs every line gets a "[name] " prefix. */
export class ConsoleStream {
  private readonly atLineStart = new Map<string, boolean>();
  constructor(
    private readonly write: (text: string) => void,
    private readonly prefixed: boolean,
  ) {}

  byte(vm: string, b: number): void {
    if (this.prefixed && this.atLineStart.get(vm) !== false) this.write(`[${vm}] `);
    this.write(String.fromCharCode(b));
    this.atLineStart.set(vm, b === 10);
  }
}

/** What a VM-exit record of either hypervisor design has. */
type ExitRecordFields = Omit<ExitRecord, "action" | "cycles"> & { action: string };

/** The fields of one exit every --trace-json line has (the design's own fields follow them). */
export function exitJson(r: ExitRecordFields): Record<string, unknown> {
  return {
    seq: r.seq,
    vm: r.vm,
    reason: r.reason,
    name: r.name,
    qualification: r.qualification,
    detail: r.detail,
    guestLinearAddress: r.info.guestLinearAddress,
    guestPhysicalAddress: r.info.guestPhysicalAddress,
    interruptionInfo: r.info.interruptionInfo,
    instructionLength: r.info.instructionLength,
    guestEip: r.guestEip,
    instruction: r.instruction,
    handler: r.handler,
    action: r.action,
  };
}

/** The start of one --trace line, `#seq vm NAME(reason) detail | eip EIP insn | ` (the design's own parts follow). */
export function traceLineHead(r: ExitRecordFields): string {
  const reason = `${r.name}(${r.reason & 0xffff})`;
  const insn = r.instruction ? ` ${r.instruction}` : "";
  const detail = r.detail ? ` ${r.detail}` : "";
  return `#${r.seq} ${r.vm} ${reason}${detail} | eip ${hex8(r.guestEip)}${insn} | `;
}
