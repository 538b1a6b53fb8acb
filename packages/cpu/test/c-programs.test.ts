// gcc-compiled C programs (examples/c, built with gcc -m32 -march=i386 -ffreestanding -nostdlib
// -fno-pic at -O0 and -O2) run on the bare machine and print exactly what the same sources print
// when compiled for the host.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { examplePath, Machine } from "../src/index.js";

const buildDir = examplePath("c/build");
const elfs = readdirSync(buildDir).filter((f) => f.endsWith(".elf"));

describe("C programs on the bare machine", () => {
  it("has programs to run", () => {
    expect(elfs.length).toBeGreaterThanOrEqual(8);
  });
  for (const file of elfs) {
    const name = file.replace(/-O\d\.elf$/, "");
    it(`${file} prints the expected output and exits 0`, () => {
      const expected = readFileSync(examplePath(`c/expected/${name}.txt`), "latin1");
      const m = new Machine({ memoryMiB: 16 });
      m.load(new Uint8Array(readFileSync(`${buildDir}/${file}`)), { name: file });
      const stop = m.run({ maxInstructions: 400_000_000 });
      expect(m.consoleText()).toBe(expected);
      expect(stop).toEqual({ kind: "debug-exit", value: 0 });
    });
  }
});
