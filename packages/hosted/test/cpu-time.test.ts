// Where a hosted system's modeled cycles go (src/cpu-time.ts): every cycle is charged exactly once, to
// the guest, the KVM module, the rest of the host kernel, a VMM process's user space, another host
// process or the idle CPU; and each kind of exit lands where its work is done.
import { assembleOrThrow, COST_MODELS } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { type HostedOptions, HostedSystem, type HostTime } from "../src/index.js";
import { hosted, MAX_CYCLES, TIMER } from "./helpers.js";

const cost = COST_MODELS.recent!;
const asm = (source: string) => assembleOrThrow(source).bytes;
const loop = (n: number, body: string) =>
  asm(`
bits 32
org 0x100000
  mov edi, ${n}
.again:
${body}
  dec edi
  jnz .again
  mov eax, 0x2a
  out 0xf4, eax
`);
const cpuidLoop = (n: number) => loop(n, "  mov eax, 1\n  cpuid");
const outLoop = (n: number) => loop(n, "  mov dx, 0x3f8\n  mov al, 0x41\n  out dx, al");
/** A guest that spins between console writes: long enough for host time slices. */
const slowPrinter = (n: number) => loop(n, "  mov al, '.'\n  out 0xe9, al\n  mov edx, 200\n.w:\n  dec edx\n  jnz .w");
const SMALL_SLICES: HostedOptions = {
  tickHz: 4000,
  scheduler: { latencyCycles: 1_500_000, minGranularityCycles: 500_000, wakeupGranularityCycles: 250_000 },
};

const parts = (t: HostTime) => t.guest + t.kvm + t.hostKernel + t.userVmm + t.otherProcesses + t.idle;

/** The accounting invariants of a finished system. */
function expectExact(system: HostedSystem): HostTime {
  const t = system.time();
  expect(t.total).toBe(system.cycles);
  expect(parts(t)).toBe(t.total);
  const k = system.kernel;
  for (const p of k.processes) {
    const pt = k.timeOf(p);
    expect(pt.guest + pt.kvm + pt.kernel + pt.user + pt.idle).toBe(p.runtime);
    if (p.kind !== "vmm") expect(pt.guest + pt.kvm).toBe(0);
    if (p !== k.idle) expect(pt.idle).toBe(0);
  }
  expect(k.timeOf(k.idle).user).toBe(0);
  for (const vm of system.vms) {
    const s = vm.stats;
    expect(s.guestCycles).toBe(vm.vcpu!.vm.stats.guestCycles);
    expect(s.runtime).toBe(vm.process.runtime);
    expect(s.guestCycles + s.kernelCycles + s.userCycles + s.hostKernelCycles).toBe(s.runtime);
    expect(s.hypervisorCycles).toBe(s.runtime - s.guestCycles);
  }
  expect(t.userVmm).toBe(system.vms.reduce((sum, vm) => sum + vm.stats.userCycles, 0));
  expect(t.idle + k.timeOf(k.idle).kernel).toBe(k.stats.idleCycles);
  return t;
}

const run = (image: Uint8Array, exitValue = 0x2a, options: HostedOptions = {}) => {
  const r = hosted(image, options);
  expect(r.stop).toEqual({ kind: "debug-exit", value: exitValue });
  return { t: expectExact(r.system), r };
};

describe("the hosted time breakdown", () => {
  it("a CPUID loop stays in the kernel module: no user-space VMM time beyond start-up", () => {
    const one = run(cpuidLoop(1)).t;
    const many = run(cpuidLoop(201)).t;
    expect(many.userVmm).toBe(one.userVmm);
    expect(many.hostKernel).toBe(one.hostKernel);
    expect(many.otherProcesses + many.idle).toBe(0);
    // Each more exit: exactly the type-1 round trip (exit, dispatch, CPUID handler, entry) in the module.
    expect(many.kvm - one.kvm).toBe(
      200 * (cost.vmx.vmExit + cost.hypervisor.dispatch + cost.hypervisor.cpuid + cost.vmx.vmEntry),
    );
    expect(many.guest).toBeGreaterThan(one.guest);
  });

  it("an OUT loop puts each exit's device work in the user-space VMM, its system call in the host kernel", () => {
    const [a, b, c] = [1, 2, 3].map((n) => run(outLoop(n)).t) as [HostTime, HostTime, HostTime];
    const step = (f: (t: HostTime) => number) => {
      expect(f(c) - f(b)).toBe(f(b) - f(a));
      return f(b) - f(a);
    };
    // The module: exit, dispatch, the port-I/O decode, KVM_RUN's return and entry, TR reload, entry.
    const h = cost.hosted;
    expect(step((t) => t.kvm)).toBe(
      cost.vmx.vmExit +
        cost.hypervisor.dispatch +
        cost.hypervisor.portIo +
        h.kernelToUser +
        h.userToKernel +
        cost.instructions.system +
        cost.vmx.vmEntry,
    );
    // User space: the device-model dispatch, the library OUT and the VMM loop's own instructions.
    const user = step((t) => t.userVmm);
    expect(user).toBeGreaterThan(h.userspaceDeviceDispatch + cost.instructions.portIo);
    expect(user).toBeLessThan(h.userspaceDeviceDispatch + cost.instructions.portIo + 200);
    // The host kernel: SYSENTER into the kernel and the exit path back to ring 3 (but its SYSEXIT,
    // which completes at ring 3: user time).
    const kernel = step((t) => t.hostKernel);
    expect(kernel).toBeGreaterThan(cost.instructions.fastSystemCall);
    expect(kernel).toBeLessThan(h.syscall + 400);
    expect(step((t) => t.otherProcesses + t.idle)).toBe(0);
  });

  it("with host load: the jobs' ring-3 time is theirs, scheduler ticks and context switches the host kernel's", () => {
    const { t, r } = run(slowPrinter(800), 0x2a, { hostJobs: ["cpu", "io"], ...SMALL_SLICES });
    const k = r.system.kernel;
    const jobs = r.system.hostProcesses;
    expect(t.otherProcesses).toBe(jobs.reduce((sum, p) => sum + k.timeOf(p).user, 0));
    expect(t.otherProcesses).toBeGreaterThan(t.total / 4);
    // The io job's requests are system calls: kernel time of its own.
    expect(k.timeOf(jobs[1]!).kernel).toBeGreaterThan(k.stats.contextSwitches);
    // The kernel's modeled work is at least its context switches and timer interrupts.
    expect(k.stats.contextSwitches).toBeGreaterThan(5);
    expect(t.hostKernel).toBeGreaterThan(
      k.stats.contextSwitches * cost.hosted.contextSwitch + k.stats.timerInterrupts * cost.hosted.schedulerTick,
    );
  });

  it("a halted guest leaves the CPU idle; the idle loop's interrupts are host kernel time", () => {
    const { t, r } = run(TIMER, 3);
    // Three PIT periods of 100 counts (about 250,000 cycles each) are spent halted, less the wake-ups.
    expect(t.idle).toBeGreaterThan(3 * 200_000);
    expect(t.idle).toBeLessThan(t.total);
    expect(r.system.kernel.timeOf(r.system.kernel.idle).kernel).toBeGreaterThan(0);
  });

  it("several VMs: each VMM process's time is its own, and all of it adds up", () => {
    const system = new HostedSystem(
      [
        { name: "io", memoryMiB: 4, image: outLoop(300) },
        { name: "cpuid", memoryMiB: 4, image: cpuidLoop(300) },
      ],
      { hostJobs: ["cpu"], ...SMALL_SLICES },
    );
    system.run({ maxCycles: MAX_CYCLES });
    for (const vm of system.vms) expect(vm.stop).toEqual({ kind: "debug-exit", value: 0x2a });
    const t = expectExact(system);
    const [io, cpuid] = system.vms.map((vm) => vm.stats);
    expect(io!.userCycles).toBeGreaterThan(300 * cost.hosted.userspaceDeviceDispatch);
    expect(cpuid!.userCycles).toBeLessThan(cost.hosted.userspaceDeviceDispatch * 3);
    expect(t.kvm).toBe(io!.kernelCycles + cpuid!.kernelCycles);
  });
});
