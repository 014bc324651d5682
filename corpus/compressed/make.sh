#!/bin/sh
# Recreates the compressed-tarball corpus: every case twice, at two clocks
# ("1" and "2"), with files owned by different users, made by the real
# compressors (GNU tar's -J/-j/--zstd pipe to xz, bzip2 and zstd). Cases:
#   xz           tar -cJf: xz -6, CRC64, single-threaded (no sizes in blocks)
#   xz-mt        xz -T2 --block-size=64KiB: the multi-threaded layout
#                (sizes in block headers, several blocks), as dpkg-deb writes
#   xz-9-sha256  xz -9 --check=sha256
#   xz-padded    tar -cJf, then 512 zero bytes (stream padding; xz -t accepts it)
#   bzip2        tar -cjf: bzip2 -9
#   bzip2-1      bzip2 -1 (block size 100k)
#   zstd         tar --zstd -cf: zstd -3 from a pipe (no content size, checksum)
#   zstd-file    zstd -q on the file (content size recorded)
#   zstd-19      zstd -19 --no-check
# refused/: several streams (cat of two compressed halves), which strip-nd
# reads but never rewrites. malformed/: damaged files strip-nd must leave as
# they are and report.
# Run from anywhere: sh corpus/compressed/make.sh
# Needs: tar (GNU), xz-utils, bzip2, zstd, faketime.
. "$(dirname "$0")/../lib.sh"
needs tar xz bzip2 zstd faketime

tree() { # clock uid
    clock=$1 uid=$2
    rm -rf pkg && mkdir -p pkg/bin pkg/share/doc
    printf '#!/bin/sh\necho hello\n' > pkg/bin/hello && chmod 755 pkg/bin/hello
    seq 1 20000 | sed 's/^/line /' > pkg/share/doc/README
    ln -s ../share/doc/README pkg/bin/readme
    seq 1 300 > pkg/share/doc/changelog
    faketime "$clock" gzip -9 pkg/share/doc/changelog
    chown -R "$uid:$uid" pkg
    # libfaketime also shifts the times stat() reports to the tools run under
    # it, so the recorded times differ between the two builds.
    find pkg -exec touch -h -d "$clock" {} +
}

make_case() { # clock tag uid
    clock=$1 tag=$2 uid=$3
    tree "$clock" "$uid"
    faketime "$clock" tar -cJf "$here/xz.$tag.tar.xz" pkg
    faketime "$clock" tar -cf p.tar pkg
    xz -T2 --block-size=64KiB -c p.tar > "$here/xz-mt.$tag.tar.xz"
    xz -9 --check=sha256 -c p.tar > "$here/xz-9-sha256.$tag.tar.xz"
    { cat "$here/xz.$tag.tar.xz"; head -c 512 /dev/zero; } > "$here/xz-padded.$tag.tar.xz"
    faketime "$clock" tar -cjf "$here/bzip2.$tag.tar.bz2" pkg
    bzip2 -1 -c p.tar > "$here/bzip2-1.$tag.tar.bz2"
    faketime "$clock" tar --zstd -cf "$here/zstd.$tag.tar.zst" pkg
    zstd -q -c p.tar > "$here/zstd-file.$tag.tar.zst"
    zstd -q -19 --no-check -c p.tar > "$here/zstd-19.$tag.tar.zst"
    # Two streams, as pbzip2, pzstd or `cat a.xz b.xz` leave them.
    head -c 20480 p.tar > one && tail -c +20481 p.tar > two
    mkdir -p "$here/refused"
    { xz -c one; xz -c two; } > "$here/refused/multi.$tag.tar.xz"
    { bzip2 -c one; bzip2 -c two; } > "$here/refused/multi.$tag.tar.bz2"
    { zstd -q -c one; zstd -q -c two; } > "$here/refused/multi.$tag.tar.zst"
}

rm -rf "$here"/*.tar.* "$here/refused" "$here/malformed"
make_case "2026-03-04 05:06:07" 1 1234
make_case "2027-08-09 10:11:12" 2 4321

mkdir -p "$here/malformed"
# From the cases with a checksum over the payload (zstd's is optional).
for src in "$here/xz.1.tar.xz" "$here/bzip2.1.tar.bz2" "$here/zstd.1.tar.zst"; do
    ext=${src##*.}
    size=$(wc -c < "$src")
    head -c $((size - 7)) "$src" > "$here/malformed/truncated.tar.$ext"
    { cat "$src"; printf 'garbage after the stream\n'; } > "$here/malformed/trailing-garbage.tar.$ext"
    cp "$src" "$here/malformed/flipped.tar.$ext"
    # One byte in the middle of the compressed data.
    printf '\377' | dd of="$here/malformed/flipped.tar.$ext" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
done

{
    tar --version | head -n 1
    xz --version | head -n 1
    bzip2 --help 2>&1 | head -n 1
    zstd --version
    gzip --version | head -n 1
} > "$here/VERSIONS"
