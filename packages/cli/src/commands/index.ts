import type { Command } from "../command.js";
import { asmCommand } from "./asm.js";
import { benchCommand } from "./bench.js";
import { debugCommand } from "./debug.js";
import { demoCommand } from "./demo.js";
import { disasmCommand } from "./disasm.js";
import { runCommand } from "./run.js";

/** Every sub-command of the vmxlab binary, in the order --help lists them. */
export const commands: Command[] = [runCommand, debugCommand, asmCommand, disasmCommand, demoCommand, benchCommand];
