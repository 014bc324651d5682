//! Corpus tests of the sfnt font handler with real consumers: fontForge- and
//! fontTools-made `.ttf`/`.otf` pairs and a fontTools `.ttc` converge to the
//! blessed bytes (and normalizing twice changes nothing, checked inside
//! [`converge`]); `ttx` dumps the same XML but for the `head` dates and
//! `checkSumAdjustment`; fontTools finds every table checksum right (it raises
//! under `checkChecksums=2`) and the `checkSumAdjustment` right; `FreeType`
//! (through Pillow) renders the same pixels; malformed fonts are left
//! untouched.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::corpus::{Pair, converge};
use crate::util::{malformed_left_untouched, need, tool};

fn ext(p: &Pair) -> String {
    p.one.extension().unwrap().to_str().unwrap().to_string()
}

/// Writes each output to a temp dir as `<case>.<ext>`.
fn outputs() -> (tempfile::TempDir, Vec<(Pair, PathBuf)>) {
    let tmp = tempfile::tempdir().unwrap();
    let list = converge("font")
        .into_iter()
        .map(|(p, out)| {
            let path = tmp.path().join(format!("{}.{}", p.case, ext(&p)));
            fs::write(&path, out).unwrap();
            (p, path)
        })
        .collect();
    (tmp, list)
}

/// How many fonts the file holds (a `ttcf` header's count, else 1).
fn faces(path: &Path) -> u32 {
    let b = fs::read(path).unwrap();
    if b.starts_with(b"ttcf") {
        u32::from_be_bytes(b[8..12].try_into().unwrap())
    } else {
        1
    }
}

#[test]
fn font_pairs_converge_to_the_expected_bytes() {
    let done = converge("font");
    assert!(done.len() >= 5, "too few font cases");
    for (p, out) in &done {
        let one = fs::read(&p.one).unwrap();
        assert_ne!(
            one,
            fs::read(&p.two).unwrap(),
            "{}: the pair is equal",
            p.case
        );
        assert_ne!(&one, out, "{}: nothing was normalized", p.case);
        assert_eq!(one.len(), out.len(), "{}: length changed", p.case);
    }
    assert!(done.iter().any(|(p, _)| ext(p) == "ttc"));
}

/// `ttx`'s XML of every font of the file, with the lines that must change
/// set aside.
fn ttx(path: &Path) -> (String, Vec<String>) {
    let mut keep = Vec::new();
    let mut moved = Vec::new();
    for i in 0..faces(path) {
        let n = i.to_string();
        let xml = String::from_utf8(tool(
            "ttx",
            [
                OsStr::new("-q"),
                OsStr::new("-y"),
                OsStr::new(&n),
                OsStr::new("-o"),
                OsStr::new("-"),
                path.as_os_str(),
            ],
        ))
        .unwrap();
        for l in xml.lines() {
            let t = l.trim_start();
            if t.starts_with("<created ")
                || t.starts_with("<modified ")
                || t.starts_with("<checkSumAdjustment ")
            {
                moved.push(t.to_string());
            } else {
                keep.push(l.to_string());
            }
        }
    }
    (keep.join("\n"), moved)
}

#[test]
#[ignore = "needs ttx"]
fn font_outputs_dump_with_ttx_like_the_originals_but_for_the_head_dates() {
    need("ttx", "fonttools");
    let (_tmp, outs) = outputs();
    for (p, out) in outs {
        let (want, old) = ttx(&p.one);
        let (got, new) = ttx(&out);
        assert_eq!(got, want, "{}: ttx sees other changes", p.case);
        assert_eq!(old.len(), new.len(), "{}", p.case);
        let dates: Vec<_> = new.iter().filter(|l| !l.contains("checkSum")).collect();
        assert_eq!(dates.len(), 2 * faces(&out) as usize, "{}", p.case);
        for d in dates {
            assert!(
                d.contains("\"Tue Jan  1 00:00:00 1980\""),
                "{}: {d}",
                p.case
            );
        }
    }
}

/// Loads every font with fontTools, decompiling every table with
/// `checkChecksums=2` (a wrong table checksum raises), checks
/// `checkSumAdjustment` the way fontTools' writer computes it, and renders a
/// sample with `FreeType` through Pillow. Prints one line per font.
const PY_FONT: &str = r#"
import hashlib, sys
from fontTools.ttLib import TTFont
from fontTools.ttLib.sfnt import calcChecksum
from PIL import Image, ImageDraw, ImageFont

path = sys.argv[1]
data = open(path, "rb").read()
n = int.from_bytes(data[8:12], "big") if data[:4] == b"ttcf" else 1
for i in range(n):
    f = TTFont(path, fontNumber=i if n > 1 else -1, checkChecksums=2, lazy=False)
    for tag in f.keys():
        f[tag]
    r = f.reader
    d = int.from_bytes(data[12 + 4 * i:16 + 4 * i], "big") if n > 1 else 0
    end = d + 12 + 16 * r.numTables
    total = calcChecksum(data[d:end]) + sum(e.checkSum for e in r.tables.values())
    want = (0xB1B0AFBA - total) & 0xFFFFFFFF
    assert f["head"].checkSumAdjustment == want, (i, hex(f["head"].checkSumAdjustment), hex(want))
    if n == 1:
        assert calcChecksum(data) == 0xB1B0AFBA, "whole-file checksum"
    img = Image.new("L", (400, 120), 0)
    font = ImageFont.truetype(path, 64, index=i)
    ImageDraw.Draw(img).text((10, 10), "Ao oA", font=font, fill=255)
    px = img.tobytes()
    print(i, "ok", sum(1 for b in px if b), hashlib.sha256(px).hexdigest())
"#;

fn py_font(path: &Path) -> String {
    String::from_utf8(tool(
        "python3",
        [OsStr::new("-c"), OsStr::new(PY_FONT), path.as_os_str()],
    ))
    .unwrap()
}

#[test]
#[ignore = "needs python3 with fontTools and Pillow"]
fn font_outputs_pass_fonttools_checksums_and_render_the_same_pixels() {
    need("python3", "python3-fonttools python3-pil");
    let (_tmp, outs) = outputs();
    for (p, out) in outs {
        let want = py_font(&p.one);
        let got = py_font(&out);
        assert_eq!(got, want, "{}: rendering or checks differ", p.case);
        assert_eq!(got.lines().count(), faces(&out) as usize, "{}", p.case);
        for l in got.lines() {
            let inked: usize = l.split(' ').nth(2).unwrap().parse().unwrap();
            assert!(inked > 100, "{}: the sample rendered blank: {l}", p.case);
        }
    }
}

#[test]
fn font_malformed_files_are_left_untouched() {
    malformed_left_untouched("font", "font");
}
