// Hot-path specialisations of the 32-bit ALU forms: one function literal per operation, so V8
// compiles and inlines each separately (closures from one shared literal share their type feedback
// and would dispatch on the operation at run time). Semantics are identical to aluEG/aluGE/aluEImm
// in alu.ts, which handle the 8- and 16-bit forms.

import type { Handler } from "../isa/types.js";

/** op E, G / op G, E / op E, imm for 32-bit operands, indexed by the ALU /digit. */
export const ALU32_EG: readonly Handler[] = [
  // add
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.add32(c.regs[i.rm]!, c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.write32(a, c.add32(c.read32(a), c.regs[i.reg]!));
    }
  },
  // or
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! | c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) | c.regs[i.reg]!));
    }
  },
  // adc
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.arith(2, c.regs[i.rm]!, c.regs[i.reg]!, 32);
    } else {
      const a = c.ea(i);
      c.write32(a, c.arith(2, c.read32(a), c.regs[i.reg]!, 32));
    }
  },
  // sbb
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.arith(3, c.regs[i.rm]!, c.regs[i.reg]!, 32);
    } else {
      const a = c.ea(i);
      c.write32(a, c.arith(3, c.read32(a), c.regs[i.reg]!, 32));
    }
  },
  // and
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! & c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) & c.regs[i.reg]!));
    }
  },
  // sub
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.sub32(c.regs[i.rm]!, c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.write32(a, c.sub32(c.read32(a), c.regs[i.reg]!));
    }
  },
  // xor
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! ^ c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) ^ c.regs[i.reg]!));
    }
  },
  // cmp
  (c, i) => {
    if (i.mod === 3) {
      c.sub32(c.regs[i.rm]!, c.regs[i.reg]!);
    } else {
      const a = c.ea(i);
      c.sub32(c.read32(a), c.regs[i.reg]!);
    }
  },
];

/** op E, G / op G, E / op E, imm for 32-bit operands, indexed by the ALU /digit. */
export const ALU32_GE: readonly Handler[] = [
  // add
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.add32(c.regs[i.reg]!, src);
  },
  // or
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.logic32(c.regs[i.reg]! | src);
  },
  // adc
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.arith(2, c.regs[i.reg]!, src, 32);
  },
  // sbb
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.arith(3, c.regs[i.reg]!, src, 32);
  },
  // and
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.logic32(c.regs[i.reg]! & src);
  },
  // sub
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.sub32(c.regs[i.reg]!, src);
  },
  // xor
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.regs[i.reg] = c.logic32(c.regs[i.reg]! ^ src);
  },
  // cmp
  (c, i) => {
    const src = i.mod === 3 ? c.regs[i.rm]! : c.read32(c.ea(i));
    c.sub32(c.regs[i.reg]!, src);
  },
];

/** op E, G / op G, E / op E, imm for 32-bit operands, indexed by the ALU /digit. */
export const ALU32_EIMM: readonly Handler[] = [
  // add
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.add32(c.regs[i.rm]!, i.imm);
    } else {
      const a = c.ea(i);
      c.write32(a, c.add32(c.read32(a), i.imm));
    }
  },
  // or
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! | i.imm);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) | i.imm));
    }
  },
  // adc
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.arith(2, c.regs[i.rm]!, i.imm, 32);
    } else {
      const a = c.ea(i);
      c.write32(a, c.arith(2, c.read32(a), i.imm, 32));
    }
  },
  // sbb
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.arith(3, c.regs[i.rm]!, i.imm, 32);
    } else {
      const a = c.ea(i);
      c.write32(a, c.arith(3, c.read32(a), i.imm, 32));
    }
  },
  // and
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! & i.imm);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) & i.imm));
    }
  },
  // sub
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.sub32(c.regs[i.rm]!, i.imm);
    } else {
      const a = c.ea(i);
      c.write32(a, c.sub32(c.read32(a), i.imm));
    }
  },
  // xor
  (c, i) => {
    if (i.mod === 3) {
      c.regs[i.rm] = c.logic32(c.regs[i.rm]! ^ i.imm);
    } else {
      const a = c.ea(i);
      c.write32(a, c.logic32(c.read32(a) ^ i.imm));
    }
  },
  // cmp
  (c, i) => {
    if (i.mod === 3) {
      c.sub32(c.regs[i.rm]!, i.imm);
    } else {
      const a = c.ea(i);
      c.sub32(c.read32(a), i.imm);
    }
  },
];
