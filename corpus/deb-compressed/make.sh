#!/bin/sh
# Recreates the compressed-.deb corpus: a tiny package whose data holds a man
# page compressed with plain `gzip -9` (no -n: name and mtime recorded) and
# whose DEBIAN/md5sums lists every file, as dh_md5sums writes it, built twice
# with dpkg-deb at two clocks and SOURCE_DATE_EPOCH values, with files owned
# by different users. strip-nd normalizes the tarballs inside control.tar.*
# and data.tar.* (and the man page), so md5sums in control.tar.* must follow.
# Cases:
#   xz          dpkg-deb -Zxz: control.tar.xz and data.tar.xz (dpkg's
#               multi-threaded xz layout, sizes in block headers)
#   zstd        dpkg-deb -Zzstd: control.tar.zst and data.tar.zst
#   xz-control  the -Zgzip package with control.tar.gz recompressed by
#               `xz` (single-threaded) and repacked with ar
# refused/two-member-control: the zstd package with its control tarball as
# control.tar.gz in two gzip members (`cat`), which dpkg reads but strip-nd
# cannot recompress alike: left untouched, reported. (dpkg reads neither two
# xz streams nor two zstd frames, so those cannot make a valid package.)
# Run from anywhere: sh corpus/deb-compressed/make.sh
# Needs: dpkg (dpkg-deb), gzip, xz-utils, zstd, binutils (ar), faketime.
. "$(dirname "$0")/../lib.sh"
needs dpkg-deb gzip xz zstd ar faketime

make_case() { # clock tag uid epoch
    clock=$1 tag=$2 uid=$3 epoch=$4
    rm -rf pkg && mkdir -p pkg/DEBIAN pkg/usr/bin pkg/usr/share/man/man1 pkg/usr/share/doc/hello
    cat > pkg/DEBIAN/control <<CONTROL
Package: hello-compressed
Version: 1.0
Architecture: all
Maintainer: strip-nd <strip-nd@example.org>
Description: a package whose md5sums lists a gzip man page
CONTROL
    printf '#!/bin/sh\necho hello\n' > pkg/usr/bin/hello && chmod 755 pkg/usr/bin/hello
    printf '.TH HELLO 1\n.SH NAME\nhello \\- say hello\n' > pkg/usr/share/man/man1/hello.1
    faketime "$clock" gzip -9 pkg/usr/share/man/man1/hello.1
    seq 1 5000 > pkg/usr/share/doc/hello/README
    (cd pkg && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums)
    chown -R "$uid:$uid" pkg/usr
    find pkg -exec touch -h -d "$clock" {} +
    for z in xz zstd gzip; do
        SOURCE_DATE_EPOCH=$epoch faketime "$clock" dpkg-deb -Z$z --build pkg "$z.deb" > /dev/null
    done
    mv xz.deb "$here/xz.$tag.deb"
    rm -rf x && mkdir x && (cd x && ar x ../gzip.deb &&
        gzip -dc control.tar.gz | xz -c > control.tar.xz &&
        ar rc "$here/xz-control.$tag.deb" debian-binary control.tar.xz data.tar.gz)
    rm -rf x && mkdir x && (cd x && ar x ../zstd.deb &&
        zstd -q -dc control.tar.zst > control.tar &&
        { head -c 2048 control.tar | gzip -n -c; tail -c +2049 control.tar | gzip -n -c; } > control.tar.gz &&
        ar rc "$here/refused/two-member-control.$tag.deb" debian-binary control.tar.gz data.tar.zst)
    mv zstd.deb "$here/zstd.$tag.deb"

}

rm -rf "$here"/*.deb "$here/refused" && mkdir -p "$here/refused"
make_case "2026-03-04 05:06:07" 1 1234 1772600767
make_case "2027-08-09 10:11:12" 2 4321 1817713872

{
    dpkg-deb --version | head -n 1
    gzip --version | head -n 1
    xz --version | head -n 1
    zstd --version
    ar --version | head -n 1
} > "$here/VERSIONS"
