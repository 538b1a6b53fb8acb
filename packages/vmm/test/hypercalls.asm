; Hypercalls from the guest's kernel and from ring 3 (results at SCRATCH): the type-1 devices test and
; the hosted hypercall test run it.
%include "lib.inc"
R equ SCRATCH
start:
    START
    mov eax, 1                      ; CONSOLE_WRITE
    mov ebx, msg
    mov ecx, msg_end - msg
    vmcall
    mov [R + 0], eax
    mov eax, 1                      ; a buffer running past the end of RAM
    mov ebx, 0x3ffff0
    mov ecx, 0x20
    vmcall
    mov [R + 4], eax
    mov eax, 1                      ; one that wraps around 4 GiB
    mov ebx, 0xfffffff0
    mov ecx, 0x20
    vmcall
    mov [R + 8], eax
    mov eax, 1                      ; too long
    mov ebx, msg
    mov ecx, 0x100001
    vmcall
    mov [R + 12], eax
    mov eax, 99                     ; unknown calls
    vmcall
    mov [R + 16], eax
    xor eax, eax
    vmcall
    mov [R + 20], eax
    mov eax, 3                      ; TIME, RDTSC, TIME
    vmcall
    mov [R + 24], eax
    mov [R + 28], edx
    mov [R + 32], ecx
    rdtsc
    mov [R + 36], eax
    mov [R + 40], edx
    mov eax, 3
    vmcall
    mov [R + 44], eax
    mov [R + 48], edx
    mov eax, 2                      ; YIELD
    vmcall
    mov [R + 52], eax
    mov eax, user                   ; hypercalls from ring 3 are refused
    mov ebx, USTACK_TOP
    mov ecx, 0x202
    call enter_user
    mov eax, [USER_REGS + 28]
    mov [R + 56], eax
    EXIT 0
user:
    mov eax, 1
    mov ebx, msg_user
    mov ecx, msg_user_end - msg_user
    vmcall
    int 0x80
msg: db "hello from a hypercall", 10
msg_end:
msg_user: db "ring 3 must not write this", 10
msg_user_end:
