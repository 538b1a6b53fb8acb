// The disassembler: decode with the table-driven decoder, format like `objdump -d -M intel`, and lay
// out a listing in objdump's columns.

import { decodeBytes } from "../isa/decoder.js";
import { formatInsn, hex, type SymbolResolver } from "./format.js";

export interface DisasmResult {
  /** Instruction text as objdump prints it (`mov    eax,0x1`, `(bad)`). */
  text: string;
  /** Length in bytes. */
  length: number;
  /** The instruction's bytes. */
  bytes: Uint8Array;
}

export interface DisasmLine extends DisasmResult {
  address: number;
  /** Symbol naming this address (formatListing prints it as a `<label>:` line). */
  label?: string;
}

export interface DisasmOptions {
  /** Symbols (address -> name): branch targets get objdump's `<name>` / `<name+0x4>` annotation. */
  symbols?: ReadonlyMap<number, string>;
}

export interface DisassembleOptions extends DisasmOptions {
  /** Offset in `bytes` to start at (default 0). */
  start?: number;
  /** Offset in `bytes` to stop before (default bytes.length). */
  end?: number;
  /** Stop after this many instructions. */
  maxInstructions?: number;
}

/** A resolver for the nearest symbol at or below an address (binary search over the sorted symbols). */
export function symbolResolver(symbols: ReadonlyMap<number, string>): SymbolResolver {
  const sorted = [...symbols.entries()].map(([a, n]) => [a >>> 0, n] as const).sort((x, y) => x[0] - y[0]);
  return (address) => {
    let lo = 0;
    let hi = sorted.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]![0] <= address) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const [at, name] = sorted[found]!;
    return { name, offset: address - at };
  };
}

function decodeAt(bytes: Uint8Array, offset: number, end: number, address: number, symbols?: SymbolResolver) {
  const insn = decodeBytes(bytes, offset);
  if (offset + insn.len > end) {
    // Cut off by the end of the bytes: objdump shows the first byte as data and goes on.
    return { text: `.byte ${hex(bytes[offset] ?? 0)}`, length: 1, bytes: bytes.slice(offset, offset + 1) };
  }
  const raw = bytes.subarray(offset, offset + insn.len);
  return { text: formatInsn(insn, raw, address, symbols), length: insn.len, bytes: raw.slice() };
}

/** Disassembles the instruction at `bytes[offset]`, located at `address`. */
export function disassembleOne(
  bytes: Uint8Array,
  offset: number,
  address: number,
  options: DisasmOptions = {},
): DisasmResult {
  const symbols = options.symbols ? symbolResolver(options.symbols) : undefined;
  return decodeAt(bytes, offset, bytes.length, address >>> 0, symbols);
}

/** Linear sweep over `bytes`, whose first byte is at address `origin`. */
export function disassemble(bytes: Uint8Array, origin: number, options: DisassembleOptions = {}): DisasmLine[] {
  const symbols = options.symbols ? symbolResolver(options.symbols) : undefined;
  const end = Math.min(options.end ?? bytes.length, bytes.length);
  const max = options.maxInstructions ?? Number.POSITIVE_INFINITY;
  const lines: DisasmLine[] = [];
  for (let offset = options.start ?? 0; offset < end && lines.length < max; ) {
    const address = (origin + offset) >>> 0;
    const line: DisasmLine = { address, ...decodeAt(bytes, offset, end, address, symbols) };
    const label = options.symbols?.get(address);
    if (label !== undefined) line.label = label;
    lines.push(line);
    offset += line.length;
  }
  return lines;
}

/** objdump prints seven bytes on an instruction's line and continues longer ones on extra lines. */
const BYTES_PER_LINE = 7;

/**
 * An objdump-style listing: `  100000:\tb8 01 00 00 00       \tmov    eax,0x1`, with `<label>:` lines
 * for labelled addresses. Lines are joined with "\n" (no trailing newline).
 */
export function formatListing(lines: readonly DisasmLine[]): string {
  const last = lines[lines.length - 1];
  if (!last) return "";
  // objdump drops leading zero digits of the section's end address, four at a time, keeping at least one.
  const endDigits = ((last.address + last.bytes.length) >>> 0).toString(16).padStart(8, "0");
  const zeros = endDigits.length - endDigits.replace(/^0+/, "").length;
  const width = 8 - (zeros > 0 ? (zeros - 1) & ~3 : 0);
  const addr = (a: number) => `${(a >>> 0).toString(16).padStart(width, " ")}:\t`;
  const byteText = (b: Uint8Array) => Array.from(b, (x) => `${x.toString(16).padStart(2, "0")} `).join("");
  const out: string[] = [];
  for (const line of lines) {
    if (line.label !== undefined) {
      if (out.length > 0) out.push("");
      out.push(`${line.address.toString(16).padStart(8, "0")} <${line.label}>:`);
    }
    const first = line.bytes.subarray(0, BYTES_PER_LINE);
    out.push(`${addr(line.address)}${byteText(first).padEnd(BYTES_PER_LINE * 3)}\t${line.text}`);
    for (let k = BYTES_PER_LINE; k < line.bytes.length; k += BYTES_PER_LINE) {
      out.push(`${addr(line.address + k)}${byteText(line.bytes.subarray(k, k + BYTES_PER_LINE))}`);
    }
  }
  return out.join("\n");
}
