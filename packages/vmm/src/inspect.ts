// Side-effect-free views of a guest for traces and debuggers: guest-linear to guest-physical
// translation through the guest's own page tables (never touching A/D bits), memory reads, and
// the instruction at an address.

import { disassembleOne } from "@vmxlab/cpu";
import type { Vm } from "./vm.js";

export interface GuestPagingView {
  paging: boolean;
  cr3: number;
  pse: boolean;
}

/** Guest-physical address of a guest-linear one, or -1 when the guest's tables do not map it. */
export function guestLinearToPhysical(vm: Vm, view: GuestPagingView, linear: number): number {
  linear >>>= 0;
  if (!view.paging) return linear;
  const mem = vm.memory;
  const pdeAddr = ((view.cr3 & ~0xfff) | ((linear >>> 22) << 2)) >>> 0;
  if (!mem.contains(pdeAddr, 4)) return -1;
  const pde = mem.read32(pdeAddr) >>> 0;
  if (!(pde & 1)) return -1;
  if (pde & 0x80 && view.pse) return ((pde & 0xffc00000) | (linear & 0x3fffff)) >>> 0;
  const pteAddr = ((pde & ~0xfff) | (((linear >>> 12) & 0x3ff) << 2)) >>> 0;
  if (!mem.contains(pteAddr, 4)) return -1;
  const pte = mem.read32(pteAddr) >>> 0;
  if (!(pte & 1)) return -1;
  return ((pte & ~0xfff) | (linear & 0xfff)) >>> 0;
}

/** Reads guest-linear memory; null if any byte is unmapped or outside guest RAM. */
export function readGuestLinear(vm: Vm, view: GuestPagingView, linear: number, length: number): Uint8Array | null {
  const out = new Uint8Array(length);
  for (let k = 0; k < length; k++) {
    const gpa = guestLinearToPhysical(vm, view, (linear + k) >>> 0);
    if (gpa < 0 || !vm.memory.contains(gpa, 1)) return k === 0 ? null : out.subarray(0, k);
    out[k] = vm.memory.read(gpa, 1)[0]!;
  }
  return out;
}

/** The instruction at a guest-linear address, as objdump would print it ("out dx,al"), or "?". */
export function guestInstructionText(vm: Vm, view: GuestPagingView, eip: number): string {
  const bytes = readGuestLinear(vm, view, eip, 15);
  if (!bytes || bytes.length === 0) return "?";
  return disassembleOne(bytes, 0, eip).text;
}
