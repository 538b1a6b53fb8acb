// Basic VM-exit reasons (Intel SDM Vol. 3D, Appendix C), with the names KVM uses
// (arch/x86/include/uapi/asm/vmx.h, without the EXIT_REASON_ prefix).

export const EXIT_REASON = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INIT_SIGNAL: 3,
  SIPI_SIGNAL: 4,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  TASK_SWITCH: 9,
  CPUID: 10,
  HLT: 12,
  INVD: 13,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMOFF: 26,
  VMON: 27,
  CR_ACCESS: 28,
  DR_ACCESS: 29,
  IO_INSTRUCTION: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  INVALID_STATE: 33,
  MSR_LOAD_FAIL: 34,
  MWAIT_INSTRUCTION: 36,
  MONITOR_TRAP_FLAG: 37,
  MONITOR_INSTRUCTION: 39,
  PAUSE_INSTRUCTION: 40,
  MCE_DURING_VMENTRY: 41,
  TPR_BELOW_THRESHOLD: 43,
  APIC_ACCESS: 44,
  EOI_INDUCED: 45,
  GDTR_IDTR: 46,
  LDTR_TR: 47,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  INVEPT: 50,
  RDTSCP: 51,
  PREEMPTION_TIMER: 52,
  INVVPID: 53,
  WBINVD: 54,
  XSETBV: 55,
} as const;

export type ExitReasonName = keyof typeof EXIT_REASON;

/** Names by basic reason, "UNKNOWN_<n>" in the gaps: every exit names its reason, so a plain array. */
const NAMES: string[] = (() => {
  const entries = Object.entries(EXIT_REASON) as [ExitReasonName, number][];
  const names = Array.from({ length: Math.max(...entries.map(([, n]) => n)) + 1 }, (_, n) => `UNKNOWN_${n}`);
  for (const [name, n] of entries) names[n] = name;
  return names;
})();

/** Intel/KVM name of a basic exit reason ("CPUID", "IO_INSTRUCTION", ...), or "UNKNOWN_<n>". */
export function exitReasonName(reason: number): string {
  const basic = reason & 0xffff;
  return basic < NAMES.length ? NAMES[basic]! : `UNKNOWN_${basic}`;
}

/** Parses a reason given by name (case-insensitive, with or without EXIT_REASON_) or number. */
export function parseExitReason(text: string): number | undefined {
  const t = text
    .trim()
    .toUpperCase()
    .replace(/^EXIT_REASON_/, "");
  if (/^\d+$/.test(t)) return Number(t);
  if (/^0X[0-9A-F]+$/.test(t)) return Number.parseInt(t.slice(2), 16);
  return (EXIT_REASON as Record<string, number>)[t];
}
