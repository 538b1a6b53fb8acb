import type { Command } from "../command.js";
import { demoCommand } from "./demo.js";
import { runCommand } from "./run.js";

/** Every sub-command of the vmxlab binary, in the order --help lists them. */
export const commands: Command[] = [runCommand, demoCommand];
