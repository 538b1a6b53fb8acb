// A page fault handled by the guest: each iteration writes to a page it has never touched, in a region
// whose page tables start empty; the guest's #PF handler maps the page (every page of the region is
// backed by the same scratch frame: what is measured is the fault, not the memory) and the write is
// retried. Under EPT this never leaves the guest; under shadow paging the fault exits, is reflected
// into the guest, its PTE write may exit, and the retried access takes a hidden fault.

import { loopWorkload } from "../harness/loop-workload.js";
import { LAYOUT } from "../harness/nano.js";

const TABLES = LAYOUT.REGION_TABLE_COUNT;
const FRAME = LAYOUT.SCRATCH + 0x2000;

export default loopWorkload({
  name: "pgfault",
  title: "Page fault on first touch, handled by the guest's #PF handler",
  unit: "one page fault",
  order: 60,
  iterations: { full: 20_000, quick: 300 },
  parts: {
    setup: `  ; empty page tables for the region, linked into the page directory
  mov edi, ${LAYOUT.REGION_TABLES}
  xor eax, eax
  mov ecx, ${TABLES * 1024}
  rep stosd
  mov edi, ${LAYOUT.PAGE_DIRECTORY + (LAYOUT.REGION_BASE >>> 22) * 4}
  mov eax, ${LAYOUT.REGION_TABLES | 7}
  mov ecx, ${TABLES}
link_region:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz link_region
  mov edi, ${LAYOUT.REGION_BASE}`,
    body: "  mov [edi], eax\n  add edi, 0x1000",
    vectors: [{ vector: 14, label: "pf_handler" }],
    extra: `pf_handler:
  push eax
  push ebx
  mov eax, cr2
  sub eax, ${LAYOUT.REGION_BASE}
  cmp eax, ${TABLES * 1024 * 4096}
  jae pf_outside
  shr eax, 12
  mov dword [${LAYOUT.REGION_TABLES} + eax * 4], ${FRAME | 7}
  pop ebx
  pop eax
  add esp, 4                    ; the error code
  iretd
pf_outside:
  mov al, 0x8e                  ; a real unexpected #PF
  out 0xf4, al
  jmp pf_outside`,
  },
  baseline: { body: "  add edi, 0x1000" },
});

/** The most iterations the region's page tables allow. */
export const MAX_PGFAULT_ITERATIONS = TABLES * 1024;
