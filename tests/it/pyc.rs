//! The pyc handler against its real consumer, `CPython`: the corpus (made by
//! `compileall` at two clocks, and a pair differing only in `FLAG_REF` bits)
//! converges; normalized code objects equal the originals, run the same and
//! disassemble the same; and after a strip-nd run, `import` uses the cached pyc
//! without recompiling (the pyc is neither rewritten nor touched).
//!
//! The corpus was made by `CPython` 3.11 (magic 3495), and its `py3N-*` cases
//! by the other releases' interpreters (3.6 to 3.13, from pyenv; Debian 12 has
//! none of them). The tests that load the 3.11 cases need a `python3` of that
//! version (Debian 12's, or pyenv's), and say so when another one is found; the
//! other cases are checked against their own interpreters by
//! `corpus/pyc/check-releases.sh`, run by hand. The tree tests compile their
//! own pycs with whatever `python3` there is.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strip_nd::handlers::pyc::source_of;

use crate::corpus::{converge, pairs};
use crate::util::{self, EPOCH, corpus, mtime, need, normalize, run, stderr, tool};

/// Runs `python3 -c script args...` and returns stdout; panics on failure.
fn py<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fails with a clear message unless `python3` reads `CPython` 3.11 pycs.
fn need_python311() {
    need("python3", "python3");
    let magic = py(
        "import importlib.util as u; print(int.from_bytes(u.MAGIC_NUMBER[:2], 'little'))",
        [""; 0],
    );
    assert_eq!(
        magic.trim(),
        "3495",
        "the pyc corpus is CPython 3.11's (magic 3495); this python3 has magic {}",
        magic.trim()
    );
}

/// Prints, for each pyc given, what a consumer sees: the module's output when
/// run as `__main__`, and `dis` of its code object (addresses removed).
const VIEW: &str = r#"
import contextlib, dis, io, marshal, re, sys
for path in sys.argv[1:]:
    code = marshal.loads(open(path, "rb").read()[16:])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(code, {"__name__": "__main__"})
        except SystemExit:
            pass
        dis.dis(code)
    print(re.sub(r" at 0x[0-9a-f]+", "", out.getvalue()))
"#;

/// Prints whether the code objects in two pycs are equal (`code.__eq__`
/// compares every field, constants included, recursively).
const SAME_CODE: &str = r#"
import marshal, sys
a, b = (marshal.loads(open(p, "rb").read()[16:]) for p in sys.argv[1:3])
print(a == b)
"#;

#[test]
fn pyc_pairs_converge_to_the_expected_bytes() {
    let done = converge("pyc");
    let differing = done
        .iter()
        .filter(|(p, _)| fs::read(&p.one).unwrap() != fs::read(&p.two).unwrap())
        .count();
    assert!(
        differing >= 4,
        "only {differing} pairs differ before normalization"
    );
    // The FLAG_REF pair really differs in FLAG_REF bits (and the indices
    // they shift), with the same header and length.
    let flag = pairs("pyc")
        .into_iter()
        .find(|p| p.case == "flagref")
        .unwrap();
    let (a, b) = (fs::read(&flag.one).unwrap(), fs::read(&flag.two).unwrap());
    assert_eq!(a.len(), b.len());
    assert_eq!(a[..16], b[..16]);
    let flips = a.iter().zip(&b).filter(|(x, y)| *x ^ *y == 0x80).count();
    assert!(flips >= 2, "{flips} FLAG_REF flips");
}

#[test]
#[ignore = "needs python3"]
fn pyc_outputs_load_run_and_disassemble_like_the_originals() {
    need_python311();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (p, out) in converge("pyc") {
        if out[..2] != 3495u16.to_le_bytes() {
            continue; // another release's case: check-releases.sh
        }
        checked += 1;
        let norm = tmp.path().join(format!("{}.pyc", p.case));
        fs::write(&norm, &out).unwrap();
        for orig in [&p.one, &p.two] {
            let same = py(SAME_CODE, [orig.as_os_str(), norm.as_os_str()]);
            assert_eq!(same.trim(), "True", "{}: code objects differ", p.case);
            let before = py(VIEW, [orig]);
            let after = py(VIEW, [&norm]);
            assert!(
                before.contains("hello"),
                "{}: the module did not run",
                p.case
            );
            assert_eq!(before, after, "{}: behaviour or dis output changed", p.case);
        }
    }
    assert_eq!(checked, 5, "the 3.11 cases");
}

#[test]
#[ignore = "needs python3"]
fn stdlib_modules_compiled_by_python_load_identically_after_normalizing() {
    need("python3", "python3");
    let tmp = tempfile::tempdir().unwrap();
    // A copy of some stdlib modules, compiled by this python3 in -O and -OO too.
    let copied = py(
        r#"
import os, shutil, sys, sysconfig
lib = sysconfig.get_paths()["stdlib"]
dst = sys.argv[1]
for name in ["argparse", "dataclasses", "json/decoder", "json/encoder", "textwrap",
             "string", "fractions", "enum", "typing", "pathlib", "difflib", "csv"]:
    shutil.copy(os.path.join(lib, name + ".py"), os.path.join(dst, name.replace("/", "_") + ".py"))
print("ok")
"#,
        [tmp.path()],
    );
    assert_eq!(copied.trim(), "ok");
    for opt in ["0", "1", "2"] {
        tool(
            "python3",
            [
                OsStr::new("-m"),
                OsStr::new("compileall"),
                OsStr::new("-q"),
                OsStr::new("-o"),
                OsStr::new(opt),
                tmp.path().as_os_str(),
            ],
        );
    }
    let cache = tmp.path().join("__pycache__");
    let mut checked = 0;
    for e in fs::read_dir(&cache).unwrap() {
        let path = e.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let out = normalize(&bytes, &name).unwrap();
        assert_eq!(out.len(), bytes.len());
        let norm = tmp.path().join(format!("{name}.norm"));
        fs::write(&norm, &out).unwrap();
        let same = py(SAME_CODE, [path.as_os_str(), norm.as_os_str()]);
        assert_eq!(same.trim(), "True", "{name}: code objects differ");
        checked += 1;
    }
    assert_eq!(checked, 36);
}

#[test]
#[ignore = "needs python3"]
fn companion_paths_agree_with_importlib() {
    need("python3", "python3");
    let names = [
        "/a/__pycache__/m.cpython-311.pyc",
        "/a/__pycache__/m.cpython-311.opt-1.pyc",
        "/a/__pycache__/m.cpython-38.opt-2.pyc",
        "/a/b/__pycache__/__init__.cpython-314.pyc",
        "/a/__pycache__/m.pyc",
        "/a/__pycache__/m.cpython-311.x.pyc",
        "/a/__pycache__/m.a.b.c.pyc",
    ];
    let answers = py(
        r#"
import importlib.util, sys
for p in sys.argv[1:]:
    try:
        print(importlib.util.source_from_cache(p))
    except ValueError:
        print("-")
"#,
        names,
    );
    for (name, want) in names.iter().zip(answers.lines()) {
        let got = source_of(Path::new(name)).map(|p| p.display().to_string());
        let want = (want != "-").then(|| want.to_string());
        assert_eq!(got, want, "{name}");
    }
}

/// A package tree with `pkg/mod.py` compiled by `python3 -m compileall` while
/// the source has a build-time mtime (after the epoch), as a build leaves it.
fn built_tree(options: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    fs::create_dir(&pkg).unwrap();
    let src = pkg.join("mod.py");
    fs::write(&src, "VALUE = 'imported from the cache'\nprint(VALUE)\n").unwrap();
    tool(
        "touch",
        [
            OsStr::new("-d"),
            OsStr::new("2026-03-04 05:06:07"),
            src.as_os_str(),
        ],
    );
    let mut args = vec!["-m", "compileall", "-q"];
    args.extend_from_slice(options);
    let mut cmd: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    cmd.push(pkg.as_os_str());
    tool("python3", cmd);
    let pyc = pkg.join("__pycache__").join(
        fs::read_dir(pkg.join("__pycache__"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name(),
    );
    (tmp, src, pyc)
}

/// Imports `mod` from `dir` with bytecode writing on, and returns whether the
/// pyc came through untouched (same bytes, same mtime).
fn import_keeps_pyc(dir: &Path, pyc: &Path) -> bool {
    import_keeps_pyc_with(&[], dir, pyc)
}

/// [`import_keeps_pyc`] with extra interpreter options (`-O` reads `.opt-1.pyc`).
fn import_keeps_pyc_with(options: &[&str], dir: &Path, pyc: &Path) -> bool {
    let bytes = fs::read(pyc).unwrap();
    let when = fs::metadata(pyc).unwrap().modified().unwrap();
    // Let a recompilation show as a new mtime even on coarse clocks.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = Command::new("python3")
        .args(options)
        .arg("-c")
        .arg("import sys; sys.dont_write_bytecode = False; sys.path.insert(0, sys.argv[1]); import mod")
        .arg(dir)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imported from the cache"
    );
    fs::read(pyc).unwrap() == bytes && fs::metadata(pyc).unwrap().modified().unwrap() == when
}

#[test]
#[ignore = "needs python3"]
fn after_a_run_import_uses_the_pyc_without_recompiling() {
    need("python3", "python3");
    for opts in [&[][..], &["-o", "1"][..]] {
        let (tmp, src, pyc) = built_tree(opts);
        let out = run([tmp.path().as_os_str()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(mtime(&src), EPOCH, "the source's mtime is clamped");
        let header = fs::read(&pyc).unwrap();
        assert_eq!(
            u32::from_le_bytes(header[8..12].try_into().unwrap()),
            EPOCH as u32,
            "{}: the pyc records the source's final mtime",
            pyc.display()
        );
        let pkg = src.parent().unwrap();
        let python_opts: &[&str] = if opts.is_empty() { &[] } else { &["-O"] };
        assert!(
            import_keeps_pyc_with(python_opts, pkg, &pyc),
            "{} was recompiled",
            pyc.display()
        );
    }
}

#[test]
#[ignore = "needs python3"]
fn without_the_pyc_handler_python_finds_the_pyc_stale() {
    // The control for the test above: the oracle can fail.
    need("python3", "python3");
    let (tmp, src, pyc) = built_tree(&[]);
    let out = run([OsStr::new("--handlers=-pyc"), tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!import_keeps_pyc(src.parent().unwrap(), &pyc));
}

#[test]
#[ignore = "needs python3"]
fn final_mtime_is_recorded_and_matches_what_nix_sets() {
    need("python3", "python3");
    let (tmp, src, pyc) = built_tree(&[]);
    let out = run([
        OsStr::new("--final-mtime"),
        OsStr::new("1"),
        tmp.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = fs::read(&pyc).unwrap();
    assert_eq!(u32::from_le_bytes(header[8..12].try_into().unwrap()), 1);
    // What Nix does when it registers the output: every mtime becomes 1.
    for p in [&src, &pyc] {
        tool("touch", [OsStr::new("-d"), OsStr::new("@1"), p.as_os_str()]);
    }
    assert!(import_keeps_pyc(src.parent().unwrap(), &pyc));
}

#[test]
#[ignore = "needs python3"]
fn with_no_mtimes_the_pyc_records_the_raw_source_mtime() {
    need("python3", "python3");
    let (tmp, src, pyc) = built_tree(&[]);
    // Make the header disagree so there is something to fix.
    let mut bytes = fs::read(&pyc).unwrap();
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    fs::write(&pyc, &bytes).unwrap();
    let out = run([OsStr::new("--no-mtimes"), tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let raw = mtime(&src);
    assert!(raw > EPOCH, "--no-mtimes keeps the source's mtime");
    let header = fs::read(&pyc).unwrap();
    assert_eq!(
        u64::from(u32::from_le_bytes(header[8..12].try_into().unwrap())),
        raw
    );
    assert!(import_keeps_pyc(src.parent().unwrap(), &pyc));
}

#[test]
fn a_pyc_without_its_source_gets_the_clamped_time() {
    let tmp = tempfile::tempdir().unwrap();
    let src = corpus("pyc").join("plain.1.pyc");
    let dst = tmp.path().join("__pycache__").join("gone.cpython-311.pyc");
    fs::create_dir(dst.parent().unwrap()).unwrap();
    fs::copy(&src, &dst).unwrap();
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let header = fs::read(&dst).unwrap();
    assert_eq!(
        u64::from(u32::from_le_bytes(header[8..12].try_into().unwrap())),
        EPOCH
    );
}

#[test]
fn a_source_older_than_the_epoch_is_recorded_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("old.pyc");
    fs::copy(corpus("pyc").join("legacy.1.pyc"), &dst).unwrap();
    let src = tmp.path().join("old.py");
    fs::write(&src, "x = 1\n").unwrap();
    tool(
        "touch",
        [OsStr::new("-d"), OsStr::new("@1000"), src.as_os_str()],
    );
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mtime(&src), 1000);
    let header = fs::read(&dst).unwrap();
    assert_eq!(u32::from_le_bytes(header[8..12].try_into().unwrap()), 1000);
}

#[test]
fn pyc_malformed_files_are_reported_and_left_untouched() {
    let tmp = util::left_untouched("pyc", "malformed", 3, &[], &["pyc", "warning"]);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
}

#[test]
fn pyc_pairs_of_every_release_converge_with_their_own_headers() {
    // The py3N cases: 12-byte headers for 3.6, 16 from 3.7; the FLAG_REF pair
    // of each release really differs in FLAG_REF bits.
    let done = converge("pyc");
    let mut releases = Vec::new();
    for (p, out) in &done {
        let Some(tag) = p.case.strip_prefix("py") else {
            continue;
        };
        let (release, kind) = tag.split_once('-').unwrap();
        let magic = u16::from_le_bytes([out[0], out[1]]);
        let header = if release == "36" { 12 } else { 16 };
        let mtime = u32::from_le_bytes(out[header - 8..header - 4].try_into().unwrap());
        if kind == "plain" {
            assert_eq!(u64::from(mtime), EPOCH, "{}: source mtime clamped", p.case);
        }
        let (a, b) = (fs::read(&p.one).unwrap(), fs::read(&p.two).unwrap());
        assert_ne!(a, b, "{}", p.case);
        if kind == "flagref" {
            let flips = a.iter().zip(&b).filter(|(x, y)| *x ^ *y == 0x80).count();
            assert!(flips >= 2, "{}: {flips} FLAG_REF flips", p.case);
        }
        releases.push((release.to_string(), magic));
    }
    releases.sort();
    releases.dedup();
    assert_eq!(
        releases,
        [
            ("310", 3439),
            ("312", 3531),
            ("313", 3571),
            ("36", 3379),
            ("37", 3394),
            ("38", 3413),
            ("39", 3425)
        ]
        .map(|(r, m)| (r.to_string(), m))
    );
}

#[test]
fn pycs_with_unsupported_magics_are_reported_as_skipped_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = fs::read(corpus("pyc").join("plain.1.pyc")).unwrap();
    let relabel = |magic: u16| {
        let mut b = plain.clone();
        b[..2].copy_from_slice(&magic.to_le_bytes());
        b
    };
    // A 3.11 alpha and a 3.15 cache (16-byte headers), a 3.5 one (12 bytes),
    // and a Python 2.7 one (8 bytes), under names that say nothing.
    let mut py35 = 3351u16.to_le_bytes().to_vec();
    py35.extend_from_slice(b"\r\n");
    py35.extend_from_slice(&plain[8..]);
    let mut py27 = vec![0x03, 0xf3, b'\r', b'\n'];
    py27.extend_from_slice(&plain[8..12]);
    py27.extend_from_slice(&plain[16..]);
    let files = [
        (
            "alpha.bin",
            relabel(3450),
            "pyc magic number 3450 (CPython 3.11 alpha",
        ),
        (
            "future.bin",
            relabel(3650),
            "pyc magic number 3650 (a CPython release after 3.14",
        ),
        ("old.bin", py35, "pyc magic number 3351 (CPython 3.0 to 3.5"),
        ("py2.bin", py27, "pyc magic number 62211 (Python 1 or 2"),
    ];
    for (name, bytes, _) in &files {
        fs::write(tmp.path().join(name), bytes).unwrap();
    }
    // A supported pre-release next to them is normalized.
    fs::write(tmp.path().join("pre.bin"), relabel(3509)).unwrap();
    let out = crate::util::bin()
        .args(["--json", "-v"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), files.len(), "{v:#}");
    for (name, bytes, why) in &files {
        assert_eq!(
            &fs::read(tmp.path().join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
        let note = skipped
            .iter()
            .find(|n| n["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not skipped: {v:#}"));
        assert_eq!(note["handler"], "pyc", "{name}");
        let reason = note["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{name}: {reason}");
    }
    assert_eq!(v["per_handler"]["pyc"]["skipped"], 4, "{v:#}");
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with("pre.bin")),
        "the 3.12a1 pyc was not normalized: {v:#}"
    );
    // Without --json the summary counts and names them.
    let out = run([tmp.path().as_os_str()]);
    let err = stderr(&out);
    assert!(err.contains("0 malformed, 4 skipped"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("skipped 1:")
                && l.contains("pyc magic number 3450 (CPython 3.11 alpha")),
        "{err}"
    );
}

/// Every release's corpus pair, its pre-release magics and its own stdlib
/// caches, checked by that release's own interpreter (pyenv's 3.6 to 3.13 on
/// this kind of machine; CI's too): equal code objects, same run and `dis`,
/// and an import that takes the normalized pyc without recompiling it.
#[test]
#[ignore = "needs pyenv's CPython 3.6, 3.7, 3.8, 3.9, 3.10, 3.12 and 3.13"]
fn every_release_loads_its_normalized_pycs_with_its_own_interpreter() {
    let o = Command::new("bash")
        .arg(corpus("pyc").join("check-releases.sh"))
        .arg(env!("CARGO_BIN_EXE_strip-nd"))
        .output()
        .expect("run corpus/pyc/check-releases.sh");
    assert!(
        o.status.success(),
        "check-releases.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("checked "), "{out}");
    assert_eq!(
        out.matches("imports the normalized pyc without recompiling")
            .count(),
        7,
        "{out}"
    );
}

/// Loads pycs the way `importlib`'s sourceless loader does (magic, flags,
/// then `marshal.loads` of the rest, which must give a code object). Reads
/// `input output` pairs from a file (output `-` when strip-nd left the input
/// alone) and prints, for each, whether the input loads, whether the output
/// loads, and whether both give equal code objects.
const LOADER: &str = r"
import importlib.util, marshal, sys, types
hdr = 16 if sys.version_info >= (3, 7) else 12
def load(path):
    data = open(path, 'rb').read()
    try:
        if data[:4] != importlib.util.MAGIC_NUMBER or len(data) < hdr:
            raise ImportError('bad magic or header')
        if hdr == 16 and int.from_bytes(data[4:8], 'little') & ~3:
            raise ImportError('invalid flags')
        code = marshal.loads(memoryview(data)[hdr:])
        if not isinstance(code, types.CodeType):
            raise ImportError('not a code object')
        return code
    except Exception as e:
        return e
for line in open(sys.argv[1]):
    a, b = line.split()
    x = load(a)
    ok = not isinstance(x, Exception)
    why = '' if ok else (type(x).__name__ + ':' + str(x)).replace(' ', '_')
    if b == '-':
        print(a, ok, '-', '-', why)
    else:
        y = load(b)
        oky = not isinstance(y, Exception)
        print(a, ok, oky, ok and oky and x == y, why)
";

/// A small deterministic generator (xorshift64), so the campaign is the
/// same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// 14 mutants of a pyc, all behind its 16-byte header: 3 truncations, 5
/// bytes set to 0, 0xff or +-1, 6 bit flips.
fn pyc_mutants(d: &[u8], rng: &mut Xorshift) -> Vec<Vec<u8>> {
    let mut mutants = Vec::new();
    for _ in 0..3 {
        mutants.push(d[..16 + rng.below(d.len() - 16)].to_vec());
    }
    for _ in 0..5 {
        let mut m = d.to_vec();
        let at = 16 + rng.below(d.len() - 16);
        m[at] = [0, 0xff, d[at].wrapping_add(1), d[at].wrapping_sub(1)][rng.below(4)];
        mutants.push(m);
    }
    for _ in 0..6 {
        let mut m = d.to_vec();
        let at = 16 + rng.below(d.len() - 16);
        m[at] ^= 1 << rng.below(8);
        mutants.push(m);
    }
    mutants
}

/// pyenv's interpreters by the magic number of their pycs.
fn pyenv_interpreters() -> Vec<(u16, PathBuf)> {
    let root = std::env::var_os("PYENV_ROOT").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".pyenv"),
        PathBuf::from,
    );
    let mut found = Vec::new();
    let versions = root.join("versions");
    let dir = fs::read_dir(&versions).unwrap_or_else(|e| {
        panic!(
            "this test needs pyenv's CPython 3.6 to 3.13 under {}: {e}",
            versions.display()
        )
    });
    for e in dir {
        let python = e.unwrap().path().join("bin/python");
        let Ok(out) = Command::new(&python)
            .args([
                "-c",
                "import importlib.util as u; print(int.from_bytes(u.MAGIC_NUMBER[:2], 'little'))",
            ])
            .output()
        else {
            continue;
        };
        if let Ok(m) = String::from_utf8_lossy(&out.stdout).trim().parse() {
            found.push((m, python));
        }
    }
    found
}

/// Mutates every corpus pyc (truncations, bytes set to 0, 0xff or +-1, bit
/// flips; a fixed seed), loads each mutant with the interpreter of its
/// release, and checks that strip-nd rewrites none that `CPython` refuses
/// (they are malformed, left untouched), and that each rewrite loads to a
/// code object equal to the mutant's.
#[test]
#[ignore = "needs pyenv's CPython 3.6 to 3.13"]
fn mutated_pycs_cpython_refuses_are_malformed_and_rewrites_load_equal() {
    use std::fmt::Write as _;

    use strip_nd::config::Config;
    use strip_nd::error::FormatError;
    use strip_nd::handlers::Outcome;

    let interpreters = pyenv_interpreters();
    let tmp = tempfile::tempdir().unwrap();
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new("m.pyc"));
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<PathBuf> = fs::read_dir(corpus("pyc"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pyc"))
        .collect();
    files.sort();
    // By magic, the "input output" lines for its interpreter; by input
    // path, what strip-nd did.
    let mut jobs: std::collections::BTreeMap<u16, String> = std::collections::BTreeMap::new();
    let mut outcomes = std::collections::BTreeMap::new();
    let mut n = 0;
    for file in &files {
        let d = fs::read(file).unwrap();
        let lines = jobs.entry(u16::from_le_bytes([d[0], d[1]])).or_default();
        for m in pyc_mutants(&d, &mut rng) {
            n += 1;
            let input = tmp.path().join(format!("{n}.in.pyc"));
            fs::write(&input, &m).unwrap();
            let outcome = match strip_nd::dispatch::dispatch(&m, &ctx) {
                Some(("pyc", Ok(Outcome::Rewritten { bytes, .. }))) => {
                    let output = tmp.path().join(format!("{n}.out.pyc"));
                    fs::write(&output, bytes).unwrap();
                    writeln!(lines, "{} {}", input.display(), output.display()).unwrap();
                    "rewritten"
                }
                other => {
                    writeln!(lines, "{} -", input.display()).unwrap();
                    match other {
                        Some(("pyc", Ok(Outcome::Unchanged))) => "unchanged",
                        Some(("pyc", Err(FormatError::Malformed(_)))) => "malformed",
                        _ => "other",
                    }
                }
            };
            outcomes.insert(input.display().to_string(), outcome);
        }
    }
    let (mut refused, mut failures) = (0, Vec::new());
    let mut counts = std::collections::BTreeMap::new();
    for (magic, lines) in &jobs {
        let python = &interpreters
            .iter()
            .find(|i| i.0 == *magic)
            .unwrap_or_else(|| panic!("no pyenv interpreter writes magic {magic}"))
            .1;
        let list = tmp.path().join(format!("{magic}.list"));
        fs::write(&list, lines).unwrap();
        let out = Command::new(python)
            .arg("-c")
            .arg(LOADER)
            .arg(&list)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let outcome = outcomes[f[0]];
            *counts.entry(outcome).or_insert(0) += 1;
            if f[1] == "False" {
                refused += 1;
                if outcome != "malformed" {
                    failures.push(format!(
                        "{magic} {}: CPython refuses it ({}), strip-nd: {outcome}",
                        f[0], f[4]
                    ));
                }
            } else if outcome == "rewritten" && f[3] != "True" {
                failures.push(format!(
                    "{magic} {}: the rewrite loads {} / equal {}",
                    f[0], f[2], f[3]
                ));
            }
        }
    }
    eprintln!("{n} mutants, CPython refuses {refused}; strip-nd: {counts:?}");
    assert!(
        n >= 500 && refused >= 100,
        "a weak campaign: {n} mutants, {refused} refused"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
