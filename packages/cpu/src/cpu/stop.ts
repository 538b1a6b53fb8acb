// Why Cpu.run() returned: a discriminated union, so callers switch on `kind` (like unicorn's uc_err
// or KVM's exit_reason).

export type StopReason =
  /** HLT with interrupts disabled (nothing can wake the CPU), or HLT when the run asked to stop on HLT. */
  | { kind: "halt" }
  /** The guest wrote `value` to the debug-exit port (0xF4). */
  | { kind: "debug-exit"; value: number }
  /** Triple fault or another unrecoverable condition; `diagnostic` says what happened, and where. */
  | { kind: "shutdown"; diagnostic: string }
  /** The instruction or cycle budget ran out. */
  | { kind: "limit" }
  /** An execution breakpoint (Cpu.breakpoints) was reached; EIP is the breakpoint address. */
  | { kind: "breakpoint"; address: number }
  /** A hook asked to stop. */
  | { kind: "hook"; reason: string }
  /** A VM exit, delivered to an embedding hypervisor written in TypeScript (VMX, exit-to-caller mode). */
  | { kind: "vmexit"; reason: number; qualification: number };

export type StopKind = StopReason["kind"];
