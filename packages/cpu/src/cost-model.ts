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

/**
 * Software costs of the hypervisors, in cycles of the modeled core. The TypeScript hypervisors run
 * outside the emulated CPU, so the work their handlers do is charged here. Calibrated so that an
 * in-kernel round trip (exit + handler + entry) lands on the published KVM figures.
 */
export interface HypervisorCosts {
  /** Exit dispatch: reading the exit reason and qualification, the table lookup (KVM __vmx_handle_exit). */
  dispatch: number;
  /** CPUID emulation (kvm_emulate_cpuid). */
  cpuid: number;
  /** Port I/O emulated in the hypervisor (decode the qualification, call the device model). */
  portIo: number;
  /** MSR access emulation. */
  msr: number;
  /** CR access emulation (CR0/CR4 shadow update; a CR3 load under shadow paging adds shadowCr3Switch). */
  crAccess: number;
  /** Hypercall dispatch (VMCALL). */
  hypercall: number;
  /** EPT violation: populate or map one page (handle_ept_violation + the MMU fault path). */
  eptViolation: number;
  /** Shadow paging: a guest #PF intercepted and the shadow PTE filled (the hidden page fault). */
  shadowPageFault: number;
  /** Shadow paging: switching to another guest address space (shadow root lookup in the cache). */
  shadowCr3Switch: number;
  /** Shadow paging: building a new shadow page directory (cache miss). */
  shadowTableBuild: number;
  /** Shadow paging: emulating a write to a write-protected guest page-table page. */
  shadowPteWrite: number;
  /** Shadow paging: INVLPG emulation. */
  shadowInvlpg: number;
  /** Interrupt injection bookkeeping (PIC acknowledge, VM-entry interruption field). */
  interruptInjection: number;
  /** Scheduler decision and VMCS switch (VMPTRLD) when changing VMs. */
  vmSwitch: number;
  /** Injecting an exception into the guest (#UD for VMX instructions, #GP for MSRs). */
  exceptionInjection: number;
}

/**
 * The hosted (type-2) path's extra hops (Linux/KVM + QEMU-like), each a named transition.
 */
export interface HostedCosts {
  /** Return from the KVM_RUN-like system call to the user-space VMM (kernel -> user). */
  kernelToUser: number;
  /** The user-space VMM's system call back into the kernel module (user -> kernel). */
  userToKernel: number;
  /** Device emulation work in the user-space VMM (decode kvm_run, dispatch to the device model). */
  userspaceDeviceDispatch: number;
  /** A host scheduler context switch between processes (save/restore, CR3 load). */
  contextSwitch: number;
  /** The host kernel's timer interrupt handler and scheduling decision. */
  schedulerTick: number;
  /** Host system call entry/exit for host processes. */
  syscall: number;
  /**
   * An MMIO exit the kernel module must send to user space: fetch the faulting instruction through
   * the guest's page tables and decode it (size, direction, register) to fill kvm_run.mmio, and
   * write a read's data back into the register when user space completes it.
   */
  mmioEmulation: number;
}

export interface CostModel {
  name: string;
  description: string;
  /** Where the figures come from. */
  sources: readonly string[];
  instructions: InstructionCosts;
  paging: PagingCosts;
  vmx: VmxCosts;
  hypervisor: HypervisorCosts;
  hosted: HostedCosts;
}

const HYPERVISOR_RECENT: HypervisorCosts = {
  dispatch: 40,
  cpuid: 110,
  portIo: 250,
  msr: 120,
  crAccess: 150,
  hypercall: 150,
  eptViolation: 900,
  shadowPageFault: 1200,
  shadowCr3Switch: 400,
  shadowTableBuild: 2500,
  shadowPteWrite: 900,
  shadowInvlpg: 300,
  interruptInjection: 120,
  vmSwitch: 300,
  exceptionInjection: 100,
};

const HOSTED_RECENT: HostedCosts = {
  kernelToUser: 600,
  userToKernel: 600,
  userspaceDeviceDispatch: 800,
  contextSwitch: 2000,
  schedulerTick: 1500,
  syscall: 150,
  mmioEmulation: 600,
};

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
    "Hypervisor handlers: a CPUID round trip = vmExit 450 + dispatch 40 + cpuid 110 + vmEntry 400 = 1,000 cycles, matching the 1,018-1,110 measured for KVM",
    "Hosted hops: KVM_RUN return + re-entry about 1,100-1,300 cycles on AMD (LKML, Dec 2020, SVM KVM_RUN breakdown); user-space I/O round trip about 3.3x the in-kernel one (P. Bonzini, KVM list, 2019: inl_from_qemu vs inl_from_kernel)",
    "Host context switch ~2,000 cycles and getpid-class system call ~150 cycles: measured on this project's machines (shared/reference/performance.md)",
    "Hosted MMIO emulation 600 cycles: an estimate, not a measurement (instruction fetch through the guest's page tables plus a decode, put between the CR-access and port-I/O emulation costs)",
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
  hypervisor: HYPERVISOR_RECENT,
  hosted: HOSTED_RECENT,
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
    "Hypervisor and hosted software costs: the recent profile's values scaled by 1.5 (an older, slower core)",
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
  hypervisor: Object.fromEntries(
    Object.entries(HYPERVISOR_RECENT).map(([k, v]) => [k, Math.round(v * 1.5)]),
  ) as unknown as HypervisorCosts,
  hosted: Object.fromEntries(
    Object.entries(HOSTED_RECENT).map(([k, v]) => [k, Math.round(v * 1.5)]),
  ) as unknown as HostedCosts,
};

export const COST_MODELS: Readonly<Record<string, CostModel>> = { recent: RECENT, nehalem: NEHALEM };
export const DEFAULT_COST_MODEL = RECENT;

/** Instruction classes named by the opcode table; each maps to one InstructionCosts field. */
export type CostClass = keyof InstructionCosts;
