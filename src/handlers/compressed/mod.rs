//! Compressed streams other than gzip: xz ([`xz`]), bzip2 ([`bzip2`]) and
//! zstd ([`zstd`]), each recognized by its magic at offset 0 (see their
//! modules). None of the three records a time, a name or an owner, so the
//! stream itself is never what differs between two builds: its payload is.
//!
//! One handler per codec, all driven by the [`Codec`] trait, so the dispatch,
//! the size and depth limits and the rules below are written once:
//!
//! * The first [`HEAD_LEN`] decompressed bytes are offered to the dispatcher's
//!   sniffing (a tar, a cpio, or anything another handler claims). When no
//!   handler claims them the file is unchanged, and is not decompressed
//!   further: only its framing (the headers [`Codec::scan`] reads) and that
//!   head are checked. `xz -t`, `bzip2 -t` and `zstd -t` are the tools for
//!   damage deeper in.
//! * A claimed payload is decompressed whole, bounded by `config.max_size` and
//!   by [`MAX_RATIO`] decompressed bytes per compressed byte (beyond the first
//!   MiB): past either limit the file is left as it is and reported as too
//!   large. Every check the stream carries (CRCs, SHA-256, the index) is
//!   verified by the decoder, so a damaged file is reported and never
//!   rewritten. The payload goes to its handler through `dispatch`, so
//!   `config.max_depth` applies.
//! * Only when that handler changed the payload is it compressed again, with
//!   the settings the stream announces and, where a stream does not record a
//!   setting, the reference tool's documented default (see each codec). The
//!   output is a function of the payload, those settings and the library
//!   versions pinned in `Cargo.lock`, so two builds whose payloads normalize
//!   to the same bytes converge. A payload that did not change leaves the
//!   file byte for byte as it is: nothing is recompressed for its own sake.
//! * A file holding several streams (several xz streams, concatenated bzip2
//!   streams as pbzip2 writes them, several zstd frames or skippable frames)
//!   is decompressed as their concatenation, for sniffing, for
//!   [`Handler::members`] and for `.deb` md5sums, but never rewritten: when its
//!   payload would change it is left untouched and reported, since the split
//!   cannot be reproduced from the stream.
//!
//! `.deb` packages use the same codecs for `control.tar.*` and `data.tar.*`;
//! [`stream_of`] gives the package code ([`super::deb`]) a codec to read a
//! member and write it back after patching `md5sums`.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::io::Write;

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member, Outcome, Sink, Source, Written};
use crate::handlers::HEAD_LEN;
use crate::handlers::held::{Held, scratch_failed};

pub mod bzip2;
pub mod xz;
pub mod zstd;

/// A payload is decompressed for nested normalization only while it stays
/// under this many bytes per compressed byte (past its first MiB), as for
/// gzip; real tarballs stay far below it, decompression bombs do not.
pub const MAX_RATIO: u64 = crate::handlers::gzip::MAX_RATIO;

/// One compression format: how to read its framing, decompress and compress.
pub trait Codec: Sync + 'static {
    /// What a rewrite keeps from the stream (check type, block size...);
    /// `Display`s as it is written in change notes.
    type Settings: fmt::Display;
    /// The handler's name.
    const NAME: &'static str;
    /// The `--list-handlers` line.
    const DESCRIBE: &'static str;
    /// File name suffixes and what the payload's name ends with instead
    /// (`.txz` → `.tar`, `.xz` → nothing), longest first.
    const SUFFIXES: &'static [(&'static str, &'static str)];
    /// Whether `head` starts with this format's magic.
    fn sniff(head: &[u8]) -> bool;
    /// How every stream [`Codec::sniff`] claims starts.
    const STARTS: &'static [u8];
    /// How much to decompress to sniff the payload (at least [`HEAD_LEN`]).
    fn head_len(_input: &[u8]) -> usize {
        HEAD_LEN
    }
    /// Reads the stream's headers without decompressing it: the settings a
    /// rewrite would use (or why it cannot be rewritten). An error when the
    /// framing is malformed, or the stream cannot be read at all.
    fn scan(input: &[u8]) -> Result<Result<Self::Settings, String>, FormatError>;
    /// Decompresses every stream of `input` into `out`, stopping once it
    /// has written at least `limit` bytes (then [`Decoded::complete`] is
    /// false). `input` is read forward through a [`Reader`], never whole.
    fn decode_to(
        input: &dyn Source,
        out: &mut dyn Write,
        limit: u64,
    ) -> Result<Decoded, FormatError>;
    /// Compresses `payload` with `settings` into `out`, where `old_len` is
    /// the length of the payload it replaces. The bytes do not depend on
    /// whether `payload` is in memory or read by position (tested).
    fn encode_to(
        payload: &dyn Source,
        settings: &Self::Settings,
        old_len: u64,
        out: &mut dyn Write,
    ) -> Result<(), FormatError>;
    /// [`Codec::decode_to`] into memory.
    fn decode(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<Decoded, FormatError> {
        Self::decode_to(&input, out, limit as u64)
    }
    /// [`Codec::encode_to`] into memory.
    fn encode(
        payload: &[u8],
        settings: &Self::Settings,
        old_len: usize,
    ) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::with_capacity(payload.len() / 4 + 1024);
        Self::encode_to(&payload, settings, old_len as u64, &mut out)?;
        Ok(out)
    }
}

/// What [`Codec::decode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Whether every stream was decompressed (false: the limit was reached).
    pub complete: bool,
    /// How many streams (xz streams, bzip2 streams, zstd frames including
    /// skippable ones) were read.
    pub streams: usize,
    /// Where the last stream ends; what follows (xz stream padding) is
    /// copied as it is.
    pub end: u64,
}

/// The handler of one [`Codec`].
pub struct Compressed<C>(std::marker::PhantomData<C>);

/// The xz handler.
pub static XZ: Compressed<xz::Xz> = Compressed(std::marker::PhantomData);
/// The bzip2 handler.
pub static BZIP2: Compressed<bzip2::Bzip2> = Compressed(std::marker::PhantomData);
/// The zstd handler.
pub static ZSTD: Compressed<zstd::Zstd> = Compressed(std::marker::PhantomData);

/// The name a payload is known by: the file name without the codec's suffix
/// (`.txz` becomes `.tar`). Names only narrow sniffing.
fn inner_name(outer: &Path, suffixes: &[(&str, &str)]) -> PathBuf {
    let name = outer.file_name().map(OsStr::as_bytes).unwrap_or_default();
    for (suffix, instead) in suffixes {
        if let Some(stem) = name.strip_suffix(suffix.as_bytes()) {
            return PathBuf::from(OsStr::from_bytes(&[stem, instead.as_bytes()].concat()));
        }
    }
    PathBuf::from(OsStr::from_bytes(name))
}

impl<C: Codec> Compressed<C> {
    /// Decompresses all of `input` (every stream), or an error when it is
    /// damaged or would exceed `limit` bytes.
    fn decompress(input: &[u8], limit: usize) -> Result<(Vec<u8>, Decoded), FormatError> {
        let mut out = Vec::new();
        let decoded = C::decode(input, &mut out, limit.saturating_add(1))?;
        Self::within(decoded, out.len() as u64, limit as u64)?;
        Ok((out, decoded))
    }

    /// An error unless every stream was decompressed within `limit` bytes.
    fn within(decoded: Decoded, len: u64, limit: u64) -> Result<(), FormatError> {
        if !decoded.complete || len > limit {
            return Err(FormatError::TooLarge(format!(
                "the {} stream decompresses to more than {limit} bytes",
                C::NAME
            )));
        }
        Ok(())
    }

    /// The settings a rewrite of the stream starting with `head` uses, or
    /// why it cannot be rewritten; `decoded` describes the stream.
    fn settings(head: &[u8], decoded: Decoded) -> Result<C::Settings, FormatError> {
        let settings = C::scan(head)?
            .map_err(|why| FormatError::Unsupported(format!("cannot recompress: {why}")))?;
        if decoded.streams > 1 {
            return Err(FormatError::Unsupported(format!(
                "cannot recompress: the file holds {} {} streams, a split strip-nd does not reproduce",
                decoded.streams,
                C::NAME
            )));
        }
        Ok(settings)
    }

    /// `input` with its payload replaced by `payload`, compressed with the
    /// settings `input` announces; `decoded` and `old_len` describe `input`.
    fn rebuild(
        input: &[u8],
        payload: &[u8],
        decoded: Decoded,
        old_len: usize,
    ) -> Result<(Vec<u8>, String), FormatError> {
        let settings = Self::settings(input, decoded)?;
        let mut out = C::encode(payload, &settings, old_len)?;
        out.extend_from_slice(&input[decoded.end as usize..]);
        Ok((out, settings.to_string()))
    }
}

/// The first bytes of a stream read for [`Codec::scan`], which reads
/// headers only (an xz stream header and block header: at most 1,036 bytes).
const SCAN_LEN: u64 = 4096;

impl<C: Codec> Handler for Compressed<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn describe(&self) -> &'static str {
        C::DESCRIBE
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        C::sniff(head)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[C::STARTS])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        crate::handler::normalize_through(self, input, ctx)
    }

    fn streams(&self) -> bool {
        true
    }

    /// Reads the stream forward, never whole: its head for sniffing, then
    /// (when a handler claims the payload) the payload decompressed into
    /// memory, or into scratch space past `in_memory` when that handler
    /// streams; a rewrite is compressed from there into `out`.
    fn normalize_to(
        &self,
        input: &dyn Source,
        out: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        let len = input.len();
        let read_failed = |e: std::io::Error| FormatError::malformed(format!("read failed: {e}"));
        let scan_head = input
            .read_vec(0, len.min(SCAN_LEN) as usize)
            .map_err(read_failed)?;
        // The framing is checked even when the payload is not looked at.
        let _ = C::scan(&scan_head)?;
        let name = inner_name(ctx.name, C::SUFFIXES);
        let inner = ctx.nested(&name);
        let mut head = Vec::new();
        // Damage within the head is reported; past it, only when the payload
        // is claimed and decompressed whole.
        let head_len = C::head_len(&scan_head).max(HEAD_LEN);
        let at_head = C::decode_to(input, &mut head, head_len as u64)?;
        let claimed = if head.is_empty() {
            None
        } else {
            inner
                .dispatch
                .sniff(&head[..head.len().min(HEAD_LEN)], &inner)
        };
        let Some(claimed) = claimed else {
            return Ok(Written::Unchanged);
        };
        let limit = limit_u64(len, ctx);
        // A payload that fit in the head is not decompressed twice.
        let (mut payload, decoded) = if at_head.complete && head.len() as u64 <= limit {
            (Held::Memory(head), at_head)
        } else {
            drop(head);
            let spill = claimed.streams();
            let mut growing = Growing {
                held: Held::start(Vec::new(), len, spill, ctx).map_err(|e| scratch_failed(&e))?,
                spill,
                ctx,
            };
            let decoded = C::decode_to(input, &mut growing, limit.saturating_add(1))?;
            Self::within(decoded, growing.held.len(), limit)?;
            (growing.held, decoded)
        };
        let Some((new, notes)) = payload.rewritten(ctx, &inner)? else {
            return Ok(Written::Unchanged);
        };
        let old_len = payload.len();
        drop(payload);
        let settings = Self::settings(&scan_head, decoded).map_err(|e| match e {
            FormatError::Unsupported(why) => FormatError::Unsupported(format!(
                "its payload {} would change, but {why}",
                name.display()
            )),
            e => e,
        })?;
        C::encode_to(new.source(), &settings, old_len, out)?;
        out.copy_from(input, decoded.end, len - decoded.end)
            .map_err(|e| write_failed(&e))?;
        let mut changes = notes;
        changes.push(Change::remark(
            "",
            format!("recompressed ({settings}) after its content was normalized"),
        ));
        Ok(Written::Rewritten(changes))
    }

    /// The decompressed payload (every stream, concatenated, as `xz -d`,
    /// `bzip2 -d` and `zstd -d` write it), named after the file without its
    /// suffix.
    fn members(&self, input: &[u8], ctx: &Context) -> Option<Result<Vec<Member>, FormatError>> {
        let limit = usize::try_from(ctx.settings.max_size).unwrap_or(usize::MAX);
        Some(
            C::scan(input)
                .and_then(|_| Self::decompress(input, limit))
                .map(|(bytes, _)| {
                    let name = inner_name(ctx.name, C::SUFFIXES);
                    let mut name = name.to_string_lossy().into_owned();
                    if ctx.name.file_name().map(OsStr::as_bytes) == Some(name.as_bytes()) {
                        name.push_str(".out");
                    }
                    vec![Member { name, bytes }]
                }),
        )
    }
}

/// A payload being decompressed: held in memory, moved to scratch space
/// past `in_memory` when `spill`.
struct Growing<'a> {
    held: Held,
    spill: bool,
    ctx: &'a Context<'a>,
}

impl Write for Growing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.held.grow(buf, self.spill, self.ctx)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The output could not be written (scratch space or the temp file).
fn write_failed(e: &std::io::Error) -> FormatError {
    FormatError::TooLarge(format!("cannot write the output: {e}"))
}

/// The input of a decoder or an encoder, read forward: all of it when it is
/// in memory, else windows of [`WINDOW`] bytes by position.
pub(super) struct Reader<'a> {
    src: &'a dyn Source,
    buf: Vec<u8>,
    start: u64,
}

/// How much of an input read by position a [`Reader`] holds at once.
const WINDOW: usize = 1 << 20;

/// What one call of a decoder or an encoder may write before it is emptied
/// into the output.
pub(super) const OUT_ROOM: usize = 256 << 10;

impl<'a> Reader<'a> {
    pub(super) fn new(src: &'a dyn Source) -> Self {
        Self {
            src,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The input's length.
    pub(super) fn len(&self) -> u64 {
        self.src.len()
    }

    /// Bytes from `pos` on: all the rest when the input is in memory, else at
    /// least half a window (or the rest, when less is left). Empty only at the
    /// end.
    pub(super) fn at(&mut self, pos: u64) -> Result<&[u8], FormatError> {
        let len = self.src.len();
        if pos >= len {
            return Ok(&[]);
        }
        if let Some(all) = self.src.as_slice() {
            return Ok(&all[pos as usize..]);
        }
        let end = self.start + self.buf.len() as u64;
        let fresh =
            pos >= self.start && pos < end && (end - pos >= WINDOW as u64 / 2 || end == len);
        if !fresh {
            let n = (len - pos).min(WINDOW as u64) as usize;
            self.buf.resize(n, 0);
            self.src
                .read_at(pos, &mut self.buf)
                .map_err(|e| FormatError::malformed(format!("read failed at offset {pos}: {e}")))?;
            self.start = pos;
        }
        Ok(&self.buf[(pos - self.start) as usize..])
    }

    /// How many zero bytes follow `pos`.
    pub(super) fn zeros(&mut self, mut pos: u64) -> Result<u64, FormatError> {
        let from = pos;
        loop {
            let rest = self.at(pos)?;
            if rest.is_empty() {
                return Ok(pos - from);
            }
            let n = rest.iter().take_while(|&&b| b == 0).count();
            pos += n as u64;
            if n < rest.len() {
                return Ok(pos - from);
            }
        }
    }

    /// Up to `n` bytes at `pos` (fewer at the end).
    pub(super) fn peek(&mut self, pos: u64, n: usize) -> Result<Vec<u8>, FormatError> {
        let n = n.min(self.len().saturating_sub(pos) as usize);
        self.src
            .read_vec(pos, n)
            .map_err(|e| FormatError::malformed(format!("read failed at offset {pos}: {e}")))
    }
}

/// Where a decoder's output goes, and how much of it is wanted.
pub(super) struct Decoding<'a> {
    out: &'a mut dyn Write,
    room: Vec<u8>,
    written: u64,
    limit: u64,
}

impl<'a> Decoding<'a> {
    pub(super) fn new(out: &'a mut dyn Write, limit: u64) -> Self {
        Self {
            out,
            room: vec![0; OUT_ROOM],
            written: 0,
            limit,
        }
    }

    /// Feeds one stream's decoder from `*pos` on: `step(input, room, at)`
    /// decompresses from the input at hand (`at` its offset) into `room`
    /// and says how much input it used, how many bytes it made and whether
    /// the stream ended. `Ok(true)` once it ended, `Ok(false)` when the
    /// limit was reached first; a call that neither reads nor makes
    /// anything means the input ended before the stream.
    pub(super) fn stream(
        &mut self,
        r: &mut Reader,
        pos: &mut u64,
        codec: &str,
        mut step: impl FnMut(&[u8], &mut [u8], u64) -> Result<(u64, usize, bool), FormatError>,
    ) -> Result<bool, FormatError> {
        loop {
            if self.written >= self.limit {
                return Ok(false);
            }
            let (used, made, ended) = step(r.at(*pos)?, &mut self.room, *pos)?;
            emit(self.out, &self.room[..made])?;
            self.written += made as u64;
            *pos += used;
            if ended {
                return Ok(true);
            }
            if used == 0 && made == 0 {
                return Err(truncated(codec, r.len()));
            }
        }
    }
}

/// Writes what a decoder made; a failure is the output's (scratch space).
pub(super) fn emit(out: &mut dyn Write, made: &[u8]) -> Result<(), FormatError> {
    out.write_all(made).map_err(|e| write_failed(&e))
}

/// How many bytes a payload of a `compressed`-byte stream may decompress to.
fn limit_u64(compressed: u64, ctx: &Context) -> u64 {
    ctx.settings
        .max_size
        .min(compressed.saturating_mul(MAX_RATIO).max(1 << 20))
}

/// A codec as the `.deb` code needs it: read a member, write it back.
pub(crate) trait Stream: Sync {
    /// Decompresses every stream of `input`, at most `limit` bytes.
    fn unpack(&self, input: &[u8], limit: u64) -> Result<Vec<u8>, FormatError>;
    /// `input` with its payload replaced by `payload`, compressed as a
    /// rewrite by the handler would be (same settings, same refusals).
    fn repack(&self, input: &[u8], payload: &[u8], limit: u64) -> Result<Vec<u8>, FormatError>;
}

impl<C: Codec> Stream for Compressed<C> {
    fn unpack(&self, input: &[u8], limit: u64) -> Result<Vec<u8>, FormatError> {
        let _ = C::scan(input)?;
        Self::decompress(input, usize::try_from(limit).unwrap_or(usize::MAX)).map(|(b, _)| b)
    }

    fn repack(&self, input: &[u8], payload: &[u8], limit: u64) -> Result<Vec<u8>, FormatError> {
        let (old, decoded) = Self::decompress(input, usize::try_from(limit).unwrap_or(usize::MAX))?;
        Self::rebuild(input, payload, decoded, old.len()).map(|(bytes, _)| bytes)
    }
}

/// The codec of a stream starting with `head`, if it is xz, bzip2 or zstd.
pub(crate) fn stream_of(head: &[u8]) -> Option<&'static dyn Stream> {
    if xz::Xz::sniff(head) {
        Some(&XZ)
    } else if bzip2::Bzip2::sniff(head) {
        Some(&BZIP2)
    } else if zstd::Zstd::sniff(head) {
        Some(&ZSTD)
    } else {
        None
    }
}

/// A message for a stream that ends before its end.
fn truncated(codec: &str, at: u64) -> FormatError {
    FormatError::malformed(format!(
        "truncated: the {codec} stream ends at offset {at} before its end"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::handlers::gzip::tests::tar;

    fn run(h: &dyn Handler, input: &[u8], cfg: &Config) -> Result<Outcome, FormatError> {
        h.normalize(input, &cfg.context(Path::new("p.tar.x")))
    }

    /// Each codec, its default settings, as the handler reads them back.
    fn each(mut f: impl FnMut(&dyn Handler, &dyn Fn(&[u8]) -> Vec<u8>)) {
        f(&XZ, &|p| {
            let s = xz::Xz::scan(&xz::Xz::encode(b"", &SINGLE_XZ, 0).unwrap()).unwrap();
            xz::Xz::encode(p, &s.unwrap(), p.len()).unwrap()
        });
        f(&BZIP2, &|p| {
            bzip2::Bzip2::encode(p, &bzip2::Settings { level: 9 }, 0).unwrap()
        });
        let zs = zstd::Settings {
            checksum: true,
            content_size: true,
        };
        f(&ZSTD, &|p| zstd::Zstd::encode(p, &zs, 0).unwrap());
    }

    const SINGLE_XZ: xz::Settings = xz::Settings {
        preset: 6,
        check: 4,
        first_block: None,
    };

    #[test]
    fn a_changed_payload_is_recompressed_and_converges() {
        let cfg = Config::with_epoch(1_000);
        each(|h, pack| {
            let a = pack(&tar(b"hello", 2_000_000_000));
            let b = pack(&tar(b"hello", 2_000_000_500));
            let Outcome::Rewritten { bytes, changes } = run(h, &a, &cfg).unwrap() else {
                panic!("{}: expected a rewrite", h.name())
            };
            assert!(
                changes
                    .last()
                    .unwrap()
                    .to_string()
                    .starts_with("recompressed"),
                "{changes:?}"
            );
            assert_eq!(bytes, pack(&tar_at_epoch()), "{}", h.name());
            let Outcome::Rewritten { bytes: other, .. } = run(h, &b, &cfg).unwrap() else {
                panic!("expected a rewrite")
            };
            assert_eq!(other, bytes, "{}: two builds converge", h.name());
            assert_eq!(run(h, &bytes, &cfg).unwrap(), Outcome::Unchanged);
            // A payload nobody claims, and one already normal, stay as they are.
            assert_eq!(
                run(h, &pack(b"just text"), &cfg).unwrap(),
                Outcome::Unchanged
            );
        });
    }

    /// What the tar handler makes of `tar(b"hello", _)` at epoch 1000.
    fn tar_at_epoch() -> Vec<u8> {
        let cfg = Config::with_epoch(1_000);
        let t = tar(b"hello", 2_000_000_000);
        match crate::handlers::tar::Tar.normalize(&t, &cfg.context(Path::new("p.tar"))) {
            Ok(Outcome::Rewritten { bytes, .. }) => bytes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn several_streams_are_read_but_not_rewritten() {
        let cfg = Config::with_epoch(1_000);
        each(|h, pack| {
            let t = tar(b"hello", 2_000_000_000);
            let (one, two) = t.split_at(700);
            let both = [pack(one), pack(two)].concat();
            let members = h
                .members(&both, &cfg.context(Path::new("x")))
                .unwrap()
                .unwrap();
            assert_eq!(members[0].bytes, t, "{}: read as one payload", h.name());
            assert!(
                matches!(run(h, &both, &cfg), Err(FormatError::Unsupported(m)) if m.contains("2 ")),
                "{}",
                h.name()
            );
        });
    }

    #[test]
    fn damage_and_limits_are_reported() {
        let cfg = Config::with_epoch(1_000);
        each(|h, pack| {
            let a = pack(&tar(b"hello", 2_000_000_000));
            for cut in [a.len() - 1, a.len() / 2, 5] {
                assert!(
                    matches!(run(h, &a[..cut], &cfg), Err(FormatError::Malformed(_))),
                    "{}: cut at {cut}",
                    h.name()
                );
            }
            let garbage = [a.as_slice(), b"garbage"].concat();
            assert!(matches!(
                run(h, &garbage, &cfg),
                Err(FormatError::Malformed(_))
            ));
            let mut small = Config::with_epoch(1_000);
            small.settings.max_size = 4096;
            assert!(
                matches!(run(h, &a, &small), Err(FormatError::TooLarge(_))),
                "{}",
                h.name()
            );
            let mut shallow = Config::with_epoch(1_000);
            shallow.settings.max_depth = 0;
            assert_eq!(run(h, &a, &shallow).unwrap(), Outcome::Unchanged);
        });
        // A bomb: far beyond MAX_RATIO, never expanded.
        let bomb = zstd::Zstd::encode(
            &tar(&vec![0; 4 << 20], 2_000_000_000),
            &zstd::Settings {
                checksum: true,
                content_size: true,
            },
            0,
        )
        .unwrap();
        assert!(matches!(
            run(&ZSTD, &bomb, &cfg),
            Err(FormatError::TooLarge(_))
        ));
    }

    /// Payloads past a [`Reader`]'s window, the output room and zstd's
    /// input size: incompressible, text-like, zeros.
    fn big_payloads() -> Vec<(&'static str, Vec<u8>)> {
        let mut x: u64 = 12;
        let random = (0..(1 << 20) + 12_345)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let words = b"the quick brown fox jumps over the lazy dog ";
        let text = (0..(3 << 19) + 7)
            .map(|i| words[i % words.len()] ^ u8::from(i / 4099 % 2 == 0))
            .collect();
        vec![
            ("random", random),
            ("text", text),
            ("zeros", vec![0; 3 << 20]),
        ]
    }

    /// What `xz::Xz::encode` was before it streamed: all the payload to
    /// one `Finish` call after another, into a growing Vec.
    fn xz_one_shot(payload: &[u8], s: &xz::Settings) -> Vec<u8> {
        use liblzma::stream::{Action, Check, MtStreamBuilder, Status, Stream};
        let check = match s.check {
            0 => Check::None,
            1 => Check::Crc32,
            10 => Check::Sha256,
            _ => Check::Crc64,
        };
        let mut stream = match s.first_block {
            None => Stream::new_easy_encoder(s.preset, check).unwrap(),
            Some(b) => MtStreamBuilder::new()
                .threads(1)
                .block_size(b)
                .preset(s.preset)
                .check(check)
                .encoder()
                .unwrap(),
        };
        let mut out = Vec::new();
        loop {
            out.reserve((out.len() / 2).max(64 << 10));
            let at = stream.total_in() as usize;
            if stream
                .process_vec(&payload[at..], &mut out, Action::Finish)
                .unwrap()
                == Status::StreamEnd
            {
                return out;
            }
        }
    }

    /// What `bzip2::Bzip2::encode` was before it streamed.
    fn bzip2_one_shot(payload: &[u8], level: u32) -> Vec<u8> {
        use ::bzip2::{Action, Compress, Compression, Status};
        let mut stream = Compress::new(Compression::new(level), 30);
        let mut out = Vec::new();
        loop {
            out.reserve((out.len() / 2).max(64 << 10));
            let at = stream.total_in() as usize;
            if stream
                .compress_vec(&payload[at..], &mut out, Action::Finish)
                .unwrap()
                == Status::StreamEnd
            {
                return out;
            }
        }
    }

    /// What `zstd::Zstd::encode` was before it streamed: the tool's
    /// input-sized chunks into a growing Vec.
    fn zstd_one_shot(payload: &[u8], s: zstd::Settings) -> Vec<u8> {
        use ::zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
        use ::zstd::zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};
        let mut cctx = CCtx::create();
        for p in [
            CParameter::CompressionLevel(3),
            CParameter::ChecksumFlag(s.checksum),
            CParameter::ContentSizeFlag(s.content_size),
        ] {
            cctx.set_parameter(p).unwrap();
        }
        if s.content_size {
            cctx.set_pledged_src_size(Some(payload.len() as u64))
                .unwrap();
        }
        let mut out = Vec::new();
        for chunk in payload.chunks(CCtx::in_size()) {
            let mut src = InBuffer::around(chunk);
            while src.pos < chunk.len() {
                out.reserve(CCtx::out_size());
                let len = out.len();
                let mut dst = OutBuffer::around_pos(&mut out, len);
                cctx.compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_continue)
                    .unwrap();
            }
        }
        loop {
            out.reserve(CCtx::out_size());
            let len = out.len();
            let mut dst = OutBuffer::around_pos(&mut out, len);
            let mut src = InBuffer::around(&[]);
            if cctx
                .compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_end)
                .unwrap()
                == 0
            {
                return out;
            }
        }
    }

    /// Encodes `payload` from memory and read by position; both must give
    /// `want`, and decode back (from memory and by position) to `payload`.
    fn same_both_ways<C: Codec>(what: &str, payload: &[u8], s: &C::Settings, want: &[u8]) {
        use crate::inflate::tests::Positional;
        let len = payload.len() as u64;
        let from_memory = C::encode(payload, s, payload.len()).unwrap();
        let mut by_position = Vec::new();
        C::encode_to(&Positional(payload.to_vec()), s, len, &mut by_position).unwrap();
        assert!(from_memory == want, "{}: {what} ({s}) from memory", C::NAME);
        assert!(by_position == want, "{}: {what} ({s}) by position", C::NAME);
        let mut a = Vec::new();
        let da = C::decode(want, &mut a, usize::MAX).unwrap();
        let mut b = Vec::new();
        let db = C::decode_to(&Positional(want.to_vec()), &mut b, u64::MAX).unwrap();
        assert!(
            a == payload && b == payload,
            "{}: {what} decodes back",
            C::NAME
        );
        assert_eq!(da, db);
        assert!(da.complete && da.streams == 1);
    }

    #[test]
    fn streaming_codecs_give_the_bytes_of_the_one_shot_encoders() {
        for (what, p) in big_payloads() {
            // Preset 0 (hc3 match finder) on everything; 6 (bt4, the
            // default) and the multi-threaded layout on the text only.
            let mut xzs = vec![(0, None)];
            if what == "text" {
                xzs.extend([(6, None), (6, Some(256 << 10))]);
            }
            for (preset, first_block) in xzs {
                let s = xz::Settings {
                    preset,
                    check: 4,
                    first_block,
                };
                same_both_ways::<xz::Xz>(what, &p, &s, &xz_one_shot(&p, &s));
            }
            for level in [1, 9] {
                let s = bzip2::Settings { level };
                same_both_ways::<bzip2::Bzip2>(what, &p, &s, &bzip2_one_shot(&p, level));
            }
            for (checksum, content_size) in [(true, true), (false, false)] {
                let s = zstd::Settings {
                    checksum,
                    content_size,
                };
                same_both_ways::<zstd::Zstd>(what, &p, &s, &zstd_one_shot(&p, s));
            }
        }
    }

    #[test]
    fn payload_names_drop_the_suffix() {
        let n = |s: &str| inner_name(Path::new(s), xz::Xz::SUFFIXES);
        assert_eq!(n("a/b.tar.xz"), Path::new("b.tar"));
        assert_eq!(n("b.txz"), Path::new("b.tar"));
        assert_eq!(n("b"), Path::new("b"));
        let z = |s: &str| inner_name(Path::new(s), zstd::Zstd::SUFFIXES);
        assert_eq!(z("data.tar.zst"), Path::new("data.tar"));
        assert_eq!(z("x.tzst"), Path::new("x.tar"));
        let b = |s: &str| inner_name(Path::new(s), bzip2::Bzip2::SUFFIXES);
        assert_eq!(b("x.tbz2"), Path::new("x.tar"));
        assert_eq!(b("x.tar.bz2"), Path::new("x.tar"));
    }
}
