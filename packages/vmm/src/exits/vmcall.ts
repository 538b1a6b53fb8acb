// EXIT_REASON_VMCALL (18): the hypercall interface. EAX selects the call; the result is in EAX
// (0 = success, -1 = unknown call or bad argument).
//   EAX = 1 CONSOLE_WRITE: EBX = guest-physical address, ECX = length -> bytes to the VM console
//   EAX = 2 YIELD: give up the rest of the time slice
//   EAX = 3 TIME: EDX:EAX = the modeled cycle counter (the TSC the guest sees), ECX = cycles per second
// Hypercalls are for the guest's kernel: from CPL > 0 every call fails with -1 and does nothing (as
// KVM answers -KVM_EPERM), or a user process could print any of the guest's memory, bypassing its kernel.
// The checks are made here for every hypervisor; where a valid CONSOLE_WRITE's bytes go is the caller's
// (the hosted KVM module hands it to its user-space VMM, which owns the console device).

import type { ExitAction, ExitContext } from "./context.js";
import { skipInstruction } from "./context.js";

/** The guest's CPL is the DPL of its SS (Intel SDM Vol. 3C, 24.4.1). */
const GUEST_SS_AR_BYTES = 0x4818;

export const HYPERCALL = { CONSOLE_WRITE: 1, YIELD: 2, TIME: 3 } as const;

/** Performs a checked CONSOLE_WRITE (the buffer is inside guest RAM, at most 1 MiB); sets EAX itself. */
export type ConsoleWrite = (ctx: ExitContext, gpa: number, length: number) => ExitAction;

/** The type-1 hypervisor's: the bytes go to the VM's console device now, and the call returns 0. */
function writeConsole(ctx: ExitContext, gpa: number, length: number): ExitAction {
  for (const b of ctx.vm.memory.read(gpa, length)) ctx.vm.devices.console.portOut(0xe9, 1, b);
  ctx.cpu.regs[0] = 0;
  ctx.note(`hypercall CONSOLE_WRITE ${length} bytes`);
  return "resume";
}

export function handleVmcall(ctx: ExitContext, consoleWrite: ConsoleWrite = writeConsole): ExitAction {
  const r = ctx.cpu.regs;
  const call = r[0]! >>> 0;
  skipInstruction(ctx);
  ctx.charge(ctx.cost.hypervisor.hypercall);
  const cpl = (ctx.vmx.read(GUEST_SS_AR_BYTES) >>> 5) & 3;
  if (cpl !== 0) {
    r[0] = -1;
    ctx.note(`hypercall ${call} from CPL ${cpl}: refused`);
    return "resume";
  }
  switch (call) {
    case HYPERCALL.CONSOLE_WRITE: {
      const gpa = r[3]! >>> 0;
      const length = r[1]! >>> 0;
      if (length > 1 << 20 || !ctx.vm.memory.contains(gpa, length)) {
        r[0] = -1;
        ctx.note(`hypercall CONSOLE_WRITE: buffer 0x${gpa.toString(16)}+${length} outside guest memory, refused`);
        return "resume";
      }
      return consoleWrite(ctx, gpa, length);
    }
    case HYPERCALL.YIELD:
      r[0] = 0;
      ctx.note("hypercall YIELD");
      return "yield";
    case HYPERCALL.TIME: {
      const tsc = ctx.cpu.readTsc();
      r[0] = tsc % 0x1_0000_0000;
      r[2] = Math.floor(tsc / 0x1_0000_0000);
      r[1] = ctx.cpu.hz;
      ctx.note("hypercall TIME");
      return "resume";
    }
    default:
      r[0] = -1;
      ctx.note(`unknown hypercall ${call}`);
      return "resume";
  }
}
