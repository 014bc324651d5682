#!/bin/sh
# Recreates the wheel corpus: a tiny package whose wheel holds a gettext
# catalog compiled by msgfmt, built twice at two clocks ("1" and "2") with real
# tools. The catalog's header carries the clock (POT-Creation-Date,
# PO-Revision-Date from msginit), so strip-nd changes a member listed in
# RECORD. Run from anywhere: sh corpus/wheel/make.sh
# Needs: gettext (xgettext, msginit, msgfmt), faketime, pip (it fetches
# setuptools for the isolated build).
. "$(dirname "$0")/../lib.sh"
needs xgettext msginit msgfmt pip unzip faketime

build() { # clock tag
    dir="$work/$2"
    mkdir -p "$dir/src/hello/locale/fr/LC_MESSAGES"
    cd "$dir"
    cat > src/hello/__init__.py <<'SRC'
import gettext, os
t = gettext.translation("hello", os.path.join(os.path.dirname(__file__), "locale"), ["fr"])
def greet():
    return t.gettext("Hello, world!")
SRC
    cat > pyproject.toml <<'SRC'
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
[project]
name = "hello-mo"
version = "1.0"
[tool.setuptools.package-data]
hello = ["locale/*/LC_MESSAGES/*.mo"]
SRC
    faketime "$1" xgettext -L Python -o hello.pot src/hello/__init__.py
    faketime "$1" msginit --no-translator -l fr_FR.UTF-8 -i hello.pot -o fr.po
    perl -0pi -e 's/msgid "Hello, world!"\nmsgstr ""/msgid "Hello, world!"\nmsgstr "Bonjour, le monde !"/' fr.po
    faketime "$1" msgfmt -o src/hello/locale/fr/LC_MESSAGES/hello.mo fr.po
    faketime "$1" pip wheel --no-deps -q -w dist .
    cp dist/hello_mo-1.0-py3-none-any.whl "$here/mo-catalog.$2.whl"
}

build "2024-03-01 10:00:00" 1
build "2025-07-15 22:30:00" 2
{
    echo "$(msgfmt --version | head -n 1)"
    echo "pip $(pip --version | cut -d' ' -f2)"
    unzip -p "$here/mo-catalog.1.whl" '*.dist-info/WHEEL' | grep Generator
} > "$here/VERSIONS"
