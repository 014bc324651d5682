#!/bin/sh
# Recreates the cpio corpus: every case twice, at two clocks ("1" and "2"),
# with files owned by different users and fresh inodes, using GNU cpio. cpio
# keeps the order of the list it is given, and strip-nd keeps it too, so both
# builds use the same (sorted) list. Run from anywhere: sh corpus/cpio/make.sh
# Needs: cpio (GNU), gzip, faketime.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

make_case() { # clock tag uid
    clock=$1 tag=$2 uid=$3
    rm -rf root && mkdir -p root/bin root/etc root/usr/share/doc
    # A different number of files before the tree: its inodes differ.
    i=0; while [ $i -lt "$tag" ]; do : > "spacer$i"; i=$((i + 1)); done
    printf '#!/bin/sh\necho init\n' > root/init && chmod 755 root/init
    printf 'hostname\n' > root/etc/hostname
    ln root/etc/hostname root/etc/hostname.link
    ln -s ../init root/bin/init
    seq 1 300 > root/usr/share/doc/changelog
    faketime "$clock" gzip -9 root/usr/share/doc/changelog
    chown -R "$uid:$uid" root
    # libfaketime also shifts the file times that stat() reports to the tools
    # run under it, so the recorded times are not exactly $clock; they differ
    # between the two builds, which is what the corpus needs.
    find root -exec touch -h -d "$clock" {} +
    for fmt in newc odc crc; do
        (cd root && find . | LC_ALL=C sort | faketime "$clock" cpio --quiet -o -H $fmt) > "$here/$fmt.$tag.cpio"
    done
}

make_case "2026-03-04 05:06:07" 1 1234
make_case "2027-08-09 10:11:12" 2 4321

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 300 "$here/newc.1.cpio" > "$here/malformed/truncated.cpio"
# No TRAILER!!! entry: cut right before it.
at=$(grep -abo 'TRAILER!!!' "$here/newc.1.cpio" | cut -d: -f1)
head -c $((at - 110)) "$here/newc.1.cpio" > "$here/malformed/no-trailer.cpio"
# A data byte flipped in a crc archive: its checksum no longer matches.
cp "$here/crc.1.cpio" "$here/malformed/bad-crc.cpio"
# The third "hostname" is the data (the first two are the links' names).
at=$(grep -abo 'hostname' "$here/crc.1.cpio" | sed -n 3p | cut -d: -f1)
printf 'H' | dd of="$here/malformed/bad-crc.cpio" bs=1 seek="$at" conv=notrunc 2>/dev/null

{
    cpio --version | head -n 1
    gzip --version | head -n 1
} > "$here/VERSIONS"
