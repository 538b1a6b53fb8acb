// Every assemblable form of the opcode table, assembled by this assembler and by NASM (nasm -f bin):
// the bytes must be identical. NASM must be installed; the test fails (it does not skip) without it.
// All lines are assembled in one batch; each mnemonic then gets its own test result.
import { beforeAll, describe, expect, test } from "vitest";
import { crossCheckAll } from "../../test/asm-fixtures/crosscheck.js";
import { formLines } from "../../test/asm-fixtures/operands.js";
import { requireNasm } from "../../test/asm-fixtures/reference.js";
import { OPCODES } from "../isa/opcodes.js";
import { InstructionSet } from "./encoder.js";

const set = new InstructionSet(OPCODES);
const names = set.mnemonics().sort();
const linesOf = new Map<string, string[]>();
for (const name of names) {
  const lines = new Set<string>();
  for (const form of set.lookup(name) ?? []) for (const l of formLines(name, form)) lines.add(l);
  linesOf.set(name, [...lines]);
}

let outcome: ReturnType<typeof crossCheckAll> | undefined;

describe("NASM cross-check of every table form", () => {
  beforeAll(() => {
    requireNasm();
    outcome = crossCheckAll([...linesOf.values()].flat());
  }, 120_000);

  test("nasm is installed", () => {
    requireNasm();
  });

  test.each(names)("%s", (name) => {
    requireNasm();
    const all = outcome!;
    const own = (l: string): boolean => {
      const text = l.replace(/(:| +;).*$/, "");
      return linesOf.get(name)!.includes(text);
    };
    expect({
      mismatches: all.mismatches.filter(own),
      weRejected: all.weRejected.filter(own),
      weAcceptNasmRejects: all.weAcceptNasmRejects.filter(own),
    }).toEqual({ mismatches: [], weRejected: [], weAcceptNasmRejects: [] });
    expect(linesOf.get(name)!.length).toBeGreaterThan(0);
  });

  test("the batch assembled lines and reported nothing it could not attribute", () => {
    const all = outcome!;
    const known = new Set([...linesOf.values()].flat());
    const unattributed = [...all.mismatches, ...all.weRejected, ...all.weAcceptNasmRejects].filter(
      (l) => !known.has(l.replace(/(:| +;).*$/, "")),
    );
    expect(unattributed).toEqual([]);
    expect(all.count).toBeGreaterThan(1000);
  });
});
