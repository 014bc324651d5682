# shellcheck shell=bash
# A minimal stand-in for nixpkgs' stdenv, for tests that run real nix-build
# offline (the real stdenv cannot be fetched here). It provides only what
# nix/setup-hook.sh relies on: getAllOutputNames, SOURCE_DATE_EPOCH, and a
# runHook that calls every function in postFixupHooks the way stdenv's
# fixupPhase does (`runHook postFixup`). It then runs the derivation's
# `buildScript`, and the fixup hooks when `useHook` is set.
set -euo pipefail

stripNdDir="$TMPDIR/bin"
export PATH="$stripNdDir:/usr/bin:/bin"
export SOURCE_DATE_EPOCH=315532800
export TZ=UTC
mkdir -p "$stripNdDir"
ln -sf "$stripNd" "$stripNdDir/strip-nd"

getAllOutputNames() { echo "${outputs:-out}"; }

runHook() { # like stdenv's: every function of the <name>Hooks array, in order
    local slice="${1}Hooks[@]" hook
    for hook in ${!slice+"${!slice}"}; do "$hook"; done
}

postFixupHooks=()
if [ -n "${useHook-}" ]; then
    # shellcheck source=/dev/null
    source "$setupHook"
fi

mkdir -p "$out"
cd "$TMPDIR"
eval "$buildScript"
runHook postFixup
