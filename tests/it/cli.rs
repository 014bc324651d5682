//! The binary on temp trees: links, modes, odd names, malformed inputs,
//! `--check`, exit codes and the JSON report.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use crate::util::{
    EPOCH, bin, bin_unprivileged, gnu_gzip, mtime, need, normalize, put, run, stderr,
};

const T1: &str = "2026-03-04 05:06:07";
const T2: &str = "2027-08-09 10:11:12";

fn gz(dir: &Path, content: &[u8]) -> Vec<u8> {
    gnu_gzip(dir, "page.1", content, T1)
}

fn json(args: &[&OsStr]) -> (i32, serde_json::Value) {
    let out = bin().arg("--json").args(args).output().unwrap();
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{}", stderr(&out)));
    (out.status.code().unwrap(), v)
}

fn no_temp_files_left(root: &Path) {
    for e in walkdir(root) {
        let name = e.file_name().unwrap().as_bytes().to_vec();
        assert!(
            !name.starts_with(b".strip-nd-tmp."),
            "temp file left behind: {}",
            e.display()
        );
    }
}

fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        out.push(p);
    }
    out
}

#[test]
fn normalizes_a_tree_clamps_mtimes_and_leaves_no_temp_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("out");
    let raw = gz(t.path(), b"hello\n");
    put(&root, "share/man/man1/a.1.gz", &raw);
    put(&root, "share/doc/readme", b"not compressed");
    symlink("man1/a.1.gz", root.join("share/man/link.gz")).unwrap();
    let out = run([&root]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = fs::read(root.join("share/man/man1/a.1.gz")).unwrap();
    assert_eq!(got, normalize(&raw, "a.1.gz").unwrap());
    assert_ne!(got, raw);
    for p in walkdir(&root) {
        assert!(mtime(&p) <= EPOCH, "{} not clamped", p.display());
    }
    no_temp_files_left(&root);
    let err = stderr(&out);
    assert!(err.contains("rewrote 1 (gzip 1)"), "{err}");
    assert!(err.contains("self-check ok"), "{err}");
    assert!(err.contains("sha256:"), "{err}");
}

#[test]
fn a_single_file_root_is_normalized() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"x");
    let f = put(t.path(), "f.gz", &raw);
    let out = run([&f]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&f).unwrap(), normalize(&raw, "f.gz").unwrap());
}

#[test]
fn earlier_mtimes_stay_and_later_ones_are_clamped() {
    let t = tempfile::tempdir().unwrap();
    let early = put(t.path(), "early", b"a");
    let late = put(t.path(), "late", b"b");
    filetime::set_file_mtime(&early, filetime::FileTime::from_unix_time(1000, 0)).unwrap();
    let out = bin()
        .arg("--epoch")
        .arg("5000")
        .arg(t.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mtime(&early), 1000);
    assert_eq!(mtime(&late), 5000);
    assert_eq!(mtime(t.path()), 5000);
}

#[test]
fn epoch_comes_from_flag_then_source_date_epoch_then_the_default() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "f", b"x");
    let (_, v) = json(&[t.path().as_os_str()]);
    assert_eq!(v["epoch"], EPOCH);
    assert_eq!(v["epoch_source"], "default");
    let out = bin()
        .env("SOURCE_DATE_EPOCH", "1234567")
        .args(["--json", "--check"])
        .arg(t.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["epoch"], 1_234_567);
    assert_eq!(v["epoch_source"], "SOURCE_DATE_EPOCH");
    let out = bin()
        .env("SOURCE_DATE_EPOCH", "1234567")
        .args(["--json", "--check", "--epoch", "99"])
        .arg(t.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["epoch"], 99);
    let bad = bin()
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("SOURCE_DATE_EPOCH"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn jobs_default_to_nix_build_cores() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "f", b"x");
    let out = bin()
        .env("NIX_BUILD_CORES", "3")
        .args(["--json", "--check"])
        .arg(t.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"], 3);
    let out = bin()
        .env("NIX_BUILD_CORES", "0")
        .args(["--json", "--check", "-j", "5"])
        .arg(t.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"], 5);
    assert_eq!(run(["-j", "0", "x"]).status.code(), Some(2));
}

#[test]
fn hardlinks_inside_the_roots_stay_one_inode() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"linked");
    let a = put(t.path(), "root/a.gz", &raw);
    let b = t.path().join("root/sub/b.gz");
    fs::create_dir_all(b.parent().unwrap()).unwrap();
    fs::hard_link(&a, &b).unwrap();
    let out = run([t.path().join("root")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = normalize(&raw, "a.gz").unwrap();
    assert_eq!(fs::read(&a).unwrap(), want);
    assert_eq!(fs::read(&b).unwrap(), want);
    let (ma, mb) = (fs::metadata(&a).unwrap(), fs::metadata(&b).unwrap());
    assert_eq!(ma.ino(), mb.ino(), "links split into two files");
    assert_eq!(ma.nlink(), 2);
    assert!(stderr(&out).contains("1 files seen"), "{}", stderr(&out));
}

#[test]
fn hardlinks_reaching_outside_the_roots_are_left_untouched_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"linked");
    let a = put(t.path(), "root/a.gz", &raw);
    let outside = t.path().join("elsewhere.gz");
    fs::hard_link(&a, &outside).unwrap();
    let out = run([t.path().join("root")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&a).unwrap(), raw);
    assert_eq!(
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&outside).unwrap().ino()
    );
    let v = json(&[OsStr::new("--check"), t.path().join("root").as_os_str()]).1;
    let reason = v["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("hardlinks"), "{reason}");
}

#[test]
fn symlinks_are_never_followed() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"outside");
    let outside = put(t.path(), "outside.gz", &raw);
    let root = t.path().join("root");
    fs::create_dir(&root).unwrap();
    symlink(&outside, root.join("abs.gz")).unwrap();
    symlink("../outside.gz", root.join("rel.gz")).unwrap();
    symlink("missing.gz", root.join("dangling.gz")).unwrap();
    symlink(t.path(), root.join("loop")).unwrap();
    let out = run([&root]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(&outside).unwrap(),
        raw,
        "a file outside the root changed"
    );
    assert_eq!(
        fs::read_link(root.join("rel.gz")).unwrap(),
        Path::new("../outside.gz")
    );
    assert_eq!(
        fs::read_link(root.join("dangling.gz")).unwrap(),
        Path::new("missing.gz")
    );
    assert!(
        mtime(&root.join("dangling.gz")) <= EPOCH,
        "symlink mtime not clamped"
    );
    // A root that is itself a symlink is not followed either.
    let out = run([root.join("abs.gz")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&outside).unwrap(), raw);
}

#[test]
fn read_only_files_and_directories_are_rewritten_and_keep_their_modes() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"ro");
    let dir = t.path().join("ro");
    let f = put(&dir, "f.gz", &raw);
    let x = put(&dir, "x.gz", &raw);
    fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(&x, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let out = run([t.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&f).unwrap(), normalize(&raw, "f.gz").unwrap());
    assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o444);
    assert_eq!(fs::metadata(&x).unwrap().mode() & 0o7777, 0o4755);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o555);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn read_only_directories_are_rewritten_by_their_unprivileged_owner() {
    // As root, the test above would pass whatever the directory guard does:
    // root writes into a 0555 directory. Here the tree belongs to `nobody`
    // and strip-nd runs as `nobody`, so a rewrite in `ro/` needs the guard to
    // relax the mode, and the mode must come back.
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"ro");
    let top = t.path().join("tree");
    let dir = top.join("ro");
    let f = put(&dir, "f.gz", &raw);
    let nested = put(&dir.join("sub"), "g.gz", &raw);
    for p in [t.path(), &top, &dir, &dir.join("sub"), &f, &nested] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    fs::set_permissions(&f, fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = bin_unprivileged().arg(&top).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&f).unwrap(), normalize(&raw, "f.gz").unwrap());
    assert_eq!(fs::read(&nested).unwrap(), normalize(&raw, "g.gz").unwrap());
    assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o444);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o555);
    assert_eq!(
        fs::metadata(dir.join("sub")).unwrap().mode() & 0o7777,
        0o555
    );
    assert_eq!(
        fs::metadata(&f).unwrap().uid(),
        65534,
        "still nobody's file"
    );
    no_temp_files_left(&top);
    for d in [&dir, &dir.join("sub")] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn empty_files_and_non_utf8_names_are_handled() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"odd name");
    let empty = put(t.path(), "empty.gz", b"");
    let odd = put(t.path(), OsStr::from_bytes(b"caf\xe9-\xff.gz"), &raw);
    let out = run([t.path()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&empty).unwrap(), b"");
    assert_eq!(fs::read(&odd).unwrap(), normalize(&raw, "x.gz").unwrap());
}

#[test]
fn a_malformed_gzip_among_good_ones_is_a_warning_unless_strict() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), &b"good data ".repeat(500));
    let mut truncated = raw.clone();
    truncated.truncate(raw.len() / 2);
    let mut garbage = raw.clone();
    garbage.extend_from_slice(b"junk");
    for strict in [false, true] {
        let root = t.path().join(format!("s{strict}"));
        let good1 = put(&root, "a-good.gz", &raw);
        let bad1 = put(&root, "b-truncated.gz", &truncated);
        let bad2 = put(&root, "c-garbage.gz", &garbage);
        let good2 = put(&root, "d-good.gz", &raw);
        let mut cmd = bin();
        if strict {
            cmd.arg("--strict");
        }
        let out = cmd.arg(&root).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(i32::from(strict)),
            "{}",
            stderr(&out)
        );
        let want = normalize(&raw, "a.gz").unwrap();
        assert_eq!(fs::read(&good1).unwrap(), want);
        assert_eq!(fs::read(&good2).unwrap(), want);
        assert_eq!(fs::read(&bad1).unwrap(), truncated);
        assert_eq!(fs::read(&bad2).unwrap(), garbage);
        let err = stderr(&out);
        for bad in ["b-truncated.gz", "c-garbage.gz"] {
            assert!(
                err.lines()
                    .any(|l| l.contains(bad) && l.contains("gzip") && l.contains("warning")),
                "{bad} not named:\n{err}"
            );
        }
    }
}

#[test]
fn check_changes_nothing_and_lists_what_would_change() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"check me");
    let f = put(t.path(), "f.gz", &raw);
    let before = mtime(&f);
    let out = run([OsStr::new("--check"), t.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(fs::read(&f).unwrap(), raw);
    assert_eq!(mtime(&f), before);
    let err = stderr(&out);
    assert!(err.contains("f.gz [gzip]: member 1: mtime"), "{err}");
    assert!(err.contains("name \"page.1\" dropped"), "{err}");
    // After a real run there is nothing left to do.
    assert!(run([t.path()]).status.success());
    let out = run([OsStr::new("--check"), t.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn json_report_parses_and_names_each_change() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "f.gz", &gz(t.path(), b"json"));
    let (code, v) = json(&[t.path().as_os_str()]);
    assert_eq!(code, 0);
    assert_eq!(v["mode"], "normalize");
    assert_eq!(v["files_seen"], 1);
    assert_eq!(v["changes"][0]["handler"], "gzip");
    assert!(v["changes"][0]["path"].as_str().unwrap().ends_with("f.gz"));
    assert_eq!(v["per_handler"]["gzip"]["rewritten"], 1);
    assert_eq!(v["self_check"]["status"], "ok");
    let hash = v["roots"][0]["nar_hash"].as_str().unwrap();
    let printed = run([OsStr::new("hash"), t.path().as_os_str()]);
    assert_eq!(String::from_utf8(printed.stdout).unwrap().trim(), hash);
}

/// A run: its name, its arguments, an environment variable, the epoch source it reports.
type Run<'a> = (&'a str, &'a [&'a str], Option<(&'a str, &'a str)>, &'a str);

#[test]
fn results_do_not_depend_on_thread_count_or_epoch_source() {
    // One epoch (2026-09-21, between T1 and T2: half the pages are clamped,
    // half keep their time), given three ways, with three thread counts.
    const E: &str = "1790000000";
    let t = tempfile::tempdir().unwrap();
    let mut hashes = vec![];
    let runs: [Run; 3] = [
        ("flag", &["-j", "1", "--epoch", E], None, "--epoch"),
        (
            "env",
            &["-j", "4"],
            Some(("SOURCE_DATE_EPOCH", E)),
            "SOURCE_DATE_EPOCH",
        ),
        (
            "cores",
            &[],
            Some(("SOURCE_DATE_EPOCH", E)),
            "SOURCE_DATE_EPOCH",
        ),
    ];
    for (name, args, env, source) in runs {
        let root = t.path().join(name);
        for i in 0..40 {
            let raw = gnu_gzip(
                t.path(),
                &format!("p{i}"),
                format!("page {i}").as_bytes(),
                if i % 2 == 0 { T1 } else { T2 },
            );
            put(&root, format!("d{}/p{i}.gz", i % 5), &raw);
        }
        let mut cmd = bin();
        cmd.arg("--json").args(args).arg(&root);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        if name == "cores" {
            cmd.env("NIX_BUILD_CORES", "3");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["epoch"].as_u64(), Some(E.parse().unwrap()), "{name}");
        assert_eq!(v["epoch_source"].as_str(), Some(source), "{name}");
        let jobs = match name {
            "flag" => 1,
            "env" => 4,
            _ => 3,
        };
        assert_eq!(v["jobs"].as_u64(), Some(jobs), "{name}");
        assert_eq!(v["changes"].as_array().unwrap().len(), 40, "{name}");
        hashes.push(v["roots"][0]["nar_hash"].as_str().unwrap().to_string());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hashes[2]);
}

#[test]
fn handlers_can_be_listed_and_disabled() {
    let out = run(["--list-handlers"]);
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains("gzip"), "{list}");
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"off");
    let f = put(t.path(), "f.gz", &raw);
    let out = run([OsStr::new("--handlers=-gzip"), t.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&f).unwrap(), raw);
    let out = run(["--handlers", "+nope", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown handler"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_and_io_errors_exit_1() {
    assert_eq!(run(["--no-such-flag"]).status.code(), Some(2));
    assert_eq!(run::<[&str; 0], _>([]).status.code(), Some(2));
    let out = run(["/nonexistent/strip-nd/path"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/strip-nd/path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fifos_are_skipped_with_a_note() {
    need("mkfifo", "coreutils");
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"beside a fifo");
    let f = put(t.path(), "f.gz", &raw);
    crate::util::tool("mkfifo", [t.path().join("pipe")]);
    let (code, v) = json(&[t.path().as_os_str()]);
    assert_eq!(code, 0);
    assert_eq!(fs::read(&f).unwrap(), normalize(&raw, "f.gz").unwrap());
    assert!(v["skipped"][0]["reason"].as_str().unwrap().contains("FIFO"));
    assert_eq!(v["self_check"]["status"], "incomplete");
    assert!(
        v["roots"][0]["nar_error"]
            .as_str()
            .unwrap()
            .contains("FIFO")
    );
}

#[test]
fn the_nix_store_is_refused_outside_a_build() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("store");
    let raw = gz(t.path(), b"stored");
    let f = put(&store, "abc-pkg/share/f.gz", &raw);
    let out = bin()
        .env("NIX_STORE_DIR", &store)
        .arg(store.join("abc-pkg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to modify the Nix store"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&f).unwrap(), raw);
    // --check only reads, so it is allowed.
    let out = bin()
        .env("NIX_STORE_DIR", &store)
        .arg("--check")
        .arg(store.join("abc-pkg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Inside a build (NIX_BUILD_TOP set) the output is ours to fix.
    let out = bin()
        .env("NIX_STORE_DIR", &store)
        .env("NIX_BUILD_TOP", t.path())
        .arg(store.join("abc-pkg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(fs::read(&f).unwrap(), raw);
}

/// The hash runs beside the main pass, reading each file once the pass has
/// left it: on a tree where most files are rewritten, across many batches,
/// with hardlinks and a vendored crate (both finished after the walk), the
/// hash reported must be the one of the tree the run leaves, with the
/// self-check and without, on one thread and on several.
#[test]
fn the_reported_hash_is_the_hash_of_the_tree_left() {
    let t = tempfile::tempdir().unwrap();
    let raw = gz(t.path(), b"a page that is rewritten");
    let template = t.path().join("template");
    for d in 0..6 {
        for i in 0..60 {
            put(&template, format!("d{d}/p{i}.gz"), &raw);
            put(&template, format!("d{d}/t{i}.txt"), b"left as it is\n");
        }
        symlink("p0.gz", template.join(format!("d{d}/link.gz"))).unwrap();
    }
    fs::hard_link(template.join("d1/p1.gz"), template.join("d4/hard.gz")).unwrap();
    let sum = strip_nd::cargo_checksum::hex_digest(&<sha2::Sha256 as sha2::Digest>::digest(&raw));
    put(&template, "vendor/c/src/a.gz", &raw);
    put(
        &template,
        "vendor/c/.cargo-checksum.json",
        format!(r#"{{"files":{{"src/a.gz":"{sum}"}},"package":"00"}}"#).as_bytes(),
    );
    let runs: [&[&str]; 4] = [
        &["-j", "1"],
        &["-j", "2"],
        &["-j", "4"],
        &["-j", "2", "--no-self-check"],
    ];
    for (n, args) in runs.iter().enumerate() {
        let tree = t.path().join(format!("run{n}"));
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&tree)
            .status()
            .unwrap();
        assert!(copied.success());
        let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        all.push(tree.as_os_str());
        let (code, v) = json(&all);
        assert_eq!(code, 0, "{args:?}: {v:#}");
        assert!(v["per_handler"]["gzip"]["rewritten"].as_u64().unwrap() >= 360);
        let checksum = fs::read_to_string(tree.join("vendor/c/.cargo-checksum.json")).unwrap();
        assert!(
            !checksum.contains(&sum),
            "{args:?}: the crate's entry was not updated"
        );
        let printed = run([OsStr::new("hash"), tree.as_os_str()]);
        let after = String::from_utf8(printed.stdout).unwrap();
        assert_eq!(v["roots"][0]["nar_hash"], after.trim(), "{args:?}");
        let again = run([OsStr::new("--check"), tree.as_os_str()]);
        assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    }
}
