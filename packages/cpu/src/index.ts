// @vmxlab/cpu: the emulated IA-32 machine. See README.md for the tour of this API.

export type { CostClass, CostModel, InstructionCosts, PagingCosts, VmxCosts } from "./cost-model.js";
export { COST_MODELS, DEFAULT_COST_MODEL, NEHALEM, RECENT } from "./cost-model.js";
export type { CpuHooks, MsrHandler, PortIo, RunOptions, VmxHooks } from "./cpu/cpu.js";
export { Cpu } from "./cpu/cpu.js";
export * as registers from "./cpu/registers.js";
export { REG32_NAMES, type Reg32Name } from "./cpu/registers.js";
export type { StopKind, StopReason } from "./cpu/stop.js";
export * from "./devices/index.js";
export { examplePath } from "./examples.js";
export { decode, decodeBytes } from "./isa/decoder.js";
export { Insn } from "./isa/insn.js";
export { CC_NAMES, OPCODES } from "./isa/opcodes.js";
export type { OpcodeDef, OperandKind } from "./isa/types.js";
export { ImageFormatError, isElf, parseElf32 } from "./loaders/elf.js";
export type { LoadedImage, LoadOptions, MachineOptions } from "./machine.js";
export { DEFAULT_LOAD_ADDRESS, FLAT_CODE_AR, FLAT_DATA_AR, Machine, resolveCostModel } from "./machine.js";
export type { GuestPhysicalTranslator, WalkResult, WalkStep } from "./memory/paging.js";
export type { MmioRegion } from "./memory/physical.js";
export { PhysicalMemory } from "./memory/physical.js";
export type { TlbStats } from "./memory/tlb.js";
export { Tlb } from "./memory/tlb.js";
export { EXIT_REASON, exitReasonName, parseExitReason } from "./vmx/exit-reasons.js";
