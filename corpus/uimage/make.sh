#!/bin/sh
# Recreates the U-Boot legacy image corpus: every case twice, at two clocks
# ("1" and "2"), with real tools. Run from anywhere: sh corpus/uimage/make.sh
# Needs: mkimage (u-boot-tools), gzip, faketime.
. "$(dirname "$0")/../lib.sh"
needs mkimage gzip faketime

# A stand-in kernel and a boot script: the same bytes in every build.
seq 1 400 | sed 's/^/kernel word /' > Image
gzip -9n -c Image > Image.gz
printf 'echo booting\nbootm 0x80000000\n' > boot.cmd

make_case() { # clock tag
    clock=$1 tag=$2
    faketime "$clock" mkimage -A arm -O linux -T kernel -C none -a 0x80008000 \
        -e 0x80008000 -n "demo kernel" -d Image "$here/kernel.$tag.uimg" >/dev/null
    faketime "$clock" mkimage -A arm64 -O linux -T kernel -C gzip -a 0x80000 \
        -e 0x80000 -n "demo gz kernel" -d Image.gz "$here/kernel-gz.$tag.uimg" >/dev/null
    faketime "$clock" mkimage -A arm -O linux -T script -C none -n "boot script" \
        -d boot.cmd "$here/script.$tag.uimg" >/dev/null
    faketime "$clock" mkimage -A arm -O linux -T multi -C none -n "multi" \
        -d Image:boot.cmd "$here/multi.$tag.uimg" >/dev/null
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 1000 "$here/kernel.1.uimg" > "$here/malformed/truncated.uimg"
# One flipped byte in ih_time: the header CRC no longer matches.
perl -e 'local $/; $_ = <STDIN>; substr($_, 11, 1) = chr(ord(substr($_, 11, 1)) ^ 1); print' \
    < "$here/kernel.1.uimg" > "$here/malformed/bad-hcrc.uimg"

{
    mkimage -V
    pkg_versions u-boot-tools faketime
} > "$here/VERSIONS"
