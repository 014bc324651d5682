#!/bin/sh
# Recreates the tar corpus: every case twice, at two clocks ("1" and "2"), with
# files owned by different users and listed in two different orders, using
# real tools. Run from anywhere: sh corpus/tar/make.sh
# Needs: tar (GNU), libarchive-tools (bsdtar), gzip, openjdk (javac, jar),
# faketime.
. "$(dirname "$0")/../lib.sh"
needs tar bsdtar gzip javac jar faketime

long=pkg/share/a-directory-name-long-enough/to-need-a-gnu-long-name-or-a-pax-path-record-when-archived
# The tree: directories, an executable, a symlink, a hard link whose name
# sorts before its target's, a long path, a .gz whose header names the file.
tree() { # clock uid
    clock=$1 uid=$2
    rm -rf pkg && mkdir -p pkg/bin pkg/share/doc "$long"
    printf '#!/bin/sh\necho hello\n' > pkg/bin/hello && chmod 755 pkg/bin/hello
    seq 1 200 > pkg/share/doc/README
    ln pkg/share/doc/README pkg/share/doc/AAA-hardlink
    ln -s ../share/doc/README pkg/bin/readme
    printf 'deep\n' > "$long/file.txt"
    seq 1 300 > pkg/share/doc/changelog
    faketime "$clock" gzip -9 pkg/share/doc/changelog
    chown -R "$uid:$uid" pkg
    # libfaketime also shifts the file times that stat() reports to the tools
    # run under it, so the recorded times are not exactly $clock; they differ
    # between the two builds, which is what the corpus needs.
    find pkg -exec touch -h -d "$clock" {} +
}

# The file list in readdir-like orders that differ between the two builds;
# the hard link's target comes first in both (tar stores the first name it
# meets as the file, the later ones as links to it).
list() { # tag
    if [ "$1" = 1 ]; then
        printf '%s\n' pkg pkg/share pkg/share/doc pkg/share/doc/README \
            pkg/share/doc/AAA-hardlink pkg/share/doc/changelog.gz pkg/bin \
            pkg/bin/readme pkg/bin/hello pkg/share/a-directory-name-long-enough \
            "$long" "$long/file.txt"
    else
        printf '%s\n' pkg pkg/bin pkg/bin/hello pkg/bin/readme pkg/share \
            pkg/share/a-directory-name-long-enough "$long" "$long/file.txt" \
            pkg/share/doc pkg/share/doc/changelog.gz pkg/share/doc/README \
            pkg/share/doc/AAA-hardlink
    fi
}

make_case() { # clock tag uid
    clock=$1 tag=$2 uid=$3
    tree "$clock" "$uid"
    list "$tag" > files
    for fmt in gnu posix; do
        faketime "$clock" tar --format=$fmt --sort=none --no-recursion -T files -cf "$here/$fmt.$tag.tar"
    done
    # ustar: the long path fits the prefix field.
    faketime "$clock" tar --format=ustar --sort=none --no-recursion -T files -cf "$here/ustar.$tag.tar"
    # libarchive's default (restricted pax) and full pax with atime/ctime.
    faketime "$clock" bsdtar -n -T files -cf "$here/bsdtar.$tag.tar"
    faketime "$clock" bsdtar --format=pax -n -T files -cf "$here/bsdtar-pax.$tag.tar"
    # A .tar.gz holding a jar (fixed entry times, so only the tar and gzip
    # layers differ) and a .gz.
    rm -rf j && mkdir -p j/classes
    printf 'public class Hello { public static void main(String[] a) { System.out.println("hi"); } }\n' > j/Hello.java
    javac -d j/classes j/Hello.java
    jar --create --date=2000-01-01T00:00:00Z --file pkg/hello.jar -C j/classes Hello.class
    chown "$uid:$uid" pkg/hello.jar && touch -d "$clock" pkg/hello.jar
    if [ "$tag" = 1 ]; then
        printf '%s\n' pkg pkg/hello.jar pkg/share pkg/share/doc pkg/share/doc/changelog.gz > files
    else
        printf '%s\n' pkg pkg/share pkg/share/doc pkg/share/doc/changelog.gz pkg/hello.jar > files
    fi
    faketime "$clock" tar --sort=none --no-recursion -T files -czf "$here/targz.$tag.tar.gz"
}

make_case "2026-03-04 05:06:07" 1 1234
make_case "2027-08-09 10:11:12" 2 4321

# Malformed inputs strip-nd must leave byte for byte as they are.
mkdir -p "$here/malformed"
head -c 1500 "$here/gnu.1.tar" > "$here/malformed/truncated.tar"
cp "$here/gnu.1.tar" "$here/malformed/bad-checksum.tar"
printf 'X' | dd of="$here/malformed/bad-checksum.tar" bs=1 seek=10 conv=notrunc 2>/dev/null
cp "$here/gnu.1.tar" "$here/malformed/garbage-after-end.tar"
# Inside the zero blocks that end the archive.
size=$(wc -c < "$here/gnu.1.tar")
printf 'garbage' | dd of="$here/malformed/garbage-after-end.tar" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null

{
    tar --version | head -n 1
    bsdtar --version
    gzip --version | head -n 1
    javac -version 2>&1
    jar --version 2>&1
} > "$here/VERSIONS"
