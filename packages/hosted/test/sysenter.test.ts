// The two ways into the host kernel (programs.ts): the VMM process's system calls enter by SYSENTER
// and return by SYSEXIT, the host jobs' by INT 0x80 and IRETD; both build the same trap frame, and
// every path that resumes a process (the return of a system call, a VM exit that goes to user space,
// a KVM_RUN resumed after its vCPU thread was preempted or blocked, the idle task) leaves the kernel
// the way its frame says.
import { assembleOrThrow, VMCS } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { type HostedOptions, HostedSystem, type HostKernel, hostedLayout as L, type Process } from "../src/index.js";
import { assembleUser } from "../src/programs.js";
import { TIMER } from "./helpers.js";

/** A guest that never stops on its own: the runs with it end at a cycle limit. */
const SPIN = assembleOrThrow("bits 32\norg 0x100000\n.l:\n  jmp .l\n").bytes;
const ENOSYS = -L.ERRNO.ENOSYS >>> 0;
const IF = 0x200;
/** A system call no one serves: the KVM module's hook sees its frame, the caller gets -ENOSYS. */
const UNKNOWN_SYSCALL = 0x1ff;

/** How the CPU left the kernel's exit path, and where it went. */
interface Landing {
  how: "sysexit" | "iretd";
  pid: number;
  cpl: number;
  eip: number;
  esp: number;
  eax: number;
  eflags: number;
}

/** The addresses of the exit path's IRETD and SYSEXIT (checked against the kernel image's bytes). */
function exitInstructions(k: HostKernel): { iretd: number; sysexit: number } {
  const label = k.kernelImage.symbols.get("iret_to_user")!;
  const bytes = k.kernelImage.bytes;
  const iretd = label + 3; // after ADD ESP, 8
  expect(bytes[iretd - L.KERNEL_CODE]).toBe(0xcf);
  const sysexit = label - 2; // the SYSEXIT path falls through to it from the exit path's JNE
  expect([...bytes.subarray(sysexit - 1 - L.KERNEL_CODE, sysexit + 2 - L.KERNEL_CODE)]).toEqual([0xfb, 0x0f, 0x35]); // sti; sysexit
  return { iretd, sysexit };
}

/**
 * Records every return through the exit path: the state after its IRETD or SYSEXIT. An interrupt taken
 * at that very boundary (after SYSEXIT, whose STI shadow has ended) hides the landing: counted apart.
 */
function watchReturns(s: HostedSystem): { landings: Landing[]; interrupted: number } {
  const k = s.kernel;
  const vmx = k.machine.vmx;
  const { iretd, sysexit } = exitInstructions(k);
  const landings: Landing[] = [];
  const out = { landings, interrupted: 0 };
  let pending: Landing["how"] | null = null;
  k.cpu.hooks.exception = () => {
    if (pending) out.interrupted++;
    pending = null;
  };
  k.cpu.hooks.instruction = (cpu, eip) => {
    if (pending) {
      const r = cpu.regs;
      landings.push({
        how: pending,
        pid: k.current.pid,
        cpl: cpu.cpl,
        eip,
        esp: r[4]! >>> 0,
        eax: r[0]! >>> 0,
        eflags: cpu.getEflags(),
      });
      pending = null;
    }
    if (!vmx.nonRoot) pending = eip === sysexit ? "sysexit" : eip === iretd ? "iretd" : null;
    return undefined;
  };
  return out;
}

/** The trap frame of the current system call, word by word (layout.ts's FRAME). */
function frameOf(k: HostKernel, proc: Process): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, offset] of Object.entries(L.FRAME))
    out[name] = k.machine.memory.read32(proc.kernelEsp + offset) >>> 0;
  return out;
}

/** Frames and arguments of the system calls the KVM module's hook sees from `proc`. */
function captureSyscalls(k: HostKernel, proc: () => Process | undefined) {
  const seen: { nr: number; frame: Record<string, number>; args: number[] }[] = [];
  const next = k.hooks.syscall!;
  k.hooks.syscall = (p, nr, args) => {
    if (p === proc()) seen.push({ nr, frame: frameOf(k, p), args: [...args] });
    return next(p, nr, args);
  };
  return seen;
}

const SMALL_SLICES: HostedOptions = {
  tickHz: 4000,
  scheduler: { latencyCycles: 1_500_000, minGranularityCycles: 500_000, wakeupGranularityCycles: 250_000 },
};

const user = (body: string) =>
  assembleUser(`bits 32\norg 0x${L.USER_BASE.toString(16)}\nstart:\n${body}\nalign 4\nprogress: dd 0\n`, "test.asm");

/** The same unknown system call by INT 0x80 and by SYSENTER, with every register set, then the results kept. */
const BOTH_WAYS = user(`
    mov eax, ${UNKNOWN_SYSCALL}
    mov ebx, 0x11111111
    mov ecx, 0x22222222
    mov edx, 0x33333333
    mov esi, 0x44444444
    mov edi, 0x55555555
    mov ebp, 0x66666666
    int 0x80
after_int:
    mov [int_result], eax
    mov [int_ecx], ecx
    mov [int_edx], edx
    mov eax, ${UNKNOWN_SYSCALL}
    mov ecx, esp
    mov edx, after_sysenter
    sysenter
after_sysenter:
    mov [fast_result], eax
    mov [fast_esp], esp
    mov [fast_ebx], ebx
    mov [fast_esi], esi
    mov [fast_edi], edi
    mov [fast_ebp], ebp
    inc dword [progress]
    jmp start
align 4
int_result: dd 0
int_ecx: dd 0
int_edx: dd 0
fast_result: dd 0
fast_esp: dd 0
fast_ebx: dd 0
fast_esi: dd 0
fast_edi: dd 0
fast_ebp: dd 0`);

describe("system calls by INT 0x80 and by SYSENTER", () => {
  it("build the same trap frame (but its vector slot) and return by IRETD and by SYSEXIT", () => {
    const s = new HostedSystem([{ name: "vm", memoryMiB: 4, image: SPIN }], { hostJobs: [], ...SMALL_SLICES });
    const k = s.kernel;
    let proc: Process | undefined;
    const seen = captureSyscalls(k, () => proc);
    proc = k.spawn("both", "cpu", BOTH_WAYS);
    const { landings } = watchReturns(s);
    s.run({ maxCycles: 3_000_000 });
    expect(k.readSymbol32(proc, "progress")).toBeGreaterThan(2);
    const sym = (name: string) => proc!.symbol(name);
    const [byInt, byFast] = seen;
    const common = {
      EDI: 0x55555555,
      ESI: 0x44444444,
      EBP: 0x66666666,
      EBX: 0x11111111,
      EAX: UNKNOWN_SYSCALL,
      ES: L.UDATA,
      DS: L.UDATA,
      ERROR: 0,
      CS: L.UCODE,
      EFLAGS: 0x202,
      USER_ESP: L.USER_STACK_TOP,
      USER_SS: L.UDATA,
    };
    // PUSHAD's ESP slot: the kernel ESP before it, the same on both ways (the frame's size is the same).
    const espDummy = proc.kstackTop - L.USER_FRAME_SIZE + L.FRAME.ES;
    expect(byInt!.frame).toEqual({
      ...common,
      ESP_DUMMY: espDummy,
      ECX: 0x22222222,
      EDX: 0x33333333,
      VECTOR: L.SYSCALL_VECTOR,
      EIP: sym("after_int"),
    });
    expect(byInt!.args).toEqual([0x11111111, 0x22222222, 0x33333333]);
    expect(byFast!.frame).toEqual({
      ...common,
      ESP_DUMMY: espDummy,
      ECX: L.USER_STACK_TOP,
      EDX: sym("after_sysenter"),
      VECTOR: L.FAST_SYSCALL_VECTOR,
      EIP: sym("after_sysenter"),
    });
    // SYSENTER's second and third arguments are ESI and EDI (ECX and EDX carry ESP and EIP).
    expect(byFast!.args).toEqual([0x11111111, 0x44444444, 0x55555555]);
    // INT 0x80 keeps ECX and EDX; SYSEXIT returns to ECX's stack, keeps the other registers.
    expect(k.readSymbol32(proc, "int_result")).toBe(ENOSYS);
    expect(k.readSymbol32(proc, "int_ecx")).toBe(0x22222222);
    expect(k.readSymbol32(proc, "int_edx")).toBe(0x33333333);
    expect(k.readSymbol32(proc, "fast_result")).toBe(ENOSYS);
    expect(k.readSymbol32(proc, "fast_esp")).toBe(L.USER_STACK_TOP);
    for (const [name, v] of [
      ["fast_ebx", 0x11111111],
      ["fast_esi", 0x44444444],
      ["fast_edi", 0x55555555],
      ["fast_ebp", 0x66666666],
    ] as const)
      expect(k.readSymbol32(proc, name)).toBe(v);
    // The first return of each kind, as the CPU left the kernel.
    const mine = landings.filter((x) => x.pid === proc!.pid);
    const landed = (eip: number) => mine.find((x) => x.eip === eip);
    expect(landed(sym("after_int"))).toMatchObject({ how: "iretd", cpl: 3, esp: L.USER_STACK_TOP, eax: ENOSYS });
    expect(landed(sym("after_sysenter"))).toMatchObject({
      how: "sysexit",
      cpl: 3,
      esp: L.USER_STACK_TOP,
      eax: ENOSYS,
      eflags: 0x202,
    });
    // Every return to the process at a system call's label went the way its entry came.
    for (const x of mine) {
      if (x.eip === sym("after_int")) expect(x.how).toBe("iretd");
      if (x.eip === sym("after_sysenter")) expect(x.how).toBe("sysexit");
    }
  });
});

/** Computation between console writes, longer than a host time slice: the vCPU thread is preempted in KVM_RUN. */
const BUSY_PRINTER = assembleOrThrow(`
bits 32
org 0x100000
  mov edi, 8
.next:
  mov ecx, 200000
.spin:
  dec ecx
  jnz .spin
  mov al, '.'
  out 0xe9, al
  dec edi
  jnz .next
  mov eax, 8
  out 0xf4, eax
`).bytes;

describe.each([
  ["a halting guest, alone", TIMER, { hostJobs: [] }, { kind: "debug-exit", value: 3 }],
  [
    "a busy guest, with host jobs",
    BUSY_PRINTER,
    { hostJobs: ["cpu", "io"], ...SMALL_SLICES },
    { kind: "debug-exit", value: 8 },
  ],
] as const)("the VMM's KVM_RUN (%s)", (_, image, options, stop) => {
  it("returns by SYSEXIT after every wait: exits to user space, a blocked or preempted vCPU thread", () => {
    const s = new HostedSystem([{ name: "vm0", memoryMiB: 16, image }], options);
    const k = s.kernel;
    const vmm = s.vms[0]!.process;
    const syscalls = captureSyscalls(k, () => vmm);
    // The VMM process off the CPU inside KVM_RUN (its kernel continuation pending): blocked or preempted.
    const offCpuInKvmRun = { blocked: 0, preempted: 0 };
    const switchOut = k.hooks.switchOut;
    k.hooks.switchOut = (p) => {
      if (p === vmm && p.continuation !== null) offCpuInKvmRun[p.state === "blocked" ? "blocked" : "preempted"]++;
      switchOut?.(p);
    };
    const watched = watchReturns(s);
    s.run({ maxCycles: 1_000_000_000 });
    expect(s.vms[0]!.stop).toEqual(stop);
    const vcpu = s.vms[0]!.vcpu!;
    expect(offCpuInKvmRun.blocked).toBe(vcpu.stats.halts);
    if (image === TIMER) expect(vcpu.stats.halts).toBeGreaterThan(0);
    else expect(offCpuInKvmRun.preempted).toBeGreaterThan(0);
    // Each KVM_RUN came by SYSENTER with the frame of its label, and returned there by SYSEXIT.
    const runDone = vmm.symbol("run_done");
    const runFrames = syscalls.filter((x) => x.nr === L.SYS.KVM_RUN);
    expect(runFrames).toHaveLength(vcpu.stats.runCalls);
    for (const x of runFrames) {
      expect(x.frame).toMatchObject({ VECTOR: L.FAST_SYSCALL_VECTOR, EIP: runDone, CS: L.UCODE, USER_SS: L.UDATA });
    }
    const landings = watched.landings;
    const returns = landings.filter((x) => x.pid === vmm.pid && x.how === "sysexit" && x.eip === runDone);
    expect(watched.interrupted).toBe(0);
    expect(returns).toHaveLength(vcpu.stats.runCalls);
    for (const x of returns) {
      expect(x).toMatchObject({ cpl: 3, esp: L.USER_STACK_TOP, eax: 0 });
      expect(x.eflags & IF).toBe(IF);
    }
    // Every SYSEXIT lands in ring 3 after a VMM system call; IRETD, in the VMM, at its first entry or
    // after an interrupt, never after a system call.
    const afterSyscall = (eip: number) => [...vmm.symbols].some(([name, v]) => v === eip && name.endsWith("_done"));
    for (const x of landings) {
      if (x.how === "sysexit") expect(x.pid === vmm.pid && x.cpl === 3 && afterSyscall(x.eip)).toBe(true);
      else if (x.pid === vmm.pid) expect(afterSyscall(x.eip)).toBe(false);
    }
    expect(landings.some((x) => x.pid === vmm.pid && x.how === "iretd" && x.eip === L.USER_BASE)).toBe(true);
    // The idle task leaves the exit path by IRETD, to ring 0.
    const idle = landings.filter((x) => x.pid === 0);
    for (const x of idle) expect(x).toMatchObject({ how: "iretd", cpl: 0 });
  });
});

describe("the host's SYSENTER MSRs across VM exits", () => {
  it("are in the VMCS host-state area, which every VM exit loads them from", () => {
    const s = new HostedSystem([{ name: "vm0", memoryMiB: 16, image: TIMER }], { hostJobs: [] });
    const k = s.kernel;
    const cpu = k.cpu;
    const vmx = k.machine.vmx;
    const host = { cs: L.KCODE, esp: L.TSS_ESP0, eip: k.sysenterEntry };
    expect({ cs: cpu.sysenterCs, esp: cpu.sysenterEsp, eip: cpu.sysenterEip }).toEqual(host);
    s.run({ maxCycles: 1_000_000_000 });
    // The second KVM_RUN was a SYSENTER after VM exits (the 'T' and the debug exit go to user space).
    expect(s.vms[0]!.vcpu!.stats.runCalls).toBe(2);
    expect({
      cs: vmx.read(VMCS.HOST_IA32_SYSENTER_CS),
      esp: vmx.read(VMCS.HOST_IA32_SYSENTER_ESP),
      eip: vmx.read(VMCS.HOST_IA32_SYSENTER_EIP),
    }).toEqual(host);
    expect(vmx.read(VMCS.HOST_TR_SELECTOR)).toBe(L.TSS_SEL);
    expect({ cs: cpu.sysenterCs, esp: cpu.sysenterEsp, eip: cpu.sysenterEip }).toEqual(host);
    expect(k.kernelImage.symbols.get("sysenter_entry")).toBe(k.sysenterEntry);
  });
});
