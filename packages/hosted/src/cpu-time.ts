// Where the CPU's modeled cycles go. Every cycle of a hosted system is charged to exactly one process
// (the one on the CPU, as Linux charges time) and to exactly one mode, by the code that spent it:
//
//   guest   VMX non-root operation (the VM's own instructions, from VM entry to VM exit).
//   kvm     the KVM module: its ioctls (KVM_RUN's entry and return to user space, vcpu_load), the VM
//           exits and entries (the hardware transitions both ways, as KVM's own exit path and
//           perf kvm's "vmexit" time count them), the in-kernel exit handlers, event injection.
//   kernel  the rest of the host kernel at ring 0: the entry and exit paths of every system call and
//           interrupt (INT 0x80 or SYSENTER, the stubs, the VM-exit path from HOST_RIP back to user space),
//           system-call dispatch, the timer interrupt and scheduler tick (also when a VM exit brought
//           it), context switches, the idle loop's instructions.
//   user    ring 3: the process's own instructions and, for a VMM process, its device models.
//   idle    the CPU halted in the idle task (HLT until the next interrupt).
//
// The ring-3 and halted parts of a stretch the CPU ran on its own come from the CPU's counters
// (cyclesAtCpl3, haltedCycles), the rest of it is the kernel's; the TypeScript parts of the kernel
// and of the module switch the mode as they are entered and left. The CPU counts an instruction at
// the privilege level it completes at: INT 0x80, SYSENTER and interrupt delivery are kernel time, the
// IRETD or SYSEXIT that returns to ring 3 is user time (as Linux's context tracking counts the return
// to user space).
// The modes of all processes sum to the machine's cycles, and a process's modes to its runtime.

export type TimeMode = "guest" | "kvm" | "kernel" | "user" | "idle";

/** One process's CPU time by mode, in modeled cycles. */
export type ProcessTime = Record<TimeMode, number>;

/** Each mode's index in a process's counts (Process.modeCycles: numbers by index, cheap to add to on every hop). */
export const MODE = { guest: 0, kvm: 1, kernel: 2, user: 3, idle: 4 } as const satisfies Record<TimeMode, number>;
export type ModeIndex = (typeof MODE)[TimeMode];

export function processTime(counts: readonly number[]): ProcessTime {
  return {
    guest: counts[MODE.guest]!,
    kvm: counts[MODE.kvm]!,
    kernel: counts[MODE.kernel]!,
    user: counts[MODE.user]!,
    idle: counts[MODE.idle]!,
  };
}

/** The whole machine's time by where it was spent (modeled cycles; the parts sum to `total`). */
export interface HostTime {
  /** VMX non-root operation: every VM's instructions. */
  guest: number;
  /** The KVM module: VM exits and entries, in-kernel exit handlers, its ioctls (KVM_RUN entry and return). */
  kvm: number;
  /** The host kernel outside the module: entry/exit paths, system calls, timer ticks, context switches. */
  hostKernel: number;
  /** The VMM processes at ring 3: their loops around KVM_RUN and their device models. */
  userVmm: number;
  /** Other host processes at ring 3. */
  otherProcesses: number;
  /** The CPU halted with nothing to run. */
  idle: number;
  /** Every cycle since the system started. */
  total: number;
}
