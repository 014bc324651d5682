#!/usr/bin/env bash
# Peak memory and wall time of strip-nd on big files and on a big tree
# (issue 12, "memory bounded by a budget"). Makes with the real tools, in
# WORKDIR (default /tmp/strip-nd-mem):
#
#   zip      a stored zip (`zip -0`) of one SIZE-byte file
#   tar      a GNU tar of three files of SIZE/3 bytes with current mtimes
#   tar.gz   that tar gzipped without -n (`gzip -6 -k`: the header records
#            the name "big.tar" and the tar's mtime)
#   gz       one SIZE-byte file gzipped without -n (name and mtime recorded)
#   jar      a jar of 100,000 small members (`zip -r`, with a manifest)
#
# then runs the release strip-nd on a fresh copy of each alone, and on a copy
# of all five together with -j2, and prints peak RSS (GNU time's %M) beside
# the 256 MiB target, and wall time as ratios (target <= 1.3x) against two
# floors:
#
#   cat   what the format forces to be read or computed, as issue 12 names
#         it: reading the file (`cat f >/dev/null`) for zip, tar, jar and gz
#         (whose deflate stream is copied, not recompressed); inflating and
#         deflating at the level it was made with for the tar.gz (`gzip -dc
#         f | gzip -6 >/dev/null`: its tar changes). Nothing is written.
#   cp    the same plus writing the result whole to a new file in the same
#         directory, which a rewrite cannot avoid (it is written to a temp
#         file and renamed over the old one, so a crash leaves the old file or
#         the new): `cp f copy` (copy_file_range, the cheapest way to write a
#         copy), and `gzip -dc f | gzip -6 >copy` for the tar.gz. The rename
#         over the old file is not in it: on ext4 that starts the new file's
#         writeback (auto_da_alloc), which strip-nd pays and cp does not.
#
# The ratios are given for the normalize phase (from the --json report's
# phases_ms) and for the whole run (self-check included: it hashes twice and
# normalizes again, so it cannot meet 1.3x by construction). Finally four
# copies of the man tree of benches/compare.sh (benches/trees.sh) in one run:
# peak RSS against its 100 MiB target.
#
# The data is one 1 MiB pseudo-random block (Python's random.Random(12),
# so the same on every machine) repeated: cheap to make, and incompressible
# for deflate, whose 32 KiB window never reaches the previous copy, so gzip
# works as hard as on real compressed payloads.
#
# Environment:
#   SIZE   bytes of each big file, with a K/M/G suffix (default 3G; 300M for a quick try)
#   KEEP   1 keeps the made files (the inputs are reused by the next run)
#   BIN    the strip-nd to measure (default: cargo build --release, target/release/strip-nd)
#   FLAGS  extra strip-nd flags, e.g. FLAGS="--memory 256M"
#   FRESH_GZ  fresh .gz files of the man tree (default 3000, as compare.sh)
#   PARTS  what to run (default "files man": the big files, the man tree x4)
#   FLOOR_RUNS  runs of each floor, the fastest counted (default 3)
#
# Needs GNU time (apt-get install -y time), zip, GNU tar, gzip, python3,
# and about 9x SIZE of free disk (inputs, one case's copy, then all copies).
# Not run in CI: it is a bench. Usage: SIZE=300M benches/memory.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-/tmp/strip-nd-mem}
size=$(numfmt --from=iec "${SIZE:-3G}")
keep=${KEEP:-0}
flags=${FLAGS:-}
parts=" ${PARTS:-files man} "
floor_runs=${FLOOR_RUNS:-3}
epoch=315532800
target_mib=256
tree_target_mib=100

for tool in /usr/bin/time zip tar gzip python3 numfmt; do
    command -v "$tool" >/dev/null || { echo "memory.sh needs $tool (GNU time: apt-get install -y time)" >&2; exit 2; }
done
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$repo/target/release/strip-nd
fi
bin=$BIN
mkdir -p "$work"
in=$work/inputs
run=$work/run
rm -rf "$run"
cleanup() {
    rm -rf "$run" "$work/man"
    if [ "$keep" != 1 ]; then rm -rf "$in"; fi
}
trap cleanup EXIT

# `mkdata FILE BYTES`: the repeated pseudo-random block.
mkdata() {
    python3 - "$1" "$2" <<'PY'
import random, sys
block = random.Random(12).randbytes(1 << 20)
left = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    while left > 0:
        f.write(block[: min(left, len(block))])
        left -= len(block)
PY
}

stamp=$in/.made-$size
if [[ $parts == *" files "* && ! -e $stamp ]]; then
    echo "making the inputs in $in (SIZE=$size)" >&2
    rm -rf "$in" && mkdir -p "$in/src/one" "$in/src/three"
    mkdata "$in/src/one/data.bin" "$size"
    third=$((size / 3))
    for k in 1 2 3; do mkdata "$in/src/three/part$k.bin" "$third"; done
    (cd "$in/src/one" && zip -q -0 "$in/big.zip" data.bin)
    tar cf "$in/big.tar" -C "$in/src/three" .
    gzip -6 -k "$in/big.tar"
    # gzip of the file itself (not -c of a pipe) records its name and mtime.
    gzip -6 "$in/src/one/data.bin"
    mv "$in/src/one/data.bin.gz" "$in/"
    rm -rf "$in/src"
    # 100,000 small members in 100 directories, written by one python3
    # process (a shell loop would take minutes), then zipped.
    python3 - "$in/jar" <<'PY'
import os, sys
root = sys.argv[1]
os.makedirs(f"{root}/META-INF")
with open(f"{root}/META-INF/MANIFEST.MF", "w") as f:
    f.write("Manifest-Version: 1.0\nCreated-By: memory.sh\n\n")
for d in range(100):
    os.makedirs(f"{root}/org/example/p{d}")
    for i in range(1000):
        with open(f"{root}/org/example/p{d}/C{i}.class", "w") as f:
            f.write(f"member {d}/{i} of the memory bench\n" * 4)
PY
    (cd "$in/jar" && zip -q -r -D "$in/big.jar" META-INF org)
    rm -rf "$in/jar"
    touch "$stamp"
fi

# `seconds COMMAND`: wall seconds of a shell command, the fastest of
# FLOOR_RUNS runs (a floor is what the machine can do; one run of cp on a
# shared machine ranged from 0.09 to 0.81 s at 300M), each started with no
# dirty pages about (the copy just made would otherwise throttle its writes).
seconds() {
    local best="" t
    for _ in $(seq "$floor_runs"); do
        sync
        t=$(/usr/bin/time -f %e bash -c "$1" 2>&1 | tail -n 1)
        best=$(python3 -c "print(min(x for x in [$t, ${best:-$t}]))")
    done
    echo "$best"
}

# `floor CASE FILE`: seconds of the two floors, "cat cp" (see above). The
# copy is removed and synced away before strip-nd runs.
floor() {
    local copy cat cp
    copy="$(dirname "$2")/.floor-copy"
    case $1 in
        tar.gz)
            cat=$(seconds "gzip -dc '$2' | gzip -6 >/dev/null")
            cp=$(seconds "gzip -dc '$2' | gzip -6 >'$copy'") ;;
        *)
            cat=$(seconds "cat '$2' >/dev/null")
            cp=$(seconds "cp '$2' '$copy'") ;;
    esac
    rm -f "$copy"
    sync
    echo "$cat $cp"
}

# `measure LABEL "CAT CP" PATH...`: runs strip-nd on PATH..., prints a row.
measure() {
    local label=$1 floors=$2
    shift 2
    sync
    # shellcheck disable=SC2086
    /usr/bin/time -o "$work/time.txt" -f '%M %e' "$bin" --json -j2 --epoch $epoch $flags "$@" \
        > "$work/report.json" 2>"$work/stderr.txt" || {
        echo "strip-nd failed on $label:" >&2; cat "$work/stderr.txt" >&2; exit 1; }
    read -r kib wall < "$work/time.txt"
    python3 - "$label" "$kib" "$wall" "$floors" "$target_mib" "$work/report.json" <<'PY'
import json, sys
label, kib, wall, floors, target, report = sys.argv[1:]
r = json.load(open(report))
norm = dict(r["phases_ms"]).get("normalize", 0) / 1000
mib = int(kib) / 1024
wall = float(wall)
cat, cp = map(float, floors.split())
def ratios(t):
    x = lambda f: f"{t / f:5.2f}x" if f > 0 else "  n/a"
    return f"{t:7.2f} s = {x(cat)} cat, {x(cp)} cp"
print(f"{label:16s} {mib:8.1f} MiB (target {target} MiB{', OVER' if mib > int(target) else ''})"
      f"  normalize {ratios(norm)}; whole run {ratios(wall)}"
      f"  (floors cat {cat:.2f} s, cp {cp:.2f} s; target 1.3x); rewrote {len(r['changes'])}, malformed {len(r['malformed'])}, skipped {len(r['skipped'])}")
PY
}

echo "strip-nd $("$bin" --version | cut -d' ' -f2), SIZE=$size, $(nproc) cores, flags: ${flags:-none}"
if [[ $parts == *" files "* ]]; then
declare -A file=([zip]=big.zip [tar]=big.tar [tar.gz]=big.tar.gz [gz]=data.bin.gz [jar]=big.jar)
cases=(zip tar tar.gz gz jar)
total_cat=0
total_cp=0
for c in "${cases[@]}"; do
    rm -rf "$run" && mkdir -p "$run"
    cp "$in/${file[$c]}" "$run/"
    read -r fcat fcp <<<"$(floor "$c" "$run/${file[$c]}")"
    total_cat=$(python3 -c "print($total_cat + $fcat)")
    total_cp=$(python3 -c "print($total_cp + $fcp)")
    measure "$c" "$fcat $fcp" "$run"
done
rm -rf "$run" && mkdir -p "$run"
for c in "${cases[@]}"; do cp "$in/${file[$c]}" "$run/"; done
measure "all five, -j2" "$total_cat $total_cp" "$run"
# The issue's worst case: two .tar.gz at once; the budget decides whether
# both are in memory together.
rm -rf "$run" && mkdir -p "$run/a" "$run/b"
cp "$in/big.tar.gz" "$run/a/" && cp "$in/big.tar.gz" "$run/b/"
read -r fcat fcp <<<"$(floor tar.gz "$run/a/big.tar.gz")"
measure "two tar.gz, -j2" "$(python3 -c "print(2 * $fcat, 2 * $fcp)")" "$run"
rm -rf "$run"
fi
[[ $parts == *" man "* ]] || exit 0

# Four copies of the man tree in one run: the report must not grow with it.
template=$work/man/template
fresh=${FRESH_GZ:-3000}
. benches/trees.sh
echo "building the man tree in $template" >&2
mkdir -p "$template"
build_man
big=$work/man/big
mkdir -p "$big"
for k in 1 2 3 4; do cp -a "$template" "$big/copy$k"; done
files=$(find "$big" -type f | wc -l)
sync
# shellcheck disable=SC2086
/usr/bin/time -o "$work/time.txt" -f '%M %e' "$bin" -q -j2 --epoch $epoch $flags "$big"
read -r kib wall < "$work/time.txt"
python3 -c "import sys; mib = $kib / 1024; print(f'man tree x4       {mib:8.1f} MiB (target $tree_target_mib MiB{\", OVER\" if mib > $tree_target_mib else \"\"})  whole run $wall s, $files files')"
