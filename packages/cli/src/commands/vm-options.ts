// Options `vmxlab run` and `vmxlab debug` both take: where the program runs, how the VM's memory is
// virtualized, where it is loaded and the cost model. A command adjusts a help text by spreading one.

import type { OptionSpec } from "../args.js";

export const on: OptionSpec = {
  name: "on",
  type: "string",
  value: "DESIGN",
  description: "where to run it",
  choices: ["bare", "type1", "hosted"],
  defaultText: "bare",
};

export const paging: OptionSpec = {
  name: "paging",
  type: "string",
  value: "MODE",
  description: "memory virtualization of the VMs",
  choices: ["ept", "shadow"],
  defaultText: "ept",
};

export const lazyMemory: OptionSpec = {
  name: "lazy-memory",
  type: "boolean",
  description: "back guest RAM on first touch (EPT violations) instead of at creation (--on type1, EPT)",
};

export const load: OptionSpec = {
  name: "load",
  type: "address",
  value: "ADDR",
  description: "load address of a flat binary",
  defaultText: "0x100000, or the org of an .asm file",
};

export const entry: OptionSpec = {
  name: "entry",
  type: "address",
  value: "ADDR",
  description: "entry point",
  defaultText: "the load address; ELF: e_entry",
};

export const mem: OptionSpec = {
  name: "mem",
  type: "integer",
  value: "MIB",
  description: "guest RAM in MiB (per VM)",
  defaultText: "64",
};

export const costModel: OptionSpec = {
  name: "cost-model",
  type: "string",
  value: "NAME",
  description: "cycle cost profile",
  choices: ["recent", "nehalem"],
  defaultText: "recent",
};
