; Compiled blocks (packages/cpu/src/isa/block-compiler.ts): a loop that is one block branching to itself
; runs many iterations inside one compiled function and must still take each interrupt at the right
; instruction. (What it leaves depends on when the timer fires, so the hypervisor tests, whose exits move
; the ticks, do not rerun it.)
%include "lib.inc"
%include "timer.inc"

; EBX counts the iterations of a tight loop (one block branching to itself: compiled blocks run it
; inside one function) until %1 timer ticks were taken; its first instruction is the label .loop.
%macro TICK_LOOP 1
.loop:
    add ebx, 1
    mov [SCRATCH + 0x200], ebx
    cmp dword [TICKS], %1
    jb .loop
%endmacro

; The timer is programmed with interrupts already on, so the PIT's event moves inside a burst: the loop
; after it must still take the first tick at the instruction where it falls due, not at a later block end.
blocks_timer_set_in_burst:
    START
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 1
    xor ebx, ebx
    sti
    nop
    mov ecx, 3
    call timer_init
    TICK_LOOP 1
    cli
    DONE

; The tight loop with a tick every ~50000 cycles: each tick is taken between two of its instructions.
blocks_timer_loop:
    START
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 8
    mov ecx, 20
    call timer_init
    xor ebx, ebx
    sti
    TICK_LOOP 8
    cli
    DONE
