import type { Command } from "../command.js";

/** Every sub-command of the vmxlab binary, in the order --help lists them. */
export const commands: Command[] = [];
