//! GNU gettext message catalogs (`.mo`), as described in the GNU gettext
//! manual, section "The Format of GNU MO Files", recognized by the magic
//! `0x950412de` in either byte order (`de 12 04 95` little endian,
//! `95 04 12 de` big endian).
//!
//! Normalized: in the header entry (the translation of the empty msgid), every
//! `POT-Creation-Date:` and `PO-Revision-Date:` line, including the repeated
//! ones of catalogs merged by `msgcat` (one header block per source catalog).
//! A value later than the epoch becomes the epoch written the same way (same
//! fields, precision and separators, zone `+0000`, see [`super::dates`]):
//! `2026-03-04 05:06+0100` becomes `1980-01-01 00:00+0000`. The placeholder
//! `YEAR-MO-DA HO:MI+ZONE` and any value that is not a date are left alone.
//!
//! The usual replacement has the same length and is written in place. When the
//! length changes (`2026-3-4 5:06+0100` becomes `1980-01-01 00:00+0000`), the
//! header string is spliced and the catalog rebuilt around it: every offset
//! behind it (the table offsets in the file header and each string
//! descriptor) moves by the difference. When a table lies behind the string
//! (not so in files from msgfmt or Babel, which put the tables first), the
//! difference is rounded up to a multiple of four with NUL padding after the
//! string, so the tables stay aligned. The hash
//! table is **kept as it is**: it maps msgids to entry numbers, and neither
//! the msgids nor the numbering change. A length change in a catalog with
//! system-dependent strings (minor revision 1 with sysdep segments) is refused
//! as `Unsupported`, since their tables are not rebuilt.
//!
//! Left alone: every other header field (`Project-Id-Version`,
//! `Last-Translator`, ...), every other msgid and translation, the hash table
//! and everything outside the header string. Major revisions other than 0 and
//! 1 are `Unsupported`; tables or strings outside the file are `Malformed`.

use std::ops::Range;

use crate::config::Context;
use crate::error::FormatError;
use crate::handlers::dates::{parse_iso, replace_ranges};
use crate::handlers::{Handler, Outcome};

/// The gettext `.mo` handler.
pub struct Mo;

const MAGIC: u32 = 0x9504_12de;
/// The header fields that hold dates.
const DATE_FIELDS: [&str; 2] = ["POT-Creation-Date:", "PO-Revision-Date:"];

/// A parsed `.mo` header with its string descriptors.
struct Catalog {
    big_endian: bool,
    /// Size of the file header: 28, or 48 with the sysdep fields.
    header_len: usize,
    has_sysdep: bool,
    orig_tab: usize,
    trans_tab: usize,
    hash_tab: Option<Range<usize>>,
    /// `(length, offset)` of each msgid, then of each translation.
    orig: Vec<(u32, u32)>,
    trans: Vec<(u32, u32)>,
}

impl Catalog {
    fn u32_at(&self, input: &[u8], at: usize) -> Result<u32, FormatError> {
        read_u32(input, at, self.big_endian)
    }

    fn put_u32(&self, out: &mut [u8], at: usize, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        out[at..at + 4].copy_from_slice(&b);
    }
}

fn read_u32(input: &[u8], at: usize, big_endian: bool) -> Result<u32, FormatError> {
    let b: [u8; 4] = input
        .get(at..at.saturating_add(4))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| FormatError::malformed(format!("truncated header at offset {at}")))?;
    Ok(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// A table of `n` entries of `size` bytes at `off`, checked to lie in the file.
fn table(input: &[u8], off: u32, n: u32, size: u64, what: &str) -> Result<usize, FormatError> {
    let end = u64::from(off) + u64::from(n) * size;
    if end > input.len() as u64 {
        return Err(FormatError::malformed(format!(
            "{what} ({n} entries at offset {off}) runs past the end of the file"
        )));
    }
    Ok(off as usize)
}

fn parse(input: &[u8]) -> Result<Catalog, FormatError> {
    let big_endian = match read_u32(input, 0, false)? {
        MAGIC => false,
        m if m.swap_bytes() == MAGIC => true,
        _ => return Err(FormatError::malformed("not a .mo file (bad magic)")),
    };
    let revision = read_u32(input, 4, big_endian)?;
    let (major, minor) = (revision >> 16, revision & 0xffff);
    if major > 1 {
        return Err(FormatError::Unsupported(format!(
            "major revision {major} (only 0 and 1 are known)"
        )));
    }
    let count = read_u32(input, 8, big_endian)?;
    let orig_at = read_u32(input, 12, big_endian)?;
    let trans_at = read_u32(input, 16, big_endian)?;
    let hash_size = read_u32(input, 20, big_endian)?;
    let hash_at = read_u32(input, 24, big_endian)?;
    let (header_len, has_sysdep) = if minor >= 1 || major == 1 {
        let segments = read_u32(input, 28, big_endian)?;
        let strings = read_u32(input, 36, big_endian)?;
        (48, segments != 0 || strings != 0)
    } else {
        (28, false)
    };
    let orig_tab = table(input, orig_at, count, 8, "msgid table")?;
    let trans_tab = table(input, trans_at, count, 8, "translation table")?;
    let hash_tab = if hash_size == 0 {
        None
    } else {
        let at = table(input, hash_at, hash_size, 4, "hash table")?;
        Some(at..at + hash_size as usize * 4)
    };
    let mut cat = Catalog {
        big_endian,
        header_len,
        has_sysdep,
        orig_tab,
        trans_tab,
        hash_tab,
        orig: Vec::with_capacity(count as usize),
        trans: Vec::with_capacity(count as usize),
    };
    for (tab, list) in [(orig_tab, 0), (trans_tab, 1)] {
        for i in 0..count as usize {
            let len = cat.u32_at(input, tab + 8 * i)?;
            let off = cat.u32_at(input, tab + 8 * i + 4)?;
            if u64::from(off) + u64::from(len) > input.len() as u64 {
                return Err(FormatError::malformed(format!(
                    "string {i} ({len} bytes at offset {off}) runs past the end of the file"
                )));
            }
            if list == 0 {
                cat.orig.push((len, off));
            } else {
                cat.trans.push((len, off));
            }
        }
    }
    Ok(cat)
}

/// The edits of one header string: `(range in the string, new text, note)`.
fn header_edits(header: &[u8], ctx: &Context) -> Vec<(Range<usize>, String, String)> {
    let mut edits = Vec::new();
    let mut pos = 0;
    for line in header.split(|&b| b == b'\n') {
        let start = pos;
        pos += line.len() + 1;
        for field in DATE_FIELDS {
            if !line.starts_with(field.as_bytes()) {
                continue;
            }
            let value = &line[field.len()..];
            let lead = value.iter().take_while(|b| **b == b' ').count();
            let trail = value
                .iter()
                .rev()
                .take_while(|b| b" \r\t".contains(b))
                .count();
            if lead + trail >= value.len() {
                continue;
            }
            let text = &value[lead..value.len() - trail];
            let Some(date) = std::str::from_utf8(text).ok().and_then(parse_iso) else {
                continue;
            };
            if let Some(new) = date.clamped(ctx.epoch()) {
                let at = start + field.len() + lead;
                let old = String::from_utf8_lossy(text);
                let name = &field[..field.len() - 1];
                edits.push((
                    at..at + text.len(),
                    new.clone(),
                    format!("header {name}: {old} -> {new}"),
                ));
            }
        }
    }
    edits
}

impl Handler for Mo {
    fn name(&self) -> &'static str {
        "mo"
    }

    fn describe(&self) -> &'static str {
        "gettext .mo catalog, magic 0x950412de (either byte order): clamps POT-Creation-Date/PO-Revision-Date in the header entry, rebuilding offsets when the length changes"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.len() >= 28
            && (head.starts_with(&MAGIC.to_le_bytes()) || head.starts_with(&MAGIC.to_be_bytes()))
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.config.max_size || input.len() > u32::MAX as usize {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let cat = parse(input)?;
        // The header strings: the translations of empty msgids (normally one,
        // entry 0, since msgids are sorted). Several entries may share one
        // string; strings that overlap without being the same one would see
        // each other's edits, so they are refused.
        let mut headers: Vec<(usize, usize)> = cat
            .orig
            .iter()
            .zip(&cat.trans)
            .filter(|((id_len, _), _)| *id_len == 0)
            .map(|(_, &(len, off))| (off as usize, len as usize))
            .collect();
        headers.sort_unstable();
        headers.dedup();
        if headers.windows(2).any(|w| w[1].0 <= w[0].0 + w[0].1) {
            return Err(FormatError::Unsupported(
                "several header entries with overlapping strings".into(),
            ));
        }
        let mut regions: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        let mut changes = Vec::new();
        for (off, len) in headers {
            let edits = header_edits(&input[off..off + len], ctx);
            if edits.is_empty() {
                continue;
            }
            changes.extend(edits.iter().map(|e| e.2.clone()));
            let edited = replace_ranges(
                &input[off..off + len],
                edits.iter().map(|(r, new, _)| (r.clone(), new.as_bytes())),
            );
            regions.push((off, len, edited));
        }
        if regions.is_empty() {
            return Ok(Outcome::Unchanged);
        }
        for (off, len, _) in &regions {
            if shares_bytes(&cat, *off, *len) {
                return Err(FormatError::Unsupported(
                    "a message shares bytes with the header string".into(),
                ));
            }
        }
        if regions.iter().all(|(_, len, new)| new.len() == *len) {
            let mut out = input.to_vec();
            for (off, len, new) in &regions {
                out[*off..off + len].copy_from_slice(new);
            }
            return Ok(Outcome::Rewritten {
                bytes: out,
                changes,
            });
        }
        let [(off, len, new)] = regions.as_slice() else {
            return Err(FormatError::Unsupported(
                "several header strings change length".into(),
            ));
        };
        Ok(Outcome::Rewritten {
            bytes: splice(input, &cat, *off, *len, new)?,
            changes,
        })
    }
}

/// Whether a string other than the header string at `off` (with `len`
/// bytes) shares bytes with it, its NUL included; editing the header would
/// then change a message. No catalog writer shares strings that way.
fn shares_bytes(cat: &Catalog, off: usize, len: usize) -> bool {
    let descriptors = cat.orig.iter().zip(&cat.trans).flat_map(|(id, tr)| {
        // The header's own translation descriptors are not "other" strings.
        let tr_is_header = id.0 == 0 && (tr.1 as usize, tr.0 as usize) == (off, len);
        std::iter::once(*id).chain((!tr_is_header).then_some(*tr))
    });
    descriptors
        .map(|(l, at)| (at as usize, l as usize))
        .any(|(at, l)| at <= off + len && off <= at + l)
}

/// Replaces the string at `off..off + len` (and its NUL) by `new`, moving
/// every offset behind it.
fn splice(
    input: &[u8],
    cat: &Catalog,
    off: usize,
    len: usize,
    new: &[u8],
) -> Result<Vec<u8>, FormatError> {
    if cat.has_sysdep {
        return Err(FormatError::Unsupported(
            "the header changes length in a catalog with system-dependent strings".into(),
        ));
    }
    if input.get(off + len) != Some(&0) {
        return Err(FormatError::malformed(
            "the header string has no NUL terminator",
        ));
    }
    let old = off..off + len + 1;
    if old.start < cat.header_len {
        return Err(FormatError::malformed(
            "the header string overlaps the file header",
        ));
    }
    let n = cat.orig.len();
    let tables = [
        Some(cat.orig_tab..cat.orig_tab + 8 * n),
        Some(cat.trans_tab..cat.trans_tab + 8 * n),
        cat.hash_tab.clone(),
    ];
    for t in tables.iter().flatten() {
        if t.start < old.end && old.start < t.end {
            return Err(FormatError::malformed("the header string overlaps a table"));
        }
    }
    // New region: the string, its NUL and, only when a table lies behind it,
    // padding that keeps the shift a multiple of 4 so the tables stay aligned.
    // Strings need no alignment: without tables behind (msgfmt's and Babel's
    // layout), the output depends on the new string only, so builds converge.
    let mut region = new.to_vec();
    region.push(0);
    if tables.iter().flatten().any(|t| t.start >= old.end) {
        while region.len() % 4 != old.len() % 4 {
            region.push(0);
        }
    }
    // Offsets behind the string move to the same place relative to its end;
    // a string overlapping it (other than itself) cannot be relocated.
    let new_end = old.start + region.len();
    let shift = |at: u32, len: u32| -> Result<u32, FormatError> {
        let (at, len) = (at as usize, len as usize);
        if at >= old.end {
            u32::try_from(at - old.end + new_end)
                .map_err(|_| FormatError::TooLarge("the rebuilt catalog exceeds 4 GiB".into()))
        } else if at + len <= old.start {
            Ok(at as u32)
        } else {
            Err(FormatError::Unsupported(
                "another string overlaps the header string".into(),
            ))
        }
    };
    let mut out = Vec::with_capacity(input.len() + region.len());
    out.extend_from_slice(&input[..old.start]);
    out.extend_from_slice(&region);
    out.extend_from_slice(&input[old.end..]);
    let new_orig = shift(cat.orig_tab as u32, 0)? as usize;
    let new_trans = shift(cat.trans_tab as u32, 0)? as usize;
    cat.put_u32(&mut out, 12, new_orig as u32);
    cat.put_u32(&mut out, 16, new_trans as u32);
    if let Some(h) = &cat.hash_tab {
        cat.put_u32(&mut out, 24, shift(h.start as u32, 0)?);
    }
    for i in 0..n {
        let (id_len, id_at) = cat.orig[i];
        cat.put_u32(&mut out, new_orig + 8 * i, id_len);
        cat.put_u32(&mut out, new_orig + 8 * i + 4, shift(id_at, id_len)?);
        let (tr_len, tr_at) = cat.trans[i];
        let (tr_len, tr_at) = if (tr_at as usize, tr_len as usize) == (off, len) {
            (new.len() as u32, tr_at)
        } else {
            (tr_len, shift(tr_at, tr_len)?)
        };
        cat.put_u32(&mut out, new_trans + 8 * i, tr_len);
        cat.put_u32(&mut out, new_trans + 8 * i + 4, tr_at);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// A catalog laid out as msgfmt does: header, tables, hash table, strings.
    fn build(entries: &[(&str, &str)], big_endian: bool, hash_size: u32) -> Vec<u8> {
        let count = entries.len() as u32;
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let orig_at = 28;
        let trans_at = orig_at + 8 * count;
        let hash_at = trans_at + 8 * count;
        let mut strings_at = hash_at + 4 * hash_size;
        let mut out = Vec::new();
        for v in [MAGIC, 0, count, orig_at, trans_at, hash_size, hash_at] {
            out.extend(word(v));
        }
        let mut data = Vec::new();
        let mut descs = [Vec::new(), Vec::new()];
        for (k, desc) in descs.iter_mut().enumerate() {
            for e in entries {
                let s = if k == 0 { e.0 } else { e.1 };
                desc.extend(word(s.len() as u32));
                desc.extend(word(strings_at));
                data.extend_from_slice(s.as_bytes());
                data.push(0);
                strings_at += s.len() as u32 + 1;
            }
        }
        out.extend(descs.concat());
        for i in 0..hash_size {
            out.extend(word(if i < count { i + 1 } else { 0 }));
        }
        out.extend(data);
        out
    }

    /// Reads every `(msgid, translation)` back, checking each offset.
    fn read(mo: &[u8]) -> Vec<(String, String)> {
        let cat = parse(mo).unwrap();
        let s = |(len, off): (u32, u32)| {
            assert_eq!(mo[(off + len) as usize], 0, "NUL after each string");
            String::from_utf8(mo[off as usize..(off + len) as usize].to_vec()).unwrap()
        };
        cat.orig
            .iter()
            .zip(&cat.trans)
            .map(|(o, t)| (s(*o), s(*t)))
            .collect()
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(315_532_800);
        Mo.normalize(input, &cfg.context(Path::new("x.mo")))
    }

    const HEADER: &str = "Project-Id-Version: demo 1.0\nPOT-Creation-Date: 2026-03-04 05:06+0100\n\
        PO-Revision-Date: 2026-03-04 05:06:07+0100\nContent-Type: text/plain; charset=UTF-8\n";

    #[test]
    fn dates_in_place_in_both_byte_orders() {
        for be in [false, true] {
            let mo = build(&[("", HEADER), ("hello", "bonjour")], be, 3);
            assert!(Mo.sniff(&mo, &Config::default().context(Path::new("x"))));
            let Outcome::Rewritten { bytes, changes } = run(&mo).unwrap() else {
                panic!("expected a rewrite")
            };
            assert_eq!(changes.len(), 2, "{changes:?}");
            assert_eq!(bytes.len(), mo.len());
            let entries = read(&bytes);
            assert!(
                entries[0]
                    .1
                    .contains("POT-Creation-Date: 1980-01-01 00:00+0000\n")
            );
            assert!(
                entries[0]
                    .1
                    .contains("PO-Revision-Date: 1980-01-01 00:00:00+0000\n")
            );
            assert_eq!(entries[1], ("hello".into(), "bonjour".into()));
            assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
        }
    }

    #[test]
    fn placeholder_and_earlier_dates_stay() {
        let h =
            "POT-Creation-Date: 1979-03-04 05:06+0100\nPO-Revision-Date: YEAR-MO-DA HO:MI+ZONE\n";
        let mo = build(&[("", h), ("a", "b")], false, 0);
        assert_eq!(run(&mo).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn duplicated_header_blocks_are_all_normalized() {
        let h = "#-#-#-#-#  a.po  #-#-#-#-#\nPOT-Creation-Date: 2026-03-04 05:06+0100\n\
            #-#-#-#-#  b.po  #-#-#-#-#\nPOT-Creation-Date: 2027-03-04 05:06+0100\n";
        let mo = build(&[("", h)], false, 0);
        let Outcome::Rewritten { bytes, changes } = run(&mo).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(changes.len(), 2);
        assert_eq!(
            read(&bytes)[0].1.matches("1980-01-01 00:00+0000").count(),
            2
        );
    }

    #[test]
    fn a_length_change_rebuilds_offsets_and_keeps_the_hash_table() {
        let h = "POT-Creation-Date: 2026-3-4 5:06+0100\nX: y\n";
        for be in [false, true] {
            let mo = build(&[("", h), ("one", "un"), ("two", "deux")], be, 5);
            let Outcome::Rewritten { bytes, .. } = run(&mo).unwrap() else {
                panic!("expected a rewrite")
            };
            let entries = read(&bytes);
            assert_eq!(
                entries[0].1,
                "POT-Creation-Date: 1980-01-01 00:00+0000\nX: y\n"
            );
            assert_eq!(entries[1], ("one".into(), "un".into()));
            assert_eq!(entries[2], ("two".into(), "deux".into()));
            assert_eq!(
                bytes.len(),
                mo.len() + 3,
                "2026-3-4 5:06 -> 1980-01-01 00:00"
            );
            let (a, b) = (parse(&mo).unwrap(), parse(&bytes).unwrap());
            let (ha, hb) = (a.hash_tab.unwrap(), b.hash_tab.unwrap());
            assert_eq!(mo[ha], bytes[hb], "hash table copied");
            assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
        }
    }

    /// A catalog with its strings before its tables, as no common writer
    /// makes it but the format allows.
    fn build_tables_last(entries: &[(&str, &str)]) -> Vec<u8> {
        let n = entries.len() as u32;
        let mut strings = Vec::new();
        let mut descs = [Vec::new(), Vec::new()];
        for (k, desc) in descs.iter_mut().enumerate() {
            for e in entries {
                let s = if k == 0 { e.0 } else { e.1 };
                desc.extend((s.len() as u32).to_le_bytes());
                desc.extend((28 + strings.len() as u32).to_le_bytes());
                strings.extend_from_slice(s.as_bytes());
                strings.push(0);
            }
        }
        while strings.len() % 4 != 0 {
            strings.push(0);
        }
        let o = 28 + strings.len() as u32;
        let mut out = Vec::new();
        for v in [MAGIC, 0, n, o, o + 8 * n, 0, o + 16 * n] {
            out.extend(v.to_le_bytes());
        }
        out.extend(strings);
        out.extend(descs.concat());
        out
    }

    #[test]
    fn tables_behind_the_header_stay_aligned() {
        let mo = build_tables_last(&[("", "PO-Revision-Date: 2026-3-4 5:06+0100\n"), ("a", "b")]);
        let Outcome::Rewritten { bytes, .. } = run(&mo).unwrap() else {
            panic!("expected a rewrite")
        };
        let cat = parse(&bytes).unwrap();
        assert_eq!(cat.orig_tab % 4, 0);
        assert_eq!(cat.trans_tab % 4, 0);
        let entries = read(&bytes);
        assert_eq!(entries[0].1, "PO-Revision-Date: 1980-01-01 00:00+0000\n");
        assert_eq!(entries[1], ("a".into(), "b".into()));
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn overlapping_header_strings_are_refused() {
        // Found by the fuzzer: two empty msgids whose translations overlap
        // saw each other's edits, and the output was not a fixed point.
        let mut mo = build(&[("", HEADER), ("", "x")], false, 0);
        let cat = parse(&mo).unwrap();
        let (_, first) = cat.trans[0];
        let second = cat.trans_tab + 8 + 4;
        mo[second..second + 4].copy_from_slice(&(first + 5).to_le_bytes());
        mo[second - 4..second].copy_from_slice(&20u32.to_le_bytes());
        assert!(matches!(run(&mo), Err(FormatError::Unsupported(_))));
        // The same string shared by two entries is fine.
        mo[second..second + 4].copy_from_slice(&first.to_le_bytes());
        mo[second - 4..second].copy_from_slice(&(HEADER.len() as u32).to_le_bytes());
        let Outcome::Rewritten { bytes, .. } = run(&mo).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn a_message_sharing_bytes_with_the_header_is_refused() {
        let mut mo = build(&[("", HEADER), ("hello", "bonjour")], false, 0);
        let cat = parse(&mo).unwrap();
        let (_, header_at) = cat.trans[0];
        // Point the translation of "hello" into the header's date.
        let at = cat.trans_tab + 8;
        mo[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        mo[at + 4..at + 8].copy_from_slice(&(header_at + 50).to_le_bytes());
        assert!(matches!(run(&mo), Err(FormatError::Unsupported(_))));
    }

    #[test]
    fn broken_catalogs_are_errors_not_panics() {
        let mo = build(&[("", HEADER), ("hello", "bonjour")], false, 3);
        for cut in [0, 3, 20, 40, 60] {
            assert!(run(&mo[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = mo.clone();
        bad[12] = 0xff; // msgid table offset far past the end
        assert!(matches!(run(&bad), Err(FormatError::Malformed(_))));
        let mut rev = mo.clone();
        rev[6] = 2;
        assert!(matches!(run(&rev), Err(FormatError::Unsupported(_))));
    }
}
