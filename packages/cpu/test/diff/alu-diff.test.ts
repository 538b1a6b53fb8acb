// Differential test: every case in alu-cases.json was executed on a real x86 CPU by gen-alu.sh.
// Here each case runs on the interpreter (its bytes at physical 0x1000, then HLT) and EAX, ECX,
// EDX and the architecturally defined arithmetic flags (eflags & definedMask) must match the CPU.
// Flags the Intel SDM leaves undefined are outside definedMask and never compared.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/index.js";

interface Regs {
  eax: number;
  ecx: number;
  edx: number;
  eflags: number;
}

interface AluCase {
  insn: string;
  size: 8 | 16 | 32;
  bytes: string;
  in: Regs;
  out: Regs;
  definedMask: number;
}

interface AluCases {
  generatedBy: string;
  cpu: string;
  cases: AluCase[];
}

const data = JSON.parse(readFileSync(new URL("./alu-cases.json", import.meta.url), "utf8")) as AluCases;

const CODE_ADDR = 0x1000;
const HLT = 0xf4;
const EFLAGS_RESERVED_1 = 0x2;
const ARITH_FLAGS = 0x8d5;
const REGS = ["eax", "ecx", "edx"] as const;
const FLAGS = [
  ["CF", 0x001],
  ["PF", 0x004],
  ["AF", 0x010],
  ["ZF", 0x040],
  ["SF", 0x080],
  ["OF", 0x800],
] as const;
/** Detailed failure lines per instruction form; the rest are only counted. */
const MAX_REPORTED = 12;

/** The one place that creates the machine: it must execute the case bytes as flat 32-bit code (CS.D=1, base 0). */
function newMachine(): Machine {
  return new Machine({ memoryMiB: 1 });
}

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

function flagNames(flags: number): string {
  const names = FLAGS.filter(([, bit]) => flags & bit).map(([name]) => name);
  return names.length > 0 ? names.join("|") : "-";
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Runs one case on the interpreter; returns the resulting registers or a description of what went wrong. */
function runOnInterpreter(c: AluCase): Regs | string {
  try {
    const m = newMachine();
    const code = hexToBytes(c.bytes);
    const image = new Uint8Array(code.length + 1);
    image.set(code);
    image[code.length] = HLT;
    m.writePhysical(CODE_ADDR, image);
    for (const r of REGS) m.cpu.setReg(r, c.in[r]);
    m.cpu.setEflags(c.in.eflags | EFLAGS_RESERVED_1);
    m.cpu.eip = CODE_ADDR;
    const stop = m.run({ maxInstructions: 10 });
    if (stop.kind !== "halt") return `stopped with kind "${stop.kind}" instead of "halt"`;
    return {
      eax: m.cpu.getReg("eax") >>> 0,
      ecx: m.cpu.getReg("ecx") >>> 0,
      edx: m.cpu.getReg("edx") >>> 0,
      eflags: m.cpu.getEflags() >>> 0,
    };
  } catch (e) {
    return `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
}

function describeInputs(c: AluCase): string {
  return (
    `${c.insn} [${c.bytes}] in eax=${hex32(c.in.eax)} ecx=${hex32(c.in.ecx)} edx=${hex32(c.in.edx)} ` +
    `flags=${flagNames(c.in.eflags)}`
  );
}

/** Returns null when the interpreter agrees with the recorded CPU result, else a one-line explanation. */
function checkCase(c: AluCase): string | null {
  const actual = runOnInterpreter(c);
  if (typeof actual === "string") return `${describeInputs(c)}: ${actual}`;
  const problems: string[] = [];
  for (const r of REGS) {
    if (actual[r] !== c.out[r]) problems.push(`${r} expected ${hex32(c.out[r])} got ${hex32(actual[r])}`);
  }
  const differing = (actual.eflags ^ c.out.eflags) & c.definedMask;
  for (const [name, bit] of FLAGS) {
    if (differing & bit) {
      problems.push(`${name} expected ${c.out.eflags & bit ? 1 : 0} got ${actual.eflags & bit ? 1 : 0}`);
    }
  }
  if (problems.length === 0) return null;
  return (
    `${describeInputs(c)} -> ${problems.join("; ")} ` +
    `(expected flags=${flagNames(c.out.eflags)}, got ${flagNames(actual.eflags & ARITH_FLAGS)}, ` +
    `compared ${flagNames(c.definedMask)})`
  );
}

function groupOf(insn: string): string {
  const mnemonic = insn.split(" ")[0] ?? insn;
  if (mnemonic.startsWith("set")) return "setcc";
  if (mnemonic.startsWith("cmov")) return "cmovcc";
  return mnemonic;
}

// group -> instruction form -> cases, in file order.
const groups = new Map<string, Map<string, AluCase[]>>();
for (const c of data.cases) {
  const group = groupOf(c.insn);
  let forms = groups.get(group);
  if (!forms) groups.set(group, (forms = new Map()));
  let cases = forms.get(c.insn);
  if (!cases) forms.set(c.insn, (cases = []));
  cases.push(c);
}

describe("alu-cases.json", () => {
  it("is well-formed", () => {
    expect(data.cases.length).toBeGreaterThan(1000);
    const malformed = data.cases.filter(
      (c) =>
        !/^([0-9a-f]{2})+$/.test(c.bytes) ||
        ![8, 16, 32].includes(c.size) ||
        (c.definedMask & ~ARITH_FLAGS) !== 0 ||
        [c.in, c.out].some((r) =>
          [r.eax, r.ecx, r.edx, r.eflags].some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff),
        ),
    );
    expect(malformed).toEqual([]);
  });

  it("runs on an interpreter that executes the bytes as 32-bit code", () => {
    // 01 C8 is `add eax, ecx` in 32-bit code but `add ax, cx` in 16-bit code.
    const probe: AluCase = {
      insn: "add eax, ecx",
      size: 32,
      bytes: "01c8",
      in: { eax: 0x0001ffff, ecx: 1, edx: 0, eflags: 0 },
      out: { eax: 0x00020000, ecx: 1, edx: 0, eflags: 0x10 | 0x04 },
      definedMask: ARITH_FLAGS,
    };
    const failure = checkCase(probe);
    if (failure) {
      expect.fail(
        `${failure}\nIf eax is 0x00010000 the CPU ran the bytes as 16-bit code: newMachine() must set up ` +
          "flat 32-bit protected mode (CS.D=1, base 0).",
      );
    }
  });
});

for (const [group, forms] of groups) {
  describe(`${group} (vs ${data.cpu})`, () => {
    for (const [insn, cases] of forms) {
      it(`${insn} — ${cases.length} cases`, () => {
        const reported: string[] = [];
        let failed = 0;
        for (const c of cases) {
          const failure = checkCase(c);
          if (failure === null) continue;
          failed++;
          if (reported.length < MAX_REPORTED) reported.push(failure);
        }
        if (failed > 0) {
          const more = failed > reported.length ? `\n  ... and ${failed - reported.length} more` : "";
          expect.fail(
            `${failed} of ${cases.length} cases of "${insn}" differ from the real CPU:\n  ${reported.join("\n  ")}${more}`,
          );
        }
      });
    }
  });
}
