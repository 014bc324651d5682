#!/bin/sh
# Recreates the .deb corpus: a tiny package built twice with dpkg-deb, at two
# clocks and two SOURCE_DATE_EPOCH values, with files owned by different
# users. gzip compression (-Zgzip) so the control and data tarballs are
# normalized too (xz and zstd members are kept as they are). Run from
# anywhere: sh corpus/deb/make.sh
# Needs: dpkg (dpkg-deb), gzip, faketime.
. "$(dirname "$0")/../lib.sh"
needs dpkg-deb gzip faketime

make_case() { # clock tag uid epoch
    clock=$1 tag=$2 uid=$3 epoch=$4
    rm -rf pkg && mkdir -p pkg/DEBIAN pkg/usr/bin pkg/usr/share/doc/hello
    cat > pkg/DEBIAN/control <<CONTROL
Package: hello-strip-nd
Version: 1.0
Architecture: all
Maintainer: strip-nd <strip-nd@example.org>
Description: a package to test strip-nd
CONTROL
    printf '#!/bin/sh\necho hello\n' > pkg/usr/bin/hello && chmod 755 pkg/usr/bin/hello
    seq 1 100 > pkg/usr/share/doc/hello/changelog
    faketime "$clock" gzip -9 pkg/usr/share/doc/hello/changelog
    chown -R "$uid:$uid" pkg/usr
    # libfaketime also shifts the file times that stat() reports to the tools
    # run under it, so the recorded times are not exactly $clock; they differ
    # between the two builds, which is what the corpus needs.
    find pkg -exec touch -h -d "$clock" {} +
    SOURCE_DATE_EPOCH=$epoch faketime "$clock" dpkg-deb -Zgzip --build pkg "$here/hello.$tag.deb" > /dev/null
}

make_case "2026-03-04 05:06:07" 1 1234 1772600767
make_case "2027-08-09 10:11:12" 2 4321 1817713872

dpkg-deb --version | head -n 1 > "$here/VERSIONS"
gzip --version | head -n 1 >> "$here/VERSIONS"
