#!/usr/bin/env bash
# Times `strip-nd diff` on two 1 GB trees that differ in 10 files against
# `strip-nd hash` on both trees, and prints the ratio (the target is <= 1.5).
#
# Needs hyperfine (apt-get install -y hyperfine). Usage: benches/diff.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
work=${1:-$(mktemp -d /tmp/strip-nd-diff.XXXXXX)}
cargo build --release --quiet
bin=$PWD/target/release/strip-nd
a=$work/a
b=$work/b
if [ ! -d "$a" ]; then
    mkdir -p "$a/big" "$a/small"
    # 64 files of 8 MiB and 20000 small files of ~25 KiB: about 1 GB.
    for i in $(seq 1 64); do head -c $((8 << 20)) /dev/urandom > "$a/big/f$i"; done
    python3 - "$a/small" <<'PY'
import os, random, sys
rng = random.Random(7)
base = sys.argv[1]
for d in range(100):
    os.makedirs(f"{base}/d{d}", exist_ok=True)
    for i in range(200):
        with open(f"{base}/d{d}/f{i}.txt", "wb") as f:
            f.write(rng.randbytes(rng.randint(20000, 30000)))
PY
    cp -a "$a" "$b"
    # Ten differences: some small files and one large one.
    for i in $(seq 1 9); do echo "built $(date)" >> "$b/small/d$((i * 10))/f$i.txt"; done
    printf 'X' | dd of="$b/big/f7" bs=1 seek=4000000 conv=notrunc status=none
fi
echo "trees: $(du -sh "$a" | cut -f1) each, $(find "$a" -type f | wc -l) files" >&2
hyperfine --warmup 1 --runs "$runs" --export-json "$work/diff.json" \
    -n "hash both" "'$bin' hash '$a' && '$bin' hash '$b'" \
    -n "diff" "'$bin' diff '$a' '$b' > /dev/null; test \$? -eq 1"
python3 - "$work/diff.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"diff / hash both: {r['diff'] / r['hash both']:.2f}x (target <= 1.5)")
PY
"$bin" diff "$a" "$b" | tail -n 3 || true  # exit 1: the trees differ, as made
