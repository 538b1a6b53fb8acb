// docs/tour.md walks through a debugging session whose output is produced by vmxlab itself. Each
// ```console block starting with `$ vmxlab debug ARGS` opens a session (run with --script); the
// following blocks without a `$` line continue it. Only the commands (after each `]> `) are read
// from the document: everything else in the blocks is regenerated here and must match.
// After changing the debugger or the tour's commands: VMXLAB_UPDATE_DOCS=1 pnpm --filter @vmxlab/cli test debug-tour
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { cli, ROOT } from "./debug-helpers.js";

const DOC = join(ROOT, "docs", "tour.md");
const PROMPT = /^\[[^\]\n]*\]> (.*)$/;

interface Block {
  /** Line index of the opening fence and of the closing fence. */
  start: number;
  end: number;
  command: string | null;
  inputs: string[];
}

function blocks(lines: string[]): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```console") continue;
    const end = lines.indexOf("```", i + 1);
    if (end < 0) throw new Error(`unclosed block at line ${i + 1}`);
    const body = lines.slice(i + 1, end);
    const first = body[0] ?? "";
    out.push({
      start: i,
      end,
      command: first.startsWith("$ vmxlab debug ") ? first : null,
      inputs: body.map((l) => PROMPT.exec(l)?.[1]).filter((c): c is string => c !== undefined),
    });
    i = end;
  }
  return out;
}

/** Splits a transcript into the banner and one chunk per command (its prompt line and output). */
function chunks(transcript: string): { banner: string[]; commands: string[][] } {
  const lines = transcript.replace(/\n$/, "").split("\n");
  const banner: string[] = [];
  const commands: string[][] = [];
  for (const line of lines) {
    if (PROMPT.test(line)) commands.push([line]);
    else if (commands.length === 0) banner.push(line);
    else commands[commands.length - 1]!.push(line);
  }
  return { banner, commands };
}

async function render(doc: string): Promise<string> {
  const lines = doc.split("\n");
  const all = blocks(lines);
  const dir = mkdtempSync(join(tmpdir(), "vmxlab-tour-"));
  const replacement = new Map<Block, string[]>();
  try {
    for (let i = 0; i < all.length; ) {
      const head = all[i]!;
      if (!head.command) throw new Error(`the block at line ${head.start + 1} does not start a session`);
      let j = i + 1;
      while (j < all.length && all[j]!.command === null) j++;
      const session = all.slice(i, j);
      const script = join(dir, `session-${i}.txt`);
      writeFileSync(script, `${session.flatMap((b) => b.inputs).join("\n")}\n`);
      const args = head.command.slice("$ vmxlab ".length).split(/\s+/);
      const r = await cli([...args, "--script", script]);
      if (r.code !== 0 || r.stderr) throw new Error(`${head.command}: ${r.stderr}`);
      const { banner, commands } = chunks(r.stdout);
      let k = 0;
      for (const b of session) {
        const body = b === head ? [head.command, ...banner] : [];
        for (const _ of b.inputs) body.push(...commands[k++]!);
        replacement.set(b, body);
      }
      i = j;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out: string[] = [];
  let at = 0;
  for (const b of all) {
    out.push(...lines.slice(at, b.start + 1), ...replacement.get(b)!);
    at = b.end;
  }
  out.push(...lines.slice(at));
  return out.join("\n");
}

it("docs/tour.md shows exactly what vmxlab debug prints", async () => {
  const doc = readFileSync(DOC, "utf8");
  const expected = await render(doc);
  if (process.env.VMXLAB_UPDATE_DOCS) writeFileSync(DOC, expected);
  expect(doc).toBe(expected);
  // The tour covers what it promises: the first exits of each kind it names.
  for (const exit of [
    "CPUID (10)",
    "EPT_VIOLATION (48)",
    "IO_INSTRUCTION (30)",
    "CR_ACCESS (28), MOV to CR3",
    "PREEMPTION_TIMER (52)",
  ]) {
    expect(expected).toContain(`: ${exit}`);
  }
  expect(expected).toContain("interrupt 0x20 (external: injected by the hypervisor)");
  // ... and, on the hosted path, an OUT handled in user space with the hops of its round trip.
  expect(expected).toContain("handled in user space by the VMM process: OUT port 0xe9");
  expect(expected).toMatch(/hops: exit \d+, kernel \d+, to-user \d+, device-model \d+, syscall \d+/);
  // Transcripts fit an 80-column terminal.
  const lines = expected.split("\n");
  for (const b of blocks(lines)) {
    for (const line of lines.slice(b.start + 1, b.end)) expect(line.length, line).toBeLessThanOrEqual(80);
  }
}, 120_000);
