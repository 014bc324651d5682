#!/usr/bin/env bash
# Format by format, which tool makes two builds agree: every two-clock pair of
# the corpus (corpus/<fmt>/<case>.1.<ext> and .2.<ext>, made by real tools at
# two clocks) is copied, under its own name, for strip-nd, add-determinism
# (add-det) and Debian's strip-nondeterminism; each tool runs on its copies
# with the same epoch; a pair "converges" when the tool leaves the two files
# byte-identical. Prints a Markdown table: converged pairs per format and tool.
#
# Needs: strip-nondeterminism (apt-get install -y strip-nondeterminism) and
# add-det (cargo install add-determinism). Usage: benches/peer-formats.sh [WORKDIR]
# The peers choose files by extension (add-det: .a .gz .html .jar .pyc .zip;
# strip-nondeterminism: also .cpio .mo .png .jmod .uimage .whl ... and
# file(1)); strip-nd by content. Corpus names are the producers' usual ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
epoch=315532800
for tool in add-det strip-nondeterminism; do
    command -v "$tool" >/dev/null || { echo "peer-formats: needs $tool" >&2; exit 2; }
done
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
snd="$root/target/release/strip-nd"
tools=(strip-nd add-det strip-nondeterminism)
rm -rf "$work/copies"
for t in "${tools[@]}"; do
    for one in "$root"/corpus/*/*.1.*; do
        fmt=$(basename "$(dirname "$one")")
        two=${one/.1./.2.}
        [ -f "$two" ] || continue
        cmp -s "$one" "$two" && continue
        mkdir -p "$work/copies/$t/$fmt/1" "$work/copies/$t/$fmt/2"
        name=$(basename "$one" | sed 's/\.1\././')
        cp "$one" "$work/copies/$t/$fmt/1/$name"
        cp "$two" "$work/copies/$t/$fmt/2/$name"
    done
done
"$snd" -q --epoch "$epoch" "$work/copies/strip-nd" || true
SOURCE_DATE_EPOCH=$epoch add-det "$work/copies/add-det" >/dev/null 2>&1 || true
find "$work/copies/strip-nondeterminism" -type f -print0 |
    xargs -0 -n 50 strip-nondeterminism -T "$epoch" --clamp-timestamp >/dev/null 2>&1 || true

echo "| format | pairs | strip-nd | add-det | strip-nondeterminism |"
echo "|---|---|---|---|---|"
for dir in "$work/copies/strip-nd"/*/; do
    fmt=$(basename "$dir")
    pairs=$(find "$dir/1" -type f | wc -l)
    row="| $fmt | $pairs"
    for t in "${tools[@]}"; do
        ok=0
        for f in "$work/copies/$t/$fmt/1"/*; do
            cmp -s "$f" "$work/copies/$t/$fmt/2/$(basename "$f")" && ok=$((ok + 1))
        done
        row="$row | $ok"
    done
    echo "$row |"
done
