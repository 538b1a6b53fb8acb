; guest-kernel.asm: a small but complete protected-mode kernel, the guest that vmxlab's demo,
; benchmarks and debugger tour run on the bare machine and under each hypervisor.
;
; What it does, in order:
;   1. loads its own GDT (ring-0 and ring-3 code/data, a TSS) and IDT (exceptions 0-31, the
;      timer IRQ, and the INT 0x80 system-call gate that ring 3 may use);
;   2. turns on two-level paging with an identity map of the first 4 MiB for the kernel;
;   3. remaps the PIC, programs the PIT for a periodic timer interrupt, and sets the SYSENTER MSRs;
;   4. creates two user processes. Each has its own page directory: both see their program at
;      0x40000000 and their stack below 0x40010000, backed by different physical pages;
;   5. runs them in ring 3, preempting them on every timer tick with a round-robin scheduler
;      (a context switch saves the registers, points TSS.ESP0 at the next kernel stack, loads CR3
;      and returns with IRET);
;   6. serves their system calls -- exit, write, getpid, yield -- through INT 0x80, and getpid
;      also through SYSENTER/SYSEXIT;
;   7. once both have exited, prints what each wrote and a summary, then writes 0 to port 0xF4.
;
; Deterministic output: the two processes really run interleaved, and how they interleave depends
; on timing (which differs on the bare machine, under EPT or shadow paging, hosted...). So write()
; does not print immediately: the kernel keeps each process's output in a buffer of its own (think
; of one terminal per process) and prints the buffers in process-id order at the end. The console
; text is therefore identical in every configuration; the timing-dependent numbers (timer ticks,
; context switches) stay in memory (stat_ticks, stat_switches, ...) for tests and the debugger.
;
; Boot contract (see packages/cpu): loaded at 0x100000 and entered here in 32-bit protected mode,
; paging off, CS = 0x08 and the data segments 0x10 with flat descriptors already in the caches, but
; GDTR and IDTR empty, interrupts off and ESP = 0 -- so the very first thing is a stack.
;
; Files: kernel/defs.inc (constants and structure layouts), then one file per subsystem.
; Register conventions inside the kernel are given at each routine; the kernel never runs with
; interrupts enabled (interrupt gates clear IF), so no kernel code is ever preempted.

bits 32
%include "kernel/defs.inc"
org KERNEL_BASE                         ; the boot contract loads us at 0x100000

; =============================================================================================
; Entry point
; =============================================================================================
start:
    cli                                 ; (already clear at boot; a kernel says so anyway)
    mov esp, BOOT_STACK_TOP             ; ESP is 0 at boot: we need a stack before any CALL
    cld                                 ; string instructions count upwards everywhere

    ; Which processor is this? CPUID leaf 0 gives the vendor string in EBX, EDX, ECX ("GenuineIntel"
    ; on Intel hardware, "VMXLAB-IA-32" on the emulated CPU); in a VM, CPUID always exits and the
    ; hypervisor answers with its own name. Kept in memory for the debugger tour; nothing uses it.
    xor eax, eax
    cpuid
    mov [cpu_vendor], ebx
    mov [cpu_vendor + 4], edx
    mov [cpu_vendor + 8], ecx

    ; Zero the kernel's memory above the image (IDT, TSS, page tables, process memory). RAM is
    ; zero at power-on, but a kernel should not rely on it (a hypervisor may hand out used pages).
    mov edi, BSS_START
    mov ecx, (BSS_END - BSS_START) / 4
    xor eax, eax
    rep stosd

    call gdt_init                       ; kernel/descriptors.inc
    call idt_init
    call tss_init
    call paging_init                    ; kernel/paging.inc
    call pic_init                       ; kernel/timer.inc
    call sysenter_init                  ; kernel/syscall.inc

    mov esi, msg_banner
    call kputs

    ; Create the two processes. Both run the one user image (kernel/user.inc), each from its own
    ; entry point; spawn gives each its own copy and its own address space.
    mov eax, UVA(prog_a)
    call spawn                          ; pid 1
    mov eax, UVA(prog_b)
    call spawn                          ; pid 2
    mov esi, msg_started
    call kputs

    ; Start the timer last, so that the first tick finds the processes ready, then enter the first
    ; process exactly as if it were returning from an interrupt: switch to its address space and
    ; kernel stack and IRET through the trap frame spawn built (trap_return, kernel/trap.inc).
    call pit_init
    mov ebx, procs                      ; process table slot 0 = pid 1
    call activate
    mov esp, [ebx + P_TF]
    jmp trap_return

%include "kernel/console.inc"
%include "kernel/descriptors.inc"
%include "kernel/paging.inc"
%include "kernel/timer.inc"
%include "kernel/trap.inc"
%include "kernel/proc.inc"
%include "kernel/syscall.inc"

; =============================================================================================
; Kernel data (initialized; the large zeroed structures live at BSS_START, see kernel/defs.inc).
; It starts on a fresh page: keeping written data off the pages that hold code is good practice
; on any x86 (a write near code forces the CPU to check for self-modifying code, and the emulator
; then throws away the instructions it decoded on that page).
; =============================================================================================
align 4096, db 0
current:        dd 0                    ; the running process's table entry (0 before the first)
next_pid:       dd 1
; Statistics, for tests and the debugger. The first two depend on timing, so they are never printed.
stat_ticks:     dd 0                    ; timer interrupts taken
stat_switches:  dd 0                    ; context switches (from one process to another)
stat_syscalls:  dd 0                    ; system calls through INT 0x80
stat_sysenter:  dd 0                    ; system calls through SYSENTER
cpu_vendor:     times 12 db 0           ; CPUID leaf 0's vendor string (see start)

procs:          times NPROC * PROC_SIZE db 0
procs_end:

msg_banner:     db "vmxlab guest kernel: GDT, TSS, IDT, paging, PIC and PIT ready", 10, 0
msg_started:    db "kernel: 2 user processes at 0x40000000, each in its own address space", 10, 0

; =============================================================================================
; The user program: copied into each process, runs in ring 3 at USER_BASE.
; =============================================================================================
%include "kernel/user.inc"

kernel_end:
; Build-time checks (an assembly error here means the image outgrew its place in the memory map).
    times -((kernel_end - $$) > KERNEL_IMAGE_MAX) db 0
    times -((user_image_end - user_image) > USER_IMAGE_MAX) db 0
