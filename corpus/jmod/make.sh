#!/bin/sh
# Recreates the jmod corpus: a JDK module file (`JM 01 00`, then a zip) made
# twice by `jmod create`, at two clocks ("1" and "2"): jmod takes its entry
# times from the files' mtimes, and a build gives them the build's clock.
#   sh corpus/jmod/make.sh
# Needs: a JDK (javac, jmod), faketime.
. "$(dirname "$0")/../lib.sh"
needs javac jmod faketime

make_case() { # clock tag
    clock=$1 tag=$2
    rm -rf b && mkdir -p b/src/demo b/classes b/conf && cd b
    printf 'module demo {\n    exports demo;\n}\n' > src/module-info.java
    cat > src/demo/Main.java <<'JAVA'
package demo;

public class Main {
    public static void main(String[] args) {
        System.out.println("hello from a jmod");
    }
}
JAVA
    printf 'greeting=hello\n' > conf/demo.properties
    javac -d classes src/module-info.java src/demo/Main.java
    find classes conf -exec touch -d "$clock" {} +
    faketime "$clock" jmod create --class-path classes --config conf \
        --main-class demo.Main --module-version 1.0 "$here/demo.$tag.jmod"
    cd ..
}

rm -f "$here"/*.jmod
make_case "2026-03-04 05:06:07" 1
make_case "2027-08-09 10:11:12" 2

{
    javac -version 2>&1
    printf 'jmod %s\n' "$(jmod --version 2>&1)"
    printf 'faketime %s\n' "$(dpkg-query -W -f='${Version}' faketime 2>/dev/null || echo unknown)"
} > "$here/VERSIONS"
