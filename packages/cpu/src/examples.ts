// Where the package's example programs live, for the CLI demo, the benchmarks and tests.
import { fileURLToPath } from "node:url";

/** Absolute path of a file under packages/cpu/examples (works from src/ and from dist/). */
export function examplePath(relative: string): string {
  return fileURLToPath(new URL(`../examples/${relative}`, import.meta.url));
}
