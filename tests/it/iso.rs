//! Corpus tests of the ISO 9660 handler (`corpus/iso9660`, made by xorriso
//! and genisoimage at two clocks): pairs converge to the blessed bytes, the
//! file size never changes, malformed images are left untouched, and the real
//! readers (`xorriso -find`, `osirrox -extract`, `isoinfo -l -R -J`) see the
//! same tree before and after.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::corpus::{converge, converge_in_place};
use crate::util::{malformed_left_untouched, need, tool};

#[test]
fn iso9660_pairs_converge_to_the_expected_bytes_of_the_same_size() {
    converge_in_place("iso9660", 3);
}

#[test]
fn iso9660_malformed_images_are_left_untouched() {
    malformed_left_untouched("iso9660", "iso9660");
}

/// The tree as osirrox extracts it: relative path, mode, and contents.
fn extract(image: &Path, to: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let status = Command::new("osirrox")
        .args(["-indev"])
        .arg(image)
        .args(["-extract", "/"])
        .arg(to)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "osirrox failed on {}",
        image.display()
    );
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(to).sort_by_file_name() {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let rel = e.path().strip_prefix(to).unwrap().display().to_string();
        let data = if meta.is_file() {
            fs::read(e.path()).unwrap()
        } else if meta.file_type().is_symlink() {
            fs::read_link(e.path())
                .unwrap()
                .display()
                .to_string()
                .into_bytes()
        } else {
            Vec::new()
        };
        out.push((rel, meta.permissions().mode() & 0o7777, data));
    }
    out
}

#[test]
#[ignore = "needs xorriso, isoinfo"]
fn iso9660_outputs_read_back_the_same_tree_in_xorriso_and_isoinfo() {
    need("xorriso", "xorriso");
    need("isoinfo", "genisoimage");
    let tmp = tempfile::tempdir().unwrap();
    for (p, out) in converge("iso9660") {
        let after = tmp.path().join(format!("{}.iso", p.case));
        fs::write(&after, out).unwrap();
        let find = |img: &Path| {
            String::from_utf8(tool(
                "xorriso",
                [OsStr::new("-indev"), img.as_os_str(), OsStr::new("-find")],
            ))
            .unwrap()
        };
        assert_eq!(find(&after), find(&p.one), "{}: -find listing", p.case);
        let a = extract(&p.one, &tmp.path().join(format!("{}-before", p.case)));
        let b = extract(&after, &tmp.path().join(format!("{}-after", p.case)));
        assert!(a.len() >= 6, "{}: tree too small", p.case);
        assert_eq!(a, b, "{}: extracted tree differs", p.case);
        let list = |img: &Path| {
            let mut args = vec![OsStr::new("-l"), OsStr::new("-R")];
            if p.case.ends_with("-rj") {
                args.push(OsStr::new("-J"));
            }
            args.extend([OsStr::new("-i"), img.as_os_str()]);
            String::from_utf8(tool("isoinfo", args)).unwrap()
        };
        let (before, now) = (list(&p.one), list(&after));
        assert_eq!(before.lines().count(), now.lines().count(), "{}", p.case);
        assert!(
            !before.contains("Jan  1 1980") && now.contains("Jan  1 1980"),
            "{}: {now}",
            p.case
        );
        tool(
            "isoinfo",
            [OsStr::new("-d"), OsStr::new("-i"), after.as_os_str()],
        );
    }
}
