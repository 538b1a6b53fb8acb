// The nanobenchmark harness: a minimal protected-mode kernel, generated as assembly, that every loop
// workload shares. It boots from the bare machine's boot contract (flat 32-bit protected mode, paging
// off) and sets up what an OS would have: its own GDT (ring-0 and ring-3 code and data, a TSS), an
// IDT (every exception reports itself through the debug-exit port), two-level paging with 4 KiB pages
// identity-mapping the first 8 MiB, and the SYSENTER MSRs. Then it runs the workload's setup, drops to
// ring 3 if asked, and runs
//
//     mov ebp, N
//   iter_loop:  <body>   dec ebp   jnz iter_loop
//
// and writes 0 to port 0xF4. The baseline is the same program with the body replaced (by nothing, by
// default), so subtracting it removes the harness, the setup and the loop overhead: what remains is
// the cost of N bodies. The body may use every register but EBP and ESP.
//
// Guest-physical layout (the image is loaded at 0x100000):
//   0x08F000-0x090000  ring-0 stack (TSS.ESP0 and SYSENTER_ESP both point at its top)
//   0x09F000-0x0A0000  ring-3 stack
//   0x100000-          harness code and data (GDT, IDT, TSS)
//   0x200000           page directory A; 0x201000 page directory B (a second address space)
//   0x202000-0x204000  the page tables of the identity map (0-8 MiB, user-accessible)
//   0x210000-0x250000  page tables for workload regions (64 of them: 256 MiB of linear space)
//   0x300000-0x310000  scratch frames for workloads

import { assembleOrThrow } from "@vmxlab/cpu";
import type { GuestProgram } from "../types.js";

export const LAYOUT = {
  KERNEL_STACK_TOP: 0x90000,
  USER_STACK_TOP: 0xa0000,
  PAGE_DIRECTORY: 0x200000,
  PAGE_DIRECTORY_B: 0x201000,
  IDENTITY_TABLES: 0x202000,
  /** Identity-mapped bytes (with 4 KiB pages, present, writable, user). */
  IDENTITY_BYTES: 8 << 20,
  REGION_TABLES: 0x210000,
  REGION_TABLE_COUNT: 64,
  SCRATCH: 0x300000,
  /** Where workloads map their own linear regions (page-directory index 256). */
  REGION_BASE: 0x40000000,
} as const;

/** Selectors of the harness GDT. */
export const SEL = { KCODE: 0x08, KDATA: 0x10, UCODE: 0x1b, UDATA: 0x23, TSS: 0x28 } as const;

/** Debug-exit values: 0 = done; 0x80 | vector = unexpected exception; 0xFF = unexpected interrupt. */
export const EXIT_OK = 0;
export const EXIT_UNEXPECTED_INTERRUPT = 0xff;

export interface HarnessParts {
  /** Ring-0 code run once after the harness is set up (paging on), before the loop. */
  setup?: string;
  /** One iteration. */
  body: string;
  /** Code and data outside the loop: handlers, subroutines (assembled after the loop). */
  extra?: string;
  /** IDT entries the workload handles itself: vector -> label; dpl 3 lets ring 3 use INT n on it. */
  vectors?: { vector: number; label: string; dpl?: 0 | 3 }[];
  /** Run the loop in ring 3 (IOPL 3, so the final OUT to 0xF4 still works). */
  ring3?: boolean;
  /** EFLAGS.IF during the loop (default off). */
  interrupts?: boolean;
}

export interface HarnessOptions {
  iterations: number;
  /** Guest RAM in MiB (default 8: the identity map, the tables and the scratch frames fit). */
  memoryMiB?: number;
  disk?: Uint8Array;
}

/** The harness source around `parts`, for n iterations. */
export function harnessSource(parts: HarnessParts, iterations: number): string {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) {
    throw new RangeError(`iterations must be a positive 31-bit integer, got ${iterations}`);
  }
  const L = LAYOUT;
  const exceptionStubs = Array.from(
    { length: 32 },
    (_, v) => `exc_${v}:\n  mov al, ${0x80 | v}\n  out 0xf4, al\n  jmp exc_${v}`,
  ).join("\n");
  const gates = (parts.vectors ?? [])
    .map(
      (g) =>
        `  mov eax, ${g.vector}\n  mov edx, ${g.label}\n  mov ebx, ${g.dpl === 3 ? "0xee00" : "0x8e00"}\n  call set_gate`,
    )
    .join("\n");
  const eflags = (parts.ring3 ? 0x3000 : 0) | (parts.interrupts ? 0x200 : 0) | 0x2;
  const enterLoop = parts.ring3
    ? `  mov ax, ${SEL.UDATA}
  mov ds, ax
  mov es, ax
  push ${SEL.UDATA}
  push ${L.USER_STACK_TOP}
  push ${eflags}
  push ${SEL.UCODE}
  push main_loop
  iretd`
    : `  push ${eflags}
  popfd
  jmp main_loop`;
  return `bits 32
org 0x100000
start:
  mov esp, ${L.KERNEL_STACK_TOP}
  lgdt [gdt_descriptor]
  jmp ${SEL.KCODE}:reload_cs
reload_cs:
  mov ax, ${SEL.KDATA}
  mov ds, ax
  mov es, ax
  mov fs, ax
  mov gs, ax
  mov ss, ax
  ; TSS: the ring-0 stack for interrupts and INT n from ring 3
  mov eax, tss
  mov [tss_descriptor + 2], ax
  shr eax, 16
  mov [tss_descriptor + 4], al
  mov [tss_descriptor + 7], ah
  mov dword [tss + 4], ${L.KERNEL_STACK_TOP}
  mov dword [tss + 8], ${SEL.KDATA}
  mov ax, ${SEL.TSS}
  ltr ax
  ; IDT: exceptions 0-31 report themselves, every other vector is unexpected
  xor eax, eax
fill_exceptions:
  mov edx, [exception_table + eax * 4]
  mov ebx, 0x8e00
  call set_gate
  inc eax
  cmp eax, 32
  jne fill_exceptions
fill_rest:
  mov edx, unexpected_interrupt
  mov ebx, 0x8e00
  call set_gate
  inc eax
  cmp eax, 256
  jne fill_rest
${gates}
  lidt [idt_descriptor]
  ; SYSENTER: CS = kernel code (SYSEXIT returns to CS + 16 and SS + 24, the ring-3 selectors)
  mov ecx, 0x174
  mov eax, ${SEL.KCODE}
  xor edx, edx
  wrmsr
  mov ecx, 0x175
  mov eax, ${L.KERNEL_STACK_TOP}
  wrmsr
  mov ecx, 0x176
  mov eax, sysenter_entry
  wrmsr
  ; paging: identity-map the first ${L.IDENTITY_BYTES >>> 20} MiB with 4 KiB pages, present + writable + user
  mov edi, ${L.IDENTITY_TABLES}
  mov eax, 0x7
  mov ecx, ${L.IDENTITY_BYTES / 4096}
fill_identity:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz fill_identity
  mov edi, ${L.PAGE_DIRECTORY}
  mov eax, ${L.IDENTITY_TABLES | 7}
  mov ecx, ${L.IDENTITY_BYTES / (4 << 20)}
fill_directory:
  mov [edi], eax
  add eax, 0x1000
  add edi, 4
  dec ecx
  jnz fill_directory
  mov eax, ${L.PAGE_DIRECTORY}
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ; ---- workload setup ----
${parts.setup ?? ""}
  ; ---- the measured loop ----
${enterLoop}

; set_gate: EAX = vector, EDX = handler, EBX = type and DPL (0x8e00 or 0xee00). Keeps EAX.
set_gate:
  lea edi, [idt + eax * 8]
  mov [edi], dx
  mov word [edi + 2], ${SEL.KCODE}
  mov [edi + 4], bx
  shr edx, 16
  mov [edi + 6], dx
  ret

; SYSENTER lands here (the syscall workloads replace nothing else: a getpid-sized handler)
sysenter_entry:
  mov eax, 1
  sysexit

unexpected_interrupt:
  mov al, ${EXIT_UNEXPECTED_INTERRUPT}
  out 0xf4, al
  jmp unexpected_interrupt

${exceptionStubs}

main_loop:
  mov ebp, ${iterations}
iter_loop:
${parts.body}
  dec ebp
  jnz iter_loop
  mov al, ${EXIT_OK}
  out 0xf4, al
done:
  jmp done

; ---- workload code and data ----
${parts.extra ?? ""}

; ---- data, on pages of its own (stores into a page holding code would invalidate decoded blocks) ----
align 4096
gdt:
  dq 0
  dq 0x00cf9a000000ffff          ; 0x08 ring-0 code, flat
  dq 0x00cf92000000ffff          ; 0x10 ring-0 data, flat
  dq 0x00cffa000000ffff          ; 0x18 ring-3 code, flat
  dq 0x00cff2000000ffff          ; 0x20 ring-3 data, flat
tss_descriptor:                   ; 0x28 32-bit TSS (base filled in at start-up)
  dw 0x67
  dw 0
  db 0
  db 0x89
  db 0x00
  db 0
gdt_end:
gdt_descriptor:
  dw gdt_end - gdt - 1
  dd gdt
idt_descriptor:
  dw 256 * 8 - 1
  dd idt
exception_table:
${Array.from({ length: 32 }, (_, v) => `  dd exc_${v}`).join("\n")}
align 16
tss:
  times 104 db 0
align 16
idt:
  times 256 * 8 db 0
`;
}

/** Assembles the harness around `parts` into a guest program. */
export function harnessProgram(parts: HarnessParts, options: HarnessOptions): GuestProgram {
  const image = assembleOrThrow(harnessSource(parts, options.iterations), { fileName: "harness.asm" }).bytes;
  return {
    image,
    memoryMiB: options.memoryMiB ?? 8,
    ...(options.disk ? { disk: options.disk } : {}),
    exitValue: EXIT_OK,
  };
}

/** What a debug-exit value of the harness means, in words. */
export function describeHarnessExit(value: number): string {
  if (value === EXIT_OK) return "done";
  if (value === EXIT_UNEXPECTED_INTERRUPT) return "unexpected interrupt in the guest";
  if (value >= 0x80 && value < 0xa0) return `unexpected exception ${value & 0x1f} in the guest`;
  return `debug-exit value ${value}`;
}
