// Whole programs exercising directives, expressions, labels, the preprocessor and branch sizing,
// assembled here and by NASM: the binaries must be identical.
import { describe, expect, test } from "vitest";
import { hexBytes, requireNasm, runNasm } from "../../test/asm-fixtures/reference.js";
import { formatAsmErrors } from "./errors.js";
import { assemble } from "./index.js";

const PROGRAMS: Record<string, { source: string; files?: Record<string, string> }> = {
  data: {
    source: `
bits 32
org 0x1000
start:
  db 1, 2, 0xff, -1, -128, 'a', 'ab', "cd", \`e\\n\\t\\x41\\101\\0\\\\\\'\\"\\\`\`, 0
  db 'a'+1, "b"-1, ('c' << 1) & 0xff
  dw 1, -1, 65535, 'a', 'abc', start, $ - start
  dd 0x12345678, -1, 0xffffffff, 'ab', start, $, $$, 1.0, -2.5, 3.25e2
  dq 1, -1, 0x123456789abcdef0, 1.5, -0.0
  db \`\\u00e9\\U0001F600\`, "é"
  dd 1 // 1, -7 // 2, -7 %% 2, 7 % 3, 100 / 7
  dd (1 << 4 | 3) ^ 1 & 7, ~0, !0, !5, 1 == 1, 2 != 2, 3 < 4, 4 <= 3, 5 > 1, 5 >= 6, 1 && 0, 1 || 0, 1 ^^ 1
  dd 10b, 1fh, 0x1F, $1F, 0o17, 17q, 0b101, 0d19, 1_000_000, 0h, 12345678h
  dd 1 ? 2 : 3, 0 ? 2 : 3, -1 >> 60, -1 >>> 28, 1 << 31
  db ?, ?
`,
  },
  "times, align and reservations": {
    source: `
bits 32
org 0x7c00
  jmp short main
  times 3 db $ - $$
  align 8
  db 1
  align 4, db 0xcc
  align 16, nop
main:
  mov eax, 1
  times 2 mov eax, $
  alignb 8
  resb 3
  resw 2
  resd 1
  resq 1
  times 5 nop
  times 2 jmp end
end:
  times 510 - ($ - $$) db 0
  dw 0xaa55
`,
  },
  "labels and symbols": {
    source: `
bits 32
org 0x100000
first:
.loop:
  dec ecx
  jnz .loop
  jmp second.inner
.data: dd .loop, first.loop, .data
second:
.inner:
  mov eax, .inner
  mov ebx, first.data
  mov ecx, LEN
  mov edx, [ebx + COUNT * 4]
  mov esi, FWD
bare
  nop
$eax: dd $eax
msg: db "hello", 0
LEN equ $ - msg
COUNT equ 3
FWD equ later + 1
..@special: dd ..@special
.after: dd .after
later:
`,
  },
  "branch sizing": {
    source: `
bits 32
top:
  jmp a
  times 120 nop
  jz b
  jmp a
a:
  times 4 nop
  jmp top
b:
  loop top2
top2:
  call top
  jecxz c
  times 127 nop
c:
  jmp d
  times 124 nop
  jmp e
d:
  times 125 nop
e:
  jmp near e
  jmp short e
  jmp $
  jc $+2
  jnc $+0x81
`,
  },
  preprocessor: {
    files: { "inc.asm": "%define FROM_INCLUDE 7\ninc_label: db FROM_INCLUDE\n" },
    source: `
bits 32
%define ONE 1
%define TWO (ONE + ONE)
%define ADD3(a, b, c) ((a) + (b) + (c))
%xdefine FOUR TWO * TWO
%define REG eax
%idefine Lower 9
%assign counter 0
%rep 4
%assign counter counter + 1
  db counter
%endrep
  mov REG, TWO
  mov ebx, ADD3(1, 2, 3)
  mov ecx, FOUR
  db LOWER, lower
%undef ONE
%ifdef ONE
  db 0xee
%elifdef TWO
  db 0x22
%else
  db 0xff
%endif
%ifndef NOPE
  db 0x33
%endif
%if counter == 4 && 1
  db 0x44
%elif counter == 3
  db 0x43
%else
  db 0x40
%endif
%if 0
  this line is not assembled
%endif
%macro pushall 0-*
%rep %0
  push %1
%rotate 1
%endrep
%endmacro
%macro twice 1
  %1
  %1
%endmacro
%macro mkloop 2
%%again:
  dec %1
  jnz %%again
  mov %2, 0
%endmacro
%macro many 1+
  db %1
%endmacro
  twice nop
  pushall eax, ebx, 1
  pushall
  twice {add eax, 1}
  mkloop ecx, edx
  mkloop esi, edi
  many 1, 2, 3
%rep 10
  db 0x55
%exitrep
%endrep
%include "inc.asm"
  dd inc_label
`,
  },
};

describe("whole programs match NASM", () => {
  for (const [name, { source, files }] of Object.entries(PROGRAMS)) {
    test(name, () => {
      requireNasm();
      const nasm = runNasm(source, false, files);
      expect(nasm.stderr.trim(), "nasm must accept the program").toBe("");
      const ours = assemble(source, {
        fileName: "in.asm",
        readFile: (path) => {
          const text = files?.[path];
          if (text === undefined) throw new Error(`no file ${path}`);
          return text;
        },
      });
      expect(formatAsmErrors(ours.errors)).toBe("");
      expect(hexBytes(ours.bytes)).toBe(hexBytes(nasm.bytes!));
    });
  }
});

/** Deterministic pseudo-random numbers (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

describe("generated programs match NASM (branch sizing converges like NASM's)", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`seed ${seed}`, () => {
      requireNasm();
      const rand = prng(seed * 7919);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const labels = Array.from({ length: 60 }, (_, i) => `L${i}`);
      const lines = ["bits 32", "org 0x400000"];
      const fillers = [
        "nop",
        "mov eax, [ebx+ecx*4+0x100]",
        "add eax, 0x12345678",
        "push 1",
        "times 20 nop",
        "times 70 nop",
        "db 1, 2, 3",
        "mov eax, L0",
        "lea esi, [L1 + ebx]",
        "mov ecx, [esi + (L2 - L1)]",
        "push L3 - L0",
      ];
      for (const label of labels) {
        lines.push(`${label}:`);
        const n = 1 + Math.floor(rand() * 6);
        for (let i = 0; i < n; i++) {
          const r = rand();
          if (r < 0.35) lines.push(`${pick(["jmp", "jz", "jnc", "call", "jmp short"])} ${pick(labels)}`);
          else lines.push(pick(fillers));
        }
      }
      const source = `${lines.join("\n")}\n`;
      const nasm = runNasm(source);
      const ours = assemble(source);
      if (nasm.bytes === undefined) {
        // A "jmp short" may be out of range: then both must refuse it.
        expect(ours.errors.length).toBeGreaterThan(0);
        expect(ours.errors.every((e) => e.message.startsWith("short jump is out of range"))).toBe(true);
        return;
      }
      expect(formatAsmErrors(ours.errors)).toBe("");
      expect(hexBytes(ours.bytes)).toBe(hexBytes(nasm.bytes));
    });
  }
});
