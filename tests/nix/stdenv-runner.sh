# shellcheck shell=bash
# A model of nixpkgs' stdenv builder (pkgs/stdenv/generic/setup.sh), for tests
# that run real nix-build offline, where the real stdenv cannot be fetched.
# Written from the documented behaviour, it keeps what decides when and how a
# setup hook runs, and nothing else:
#
# - Structured attributes: with __structuredAttrs, Nix writes .attrs.sh; it is
#   sourced, lists are bash arrays and `outputs` is an associative array from
#   output name to path, each exported as a variable of its name. Without
#   them, attributes are environment variables, lists are space-separated and
#   `outputs` is a list of names (default "out").
# - Inputs are collected per kind, each store path once per kind, with what a
#   path lists in nix-support/propagated-build-inputs after it (a setup hook's
#   propagatedBuildInputs land in the same kind as the hook): first
#   nativeBuildInputs, then stdenv's defaultNativeBuildInputs (its
#   extraNativeBuildInputs, then its own default hooks), then buildInputs.
#   They are activated in that order: an input that is a file is sourced (as
#   stdenv's default hooks are), a directory gets its bin/ onto PATH (before
#   the initial PATH, in activation order) and its nix-support/setup-hook
#   sourced.
# - runHook NAME runs the implicit hook first (a function called NAME, or a
#   variable NAME holding shell code, such as the `postFixup` attribute), then
#   each entry of the array NAMEHooks in order: a function is called with
#   runHook's remaining arguments, anything else is evaluated as shell code.
#   The array is read once, when runHook starts.
# - SOURCE_DATE_EPOCH defaults to 315532800 and is exported; TZ=UTC;
#   NIX_BUILD_CORES is exported; `set -eu -o pipefail` and nullglob, as in
#   setup.sh.
# - The phases: `buildScript` stands for unpack to install (the install step
#   creates $out first, as stdenv's installPhase does); fixupPhase (skipped
#   with dontFixup) makes every output writable, runs `runHook preFixup`, then
#   `runHook fixupOutput` once per output with `prefix` set to it, then
#   `runHook postFixup`.
# shellcheck disable=SC2154 # out, buildScript: derivation attributes
set -eu -o pipefail
shopt -s nullglob

cd "$NIX_BUILD_TOP"

attrsSh="${NIX_ATTRS_SH_FILE:-$NIX_BUILD_TOP/.attrs.sh}"
if [ -f "$attrsSh" ]; then
    __structuredAttrs=1
    # shellcheck source=/dev/null
    source "$attrsSh"
    for outputName in "${!outputs[@]}"; do
        export "$outputName=${outputs[$outputName]}"
    done
else
    __structuredAttrs=
    : "${outputs:=out}"
fi

getAllOutputNames() {
    if [ -n "$__structuredAttrs" ]; then
        echo "${!outputs[*]}"
    else
        echo "$outputs"
    fi
}

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
export TZ=UTC
export NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"

runHook() {
    local name="$1"
    shift
    local slice="${name%Hook}Hooks[@]" entry
    if declare -F "$name" >/dev/null; then
        "$name" "$@"
    elif [ -n "${!name-}" ]; then
        eval "${!name}"
    fi
    for entry in ${!slice+"${!slice}"}; do
        if declare -F "$entry" >/dev/null; then
            "$entry" "$@"
        else
            eval "$entry"
        fi
    done
    return 0
}

# shellcheck disable=SC2034 # read by runHook, through ${!slice}
declare -a preFixupHooks=() fixupOutputHooks=() postFixupHooks=()

# Inputs, each kind an array of store paths in the order they are met.
declare -a nativeInputs=() hostInputs=()
collectInput() { # KIND-ARRAY PATH
    local -n kind="$1"
    local path="$2" dep
    case " ${kind[*]-} " in
        *" $path "*) return 0 ;;
    esac
    if ! [ -e "$path" ]; then
        echo "build input $path does not exist" >&2
        exit 1
    fi
    kind+=("$path")
    if [ -f "$path/nix-support/propagated-build-inputs" ]; then
        for dep in $(<"$path/nix-support/propagated-build-inputs"); do
            collectInput "$1" "$dep"
        done
    fi
}
# Unquoted on purpose: a space-separated string or an array, as in setup.sh.
# shellcheck disable=SC2068
for p in ${nativeBuildInputs[@]-} ${defaultNativeBuildInputs[@]-}; do
    collectInput nativeInputs "$p"
done
# shellcheck disable=SC2068
for p in ${buildInputs[@]-}; do
    collectInput hostInputs "$p"
done

inputPath=
for p in "${nativeInputs[@]}" "${hostInputs[@]}"; do
    if [ -f "$p" ]; then
        # shellcheck source=/dev/null
        source "$p"
        continue
    fi
    if [ -d "$p/bin" ]; then
        inputPath="${inputPath:+$inputPath:}$p/bin"
    fi
    if [ -f "$p/nix-support/setup-hook" ]; then
        # shellcheck source=/dev/null
        source "$p/nix-support/setup-hook"
    fi
done
export PATH="${inputPath:+$inputPath:}/usr/bin:/bin"

fixupPhase() {
    local output
    for output in $(getAllOutputNames); do
        if [ -e "${!output}" ]; then chmod -R u+w "${!output}"; fi
    done
    runHook preFixup
    for output in $(getAllOutputNames); do
        prefix="${!output}" runHook fixupOutput
    done
    runHook postFixup
}

mkdir -p "$out"
eval "$buildScript"
if [ -z "${dontFixup-}" ]; then
    fixupPhase
fi
