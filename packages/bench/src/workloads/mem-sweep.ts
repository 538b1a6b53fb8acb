// A TLB-miss-bound memory sweep: 64 MiB of linear memory mapped with 4 KiB pages (16,384 pages and
// translations, four times the 4,096 entries of the TLB), read one dword per page in order, round and
// round. Every access misses the TLB, so one iteration is one page walk: 2 references on the bare machine
// and under shadow paging (the shadow tables are ordinary two-level tables), up to 14 under EPT (each of
// the guest's 2 references, and the final guest-physical address, walk the 4-level EPT). A warm-up pass
// touches every page once in both programs, so the shadow tables are filled before the measured loop.
//
// The 16,384 pages are backed by 2,048 frames (8 MiB), each mapped 8 times: the model has a TLB but no
// data caches, so what costs is the number of distinct translations, not of frames -- and the guest
// needs 24 MiB of RAM instead of 80.

import { loopWorkload } from "../harness/loop-workload.js";
import { LAYOUT } from "../harness/nano.js";

export const SWEEP_PAGES = 16_384;
const FRAMES = 2_048;
const FRAME_BASE = 16 << 20; // guest-physical base of the frames
const MEMORY_MIB = 16 + (FRAMES * 4096) / (1 << 20);
const LINEAR_MASK = (LAYOUT.REGION_BASE | (SWEEP_PAGES * 4096 - 1)) >>> 0;

export default loopWorkload({
  name: "mem-sweep",
  kind: "macro",
  title: "Memory sweep: 64 MiB with 4 KiB pages, one load per page (every access a TLB miss)",
  unit: "one page touched",
  order: 210,
  iterations: { full: SWEEP_PAGES * 8, quick: SWEEP_PAGES },
  memoryMiB: MEMORY_MIB,
  parts: {
    setup: `  ; map the working set at 0x${LAYOUT.REGION_BASE.toString(16)}
  mov edi, ${LAYOUT.REGION_TABLES}
  xor ecx, ecx
map_sweep:
  mov eax, ecx
  and eax, ${FRAMES - 1}
  shl eax, 12
  add eax, ${FRAME_BASE | 7}
  mov [edi + ecx * 4], eax
  inc ecx
  cmp ecx, ${SWEEP_PAGES}
  jne map_sweep
  mov edi, ${LAYOUT.PAGE_DIRECTORY + (LAYOUT.REGION_BASE >>> 22) * 4}
  mov eax, ${LAYOUT.REGION_TABLES | 7}
  mov ecx, ${SWEEP_PAGES / 1024}
link_sweep:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz link_sweep
  ; warm-up: touch every page once
  mov edi, ${LAYOUT.REGION_BASE}
  mov ecx, ${SWEEP_PAGES}
warm_sweep:
  mov eax, [edi]
  add edi, 0x1000
  dec ecx
  jnz warm_sweep
  mov edi, ${LAYOUT.REGION_BASE}`,
    body: `  mov eax, [edi]\n  add edi, 0x1000\n  and edi, 0x${LINEAR_MASK.toString(16)}`,
  },
  baseline: { body: `  add edi, 0x1000\n  and edi, 0x${LINEAR_MASK.toString(16)}` },
});
