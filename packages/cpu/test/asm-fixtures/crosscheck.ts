// Cross-checking generated source lines against NASM, line by line (shared by the assembler tests).
import { expect } from "vitest";
import { assemble } from "../../src/asm/index.js";
import { hexBytes, runNasm } from "./reference.js";

/**
 * Lines NASM rejects that this assembler accepts on purpose (the table allows them), by pattern.
 * Every other line NASM rejects must be rejected here too.
 */
export const ACCEPTED_BEYOND_NASM: readonly { pattern: RegExp; why: string }[] = [
  {
    pattern: /^bswap (ax|cx|dx|bx|sp|bp|si|di)\b/,
    why: "the table's BSWAP is Zv; the 16-bit form is undefined (SDM) and NASM refuses it",
  },
  {
    pattern: /^mov[sz]x (ax|cx|dx|bx|sp|bp|si|di), (word |ax|cx|dx|bx|sp|bp|si|di)/,
    why: "Gv,Ew with a 16-bit Gv is a plain 16-bit move; NASM refuses it",
  },
];

/**
 * Lines where the table's encoding deliberately differs from NASM's (reported to the table's owner).
 * The first capture of the pattern must be the whole line.
 */
export const KNOWN_MISMATCHES: readonly { pattern: RegExp; why: string }[] = [];

const HEADER = "bits 32\norg 0x100000\nSMALL equ 5\nBIG equ 500\nhere:\nfar_back:\ntimes 300 nop\n";
const FOOTER = "times 300 nop\nfar_fwd:\nFWD_SMALL equ 5\nFWD_BIG equ 500\nFWD_DIFF equ far_fwd - far_back\n";

export function wrap(lines: readonly string[]): { source: string; lineOf: Map<number, number> } {
  const parts: string[] = [HEADER];
  const lineOf = new Map<number, number>();
  let lineNo = HEADER.split("\n").length - 1;
  lines.forEach((l, i) => {
    parts.push(`L${i}:\n.back:\n${l}\n.fwd:\n`);
    lineOf.set(lineNo + 3, i);
    lineNo += 4;
  });
  parts.push(FOOTER);
  return { source: parts.join(""), lineOf };
}

/** Per-line byte ranges from NASM's listing. */
function nasmLineOffsets(listing: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const row of listing.split("\n")) {
    const m = /^\s*(\d+) ([0-9A-F]{8}) /.exec(row);
    if (m && !out.has(Number(m[1]))) out.set(Number(m[1]), Number.parseInt(m[2]!, 16));
  }
  return out;
}

export interface Outcome {
  mismatches: string[];
  nasmRejected: string[];
  weRejected: string[];
  count: number;
}

export function crossCheck(lines: readonly string[]): Outcome {
  const isKnown = isKnownMismatch;
  // Known mismatches are compared on their own: they may change lengths and move later labels.
  const known = lines.filter(isKnown);
  const main = lines.filter((l) => !isKnown(l));
  const a = crossCheckBatch(main);
  if (known.length > 0) {
    const b = crossCheckBatch(known);
    a.nasmRejected.push(...b.nasmRejected);
    a.weRejected.push(...b.weRejected);
    a.mismatches.push(...b.mismatches);
    for (const l of known) {
      if (!b.differing.includes(l) && b.compared.includes(l)) {
        a.mismatches.push(`${l}: listed in KNOWN_MISMATCHES but now identical to NASM (remove it from the list)`);
      }
    }
    a.count += b.count;
  }
  return a;
}

function crossCheckBatch(lines: readonly string[]): Outcome & { differing: string[]; compared: string[] } {
  let candidates = [...lines];
  const nasmRejected: string[] = [];
  // Drop the lines NASM rejects (they are checked separately).
  for (let round = 0; round < 4; round++) {
    const { source, lineOf } = wrap(candidates);
    const r = runNasm(source);
    if (r.errors.length === 0) break;
    const bad = new Map<number, string>();
    for (const e of r.errors) {
      const i = lineOf.get(e.line);
      if (i === undefined) throw new Error(`NASM error outside the generated lines: ${e.line}: ${e.message}`);
      if (!bad.has(i)) bad.set(i, e.message);
    }
    for (const [i, message] of bad) nasmRejected.push(`${candidates[i]}  ; nasm: ${message}`);
    candidates = candidates.filter((_, i) => !bad.has(i));
  }
  // Lines we reject that NASM accepts.
  const weRejected: string[] = [];
  {
    const { source, lineOf } = wrap(candidates);
    const ours = assemble(source, { fileName: "gen.asm" });
    const bad = new Set<number>();
    for (const e of ours.errors) {
      const i = lineOf.get(e.line);
      if (i === undefined) throw new Error(`our error outside the generated lines: ${e.line}: ${e.message}`);
      bad.add(i);
      weRejected.push(`${candidates[i]}  ; ours: ${e.message}`);
    }
    candidates = candidates.filter((_, i) => !bad.has(i));
  }
  const { source, lineOf } = wrap(candidates);
  const nasm = runNasmWithListing(source);
  const ours = assemble(source, { fileName: "gen.asm" });
  expect(ours.errors).toEqual([]);
  const mismatches: string[] = [];
  const differing: string[] = [];
  // Each listed line's NASM bytes run up to the next listed address.
  const starts = [...nasm.offsets].sort((x, y) => x[0] - y[0]);
  const nextStart = new Map<number, number>();
  for (let k = 0; k + 1 < starts.length; k++) nextStart.set(starts[k]![0], starts[k + 1]![1]);
  for (const info of ours.lines) {
    const i = lineOf.get(info.line);
    if (i === undefined) continue;
    const ourBytes = ours.bytes.subarray(info.offset, info.offset + info.size);
    const start = nasm.offsets.get(info.line);
    const next = nextStart.get(info.line);
    if (start === undefined || next === undefined) {
      mismatches.push(`${candidates[i]}: no NASM listing row`);
      continue;
    }
    const theirs = nasm.bytes.subarray(start, next);
    if (hexBytes(ourBytes) !== hexBytes(theirs)) {
      differing.push(candidates[i]!);
      if (isKnownMismatch(candidates[i]!)) continue;
      mismatches.push(`${candidates[i]}: ours ${hexBytes(ourBytes)} | nasm ${hexBytes(theirs)}`);
    }
  }
  if (differing.length === 0 && hexBytes(ours.bytes) !== hexBytes(nasm.bytes)) {
    mismatches.push("whole images differ although every line matched");
  }
  return { mismatches, nasmRejected, weRejected, count: candidates.length, differing, compared: candidates };
}

function isKnownMismatch(line: string): boolean {
  return KNOWN_MISMATCHES.some((k) => k.pattern.test(`${line}:`));
}

function runNasmWithListing(source: string): { bytes: Uint8Array; offsets: Map<number, number> } {
  const r = runNasm(source, true);
  if (!r.bytes || r.listing === undefined) throw new Error(`nasm failed:\n${r.stderr}`);
  return { bytes: r.bytes, offsets: nasmLineOffsets(r.listing) };
}

/** Cross-checks lines and also reports the lines NASM rejects that we accept (minus the allowlist). */
export function crossCheckAll(lines: readonly string[]): {
  mismatches: string[];
  weRejected: string[];
  weAcceptNasmRejects: string[];
  count: number;
} {
  const out = crossCheck(lines);
  const weAcceptNasmRejects: string[] = [];
  if (out.nasmRejected.length > 0) {
    const { source, lineOf } = wrap(out.nasmRejected.map((l) => l.replace(/\s+; nasm:.*$/, "")));
    const ours = assemble(source);
    const rejected = new Set(ours.errors.map((e) => lineOf.get(e.line)));
    out.nasmRejected.forEach((l, i) => {
      if (!rejected.has(i) && !ACCEPTED_BEYOND_NASM.some((a) => a.pattern.test(l))) weAcceptNasmRejects.push(l);
    });
  }
  return { mismatches: out.mismatches, weRejected: out.weRejected, weAcceptNasmRejects, count: out.count };
}
