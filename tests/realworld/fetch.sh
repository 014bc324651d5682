#!/usr/bin/env bash
# Fetches the pinned artifacts of artifacts.txt into a cache, each with its
# registry's ordinary client: pip download (wheels, sdists), npm pack, cargo
# fetch + cargo vendor (crates, locked by crates.lock), apt-get download (debs).
#
#   tests/realworld/fetch.sh CACHE_DIR [LIST]
#
# Layout: CACHE/<kind>/<name>-<version>/<the one downloaded file>, and
# CACHE/crate-vendor/ (cargo vendor --versioned-dirs of every pinned crate).
# An artifact already in the cache is not fetched again. A directory appears
# only once its file is complete, so an interrupted run leaves no half file.
# STRIP_ND_REALWORLD_ONLY=wheel,npm limits it to those kinds.
# Every artifact that cannot be fetched is named on stderr as
# "fetch.sh: FAILED <kind> <name> <version>: <why>", and the exit status is 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: fetch.sh CACHE_DIR [LIST]}
list=${2:-$here/artifacts.txt}
only=${STRIP_ND_REALWORLD_ONLY:-}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
failed=0

fail() { echo "fetch.sh: FAILED $*" >&2; failed=1; }
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
key() { printf '%s-%s' "$1" "$2" | tr '/@:' '__+'; }
# pip's file names spell the project in several ways (Django, typing_extensions,
# python_dateutil): compare the PEP 503 normal form.
norm() { printf '%s' "$1" | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/_/g'; }

# Moves the file $3 into CACHE/$1/$2/ atomically.
store() {
    local dir=$cache/$1/$2
    rm -rf "$dir.part" && mkdir -p "$dir.part" && cp "$3" "$dir.part/" && mv "$dir.part" "$dir"
}

# Entries of one kind that the cache lacks, as "name version" lines.
missing() {
    awk -v k="$1" '$1 == k { print $2, $3 }' "$list" | while read -r n v; do
        [ -d "$cache/$1/$(key "$n" "$v")" ] || echo "$n $v"
    done
}

# pip: one batch for speed; when it fails, one by one to name the culprit.
pip_kind() {
    local kind=$1 tmp todo
    todo=$(missing "$kind")
    [ -n "$todo" ] || return 0
    tmp=$(mktemp -d) || return 1
    local reqs=() names=() sel
    while read -r n v; do reqs+=("$n==$v") names+=("$n"); done <<<"$todo"
    # Sdists: --no-binary for the listed projects only, so that the build
    # backends pip installs to read their metadata still come as wheels.
    if [ "$kind" = wheel ]; then sel=(--only-binary :all:); else sel=(--no-binary "$(IFS=,; echo "${names[*]}")"); fi
    if ! python3 -m pip download -q --no-deps "${sel[@]}" -d "$tmp" "${reqs[@]}" >&2; then
        for r in "${reqs[@]}"; do
            python3 -m pip download -q --no-deps "${sel[@]}" -d "$tmp" "$r" >&2 ||
                echo "pip download $r failed" >&2
        done
    fi
    while read -r n v; do
        local found=
        for f in "$tmp"/*; do
            local b stem fname fver
            b=$(basename "$f")
            if [ "$kind" = wheel ]; then
                [[ $b == *.whl ]] || continue
                fname=${b%%-*}; stem=${b#*-}; fver=${stem%%-*}
            else
                case $b in *.tar.gz) stem=${b%.tar.gz} ;; *.zip) stem=${b%.zip} ;; *) continue ;; esac
                fname=${stem%-*}; fver=${stem##*-}
            fi
            if [ "$(norm "$fname")" = "$(norm "$n")" ] && [ "$fver" = "$v" ]; then found=$f; fi
        done
        if [ -n "$found" ]; then store "$kind" "$(key "$n" "$v")" "$found"; else fail "$kind $n $v: pip download gave no file"; fi
    done <<<"$todo"
    rm -rf "$tmp"
}

npm_kind() {
    local todo tmp
    todo=$(missing npm)
    [ -n "$todo" ] || return 0
    tmp=$(mktemp -d) || return 1
    while read -r n v; do
        # npm pack names @scope/pkg@1.0.0 scope-pkg-1.0.0.tgz
        local f
        f=$tmp/$(printf '%s' "$n" | sed 's/^@//; s,/,-,')-$v.tgz
        if (cd "$tmp" && npm pack --silent "$n@$v" >/dev/null 2>"$tmp/err") && [ -f "$f" ]; then
            store npm "$(key "$n" "$v")" "$f"
        else
            fail "npm $n $v: npm pack: $(tail -n 3 "$tmp/err" | tr '\n' ' ')"
        fi
    done <<<"$todo"
    rm -rf "$tmp"
}

# cargo: a throwaway project that depends on every pinned crate, locked by the
# committed crates.lock so the resolution never moves; its own CARGO_HOME keeps
# the machine's registry cache out of it.
crate_kind() {
    local proj=$cache/crate-project home=$cache/cargo-home
    local todo
    todo=$(missing crate)
    [ -n "$todo" ] || [ ! -d "$cache/crate-vendor" ] || return 0
    mkdir -p "$proj/src" && : >"$proj/src/lib.rs"
    {
        printf '[package]\nname = "strip-nd-realworld"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n'
        awk '$1 == "crate" { printf "%s = \"=%s\"\n", $2, $3 }' "$list"
    } >"$proj/Cargo.toml"
    local locked=--locked
    if [ -n "${STRIP_ND_REALWORLD_RELOCK:-}" ] || [ ! -f "$here/crates.lock" ]; then
        locked=; rm -f "$proj/Cargo.lock"
    else
        cp "$here/crates.lock" "$proj/Cargo.lock"
    fi
    if ! CARGO_HOME=$home cargo fetch $locked --manifest-path "$proj/Cargo.toml" >&2; then
        while read -r n v; do fail "crate $n $v: cargo fetch failed (see above)"; done <<<"$todo"
        return
    fi
    [ -n "$locked" ] || cp "$proj/Cargo.lock" "$here/crates.lock"
    while read -r n v; do
        [ -n "$n" ] || continue
        local f
        f=$(ls "$home"/registry/cache/*/"$n-$v.crate" 2>/dev/null | head -n 1)
        if [ -n "$f" ]; then store crate "$(key "$n" "$v")" "$f"; else fail "crate $n $v: not in cargo's cache after cargo fetch"; fi
    done <<<"$todo"
    if [ ! -d "$cache/crate-vendor" ]; then
        rm -rf "$cache/crate-vendor.part"
        if CARGO_HOME=$home cargo vendor --locked --offline --versioned-dirs \
            --manifest-path "$proj/Cargo.toml" "$cache/crate-vendor.part" >/dev/null; then
            mv "$cache/crate-vendor.part" "$cache/crate-vendor"
        else
            fail "crate-vendor - -: cargo vendor failed"
        fi
    fi
}

deb_kind() {
    local todo tmp
    todo=$(missing deb)
    [ -n "$todo" ] || return 0
    tmp=$(mktemp -d) || return 1
    chmod 755 "$tmp" # apt's sandbox user writes here
    while read -r n v; do
        rm -f "$tmp"/*.deb
        if (cd "$tmp" && apt-get download -q "$n=$v" >"$tmp/log" 2>&1); then
            local f
            f=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
            if [ -n "$f" ]; then store deb "$(key "$n" "$v")" "$f"; else fail "deb $n $v: apt-get download gave no .deb"; fi
        else
            fail "deb $n $v: apt-get download: $(tail -n 2 "$tmp/log" | tr '\n' ' ') (version gone from the archive? run apt-get update)"
        fi
    done <<<"$todo"
    rm -rf "$tmp"
}

want wheel && pip_kind wheel
want sdist && pip_kind sdist
want npm && npm_kind
want crate && crate_kind
want deb && deb_kind
exit $failed
