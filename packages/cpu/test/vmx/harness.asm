; harness.asm: the assembly hypervisor of the VMX tests (helpers.ts, runAsmHypervisor).
;
; The test prepares memory exactly as for a TypeScript-API run (EPT identity map, host page
; directory, bitmaps, VMXON region and VMCS with the revision identifier, the guest's code) and
; leaves the VMCS contents as a list of (encoding, value) pairs at FIELDS. This program then does
; what a hypervisor does: turns on paging and VMX, VMCLEAR/VMPTRLD, VMWRITEs the list, adds its own
; HOST_RSP/HOST_RIP and VMLAUNCHes. Each VM exit is recorded at RECORDS (guest registers, then the
; fields of record_fields, RECORD_SIZE bytes per exit) and handled like runTsHypervisor() does:
; HLT, a failed VM entry or MAX_RECORDS exits end the run (debug exit 0); an EPT violation maps
; the 2 MiB page it hit and resumes at the same instruction; any other exit skips the instruction.
; A VMX instruction that fails ends the run with debug exit 0x100 + VM-instruction error (VMfailValid)
; or 0xFF (VMfailInvalid).

bits 32
org 0x100000

HOST_STACK      equ 0x90000
VMXON_REGION    equ 0x200000
VMCS_REGION     equ 0x201000
EPT_PD          equ 0x205000
HOST_PD         equ 0x206000
FIELDS          equ 0x20c000
RECORDS         equ 0x210000
RECORD_COUNT    equ RECORDS - 4
RECORD_SIZE     equ 128
MAX_RECORDS     equ 16

; VMCS encodings used here
VM_INSTRUCTION_ERROR    equ 0x4400
VM_EXIT_REASON          equ 0x4402
VM_EXIT_INSTRUCTION_LEN equ 0x440c
GUEST_PHYSICAL_ADDRESS  equ 0x2400
GUEST_RIP               equ 0x681e
HOST_RSP                equ 0x6c14
HOST_RIP                equ 0x6c16

EXIT_HLT                equ 12
EXIT_EPT_VIOLATION      equ 48

start:
    mov esp, HOST_STACK
    lgdt [gdtr]
    mov dword [RECORD_COUNT], 0
    ; VMX operation requires CR0.PE, NE, PG and CR4.VMXE: paging with the test's 4 MiB identity map.
    mov eax, cr4
    or eax, 0x2010                  ; VMXE | PSE
    mov cr4, eax
    mov eax, HOST_PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000020              ; PG | NE
    mov cr0, eax
    ; IA32_FEATURE_CONTROL: lock (bit 0) | enable VMX outside SMX (bit 2).
    mov ecx, 0x3a
    mov eax, 5
    xor edx, edx
    wrmsr
    vmxon [vmxon_ptr]
    jbe fail
    vmclear [vmcs_ptr]
    jbe fail
    vmptrld [vmcs_ptr]
    jbe fail
    ; The VMCS contents the test chose.
    mov esi, FIELDS
.field:
    mov ebx, [esi]
    cmp ebx, 0xffffffff
    je .fields_done
    vmwrite ebx, [esi + 4]
    jbe fail
    add esi, 8
    jmp .field
.fields_done:
    mov ebx, HOST_RSP
    mov eax, HOST_STACK
    vmwrite ebx, eax
    mov ebx, HOST_RIP
    mov eax, exit_handler
    vmwrite ebx, eax
    ; The guest starts with every general register 0 (as after a TypeScript-API launch).
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    vmlaunch
    jmp fail

; VM exits land here (HOST_RIP) with the guest's general registers still live.
exit_handler:
    mov [saved_regs + 0], eax
    mov [saved_regs + 4], ecx
    mov [saved_regs + 8], edx
    mov [saved_regs + 12], ebx
    mov [saved_regs + 16], ebp
    mov [saved_regs + 20], esi
    mov [saved_regs + 24], edi
    ; Record: the registers, then each field of record_fields (VMREAD to memory).
    mov edi, [RECORD_COUNT]
    shl edi, 7                      ; * RECORD_SIZE
    add edi, RECORDS
    mov esi, saved_regs
    mov ecx, 7
    rep movsd
    mov esi, record_fields
.read:
    lodsd
    cmp eax, 0xffffffff
    je .recorded
    vmread [edi], eax
    jbe fail
    add edi, 4
    jmp .read
.recorded:
    inc dword [RECORD_COUNT]
    mov ebx, VM_EXIT_REASON
    vmread eax, ebx
    test eax, eax
    js done                         ; bit 31: the VM entry failed
    cmp eax, EXIT_HLT
    je done
    cmp dword [RECORD_COUNT], MAX_RECORDS
    jae done
    cmp eax, EXIT_EPT_VIOLATION
    jne .skip
    ; EPT violation: identity-map the 2 MiB guest-physical page and retry the access.
    mov ebx, GUEST_PHYSICAL_ADDRESS
    vmread eax, ebx
    and eax, 0xffe00000
    mov ecx, eax
    shr ecx, 21 - 3                 ; PD index * 8
    or eax, 0xb7                    ; RWX | WB | 2 MiB
    mov [EPT_PD + ecx], eax
    jmp .resume
.skip:
    mov ebx, VM_EXIT_INSTRUCTION_LEN
    vmread ecx, ebx
    mov ebx, GUEST_RIP
    vmread eax, ebx
    add eax, ecx
    vmwrite ebx, eax
.resume:
    mov eax, [saved_regs + 0]
    mov ecx, [saved_regs + 4]
    mov edx, [saved_regs + 8]
    mov ebx, [saved_regs + 12]
    mov ebp, [saved_regs + 16]
    mov esi, [saved_regs + 20]
    mov edi, [saved_regs + 24]
    vmresume
    jmp fail

done:
    xor eax, eax
    out 0xf4, eax

; VMfailInvalid (CF = 1): exit 0xFF; VMfailValid (ZF = 1): exit 0x100 + VM-instruction error.
fail:
    jc .invalid
    mov ebx, VM_INSTRUCTION_ERROR
    vmread eax, ebx
    add eax, 0x100
    out 0xf4, eax
.invalid:
    mov eax, 0xff
    out 0xf4, eax

align 4
; Keep in sync with RECORD_FIELDS in helpers.ts.
record_fields:
    dd 0x4402, 0x6400, 0x440c, 0x440e, 0x681e, 0x681c, 0x6820, 0x640a, 0x2400
    dd 0x4404, 0x4406, 0x4408, 0x6800, 0x6802, 0x6804, 0x4824, 0x4826
    dd 0xffffffff
saved_regs:
    times 7 dd 0

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff           ; 0x08 code
    dq 0x00cf93000000ffff           ; 0x10 data
    dq 0x00008b0000000067           ; 0x18 busy 32-bit TSS at 0
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dd gdt
vmxon_ptr:
    dq VMXON_REGION
vmcs_ptr:
    dq VMCS_REGION
