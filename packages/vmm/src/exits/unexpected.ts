// An exit the hypervisor has no answer for -- no handler in the table, or a handler seeing something it
// never asked for (an exception vector outside its exception bitmap's purpose, a #PF or INVLPG exit
// under EPT) -- stops that VM, never the others, with what a developer needs to see why: the exit
// reason, its qualification, the guest EIP, and every non-zero field of the VMCS.

import type { ExitAction, ExitContext } from "./context.js";

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** The diagnostic text: reason, qualification, guest EIP, `detail` if given, then the VMCS dump. */
export function unexpectedExitDiagnostic(ctx: ExitContext, detail?: string): string {
  const vmcs = ctx.vmx.vmcs
    .dump()
    .filter((f) => f.value !== 0 || (f.high ?? 0) !== 0)
    .map((f) => `  ${f.name.padEnd(30)} ${hex(f.value)}${f.high ? ` (high ${hex(f.high)})` : ""}`)
    .join("\n");
  const { exit } = ctx;
  return (
    `unexpected VM exit ${exit.name} (${exit.reason}), qualification ${hex(exit.qualification)}, ` +
    `guest EIP ${hex(exit.guestRip)}${detail ? `: ${detail}` : ""}\nVMCS:\n${vmcs}`
  );
}

/** Stops the VM with unexpectedExitDiagnostic(). */
export function handleUnexpectedExit(ctx: ExitContext, detail?: string): ExitAction {
  ctx.note(`unexpected exit${detail ? `: ${detail}` : ""}: the VM stops`);
  return ctx.stopVm({ kind: "error", diagnostic: unexpectedExitDiagnostic(ctx, detail) });
}
