// A small, declarative argument parser: each command lists its options once, and that list drives
// parsing, validation and the --help text. Errors are UsageError (exit status 2, one line plus usage).

export type OptionType = "string" | "boolean" | "integer" | "address";

export interface OptionSpec {
  name: string;
  type: OptionType;
  /** Shown in --help, e.g. "ADDR" or "N". */
  value?: string;
  description: string;
  /** The option may be given several times; its value is then a list. */
  multiple?: boolean;
  /** Allowed values for string options. */
  choices?: readonly string[];
  defaultText?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, e.g. "FILE" or "[FILE]". */
  positionals: string;
  minPositionals: number;
  maxPositionals: number;
  options: readonly OptionSpec[];
  details?: string;
}

export type OptionValue = string | number | boolean | string[] | number[];

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, OptionValue | undefined>;
}

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: CommandSpec,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses "0x100000", "1048576", "0b101" or "0o17" as an unsigned integer; NaN when malformed. */
export function parseInteger(text: string): number {
  const t = text.trim().replace(/_/g, "");
  if (/^0x[0-9a-f]+$/i.test(t) || /^0b[01]+$/i.test(t) || /^0o[0-7]+$/i.test(t) || /^[0-9]+$/.test(t)) {
    return Number(t);
  }
  return Number.NaN;
}

function convert(spec: OptionSpec, raw: string, command: CommandSpec): string | number {
  if (spec.type === "integer" || spec.type === "address") {
    const n = parseInteger(raw);
    if (!Number.isSafeInteger(n) || n < 0 || (spec.type === "address" && n > 0xffffffff)) {
      const what = spec.type === "address" ? "an address (0x... or decimal, below 4 GiB)" : "a non-negative integer";
      throw new UsageError(`--${spec.name} expects ${what}, got '${raw}'`, command);
    }
    return n;
  }
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new UsageError(`--${spec.name} must be one of ${spec.choices.join(", ")}, got '${raw}'`, command);
  }
  return raw;
}

export function parseArgs(command: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options: Record<string, OptionValue | undefined> = {};
  const positionals: string[] = [];
  const byName = new Map(command.options.map((o) => [o.name, o]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.replace(/^--?/, "").slice(0, eq < 0 ? undefined : eq - (arg.startsWith("--") ? 2 : 1));
    const spec = byName.get(name) ?? command.options.find((o) => o.name.length === 1 && o.name === name);
    if (!spec) throw new UsageError(`unknown option '${arg.slice(0, eq < 0 ? undefined : eq)}'`, command);
    let value: string | number | boolean;
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`--${spec.name} takes no value`, command);
      value = true;
    } else {
      let raw: string | undefined;
      if (eq >= 0) raw = arg.slice(eq + 1);
      else {
        raw = argv[i + 1];
        i++;
      }
      if (raw === undefined) throw new UsageError(`--${spec.name} needs a value (${spec.value ?? "VALUE"})`, command);
      value = convert(spec, raw, command);
    }
    if (spec.multiple) {
      const list = (options[spec.name] as (string | number)[] | undefined) ?? [];
      list.push(value as string | number);
      options[spec.name] = list as string[] | number[];
    } else {
      if (options[spec.name] !== undefined) throw new UsageError(`--${spec.name} given more than once`, command);
      options[spec.name] = value;
    }
  }
  if (positionals.length < command.minPositionals) {
    throw new UsageError(`missing ${command.positionals.replace(/[[\]]/g, "")}`, command);
  }
  if (positionals.length > command.maxPositionals) {
    throw new UsageError(`unexpected argument '${positionals[command.maxPositionals]}'`, command);
  }
  return { positionals, options };
}

export function usageLine(command: CommandSpec): string {
  return `usage: vmxlab ${command.name}${command.positionals ? ` ${command.positionals}` : ""} [options]`;
}

export function commandHelp(command: CommandSpec): string {
  const lines = [usageLine(command), "", command.summary, ""];
  if (command.details) lines.push(command.details, "");
  lines.push("options:");
  const all: OptionSpec[] = [...command.options, { name: "help", type: "boolean", description: "show this help" }];
  const left = all.map((o) => `  --${o.name}${o.type === "boolean" ? "" : ` ${o.value ?? "VALUE"}`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  all.forEach((o, i) => {
    let text = o.description;
    if (o.choices) text += ` (${o.choices.join("|")})`;
    if (o.defaultText) text += ` [default: ${o.defaultText}]`;
    if (o.multiple) text += " (repeatable)";
    lines.push(left[i]!.padEnd(width) + text);
  });
  return lines.join("\n");
}
