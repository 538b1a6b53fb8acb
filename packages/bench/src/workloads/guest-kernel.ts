// The example guest kernel (packages/vmm/examples/guest-kernel.asm): two ring-3 processes in their own
// address spaces, preempted by a 40 kHz timer, with system calls through INT 0x80 and SYSENTER. Context
// switches load CR3, which exits under shadow paging (and costs two-dimensional walks under EPT).
// Measured as a whole run.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import type { Workload } from "../types.js";

/** The kernel's source, beside this package in the monorepo (same depth from src/ and dist/). */
export const GUEST_KERNEL_PATH = fileURLToPath(new URL("../../../vmm/examples/guest-kernel.asm", import.meta.url));

let image: Uint8Array | null = null;

function kernelImage(): Uint8Array {
  image ??= assembleOrThrow(readFileSync(GUEST_KERNEL_PATH, "utf8"), {
    fileName: GUEST_KERNEL_PATH,
    readFile: (path) => readFileSync(path, "utf8"),
  }).bytes;
  return image;
}

const workload: Workload = {
  name: "guest-kernel",
  kind: "macro",
  title: "Example guest kernel: two processes, timer preemption, CR3 switches, system calls",
  unit: "one whole run",
  order: 200,
  iterations: { full: 1, quick: 1 },
  program: () => ({ image: kernelImage(), memoryMiB: 32, exitValue: 0 }),
};

export default workload;
