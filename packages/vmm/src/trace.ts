// Exit qualifications decoded in words, for --trace and the debugger: "OUT port 0xe9 size 1 value
// 0x41", "CR3 load 0x00123000", "EPT violation write gpa 0x00400000 not present".

import { EXIT_REASON, exitReasonName, type VmExitInfo } from "@vmxlab/cpu";
import type { Vm } from "./vm.js";

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;
const EXCEPTIONS: Record<number, string> = { 0: "#DE", 1: "#DB", 3: "#BP", 6: "#UD", 8: "#DF", 13: "#GP", 14: "#PF" };

export function describeExit(info: VmExitInfo, _vm?: Vm): string {
  const q = info.qualification;
  switch (info.reason & 0xffff) {
    case EXIT_REASON.IO_INSTRUCTION: {
      const size = (q & 7) + 1;
      const port = q >>> 16;
      return `${q & 8 ? "IN" : "OUT"} port ${hex(port)} size ${size}${q & 0x10 ? " (string)" : ""}`;
    }
    case EXIT_REASON.CR_ACCESS: {
      const cr = q & 15;
      const access = (q >>> 4) & 3;
      const gpr = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"][(q >>> 8) & 7];
      if (access === 2) return "CLTS";
      return access === 0 ? `MOV to CR${cr} from ${gpr}` : `MOV from CR${cr} to ${gpr}`;
    }
    case EXIT_REASON.EPT_VIOLATION: {
      const kind = q & 2 ? "write" : q & 4 ? "fetch" : "read";
      const perms = (q >>> 3) & 7;
      const state =
        perms === 0
          ? "not present"
          : `permissions ${perms & 1 ? "r" : "-"}${perms & 2 ? "w" : "-"}${perms & 4 ? "x" : "-"}`;
      const what = q & 0x100 ? "" : " (guest page-table access)";
      return `EPT violation ${kind} gpa ${hex8(info.guestPhysicalAddress)} ${state}${what}`;
    }
    case EXIT_REASON.EXCEPTION_NMI: {
      const vector = info.interruptionInfo & 0xff;
      const name = EXCEPTIONS[vector] ?? `vector ${vector}`;
      const code = info.interruptionInfo & 0x800 ? ` error ${hex(info.interruptionErrorCode)}` : "";
      return vector === 14 ? `${name} at linear ${hex8(q)}${code}` : `${name}${code}`;
    }
    case EXIT_REASON.INVLPG:
      return `INVLPG ${hex8(q)}`;
    case EXIT_REASON.CPUID:
      return "CPUID";
    case EXIT_REASON.HLT:
      return "HLT";
    case EXIT_REASON.VMCALL:
      return "VMCALL";
    case EXIT_REASON.PREEMPTION_TIMER:
      return "preemption timer expired";
    case EXIT_REASON.INTERRUPT_WINDOW:
      return "interrupt window";
    case EXIT_REASON.TRIPLE_FAULT:
      return "triple fault";
    default:
      return q ? `qualification ${hex(q)}` : "";
  }
}

/** What every exit record starts with, in the type-1 hypervisor's and the hosted KVM module's traces. */
export function exitRecordHead(seq: number, vm: Vm, info: VmExitInfo) {
  return {
    seq,
    vm: vm.name,
    reason: info.reason,
    name: exitReasonName(info.reason),
    qualification: info.qualification,
    detail: describeExit(info, vm),
    info,
    guestEip: info.guestRip,
  };
}
