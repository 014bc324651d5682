#!/bin/sh
# Recreates the cpio corpus with GNU cpio: every case twice ("1" and "2"), at
# two clocks, with files owned by different users, fresh inodes, and the file
# list in two orders (find | sort, then find | sort -r), so the pairs differ
# in times, owners, inodes, entry order and which hard link carries the data.
# Cases: the binary format in both byte orders (bin: GNU cpio's default, host
# order, little-endian here; bin-be: the same archive with every 16-bit header
# word byte-swapped by swap16 below, which GNU cpio reads too), newc, odc and
# crc. Run from anywhere: sh corpus/cpio/make.sh
# Needs: cpio (GNU), gzip, faketime, python3.
. "$(dirname "$0")/../lib.sh"
needs cpio gzip faketime python3

# Byte-swaps the 13 header words of each entry of a little-endian binary cpio
# (names, data and the padding after the trailer are left as they are).
swap16() { # in out
    python3 - "$1" "$2" <<'PY'
import struct, sys
a = bytearray(open(sys.argv[1], "rb").read())
pos = 0
while True:
    words = struct.unpack_from("<13H", a, pos)
    assert words[0] == 0o070707, "not a little-endian binary cpio"
    struct.pack_into(">13H", a, pos, *words)
    namesize, size = words[10], words[11] << 16 | words[12]
    name = bytes(a[pos + 26:pos + 26 + namesize - 1])
    pos += 26 + namesize + (namesize & 1)
    pos += size + (size & 1)
    if name == b"TRAILER!!!":
        break
open(sys.argv[2], "wb").write(a)
PY
}

make_case() { # clock tag uid order
    clock=$1 tag=$2 uid=$3 order=$4
    rm -rf root && mkdir -p root/bin root/etc root/etc.d root/usr/share/doc
    # A different number of files before the tree: its inodes differ.
    i=0; while [ $i -lt "$tag" ]; do : > "spacer$i"; i=$((i + 1)); done
    printf '#!/bin/sh\necho init\n' > root/init && chmod 755 root/init
    printf 'hostname\n' > root/etc/hostname
    ln root/etc/hostname root/etc/hostname.link
    # etc.d sorts before etc/ byte for byte but after etc's contents by
    # component; an odd-length name for the binary format's padding.
    printf 'x=1\n' > root/etc.d/a.conf
    ln -s ../init root/bin/init
    seq 1 300 > root/usr/share/doc/changelog
    faketime "$clock" gzip -9 root/usr/share/doc/changelog
    chown -R "$uid:$uid" root
    # libfaketime also shifts the file times that stat() reports to the tools
    # run under it, so the recorded times are not exactly $clock; they differ
    # between the two builds, which is what the corpus needs.
    find root -exec touch -h -d "$clock" {} +
    for fmt in bin newc odc crc; do
        (cd root && find . | LC_ALL=C sort $order | faketime "$clock" cpio --quiet -o -H $fmt) > "$here/$fmt.$tag.cpio"
    done
    swap16 "$here/bin.$tag.cpio" "$here/bin-be.$tag.cpio"
}

make_case "2026-03-04 05:06:07" 1 1234 ""
make_case "2027-08-09 10:11:12" 2 4321 "-r"

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 300 "$here/newc.1.cpio" > "$here/malformed/truncated.cpio"
head -c 200 "$here/bin-be.1.cpio" > "$here/malformed/truncated-bin-be.cpio"
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
    python3 --version
    pkg_versions faketime
} > "$here/VERSIONS"
