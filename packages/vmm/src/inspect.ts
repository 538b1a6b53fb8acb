// Side-effect-free views of a guest for traces and debuggers: guest-linear to guest-physical
// translation through the guest's own page tables (never touching A/D bits), memory reads, and
// the instruction at an address.

import { disassembleOne, type RegisterSnapshot, VMCS, type Vmx } from "@vmxlab/cpu";
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

/**
 * The registers the guest sees, from its VMCS (which must be current) and its general registers:
 * CR0/CR4 through the read shadows, CR3 as the guest loaded it (shadow paging keeps its own).
 */
export function guestRegisterSnapshot(vmx: Vmx, vm: Vm, gprs: ArrayLike<number>, cr2: number): RegisterSnapshot {
  const shadowed = (actual: number, mask: number, shadow: number) => ((actual & ~mask) | (shadow & mask)) >>> 0;
  return {
    eax: gprs[0]! >>> 0,
    ebx: gprs[3]! >>> 0,
    ecx: gprs[1]! >>> 0,
    edx: gprs[2]! >>> 0,
    esi: gprs[6]! >>> 0,
    edi: gprs[7]! >>> 0,
    ebp: gprs[5]! >>> 0,
    esp: vmx.read(VMCS.GUEST_RSP),
    eip: vmx.read(VMCS.GUEST_RIP),
    eflags: vmx.read(VMCS.GUEST_RFLAGS),
    cr0: shadowed(vmx.read(VMCS.GUEST_CR0), vmx.read(VMCS.CR0_GUEST_HOST_MASK), vmx.read(VMCS.CR0_READ_SHADOW)),
    cr2: cr2 >>> 0,
    cr3: (vm.mmu.guestCr3(vm) ?? vmx.read(VMCS.GUEST_CR3)) >>> 0,
    cr4: shadowed(vmx.read(VMCS.GUEST_CR4), vmx.read(VMCS.CR4_GUEST_HOST_MASK), vmx.read(VMCS.CR4_READ_SHADOW)),
  };
}
