// CPUID: unconditionally intercepted in VMX non-root operation, so every one is a VM exit; both the
// type-1 hypervisor and the hosted kernel module emulate it in the kernel (no user-space round trip).

import { loopWorkload } from "../harness/loop-workload.js";

export default loopWorkload({
  name: "cpuid",
  title: "CPUID leaf 0",
  unit: "one CPUID",
  order: 30,
  iterations: { full: 20_000, quick: 300 },
  parts: { body: "  xor eax, eax\n  cpuid" },
  baseline: { body: "  xor eax, eax" },
});
