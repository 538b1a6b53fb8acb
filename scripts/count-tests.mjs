#!/usr/bin/env node
// Sums the vitest JSON reports (packages/*/test-results/vitest.json) into "N passed, N failed".
// Exits 1 if any test failed or a package that has tests wrote no report.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
let passed = 0;
let failed = 0;
let missing = 0;
for (const pkg of readdirSync(join(root, "packages"))) {
  const report = join(root, "packages", pkg, "test-results", "vitest.json");
  if (!existsSync(report)) {
    missing++;
    console.error(`count-tests: no test report for packages/${pkg}`);
    continue;
  }
  const data = JSON.parse(readFileSync(report, "utf8"));
  passed += data.numPassedTests ?? 0;
  // Failed tests; a suite that failed without running its tests (an import error) counts as one.
  failed += data.numFailedTests || data.numFailedTestSuites || 0;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || missing > 0 ? 1 : 0);
