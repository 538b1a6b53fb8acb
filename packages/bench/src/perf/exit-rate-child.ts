// The forked process of one exit-rate measurement: `node exit-rate-child.js '<ExitRateCase JSON>'`
// measures that case in this fresh process and writes the ExitRate row as JSON to stdout (nothing else
// goes there); a failure is one line on stderr and exit status 1.

import { type ExitRateCase, measureExitRate } from "./exit-rate.js";

function parseCase(arg: string | undefined): ExitRateCase {
  if (arg === undefined) throw new Error("expected one argument, the case as JSON");
  let c: Partial<ExitRateCase>;
  try {
    c = JSON.parse(arg) as Partial<ExitRateCase>;
  } catch {
    throw new Error(`the argument is not JSON: ${arg.slice(0, 200)}`);
  }
  for (const k of ["name", "workload", "configuration", "costModel"] as const) {
    if (typeof c[k] !== "string") throw new Error(`the case's '${k}' must be a string`);
  }
  for (const k of ["iterations", "minTime"] as const) {
    if (typeof c[k] !== "number" || !(c[k] > 0)) throw new Error(`the case's '${k}' must be a positive number`);
  }
  return c as ExitRateCase;
}

try {
  const row = await measureExitRate(parseCase(process.argv[2]));
  process.stdout.write(`${JSON.stringify(row)}\n`);
} catch (error) {
  process.stderr.write(`exit-rate child: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
