// VM-execution, VM-exit and VM-entry control bits (Intel SDM Vol. 3C, 25.6-25.8), named as in
// KVM's arch/x86/include/asm/vmx.h. `CONTROL_BITS` lets viewers decode a control word by name.

// Pin-based VM-execution controls (0x4000).
export const PIN_BASED_EXT_INTR_MASK = 1 << 0;
export const PIN_BASED_NMI_EXITING = 1 << 3;
export const PIN_BASED_VIRTUAL_NMIS = 1 << 5;
export const PIN_BASED_VMX_PREEMPTION_TIMER = 1 << 6;

// Primary processor-based VM-execution controls (0x4002).
export const CPU_BASED_INTR_WINDOW_EXITING = 1 << 2;
export const CPU_BASED_USE_TSC_OFFSETTING = 1 << 3;
export const CPU_BASED_HLT_EXITING = 1 << 7;
export const CPU_BASED_INVLPG_EXITING = 1 << 9;
export const CPU_BASED_MWAIT_EXITING = 1 << 10;
export const CPU_BASED_RDPMC_EXITING = 1 << 11;
export const CPU_BASED_RDTSC_EXITING = 1 << 12;
export const CPU_BASED_CR3_LOAD_EXITING = 1 << 15;
export const CPU_BASED_CR3_STORE_EXITING = 1 << 16;
export const CPU_BASED_CR8_LOAD_EXITING = 1 << 19;
export const CPU_BASED_CR8_STORE_EXITING = 1 << 20;
export const CPU_BASED_TPR_SHADOW = 1 << 21;
export const CPU_BASED_NMI_WINDOW_EXITING = 1 << 22;
export const CPU_BASED_MOV_DR_EXITING = 1 << 23;
export const CPU_BASED_UNCOND_IO_EXITING = 1 << 24;
export const CPU_BASED_USE_IO_BITMAPS = 1 << 25;
export const CPU_BASED_MONITOR_TRAP_FLAG = 1 << 27;
export const CPU_BASED_USE_MSR_BITMAPS = 1 << 28;
export const CPU_BASED_MONITOR_EXITING = 1 << 29;
export const CPU_BASED_PAUSE_EXITING = 1 << 30;
export const CPU_BASED_ACTIVATE_SECONDARY_CONTROLS = 1 << 31;

// Secondary processor-based VM-execution controls (0x401E).
export const SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES = 1 << 0;
export const SECONDARY_EXEC_ENABLE_EPT = 1 << 1;
export const SECONDARY_EXEC_DESC = 1 << 2;
export const SECONDARY_EXEC_ENABLE_RDTSCP = 1 << 3;
export const SECONDARY_EXEC_ENABLE_VPID = 1 << 5;
export const SECONDARY_EXEC_WBINVD_EXITING = 1 << 6;
export const SECONDARY_EXEC_UNRESTRICTED_GUEST = 1 << 7;

// VM-exit controls (0x400C).
export const VM_EXIT_SAVE_DEBUG_CONTROLS = 1 << 2;
export const VM_EXIT_HOST_ADDR_SPACE_SIZE = 1 << 9;
export const VM_EXIT_ACK_INTR_ON_EXIT = 1 << 15;
export const VM_EXIT_SAVE_IA32_PAT = 1 << 18;
export const VM_EXIT_LOAD_IA32_PAT = 1 << 19;
export const VM_EXIT_SAVE_IA32_EFER = 1 << 20;
export const VM_EXIT_LOAD_IA32_EFER = 1 << 21;
export const VM_EXIT_SAVE_VMX_PREEMPTION_TIMER = 1 << 22;

// VM-entry controls (0x4012).
export const VM_ENTRY_LOAD_DEBUG_CONTROLS = 1 << 2;
export const VM_ENTRY_IA32E_MODE = 1 << 9;
export const VM_ENTRY_SMM = 1 << 10;
export const VM_ENTRY_DEACT_DUAL_MONITOR = 1 << 11;
export const VM_ENTRY_LOAD_IA32_PAT = 1 << 14;
export const VM_ENTRY_LOAD_IA32_EFER = 1 << 15;

// Interruption-information fields (entry 0x4016, exit 0x4404, IDT-vectoring 0x4408).
export const INTR_INFO_VECTOR_MASK = 0xff;
export const INTR_INFO_INTR_TYPE_SHIFT = 8;
export const INTR_INFO_DELIVER_CODE_MASK = 1 << 11;
export const INTR_INFO_UNBLOCK_NMI = 1 << 12;
export const INTR_INFO_VALID_MASK = 1 << 31;
export const INTR_TYPE_EXT_INTR = 0;
export const INTR_TYPE_NMI_INTR = 2;
export const INTR_TYPE_HARD_EXCEPTION = 3;
export const INTR_TYPE_SOFT_INTR = 4;
export const INTR_TYPE_PRIV_SW_EXCEPTION = 5;
export const INTR_TYPE_SOFT_EXCEPTION = 6;
export const INTR_TYPE_OTHER_EVENT = 7;

// Guest interruptibility state (0x4824) and activity state (0x4826).
export const GUEST_INTR_STATE_STI = 1 << 0;
export const GUEST_INTR_STATE_MOV_SS = 1 << 1;
export const GUEST_INTR_STATE_NMI = 1 << 3;
export const GUEST_ACTIVITY_ACTIVE = 0;
export const GUEST_ACTIVITY_HLT = 1;

/** Exit-reason bit 31: the VM entry failed. */
export const VMX_EXIT_REASONS_FAILED_VMENTRY = 0x80000000;

/** VM-instruction error numbers (Intel SDM Vol. 3C, 31.4). */
export const VMXERR = {
  VMCALL_IN_VMX_ROOT_OPERATION: 1,
  VMCLEAR_INVALID_ADDRESS: 2,
  VMCLEAR_VMXON_POINTER: 3,
  VMLAUNCH_NONCLEAR_VMCS: 4,
  VMRESUME_NONLAUNCHED_VMCS: 5,
  VMRESUME_AFTER_VMXOFF: 6,
  ENTRY_INVALID_CONTROL_FIELD: 7,
  ENTRY_INVALID_HOST_STATE_FIELD: 8,
  VMPTRLD_INVALID_ADDRESS: 9,
  VMPTRLD_VMXON_POINTER: 10,
  VMPTRLD_INCORRECT_VMCS_REVISION_ID: 11,
  UNSUPPORTED_VMCS_COMPONENT: 12,
  VMWRITE_READ_ONLY_VMCS_COMPONENT: 13,
  VMXON_IN_VMX_ROOT_OPERATION: 15,
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
  INVALID_OPERAND_TO_INVEPT_INVVPID: 28,
} as const;

/** Named bits of each control word, for viewers (KVM names without the group prefix). */
export const CONTROL_BITS: Readonly<Record<string, readonly [number, string][]>> = {
  PIN_BASED_VM_EXEC_CONTROL: [
    [0, "EXT_INTR_MASK"],
    [3, "NMI_EXITING"],
    [5, "VIRTUAL_NMIS"],
    [6, "VMX_PREEMPTION_TIMER"],
  ],
  CPU_BASED_VM_EXEC_CONTROL: [
    [2, "INTR_WINDOW_EXITING"],
    [3, "USE_TSC_OFFSETTING"],
    [7, "HLT_EXITING"],
    [9, "INVLPG_EXITING"],
    [10, "MWAIT_EXITING"],
    [11, "RDPMC_EXITING"],
    [12, "RDTSC_EXITING"],
    [15, "CR3_LOAD_EXITING"],
    [16, "CR3_STORE_EXITING"],
    [19, "CR8_LOAD_EXITING"],
    [20, "CR8_STORE_EXITING"],
    [21, "TPR_SHADOW"],
    [22, "NMI_WINDOW_EXITING"],
    [23, "MOV_DR_EXITING"],
    [24, "UNCOND_IO_EXITING"],
    [25, "USE_IO_BITMAPS"],
    [27, "MONITOR_TRAP_FLAG"],
    [28, "USE_MSR_BITMAPS"],
    [29, "MONITOR_EXITING"],
    [30, "PAUSE_EXITING"],
    [31, "ACTIVATE_SECONDARY_CONTROLS"],
  ],
  SECONDARY_VM_EXEC_CONTROL: [
    [0, "VIRTUALIZE_APIC_ACCESSES"],
    [1, "ENABLE_EPT"],
    [2, "DESC"],
    [3, "ENABLE_RDTSCP"],
    [5, "ENABLE_VPID"],
    [6, "WBINVD_EXITING"],
    [7, "UNRESTRICTED_GUEST"],
  ],
  VM_EXIT_CONTROLS: [
    [2, "SAVE_DEBUG_CONTROLS"],
    [9, "HOST_ADDR_SPACE_SIZE"],
    [15, "ACK_INTR_ON_EXIT"],
    [18, "SAVE_IA32_PAT"],
    [19, "LOAD_IA32_PAT"],
    [20, "SAVE_IA32_EFER"],
    [21, "LOAD_IA32_EFER"],
    [22, "SAVE_VMX_PREEMPTION_TIMER"],
  ],
  VM_ENTRY_CONTROLS: [
    [2, "LOAD_DEBUG_CONTROLS"],
    [9, "IA32E_MODE"],
    [10, "SMM"],
    [11, "DEACT_DUAL_MONITOR"],
    [14, "LOAD_IA32_PAT"],
    [15, "LOAD_IA32_EFER"],
  ],
};

/** "HLT_EXITING | USE_IO_BITMAPS | ..." for a control word (bits without a name as "bit N"). */
export function decodeControls(field: string, value: number): string[] {
  const names = CONTROL_BITS[field] ?? [];
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (!((value >>> bit) & 1)) continue;
    const named = names.find(([b]) => b === bit);
    out.push(named ? named[1] : `bit ${bit}`);
  }
  return out;
}
