// vmxlab run --on hosted: the type-2 path from the command line.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "./run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "vmxlab-cli-hosted-"));
const HELLO = join(dir, "hello.asm");
writeFileSync(
  HELLO,
  `bits 32
org 0x100000
  xor eax, eax
  cpuid
  mov esi, msg
  mov dx, 0x3f8
.p: mov al, [esi]
  test al, al
  jz .d
  out dx, al
  inc esi
  jmp .p
.d: mov eax, 0x105
  out 0xf4, eax
msg: db "hi", 10, 0
`,
);

describe("vmxlab run --on hosted", () => {
  it("runs the program in a VM of the hosted system with the same guest-visible results as type-1", async () => {
    const t1 = JSON.parse((await cli(["run", HELLO, "--json", "--on", "type1"])).stdout);
    const r = await cli(["run", HELLO, "--json", "--on", "hosted"]);
    expect(r.code).toBe(5);
    const h = JSON.parse(r.stdout);
    for (const field of ["stop", "console", "regs", "instructions"]) expect(h[field]).toEqual(t1[field]);
    expect(h.console).toBe("hi\n");
    // The hosted split: CPUID stayed in the kernel module, the COM1 and debug-exit OUTs went to user space.
    expect(h.userExits).toBe(4);
    expect(h.kernelExits).toBe(h.exits.CPUID + (h.exits.EPT_VIOLATION ?? 0) + (h.exits.EXTERNAL_INTERRUPT ?? 0));
    expect(h.contextSwitches).toBeGreaterThanOrEqual(1);
    expect(h.hostProcesses).toEqual([]);
    expect(h.vms).toHaveLength(1);
    expect(h.vms[0].kernelExits + h.vms[0].userExits).toBe(
      Object.values(h.vms[0].exits as Record<string, number>).reduce((a, b) => a + b, 0),
    );
    // Every cycle by where it was spent: the parts sum to the total, the VMM's user time is there.
    const t = h.time;
    expect(t.guest + t.kvm + t.hostKernel + t.userVmm + t.otherProcesses + t.idle).toBe(t.total);
    expect(t.guest).toBe(h.guestCycles);
    expect(t.userVmm).toBe(h.vms[0].userCycles);
    expect(t.kvm).toBe(h.vms[0].kernelCycles);
    const vm = h.vms[0];
    expect(vm.kernelCycles + vm.userCycles + vm.hostKernelCycles).toBe(vm.hypervisorCycles);
  });

  it("--host-load N starts N host jobs and reports their progress", async () => {
    const h = JSON.parse((await cli(["run", HELLO, "--json", "--on", "hosted", "--host-load", "2"])).stdout);
    expect(h.console).toBe("hi\n");
    expect(h.hostProcesses.map((p: { kind: string }) => p.kind)).toEqual(["cpu", "io"]);
    for (const p of h.hostProcesses) {
      expect(p).toHaveProperty("progress");
      expect(p).toHaveProperty("runtime");
    }
  });

  it("--trace prints every exit with its hops and their modeled cycles; --trace-json writes them", async () => {
    const traceFile = join(dir, "trace.jsonl");
    const r = await cli(["run", HELLO, "--on", "hosted", "--paging", "shadow", "--trace", "--trace-json", traceFile]);
    expect(r.stdout).toBe("hi\n");
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("#"));
    const cpuid = lines.find((l) => l.includes("CPUID(10)"))!;
    expect(cpuid).toMatch(/\| kernel: .* \| exit 450, kernel 150, entry 400 \| latency 1000 cycles$/);
    const out = lines.find((l) => l.includes("OUT port 0x3f8"))!;
    expect(out).toMatch(
      /\| user: .*\| exit \d+, kernel \d+, to-user \d+, device-model \d+, syscall \d+, entry \d+ \| latency \d+ cycles$/,
    );
    const records = readFileSync(traceFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(lines.length);
    const io = records.find((x: { detail: string }) => x.detail.startsWith("OUT port 0x3f8"));
    expect(io.handledIn).toBe("user");
    expect(io.hops.map((h: { name: string }) => h.name)).toEqual([
      "exit",
      "kernel",
      "to-user",
      "device-model",
      "syscall",
      "entry",
    ]);
    expect(r.stderr).toContain("in the kernel");
    expect(r.stderr).toContain("context switches");
  });

  it("--trace-json: one object per exit with the same exit fields as type-1, plus the hosted ones", async () => {
    const traceFile = join(dir, "trace-ept.jsonl");
    const r = await cli(["run", HELLO, "--on", "hosted", "--trace-json", traceFile]);
    expect(r.code).toBe(5);
    const records = readFileSync(traceFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const t1File = join(dir, "trace-type1.jsonl");
    await cli(["run", HELLO, "--on", "type1", "--trace-json", t1File]);
    const t1 = JSON.parse(readFileSync(t1File, "utf8").split("\n")[0]!);
    for (const x of records) {
      // Every type-1 field, in the same order, then where it was handled and its hops.
      expect(Object.keys(x)).toEqual([
        ...Object.keys(t1).filter((k) => k !== "cycles"),
        "handledIn",
        "hops",
        "latency",
        "waited",
        "blocked",
        "cycles",
      ]);
      expect(x.cycles).toEqual({ total: x.latency });
    }
    expect(records.map((x: { seq: number }) => x.seq)).toEqual(records.map((_: unknown, i: number) => i + 1));
    const cpuid = records.find((x: { name: string }) => x.name === "CPUID");
    expect(cpuid).toMatchObject({ vm: "hello", reason: 10, instructionLength: 2, guestEip: 0x100002 });
    expect(cpuid).toMatchObject({ instruction: "cpuid", handledIn: "kernel", action: "resume" });
    expect(cpuid.handler).toBe("virtual CPUID leaf 0x0");
    const fetch = records.find((x: { name: string }) => x.name === "EPT_VIOLATION");
    expect(fetch.guestPhysicalAddress).toBe(0x100000);
    const out = records.find((x: { detail: string }) => x.detail.startsWith("OUT port 0x3f8"));
    expect(out).toMatchObject({ reason: 30, qualification: 0x3f80000, handledIn: "user", instructionLength: 1 });
    expect(out.instruction).toMatch(/^out +dx,al$/);
  });

  it("several VMs with --vm, each in its own VMM process", async () => {
    const r = await cli(["run", "--on", "hosted", "--vm", HELLO, "--vm", HELLO, "--json"]);
    const h = JSON.parse(r.stdout);
    expect(h.vms.map((v: { name: string }) => v.name)).toEqual(["hello", "hello-2"]);
    expect(new Set(h.vms.map((v: { pid: number }) => v.pid)).size).toBe(2);
    for (const vm of h.vms) expect(vm.console).toBe("hi\n");
  });

  it("--host-load needs --on hosted", async () => {
    const r = await cli(["run", HELLO, "--on", "type1", "--host-load", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--host-load needs --on hosted");
  });
});
