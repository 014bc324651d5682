# shellcheck shell=bash
# A model of stdenv's compress-man-pages default hook, for the stdenv model
# (../stdenv-runner.sh): in fixupOutput, every uncompressed man page under
# $prefix/share/man is gzipped (by Debian's gzip here, which records the
# page's mtime, as gzip does without nixpkgs' GZIP_NO_TIMESTAMPS wrapper).
# shellcheck disable=SC2016 # shell code that runHook evaluates
fixupOutputHooks+=('if [ -z "${dontGzipMan-}" ]; then _modelCompressManPages "$prefix"; fi')

_modelCompressManPages() {
    local dir="$1/share/man"
    [ -d "$dir" ] || return 0
    echo "gzipping man pages under $dir/"
    find "$dir" -type f ! -name '*.gz' ! -name '*.bz2' ! -name '*.xz' -exec gzip -f {} +
}
