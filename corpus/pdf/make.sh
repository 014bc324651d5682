#!/bin/sh
# Recreates the PDF corpus: each case twice, at two clocks ("1" and "2"),
# same tool, same input. Run: sh corpus/pdf/make.sh
# Needs: groff (gropdf), ghostscript (ps2pdf), poppler-utils (pdftocairo),
# qpdf, faketime, python3 with pypdf (pip install pypdf).
. "$(dirname "$0")/../lib.sh"
needs groff ps2pdf pdftocairo qpdf python3 faketime
cat > demo.1 <<'MAN'
.TH DEMO 1 2020-01-01 demo
.SH NAME
demo \- a page for the PDF corpus
.SH DESCRIPTION
The quick brown fox jumps over the lazy dog.
.B Bold,
.I italic
and a list:
.IP 1.
one
.IP 2.
two
MAN
# Fixed inputs for the converters, made once before the epoch (1979), so
# that only the converter's own clock differs between a pair.
faketime "1979-06-01 12:00:00" groff -man -Tps demo.1 > demo.ps
TZ=UTC faketime "1979-06-01 12:00:00" ps2pdf demo.ps old.pdf
# An incremental update (pypdf, incremental=True) that sets /ModDate from the clock.
cat > update.py <<'PY'
import sys, time
from pypdf import PdfWriter
w = PdfWriter(sys.argv[1], incremental=True)
w.add_metadata({"/ModDate": time.strftime("D:%Y%m%d%H%M%S+00'00'", time.gmtime()), "/Title": "demo"})
w.write(sys.argv[2])
PY

make_case() { # clock tag
    # gropdf: classic xref, /Info dates in UTC, no /ID.
    faketime "$1" groff -man -Tpdf demo.1 > "$here/groff.$2.pdf"
    # ps2pdf (PDF 1.4): /Info and XMP dates with the zone's offset, which
    # differs between the two clocks (CET, CEST); /ID and xapMM:DocumentID
    # from the clock.
    TZ=Europe/Berlin faketime "$1" ps2pdf demo.ps "$here/ps2pdf.$2.pdf"
    # cairo (pdftocairo -pdf, PDF 1.5, classic xref): /CreationDate as +HH'mm.
    TZ=America/New_York faketime "$1" pdftocairo -pdf old.pdf "$here/cairo.$2.pdf"
    # qpdf with object streams: a cross-reference stream holding /ID, /Info
    # compressed (its 1979 dates need no change).
    faketime "$1" qpdf --object-streams=generate old.pdf "$here/qpdf-xref-stream.$2.pdf"
    # qpdf --linearize of a ps2pdf file made at the same clock: a first-page
    # trailer and the main one, both with /ID.
    TZ=UTC faketime "$1" ps2pdf demo.ps "$work/late.pdf"
    faketime "$1" qpdf --linearize "$work/late.pdf" "$here/qpdf-linearized.$2.pdf"
    # gropdf then a pypdf incremental update at the same clock: two
    # revisions of /Info (the new one written with octal escapes), a
    # classic table and an update's cross-reference stream.
    faketime "$1" groff -man -Tpdf demo.1 > "$work/base.pdf"
    faketime "$1" python3 update.py "$work/base.pdf" "$here/pypdf-incremental.$2.pdf"
}
make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

# Left untouched and reported as malformed.
mkdir -p "$here/malformed" "$here/unsupported"
head -c 6000 "$here/ps2pdf.1.pdf" > "$here/malformed/truncated.pdf"
# startxref moved by one byte: it no longer points at the xref table.
perl -e 'local $/; $_ = <STDIN>; s/startxref\n(\d+)/"startxref\n".($1+1)/e; print' \
    < "$here/groff.1.pdf" > "$here/malformed/bad-startxref.pdf"
# The /Info object's number changed in the file but not in the table.
perl -e 'local $/; $_ = <STDIN>; my ($n) = m{/Info (\d+) 0 R}; my $r = "9" x length $n; s/\n$n 0 obj/\n$r 0 obj/; print' \
    < "$here/groff.1.pdf" > "$here/malformed/misplaced-info.pdf"
# Left alone and reported as unsupported: late /Info dates in an object
# stream, an encrypted document.
faketime "2026-03-04 05:06:07" qpdf --object-streams=generate "$here/ps2pdf.1.pdf" "$here/unsupported/info-in-object-stream.pdf"
faketime "2026-03-04 05:06:07" qpdf --encrypt user owner 256 -- "$here/ps2pdf.1.pdf" "$here/unsupported/encrypted.pdf"
{
    pkg_versions groff ghostscript poppler-utils libcairo2 qpdf faketime
    python3 -c 'import pypdf; print("pypdf", pypdf.__version__)'
} > "$here/VERSIONS"
