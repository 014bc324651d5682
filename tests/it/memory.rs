//! The memory budget (`--memory`): it only schedules, so files larger than
//! the whole budget are still normalized and no output or report changes.

use std::fs;
use std::path::Path;

use crate::util::{EPOCH, bin, gnu_gzip, put, stderr};

/// The first-clock case of every corpus folder (`corpus/<fmt>/*.1.*`), and
/// a fresh GNU gzip file: a tree with work for most handlers, every file
/// larger than a 1 KiB budget's share.
fn corpus_tree(dir: &Path) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for fmt in fs::read_dir(&corpus).unwrap() {
        let fmt = fmt.unwrap().path();
        let Ok(entries) = fs::read_dir(&fmt) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && name.contains(".1.") {
                let to = dir.join(fmt.file_name().unwrap());
                fs::create_dir_all(&to).unwrap();
                fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    let page: Vec<u8> = (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let gz = gnu_gzip(dir, "big.bin", &page, "2026-03-04 05:06:07");
    put(dir, "big.bin.gz", &gz);
}

/// Every regular file under `root` with its bytes, by relative path.
fn contents(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if m.is_file() {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((rel, fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// Runs the binary with `--json` and `extra` on a fresh copy of the corpus
/// tree at `root`; returns the exit code, the report without its timings,
/// and the files it left.
fn run_on_fresh_tree(
    root: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value, Vec<(String, Vec<u8>)>) {
    if root.exists() {
        fs::remove_dir_all(root).unwrap();
    }
    corpus_tree(root);
    let out = bin()
        .args(["--json", "-j4", "--epoch", &EPOCH.to_string()])
        .args(extra)
        .arg(root)
        .output()
        .unwrap();
    let mut report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{}", stderr(&out)));
    let obj = report.as_object_mut().unwrap();
    obj.remove("elapsed_ms").unwrap();
    obj.remove("phases_ms").unwrap();
    (out.status.code().unwrap(), report, contents(root))
}

#[test]
fn files_larger_than_the_whole_budget_are_normalized_exactly_as_without_it() {
    let t = tempfile::tempdir().unwrap();
    // One path for both runs, so the reports can be compared whole.
    let root = t.path().join("out");
    let free = run_on_fresh_tree(&root, &[]);
    // 1 KiB: every claimed file's estimate exceeds it, so each runs alone.
    let tight = run_on_fresh_tree(&root, &["--memory", "1K"]);
    assert_eq!(free.0, 0, "{:#}", free.1);
    let changes = free.1["changes"].as_array().unwrap();
    let handlers: std::collections::BTreeSet<&str> = changes
        .iter()
        .map(|c| c["handler"].as_str().unwrap())
        .collect();
    assert!(
        handlers.len() >= 10 && changes.len() >= 20,
        "the tree should give most handlers work: {handlers:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with("/big.bin.gz")),
        "the fresh gzip file was not rewritten: {changes:#?}"
    );
    assert_eq!(free.0, tight.0);
    assert_eq!(free.1, tight.1, "the report changed under --memory 1K");
    assert_eq!(free.2.len(), tight.2.len());
    for ((name, a), (other, b)) in free.2.iter().zip(&tight.2) {
        assert_eq!(name, other);
        assert!(a == b, "{name} differs under --memory 1K");
    }
}

#[test]
fn memory_accepts_suffixes_and_refuses_garbage_with_a_clear_message() {
    let t = tempfile::tempdir().unwrap();
    let gz = gnu_gzip(t.path(), "page.1", b"hello\n", "2026-03-04 05:06:07");
    let file = put(t.path(), "out/page.1.gz", &gz);
    for bad in ["lots", "12X", "1.5G", "0", "-3", ""] {
        let out = bin()
            // `--memory=-3`: as two words clap would take `-3` for a flag.
            .arg(format!("--memory={bad}"))
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--memory {bad:?}: {out:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("invalid value '{bad}' for '--memory <BYTES>'")),
            "{err}"
        );
        assert!(
            err.contains("K, M, G or T suffix") || err.contains("at least 1 byte"),
            "{err}"
        );
        assert_eq!(
            fs::read(&file).unwrap(),
            gz,
            "--memory {bad:?} touched the file"
        );
    }
    for good in ["64M", "1g", "300000", "16KiB"] {
        let out = bin()
            .args(["--epoch", &EPOCH.to_string(), "--memory", good])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "--memory {good}: {}",
            stderr(&out)
        );
        assert_ne!(
            fs::read(&file).unwrap(),
            gz,
            "--memory {good}: not normalized"
        );
        fs::write(&file, &gz).unwrap();
    }
}
