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
    TIMER_TICKS 8, 20
    xor ebx, ebx
    sti
    TICK_LOOP 8
    cli
    DONE

; Every iteration misses the TLB (four new pages; the whole TLB flushed at each wrap): the page walks add
; cycles inside the block, after the run loop found that it fits before the next tick. Each tick must
; still be taken at the instruction where it falls due, as between single steps.
blocks_timer_walks:
    START
    SET_GATE 0x20, irq0, INT_GATE
    call paging_identity
    call paging_on
    mov dword [TICK_MAX], 8
    mov ecx, 3
    call timer_init
    xor ebx, ebx
    mov esi, 0x400000
    sti
.loop:
    mov eax, [esi]
    mov eax, [esi + 0x1000]
    mov eax, [esi + 0x2000]
    mov eax, [esi + 0x3000]
    add esi, 0x4000
    cmp esi, 0x800000
    jb .same
    mov esi, 0x400000
    mov eax, cr3
    mov cr3, eax
.same:
    add ebx, 1
    cmp dword [TICKS], 8
    jb .loop
    cli
    DONE

; A REP STOSD inside the loop: its iterations add cycles no block can foresee, and a tick that falls due
; during it is taken right after it, before the next instruction.
blocks_timer_rep:
    START
    TIMER_TICKS 8, 3
    xor ebx, ebx
    cld
    sti
.loop:
    mov edi, SCRATCH + 0x400
    mov ecx, 37
    xor eax, eax
    rep stosd
    add ebx, 1
    add ebx, 1
    cmp dword [TICKS], 8
    jb .loop
    cli
    DONE

; Each MOV CR3 flushes the TLB, so fetching the block after it walks the page tables: a tick that falls
; due during that fetch is taken after the block's first instruction, as between single steps.
blocks_timer_fetch_walks:
    START
    SET_GATE 0x20, irq0, INT_GATE
    call paging_identity
    call paging_on
    mov dword [TICK_MAX], 16
    mov ecx, 2
    call timer_init
    xor ebx, ebx
    sti
.loop:
    mov eax, cr3
    mov cr3, eax
    add ebx, 1
    add ebx, 1
    cmp dword [TICKS], 16
    jb .loop
    cli
    DONE

; A JMP to a place in the same page does not end its block: the loop below is one block, from .loop
; through the three jumps to the JB, and runs compiled. Each tick must still be taken at the instruction
; where it falls due, also at a jump's target.
blocks_jmp_follow:
    START
    TIMER_TICKS 8, 3
    xor ebx, ebx
    sti
.loop:
    add ebx, 1
    jmp .fwd
.back:
    add ebx, 2
    jmp .tail
.fwd:
    add ebx, 3
    mov [SCRATCH + 0x200], ebx
    jmp .back
.tail:
    cmp dword [TICKS], 8
    jb .loop
    cli
    DONE

; A fault at a followed jump's target is reported at that instruction, after the ones before it ran
; (a Jcc that was not taken among them); a jump back to the block's start ends the block (the loop is
; not unrolled).
blocks_jmp_fault:
    START
    call paging_identity
    call paging_on
    RESUME .after
    xor ebx, ebx
    mov edi, 0x800000 - 4 * 50
.loop:
    inc ebx
    cmp ebx, 1000
    jae .after                  ; forward, never taken here: the block goes on after it
    jmp .store
    ud2                         ; never runs: the jump skips it
.store:
    mov [edi], ebx
    add edi, 4
    jmp .loop
.after:
    DONE

; MOV to DS or ES does not end its block (only a load of SS does, for its interrupt shadow): a #GP from a
; selector past the GDT limit in the middle of a block is reported at that MOV, with the loads before it done.
blocks_mov_ds_fault:
    START
    RESUME .after
    xor ecx, ecx
    mov eax, KDATA
    mov ebx, GDT_LIMIT_BAD
.loop:
    mov ds, ax
    add ecx, 1
    mov es, ax
    cmp ecx, 40
    jb .loop
    add ecx, 0x100
.bad:
    mov es, bx
    add ecx, 0x1000             ; never runs: the handler resumes at .after
.after:
    DONE

; A Jcc that branches forward does not end its block: the block goes on after it, and when it is taken
; it leaves the block there (a side exit). The loop below is one block from .loop to the JB (a backward
; branch, which ends it); its JNZ is taken on every odd count. Ticks must still be taken where they fall
; due, before and after the JNZ, and ESI ends at EBX + EBX / 2 (1 per odd count, 2 per even one).
blocks_side_exit:
    START
    TIMER_TICKS 8, 3
    xor ebx, ebx
    xor esi, esi
    sti
.loop:
    add ebx, 1
    test ebx, 1
    jnz .odd                    ; forward: taken on odd counts, a side exit
    add esi, 2
    mov [SCRATCH + 0x200], esi
    cmp dword [TICKS], 8
    jb .loop                    ; backward: ends the block
    jmp .done
.odd:
    add esi, 1
    cmp dword [TICKS], 8
    jb .loop
.done:
    cli
    DONE

; POPF does not end its block unless it sets TF or IF, and STI's block ends after the one instruction
; its shadow covers. The loop is three blocks: .loop up to the covered ADD (its second POPFD sets IF, so
; every iteration leaves it there, at .open), .open up to the same ADD, and .after. Ticks are taken only
; where IF is set and no shadow holds: at .open, .open_cli, .after, .jb or .loop, never at .covered.
blocks_popf_sti:
    START
    TIMER_TICKS 8, 3
    xor ebx, ebx
    xor esi, esi
    xor edi, edi
.loop:
    cli
    add ebx, 1
    push dword 0x2
    popfd                       ; IF stays clear: the block goes on
    add esi, 1
    push dword 0x202
    popfd                       ; sets IF: a side exit, a pending tick is taken right after it
.open:
    add esi, 1
.open_cli:
    cli
    add edi, 1
    sti
.covered:
    add esi, 1                  ; in STI's shadow: the block ends after it
.after:
    cmp dword [TICKS], 8
.jb:
    jb .loop
    cli
    DONE
