// The V8 settings the emulator is tuned for. A VM exit and entry cross about a dozen small functions
// (the instruction's handler, the exit, the hypervisor's fastpath and handler, the entry). With V8's
// default inlining budgets (a function of at most 460 bytecodes, 920 inlined into one optimized
// function in all) TurboFan compiles them as separate calls; with these, as a few. On the AMD EPYC of
// the bench's figures that took the type-1 CPUID round trip from 0.36-0.39 to 0.25-0.28 µs, and the
// hosted OUT round trip from 2.18-3.36 to 2.02-2.48 µs (forked bench children), with the MIPS loops
// unchanged within noise. The vmxlab CLI and the bench apply them at start (tuneV8); an embedder runs
// Node with V8_TUNING_FLAGS for the same speed. VMXLAB_V8_TUNING=off leaves V8's defaults.

import { setFlagsFromString } from "node:v8";

/** The V8 options, as given on Node's command line. */
export const V8_TUNING_FLAGS: readonly string[] = Object.freeze([
  "--max-inlined-bytecode-size=1000",
  "--max-inlined-bytecode-size-cumulative=3000",
]);

type Env = Readonly<Record<string, string | undefined>>;

/** The flags to run with: V8_TUNING_FLAGS, or none when VMXLAB_V8_TUNING is "off". */
export function v8TuningFlags(env: Env = process.env): readonly string[] {
  return env.VMXLAB_V8_TUNING === "off" ? [] : V8_TUNING_FLAGS;
}

/**
 * Applies v8TuningFlags() to this process's V8 and returns them. Call it first thing in a program's
 * entry: TurboFan reads the budgets when it compiles, so code optimized before keeps its old shape.
 */
export function tuneV8(env: Env = process.env): readonly string[] {
  const flags = v8TuningFlags(env);
  if (flags.length > 0) setFlagsFromString(flags.join(" "));
  applied = flags;
  return flags;
}

let applied: readonly string[] = [];

/** What tuneV8 applied in this process (none if it was not called): reports say what they ran with. */
export function appliedV8Flags(): readonly string[] {
  return applied;
}
