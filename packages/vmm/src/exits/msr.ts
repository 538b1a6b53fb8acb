// EXIT_REASON_MSR_READ/WRITE (31/32). SYSENTER MSRs pass through (the MSR bitmap lets them, and the
// VMCS switches them); the time-stamp counter reads through. Everything else is virtual: feature
// control reads as locked with VMX disabled; the VMX capability MSRs and unknown MSRs raise #GP,
// as they would on a processor without VMX.

import type { ExitAction, ExitContext } from "./context.js";
import { injectException, skipInstruction } from "./context.js";

const IA32_FEATURE_CONTROL = 0x3a;
const IA32_TIME_STAMP_COUNTER = 0x10;

export function handleMsrRead(ctx: ExitContext): ExitAction {
  const r = ctx.cpu.regs;
  const index = r[1]! >>> 0;
  ctx.charge(ctx.cost.hypervisor.msr);
  let value: [number, number] | undefined;
  if (index === IA32_FEATURE_CONTROL) value = [1, 0];
  else if (index === IA32_TIME_STAMP_COUNTER) {
    const tsc = ctx.cpu.readTsc();
    value = [tsc % 0x1_0000_0000, Math.floor(tsc / 0x1_0000_0000)];
  }
  if (!value) {
    injectException(ctx, 13, 0);
    ctx.note(`RDMSR 0x${index.toString(16)}: not virtualized, #GP(0) injected`);
    return "resume";
  }
  r[0] = value[0];
  r[2] = value[1];
  skipInstruction(ctx);
  ctx.note(`RDMSR 0x${index.toString(16)} = 0x${value[1].toString(16)}_${value[0].toString(16).padStart(8, "0")}`);
  return "resume";
}

export function handleMsrWrite(ctx: ExitContext): ExitAction {
  const index = ctx.cpu.regs[1]! >>> 0;
  ctx.charge(ctx.cost.hypervisor.msr);
  injectException(ctx, 13, 0);
  ctx.note(`WRMSR 0x${index.toString(16)}: refused, #GP(0) injected`);
  return "resume";
}
