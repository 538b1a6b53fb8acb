#!/usr/bin/env bash
# build.sh - build the vmxlab freestanding C test programs and their
# expected console output. See README.md.
#
#   ./build.sh            build build/<name>-O{0,2}.elf, expected/<name>.txt
#                         and INSTRUCTIONS.md in place, and verify them
#   ./build.sh --check    rebuild into a temporary folder and fail if anything
#                         differs from the committed files (reproducibility)
#   ./build.sh --count    also single-step every image natively (ptrace) to
#                         count executed instructions and write PROFILE.md
#                         (the dynamic profile; takes a minute or two)
#
# Needs: gcc (with -m32 code generation; no 32-bit libc needed), binutils
# (readelf, objdump), python3. The native cross-check of the ELF32 images
# needs ptrace and 32-bit process support; it is skipped with a warning
# where those are unavailable.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

PROGRAMS=(sort crc32 sieve printf mix)
OPTS=(O0 O2)

MODE=build
COUNT=0
for arg in "$@"; do
    case "$arg" in
    --check) MODE=check ;;
    --count) COUNT=1 ;;
    -h | --help)
        sed -n '2,15p' "$0"
        exit 0
        ;;
    *)
        echo "build.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if [[ $MODE == check ]]; then
    OUT="$TMP/out"
else
    OUT="."
fi
mkdir -p "$OUT/build" "$OUT/expected"

# Reproducibility: no timestamps, no absolute paths (we compile relative
# paths from this folder), fixed locale.
export LC_ALL=C
export SOURCE_DATE_EPOCH=0

COMMON_CFLAGS=(
    -std=gnu99 -Wall -Wextra -Werror
    -ffreestanding -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
    -fno-ident -g0
)
TARGET_CFLAGS=(
    -m32 -march=i386 -mno-80387 -fno-pic -fno-pie
    "${COMMON_CFLAGS[@]}"
)
TARGET_LDFLAGS=(
    -m32 -nostdlib -static -no-pie -Wl,-T,link.ld -Wl,--build-id=none -Wl,-z,noexecstack
)
HOST_CFLAGS=(
    -DVMX_HOST -fno-pic -fno-pie
    "${COMMON_CFLAGS[@]}"
)
HOST_LDFLAGS=(-nostdlib -static -no-pie -Wl,--build-id=none)

fail() {
    echo "build.sh: ERROR: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- target
for opt in "${OPTS[@]}"; do
    obj="$TMP/obj-$opt"
    mkdir -p "$obj"
    gcc "${TARGET_CFLAGS[@]}" "-$opt" -c crt0.S -o "$obj/crt0.o"
    gcc "${TARGET_CFLAGS[@]}" "-$opt" -c lib.c -o "$obj/lib.o"
    for p in "${PROGRAMS[@]}"; do
        gcc "${TARGET_CFLAGS[@]}" "-$opt" -c "$p.c" -o "$obj/$p.o"
        # crt0.o first: _start is also placed first by link.ld
        gcc "${TARGET_LDFLAGS[@]}" -o "$OUT/build/$p-$opt.elf" "$obj/crt0.o" "$obj/$p.o" "$obj/lib.o"
    done
done

# ------------------------------------------------- ELF32 header checks
for p in "${PROGRAMS[@]}"; do
    for opt in "${OPTS[@]}"; do
        elf="$OUT/build/$p-$opt.elf"
        hdr="$(readelf -hW "$elf")"
        grep -Eq '^ *Class: +ELF32$' <<<"$hdr" || fail "$elf: not ELF32"
        grep -Eq '^ *Data: +2.s complement, little endian$' <<<"$hdr" || fail "$elf: not little endian"
        grep -Eq '^ *Type: +EXEC ' <<<"$hdr" || fail "$elf: not ET_EXEC"
        grep -Eq '^ *Machine: +Intel 80386$' <<<"$hdr" || fail "$elf: not EM_386"
        grep -Eq '^ *Entry point address: +0x100000$' <<<"$hdr" || fail "$elf: entry is not 0x100000"
        # Program headers: only PT_LOAD, the first one at 0x100000.
        phdrs="$(readelf -lW "$elf" | awk '/^  [A-Z_]+ +0x/ {print $1, $3}')"
        [[ -n $phdrs ]] || fail "$elf: no program headers"
        if grep -qv '^LOAD ' <<<"$phdrs"; then fail "$elf: non-PT_LOAD program header: $phdrs"; fi
        [[ $(head -n1 <<<"$phdrs") == "LOAD 0x00100000" ]] || fail "$elf: first PT_LOAD not at 0x100000"
        # No relocations, dynamic linking, or stray sections.
        if readelf -SW "$elf" | grep -Eq ' \.(rel|rela|dynamic|interp|got|plt|eh_frame|comment|note)'; then
            fail "$elf: unexpected section"
        fi
        # The disassembly must be clean.
        if objdump -d -M intel --no-show-raw-insn "$elf" | grep -Eq '\(bad\)|<internal disassembler error>'; then
            fail "$elf: objdump finds undecodable bytes in .text"
        fi
    done
done
echo "ELF32 checks: OK (${#PROGRAMS[@]} programs x ${#OPTS[@]} levels, ELF32 EM_386 ET_EXEC, PT_LOAD only, entry 0x100000)"

# ------------------------------------------------ host expected output
for p in "${PROGRAMS[@]}"; do
    for opt in "${OPTS[@]}"; do
        exe="$TMP/host-$p-$opt"
        gcc "${HOST_CFLAGS[@]}" "-$opt" "${HOST_LDFLAGS[@]}" -o "$exe" host_shim.c lib.c "$p.c"
        set +e
        "$exe" >"$TMP/host-$p-$opt.txt"
        rc=$?
        set -e
        [[ $rc -eq 0 ]] || {
            cat "$TMP/host-$p-$opt.txt" >&2
            fail "host run of $p -$opt exited with $rc"
        }
    done
    cmp -s "$TMP/host-$p-O0.txt" "$TMP/host-$p-O2.txt" || {
        diff "$TMP/host-$p-O0.txt" "$TMP/host-$p-O2.txt" >&2 || true
        fail "host output of $p differs between -O0 and -O2"
    }
    cp "$TMP/host-$p-O0.txt" "$OUT/expected/$p.txt"
done
echo "host runs: OK (expected/*.txt written, -O0 and -O2 agree, every program exits 0)"

# ----------------------------------- native cross-check of the ELF32 images
gcc -O2 -Wall -Wextra -o "$TMP/run-native" tools/run-native.c
native=1
if ! "$TMP/run-native" "$OUT/build/${PROGRAMS[0]}-O0.elf" >/dev/null 2>"$TMP/probe.err"; then
    native=0
    echo "WARNING: native run of the ELF32 images unavailable here (needs ptrace + 32-bit support); skipped:" >&2
    sed 's/^/    /' "$TMP/probe.err" >&2
fi
if [[ $native == 1 ]]; then
    : >"$TMP/counts.txt"
    mkdir -p "$TMP/prof"
    for p in "${PROGRAMS[@]}"; do
        for opt in "${OPTS[@]}"; do
            elf="$OUT/build/$p-$opt.elf"
            args=()
            [[ $COUNT == 1 ]] && args=(--profile "$TMP/prof/$p-$opt.prof")
            set +e
            "$TMP/run-native" "${args[@]}" "$elf" >"$TMP/native.txt" 2>"$TMP/native.err"
            rc=$?
            set -e
            [[ $rc -eq 0 ]] || {
                cat "$TMP/native.err" >&2
                fail "native run of $elf exited with $rc"
            }
            cmp -s "$TMP/native.txt" "$OUT/expected/$p.txt" || {
                diff "$OUT/expected/$p.txt" "$TMP/native.txt" >&2 || true
                fail "native output of $elf differs from expected/$p.txt"
            }
            if [[ $COUNT == 1 ]]; then
                n="$(sed -n 's/^instructions: //p' "$TMP/native.err")"
                printf '%-8s %-3s %12s\n' "$p" "$opt" "$n" | tee -a "$TMP/counts.txt"
            fi
        done
    done
    echo "native runs of the ELF32 images: OK (output == expected, status 0)"
fi

# ------------------------------------------------------ INSTRUCTIONS.md
elfs=()
for p in "${PROGRAMS[@]}"; do
    for opt in "${OPTS[@]}"; do elfs+=("$OUT/build/$p-$opt.elf"); done
done
python3 tools/insn_stats.py --strip-prefix "$OUT/" "${elfs[@]}" >"$OUT/INSTRUCTIONS.md"
echo "INSTRUCTIONS.md: written"
if [[ $COUNT == 1 ]]; then
    [[ $native == 1 ]] || fail "--count needs the native runner (ptrace), unavailable here"
    python3 tools/insn_stats.py --strip-prefix "$OUT/" --profile-dir "$TMP/prof" "${elfs[@]}" >"$OUT/PROFILE.md"
    echo "PROFILE.md: written"
fi

# ------------------------------------------------------------ --check
if [[ $MODE == check ]]; then
    status=0
    for f in build/*.elf expected/*.txt INSTRUCTIONS.md; do
        [[ -e "$OUT/$f" ]] || {
            echo "stale file (not produced by build.sh): $f" >&2
            status=1
            continue
        }
    done
    produced=("$OUT"/build/*.elf "$OUT"/expected/*.txt "$OUT/INSTRUCTIONS.md")
    [[ $COUNT == 1 ]] && produced+=("$OUT/PROFILE.md")
    for f in "${produced[@]}"; do
        rel="${f#"$OUT"/}"
        if ! cmp -s "$f" "$rel"; then
            echo "differs from the committed file: $rel" >&2
            status=1
        fi
    done
    [[ $status -eq 0 ]] || fail "committed outputs are not reproducible from the sources"
    echo "check: OK (committed ELFs, expected outputs and INSTRUCTIONS.md are up to date)"
fi
