//! Corpus tests: real files made by real tools at two clocks (`<case>.1.<ext>`
//! and `<case>.2.<ext>`, recipe in `corpus/<format>/make.sh`).
//!
//! Each pair must normalize to identical bytes, equal to the blessed
//! `expected/<case>.<ext>`; every output must pass the real consumer; and
//! normalizing an output again must change nothing. Regenerate the expected
//! files explicitly with `STRIP_ND_BLESS=1 cargo test --test it corpus`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{self, EPOCH, corpus, normalize, run, stderr, tool};

/// One case of a corpus folder.
pub struct Pair {
    pub case: String,
    pub one: PathBuf,
    pub two: PathBuf,
    pub expected: PathBuf,
}

/// Every `<case>.1.<ext>` with its `<case>.2.<ext>` in `corpus/<format>`.
pub fn pairs(format: &str) -> Vec<Pair> {
    let dir = corpus(format);
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some((case, ext)) = name.split_once(".1.") else {
            continue;
        };
        let two = dir.join(format!("{case}.2.{ext}"));
        assert!(two.exists(), "{name} has no partner {}", two.display());
        out.push(Pair {
            case: case.to_string(),
            one: dir.join(&name),
            two,
            expected: dir.join("expected").join(format!("{case}.{ext}")),
        });
    }
    out.sort_by(|a, b| a.case.cmp(&b.case));
    assert!(!out.is_empty(), "no pairs in {}", dir.display());
    out
}

/// [`converge`] for a format normalized in place: the two builds differed,
/// and each output has its input's size. At least `min` pairs.
pub fn converge_in_place(format: &str, min: usize) -> Vec<(Pair, Vec<u8>)> {
    let done = converge(format);
    assert!(done.len() >= min, "{format}: too few cases");
    for (p, out) in &done {
        let one = fs::read(&p.one).unwrap();
        assert_ne!(
            one,
            fs::read(&p.two).unwrap(),
            "{}: pair equal before",
            p.case
        );
        assert_eq!(out.len(), one.len(), "{}: size changed", p.case);
    }
    done
}

/// Normalizes both files of each pair, checks they converge, and compares with
/// (or, when blessing, writes) the expected output. Returns `(pair, output)`.
pub fn converge(format: &str) -> Vec<(Pair, Vec<u8>)> {
    let bless = std::env::var_os("STRIP_ND_BLESS").is_some();
    pairs(format)
        .into_iter()
        .map(|p| {
            let name = p.one.file_name().unwrap().to_str().unwrap();
            let a = normalize(&fs::read(&p.one).unwrap(), name).unwrap();
            let b = normalize(&fs::read(&p.two).unwrap(), name).unwrap();
            assert!(
                a == b,
                "{format}/{}: the two builds do not converge",
                p.case
            );
            assert!(
                util::is_fixed_point(&a, name),
                "{format}/{}: normalizing twice changes the output",
                p.case
            );
            if bless {
                fs::create_dir_all(p.expected.parent().unwrap()).unwrap();
                fs::write(&p.expected, &a).unwrap();
            } else {
                let want = fs::read(&p.expected).unwrap_or_else(|_| {
                    panic!(
                        "{} is missing: run STRIP_ND_BLESS=1 cargo test --test it corpus",
                        p.expected.display()
                    )
                });
                assert!(
                    a == want,
                    "{format}/{}: output differs from {}; if the change is intended, \
                     run STRIP_ND_BLESS=1 cargo test --test it corpus",
                    p.case,
                    p.expected.display()
                );
            }
            (p, a)
        })
        .collect()
}

fn gunzip(path: &Path) -> Vec<u8> {
    tool("gzip", [std::ffi::OsStr::new("-dc"), path.as_os_str()])
}

#[test]
fn gzip_pairs_converge_to_the_expected_bytes() {
    let done = converge("gzip");
    // The corpus must really exercise the handler: most pairs differ before.
    let differing = done
        .iter()
        .filter(|(p, _)| fs::read(&p.one).unwrap() != fs::read(&p.two).unwrap())
        .count();
    assert!(
        differing >= 6,
        "only {differing} pairs differ before normalization"
    );
}

#[test]
fn gzip_outputs_pass_gzip_t_and_decompress_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("gzip") {
        let path = tmp.path().join(format!("{}.gz", p.case));
        fs::write(&path, &out).unwrap();
        tool("gzip", [std::ffi::OsStr::new("-t"), path.as_os_str()]);
        assert_eq!(gunzip(&path), gunzip(&p.one), "{}: payload changed", p.case);
    }
}

#[test]
fn gzip_corpus_through_the_binary_matches_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for p in pairs("gzip") {
        for src in [&p.one, &p.two] {
            let dst = tmp.path().join(src.file_name().unwrap());
            fs::copy(src, &dst).unwrap();
            let name = dst.file_name().unwrap().to_str().unwrap();
            let want = normalize(&fs::read(src).unwrap(), name).unwrap();
            expected.push((dst, want));
        }
    }
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (path, want) in expected {
        assert!(fs::read(&path).unwrap() == want, "{}", path.display());
        assert!(util::mtime(&path) <= EPOCH);
    }
}

#[test]
fn gzip_malformed_files_are_reported_and_left_untouched() {
    let tmp = util::left_untouched("gzip", "malformed", 3, &[], &["gzip", "warning"]);
    let strict = run([std::ffi::OsStr::new("--strict"), tmp.path().as_os_str()]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}
