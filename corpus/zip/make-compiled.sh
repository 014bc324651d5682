#!/bin/sh
# Recreates the zip corpus cases about sources and their compiled forms, and
# Maven's leftovers (make.sh runs it last; it can also run alone):
#   sh corpus/zip/make-compiled.sh
# Every case twice, at two clocks ("1" and "2"), in two member orders.
# Needs: clojure (/usr/share/java/clojure.jar), a JDK (javac, jar), python3
# (3.11, the pyc magic the tests load), faketime.
#
# clojure.<n>.jar: demo/core.clj and its AOT-compiled demo/core__init.class,
#   the class written a minute after the source (as a build does). The source
#   in the jar says (def loaded-from "source"); the class was compiled from a
#   source saying "class", so which one Clojure loads shows.
# pyzip.<n>.zip: m.py with a legacy m.pyc beside it (what zipimport uses), and
#   pkg/mod.py with pkg/__pycache__/mod.cpython-311.pyc (what importlib uses
#   once extracted), written by Python's zipfile. Each pyc is compiled from
#   another source of the same size, so which one runs shows.
# maven.<n>.jar: an executable jar whose classes directory also holds what
#   Maven's compiler plugin leaves there when it forks javac: javac.sh and
#   org.codehaus.plexus.compiler.javac.JavacCompiler<random>arguments.
. "$(dirname "$0")/../lib.sh"
needs javac jar python3 faketime
clj=/usr/share/java/clojure.jar
export TZ=UTC

plus_minute() { # clock
    date -u -d "@$(($(date -u -d "$1" +%s) + 60))" '+%Y-%m-%d %H:%M:%S'
}

clojure_case() { # clock tag order
    clock=$1 tag=$2 order=$3
    rm -rf c && mkdir -p c/src/demo c/aot/demo c/classes c/jar/demo
    printf '(ns demo.core)\n(def loaded-from "source")\n' > c/src/demo/core.clj
    printf '(ns demo.core)\n(def loaded-from "class")\n' > c/aot/demo/core.clj
    (cd c && java -cp "$clj:aot" -Dclojure.compile.path=classes clojure.main \
        -e "(compile 'demo.core)" > /dev/null)
    cp c/classes/demo/*.class c/jar/demo/
    cp c/src/demo/core.clj c/jar/demo/
    find c/jar -exec touch -d "$clock" {} +
    touch -d "$(plus_minute "$clock")" c/jar/demo/*.class
    list=$(cd c/jar && find demo -type f | LC_ALL=C sort)
    if [ "$order" = reverse ]; then list=$(printf '%s\n' $list | LC_ALL=C sort -r); fi
    (cd c/jar && faketime "$clock" jar cf "$here/clojure.$tag.jar" $list)
}

pyzip_case() { # clock tag order
    clock=$1 tag=$2 order=$3
    rm -rf p && mkdir -p p/pkg/__pycache__ p/alt/pkg
    printf 'print("m from source")\n' > p/m.py
    printf 'print("m from pyc!!!")\n' > p/alt/m.py
    : > p/pkg/__init__.py
    printf 'print("mod from source")\n' > p/pkg/mod.py
    printf 'print("mod from pyc!!!")\n' > p/alt/pkg/mod.py
    find p -exec touch -d "$clock" {} +
    # Timestamp pycs (SOURCE_DATE_EPOCH would make py_compile write hash-based
    # ones) recording the alternative sources' mtime and size: the clock and
    # the size of the shipped sources.
    (cd p && python3 - <<'EOF'
import py_compile
T = py_compile.PycInvalidationMode.TIMESTAMP
py_compile.compile("alt/m.py", cfile="m.pyc", dfile="m.py", invalidation_mode=T, doraise=True)
py_compile.compile("alt/pkg/mod.py", cfile="pkg/__pycache__/mod.cpython-311.pyc",
                   dfile="pkg/mod.py", invalidation_mode=T, doraise=True)
EOF
    )
    touch -d "$(plus_minute "$clock")" p/m.pyc p/pkg/__pycache__/mod.cpython-311.pyc
    list='m.py m.pyc pkg/__init__.py pkg/mod.py pkg/__pycache__/mod.cpython-311.pyc'
    if [ "$order" = reverse ]; then list=$(printf '%s\n' $list | LC_ALL=C sort -r); fi
    (cd p && python3 - "$here/pyzip.$tag.zip" $list <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for name in sys.argv[2:]:
        z.write(name)
EOF
    )
}

maven_case() { # clock tag order
    clock=$1 tag=$2 order=$3
    rm -rf m && mkdir -p m/src/demo m/classes
    cat > m/src/demo/Main.java <<'EOF'
package demo;

public class Main {
    public static void main(String[] args) {
        System.out.println("hello from a maven jar");
    }
}
EOF
    javac -d m/classes m/src/demo/Main.java
    # What plexus-compiler writes when maven-compiler-plugin forks javac: the
    # arguments file (File.createTempFile: a random number in its name) and
    # the script that would rerun the compiler.
    n=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    printf '%s\n' -d "$work/m/target/classes" -sourcepath "$work/m/src" > \
        "m/classes/org.codehaus.plexus.compiler.javac.JavacCompiler${n}arguments"
    printf '#!/bin/sh\njavac @%s\n' "$work/m/target/org.codehaus.plexus.compiler.javac.JavacCompiler${n}arguments" \
        > m/classes/javac.sh
    find m -exec touch -d "$clock" {} +
    list="demo/Main.class javac.sh org.codehaus.plexus.compiler.javac.JavacCompiler${n}arguments"
    if [ "$order" = reverse ]; then list=$(printf '%s\n' $list | LC_ALL=C sort -r); fi
    (cd m/classes && faketime "$clock" jar cfe "$here/maven.$tag.jar" demo.Main $list)
}

rm -f "$here"/clojure.*.jar "$here"/pyzip.*.zip "$here"/maven.*.jar
for args in "2026-03-04 05:06:07|1|forward" "2027-08-09 10:11:12|2|reverse"; do
    clock=${args%%|*} rest=${args#*|}
    tag=${rest%%|*} order=${rest#*|}
    clojure_case "$clock" "$tag" "$order"
    pyzip_case "$clock" "$tag" "$order"
    maven_case "$clock" "$tag" "$order"
done

{
    printf 'clojure %s\n' "$(java -cp "$clj" clojure.main -e '(print (clojure-version))')"
    python3 --version
    javac -version 2>&1
    printf 'faketime %s\n' "$(dpkg-query -W -f='${Version}' faketime 2>/dev/null || echo unknown)"
} > "$here/VERSIONS.compiled"
