//! Throughput of each handler and of NAR hashing, with `Throughput::Bytes`.
//!
//! Run with `cargo bench`; `benches/compare.sh` times whole runs against the peers.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compression, GzBuilder};
use strip_nd::config::Config;
use strip_nd::handlers::{Handler, gzip::Gzip, mo::Mo, png::Png};

/// Text that compresses like a man page: words, not noise.
fn text(len: usize) -> Vec<u8> {
    let words = [
        "the ",
        "file ",
        "option ",
        "print ",
        "output ",
        "when ",
        "is ",
        "given ",
        ".TP\n",
        "\\fB--help\\fR ",
        "directory ",
        "mode ",
        "standard ",
        "error ",
        ".SH NAME\n",
    ];
    let mut out = Vec::with_capacity(len);
    let mut x: u32 = 12345;
    while out.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
    }
    out.truncate(len);
    out
}

fn gz(data: &[u8], mtime: u32) -> Vec<u8> {
    let mut w = GzBuilder::new()
        .mtime(mtime)
        .filename("page.1")
        .write(Vec::new(), Compression::default());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn gzip(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("page.1.gz"));
    let mut g = c.benchmark_group("gzip");
    for (label, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20), ("16MiB", 16 << 20)] {
        let input = gz(&text(size), 1_700_000_000);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("rewrite/{label}"), |b| {
            b.iter(|| Gzip.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = gz(&text(size), 0);
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Gzip.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

/// A little-endian .mo catalog as msgfmt lays it out (no hash table), with
/// `n` messages and the given header.
fn mo_catalog(n: usize, header: &str) -> Vec<u8> {
    let mut entries = vec![(String::new(), header.to_string())];
    for i in 0..n {
        entries.push((
            format!("message number {i:06} with some words"),
            format!("le message numéro {i:06} avec quelques mots"),
        ));
    }
    let count = entries.len() as u32;
    let mut at = 28 + 16 * count;
    let mut out = Vec::new();
    for v in [
        0x9504_12de_u32,
        0,
        count,
        28,
        28 + 8 * count,
        0,
        28 + 16 * count,
    ] {
        out.extend(v.to_le_bytes());
    }
    let mut data = Vec::new();
    for k in 0..2 {
        for e in &entries {
            let s = if k == 0 { &e.0 } else { &e.1 };
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(at.to_le_bytes());
            data.extend_from_slice(s.as_bytes());
            data.push(0);
            at += s.len() as u32 + 1;
        }
    }
    out.extend(data);
    out
}

fn mo(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("messages.mo"));
    let mut g = c.benchmark_group("mo");
    let late = "Project-Id-Version: demo 1.0\nPOT-Creation-Date: 2026-03-04 05:06+0100\n\
                PO-Revision-Date: 2026-03-04 05:06+0100\nContent-Type: text/plain; charset=UTF-8\n";
    let short = late.replace("2026-03-04 05:06", "2026-3-4 5:06");
    let normal = late.replace("2026-03-04 05:06+0100", "1980-01-01 00:00+0000");
    for (label, n) in [("100msgs", 100), ("10000msgs", 10_000)] {
        for (kind, header) in [
            ("in-place", late),
            ("rebuild", &short),
            ("unchanged", &normal),
        ] {
            let input = mo_catalog(n, header);
            g.throughput(Throughput::Bytes(input.len() as u64));
            g.bench_function(format!("{kind}/{label}"), |b| {
                b.iter(|| Mo.normalize(black_box(&input), &ctx).unwrap());
            });
        }
    }
    g.finish();
}

fn png_chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[4..]);
    out.extend(crc.to_be_bytes());
    out
}

/// A PNG with `idat` bytes of (opaque) image data split in 64 KiB chunks, as
/// `ImageMagick` writes it: tIME and date text chunks after the data.
fn png_image(idat: usize, dated: bool) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    out.extend(png_chunk(
        *b"IHDR",
        &[0, 0, 4, 0, 0, 0, 4, 0, 8, 2, 0, 0, 0],
    ));
    let data = text(idat);
    for part in data.chunks(64 << 10) {
        out.extend(png_chunk(*b"IDAT", part));
    }
    if dated {
        out.extend(png_chunk(*b"tIME", &[0x07, 0xea, 3, 4, 5, 6, 7]));
        out.extend(png_chunk(
            *b"tEXt",
            b"date:create\x002026-03-04T05:06:07+00:00",
        ));
        out.extend(png_chunk(
            *b"tEXt",
            b"date:modify\x002026-03-04T05:06:07+00:00",
        ));
    }
    out.extend(png_chunk(*b"IEND", &[]));
    out
}

fn png(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("image.png"));
    let mut g = c.benchmark_group("png");
    for (label, size) in [("4KiB", 4 << 10), ("1MiB", 1 << 20), ("16MiB", 16 << 20)] {
        let input = png_image(size, true);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("rewrite/{label}"), |b| {
            b.iter(|| Png.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = png_image(size, false);
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Png.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

fn nar(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0u64;
    // One large file and many small ones: the two costs of hashing a store path.
    let big = text(64 << 20);
    std::fs::write(dir.path().join("big"), &big).unwrap();
    total += big.len() as u64;
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    for i in 0..2000 {
        let body = text(1000 + i * 7);
        std::fs::write(small.join(format!("f{i:05}")), &body).unwrap();
        total += body.len() as u64;
    }
    let mut g = c.benchmark_group("nar");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(64 << 20));
    g.bench_function("hash/64MiB-file", |b| {
        b.iter(|| strip_nd::nar::hash(&dir.path().join("big")).unwrap());
    });
    g.throughput(Throughput::Bytes(total - (64 << 20)));
    g.bench_function("hash/2000-small-files", |b| {
        b.iter(|| strip_nd::nar::hash(&small).unwrap());
    });
    g.finish();
}

criterion_group!(benches, gzip, mo, png, nar);
criterion_main!(benches);
