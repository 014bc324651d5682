//! The zip handler against real tools: the corpus in `corpus/zip/` (zip 3.0,
//! Python's zipfile, `jar cf`/`cfe`/`cfm`, `zip -y`, a zip holding a jar and a
//! `.gz`, a Python zipapp, an `MZ`-prefixed self-extractor shape, a signed jar,
//! an AOT-compiled Clojure jar, a zip of `.py` files with their pycs, a jar with
//! Maven's compiler leftovers) and `corpus/jmod/` (`jmod create`), zip64
//! archives generated here, and the consumers: `unzip -t`, `unzip` under
//! several time zones, `java -jar`, `jarsigner -verify`, Clojure, Python's
//! `zipimport`, `importlib` and `zipfile`, `jmod` and `jlink`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::corpus::{converge, pairs};
use crate::util::{self, EPOCH, need, normalize, run, stderr, tool};

/// What `unzip` left at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let mut old = unzip(before, tmp, &format!("{label}-before"));
    let new = unzip(after, tmp, &format!("{label}-after"));
    if old.contains_key(Path::new("META-INF/MANIFEST.MF")) {
        old.retain(|path, _| !maven_leftover(path));
    }
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
        let got = &new[path];
        let (got, want) = if path.extension() == Some(OsStr::new("pyc")) {
            // A pyc records the time its source member gets, which a pyc
            // normalized alone cannot know: see the zipimport test.
            (without_source_mtime(got), without_source_mtime(&want))
        } else {
            (got.clone(), want)
        };
        assert!(
            got == want,
            "{label}: {} differs after normalization",
            path.display()
        );
    }
}

/// A pyc with the source mtime of its header zeroed.
fn without_source_mtime(node: &Node) -> Node {
    match node {
        Node::File(b) if b.len() >= 16 => {
            let mut b = b.clone();
            b[8..12].fill(0);
            Node::File(b)
        }
        other => other.clone(),
    }
}

/// Maven's compiler leftovers, which the zip handler drops from jars.
fn maven_leftover(path: &Path) -> bool {
    let name = path.to_str().unwrap_or("");
    name == "javac.sh"
        || name
            .strip_prefix("org.codehaus.plexus.compiler.javac.JavacCompiler")
            .and_then(|n| n.strip_suffix("arguments"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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
    util::left_untouched("zip", dir, 1, &["-v"], &[word])
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

/// The corpus output of `case` (written to `tmp`) with its pair.
fn output(tmp: &Path, case: &str) -> (crate::corpus::Pair, PathBuf) {
    outputs(tmp)
        .into_iter()
        .find(|(p, _)| p.case == case)
        .unwrap_or_else(|| panic!("no corpus case {case}"))
}

/// Runs `program` with `args` under `TZ=tz`, panicking with its stderr on failure.
fn in_zone(tz: &str, dir: &Path, program: &str, args: &[&OsStr]) -> Vec<u8> {
    let out = Command::new(program)
        .env("TZ", tz)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "TZ={tz} {program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const CLOJURE_JAR: &str = "/usr/share/java/clojure.jar";

#[test]
#[ignore = "needs clojure"]
fn zip_clojure_jars_still_load_the_compiled_namespace() {
    need("java", "default-jre-headless");
    assert!(
        Path::new(CLOJURE_JAR).is_file(),
        "this test needs {CLOJURE_JAR}: apt-get install -y clojure"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (p, out) = output(tmp.path(), "clojure");
    // demo/core.clj in the jar says "source"; demo/core__init.class was
    // compiled from a source saying "class". Clojure loads the class only
    // when its entry is strictly newer than the source's.
    let loaded = |jar: &Path| {
        let cp = format!("{CLOJURE_JAR}:{}", jar.display());
        String::from_utf8(tool(
            "java",
            [
                "-cp",
                &cp,
                "clojure.main",
                "-e",
                "(require 'demo.core) (print demo.core/loaded-from)",
            ],
        ))
        .unwrap()
    };
    assert_eq!(
        loaded(&p.one),
        "class",
        "the build loads its compiled namespace"
    );
    assert_eq!(loaded(&p.two), "class");
    assert_eq!(
        loaded(&out),
        "class",
        "after normalizing, Clojure loads the source instead of the compiled namespace"
    );
}

/// Imports `module` with `path` first on `sys.path`, without writing bytecode.
fn python_import(dir: &Path, path: &Path, module: &str) -> String {
    let code = format!("import sys; sys.path.insert(0, sys.argv[1]); import {module}");
    String::from_utf8(in_zone(
        "UTC",
        dir,
        "python3",
        &[
            OsStr::new("-I"),
            OsStr::new("-B"),
            OsStr::new("-c"),
            OsStr::new(&code),
            path.as_os_str(),
        ],
    ))
    .unwrap()
}

#[test]
#[ignore = "needs python3"]
fn zip_zipimport_still_uses_the_pyc_and_extracted_pycache_stays_valid() {
    need("python3", "python3");
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (p, out) = output(t, "pyzip");
    // Each pyc was compiled from another source than the one beside it, so
    // its output shows whether it was used. zipimport uses m.pyc only when its
    // recorded source mtime is within 1 s of m.py's DOS time (local time: UTC
    // here, as in a Nix build).
    assert_eq!(
        python_import(t, &p.one, "m"),
        "m from pyc!!!\n",
        "the build"
    );
    assert_eq!(
        python_import(t, &out, "m"),
        "m from pyc!!!\n",
        "after normalizing, zipimport finds m.pyc stale and compiles m.py"
    );
    // Extracted, importlib checks pkg/__pycache__/mod.cpython-311.pyc against
    // pkg/mod.py's mtime, exactly.
    let dir = t.join("extracted");
    fs::create_dir(&dir).unwrap();
    in_zone(
        "UTC",
        t,
        "unzip",
        &[
            OsStr::new("-q"),
            out.as_os_str(),
            OsStr::new("-d"),
            dir.as_os_str(),
        ],
    );
    assert_eq!(
        python_import(t, &dir, "pkg.mod"),
        "mod from pyc!!!\n",
        "after extraction, importlib finds the __pycache__ pyc stale"
    );
}

/// The zones the floor must hold in: UTC, east (Tokyo), the furthest east
/// (Kiritimati, UTC+14 now, UTC−10:40 in 1980) and the furthest west (UTC−12).
const ZONES: [&str; 4] = ["UTC", "Asia/Tokyo", "Pacific/Kiritimati", "Etc/GMT+12"];

/// Zips every file and directory under `dir` again with Python's zipfile,
/// which refuses mtimes before 1980 in local time.
const REZIP: &str = r#"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w") as z:
    for root, dirs, files in os.walk(sys.argv[1]):
        for name in sorted(dirs + files):
            z.write(os.path.join(root, name))
"#;

#[test]
#[ignore = "needs unzip"]
fn zip_times_extract_to_1980_or_later_in_every_zone_and_zip_again() {
    need("unzip", "unzip");
    need("python3", "python3");
    assert!(
        Path::new("/usr/share/zoneinfo/Pacific/Kiritimati").is_file(),
        "this test needs the zone database: apt-get install -y tzdata"
    );
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let outs = outputs(t);
    let mut checked = 0;
    // zip 3.0 writes UT fields (unzip restores them), Python and jar only DOS
    // times (unzip reads them as local time); clojure has a compiled member
    // above the floor and its source at it.
    for case in ["zip30", "python", "jar", "clojure", "pyzip"] {
        let (_, out) = outs.iter().find(|(p, _)| p.case == case).unwrap();
        for tz in ZONES {
            let dir = t.join(format!("{case}-{}", tz.replace('/', "-")));
            fs::create_dir(&dir).unwrap();
            in_zone(
                tz,
                t,
                "unzip",
                &[
                    OsStr::new("-q"),
                    out.as_os_str(),
                    OsStr::new("-d"),
                    dir.as_os_str(),
                ],
            );
            for (path, _) in snapshot(&dir) {
                let m = util::mtime(&dir.join(&path));
                assert!(
                    m >= 315_532_800,
                    "{case}: TZ={tz} unzip gives {} an mtime before 1980 ({m})",
                    path.display()
                );
            }
            for rezip in [tz, "UTC", "Etc/GMT+12"] {
                let again = t.join("again.zip");
                in_zone(
                    rezip,
                    t,
                    "python3",
                    &[
                        OsStr::new("-c"),
                        OsStr::new(REZIP),
                        dir.as_os_str(),
                        again.as_os_str(),
                    ],
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 4 * 3);
}

#[test]
#[ignore = "needs java"]
fn zip_maven_leftovers_are_dropped_and_the_jar_still_runs() {
    need("java", "default-jre-headless");
    need("jar", "default-jdk-headless");
    need("unzip", "unzip");
    let tmp = tempfile::tempdir().unwrap();
    let (p, out) = output(tmp.path(), "maven");
    let listing =
        |jar: &Path| String::from_utf8(tool("jar", [OsStr::new("tf"), jar.as_os_str()])).unwrap();
    let before = listing(&p.one);
    assert!(before.lines().any(|l| l == "javac.sh"), "{before}");
    assert!(
        before
            .lines()
            .any(|l| maven_leftover(Path::new(l)) && l != "javac.sh"),
        "{before}"
    );
    assert_eq!(
        listing(&out),
        "META-INF/\nMETA-INF/MANIFEST.MF\ndemo/Main.class\n",
        "the leftovers are dropped, nothing else"
    );
    unzip_t(&out);
    let java = |jar: &Path| tool("java", [OsStr::new("-jar"), jar.as_os_str()]);
    assert_eq!(java(&p.one), b"hello from a maven jar\n");
    assert_eq!(java(&out), java(&p.one));
}

#[test]
fn jmod_pairs_converge_to_the_expected_bytes() {
    let done = converge("jmod");
    assert!(!done.is_empty());
    for (p, out) in &done {
        let one = fs::read(&p.one).unwrap();
        assert!(
            one.starts_with(b"JM\x01\x00PK\x03\x04"),
            "{}: a jmod",
            p.case
        );
        assert_ne!(one, fs::read(&p.two).unwrap(), "{}: builds differ", p.case);
        assert_ne!(&one, out, "{}: nothing was normalized", p.case);
        assert_eq!(&out[..4], b"JM\x01\x00", "{}: header kept", p.case);
    }
}

#[test]
#[ignore = "needs jmod"]
fn jmod_outputs_list_describe_and_link_like_the_originals() {
    need("jmod", "default-jdk-headless");
    need("jlink", "default-jdk-headless");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("jmod") {
        let path = tmp.path().join(format!("{}.jmod", p.case));
        fs::write(&path, &out).unwrap();
        for command in ["list", "describe"] {
            // The listing follows the entry order, which normalizing sorts.
            let jmod = |f: &Path| {
                let out = String::from_utf8(tool("jmod", [OsStr::new(command), f.as_os_str()]));
                let mut lines: Vec<String> = out.unwrap().lines().map(String::from).collect();
                lines.sort();
                lines
            };
            let before = jmod(&p.one);
            assert!(before.len() >= 3, "{before:?}");
            assert_eq!(jmod(&path), before, "{}: jmod {command}", p.case);
        }
        // The real use of a jmod: jlink builds a runtime image from it.
        let image = tmp.path().join(format!("{}-image", p.case));
        tool(
            "jlink",
            [
                OsStr::new("--module-path"),
                path.as_os_str(),
                OsStr::new("--add-modules"),
                OsStr::new("demo"),
                OsStr::new("--output"),
                image.as_os_str(),
            ],
        );
        let run = tool(
            image.join("bin/java").to_str().unwrap(),
            [OsStr::new("-m"), OsStr::new("demo")],
        );
        assert_eq!(run, b"hello from a jmod\n", "{}", p.case);
    }
}
