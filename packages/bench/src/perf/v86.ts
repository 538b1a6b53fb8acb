// v86 (https://github.com/copy/v86, the `v86` npm package, a devDependency of this package) as a peer:
// the same loop kernels, as multiboot images it loads without a BIOS, run in this process with its
// x86-to-wasm JIT and with the JIT disabled. Host time is taken between the 'S' and 'E' bytes the kernel
// writes to COM1, so its start-up is not counted. If v86 cannot be loaded or run, the reason is
// reported and the bench shows our figures alone.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { assembleOrThrow } from "@vmxlab/cpu";
import { type LoopKind, loopInstructionsPerIteration, multibootLoopKernel } from "../workloads/loops.js";

export interface V86Run {
  kind: LoopKind;
  jit: boolean;
  instructions: number;
  seconds: number;
  mips: number;
}

interface V86Emulator {
  add_listener(event: "serial0-output-byte", listener: (byte: number) => void): void;
  destroy(): Promise<void>;
}

type V86Constructor = new (options: Record<string, unknown>) => V86Emulator;

export interface V86Module {
  V86: V86Constructor;
  version: string;
  wasmPath: string;
}

/** Loads v86 from node_modules, or returns why it cannot. */
export async function loadV86(): Promise<V86Module | { error: string }> {
  try {
    const require = createRequire(import.meta.url);
    const packageJson = require.resolve("v86/package.json");
    const root = dirname(packageJson);
    const version = (require(packageJson) as { version: string }).version;
    const mod = (await import(pathToFileURL(join(root, "build", "libv86.mjs")).href)) as { V86?: V86Constructor };
    if (typeof mod.V86 !== "function") return { error: "v86's build/libv86.mjs exports no V86 class" };
    return { V86: mod.V86, version, wasmPath: join(root, "build", "v86.wasm") };
  } catch (error) {
    return { error: `v86 is not available: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  }
}

/** Runs one loop kernel on v86 and times it between the 'S' and 'E' serial bytes. */
export function runOnV86(
  v86: V86Module,
  kind: LoopKind,
  iterations: number,
  jit: boolean,
  timeoutSeconds = 300,
): Promise<V86Run> {
  const image = assembleOrThrow(multibootLoopKernel(kind, iterations), { fileName: `v86-${kind}.asm` }).bytes;
  const buffer = image.buffer.slice(image.byteOffset, image.byteOffset + image.byteLength);
  return new Promise((resolve, reject) => {
    let start = 0;
    let settled = false;
    const emulator = new v86.V86({
      wasm_path: v86.wasmPath,
      multiboot: { buffer },
      memory_size: 32 << 20,
      autostart: true,
      disable_jit: !jit,
      log_level: 0,
    });
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      emulator.destroy().then(outcome, outcome);
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`v86 did not finish the ${kind} loop in ${timeoutSeconds} s`))),
      timeoutSeconds * 1000,
    );
    emulator.add_listener("serial0-output-byte", (byte) => {
      if (byte === 0x53) start = performance.now();
      else if (byte === 0x45) {
        const seconds = (performance.now() - start) / 1000;
        // The timed part: the setup (the load/store kernel's page-table fill) and the loop.
        const instructions = loopInstructionsPerIteration(kind) * iterations + setupInstructions(kind);
        finish(() => resolve({ kind, jit, instructions, seconds, mips: instructions / seconds / 1e6 }));
      }
    });
  });
}

/** Instructions of the timed part outside the loop proper (as in our loop kernels). */
export function setupInstructions(kind: LoopKind): number {
  // register: mov ecx; load-store: 3 + 5 x 2048 (fill) + 9 (paging on) + mov edi, mov ecx; then the
  // 'E' write (mov dx, mov al) is outside the timed part's count but inside the timing: 2 instructions.
  return kind === "register" ? 1 + 2 : 3 + 5 * 2048 + 9 + 2 + 2;
}
