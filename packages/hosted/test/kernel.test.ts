// The host OS is real on the emulated CPU: processes run in ring 3 in their own address spaces,
// privilege is enforced by the CPU (the I/O bitmap, privileged instructions), system calls and the
// timer interrupt go through the IDT, and a context switch loads CR3 (flushing the TLB).
import { assembleOrThrow } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { HostedSystem, hostedLayout as L } from "../src/index.js";
import { assembleUser } from "../src/programs.js";

// A guest that never stops on its own: the runs below end at a cycle limit.
const GUEST = assembleOrThrow(`
bits 32
org 0x100000
.l:
  times 20 add eax, 1
  out 0xe9, al
  jmp .l
`).bytes;
const CYCLES = 30_000_000;

const user = (body: string) =>
  assembleUser(
    `bits 32\norg 0x${L.USER_BASE.toString(16)}\nstart:\n${body}\nalign 4\nprogress: dd 0\nscratch: dd 0\n`,
    "test.asm",
  );

function system() {
  return new HostedSystem([{ name: "vm", memoryMiB: 4, image: GUEST }], {
    hostJobs: ["cpu"],
    tickHz: 8000,
    scheduler: { latencyCycles: 1_500_000, minGranularityCycles: 300_000 },
  });
}

describe("the host kernel on the emulated CPU", () => {
  it("kills a ring-3 process that executes a privileged instruction (#GP from the CPU), and nothing else", () => {
    const s = system();
    const p = s.kernel.spawn("cli-er", "cpu", user("    mov eax, 1\n    cli\n    jmp start"));
    s.run({ maxCycles: CYCLES });
    expect(p.state).toBe("dead");
    expect(p.killedBy).toMatch(/^#GP\(0x0\) at 0x4000000[0-9a-f]/);
    expect(s.vms[0]!.stop).toEqual({ kind: "limit" });
    expect(s.vms[0]!.stats.guestInstructions).toBeGreaterThan(10_000);
    expect(s.hostProgress()[0]!.progress).toBeGreaterThan(0);
  });

  it("grants the VMM library port to VMM processes only, and the kernel upcall port to nobody in ring 3", () => {
    const s = system();
    const lib = s.kernel.spawn(
      "port-e4",
      "cpu",
      user(`    mov eax, 2\n    out 0x${L.VMM_LIB_PORT.toString(16)}, eax\n    jmp start`),
    );
    const upcall = s.kernel.spawn(
      "port-e0",
      "cpu",
      user(`    out 0x${L.KERNEL_UPCALL_PORT.toString(16)}, al\n    jmp start`),
    );
    s.run({ maxCycles: CYCLES });
    expect(lib.killedBy).toMatch(/^#GP/);
    expect(upcall.killedBy).toMatch(/^#GP/);
    // The VMM process used the same port all along (its device models ran).
    expect(s.vms[0]!.user.calls.get(1)).toBe(1);
    expect(s.vms[0]!.user.calls.get(2)).toBeGreaterThan(1000);
    expect(s.vms[0]!.consoleBytes.length).toBe(s.vms[0]!.user.calls.get(2));
  });

  it("gives every process its own address space; a switch loads CR3 and flushes the TLB", () => {
    const s = system();
    const k = s.kernel;
    const a = k.spawn(
      "a",
      "cpu",
      user("    mov eax, 3\n    int 0x80\n    mov [scratch], eax\n    inc dword [progress]\n    jmp start"),
    );
    const b = k.spawn(
      "b",
      "cpu",
      user("    mov eax, 3\n    int 0x80\n    mov [scratch], eax\n    inc dword [progress]\n    jmp start"),
    );
    const flushesBefore = k.cpu.tlb.stats.flushes;
    let cr3Changes = 0;
    let last = k.cpu.cr3;
    const switchIn = k.hooks.switchIn!;
    k.hooks.switchIn = (p) => {
      if (k.cpu.cr3 !== last) cr3Changes++;
      last = k.cpu.cr3;
      expect(k.cpu.cr3 >>> 0).toBe(p.pd >>> 0);
      switchIn(p);
    };
    s.run({ maxCycles: CYCLES });
    // Same virtual address, different physical pages; each process read its own pid (GETPID).
    expect(k.userToPhys(a, L.USER_BASE)).not.toBe(k.userToPhys(b, L.USER_BASE));
    expect(k.readSymbol32(a, "scratch")).toBe(a.pid);
    expect(k.readSymbol32(b, "scratch")).toBe(b.pid);
    expect(k.readSymbol32(a, "progress")).toBeGreaterThan(0);
    expect(k.readSymbol32(b, "progress")).toBeGreaterThan(0);
    expect(cr3Changes).toBeGreaterThan(3);
    expect(k.cpu.tlb.stats.flushes - flushesBefore).toBeGreaterThanOrEqual(cr3Changes);
    // The kernel's own mapping is in every address space, as global supervisor pages.
    expect(k.userToPhys(a, 0x10000)).toBe(-1);
  });

  it("system calls block and wake: a sleeping process runs once per sleep period", () => {
    const s = system();
    const sleeper = s.kernel.spawn(
      "sleeper",
      "io",
      user(`    mov eax, ${L.SYS.SLEEP}\n    mov ebx, 1000000\n    int 0x80\n    inc dword [progress]\n    jmp start`),
    );
    s.run({ maxCycles: 20_000_000 });
    expect(sleeper.state).not.toBe("dead");
    const n = s.kernel.readSymbol32(sleeper, "progress");
    expect(n).toBeGreaterThanOrEqual(Math.floor(s.cycles / 1_100_000) - 2);
    expect(n).toBeLessThanOrEqual(Math.ceil(s.cycles / 1_000_000));
  });
});
