//! PNG images (ISO/IEC 15948, the W3C PNG specification), recognized by the
//! 8-byte signature `89 50 4e 47 0d 0a 1a 0a`.
//!
//! Normalized:
//!
//! * `tIME` (last modification, UTC) later than the epoch is **removed**
//!   rather than set to the epoch: the chunk is optional and says nothing
//!   about the image, and `pngcheck` rejects a `tIME` year before 1995, which
//!   the default epoch (1980, nixpkgs' `SOURCE_DATE_EPOCH` fallback) is, so
//!   setting it would turn a valid file into one that fails its checker. A
//!   `tIME` at or before the epoch stays (nothing to clamp), and one with an
//!   impossible date (month 13...) is left as it is.
//! * Text chunks whose keyword is `Creation Time` or starts with `date:`
//!   (`ImageMagick`'s `date:create`, `date:modify`, `date:timestamp`), in
//!   `tEXt`, `zTXt` and `iTXt`: a date later than the epoch becomes the epoch
//!   written the same way (ISO 8601 as `ImageMagick` writes it, RFC 1123 as the
//!   PNG spec suggests for `Creation Time`, see [`crate::dates`]). Compressed
//!   text (`zTXt`, compressed `iTXt`) is inflated, edited and deflated again
//!   with zlib at the default level, so equal text gives equal bytes.
//!   A value that is not a recognized date is left alone.
//! * The CRC of every rewritten chunk is recomputed.
//!
//! Left alone: every other chunk, byte for byte (`IHDR`, `IDAT`: pixels are
//! never decoded or recompressed), other text keywords, `eXIf`, and any data
//! after `IEND`, which is kept. Chunk CRCs are verified, and a file whose
//! chunks do not parse (bad CRC, truncated chunk, no `IEND`, first chunk not
//! `IHDR`) is `Malformed` and left untouched.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use crate::bytes::u32_be;
use crate::dates::{Date, days_from_civil, is_later, parse_any};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The PNG handler.
pub struct Png;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// One chunk, as offsets into the input.
struct Chunk {
    /// Offset of the length field.
    start: usize,
    kind: [u8; 4],
    /// The data.
    data: std::ops::Range<usize>,
}

fn parse(input: &[u8]) -> Result<(Vec<Chunk>, usize), FormatError> {
    if !input.starts_with(&SIGNATURE) {
        return Err(FormatError::malformed("no PNG signature"));
    }
    let mut chunks = Vec::new();
    let mut pos = SIGNATURE.len();
    loop {
        let head = input.get(pos..pos + 8).ok_or_else(|| {
            FormatError::malformed(format!("truncated chunk header at offset {pos} (no IEND)"))
        })?;
        let len = u32_be(head, 0).expect("8 bytes taken");
        if len > 0x7fff_ffff {
            return Err(FormatError::malformed(format!(
                "chunk length {len} at offset {pos} exceeds 2^31-1"
            )));
        }
        let kind = [head[4], head[5], head[6], head[7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(FormatError::malformed(format!(
                "bad chunk type at offset {pos}"
            )));
        }
        let data = pos + 8..pos + 8 + len as usize;
        let crc_at = data.end;
        let stored = u32_be(input, crc_at).ok_or_else(|| {
            FormatError::malformed(format!("truncated {} chunk at offset {pos}", show(kind)))
        })?;
        let actual = crc32fast::hash(&input[pos + 4..crc_at]);
        if stored != actual {
            return Err(FormatError::malformed(format!(
                "{} chunk at offset {pos}: CRC {stored:#010x} does not match {actual:#010x}",
                show(kind)
            )));
        }
        if chunks.is_empty() && &kind != b"IHDR" {
            return Err(FormatError::malformed("the first chunk is not IHDR"));
        }
        chunks.push(Chunk {
            start: pos,
            kind,
            data,
        });
        pos = crc_at + 4;
        if &kind == b"IEND" {
            return Ok((chunks, pos));
        }
    }
}

fn show(kind: [u8; 4]) -> String {
    String::from_utf8_lossy(&kind).into_owned()
}

fn is_date_keyword(k: &[u8]) -> bool {
    k == b"Creation Time" || k.starts_with(b"date:")
}

/// The note for a `tIME` that is later than the epoch (to be removed), or
/// `None` when it stays.
fn late_time(d: &[u8], epoch: u64) -> Option<Change> {
    let &[y0, y1, month, day, hour, min, sec] = d else {
        return None;
    };
    let year = u16::from_be_bytes([y0, y1]);
    let valid =
        (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && min < 60 && sec < 61;
    if !valid {
        return None;
    }
    let secs = days_from_civil(i64::from(year), u32::from(month), u32::from(day)) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec);
    is_later(secs, epoch).then(|| {
        Change::gone(
            "",
            "tIME",
            format!("{year:04}-{month:02}-{day:02} {hour:02}:{min:02}:{sec:02}"),
            "removed",
        )
    })
}

/// The clamped text, or `None` when it stays.
fn clamp_text(text: &[u8], epoch: u64) -> Option<String> {
    let s = std::str::from_utf8(text).ok()?;
    let trimmed = s.trim();
    let date: Date = parse_any(trimmed)?;
    let new = date.clamped(epoch)?;
    let lead = s.len() - s.trim_start().len();
    Some(format!("{}{new}{}", &s[..lead], &s[lead + trimmed.len()..]))
}

/// The longest text that can still be one date; longer text is not inflated
/// further (so a compressed text bomb costs nothing) and is left alone.
const MAX_DATE_TEXT: u64 = 256;

/// Inflates at most [`MAX_DATE_TEXT`] + 1 bytes.
fn inflate(data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    ZlibDecoder::new(data)
        .take(MAX_DATE_TEXT + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::malformed(format!("compressed text: {e}")))?;
    Ok(out)
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// The new data of a text chunk, with its note, or `None` when it stays.
fn text_chunk(
    kind: [u8; 4],
    d: &[u8],
    epoch: u64,
) -> Result<Option<(Vec<u8>, Change)>, FormatError> {
    let Some(nul) = d.iter().position(|&b| b == 0) else {
        return Err(FormatError::malformed(format!(
            "{} chunk without a keyword terminator",
            show(kind)
        )));
    };
    let keyword = &d[..nul];
    if !is_date_keyword(keyword) {
        return Ok(None);
    }
    let kw = String::from_utf8_lossy(keyword);
    let rest = &d[nul + 1..];
    // (prefix kept as is, text, compressed?)
    let (prefix_len, compressed) = match &kind {
        b"tEXt" => (0, false),
        b"zTXt" => {
            if rest.first() != Some(&0) {
                return Err(FormatError::malformed(format!(
                    "zTXt {kw}: unknown compression method"
                )));
            }
            (1, true)
        }
        _ => {
            // iTXt: flag, method, language\0, translated keyword\0, text.
            let (Some(&flag), Some(&method)) = (rest.first(), rest.get(1)) else {
                return Err(FormatError::malformed(format!("iTXt {kw}: truncated")));
            };
            if flag > 1 || (flag == 1 && method != 0) {
                return Err(FormatError::malformed(format!(
                    "iTXt {kw}: bad compression flag or method"
                )));
            }
            let mut p = 2;
            for _ in 0..2 {
                let z = rest[p..]
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| FormatError::malformed(format!("iTXt {kw}: truncated")))?;
                p += z + 1;
            }
            (p, flag == 1)
        }
    };
    let body = &rest[prefix_len..];
    if !compressed && body.len() as u64 > MAX_DATE_TEXT {
        return Ok(None);
    }
    let text = if compressed {
        inflate(body)?
    } else {
        body.to_vec()
    };
    if text.len() as u64 > MAX_DATE_TEXT {
        return Ok(None);
    }
    let Some(new) = clamp_text(&text, epoch) else {
        return Ok(None);
    };
    let mut out = d[..nul + 1 + prefix_len].to_vec();
    if compressed {
        out.extend(deflate(new.as_bytes()));
    } else {
        out.extend_from_slice(new.as_bytes());
    }
    let note = Change::set(
        format!("{} {kw}", show(kind)),
        "",
        String::from_utf8_lossy(&text).trim(),
        &new,
    );
    Ok(Some((out, note)))
}

impl Handler for Png {
    fn name(&self) -> &'static str {
        "png"
    }

    fn describe(&self) -> &'static str {
        "PNG (ISO/IEC 15948), signature 89 'PNG' 0d 0a 1a 0a: removes a late tIME, clamps date text chunks (tEXt/zTXt/iTXt), recomputes CRCs; pixels untouched"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.starts_with(&SIGNATURE)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[&SIGNATURE])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let (chunks, end) = parse(input)?;
        let mut changes = Vec::new();
        // (chunk index, new data or None to remove the chunk)
        let mut edits: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let d = &input[c.data.clone()];
            let new = match &c.kind {
                b"tIME" => late_time(d, ctx.epoch()).map(|n| (None, n)),
                k @ (b"tEXt" | b"zTXt" | b"iTXt") => {
                    text_chunk(*k, d, ctx.epoch())?.map(|(data, n)| (Some(data), n))
                }
                _ => None,
            };
            if let Some((data, note)) = new {
                changes.push(note);
                edits.push((i, data));
            }
        }
        if edits.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut pos = 0;
        for (i, data) in edits {
            let c = &chunks[i];
            out.extend_from_slice(&input[pos..c.start]);
            pos = c.data.end + 4;
            let Some(data) = data else {
                continue;
            };
            let len = u32::try_from(data.len())
                .map_err(|_| FormatError::TooLarge("a rewritten chunk exceeds 4 GiB".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            let typed = out.len();
            out.extend_from_slice(&c.kind);
            out.extend_from_slice(&data);
            let crc = crc32fast::hash(&out[typed..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        out.extend_from_slice(&input[pos..]);
        debug_assert!(end <= input.len());
        Ok(Outcome::Rewritten {
            bytes: out,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[4..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// A 1x1 grey PNG with the given extra chunks before IDAT.
    fn png(extra: &[Vec<u8>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(chunk(*b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        for e in extra {
            out.extend_from_slice(e);
        }
        out.extend(chunk(*b"IDAT", &deflate(&[0, 0x80])));
        out.extend(chunk(*b"IEND", &[]));
        out
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(315_532_800);
        Png.normalize(input, &cfg.context(Path::new("x.png")))
    }

    fn rewritten(input: &[u8]) -> (Vec<u8>, Vec<String>) {
        match run(input).unwrap() {
            Outcome::Rewritten { bytes, changes } => {
                (bytes, changes.iter().map(ToString::to_string).collect())
            }
            Outcome::Unchanged => panic!("expected a rewrite"),
        }
    }

    #[test]
    fn time_and_text_dates_are_clamped() {
        let mut ztxt = b"date:modify\0\0".to_vec();
        ztxt.extend(deflate(b"2026-03-04T05:06:07+00:00"));
        let a = png(&[
            chunk(*b"tIME", &[0x07, 0xea, 3, 4, 5, 6, 7]),
            chunk(*b"tEXt", b"date:create\x002026-03-04T05:06:07+00:00"),
            chunk(*b"zTXt", &ztxt),
            chunk(
                *b"iTXt",
                b"Creation Time\0\0\0\0\0Wed, 04 Mar 2026 05:06:07 GMT",
            ),
            chunk(*b"tEXt", b"Comment\x002026-03-04T05:06:07+00:00"),
        ]);
        let (out, changes) = rewritten(&a);
        assert_eq!(changes.len(), 4, "{changes:?}");
        let want = png(&[
            chunk(*b"tEXt", b"date:create\x001980-01-01T00:00:00+00:00"),
            chunk(
                *b"zTXt",
                &[
                    b"date:modify\0\0".to_vec(),
                    deflate(b"1980-01-01T00:00:00+00:00"),
                ]
                .concat(),
            ),
            chunk(
                *b"iTXt",
                b"Creation Time\0\0\0\0\0Tue, 01 Jan 1980 00:00:00 GMT",
            ),
            chunk(*b"tEXt", b"Comment\x002026-03-04T05:06:07+00:00"),
        ]);
        assert_eq!(out, want);
        assert_eq!(run(&out).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn data_after_iend_is_kept() {
        let mut a = png(&[chunk(*b"tIME", &[0x07, 0xea, 3, 4, 5, 6, 7])]);
        a.extend_from_slice(b"trailing bytes");
        let (out, _) = rewritten(&a);
        assert!(out.ends_with(b"IEND\xae\x42\x60\x82trailing bytes"));
        assert_eq!(out.len(), a.len() - 19, "tIME removed");
    }

    #[test]
    fn earlier_dates_and_other_keys_stay() {
        let a = png(&[
            chunk(*b"tIME", &[0x07, 0xb0, 3, 4, 5, 6, 7]),
            chunk(*b"tEXt", b"date:create\x001970-03-04T05:06:07+00:00"),
            chunk(*b"tEXt", b"Software\x00Wed, 04 Mar 2026 05:06:07 GMT"),
        ]);
        assert_eq!(run(&a).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn bad_crc_truncation_and_missing_iend_are_malformed() {
        let a = png(&[chunk(*b"tIME", &[0x07, 0xea, 3, 4, 5, 6, 7])]);
        let mut bad = a.clone();
        let at = a.len() - 20;
        bad[at] ^= 1;
        assert!(matches!(run(&bad), Err(FormatError::Malformed(_))));
        for cut in [8, 20, a.len() - 12, a.len() - 1] {
            assert!(
                matches!(run(&a[..cut]), Err(FormatError::Malformed(_))),
                "cut at {cut}"
            );
        }
    }
}
