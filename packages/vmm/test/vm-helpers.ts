// Shared pieces of the multi-VM tests (isolation, scheduler, devices, lazy memory): assembling guest
// programs (they may %include the cpu package's system-test runtime, lib.inc), the guest kernel, a
// CPU-bound "victim" program that checks its own memory, and views of the host's memory (snapshots,
// the pages each VM owns) so a test can prove what a hostile guest did NOT touch.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleOrThrow, Machine, type RegisterSnapshot, type StopReason } from "@vmxlab/cpu";
import { type Hypervisor, PAGE, type Vm } from "../src/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const SYSTEM_DIR = join(HERE, "../../cpu/test/system");
export const KERNEL_PATH = join(HERE, "..", "examples", "guest-kernel.asm");

export interface Program {
  bytes: Uint8Array;
  symbols: Map<string, number>;
}

/** Assembles NASM-syntax source; `%include "lib.inc"` finds the system-test runtime. */
export function asm(source: string): Program {
  const r = assembleOrThrow(source, {
    fileName: join(SYSTEM_DIR, "vmm-case.asm"),
    readFile: (p) => readFileSync(p, "utf8"),
  });
  return { bytes: r.bytes, symbols: r.symbols };
}

export function sym(p: Program, name: string): number {
  const v = p.symbols.get(name);
  if (v === undefined) throw new Error(`no symbol '${name}'`);
  return v;
}

let kernelCache: Program | null = null;

/** examples/guest-kernel.asm: two ring-3 processes, timer preemption, system calls. */
export function guestKernel(): Program {
  if (!kernelCache) {
    const r = assembleOrThrow(readFileSync(KERNEL_PATH, "utf8"), {
      fileName: KERNEL_PATH,
      readFile: (p) => readFileSync(p, "utf8"),
    });
    kernelCache = { bytes: r.bytes, symbols: r.symbols };
  }
  return kernelCache;
}

/** A program run on the bare machine (the reference a VM must match). */
export function runBare(
  image: Uint8Array,
  options: { memoryMiB?: number; maxInstructions?: number; entry?: number } = {},
): { stop: StopReason; console: string; regs: RegisterSnapshot; instructions: number; machine: Machine } {
  const machine = new Machine({ memoryMiB: options.memoryMiB ?? 16 });
  machine.load(image, options.entry === undefined ? {} : { entry: options.entry });
  const stop = machine.run({ maxInstructions: options.maxInstructions ?? 50_000_000 });
  return {
    stop,
    console: machine.consoleText(),
    regs: machine.cpu.snapshotRegisters(),
    instructions: machine.cpu.instret,
    machine,
  };
}

// ---------------------------------------------------------------------------------------------
// The victim: fills PATTERN_BYTES at PATTERN_BASE with a sequence derived from its seed, computes for
// a while (printing a dot now and then), then checks every dword of the pattern and prints
// "victim <seed> ok" (exit 0) or "victim <seed> CORRUPTED" (exit 1). If another VM (or a device
// acting for one) wrote into its memory, it says so itself; the tests also compare its RAM.

export const PATTERN_BASE = 0x200000;
export const PATTERN_BYTES = 0x40000;
const PATTERN_STEP = 0x9e3779b9;

export function victimProgram(seed: number, rounds = 40, work = 4000): Program {
  return asm(`
bits 32
org 0x100000
start:
    mov esp, 0x90000
    mov edi, ${PATTERN_BASE}
    mov ecx, ${PATTERN_BYTES / 4}
    mov eax, ${seed >>> 0}
.fill:
    mov [edi], eax
    add eax, ${PATTERN_STEP}
    add edi, 4
    dec ecx
    jnz .fill
    mov esi, ${rounds}
.round:
    mov ecx, ${work}
    xor ebx, ebx
.work:
    mov eax, ecx
    imul eax, eax
    add ebx, eax
    dec ecx
    jnz .work
    mov al, '.'
    out 0xe9, al
    dec esi
    jnz .round
    mov edi, ${PATTERN_BASE}
    mov ecx, ${PATTERN_BYTES / 4}
    mov eax, ${seed >>> 0}
.check:
    cmp [edi], eax
    jne .bad
    add eax, ${PATTERN_STEP}
    add edi, 4
    dec ecx
    jnz .check
    mov esi, msg_ok
    call puts
    xor eax, eax
    out 0xf4, eax
.bad:
    mov esi, msg_bad
    call puts
    mov eax, 1
    out 0xf4, eax
puts:
    lodsb
    test al, al
    jz .done
    out 0xe9, al
    jmp puts
.done:
    ret
msg_ok: db 10, "victim ${seed.toString(16)} ok", 10, 0
msg_bad: db 10, "victim ${seed.toString(16)} CORRUPTED", 10, 0
`);
}

export function victimConsole(seed: number, rounds = 40): string {
  return `${".".repeat(rounds)}\nvictim ${seed.toString(16)} ok\n`;
}

/** The pattern bytes a victim leaves in its RAM. */
export function victimPattern(seed: number): Uint8Array {
  const out = new Uint8Array(PATTERN_BYTES);
  const view = new DataView(out.buffer);
  let v = seed >>> 0;
  for (let k = 0; k < PATTERN_BYTES; k += 4) {
    view.setUint32(k, v, true);
    v = (v + PATTERN_STEP) >>> 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Host memory: snapshots and ownership.

export function snapshotHost(hv: Hypervisor): Uint8Array {
  return hv.machine.memory.u8.slice();
}

/** Host page numbers whose contents differ between two snapshots. */
export function changedPages(before: Uint8Array, after: Uint8Array): number[] {
  const out: number[] = [];
  const a = new Int32Array(before.buffer, before.byteOffset, before.length / 4);
  const b = new Int32Array(after.buffer, after.byteOffset, after.length / 4);
  const words = PAGE / 4;
  for (let page = 0; page < a.length / words; page++) {
    for (let k = page * words; k < (page + 1) * words; k++) {
      if (a[k] !== b[k]) {
        out.push(page);
        break;
      }
    }
  }
  return out;
}

/** Host page numbers backing a VM's guest RAM. */
export function ramPages(vm: Vm): Set<number> {
  const out = new Set<number>();
  for (const hpa of vm.memory.p2m) if (hpa >= 0) out.add(hpa / PAGE);
  return out;
}

/** Host page numbers of a VM's EPT paging structures (walked from its EPTP). */
export function eptPages(vm: Vm): Set<number> {
  const out = new Set<number>();
  if (vm.mmu.kind !== "ept") return out;
  const mem = vm.memory.host;
  const pml4 = vm.mmu.settings(vm).eptp! & ~0xfff;
  out.add(pml4 / PAGE);
  const pdpt = mem.read32(pml4) & ~0xfff;
  out.add(pdpt / PAGE);
  for (let i = 0; i < 4; i++) {
    const pdpte = mem.read32(pdpt + 8 * i);
    if (!(pdpte & 7)) continue;
    const pd = pdpte & ~0xfff;
    out.add(pd / PAGE);
    for (let j = 0; j < 512; j++) {
      const pde = mem.read32(pd + 8 * j);
      if (pde & 7) out.add((pde & ~0xfff) / PAGE);
    }
  }
  return out;
}

/** Host physical address of a VM's guest-physical address (its RAM must be backed there). */
export function hostAddress(vm: Vm, gpa: number): number {
  const hpa = vm.memory.translate(gpa);
  if (hpa < 0) throw new Error(`gpa 0x${gpa.toString(16)} is not backed`);
  return hpa;
}

export function u32(bytes: Uint8Array, offset = 0): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** A guest-physical dword of a VM. */
export function read32(vm: Vm, gpa: number): number {
  return u32(vm.memory.read(gpa, 4));
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// A minimal runtime for interrupt-driven guests (flat ring 0, paging off): rt_init loads a GDT
// with flat code/data, reloads the segments, sets a stack and an empty IDT of 256 not-present
// gates at RT_IDT; set_gate (EAX = vector, EDX = handler) installs an interrupt gate; pic_init
// remaps the PIC to 0x20/0x28 and unmasks the IRQs in AL (master) and AH (slave), bit masks, 1 = open.

export const RT_IDT = 0x20000;

export const MINI_RUNTIME = `
rt_init:
    pop ebx                         ; the return address: ESP is about to change
    lgdt [rt_gdt_ptr]
    jmp 0x08:.cs
.cs:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, 0x90000
    mov edi, ${RT_IDT}
    mov ecx, 512
    xor eax, eax
    cld
    rep stosd
    lidt [rt_idt_ptr]
    jmp ebx
set_gate:
    push edi
    lea edi, [${RT_IDT} + eax * 8]
    mov [edi], dx
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8e00
    shr edx, 16
    mov [edi + 6], dx
    pop edi
    ret
pic_init:
    push eax
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xa1, al
    mov al, 0x01
    out 0x21, al
    out 0xa1, al
    pop eax
    test ah, ah
    jz .master
    or al, 0x04                     ; a slave IRQ needs the cascade (master IRQ 2) open
.master:
    not al
    out 0x21, al
    mov al, ah
    not al
    out 0xa1, al
    ret
align 8
rt_gdt:
    dd 0, 0
    dd 0x0000ffff, 0x00cf9a00
    dd 0x0000ffff, 0x00cf9200
rt_gdt_ptr:
    dw 23
    dd rt_gdt
rt_idt_ptr:
    dw 256 * 8 - 1
    dd ${RT_IDT}
`;

/** The start of a guest on MINI_RUNTIME with one interrupt handler: a stack, the runtime, `handler` at
 * `vector`, and the PIC with the IRQs in `irqMask` open (bit n = IRQ n; clobbers EAX and EDX). */
export function rtStart(vector: number, handler: string, irqMask: number): string {
  return `
    mov esp, 0x90000
    call rt_init
    mov eax, ${vector}
    mov edx, ${handler}
    call set_gate
    mov eax, ${irqMask}
    call pic_init`;
}

/** PIT channel 0 in `mode` (0 one-shot, 2 periodic) with a 16-bit count (clobbers EAX). */
export function pitProgram(mode: 0 | 2, count: number): string {
  return `
    mov al, ${0x30 | (mode << 1)}
    out 0x43, al
    mov al, ${count & 0xff}
    out 0x40, al
    mov al, ${(count >>> 8) & 0xff}
    out 0x40, al`;
}

/** Guest cycles per PIT input tick at the default 3 GHz. */
export const CYCLES_PER_PIT_TICK = 3_000_000_000 / 1_193_182;
