; hypervisor.asm: a minimal hypervisor for the vmxlab machine, in NASM-style assembly.
;
;   vmxlab run packages/cpu/examples/hypervisor.asm
;
; It boots on the bare machine (32-bit protected mode, paging off, CS = 0x08, DS = 0x10), turns on
; VMX (VMXON), builds a VMCS and an EPT identity map of the guest's memory, and launches a guest that
; lives in this same file. The guest:
;   1. runs CPUID                   -> VM exit 10 (CPUID always exits); the hypervisor executes it
;   2. writes "hi" to port 0xE9     -> VM exit 30 per byte (I/O bitmap A has port 0xE9's bit set);
;                                      the hypervisor emulates the OUT by writing the byte to 0xE9
;   3. sets up its own IDT and paging and touches a page it left unmapped: the #PF goes to the
;      guest's own handler (the exception bitmap is 0, so no VM exit), which maps the page; then it
;      reports through VMCALL        -> VM exit 18 (VMCALL always exits)
;   4. touches guest-physical memory the EPT does not map
;                                   -> VM exit 48 (EPT violation); the hypervisor maps the page and
;                                      resumes at the same instruction, which now completes
;   5. executes HLT                 -> VM exit 12 (HLT exiting); the hypervisor ends the run
;                                      through the debug-exit port 0xF4 (value 0)
; The hypervisor prints one line per VM exit it handles. After every exit but the EPT violation
; it advances GUEST_RIP by VM_EXIT_INSTRUCTION_LEN (the instruction was emulated); an EPT violation
; is a fault, so the guest retries the access.
;
; Memory: the EPT maps only the first 2 MiB of guest-physical memory (this program, the guest's
; page tables, IDT and stack); the hypervisor's VMXON region, VMCS, EPT tables and stack sit above
; 2 MiB where the guest cannot reach them.

bits 32
org 0x100000

; ---- the hypervisor's private memory (above the 2 MiB the guest can see) ----
VMXON_REGION    equ 0x200000        ; 4 KiB each, 4 KiB aligned
VMCS_REGION     equ 0x201000
EPT_PML4        equ 0x202000        ; EPT: PML4 -> PDPT -> PD of 2 MiB pages
EPT_PDPT        equ 0x203000
EPT_PD          equ 0x204000
HOST_PD         equ 0x205000        ; the host's own page directory (4 MiB pages)
IO_BITMAP_A     equ 0x206000        ; ports 0x0000-0x7FFF, one bit each
IO_BITMAP_B     equ 0x207000        ; ports 0x8000-0xFFFF
HOST_STACK_TOP  equ 0x280000

; ---- the guest's memory (inside the first 2 MiB) ----
GUEST_PD        equ 0x1c0000
GUEST_PT        equ 0x1c1000        ; maps linear 0-4 MiB with 4 KiB pages
GUEST_LAZY_PAGE equ 0x1d0000        ; left unmapped until the guest's #PF handler maps it
GUEST_IDT       equ 0x1e0000
GUEST_STACK_TOP equ 0x1f0000
GUEST_FAR_DATA  equ 0x600000        ; guest-physical memory outside the EPT map
TSS_BASE        equ 0x1f8000        ; the task-state segment TR points at (host and guest; unused)

; ---- VMCS field encodings (Intel SDM Vol. 3D, Appendix B) ----
VIRTUAL_PROCESSOR_ID        equ 0x0000
GUEST_ES_SELECTOR           equ 0x0800
GUEST_CS_SELECTOR           equ 0x0802
GUEST_TR_SELECTOR           equ 0x080e
HOST_ES_SELECTOR            equ 0x0c00
HOST_CS_SELECTOR            equ 0x0c02
HOST_SS_SELECTOR            equ 0x0c04
HOST_DS_SELECTOR            equ 0x0c06
HOST_FS_SELECTOR            equ 0x0c08
HOST_GS_SELECTOR            equ 0x0c0a
HOST_TR_SELECTOR            equ 0x0c0c
IO_BITMAP_A_ADDR            equ 0x2000
IO_BITMAP_B_ADDR            equ 0x2002
EPT_POINTER                 equ 0x201a
GUEST_PHYSICAL_ADDRESS      equ 0x2400
VMCS_LINK_POINTER           equ 0x2800
VMCS_LINK_POINTER_HIGH      equ 0x2801
PIN_BASED_VM_EXEC_CONTROL   equ 0x4000
CPU_BASED_VM_EXEC_CONTROL   equ 0x4002
EXCEPTION_BITMAP            equ 0x4004
VM_EXIT_CONTROLS            equ 0x400c
VM_ENTRY_CONTROLS           equ 0x4012
SECONDARY_VM_EXEC_CONTROL   equ 0x401e
VM_INSTRUCTION_ERROR        equ 0x4400
VM_EXIT_REASON              equ 0x4402
VM_EXIT_INSTRUCTION_LEN     equ 0x440c
GUEST_ES_LIMIT              equ 0x4800
GUEST_TR_LIMIT              equ 0x480e
GUEST_GDTR_LIMIT            equ 0x4810
GUEST_IDTR_LIMIT            equ 0x4812
GUEST_ES_AR_BYTES           equ 0x4814
GUEST_CS_AR_BYTES           equ 0x4816
GUEST_LDTR_AR_BYTES         equ 0x4820
GUEST_TR_AR_BYTES           equ 0x4822
GUEST_INTERRUPTIBILITY_INFO equ 0x4824
GUEST_ACTIVITY_STATE        equ 0x4826
CR4_GUEST_HOST_MASK         equ 0x6002
CR4_READ_SHADOW             equ 0x6006
EXIT_QUALIFICATION          equ 0x6400
GUEST_CR0                   equ 0x6800
GUEST_CR3                   equ 0x6802
GUEST_CR4                   equ 0x6804
GUEST_ES_BASE               equ 0x6806
GUEST_TR_BASE               equ 0x6814
GUEST_GDTR_BASE             equ 0x6816
GUEST_IDTR_BASE             equ 0x6818
GUEST_RSP                   equ 0x681c
GUEST_RIP                   equ 0x681e
GUEST_RFLAGS                equ 0x6820
HOST_CR0                    equ 0x6c00
HOST_CR3                    equ 0x6c02
HOST_CR4                    equ 0x6c04
HOST_TR_BASE                equ 0x6c0a
HOST_GDTR_BASE              equ 0x6c0c
HOST_IDTR_BASE              equ 0x6c0e
HOST_RSP                    equ 0x6c14
HOST_RIP                    equ 0x6c16

; ---- capability MSRs and control bits ----
IA32_FEATURE_CONTROL            equ 0x3a
IA32_VMX_BASIC                  equ 0x480
IA32_VMX_PROCBASED_CTLS2        equ 0x48b
IA32_VMX_TRUE_PINBASED_CTLS     equ 0x48d
IA32_VMX_TRUE_PROCBASED_CTLS    equ 0x48e
IA32_VMX_TRUE_EXIT_CTLS         equ 0x48f
IA32_VMX_TRUE_ENTRY_CTLS        equ 0x490
HLT_EXITING                     equ 1 << 7
USE_IO_BITMAPS                  equ 1 << 25
ACTIVATE_SECONDARY_CONTROLS     equ 1 << 31
ENABLE_EPT                      equ 1 << 1
UNRESTRICTED_GUEST              equ 1 << 7

; ---- basic exit reasons ----
EXIT_CPUID          equ 10
EXIT_HLT            equ 12
EXIT_VMCALL         equ 18
EXIT_IO             equ 30
EXIT_EPT_VIOLATION  equ 48

; VMWR field, value: VMWRITE an immediate (or register/label) to a field; any failure -> vmx_fail.
%macro VMWR 2
    mov ebx, %1
    mov eax, %2
    vmwrite ebx, eax
    jbe vmx_fail
%endmacro

; ===================================================================================== hypervisor
start:
    mov esp, HOST_STACK_TOP
    lgdt [gdtr]
    mov esi, msg_banner
    call puts

    ; CPUID.1:ECX bit 5 says whether the processor supports VMX.
    mov eax, 1
    cpuid
    test ecx, 1 << 5
    jz no_vmx

    ; VMX operation needs CR0.PE = NE = PG = 1 (IA32_VMX_CR0_FIXED0): give the host paging with an
    ; identity map of the first 16 MiB in 4 MiB pages (CR4.PSE). CR4.VMXE enables VMXON.
    mov edi, HOST_PD
    mov ecx, 1024
    xor eax, eax
    cld
    rep stosd
    mov edi, HOST_PD
    mov eax, 0x83                   ; present | writable | 4 MiB page
    mov ecx, 4
.host_pde:
    stosd
    add eax, 0x400000
    loop .host_pde
    mov eax, HOST_PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x2010                  ; VMXE | PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000020              ; PG | NE
    mov cr0, eax

    ; IA32_FEATURE_CONTROL: lock it with "enable VMX outside SMX" set, or VMXON raises #GP.
    mov ecx, IA32_FEATURE_CONTROL
    mov eax, 5
    xor edx, edx
    wrmsr

    ; The VMXON region and the VMCS start with the VMCS revision identifier (IA32_VMX_BASIC[30:0]).
    mov ecx, IA32_VMX_BASIC
    rdmsr
    and eax, 0x7fffffff
    mov [VMXON_REGION], eax
    mov [VMCS_REGION], eax

    ; Enter VMX root operation, then make our VMCS clear ("launch state = clear") and current.
    vmxon [vmxon_ptr]
    jbe vmx_fail
    vmclear [vmcs_ptr]
    jbe vmx_fail
    vmptrld [vmcs_ptr]
    jbe vmx_fail

    ; ---- EPT: guest-physical 0-2 MiB -> host-physical 0-2 MiB, one 2 MiB page ----
    mov edi, EPT_PML4
    mov ecx, 3 * 1024               ; clear PML4, PDPT and PD (contiguous)
    xor eax, eax
    rep stosd
    mov dword [EPT_PML4], EPT_PDPT | 7          ; read | write | execute
    mov dword [EPT_PDPT], EPT_PD | 7
    mov dword [EPT_PD], 0x000000 | 0xb7         ; RWX | memory type WB (6 << 3) | 2 MiB page (bit 7)

    ; ---- I/O bitmaps: only port 0xE9 exits ----
    mov edi, IO_BITMAP_A
    mov ecx, 2 * 1024
    xor eax, eax
    rep stosd
    or byte [IO_BITMAP_A + 0xe9 / 8], 1 << (0xe9 % 8)

    ; ---- VM-execution, VM-exit and VM-entry controls ----
    ; Each control word is adjusted to the capability MSRs: bits reported as allowed-0 = 1 must be
    ; set, bits not allowed-1 must be clear (adjust_controls).
    mov ecx, IA32_VMX_TRUE_PINBASED_CTLS
    xor eax, eax
    call adjust_controls
    VMWR PIN_BASED_VM_EXEC_CONTROL, eax
    mov ecx, IA32_VMX_TRUE_PROCBASED_CTLS
    mov eax, HLT_EXITING | USE_IO_BITMAPS | ACTIVATE_SECONDARY_CONTROLS
    call adjust_controls
    VMWR CPU_BASED_VM_EXEC_CONTROL, eax
    ; EPT, and "unrestricted guest" so the guest may start with paging off.
    mov ecx, IA32_VMX_PROCBASED_CTLS2
    mov eax, ENABLE_EPT | UNRESTRICTED_GUEST
    call adjust_controls
    VMWR SECONDARY_VM_EXEC_CONTROL, eax
    mov ecx, IA32_VMX_TRUE_EXIT_CTLS
    xor eax, eax
    call adjust_controls
    VMWR VM_EXIT_CONTROLS, eax
    mov ecx, IA32_VMX_TRUE_ENTRY_CTLS
    xor eax, eax
    call adjust_controls
    VMWR VM_ENTRY_CONTROLS, eax
    VMWR EXCEPTION_BITMAP, 0                    ; the guest handles all of its exceptions
    VMWR IO_BITMAP_A_ADDR, IO_BITMAP_A
    VMWR IO_BITMAP_B_ADDR, IO_BITMAP_B
    VMWR EPT_POINTER, EPT_PML4 | 0x1e           ; WB (6) | page-walk length 4 (3 << 3)
    ; CR4.VMXE must stay 1 while the guest runs, but the guest should not see it: the host owns
    ; the bit (guest/host mask) and the guest reads it from the read shadow (0).
    VMWR CR4_GUEST_HOST_MASK, 0x2000
    VMWR CR4_READ_SHADOW, 0

    ; ---- host state: what a VM exit loads (continue at exit_handler on our stack) ----
    mov eax, cr0
    VMWR HOST_CR0, eax
    mov eax, cr3
    VMWR HOST_CR3, eax
    mov eax, cr4
    VMWR HOST_CR4, eax
    VMWR HOST_CS_SELECTOR, 0x08
    VMWR HOST_SS_SELECTOR, 0x10
    VMWR HOST_DS_SELECTOR, 0x10
    VMWR HOST_ES_SELECTOR, 0x10
    VMWR HOST_FS_SELECTOR, 0x10
    VMWR HOST_GS_SELECTOR, 0x10
    VMWR HOST_TR_SELECTOR, 0x18
    VMWR HOST_TR_BASE, TSS_BASE
    VMWR HOST_GDTR_BASE, gdt
    VMWR HOST_IDTR_BASE, 0
    VMWR HOST_RSP, HOST_STACK_TOP
    VMWR HOST_RIP, exit_handler

    ; ---- guest state: flat 32-bit protected mode, paging off, CPL 0 ----
    VMWR GUEST_CR0, 0x31                        ; PE | ET | NE (PG = 0: unrestricted guest)
    VMWR GUEST_CR3, 0
    VMWR GUEST_CR4, 0x2000                      ; VMXE is fixed to 1 in VMX operation
    ; ES, CS, SS, DS, FS, GS: selector, base, limit and access rights. Each group's encodings are
    ; 2 apart in that order, so ESI = 0, 2, ..., 10 walks the six registers (2 is CS).
    xor esi, esi
.segment:
    mov edx, 0x10                               ; flat data: selector 0x10, access rights 0xC093
    mov edi, 0xc093
    cmp esi, 2
    jne .data
    mov edx, 0x08                               ; flat code: selector 0x08, access rights 0xC09B
    mov edi, 0xc09b
.data:
    lea ebx, [GUEST_ES_SELECTOR + esi]
    vmwrite ebx, edx
    jbe vmx_fail
    lea ebx, [GUEST_ES_BASE + esi]
    xor eax, eax
    vmwrite ebx, eax
    jbe vmx_fail
    lea ebx, [GUEST_ES_LIMIT + esi]
    mov eax, 0xffffffff
    vmwrite ebx, eax
    jbe vmx_fail
    lea ebx, [GUEST_ES_AR_BYTES + esi]
    vmwrite ebx, edi
    jbe vmx_fail
    add esi, 2
    cmp esi, 12
    jb .segment
    VMWR GUEST_LDTR_AR_BYTES, 0x10000           ; LDTR unusable
    VMWR GUEST_TR_SELECTOR, 0x18
    VMWR GUEST_TR_BASE, TSS_BASE
    VMWR GUEST_TR_LIMIT, 0x67
    VMWR GUEST_TR_AR_BYTES, 0x8b                ; busy 32-bit TSS
    VMWR GUEST_GDTR_BASE, gdt
    VMWR GUEST_GDTR_LIMIT, gdt_end - gdt - 1
    VMWR GUEST_IDTR_BASE, 0
    VMWR GUEST_IDTR_LIMIT, 0
    VMWR GUEST_RFLAGS, 0x2
    VMWR GUEST_RSP, GUEST_STACK_TOP
    VMWR GUEST_RIP, guest_start
    VMWR GUEST_ACTIVITY_STATE, 0                ; active
    VMWR GUEST_INTERRUPTIBILITY_INFO, 0
    VMWR VMCS_LINK_POINTER, 0xffffffff          ; no shadow VMCS
    VMWR VMCS_LINK_POINTER_HIGH, 0xffffffff

    mov esi, msg_launch
    call puts
    vmlaunch
    ; VMLAUNCH returns here only when it fails (VMfailInvalid or VMfailValid).
    jmp vmx_fail

; adjust_controls: EAX = the control bits we want, ECX = the capability MSR. Returns in EAX
; (wanted | allowed-0 settings) & allowed-1 settings. Clobbers EDX.
adjust_controls:
    push ebx
    mov ebx, eax
    rdmsr                           ; EAX = must be 1, EDX = may be 1
    or eax, ebx
    and eax, edx
    pop ebx
    ret

; ===================================================================================== VM exits
; A VM exit loads the host state: we arrive here on HOST_RSP with the guest's general registers
; still in the CPU. Save them first; the handlers work on the saved copy; VMRESUME gets them back.
exit_handler:
    mov [guest_regs.eax], eax
    mov [guest_regs.ebx], ebx
    mov [guest_regs.ecx], ecx
    mov [guest_regs.edx], edx
    mov [guest_regs.esi], esi
    mov [guest_regs.edi], edi
    mov [guest_regs.ebp], ebp
    inc dword [exit_count]

    ; "[hv] exit N at 0xRIP: "
    mov esi, msg_exit
    call puts
    mov eax, [exit_count]
    call putdec
    mov esi, msg_at
    call puts
    mov ebx, GUEST_RIP
    vmread eax, ebx
    call puthex
    mov esi, msg_colon
    call puts

    mov ebx, VM_EXIT_REASON
    vmread eax, ebx
    cmp eax, EXIT_CPUID
    je handle_cpuid
    cmp eax, EXIT_IO
    je handle_io
    cmp eax, EXIT_VMCALL
    je handle_vmcall
    cmp eax, EXIT_EPT_VIOLATION
    je handle_ept_violation
    cmp eax, EXIT_HLT
    je handle_hlt
    ; Anything else (bit 31 = a failed VM entry) is unexpected: report it and stop.
    push eax
    mov esi, msg_unexpected
    call puts
    pop eax
    call puthex
    call newline
    mov eax, 1
    out 0xf4, eax

; CPUID (exit 10): run CPUID on the guest's EAX/ECX and hand back the result.
handle_cpuid:
    mov esi, msg_cpuid
    call puts
    mov eax, [guest_regs.eax]
    call puthex
    call newline
    mov eax, [guest_regs.eax]
    mov ecx, [guest_regs.ecx]
    cpuid
    mov [guest_regs.eax], eax
    mov [guest_regs.ebx], ebx
    mov [guest_regs.ecx], ecx
    mov [guest_regs.edx], edx
    jmp skip_instruction

; I/O instruction (exit 30). Exit qualification: bits 2:0 size - 1, bit 3 direction (1 = IN),
; bit 6 immediate port operand, bits 31:16 port.
handle_io:
    mov ebx, EXIT_QUALIFICATION
    vmread eax, ebx
    mov edx, eax
    shr edx, 16
    cmp edx, 0xe9
    jne .other
    test eax, 8 | 7                 ; a one-byte OUT?
    jnz .other
    ; Emulate the device: the guest's byte goes to our own console, quoted in the log line.
    mov esi, msg_out
    call puts
    mov al, [guest_regs.eax]
    out 0xe9, al
    mov esi, msg_quote_end
    call puts
    jmp skip_instruction
.other:
    mov esi, msg_io_other
    call puts
    mov eax, 1
    out 0xf4, eax

; VMCALL (exit 18): the guest's report, EAX = page faults its handler served, EBX = the last CR2.
handle_vmcall:
    mov esi, msg_vmcall
    call puts
    mov eax, [guest_regs.eax]
    call putdec
    mov esi, msg_vmcall2
    call puts
    mov eax, [guest_regs.ebx]
    call puthex
    call newline
    jmp skip_instruction

; EPT violation (exit 48): the guest touched guest-physical memory the EPT does not map. Map the
; 2 MiB page identity and resume at the same instruction (GUEST_RIP unchanged: it is a fault).
; Adding a mapping needs no INVEPT: EPT violations are not cached.
handle_ept_violation:
    mov esi, msg_ept
    call puts
    mov ebx, GUEST_PHYSICAL_ADDRESS
    vmread eax, ebx
    push eax
    call puthex
    mov esi, msg_ept_qual
    call puts
    mov ebx, EXIT_QUALIFICATION
    vmread eax, ebx
    call puthex
    mov esi, msg_ept_mapped
    call puts
    pop eax
    and eax, 0xffe00000             ; the 2 MiB page
    mov ecx, eax
    shr ecx, 21 - 3                 ; its PD entry offset (index * 8)
    or eax, 0xb7
    mov [EPT_PD + ecx], eax
    jmp resume_guest

; HLT (exit 12): the guest is done. End the run through the debug-exit port (value 0).
handle_hlt:
    mov esi, msg_hlt
    call puts
    mov eax, [guest_regs.eax]
    call puthex
    mov esi, msg_hlt2
    call puts
    xor eax, eax
    out 0xf4, eax

; The exit was caused by an instruction we emulated: continue after it.
skip_instruction:
    mov ebx, VM_EXIT_INSTRUCTION_LEN
    vmread ecx, ebx
    mov ebx, GUEST_RIP
    vmread eax, ebx
    add eax, ecx
    vmwrite ebx, eax
resume_guest:
    mov eax, [guest_regs.eax]
    mov ebx, [guest_regs.ebx]
    mov ecx, [guest_regs.ecx]
    mov edx, [guest_regs.edx]
    mov esi, [guest_regs.esi]
    mov edi, [guest_regs.edi]
    mov ebp, [guest_regs.ebp]
    vmresume
    ; VMRESUME returns here only when it fails.
    jmp vmx_fail

; A VMX instruction failed: VMfailInvalid (CF = 1) or VMfailValid (ZF = 1, error in the VMCS).
vmx_fail:
    jc .invalid
    mov esi, msg_fail_valid
    call puts
    mov ebx, VM_INSTRUCTION_ERROR
    vmread eax, ebx
    call putdec
    call newline
    mov eax, 2
    out 0xf4, eax
.invalid:
    mov esi, msg_fail_invalid
    call puts
    mov eax, 2
    out 0xf4, eax

no_vmx:
    mov esi, msg_no_vmx
    call puts
    mov eax, 3
    out 0xf4, eax

; ---- console output (port 0xE9) ----
; puts: ESI = zero-terminated string.
puts:
    push eax
.next:
    lodsb
    test al, al
    jz .done
    out 0xe9, al
    jmp .next
.done:
    pop eax
    ret

newline:
    push eax
    mov al, 10
    out 0xe9, al
    pop eax
    ret

; puthex: EAX as 0x and 8 hex digits.
puthex:
    pusha
    mov ebx, eax
    mov al, '0'
    out 0xe9, al
    mov al, 'x'
    out 0xe9, al
    mov ecx, 8
.digit:
    rol ebx, 4
    mov eax, ebx
    and eax, 0xf
    mov al, [hex_digits + eax]
    out 0xe9, al
    loop .digit
    popa
    ret

; putdec: EAX in decimal.
putdec:
    pusha
    mov ebx, 10
    xor ecx, ecx
.divide:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .divide
.print:
    pop eax
    add al, '0'
    out 0xe9, al
    loop .print
    popa
    ret

; ========================================================================================= guest
; Runs in VMX non-root operation. Everything it does that needs the hypervisor exits; the rest
; (its own IDT, paging and page faults) happens without the hypervisor noticing.
guest_start:
    ; 1. CPUID exits unconditionally.
    xor eax, eax
    xor ecx, ecx
    cpuid

    ; 2. Each OUT to port 0xE9 exits (I/O bitmap).
    mov esi, guest_hello
.print:
    lodsb
    test al, al
    jz .printed
    out 0xe9, al
    jmp .print
.printed:

    ; 3. Own IDT (vector 14 only) and own paging: linear 0-4 MiB through GUEST_PT with 4 KiB pages,
    ;    identity, except GUEST_LAZY_PAGE; linear 4-8 MiB as one 4 MiB page.
    mov eax, guest_page_fault
    mov [GUEST_IDT + 14 * 8], ax                ; offset 15:0
    mov word [GUEST_IDT + 14 * 8 + 2], 0x08     ; code selector
    mov word [GUEST_IDT + 14 * 8 + 4], 0x8e00   ; present, DPL 0, 32-bit interrupt gate
    shr eax, 16
    mov [GUEST_IDT + 14 * 8 + 6], ax            ; offset 31:16
    lidt [guest_idtr]
    mov edi, GUEST_PT
    mov eax, 0x003                              ; present | writable
    mov ecx, 1024
.pte:
    stosd
    add eax, 0x1000
    loop .pte
    mov dword [GUEST_PT + (GUEST_LAZY_PAGE >> 12) * 4], 0
    mov edi, GUEST_PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [GUEST_PD], GUEST_PT | 0x003
    mov dword [GUEST_PD + 4], 0x400000 | 0x083  ; 4 MiB page
    mov eax, GUEST_PD
    mov cr3, eax
    mov eax, cr4                                ; reads 0: VMXE is hidden by the read shadow
    or eax, 0x10                                ; PSE
    mov cr4, eax                                ; no exit: the host-owned bit matches the shadow
    mov eax, cr0
    or eax, 0x80000000                          ; PG
    mov cr0, eax
    ; Touch the unmapped page: #PF, our handler maps it, the MOV is retried and completes.
    mov dword [GUEST_LAZY_PAGE], 0x600df00d
    ; Report to the hypervisor: EAX = page faults handled, EBX = last CR2.
    mov eax, [guest_pf_count]
    mov ebx, [guest_pf_cr2]
    vmcall

    ; 4. Guest-physical 6 MiB is outside the EPT map: EPT violation, the hypervisor maps it.
    mov dword [GUEST_FAR_DATA], 0xcafe
    mov eax, [GUEST_FAR_DATA]

    ; 5. Done.
    hlt

; The guest's #PF handler: map the faulting page (identity) and retry.
guest_page_fault:
    push eax
    push ebx
    mov eax, cr2
    mov [guest_pf_cr2], eax
    inc dword [guest_pf_count]
    mov ebx, eax
    shr ebx, 12
    and ebx, 0x3ff
    and eax, 0xfffff000
    or eax, 0x003
    mov [GUEST_PT + ebx * 4], eax
    mov eax, cr2
    invlpg [eax]
    pop ebx
    pop eax
    add esp, 4                                  ; the error code
    iretd

; ========================================================================================= data
align 4
hex_digits:         db "0123456789abcdef"
msg_banner:         db "vmxlab example hypervisor: VMXON, a VMCS with EPT, one guest", 10, 0
msg_launch:         db "[hv] VMCS ready, VMLAUNCH", 10, 0
msg_exit:           db "[hv] exit ", 0
msg_at:             db " at ", 0
msg_colon:          db ": ", 0
msg_cpuid:          db "CPUID, executed for the guest, leaf ", 0
msg_out:            db "OUT to port 0xe9, emulated: '", 0
msg_quote_end:      db "'", 10, 0
msg_io_other:       db "unexpected I/O", 10, 0
msg_vmcall:         db "VMCALL, the guest's page-fault handler ran ", 0
msg_vmcall2:        db " time(s), last CR2 ", 0
msg_ept:            db "EPT violation at guest-physical ", 0
msg_ept_qual:       db ", qualification ", 0
msg_ept_mapped:     db ", mapped 2 MiB", 10, 0
msg_hlt:            db "HLT, guest done (EAX = ", 0
msg_hlt2:           db "), ending the run", 10, 0
msg_unexpected:     db "unexpected exit reason ", 0
msg_fail_valid:     db "VMX instruction failed: VMfailValid, VM-instruction error ", 0
msg_fail_invalid:   db "VMX instruction failed: VMfailInvalid", 10, 0
msg_no_vmx:         db "this processor has no VMX", 10, 0
guest_hello:        db "hi", 0

align 4
exit_count:         dd 0
guest_regs:
.eax:               dd 0
.ebx:               dd 0
.ecx:               dd 0
.edx:               dd 0
.esi:               dd 0
.edi:               dd 0
.ebp:               dd 0
guest_pf_count:     dd 0
guest_pf_cr2:       dd 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff           ; 0x08 flat code, DPL 0
    dq 0x00cf93000000ffff           ; 0x10 flat data, DPL 0
    dw 0x67, TSS_BASE & 0xffff      ; 0x18 busy 32-bit TSS at TSS_BASE, limit 0x67
    db (TSS_BASE >> 16) & 0xff, 0x8b, 0, TSS_BASE >> 24
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
guest_idtr:
    dw 256 * 8 - 1
    dd GUEST_IDT
vmxon_ptr:
    dq VMXON_REGION
vmcs_ptr:
    dq VMCS_REGION
