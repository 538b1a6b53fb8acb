import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "./run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "vmxlab-cli-"));
const HELLO = join(dir, "hello.asm");
writeFileSync(
  HELLO,
  `bits 32
org 0x100000
  mov esi, msg
.p: mov al, [esi]
  test al, al
  jz .d
  out 0xe9, al
  inc esi
  jmp .p
.d: mov eax, 0x105
  out 0xf4, eax
msg: db "hi", 10, 0
`,
);

describe("vmxlab front door", () => {
  it("--help lists every command, and each command's --help lists its options", async () => {
    const top = await cli(["--help"]);
    expect(top.code).toBe(0);
    for (const c of ["run", "asm", "disasm", "demo"]) expect(top.stdout).toContain(`  ${c}`);
    const run = await cli(["run", "--help"]);
    for (const o of [
      "--on",
      "--paging",
      "--vm",
      "--load",
      "--entry",
      "--mem",
      "--max-instructions",
      "--json",
      "--trace",
    ]) {
      expect(run.stdout).toContain(o);
    }
  });

  it("bad arguments: one line plus usage on stderr, status 2", async () => {
    const r = await cli(["run", HELLO, "--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "vmxlab run: unknown option '--frobnicate'\nusage: vmxlab run [FILE] [options] (see vmxlab run --help)\n",
    );
    expect((await cli(["nonsense"])).code).toBe(2);
    expect((await cli(["run", HELLO, "--mem", "lots"])).stderr).toContain(
      "--mem expects a non-negative integer, got 'lots'",
    );
    expect((await cli(["run", HELLO, "--on", "cloud"])).stderr).toContain("--on must be one of bare, type1");
  });

  it("a missing file is a one-line error, status 1", async () => {
    const r = await cli(["run", join(dir, "missing.bin")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`vmxlab run: cannot read '${join(dir, "missing.bin")}': no such file\n`);
  });
});

describe("vmxlab run", () => {
  it("--json on the bare machine gives exactly the contract's object", async () => {
    const r = await cli(["run", HELLO, "--json"]);
    expect(r.code).toBe(5);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(["stop", "console", "regs", "instructions", "cycles"]);
    expect(out.stop).toEqual({ kind: "debug-exit", value: 0x105 });
    expect(out.console).toBe("hi\n");
    expect(Object.keys(out.regs).sort()).toEqual(
      ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags", "cr0", "cr2", "cr3", "cr4"].sort(),
    );
    expect(out.regs.eax).toBe(0x105);
    expect(out.regs.cr0).toBe(0x11);
    // mov esi; 3 printed characters x 6; the terminating NUL's mov/test/jz; mov eax; out
    expect(out.instructions).toBe(1 + 3 * 6 + 3 + 2);
  });

  it("streams the console without --json and exits with the debug-exit value", async () => {
    const r = await cli(["run", HELLO]);
    expect(r.stdout).toBe("hi\n");
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^vmxlab: debug-exit 261 \(0x105\); 24 instructions, \d+ cycles\n$/);
  });

  it("--on type1 gives the bare machine's guest-visible fields plus exits by Intel name", async () => {
    const bare = JSON.parse((await cli(["run", HELLO, "--json"])).stdout);
    const vm = JSON.parse((await cli(["run", HELLO, "--json", "--on", "type1"])).stdout);
    expect(vm.stop).toEqual(bare.stop);
    expect(vm.console).toBe(bare.console);
    expect(vm.regs).toEqual(bare.regs);
    expect(vm.instructions).toBe(bare.instructions);
    expect(vm.exits).toEqual({ IO_INSTRUCTION: 4 });
    expect(vm.guestCycles).toBeGreaterThan(0);
    expect(vm.hypervisorCycles).toBeGreaterThan(vm.guestCycles);
    expect(vm.vms).toHaveLength(1);
  });

  it("--trace prints one line per exit; --trace-json writes one object per exit", async () => {
    const traceFile = join(dir, "trace.jsonl");
    const r = await cli(["run", HELLO, "--on", "type1", "--trace", "--trace-json", traceFile]);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("#"));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /^#1 hello IO_INSTRUCTION\(30\) OUT port 0xe9 size 1 \| eip 0x0010000b out +0xe9,al \| OUT port 0xe9 size 1 value 0x68 \| \d+ cycles$/,
    );
    const objects = readFileSync(traceFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(objects).toHaveLength(4);
    expect(objects[3]).toMatchObject({ seq: 4, vm: "hello", reason: 30, name: "IO_INSTRUCTION", guestEip: 0x100015 });
  });

  it("several VMs: console lines prefixed by VM name", async () => {
    const r = await cli(["run", "--on", "type1", "--vm", HELLO, "--vm", HELLO]);
    expect(r.stdout.split("\n").sort()).toEqual(["", "[hello-2] hi", "[hello] hi"]);
  });
});

describe("vmxlab asm / disasm", () => {
  it("assembles, writes a listing, and disassembles back", async () => {
    const out = join(dir, "hello.bin");
    const lst = join(dir, "hello.lst");
    const a = await cli(["asm", HELLO, "-o", out, "--listing", lst]);
    expect(a.code).toBe(0);
    expect(readFileSync(out).length).toBe(27);
    expect(readFileSync(lst, "utf8")).toContain("mov esi, msg");
    const d = await cli(["disasm", out]);
    expect(d.stdout).toContain("out    0xe9,al");
  });

  it("reports every assembly error with file:line:col and the source line", async () => {
    const bad = join(dir, "bad.asm");
    writeFileSync(bad, "bits 32\n  mov eax, ebx, ecx\n  frob eax\n");
    const r = await cli(["asm", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2:`);
    expect(r.stderr).toContain(`${bad}:3:3: `);
    expect(r.stderr).toContain("  frob eax\n  ^");
    expect(r.stderr).toContain("vmxlab asm: 2 errors in");
  });
});
