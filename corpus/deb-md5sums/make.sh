#!/bin/sh
# Recreates the .deb md5sums corpus: a tiny package whose data holds a man
# page compressed with plain `gzip -9` (no -n: the name and mtime recorded)
# and whose DEBIAN/md5sums lists every file, as dh_md5sums writes it; built
# twice with dpkg-deb at two clocks. strip-nd normalizes the man page inside
# data.tar.gz, so md5sums in control.tar.gz must follow. (The same with xz
# and zstd tarballs, and a control tarball strip-nd must refuse, are in
# corpus/deb-compressed.)
# Run from anywhere: sh corpus/deb-md5sums/make.sh
# Needs: dpkg (dpkg-deb), gzip, faketime.
. "$(dirname "$0")/../lib.sh"
needs dpkg-deb gzip faketime

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
}

rm -f "$here"/*.deb
make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

{
    dpkg-deb --version | head -n 1
    gzip --version | head -n 1
} > "$here/VERSIONS"
