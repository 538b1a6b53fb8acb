// EXIT_REASON_IO_INSTRUCTION (30): port I/O goes to the VM's own virtual devices. The
// qualification (Intel SDM Vol. 3C, Table 28-5) gives size, direction and port.

import type { AccessSize } from "@vmxlab/cpu";
import type { ExitAction, ExitContext } from "./context.js";
import { noting, skipInstruction } from "./context.js";

export interface IoAccess {
  port: number;
  size: AccessSize;
  input: boolean;
  string: boolean;
  rep: boolean;
  immediate: boolean;
}

/**
 * The fields of an I/O instruction's exit qualification, written into `into` (a new object by default)
 * and returned: an exit handler reuses one object (an exit per OUT makes a new one per exit costly garbage).
 */
export function decodeIoQualification(
  q: number,
  into: IoAccess = { size: 1, input: false, string: false, rep: false, immediate: false, port: 0 },
): IoAccess {
  into.size = ((q & 7) + 1) as AccessSize;
  into.input = (q & 8) !== 0;
  into.string = (q & 0x10) !== 0;
  into.rep = (q & 0x20) !== 0;
  into.immediate = (q & 0x40) !== 0;
  into.port = q >>> 16;
  return into;
}

/** handleIo's decoded qualification: exits are handled one at a time, and it is used up before the next. */
const ioScratch = decodeIoQualification(0);

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

/** Performs the access on the VM's port bus; returns the description for traces ("" if nobody reads it). */
export function emulatePortIo(ctx: ExitContext, io: IoAccess): string {
  const regs = ctx.cpu.regs;
  const bus = ctx.vm.devices.bus;
  if (io.input) {
    const value = bus.in(io.port, io.size) & MASK[io.size]!;
    if (io.size === 4) regs[0] = value;
    else if (io.size === 2) ctx.cpu.regs16[0] = value;
    else ctx.cpu.regs8[0] = value;
    if (!noting(ctx)) return "";
    return `IN port 0x${io.port.toString(16)} size ${io.size} -> 0x${value.toString(16)}`;
  }
  const value = (regs[0]! >>> 0) & MASK[io.size]!;
  bus.out(io.port, io.size, value);
  if (!noting(ctx)) return "";
  return `OUT port 0x${io.port.toString(16)} size ${io.size} value 0x${value.toString(16)}`;
}

export function handleIo(ctx: ExitContext): ExitAction {
  const io = decodeIoQualification(ctx.exit.qualification, ioScratch);
  if (io.string) {
    return ctx.stopVm({
      kind: "error",
      diagnostic: `string port I/O (INS/OUTS) on port 0x${io.port.toString(16)} is not emulated`,
    });
  }
  const what = emulatePortIo(ctx, io);
  skipInstruction(ctx);
  ctx.charge(ctx.cost.hypervisor.portIo);
  if (what !== "") ctx.note(what);
  if (ctx.vm.exitValue !== null) return ctx.stopVm({ kind: "debug-exit", value: ctx.vm.exitValue });
  return "resume";
}
