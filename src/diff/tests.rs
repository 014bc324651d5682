use super::hints::{days_from_civil, timestamps};
use super::raw::raw_diff;
use super::*;
use crate::dates::Civil;

#[test]
fn changes_pair_by_place_and_field() {
    use crate::handler::Change;
    let a = vec![
        Change::set("member 1", "mtime", 1_772_600_767, 315_532_800),
        Change::gone("member 1", "name", "\"b.1\"", "dropped"),
        Change::gone("member 2", "comment", "", "dropped"),
    ];
    let b = vec![
        Change::set("member 1", "mtime", 1_818_065_472, 315_532_800),
        Change::gone("member 2", "comment", "", "dropped"),
        Change::set("member 3", "mtime", 5, 1),
    ];
    assert_eq!(
        align_notes(&a, &b),
        vec![
            "member 1: mtime 1772600767 vs 1818065472".to_string(),
            "member 1: name \"b.1\" vs absent".to_string(),
            "member 3: mtime absent vs 5".to_string(),
        ]
    );
    // The same field inside another member does not pair; nested changes
    // pair with their own member's.
    let dos = |member: Option<&str>, place: &str, t: &str| {
        let c = Change::set(place, "DOS time", t, "1980-01-01 00:00:00");
        member.map_or(c.clone(), |m| c.inside(m))
    };
    let a = vec![
        dos(Some("x.jar"), "a.txt", "2027-01-15 08:00:00"),
        dos(None, "readme", "2027-01-15 08:00:00"),
    ];
    let b = vec![
        dos(None, "readme", "2030-03-17 17:46:40"),
        dos(Some("x.jar"), "a.txt", "2030-03-17 17:46:40"),
    ];
    assert_eq!(
        align_notes(&a, &b),
        vec![
            "x.jar!a.txt: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
            "readme: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
        ]
    );
    // A field named by its place alone (PDF, ISO 9660 offsets).
    let a = [Change::set("CreationDate at 0x10", "", "D:2026", "D:1980")];
    let b = [Change::set("CreationDate at 0x10", "", "D:2027", "D:1980")];
    assert_eq!(
        align_notes(&a, &b),
        ["CreationDate at 0x10: D:2026 vs D:2027"]
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
