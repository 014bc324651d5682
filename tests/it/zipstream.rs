//! The zip handler's streamed path (`normalize_to` over a file read by
//! position, large members spilled to scratch files) against its in-memory
//! path (`normalize`): the same bytes, the same changes, the same errors, on
//! every zip-family file of the corpus and on made archives whose members are
//! larger than the in-memory limit; and `unzip -t` on what it writes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strip_nd::handler::{Context, Handler, Outcome, Sink, Spill, Written};
use strip_nd::handlers::zip::Zip;
use strip_nd::{Config, FormatError};

use crate::files::{CountingSpill, open};
use crate::util::{config_in_memory, corpus, need};
use crate::zipgen::{self, Member, Options};

/// What a run gave: the new bytes (`None`: unchanged) and the changes as
/// printed, or the error.
type Result = std::result::Result<Option<(Vec<u8>, Vec<String>)>, FormatError>;

fn context<'a>(config: &'a Config, spill: &'a dyn Spill, name: &'a Path) -> Context<'a> {
    let mut ctx = config.context(name);
    ctx.spill = spill;
    ctx
}

/// `normalize` over the bytes in memory.
fn in_memory(bytes: &[u8], ctx: &Context) -> Result {
    Zip.normalize(bytes, ctx).map(|o| match o {
        Outcome::Unchanged => None,
        Outcome::Rewritten { bytes, changes } => {
            Some((bytes, changes.iter().map(ToString::to_string).collect()))
        }
    })
}

/// `normalize_to` over the file at `path`, read by position.
fn streamed(path: &Path, ctx: &Context) -> Result {
    let src = open(path).unwrap();
    let mut out = Vec::new();
    let sink: &mut dyn Sink = &mut out;
    Zip.normalize_to(&src, sink, ctx).map(|w| match w {
        Written::Unchanged => None,
        Written::Rewritten(changes) => {
            Some((out, changes.iter().map(ToString::to_string).collect()))
        }
    })
}

/// Every file under `corpus/` the zip handler claims (jars, wheels, jmods,
/// self-extractors, the malformed and refused ones, the blessed outputs).
fn zip_family() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else {
                let bytes = fs::read(&p).unwrap();
                let config = Config::default();
                let head = &bytes[..bytes.len().min(4096)];
                if Zip.sniff(head, &config.context(&p)) {
                    out.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(""), &mut out);
    out
}

fn summary(r: &Result) -> String {
    match r {
        Ok(None) => "unchanged".into(),
        Ok(Some((b, c))) => format!("rewritten, {} bytes, {} changes", b.len(), c.len()),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_corpus_zip_streams_to_the_bytes_changes_and_errors_of_normalize() {
    let files = zip_family();
    assert!(
        files.len() >= 40,
        "only {} zip-family corpus files",
        files.len()
    );
    let spill = CountingSpill::default();
    let mut rewritten = 0;
    for path in &files {
        let bytes = fs::read(path).unwrap();
        // Lowered so that every claimed member is spilled and handed on by
        // position, on both paths; then the default, without scratch space.
        for (limit, spill) in [
            (256, &spill as &dyn Spill),
            (u64::MAX, &strip_nd::handler::NoSpill),
        ] {
            let config = config_in_memory(limit);
            let ctx = context(&config, spill, path);
            let want = in_memory(&bytes, &ctx);
            let got = streamed(path, &ctx);
            assert!(
                want == got,
                "{} (in_memory {limit}): in memory {}, streamed {}",
                path.display(),
                summary(&want),
                summary(&got)
            );
            rewritten += usize::from(matches!(want, Ok(Some(_))));
        }
    }
    assert!(
        rewritten >= 20,
        "only {rewritten} corpus runs rewrote anything"
    );
    assert!(
        spill.made() > 0,
        "no member was ever spilled: the large-member path did not run"
    );
}

/// Deterministic filler that deflate compresses somewhat (bytes of a small
/// alphabet), so compressed and stored sizes differ.
fn filler(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b"abcdefghijklmnop"[(x >> 16) as usize % 16]
        })
        .collect()
}

/// A jar of `members` files with future times, UT and uid/gid fields.
fn noisy_jar(members: usize, size: usize, deflate: bool) -> Vec<u8> {
    let mut list = vec![Member::file(
        "META-INF/MANIFEST.MF",
        b"Manifest-Version: 1.0\r\nBuilt-By: someone\r\n\r\n",
        1_700_000_000,
    )];
    for i in 0..members {
        let mut m = Member::file(
            &format!("d/f{i}.txt"),
            &filler(size, i as u32),
            1_700_000_000 + i as u64,
        );
        m.deflate = deflate;
        m.descriptor = i % 2 == 1;
        list.push(m);
    }
    let o = Options {
        timestamps: true,
        ids: Some((1000, 100)),
        made_by: 30,
        ..Options::default()
    };
    zipgen::build(&list, &o)
}

/// A zip holding, beside small members, jars larger than the in-memory
/// limit: stored and deflated, with and without a data descriptor, and a
/// large member no handler claims.
fn outer(zip64: bool) -> Vec<u8> {
    let inner = noisy_jar(6, 20_000, true);
    let stored_inner = noisy_jar(3, 30_000, false);
    let mut list = Vec::new();
    for (name, data, deflate, descriptor) in [
        ("lib/a.jar", &inner, true, false),
        ("lib/b.jar", &inner, true, true),
        ("lib/c.jar", &stored_inner, false, false),
        ("lib/d.jar", &stored_inner, false, true),
        ("big.txt", &filler(100_000, 7), true, false),
        ("small.txt", &b"hello\n".to_vec(), false, false),
    ] {
        let mut m = Member::file(name, data, 1_750_000_000);
        m.deflate = deflate;
        m.descriptor = descriptor;
        list.push(m);
    }
    let o = Options {
        timestamps: true,
        zip64,
        ..Options::default()
    };
    zipgen::build(&list, &o)
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn spilled_members_are_rewritten_as_normalize_rewrites_them_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    for zip64 in [false, true] {
        let bytes = outer(zip64);
        let path = write_temp(dir.path(), "outer.zip", &bytes);
        // Everything in memory, no scratch space: what normalize always gave.
        let whole = config_in_memory(u64::MAX);
        let want = in_memory(&bytes, &context(&whole, &strip_nd::handler::NoSpill, &path));
        // A 4 KiB budget: every jar is spilled, rewritten by position and
        // compressed again from its scratch file.
        let spill = CountingSpill::default();
        let small = config_in_memory(4096);
        let got = streamed(&path, &context(&small, &spill, &path));
        let (want_bytes, want_changes) = want.unwrap().expect("the outer zip is rewritten");
        let (got_bytes, got_changes) = got.unwrap().expect("the outer zip is rewritten");
        assert!(
            want_changes
                .iter()
                .any(|c| c.starts_with("lib/d.jar!META-INF/MANIFEST.MF: attribute Built-By")),
            "the stored jar's manifest is normalized: {want_changes:#?}"
        );
        assert_eq!(got_changes, want_changes, "zip64 {zip64}");
        assert!(
            got_bytes == want_bytes,
            "zip64 {zip64}: streamed bytes differ"
        );
        // Each of the four jars is spilled (and then its output, and its
        // recompressed form when deflated), and their members too.
        assert!(spill.made() >= 4 * 2, "only {} scratch files", spill.made());
    }
}

#[test]
fn a_corrupt_large_member_is_the_same_error_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = outer(false);
    // Flip a byte inside lib/c.jar's stored data (a jar member's content):
    // its CRC32 no longer matches.
    let at = memchr::memmem::find(&bytes, &filler(30_000, 1)[..64]).unwrap() + 10;
    bytes[at] ^= 1;
    let path = write_temp(dir.path(), "bad.zip", &bytes);
    let whole = config_in_memory(u64::MAX);
    let want = in_memory(&bytes, &context(&whole, &strip_nd::handler::NoSpill, &path));
    let spill = CountingSpill::default();
    let small = config_in_memory(4096);
    let got = streamed(&path, &context(&small, &spill, &path));
    assert!(
        matches!(&want, Err(FormatError::Malformed(m)) if m.contains("CRC32")),
        "{}",
        summary(&want)
    );
    assert_eq!(got, want);
}

#[test]
#[ignore = "needs unzip"]
fn what_the_streamed_path_writes_passes_unzip_t() {
    need("unzip", "unzip");
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "outer.zip", &outer(false));
    let spill = CountingSpill::default();
    let small = config_in_memory(4096);
    let (bytes, _) = streamed(&path, &context(&small, &spill, &path))
        .unwrap()
        .unwrap();
    let out = write_temp(dir.path(), "new.zip", &bytes);
    let st = Command::new("unzip").arg("-tq").arg(&out).output().unwrap();
    assert!(
        st.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&st.stdout)
    );
    // The nested jars, extracted, pass too.
    let x = dir.path().join("x");
    assert!(
        Command::new("unzip")
            .arg("-q")
            .arg(&out)
            .arg("-d")
            .arg(&x)
            .status()
            .unwrap()
            .success()
    );
    for jar in ["a", "b", "c", "d"] {
        let st = Command::new("unzip")
            .arg("-tq")
            .arg(x.join(format!("lib/{jar}.jar")))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "lib/{jar}.jar: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
}
