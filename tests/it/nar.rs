//! The NAR serializer against Nix itself (Debian's nix-bin): `nix hash path`,
//! `nix-hash`, and `nix-store --dump`, on a tree built to trip serializers up.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::util::{need, put, run};

const NIX_CONFIG: &str = "substituters =\nexperimental-features = nix-command\nsandbox = false\n";

fn nix(program: &str, args: &[&OsStr]) -> Vec<u8> {
    let out = Command::new(program)
        .env("NIX_CONFIG", NIX_CONFIG)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap().trim().to_string()
}

fn ours(format: Option<&str>, path: &Path) -> String {
    let mut args: Vec<&OsStr> = vec![OsStr::new("hash")];
    if let Some(f) = format {
        args.push(OsStr::new(f));
    }
    args.push(path.as_os_str());
    let out = run(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(out.stdout)
}

fn tricky_tree(root: &Path) {
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    put(root, "empty", b"");
    for n in [7, 8, 9, 1 << 20] {
        let body: Vec<u8> = (0..n)
            .map(|i: usize| u8::try_from(i * 31 % 251).unwrap())
            .collect();
        put(root, format!("size-{n}"), &body);
    }
    let modes = [
        ("group-exec-only", 0o614),
        ("owner-exec-only", 0o700),
        ("setuid", 0o4755),
        ("other-exec", 0o601),
    ];
    for (name, mode) in modes {
        let p = put(root, name, name.as_bytes());
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    put(root, OsStr::from_bytes(b"bad-\xff\xfe-name"), b"latin");
    put(root, OsStr::from_bytes(b"dir-\xe9/inner"), b"inner");
    put(root, "B-upper-sorts-first", b"B");
    put(root, "a/b/c/deep", b"deep");
    symlink("does/not/exist", root.join("dangling")).unwrap();
    symlink("../..", root.join("a/b/up")).unwrap();
    symlink(OsStr::from_bytes(b"\xff-target"), root.join("odd-target")).unwrap();
    fs::hard_link(root.join("size-9"), root.join("hardlink-to-size-9")).unwrap();
}

#[test]
#[ignore = "needs nix-bin"]
fn hash_matches_nix_on_a_tricky_tree() {
    need("nix-hash", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    tricky_tree(&root);
    let single = put(t.path(), "single-file", b"just a file\n");
    let link = t.path().join("root-link");
    symlink("tree", &link).unwrap();
    for path in [root.as_path(), single.as_path(), link.as_path()] {
        let p = path.as_os_str();
        let base32 = text(nix(
            "nix-hash",
            &[
                OsStr::new("--type"),
                OsStr::new("sha256"),
                OsStr::new("--base32"),
                p,
            ],
        ));
        let base16 = text(nix(
            "nix-hash",
            &[OsStr::new("--type"), OsStr::new("sha256"), p],
        ));
        let sri = text(nix("nix", &[OsStr::new("hash"), OsStr::new("path"), p]));
        let dump = nix("nix-store", &[OsStr::new("--dump"), p]);
        let digest: [u8; 32] = Sha256::digest(&dump).into();
        let dumped = strip_nd::nar::format_hash(&digest, strip_nd::nar::HashFormat::Base16);
        assert_eq!(
            ours(None, path),
            format!("sha256:{base32}"),
            "{}",
            path.display()
        );
        assert_eq!(ours(Some("--base32"), path), base32);
        assert_eq!(ours(Some("--base16"), path), base16);
        assert_eq!(ours(Some("--sri"), path), sri);
        assert_eq!(dumped, base16, "nix-store --dump | sha256sum");
        let mut mine = Vec::new();
        strip_nd::nar::dump(path, &mut mine).unwrap();
        assert!(
            mine == dump,
            "{}: NAR bytes differ from nix-store --dump",
            path.display()
        );
    }
}

#[test]
fn the_empty_file_hashes_to_the_known_nar_hash() {
    // What Nix 2.8 (Debian 12's nix-bin) prints for an empty regular file:
    // `nix hash path` (SRI), `nix-hash --type sha256 --base32` and
    // `nix-hash --type sha256`. Literals, so this test does not depend on the
    // library agreeing with itself.
    let t = tempfile::tempdir().unwrap();
    let f = put(t.path(), "empty", b"");
    assert_eq!(
        ours(Some("--sri"), &f),
        "sha256-d6xi4mKdjkX2JFicDIv5niSzpyI0m/Hnm8GGAIU04kY="
    );
    assert_eq!(
        ours(None, &f),
        "sha256:0ip26j2h11n1kgkz36rl4akv694yz65hr72q4kv4b3lxcbi65b3p"
    );
    assert_eq!(
        ours(Some("--base16"), &f),
        "77ac62e2629d8e45f624589c0c8bf99e24b3a722349bf1e79bc186008534e246"
    );
}

#[test]
fn hash_of_a_fifo_is_an_error_naming_it() {
    need("mkfifo", "coreutils");
    let t = tempfile::tempdir().unwrap();
    crate::util::tool("mkfifo", [t.path().join("p")]);
    let out = run([OsStr::new("hash"), t.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FIFO") && err.contains("/p"), "{err}");
}

/// The serializer reads files up to 256 KiB whole into a batch's buffer and
/// streams larger ones in 256 KiB chunks; batches hold 32 files. Files at and
/// across those sizes, executable or not, in directories of more than a batch,
/// with a large file as the root too, must give `nix-store --dump`'s bytes.
#[test]
#[ignore = "needs nix-bin"]
fn nar_bytes_match_nix_across_buffer_and_batch_boundaries() {
    need("nix-store", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    let kib = 1024;
    let sizes = [
        0,
        1,
        256 * kib - 1,
        256 * kib,
        256 * kib + 1,
        512 * kib,
        3 * 256 * kib + 5,
    ];
    for (i, n) in sizes.into_iter().enumerate() {
        let body: Vec<u8> = (0..n)
            .map(|j: usize| u8::try_from((j * 7 + i) % 253).unwrap())
            .collect();
        put(&root, format!("size-{n}"), &body);
        let q = put(&root, format!("exec/size-{n}"), &body);
        fs::set_permissions(&q, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for k in 0..100 {
        put(&root, format!("many/f{k:03}"), format!("{k}").as_bytes());
        if k % 10 == 0 {
            put(&root, format!("many/d{k}/empty"), b"");
            symlink("../f000", root.join(format!("many/d{k}/link"))).unwrap();
        }
    }
    let big = root.join(format!("size-{}", 3 * 256 * kib + 5));
    for path in [root.as_path(), big.as_path()] {
        let dump = nix("nix-store", &[OsStr::new("--dump"), path.as_os_str()]);
        let mut mine = Vec::new();
        strip_nd::nar::dump(path, &mut mine).unwrap();
        assert!(
            mine == dump,
            "{}: NAR bytes differ from nix-store --dump",
            path.display()
        );
        let digest: [u8; 32] = Sha256::digest(&dump).into();
        // Each worker writes the batches it read, in turn: one worker, as
        // many as batches in flight, and more, several times over (a batch
        // lost at the end of the walk once went unnoticed).
        for jobs in [1, 2, 3, 8, 1, 2, 3, 8] {
            assert_eq!(
                strip_nd::nar::hash_with(path, jobs).unwrap(),
                digest,
                "{} with {jobs} jobs",
                path.display()
            );
        }
    }
}

/// The NAR of `path` encoded the plain way: one thread, `std::fs`, the
/// library's [`strip_nd::nar::Encoder`] only for the tokens.
fn plain_nar(path: &Path, enc: &mut strip_nd::nar::Encoder<Vec<u8>>) {
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.file_type().is_symlink() {
        enc.symlink(fs::read_link(path).unwrap().as_os_str().as_bytes());
    } else if meta.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        enc.directory();
        for name in names {
            enc.entry(name.as_bytes());
            plain_nar(&path.join(&name), enc);
            enc.entry_end();
        }
        enc.directory_end();
    } else {
        let data = fs::read(path).unwrap();
        enc.regular(meta.permissions().mode() & 0o100 != 0, data.len() as u64);
        enc.data(&data);
        enc.regular_end(data.len() as u64);
    }
}

/// The threaded serializer (batches of 32 files, each written by the worker
/// that read it, in turn) against the plain encoding, on directories of
/// many batches with files across the 256 KiB read-whole limit, for any
/// number of workers, several times over: a batch dropped or written out of
/// turn changes the hash. (A batch lost at the end of the walk once went
/// unnoticed by the Nix oracle test, which ran with 3 workers only.)
#[test]
fn the_threaded_hash_is_the_hash_of_the_plain_encoding() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    for d in 0..3_usize {
        for k in 0..70_usize {
            let n = if k % 23 == 0 { 300 * 1024 + k } else { k * 37 };
            let body: Vec<u8> = (0..n)
                .map(|j| u8::try_from((j * 31 + k + d) % 256).unwrap())
                .collect();
            let p = put(&root, format!("d{d}/f{k:02}"), &body);
            if k % 5 == 0 {
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        symlink("f00", root.join(format!("d{d}/link"))).unwrap();
    }
    let mut enc = strip_nd::nar::Encoder::new(Vec::new());
    enc.magic();
    plain_nar(&root, &mut enc);
    let want: [u8; 32] = Sha256::digest(&enc.sink).into();
    for _ in 0..5 {
        for jobs in [1, 2, 3, 4, 16] {
            assert_eq!(
                strip_nd::nar::hash_with(&root, jobs).unwrap(),
                want,
                "{jobs} jobs"
            );
        }
    }
}
