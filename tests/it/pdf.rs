//! Corpus tests of the PDF handler (`corpus/pdf`, made by gropdf, ps2pdf,
//! cairo, qpdf and pypdf at two clocks): pairs converge to the blessed bytes
//! of the same size, malformed documents are left untouched, unsupported
//! ones (late dates in an object stream, encryption) are left alone and
//! reported, and the real readers agree: `qpdf --check` passes, `pdfinfo`
//! shows the clamped dates and nothing else changed, and `pdftoppm` renders
//! the same pixels before and after.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::corpus::{converge, converge_in_place};
use crate::util::{corpus, malformed_left_untouched, need, run, stderr, tool};

#[test]
fn pdf_pairs_converge_to_the_expected_bytes_of_the_same_size() {
    for (p, out) in &converge_in_place("pdf", 6) {
        let one = fs::read(&p.one).unwrap();
        assert_ne!(out, &one, "{}: nothing normalized", p.case);
    }
}

#[test]
fn pdf_incremental_updates_clamp_every_revision_of_the_info_dictionary() {
    let done = converge("pdf");
    let (p, out) = done
        .iter()
        .find(|(p, _)| p.case == "pypdf-incremental")
        .expect("the pypdf-incremental case");
    let before = fs::read(&p.one).unwrap();
    let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    // gropdf's first revision writes the date plainly, pypdf's update with
    // octal escapes (`:` as `\072`).
    assert!(has(&before, "D:2026") && has(&before, "D\\0722026"));
    assert!(!has(out, "D:2026") && !has(out, "D\\0722026"));
    assert!(has(out, "D:19800101000000+00'00'"));
    assert!(has(out, "D\\07219800101000000\\05300\\04700\\047"));
}

#[test]
fn pdf_malformed_documents_are_left_untouched() {
    malformed_left_untouched("pdf", "pdf");
}

#[test]
fn pdf_unsupported_documents_are_left_alone_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("info-in-object-stream.pdf", "compressed object stream"),
        ("encrypted.pdf", "encrypted"),
    ];
    for (name, _) in cases {
        fs::copy(
            corpus("pdf").join("unsupported").join(name),
            tmp.path().join(name),
        )
        .unwrap();
    }
    let out = run([OsStr::new("-v"), tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for (name, why) in cases {
        assert_eq!(
            fs::read(tmp.path().join(name)).unwrap(),
            fs::read(corpus("pdf").join("unsupported").join(name)).unwrap(),
            "{name} was modified"
        );
        assert!(
            err.lines()
                .any(|l| l.contains("skipped") && l.contains(name) && l.contains(why)),
            "no skipped line naming {name} and {why:?}:\n{err}"
        );
    }
}

/// Each converged output written to `dir` as `<case>.pdf`, with its pair.
fn outputs(dir: &Path) -> Vec<(String, std::path::PathBuf, std::path::PathBuf)> {
    converge("pdf")
        .into_iter()
        .map(|(p, out)| {
            let after = dir.join(format!("{}.pdf", p.case));
            fs::write(&after, out).unwrap();
            (p.case, p.one, after)
        })
        .collect()
}

#[test]
#[ignore = "needs qpdf"]
fn pdf_outputs_pass_qpdf_check() {
    need("qpdf", "qpdf");
    let tmp = tempfile::tempdir().unwrap();
    for (case, before, after) in outputs(tmp.path()) {
        let check = |f: &Path| {
            let out = Command::new("qpdf").arg("--check").arg(f).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (
                out.status.code(),
                text.replace(&*f.to_string_lossy(), "FILE"),
            )
        };
        let (code, text) = check(&after);
        // Exactly what qpdf says of the original: no error, or (pypdf's
        // update misstates /Size, in both files) the same warning, status 3.
        let (code_before, text_before) = check(&before);
        assert_eq!((code, &text), (code_before, &text_before), "{case}");
        if case == "pypdf-incremental" {
            assert!(
                text.contains("reported number of objects"),
                "{case}: {text}"
            );
        } else {
            assert_eq!(code, Some(0), "{case}: {text}");
            assert!(
                text.contains("No syntax or stream encoding errors found"),
                "{case}: {text}"
            );
        }
        if case.contains("linearized") {
            assert!(text.contains("File is linearized"), "{case}: {text}");
        }
        // Every object is where it was: qpdf reads the same cross-reference.
        let xref = |f: &Path| {
            let out = Command::new("qpdf")
                .arg("--show-xref")
                .arg(f)
                .output()
                .unwrap();
            assert!(
                out.status.code() == code,
                "{case}: qpdf --show-xref {}",
                stderr(&out)
            );
            out.stdout
        };
        let (x, y) = (xref(&before), xref(&after));
        assert!(x.len() > 100, "{case}: no xref shown");
        assert_eq!(x, y, "{case}: the cross-reference changed");
    }
}

/// `pdfinfo` (and `pdfinfo -meta`) in UTC: the date lines and the others.
fn pdfinfo(f: &Path, meta: bool) -> (Vec<String>, Vec<String>) {
    let mut c = Command::new("pdfinfo");
    c.env("TZ", "UTC");
    if meta {
        c.arg("-meta");
    }
    let out = c.arg(f).output().unwrap();
    assert!(
        out.status.success(),
        "pdfinfo {}: {}",
        f.display(),
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (dates, rest) = text
        .lines()
        .map(str::to_string)
        .partition(|l| l.contains("Date"));
    (dates, rest)
}

#[test]
#[ignore = "needs poppler-utils"]
fn pdf_outputs_show_the_clamped_dates_in_pdfinfo_and_nothing_else_changes() {
    need("pdfinfo", "poppler-utils");
    let tmp = tempfile::tempdir().unwrap();
    let mut clamped = 0;
    for (case, before, after) in outputs(tmp.path()) {
        let (dates_before, rest_before) = pdfinfo(&before, false);
        let (dates_after, rest_after) = pdfinfo(&after, false);
        assert_eq!(
            rest_before, rest_after,
            "{case}: pdfinfo differs beyond the dates"
        );
        assert!(!dates_after.is_empty(), "{case}: no dates shown");
        for (b, a) in dates_before.iter().zip(&dates_after) {
            if b.contains("2026") || b.contains("2027") {
                assert!(a.ends_with("Tue Jan  1 00:00:00 1980 UTC"), "{case}: {a}");
                clamped += 1;
            } else {
                // At or before the epoch: kept.
                assert_eq!(a, b, "{case}");
            }
        }
        // The XMP packet: its dates are the epoch in UTC, the rest unchanged.
        let (meta_before, _) = pdfinfo(&before, true);
        let (meta_after, _) = pdfinfo(&after, true);
        for (b, a) in meta_before.iter().zip(&meta_after) {
            if b.contains(">2026") || b.contains(">2027") {
                assert!(
                    a.contains(">1980-01-01T00:00:00+00:00<")
                        || a.contains(">1980-01-01T00:00:00Z<"),
                    "{case}: {a}"
                );
                clamped += 1;
            }
        }
    }
    assert!(clamped >= 12, "only {clamped} dates clamped");
}

/// The pages of `f` rendered by `pdftoppm` at 50 dpi, as PPM files' bytes.
fn render(f: &Path, dir: &Path) -> Vec<Vec<u8>> {
    fs::create_dir_all(dir).unwrap();
    tool(
        "pdftoppm",
        [
            OsStr::new("-r"),
            OsStr::new("50"),
            f.as_os_str(),
            dir.join("page").as_os_str(),
        ],
    );
    let mut pages: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    pages.iter().map(|p| fs::read(p).unwrap()).collect()
}

#[test]
#[ignore = "needs poppler-utils"]
fn pdf_outputs_render_the_same_pixels_in_pdftoppm() {
    need("pdftoppm", "poppler-utils");
    let tmp = tempfile::tempdir().unwrap();
    for (case, before, after) in outputs(tmp.path()) {
        let a = render(&before, &tmp.path().join(format!("{case}-before")));
        let b = render(&after, &tmp.path().join(format!("{case}-after")));
        assert!(!a.is_empty(), "{case}: no page rendered");
        // The page holds text: not every pixel is white.
        assert!(
            a[0].iter().skip(20).any(|&v| v < 128),
            "{case}: a blank page"
        );
        assert_eq!(a, b, "{case}: the rendering changed");
    }
}
