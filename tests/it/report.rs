//! The `--json` report names every file exactly: a path that is not UTF-8
//! prints lossily in `path` and carries its bytes in `path_bytes`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::util::{gnu_gzip, put, run, stderr};

/// The bytes of a JSON array of integers.
fn bytes_of(v: &serde_json::Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn json_paths_that_are_not_utf8_carry_their_exact_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let gz = gnu_gzip(tmp.path(), "src", b"payload\n", "2030-01-01 00:00:00");
    // Both names print as "a\u{fffd}.gz".
    let names: [&[u8]; 2] = [b"a\xff.gz", b"a\xfe.gz"];
    let mut paths = Vec::new();
    for n in names {
        paths.push(put(tmp.path(), OsStr::from_bytes(n), &gz));
    }
    put(tmp.path(), "plain.gz", &gz);
    let out = run([
        OsStr::new("--json"),
        OsStr::new("-v"),
        tmp.path().as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // In the list of clamped mtimes, a UTF-8 path stays a string and the
    // others are objects with their bytes.
    let clamped = report["mtime_paths"].as_array().unwrap();
    assert!(
        clamped
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.ends_with("plain.gz"))),
        "{report:#}"
    );
    let mut listed: Vec<Vec<u8>> = clamped
        .iter()
        .filter(|p| p.is_object())
        .map(|p| bytes_of(&p["path_bytes"]))
        .collect();
    listed.sort();
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3, "{report:#}");
    let lossy: Vec<&serde_json::Value> = changes
        .iter()
        .filter(|c| c["path"].as_str().unwrap().ends_with("a\u{fffd}.gz"))
        .collect();
    assert_eq!(
        lossy.len(),
        2,
        "the two names collide in `path`: {report:#}"
    );
    let mut exact: Vec<Vec<u8>> = lossy.iter().map(|c| bytes_of(&c["path_bytes"])).collect();
    exact.sort();
    let mut want: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    want.sort();
    assert_eq!(exact, want, "path_bytes are the exact names");
    assert_eq!(listed, want, "mtime_paths carry the exact names too");
    let plain = changes
        .iter()
        .find(|c| c["path"].as_str().unwrap().ends_with("plain.gz"))
        .unwrap();
    assert!(
        plain.get("path_bytes").is_none(),
        "a UTF-8 path needs no bytes: {plain}"
    );
    // The same holds for the files left untouched and for the roots.
    let bad = put(tmp.path(), OsStr::from_bytes(b"b\xff.gz"), &gz[..12]);
    let out = run([OsStr::new("--json"), tmp.path().as_os_str()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = report["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["path"].as_str().unwrap().ends_with("b\u{fffd}.gz"))
        .unwrap_or_else(|| panic!("not reported: {report:#}"));
    assert_eq!(bytes_of(&note["path_bytes"]), bad.as_os_str().as_bytes());
}
