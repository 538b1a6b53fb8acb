// Where each kind of exit is handled, and every hop of its round trip: CPUID never leaves the kernel
// module; port I/O to COM1 goes to the user-space VMM and back; the in-kernel PIC/PIT and HLT stay in
// the kernel (the vCPU thread blocks); MMIO goes to user space; waiting for the CPU shows in the
// latency.
import { assembleOrThrow, COST_MODELS, EXIT_REASON } from "@vmxlab/cpu";
import { Hypervisor } from "@vmxlab/vmm";
import { describe, expect, it } from "vitest";
import type { HopName, HostedExitRecord } from "../src/index.js";
import { bare, guestVisible, hosted, TIMER, type1 } from "./helpers.js";

const cost = COST_MODELS.recent!;
const asm = (source: string) => assembleOrThrow(source).bytes;
const names = (r: HostedExitRecord) => r.hops.map((h) => h.name);
const hop = (r: HostedExitRecord, name: HopName) => r.hops.find((h) => h.name === name)!.cycles;
const sum = (r: HostedExitRecord) => r.hops.reduce((s, h) => s + h.cycles, 0);

const CPUID_LOOP = asm(`
bits 32
org 0x100000
  mov edi, 50
.again:
  mov eax, 1
  cpuid
  dec edi
  jnz .again
  xor eax, eax
  cpuid
  mov [vendor], ebx
  mov [vendor+4], edx
  mov [vendor+8], ecx
  mov eax, 0x2a
  out 0xf4, eax
vendor: times 12 db 0
`);

const COM1 = asm(`
bits 32
org 0x100000
  mov dx, 0x3f8
  mov al, 'O'
  out dx, al
  mov al, 'K'
  out dx, al
  mov al, 10
  out dx, al
  mov dx, 0x3fd        ; line status register (IN goes to user space too)
  in al, dx
  mov ebx, eax
  mov dx, 0x3fa        ; interrupt identification register
  in al, dx
  mov ecx, eax
  mov eax, 3
  out 0xf4, eax
`);

describe("a CPUID exit never leaves the kernel", () => {
  it("is handled by the kernel module with exactly the exit, kernel and entry hops", () => {
    const r = hosted(CPUID_LOOP, { keepRecords: true });
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0x2a });
    expect(guestVisible(r)).toEqual(guestVisible(type1(CPUID_LOOP)));
    const cpuid = r.records.filter((x) => (x.reason & 0xffff) === EXIT_REASON.CPUID);
    expect(cpuid).toHaveLength(51);
    for (const x of cpuid) {
      expect(x.handledIn).toBe("kernel");
      expect(x.action).toBe("resume");
      expect(names(x)).toEqual(["exit", "kernel", "entry"]);
      expect(x.hops).toEqual([
        { name: "exit", cycles: cost.vmx.vmExit },
        { name: "kernel", cycles: cost.hypervisor.dispatch + cost.hypervisor.cpuid },
        { name: "entry", cycles: cost.vmx.vmEntry },
      ]);
      expect(x.latency).toBe(cost.vmx.vmExit + cost.hypervisor.dispatch + cost.hypervisor.cpuid + cost.vmx.vmEntry);
    }
    const vm = r.system.vms[0]!;
    // The only trip to user space was the debug-exit OUT: the VMM's KVM_RUN was called once.
    expect(vm.stats.userExits).toBe(1);
    expect(vm.stats.runCalls).toBe(1);
    expect(vm.user.calls.get(2)).toBe(1); // VMM_LIB.IO: one device-model call
    expect(vm.stats.exits.get(EXIT_REASON.CPUID)).toBe(51);
    expect(vm.stats.kernelExits).toBe(vm.stats.exits.get(EXIT_REASON.CPUID)! + (vm.stats.exits.get(48) ?? 0));
  });
});

describe("an OUT to COM1 goes to user space and back", () => {
  it("returns from KVM_RUN, runs the device model in the VMM process, and re-enters by KVM_RUN", () => {
    const r = hosted(COM1, { keepRecords: true });
    const b = bare(COM1);
    expect(guestVisible(r)).toEqual(b);
    expect(r.console).toBe("OK\n");
    const io = r.records.filter((x) => (x.reason & 0xffff) === EXIT_REASON.IO_INSTRUCTION);
    // 3 OUTs to the THR, 2 INs, the debug exit.
    expect(io).toHaveLength(6);
    for (const x of io) expect(x.handledIn).toBe("user");
    const outs = io.filter((x) => x.detail.startsWith("OUT port 0x3f8"));
    expect(outs).toHaveLength(3);
    for (const x of [...outs, ...io.filter((x) => x.detail.startsWith("IN port 0x3f"))]) {
      expect(names(x)).toEqual(["exit", "kernel", "to-user", "device-model", "syscall", "entry"]);
      expect(hop(x, "exit")).toBe(cost.vmx.vmExit);
      expect(hop(x, "kernel")).toBe(cost.hypervisor.dispatch + cost.hypervisor.portIo);
      // Return from the system call plus the real SYSEXIT path and the VMM's loop up to its device-model call.
      expect(hop(x, "to-user")).toBeGreaterThan(cost.hosted.kernelToUser + cost.instructions.fastSystemCall);
      expect(hop(x, "to-user")).toBeLessThan(cost.hosted.kernelToUser + 400);
      expect(hop(x, "device-model")).toBe(cost.hosted.userspaceDeviceDispatch);
      // The VMM's SYSENTER (and the entry stub that builds its trap frame) plus the module's entry work.
      expect(hop(x, "syscall")).toBeGreaterThan(cost.hosted.userToKernel + cost.instructions.fastSystemCall);
      expect(hop(x, "syscall")).toBeLessThan(cost.hosted.userToKernel + 500);
      expect(hop(x, "entry")).toBe(cost.vmx.vmEntry);
      expect(x.latency).toBe(sum(x));
      expect(x.waited).toBe(0);
    }
    // A round trip through user space costs more than three in-kernel CPUID round trips.
    const cpuidRoundTrip = cost.vmx.vmExit + cost.hypervisor.dispatch + cost.hypervisor.cpuid + cost.vmx.vmEntry;
    expect(outs[0]!.latency).toBeGreaterThan(3 * cpuidRoundTrip);
    // The last exit (the debug-exit port) ends in the device model: the VMM powers the VM off.
    const last = io[io.length - 1]!;
    expect(last.detail).toContain("OUT port 0xf4");
    expect(names(last)).toEqual(["exit", "kernel", "to-user", "device-model"]);
    const vm = r.system.vms[0]!;
    expect(vm.stats.userExits).toBe(6);
    expect(vm.stats.runCalls).toBe(6);
  });

  it("the IN data comes back into the guest's EAX exactly as on the bare machine", () => {
    const r = hosted(COM1);
    const b = bare(COM1);
    expect(r.regs!.ebx & 0xff).toBe(b.regs!.ebx & 0xff);
    expect(r.regs!.ecx & 0xff).toBe(b.regs!.ecx & 0xff);
    expect(r.regs).toEqual(b.regs);
  });
});

describe("the in-kernel PIC and PIT, and HLT blocking the vCPU thread", () => {
  it("gives the bare machine's results while the timer, PIC and HLT exits stay in the kernel", () => {
    const b = bare(TIMER);
    expect(b.stop).toEqual({ kind: "debug-exit", value: 3 });
    for (const hostLoad of [0, 1]) {
      const r = hosted(TIMER, { keepRecords: true, hostJobs: hostLoad ? ["cpu"] : [] });
      expect(guestVisible(r)).toEqual(b);
      const vm = r.system.vms[0]!;
      const picPit = r.records.filter((x) => /port 0x(2|4)[0-3] /.test(`${x.detail} `));
      expect(picPit.length).toBe(5 + 3 + 3); // PIC set-up, PIT set-up, one EOI per tick
      for (const x of picPit) {
        expect(x.handledIn).toBe("kernel");
        expect(x.handler).toMatch(/in-kernel (PIC|PIT)/);
      }
      const halts = r.records.filter((x) => (x.reason & 0xffff) === EXIT_REASON.HLT);
      expect(halts.length).toBeGreaterThanOrEqual(3);
      const blocked = halts.filter((x) => x.action === "block");
      expect(blocked.length).toBeGreaterThanOrEqual(3);
      for (const x of blocked) {
        expect(x.handledIn).toBe("kernel");
        expect(names(x)).toContain("blocked");
        expect(x.blocked).toBeGreaterThan(0);
      }
      expect(vm.vcpu!.stats.halts).toBe(blocked.length);
      // Only the console OUT and the debug exit went to user space.
      expect(vm.stats.userExits).toBe(2);
      if (hostLoad) {
        // While the vCPU thread slept, the host job had the CPU.
        expect(r.system.hostProgress()[0]!.progress).toBeGreaterThan(0);
      } else {
        // Nothing else to run: the CPU idles (HLT in the idle task) while the vCPU thread sleeps.
        expect(r.system.kernel.stats.idleCycles).toBeGreaterThan(3 * 200_000);
      }
    }
  });
});

describe("MMIO goes to user space", () => {
  it("an access outside guest RAM exits to the VMM, which has no device there: the VM stops as on type-1", () => {
    const image = asm(`
bits 32
org 0x100000
  mov eax, 0x1234
  mov [0x2000000], eax
  hlt
`);
    const r = hosted(image, { keepRecords: true });
    const t1 = type1(image);
    expect(r.stop).toEqual(t1.stop);
    expect((r.stop as { diagnostic: string }).diagnostic).toContain("outside its 16 MiB of RAM");
    const mmio = r.records.find((x) => x.info.guestPhysicalAddress === 0x2000000)!;
    expect(mmio.handledIn).toBe("user");
    expect(mmio.handler).toContain("MMIO write of 4 bytes at gpa 0x2000000");
    expect(names(mmio)).toEqual(["exit", "kernel", "to-user", "device-model"]);
    expect(hop(mmio, "kernel")).toBe(cost.hypervisor.dispatch + cost.hosted.mmioEmulation);
  });
});

describe("waiting for the CPU shows in the exit latency", () => {
  it("with a CPU-bound host job, some exits wait for host slices and their latency includes the wait", () => {
    const image = asm(`
bits 32
org 0x100000
  mov ecx, 3000
.p:
  mov al, '.'
  out 0xe9, al
  mov edx, 200
.w:
  dec edx
  jnz .w
  dec ecx
  jnz .p
  mov eax, 0
  out 0xf4, eax
`);
    const r = hosted(image, {
      keepRecords: true,
      hostJobs: ["cpu"],
      tickHz: 4000,
      scheduler: { latencyCycles: 1_500_000, minGranularityCycles: 500_000, wakeupGranularityCycles: 250_000 },
    });
    expect(r.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(r.console).toBe(".".repeat(3000));
    const waited = r.records.filter((x) => x.waited > 0);
    expect(waited.length).toBeGreaterThan(3);
    for (const x of r.records) {
      expect(x.latency).toBe(sum(x));
      expect(x.waited).toBe(x.hops.filter((h) => h.name === "wait").reduce((s, h) => s + h.cycles, 0));
    }
    // A wait is at least a good part of the host job's slice.
    expect(Math.max(...waited.map((x) => x.waited))).toBeGreaterThan(500_000);
    const totalWait = waited.reduce((s, x) => s + x.waited, 0);
    const job = r.system.hostProgress()[0]!;
    expect(job.progress).toBeGreaterThan(0);
    expect(totalWait).toBeLessThanOrEqual(job.runtime + r.system.kernel.stats.contextSwitches * 10_000);
    expect(totalWait).toBeGreaterThan(job.runtime / 2);
  });
});

describe("the block device model in the VMM process", () => {
  it("does its DMA through the VMM's own mapping of guest RAM, with type-1's results", () => {
    const image = asm(`
bits 32
org 0x100000
  mov dx, 0x6000
  mov eax, 1
  out dx, eax              ; SECTOR 1
  mov dx, 0x6004
  mov eax, 2
  out dx, eax              ; COUNT 2
  mov dx, 0x6008
  mov eax, 0x200000
  out dx, eax              ; BUFFER
  mov dx, 0x600c
  mov eax, 1
  out dx, eax              ; read
  in eax, dx               ; STATUS
  mov ebx, eax
  xor eax, eax
  mov esi, 0x200000
  mov ecx, 256
.sum:
  add eax, [esi]
  rol eax, 3
  add esi, 4
  dec ecx
  jnz .sum
  mov edi, eax
  mov dword [0x200000], 0xfeedface
  mov dx, 0x6000
  mov eax, 7
  out dx, eax              ; SECTOR 7
  mov dx, 0x6004
  mov eax, 1
  out dx, eax
  mov dx, 0x600c
  mov eax, 2
  out dx, eax              ; write
  mov eax, edi
  out 0xf4, eax
`);
    const disk = () => Uint8Array.from({ length: 16 * 512 }, (_, i) => (i * 7 + (i >>> 9)) & 0xff);
    const hv = new Hypervisor([{ name: "vm0", memoryMiB: 4, image, disk: disk() }]);
    hv.run({});
    const t1 = hv.vms[0]!;
    const r = hosted(image, { config: { memoryMiB: 4, disk: disk() } });
    const vm = r.system.vms[0]!;
    expect(r.stop).toEqual(t1.stop);
    expect(r.regs).toEqual(t1.finalRegs);
    expect(r.regs!.ebx & 3).toBe(2); // completed, no error
    const written = vm.user.devices.block!.disk;
    expect(Array.from(written.subarray(7 * 512, 7 * 512 + 4))).toEqual([0xce, 0xfa, 0xed, 0xfe]);
    expect(written).toEqual(t1.devices.block!.disk);
    expect(vm.stats.userExits).toBe(9); // 7 OUTs and 1 IN to the block device, the debug exit
  });
});
