#!/usr/bin/env bash
# Times strip-nd against add-determinism (add-det) and Debian's
# strip-nondeterminism on fresh copies of the same tree, all cores each, and
# prints the ratios; then NAR hashing against sha256sum and nix.
#
# TREE picks the tree (default man):
#   man       this machine's /usr/share/man and /usr/share/locale, plus
#             $FRESH_GZ (default 3000) freshly made .gz files without -n
#   archives  /usr/share/java/*.jar, and a zip and a tar.gz made now of each of
#             the first $ARCHIVES (default 300) directories of /usr/share/doc
#   pyc       the local Python's stdlib (pyenv's, else /usr/lib/python3.*),
#             compiled with compileall (timestamp pycs), plus every .mo of
#             /usr/share/locale and every PNG under /usr/share
#
# Needs: hyperfine, GNU time, strip-nondeterminism, nix-bin, zip (apt-get
# install -y hyperfine time strip-nondeterminism nix-bin zip) and add-det
# (cargo install add-determinism). Usage: TREE=man benches/compare.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
epoch=315532800
cores=$(nproc)
runs=${RUNS:-5}
fresh=${FRESH_GZ:-3000}
archives=${ARCHIVES:-300}
tree=${TREE:-man}
work=${1:-$(mktemp -d /tmp/strip-nd-compare-$tree.XXXXXX)}
mkdir -p "$work"
export NIX_CONFIG=$'substituters =\nexperimental-features = nix-command\nsandbox = false'

for tool in hyperfine add-det strip-nondeterminism nix-store /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "compare.sh needs $tool" >&2; exit 2; }
done
cargo build --release --quiet
bin=$PWD/target/release/strip-nd

template=$work/template
# build_man, build_archives, build_pyc: shared with benches/memory.sh.
. benches/trees.sh
if [ ! -d "$template" ]; then
    echo "building the $tree tree in $template" >&2
    mkdir -p "$template"
    "build_$tree"
fi
files=$(find "$template" -type f | wc -l)
bytes=$(du -sb "$template" | cut -f1)
echo "tree: $files files, $bytes bytes; $cores cores; $runs runs each" >&2

# Each timed run gets its own copy of the tree, all made up front and synced,
# and nothing is deleted until the end: deleting tens of thousands of files
# makes ext4's inode allocator slow for minutes afterwards (recently_deleted),
# which would charge one tool for another's cleanup.
run=$work/run
copies=$work/copies
trash=$work/trash
names=(strip-nd strip-nd-no-self-check add-det strip-nondeterminism)
rm -rf "$copies" "$trash" "$run"
mkdir -p "$trash"
for name in "${names[@]}"; do
    mkdir -p "$copies/$name"
    for i in $(seq 1 "$runs"); do cp -a "$template" "$copies/$name/$i"; done
done
sync
sleep 120

declare -A cmds=(
    [strip-nd]="'$bin' -q -j$cores --epoch $epoch '$run'"
    [strip-nd-no-self-check]="'$bin' -q -j$cores --epoch $epoch --no-self-check '$run'"
    [add-det]="SOURCE_DATE_EPOCH=$epoch add-det -j$cores '$run' >/dev/null 2>&1"
    [strip-nondeterminism]="find '$run' -type f -print0 | xargs -0 -P$cores -n 200 strip-nondeterminism -T $epoch --clamp-timestamp"
)
for name in "${names[@]}"; do
    prepare="mv '$run' '$trash'/\$(date +%s%N) 2>/dev/null || true; mv \"\$(ls -d '$copies/$name'/* | head -n 1)\" '$run'"
    hyperfine --runs "$runs" --prepare "$prepare" --export-json "$work/$name.json" \
        -n "$name" "${cmds[$name]}"
done
mv "$run" "$trash/last"

python3 - "$work" <<'PY'
import json, sys
r = {}
for name in ["strip-nd", "strip-nd-no-self-check", "add-det", "strip-nondeterminism"]:
    res = json.load(open(f"{sys.argv[1]}/{name}.json"))["results"][0]
    r[name] = (res["mean"], res["stddev"] or 0.0)
base = r["strip-nd"][0]
for name, (t, sd) in r.items():
    print(f"{name:24s} {t:8.3f} s ± {sd:.3f}   {t / base:6.2f}x the time of strip-nd")
PY

# What each tool left: how many files strip-nd would still rewrite, and the NAR hash.
for name in strip-nd add-det strip-nondeterminism; do
    rm -rf "$run" && cp -a "$template" "$run"
    bash -c "${cmds[$name]}" || true
    left=$("$bin" --check --no-mtimes --json "$run" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["changes"]))' || true)
    echo "$name: strip-nd would still rewrite $left files; NAR $("$bin" hash "$run")"
done

# Peak memory of a whole run, on the tree and on a tree four times as large.
rm -rf "$run" && cp -a "$template" "$run"
rss1=$(/usr/bin/time -f %M "$bin" -q -j"$cores" --epoch $epoch "$run" 2>&1 >/dev/null | tail -n 1)
big=$work/big
rm -rf "$big" && mkdir -p "$big"
for k in 1 2 3 4; do cp -a "$template" "$big/copy$k"; done
rss4=$(/usr/bin/time -f %M "$bin" -q -j"$cores" --epoch $epoch "$big" 2>&1 >/dev/null | tail -n 1)
rm -rf "$big" "$copies" "$trash" "$run"
echo "peak RSS: ${rss1} KiB on the tree, ${rss4} KiB on 4x the tree"

# NAR hashing: strip-nd hash vs sha256sum over the same NAR bytes, and vs nix.
nix-store --dump "$template" > "$work/tree.nar"
narbytes=$(stat -c %s "$work/tree.nar")
hyperfine --warmup 1 --runs "$runs" --export-json "$work/hash.json" \
    -n "strip-nd hash" "'$bin' hash '$template'" \
    -n "sha256sum of the NAR" "sha256sum '$work/tree.nar'" \
    -n "nix hash path" "nix hash path '$template'"
python3 - "$work/hash.json" "$narbytes" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
for name, t in r.items():
    print(f"{name:24s} {n / t / 1e6:8.1f} MB/s")
print(f"strip-nd hash / sha256sum throughput: {r['sha256sum of the NAR'] / r['strip-nd hash']:.2f}x")
print(f"strip-nd hash / nix hash path throughput: {r['nix hash path'] / r['strip-nd hash']:.2f}x")
PY
