// `vmxlab run --on type1`: one or several programs as VMs on the bare-metal hypervisor.

import { writeFileSync } from "node:fs";
import { type ExitRecord, Hypervisor, type PagingMode, type Vm } from "@vmxlab/vmm";
import { CliError, type Io } from "./command.js";
import { ConsoleStream, describeStop, exitJson, exitStatus, exitsByName, latin1, stopJson } from "./output.js";
import type { Program } from "./program.js";

export interface Type1Options {
  memoryMiB: number;
  costModel: string;
  paging: PagingMode;
  /** Back guest RAM on first touch (EPT violations). */
  lazyMemory?: boolean;
  load?: number;
  entry?: number;
  maxInstructions?: number;
  json: boolean;
  trace: boolean;
  traceJson?: string;
  disk?: Uint8Array;
}

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/** One --trace line per exit. */
export function formatTraceLine(r: ExitRecord): string {
  const reason = `${r.name}(${r.reason & 0xffff})`;
  const insn = r.instruction ? ` ${r.instruction}` : "";
  const detail = r.detail ? ` ${r.detail}` : "";
  return `#${r.seq} ${r.vm} ${reason}${detail} | eip ${hex8(r.guestEip)}${insn} | ${r.handler || r.action} | ${r.cycles.total} cycles`;
}

/** The JSON-lines object of one exit (vmxlab run --trace-json). */
export function traceJson(r: ExitRecord): Record<string, unknown> {
  return { ...exitJson(r), cycles: r.cycles };
}

function vmJson(hv: Hypervisor, vm: Vm): Record<string, unknown> {
  return {
    name: vm.name,
    stop: stopJson(vm.stop ?? { kind: "limit" }),
    console: latin1(vm.consoleBytes),
    regs: vm.finalRegs ?? hv.guestRegisters(vm),
    instructions: vm.stats.guestInstructions,
    exits: exitsByName(vm.stats.exits),
    guestCycles: vm.stats.guestCycles,
    hypervisorCycles: vm.stats.hypervisorCycles,
    paging: vm.paging,
  };
}

export function runType1(programs: Program[], o: Type1Options, io: Io): number {
  const names = new Map<string, number>();
  const configs = programs.map((p) => {
    let name = p.name.replace(/^.*\//, "").replace(/\.[^.]*$/, "") || "vm";
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}-${seen + 1}`;
    return {
      name,
      memoryMiB: o.memoryMiB,
      image: p.bytes,
      paging: o.paging,
      ...(o.lazyMemory ? { lazyMemory: true } : {}),
      ...(o.load !== undefined ? { load: o.load } : p.origin !== undefined ? { load: p.origin } : {}),
      ...(o.entry !== undefined ? { entry: o.entry } : {}),
      ...(o.disk ? { disk: o.disk } : {}),
    };
  });
  const stream = new ConsoleStream(io.stdout, programs.length > 1);
  const traceLines: string[] = [];
  let hv: Hypervisor;
  try {
    hv = new Hypervisor(configs, {
      costModel: o.costModel,
      ...(o.json ? {} : { onConsole: (vm: Vm, byte: number) => stream.byte(vm.name, byte) }),
      ...(o.trace || o.traceJson
        ? {
            onExit: (r: ExitRecord) => {
              if (o.trace) io.stderr(`${formatTraceLine(r)}\n`);
              if (o.traceJson) traceLines.push(JSON.stringify(traceJson(r)));
            },
          }
        : {}),
    });
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  hv.run(o.maxInstructions !== undefined ? { maxInstructions: o.maxInstructions } : {});
  if (o.traceJson) {
    try {
      writeFileSync(o.traceJson, traceLines.length ? `${traceLines.join("\n")}\n` : "");
    } catch (error) {
      throw new CliError(`cannot write '${o.traceJson}': ${(error as Error).message}`);
    }
  }
  const first = hv.vms[0]!;
  const status = hv.vms.map((vm) => exitStatus(vm.stop ?? { kind: "limit" })).find((s) => s !== 0) ?? 0;
  if (o.json) {
    const vms = hv.vms.map((vm) => vmJson(hv, vm));
    const total = (f: (vm: Vm) => number) => hv.vms.reduce((sum, vm) => sum + f(vm), 0);
    const allExits = new Map<number, number>();
    for (const vm of hv.vms) for (const [r, n] of vm.stats.exits) allExits.set(r, (allExits.get(r) ?? 0) + n);
    const out = {
      ...vms[0],
      instructions: first.stats.guestInstructions,
      cycles: hv.machine.cpu.cycles,
      exits: exitsByName(allExits),
      guestInstructions: total((vm) => vm.stats.guestInstructions),
      guestCycles: total((vm) => vm.stats.guestCycles),
      hypervisorCycles: total((vm) => vm.stats.hypervisorCycles),
      vms,
    };
    delete (out as Record<string, unknown>).name;
    io.stdout(`${JSON.stringify(out)}\n`);
  } else {
    for (const vm of hv.vms) {
      const exits = [...vm.stats.exits.values()].reduce((a, b) => a + b, 0);
      io.stderr(
        `vmxlab: ${vm.name}: ${describeStop(vm.stop ?? { kind: "limit" })}; ${vm.stats.guestInstructions} guest instructions, ${exits} VM exits, ${vm.stats.guestCycles} guest + ${vm.stats.hypervisorCycles} hypervisor cycles\n`,
      );
    }
  }
  return status;
}
