// docs/isa.md carries the opcode table as a generated section; this keeps it in step with the table.
// After changing the table, regenerate it with: VMXLAB_UPDATE_DOCS=1 pnpm --filter @vmxlab/cpu test isa-doc
import { readFileSync, writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { renderOpcodeTable } from "../src/isa/doc.js";

const path = new URL("../docs/isa.md", import.meta.url);
const MARK = "## Every instruction form\n\n";

it("docs/isa.md lists exactly the forms of the opcode table", () => {
  const doc = readFileSync(path, "utf8");
  const head = doc.slice(0, doc.indexOf(MARK) + MARK.length);
  const expected = `${head}${renderOpcodeTable()}\n`;
  if (process.env.VMXLAB_UPDATE_DOCS) writeFileSync(path, expected);
  expect(doc).toBe(expected);
});
