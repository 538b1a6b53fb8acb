// A divide error (#DE) delivered to the guest's own handler, which skips the DIV and returns. Exceptions
// other than #PF are not intercepted by any design here: the cost should be the bare machine's.

import { loopWorkload } from "../harness/loop-workload.js";

export default loopWorkload({
  name: "divzero",
  title: "Divide by zero: #DE to the guest's handler, which skips the DIV",
  unit: "one #DE",
  order: 70,
  iterations: { full: 100_000, quick: 1_000 },
  parts: {
    setup: "  xor ebx, ebx",
    body: "  xor edx, edx\n  mov eax, 1\n  div ebx",
    vectors: [{ vector: 0, label: "de_handler" }],
    extra: "de_handler:\n  add dword [esp], 2          ; past DIV EBX (F7 F3)\n  iretd",
  },
  baseline: { body: "  xor edx, edx\n  mov eax, 1" },
});
