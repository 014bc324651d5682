//! ISO 9660 images (ECMA-119), with the Joliet supplementary tree and the
//! Rock Ridge (RRIP 1.12, over SUSP 1.12) extensions where present. Claimed by
//! `CD001` and version 1 at offset `0x8001`, the first volume descriptor; an
//! MBR or GPT at offset 0 (isohybrid images) does not matter.
//!
//! Normalized, in place (the file size and every other byte stay as they are),
//! each clamped to the epoch (`min(instant, epoch)`):
//! - in each primary (type 1) and supplementary (type 2, Joliet and
//!   ISO 9660:1999) volume descriptor: the volume creation, modification and
//!   effective dates (17-byte `YYYYMMDDHHMMSScc` + zone), and the root
//!   directory record's recording date;
//! - every directory record's 7-byte recording date, in every directory of
//!   each of those trees (each directory's extent is walked);
//! - Rock Ridge `TF` entries (creation, modify, access, attributes, backup and
//!   effective times, 7- or 17-byte form per flag bit 7) in the System Use
//!   area of each record and in its continuation areas (`CE`), in trees whose
//!   root `.` record starts with the SUSP `SP` entry.
//!
//! A clamped value is written in UTC: the instant is the epoch, the zone byte
//! 0 (15-minute units), hundredths `00`. An instant at or before the epoch is
//! kept as written, zone and all. The "not specified" forms (16 `'0'` digits
//! with zone 0, or 17 NUL bytes; seven NUL bytes for a recording date) are
//! left alone.
//!
//! Left alone: expiration dates (the volume's and `TF`'s), the El Torito boot
//! record and boot catalog, path tables (they hold no dates), file data, and
//! every other field. Validation comes first: descriptors must carry
//! `CD001`/version 1 up to a terminator (type 255), the logical block size
//! must be a power of two from 512 to 2048 and agree in both byte orders as do
//! extents and lengths, the volume must fit the file, directory records must
//! stay inside their sector and extent, SUSP entries inside their area, and
//! every date to be read must be a valid date. Anything else is `Malformed`
//! and the image is left untouched.
//!
//! The image is read by position, never whole: the descriptors, each
//! directory's extent and each continuation area as the walk reaches them.
//! The new dates are kept as patches and written over a copy of the input.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use crate::bytes::{u16_be, u16_le, u32_be, u32_le};
use crate::dates::{civil_from_days, days_from_civil};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome, Sink, Source, Written};
use crate::handlers::held::read;

/// The ISO 9660 handler.
pub struct Iso9660;

/// Where the volume descriptors start (16 sectors of 2048 bytes).
const VD_START: usize = 0x8000;
const VD_LEN: usize = 2048;
/// How many head bytes [`Iso9660::sniff`] needs: the first descriptor whole.
pub const SNIFF_LEN: usize = VD_START + VD_LEN;
/// More descriptors than this before a terminator is not a real image.
const MAX_DESCRIPTORS: usize = 64;
/// Bounds the walk of one image: directories and continuation areas.
const MAX_DIRS: usize = 1 << 20;
const MAX_CE: usize = 1 << 20;

fn bad(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

/// A both-endian 32-bit field (LE then BE), which must agree.
fn both32(b: &[u8], at: usize, what: &str) -> Result<u32, FormatError> {
    let (Some(le), Some(be)) = (u32_le(b, at), u32_be(b, at + 4)) else {
        return Err(bad(format!("{what}: truncated")));
    };
    if le != be {
        return Err(bad(format!(
            "{what}: both-endian halves differ ({le} vs {be})"
        )));
    }
    Ok(le)
}

fn both16(b: &[u8], at: usize, what: &str) -> Result<u16, FormatError> {
    let (Some(le), Some(be)) = (u16_le(b, at), u16_be(b, at + 2)) else {
        return Err(bad(format!("{what}: truncated")));
    };
    if le != be {
        return Err(bad(format!(
            "{what}: both-endian halves differ ({le} vs {be})"
        )));
    }
    Ok(le)
}

/// Seconds since 1970 of a UTC civil time.
fn unix(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec)
}

fn valid_civil(month: u32, day: u32, hour: u32, min: u32, sec: u32, tz: i8) -> bool {
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && min < 60
        && sec <= 60
        && (-48..=52).contains(&tz)
}

/// The 7-byte recording date `at` in `buf`: `Ok(None)` when not specified.
/// Returns the new bytes when it must be clamped.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // each part of a non-negative time of day or date, < 60
fn clamp7(field: &[u8], epoch: i64) -> Result<Option<([u8; 7], i64)>, FormatError> {
    if field.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let [y, mo, d, h, mi, s, tz] = [0, 1, 2, 3, 4, 5, 6].map(|i| field[i]);
    let tz = i8::from_ne_bytes([tz]);
    let (mo, d, h, mi, s) = (
        u32::from(mo),
        u32::from(d),
        u32::from(h),
        u32::from(mi),
        u32::from(s),
    );
    if !valid_civil(mo, d, h, mi, s, tz) {
        return Err(bad(format!("invalid recording date {field:02x?}")));
    }
    let instant = unix(1900 + i64::from(y), mo, d, h, mi, s) - i64::from(tz) * 900;
    if instant <= epoch {
        return Ok(None);
    }
    let days = epoch.div_euclid(86_400);
    let rem = epoch.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let Ok(years) = u8::try_from(year - 1900) else {
        // The epoch is not representable (before 1900 or after 2155): a later
        // instant cannot exist after 2155, and the epoch is never before 1970.
        return Ok(None);
    };
    let new = [
        years,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
        0,
    ];
    Ok(Some((new, instant)))
}

/// The 17-byte dec-datetime: `Ok(None)` when not specified or not later.
fn clamp17(field: &[u8], epoch: i64) -> Result<Option<([u8; 17], i64)>, FormatError> {
    if field.iter().all(|&b| b == 0) || (field[..16].iter().all(|&b| b == b'0') && field[16] == 0) {
        return Ok(None);
    }
    if !field[..16].iter().all(u8::is_ascii_digit) {
        return Err(bad(format!(
            "date {:?} is not 16 digits",
            String::from_utf8_lossy(&field[..16])
        )));
    }
    let n = |a: usize, b: usize| {
        field[a..b]
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let (year, mo, d, h, mi, s, cs) = (
        n(0, 4),
        n(4, 6),
        n(6, 8),
        n(8, 10),
        n(10, 12),
        n(12, 14),
        n(14, 16),
    );
    let tz = i8::from_ne_bytes([field[16]]);
    if year == 0 || !valid_civil(mo, d, h, mi, s, tz) {
        return Err(bad(format!(
            "invalid date {:?}",
            String::from_utf8_lossy(&field[..16])
        )));
    }
    let instant = unix(i64::from(year), mo, d, h, mi, s) - i64::from(tz) * 900;
    if instant < epoch || (instant == epoch && cs == 0) {
        return Ok(None);
    }
    let days = epoch.div_euclid(86_400);
    let rem = epoch.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return Ok(None);
    }
    let text = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    Ok(Some((out, instant)))
}

/// The edit plan: the patches, in the order they were made, and notes.
struct Plan<'a> {
    input: &'a dyn Source,
    len: usize,
    patches: Vec<(usize, Vec<u8>)>,
    changes: Vec<Change>,
    epoch: i64,
    block: usize,
}

impl Plan<'_> {
    /// Writes `new` at `at` over `old`, the bytes there; the note gives the
    /// old instant and the epoch in Unix seconds, so `strip-nd diff` can pair
    /// the field across two builds.
    fn write(
        &mut self,
        at: usize,
        old: &[u8],
        new: &[u8],
        instant: i64,
        what: impl FnOnce() -> String,
    ) {
        if old == new {
            return;
        }
        self.patches.push((at, new.to_vec()));
        self.changes.push(Change::set(
            format!("{} at {at:#x}", what()),
            "",
            instant,
            self.epoch,
        ));
    }

    /// The 7-byte date `field`, found at `at`.
    fn date7(
        &mut self,
        at: usize,
        field: &[u8],
        what: impl FnOnce() -> String,
    ) -> Result<(), FormatError> {
        if let Some((new, old)) = clamp7(&field[..7], self.epoch)? {
            self.write(at, &field[..7], &new, old, what);
        }
        Ok(())
    }

    /// The 17-byte date `field`, found at `at`.
    fn date17(
        &mut self,
        at: usize,
        field: &[u8],
        what: impl FnOnce() -> String,
    ) -> Result<(), FormatError> {
        if let Some((new, old)) = clamp17(&field[..17], self.epoch)? {
            self.write(at, &field[..17], &new, old, what);
        }
        Ok(())
    }

    /// The byte range of `len` bytes at logical block `lba`, inside the file.
    fn extent(&self, lba: u32, len: u32, what: &str) -> Result<usize, FormatError> {
        let start = (lba as usize)
            .checked_mul(self.block)
            .filter(|s| s.checked_add(len as usize).is_some_and(|e| e <= self.len))
            .ok_or_else(|| bad(format!("{what}: extent {lba}+{len} lies outside the image")))?;
        Ok(start)
    }

    /// `range` of the image.
    fn read(&self, range: Range<usize>) -> Result<Vec<u8>, FormatError> {
        read(self.input, range).map(Cow::into_owned)
    }

    /// Walks a SUSP area, `area` found at `base`, clamping `TF` times and
    /// following `CE` (each continuation area read when it is reached).
    fn susp(&mut self, area: &[u8], base: usize, ce_budget: &mut usize) -> Result<(), FormatError> {
        let mut areas: Vec<(Cow<[u8]>, usize)> = vec![(Cow::Borrowed(area), base)];
        let mut seen = HashSet::new();
        while let Some((bytes, base)) = areas.pop() {
            let end = base + bytes.len();
            let mut at = base;
            while end - at >= 4 {
                let b = &bytes[at - base..];
                let sig = [b[0], b[1]];
                let len = usize::from(b[2]);
                if sig == [0, 0] && len == 0 {
                    break; // zero padding after the last entry
                }
                if len < 4 || at + len > end {
                    return Err(bad(format!("SUSP entry at {at:#x}: bad length {len}")));
                }
                let entry = &b[..len];
                match &sig {
                    b"ST" => break,
                    b"TF" => self.tf(at, entry)?,
                    b"CE" if len >= 28 => {
                        let lba = both32(entry, 4, "CE block")?;
                        let off = both32(entry, 12, "CE offset")?;
                        let clen = both32(entry, 20, "CE length")?;
                        let start = self.extent(lba, 0, "CE")?;
                        let s = start
                            .checked_add(off as usize)
                            .filter(|s| s.checked_add(clen as usize).is_some_and(|e| e <= self.len))
                            .ok_or_else(|| bad("CE: continuation area outside the image"))?;
                        if seen.insert(s) {
                            *ce_budget = ce_budget
                                .checked_sub(1)
                                .ok_or_else(|| bad("too many continuation areas"))?;
                            areas.push((Cow::Owned(self.read(s..s + clen as usize)?), s));
                        }
                    }
                    _ => {}
                }
                at += len;
            }
        }
        Ok(())
    }

    /// A Rock Ridge `TF` entry, `entry` found at `at`.
    fn tf(&mut self, at: usize, entry: &[u8]) -> Result<(), FormatError> {
        const NAMES: [&str; 7] = [
            "creation",
            "modify",
            "access",
            "attributes",
            "backup",
            "expiration",
            "effective",
        ];
        let len = entry.len();
        let flags = entry[4];
        let size = if flags & 0x80 != 0 { 17 } else { 7 };
        let count = (flags & 0x7f).count_ones() as usize;
        if len < 5 + count * size {
            return Err(bad(format!("TF at {at:#x}: {len} bytes for {count} times")));
        }
        let mut p = 5;
        for (bit, name) in NAMES.iter().enumerate() {
            if flags & (1 << bit) == 0 {
                continue;
            }
            if *name != "expiration" {
                let what = || format!("Rock Ridge TF {name} time");
                if size == 17 {
                    self.date17(at + p, &entry[p..], what)?;
                } else {
                    self.date7(at + p, &entry[p..], what)?;
                }
            }
            p += size;
        }
        Ok(())
    }

    /// The System Use area of the directory record at `rec` (length `len`).
    fn sua(rec: &[u8]) -> usize {
        let fi = usize::from(rec[32]);
        33 + fi + usize::from(fi % 2 == 0)
    }

    /// Walks one directory tree from the root record `root` (of its
    /// volume descriptor), reading each directory's extent whole.
    fn tree(&mut self, root: &[u8], label: &str, dirs: &mut usize) -> Result<(), FormatError> {
        let lba = both32(root, 2, "root extent")?;
        let len = both32(root, 10, "root length")?;
        // SUSP is in use when the root's "." record starts with SP.
        let start = self.extent(lba, len, label)?;
        let mut rr = false;
        if len >= 34 {
            let r = self.read(start..start + len as usize)?;
            let rl = usize::from(r[0]);
            if rl >= 34 && rl <= len as usize {
                let s = Self::sua(&r[..rl]);
                let sp = r.get(s..rl).unwrap_or(&[]);
                if sp.len() >= 7 && sp.starts_with(b"SP") && sp[4..6] == [0xbe, 0xef] {
                    if sp[6] != 0 {
                        return Err(FormatError::Unsupported(format!(
                            "{label}: SUSP skips {} bytes of each System Use area",
                            sp[6]
                        )));
                    }
                    rr = true;
                }
            }
        }
        let mut ce_budget = MAX_CE;
        let mut stack = vec![(lba, len)];
        let mut seen = HashSet::new();
        seen.insert(lba);
        while let Some((lba, len)) = stack.pop() {
            *dirs = dirs
                .checked_sub(1)
                .ok_or_else(|| bad("too many directories"))?;
            let start = self.extent(lba, len, label)?;
            let end = start + len as usize;
            let dir = self.read(start..end)?;
            let mut at = start;
            while at < end {
                let rl = usize::from(dir[at - start]);
                let sector_end =
                    (start + (at - start) / self.block * self.block + self.block).min(end);
                if rl == 0 {
                    at = sector_end;
                    continue;
                }
                if rl < 34 || at + rl > sector_end {
                    return Err(bad(format!(
                        "{label}: directory record at {at:#x} of {rl} bytes crosses its sector"
                    )));
                }
                let rec = &dir[at - start..at - start + rl];
                let fi = usize::from(rec[32]);
                if 33 + fi > rl {
                    return Err(bad(format!("{label}: record at {at:#x}: name overruns it")));
                }
                let child = both32(rec, 2, "extent")?;
                let clen = both32(rec, 10, "data length")?;
                both16(rec, 28, "volume sequence number")?;
                let dot = fi == 1 && (rec[33] == 0 || rec[33] == 1);
                self.extent(child, if rec[25] & 2 != 0 { clen } else { 0 }, label)?;
                self.date7(at + 18, &rec[18..], || format!("{label}: recording date"))?;
                if rr {
                    let s = Self::sua(rec);
                    if s < rl {
                        self.susp(&rec[s..], at + s, &mut ce_budget)?;
                    }
                }
                if rec[25] & 2 != 0 && !dot && seen.insert(child) {
                    stack.push((child, clen));
                }
                at += rl;
            }
        }
        Ok(())
    }
}

/// Copies `input` to `out` with `patches` (made in this order) applied.
/// Patches that overlap are applied together, in the order they were made,
/// as writing them one after the other into a copy would.
fn write_patched(
    input: &dyn Source,
    patches: &[(usize, Vec<u8>)],
    out: &mut dyn Sink,
) -> Result<(), FormatError> {
    let wrote = |r: std::io::Result<()>| {
        r.map_err(|e| FormatError::TooLarge(format!("cannot write the new image: {e}")))
    };
    let mut order: Vec<usize> = (0..patches.len()).collect();
    order.sort_by_key(|&i| patches[i].0);
    let mut pos = 0;
    let mut k = 0;
    while k < order.len() {
        let start = patches[order[k]].0;
        let mut end = start + patches[order[k]].1.len();
        let mut j = k + 1;
        while j < order.len() && patches[order[j]].0 < end {
            end = end.max(patches[order[j]].0 + patches[order[j]].1.len());
            j += 1;
        }
        wrote(out.copy_from(input, pos as u64, (start - pos) as u64))?;
        let mut window = read(input, start..end)?.into_owned();
        let mut made = order[k..j].to_vec();
        made.sort_unstable();
        for i in made {
            let (at, new) = &patches[i];
            window[at - start..at - start + new.len()].copy_from_slice(new);
        }
        wrote(out.write_all(&window))?;
        pos = end;
        k = j;
    }
    wrote(out.copy_from(input, pos as u64, input.len() - pos as u64))
}

impl Handler for Iso9660 {
    fn name(&self) -> &'static str {
        "iso9660"
    }

    fn describe(&self) -> &'static str {
        "ISO 9660 image (Joliet, Rock Ridge), CD001 at 0x8001: clamps volume and directory dates, TF times; data untouched"
    }

    fn sniff_len(&self) -> usize {
        SNIFF_LEN
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.len() >= VD_START + 7
            && &head[VD_START + 1..VD_START + 6] == b"CD001"
            && head[VD_START + 6] == 1
    }

    fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        // A head of at most the common sniff length cannot hold the first
        // volume descriptor.
        const TOO_SHORT: bool = VD_START + 7 > crate::handler::SNIFF_LEN;
        TOO_SHORT || (prefix.len() >= VD_START + 7 && !self.sniff(prefix, ctx))
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        crate::handler::normalize_through(self, input, ctx)
    }

    fn streams(&self) -> bool {
        true
    }

    /// Reads the image by position, never whole: its descriptors, each
    /// directory's extent and each continuation area; the rest of the
    /// image is copied with the new dates patched in.
    fn normalize_to(
        &self,
        input: &dyn Source,
        out: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        if input.len() > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        let len = usize::try_from(input.len())
            .map_err(|_| FormatError::TooLarge(format!("{} bytes", input.len())))?;
        let epoch = ctx.epoch_value().as_i64();
        // Read the descriptors up to the terminator.
        let mut trees = Vec::new();
        let mut block = None;
        let mut terminated = false;
        for i in 0..MAX_DESCRIPTORS {
            let at = VD_START + i * VD_LEN;
            if at + VD_LEN > len {
                return Err(bad("volume descriptors end before the terminator"));
            }
            let vd = read(input, at..at + VD_LEN)?.into_owned();
            if &vd[1..6] != b"CD001" || vd[6] != 1 {
                return Err(bad(format!("volume descriptor {i}: no CD001, version 1")));
            }
            match vd[0] {
                255 => {
                    terminated = true;
                    break;
                }
                1 | 2 => {
                    let bs = usize::from(both16(&vd, 128, "logical block size")?);
                    if !bs.is_power_of_two() || !(512..=2048).contains(&bs) {
                        return Err(bad(format!("logical block size {bs}")));
                    }
                    if *block.get_or_insert(bs) != bs {
                        return Err(bad("descriptors disagree on the logical block size"));
                    }
                    let blocks = both32(&vd, 80, "volume space size")?;
                    if (blocks as usize).saturating_mul(bs) > len {
                        return Err(bad(format!(
                            "truncated: the volume has {blocks} blocks of {bs}, the file {len} bytes"
                        )));
                    }
                    if vd[156] != 34 {
                        return Err(bad(format!("volume descriptor {i}: root record length")));
                    }
                    let label = if vd[0] == 1 {
                        "primary".to_string()
                    } else {
                        format!("supplementary {i}")
                    };
                    trees.push((at, label, vd));
                }
                0 | 3 => {} // boot record (El Torito), partition: left alone
                t => return Err(bad(format!("volume descriptor {i}: unknown type {t}"))),
            }
        }
        if !terminated {
            return Err(bad("no volume descriptor set terminator"));
        }
        let Some(block) = block else {
            return Err(bad("no primary volume descriptor"));
        };
        if trees.iter().all(|(_, _, vd)| vd[0] != 1) {
            return Err(bad("no primary volume descriptor"));
        }
        let mut plan = Plan {
            input,
            len,
            patches: Vec::new(),
            changes: Vec::new(),
            epoch,
            block,
        };
        let mut dirs = MAX_DIRS;
        for (at, label, vd) in &trees {
            for (off, name) in [(813, "creation"), (830, "modification"), (864, "effective")] {
                plan.date17(at + off, &vd[off..], || {
                    format!("{label} volume {name} date")
                })?;
            }
            plan.date7(at + 156 + 18, &vd[156 + 18..], || {
                format!("{label} root record date")
            })?;
            plan.tree(&vd[156..156 + 34], label, &mut dirs)?;
        }
        if plan.patches.is_empty() {
            return Ok(Written::Unchanged);
        }
        write_patched(input, &plan.patches, out)?;
        Ok(Written::Rewritten(plan.changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: i64 = 315_532_800; // 1980-01-01 00:00:00 UTC

    #[test]
    fn seven_byte_dates_clamp_by_instant_and_write_utc() {
        // 2026-03-04 05:06:07 +01:00 is later: the epoch, in UTC.
        let later = [126, 3, 4, 5, 6, 7, 4];
        // The old instant comes back for the note: 04:06:07 UTC.
        assert_eq!(
            clamp7(&later, EPOCH).unwrap(),
            Some(([80, 1, 1, 0, 0, 0, 0], 1_772_597_167))
        );
        // 1980-01-01 00:30 at +01:00 is 1979-12-31 23:30 UTC: earlier, kept.
        assert_eq!(clamp7(&[80, 1, 1, 0, 30, 0, 4], EPOCH).unwrap(), None);
        // ... but at -01:00 it is 01:30 UTC: later.
        assert!(
            clamp7(&[80, 1, 1, 0, 30, 0, 0xfc], EPOCH)
                .unwrap()
                .is_some()
        );
        assert_eq!(clamp7(&[0; 7], EPOCH).unwrap(), None);
        assert_eq!(clamp7(&[80, 1, 1, 0, 0, 0, 0], EPOCH).unwrap(), None);
        assert!(clamp7(&[126, 13, 4, 5, 6, 7, 0], EPOCH).is_err());
    }

    #[test]
    fn seventeen_byte_dates_clamp_and_unspecified_stays() {
        let mut later = *b"2026030405060712\x00";
        later[16] = 8; // +02:00
        assert_eq!(
            clamp17(&later, EPOCH).unwrap(),
            Some((*b"1980010100000000\x00", 1_772_593_567))
        );
        assert_eq!(clamp17(b"0000000000000000\x00", EPOCH).unwrap(), None);
        assert_eq!(clamp17(&[0; 17], EPOCH).unwrap(), None);
        assert_eq!(clamp17(b"1979123123595999\x00", EPOCH).unwrap(), None);
        // The epoch's own second with hundredths is later: clamped to :00.00.
        assert!(clamp17(b"1980010100000050\x00", EPOCH).unwrap().is_some());
        assert_eq!(clamp17(b"1980010100000000\x00", EPOCH).unwrap(), None);
        assert!(clamp17(b"20260304x5060712\x00", EPOCH).is_err());
    }

    #[test]
    fn sniff_needs_cd001_at_0x8001() {
        let cfg = crate::config::Config::with_epoch(0);
        let ctx = cfg.context(std::path::Path::new("x.iso"));
        let mut head = vec![0u8; SNIFF_LEN];
        head[0] = 0x33; // an MBR's code does not matter
        head[VD_START..VD_START + 7].copy_from_slice(b"\x01CD001\x01");
        assert!(Iso9660.sniff(&head, &ctx));
        assert!(!Iso9660.sniff(&head[..4096], &ctx));
        head[VD_START + 6] = 2;
        assert!(!Iso9660.sniff(&head, &ctx));
    }
}
