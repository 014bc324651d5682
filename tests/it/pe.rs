//! PE images and COFF objects (`corpus/pe`, `corpus/coff`), checked with their
//! real consumers: binutils' `objdump -p`, Python's pefile, LLVM's
//! `llvm-readobj`, GNU ld (linking against normalized import-library
//! members), wine (running the images), and ld's own reproducible mode (a
//! clock build, normalized, must equal a `SOURCE_DATE_EPOCH` build).

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strip_nd::config::Config;
use strip_nd::handlers::Outcome;

use crate::corpus::{converge, pairs};
use crate::util::{EPOCH, corpus, need, normalize, put, run, stderr, tool};

const OBJDUMP: &str = "x86_64-w64-mingw32-objdump";
const AR: &str = "x86_64-w64-mingw32-ar";
const GCC: &str = "x86_64-w64-mingw32-gcc";
const WINDRES: &str = "x86_64-w64-mingw32-windres";
const BINUTILS: &str = "binutils-mingw-w64-x86-64";
const GCC_PACKAGE: &str = "gcc-mingw-w64-x86-64";

/// A DLL's users: calls both exports, so the loader must resolve them.
const USE_FOO: &str = r#"#include <stdio.h>
__declspec(dllimport) int foo_add(int, int);
__declspec(dllimport) const char *foo_name(void);
int main(void) { printf("foo_add(2, 3) = %d, name %s\n", foo_add(2, 3), foo_name()); return 0; }
"#;

fn differing_pairs(format: &str) -> usize {
    pairs(format)
        .iter()
        .filter(|p| fs::read(&p.one).unwrap() != fs::read(&p.two).unwrap())
        .count()
}

#[test]
fn pe_corpus_pairs_converge_to_the_expected_bytes() {
    let done = converge("pe");
    assert_eq!(done.len(), 4);
    assert_eq!(differing_pairs("pe"), 4, "every PE pair differs before");
}

#[test]
fn coff_corpus_pairs_converge_to_the_expected_bytes() {
    let done = converge("coff");
    assert_eq!(done.len(), 6);
    // Only llvm-cvtres stamps its objects; gcc's are equal and must stay so.
    assert_eq!(differing_pairs("coff"), 3);
    for (p, out) in done {
        if p.case.starts_with("res-") {
            assert_ne!(out, fs::read(&p.one).unwrap(), "{}: not normalized", p.case);
        } else {
            assert_eq!(out, fs::read(&p.one).unwrap(), "{}: changed", p.case);
        }
    }
}

#[test]
fn pe_and_coff_corpus_through_the_binary_matches_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for format in ["pe", "coff"] {
        for p in pairs(format) {
            for src in [&p.one, &p.two] {
                let dst = tmp.path().join(src.file_name().unwrap());
                fs::copy(src, &dst).unwrap();
                let name = dst.file_name().unwrap().to_str().unwrap();
                expected.push((
                    dst.clone(),
                    normalize(&fs::read(src).unwrap(), name).unwrap(),
                ));
            }
        }
    }
    let out = run([tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("coff 6, pe 8"), "{err}");
    for (path, want) in expected {
        assert!(fs::read(&path).unwrap() == want, "{}", path.display());
    }
}

#[test]
fn pe_signed_image_is_reported_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let src = corpus("pe").join("signed").join("hello.exe");
    let dst = tmp.path().join("hello.exe");
    fs::copy(&src, &dst).unwrap();
    for strict in [false, true] {
        let mut args = vec![dst.as_os_str()];
        if strict {
            args.insert(0, OsStr::new("--strict"));
        }
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("signed PE image: changing a timestamp breaks the signature"),
            "{}",
            stderr(&out)
        );
        assert!(fs::read(&dst).unwrap() == fs::read(&src).unwrap());
    }
}

#[test]
fn pe_and_coff_malformed_files_are_reported_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    for (format, handler) in [("pe", "pe"), ("coff", "coff")] {
        for e in fs::read_dir(corpus(format).join("malformed")).unwrap() {
            let e = e.unwrap();
            let dst = tmp
                .path()
                .join(format!("{format}-{}", e.file_name().to_str().unwrap()));
            fs::copy(e.path(), &dst).unwrap();
            originals.push((dst, handler, fs::read(e.path()).unwrap()));
        }
    }
    assert!(originals.len() >= 7);
    let out = run([tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for (path, handler, bytes) in &originals {
        assert!(
            &fs::read(path).unwrap() == bytes,
            "{} was modified",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            err.lines().any(|l| l.contains(name)
                && l.contains(&format!("{handler} handler"))
                && l.contains("warning")),
            "no warning naming {name} and the {handler} handler:\n{err}"
        );
    }
    let strict = run([OsStr::new("--strict"), tmp.path().as_os_str()]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

/// An ar archive of `(name, data)` members in the GNU layout, dates 0.
fn ar_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            format!("{name}/"),
            0,
            0,
            0,
            644,
            data.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// The members of an archive [`ar_archive`] wrote (short names only).
fn ar_members(archive: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 8;
    while at < archive.len() {
        let size: usize = std::str::from_utf8(&archive[at + 48..at + 58])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        out.push(archive[at + 60..at + 60 + size].to_vec());
        at += 60 + size + size % 2;
    }
    out
}

/// A short import object for `foo_add` in `foo.dll`, stamped `stamp`.
fn import_object(stamp: u32) -> Vec<u8> {
    let names = b"foo_add\0foo.dll\0";
    let mut o = vec![0, 0, 0xff, 0xff, 0, 0, 0x64, 0x86];
    o.extend_from_slice(&stamp.to_le_bytes());
    o.extend_from_slice(&(names.len() as u32).to_le_bytes());
    o.extend_from_slice(&[0, 0, 0x04, 0]);
    o.extend_from_slice(names);
    o
}

#[test]
fn coff_members_of_an_archive_are_normalized_through_the_ar_handler() {
    let res1 = fs::read(corpus("coff").join("res-x64.1.obj")).unwrap();
    let res2 = fs::read(corpus("coff").join("res-x64.2.obj")).unwrap();
    let expected = fs::read(corpus("coff").join("expected").join("res-x64.obj")).unwrap();
    let one = ar_archive(&[
        ("res.obj", &res1),
        ("foo.dll", &import_object(1_772_600_767)),
    ]);
    let two = ar_archive(&[("res.obj", &res2), ("foo.dll", &import_object(u32::MAX))]);
    let a = normalize(&one, "libfoo.a").unwrap();
    let b = normalize(&two, "libfoo.a").unwrap();
    assert!(a == b, "the two archives do not converge");
    let members = ar_members(&a);
    assert_eq!(
        members[0], expected,
        "the object member is not what coff makes of it"
    );
    assert_eq!(members[1], import_object(EPOCH as u32));
}

/// `objdump -p`, with what normalizing may change masked: the timestamps,
/// the checksum and the `CodeView` signature. Everything else (headers, data
/// directories, import, export and resource tables, unwind data) must match.
fn objdump_masked(path: &Path) -> String {
    let out = Command::new(OBJDUMP)
        .arg("-p")
        .arg(path)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "objdump -p {}: {}",
        path.display(),
        stderr(&out)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut masked = String::new();
    for line in text.lines() {
        if line.contains("file format")
            || line.starts_with("Time/Date")
            || line.starts_with("CheckSum")
            || line.contains("(format RSDS signature")
        {
            continue;
        }
        let line = match line.find("Time: ") {
            Some(i) => format!("{}Time: ********{}", &line[..i], &line[i + 14..]),
            None => line.to_string(),
        };
        masked.push_str(&line);
        masked.push('\n');
    }
    masked
}

#[test]
#[ignore = "needs x86_64-w64-mingw32-objdump"]
fn pe_outputs_parse_with_objdump_and_keep_their_tables() {
    need(OBJDUMP, BINUTILS);
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("pe") {
        let path = put(tmp.path(), p.one.file_name().unwrap(), &out);
        let text = tool(
            "env",
            [
                OsStr::new("TZ=UTC"),
                OsStr::new(OBJDUMP),
                OsStr::new("-p"),
                path.as_os_str(),
            ],
        );
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("Time/Date\t\tTue Jan  1 00:00:00 1980"),
            "{}: COFF timestamp not at the epoch:\n{text}",
            p.case
        );
        if p.case == "foo" {
            assert!(
                text.contains("Time/Date stamp \t\t12cea600"),
                "export timestamp:\n{text}"
            );
            assert!(text.contains("[   0] foo_add") && text.contains("[   1] foo_name"));
            assert!(text.contains("The .rsrc Resource Directory section"));
        }
        if p.case != "nosum" {
            assert!(text.contains("(format RSDS signature") && text.contains(" age 1 "));
        }
        assert_eq!(
            objdump_masked(&path),
            objdump_masked(&p.one),
            "{}: objdump -p differs beyond timestamps, checksum and GUID",
            p.case
        );
    }
}

/// What pefile sees in an image, as JSON.
const PEFILE_SCRIPT: &str = r#"
import json, sys
import pefile
for path in sys.argv[1:]:
    pe = pefile.PE(path)
    stamps = [pe.FILE_HEADER.TimeDateStamp]
    exports, resources, ages = [], [], []
    if hasattr(pe, "DIRECTORY_ENTRY_EXPORT"):
        stamps.append(pe.DIRECTORY_ENTRY_EXPORT.struct.TimeDateStamp)
        exports = [[e.ordinal, e.address, (e.name or b"").decode()]
                   for e in pe.DIRECTORY_ENTRY_EXPORT.symbols]
    def walk(d, key):
        stamps.append(d.struct.TimeDateStamp)
        for e in d.entries:
            k = key + [e.id if e.name is None else str(e.name)]
            if hasattr(e, "directory"):
                walk(e.directory, k)
            else:
                s = e.data.struct
                resources.append([k, s.OffsetToData, s.Size, s.CodePage,
                                  pe.get_data(s.OffsetToData, s.Size).hex()])
    if hasattr(pe, "DIRECTORY_ENTRY_RESOURCE"):
        walk(pe.DIRECTORY_ENTRY_RESOURCE, [])
    for d in getattr(pe, "DIRECTORY_ENTRY_DEBUG", []):
        stamps.append(d.struct.TimeDateStamp)
        if d.struct.Type == 2 and d.entry is not None and hasattr(d.entry, "Age"):
            ages.append(d.entry.Age)
    print(json.dumps({"checksum": pe.OPTIONAL_HEADER.CheckSum,
                      "checksum_ok": pe.verify_checksum(), "stamps": stamps,
                      "exports": exports, "resources": resources, "ages": ages}))
"#;

fn pefile(paths: &[PathBuf]) -> Vec<serde_json::Value> {
    need("python3", "python3");
    let probe = Command::new("python3")
        .args(["-c", "import pefile"])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "this test needs Python's pefile: apt-get install -y python3-pefile (or pip install pefile)"
    );
    let mut cmd = vec![OsStr::new("-c"), OsStr::new(PEFILE_SCRIPT)];
    cmd.extend(paths.iter().map(|p| p.as_os_str()));
    String::from_utf8(tool("python3", cmd))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs python3 and pefile"]
fn pe_checksums_resources_and_exports_verify_with_pefile() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for (p, out) in converge("pe") {
        outputs.push(put(tmp.path(), p.one.file_name().unwrap(), &out));
        inputs.push(p.one);
    }
    let before = pefile(&inputs);
    let after = pefile(&outputs);
    let mut resources = 0;
    for ((a, b), path) in before.iter().zip(&after).zip(&inputs) {
        let name = path.display();
        if a["checksum"] == 0 {
            assert_eq!(b["checksum"], 0, "{name}: a zero checksum must stay zero");
        } else {
            assert_eq!(
                b["checksum_ok"], true,
                "{name}: pefile rejects the new checksum"
            );
        }
        assert_eq!(a["exports"], b["exports"], "{name}: exports changed");
        assert_eq!(a["resources"], b["resources"], "{name}: resources changed");
        resources += b["resources"].as_array().unwrap().len();
        let (sa, sb) = (
            a["stamps"].as_array().unwrap(),
            b["stamps"].as_array().unwrap(),
        );
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(sb) {
            let (x, y) = (x.as_u64().unwrap(), y.as_u64().unwrap());
            assert_eq!(
                y,
                x.min(EPOCH),
                "{name}: a timestamp pefile sees is not clamped"
            );
        }
        assert!(
            b["ages"].as_array().unwrap().iter().all(|a| a == 1),
            "{name}: CodeView age not 1"
        );
    }
    assert!(resources >= 1, "the corpus must hold a resource");
}

/// An image whose stored checksum no longer matches its bytes (pefile's
/// `verify_checksum` says so) was damaged or edited after linking: strip-nd
/// reports it malformed and leaves it untouched, where it used to write a
/// fresh checksum that hid the damage. The intact originals are rewritten.
#[test]
#[ignore = "needs python3 and pefile"]
fn pe_stored_checksum_mismatch_is_reported_malformed_not_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut damaged = Vec::new();
    let mut intact = Vec::new();
    for name in ["foo.1.dll", "hello.1.exe", "hello32.1.exe"] {
        let original = fs::read(corpus("pe").join(name)).unwrap();
        intact.push(put(tmp.path(), format!("intact-{name}"), &original));
        // A flipped byte in the last section's data, and a flipped bit of
        // the checksum field itself.
        let mut body = original.clone();
        let last = body.len() - 1;
        body[last] ^= 0x5a;
        damaged.push(put(tmp.path(), format!("body-{name}"), &body));
        // CheckSum: 64 bytes into the optional header, behind `PE\0\0` and
        // the 20-byte COFF header at e_lfanew.
        let lfanew = u32::from_le_bytes(original[0x3c..0x40].try_into().unwrap()) as usize;
        let at = lfanew + 4 + 20 + 64;
        let pe = goblin::pe::PE::parse(&original).unwrap();
        let sum = pe.header.optional_header.unwrap().windows_fields.check_sum;
        assert_ne!(sum, 0, "{name}: the corpus image has a checksum");
        assert_eq!(original[at..at + 4], sum.to_le_bytes());
        let mut field = original;
        field[at] ^= 1;
        damaged.push(put(tmp.path(), format!("field-{name}"), &field));
    }
    for (path, info) in intact.iter().zip(pefile(&intact)) {
        assert_eq!(info["checksum_ok"], true, "{}", path.display());
    }
    for (path, info) in damaged.iter().zip(pefile(&damaged)) {
        assert_eq!(
            info["checksum_ok"],
            false,
            "{}: pefile finds it intact",
            path.display()
        );
    }
    let before: Vec<Vec<u8>> = damaged.iter().map(|p| fs::read(p).unwrap()).collect();
    let out = run([OsStr::new("--json"), tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (path, bytes) in damaged.iter().zip(&before) {
        assert!(
            fs::read(path).unwrap() == *bytes,
            "{} was modified",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        let note = report["malformed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported malformed: {report:#}"));
        let reason = note["reason"].as_str().unwrap();
        assert!(
            reason.contains("stored checksum 0x") && reason.contains("does not match"),
            "{name}: {reason}"
        );
    }
    for path in &intact {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            report["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["path"].as_str().unwrap().ends_with(name)),
            "{name} was not rewritten"
        );
    }
    // With --strict the damage fails the run.
    let strict = run([OsStr::new("--strict"), tmp.path().as_os_str()]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

/// Runs a Windows program under wine in a private prefix and returns stdout.
/// The prefix is created once, up front, and wine's server is waited for: a
/// first run that has to create it races with its own setup under load.
fn wine(exe: &Path) -> Vec<u8> {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wineprefix");
    READY.get_or_init(|| {
        for (program, args) in [("wineboot", &["--init"][..]), ("wineserver", &["-w"][..])] {
            let status = Command::new(program)
                .args(args)
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                .env_remove("DISPLAY")
                .status()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(status.success(), "{program} {args:?} failed: {status}");
        }
    });
    let out = Command::new("wine")
        .arg(exe)
        .current_dir(exe.parent().unwrap())
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wine {}: {}",
        exe.display(),
        stderr(&out)
    );
    out.stdout
}

/// The members of an import library, each extracted with `ar xN` (names
/// repeat in llvm-dlltool's libraries), in archive order.
fn members(archive: &Path, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let names = String::from_utf8(tool(AR, [OsStr::new("t"), archive.as_os_str()])).unwrap();
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for name in names.lines() {
        let n = seen.entry(name.to_string()).or_insert(0);
        *n += 1;
        let sub = dir.join(format!("m{}", out.len()));
        fs::create_dir_all(&sub).unwrap();
        let status = Command::new(AR)
            .args([
                OsStr::new("xN"),
                OsStr::new(&n.to_string()),
                archive.as_os_str(),
                OsStr::new(name),
            ])
            .current_dir(&sub)
            .status()
            .unwrap();
        assert!(status.success(), "ar xN {n} {} {name}", archive.display());
        out.push((name.to_string(), fs::read(sub.join(name)).unwrap()));
    }
    out
}

/// Normalizes one member as the ar handler will: through dispatch, nested.
fn normalize_member(bytes: &[u8], name: &str) -> (Option<&'static str>, Vec<u8>) {
    let config = Config::with_epoch(EPOCH);
    let archive = config.context(Path::new("lib.a"));
    let member = Path::new(name);
    match strip_nd::dispatch::dispatch(bytes, &archive.nested(member)) {
        None => (None, bytes.to_vec()),
        Some((h, Ok(Outcome::Unchanged))) => (Some(h), bytes.to_vec()),
        Some((h, Ok(Outcome::Rewritten { bytes, .. }))) => (Some(h), bytes),
        Some((h, Err(e))) => panic!("{name}: {h}: {e}"),
    }
}

/// Normalizes every member of `archive` and writes them, in order, to a new
/// archive `out` (each member from its own directory, since names repeat).
/// The new archive is made with `llvm-ar`: GNU ar 2.40 writes an index of
/// short import objects that GNU ld then rejects ("file format not
/// recognized"), with the original members just as with normalized ones.
fn rebuild_normalized(archive: &Path, out: &Path, scratch: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    let mut normalized = Vec::new();
    for (i, (name, bytes)) in members(archive, &scratch.join("in"))
        .into_iter()
        .enumerate()
    {
        let (handler, new) = normalize_member(&bytes, &name);
        assert_eq!(
            handler,
            Some("coff"),
            "{}: member {name} not claimed",
            archive.display()
        );
        paths.push(put(&scratch.join(format!("out{i}")), &name, &new));
        normalized.push((name, new));
    }
    let mut args = vec![OsStr::new("qcsD"), out.as_os_str()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    tool("llvm-ar", args);
    normalized
}

#[test]
#[ignore = "needs x86_64-w64-mingw32-ar, llvm-readobj, llvm-ar and x86_64-w64-mingw32-gcc"]
fn coff_import_library_members_normalize_parse_and_link() {
    need(AR, BINUTILS);
    need("llvm-readobj", "llvm");
    need("llvm-ar", "llvm");
    need(GCC, GCC_PACKAGE);
    let tmp = tempfile::tempdir().unwrap();
    let src = put(tmp.path(), "use-foo.c", USE_FOO.as_bytes());
    for lib in ["libfoo", "libfoo-llvm"] {
        let ext = if lib == "libfoo" { "dll.a" } else { "a" };
        let dir = corpus("coff").join("archives");
        let mut sides = Vec::new();
        for n in [1, 2] {
            let archive = dir.join(format!("{lib}.{n}.{ext}"));
            let scratch = tmp.path().join(format!("{lib}-{n}"));
            let rebuilt = scratch.join(format!("lib{n}.a"));
            let normalized = rebuild_normalized(&archive, &rebuilt, &scratch);
            assert!(
                normalized.len() >= 4,
                "{}: too few members",
                archive.display()
            );
            for (i, (name, bytes)) in normalized.iter().enumerate() {
                let path = put(&scratch.join(format!("check{i}")), name, bytes);
                tool(
                    "llvm-readobj",
                    [OsStr::new("--file-headers"), path.as_os_str()],
                );
            }
            // GNU ld resolves the imports through the normalized members.
            let exe = scratch.join("use-foo.exe");
            tool(
                GCC,
                [
                    src.as_os_str(),
                    rebuilt.as_os_str(),
                    OsStr::new("-o"),
                    exe.as_os_str(),
                ],
            );
            // And through the whole archive, normalized by the ar handler,
            // which hands each member to coff.
            let whole = normalize(&fs::read(&archive).unwrap(), "libfoo.dll.a").unwrap();
            let whole = put(&scratch, format!("whole{n}.a"), &whole);
            let exe = scratch.join("use-foo-whole.exe");
            tool(
                GCC,
                [
                    src.as_os_str(),
                    whole.as_os_str(),
                    OsStr::new("-o"),
                    exe.as_os_str(),
                ],
            );
            sides.push(normalized);
        }
        assert!(
            sides[0] == sides[1],
            "{lib}: the two builds' members do not converge"
        );
    }
}

/// `llvm-readobj` of an object with the `TimeDateStamp` line and the file
/// name masked: headers, sections, symbols and resources must not move.
fn readobj_masked(path: &Path) -> (String, String) {
    let text = String::from_utf8(tool(
        "llvm-readobj",
        [
            OsStr::new("--file-headers"),
            OsStr::new("--sections"),
            OsStr::new("--symbols"),
            OsStr::new("--relocations"),
            OsStr::new("--coff-resources"),
            path.as_os_str(),
        ],
    ))
    .unwrap();
    let stamp = text
        .lines()
        .find(|l| l.trim_start().starts_with("TimeDateStamp:"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let masked = text
        .lines()
        .filter(|l| !l.starts_with("File:") && !l.trim_start().starts_with("TimeDateStamp:"))
        .collect::<Vec<_>>()
        .join("\n");
    (stamp, masked)
}

#[test]
#[ignore = "needs llvm-readobj and x86_64-w64-mingw32-gcc"]
fn coff_outputs_parse_with_llvm_readobj_and_link() {
    need("llvm-readobj", "llvm");
    need(GCC, GCC_PACKAGE);
    let tmp = tempfile::tempdir().unwrap();
    let mut outputs = std::collections::HashMap::new();
    for (p, out) in converge("coff") {
        let path = put(tmp.path(), p.one.file_name().unwrap(), &out);
        let (stamp, masked) = readobj_masked(&path);
        let (_, before) = readobj_masked(&p.one);
        assert!(
            stamp == "TimeDateStamp: 1980-01-01 00:00:00 (0x12CEA600)"
                || stamp == "TimeDateStamp: 1970-01-01 00:00:00 (0x0)",
            "{}: {stamp}",
            p.case
        );
        assert_eq!(
            masked, before,
            "{}: more than the timestamp changed",
            p.case
        );
        outputs.insert(p.case, path);
    }
    // The linker takes the normalized objects, resources and bigobj included.
    for objects in [["foo", "res-x64"], ["bigobj", "res-x64"]] {
        let dll = tmp.path().join(format!("{}.dll", objects[0]));
        let mut args = vec![OsStr::new("-shared"), OsStr::new("-o"), dll.as_os_str()];
        args.extend(objects.iter().map(|o| outputs[*o].as_os_str()));
        tool(GCC, args);
        assert!(dll.exists());
    }
}

#[test]
#[ignore = "needs wine, x86_64-w64-mingw32-gcc and llvm-ar"]
fn pe_exe_and_dll_run_the_same_under_wine() {
    need("wine", "wine");
    need(GCC, GCC_PACKAGE);
    need(AR, BINUTILS);
    need("llvm-ar", "llvm");
    let tmp = tempfile::tempdir().unwrap();
    let outputs: std::collections::HashMap<String, Vec<u8>> = converge("pe")
        .into_iter()
        .map(|(p, out)| (p.case, out))
        .collect();
    for case in ["hello", "nosum"] {
        let before = put(
            &tmp.path().join("before"),
            format!("{case}.exe"),
            &fs::read(corpus("pe").join(format!("{case}.1.exe"))).unwrap(),
        );
        let after = put(
            &tmp.path().join("after"),
            format!("{case}.exe"),
            &outputs[case],
        );
        let (a, b) = (wine(&before), wine(&after));
        assert!(
            String::from_utf8_lossy(&b).contains("hello from a reproducible PE"),
            "{case}: {b:?}"
        );
        assert_eq!(a, b, "{case}: output differs");
    }
    // The DLL, loaded by an exe linked against the normalized import library
    // members (built from the same exports).
    let src = put(tmp.path(), "use-foo.c", USE_FOO.as_bytes());
    let lib = tmp.path().join("libfoo.a");
    rebuild_normalized(
        &corpus("coff").join("archives").join("libfoo.1.dll.a"),
        &lib,
        &tmp.path().join("lib"),
    );
    let mut runs = Vec::new();
    for (side, dll) in [
        ("before", fs::read(corpus("pe").join("foo.1.dll")).unwrap()),
        ("after", outputs["foo"].clone()),
    ] {
        let dir = tmp.path().join(format!("dll-{side}"));
        put(&dir, "foo.dll", &dll);
        let exe = dir.join("use-foo.exe");
        tool(
            GCC,
            [
                src.as_os_str(),
                lib.as_os_str(),
                OsStr::new("-o"),
                exe.as_os_str(),
            ],
        );
        runs.push(wine(&exe));
    }
    assert!(
        String::from_utf8_lossy(&runs[1]).contains("foo_add(2, 3) = 5, name foo"),
        "{:?}",
        runs[1]
    );
    assert_eq!(runs[0], runs[1]);
}

/// Builds `hello.exe` and `foo.dll` (exports and a version resource, no
/// build id) in `dir` with ld's clock set to `epoch` through
/// `SOURCE_DATE_EPOCH`.
fn build_at(dir: &Path, epoch: u64) -> Vec<Vec<u8>> {
    fs::create_dir_all(dir).unwrap();
    let pe = corpus("pe");
    let script = fs::read_to_string(pe.join("make.sh")).unwrap();
    // The sources are the ones make.sh writes; take them from there so the
    // two stay in step.
    let grab = |tag: &str, end: &str| {
        let start = script.find(tag).unwrap() + tag.len();
        let len = script[start..].find(end).unwrap();
        script[start..start + len].to_string()
    };
    put(
        dir,
        "hello.c",
        grab("cat > hello.c <<'C'\n", "C\n").as_bytes(),
    );
    put(dir, "foo.c", grab("cat > foo.c <<'C'\n", "C\n").as_bytes());
    put(
        dir,
        "foo.rc",
        grab("cat > foo.rc <<'RC'\n", "RC\n").as_bytes(),
    );
    let sde = epoch.to_string();
    let step = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("SOURCE_DATE_EPOCH", &sde)
            .output()
            .unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
    };
    step(
        GCC,
        &[
            "-O2",
            "-s",
            "-o",
            "hello.exe",
            "hello.c",
            "-Wl,--insert-timestamp",
        ],
    );
    step(WINDRES, &["foo.rc", "-O", "coff", "-o", "foo-res.o"]);
    step(GCC, &["-O2", "-c", "foo.c", "-o", "foo.o"]);
    step(
        GCC,
        &[
            "-shared",
            "-s",
            "-o",
            "foo.dll",
            "foo.o",
            "foo-res.o",
            "-Wl,--insert-timestamp",
        ],
    );
    ["hello.exe", "foo.dll"]
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
#[ignore = "needs x86_64-w64-mingw32-gcc"]
fn pe_a_clock_build_normalizes_to_the_source_date_epoch_build() {
    need(GCC, GCC_PACKAGE);
    need(WINDRES, BINUTILS);
    let tmp = tempfile::tempdir().unwrap();
    // ld reads its clock from SOURCE_DATE_EPOCH: a late one stands for a
    // build that leaked the wall clock, the epoch for a reproducible build.
    let late = build_at(&tmp.path().join("late"), 1_900_000_000);
    let reproducible = build_at(&tmp.path().join("epoch"), EPOCH);
    for ((name, late), reproducible) in ["hello.exe", "foo.dll"].iter().zip(late).zip(reproducible)
    {
        assert_ne!(late, reproducible, "{name}: the clock left no trace");
        let normalized = normalize(&late, name).unwrap();
        assert!(
            normalized == reproducible,
            "{name}: normalized clock build differs from ld's SOURCE_DATE_EPOCH build"
        );
    }
}
