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

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member, Nested, Outcome};
use crate::handlers::HEAD_LEN;

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
    /// How much to decompress to sniff the payload (at least [`HEAD_LEN`]).
    fn head_len(_input: &[u8]) -> usize {
        HEAD_LEN
    }
    /// Reads the stream's headers without decompressing it: the settings a
    /// rewrite would use (or why it cannot be rewritten). An error when the
    /// framing is malformed, or the stream cannot be read at all.
    fn scan(input: &[u8]) -> Result<Result<Self::Settings, String>, FormatError>;
    /// Decompresses every stream of `input`, appending to `out` until it holds
    /// at least `limit` bytes (then [`Decoded::complete`] is false).
    fn decode(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<Decoded, FormatError>;
    /// Compresses `payload` with `settings`, where `old_len` is the length of
    /// the payload it replaces.
    fn encode(
        payload: &[u8],
        settings: &Self::Settings,
        old_len: usize,
    ) -> Result<Vec<u8>, FormatError>;
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
    pub end: usize,
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

/// How many bytes a payload of a `compressed`-byte stream may decompress to.
fn limit(compressed: usize, ctx: &Context) -> usize {
    let limit = ctx
        .settings
        .max_size
        .min((compressed as u64).saturating_mul(MAX_RATIO).max(1 << 20));
    usize::try_from(limit).unwrap_or(usize::MAX)
}

impl<C: Codec> Compressed<C> {
    /// Decompresses all of `input` (every stream), or an error when it is
    /// damaged or would exceed `limit` bytes.
    fn decompress(input: &[u8], limit: usize) -> Result<(Vec<u8>, Decoded), FormatError> {
        let mut out = Vec::new();
        let decoded = C::decode(input, &mut out, limit.saturating_add(1))?;
        if !decoded.complete || out.len() > limit {
            return Err(FormatError::TooLarge(format!(
                "the {} stream decompresses to more than {limit} bytes",
                C::NAME
            )));
        }
        Ok((out, decoded))
    }

    /// `input` with its payload replaced by `payload`, compressed with the
    /// settings `input` announces; `decoded` and `old_len` describe `input`.
    fn rebuild(
        input: &[u8],
        payload: &[u8],
        decoded: Decoded,
        old_len: usize,
    ) -> Result<(Vec<u8>, String), FormatError> {
        let settings = C::scan(input)?
            .map_err(|why| FormatError::Unsupported(format!("cannot recompress: {why}")))?;
        if decoded.streams > 1 {
            return Err(FormatError::Unsupported(format!(
                "cannot recompress: the file holds {} {} streams, a split strip-nd does not reproduce",
                decoded.streams,
                C::NAME
            )));
        }
        let mut out = C::encode(payload, &settings, old_len)?;
        out.extend_from_slice(&input[decoded.end..]);
        Ok((out, settings.to_string()))
    }
}

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

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        // The framing is checked even when the payload is not looked at.
        let _ = C::scan(input)?;
        let name = inner_name(ctx.name, C::SUFFIXES);
        let inner = ctx.nested(&name);
        let mut head = Vec::new();
        // Damage within the head is reported; past it, only when the payload
        // is claimed and decompressed whole.
        let at_head = C::decode(input, &mut head, C::head_len(input).max(HEAD_LEN))?;
        if head.is_empty()
            || inner
                .dispatch
                .sniff(&head[..head.len().min(HEAD_LEN)], &inner)
                .is_none()
        {
            return Ok(Outcome::Unchanged);
        }
        let limit = limit(input.len(), ctx);
        // A payload that fit in the head is not decompressed twice.
        let (payload, decoded) = if at_head.complete && head.len() <= limit {
            (head, at_head)
        } else {
            drop(head);
            Self::decompress(input, limit)?
        };
        let Nested::Rewritten {
            bytes,
            changes: notes,
            ..
        } = inner.dispatch.member(&payload, &inner)
        else {
            return Ok(Outcome::Unchanged);
        };
        let (out, settings) =
            Self::rebuild(input, &bytes, decoded, payload.len()).map_err(|e| match e {
                FormatError::Unsupported(why) => FormatError::Unsupported(format!(
                    "its payload {} would change, but {why}",
                    name.display()
                )),
                e => e,
            })?;
        let mut changes = notes;
        changes.push(Change::remark(
            "",
            format!("recompressed ({settings}) after its content was normalized"),
        ));
        Ok(Outcome::Rewritten {
            bytes: out,
            changes,
        })
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

/// Drives the decoder of one stream: `step(at, out)` decompresses the
/// stream's bytes from offset `at` into the spare capacity of `out`, and says
/// whether the stream ended and how much of it has been read in all. Returns
/// that length once the stream ended, `None` when `out` reached `limit` first.
fn drive(
    out: &mut Vec<u8>,
    limit: usize,
    codec: &str,
    input_len: usize,
    mut step: impl FnMut(usize, &mut Vec<u8>) -> Result<(bool, usize), FormatError>,
) -> Result<Option<usize>, FormatError> {
    let mut read = 0;
    loop {
        if out.len() >= limit {
            return Ok(None);
        }
        out.reserve((out.len() / 2).clamp(64 << 10, 16 << 20));
        let before = (read, out.len());
        let (ended, now) = step(read, out)?;
        read = now;
        if ended {
            return Ok(Some(read));
        }
        if (read, out.len()) == before {
            return Err(truncated(codec, input_len));
        }
    }
}

/// A message for a stream that ends before its end.
fn truncated(codec: &str, at: usize) -> FormatError {
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
