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

; A loop (one block branching to itself) that, on its 100th iteration, stores into the ADD further down
; its own block: the new immediate takes effect in that same iteration (100 * 1 + 100 * 5 = 600).
smc_loop_own_block:
    START
    mov ecx, 200
    mov esi, SCRATCH + 0x200        ; where the store goes on the other iterations
    mov edi, .patch + 2             ; the imm8 of ADD EBX, imm8 (83 C3 ib)
    xor ebx, ebx
.top:
    mov edx, esi
    cmp ecx, 100
    cmove edx, edi
    mov byte [edx], 5
.patch:
    add ebx, strict byte 1
    dec ecx
    jnz .top
    DONE
