// JavaScript source of the hottest 32-bit handlers, for compiled blocks (isa/block-compiler.ts). Each
// inliner mirrors one handler of alu.ts, alu32.ts, move.ts or control.ts with the decoded instance's
// fields as constants, calling the same Cpu methods in the same order, so the state it leaves is the
// handler's to the bit (test/inline.test.ts runs both on random states). Other operand sizes get null:
// the compiled block calls the handler.

import { REG8_BYTE, ZERO_REG } from "../cpu/registers.js";
import type { Insn } from "../isa/insn.js";
import type { InlineCode, Inliner } from "../isa/types.js";

const CMP = 7;

/** Cpu.ea(i) with the fields folded in: (base + (index << scale) + disp) | 0. */
function ea(i: Insn): string {
  const parts: string[] = [];
  if (i.base !== ZERO_REG) parts.push(`r[${i.base}]`);
  if (i.index !== ZERO_REG) parts.push(i.scale === 0 ? `r[${i.index}]` : `(r[${i.index}] << ${i.scale})`);
  if (parts.length === 0) return String(i.disp | 0);
  if (i.disp !== 0) parts.push(String(i.disp));
  return `(${parts.join(" + ")}) | 0`;
}

const registerOnly = (code: string): InlineCode => ({ code, mayFault: false, writes: false });
const reads = (code: string): InlineCode => ({ code, mayFault: true, writes: false });
const writes = (code: string): InlineCode => ({ code, mayFault: true, writes: true });

/** Only the 32-bit operand size is inlined. */
function only32(emit: (i: Insn) => InlineCode | null): Inliner {
  return (i) => (i.opsize === 32 ? emit(i) : null);
}

/** The 32-bit E operand read as readE(c, i, 32) does (unsigned). */
function readE32(i: Insn): { code: string; memory: boolean } {
  return i.mod === 3
    ? { code: `(r[${i.rm}] >>> 0)`, memory: false }
    : { code: `(c.read32(${ea(i)}) >>> 0)`, memory: true };
}

/** The flag-recording form of an ALU operation on two int32 operands: alu32.ts's choice of Cpu method. */
function aluCall(op: number, a: string, b: string): string {
  switch (op) {
    case 0:
      return `c.add32(${a}, ${b})`;
    case 1:
      return `c.logic32(${a} | ${b})`;
    case 4:
      return `c.logic32(${a} & ${b})`;
    case 5:
    case CMP:
      return `c.sub32(${a}, ${b})`;
    case 6:
      return `c.logic32(${a} ^ ${b})`;
    default:
      return `c.arith(${op}, ${a}, ${b}, 32)`; // ADC, SBB
  }
}

/** op E, src (ALU32_EG and ALU32_EIMM). */
function aluE(op: number, i: Insn, src: string): InlineCode {
  if (i.mod === 3) {
    const call = aluCall(op, `r[${i.rm}]`, src);
    return registerOnly(op === CMP ? `${call};` : `r[${i.rm}] = ${call};`);
  }
  if (op === CMP) return reads(`${aluCall(op, `c.read32(${ea(i)})`, src)};`);
  return writes(`{ const a = ${ea(i)}; c.write32(a, ${aluCall(op, "c.read32(a)", src)}); }`);
}

export function inlineAluEG(op: number): Inliner {
  return only32((i) => aluE(op, i, `r[${i.reg}]`));
}

export function inlineAluEImm(op: number): Inliner {
  return only32((i) => aluE(op, i, String(i.imm)));
}

/** op G, E (ALU32_GE): the source is read before the destination register. */
export function inlineAluGE(op: number): Inliner {
  return only32((i) => {
    const call = aluCall(op, `r[${i.reg}]`, "v");
    const store = op === CMP ? `${call};` : `r[${i.reg}] = ${call};`;
    if (i.mod === 3) return registerOnly(`{ const v = r[${i.rm}]; ${store} }`);
    return reads(`{ const v = c.read32(${ea(i)}); ${store} }`);
  });
}

/** op EAX, imm (aluAccImm through Cpu.arith). */
export function inlineAluAccImm(op: number): Inliner {
  return only32((i) => {
    const call = `c.arith(${op}, r[0] >>> 0, ${i.imm}, 32)`;
    return registerOnly(op === CMP ? `${call};` : `r[0] = ${call};`);
  });
}

/** TEST E, G / TEST E, imm / TEST EAX, imm: Cpu.arith with AND, result dropped. */
export const inlineTestEG: Inliner = only32((i) => {
  const e = readE32(i);
  const code = `c.arith(4, ${e.code}, r[${i.reg}] >>> 0, 32);`;
  return e.memory ? reads(code) : registerOnly(code);
});

export const inlineTestEImm: Inliner = only32((i) => {
  const e = readE32(i);
  const code = `c.arith(4, ${e.code}, ${i.imm}, 32);`;
  return e.memory ? reads(code) : registerOnly(code);
});

export const inlineTestAccImm: Inliner = only32((i) => registerOnly(`c.arith(4, r[0] >>> 0, ${i.imm}, 32);`));

/** INC/DEC r32 (40+r / 48+r): Cpu.incDec32. */
export function inlineIncDecZ(delta: number): Inliner {
  return only32((i) => registerOnly(`r[${i.reg}] = c.incDec32(r[${i.reg}], ${delta});`));
}

/** INC/DEC r/m32 (FF /0, /1): Cpu.incDec. */
export function inlineIncDecE(delta: number): Inliner {
  return only32((i) => {
    if (i.mod === 3) return registerOnly(`r[${i.rm}] = c.incDec(r[${i.rm}] >>> 0, ${delta}, 32);`);
    return writes(`{ const a = ${ea(i)}; c.write32(a, c.incDec(c.read32(a) >>> 0, ${delta}, 32)); }`);
  });
}

// ---- data movement ----

export const inlineMovEG: Inliner = only32((i) =>
  i.mod === 3 ? registerOnly(`r[${i.rm}] = r[${i.reg}];`) : writes(`c.write32(${ea(i)}, r[${i.reg}]);`),
);

export const inlineMovGE: Inliner = only32((i) =>
  i.mod === 3 ? registerOnly(`r[${i.reg}] = r[${i.rm}];`) : reads(`r[${i.reg}] = c.read32(${ea(i)});`),
);

export const inlineMovEImm: Inliner = only32((i) =>
  i.mod === 3 ? registerOnly(`r[${i.rm}] = ${i.imm};`) : writes(`c.write32(${ea(i)}, ${i.imm});`),
);

export const inlineMovZImm: Inliner = only32((i) => registerOnly(`r[${i.reg}] = ${i.imm};`));

export const inlineLea: Inliner = only32((i) => registerOnly(`r[${i.reg}] = ${ea(i)};`));

/** MOVZX/MOVSX r32, r/m8 or r/m16. */
export function inlineMovx(srcBits: number, signed: boolean): Inliner {
  return only32((i) => {
    let src: string;
    if (i.mod === 3) src = srcBits === 8 ? `c.regs8[${REG8_BYTE[i.rm]}]` : `c.regs16[${i.rm << 1}]`;
    else src = srcBits === 8 ? `c.read8(${ea(i)})` : `c.read16(${ea(i)})`;
    const shift = 32 - srcBits;
    const value = signed ? `((${src} << ${shift}) >> ${shift})` : src;
    const code = `r[${i.reg}] = ${value};`;
    return i.mod === 3 ? registerOnly(code) : reads(code);
  });
}

export const inlinePushZ: Inliner = only32((i) => writes(`c.push32(r[${i.reg}]);`));

export const inlinePopZ: Inliner = only32((i) => reads(`r[${i.reg}] = c.pop32();`));

export const inlinePushImm: Inliner = only32((i) => writes(`c.push32(${i.imm});`));

// ---- conditions and control transfer (always a block's last instruction: EIP is already past it) ----

/** Condition cc as Cpu.cond evaluates it; JE/JNE read ZF straight from the lazy record (control.ts). */
function condition(cc: number): string {
  if (cc === 4) return "(c.lazy & 64 ? c.lR === 0 : (c.fl & 64) !== 0)";
  if (cc === 5) return "(c.lazy & 64 ? c.lR !== 0 : (c.fl & 64) === 0)";
  return `c.cond(${cc})`;
}

export function inlineJcc(cc: number): Inliner {
  return only32((i) => registerOnly(`if (${condition(cc)}) c.eip = (c.eip + ${i.imm}) | 0;`));
}

export const inlineJmpRel: Inliner = only32((i) => registerOnly(`c.eip = (c.eip + ${i.imm}) | 0;`));

export const inlineCallRel: Inliner = only32((i) => writes(`c.push32(c.eip); c.eip = (c.eip + ${i.imm}) | 0;`));

export const inlineRet: Inliner = only32(() => reads("c.eip = c.pop32();"));

/** SETcc r/m8. */
export function inlineSetcc(cc: number): Inliner {
  return (i) => {
    const v = `${condition(cc)} ? 1 : 0`;
    return i.mod === 3 ? registerOnly(`c.regs8[${REG8_BYTE[i.rm]}] = ${v};`) : writes(`c.write8(${ea(i)}, ${v});`);
  };
}

/** CMOVcc r32, r/m32: the source is read (and may fault) whatever the condition. */
export function inlineCmovcc(cc: number): Inliner {
  return only32((i) => {
    const e = readE32(i);
    const code = `{ const v = ${e.code}; if (${condition(cc)}) r[${i.reg}] = v; }`;
    return e.memory ? reads(code) : registerOnly(code);
  });
}
