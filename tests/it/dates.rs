//! Corpus tests of the embedded-date handlers (`mo`, `png`, `uimage`,
//! `javadoc`, `properties`, `perllocal`) with their real consumers: every pair
//! converges to the blessed bytes, each output passes the consumer and gives
//! it the same content as the input, normalizing twice changes nothing
//! (checked inside [`converge`]), and malformed files are left untouched.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::corpus::{Pair, converge};
use crate::util::{corpus, malformed_left_untouched, need, run, stderr, tool};

/// Converges a corpus folder and checks that most pairs differed before, so
/// the corpus really exercises the handler.
fn converge_differing(format: &str, min: usize) -> Vec<(Pair, Vec<u8>)> {
    let done = converge(format);
    let differing = done
        .iter()
        .filter(|(p, _)| fs::read(&p.one).unwrap() != fs::read(&p.two).unwrap())
        .count();
    assert!(
        differing >= min,
        "{format}: only {differing} pairs differ before normalization"
    );
    done
}

/// Writes each output of `format` to a temp dir as `<case>.<ext>`.
fn outputs(format: &str, ext: &str) -> (tempfile::TempDir, Vec<(Pair, PathBuf)>) {
    let tmp = tempfile::tempdir().unwrap();
    let list = converge(format)
        .into_iter()
        .map(|(p, out)| {
            let path = tmp.path().join(format!("{}.{ext}", p.case));
            fs::write(&path, out).unwrap();
            (p, path)
        })
        .collect();
    (tmp, list)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

// ---------------------------------------------------------------- gettext .mo

#[test]
fn mo_pairs_converge_to_the_expected_bytes() {
    let done = converge_differing("mo", 6);
    let short = done.iter().find(|(p, _)| p.case == "short-date").unwrap();
    assert_ne!(
        short.1.len(),
        fs::read(&short.0.one).unwrap().len(),
        "the short-date case must exercise the rebuild"
    );
}

/// msgunfmt's listing with the date lines set aside.
fn msgunfmt(path: &Path) -> (String, Vec<String>) {
    let listing = text(tool("msgunfmt", [path.as_os_str()]));
    let (dates, rest): (Vec<&str>, Vec<&str>) = listing
        .lines()
        .partition(|l| l.contains("POT-Creation-Date:") || l.contains("PO-Revision-Date:"));
    (
        rest.join("\n"),
        dates.into_iter().map(String::from).collect(),
    )
}

#[test]
#[ignore = "needs msgunfmt"]
fn mo_outputs_pass_msgunfmt_with_the_same_translations() {
    need("msgunfmt", "gettext");
    let (_tmp, outs) = outputs("mo", "mo");
    for (p, out) in outs {
        let (want, old_dates) = msgunfmt(&p.one);
        let (got, new_dates) = msgunfmt(&out);
        assert_eq!(got, want, "{}: translations changed", p.case);
        assert_eq!(old_dates.len(), new_dates.len(), "{}", p.case);
        assert!(!new_dates.is_empty(), "{}: no date in the header", p.case);
        for d in &new_dates {
            assert!(d.contains(": 1980-01-01 00:00"), "{}: {d}", p.case);
        }
    }
}

/// Every translation and header field Python's `gettext.GNUTranslations`
/// reads, as JSON, with the two date fields left out.
const PY_GETTEXT: &str = r#"
import gettext, json, sys
with open(sys.argv[1], "rb") as f:
    t = gettext.GNUTranslations(f)
cat = {repr(k): v for k, v in t._catalog.items() if k != ""}
info = {k: v for k, v in t.info().items() if k not in ("pot-creation-date", "po-revision-date")}
print(json.dumps([sorted(cat.items()), sorted(info.items()), t.gettext("Goodbye")]))
"#;

#[test]
#[ignore = "needs python3"]
fn mo_outputs_load_in_python_gettext_with_the_same_translations() {
    need("python3", "python3");
    let (_tmp, outs) = outputs("mo", "mo");
    let load = |p: &Path| {
        text(tool(
            "python3",
            [OsStr::new("-c"), OsStr::new(PY_GETTEXT), p.as_os_str()],
        ))
    };
    for (p, out) in outs {
        let got = load(&out);
        assert_eq!(got, load(&p.one), "{}", p.case);
        assert!(got.contains("Au revoir"), "{}: {got}", p.case);
    }
}

#[test]
fn mo_malformed_files_are_left_untouched() {
    malformed_left_untouched("mo", "mo");
}

// ------------------------------------------------------------------------ PNG

/// The file up to the end of `IEND`, and what follows it.
fn split_at_iend(png: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 8;
    loop {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        at += 12 + len;
        if kind == b"IEND" {
            return png.split_at(at);
        }
    }
}

#[test]
fn png_pairs_converge_to_the_expected_bytes() {
    converge_differing("png", 4);
}

#[test]
#[ignore = "needs pngcheck"]
fn png_outputs_pass_pngcheck_and_keep_trailing_data() {
    need("pngcheck", "pngcheck");
    let (tmp, outs) = outputs("png", "png");
    for (p, out) in outs {
        let bytes = fs::read(&out).unwrap();
        let (png, tail) = split_at_iend(&bytes);
        let input = fs::read(&p.one).unwrap();
        assert_eq!(tail, split_at_iend(&input).1, "{}: data after IEND", p.case);
        let checked = tmp.path().join(format!("{}-checked.png", p.case));
        fs::write(&checked, png).unwrap();
        let listing = text(tool("pngcheck", [OsStr::new("-vt"), checked.as_os_str()]));
        assert!(
            listing.contains("No errors detected"),
            "{}: {listing}",
            p.case
        );
        assert!(
            !listing.contains("2026") && !listing.contains("2027"),
            "{}: {listing}",
            p.case
        );
    }
}

#[test]
#[ignore = "needs ImageMagick's convert"]
fn png_outputs_decode_to_the_same_pixels() {
    need("convert", "imagemagick");
    let (_tmp, outs) = outputs("png", "png");
    let pixels = |p: &Path| {
        let src = format!("png:{}", p.display());
        tool("convert", [src.as_str(), "-depth", "16", "rgba:-"])
    };
    for (p, out) in outs {
        let got = pixels(&out);
        assert!(!got.is_empty(), "{}", p.case);
        assert!(got == pixels(&p.one), "{}: pixels changed", p.case);
    }
}

#[test]
fn png_malformed_files_are_left_untouched() {
    malformed_left_untouched("png", "png");
}

// --------------------------------------------------------------------- uImage

#[test]
fn uimage_pairs_converge_to_the_expected_bytes() {
    converge_differing("uimage", 4);
}

#[test]
#[ignore = "needs dumpimage"]
fn uimage_outputs_pass_dumpimage_with_the_same_data() {
    need("dumpimage", "u-boot-tools");
    let (tmp, outs) = outputs("uimage", "uimg");
    for (p, out) in outs {
        let listing = text(tool("dumpimage", [OsStr::new("-l"), out.as_os_str()]));
        assert!(
            listing.contains("Created:      Tue Jan  1 00:00:00 1980"),
            "{}: {listing}",
            p.case
        );
        let before = text(tool("dumpimage", [OsStr::new("-l"), p.one.as_os_str()]));
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("Created:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&listing), strip(&before), "{}", p.case);
        assert!(listing.contains("Image Name:"), "{}: {listing}", p.case);
        // Extracting the first payload checks the image the way U-Boot does.
        let kind = match p.case.as_str() {
            "script" => "script",
            "multi" => "multi",
            _ => "kernel",
        };
        let extract = |image: &Path, to: &str| {
            let data = tmp.path().join(format!("{}.{to}", p.case));
            let status = Command::new("dumpimage")
                .args(["-T", kind, "-p", "0", "-o"])
                .arg(&data)
                .arg(image)
                .status()
                .unwrap();
            assert!(status.success(), "{}: dumpimage -p 0 failed", p.case);
            fs::read(data).unwrap()
        };
        let payload = extract(&out, "after");
        assert!(!payload.is_empty(), "{}", p.case);
        assert!(
            payload == extract(&p.one, "before"),
            "{}: payload changed",
            p.case
        );
    }
}

#[test]
fn uimage_malformed_files_are_left_untouched() {
    malformed_left_untouched("uimage", "uimage");
}

// -------------------------------------------------------------- javadoc HTML

#[test]
fn javadoc_pairs_converge_to_the_expected_bytes() {
    converge_differing("javadoc", 4);
}

/// The offset of the first `</head>`.
fn head_end(html: &[u8]) -> usize {
    html.windows(7)
        .position(|w| w.eq_ignore_ascii_case(b"</head>"))
        .expect("a </head>")
}

#[test]
fn javadoc_outputs_change_only_dates_in_the_head() {
    for (p, out) in converge("javadoc") {
        let input = fs::read(&p.one).unwrap();
        let (a, b) = (head_end(&input), head_end(&out));
        assert_eq!(&input[a..], &out[b..], "{}: the body changed", p.case);
        for eol in [&b"\r\n"[..], b"\n", b"\r"] {
            let count = |s: &[u8]| s.windows(eol.len()).filter(|w| *w == eol).count();
            assert_eq!(
                count(&input),
                count(&out),
                "{}: line endings changed",
                p.case
            );
        }
        let (old, new) = (text(input), text(out));
        assert!(
            new.contains("on Tue Jan 01 00:00:00 UTC 1980 -->"),
            "{}",
            p.case
        );
        assert!(
            new.contains("<meta name=\"dc.created\" content=\"1980-01-01\">"),
            "{}",
            p.case
        );
        let changed: Vec<(&str, &str)> = old
            .split(['\n', '\r'])
            .zip(new.split(['\n', '\r']))
            .filter(|(a, b)| a != b)
            .collect();
        assert!(!changed.is_empty(), "{}", p.case);
        for (a, b) in changed {
            assert_eq!(a.len(), b.len(), "{}: {a:?} -> {b:?}", p.case);
            assert!(
                a.contains("<!-- Generated by javadoc") || a.contains("dc.created"),
                "{}: a line outside the dates changed: {a:?}",
                p.case
            );
        }
    }
}

#[test]
fn javadoc_malformed_files_are_left_untouched() {
    malformed_left_untouched("javadoc", "javadoc");
}

// ----------------------------------------------------------- Java .properties

#[test]
fn properties_pairs_converge_to_the_expected_bytes() {
    converge_differing("properties", 4);
}

/// Loads a .properties file with `java.util.Properties.load` (UTF-8 reader)
/// and prints its entries sorted, one per line.
const LOAD_JAVA: &str = r"
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;

public class Load {
    public static void main(String[] args) throws IOException {
        for (String f : args) {
            Properties p = new Properties();
            try (Reader r = new InputStreamReader(new FileInputStream(f), StandardCharsets.UTF_8)) {
                p.load(r);
            }
            System.out.println(new TreeMap<>(p));
        }
    }
}
";

#[test]
#[ignore = "needs javac and java"]
fn properties_outputs_load_in_java_to_the_same_map() {
    need("javac", "default-jdk-headless");
    need("java", "default-jdk-headless");
    let (tmp, outs) = outputs("properties", "properties");
    let src = tmp.path().join("Load.java");
    fs::write(&src, LOAD_JAVA).unwrap();
    let classes = tmp.path().join("classes");
    tool(
        "javac",
        [OsStr::new("-d"), classes.as_os_str(), src.as_os_str()],
    );
    let mut args = vec![
        OsStr::new("-cp").to_owned(),
        classes.clone().into_os_string(),
    ];
    args.push("Load".into());
    for (p, out) in &outs {
        args.push(p.one.clone().into_os_string());
        args.push(out.clone().into_os_string());
    }
    let maps = text(tool("java", &args));
    let maps: Vec<&str> = maps.lines().collect();
    assert_eq!(maps.len(), 2 * outs.len());
    for (pair, (p, _)) in maps.chunks(2).zip(&outs) {
        assert_eq!(
            pair[0], pair[1],
            "{}: Properties.load reads another map",
            p.case
        );
        assert!(pair[0].len() > 2, "{}: empty map {}", p.case, pair[0]);
    }
}

#[test]
fn properties_date_line_with_trailing_blanks_keeps_them() {
    let done = converge_differing("properties", 4);
    let (p, out) = done
        .iter()
        .find(|(p, _)| p.case == "trailing-blanks")
        .expect("the trailing-blanks case");
    for input in [&p.one, &p.two] {
        let input = text(fs::read(input).unwrap());
        let first = input.lines().next().unwrap();
        assert!(
            first.ends_with(" \t"),
            "{first:?}: the case lost its blanks"
        );
        let (_, rest) = input.split_once('\n').unwrap();
        assert_eq!(
            text(out.clone()),
            format!("#Tue Jan 01 00:00:00 UTC 1980 \t\n{rest}"),
            "the date is normalized, the blanks and the entries kept byte for byte"
        );
    }
}

#[test]
fn properties_pom_body_is_claimed_by_content_as_a_jar_member() {
    use strip_nd::config::Config;
    use strip_nd::handlers::Outcome;
    let body = fs::read(corpus("properties").join("pom.1.properties")).unwrap();
    let config = Config::with_epoch(crate::util::EPOCH);
    let jar = config.context(Path::new("demo.jar"));
    for member in [
        "META-INF/maven/org.example/demo/pom.properties",
        "no-extension",
    ] {
        let ctx = jar.nested(Path::new(member));
        let Some(("properties", Ok(Outcome::Rewritten { bytes, .. }))) =
            strip_nd::dispatch::dispatch(&body, &ctx)
        else {
            panic!("{member}: pom.properties not claimed and rewritten by the properties handler");
        };
        assert!(text(bytes).contains("#Tue Jan 01 00:00:00 UTC 1980\n"));
    }
}

// ------------------------------------------------------------- perllocal.pod

#[test]
fn perllocal_pairs_converge_to_the_expected_bytes() {
    converge_differing("perllocal", 2);
}

#[test]
#[ignore = "needs podchecker"]
fn perllocal_outputs_pass_podchecker() {
    need("podchecker", "perl");
    let (_tmp, outs) = outputs("perllocal", "pod");
    // perllocal.pod starts at =head2, so podchecker always warns that no
    // =head1 precedes it; the output must draw the same messages as the input.
    let check = |path: &Path| {
        let result = Command::new("podchecker").arg(path).output().unwrap();
        let msg = String::from_utf8_lossy(&result.stderr).replace(path.to_str().unwrap(), "FILE");
        assert!(result.status.success(), "{}: {msg}", path.display());
        msg
    };
    for (p, out) in outs {
        let msg = check(&out);
        assert!(msg.contains("FILE pod syntax OK"), "{}: {msg}", p.case);
        assert_eq!(msg, check(&p.one), "{}", p.case);
        let new = text(fs::read(&out).unwrap());
        let entries = new
            .matches("=head2 Tue Jan  1 00:00:00 1980: C<Module> L<Demo::")
            .count();
        assert_eq!(entries, new.matches("=head2 ").count(), "{}: {new}", p.case);
        assert_eq!(new.len(), fs::read(&p.one).unwrap().len(), "{}", p.case);
    }
}

// ---------------------------------------------- text formats: near misses

/// Files that look like the text formats but are not: nothing may claim or
/// change them.
#[test]
fn near_misses_of_the_text_formats_are_not_claimed() {
    let misses: [(&str, &[u8]); 5] = [
        (
            "script.sh",
            b"#!/bin/sh\n#Wed Mar 04 05:06:07 UTC 2026\necho hi\n",
        ),
        (
            "notes.properties",
            b"# Wed Mar 04 05:06:07 UTC 2026\nkey=value\n",
        ),
        (
            "late.properties",
            b"key=value\n#Wed Mar 04 05:06:07 UTC 2026\n",
        ),
        (
            "other.pod",
            b"=head1 NAME\n\n=head2 Wed Mar  4 05:06:07 2026: C<Module> L<A|A>\n",
        ),
        (
            "page.html",
            b"<html><head><!-- Generated by hand on Wed Mar 04 05:06:07 UTC 2026 --></head></html>",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in misses {
        fs::write(tmp.path().join(name), bytes).unwrap();
        assert!(
            crate::util::normalize(bytes, name).is_err(),
            "{name} is claimed by a handler"
        );
    }
    let out = run([OsStr::new("--no-mtimes"), tmp.path().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, bytes) in misses {
        assert_eq!(
            fs::read(tmp.path().join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
    }
}
