// System calls inside the guest, from ring 3 into the guest kernel and back: SYSENTER/SYSEXIT and
// INT 0x80/IRET. Neither leaves the guest under any design with hardware virtualization (the SYSENTER
// MSRs pass through, INT n is not intercepted): they should cost what they cost on the bare machine.

import { loopWorkload } from "../harness/loop-workload.js";
import type { Workload } from "../types.js";

const sysenter = loopWorkload({
  name: "syscall-sysenter",
  title: "SYSENTER/SYSEXIT round trip from ring 3 (getpid-sized handler)",
  unit: "one system call",
  order: 10,
  iterations: { full: 200_000, quick: 2_000 },
  parts: {
    ring3: true,
    // SYSEXIT returns to EDX with ESP = ECX; the handler (the harness's sysenter_entry) sets EAX.
    body: "  mov ecx, esp\n  mov edx, sysenter_return\n  sysenter\nsysenter_return:",
  },
  baseline: { body: "  mov ecx, esp\n  mov edx, sysenter_return\nsysenter_return:" },
});

const int80 = loopWorkload({
  name: "syscall-int80",
  title: "INT 0x80/IRET round trip from ring 3 (getpid-sized handler)",
  unit: "one system call",
  order: 11,
  iterations: { full: 200_000, quick: 2_000 },
  parts: {
    ring3: true,
    body: "  int 0x80",
    vectors: [{ vector: 0x80, label: "int80_handler", dpl: 3 }],
    extra: "int80_handler:\n  mov eax, 1\n  iretd",
  },
});

const workloads: Workload[] = [sysenter, int80];
export default workloads;
