# The preamble every corpus recipe shares. A recipe sources it first:
#
#     . "$(dirname "$0")/../lib.sh"
#     needs gzip faketime perl
#
# and is then run from anywhere (`sh corpus/<format>/make.sh`). After it:
#   - the recipe stops at the first failing command or unset variable;
#   - $here is the recipe's folder, where it writes the corpus files;
#   - the current directory is $work, a scratch folder removed on exit;
#   - SOURCE_DATE_EPOCH is unset: the pairs must show the clock the recipe
#     gives faketime, and several tools (GNU ld, fontforge, groff, Python's
#     py_compile, pip) take their time or their mode from SOURCE_DATE_EPOCH
#     when it is set (a Nix shell sets it). A recipe that wants it sets it
#     for one command (`SOURCE_DATE_EPOCH=$epoch dpkg-deb ...`).
# POSIX sh, so that recipes run under dash as well as bash.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset SOURCE_DATE_EPOCH

# `needs TOOL...`: stops before anything is made, naming every tool that is
# not on PATH, rather than half way through with some files rewritten.
needs() {
    missing=
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        echo "$0: needs$missing (see the Needs: line at its top)" >&2
        exit 2
    fi
}

# `pkg_versions PACKAGE...`: "name version" of each Debian package that is
# installed, for the VERSIONS note (nothing for those that are not).
pkg_versions() {
    dpkg-query -W -f '${Package} ${Version}\n' "$@" 2>/dev/null || true
}
