// Shared pieces of the hosted tests: the bare machine and the type-1 hypervisor as references, and
// the hosted system with its results in the same shape.
import { readdirSync, readFileSync } from "node:fs";
import { assembleOrThrow, examplePath, Machine, type RegisterSnapshot } from "@vmxlab/cpu";
import { Hypervisor, type PagingMode, type VmStop } from "@vmxlab/vmm";
import { type HostedExitRecord, type HostedOptions, HostedSystem, type HostedVmConfig } from "../src/index.js";

export interface GuestResult {
  stop: unknown;
  console: string;
  regs: RegisterSnapshot | null;
  instructions: number;
}

export const MAX = 50_000_000;
/** A safety net: no test run goes past this many modeled cycles (about 0.3 s of the modeled core). */
export const MAX_CYCLES = 1_000_000_000;

export function bare(image: Uint8Array, max = MAX): GuestResult {
  const m = new Machine({ memoryMiB: 16 });
  m.load(image);
  const stop = m.run({ maxInstructions: max });
  return { stop, console: m.consoleText(), regs: m.cpu.snapshotRegisters(), instructions: m.cpu.instret };
}

export function type1(image: Uint8Array, paging: PagingMode = "ept", max = MAX): GuestResult {
  const hv = new Hypervisor([{ name: "vm0", memoryMiB: 16, image, paging }]);
  hv.run({ maxInstructions: max });
  const vm = hv.vms[0]!;
  return { stop: vm.stop, console: vm.consoleText(), regs: vm.finalRegs, instructions: vm.stats.guestInstructions };
}

export interface HostedRun extends GuestResult {
  system: HostedSystem;
  records: HostedExitRecord[];
}

export function hosted(
  image: Uint8Array,
  options: HostedOptions & { paging?: PagingMode; config?: Partial<HostedVmConfig>; keepRecords?: boolean } = {},
  max = MAX,
): HostedRun {
  const records: HostedExitRecord[] = [];
  const { config, keepRecords, ...rest } = options;
  const system = new HostedSystem([{ name: "vm0", memoryMiB: 16, image, ...config }], {
    ...rest,
    ...(keepRecords ? { onExit: (r: HostedExitRecord) => records.push(r) } : {}),
  });
  system.run({ maxInstructions: max, maxCycles: MAX_CYCLES });
  const vm = system.vms[0]!;
  return {
    stop: vm.stop as VmStop,
    console: vm.consoleText(),
    regs: vm.finalRegs,
    instructions: vm.stats.guestInstructions,
    system,
    records,
  };
}

export const C_BUILD = examplePath("c/build");
export const C_PROGRAMS = readdirSync(C_BUILD)
  .filter((f) => f.endsWith(".elf"))
  .sort();

export function cProgram(file: string): Uint8Array {
  return new Uint8Array(readFileSync(`${C_BUILD}/${file}`));
}

export function guestVisible(r: GuestResult): GuestResult {
  return { stop: r.stop, console: r.console, regs: r.regs, instructions: r.instructions };
}

// A guest that takes timer interrupts: it programs its (virtual) PIC and PIT, then HLTs until three
// ticks have arrived. The PIC and PIT are in the kernel module; HLT blocks the vCPU thread.
export const TIMER = assembleOrThrow(`
bits 32
org 0x100000
  mov esp, 0x90000
  lgdt [gdtr]
  mov eax, tick
  mov [idt + 0x20*8], ax
  mov word [idt + 0x20*8 + 2], 0x08
  mov word [idt + 0x20*8 + 4], 0x8e00
  shr eax, 16
  mov [idt + 0x20*8 + 6], ax
  lidt [idtr]
  mov al, 0x11
  out 0x20, al
  mov al, 0x20
  out 0x21, al
  mov al, 0x04
  out 0x21, al
  mov al, 0x01
  out 0x21, al
  mov al, 0xfe
  out 0x21, al
  mov al, 0x34           ; PIT channel 0, mode 2
  out 0x43, al
  mov al, 100
  out 0x40, al
  xor al, al
  out 0x40, al
  sti
.wait:
  hlt
  cmp dword [ticks], 3
  jb .wait
  cli
  mov al, 'T'
  out 0xe9, al
  mov eax, [ticks]
  out 0xf4, eax
tick:
  push eax
  inc dword [ticks]
  mov al, 0x20
  out 0x20, al
  pop eax
  iretd
align 8
gdt: dq 0
  dw 0xffff, 0, 0x9a00, 0x00cf
  dw 0xffff, 0, 0x9200, 0x00cf
gdtr: dw 23
  dd gdt
idtr: dw 0x30*8 - 1
  dd idt
ticks: dd 0
align 8
idt: times 0x30 dq 0
`).bytes;
