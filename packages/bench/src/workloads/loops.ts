// Loop kernels for emulator speed (guest MIPS), the same shapes the project's peer measurements used
// (shared/reference/performance.md): a register-only loop, and a load/store loop with paging on.

/** add/xor/dec/jnz: 4 instructions per iteration, registers only, paging off. */
export function registerLoop(iterations: number): string {
  return `
bits 32
org 0x100000
  mov ecx, ${iterations}
.loop:
  add eax, ecx
  xor ebx, eax
  dec ecx
  jnz .loop
  out 0xf4, al
`;
}

/**
 * mov eax,[edi] / add / mov [edi],eax / dec / jnz: 5 instructions per iteration with one load and one store,
 * after identity-mapping the first 8 MiB with 4 KiB pages and turning paging on.
 */
export function loadStoreLoop(iterations: number): string {
  return `
bits 32
org 0x100000
  mov edi, 0x201000        ; two page tables identity-map 0-8 MiB
  mov eax, 0x3
  mov ecx, 2048
.fill:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz .fill
  mov dword [0x200000], 0x201003
  mov dword [0x200004], 0x202003
  mov eax, 0x200000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov edi, 0x300000
  mov ecx, ${iterations}
.loop:
  mov eax, [edi]
  add eax, ecx
  mov [edi], eax
  dec ecx
  jnz .loop
  out 0xf4, al
`;
}
