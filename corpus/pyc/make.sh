#!/usr/bin/env bash
# Makes the pyc corpus: each case twice, at two clocks, with CPython's own tools.
# Needs python3 (3.11: the expected outputs and the oracle tests assume it) and faketime.
# The py3N-* cases come from the other releases' interpreters (3.6, 3.7, 3.8,
# 3.9, 3.10, 3.12, 3.13: python3.N on PATH or pyenv's, not in Debian 12);
# `./make.sh releases` makes only those.
. "$(dirname "$0")/../lib.sh"
needs python3 faketime
set -o pipefail
only=${1:-all}
# Unlike the other recipes, this one works in its own folder and names
# "$work" where it builds.
cd "$here"

cat > "$work/mod.py" <<'PY'
"""A small module: functions, a class, constants of every marshal kind."""

import sys

NAMES = ("alpha", "beta", "gamma")
LIMITS = {"low": 1, "high": 2**70, "ratio": 0.25, "z": 1 + 2j}
FROZEN = frozenset({"x", "y"})


class Greeter:
    """Says hello."""

    def __init__(self, who="world"):
        self.who = who

    def greet(self, loud=False):
        text = f"hello {self.who}"
        return text.upper() if loud else text


def main():
    g = Greeter(NAMES[1])
    print(g.greet(), g.greet(loud=True), sorted(FROZEN), LIMITS["high"], b"bytes", ...)
    return 0


if __name__ == "__main__":
    sys.exit(main())
PY

# compile N CLOCK MTIME [compileall options]: compiles mod.py with the source's
# mtime set to MTIME, under a fake clock, and prints the pyc's path.
compile() {
    local n=$1 clock=$2 mtime=$3
    shift 3
    rm -rf "$work/$n" && mkdir -p "$work/$n"
    cp "$work/mod.py" "$work/$n/mod.py"
    touch -d "$mtime" "$work/$n/mod.py"
    # -d: the path recorded in co_filename, the same for both builds.
    faketime "$clock" "${PY:-python3}" -m compileall -q -d /build/pkg "$@" "$work/$n" >/dev/null
}

if [ "$only" = all ]; then
for n in 1 2; do
    if [ "$n" = 1 ]; then clock="2026-03-04 05:06:07"; mtime="2026-03-04 05:00:00"; else
        clock="2026-07-08 09:10:11"; mtime="2026-07-08 09:00:00"; fi
    # plain: timestamp-based, the default of compileall and of pip.
    compile "plain$n" "$clock" "$mtime"
    cp "$work/plain$n/__pycache__/mod.cpython-311.pyc" "plain.$n.pyc"
    # opt2: python -OO caches (docstrings and asserts stripped).
    compile "opt$n" "$clock" "$mtime" -o 2
    cp "$work/opt$n/__pycache__/mod.cpython-311.opt-2.pyc" "opt2.$n.pyc"
    # legacy: compileall -b writes mod.pyc beside mod.py.
    compile "legacy$n" "$clock" "$mtime" -b
    cp "$work/legacy$n/mod.pyc" "legacy.$n.pyc"
    # checked-hash: PEP 552 hash-based pycs; the header holds no time.
    compile "hash$n" "$clock" "$mtime" --invalidation-mode checked-hash
    cp "$work/hash$n/__pycache__/mod.cpython-311.pyc" "checked-hash.$n.pyc"
done

# flagref: the same code object marshalled twice by the same interpreter,
# once as compileall would, once while another reference to parts of it is
# alive (as a tool inspecting co_consts holds). CPython's marshal sets FLAG_REF
# on every object whose refcount is above 1, so the two differ only in FLAG_REF
# bits and, because of them, in the numbering of references.
(cd "$work" && python3 - <<'PY'
import importlib._bootstrap_external as be

src = open("mod.py", "rb").read()
code = compile(src, "mod.py", "exec", dont_inherit=True)
one = be._code_to_timestamp_pyc(code, 1_780_000_000, len(src))
keep = [code.co_consts, [c for c in code.co_consts if hasattr(c, "co_code")]]
two = be._code_to_timestamp_pyc(code, 1_780_000_000, len(src))
assert one != two and len(one) == len(two)
assert one[:16] == two[:16]
open("flagref.1.pyc", "wb").write(one)
open("flagref.2.pyc", "wb").write(two)
PY
)
mv "$work/flagref.1.pyc" "$work/flagref.2.pyc" .

# Malformed: cut short, unknown flag bits, an unknown marshal type code.
mkdir -p malformed
head -c 200 plain.1.pyc > malformed/truncated.pyc
python3 - <<'PY'
data = bytearray(open("plain.1.pyc", "rb").read())
bad = bytearray(data)
bad[4] = 4
open("malformed/bad-flags.pyc", "wb").write(bad)
bad = bytearray(data)
bad[16] = ord("?")
open("malformed/unknown-type.pyc", "wb").write(bad)
PY

fi

# The other releases: py3N-plain (compileall at two clocks) and py3N-flagref
# (FLAG_REF noise, as above) for each, made by that release's interpreter.
find_python() {
    # pyenv's shims are on PATH even for versions not selected: run it to know.
    if "python$1" -c '' 2>/dev/null; then command -v "python$1"; return; fi
    ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1" 2>/dev/null | tail -n 1 | grep .
}
releases="3.6 3.7 3.8 3.9 3.10 3.12 3.13"
for ver in $releases; do
    PY=$(find_python "$ver") || { echo "python$ver not found" >&2; exit 1; }
    tag=py${ver/./}
    for n in 1 2; do
        if [ "$n" = 1 ]; then clock="2026-03-04 05:06:07"; mtime="2026-03-04 05:00:00"; else
            clock="2026-07-08 09:10:11"; mtime="2026-07-08 09:00:00"; fi
        PY=$PY compile "$tag-$n" "$clock" "$mtime"
        cp "$work/$tag-$n/__pycache__/mod.cpython-${ver/./}.pyc" "$tag-plain.$n.pyc"
    done
    (cd "$work" && "$PY" - "$tag" <<'PY'
import sys
import importlib._bootstrap_external as be

# 3.6 has no _code_to_timestamp_pyc; its _code_to_bytecode writes the same header.
write = getattr(be, "_code_to_timestamp_pyc", None) or be._code_to_bytecode
src = open("mod.py", "rb").read()
code = compile(src, "mod.py", "exec", dont_inherit=True)
one = write(code, 1_780_000_000, len(src))
keep = [code.co_consts, [c for c in code.co_consts if hasattr(c, "co_code")]]
two = write(code, 1_780_000_000, len(src))
assert one != two and len(one) == len(two), sys.argv[1]
tag = sys.argv[1]
open(tag + "-flagref.1.pyc", "wb").write(one)
open(tag + "-flagref.2.pyc", "wb").write(two)
PY
    )
    mv "$work/$tag-flagref.1.pyc" "$work/$tag-flagref.2.pyc" .
done

{
    python3 --version
    for ver in $releases; do "$(find_python "$ver")" --version; done
    dpkg-query -W faketime libfaketime 2>/dev/null || echo "faketime (not from dpkg)"
} > VERSIONS
