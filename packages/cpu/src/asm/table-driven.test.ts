// The encoder takes the opcode table as data: a table it has never seen (here the VMX rows, as
// the SDM lists them, with mandatory prefixes, three-byte opcodes and fixed ModRM bytes) assembles
// exactly as NASM assembles those instructions.
import { expect, test } from "vitest";
import { hexBytes, requireNasm, runNasm } from "../../test/asm-fixtures/reference.js";
import type { OpcodeDef } from "../isa/types.js";
import { assembleWith } from "./assembler.js";
import { formatAsmErrors } from "./errors.js";

const exec = (): void => {};
const vmx = (
  mnemonic: string,
  opcode: number,
  operands: OpcodeDef["operands"],
  extra: Partial<OpcodeDef> = {},
): OpcodeDef => ({
  mnemonic,
  opcode,
  operands,
  exec,
  cost: "system",
  ...extra,
});

const TABLE: OpcodeDef[] = [
  vmx("vmxon", 0x0fc7, ["Mq"], { ext: 6, mod: "mem", mandatoryPrefix: 0xf3 }),
  vmx("vmclear", 0x0fc7, ["Mq"], { ext: 6, mod: "mem", mandatoryPrefix: 0x66 }),
  vmx("vmptrld", 0x0fc7, ["Mq"], { ext: 6, mod: "mem" }),
  vmx("vmptrst", 0x0fc7, ["Mq"], { ext: 7, mod: "mem" }),
  vmx("vmread", 0x0f78, ["Ed", "Gd"]),
  vmx("vmwrite", 0x0f79, ["Gd", "Ed"]),
  vmx("vmlaunch", 0x0f01, [], { modrm: 0xc2 }),
  vmx("vmresume", 0x0f01, [], { modrm: 0xc3 }),
  vmx("vmxoff", 0x0f01, [], { modrm: 0xc4 }),
  vmx("vmcall", 0x0f01, [], { modrm: 0xc1 }),
  vmx("invept", 0x0f3880, ["Gd", "M"], { mandatoryPrefix: 0x66 }),
  vmx("invvpid", 0x0f3881, ["Gd", "M"], { mandatoryPrefix: 0x66 }),
  vmx("lgdt", 0x0f01, ["Ms"], { ext: 2, mod: "mem" }),
];

const SOURCE = `
bits 32
  vmxon [eax]
  vmxon [fs:ebx+8]
  vmclear [es:eax]
  vmclear [esp]
  vmptrld [ebp]
  vmptrst [0x1234]
  vmread eax, ecx
  vmread [ebx+esi*4], edx
  vmwrite ecx, eax
  vmwrite edi, [0x10]
  vmlaunch
  vmresume
  vmxoff
  vmcall
  invept eax, [ebx]
  invvpid ecx, [esp+8]
  lgdt [eax]
`;

test("a table given as data (VMX rows) assembles like NASM", () => {
  requireNasm();
  const ours = assembleWith(TABLE, SOURCE);
  expect(formatAsmErrors(ours.errors)).toBe("");
  expect(hexBytes(ours.bytes)).toBe(hexBytes(runNasm(SOURCE).bytes!));
});

test("only the table's mnemonics exist", () => {
  const r = assembleWith(TABLE, "mov eax, 1\n");
  expect(r.errors.map((e) => e.message)).toEqual(["unknown instruction 'mov'"]);
});
