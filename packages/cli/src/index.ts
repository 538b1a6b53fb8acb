export type { CommandSpec, OptionSpec, ParsedArgs } from "./args.js";
export { commandHelp, parseArgs, parseInteger, UsageError } from "./args.js";
export type { Command, Io } from "./command.js";
export { CliError } from "./command.js";
export { main, topLevelHelp } from "./main.js";
