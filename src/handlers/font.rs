//! TrueType and OpenType fonts (`.ttf`, `.otf`) and font collections (`.ttc`,
//! `.otc`), as specified by the OpenType specification ("The OpenType Font
//! File": table directory, "Calculating checksums", "Font collections") and
//! its `head` table chapter. Recognized by the sfnt version at offset 0:
//! `00 01 00 00` (TrueType outlines), `OTTO` (CFF outlines), `true` (Apple
//! TrueType), or `ttcf` (a collection), with a plausible table directory.
//! `typ1` (Apple's PostScript-in-sfnt) is not claimed, nor WOFF/WOFF2 (`wOFF`,
//! `wOF2`: compressed wrappers whose `head` sits inside compressed data).
//!
//! Normalized, in each font's `head` table:
//!
//! * `created` and `modified` (`LONGDATETIME`: signed 64-bit seconds since
//!   1904-01-01 00:00 UTC, 2 082 844 800 s before the Unix epoch) later than
//!   the epoch are clamped to it; earlier ones stay;
//! * the `head` entry's `checksum` in the table directory (the sum of the
//!   table's big-endian u32s, zero-padded to 4, with `checkSumAdjustment`
//!   taken as 0) is recomputed;
//! * `checkSumAdjustment` is recomputed as `0xB1B0AFBA` minus the font's
//!   checksum, computed as fontTools does (and as the spec's "sum of the whole
//!   font" gives for a well-formed standalone font): the checksum of the
//!   font's own table directory (offset table and records) plus the table
//!   checksums its records hold. For a collection member this is the member
//!   as if it were a standalone font, its directory holding the offsets it
//!   has in the collection; the collection header is not part of any sum.
//!
//! Validated before any edit (else the file is `Malformed` and left
//! untouched): the directory and every table lie inside the file, each font
//! has one `head` of at least 54 bytes with magic `0x5F0F3CF5` at offset 12,
//! the stored `head` checksum equals the computed one and
//! `checkSumAdjustment` equals the computed value. A font whose checksums are
//! already wrong is not "repaired": a fresh correct checksum would hide the
//! corruption. A `head` shared by several fonts of a collection is edited
//! once; its `checkSumAdjustment` can agree with only one of them, and the
//! font it agrees with (the first, in collection order) stays the one it is
//! computed for.
//!
//! Left alone (`Unsupported`): fonts with a digital signature (a `DSIG` table
//! holding signatures, or a version-2 collection header pointing at a non-empty
//! `DSIG`), since the signature covers the bytes that would change. A stub
//! `DSIG` with no signatures is fine.
//!
//! Everything else is kept byte for byte: every other table, `fontRevision`,
//! and the output has the input's length. Not yet normalized: fontforge's own
//! `FFTM` table (its build and source times; `generate(...,
//! flags=("no-FFTM-table",))` leaves it out) and the dates fontforge writes
//! into default `name` strings (copyright year, unique ID): they are other
//! tables' bytes, outside this handler's one `head` edit.

use std::collections::HashSet;

use crate::bytes::{i64_be, put_i64_be, put_u32_be, u16_be, u32_be};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The sfnt font and collection handler.
pub struct Font;

/// Seconds from 1904-01-01 to 1970-01-01.
pub const MAC_EPOCH_OFFSET: i64 = 2_082_844_800;
/// `head.magicNumber`.
const HEAD_MAGIC: u32 = 0x5F0F_3CF5;
/// The shortest `head` table (version 1.0).
const HEAD_LEN: usize = 54;
const OFFSET_TABLE: usize = 12;
const RECORD: usize = 16;
const ADJUSTMENT: usize = 8;
const CREATED: usize = 20;
const MODIFIED: usize = 28;

/// The most tables a claimed font may have (the format allows 65535; fonts
/// have a few dozen, and this keeps text starting with `true` out).
const MAX_TABLES: u16 = 1024;

/// The most fonts a collection may hold here (real ones hold a few dozen);
/// the overlap checks are quadratic in it.
const MAX_FONTS: usize = 4096;

const SFNT_VERSIONS: [[u8; 4]; 3] = [[0, 1, 0, 0], *b"OTTO", *b"true"];

/// The OpenType table checksum: big-endian u32s, the last one zero-padded.
pub fn checksum(data: &[u8]) -> u32 {
    let mut sum = 0u32;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum = sum.wrapping_add(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 4];
        last[..rest.len()].copy_from_slice(rest);
        sum = sum.wrapping_add(u32::from_be_bytes(last));
    }
    sum
}

/// The checksum of a `head` table with `checkSumAdjustment` taken as 0.
fn head_checksum(head: &[u8]) -> u32 {
    let adjustment = u32_be(head, ADJUSTMENT).expect("a head table holds checkSumAdjustment");
    checksum(head).wrapping_sub(adjustment)
}

/// Whether `head` starts like a font or collection this handler reads.
fn plausible(head: &[u8]) -> bool {
    let Some(tag) = head.get(..4) else {
        return false;
    };
    let dir = if tag == b"ttcf" {
        let (Some(major), Some(n), Some(first)) =
            (u16_be(head, 4), u32_be(head, 8), u32_be(head, 12))
        else {
            return false;
        };
        if !(1..=2).contains(&major) || n == 0 || n > 0xffff {
            return false;
        }
        let Ok(first) = usize::try_from(first) else {
            return false;
        };
        match head.get(first..) {
            Some(d) if d.len() >= OFFSET_TABLE => d,
            _ => return true, // the first font lies outside the sniffed head
        }
    } else {
        head
    };
    if !SFNT_VERSIONS.iter().any(|v| dir.starts_with(v)) {
        return false;
    }
    let Some(n) = u16_be(dir, 4) else {
        return false;
    };
    // Real fonts have a few dozen tables; text would need at least 0x0909.
    if n == 0 || n > MAX_TABLES {
        return false;
    }
    // Every visible table tag is four printable ASCII characters.
    (0..usize::from(n))
        .map_while(|i| dir.get(OFFSET_TABLE + i * RECORD..OFFSET_TABLE + i * RECORD + 4))
        .all(|t| t.iter().all(|c| (0x20..0x7f).contains(c)))
}

/// One font of the file: where its directory is and where its `head` is.
struct Face {
    /// Offset of the offset table.
    dir: usize,
    /// Number of table records.
    tables: usize,
    /// Offset of the `head` record in the directory.
    head_record: usize,
    /// The `head` table's range.
    head: std::ops::Range<usize>,
}

impl Face {
    fn dir_range(&self) -> std::ops::Range<usize> {
        self.dir..self.dir + OFFSET_TABLE + self.tables * RECORD
    }

    /// The checksum of the font as fontTools and the spec compute it: its
    /// directory's checksum plus the table checksums the directory records.
    fn font_checksum(&self, b: &[u8]) -> u32 {
        let dir = &b[self.dir_range()];
        (0..self.tables).fold(checksum(dir), |s, i| {
            s.wrapping_add(u32_be(dir, OFFSET_TABLE + i * RECORD + 4).unwrap_or(0))
        })
    }

    fn adjustment(&self, b: &[u8]) -> u32 {
        0xB1B0_AFBAu32.wrapping_sub(self.font_checksum(b))
    }
}

fn bad(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

/// Reads the table directory at `dir`. Tables already in `verified` (shared
/// by several fonts of a collection) are not summed again.
fn face(
    input: &[u8],
    dir: usize,
    label: &str,
    verified: &mut HashSet<(usize, usize, u32)>,
) -> Result<Face, FormatError> {
    let version = input.get(dir..dir + 4).ok_or_else(|| {
        bad(format!(
            "{label}: the table directory lies outside the file"
        ))
    })?;
    if !SFNT_VERSIONS.iter().any(|v| v == version) {
        return Err(bad(format!("{label}: unknown sfnt version {version:02x?}")));
    }
    let tables = usize::from(u16_be(input, dir + 4).unwrap_or(0));
    let end = dir + OFFSET_TABLE + tables * RECORD;
    if tables == 0 || end > input.len() {
        return Err(bad(format!(
            "{label}: the table directory ({tables} tables) does not fit in the file"
        )));
    }
    let mut head = None;
    for i in 0..tables {
        let rec = dir + OFFSET_TABLE + i * RECORD;
        let tag = &input[rec..rec + 4];
        let off = u32_be(input, rec + 8).unwrap_or(0) as usize;
        let len = u32_be(input, rec + 12).unwrap_or(0) as usize;
        let show = String::from_utf8_lossy(tag);
        if off.checked_add(len).is_none_or(|e| e > input.len()) {
            return Err(bad(format!(
                "{label}: table {show:?} ({len} bytes at {off}) lies outside the file"
            )));
        }
        if tag == b"DSIG" && u16_be(input, off + 4).is_some_and(|n| n > 0) {
            return Err(FormatError::Unsupported(format!(
                "{label}: digitally signed (DSIG)"
            )));
        }
        if tag == b"head" {
            if head.is_some() {
                return Err(bad(format!("{label}: two head tables")));
            }
            if len < HEAD_LEN {
                return Err(bad(format!("{label}: head table of {len} bytes (< 54)")));
            }
            if u32_be(input, off + 12) != Some(HEAD_MAGIC) {
                return Err(bad(format!("{label}: head magic number is not 0x5F0F3CF5")));
            }
            head = Some((rec, off..off + len));
        } else {
            let stored = u32_be(input, rec + 4).unwrap_or(0);
            if !verified.insert((off, len, stored)) {
                continue;
            }
            let actual = checksum(&input[off..off + len]);
            if stored != actual {
                return Err(bad(format!(
                    "{label}: table {show:?} checksum {stored:#010x} does not match {actual:#010x}"
                )));
            }
        }
    }
    let (head_record, head) = head.ok_or_else(|| bad(format!("{label}: no head table")))?;
    let face = Face {
        dir,
        tables,
        head_record,
        head,
    };
    let stored = u32_be(input, head_record + 4).unwrap_or(0);
    let actual = head_checksum(&input[face.head.clone()]);
    if stored != actual {
        return Err(bad(format!(
            "{label}: head checksum {stored:#010x} does not match {actual:#010x}"
        )));
    }
    Ok(face)
}

fn overlaps(a: &std::ops::Range<usize>, b: &std::ops::Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Every font of the file, and the end of the collection header (0 for a
/// single font).
fn faces(input: &[u8]) -> Result<(Vec<Face>, usize), FormatError> {
    if !input.starts_with(b"ttcf") {
        return Ok((vec![face(input, 0, "font", &mut HashSet::new())?], 0));
    }
    let major = u16_be(input, 4).ok_or_else(|| bad("truncated collection header"))?;
    let n = u32_be(input, 8).ok_or_else(|| bad("truncated collection header"))? as usize;
    if n > MAX_FONTS {
        return Err(FormatError::TooLarge(format!(
            "a collection of {n} fonts (the limit is {MAX_FONTS})"
        )));
    }
    if !(1..=2).contains(&major) || n == 0 {
        return Err(bad(format!(
            "collection header: version {major}, {n} fonts"
        )));
    }
    let mut header_end = 12 + 4 * n;
    if major == 2 {
        let tag = u32_be(input, header_end).ok_or_else(|| bad("truncated collection header"))?;
        let len =
            u32_be(input, header_end + 4).ok_or_else(|| bad("truncated collection header"))?;
        if tag == u32::from_be_bytes(*b"DSIG") && len > 8 {
            return Err(FormatError::Unsupported(
                "digitally signed collection (DSIG)".into(),
            ));
        }
        header_end += 12;
    }
    if header_end > input.len() {
        return Err(bad("truncated collection header"));
    }
    let mut verified = HashSet::new();
    let faces = (0..n)
        .map(|i| {
            let dir = u32_be(input, 12 + 4 * i).unwrap_or(0) as usize;
            face(input, dir, &format!("font {i}"), &mut verified)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((faces, header_end))
}

/// Clamps a `LONGDATETIME` field; returns its old and new Unix times when it moved.
fn clamp_date(out: &mut [u8], at: usize, epoch: i64) -> Option<(i64, i64)> {
    let raw = i64_be(out, at)?;
    let unix = raw.checked_sub(MAC_EPOCH_OFFSET)?;
    if unix <= epoch {
        return None;
    }
    let new = epoch + MAC_EPOCH_OFFSET;
    put_i64_be(out, at, new);
    Some((unix, epoch))
}

impl Handler for Font {
    fn name(&self) -> &'static str {
        "font"
    }

    fn describe(&self) -> &'static str {
        "TrueType/OpenType fonts and collections (sfnt 00 01 00 00, OTTO, true, ttcf): clamps head.created/modified, recomputes the head checksum and checkSumAdjustment; other tables untouched"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        plausible(head)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        let [a, b, c] = &SFNT_VERSIONS;
        crate::handler::starts_none_of(prefix, &[a, b, c, b"ttcf"])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let (faces, header_end) = faces(input)?;
        // The bytes that hold checksums (collection header, directories) must
        // not lie inside a head table, or one edit would move the other.
        for f in &faces {
            let fixed = std::iter::once(0..header_end).chain(faces.iter().map(Face::dir_range));
            for r in fixed {
                if overlaps(&r, &f.head) {
                    return Err(bad("a head table overlaps a table directory"));
                }
            }
            for g in &faces {
                if g.head != f.head && overlaps(&g.head, &f.head) {
                    return Err(bad("two head tables overlap"));
                }
            }
        }
        // Each distinct head, with the first font whose checkSumAdjustment it holds.
        let mut owners: Vec<usize> = Vec::new();
        for (i, f) in faces.iter().enumerate() {
            if owners.iter().any(|&o| faces[o].head == f.head) {
                continue;
            }
            let stored = u32_be(input, f.head.start + ADJUSTMENT).unwrap_or(0);
            let owner = faces
                .iter()
                .enumerate()
                .skip(i)
                .find(|(_, g)| g.head == f.head && g.adjustment(input) == stored)
                .map(|(j, _)| j)
                .ok_or_else(|| {
                    bad(format!(
                        "font {i}: checkSumAdjustment {stored:#010x} does not match {:#010x}",
                        f.adjustment(input)
                    ))
                })?;
            owners.push(owner);
        }
        // Room for the offset: `clamp_date` adds it to write the Mac time.
        let epoch = ctx.epoch_value().as_i64().min(i64::MAX - MAC_EPOCH_OFFSET);
        let mut out = input.to_vec();
        let mut changes = Vec::new();
        for &o in &owners {
            let h = faces[o].head.start;
            let label = if faces.len() > 1 {
                format!("font {o}")
            } else {
                String::new()
            };
            for (at, field) in [(CREATED, "created"), (MODIFIED, "modified")] {
                if let Some((old, new)) = clamp_date(&mut out, h + at, epoch) {
                    changes.push(Change::set(&*label, format!("head.{field}"), old, new));
                }
            }
        }
        if changes.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        // New head checksums in every directory, then the adjustments, which
        // depend on the directories.
        for f in &faces {
            let sum = head_checksum(&out[f.head.clone()]);
            put_u32_be(&mut out, f.head_record + 4, sum);
        }
        for &o in &owners {
            let adj = faces[o].adjustment(&out);
            put_u32_be(&mut out, faces[o].head.start + ADJUSTMENT, adj);
        }
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

    /// A minimal font: `head` and one other table, with correct checksums.
    pub(crate) fn font(created: i64, modified: i64, payload: &[u8]) -> Vec<u8> {
        let mut head = vec![0u8; HEAD_LEN];
        head[..4].copy_from_slice(&[0, 1, 0, 0]);
        head[4..8].copy_from_slice(&[0, 1, 0x80, 0]);
        head[12..16].copy_from_slice(&HEAD_MAGIC.to_be_bytes());
        head[18..20].copy_from_slice(&1000u16.to_be_bytes());
        head[CREATED..CREATED + 8].copy_from_slice(&created.to_be_bytes());
        head[MODIFIED..MODIFIED + 8].copy_from_slice(&modified.to_be_bytes());
        let tables: [(&[u8; 4], &[u8]); 2] = [(b"head", &head), (b"zzzz", payload)];
        let mut out = vec![0, 1, 0, 0, 0, 2, 0, 32, 0, 1, 0, 0];
        let mut at = OFFSET_TABLE + 2 * RECORD;
        let mut body = Vec::new();
        for (tag, data) in tables {
            out.extend_from_slice(tag);
            out.extend(checksum(data).to_be_bytes());
            out.extend((at as u32).to_be_bytes());
            out.extend((data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
            while body.len() % 4 != 0 {
                body.push(0);
            }
            at = OFFSET_TABLE + 2 * RECORD + body.len();
        }
        out.extend(body);
        let adj = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        put_u32_be(&mut out, OFFSET_TABLE + 2 * RECORD + ADJUSTMENT, adj);
        out
    }

    const EPOCH: i64 = 315_532_800;

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(EPOCH as u64);
        Font.normalize(input, &cfg.context(Path::new("a.ttf")))
    }

    fn mac(unix: i64) -> i64 {
        unix + MAC_EPOCH_OFFSET
    }

    #[test]
    fn dates_are_clamped_and_checksums_stay_valid() {
        let a = font(mac(1_772_600_767), mac(1_772_600_800), b"glyphs");
        let Outcome::Rewritten { bytes, changes } = run(&a).unwrap() else {
            panic!("expected a rewrite")
        };
        // The whole-file rule of the spec holds for the output.
        assert_eq!(checksum(&bytes), 0xB1B0_AFBA);
        assert_eq!(bytes, font(mac(EPOCH), mac(EPOCH), b"glyphs"));
        assert_eq!(
            changes,
            vec![
                "head.created 1772600767 -> 315532800".to_string(),
                "head.modified 1772600800 -> 315532800".to_string()
            ]
        );
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
        // Earlier dates (and dates before 1970) stay.
        let old = font(mac(1000), 5, b"glyphs");
        assert_eq!(run(&old).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn damage_is_malformed_and_signatures_unsupported() {
        let a = font(mac(1_772_600_767), mac(1_772_600_800), b"glyphs");
        // 0: version, 4: numTables, 16: head checksum, 20: head offset,
        // 27: head length, 52: head.checkSumAdjustment, 56: head magic,
        // 70: created, 97: glyphDataFormat, 101: the other table.
        for at in [0, 4, 16, 20, 27, 52, 56, 70, 97, 101] {
            let mut bad = a.clone();
            bad[at] ^= 0x40;
            assert!(
                matches!(run(&bad), Err(FormatError::Malformed(_))),
                "flip at {at}: {:?}",
                run(&bad)
            );
        }
        assert!(run(&a[..a.len() - 3]).is_err());
        assert!(run(&a[..40]).is_err());
        // A DSIG table (version 1, one signature) in place of the other table.
        let mut signed = font(mac(1_772_600_767), 0, &[0, 0, 0, 1, 0, 1, 0, 0]);
        signed[28..32].copy_from_slice(b"DSIG");
        assert!(
            matches!(run(&signed), Err(FormatError::Unsupported(_))),
            "{:?}",
            run(&signed)
        );
    }

    #[test]
    fn sniff_takes_sfnt_starts_and_no_text() {
        let cfg = Config::with_epoch(0);
        let ctx = cfg.context(Path::new("x"));
        let a = font(0, 0, b"g");
        assert!(Font.sniff(&a, &ctx));
        assert!(!Font.sniff(b"true story, told in plain text", &ctx));
        assert!(!Font.sniff(b"wOFF\0\x01\0\0", &ctx));
        // The same first four bytes as a font do not make a COFF object: the
        // machine type 0x0100 is not one coff knows.
        assert!(!crate::handlers::coff::Coff.sniff(&a, &ctx));
    }

    #[test]
    fn a_collection_edits_each_font_and_a_shared_head_once() {
        // Two faces sharing one head; font 1 has its own copy of the other table.
        let one = font(mac(1_772_600_767), mac(1_772_600_767), b"glyphs");
        let n = 2usize;
        let header = 12 + 4 * n;
        let dir_len = OFFSET_TABLE + 2 * RECORD;
        let mut ttc = b"ttcf\0\x01\0\0".to_vec();
        ttc.extend((n as u32).to_be_bytes());
        for i in 0..n {
            ttc.extend(((header + i * dir_len) as u32).to_be_bytes());
        }
        let tables_at = header + n * dir_len;
        let copy_at = tables_at + one.len() - dir_len;
        for i in 0..n {
            let mut d = one[..dir_len].to_vec();
            for r in 0..2 {
                let at = OFFSET_TABLE + r * RECORD + 8;
                let mut off = u32_be(&d, at).unwrap() as usize - dir_len + tables_at;
                if i == 1 && r == 1 {
                    off = copy_at;
                }
                put_u32_be(&mut d, at, off as u32);
            }
            ttc.extend(d);
        }
        ttc.extend_from_slice(&one[dir_len..]);
        ttc.extend_from_slice(b"glyphs\0\0");
        // checkSumAdjustment for font 1, as a producer writing the last font last would.
        let f1 = Face {
            dir: header + dir_len,
            tables: 2,
            head_record: header + dir_len + OFFSET_TABLE,
            head: tables_at..tables_at + HEAD_LEN,
        };
        let adj = f1.adjustment(&ttc);
        put_u32_be(&mut ttc, tables_at + ADJUSTMENT, adj);
        let Outcome::Rewritten { bytes, changes } = run(&ttc).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            changes[0].to_string().starts_with("font 1: head.created"),
            "{changes:?}"
        );
        assert_eq!(bytes.len(), ttc.len());
        assert_eq!(
            u32_be(&bytes, tables_at + ADJUSTMENT),
            Some(f1.adjustment(&bytes))
        );
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
        // An adjustment that agrees with neither font is malformed.
        let mut wrong = ttc.clone();
        put_u32_be(&mut wrong, tables_at + ADJUSTMENT, adj ^ 1);
        assert!(matches!(run(&wrong), Err(FormatError::Malformed(_))));
    }
}
