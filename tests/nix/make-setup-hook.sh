# shellcheck shell=bash
# The builder of make-setup-hook.nix.
# shellcheck disable=SC2154 # out, script, propagatedBuildInputs: derivation attributes
set -eu -o pipefail
export PATH=/usr/bin:/bin
mkdir -p "$out/nix-support"
content=$(<"$script")
while IFS= read -r var; do
    content=${content//"@$var@"/"${!var}"}
done < <(compgen -e | grep -E '^[a-z][a-zA-Z0-9_]*$')
printf '%s\n' "$content" >"$out/nix-support/setup-hook"
if [ -n "$propagatedBuildInputs" ]; then
    printf '%s\n' "$propagatedBuildInputs" >"$out/nix-support/propagated-build-inputs"
fi
