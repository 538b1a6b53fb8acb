// Register numbering follows the x86 encoding (ModRM.reg / ModRM.rm / opcode+r), so decoded fields
// index the register file directly.

export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;
/** Always-zero slot used by effective-address computation for "no base" / "no index". */
export const ZERO_REG = 8;

export const REG32_NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] as const;
export const REG16_NAMES = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] as const;
export const REG8_NAMES = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"] as const;
export type Reg32Name = (typeof REG32_NAMES)[number];

/** Byte offset inside the register file of each 8-bit register (AH..BH are bits 8-15 of EAX..EBX). */
export const REG8_BYTE = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

// Segment registers in encoding order (ModRM.reg of MOV Sreg).
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs"] as const;

// EFLAGS bits (Intel SDM Vol. 1, 3.4.3).
export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL_MASK = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const ID = 1 << 21;
/** The six status flags that arithmetic instructions produce. */
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;
/** Bits software may change with POPF at CPL 0 (no virtual-8086 mode: VM stays 0). */
export const EFLAGS_WRITABLE = ARITH_FLAGS | TF | IF | DF | IOPL_MASK | NT | AC | ID;
/** Bit 1 of EFLAGS always reads as 1. */
export const EFLAGS_FIXED1 = 1 << 1;

// Control-register bits used by the machine.
export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_PGE = 1 << 7;
export const CR4_VMXE = 1 << 13;
export const CR4_SMEP = 1 << 20;

// Exception vectors (Intel SDM Vol. 3A, 6.3.1).
export const DE = 0;
export const DB = 1;
export const NMI = 2;
export const BP = 3;
export const OVERFLOW = 4;
export const BR = 5;
export const UD = 6;
export const NM = 7;
export const DOUBLE_FAULT = 8;
export const TS = 10;
export const NP = 11;
export const SS_FAULT = 12;
export const GP = 13;
export const PAGE_FAULT = 14;

export const EXCEPTION_NAMES: Record<number, string> = {
  0: "#DE",
  1: "#DB",
  2: "NMI",
  3: "#BP",
  4: "#OF",
  5: "#BR",
  6: "#UD",
  7: "#NM",
  8: "#DF",
  10: "#TS",
  11: "#NP",
  12: "#SS",
  13: "#GP",
  14: "#PF",
  16: "#MF",
  17: "#AC",
  18: "#MC",
};

/** Vectors that push an error code when delivered as hardware exceptions. */
export function exceptionHasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

// Page-fault error-code bits (Intel SDM Vol. 3A, 4.7).
export const PFEC_P = 1 << 0;
export const PFEC_W = 1 << 1;
export const PFEC_U = 1 << 2;
export const PFEC_RSVD = 1 << 3;
export const PFEC_I = 1 << 4;

// Model-specific registers the subset implements.
export const MSR_IA32_TIME_STAMP_COUNTER = 0x10;
export const MSR_IA32_FEATURE_CONTROL = 0x3a;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
