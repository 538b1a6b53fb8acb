// Shared pieces of the debugger tests: a session on the example guest kernel, and a fingerprint of
// the whole machine for exactness checks.
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTarget, describeTarget } from "../src/debug/create.js";
import { HostedTarget } from "../src/debug/hosted-target.js";
import { DebugSession } from "../src/debug/session.js";
import type { TargetKind } from "../src/debug/targets.js";
import { loadProgram } from "../src/program.js";
import { type CliResult, cli as runCli } from "./run-cli.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const KERNEL = "packages/vmm/examples/guest-kernel.asm";

export interface SessionSetup {
  on: TargetKind;
  paging?: "ept" | "shadow";
  lazyMemory?: boolean;
  history?: number;
  file?: string;
  /** Guest RAM in MiB (default 64; the guest kernel runs in 4). */
  memoryMiB?: number;
}

export function openSession(setup: SessionSetup): DebugSession {
  const file = setup.file ?? KERNEL;
  const program = loadProgram(file, ROOT);
  const options = {
    memoryMiB: setup.memoryMiB ?? 64,
    costModel: "recent",
    paging: setup.paging ?? "ept",
    lazyMemory: setup.lazyMemory ?? false,
  };
  return new DebugSession((hooks) => createTarget(setup.on, program, { ...options, ...hooks }), program, {
    color: false,
    fileName: file,
    description: describeTarget(setup.on, options),
    ...(setup.history !== undefined ? { history: setup.history } : {}),
  });
}

/** Everything that must be identical after going back: registers, cycles, memory, exits. */
export function fingerprint(s: DebugSession): Record<string, unknown> {
  const m = s.target.machine;
  return {
    guest: s.regs(),
    cpu: m.cpu.snapshotRegisters(),
    eip: m.cpu.eip >>> 0,
    cycles: m.cpu.cycles,
    instret: m.cpu.instret,
    mode: s.target.mode(),
    memory: createHash("sha1").update(m.memory.u8).digest("hex"),
    exits: s.exits.length,
    position: s.position,
    ...(s.target instanceof HostedTarget ? { host: hostState(s.target) } : {}),
  };
}

/** The hosted system's own state: the host kernel, its processes and scheduler, the VM's and vCPU's counts. */
function hostState(t: HostedTarget): Record<string, unknown> {
  const k = t.system.kernel;
  const vm = t.vm;
  return {
    kernel: { ...k.stats, current: k.current.pid, needResched: k.needResched, guestInstret: k.guestInstret },
    processes: k.processes.map((p) => [p.pid, p.state, p.runtime, p.vruntime, p.instructions, p.switchesIn]),
    vm: { ...vm.stats, exits: [...vm.stats.exits.entries()] },
    vcpu: vm.vcpu ? { ...vm.vcpu.stats, launched: vm.vcpu.launched } : null,
    console: vm.consoleText(),
  };
}

/** Runs the CLI in-process from the repository root. */
export function cli(
  argv: string[],
  stdin?: NodeJS.ReadableStream,
  io: { isTTY?: boolean; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runCli(argv, ROOT, { ...io, ...(stdin ? { stdin: stdin as never } : {}) });
}
