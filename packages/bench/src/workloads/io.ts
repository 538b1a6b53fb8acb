// Port I/O to a virtual device: COM1's scratch register (port 0x3FF), which every design emulates in its
// device model. On the bare machine an uncached bus cycle; type-1: an I/O exit handled by the
// hypervisor; hosted: an I/O exit the kernel module hands to the user-space VMM (KVM_EXIT_IO).

import { loopWorkload } from "../harness/loop-workload.js";
import type { Workload } from "../types.js";

const COM1_SCRATCH = 0x3ff;

const portIn = loopWorkload({
  name: "in",
  title: `IN from a virtual device (COM1 scratch register, port 0x${COM1_SCRATCH.toString(16)})`,
  unit: "one IN",
  order: 20,
  iterations: { full: 20_000, quick: 300 },
  parts: { setup: `  mov dx, ${COM1_SCRATCH}`, body: "  in al, dx" },
});

const portOut = loopWorkload({
  name: "out",
  title: `OUT to a virtual device (COM1 scratch register, port 0x${COM1_SCRATCH.toString(16)})`,
  unit: "one OUT",
  order: 21,
  iterations: { full: 20_000, quick: 300 },
  parts: { setup: `  mov dx, ${COM1_SCRATCH}\n  mov al, 0x5a`, body: "  out dx, al" },
});

const workloads: Workload[] = [portIn, portOut];
export default workloads;
