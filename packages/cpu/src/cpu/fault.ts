// Faults leave an instruction by throwing one preallocated signal object (no stack capture), caught
// by the run loop, which restores EIP to the faulting instruction and delivers the exception.

export class CpuSignal {
  constructor(readonly kind: "fault" | "vmexit" | "restart") {}
}

/** Thrown for an exception raised by an instruction; details are in cpu.pendingVector/ErrorCode. */
export const FAULT = new CpuSignal("fault");
/** Thrown when a VM exit happens in the middle of an instruction (EPT violation, exception exit). */
export const VMEXIT = new CpuSignal("vmexit");

/**
 * Thrown (instead of executing) by an instruction of a decoded block whose bytes were overwritten
 * after decoding: the run loop resumes at that instruction's EIP, which decodes the new bytes.
 */
export const RESTART = new CpuSignal("restart");

/** No error code is pushed for this exception. */
export const NO_ERROR_CODE = -1;
