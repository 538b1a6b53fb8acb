// The virtual platform and the hypercall interface, seen from guests: COM1 transmit and interrupt-
// driven receive (bytes fed before and while the VM runs, echoed by the guest's IRQ4 handler), PIT
// interrupts injected through event injection with interrupt-window exiting, the block device's round
// trip and its errors, the VMCALL hypercalls (console write, yield, time, and bad arguments), the
// virtual CPUID, and an exit no handler claims.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VMCS, vmxControls } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { type ExitRecord, HYPERVISOR_VENDOR, Hypervisor, type PagingMode, type Vm } from "../src/index.js";
import {
  asm,
  hex,
  MINI_RUNTIME,
  type Program,
  pitProgram,
  read32,
  rtStart,
  runBare,
  sym,
  victimConsole,
  victimProgram,
} from "./vm-helpers.js";

const MODES: PagingMode[] = ["ept", "shadow"];

function runOne(program: Program, paging: PagingMode, extra: { disk?: Uint8Array; memoryMiB?: number } = {}) {
  const records: ExitRecord[] = [];
  const hv = new Hypervisor(
    [
      {
        name: "g",
        memoryMiB: extra.memoryMiB ?? 4,
        image: program.bytes,
        entry: sym(program, "start"),
        paging,
        ...(extra.disk ? { disk: extra.disk } : {}),
      },
    ],
    { onExit: (r) => records.push(r) },
  );
  hv.run({ maxInstructions: 20_000_000 });
  return { hv, vm: hv.vms[0]!, records };
}

// =============================================================================================
// COM1

const COM1_TX = asm(`
bits 32
org 0x100000
start:
    mov esp, 0x90000
    mov esi, msg1
    call com1_puts
    mov esi, msg2
.e9:
    lodsb
    test al, al
    jz .e9done
    out 0xe9, al
    jmp .e9
.e9done:
    mov esi, msg3
    call com1_puts
    xor eax, eax
    out 0xf4, eax
com1_puts:                          ; polls LSR.THRE before each byte, as a driver does
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, bl
    mov dx, 0x3f8
    out dx, al
    jmp com1_puts
.done:
    ret
msg1: db "COM1: hello", 10, 0
msg2: db "0xE9 in between", 10, 0
msg3: db "COM1: bye", 10, 0
`);

/** Echoes what arrives on COM1, upper-cased, from its IRQ4 handler; '.' ends the run. */
const COM1_ECHO = asm(`
bits 32
org 0x100000
start:
${rtStart(0x24, "com1_irq", 0x10)}
    mov dx, 0x3fb
    mov al, 0x03
    out dx, al                      ; LCR: 8N1
    mov dx, 0x3f9
    mov al, 0x01
    out dx, al                      ; IER: received data available
    mov al, '>'
    mov dx, 0x3f8
    out dx, al                      ; the prompt
    mov ecx, 20000                  ; a while with interrupts off: input waits in the FIFO
.quiet:
    dec ecx
    jnz .quiet
    sti
.wait:                              ; no HLT: with no timer armed nothing else could wake us
    cmp byte [done], 0
    je .wait
    cli
    mov eax, [irqs]
    out 0xf4, eax
com1_irq:
    pushad
    inc dword [irqs]
.more:
    mov dx, 0x3fd
    in al, dx
    test al, 0x01                   ; LSR.DR: drain the FIFO, the line stays high until it is empty
    jz .eoi
    mov dx, 0x3f8
    in al, dx
    cmp al, '.'
    jne .echo
    mov byte [done], 1
.echo:
    cmp al, 'a'
    jb .send
    cmp al, 'z'
    ja .send
    sub al, 32
.send:
    out dx, al
    jmp .more
.eoi:
    mov al, 0x20
    out 0x20, al
    popad
    iretd
align 4
irqs: dd 0
done: db 0
${MINI_RUNTIME}
`);

describe.each(MODES)("COM1 on %s", (paging) => {
  it("transmit: the console gets COM1 and 0xE9 bytes in order, as on the bare machine", () => {
    const bare = runBare(COM1_TX.bytes, { memoryMiB: 4 });
    const { vm } = runOne(COM1_TX, paging);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(vm.consoleText()).toBe("COM1: hello\n0xE9 in between\nCOM1: bye\n");
    expect(vm.consoleText()).toBe(bare.console);
  });

  it("receive with interrupts: bytes fed before and while the VM runs are echoed by its IRQ4 handler", () => {
    let fed = false;
    const hv = new Hypervisor(
      [{ name: "echo", memoryMiB: 4, image: COM1_ECHO.bytes, entry: sym(COM1_ECHO, "start"), paging }],
      {
        onExit: (record) => {
          // At the handler's first EOI, with the FIFO drained, more input arrives: the line rises
          // again while the guest is still in its handler (IF = 0), so this second interrupt waits
          // for the interrupt window after IRET.
          const inHandler = record.guestEip >= sym(COM1_ECHO, "com1_irq") && record.guestEip < sym(COM1_ECHO, "irqs");
          if (!fed && inHandler && record.detail === "OUT port 0x20 size 1") {
            fed = true;
            hv.vms[0]!.devices.com1.receive("world.");
          }
        },
      },
    );
    const vm = hv.vms[0]!;
    vm.devices.com1.receive("hello "); // before the VM runs: waits in the FIFO until the guest enables IRQs
    hv.run({ maxInstructions: 5_000_000 });
    expect(fed).toBe(true);
    expect(vm.consoleText()).toBe(">HELLO WORLD.");
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 2 }); // two interrupts, one per burst
    // Both waited for the interrupt window: after STI, and after the first handler's IRET.
    expect(vm.stats.exits.get(7)).toBe(2);
    expect(vm.devices.com1.rxPending).toBe(0);
  });
});

// =============================================================================================
// PIT interrupts, event injection, interrupt-window exiting.

const PIT_WINDOW = asm(`
bits 32
org 0x100000
start:
${rtStart(0x20, "tick", 0x01)}
${pitProgram(0, 100)}                   ; one-shot: IRQ0 after 100 PIT ticks (~250,000 cycles)
    mov ecx, 500000                 ; much longer than that, with IF = 0
.busy:
    dec ecx
    jnz .busy
    mov eax, [ticks]
    mov [ticks_before_sti], eax
    sti
    nop                             ; the STI shadow covers this one
after_sti:                          ; the held interrupt arrives exactly here
    nop
    cli
${pitProgram(2, 50)}                    ; now periodic, with IF = 1: injected directly
    sti
.spin:
    cmp dword [ticks], 6
    jb .spin
    cli
    xor eax, eax
    out 0xf4, eax
tick:
    push eax
    cmp dword [first_eip], 0
    jne .counted
    mov eax, [esp + 4]              ; the interrupted EIP
    mov [first_eip], eax
.counted:
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd
align 4
ticks: dd 0
ticks_before_sti: dd 0
first_eip: dd 0
${MINI_RUNTIME}
`);

describe.each(MODES)("PIT interrupts on %s", (paging) => {
  it("a timer interrupt held while IF = 0 arrives right after STI (+1 instruction), through one window exit", () => {
    const bare = runBare(PIT_WINDOW.bytes, { memoryMiB: 4 });
    const { vm, records } = runOne(PIT_WINDOW, paging);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    const at = (name: string) => read32(vm, sym(PIT_WINDOW, name));
    expect(at("ticks_before_sti")).toBe(0);
    expect(hex(at("first_eip"))).toBe(hex(sym(PIT_WINDOW, "after_sti")));
    expect(at("ticks")).toBe(6);
    // The same as on the bare machine.
    expect(hex(bare.machine.memory.read32(sym(PIT_WINDOW, "first_eip")))).toBe(hex(sym(PIT_WINDOW, "after_sti")));
    // Exactly one interrupt-window exit: the held interrupt; the periodic ones were injected at once.
    expect(vm.stats.exits.get(7)).toBe(1);
    const window = records.filter((r) => r.name === "INTERRUPT_WINDOW");
    expect(window.map((r) => hex(r.guestEip))).toEqual([hex(sym(PIT_WINDOW, "after_sti"))]);
    // The timer expired during the busy loop: a preemption-timer exit brought the hypervisor back.
    expect(vm.stats.exits.get(52)).toBeGreaterThanOrEqual(1);
  });
});

/**
 * A held timer interrupt, then a #GP injected for a refused WRMSR while it is still held (IF = 0): the
 * interrupt must still arrive right after the STI that follows, as on the bare machine.
 */
const HELD_ACROSS_INJECTION = asm(`
bits 32
org 0x100000
start:
    mov esp, 0x90000
    call rt_init
    mov eax, 0x20
    mov edx, tick
    call set_gate
    mov eax, 13
    mov edx, gp
    call set_gate
    mov eax, 0x01
    call pic_init
${pitProgram(0, 100)}
    mov ecx, 500000                 ; IF = 0 well past the timer
.busy:
    dec ecx
    jnz .busy
    mov ecx, 0x12345678
    wrmsr                           ; refused: #GP(0) is injected while IRQ0 is held
    sti
    nop
after_sti:
    nop
    mov ecx, 400000                 ; no exits in here
.spin:
    dec ecx
    jnz .spin
    cli
    mov eax, [gps]
    out 0xf4, eax
tick:
    push eax
    mov eax, [esp + 4]
    mov [first_eip], eax
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd
gp:
    inc dword [gps]
    add esp, 4                      ; the error code
    add dword [esp], 2              ; past the WRMSR
    iretd
align 4
gps: dd 0
first_eip: dd 0
${MINI_RUNTIME}
`);

describe.each(MODES)("interrupts held across an injected exception on %s", (paging) => {
  it("the interrupt window is still requested: the interrupt arrives right after STI", () => {
    const bare = runBare(HELD_ACROSS_INJECTION.bytes, { memoryMiB: 4 });
    expect(bare.stop).toEqual({ kind: "debug-exit", value: 1 });
    const firstEip = sym(HELD_ACROSS_INJECTION, "first_eip");
    expect(hex(bare.machine.memory.read32(firstEip))).toBe(hex(sym(HELD_ACROSS_INJECTION, "after_sti")));
    const { vm } = runOne(HELD_ACROSS_INJECTION, paging);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 1 });
    expect(hex(read32(vm, firstEip))).toBe(hex(sym(HELD_ACROSS_INJECTION, "after_sti")));
  });
});

// =============================================================================================
// The block device.

const SECTORS = 64;
const BLOCK_RESULTS = 0x300000;

function blockDisk(): Uint8Array {
  const d = new Uint8Array(SECTORS * 512);
  for (let i = 0; i < d.length; i++) d[i] = (i * 13 + (i >> 9)) & 0xff;
  return d;
}

/** [sector, count, buffer, command]: each one's STATUS and ERROR are recorded. */
const BLOCK_CASES: [number, number, number, number][] = [
  [0, 4, 0x200000, 1], // read sectors 0-3
  [10, 4, 0x200000, 2], // (after the guest inverted the buffer) write them as 10-13
  [10, 4, 0x210000, 1], // and read them back elsewhere
  [SECTORS, 1, 0x200000, 1], // the sector just past the end
  [SECTORS - 1, 2, 0x200000, 2], // a range that runs past the end
  [0, 1, 0x3fff00, 1], // a buffer running past the end of RAM
  [0, 1, 0x200000, 3], // unknown commands
  [0, 1, 0x200000, 0],
  [0, 0, 0x200000, 1], // an empty transfer is fine
];

const BLOCK = asm(`
bits 32
org 0x100000
BLK equ 0x6000
R equ ${BLOCK_RESULTS}
start:
    mov esp, 0x90000
    call rt_init
    mov dx, BLK + 0x10
    in eax, dx
    mov [R], eax                    ; CAPACITY
    mov esi, cases
    mov edi, R + 16
    mov ebp, ${BLOCK_CASES.length}
.next:
    cmp ebp, ${BLOCK_CASES.length - 1}
    jne .go
    pushad                          ; before the write: invert what was read
    mov edi, 0x200000
    mov ecx, 512
.inv:
    not dword [edi]
    add edi, 4
    dec ecx
    jnz .inv
    popad
.go:
    mov dx, BLK + 0x00
    mov eax, [esi]
    out dx, eax
    mov dx, BLK + 0x04
    mov eax, [esi + 4]
    out dx, eax
    mov dx, BLK + 0x08
    mov eax, [esi + 8]
    out dx, eax
    mov dx, BLK + 0x0c
    mov eax, [esi + 12]
    out dx, eax
    in eax, dx
    mov [edi], eax                  ; STATUS
    mov dx, BLK + 0x14
    in eax, dx
    mov [edi + 4], eax              ; ERROR
    add esi, 16
    add edi, 8
    dec ebp
    jnz .next
    ; Registers read back, CONTROL keeps bit 0 only, ports without a register read all ones.
    mov dx, BLK + 0x00
    in eax, dx
    mov [R + 4], eax
    mov dx, BLK + 0x18
    mov eax, 0xfffffffe
    out dx, eax
    in eax, dx
    mov [R + 8], eax
    mov dx, BLK + 0x1c
    in eax, dx
    mov [R + 12], eax
    ; Completion interrupt: IRQ 14 (slave IRQ 6, vector 0x2e).
    mov eax, 0x2e
    mov edx, disk_irq
    call set_gate
    mov eax, 0x4000                 ; AH = 0x40: slave IRQ 6
    call pic_init
    mov dx, BLK + 0x18
    mov eax, 1
    out dx, eax                     ; CONTROL: interrupt on completion
    mov dx, BLK + 0x04
    mov eax, 1
    out dx, eax
    mov dx, BLK + 0x08
    mov eax, 0x220000
    out dx, eax
    mov dx, BLK + 0x0c
    mov eax, 1
    out dx, eax                     ; read sector 63 (SECTOR is still 0... set below)
    sti
    hlt                             ; the interrupt is already pending: HLT returns at once
    cli
    xor eax, eax
    out 0xf4, eax
disk_irq:
    inc dword [irqs]
    push eax
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop eax
    iretd
align 4
irqs: dd 0
cases:
${BLOCK_CASES.map((c) => `    dd ${c.map((v) => hex(v)).join(", ")}`).join("\n")}
${MINI_RUNTIME}
`);

describe.each(MODES)("block device on %s", (paging) => {
  it("reads, writes and reads back through DMA; range, buffer and command errors; completion IRQ", () => {
    const disk = blockDisk();
    const { vm } = runOne(BLOCK, paging, { disk });
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    const r = (offset: number) => read32(vm, BLOCK_RESULTS + offset);
    expect(r(0)).toBe(SECTORS);
    const got = BLOCK_CASES.map((_, i) => [r(16 + 8 * i), r(20 + 8 * i)]);
    expect(got).toEqual([
      [2, 0],
      [2, 0],
      [2, 0],
      [3, 1], // STATUS: failed | done; ERROR 1: out of range
      [3, 1],
      [3, 2], // buffer outside guest memory
      [3, 3], // unknown command
      [3, 3],
      [2, 0],
    ]);
    expect(r(4)).toBe(0); // SECTOR as last written
    expect(r(8)).toBe(0); // CONTROL: bit 0 of 0xfffffffe
    expect(hex(r(12))).toBe("0xffffffff"); // past the device's registers
    // The disk: sectors 10-13 now hold sectors 0-3 inverted; nothing else changed.
    const want = blockDisk();
    for (let i = 0; i < 4 * 512; i++) want[10 * 512 + i] = ~want[i]! & 0xff;
    expect(Buffer.from(disk).equals(Buffer.from(want))).toBe(true);
    // Guest memory: the read-back copy equals what was written, and the IRQ read landed.
    expect(Buffer.from(vm.memory.read(0x210000, 2048)).equals(Buffer.from(want.subarray(5120, 7168)))).toBe(true);
    expect(Buffer.from(vm.memory.read(0x220000, 512)).equals(Buffer.from(want.subarray(0, 512)))).toBe(true);
    expect(read32(vm, sym(BLOCK, "irqs"))).toBe(1);
    expect(vm.devices.block!.stats).toEqual({ reads: 4, writes: 1 });
  });
});

// =============================================================================================
// Hypercalls.

const R = 0x40000; // lib.inc's SCRATCH
const HYPERCALLS = asm(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "hypercalls.asm"), "utf8"));

describe.each(MODES)("hypercalls on %s", (paging) => {
  it("CONSOLE_WRITE, TIME, YIELD; bad buffers, unknown calls and ring 3 get -1", () => {
    const records: ExitRecord[] = [];
    const hv = new Hypervisor(
      [
        { name: "g", memoryMiB: 4, image: HYPERCALLS.bytes, entry: sym(HYPERCALLS, "start"), paging },
        { name: "other", memoryMiB: 4, image: victimProgram(3).bytes },
      ],
      { onExit: (r) => records.push(r) },
    );
    hv.run({ maxInstructions: 20_000_000 });
    const [vm, other] = hv.vms as [Vm, Vm];
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    const r = (offset: number) => read32(vm, R + offset);
    expect(vm.consoleText()).toBe("hello from a hypercall\n");
    expect(r(0)).toBe(0);
    for (const offset of [4, 8, 12, 16, 20]) expect(hex(r(offset)), `R+${offset}`).toBe("0xffffffff");
    // TIME: EDX:EAX is the TSC the guest reads with RDTSC, ECX the frequency.
    const t = (offset: number) => r(offset) + r(offset + 4) * 2 ** 32;
    expect(t(24)).toBeGreaterThan(0);
    expect(t(24)).toBeLessThan(t(36));
    expect(t(36)).toBeLessThan(t(44));
    expect(r(32)).toBe(hv.machine.cpu.hz);
    // YIELD returns 0 and gives up the slice: the other VM runs next.
    expect(r(52)).toBe(0);
    const yieldAt = records.findIndex((x) => x.vm === "g" && x.handler === "hypercall YIELD");
    expect(records[yieldAt]!.action).toBe("yield");
    expect(records[yieldAt + 1]!.vm).toBe("other");
    // Ring 3: refused with -1, nothing written.
    expect(hex(r(56))).toBe("0xffffffff");
    expect(other.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(other.consoleText()).toBe(victimConsole(3));
  });
});

// =============================================================================================
// The virtual CPUID.

const LEAVES = [0, 1, 0x40000000, 0x40000001, 0x80000000, 0x12345];
const CPUID = asm(`
bits 32
org 0x100000
start:
${LEAVES.map(
  (leaf, i) => `
    mov eax, ${hex(leaf)}
    xor ecx, ecx
    cpuid
    mov [0x200000 + ${16 * i}], eax
    mov [0x200004 + ${16 * i}], ebx
    mov [0x200008 + ${16 * i}], ecx
    mov [0x20000c + ${16 * i}], edx`,
).join("\n")}
    xor eax, eax
    out 0xf4, eax
`);

function text(...words: number[]): string {
  let s = "";
  for (const w of words) for (let k = 0; k < 4; k++) s += String.fromCharCode((w >>> (8 * k)) & 0xff);
  return s;
}

describe.each(MODES)("virtual CPUID on %s", (paging) => {
  it("vendor VMXlabHyperV, hypervisor bit set, VMX clear, hypervisor leaves", () => {
    const { vm } = runOne(CPUID, paging);
    expect(vm.stop).toEqual({ kind: "debug-exit", value: 0 });
    const leaf = (i: number) => [0, 4, 8, 12].map((k) => read32(vm, 0x200000 + 16 * i + k));
    const [l0, l1, h0, h1, e0, unknown] = LEAVES.map((_, i) => leaf(i)) as number[][];
    expect(text(l0![1]!, l0![3]!, l0![2]!)).toBe(HYPERVISOR_VENDOR);
    expect(HYPERVISOR_VENDOR).toBe("VMXlabHyperV");
    expect(l0![0]).toBe(1);
    expect(l1![2]! >>> 31).toBe(1); // hypervisor present
    expect((l1![2]! >>> 5) & 1).toBe(0); // no VMX for the guest
    expect(h0![0]).toBe(0x40000001);
    expect(text(h0![1]!, h0![2]!, h0![3]!)).toBe("VMXlabHyperV");
    expect(h1).toEqual([0, 0, 0, 0]);
    expect(e0![0]).toBe(0x80000000);
    expect(unknown).toEqual([0, 0, 0, 0]);
    expect(vm.stats.exits.get(10)).toBe(LEAVES.length);
    // The bare machine says otherwise: VMX available, no hypervisor.
    const bare = runBare(CPUID.bytes, { memoryMiB: 4 }).machine.memory;
    expect(text(bare.read32(0x200004), bare.read32(0x20000c), bare.read32(0x200008))).not.toBe(HYPERVISOR_VENDOR);
    expect((bare.read32(0x200018) >>> 5) & 1).toBe(1);
    expect(bare.read32(0x200018) >>> 31).toBe(0);
  });
});

// =============================================================================================
// Exits no handler claims.

const RDTSC_GUEST = asm(`
bits 32
org 0x100000
start:
    mov ecx, 50000
.d:
    dec ecx
    jnz .d
the_rdtsc:
    rdtsc
    xor eax, eax
    out 0xf4, eax
`);

describe.each(MODES)("unexpected exits on %s", (paging) => {
  it("an exit with no handler (RDTSC exiting) stops that VM with reason, qualification and a VMCS dump", () => {
    const hv = new Hypervisor(
      [
        { name: "g", memoryMiB: 4, image: RDTSC_GUEST.bytes, paging },
        { name: "other", memoryMiB: 4, image: victimProgram(9).bytes },
      ],
      { sliceCycles: 20_000 },
    );
    const [vm, other] = hv.vms as [Vm, Vm];
    const vmx = hv.machine.vmx;
    vmx.vmptrld(vm.vmcs);
    vmx.write(
      VMCS.CPU_BASED_VM_EXEC_CONTROL,
      vmx.read(VMCS.CPU_BASED_VM_EXEC_CONTROL) | vmxControls.CPU_BASED_RDTSC_EXITING,
    );
    hv.run({ maxInstructions: 20_000_000 });
    expect(vm.stop?.kind).toBe("error");
    const d = (vm.stop as { diagnostic: string }).diagnostic;
    expect(d).toMatch(/unexpected VM exit RDTSC \(16\)/);
    expect(d).toContain("qualification 0x0");
    expect(d).toContain(`guest EIP ${hex(sym(RDTSC_GUEST, "the_rdtsc"))}`);
    expect(d).toContain("VMCS:");
    const field = (name: string) => {
      const m = d.match(new RegExp(`^\\s+${name}\\s+(0x[0-9a-f]+)$`, "m"));
      return m ? Number(m[1]) : undefined;
    };
    expect(field("VM_EXIT_REASON")).toBe(16);
    expect(hex(field("GUEST_RIP")!)).toBe(hex(sym(RDTSC_GUEST, "the_rdtsc")));
    expect(field("CPU_BASED_VM_EXEC_CONTROL")! & vmxControls.CPU_BASED_RDTSC_EXITING).not.toBe(0);
    expect(vm.finalRegs!.eip).toBe(sym(RDTSC_GUEST, "the_rdtsc"));
    expect(other.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(other.consoleText()).toBe(victimConsole(9));
  });

  it("a VMCS loaded from outside (as above) does not confuse the hypervisor about the current one", () => {
    const hv = new Hypervisor(
      [
        { name: "a", memoryMiB: 4, image: victimProgram(1).bytes, paging },
        { name: "b", memoryMiB: 4, image: COM1_TX.bytes },
      ],
      { sliceCycles: 20_000 },
    );
    hv.run({ maxInstructions: 20_000_000 });
    expect(hv.vms[0]!.finalRegs!.eip).not.toBe(hv.vms[1]!.finalRegs!.eip);
    const vmx = hv.machine.vmx;
    for (const vm of hv.vms) {
      for (const other of hv.vms) {
        vmx.vmptrld(other.vmcs);
        expect(hv.guestRegisters(vm), `${vm.name} after loading ${other.name}'s VMCS`).toEqual(vm.finalRegs);
      }
    }
  });

  it("an exception exit the hypervisor did not ask for stops the VM with the same kind of diagnostic", () => {
    const program = asm(`
bits 32
org 0x100000
start:
the_ud2:
    ud2
`);
    const hv = new Hypervisor([{ name: "g", memoryMiB: 4, image: program.bytes, paging }]);
    const vm = hv.vms[0]!;
    const vmx = hv.machine.vmx;
    vmx.vmptrld(vm.vmcs);
    vmx.write(VMCS.EXCEPTION_BITMAP, vmx.read(VMCS.EXCEPTION_BITMAP) | (1 << 6));
    hv.run({ maxInstructions: 1_000_000 });
    expect(vm.stop?.kind).toBe("error");
    const d = (vm.stop as { diagnostic: string }).diagnostic;
    expect(d).toMatch(/EXCEPTION_NMI \(0\)/);
    expect(d).toContain("vector 6");
    expect(d).toContain(`guest EIP ${hex(sym(program, "the_ud2"))}`);
    expect(d).toContain("VMCS:");
    expect(d).toMatch(/^\s+VM_EXIT_INTR_INFO\s+0x80000306$/m);
  });
});
