// The exit-handler table, indexed by Intel's basic exit reason (as kvm_vmx_exit_handlers[] in KVM's
// vmx.c). An empty slot is an unexpected exit: the VM stops with a diagnostic and a VMCS dump.

import { EXIT_REASON } from "@vmxlab/cpu";
import type { ExitHandler } from "./context.js";
import { handleCpuid } from "./cpuid.js";
import { handleExternalInterrupt, handleInterruptWindow, handlePreemptionTimer } from "./events.js";
import { handleEntryFailure, handleEptMisconfig, handleTripleFault, handleVmxInstruction } from "./faults.js";
import { handleHlt } from "./hlt.js";
import { handleIo } from "./io.js";
import { handleCrAccess, handleEptViolation, handleException, handleInvlpg } from "./memory.js";
import { handleMsrRead, handleMsrWrite } from "./msr.js";
import { handleVmcall } from "./vmcall.js";

export const EXIT_HANDLERS: readonly (ExitHandler | undefined)[] = (() => {
  const t: (ExitHandler | undefined)[] = new Array(64).fill(undefined);
  t[EXIT_REASON.EXCEPTION_NMI] = handleException;
  t[EXIT_REASON.EXTERNAL_INTERRUPT] = handleExternalInterrupt;
  t[EXIT_REASON.TRIPLE_FAULT] = handleTripleFault;
  t[EXIT_REASON.INTERRUPT_WINDOW] = handleInterruptWindow;
  t[EXIT_REASON.CPUID] = handleCpuid;
  t[EXIT_REASON.HLT] = handleHlt;
  t[EXIT_REASON.INVLPG] = handleInvlpg;
  t[EXIT_REASON.VMCALL] = handleVmcall;
  for (const r of [
    EXIT_REASON.VMCLEAR,
    EXIT_REASON.VMLAUNCH,
    EXIT_REASON.VMPTRLD,
    EXIT_REASON.VMPTRST,
    EXIT_REASON.VMREAD,
    EXIT_REASON.VMRESUME,
    EXIT_REASON.VMWRITE,
    EXIT_REASON.VMOFF,
    EXIT_REASON.VMON,
    EXIT_REASON.INVEPT,
    EXIT_REASON.INVVPID,
  ]) {
    t[r] = handleVmxInstruction;
  }
  t[EXIT_REASON.CR_ACCESS] = handleCrAccess;
  t[EXIT_REASON.IO_INSTRUCTION] = handleIo;
  t[EXIT_REASON.MSR_READ] = handleMsrRead;
  t[EXIT_REASON.MSR_WRITE] = handleMsrWrite;
  t[EXIT_REASON.INVALID_STATE] = handleEntryFailure;
  t[EXIT_REASON.MSR_LOAD_FAIL] = handleEntryFailure;
  t[EXIT_REASON.EPT_VIOLATION] = handleEptViolation;
  t[EXIT_REASON.EPT_MISCONFIG] = handleEptMisconfig;
  t[EXIT_REASON.PREEMPTION_TIMER] = handlePreemptionTimer;
  return t;
})();
