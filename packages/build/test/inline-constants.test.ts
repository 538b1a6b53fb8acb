import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildProject } from "../src/build.mjs";

const BUILD = fileURLToPath(new URL("../src/build.mjs", import.meta.url));
const dirs: string[] = [];

/** A project in a fresh directory: its files, and a tsconfig.build.json emitting src/ to dist/. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "vmxlab-build-"));
  dirs.push(dir);
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(dir, "tsconfig.build.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        rootDir: "src",
        outDir: "dist",
        declaration: true,
        types: [],
      },
      include: ["src"],
    }),
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "src", name), text);
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CONSTS = `
export const EAX = 0;
export const ESP = 4;
export const IF = 1 << 9;
export const NOT_IF = ~IF;
export const BELOW = -3;
export const FOUR_GIB = 2 ** 32;
export const HALF = 0.5;
export let counter = 7;
export const TABLE = { CPUID: 10, IO: 30 } as const;
export const PLAIN = { CPUID: 10 };
export const FROM_CALL = Math.max(1, 2);
`;

const USE = `
import { BELOW, counter, EAX, ESP, FOUR_GIB, FROM_CALL, HALF, IF, NOT_IF, PLAIN, TABLE } from "./consts.js";
import * as regs from "./consts.js";

const LOCAL = ESP + 1;

export function values(r: Int32Array): unknown[] {
  r[ESP] = 99;
  const shorthand = { ESP };
  const keyed = { [IF]: "if" };
  let which = "";
  switch (r[ESP]) {
    case ESP:
      which = "esp";
      break;
    default:
      which = "other";
  }
  return [r[ESP], r[EAX], IF, NOT_IF, BELOW, 10 - BELOW, FOUR_GIB, HALF, counter, TABLE.IO, PLAIN.CPUID,
    FROM_CALL, regs.ESP, LOCAL, shorthand, keyed, which, \`\${ESP}\`, typeof ESP, shadowed(5)];
}

function shadowed(ESP: number): number {
  return ESP * 2;
}
`;

describe("vmxlab-build inlines numeric constants", () => {
  const dir = project({ "consts.ts": CONSTS, "use.ts": USE });
  const errors = buildProject(join(dir, "tsconfig.build.json"));
  const js = readFileSync(join(dir, "dist", "use.js"), "utf8");

  it("builds without diagnostics and emits declarations", () => {
    expect(errors).toBe("");
    expect(readFileSync(join(dir, "dist", "consts.d.ts"), "utf8")).toContain("export declare const ESP = 4;");
  });

  it("emits imported and local constants as numbers, the name in a comment", () => {
    expect(js).toContain("r[4 /* ESP */] = 99;");
    expect(js).toContain("r[0 /* EAX */]");
    expect(js).toContain("512 /* IF */");
    expect(js).toContain("(-513) /* NOT_IF */");
    expect(js).toContain("10 - (-3) /* BELOW */");
    expect(js).toContain("4294967296 /* FOUR_GIB */");
    expect(js).toContain("0.5 /* HALF */");
    expect(js).toContain("30 /* TABLE.IO */");
    expect(js).toContain("4 /* regs.ESP */");
    expect(js).toContain("const LOCAL = 4 /* ESP */ + 1;");
    expect(js).toContain("case 4 /* ESP */:");
  });

  it("leaves what is not a compile-time constant, and names that are not reads", () => {
    expect(js).toMatch(/\bcounter\b, 30/); // a `let`
    expect(js).toContain("PLAIN.CPUID"); // an object without `as const` can change
    expect(js).toContain("FROM_CALL"); // computed at run time
    expect(js).toContain("{ ESP }"); // shorthand property: its key is the name
    expect(js).toContain("return ESP * 2;"); // a parameter that shadows the import
    expect(js).toMatch(/import \{[^}]*\bESP\b[^}]*\} from "\.\/consts\.js";/);
    expect(js).toContain("[512 /* IF */]: ");
  });

  it("computes exactly what the unchanged program computes", async () => {
    const { values } = await import(pathToFileURL(join(dir, "dist", "use.js")).href);
    expect(values(new Int32Array(8))).toEqual([
      99,
      0,
      512,
      -513,
      -3,
      13,
      4294967296,
      0.5,
      7,
      30,
      10,
      2,
      4,
      5,
      { ESP: 4 },
      { 512: "if" },
      "other",
      "4",
      "number",
      10,
    ]);
  });
});

describe("constants of another package, through its declaration files", () => {
  const dir = project({
    "use.ts": `import { LIMIT, TYPED, WORDS } from "../lib/lib.js";\nexport const values = [LIMIT, TYPED, WORDS.IO];\n`,
  });
  mkdirSync(join(dir, "lib"));
  writeFileSync(
    join(dir, "lib", "lib.js"),
    "export const LIMIT = 8;\nexport const TYPED = 9;\nexport const WORDS = { IO: 30 };\n",
  );
  // What tsc writes for `export const LIMIT = 8` and `{ IO: 30 } as const`, and a hand-written type-only claim.
  writeFileSync(
    join(dir, "lib", "lib.d.ts"),
    "export declare const LIMIT = 8;\nexport declare const TYPED: 9;\nexport declare const WORDS: { readonly IO: 30 };\n",
  );
  const errors = buildProject(join(dir, "tsconfig.build.json"));
  const js = readFileSync(join(dir, "dist", "use.js"), "utf8");

  it("takes a value from a declaration's initializer and from an as-const object's readonly type", async () => {
    expect(errors).toBe("");
    expect(js).toContain("[8 /* LIMIT */, TYPED, 30 /* WORDS.IO */]");
    const { values } = await import(pathToFileURL(join(dir, "dist", "use.js")).href);
    expect(values).toEqual([8, 9, 30]);
  });
});

describe("the vmxlab-build command", () => {
  const run = (cwd: string, ...args: string[]) =>
    spawnSync(process.execPath, [BUILD, ...args], { cwd, encoding: "utf8" });

  it("reports a type error with its file and line, and exits 1", () => {
    const dir = project({ "bad.ts": "export const x: number = 'text';\n" });
    const r = run(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("bad.ts");
    expect(r.stderr).toContain("Type 'string' is not assignable to type 'number'");
  });

  it("names a missing tsconfig and an unknown argument, and exits 2", () => {
    const dir = project({});
    const missing = run(dir, "-p", "nope.json");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`vmxlab-build: no nope.json in ${dir}`);
    const unknown = run(dir, "--watch");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("vmxlab-build: unknown argument '--watch'");
    expect(unknown.stderr).toContain("usage: vmxlab-build [-p tsconfig.build.json]");
  });

  it("builds a project that has no errors, and exits 0", () => {
    const dir = project({ "ok.ts": "export const ONE = 1;\nexport const two = ONE + ONE;\n" });
    const r = run(dir);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(readFileSync(join(dir, "dist", "ok.js"), "utf8")).toContain("export const two = 1 /* ONE */ + 1 /* ONE */;");
  });
});
