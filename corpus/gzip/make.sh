#!/bin/sh
# Recreates the gzip corpus: every case twice, at two clocks ("1" and "2"),
# with real tools. Run from anywhere: sh corpus/gzip/make.sh
# Needs: gzip, faketime, perl (IO::Compress::Gzip is part of core Perl).
. "$(dirname "$0")/../lib.sh"
needs gzip faketime perl

# The payload: the same bytes in every build.
payload() {
    seq 1 3000 | sed 's/^/line /'
    printf '.TH STRIP-ND 1\n.SH NAME\nstrip-nd \\- normalize build outputs\n'
}

make_case() { # clock tag
    clock=$1 tag=$2
    rm -rf b && mkdir b && cd b
    payload > page.1 && touch -d "$clock" page.1
    faketime "$clock" gzip -c -6 page.1 > "$here/plain.$tag.gz"
    faketime "$clock" gzip -c -n page.1 > "$here/no-name.$tag.gz"
    faketime "$clock" gzip -c -1 page.1 > "$here/fast.$tag.gz"
    faketime "$clock" gzip -c -9 page.1 > "$here/best.$tag.gz"
    # Builds often compress temp files whose names differ from run to run.
    cp -p page.1 "tmp-$tag-x81.1"
    faketime "$clock" gzip -c "tmp-$tag-x81.1" > "$here/renamed.$tag.gz"
    # Two members, as "cat a.gz b.gz" or "gzip >> log.gz" leave them.
    printf 'first member\n' > one && touch -d "$clock" one
    printf 'second member\n' > two && touch -d "$clock" two
    { gzip -c one; gzip -c two; } > "$here/multi.$tag.gz"
    # A name, a comment and an extra field, from Perl's IO::Compress::Gzip
    # (GNU gzip cannot write a comment).
    faketime "$clock" perl -MIO::Compress::Gzip=gzip,\$GzipError -e '
        gzip "page.1" => "'"$here/comment.$tag.gz"'", Name => "page.1",
            Comment => "built by make.sh", Time => time(),
            ExtraField => [ SD => "data" ], Minimal => 0
          or die $GzipError;'
    # Zero padding after the last member, as tape and block writers leave it;
    # gzip -t accepts it ("trailing zero bytes ignored").
    { gzip -c page.1; head -c 512 /dev/zero; } > "$here/zero-padded.$tag.gz"
    cd ..
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
payload > page.1
# IO::Compress::Gzip 2.106 writes FHCRC with its high byte zeroed; gzip -t rejects it.
perl -MIO::Compress::Gzip=gzip,\$GzipError -e '
    gzip "page.1" => "'"$here/malformed/perl-headercrc.gz"'", Name => "page.1",
        Time => 1772600767, HeaderCRC => 1 or die $GzipError;'
head -c 3000 "$here/plain.1.gz" > "$here/malformed/truncated.gz"
{ cat "$here/plain.1.gz"; printf 'garbage after the member\n'; } > "$here/malformed/trailing-garbage.gz"

{
    gzip --version | head -n 1
    faketime --version 2>&1 | head -n 1 || echo "faketime (libfaketime)"
    perl -MIO::Compress::Gzip -e 'print "perl $^V, IO::Compress::Gzip $IO::Compress::Gzip::VERSION\n"'
} > "$here/VERSIONS"
