#!/bin/sh
# Runs every fuzz target once over each file of its seed corpus (no mutation):
# a cheap check, run in CI, that no seed crashes, hangs or breaks the
# fixed-point property of `strip_nd_fuzz::check`. The seed directories are the
# ones each target's doc comment names on its `cargo fuzz run` line.
# Usage (from anywhere): sh fuzz/run-seeds.sh   — builds the targets first.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
cargo build --quiet
bin="$root/fuzz/target/debug"
status=0
total=0
for src in fuzz_targets/*.rs; do
    t=$(basename "$src" .rs)
    line=$(grep -o "cargo fuzz run $t [^\`]*" "$src" || true)
    if [ -z "$line" ]; then
        echo "run-seeds: $src names no seed corpus on a 'cargo fuzz run $t' line" >&2
        exit 1
    fi
    # Drop "cargo fuzz run <t> fuzz/corpus/<t>": the rest are seed dirs.
    dirs=$(echo "$line" | cut -d" " -f6-)
    list=$(mktemp)
    for d in $dirs; do
        [ -d "$root/$d" ] || { echo "run-seeds: $t: no seed dir $d" >&2; exit 1; }
        find "$root/$d" -type f ! -name '*.sh' >> "$list"
    done
    n=$(wc -l < "$list")
    if [ "$n" -eq 0 ]; then
        echo "run-seeds: $t: no seed files in $dirs" >&2
        exit 1
    fi
    # libFuzzer runs each file given as an argument once; -timeout catches hangs.
    if xargs "$bin/$t" -timeout=60 -rss_limit_mb=2048 < "$list" > "$list.log" 2>&1; then
        echo "run-seeds: $t: $n seeds ok"
    else
        echo "run-seeds: $t: FAILED over $n seeds; last lines:" >&2
        tail -30 "$list.log" >&2
        status=1
    fi
    total=$((total + n))
    rm -f "$list" "$list.log"
done
echo "run-seeds: $total seed runs"
exit $status
