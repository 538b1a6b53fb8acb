// Error reporting of the assembler: every user mistake becomes an AsmError with a source position;
// the assembler collects them all instead of stopping at the first one.

/** One assembly error, positioned in the source. Lines and columns are 1-based. */
export interface AsmError {
  file: string;
  line: number;
  column: number;
  message: string;
  /** The text of the offending source line (without its line terminator). */
  sourceLine: string;
}

/** Formats one error as `file:line:col: message`, the source line and a caret under the column. */
export function formatAsmError(error: AsmError): string {
  const head = `${error.file}:${error.line}:${error.column}: ${error.message}`;
  if (error.sourceLine === "") return head;
  // Keep tabs in the caret line so the caret lines up with the source in a terminal.
  let pad = "";
  const upTo = Math.max(0, Math.min(error.column - 1, error.sourceLine.length));
  for (let i = 0; i < upTo; i++) pad += error.sourceLine[i] === "\t" ? "\t" : " ";
  return `${head}\n${error.sourceLine}\n${pad}^`;
}

/** Formats a list of errors, one block per error. */
export function formatAsmErrors(errors: readonly AsmError[]): string {
  return errors.map(formatAsmError).join("\n");
}

/** Thrown by assembleOrThrow: all the errors of one assembly. */
export class AsmErrorList extends Error {
  readonly errors: readonly AsmError[];

  constructor(errors: readonly AsmError[]) {
    super(formatAsmErrors(errors));
    this.name = "AsmErrorList";
    this.errors = errors;
  }
}

/** Internal: raised while processing one statement; caught and turned into an AsmError. */
export class StatementError extends Error {
  readonly column: number;
  /** Bytes the statement would have taken (kept as padding so later addresses stay meaningful). */
  readonly size: number;

  constructor(column: number, message: string, size = 0) {
    super(message);
    this.column = column;
    this.size = size;
  }
}
