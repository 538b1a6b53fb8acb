; Self-modifying code: stores into instructions that already ran, into the next instruction of the
; same straight-line run, and through another linear alias of the same physical page.
%include "lib.inc"

; Patch the immediate of a function that already ran, run it again.
smc_patch_function:
    START
    call .func
    mov [SCRATCH], eax
    mov dword [.func + 1], 2
    call .func
    mov [SCRATCH + 4], eax
    mov byte [.func], 0x40      ; INC EAX
    mov dword [.func + 1], 0x90909090
    mov eax, 10
    call .func
    mov [SCRATCH + 8], eax
    DONE
.func:
    mov eax, 1                  ; B8 imm32
    ret

; A loop that rewrites its own ADD immediate each iteration: 1 + 2 + 3 + 4 + 5.
smc_loop:
    START
    xor eax, eax
    mov ecx, 5
    mov edx, 1
.top:
    mov [.add + 1], edx         ; the imm32 of the ADD below (05 imm32)
    inc edx
.add:
    add eax, strict dword 0
    loop .top
    DONE

; Patch the very next instruction (and one a few instructions further): P6 and later processors
; detect stores into prefetched instructions, so the new bytes run.
smc_next:
    START
    xor eax, eax
    xor ebx, ebx
    mov byte [.target + 1], 0x42
.target:
    mov al, 0x00
    mov byte [.later + 1], 0x43
    nop
    nop
.later:
    mov bl, 0x00
    DONE

; Write the code through an alias (a 4 MiB page at 12 MiB mapping physical 0-4 MiB), then run it at
; its usual address.
smc_alias:
    START
    call paging_identity
    mov dword [PD + 12], 0x000000 | 0x83
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    call paging_on
    call .func
    mov [SCRATCH], eax
    mov dword [.func + 1 + 0xc00000], 0x77
    call .func
    mov [SCRATCH + 4], eax
    DONE
.func:
    mov eax, 1
    ret
