//! Manifests of member hashes stay true: a wheel's `RECORD` after a nested
//! member changes (checked with `python -m installer --validate-record all`),
//! refusals when it cannot be kept right.

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use strip_nd::FormatError;
use strip_nd::config::Config;
use strip_nd::handlers::Outcome;

use crate::corpus;
use crate::util::{EPOCH, gnu_gzip, normalize};
use crate::zipgen::{self, Member, Options};

const LATE: u64 = 1_700_000_000;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
}

fn run(zip: &[u8]) -> Result<Outcome, FormatError> {
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new("w-1.0-py3-none-any.whl"));
    strip_nd::dispatch::dispatch(zip, &ctx)
        .expect("zip claims it")
        .1
}

fn member(zip: &[u8], name: &str) -> Vec<u8> {
    zipgen::read(zip)
        .into_iter()
        .find(|(n, _, _)| n == name.as_bytes())
        .unwrap_or_else(|| panic!("no member {name}"))
        .1
}

/// A wheel with a gzip member that the gzip handler changes (name and mtime
/// recorded), listed in RECORD with `record_line` for it.
fn wheel(gz: &[u8], record_line: &str, extra: &[Member]) -> Vec<u8> {
    let init = b"print('hi')\n";
    let record = format!(
        "w/__init__.py,sha256={},{}\r\n{record_line}\r\n\"w-1.0.dist-info/RECORD\",,\r\n",
        b64(init),
        init.len()
    );
    let mut members = vec![
        Member::file("w/__init__.py", init, LATE),
        Member::file("w/data.txt.gz", gz, LATE),
        Member::file("w-1.0.dist-info/RECORD", record.as_bytes(), LATE),
    ];
    members.extend_from_slice(extra);
    zipgen::build(&members, &Options::default())
}

fn gz() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    gnu_gzip(dir.path(), "data.txt", b"payload\n", "2023-11-14 22:13:20")
}

#[test]
fn record_gets_the_new_hash_and_size_of_a_changed_member_and_keeps_its_bytes() {
    let gz = gz();
    let line = format!("w/data.txt.gz,\"sha256={}\",{}", b64(&gz), gz.len());
    let input = wheel(&gz, &line, &[]);
    let Outcome::Rewritten { bytes, changes } = run(&input).unwrap() else {
        panic!("nothing changed");
    };
    assert!(
        changes
            .iter()
            .any(|c| c == "w-1.0.dist-info/RECORD: hash and size of w/data.txt.gz updated"),
        "{changes:?}"
    );
    let new_gz = member(&bytes, "w/data.txt.gz");
    assert_ne!(new_gz, gz, "the gzip member was expected to change");
    let old_record = String::from_utf8(member(&input, "w-1.0.dist-info/RECORD")).unwrap();
    let record = String::from_utf8(member(&bytes, "w-1.0.dist-info/RECORD")).unwrap();
    // Only that row moved; CRLF endings and the quoting stay.
    let want = old_record.replace(
        &line,
        &format!("w/data.txt.gz,\"sha256={}\",{}", b64(&new_gz), new_gz.len()),
    );
    assert_eq!(record, want);
    assert!(
        matches!(run(&bytes), Ok(Outcome::Unchanged)),
        "not a fixed point"
    );
}

#[test]
fn a_signed_wheel_whose_members_would_change_is_left_untouched() {
    let gz = gz();
    let line = format!("w/data.txt.gz,sha256={},{}", b64(&gz), gz.len());
    for sig in ["w-1.0.dist-info/RECORD.jws", "w-1.0.dist-info/RECORD.p7s"] {
        let input = wheel(&gz, &line, &[Member::file(sig, b"{}", LATE)]);
        match run(&input) {
            Err(FormatError::Unsupported(m)) => assert!(m.contains("signed wheel"), "{m}"),
            other => panic!("{sig}: {other:?}"),
        }
    }
}

#[test]
fn a_record_row_it_cannot_recompute_leaves_the_wheel_untouched() {
    let gz = gz();
    let md5 = format!("w/data.txt.gz,md5=AAAA,{}", gz.len());
    let stale = format!("w/data.txt.gz,sha256={},{}", b64(b"other"), gz.len());
    let bad_size = format!("w/data.txt.gz,sha256={},{}", b64(&gz), gz.len() + 1);
    let unparseable = format!("w/data.txt.gz,sha256={},{}\r\n\"open", b64(&gz), gz.len());
    for (line, why) in [
        (md5, "hashed with md5"),
        (stale, "did not match it"),
        (bad_size, "size of w/data.txt.gz did not match"),
        (unparseable, "not CSV"),
    ] {
        match run(&wheel(&gz, &line, &[])) {
            Err(FormatError::Unsupported(m)) => assert!(m.contains(why), "{line}: {m}"),
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn a_member_record_does_not_list_changes_without_touching_record() {
    // RECORD without a row for the member: nothing to update, RECORD kept.
    let gz = gz();
    let input = wheel(&gz, "w/other.txt,,", &[]);
    let Outcome::Rewritten { bytes, changes } = run(&input).unwrap() else {
        panic!("nothing changed");
    };
    assert!(
        !changes
            .iter()
            .any(|c| c.to_string().contains("hash and size")),
        "{changes:?}"
    );
    assert_eq!(
        member(&bytes, "w-1.0.dist-info/RECORD"),
        member(&input, "w-1.0.dist-info/RECORD")
    );
}

#[test]
fn wheel_pairs_converge_and_their_record_names_the_new_catalog() {
    let done = corpus::converge("wheel");
    for (p, out) in done {
        let before = fs::read(&p.one).unwrap();
        let mo = "hello/locale/fr/LC_MESSAGES/hello.mo";
        let (old, new) = (member(&before, mo), member(&out, mo));
        assert_ne!(old, new, "{}: the catalog was expected to change", p.case);
        let record = String::from_utf8(member(&out, "hello_mo-1.0.dist-info/RECORD")).unwrap();
        assert!(
            record.contains(&format!("{mo},sha256={},{}", b64(&new), new.len())),
            "{}: {record}",
            p.case
        );
    }
}

/// `python -m installer --validate-record all` accepts `wheel`.
fn installer_validates(wheel: &Path) -> Result<(), String> {
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args(["-m", "installer", "--validate-record", "all", "--destdir"])
        .arg(dest.path())
        .arg(wheel)
        .output()
        .expect("python3 runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
#[ignore = "needs python3 with installer (pip install installer)"]
fn normalized_wheels_pass_installer_validate_record_all() {
    let tmp = tempfile::tempdir().unwrap();
    for p in corpus::pairs("wheel") {
        let input = fs::read(&p.one).unwrap();
        let whl = tmp.path().join("hello_mo-1.0-py3-none-any.whl");
        fs::write(&whl, &input).unwrap();
        installer_validates(&whl).unwrap_or_else(|e| panic!("{}: input rejected: {e}", p.case));
        let out = normalize(&input, "hello_mo-1.0-py3-none-any.whl").unwrap();
        // The oracle tells: the same output with the input's RECORD put
        // back (what strip-nd wrote before RECORD was kept) is rejected.
        let stale = tmp
            .path()
            .join("stale")
            .join("hello_mo-1.0-py3-none-any.whl");
        fs::create_dir_all(stale.parent().unwrap()).unwrap();
        fs::write(&whl, &out).unwrap();
        let script = "import sys, zipfile\n\
            src, old, dst = sys.argv[1:]\n\
            rec = next(n for n in zipfile.ZipFile(old).namelist() if n.endswith('/RECORD'))\n\
            with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w') as b:\n\
            \x20   for i in a.infolist():\n\
            \x20       b.writestr(i, zipfile.ZipFile(old).read(rec) if i.filename == rec else a.read(i))\n";
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(&whl)
            .arg(&p.one)
            .arg(&stale)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            installer_validates(&stale).is_err(),
            "{}: installer accepted a stale RECORD",
            p.case
        );
        fs::write(&whl, &out).unwrap();
        installer_validates(&whl).unwrap_or_else(|e| panic!("{}: output rejected: {e}", p.case));
    }
}

// ---------------------------------------------------------------------------
// Vendored crates: `.cargo-checksum.json`

/// Writes a checksum file as cargo vendor does (compact, keys sorted).
fn write_checksums(dir: &Path, files: &serde_json::Map<String, serde_json::Value>) {
    let value = serde_json::json!({ "files": files, "package": "00" });
    fs::write(
        dir.join(".cargo-checksum.json"),
        serde_json::to_vec(&value).unwrap(),
    )
    .unwrap();
}

fn sha256_hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(data).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn checksums(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(".cargo-checksum.json")).unwrap()).unwrap()
}

/// A crate directory holding a gzip member that strip-nd rewrites, listed
/// (or not) in its checksum file.
fn fake_crate(root: &Path, listed: bool) -> (std::path::PathBuf, Vec<u8>) {
    let dir = root.join("vendor/foo");
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("lib.rs"), b"pub fn f() {}\n").unwrap();
    let gz = gz();
    fs::write(dir.join("data/x.gz"), &gz).unwrap();
    let mut files = serde_json::Map::new();
    files.insert("lib.rs".into(), sha256_hex(b"pub fn f() {}\n").into());
    if listed {
        files.insert("data/x.gz".into(), sha256_hex(&gz).into());
    }
    write_checksums(&dir, &files);
    (dir, gz)
}

#[test]
fn cargo_checksums_follow_a_rewritten_file_and_the_self_check_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, gz) = fake_crate(tmp.path(), true);
    let before = fs::read(dir.join(".cargo-checksum.json")).unwrap();
    let out = crate::util::run(["-v".as_ref(), tmp.path().as_os_str()]);
    let err = crate::util::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("self-check ok"), "{err}");
    let new_gz = fs::read(dir.join("data/x.gz")).unwrap();
    assert_ne!(new_gz, gz, "the gzip file was expected to change");
    let after = fs::read(dir.join(".cargo-checksum.json")).unwrap();
    // Only the value of the rewritten file moved.
    let want = String::from_utf8(before)
        .unwrap()
        .replace(&sha256_hex(&gz), &sha256_hex(&new_gz));
    assert_eq!(String::from_utf8(after).unwrap(), want);
    assert!(
        err.contains(".cargo-checksum.json [cargo-checksum]: files.data/x.gz: sha256"),
        "{err}"
    );
    assert!(crate::util::mtime(&dir.join(".cargo-checksum.json")) <= EPOCH);
}

/// A dry run writes no temp file for a streamed file, but still reports
/// the checksum entry a real run would write: the same line whether the
/// file was streamed (hashed as it passed) or held in memory.
#[test]
fn a_dry_run_streaming_a_listed_file_reports_its_new_checksum() {
    let mut lines = Vec::new();
    for in_memory in ["16", &u64::MAX.to_string()] {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, gz) = fake_crate(tmp.path(), true);
        let json = fs::read(dir.join(".cargo-checksum.json")).unwrap();
        let out = crate::util::bin()
            .env("STRIP_ND_IN_MEMORY", in_memory)
            .args(["--check", "-v"])
            .arg(tmp.path())
            .output()
            .unwrap();
        let err = crate::util::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "would change: {err}");
        assert_eq!(fs::read(dir.join("data/x.gz")).unwrap(), gz);
        assert_eq!(fs::read(dir.join(".cargo-checksum.json")).unwrap(), json);
        let line = err
            .lines()
            .find(|l| l.contains("[cargo-checksum]: files.data/x.gz: sha256"))
            .unwrap_or_else(|| panic!("no checksum change reported: {err}"))
            .replace(&tmp.path().display().to_string(), "ROOT");
        assert!(!line.contains("not hashed"), "{line}");
        lines.push(line);
    }
    assert_eq!(lines[0], lines[1]);
}

#[test]
fn files_under_a_checksum_file_that_cannot_be_kept_are_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, gz) = fake_crate(tmp.path(), true);
    let json = dir.join(".cargo-checksum.json");
    let good = fs::read(&json).unwrap();
    let pretty = serde_json::to_vec_pretty(&checksums(&dir)).unwrap();
    let stale = String::from_utf8(good.clone())
        .unwrap()
        .replace(&sha256_hex(&gz), &sha256_hex(b"other"));
    for (bytes, why) in [
        (b"{not json".to_vec(), "is not JSON"),
        (pretty, "compact form"),
        (stale.into_bytes(), "does not match it"),
    ] {
        fs::write(&json, &bytes).unwrap();
        let out = crate::util::run(["-v".as_ref(), tmp.path().as_os_str()]);
        let err = crate::util::stderr(&out);
        assert!(out.status.success(), "{err}");
        assert_eq!(fs::read(dir.join("data/x.gz")).unwrap(), gz, "{why}: {err}");
        assert_eq!(fs::read(&json).unwrap(), bytes, "{why}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn a_file_its_checksum_file_does_not_list_is_rewritten_freely() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, gz) = fake_crate(tmp.path(), false);
    let json = fs::read(dir.join(".cargo-checksum.json")).unwrap();
    let out = crate::util::run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", crate::util::stderr(&out));
    assert_ne!(fs::read(dir.join("data/x.gz")).unwrap(), gz);
    assert_eq!(fs::read(dir.join(".cargo-checksum.json")).unwrap(), json);
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

#[test]
#[ignore = "needs cargo vendor with cfg-if 1.0.5 in the registry cache (a strip-nd build fetches it)"]
fn a_vendored_crate_still_builds_offline_after_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo");
    fs::create_dir_all(project.join("src")).unwrap();
    fs::create_dir_all(project.join(".cargo")).unwrap();
    fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ncfg-if = \"=1.0.5\"\n",
    )
    .unwrap();
    fs::write(project.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    let out = cargo(&project, &["vendor", "--offline", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(
        project.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored\"\n\
         [source.vendored]\ndirectory = \"vendor\"\n",
    )
    .unwrap();
    // Inject a file strip-nd rewrites (a gzip with name and mtime), listed
    // with its right checksum, so the baseline builds.
    let krate = project.join("vendor/cfg-if");
    let gz = gz();
    fs::write(krate.join("data.txt.gz"), &gz).unwrap();
    let mut value = checksums(&krate);
    value["files"]
        .as_object_mut()
        .unwrap()
        .insert("data.txt.gz".into(), sha256_hex(&gz).into());
    fs::write(
        krate.join(".cargo-checksum.json"),
        serde_json::to_vec(&value).unwrap(),
    )
    .unwrap();
    let build = |what: &str| {
        let out = cargo(&project, &["build", "--offline", "-q"]);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    build("baseline");
    let stale = fs::read(krate.join(".cargo-checksum.json")).unwrap();

    let out = crate::util::run([project.join("vendor").as_os_str()]);
    assert!(out.status.success(), "{}", crate::util::stderr(&out));
    assert_ne!(fs::read(krate.join("data.txt.gz")).unwrap(), gz);
    let _ = fs::remove_dir_all(project.join("target"));
    build("after strip-nd");

    // The oracle tells: the old checksum file makes cargo refuse the crate.
    fs::write(krate.join(".cargo-checksum.json"), &stale).unwrap();
    let _ = fs::remove_dir_all(project.join("target"));
    let out = cargo(&project, &["build", "--offline", "-q"]);
    assert!(!out.status.success(), "cargo accepted a stale checksum");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// .deb: md5sums in control.tar.* follows data.tar.*

/// The change notes of normalizing a package.
pub fn deb_notes(deb: &[u8]) -> Result<Vec<String>, FormatError> {
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new("p.deb"));
    match strip_nd::dispatch::dispatch(deb, &ctx)
        .expect("ar claims it")
        .1?
    {
        Outcome::Rewritten { changes, .. } => Ok(changes.iter().map(ToString::to_string).collect()),
        Outcome::Unchanged => Ok(Vec::new()),
    }
}

#[test]
fn deb_pairs_converge_and_md5sums_follows_the_man_page() {
    for (p, _) in corpus::converge("deb-md5sums") {
        let notes = deb_notes(&fs::read(&p.one).unwrap()).unwrap();
        assert!(
            notes.iter().any(
                |n| n == "control.tar.gz!md5sums: MD5 of usr/share/man/man1/hello.1.gz updated"
            ),
            "{}: {notes:?}",
            p.case
        );
    }
}

#[test]
#[ignore = "needs dpkg-deb and md5sum (dpkg, coreutils)"]
fn normalized_debs_extract_and_pass_md5sum_c() {
    md5sums_pass_after_a_run("deb-md5sums");
}

/// Each pair's first package, normalized, extracts with dpkg-deb and passes
/// `md5sum -c DEBIAN/md5sums`, its man page changed, and the old md5sums
/// would fail against the new data.
pub fn md5sums_pass_after_a_run(format: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let check = |deb: &Path, dir: &Path| -> std::process::Output {
        let _ = fs::remove_dir_all(dir);
        for (flag, to) in [("-x", dir.to_path_buf()), ("-e", dir.join("DEBIAN"))] {
            let st = Command::new("dpkg-deb")
                .arg(flag)
                .arg(deb)
                .arg(&to)
                .status()
                .unwrap();
            assert!(st.success(), "dpkg-deb {flag} {}", deb.display());
        }
        Command::new("md5sum")
            .args(["-c", "DEBIAN/md5sums"])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    for p in corpus::pairs(format) {
        let input = fs::read(&p.one).unwrap();
        let out = normalize(&input, "p.deb").unwrap();
        let (a, b) = (tmp.path().join("in.deb"), tmp.path().join("out.deb"));
        fs::write(&a, &input).unwrap();
        fs::write(&b, &out).unwrap();
        let before = check(&a, &tmp.path().join("a"));
        assert!(before.status.success(), "{}: input fails md5sum -c", p.case);
        let after = check(&b, &tmp.path().join("b"));
        assert!(
            after.status.success(),
            "{}: md5sum -c fails after a run: {}",
            p.case,
            String::from_utf8_lossy(&after.stdout)
        );
        let man = "usr/share/man/man1/hello.1.gz";
        assert_ne!(
            fs::read(tmp.path().join("a").join(man)).unwrap(),
            fs::read(tmp.path().join("b").join(man)).unwrap(),
            "{}: the man page was expected to change",
            p.case
        );
        // The oracle tells: the old md5sums against the new data fails.
        fs::copy(
            tmp.path().join("a/DEBIAN/md5sums"),
            tmp.path().join("b/DEBIAN/md5sums"),
        )
        .unwrap();
        let stale = Command::new("md5sum")
            .args(["-c", "DEBIAN/md5sums"])
            .current_dir(tmp.path().join("b"))
            .output()
            .unwrap();
        assert!(
            !stale.status.success(),
            "{}: md5sum -c accepted stale sums",
            p.case
        );
    }
}

#[test]
#[ignore = "needs network to PyPI (pip download) and python3 with installer"]
fn real_wheels_with_nested_catalogs_and_launchers_validate_after_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let st = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
        ])
        .arg(tmp.path())
        .args(["setuptools==69.0.0", "Django==5.0"])
        .status()
        .unwrap();
    assert!(st.success(), "pip download failed");
    let out = crate::util::run(["-v".as_ref(), tmp.path().as_os_str()]);
    let err = crate::util::stderr(&out);
    assert!(out.status.success(), "{err}");
    // setuptools' PE launchers and Django's .mo catalogs are rewritten, and
    // RECORD follows them.
    for (wheel, member) in [
        ("setuptools-69.0.0-py3-none-any.whl", ".exe updated"),
        ("Django-5.0-py3-none-any.whl", ".mo updated"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(wheel)
                && l.contains("RECORD: hash and size of")
                && l.contains(member)),
            "{wheel}: no RECORD update for a {member} member:\n{err}"
        );
        installer_validates(&tmp.path().join(wheel))
            .unwrap_or_else(|e| panic!("{wheel}: rejected after a run: {e}"));
    }
}
