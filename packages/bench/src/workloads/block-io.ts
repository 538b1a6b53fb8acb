// An I/O-bound loop on the block device (packages/vmm/src/devices/block.ts, ports 0x6000-0x601B): each
// iteration reads the next 4 KiB of the disk into a buffer by DMA, the way a driver without interrupts
// would: SECTOR, COUNT, BUFFER, COMMAND (four OUTs), then STATUS (one IN). Five port accesses, so five
// I/O exits per request under a hypervisor, each one a user-space round trip when hosted.

import { loopWorkload } from "../harness/loop-workload.js";
import { LAYOUT } from "../harness/nano.js";

const BASE = 0x6000;
const DISK_SECTORS = 2048; // 1 MiB
const BUFFER = LAYOUT.SCRATCH + 0x8000;

function disk(): Uint8Array {
  const bytes = new Uint8Array(DISK_SECTORS * 512);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >>> 9)) & 0xff;
  return bytes;
}

const advance = `  add esi, 8\n  and esi, ${DISK_SECTORS - 1}`;

export default loopWorkload({
  name: "block-io",
  kind: "macro",
  title: "Block device: 4 KiB DMA read per request (4 OUTs + 1 IN, polled)",
  unit: "one 4 KiB read",
  order: 220,
  iterations: { full: 5_000, quick: 200 },
  disk,
  parts: {
    setup: "  xor esi, esi",
    body: `  mov dx, ${BASE}
  mov eax, esi
  out dx, eax                   ; SECTOR
  mov dx, ${BASE + 4}
  mov eax, 8
  out dx, eax                   ; COUNT
  mov dx, ${BASE + 8}
  mov eax, ${BUFFER}
  out dx, eax                   ; BUFFER
  mov dx, ${BASE + 0xc}
  mov eax, 1
  out dx, eax                   ; COMMAND: read
  in eax, dx                    ; STATUS
  test al, 1
  jnz block_error
${advance}`,
    extra: "block_error:\n  mov al, 0xe1\n  out 0xf4, al\n  jmp block_error",
  },
  baseline: { body: advance },
});
