// @vmxlab/vmm: a bare-metal (type-1) hypervisor in TypeScript on the emulated CPU.

export { BLOCK_BASE_PORT, BLOCK_ERROR, BLOCK_IRQ, BlockDevice, SECTOR_SIZE } from "./devices/block.js";
export { VmDevices } from "./devices/vm-devices.js";
export { guestKernelImage, vmmExamplePath } from "./examples.js";
export type { ExitAction, ExitContext, ExitHandler } from "./exits/context.js";
export { injectException, skipInstruction } from "./exits/context.js";
export { HYPERVISOR_VENDOR, handleCpuid, virtualCpuid } from "./exits/cpuid.js";
export { injectPendingInterrupt } from "./exits/events.js";
export type { IoAccess } from "./exits/io.js";
export { decodeIoQualification, emulatePortIo } from "./exits/io.js";
export { EXIT_HANDLERS } from "./exits/table.js";
export { HYPERCALL } from "./exits/vmcall.js";
export type { ExitRecord, HypervisorOptions, PausePoint, RunLimits, RunResult } from "./hypervisor.js";
export { Hypervisor } from "./hypervisor.js";
export type { GuestPagingView } from "./inspect.js";
export { guestInstructionText, guestLinearToPhysical, guestRegisterSnapshot, readGuestLinear } from "./inspect.js";
export { PAGE, PageAllocator } from "./memory/allocator.js";
export { EptBuilder } from "./memory/ept-builder.js";
export { EptMmu } from "./memory/ept-mmu.js";
export type { GuestMemoryAccess } from "./memory/guest-memory.js";
export { GuestMemory, GuestMemoryError } from "./memory/guest-memory.js";
export type { Mmu, MmuVmcsSettings } from "./memory/mmu.js";
export { ShadowMmu } from "./memory/shadow-mmu.js";
export { describeExit } from "./trace.js";
export type { PagingMode, VmConfig, VmState, VmStats, VmStop } from "./vm.js";
export { Vm } from "./vm.js";
export type { HostLayout } from "./vmcs-setup.js";
export { setupVmcs } from "./vmcs-setup.js";
