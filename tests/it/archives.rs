//! Corpus and oracle tests for the archive handlers (ar, tar, cpio) and for
//! `.deb` packages: each pair converges to the blessed bytes, and every output
//! is read by the format's own tools, which must find the same members, the
//! same contents and the same modes as in the original.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use strip_nd::handlers::{Handler, Outcome, cpio::Cpio};

use crate::corpus::{converge, pairs};
use crate::util::{self, EPOCH, corpus, need, normalize, run, stderr, tool};

/// One extracted file system object, without times and owners.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// An extracted tree: every path with its node, and the groups of paths that
/// share an inode (hard links).
#[derive(Debug)]
struct Tree {
    nodes: BTreeMap<PathBuf, Node>,
    links: Vec<Vec<PathBuf>>,
}

fn read_tree(root: &Path) -> Tree {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let node = if meta.file_type().is_symlink() {
                Node::Link(fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir(mode)
            } else {
                if meta.nlink() > 1 {
                    inodes.entry(meta.ino()).or_default().push(rel.clone());
                }
                Node::File(mode, fs::read(&path).unwrap())
            };
            nodes.insert(rel, node);
        }
    }
    let mut links: Vec<Vec<PathBuf>> = inodes
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .collect();
    links.sort();
    Tree { nodes, links }
}

/// Whether two member contents carry the same payload: equal bytes, or both
/// gzip (or zip) files whose decompressed contents are the same payload.
fn same_payload(a: &[u8], b: &[u8], tmp: &Path) -> bool {
    if a == b {
        return true;
    }
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        fs::write(&p, bytes).unwrap();
        p
    };
    if a.starts_with(&[0x1f, 0x8b]) && b.starts_with(&[0x1f, 0x8b]) {
        let (pa, pb) = (write("a.gz", a), write("b.gz", b));
        let da = tool("gzip", [OsStr::new("-dc"), pa.as_os_str()]);
        let db = tool("gzip", [OsStr::new("-dc"), pb.as_os_str()]);
        return same_payload(&da, &db, tmp);
    }
    if a.starts_with(b"PK\x03\x04") && b.starts_with(b"PK\x03\x04") {
        need("unzip", "unzip");
        let (pa, pb) = (write("a.zip", a), write("b.zip", b));
        let list = |p: &Path| tool("unzip", [OsStr::new("-Z1"), p.as_os_str()]);
        let data = |p: &Path| tool("unzip", [OsStr::new("-p"), p.as_os_str()]);
        return list(&pa) == list(&pb) && data(&pa) == data(&pb);
    }
    false
}

/// Asserts that two extracted trees hold the same paths, kinds, modes, link
/// targets, hard-link groups and payloads.
pub(crate) fn assert_same_tree(original: &Path, normalized: &Path, what: &str) {
    let (a, b) = (read_tree(original), read_tree(normalized));
    assert!(!a.nodes.is_empty(), "{what}: nothing was extracted");
    assert_eq!(
        a.nodes.keys().collect::<Vec<_>>(),
        b.nodes.keys().collect::<Vec<_>>(),
        "{what}: different paths"
    );
    let tmp = tempfile::tempdir().unwrap();
    for (path, na) in &a.nodes {
        let nb = &b.nodes[path];
        match (na, nb) {
            (Node::File(ma, da), Node::File(mb, db)) => {
                assert_eq!(ma, mb, "{what}: {} mode", path.display());
                assert!(
                    same_payload(da, db, tmp.path()),
                    "{what}: {} content differs",
                    path.display()
                );
            }
            _ => assert_eq!(na, nb, "{what}: {}", path.display()),
        }
    }
    assert_eq!(a.links, b.links, "{what}: hard links differ");
}

/// Writes `bytes` as `dir/name` and returns the path.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    util::put(dir, name, bytes)
}

/// Runs a command with `dir` as its working directory, feeding it `input`.
fn in_dir(dir: &Path, program: &str, args: &[&str], input: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(fs::File::open(input).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many pairs differ before normalization: the corpus must exercise the handler.
pub(crate) fn differing(format: &str) -> usize {
    pairs(format)
        .iter()
        .filter(|p| fs::read(&p.one).unwrap() != fs::read(&p.two).unwrap())
        .count()
}

/// Copies a corpus folder's files (not subfolders) to a temp dir, runs the
/// binary on it, and checks it rewrote each file as the library does, the
/// self-check passed, and the mtimes are clamped.
pub(crate) fn through_the_binary(format: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for p in pairs(format) {
        for src in [&p.one, &p.two] {
            let name = src.file_name().unwrap().to_str().unwrap();
            let dst = tmp.path().join(name);
            fs::copy(src, &dst).unwrap();
            expected.push((dst, normalize(&fs::read(src).unwrap(), name).unwrap()));
        }
    }
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("self-check ok"), "{}", stderr(&out));
    for (path, want) in expected {
        assert!(fs::read(&path).unwrap() == want, "{}", path.display());
        assert!(util::mtime(&path) <= EPOCH);
    }
}

/// Runs the binary (with `-v`, which lists skipped files) on a corpus
/// subfolder; each file must be reported on a line containing `expect` and
/// left byte for byte as it was.
pub(crate) fn left_untouched(format: &str, folder: &str, expect: &str) {
    util::left_untouched(format, folder, 1, &["-v"], &[expect]);
}

// ---------------------------------------------------------------- ar

#[test]
fn ar_corpus_pairs_converge_to_the_expected_bytes() {
    converge("ar");
    assert_eq!(
        differing("ar"),
        pairs("ar").len(),
        "every ar pair differs before"
    );
}

#[test]
#[ignore = "needs ar and nm (binutils)"]
fn ar_outputs_are_read_by_ar_and_nm_with_the_same_members_and_index() {
    need("ar", "binutils");
    need("nm", "binutils");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("ar") {
        let orig = p.one.as_os_str();
        let norm = put(tmp.path(), &format!("{}.a", p.case), &out);
        let list = |a: &OsStr| tool("ar", [OsStr::new("t"), a]);
        assert_eq!(list(orig), list(norm.as_os_str()), "{}: ar t", p.case);
        // nm -s prints the archive index, read through the symbol table's
        // member offsets, then every member's symbols. Non-object members make
        // nm complain on stderr, so only stdout is compared.
        let nm = |a: &OsStr| {
            Command::new("nm")
                .args([OsStr::new("-s"), a])
                .output()
                .unwrap()
                .stdout
        };
        let want = nm(orig);
        assert!(!want.is_empty(), "{}: nm printed nothing", p.case);
        assert_eq!(
            String::from_utf8_lossy(&want).replace(p.one.to_str().unwrap(), "X"),
            String::from_utf8_lossy(&nm(norm.as_os_str())).replace(norm.to_str().unwrap(), "X"),
            "{}: nm -s",
            p.case
        );
    }
}

#[test]
#[ignore = "needs gcc"]
fn a_normalized_library_whose_members_moved_still_links() {
    need("gcc", "gcc");
    let tmp = tempfile::tempdir().unwrap();
    let out = converge("ar")
        .into_iter()
        .find(|(p, _)| p.case == "nested")
        .expect("the nested case")
        .1;
    let original = fs::read(corpus("ar").join("nested.1.a")).unwrap();
    assert_ne!(out.len(), original.len(), "the gzip member shrank");
    let lib = put(tmp.path(), "libnested.a", &out);
    let main = put(
        tmp.path(),
        "main.c",
        b"int f(void); int g(void); int main(void) { return f() + g() == 3 ? 0 : 1; }\n",
    );
    let exe = tmp.path().join("main");
    tool(
        "gcc",
        [
            main.as_os_str(),
            lib.as_os_str(),
            OsStr::new("-o"),
            exe.as_os_str(),
        ],
    );
    let status = Command::new(&exe).status().unwrap();
    assert!(status.success(), "the linked program returned {status}");
}

#[test]
fn ar_corpus_through_the_binary_matches_the_library() {
    through_the_binary("ar");
}

#[test]
fn ar_malformed_and_thin_archives_are_left_untouched() {
    left_untouched("ar", "malformed", "warning");
    left_untouched("ar", "unsupported", "thin archive");
}

// ---------------------------------------------------------------- tar

#[test]
fn tar_corpus_pairs_converge_to_the_expected_bytes() {
    converge("tar");
    assert_eq!(
        differing("tar"),
        pairs("tar").len(),
        "every tar pair differs before"
    );
}

#[test]
#[ignore = "needs unzip (the tar.gz case holds a jar the zip handler rewrites)"]
fn tar_outputs_list_and_extract_to_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("tar") {
        let name = p
            .one
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace(".1.", ".");
        let norm = put(tmp.path(), &name, &out);
        let listed = tool("tar", [OsStr::new("-tvf"), norm.as_os_str()]);
        let listed = String::from_utf8(listed).unwrap();
        assert!(
            listed.contains(" 0/0 "),
            "{}: owners 0/0:\n{listed}",
            p.case
        );
        assert!(
            listed.contains("1980-01-01 00:00"),
            "{}: clamped:\n{listed}",
            p.case
        );
        let (a, b) = (
            tmp.path().join(format!("{}-a", p.case)),
            tmp.path().join(format!("{}-b", p.case)),
        );
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        for (dir, archive) in [(&a, p.one.as_os_str()), (&b, norm.as_os_str())] {
            tool(
                "tar",
                [
                    OsStr::new("-xf"),
                    archive,
                    OsStr::new("-C"),
                    dir.as_os_str(),
                ],
            );
        }
        assert_same_tree(&a, &b, &p.case);
    }
}

#[test]
#[ignore = "needs bsdtar (libarchive-tools)"]
fn tar_outputs_extract_with_bsdtar_to_the_same_tree() {
    need("bsdtar", "libarchive-tools");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("tar") {
        let norm = put(tmp.path(), &format!("{}.out", p.case), &out);
        let (a, b) = (
            tmp.path().join(format!("{}-a", p.case)),
            tmp.path().join(format!("{}-b", p.case)),
        );
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        for (dir, archive) in [(&a, p.one.as_os_str()), (&b, norm.as_os_str())] {
            tool(
                "bsdtar",
                [
                    OsStr::new("-xpf"),
                    archive,
                    OsStr::new("-C"),
                    dir.as_os_str(),
                ],
            );
        }
        assert_same_tree(&a, &b, &p.case);
    }
}

#[test]
fn tar_corpus_through_the_binary_matches_the_library() {
    through_the_binary("tar");
}

#[test]
fn tar_malformed_files_are_left_untouched() {
    left_untouched("tar", "malformed", "warning");
}

// ---------------------------------------------------------------- cpio

/// The cpio corpus cases: every format GNU cpio writes, and the binary one in
/// the other byte order.
const CPIO_CASES: [&str; 5] = ["bin", "bin-be", "crc", "newc", "odc"];

#[test]
fn cpio_corpus_pairs_converge_to_the_expected_bytes() {
    converge("cpio");
    let cases: Vec<String> = pairs("cpio").into_iter().map(|p| p.case).collect();
    assert_eq!(cases, CPIO_CASES, "every format has a pair");
    assert_eq!(
        differing("cpio"),
        pairs("cpio").len(),
        "every cpio pair differs before"
    );
}

/// The pairs were listed in opposite orders, so normalizing must sort them,
/// and in newc and crc move the hard-linked file's data in one of the two.
#[test]
fn cpio_corpus_pairs_are_sorted_and_newc_links_moved() {
    let cfg = strip_nd::config::Config::with_epoch(EPOCH);
    let ctx = cfg.context(Path::new("x.cpio"));
    for p in pairs("cpio") {
        let mut moved = 0;
        for src in [&p.one, &p.two] {
            let Outcome::Rewritten { changes, .. } =
                Cpio.normalize(&fs::read(src).unwrap(), &ctx).unwrap()
            else {
                panic!("{}: unchanged", src.display());
            };
            assert!(
                changes
                    .iter()
                    .any(|c| c.to_string().starts_with("entries sorted")),
                "{}: {changes:?}",
                src.display()
            );
            moved += changes
                .iter()
                .filter(|c| c.to_string().contains("carries the data of its hard links"))
                .count();
        }
        let newc = matches!(p.case.as_str(), "newc" | "crc");
        assert_eq!(moved, usize::from(newc), "{}: hard-link data moves", p.case);
    }
}

/// Paths as `cpio -it` or `bsdtar -tf` list them, in archive order.
fn listing(program: &str, args: &[&str], archive: &Path) -> Vec<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(fs::File::open(archive).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} < {}: {}",
        archive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs cpio"]
fn cpio_outputs_extract_to_the_same_files() {
    need("cpio", "cpio");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("cpio") {
        let norm = put(tmp.path(), &format!("{}.cpio", p.case), &out);
        let listed = String::from_utf8(tool(
            "sh",
            [
                OsStr::new("-c"),
                OsStr::new(&format!("cpio -itv --quiet < '{}'", norm.display())),
            ],
        ))
        .unwrap();
        assert!(listed.contains(" root "), "{}: owners 0:\n{listed}", p.case);
        let b = tmp.path().join(format!("{}-normalized", p.case));
        fs::create_dir(&b).unwrap();
        in_dir(&b, "cpio", &["-idm", "--quiet"], &norm);
        for (build, src) in [("1", &p.one), ("2", &p.two)] {
            let a = tmp.path().join(format!("{}-{build}", p.case));
            fs::create_dir(&a).unwrap();
            in_dir(&a, "cpio", &["-idm", "--quiet"], src);
            assert_same_tree(&a, &b, &format!("{} build {build}", p.case));
        }
        // Every directory comes before what it holds (cpio -i makes missing
        // parents with -d only; the initramfs unpacker never does).
        let names = listing("cpio", &["-it", "--quiet"], &norm);
        assert!(names.len() >= 10, "{}: {names:?}", p.case);
        for (i, name) in names.iter().enumerate() {
            let parent = Path::new(name)
                .parent()
                .filter(|d| !d.as_os_str().is_empty());
            if let Some(d) = parent {
                assert!(
                    names[..i].iter().any(|n| Path::new(n) == d),
                    "{}: {name} comes before its directory {}: {names:?}",
                    p.case,
                    d.display()
                );
            }
        }
    }
}

#[test]
#[ignore = "needs bsdtar (libarchive-tools)"]
fn cpio_outputs_are_listed_by_bsdtar_like_the_originals() {
    need("bsdtar", "libarchive-tools");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("cpio") {
        let norm = put(tmp.path(), &format!("{}.cpio", p.case), &out);
        let mut got = listing("bsdtar", &["-tf", "-"], &norm);
        let mut want = listing("bsdtar", &["-tf", "-"], &p.two);
        assert_eq!(got.len(), 13, "{}: {got:?}", p.case);
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}: bsdtar sees other paths", p.case);
        let verbose = listing("bsdtar", &["-tvf", "-"], &norm);
        assert!(
            verbose.iter().all(|l| l.contains(" 0      0 ")),
            "{}: owners 0:\n{verbose:#?}",
            p.case
        );
        assert!(
            verbose.iter().any(|l| l.ends_with("link to etc/hostname")),
            "{}: bsdtar sees the hard link:\n{verbose:#?}",
            p.case
        );
    }
}

#[test]
fn cpio_corpus_through_the_binary_matches_the_library() {
    through_the_binary("cpio");
}

#[test]
fn cpio_malformed_files_are_left_untouched() {
    left_untouched("cpio", "malformed", "warning");
}

// ---------------------------------------------------------------- deb

#[test]
fn deb_corpus_pairs_converge_to_the_expected_bytes() {
    converge("deb");
    assert_eq!(
        differing("deb"),
        pairs("deb").len(),
        "every deb pair differs before"
    );
}

#[test]
fn deb_outputs_are_read_by_dpkg_deb() {
    dpkg_deb_reads("deb");
}

/// Each normalized package of `corpus/<format>` has the same control fields
/// for `dpkg-deb -f`, lists `./usr/bin/hello` owned by 0/0 with `-c`, and
/// extracts to the same tree as its original.
pub(crate) fn dpkg_deb_reads(format: &str) {
    need("dpkg-deb", "dpkg");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge(format) {
        let norm = put(tmp.path(), &format!("{}.deb", p.case), &out);
        let info = |d: &Path| tool("dpkg-deb", [OsStr::new("-I"), d.as_os_str()]);
        let control = |d: &Path| tool("dpkg-deb", [OsStr::new("-f"), d.as_os_str()]);
        assert!(!info(&norm).is_empty());
        assert_eq!(
            control(&p.one),
            control(&norm),
            "{}: control fields",
            p.case
        );
        let listed =
            String::from_utf8(tool("dpkg-deb", [OsStr::new("-c"), norm.as_os_str()])).unwrap();
        assert!(listed.contains("./usr/bin/hello"), "{listed}");
        assert!(listed.lines().all(|l| l.contains(" 0/0 ")), "{listed}");
        let (a, b) = (
            tmp.path().join(format!("{}-a", p.case)),
            tmp.path().join(format!("{}-b", p.case)),
        );
        for (dir, deb) in [(&a, p.one.as_path()), (&b, norm.as_path())] {
            tool(
                "dpkg-deb",
                [OsStr::new("-x"), deb.as_os_str(), dir.as_os_str()],
            );
        }
        assert_same_tree(&a, &b, &p.case);
    }
}

#[test]
fn deb_corpus_through_the_binary_matches_the_library() {
    through_the_binary("deb");
}
