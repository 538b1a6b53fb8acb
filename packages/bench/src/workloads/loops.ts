// Loop kernels for emulator speed (guest MIPS), the same shapes the project's peer measurements used
// (shared/reference/performance.md): a register-only loop, and a load/store loop with paging on. Each is
// built for our bare machine (entered by the boot contract, ends with an OUT to the debug-exit port) or
// as a multiboot kernel for v86 (a.out-kludge header; 'S' and 'E' on COM1 around the timed part).
// (No default export: these are not matrix workloads, the registry skips this module.)

export type LoopKind = "register" | "load-store";

/** The timed part of each kernel: setup then the loop. Instructions: setup + perIteration * n. */
const KERNELS: Record<LoopKind, { setup: string; loop: string; perIteration: number }> = {
  /** add/xor/dec/jnz: 4 instructions per iteration, registers only, paging off. */
  register: {
    setup: "",
    loop: `  mov ecx, ITERATIONS
.loop:
  add eax, ecx
  xor ebx, eax
  dec ecx
  jnz .loop`,
    perIteration: 4,
  },
  /**
   * mov eax,[edi] / add / mov [edi],eax / dec / jnz: 5 instructions per iteration with one load and one
   * store, after identity-mapping the first 8 MiB with 4 KiB pages and turning paging on.
   */
  "load-store": {
    setup: `  mov edi, 0x201000        ; two page tables identity-map 0-8 MiB
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
  mov cr0, eax`,
    loop: `  mov edi, 0x300000
  mov ecx, ITERATIONS
.loop:
  mov eax, [edi]
  add eax, ecx
  mov [edi], eax
  dec ecx
  jnz .loop`,
    perIteration: 5,
  },
};

export function loopInstructionsPerIteration(kind: LoopKind): number {
  return KERNELS[kind].perIteration;
}

function timedPart(kind: LoopKind, iterations: number): string {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0xffffffff) {
    throw new RangeError(`iterations must be a positive 32-bit integer, got ${iterations}`);
  }
  const k = KERNELS[kind];
  return `${k.setup}\n${k.loop.replace("ITERATIONS", String(iterations))}`;
}

/** The kernel for our bare machine: loaded at 0x100000, ends with OUT 0xF4. */
export function loopKernel(kind: LoopKind, iterations: number): string {
  return `bits 32
org 0x100000
start:
${timedPart(kind, iterations)}
  out 0xf4, al
`;
}

/** add/xor/dec/jnz: 4 instructions per iteration, registers only, paging off. */
export function registerLoop(iterations: number): string {
  return loopKernel("register", iterations);
}

/** The load/store loop (5 instructions per iteration) after turning paging on. */
export function loadStoreLoop(iterations: number): string {
  return loopKernel("load-store", iterations);
}

/**
 * The same kernel as a multiboot image (a.out kludge: flags bit 16, so the loader needs no ELF parser)
 * for v86: writes 'S' to COM1, runs the timed part, writes 'E', and halts with interrupts off.
 */
export function multibootLoopKernel(kind: LoopKind, iterations: number): string {
  const MAGIC = 0x1badb002;
  const FLAGS = 0x00010000;
  const checksum = (0x100000000 - ((MAGIC + FLAGS) % 0x100000000)) % 0x100000000;
  return `bits 32
org 0x100000
multiboot_header:
  dd 0x${MAGIC.toString(16)}
  dd 0x${FLAGS.toString(16)}
  dd 0x${checksum.toString(16)}
  dd multiboot_header           ; header_addr
  dd multiboot_header           ; load_addr
  dd image_end                  ; load_end_addr
  dd image_end                  ; bss_end_addr
  dd start                      ; entry_addr
start:
  cli
  mov esp, 0x90000
  mov dx, 0x3f8
  mov al, 'S'
  out dx, al
${timedPart(kind, iterations)}
  mov dx, 0x3f8
  mov al, 'E'
  out dx, al
halt:
  cli
  hlt
  jmp halt
image_end:
`;
}
