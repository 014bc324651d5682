#!/usr/bin/env bash
# Issue 13's targets, each printed as "measured / reference = ratio (target)"
# with both times, all measured in this one run on fresh copies of one tree:
#   (a) TREE=man, tree already normalized, whole run with self-check
#       / nix-hash --type sha256 of that tree                       <= 1.25
#   (b) TREE=man, first pass with self-check / add-det              <= 2, and
#       strip-nd leaves nothing it would still rewrite
#   (c) TREE=pyc, strip-nd / add-det                                <= 0.25
#   (d) TREE=archives, strip-nd / floor                             <= 1.25,
#       floor = inflating and deflating every .tar.gz payload at its level
#       (gzip, all cores) plus one NAR hash of the tree
#   (e) TREE=man, strip-nd hash / nix hash path                     <= 0.5, and
#       strip-nd hash of $LARGE_FILES files of $LARGE_MIB MiB / the time
#       `openssl speed -evp sha256` (one core) needs for those bytes <= 1.25
#       (that is, at least 0.8x its throughput)
# It also times strip-nd (with and without self-check) against add-det and
# Debian's strip-nondeterminism on a first pass, and prints peak memory.
#
# Usage: [TREE=man|archives|pyc] [RUNS=5] [FRESH_GZ=3000] [ARCHIVES=300]
#        [LARGE_MIB=256] [LARGE_FILES=4] [SETTLE=120] benches/compare.sh [WORKDIR]
# A quick try: RUNS=2 SETTLE=0 FRESH_GZ=100 LARGE_MIB=32 benches/compare.sh
# (WORKDIR keeps the built tree between calls; the default is a new /tmp dir.)
#
# TREE picks the tree (default man):
#   man       this machine's /usr/share/man and /usr/share/locale, plus
#             $FRESH_GZ (default 3000) freshly made .gz files without -n
#   archives  /usr/share/java/*.jar, and a zip and a tar.gz made now of each of
#             the first $ARCHIVES (default 300) directories of /usr/share/doc
#   pyc       the local Python's stdlib (pyenv's, else /usr/lib/python3.*),
#             compiled with compileall (timestamp pycs), plus every .mo of
#             /usr/share/locale and every PNG under /usr/share
# SETTLE is how long to wait after copying the trees (see below).
#
# Needs: hyperfine, GNU time, strip-nondeterminism, nix-bin, zip, openssl
# (apt-get install -y hyperfine time strip-nondeterminism nix-bin zip openssl)
# and add-det (cargo install add-determinism).
set -euo pipefail
cd "$(dirname "$0")/.."
epoch=315532800
cores=$(nproc)
runs=${RUNS:-5}
fresh=${FRESH_GZ:-3000}
archives=${ARCHIVES:-300}
large_mib=${LARGE_MIB:-256}
large_files=${LARGE_FILES:-4}
settle=${SETTLE:-120}
tree=${TREE:-man}
work=${1:-$(mktemp -d /tmp/strip-nd-compare-$tree.XXXXXX)}
mkdir -p "$work"
export NIX_CONFIG=$'substituters =\nexperimental-features = nix-command\nsandbox = false'

for tool in hyperfine add-det strip-nondeterminism nix-store nix-hash openssl gzip /usr/bin/time; do
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
# (a): the tree as strip-nd leaves it, and fresh copies of that.
norm=$work/normalized
rm -rf "$norm" && cp -a "$template" "$norm"
"$bin" -q -j"$cores" --epoch $epoch "$norm" || true
names+=(strip-nd-on-normalized)
mkdir -p "$copies/strip-nd-on-normalized"
for i in $(seq 1 "$runs"); do cp -a "$norm" "$copies/strip-nd-on-normalized/$i"; done
sync
sleep "$settle"

declare -A cmds=(
    [strip-nd]="'$bin' -q -j$cores --epoch $epoch '$run'"
    [strip-nd-no-self-check]="'$bin' -q -j$cores --epoch $epoch --no-self-check '$run'"
    [add-det]="SOURCE_DATE_EPOCH=$epoch add-det -j$cores '$run' >/dev/null 2>&1"
    [strip-nondeterminism]="find '$run' -type f -print0 | xargs -0 -P$cores -n 200 strip-nondeterminism -T $epoch --clamp-timestamp"
    [strip-nd-on-normalized]="'$bin' -q -j$cores --epoch $epoch '$run'"
)
# Each copy is read once just before its run: a copy made minutes earlier may
# have left the page cache (seen here: a kernel that reclaims cold pages, so
# the same run on the normalized tree took 3.3 s cold and 0.9 s warm), and
# the references (nix-hash, nix hash path) are timed warm.
for name in "${names[@]}"; do
    prepare="mv '$run' '$trash'/\$(date +%s%N) 2>/dev/null || true; mv \"\$(ls -d '$copies/$name'/* | head -n 1)\" '$run'; find '$run' -type f -print0 | xargs -0 cat > /dev/null"
    hyperfine --runs "$runs" --prepare "$prepare" --export-json "$work/$name.json" \
        -n "$name" "${cmds[$name]}"
done
mv "$run" "$trash/last"

python3 - "$work" <<'PY'
import json, sys
r = {}
for name in ["strip-nd", "strip-nd-no-self-check", "add-det", "strip-nondeterminism", "strip-nd-on-normalized"]:
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
    echo "$left" > "$work/left-$name"
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
rm -f "$work/tree.nar"
python3 - "$work/hash.json" "$narbytes" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
for name, t in r.items():
    print(f"{name:24s} {n / t / 1e6:8.1f} MB/s")
print(f"strip-nd hash / sha256sum throughput: {r['sha256sum of the NAR'] / r['strip-nd hash']:.2f}x")
print(f"strip-nd hash / nix hash path throughput: {r['nix hash path'] / r['strip-nd hash']:.2f}x")
PY

# (a)'s reference: nix-hash over the normalized tree.
hyperfine --warmup 1 --runs "$runs" --export-json "$work/nix-hash.json" \
    -n "nix-hash --type sha256" "nix-hash --type sha256 '$norm'"

# (e)'s large files, and openssl's single-core sha256 throughput.
large=$work/large
if [ "$(find "$large" -type f -size "${large_mib}M" 2>/dev/null | wc -l)" != "$large_files" ]; then
    rm -rf "$large" && mkdir -p "$large"
    for i in $(seq 1 "$large_files"); do
        head -c "$((large_mib << 20))" /dev/urandom > "$large/f$i"
    done
fi
hyperfine --warmup 1 --runs "$runs" --export-json "$work/large.json" \
    -n "strip-nd hash (large files)" "'$bin' hash '$large'"
openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null | tail -n 1 > "$work/openssl.txt"
largebytes=$(nix-store --dump "$large" | wc -c)

# (d)'s floor: every .tar.gz inflated and deflated again at the level its
# header records (XFL 2: -9, 4: -1, else the default -6), on all cores, then
# one NAR hash of the tree.
if [ "$tree" = archives ]; then
    cat > "$work/recompress.sh" <<'SH'
for f; do
    case $(od -An -tu1 -j8 -N1 "$f" | tr -d ' ') in 2) l=9 ;; 4) l=1 ;; *) l=6 ;; esac
    gzip -dc "$f" | gzip "-$l" > /dev/null
done
SH
    hyperfine --warmup 1 --runs "$runs" --export-json "$work/floor.json" -n "floor" \
        "find '$template' -name '*.tar.gz' -print0 | xargs -0 -r -P$cores -n 4 sh '$work/recompress.sh'; '$bin' hash '$template' > /dev/null"
fi

echo
echo "issue 13 targets (TREE=$tree; means of $runs runs; measured / reference = ratio):"
python3 - "$work" "$tree" "$largebytes" <<'PY'
import json, os, sys
work, tree, largebytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
def mean(name, command=None):
    res = json.load(open(f"{work}/{name}.json"))["results"]
    return next(x["mean"] for x in res if command is None or x["command"] == command)
def line(tag, what, m, ref, r, target):
    print(f"({tag}) {what}: {m:.3f} s / {ref} {r:.3f} s = {m / r:.2f} (target {target})")
first = mean("strip-nd")
if tree == "man":
    line("a", "strip-nd on the normalized tree, with self-check", mean("strip-nd-on-normalized"),
         "nix-hash --type sha256", mean("nix-hash"), "<= 1.25")
    line("b", "strip-nd first pass, with self-check", first, "add-det", mean("add-det"), "<= 2")
    left = open(f"{work}/left-strip-nd").read().strip()
    print(f"(b) files strip-nd would still rewrite after its first pass: {left} (target 0)")
if tree == "pyc":
    line("c", "strip-nd first pass, with self-check", first, "add-det", mean("add-det"),
         "<= 0.25, at least 4x faster")
if tree == "archives":
    line("d", "strip-nd first pass, with self-check", first, "floor", mean("floor"), "<= 1.25")
line("e", "strip-nd hash", mean("hash", "strip-nd hash"), "nix hash path",
     mean("hash", "nix hash path"), "<= 0.5, at least 2x faster")
fields = open(f"{work}/openssl.txt").read().split()
rate = float(fields[-1].rstrip("k")) * 1000
line("e", f"strip-nd hash of {largebytes} NAR bytes of large files", mean("large"),
     f"openssl sha256 at {rate / 1e6:.0f} MB/s", largebytes / rate, "<= 1.25, at least 0.8x the throughput")
PY
