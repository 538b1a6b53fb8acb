// Shadow paging: guest programs that exercise every path of the shadow MMU run once on the bare
// machine and once in a VM with paging: "shadow", and must end identically (stop reason, registers
// including CR0/CR2/CR3/CR4, instruction count, console, every byte of guest RAM). The programs use
// the cpu package's system-test runtime (lib.inc, interrupts.asm: GDT, IDT with logging stubs, TSS,
// ring 3, PIT/PIC helpers); their own results go to RESULTS and are also checked against what the
// architecture says they must be.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow, examplePath, Machine } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor } from "../src/index.js";
import type { ShadowMmu } from "../src/memory/shadow-mmu.js";
import { ROOT_CACHE } from "../src/memory/shadow-mmu.js";
import {
  assemble,
  hex,
  LOAD,
  memoryDiff,
  type Outcome,
  runBare,
  runBoth,
  runShadow,
  type ShadowOutcome,
  sym,
} from "./shadow-harness.js";

const SOURCE = `
%include "interrupts.asm"

RESULTS     equ SCRATCH + 0x1000        ; each case's own observations (dwords)
DEMAND_N    equ SCRATCH + 0x2000        ; #PF handler: faults taken
DEMAND_LOG  equ SCRATCH + 0x2010        ; #PF handler: CR2, error code, saved EIP per fault
PD_A        equ 0x13000                 ; address space A (PDE 0 = PT0 shared with PD, PDE 1 = PT_A)
PD_B        equ 0x14000                 ; address space B (PDE 0 = PT0, PDE 1 = PT_B)
PT_A        equ 0x15000                 ; copies of PT1 whose first entry maps F_A / F_B at 0x400000
PT_B        equ 0x16000
PT_S        equ 0x17000                 ; a page table both A and B use for 8-12 MiB
PD_MANY     equ 0x1a0000                ; 12 more page directories, 4 KiB apart (and their PTs after them)
F1          equ 0x500000                ; data frames with markers
F2          equ 0x501000
F3          equ 0x502000
F_A         equ 0x600000
F_B         equ 0x601000
DEMAND_BASE equ 0x700000                ; frames the #PF handler maps on demand
PTE1        equ PT1                     ; PTE of linear 0x400000 + k * 0x1000 is at PTE1 + 4 * k

; make_spaces: PD_A and PD_B as copies of PD with their own copy of PT1 in PDE 1, mapping 0x400000
; to F_A and F_B; both also map 8-12 MiB through the shared PT_S (0x800000 -> F1, the rest absent).
make_spaces:
    pushad
    cld
    mov esi, PD
    mov edi, PD_A
    mov ecx, 1024
    rep movsd
    mov esi, PD
    mov edi, PD_B
    mov ecx, 1024
    rep movsd
    mov esi, PT1
    mov edi, PT_A
    mov ecx, 1024
    rep movsd
    mov esi, PT1
    mov edi, PT_B
    mov ecx, 1024
    rep movsd
    mov edi, PT_S
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PT_S], F1 | 7
    mov dword [PT_A], F_A | 7
    mov dword [PT_B], F_B | 7
    mov dword [PD_A + 4], PT_A | 7
    mov dword [PD_B + 4], PT_B | 7
    mov dword [PD_A + 8], PT_S | 7
    mov dword [PD_B + 8], PT_S | 7
    popad
    ret

; markers: F1 = 0x11111111, F2 = 0x22222222, F3 = 0x33333333
markers:
    mov dword [F1], 0x11111111
    mov dword [F2], 0x22222222
    mov dword [F3], 0x33333333
    ret

; ---------------------------------------------------------------------------------------------
; Paging on and off: the guest reads back its own CR0/CR3/CR4 and sees memory through its tables.
sh_enable:
    START
    call markers
    call paging_identity
    mov dword [PTE1 + 0x10 * 4], F1 | 7     ; 0x410000 -> F1
    call paging_on
    mov eax, [0x410000]
    mov [RESULTS], eax                      ; 0x11111111
    mov eax, cr0
    mov [RESULTS + 4], eax                  ; 0x80000011: the guest's CR0, not the real one
    mov eax, cr3
    mov [RESULTS + 8], eax                  ; PD
    mov eax, cr4
    mov [RESULTS + 12], eax                 ; 0
    mov dword [0x410004], 0x5678
    mov eax, [PTE1 + 0x10 * 4]
    mov [RESULTS + 16], eax                 ; F1 | 0x67: A and D
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax                            ; paging off: physical addresses again
    mov eax, [F1 + 4]
    mov [RESULTS + 20], eax                 ; 0x5678
    mov eax, [0x410000]
    mov [RESULTS + 24], eax                 ; physical 0x410000: 0
    call paging_on
    mov eax, [0x410004]
    mov [RESULTS + 28], eax                 ; 0x5678
    DONE

; ---------------------------------------------------------------------------------------------
; A live PTE modified without INVLPG keeps its cached translation; with INVLPG it must not.
sh_live_pte:
    START
    call markers
    call paging_identity
    mov dword [PTE1 + 0x20 * 4], F1 | 3     ; 0x420000 -> F1
    mov dword [PTE1 + 0x21 * 4], 0          ; 0x421000 not present
    call paging_on
    mov eax, [0x420000]
    mov [RESULTS], eax                      ; F1
    mov dword [PTE1 + 0x20 * 4], F2 | 3     ; changed, no INVLPG
    mov eax, [0x420000]
    mov [RESULTS + 4], eax                  ; stale: F1 (the TLB entry)
    invlpg [0x420000]
    mov eax, [0x420000]
    mov [RESULTS + 8], eax                  ; F2
    mov dword [PTE1 + 0x21 * 4], F3 | 3     ; not present -> present: nothing to invalidate
    mov eax, [0x421000]
    mov [RESULTS + 12], eax                 ; F3
    mov dword [PTE1 + 0x20 * 4], 0          ; present -> not present, no INVLPG: still cached
    mov eax, [0x420000]
    mov [RESULTS + 16], eax                 ; F2
    invlpg [0x420000]
    RESUME .after
.fault:
    mov eax, [0x420000]                     ; #PF(0), CR2 = 0x420000
.after:
    mov dword [PTE1 + 0x20 * 4], F1 | 3
    invlpg [0x420000]
    mov eax, [0x420000]                     ; cached (F1) ...
    mov eax, cr3
    mov cr3, eax                            ; ... and flushed by the CR3 load
    mov dword [PTE1 + 0x20 * 4], F2 | 3     ; changed after the flush: no stale entry exists
    mov eax, [0x420000]
    mov [RESULTS + 20], eax                 ; F2
    DONE

; ---------------------------------------------------------------------------------------------
; Two address spaces, switched 20 times each: each sees its own frame at 0x400000.
sh_two_spaces:
    START
    call paging_identity
    call make_spaces
    call paging_on
    mov ecx, 20
.loop:
    mov eax, PD_A
    mov cr3, eax
    inc dword [0x400000]
    mov eax, PD_B
    mov cr3, eax
    add dword [0x400000], 2
    mov ebx, cr3
    loop .loop
    mov [RESULTS + 8], ebx                  ; PD_B
    mov eax, PD
    mov cr3, eax
    mov eax, [F_A]
    mov [RESULTS], eax                      ; 20
    mov eax, [F_B]
    mov [RESULTS + 4], eax                  ; 40
    DONE

; ---------------------------------------------------------------------------------------------
; One page table (PT_S) in both page directories: a change made while one is loaded is seen through
; the other after switching (with and without INVLPG in the first).
sh_shared_pt:
    START
    call markers
    call paging_identity
    call make_spaces
    call paging_on
    mov eax, PD_A
    mov cr3, eax
    mov eax, [0x800000]
    mov [RESULTS], eax                      ; F1 through A
    mov eax, PD_B
    mov cr3, eax
    mov eax, [0x800000]
    mov [RESULTS + 4], eax                  ; F1 through B
    mov dword [PT_S], F2 | 7                ; changed while B is loaded
    invlpg [0x800000]
    mov eax, [0x800000]
    mov [RESULTS + 8], eax                  ; F2 through B
    mov eax, PD_A
    mov cr3, eax
    mov eax, [0x800000]
    mov [RESULTS + 12], eax                 ; F2 through A
    mov dword [PT_S], F3 | 7                ; changed while A is loaded, no INVLPG
    mov eax, PD_B
    mov cr3, eax
    mov eax, [0x800000]
    mov [RESULTS + 16], eax                 ; F3 through B
    mov dword [PT_S + 4], F1 | 7            ; a new entry, used through B then A
    mov eax, [0x801000]
    mov [RESULTS + 20], eax                 ; F1
    mov eax, PD_A
    mov cr3, eax
    mov eax, [0x801000]
    mov [RESULTS + 24], eax                 ; F1
    mov eax, [PT_S + 4]
    mov [RESULTS + 28], eax                 ; F1 | 0x27: A set by the first use
    DONE

; ---------------------------------------------------------------------------------------------
; Accessed and dirty bits as the guest reads them back from its own tables.
sh_ad_bits:
    START
    call paging_identity
    call paging_on
    mov eax, [0x430000]                     ; read: A
    mov dword [0x431000], 1                 ; write: A and D
    mov eax, [0x432000]                     ; read, then write through the same translation
    mov dword [0x432000], 2
    mov eax, [PD + 4]
    mov [RESULTS], eax                      ; PDE: A
    mov eax, [PTE1 + 0x30 * 4]
    mov [RESULTS + 4], eax                  ; A
    mov eax, [PTE1 + 0x31 * 4]
    mov [RESULTS + 8], eax                  ; A D
    mov eax, [PTE1 + 0x32 * 4]
    mov [RESULTS + 12], eax                 ; A D
    mov eax, [PTE1 + 0x33 * 4]
    mov [RESULTS + 16], eax                 ; untouched: neither
    and dword [PTE1 + 0x30 * 4], ~0x60      ; clear A and D, and the PDE's A, then INVLPG
    and dword [PTE1 + 0x31 * 4], ~0x60
    and dword [PD + 4], ~0x20
    invlpg [0x430000]
    invlpg [0x431000]
    mov eax, [0x430000]
    mov eax, [0x431000]                     ; read only, this time
    mov eax, [PTE1 + 0x30 * 4]
    mov [RESULTS + 20], eax                 ; A
    mov eax, [PTE1 + 0x31 * 4]
    mov [RESULTS + 24], eax                 ; A (no D)
    mov eax, [PD + 4]
    mov [RESULTS + 28], eax                 ; A again
    and dword [PTE1 + 0x32 * 4], ~0x40      ; clear D without INVLPG: the dirty TLB entry is used
    mov dword [0x432000], 3
    mov eax, [PTE1 + 0x32 * 4]
    mov [RESULTS + 32], eax                 ; A, D still clear
    mov eax, cr3
    mov cr3, eax
    mov dword [0x432000], 4
    mov eax, [PTE1 + 0x32 * 4]
    mov [RESULTS + 36], eax                 ; A D: the write walked again
    DONE

; ---------------------------------------------------------------------------------------------
; A PTE that maps its own page table (0x7ff000 -> PT1): page-table edits through that mapping.
sh_self_map:
    START
    call markers
    call paging_identity
    mov dword [PTE1 + 0x3ff * 4], PT1 | 3   ; 0x7ff000 -> PT1
    mov dword [PTE1 + 0x05 * 4], F1 | 3     ; 0x405000 -> F1
    mov dword [PTE1 + 0x06 * 4], 0          ; 0x406000 not present
    call paging_on
    mov eax, [0x405000]
    mov [RESULTS], eax                      ; F1
    mov eax, [0x7ff000 + 0x05 * 4]
    mov [RESULTS + 4], eax                  ; F1 | 0x23 (read through the self-map)
    mov dword [0x7ff000 + 0x05 * 4], F2 | 3 ; rewrite it through the self-map
    invlpg [0x405000]
    mov eax, [0x405000]
    mov [RESULTS + 8], eax                  ; F2
    mov dword [0x7ff000 + 0x06 * 4], F3 | 3 ; a new mapping, made through the self-map
    mov eax, [0x406000]
    mov [RESULTS + 12], eax                 ; F3
    mov eax, [0x7ff000 + 0x3ff * 4]
    mov [RESULTS + 16], eax                 ; the self-map's own PTE: A and D
    mov eax, cr3
    mov cr3, eax                            ; (the hypervisor write-protects PT1 again here)
    mov dword [0x7ff000 + 0x05 * 4], F1 | 3
    invlpg [0x405000]
    mov eax, [0x405000]
    mov [RESULTS + 20], eax                 ; F1
    mov dword [0x7ff000 + 0x3ff * 4], PT1 | 1 ; the self-map made read-only, through itself
    invlpg [0x7ff000]
    mov dword [0x7ff000 + 0x05 * 4], F3 | 3 ; CR0.WP = 0: ring 0 may still write it
    invlpg [0x405000]
    mov eax, [0x405000]
    mov [RESULTS + 24], eax                 ; F3
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax                            ; CR0.WP = 1
    RESUME .after
.fault:
    mov dword [0x7ff000 + 0x05 * 4], F2 | 3 ; #PF(P|W)
.after:
    mov eax, [0x405000]
    mov [RESULTS + 28], eax                 ; F3: the write did not happen
    DONE

; ---------------------------------------------------------------------------------------------
; Demand paging by the guest's own #PF handler (CR2, error code, saved EIP), at ring 0 and ring 3;
; one fault is taken with the IDT entry and the handler's stack dropped from the TLB.
sh_demand:
    START
    call paging_identity
    mov edi, PTE1 + 0x40 * 4                ; 0x440000-0x44ffff not present
    mov ecx, 16
    xor eax, eax
    rep stosd
    mov dword [PTE1 + 0x4c * 4], DEMAND_BASE + 0xc000 | 5 ; 0x44c000: user, read-only
    mov dword [PTE1 + 0x4d * 4], DEMAND_BASE + 0xd000 | 3 ; 0x44d000: supervisor
    SET_GATE 14, demand_pf, INT_GATE
    call paging_on
    mov eax, [0x440010]                     ; read: #PF(0)
    mov dword [0x441020], 0x41              ; write: #PF(2)
    mov edi, 0x442ff0                       ; a string store across two missing pages
    mov ecx, 0x20
    mov al, 0x5a
    rep stosb
    invlpg [IDT_BASE + 14 * 8]
    invlpg [KSTACK_TOP - 4]
    mov eax, [0x444000]                     ; delivery takes hidden faults on the gate and the stack
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    mov eax, [0x44c000]
    mov [RESULTS], eax                      ; 0x77 (written at ring 3 after the handler allowed it)
    mov eax, [0x44d000]
    mov [RESULTS + 4], eax                  ; 0x88
    mov eax, [PTE1 + 0x4c * 4]
    mov [RESULTS + 8], eax                  ; A D RW U
    mov eax, cr2
    mov [RESULTS + 12], eax                 ; the last fault's address
    DONE
.user:
    mov dword [0x44c000], 0x77              ; ring 3 write, user read-only page: #PF(7)
    mov eax, [0x44d000]                     ; ring 3 read, supervisor page: #PF(5)
    mov dword [0x44d000], 0x88
    mov eax, [0x445000]                     ; ring 3 read, not present: #PF(4)
    int 0x80

; #PF: logs CR2, the error code and the saved EIP; maps a missing page to DEMAND_BASE + offset, or
; grants write and user access to a present one; returns to the faulting instruction.
demand_pf:
    pushad
    mov ebx, [DEMAND_N]
    shl ebx, 4
    mov eax, cr2
    mov [DEMAND_LOG + ebx], eax
    mov ecx, [esp + 32]
    mov [DEMAND_LOG + ebx + 4], ecx
    mov edx, [esp + 36]
    mov [DEMAND_LOG + ebx + 8], edx
    inc dword [DEMAND_N]
    shr eax, 12
    and eax, 0x3ff
    test ecx, 1
    jnz .present
    mov edx, eax
    shl edx, 12
    add edx, DEMAND_BASE - 0x40000
    or edx, 7
    mov [PTE1 + eax * 4], edx
    jmp .done
.present:
    or dword [PTE1 + eax * 4], 6
    mov edx, cr2
    invlpg [edx]
.done:
    popad
    add esp, 4
    iretd

; ---------------------------------------------------------------------------------------------
; Events whose delivery takes a hidden #PF (the gate's page dropped by INVLPG): a #GP, INT n, INT3,
; a #PF, and an IRQ; each must be delivered exactly once, as on the bare machine.
sh_vectoring:
    START
    call paging_identity
    mov dword [PTE1 + 0x3fe * 4], 0         ; 0x7fe000 not present
    call paging_on
    RESUME .n1
    invlpg [IDT_BASE + 13 * 8]
    invlpg [KSTACK_TOP - 4]
    mov ax, GDT_LIMIT_BAD
.f1:
    mov ds, ax                              ; #GP(0x1000)
.n1:
    RESUME 1
    invlpg [IDT_BASE + 0x40 * 8]
    invlpg [KSTACK_TOP - 4]
    mov ebx, 0x4040
    int 0x40
    invlpg [IDT_BASE + 3 * 8]
    mov ebx, 0x0303
    int3
    RESUME .n2
    invlpg [IDT_BASE + 14 * 8]
    invlpg [KSTACK_TOP - 4]
.f2:
    mov eax, [0x7fe000]                     ; #PF(0)
.n2:
    DONE

; ---------------------------------------------------------------------------------------------
; 4 MiB pages: an alias of physical 4-8 MiB at 12 MiB, A then D in the PDE, a 4 MiB page that
; maps the page directory itself (edits through it), INVLPG anywhere in the page drops all of it.
sh_large:
    START
    call paging_identity
    mov dword [PD], 0x87                    ; 0-4 MiB: one 4 MiB page (it maps PD and PT0 too)
    mov dword [PD + 12], 0x400000 | 0x83    ; 12-16 MiB -> physical 4-8 MiB
    mov dword [0x401000], 0x11111111
    mov dword [0x801000], 0x22222222
    mov eax, cr4
    or eax, 0x10                            ; PSE
    mov cr4, eax
    call paging_on
    mov eax, [0xc01000]
    mov [RESULTS], eax                      ; 0x11111111 through the alias
    mov eax, [PD + 12]
    mov [RESULTS + 4], eax                  ; A, no D
    mov dword [0xc02000], 0x33333333
    mov eax, [PD + 12]
    mov [RESULTS + 8], eax                  ; A D
    mov eax, [0x402000]
    mov [RESULTS + 12], eax                 ; 0x33333333 at the physical address
    mov eax, [PD]
    mov [RESULTS + 16], eax                 ; the 4 MiB page holding everything: A D
    mov dword [PD + 12], 0x800000 | 0x83    ; moved, through the large page, no INVLPG
    mov eax, [0xc01000]
    mov [RESULTS + 20], eax                 ; stale: 0x11111111
    invlpg [0xc3f000]                       ; another 4 KiB piece of the same 4 MiB page
    mov eax, [0xc01000]
    mov [RESULTS + 24], eax                 ; 0x22222222
    mov dword [PD + 16], 0x800000 | 0x81    ; 16-20 MiB -> 8-12 MiB read-only
    mov eax, [0x1001000]
    mov [RESULTS + 28], eax                 ; 0x22222222
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax                            ; CR0.WP = 1
    RESUME .after
.fault:
    mov dword [0x1001000], 5                ; #PF(3)
.after:
    DONE

; ---------------------------------------------------------------------------------------------
; CR0.WP = 0: ring 0 writes a page its PTE makes read-only (user page, so ring 3 still reads it and
; faults writing it), then with WP = 1 ring 0 faults too.
sh_wp0:
    START
    call paging_identity
    mov dword [PTE1 + 0x50 * 4], F1 | 5     ; 0x450000: user, read-only
    mov dword [PTE1 + 0x51 * 4], F2 | 1     ; 0x451000: supervisor, read-only
    call paging_on
    mov eax, [0x450000]                     ; read first: the shadow maps it read-only
    mov dword [0x450000], 0x1234            ; allowed at ring 0 with WP = 0
    mov dword [0x451000], 0x5678
    mov eax, .user
    mov ebx, USTACK_TOP
    mov ecx, 0x2
    call enter_user
    mov dword [0x450004], 0x9abc            ; ring 0 again
    mov eax, [PTE1 + 0x50 * 4]
    mov [RESULTS], eax                      ; A D, still read-only
    mov eax, [F1]
    mov [RESULTS + 4], eax                  ; 0x1234
    mov eax, [F1 + 4]
    mov [RESULTS + 8], eax                  ; 0x9abc
    mov eax, [F2]
    mov [RESULTS + 12], eax                 ; 0x5678
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    RESUME .after
.fault:
    mov dword [0x450008], 1                 ; #PF(3)
.after:
    DONE
.user:
    mov eax, [0x450000]                     ; ring 3 reads it
    mov [0x44f000], eax
    RESUME .u1
.g1:
    mov dword [0x450000], 1                 ; #PF(7)
.u1:
    RESUME .u2
.g2:
    mov eax, [0x451000]                     ; #PF(5)
.u2:
    mov eax, [0x450000]
    int 0x80

; ---------------------------------------------------------------------------------------------
; Global pages: a global translation survives MOV CR3 even after its PTE changed; INVLPG drops it.
sh_global:
    START
    call markers
    call paging_identity
    call make_spaces
    mov dword [PT_A + 0x20 * 4], F1 | 0x103 ; 0x420000 global in A
    mov dword [PT_B + 0x20 * 4], F1 | 0x103 ; and in B
    mov eax, cr4
    or eax, 0x80
    mov cr4, eax
    call paging_on
    mov eax, PD_A
    mov cr3, eax
    mov eax, [0x420000]
    mov [RESULTS], eax                      ; F1
    mov dword [PT_B + 0x20 * 4], F2 | 0x103 ; B's PTE changes
    mov eax, PD_B
    mov cr3, eax
    mov eax, [0x420000]
    mov [RESULTS + 4], eax                  ; global, kept by the TLB: F1
    invlpg [0x420000]
    mov eax, [0x420000]
    mov [RESULTS + 8], eax                  ; F2
    mov eax, cr4
    and eax, ~0x80
    mov cr4, eax                            ; PGE off: flushes everything
    mov eax, PD_A
    mov cr3, eax
    mov eax, [0x420000]
    mov [RESULTS + 12], eax                 ; F1
    DONE

; ---------------------------------------------------------------------------------------------
; More address spaces than the shadow-root cache holds, cycled three times.
SPACES equ 12
sh_many_spaces:
    START
    call paging_identity
    xor ebx, ebx
.build:                                     ; PD k at PD_MANY + k * 0x2000, its PT1 copy after it
    mov edi, ebx
    shl edi, 13
    add edi, PD_MANY
    mov esi, PD
    mov ecx, 1024
    rep movsd
    mov esi, PT1
    mov ecx, 1024
    rep movsd
    lea eax, [edi - 0x1000]
    or eax, 7
    mov [edi - 0x2000 + 4], eax             ; PDE 1 -> its own PT
    mov eax, ebx
    shl eax, 12
    add eax, F_A | 7
    mov [edi - 0x1000], eax                 ; 0x400000 -> F_A + k * 0x1000
    inc ebx
    cmp ebx, SPACES
    jb .build
    call paging_on
    mov edx, 3
.round:
    xor ebx, ebx
.space:
    mov eax, ebx
    shl eax, 13
    add eax, PD_MANY
    mov cr3, eax
    add [0x400000], ebx
    inc dword [0x400004]
    inc ebx
    cmp ebx, SPACES
    jb .space
    dec edx
    jnz .round
    mov eax, PD
    mov cr3, eax
    xor ebx, ebx
.sum:
    mov eax, ebx
    shl eax, 12
    mov ecx, [F_A + eax]
    add [RESULTS], ecx                      ; 3 * (0 + 1 + ... + 11) = 198
    mov ecx, [F_A + eax + 4]
    add [RESULTS + 4], ecx                  ; 3 * 12 = 36
    inc ebx
    cmp ebx, SPACES
    jb .sum
    DONE

; ---------------------------------------------------------------------------------------------
; Timer interrupts taken right after CR3 switches and INVLPGs of the gate and stack pages: each
; IRQ's delivery takes hidden faults and is re-injected.
sh_irq:
    START
    SET_GATE 0x20, irq0, INT_GATE
    call paging_identity
    call make_spaces
    call paging_on
    mov ecx, PIT_DIVISOR
    call timer_init
    xor esi, esi
    sti                                     ; (not STI; HLT: see the note in shadow.test.ts)
.wait:
    mov eax, PD_A
    test esi, 1
    jz .a
    mov eax, PD_B
.a:
    mov cr3, eax
    invlpg [IDT_BASE + 0x20 * 8]
    invlpg [KSTACK_TOP - 4]
    inc esi
    hlt
.after_hlt:
    cmp dword [TICKS], 5
    jb .wait
    cli
    DONE

; ---------------------------------------------------------------------------------------------
; Guest-physical addresses outside RAM: with paging off, and through a PTE.
sh_outside_off:
    START
    mov eax, [0x1000000]
    DONE

sh_outside_pte:
    START
    call paging_identity
    mov dword [PTE1], 0x4000000 | 3
    call paging_on
    mov eax, [0x400000]
    DONE
`;

const program = assemble(SOURCE);
const RESULTS = sym(program, "SCRATCH") + 0x1000;
const DEMAND_N = sym(program, "SCRATCH") + 0x2000;
const DEMAND_LOG = DEMAND_N + 0x10;
const LOG = sym(program, "LOG");
const F1 = 0x500000;

/** The shadow run ended exactly as the bare run: stop, registers, instructions, console, all RAM. */
function expectIdentical(bare: Outcome, shadow: ShadowOutcome, options: { instructions?: boolean } = {}): void {
  expect(shadow.stop, shadow.diagnostic).toEqual(bare.stop);
  const regs = (o: Outcome) => Object.fromEntries(Object.entries(o.regs).map(([k, v]) => [k, hex(v)]));
  expect(regs(shadow)).toEqual(regs(bare));
  if (options.instructions !== false) expect(shadow.instructions).toBe(bare.instructions);
  expect(shadow.console).toBe(bare.console);
  expect(memoryDiff(bare, shadow, 16 << 20)).toEqual([]);
}

function results(o: Outcome, count: number): string[] {
  return Array.from({ length: count }, (_, k) => hex(o.read32(RESULTS + 4 * k)));
}

/** The logging stubs' entries: vector, CR2 and the error code (for vectors that push one). */
function log(o: Outcome): { vector: number; cr2: number; error?: number; eip: number }[] {
  const n = o.read32(LOG);
  return Array.from({ length: n }, (_, k) => {
    const e = LOG + 0x40 + 64 * k;
    const vector = o.read32(e);
    const withError = [8, 10, 11, 12, 13, 14, 17].includes(vector);
    const raw = e + 16;
    return withError
      ? { vector, cr2: o.read32(e + 12), error: o.read32(raw), eip: o.read32(raw + 4) }
      : { vector, cr2: o.read32(e + 12), eip: o.read32(raw) };
  });
}

function notes(o: ShadowOutcome): string {
  return o.exits.map((e) => e.handler).join("\n");
}

function run(entry: string, options: { instructions?: boolean } = {}): { bare: Outcome; shadow: ShadowOutcome } {
  const r = runBoth(program, { entry });
  expectIdentical(r.bare, r.shadow, options);
  return r;
}

describe("shadow paging: the guest cannot tell", () => {
  it("paging on and off: CR0/CR3/CR4 read back as the guest wrote them; translation through its tables", () => {
    const { shadow } = run("sh_enable");
    expect(results(shadow, 8)).toEqual([0x11111111, 0x80000011, 0x10000, 0, F1 | 0x67, 0x5678, 0, 0x5678].map(hex));
    expect(shadow.regs.cr0).toBe(0x80000011);
    expect(shadow.regs.cr3).toBe(0x10000);
    expect(shadow.mmu.stats.resets).toBe(3);
    // The real GUEST_CR3 is a shadow root in the hypervisor's memory, not the guest's PD.
    expect(shadow.hv.machine.vmx.read(0x6802)).not.toBe(0x10000);
  });

  it("a live PTE changed without INVLPG keeps its cached translation; INVLPG and CR3 loads drop it", () => {
    const { shadow } = run("sh_live_pte");
    expect(results(shadow, 6)).toEqual(
      [0x11111111, 0x11111111, 0x22222222, 0x33333333, 0x22222222, 0x22222222].map(hex),
    );
    expect(log(shadow)).toEqual([{ vector: 14, cr2: 0x420000, error: 0, eip: sym(program, "sh_live_pte.fault") }]);
    expect(notes(shadow)).toMatch(/write to guest page table gpa 0x00012000/);
    expect(notes(shadow)).toMatch(/guest #PF reflected \(error 0x0\)/);
  });

  it("switching between two address spaces reuses their cached shadow roots", () => {
    const { shadow } = run("sh_two_spaces");
    expect(results(shadow, 3)).toEqual([20, 40, 0x14000].map(hex));
    const stats = shadow.mmu.stats;
    expect(stats.cr3Loads).toBe(42); // PD (paging still off), 20 x (PD_A, PD_B), PD
    expect(stats.rootBuilds).toBe(3); // PD (when paging goes on), PD_A, PD_B
    expect(stats.rootHits).toBe(39);
    // Faults do not grow with the number of switches: the roots keep their entries.
    expect(stats.hiddenFaults).toBeLessThan(20);
  });

  it("a page table shared by two page directories: changes are seen through both", () => {
    const { shadow } = run("sh_shared_pt");
    expect(results(shadow, 8)).toEqual(
      [0x11111111, 0x11111111, 0x22222222, 0x22222222, 0x33333333, 0x11111111, 0x11111111, F1 | 0x27].map(hex),
    );
  });

  it("accessed and dirty bits are set in the guest's PDEs and PTEs as the processor sets them", () => {
    const { shadow } = run("sh_ad_bits");
    const pt1 = 0x12000;
    expect(results(shadow, 10)).toEqual(
      [
        pt1 | 0x27,
        0x430000 | 0x27,
        0x431000 | 0x67,
        0x432000 | 0x67,
        0x433000 | 0x07,
        0x430000 | 0x27,
        0x431000 | 0x27,
        pt1 | 0x27,
        0x432000 | 0x27,
        0x432000 | 0x67,
      ].map(hex),
    );
  });

  it("a PTE that maps its own page table: edits through it, CR0.WP = 0 and 1", () => {
    const { shadow } = run("sh_self_map");
    expect(results(shadow, 8)).toEqual(
      [0x11111111, F1 | 0x23, 0x22222222, 0x33333333, 0x12000 | 0x63, 0x11111111, 0x33333333, 0x33333333].map(hex),
    );
    expect(log(shadow)).toEqual([
      { vector: 14, cr2: 0x7ff000 + 0x14, error: 3, eip: sym(program, "sh_self_map.fault") },
    ]);
  });

  it("the guest's own #PF handler does demand paging: CR2, error codes, saved EIP; ring 0 and ring 3", () => {
    const { shadow } = run("sh_demand");
    const n = shadow.read32(DEMAND_N);
    const faults = Array.from({ length: n }, (_, k) => [
      hex(shadow.read32(DEMAND_LOG + 16 * k)),
      shadow.read32(DEMAND_LOG + 16 * k + 4),
    ]);
    expect(faults).toEqual([
      ["0x440010", 0],
      ["0x441020", 2],
      ["0x442ff0", 2],
      ["0x443000", 2],
      ["0x444000", 0],
      ["0x44c000", 7],
      ["0x44d000", 5],
      ["0x445000", 4],
    ]);
    expect(results(shadow, 4)).toEqual([0x77, 0x88, (0x70c000 | 0x67) >>> 0, 0x445000].map(hex));
    expect(notes(shadow)).toMatch(/vector 14 re-injected/);
  });

  it("events whose delivery takes a hidden #PF (#GP, INT n, INT3, #PF) are delivered exactly once", () => {
    const { shadow } = run("sh_vectoring");
    expect(log(shadow).map((e) => [e.vector, e.error === undefined ? "-" : hex(e.error), hex(e.cr2)])).toEqual([
      [13, hex(0x1000), "0x0"],
      [0x40, "-", "0x0"],
      [3, "-", "0x0"],
      [14, "0x0", hex(0x7fe000)],
    ]);
    expect(notes(shadow)).toMatch(/vector 13 re-injected/);
  });

  it("4 MiB guest pages: split into 4 KiB shadow PTEs, A/D in the PDE, INVLPG drops the whole page", () => {
    const { shadow } = run("sh_large");
    expect(results(shadow, 8)).toEqual(
      [0x11111111, 0x400000 | 0xa3, 0x400000 | 0xe3, 0x33333333, 0xe7, 0x11111111, 0x22222222, 0x22222222].map(hex),
    );
    expect(log(shadow)).toEqual([{ vector: 14, cr2: 0x1001000, error: 3, eip: sym(program, "sh_large.fault") }]);
  });

  it("CR0.WP = 0: ring 0 writes read-only pages, ring 3 still faults; WP = 1 faults at ring 0", () => {
    const { shadow } = run("sh_wp0");
    expect(results(shadow, 4)).toEqual([F1 | 0x65, 0x1234, 0x9abc, 0x5678].map(hex));
    expect(log(shadow).map((e) => [hex(e.cr2), e.error])).toEqual([
      ["0x450000", 7],
      ["0x451000", 5],
      ["0x450008", 3],
    ]);
    expect(notes(shadow)).toMatch(/writable for supervisor only/);
  });

  it("global pages survive CR3 switches between cached roots; INVLPG and clearing PGE drop them", () => {
    const { shadow } = run("sh_global");
    expect(results(shadow, 4)).toEqual([0x11111111, 0x11111111, 0x22222222, 0x11111111].map(hex));
  });

  it(`more address spaces than the cache holds (${ROOT_CACHE}): LRU eviction, same results`, () => {
    const { shadow } = run("sh_many_spaces");
    expect(results(shadow, 2)).toEqual([198, 36].map(hex));
    expect(shadow.mmu.stats.rootEvictions).toBeGreaterThan(0);
    expect(shadow.mmu.cachedRoots).toBeLessThanOrEqual(ROOT_CACHE);
  });

  // The loop enables interrupts once: with STI; HLT the wake-up interrupt is never taken in a VM (EPT or
  // shadow), because the hypervisor's HLT emulation leaves STI blocking in the guest's interruptibility
  // state after skipping the HLT, so the interrupt window stays closed if CLI follows.
  it("timer interrupts whose delivery takes hidden faults are re-injected, each taken once", () => {
    const { shadow } = run("sh_irq");
    const ticks = sym(program, "TICKS");
    expect(shadow.read32(ticks)).toBe(5);
    const eips = Array.from({ length: 5 }, (_, k) => shadow.read32(sym(program, "TICK_EIP") + 4 * k));
    expect(eips).toEqual(Array(5).fill(sym(program, "sh_irq.after_hlt")));
    expect(notes(shadow)).toMatch(/vector 32 re-injected/);
  });
});

describe("shadow paging: the hypervisor's side", () => {
  it("guest-physical addresses outside RAM stop the VM with a diagnostic (paging off and through a PTE)", () => {
    const off = runShadow(program, { entry: "sh_outside_off" });
    expect(off.stop.kind).toBe("error");
    expect(off.diagnostic).toMatch(/guest-physical 0x1000000 \(paging off\), outside its 16 MiB/);
    const pte = runShadow(program, { entry: "sh_outside_pte" });
    expect(pte.stop.kind).toBe("error");
    expect(pte.diagnostic).toMatch(/linear 0x00400000 to guest-physical 0x4000000, outside its 16 MiB/);
  });

  it("CR3 loads and stores, INVLPG and #PF exit; GUEST_CR3 holds a shadow root; the trace says what happened", () => {
    const r = runShadow(program, { entry: "sh_two_spaces" });
    const names = new Set(r.exits.map((e) => e.name));
    expect(names).toContain("CR_ACCESS");
    expect(names).toContain("EXCEPTION_NMI");
    const handler = notes(r);
    expect(handler).toMatch(/CR3 load 0x00013000: new shadow root/);
    expect(handler).toMatch(/CR3 load 0x00013000: cached shadow root/);
    expect(handler).toMatch(/MOV from CR3: guest CR3 0x00014000/);
    expect(handler).toMatch(/hidden #PF: shadow PTE filled for 0x00400000 -> gpa 0x00600000/);
    expect(r.mmu.tablePages).toBeGreaterThan(3);
    expect(r.hv.hostPagesFor(r.vm)).toBe(r.vm.memory.populatedPages + r.mmu.tablePages + 1);
  });

  it("charges the modeled costs of shadow paging", () => {
    const r = runShadow(program, { entry: "sh_live_pte" });
    const cost = r.hv.cost.hypervisor;
    const pf = r.exits.filter((e) => e.name === "EXCEPTION_NMI");
    expect(pf.length).toBeGreaterThan(0);
    for (const e of pf) expect(e.cycles.handler).toBeGreaterThanOrEqual(cost.dispatch + cost.shadowPageFault);
    const tableWrite = pf.find((e) => e.handler.includes("write to guest page table"))!;
    expect(tableWrite.cycles.handler).toBeGreaterThanOrEqual(
      cost.dispatch + cost.shadowPageFault + cost.shadowPteWrite,
    );
    const invlpg = r.exits.find((e) => e.name === "INVLPG")!;
    expect(invlpg.cycles.handler).toBe(cost.dispatch + cost.shadowInvlpg);
    expect(invlpg.handler).toMatch(/INVLPG 0x00420000: shadow PTE dropped/);
  });

  it("two shadow-paged VMs and an EPT VM share the machine; each ends as on the bare machine", () => {
    const bare = runBare(program, { entry: "sh_two_spaces" });
    const bareDemand = runBare(program, { entry: "sh_demand" });
    const image = program.bytes;
    const hv = new Hypervisor(
      [
        { name: "s1", memoryMiB: 16, image, load: LOAD, entry: sym(program, "sh_two_spaces"), paging: "shadow" },
        { name: "s2", memoryMiB: 16, image, load: LOAD, entry: sym(program, "sh_demand"), paging: "shadow" },
        { name: "e", memoryMiB: 16, image, load: LOAD, entry: sym(program, "sh_two_spaces"), paging: "ept" },
      ],
      { sliceCycles: 5_000 },
    );
    hv.run({ maxInstructions: 2_000_000 });
    for (const [vm, expected] of [
      [hv.vms[0]!, bare],
      [hv.vms[1]!, bareDemand],
      [hv.vms[2]!, bare],
    ] as const) {
      expect(vm.stop, vm.name).toEqual({ kind: "halt" });
      expect(vm.finalRegs).toEqual(expected.regs);
      expect(vm.stats.slices, vm.name).toBeGreaterThan(1);
      const mine = vm.memory.read(0, 16 << 20);
      const theirs = expected.bytes(0, 16 << 20);
      expect(Buffer.compare(Buffer.from(mine), Buffer.from(theirs)), vm.name).toBe(0);
    }
  });
});

describe("shadow paging: whole programs", () => {
  it("the example guest kernel (two processes, own address spaces, ring 3, timer preemption) prints the same", () => {
    const file = join(dirname(fileURLToPath(import.meta.url)), "..", "examples", "guest-kernel.asm");
    const image = assembleOrThrow(readFileSync(file, "utf8"), {
      fileName: file,
      readFile: (path) => readFileSync(path, "utf8"),
    }).bytes;
    const machine = new Machine({ memoryMiB: 32 });
    machine.load(image);
    const stop = machine.run({ maxInstructions: 50_000_000 });
    const hv = new Hypervisor([{ name: "kernel", memoryMiB: 32, image, paging: "shadow" }]);
    hv.run({ maxInstructions: 50_000_000 });
    const vm = hv.vms[0]!;
    expect(vm.stop).toEqual(stop);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(vm.consoleText()).toBe(machine.consoleText());
    const stats = (vm.mmu as ShadowMmu).stats;
    // The two processes' shadow roots stay cached: switching does not rebuild or refault.
    expect(stats.cr3Loads).toBeGreaterThan(10);
    expect(stats.rootBuilds).toBeLessThanOrEqual(3);
    expect(stats.rootHits).toBe(stats.cr3Loads - stats.rootBuilds);
    expect(stats.hiddenFaults).toBeLessThan(100);
  });

  it.each(["sieve-O2.elf", "printf-O2.elf", "sort-O0.elf"])("%s: identical to the bare machine", (file) => {
    const image = new Uint8Array(readFileSync(join(examplePath("c/build"), file)));
    const machine = new Machine({ memoryMiB: 16 });
    machine.load(image);
    const stop = machine.run({ maxInstructions: 50_000_000 });
    const hv = new Hypervisor([{ name: "c", memoryMiB: 16, image, paging: "shadow" }]);
    hv.run({ maxInstructions: 50_000_000 });
    const vm = hv.vms[0]!;
    expect(vm.stop).toEqual(stop);
    expect(vm.consoleText()).toBe(machine.consoleText());
    expect(vm.finalRegs).toEqual(machine.cpu.snapshotRegisters());
    expect(vm.stats.guestInstructions).toBe(machine.cpu.instret);
  });
});
