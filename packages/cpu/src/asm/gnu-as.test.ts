// A cross-check against a second, independent assembler: GNU as (--32, .intel_syntax noprefix).
// The lines are a subset on which GNU as and NASM agree (NASM pads, splits and sizes a few things
// differently, e.g. [eax*2] or reg-reg operand order, so those stay in the NASM tests).
import { expect, test } from "vitest";
import { hexBytes, requireGnuAs, requireNasm, runGnuAs, runNasm } from "../../test/asm-fixtures/reference.js";
import { formatAsmErrors } from "./errors.js";
import { assemble } from "./index.js";

const LINES = [
  "mov eax, 0x12345678",
  "mov al, 0x12",
  "mov bh, cl",
  "mov ecx, dword [ebx+esi*4+0x10]",
  "mov dword [ebp-8], 0x7f",
  "mov byte [esp], 1",
  "mov word [edi], 0x1234",
  "mov eax, dword [0x1000]",
  "mov dword [0x2000], eax",
  "mov ax, ds",
  "mov es, ax",
  "mov eax, cr0",
  "mov cr3, ebx",
  "movzx eax, byte [esi]",
  "movsx ecx, word [edi+2]",
  "lea eax, [ebx+ecx*8+0x100]",
  "lea esi, [esp+4]",
  "add eax, 1",
  "add eax, 0x1000",
  "add al, 5",
  "sub esp, 0x20",
  "adc edx, 0",
  "sbb ecx, -1",
  "and eax, 0xfffff000",
  "or dword [ebx], 0x80",
  "xor eax, eax",
  "cmp byte [eax+1], 0x2f",
  "test eax, eax",
  "test byte [ebx], 1",
  "inc ecx",
  "dec dword [eax]",
  "neg ebx",
  "not byte [ecx]",
  "mul ecx",
  "imul ebx",
  "imul eax, ecx",
  "imul eax, ecx, 12",
  "imul eax, dword [ebx], 1000",
  "div dword [esi]",
  "idiv cl",
  "shl eax, 4",
  "shr ebx, 1",
  "sar ecx, cl",
  "rol byte [eax], 3",
  "rcr edx, 1",
  "shld eax, ebx, 8",
  "shrd eax, ebx, cl",
  "bt eax, 3",
  "bts dword [ebx], ecx",
  "bsf eax, ecx",
  "bsr edx, dword [esi]",
  "bswap edi",
  "sete al",
  "setnz byte [ebx]",
  "cmovl eax, ecx",
  "push eax",
  "push 0x12345678",
  "push 8",
  "push dword [ebp+8]",
  "push es",
  "push fs",
  "pop gs",
  "pop ecx",
  "pushad",
  "popad",
  "pushfd",
  "popfd",
  "cwde",
  "cdq",
  "ret",
  "ret 8",
  "leave",
  "enter 0x10, 0",
  "int 0x80",
  "int3",
  "iretd",
  "hlt",
  "cli",
  "sti",
  "cld",
  "std",
  "clc",
  "stc",
  "cmc",
  "nop",
  "ud2",
  "lahf",
  "sahf",
  "rep movsb",
  "rep stosd",
  "repe cmpsb",
  "repne scasb",
  "lodsd",
  "lgdt [eax]",
  "lidt [ebx+8]",
  "sgdt [ecx]",
  "ltr ax",
  "lldt word [eax]",
  "invlpg [eax]",
  "in al, dx",
  "in eax, 0x60",
  "out dx, al",
  "out 0x80, eax",
  "rdtsc",
  "cpuid",
  "rdmsr",
  "wrmsr",
  "sysenter",
  "sysexit",
  "jmp eax",
  "call dword [ebx]",
  "xchg dword [eax], ecx",
  "xchg eax, edx",
];

/** NASM's Intel syntax to GNU as's: `dword [x]` becomes `dword ptr [x]`. */
function toGas(line: string): string {
  return line.replace(/\b(byte|word|dword|qword)\s+\[/g, "$1 ptr [");
}

test("GNU as agrees on a common subset", () => {
  requireGnuAs();
  requireNasm();
  const source = `bits 32\n${LINES.join("\n")}\n`;
  const ours = assemble(source);
  expect(formatAsmErrors(ours.errors)).toBe("");
  const gas = runGnuAs(LINES.map(toGas).join("\n"));
  const nasm = runNasm(source);
  expect(hexBytes(nasm.bytes!)).toBe(hexBytes(gas));
  expect(hexBytes(ours.bytes)).toBe(hexBytes(gas));
});

test("GNU as agrees on branches", () => {
  requireGnuAs();
  const body = [
    "top:",
    "jmp top",
    "jz top",
    "loop top",
    "call top",
    "jmp far_label",
    "jnz far_label",
    ".fill 200, 1, 0x90",
    "far_label:",
    "jmp top",
  ];
  const ours = assemble(`bits 32\n${body.map((l) => l.replace(".fill 200, 1, 0x90", "times 200 nop")).join("\n")}\n`);
  expect(formatAsmErrors(ours.errors)).toBe("");
  expect(hexBytes(ours.bytes)).toBe(hexBytes(runGnuAs(body.join("\n"))));
});
