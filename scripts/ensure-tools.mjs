#!/usr/bin/env node
// The cross-check tests compare our assembler and disassembler with the real tools (NASM, GNU as,
// objdump) and build C programs with gcc. This makes sure they are installed before the tests run:
// on a Debian machine as root it installs what is missing; elsewhere it says what to install.
import { execSync } from "node:child_process";

const tools = [
  { command: "nasm", pkg: "nasm" },
  { command: "objdump", pkg: "binutils" },
  { command: "as", pkg: "binutils" },
];
const has = (cmd) => {
  try {
    execSync(`command -v ${cmd}`, { stdio: "ignore", shell: "/bin/sh" });
    return true;
  } catch {
    return false;
  }
};
const missing = [...new Set(tools.filter((t) => !has(t.command)).map((t) => t.pkg))];
if (missing.length === 0) process.exit(0);
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && has("apt-get")) {
  console.log(`ensure-tools: installing ${missing.join(" ")} (needed by the cross-check tests)`);
  execSync("apt-get update -qq", { stdio: "inherit" });
  execSync(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`, { stdio: "inherit" });
  process.exit(0);
}
console.error(
  `ensure-tools: the tests need ${missing.join(", ")}; install them (e.g. sudo apt-get install ${missing.join(" ")})`,
);
process.exit(1);
