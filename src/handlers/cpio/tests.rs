use std::io::Write;
use std::path::Path;

use super::*;
use crate::config::Config;

const EPOCH: u64 = 1_000_000;
const LATE: u64 = 2_000_000;

/// What a build leaves in one entry.
struct E<'a> {
    name: &'a str,
    mode: u64,
    ino: u64,
    nlink: u64,
    rdev: (u64, u64),
    data: &'a [u8],
}

fn file<'a>(name: &'a str, ino: u64, data: &'a [u8]) -> E<'a> {
    E {
        name,
        mode: 0o100_644,
        ino,
        nlink: 1,
        rdev: (0, 0),
        data,
    }
}

fn newc(out: &mut Vec<u8>, magic: &str, e: &E, mtime: u64) {
    let check = if magic == "070702" { sum(e.data) } else { 0 };
    let h = format!(
        "{magic}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
        e.ino,
        e.mode,
        1000,
        1000,
        e.nlink,
        mtime,
        e.data.len(),
        8,
        1,
        e.rdev.0,
        e.rdev.1,
        e.name.len() + 1,
        check
    );
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(e.name.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(e.data);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn odc(out: &mut Vec<u8>, e: &E, mtime: u64) {
    let h = format!(
        "070707{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:011o}{:06o}{:011o}",
        0o1234,
        e.ino,
        e.mode,
        1000,
        1000,
        e.nlink,
        e.rdev.0,
        mtime,
        e.name.len() + 1,
        e.data.len()
    );
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(e.name.as_bytes());
    out.push(0);
    out.extend_from_slice(e.data);
}

/// The trailer as GNU cpio writes it, and the padding to 512 bytes.
fn finish(mut out: Vec<u8>, magic: &str) -> Vec<u8> {
    let t = E {
        name: "TRAILER!!!",
        mode: 0,
        ino: 0,
        nlink: 1,
        rdev: (0, 0),
        data: b"",
    };
    if magic == "070707" {
        odc(&mut out, &t, 0);
        // GNU cpio's odc trailer has dev 0 too.
        let at = out.len() - 76 - 11;
        out[at + 6..at + 12].copy_from_slice(b"000000");
        out[at + 24..at + 36].copy_from_slice(b"000000000000");
    } else {
        let start = out.len();
        newc(&mut out, magic, &t, 0);
        let zeros = "00000000".repeat(2);
        out[start + 6 + 16..start + 6 + 32].copy_from_slice(zeros.as_bytes());
        out[start + 6 + 56..start + 6 + 72].copy_from_slice(zeros.as_bytes());
    }
    out.resize(out.len().next_multiple_of(512), 0);
    out
}

fn run(input: &[u8]) -> Result<Outcome, FormatError> {
    let cfg = Config::with_epoch(EPOCH);
    Cpio.normalize(input, &cfg.context(Path::new("x.cpio")))
}

fn rewritten(input: &[u8]) -> (Vec<u8>, Vec<String>) {
    match run(input).unwrap() {
        Outcome::Rewritten { bytes, changes } => {
            assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged, "not idempotent");
            (bytes, changes)
        }
        Outcome::Unchanged => panic!("expected a rewrite"),
    }
}

fn entries(archive: &[u8]) -> Vec<Entry> {
    parse(archive)
        .unwrap()
        .into_iter()
        .filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            Item::Padding(_) => None,
        })
        .collect()
}

#[test]
fn newc_entries_get_clamped_times_zero_owners_and_renumbered_inodes() {
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("a", 900, b"A"), LATE);
    newc(
        &mut a,
        "070701",
        &E {
            nlink: 2,
            ..file("b", 77, b"")
        },
        LATE,
    );
    newc(
        &mut a,
        "070701",
        &E {
            nlink: 2,
            ..file("c", 77, b"BC")
        },
        5,
    );
    let dev = E {
        mode: 0o020_644,
        rdev: (4, 64),
        ..file("tty", 12, b"")
    };
    newc(&mut a, "070701", &dev, LATE);
    let a = finish(a, "070701");
    let (out, changes) = rewritten(&a);
    assert_eq!(out.len(), a.len());
    let es = entries(&out);
    let get = |i: usize, f: Field| es[i].get(&out, f);
    assert_eq!(
        [0, 1, 2, 3].map(|i| get(i, Field::Ino)),
        [0, 1, 1, 2],
        "links share"
    );
    assert_eq!(
        [0, 1, 2, 3].map(|i| get(i, Field::Mtime)),
        [EPOCH, EPOCH, 5, EPOCH]
    );
    for i in 0..4 {
        for f in [Field::Uid, Field::Gid, Field::DevMajor, Field::DevMinor] {
            assert_eq!(get(i, f), 0, "entry {i} {f:?}");
        }
    }
    assert_eq!(
        (get(3, Field::RdevMajor), get(3, Field::RdevMinor)),
        (4, 64),
        "device kept"
    );
    assert_eq!(&out[es[2].data.clone()], b"BC");
    assert!(es[4].is_trailer(&out));
    assert_eq!(
        &out[es[4].start..],
        &a[es[4].start..],
        "trailer and padding kept"
    );
    assert!(
        changes.contains(&format!("a: mtime {LATE} -> {EPOCH}")),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"c: ino 77 -> 1".to_string()),
        "{changes:?}"
    );
}

#[test]
fn odc_entries_are_normalized_too() {
    let mut a = Vec::new();
    odc(&mut a, &file("./x", 5, b"xyz"), LATE);
    odc(
        &mut a,
        &E {
            mode: 0o060_600,
            rdev: (0o403, 0),
            ..file("./blk", 6, b"")
        },
        LATE,
    );
    let a = finish(a, "070707");
    let (out, _) = rewritten(&a);
    let es = entries(&out);
    assert_eq!(es[0].get(&out, Field::Ino), 0);
    assert_eq!(es[1].get(&out, Field::Ino), 1);
    assert_eq!(es[0].get(&out, Field::DevMajor), 0);
    assert_eq!(es[1].get(&out, Field::RdevMajor), 0o403);
    assert_eq!(es[0].get(&out, Field::Mtime), EPOCH);
    assert_eq!(&out[es[0].data.clone()], b"xyz");
}

#[test]
fn crc_checksums_and_sizes_follow_a_nested_rewrite() {
    let mut w = flate2::GzBuilder::new()
        .mtime(u32::try_from(LATE).unwrap())
        .filename("some-name")
        .write(Vec::new(), flate2::Compression::default());
    w.write_all(b"hello hello").unwrap();
    let gz = w.finish().unwrap();
    let mut a = Vec::new();
    newc(&mut a, "070702", &file("x.gz", 3, &gz), LATE);
    newc(&mut a, "070702", &file("after", 4, b"tail"), LATE);
    let a = finish(a, "070702");
    let (out, changes) = rewritten(&a);
    let es = entries(&out);
    let data = &out[es[0].data.clone()];
    assert_eq!(data.len(), gz.len() - "some-name".len() - 1);
    assert_eq!(es[0].get(&out, Field::FileSize), data.len() as u64);
    assert_eq!(es[0].get(&out, Field::Check), u64::from(sum(data)));
    assert_eq!(&out[es[1].data.clone()], b"tail");
    assert_eq!(out.len() % 512, 0, "padded again to the block");
    assert!(
        changes.iter().any(|c| c.starts_with("x.gz!member 1:")),
        "{changes:?}"
    );
}

#[test]
fn concatenated_archives_are_each_handled() {
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("one", 1, b"1"), LATE);
    let mut a = finish(a, "070701");
    let mut b = Vec::new();
    newc(&mut b, "070701", &file("two", 1, b"2"), LATE);
    a.extend(finish(b, "070701"));
    let (out, _) = rewritten(&a);
    let es = entries(&out);
    assert_eq!(es.len(), 4);
    assert_eq!(
        es[2].get(&out, Field::Ino),
        0,
        "numbering restarts with each archive"
    );
    let mut junk = a.clone();
    junk.extend_from_slice(b"\x1f\x8b\x08 compressed part");
    assert!(matches!(run(&junk), Err(FormatError::Unsupported(_))));
}

#[test]
fn damage_is_malformed() {
    let mut a = Vec::new();
    newc(&mut a, "070702", &file("f", 1, b"data"), LATE);
    let whole = finish(a.clone(), "070702");
    assert!(matches!(run(&a), Err(FormatError::Malformed(m)) if m.contains("TRAILER")));
    for cut in [50, 115, 120] {
        assert!(
            matches!(run(&whole[..cut]), Err(FormatError::Malformed(_))),
            "cut {cut}"
        );
    }
    let mut bad = whole.clone();
    assert_eq!(&bad[112..116], b"data");
    bad[112] = b'D';
    assert!(matches!(run(&bad), Err(FormatError::Malformed(m)) if m.contains("checksum")));
    let mut nul = whole.clone();
    nul[110 + 1] = b'x';
    assert!(matches!(run(&nul), Err(FormatError::Malformed(m)) if m.contains("NUL")));
    let mut hex = whole;
    hex[8] = b'g';
    assert!(matches!(run(&hex), Err(FormatError::Malformed(_))));
}

#[test]
fn normal_archives_are_unchanged() {
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("f", 0, b"x"), 5);
    let mut a = finish(a, "070701");
    // newc() writes uid/gid 1000 and dev 8:1; zero them as a normalized file has.
    a[6 + 16..6 + 32].copy_from_slice("0".repeat(16).as_bytes());
    a[6 + 56..6 + 72].copy_from_slice("0".repeat(16).as_bytes());
    assert_eq!(run(&a).unwrap(), Outcome::Unchanged);
}

#[test]
fn members_are_the_files_with_data_in_stored_order() {
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("z", 1, b"Z"), LATE);
    newc(
        &mut a,
        "070701",
        &E {
            mode: 0o040_755,
            ..file("d", 2, b"")
        },
        LATE,
    );
    newc(&mut a, "070701", &file("a", 3, b"A"), LATE);
    let a = finish(a, "070701");
    let cfg = Config::with_epoch(EPOCH);
    let got = Cpio
        .members(&a, &cfg.context(Path::new("x.cpio")))
        .unwrap()
        .unwrap();
    let got: Vec<(&str, &[u8])> = got
        .iter()
        .map(|m| (m.name.as_str(), &m.bytes[..]))
        .collect();
    assert_eq!(got, [("z", &b"Z"[..]), ("a", &b"A"[..])]);
}
