// The user-space part of a VMM process that is not its ring-3 loop: the image loader and the device
// models (packages/vmm's VmDevices: COM1, the 0xE9 console, the 0xF4 debug exit, the block device;
// the same objects the type-1 hypervisor uses, no second copy). It runs as that process's ring-3
// code: the loop reaches it with an OUT to the library port (granted to VMM processes only through
// the TSS I/O bitmap), it works on the process's own memory (kvm_run at KVM_RUN_ADDR, guest RAM at
// GUEST_RAM_ADDR, reached through the process's page tables) and its time is the process's user
// time, charged as cost.hosted.userspaceDeviceDispatch per exit it handles.

import { isElf, parseElf32 } from "@vmxlab/cpu";
import { type GuestMemoryAccess, GuestMemoryError, HYPERCALL, PAGE, VmDevices, type VmStop } from "@vmxlab/vmm";
import type { HostKernel, Process } from "./kernel.js";
import type { KvmModule, KvmVcpu } from "./kvm.js";
import { GUEST_RAM_ADDR, KVM_EXIT, KVM_EXIT_IO_OUT, KVM_REGS, KVM_RUN, KVM_RUN_ADDR, VMM_LIB } from "./layout.js";
import type { HostedVm } from "./system.js";

const EAX = 0;
const EBX = 3;
const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];

/** Guest RAM as the VMM process sees it: its own anonymous mapping at GUEST_RAM_ADDR (device DMA is a copy there). */
export class UserGuestRam implements GuestMemoryAccess {
  constructor(
    private readonly kernel: HostKernel,
    private readonly proc: Process,
    readonly size: number,
  ) {}

  private check(gpa: number, length: number): void {
    if (gpa < 0 || length < 0 || gpa + length > this.size) {
      throw new GuestMemoryError(
        `guest-physical range 0x${gpa.toString(16)}-0x${(gpa + length).toString(16)} is outside the VM's ${this.size >>> 20} MiB`,
      );
    }
  }

  read(gpa: number, length: number): Uint8Array {
    this.check(gpa, length);
    const bytes = this.kernel.copyFromUser(this.proc, GUEST_RAM_ADDR + gpa, length);
    if (!bytes) throw new GuestMemoryError(`guest RAM at 0x${gpa.toString(16)} is not mapped in the VMM`);
    return bytes;
  }

  write(gpa: number, bytes: Uint8Array): void {
    this.check(gpa, bytes.length);
    if (!this.kernel.copyToUser(this.proc, GUEST_RAM_ADDR + gpa, bytes)) {
      throw new GuestMemoryError(`guest RAM at 0x${gpa.toString(16)} is not mapped in the VMM`);
    }
  }
}

/** The state of one VMM process's user space. */
export class VmmUserSpace {
  readonly devices: VmDevices;
  readonly ram: UserGuestRam;
  /** The guest wrote this to the debug-exit port: the VMM powers the VM off. */
  poweredOff: number | null = null;
  /** The last failure of a library function (why the VMM failed or aborted). */
  error: string | null = null;
  /** Library calls by function. */
  readonly calls = new Map<number, number>();

  constructor(
    private readonly kernel: HostKernel,
    private readonly kvm: KvmModule,
    readonly proc: Process,
    readonly vm: HostedVm,
    onConsole: (byte: number) => void,
  ) {
    const cpu = kernel.cpu;
    this.ram = new UserGuestRam(kernel, proc, vm.config.memoryMiB * 1024 * 1024);
    this.devices = new VmDevices({
      clock: { now: () => cpu.cycles, hz: cpu.hz },
      memory: this.ram,
      ...(vm.config.disk ? { disk: vm.config.disk } : {}),
      onConsole,
      onExit: (value) => {
        this.poweredOff = value >>> 0;
      },
    });
  }

  /**
   * Where kvm_run is: the process's mapping of KVM_RUN_ADDR (-1: none), looked up again only when its
   * mappings changed (runPhysAt is the proc.mappings it was looked up at), as a TLB entry would be.
   */
  private runPhys = -1;
  private runPhysAt = -1;
  /** The process's vCPU once it has one (it keeps it: a library call needs no lookup). */
  private vcpu: KvmVcpu | null = null;

  /** The physical address of kvm_run + offset (the field must lie in its page, as mapped for the process). */
  private runField(offset: number, size: 1 | 2 | 4): number {
    if (this.runPhys < 0 || offset < 0 || offset + size > PAGE) throw new Error("kvm_run is not mapped");
    return this.runPhys + offset;
  }

  private readRun(offset: number, size: 1 | 2 | 4): number {
    const mem = this.kernel.machine.memory;
    const at = this.runField(offset, size);
    return (size === 1 ? mem.read8(at) : size === 2 ? mem.read16(at) : mem.read32(at)) >>> 0;
  }

  private writeRun(offset: number, size: 1 | 2 | 4, value: number): void {
    const mem = this.kernel.machine.memory;
    const at = this.runField(offset, size);
    if (size === 1) mem.write8(at, value);
    else if (size === 2) mem.write16(at, value);
    else mem.write32(at, value);
  }

  /** The library entry: EAX = function, EBX = argument; the result goes back in EAX. */
  call(): void {
    const cpu = this.kernel.cpu;
    const fn = cpu.regs[EAX]! >>> 0;
    const arg = cpu.regs[EBX]! >>> 0;
    this.calls.set(fn, (this.calls.get(fn) ?? 0) + 1);
    const proc = this.proc;
    if (this.runPhysAt !== proc.mappings) {
      this.runPhys = this.kernel.userToPhys(proc, KVM_RUN_ADDR, true);
      this.runPhysAt = proc.mappings;
    }
    const vcpu = (this.vcpu ??= this.kvm.vcpuOf(proc) ?? null);
    const deviceWork = fn === VMM_LIB.IO || fn === VMM_LIB.MMIO || fn === VMM_LIB.HYPERCALL;
    if (deviceWork) {
      if (vcpu) this.kvm.closeHop(vcpu, "to-user");
      cpu.cycles += this.kernel.cost.hosted.userspaceDeviceDispatch;
    }
    let result: number;
    try {
      result = this.dispatch(fn, arg);
    } catch (error) {
      this.error = `device model error: ${(error as Error).message}`;
      result = -1;
    }
    if (deviceWork && vcpu) this.kvm.closeHop(vcpu, "device-model");
    // A VM that ended here: its last exit record is complete (it never re-enters).
    if (this.vm.stop && vcpu) this.kvm.emit(vcpu);
    cpu.regs[EAX] = result;
  }

  private dispatch(fn: number, arg: number): number {
    switch (fn) {
      case VMM_LIB.LOAD_IMAGE:
        return this.loadImage(arg);
      case VMM_LIB.IO:
        return this.portIo();
      case VMM_LIB.MMIO:
        return this.mmio();
      case VMM_LIB.HYPERCALL:
        return this.hypercall();
      case VMM_LIB.VM_STOPPED:
        return this.vmStopped();
      default:
        throw new Error(`unknown library function ${fn}`);
    }
  }

  /** Loads the ELF segments (or the flat image) into guest RAM and fills a kvm_regs with the boot state. */
  private loadImage(regsPtr: number): number {
    const { image, load, entry } = this.vm.config;
    const name = this.vm.name;
    let start: number;
    try {
      if (isElf(image)) {
        const elf = parseElf32(image, name);
        for (const seg of elf.segments) {
          if (seg.address + seg.memorySize > this.ram.size) {
            throw new Error(
              `${name}: segment at 0x${seg.address.toString(16)} does not fit in ${this.vm.config.memoryMiB} MiB`,
            );
          }
          this.ram.write(seg.address, seg.bytes);
        }
        start = entry ?? elf.entry;
      } else {
        const at = load ?? 0x100000;
        if (at + image.length > this.ram.size) {
          throw new Error(
            `${name}: image at 0x${at.toString(16)} (${image.length} bytes) does not fit in ${this.vm.config.memoryMiB} MiB`,
          );
        }
        this.ram.write(at, image);
        start = entry ?? at;
      }
    } catch (error) {
      this.error = (error as Error).message;
      return -1;
    }
    const regs = new Uint8Array(KVM_REGS.BYTES);
    const v = new DataView(regs.buffer);
    v.setUint32(KVM_REGS.EIP, start >>> 0, true);
    v.setUint32(KVM_REGS.EFLAGS, 2, true);
    return this.kernel.copyToUser(this.proc, regsPtr, regs) ? 0 : -1;
  }

  private checkExit(expected: number): void {
    const reason = this.readRun(KVM_RUN.EXIT_REASON, 4);
    if (reason !== expected) throw new Error(`kvm_run.exit_reason is ${reason}, expected ${expected}`);
  }

  /** KVM_EXIT_IO: the access on the VM's port bus (COM1, the consoles, the block device). */
  private portIo(): number {
    this.checkExit(KVM_EXIT.IO);
    const out = this.readRun(KVM_RUN.IO_DIRECTION, 1) === KVM_EXIT_IO_OUT;
    const size = this.readRun(KVM_RUN.IO_SIZE, 1) as 1 | 2 | 4;
    const port = this.readRun(KVM_RUN.IO_PORT, 2);
    const offset = this.readRun(KVM_RUN.IO_DATA_OFFSET, 4);
    const fault = this.vm.config.deviceFault;
    if (fault && fault.port === port) {
      throw new Error(fault.message ?? `the model of port 0x${port.toString(16)} failed`);
    }
    if (out) this.devices.bus.out(port, size, this.readRun(offset, size) & MASK[size]!);
    else this.writeRun(offset, size, this.devices.bus.in(port, size) & MASK[size]!);
    if (this.poweredOff !== null) {
      this.finish({ kind: "debug-exit", value: this.poweredOff });
      return 1;
    }
    return 0;
  }

  /** KVM_EXIT_MMIO: no device model claims guest-physical space outside RAM, so the VM stops as on type-1. */
  private mmio(): number {
    this.checkExit(KVM_EXIT.MMIO);
    const gpa = this.readRun(KVM_RUN.MMIO_PHYS, 4);
    const eip = this.kvm.vcpuOf(this.proc)?.lastExit?.guestRip ?? 0;
    this.finish({
      kind: "error",
      diagnostic: `guest accessed guest-physical 0x${gpa.toString(16)}, outside its ${this.vm.config.memoryMiB} MiB of RAM (EIP 0x${eip.toString(16)})`,
    });
    return 1;
  }

  /**
   * KVM_EXIT_HYPERCALL: a CONSOLE_WRITE the kernel module has checked (from the guest's kernel, the
   * buffer inside guest RAM; anything else it answered itself): the bytes go to the console device.
   */
  private hypercall(): number {
    this.checkExit(KVM_EXIT.HYPERCALL);
    const nr = this.readRun(KVM_RUN.HC_NR, 4);
    if (nr !== HYPERCALL.CONSOLE_WRITE) throw new Error(`kvm_run.hypercall.nr is ${nr}, expected CONSOLE_WRITE`);
    const gpa = this.readRun(KVM_RUN.HC_ARGS, 4);
    const length = this.readRun(KVM_RUN.HC_ARGS + 4, 4);
    for (const b of this.ram.read(gpa, length)) this.devices.console.portOut(0xe9, 1, b);
    this.writeRun(KVM_RUN.HC_RET, 4, 0);
    return 0;
  }

  /** The VM ended in the kernel (HLT with nothing to wake it, a triple fault, an error, the budget). */
  private vmStopped(): number {
    const vcpu = this.kvm.vcpuOf(this.proc);
    const reason = this.readRun(KVM_RUN.EXIT_REASON, 4);
    this.finish(vcpu?.stop ?? { kind: "error", diagnostic: `KVM_RUN returned exit reason ${reason}` });
    return 0;
  }

  private finish(stop: VmStop): void {
    const vcpu = this.kvm.vcpuOf(this.proc);
    if (this.vm.stop) return;
    this.vm.stop = stop;
    if (vcpu) this.vm.finalRegs = vcpu.finalRegs ?? this.kvm.snapshot(vcpu);
  }
}
