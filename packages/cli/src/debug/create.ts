// Builds the target a `vmxlab debug --on ...` session debugs.

import type { Program } from "../program.js";
import { HostedTarget } from "./hosted-target.js";
import { BareTarget, type Target, type TargetKind, type TargetOptions, Type1Target } from "./targets.js";

export function createTarget(on: TargetKind, program: Program, options: TargetOptions): Target {
  switch (on) {
    case "bare":
      return new BareTarget(program, options);
    case "type1":
      return new Type1Target(program, options);
    case "hosted":
      return new HostedTarget(program, options);
  }
}

/** "the type-1 hypervisor (vm0, EPT, lazy memory)" for the banner. */
export function describeTarget(on: TargetKind, o: { paging: "ept" | "shadow"; lazyMemory: boolean }): string {
  if (on === "bare") return "the bare machine";
  const paging = o.paging === "ept" ? `EPT${o.lazyMemory ? ", lazy memory" : ""}` : "shadow paging";
  return on === "type1" ? `the type-1 hypervisor (vm0, ${paging})` : `the hosted hypervisor (vm0, ${paging})`;
}
