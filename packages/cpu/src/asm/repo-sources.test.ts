// Every .asm source in the repository assembles to the same bytes here as with NASM.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { hexBytes, requireNasm, runNasm } from "../../test/asm-fixtures/reference.js";
import { formatAsmErrors } from "./errors.js";
import { assemble } from "./index.js";

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function findAsm(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findAsm(path, out);
    else if (name.endsWith(".asm")) out.push(path);
  }
  return out;
}

const sources = [...findAsm(join(PACKAGE, "test")), ...findAsm(join(PACKAGE, "examples"))].sort();

describe("repository sources match NASM", () => {
  test("there are sources to check", () => {
    expect(sources.length).toBeGreaterThan(0);
  });

  test.each(sources.map((s) => relative(PACKAGE, s)))("%s", (rel) => {
    requireNasm();
    const path = join(PACKAGE, rel);
    const dir = dirname(path);
    const text = readFileSync(path, "utf8");
    // NASM resolves %include against its working directory: give it the file's directory.
    const files: Record<string, string> = {};
    for (const name of readdirSync(dir))
      if (/\.(inc|asm)$/.test(name)) files[name] = readFileSync(join(dir, name), "utf8");
    const nasm = runNasm(text, false, files);
    const ours = assemble(text, { fileName: path, readFile: (p) => readFileSync(p, "utf8") });
    expect(formatAsmErrors(ours.errors)).toBe("");
    expect(nasm.bytes, nasm.stderr).toBeDefined();
    expect(hexBytes(ours.bytes)).toBe(hexBytes(nasm.bytes!));
  });
});
