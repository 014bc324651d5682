//! PDF documents (ISO 32000-1:2008 / ISO 32000-2). Claimed by `%PDF-` at
//! offset 0.
//!
//! Every edit is made in place and keeps the length of what it replaces, so
//! the cross-reference tables and streams, the `startxref` offsets, stream
//! `/Length`s, linearization hints and incremental updates all stay valid
//! byte for byte. Normalized:
//! - `/CreationDate` and `/ModDate` of the document information dictionary
//!   (`/Info` of every trailer or cross-reference stream in the `/Prev`
//!   chain, so older revisions of an incrementally updated file too), when
//!   later than the epoch: rewritten as the epoch in UTC in the same shape
//!   (`D:` prefix or not, the same fields, the zone as `+00'00'`, `Z` or
//!   nothing as it was written; `-` becomes `+`), as literal or hex string,
//!   UTF-16BE with a byte-order mark too. Writing UTC rather than the
//!   original zone lets two builds in different zones (or one on each side of
//!   a daylight-saving change) converge;
//! - in the catalog's `/Metadata` stream when it is not compressed: the XMP
//!   dates `xmp:CreateDate`, `xmp:ModifyDate` and `xmp:MetadataDate` (also
//!   with the older `xap:` prefix; element or attribute), clamped the same way
//!   in ISO 8601 (`+00:00` for an offset, same precision), and the hex digits
//!   of `xmpMM:`/`xapMM:` `DocumentID` and `InstanceID` values (`uuid:...`,
//!   `xmp.did:...`), which producers derive from the clock, derived from the
//!   content like `/ID`;
//! - the trailer `/ID` pair (in every trailer and cross-reference stream
//!   dictionary): each string's bytes derived from an MD5 of the normalized
//!   file with every `/ID` and XMP identifier zeroed, as many hex digits (or
//!   literal-string bytes) as before, the two halves equal when they were.
//!
//! Left alone: every other byte, content streams, fonts, images, other
//! metadata streams, `/Producer` and `/Creator`, and dates at or before the
//! epoch. Left alone and reported: encrypted documents (`/Encrypt`: strings
//! are encrypted and `/ID` keys the encryption) and signed ones
//! (`/ByteRange`: the signature covers these bytes); a date that must change
//! but sits in a compressed object stream or a compressed XMP stream, or is
//! written with escapes, as an indirect object or in a shape that does not
//! parse (`Unsupported`). Validation first: the header, `startxref` and
//! `%%EOF` (only white space after it), every cross-reference section of the
//! `/Prev` and `/XRefStm` chain (tables, and streams with the Flate and PNG
//! predictors), and each object the handler reads must start with its own
//! `N G obj` at the offset the cross-reference gives; anything else is
//! `Malformed` and the file is left untouched.

// A lexer's and parser's locals are bytes, positions and the parts of
// `N G obj`: one-letter names read best there.
#![allow(clippy::many_single_char_names)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Read;
use std::ops::Range;

use md5::{Digest, Md5};
use memchr::memmem;

use crate::dates::{Civil, days_from_civil, epoch_secs, is_later, parse_iso};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The PDF handler.
pub struct Pdf;

/// More cross-reference sections than this is not a real document.
const MAX_SECTIONS: usize = 1024;
/// Nesting of arrays and dictionaries.
const MAX_DEPTH: usize = 64;
/// A decoded cross-reference or object stream larger than this is refused.
const MAX_DECODED: u64 = 256 << 20;

fn bad(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

fn unsupported(msg: impl Into<String>) -> FormatError {
    FormatError::Unsupported(msg.into())
}

// ---- Lexing and parsing (ISO 32000-1 7.2, 7.3) ----

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

/// A string object: its decoded bytes and where its raw content lies
/// (between the delimiters) in the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq)]
struct PdfStr {
    hex: bool,
    span: Range<usize>,
    bytes: Vec<u8>,
}

/// A parsed object. Numbers other than integers are not needed.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Bool,
    Int(i64),
    Real,
    Name(Vec<u8>),
    Str(PdfStr),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

type Dict = Vec<(Vec<u8>, Obj)>;

/// The first value of `key` in `d`.
fn get<'d>(d: &'d Dict, key: &[u8]) -> Option<&'d Obj> {
    d.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn get_int(d: &Dict, key: &[u8]) -> Option<i64> {
    match get(d, key) {
        Some(Obj::Int(i)) => Some(*i),
        _ => None,
    }
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Self { b, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while self.peek().is_some_and(|c| c != b'\n' && c != b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A run of regular characters (a keyword or number), after white space.
    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    /// Whether the next word is `kw` (consumed only then).
    fn keyword(&mut self, kw: &[u8]) -> bool {
        let save = self.pos;
        if self.word() == kw {
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn uint(&mut self) -> Option<u64> {
        let save = self.pos;
        let w = self.word();
        if !w.is_empty() && w.len() <= 18 && w.iter().all(u8::is_ascii_digit) {
            Some(w.iter().fold(0, |v, d| v * 10 + u64::from(d - b'0')))
        } else {
            self.pos = save;
            None
        }
    }

    fn object(&mut self, depth: usize) -> Result<Obj, FormatError> {
        if depth > MAX_DEPTH {
            return Err(bad("objects nested too deep"));
        }
        self.skip_ws();
        let at = self.pos;
        let Some(c) = self.peek() else {
            return Err(bad("unexpected end of data in an object"));
        };
        match c {
            b'<' if self.b.get(at + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut d = Dict::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b'>') if self.b.get(self.pos + 1) == Some(&b'>') => {
                            self.pos += 2;
                            return Ok(Obj::Dict(d));
                        }
                        Some(b'/') => {
                            let Obj::Name(k) = self.object(depth + 1)? else {
                                unreachable!("a slash starts a name")
                            };
                            let v = self.object(depth + 1)?;
                            d.push((k, v));
                        }
                        _ => return Err(bad(format!("dictionary at {at:#x}: key expected"))),
                    }
                }
            }
            b'<' => self.hex(),
            b'(' => self.literal(),
            b'/' => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(is_regular) {
                    self.pos += 1;
                }
                Ok(Obj::Name(unescape_name(&self.b[start..self.pos])))
            }
            b'[' => {
                self.pos += 1;
                let mut a = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Obj::Array(a));
                    }
                    a.push(self.object(depth + 1)?);
                }
            }
            _ => {
                let w = self.word();
                match w {
                    b"true" | b"false" => Ok(Obj::Bool),
                    b"null" => Ok(Obj::Null),
                    _ if !w.is_empty() && w.iter().all(u8::is_ascii_digit) && w.len() <= 18 => {
                        let n = w.iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
                        // `N G R`: an indirect reference.
                        let save = self.pos;
                        if let (Ok(num), Some(g)) = (u32::try_from(n), self.uint())
                            && let Ok(g) = u16::try_from(g)
                            && self.keyword(b"R")
                        {
                            return Ok(Obj::Ref(num, g));
                        }
                        self.pos = save;
                        Ok(Obj::Int(n))
                    }
                    _ if is_number(w) => Ok(
                        match std::str::from_utf8(w)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                        {
                            Some(i) => Obj::Int(i),
                            None => Obj::Real,
                        },
                    ),
                    _ => Err(bad(format!(
                        "unexpected {:?} at {at:#x}",
                        String::from_utf8_lossy(&w[..w.len().min(16)])
                    ))),
                }
            }
        }
    }

    /// A hex string, the lexer on its `<`.
    fn hex(&mut self) -> Result<Obj, FormatError> {
        let at = self.pos;
        let start = at + 1;
        let end = memchr::memchr(b'>', &self.b[start..])
            .map(|i| start + i)
            .ok_or_else(|| bad(format!("hex string at {at:#x}: unterminated")))?;
        let mut digits = Vec::new();
        for &h in &self.b[start..end] {
            if h.is_ascii_hexdigit() {
                digits.push(hex_val(h));
            } else if !is_ws(h) {
                return Err(bad(format!("hex string at {at:#x}: bad digit")));
            }
        }
        if digits.len() % 2 == 1 {
            digits.push(0);
        }
        let bytes = digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect();
        self.pos = end + 1;
        Ok(Obj::Str(PdfStr {
            hex: true,
            span: start..end,
            bytes,
        }))
    }

    /// A literal string, the lexer on its `(`.
    fn literal(&mut self) -> Result<Obj, FormatError> {
        let at = self.pos;
        let start = at + 1;
        let mut i = start;
        let mut depth = 0usize;
        let mut out = Vec::new();
        let b = self.b;
        let unterminated = || bad(format!("literal string at {at:#x}: unterminated"));
        loop {
            let c = *b.get(i).ok_or_else(unterminated)?;
            i += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' if depth == 0 => break,
                b')' => {
                    depth -= 1;
                    out.push(c);
                }
                b'\r' => {
                    // An end of line in a string reads as a line feed.
                    if b.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                    out.push(b'\n');
                }
                b'\\' => {
                    let e = *b.get(i).ok_or_else(unterminated)?;
                    i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match b.get(i) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if b.get(i) == Some(&b'\n') {
                                i += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        self.pos = i;
        Ok(Obj::Str(PdfStr {
            hex: false,
            span: start..i - 1,
            bytes: out,
        }))
    }
}

fn is_number(w: &[u8]) -> bool {
    let digits = w
        .strip_prefix(b"+")
        .or_else(|| w.strip_prefix(b"-"))
        .unwrap_or(w);
    !digits.is_empty()
        && memchr::memchr_iter(b'.', digits).count() <= 1
        && digits.iter().all(|&c| c == b'.' || c.is_ascii_digit())
        && digits.iter().any(u8::is_ascii_digit)
}

fn hex_val(h: u8) -> u8 {
    match h {
        b'0'..=b'9' => h - b'0',
        b'a'..=b'f' => h - b'a' + 10,
        _ => h - b'A' + 10,
    }
}

/// A name's bytes with `#xx` escapes decoded.
fn unescape_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && i + 2 < raw.len()
            && raw[i + 1].is_ascii_hexdigit()
            && raw[i + 2].is_ascii_hexdigit()
        {
            out.push(hex_val(raw[i + 1]) << 4 | hex_val(raw[i + 2]));
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

// ---- Streams (7.3.8, 7.4.4, 7.5.7, 7.5.8) ----

/// The decoded data of a stream with no filter or `FlateDecode`, with the
/// PNG predictors of `/DecodeParms`; other filters are `Unsupported`.
fn decode(dict: &Dict, data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let filter = match get(dict, b"Filter") {
        None | Some(Obj::Null) => None,
        Some(Obj::Name(n)) => Some(n.clone()),
        Some(Obj::Array(a)) if a.is_empty() => None,
        Some(Obj::Array(a)) if a.len() == 1 => match &a[0] {
            Obj::Name(n) => Some(n.clone()),
            _ => return Err(bad("bad /Filter")),
        },
        Some(_) => return Err(unsupported("a stream with a chain of filters")),
    };
    let Some(filter) = filter else {
        return Ok(data.to_vec());
    };
    if filter != b"FlateDecode" && filter != b"Fl" {
        return Err(unsupported(format!(
            "a stream with the {} filter",
            String::from_utf8_lossy(&filter)
        )));
    }
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_DECODED + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("a Flate stream does not inflate: {e}")))?;
    if out.len() as u64 > MAX_DECODED {
        return Err(FormatError::TooLarge(
            "a stream inflates past 256 MiB".into(),
        ));
    }
    let parms = match get(dict, b"DecodeParms").or_else(|| get(dict, b"DP")) {
        Some(Obj::Dict(d)) => Some(d),
        Some(Obj::Array(a)) => match a.first() {
            Some(Obj::Dict(d)) => Some(d),
            _ => None,
        },
        _ => None,
    };
    let Some(parms) = parms else {
        return Ok(out);
    };
    let predictor = get_int(parms, b"Predictor").unwrap_or(1);
    match predictor {
        1 => Ok(out),
        10..=15 => {
            let colors = get_int(parms, b"Colors").unwrap_or(1);
            let bpc = get_int(parms, b"BitsPerComponent").unwrap_or(8);
            let columns = get_int(parms, b"Columns").unwrap_or(1);
            if !(1..=32).contains(&colors)
                || ![1, 2, 4, 8, 16].contains(&bpc)
                || !(1..=1 << 20).contains(&columns)
            {
                return Err(bad("bad PNG predictor parameters"));
            }
            // All three are positive and small: checked just above.
            let (bits, columns) = ((colors * bpc).unsigned_abs(), columns.unsigned_abs());
            let bpp = usize::try_from(bits.div_ceil(8)).unwrap_or(1);
            let row = usize::try_from((bits * columns).div_ceil(8)).unwrap_or(1);
            Ok(unpredict_png(&out, row, bpp))
        }
        _ => Err(unsupported(format!("predictor {predictor}"))),
    }
}

/// Undoes the PNG row filters (RFC 2083 6) of rows `row` bytes wide, each
/// behind its filter-type byte; a short last row is kept as far as it goes.
fn unpredict_png(data: &[u8], row: usize, bpp: usize) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    // Rows past the data are never read: no need to allocate them.
    let mut prev = vec![0u8; row.min(data.len())];
    for chunk in data.chunks(row + 1) {
        let (kind, src) = (chunk[0], &chunk[1..]);
        let mut cur = vec![0u8; src.len()];
        for i in 0..src.len() {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let p = match kind {
                1 => a,
                2 => b,
                3 => u8::midpoint(a, b),
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => 0,
            };
            cur[i] = src[i].wrapping_add(p);
        }
        out.extend_from_slice(&cur);
        prev[..cur.len()].copy_from_slice(&cur);
    }
    out
}

// ---- The document structure ----

/// A cross-reference entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Free,
    /// An object at a byte offset, with its generation.
    At(usize, u16),
    /// Object number `index` of the object stream `stream` (generation 0).
    Packed(u32),
}

/// One cross-reference section with its trailer (a table's `trailer`, or a
/// cross-reference stream's dictionary).
struct Section {
    entries: HashMap<u32, Entry>,
    trailer: Dict,
    /// Where the section starts (for notes).
    at: usize,
}

/// An indirect object read from the file.
struct Indirect {
    obj: Obj,
    /// The data of a stream object, in the file.
    stream: Option<Range<usize>>,
}

struct Doc<'a> {
    b: &'a [u8],
    /// Newest first: the `startxref` section, then what `/XRefStm` and
    /// `/Prev` lead to.
    sections: Vec<Section>,
}

impl<'a> Doc<'a> {
    fn parse(b: &'a [u8]) -> Result<Self, FormatError> {
        let tail_from = b.len().saturating_sub(2048);
        let sx = memmem::rfind(&b[tail_from..], b"startxref")
            .map(|i| tail_from + i)
            .ok_or_else(|| bad("no startxref in the last 2 KiB"))?;
        let mut lx = Lexer::new(b, sx + 9);
        let first = lx.uint().ok_or_else(|| bad("startxref: no offset"))?;
        if !lx.keyword(b"%%EOF") {
            // `%%EOF` lexes as a comment: look for it by hand.
            lx.pos = sx + 9;
            lx.uint();
            while lx.peek().is_some_and(is_ws) {
                lx.pos += 1;
            }
            if !b[lx.pos..].starts_with(b"%%EOF") {
                return Err(bad("startxref: no %%EOF after it"));
            }
            lx.pos += 5;
        }
        if !b[lx.pos..].iter().all(|&c| is_ws(c)) {
            return Err(bad("data after the last %%EOF"));
        }
        let mut doc = Doc {
            b,
            sections: Vec::new(),
        };
        let mut todo = vec![usize::try_from(first).unwrap_or(usize::MAX)];
        let mut seen = HashSet::new();
        while let Some(at) = todo.pop() {
            if !seen.insert(at) {
                return Err(bad(format!("cross-reference chain loops at {at:#x}")));
            }
            if doc.sections.len() >= MAX_SECTIONS {
                return Err(bad("too many cross-reference sections"));
            }
            if at >= b.len() {
                return Err(bad(format!("cross-reference offset {at} past the end")));
            }
            let section = if b[at..].starts_with(b"xref") {
                doc.table(at)?
            } else if b[at].is_ascii_digit() {
                doc.stream_section(at)?
            } else {
                return Err(bad(format!(
                    "offset {at:#x} holds neither a cross-reference table nor a stream"
                )));
            };
            let offset = |key: &[u8]| -> Result<Option<usize>, FormatError> {
                match get(&section.trailer, key) {
                    None => Ok(None),
                    Some(Obj::Int(i)) => Ok(Some(
                        usize::try_from(*i).map_err(|_| bad("negative cross-reference offset"))?,
                    )),
                    Some(_) => Err(bad("a cross-reference offset is not an integer")),
                }
            };
            // Popped last-in first-out: `/XRefStm` (same revision) before `/Prev`.
            if let Some(prev) = offset(b"Prev")? {
                todo.push(prev);
            }
            if b[at..].starts_with(b"xref")
                && let Some(x) = offset(b"XRefStm")?
            {
                todo.push(x);
            }
            doc.sections.push(section);
        }
        Ok(doc)
    }

    /// A cross-reference table at `at` and its trailer.
    fn table(&self, at: usize) -> Result<Section, FormatError> {
        let b = self.b;
        let mut lx = Lexer::new(b, at + 4);
        let mut entries = HashMap::new();
        loop {
            if lx.keyword(b"trailer") {
                break;
            }
            let start = lx
                .uint()
                .ok_or_else(|| bad(format!("xref at {at:#x}: bad subsection")))?;
            let count = lx
                .uint()
                .ok_or_else(|| bad(format!("xref at {at:#x}: bad subsection")))?;
            if count > (b.len() as u64) / 18 || start + count > u64::from(u32::MAX) {
                return Err(bad(format!("xref at {at:#x}: subsection too large")));
            }
            for i in 0..count {
                let off = lx.word();
                let gen_ = lx.word();
                let kind = lx.word();
                let num = |w: &[u8], n: usize| {
                    (w.len() == n && w.iter().all(u8::is_ascii_digit))
                        .then(|| w.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0')))
                };
                let (Some(off), Some(gen_)) = (num(off, 10), num(gen_, 5)) else {
                    return Err(bad(format!("xref at {at:#x}: bad entry")));
                };
                let e = match kind {
                    b"n" => {
                        let off = usize::try_from(off).unwrap_or(usize::MAX);
                        let g = u16::try_from(gen_)
                            .map_err(|_| bad(format!("xref at {at:#x}: generation {gen_}")))?;
                        Entry::At(off, g)
                    }
                    b"f" => Entry::Free,
                    _ => return Err(bad(format!("xref at {at:#x}: bad entry type"))),
                };
                // In a table, a later subsection does not override an earlier one.
                entries.entry((start + i) as u32).or_insert(e);
            }
        }
        let Obj::Dict(trailer) = lx.object(0)? else {
            return Err(bad(format!(
                "trailer after xref at {at:#x} is not a dictionary"
            )));
        };
        Ok(Section {
            entries,
            trailer,
            at,
        })
    }

    /// Reads `N G obj` and the object after it at `at`; `want` is what the
    /// cross-reference promised. A stream's `/Length` may be indirect only
    /// when `sections` are known.
    fn indirect(&self, at: usize, want: Option<(u32, u16)>) -> Result<Indirect, FormatError> {
        let b = self.b;
        if !b.get(at).is_some_and(u8::is_ascii_digit) {
            return Err(bad(format!("no object at {at:#x}")));
        }
        let mut lx = Lexer::new(b, at);
        let (Some(n), Some(g)) = (lx.uint(), lx.uint()) else {
            return Err(bad(format!("no object header at {at:#x}")));
        };
        if !lx.keyword(b"obj") {
            return Err(bad(format!("no `obj` at {at:#x}")));
        }
        if let Some((wn, wg)) = want
            && (u64::from(wn) != n || u64::from(wg) != g)
        {
            return Err(bad(format!(
                "the cross-reference points object {wn} {wg} at {at:#x}, which holds {n} {g}"
            )));
        }
        let obj = lx.object(0)?;
        if lx.keyword(b"endobj") {
            return Ok(Indirect { obj, stream: None });
        }
        if !lx.keyword(b"stream") {
            return Err(bad(format!("object at {at:#x}: no endobj")));
        }
        let Obj::Dict(d) = &obj else {
            return Err(bad(format!(
                "object at {at:#x}: a stream without a dictionary"
            )));
        };
        let mut start = lx.pos;
        if b[start..].starts_with(b"\r\n") {
            start += 2;
        } else if b[start..].starts_with(b"\n") {
            start += 1;
        } else {
            return Err(bad(format!(
                "object at {at:#x}: no end of line after `stream`"
            )));
        }
        let len = match get(d, b"Length") {
            Some(Obj::Int(i)) => *i,
            Some(Obj::Ref(n, g)) if !self.sections.is_empty() => match self.lookup(0, *n) {
                Some(Entry::At(off, eg)) if eg == *g => {
                    match self.indirect(off, Some((*n, *g)))? {
                        Indirect {
                            obj: Obj::Int(i),
                            stream: None,
                        } => i,
                        _ => return Err(bad(format!("object at {at:#x}: bad /Length"))),
                    }
                }
                _ => {
                    return Err(unsupported(format!(
                        "object at {at:#x}: its /Length is not a plain object"
                    )));
                }
            },
            _ => return Err(bad(format!("object at {at:#x}: bad /Length"))),
        };
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= b.len())
            .ok_or_else(|| bad(format!("object at {at:#x}: stream runs past the end")))?;
        let mut lx = Lexer::new(b, end);
        if !lx.keyword(b"endstream") {
            return Err(bad(format!(
                "object at {at:#x}: no endstream after /Length {len} bytes"
            )));
        }
        Ok(Indirect {
            obj,
            stream: Some(start..end),
        })
    }

    /// A cross-reference stream at `at`.
    fn stream_section(&self, at: usize) -> Result<Section, FormatError> {
        let ind = self.indirect(at, None)?;
        let (Obj::Dict(d), Some(data)) = (ind.obj, ind.stream) else {
            return Err(bad(format!("offset {at:#x}: not a cross-reference stream")));
        };
        if get(&d, b"Type") != Some(&Obj::Name(b"XRef".to_vec())) {
            return Err(bad(format!("offset {at:#x}: a stream but not /Type /XRef")));
        }
        let raw = decode(&d, &self.b[data])?;
        let w: Vec<usize> = match get(&d, b"W") {
            Some(Obj::Array(a)) if a.len() == 3 => a
                .iter()
                .map(|o| match o {
                    Obj::Int(i @ 0..=8) => Ok(i.unsigned_abs() as usize),
                    _ => Err(bad("bad /W")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad(format!("xref stream at {at:#x}: bad /W"))),
        };
        let size = get_int(&d, b"Size").ok_or_else(|| bad("xref stream: no /Size"))?;
        let index: Vec<i64> = match get(&d, b"Index") {
            None => vec![0, size],
            Some(Obj::Array(a)) if a.len() % 2 == 0 => a
                .iter()
                .map(|o| match o {
                    Obj::Int(i) if *i >= 0 => Ok(*i),
                    _ => Err(bad("bad /Index")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad("xref stream: bad /Index")),
        };
        let width = w[0] + w[1] + w[2];
        if width == 0 {
            return Err(bad("xref stream: /W is all zero"));
        }
        let field = |row: &[u8], from: usize, n: usize| {
            row[from..from + n]
                .iter()
                .fold(0u64, |v, &x| (v << 8) | u64::from(x))
        };
        let mut rows = raw.chunks_exact(width);
        let mut entries = HashMap::new();
        for pair in index.chunks(2) {
            let (start, count) = (pair[0], pair[1]);
            if start
                .checked_add(count)
                .is_none_or(|e| e > i64::from(u32::MAX))
            {
                return Err(bad("xref stream: /Index out of range"));
            }
            for i in 0..count {
                let row = rows.next().ok_or_else(|| {
                    bad(format!("xref stream at {at:#x}: fewer rows than /Index"))
                })?;
                let kind = if w[0] == 0 { 1 } else { field(row, 0, w[0]) };
                let f2 = field(row, w[0], w[1]);
                let f3 = field(row, w[0] + w[1], w[2]);
                let e = match kind {
                    0 => Entry::Free,
                    1 => Entry::At(
                        usize::try_from(f2).unwrap_or(usize::MAX),
                        u16::try_from(f3).map_err(|_| bad("xref stream: bad generation"))?,
                    ),
                    2 => Entry::Packed(
                        u32::try_from(f2).map_err(|_| bad("xref stream: bad object stream"))?,
                    ),
                    _ => continue, // reserved: a reference to the null object
                };
                // In range: checked against u32::MAX above.
                entries
                    .entry(u32::try_from(start + i).unwrap_or(u32::MAX))
                    .or_insert(e);
            }
        }
        Ok(Section {
            entries,
            trailer: d,
            at,
        })
    }

    /// Object `num` as revision `from` sees it (sections `from..`).
    fn lookup(&self, from: usize, num: u32) -> Option<Entry> {
        self.sections[from..]
            .iter()
            .find_map(|s| s.entries.get(&num).copied())
    }

    /// What `r` refers to in revision `from`: `Ok(None)` for a free or
    /// missing object (the null object).
    fn resolve(&self, from: usize, r: (u32, u16)) -> Result<Option<Resolved>, FormatError> {
        match self.lookup(from, r.0) {
            None | Some(Entry::Free) => Ok(None),
            Some(Entry::At(off, g)) => {
                if g != r.1 {
                    return Ok(None);
                }
                Ok(Some(Resolved::File(self.indirect(off, Some(r))?)))
            }
            Some(Entry::Packed(stream)) => {
                if r.1 != 0 {
                    return Ok(None);
                }
                let Some(Entry::At(off, 0)) = self.lookup(from, stream) else {
                    return Err(bad(format!("object stream {stream} is not in the file")));
                };
                let ind = self.indirect(off, Some((stream, 0)))?;
                let (Obj::Dict(d), Some(data)) = (&ind.obj, ind.stream) else {
                    return Err(bad(format!("object stream {stream} is not a stream")));
                };
                let raw = decode(d, &self.b[data])?;
                let n = get_int(d, b"N").ok_or_else(|| bad("object stream: no /N"))?;
                let first = get_int(d, b"First")
                    .and_then(|f| usize::try_from(f).ok())
                    .filter(|&f| f <= raw.len())
                    .ok_or_else(|| bad("object stream: bad /First"))?;
                let mut lx = Lexer::new(&raw[..first], 0);
                for _ in 0..n {
                    let (Some(num), Some(off)) = (lx.uint(), lx.uint()) else {
                        return Err(bad(format!("object stream {stream}: bad header")));
                    };
                    if num == u64::from(r.0) {
                        let at = usize::try_from(off)
                            .ok()
                            .and_then(|o| first.checked_add(o))
                            .filter(|&a| a < raw.len())
                            .ok_or_else(|| bad("object stream: offset past the end"))?;
                        let obj = Lexer::new(&raw, at).object(0)?;
                        return Ok(Some(Resolved::Packed(obj)));
                    }
                }
                Err(bad(format!(
                    "object stream {stream} does not hold object {}",
                    r.0
                )))
            }
        }
    }
}

enum Resolved {
    File(Indirect),
    /// From a compressed object stream: readable, not editable.
    Packed(Obj),
}

// ---- Dates ----

/// A PDF date (7.9.4): `D:YYYYMMDDHHmmSSOHH'mm'`, every part after the year
/// optional, `D:` too in practice.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PdfDate {
    secs: i64,
    prefix: bool,
    /// How many of month, day, hour, minute, second follow the year.
    fields: usize,
    /// The zone as written (`Z`, `+01'00'`, `-05'00`, empty...).
    zone: Vec<u8>,
}

fn two(t: &[u8], at: usize) -> Option<u32> {
    match t.get(at..at + 2) {
        Some([a @ b'0'..=b'9', b @ b'0'..=b'9']) => {
            Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => None,
    }
}

fn parse_pdf_date(t: &[u8]) -> Option<PdfDate> {
    let prefix = t.starts_with(b"D:");
    let mut p = if prefix { 2 } else { 0 };
    let year = i64::from(two(t, p)? * 100 + two(t, p + 2)?);
    p += 4;
    let mut v = [1u32, 1, 0, 0, 0];
    let mut fields = 0;
    while fields < 5
        && let Some(x) = two(t, p)
    {
        v[fields] = x;
        fields += 1;
        p += 2;
    }
    let zone = &t[p..];
    let mut offset = 0i64;
    if let Some(&sign) = zone.first() {
        if !matches!(sign, b'Z' | b'+' | b'-') {
            return None;
        }
        let mut q = 1;
        let (mut hh, mut mm) = (0, 0);
        if let Some(h) = two(zone, q) {
            hh = h;
            q += 2;
            if zone.get(q) == Some(&b'\'') {
                q += 1;
            }
            if let Some(m) = two(zone, q) {
                mm = m;
                q += 2;
                if zone.get(q) == Some(&b'\'') {
                    q += 1;
                }
            }
        }
        if q != zone.len() || hh > 23 || mm > 59 || (sign == b'Z' && hh + mm != 0) {
            return None;
        }
        offset = i64::from(hh * 3600 + mm * 60) * if sign == b'-' { -1 } else { 1 };
    }
    let [month, day, hour, min, sec] = v;
    if !(1..=12).contains(&month) || day == 0 || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // The day must exist: it reads back as the same date.
    let c = Civil::from_unix(days * 86_400);
    if (c.year, c.month, c.day) != (year, month, day) {
        return None;
    }
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset;
    Some(PdfDate {
        secs,
        prefix,
        fields,
        zone: zone.to_vec(),
    })
}

impl PdfDate {
    /// `secs` in this date's shape, in UTC; `None` past year 9999.
    fn render(&self, secs: i64) -> Option<Vec<u8>> {
        let c = Civil::from_unix(secs);
        if !(0..=9999).contains(&c.year) {
            return None;
        }
        let mut out = String::new();
        if self.prefix {
            out.push_str("D:");
        }
        let _ = write!(out, "{:04}", c.year);
        for v in [c.month, c.day, c.hour, c.min, c.sec]
            .iter()
            .take(self.fields)
        {
            let _ = write!(out, "{v:02}");
        }
        let mut out = out.into_bytes();
        out.extend(self.zone.iter().enumerate().map(|(i, &z)| match z {
            b'-' if i == 0 => b'+',
            b'0'..=b'9' => b'0',
            other => other,
        }));
        Some(out)
    }
}

/// The text of a date string: its bytes, or its UTF-16BE characters after a
/// byte-order mark when they are all ASCII. The flag says it was UTF-16.
fn string_text(bytes: &[u8]) -> Option<(Vec<u8>, bool)> {
    let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) else {
        return Some((bytes.to_vec(), false));
    };
    if rest.len() % 2 == 1 {
        return None;
    }
    rest.chunks(2)
        .map(|p| (p[0] == 0 && p[1] < 0x80).then_some(p[1]))
        .collect::<Option<Vec<u8>>>()
        .map(|t| (t, true))
}

/// The new raw content of a string whose decoded bytes become `new`, with
/// the same length; `what` names it in errors.
fn rewrite_string(buf: &[u8], s: &PdfStr, new: &[u8], what: &str) -> Result<Vec<u8>, FormatError> {
    let raw = &buf[s.span.clone()];
    if s.hex {
        let digits = raw.iter().filter(|c| c.is_ascii_hexdigit()).count();
        if digits != new.len() * 2 {
            return Err(unsupported(format!("{what}: a hex string of odd length")));
        }
        let lower = raw.iter().any(|c| matches!(c, b'a'..=b'f'));
        let mut hex = new.iter().flat_map(|&x| [x >> 4, x & 15]);
        Ok(raw
            .iter()
            .map(|&c| {
                if c.is_ascii_hexdigit() {
                    let d = hex.next().unwrap_or(0);
                    let h = b"0123456789ABCDEF"[usize::from(d)];
                    if lower { h.to_ascii_lowercase() } else { h }
                } else {
                    c
                }
            })
            .collect())
    } else {
        relit(raw, new).ok_or_else(|| {
            unsupported(format!(
                "{what}: its escapes cannot write the new text in the same length"
            ))
        })
    }
}

/// The raw content of a literal string that decodes to `new`, written with
/// the same escape at each position as `raw` (pypdf writes `D\07220260304...`):
/// `None` when `raw` does not decode to as many bytes, or an escape cannot
/// carry the new byte.
fn relit(raw: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut want = new.iter();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'\\' {
            let e = *raw.get(i + 1)?;
            if e.is_ascii_digit() && e < b'8' {
                let k = raw[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| (b'0'..=b'7').contains(d))
                    .count();
                let n = u32::from(*want.next()?);
                if n >= 8u32.pow(k as u32) {
                    return None;
                }
                out.push(b'\\');
                out.extend(format!("{n:0k$o}").bytes());
                i += 1 + k;
            } else if e == b'\r' || e == b'\n' {
                // A line continuation: no byte.
                let n = if e == b'\r' && raw.get(i + 2) == Some(&b'\n') {
                    3
                } else {
                    2
                };
                out.extend_from_slice(&raw[i..i + n]);
                i += n;
            } else {
                let decoded = match e {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'f' => 12,
                    other => other,
                };
                if *want.next()? != decoded {
                    return None;
                }
                out.extend_from_slice(&raw[i..i + 2]);
                i += 2;
            }
        } else if c == b'\r' || c == b'\n' {
            // An end of line reads as `\n`; the new text has none.
            return None;
        } else {
            let n = *want.next()?;
            if matches!(n, b'(' | b')' | b'\\' | b'\r' | b'\n') {
                return None;
            }
            out.push(n);
            i += 1;
        }
    }
    want.next().is_none().then_some(out)
}

// ---- The edit plan ----

struct Plan<'a> {
    b: &'a [u8],
    epoch: u64,
    /// In-place replacements of the same length.
    edits: Vec<(Range<usize>, Vec<u8>)>,
    notes: Vec<(usize, Change)>,
    /// `/ID` arrays: the strings of each.
    ids: Vec<Vec<PdfStr>>,
    /// XMP identifiers: the hex digits of each value.
    uuids: Vec<Vec<usize>>,
    done: HashSet<usize>,
}

impl Plan<'_> {
    fn edit(&mut self, span: Range<usize>, new: Vec<u8>, note: impl FnOnce() -> Change) {
        if self.b[span.clone()] != new[..] {
            self.notes.push((span.start, note()));
            self.edits.push((span, new));
        }
    }

    /// A date string of the Info dictionary; `packed` when it cannot be edited.
    fn info_date(&mut self, key: &[u8], v: &Obj, packed: bool) -> Result<(), FormatError> {
        let key = String::from_utf8_lossy(key);
        let Obj::Str(s) = v else {
            return Err(unsupported(format!("/Info /{key} is not a string")));
        };
        let what = format!("/Info /{key}");
        let Some((text, utf16)) = string_text(&s.bytes) else {
            return Err(unsupported(format!("{what} is not an ASCII date")));
        };
        if text.iter().all(|&c| is_ws(c)) {
            return Ok(()); // an empty date holds no time
        }
        let date = parse_pdf_date(&text).ok_or_else(|| {
            unsupported(format!(
                "{what} {:?} is not a PDF date",
                String::from_utf8_lossy(&text)
            ))
        })?;
        if !is_later(date.secs, self.epoch) {
            return Ok(());
        }
        let Some(new) = date.render(epoch_secs(self.epoch)) else {
            return Ok(());
        };
        if packed {
            return Err(unsupported(format!(
                "{what} is later than the epoch but sits in a compressed object stream"
            )));
        }
        let mut enc = Vec::new();
        if utf16 {
            enc.extend([0xfe, 0xff]);
            enc.extend(new.iter().flat_map(|&c| [0, c]));
        } else {
            enc.clone_from(&new);
        }
        let raw = rewrite_string(self.b, s, &enc, &what)?;
        let (old, new) = (
            String::from_utf8_lossy(&text).into_owned(),
            String::from_utf8_lossy(&new).into_owned(),
        );
        let at = s.span.start;
        self.edit(s.span.clone(), raw, || {
            Change::set(format!("{what} at {at:#x}"), "", old, new)
        });
        Ok(())
    }

    fn info(&mut self, d: &Dict, packed: bool) -> Result<(), FormatError> {
        for (k, v) in d {
            if k == b"CreationDate" || k == b"ModDate" {
                self.info_date(k, v, packed)?;
            }
        }
        Ok(())
    }

    /// The XMP packet in `text` (at `base` in the file when editable).
    fn xmp(&mut self, text: &[u8], base: Option<usize>) -> Result<(), FormatError> {
        for prefix in ["xmp", "xap"] {
            for name in ["CreateDate", "ModifyDate", "MetadataDate"] {
                let tag = format!("{prefix}:{name}");
                for v in xmp_values(text, tag.as_bytes()) {
                    let raw = &text[v.clone()];
                    let s = std::str::from_utf8(raw)
                        .ok()
                        .and_then(|s| parse_iso(s).map(|d| (s, d)));
                    let Some((old, date)) = s else {
                        return Err(unsupported(format!(
                            "XMP {tag} {:?} is not an ISO 8601 date",
                            String::from_utf8_lossy(&raw[..raw.len().min(40)])
                        )));
                    };
                    let Some(new) = date.clamped(self.epoch) else {
                        continue;
                    };
                    if new.len() != raw.len() {
                        return Err(unsupported(format!(
                            "XMP {tag} {old}: the epoch cannot be written in the same length"
                        )));
                    }
                    let Some(base) = base else {
                        return Err(unsupported(format!(
                            "XMP {tag} is later than the epoch but the metadata stream is compressed"
                        )));
                    };
                    let at = base + v.start;
                    let old = old.to_string();
                    self.edit(at..at + raw.len(), new.clone().into_bytes(), || {
                        Change::set(format!("XMP {tag} at {at:#x}"), "", old, new)
                    });
                }
            }
        }
        let Some(base) = base else {
            return Ok(());
        };
        for tag in [
            "xmpMM:DocumentID",
            "xmpMM:InstanceID",
            "xapMM:DocumentID",
            "xapMM:InstanceID",
        ] {
            for v in xmp_values(text, tag.as_bytes()) {
                let raw = &text[v.clone()];
                let body = raw.rsplit(|&c| c == b':').next().unwrap_or(raw);
                let digits = body.iter().filter(|c| c.is_ascii_hexdigit()).count();
                if digits >= 16 && body.iter().all(|&c| c.is_ascii_hexdigit() || c == b'-') {
                    let from = base + v.end - body.len();
                    self.uuids.push(
                        (from..base + v.end)
                            .filter(|&i| self.b[i].is_ascii_hexdigit())
                            .collect(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Reads every revision: its /Info dates, its catalog's XMP, its /ID.
    fn walk(&mut self, doc: &Doc) -> Result<(), FormatError> {
        let mut metadata_done = HashSet::new();
        for (k, section) in doc.sections.iter().enumerate() {
            let t = &section.trailer;
            match get(t, b"Info") {
                Some(Obj::Ref(n, g)) => match doc.resolve(k, (*n, *g))? {
                    None => {}
                    Some(Resolved::File(Indirect {
                        obj: Obj::Dict(d),
                        stream: None,
                    })) => self.info(&d, false)?,
                    Some(Resolved::Packed(Obj::Dict(d))) => self.info(&d, true)?,
                    Some(_) => return Err(bad("/Info is not a dictionary")),
                },
                Some(Obj::Dict(d)) => self.info(d, false)?,
                None | Some(Obj::Null) => {}
                Some(_) => return Err(bad("/Info is not a dictionary")),
            }
            if k == 0 && !matches!(get(t, b"Root"), Some(Obj::Ref(..))) {
                return Err(bad("the last trailer has no /Root reference"));
            }
            if let Some(Obj::Ref(n, g)) = get(t, b"Root") {
                let catalog = match doc.resolve(k, (*n, *g))? {
                    Some(
                        Resolved::File(Indirect {
                            obj: Obj::Dict(d),
                            stream: None,
                        })
                        | Resolved::Packed(Obj::Dict(d)),
                    ) => d,
                    // A reader cannot open a document without its catalog
                    // and page tree (qpdf: "unable to find /Root
                    // dictionary"): damaged, not to be rewritten.
                    None => return Err(bad(format!("/Root {n} {g} R is not in the file"))),
                    Some(_) => return Err(bad("/Root is not a dictionary")),
                };
                match get(&catalog, b"Pages") {
                    Some(Obj::Ref(pn, pg)) => {
                        if !matches!(
                            doc.resolve(k, (*pn, *pg))?,
                            Some(
                                Resolved::File(Indirect {
                                    obj: Obj::Dict(_),
                                    ..
                                }) | Resolved::Packed(Obj::Dict(_))
                            )
                        ) {
                            return Err(bad(format!(
                                "the catalog's /Pages {pn} {pg} R is not a dictionary in the file"
                            )));
                        }
                    }
                    _ => return Err(bad("the catalog has no /Pages reference")),
                }
                if let Some(Obj::Ref(mn, mg)) = get(&catalog, b"Metadata") {
                    match doc.resolve(k, (*mn, *mg))? {
                        Some(Resolved::File(Indirect {
                            obj: Obj::Dict(d),
                            stream: Some(data),
                        })) if metadata_done.insert(data.start) => {
                            if matches!(get(&d, b"Filter"), None | Some(Obj::Null)) {
                                self.xmp(&self.b[data.clone()], Some(data.start))?;
                            } else {
                                self.xmp(&decode(&d, &self.b[data])?, None)?;
                            }
                        }
                        Some(Resolved::File(Indirect {
                            stream: Some(_), ..
                        }))
                        | None => {}
                        Some(_) => return Err(bad("/Metadata is not a stream")),
                    }
                }
            }
            self.id(t, section.at)?;
        }
        Ok(())
    }

    /// Writes each /ID string and XMP identifier from the MD5 of `out` with
    /// all of them zeroed (`out` holds the clamped dates already).
    fn derive_ids(&mut self, out: &mut [u8]) {
        if !self.ids.is_empty() || !self.uuids.is_empty() {
            let mut masked = out.to_vec();
            for s in self.ids.iter().flatten() {
                masked[s.span.clone()].fill(b'0');
            }
            for &i in self.uuids.iter().flatten() {
                masked[i] = b'0';
            }
            let digest = Md5::digest(&masked);
            for strs in &self.ids {
                let first = strs.first().map(|s| s.bytes.clone());
                for (i, s) in strs.iter().enumerate() {
                    let mut seed = digest.to_vec();
                    if i > 0 && Some(&s.bytes) != first.as_ref() {
                        seed.push(i as u8);
                    }
                    let new = if s.hex {
                        let n = self.b[s.span.clone()]
                            .iter()
                            .filter(|c| c.is_ascii_hexdigit())
                            .count();
                        let lower = self.b[s.span.clone()]
                            .iter()
                            .any(|c| matches!(c, b'a'..=b'f'));
                        let mut d = hex_digits(&seed, n).into_iter();
                        self.b[s.span.clone()]
                            .iter()
                            .map(|&c| {
                                if c.is_ascii_hexdigit() {
                                    let h = b"0123456789ABCDEF"[usize::from(d.next().unwrap_or(0))];
                                    if lower { h.to_ascii_lowercase() } else { h }
                                } else {
                                    c
                                }
                            })
                            .collect()
                    } else {
                        hex_digits(&seed, s.span.len())
                            .into_iter()
                            .map(|d| b"0123456789abcdef"[usize::from(d)])
                            .collect::<Vec<u8>>()
                    };
                    if out[s.span.clone()] != new[..] {
                        // Old and new values in the note, so `strip-nd diff`
                        // can pair the field across two builds.
                        self.notes.push((
                            s.span.start,
                            Change::set(
                                format!("/ID string at {:#x}", s.span.start),
                                "",
                                String::from_utf8_lossy(&out[s.span.clone()]),
                                format!(
                                    "{} (derived from the content)",
                                    String::from_utf8_lossy(&new)
                                ),
                            ),
                        ));
                        out[s.span.clone()].copy_from_slice(&new);
                    }
                }
            }
            for (i, digits) in self.uuids.iter().enumerate() {
                let mut seed = digest.to_vec();
                seed.extend(b"xmp id");
                seed.extend((i as u32).to_le_bytes());
                let lower = digits.iter().any(|&p| matches!(self.b[p], b'a'..=b'f'));
                let mut changed = false;
                let before: String = digits.iter().map(|&p| char::from(out[p])).collect();
                for (&p, d) in digits.iter().zip(hex_digits(&seed, digits.len())) {
                    let h = b"0123456789ABCDEF"[usize::from(d)];
                    let h = if lower { h.to_ascii_lowercase() } else { h };
                    changed |= out[p] != h;
                    out[p] = h;
                }
                if changed && let Some(&p) = digits.first() {
                    self.notes.push((
                        p,
                        Change::set(
                            format!("XMP identifier at {p:#x}"),
                            "",
                            before,
                            format!(
                                "{} (derived from the content)",
                                digits
                                    .iter()
                                    .map(|&q| char::from(out[q]))
                                    .collect::<String>()
                            ),
                        ),
                    ));
                }
            }
        }
    }

    /// A trailer's `/ID`.
    fn id(&mut self, d: &Dict, at: usize) -> Result<(), FormatError> {
        match get(d, b"ID") {
            None => Ok(()),
            Some(Obj::Array(a)) => {
                let mut strs = Vec::new();
                for o in a {
                    let Obj::Str(s) = o else {
                        return Err(unsupported(format!(
                            "trailer at {at:#x}: /ID holds a non-string"
                        )));
                    };
                    strs.push(s.clone());
                }
                if strs.iter().all(|s| self.done.insert(s.span.start)) {
                    self.ids.push(strs);
                }
                Ok(())
            }
            Some(_) => Err(unsupported(format!(
                "trailer at {at:#x}: /ID is not an array"
            ))),
        }
    }
}

/// The value spans of `tag` in an XMP packet: as an element
/// (`<tag>value</tag>`) or an attribute (`tag="value"`), trimmed.
fn xmp_values(text: &[u8], tag: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for i in memmem::find_iter(text, tag) {
        let before = i.checked_sub(1).map(|j| text[j]);
        let after = i + tag.len();
        let (start, end) = match before {
            Some(b'<') if text.get(after) == Some(&b'>') => {
                let s = after + 1;
                match memchr::memchr(b'<', &text[s..]) {
                    Some(n) => (s, s + n),
                    None => continue,
                }
            }
            Some(c) if is_ws(c) => {
                let mut p = after;
                while text.get(p).is_some_and(|&c| is_ws(c)) {
                    p += 1;
                }
                if text.get(p) != Some(&b'=') {
                    continue;
                }
                p += 1;
                while text.get(p).is_some_and(|&c| is_ws(c)) {
                    p += 1;
                }
                let Some(&q) = text.get(p).filter(|&&q| q == b'"' || q == b'\'') else {
                    continue;
                };
                let s = p + 1;
                match memchr::memchr(q, &text[s..]) {
                    Some(n) => (s, s + n),
                    None => continue,
                }
            }
            _ => continue,
        };
        let v = &text[start..end];
        let lead = v.iter().take_while(|&&c| is_ws(c)).count();
        let trail = v[lead..].iter().rev().take_while(|&&c| is_ws(c)).count();
        if lead + trail < v.len() {
            out.push(start + lead..end - trail);
        }
    }
    out
}

/// `n` hex digits (0..16) drawn from `seed`.
fn hex_digits(seed: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut block = Md5::digest(seed);
    while out.len() < n {
        out.extend(block.iter().flat_map(|&x| [x >> 4, x & 15]));
        block = Md5::digest(block);
    }
    out.truncate(n);
    out
}

impl Handler for Pdf {
    fn name(&self) -> &'static str {
        "pdf"
    }

    fn describe(&self) -> &'static str {
        "PDF (ISO 32000), %PDF- at 0: clamps /Info CreationDate/ModDate and uncompressed XMP dates, derives /ID and XMP document ids from the content, in place (same length); content untouched; encrypted, signed or late dates in compressed objects left alone"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.starts_with(b"%PDF-")
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[b"%PDF-"])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let b = input;
        let version = b.get(5..8).unwrap_or_default();
        if !(version.len() == 3
            && version[0].is_ascii_digit()
            && version[1] == b'.'
            && version[2].is_ascii_digit())
        {
            return Err(bad("no %PDF-n.n header"));
        }
        if memmem::find(b, b"/ByteRange").is_some() {
            return Err(unsupported(
                "signed (/ByteRange): a signature covers the dates and /ID",
            ));
        }
        let doc = Doc::parse(b)?;
        if doc
            .sections
            .iter()
            .any(|s| get(&s.trailer, b"Encrypt").is_some())
        {
            return Err(unsupported(
                "encrypted (/Encrypt): its strings are encrypted and /ID keys the encryption",
            ));
        }
        let mut plan = Plan {
            b,
            epoch: ctx.epoch(),
            edits: Vec::new(),
            notes: Vec::new(),
            ids: Vec::new(),
            uuids: Vec::new(),
            done: HashSet::new(),
        };
        plan.walk(&doc)?;
        // Apply the dates, then derive the identifiers from the result.
        let mut out = b.to_vec();
        plan.edits.sort_by_key(|(r, _)| r.start);
        plan.edits.dedup();
        for w in plan.edits.windows(2) {
            if w[0].0.end > w[1].0.start {
                return Err(bad(format!("overlapping edits at {:#x}", w[1].0.start)));
            }
        }
        for (r, new) in &plan.edits {
            debug_assert_eq!(r.len(), new.len());
            out[r.clone()].copy_from_slice(new);
        }
        plan.derive_ids(&mut out);
        if out == b {
            return Ok(Outcome::Unchanged);
        }
        plan.notes.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
        });
        Ok(Outcome::Rewritten {
            bytes: out,
            changes: plan.notes.into_iter().map(|(_, n)| n).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 315_532_800; // 1980-01-01 00:00:00 UTC

    fn clamp(t: &str) -> Option<String> {
        let d = parse_pdf_date(t.as_bytes()).unwrap();
        is_later(d.secs, EPOCH)
            .then(|| String::from_utf8(d.render(epoch_secs(EPOCH)).unwrap()).unwrap())
    }

    #[test]
    fn pdf_dates_clamp_to_the_epoch_in_utc_with_the_same_length() {
        assert_eq!(
            clamp("D:20260304050608+01'00'").as_deref(),
            Some("D:19800101000000+00'00'")
        );
        assert_eq!(
            clamp("D:20260304050607-05'00").as_deref(),
            Some("D:19800101000000+00'00")
        );
        assert_eq!(
            clamp("D:20260304050607Z").as_deref(),
            Some("D:19800101000000Z")
        );
        assert_eq!(clamp("20260304").as_deref(), Some("19800101"));
        assert_eq!(clamp("D:2026").as_deref(), Some("D:1980"));
        // 1980-01-01 00:30 at +01'00' is 1979-12-31 23:30 UTC: earlier, kept.
        assert_eq!(clamp("D:19800101003000+01'00'"), None);
        // ... at -01'00' it is 01:30 UTC: later.
        assert!(clamp("D:19800101003000-01'00'").is_some());
        assert_eq!(clamp("D:19800101000000+00'00'"), None);
    }

    /// A document whose /Info dictionary is `info`, with a catalog and an
    /// empty page tree (a reader needs both).
    fn doc(info: &str, trailer: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for body in [
            info,
            "<< /Type /Catalog /Pages 3 0 R >>",
            "<< /Type /Pages /Kids [] /Count 0 >>",
        ] {
            offsets.push(out.len());
            let n = offsets.len();
            out.extend(format!("{n} 0 obj\n{body}\nendobj\n").bytes());
        }
        let xref = out.len();
        out.extend(b"xref\n0 4\n0000000000 65535 f \n");
        for o in offsets {
            out.extend(format!("{o:010} 00000 n \n").bytes());
        }
        out.extend(
            format!(
                "trailer\n<< /Size 4 /Info 1 0 R /Root 2 0 R {trailer}>>\nstartxref\n{xref}\n%%EOF\n"
            )
            .bytes(),
        );
        out
    }

    #[test]
    fn a_document_without_its_catalog_or_page_tree_is_malformed() {
        let good = doc("<< /ModDate (D:20260304050607Z) >>", "");
        assert!(matches!(run(&good), Ok(Outcome::Rewritten { .. })));
        // The trailer's /Root pointing at an object the file lacks, as a
        // damaged digit leaves it: qpdf cannot open it.
        let text = String::from_utf8(good.clone()).unwrap();
        let lost = text.replace("/Root 2 0 R", "/Root 7 0 R");
        assert!(
            matches!(run(lost.as_bytes()), Err(FormatError::Malformed(m)) if m.contains("/Root"))
        );
        let no_pages = text.replace("/Pages 3 0 R", "/Pages 9 0 R");
        assert!(
            matches!(run(no_pages.as_bytes()), Err(FormatError::Malformed(m)) if m.contains("/Pages"))
        );
        let no_root = text.replace("/Root 2 0 R", "           ");
        assert!(matches!(
            run(no_root.as_bytes()),
            Err(FormatError::Malformed(_))
        ));
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = crate::config::Config::with_epoch(EPOCH);
        Pdf.normalize(input, &cfg.context(std::path::Path::new("x.pdf")))
    }

    fn text(o: &Outcome, input: &[u8]) -> String {
        String::from_utf8_lossy(o.bytes(input)).into_owned()
    }

    #[test]
    fn hex_and_utf16_dates_are_rewritten_in_their_encoding() {
        // `D:2026` as UTF-16BE in a hex string with a space, lower case.
        let x = doc("<< /ModDate <feff0044003a 0032003000320036> >>", "");
        let o = run(&x).unwrap();
        assert!(
            text(&o, &x).contains("<feff0044003a 0031003900380030>"),
            "{}",
            text(&o, &x)
        );
        let x = doc("<< /CreationDate <443A32303236303330345A> >>", "");
        assert!(text(&run(&x).unwrap(), &x).contains("<443A31393830303130315A>"));
    }

    #[test]
    fn empty_dates_stay_and_unknown_ones_leave_the_file_alone() {
        let x = doc("<< /CreationDate () /ModDate (D:2026) >>", "");
        assert!(text(&run(&x).unwrap(), &x).contains("/CreationDate () /ModDate (D:1980)"));
        let x = doc("<< /CreationDate (Thu Mar  4 2026) >>", "");
        assert!(matches!(run(&x), Err(FormatError::Unsupported(_))));
    }

    #[test]
    fn signed_and_encrypted_documents_are_left_alone() {
        let x = doc("<< /ModDate (D:2026) /ByteRange [0 1 2 3] >>", "");
        assert!(matches!(run(&x), Err(FormatError::Unsupported(m)) if m.contains("signed")));
        let x = doc("<< /ModDate (D:2026) >>", "/Encrypt 1 0 R ");
        assert!(matches!(run(&x), Err(FormatError::Unsupported(m)) if m.contains("encrypted")));
    }

    #[test]
    fn ids_are_derived_from_the_content_and_keep_equal_halves_equal() {
        let ids = |x: &[u8]| {
            let t = text(&run(x).unwrap(), x);
            let at = t.find("/ID [").unwrap();
            t[at..at + 75].to_string()
        };
        let a = ids(&doc(
            "<< /ModDate (D:2026) >>",
            "/ID [<00112233445566778899AABBCCDDEEFF><00112233445566778899AABBCCDDEEFF>] ",
        ));
        let b = ids(&doc(
            "<< /ModDate (D:2027) >>",
            "/ID [<FFEEDDCCBBAA99887766554433221100><FFEEDDCCBBAA99887766554433221100>] ",
        ));
        assert_eq!(a, b);
        assert_eq!(a[6..38], a[40..72], "{a}");
        // Another payload, another /ID.
        let c = ids(&doc(
            "<< /ModDate (D:2027) /Title (x) >>",
            "/ID [<FFEEDDCCBBAA99887766554433221100><FFEEDDCCBBAA99887766554433221100>] ",
        ));
        assert_ne!(a, c);
        // Different halves stay different.
        let d = ids(&doc(
            "<< >>",
            "/ID [<00112233445566778899aabbccddeeff><ffeeddccbbaa99887766554433221100>] ",
        ));
        assert_ne!(d[6..38], d[40..72], "{d}");
        assert!(d[6..38].bytes().all(|c| !c.is_ascii_uppercase()), "{d}");
    }

    #[test]
    fn short_rows_do_not_allocate_the_whole_row() {
        // A 1 MiB row over 3 bytes of data: one partial row, undone.
        assert_eq!(unpredict_png(&[2, 5, 6], 1 << 20, 1), vec![5, 6]);
    }

    #[test]
    fn bad_pdf_dates_do_not_parse() {
        for t in [
            "D:20261301000000",
            "D:20260230000000",
            "D:2026030405060",
            "D:20260304050607+25'00'",
            "D:20260304050607Z05'00'",
            "D:20260304050607 ",
            "D:26",
            "",
        ] {
            assert_eq!(parse_pdf_date(t.as_bytes()), None, "{t}");
        }
    }

    #[test]
    fn strings_parse_with_spans_and_escapes() {
        let src = b"<< /A (x\\(y\\)) /B <4 1 42> /C [1 0 R 2] /D#20E (a(b)c) >>";
        let Obj::Dict(d) = Lexer::new(src, 0).object(0).unwrap() else {
            panic!()
        };
        let Some(Obj::Str(a)) = get(&d, b"A") else {
            panic!()
        };
        assert_eq!(a.bytes, b"x(y)");
        assert_eq!(&src[a.span.clone()], b"x\\(y\\)");
        let Some(Obj::Str(h)) = get(&d, b"B") else {
            panic!()
        };
        assert_eq!(h.bytes, b"AB");
        assert_eq!(
            get(&d, b"C"),
            Some(&Obj::Array(vec![Obj::Ref(1, 0), Obj::Int(2)]))
        );
        assert!(get(&d, b"D E").is_some());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = vec![b'['; 10_000];
        assert!(Lexer::new(&src, 0).object(0).is_err());
    }

    #[test]
    fn literal_strings_keep_their_escapes() {
        assert_eq!(
            relit(b"D\\0722026\\053", b"D:1980+").as_deref(),
            Some(&b"D\\0721980\\053"[..])
        );
        assert_eq!(relit(b"a\\\nb", b"xy").as_deref(), Some(&b"x\\\ny"[..]));
        assert_eq!(relit(b"\\(x", b"(y").as_deref(), Some(&b"\\(y"[..]));
        assert_eq!(relit(b"\\(x", b"zy"), None);
        assert_eq!(relit(b"ab", b"a"), None);
        assert_eq!(relit(b"ab", b"a("), None);
    }

    #[test]
    fn utf16_dates_keep_their_encoding() {
        let (t, u) = string_text(b"\xfe\xff\0D\0:\x002").unwrap();
        assert_eq!((t.as_slice(), u), (&b"D:2"[..], true));
        assert_eq!(string_text(b"\xfe\xff\x04\x10"), None);
    }

    #[test]
    fn xmp_values_are_found_as_elements_and_attributes() {
        let x = b"<xmp:CreateDate>2026-03-04T05:06:08+01:00</xmp:CreateDate> xmp:ModifyDate = '2026' a:xmp:CreateDate='no'";
        let v = xmp_values(x, b"xmp:CreateDate");
        assert_eq!(v.len(), 1);
        assert_eq!(&x[v[0].clone()], b"2026-03-04T05:06:08+01:00");
        let v = xmp_values(x, b"xmp:ModifyDate");
        assert_eq!(&x[v[0].clone()], b"2026");
    }

    #[test]
    fn png_up_predictor_is_undone() {
        // Two rows of 3 bytes, the second with filter 2 (Up).
        let data = [0, 1, 2, 3, 2, 1, 1, 1];
        assert_eq!(unpredict_png(&data, 3, 1), vec![1, 2, 3, 2, 3, 4]);
    }
}
