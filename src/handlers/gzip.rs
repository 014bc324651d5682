//! gzip, as specified by RFC 1952, recognized by the magic `1f 8b 08`
//! (ID1, ID2, CM = deflate).
//!
//! Every member of a multi-member file is handled. Per member:
//!
//! * `MTIME` is clamped to the epoch (0, "no time stamp", stays 0);
//! * `FNAME` (the original file name) is dropped, and its flag cleared;
//! * `FCOMMENT` is dropped, and its flag cleared;
//! * `FHCRC`, when present, is recomputed over the new header.
//!
//! Left alone on purpose: `FTEXT`, `XFL` (it describes the compressor's
//! settings, not the clock), `OS` (constant for a given build platform) and
//! `FEXTRA` (opaque subfields; copied as they are). The compressed data and the
//! CRC32/ISIZE trailer are copied byte for byte, never recompressed.
//!
//! To find where a member ends the deflate stream is inflated into a scratch
//! buffer, and the trailer's CRC32 and ISIZE are verified, so a corrupt file is
//! never rewritten.
//!
//! Fast path: when the first header is already normal and the bytes after it
//! hold no `1f 8b 08` sequence, there is no other member header to normalize,
//! and the file is reported unchanged without inflating it. Nothing is written
//! in that case, so nothing can be made worse; the price is that damage in the
//! compressed data of such a file goes unreported (`gzip -t` is the tool for
//! that). This makes the second pass of the self-check, and already-normal
//! files such as Debian's `gzip -9n` man pages, cost a header parse and a
//! memchr-speed scan. A truncated member, a bad checksum, or bytes after the last
//! member (trailing garbage) are format errors and leave the file untouched.
//! Zero bytes after the last member (tape or block padding, which `gzip -t`
//! accepts) are kept as they are.
//!
//! Nested content: the first [`SNIFF_LEN`] inflated bytes of the first member
//! are offered to the dispatcher's sniffing (no format is named here; a tar, a
//! cpio or anything another handler claims qualifies). When a handler claims
//! them and the file has a single member, the member is inflated whole, bounded
//! by `settings.max_size` and by a ratio of [`MAX_RATIO`] inflated bytes per
//! compressed byte (beyond the first MiB), and handed to that handler (through
//! the dispatcher, so `settings.max_depth` applies). Only when that changes the
//! content is the member recompressed (flate2 with zlib-rs, so the bytes are a
//! function of the content, the level and that library's version) at the level
//! the input's XFL announces: 9 when it says "maximum compression" (2), 1 when
//! it says "fastest" (4), else gzip's default 6 (XFL 0); the header is
//! normalized as above. Level 9 costs about three times level 6, and most
//! tools (GNU tar's `czf`) write with the default.
//! Otherwise, and for payloads that are too large, refused or malformed, only
//! the header is normalized, as for any gzip file, and the fast path above still
//! applies to files whose payload nobody claims. Multi-member files are never
//! recompressed.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::Write;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use flate2::write::DeflateEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member as HandlerMember, Nested, Outcome, SNIFF_LEN};

/// The gzip handler.
pub struct Gzip;

const MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// A payload is inflated for nested normalization only while it stays under
/// this many bytes per compressed byte (past its first MiB): deflate cannot
/// exceed about 1032, and real archives stay far below this.
pub const MAX_RATIO: u64 = 256;

/// The deflate level (and the XFL that announces it) for recompressing a
/// member whose header carried `xfl` (RFC 1952: 2 maximum compression, 4
/// fastest).
fn level_for(xfl: u8) -> (u32, u8) {
    match xfl {
        2 => (9, 2),
        4 => (1, 4),
        _ => (6, 0),
    }
}

/// The parts of one member's header, as offsets into the input.
#[derive(Debug, Clone)]
pub struct Member {
    /// Offset of the member's first byte.
    pub start: usize,
    /// FLG.
    pub flags: u8,
    /// MTIME.
    pub mtime: u32,
    /// XFL and OS.
    pub xfl_os: [u8; 2],
    /// FEXTRA's payload including its two length bytes.
    pub extra: Option<Range<usize>>,
    /// FNAME without its terminating zero.
    pub name: Option<Range<usize>>,
    /// FCOMMENT without its terminating zero.
    pub comment: Option<Range<usize>>,
    /// The deflate stream and the 8-byte trailer.
    pub body: Range<usize>,
}

impl Handler for Gzip {
    fn name(&self) -> &'static str {
        "gzip"
    }

    fn describe(&self) -> &'static str {
        "gzip (RFC 1952), magic 1f 8b 08: clamps MTIME, drops FNAME/FCOMMENT, recomputes FHCRC; data copied as is"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.starts_with(&MAGIC)
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        let first = parse_header(input, 0, 1)?;
        let inner = inner_name(ctx.name);
        let inner_ctx = ctx.nested(&inner);
        let claimed = payload_claimed(input, first.body.start, &inner_ctx);
        if !claimed
            && is_normal(&first, ctx)
            && memchr::memmem::find(&input[first.body.start..], &MAGIC).is_none()
        {
            return Ok(Outcome::Unchanged);
        }
        let members = parse(input)?;
        if let [only] = &members[..] {
            if claimed {
                if let Some(out) = normalize_payload(input, only, ctx, &inner_ctx)? {
                    return Ok(out);
                }
            }
        }
        let mut changes = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let n = i + 1;
            let clamped = ctx.clamp(u64::from(m.mtime));
            if clamped != u64::from(m.mtime) {
                changes.push(Change::set(
                    format!("member {n}"),
                    "mtime",
                    m.mtime,
                    clamped,
                ));
            }
            if let Some(r) = &m.name {
                changes.push(Change::gone(
                    format!("member {n}"),
                    "name",
                    format!("{:?}", String::from_utf8_lossy(&input[r.clone()])),
                    "dropped",
                ));
            }
            if m.comment.is_some() {
                changes.push(Change::gone(
                    format!("member {n}"),
                    "comment",
                    "",
                    "dropped",
                ));
            }
        }
        if changes.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let mut out = Vec::with_capacity(input.len());
        for m in &members {
            write_header(&mut out, input, m, ctx);
            out.extend_from_slice(&input[m.body.clone()]);
        }
        let padding = members.last().map_or(input.len(), |m| m.body.end);
        out.extend_from_slice(&input[padding..]);
        Ok(Outcome::Rewritten {
            bytes: out,
            changes,
        })
    }

    /// The decompressed payload (all members, concatenated, as `gzip -d`
    /// writes it), named after the file without its `.gz`.
    fn members(
        &self,
        input: &[u8],
        ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        Some(decompress(input, ctx.settings.max_size).map(|bytes| {
            let name = ctx
                .name
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let name = match name.strip_suffix(".tgz") {
                Some(stem) => format!("{stem}.tar"),
                None => name
                    .strip_suffix(".gz")
                    .map_or_else(|| format!("{name}.out"), str::to_string),
            };
            vec![HandlerMember { name, bytes }]
        }))
    }
}

/// Decompresses every member, refusing to produce more than `limit` bytes.
fn decompress(input: &[u8], limit: u64) -> Result<Vec<u8>, FormatError> {
    let members = parse(input)?;
    let mut out = Vec::new();
    let mut state = Decompress::new(false);
    for m in &members {
        state.reset(false);
        let data = &input[m.body.start..m.body.end - 8];
        loop {
            if out.len() as u64 >= limit {
                return Err(FormatError::TooLarge(format!(
                    "decompresses to more than {limit} bytes"
                )));
            }
            out.reserve(64 * 1024);
            let consumed = state.total_in() as usize;
            let status = state
                .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
                .map_err(|e| FormatError::malformed(format!("corrupt deflate data: {e}")))?;
            if status == Status::StreamEnd {
                break;
            }
        }
    }
    Ok(out)
}

/// The name the payload is known by: the file name without `.gz` (`.tgz`
/// becomes `.tar`). Names only narrow sniffing.
fn inner_name(outer: &Path) -> PathBuf {
    let name = outer.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let inner: Cow<[u8]> = if let Some(stem) = name.strip_suffix(b".tgz") {
        Cow::Owned([stem, b".tar"].concat())
    } else {
        Cow::Borrowed(name.strip_suffix(b".gz").unwrap_or(name))
    };
    PathBuf::from(OsStr::from_bytes(&inner))
}

/// Whether some handler claims the first inflated bytes of the deflate stream
/// at `pos`. Damage is not reported here: the full parse does that.
fn payload_claimed(input: &[u8], pos: usize, inner: &Context) -> bool {
    let mut state = Decompress::new(false);
    let mut head = vec![0; SNIFF_LEN];
    let mut filled = 0;
    while filled < head.len() {
        let before = (state.total_in(), state.total_out());
        let Some(rest) = input.get(pos + state.total_in() as usize..) else {
            break;
        };
        let status = state.decompress(rest, &mut head[filled..], FlushDecompress::None);
        filled = state.total_out() as usize;
        match status {
            Ok(Status::StreamEnd) | Err(_) => break,
            Ok(_) if (state.total_in(), state.total_out()) == before => break,
            Ok(_) => {}
        }
    }
    filled > 0 && inner.dispatch.sniff(&head[..filled], inner).is_some()
}

/// Inflates the single member `m`, hands it to the dispatcher, and rebuilds
/// the file when the payload changed. `None`: leave the payload as it is.
fn normalize_payload(
    input: &[u8],
    m: &Member,
    ctx: &Context,
    inner: &Context,
) -> Result<Option<Outcome>, FormatError> {
    let compressed = (m.body.end - m.body.start) as u64;
    let limit = ctx
        .settings
        .max_size
        .min(compressed.saturating_mul(MAX_RATIO).max(1 << 20));
    let Some(payload) = inflate(&input[m.body.clone()], limit) else {
        return Ok(None);
    };
    let Nested::Rewritten {
        bytes,
        changes: notes,
        ..
    } = inner.dispatch.member(&payload, inner)
    else {
        return Ok(None);
    };
    let mut changes = Vec::new();
    let clamped = ctx.clamp(u64::from(m.mtime));
    if clamped != u64::from(m.mtime) {
        changes.push(Change::set("member 1", "mtime", m.mtime, clamped));
    }
    if let Some(r) = &m.name {
        changes.push(Change::gone(
            "member 1",
            "name",
            format!("{:?}", String::from_utf8_lossy(&input[r.clone()])),
            "dropped",
        ));
    }
    if m.comment.is_some() {
        changes.push(Change::gone("member 1", "comment", "", "dropped"));
    }
    changes.extend(notes);
    let (level, xfl) = level_for(m.xfl_os[0]);
    changes.push(Change::remark(
        "member 1",
        format!("recompressed at deflate level {level} after its content was normalized"),
    ));
    let mut header = m.clone();
    header.xfl_os[0] = xfl;
    let mut out = Vec::with_capacity(input.len());
    write_header(&mut out, input, &header, ctx);
    let mut encoder = DeflateEncoder::new(out, Compression::new(level));
    let mut out = encoder
        .write_all(&bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| FormatError::malformed(format!("recompressing failed: {e}")))?;
    out.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes()); // ISIZE is mod 2^32
    out.extend_from_slice(&input[m.body.end..]);
    Ok(Some(Outcome::Rewritten {
        bytes: out,
        changes,
    }))
}

/// A single-member gzip file `input` with its payload replaced by `payload`:
/// the header normalized as [`Gzip`] writes it, the payload compressed at
/// the level the header's XFL announces (as a nested rewrite is). For callers
/// that change a payload themselves (a `.deb`'s control tarball).
pub(crate) fn with_payload(
    input: &[u8],
    payload: &[u8],
    ctx: &Context,
) -> Result<Vec<u8>, FormatError> {
    let members = parse(input)?;
    let [m] = &members[..] else {
        return Err(FormatError::Unsupported(
            "a multi-member gzip file is never recompressed".into(),
        ));
    };
    let (level, xfl) = level_for(m.xfl_os[0]);
    let mut header = m.clone();
    header.xfl_os[0] = xfl;
    let mut out = Vec::with_capacity(input.len());
    write_header(&mut out, input, &header, ctx);
    let mut encoder = DeflateEncoder::new(out, Compression::new(level));
    let mut out = encoder
        .write_all(payload)
        .and_then(|()| encoder.finish())
        .map_err(|e| FormatError::malformed(format!("recompressing failed: {e}")))?;
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes()); // ISIZE is mod 2^32
    out.extend_from_slice(&input[m.body.end..]);
    Ok(out)
}

/// Inflates a deflate stream (with its trailer after it), or `None` when the
/// output would exceed `limit` bytes. The stream was verified by [`parse`].
fn inflate(body: &[u8], limit: u64) -> Option<Vec<u8>> {
    let hint = body.len().checked_sub(4).map_or(0, |at| {
        u32::from_le_bytes(body[at..].try_into().unwrap_or_default())
    });
    if u64::from(hint) > limit {
        return None;
    }
    let mut state = Decompress::new(false);
    let mut out = Vec::with_capacity(hint as usize);
    loop {
        if out.len() == out.capacity() {
            out.reserve((out.len() / 2).max(64 * 1024));
        }
        let before = (state.total_in(), state.total_out());
        let rest = &body[state.total_in() as usize..];
        let status = state
            .decompress_vec(rest, &mut out, FlushDecompress::None)
            .ok()?;
        if state.total_out() > limit {
            return None;
        }
        match status {
            Status::StreamEnd => return Some(out),
            _ if (state.total_in(), state.total_out()) == before => return None,
            _ => {}
        }
    }
}

/// Whether a header already has nothing to normalize.
fn is_normal(m: &Member, ctx: &Context) -> bool {
    m.name.is_none() && m.comment.is_none() && ctx.clamp(u64::from(m.mtime)) == u64::from(m.mtime)
}

/// Writes the normalized header of `m`.
fn write_header(out: &mut Vec<u8>, input: &[u8], m: &Member, ctx: &Context) {
    let start = out.len();
    let mtime = ctx.clamp(u64::from(m.mtime)) as u32; // <= m.mtime, so it fits
    out.extend_from_slice(&MAGIC);
    out.push(m.flags & !(FNAME | FCOMMENT));
    out.extend_from_slice(&mtime.to_le_bytes());
    out.extend_from_slice(&m.xfl_os);
    if let Some(r) = &m.extra {
        out.extend_from_slice(&input[r.clone()]);
    }
    if m.flags & FHCRC != 0 {
        let crc = crc32fast::hash(&out[start..]) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

fn take<'a>(input: &'a [u8], pos: usize, len: usize, what: &str) -> Result<&'a [u8], FormatError> {
    input
        .get(pos..pos.saturating_add(len))
        .ok_or_else(|| FormatError::malformed(format!("truncated {what} at offset {pos}")))
}

fn zero_terminated(input: &[u8], pos: usize, what: &str) -> Result<Range<usize>, FormatError> {
    let rest = input.get(pos..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| FormatError::malformed(format!("unterminated {what} at offset {pos}")))?;
    Ok(pos..pos + len)
}

/// Parses every member, inflating each one to find its end and to verify it.
pub fn parse(input: &[u8]) -> Result<Vec<Member>, FormatError> {
    let mut members = Vec::new();
    let mut pos = 0;
    let mut inflater = Inflater::new();
    while pos < input.len() {
        let n = members.len() + 1;
        if n > 1 && input[pos..].iter().all(|&b| b == 0) {
            break; // zero padding, copied as it is
        }
        if !input[pos..].starts_with(&MAGIC[..2]) {
            return Err(FormatError::malformed(format!(
                "trailing garbage: {} bytes after member {} at offset {pos}",
                input.len() - pos,
                n - 1
            )));
        }
        let m = parse_member(input, pos, n, &mut inflater)?;
        pos = m.body.end;
        members.push(m);
    }
    if members.is_empty() {
        return Err(FormatError::malformed("empty file"));
    }
    Ok(members)
}

fn parse_member(
    input: &[u8],
    start: usize,
    n: usize,
    inflater: &mut Inflater,
) -> Result<Member, FormatError> {
    let mut m = parse_header(input, start, n)?;
    m.body.end = inflater
        .check(input, m.body.start)
        .map_err(|e| FormatError::malformed(format!("member {n}: {e}")))?;
    Ok(m)
}

/// Parses the header of member `n` at `start`; `body` is left empty, starting
/// where the deflate data does.
fn parse_header(input: &[u8], start: usize, n: usize) -> Result<Member, FormatError> {
    let fixed = take(input, start, 10, &format!("member {n} header"))?;
    if fixed[2] != 8 {
        return Err(FormatError::malformed(format!(
            "member {n}: compression method {} is not deflate",
            fixed[2]
        )));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(FormatError::malformed(format!(
            "member {n}: reserved flag bits set ({flags:#04x})"
        )));
    }
    let mtime = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let xfl_os = [fixed[8], fixed[9]];
    let mut pos = start + 10;
    let mut extra = None;
    if flags & FEXTRA != 0 {
        let xlen = take(input, pos, 2, "FEXTRA length")?;
        let xlen = usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        take(input, pos + 2, xlen, "FEXTRA")?;
        extra = Some(pos..pos + 2 + xlen);
        pos += 2 + xlen;
    }
    let mut name = None;
    if flags & FNAME != 0 {
        let r = zero_terminated(input, pos, "FNAME")?;
        pos = r.end + 1;
        name = Some(r);
    }
    let mut comment = None;
    if flags & FCOMMENT != 0 {
        let r = zero_terminated(input, pos, "FCOMMENT")?;
        pos = r.end + 1;
        comment = Some(r);
    }
    if flags & FHCRC != 0 {
        let stored = take(input, pos, 2, "FHCRC")?;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        let actual = crc32fast::hash(&input[start..pos]) as u16;
        if stored != actual {
            return Err(FormatError::malformed(format!(
                "member {n}: header CRC {stored:#06x} does not match {actual:#06x}"
            )));
        }
        pos += 2;
    }
    Ok(Member {
        start,
        flags,
        mtime,
        xfl_os,
        extra,
        name,
        comment,
        body: pos..pos,
    })
}

/// Inflates deflate streams into a reusable scratch buffer, verifying them.
struct Inflater {
    state: Decompress,
    scratch: Vec<u8>,
}

impl Inflater {
    fn new() -> Self {
        Self {
            state: Decompress::new(false),
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Inflates the stream starting at `pos` and checks the trailer that follows.
    /// Returns the offset just past the trailer.
    fn check(&mut self, input: &[u8], pos: usize) -> Result<usize, String> {
        self.state.reset(false);
        let mut crc = crc32fast::Hasher::new();
        loop {
            let in_before = self.state.total_in();
            let out_before = self.state.total_out();
            let offset = pos + in_before as usize;
            let status = self
                .state
                .decompress(&input[offset..], &mut self.scratch, FlushDecompress::None)
                .map_err(|e| format!("corrupt deflate data near offset {offset}: {e}"))?;
            let produced = (self.state.total_out() - out_before) as usize;
            crc.update(&self.scratch[..produced]);
            match status {
                Status::StreamEnd => break,
                Status::Ok | Status::BufError => {
                    if produced == 0 && self.state.total_in() == in_before {
                        return Err(format!(
                            "truncated: deflate data ends at offset {} without its final block",
                            input.len()
                        ));
                    }
                }
            }
        }
        let end = pos + self.state.total_in() as usize;
        let trailer = input
            .get(end..end + 8)
            .ok_or_else(|| format!("truncated: CRC32/ISIZE trailer missing at offset {end}"))?;
        let stored_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let stored_size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        let crc = crc.finalize();
        if stored_crc != crc {
            return Err(format!(
                "CRC32 {stored_crc:#010x} does not match the data ({crc:#010x})"
            ));
        }
        let size = self.state.total_out() as u32; // ISIZE is the size modulo 2^32
        if stored_size != size {
            return Err(format!(
                "ISIZE {stored_size} does not match the data ({size} mod 2^32)"
            ));
        }
        Ok(end + 8)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;
    use std::path::Path;

    use flate2::{Compression, GzBuilder, write::DeflateEncoder};

    use super::*;
    use crate::config::Config;

    fn gz(data: &[u8], mtime: u32, name: Option<&str>, comment: Option<&str>) -> Vec<u8> {
        let mut b = GzBuilder::new().mtime(mtime);
        if let Some(n) = name {
            b = b.filename(n);
        }
        if let Some(c) = comment {
            b = b.comment(c);
        }
        let mut w = b.write(Vec::new(), Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    /// A member with FHCRC and FEXTRA, which flate2's builder cannot write.
    fn gz_with_hcrc(data: &[u8], mtime: u32, name: &str) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, FHCRC | FEXTRA | FNAME];
        out.extend_from_slice(&mtime.to_le_bytes());
        out.extend_from_slice(&[0, 3]);
        out.extend_from_slice(&[4, 0, b'A', b'B', 0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        let crc = crc32fast::hash(&out) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        out.extend_from_slice(&e.finish().unwrap());
        out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    fn run(input: &[u8], epoch: u64) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(epoch);
        Gzip.normalize(input, &cfg.context(Path::new("x.gz")))
    }

    #[test]
    fn clamps_mtime_and_drops_name_and_comment() {
        let a = gz(b"hello", 1_700_000_000, Some("a.txt"), Some("hi"));
        let Outcome::Rewritten { bytes, changes } = run(&a, 1_000).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(bytes[3], 0, "FNAME and FCOMMENT flags cleared");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1_000);
        assert_eq!(bytes.len(), a.len() - "a.txt\0hi\0".len());
        assert_eq!(&bytes[10..], &a[10 + 9..], "compressed data copied as is");
    }

    #[test]
    fn a_later_member_is_found_behind_a_normal_first_one() {
        let mut a = gz(b"one", 0, None, None);
        a.extend(gz(b"two", 2_000_000_000, Some("2"), None));
        let Outcome::Rewritten { changes, .. } = run(&a, 1_000).unwrap() else {
            panic!("the second member's header must be normalized")
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
    }

    #[test]
    fn earlier_mtimes_and_zero_stay() {
        for t in [0, 999] {
            let a = gz(b"hello", t, None, None);
            assert_eq!(run(&a, 1_000).unwrap(), Outcome::Unchanged);
        }
    }

    #[test]
    fn every_member_is_normalized() {
        let mut a = gz(b"one", 2_000_000_000, Some("1"), None);
        a.extend(gz(b"two", 2_000_000_001, Some("2"), None));
        let Outcome::Rewritten { bytes, changes } = run(&a, 1_000).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(changes.len(), 4, "{changes:?}");
        let mut b = gz(b"one", 1_000, None, None);
        b.extend(gz(b"two", 1_000, None, None));
        assert_eq!(bytes, b);
    }

    #[test]
    fn header_crc_is_recomputed_and_extra_kept() {
        let a = gz_with_hcrc(b"payload", 2_000_000_000, "name");
        assert!(parse(&a).is_ok());
        let Outcome::Rewritten { bytes, .. } = run(&a, 1_000).unwrap() else {
            panic!("expected a rewrite")
        };
        let m = &parse(&bytes).expect("rewritten header CRC verifies")[0];
        assert_eq!(m.flags, FHCRC | FEXTRA);
        assert_eq!(&bytes[m.extra.clone().unwrap()], &[4, 0, b'A', b'B', 0, 0]);
        let mut bad = a.clone();
        bad[4] ^= 1;
        assert!(matches!(parse(&bad), Err(FormatError::Malformed(m)) if m.contains("header CRC")));
    }

    #[test]
    fn truncation_garbage_and_corruption_are_errors() {
        let a = gz(b"hello hello hello", 5, Some("n"), None);
        for cut in [3, 12, a.len() - 9, a.len() - 1] {
            assert!(run(&a[..cut], 1_000).is_err(), "cut at {cut}");
        }
        let mut padded = a.clone();
        padded.extend_from_slice(&[0; 100]);
        let Outcome::Rewritten { bytes, .. } = run(&padded, 1_000).unwrap() else {
            panic!("zero padding is accepted")
        };
        assert!(bytes.ends_with(&[0; 100]), "padding kept");
        let mut garbage = padded.clone();
        garbage.extend_from_slice(b"\0\0\x01");
        assert!(
            matches!(run(&garbage, 1_000), Err(FormatError::Malformed(m)) if m.contains("trailing garbage"))
        );
        let mut crc = a.clone();
        let at = crc.len() - 8;
        crc[at] ^= 0xff;
        assert!(matches!(run(&crc, 1_000), Err(FormatError::Malformed(m)) if m.contains("CRC32")));
    }

    /// A one-file ustar archive as a build leaves it: a late mtime, an owner.
    pub(crate) fn tar(data: &[u8], mtime: u64) -> Vec<u8> {
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"a.txt");
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0001750\0");
        h[116..124].copy_from_slice(b"0001750\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(format!("{mtime:011o}\0").as_bytes());
        h[148..156].fill(b' ');
        h[156] = b'0';
        h[257..265].copy_from_slice(b"ustar\x0000");
        h[265..269].copy_from_slice(b"user");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut out = h.to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512) + 1024, 0);
        out.resize(out.len().next_multiple_of(10240), 0);
        out
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_claimed_payload_is_normalized_and_recompressed() {
        let inner = tar(b"hello", 2_000_000_000);
        let a = gz(&inner, 2_000_000_000, Some("a.tar"), None);
        let Outcome::Rewritten { bytes, changes } = run(&a, 1_000).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(
            bytes[8], 0,
            "the builder's default level: XFL 0, recompressed at 6"
        );
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1_000);
        let payload = gunzip(&bytes);
        assert_eq!(payload.len(), inner.len());
        assert_eq!(&payload[136..148], format!("{:011o}\0", 1_000).as_bytes());
        assert_eq!(&payload[512..517], b"hello");
        assert!(
            changes
                .iter()
                .any(|c| c.to_string().starts_with("x!a.txt: mtime")),
            "{changes:?}"
        );
        assert!(
            changes.last().unwrap().to_string().contains("recompressed"),
            "{changes:?}"
        );
        assert_eq!(run(&bytes, 1_000).unwrap(), Outcome::Unchanged);
        // Another build's noise converges to the same bytes.
        let b = gz(&tar(b"hello", 2_000_000_500), 2_000_000_001, None, None);
        let Outcome::Rewritten { bytes: other, .. } = run(&b, 1_000).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(other, bytes);
    }

    #[test]
    fn a_normal_payload_keeps_its_compressed_data() {
        let inner = tar(b"hello", 10);
        let mut normal = inner.clone();
        normal[108..124].copy_from_slice(b"0000000\x000000000\0");
        normal[265..269].fill(0);
        normal[148..156].fill(b' ');
        let sum: u32 = normal[..512].iter().map(|&b| u32::from(b)).sum();
        normal[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let a = gz(&normal, 2_000_000_000, Some("n"), None);
        let Outcome::Rewritten { bytes, changes } = run(&a, 1_000).unwrap() else {
            panic!("the header still needs normalizing")
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(&bytes[10..], &a[12..], "compressed data copied as is");
        assert_eq!(run(&bytes, 1_000).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn an_absurd_ratio_is_not_expanded() {
        let inner = tar(&vec![0; 3 << 20], 2_000_000_000);
        let a = gz(&inner, 5, None, None);
        assert!(a.len() as u64 * MAX_RATIO < inner.len() as u64);
        assert_eq!(run(&a, 1_000).unwrap(), Outcome::Unchanged);
        let mut cfg = Config::with_epoch(1_000);
        cfg.settings.max_size = 1 << 20;
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 24) as u8
            })
            .collect();
        let small = gz(&tar(&noise, 2_000_000_000), 5, None, None);
        let ctx = cfg.context(Path::new("x.tar.gz"));
        assert_eq!(Gzip.normalize(&small, &ctx).unwrap(), Outcome::Unchanged);
        assert!(matches!(
            run(&small, 1_000).unwrap(),
            Outcome::Rewritten { .. }
        ));
    }
}
