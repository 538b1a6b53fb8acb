#!/usr/bin/env python3
"""insn_stats.py - list what gcc emitted into the vmxlab test ELFs.

Usage: insn_stats.py [--strip-prefix P] image.elf ...   (Markdown on stdout)

Runs `objdump -d -w -M intel` over each image (raw bytes are needed to be
exact about prefixes, opcodes and immediate sizes; the Intel text gives the
operand kinds) and prints, split by the -O0 / -O2 build (from the file
name), every distinct instruction form with its static count:

  * the mnemonic with operand shapes (r32, m8, imm8, rel32, literal
    implicit registers such as `cl` or `dx`),
  * its encoding (prefix bytes, opcode bytes, /r or /digit, ib/iw/id/cb/cd),
  * the ModRM/SIB addressing forms used by memory operands,
  * prefix usage, and the 8/16-bit forms on their own.

Counts are static (occurrences in .text), not dynamic. Written for vmxlab.
"""
import collections
import os
import re
import subprocess
import sys

PREFIX_BYTES = {0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65}
R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]
SREG = ["es", "cs", "ss", "ds", "fs", "gs"]

# One-byte opcodes that take a ModRM byte.
MODRM_1 = set()
for base in range(0x00, 0x40, 0x08):
    MODRM_1.update(range(base, base + 4))
MODRM_1.update([0x62, 0x63, 0x69, 0x6B])
MODRM_1.update(range(0x80, 0x90))
MODRM_1.update([0xC0, 0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3])
MODRM_1.update(range(0xD8, 0xE0))
MODRM_1.update([0xF6, 0xF7, 0xFE, 0xFF])
# Two-byte (0F xx) opcodes WITHOUT a ModRM byte.
NO_MODRM_2 = set(range(0x80, 0x90)) | set(range(0xC8, 0xD0)) | {
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
    0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA}
# Opcodes whose ModRM reg field selects the operation (/digit).
GROUP_1 = {0x80, 0x81, 0x82, 0x83, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3,
           0xF6, 0xF7, 0xFE, 0xFF} | set(range(0xD8, 0xE0))
GROUP_2 = {0x00, 0x01, 0xBA, 0xC7}
# Immediate sizes: 'b' = 8-bit, 'z' = 16/32-bit by operand size, 'w' = 16-bit.
IMM_1 = {}
for op in (0x04, 0x0C, 0x14, 0x1C, 0x24, 0x2C, 0x34, 0x3C, 0x6A, 0x6B, 0x80, 0x82, 0x83,
           0xA8, 0xC0, 0xC1, 0xC6, 0xCD, 0xE4, 0xE5, 0xE6, 0xE7):
    IMM_1[op] = "b"
for op in range(0xB0, 0xB8):
    IMM_1[op] = "b"
for op in (0x05, 0x0D, 0x15, 0x1D, 0x25, 0x2D, 0x35, 0x3D, 0x68, 0x69, 0x81, 0xA9, 0xC7):
    IMM_1[op] = "z"
for op in range(0xB8, 0xC0):
    IMM_1[op] = "z"
IMM_1[0xC2] = "w"
IMM_1[0xCA] = "w"
IMM_2 = {0xA4: "b", 0xAC: "b", 0xBA: "b"}
# Relative branches: 'b' = rel8, 'z' = rel32 (rel16 with 66).
REL_1 = {0xE8: "z", 0xE9: "z", 0xEB: "b", 0xE0: "b", 0xE1: "b", 0xE2: "b", 0xE3: "b"}
for op in range(0x70, 0x80):
    REL_1[op] = "b"
# Opcodes with register numbers in the low 3 bits ("+r").
PLUS_R_1 = {0x40: 8, 0x48: 8, 0x50: 8, 0x58: 8, 0x90: 8, 0xB0: 8, 0xB8: 8}
PLUS_R_2 = {0xC8: 8}
# Opcodes whose register operands are implicit (printed literally).
IMPLICIT_1 = {0x04, 0x05, 0x0C, 0x0D, 0x14, 0x15, 0x1C, 0x1D, 0x24, 0x25, 0x2C, 0x2D,
              0x34, 0x35, 0x3C, 0x3D, 0xA8, 0xA9, 0xA0, 0xA1, 0xA2, 0xA3, 0x98, 0x99,
              0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF} | set(range(0x91, 0x98))
CL_COUNT = {(0xD2,), (0xD3,), (0x0F, 0xA5), (0x0F, 0xAD)}
STRING_OPS = {0xA4: "movs", 0xA5: "movs", 0xA6: "cmps", 0xA7: "cmps", 0xAA: "stos", 0xAB: "stos",
              0xAC: "lods", 0xAD: "lods", 0xAE: "scas", 0xAF: "scas", 0x6C: "ins", 0x6D: "ins",
              0x6E: "outs", 0x6F: "outs"}
TEXT_PREFIXES = {"rep", "repz", "repe", "repnz", "repne", "lock", "data16", "addr16", "addr32",
                 "data32", "bnd", "notrack", "cs", "ds", "es", "ss", "fs", "gs"}
PTR_SIZES = {"BYTE": "m8", "WORD": "m16", "DWORD": "m32", "QWORD": "m64", "FWORD": "m48",
             "TBYTE": "m80", "XMMWORD": "m128"}


class Insn:
    __slots__ = ("addr", "raw", "text", "prefixes", "opcode", "modrm", "form")


def decode(raw):
    """Split raw bytes into prefixes, opcode bytes and ModRM; describe the ModRM/SIB form."""
    i = 0
    prefixes = []
    while i < len(raw) and raw[i] in PREFIX_BYTES:
        prefixes.append(raw[i])
        i += 1
    if raw[i] == 0x0F:
        opcode = (0x0F, raw[i + 1])
        i += 2
        has_modrm = opcode[1] not in NO_MODRM_2
    else:
        opcode = (raw[i],)
        i += 1
        has_modrm = opcode[0] in MODRM_1
    modrm = raw[i] if has_modrm else None
    form = None
    if modrm is not None and (modrm >> 6) != 3:
        mod, rm = modrm >> 6, modrm & 7
        disp = {0: "", 1: "+disp8", 2: "+disp32"}[mod]
        if rm == 4:
            sib = raw[i + 1]
            scale, index, base = 1 << (sib >> 6), (sib >> 3) & 7, sib & 7
            idx = "" if index == 4 else f"+index*{scale}"
            if base == 5 and mod == 0:
                form = f"SIB [{idx[1:] if idx else ''}+disp32]".replace("[+", "[")
            else:
                b = "esp" if base == 4 else "base"
                form = f"SIB [{b}{idx}{disp}]"
        elif rm == 5 and mod == 0:
            form = "[disp32]"
        else:
            b = "ebp" if rm == 5 else "reg"
            form = f"[{b}{disp}]"
    return prefixes, opcode, modrm, form


def encoding(prefixes, opcode, modrm, opsize16):
    parts = [f"{p:02X}" for p in prefixes]
    if len(opcode) == 1:
        op = opcode[0]
        base = next((b for b, n in PLUS_R_1.items() if b <= op < b + n), None)
        parts.append(f"{base:02X}+r" if base is not None and op != 0x90 else f"{op:02X}")
        group = op in GROUP_1
        imm = IMM_1.get(op)
        rel = REL_1.get(op)
        if op in (0xF6, 0xF7) and modrm is not None and ((modrm >> 3) & 7) in (0, 1):
            imm = "b" if op == 0xF6 else "z"
    else:
        op = opcode[1]
        base = next((b for b, n in PLUS_R_2.items() if b <= op < b + n), None)
        parts.append("0F")
        parts.append(f"{base:02X}+r" if base is not None else f"{op:02X}")
        group = op in GROUP_2
        imm = IMM_2.get(op)
        rel = "z" if 0x80 <= op < 0x90 else None
    if modrm is not None:
        parts.append(f"/{(modrm >> 3) & 7}" if group else "/r")
    if imm:
        parts.append({"b": "ib", "w": "iw", "z": "iw" if opsize16 else "id"}[imm])
    if rel:
        parts.append({"b": "cb", "z": "cw" if opsize16 else "cd"}[rel])
    if len(opcode) == 1 and opcode[0] in (0xA0, 0xA1, 0xA2, 0xA3):
        parts.append("moffs32")
    return " ".join(parts)


def split_operands(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return [o.strip() for o in out]


def shape_of(insn):
    """Return (mnemonic, shape string) for one instruction."""
    prefixes, opcode, modrm = insn.prefixes, insn.opcode, insn.modrm
    opsize16 = 0x66 in prefixes
    words = insn.text.split()
    # leading textual prefixes (rep, lock, data16, segment names)
    k = 0
    while k < len(words) - 1 and words[k] in TEXT_PREFIXES:
        k += 1
    mnem = words[k]
    fields = insn.text.split(None, k + 1)
    rest = fields[k + 1] if len(fields) > k + 1 else ""
    op0 = opcode[0] if len(opcode) == 1 else None

    # String instructions: name by element size, prefix by F3/F2.
    if op0 in STRING_OPS:
        size = "b" if op0 % 2 == 0 else ("w" if opsize16 else "d")
        name = STRING_OPS[op0] + size
        pre = ""
        if 0xF3 in prefixes:
            pre = "repe " if STRING_OPS[op0] in ("cmps", "scas") else "rep "
        elif 0xF2 in prefixes:
            pre = "repne "
        return name, pre + name

    rest = re.sub(r"\s*<[^>]*>", "", rest)  # drop <symbol+off>
    ops = split_operands(rest) if rest else []
    shapes = []
    implicit = op0 in IMPLICIT_1 if op0 is not None else False
    for o in ops:
        m = re.match(r"(BYTE|WORD|DWORD|QWORD|FWORD|TBYTE|XMMWORD) PTR (.*)", o)
        if m:
            shapes.append(PTR_SIZES[m.group(1)])
            continue
        if "[" in o:
            shapes.append("m")
            continue
        if re.match(r"(cs|ds|es|ss|fs|gs):0x[0-9a-f]+$", o):
            shapes.append("moffs")
            continue
        lo = o.lower()
        if lo in R32 or lo in R16 or lo in R8:
            if implicit or (tuple(opcode) in CL_COUNT and lo == "cl"):
                shapes.append(lo)
            elif lo in R32:
                shapes.append("r32")
            elif lo in R16:
                shapes.append("r16")
            else:
                shapes.append("r8")
            continue
        if lo in SREG:
            shapes.append("sreg")
            continue
        if re.match(r"^(0x[0-9a-f]+|[0-9]+)$", lo):
            rel = REL_1.get(op0) if op0 is not None else ("z" if 0x80 <= opcode[1] < 0x90 else None)
            if rel:
                shapes.append("rel8" if rel == "b" else ("rel16" if opsize16 else "rel32"))
                continue
            if op0 in (0xD0, 0xD1) and lo == "1":
                shapes.append("1")
                continue
            enc = encoding(prefixes, opcode, modrm, opsize16)
            if " ib" in enc:
                shapes.append("imm8")
            elif " iw" in enc:
                shapes.append("imm16")
            elif " id" in enc:
                shapes.append("imm32")
            else:
                shapes.append("imm?")
            continue
        if re.match(r"^[0-9a-f]+$", lo):  # branch target printed without 0x
            rel = REL_1.get(op0) if op0 is not None else "z"
            shapes.append("rel8" if rel == "b" else ("rel16" if opsize16 else "rel32"))
            continue
        shapes.append("?" + o)
    pre = ""
    if 0xF0 in prefixes:
        pre = "lock "
    shape = pre + mnem + (" " + ", ".join(shapes) if shapes else "")
    # Indirect jumps/calls: the addressing form matters (jump tables).
    if mnem in ("jmp", "call") and insn.form:
        shape += " " + insn.form
    if op0 == 0x90 and opsize16:
        shape = "xchg ax, ax (2-byte nop)"
    return mnem, shape


def disassemble(path):
    out = subprocess.run(["objdump", "-d", "-w", "-M", "intel", path], check=True,
                         capture_output=True, text=True, env=dict(os.environ, LC_ALL="C")).stdout
    insns = []
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$", line)
        if not m:
            continue
        insn = Insn()
        insn.addr = int(m.group(1), 16)
        insn.raw = bytes(int(x, 16) for x in m.group(2).split())
        insn.text = re.sub(r"\s+", " ", m.group(3).strip())
        insn.prefixes, insn.opcode, insn.modrm, insn.form = decode(insn.raw)
        insns.append(insn)
    return insns


def load_profile(path):
    counts = {}
    with open(path) as f:
        for line in f:
            a, n = line.split()
            counts[int(a, 16)] = int(n)
    return counts


def main(argv):
    strip = ""
    profile_dir = None
    while argv and argv[0] in ("--strip-prefix", "--profile-dir"):
        if argv[0] == "--strip-prefix":
            strip = argv[1]
        else:
            profile_dir = argv[1]
        argv = argv[2:]
    levels = ["O0", "O2"]
    shape_count = {lv: collections.Counter() for lv in levels}
    shape_enc = collections.defaultdict(set)
    shape_mnem = {}
    mnem_count = {lv: collections.Counter() for lv in levels}
    form_count = {lv: collections.Counter() for lv in levels}
    prefix_count = {lv: collections.Counter() for lv in levels}
    per_file = []
    unknown = []
    for path in argv:
        name = os.path.basename(path)
        lv = "O2" if name.endswith("-O2.elf") else "O0"
        insns = disassemble(path)
        fshapes = set()
        prof = None
        if profile_dir is not None:
            prof = load_profile(os.path.join(profile_dir, name[:-len(".elf")] + ".prof"))
            known = {insn.addr for insn in insns}
            stray = [a for a in prof if a not in known]
            if stray:
                sys.stderr.write(f"insn_stats.py: {name}: executed addresses outside the disassembly: "
                                 f"{[hex(a) for a in stray[:5]]}\n")
                return 1
        executed = 0
        for insn in insns:
            weight = 1 if prof is None else prof.get(insn.addr, 0)
            if weight == 0:
                continue
            executed += weight
            mnem, shape = shape_of(insn)
            if "?" in shape:
                unknown.append(f"{name}: {insn.addr:x}: {insn.text} -> {shape}")
            enc = encoding(insn.prefixes, insn.opcode, insn.modrm, 0x66 in insn.prefixes)
            shape_count[lv][shape] += weight
            shape_enc[shape].add(enc)
            shape_mnem[shape] = mnem
            mnem_count[lv][mnem] += weight
            fshapes.add(shape)
            if insn.form:
                form_count[lv][insn.form] += weight
            for p in insn.prefixes:
                desc = {0x66: "66 (operand size 16)", 0xF3: "F3 (rep/repe)", 0xF2: "F2 (repne)",
                        0x67: "67 (address size 16)", 0xF0: "F0 (lock)"}.get(p, f"{p:02X} (segment override)")
                prefix_count[lv][desc] += weight
        per_file.append((path[len(strip):] if strip and path.startswith(strip) else path,
                         executed if prof is not None else len(insns), len(fshapes)))

    if unknown:
        sys.stderr.write("insn_stats.py: could not classify some operands:\n  " + "\n  ".join(unknown[:40]) + "\n")
        return 1

    def tot(c):
        return sum(c.values())

    all_shapes = sorted(set(shape_count["O0"]) | set(shape_count["O2"]), key=lambda s: (shape_mnem[s], s))
    all_mnems = sorted(set(mnem_count["O0"]) | set(mnem_count["O2"]))
    w = []
    if profile_dir is None:
        w.append("# Instructions emitted by gcc in the C test programs")
        w.append("")
        w.append("Generated by `build.sh` (`tools/insn_stats.py`) from `objdump -d -w -M intel` over every")
        w.append("`build/*.elf`; do not edit by hand. Counts are **static** (occurrences in `.text` of all five")
        w.append("programs together, `crt0` and `lib` included in each), split by the `-O0` and `-O2` builds.")
        w.append("Compiler flags: `-m32 -march=i386 -mno-80387 -ffreestanding -fno-pic` (see README.md).")
        w.append("How often each form is *executed* is in PROFILE.md.")
        col = "instructions in .text"
    else:
        w.append("# Executed instructions (dynamic profile) of the C test programs")
        w.append("")
        w.append("Generated by `build.sh --count` (`tools/run-native.c` single-steps every `build/*.elf` as a")
        w.append("native 32-bit process under ptrace, `tools/insn_stats.py` maps each executed address to its")
        w.append("form); do not edit by hand. Counts are **dynamic**: executions summed over the five programs,")
        w.append("split by `-O0` / `-O2`. A `rep` string instruction counts once per iteration (the CPU traps")
        w.append("after each one when single-stepping). Forms never executed do not appear; INSTRUCTIONS.md")
        w.append("lists all forms present in the images.")
        col = "executed instructions"
    w.append("")
    w.append("Shape notation: `r8`/`r16`/`r32` register, `m8`/`m16`/`m32` memory of that size (`m` = no size:")
    w.append("`lea`), `moffs` = absolute address without ModRM (`A0`-`A3`), `imm8`/`imm16`/`imm32` immediate as")
    w.append("encoded (`imm8` of a 32-bit operation is sign-extended: `83`, `6B`, `6A`), `rel8`/`rel32` branch")
    w.append("displacement, `1` the implicit shift count of `D0`/`D1`. Implicit or fixed registers are spelled")
    w.append("out (`cl` shift counts, `dx`/`al`/`eax` in `out`, accumulator short forms such as `05 id`). Encoding:")
    w.append("prefix bytes, opcode, `/r` (ModRM) or `/digit` (ModRM reg field selects the operation), `+r`")
    w.append("(register in the opcode), `ib`/`iw`/`id` immediate, `cb`/`cd` relative branch.")
    w.append("")
    w.append("## Per image")
    w.append("")
    w.append(f"| image | {col} | distinct forms |")
    w.append("| --- | ---: | ---: |")
    for name, n, d in per_file:
        w.append(f"| `{name}` | {n} | {d} |")
    w.append("")
    w.append(f"Distinct forms: {len(set(shape_count['O0']))} at -O0, {len(set(shape_count['O2']))} at -O2, "
             f"{len(all_shapes)} in all; distinct mnemonics: {len(all_mnems)}.")
    w.append("")
    if profile_dir is not None:
        both = collections.Counter()
        for lv in levels:
            both.update(shape_count[lv])
        t0, t2 = tot(shape_count["O0"]), tot(shape_count["O2"])
        w.append("## The 40 most executed forms")
        w.append("")
        w.append("| form | -O0 | % of -O0 | -O2 | % of -O2 |")
        w.append("| --- | ---: | ---: | ---: | ---: |")
        for sh, _ in sorted(both.items(), key=lambda kv: (-kv[1], kv[0]))[:40]:
            a, b = shape_count["O0"][sh], shape_count["O2"][sh]
            w.append(f"| `{sh}` | {a} | {100.0 * a / t0:.2f} | {b} | {100.0 * b / t2:.2f} |")
        w.append("")
    w.append("## Mnemonics")
    w.append("")
    w.append("| mnemonic | -O0 | -O2 |")
    w.append("| --- | ---: | ---: |")
    for m in all_mnems:
        w.append(f"| `{m}` | {mnem_count['O0'][m]} | {mnem_count['O2'][m]} |")
    w.append(f"| **total** | **{tot(mnem_count['O0'])}** | **{tot(mnem_count['O2'])}** |")
    w.append("")
    w.append("## Instruction forms")
    w.append("")
    w.append("| form | encoding | -O0 | -O2 |")
    w.append("| --- | --- | ---: | ---: |")
    for s in all_shapes:
        enc = ", ".join(f"`{e}`" for e in sorted(shape_enc[s]))
        w.append(f"| `{s}` | {enc} | {shape_count['O0'][s]} | {shape_count['O2'][s]} |")
    w.append("")
    w.append("## 8-bit and 16-bit forms")
    w.append("")
    w.append("The forms above with a byte or word operand, `cl` shift counts and `imm16` included (the")
    w.append("16-bit operations carry the `66` prefix); counts are -O0 / -O2:")
    w.append("")
    narrow = [s for s in all_shapes if re.search(r"\b(r8|m8|r16|m16|imm16|al|ax|cl|dx)\b", s)
              and "2-byte nop" not in s]
    for s in narrow:
        enc = ", ".join(f"`{e}`" for e in sorted(shape_enc[s]))
        w.append(f"- `{s}` ({enc}): {shape_count['O0'][s]} / {shape_count['O2'][s]}")
    w.append("")
    w.append("## Prefixes")
    w.append("")
    w.append("| prefix byte | -O0 | -O2 |")
    w.append("| --- | ---: | ---: |")
    for p in sorted(set(prefix_count["O0"]) | set(prefix_count["O2"])):
        w.append(f"| {p} | {prefix_count['O0'][p]} | {prefix_count['O2'][p]} |")
    w.append("")
    w.append("## Memory addressing forms (ModRM/SIB, 32-bit addressing)")
    w.append("")
    w.append("`reg` = any base register encoded in ModRM.rm, `ebp` = rm 101 with a displacement, `esp` =")
    w.append("base 100 in a SIB byte, `base`/`index` = SIB registers; no `67` (16-bit addressing) occurs.")
    w.append("")
    w.append("| form | -O0 | -O2 |")
    w.append("| --- | ---: | ---: |")
    for f in sorted(set(form_count["O0"]) | set(form_count["O2"])):
        w.append(f"| `{f}` | {form_count['O0'][f]} | {form_count['O2'][f]} |")
    w.append("")
    sys.stdout.write("\n".join(w) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
