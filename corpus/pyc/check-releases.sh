#!/usr/bin/env bash
# Checks the py3N-* corpus cases against the interpreter of their own release
# (python3.N on PATH or pyenv's: this kind of machine, CI's included, has
# pyenv's 3.6 to 3.13; the test pyc::every_release_loads_its_normalized_pycs_
# with_its_own_interpreter runs it). For each case, both inputs
# and the blessed output must hold equal code objects (`code.__eq__` compares
# every field, recursively), run the same and disassemble the same. Then both
# inputs are relabeled with pre-release magics strip-nd maps to that release's
# layout (and header length), normalized by the strip-nd binary, and must still
# load with that release's marshal reader to the same code object. Then each
# interpreter's own stdlib caches are normalized and compared the same way, and
# each interpreter imports a normalized pyc without recompiling it (and, as
# the control, recompiles one whose recorded mtime is off by one).
# Usage: corpus/pyc/check-releases.sh [path/to/strip-nd]
set -euo pipefail
cd "$(dirname "$0")"
bin=${1:-../../target/debug/strip-nd}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_python() {
    if "python$1" -c '' 2>/dev/null; then command -v "python$1"; return; fi
    ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1" 2>/dev/null | tail -n 1 | grep .
}

# Pre-release magics of each release's layout (src/handlers/pyc.rs), with
# the header length of each.
declare -A pre=(
    [3.6]="3360:12 3361:12 3370:12 3371:12 3372:12 3373:12 3375:12 3376:12 3377:12 3378:12"
    [3.7]="3390:12 3391:12 3392:16 3393:16 3400:16 3401:16"
    [3.8]=""
    [3.9]="3420:16 3421:16 3422:16 3423:16 3424:16"
    [3.10]="3430:16 3431:16 3432:16 3433:16 3434:16 3435:16 3436:16 3437:16 3438:16"
    [3.12]="3500:16 3509:16 3512:16 3520:16 3530:16"
    [3.13]="3550:16 3560:16 3570:16"
)

check='
import contextlib, dis, io, marshal, re, sys
def load(path):
    data = open(path, "rb").read()
    return marshal.loads(data[12 if sys.version_info < (3, 7) else 16:])
def view(code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(code, {"__name__": "__main__"})
        except SystemExit:
            pass
        dis.dis(code)
    return re.sub(r" at 0x[0-9a-f]+", "", out.getvalue())
want = load(sys.argv[1])
assert "hello" in view(want)
for p in sys.argv[2:]:
    got = load(p)
    assert got == want, p
    assert view(got) == view(want), p
print(len(sys.argv) - 2, "files equal to", sys.argv[1])
'
total=0
for ver in 3.6 3.7 3.8 3.9 3.10 3.12 3.13; do
    py=$(find_python "$ver")
    tag=py${ver/./}
    for case in plain flagref; do
        out=expected/$tag-$case.pyc
        files=("$tag-$case.1.pyc" "$tag-$case.2.pyc")
        # Pre-release magics: both inputs relabeled, normalized by the binary
        # (which must rewrite them: mtime, FLAG_REF), then given back this
        # release's own header so its marshal reader can load them.
        for m in ${pre[$ver]}; do
            magic=${m%:*} hlen=${m#*:}
            for n in 1 2; do
                f=$work/$tag-$case-$magic.$n.pyc
                "$py" - "$tag-$case.$n.pyc" "$f" "$magic" "$hlen" <<'PY'
import sys
src, dst, magic, hlen = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = open(src, "rb").read()
own = 12 if sys.version_info < (3, 7) else 16
header = magic.to_bytes(2, "little") + b"\r\n" + (b"\0" * 4 if hlen == 16 else b"")
open(dst, "wb").write(header + data[own - 8:])  # mtime, size, body
PY
                cp "$f" "$f.orig"
                "$bin" -q "$f" || { echo "strip-nd failed on $f" >&2; exit 1; }
                if cmp -s "$f" "$f.orig"; then echo "strip-nd left $f unchanged" >&2; exit 1; fi
                [ "$(head -c 2 "$f" | od -An -tu2 | tr -d ' ')" = "$magic" ]
                "$py" - "$f" "$hlen" <<'PY'
import sys, importlib.util
path, hlen = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
own = b"\0" * 4 if sys.version_info >= (3, 7) else b""
open(path, "wb").write(importlib.util.MAGIC_NUMBER + own + data[hlen - 8:])
PY
                files+=("$f")
            done
        done
        "$py" -c "$check" "$out" "${files[@]}"
        total=$((total + ${#files[@]}))
    done
done
echo "checked $total files against their own interpreters"

# Each interpreter's own stdlib caches (lib/python3.N/__pycache__, as its
# install compiled them): normalized by the binary, every one must be
# rewritten (clamped mtime at least), keep its length, and load to an equal
# code object in that interpreter.
for ver in 3.6 3.7 3.8 3.9 3.10 3.12 3.13; do
    py=$(find_python "$ver")
    cache=$("$py" -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["stdlib"], "__pycache__"))')
    mkdir -p "$work/std$ver/before" "$work/std$ver/after"
    cp "$cache"/*.pyc "$work/std$ver/before/"
    cp "$cache"/*.pyc "$work/std$ver/after/"
    "$bin" -q "$work/std$ver/after"
    "$py" - "$work/std$ver" <<'PY'
import marshal, os, sys
d = sys.argv[1]
h = 12 if sys.version_info < (3, 7) else 16
names = sorted(os.listdir(d + "/before"))
for f in names:
    a = open(d + "/before/" + f, "rb").read()
    b = open(d + "/after/" + f, "rb").read()
    assert a != b and len(a) == len(b), f
    assert marshal.loads(a[h:]) == marshal.loads(b[h:]), f
print(sys.version.split()[0], "stdlib:", len(names), "caches rewritten, equal code objects")
PY
done

# Import after a run: each interpreter must take the normalized pyc as valid
# (the mtime sits at offset 4 in 3.6's 12-byte header, 8 from 3.7) and not
# recompile it, so the pyc keeps its bytes.
for ver in 3.6 3.7 3.8 3.9 3.10 3.12 3.13; do
    py=$(find_python "$ver")
    t=$work/import$ver
    mkdir -p "$t"
    echo 'print("imported")' > "$t/mod.py"
    touch -d "2026-03-04 05:06:07" "$t/mod.py"
    "$py" -m compileall -q "$t" > /dev/null
    "$bin" -q "$t"
    pyc=$(ls "$t"/__pycache__/mod.*.pyc)
    sum=$(sha256sum < "$pyc")
    [ "$(cd "$t" && "$py" -c 'import sys; sys.dont_write_bytecode = False; import mod')" = imported ]
    [ "$(sha256sum < "$pyc")" = "$sum" ] || { echo "python$ver recompiled $pyc" >&2; exit 1; }
    # The control: a pyc whose recorded mtime disagrees is recompiled.
    "$py" - "$pyc" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
at = 4 if sys.version_info < (3, 7) else 8
data[at] ^= 1
open(p, "wb").write(data)
PY
    sum=$(sha256sum < "$pyc")
    (cd "$t" && "$py" -c 'import sys; sys.dont_write_bytecode = False; import mod' > /dev/null)
    [ "$(sha256sum < "$pyc")" != "$sum" ] || { echo "python$ver ignored a stale $pyc" >&2; exit 1; }
    echo "python$ver imports the normalized pyc without recompiling (and recompiles a stale one)"
done
