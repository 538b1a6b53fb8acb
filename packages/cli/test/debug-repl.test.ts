// The interactive debugger: the REPL driven through a piped stdin (in-process, and the built binary
// when it has been built), the prompt, history and completion, colour only on a terminal.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runRepl } from "../src/debug/repl.js";
import { cli, KERNEL, openSession, ROOT } from "./debug-helpers.js";

function piped(lines: string[]): PassThrough {
  const input = new PassThrough();
  input.end(lines.map((l) => `${l}\n`).join(""));
  return input;
}

describe("the REPL on a piped stdin", () => {
  it("shows the prompt, runs commands, reports errors and quits", async () => {
    const r = await cli(
      ["debug", KERNEL, "--on", "type1", "--mem", "4"],
      piped(["regs eip", "step", "bogus", "quit", "regs"]),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("vmxlab debug: packages/vmm/examples/guest-kernel.asm\n");
    // Input that is not a terminal is echoed after the prompt, like a transcript.
    expect(r.stdout).toContain("[type1 vm0 root 0x00100000]> regs eip\neip 0x00100000 (1048576)\n");
    expect(r.stdout).toContain("[type1 vm0 root 0x00100000]> step\n=> 0x00100001 <start+0x1>:  mov esp,0x180000\n");
    expect(r.stdout).toContain("[type1 vm0 non-root 0x00100001]> bogus\nunknown command 'bogus'");
    expect(r.stdout.trimEnd().endsWith("]> quit")).toBe(true);
    expect(r.stdout).not.toContain("\u001b[");
  });

  it("ends at the end of its input without quit", async () => {
    const r = await cli(["debug", KERNEL, "--mem", "4"], piped(["step 2"]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("[bare 0x00100000]> step 2\n");
    expect(r.stdout.endsWith("[bare 0x00100006]> \n")).toBe(true);
  });

  it("uses colour on a terminal, never with NO_COLOR", async () => {
    const script = ["step 3", "regs"];
    const colored = await cli(["debug", KERNEL, "--mem", "4"], piped(script), { isTTY: true });
    expect(colored.stdout).toContain("\u001b[33m0x00180000\u001b[39m");
    const plain = await cli(["debug", KERNEL, "--mem", "4"], piped(script), { isTTY: true, env: { NO_COLOR: "1" } });
    expect(plain.stdout).not.toContain("\u001b[");
    expect(plain.stdout).toContain("esp 0x00180000*");
  });
});

describe("line editing", () => {
  it("keeps a history (up arrow) and repeats step on an empty line", async () => {
    const session = openSession({ on: "bare", memoryMiB: 4 });
    const input = new PassThrough();
    let text = "";
    const output = new Writable({
      write(chunk, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const done = runRepl(session, { input, output, terminal: true });
    const send = async (keys: string) => {
      input.write(keys);
      await new Promise((resolve) => setTimeout(resolve, 30));
    };
    await send("step\r");
    await send("\r"); // an empty line repeats step
    await send("regs eip\r");
    await send("\u001b[A\r"); // up arrow: regs eip again
    await send("quit\r");
    await done;
    expect(session.position).toBe(2);
    expect(text.match(/eip 0x00100006 \(1048582\)/g)?.length).toBe(2);
  });

  it("completes commands, exit reasons, VMCS groups and symbols", () => {
    const s = openSession({ on: "type1", memoryMiB: 4 });
    expect(s.complete("bre")).toEqual([["break"], "bre"]);
    expect(s.complete("break exit CP")).toEqual([["CPUID"], "CP"]);
    expect(s.complete("vmcs g")).toEqual([["guest"], "g"]);
    expect(s.complete("disasm paging_i")[0]).toContain("paging_init");
    expect(s.complete("mem gpa:$es")[0]).toEqual(["gpa:$esi", "gpa:$esp", "gpa:$es"]);
    expect(s.complete("regs ei")).toEqual([["eip"], "ei"]);
  });
});

const BIN = join(ROOT, "packages/cli/dist/bin.js");
describe.skipIf(!existsSync(join(ROOT, "packages/cli/dist/debug/session.js")))("the built binary", () => {
  it("runs the REPL with a piped stdin", () => {
    const r = spawnSync(process.execPath, [BIN, "debug", KERNEL, "--on", "type1", "--paging", "shadow", "--mem", "4"], {
      cwd: ROOT,
      input: "until-exit\nregs cr3\nquit\n",
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("[type1 vm0 root 0x00100000]> until-exit\nVM exit #1: CPUID (10)");
    expect(r.stdout).toContain("]> regs cr3\ncr3 0x00000000 (0)\n");
    expect(r.stdout.trimEnd().endsWith("]> quit")).toBe(true);
  });
});
