import { readFileSync } from "node:fs";
import { assemble } from "@vmxlab/cpu";
import { test } from "vitest";
test("scratch", () => {
  const f = process.env.ASM!;
  const r = assemble(readFileSync(f, "utf8"), { fileName: f, readFile: (p) => readFileSync(p, "utf8") });
  console.log(JSON.stringify(r.errors), r.bytes && Buffer.from(r.bytes).toString("hex"));
});
