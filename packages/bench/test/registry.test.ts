// The registry: every module of src/workloads and src/configs joins the matrix; a new workload or
// configuration is one dropped-in file; helpers without a default export are skipped.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfigurations, loadRegistry, loadWorkloads, moduleFiles, selectMatrix } from "../src/index.js";

describe("registry", () => {
  it("loads the workloads and configurations of the package, in order", async () => {
    const { workloads, configurations } = await loadRegistry();
    expect(workloads[0]!.name).toBe("syscall-sysenter");
    expect(configurations.map((c) => c.name)).toEqual([
      "bare",
      "type1-ept",
      "type1-shadow",
      "type1-ept-novpid",
      "type1-shadow-novpid",
      "hosted-ept",
      "hosted-shadow",
      "hosted-ept-load",
      "hosted-shadow-load",
      "hosted-ept-novpid",
    ]);
  });

  it("picks up a dropped-in module file, one or several exports, and skips helpers", async () => {
    // (a fresh folder per case: ES modules are cached by URL)
    const folder = (files: Record<string, string>) => {
      const dir = mkdtempSync(join(tmpdir(), "vmxlab-registry-"));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      return pathToFileURL(`${dir}/`);
    };
    const nop = `export default { name: "nop", kind: "nano", title: "NOP", unit: "one NOP", order: 1,
      iterations: { full: 10, quick: 1 }, program: () => ({ image: new Uint8Array([0xe6, 0xf4]), memoryMiB: 1 }) };`;
    const configs = `const run = () => { throw new Error("unused"); };
      export default [{ name: "mine-a", run, order: 2 }, { name: "mine-b", run, order: 1 }];`;
    const good = folder({ "nop.mjs": nop, "helper.mjs": "export const x = 1;", "types.d.ts": "export {};" });
    expect(moduleFiles(good)).toEqual(["helper.mjs", "nop.mjs"]);
    expect((await loadWorkloads(good)).map((w) => w.name)).toEqual(["nop"]);
    expect((await loadConfigurations(folder({ "mine.mjs": configs }))).map((c) => c.name)).toEqual([
      "mine-a",
      "mine-b",
    ]);
    await expect(loadWorkloads(folder({ "mine.mjs": configs }))).rejects.toThrow(
      /mine\.mjs: the default export is not a workload/,
    );
    const dup = "export default { name: 'dup', run() {}, order: 1 };";
    await expect(loadConfigurations(folder({ "a.mjs": dup, "b.mjs": dup }))).rejects.toThrow(/'dup' is defined twice/);
  });

  it("--only filters each axis by name and always keeps the bare machine", async () => {
    const { workloads, configurations } = await loadRegistry();
    const s = selectMatrix(workloads, configurations, { only: ["cpuid", "hosted-ept", "nehalem"] });
    expect(s.workloads.map((w) => w.name)).toEqual(["cpuid"]);
    expect(s.configurations.map((c) => c.name)).toEqual(["bare", "hosted-ept"]);
    expect(s.profiles).toEqual(["nehalem"]);
    expect(() => selectMatrix(workloads, configurations, { only: ["bogus"] })).toThrow(/'bogus' is no workload/);
  });

  it("--quick runs every profile on the main designs and a subset on the variants", async () => {
    const { workloads, configurations } = await loadRegistry();
    const s = selectMatrix(workloads, configurations, { quick: true });
    const w = (name: string) => workloads.find((x) => x.name === name)!;
    const c = (name: string) => configurations.find((x) => x.name === name)!;
    expect(s.includes(w("mem-sweep"), c("type1-ept"), "nehalem")).toBe(true);
    expect(s.includes(w("mem-sweep"), c("type1-ept-novpid"), "recent")).toBe(false);
    expect(s.includes(w("cpuid"), c("type1-ept-novpid"), "recent")).toBe(true);
    expect(s.includes(w("cpuid"), c("type1-ept-novpid"), "nehalem")).toBe(false);
    expect(s.includes(w("guest-kernel"), c("hosted-ept-load"), "recent")).toBe(true);
    expect(s.includes(w("cpuid"), c("hosted-ept-load"), "recent")).toBe(false);
    const full = selectMatrix(workloads, configurations, {});
    expect(full.includes(w("cpuid"), c("hosted-ept-load"), "nehalem")).toBe(true);
  });
});
