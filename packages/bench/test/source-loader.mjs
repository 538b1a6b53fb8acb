// Node module hooks that let a plain `node` process run the bench's TypeScript sources (the exit-rate
// child in tests, without a build): workspace packages resolve to their sources ("vmxlab-source", as in
// vitest), a "./x.js" import from a .ts file finds "./x.ts", and .ts files are transpiled one by one by
// TypeScript (the project compiles with isolatedModules, so per-file output is what tsc emits).
import { readFile } from "node:fs/promises";
import ts from "typescript";

export async function resolve(specifier, context, next) {
  const sourceContext = { ...context, conditions: [...context.conditions, "vmxlab-source"] };
  try {
    return await next(specifier, sourceContext);
  } catch (error) {
    if (!specifier.endsWith(".js") || !context.parentURL?.endsWith(".ts")) throw error;
    return next(`${specifier.slice(0, -3)}.ts`, sourceContext);
  }
}

export async function load(url, context, next) {
  if (!url.startsWith("file:") || !url.endsWith(".ts")) return next(url, context);
  const source = await readFile(new URL(url), "utf8");
  const out = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      inlineSourceMap: true,
    },
  });
  return { format: "module", source: out.outputText, shortCircuit: true };
}
