// What `vmxlab run --on type1` and `--on hosted` share: VM configs named after their files, the
// --trace/--trace-json exit listener and file, the exit status, and the --json fields every VM design has.

import { writeFileSync } from "node:fs";
import type { RegisterSnapshot } from "@vmxlab/cpu";
import type { PagingMode } from "@vmxlab/vmm";
import { CliError, type Io } from "./command.js";
import { ConsoleStream, exitStatus, exitsByName, latin1, type RunStop, stopJson } from "./output.js";
import type { Program } from "./program.js";

/** The options of `vmxlab run` with VMs, whatever the design. */
export interface VmRunOptions {
  memoryMiB: number;
  costModel: string;
  paging: PagingMode;
  load?: number;
  entry?: number;
  maxInstructions?: number;
  json: boolean;
  trace: boolean;
  traceJson?: string;
  disk?: Uint8Array;
}

/** One VM config per program, named after its file ("name-2" for the second of the same name); `own`
 * holds the design's own fields. */
export function vmConfigs<Own extends object>(programs: Program[], o: VmRunOptions, own: Own) {
  const names = new Map<string, number>();
  return programs.map((p) => {
    let name = p.name.replace(/^.*\//, "").replace(/\.[^.]*$/, "") || "vm";
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}-${seen + 1}`;
    return {
      name,
      memoryMiB: o.memoryMiB,
      image: p.bytes,
      paging: o.paging,
      ...own,
      ...(o.load !== undefined ? { load: o.load } : p.origin !== undefined ? { load: p.origin } : {}),
      ...(o.entry !== undefined ? { entry: o.entry } : {}),
      ...(o.disk ? { disk: o.disk } : {}),
    };
  });
}

/** The --trace lines (stderr) and --trace-json lines (kept for the file) of a run's VM exits. */
class ExitTrace<R> {
  private readonly lines: string[] = [];

  constructor(
    private readonly o: VmRunOptions,
    private readonly io: Io,
    private readonly line: (r: R) => string,
    private readonly json: (r: R) => Record<string, unknown>,
  ) {}

  /** The onExit option, only when a trace was asked for: without a listener no exit records are built. */
  listener(): { onExit?: (r: R) => void } {
    const { o, io } = this;
    if (!o.trace && !o.traceJson) return {};
    return {
      onExit: (r: R) => {
        if (o.trace) io.stderr(`${this.line(r)}\n`);
        if (o.traceJson) this.lines.push(JSON.stringify(this.json(r)));
      },
    };
  }

  /** Writes the --trace-json file (after the run). */
  write(): void {
    const file = this.o.traceJson;
    if (!file) return;
    try {
      writeFileSync(file, this.lines.length ? `${this.lines.join("\n")}\n` : "");
    } catch (error) {
      throw new CliError(`cannot write '${file}': ${(error as Error).message}`);
    }
  }
}

/** The listeners a VM system gets: console bytes unless --json, exits when a trace was asked for. */
export interface VmListeners<V, R> {
  onConsole?: (vm: V, byte: number) => void;
  onExit?: (r: R) => void;
}

/** Builds a VM system with its listeners (a bad config becoming a one-line CliError), runs it and
 * writes the --trace-json file. */
export function runVms<
  V extends { name: string },
  R,
  S extends { run(options: { maxInstructions?: number }): unknown },
>(
  programs: Program[],
  o: VmRunOptions,
  io: Io,
  trace: { line: (r: R) => string; json: (r: R) => Record<string, unknown> },
  create: (listeners: VmListeners<V, R>) => S,
): S {
  const stream = new ConsoleStream(io.stdout, programs.length > 1);
  const exits = new ExitTrace(o, io, trace.line, trace.json);
  let system: S;
  try {
    system = create({
      ...(o.json ? {} : { onConsole: (vm: V, byte: number) => stream.byte(vm.name, byte) }),
      ...exits.listener(),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  system.run(o.maxInstructions !== undefined ? { maxInstructions: o.maxInstructions } : {});
  exits.write();
  return system;
}

/** What a VM of either design has for its exit status and JSON. */
interface RunVm {
  name: string;
  stop: RunStop | null;
  consoleBytes: number[];
}

/** The counts every VM design keeps per VM. */
interface VmCounts {
  exits: ReadonlyMap<number, number>;
  guestInstructions: number;
  guestCycles: number;
  hypervisorCycles: number;
}

/** A stopped VM's stop; one still running when the instruction limit ran out stopped at the limit. */
export const vmStop = (vm: RunVm): RunStop => vm.stop ?? { kind: "limit" };

/** The process exit status of a run with VMs: the first non-zero one. */
export function vmsExitStatus(vms: readonly RunVm[]): number {
  return vms.map((vm) => exitStatus(vmStop(vm))).find((s) => s !== 0) ?? 0;
}

/** How many VM exits a VM had. */
export const exitTotal = (stats: VmCounts): number => [...stats.exits.values()].reduce((a, b) => a + b, 0);

/** The sum of one count over all VMs. */
export const sumOver = <T>(items: readonly T[], f: (item: T) => number): number =>
  items.reduce((sum, item) => sum + f(item), 0);

/** The JSON fields of one VM every design has (the design's own fields follow them). */
export function vmJsonHead(vm: RunVm, s: VmCounts, regs: RegisterSnapshot | null): Record<string, unknown> {
  return {
    name: vm.name,
    stop: stopJson(vmStop(vm)),
    console: latin1(vm.consoleBytes),
    regs,
    instructions: s.guestInstructions,
    exits: exitsByName(s.exits),
    guestCycles: s.guestCycles,
    hypervisorCycles: s.hypervisorCycles,
  };
}

/** The --json object's fields every design has: the first VM's fields, the machine's cycles and the sums
 * over all VMs (the design's own fields and `vms` follow them). */
export function runJsonHead(
  vms: readonly Record<string, unknown>[],
  stats: readonly VmCounts[],
  cycles: number,
): Record<string, unknown> {
  const allExits = new Map<number, number>();
  for (const s of stats) for (const [r, n] of s.exits) allExits.set(r, (allExits.get(r) ?? 0) + n);
  const out: Record<string, unknown> = {
    ...vms[0],
    instructions: stats[0]!.guestInstructions,
    cycles,
    exits: exitsByName(allExits),
    guestInstructions: sumOver(stats, (s) => s.guestInstructions),
    guestCycles: sumOver(stats, (s) => s.guestCycles),
    hypervisorCycles: sumOver(stats, (s) => s.hypervisorCycles),
  };
  delete out.name;
  return out;
}
