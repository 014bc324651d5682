#!/bin/sh
# Recreates the zip corpus: every case twice, at two clocks ("1" and "2") and,
# where the tool lets us choose, in two member orders, with real tools.
# Run from anywhere, as root (build 2 chowns its files to another user):
#   sh corpus/zip/make.sh
# Needs: zip, unzip, python3, a JDK (javac, jar, keytool, jarsigner), gzip,
# faketime.
. "$(dirname "$0")/../lib.sh"
needs zip unzip python3 javac jar keytool jarsigner gzip faketime

# The payload: the same bytes in every build.
tree() { # dir
    mkdir -p "$1/doc" "$1/bin"
    seq 1 2000 | sed 's/^/line /' > "$1/doc/readme.txt"
    printf 'notes\n' > "$1/doc/notes.md"
    printf '#!/bin/sh\necho run\n' > "$1/bin/run.sh"
    chmod 755 "$1/bin/run.sh"
}

java_sources() { # dir
    mkdir -p "$1/src/demo"
    cat > "$1/src/demo/Main.java" <<'EOF'
package demo;

public class Main {
    public static void main(String[] args) {
        System.out.println("hello from " + Greeting.text());
    }
}
EOF
    cat > "$1/src/demo/Greeting.java" <<'EOF'
package demo;

class Greeting {
    static String text() {
        return "a normalized jar";
    }
}
EOF
}

# A manifest as Maven and bnd write them: build user, clocks, a long value
# folded onto 72-byte continuation lines.
manifest() { # clock user
    printf 'Manifest-Version: 1.0\n'
    printf 'Created-By: Apache Maven 3.8.7\n'
    printf 'Built-By: %s\n' "$2"
    printf 'Build-Jdk-Spec: 17\n'
    printf 'Bnd-LastModified: %s000\n' "$(date -u -d "$1" +%s)"
    printf 'Build-Date: %s\n' "$(date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ)"
    printf 'Implementation-Title: a demo with a long title that does not fit on one \n'
    printf ' manifest line\n'
    printf 'Main-Class: demo.Main\n'
}

make_case() { # clock tag user umask order
    clock=$1 tag=$2 user=$3 mask=$4 order=$5
    rm -rf b && mkdir b && cd b
    umask "$mask"
    tree t
    java_sources j
    javac -d j/classes j/src/demo/*.java
    find t j -exec touch -h -d "$clock" {} +
    if [ "$user" != root ]; then chown -R 1234:1234 t j; fi
    if [ "$order" = forward ]; then list='doc/readme.txt doc/notes.md bin/run.sh'
    else list='bin/run.sh doc/notes.md doc/readme.txt'; fi

    # zip 3.0 with its UT and ux extra fields, members in the order given.
    (cd t && printf '%s\n' doc/ bin/ $list | faketime "$clock" zip -q -@ "$here/zip30.$tag.zip")
    # A symlink entry stored as a link (zip -y).
    (cd t && ln -s doc/readme.txt link && touch -h -d "$clock" link &&
        faketime "$clock" zip -q -y "$here/symlink.$tag.zip" link doc/readme.txt)
    # Python's zipfile, with its own clock per member and the order given.
    (cd t && faketime "$clock" python3 - "$here/python.$tag.zip" $list <<'EOF'
import os, sys, time, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name in sys.argv[2:]:
        method = zipfile.ZIP_STORED if name.endswith(".md") else zipfile.ZIP_DEFLATED
        info = zipfile.ZipInfo(name, time.gmtime()[:6])
        info.external_attr = os.stat(name).st_mode << 16
        with open(name, "rb") as f:
            z.writestr(info, f.read(), compress_type=method)
EOF
    )
    # jar cf, classes in the order given; jar cfe: an executable jar.
    if [ "$order" = forward ]; then classes='demo/Main.class demo/Greeting.class'
    else classes='demo/Greeting.class demo/Main.class'; fi
    (cd j/classes && faketime "$clock" jar cf "$here/jar.$tag.jar" $classes)
    (cd j/classes && faketime "$clock" jar cfe "$here/jar-exec.$tag.jar" demo.Main $classes)
    # jar cfm: a manifest with build attributes to drop.
    manifest "$clock" "$user" > j/MANIFEST.txt
    (cd j/classes && faketime "$clock" jar cfm "$here/jar-manifest.$tag.jar" ../MANIFEST.txt $classes)
    # A zip holding a jar and a .gz: both are normalized as members.
    mkdir -p n/lib n/doc
    cp "$here/jar-manifest.$tag.jar" n/lib/app.jar
    cp t/doc/notes.md n/doc/notes.md
    (cd n/doc && faketime "$clock" gzip -c notes.md > notes.md.gz && rm notes.md)
    find n -exec touch -h -d "$clock" {} +
    (cd n && faketime "$clock" zip -q -r "$here/nested.$tag.zip" lib doc)
    # A Python zipapp: a #! line before the zip.
    mkdir -p app/pkg
    printf 'from pkg import hello\nhello.main()\n' > app/__main__.py
    printf 'def main():\n    print("hello from a zipapp")\n' > app/pkg/hello.py
    : > app/pkg/__init__.py
    find app -exec touch -h -d "$clock" {} +
    faketime "$clock" python3 -m zipapp app -p "/usr/bin/env python3" -o "$here/zipapp.$tag.pyz"
    # A self-extractor's shape: an MZ stub, then a zip whose offsets count from
    # the start of the file (zip -A adjusts them).
    { printf 'MZ'; head -c 510 /dev/zero; } > stub
    (cd t && faketime "$clock" zip -q -r ../inner.zip $list)
    cat stub inner.zip > "$here/sfx.$tag.exe"
    zip -q -A "$here/sfx.$tag.exe"
    cd ..
}

rm -f "$here"/*.zip "$here"/*.jar "$here"/*.pyz "$here"/*.exe
make_case "2026-03-04 05:06:07" 1 root 022 forward
make_case "2027-08-09 10:11:12" 2 builder 002 reverse
umask 022

# Archives strip-nd must refuse and leave byte for byte as they are.
mkdir -p "$here/refused" && rm -f "$here/refused"/*
rm -rf r && mkdir r && cd r
java_sources j
javac -d j/classes j/src/demo/*.java
keytool -genkeypair -keystore ks.p12 -storepass changeit -keypass changeit \
    -alias demo -keyalg RSA -keysize 2048 -dname CN=strip-nd-test -validity 36500 2>/dev/null
(cd j/classes && jar cfe ../../signed.jar demo.Main demo/*.class)
jarsigner -keystore ks.p12 -storepass changeit signed.jar demo > /dev/null
cp signed.jar "$here/refused/signed.jar"
printf 'secret\n' > secret.txt
zip -q -P password "$here/refused/encrypted.zip" secret.txt
cd ..

# Malformed archives, cut from a good one with Python.
mkdir -p "$here/malformed" && rm -f "$here/malformed"/*
python3 - "$here/zip30.1.zip" "$here/malformed" <<'EOF'
import struct, sys
good = open(sys.argv[1], "rb").read()
out = sys.argv[2]
end = good.rfind(b"PK\x05\x06")
count, cd_size, cd_off = struct.unpack_from("<HII", good, end + 10)
entries, p = [], cd_off
for _ in range(count):
    nl, xl, cl = struct.unpack_from("<HHH", good, p + 28)
    off, = struct.unpack_from("<I", good, p + 42)
    entries.append((p, off))
    p += 46 + nl + xl + cl
def write(name, data):
    open(f"{out}/{name}", "wb").write(data)
def patch(data, at, fmt, *v):
    data = bytearray(data)
    struct.pack_into(fmt, data, at, *v)
    return bytes(data)
write("truncated.zip", good[: len(good) // 2])
write("trailing-garbage.zip", good + b"garbage after the end record\n")
# A deflated member whose size runs into the next member: overlapping members.
cs, = struct.unpack_from("<I", good, entries[2][1] + 18)
bad = patch(good, entries[2][1] + 18, "<I", cs + 10)
write("overlap.zip", patch(bad, entries[2][0] + 20, "<I", cs + 10))
# Two central entries pointing at the same local header.
write("shared-header.zip", patch(good, entries[3][0] + 42, "<I", entries[2][1]))
# The local header names another file than the central one.
write("name-mismatch.zip", patch(good, entries[2][1] + 30, "<B", ord("X")))
# Local and central CRC32 disagree.
crc, = struct.unpack_from("<I", good, entries[2][1] + 14)
write("crc-mismatch.zip", patch(good, entries[2][1] + 14, "<I", crc ^ 1))
# Local and central sizes disagree.
us, = struct.unpack_from("<I", good, entries[2][1] + 22)
write("size-mismatch.zip", patch(good, entries[2][1] + 22, "<I", us + 1))
# A local header offset past the end of the file.
write("out-of-bounds.zip", patch(good, entries[2][0] + 42, "<I", 0x7FFF0000))
# More entries than the central directory can hold.
write("too-many-entries.zip", patch(good, end + 8, "<HH", 0xFFFF, 0xFFFF))
# 4 GiB claimed from a few deflated bytes, in both headers.
bad = patch(good, entries[2][0] + 24, "<I", 0xFFFFFFFE)
write("absurd-size.zip", patch(bad, entries[2][1] + 22, "<I", 0xFFFFFFFE))
EOF

{
    zip -v | sed -n 2p | sed 's/^ *//'
    unzip -v | head -n 1
    python3 --version
    javac -version 2>&1
    jar --version 2>&1
    gzip --version | head -n 1
    printf 'faketime %s\n' "$(dpkg-query -W -f='${Version}' faketime 2>/dev/null || echo unknown)"
} > "$here/VERSIONS"

# The cases about sources and their compiled forms, and Maven leftovers.
sh "$here/make-compiled.sh"
