# shellcheck shell=bash
# strip-nd setup hook: normalizes every output as the last step of fixup.
#
# When it runs. stdenv's fixupPhase ends with `runHook postFixup`, which runs
# the package's own `postFixup` first and then the functions in
# `postFixupHooks`, in the order they were added. Setup hooks add theirs when
# they are sourced, and they are sourced in input order: nativeBuildInputs,
# then stdenv's own hooks (make-symlinks-relative and the rest, after any
# extraNativeBuildInputs such as the overlay's stripNdStdenv), then
# buildInputs. A hook that added itself when sourced would run before every
# hook sourced after it, and what those change would be neither normalized
# nor in the NAR hash it prints. So this hook only adds a function to
# `preFixupHooks` when sourced, and that function adds strip-nd to
# `postFixupHooks` when fixup starts: by then every setup hook has been
# sourced and has added its own, so strip-nd comes after all of them, after
# the package's postFixup, when man pages are compressed, jars built and
# symlinks made relative. The NAR hash it prints is then the output's final
# one, unless a later phase (installCheck, dist, postPhases) writes to it or
# a hook adds itself to postFixupHooks during fixup.
#
# Settings (derivation attributes):
#   dontStripNd = true;   skip it
#   stripNdFlags          extra flags for strip-nd (a string, or a list with
#                         __structuredAttrs); they come after the hook's own,
#                         so -v or -q replaces the hook's --oneline
#   stripNdRules          a rules file (strip-nd --rules)
#
# Fixed-output derivations (outputHash set: fetchers, vendored dependencies)
# are never modified: their author fixed the hash, and a rewrite would fail
# the build. There the hook runs `strip-nd --check`, which prints what it
# would change, and it does not fail the build whatever --check finds.
#
# strip-nd is called by its store path, which makeSetupHook substitutes for
# @stripNd@ (nix/hook.nix), so no other strip-nd on PATH can shadow it.
# It uses SOURCE_DATE_EPOCH (stdenv exports it); strip-nd reads
# NIX_BUILD_CORES itself for its thread count. It tells strip-nd that Nix will
# set every mtime to 1 when it registers the output (--final-mtime 1), so that
# .pyc headers record the mtime their sources will really have.
# It prints one summary line per output and fails the build on a self-check
# mismatch or an I/O error.
#
# Sourcing it twice (the hook reached through stdenv and through a package's
# inputs, or two copies of it) is harmless: only the first one counts.

if [ -z "${__stripNdHookSourced-}" ]; then
    __stripNdHookSourced=1

    # The user's flags, from stripNdFlags and stripNdRules, into the array
    # named by $1.
    _stripNdUserFlags() {
        local -n into="$1"
        if [[ "$(declare -p stripNdFlags 2>/dev/null)" == "declare -a"* ]]; then
            into+=("${stripNdFlags[@]}")
        elif [ -n "${stripNdFlags-}" ]; then
            # shellcheck disable=SC2206 # a string of flags is split on purpose
            into+=(${stripNdFlags})
        fi
        if [ -n "${stripNdRules-}" ]; then
            into+=(--rules "$stripNdRules")
        fi
    }

    # A fixed-output derivation: report, change nothing, never fail.
    _stripNdCheckFixedOutput() {
        local output=$1 dir=$2 status=0
        shift 2
        echo "strip-nd: $output ($dir) is a fixed-output derivation (outputHash is set): left unmodified; what strip-nd would change there:"
        "@stripNd@" --check --final-mtime 1 "$@" "$dir" || status=$?
        case $status in
            0) echo "strip-nd: nothing to change in $output" ;;
            1) echo "strip-nd: the changes above were not made: the output of a fixed-output derivation must keep its hash" ;;
            *) echo "strip-nd: --check exited with status $status on $output; ignored, the output is left as it is" >&2 ;;
        esac
        return 0
    }

    stripNdPostFixup() {
        if [ -n "${dontStripNd-}" ]; then
            echo "strip-nd: skipped (dontStripNd is set)"
            return 0
        fi

        local -a flags=()
        _stripNdUserFlags flags

        local output dir status
        for output in $(getAllOutputNames); do
            dir="${!output}"
            [ -e "$dir" ] || continue
            if [ -n "${outputHash-}" ]; then
                _stripNdCheckFixedOutput "$output" "$dir" "${flags[@]}"
                continue
            fi
            status=0
            "@stripNd@" --oneline --final-mtime 1 "${flags[@]}" "$dir" || status=$?
            case $status in
                0) ;;
                3)
                    echo "strip-nd: self-check FAILED on output $output ($dir): normalizing it twice gave different results; see above" >&2
                    return 1
                    ;;
                *)
                    echo "strip-nd: failed on output $output ($dir) with status $status; see above (set \`dontStripNd = true;\` to skip)" >&2
                    return 1
                    ;;
            esac
        done
    }

    # Runs in preFixup: every setup hook is sourced by then (see above).
    _stripNdRegister() {
        postFixupHooks+=(stripNdPostFixup)
    }

    preFixupHooks+=(_stripNdRegister)
fi
