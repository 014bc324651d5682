//! The zip handler against real tools: the corpus in `corpus/zip/` (zip 3.0,
//! Python's zipfile, `jar cf`/`cfe`/`cfm`, `zip -y`, a zip holding a jar and a
//! `.gz`, a Python zipapp, an `MZ`-prefixed self-extractor shape, a signed jar),
//! zip64 archives generated here, and the consumers: `unzip -t`, `unzip`,
//! `java -jar`, `jarsigner -verify` and Python.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::corpus::{converge, pairs};
use crate::util::{self, EPOCH, corpus, need, normalize, run, stderr, tool};

/// What `unzip` left at one path.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every path under `root`, relative to it.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Node::File(fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Extracts `zip` with `unzip` into a new directory under `tmp`.
fn unzip(zip: &Path, tmp: &Path, label: &str) -> BTreeMap<PathBuf, Node> {
    let dir = tmp.join(label);
    fs::create_dir_all(&dir).unwrap();
    let out = Command::new("unzip")
        .args([OsStr::new("-q"), zip.as_os_str(), OsStr::new("-d")])
        .arg(&dir)
        .output()
        .unwrap();
    // Status 1 is "warnings" (e.g. extra bytes before a self-extractor's zip).
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "unzip {}: {}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    snapshot(&dir)
}

/// `unzip -t` must pass.
fn unzip_t(zip: &Path) {
    let out = tool("unzip", [OsStr::new("-t"), zip.as_os_str()]);
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("No errors detected"),
        "{}: {out}",
        zip.display()
    );
}

/// Checks that `after` extracts to the same tree as `before`, each member
/// claimed by a handler being the normalized form of the old one.
fn same_members(before: &Path, after: &Path, tmp: &Path, label: &str) {
    let old = unzip(before, tmp, &format!("{label}-before"));
    let new = unzip(after, tmp, &format!("{label}-after"));
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>(),
        "{label}: different paths"
    );
    assert!(!old.is_empty(), "{label}: nothing extracted");
    for (path, node) in &old {
        if path == Path::new("META-INF/MANIFEST.MF") {
            // The zip handler edits it itself: see the manifest test.
            continue;
        }
        let want = match node {
            Node::File(bytes) => {
                let name = path.to_str().unwrap();
                Node::File(normalize(bytes, name).unwrap_or_else(|_| bytes.clone()))
            }
            Node::Dir => Node::Dir,
            Node::Link(t) => Node::Link(t.clone()),
        };
        assert!(
            new[path] == want,
            "{label}: {} differs after normalization",
            path.display()
        );
    }
}

/// The corpus outputs, written to `tmp` under their case names.
fn outputs(tmp: &Path) -> Vec<(crate::corpus::Pair, PathBuf)> {
    converge("zip")
        .into_iter()
        .map(|(p, out)| {
            let name = p
                .one
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .replace(".1.", ".");
            let path = tmp.join(name);
            fs::write(&path, &out).unwrap();
            (p, path)
        })
        .collect()
}

#[test]
fn zip_pairs_converge_to_the_expected_bytes() {
    let done = converge("zip");
    assert!(done.len() >= 9, "{} cases", done.len());
    for (p, out) in &done {
        let one = fs::read(&p.one).unwrap();
        let two = fs::read(&p.two).unwrap();
        // Every case differs between its two builds, and normalizing changes it.
        assert_ne!(one, two, "{}: the two builds are already identical", p.case);
        assert_ne!(&one, out, "{}: nothing was normalized", p.case);
    }
}

#[test]
#[ignore = "needs unzip"]
fn zip_outputs_pass_unzip_t_and_extract_to_the_same_members() {
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in outputs(tmp.path()) {
        unzip_t(&out);
        same_members(&p.one, &out, tmp.path(), &p.case);
    }
}

#[test]
#[ignore = "needs unzip"]
fn zip_symlink_entries_stay_symlinks() {
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let (_, out) = outputs(tmp.path())
        .into_iter()
        .find(|(p, _)| p.case == "symlink")
        .unwrap();
    let tree = unzip(&out, tmp.path(), "x");
    assert_eq!(
        tree[Path::new("link")],
        Node::Link(PathBuf::from("doc/readme.txt"))
    );
    let link = tmp.path().join("x/link");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read(&link).unwrap(),
        fs::read(tmp.path().join("x/doc/readme.txt")).unwrap()
    );
}

#[test]
#[ignore = "needs java"]
fn zip_executable_jars_still_run_with_java() {
    need("java", "default-jre-headless");
    let tmp = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (p, out) in outputs(tmp.path()) {
        if !p.case.starts_with("jar-") {
            continue;
        }
        let java = |jar: &Path| tool("java", [OsStr::new("-jar"), jar.as_os_str()]);
        let before = java(&p.one);
        assert_eq!(before, b"hello from a normalized jar\n");
        assert_eq!(java(&out), before, "{}", p.case);
        ran += 1;
    }
    assert_eq!(ran, 2, "jar-exec and jar-manifest");
}

#[test]
#[ignore = "needs unzip"]
fn zip_jar_manifests_lose_build_attributes_only() {
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let (p, out) = outputs(tmp.path())
        .into_iter()
        .find(|(p, _)| p.case == "jar-manifest")
        .unwrap();
    let manifest = |jar: &Path| {
        String::from_utf8(tool(
            "unzip",
            [
                OsStr::new("-p"),
                jar.as_os_str(),
                OsStr::new("META-INF/MANIFEST.MF"),
            ],
        ))
        .unwrap()
    };
    let before = manifest(&p.one);
    let after = manifest(&out);
    for gone in ["Built-By:", "Bnd-LastModified:", "Build-Date:"] {
        assert!(
            before.contains(gone) && !after.contains(gone),
            "{gone}\n{after}"
        );
    }
    let kept: Vec<&str> = before
        .lines()
        .filter(|l| {
            !["Built-By:", "Bnd-LastModified:", "Build-Date:"]
                .iter()
                .any(|g| l.starts_with(g))
        })
        .collect();
    assert_eq!(after.lines().collect::<Vec<_>>(), kept);
    assert!(after.contains(
        "Implementation-Title: a demo with a long title that does not fit on one \r\n manifest line\r\n"
    ));
    // The jar spec wants the manifest first (after META-INF/).
    let listing = String::from_utf8(tool("unzip", [OsStr::new("-Z1"), out.as_os_str()])).unwrap();
    assert!(
        listing.starts_with("META-INF/\nMETA-INF/MANIFEST.MF\n"),
        "{listing}"
    );
}

#[test]
#[ignore = "needs python3"]
fn zip_zipapps_still_run_with_python() {
    need("python3", "python3");
    let tmp = tempfile::tempdir().unwrap();
    let (p, out) = outputs(tmp.path())
        .into_iter()
        .find(|(p, _)| p.case == "zipapp")
        .unwrap();
    let bytes = fs::read(&out).unwrap();
    assert!(
        bytes.starts_with(b"#!/usr/bin/env python3\nPK\x03\x04"),
        "shebang kept"
    );
    let before = tool("python3", [p.one.as_os_str()]);
    assert_eq!(before, b"hello from a zipapp\n");
    assert_eq!(tool("python3", [out.as_os_str()]), before);
}

#[test]
fn zip_self_extractor_prefix_is_kept_byte_for_byte() {
    let (p, out) = converge("zip")
        .into_iter()
        .find(|(p, _)| p.case == "sfx")
        .unwrap();
    let before = fs::read(&p.one).unwrap();
    assert!(before.starts_with(b"MZ"));
    assert_eq!(&out[..512], &before[..512], "the stub");
    assert_eq!(&out[512..516], b"PK\x03\x04");
}

#[test]
fn zip_corpus_through_the_binary_matches_the_library_and_a_second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for p in pairs("zip") {
        for src in [&p.one, &p.two] {
            let dst = tmp.path().join(src.file_name().unwrap());
            fs::copy(src, &dst).unwrap();
            let name = dst.file_name().unwrap().to_str().unwrap().to_string();
            expected.push((dst, normalize(&fs::read(src).unwrap(), &name).unwrap()));
        }
    }
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "rewrote {} (zip {})",
            expected.len(),
            expected.len()
        )),
        "{}",
        stderr(&out)
    );
    for (path, want) in &expected {
        assert!(fs::read(path).unwrap() == *want, "{}", path.display());
        assert!(util::mtime(path) <= EPOCH);
    }
    let again = run([OsStr::new("--check"), tmp.path().as_os_str()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

/// Copies `corpus/zip/<dir>` to a temp dir, runs the binary on it and checks
/// every file is untouched and reported on a line containing `word`.
fn left_untouched(dir: &str, word: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    for e in fs::read_dir(corpus("zip").join(dir)).unwrap() {
        let e = e.unwrap();
        let dst = tmp.path().join(e.file_name());
        fs::copy(e.path(), &dst).unwrap();
        originals.push((dst, fs::read(e.path()).unwrap()));
    }
    assert!(!originals.is_empty());
    let out = run([OsStr::new("-v"), tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for (path, bytes) in &originals {
        assert!(
            &fs::read(path).unwrap() == bytes,
            "{} was modified",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            err.lines().any(|l| l.contains(name) && l.contains(word)),
            "no {word:?} line naming {name}:\n{err}"
        );
    }
    tmp
}

#[test]
fn zip_malformed_archives_are_reported_and_left_untouched() {
    let tmp = left_untouched("malformed", "zip handler");
    assert!(fs::read_dir(tmp.path()).unwrap().count() >= 10);
    let strict = run([OsStr::new("--strict"), tmp.path().as_os_str()]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

#[test]
fn zip_encrypted_and_signed_archives_are_skipped_untouched() {
    let tmp = left_untouched("refused", "skipped");
    let err = stderr(&run([OsStr::new("-v"), tmp.path().as_os_str()]));
    assert!(err.contains("signed jar"), "{err}");
    assert!(err.contains("encrypted"), "{err}");
}

#[test]
#[ignore = "needs jarsigner"]
fn zip_signed_jar_still_verifies_after_a_run() {
    need("jarsigner", "default-jdk-headless");
    let tmp = left_untouched("refused", "skipped");
    let jar = tmp.path().join("signed.jar");
    let out = tool("jarsigner", [OsStr::new("-verify"), jar.as_os_str()]);
    assert!(String::from_utf8_lossy(&out).contains("jar verified."));
    assert!(
        String::from_utf8_lossy(&tool("java", [OsStr::new("-jar"), jar.as_os_str()]))
            .contains("hello")
    );
}

/// Runs `sh -c script` in `dir`, with `args` as `$1...`.
fn sh(dir: &Path, script: &str, args: &[&str]) {
    let out = Command::new("sh")
        .current_dir(dir)
        .args(["-c", script, "sh"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether an archive uses zip64: its end record, or a local header needing
/// version 4.5 (what writers put beside zip64 extra fields).
fn is_zip64(b: &[u8]) -> bool {
    memchr::memmem::find(b, b"PK\x06\x06").is_some()
        || memchr::memmem::find(b, b"PK\x03\x04\x2d\x00").is_some()
}

/// Checks a pair of zip64 archives made by a real tool: both are zip64, they
/// converge, stay zip64, pass `unzip -t` and keep their members.
fn zip64_pair(tmp: &Path, label: &str, a: &Path, b: &Path) {
    let (ba, bb) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    assert_ne!(ba, bb);
    assert!(is_zip64(&ba), "{label}: not zip64");
    let na = normalize(&ba, "a.zip").unwrap();
    let nb = normalize(&bb, "b.zip").unwrap();
    assert!(na == nb, "{label}: the two builds do not converge");
    assert_ne!(na, ba, "{label}: nothing was normalized");
    assert!(
        util::is_fixed_point(&na, "a.zip"),
        "{label}: not idempotent"
    );
    assert!(is_zip64(&na), "{label}: zip64 lost");
    assert_eq!(
        memchr::memmem::find(&na, b"PK\x06\x06").is_some(),
        memchr::memmem::find(&ba, b"PK\x06\x06").is_some(),
        "{label}: zip64 end record added or lost"
    );
    let out = tmp.join(format!("{label}-out.zip"));
    fs::write(&out, &na).unwrap();
    unzip_t(&out);
    same_members(a, &out, tmp, label);
}

#[test]
#[ignore = "needs zip"]
fn zip64_archives_from_zip_fz_converge_and_stay_valid() {
    need("zip", "zip");
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for (tag, clock, list) in [
        ("1", "2026-03-04 05:06:07", "a.txt sub/b.bin"),
        ("2", "2027-08-09 10:11:12", "sub/b.bin a.txt"),
    ] {
        sh(
            t,
            "rm -rf src && mkdir -p src/sub && seq 1 5000 > src/a.txt && head -c 3000 /dev/zero > src/sub/b.bin \
             && find src -exec touch -d \"$1\" {} + && cd src && printf '%s\\n' $3 | zip -q -fz -@ ../fz.$2.zip",
            &[clock, tag, list],
        );
    }
    zip64_pair(t, "zip-fz", &t.join("fz.1.zip"), &t.join("fz.2.zip"));
}

#[test]
#[ignore = "needs python3"]
fn zip64_archives_from_python_converge_and_stay_valid() {
    need("python3", "python3");
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // force_zip64 on a seekable file (zip64 local fields), and on a pipe, where
    // zipfile streams: data descriptors with 64-bit sizes.
    let script = r#"
import sys, zipfile
out, year, order = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
data = {"a.txt": b"alpha\n" * 3000, "b/c.txt": b"gamma\n", "d.gz.txt": b"delta " * 999}
def write(f):
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for name in order:
            info = zipfile.ZipInfo(name, (year, 5, 6, 7, 8, 10))
            info.external_attr = 0o100664 << 16
            with z.open(info, "w", force_zip64=True) as w:
                w.write(data[name])
write(out + ".seek.zip")
write(sys.stdout.buffer)
"#;
    for (tag, year, order) in [
        ("1", "2026", "a.txt,b/c.txt,d.gz.txt"),
        ("2", "2027", "d.gz.txt,a.txt,b/c.txt"),
    ] {
        let out = Command::new("python3")
            .args(["-c", script, t.join(tag).to_str().unwrap(), year, order])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(t.join(format!("{tag}.pipe.zip")), out.stdout).unwrap();
    }
    zip64_pair(
        t,
        "python-seek",
        &t.join("1.seek.zip"),
        &t.join("2.seek.zip"),
    );
    let piped = fs::read(t.join("1.pipe.zip")).unwrap();
    assert!(
        memchr::memmem::find(&piped, b"PK\x07\x08").is_some(),
        "streamed with data descriptors"
    );
    zip64_pair(
        t,
        "python-pipe",
        &t.join("1.pipe.zip"),
        &t.join("2.pipe.zip"),
    );
}
