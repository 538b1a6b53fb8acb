; External interrupts: the 8259A PIC and the 8254 PIT channel 0 (mode 2) driving IRQ0, HLT waking
; on the timer, the STI interrupt shadow, POPF (no shadow), interrupts taken at ring 3, and an IRQ
; reaching a not-present gate.
%include "lib.inc"
%include "timer.inc"

; Five timer ticks, each waking a HLT: the saved EIP is the instruction after the HLT.
int_timer_hlt:
    START
    SET_GATE 0x20, irq0, INT_GATE
    mov ecx, PIT_DIVISOR
    call timer_init
    sti
.wait:
    hlt
.after_hlt:
    cmp dword [TICKS], 5
    jb .wait
    cli
    DONE

; An IRQ pending while IF = 0 is taken only after the instruction that follows STI.
int_sti_shadow:
    START
    TIMER_TICKS 1, 2
.poll:
    mov al, 0x0a                    ; OCW3: read IRR
    out 0x20, al
    in al, 0x20
    test al, 1
    jz .poll
    xor ebx, ebx
    sti
.shadowed:
    mov ebx, 1
.next:
    mov ebx, 2
    cli
    DONE

; POPF that sets IF has no shadow: the pending IRQ is taken right after it.
int_popf_no_shadow:
    START
    TIMER_TICKS 1, 2
.poll:
    mov al, 0x0a
    out 0x20, al
    in al, 0x20
    test al, 1
    jz .poll
    xor ebx, ebx
    push dword 0x202
    popfd
.after_popf:
    mov ebx, 1
    cli
    DONE

; STI; HLT: the shadow covers the HLT, which then waits and wakes with the timer.
int_sti_hlt:
    START
    TIMER_TICKS 1, PIT_DIVISOR
    sti
    hlt
.after_hlt:
    cli
    DONE

; The timer interrupts ring-3 code: stack switch to TSS SS0:ESP0, SS:ESP of ring 3 in the frame.
int_ring3:
    START
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 3
    mov ecx, 20                     ; a tick every ~50000 cycles
    call timer_init
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x202
    call enter_user
    DONE
.user:
    mov ebx, 0x3333
.spin:
    cmp dword [TICKS], 3
.jb:
    jb .spin
    int 0x80

; IRQ0 through a not-present gate: #NP with error code 0x20 * 8 + 2 + 1 (IDT, EXT).
int_np_gate:
    START
    SET_GATE 0x20, irq0, NP_GATE
    RESUME .stop
    mov ecx, PIT_DIVISOR
    call timer_init
    sti
.wait:
    hlt
    jmp .wait
.stop:
    cli
    DONE
