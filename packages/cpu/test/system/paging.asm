; Paging: accessed/dirty bits, page faults (error code and CR2), 4 MiB pages, global pages and the
; TLB as hardware keeps it (stale translations until INVLPG or a CR3 load), page-walk references,
; and a REP MOVSB restarted after a page fault.
%include "lib.inc"

PTE1 equ PT1                    ; PTE of linear 0x400000 + k * 0x1000 is at PTE1 + 4 * k

; A and D: a read sets A only (in the PDE and the PTE), a write sets A and D, a write through a TLB
; entry made by a read still sets D. Untouched PTEs keep A = D = 0.
pg_ad_bits:
    START
    call paging_identity
    call paging_on
.after_paging:
    push eax
    pop eax
    mov eax, [0x400000]
    mov dword [0x401000], 1
    mov eax, [PD + 4]
    mov [SCRATCH], eax
    mov eax, [PTE1]
    mov [SCRATCH + 4], eax
    mov eax, [PTE1 + 4]
    mov [SCRATCH + 8], eax
    mov eax, [PTE1 + 8]
    mov [SCRATCH + 12], eax
    mov dword [0x400000], 2
    mov eax, [PTE1]
    mov [SCRATCH + 16], eax
    DONE

; Page faults: error code P/W/U and CR2, at ring 0 (CR0.WP = 0 then 1) and at ring 3.
pg_faults:
    START
    call paging_identity
    mov dword [PTE1 + 16 * 4], 0            ; 0x410000 not present
    mov dword [PTE1 + 17 * 4], 0x411001     ; 0x411000 read-only, supervisor
    mov dword [PTE1 + 18 * 4], 0x412007     ; 0x412000 writable, user
    mov dword [PTE1 + 19 * 4], 0x413005     ; 0x413000 read-only, user
    mov dword [PTE1 + 20 * 4], 0x414003     ; 0x414000 writable, supervisor
    mov byte [0x414000], 0xc3               ; a RET, for the ring-3 fetch
    call paging_on
    RESUME .n1
.f1:
    mov eax, [0x410000]
.n1:
    RESUME .n2
.f2:
    mov dword [0x410ffc], 1
.n2:
    mov dword [0x411000], 0x11              ; CR0.WP = 0: ring 0 may write a read-only page
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    RESUME .n3
.f3:
    mov dword [0x411004], 0x22
.n3:
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    DONE
.user:
    RESUME .u1
.g1:
    mov eax, [0x414000]
.u1:
    RESUME .u2
.g2:
    mov dword [0x414008], 1
.u2:
    RESUME .u3
.g3:
    mov dword [0x413000], 1
.u3:
    mov eax, [0x413000]
    mov dword [0x412000], 5
    RESUME .u4
.g4:
    mov eax, [0x410010]
.u4:
    RESUME .u5
.g5:
    call 0x414000                           ; fetch from a supervisor page
.u5:
    int 0x80

; Page-walk references per TLB miss: 2 for a 4 KiB page, 1 for a 4 MiB page; none for a hit.
; Each EXIT is a checkpoint where the harness reads machine.cpu.tlb.stats and continues.
pg_walks:
    START
    call paging_identity
    mov dword [PD + 8], 0x800000 | 0x87     ; 8-12 MiB: one 4 MiB page (PS | US | RW | P)
    mov dword [PTE1 + 32 * 4], 0x420000 | 0x107 ; global
    mov eax, cr4
    or eax, 0x90                            ; PSE | PGE
    mov cr4, eax
    call paging_on
    jmp walks_code

; Stores into the page of the code that runs them: each drops the page's decoded blocks, and each hits
; the TLB as on hardware (no walk).
pg_code_store:
    START
    call paging_identity
    call paging_on
    jmp code_store_code

; A dword read and a dword write across a page boundary, both pages in the TLB: two hits each, no walk.
pg_split:
    START
    call paging_identity
    call paging_on
    jmp split_code

; Global pages survive a CR3 load, other pages are re-walked; INVLPG drops one page; a PTE changed
; without either keeps its old (cached) translation.
pg_global:
    START
    call paging_identity
    mov dword [0x420000], 0x6730            ; 'G0' marker in each physical page
    mov dword [0x421000], 0x4e30            ; 'N0'
    mov dword [0x422000], 0x6731            ; 'G1'
    mov dword [0x423000], 0x4e31            ; 'N1'
    mov dword [PTE1 + 32 * 4], 0x420000 | 0x103 ; global
    mov dword [PTE1 + 33 * 4], 0x421000 | 0x003
    mov eax, cr4
    or eax, 0x80                            ; PGE
    mov cr4, eax
    call paging_on
    mov eax, [0x420000]
    mov ebx, [0x421000]
    mov [SCRATCH], eax
    mov [SCRATCH + 4], ebx
    mov dword [PTE1 + 32 * 4], 0x422000 | 0x103
    mov dword [PTE1 + 33 * 4], 0x423000 | 0x003
    mov eax, [0x420000]                     ; stale: still G0
    mov ebx, [0x421000]                     ; stale: still N0
    mov [SCRATCH + 8], eax
    mov [SCRATCH + 12], ebx
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x420000]                     ; global: still G0
    mov ebx, [0x421000]                     ; re-walked: N1
    mov [SCRATCH + 16], eax
    mov [SCRATCH + 20], ebx
    invlpg [0x420abc]
    mov eax, [0x420000]                     ; G1
    mov [SCRATCH + 24], eax
    mov dword [PTE1 + 32 * 4], 0x420000 | 0x103
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x420000]                     ; still G1 (global, not invalidated)
    mov [SCRATCH + 28], eax
    mov eax, cr4
    and eax, ~0x80                          ; clearing PGE flushes everything
    mov cr4, eax
    mov eax, [0x420000]                     ; G0
    mov [SCRATCH + 32], eax
    DONE

; 4 MiB pages (CR4.PSE): an alias of physical 4-8 MiB at 12 MiB; the PDE gets A, then D; INVLPG of
; any address inside the large page drops all of it.
pg_large:
    START
    call paging_identity
    mov dword [PD + 12], 0x400000 | 0x83    ; 12-16 MiB -> physical 4-8 MiB
    mov dword [0x401000], 0x11111111
    mov dword [0x801000], 0x22222222
    mov eax, cr4
    or eax, 0x10                            ; PSE
    mov cr4, eax
    call paging_on
    mov eax, [0xc01000]
    mov [SCRATCH], eax                      ; 0x11111111 through the alias
    mov eax, [PD + 12]
    mov [SCRATCH + 4], eax                  ; A set, D clear
    mov dword [0xc02000], 0x33333333
    mov eax, [PD + 12]
    mov [SCRATCH + 8], eax                  ; A and D
    mov eax, [0x402000]
    mov [SCRATCH + 12], eax                 ; the write is visible at the physical address
    mov dword [PD + 12], 0x800000 | 0x83
    mov eax, [0xc01000]
    mov [SCRATCH + 16], eax                 ; stale: 0x11111111
    invlpg [0xc3f000]                       ; another 4 KiB piece of the same 4 MiB page
    mov eax, [0xc01000]
    mov [SCRATCH + 20], eax                 ; 0x22222222
    DONE

; REP MOVSB into a not-present page: #PF with ECX/ESI/EDI describing the bytes already copied; the
; handler maps the page and IRETs, and the instruction finishes the copy.
pg_rep_fault:
    START
    call paging_identity
    mov dword [PTE1 + 48 * 4], 0            ; 0x430000 not present
    SET_GATE 14, map_430000, INT_GATE
    mov edi, SCRATCH
    mov ecx, 0x100
    xor eax, eax
.fill:
    mov [edi], al
    inc edi
    inc eax
    loop .fill
    call paging_on
    mov esi, SCRATCH
    mov edi, 0x42ff80
    mov ecx, 0x100
.movs:
    rep movsb
    mov eax, [0x42fffc]
    mov ebx, [0x430000]
    DONE

map_430000:
    pushad
    mov eax, cr2
    mov [SCRATCH + 0x200], eax
    mov eax, [esp + 32]
    mov [SCRATCH + 0x204], eax              ; error code
    mov eax, [esp + 36]
    mov [SCRATCH + 0x208], eax              ; EIP
    mov [SCRATCH + 0x20c], ecx
    mov [SCRATCH + 0x210], esi
    mov [SCRATCH + 0x214], edi
    mov dword [PTE1 + 48 * 4], 0x430003
    popad
    add esp, 4
    iretd

; The measured part of pg_walks, alone in its page so instruction fetches never miss.
align 4096
walks_code:
    push eax
    pop eax
    EXIT 1
    mov eax, [0x402000]                     ; 4 KiB miss: PDE + PTE
    EXIT 2
    mov eax, [0x402ffc]                     ; hit
    EXIT 3
    mov eax, [0x900000]                     ; 4 MiB miss: PDE only
    EXIT 4
    mov dword [0x403000], 5                 ; 4 KiB write miss
    EXIT 5
    mov eax, [0x420000]                     ; global page miss
    mov eax, [0x404000]                     ; another 4 KiB miss
    EXIT 6
    mov eax, cr3
    mov cr3, eax
    EXIT 7
    mov eax, [0x420000]                     ; global: still cached
    EXIT 8
    mov eax, [0x404000]                     ; not global: walked again
    EXIT 9
    DONE

code_store_code:
    mov dword [code_store_var], 0           ; the page is dirty from here on
    EXIT 1
    mov ecx, 3
.again:
    mov [code_store_var], ecx               ; into this page, whose blocks are decoded
    dec ecx
    jnz .again
    EXIT 2
    DONE
code_store_var: dd 0

split_code:
    mov dword [0x402ffc], 0x44332211        ; both pages: in the TLB, dirty
    mov dword [0x403000], 0x88776655
    EXIT 1
    mov edx, [0x402ffe]                     ; 33 44 | 55 66
    mov dword [0x402fff], 0xddccbbaa        ; aa | bb cc dd
    EXIT 2
    mov ebx, [0x402ffc]
    mov ecx, [0x403000]
    DONE

; #PF while delivering #PF -> #DF: the IDT straddles a page boundary so that gate 8 is present and
; gate 14 is not. CR2 ends up holding the address of gate 14 (the second page fault).
IDT_DF equ 0x44000 - 9 * 8      ; gates 0-8 in page 0x43000, 9-255 in page 0x44000
pg_df_pf:
    START
    call paging_identity
    mov esi, IDT_BASE
    mov edi, IDT_DF
    mov ecx, 512
    rep movsd
    lidt [.idtr]
    mov dword [PT0 + 0x44 * 4], 0           ; 0x44000 not present
    mov dword [PTE1 + 16 * 4], 0            ; 0x410000 not present
    call paging_on
    RESUME .after
.fault:
    mov eax, [0x410000]
.after:
    DONE
.idtr:
    dw 256 * 8 - 1
    dd IDT_DF

; #GP while its gate is on a not-present page: contributory then #PF is not a #DF; the #PF is
; delivered, with CR2 = the address of gate 13 and the saved EIP of the instruction that faulted.
IDT_GP equ 0x45000 - 14 * 8     ; gates 0-13 in page 0x44000 (not present), 14-255 in page 0x45000
pg_gp_then_pf:
    START
    call paging_identity
    mov esi, IDT_BASE
    mov edi, IDT_GP
    mov ecx, 512
    rep movsd
    lidt [.idtr]
    mov dword [PT0 + 0x44 * 4], 0           ; 0x44000 not present
    call paging_on
    RESUME .after
    mov ax, GDT_LIMIT_BAD
.fault:
    mov ds, ax
.after:
    DONE
.idtr:
    dw 256 * 8 - 1
    dd IDT_GP

; An instruction that starts on a present page and ends on a not-present one: the instructions
; before it run, then #PF with CR2 = the first byte of the missing page and EIP = that instruction.
pg_straddle:
    START
    call paging_identity
    mov eax, straddle_page_end
    shr eax, 12
    mov dword [PT0 + eax * 4], 0
    call paging_on
    RESUME .after
    xor eax, eax
    xor ebx, ebx
    jmp straddle_code
.after:
    DONE

; A fault at ring 3 whose ring-0 stack (TSS.ESP0) is not mapped: #PF while pushing the frame, #DF
; while pushing the #DF frame to the same stack: triple fault.
pg_triple:
    START
    call paging_identity
    mov dword [PT0 + 0x67 * 4], 0           ; the page below RING0_STACK_TOP
    mov dword [PTE1 + 16 * 4], 0            ; 0x410000
    call paging_on
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    EXIT 0x600d
.user:
.fault:
    mov eax, [0x410000]
    int 0x80

; A loop storing upwards (one block branching to itself) runs into the first page paging_identity leaves
; unmapped (8 MiB): #PF at the store of the iteration that reaches it, after 200 whole iterations.
pf_in_loop:
    START
    call paging_identity
    call paging_on
    RESUME .after
    mov edi, 0x800000 - 4 * 200
    xor eax, eax
    xor ebx, ebx
.loop:
    add eax, 7
.store:
    mov [edi], eax
    add edi, 4
    inc ebx
    jmp .loop
.after:
    DONE

; Code at the very end of a page (the next page is made not present by pg_straddle).
align 4096
    times 4096 - 8 nop
straddle_code:
    mov eax, 1                  ; 5 bytes, page end - 8
.insn:
    mov ebx, 0x12345678         ; 5 bytes, page end - 3: its last 2 bytes are on the next page
    DONE
straddle_page_end:
