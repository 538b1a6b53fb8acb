// Isolation: no guest can read or write another VM's memory, the hypervisor's memory, or another VM's
// devices. Each test runs a hostile VM next to two victims (one on EPT, one on shadow paging): the
// hostile guest tries one attack -- page tables or block transfers pointing outside its RAM, I/O to
// ports it has no device on, MSR writes, VMX instructions, a triple fault -- and each attempt must fail
// safely (the VM stops with a diagnostic, the device reports an error, the guest gets #GP or #UD)
// while the victims run to the end with exactly the output and memory they have alone. The host's
// memory is compared page by page before and after: the only pages that may change are the victims'
// own RAM (checked byte for byte), each VM's VMCS and MMU tables, and the hostile VM's own RAM.

import { VMCS } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { Hypervisor, type PagingMode, type Vm, type VmConfig } from "../src/index.js";
import {
  asm,
  changedPages,
  eptPages,
  hex,
  PATTERN_BASE,
  type Program,
  ramPages,
  read32,
  snapshotHost,
  sym,
  victimConsole,
  victimPattern,
  victimProgram,
} from "./vm-helpers.js";

const MiB = 1 << 20;
const VICTIM_SEEDS = [0x1111_2222, 0x3333_4444];
const VICTIM_MODES: PagingMode[] = ["ept", "shadow"];
const MODES: PagingMode[] = ["ept", "shadow"];

/** A busy loop first, so that the victims have run several slices when the attack comes. */
const DELAY = `
    mov esp, 0x90000
    mov ecx, 150000
.delay:
    dec ecx
    jnz .delay
`;

interface Scenario {
  hv: Hypervisor;
  hostile: Vm;
  victims: Vm[];
  before: Uint8Array;
  after: Uint8Array;
}

/** Runs the hostile program between two victims and returns everything a test needs to judge it. */
function scenario(
  hostile: Omit<VmConfig, "name" | "memoryMiB"> & { memoryMiB?: number },
  options: { victimDisk?: Uint8Array } = {},
): Scenario {
  const victims = VICTIM_SEEDS.map((seed, i) => ({
    name: `victim${i}`,
    memoryMiB: 4,
    image: victimProgram(seed).bytes,
    paging: VICTIM_MODES[i]!,
    ...(options.victimDisk ? { disk: options.victimDisk } : {}),
  }));
  const hv = new Hypervisor([victims[0]!, { name: "hostile", memoryMiB: 4, ...hostile }, victims[1]!], {
    sliceCycles: 20_000,
  });
  const before = snapshotHost(hv);
  hv.run({ maxInstructions: 20_000_000 });
  return { hv, hostile: hv.vms[1]!, victims: [hv.vms[0]!, hv.vms[2]!], before, after: snapshotHost(hv) };
}

/** The victims ended as they would alone, with their RAM byte for byte what they wrote themselves. */
function expectVictimsUnharmed(s: Scenario): void {
  s.victims.forEach((vm, i) => {
    const seed = VICTIM_SEEDS[i]!;
    expect(vm.stop, `${vm.name}: ${JSON.stringify(vm.stop)}`).toEqual({ kind: "debug-exit", value: 0 });
    expect(vm.consoleText()).toBe(victimConsole(seed));
    // Its whole RAM: zero except its image, its pattern and the top of its stack (CALL puts).
    const expected = new Uint8Array(vm.memory.size);
    expected.set(victimProgram(seed).bytes, 0x100000);
    expected.set(victimPattern(seed), PATTERN_BASE);
    const ram = vm.memory.read(0, vm.memory.size);
    ram.fill(0, 0x8f000, 0x90000);
    expect(Buffer.from(ram).equals(Buffer.from(expected)), `${vm.name}'s RAM`).toBe(true);
  });
}

/**
 * The host's memory: the hypervisor's own structures are untouched, and every page that changed is
 * a VM's RAM, VMCS or EPT table -- or one of the shadow tables the hypervisor built for a shadow VM.
 */
function expectHostUntouched(s: Scenario): void {
  const { hv } = s;
  const changed = changedPages(s.before, s.after);
  const hostPd = hv.machine.cpu.cr3 >>> 0; // host state after the last exit: HOST_CR3
  const vmxon = hv.machine.vmx.vmxonPointer;
  const msrBitmap = hv.machine.vmx.read(VMCS.MSR_BITMAP);
  for (const page of [0, hostPd, vmxon, msrBitmap]) expect(changed).not.toContain(page / 4096);
  const owned = new Set<number>();
  for (const vm of hv.vms) {
    for (const p of ramPages(vm)) owned.add(p);
    for (const p of eptPages(vm)) owned.add(p);
    owned.add(vm.vmcs / 4096);
  }
  // (The comparison sees real changes: each victim's pattern pages are among them.)
  for (const vm of s.victims) expect(changed).toContain(vm.memory.translate(PATTERN_BASE) / 4096);
  const others = changed.filter((p) => !owned.has(p));
  const shadowTables = hv.vms.reduce((n, vm) => n + (vm.mmu.kind === "shadow" ? vm.mmu.tablePages : 0), 0);
  expect(others.length).toBeLessThanOrEqual(shadowTables);
}

function hostileRun(program: Program, paging: PagingMode, extra: Partial<VmConfig> = {}) {
  return scenario({ image: program.bytes, entry: sym(program, "start"), paging, ...extra });
}

// =============================================================================================
// (a) Page tables pointing outside the VM.

/** The hostile guest builds page tables (or not) and touches memory it has no right to. */
function pagingAttack(variant: { pd1?: string; pt0?: string; cr3?: string; access: string }): Program {
  return asm(`
bits 32
org 0x100000
start:
${DELAY}
    mov edi, 0x10000                ; page directory (and a page table at 0x11000)
    xor eax, eax
    mov ecx, 2048
    rep stosd
    mov dword [0x10000], 0x83       ; 0-4 MiB: one 4 MiB page, identity (code, data, stack)
    mov dword [0x10004], ${variant.pd1 ?? "0"}
    mov dword [0x11000], ${variant.pt0 ?? "0"}
    mov eax, cr4
    or eax, 0x10                    ; CR4.PSE
    mov cr4, eax
    mov eax, ${variant.cr3 ?? "0x10000"}
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
attack:
    ${variant.access}
    mov al, '!'                     ; reached only if the access was allowed
    out 0xe9, al
    mov eax, 0x99
    out 0xf4, eax
`);
}

const PAGING_ATTACKS: { name: string; program: Program; gpa: number }[] = [
  {
    name: "a 4 MiB page at guest-physical 0xffc00000 (a huge address)",
    program: pagingAttack({ pd1: "0xffc00083", access: "mov eax, [0x400010]" }),
    gpa: 0xffc00010,
  },
  {
    name: "a 4 MiB page just past its RAM (where the next VM's memory could be), written",
    program: pagingAttack({ pd1: "0x00400083", access: "mov dword [0x400100], 0xdeadbeef" }),
    gpa: 0x400100,
  },
  {
    name: "a 4 KiB page at guest-physical 0xfffff000, written",
    program: pagingAttack({ pd1: "0x11003", pt0: "0xfffff003", access: "mov dword [0x400008], 0xdeadbeef" }),
    gpa: 0xfffff008,
  },
  {
    name: "a page table outside its RAM",
    program: pagingAttack({ pd1: "0x00800003", access: "mov eax, [0x400000]" }),
    gpa: 0x800000,
  },
  {
    name: "CR3 outside its RAM",
    program: pagingAttack({ cr3: "0x00c00000", access: "nop" }),
    gpa: 0xc00000,
  },
];

describe.each(MODES)("(a) page tables pointing outside the VM, hostile VM on %s", (paging) => {
  it.each(PAGING_ATTACKS)("$name: the VM stops with a diagnostic, the others finish", ({ program, gpa }) => {
    const s = hostileRun(program, paging);
    expect(s.hostile.stop?.kind).toBe("error");
    const diagnostic = (s.hostile.stop as { diagnostic: string }).diagnostic;
    expect(diagnostic).toMatch(/outside/);
    // The diagnostic names the guest-physical address (its page, at least).
    const pageOf = (n: number) => hex(n & ~0xfff).slice(2);
    expect(diagnostic.toLowerCase()).toMatch(new RegExp(`0x0*${pageOf(gpa).replace(/0+$/, "")}`));
    if (paging === "ept") expect(diagnostic).toContain(`(EIP ${hex(sym(program, "attack"))})`);
    expect(s.hostile.consoleText()).not.toContain("!");
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });

  it("guest-physical addresses beyond its RAM with paging off stop the VM too", () => {
    const program = asm(`
bits 32
org 0x100000
start:
${DELAY}
attack:
    mov dword [0x00400000], 0xdeadbeef
    mov eax, 0x99
    out 0xf4, eax
`);
    const s = hostileRun(program, paging);
    expect(s.hostile.stop?.kind).toBe("error");
    expect((s.hostile.stop as { diagnostic: string }).diagnostic).toMatch(/0x0*400000.*outside|outside.*0x0*400000/);
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });
});

// =============================================================================================
// (b) Block transfers (DMA) pointing outside the VM.

const DISK_BYTES = 64 * 1024;

function diskImage(seed: number): Uint8Array {
  const d = new Uint8Array(DISK_BYTES);
  for (let i = 0; i < d.length; i++) d[i] = (i * 7 + seed) & 0xff;
  return d;
}

/** [sector, count, buffer, command] of each transfer the hostile guest asks for. */
const DMA_CASES: [number, number, number, number][] = [
  [0, 1, 0x400000, 1], // read into the first byte past its RAM
  [0, 1, 0x3fff00, 1], // read straddling the end of its RAM
  [0, 8, 0x3ff200, 1], // 4 KiB straddling the end
  [0, 1, 0xfffffe00, 1], // near the top of the 32-bit space
  [0, 1, 0xffffffff, 1],
  [0, 1, 0x80000000, 1],
  [0, 1, 0x400000, 2], // write to the disk from outside its RAM (would leak host memory)
  [0, 1, 0xfffffe00, 2],
  [0, 8, 0x3ff200, 2],
  [0xffffffff, 2, 0x300000, 1], // sector + count wraps in 32 bits: out of range, not a small transfer
  [0, 0x800001, 0x300000, 1], // count * 512 wraps in 32 bits
  [4, 1, 0x3ffe00, 1], // good: the last 512 bytes of its RAM
  [5, 1, 0x3ffe00, 2], // good: and back to sector 5
];

function dmaAttack(): Program {
  const table = DMA_CASES.map((c) => `    dd ${c.map((v) => hex(v)).join(", ")}`).join("\n");
  return asm(`
bits 32
org 0x100000
BLK equ 0x6000
RESULTS equ 0x300000
start:
${DELAY}
    mov esi, cases
    mov edi, RESULTS
    mov ebp, ${DMA_CASES.length}
.next:
    mov dx, BLK + 0x00
    mov eax, [esi]
    out dx, eax                     ; SECTOR
    mov dx, BLK + 0x04
    mov eax, [esi + 4]
    out dx, eax                     ; COUNT
    mov dx, BLK + 0x08
    mov eax, [esi + 8]
    out dx, eax                     ; BUFFER
    mov dx, BLK + 0x0c
    mov eax, [esi + 12]
    out dx, eax                     ; COMMAND
    in eax, dx                      ; STATUS
    mov [edi], eax
    mov dx, BLK + 0x14
    in eax, dx                      ; ERROR
    mov [edi + 4], eax
    add esi, 16
    add edi, 8
    dec ebp
    jnz .next
    xor eax, eax
    out 0xf4, eax
cases:
${table}
`);
}

describe.each(MODES)("(b) block transfers pointing outside the VM, hostile VM on %s", (paging) => {
  it("every bad buffer fails with ERROR 2 and moves no byte; the victims' memory and disks are untouched", () => {
    const disk = diskImage(0x5a);
    const victimDisk = diskImage(0xa5);
    const victimDiskBefore = victimDisk.slice();
    const s = scenario({ image: dmaAttack().bytes, entry: sym(dmaAttack(), "start"), paging, disk }, { victimDisk });
    expect(s.hostile.stop).toEqual({ kind: "debug-exit", value: 0 });
    const results = DMA_CASES.map((_, i) => [read32(s.hostile, 0x300000 + 8 * i), read32(s.hostile, 0x300004 + 8 * i)]);
    const expected = DMA_CASES.map(([sector, count, buffer]) => {
      if (sector + count > DISK_BYTES / 512) return [3, 1]; // failed + done, OUT_OF_RANGE
      if (buffer + count * 512 > 4 * MiB) return [3, 2]; // failed + done, BAD_BUFFER
      return [2, 0];
    });
    expect(results).toEqual(expected);
    // The disk changed only where the good write put sector 4 (read into RAM) back as sector 5.
    const want = diskImage(0x5a);
    want.copyWithin(5 * 512, 4 * 512, 5 * 512);
    expect(Buffer.from(disk).equals(Buffer.from(want))).toBe(true);
    // Its own RAM: the last 512 bytes hold sector 4; nothing else near the end was written.
    expect(Buffer.from(s.hostile.memory.read(0x3ffe00, 512)).equals(Buffer.from(want.subarray(2048, 2560)))).toBe(true);
    expect(s.hostile.memory.read(0x3fc000, 0x3e00).every((b) => b === 0)).toBe(true);
    expect(s.hostile.devices.block!.stats).toEqual({ reads: 1, writes: 1 });
    // The victims' disks were never reached.
    for (const vm of s.victims) {
      expect(Buffer.from(vm.devices.block!.disk).equals(Buffer.from(victimDiskBefore))).toBe(true);
      expect(vm.devices.block!.stats).toEqual({ reads: 0, writes: 0 });
    }
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });
});

// =============================================================================================
// (c) I/O to ports with no device behind them, and to the VM's own devices.

/** [port, size] read, then written, then read again. */
const UNASSIGNED: [number, 1 | 2 | 4][] = [
  [0x80, 1],
  [0x2f8, 1], // COM2: not present
  [0x6000, 4], // the block device: this VM has no disk
  [0x6014, 2],
  [0xcf8, 4], // PCI configuration: not present
  [0x1234, 2],
  [0xfffc, 4],
  [0xffff, 1],
];

function portAttack(): Program {
  const probes = UNASSIGNED.map(([port, size], i) => {
    const reg = size === 1 ? "al" : size === 2 ? "ax" : "eax";
    return `
    mov dx, ${hex(port)}
    mov eax, 0x12345678
    in ${reg}, dx
    mov [RESULTS + ${8 * i}], eax
    mov eax, 0x5a5a5a5a
    out dx, ${reg}
    mov eax, 0x12345678
    in ${reg}, dx
    mov [RESULTS + ${8 * i + 4}], eax`;
  }).join("\n");
  return asm(`
bits 32
org 0x100000
RESULTS equ 0x300000
start:
${DELAY}
${probes}
    ; Its own devices: reprogram COM1 (divisor, line control, scratch, interrupts, loopback), the
    ; PIC and the PIT. None of it may reach a victim's devices.
    mov dx, 0x3fb
    mov al, 0x80
    out dx, al                      ; DLAB
    mov dx, 0x3f8
    mov al, 0x03
    out dx, al                      ; DLL
    mov dx, 0x3fb
    mov al, 0x1b
    out dx, al                      ; LCR
    mov dx, 0x3ff
    mov al, 0xa5
    out dx, al                      ; SCR
    mov dx, 0x3f9
    mov al, 0x0f
    out dx, al                      ; IER
    mov dx, 0x3f8
    mov al, 'H'
    out dx, al                      ; THR: its own console
    mov dx, 0x3fc
    mov al, 0x1f
    out dx, al                      ; MCR: loopback
    mov al, 0x11
    out 0x20, al                    ; PIC: ICW1..4, then unmask everything
    mov al, 0x30
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    xor al, al
    out 0x21, al
    mov al, 0x34
    out 0x43, al                    ; PIT channel 0, rate generator
    mov al, 0x10
    out 0x40, al
    out 0x40, al
    cli
    xor eax, eax
    out 0xf4, eax
`);
}

describe.each(MODES)("(c) I/O to unassigned ports, hostile VM on %s", (paging) => {
  it("reads all ones, writes are ignored, and nothing reaches another VM's devices", () => {
    const program = portAttack();
    const hv0 = new Hypervisor([{ name: "probe", memoryMiB: 4, image: victimProgram(1).bytes }]);
    const fresh = {
      com1: hv0.vms[0]!.devices.com1.saveState(),
      pic: hv0.vms[0]!.devices.pic.saveState(),
    };
    const s = hostileRun(program, paging);
    expect(s.hostile.stop).toEqual({ kind: "debug-exit", value: 0 });
    UNASSIGNED.forEach(([port, size], i) => {
      const ones = size === 1 ? 0x123456ff : size === 2 ? 0x1234ffff : 0xffffffff;
      expect([hex(read32(s.hostile, 0x300000 + 8 * i)), hex(read32(s.hostile, 0x300004 + 8 * i))], hex(port)).toEqual([
        hex(ones),
        hex(ones),
      ]);
    });
    // Its own COM1 took the writes; the victims' COM1 and PIC are as at power-on.
    expect(s.hostile.consoleText()).toBe("H");
    const hostileCom1 = s.hostile.devices.com1.saveState();
    expect([hostileCom1.dll, hostileCom1.lcr, hostileCom1.scr, hostileCom1.ier, hostileCom1.mcr]).toEqual([
      3, 0x1b, 0xa5, 0x0f, 0x1f,
    ]);
    for (const vm of s.victims) {
      expect(vm.devices.com1.saveState()).toEqual(fresh.com1);
      expect(vm.devices.pic.saveState()).toEqual(fresh.pic);
      expect(vm.devices.pit.nextEvent()).toBe(Number.POSITIVE_INFINITY);
    }
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });
});

// =============================================================================================
// (d) MSR writes. (e) VMX instructions. Both use the system-test runtime (lib.inc), whose IDT logs
// every exception: LOG entries hold the vector and the frame the CPU pushed.

const LOG_COUNT = 0x30000;
const LOG_ENTRIES = 0x30040;

interface LogEntry {
  vector: number;
  frame: number[];
}

function exceptionLog(vm: Vm): LogEntry[] {
  const n = read32(vm, LOG_COUNT);
  const out: LogEntry[] = [];
  for (let k = 0; k < Math.min(n, 32); k++) {
    const e = LOG_ENTRIES + 64 * k;
    out.push({ vector: read32(vm, e), frame: [0, 1, 2, 3].map((j) => read32(vm, e + 16 + 4 * j)) });
  }
  return out;
}

const FORBIDDEN_WRMSR = [0x10, 0x3a, 0x1b, 0x480, 0xc0000080, 0x12345678];

function msrProgram(values: [number, number, number]): Program {
  const [cs, esp, eip] = values;
  const faults = FORBIDDEN_WRMSR.map(
    (msr, i) => `
    RESUME after_w${i}
    mov ecx, ${hex(msr)}
    xor eax, eax
    xor edx, edx
wrmsr_${i}:
    wrmsr
after_w${i}:`,
  ).join("\n");
  return asm(`
%include "lib.inc"
start:
    START
    xor edx, edx
    mov ecx, 0x174
    mov eax, ${hex(cs)}
    wrmsr
    mov ecx, 0x175
    mov eax, ${hex(esp)}
    wrmsr
    mov ecx, 0x176
    mov eax, ${hex(eip)}
    wrmsr
    mov esi, 40
.round:
    mov eax, 2                      ; hypercall YIELD: the other VM runs now
    vmcall
    mov ecx, 0x174
    rdmsr
    cmp eax, ${hex(cs)}
    jne bad
    mov ecx, 0x175
    rdmsr
    cmp eax, ${hex(esp)}
    jne bad
    mov ecx, 0x176
    rdmsr
    cmp eax, ${hex(eip)}
    jne bad
    dec esi
    jnz .round
${faults}
    RESUME after_r0
    mov ecx, 0x12345678
rdmsr_0:
    rdmsr
after_r0:
    RESUME 0
    EXIT 0
bad:
    EXIT 0x55
`);
}

describe.each(MODES)("(d) MSR writes, VMs on %s", (paging) => {
  it("SYSENTER MSRs are per VM; any other WRMSR gets #GP(0) in the guest", () => {
    const a = msrProgram([0x0123, 0xaaaa0000, 0xaaaa1111]);
    const b = msrProgram([0x0456, 0xbbbb0000, 0xbbbb1111]);
    const hv = new Hypervisor(
      [
        { name: "a", memoryMiB: 4, image: a.bytes, entry: sym(a, "start"), paging },
        {
          name: "b",
          memoryMiB: 4,
          image: b.bytes,
          entry: sym(b, "start"),
          paging: paging === "ept" ? "shadow" : "ept",
        },
        { name: "victim", memoryMiB: 4, image: victimProgram(7).bytes },
      ],
      { sliceCycles: 20_000 },
    );
    const featureControl = hv.machine.cpu.readMsr(0x3a);
    hv.run({ maxInstructions: 20_000_000 });
    const [vmA, vmB, victim] = hv.vms as [Vm, Vm, Vm];
    for (const [vm, p, values] of [
      [vmA, a, [0x0123, 0xaaaa0000, 0xaaaa1111]],
      [vmB, b, [0x0456, 0xbbbb0000, 0xbbbb1111]],
    ] as const) {
      expect(vm.stop, vm.name).toEqual({ kind: "debug-exit", value: 0 });
      // Many switches between them: each saw only its own values.
      expect(vm.stats.exits.get(18)).toBe(40);
      const log = exceptionLog(vm);
      expect(log.map((e) => e.vector)).toEqual([...FORBIDDEN_WRMSR.map(() => 13), 13]);
      // #GP(0): error code 0, saved EIP = the faulting WRMSR/RDMSR.
      expect(log.map((e) => hex(e.frame[1]!))).toEqual([
        ...FORBIDDEN_WRMSR.map((_, i) => hex(sym(p, `wrmsr_${i}`))),
        hex(sym(p, "rdmsr_0")),
      ]);
      expect(log.every((e) => e.frame[0] === 0)).toBe(true);
      expect(vm.stats.exits.get(32)).toBe(FORBIDDEN_WRMSR.length);
      // The VMCS keeps each VM's own SYSENTER state.
      hv.machine.vmx.vmptrld(vm.vmcs);
      expect([
        hv.machine.vmx.read(VMCS.GUEST_SYSENTER_CS),
        hv.machine.vmx.read(VMCS.GUEST_SYSENTER_ESP),
        hv.machine.vmx.read(VMCS.GUEST_SYSENTER_EIP),
      ]).toEqual(values);
    }
    // The machine's own MSRs are untouched (feature control still locked with VMX on).
    expect(hv.machine.cpu.readMsr(0x3a)).toEqual(featureControl);
    expect(victim.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(victim.consoleText()).toBe(victimConsole(7));
  });
});

const VMX_INSTRUCTIONS = [
  "vmxon [0x40000]",
  "vmxoff",
  "vmclear [0x40000]",
  "vmptrld [0x40000]",
  "vmptrst [0x40000]",
  "vmread eax, ebx",
  "vmwrite ebx, eax",
  "vmlaunch",
  "vmresume",
  "invept eax, [0x40000]",
  "invvpid eax, [0x40000]",
];

describe.each(MODES)("(e) VMX instructions, hostile VM on %s", (paging) => {
  it("each one gets #UD in the guest (vector 6 at its address); the hypervisor stays in VMX operation", () => {
    const body = VMX_INSTRUCTIONS.map(
      (insn, i) => `
    RESUME after_v${i}
insn_${i}:
    ${insn}
after_v${i}:`,
    ).join("\n");
    const program = asm(`
%include "lib.inc"
start:
    START
    mov dword [0x40000], 0x1000     ; a would-be VMCS pointer: the hypervisor's own pages
    mov ebx, 0x681e                 ; GUEST_RIP
${body}
    RESUME 0
    EXIT 0
`);
    const vmxon = (() => {
      const probe = new Hypervisor([{ name: "p", memoryMiB: 4, image: program.bytes }]);
      return probe.machine.vmx.vmxonPointer;
    })();
    const s = hostileRun(program, paging);
    expect(s.hostile.stop).toEqual({ kind: "debug-exit", value: 0 });
    const log = exceptionLog(s.hostile);
    expect(log.map((e) => e.vector)).toEqual(VMX_INSTRUCTIONS.map(() => 6));
    expect(log.map((e) => hex(e.frame[0]!))).toEqual(VMX_INSTRUCTIONS.map((_, i) => hex(sym(program, `insn_${i}`))));
    const vmxExits = [19, 20, 21, 22, 23, 24, 25, 26, 27, 50, 53].reduce(
      (n, r) => n + (s.hostile.stats.exits.get(r) ?? 0),
      0,
    );
    expect(vmxExits).toBe(VMX_INSTRUCTIONS.length);
    expect(s.hv.machine.vmx.inVmxOperation).toBe(true);
    expect(s.hv.machine.vmx.vmxonPointer).toBe(vmxon);
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });
});

// =============================================================================================
// (f) A triple fault.

describe.each(MODES)("(f) triple fault, hostile VM on %s", (paging) => {
  it("stops only that VM (shutdown, with a diagnostic)", () => {
    const program = asm(`
bits 32
org 0x100000
start:
${DELAY}
    lidt [idt]                      ; an empty IDT: #UD -> #GP -> #DF -> shutdown
fault:
    ud2
    mov eax, 0x99
    out 0xf4, eax
idt: dw 0
    dd 0
`);
    const s = hostileRun(program, paging);
    expect(s.hostile.stop?.kind).toBe("shutdown");
    expect((s.hostile.stop as { diagnostic: string }).diagnostic).toMatch(/triple fault/);
    expect(s.hostile.stats.exits.get(2)).toBe(1);
    expectVictimsUnharmed(s);
    expectHostUntouched(s);
  });
});
