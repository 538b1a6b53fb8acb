// The package's example guest programs (the demo, the benchmarks and the debugger tour use them).
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";

/** Absolute path of a file under packages/vmm/examples (works from src/ and from dist/). */
export function vmmExamplePath(relative: string): string {
  return fileURLToPath(new URL(`../examples/${relative}`, import.meta.url));
}

/** The example guest kernel, assembled (flat binary for 0x100000). */
export function guestKernelImage(): Uint8Array {
  const path = vmmExamplePath("guest-kernel.asm");
  const dir = dirname(path);
  return assembleOrThrow(readFileSync(path, "utf8"), {
    fileName: path,
    readFile: (p: string) => readFileSync(p.startsWith("/") ? p : `${dir}/${p}`, "utf8"),
  }).bytes;
}
