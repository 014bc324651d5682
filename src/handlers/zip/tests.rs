use std::io::Write;
use std::path::Path;

use flate2::{Compression, GzBuilder};

use super::dostime::{DOS_FLOOR, DosTime, clamp_unix};
use super::fields::le32;
use super::manifest::clean_manifest;
use super::plan::ut_mtimes;
use super::zipgen::{self, Member, Options};
use super::*;
use crate::config::Config;

const EPOCH: u64 = 1_000_000_000; // 2001-09-09 01:46:40
const LATE: u64 = 1_700_000_000; // 2023-11-14
const LATER: u64 = 1_800_000_000; // 2027-01-15

fn run_with(input: &[u8], cfg: &Config) -> Result<Outcome, FormatError> {
    Zip.normalize(input, &cfg.context(Path::new("t.zip")))
}

fn run(input: &[u8]) -> Result<Outcome, FormatError> {
    run_with(input, &Config::with_epoch(EPOCH))
}

/// The normalized bytes, checking that they are a fixed point.
fn out(input: &[u8]) -> Vec<u8> {
    let bytes = run(input).unwrap().bytes(input).to_vec();
    assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged, "not idempotent");
    bytes
}

fn changes(input: &[u8]) -> Vec<String> {
    match run(input).unwrap() {
        Outcome::Rewritten { changes, .. } => changes.iter().map(ToString::to_string).collect(),
        Outcome::Unchanged => Vec::new(),
    }
}

fn gz(data: &[u8], mtime: u32) -> Vec<u8> {
    let mut w = GzBuilder::new()
        .mtime(mtime)
        .filename("inner")
        .write(Vec::new(), Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn members(t: u64) -> Vec<Member> {
    vec![
        Member::dir("doc/", t),
        Member::file("doc/a.txt", &b"alpha ".repeat(500), t),
        Member {
            mode: 0o100_775,
            ..Member::file("bin/run", b"#!/bin/sh\necho hi\n", t)
        },
        Member {
            mode: 0o120_777,
            deflate: false,
            ..Member::file("link", b"doc/a.txt", t)
        },
    ]
}

fn noisy(uid: u32) -> Options {
    Options {
        timestamps: true,
        ids: Some((uid, uid)),
        made_by: 30,
        comment: b"archive comment".to_vec(),
        ..Options::default()
    }
}

#[test]
fn sniffs_magic_and_visible_prefixes_only() {
    let cfg = Config::default();
    let ctx = cfg.context(Path::new("x"));
    let zip = zipgen::build(&members(LATE), &Options::default());
    assert!(Zip.sniff(&zip, &ctx));
    assert!(Zip.sniff(&zipgen::build(&[], &Options::default()), &ctx));
    let mut app = b"#!/usr/bin/env python3\n".to_vec();
    app.extend_from_slice(&zip);
    assert!(Zip.sniff(&app, &ctx));
    let mut exe = b"MZ\x90\0".to_vec();
    exe.extend_from_slice(&[0; 200]);
    assert!(
        !Zip.sniff(&exe, &ctx),
        "a PE without a visible zip is not ours"
    );
    exe.extend_from_slice(&zip);
    assert!(Zip.sniff(&exe, &ctx));
    assert!(!Zip.sniff(b"#!/bin/sh\necho PK\n", &ctx));
    assert!(
        !Zip.sniff(b"hello PK\x03\x04", &ctx),
        "no prefix but #! and MZ"
    );
}

#[test]
fn dos_times_convert_both_ways_and_clamp_with_a_floor() {
    for t in [
        DOS_FLOOR,
        951_782_400, /* 2000-02-29 */
        LATE,
        4_354_819_198, /* 2107-12-31 23:59:58 */
    ] {
        let d = DosTime::from_unix(t);
        assert_eq!(d.unix(), Some(t), "{d}");
    }
    assert_eq!(
        DosTime::from_unix(LATE + 1).unix(),
        Some(LATE),
        "2-second resolution"
    );
    assert_eq!(
        DosTime::from_unix(951_782_400).to_string(),
        "2000-02-29 00:00:00"
    );
    let cfg = Config::with_epoch(EPOCH + 1);
    let ctx = cfg.context(Path::new("x"));
    let late = DosTime::from_unix(LATE);
    assert_eq!(
        late.clamped(&ctx).unix(),
        Some(EPOCH),
        "odd epoch rounds down"
    );
    let early = DosTime::from_unix(EPOCH - 10);
    assert_eq!(early.clamped(&ctx), early, "earlier times stay");
    let cfg = Config::with_epoch(0);
    assert_eq!(late.clamped(&cfg.context(Path::new("x"))), DosTime::FLOOR);
    assert_eq!(DosTime::FLOOR.unix(), Some(DOS_FLOOR));
    assert_eq!(DosTime::FLOOR.to_string(), "1980-01-02 02:00:00");
    // The first DOS day is below the floor: east of UTC it extracts to 1979.
    let first_day = DosTime::from_unix(315_532_800 + 12 * 3600);
    assert_eq!(first_day.clamped(&ctx), DosTime::FLOOR);
    let cfg = Config::with_epoch(0);
    let zero = cfg.context(Path::new("x"));
    assert_eq!(
        clamp_unix(1_700_000_000, &zero),
        DOS_FLOOR as u32,
        "UT floor"
    );
    assert_eq!(clamp_unix(0, &ctx), DOS_FLOOR as u32);
    assert_eq!(
        clamp_unix(LATE as u32, &ctx),
        EPOCH as u32 + 1,
        "UT keeps odd seconds"
    );
    for bad in [
        DosTime { date: 0, time: 0 },
        DosTime {
            date: 0x21,
            time: 24 << 11,
        },
        DosTime {
            date: (2 << 5) | 0x1e,
            time: 0,
        },
    ] {
        assert_eq!(bad.unix(), None);
        assert_eq!(bad.clamped(&ctx), DosTime::FLOOR);
    }
}

#[test]
fn two_builds_at_different_times_orders_and_users_converge() {
    let a = zipgen::build(&members(LATE), &noisy(0));
    let mut m = members(LATER);
    m.reverse();
    let b = zipgen::build(&m, &noisy(1000));
    assert_ne!(a, b);
    let (na, nb) = (out(&a), out(&b));
    assert!(na == nb, "the two builds do not converge");
    assert!(na.len() < a.len(), "uid/gid fields and atime/ctime dropped");
    let read = zipgen::read(&na);
    let names: Vec<&[u8]> = read.iter().map(|(n, _, _)| &n[..]).collect();
    assert_eq!(names, [&b"bin/run"[..], b"doc/", b"doc/a.txt", b"link"]);
    for (name, data, mode) in read {
        let orig = members(LATE).into_iter().find(|m| m.name == name).unwrap();
        assert_eq!(data, orig.data, "payload of {}", show(&name));
        let want = match orig.mode & S_IFMT {
            0o120_000 => 0o120_777,
            0o040_000 => 0o40_755,
            _ if orig.mode & 0o100 != 0 => 0o100_755,
            _ => 0o100_644,
        };
        assert_eq!(mode, want, "mode of {}", show(&name));
    }
    assert!(na.ends_with(b"archive comment"), "comment kept");
    let ch = changes(&a);
    for want in [
        "central directory: entries sorted by name",
        "doc/a.txt: DOS time 2023-11-14 22:13:20 -> 2001-09-09 01:46:40",
        "doc/a.txt: extended timestamp mtime 1700000000 -> 1000000000",
        "doc/a.txt: extended timestamp: access and creation times dropped",
        "doc/a.txt: Info-ZIP uid/gid extra field (0x7875) dropped",
        "doc/a.txt: version made by 0x031e -> 0x0314",
        "bin/run: external attributes 0x81fd0000 -> 0x81ed0000",
    ] {
        assert!(ch.iter().any(|c| c == want), "no {want:?} in {ch:#?}");
    }
}

#[test]
fn a_normal_archive_is_unchanged_and_earlier_times_stay() {
    let early = zipgen::build(&members(EPOCH - 100), &Options::default());
    let n = out(&early);
    assert_eq!(run(&n).unwrap(), Outcome::Unchanged);
    let sorted = zipgen::build(
        &{
            let mut m = members(EPOCH - 100);
            m.sort_by(|a, b| a.name.cmp(&b.name));
            m[0].mode = 0o100_755; // bin/run, as normalized
            m
        },
        &Options {
            made_by: 20,
            ..Options::default()
        },
    );
    assert_eq!(
        run(&sorted).unwrap(),
        Outcome::Unchanged,
        "{:?}",
        changes(&sorted)
    );
}

#[test]
fn jar_manifest_first_and_mimetype_first_stay_first() {
    let jar = zipgen::build(
        &[
            Member::file("a/B.class", b"cafe", LATE),
            Member::file(
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\r\n\r\n",
                LATE,
            ),
            Member::dir("META-INF/", LATE),
            Member::file("A.class", b"babe", LATE),
        ],
        &Options::default(),
    );
    let names: Vec<Vec<u8>> = zipgen::read(&out(&jar)).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            &b"META-INF/"[..],
            b"META-INF/MANIFEST.MF",
            b"A.class",
            b"a/B.class"
        ]
    );
    // Java finds the manifest whatever its case; it must still come first.
    let lower = zipgen::build(
        &[
            Member::file("A.class", b"babe", LATE),
            Member::file("meta-inf/manifest.mf", b"Manifest-Version: 1.0\n", LATE),
        ],
        &Options::default(),
    );
    let names: Vec<Vec<u8>> = zipgen::read(&out(&lower))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, [&b"meta-inf/manifest.mf"[..], b"A.class"]);
    let epub = zipgen::build(
        &[
            Member {
                deflate: false,
                ..Member::file("mimetype", b"application/epub+zip", LATE)
            },
            Member::file("META-INF/container.xml", b"<container/>", LATE),
            Member::file("EPUB/a.xhtml", b"<html/>", LATE),
        ],
        &Options::default(),
    );
    let n = out(&epub);
    assert_eq!(
        &n[30..38],
        b"mimetype",
        "mimetype is still the first local header"
    );
    let names: Vec<Vec<u8>> = zipgen::read(&n).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [&b"mimetype"[..], b"EPUB/a.xhtml", b"META-INF/container.xml"]
    );
}

#[test]
fn manifest_build_attributes_are_dropped_with_their_continuations() {
    let manifest = b"Manifest-Version: 1.0\r\n\
Created-By: Maven JAR Plugin 3.3.0\r\n\
Built-By: alice\r\n\
Bnd-LastModified: 1700000000000\r\n\
Build-Jdk-Spec: 17\r\n\
Class-Path: lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jar\r\n \
lib/b.jar\r\n\
build-date: 2023-11-14T22:13:20Z and a long value that needs a continua\r\n \
tion line\r\n\
\r\n\
Name: a/B.class\r\n\
Built-By: bob\r\n\
SHA-256-Digest: abc\r\n\
\r\n";
    let want = b"Manifest-Version: 1.0\r\n\
Created-By: Maven JAR Plugin 3.3.0\r\n\
Build-Jdk-Spec: 17\r\n\
Class-Path: lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jar\r\n \
lib/b.jar\r\n\
\r\n\
Name: a/B.class\r\n\
SHA-256-Digest: abc\r\n\
\r\n";
    let (cleaned, dropped) = clean_manifest(manifest).unwrap();
    assert_eq!(
        String::from_utf8(cleaned.clone()).unwrap(),
        String::from_utf8(want.to_vec()).unwrap()
    );
    assert_eq!(
        dropped,
        ["Built-By", "Bnd-LastModified", "build-date", "Built-By"]
    );
    assert_eq!(clean_manifest(&cleaned), None);
    assert_eq!(clean_manifest(b"Built-By: x\n"), None, "not a manifest");

    let jar = zipgen::build(
        &[
            Member::dir("META-INF/", EPOCH),
            Member::file("META-INF/MANIFEST.MF", manifest, EPOCH),
        ],
        &Options::default(),
    );
    let n = out(&jar);
    assert_eq!(zipgen::read(&n)[1].1, want);
    assert!(
        changes(&jar).contains(&"META-INF/MANIFEST.MF: attribute Built-By dropped".to_string())
    );
}

#[test]
fn nested_members_are_normalized_and_recompressed_deterministically() {
    let inner = |t| zipgen::build(&members(t), &noisy(5));
    let outer = |t| {
        zipgen::build(
            &[
                Member::file("lib/inner.jar", &inner(t), t),
                Member {
                    deflate: false,
                    ..Member::file("stored.jar", &inner(t), t)
                },
                Member::file("x.gz", &gz(&b"payload ".repeat(100), t as u32), t),
                Member {
                    descriptor: true,
                    ..Member::file("y.gz", &gz(b"more", t as u32), t)
                },
            ],
            &Options::default(),
        )
    };
    let (a, b) = (outer(LATE), outer(LATER));
    let na = out(&a);
    assert!(na == out(&b), "nested builds do not converge");
    let read = zipgen::read(&na);
    assert_eq!(read[0].1, out(&inner(LATE)), "the nested jar is normalized");
    assert_eq!(read[1].1, out(&inner(LATE)), "a stored nested jar too");
    let gz_out = crate::handlers::gzip::Gzip
        .normalize(
            &gz(&b"payload ".repeat(100), LATE as u32),
            &Config::with_epoch(EPOCH).context(Path::new("x.gz")),
        )
        .unwrap();
    assert_eq!(
        read[2].1,
        gz_out.bytes(&[]),
        "the nested gzip is normalized"
    );
    let ch = changes(&a);
    assert!(
        ch.iter()
            .any(|c| c.starts_with("lib/inner.jar!doc/a.txt: DOS time")),
        "{ch:#?}"
    );
    assert!(
        ch.iter().any(|c| c.starts_with("x.gz!member 1: mtime")),
        "{ch:#?}"
    );
    // The stored member stays stored, the deflated one is deflated again.
    let arch = Archive::parse(&na).unwrap();
    let methods: Vec<u16> = arch.entries.iter().map(|e| e.method).collect();
    assert_eq!(methods, [DEFLATED, STORED, DEFLATED, DEFLATED]);
    assert!(arch.entries[3].descriptor.is_some(), "data descriptor kept");
}

#[test]
fn nesting_stops_at_the_depth_limit_and_size_limits() {
    let inner = zipgen::build(&members(LATE), &Options::default());
    let outer = zipgen::build(
        &[Member::file("in.zip", &inner, EPOCH)],
        &Options::default(),
    );
    let mut cfg = Config::with_epoch(EPOCH);
    cfg.settings.max_depth = 0;
    assert_eq!(run_with(&outer, &cfg).unwrap(), Outcome::Unchanged);
    cfg.settings.max_depth = 1;
    assert!(matches!(
        run_with(&outer, &cfg).unwrap(),
        Outcome::Rewritten { .. }
    ));
    cfg.settings.max_size = inner.len() as u64 - 1;
    assert_eq!(
        run_with(&outer, &cfg).unwrap(),
        Outcome::Unchanged,
        "too large to expand"
    );
    // A bomb: 4 MiB of zeros inside a gzip inside a zip, over 1000:1.
    let bomb = zipgen::build(
        &[Member::file(
            "z.gz",
            &gz(&vec![0; 4 << 20], LATE as u32),
            EPOCH,
        )],
        &Options::default(),
    );
    let bomb = zipgen::build(&[Member::file("b.zip", &bomb, EPOCH)], &Options::default());
    assert!(
        matches!(run(&bomb).unwrap(), Outcome::Rewritten { .. }),
        "the gzip is reached"
    );
    let zeros = zipgen::build(
        &[Member::file("z", &vec![0; 8 << 20], EPOCH)],
        &Options::default(),
    );
    let deep = zipgen::build(&[Member::file("d.zip", &zeros, EPOCH)], &Options::default());
    let arch = Archive::parse(&zeros).unwrap();
    assert!(
        arch.entries[0].usize > BOMB_RATIO * arch.entries[0].csize,
        "really a bomb"
    );
    assert_eq!(run(&deep).unwrap(), Outcome::Unchanged);
}

#[test]
fn members_are_not_inflated_whole_unless_claimed() {
    // Corrupt the deflate data well past the first 4096 output bytes of a
    // member nobody claims: an unchanged archive never reads that far.
    let text: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i} ").into_bytes())
        .collect();
    let zip = zipgen::build(&[Member::file("a.txt", &text, EPOCH)], &Options::default());
    let arch = Archive::parse(&zip).unwrap();
    let mut bad = zip.clone();
    let at = arch.entries[0].data.end - 100;
    bad[at..at + 50].fill(0xff);
    assert_eq!(run(&bad).unwrap(), Outcome::Unchanged);
    // The same corruption in a claimed member is found.
    let mut gzipped = gz(&text, 5);
    let at = gzipped.len() - 100;
    gzipped[at..at + 50].fill(0xff);
    let zip = zipgen::build(
        &[Member {
            deflate: false,
            ..Member::file("a.gz", &gzipped, EPOCH)
        }],
        &Options::default(),
    );
    assert_eq!(
        run(&zip).unwrap(),
        Outcome::Unchanged,
        "nested malformed gzip passed through"
    );
}

#[test]
fn prefixes_are_kept_with_either_offset_convention() {
    for relative in [false, true] {
        let o = |uid| Options {
            prefix: b"#!/usr/bin/env python3\n".to_vec(),
            relative_offsets: relative,
            ..noisy(uid)
        };
        let a = zipgen::build(&members(LATE), &o(0));
        let b = zipgen::build(&members(LATER), &o(1000));
        let na = out(&a);
        assert!(na == out(&b));
        assert!(na.starts_with(b"#!/usr/bin/env python3\nPK\x03\x04"));
        let arch = Archive::parse(&na).unwrap();
        assert_eq!(arch.base, if relative { 23 } else { 0 });
        assert_eq!(zipgen::read(&na).len(), 4);
    }
}

#[test]
fn zip64_and_data_descriptors_are_updated() {
    let m = |t| {
        members(t)
            .into_iter()
            .map(|m| Member {
                descriptor: m.deflate,
                ..m
            })
            .chain([Member::file("n.gz", &gz(b"nested", t as u32), t)])
            .collect::<Vec<_>>()
    };
    let o = |uid| Options {
        zip64: true,
        ..noisy(uid)
    };
    let a = zipgen::build(&m(LATE), &o(0));
    let mut rev = m(LATER);
    rev.reverse();
    let b = zipgen::build(&rev, &o(1000));
    let na = out(&a);
    assert!(na == out(&b));
    let arch = Archive::parse(&na).unwrap();
    assert!(arch.zip64.is_some());
    let read = zipgen::read(&na);
    assert_eq!(read.len(), 5);
    assert_eq!(read[2].1, b"alpha ".repeat(500));
}

#[test]
fn empty_archives_are_fine() {
    let empty = zipgen::build(
        &[],
        &Options {
            comment: b"c".to_vec(),
            ..Options::default()
        },
    );
    assert_eq!(run(&empty).unwrap(), Outcome::Unchanged);
    let mut app = b"#!/bin/sh\n".to_vec();
    app.extend_from_slice(&empty);
    assert_eq!(run(&app).unwrap(), Outcome::Unchanged);
}

/// The DOS times (local and central, read as UTC) and UT mtimes of the
/// entry called `name`.
fn entry_times(zip: &[u8], name: &str) -> Vec<u64> {
    let arch = Archive::parse(zip).unwrap();
    let e = arch
        .entries
        .iter()
        .find(|e| arch.name(e) == name.as_bytes())
        .unwrap();
    let mut t: Vec<u64> = [e.local_time, e.central_time]
        .iter()
        .map(|d| d.unix().unwrap())
        .collect();
    for x in [&e.local_extra, &e.central_extra] {
        t.extend(ut_mtimes(&zip[x.clone()]).map(u64::from));
    }
    t
}

/// A timestamp-based `CPython` 3.11 pyc holding `None`.
fn pyc(mtime: u32, size: u32) -> Vec<u8> {
    let mut v = b"\xa7\x0d\x0d\x0a\0\0\0\0".to_vec();
    v.extend_from_slice(&mtime.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    // An empty 3.11 code object: the pyc handler loads only code.
    v.push(b'c');
    v.extend_from_slice(&[0; 20]);
    v.extend_from_slice(b"s\0\0\0\0)\0)\0)\0s\0\0\0\0z\0z\0z\0\0\0\0\0s\0\0\0\0s\0\0\0\0");
    v
}

fn compiled_pairs(t: u64, source_delay: i64) -> Vec<Member> {
    let s = t.saturating_add_signed(source_delay);
    vec![
        Member::file("demo/core.clj", b"(ns demo.core)", s),
        Member::file("demo/core__init.class", b"\xca\xfe\xba\xbe", t),
        Member::file("demo/util.cljc", b"(ns demo.util)", s),
        Member::file("demo/util__init.class", b"\xca\xfe\xba\xbe", t),
        Member::file("pkg/m.py", b"print(1)\n", s),
        Member::file("pkg/__pycache__/m.cpython-311.pyc", &pyc(s as u32, 9), t),
        Member::file(
            "pkg/__pycache__/m.cpython-311.opt-1.pyc",
            &pyc(s as u32, 9),
            t + 60,
        ),
        Member::file("top.py", b"print(2)\n", s),
        Member::file("top.pyc", &pyc(s as u32, 9), t),
        Member::file("alone.clj", b"(ns alone)", t),
        Member::file("Alone.class", b"\xca\xfe\xba\xbe", t),
    ]
}

#[test]
fn sources_stay_strictly_older_than_their_compiled_forms() {
    let pairs = [
        ("demo/core.clj", &["demo/core__init.class"][..]),
        ("demo/util.cljc", &["demo/util__init.class"]),
        (
            "pkg/m.py",
            &[
                "pkg/__pycache__/m.cpython-311.pyc",
                "pkg/__pycache__/m.cpython-311.opt-1.pyc",
            ],
        ),
        ("top.py", &["top.pyc"]),
    ];
    for epoch in [EPOCH, EPOCH + 1, 0, DOS_FLOOR, DOS_FLOOR + 2] {
        let cfg = Config::with_epoch(epoch);
        let run = |z: &[u8]| {
            let ctx = cfg.context(Path::new("t.jar"));
            let n = Zip.normalize(z, &ctx).unwrap().bytes(z).to_vec();
            assert_eq!(Zip.normalize(&n, &ctx).unwrap(), Outcome::Unchanged);
            n
        };
        for ut in [false, true] {
            let o = Options {
                timestamps: ut,
                ..Options::default()
            };
            // Sources written before, with, or (oddly) after their classes.
            let builds: Vec<Vec<u8>> = [(LATE, -60), (LATER, 0), (LATE, 3)]
                .iter()
                .map(|&(t, d)| run(&zipgen::build(&compiled_pairs(t, d), &o)))
                .collect();
            assert!(builds.windows(2).all(|w| w[0] == w[1]), "epoch {epoch}");
            let n = &builds[0];
            for (source, compiled) in pairs {
                let latest = entry_times(n, source).into_iter().max().unwrap();
                assert!(latest >= DOS_FLOOR, "{source} below the floor");
                for c in compiled {
                    let earliest = entry_times(n, c).into_iter().min().unwrap();
                    assert!(
                        latest < earliest,
                        "epoch {epoch}, UT {ut}: {source} at {latest}, {c} at {earliest}"
                    );
                }
            }
            // Without a counterpart, a source and a class keep the plain rule.
            let plain = epoch.max(DOS_FLOOR) & !1;
            assert_eq!(entry_times(n, "alone.clj")[0], plain);
            assert_eq!(entry_times(n, "Alone.class")[0], plain);
        }
    }
    // A source already older than its class keeps its time.
    let early = zipgen::build(&compiled_pairs(EPOCH - 100, -50), &Options::default());
    let n = out(&early);
    assert_eq!(entry_times(&n, "demo/core.clj")[0], EPOCH - 150);
    assert_eq!(entry_times(&n, "demo/core__init.class")[0], EPOCH - 100);
    let ch = changes(&zipgen::build(
        &compiled_pairs(LATE, 0),
        &Options::default(),
    ));
    assert!(
        ch.contains(
            &"demo/core.clj: source of a compiled member: kept strictly older than it".to_string()
        ),
        "{ch:#?}"
    );
}

#[test]
fn a_pyc_member_records_the_time_its_source_member_gets() {
    let zip = zipgen::build(&compiled_pairs(LATE, 0), &Options::default());
    let n = out(&zip);
    for (source, pyc) in [
        ("top.py", "top.pyc"),
        ("pkg/m.py", "pkg/__pycache__/m.cpython-311.pyc"),
    ] {
        let source_time = entry_times(&n, source)[0];
        assert_eq!(source_time, EPOCH - 2);
        let read = zipgen::read(&n);
        let (_, data, _) = read
            .iter()
            .find(|(name, _, _)| name == pyc.as_bytes())
            .unwrap();
        assert_eq!(
            u64::from(le32(data, 8)),
            source_time,
            "{pyc} must record {source}'s DOS time, as zipimport compares them"
        );
    }
    assert!(
        changes(&zip).contains(&format!("top.pyc!source mtime {LATE} -> {}", EPOCH - 2)),
        "{:#?}",
        changes(&zip)
    );
}

#[test]
fn maven_compiler_leftovers_are_dropped_from_jars_only() {
    let files = |t, n: u64| {
        vec![
            Member::file("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", t),
            Member::file("demo/Main.class", b"\xca\xfe\xba\xbe", t),
            Member::file(
                &format!("org.codehaus.plexus.compiler.javac.JavacCompiler{n}arguments"),
                format!("-d /build/{n}/target/classes").as_bytes(),
                t,
            ),
            Member::file("javac.sh", format!("javac @/build/{n}/args").as_bytes(), t),
            Member::file("demo/javac.sh", b"kept: not at the top", t),
            Member::file(
                "org.codehaus.plexus.compiler.javac.JavacCompilerXarguments",
                b"kept: not a number",
                t,
            ),
        ]
    };
    for zip64 in [false, true] {
        let o = Options {
            zip64,
            ..Options::default()
        };
        let a = zipgen::build(&files(LATE, 8_317_664_259_372_871_219), &o);
        let b = zipgen::build(&files(LATER, 42), &o);
        let na = out(&a);
        assert!(na == out(&b), "jars with leftovers do not converge");
        let names: Vec<Vec<u8>> = zipgen::read(&na).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                &b"META-INF/MANIFEST.MF"[..],
                b"demo/Main.class",
                b"demo/javac.sh",
                b"org.codehaus.plexus.compiler.javac.JavacCompilerXarguments"
            ]
        );
        let arch = Archive::parse(&na).unwrap();
        assert_eq!(arch.entries.len(), 4, "entry counts follow");
        assert!(
            changes(&a).contains(
                &"javac.sh: dropped (a Maven compiler leftover whose name or content changes \
                  with every build)"
                    .to_string()
            )
        );
    }
    // Not a jar: nothing is dropped.
    let zip = zipgen::build(&files(LATE, 1)[1..], &Options::default());
    assert_eq!(zipgen::read(&out(&zip)).len(), 5);
}

#[test]
fn jmods_are_zips_after_a_four_byte_header() {
    let cfg = Config::default();
    let ctx = cfg.context(Path::new("x"));
    let o = |t: u64| Options {
        prefix: b"JM\x01\x00".to_vec(),
        relative_offsets: true,
        ..noisy(t as u32)
    };
    let a = zipgen::build(&members(LATE), &o(LATE));
    assert!(Zip.sniff(&a, &ctx));
    assert!(!Zip.sniff(b"JM\x01\x00not a zip", &ctx));
    assert!(Zip.sniff(&zipgen::build(&[], &o(0)), &ctx), "an empty jmod");
    let na = out(&a);
    assert!(na == out(&zipgen::build(&members(LATER), &o(LATER))));
    assert!(na.starts_with(b"JM\x01\x00PK\x03\x04"));
    assert_eq!(Archive::parse(&na).unwrap().base, 4);
}

fn plain() -> Vec<u8> {
    zipgen::build(&members(LATE), &Options::default())
}

fn patched(f: impl FnOnce(&mut Vec<u8>, &Archive)) -> Vec<u8> {
    let zip = plain();
    let arch = Archive::parse(&zip).unwrap();
    let mut bad = zip.clone();
    f(&mut bad, &arch);
    bad
}

fn is_malformed(input: &[u8], what: &str) {
    match run(input) {
        Err(FormatError::Malformed(m)) => assert!(m.contains(what), "{m:?} lacks {what:?}"),
        other => panic!("expected malformed ({what}), got {other:?}"),
    }
}

#[test]
fn hostile_archives_are_malformed() {
    let zip = plain();
    is_malformed(&zip[..zip.len() - 1], "no end of central directory");
    is_malformed(&[&zip[..], b"x"].concat(), "no end of central directory");
    is_malformed(&zip[40..], "");
    // Two central entries pointing at the same local header.
    is_malformed(
        &patched(|b, a| {
            let (first, second) = (&a.entries[0], &a.entries[1]);
            let off = b[first.central + 42..first.central + 46].to_vec();
            b[second.central + 42..second.central + 46].copy_from_slice(&off);
        }),
        "",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.local + 30] ^= 1;
        }),
        "name",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.local + 14] ^= 1;
        }),
        "CRC32",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.local + 22] ^= 1;
        }),
        "sizes",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.local + 8] = 0;
        }),
        "method",
    );
    // Only the central header says the name is UTF-8 (unzip warns, exit 1).
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.central + 9] ^= 0x08;
        }),
        "flags",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[2];
            b[e.central + 42..e.central + 46].copy_from_slice(&u32::MAX.to_le_bytes());
        }),
        "zip64",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[2];
            b[e.central + 42..e.central + 46].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        }),
        "truncated local header",
    );
    is_malformed(
        &patched(|b, a| {
            b[a.end + 8..a.end + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        }),
        "entries claimed",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            let huge = (u32::MAX - 1).to_le_bytes();
            b[e.central + 24..e.central + 28].copy_from_slice(&huge);
            b[e.local + 22..e.local + 26].copy_from_slice(&huge);
        }),
        "more than deflate can expand to",
    );
    is_malformed(
        &patched(|b, a| {
            let e = &a.entries[1];
            let big = (e.csize as u32 + 1_000_000).to_le_bytes();
            b[e.central + 20..e.central + 24].copy_from_slice(&big);
            b[e.local + 18..e.local + 22].copy_from_slice(&big);
        }),
        "past the central directory",
    );
    // A claimed member with a wrong CRC32.
    let zip = zipgen::build(
        &[Member::file("x.gz", &gz(b"data", 1), EPOCH)],
        &Options::default(),
    );
    let arch = Archive::parse(&zip).unwrap();
    let mut bad = zip.clone();
    for at in [arch.entries[0].central + 16, arch.entries[0].local + 14] {
        bad[at] ^= 1;
    }
    is_malformed(&bad, "CRC32");
}

#[test]
fn encrypted_signed_split_gapped_and_duplicate_archives_are_refused() {
    let unsupported = |input: &[u8], what: &str| match run(input) {
        Err(FormatError::Unsupported(m)) => assert!(m.contains(what), "{m:?} lacks {what:?}"),
        other => panic!("expected unsupported ({what}), got {other:?}"),
    };
    unsupported(
        &patched(|b, a| {
            let e = &a.entries[1];
            b[e.central + 8] |= 1;
            b[e.local + 6] |= 1;
        }),
        "encrypted",
    );
    let signed = zipgen::build(
        &[
            Member::file("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", LATE),
            Member::file("META-INF/KEY.SF", b"sig", LATE),
            Member::file("META-INF/KEY.RSA", b"sig", LATE),
        ],
        &Options::default(),
    );
    unsupported(&signed, "signed jar");
    let dup = zipgen::build(
        &[Member::file("a", b"1", LATE), Member::file("a", b"2", LATE)],
        &Options::default(),
    );
    unsupported(&dup, "duplicate");
    // Bytes no member accounts for before the central directory.
    let zip = plain();
    let arch = Archive::parse(&zip).unwrap();
    let cd = arch.entries.iter().map(|e| e.end).max().unwrap();
    let mut gap = zip[..cd].to_vec();
    gap.extend_from_slice(b"APK Sig Block 42");
    gap.extend_from_slice(&zip[cd..]);
    let end = gap.len() - 22;
    let off = u32::try_from(cd + 16).unwrap();
    gap[end + 16..end + 20].copy_from_slice(&off.to_le_bytes());
    unsupported(&gap, "belong to no member");
    let mut split = plain();
    let end = split.len() - 22;
    split[end + 4] = 1;
    unsupported(&split, "split");
}

#[test]
fn unparseable_extra_tails_and_unknown_fields_are_kept() {
    let mut zip = zipgen::build(&[Member::file("a", b"1", LATE)], &noisy(1));
    // Append an unknown field and 2 bytes of padding to the local extra.
    let arch = Archive::parse(&zip).unwrap();
    let e = &arch.entries[0];
    let add = b"\xfe\xca\0\0zz";
    let at = e.local_extra.end;
    zip.splice(at..at, add.iter().copied());
    let len = (e.local_extra.len() + add.len()) as u16;
    zip[e.local + 28..e.local + 30].copy_from_slice(&len.to_le_bytes());
    let shift = add.len() as u32;
    let end = zip.len() - 22 - 15;
    let off = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) + shift;
    zip[end + 16..end + 20].copy_from_slice(&off.to_le_bytes());
    let n = out(&zip);
    let arch = Archive::parse(&n).unwrap();
    let extra = &n[arch.entries[0].local_extra.clone()];
    assert!(extra.ends_with(b"\xfe\xca\0\0zz"), "{extra:?}");
    assert_eq!(&extra[..9], &[0x55, 0x54, 5, 0, 1, 0, 0xca, 0x9a, 0x3b]);
}
