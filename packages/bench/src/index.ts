// @vmxlab/bench: emulator speed and VM-exit overhead across designs.

export type { MipsKernel, MipsResult } from "./mips.js";
export { measureMips, mipsKernels, runKernel } from "./mips.js";
export { loadStoreLoop, registerLoop } from "./workloads/loops.js";
