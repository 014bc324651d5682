# The trees the benches run on, sourced by benches/compare.sh and
# benches/memory.sh. Each function fills "$template" (set by the caller);
# FRESH_GZ and ARCHIVES size them (read through $fresh and $archives, with
# the defaults below when the caller has not set them).
: "${fresh:=${FRESH_GZ:-3000}}"
: "${archives:=${ARCHIVES:-300}}"

build_man() {
    mkdir -p "$template/fresh"
    cp -a /usr/share/man "$template/man"
    cp -a /usr/share/locale "$template/locale"
    # Fresh .gz files as a build leaves them: name and current mtime recorded.
    i=0
    find /usr/share/man -name '*.gz' -size +1k | sort | sed -n "1,${fresh}p" | while read -r page; do
        i=$((i + 1))
        d="$template/fresh/d$((i % 50))"
        mkdir -p "$d"
        zcat "$page" > "$d/page$i.txt"
        gzip -f "$d/page$i.txt"
    done
}
build_archives() {
    mkdir -p "$template/java" "$template/zip" "$template/tar"
    cp -a /usr/share/java/*.jar "$template/java/"
    find /usr/share/doc -mindepth 1 -maxdepth 1 -type d | sort | sed -n "1,${archives}p" | while read -r d; do
        n=$(basename "$d")
        (cd /usr/share/doc && zip -q -r "$template/zip/$n.zip" "$n")
        tar czf "$template/tar/$n.tar.gz" -C /usr/share/doc "$n"
    done
}
build_pyc() {
    py=$(ls -d /root/.pyenv/versions/*/lib/python3.* 2>/dev/null | head -n 1)
    [ -n "$py" ] || py=$(ls -d /usr/lib/python3.* | head -n 1)
    mkdir -p "$template/py" "$template/locale" "$template/png"
    (cd "$py" && find . -name '*.py' -not -path './site-packages/*' -not -path './test/*' \
        -not -path './idlelib/*' -print0 | cpio -0 -pdm --quiet "$template/py")
    python3 -m compileall -q --invalidation-mode timestamp "$template/py" || true
    find /usr/share/locale -name '*.mo' -print0 | cpio -0 -pdm --quiet "$template/locale" 2>/dev/null
    find /usr/share -name '*.png' -print0 | cpio -0 -pdm --quiet "$template/png" 2>/dev/null
}
