/*
 * crt0.S - entry point for vmxlab freestanding test programs (IA-32, GAS syntax).
 *
 * Machine contract (see README.md): the ELF is loaded at its physical
 * addresses, paging is off, segments are flat, and execution starts here
 * with every general register (ESP included) equal to 0, EFLAGS = 0x2
 * and interrupts disabled.
 *
 * We:  1. switch to a private 64 KiB stack in .bss,
 *      2. zero .bss (the loader already does, but do not rely on it),
 *      3. call main(),
 *      4. write main's return value to port 0xF4 with a 32-bit OUT
 *         (this ends the run; the value is the exit status),
 *      5. fall back to `cli; hlt` forever if the OUT did not stop us.
 */

#define STACK_SIZE 0x10000

    .section .text.start, "ax"
    .code32
    .globl _start
    .type _start, @function
_start:
    /* Stack first: nothing below may push before this. */
    movl    $__stack_top, %esp
    xorl    %ebp, %ebp              /* terminate frame-pointer chains */
    cld                             /* string ops count upwards (SysV ABI) */

    /* Zero .bss (dword-aligned by link.ld; the stack is in .bss too, but
     * nothing lives on it yet). */
    movl    $__bss_start, %edi
    movl    $__bss_end, %ecx
    subl    %edi, %ecx
    shrl    $2, %ecx
    xorl    %eax, %eax
    rep stosl

    call    main

    /* Exit: 32-bit OUT of main's return value to port 0xF4. */
    movw    $0xF4, %dx
    outl    %eax, %dx

1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

    /* The stack: 64 KiB, 16-byte aligned so that ESP % 16 == 12 on entry
     * to main() (the i386 SysV expectation gcc's code is built for). */
    .section .bss.stack, "aw", @nobits
    .balign 16
__stack_bottom:
    .skip   STACK_SIZE
    .globl __stack_top
__stack_top:

    /* Non-executable stack marker for the linker (link.ld discards notes). */
    .section .note.GNU-stack, "", @progbits
