// biome-ignore-all format: the opcode table keeps one instruction form per line.
// THE opcode table: every instruction form of the vmxlab IA-32 subset, one row each, in the order
// of the Intel SDM opcode map (Vol. 2, Appendix A). The decoder, the interpreter, the disassembler
// and the assembler all read this table; docs/isa.md is the human-readable version.

import type { CostClass } from "../cost-model.js";
import {
  aluAccImm,
  aluEG,
  aluEImm,
  aluGE,
  bitScan,
  bitTest,
  clc,
  cmc,
  divE,
  idivE,
  imul1E,
  imulGE,
  imulGEI,
  incDecE,
  incDecZ,
  mulE,
  negE,
  notE,
  shiftDoubleE,
  shiftE,
  sized,
  stc,
  testAccImm,
  testEG,
  testEImm,
} from "../exec/alu.js";
import {
  callE,
  callFarPtr,
  callRel,
  farIndirect,
  hlt,
  int3,
  intN,
  into,
  iret,
  jcc,
  jecxz,
  jmpE,
  jmpFarPtr,
  jmpRel,
  loop,
  ret,
  retFar,
  sideExitJcc,
} from "../exec/control.js";
import {
  inlineAluAccImm,
  inlineAluEG,
  inlineAluEImm,
  inlineAluGE,
  inlineCallRel,
  inlineCmovcc,
  inlineIncDecE,
  inlineIncDecZ,
  inlineJcc,
  inlineJmpRel,
  inlineLea,
  inlineMovEG,
  inlineMovEImm,
  inlineMovGE,
  inlineMovx,
  inlineMovZImm,
  inlineNeg,
  inlineNot,
  inlinePopZ,
  inlinePushImm,
  inlinePushZ,
  inlineRet,
  inlineSetcc,
  inlineShift,
  inlineTestAccImm,
  inlineTestEG,
  inlineTestEImm,
} from "../exec/inline.js";
import {
  bswap,
  cbw,
  cdq,
  cmovcc,
  cwd,
  cwde,
  enter,
  lahf,
  lea,
  leave,
  movAccMoffs,
  movEG,
  movEImm,
  movESreg,
  movGE,
  movSregE,
  movsx,
  movZImm,
  movzx,
  popa,
  popE,
  popf,
  popfInBlock,
  popSreg,
  popZ,
  pusha,
  pushE,
  pushf,
  pushImm,
  pushSreg,
  pushZ,
  sahf,
  setcc,
  xchgAccZ,
  xchgEG,
} from "../exec/move.js";
import { cmps, lods, movs, scas, stos } from "../exec/string.js";
import {
  cld,
  cli,
  clts,
  cpuid,
  inPort,
  invlpg,
  lldt,
  loadTable,
  ltr,
  movFromCr,
  movToCr,
  nop,
  outPort,
  pause,
  rdmsr,
  rdtsc,
  std,
  sti,
  storeSelector,
  storeTable,
  sysenter,
  sysexit,
  ud2,
  wrmsr,
} from "../exec/system.js";
import { VMX_OPCODES } from "../vmx/opcodes.js";
import type { Handler, OpcodeDef, OperandKind, SizedHandler } from "./types.js";

export const ALU_NAMES = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"] as const;
export const SHIFT_NAMES = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"] as const;
/** Condition-code suffixes in encoding order (the names objdump prints). */
export const CC_NAMES = [
  "o",
  "no",
  "b",
  "ae",
  "e",
  "ne",
  "be",
  "a",
  "s",
  "ns",
  "p",
  "np",
  "l",
  "ge",
  "le",
  "g",
] as const;

const rows: OpcodeDef[] = [];

type Extra = Partial<
  Pick<
    OpcodeDef,
    "ext" | "mod" | "modrm" | "mandatoryPrefix" | "rep" | "endsBlock" | "endsBlockIf" | "condition" | "shadow" | "inBlock" | "asmRank" | "decodeOnly" | "objdump" | "inline" | "rvMw"
  >
>;

function row(
  mnemonic: OpcodeDef["mnemonic"],
  opcode: number,
  operands: readonly OperandKind[],
  exec: Handler | SizedHandler,
  cost: CostClass,
  extra: Extra = {},
): void {
  rows.push({ mnemonic, opcode, operands, exec, cost, ...extra });
}

const ops = (text: string): OperandKind[] => (text ? (text.split(",") as OperandKind[]) : []);
const END = { endsBlock: true } as const;
// How objdump prints some forms (see ObjdumpStyle): a "w" suffix after 66, bnd/notrack prefixes on near branches.
const PUSHW = { objdump: { name: { w: "pushw", d: "push" } } } as const;
const POPW = { objdump: { name: { w: "popw", d: "pop" } } } as const;
const NEAR = { objdump: { nearBranch: true } } as const;
const HLE = { objdump: { hle: "lock" } } as const;

// ---- 00-3F: the eight ALU operations in their six classic forms, plus segment pushes/pops ----
ALU_NAMES.forEach((name, op) => {
  const base = op * 8;
  const cost: CostClass = "simple";
  const hle = op === 7 ? {} : HLE;
  row(name, base + 0, ops("Eb,Gb"), aluEG(op, 8), cost, { ...hle, inline: inlineAluEG(op, 8) });
  row(name, base + 1, ops("Ev,Gv"), sized((b) => aluEG(op, b)), cost, { ...hle, inline: inlineAluEG(op) });
  row(name, base + 2, ops("Gb,Eb"), aluGE(op, 8), cost, { inline: inlineAluGE(op, 8) });
  row(name, base + 3, ops("Gv,Ev"), sized((b) => aluGE(op, b)), cost, { inline: inlineAluGE(op) });
  row(name, base + 4, ops("AL,Ib"), aluAccImm(op, 8), cost, { inline: inlineAluAccImm(op, 8) });
  row(name, base + 5, ops("eAX,Iz"), sized((b) => aluAccImm(op, b)), cost, { inline: inlineAluAccImm(op) });
});
row("push", 0x06, ops("ES"), sized((b) => pushSreg(0, b)), "stack", PUSHW);
row("pop", 0x07, ops("ES"), sized((b) => popSreg(0, b)), "stack", POPW);
row("push", 0x0e, ops("CS"), sized((b) => pushSreg(1, b)), "stack", PUSHW);
row("push", 0x16, ops("SS"), sized((b) => pushSreg(2, b)), "stack", PUSHW);
row("pop", 0x17, ops("SS"), sized((b) => popSreg(2, b)), "stack", { ...END, ...POPW });
row("push", 0x1e, ops("DS"), sized((b) => pushSreg(3, b)), "stack", PUSHW);
row("pop", 0x1f, ops("DS"), sized((b) => popSreg(3, b)), "stack", POPW);

// ---- 40-6F ----
row("inc", 0x40, ops("Zv"), sized((b) => incDecZ(1, b)), "simple", { inline: inlineIncDecZ(1) });
row("dec", 0x48, ops("Zv"), sized((b) => incDecZ(-1, b)), "simple", { inline: inlineIncDecZ(-1) });
row("push", 0x50, ops("Zv"), sized(pushZ), "stack", { inline: inlinePushZ });
row("pop", 0x58, ops("Zv"), sized(popZ), "stack", { inline: inlinePopZ });
row({ w: "pushaw", d: "pushad" }, 0x60, [], sized(pusha), "stack", { objdump: { name: { w: "pushaw", d: "pusha" } } });
row({ w: "popaw", d: "popad" }, 0x61, [], sized(popa), "stack", { objdump: { name: { w: "popaw", d: "popa" } } });
row("push", 0x68, ops("Iz"), sized(pushImm), "stack", { ...PUSHW, inline: inlinePushImm });
row("imul", 0x69, ops("Gv,Ev,Iz"), sized(imulGEI), "multiply");
row("push", 0x6a, ops("Ibs"), sized(pushImm), "stack", { ...PUSHW, inline: inlinePushImm });
row("imul", 0x6b, ops("Gv,Ev,Ibs"), sized(imulGEI), "multiply");

// ---- 70-7F: Jcc rel8 ----
for (const [n, cc] of CC_NAMES.entries()) row(`j${cc}`, 0x70 + n, ops("Jb"), sized((b) => jcc(n, b)), "branch", { condition: n, inBlock: sideExitJcc(n), ...NEAR, inline: inlineJcc(n) });

// ---- 80-8F ----
ALU_NAMES.forEach((name, op) => {
  const hle = op === 7 ? {} : HLE;
  row(name, 0x80, ops("Eb,Ib"), aluEImm(op, 8), "simple", { ext: op, ...hle, inline: inlineAluEImm(op, 8) });
  row(name, 0x81, ops("Ev,Iz"), sized((b) => aluEImm(op, b)), "simple", { ext: op, ...hle, inline: inlineAluEImm(op) });
  row(name, 0x82, ops("Eb,Ib"), aluEImm(op, 8), "simple", { ext: op, decodeOnly: true, ...hle, inline: inlineAluEImm(op, 8) });
  row(name, 0x83, ops("Ev,Ibs"), sized((b) => aluEImm(op, b)), "simple", { ext: op, ...hle, inline: inlineAluEImm(op) });
});
row("test", 0x84, ops("Eb,Gb"), testEG(8), "simple", { inline: inlineTestEG(8) });
row("test", 0x85, ops("Ev,Gv"), sized(testEG), "simple", { inline: inlineTestEG() });
row("xchg", 0x86, ops("Eb,Gb"), xchgEG(8), "simple", { objdump: { hle: "always" } });
row("xchg", 0x87, ops("Ev,Gv"), sized(xchgEG), "simple", { objdump: { hle: "always" } });
row("mov", 0x88, ops("Eb,Gb"), movEG(8), "simple", { objdump: { hle: "release" }, inline: inlineMovEG(8) });
row("mov", 0x89, ops("Ev,Gv"), sized(movEG), "simple", { objdump: { hle: "release" }, inline: inlineMovEG() });
row("mov", 0x8a, ops("Gb,Eb"), movGE(8), "simple", { inline: inlineMovGE(8) });
row("mov", 0x8b, ops("Gv,Ev"), sized(movGE), "simple", { inline: inlineMovGE() });
row("mov", 0x8c, ops("Ev,Sw"), sized(movESreg), "simple", { rvMw: true });
row("lea", 0x8d, ops("Gv,M"), sized(lea), "simple", { mod: "mem", inline: inlineLea });
// Only a load of SS ends the block: its one-instruction interrupt shadow is for the run loop to see. A
// data segment load changes nothing the loop or the code after it depends on (segments are flat).
row("mov", 0x8e, ops("Sw,Ew"), movSregE, "system", { endsBlockIf: (i) => i.reg === 2 /* SS */, rvMw: true });
row("pop", 0x8f, ops("Ev"), sized(popE), "stack", { ext: 0 });

// ---- 90-9F ----
row("nop", 0x90, [], nop, "simple");
row("pause", 0x90, [], pause, "simple", { mandatoryPrefix: 0xf3, ...END });
row("xchg", 0x90, ops("Zv,eAX"), sized(xchgAccZ), "simple");
row({ w: "cbw", d: "cwde" }, 0x98, [], { w: cbw, d: cwde }, "simple");
row({ w: "cwd", d: "cdq" }, 0x99, [], { w: cwd, d: cdq }, "simple");
row("call", 0x9a, ops("Ap"), sized(callFarPtr), "branch", END);
row({ w: "pushfw", d: "pushfd" }, 0x9c, [], sized(pushf), "stack", { objdump: { name: { w: "pushfw", d: "pushf" } } });
row({ w: "popfw", d: "popfd" }, 0x9d, [], sized(popf), "stack", {
  inBlock: sized(popfInBlock),
  objdump: { name: { w: "popfw", d: "popf" } },
});
row("sahf", 0x9e, [], sahf, "simple");
row("lahf", 0x9f, [], lahf, "simple");

// ---- A0-AF: moffs moves, string instructions, TEST accumulator ----
row("mov", 0xa0, ops("AL,Ob"), movAccMoffs(8, false), "simple");
row("mov", 0xa1, ops("eAX,Ov"), sized((b) => movAccMoffs(b, false)), "simple");
row("mov", 0xa2, ops("Ob,AL"), movAccMoffs(8, true), "simple");
row("mov", 0xa3, ops("Ov,eAX"), sized((b) => movAccMoffs(b, true)), "simple");
const STRING = { rep: "rep" } as const;
const STRING_CMP = { rep: "repe-repne" } as const;
row("movsb", 0xa4, ops("Yb,Xb"), movs(8), "stringIteration", { ...STRING, objdump: { name: "movs" } });
row({ w: "movsw", d: "movsd" }, 0xa5, ops("Yv,Xv"), sized(movs), "stringIteration", { ...STRING, objdump: { name: "movs" } });
row("cmpsb", 0xa6, ops("Xb,Yb"), cmps(8), "stringIteration", { ...STRING_CMP, objdump: { name: "cmps" } });
row({ w: "cmpsw", d: "cmpsd" }, 0xa7, ops("Xv,Yv"), sized(cmps), "stringIteration", { ...STRING_CMP, objdump: { name: "cmps" } });
row("test", 0xa8, ops("AL,Ib"), testAccImm(8), "simple", { inline: inlineTestAccImm(8) });
row("test", 0xa9, ops("eAX,Iz"), sized(testAccImm), "simple", { inline: inlineTestAccImm() });
row("stosb", 0xaa, ops("Yb,AL"), stos(8), "stringIteration", { ...STRING, objdump: { name: "stos" } });
row({ w: "stosw", d: "stosd" }, 0xab, ops("Yv,eAX"), sized(stos), "stringIteration", { ...STRING, objdump: { name: "stos" } });
row("lodsb", 0xac, ops("AL,Xb"), lods(8), "stringIteration", { ...STRING, objdump: { name: "lods" } });
row({ w: "lodsw", d: "lodsd" }, 0xad, ops("eAX,Xv"), sized(lods), "stringIteration", { ...STRING, objdump: { name: "lods" } });
row("scasb", 0xae, ops("AL,Yb"), scas(8), "stringIteration", { ...STRING_CMP, objdump: { name: "scas" } });
row({ w: "scasw", d: "scasd" }, 0xaf, ops("eAX,Yv"), sized(scas), "stringIteration", { ...STRING_CMP, objdump: { name: "scas" } });

// ---- B0-BF: MOV reg, imm ----
row("mov", 0xb0, ops("Zb,Ib"), movZImm(8), "simple", { inline: inlineMovZImm(8) });
row("mov", 0xb8, ops("Zv,Iz"), sized(movZImm), "simple", { inline: inlineMovZImm() });

// ---- C0-CF ----
SHIFT_NAMES.forEach((name, op) => {
  const alias = op === 6 ? { decodeOnly: true, objdump: { name: "shl" } } : {};
  row(name, 0xc0, ops("Eb,Ib"), shiftE(op, 8, "Ib"), "simple", { ext: op, ...alias, inline: inlineShift(op, "Ib", 8) });
  row(name, 0xc1, ops("Ev,Ib"), sized((b) => shiftE(op, b, "Ib")), "simple", { ext: op, ...alias, inline: inlineShift(op, "Ib") });
  row(name, 0xd0, ops("Eb,1"), shiftE(op, 8, "1"), "simple", { ext: op, ...alias, inline: inlineShift(op, "1", 8) });
  row(name, 0xd1, ops("Ev,1"), sized((b) => shiftE(op, b, "1")), "simple", { ext: op, ...alias, inline: inlineShift(op, "1") });
  row(name, 0xd2, ops("Eb,CL"), shiftE(op, 8, "CL"), "simple", { ext: op, ...alias, inline: inlineShift(op, "CL", 8) });
  row(name, 0xd3, ops("Ev,CL"), sized((b) => shiftE(op, b, "CL")), "simple", { ext: op, ...alias, inline: inlineShift(op, "CL") });
});
row("ret", 0xc2, ops("Iw"), sized((b) => ret(b, true)), "branch", { ...END, objdump: { name: { w: "retw", d: "ret" }, nearBranch: true } });
row("ret", 0xc3, [], sized((b) => ret(b, false)), "branch", { ...END, objdump: { name: { w: "retw", d: "ret" }, nearBranch: true }, inline: inlineRet });
row("mov", 0xc6, ops("Eb,Ib"), movEImm(8), "simple", { ext: 0, objdump: { hle: "release" }, inline: inlineMovEImm(8) });
row("mov", 0xc7, ops("Ev,Iz"), sized(movEImm), "simple", { ext: 0, objdump: { hle: "release" }, inline: inlineMovEImm() });
row("enter", 0xc8, ops("Iw,Ib"), sized(enter), "stack", { objdump: { name: { w: "enterw", d: "enter" } } });
row("leave", 0xc9, [], sized(leave), "stack", { objdump: { name: { w: "leavew", d: "leave" } } });
row("retf", 0xca, ops("Iw"), sized((b) => retFar(b, true)), "branch", { ...END, objdump: { name: { w: "retfw", d: "retf" } } });
row("retf", 0xcb, [], sized((b) => retFar(b, false)), "branch", { ...END, objdump: { name: { w: "retfw", d: "retf" } } });
row("int3", 0xcc, [], int3, "branch", END);
row("int", 0xcd, ops("Ib"), intN, "branch", END);
row("into", 0xce, [], into, "branch", END);
row({ w: "iretw", d: "iretd" }, 0xcf, [], sized(iret), "interruptDelivery", { ...END, objdump: { name: { w: "iretw", d: "iret" } } });

// ---- E0-EF: loops, port I/O, CALL/JMP ----
row("loopne", 0xe0, ops("Jb"), loop("loopne"), "branch", END);
row("loope", 0xe1, ops("Jb"), loop("loope"), "branch", END);
row("loop", 0xe2, ops("Jb"), loop("loop"), "branch", END);
row("jecxz", 0xe3, ops("Jb"), jecxz, "branch", END);
row("in", 0xe4, ops("AL,Ib"), inPort(8, false), "portIo", END);
row("in", 0xe5, ops("eAX,Ib"), sized((b) => inPort(b, false)), "portIo", END);
row("out", 0xe6, ops("Ib,AL"), outPort(8, false), "portIo", END);
row("out", 0xe7, ops("Ib,eAX"), sized((b) => outPort(b, false)), "portIo", END);
row("call", 0xe8, ops("Jz"), sized(callRel), "branch", { ...END, objdump: { name: { w: "callw", d: "call" }, nearBranch: true }, inline: inlineCallRel });
row("jmp", 0xe9, ops("Jz"), sized(jmpRel), "branch", { ...END, objdump: { name: { w: "jmpw", d: "jmp" }, nearBranch: true }, inline: inlineJmpRel });
row("jmp", 0xea, ops("Ap"), sized(jmpFarPtr), "branch", END);
row("jmp", 0xeb, ops("Jb"), sized(jmpRel), "branch", { ...END, ...NEAR, inline: inlineJmpRel });
row("in", 0xec, ops("AL,DX"), inPort(8, true), "portIo", END);
row("in", 0xed, ops("eAX,DX"), sized((b) => inPort(b, true)), "portIo", END);
row("out", 0xee, ops("DX,AL"), outPort(8, true), "portIo", END);
row("out", 0xef, ops("DX,eAX"), sized((b) => outPort(b, true)), "portIo", END);

// ---- F0-FF ----
row("hlt", 0xf4, [], hlt, "system", END);
row("cmc", 0xf5, [], cmc, "simple");
row("test", 0xf6, ops("Eb,Ib"), testEImm(8), "simple", { ext: 0, inline: inlineTestEImm(8) });
row("test", 0xf6, ops("Eb,Ib"), testEImm(8), "simple", { ext: 1, decodeOnly: true, inline: inlineTestEImm(8) });
row("not", 0xf6, ops("Eb"), notE(8), "simple", { ext: 2, ...HLE, inline: inlineNot(8) });
row("neg", 0xf6, ops("Eb"), negE(8), "simple", { ext: 3, ...HLE, inline: inlineNeg(8) });
row("mul", 0xf6, ops("Eb"), mulE(8), "multiply", { ext: 4 });
row("imul", 0xf6, ops("Eb"), imul1E(8), "multiply", { ext: 5 });
row("div", 0xf6, ops("Eb"), divE(8), "divide", { ext: 6 });
row("idiv", 0xf6, ops("Eb"), idivE(8), "divide", { ext: 7 });
row("test", 0xf7, ops("Ev,Iz"), sized(testEImm), "simple", { ext: 0, inline: inlineTestEImm() });
row("test", 0xf7, ops("Ev,Iz"), sized(testEImm), "simple", { ext: 1, decodeOnly: true, inline: inlineTestEImm() });
row("not", 0xf7, ops("Ev"), sized(notE), "simple", { ext: 2, ...HLE, inline: inlineNot() });
row("neg", 0xf7, ops("Ev"), sized(negE), "simple", { ext: 3, ...HLE, inline: inlineNeg() });
row("mul", 0xf7, ops("Ev"), sized(mulE), "multiply", { ext: 4 });
row("imul", 0xf7, ops("Ev"), sized(imul1E), "multiply", { ext: 5 });
row("div", 0xf7, ops("Ev"), sized(divE), "divide", { ext: 6 });
row("idiv", 0xf7, ops("Ev"), sized(idivE), "divide", { ext: 7 });
row("clc", 0xf8, [], clc, "simple");
row("stc", 0xf9, [], stc, "simple");
row("cli", 0xfa, [], cli, "simple");
row("sti", 0xfb, [], sti, "simple", { shadow: true });
row("cld", 0xfc, [], cld, "simple");
row("std", 0xfd, [], std, "simple");
row("inc", 0xfe, ops("Eb"), incDecE(1, 8), "simple", { ext: 0, ...HLE, inline: inlineIncDecE(1, 8) });
row("dec", 0xfe, ops("Eb"), incDecE(-1, 8), "simple", { ext: 1, ...HLE, inline: inlineIncDecE(-1, 8) });
row("inc", 0xff, ops("Ev"), sized((b) => incDecE(1, b)), "simple", { ext: 0, ...HLE, inline: inlineIncDecE(1) });
row("dec", 0xff, ops("Ev"), sized((b) => incDecE(-1, b)), "simple", { ext: 1, ...HLE, inline: inlineIncDecE(-1) });
row("call", 0xff, ops("Ev"), sized(callE), "branch", { ext: 2, ...END, ...NEAR });
row("call", 0xff, ops("Mp"), sized((b) => farIndirect(b, true)), "branch", { ext: 3, mod: "mem", ...END });
row("jmp", 0xff, ops("Ev"), sized(jmpE), "branch", { ext: 4, ...END, ...NEAR });
row("jmp", 0xff, ops("Mp"), sized((b) => farIndirect(b, false)), "branch", { ext: 5, mod: "mem", ...END });
row("push", 0xff, ops("Ev"), sized(pushE), "stack", { ext: 6 });

// ---- 0F xx: two-byte opcodes ----
row("sldt", 0x0f00, ops("Ev"), storeSelector("ldtr"), "system", { ext: 0, rvMw: true });
row("str", 0x0f00, ops("Ev"), storeSelector("tr"), "system", { ext: 1, rvMw: true });
row("lldt", 0x0f00, ops("Ew"), lldt, "system", { ext: 2 });
row("ltr", 0x0f00, ops("Ew"), ltr, "system", { ext: 3 });
row("sgdt", 0x0f01, ops("Ms"), storeTable("gdt"), "system", { ext: 0, mod: "mem", objdump: { name: { w: "sgdtw", d: "sgdtd" } } });
row("sidt", 0x0f01, ops("Ms"), storeTable("idt"), "system", { ext: 1, mod: "mem", objdump: { name: { w: "sidtw", d: "sidtd" } } });
row("lgdt", 0x0f01, ops("Ms"), loadTable("gdt"), "system", { ext: 2, mod: "mem", objdump: { name: { w: "lgdtw", d: "lgdtd" } } });
row("lidt", 0x0f01, ops("Ms"), loadTable("idt"), "system", { ext: 3, mod: "mem", objdump: { name: { w: "lidtw", d: "lidtd" } } });
row("invlpg", 0x0f01, ops("M"), invlpg, "system", { ext: 7, mod: "mem", ...END, objdump: { ptr: "BYTE" } });
row("clts", 0x0f06, [], clts, "system", END);
row("ud2", 0x0f0b, [], ud2, "simple", END);
// 0F 1F /0 is the recommended multi-byte NOP; /1-/7 are reserved-NOPs that processors also execute as NOP.
row("nop", 0x0f1f, ops("Ev"), sized(() => nop), "simple", { ext: 0 });
for (let ext = 1; ext < 8; ext++) row("nop", 0x0f1f, ops("Ev"), sized(() => nop), "simple", { ext, decodeOnly: true });
row("mov", 0x0f20, ops("Rd,Cd"), movFromCr, "system", END);
row("mov", 0x0f22, ops("Cd,Rd"), movToCr, "system", END);
row("wrmsr", 0x0f30, [], wrmsr, "system", END);
row("rdtsc", 0x0f31, [], rdtsc, "system", END);
row("rdmsr", 0x0f32, [], rdmsr, "system", END);
row("sysenter", 0x0f34, [], sysenter, "fastSystemCall", END);
row("sysexit", 0x0f35, [], sysexit, "fastSystemCall", END);
for (const [n, cc] of CC_NAMES.entries()) row(`cmov${cc}`, 0x0f40 + n, ops("Gv,Ev"), sized((b) => cmovcc(n, b)), "simple", { inline: inlineCmovcc(n) });
for (const [n, cc] of CC_NAMES.entries()) row(`j${cc}`, 0x0f80 + n, ops("Jz"), sized((b) => jcc(n, b)), "branch", { condition: n, inBlock: sideExitJcc(n), ...NEAR, inline: inlineJcc(n) });
for (const [n, cc] of CC_NAMES.entries()) row(`set${cc}`, 0x0f90 + n, ops("Eb"), setcc(n), "simple", { inline: inlineSetcc(n) });
row("push", 0x0fa0, ops("FS"), sized((b) => pushSreg(4, b)), "stack", PUSHW);
row("pop", 0x0fa1, ops("FS"), sized((b) => popSreg(4, b)), "stack", POPW);
row("cpuid", 0x0fa2, [], cpuid, "system", END);
row("bt", 0x0fa3, ops("Ev,Gv"), sized((b) => bitTest(4, b, false)), "simple");
row("shld", 0x0fa4, ops("Ev,Gv,Ib"), sized((b) => shiftDoubleE(true, b, "Ib")), "simple");
row("shld", 0x0fa5, ops("Ev,Gv,CL"), sized((b) => shiftDoubleE(true, b, "CL")), "simple");
row("push", 0x0fa8, ops("GS"), sized((b) => pushSreg(5, b)), "stack", PUSHW);
row("pop", 0x0fa9, ops("GS"), sized((b) => popSreg(5, b)), "stack", POPW);
row("bts", 0x0fab, ops("Ev,Gv"), sized((b) => bitTest(5, b, false)), "simple", HLE);
row("shrd", 0x0fac, ops("Ev,Gv,Ib"), sized((b) => shiftDoubleE(false, b, "Ib")), "simple");
row("shrd", 0x0fad, ops("Ev,Gv,CL"), sized((b) => shiftDoubleE(false, b, "CL")), "simple");
row("imul", 0x0faf, ops("Gv,Ev"), sized(imulGE), "multiply");
row("btr", 0x0fb3, ops("Ev,Gv"), sized((b) => bitTest(6, b, false)), "simple", HLE);
row("movzx", 0x0fb6, ops("Gv,Eb"), sized((b) => movzx(8, b)), "simple", { inline: inlineMovx(8, false) });
row("movzx", 0x0fb7, ops("Gv,Ew"), sized((b) => movzx(16, b)), "simple", { inline: inlineMovx(16, false) });
row("bt", 0x0fba, ops("Ev,Ib"), sized((b) => bitTest(4, b, true)), "simple", { ext: 4 });
row("bts", 0x0fba, ops("Ev,Ib"), sized((b) => bitTest(5, b, true)), "simple", { ext: 5, ...HLE });
row("btr", 0x0fba, ops("Ev,Ib"), sized((b) => bitTest(6, b, true)), "simple", { ext: 6, ...HLE });
row("btc", 0x0fba, ops("Ev,Ib"), sized((b) => bitTest(7, b, true)), "simple", { ext: 7, ...HLE });
row("btc", 0x0fbb, ops("Ev,Gv"), sized((b) => bitTest(7, b, false)), "simple", HLE);
row("bsf", 0x0fbc, ops("Gv,Ev"), sized((b) => bitScan(false, b)), "simple");
row("bsr", 0x0fbd, ops("Gv,Ev"), sized((b) => bitScan(true, b)), "simple");
row("movsx", 0x0fbe, ops("Gv,Eb"), sized((b) => movsx(8, b)), "simple", { inline: inlineMovx(8, true) });
row("movsx", 0x0fbf, ops("Gv,Ew"), sized((b) => movsx(16, b)), "simple", { inline: inlineMovx(16, true) });
row("bswap", 0x0fc8, ops("Zv"), { w: bswap, d: bswap }, "simple");

rows.push(...VMX_OPCODES);

export const OPCODES: readonly OpcodeDef[] = rows;
