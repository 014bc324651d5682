//! Throughput of each handler and of NAR hashing, with `Throughput::Bytes`.
//!
//! Run with `cargo bench`; `benches/compare.sh` times whole runs against the peers.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compression, GzBuilder};
use strip_nd::config::Config;
use strip_nd::handlers::{
    Handler, Outcome, ar::Ar, coff::Coff, cpio::Cpio, font::Font, gzip::Gzip, iso9660::Iso9660,
    mo::Mo, pdf::Pdf, pe::Pe, png::Png, pyc::Pyc, tar::Tar, zip::Zip,
};

#[path = "../tests/it/zipgen.rs"]
mod zipgen;

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
        // The rewrite's own output (FNAME dropped, MTIME clamped), so this
        // group measures the path that finds nothing to do.
        let normal = Gzip.normalize(&input, &ctx).unwrap().bytes(&input).to_vec();
        assert!(
            matches!(Gzip.normalize(&normal, &ctx), Ok(Outcome::Unchanged)),
            "the unchanged input must be a fixed point"
        );
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Gzip.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

/// A GNU tar of `files` text files of `size` bytes, as a build leaves it.
fn tar_of(files: usize, size: usize, mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..files {
        let data = text(size + i % 7);
        let mut h = [0u8; 512];
        let name = format!("share/doc/pkg/file{i:05}.txt");
        h[..name.len()].copy_from_slice(name.as_bytes());
        for (range, v) in [
            (100..108, 0o644),
            (108..116, 1000),
            (116..124, 1000),
            (124..136, data.len() as u64),
            (136..148, mtime + i as u64),
        ] {
            let w = range.len() - 1;
            h[range.start..range.start + w].copy_from_slice(format!("{v:0w$o}").as_bytes());
        }
        h[156] = b'0';
        h[257..265].copy_from_slice(b"ustar  \0");
        h[265..270].copy_from_slice(b"build");
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize((out.len() + 1024).next_multiple_of(10240), 0);
    out
}

/// Benchmarks `handler` on `input` (rewrite) and on its output (unchanged).
fn rewrite_and_unchanged(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    handler: &dyn Handler,
    label: &str,
    input: &[u8],
) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("bench"));
    let normal = handler
        .normalize(input, &ctx)
        .unwrap()
        .bytes(input)
        .to_vec();
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function(format!("rewrite/{label}"), |b| {
        b.iter(|| handler.normalize(black_box(input), &ctx).unwrap());
    });
    g.bench_function(format!("unchanged/{label}"), |b| {
        b.iter(|| handler.normalize(black_box(&normal), &ctx).unwrap());
    });
}

fn ar(c: &mut Criterion) {
    let mut g = c.benchmark_group("ar");
    for (label, members, size) in [("200x4KiB", 200, 4 << 10), ("4x4MiB", 4, 4 << 20)] {
        let mut a = b"!<arch>\n".to_vec();
        for i in 0..members {
            let data = text(size);
            let h = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                format!("m{i}.o/"),
                1_700_000_000,
                1000,
                1000,
                100_644,
                data.len()
            );
            a.extend_from_slice(h.as_bytes());
            a.extend_from_slice(&data);
        }
        rewrite_and_unchanged(&mut g, &Ar, label, &a);
    }
    g.finish();
}

fn tar(c: &mut Criterion) {
    let mut g = c.benchmark_group("tar");
    rewrite_and_unchanged(
        &mut g,
        &Tar,
        "1000x1KiB",
        &tar_of(1000, 1 << 10, 1_700_000_000),
    );
    rewrite_and_unchanged(&mut g, &Tar, "16x1MiB", &tar_of(16, 1 << 20, 1_700_000_000));
    g.finish();
    // A .tar.gz: inflate, normalize the tar, deflate at level 9 (the rewrite),
    // or inflate and find nothing to do (unchanged).
    let mut g = c.benchmark_group("tar.gz");
    g.sample_size(10);
    let tgz = gz(&tar_of(1000, 1 << 10, 1_700_000_000), 1_700_000_000);
    rewrite_and_unchanged(&mut g, &Gzip, "1000x1KiB", &tgz);
    g.finish();
}

/// `.tar.xz`, `.tar.bz2`, `.tar.zst` of a noisy tar: decompress, normalize
/// the tar, recompress (rewrite), or decompress and find nothing to do
/// (unchanged), with each codec's reference settings.
fn compressed(c: &mut Criterion) {
    use strip_nd::handlers::compressed::{
        BZIP2, Codec, XZ, ZSTD, bzip2::Bzip2, bzip2::Settings as BzSettings,
        xz::Settings as XzSettings, xz::Xz, zstd::Settings as ZstdSettings, zstd::Zstd,
    };
    let t = tar_of(1000, 1 << 10, 1_700_000_000);
    let xz = XzSettings {
        preset: 6,
        check: 4,
        first_block: None,
    };
    let zs = ZstdSettings {
        checksum: true,
        content_size: true,
    };
    let inputs: [(&str, &dyn Handler, Vec<u8>); 3] = [
        ("xz", &XZ, Xz::encode(&t, &xz, t.len()).unwrap()),
        (
            "bzip2",
            &BZIP2,
            Bzip2::encode(&t, &BzSettings { level: 9 }, 0).unwrap(),
        ),
        ("zstd", &ZSTD, Zstd::encode(&t, &zs, 0).unwrap()),
    ];
    for (name, handler, input) in inputs {
        let mut g = c.benchmark_group(format!("tar.{name}"));
        g.sample_size(10);
        rewrite_and_unchanged(&mut g, handler, "1000x1KiB", &input);
        g.finish();
    }
}

fn cpio(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpio");
    let mut a = Vec::new();
    let entries: Vec<(String, Vec<u8>)> = (0..1000)
        .map(|i| (format!("usr/share/doc/file{i:05}"), text(1 << 10)))
        .chain([("TRAILER!!!".to_string(), Vec::new())])
        .collect();
    for (i, (name, data)) in entries.iter().enumerate() {
        let h = format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            i + 5000,
            0o100_644,
            1000,
            1000,
            1,
            1_700_000_000,
            data.len(),
            8,
            1,
            0,
            0,
            name.len() + 1,
            0
        );
        a.extend_from_slice(h.as_bytes());
        a.extend_from_slice(name.as_bytes());
        a.push(0);
        a.resize(a.len().next_multiple_of(4), 0);
        a.extend_from_slice(data);
        a.resize(a.len().next_multiple_of(4), 0);
    }
    a.resize(a.len().next_multiple_of(512), 0);
    rewrite_and_unchanged(&mut g, &Cpio, "1000x1KiB", &a);
    g.finish();
}

/// Pycs of stdlib modules, compiled by the local `python3` into a temp dir
/// (the files in the stdlib's own `__pycache__` may be missing or read-only).
fn stdlib_pycs() -> Option<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir().ok()?;
    let script = r#"
import os, shutil, sys, sysconfig, compileall
lib = sysconfig.get_paths()["stdlib"]
for name in sorted(os.listdir(lib)):
    if name.endswith(".py"):
        shutil.copy(os.path.join(lib, name), sys.argv[1])
compileall.compile_dir(sys.argv[1], quiet=1)
"#;
    let ok = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.path().join("__pycache__")).ok()? {
        out.push(std::fs::read(e.ok()?.path()).ok()?);
    }
    Some(out)
}

fn pyc(c: &mut Criterion) {
    let Some(pycs) = stdlib_pycs() else {
        eprintln!("pyc benchmark skipped: python3 could not compile the stdlib");
        return;
    };
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("m.cpython-311.pyc"));
    let total: u64 = pycs.iter().map(|p| p.len() as u64).sum();
    let normal: Vec<Vec<u8>> = pycs
        .iter()
        .map(|p| Pyc.normalize(p, &ctx).unwrap().bytes(p).to_vec())
        .collect();
    let mut g = c.benchmark_group("pyc");
    g.throughput(Throughput::Bytes(total));
    g.bench_function(format!("rewrite/stdlib-{}-files", pycs.len()), |b| {
        b.iter(|| {
            for p in &pycs {
                black_box(Pyc.normalize(black_box(p), &ctx).unwrap());
            }
        });
    });
    g.bench_function(format!("unchanged/stdlib-{}-files", pycs.len()), |b| {
        b.iter(|| {
            for p in &normal {
                black_box(Pyc.normalize(black_box(p), &ctx).unwrap());
            }
        });
    });
    g.finish();
}

/// A jar-sized archive of `n` text members (1 to 8 KiB each) as zip 3.0 leaves
/// it after a late build: UT and uid/gid fields, a tool version to normalize,
/// reverse order. With `nested`, every tenth member is a `.gz` with a name and
/// an mtime, which forces a recompression.
fn noisy_zip(n: usize, nested: bool) -> Vec<u8> {
    let members: Vec<zipgen::Member> = (0..n)
        .rev()
        .map(|i| {
            let body = text(1024 + (i * 797) % 7168);
            if nested && i % 10 == 0 {
                zipgen::Member::file(
                    &format!("doc/page{i:04}.1.gz"),
                    &gz(&body, 1_700_000_000),
                    1_700_000_000,
                )
            } else {
                zipgen::Member::file(&format!("src/file{i:04}.txt"), &body, 1_700_000_000)
            }
        })
        .collect();
    zipgen::build(
        &members,
        &zipgen::Options {
            timestamps: true,
            ids: Some((1000, 1000)),
            made_by: 30,
            ..zipgen::Options::default()
        },
    )
}

fn zip(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("app.jar"));
    let mut g = c.benchmark_group("zip");
    g.sample_size(20);
    for (label, nested) in [("rewrite", false), ("rewrite-nested", true)] {
        let input = noisy_zip(500, nested);
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("{label}/500-members"), |b| {
            b.iter(|| Zip.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = match Zip.normalize(&input, &ctx).unwrap() {
            Outcome::Rewritten { bytes, .. } => bytes,
            Outcome::Unchanged => unreachable!("the noisy archive needs rewriting"),
        };
        g.throughput(Throughput::Bytes(normal.len() as u64));
        g.bench_function(
            format!(
                "unchanged{}/500-members",
                if nested { "-nested" } else { "" }
            ),
            |b| {
                b.iter(|| Zip.normalize(black_box(&normal), &ctx).unwrap());
            },
        );
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

/// An sfnt font with a `head` dated in 2026 and one `glyf`-sized table of
/// `size` bytes: validating every table checksum dominates.
fn big_font(size: usize) -> Vec<u8> {
    use strip_nd::handlers::font::{MAC_EPOCH_OFFSET, checksum};
    let mut head = vec![0u8; 54];
    head[..4].copy_from_slice(&[0, 1, 0, 0]);
    head[12..16].copy_from_slice(&0x5F0F_3CF5u32.to_be_bytes());
    let t = 1_772_600_767 + MAC_EPOCH_OFFSET;
    head[20..28].copy_from_slice(&t.to_be_bytes());
    head[28..36].copy_from_slice(&t.to_be_bytes());
    let glyf = text(size);
    let mut out = vec![0, 1, 0, 0, 0, 2, 0, 32, 0, 1, 0, 0];
    let (head_at, glyf_at) = (44u32, 44 + 56);
    for (tag, data, at) in [(b"glyf", &glyf, glyf_at), (b"head", &head, head_at)] {
        out.extend_from_slice(tag);
        out.extend(checksum(data).to_be_bytes());
        out.extend(at.to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
    }
    out.extend(&head);
    out.extend([0, 0]);
    out.extend(&glyf);
    out.resize(out.len().div_ceil(4) * 4, 0);
    let adj = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
    out[52..56].copy_from_slice(&adj.to_be_bytes());
    out
}

/// Fonts: fontforge's TrueType font and fontTools' collection from the
/// corpus, and a 16 MiB font.
fn font(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("a.ttf"));
    let mut g = c.benchmark_group("font");
    for (label, input) in [
        ("fontforge-ttf", corpus("font/fontforge.1.ttf")),
        ("fonttools-ttc", corpus("font/collection.1.ttc")),
        ("16MiB", big_font(16 << 20)),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("rewrite/{label}"), |b| {
            b.iter(|| Font.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = Font.normalize(&input, &ctx).unwrap().bytes(&input).to_vec();
        assert_ne!(normal, input, "{label}: the bench input needs no work");
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Font.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

/// ISO 9660 images from the corpus: a rewrite (dates to clamp in every
/// record and Rock Ridge `TF` entry) and an already normal image (the walk alone).
fn iso9660(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("x.iso"));
    let mut g = c.benchmark_group("iso9660");
    for (label, input) in [
        ("rewrite/xorriso-rj", corpus("iso9660/xorriso-rj.1.iso")),
        (
            "unchanged/xorriso-rj",
            corpus("iso9660/expected/xorriso-rj.iso"),
        ),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(label, |b| {
            b.iter(|| Iso9660.normalize(black_box(&input), &ctx).unwrap());
        });
    }
    g.finish();
}

/// A one-page PDF whose content stream is `size` bytes, with late /Info
/// dates and an /ID: the scan for `/ByteRange` and the /ID's MD5 of the
/// whole file dominate.
fn big_pdf(size: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let content = text(size);
    let stream = [
        format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(),
        content,
        b"\nendstream".to_vec(),
    ]
    .concat();
    for body in [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_vec(),
        stream,
        b"<< /CreationDate (D:20260304050607+01'00') /ModDate (D:20260304050607+01'00') >>"
            .to_vec(),
    ] {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", offsets.len()).bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(b"xref\n0 6\n0000000000 65535 f \n");
    for o in &offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size 6 /Root 1 0 R /Info 5 0 R /ID [<{0}><{0}>] >>\nstartxref\n{xref}\n%%EOF\n",
            "5B5A34A5D74F6028AD3CC84B0CDB5EE3"
        )
        .bytes(),
    );
    out
}

/// PDF documents: ps2pdf's (classic xref, XMP, /ID), qpdf's cross-reference
/// stream (inflated and un-predicted to find /Info), and a 16 MiB one.
fn pdf(c: &mut Criterion) {
    let config = Config::with_epoch(315_532_800);
    let ctx = config.context(Path::new("a.pdf"));
    let mut g = c.benchmark_group("pdf");
    for (label, input) in [
        ("ps2pdf", corpus("pdf/ps2pdf.1.pdf")),
        ("qpdf-xref-stream", corpus("pdf/qpdf-xref-stream.1.pdf")),
        ("16MiB", big_pdf(16 << 20)),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("rewrite/{label}"), |b| {
            b.iter(|| Pdf.normalize(black_box(&input), &ctx).unwrap());
        });
        let normal = Pdf.normalize(&input, &ctx).unwrap().bytes(&input).to_vec();
        assert_ne!(normal, input, "{label}: the bench input needs no work");
        g.bench_function(format!("unchanged/{label}"), |b| {
            b.iter(|| Pdf.normalize(black_box(&normal), &ctx).unwrap());
        });
    }
    g.finish();
}

criterion_group!(
    benches, gzip, zip, pyc, nar, ar, tar, compressed, cpio, pe, coff, mo, png, font, iso9660, pdf
);
criterion_main!(benches);
