#!/bin/sh
# Recreates the ISO 9660 corpus: each case twice, at two clocks ("1" and "2"),
# same tool, same tree, same file order. Run: sh corpus/iso9660/make.sh
# Needs: xorriso, genisoimage, faketime.
. "$(dirname "$0")/../lib.sh"
needs xorriso genisoimage faketime
mkdir -p src/sub/deep
echo hello > src/a.txt
seq 1 2000 > src/sub/b.txt
echo x > src/sub/deep/c
chmod 755 src/sub/deep/c
ln -s a.txt src/link
# Fixed source mtimes: only the build clock differs between the pair.
find src -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +

make_case() { # clock tag
    faketime "$1" xorriso -as mkisofs -no-pad -R -J -V DEMO -o "$here/xorriso-rj.$2.iso" src 2>/dev/null
    faketime "$1" xorriso -as mkisofs -no-pad -V DEMO -o "$here/xorriso-plain.$2.iso" src 2>/dev/null
    faketime "$1" genisoimage -quiet -no-pad -R -J -V DEMO -o "$here/genisoimage-rj.$2.iso" src
}
make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

mkdir -p "$here/malformed"
head -c 40000 "$here/genisoimage-rj.1.iso" > "$here/malformed/truncated.iso"
# Version byte of the first descriptor after CD001 set to 2: not a version-1 descriptor set.
perl -e 'local $/; $_ = <STDIN>; substr($_, 0x8800 + 6, 1) = chr(7); print' \
    < "$here/xorriso-rj.1.iso" > "$here/malformed/bad-second-descriptor.iso"
{
    xorriso -version 2>/dev/null | head -1
    pkg_versions xorriso genisoimage faketime
} > "$here/VERSIONS"
