//! Reading an archive: the end record, zip64 end record and locator, central
//! and local headers, data descriptors, and the checks that the layout is
//! one this handler can rewrite without loss.

use std::ops::Range;

use super::bytes::Bytes;
use super::dostime::DosTime;
use super::fields::{le16, le32, le64, malformed, show, to_usize, zip64_record};
use super::manifest::is_signature;
use super::{
    CENTRAL_LEN, CENTRAL_SIG, DEFLATE_MAX_RATIO, DEFLATED, DESCRIPTOR_SIG, END_LEN, END_SIG,
    ESCAPED, FLAG_DESCRIPTOR, FLAG_ENCRYPTED, FLAG_ENCRYPTED_DIRECTORY, FLAG_STRONG_ENCRYPTION,
    FLAG_UTF8, LOCAL_LEN, LOCAL_SIG, STORED, ZIP64_END_LEN, ZIP64_END_SIG, ZIP64_LOCATOR_LEN,
    ZIP64_LOCATOR_SIG,
};
use crate::handler::{FormatError, Source};

/// Where a data descriptor is and how it is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Descriptor {
    pub(super) signed: bool,
    pub(super) wide: bool,
}

impl Descriptor {
    fn len(self) -> usize {
        4 * usize::from(self.signed) + 4 + if self.wide { 16 } else { 8 }
    }
}

/// One member: its central header, its local header and its data, as offsets
/// into the input.
#[derive(Debug)]
pub(super) struct Entry {
    /// Offset of the central header.
    pub(super) central: usize,
    pub(super) name: Range<usize>,
    pub(super) made_by: u16,
    pub(super) needed: u16,
    pub(super) flags: u16,
    pub(super) method: u16,
    pub(super) central_time: DosTime,
    pub(super) crc: u32,
    pub(super) csize: u64,
    pub(super) usize: u64,
    pub(super) external: u32,
    pub(super) central_extra: Range<usize>,
    pub(super) comment: Range<usize>,
    /// Raw 32-bit fields of the central header that are escaped to zip64.
    pub(super) central_escaped: [bool; 3],
    /// Offset of the local header in the input.
    pub(super) local: usize,
    pub(super) local_flags: u16,
    pub(super) local_time: DosTime,
    pub(super) local_crc: u32,
    pub(super) local_extra: Range<usize>,
    /// The local header's sizes as written (`None`: escaped without a value).
    pub(super) local_sizes: [Option<u64>; 2],
    pub(super) data: Range<usize>,
    pub(super) descriptor: Option<Descriptor>,
    /// Just past the data descriptor, or the data.
    pub(super) end: usize,
}

impl Entry {
    pub(super) fn encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_ENCRYPTED_DIRECTORY) != 0
    }
}

/// The zip64 end record and its locator.
#[derive(Debug)]
pub(super) struct Zip64End {
    pub(super) record: Range<usize>,
    pub(super) locator: usize,
}

/// A parsed archive.
#[derive(Debug)]
pub(super) struct Archive<'a> {
    /// The input: whole, or its metadata loaded at file offsets.
    pub(super) bytes: Bytes<'a>,
    /// Added to a recorded offset to find the byte it designates.
    pub(super) base: u64,
    /// Where the first member (or the central directory) starts.
    pub(super) prefix: usize,
    /// In central directory order.
    pub(super) entries: Vec<Entry>,
    pub(super) zip64: Option<Zip64End>,
    /// The end record; the archive comment follows it to the end of the input.
    pub(super) end: usize,
}

/// Finds the end record: the last `PK 05 06` whose comment reaches exactly
/// the end of the input.
fn find_end(input: &mut Bytes) -> Result<usize, FormatError> {
    let len = input.len();
    let window = len.saturating_sub(END_LEN + 0xffff);
    input.load(window..len)?;
    let tail = input.at(window..len);
    for at in memchr::memmem::rfind_iter(tail, &END_SIG) {
        if let Some(rec) = tail.get(at..at + END_LEN) {
            if usize::from(le16(rec, 20)) == tail.len() - at - END_LEN {
                return Ok(window + at);
            }
        }
    }
    Err(malformed(
        "no end of central directory record ending the file (truncated, or bytes after it)",
    ))
}

impl<'a> Archive<'a> {
    pub(super) fn name(&self, e: &Entry) -> &[u8] {
        self.bytes.at(e.name.clone())
    }

    /// The bytes of `r`, a range the reader has checked.
    pub(super) fn at(&self, r: Range<usize>) -> &[u8] {
        self.bytes.at(r)
    }

    /// Parses an archive held in memory.
    #[cfg(test)]
    pub(super) fn parse(input: &'a [u8]) -> Result<Self, FormatError> {
        Self::from_bytes(Bytes::whole_slice(input))
    }

    /// Parses an archive read by position: its end records, central
    /// directory, local headers and data descriptors, never its member data.
    /// At most `budget` bytes of them are loaded when it is not in memory.
    pub(super) fn read(src: &'a dyn Source, budget: u64) -> Result<Self, FormatError> {
        Self::from_bytes(Bytes::new(src, budget)?)
    }

    fn from_bytes(mut input: Bytes<'a>) -> Result<Self, FormatError> {
        let end = find_end(&mut input)?;
        let rec = input.at(end..end + END_LEN);
        let raw = [
            u64::from(le16(rec, 4)),
            u64::from(le16(rec, 6)),
            u64::from(le16(rec, 8)),
            u64::from(le16(rec, 10)),
            u64::from(le32(rec, 12)),
            u64::from(le32(rec, 16)),
        ];
        let locator = end.checked_sub(ZIP64_LOCATOR_LEN);
        if let Some(l) = locator {
            input.load(l..end)?;
        }
        let locator = locator.filter(|&l| input.at(l..end).starts_with(&ZIP64_LOCATOR_SIG));
        let (fields, zip64, directory_end) = match locator {
            None => (raw, None, end),
            Some(l) => {
                let (fields, record) = zip64_end(&mut input, l, &raw)?;
                let start = record.start;
                (fields, Some(Zip64End { record, locator: l }), start)
            }
        };
        let [disk, directory_disk, on_disk, count, size, offset] = fields;
        if disk != 0 || directory_disk != 0 || on_disk != count {
            return Err(FormatError::Unsupported(
                "split or spanned archive (several disks)".into(),
            ));
        }
        let start = (directory_end as u64)
            .checked_sub(size)
            .ok_or_else(|| malformed(format!("central directory of {size} bytes does not fit")))?;
        let base = start.checked_sub(offset).ok_or_else(|| {
            malformed(format!(
                "central directory offset {offset} points past its real position {start}"
            ))
        })?;
        let directory = start as usize..directory_end;
        if let Some(z) = &zip64 {
            let recorded = le64(input.at(z.locator..end), 8);
            if recorded.checked_add(base) != Some(z.record.start as u64) {
                return Err(malformed(
                    "zip64 end record offset disagrees with the central directory offset",
                ));
            }
        }
        if count > (size / CENTRAL_LEN as u64) {
            return Err(malformed(format!(
                "{count} entries claimed, more than a {size}-byte central directory can hold"
            )));
        }
        input.load(directory.clone())?;
        let mut entries = Vec::with_capacity(count as usize);
        let mut pos = directory.start;
        for n in 0..count {
            let e = parse_central(&mut input, pos, directory.end, n + 1, base)?;
            pos = e.comment.end;
            entries.push(e);
        }
        if pos != directory.end {
            return Err(malformed(format!(
                "central directory has {} bytes after its {count} entries",
                directory.end - pos
            )));
        }
        if let Some(e) = entries.iter().find(|e| e.encrypted()) {
            return Err(FormatError::Unsupported(format!(
                "encrypted entry {}",
                show(input.at(e.name.clone()))
            )));
        }
        if let Some(e) = entries
            .iter()
            .find(|e| is_signature(input.at(e.name.clone())))
        {
            return Err(FormatError::Unsupported(format!(
                "signed jar ({}): rewriting it could break the signature",
                show(input.at(e.name.clone()))
            )));
        }
        for e in &mut entries {
            parse_local(&mut input, e, directory.start)?;
        }
        let prefix = check_layout(&entries, directory.start)?;
        Ok(Archive {
            bytes: input,
            base,
            prefix,
            entries,
            zip64,
            end,
        })
    }
}

/// Reads the zip64 end record through its locator at `l`; returns the end
/// record's six fields with the zip64 values, and the record's range.
fn zip64_end(
    input: &mut Bytes,
    l: usize,
    raw: &[u64; 6],
) -> Result<([u64; 6], Range<usize>), FormatError> {
    let loc = input.at(l..l + ZIP64_LOCATOR_LEN);
    if le32(loc, 4) != 0 || le32(loc, 16) > 1 {
        return Err(FormatError::Unsupported(
            "split or spanned zip64 archive (several disks)".into(),
        ));
    }
    let recorded = le64(loc, 8);
    // The record ends at the locator. It is found where its offset says
    // (offsets relative to the file) or right before the locator without
    // extensible data (offsets relative to the zip data after a prefix).
    // Its fixed part first: the size it gives says whether the whole fits.
    let mut fits = |start: usize| -> Result<bool, FormatError> {
        if start > l || l - start < ZIP64_END_LEN {
            return Ok(false);
        }
        input.load(start..start + ZIP64_END_LEN)?;
        let r = input.at(start..start + ZIP64_END_LEN);
        if !(r.starts_with(&ZIP64_END_SIG)
            && le64(r, 4).checked_add(12) == Some((l - start) as u64))
        {
            return Ok(false);
        }
        input.load(start..l)?;
        Ok(true)
    };
    let mut start = None;
    if let Ok(s) = usize::try_from(recorded) {
        if fits(s)? {
            start = Some(s);
        }
    }
    if start.is_none() {
        if let Some(s) = l.checked_sub(ZIP64_END_LEN) {
            if fits(s)? {
                start = Some(s);
            }
        }
    }
    let start =
        start.ok_or_else(|| malformed("zip64 end of central directory record not found"))?;
    let r = input.at(start..l);
    let wide = [
        u64::from(le32(r, 16)),
        u64::from(le32(r, 20)),
        le64(r, 24),
        le64(r, 32),
        le64(r, 40),
        le64(r, 48),
    ];
    let escape = [
        0xffff,
        0xffff,
        0xffff,
        0xffff,
        u64::from(ESCAPED),
        u64::from(ESCAPED),
    ];
    for i in 0..6 {
        if raw[i] != escape[i] && raw[i] != wide[i] {
            return Err(malformed(
                "end of central directory record disagrees with the zip64 end record",
            ));
        }
    }
    Ok((wide, start..l))
}

/// Parses central header number `n` at `pos`.
fn parse_central(
    input: &mut Bytes,
    pos: usize,
    limit: usize,
    n: u64,
    base: u64,
) -> Result<Entry, FormatError> {
    let what = format!("central header {n}");
    let h = input.take(pos, CENTRAL_LEN, limit, &what)?.to_vec();
    let h = &h[..];
    if !h.starts_with(&CENTRAL_SIG) {
        return Err(malformed(format!("{what}: bad signature at offset {pos}")));
    }
    let name_len = usize::from(le16(h, 28));
    let extra_len = usize::from(le16(h, 30));
    let comment_len = usize::from(le16(h, 32));
    let name = pos + CENTRAL_LEN..pos + CENTRAL_LEN + name_len;
    let extra = name.end..name.end + extra_len;
    let comment = extra.end..extra.end + comment_len;
    input.take(name.start, name_len + extra_len + comment_len, limit, &what)?;
    let csize32 = le32(h, 20);
    let usize32 = le32(h, 24);
    let offset32 = le32(h, 42);
    let disk16 = le16(h, 34);
    let escaped = [usize32 == ESCAPED, csize32 == ESCAPED, offset32 == ESCAPED];
    let mut values = [u64::from(usize32), u64::from(csize32), u64::from(offset32)];
    let mut disk = u64::from(disk16);
    if escaped.contains(&true) || disk16 == 0xffff {
        let block = input.at(extra.clone());
        let missing = || malformed(format!("{what}: zip64 extra field missing or too short"));
        let data = zip64_record(block).ok_or_else(missing)?;
        let data = &block[data];
        let mut at = 0;
        for (i, &esc) in escaped.iter().enumerate() {
            if esc {
                values[i] = le64(data.get(at..at + 8).ok_or_else(missing)?, 0);
                at += 8;
            }
        }
        if disk16 == 0xffff {
            disk = u64::from(le32(data.get(at..at + 4).ok_or_else(missing)?, 0));
        }
    }
    if disk != 0 {
        return Err(malformed(format!(
            "{what}: entry on disk {disk} of a single-disk archive"
        )));
    }
    let [usize, csize, offset] = values;
    let local = offset
        .checked_add(base)
        .ok_or_else(|| malformed(format!("{what}: local header offset out of range")))?;
    Ok(Entry {
        central: pos,
        name,
        made_by: le16(h, 4),
        needed: le16(h, 6),
        flags: le16(h, 8),
        method: le16(h, 10),
        central_time: DosTime {
            time: le16(h, 12),
            date: le16(h, 14),
        },
        crc: le32(h, 16),
        csize,
        usize,
        external: le32(h, 38),
        central_extra: extra,
        comment,
        central_escaped: escaped,
        local: to_usize(local, "local header offset")?,
        local_flags: 0,
        local_time: DosTime::FLOOR,
        local_crc: 0,
        local_extra: 0..0,
        local_sizes: [None; 2],
        data: 0..0,
        descriptor: None,
        end: 0,
    })
}

/// Parses the local header, data and data descriptor of `e`, which must lie
/// before the central directory at `limit`, and checks them against the
/// central header.
fn parse_local(input: &mut Bytes, e: &mut Entry, limit: usize) -> Result<(), FormatError> {
    let name = show(input.at(e.name.clone()));
    let bad = |msg: &str| malformed(format!("entry {name}: {msg}"));
    let h = input
        .take(
            e.local,
            LOCAL_LEN,
            limit,
            &format!("local header of {name}"),
        )?
        .to_vec();
    let h = &h[..];
    if !h.starts_with(&LOCAL_SIG) {
        return Err(bad(&format!("no local header at offset {}", e.local)));
    }
    let name_len = usize::from(le16(h, 26));
    let extra_len = usize::from(le16(h, 28));
    let local_name = e.local + LOCAL_LEN..e.local + LOCAL_LEN + name_len;
    e.local_extra = local_name.end..local_name.end + extra_len;
    // As one chunk with the fixed part: the writer copies them together.
    input.load(e.local..local_name.start.saturating_add(name_len + extra_len))?;
    input.take(
        local_name.start,
        name_len + extra_len,
        limit,
        &format!("local header of {name}"),
    )?;
    if input.at(local_name) != input.at(e.name.clone()) {
        return Err(bad("local and central headers disagree about the name"));
    }
    e.local_flags = le16(h, 6);
    if le16(h, 8) != e.method {
        return Err(bad("local and central headers disagree about the method"));
    }
    if (e.local_flags ^ e.flags) & (FLAG_ENCRYPTED | FLAG_DESCRIPTOR | FLAG_UTF8) != 0 {
        return Err(bad("local and central headers disagree about the flags"));
    }
    e.local_time = DosTime {
        time: le16(h, 10),
        date: le16(h, 12),
    };
    e.local_crc = le32(h, 14);
    let raw = [le32(h, 22), le32(h, 18)];
    let block = input.at(e.local_extra.clone());
    let z64 = zip64_record(block).map(|r| &block[r]);
    let escaped = raw.map(|v| v == ESCAPED);
    let both = escaped[0] && escaped[1];
    for i in 0..2 {
        e.local_sizes[i] = if escaped[i] {
            // Both sizes when both are escaped (APPNOTE 4.5.3), else the one.
            let at = if both { 8 * i } else { 0 };
            z64.and_then(|d| d.get(at..at + 8)).map(|s| le64(s, 0))
        } else {
            Some(u64::from(raw[i]))
        };
    }
    let descriptor = e.local_flags & FLAG_DESCRIPTOR != 0;
    let want = [e.usize, e.csize];
    let sizes_agree = (0..2).all(|i| match e.local_sizes[i] {
        Some(v) => v == want[i] || (descriptor && v == 0),
        None => descriptor,
    });
    let crc_agrees = e.local_crc == e.crc || (descriptor && e.local_crc == 0);
    if !sizes_agree {
        return Err(bad("local and central headers disagree about the sizes"));
    }
    if !crc_agrees {
        return Err(bad("local and central headers disagree about the CRC32"));
    }
    if !e.encrypted() {
        if e.method == STORED && e.csize != e.usize {
            return Err(bad(
                "stored, but its compressed and uncompressed sizes differ",
            ));
        }
        if e.method == DEFLATED && e.usize > e.csize.saturating_mul(DEFLATE_MAX_RATIO) + 1024 {
            return Err(bad(&format!(
                "claims {} bytes from {} deflated bytes, more than deflate can expand to",
                e.usize, e.csize
            )));
        }
    }
    let data_end = (e.local_extra.end as u64)
        .checked_add(e.csize)
        .filter(|&end| end <= limit as u64)
        .ok_or_else(|| bad("data runs past the central directory"))? as usize;
    e.data = e.local_extra.end..data_end;
    e.end = data_end;
    let z64 = z64.is_some();
    if descriptor {
        input.load(data_end..limit.min(data_end + 24))?;
        let d = parse_descriptor(input, e, z64, limit)
            .ok_or_else(|| bad("data descriptor missing or disagrees with the central header"))?;
        e.end = data_end + d.len();
        e.descriptor = Some(d);
    }
    Ok(())
}

/// Finds the form of the data descriptor after the data of `e` whose values
/// match the central header.
fn parse_descriptor(input: &Bytes, e: &Entry, z64: bool, limit: usize) -> Option<Descriptor> {
    let at = e.data.end;
    let signed_first = input
        .get(at..limit.min(at + 4))
        .is_some_and(|b| b.starts_with(&DESCRIPTOR_SIG));
    let wide_first = z64 || e.csize >= u64::from(ESCAPED) || e.usize >= u64::from(ESCAPED);
    // The signature is optional, and a CRC32 could look like it.
    let signed: &[bool] = if signed_first {
        &[true, false]
    } else {
        &[false]
    };
    let forms = signed
        .iter()
        .flat_map(|&signed| [wide_first, !wide_first].map(|wide| Descriptor { signed, wide }));
    forms.into_iter().find(|d| {
        let Some(b) = input
            .get(at..at + d.len())
            .filter(|_| at + d.len() <= limit)
        else {
            return false;
        };
        let b = &b[4 * usize::from(d.signed)..];
        let (csize, usize) = if d.wide {
            (le64(b, 4), le64(b, 12))
        } else {
            (u64::from(le32(b, 4)), u64::from(le32(b, 8)))
        };
        le32(b, 0) == e.crc && csize == e.csize && usize == e.usize
    })
}

/// Checks that the members tile the space between the prefix and the central
/// directory; returns where the prefix ends.
fn check_layout(entries: &[Entry], directory: usize) -> Result<usize, FormatError> {
    let mut spans: Vec<(usize, usize)> = entries.iter().map(|e| (e.local, e.end)).collect();
    spans.sort_unstable();
    let prefix = spans.first().map_or(directory, |s| s.0);
    let mut at = prefix;
    for &(start, end) in &spans {
        if start < at {
            return Err(malformed(format!(
                "members overlap at offset {start} (the same bytes are claimed twice)"
            )));
        }
        if start > at {
            return Err(FormatError::Unsupported(format!(
                "{} bytes at offset {at} belong to no member (a signing block?)",
                start - at
            )));
        }
        at = end;
    }
    if at < directory {
        return Err(FormatError::Unsupported(format!(
            "{} bytes at offset {at} between the last member and the central directory \
             belong to no member (an APK signing block?)",
            directory - at
        )));
    }
    Ok(prefix)
}
