// Register names the assembler knows, numbered as the x86 encoding numbers them.

export type RegClass = "gpr" | "sreg" | "cr" | "dr";

export interface Register {
  name: string;
  cls: RegClass;
  /** Width in bits (8, 16 or 32; segment registers are 16). */
  size: number;
  /** Encoding number (ModRM.reg / rm / opcode+r). */
  num: number;
}

const REGISTERS = new Map<string, Register>();

function add(names: readonly string[], cls: RegClass, size: number): void {
  names.forEach((name, num) => {
    REGISTERS.set(name, { name, cls, size, num });
  });
}

add(["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"], "gpr", 8);
add(["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"], "gpr", 16);
add(["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"], "gpr", 32);
add(["es", "cs", "ss", "ds", "fs", "gs"], "sreg", 16);
add(["cr0", "cr1", "cr2", "cr3", "cr4", "cr5", "cr6", "cr7"], "cr", 32);
add(["dr0", "dr1", "dr2", "dr3", "dr4", "dr5", "dr6", "dr7"], "dr", 32);

/** Looks a register up by name (case-insensitive). */
export function lookupRegister(name: string): Register | undefined {
  return REGISTERS.get(name.toLowerCase());
}

export const ESP_NUM = 4;
export const EBP_NUM = 5;

/** Short description of a register operand for error messages: r8, r16, r32, sreg, crN, drN. */
export function registerClassName(reg: Register): string {
  switch (reg.cls) {
    case "gpr":
      return `r${reg.size}`;
    case "sreg":
      return "sreg";
    case "cr":
      return "creg";
    case "dr":
      return "dreg";
  }
}
