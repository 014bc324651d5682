#!/bin/sh
# Recreates the PE corpus: every case twice, at two clocks ("1" and "2"), with
# the mingw-w64 cross toolchain. Run from anywhere: sh corpus/pe/make.sh
# Needs: gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 (with their binutils),
# faketime, python3 with pefile (pip install pefile, or python3-pefile),
# openssl and osslsigncode.
#
# GNU ld 2.40 writes the link time into the COFF header and the export
# directory when asked (--insert-timestamp, also Debian's default), and it
# always fills in the optional header's CheckSum. Its --build-id writes a
# CodeView RSDS record whose GUID hashes the sections, so it moves with the
# export directory's timestamp.
# GNU ld takes its clock from SOURCE_DATE_EPOCH when it is set; lib.sh
# unsets it: the pairs must show the clock.
# faketime's clock runs from the given time, so a rerun may stamp a file one
# second later than the committed one; the pairs differ by a year anyway.
. "$(dirname "$0")/../lib.sh"
needs x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc python3 openssl osslsigncode faketime

cat > hello.c <<'C'
#include <stdio.h>
int main(void) { puts("hello from a reproducible PE"); return 0; }
C
cat > foo.c <<'C'
__declspec(dllexport) int foo_add(int a, int b) { return a + b; }
__declspec(dllexport) const char *foo_name(void) { return "foo"; }
C
cat > foo.rc <<'RC'
1 VERSIONINFO
FILEVERSION 1,2,3,4
PRODUCTVERSION 1,2,3,4
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileDescription", "strip-nd test DLL"
      VALUE "ProductName", "foo"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
RC

make_case() { # clock tag
    clock=$1 tag=$2
    # Same file names in every build: ld derives a DLL's automatic image base
    # from its output name, so foo.1.dll and foo.2.dll would differ by more
    # than the clock.
    rm -rf b && mkdir b && cd b
    # A stripped console exe (PE32+) with a build id (CodeView RSDS).
    faketime "$clock" x86_64-w64-mingw32-gcc -O2 -s -o hello.exe ../hello.c \
        -Wl,--insert-timestamp -Wl,--build-id
    cp hello.exe "$here/hello.$tag.exe"
    # The same for i686 (PE32: another optional header layout).
    faketime "$clock" i686-w64-mingw32-gcc -O2 -s -o hello32.exe ../hello.c \
        -Wl,--insert-timestamp -Wl,--build-id
    cp hello32.exe "$here/hello32.$tag.exe"
    # A DLL with exports and a version resource, and its import library.
    faketime "$clock" x86_64-w64-mingw32-windres ../foo.rc -O coff -o foo-res.o
    faketime "$clock" x86_64-w64-mingw32-gcc -O2 -c ../foo.c -o foo.o
    faketime "$clock" x86_64-w64-mingw32-gcc -shared -s -o foo.dll foo.o foo-res.o \
        -Wl,--insert-timestamp -Wl,--build-id -Wl,--out-implib,libfoo.dll.a
    cp foo.dll "$here/foo.$tag.dll"
    # An image whose CheckSum is 0 (as linkers that skip it leave it): it must stay 0.
    faketime "$clock" x86_64-w64-mingw32-gcc -O2 -s -o nosum.exe ../hello.c -Wl,--insert-timestamp
    python3 -c 'import pefile, sys
pe = pefile.PE(sys.argv[1]); pe.OPTIONAL_HEADER.CheckSum = 0; pe.write(sys.argv[2])' nosum.exe "$here/nosum.$tag.exe"
    cd ..
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# A signed image (a throwaway self-signed certificate): strip-nd must refuse
# it, since changing a timestamp would break the Authenticode signature.
mkdir -p "$here/signed"
rm -f "$here/signed/hello.exe"  # osslsigncode refuses to overwrite
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=strip-nd-test -days 36500 \
    -keyout key.pem -out cert.pem 2>/dev/null
osslsigncode sign -certs cert.pem -key key.pem -n strip-nd-test \
    -in "$here/hello.1.exe" -out "$here/signed/hello.exe" >/dev/null

# Malformed images strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 3000 "$here/hello.1.exe" > "$here/malformed/truncated.exe"
python3 - "$here/hello.1.exe" "$here/foo.1.dll" "$here/malformed" <<'PY'
import struct, sys
import pefile

exe, dll, out = sys.argv[1:]

def patched(src, dst, edit):
    data = bytearray(open(src, "rb").read())
    edit(data, pefile.PE(src))
    open(f"{out}/{dst}", "wb").write(data)

# The CodeView record's file offset points past the end of the file.
def debug_outside(data, pe):
    d = pe.DIRECTORY_ENTRY_DEBUG[0].struct
    struct.pack_into("<I", data, d.get_file_offset() + 24, len(data) + 4096)
patched(exe, "debug-outside.exe", debug_outside)

# The export directory's RVA lies in no section.
def export_outside(data, pe):
    dd = pe.OPTIONAL_HEADER.DATA_DIRECTORY[0]
    struct.pack_into("<I", data, dd.get_file_offset(), 0x7fff0000)
patched(dll, "export-outside.dll", export_outside)

# A resource subdirectory offset past the end of the resource section.
def resource_outside(data, pe):
    e = pe.DIRECTORY_ENTRY_RESOURCE.entries[0].struct
    struct.pack_into("<I", data, e.get_file_offset() + 4, 0x80000000 | 0x7ffff0)
patched(dll, "resource-outside.dll", resource_outside)
PY

{
    x86_64-w64-mingw32-gcc --version | head -n 1
    i686-w64-mingw32-gcc --version | head -n 1
    x86_64-w64-mingw32-ld --version | head -n 1
    x86_64-w64-mingw32-windres --version | head -n 1
    pkg_versions faketime osslsigncode \
        gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 binutils-mingw-w64-x86-64
    python3 -c 'import pefile; print("pefile", pefile.__version__)'
    osslsigncode --version 2>&1 | head -n 1
    openssl version
} > "$here/VERSIONS"
