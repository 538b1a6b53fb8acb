// The registry: every module in src/workloads/ and src/configs/ (dist/... once built) is loaded at run
// time, and its default export -- one Workload or Configuration, or an array of them -- joins the matrix.
// Adding a workload or a configuration is dropping one file there; modules without a default export
// (shared helpers, the MIPS loop kernels) are skipped.

import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Configuration, Workload } from "./types.js";

export interface Registry {
  workloads: Workload[];
  configurations: Configuration[];
}

const MODULE = /^[^.].*\.(js|ts|mjs)$/;
const NOT_MODULE = /\.d\.ts$|\.test\.ts$|\.spec\.ts$/;

/** Module files of one registry folder, in name order. */
export function moduleFiles(folder: URL): string[] {
  return readdirSync(fileURLToPath(folder))
    .filter((f) => MODULE.test(f) && !NOT_MODULE.test(f))
    .sort();
}

function isWorkload(x: unknown): x is Workload {
  const w = x as Workload;
  return typeof w === "object" && w !== null && typeof w.name === "string" && typeof w.program === "function";
}

function isConfiguration(x: unknown): x is Configuration {
  const c = x as Configuration;
  return typeof c === "object" && c !== null && typeof c.name === "string" && typeof c.run === "function";
}

/** Every workload exported by the modules of a folder (what the registry does with src/workloads/). */
export function loadWorkloads(folder: URL): Promise<Workload[]> {
  return loadFolder(folder, isWorkload, "workload");
}

/** Every configuration exported by the modules of a folder (src/configs/). */
export function loadConfigurations(folder: URL): Promise<Configuration[]> {
  return loadFolder(folder, isConfiguration, "configuration");
}

async function loadFolder<T>(folder: URL, check: (x: unknown) => x is T, what: string): Promise<T[]> {
  const out: T[] = [];
  const names = new Map<string, string>();
  for (const file of moduleFiles(folder)) {
    const url = new URL(file, folder);
    const mod = (await import(pathToFileURL(fileURLToPath(url)).href)) as { default?: unknown };
    if (mod.default === undefined) continue;
    const items = Array.isArray(mod.default) ? mod.default : [mod.default];
    for (const item of items) {
      if (!check(item)) throw new Error(`${fileURLToPath(url)}: the default export is not a ${what}`);
      const name = (item as { name: string }).name;
      const previous = names.get(name);
      if (previous) throw new Error(`${what} '${name}' is defined twice (${previous} and ${file})`);
      names.set(name, file);
      out.push(item);
    }
  }
  return out;
}

let cached: Promise<Registry> | null = null;

/** Loads (once) every workload and configuration module, sorted by their order keys. */
export function loadRegistry(): Promise<Registry> {
  cached ??= (async () => {
    const workloads = await loadFolder(new URL("./workloads/", import.meta.url), isWorkload, "workload");
    const configurations = await loadFolder(new URL("./configs/", import.meta.url), isConfiguration, "configuration");
    workloads.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
    configurations.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
    return { workloads, configurations };
  })();
  return cached;
}
