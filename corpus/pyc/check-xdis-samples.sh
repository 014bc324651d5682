#!/usr/bin/env bash
# Checks strip-nd on real pycs of other releases, pre-releases among them, that
# are not committed here (they are xdis's GPL test data): the test/bytecode_3.N
# folders of the xdis 6.3.0 sdist from PyPI. Each file is loaded before and
# after a strip-nd run with xdis (a cross-version marshal reader, pip install
# xdis) and, when the release's interpreter is found (python3.N on PATH or
# pyenv's), with that release's own marshal reader; the code objects must be
# equal (xdis's reading of references is fixed first: see dump.py below). xdis
# 6.3.0 cannot read some outputs whose FLAG_REF bits were cleared that CPython
# reads equal; those are counted as unreadable, not failures, so the figures
# for releases with no interpreter here (3.14) say how much xdis confirmed.
# Run by hand (needs PyPI); its figures go in the commit/issue note.
# Usage: corpus/pyc/check-xdis-samples.sh [path/to/strip-nd]
set -euo pipefail
cd "$(dirname "$0")"
bin=$(realpath "${1:-../../target/debug/strip-nd}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_python() {
    if "python$1" -c '' 2>/dev/null; then command -v "python$1"; return; fi
    ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1" 2>/dev/null | tail -n 1 | grep .
}

python3 -m pip download -q --no-deps --no-binary :all: xdis==6.3.0 -d "$work/sdist"
tar -xzf "$work/sdist"/xdis-6.3.0.tar.gz -C "$work"
python3 -c 'import xdis' 2>/dev/null || { echo "needs xdis: pip install xdis" >&2; exit 1; }

# A digest of every co_* field, recursively (xdis's code types for other releases).
cat > "$work/dump.py" <<'PY'
import hashlib, sys
import xdis.unmarshal as um
from xdis.load import load_module
# xdis 6.3.0 reads `r 0` as the last object in its table (`0 < refnum`), where
# CPython's reader takes slot 0; strip-nd's renumbering can make a reference
# point at slot 0. Read references as CPython does.
def t_object_reference(self, save_ref=None, bytes_for_s=False):
    return self.intern_objects[self.read_uint32()]
um.VersionIndependentUnmarshaller.t_object_reference = t_object_reference
def dump(o):
    if hasattr(o, "co_code"):
        return ("code",) + tuple((k, dump(getattr(o, k))) for k in sorted(dir(o))
            if k.startswith("co_") and not callable(getattr(o, k)))
    if isinstance(o, (tuple, list)):
        return (type(o).__name__,) + tuple(dump(x) for x in o)
    if isinstance(o, (set, frozenset)):
        return (type(o).__name__,) + tuple(sorted(repr(dump(x)) for x in o))
    return (type(o).__name__, repr(o))
for p in sys.argv[1:]:
    magic = int.from_bytes(open(p, "rb").read(2), "little")
    try:
        digest = hashlib.sha256(repr(dump(load_module(p)[3])).encode()).hexdigest()
    except Exception as e:  # xdis has more reading bugs: counted, not fatal
        digest = "unreadable:" + type(e).__name__
    print(p.rsplit("/", 1)[-1], magic, digest)
PY
# Whether this interpreter's marshal reader reads equal code objects from two
# pycs (`code.__eq__` compares every field, constants included, recursively).
cat > "$work/own.py" <<'PY'
import marshal, sys
def load(p):
    data = open(p, "rb").read()
    magic = int.from_bytes(data[:2], "little")
    return marshal.loads(data[12 if magic < 3392 else 16:])
print(load(sys.argv[1]) == load(sys.argv[2]))
PY

for ver in 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
    src=$work/xdis-6.3.0/test/bytecode_$ver
    [ -d "$src" ] || continue
    mkdir -p "$work/before/$ver" "$work/after/$ver"
    cp "$src"/*.pyc "$work/before/$ver/"
    cp "$src"/*.pyc "$work/after/$ver/"
done
"$bin" -v "$work/after" 2> "$work/log" || true
grep '^strip-nd:' "$work/log"
# The release whose marshal reader reads a magic's code objects (same layout).
reader() {
    case $1 in
    33[67]?) echo 3.6 ;; 339? | 340?) echo 3.7 ;; 3413) echo 3.8 ;; 342?) echo 3.9 ;;
    343?) echo 3.10 ;; 349?) echo 3.11 ;; 35[0-3]?) echo 3.12 ;; 35[5-7]?) echo 3.13 ;;
    *) echo none ;;
    esac
}
for ver in 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
    [ -d "$work/before/$ver" ] || continue
    python3 "$work/dump.py" "$work/before/$ver"/*.pyc > "$work/xb"
    python3 "$work/dump.py" "$work/after/$ver"/*.pyc > "$work/xa"
    xdis_same=$(paste -d' ' "$work/xb" "$work/xa" | awk '$3 == $6 && $3 !~ /^unreadable/' | wc -l)
    xdis_fail=$(grep -c ' unreadable:' "$work/xa" || true)
    xdis_diff=$(paste -d' ' "$work/xb" "$work/xa" | awk '$3 != $6 && $6 !~ /^unreadable/' | wc -l)
    [ "$xdis_diff" = 0 ] || { echo "xdis reads other code objects in $ver" >&2; exit 1; }
    changed=0 own=0
    for f in "$work/before/$ver"/*.pyc; do
        name=${f##*/}
        cmp -s "$f" "$work/after/$ver/$name" || changed=$((changed + 1))
        magic=$(grep "^$name " "$work/xb" | cut -d' ' -f2)
        r=$(reader "$magic")
        if [ "$r" != none ] && py=$(find_python "$r"); then
            [ "$("$py" "$work/own.py" "$f" "$work/after/$ver/$name")" = True ] ||
                { echo "python$r sees another code object in $ver/$name" >&2; exit 1; }
            own=$((own + 1))
        fi
    done
    echo "$ver: $(wc -l < "$work/xa") files, magics $(cut -d' ' -f2 "$work/xb" | sort -u | tr '\n' ' ')- \
$changed rewritten; equal in xdis $xdis_same, unreadable by xdis after $xdis_fail; \
equal in the release's own marshal reader $own"
done
