#!/usr/bin/env node
// vmxlab-build: builds the package in the current directory as `tsc -p tsconfig.build.json` does, with
// one transform: a read of a numeric constant (a `const` whose value is known when compiling, in this
// package or imported from another) is emitted as the number itself, its name kept in a comment.
//
// Why: V8 reads every module-level binding at run time, an imported one through a chain of dependent
// loads and a check that it is initialized. In the interpreter's handlers, the burst loop and the exit
// paths, those reads were about a tenth of the host instructions of a hosted OUT round trip (see README).
// The emitted files are otherwise tsc's own: the same JavaScript, source maps and declarations.
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import ts from "typescript";

/** The transformer factory for `program`: numeric constants become literals. */
export function inlineConstants(program) {
  const checker = program.getTypeChecker();
  const cache = new Map();

  /** The number a constant expression evaluates to, or undefined. */
  function evaluate(expr, depth) {
    if (depth > 16) return undefined;
    if (ts.isNumericLiteral(expr)) return Number(expr.text);
    if (ts.isParenthesizedExpression(expr) || ts.isAsExpression(expr) || ts.isSatisfiesExpression(expr))
      return evaluate(expr.expression, depth + 1);
    if (ts.isPrefixUnaryExpression(expr)) {
      const v = evaluate(expr.operand, depth + 1);
      if (v === undefined) return undefined;
      if (expr.operator === ts.SyntaxKind.MinusToken) return -v;
      if (expr.operator === ts.SyntaxKind.PlusToken) return v;
      if (expr.operator === ts.SyntaxKind.TildeToken) return ~v;
      return undefined;
    }
    if (ts.isBinaryExpression(expr)) {
      const a = evaluate(expr.left, depth + 1);
      const b = a === undefined ? undefined : evaluate(expr.right, depth + 1);
      if (b === undefined) return undefined;
      switch (expr.operatorToken.kind) {
        case ts.SyntaxKind.BarToken:
          return a | b;
        case ts.SyntaxKind.AmpersandToken:
          return a & b;
        case ts.SyntaxKind.CaretToken:
          return a ^ b;
        case ts.SyntaxKind.LessThanLessThanToken:
          return a << b;
        case ts.SyntaxKind.GreaterThanGreaterThanToken:
          return a >> b;
        case ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken:
          return a >>> b;
        case ts.SyntaxKind.PlusToken:
          return a + b;
        case ts.SyntaxKind.MinusToken:
          return a - b;
        case ts.SyntaxKind.AsteriskToken:
          return a * b;
        case ts.SyntaxKind.AsteriskAsteriskToken:
          return a ** b;
        default:
          return undefined;
      }
    }
    if (ts.isIdentifier(expr)) return constantOf(expr, depth + 1);
    return undefined;
  }

  /** The value of the `const` an identifier names (through imports), or undefined. */
  function constantOf(id, depth) {
    return constantOfSymbol(checker.getSymbolAtLocation(id), depth);
  }

  function constantOfSymbol(found, depth) {
    let symbol = found;
    if (symbol === undefined) return undefined;
    if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
    if (cache.has(symbol)) return cache.get(symbol);
    let value;
    const decl = symbol.valueDeclaration;
    if (
      decl !== undefined &&
      ts.isVariableDeclaration(decl) &&
      ts.isIdentifier(decl.name) &&
      (ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const) !== 0
    ) {
      // (tsc's declaration files keep a literal initializer: `export declare const ESP = 4;`)
      if (decl.initializer !== undefined) value = evaluate(decl.initializer, depth);
    }
    if (value !== undefined && !Number.isFinite(value)) value = undefined;
    cache.set(symbol, value);
    return value;
  }

  /** Whether an identifier is read as a value here (not declared, imported, exported or named as a key). */
  function isValueRead(id) {
    const p = id.parent;
    if (p === undefined) return false;
    if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p))
      return false;
    if (ts.isPropertyAccessExpression(p) && p.name === id) return false;
    if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p)) && p.name === id)
      return false;
    if (ts.isShorthandPropertyAssignment(p)) return false;
    if (ts.isVariableDeclaration(p) && p.name === id) return false;
    if (ts.isBindingElement(p) || ts.isParameter(p) || ts.isFunctionDeclaration(p) || ts.isClassDeclaration(p))
      return false;
    if (ts.isLabeledStatement(p) || ts.isBreakOrContinueStatement(p)) return false;
    if (ts.isTypeQueryNode(p) || ts.isQualifiedName(p) || ts.isExportAssignment(p)) return false;
    return true;
  }

  /**
   * The value of `A.B` when it is a constant: a namespace import's constant (`registers.ESP`), or a
   * numeric property of a `const` object declared `as const` (`EXIT_REASON.CPUID`, `KVM_RUN.DATA`).
   */
  function propertyConstant(node) {
    if (isNamespace(node.expression)) return constantOfSymbol(checker.getSymbolAtLocation(node.name), 0);
    let base = checker.getSymbolAtLocation(node.expression);
    if (base === undefined) return undefined;
    if (base.flags & ts.SymbolFlags.Alias) base = checker.getAliasedSymbol(base);
    const decl = base.valueDeclaration;
    if (decl === undefined || !ts.isVariableDeclaration(decl) || !(ts.getCombinedNodeFlags(decl) & ts.NodeFlags.Const))
      return undefined;
    const prop = checker.getSymbolAtLocation(node.name);
    if (prop === undefined || !isReadonlyProperty(prop)) return undefined;
    const type = checker.getTypeAtLocation(node);
    return type.isNumberLiteral() && Number.isFinite(type.value) ? type.value : undefined;
  }

  /** A property of an `as const` object literal, or one a declaration file marks readonly. */
  function isReadonlyProperty(prop) {
    const decl = prop.valueDeclaration;
    if (decl === undefined) return false;
    if (ts.isPropertySignature(decl)) return (ts.getCombinedModifierFlags(decl) & ts.ModifierFlags.Readonly) !== 0;
    if (!ts.isPropertyAssignment(decl)) return false;
    let n = decl.parent;
    while (ts.isObjectLiteralExpression(n) && ts.isPropertyAssignment(n.parent)) n = n.parent.parent;
    return ts.isObjectLiteralExpression(n) && ts.isAsExpression(n.parent) && ts.isConstTypeReference(n.parent.type);
  }

  /** Whether an identifier names a module (`import * as registers`, `export * as registers`). */
  function isNamespace(id) {
    let symbol = checker.getSymbolAtLocation(id);
    if (symbol === undefined) return false;
    if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
    return (symbol.flags & ts.SymbolFlags.ValueModule) !== 0;
  }

  function literal(value, original, text) {
    const node =
      value < 0 || Object.is(value, -0)
        ? ts.factory.createParenthesizedExpression(
            ts.factory.createPrefixUnaryExpression(ts.SyntaxKind.MinusToken, ts.factory.createNumericLiteral(-value)),
          )
        : ts.factory.createNumericLiteral(value);
    ts.setTextRange(node, original);
    return ts.addSyntheticTrailingComment(node, ts.SyntaxKind.MultiLineCommentTrivia, ` ${text} `, false);
  }

  return (context) => (sourceFile) => {
    const visit = (node) => {
      if (ts.isTypeNode(node)) return node;
      if (ts.isIdentifier(node) && isValueRead(node)) {
        const value = constantOf(node, 0);
        if (value !== undefined) return literal(value, node, node.text);
        return node;
      }
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
        const value = propertyConstant(node);
        if (value !== undefined) return literal(value, node, node.getText());
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitEachChild(sourceFile, visit, context);
  };
}

/**
 * Compiles the project of `configPath` (a tsconfig) with inlineConstants: writes its outputs and
 * returns tsc's diagnostics, formatted (empty when there are none).
 */
export function buildProject(configPath) {
  const diagnostics = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(configPath, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => diagnostics.push(d),
  });
  if (parsed === undefined) return format(diagnostics);
  const program = ts.createProgram({
    rootNames: parsed.fileNames,
    options: parsed.options,
    projectReferences: parsed.projectReferences,
    configFileParsingDiagnostics: parsed.errors,
  });
  const emitted = program.emit(undefined, undefined, undefined, false, { before: [inlineConstants(program)] });
  return format([...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics]);
}

function format(diagnostics) {
  if (diagnostics.length === 0) return "";
  return ts.formatDiagnosticsWithColorAndContext(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => "\n",
  });
}

const USAGE = "usage: vmxlab-build [-p tsconfig.build.json]";

function main(args) {
  let config = "tsconfig.build.json";
  for (let k = 0; k < args.length; k++) {
    if (args[k] === "-p" && k + 1 < args.length) config = args[++k];
    else {
      process.stderr.write(`vmxlab-build: unknown argument '${args[k]}'\n${USAGE}\n`);
      return 2;
    }
  }
  if (!ts.sys.fileExists(config)) {
    process.stderr.write(`vmxlab-build: no ${config} in ${process.cwd()}\n${USAGE}\n`);
    return 2;
  }
  const errors = buildProject(config);
  if (errors !== "") {
    process.stderr.write(errors);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
