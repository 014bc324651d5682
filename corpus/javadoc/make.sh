#!/bin/sh
# Recreates the javadoc corpus: every case twice, at two clocks ("1" and "2")
# and two time zones, with the real javadoc. Run from anywhere:
# sh corpus/javadoc/make.sh
# Needs: a JDK (javadoc), faketime.
. "$(dirname "$0")/../lib.sh"
needs javadoc faketime

mkdir -p src/demo
cat > src/demo/Greeter.java <<'SRC'
package demo;

/** Says hello. */
public class Greeter {
    /**
     * Greets someone.
     * @param name who to greet
     * @return the greeting
     */
    public String greet(String name) { return "Hello, " + name; }
}
SRC

# "$(printf '\r\n')" would lose the \n: command substitution strips it.
crlf=$(printf '\r\nx')
crlf=${crlf%x}

make_case() { # clock tag zone
    clock=$1 tag=$2 zone=$3
    rm -rf out crlf
    # javadoc writes the date in the default time zone: UTC, then CEST.
    TZ=$zone faketime "$clock" javadoc -quiet -d out -sourcepath src demo >/dev/null
    cp out/demo/Greeter.html "$here/class.$tag.html"
    cp out/demo/package-summary.html "$here/package-summary.$tag.html"
    cp out/index-all.html "$here/index-all.$tag.html"
    # Windows line endings, as javadoc writes them on Windows.
    TZ=$zone faketime "$clock" javadoc -quiet -J-Dline.separator="$crlf" \
        -d crlf -sourcepath src demo >/dev/null
    cp crlf/demo/Greeter.html "$here/crlf.$tag.html"
}

make_case "2026-03-04 05:06:07" 1 UTC
make_case "2027-08-09 10:11:12" 2 Europe/Paris

# Malformed inputs strip-nd must leave byte for byte as they are: a page cut
# before </head>.
mkdir -p "$here/malformed"
head -n 6 "$here/class.1.html" > "$here/malformed/no-head-end.html"
head -n 5 "$here/index-all.1.html" > "$here/malformed/truncated.html"

{
    javadoc --version 2>&1 | head -n 1
    pkg_versions faketime
} > "$here/VERSIONS"
