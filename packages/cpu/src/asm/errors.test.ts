// Error reporting: exact messages, positions, every error of a file reported, nothing thrown.
import { describe, expect, test } from "vitest";
import { AsmErrorList, formatAsmError } from "./errors.js";
import { assemble, assembleOrThrow } from "./index.js";

function errorsOf(source: string, options: Parameters<typeof assemble>[1] = {}): string[] {
  const r = assemble(source, { fileName: "t.asm", ...options });
  return r.errors.map((e) => `${e.line}:${e.column}: ${e.message}`);
}

describe("error messages", () => {
  const cases: [string, string][] = [
    ["mvo eax, 1", "1:1: unknown instruction 'mvo'"],
    ["  mov al, ecx", "1:7: invalid combination of opcode and operands: no form of 'mov' takes (r8, r32)"],
    ["  lea eax, 5", "1:7: invalid combination of opcode and operands: no form of 'lea' takes (r32, imm)"],
    ["  add eax, ebx, ecx", "1:7: invalid combination of opcode and operands: no form of 'add' takes (r32, r32, r32)"],
    ["  mov cr0, ax", "1:7: invalid combination of opcode and operands: no form of 'mov' takes (creg, r16)"],
    ["  jmp nowhere", "1:7: undefined symbol 'nowhere'"],
    ["  mov eax, [ebx+nowhere*4]", "1:17: undefined symbol 'nowhere'"],
    ["a: nop\na: nop", "2:1: symbol 'a' is already defined (at t.asm:1)"],
    ["x equ 1\nx equ 2", "2:1: symbol 'x' is already defined (at t.asm:1)"],
    ["  mov al, 300", "1:11: value 300 is out of range for an 8-bit immediate (-128..255)"],
    ["  mov al, -129", "1:11: value -129 is out of range for an 8-bit immediate (-128..255)"],
    ["  int 256", "1:7: value 256 is out of range for an 8-bit immediate (-128..255)"],
    ["  ret 70000", "1:7: value 70000 is out of range for a 16-bit immediate (-32768..65535)"],
    [
      "  mov eax, 0x100000000",
      "1:12: value 4294967296 is out of range for a 32-bit immediate (-2147483648..4294967295)",
    ],
    ["  push byte 200", "1:8: value 200 does not fit in a sign-extended byte (-128..127)"],
    ["  db 256", "1:6: value 256 is out of range for 8-bit data"],
    ["  dw 70000", "1:6: value 70000 is out of range for 16-bit data"],
    ["  mov eax, (1 +", "1:16: expression expected at end of line"],
    ["  mov eax, (1 + 2", "1:18: expected ')' to close '(' at end of line"],
    ["  mov eax, 1 / 0", "1:14: division by zero"],
    ["  mov eax, 1 +* 2", "1:15: expression expected, found '*'"],
    ["  db 'abc", "1:6: unterminated string"],
    ['  db "abc', "1:6: unterminated string"],
    ["  db `\\q`", "1:6: unknown escape sequence '\\q'"],
    ["  mov eax, 12xz", "1:12: invalid number '12xz'"],
    ["  mov eax, dword ptr [ebx]", "1:18: 'ptr' is not NASM syntax: write 'dword [x]', not 'dword ptr [x]'"],
    ["  inc [eax]", "1:7: operation size not specified"],
    ["  push [eax]", "1:8: operation size not specified"],
    ["  add [eax], 1", "1:7: operation size not specified"],
    ["  movzx eax, [ebx]", "1:14: operation size not specified"],
    ["  mov eax, byte [ebx]", "1:7: invalid combination of opcode and operands: no form of 'mov' takes (r32, mem8)"],
    ["  mov ax, dword 5", "1:7: invalid combination of opcode and operands: no form of 'mov' takes (r16, imm32)"],
    ["  mov byte eax, 1", "1:7: mismatch in operand sizes: 'eax' is not byte"],
    ["bits 16", "1:6: only 32-bit code is supported ('bits 16')"],
    ["bits 64", "1:6: only 32-bit code is supported ('bits 64')"],
    ["  jmp short x\n  times 200 nop\nx:", "1:7: short jump is out of range (200 bytes)"],
    ["x:\n  times 300 nop\n  loop x", "3:8: short jump is out of range (-302 bytes)"],
    ["  mov eax, [ebx+ecx+edx]", "1:12: invalid effective address: too many registers"],
    ["  mov eax, [esp*2]", "1:12: invalid effective address: esp cannot be an index register"],
    ["  mov eax, [eax*7]", "1:12: invalid effective address: scale factor 7 is not 1, 2, 4 or 8"],
    ["  mov eax, [ebx-ecx]", "1:12: register 'ecx' cannot be subtracted in an address"],
    ["  mov eax, [ax]", "1:12: 16-bit addressing is not supported (use 32-bit registers)"],
    ["  mov eax, [ebx", "1:16: expected ']' to close the memory reference opened at column 12 at end of line"],
    ["  mov eax, []", "1:13: empty memory reference"],
    ["  mov eax, ebx+1", "1:12: register 'ebx' not allowed in this expression"],
    ["  mov eax,", "1:11: operand expected"],
    ["  db 1 2", "1:8: expected ',' between values, found '2'"],
    ["  movsb eax", "1:9: 'movsb' takes no operands"],
    ["  rep mov eax, 1", "1:3: 'mov' cannot take a rep prefix"],
    ["  rep", "1:6: instruction expected after prefix"],
    ["x equ", "1:6: expression expected after 'equ'"],
    ["  equ 5", "1:3: 'equ' must follow a label name"],
    ["  section .data", "1:11: only the .text section is supported in flat binary output (found '.data')"],
    ["  extern foo", "1:3: 'extern' is not supported: flat binary output has no linker"],
    ["org 0x100\norg 0x200", "2:1: program origin redefined: 'org' may appear only once"],
    ["  align 3", "1:3: alignment must be a power of two (got 3)"],
    ["  times -1 nop", "1:3: 'times' count is negative (-1)"],
    ["  times x nop\nx equ $", "1:3: 'times' count must be a number, not an address"],
    ["  %foo", "1:3: unknown preprocessor directive '%foo'"],
    ["%if 1", "1:1: %if has no matching %endif"],
    ["%endif", "1:1: %endif without %if"],
    ["%else", "1:1: %else without %if"],
    ["%macro m 1\n  nop", "1:1: %macro has no matching %endmacro"],
    ["%error custom failure", "1:1: custom failure"],
    ["%ifidn a, b\n  nop\n%endif", "1:1: unsupported preprocessor directive '%ifidn'"],
    ["%define F(a) a\n  mov eax, F(1, 2)", "2:12: macro 'F' takes 1 parameter(s), got 2"],
    ["%macro m 2\n%endmacro\n  m 1", "3:3: macro 'm' takes 2 parameter(s), got 1"],
    ["  $", "1:3: instruction or directive expected, found '$'"],
    ["junk 5", "1:1: unknown instruction 'junk'"],
    ["  mov eax, 'abcdefghi'", "1:12: character constant too long"],
    ["  dw 1.5", "1:6: floating-point values are only supported in dd and dq"],
    ["  mov eax, 1.5", "1:12: floating-point constant not allowed here"],
  ];
  test.each(cases)("%s", (source, expected) => {
    expect(errorsOf(`${source}\n`)).toEqual([expected]);
  });

  test("circular equ", () => {
    expect(errorsOf("a equ b\nb equ a\n")).toEqual([
      "1:7: cannot resolve the value of 'b'",
      "2:7: cannot resolve the value of 'a'",
    ]);
  });

  test("missing include file", () => {
    const readFile = (path: string): string => {
      throw new Error(`ENOENT ${path}`);
    };
    expect(errorsOf('%include "missing.inc"\n', { readFile })).toEqual([
      "1:10: cannot open include file 'missing.inc'",
    ]);
    expect(errorsOf('%include "missing.inc"\n')).toEqual([
      "1:10: cannot include 'missing.inc': no readFile function was given to the assembler",
    ]);
  });
});

describe("error reporting", () => {
  test("every error of the file is reported, in source order, with correct positions", () => {
    const source = [
      "bits 32",
      "start:",
      "  mvo eax, 1",
      "  mov al, ecx",
      "  jmp nowhere",
      "  mov eax, [ebx",
      "  db 'abc",
      "  nop",
      "start:",
      "  inc [eax]",
    ].join("\n");
    const r = assemble(source, { fileName: "prog.asm" });
    expect(r.errors.map((e) => `${e.file}:${e.line}:${e.column}`)).toEqual([
      "prog.asm:3:3",
      "prog.asm:4:7",
      "prog.asm:5:7",
      "prog.asm:6:16",
      "prog.asm:7:6",
      "prog.asm:9:1",
      "prog.asm:10:7",
    ]);
    expect(r.bytes.length).toBe(0);
  });

  test("formatting: file:line:col, the line and a caret (tabs kept)", () => {
    const r = assemble("\tmov\tal, ecx\n", { fileName: "f.asm" });
    expect(formatAsmError(r.errors[0]!)).toBe(
      "f.asm:1:6: invalid combination of opcode and operands: no form of 'mov' takes (r8, r32)\n\tmov\tal, ecx\n\t   \t^",
    );
  });

  test("assembleOrThrow throws an AsmErrorList with every error formatted", () => {
    let caught: unknown;
    try {
      assembleOrThrow("  mvo eax, 1\n  jmp nowhere\n", { fileName: "x.asm" });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AsmErrorList);
    const list = caught as AsmErrorList;
    expect(list.errors).toHaveLength(2);
    expect(list.message).toBe(
      [
        "x.asm:1:3: unknown instruction 'mvo'",
        "  mvo eax, 1",
        "  ^",
        "x.asm:2:7: undefined symbol 'nowhere'",
        "  jmp nowhere",
        "      ^",
      ].join("\n"),
    );
    expect(assembleOrThrow("nop\n").bytes).toEqual(Uint8Array.of(0x90));
  });

  test("errors in included files and macros point at the right place", () => {
    const files: Record<string, string> = {
      "lib/defs.inc": "  nop\n  mov al, 999\n",
    };
    const source = [
      '%include "lib/defs.inc"',
      "%macro bad 1",
      "  mov al, %1",
      "%endmacro",
      "  bad 1000",
      "%define BIG 5000",
      "  mov al, BIG",
    ].join("\n");
    const r = assemble(source, {
      fileName: "main.asm",
      readFile: (p) => {
        const t = files[p];
        if (t === undefined) throw new Error("missing");
        return t;
      },
    });
    expect(r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message} | ${e.sourceLine}`)).toEqual([
      "lib/defs.inc:2:11: value 999 is out of range for an 8-bit immediate (-128..255) |   mov al, 999",
      "main.asm:5:3: value 1000 is out of range for an 8-bit immediate (-128..255) (in macro 'bad') |   bad 1000",
      "main.asm:7:11: value 5000 is out of range for an 8-bit immediate (-128..255) |   mov al, BIG",
    ]);
  });

  test("never throws for garbage input", () => {
    const garbage = [
      "[[[",
      "]]]",
      "%%",
      "%",
      ":::",
      "mov [",
      "db ,",
      "times",
      "%macro",
      "%define",
      "``",
      "\u0000\u0001",
      "label: equ",
      "0x",
    ];
    for (const g of garbage) {
      const r = assemble(`${g}\n`);
      expect(r.errors.length, g).toBeGreaterThan(0);
    }
  });

  test("never throws for random token soup", () => {
    const vocab = [
      "mov",
      "add",
      "jmp",
      "push",
      "times",
      "db",
      "dd",
      "equ",
      "org",
      "align",
      "%define",
      "%macro",
      "%endmacro",
      "%if",
      "%endif",
      "%rep",
      "%endrep",
      "%include",
      "eax",
      "al",
      "es",
      "cr0",
      "[",
      "]",
      "(",
      ")",
      ",",
      ":",
      "+",
      "-",
      "*",
      "/",
      "//",
      "%%",
      "<<",
      "?",
      "$",
      "$$",
      "1",
      "0x80",
      "-129",
      "'ab'",
      '"s"',
      "`x`",
      "label",
      ".local",
      "byte",
      "dword",
      "short",
      "far",
      "nosplit",
      "rep",
      "lock",
      "%1",
      "%%l",
      "strict",
      "1.5",
      ";",
      "x:",
      "\t",
    ];
    let seed = 99;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let round = 0; round < 20; round++) {
      const lines: string[] = [];
      for (let i = 0; i < 200; i++) {
        const n = rand(7);
        const words: string[] = [];
        for (let k = 0; k < n; k++) words.push(vocab[rand(vocab.length)]!);
        lines.push(words.join(rand(2) ? " " : ""));
      }
      expect(() => assemble(lines.join("\n"), { readFile: () => "nop" })).not.toThrow();
    }
  });
});
