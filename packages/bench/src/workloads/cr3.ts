// An address-space switch: MOV CR3 alternating between two page directories (same mappings), as a
// context switch does. Under EPT the guest owns CR3 (no exit, but the TLB is flushed and refilled with
// two-dimensional walks); under shadow paging every CR3 load exits so the hypervisor can switch shadow
// roots.

import { loopWorkload } from "../harness/loop-workload.js";
import { LAYOUT } from "../harness/nano.js";

export default loopWorkload({
  name: "cr3-write",
  title: "MOV CR3: switch between two address spaces",
  unit: "one CR3 write",
  order: 50,
  iterations: { full: 20_000, quick: 300 },
  parts: {
    setup: `  mov esi, ${LAYOUT.PAGE_DIRECTORY}
  mov edi, ${LAYOUT.PAGE_DIRECTORY_B}
  mov ecx, 1024
  rep movsd
  mov esi, ${LAYOUT.PAGE_DIRECTORY}
  mov edi, ${LAYOUT.PAGE_DIRECTORY_B}`,
    body: "  mov cr3, edi\n  xchg esi, edi",
  },
  baseline: { body: "  xchg esi, edi" },
});
