use super::hints::{days_from_civil, timestamps};
use super::raw::raw_diff;
use super::*;
use crate::handlers::dates::Civil;

#[test]
fn notes_pair_into_fields() {
    let a = vec![
        "member 1: mtime 1772600767 -> 315532800".to_string(),
        "member 1: name \"b.1\" dropped".to_string(),
        "member 2: comment dropped".to_string(),
    ];
    let b = vec![
        "member 1: mtime 1818065472 -> 315532800".to_string(),
        "member 2: comment dropped".to_string(),
    ];
    assert_eq!(
        align_notes(&a, &b),
        vec![
            "member 1: mtime 1772600767 vs 1818065472".to_string(),
            "member 1: name \"b.1\" vs absent".to_string(),
        ]
    );
    let a = vec![
        "x.jar!a.txt: DOS time 2027-01-15 08:00:00 -> 1980-01-01 00:00:00".to_string(),
        "readme: DOS time 2027-01-15 08:00:00 -> 1980-01-01 00:00:00".to_string(),
    ];
    let b = vec![
        "readme: DOS time 2030-03-17 17:46:40 -> 1980-01-01 00:00:00".to_string(),
        "x.jar!a.txt: DOS time 2030-03-17 17:46:40 -> 1980-01-01 00:00:00".to_string(),
    ];
    assert_eq!(
        align_notes(&a, &b),
        vec![
            "x.jar!a.txt: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
            "readme: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
        ]
    );
}

#[test]
fn dates_are_read_in_their_usual_forms() {
    let t = days_from_civil(2026, 3, 4) * 86_400 + 5 * 3600 + 6 * 60 + 7;
    assert_eq!(Civil::utc(t), "2026-03-04 05:06:07 UTC");
    for text in [
        &b"built 2026-03-04 05:06:07 here"[..],
        b"Wed Mar  4 05:06:07 UTC 2026",
        b"at 1772600767.",
    ] {
        let found = timestamps(text);
        assert!(
            found.iter().any(|(x, _)| *x == t),
            "{:?}: {found:?}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn binary_diffs_show_offsets_and_text_diffs_show_lines() {
    let d = raw_diff(b"\x00\x01\x02\x03", b"\x00\x01\xff\x03");
    assert!(d[0].starts_with("offset 0x2:"), "{d:?}");
    let d = raw_diff(b"a\nb\nc\n", b"a\nB\nc\n");
    assert!(
        d.iter().any(|l| l == "-b") && d.iter().any(|l| l == "+B"),
        "{d:?}"
    );
    let d = raw_diff(b"x\ny\n", b"y\nx\n");
    assert!(d.iter().any(|l| l.contains("another order")), "{d:?}");
}
