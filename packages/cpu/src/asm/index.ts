// The vmxlab assembler: NASM-style Intel syntax for the emulated IA-32 CPU, driven by the one
// opcode table (isa/opcodes.ts) and checked byte for byte against NASM 2.16 for every table form.
//
// Source: `bits 32` (only), `org`, labels (`name:`, a bare `name`, local `.x` under the last
// non-local label, `$name` to use a reserved word), `equ`, db/dw/dd/dq (numbers, 'x' "x" `x\n`
// strings, floats in dd/dq, `?`), resb/resw/resd/resq, `times N ...`, `align N[, fill]` (NOPs in
// code), `alignb`, `$`/`$$`, NASM expressions (64-bit; + - * / // % %% << >> >>> & | ^ ~ ! && || ^^
// comparisons ?:), literals 123 0x1F 1Fh $1F 0b101 101b 0o17 17q 0d19 1_000 'ab'.
// Preprocessor: %include (relative to the including file, through options.readFile), %define /
// %idefine / %xdefine (with parameters) / %undef / %assign, %macro (%1.., %0, %%local, greedy +,
// ranges with defaults, %rotate), %rep / %exitrep, %if / %elif / %else / %ifdef / %ifndef, %error.
// Operands: registers, `[base + index*scale + disp]` in any order with NASM's base/index choice
// and [eax*2] -> [eax+eax] splitting (`nosplit`), `[byte ...]`/`[dword ...]` displacement sizes,
// `[es:...]` overrides, byte/word/dword/qword sizes, `strict`, short/near/far, `seg:offset`.
// Prefix words: rep/repe/repz/repne/repnz, lock, es/cs/ss/ds/fs/gs, o16, o32, a32.
// Encodings follow NASM's default optimisation (-Ox): sign-extended imm8 and disp8 when the value
// is a known number, short branches to labels in range, sizes iterated until the layout converges.
import { OPCODES } from "../isa/opcodes.js";
import { type AsmResult, type AssembleOptions, assembleWith, assembleWithOrThrow } from "./assembler.js";

export type { AsmLineInfo, AsmResult, AssembleOptions } from "./assembler.js";
export { assembleWith, assembleWithOrThrow } from "./assembler.js";
export { type AsmError, AsmErrorList, formatAsmError, formatAsmErrors } from "./errors.js";

/** Assembles source to a flat binary. Mistakes in the source are returned in `errors`, never thrown. */
export function assemble(source: string, options?: AssembleOptions): AsmResult {
  return assembleWith(OPCODES, source, options);
}

/** Assembles source to a flat binary; throws an AsmErrorList (message: every error, formatted) on errors. */
export function assembleOrThrow(source: string, options?: AssembleOptions): AsmResult {
  return assembleWithOrThrow(OPCODES, source, options);
}
