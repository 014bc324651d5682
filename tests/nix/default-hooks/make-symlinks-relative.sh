# shellcheck shell=bash
# A model of stdenv's make-symlinks-relative default hook, for the stdenv model
# (../stdenv-runner.sh): in postFixup, every symlink in an output that points
# into that same output by absolute path is made relative.
postFixupHooks+=(_modelSymlinksRelative)

_modelSymlinksRelative() {
    [ -z "${dontRewriteSymlinks-}" ] || return 0
    local output dir link target
    for output in $(getAllOutputNames); do
        dir="${!output}"
        [ -d "$dir" ] || continue
        while IFS= read -r -d '' link; do
            target=$(readlink "$link")
            case "$target" in
                "$dir"/*)
                    echo "rewriting symlink $link to be relative to $dir"
                    ln -snrf "$target" "$link"
                    ;;
            esac
        done < <(find "$dir" -type l -print0)
    done
}
