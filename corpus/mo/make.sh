#!/bin/sh
# Recreates the gettext .mo corpus: every case twice, at two clocks ("1" and
# "2"), with real tools. Run from anywhere: sh corpus/mo/make.sh
# Needs: gettext (xgettext, msginit, msgcat, msgfmt), faketime, and Babel's
# pybabel (pip install babel).
. "$(dirname "$0")/../lib.sh"
needs xgettext msginit msgcat msgfmt pybabel faketime

cat > hello.c <<'SRC'
#include <libintl.h>
#include <stdio.h>
#define _(s) gettext (s)
int main (void) {
  puts (_("Hello, world!"));
  puts (_("Goodbye"));
  printf (ngettext ("%d file\n", "%d files\n", 3), 3);
  return 0;
}
SRC
cat > hello.py <<'SRC'
from gettext import gettext as _
print(_("Hello, world!"))
print(_("Goodbye"))
SRC

# Fills in the French translations of a .po made by msginit or pybabel.
translate() {
    perl -0pi -e '
        s/msgid "Hello, world!"\nmsgstr ""/msgid "Hello, world!"\nmsgstr "Bonjour, le monde !"/;
        s/msgid "Goodbye"\nmsgstr ""/msgid "Goodbye"\nmsgstr "Au revoir"/;
        s/msgstr\[0\] ""\nmsgstr\[1\] ""/msgstr[0] "%d fichier\\n"\nmsgstr[1] "%d fichiers\\n"/;
        s/^#, fuzzy\n//m;
        s/"Language-Team: .*?\\n"/"Language-Team: French\\n"/;
        s/"Last-Translator: .*?\\n"/"Last-Translator: Demo <demo\@example.org>\\n"/' "$1"
}

make_case() { # clock tag zone
    clock=$1 tag=$2 zone=$3
    rm -rf b && mkdir b && cp hello.c hello.py b/ && cd b
    # xgettext writes POT-Creation-Date, msginit PO-Revision-Date, both in
    # local time with a numeric zone: TZ varies like the clock does.
    TZ=$zone faketime "$clock" xgettext -k_ --package-name=hello --package-version=1.0 \
        --msgid-bugs-address=bugs@example.org -o hello.pot hello.c
    TZ=$zone faketime "$clock" msginit --no-translator -l fr_FR.UTF-8 -i hello.pot -o fr.po 2>/dev/null
    translate fr.po
    msgfmt -o "$here/msgfmt.$tag.mo" fr.po
    msgfmt --endianness=big -o "$here/big-endian.$tag.mo" fr.po
    msgfmt --no-hash -o "$here/no-hash.$tag.mo" fr.po
    # A catalog whose header was edited by hand, with unpadded fields: the
    # epoch is longer, so the catalog is rebuilt around the header.
    short=$(TZ=$zone faketime "$clock" date '+%Y-%-m-%-d %-H:%M%z')
    sed "s/^\"PO-Revision-Date: .*\"/\"PO-Revision-Date: $short\\\\n\"/" fr.po > short.po
    msgfmt -o "$here/short-date.$tag.mo" short.po
    # msgcat keeps both headers when they differ ("#-#-#-#-#" blocks), so the
    # dates appear twice; the merged header is fuzzy, hence msgfmt -f.
    sed 's/"Project-Id-Version: hello 1.0/"Project-Id-Version: hello 1.1/' fr.po > fr2.po
    TZ=$zone faketime "$clock" msgcat fr.po fr2.po -o merged.po
    msgfmt -f -o "$here/merged.$tag.mo" merged.po
    # Babel: seconds-free dates in its own layout, no hash table.
    TZ=$zone faketime "$clock" pybabel -q extract --project=hello --version=1.0 -o babel.pot hello.py
    TZ=$zone faketime "$clock" pybabel -q init -l fr -i babel.pot -d loc -D hello
    translate loc/fr/LC_MESSAGES/hello.po
    pybabel -q compile -d loc -D hello
    cp loc/fr/LC_MESSAGES/hello.mo "$here/babel.$tag.mo"
    cd ..
}

make_case "2026-03-04 05:06:07" 1 Europe/Paris
make_case "2027-08-09 10:11:12" 2 America/New_York

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 100 "$here/msgfmt.1.mo" > "$here/malformed/truncated.mo"
# The translation table offset (bytes 16..19, little endian) points past the end.
perl -e 'local $/; $_ = <STDIN>; substr($_, 16, 4) = pack("V", 0x7fffff00); print' \
    < "$here/msgfmt.1.mo" > "$here/malformed/bad-offset.mo"

{
    msgfmt --version | head -n 1
    xgettext --version | head -n 1
    pybabel --version
    pkg_versions faketime gettext
} > "$here/VERSIONS"
