import type { Command } from "../command.js";
import { asmCommand } from "./asm.js";
import { demoCommand } from "./demo.js";
import { disasmCommand } from "./disasm.js";
import { runCommand } from "./run.js";

/** Every sub-command of the vmxlab binary, in the order --help lists them. */
export const commands: Command[] = [runCommand, asmCommand, disasmCommand, demoCommand];
