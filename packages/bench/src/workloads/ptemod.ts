// Modifying a live page-table entry: each iteration points a mapped, recently used page at the other of
// two frames, invalidates it with INVLPG and touches it again. Under EPT the guest's page tables are its
// own business; under shadow paging the hypervisor must see the change: INVLPG exits (and the first write
// to the write-protected page table too), and the next access takes a hidden fault to refill the shadow.

import { loopWorkload } from "../harness/loop-workload.js";
import { LAYOUT } from "../harness/nano.js";

const PAGE = 0x700000;
const PTE = LAYOUT.IDENTITY_TABLES + (PAGE >>> 12) * 4;
const FRAME_A = LAYOUT.SCRATCH;
const FRAME_B = LAYOUT.SCRATCH + 0x1000;

export default loopWorkload({
  name: "ptemod",
  title: "Change a live PTE, INVLPG, touch the page",
  unit: "one PTE change",
  order: 80,
  iterations: { full: 20_000, quick: 300 },
  parts: {
    setup: `  mov dword [${PTE}], ${FRAME_A | 7}
  invlpg [${PAGE}]
  mov eax, [${PAGE}]`,
    body: `  xor dword [${PTE}], ${FRAME_A ^ FRAME_B}
  invlpg [${PAGE}]
  mov eax, [${PAGE}]`,
  },
});
