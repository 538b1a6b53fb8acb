// Runs the reference assemblers (NASM, GNU as) for the assembler's cross-check tests.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

function have(tool: string): boolean {
  const r = spawnSync(tool, ["--version"], { encoding: "utf8" });
  return r.status === 0 || (r.stdout ?? "").length > 0;
}

/** Throws a helpful error when NASM is missing (the cross-check must not silently pass). */
export function requireNasm(): void {
  if (!have("nasm")) {
    throw new Error("nasm is not installed: the assembler cross-check needs it (apt-get install nasm)");
  }
}

export function requireGnuAs(): void {
  if (!have("as") || !have("objcopy")) {
    throw new Error("GNU as/objcopy are not installed: the cross-check needs them (apt-get install binutils)");
  }
}

export interface NasmResult {
  bytes: Uint8Array | undefined;
  /** Error lines "line: message". */
  errors: { line: number; message: string }[];
  stderr: string;
  /** NASM's listing (-l), when asked for. */
  listing?: string;
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "vmxlab-asm-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Assembles with `nasm -f bin`; warnings are ignored, errors parsed. */
export function runNasm(source: string, withListing = false, files: Record<string, string> = {}): NasmResult {
  return withTempDir((dir) => {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const input = join(dir, "in.asm");
    const output = join(dir, "out.bin");
    writeFileSync(input, source);
    const list = join(dir, "out.lst");
    const args = ["-f", "bin", "-w-all", "-o", output, input];
    if (withListing) args.push("-l", list);
    const r = spawnSync("nasm", args, { encoding: "utf8", cwd: dir });
    const errors: { line: number; message: string }[] = [];
    for (const l of (r.stderr ?? "").split("\n")) {
      const m = /^.*?:(\d+): error: (.*)$/.exec(l);
      if (m) errors.push({ line: Number(m[1]), message: m[2]! });
    }
    let bytes: Uint8Array | undefined;
    if (r.status === 0) bytes = new Uint8Array(readFileSync(output));
    const result: NasmResult = { bytes, errors, stderr: r.stderr ?? "" };
    if (withListing && r.status === 0) result.listing = readFileSync(list, "utf8");
    return result;
  });
}

/** Assembles Intel-syntax source with GNU as (--32) and returns the .text bytes. */
export function runGnuAs(source: string): Uint8Array {
  return withTempDir((dir) => {
    const input = join(dir, "in.s");
    const obj = join(dir, "out.o");
    const bin = join(dir, "out.bin");
    writeFileSync(input, `.intel_syntax noprefix\n.code32\n.text\n${source}\n`);
    execFileSync("as", ["--32", "-o", obj, input], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    execFileSync("objcopy", ["-O", "binary", "--only-section=.text", obj, bin]);
    return new Uint8Array(readFileSync(bin));
  });
}

export function hexBytes(b: Uint8Array | readonly number[]): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
