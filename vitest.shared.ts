// Shared vitest settings: every package resolves its workspace dependencies to their TypeScript sources
// (the "vmxlab-source" export condition), so tests never need a build, and writes a JSON report that
// .ci/run sums into its "N passed, N failed" line.
import { defineConfig } from "vitest/config";

export function packageTestConfig() {
  return defineConfig({
    resolve: { conditions: ["vmxlab-source"] },
    ssr: { resolve: { conditions: ["vmxlab-source"], externalConditions: ["vmxlab-source"] } },
    test: {
      include: ["src/**/*.test.ts", "test/**/*.test.ts"],
      reporters: ["default", "json"],
      outputFile: { json: "./test-results/vitest.json" },
      testTimeout: 60_000,
    },
  });
}
