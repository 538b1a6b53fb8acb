// The deterministic cycle model. Every modeled cost in vmxlab lives here, with the source it was
// calibrated from. Modeled cycles are what RDTSC reads and what the benchmarks compare; they never
// depend on the host. Host time is measured separately (packages/bench).

/** Cost of each instruction class, in cycles, on top of which memory and paging costs are added. */
export interface InstructionCosts {
  /** Register ALU op, MOV, LEA, NOP, flag ops: one issue slot on a modern core. */
  simple: number;
  /** Extra cost of an instruction that reads or writes memory (an L1 hit). */
  memoryOperand: number;
  /** Taken or not-taken branch, CALL, RET, JMP. */
  branch: number;
  /** MUL/IMUL. */
  multiply: number;
  /** DIV/IDIV. */
  divide: number;
  /** One iteration of a string instruction (MOVS, STOS, ...). */
  stringIteration: number;
  /** PUSH/POP and other stack operations. */
  stack: number;
  /** Serializing or microcoded system instructions: MOV CR, LGDT, CPUID, RDMSR/WRMSR, INVLPG, ... */
  system: number;
  /** Port I/O on the bare machine (an uncached bus cycle). */
  portIo: number;
  /** Interrupt or exception delivery through the IDT, and IRET. */
  interruptDelivery: number;
  /** SYSENTER / SYSEXIT fast system call transitions. */
  fastSystemCall: number;
}

/** Costs of address translation. */
export interface PagingCosts {
  /** One page-walk memory reference (a paging-structure entry read that hits in cache). */
  walkReference: number;
  /** Full TLB flush (MOV CR3) beyond the instruction itself. */
  tlbFlush: number;
}

/** Costs of VMX transitions and instructions (Intel SDM Vol. 3C; used by the VMX implementation). */
export interface VmxCosts {
  /** Hardware VM exit: save guest state, load host state. */
  vmExit: number;
  /** Hardware VM entry (VMLAUNCH/VMRESUME) including the consistency checks. */
  vmEntry: number;
  vmread: number;
  vmwrite: number;
  /** VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST. */
  vmxManagement: number;
  /** INVEPT / INVVPID. */
  invalidate: number;
  /** One EPT paging-structure reference during a two-dimensional walk. */
  eptWalkReference: number;
}

export interface CostModel {
  name: string;
  description: string;
  /** Where the figures come from. */
  sources: readonly string[];
  instructions: InstructionCosts;
  paging: PagingCosts;
  vmx: VmxCosts;
}

const COMMON_INSTRUCTIONS: InstructionCosts = {
  simple: 1,
  memoryOperand: 1,
  branch: 1,
  multiply: 3,
  divide: 24,
  stringIteration: 1,
  stack: 1,
  system: 40,
  portIo: 100,
  interruptDelivery: 80,
  fastSystemCall: 30,
};

/**
 * A recent server core (Skylake-SP and later). A KVM in-kernel CPUID exit round trip measures
 * 1,018-1,110 cycles and a VMCALL round trip 1,529-1,559 cycles on such machines; we split a
 * round trip of about 1,000 cycles into the hardware exit and entry transitions, leaving the rest
 * to the software handler the hypervisor runs.
 */
export const RECENT: CostModel = {
  name: "recent",
  description: "A recent server core (Skylake-SP class and later)",
  sources: [
    "CPUID exit round trip 1018-1110 cycles: S. Christopherson and B. Kauer, kvm list, Dec 2024 (kvm-unit-tests vmexit.flat cpuid)",
    "VMCALL round trip 1529-1559 cycles on Skylake-SP: Wanpeng Li, 'KVM: VMX: Micro-optimize vmexit time when not exposing PMU', 2020",
    "Instruction latencies: Intel 64 and IA-32 Architectures Optimization Reference Manual (MUL 3, DIV 20-26 cycles)",
    "Page-walk reference ~ an L1/L2 hit; MOV CR3 flush overhead: order of tens of cycles (Intel SDM Vol. 3A 4.10)",
  ],
  instructions: COMMON_INSTRUCTIONS,
  paging: { walkReference: 4, tlbFlush: 20 },
  vmx: {
    vmExit: 450,
    vmEntry: 400,
    vmread: 10,
    vmwrite: 10,
    vmxManagement: 100,
    invalidate: 100,
    eptWalkReference: 4,
  },
};

/**
 * An older core (Nehalem, 2009). The direct cost of a VM exit and entry, the world switch alone,
 * was about 2,000 cycles on a Xeon X5570 with EPT and VPID.
 */
export const NEHALEM: CostModel = {
  name: "nehalem",
  description: "An older core (Nehalem, Xeon X5570 class, 2009)",
  sources: [
    "World switch ~2,000 cycles (exit + entry): Landau, Ben-Yehuda, Gordon, 'SplitX: Split Guest/Hypervisor Execution on Multi-Core', 2011 (Xeon X5570, KVM 2.6.34, EPT+VPID)",
    "VMREAD/VMWRITE tens of cycles: Intel SDM Vol. 3C; KVM 'vmx: cache VMCS fields' patches",
    "Instruction latencies: Intel Optimization Reference Manual, Nehalem tables",
  ],
  instructions: { ...COMMON_INSTRUCTIONS, multiply: 3, divide: 28, system: 60, interruptDelivery: 100 },
  paging: { walkReference: 5, tlbFlush: 30 },
  vmx: {
    vmExit: 1050,
    vmEntry: 950,
    vmread: 25,
    vmwrite: 25,
    vmxManagement: 150,
    invalidate: 150,
    eptWalkReference: 5,
  },
};

export const COST_MODELS: Readonly<Record<string, CostModel>> = { recent: RECENT, nehalem: NEHALEM };
export const DEFAULT_COST_MODEL = RECENT;

/** Instruction classes named by the opcode table; each maps to one InstructionCosts field. */
export type CostClass = keyof InstructionCosts;
