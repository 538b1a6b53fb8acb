; External interrupts: the 8259A PIC and the 8254 PIT channel 0 (mode 2) driving IRQ0, HLT waking
; on the timer, the STI interrupt shadow, POPF (no shadow), interrupts taken at ring 3, and an IRQ
; reaching a not-present gate.
%include "lib.inc"

TICKS     equ SCRATCH               ; timer interrupts taken
TICK_EIP  equ SCRATCH + 0x10        ; saved EIP of each (up to 16)
TICK_CS   equ SCRATCH + 0x50        ; saved CS of each
TICK_EBX  equ SCRATCH + 0x90        ; EBX when each was taken
TICK_ESP  equ SCRATCH + 0xd0        ; handler ESP at entry
TICK_MAX  equ SCRATCH + 4           ; mask IRQ0 after this many ticks (0 = never)
PIT_DIVISOR equ 1193                ; about 1 kHz

; Remaps the master PIC to 0x20 and the slave to 0x28, unmasks only IRQ0; programs PIT channel 0
; for mode 2 with divisor ECX. Clobbers EAX.
timer_init:
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xa1, al
    mov al, 0x01
    out 0x21, al
    out 0xa1, al
    mov al, 0xff
    out 0xa1, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0x34                    ; channel 0, LSB then MSB, mode 2, binary
    out 0x43, al
    mov al, cl
    out 0x40, al
    mov al, ch
    out 0x40, al
    ret

; IRQ0: count, record the frame, EOI; masks IRQ0 once TICK_MAX ticks were taken.
irq0:
    push eax
    push edx
    mov edx, [TICKS]
    cmp edx, 16
    jae .counted
    mov eax, [esp + 8]
    mov [TICK_EIP + edx * 4], eax
    mov eax, [esp + 12]
    mov [TICK_CS + edx * 4], eax
    mov [TICK_EBX + edx * 4], ebx
    lea eax, [esp + 8]
    mov [TICK_ESP + edx * 4], eax
.counted:
    inc edx
    mov [TICKS], edx
    cmp edx, [TICK_MAX]
    jne .eoi
    mov al, 0xff
    out 0x21, al
.eoi:
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iretd

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
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 1
    mov ecx, 2
    call timer_init
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
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 1
    mov ecx, 2
    call timer_init
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
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 1
    mov ecx, PIT_DIVISOR
    call timer_init
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

; A tight loop, one block branching to itself (compiled blocks run it inside one function), with a tick
; every ~50000 cycles: each tick is taken between two of its instructions, EBX counting iterations.
int_timer_loop:
    START
    SET_GATE 0x20, irq0, INT_GATE
    mov dword [TICK_MAX], 8
    mov ecx, 20
    call timer_init
    xor ebx, ebx
    sti
.loop:
    add ebx, 1
    mov [SCRATCH + 0x200], ebx
    cmp dword [TICKS], 8
    jb .loop
    cli
    DONE

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
