#!/bin/sh
# Recreates the sfnt font corpus: every case twice, at two clocks ("1" and
# "2"), with real tools. Run from anywhere: sh corpus/font/make.sh
# Needs: fontforge (with its Python module), fontTools (pip install fonttools),
# faketime, perl.
. "$(dirname "$0")/../lib.sh"
needs fontforge python3 faketime perl
# fontforge writes SOURCE_DATE_EPOCH into head.created/modified when it is
# set (lib.sh unsets it): the point here is the clock.

cat > ff.py <<'PY'
import sys, fontforge
f = fontforge.font()
f.fontname, f.familyname, f.fullname = "StripNdDemo", "StripNd Demo", "StripNd Demo"
f.encoding = "UnicodeFull"
# fontforge also writes the clock into the copyright and unique-ID name
# strings and into its own FFTM table, which the font handler does not
# normalize (yet): fix the strings and leave FFTM out, so the pair differs in
# the head table only.
f.copyright = "Copyright (c) strip-nd authors"
f.appendSFNTName("English (US)", "UniqueID", "StripNd Demo 1.0")
for ch, pts in (("A", [(50, 0), (350, 700), (650, 0)]), ("o", [(100, 0), (100, 500), (500, 500), (500, 0)])):
    g = f.createChar(ord(ch))
    pen = g.glyphPen()
    pen.moveTo(pts[0])
    for p in pts[1:]:
        pen.lineTo(p)
    pen.closePath()
    g.width = 700
f.createChar(32).width = 300
f.generate(sys.argv[1], flags=("no-FFTM-table",))
PY

cat > ft.py <<'PY'
import sys
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.ttLib import TTFont
from fontTools.ttLib.ttCollection import TTCollection

def build(name, cff):
    fb = FontBuilder(1000, isTTF=not cff)
    order = [".notdef", "space", "A", "o"]
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({32: "space", 65: "A", 111: "o"})
    shapes = {".notdef": [], "space": [], "A": [(50, 0), (350, 700), (650, 0)],
              "o": [(100, 0), (100, 500), (500, 500), (500, 0)]}
    if cff:
        cs = {}
        for g, pts in shapes.items():
            pen = T2CharStringPen(700, None)
            if pts:
                pen.moveTo(pts[0])
                for p in pts[1:]:
                    pen.lineTo(p)
                pen.closePath()
            cs[g] = pen.getCharString()
        fb.setupCFF(name, {"FullName": name}, cs, {})
    else:
        glyphs = {}
        for g, pts in shapes.items():
            pen = TTGlyphPen(None)
            if pts:
                pen.moveTo(pts[0])
                for p in pts[1:]:
                    pen.lineTo(p)
                pen.closePath()
            glyphs[g] = pen.glyph()
        fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({g: (700, 0) for g in order})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": name, "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    return fb.font

kind, out = sys.argv[1], sys.argv[2]
if kind == "ttc":
    c = TTCollection()
    for name in ("StripNdOne", "StripNdTwo"):
        build(name, False).save(name + ".ttf")
        c.fonts.append(TTFont(name + ".ttf"))
    c.save(out)
else:
    build("StripNdTool", kind == "otf").save(out)
PY

make_case() { # clock tag
    clock=$1 tag=$2
    faketime "$clock" fontforge -quiet -lang=py -script ff.py "$here/fontforge.$tag.ttf" 2>/dev/null
    faketime "$clock" fontforge -quiet -lang=py -script ff.py "$here/fontforge.$tag.otf" 2>/dev/null
    faketime "$clock" python3 ft.py ttf "$here/fonttools.$tag.ttf"
    faketime "$clock" python3 ft.py otf "$here/fonttools.$tag.otf"
    faketime "$clock" python3 ft.py ttc "$here/collection.$tag.ttc"
}

make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 300 "$here/fonttools.1.ttf" > "$here/malformed/truncated.ttf"
# One flipped byte in head.modified: the head checksum no longer matches.
perl -e 'local $/; $_ = <STDIN>; my $n = unpack("n", substr($_, 4, 2));
    for my $i (0 .. $n - 1) { my ($tag, $sum, $off) = unpack("a4 N N", substr($_, 12 + 16 * $i, 12));
        if ($tag eq "head") { substr($_, $off + 35, 1) = chr(ord(substr($_, $off + 35, 1)) ^ 1) } }
    print' < "$here/fonttools.1.ttf" > "$here/malformed/bad-head-checksum.ttf"

{
    fontforge -version 2>/dev/null | grep -i version || true
    python3 -c 'import fontTools; print("fonttools", fontTools.version)'
    pkg_versions fontforge faketime
} > "$here/VERSIONS"
