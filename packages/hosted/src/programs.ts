// The machine code of the host: the kernel's ring-0 entry and exit paths, and the ring-3 programs its
// processes run (the user-space VMM loop, a CPU-bound job, an I/O-bound job). All of it is assembled
// with the project's assembler and executed by the emulated CPU; only what runs at the marked OUT
// instructions is TypeScript.
//
// System calls enter the kernel two ways, as on 32-bit Linux: INT 0x80 through the IDT (the host jobs),
// and SYSENTER (the VMM process, as glibc does through the vDSO's __kernel_vsyscall on Intel CPUs).
// The SYSENTER ABI (layout.ts): EAX = number, EBX, ESI, EDI = arguments, ECX = the caller's ESP, EDX =
// the EIP to return to; ECX and EDX come back clobbered. Both entries build the same trap frame (only
// its vector slot differs: FAST_SYSCALL_VECTOR), and the common exit returns from a SYSENTER frame by
// SYSEXIT and from any other by IRETD (Linux's "opportunistic SYSEXIT").

import { assembleOrThrow } from "@vmxlab/cpu";
import {
  ERROR_CODE_VECTORS,
  FAST_SYSCALL_VECTOR,
  FRAME,
  GUEST_RAM_ADDR,
  IRQ_BASE,
  KDATA,
  KERNEL_CODE,
  KERNEL_UPCALL_PORT,
  KVM_EXIT,
  KVM_RUN,
  KVM_RUN_ADDR,
  REGION,
  SYS,
  SYSCALL_VECTOR,
  UCODE,
  UDATA,
  USER_BASE,
  VMM_LIB,
  VMM_LIB_PORT,
} from "./layout.js";

export interface Assembled {
  bytes: Uint8Array;
  symbols: Map<string, number>;
}

/** Vectors with an entry stub: the exceptions, the 16 PIC IRQs and the system call. */
export const STUB_VECTORS: readonly number[] = [
  ...Array.from({ length: 32 }, (_, k) => k),
  ...Array.from({ length: 16 }, (_, k) => IRQ_BASE + k),
  SYSCALL_VECTOR,
];

const hex = (n: number) => `0x${n.toString(16)}`;
const EFLAGS_IF = 0x200;

/**
 * The kernel's ring-0 code. Each vector's stub pushes a dummy error code when the CPU pushes none,
 * then the vector, and joins `common`, which saves the interrupted context (DS, ES, PUSHAD) on the
 * kernel stack and hands over to the TypeScript kernel with an OUT to the upcall port. SYSENTER lands
 * at `sysenter_entry`, which pushes what INT 0x80 would have pushed and joins `common` too. Every
 * process that is not running sits on its own kernel stack at `ret_to_user` with such a frame: a
 * context switch is a change of ESP (plus CR3 and TSS.ESP0), as in any kernel; the SYSEXIT or IRETD at
 * the end returns to ring 3 (or, IRETD, to the idle loop).
 */
export function kernelSource(): string {
  const lines = ["bits 32", `org ${hex(KERNEL_CODE)}`, "", "; ---- one stub per vector ----"];
  for (const v of STUB_VECTORS) {
    lines.push(`vec_${v}:`);
    if (!ERROR_CODE_VECTORS.has(v)) lines.push("    push 0");
    lines.push(`    push ${hex(v)}`, "    jmp common");
  }
  lines.push(
    "",
    "; ---- IA32_SYSENTER_EIP: CS = KCODE, SS = KDATA, IF clear, ESP = IA32_SYSENTER_ESP = &TSS.ESP0 ----",
    "sysenter_entry:",
    "    mov esp, [esp]              ; the process's kernel stack, as Linux's entry_SYSENTER_32",
    "    ; the frame INT 0x80 pushes: user SS and ESP, EFLAGS, user CS and EIP, error code, vector",
    `    push ${hex(UDATA)}`,
    "    push ecx",
    "    pushfd",
    `    or dword [esp], ${hex(EFLAGS_IF)}       ; SYSENTER cleared IF; the caller had it set`,
    `    push ${hex(UCODE)}`,
    "    push edx",
    "    push 0",
    `    push ${hex(FAST_SYSCALL_VECTOR)}`,
    "    ; (on into common)",
    "",
    "; ---- the common entry: save the context, enter the kernel's logic ----",
    "common:",
    "    push ds",
    "    push es",
    "    pushad",
    `    mov ax, ${hex(KDATA)}`,
    "    mov ds, ax",
    "    mov es, ax",
    `    out ${hex(KERNEL_UPCALL_PORT)}, al    ; the TypeScript kernel runs here (trap frame at ESP)`,
    "",
    "; ---- the common exit: every process resumes here, on its own kernel stack ----",
    "ret_to_user:",
    "    popad",
    "    pop es",
    "    pop ds",
    `    cmp dword [esp], ${hex(FAST_SYSCALL_VECTOR)}`,
    "    jne iret_to_user            ; (the SYSEXIT path, the frequent one, falls through)",
    "; A frame from SYSENTER returns by SYSEXIT (ESP from ECX, EIP from EDX). EFLAGS is restored with IF",
    "; clear and STI sets it: its one-instruction interrupt shadow covers SYSEXIT, so the next interrupt",
    "; is taken in ring 3, as after IRETD, never on a kernel stack whose frame is half popped.",
    `    mov edx, [esp + ${FRAME.EIP - FRAME.VECTOR}]`,
    `    mov ecx, [esp + ${FRAME.USER_ESP - FRAME.VECTOR}]`,
    `    add esp, ${FRAME.EFLAGS - FRAME.VECTOR}                 ; to EFLAGS`,
    `    and dword [esp], ${hex(~EFLAGS_IF >>> 0)}`,
    "    popfd",
    "    sti",
    "    sysexit",
    "iret_to_user:",
    "    add esp, 8                  ; vector and error code",
    "    iretd",
    "",
    "; ---- HOST_RIP: where every VM exit lands (the KVM module's exit path), with ESP = HOST_RSP =",
    ";      the trap frame of the VMM process's KVM_RUN call. Returning to user space continues here. ----",
    "vmx_vmexit:",
    "    jmp ret_to_user",
    "",
    "; ---- the idle task ----",
    "idle_loop:",
    "    sti",
    "    hlt",
    "    jmp idle_loop",
  );
  return `${lines.join("\n")}\n`;
}

let kernelImage: Assembled | null = null;

export function assembleKernel(): Assembled {
  if (!kernelImage) {
    const r = assembleOrThrow(kernelSource(), { fileName: "host-kernel.asm" });
    kernelImage = { bytes: r.bytes, symbols: r.symbols };
  }
  return kernelImage;
}

const userHeader = (name: string) => [`; ${name}`, "bits 32", `org ${hex(USER_BASE)}`, ""];

/**
 * Where a program's data starts: a page of its own, as a linker puts .data apart from .text. A store into
 * the page of running code makes the CPU drop and decode that page's code again (self-modifying code).
 */
const DATA_SECTION = "align 4096";

/**
 * A system call by SYSENTER (EAX, EBX, ESI, EDI set by the caller): ECX = ESP, EDX = `back`, the
 * label after it, where SYSEXIT returns (ECX and EDX are clobbered).
 */
const fastSyscall = (back: string) => ["    mov ecx, esp", `    mov edx, ${back}`, "    sysenter", `${back}:`];

/**
 * The user-space VMM (kvmtool/QEMU-like), one process per VM: mmap the guest's RAM, create the VM,
 * register the memory, create the vCPU, load the image (library code), set the registers, then
 * loop: KVM_RUN, dispatch on kvm_run.exit_reason to the device models (library code), run again.
 * Every system call is a SYSENTER (fastSyscall), as glibc's through the vDSO. A device-model failure
 * ends in UD2, as abort() would: the kernel kills the process.
 */
export function vmmSource(guestRamBytes: number): string {
  return `${[
    ...userHeader("vmm: the user-space VMM loop"),
    "start:",
    `    mov eax, ${hex(SYS.MMAP)}`,
    `    mov ebx, ${hex(GUEST_RAM_ADDR)}`,
    `    mov esi, ${guestRamBytes}`,
    ...fastSyscall("mmap_done"),
    "    test eax, eax",
    "    jnz fail",
    `    mov eax, ${hex(SYS.KVM_CREATE_VM)}`,
    ...fastSyscall("create_vm_done"),
    "    test eax, eax",
    "    js fail",
    "    mov [vmfd], eax",
    `    mov eax, ${hex(SYS.KVM_SET_USER_MEMORY_REGION)}`,
    "    mov ebx, [vmfd]",
    "    mov esi, region",
    ...fastSyscall("set_memory_done"),
    "    test eax, eax",
    "    jnz fail",
    `    mov eax, ${hex(SYS.KVM_CREATE_VCPU)}`,
    "    mov ebx, [vmfd]",
    ...fastSyscall("create_vcpu_done"),
    "    test eax, eax",
    "    js fail",
    "    mov [vcpufd], eax",
    `    mov eax, ${VMM_LIB.LOAD_IMAGE}`,
    "    mov ebx, regs",
    `    out ${hex(VMM_LIB_PORT)}, eax    ; library: load the guest image`,
    "    test eax, eax",
    "    jnz fail",
    `    mov eax, ${hex(SYS.KVM_SET_REGS)}`,
    "    mov ebx, [vcpufd]",
    "    mov esi, regs",
    ...fastSyscall("set_regs_done"),
    "    test eax, eax",
    "    jz run",
    "    jmp fail",
    "; The loop is laid out so that its frequent path (an I/O exit) falls through its conditional",
    "; branches, as a compiler lays out likely code: the emulator's blocks go on past a forward branch",
    "; that is not taken.",
    "hypercall:",
    `    mov eax, ${VMM_LIB.HYPERCALL}`,
    "device:",
    `    out ${hex(VMM_LIB_PORT)}, eax    ; library: the device models`,
    "    test eax, eax",
    "    jnz device_done",
    "run:",
    `    mov eax, ${hex(SYS.KVM_RUN)}`,
    "    mov ebx, [vcpufd]",
    ...fastSyscall("run_done"),
    "    test eax, eax",
    "    jnz fail",
    `    mov eax, [${hex(KVM_RUN_ADDR + KVM_RUN.EXIT_REASON)}]    ; kvm_run.exit_reason`,
    `    cmp eax, ${KVM_EXIT.IO}`,
    "    jne .not_io",
    `    mov eax, ${VMM_LIB.IO}`,
    "    jmp device",
    ".not_io:",
    `    cmp eax, ${KVM_EXIT.MMIO}`,
    "    je .mmio",
    `    cmp eax, ${KVM_EXIT.HYPERCALL}`,
    "    je hypercall",
    `    mov eax, ${VMM_LIB.VM_STOPPED}`,
    `    out ${hex(VMM_LIB_PORT)}, eax    ; library: the VM stopped`,
    "    jmp exit",
    ".mmio:",
    `    mov eax, ${VMM_LIB.MMIO}`,
    "    jmp device",
    "device_done:",
    "    js abort",
    "    jmp exit                     ; the guest powered the VM off",
    "fail:",
    "    mov ebx, 1",
    "    jmp exit_with",
    "abort:",
    "    ud2                          ; abort()",
    "exit:",
    "    xor ebx, ebx",
    "exit_with:",
    `    mov eax, ${hex(SYS.EXIT)}`,
    ...fastSyscall("exit_done"),
    "    jmp exit_with",
    "",
    DATA_SECTION,
    "vmfd: dd 0",
    "vcpufd: dd 0",
    `region: dd 0, 0, 0, ${guestRamBytes}, ${hex(GUEST_RAM_ADDR)}    ; slot, flags, gpa, size, hva`,
    "regs: times 10 dd 0",
  ].join("\n")}\n`;
}

// Keep the struct offsets in the source honest.
if (REGION.SIZE !== 12 || REGION.HVA !== 16) throw new Error("kvm_userspace_memory_region layout changed");

/** A CPU-bound job: xorshift rounds forever; `progress` counts completed batches of 64 rounds. */
export function cpuBoundSource(): string {
  return `${[
    ...userHeader("cpu-bound host job"),
    "start:",
    "    mov esi, 0x2545f491",
    ".batch:",
    "    mov ecx, 64",
    ".round:",
    "    mov eax, esi",
    "    shl eax, 13",
    "    xor esi, eax",
    "    mov eax, esi",
    "    shr eax, 17",
    "    xor esi, eax",
    "    mov eax, esi",
    "    shl eax, 5",
    "    xor esi, eax",
    "    dec ecx",
    "    jnz .round",
    "    inc dword [progress]",
    "    jmp .batch",
    DATA_SECTION,
    "progress: dd 0",
  ].join("\n")}\n`;
}

/** An I/O-bound job: a short computation, then a disk request it waits for; `progress` counts completed requests. */
export function ioBoundSource(burstIterations = 500): string {
  return `${[
    ...userHeader("i/o-bound host job"),
    "start:",
    "    mov esi, 0x9e3779b9",
    ".request:",
    `    mov ecx, ${burstIterations}`,
    ".compute:",
    "    mov eax, esi",
    "    shl eax, 7",
    "    add esi, eax",
    "    dec ecx",
    "    jnz .compute",
    `    mov eax, ${hex(SYS.IO_WAIT)}`,
    "    int 0x80",
    "    inc dword [progress]",
    "    jmp .request",
    DATA_SECTION,
    "progress: dd 0",
  ].join("\n")}\n`;
}

const userPrograms = new Map<string, Assembled>();

export function assembleUser(source: string, fileName: string): Assembled {
  let a = userPrograms.get(source);
  if (!a) {
    const r = assembleOrThrow(source, { fileName });
    a = { bytes: r.bytes, symbols: r.symbols };
    userPrograms.set(source, a);
  }
  return a;
}
