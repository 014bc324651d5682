# shellcheck shell=bash
# strip-nd setup hook: normalizes every output once fixup is over.
#
# Registered in postFixupHooks, so it runs once, after the package's own
# postFixup, when man pages are already compressed and jars already built.
#
#   dontStripNd=1       skip it
#   stripNdFlags        extra flags for strip-nd (a bash array or a string)
#   stripNdRules        a rules file (strip-nd --rules)
#
# It uses SOURCE_DATE_EPOCH (stdenv exports it); strip-nd reads NIX_BUILD_CORES
# itself for its thread count. It tells strip-nd that Nix will set every mtime
# to 1 when it registers the output (--final-mtime 1), so that .pyc headers
# record the mtime their sources will really have.
# It prints one summary line per output and fails the build on a self-check
# mismatch or an I/O error.

stripNdPostFixup() {
    if [ -n "${dontStripNd-}" ]; then
        echo "strip-nd: skipped (dontStripNd is set)"
        return 0
    fi

    local -a flags=()
    if [[ "$(declare -p stripNdFlags 2>/dev/null)" == "declare -a"* ]]; then
        flags=("${stripNdFlags[@]}")
    elif [ -n "${stripNdFlags-}" ]; then
        # shellcheck disable=SC2206 # a string of flags is split on purpose
        flags=(${stripNdFlags})
    fi
    if [ -n "${stripNdRules-}" ]; then
        flags+=(--rules "$stripNdRules")
    fi

    local output dir status
    for output in $(getAllOutputNames); do
        dir="${!output}"
        [ -e "$dir" ] || continue
        status=0
        strip-nd --oneline --final-mtime 1 "${flags[@]}" "$dir" || status=$?
        case $status in
            0) ;;
            3)
                echo "strip-nd: self-check FAILED on output $output ($dir): normalizing it twice gave different results; see above" >&2
                return 1
                ;;
            *)
                echo "strip-nd: failed on output $output ($dir) with status $status; see above (set dontStripNd=1 to skip)" >&2
                return 1
                ;;
        esac
    done
}

postFixupHooks+=(stripNdPostFixup)
