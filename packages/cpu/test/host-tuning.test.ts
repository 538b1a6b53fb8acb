// The V8 settings the CLI and the bench run with: Node takes them as options, and VMXLAB_V8_TUNING=off
// leaves V8's defaults.
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { appliedV8Flags, tuneV8, V8_TUNING_FLAGS, v8TuningFlags } from "../src/index.js";

it("raises V8's two inlining budgets", () => {
  expect(V8_TUNING_FLAGS).toEqual(["--max-inlined-bytecode-size=1000", "--max-inlined-bytecode-size-cumulative=3000"]);
});

it("are options this Node accepts (an unknown V8 option is an error at start)", () => {
  const ok = spawnSync(process.execPath, [...V8_TUNING_FLAGS, "-p", "6 * 7"], { encoding: "utf8" });
  expect(ok.stderr).toBe("");
  expect([ok.status, ok.stdout]).toEqual([0, "42\n"]);
  const bad = spawnSync(process.execPath, ["--max-inlined-bytecode-size-typo=1", "-p", "1"], { encoding: "utf8" });
  expect(bad.status).not.toBe(0);
});

it("VMXLAB_V8_TUNING=off gives none, and tuneV8 applies nothing then", () => {
  expect(v8TuningFlags({})).toBe(V8_TUNING_FLAGS);
  expect(v8TuningFlags({ VMXLAB_V8_TUNING: "on" })).toBe(V8_TUNING_FLAGS);
  expect(v8TuningFlags({ VMXLAB_V8_TUNING: "off" })).toEqual([]);
  expect(tuneV8({ VMXLAB_V8_TUNING: "off" })).toEqual([]);
  expect(appliedV8Flags()).toEqual([]);
});

it("tuneV8 applies them to this process and remembers what it applied (reports say it)", () => {
  expect(tuneV8({})).toBe(V8_TUNING_FLAGS);
  expect(appliedV8Flags()).toBe(V8_TUNING_FLAGS);
});
