// VMCALL: a hypercall (an unknown call number, so the hypervisor only dispatches and returns -1, like
// kvm-unit-tests' vmcall test). On the bare machine VMCALL outside VMX non-root operation raises #UD:
// the workload is not applicable there, and has no overhead ratio.

import { loopWorkload, needsHypervisor } from "../harness/loop-workload.js";

export default loopWorkload({
  name: "vmcall",
  title: "VMCALL hypercall (unknown call number: dispatch and return)",
  unit: "one hypercall",
  order: 40,
  iterations: { full: 20_000, quick: 300 },
  parts: { body: "  xor eax, eax\n  vmcall" },
  baseline: { body: "  xor eax, eax" },
  notApplicable: needsHypervisor("VMCALL"),
});
