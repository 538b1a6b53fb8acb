; String instructions: REP MOVS/STOS/LODS with DF = 1, REPE/REPNE CMPS and SCAS, ECX = 0.
; Each case stores EFLAGS (PUSHFD) where the harness can check them exactly.
%include "lib.inc"

BUF equ SCRATCH + 0x100

; fill BUF with 0, 1, 2, ..., 0x3f
%macro FILL_BUF 0
    mov edi, BUF
    xor eax, eax
%%l:
    mov [edi + eax], al
    inc eax
    cmp eax, 0x40
    jb %%l
%endmacro

; memmove to an overlapping higher address: copy backward with DF = 1.
str_movsb_backward:
    START
    FILL_BUF
    std
    mov esi, BUF + 15
    mov edi, BUF + 19
    mov ecx, 16
    rep movsb
    pushfd
    pop dword [SCRATCH]
    cld
    DONE

; REP STOSD and LODSD with DF = 1.
str_stosd_backward:
    START
    FILL_BUF
    std
    mov edi, BUF + 12
    mov eax, 0xaabbccdd
    mov ecx, 3
    rep stosd                   ; BUF+12, +8, +4
    mov [SCRATCH], edi
    mov esi, BUF + 0x20
    lodsd                       ; 0x23222120
    mov ebx, eax
    lodsw                       ; ESI = BUF+0x1c: 0x1d1c
    mov ecx, eax
    cld
    DONE

; REPE CMPSB stops after the first difference; REPE CMPSB over equal strings runs out.
str_repe_cmpsb:
    START
    mov esi, .s1
    mov edi, .s2
    mov ecx, 11
    repe cmpsb
    pushfd
    pop dword [SCRATCH]
    mov [SCRATCH + 4], ecx
    mov [SCRATCH + 8], esi
    mov [SCRATCH + 12], edi
    mov esi, .s1
    mov edi, .s1b
    mov ecx, 11
    repe cmpsb
    pushfd
    pop dword [SCRATCH + 16]
    mov [SCRATCH + 20], ecx
    mov [SCRATCH + 24], esi
    ; REPNE CMPSB stops at the first equal byte
    mov esi, .s1
    mov edi, .s3
    mov ecx, 11
    repne cmpsb
    pushfd
    pop dword [SCRATCH + 28]
    mov [SCRATCH + 32], ecx
    DONE
.s1:
    db "hello world"
.s2:
    db "hello there"
.s1b:
    db "hello world"
.s3:
    db "XXXXo XXXXX"

; REPNE SCASB: strlen forward, and the last '/' searching backward with DF = 1.
str_scasb:
    START
    mov edi, .path
    xor eax, eax
    mov ecx, -1
    repne scasb
    pushfd
    pop dword [SCRATCH]
    mov [SCRATCH + 4], ecx
    mov [SCRATCH + 8], edi
    not ecx
    dec ecx
    mov [SCRATCH + 12], ecx     ; the length
    std
    mov edi, .path + 13
    mov al, '/'
    mov ecx, 14
    repne scasb
    pushfd
    pop dword [SCRATCH + 16]
    mov [SCRATCH + 20], ecx     ; index of the last '/'
    mov [SCRATCH + 24], edi
    cld
    ; REPE SCASB over a run of 'a'
    mov edi, .aaa
    mov al, 'a'
    mov ecx, 8
    repe scasb
    mov [SCRATCH + 28], ecx
    mov [SCRATCH + 32], edi
    DONE
.path:
    db "/usr/local/bin", 0
.aaa:
    db "aaaaab"

; ECX = 0: no iteration, no memory access, flags untouched.
str_ecx_zero:
    START
    xor ecx, ecx
    mov esi, 0xfffff000
    mov edi, 0xfffff000
    mov eax, 1
    cmp eax, 2                  ; CF SF AF PF set, ZF clear
    pushfd
    pop dword [SCRATCH]
    rep movsb
    repe cmpsb
    repne scasb
    pushfd
    pop dword [SCRATCH + 4]
    mov [SCRATCH + 8], esi
    mov [SCRATCH + 12], edi
    DONE
