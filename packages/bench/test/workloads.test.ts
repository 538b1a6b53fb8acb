import { describe, expect, it } from "vitest";
import { mipsKernels, runKernel } from "../src/index.js";

describe("loop kernels", () => {
  it("run to completion with the expected instruction counts", () => {
    const [reg, ls] = mipsKernels(1000);
    // mov ecx + 4 per iteration + out
    expect(runKernel(reg!.image)).toBe(1 + 4 * 1000 + 1);
    // 3 setup + the page-table fill loop (5 x 2048) + 9 to turn paging on + 5 per iteration + out
    expect(runKernel(ls!.image)).toBe(3 + 5 * 2048 + 9 + 5 * 1000 + 1);
  });
});
