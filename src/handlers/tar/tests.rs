use std::io::Write;
use std::path::Path;

use super::*;
use crate::config::Config;

const EPOCH: u64 = 1_000_000;
const LATE: u64 = 2_000_000;

/// A header as GNU tar (`gnu`) or a POSIX writer would leave it, owned by a user.
fn header(name: &str, typeflag: u8, size: usize, mtime: u64, gnu: bool) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(if typeflag == b'5' {
        b"0000755\0"
    } else {
        b"0000644\0"
    });
    h[UID].copy_from_slice(b"0001750\0");
    h[GID].copy_from_slice(b"0001750\0");
    h[SIZE].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[MTIME].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
    h[TYPEFLAG] = typeflag;
    if gnu {
        h[257..265].copy_from_slice(GNU_MAGIC);
    } else {
        h[257..265].copy_from_slice(b"ustar\x0000");
    }
    h[UNAME.start..UNAME.start + 4].copy_from_slice(b"user");
    h[GNAME.start..GNAME.start + 5].copy_from_slice(b"group");
    set_checksum(&mut h);
    h
}

fn add(out: &mut Vec<u8>, h: &[u8; BLOCK], data: &[u8]) {
    out.extend_from_slice(h);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(BLOCK), 0);
}

fn file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    add(out, &header(name, b'0', data.len(), LATE, true), data);
}

fn pax(out: &mut Vec<u8>, name: &str, records: &[(&str, &str)]) {
    let mut body = Vec::new();
    for (k, v) in records {
        push_record(&mut body, k.as_bytes(), v.as_bytes());
    }
    add(out, &header(name, b'x', body.len(), LATE, false), &body);
}

/// Ends the archive as GNU tar does: two zero blocks, padded to 10240 bytes.
fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let end = (out.len() + 2 * BLOCK).next_multiple_of(RECORD);
    out.resize(end, 0);
    out
}

fn run(input: &[u8]) -> Result<Outcome, FormatError> {
    let cfg = Config::with_epoch(EPOCH);
    Tar.normalize(input, &cfg.context(Path::new("t.tar")))
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

fn names(archive: &[u8]) -> Vec<String> {
    parse(archive)
        .unwrap()
        .0
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect()
}

fn field(h: &[u8], r: Range<usize>) -> u64 {
    match number(&h[r]).unwrap() {
        Num::Value(v) => v,
        Num::Negative => panic!("negative"),
    }
}

#[test]
fn clamps_times_clears_owners_and_keeps_checksums_valid() {
    let mut a = Vec::new();
    file(&mut a, "f", b"data");
    let mut early = header("g", b'0', 0, 999, true);
    early[GNU_ATIME].copy_from_slice(format!("{LATE:011o}\0").as_bytes());
    set_checksum(&mut early);
    add(&mut a, &early, b"");
    let a = finish(a);
    let (out, changes) = rewritten(&a);
    assert_eq!(out.len(), a.len(), "same size, trailer kept");
    let h = &out[..BLOCK];
    assert_eq!(field(h, MTIME), EPOCH);
    assert_eq!(
        &h[MTIME],
        format!("{EPOCH:011o}\0").as_bytes(),
        "layout kept"
    );
    assert_eq!((field(h, UID), field(h, GID)), (0, 0));
    assert!(h[UNAME].iter().chain(&h[GNAME]).all(|&b| b == 0));
    assert_eq!(number(&h[CHKSUM]), Some(Num::Value(checksum(h))));
    let g = &out[2 * BLOCK..3 * BLOCK];
    assert_eq!(field(g, MTIME), 999, "earlier times stay");
    assert_eq!(field(g, GNU_ATIME), EPOCH);
    assert_eq!(&out[BLOCK..BLOCK + 4], b"data");
    assert!(
        changes.contains(&format!("f: mtime {LATE} -> {EPOCH}")),
        "{changes:?}"
    );
    assert!(
        changes.contains(&"g: uname \"user\" -> \"\"".to_string()),
        "{changes:?}"
    );
}

#[test]
fn entries_are_sorted_with_directories_before_their_contents() {
    let mut a = Vec::new();
    file(&mut a, "./b", b"B");
    file(&mut a, "./a-b", b"AB");
    file(&mut a, "./a/x", b"AX");
    add(&mut a, &header("./a/", b'5', 0, LATE, true), b"");
    add(&mut a, &header("./", b'5', 0, LATE, true), b"");
    let a = finish(a);
    let (out, changes) = rewritten(&a);
    assert_eq!(names(&out), ["./", "./a/", "./a/x", "./a-b", "./b"]);
    assert_eq!(changes[0], "entries sorted by name");
    let (entries, _) = parse(&out).unwrap();
    assert_eq!(
        &out[entries[2].main().data.clone()],
        b"AX",
        "data moves with its entry"
    );
}

#[test]
fn a_hard_link_follows_its_target() {
    let mut a = Vec::new();
    file(&mut a, "z", b"Z");
    let mut link = header("a", b'1', 0, LATE, true);
    link[LINKNAME.start] = b'z';
    set_checksum(&mut link);
    add(&mut a, &link, b"");
    file(&mut a, "m", b"M");
    let (out, _) = rewritten(&finish(a.clone()));
    assert_eq!(names(&out), ["m", "z", "a"]);

    // A link whose target is not in the archive keeps the original order.
    let mut b = Vec::new();
    file(&mut b, "z", b"Z");
    let mut link = header("a", b'1', 0, LATE, true);
    link[LINKNAME.start] = b'q';
    set_checksum(&mut link);
    add(&mut b, &link, b"");
    let (out, changes) = rewritten(&finish(b));
    assert_eq!(names(&out), ["z", "a"]);
    assert!(!changes.iter().any(|c| c.contains("sorted")), "{changes:?}");
}

#[test]
fn pax_records_are_dropped_or_clamped_with_lengths_recomputed() {
    let long = "d/".to_string() + &"L".repeat(120);
    let mut a = Vec::new();
    pax(
        &mut a,
        "./PaxHeaders.4242/x",
        &[
            ("path", &long),
            ("mtime", "2000000.123456789"),
            ("atime", "2000000.5"),
            ("ctime", "2000000.5"),
            ("uname", "user"),
            ("SCHILY.xattr.user.k", "v"),
        ],
    );
    file(&mut a, &long[..99], b"payload");
    pax(&mut a, "PaxHeader/y", &[("atime", "5"), ("ctime", "6")]);
    file(&mut a, "y", b"Y");
    let a = finish(a);
    let (out, changes) = rewritten(&a);
    let (entries, _) = parse(&out).unwrap();
    assert_eq!(entries.len(), 2);
    let x = &entries[0].parts[0];
    let records = pax_records(&out[x.data.clone()]).unwrap();
    let want: [(&[u8], &[u8]); 3] = [
        (b"path", long.as_bytes()),
        (b"mtime", b"1000000"),
        (b"SCHILY.xattr.user.k", b"v"),
    ];
    assert_eq!(records, want);
    assert_eq!(
        &out[x.data.start..x.data.start + 3],
        b"132",
        "4 + 122 + 3 separators + 3 digits"
    );
    assert_eq!(
        field(&out[x.header..x.header + BLOCK], SIZE),
        x.data.len() as u64
    );
    assert_eq!(until_nul(&out[x.header..x.header + 100]), b"./PaxHeaders/x");
    assert_eq!(
        entries[1].parts.len(),
        1,
        "an emptied pax header is dropped"
    );
    assert!(
        changes.contains(&"y: empty pax header dropped".to_string()),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.ends_with("pax mtime 2000000.123456789 -> 1000000"))
    );
}

#[test]
fn pax_times_at_or_before_the_epoch_stay() {
    let cfg = Config::with_epoch(EPOCH);
    let ctx = cfg.context(Path::new("t"));
    for kept in ["1000000", "1000000.000", "999999.9", "-5"] {
        assert_eq!(clamp_pax_time(kept.as_bytes(), &ctx), None, "{kept}");
    }
    for late in ["1000000.1", "1000001", "99999999999999999999999"] {
        assert_eq!(
            clamp_pax_time(late.as_bytes(), &ctx).as_deref(),
            Some("1000000"),
            "{late}"
        );
    }
}

#[test]
fn gnu_long_names_move_with_their_entry() {
    let long = "z/".to_string() + &"n".repeat(150);
    let mut a = Vec::new();
    let mut name = long.clone().into_bytes();
    name.push(0);
    add(
        &mut a,
        &header("././@LongLink", b'L', name.len(), 0, true),
        &name,
    );
    file(&mut a, &long[..100], b"long");
    file(&mut a, "a", b"A");
    let (out, _) = rewritten(&finish(a));
    assert_eq!(names(&out), ["a".to_string(), long]);
    let (entries, _) = parse(&out).unwrap();
    assert_eq!(entries[1].parts.len(), 2);
    assert_eq!(entries[1].parts[0].typeflag, b'L');
}

#[test]
fn global_headers_are_barriers() {
    let mut a = Vec::new();
    file(&mut a, "b", b"B");
    let mut body = Vec::new();
    push_record(&mut body, b"comment", b"abc");
    add(
        &mut a,
        &header("pax_global_header", b'g', body.len(), LATE, false),
        &body,
    );
    file(&mut a, "a", b"A");
    let (out, _) = rewritten(&finish(a));
    assert_eq!(names(&out), ["b", "pax_global_header", "a"]);
}

#[test]
fn a_nested_gzip_is_normalized_and_sizes_follow() {
    let mut w = flate2::GzBuilder::new()
        .mtime(u32::try_from(LATE).unwrap())
        .filename("a-rather-long-original-file-name.txt")
        .write(Vec::new(), flate2::Compression::default());
    w.write_all(b"hello").unwrap();
    let gz = w.finish().unwrap();
    let mut a = Vec::new();
    file(&mut a, "doc/x.gz", &gz);
    // Exactly fills a record: the shrunk member changes nothing in the length
    // but the content, so check the record padding too.
    let a = finish(a);
    let (out, changes) = rewritten(&a);
    assert_eq!(out.len() % RECORD, 0);
    let (entries, trailer) = parse(&out).unwrap();
    let data = &out[entries[0].main().data.clone()];
    assert_eq!(
        data.len(),
        gz.len() - "a-rather-long-original-file-name.txt".len() - 1
    );
    assert_eq!(field(&out[..BLOCK], SIZE), data.len() as u64);
    assert!(trailer.len() >= 2 * BLOCK);
    assert!(
        changes
            .iter()
            .any(|c| c.starts_with("doc/x.gz!member 1: name")),
        "{changes:?}"
    );
}

#[test]
fn size_records_follow_nested_rewrites() {
    let mut w = flate2::GzBuilder::new()
        .filename("name")
        .write(Vec::new(), flate2::Compression::default());
    w.write_all(b"hello").unwrap();
    let gz = w.finish().unwrap();
    let mut a = Vec::new();
    pax(&mut a, "PaxHeader/x.gz", &[("size", &gz.len().to_string())]);
    add(&mut a, &header("x.gz", b'0', 0, 5, false), &gz);
    let (out, _) = rewritten(&finish(a));
    let (entries, _) = parse(&out).unwrap();
    let records = pax_records(&out[entries[0].parts[0].data.clone()]).unwrap();
    assert_eq!(records[0].1, (gz.len() - 5).to_string().as_bytes());
    assert_eq!(entries[0].main().data.len(), gz.len() - 5);
}

#[test]
fn damage_is_malformed_and_v7_is_refused() {
    let mut a = Vec::new();
    file(&mut a, "f", b"data");
    let a = finish(a);
    let mut bad = a.clone();
    bad[0] = b'g';
    assert!(matches!(run(&bad), Err(FormatError::Malformed(m)) if m.contains("checksum")));
    for cut in [100, BLOCK, BLOCK + 3] {
        assert!(
            matches!(run(&a[..cut]), Err(FormatError::Malformed(_))),
            "cut {cut}"
        );
    }
    let mut garbage = a.clone();
    garbage[a.len() - 1] = 1;
    assert!(matches!(run(&garbage), Err(FormatError::Malformed(m)) if m.contains("after the end")));
    let mut v7 = a.clone();
    v7[257..265].fill(0);
    let mut h: [u8; BLOCK] = v7[..BLOCK].try_into().unwrap();
    set_checksum(&mut h);
    v7[..BLOCK].copy_from_slice(&h);
    assert!(matches!(run(&v7), Err(FormatError::Unsupported(_))));
}

#[test]
fn normal_archives_are_unchanged() {
    let mut h = header("f", b'0', 1, 5, true);
    h[UID].copy_from_slice(b"0000000\0");
    h[GID].copy_from_slice(b"0000000\0");
    h[UNAME].fill(0);
    h[GNAME].fill(0);
    set_checksum(&mut h);
    let mut a = Vec::new();
    add(&mut a, &h, b"x");
    let a = finish(a);
    assert_eq!(run(&a).unwrap(), Outcome::Unchanged);
    // No end-of-archive marker at all is accepted as it is.
    assert_eq!(run(&a[..2 * BLOCK]).unwrap(), Outcome::Unchanged);
}

#[test]
fn number_fields_keep_their_layout() {
    let mut f = *b"15300342240 ";
    set_number(&mut f, 0o2_263_234_400);
    assert_eq!(&f, b"02263234400 ");
    let mut f = *b"   644 \0";
    set_number(&mut f, 0);
    assert_eq!(&f, b"     0 \0");
    let mut f = [0u8; 12];
    set_number(&mut f, 0o17);
    assert_eq!(&f, b"00000000017\0");
    let mut f = [0u8; 12];
    set_number(&mut f, 1 << 40);
    assert_eq!(number(&f), Some(Num::Value(1 << 40)));
    assert_eq!(
        number(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
        Some(Num::Negative)
    );
    assert_eq!(number(b"12x\0"), None);
}

#[test]
fn nesting_stops_at_max_depth_and_large_members_pass_through() {
    let mut inner = Vec::new();
    file(&mut inner, "deep.txt", b"deep");
    let inner = finish(inner);
    let mut outer = Vec::new();
    file(&mut outer, "inner.tar", &inner);
    let outer = finish(outer);
    let inner_out = |cfg: &Config| {
        let out = Tar
            .normalize(&outer, &cfg.context(Path::new("t.tar")))
            .unwrap();
        let bytes = out.bytes(&outer).to_vec();
        let (entries, _) = parse(&bytes).unwrap();
        bytes[entries[0].main().data.clone()].to_vec()
    };
    let mut cfg = Config::with_epoch(EPOCH);
    let normalized = inner_out(&cfg);
    assert_eq!(
        field(&normalized[..BLOCK], MTIME),
        EPOCH,
        "nested tar normalized"
    );
    cfg.settings.max_depth = 0;
    assert!(inner_out(&cfg) == inner, "deeper than max_depth: untouched");
    cfg.settings.max_depth = 8;
    cfg.settings.max_size = inner.len() as u64 - 1;
    assert!(inner_out(&cfg) == inner, "larger than max_size: untouched");
}

#[test]
fn members_are_the_regular_files_in_stored_order() {
    let mut a = Vec::new();
    file(&mut a, "b", b"B");
    add(&mut a, &header("d/", b'5', 0, LATE, true), b"");
    file(&mut a, "a", b"A");
    let cfg = Config::with_epoch(EPOCH);
    let got = Tar
        .members(&finish(a), &cfg.context(Path::new("t.tar")))
        .unwrap()
        .unwrap();
    let got: Vec<(&str, &[u8])> = got
        .iter()
        .map(|m| (m.name.as_str(), &m.bytes[..]))
        .collect();
    assert_eq!(got, [("b", &b"B"[..]), ("a", &b"A"[..])]);
}

/// Bytes readable only by position, as a file is.
struct Positional(Vec<u8>);

impl Source for Positional {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.as_slice().read_at(offset, buf)
    }
}

#[test]
fn streamed_extended_headers_are_bounded_and_ordinary_ones_pass() {
    let mut a = Vec::new();
    pax(
        &mut a,
        "./PaxHeaders/x",
        &[("mtime", "2000000000"), ("path", "x")],
    );
    file(&mut a, "x", b"data");
    let a = finish(a);
    let src = Positional(a.clone());
    assert_eq!(parse_source(&src, u64::MAX).unwrap().0.len(), 1);
    assert!(matches!(
        parse_source(&src, 10),
        Err(FormatError::TooLarge(m)) if m.contains("extended header at offset 0")
    ));
    // The handler's own limit never goes below the default: a lowered
    // `in_memory` still normalizes the archive, as in memory.
    let mut cfg = Config::with_epoch(EPOCH);
    cfg.settings.in_memory = 1;
    let ctx = cfg.context(Path::new("t.tar"));
    let mut out = Vec::new();
    let streamed = Tar.normalize_to(&src, &mut out, &ctx).unwrap();
    let Outcome::Rewritten { bytes, changes } = Tar.normalize(&a, &ctx).unwrap() else {
        panic!("expected a rewrite");
    };
    assert_eq!(streamed, Written::Rewritten(changes));
    assert_eq!(out, bytes);
}
