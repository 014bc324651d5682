//! The text-signature handlers (`javadoc`, `properties`, `perllocal`) claim a
//! file only when the whole of it has their format: source code and other text
//! that merely quotes their headers is left alone.
//!
//! Real trees are walked: this repository's `src/` and `tests/` (which quote
//! every header), the crate sources cargo downloaded for this build, a Python
//! standard library, and add-determinism 0.7.3, whose own `javadoc.rs` quotes a
//! javadoc head in a comment. Every text file there (any extension but the
//! formats' own: `.html`, `.properties`, `.pod` ...) must be sniffed by none
//! of the three, normalized by each to `Unchanged` when given to it directly
//! (as nested dispatch or `--handlers` may), and claimed by none of them when
//! the real binary runs its default handlers with `--check` over copies.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strip_nd::config::Config;
use strip_nd::handlers::{Outcome, SNIFF_LEN};

use crate::util::{EPOCH, bin, need, stderr};

/// The handlers under test.
const TEXT_HANDLERS: [&str; 3] = ["javadoc", "properties", "perllocal"];

/// Extensions of files that may rightly be one of those formats.
const OWN_EXTENSIONS: [&str; 6] = ["html", "htm", "xhtml", "shtml", "properties", "pod"];

/// Files larger than this are not read (no source file is that large, and the
/// walk stays quick).
const MAX_FILE: u64 = 8 << 20;

/// Whether `path`, starting with `head`, is a text file that is none of the
/// three formats by its name.
fn is_text_source(path: &Path, head: &[u8]) -> bool {
    let own = path
        .extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| OWN_EXTENSIONS.iter().any(|o| o.eq_ignore_ascii_case(e)));
    !own && !head.contains(&0)
}

/// The text files under `roots` that [`is_text_source`] picks, with their bytes.
fn text_sources(roots: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for root in roots {
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            // cargo may be unpacking a crate into the registry meanwhile (the
            // add-determinism test runs in parallel): skip what vanishes.
            let Ok(entry) = entry else { continue };
            let small = entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE);
            if !entry.file_type().is_file() || !small {
                continue;
            }
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            if is_text_source(entry.path(), &bytes[..bytes.len().min(SNIFF_LEN)]) {
                out.push((entry.into_path(), bytes));
            }
        }
    }
    out
}

/// What the three handlers did with `bytes` that they should not have: a
/// sniff, a normalize that is not `Unchanged`, a claim by default dispatch.
fn wrong_claims(path: &Path, bytes: &[u8]) -> Vec<String> {
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(path);
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    let mut out = Vec::new();
    for name in TEXT_HANDLERS {
        let (_, h) = strip_nd::dispatch::by_name(name).unwrap();
        if h.sniff(head, &ctx) {
            out.push(format!("{}: sniffed by {name}", path.display()));
        }
        match strip_nd::dispatch::run_guarded(h, bytes, &ctx) {
            Ok(Outcome::Unchanged) => {}
            Ok(Outcome::Rewritten { changes, .. }) => out.push(format!(
                "{}: rewritten by {name}.normalize: {changes:?}",
                path.display()
            )),
            Err(e) => out.push(format!(
                "{}: {name}.normalize reports it: {e}",
                path.display()
            )),
        }
    }
    if let Some((name, _)) = strip_nd::dispatch::dispatch(bytes, &ctx)
        && TEXT_HANDLERS.contains(&name)
    {
        out.push(format!("{}: claimed by {name} in dispatch", path.display()));
    }
    out
}

/// Checks every text source under `roots` with the library and returns how
/// many files were checked.
fn assert_no_claims_in(roots: &[PathBuf]) -> usize {
    let files = text_sources(roots);
    let wrong: Vec<String> = files.iter().flat_map(|(p, b)| wrong_claims(p, b)).collect();
    assert!(
        wrong.is_empty(),
        "{} wrong claims among {} text files:\n{}",
        wrong.len(),
        files.len(),
        wrong.join("\n")
    );
    files.len()
}

/// Copies the text sources under `root` to `dst` (keeping their relative
/// paths), runs the binary's default handlers with `--check` over the copy,
/// and asserts none of the three claimed a file. Returns the number copied.
fn assert_binary_claims_none(root: &Path, dst: &Path) -> usize {
    let files = text_sources(&[root.to_path_buf()]);
    for (p, bytes) in &files {
        let to = dst.join(p.strip_prefix(root).unwrap());
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(to, bytes).unwrap();
    }
    let out = bin()
        .args([
            "--check",
            "--no-mtimes",
            "--no-self-check",
            "--json",
            "--epoch",
        ])
        .arg(EPOCH.to_string())
        .arg(dst)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let claimed: BTreeMap<String, serde_json::Value> = report["per_handler"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| TEXT_HANDLERS.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        claimed.is_empty(),
        "strip-nd --check over {} claims text sources: {claimed:?}\n{}\n{}",
        root.display(),
        serde_json::to_string_pretty(&report["changes"]).unwrap(),
        stderr(&out)
    );
    files.len()
}

/// Files that quote each format's header the way source code and docs do.
/// Each of them was claimed before the handlers checked the whole file.
fn quoting_tree(dir: &Path) {
    let javadoc_head = "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n\
        <!-- Generated by javadoc (21) on Sat Mar 02 16:07:41 UTC 2024 -->\n\
        <meta name=\"dc.created\" content=\"2024-03-02\">\n</head>\n";
    let quoted: String = javadoc_head
        .lines()
        .flat_map(|l| ["    //   ", l, "\n"])
        .collect();
    let files = [
        (
            "quote.rs",
            format!(
                "//! A handler for javadoc pages, which start like this:\n{quoted}\
                 pub fn handles(page: &str) -> bool {{\n    page.contains(\"<!-- Generated by javadoc\")\n}}\n"
            ),
        ),
        (
            "Page.java",
            format!("/* A page of our docs:\n{javadoc_head}*/\nclass Page {{}}\n"),
        ),
        (
            "store.py",
            "#Mon Oct 27 09:12:51 UTC 2014\nversion=1.0\nprint(version)\n".to_string(),
        ),
        (
            "build.sh",
            "#Wed Mar 04 05:06:07 UTC 2026\nPREFIX=/usr\n\nmake install PREFIX=$PREFIX\n"
                .to_string(),
        ),
        (
            "NOTES.md",
            "=head2 Wed Mar  4 05:06:07 2026: C<Module> L<Demo::Hello|Demo::Hello>\n\n\
             is what perllocal.pod entries look like; this file explains them.\n"
                .to_string(),
        ),
        (
            "t/perllocal.t",
            "=head2 Wed Mar  4 05:06:07 2026: C<Module> L<Demo|Demo>\n\n=over 4\n\n\
             =item *\n\nC<VERSION: 1.00>\n\n=back\n\n=cut\n\nuse Test::More;\nok(1);\ndone_testing;\n"
                .to_string(),
        ),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// `$CARGO_HOME/registry/src/*`, where cargo unpacked the crates it downloaded.
fn cargo_registry_sources() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cargo"),
        PathBuf::from,
    );
    let src = home.join("registry").join("src");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; this test reads the crate sources cargo downloaded for the build",
                src.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn text_handlers_claim_no_source_file_of_this_repo_or_its_crates() {
    let tmp = tempfile::tempdir().unwrap();
    let quotes = tmp.path().join("quotes");
    quoting_tree(&quotes);
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = [here.join("src"), here.join("tests"), quotes.clone()];
    let n = assert_no_claims_in(&own);
    assert!(n >= 30, "only {n} files in src/, tests/ and the quotes");
    let crates = cargo_registry_sources();
    let n = assert_no_claims_in(&crates);
    assert!(n >= 500, "only {n} text files in {crates:?}");
    // The binary, with its default handlers, on copies of the quotes and of
    // this repository's sources.
    for (i, root) in own.iter().enumerate() {
        let copied = assert_binary_claims_none(root, &tmp.path().join(format!("copy{i}")));
        assert!(copied > 0, "{}: nothing copied", root.display());
    }
}

#[test]
#[ignore = "needs python3"]
fn text_handlers_claim_no_file_of_the_python_stdlib() {
    need("python3", "python3");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdlib = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let n = assert_no_claims_in(std::slice::from_ref(&stdlib));
    assert!(n >= 1000, "only {n} text files in {}", stdlib.display());
}

#[test]
#[ignore = "needs network: crates.io"]
fn text_handlers_claim_no_source_file_of_add_determinism_0_7_3() {
    // The crate is GPL: it is downloaded by cargo for the test, never committed.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("fetch");
    fs::create_dir_all(project.join("src")).unwrap();
    fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"fetch-add-determinism\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[dependencies]\nadd-determinism = \"=0.7.3\"\n\n[workspace]\n",
    )
    .unwrap();
    fs::write(project.join("src/lib.rs"), "").unwrap();
    let fetch = Command::new(&cargo)
        .arg("fetch")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(fetch.status.success(), "cargo fetch: {}", stderr(&fetch));
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(meta.status.success(), "cargo metadata: {}", stderr(&meta));
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "add-determinism" && p["version"] == "0.7.3")
        .expect("add-determinism 0.7.3 in the metadata")["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = Path::new(&manifest).parent().unwrap();
    let quoting = root.join("src/add_det/handlers/javadoc.rs");
    assert!(
        fs::read_to_string(&quoting)
            .unwrap()
            .contains("<!-- Generated by javadoc"),
        "{} no longer quotes a javadoc header",
        quoting.display()
    );
    let n = assert_no_claims_in(&[root.to_path_buf()]);
    assert!(n >= 10, "only {n} text files in {}", root.display());
    let copied = assert_binary_claims_none(root, &tmp.path().join("copy"));
    assert_eq!(copied, n);
}
