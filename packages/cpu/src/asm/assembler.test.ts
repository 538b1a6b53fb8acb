// The assembler's API: symbols, origin, listing, the per-line address map, includes, macros and
// the syntax details that are ours to define (they have no NASM counterpart to compare with).
import { describe, expect, test } from "vitest";
import { formatAsmErrors } from "./errors.js";
import { assemble, assembleOrThrow } from "./index.js";

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

function bytesOf(source: string, options: Parameters<typeof assemble>[1] = {}): string {
  const r = assemble(source, options);
  expect(formatAsmErrors(r.errors)).toBe("");
  return hex(r.bytes);
}

describe("symbols and origin", () => {
  test("labels, local labels and equ constants, with the origin applied", () => {
    const r = assembleOrThrow(
      ["org 0x7c00", "start:", "  nop", ".loop:", "  jmp .loop", "data: dd start.loop", "SIZE equ $ - start"].join(
        "\n",
      ),
    );
    expect(r.origin).toBe(0x7c00);
    expect(Object.fromEntries(r.symbols)).toEqual({
      start: 0x7c00,
      "start.loop": 0x7c01,
      data: 0x7c03,
      SIZE: 7,
    });
    expect(hex(r.bytes)).toBe("90 eb fe 01 7c 00 00");
  });

  test("options.origin is the default load address; org in the source wins", () => {
    expect(assembleOrThrow("x: dd x", { origin: 0x1000 }).symbols.get("x")).toBe(0x1000);
    expect(assembleOrThrow("x: dd x", { origin: 0x1000 }).origin).toBe(0x1000);
    const r = assembleOrThrow("x: dd x\norg 0x2000", { origin: 0x1000 });
    expect(r.origin).toBe(0x2000);
    expect(hex(r.bytes)).toBe("00 20 00 00");
  });

  test("equ does not start a new scope for local labels; ..@ labels do not either", () => {
    const r = assembleOrThrow(["a:", "K equ 1", ".x: db 0", "..@m: db 0", ".y: db 0"].join("\n"));
    expect([...r.symbols.keys()]).toEqual(["a", "K", "a.x", "a.y"]);
  });

  test("labels are case-sensitive; mnemonics, registers and directives are not", () => {
    const r = assembleOrThrow(
      ["Foo: DB 1", "foo: Db 2", "  MOV EAX, [EBX]", "  Mov Ecx, Foo", "BITS 32", "[bits 32]", "use32"].join("\n"),
    );
    expect(r.symbols.get("Foo")).toBe(0);
    expect(r.symbols.get("foo")).toBe(1);
    expect(hex(r.bytes)).toBe("01 02 8b 03 b9 00 00 00 00");
  });

  test("bare labels, $-escaped names, labels before instructions", () => {
    const r = assembleOrThrow(["start", "$mov: db 1", "here nop", "  jmp $mov"].join("\n"));
    expect(Object.fromEntries(r.symbols)).toEqual({ start: 0, mov: 0, here: 1 });
    expect(hex(r.bytes)).toBe("01 90 eb fc");
  });
});

describe("per-line address map and listing", () => {
  const source = ["bits 32", "org 0x100", "start:", "  mov eax, 5 ; five", "  db 'abcdefghij'", "  nop"].join("\n");

  test("lines give each source line's address and bytes", () => {
    const r = assembleOrThrow(source, { fileName: "p.asm" });
    expect(r.lines).toEqual([
      { file: "p.asm", line: 1, address: 0x100, offset: 0, size: 0 },
      { file: "p.asm", line: 2, address: 0x100, offset: 0, size: 0 },
      { file: "p.asm", line: 3, address: 0x100, offset: 0, size: 0 },
      { file: "p.asm", line: 4, address: 0x100, offset: 0, size: 5 },
      { file: "p.asm", line: 5, address: 0x105, offset: 5, size: 10 },
      { file: "p.asm", line: 6, address: 0x10f, offset: 15, size: 1 },
    ]);
  });

  test("NASM-like listing: line number, address, bytes, source", () => {
    const r = assembleOrThrow(source);
    expect(r.listing).toBe(
      [
        "     1 00000100                         bits 32",
        "     2 00000100                         org 0x100",
        "     3 00000100                         start:",
        "     4 00000100 B805000000                mov eax, 5 ; five",
        "     5 00000105 6162636465666768-         db 'abcdefghij'",
        "     5 0000010D 696A",
        "     6 0000010F 90                        nop",
        "",
      ].join("\n"),
    );
  });

  test("macro expansions and included lines are marked with their depth", () => {
    const r = assembleOrThrow(["%macro two 0", "  nop", "  nop", "%endmacro", "  two", '%include "x.inc"'].join("\n"), {
      readFile: () => "  int3\n",
    });
    expect(r.listing.split("\n").slice(4, 8)).toEqual([
      "     5                                    two",
      "     5 00000000 90                      <1>   nop",
      "     5 00000001 90                      <1>   nop",
      '     6                                  %include "x.inc"',
    ]);
    expect(r.listing.split("\n")[8]).toBe("     1 00000002 CC                      <1>   int3");
    expect(r.lines.map((l) => `${l.file}:${l.line}+${l.size}`)).toEqual(["<source>:5+1", "<source>:5+1", "x.inc:1+1"]);
  });
});

describe("includes", () => {
  test("paths are relative to the including file", () => {
    const files: Record<string, string> = {
      "src/main.asm": '%include "lib/a.inc"\ndb 0',
      "src/lib/a.inc": '%include "b.inc"\n%include "../c.inc"\ndb 1',
      "src/lib/b.inc": "db 2",
      "src/c.inc": "db 3",
    };
    const readFile = (p: string): string => {
      const t = files[p];
      if (t === undefined) throw new Error(`ENOENT ${p}`);
      return t;
    };
    expect(bytesOf(files["src/main.asm"]!, { fileName: "src/main.asm", readFile })).toBe("02 03 01 00");
  });

  test("recursive includes stop with an error", () => {
    const r = assemble('%include "self.asm"', { fileName: "self.asm", readFile: () => '%include "self.asm"' });
    expect(r.errors.map((e) => e.message)).toEqual(["%include nested too deeply"]);
  });
});

describe("preprocessor", () => {
  test("defines from the options", () => {
    expect(bytesOf("db VALUE, OTHER", { defines: { VALUE: "3", OTHER: "VALUE + 1" } })).toBe("03 04");
  });

  test("%define is rescanned and parameterised macros nest", () => {
    expect(bytesOf("%define F(x) ((x) * 2)\n%define G F\ndb G(F(3))")).toBe("0c");
  });

  test("self-referencing %define does not loop", () => {
    expect(bytesOf("x equ 5\n%define x x + 1\ndb x")).toBe("06");
  });

  test("conditionals nest, also around directives we do not support", () => {
    const src = ["%if 0", "%ifidn a, b", "%else", "%endif", "  db 1", "%elif 1", "  db 2", "%else", "  db 3", "%endif"];
    expect(bytesOf(src.join("\n"))).toBe("02");
  });

  test("%rep, %assign and macro-local labels", () => {
    const src = [
      "%assign i 0",
      "%rep 3",
      "  db i",
      "%assign i i+1",
      "%endrep",
      "%macro spin 0",
      "%%l: jmp %%l",
      "%endmacro",
      "spin",
      "spin",
    ].join("\n");
    expect(bytesOf(src)).toBe("00 01 02 eb fe eb fe");
  });
});

describe("syntax details", () => {
  test("segment-override and rep prefixes as words", () => {
    expect(bytesOf("es movsb\nrep stosb\nfs mov eax, [ebx]\nlock add [eax], eax")).toBe(
      "26 a4 f3 aa 64 8b 03 f0 01 00",
    );
  });

  test("align pads code with NOPs, alignb and a given fill otherwise", () => {
    expect(bytesOf("db 1\nalign 4\ndb 2\nalignb 4\ndb 3\nalign 4, db 0xcc\nalign 8, 0x11")).toBe(
      "01 90 90 90 02 00 00 00 03 cc cc cc 11 11 11 11",
    );
  });

  test("$ is the start of the statement, also inside times", () => {
    expect(bytesOf("nop\ntimes 3 db $\ndd $, $")).toBe("90 01 01 01 04 00 00 00 04 00 00 00");
  });

  test("string escapes and data widths", () => {
    expect(bytesOf("db `a\\tb\\x7f\\0`\ndw 'abc'\ndd 'a'\ndq 0x1122334455667788")).toBe(
      "61 09 62 7f 00 61 62 63 00 61 00 00 00 88 77 66 55 44 33 22 11",
    );
  });

  test("far pointers and 32-bit control registers", () => {
    expect(bytesOf("jmp 0x08:0x1234\ncall 0x10:0\nmov eax, cr0\nmov cr3, edx")).toBe(
      "ea 34 12 00 00 08 00 9a 00 00 00 00 10 00 0f 20 c0 0f 22 da",
    );
  });

  test("sizes converge for forward references through equ", () => {
    expect(bytesOf("jmp X\ntimes N nop\nX:\nN equ 100")).toBe(`eb 64 ${Array(100).fill("90").join(" ")}`);
  });
});

describe("pass convergence", () => {
  test("a layout that oscillates between sizes still terminates (the unstable branch is made long)", () => {
    const r = assemble(["s: jmp t", "e:", "times ((e - s) == 2) * 200 nop", "t:"].join("\n"));
    expect(formatAsmErrors(r.errors)).toBe("");
    expect(hex(r.bytes)).toBe("e9 00 00 00 00");
  });
});
