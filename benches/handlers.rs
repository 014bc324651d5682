//! Throughput of each handler and of NAR hashing, with `Throughput::Bytes`.
//!
//! Run with `cargo bench`; `benches/compare.sh` times whole runs against the peers.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compression, GzBuilder};
use strip_nd::config::Config;
use strip_nd::handlers::{Handler, coff::Coff, gzip::Gzip, pe::Pe};

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

/// A corpus file, as bytes.
fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(path),
    )
    .unwrap()
}

/// PE images: a small DLL (parsing dominates) and the same DLL carrying a
/// 16 MiB overlay, as installers do (the GUID hash and checksum dominate).
fn pe(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("foo.dll"));
    let dll = corpus("pe/foo.1.dll");
    let mut overlay = dll.clone();
    overlay.extend(text(16 << 20));
    let mut g = c.benchmark_group("pe");
    for (label, input) in [("13KiB-dll", dll), ("16MiB-overlay", overlay)] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("rewrite/{label}"), |b| {
            b.iter(|| Pe.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = Pe.normalize(&input, &ctx).unwrap().bytes(&input).to_vec();
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Pe.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

/// COFF objects: a resource object with a timestamp, and gcc's object.
fn coff(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("x.obj"));
    let mut g = c.benchmark_group("coff");
    for (label, input) in [
        ("rewrite/res-x64", corpus("coff/res-x64.1.obj")),
        ("unchanged/gcc-object", corpus("coff/foo.1.o")),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(label, |b| {
            b.iter(|| Coff.normalize(black_box(&input), &ctx).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, gzip, nar, pe, coff);
criterion_main!(benches);
