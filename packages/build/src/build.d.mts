import type ts from "typescript";

/** The transformer factory for `program`: reads of numeric constants become number literals. */
export function inlineConstants(program: ts.Program): ts.TransformerFactory<ts.SourceFile>;

/** Compiles a tsconfig's project with inlineConstants; returns tsc's diagnostics formatted ("" if none). */
export function buildProject(configPath: string): string;
