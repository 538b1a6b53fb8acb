// A VM of the hosted system (packages/hosted) as the debugger's target: a host kernel in VMX root
// operation with the KVM-like module, and vm0's user-space VMM process. The system pauses inside the
// guest at an instruction boundary (the debugger's CPU hook), after a VM exit once its handling is
// complete (in the kernel module, or after the VMM process's round trip), and before the first
// VMLAUNCH; everything the host does in between -- the module, the VMM process, the scheduler, other
// processes -- runs as a unit while the debugger counts guest instructions only.

import { type Machine, VMCS, VmcsAccess } from "@vmxlab/cpu";
import { type HostedExitRecord, HostedSystem, type HostedVm, type KvmVcpu } from "@vmxlab/hosted";
import type { PagingMode } from "@vmxlab/vmm";
import type { Program } from "../program.js";
import { hex8 } from "./format.js";
import type { AddressSpace } from "./paging.js";
import {
  type DebugExitRecord,
  type GuestRegisters,
  liveGuestRegisters,
  loadAddress,
  type Target,
  type TargetOptions,
  vmAddressSpace,
  vmcsGuestRegisters,
  vmStopText,
} from "./targets.js";

/** The debugger's view of a hosted exit record (cycles and hops follow the record as the module completes it). */
function debugRecord(r: HostedExitRecord): DebugExitRecord {
  return {
    ...r,
    get cycles() {
      return { total: r.latency };
    },
  };
}

export class HostedTarget implements Target {
  readonly kind = "hosted";
  readonly system: HostedSystem;
  readonly vm: HostedVm;
  readonly machine: Machine;
  readonly vmName: string;
  readonly paging: PagingMode;
  readonly guestRam: number;
  readonly handlerName = "the KVM module";
  readonly startText: string;
  private readonly onExit: (record: DebugExitRecord) => void;

  constructor(program: Program, o: TargetOptions) {
    this.system = new HostedSystem(
      [{ name: "vm0", memoryMiB: o.memoryMiB, image: program.bytes, paging: o.paging, ...loadAddress(program, o) }],
      { costModel: o.costModel, onConsole: (_vm, byte) => o.onConsole(byte) },
    );
    this.vm = this.system.vms[0]!;
    this.machine = this.system.machine;
    this.vmName = this.vm.name;
    this.paging = this.vm.paging;
    this.guestRam = this.vm.config.memoryMiB * 1024 * 1024;
    this.onExit = o.onExit;
    // The host boots and the VMM process creates the VM, loads the program and sets the vCPU up.
    this.system.run({ pauseBeforeLaunch: true });
    const vmm = `${this.vmName}'s VMM process (pid ${this.vm.process.pid})`;
    this.startText = this.vm.stop
      ? `the host kernel has booted; ${vmm} ended before the first VM entry.`
      : `the host kernel has booted and ${vmm} has created the VM through the KVM module; the CPU is in VMX` +
        " root operation, before the first VM entry (VMLAUNCH).";
  }

  private get vcpu(): KvmVcpu | null {
    return this.vm.vcpu;
  }

  inGuest(): boolean {
    const vmx = this.machine.vmx;
    return vmx.nonRoot && vmx.currentVmcs === this.vcpu?.vmcs;
  }

  mode(): "root" | "non-root" {
    return this.machine.vmx.nonRoot ? "non-root" : "root";
  }

  ended(): string | null {
    return this.vm.stop ? vmStopText(this.vm.stop) : null;
  }

  registers(): GuestRegisters {
    const vcpu = this.vcpu;
    if (!vcpu) {
      throw new Error(`${this.vmName} has no vCPU: ${this.ended() ?? "the VMM process did not create it"}`);
    }
    const vm = vcpu.vm;
    if (this.inGuest()) return liveGuestRegisters(this.machine.vmx, vm.mmu.guestCr3(vm));
    // In root operation the module keeps the guest's general registers in the vCPU, the rest in the VMCS.
    const r = vmcsGuestRegisters(this.vmcs()!, vm.regs, vm.cr2, vm.mmu.guestCr3(vm));
    return this.vm.finalRegs ? { ...r, ...this.vm.finalRegs } : r;
  }

  resume(pauseOnExit: ((record: DebugExitRecord) => boolean) | null): "paused" | "done" {
    // Every exit is offered once, when its handling is complete: that is when the debugger records it.
    return this.system.run({
      pauseOnExit: (record) => {
        const r = debugRecord(record);
        this.onExit(r);
        return pauseOnExit?.(r) ?? false;
      },
    });
  }

  vmcs(): VmcsAccess | null {
    const vcpu = this.vcpu;
    return vcpu ? new VmcsAccess(this.machine.memory, vcpu.vmcs) : null;
  }

  space(): AddressSpace {
    const vm = this.vcpu!.vm;
    return {
      ...vmAddressSpace(this.machine, this.registers(), vm, () => this.vmcs()!),
      backing: (gpa) => (gpa >>> 0 < this.guestRam ? vm.memory.translate(gpa >>> 0) : -1),
    };
  }

  shadowRoot(): number | null {
    if (this.paging !== "shadow") return null;
    return this.inGuest() ? this.machine.cpu.cr3 >>> 0 : this.vmcs()!.read(VMCS.GUEST_CR3);
  }

  asid(): number {
    const vcpu = this.vcpu;
    return vcpu ? (this.machine.vmx.asidOf(vcpu.vm.vpid) ?? 0) : 0;
  }

  hostStateNote(): string {
    const p = this.vm.process;
    return (
      `(the host kernel's state for ${this.vmName}'s VMM process, pid ${p.pid}: HOST_CR3 = its page directory` +
      ` ${hex8(p.pd)}, HOST_RSP = its KVM_RUN trap frame on its kernel stack, HOST_RIP = the kernel's exit` +
      ` path vmx_vmexit ${hex8(this.system.kernel.vmxExitPath)})`
    );
  }
}
