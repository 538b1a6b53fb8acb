// vmxlab debug in script mode: every command on the bare machine, on the type-1 hypervisor with
// EPT (lazy memory) and shadow paging, and on the hosted system with EPT and shadow paging, through the real command line (`--script FILE`), with the
// transcript format, the error messages and the 80-column layout checked.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli, KERNEL } from "./debug-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "vmxlab-debug-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let scripts = 0;
async function script(args: string[], commands: string[]): Promise<string> {
  const file = join(dir, `script-${scripts++}.txt`);
  writeFileSync(file, `${commands.join("\n")}\n`);
  const r = await cli(["debug", KERNEL, "--mem", "4", ...args, "--script", file]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

/** The output of each command, by its position in the script (the transcript split at its prompts). */
function byCommand(transcript: string, commands: string[]): string[] {
  const out: string[] = [];
  let rest = transcript;
  for (const c of commands) {
    const at = rest.search(new RegExp(`^\\[[^\\]\\n]*\\]> ${c.replace(/[.*+?^${}()|[\]\\$]/g, "\\$&")}$`, "m"));
    expect(at, `prompt for '${c}'`).toBeGreaterThanOrEqual(0);
    rest = rest.slice(at);
    const end = rest.indexOf("\n");
    const next = rest.slice(end + 1).search(/^\[[^\]\n]*\]> /m);
    const body = next < 0 ? rest.slice(end + 1) : rest.slice(end + 1, end + 1 + next);
    out.push(body);
    rest = next < 0 ? "" : rest.slice(end + 1 + next);
  }
  return out;
}

type At = (command: string, nth?: number) => string;

/** The output of the nth occurrence of a command in the script (once `outputs()` has them). */
function outputOf(commands: string[], outputs: () => string[]): At {
  return (command, nth = 1) => {
    let seen = 0;
    const i = commands.findIndex((c) => c === command && ++seen === nth);
    return outputs()[i]!;
  };
}

/** `watch stat_ticks` then `continue`: the timer interrupt's write stops the guest. */
function expectTimerWatch(at: At, interrupt: string): void {
  expect(at("watch stat_ticks")).toMatch(/^watchpoint 3: writes to gva 0x[0-9a-f]{8} <stat_ticks> \(4 bytes\)\n$/);
  const w = at("continue", 3);
  expect(w).toMatch(/watchpoint 3: write of 4 bytes at gva 0x[0-9a-f]{8} <stat_ticks>/);
  expect(w).toContain("value 0x00000001, by the instruction at");
  expect(w).toContain("<timer_interrupt>");
  expect(w).toContain(interrupt);
}

function checkWidth(transcript: string): void {
  for (const line of transcript.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
}

describe("debug --on bare", () => {
  const commands = [
    "help",
    "help watch",
    "regs",
    "step",
    "step 3",
    "regs",
    "regs esp",
    "disasm start 5",
    "step 8",
    "next",
    "break paging_init",
    "break",
    "continue",
    "translate $eip",
    "break pic_init",
    "continue",
    "translate start",
    "mem msg_banner 32",
    "mem gpa:0x100000 16",
    "mem hpa:0x100000 16",
    "tlb 4",
    "radix 10",
    "regs eip",
    "radix 16",
    "delete",
    "watch stat_ticks",
    "continue",
    "delete",
    "watch gpa:current r",
    "continue",
    "back",
    "back 5",
    "delete",
    "frobnicate",
    "mem nowhere",
    "mem hpa:0xfff00000",
    "regs eaxx",
    "mem $ebq",
    "step x",
    "vmcs",
    "exits",
    "until-exit",
    "break exit CPUID",
    "continue",
    "quit",
    "regs",
  ];
  let out: string[] = [];
  const at = outputOf(commands, () => out);
  it("runs the script and prints a transcript", async () => {
    const transcript = await script([], commands);
    expect(transcript.startsWith(`vmxlab debug: ${KERNEL}\non the bare machine; 'help' lists the commands.\n`)).toBe(
      true,
    );
    expect(transcript).toContain("[bare 0x00100000]> regs\n");
    out = byCommand(transcript, commands.slice(0, -1));
    // After quit, nothing more runs.
    expect(transcript.trimEnd().endsWith("]> quit")).toBe(true);
    checkWidth(transcript);
  });
  it("help lists every command; help CMD explains one", () => {
    for (const c of ["step", "next", "continue", "until-exit", "break", "watch", "delete", "regs", "vmcs", "mem"]) {
      expect(at("help")).toContain(`  ${c}`);
    }
    for (const c of ["translate", "tlb", "disasm", "exits", "back", "radix", "help", "quit"]) {
      expect(at("help")).toContain(`  ${c}`);
    }
    expect(at("help watch")).toContain("usage: watch ADDR [r|w|rw] [LEN]");
  });
  it("regs shows the boot state, then marks what changed", () => {
    expect(at("regs")).toContain("eip 0x00100000 ");
    expect(at("regs")).toContain("cs 0x0008");
    expect(at("step")).toBe("=> 0x00100001 <start+0x1>:  mov esp,0x180000\n");
    expect(at("regs", 2)).toContain("esp 0x00180000*");
    expect(at("regs", 2)).toContain("eip 0x00100009*");
    expect(at("regs", 2)).toContain("eax 0x00000000 ");
    expect(at("regs esp")).toBe("esp 0x00180000 (1572864)\n");
  });
  it("disasm marks labels and the current instruction", () => {
    const d = at("disasm start 5");
    expect(d).toContain("<start>:");
    expect(d).toMatch(/^ {3}0x00100000 {2}fa +cli$/m);
    expect(d).toMatch(/^ {3}0x00100001 {2}bc 00 00 18 00 +mov esp,0x180000$/m);
    expect(d).toMatch(/^=> 0x00100009 {2}0f a2 +cpuid$/m);
  });
  it("next runs over a call", () => {
    expect(at("step 8")).toMatch(/call .*<gdt_init>/);
    expect(at("next")).toMatch(/call .*<idt_init>/);
  });
  it("break and continue stop at the breakpoint", () => {
    expect(at("break paging_init")).toMatch(/^breakpoint 1 at 0x[0-9a-f]{8} <paging_init>\n$/);
    expect(at("break")).toMatch(/1 {2}break at 0x[0-9a-f]{8} <paging_init>/);
    expect(at("continue")).toMatch(/^breakpoint 1 at 0x[0-9a-f]{8} <paging_init>$/m);
    expect(at("continue")).toContain("<paging_init>:  mov edi,0x182000");
  });
  it("translate: paging off, then a two-level walk", () => {
    expect(at("translate $eip")).toContain("paging off");
    expect(at("translate $eip")).toContain("a TLB miss costs 0 memory references");
    const t = at("translate start");
    expect(t).toContain("paging on, CR3 0x00181000");
    expect(t).toMatch(/PDE +0x00181000 +entry 0x00182023 P W S A/);
    expect(t).toMatch(/PTE +0x00182400 +entry 0x00100023 P W S A/);
    expect(t).toContain("= physical 0x00100000: a TLB miss costs 2 memory references");
  });
  it("mem in every address space", () => {
    expect(at("mem msg_banner 32")).toContain("|vmxlab guest ker|");
    expect(at("mem msg_banner 32")).toContain("-> physical");
    expect(at("mem gpa:0x100000 16")).toMatch(/^0x00100000 {2}fa bc 00 00 18 00 fc 31/m);
    expect(at("mem hpa:0x100000 16")).toMatch(/^0x00100000 {2}fa bc 00 00 18 00 fc 31/m);
  });
  it("tlb shows statistics and entries", () => {
    expect(at("tlb 4")).toContain("TLB: 4096 entries");
    expect(at("tlb 4")).toMatch(/hits \d+, misses \d+/);
    expect(at("tlb 4")).toContain("linear      host-phys   flags");
  });
  it("radix 10 and back", () => {
    expect(at("radix 10")).toBe("radix 10: values in decimal\n");
    expect(at("regs eip")).toMatch(/^eip \d+ \(0x[0-9a-f]{8}\)\n$/);
    expect(at("radix 16")).toBe("radix 16: values in hex\n");
  });
  it("watchpoints: a write by the timer interrupt, a read through a physical address", () => {
    expectTimerWatch(at, "interrupt 0x20 (external, from the PIC)");
    expect(at("watch gpa:current r")).toContain("watchpoint 4: reads of gpa");
    expect(at("continue", 4)).toMatch(/watchpoint 4: read of 4 bytes at gpa 0x[0-9a-f]{8}/);
  });
  it("back goes back in time", () => {
    expect(at("back")).toMatch(/^back 1 instruction: now after instruction \d+/);
    expect(at("back 5")).toMatch(/^back 5 instructions: now after instruction \d+/);
  });
  it("errors are one line and the session goes on", () => {
    expect(at("frobnicate")).toBe("unknown command 'frobnicate'; 'help' lists the commands\n");
    expect(at("mem nowhere")).toBe("bad address 'nowhere': 'nowhere' is not a number, register or symbol\n");
    expect(at("mem hpa:0xfff00000")).toBe("hpa 0xfff00000 is outside the machine's 4 MiB of RAM\n");
    expect(at("regs eaxx")).toMatch(/^unknown register 'eaxx' \(eax\.\.edi/);
    expect(at("regs eaxx").split("\n").length).toBe(2);
    expect(at("mem $ebq")).toMatch(/^unknown register 'ebq'/);
    expect(at("step x")).toBe("bad count 'x': expected a number\n");
    for (const c of ["vmcs", "exits", "until-exit", "break exit CPUID"]) {
      expect(at(c)).toMatch(/needs a VM: --on type1 or --on hosted\n$/);
    }
    expect(at("continue", 5)).toContain("the program has ended: debug-exit 0");
  });
});

describe("debug --on type1 (EPT, lazy memory)", () => {
  const commands = [
    "regs",
    "vmcs",
    "break exit CPUID",
    "continue",
    "regs",
    "vmcs exit",
    "vmcs controls",
    "vmcs guest",
    "vmcs host",
    "step 4",
    "mem cpu_vendor 12",
    "until-exit",
    "mem gpa:0x180000 16",
    "translate 0x180000",
    "translate 0x181000",
    "mem gpa:0x181000 16",
    "exits",
    "break exit any",
    "break exit 999999",
    "break exit NONSENSE",
    "break",
    "step",
    "delete",
    "break exit IO_INSTRUCTION",
    "continue",
    "exits 3",
    "tlb",
    "disasm",
    "next",
    "back 3",
    "regs",
    "delete",
    "break timer_interrupt",
    "continue",
    "translate $esp",
    "mem hpa:0 16",
    "quit",
  ];
  let out: string[] = [];
  it("runs the script", async () => {
    const transcript = await script(["--on", "type1", "--lazy-memory"], commands);
    expect(transcript).toContain("\non the type-1 hypervisor (vm0, EPT, lazy memory); 'help' lists the commands.\n");
    expect(transcript).toContain("[type1 vm0 root 0x00100000]> regs\n");
    out = byCommand(transcript, commands);
    checkWidth(transcript);
  });
  it("before the first entry: registers from the VMCS, nothing launched", () => {
    expect(out[0]).toContain("vm0 guest registers (from the VMCS and the saved GPRs: VMX root operation):");
    expect(out[1]).toContain("(clear: not launched yet)");
    expect(out[1]).toContain("none yet");
    expect(out[1]).toContain("UNCOND_IO_EXITING");
  });
  it("break exit CPUID stops after the hypervisor handled it", () => {
    expect(out[2]).toBe("breakpoint 1: after every VM exit CPUID (10)\n");
    expect(out[3]).toContain("VM exit #1: CPUID (10)");
    expect(out[3]).toContain("<start+0x9>: cpuid");
    expect(out[3]).toContain("handled by the hypervisor: virtual CPUID leaf 0x0 -> resume,");
    expect(out[3]).toContain("stopped in VMX root operation, before the next VM entry (breakpoint 1)");
    // EBX EDX ECX = "VMXlabHyperV"
    expect(out[4]).toContain("ebx 0x6c584d56*");
    expect(out[4]).toContain("edx 0x79486261*");
    expect(out[4]).toContain("ecx 0x56726570*");
  });
  it("vmcs groups", () => {
    expect(out[5]).toContain("VM_EXIT_REASON");
    expect(out[5]).toContain("reason CPUID (10), qualification 0x00000000");
    expect(out[6]).toContain("PIN_BASED_VM_EXEC_CONTROL");
    expect(out[6]).toContain("VMX_PREEMPTION_TIMER");
    expect(out[6]).toContain("ENABLE_EPT ENABLE_VPID UNRESTRICTED_GUEST");
    expect(out[6]).toContain("EPT_POINTER");
    expect(out[7]).toContain("GUEST_RIP");
    expect(out[7]).toContain("GUEST_CS_SELECTOR");
    expect(out[8]).toContain("HOST_RIP");
  });
  it("the guest stored what the hypervisor answered", () => {
    expect(out[10]).toContain("|VMXlabHyperV|");
  });
  it("an EPT violation maps a page on first touch", () => {
    expect(out[11]).toContain("EPT_VIOLATION (48), EPT violation write gpa 0x00180000 not present");
    expect(out[11]).toContain("mapped gpa 0x00180000 on first touch -> resume");
    expect(out[12]).toMatch(/^gpa 0x00180000 -> hpa 0x[0-9a-f]{8}/);
    expect(out[13]).toContain("EPT  PML4E");
    expect(out[13]).toContain("a TLB miss costs 4 memory references");
    expect(out[14]).toContain("EPT PTE not present: an access exits (EPT violation)");
    expect(out[15]).toContain("EPT PTE not present");
  });
  it("exits and exit breakpoints", () => {
    expect(out[16]).toContain("2 VM exits:");
    expect(out[16]).toContain("by reason: CPUID 1 EPT_VIOLATION 1");
    expect(out[17]).toBe("breakpoint 2: after every VM exit (any reason)\n");
    expect(out[18]).toMatch(/^unknown VM exit reason '999999'/);
    expect(out[19]).toMatch(/^unknown VM exit reason 'NONSENSE'/);
    expect(out[20]).toContain("break after VM exits: any");
    // step with an exit breakpoint: the EPT violation of the next page stops it.
    expect(out[21]).toContain("VM exit #3: EPT_VIOLATION");
    expect(out[24]).toContain("IO_INSTRUCTION (30), OUT port 0x20 size 1");
    expect(out[24]).toContain("... and");
    expect(out[25]).toContain("the last 3:");
  });
  it("tlb, disasm, next and back in a VM", () => {
    expect(out[26]).toMatch(/asid 1 \(vm0\)/);
    expect(out[27]).toMatch(/^=> 0x[0-9a-f]{8} {2}e6 a0 +out 0xa0,al$/m);
    expect(out[28]).toContain("<pic_init+");
    expect(out[29]).toMatch(/^back 3 instructions: now after instruction \d+/);
    expect(out[30]).toContain("(live in the CPU: VMX non-root operation)");
  });
  it("a breakpoint in the timer interrupt handler; a two-dimensional walk", () => {
    expect(out[33]).toMatch(/breakpoint \d at 0x[0-9a-f]{8} <timer_interrupt>/);
    expect(out[33]).toContain("interrupt 0x20 (external: injected by the hypervisor)");
    expect(out[34]).toContain("guest PDE");
    expect(out[34]).toContain("guest PTE");
    expect(out[34]).toContain("(2 guest paging entries + 12 EPT entries)");
    expect(out[34]).toContain("a TLB miss costs 14 memory references");
    expect(out[35]).toMatch(/^0x00000000 {2}/);
  });
});

describe("debug --on type1 --paging shadow", () => {
  const commands = [
    "break exit CR_ACCESS",
    "continue",
    "continue",
    "translate $eip",
    "continue",
    "regs cr3",
    "translate 0x40000000",
    "step",
    "translate 0x40000000",
    "vmcs",
    "delete",
    "break exit PREEMPTION_TIMER",
    "continue",
    "step",
    "regs",
    "back",
    "exits 4",
    "quit",
  ];
  let out: string[] = [];
  it("runs the script", async () => {
    const transcript = await script(["--on", "type1", "--paging", "shadow"], commands);
    expect(transcript).toContain("(vm0, shadow paging)");
    out = byCommand(transcript, commands);
    checkWidth(transcript);
  });
  it("CR3 and CR0 loads exit", () => {
    expect(out[1]).toContain("CR_ACCESS (28), MOV to CR3 from eax");
    expect(out[1]).toContain("CR3 load 0x00181000 with guest paging off");
    expect(out[2]).toContain("MOV to CR0 from eax");
    expect(out[2]).toMatch(/guest paging on: shadow root 0x[0-9a-f]+ for CR3\s+0x00181000/);
  });
  it("translate shows the guest walk and the shadow walk", () => {
    expect(out[3]).toContain("(shadowed)");
    expect(out[3]).toContain("guest PDE");
    expect(out[3]).toContain("(the hypervisor's map)");
    expect(out[3]).toContain("the CPU walks the shadow tables instead");
    expect(out[3]).toContain("not in the shadow tables yet: an access takes a #PF exit");
    expect(out[4]).toContain("CR3 load 0x00190000");
    expect(out[4]).toContain("console| vmxlab guest kernel: GDT, TSS, IDT, paging, PIC and PIT ready");
    expect(out[5]).toBe("cr3 0x00190000 (1638400)\n");
    expect(out[6]).toContain("P R U");
    expect(out[9]).toContain("EXCEPTION_BITMAP 0x00004000");
    expect(out[9]).toContain("CR3_LOAD_EXITING");
  });
  it("the timer: a preemption-timer exit, then an injected interrupt", () => {
    expect(out[12]).toContain("PREEMPTION_TIMER (52)");
    expect(out[13]).toContain("interrupt 0x20 (external: injected by the hypervisor)");
    expect(out[13]).toContain("<irq0_entry+0x2>:  push 0x20");
    expect(out[14]).toContain("cpl 0*");
    expect(out[15]).toContain("<irq0_entry>:  push 0x0");
    expect(out[16]).toContain("PREEMPTION_TIMER");
  });
});

describe.each(["ept", "shadow"] as const)("debug --on hosted --paging %s", (paging) => {
  const commands = [
    "help",
    "help step",
    "regs",
    "vmcs",
    "translate $eip",
    "step",
    "step 3",
    "regs",
    "break exit CPUID",
    "continue",
    "vmcs exit",
    "vmcs host",
    "vmcs guest",
    "vmcs controls",
    "delete",
    "break kputs.next+5",
    "continue",
    "delete",
    "until-exit",
    "exits 5",
    "next",
    "step 20",
    "watch stat_ticks",
    "continue",
    "delete",
    "watch gpa:current r",
    "continue",
    "delete",
    "watch hpa:0 rw",
    "break exit any",
    "break exit 30",
    "break exit NONSENSE",
    "break",
    "delete",
    "mem msg_banner 32",
    "mem gpa:0x100000 16",
    "mem hpa:0 16",
    "translate start",
    "tlb 4",
    "disasm",
    "radix 10",
    "regs eip",
    "radix 16",
    "back",
    "back 5",
    "frobnicate",
    "mem nowhere",
    "mem hpa:0xfff00000",
    "regs eaxx",
    "step x",
    "vmcs bogus",
    "continue",
    "regs",
    "exits 3",
    "back 3",
    "quit",
  ];
  let out: string[] = [];
  let transcript = "";
  const at = outputOf(commands, () => out);
  /** Output with its lines joined (long reports wrap at spaces). */
  const flat = (text: string) => text.replace(/\n */g, " ");
  it("runs the script", async () => {
    transcript = await script(["--on", "hosted", "--paging", paging], commands);
    expect(transcript).toContain(
      `\non the hosted hypervisor (vm0, ${paging === "ept" ? "EPT" : "shadow paging"}); 'help' lists the commands.\n`,
    );
    expect(transcript).toContain("vm0's VMM process (pid 1) has created the VM");
    expect(transcript).toContain("=> 0x00100000 <start>:  cli\n[hosted vm0 root 0x00100000]> help\n");
    out = byCommand(transcript, commands);
    expect(transcript.trimEnd().endsWith("]> quit")).toBe(true);
    checkWidth(transcript);
  });
  it("help says how stepping treats host activity", () => {
    expect(at("help")).toContain("  until-exit");
    expect(flat(at("help step"))).toContain("On hosted, what the host does between two guest instructions");
  });
  it("before the first VMLAUNCH: registers from the VMCS, guest RAM backed by the VMM process", () => {
    expect(at("regs")).toContain("vm0 guest registers (from the VMCS and the saved GPRs: VMX root operation):");
    expect(at("regs")).toContain("eip 0x00100000 ");
    expect(at("vmcs")).toContain("(clear: not launched yet)");
    expect(at("vmcs")).toContain("none yet");
    expect(at("vmcs")).toContain(paging === "ept" ? "ENABLE_EPT" : "CR3_LOAD_EXITING");
    if (paging === "ept") {
      // The module maps guest pages into the EPT on first touch: nothing is mapped yet.
      expect(flat(at("translate $eip"))).toContain("EPT PDPTE not present: an access exits (EPT violation)");
      expect(flat(at("translate $eip"))).toMatch(
        /\(memory at hpa 0x[0-9a-f]{8} backs it: the KVM module maps it into the EPT on first access\)/,
      );
    } else {
      expect(at("translate $eip")).toMatch(/page +gpa 0x00100000 -> hpa 0x[0-9a-f]{8} +\(the KVM module's map\)/);
    }
  });
  it("steps count guest instructions; exits on the way say where they were handled", () => {
    if (paging === "ept") {
      expect(at("step")).toMatch(/^ {2}exit #1 EPT_VIOLATION at 0x00100000 \[kernel\]: fetch gpa 0x00100000/);
    } else expect(at("step")).toBe("=> 0x00100001 <start+0x1>:  mov esp,0x180000\n");
    expect(at("step")).toContain("=> 0x00100001 <start+0x1>:  mov esp,0x180000\n");
    expect(at("step 3")).toBe("=> 0x00100009 <start+0x9>:  cpuid\n");
    expect(at("regs", 2)).toContain("(live in the CPU: VMX non-root operation)");
    expect(at("regs", 2)).toContain("esp 0x00180000*");
  });
  it("break exit CPUID stops once the KVM module handled it, before the next entry", () => {
    const c = flat(at("continue"));
    expect(c).toMatch(/VM exit #\d+: CPUID \(10\)/);
    expect(c).toContain(
      "handled in the host kernel by the KVM module: virtual CPUID leaf 0x0 -> resume, 600 cycles so far (the VM entry follows)",
    );
    expect(c).toContain("hops: exit 450, kernel 150");
    expect(c).toContain("stopped in VMX root operation, before the next VM entry (breakpoint 1)");
    expect(at("vmcs exit")).toContain("reason CPUID (10), qualification 0x00000000");
  });
  it("vmcs host shows the host kernel's state for the VMM process", () => {
    const host = at("vmcs host");
    const cr3 = /HOST_CR3 +(0x[0-9a-f]{8})/.exec(host)![1]!;
    const rip = /HOST_RIP +(0x[0-9a-f]{8})/.exec(host)![1]!;
    expect(flat(host)).toContain(
      `(the host kernel's state for vm0's VMM process, pid 1: HOST_CR3 = its page directory ${cr3},`,
    );
    expect(flat(host)).toContain(`HOST_RIP = the kernel's exit path vmx_vmexit ${rip})`);
    expect(at("vmcs guest")).toContain("GUEST_RIP");
    // Host interrupts exit (and are acknowledged on exit) so the host scheduler always runs.
    expect(at("vmcs controls")).toContain("EXT_INTR_MASK");
    expect(at("vmcs controls")).toContain("ACK_INTR_ON_EXIT");
  });
  it("an OUT to the console is handled in user space: the stop lists the round trip's hops", () => {
    expect(at("continue", 2)).toContain("breakpoint 2 at 0x00100092 <kputs.next+0x5>");
    const u = flat(at("until-exit"));
    expect(u).toContain("console| v");
    expect(u).toMatch(/VM exit #\d+: IO_INSTRUCTION \(30\), OUT port 0xe9 size 1/);
    expect(u).toContain(
      "handled in user space by the VMM process: OUT port 0xe9 size 1 value 0x76: to user space (KVM_EXIT_IO),",
    );
    expect(u).toMatch(/hops: exit 450, kernel 290, to-user \d+, device-model 800, syscall \d+ stopped in VMX root/);
    const e = at("exits 5");
    expect(e).toContain("    #  reason           guest EIP   where  detail (or what was done)     cycles\n");
    expect(e).toMatch(/^ +\d+ {2}IO_INSTRUCTION {3}0x00100092 {2}user {3}OUT port 0xe9 size 1 +\d+$/m);
    expect(e).toMatch(/^handled in the kernel module \d+, in the VMM process \(user space\) 1$/m);
    expect(at("next")).toContain("<kputs.next>:  lods");
    expect(at("step 20")).toContain("[user]: OUT port 0xe9 size 1");
  });
  it("watchpoints in gva, gpa and hpa", () => {
    expectTimerWatch(at, "interrupt 0x20 (external: injected by the KVM module)");
    expect(at("watch gpa:current r")).toContain("watchpoint 4: reads of gpa");
    expect(at("continue", 4)).toMatch(/watchpoint 4: read of 4 bytes at gpa 0x[0-9a-f]{8}/);
    expect(at("watch hpa:0 rw")).toBe("watchpoint 5: reads of and writes to hpa 0x00000000 (4 bytes)\n");
  });
  it("exit breakpoints by name, number or any; the list; delete", () => {
    expect(at("break exit any")).toBe("breakpoint 6: after every VM exit (any reason)\n");
    expect(at("break exit 30")).toBe("breakpoint 7: after every VM exit IO_INSTRUCTION (30)\n");
    expect(at("break exit NONSENSE")).toBe(
      "unknown VM exit reason 'NONSENSE' (an Intel name like CPUID, or a number)\n",
    );
    expect(at("break")).toContain("5  watch rw hpa 0x00000000 (4 bytes)");
    expect(at("break")).toContain("7  break after VM exits: IO_INSTRUCTION (30)");
    expect(at("delete", 5)).toBe("deleted 3 breakpoints\n");
  });
  it("mem, translate, tlb and disasm", () => {
    expect(at("mem msg_banner 32")).toMatch(
      /^gva 0x[0-9a-f]{8} <msg_banner> -> gpa 0x[0-9a-f]{8} -> hpa 0x[0-9a-f]{8}$/m,
    );
    expect(at("mem msg_banner 32")).toContain("|vmxlab guest ker|");
    expect(at("mem gpa:0x100000 16")).toMatch(/^0x00100000 {2}fa bc 00 00 18 00 fc 31/m);
    expect(at("mem hpa:0 16")).toMatch(/^0x00000000 {2}/m);
    const t = at("translate start");
    expect(t).toContain("guest PDE");
    if (paging === "ept") {
      expect(t).toContain("a TLB miss costs 14 memory references");
      expect(t).toContain("(2 guest paging entries + 12 EPT entries)");
    } else {
      expect(t).toContain("(the KVM module's map)");
      expect(t).toContain("the CPU walks the shadow tables instead");
    }
    expect(at("tlb 4")).toContain("TLB: 4096 entries");
    expect(flat(at("tlb 4"))).toMatch(/asid 1 \(vm0\)/);
    expect(at("disasm")).toMatch(/^=> 0x[0-9a-f]{8} {2}/m);
  });
  it("radix, back", () => {
    expect(at("regs eip")).toMatch(/^eip \d+ \(0x[0-9a-f]{8}\)\n$/);
    expect(at("back")).toMatch(/^back 1 instruction: now after instruction \d+/);
    expect(at("back 5")).toMatch(/^back 5 instructions: now after instruction \d+/);
  });
  it("errors are one line and the session goes on", () => {
    expect(at("frobnicate")).toBe("unknown command 'frobnicate'; 'help' lists the commands\n");
    expect(at("mem nowhere")).toBe("bad address 'nowhere': 'nowhere' is not a number, register or symbol\n");
    expect(at("mem hpa:0xfff00000")).toMatch(/^hpa 0xfff00000 is outside the machine's \d+ MiB of RAM\n$/);
    expect(at("regs eaxx").split("\n").length).toBe(2);
    expect(at("step x")).toBe("bad count 'x': expected a number\n");
    expect(at("vmcs bogus")).toBe("unknown VMCS group 'bogus' (guest, host, controls or exit)\n");
  });
  it("runs to the end, and back from there", () => {
    expect(at("continue", 5)).toContain("console| kernel: 2 processes done");
    expect(at("continue", 5)).toContain("the program has ended: debug-exit 0");
    expect(at("regs", 3)).toContain("vm0 guest registers (as the VM stopped):");
    expect(at("exits 3")).toContain("the last 3:");
    expect(at("back 3")).toMatch(/^back 3 instructions: now after instruction \d+/);
    expect(transcript).toMatch(/\[hosted vm0 non-root 0x[0-9a-f]{8}\]> quit/);
  });
});

describe("debug errors on the command line", () => {
  it("rejects VM options on the bare machine and a missing script", async () => {
    let r = await cli(["debug", KERNEL, "--paging", "shadow"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--paging needs --on type1 or --on hosted");
    r = await cli(["debug", KERNEL, "--on", "type1", "--paging", "shadow", "--lazy-memory"]);
    expect(r.code).toBe(2);
    r = await cli(["debug", KERNEL, "--on", "hosted", "--lazy-memory"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--lazy-memory needs --on type1 (the hosted KVM module maps guest RAM on first touch anyway)",
    );
    r = await cli(["debug", KERNEL, "--script", "/nonexistent/cmds.txt"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot read '/nonexistent/cmds.txt'");
    r = await cli(["debug", "--help"]);
    expect(r.stdout).toContain("usage: vmxlab debug FILE [options]");
  });
  it("hosted: a VMM process that fails before the first VM entry ends the program at once", async () => {
    const tiny = join(dir, "tiny.asm");
    writeFileSync(tiny, "bits 32\norg 0x100000\n  mov eax, 7\n  out 0xf4, eax\n");
    const commands = join(dir, "tiny.txt");
    writeFileSync(commands, "step\nregs\n");
    const r = await cli(["debug", tiny, "--on", "hosted", "--mem", "1", "--script", commands]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the host kernel has booted; vm0's VMM process (pid 1) ended before the first VM\n");
    expect(r.stdout).toContain("does not fit in 1 MiB");
    expect(r.stdout).toContain("]> step\nthe program has ended (stopped by the hypervisor: VMM process");
    expect(r.stdout).toContain("vm0 guest registers (as the VM stopped):");
  });
  it("vmxlab --help lists debug", async () => {
    const r = await cli(["--help"]);
    expect(r.stdout).toContain("  debug");
  });
});
