; Privilege levels: IRET to ring 3 with the stack switch, interrupts from ring 3 through the TSS
; (SS0:ESP0), gate DPL checks, privileged instructions at ring 3, IOPL and the TSS I/O permission
; bitmap, SYSENTER/SYSEXIT.
%include "lib.inc"

SYSENTER_STACK equ 0x6c000

; Ring 0 -> ring 3 by IRET, INT 0x81 (a DPL-3 gate) from ring 3 and back, INT 0x80 to return.
; Ring 3 writes what it sees to SCRATCH: CS SS DS FS GS ESP EFLAGS, then ESP and FS after INT 0x81.
priv_roundtrip:
    START
    SET_GATE 0x81, isr_stubs + 0x81 * 16, INT_GATE3
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2 | FL_CF        ; ring 3 starts with CF set, IF clear
    mov ebp, 0xb0b
    call enter_user
    mov [SCRATCH + 0x40], esp
    mov eax, cs
    mov [SCRATCH + 0x44], eax
    DONE
.user:
    mov eax, cs
    mov [SCRATCH], eax
    mov eax, ss
    mov [SCRATCH + 4], eax
    mov eax, ds
    mov [SCRATCH + 8], eax
    mov eax, fs
    mov [SCRATCH + 12], eax
    mov eax, gs
    mov [SCRATCH + 16], eax
    mov [SCRATCH + 20], esp
    pushfd
    pop eax
    mov [SCRATCH + 24], eax
    mov esi, 0x1234
    stc
    int 0x81
.after81:
    mov [SCRATCH + 28], esp
    mov eax, fs
    mov [SCRATCH + 32], eax
    mov edi, 0x5678
    int 0x80
.after80:
    ud2

; Privileged instructions and far-from-ring-3 operations: each is #GP at ring 3 (the handler
; resumes at the next label, still in ring 3); UD2 at ring 3 is #UD through a DPL-0 gate.
priv_gp:
    START
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    DONE
.user:
    RESUME .n1
.f1:
    hlt
.n1:
    RESUME .n2
.f2:
    cli
.n2:
    RESUME .n3
.f3:
    sti
.n3:
    RESUME .n4
.f4:
    mov eax, cr0
.n4:
    RESUME .n5
.f5:
    mov cr3, eax
.n5:
    RESUME .n6
.f6:
    lgdt [gdt_ptr]
.n6:
    RESUME .n7
.f7:
    lidt [idt_ptr]
.n7:
    RESUME .n8
.f8:
    in al, 0x21                 ; not allowed by the bitmap
.n8:
    RESUME .n9
.f9:
    out 0x80, al
.n9:
    RESUME .n10
    mov dx, 0x3f8
.f10:
    out dx, al                  ; past the end of the bitmap
.n10:
    RESUME .n11
.f11:
    int 0x40                    ; DPL-0 gate: #GP(0x40 * 8 + 2)
.n11:
    RESUME .n12
.f12:
    int3                        ; DPL-0 gate: #GP(3 * 8 + 2)
.n12:
    RESUME .n13
    mov eax, 0x7fffffff
    add eax, 1
.f13:
    into                        ; DPL-0 gate: #GP(4 * 8 + 2)
.n13:
    RESUME .n14
    mov ecx, 0x10
.f14:
    rdmsr
.n14:
    RESUME .n15
.f15:
    wrmsr
.n15:
    RESUME .n16
.f16:
    invlpg [0]
.n16:
    RESUME .n17
.f17:
    clts
.n17:
    RESUME .n18
    mov ax, TSS_SEL
.f18:
    ltr ax
.n18:
    RESUME .n19
.f19:
    sysexit
.n19:
    RESUME .n20
    mov ax, KDATA
.f20:
    mov ds, ax                  ; DPL 0 < CPL 3
.n20:
    RESUME .n21
.f21:
    mov ss, ax
.n21:
    RESUME .n22
.f22:
    ud2                         ; an exception ignores the gate's DPL
.n22:
    ; POPF at CPL 3 with IOPL 0 silently keeps IF and IOPL.
    push dword 0x3202 | FL_DF | FL_CF
    popfd
    pushfd
    pop eax
    mov [SCRATCH], eax
    cld
    int 0x80

; IOPL 3: CLI, STI, IN and OUT work at ring 3; POPF changes IF but never IOPL.
priv_iopl3:
    START
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2 | FL_IOPL3
    call enter_user
    DONE
.user:
    sti
    pushfd
    pop eax
    mov [SCRATCH], eax
    cli
    pushfd
    pop eax
    mov [SCRATCH + 4], eax
    mov al, 'A'
    out 0xe9, al
    in al, 0x21                 ; the master PIC's IMR (0xFF after power-on)
    movzx eax, al
    mov [SCRATCH + 8], eax
    push dword 0x0202           ; tries IOPL 0, IF 1
    popfd
    pushfd
    pop eax
    mov [SCRATCH + 12], eax
    int 0x80

; The I/O permission bitmap at IOPL 0: ports 0x80 and 0x81 are allowed by the kernel, 0xE9 by
; sys_init; every byte of a multi-byte access must be allowed.
priv_iobitmap:
    START
    and byte [IOMAP + 0x80 / 8], ~3 ; allow 0x80, 0x81
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    DONE
.user:
    mov al, 'B'
    out 0xe9, al
    mov dx, 0xe9
    mov al, 'C'
    out dx, al
    in al, 0x80
    in ax, 0x80
    RESUME .n1
.f1:
    in ax, 0x81                 ; 0x82 is denied
.n1:
    RESUME .n2
.f2:
    in eax, 0x80                ; 0x82, 0x83 are denied
.n2:
    RESUME .n3
.f3:
    in al, 0x7f
.n3:
    RESUME .n4
    mov dx, 0xe8
.f4:
    out dx, ax                  ; 0xE8 is denied
.n4:
    RESUME .n5
    mov dx, 0xffff
.f5:
    in al, dx                   ; past the end of the TSS
.n5:
    mov al, 'D'
    out 0xe9, al
    int 0x80

; SYSENTER from ring 3 to SYSENTER_CS:SYSENTER_EIP with SYSENTER_ESP, SYSEXIT back to ECX:EDX.
priv_sysenter:
    START
    mov ecx, 0x174
    mov eax, KCODE
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, SYSENTER_STACK
    wrmsr
    mov ecx, 0x176
    mov eax, .kernel
    wrmsr
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2 | FL_IF
    call enter_user
    mov ecx, 0x174
    rdmsr
    mov [SCRATCH + 0x40], eax
    mov [SCRATCH + 0x44], edx
    mov ecx, 0x175
    rdmsr
    mov [SCRATCH + 0x48], eax
    mov ecx, 0x176
    rdmsr
    mov [SCRATCH + 0x4c], eax
    DONE
.kernel:
    mov eax, cs
    mov [SCRATCH], eax
    mov eax, ss
    mov [SCRATCH + 4], eax
    mov [SCRATCH + 8], esp
    pushfd
    pop eax
    mov [SCRATCH + 12], eax
    mov [SCRATCH + 16], esi
    mov esi, 0x99
    sysexit
.user:
    mov ecx, esp
    mov edx, .back
    mov esi, 0x77
.sysenter:
    sysenter
.back:
    mov eax, cs
    mov [SCRATCH + 0x20], eax
    mov eax, ss
    mov [SCRATCH + 0x24], eax
    mov [SCRATCH + 0x28], esp
    pushfd
    pop eax
    mov [SCRATCH + 0x2c], eax
    int 0x80

; SYSENTER with SYSENTER_CS = 0 is #GP(0); so is SYSEXIT at ring 0 with SYSENTER_CS = 0.
priv_sysenter_gp:
    START
    RESUME .n1
.f1:
    sysexit
.n1:
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    DONE
.user:
    RESUME .n2
.f2:
    sysenter
.n2:
    int 0x80

; IRET and RETF to ring 3 with an SS whose RPL is not 3: #GP(SS selector) at the IRET/RETF, taken
; at ring 0 (nothing of the return is committed before the checks pass).
priv_bad_return_ss:
    START
    RESUME .n1
    push dword KDATA            ; SS (RPL 0: wrong)
    push dword USTACK_TOP
    push dword 0x2
    push dword UCODE
    push dword .n1
.f1:
    iretd
.n1:
    mov esp, KSTACK_TOP
    RESUME .n2
    push dword KDATA
    push dword USTACK_TOP
    push dword UCODE
    push dword .n2
.f2:
    retf
.n2:
    mov esp, KSTACK_TOP
    mov eax, cs
    mov ebx, ss
    DONE

; Trap gates leave IF set, interrupt gates clear it; both clear TF... (IF only here).
priv_gate_if:
    START
    SET_GATE 0x82, .handler, TRAP_GATE
    SET_GATE 0x83, .handler, INT_GATE
    sti
    int 0x82
    int 0x83
    cli
    DONE
.handler:
    push eax
    pushfd
    pop eax
    push ebx
    mov ebx, [SCRATCH + 0x100]
    mov [SCRATCH + ebx * 4], eax
    inc dword [SCRATCH + 0x100]
    pop ebx
    pop eax
    iretd

; A ring-3 exception whose TSS.SS0 is unusable: not present -> #SS(SS0 + EXT), not writable data
; -> #TS(SS0 + EXT). Neither can be delivered either (same stack switch), so the run ends in a
; triple fault whose diagnostic shows the chain.
priv_tss_ss_np:
    START
    mov dword [TSS_BASE + 8], NP_DATA
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    EXIT 0x600d
.user:
.fault:
    ud2

priv_tss_ss_ro:
    START
    mov dword [TSS_BASE + 8], RO_DATA
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    EXIT 0x600d
.user:
.fault:
    int 0x80                    ; a software interrupt: EXT = 0
