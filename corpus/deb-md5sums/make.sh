#!/bin/sh
# Recreates the .deb md5sums corpus: a tiny package whose data holds a man
# page compressed with plain `gzip -9` (no -n: the name and mtime recorded)
# and whose DEBIAN/md5sums lists every file, as dh_md5sums writes it; built
# twice with dpkg-deb at two clocks. strip-nd normalizes the man page inside
# data.tar.gz, so md5sums in control.tar.gz must follow. Case "xz-control":
# the same with control.tar.xz (dpkg-deb -Zxz for control is not selectable,
# so it is repacked with ar and xz), which strip-nd must refuse.
# Run from anywhere: sh corpus/deb-md5sums/make.sh
# Needs: dpkg (dpkg-deb), gzip, xz, binutils (ar), faketime.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

make_case() { # clock tag
    clock=$1 tag=$2
    rm -rf pkg && mkdir -p pkg/DEBIAN pkg/usr/bin pkg/usr/share/man/man1
    cat > pkg/DEBIAN/control <<CONTROL
Package: hello-md5sums
Version: 1.0
Architecture: all
Maintainer: strip-nd <strip-nd@example.org>
Description: a package whose md5sums lists a gzip man page
CONTROL
    printf '#!/bin/sh\necho hello\n' > pkg/usr/bin/hello && chmod 755 pkg/usr/bin/hello
    printf '.TH HELLO 1\n.SH NAME\nhello \\- say hello\n' > pkg/usr/share/man/man1/hello.1
    faketime "$clock" gzip -9 pkg/usr/share/man/man1/hello.1
    (cd pkg && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums)
    find pkg -exec touch -h -d "$clock" {} +
    faketime "$clock" dpkg-deb --root-owner-group -Zgzip --build pkg "$here/man-page.$tag.deb" > /dev/null
    # The same package with its control tarball recompressed with xz.
    rm -rf x && mkdir x && (cd x && ar x "$here/man-page.$tag.deb" &&
        gzip -dc control.tar.gz | xz -c > control.tar.xz &&
        ar rc "$here/refused/xz-control.$tag.deb" debian-binary control.tar.xz data.tar.gz)
}

rm -f "$here"/*.deb "$here"/refused/*.deb && mkdir -p "$here/refused"
make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

{
    dpkg-deb --version | head -n 1
    gzip --version | head -n 1
    xz --version | head -n 1
    ar --version | head -n 1
} > "$here/VERSIONS"
