//! `strip-nd diff` and `strip-nd diff-hook` on corpus pairs and temp trees.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use crate::corpus::pairs;
use crate::util::{gnu_gzip, put, run, stderr};

fn json(a: &std::path::Path, b: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let o = run([
        OsStr::new("diff"),
        OsStr::new("--json"),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("diff --json does not parse: {e}\n{}", stderr(&o)));
    (o.status.code(), v)
}

fn find<'a>(v: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("no difference at {path}: {v:#}"))
}

#[test]
fn every_gzip_corpus_pair_is_explained_and_fixed() {
    for p in pairs("gzip") {
        if fs::read(&p.one).unwrap() == fs::read(&p.two).unwrap() {
            continue;
        }
        let (code, v) = json(&p.one, &p.two);
        assert_eq!(code, Some(1), "{}", p.case);
        let d = &v["differences"][0];
        assert_eq!(d["handler"], "gzip", "{}: {v:#}", p.case);
        assert_eq!(d["verdict"], "fixed-by-strip-nd", "{}: {v:#}", p.case);
        let fields = d["fields"].to_string();
        assert!(
            fields.contains("mtime") && fields.contains(" vs "),
            "{}: {fields}",
            p.case
        );
    }
}

#[test]
fn identical_trees_exit_0_and_usage_errors_exit_2() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "a/x", b"same");
    put(t.path(), "b/x", b"same");
    let o = run([
        OsStr::new("diff"),
        t.path().join("a").as_os_str(),
        t.path().join("b").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("identical"));
    assert_eq!(run(["diff", "only-one"]).status.code(), Some(2));
    let o = run([
        OsStr::new("diff"),
        t.path().join("a").as_os_str(),
        OsStr::new("/nonexistent/x"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_tree_report_names_each_file_field_verdict_and_hint() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    put(
        &a,
        "share/man/x.1.gz",
        &gnu_gzip(t.path(), "x.1", b".TH X 1\n", "2026-03-04 05:06:07"),
    );
    put(
        &b,
        "share/man/x.1.gz",
        &gnu_gzip(t.path(), "x.1", b".TH X 1\n", "2027-08-09 10:11:12"),
    );
    // A file stamped with the build time: not fixed, with a timestamp hint.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    put(
        &a,
        "share/stamp",
        format!("built at {}\n", now - 10).as_bytes(),
    );
    put(&b, "share/stamp", format!("built at {now}\n").as_bytes());
    put(&a, "share/path", b"prefix=/build/source-1\n");
    put(&b, "share/path", b"prefix=/tmp/nix-build-x.drv-0/source\n");
    put(&a, "share/list", b"one\ntwo\nthree\n");
    put(&b, "share/list", b"three\none\ntwo\n");
    put(&a, "bin/tool", b"#!/bin/sh\n");
    put(&b, "bin/tool", b"#!/bin/sh\n");
    fs::set_permissions(b.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    put(&a, "only-a", b"a");
    put(&b, "only-b", b"b");
    symlink("x", a.join("link")).unwrap();
    symlink("y", b.join("link")).unwrap();
    let (code, v) = json(&a, &b);
    assert_eq!(code, Some(1));
    assert_eq!(v["identical"], false);
    let gz = find(&v, "share/man/x.1.gz");
    assert_eq!(gz["verdict"], "fixed-by-strip-nd");
    assert!(
        gz["fields"][0]
            .as_str()
            .unwrap()
            .starts_with("member 1: mtime "),
        "{gz:#}"
    );
    let stamp = find(&v, "share/stamp");
    assert_eq!(stamp["verdict"], "not-fixed");
    assert!(
        stamp["hints"]
            .to_string()
            .contains("looks like a timestamp"),
        "{stamp:#}"
    );
    assert!(
        stamp["remaining"].to_string().contains("+built at"),
        "{stamp:#}"
    );
    assert!(
        find(&v, "share/path")["hints"]
            .to_string()
            .contains("build path")
    );
    assert!(
        find(&v, "share/list")["remaining"]
            .to_string()
            .contains("another order")
    );
    assert_eq!(find(&v, "bin/tool")["kind"], "executable");
    assert_eq!(find(&v, "only-a")["kind"], "only-in-a");
    assert_eq!(find(&v, "only-b")["kind"], "only-in-b");
    assert_eq!(find(&v, "link")["kind"], "symlink-target");
    let paths: Vec<&str> = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "differences come in path order");
    // The NAR hashes in the report are the trees' real NAR hashes.
    // Both sides: B holds the one executable file, which NAR marks.
    let ha = run([OsStr::new("hash"), a.as_os_str()]);
    assert_eq!(v["nar_a"], String::from_utf8(ha.stdout).unwrap().trim());
    let hb = run([OsStr::new("hash"), b.as_os_str()]);
    assert_eq!(v["nar_b"], String::from_utf8(hb.stdout).unwrap().trim());
    assert_ne!(v["nar_a"], v["nar_b"]);
}

#[test]
fn diff_hook_prints_to_stderr_and_always_exits_0() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "a/x", b"one\n");
    put(t.path(), "b/x", b"two\n");
    let o = run([
        OsStr::new("diff-hook"),
        t.path().join("a").as_os_str(),
        t.path().join("b").as_os_str(),
        OsStr::new("/nix/store/xxx.drv"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("/nix/store/xxx.drv") && err.contains("-one") && err.contains("+two"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let o = run([
        OsStr::new("diff-hook"),
        OsStr::new("/nonexistent/a"),
        OsStr::new("/nonexistent/b"),
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn archives_are_compared_member_by_member_with_nested_paths() {
    use crate::zipgen::{Member, Options, build};
    let jar = |built_by: &str, flavour: &str, t: u64| {
        let manifest = format!(
            "Manifest-Version: 1.0\r\nBuilt-By: {built_by}\r\nX-Flavour: {flavour}\r\n\r\n"
        );
        build(
            &[
                Member::dir("META-INF/", t),
                Member::file("META-INF/MANIFEST.MF", manifest.as_bytes(), t),
                Member::file("a.txt", b"same", t),
            ],
            &Options::default(),
        )
    };
    let bundle = |inner: Vec<u8>, t: u64| {
        build(
            &[
                Member::file("hello.jar", &inner, t),
                Member::file("readme", b"hi", t),
            ],
            &Options::default(),
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    // Only clocks and Built-By differ: strip-nd fixes it.
    let a = put(
        tmp.path(),
        "a/bundle.zip",
        &bundle(jar("alice", "plain", 1_800_000_000), 1_800_000_000),
    );
    let b = put(
        tmp.path(),
        "b/bundle.zip",
        &bundle(jar("bob", "plain", 1_900_000_000), 1_900_000_000),
    );
    let (code, v) = json(&a, &b);
    assert_eq!(code, Some(1));
    assert_eq!(v["differences"][0]["verdict"], "fixed-by-strip-nd", "{v:#}");
    assert!(
        v["differences"][0]["fields"]
            .to_string()
            .contains("DOS time"),
        "{v:#}"
    );
    // An attribute strip-nd keeps differs too: not fixed, reported at the
    // nested member's full path.
    let carol = put(
        tmp.path(),
        "c/bundle.zip",
        &bundle(jar("alice", "carol", 1_800_000_000), 1_800_000_000),
    );
    let (_, v) = json(&a, &carol);
    let outer = &v["differences"][0];
    assert_eq!(outer["verdict"], "not-fixed", "{v:#}");
    let inner = find(&v, "bundle.zip!hello.jar!META-INF/MANIFEST.MF");
    assert!(
        inner["remaining"].to_string().contains("+X-Flavour: carol"),
        "{v:#}"
    );
}

#[test]
fn every_corpus_pair_is_explained_with_its_handler_fields_and_verdict() {
    let root = crate::util::corpus("");
    let mut checked = Vec::new();
    for entry in fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        // corpus/lib.sh, the recipes' shared preamble, is no format folder.
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let format = entry.file_name().into_string().unwrap();
        for p in pairs(&format) {
            if fs::read(&p.one).unwrap() == fs::read(&p.two).unwrap() {
                continue;
            }
            let (code, v) = json(&p.one, &p.two);
            let what = format!("{format}/{}", p.case);
            assert_eq!(code, Some(1), "{what}");
            let d = &v["differences"][0];
            assert_eq!(d["kind"], "contents", "{what}: {v:#}");
            assert!(d["handler"].is_string(), "{what}: no handler named: {v:#}");
            assert_eq!(d["verdict"], "fixed-by-strip-nd", "{what}: {v:#}");
            let fields = d["fields"].as_array().unwrap();
            // The placeholder diff writes when it cannot name a field does not
            // count: every corpus pair differs in fields its handler names.
            let named: Vec<&str> = fields
                .iter()
                .filter_map(|f| f.as_str())
                .filter(|f| *f != "differs only in what strip-nd normalizes")
                .collect();
            assert!(!named.is_empty(), "{what}: no field named: {v:#}");
            checked.push(what);
        }
    }
    assert!(
        checked.len() >= 40,
        "only {} pairs differ: {checked:?}",
        checked.len()
    );
}
