// vmxlab bench: a one-cell run end to end (tables, JSON, HTML), and its usage errors.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "./run-cli.js";

describe("vmxlab bench", () => {
  it("runs the selected cells and writes JSON and HTML", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmxlab-bench-"));
    const r = await cli(
      ["bench", "--quick", "--only", "cpuid,type1-ept", "--only", "recent", "--json", "out.json", "--html", "out.html"],
      dir,
    );
    expect(r.stderr).toBe(""); // no progress: not a terminal
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Modeled cycles per iteration, cost model 'recent'/);
    expect(r.stdout).toMatch(/cpuid\s+40\s+1,040 \(26\.0x\)/);
    const json = JSON.parse(readFileSync(join(dir, "out.json"), "utf8"));
    expect(json.schema).toBe("vmxlab-bench/1");
    expect(json.matrix.cells.map((c: { configuration: string }) => c.configuration)).toEqual(["bare", "type1-ept"]);
    expect(json.emulator).toBeNull();
    expect(existsSync(join(dir, "out.html"))).toBe(true);
    expect(readFileSync(join(dir, "out.html"), "utf8")).toMatch(/<svg/);
  });

  it("rejects an unknown name in --only with a usage error", async () => {
    const r = await cli(["bench", "--only", "nonsense"], tmpdir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'nonsense' is no workload, configuration or profile/);
  });

  it("is listed in --help", async () => {
    const r = await cli(["--help"], tmpdir());
    expect(r.stdout).toMatch(/bench\s+Benchmark VM-exit overheads/);
  });
});
