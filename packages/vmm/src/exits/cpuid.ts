// EXIT_REASON_CPUID (10): the virtual CPUID. The guest sees our own vendor string, the hypervisor
// bit (leaf 1 ECX bit 31) and no VMX (nested virtualization is not offered), plus the hypervisor
// leaves 0x40000000 (max hypervisor leaf in EAX, the same vendor in EBX, ECX, EDX) and 0x40000001, as
// KVM and Hyper-V provide.

import type { ExitAction, ExitContext } from "./context.js";
import { noting, skipInstruction } from "./context.js";

export const HYPERVISOR_VENDOR = "VMXlabHyperV";
const CPUID_1_EDX = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 11) | (1 << 13) | (1 << 15);
const HYPERVISOR_PRESENT = 1 << 31;

function words(text: string): [number, number, number] {
  const w = (k: number) => {
    let v = 0;
    for (let j = 0; j < 4; j++) v |= text.charCodeAt(k * 4 + j) << (8 * j);
    return v >>> 0;
  };
  return [w(0), w(1), w(2)];
}

const [v0, v1, v2] = words(HYPERVISOR_VENDOR);

/** A leaf's [eax, ebx, ecx, edx] as register words (what the handler stores into the guest's registers). */
type Leaf = Readonly<Int32Array>;

// Every leaf is a constant: computed once and shared, so a CPUID exit allocates nothing.
const leafOf = (eax: number, ebx: number, ecx: number, edx: number): Leaf => Int32Array.of(eax, ebx, ecx, edx);
const LEAF_0 = leafOf(1, v0, v2, v1);
const LEAF_1 = leafOf(0x000306a9, 0x00010000, HYPERVISOR_PRESENT, CPUID_1_EDX);
const LEAF_HYPERVISOR = leafOf(0x40000001, v0, v1, v2);
const LEAF_EXTENDED_MAX = leafOf(0x80000000, 0, 0, 0);
const LEAF_ZERO = leafOf(0, 0, 0, 0);

/** The virtual CPUID leaves: [eax, ebx, ecx, edx] (signed words: `>>> 0` for the unsigned value). */
export function virtualCpuid(leaf: number): Leaf {
  switch (leaf >>> 0) {
    case 0:
      return LEAF_0;
    case 1:
      return LEAF_1;
    case 0x40000000:
      return LEAF_HYPERVISOR;
    case 0x80000000:
      return LEAF_EXTENDED_MAX;
    default:
      return LEAF_ZERO; // 0x40000001 (no hypervisor features) and everything else
  }
}

export function handleCpuid(ctx: ExitContext): ExitAction {
  const r = ctx.cpu.regs;
  const leaf = r[0]! >>> 0;
  const values = virtualCpuid(leaf);
  r[0] = values[0]!;
  r[3] = values[1]!;
  r[1] = values[2]!;
  r[2] = values[3]!;
  skipInstruction(ctx);
  ctx.charge(ctx.cost.hypervisor.cpuid);
  if (noting(ctx)) ctx.note(`virtual CPUID leaf 0x${leaf.toString(16)}`);
  return "resume";
}
