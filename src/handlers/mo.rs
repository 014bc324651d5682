//! GNU gettext message catalogs (`.mo`), as described in the GNU gettext
//! manual, section "The Format of GNU MO Files", recognized by the magic
//! `0x950412de` in either byte order (`de 12 04 95` little endian,
//! `95 04 12 de` big endian).
//!
//! Normalized: in the header entry (the translation of the empty msgid), every
//! `POT-Creation-Date:` and `PO-Revision-Date:` line, including the repeated
//! ones of catalogs merged by `msgcat` (one header block per source catalog).
//! A value later than the epoch becomes the epoch written the same way (same
//! fields, precision and separators, zone `+0000`, see [`crate::dates`]):
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
//! and everything outside the header string.
//!
//! Validated first, as GNU gettext's reader (msgunfmt 0.21) does, so that a
//! catalog it refuses is reported `Malformed` and left untouched: the magic
//! in either byte order; major revision 0 or 1; every string descriptor in
//! the file with a NUL at `offset + length`; msgids (up to their first NUL)
//! strictly increasing; when there is a hash table, a size above 2, nonzero
//! entries distinct and in `1..=N`, every message present and found by
//! libintl's PJW-hash probe sequence; from minor revision 1 on (in major 0
//! too), the system-dependent string tables, segment lists and segment names
//! in the file and NUL-terminated. Not required: a header entry (a catalog
//! without one is valid).
//!
//! The hash table is checked only in a catalog about to be rewritten: one
//! whose header needs nothing is left as it is, whatever its table holds, so
//! it is `Unchanged` rather than `Malformed` when only its table is bad (as
//! the gzip handler does not inflate a normal member past its head). The
//! check is the PJW hash of every msgid, which was a tenth of a run on an
//! already-normalized tree of 3,233 system catalogs and 24,000 man pages;
//! it guards the rewrite, which a file left alone does not have.

use std::ops::Range;

use crate::bytes::Endian;
use crate::dates::{parse_iso, replace_ranges};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The gettext `.mo` handler.
pub struct Mo;

const MAGIC: u32 = 0x9504_12de;
/// The header fields that hold dates.
const DATE_FIELDS: [&str; 2] = ["POT-Creation-Date:", "PO-Revision-Date:"];

/// A parsed `.mo` header with its string descriptors.
struct Catalog {
    endian: Endian,
    /// Size of the file header: 28, or 48 with the sysdep fields.
    header_len: usize,
    has_sysdep: bool,
    orig_tab: usize,
    trans_tab: usize,
    hash_tab: Option<Range<usize>>,
    /// `(length, offset)` of each msgid, then of each translation.
    orig: Vec<(u32, u32)>,
    trans: Vec<(u32, u32)>,
    /// Bytes the system-dependent strings use (static segments and segment
    /// names); the header edit must not touch them.
    sysdep_ranges: Vec<Range<usize>>,
    /// The hash table's size field, and how many system-dependent strings
    /// are numbered after the static ones: for [`check_hash`].
    hash_size: u32,
    sysdep_strings: u32,
}

impl Catalog {
    fn u32_at(&self, input: &[u8], at: usize) -> Result<u32, FormatError> {
        read_u32(input, at, self.endian)
    }

    fn put_u32(&self, out: &mut [u8], at: usize, v: u32) {
        self.endian.put_u32(out, at, v);
    }
}

fn read_u32(input: &[u8], at: usize, endian: Endian) -> Result<u32, FormatError> {
    endian
        .u32(input, at)
        .ok_or_else(|| FormatError::malformed(format!("truncated header at offset {at}")))
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
    let endian = match read_u32(input, 0, Endian::Little)? {
        MAGIC => Endian::Little,
        m if m.swap_bytes() == MAGIC => Endian::Big,
        _ => return Err(FormatError::malformed("not a .mo file (bad magic)")),
    };
    let revision = read_u32(input, 4, endian)?;
    let (major, minor) = (revision >> 16, revision & 0xffff);
    if major > 1 {
        // msgunfmt: "not in GNU .mo format"; no reader knows such a catalog.
        return Err(FormatError::malformed(format!(
            "major revision {major} (only 0 and 1 exist)"
        )));
    }
    let count = read_u32(input, 8, endian)?;
    let orig_at = read_u32(input, 12, endian)?;
    let trans_at = read_u32(input, 16, endian)?;
    let hash_size = read_u32(input, 20, endian)?;
    let hash_at = read_u32(input, 24, endian)?;
    let orig_tab = table(input, orig_at, count, 8, "msgid table")?;
    let trans_tab = table(input, trans_at, count, 8, "translation table")?;
    let hash_tab = if hash_size == 0 {
        None
    } else {
        let at = table(input, hash_at, hash_size, 4, "hash table")?;
        Some(at..at + hash_size as usize * 4)
    };
    let mut cat = Catalog {
        endian,
        header_len: 28,
        has_sysdep: false,
        orig_tab,
        trans_tab,
        hash_tab,
        orig: Vec::with_capacity(count as usize),
        trans: Vec::with_capacity(count as usize),
        sysdep_ranges: Vec::new(),
        hash_size: 0,
        sysdep_strings: 0,
    };
    for (tab, list) in [(orig_tab, 0), (trans_tab, 1)] {
        for i in 0..count as usize {
            let len = cat.u32_at(input, tab + 8 * i)?;
            let off = cat.u32_at(input, tab + 8 * i + 4)?;
            // The string and its NUL must lie in the file (GNU's get_string).
            if u64::from(off) + u64::from(len) >= input.len() as u64 {
                return Err(FormatError::malformed(format!(
                    "string {i} ({len} bytes at offset {off}) runs past the end of the file"
                )));
            }
            if input[off as usize + len as usize] != 0 {
                return Err(FormatError::malformed(format!(
                    "string {i} ({len} bytes at offset {off}) is not NUL-terminated"
                )));
            }
            if list == 0 {
                cat.orig.push((len, off));
            } else {
                cat.trans.push((len, off));
            }
        }
    }
    // Each msgid is cut at its NUL once, for both checks.
    let ids: Vec<&[u8]> = (0..cat.orig.len()).map(|i| msgid(input, &cat, i)).collect();
    check_sorted(&ids)?;
    // The sysdep fields exist from minor revision 1 on; msgunfmt reads them
    // then (also in major revision 0), and never for minor revision 0.
    let mut sysdep_strings = 0;
    if minor >= 1 {
        cat.header_len = 48;
        sysdep_strings = read_sysdep(input, &mut cat)?;
        cat.has_sysdep = sysdep_strings != 0 || read_u32(input, 28, endian)? != 0;
    }
    cat.hash_size = hash_size;
    cat.sysdep_strings = sysdep_strings;
    Ok(cat)
}

/// The msgid of entry `i` as the C string that GNU's readers compare and
/// hash: up to its first NUL (a plural msgid holds a second string behind it).
fn msgid<'a>(input: &'a [u8], cat: &Catalog, i: usize) -> &'a [u8] {
    let (len, off) = cat.orig[i];
    let s = &input[off as usize..off as usize + len as usize];
    memchr::memchr(0, s).map_or(s, |n| &s[..n])
}

/// msgfmt writes the msgids in strictly increasing byte order. msgunfmt
/// refuses a catalog with a hash table that is not ("The array of messages
/// is not sorted"); without a hash table it reads it, but libintl, which then
/// looks messages up by binary search, would miss some: malformed either way.
fn check_sorted(ids: &[&[u8]]) -> Result<(), FormatError> {
    match ids.windows(2).position(|w| w[0] >= w[1]) {
        Some(i) => Err(FormatError::malformed(format!(
            "the msgids are not sorted (entry {} is not greater than entry {i})",
            i + 1
        ))),
        None => Ok(()),
    }
}

/// One byte of [`hash_string`]: shift in the byte, then fold the top
/// nibble into bits 4..8 and clear it (`h ^= g >> 24; h ^= g` in gettext,
/// which does nothing when the nibble is 0).
#[inline]
fn hash_step(h: u32, b: u8) -> u32 {
    let h = (h << 4).wrapping_add(u32::from(b));
    let g = h & 0xf000_0000;
    h ^ (g >> 24) ^ g
}

/// [`hash_string`] of each of `ids`. The hash is one long chain of
/// dependent steps per string, so four strings are hashed side by side,
/// byte by byte, for the processor to overlap their chains.
fn hash_strings(ids: &[&[u8]]) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    let mut quads = ids.chunks_exact(4);
    for q in &mut quads {
        let common = q.iter().map(|s| s.len()).min().unwrap_or(0);
        let mut h = [0u32; 4];
        for k in 0..common {
            for (h, s) in h.iter_mut().zip(q) {
                *h = hash_step(*h, s[k]);
            }
        }
        for (h, s) in h.iter_mut().zip(q) {
            *h = s[common..].iter().fold(*h, |h, &b| hash_step(h, b));
        }
        out.extend_from_slice(&h);
    }
    out.extend(quads.remainder().iter().map(|s| hash_string(s)));
    out
}

/// The PJW hash of GNU gettext's `hash_string`, on 32 bits.
fn hash_string(s: &[u8]) -> u32 {
    s.iter().fold(0, |h, &b| hash_step(h, b))
}

/// The hash table as msgunfmt checks it: a size above 2 (the probe step is
/// `1 + hash % (size - 2)`), every nonzero entry a distinct message number
/// (1-based), every message present, and every message found by libintl's
/// probe sequence before an empty slot. The probe is bounded by the size, so
/// a full table without the message cannot loop.
fn check_hash(
    input: &[u8],
    cat: &Catalog,
    ids: &[&[u8]],
    size: u32,
    sysdep_strings: u32,
) -> Result<(), FormatError> {
    let Some(tab) = &cat.hash_tab else {
        return Ok(());
    };
    if size <= 2 {
        return Err(FormatError::malformed(format!(
            "hash table size {size} (must be above 2)"
        )));
    }
    let n = cat.orig.len();
    // System-dependent strings are numbered after the static ones.
    let total = n as u64 + u64::from(sysdep_strings);
    let mut seen = vec![false; n];
    let mut extra = std::collections::HashSet::new();
    // Read once, in order; the probes below index this.
    let mut slots = Vec::with_capacity(size as usize);
    let mut used = 0;
    for k in 0..size {
        let e = cat.u32_at(input, tab.start + 4 * k as usize)?;
        slots.push(e);
        if e == 0 {
            continue;
        }
        used += 1;
        let j = u64::from(e) - 1;
        let fresh = if j >= total {
            false
        } else if let Some(s) = seen.get_mut(j as usize) {
            !std::mem::replace(s, true)
        } else {
            extra.insert(j)
        };
        if !fresh {
            return Err(FormatError::malformed(format!(
                "hash table slot {k} holds an invalid or repeated entry {e}"
            )));
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(FormatError::malformed(format!(
            "message {i} is not in the hash table"
        )));
    }
    for (i, h) in hash_strings(ids).into_iter().enumerate() {
        let mut idx = h % size;
        let incr = 1 + h % (size - 2);
        let mut found = false;
        // The probe visits distinct slots until it cycles: past `used + 1`
        // steps without an empty slot it has cycled and cannot succeed.
        for _ in 0..size.min(used + 1) {
            let e = slots[idx as usize];
            if e == 0 {
                break;
            }
            if u64::from(e) == i as u64 + 1 {
                found = true;
                break;
            }
            idx = if idx >= size - incr {
                idx - (size - incr)
            } else {
                idx + incr
            };
        }
        if !found {
            return Err(FormatError::malformed(format!(
                "message {i} is at a wrong index in the hash table"
            )));
        }
    }
    Ok(())
}

/// Checks the system-dependent strings (minor revision 1) the way msgunfmt
/// expands them: every table, segment and string in the file, every segment
/// reference valid, every referenced segment name NUL-terminated, every
/// expanded string ending with a NUL. Records their bytes in
/// `cat.sysdep_ranges` and returns their number.
fn read_sysdep(input: &[u8], cat: &mut Catalog) -> Result<u32, FormatError> {
    const SEGMENTS_END: u32 = u32::MAX;
    let n_segments = cat.u32_at(input, 28)?;
    let segments_at = cat.u32_at(input, 32)?;
    let n_strings = cat.u32_at(input, 36)?;
    let orig_at = cat.u32_at(input, 40)?;
    let trans_at = cat.u32_at(input, 44)?;
    if n_strings == 0 {
        return Ok(0);
    }
    let segs = table(input, segments_at, n_segments, 8, "sysdep segment table")?;
    let mut ranges = Vec::new();
    // Writers give each string its own segment list; a budget of one pair
    // per 8 bytes of file keeps lists shared by many strings from costing
    // quadratic time.
    let mut budget = input.len() / 8 + 1;
    for tab_at in [orig_at, trans_at] {
        let tab = table(input, tab_at, n_strings, 4, "sysdep string table")?;
        for i in 0..n_strings as usize {
            let at = cat.u32_at(input, tab + 4 * i)? as usize;
            let mut s_off = u64::from(cat.u32_at(input, at)?);
            let mut last: Option<u8> = None;
            // Each pair is 8 bytes of the file: the walk ends within it.
            let mut p = at.saturating_add(4);
            loop {
                budget = budget.checked_sub(1).ok_or_else(|| {
                    FormatError::malformed("sysdep strings share their segment lists")
                })?;
                let seg_size = u64::from(cat.u32_at(input, p)?);
                let sysdep_ref = cat.u32_at(input, p.saturating_add(4))?;
                let end = s_off + seg_size;
                if end > input.len() as u64 {
                    return Err(FormatError::malformed(format!(
                        "sysdep string {i} runs past the end of the file"
                    )));
                }
                if seg_size > 0 {
                    last = Some(input[end as usize - 1]);
                    ranges.push(s_off as usize..end as usize);
                }
                s_off = end;
                if sysdep_ref == SEGMENTS_END {
                    break;
                }
                if sysdep_ref >= n_segments {
                    return Err(FormatError::malformed(format!(
                        "sysdep string {i} refers to segment {sysdep_ref} of {n_segments}"
                    )));
                }
                let pair = segs + 8 * sysdep_ref as usize;
                let (len, off) = (cat.u32_at(input, pair)?, cat.u32_at(input, pair + 4)?);
                let end = u64::from(off) + u64::from(len);
                if end > input.len() as u64 {
                    return Err(FormatError::malformed(format!(
                        "sysdep segment {sysdep_ref} runs past the end of the file"
                    )));
                }
                if len == 0 || input[end as usize - 1] != 0 {
                    return Err(FormatError::malformed(format!(
                        "sysdep segment {sysdep_ref} is not NUL-terminated"
                    )));
                }
                ranges.push(off as usize..end as usize);
                p = p.saturating_add(8);
            }
            if last != Some(0) {
                return Err(FormatError::malformed(format!(
                    "sysdep string {i} is not NUL-terminated"
                )));
            }
        }
    }
    cat.sysdep_ranges = ranges;
    Ok(n_strings)
}

/// The edits of one header string: `(range in the string, new text, note)`.
fn header_edits(header: &[u8], ctx: &Context) -> Vec<(Range<usize>, String, Change)> {
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
                    Change::set(format!("header {name}"), "", old, new),
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

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[&MAGIC.to_le_bytes(), &MAGIC.to_be_bytes()])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size || input.len() > u32::MAX as usize {
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
        let ids: Vec<&[u8]> = (0..cat.orig.len()).map(|i| msgid(input, &cat, i)).collect();
        check_hash(input, &cat, &ids, cat.hash_size, cat.sysdep_strings)?;
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
        || cat
            .sysdep_ranges
            .iter()
            .any(|r| r.start <= off + len && off < r.end)
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

    #[test]
    fn strings_hashed_side_by_side_hash_as_one_at_a_time() {
        // Lengths that end together and apart, bytes above 0x7f, strings
        // long enough to fold the top nibble many times, and a remainder.
        let owned: Vec<Vec<u8>> = (0..23u32)
            .map(|i| {
                (0..(i * 37) % 200)
                    .map(|k| u8::try_from((k * 131 + i * 7) % 256).unwrap())
                    .collect()
            })
            .collect();
        let ids: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        // gettext's `hash_string`, as written there.
        let gettext = |s: &[u8]| {
            let mut h: u32 = 0;
            for &b in s {
                h = (h << 4).wrapping_add(u32::from(b));
                let g = h & 0xf000_0000;
                if g != 0 {
                    h ^= g >> 24;
                    h ^= g;
                }
            }
            h
        };
        let one: Vec<u32> = ids.iter().map(|s| hash_string(s)).collect();
        assert_eq!(one, ids.iter().map(|s| gettext(s)).collect::<Vec<_>>());
        assert_eq!(hash_strings(&ids), one);
        assert_eq!(hash_string(b""), 0);
        // gettext's hash of "" and "a": 0 and 0x61.
        assert_eq!(
            hash_strings(&[b"", b"a", b"a", b"", b"a"]),
            [0, 0x61, 0x61, 0, 0x61]
        );
    }

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
        for slot in hash_slots(entries.iter().map(|e| e.0), hash_size) {
            out.extend(word(slot));
        }
        out.extend(data);
        out
    }

    /// A hash table as msgfmt fills it: each msgid at the first free slot
    /// of its probe sequence.
    fn hash_slots<'a>(ids: impl Iterator<Item = &'a str>, size: u32) -> Vec<u32> {
        let mut slots = vec![0; size as usize];
        if size == 0 {
            return slots;
        }
        for (i, id) in ids.enumerate() {
            let h = hash_string(id.as_bytes());
            let (mut idx, incr) = (h % size, 1 + h % (size - 2));
            while slots[idx as usize] != 0 {
                idx = (idx + incr) % size;
            }
            slots[idx as usize] = i as u32 + 1;
        }
        slots
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

    /// The hash table is checked before a rewrite, and only then: the same
    /// broken table is `Malformed` in a catalog with a date to clamp and
    /// leaves one with nothing to change `Unchanged`.
    #[test]
    fn the_hash_table_is_checked_only_before_a_rewrite() {
        let old = "POT-Creation-Date: 1979-03-04 05:06+0100\n";
        for (header, rewritten) in [(HEADER, true), (old, false)] {
            let mo = build(
                &[("", header), ("hello", "bonjour"), ("world", "monde")],
                false,
                5,
            );
            let cat = parse(&mo).unwrap();
            let hash = cat.hash_tab.clone().unwrap();
            assert_eq!(
                matches!(run(&mo), Ok(Outcome::Rewritten { .. })),
                rewritten,
                "{header}"
            );
            // Every entry moved one slot on: found by no probe.
            let mut m = mo.clone();
            for k in 0..5 {
                let (from, to) = (hash.start + 4 * k, hash.start + 4 * ((k + 1) % 5));
                m[to..to + 4].copy_from_slice(&mo[from..from + 4]);
            }
            if rewritten {
                assert_malformed(&m, "wrong index");
            } else {
                assert_eq!(run(&m).unwrap(), Outcome::Unchanged);
            }
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
    fn two_empty_msgids_are_malformed() {
        // Found by the fuzzer: two empty msgids whose translations overlap
        // saw each other's edits. msgunfmt refuses any repeated msgid ("The
        // array of messages is not sorted"), so the catalog is malformed.
        let mo = build(&[("", HEADER), ("", "x")], false, 0);
        let err = run(&mo).unwrap_err();
        assert!(
            matches!(&err, FormatError::Malformed(m) if m.contains("not sorted")),
            "{err}"
        );
    }

    #[test]
    fn a_message_sharing_bytes_with_the_header_is_refused() {
        let mut mo = build(&[("", HEADER), ("hello", "bonjour")], false, 0);
        let cat = parse(&mo).unwrap();
        let (_, header_at) = cat.trans[0];
        // Point the translation of "hello" at the header's last 7 bytes
        // (their NUL is the header's).
        let at = cat.trans_tab + 8;
        let tail = header_at + HEADER.len() as u32 - 7;
        mo[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        mo[at + 4..at + 8].copy_from_slice(&tail.to_le_bytes());
        assert!(matches!(run(&mo), Err(FormatError::Unsupported(_))));
    }

    /// Asserts `mo` is refused as malformed with a reason containing `why`.
    fn assert_malformed(mo: &[u8], why: &str) {
        match run(mo) {
            Err(FormatError::Malformed(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected malformed ({why}), got {other:?}"),
        }
    }

    /// The checks msgunfmt (gettext 0.21) makes before it reads a catalog,
    /// each broken once in a catalog that would otherwise be rewritten.
    #[test]
    fn what_msgunfmt_refuses_is_malformed() {
        let entries = [("", HEADER), ("hello", "bonjour"), ("world", "monde")];
        let mo = build(&entries, false, 5);
        assert!(matches!(run(&mo), Ok(Outcome::Rewritten { .. })));
        let cat = parse(&mo).unwrap();
        let put =
            |m: &mut Vec<u8>, at: usize, v: u32| m[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let (last_len, last_at) = cat.trans[2];

        // "is truncated": the last string ends at the end of the file, so
        // its NUL is missing (the check was off by one).
        let cut = mo[..(last_at + last_len) as usize].to_vec();
        assert_malformed(&cut, "runs past the end");
        // "contains a not NUL terminated string"
        let mut m = mo.clone();
        put(&mut m, cat.trans_tab + 16, last_len - 1);
        assert_malformed(&m, "not NUL-terminated");
        // "The array of messages is not sorted": swap two msgids.
        let mut m = mo.clone();
        let (first, second) = (cat.orig_tab + 8, cat.orig_tab + 16);
        m[first..second + 8].rotate_left(8);
        assert_malformed(&m, "not sorted");
        // "The hash table size is invalid."
        for size in [1, 2] {
            let mut m = mo.clone();
            put(&mut m, 20, size);
            assert_malformed(&m, "hash table size");
        }
        let hash = cat.hash_tab.clone().unwrap();
        let slots: Vec<usize> = (0..5).map(|k| hash.start + 4 * k).collect();
        let full: Vec<usize> = slots.iter().copied().filter(|&s| mo[s] != 0).collect();
        let empty: Vec<usize> = slots.iter().copied().filter(|&s| mo[s] == 0).collect();
        // "The hash table contains invalid entries.": out of range, repeated.
        let mut m = mo.clone();
        put(&mut m, empty[0], 4);
        assert_malformed(&m, "invalid or repeated");
        let mut m = mo.clone();
        put(&mut m, empty[0], 1);
        assert_malformed(&m, "invalid or repeated");
        // "Some messages are not present in the hash table."
        let mut m = mo.clone();
        put(&mut m, full[0], 0);
        assert_malformed(&m, "not in the hash table");
        // "Some messages are at a wrong index in the hash table.": every
        // entry moved one slot on.
        let mut m = mo.clone();
        for (k, &s) in slots.iter().enumerate() {
            m[slots[(k + 1) % 5]..slots[(k + 1) % 5] + 4].copy_from_slice(&mo[s..s + 4]);
        }
        assert_malformed(&m, "wrong index");
        // "not in GNU .mo format": a major revision above 1.
        let mut m = mo.clone();
        put(&mut m, 4, 0x2_0000);
        assert_malformed(&m, "major revision");
        // Minor revision 1 has the sysdep fields, read even in major 0:
        // here they are the tables, which make no sense as such.
        let mut m = mo.clone();
        put(&mut m, 4, 1);
        assert!(
            matches!(run(&m), Err(FormatError::Malformed(_))),
            "{:?}",
            run(&m)
        );
        // Major revision 1 without the minor one has no sysdep fields.
        let mut m = mo.clone();
        put(&mut m, 4, 0x1_0000);
        assert!(matches!(run(&m), Ok(Outcome::Rewritten { .. })));
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
        assert!(matches!(run(&rev), Err(FormatError::Malformed(_))));
    }
}
