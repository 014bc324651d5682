#!/bin/sh
# Recreates the COFF corpus: object files and import libraries, every case
# twice, at two clocks ("1" and "2"). Run from anywhere: sh corpus/coff/make.sh
# Needs: gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 (with their binutils),
# llvm (llvm-rc, llvm-cvtres, llvm-dlltool), faketime, python3.
#
# GNU as writes 0 into an object's TimeDateStamp, and ld's --out-implib and
# llvm-dlltool write 0 into their members, so those pairs are equal before
# normalizing (they show that nothing is touched). llvm-cvtres stamps the
# resource objects it makes with the clock, as Microsoft's cvtres does.
#
# The import libraries are ar archives: they go to archives/, not to pairs,
# because the ar handler (not this one) owns the container; the tests take
# their members out with ar x and put each through the coff handler.
# GNU ld takes its clock from SOURCE_DATE_EPOCH when it is set; lib.sh
# unsets it: the pairs must show the clock.
# faketime's clock runs from the given time, so a rerun may stamp a file one
# second later than the committed one; the pairs differ by a year anyway.
. "$(dirname "$0")/../lib.sh"
needs x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc llvm-rc llvm-cvtres llvm-dlltool faketime python3

cat > foo.c <<'C'
__declspec(dllexport) int foo_add(int a, int b) { return a + b; }
__declspec(dllexport) const char *foo_name(void) { return "foo"; }
C
cat > foo.rc <<'RC'
1 VERSIONINFO
FILEVERSION 1,2,3,4
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileDescription", "strip-nd test resource"
    END
  END
END
RC
printf 'LIBRARY foo.dll\nEXPORTS\n  foo_add\n  foo_name\n  foo_data DATA\n' > foo.def

mkdir -p "$here/archives"
make_case() { # clock tag
    clock=$1 tag=$2
    rm -rf b && mkdir b && cd b
    # Objects from gcc (amd64, i386, and amd64 in the "bigobj" format).
    faketime "$clock" x86_64-w64-mingw32-gcc -O2 -c ../foo.c -o foo.o
    cp foo.o "$here/foo.$tag.o"
    faketime "$clock" i686-w64-mingw32-gcc -O2 -c ../foo.c -o foo32.o
    cp foo32.o "$here/foo32.$tag.o"
    faketime "$clock" x86_64-w64-mingw32-gcc -O2 -c -Wa,-mbig-obj ../foo.c -o bigobj.o
    cp bigobj.o "$here/bigobj.$tag.o"
    # Resource objects from llvm-cvtres, for three machines.
    faketime "$clock" llvm-rc -no-preprocess -fo foo.res ../foo.rc
    for m in x64 x86 arm64; do
        faketime "$clock" llvm-cvtres -machine:$m -out:res-$m.obj foo.res >/dev/null
        cp res-$m.obj "$here/res-$m.$tag.obj"
    done
    # Import libraries: GNU ld's (long-format COFF members) and llvm-dlltool's
    # (short import objects).
    faketime "$clock" x86_64-w64-mingw32-gcc -shared -o foo.dll foo.o \
        -Wl,--insert-timestamp -Wl,--out-implib,libfoo.dll.a
    cp libfoo.dll.a "$here/archives/libfoo.$tag.dll.a"
    faketime "$clock" llvm-dlltool -m i386:x86-64 -d ../foo.def -l libfoo-llvm.a
    cp libfoo-llvm.a "$here/archives/libfoo-llvm.$tag.a"
    cd ..
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Malformed objects strip-nd must leave byte for byte as they are. They must
# still look like objects from their first 4096 bytes (the sniffed head, in
# which a small file is checked whole), so the damage lies beyond what the
# sniff checks: a truncated large object, a section whose data runs past the
# end, and an import object whose SizeOfData is wrong.
mkdir -p "$here/malformed"
printf 'const char big[8000] = "payload";\n' > big.c
x86_64-w64-mingw32-gcc -c big.c -o big.o
head -c 6000 big.o > "$here/malformed/truncated.o"
python3 - "$here/res-x64.1.obj" "$here/malformed" <<'PY'
import struct, sys
obj, out = sys.argv[1:]
data = bytearray(open(obj, "rb").read())
# Section 1's SizeOfRawData (header at 20, field at +16) past the end.
struct.pack_into("<I", data, 20 + 16, len(data) * 4)
open(f"{out}/section-outside.obj", "wb").write(data)
# A short import object (amd64, code, by name) whose SizeOfData claims 8
# bytes more than follow the header.
names = b"foo_add\0foo.dll\0"
imp = struct.pack("<HHHHIIHH", 0, 0xFFFF, 0, 0x8664, 1772600767, len(names) + 8, 0, 0x4)
open(f"{out}/import-size.o", "wb").write(imp + names)
PY

{
    x86_64-w64-mingw32-gcc --version | head -n 1
    x86_64-w64-mingw32-as --version | head -n 1
    pkg_versions faketime llvm \
        gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 binutils-mingw-w64-x86-64
} > "$here/VERSIONS"
