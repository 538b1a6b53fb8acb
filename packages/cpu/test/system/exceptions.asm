; Exceptions at ring 0: vector, error code, saved EIP (fault: the faulting instruction; trap: the
; next one), the double-fault rules and the triple fault. Each label is one case (the harness
; enters there); the expectations are in system.test.ts.
%include "lib.inc"

; #DE, divide by zero: a fault, so the saved EIP is the DIV and EAX/EDX are untouched.
de_div_zero:
    START
    RESUME .after
    mov eax, 0x1234
    mov edx, 0x5678
    xor ecx, ecx
.fault:
    div ecx
    ud2
.after:
    DONE

; #DE, quotient overflow: DIV r32, IDIV r32 (INT_MIN / -1) and DIV r8.
de_overflow:
    START
    RESUME .f2
    mov edx, 1
    xor eax, eax
    mov ecx, 1
.f1:
    div ecx                     ; 2^32 / 1 does not fit in 32 bits
    ud2
.f2:
    RESUME .f3
    mov eax, 0x80000000
    cdq
    mov ecx, -1
.i1:
    idiv ecx                    ; +2^31 does not fit
    ud2
.f3:
    RESUME .done
    mov eax, 0x00001000
    mov ecx, 0x10
.b1:
    div cl                      ; 0x1000 / 0x10 = 0x100 does not fit in AL
    ud2
.done:
    DONE

; #BP: INT3 (CC) and INT 3 (CD 03) are traps: the saved EIP is the next instruction.
bp_int3:
    START
    RESUME 1
    mov eax, 0x11
    int3
.after1:
    mov ebx, 0x22
    int 3
.after2:
    DONE

; #OF: INTO does nothing with OF = 0 and traps with OF = 1 (saved EIP after INTO).
of_into:
    START
    RESUME 1
    xor ecx, ecx                ; OF = 0
    into
    mov eax, 0x7fffffff
    add eax, 1                  ; OF = SF = AF = PF = 1
.into:
    into
.after:
    DONE

; #UD: UD2 and an undefined opcode (0F FF) are faults at their own address.
ud_opcodes:
    START
    RESUME .next
.ud2:
    ud2
.next:
    RESUME .next2
.bad:
    db 0x0f, 0xff
.next2:
    DONE

; #UD: a LOCK prefix on an instruction that cannot be locked (NOP) or with a register destination.
ud_lock:
    START
    RESUME .next
.nop:
    db 0xf0, 0x90               ; lock nop
.next:
    RESUME .next2
.reg:
    db 0xf0, 0x01, 0xc0         ; lock add eax, eax
.next2:
    mov dword [SCRATCH], 5
    lock add dword [SCRATCH], 3 ; a locked read-modify-write of memory is fine
    mov eax, [SCRATCH]
    DONE

; No IDT at all (IDTR limit 0 from reset): #UD -> #GP -> #DF -> triple fault -> shutdown.
ud_no_idt:
    mov eax, 0xdead
.ud:
    ud2

; #NP for a not-present IDT gate reached by INT n: error code = vector * 8 + 2 (IDT, EXT = 0),
; saved EIP = the INT instruction (a fault).
np_gate:
    START
    SET_GATE 0x41, isr_stubs + 0x41 * 16, NP_GATE
    RESUME .after
.int:
    int 0x41
.after:
    DONE

; #NP for a not-present gate reached by an exception (#UD): EXT = 1, and #UD is benign, so no #DF.
np_gate_exception:
    START
    SET_GATE 6, isr_stubs + 6 * 16, NP_GATE
    RESUME .after
.ud:
    ud2
.after:
    DONE

; #NP for not-present segments: MOV DS and a far JMP.
np_segment:
    START
    RESUME .next
    mov ax, NP_DATA
.movds:
    mov ds, ax
.next:
    RESUME .next2
.jmp:
    jmp NP_CODE:0
.next2:
    mov ax, ds
    DONE

; #SS: loading SS with a not-present (otherwise valid) stack segment.
ss_not_present:
    START
    RESUME .after
    mov ax, NP_DATA
.movss:
    mov ss, ax
.after:
    mov ax, ss
    DONE

; #GP for bad selectors: past the GDT limit, a system segment, execute-only code into a data
; register, null SS, read-only SS, an SS whose RPL/DPL is not the CPL, an LDT selector with no LDT.
gp_selectors:
    START
    RESUME .n1
    mov ax, GDT_LIMIT_BAD
.f1:
    mov ds, ax
.n1:
    RESUME .n2
    mov ax, TSS_SEL
.f2:
    mov es, ax
.n2:
    RESUME .n3
    mov ax, XO_CODE
.f3:
    mov fs, ax
.n3:
    RESUME .n4
    xor eax, eax
.f4:
    mov ss, ax
.n4:
    RESUME .n5
    mov ax, RO_DATA
.f5:
    mov ss, ax
.n5:
    RESUME .n6
    mov ax, UDATA
.f6:
    mov ss, ax
.n6:
    RESUME .n7
    mov ax, 0x0c
.f7:
    mov gs, ax
.n7:
    xor eax, eax
    mov ds, ax                  ; a null selector is fine in a data segment register
    mov ax, KDATA
    mov ds, ax
    DONE

; Data segment loads that succeed: the first load of a descriptor sets its accessed bit in the GDT,
; a second load finds it set; readable code may be loaded into a data segment register. Loads the
; hidden caches (base, limit, access rights) that the test reads.
data_segment_loads:
    START
    mov ax, SMALL_DATA
    mov es, ax
    mov ebx, [gdt + SMALL_DATA + 4]     ; accessed now
    mov ax, SMALL_DATA
    mov fs, ax
    mov ax, RX_CODE3
    mov gs, ax
    mov ecx, [gdt + RX_CODE3 + 4]
    push SMALL_DATA
    pop ds
    mov ax, KDATA
    mov ds, ax
    DONE

; #DF: #GP whose gate is not present -> #NP (contributory) -> #DF with error code 0.
df_gp_np:
    START
    SET_GATE 13, isr_stubs + 13 * 16, NP_GATE
    RESUME .after
    mov ax, GDT_LIMIT_BAD
.fault:
    mov ds, ax
.after:
    DONE

; #DF: #DE whose gate is not present -> #NP -> #DF.
df_de_np:
    START
    SET_GATE 0, isr_stubs, NP_GATE
    RESUME .after
    xor ecx, ecx
.fault:
    div ecx
.after:
    DONE

; Triple fault: #GP gate and #DF gate both not present -> #GP, #NP, #DF, #NP -> shutdown.
triple_fault:
    START
    SET_GATE 13, isr_stubs + 13 * 16, NP_GATE
    SET_GATE 8, isr_stubs + 8 * 16, NP_GATE
    mov ax, GDT_LIMIT_BAD
.fault:
    mov ds, ax
    EXIT 0x600d

; #DB single step: with TF = 1 at the start of an instruction, a #DB trap follows it (saved EIP =
; the next instruction). The POPF that sets TF does not trap; the POPF that clears it does.
db_single_step:
    START
    RESUME 1
    pushfd
    or dword [esp], FL_TF
    popfd
.i1:
    mov eax, 1
.i2:
    add eax, 2
.i3:
    nop
.i4:
    pushfd
.i5:
    and dword [esp], ~FL_TF
.i6:
    popfd
.i7:
    mov ebx, 3
    DONE

; #PF whose gate is not present: page fault then #NP (contributory) is a #DF.
df_pf_np:
    START
    call paging_identity
    mov dword [PT1 + 16 * 4], 0             ; 0x410000 not present
    SET_GATE 14, isr_stubs + 14 * 16, NP_GATE
    call paging_on
    RESUME .after
.fault:
    mov eax, [0x410000]
.after:
    DONE

; Instruction counts: a loop of DEC/JNZ, and a faulting instruction that does not retire.
icount_loop:
    mov ecx, 100
.l:
    dec ecx
    jnz .l
    cli
    hlt

icount_fault:
    mov eax, 1
    mov ebx, 2
    ud2

; A gate whose code segment is not present: #NP(selector), with EXT = 1 for an exception (#UD)
; and EXT = 0 for INT n.
np_gate_target:
    START
    mov word [IDT_BASE + 6 * 8 + 2], NP_CODE
    mov word [IDT_BASE + 0x41 * 8 + 2], NP_CODE
    RESUME .n1
.f1:
    ud2
.n1:
    RESUME .n2
.f2:
    int 0x41
.n2:
    DONE
