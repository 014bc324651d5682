//! Malformed input (issue 14): hundreds of damaged files generated from
//! `corpus/` (truncation at every header boundary, bit and byte flips in header
//! fields, absurd sizes) and hand-made hostile files (overlapping zip members,
//! bombs, tar entries escaping the root, deep nesting), in one tree with good
//! corpus files. The real binary runs on the tree under a timeout; then:
//!
//! * no panic, exit 0, and nothing written outside the tree;
//! * every file is byte-identical to its input, or its real consumer (gzip,
//!   unzip, tar, cpio, ar, dpkg-deb, msgunfmt, pngcheck, `CPython`, llvm-readobj,
//!   dumpimage, fontTools, xorriso, java, podchecker) accepts both the input and
//!   the output: a file the consumer rejects is never rewritten;
//! * every file a handler claims and finds malformed is named in the report
//!   with a reason, and every file the report names is untouched; a claimed
//!   file its consumer rejects that the report does not name is a failure too;
//! * the good files are rewritten to `corpus/<format>/expected`;
//! * `--strict` on a fresh copy exits 1 and names exactly the same files, and
//!   exits 0 on the good files alone.
//!
//! Everything is generated from the corpus with a seeded generator: the same
//! cases every run. `STRIP_ND_MALFORMED_DUMP=<dir>` writes the inputs there
//! to look at a case by hand. The javadoc "consumer" is Python's `html.parser`
//! on the bytes read as UTF-8 with replacement, as lenient as a browser: for
//! HTML the check is little more than "still text".
//!
//! The run is bounded in time ([`TIMEOUT`]) and memory ([`MAX_RSS_MIB`], read
//! from `/proc/<pid>/status` while it runs), since the tree holds bombs.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strip_nd::config::Config;

use crate::util::{EPOCH, Rng, bin, corpus, need};

/// How long one run of the binary may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The most resident memory one run (`--jobs 2`) may use: each of the three
/// bombs in the tree inflates to 256 MiB, so holding one whole fails; the
/// gzip handler's payload bound (256 times the compressed size) allows about
/// 70 MiB per bomb and thread.
const MAX_RSS_MIB: u64 = 256;

/// The real program that reads a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Consumer {
    Gzip,
    Unzip,
    Tar,
    Cpio,
    Ar,
    DpkgDeb,
    Msgunfmt,
    Pngcheck,
    CPython,
    LlvmReadobj,
    Dumpimage,
    FontTools,
    Xorriso,
    HtmlParser,
    JavaProperties,
    Podchecker,
    /// `xz -t`, `bzip2 -t` or `zstd -t` by the name, then `tar -tf`.
    CompressedTar,
    /// `qpdf --check` (0, or 3 for warnings only), then `pdfinfo`.
    Qpdf,
}

/// One file of the tree.
struct Case {
    /// Path relative to the tree root.
    rel: String,
    bytes: Vec<u8>,
    format: &'static str,
    consumer: Consumer,
    /// A corpus input with a blessed expected output.
    expected: Option<Vec<u8>>,
}

/// A format's corpus sources and how to damage them.
struct Format {
    name: &'static str,
    consumer: Consumer,
    /// Corpus files (`corpus/<name>/<file>`) to damage.
    sources: &'static [&'static str],
    /// Header boundaries and header fields of a file.
    layout: fn(&[u8]) -> Layout,
}

/// Where a file's headers end (truncation points) and its header fields lie.
#[derive(Default)]
struct Layout {
    cuts: Vec<usize>,
    fields: Vec<(usize, usize, Kind)>,
}

/// How a field is written, to make an absurd value of the right shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bin,
    Octal,
    Decimal,
    Hex,
    Text,
}

impl Layout {
    fn cut(&mut self, at: usize) {
        self.cuts.push(at);
    }
    fn field(&mut self, at: usize, len: usize, kind: Kind) {
        self.fields.push((at, len, kind));
    }
}

fn u16le(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]) as usize)
}
fn u32le(b: &[u8], at: usize) -> usize {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap()) as usize)
}
fn u32be(b: &[u8], at: usize) -> usize {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes(s.try_into().unwrap()) as usize)
}
fn u16be(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]) as usize)
}
fn number(b: &[u8], at: usize, len: usize, radix: u32) -> usize {
    let s = String::from_utf8_lossy(b.get(at..at + len).unwrap_or_default()).into_owned();
    usize::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), radix).unwrap_or(0)
}

fn gzip_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    for (at, len) in [(0, 1), (1, 1), (2, 1), (3, 1), (4, 4), (8, 1), (9, 1)] {
        l.cut(at + len);
        l.field(at, len, Kind::Bin);
    }
    let flg = b[3];
    let mut pos = 10;
    if flg & 4 != 0 {
        let xlen = u16le(b, pos);
        l.field(pos, 2, Kind::Bin);
        l.cut(pos + 2);
        pos += 2 + xlen;
        l.cut(pos);
    }
    for bit in [8u8, 16] {
        if flg & bit != 0 {
            let end = pos + b[pos..].iter().position(|&c| c == 0).unwrap();
            l.cut(pos + (end - pos) / 2);
            l.field(end, 1, Kind::Bin);
            pos = end + 1;
            l.cut(pos);
        }
    }
    if flg & 2 != 0 {
        l.field(pos, 2, Kind::Bin);
        pos += 2;
        l.cut(pos);
    }
    l.cut(pos + 1);
    l.field(pos, 1, Kind::Bin);
    let n = b.len();
    for at in [n - 8, n - 4, n - 1] {
        l.cut(at);
    }
    l.field(n - 8, 4, Kind::Bin);
    l.field(n - 4, 4, Kind::Bin);
    l
}

fn zip_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let eocd = (0..=b.len() - 22)
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))
        .unwrap();
    l.cut(eocd);
    l.cut(eocd + 10);
    l.cut(eocd + 20);
    for (at, len) in [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)] {
        l.field(eocd + at, len, Kind::Bin);
    }
    let (count, cd) = (u16le(b, eocd + 10), u32le(b, eocd + 16));
    let mut p = cd;
    for i in 0..count {
        if !b[p..].starts_with(b"PK\x01\x02") {
            break;
        }
        let var = u16le(b, p + 28) + u16le(b, p + 30) + u16le(b, p + 32);
        let local = u32le(b, p + 42);
        // The first two and the last entry: their headers are all alike.
        if i < 2 || i + 1 == count {
            l.cut(p);
            l.cut(p + 20);
            l.cut(p + 46);
            for (at, len) in [
                (8, 2),
                (10, 2),
                (12, 4),
                (16, 4),
                (20, 4),
                (24, 4),
                (28, 2),
                (30, 2),
                (42, 4),
            ] {
                l.field(p + at, len, Kind::Bin);
            }
            let n = u16le(b, local + 26) + u16le(b, local + 28);
            l.cut(local + 4);
            l.cut(local + 30);
            l.cut(local + 30 + n);
            for (at, len) in [
                (0, 4),
                (6, 2),
                (8, 2),
                (10, 4),
                (14, 4),
                (18, 4),
                (22, 4),
                (26, 2),
                (28, 2),
            ] {
                l.field(local + at, len, Kind::Bin);
            }
        }
        p += 46 + var;
    }
    l.cut(p);
    l
}

fn tar_size(h: &[u8]) -> usize {
    if h[124] & 0x80 != 0 {
        return usize::MAX / 2;
    }
    number(h, 124, 12, 8)
}

fn tar_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let mut p = 0;
    let mut n = 0;
    while p + 512 <= b.len() && b[p..p + 512].iter().any(|&c| c != 0) && n < 5 {
        let size = tar_size(&b[p..]);
        for at in [50, 100, 124, 148, 156, 257, 263, 345, 512] {
            l.cut(p + at);
        }
        l.cut(p + 512 + size / 2);
        l.field(p, 100, Kind::Text);
        for (at, len) in [(100, 8), (124, 12), (136, 12), (148, 8)] {
            l.field(p + at, len, Kind::Octal);
        }
        l.field(p + 156, 1, Kind::Bin);
        l.field(p + 257, 6, Kind::Bin);
        l.field(p + 157, 100, Kind::Text);
        p += 512 + size.div_ceil(512) * 512;
        n += 1;
    }
    l.cut(p);
    l.cut(p + 512);
    l
}

fn cpio_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let mut p = 0;
    for _ in 0..4 {
        if p + 6 > b.len() {
            break;
        }
        let magic = &b[p..p + 6];
        if magic == b"070701" || magic == b"070702" {
            let namesize = number(b, p + 94, 8, 16);
            let filesize = number(b, p + 54, 8, 16);
            for at in [6, 54, 94, 110] {
                l.cut(p + at);
            }
            for i in 0..13 {
                l.field(p + 6 + 8 * i, 8, Kind::Hex);
            }
            let data = (p + 110 + namesize).next_multiple_of(4);
            l.cut(p + 110 + namesize / 2);
            l.cut(data);
            l.cut(data + filesize / 2);
            p = (data + filesize).next_multiple_of(4);
        } else if magic == b"070707" {
            let namesize = number(b, p + 59, 6, 8);
            let filesize = number(b, p + 65, 11, 8);
            for at in [6, 48, 59, 65, 76] {
                l.cut(p + at);
            }
            for (at, len) in [
                (6, 6),
                (12, 6),
                (18, 6),
                (36, 6),
                (48, 11),
                (59, 6),
                (65, 11),
            ] {
                l.field(p + at, len, Kind::Octal);
            }
            l.cut(p + 76 + namesize);
            l.cut(p + 76 + namesize + filesize / 2);
            p += 76 + namesize + filesize;
        } else {
            // Old binary, either byte order: 13 halfwords, name, padding, data.
            let be = magic[0] == 0x71;
            let h = |i: usize| {
                if be {
                    u16be(b, p + 2 * i)
                } else {
                    u16le(b, p + 2 * i)
                }
            };
            let namesize = h(10);
            let filesize = (h(11) << 16) | h(12);
            for at in [2, 16, 20, 22, 26] {
                l.cut(p + at);
            }
            for i in 0..13 {
                l.field(p + 2 * i, 2, Kind::Bin);
            }
            let data = p + 26 + namesize.next_multiple_of(2);
            l.cut(data);
            p = data + filesize.next_multiple_of(2);
        }
    }
    l
}

fn ar_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    l.cut(4);
    l.cut(8);
    l.field(0, 8, Kind::Text);
    let mut p = 8;
    let mut n = 0;
    while p + 60 <= b.len() && n < 4 {
        let size = number(b, p + 48, 10, 10);
        for at in [8, 16, 28, 48, 58, 60] {
            l.cut(p + at);
        }
        l.cut(p + 60 + size / 2);
        l.field(p, 16, Kind::Text);
        l.field(p + 16, 12, Kind::Decimal);
        l.field(p + 40, 8, Kind::Octal);
        l.field(p + 48, 10, Kind::Decimal);
        l.field(p + 58, 2, Kind::Bin);
        p += 60 + size + size % 2;
        n += 1;
    }
    l
}

fn png_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    l.cut(4);
    l.cut(8);
    l.field(0, 8, Kind::Bin);
    let mut p = 8;
    while p + 12 <= b.len() {
        let len = u32be(b, p);
        for at in [4, 8, 8 + len / 2, 8 + len, 12 + len] {
            l.cut(p + at);
        }
        l.field(p, 4, Kind::Bin);
        l.field(p + 4, 4, Kind::Text);
        l.field(p + 8 + len, 4, Kind::Bin);
        if &b[p + 4..p + 8] == b"tIME" || &b[p + 4..p + 8] == b"IHDR" {
            l.field(p + 8, len, Kind::Bin);
        }
        p += 12 + len;
    }
    l
}

fn mo_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let rd = if b[0] == 0xde { u32le } else { u32be };
    for i in 0..7 {
        l.cut(4 * i + 4);
        l.field(4 * i, 4, Kind::Bin);
    }
    let (count, originals, translations, hash) = (rd(b, 8), rd(b, 12), rd(b, 16), rd(b, 24));
    for table in [originals, translations] {
        l.cut(table);
        l.cut(table + 4);
        l.cut(table + 8 * count);
        l.field(table, 4, Kind::Bin);
        l.field(table + 4, 4, Kind::Bin);
        l.field(table + 8 * (count - 1), 8, Kind::Bin);
    }
    l.cut(hash);
    // The header entry (msgstr of ""), which holds the dates.
    let (len, at) = (rd(b, translations), rd(b, translations + 4));
    l.cut(at + len / 2);
    l.cut(at + len);
    l.field(at, len, Kind::Text);
    l
}

fn pyc_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    for at in [1, 2, 4, 8, 12, 16, 17, 21, b.len() / 2, b.len() - 1] {
        l.cut(at);
    }
    for (at, len) in [(0, 2), (2, 2), (4, 4), (8, 4), (12, 4), (16, 1), (17, 4)] {
        l.field(at, len, Kind::Bin);
    }
    l
}

/// COFF file header at `h` and its section table; returns the section table's end.
fn coff_headers(b: &[u8], h: usize, l: &mut Layout) {
    for (at, len) in [(0, 2), (2, 2), (4, 4), (8, 4), (12, 4), (16, 2), (18, 2)] {
        l.field(h + at, len, Kind::Bin);
        l.cut(h + at + len);
    }
    let (nsect, opt) = (u16le(b, h + 2), u16le(b, h + 16));
    let (symtab, nsyms) = (u32le(b, h + 8), u32le(b, h + 12));
    let table = h + 20 + opt;
    l.cut(table);
    for s in 0..nsect.min(3) {
        let s = table + 40 * s;
        l.cut(s + 20);
        l.cut(s + 40);
        for at in [8, 12, 16, 20, 24, 32] {
            l.field(s + at, 4, Kind::Bin);
        }
        let (raw, size) = (u32le(b, s + 20), u32le(b, s + 16));
        if raw > 0 {
            l.cut(raw);
            l.cut(raw + size / 2);
        }
    }
    if symtab > 0 {
        l.cut(symtab);
        l.cut(symtab + 18 * nsyms);
        l.cut(symtab + 18 * nsyms + 4);
    }
}

fn pe_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    l.cut(2);
    l.cut(0x3c);
    l.cut(0x40);
    l.field(0, 2, Kind::Bin);
    l.field(0x3c, 4, Kind::Bin);
    let pe = u32le(b, 0x3c);
    l.cut(pe);
    l.cut(pe + 4);
    l.field(pe, 4, Kind::Bin);
    let coff = pe + 4;
    coff_headers(b, coff, &mut l);
    let opt = coff + 20;
    let plus = u16le(b, opt) == 0x20b;
    l.field(opt, 2, Kind::Bin);
    l.field(opt + 56, 4, Kind::Bin); // SizeOfImage
    l.field(opt + 60, 4, Kind::Bin); // SizeOfHeaders
    l.field(opt + 64, 4, Kind::Bin); // CheckSum
    let dirs = opt + if plus { 112 } else { 96 };
    l.field(dirs - 4, 4, Kind::Bin); // NumberOfRvaAndSizes
    l.cut(opt + 64);
    l.cut(dirs);
    for d in [0, 2, 4, 6] {
        l.field(dirs + 8 * d, 4, Kind::Bin);
        l.field(dirs + 8 * d + 4, 4, Kind::Bin);
    }
    l
}

fn coff_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    coff_headers(b, 0, &mut l);
    l
}

fn uimage_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    for i in 0..8 {
        l.cut(4 * i + 4);
        l.field(4 * i, 4, Kind::Bin);
    }
    l.field(28, 4, Kind::Bin);
    l.field(32, 32, Kind::Text);
    l.cut(48);
    l.cut(64);
    l.cut(68);
    l.cut(64 + (b.len() - 64) / 2);
    l
}

fn font_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let mut bases = vec![0];
    if b.starts_with(b"ttcf") {
        let n = u32be(b, 8);
        l.field(8, 4, Kind::Bin);
        for i in 0..n {
            l.field(12 + 4 * i, 4, Kind::Bin);
        }
        bases = (0..n).map(|i| u32be(b, 12 + 4 * i)).collect();
    }
    for base in bases {
        l.cut(base + 4);
        l.cut(base + 6);
        l.cut(base + 12);
        l.field(base, 4, Kind::Bin);
        l.field(base + 4, 2, Kind::Bin);
        let n = u16be(b, base + 4);
        for i in 0..n {
            let r = base + 12 + 16 * i;
            l.cut(r);
            let (tag, off, len) = (&b[r..r + 4], u32be(b, r + 8), u32be(b, r + 12));
            if tag == b"head" {
                l.cut(off);
                l.cut(off + 20);
                l.cut(off + len);
                for (at, len) in [(8, 4), (12, 4), (20, 8), (28, 8)] {
                    l.field(off + at, len, Kind::Bin);
                }
                l.field(r + 4, 4, Kind::Bin);
                l.field(r + 8, 4, Kind::Bin);
                l.field(r + 12, 4, Kind::Bin);
            } else if i % 4 == 0 {
                l.cut(off);
                l.field(r + 8, 4, Kind::Bin);
                l.field(r + 12, 4, Kind::Bin);
            }
        }
    }
    l
}

fn iso_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let pvd = 0x8000;
    for at in [0, 1, 6, 7, 0x50, 0x80, 0x9c, 0x9c + 34, 0x32d, 0x33e, 0x800] {
        l.cut(pvd + at);
    }
    for (at, len) in [
        (0, 1),
        (1, 5),
        (6, 1),
        (0x50, 8),
        (0x78, 4),
        (0x80, 4),
        (0x84, 8),
        (0x8c, 4),
        (0x9c + 2, 8),
        (0x9c + 10, 8),
        (0x9c + 18, 7),
        (0x32d, 17),
        (0x33e, 17),
    ] {
        l.field(pvd + at, len, Kind::Bin);
    }
    // The descriptor after the primary one, and the root directory.
    l.field(pvd + 0x800, 1, Kind::Bin);
    let root = u32le(b, pvd + 0x9c + 2) * 2048;
    l.cut(root);
    l.cut(root + 34);
    l.cut(root + 68);
    l.field(root, 1, Kind::Bin);
    l.field(root + 2, 8, Kind::Bin);
    l.field(root + 10, 8, Kind::Bin);
    l.field(root + 18, 7, Kind::Bin);
    l.field(root + 32, 1, Kind::Bin);
    l
}

/// Text formats: the first line ends, and the first lines with a digit (dates).
fn text_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let mut start = 0;
    let mut dated = 0;
    for (i, line) in b.split(|&c| c == b'\n').enumerate().take(40) {
        let end = start + line.len();
        if i < 6 {
            l.cut(end);
            l.cut(end + 1);
            l.field(start, line.len().min(8), Kind::Text);
        }
        if line.iter().any(u8::is_ascii_digit) && dated < 3 {
            dated += 1;
            l.cut(start + line.len() / 2);
            l.field(start, line.len(), Kind::Text);
        }
        start = end + 1;
    }
    l
}

/// xz, bzip2 and zstd streams: the stream header and flags, the first block
/// header, and the stream's end (xz's index and footer, bzip2's
/// end-of-stream marker and CRC, zstd's last block and checksum).
fn compressed_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let n = b.len();
    for at in [4, 6, 8, 10, 12, 16, 24, 32, n / 4, n / 2, n - 12, n - 4] {
        l.cut(at);
    }
    for (at, len) in [
        (0, 4),
        (4, 2),
        (6, 2),
        (8, 4),
        (12, 4),
        (16, 8),
        (n - 12, 4),
        (n - 8, 6),
        (n - 4, 4),
    ] {
        l.field(at, len, Kind::Bin);
    }
    l
}

/// A PDF's structure: the header, object boundaries, the cross-reference
/// section, the trailer, `startxref` and its number, `/Size`, and the dates.
fn pdf_layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let find_all = |pat: &[u8]| -> Vec<usize> {
        b.windows(pat.len())
            .enumerate()
            .filter(|(_, w)| *w == pat)
            .map(|(i, _)| i)
            .collect()
    };
    l.cut(8);
    l.field(5, 3, Kind::Decimal);
    for at in find_all(b"endobj").into_iter().take(6) {
        l.cut(at + 6);
    }
    for pat in [
        &b"xref"[..],
        b"trailer",
        b"startxref",
        b"%%EOF",
        b"/Size ",
        b"/Root ",
        b"/Info ",
    ] {
        for at in find_all(pat) {
            l.cut(at);
            l.cut(at + pat.len());
            let digits = b[at + pat.len()..]
                .iter()
                .skip_while(|c| c.is_ascii_whitespace())
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 {
                let start = at
                    + pat.len()
                    + b[at + pat.len()..]
                        .iter()
                        .take_while(|c| c.is_ascii_whitespace())
                        .count();
                l.field(start, digits, Kind::Decimal);
            }
        }
    }
    for at in find_all(b"(D:").into_iter().take(4) {
        l.field(at + 3, 14, Kind::Decimal);
    }
    l
}

const FORMATS: &[Format] = &[
    Format {
        name: "gzip",
        consumer: Consumer::Gzip,
        sources: &["best.1.gz", "comment.1.gz", "multi.1.gz"],
        layout: gzip_layout,
    },
    Format {
        name: "zip",
        consumer: Consumer::Unzip,
        sources: &["jar.1.jar", "zip30.1.zip", "nested.1.zip", "symlink.1.zip"],
        layout: zip_layout,
    },
    Format {
        name: "tar",
        consumer: Consumer::Tar,
        sources: &["gnu.1.tar", "posix.1.tar", "ustar.1.tar"],
        layout: tar_layout,
    },
    Format {
        name: "cpio",
        consumer: Consumer::Cpio,
        sources: &["newc.1.cpio", "crc.1.cpio", "odc.1.cpio", "bin-be.1.cpio"],
        layout: cpio_layout,
    },
    Format {
        name: "ar",
        consumer: Consumer::Ar,
        sources: &["gnu.1.a", "bsd.1.a"],
        layout: ar_layout,
    },
    Format {
        name: "deb",
        consumer: Consumer::DpkgDeb,
        sources: &["hello.1.deb"],
        layout: ar_layout,
    },
    Format {
        name: "png",
        consumer: Consumer::Pngcheck,
        sources: &["text.1.png", "palette.1.png"],
        layout: png_layout,
    },
    Format {
        name: "mo",
        consumer: Consumer::Msgunfmt,
        sources: &["msgfmt.1.mo", "big-endian.1.mo"],
        layout: mo_layout,
    },
    Format {
        name: "pyc",
        consumer: Consumer::CPython,
        sources: &["plain.1.pyc", "checked-hash.1.pyc"],
        layout: pyc_layout,
    },
    Format {
        name: "pe",
        consumer: Consumer::LlvmReadobj,
        sources: &["hello.1.exe", "foo.1.dll"],
        layout: pe_layout,
    },
    Format {
        name: "coff",
        consumer: Consumer::LlvmReadobj,
        sources: &["foo.1.o", "res-x64.1.obj"],
        layout: coff_layout,
    },
    Format {
        name: "uimage",
        consumer: Consumer::Dumpimage,
        sources: &["kernel.1.uimg", "multi.1.uimg"],
        layout: uimage_layout,
    },
    Format {
        name: "font",
        consumer: Consumer::FontTools,
        sources: &["fonttools.1.ttf", "fontforge.1.otf", "collection.1.ttc"],
        layout: font_layout,
    },
    Format {
        name: "iso9660",
        consumer: Consumer::Xorriso,
        sources: &["xorriso-rj.1.iso", "genisoimage-rj.1.iso"],
        layout: iso_layout,
    },
    Format {
        name: "javadoc",
        consumer: Consumer::HtmlParser,
        sources: &["class.1.html"],
        layout: text_layout,
    },
    Format {
        name: "properties",
        consumer: Consumer::JavaProperties,
        sources: &["plain.1.properties", "comments.1.properties"],
        layout: text_layout,
    },
    Format {
        name: "compressed",
        consumer: Consumer::CompressedTar,
        sources: &["xz.1.tar.xz", "bzip2.1.tar.bz2", "zstd.1.tar.zst"],
        layout: compressed_layout,
    },
    Format {
        name: "pdf",
        consumer: Consumer::Qpdf,
        sources: &[
            "groff.1.pdf",
            "ps2pdf.1.pdf",
            "cairo.1.pdf",
            "qpdf-xref-stream.1.pdf",
        ],
        layout: pdf_layout,
    },
    Format {
        name: "perllocal",
        consumer: Consumer::Podchecker,
        sources: &["two-entries.1.pod"],
        layout: text_layout,
    },
];

/// At most this many truncations and field damages per source file.
const PER_SOURCE: usize = 14;

/// Picks `n` of `items` (all when fewer), spread by the generator.
fn pick<T: Clone>(items: &[T], n: usize, rng: &mut Rng) -> Vec<T> {
    let mut v = items.to_vec();
    while v.len() > n {
        let i = rng.below(v.len());
        v.remove(i);
    }
    v
}

/// An absurd value of a field's shape: all ones, or the largest digits.
fn absurd(kind: Kind, len: usize) -> Vec<u8> {
    match kind {
        Kind::Bin => vec![0xff; len],
        Kind::Octal => {
            let mut v = vec![b'7'; len];
            v[len - 1] = 0;
            v
        }
        Kind::Decimal => vec![b'9'; len],
        Kind::Hex => vec![b'F'; len],
        Kind::Text => vec![0x80; len],
    }
}

fn ext_of(name: &str) -> &str {
    let (_, ext) = name.split_once(".1.").unwrap();
    ext
}

/// Damaged copies of every source of every format.
fn generated(rng: &mut Rng) -> Vec<Case> {
    let mut out = Vec::new();
    for f in FORMATS {
        for src in f.sources {
            let bytes = fs::read(corpus(f.name).join(src)).unwrap();
            let stem = src.split_once(".1.").unwrap().0;
            let ext = ext_of(src);
            let layout = (f.layout)(&bytes);
            let cuts: BTreeSet<usize> = layout
                .cuts
                .iter()
                .copied()
                .filter(|&c| c > 0 && c < bytes.len())
                .collect();
            let cuts: Vec<usize> = cuts.into_iter().collect();
            assert!(
                cuts.len() >= 4,
                "{}/{src}: only {} header boundaries",
                f.name,
                cuts.len()
            );
            let mut push = |what: String, b: Vec<u8>| {
                let rel = format!("bad/{}/{stem}.{what}.{ext}", f.name);
                // The same damage drawn twice (or a no-op) is one case, or none.
                if b != bytes && !out.iter().any(|c: &Case| c.rel == rel) {
                    out.push(Case {
                        rel,
                        bytes: b,
                        format: f.name,
                        consumer: f.consumer,
                        expected: None,
                    });
                }
            };
            for at in pick(&cuts, PER_SOURCE, rng) {
                push(format!("cut-{at}"), bytes[..at].to_vec());
            }
            let fields: Vec<_> = layout
                .fields
                .iter()
                .copied()
                .filter(|&(at, len, _)| len > 0 && at + len <= bytes.len())
                .collect();
            assert!(
                fields.len() >= 4,
                "{}/{src}: only {} fields",
                f.name,
                fields.len()
            );
            for (at, len, kind) in pick(&fields, PER_SOURCE, rng) {
                // A bit flip, a random byte, and an absurd value, one of each in turn.
                let mut b = bytes.clone();
                let i = at + rng.below(len);
                let what = match rng.below(3) {
                    0 => {
                        let bit = rng.below(8);
                        b[i] ^= 1 << bit;
                        format!("bit-{i}-{bit}")
                    }
                    1 => {
                        b[i] = b[i].wrapping_add(1 + rng.below(255) as u8);
                        format!("byte-{i}")
                    }
                    _ => {
                        b[at..at + len].copy_from_slice(&absurd(kind, len));
                        format!("absurd-{at}")
                    }
                };
                push(what, b);
            }
        }
    }
    out
}

// ---- Hand-made hostile files ----

fn crc(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// A gzip member with a name and an mtime (so it needs normalizing).
fn gz(data: &[u8], name: &str) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(1_700_000_000)
        .filename(name)
        .write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip member as stored: name, method, stored bytes, CRC32 and size of the data.
struct Stored<'a> {
    name: &'a str,
    method: u16,
    body: Vec<u8>,
    crc: u32,
    size: usize,
}

impl<'a> Stored<'a> {
    fn new(name: &'a str, data: &[u8], deflate: bool) -> Self {
        let body = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        Stored {
            name,
            method: if deflate { 8 } else { 0 },
            body,
            crc: crc(data),
            size: data.len(),
        }
    }
}

/// A zip of `(name, data, deflate)` members, dated 2023, with its local
/// header offsets.
fn zip(members: &[(&str, &[u8], bool)]) -> (Vec<u8>, Vec<usize>) {
    zip_of(
        &members
            .iter()
            .map(|(n, d, z)| Stored::new(n, d, *z))
            .collect::<Vec<_>>(),
    )
}

fn zip_of(members: &[Stored]) -> (Vec<u8>, Vec<usize>) {
    let (time, date) = (0x6000u16, 0x5721u16);
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut offsets = Vec::new();
    for m in members {
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&m.method.to_le_bytes());
        common.extend_from_slice(&time.to_le_bytes());
        common.extend_from_slice(&date.to_le_bytes());
        common.extend_from_slice(&m.crc.to_le_bytes());
        common.extend_from_slice(&(m.body.len() as u32).to_le_bytes());
        common.extend_from_slice(&(m.size as u32).to_le_bytes());
        common.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        offsets.push(out.len());
        central.extend_from_slice(b"PK\x01\x02\x14\x03");
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&(out.len() as u32).to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&common);
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&m.body);
    }
    let cd = out.len();
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&(cd as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    (out, offsets)
}

/// One tar header (ustar), with its checksum.
fn tar_header(name: &str, size: &[u8; 12], kind: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(size);
    h[136..148].copy_from_slice(b"14540000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&c| u32::from(c)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn octal12(n: usize) -> [u8; 12] {
    format!("{n:011o}\0").into_bytes().try_into().unwrap()
}

/// A tar of `(name, type, link, data)` entries, with its end blocks.
fn tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        out.extend_from_slice(&tar_header(name, &octal12(data.len()), *kind, link));
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A raw deflate stream of `first` (1 MiB) then `chunks - 1` MiB of zeros,
/// with the CRC32 and size of what it inflates to: a full-flushed chunk
/// repeated, so a bomb costs little to make.
fn deflate_bomb(first: &[u8], chunks: usize) -> (Vec<u8>, u32, usize) {
    let mib = 1 << 20;
    assert_eq!(first.len(), mib);
    let zeros = vec![0u8; mib];
    let chunk = |data: &[u8]| {
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let mut out = Vec::with_capacity(mib);
        c.compress_vec(data, &mut out, flate2::FlushCompress::Full)
            .unwrap();
        assert_eq!(c.total_in(), mib as u64);
        out
    };
    let (head, body) = (chunk(first), chunk(&zeros));
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(first);
    let mut zeros_crc = crc32fast::Hasher::new();
    zeros_crc.update(&zeros);
    let mut out = head;
    for _ in 1..chunks {
        out.extend_from_slice(&body);
        hasher.combine(&zeros_crc);
    }
    out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]); // final empty stored block
    (out, hasher.finalize(), chunks * mib)
}

/// A gzip member inflating to `chunks` MiB: a tar header (so the payload is
/// offered to the tar handler) and zeros.
fn gzip_bomb(chunks: usize) -> Vec<u8> {
    let mib = 1 << 20;
    let mut first = tar_header("bomb", &octal12(chunks * mib - 512), b'0', "").to_vec();
    first.resize(mib, 0);
    let (stream, crc, size) = deflate_bomb(&first, chunks);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0x00, 0xf1, 0x53, 0x65, 0, 3];
    out.extend_from_slice(&stream);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out
}

/// Hand-made files: name, format, consumer, bytes.
type Hostile = Vec<(String, &'static str, Consumer, Vec<u8>)>;

/// The payload of the hand-made files.
const TEXT: &[u8] = b"hello, hostile world\n";

/// Zips with shared or overlapping members, lying sizes and counts, and bombs.
fn hostile_zips() -> Hostile {
    let mut files = Hostile::new();
    let text = TEXT;
    let (two, offs) = zip(&[("a.txt", text, false), ("b.txt", b"second member\n", false)]);
    let central = u32le(&two, two.len() - 6);
    let second_central = central + 46 + 5;
    // Two central entries share one local header.
    let mut shared = two.clone();
    shared[second_central + 42..second_central + 46]
        .copy_from_slice(&(offs[0] as u32).to_le_bytes());
    files.push((
        "zip-shared-local.zip".into(),
        "zip",
        Consumer::Unzip,
        shared,
    ));
    // The first member's (deflated) data runs over the second member's header.
    let (mut overlap, deflated) = zip(&[
        ("a.txt", &text.repeat(50), true),
        ("b.txt", b"second member\n", true),
    ]);
    let cd = u32le(&overlap, overlap.len() - 6);
    let big = (deflated[1] - deflated[0] - 30 - 5 + 20) as u32;
    overlap[deflated[0] + 18..deflated[0] + 22].copy_from_slice(&big.to_le_bytes());
    overlap[cd + 20..cd + 24].copy_from_slice(&big.to_le_bytes());
    files.push((
        "zip-overlapping-data.zip".into(),
        "zip",
        Consumer::Unzip,
        overlap,
    ));
    // The central directory claims to sit inside a member.
    let mut cd_inside = two.clone();
    let n = cd_inside.len();
    cd_inside[n - 6..n - 2].copy_from_slice(&(offs[1] as u32).to_le_bytes());
    files.push((
        "zip-cd-inside-member.zip".into(),
        "zip",
        Consumer::Unzip,
        cd_inside,
    ));
    // Sizes beyond the file, and 0xffffffff without a zip64 record.
    for (label, size) in [("beyond", 1u32 << 30), ("ffffffff", u32::MAX)] {
        let mut z = two.clone();
        z[offs[0] + 18..offs[0] + 26]
            .copy_from_slice(&[size.to_le_bytes(), size.to_le_bytes()].concat());
        z[central + 20..central + 28]
            .copy_from_slice(&[size.to_le_bytes(), size.to_le_bytes()].concat());
        files.push((format!("zip-size-{label}.zip"), "zip", Consumer::Unzip, z));
    }
    // A zip64 extra field declaring 2^63 bytes.
    {
        let (mut z, _) = zip(&[("huge.bin", text, false)]);
        let cd = u32le(&z, z.len() - 6);
        z[cd + 20..cd + 28].copy_from_slice(&[0xff; 8]);
        let mut extra = vec![1, 0, 16, 0];
        extra.extend_from_slice(&(1u64 << 63).to_le_bytes());
        extra.extend_from_slice(&(1u64 << 63).to_le_bytes());
        let name_end = cd + 46 + 8;
        z[cd + 30..cd + 32].copy_from_slice(&(extra.len() as u16).to_le_bytes());
        z.splice(name_end..name_end, extra.iter().copied());
        let n = z.len();
        let cd_size = u32le(&z, n - 10) + extra.len();
        z[n - 10..n - 6].copy_from_slice(&(cd_size as u32).to_le_bytes());
        files.push(("zip64-size-2-63.zip".into(), "zip", Consumer::Unzip, z));
    }
    // The EOCD says 65535 entries.
    let mut many = two.clone();
    let n = many.len();
    many[n - 14..n - 10].copy_from_slice(&[0xff; 4]);
    files.push(("zip-entries-65535.zip".into(), "zip", Consumer::Unzip, many));
    // A zip bomb: a 256 MiB tar (a header and zeros, so the payload is
    // offered to the tar handler) in a 260 KiB member, declared honestly, and
    // the same member declaring 1 KiB.
    {
        let mut first = tar_header("bomb", &octal12((256 << 20) - 512), b'0', "").to_vec();
        first.resize(1 << 20, 0);
        let (body, crc, size) = deflate_bomb(&first, 256);
        let bomb = zip_of(&[Stored {
            name: "bomb.tar",
            method: 8,
            body,
            crc,
            size,
        }])
        .0;
        files.push(("zip-bomb.zip".into(), "zip", Consumer::Unzip, bomb.clone()));
        let mut liar = bomb;
        let cd = u32le(&liar, liar.len() - 6);
        liar[22..26].copy_from_slice(&1024u32.to_le_bytes());
        liar[cd + 24..cd + 28].copy_from_slice(&1024u32.to_le_bytes());
        files.push((
            "zip-bomb-lying-size.zip".into(),
            "zip",
            Consumer::Unzip,
            liar,
        ));
    }
    files
}

/// gzip, tar, cpio and ar files with lying sizes, a bomb and escaping names.
fn hostile_streams() -> Hostile {
    let mut files = Hostile::new();
    let text = TEXT;
    // A gzip bomb whose payload is a tar header (so it is offered to tar): 256 MiB.
    files.push((
        "gzip-bomb.tar.gz".into(),
        "gzip",
        Consumer::Gzip,
        gzip_bomb(256),
    ));
    // gzip: FEXTRA running past the end; ISIZE and CRC that lie.
    {
        let good = gz(text, "a.txt");
        let mut fextra = good[..10].to_vec();
        fextra[3] |= 4;
        fextra.extend_from_slice(&0xffffu16.to_le_bytes());
        fextra.extend_from_slice(&good[10..]);
        files.push((
            "gzip-fextra-beyond.gz".into(),
            "gzip",
            Consumer::Gzip,
            fextra,
        ));
        let mut isize = good.clone();
        let n = isize.len();
        isize[n - 4..].copy_from_slice(&[0xff; 4]);
        files.push((
            "gzip-isize-ffffffff.gz".into(),
            "gzip",
            Consumer::Gzip,
            isize,
        ));
        let mut bad_crc = good.clone();
        bad_crc[n - 8] ^= 1;
        files.push(("gzip-bad-crc.gz".into(), "gzip", Consumer::Gzip, bad_crc));
    }
    // tar: sizes beyond the file, 8 GiB in octal, 2^63 in base-256.
    {
        let mut beyond = tar(&[("a.txt", b'0', "", text)]);
        beyond[..512].copy_from_slice(&tar_header("a.txt", &octal12(1 << 20), b'0', ""));
        files.push(("tar-size-beyond.tar".into(), "tar", Consumer::Tar, beyond));
        let mut octal = tar(&[("a.txt", b'0', "", text)]);
        octal[..512].copy_from_slice(&tar_header("a.txt", b"77777777777\0", b'0', ""));
        files.push(("tar-size-8g.tar".into(), "tar", Consumer::Tar, octal));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[4..].copy_from_slice(&(1u64 << 63).to_be_bytes());
        let mut huge = tar(&[("a.txt", b'0', "", text)]);
        huge[..512].copy_from_slice(&tar_header("a.txt", &b256, b'0', ""));
        files.push(("tar-size-2-63.tar".into(), "tar", Consumer::Tar, huge));
    }
    // tar entries escaping the root: `..`, absolute paths, symlinks and
    // hardlinks out, a file written through a symlink.
    files.push((
        "tar-escaping.tar".into(),
        "tar",
        Consumer::Tar,
        tar(&[
            ("../escaped.txt", b'0', "", text),
            ("/tmp/absolute.txt", b'0', "", text),
            ("a/../../up.txt", b'0', "", text),
            ("link", b'2', "../../..", &[]),
            ("link/through-link.txt", b'0', "", text),
            ("hard", b'1', "../../etc/passwd", &[]),
            ("abs-link", b'2', "/etc", &[]),
        ]),
    ));
    files.push((
        "tar-escaping.tar.gz".into(),
        "gzip",
        Consumer::Gzip,
        gz(
            &tar(&[("../gz-escaped.txt", b'0', "", text), ("l", b'2', "/", &[])]),
            "t.tar",
        ),
    ));
    // cpio, ar, png, mo, uimage, font with absurd sizes.
    {
        let mut c = b"070701".to_vec();
        for f in [
            1u32,
            0o100_644,
            0,
            0,
            1,
            1_700_000_000,
            0xffff_ffff,
            0,
            0,
            0,
            0,
            6,
            0,
        ] {
            c.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        c.extend_from_slice(b"a.txt\0");
        c.resize(c.len().next_multiple_of(4), 0);
        c.extend_from_slice(text);
        files.push(("cpio-size-ffffffff.cpio".into(), "cpio", Consumer::Cpio, c));
        let mut a = b"!<arch>\n".to_vec();
        a.extend_from_slice(b"a.txt/          1700000000  0     0     100644  9999999999`\n");
        a.extend_from_slice(text);
        files.push(("ar-size-9999999999.a".into(), "ar", Consumer::Ar, a));
    }
    files
}

/// Archives nested 20 deep, past `--max-depth`.
fn hostile_nesting() -> Hostile {
    let mut files = Hostile::new();
    let text = TEXT;
    // Nesting 20 deep: zip in zip, gzip of gzip, tar in tar.
    {
        let mut zips = zip(&[("leaf.txt", text, true)]).0;
        let mut gzips = gz(text, "leaf.txt");
        let mut tars = tar(&[("leaf.txt", b'0', "", text)]);
        for depth in 0..20 {
            zips = zip(&[
                ("inner.zip", &zips, depth % 2 == 0),
                ("dated.txt", text, false),
            ])
            .0;
            gzips = gz(&gzips, "inner.gz");
            tars = tar(&[
                ("inner.tar", b'0', "", &tars),
                ("x.gz", b'0', "", &gz(text, "x")),
            ]);
        }
        files.push(("nested-20.zip".into(), "zip", Consumer::Unzip, zips));
        files.push(("nested-20.gz".into(), "gzip", Consumer::Gzip, gzips));
        files.push(("nested-20.tar".into(), "tar", Consumer::Tar, tars));
    }
    files
}

fn hostile() -> Vec<Case> {
    let mut files = hostile_zips();
    files.extend(hostile_streams());
    files.extend(hostile_nesting());
    files
        .into_iter()
        .map(|(name, format, consumer, bytes)| Case {
            rel: format!("hostile/{name}"),
            bytes,
            format,
            consumer,
            expected: None,
        })
        .collect()
}

/// The corpus inputs that need normalizing, with their expected outputs.
fn good() -> Vec<Case> {
    let mut out = Vec::new();
    for f in FORMATS {
        let dir = corpus(f.name);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".1."))
            .collect();
        names.sort();
        for name in names {
            let (stem, ext) = name.split_once(".1.").unwrap();
            let Ok(expected) = fs::read(dir.join("expected").join(format!("{stem}.{ext}"))) else {
                continue;
            };
            let bytes = fs::read(dir.join(&name)).unwrap();
            if bytes != expected {
                out.push(Case {
                    rel: format!("good/{}/{name}", f.name),
                    bytes,
                    format: f.name,
                    consumer: f.consumer,
                    expected: Some(expected),
                });
            }
        }
    }
    out
}

// ---- Consumers ----

const PY_PYC: &str = r"
import importlib.util, marshal, sys, types
for p in sys.argv[1:]:
    try:
        d = open(p, 'rb').read()
        assert d[:4] == importlib.util.MAGIC_NUMBER, 'magic'
        flags = int.from_bytes(d[4:8], 'little')
        assert flags & ~3 == 0, 'flags'
        assert len(d) >= 16, 'header'
        assert isinstance(marshal.loads(d[16:]), types.CodeType), 'not code'
        print('ok')
    except Exception as e:
        print(repr(e).replace('\n', ' '))
";

const PY_FONT: &str = r"
import sys
from fontTools.ttLib import TTFont, TTCollection
for p in sys.argv[1:]:
    try:
        d = open(p, 'rb').read()
        fonts = TTCollection(p, checkChecksums=2).fonts if d[:4] == b'ttcf' else [TTFont(p, checkChecksums=2)]
        for f in fonts:
            for tag in f.keys():
                f[tag]
        print('ok')
    except Exception as e:
        print(repr(e).replace('\n', ' '))
";

const PY_HTML: &str = r"
import html.parser, sys
for p in sys.argv[1:]:
    try:
        html.parser.HTMLParser().feed(open(p, 'rb').read().decode('utf-8', 'replace'))
        print('ok')
    except Exception as e:
        print(repr(e).replace('\n', ' '))
";

const JAVA_PROPERTIES: &str = r#"
public class LoadProperties {
    public static void main(String[] args) {
        for (String p : args) {
            try (var in = new java.io.FileInputStream(p)) {
                new java.util.Properties().load(in);
                System.out.println("ok");
            } catch (Exception e) {
                System.out.println(e.toString().replace('\n', ' '));
            }
        }
    }
}
"#;

fn run_ok(cmd: &mut Command, strict_stderr: bool) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{} {}", out.status, err.trim()));
    }
    // llvm-readobj reads damaged tables with a warning and a zero exit.
    if strict_stderr && (err.contains("warning") || err.contains("error")) {
        return Err(err.trim().to_string());
    }
    Ok(())
}

/// One line of verdicts per path from a batch script (`ok` or the error).
fn batch(program: &str, args: &[&OsStr], paths: &[&Path]) -> Vec<Result<(), String>> {
    let out = Command::new(program)
        .args(args)
        .args(paths)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        paths.len(),
        "{program} gave no verdict for every file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
        .iter()
        .map(|l| {
            if *l == "ok" {
                Ok(())
            } else {
                Err((*l).to_string())
            }
        })
        .collect()
}

/// Whether each file is accepted by `consumer`.
fn accepts(consumer: Consumer, paths: &[&Path], scratch: &Path) -> Vec<Result<(), String>> {
    if paths.is_empty() {
        return Vec::new();
    }
    let one = |f: &dyn Fn(&Path) -> Command| -> Vec<Result<(), String>> {
        paths
            .iter()
            .map(|p| run_ok(&mut f(p), consumer == Consumer::LlvmReadobj))
            .collect()
    };
    let cmd = |program: &str, args: &[&str], p: &Path| {
        let mut c = Command::new(program);
        c.args(args).arg(p);
        c
    };
    match consumer {
        Consumer::Gzip => one(&|p| cmd("gzip", &["-t"], p)),
        Consumer::Unzip => one(&|p| cmd("unzip", &["-tqq"], p)),
        Consumer::Tar => one(&|p| cmd("tar", &["-tf"], p)),
        Consumer::Cpio => one(&|p| cmd("cpio", &["--quiet", "-it", "-F"], p)),
        Consumer::Ar => one(&|p| cmd("ar", &["t"], p)),
        Consumer::DpkgDeb => paths
            .iter()
            .map(|p| {
                run_ok(&mut cmd("dpkg-deb", &["--info"], p), false)
                    .and_then(|()| run_ok(&mut cmd("dpkg-deb", &["--contents"], p), false))
            })
            .collect(),
        Consumer::Msgunfmt => one(&|p| cmd("msgunfmt", &["-o", "/dev/null"], p)),
        Consumer::Pngcheck => one(&|p| cmd("pngcheck", &["-q"], p)),
        Consumer::LlvmReadobj => one(&|p| {
            cmd(
                "llvm-readobj",
                &[
                    "--file-headers",
                    "--sections",
                    "--symbols",
                    "--coff-debug-directory",
                ],
                p,
            )
        }),
        Consumer::Dumpimage => one(&|p| cmd("dumpimage", &["-l"], p)),
        Consumer::Xorriso => one(&|p| {
            let mut c = Command::new("xorriso");
            c.args(["-return_with", "SORRY", "32", "-indev"])
                .arg(p)
                .args(["-find", "/", "-exec", "lsdl"]);
            c
        }),
        Consumer::Podchecker => one(&|p| cmd("podchecker", &[], p)),
        Consumer::CompressedTar => one(&|p| {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "case \"$0\" in *.xz) xz -t \"$0\";; *.bz2) bzip2 -t \"$0\";; \
                 *.zst) zstd -qt \"$0\";; *) exit 9;; esac && tar -tf \"$0\" > /dev/null",
            ])
            .arg(p);
            c
        }),
        Consumer::Qpdf => one(&|p| {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "qpdf --check \"$0\" > /dev/null; s=$?; { [ $s -eq 0 ] || [ $s -eq 3 ]; } \
                 && pdfinfo \"$0\" > /dev/null",
            ])
            .arg(p);
            c
        }),
        Consumer::CPython => batch("python3", &[OsStr::new("-c"), OsStr::new(PY_PYC)], paths),
        Consumer::FontTools => batch("python3", &[OsStr::new("-c"), OsStr::new(PY_FONT)], paths),
        Consumer::HtmlParser => batch("python3", &[OsStr::new("-c"), OsStr::new(PY_HTML)], paths),
        Consumer::JavaProperties => {
            let src = scratch.join("LoadProperties.java");
            fs::write(&src, JAVA_PROPERTIES).unwrap();
            batch("java", &[src.as_os_str()], paths)
        }
    }
}

// ---- Running the binary ----

/// The report of a run, and its exit code.
struct Run {
    code: Option<i32>,
    stderr: String,
    json: serde_json::Value,
    /// Peak resident memory seen while it ran.
    peak_mib: u64,
}

impl Run {
    /// `(path relative to root, handler, reason)` of a report list.
    fn notes(&self, list: &str, root: &Path) -> BTreeMap<String, (String, String)> {
        self.json[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let path = Path::new(n["path"].as_str().unwrap());
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                let handler = n["handler"].as_str().unwrap_or("").to_string();
                (rel, (handler, n["reason"].as_str().unwrap().to_string()))
            })
            .collect()
    }
}

fn strip_nd(root: &Path, strict: bool, scratch: &Path) -> Run {
    let (out, err) = (scratch.join("stdout"), scratch.join("stderr"));
    let mut c = bin();
    c.env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["--json", "--jobs", "2"]);
    if strict {
        c.arg("--strict");
    }
    let mut child = c
        .arg(root)
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak_kib = 0;
    let status = loop {
        // The peak resident size so far (a bomb must not be inflated whole).
        if let Some(kib) = fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "strip-nd hangs: still running after {TIMEOUT:?} on {}",
                root.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = fs::read_to_string(&err).unwrap();
    assert!(!stderr.contains("panicked"), "strip-nd panicked:\n{stderr}");
    let json = serde_json::from_slice(&fs::read(&out).unwrap())
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stderr}"));
    Run {
        code: status.code(),
        stderr,
        json,
        peak_mib: peak_kib / 1024,
    }
}

fn write_tree(root: &Path, cases: &[Case]) {
    for c in cases {
        let p = root.join(&c.rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, &c.bytes).unwrap();
    }
}

/// Entries of `dir` (not below it): to see that nothing lands beside the tree.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().path().to_owned())
        .collect()
}

fn all_cases() -> Vec<Case> {
    let mut rng = Rng(0x6d61_6c66_6f72_6d65);
    let mut cases = generated(&mut rng);
    cases.extend(hostile());
    cases.extend(good());
    let names: BTreeSet<&str> = cases.iter().map(|c| c.rel.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "two cases share a name");
    cases
}

fn need_tools() {
    for (tool, package) in [
        ("gzip", "gzip"),
        ("unzip", "unzip"),
        ("tar", "tar"),
        ("cpio", "cpio"),
        ("ar", "binutils"),
        ("dpkg-deb", "dpkg"),
        ("msgunfmt", "gettext"),
        ("pngcheck", "pngcheck"),
        ("python3", "python3"),
        ("llvm-readobj", "llvm"),
        ("dumpimage", "u-boot-tools"),
        ("xorriso", "xorriso"),
        ("java", "default-jdk-headless"),
        ("podchecker", "perl"),
    ] {
        need(tool, package);
    }
}

/// What a run did to the tree, by path relative to its root.
struct Verdicts {
    malformed: BTreeMap<String, (String, String)>,
    skipped: BTreeMap<String, (String, String)>,
    changed: BTreeSet<String>,
}

impl Verdicts {
    fn of(run: &Run, root: &Path) -> Self {
        Verdicts {
            malformed: run.notes("malformed", root),
            skipped: run.notes("skipped", root),
            changed: run.json["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let p = Path::new(c["path"].as_str().unwrap());
                    p.strip_prefix(root).unwrap().display().to_string()
                })
                .collect(),
        }
    }

    fn reported(&self, rel: &str) -> Option<&(String, String)> {
        self.malformed.get(rel).or(self.skipped.get(rel))
    }
}

fn truncated(mut e: String) -> String {
    if e.len() > 300 {
        let mut cut = 300;
        while !e.is_char_boundary(cut) {
            cut -= 1;
        }
        e.truncate(cut);
    }
    e
}

/// Checks every file of the tree after the run; returns the failures and how
/// many files each consumer was asked about.
fn check_files(
    cases: &[Case],
    root: &Path,
    scratch: &Path,
    v: &Verdicts,
) -> (Vec<String>, BTreeMap<Consumer, usize>) {
    let mut failures = Vec::new();
    let config = Config::with_epoch(EPOCH);
    // Files to ask their consumer about: (case, file, what is asked).
    let mut ask: BTreeMap<Consumer, Vec<(usize, PathBuf, &str)>> = BTreeMap::new();
    let originals = scratch.join("originals");
    for (i, c) in cases.iter().enumerate() {
        let path = root.join(&c.rel);
        let now = fs::read(&path).unwrap();
        let untouched = now == c.bytes;
        assert_eq!(
            !untouched,
            v.changed.contains(&c.rel),
            "{}: report and file disagree",
            c.rel
        );
        if let Some(want) = &c.expected {
            if now != *want {
                failures.push(format!("{}: good file not normalized to expected", c.rel));
            }
            continue;
        }
        if let Some((_, reason)) = v.reported(&c.rel) {
            if reason.trim().is_empty() {
                failures.push(format!("{}: reported without a reason", c.rel));
            }
            if reason.contains("panicked") {
                failures.push(format!("{}: a handler panicked: {reason}", c.rel));
            }
        }
        if untouched {
            if v.reported(&c.rel).is_some() {
                continue;
            }
            let name = Path::new(&c.rel).file_name().unwrap();
            match strip_nd::dispatch::dispatch(&c.bytes, &config.context(Path::new(name))) {
                Some((h, Err(e))) => failures.push(format!(
                    "{}: {h} finds it malformed ({e}) but the report does not name it",
                    c.rel
                )),
                // Claimed and silently left alone: the consumer must agree it is fine.
                Some(_) => {
                    ask.entry(c.consumer)
                        .or_default()
                        .push((i, path, "untouched, unreported"));
                }
                None => {}
            }
        } else {
            if v.malformed.contains_key(&c.rel) {
                failures.push(format!("{}: reported malformed but rewritten", c.rel));
            }
            let orig = originals.join(&c.rel);
            fs::create_dir_all(orig.parent().unwrap()).unwrap();
            fs::write(&orig, &c.bytes).unwrap();
            let files = ask.entry(c.consumer).or_default();
            files.push((i, orig, "input of a rewritten file"));
            files.push((i, path, "rewritten file"));
        }
    }
    let mut asked = BTreeMap::new();
    for (consumer, files) in &ask {
        let paths: Vec<&Path> = files.iter().map(|(_, p, _)| p.as_path()).collect();
        asked.insert(*consumer, paths.len());
        for ((i, _, what), verdict) in files.iter().zip(accepts(*consumer, &paths, scratch)) {
            if let Err(e) = verdict {
                failures.push(format!(
                    "{}: {consumer:?} rejects the {what}: {}",
                    cases[*i].rel,
                    truncated(e)
                ));
            }
        }
    }
    // Every file the report names is in the tree (a member path, `a.zip!b`,
    // names its archive).
    for rel in v.malformed.keys() {
        let top = rel.split('!').next().unwrap();
        if !cases.iter().any(|c| c.rel == top) {
            failures.push(format!("the report names {rel}, which is not in the tree"));
        }
    }
    (failures, asked)
}

/// `--strict` on a fresh copy exits 1 and names the same files; on the good
/// files alone it exits 0.
fn check_strict(tmp: &Path, cases: &[Case], v: &Verdicts, scratch: &Path) {
    let fresh = tmp.join("fresh");
    write_tree(&fresh, cases);
    let strict = strip_nd(&fresh, true, scratch);
    assert_eq!(
        strict.code,
        Some(i32::from(!v.malformed.is_empty())),
        "{}",
        strict.stderr
    );
    assert_eq!(
        strict.notes("malformed", &fresh).keys().collect::<Vec<_>>(),
        v.malformed.keys().collect::<Vec<_>>(),
        "--strict names other files"
    );
    let only_good = tmp.join("good");
    write_tree(&only_good, &good());
    let g = strip_nd(&only_good, true, scratch);
    assert_eq!(g.code, Some(0), "{}", g.stderr);
    assert!(g.notes("malformed", &only_good).is_empty());
}

/// Case counts by format and by consumer, and what became of the hostile files.
fn summary(cases: &[Case], v: &Verdicts, asked: &BTreeMap<Consumer, usize>) -> String {
    let mut summary = String::new();
    // format -> [reported, rewritten, untouched and unreported, good]
    let mut by_format: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    let mut by_consumer: BTreeMap<Consumer, [usize; 2]> = BTreeMap::new();
    for c in cases {
        let outcome = if c.expected.is_some() {
            3
        } else if v.reported(&c.rel).is_some() {
            0
        } else if v.changed.contains(&c.rel) {
            1
        } else {
            2
        };
        by_format.entry(c.format).or_default()[outcome] += 1;
        by_consumer.entry(c.consumer).or_default()[usize::from(outcome == 3)] += 1;
        if c.rel.starts_with("hostile/") {
            let what = match (v.malformed.get(&c.rel), v.skipped.get(&c.rel)) {
                (Some((h, r)), _) => format!("malformed ({h}): {r}"),
                (_, Some((h, r))) => format!("skipped ({h}): {r}"),
                _ if v.changed.contains(&c.rel) => "rewritten".to_string(),
                _ => "untouched".to_string(),
            };
            writeln!(summary, "  {}: {what}", c.rel).unwrap();
        }
    }
    writeln!(
        summary,
        "format: malformed cases (reported / rewritten / untouched, unreported), good files"
    )
    .unwrap();
    for (f, [rep, rew, quiet, good]) in &by_format {
        writeln!(
            summary,
            "  {f}: {} ({rep} / {rew} / {quiet}), {good}",
            rep + rew + quiet
        )
        .unwrap();
    }
    writeln!(summary, "consumer: malformed cases, good files").unwrap();
    for (c, [bad, good]) in &by_consumer {
        writeln!(summary, "  {c:?}: {bad}, {good}").unwrap();
    }
    writeln!(summary, "consumer runs: {asked:?}").unwrap();
    summary
}

#[test]
#[ignore = "needs gzip, unzip, tar, cpio, ar, dpkg-deb, msgunfmt, pngcheck, python3 with fontTools, llvm-readobj, dumpimage, xorriso, java, podchecker, xz, bzip2, zstd, qpdf, pdfinfo"]
fn malformed_inputs_are_left_untouched_reported_or_still_valid() {
    need_tools();
    let started = Instant::now();
    let cases = all_cases();
    let mut timings = format!("generated in {:.1} s", started.elapsed().as_secs_f64());
    let bad = cases.iter().filter(|c| c.expected.is_none()).count();
    assert!(bad >= 300, "only {bad} malformed cases");
    let formats: BTreeSet<&str> = cases.iter().map(|c| c.format).collect();
    assert!(formats.len() >= 17, "formats: {formats:?}");

    let tmp = tempfile::tempdir().unwrap();
    // The tree sits two levels down, so an entry escaping it would show beside it.
    let outer = tmp.path().join("outer");
    let root = outer.join("in").join("tree");
    write_tree(&root, &cases);
    // To look at a case by hand: the inputs, as generated.
    if let Some(dump) = std::env::var_os("STRIP_ND_MALFORMED_DUMP") {
        write_tree(Path::new(&dump), &cases);
    }
    let before = listing(&outer);
    let scratch = tmp.path().join("scratch");
    fs::create_dir(&scratch).unwrap();

    let t = Instant::now();
    let run = strip_nd(&root, false, &scratch);
    write!(
        timings,
        ", strip-nd {:.1} s (peak RSS {} MiB)",
        t.elapsed().as_secs_f64(),
        run.peak_mib
    )
    .unwrap();
    assert!(
        run.peak_mib < MAX_RSS_MIB,
        "strip-nd peaked at {} MiB",
        run.peak_mib
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        before
            .symmetric_difference(&listing(&outer))
            .collect::<Vec<_>>(),
        Vec::<&PathBuf>::new(),
        "strip-nd created or removed files"
    );
    let verdicts = Verdicts::of(&run, &root);

    let t = Instant::now();
    let (failures, asked) = check_files(&cases, &root, &scratch, &verdicts);
    write!(timings, ", consumers {:.1} s", t.elapsed().as_secs_f64()).unwrap();
    let t = Instant::now();
    check_strict(tmp.path(), &cases, &verdicts, &scratch);
    write!(
        timings,
        ", --strict runs {:.1} s",
        t.elapsed().as_secs_f64()
    )
    .unwrap();

    let mut summary = summary(&cases, &verdicts, &asked);
    writeln!(
        summary,
        "{bad} malformed cases, {} good files; {timings}; total {:.1} s",
        cases.len() - bad,
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    eprintln!("{summary}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}\n{summary}",
        failures.len(),
        failures.join("\n")
    );
}

/// A member a handler refuses inside an archive that is otherwise fine is
/// reported by its path inside the archive (`x.zip!bad.gz`), with the
/// handler and the reason, and `--strict` fails on it; the good member
/// beside it is still normalized. Before the dispatcher reported members,
/// the refusal was dropped without a word.
#[test]
fn a_malformed_member_is_reported_by_its_path_inside_the_archive() {
    let gz = |mtime: u32| {
        let mut e = flate2::GzBuilder::new()
            .mtime(mtime)
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(b"payload\n").unwrap();
        e.finish().unwrap()
    };
    let good = gz(1_900_000_000);
    let mut bad = gz(1_900_000_000);
    let n = bad.len();
    bad[n - 8..n - 4].copy_from_slice(&0u32.to_le_bytes()); // CRC32 no longer matches
    let (archive, _) = zip(&[("good.gz", &good, false), ("bad.gz", &bad, false)]);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("x.zip"), &archive).unwrap();
    for strict in [false, true] {
        let mut cmd = bin();
        cmd.args(["--check", "--json"]);
        if strict {
            cmd.arg("--strict");
        }
        let out = cmd.arg(dir.path()).output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let malformed = report["malformed"].as_array().unwrap();
        assert!(
            malformed.iter().any(|m| {
                m["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("x.zip!bad.gz"))
                    && m["handler"] == "gzip"
                    && m["reason"].as_str().is_some_and(|r| r.contains("CRC"))
            }),
            "{report:#}"
        );
        let changes = report["changes"].as_array().unwrap();
        assert!(
            changes.iter().any(|c| c["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().starts_with("good.gz!member 1: mtime"))),
            "{report:#}"
        );
        // --check exits 1 anyway (there is work); what --strict changes is
        // that the malformed member is an error too, which stderr says.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("x.zip!bad.gz: gzip handler"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
