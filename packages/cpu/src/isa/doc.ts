// Renders the opcode table as the instruction reference in docs/isa.md (a test keeps that file in
// step with the table).

import { objdumpMnemonic } from "../disasm/format.js";
import { OPCODES } from "./opcodes.js";
import type { OpcodeDef } from "./types.js";

function hexOpcode(def: OpcodeDef): string {
  const bytes: string[] = [];
  if (def.mandatoryPrefix !== undefined) bytes.push(def.mandatoryPrefix.toString(16).toUpperCase().padStart(2, "0"));
  const op = def.opcode;
  if (op > 0xffff) bytes.push("0F", "38", (op & 0xff).toString(16).toUpperCase().padStart(2, "0"));
  else if (op > 0xff) bytes.push("0F", (op & 0xff).toString(16).toUpperCase().padStart(2, "0"));
  else bytes.push(op.toString(16).toUpperCase().padStart(2, "0"));
  const zform = def.operands.includes("Zv") || def.operands.includes("Zb");
  let text = bytes.join(" ") + (zform ? "+r" : "");
  if (def.modrm !== undefined) text += ` ${def.modrm.toString(16).toUpperCase()}`;
  else if (def.ext !== undefined) text += ` /${def.ext}`;
  else if (def.operands.some((o) => /^[EGMRSC]/.test(o))) text += " /r";
  return text;
}

function names(def: OpcodeDef): string {
  if (typeof def.mnemonic === "string") return def.mnemonic;
  return `${def.mnemonic.d} (${def.mnemonic.w} with 66)`;
}

/** One markdown table row per form, in table order. */
export function renderOpcodeTable(): string {
  const lines = ["| mnemonic | opcode | operands | notes |", "|---|---|---|---|"];
  for (const def of OPCODES) {
    const notes: string[] = [];
    if (def.mod === "mem") notes.push("memory operand only");
    if (def.mod === "reg") notes.push("register operand only");
    if (def.decodeOnly) notes.push("alias: decoded and executed, never emitted by the assembler");
    if (def.rep === "rep") notes.push("REP");
    if (def.rep === "repe-repne") notes.push("REPE/REPNE");
    if (def.noPrefix) notes.push("66/F2/F3 prefix: #UD");
    if (def.rvMw) notes.push("Rv/Mw: a register of the operand size, or a word in memory (no 66 for memory)");
    const objdump = objdumpMnemonic(def, 32);
    const shown = names(def);
    if (objdump !== shown.split(" ")[0]) notes.push(`objdump prints \`${objdump}\``);
    lines.push(`| ${shown} | \`${hexOpcode(def)}\` | ${def.operands.join(", ") || "—"} | ${notes.join("; ")} |`);
  }
  return lines.join("\n");
}
