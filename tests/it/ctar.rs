//! Corpus and oracle tests for xz, bzip2 and zstd streams (tarballs made by
//! GNU tar, xz, bzip2 and zstd at two clocks) and for `.deb` packages whose
//! control and data tarballs are xz or zstd (dpkg-deb -Zxz / -Zzstd): pairs
//! converge to the blessed bytes, each output passes the codec's own test,
//! lists and extracts to the same tree as its input, and equals what the
//! reference tool writes for the normalized payload; packages are read by
//! dpkg-deb and pass `md5sum -c`; damaged and multi-stream files are left
//! byte for byte as they are, and reported.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use strip_nd::error::FormatError;

use crate::archives::{assert_same_tree, differing, left_untouched, through_the_binary};
use crate::corpus::converge;
use crate::manifests::deb_notes;
use crate::util::{need, put, tool};

/// The codec's tool for a file name: (program, Debian package).
fn codec(name: &str) -> (&'static str, &'static str) {
    let ext = Path::new(name).extension().and_then(OsStr::to_str);
    if ext == Some("xz") {
        ("xz", "xz-utils")
    } else if ext == Some("bz2") {
        ("bzip2", "bzip2")
    } else {
        ("zstd", "zstd")
    }
}

fn need_codecs() {
    need("xz", "xz-utils");
    need("bzip2", "bzip2");
    need("zstd", "zstd");
}

/// The decompressed bytes of `path`, as the codec's tool writes them.
fn decompress(path: &Path) -> Vec<u8> {
    let (program, _) = codec(path.to_str().unwrap());
    tool(program, [OsStr::new("-dc"), path.as_os_str()])
}

#[test]
fn compressed_pairs_converge_to_the_expected_bytes() {
    let done = converge("compressed");
    assert_eq!(done.len(), 9);
    assert_eq!(
        differing("compressed"),
        done.len(),
        "every pair differs before"
    );
    for (p, out) in &done {
        assert_ne!(&fs::read(&p.one).unwrap(), out, "{}: rewritten", p.case);
    }
}

#[test]
#[ignore = "needs xz, bzip2 and zstd (xz-utils, bzip2, zstd)"]
fn compressed_outputs_pass_the_codecs_own_test() {
    need_codecs();
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("compressed") {
        let name = p.one.file_name().unwrap().to_str().unwrap();
        let path = put(tmp.path(), name, &out);
        let (program, _) = codec(name);
        tool(program, [OsStr::new("-t"), path.as_os_str()]);
    }
}

#[test]
#[ignore = "needs GNU tar, xz, bzip2 and zstd (tar, xz-utils, bzip2, zstd)"]
fn compressed_outputs_list_and_extract_to_the_same_tree() {
    need("tar", "tar");
    need_codecs();
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("compressed") {
        let name = p.one.file_name().unwrap().to_str().unwrap();
        let norm = put(tmp.path(), name, &out);
        let list = |f: &Path| {
            let mut names: Vec<String> =
                String::from_utf8(tool("tar", [OsStr::new("-tf"), f.as_os_str()]))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect();
            names.sort();
            names
        };
        assert_eq!(list(&p.one), list(&norm), "{}: listing", p.case);
        let listed =
            String::from_utf8(tool("tar", [OsStr::new("-tvf"), norm.as_os_str()])).unwrap();
        assert!(
            listed
                .lines()
                .all(|l| l.contains(" 0/0 ") && l.contains(" 1980-01-01 ")),
            "{}: owners and times normalized:\n{listed}",
            p.case
        );
        let (a, b) = (
            tmp.path().join(format!("{}-a", p.case)),
            tmp.path().join(format!("{}-b", p.case)),
        );
        for (dir, f) in [(&a, p.one.as_path()), (&b, norm.as_path())] {
            fs::create_dir_all(dir).unwrap();
            tool(
                "tar",
                [
                    OsStr::new("-xf"),
                    f.as_os_str(),
                    OsStr::new("-C"),
                    dir.as_os_str(),
                ],
            );
        }
        assert_same_tree(&a, &b, &p.case);
    }
}

/// How the reference tool compresses each case's payload, as make.sh did.
fn reference(case: &str) -> (&'static str, &'static [&'static str]) {
    match case {
        "xz" | "xz-padded" => ("xz", &["-6", "-T1", "--check=crc64"]),
        "xz-mt" => ("xz", &["-T2", "--block-size=64KiB"]),
        "xz-9-sha256" => ("xz", &["-9", "--check=sha256"]),
        "bzip2" => ("bzip2", &["-9"]),
        "bzip2-1" => ("bzip2", &["-1"]),
        // From a pipe: no content size.
        "zstd" => ("zstd", &["-q", "-3"]),
        // The level is not recorded in the frame: the rewrite uses 3.
        "zstd-file" => ("zstd", &["-q", "-3", "FILE"]),
        "zstd-19" => ("zstd", &["-q", "-3", "--no-check", "FILE"]),
        other => panic!("no reference for {other}"),
    }
}

/// Recompresses `payload` with the reference tool as `case` was made.
fn reference_output(case: &str, payload: &Path) -> Vec<u8> {
    let (program, args) = reference(case);
    let mut cmd = Command::new(program);
    cmd.arg("-c").stdout(Stdio::piped());
    if args.last() == Some(&"FILE") {
        cmd.args(&args[..args.len() - 1]).arg(payload);
    } else {
        cmd.args(args).stdin(fs::File::open(payload).unwrap());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{program} {args:?}");
    out.stdout
}

/// xz and bzip2: the recompressed stream is, byte for byte, what the
/// reference tool writes at the settings the input announced (and the
/// documented defaults) for the normalized payload: the tool's own
/// decompression of the output, fed back to the tool, gives the output again.
#[test]
#[ignore = "needs xz and bzip2 (xz-utils, bzip2)"]
fn recompressed_xz_and_bzip2_are_what_the_reference_tools_write() {
    need("xz", "xz-utils");
    need("bzip2", "bzip2");
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (p, out) in converge("compressed") {
        if p.case.starts_with("zstd") {
            continue;
        }
        let name = p.one.file_name().unwrap().to_str().unwrap();
        let norm = put(tmp.path(), name, &out);
        let payload = put(
            tmp.path(),
            format!("{}.payload", p.case),
            &decompress(&norm),
        );
        let mut want = reference_output(&p.case, &payload);
        if p.case == "xz-padded" {
            want.extend_from_slice(&[0; 512]);
        }
        assert!(
            want == out,
            "{}: {:?} writes other bytes ({} vs {})",
            p.case,
            reference(&p.case),
            want.len(),
            out.len()
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

/// zstd: the frame header announces what `zstd -3` announces for the same
/// input mode (checksum flag, content size and single segment, window). The
/// payload is checked by the extraction test above. The compressed blocks
/// themselves are libzstd 1.5.7's; Debian 12's zstd 1.5.4 splits blocks of
/// payloads past 128 KiB otherwise, so those bytes are not compared.
#[test]
#[ignore = "needs zstd"]
fn recompressed_zstd_frames_announce_what_the_zstd_tool_does() {
    need("zstd", "zstd");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("compressed") {
        if !p.case.starts_with("zstd") {
            continue;
        }
        let name = p.one.file_name().unwrap().to_str().unwrap();
        let norm = put(tmp.path(), name, &out);
        let path = put(
            tmp.path(),
            format!("{}.payload", p.case),
            &decompress(&norm),
        );
        let want = reference_output(&p.case, &path);
        // Magic, descriptor, window descriptor (unless single segment), no
        // dictionary ID, content size (RFC 8878 3.1.1.1).
        let fhd = out[4];
        let single = fhd & 0x20 != 0;
        let fcs = [usize::from(single), 2, 4, 8][usize::from(fhd >> 6)];
        let len = 5 + usize::from(!single) + fcs;
        assert_eq!(want[..len], out[..len], "{}: frame header", p.case);
    }
}

#[test]
fn compressed_corpus_through_the_binary_matches_the_library() {
    through_the_binary("compressed");
}

#[test]
fn compressed_malformed_files_are_left_untouched_and_reported() {
    left_untouched("compressed", "malformed", "warning");
}

#[test]
fn several_streams_are_left_untouched_and_reported() {
    left_untouched(
        "compressed",
        "refused",
        "would change, but cannot recompress",
    );
}

// ---------------------------------------------------------------- .deb

#[test]
fn deb_compressed_pairs_converge_and_md5sums_follow() {
    let done = converge("deb-compressed");
    assert_eq!(differing("deb-compressed"), done.len());
    for (p, _) in &done {
        let notes = deb_notes(&fs::read(&p.one).unwrap()).unwrap();
        let control = if p.case == "zstd" {
            "control.tar.zst"
        } else {
            "control.tar.xz"
        };
        let data = match p.case.as_str() {
            "xz" => "data.tar.xz",
            "zstd" => "data.tar.zst",
            _ => "data.tar.gz",
        };
        for want in [
            format!("{control}!md5sums: MD5 of usr/share/man/man1/hello.1.gz updated"),
            format!("{control}!recompressed"),
            format!(
                "{data}!data.tar!./usr/share/man/man1/hello.1.gz!member 1: name \"hello.1\" dropped"
            ),
        ] {
            assert!(
                notes.iter().any(|n| n.starts_with(&want)),
                "{}: no {want:?} in {notes:?}",
                p.case
            );
        }
    }
}

#[test]
#[ignore = "needs dpkg-deb and ar (dpkg, binutils)"]
fn deb_compressed_outputs_are_read_by_dpkg_deb() {
    crate::archives::dpkg_deb_reads("deb-compressed");
    need("ar", "binutils");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("deb-compressed") {
        let norm = put(tmp.path(), format!("{}.deb", p.case), &out);
        let info =
            String::from_utf8(tool("dpkg-deb", [OsStr::new("-I"), norm.as_os_str()])).unwrap();
        assert!(info.contains("Package: hello-compressed"), "{info}");
        let members =
            |d: &Path| String::from_utf8(tool("ar", [OsStr::new("t"), d.as_os_str()])).unwrap();
        assert_eq!(
            members(&norm),
            members(&p.one),
            "{}: the members keep their names and compression",
            p.case
        );
    }
}

#[test]
#[ignore = "needs dpkg-deb and md5sum (dpkg, coreutils)"]
fn deb_compressed_outputs_pass_md5sum_c() {
    crate::manifests::md5sums_pass_after_a_run("deb-compressed");
}

#[test]
fn a_deb_whose_control_tarball_cannot_be_rewritten_is_left_untouched() {
    let deb =
        fs::read(crate::util::corpus("deb-compressed").join("refused/two-member-control.1.deb"))
            .unwrap();
    match deb_notes(&deb) {
        Err(FormatError::Unsupported(m)) => {
            assert!(
                m.contains("control.tar.gz") && m.contains("multi-member"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    left_untouched(
        "deb-compressed",
        "refused",
        "md5sums lists its files, but control.tar.gz",
    );
}

#[test]
fn deb_compressed_corpus_through_the_binary_matches_the_library() {
    through_the_binary("deb-compressed");
}
