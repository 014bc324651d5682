#!/bin/sh
# Recreates the ar corpus: every case twice, at two clocks ("1" and "2"), with
# members owned by different users, using real tools. Run from anywhere:
# sh corpus/ar/make.sh
# Needs: gcc, binutils (GNU ar), libarchive-tools (bsdtar), llvm (llvm-ar),
# gzip, faketime.
. "$(dirname "$0")/../lib.sh"
needs gcc ar bsdtar llvm-ar gzip faketime

make_case() { # clock tag uid
    clock=$1 tag=$2 uid=$3
    rm -rf b && mkdir b && cd b
    printf 'int f(void) { return 1; }\n' > a.c
    printf 'int g(void) { return 2; }\n' > b.c
    printf 'int h(void) { return 3; }\n' > a_long_object_file_name.c
    faketime "$clock" gcc -O2 -c a.c b.c a_long_object_file_name.c
    printf '#!/bin/sh\necho hi\n' > run.sh && chmod 755 run.sh
    seq 1 500 > notes && faketime "$clock" gzip -9 notes
    touch -d "$clock" ./*.o run.sh notes.gz
    chown "$uid:$uid" ./*.o run.sh notes.gz
    # GNU ar in non-deterministic mode (U): real dates, uids, modes; a symbol
    # table (/) and a long-name table (//).
    faketime "$clock" ar rcU "$here/gnu.$tag.a" a.o b.o a_long_object_file_name.o run.sh
    # A gzip member before the objects: normalizing it shrinks it, so the
    # symbol table's member offsets must follow (nm reads them).
    faketime "$clock" ar rcU "$here/nested.$tag.a" notes.gz a.o b.o
    # BSD layout (#1/<len> long names), from libarchive.
    faketime "$clock" bsdtar --format=arbsd -cf "$here/bsd.$tag.a" a.o b.o a_long_object_file_name.o
    # Darwin layout with a __.SYMDEF symbol table, from llvm-ar.
    faketime "$clock" llvm-ar --format=darwin rcsU "$here/darwin.$tag.a" a.o b.o a_long_object_file_name.o
    cd ..
}

make_case "2026-03-04 05:06:07" 1 1234
make_case "2027-08-09 10:11:12" 2 4321

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 300 "$here/gnu.1.a" > "$here/malformed/truncated.a"
{ cat "$here/gnu.1.a"; printf 'garbage'; } > "$here/malformed/trailing-garbage.a"
# The first member header's terminator (bytes 66-67) is not "`\n".
cp "$here/gnu.1.a" "$here/malformed/bad-terminator.a"
printf 'xx' | dd of="$here/malformed/bad-terminator.a" bs=1 seek=66 conv=notrunc 2>/dev/null
# A thin archive is refused (left alone, reported as skipped), not rewritten.
mkdir -p "$here/unsupported"
# (ar r would read an old thin.a, whose members it cannot find from here.)
rm -f "$here/unsupported/thin.a"
(cd b && ar rcTU "$here/unsupported/thin.a" a.o b.o)

{
    ar --version | head -n 1
    bsdtar --version
    llvm-ar --version | grep -i version | head -n 1
    gcc --version | head -n 1
    gzip --version | head -n 1
} > "$here/VERSIONS"
