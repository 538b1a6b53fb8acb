#!/usr/bin/env node
// The vmxlab binary: runs the CLI against the process streams and sets the exit status.
import { tuneV8 } from "@vmxlab/cpu";
import type { Io } from "./command.js";
import { main } from "./main.js";

// V8's inlining budgets the emulator is tuned for (packages/cpu host-tuning.ts), before any code runs hot.
tuneV8();

const io: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stdout.isTTY),
  env: process.env,
  cwd: process.cwd(),
};

main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // An internal error is still one clear line; VMXLAB_DEBUG=1 shows the stack for developers.
    process.stderr.write(`vmxlab: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.VMXLAB_DEBUG) console.error(error);
    process.exitCode = 70;
  },
);
