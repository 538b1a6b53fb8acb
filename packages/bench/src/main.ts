#!/usr/bin/env node
// `pnpm bench`: runs the benchmarks and prints a table.
import { cpus } from "node:os";
import { measureMips, mipsKernels } from "./mips.js";

const quick = process.argv.includes("--quick");
const results = measureMips(mipsKernels(quick ? 500_000 : 5_000_000), quick ? 0.3 : 2);
const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`emulator speed on ${cpu} (${cpus().length} cores), Node ${process.version}`);
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(28)} ${r.mips.toFixed(1).padStart(7)} MIPS  (±${r.rme.toFixed(1)}%, ${r.samples} samples)`,
  );
}
