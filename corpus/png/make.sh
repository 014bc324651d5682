#!/bin/sh
# Recreates the PNG corpus: every case twice, at two clocks ("1" and "2"), with
# real tools. Run from anywhere: sh corpus/png/make.sh
# Needs: ImageMagick's convert (apt-get install imagemagick), faketime, and
# Python with Pillow (pip install pillow) for zTXt/iTXt, which convert does
# not write.
. "$(dirname "$0")/../lib.sh"
needs convert python3 faketime

make_case() { # clock tag
    clock=$1 tag=$2
    rm -rf b && mkdir b && cd b
    # convert writes tIME and the tEXt chunks date:create and date:modify.
    faketime "$clock" convert -size 16x16 gradient:red-blue "$here/gradient.$tag.png"
    # From a file: date:modify is the source file's mtime.
    convert -size 8x8 xc:green src.ppm && touch -d "$clock" src.ppm
    faketime "$clock" convert src.ppm -colors 4 "$here/palette.$tag.png"
    # Bytes after IEND (some tools append payloads); they must survive.
    faketime "$clock" convert -size 4x4 xc:gray50 -alpha on t.png
    { cat t.png; printf 'appended after IEND\n'; } > "$here/trailing.$tag.png"
    # Pillow: compressed and international text, RFC 1123 Creation Time.
    faketime "$clock" python3 - "$here/text.$tag.png" <<'PY'
import sys, time, email.utils
from datetime import datetime, timezone
from PIL import Image, PngImagePlugin
now = time.time()
iso = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
info = PngImagePlugin.PngInfo()
info.add_text("Title", "corpus image")
info.add_text("Creation Time", email.utils.formatdate(now, usegmt=True))
info.add_text("date:create", iso, zip=True)
info.add_itxt("date:modify", iso, lang="en", tkey="date:modify", zip=True)
info.add_itxt("date:timestamp", iso, zip=False)
Image.new("RGB", (4, 3), (10, 200, 30)).save(sys.argv[1], pnginfo=info)
PY
    cd ..
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 200 "$here/gradient.1.png" > "$here/malformed/truncated.png"
# One flipped byte in the tIME data: its CRC no longer matches.
perl -e 'local $/; $_ = <STDIN>; my $i = index($_, "tIME") + 6; substr($_, $i, 1) = chr(ord(substr($_, $i, 1)) ^ 1); print' \
    < "$here/gradient.1.png" > "$here/malformed/bad-crc.png"

{
    convert -version | head -n 1
    python3 -c 'import PIL, sys; print("Python", sys.version.split()[0], "Pillow", PIL.__version__)'
    pkg_versions faketime imagemagick
} > "$here/VERSIONS"
