#!/usr/bin/env bash
# Regenerates alu-cases.json: builds gen-alu.c natively, assembles every instruction text it lists
# in 32-bit mode with GNU as to get the instruction bytes, then runs the generator on this
# machine's real CPU.  Needs gcc, GNU binutils (as, objdump) and an x86-64 Linux host.
#
#   bash packages/cpu/test/diff/gen-alu.sh            # writes alu-cases.json next to this script
#   bash packages/cpu/test/diff/gen-alu.sh OUT.json   # writes elsewhere
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/alu-cases.json}"

if [ "$(uname -m)" != "x86_64" ]; then
  echo "gen-alu.sh: must run on an x86-64 host (found $(uname -m))" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

gcc -O2 -std=gnu11 -Wall -Wextra -Werror -masm=intel -mno-red-zone -o "$work/gen-alu" "$here/gen-alu.c"

# Assemble each instruction alone, as 32-bit code, and read its bytes back with objdump.
"$work/gen-alu" --list >"$work/insns.txt"
: >"$work/bytes.tsv"
while IFS= read -r insn; do
  printf '.intel_syntax noprefix\n.code32\n.text\n%s\n' "$insn" >"$work/one.s"
  as --32 -o "$work/one.o" "$work/one.s"
  objdump -d -M intel "$work/one.o" >"$work/one.dis"
  # Instruction lines look like "   0:\t01 c8                \tadd    eax,ecx"; a long instruction
  # continues on lines without a mnemonic column.  Count mnemonics to be sure it is exactly one.
  hex="$(awk -F'\t' '/^ *[0-9a-f]+:\t/ { gsub(/ /, "", $2); printf "%s", $2 }' "$work/one.dis")"
  n="$(awk -F'\t' '/^ *[0-9a-f]+:\t/ && NF >= 3 { n++ } END { print n + 0 }' "$work/one.dis")"
  if [ -z "$hex" ] || [ "$n" != 1 ]; then
    echo "gen-alu.sh: could not assemble '$insn' to exactly one instruction:" >&2
    cat "$work/one.dis" >&2
    exit 1
  fi
  # Guard against 64-bit leftovers: no REX prefix (0x40-0x4f) may precede the opcode, except that
  # the one-byte INC/DEC r32 forms (0x40-0x4f) are themselves opcodes in 32-bit mode.
  case "$insn" in
    inc* | dec*) ;;
    *) if [[ "$hex" =~ ^(66)?4[0-9a-f] ]]; then
      echo "gen-alu.sh: '$insn' assembled with a REX-like byte: $hex" >&2
      exit 1
    fi ;;
  esac
  printf '%s\t%s\n' "$insn" "$hex" >>"$work/bytes.tsv"
done <"$work/insns.txt"

generated_by="packages/cpu/test/diff/gen-alu.sh: $(gcc --version | head -n1), native x86-64 execution; bytes from $(as --version | head -n1) --32"
"$work/gen-alu" --bytes "$work/bytes.tsv" --generated-by "$generated_by" >"$work/alu-cases.json" 2>"$work/summary.txt" || {
  cat "$work/summary.txt" >&2
  echo "gen-alu.sh: generator failed" >&2
  exit 1
}

# Validate the JSON before replacing the committed file.
if command -v node >/dev/null 2>&1; then
  node -e '
    const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (!Array.isArray(d.cases) || d.cases.length === 0) throw new Error("no cases");
    for (const c of d.cases) for (const k of ["eax", "ecx", "edx", "eflags"])
      if (!Number.isInteger(c.in[k]) || !Number.isInteger(c.out[k]) || c.in[k] < 0 || c.out[k] < 0 || c.in[k] > 0xffffffff || c.out[k] > 0xffffffff)
        throw new Error("bad number in " + JSON.stringify(c));
  ' "$work/alu-cases.json"
fi

mv "$work/alu-cases.json" "$out"
tail -n1 "$work/summary.txt"
echo "wrote $out ($(wc -c <"$out") bytes)"
if [ -n "${GEN_ALU_SUMMARY:-}" ]; then cp "$work/summary.txt" "$GEN_ALU_SUMMARY"; fi
