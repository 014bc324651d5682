#!/bin/sh
# Recreates the perllocal.pod corpus: every case twice, at two clocks ("1" and
# "2") and two time zones, with real ExtUtils::MakeMaker installs. Run from
# anywhere: sh corpus/perllocal/make.sh
# Needs: perl, make, faketime.
. "$(dirname "$0")/../lib.sh"
needs perl make faketime

# A tiny module distribution named $1.
module() {
    rm -rf "dist-$1" && mkdir -p "dist-$1/lib/Demo" && cd "dist-$1"
    printf 'package Demo::%s;\nour $VERSION = "1.00";\n1;\n' "$1" > "lib/Demo/$1.pm"
    printf 'use ExtUtils::MakeMaker;\nWriteMakefile(NAME => "Demo::%s", VERSION_FROM => "lib/Demo/%s.pm");\n' \
        "$1" "$1" > Makefile.PL
    cd ..
}

# Installs module $1 into DESTDIR $2 at clock $3 in zone $4; make install
# appends an entry to perllocal.pod.
install() {
    (cd "dist-$1" && TZ=$4 faketime "$3" sh -c \
        "perl Makefile.PL && make && make install DESTDIR='$2'" >/dev/null 2>&1)
}

module Hello
module Bye

make_case() { # clock tag zone
    clock=$1 tag=$2 zone=$3
    rm -rf "dest-$tag" one two
    install Hello "$work/one" "$clock" "$zone"
    cp "$(find one -name perllocal.pod)" "$here/one.$tag.pod"
    install Hello "$work/two" "$clock" "$zone"
    install Bye "$work/two" "$clock" "$zone"
    cp "$(find two -name perllocal.pod)" "$here/two-entries.$tag.pod"
}

make_case "2026-03-04 05:06:07" 1 UTC
make_case "2027-08-09 10:11:12" 2 Asia/Tokyo

{
    perl -MExtUtils::MakeMaker -e 'print "perl $^V, ExtUtils::MakeMaker $ExtUtils::MakeMaker::VERSION\n"'
    pkg_versions faketime
} > "$here/VERSIONS"
