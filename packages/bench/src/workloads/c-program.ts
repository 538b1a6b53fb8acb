// A gcc-compiled C program (packages/cpu/examples/c: crc32.c, gcc -m32 -O2, loaded as ELF32): plain
// computation with paging off, plus its console output (each byte an OUT to port 0xE9). Measured as
// a whole run.

import { readFileSync } from "node:fs";
import { examplePath } from "@vmxlab/cpu";
import type { Workload } from "../types.js";

export const C_PROGRAM = "crc32-O2.elf";

let image: Uint8Array | null = null;

const workload: Workload = {
  name: "c-crc32",
  kind: "macro",
  title: `gcc-compiled C program (${C_PROGRAM}: CRC-32 tables and checksums, console output)`,
  unit: "one whole run",
  order: 230,
  iterations: { full: 1, quick: 1 },
  program: () => {
    image ??= new Uint8Array(readFileSync(examplePath(`c/build/${C_PROGRAM}`)));
    return { image, memoryMiB: 16, exitValue: 0 };
  },
};

export default workload;
