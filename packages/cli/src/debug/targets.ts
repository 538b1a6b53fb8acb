// What the debugger debugs: the program on the bare machine, or in a VM of the type-1 hypervisor
// (or of the hosted system: hosted-target.ts). A target builds the system, runs it until the
// debugger's CPU hook stops it, a VM exit the debugger asked for, or the end, and answers questions
// about the guest: registers, the VMCS, address translation.

import {
  Machine,
  registers as R,
  type RegisterSnapshot,
  type StopReason,
  VMCS,
  VmcsAccess,
  type Vmx,
} from "@vmxlab/cpu";
import { type ExitRecord, Hypervisor, type PagingMode, type Vm, type VmStop } from "@vmxlab/vmm";
import type { Program } from "../program.js";
import { type AddressSpace, eptWalk, type GpaTranslation } from "./paging.js";

/** The guest's registers as it sees them, with its segment selectors and privilege level. */
export interface GuestRegisters extends RegisterSnapshot {
  cs: number;
  ss: number;
  ds: number;
  es: number;
  fs: number;
  gs: number;
  cpl: number;
}

export type TargetKind = "bare" | "type1" | "hosted";

/**
 * One VM exit as the debugger shows it: the type-1 hypervisor's record, or the hosted one's (which says
 * where the exit was handled and lists the hops of its round trip).
 */
export interface DebugExitRecord extends Omit<ExitRecord, "action" | "cycles"> {
  /** What followed the handling: resume, halt, yield, stop; hosted: resume, block, user. */
  action: string;
  /** Modeled cycles of the round trip from the exit to the VM entry that resumes the guest. */
  cycles: { total: number };
  /** Hosted: handled entirely in the kernel module, or in the user-space VMM process. */
  handledIn?: "kernel" | "user";
  /** Hosted: the hops of the round trip so far, with their modeled cycles. */
  hops?: readonly { name: string; cycles: number }[];
}

export interface TargetOptions {
  memoryMiB: number;
  costModel: string;
  paging: PagingMode;
  lazyMemory: boolean;
  load?: number;
  entry?: number;
  /** Every byte the guest writes to its console. */
  onConsole: (byte: number) => void;
  /** Every VM exit, after it was handled. */
  onExit: (record: DebugExitRecord) => void;
}

export interface Target {
  readonly kind: TargetKind;
  readonly machine: Machine;
  /** The debugged VM's name (null on the bare machine). */
  readonly vmName: string | null;
  /** Memory virtualization of the VM (null on the bare machine). */
  readonly paging: PagingMode | null;
  /** True while the CPU runs the debugged program (bare: always; a VM: in VMX non-root operation). */
  inGuest(): boolean;
  /** VMX root or non-root operation (null on the bare machine). */
  mode(): "root" | "non-root" | null;
  /** Why the program or VM ended, or null while it can run. */
  ended(): string | null;
  registers(): GuestRegisters;
  /**
   * Runs until the CPU hook stops the CPU ("paused"), an exit for which `pauseOnExit` says true
   * ("paused", in VMX root operation) or the end ("done").
   */
  resume(pauseOnExit: ((record: DebugExitRecord) => boolean) | null): "paused" | "done";
  /** The VM's VMCS (null on the bare machine). */
  vmcs(): VmcsAccess | null;
  /** The guest's address translation. */
  space(): AddressSpace;
  /** Under shadow paging, the host-physical root of the shadow page directory the CPU uses. */
  shadowRoot(): number | null;
  /** Guest RAM in bytes (guest-physical addresses below it exist). */
  readonly guestRam: number;
  /** TLB address-space tag of the guest's translations. */
  asid(): number;
  /** Where an exit's round trip was handled ("the hypervisor", "the KVM module"...), for messages. */
  readonly handlerName: string;
  /** What the banner says about the state before the first VM entry (the default suits a type-1 VM). */
  readonly startText?: string;
  /** What `vmcs host` says about whose state the host-state area holds. */
  hostStateNote?(): string;
}

export function vmStopText(stop: VmStop | StopReason): string {
  switch (stop.kind) {
    case "debug-exit":
      return `debug-exit ${stop.value} (0x${stop.value.toString(16)})`;
    case "halt":
      return "halted (HLT with nothing to wake it)";
    case "shutdown":
      return `shutdown: ${stop.diagnostic}`;
    case "error":
      return `stopped by the hypervisor: ${stop.diagnostic}`;
    case "limit":
      return "instruction limit reached";
    default:
      return stop.kind;
  }
}

export function loadAddress(program: Program, o: TargetOptions): { load?: number; entry?: number } {
  return {
    ...(o.load !== undefined ? { load: o.load } : program.origin !== undefined ? { load: program.origin } : {}),
    ...(o.entry !== undefined ? { entry: o.entry } : {}),
  };
}

// ============================================================================================
// The bare machine
// ============================================================================================

export class BareTarget implements Target {
  readonly kind = "bare";
  readonly machine: Machine;
  readonly vmName = null;
  readonly paging = null;
  readonly guestRam: number;
  readonly handlerName = "";
  private stop: StopReason | null = null;

  constructor(program: Program, o: TargetOptions) {
    this.machine = new Machine({ memoryMiB: o.memoryMiB, costModel: o.costModel });
    this.machine.onConsole = o.onConsole;
    this.machine.load(program.bytes, { name: program.name, ...loadAddress(program, o) });
    this.guestRam = this.machine.memory.size;
  }

  inGuest(): boolean {
    return true;
  }

  mode(): null {
    return null;
  }

  ended(): string | null {
    return this.stop ? vmStopText(this.stop) : null;
  }

  registers(): GuestRegisters {
    const cpu = this.machine.cpu;
    return { ...cpu.snapshotRegisters(), ...segments((s) => cpu.segSel[s]!), cpl: cpu.cpl };
  }

  resume(): "paused" | "done" {
    const stop = this.machine.run();
    if (stop.kind === "hook") return "paused";
    this.stop = stop;
    return "done";
  }

  vmcs(): null {
    return null;
  }

  space(): AddressSpace {
    const cpu = this.machine.cpu;
    const mem = this.machine.memory;
    return {
      paging: { enabled: cpu.pagingEnabled, cr3: cpu.cr3 >>> 0, pse: (cpu.cr4 & R.CR4_PSE) !== 0 },
      gpaToHpa: (gpa) => (gpa >>> 0 < mem.size ? { hpa: gpa >>> 0 } : { hpa: -1, problem: "outside RAM" }),
      readHpa32: (hpa) => mem.read32(hpa),
    };
  }

  shadowRoot(): null {
    return null;
  }

  asid(): number {
    return this.machine.cpu.asid;
  }
}

function segments(selector: (seg: number) => number): Omit<GuestRegisters, keyof RegisterSnapshot | "cpl"> {
  return {
    cs: selector(R.CS),
    ss: selector(R.SS),
    ds: selector(R.DS),
    es: selector(R.ES),
    fs: selector(R.FS),
    gs: selector(R.GS),
  };
}

/** CR0/CR4 as the guest reads them: host-owned bits (mask) come from the read shadow. */
const shadowed = (actual: number, mask: number, shadow: number) => ((actual & ~mask) | (shadow & mask)) >>> 0;

/** Guest registers of a VM whose state is in its VMCS (in VMX root operation). */
export function vmcsGuestRegisters(
  v: VmcsAccess,
  gprs: ArrayLike<number>,
  cr2: number,
  cr3: number | null,
): GuestRegisters {
  return {
    eax: gprs[0]! >>> 0,
    ecx: gprs[1]! >>> 0,
    edx: gprs[2]! >>> 0,
    ebx: gprs[3]! >>> 0,
    esp: v.read(VMCS.GUEST_RSP),
    ebp: gprs[5]! >>> 0,
    esi: gprs[6]! >>> 0,
    edi: gprs[7]! >>> 0,
    eip: v.read(VMCS.GUEST_RIP),
    eflags: v.read(VMCS.GUEST_RFLAGS),
    cr0: shadowed(v.read(VMCS.GUEST_CR0), v.read(VMCS.CR0_GUEST_HOST_MASK), v.read(VMCS.CR0_READ_SHADOW)),
    cr2: cr2 >>> 0,
    cr3: (cr3 ?? v.read(VMCS.GUEST_CR3)) >>> 0,
    cr4: shadowed(v.read(VMCS.GUEST_CR4), v.read(VMCS.CR4_GUEST_HOST_MASK), v.read(VMCS.CR4_READ_SHADOW)),
    cs: v.read(VMCS.GUEST_CS_SELECTOR),
    ss: v.read(VMCS.GUEST_SS_SELECTOR),
    ds: v.read(VMCS.GUEST_DS_SELECTOR),
    es: v.read(VMCS.GUEST_ES_SELECTOR),
    fs: v.read(VMCS.GUEST_FS_SELECTOR),
    gs: v.read(VMCS.GUEST_GS_SELECTOR),
    cpl: (v.read(VMCS.GUEST_SS_AR_BYTES) >>> 5) & 3,
  };
}

/** Guest registers of the guest running on the CPU (VMX non-root operation): CR0/CR4 through the shadows. */
export function liveGuestRegisters(vmx: Vmx, guestCr3: number | null): GuestRegisters {
  const cpu = vmx.cpu;
  const live = cpu.snapshotRegisters();
  return {
    ...live,
    cr0: vmx.readCr(0, live.cr0),
    cr3: (guestCr3 ?? live.cr3) >>> 0,
    cr4: vmx.readCr(4, live.cr4),
    ...segments((s) => cpu.segSel[s]!),
    cpl: cpu.cpl,
  };
}

/** Guest-physical to host-physical for a VM: its EPT walk, or the hypervisor's map under shadow paging. */
export function vmGpaToHpa(
  machine: Machine,
  paging: PagingMode,
  ramSize: number,
  eptRoot: () => number,
  p2m: (gpa: number) => number,
): (gpa: number) => GpaTranslation {
  return (gpa) => {
    gpa >>>= 0;
    if (gpa >= ramSize) return { hpa: -1, problem: `gpa 0x${gpa.toString(16)} is outside the VM's RAM` };
    if (paging === "ept") return eptWalk((a) => machine.memory.read32(a), eptRoot(), gpa);
    const hpa = p2m(gpa);
    return hpa < 0 ? { hpa: -1, problem: "not backed by host memory yet" } : { hpa };
  };
}

/** How a VM's addresses translate: the guest's paging, then its EPT (or the hypervisor's map). */
export function vmAddressSpace(machine: Machine, regs: GuestRegisters, vm: Vm, vmcs: () => VmcsAccess): AddressSpace {
  const mem = machine.memory;
  return {
    paging: { enabled: (regs.cr0 & R.CR0_PG) !== 0, cr3: regs.cr3, pse: (regs.cr4 & R.CR4_PSE) !== 0 },
    gpaToHpa: vmGpaToHpa(
      machine,
      vm.paging,
      vm.memory.size,
      () => vmcs().read(VMCS.EPT_POINTER) & ~0xfff,
      (gpa) => vm.memory.translate(gpa),
    ),
    readHpa32: (hpa) => mem.read32(hpa),
  };
}

// ============================================================================================
// A VM on the type-1 hypervisor
// ============================================================================================

export class Type1Target implements Target {
  readonly kind = "type1";
  readonly hv: Hypervisor;
  readonly vm: Vm;
  readonly machine: Machine;
  readonly vmName: string;
  readonly paging: PagingMode;
  readonly guestRam: number;
  readonly handlerName = "the hypervisor";

  constructor(program: Program, o: TargetOptions) {
    this.hv = new Hypervisor(
      [
        {
          name: "vm0",
          memoryMiB: o.memoryMiB,
          image: program.bytes,
          paging: o.paging,
          lazyMemory: o.lazyMemory,
          ...loadAddress(program, o),
        },
      ],
      { costModel: o.costModel, onConsole: (_vm, byte) => o.onConsole(byte), onExit: o.onExit },
    );
    this.vm = this.hv.vms[0]!;
    this.machine = this.hv.machine;
    this.vmName = this.vm.name;
    this.paging = this.vm.paging;
    this.guestRam = this.vm.memory.size;
  }

  inGuest(): boolean {
    return this.machine.vmx.nonRoot;
  }

  mode(): "root" | "non-root" {
    return this.machine.vmx.nonRoot ? "non-root" : "root";
  }

  ended(): string | null {
    return this.vm.stop ? vmStopText(this.vm.stop) : null;
  }

  registers(): GuestRegisters {
    const { cpu, vmx } = this.machine;
    const vm = this.vm;
    if (vmx.nonRoot) return liveGuestRegisters(vmx, vm.mmu.guestCr3(vm));
    const v = this.vmcs();
    // The VM is on the CPU once the hypervisor ran it (its general registers are then the CPU's).
    const onCpu = this.hv.pausedAt !== null || vm.launched;
    const regs = onCpu ? cpu.regs : vm.regs;
    const r = vmcsGuestRegisters(v, regs, onCpu ? cpu.cr2 : vm.cr2, vm.mmu.guestCr3(vm));
    return vm.finalRegs ? { ...r, ...vm.finalRegs } : r;
  }

  resume(pauseOnExit: ((record: ExitRecord) => boolean) | null): "paused" | "done" {
    return this.hv.run(pauseOnExit ? { pauseOnExit } : {});
  }

  vmcs(): VmcsAccess {
    return new VmcsAccess(this.machine.memory, this.vm.vmcs);
  }

  space(): AddressSpace {
    return vmAddressSpace(this.machine, this.registers(), this.vm, () => this.vmcs());
  }

  shadowRoot(): number | null {
    if (this.vm.paging !== "shadow") return null;
    return this.machine.vmx.nonRoot ? this.machine.cpu.cr3 >>> 0 : this.vmcs().read(VMCS.GUEST_CR3);
  }

  asid(): number {
    return this.machine.vmx.asidOf(this.vm.vpid) ?? 0;
  }
}
