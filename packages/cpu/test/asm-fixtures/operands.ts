// Representative operands of each OperandKind, for the NASM cross-check of every table form.
import type { Form } from "../../src/asm/encoder.js";
import type { OperandKind } from "../../src/isa/types.js";

export const MEMORY_MODES = [
  "[eax]",
  "[ebp]",
  "[esp]",
  "[0x1234]",
  "[0x12345678]",
  "[eax+ecx*4+8]",
  "[ebx+0x12345678]",
  "[esi*8+4]",
  "[ebp-0x80]",
  "[ebp+0x80]",
  "[esp+edi*2-4]",
  "[eax*2]",
  "[ecx*1+edx]",
  "[ebx+esi]",
  "[es:edi]",
  "[fs:ebx+0x10]",
  "[ss:ebp+4]",
];

const R8 = ["al", "cl", "dl", "bh", "ah"];
const R16 = ["ax", "cx", "sp", "di"];
const R32 = ["eax", "ecx", "esp", "ebp", "edi"];
const ALL8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const ALL16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const ALL32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

const sized = (word: string): string[] => MEMORY_MODES.map((m) => `${word} ${m}`);

/** Operand texts for one kind at one operand size. Jumps use labels the caller defines. */
export function operandValues(kind: OperandKind, opsize: 16 | 32): string[] {
  const v = (w: string[], d: string[]): string[] => (opsize === 16 ? w : d);
  switch (kind) {
    case "Eb":
      return [...R8, ...sized("byte")];
    case "Ew":
      return [...R16, ...sized("word")];
    case "Ed":
      return [...R32, ...sized("dword")];
    case "Ev":
      return v([...R16, ...sized("word")], [...R32, ...sized("dword")]);
    case "Gb":
      return R8;
    case "Gw":
      return R16;
    case "Gd":
      return R32;
    case "Gv":
      return v(R16, R32);
    case "M":
    case "Ms":
    case "Mq":
      return MEMORY_MODES;
    case "Mp":
      return MEMORY_MODES.map((m) => `far ${m}`);
    case "Rd":
      return R32;
    case "Ib":
      return ["0", "0x7f", "0x80", "0xff", "-128", "-1"];
    case "Iw":
      return ["0", "0x7fff", "0xffff", "-1", "0x1234"];
    case "Iz":
      return v(
        ["0x1234", "0x7f", "0x80", "0xffff", "-129", "-1"],
        ["0x12345678", "0", "1", "0x7f", "0x80", "-128", "-129", "0xffffffff", "0xffffff80", "here"],
      );
    case "Ibs":
      return v(["1", "0x7f", "-128", "-1", "0xff80"], ["1", "0x7f", "-128", "-1", "0xffffff80"]);
    case "Jb":
      return ["$", "$+2", "$-0x7e", "$+0x81", ".back", ".fwd"];
    case "Jz":
      return ["far_back", "far_fwd", "near .fwd", "0x1000", "$", ".fwd"];
    case "Ob":
      return ["[0x12345678]", "[fs:0x10]", "byte [0x10]"];
    case "Ov":
      return v(["[0x12345678]", "[gs:0x10]", "word [0x10]"], ["[0x12345678]", "[gs:0x10]", "dword [0x10]"]);
    case "Sw":
      return ["es", "cs", "ss", "ds", "fs", "gs"];
    case "Cd":
      return ["cr0", "cr2", "cr3", "cr4"];
    case "Ap":
      return ["0x08:0x12345678", "0x10:0"];
    case "Zb":
      return ALL8;
    case "Zv":
      return v(ALL16, ALL32);
    case "AL":
      return ["al"];
    case "CL":
      return ["cl"];
    case "DX":
      return ["dx"];
    case "eAX":
      return v(["ax"], ["eax"]);
    case "ES":
    case "CS":
    case "SS":
    case "DS":
    case "FS":
    case "GS":
      return [kind.toLowerCase()];
    case "1":
      return ["1"];
    case "Xb":
    case "Xv":
    case "Yb":
    case "Yv":
      return [];
  }
}

/**
 * Source lines exercising one form: every operand at its first value, then each operand in turn
 * through all its values. Forms with string operands are written without operands (and with
 * their REP prefixes).
 */
export function formLines(mnemonic: string, form: Form): string[] {
  const out = new Set<string>();
  if (form.implicit) {
    out.add(mnemonic);
    if (form.def.rep === "rep") out.add(`rep ${mnemonic}`);
    if (form.def.rep === "repe-repne") {
      out.add(`repe ${mnemonic}`);
      out.add(`repne ${mnemonic}`);
    }
    return [...out];
  }
  const sizes: (16 | 32)[] = form.fixedOpsize ? [form.fixedOpsize] : form.sized ? [32, 16] : [32];
  for (const opsize of sizes) {
    const lists = form.def.operands.map((k) => operandValues(k, opsize));
    const line = (vals: string[]): string => (vals.length ? `${mnemonic} ${vals.join(", ")}` : mnemonic);
    const base = lists.map((l) => l[0]!);
    out.add(line(base));
    lists.forEach((l, i) => {
      for (const v of l) {
        const vals = [...base];
        vals[i] = v;
        out.add(line(vals));
      }
    });
  }
  return [...out];
}
