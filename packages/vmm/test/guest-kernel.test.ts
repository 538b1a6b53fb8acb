// The guest kernel (examples/guest-kernel.asm) on the bare machine: it must print exactly the same
// text in every configuration, end with debug-exit 0, and really do what it claims on the way --
// timer interrupts taken in ring 3, preemption between two address spaces (CR3 changes), system
// calls through INT 0x80 and SYSENTER.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AsmResult, assembleOrThrow, Machine, type StopReason } from "@vmxlab/cpu";
import { beforeAll, describe, expect, it } from "vitest";

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), "..", "examples");
const KERNEL = join(EXAMPLES, "guest-kernel.asm");

function assembleKernel(): AsmResult {
  return assembleOrThrow(readFileSync(KERNEL, "utf8"), {
    fileName: KERNEL,
    readFile: (path) => readFileSync(path, "utf8"),
  });
}

const EXPECTED_CONSOLE = `vmxlab guest kernel: GDT, TSS, IDT, paging, PIC and PIT ready
kernel: 2 user processes at 0x40000000, each in its own address space
--- output of process 1 ---
A: hello from pid 1
A: 1 primes below 1000: 168
A: 2 primes below 2000: 303
A: 3 primes below 3000: 430
A: 4 primes below 4000: 550
A: 5 primes below 5000: 669
A: 6 primes below 6000: 783
A: done after 6 rounds
kernel: process 1 exited with code 6 after 16 system calls
--- output of process 2 ---
B: hello from pid 2
B: 1 collatz steps for 1..100: 3142
B: 2 collatz steps for 101..200: 5276
B: 3 collatz steps for 201..300: 5749
B: 4 collatz steps for 301..400: 5974
B: 5 collatz steps for 401..500: 6002
B: 6 collatz steps for 501..600: 6368
B: 7 collatz steps for 601..700: 6769
B: 8 collatz steps for 701..800: 6716
B: 9 collatz steps for 801..900: 6810
B: 10 collatz steps for 901..1000: 6736
B: 11 collatz steps for 1001..1100: 7333
B: 12 collatz steps for 1101..1200: 7066
B: 13 collatz steps for 1201..1300: 7143
B: 14 collatz steps for 1301..1400: 7935
B: 15 collatz steps for 1401..1500: 6689
B: done after 15 rounds
kernel: process 2 exited with code 15 after 19 system calls
kernel: 2 processes done
`;

/** The numbers the processes print, computed independently. */
function referenceLines(): string[] {
  const isPrime = (n: number) => {
    if (n < 2) return false;
    for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
    return true;
  };
  const collatz = (n: number) => {
    let steps = 0;
    for (let x = n; x !== 1; steps++) x = x % 2 === 0 ? x / 2 : 3 * x + 1;
    return steps;
  };
  const lines: string[] = [];
  let primes = 0;
  for (let r = 1, n = 0; r <= 6; r++) {
    for (; n < r * 1000; n++) if (isPrime(n)) primes++;
    lines.push(`A: ${r} primes below ${r * 1000}: ${primes}`);
  }
  for (let r = 1; r <= 15; r++) {
    let sum = 0;
    for (let n = (r - 1) * 100 + 1; n <= r * 100; n++) sum += collatz(n);
    lines.push(`B: ${r} collatz steps for ${(r - 1) * 100 + 1}..${r * 100}: ${sum}`);
  }
  return lines;
}

interface Event {
  vector: number;
  kind: string;
  cpl: number;
  cr3: number;
}

function boot(image: Uint8Array) {
  const machine = new Machine({ memoryMiB: 32 });
  machine.load(image);
  const events: Event[] = [];
  machine.cpu.hooks.exception = (vector, _errorCode, kind) => {
    // Called before delivery: CPL and CR3 are still those of the interrupted code.
    events.push({ vector, kind, cpl: machine.cpu.cpl, cr3: machine.cpu.cr3 >>> 0 });
  };
  const stop = machine.run({ maxInstructions: 50_000_000 });
  return { machine, events, stop };
}

describe("guest kernel on the bare machine", () => {
  const kernel = assembleKernel();
  const sym = (name: string) => {
    const v = kernel.symbols.get(name);
    if (v === undefined) throw new Error(`no symbol ${name}`);
    return v;
  };
  let machine: Machine;
  let events: Event[];
  let stop: StopReason;
  beforeAll(() => {
    ({ machine, events, stop } = boot(kernel.bytes));
  });
  const stat = (name: string) => machine.memory.read32(sym(name)) >>> 0;
  const PD_1 = sym("PROC_MEM");
  const PD_2 = sym("PROC_MEM") + sym("PROC_MEM_SIZE");

  it("prints the expected text and exits with debug-exit 0", () => {
    expect(stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(machine.consoleText()).toBe(EXPECTED_CONSOLE);
    for (const line of referenceLines()) expect(EXPECTED_CONSOLE).toContain(`${line}\n`);
  });

  it("stays within its instruction budget", () => {
    const n = machine.cpu.instret;
    expect(n).toBeGreaterThan(300_000);
    expect(n).toBeLessThan(3_000_000);
  });

  it("takes timer interrupts in ring 3, in both address spaces", () => {
    const ticks = events.filter((e) => e.vector === 0x20 && e.kind === "external");
    expect(ticks.length).toBe(stat("stat_ticks"));
    expect(ticks.length).toBeGreaterThanOrEqual(10);
    for (const t of ticks) expect(t.cpl).toBe(3); // the kernel never runs with interrupts on
    expect(new Set(ticks.map((t) => t.cr3))).toEqual(new Set([PD_1, PD_2]));
    // Nothing else was delivered: no exception, no stray IRQ.
    expect(events.filter((e) => e.vector !== 0x20 && e.vector !== 0x80)).toEqual([]);
  });

  it("preempts: the processes really interleave, switching CR3", () => {
    // The address space at each kernel entry from ring 3: each change is a context switch the
    // kernel made in between (activate loads CR3).
    const fromUser = events.filter((e) => e.cpl === 3);
    let changes = 0;
    for (let k = 1; k < fromUser.length; k++) if (fromUser[k]!.cr3 !== fromUser[k - 1]!.cr3) changes++;
    expect(changes).toBeGreaterThanOrEqual(10);
    expect(stat("stat_switches")).toBeGreaterThanOrEqual(changes);
    // Preemption, not just yield(): process 2 never yields, yet timer ticks took the CPU from it
    // and the next kernel entry from ring 3 was in process 1.
    let preemptedB = 0;
    for (let k = 0; k + 1 < fromUser.length; k++) {
      const e = fromUser[k]!;
      if (e.vector === 0x20 && e.cr3 === PD_2 && fromUser[k + 1]!.cr3 === PD_1) preemptedB++;
    }
    expect(preemptedB).toBeGreaterThanOrEqual(3);
  });

  it("serves system calls through INT 0x80 and SYSENTER", () => {
    const int80 = events.filter((e) => e.vector === 0x80 && e.kind === "software");
    for (const e of int80) expect(e.cpl).toBe(3);
    // A: 8 writes, 6 yields, exit; B: 17 writes, exit. getpid went through SYSENTER (once each).
    expect(int80.filter((e) => e.cr3 === PD_1).length).toBe(15);
    expect(int80.filter((e) => e.cr3 === PD_2).length).toBe(18);
    expect(stat("stat_syscalls")).toBe(33);
    expect(stat("stat_sysenter")).toBe(2);
  });

  it("gives each process its own copy of the program at the same virtual address", () => {
    // my_pid is at the same user virtual address in both; its physical copies differ.
    const offset = sym("my_pid") - sym("user_image");
    const image = sym("PM_IMAGE");
    expect(machine.memory.read32(PD_1 + image + offset)).toBe(1);
    expect(machine.memory.read32(PD_2 + image + offset)).toBe(2);
    // Both page directories map 0x40000000 to their own page table, and share the kernel's.
    const userPde = (sym("USER_BASE") >>> 22) * 4;
    expect(machine.memory.read32(PD_1 + userPde) & ~0xfff).toBe(PD_1 + sym("PM_PT"));
    expect(machine.memory.read32(PD_2 + userPde) & ~0xfff).toBe(PD_2 + sym("PM_PT"));
    expect(machine.memory.read32(PD_1)).toBe(machine.memory.read32(PD_2));
  });

  it("panics with the vector, error code and address on an exception in ring 3", () => {
    // Patch process B's first instruction (in the image, before spawn copies it) with UD2.
    const image = kernel.bytes.slice();
    const at = sym("prog_b") - 0x100000;
    image[at] = 0x0f;
    image[at + 1] = 0x0b;
    const bad = boot(image);
    expect(bad.stop).toEqual({ kind: "debug-exit", value: 0x100 + 6 });
    const eip = (sym("USER_BASE") + sym("prog_b") - sym("user_image")).toString(16).padStart(8, "0");
    expect(bad.machine.consoleText()).toContain(
      `kernel panic: exception 6, error code 0x00000000 at 0x0000001b:0x${eip}, cr2 0x00000000\n`,
    );
  });

  it.runIf(hasNasm())("assembles to the same bytes with NASM", () => {
    const dir = mkdtempSync(join(tmpdir(), "vmxlab-kernel-"));
    try {
      const out = join(dir, "kernel.bin");
      execFileSync("nasm", ["-f", "bin", "-w+all", "-i", `${EXAMPLES}/`, "-o", out, KERNEL], { stdio: "pipe" });
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(kernel.bytes))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function hasNasm(): boolean {
  try {
    execFileSync("nasm", ["-v"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
