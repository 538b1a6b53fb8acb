// EXIT_REASON_HLT (12): the vCPU waits for an interrupt. With IF = 0, or with no device that could
// ever interrupt it, nothing can wake it: the VM stops with "halt", exactly as the bare machine does.

import type { ExitAction, ExitContext } from "./context.js";
import { skipInstruction } from "./context.js";

const GUEST_RFLAGS = 0x6820;
const IF = 1 << 9;

export function handleHlt(ctx: ExitContext): ExitAction {
  skipInstruction(ctx);
  ctx.charge(ctx.cost.hypervisor.dispatch);
  const vm = ctx.vm;
  const interruptsOn = (ctx.vmx.read(GUEST_RFLAGS) & IF) !== 0;
  if (!interruptsOn) {
    ctx.note("HLT with IF=0: the VM stops");
    return ctx.stopVm({ kind: "halt" });
  }
  const devices = vm.devices;
  if (devices.pic.hasInterrupt()) {
    ctx.note("HLT with an interrupt pending: resume");
    return "resume";
  }
  if (devices.advance(ctx.cpu.cycles) === Number.POSITIVE_INFINITY) {
    ctx.note("HLT with no timer armed: nothing can wake the vCPU, the VM stops");
    return ctx.stopVm({ kind: "halt" });
  }
  ctx.note("HLT: vCPU blocked until its next interrupt");
  return "halt";
}
