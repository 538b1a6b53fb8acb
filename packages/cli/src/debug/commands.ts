// The debugger's commands: names, usage and help text (the session implements them; the REPL uses
// the table for `help` and tab completion).

export interface CommandHelp {
  name: string;
  aliases?: readonly string[];
  usage: string;
  summary: string;
  details?: readonly string[];
}

export const COMMANDS: readonly CommandHelp[] = [
  {
    name: "step",
    aliases: ["s", "si", "stepi"],
    usage: "step [N]",
    summary: "run N guest instructions (default 1)",
    details: [
      "Exits the instructions cause are handled on the way (they are listed), unless a",
      "'break exit' stops there. An interrupt taken first counts as part of the next step.",
      "On hosted, what the host does between two guest instructions (the KVM module, the",
      "VMM process in user space, the scheduler, other processes) runs as one unit: steps",
      "count guest instructions only.",
    ],
  },
  {
    name: "next",
    aliases: ["n", "ni", "nexti"],
    usage: "next",
    summary: "one instruction, running over a CALL until it returns",
  },
  {
    name: "continue",
    aliases: ["c", "cont"],
    usage: "continue",
    summary: "run to a breakpoint, watchpoint, 'break exit' or the end",
  },
  {
    name: "until-exit",
    aliases: ["ue"],
    usage: "until-exit",
    summary: "run to the next VM exit (stop after it is handled)",
    details: [
      "The stop is in VMX root operation, before the VM is entered again: 'vmcs exit' shows the",
      "exit information, 'regs' the guest state as the handler left it. On hosted that is once",
      "the exit's handling is complete: in the KVM module, or after the round trip through the",
      "VMM process (its hops are listed); the entry that resumes the guest follows.",
    ],
  },
  {
    name: "break",
    aliases: ["b"],
    usage: "break [ADDR | exit REASON|any]",
    summary: "stop before the instruction at ADDR, or after exits",
    details: [
      "ADDR is a guest-virtual address (see 'help addresses'). 'break exit CPUID' stops after every",
      "CPUID exit; reasons are Intel's names (EPT_VIOLATION, IO_INSTRUCTION, CR_ACCESS, ...) or",
      "numbers; 'break exit any' stops after every exit. Without arguments: lists breakpoints.",
    ],
  },
  {
    name: "watch",
    aliases: ["w"],
    usage: "watch ADDR [r|w|rw] [LEN]",
    summary: "stop after guest reads/writes of ADDR (default w, 4)",
    details: [
      "ADDR may be gva: (default), gpa: or hpa:; any guest data access that overlaps",
      "[ADDR, ADDR+LEN) stops the guest right after the instruction that made it.",
    ],
  },
  { name: "delete", aliases: ["d"], usage: "delete [N]", summary: "delete breakpoint/watchpoint N (default: all)" },
  {
    name: "regs",
    aliases: ["r", "registers"],
    usage: "regs [NAME]",
    summary: "guest registers (* = changed since the last stop)",
  },
  {
    name: "vmcs",
    usage: "vmcs [guest|host|controls|exit]",
    summary: "the VMCS: an overview, or every field of a group",
    details: ["Control words are decoded by bit name (KVM's names); exit qualifications in words."],
  },
  {
    name: "mem",
    aliases: ["x"],
    usage: "mem ADDR [LEN]",
    summary: "hex dump of LEN bytes (64) at ADDR (gva:, gpa:, hpa:)",
  },
  {
    name: "translate",
    aliases: ["t"],
    usage: "translate ADDR",
    summary: "the whole page walk of a guest-virtual address",
    details: [
      "Each guest page-table level with the EPT walk of its guest-physical address (or, under",
      "shadow paging, the shadow PDE/PTE the CPU really uses), and how many memory references",
      "a TLB miss on that address costs.",
    ],
  },
  { name: "tlb", usage: "tlb [N]", summary: "TLB statistics and N (16) cached translations" },
  {
    name: "disasm",
    aliases: ["u", "dis"],
    usage: "disasm [ADDR] [N]",
    summary: "N (8) instructions at ADDR (default: the guest EIP)",
  },
  { name: "exits", usage: "exits [N]", summary: "the last N (20) VM exits and the counts by reason" },
  {
    name: "back",
    aliases: ["rs", "reverse-step"],
    usage: "back [N]",
    summary: "go back N (1) guest instructions: registers, memory...",
    details: [
      "The debugger keeps a checkpoint of the whole machine at each stop (memory as changed",
      "pages) and re-executes from the nearest one. The history is bounded (--history).",
    ],
  },
  {
    name: "radix",
    usage: "radix [16|10]",
    summary: "show values in hex (default) or decimal",
    details: ["Bare numbers in addresses are read in this radix too; 0x... is always hex."],
  },
  { name: "help", aliases: ["h", "?"], usage: "help [COMMAND]", summary: "this list, or one command's help" },
  { name: "quit", aliases: ["q", "exit"], usage: "quit", summary: "leave the debugger" },
];

export const ADDRESS_HELP = [
  "Addresses: NUMBER | SYMBOL | $REG, optionally + or - more of those, with an address-space",
  "prefix: gva: guest-virtual (default), gpa: guest-physical, hpa: host-physical.",
  "Bare numbers are read in the current radix (hex by default: 100000 is 0x100000); 0x... is",
  "always hex. Symbols are the program's labels (assembly sources). Counts are decimal.",
  "On the bare machine gpa: and hpa: are both the physical address.",
];

export function findCommand(word: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === word || c.aliases?.includes(word));
}

/** The `help` text: every command, or one. */
export function helpText(topic?: string): string[] {
  if (topic === "addresses" || topic === "address") return [...ADDRESS_HELP];
  if (topic) {
    const c = findCommand(topic);
    if (!c) return [`no command '${topic}'; 'help' lists them`];
    const lines = [`usage: ${c.usage}`, `  ${c.summary}`];
    if (c.aliases?.length) lines.push(`  aliases: ${c.aliases.join(", ")}`);
    if (c.details) lines.push(...c.details.map((d) => `  ${d}`));
    return lines;
  }
  // Usage in a 24-column field and the summary after it, or on its own line when that is too long.
  const lines: string[] = [];
  for (const c of COMMANDS) {
    const line = `  ${c.usage.padEnd(24)}${c.summary}`;
    if (c.usage.length < 24 && line.length < 80) lines.push(line);
    else if (c.usage.length + 10 + c.summary.length < 80) lines.push(`  ${c.usage}  ${c.summary}`);
    else lines.push(`  ${c.usage}`, `${" ".repeat(8)}${c.summary}`);
  }
  lines.push("", "'help COMMAND' for details, 'help addresses' for the address syntax.");
  return lines;
}
