#!/usr/bin/env node
// `pnpm bench` (node dist/main.js): the same bench as `vmxlab bench`, without the CLI package.
//   --quick            fewer iterations, shorter host-time sampling
//   --only NAME[,..]   workloads, configurations, profiles, or "emulator" (repeatable)
//   --json FILE        all results as JSON
//   --html FILE        a self-contained HTML report with SVG charts
//   --readme           rewrite the figures section of packages/bench/README.md
//   --no-v86           leave v86 out of the emulator-speed section
//   --from FILE        render the tables / --html / --readme from a saved --json file (runs nothing)

import { tuneV8 } from "@vmxlab/cpu";
import { runBenchCommand, wantsProgress } from "./bench.js";

// As the vmxlab CLI: V8's inlining budgets the emulator is tuned for (packages/cpu host-tuning.ts).
tuneV8();

function parse(argv: string[]): Parameters<typeof runBenchCommand>[0] | string {
  const only: string[] = [];
  let quick = false;
  let json: string | undefined;
  let html: string | undefined;
  let readme = false;
  let skipV86 = false;
  let from: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case "--":
        break;
      case "--quick":
        quick = true;
        break;
      case "--only":
        only.push(value());
        break;
      case "--json":
        json = value();
        break;
      case "--html":
        html = value();
        break;
      case "--readme":
        readme = true;
        break;
      case "--no-v86":
        skipV86 = true;
        break;
      case "--from":
        from = value();
        break;
      default:
        return `unknown argument '${arg}' (usage: bench [--quick] [--only NAME,...] [--json FILE] [--html FILE] [--readme] [--no-v86] [--from FILE])`;
    }
  }
  return {
    quick,
    only,
    ...(json ? { json } : {}),
    ...(html ? { html } : {}),
    readme,
    skipV86,
    ...(from ? { from } : {}),
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    progress: wantsProgress(process.stdout.isTTY, process.env),
    width: process.stdout.columns ?? 120,
  };
}

try {
  const options = parse(process.argv.slice(2));
  if (typeof options === "string") {
    process.stderr.write(`${options}\n`);
    process.exitCode = 2;
  } else {
    const { status } = await runBenchCommand(options);
    process.exitCode = status;
  }
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
