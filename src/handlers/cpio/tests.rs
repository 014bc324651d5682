use std::io::Write;
use std::path::Path;

use super::header::sum;
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
            (bytes, changes.iter().map(ToString::to_string).collect())
        }
        Outcome::Unchanged => panic!("expected a rewrite"),
    }
}

fn entries(archive: &[u8]) -> Vec<Entry> {
    parse(&archive)
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
    let get = |i: usize, f: Field| es[i].get(f);
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
    assert!(es[4].is_trailer());
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
            ..file("./y-blk", 6, b"")
        },
        LATE,
    );
    let a = finish(a, "070707");
    let (out, _) = rewritten(&a);
    let es = entries(&out);
    assert_eq!(es[0].get(Field::Ino), 0);
    assert_eq!(es[1].get(Field::Ino), 1);
    assert_eq!(es[0].get(Field::DevMajor), 0);
    assert_eq!(es[1].get(Field::RdevMajor), 0o403);
    assert_eq!(es[0].get(Field::Mtime), EPOCH);
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
    newc(&mut a, "070702", &file("y-after", 4, b"tail"), LATE);
    let a = finish(a, "070702");
    let (out, changes) = rewritten(&a);
    let es = entries(&out);
    let data = &out[es[0].data.clone()];
    assert_eq!(data.len(), gz.len() - "some-name".len() - 1);
    assert_eq!(es[0].get(Field::FileSize), data.len() as u64);
    assert_eq!(es[0].get(Field::Check), u64::from(sum(data)));
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
        es[2].get(Field::Ino),
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

/// A binary (`-H bin`) header and entry, words in `endian` order.
fn bin(out: &mut Vec<u8>, endian: header::Endian, e: &E, mtime: u64) {
    let words: [u64; 13] = [
        0o070_707,
        0o1234,
        e.ino,
        e.mode,
        1000,
        1000,
        e.nlink,
        e.rdev.0,
        mtime >> 16,
        mtime & 0xffff,
        e.name.len() as u64 + 1,
        e.data.len() as u64 >> 16,
        e.data.len() as u64 & 0xffff,
    ];
    for w in words {
        let w = u16::try_from(w).unwrap();
        out.extend_from_slice(&match endian {
            header::Endian::Little => w.to_le_bytes(),
            header::Endian::Big => w.to_be_bytes(),
        });
    }
    out.extend_from_slice(e.name.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(2), 0);
    out.extend_from_slice(e.data);
    out.resize(out.len().next_multiple_of(2), 0);
}

/// The binary trailer as GNU cpio writes it (every word 0 but the magic,
/// `nlink` 1 and `namesize`), padded to 512 bytes.
fn finish_bin(mut out: Vec<u8>, endian: header::Endian) -> Vec<u8> {
    let start = out.len();
    let t = E {
        name: "TRAILER!!!",
        mode: 0,
        ino: 0,
        nlink: 1,
        rdev: (0, 0),
        data: b"",
    };
    bin(&mut out, endian, &t, 0);
    out[start + 2..start + 4].fill(0);
    out[start + 8..start + 12].fill(0);
    out.resize(out.len().next_multiple_of(512), 0);
    out
}

fn dir(name: &str, ino: u64) -> E<'_> {
    E {
        mode: 0o040_755,
        nlink: 2,
        ..file(name, ino, b"")
    }
}

fn names(archive: &[u8]) -> Vec<String> {
    entries(archive)
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect()
}

#[test]
fn binary_archives_of_both_byte_orders_are_normalized() {
    use header::Endian::{Big, Little};
    // A time above 2^16 so both words of the two-word fields matter.
    let late = 0x0123_4567;
    let epoch = 0x0012_3456;
    let data = vec![7u8; 70_001];
    for endian in [Little, Big] {
        let mut a = Vec::new();
        bin(&mut a, endian, &file("big", 4000, &data), late);
        bin(&mut a, endian, &file("odd-name", 4001, b"abc"), late);
        let dev = E {
            mode: 0o020_600,
            rdev: (0x0405, 0),
            ..file("tty", 4002, b"")
        };
        bin(&mut a, endian, &dev, late);
        let a = finish_bin(a, endian);
        assert!(Cpio.sniff(&a, &Config::default().context(Path::new("x"))));
        let cfg = Config::with_epoch(epoch);
        let Outcome::Rewritten { bytes: out, .. } =
            Cpio.normalize(&a, &cfg.context(Path::new("x"))).unwrap()
        else {
            panic!("{endian:?}: expected a rewrite")
        };
        assert_eq!(out.len(), a.len(), "{endian:?}");
        let es = entries(&out);
        assert!(es.iter().all(|e| e.format == Format::Bin(endian)));
        assert_eq!(names(&out), ["big", "odd-name", "tty", "TRAILER!!!"]);
        let get = |i: usize, f: Field| es[i].get(f);
        assert_eq!([0, 1, 2].map(|i| get(i, Field::Mtime)), [epoch; 3]);
        assert_eq!([0, 1, 2].map(|i| get(i, Field::Ino)), [0, 1, 2]);
        for i in 0..3 {
            for f in [Field::Uid, Field::Gid, Field::DevMajor] {
                assert_eq!(get(i, f), 0, "{endian:?} entry {i} {f:?}");
            }
        }
        assert_eq!(get(2, Field::RdevMajor), 0x0405, "device kept");
        assert_eq!(get(0, Field::FileSize), 70_001);
        assert_eq!(&out[es[0].data.clone()], &data[..]);
        assert_eq!(&out[es[1].data.clone()], b"abc");
        // Most significant word first, each word in the archive's order.
        let h = es[0].header();
        let want: [u8; 4] = match endian {
            Little => [0x12, 0x00, 0x56, 0x34],
            Big => [0x00, 0x12, 0x34, 0x56],
        };
        assert_eq!(h[16..20], want, "{endian:?} mtime words");
        let size: [u8; 4] = match endian {
            Little => [0x01, 0x00, 0x71, 0x11],
            Big => [0x00, 0x01, 0x11, 0x71],
        };
        assert_eq!(h[22..26], size, "{endian:?} size words");
        assert_eq!(
            Cpio.normalize(&out, &cfg.context(Path::new("x"))).unwrap(),
            Outcome::Unchanged
        );
    }
}

#[test]
fn binary_sniffing_wants_a_plausible_first_header() {
    use header::Endian::Little;
    let ctx_cfg = Config::default();
    let ctx = ctx_cfg.context(Path::new("x"));
    let mut a = Vec::new();
    bin(&mut a, Little, &file("f", 1, b"x"), 5);
    let a = finish_bin(a, Little);
    assert!(Cpio.sniff(&a, &ctx));
    assert!(
        Cpio.sniff(&finish_bin(Vec::new(), Little), &ctx),
        "empty archive"
    );
    let mut bad_type = a.clone();
    bad_type[6..8].copy_from_slice(&0o070_644u16.to_le_bytes());
    assert!(!Cpio.sniff(&bad_type, &ctx));
    let mut no_nul = a.clone();
    no_nul[27] = b'x';
    assert!(!Cpio.sniff(&no_nul, &ctx));
    assert!(!Cpio.sniff(&a[..20], &ctx), "short header");
    let mut other = vec![0xc7, 0x71];
    other.extend_from_slice(&[0xff; 64]);
    assert!(!Cpio.sniff(&other, &ctx));
}

#[test]
fn entries_are_sorted_component_wise_with_directories_first_and_renumbered() {
    let build = |order: &[usize], ino: u64| {
        let all = [
            dir(".", 1),
            dir("./a", 2),
            file("./a.b", 3, b"AB"),
            file("./a/z", 4, b"Z"),
            dir("./a/d", 5),
            file("./a/d/f", 6, b"F"),
            file("./b", 7, b"B"),
        ];
        let mut a = Vec::new();
        for &i in order {
            let e = &all[i];
            newc(
                &mut a,
                "070701",
                &E {
                    ino: ino + e.ino,
                    ..*e
                },
                LATE,
            );
        }
        finish(a, "070701")
    };
    let sorted = build(&[0, 1, 2, 3, 4, 5, 6], 100);
    let reversed = build(&[6, 5, 4, 3, 2, 1, 0], 9000);
    let (x, changes) = rewritten(&sorted);
    let (y, _) = rewritten(&reversed);
    assert_eq!(x, y, "two listing orders converge");
    // `a/...` before `a.b`: `/` is the smallest separator, compared by component.
    assert_eq!(
        names(&x),
        [
            ".",
            "./a",
            "./a/d",
            "./a/d/f",
            "./a/z",
            "./a.b",
            "./b",
            "TRAILER!!!"
        ]
    );
    let es = entries(&x);
    let inos: Vec<u64> = es[..7].iter().map(|e| e.get(Field::Ino)).collect();
    assert_eq!(inos, [0, 1, 2, 3, 4, 5, 6], "numbered in output order");
    assert!(
        changes.iter().any(|c| c.starts_with("entries sorted")),
        "{changes:?}"
    );
    assert_eq!(&x[es[3].data.clone()], b"F");
}

#[test]
fn newc_hard_link_data_moves_to_the_last_link_in_the_new_order() {
    for magic in ["070701", "070702"] {
        // Listed z, a, m: GNU cpio wrote the data with "m", the last one.
        let link = |name, data| E {
            nlink: 3,
            ..file(name, 50, data)
        };
        let mut a = Vec::new();
        newc(&mut a, magic, &link("z", b""), LATE);
        newc(&mut a, magic, &link("a", b""), LATE);
        newc(&mut a, magic, &file("b", 51, b"other"), LATE);
        newc(&mut a, magic, &link("m", b"shared"), LATE);
        let a = finish(a, magic);
        let (out, changes) = rewritten(&a);
        assert_eq!(names(&out), ["a", "b", "m", "z", "TRAILER!!!"]);
        let es = entries(&out);
        let data: Vec<&[u8]> = es.iter().map(|e| &out[e.data.clone()]).collect();
        assert_eq!(data[..4], [&b""[..], b"other", b"", b"shared"], "{magic}");
        assert_eq!(es[3].get(Field::FileSize), 6);
        assert_eq!(es[2].get(Field::FileSize), 0);
        let ino: Vec<u64> = es[..4].iter().map(|e| e.get(Field::Ino)).collect();
        assert_eq!(ino, [0, 1, 0, 0], "links share a number");
        if magic == "070702" {
            assert_eq!(es[3].get(Field::Check), u64::from(sum(b"shared")));
            assert_eq!(es[2].get(Field::Check), 0);
        }
        assert!(
            changes.contains(&"z: carries the data of its hard links (was with m)".to_string()),
            "{changes:?}"
        );
    }
}

#[test]
fn odc_and_binary_hard_links_each_keep_the_data() {
    let link = |name, data| E {
        nlink: 2,
        ..file(name, 50, data)
    };
    let mut o = Vec::new();
    odc(&mut o, &link("z", b"same"), LATE);
    odc(&mut o, &link("a", b"same"), LATE);
    let o = finish(o, "070707");
    let mut b = Vec::new();
    bin(&mut b, header::Endian::Little, &link("z", b"same"), LATE);
    bin(&mut b, header::Endian::Little, &link("a", b"same"), LATE);
    let b = finish_bin(b, header::Endian::Little);
    for a in [o, b] {
        let (out, _) = rewritten(&a);
        assert_eq!(names(&out), ["a", "z", "TRAILER!!!"]);
        let es = entries(&out);
        assert_eq!(&out[es[0].data.clone()], b"same");
        assert_eq!(&out[es[1].data.clone()], b"same");
        assert_eq!(es[0].get(Field::Ino), es[1].get(Field::Ino));
    }
}

/// Archives whose meaning could depend on their order keep it.
#[test]
fn the_order_is_kept_when_sorting_could_change_what_is_extracted() {
    let link = |name, nlink, data| E {
        nlink,
        ..file(name, 50, data)
    };
    let symlink = E {
        mode: 0o120_777,
        ..file("lib", 9, b"usr/lib")
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("z", 1, b"1"), LATE);
    newc(&mut a, "070701", &file("a", 2, b"2"), LATE);
    newc(&mut a, "070701", &file("z", 3, b"3"), LATE);
    cases.push(("same name twice", finish(a, "070701")));
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("lib/x", 1, b"1"), LATE);
    newc(&mut a, "070701", &symlink, LATE);
    cases.push(("entry under a symlink", finish(a, "070701")));
    let mut a = Vec::new();
    newc(&mut a, "070701", &link("z", 2, b"one"), LATE);
    newc(&mut a, "070701", &link("a", 2, b"two"), LATE);
    cases.push(("newc links with different data", finish(a, "070701")));
    let mut a = Vec::new();
    odc(&mut a, &link("z", 2, b"one"), LATE);
    odc(&mut a, &link("a", 2, b""), LATE);
    cases.push(("odc links with different data", finish(a, "070707")));
    let mut a = Vec::new();
    newc(&mut a, "070701", &file("z", 1, b"1"), LATE);
    odc(&mut a, &file("a", 2, b"2"), LATE);
    cases.push(("mixed formats", finish(a, "070707")));
    for (what, a) in cases {
        let before = names(&a);
        let (out, changes) = rewritten(&a);
        assert_eq!(names(&out), before, "{what}");
        assert!(
            !changes.iter().any(|c| c.starts_with("entries sorted")),
            "{what}: {changes:?}"
        );
        let data = |x: &[u8]| -> Vec<Vec<u8>> {
            entries(x)
                .iter()
                .map(|e| x[e.data.clone()].to_vec())
                .collect()
        };
        assert_eq!(data(&out), data(&a), "{what}: data stays where it was");
    }
}

#[test]
fn an_inode_number_that_does_not_fit_leaves_the_archive_alone() {
    let mut a = Vec::new();
    // 65537 distinct (dev, inode) pairs: a 16-bit inode field holds 65536.
    for i in 0..=65_536u64 {
        let name = format!("f{i:05}");
        let start = a.len();
        bin(
            &mut a,
            header::Endian::Little,
            &file(&name, i & 0xffff, b""),
            5,
        );
        a[start + 2..start + 4].copy_from_slice(&u16::try_from(i >> 16).unwrap().to_le_bytes());
    }
    let a = finish_bin(a, header::Endian::Little);
    assert!(
        matches!(run(&a), Err(FormatError::Unsupported(m)) if m.contains("16-bit")),
        "{:?}",
        run(&a).map(|_| ())
    );
}

/// Links whose bytes differ only in what a nested handler normalizes (here
/// a gzip header's time) count as carrying the same data, so the output,
/// whose links then hold equal bytes, is a fixed point.
#[test]
fn links_are_compared_as_they_will_be_written() {
    let gz = |mtime: u64| {
        let mut w = flate2::GzBuilder::new()
            .mtime(u32::try_from(mtime).unwrap())
            .write(Vec::new(), flate2::Compression::default());
        w.write_all(b"same text").unwrap();
        w.finish().unwrap()
    };
    let (one, two) = (gz(LATE), gz(LATE + 1));
    assert_ne!(one, two);
    let link = |name, data| E {
        nlink: 2,
        ..file(name, 50, data)
    };
    let mut n = Vec::new();
    newc(&mut n, "070701", &link("z.gz", &one), LATE);
    newc(&mut n, "070701", &link("a.gz", &two), LATE);
    let n = finish(n, "070701");
    let mut o = Vec::new();
    odc(&mut o, &link("z.gz", &one), LATE);
    odc(&mut o, &link("a.gz", &two), LATE);
    let o = finish(o, "070707");
    for (a, carriers) in [(n, 1), (o, 2)] {
        let (out, changes) = rewritten(&a);
        assert_eq!(names(&out), ["a.gz", "z.gz", "TRAILER!!!"], "{changes:?}");
        let es = entries(&out);
        let with_data: Vec<&[u8]> = es[..2]
            .iter()
            .map(|e| &out[e.data.clone()])
            .filter(|d| !d.is_empty())
            .collect();
        assert_eq!(with_data.len(), carriers);
        assert!(with_data.iter().all(|d| *d == with_data[0]));
    }
}
