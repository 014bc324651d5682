//! Writing the planned archive: local headers, data, central directory,
//! zip64 records and the end record.

use std::ops::Range;

use super::fields::{le16, le32, put16, put32, put64, zip64_record};
use super::plan::{EntryPlan, Plan};
use super::read::Archive;
use super::{
    DEFLATED, DESCRIPTOR_SIG, ESCAPED, FLAG_DEFLATE_LEVEL, FLAG_DEFLATE_MAXIMUM, ZIP64_LOCATOR_LEN,
};
use crate::handler::{FormatError, Sink, Source};

fn too_large(what: &str) -> FormatError {
    FormatError::TooLarge(format!(
        "{what} would cross 4 GiB, and the input has no zip64 field for it"
    ))
}

/// A 32-bit field: the value, which must fit.
fn fit32(v: u64, what: &str) -> Result<u32, FormatError> {
    u32::try_from(v)
        .ok()
        .filter(|&v| v != ESCAPED)
        .ok_or_else(|| too_large(what))
}

/// Writes `values` into the first zip64 record of the extra block at
/// `out[extra]`, in order.
fn patch_zip64(out: &mut [u8], extra: Range<usize>, values: &[u64]) {
    if values.is_empty() {
        return;
    }
    if let Some(r) = zip64_record(&out[extra.clone()]) {
        let at = extra.start + r.start;
        for (i, &v) in values.iter().enumerate() {
            if 8 * i + 8 <= r.len() {
                put64(out, at + 8 * i, v);
            }
        }
    }
}

/// Counts what goes to the sink, for the offsets the central directory records.
struct Out<'s> {
    sink: &'s mut dyn Sink,
    pos: u64,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), FormatError> {
        self.sink.write_all(b).map_err(|e| write_failed(&e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn copy(&mut self, src: &dyn Source, r: Range<usize>) -> Result<(), FormatError> {
        let len = (r.end - r.start) as u64;
        self.sink
            .copy_from(src, r.start as u64, len)
            .map_err(|e| write_failed(&e))?;
        self.pos += len;
        Ok(())
    }
}

fn write_failed(e: &std::io::Error) -> FormatError {
    FormatError::malformed(format!("copy failed: {e}"))
}

impl Archive<'_> {
    /// Writes the planned archive to `sink`: headers built in memory, member
    /// data copied by range from the input (or from a member's new contents).
    pub(super) fn write(&self, plan: &Plan, sink: &mut dyn Sink) -> Result<(), FormatError> {
        let src = self.bytes.source();
        let mut out = Out { sink, pos: 0 };
        out.copy(src, 0..self.prefix)?;
        let mut offsets = Vec::with_capacity(plan.entries.len());
        let mut buf = Vec::new();
        for p in &plan.entries {
            offsets.push(out.pos - self.base);
            self.write_local(&mut out, &mut buf, p)?;
        }
        let directory = out.pos - self.base;
        for (p, &offset) in plan.entries.iter().zip(&offsets) {
            buf.clear();
            self.write_central(&mut buf, p, offset)?;
            out.put(&buf)?;
        }
        let directory_size = out.pos - self.base - directory;
        let record = out.pos - self.base;
        let count = plan.entries.len() as u64;
        let mut tail = Vec::new();
        if let Some(z) = &self.zip64 {
            tail.extend_from_slice(self.at(z.record.clone()));
            put64(&mut tail, 24, count);
            put64(&mut tail, 32, count);
            put64(&mut tail, 40, directory_size);
            put64(&mut tail, 48, directory);
            let at = tail.len();
            tail.extend_from_slice(self.at(z.locator..z.locator + ZIP64_LOCATOR_LEN));
            put64(&mut tail, at + 8, record);
        }
        let at = tail.len();
        let rec = self.at(self.end..self.bytes.len());
        tail.extend_from_slice(rec);
        for field in [8, 10] {
            // Fewer entries than read (dropped ones): never more, so it fits.
            if le16(rec, field) != 0xffff {
                put16(&mut tail, at + field, count as u16);
            }
        }
        if le32(rec, 12) != ESCAPED {
            let v = fit32(directory_size, "the central directory")?;
            put32(&mut tail, at + 12, v);
        }
        if le32(rec, 16) != ESCAPED {
            let v = fit32(directory, "the central directory offset")?;
            put32(&mut tail, at + 16, v);
        }
        out.put(&tail)
    }

    fn write_local(
        &self,
        out: &mut Out,
        buf: &mut Vec<u8>,
        p: &EntryPlan,
    ) -> Result<(), FormatError> {
        let e = &self.entries[p.index];
        buf.clear();
        buf.extend_from_slice(self.at(e.local..e.local_extra.start));
        put16(buf, 10, p.local_time.time);
        put16(buf, 12, p.local_time.date);
        put16(buf, 28, p.local_extra.len() as u16);
        let extra = buf.len()..buf.len() + p.local_extra.len();
        buf.extend_from_slice(&p.local_extra);
        let Some(new) = &p.new_data else {
            out.put(buf)?;
            return out.copy(self.bytes.source(), e.data.start..e.end);
        };
        let descriptor = e.descriptor.is_some();
        if e.method == DEFLATED {
            let flags = (e.local_flags & !FLAG_DEFLATE_LEVEL) | FLAG_DEFLATE_MAXIMUM;
            put16(buf, 6, flags);
        }
        if !(descriptor && e.local_crc == 0) {
            put32(buf, 14, new.crc);
        }
        let mut slots = Vec::new();
        for (i, (field, value)) in [(22, new.usize), (18, new.csize)].into_iter().enumerate() {
            let raw = le32(buf, field);
            let old = e.local_sizes[i];
            let keep_zero = descriptor && old == Some(0);
            if raw == ESCAPED {
                if old.is_some() {
                    slots.push(if keep_zero { 0 } else { value });
                }
            } else if !keep_zero {
                put32(buf, field, fit32(value, "a member")?);
            }
        }
        patch_zip64(buf, extra, &slots);
        out.put(buf)?;
        new.data.write_to(out.sink).map_err(|e| write_failed(&e))?;
        out.pos += new.csize;
        buf.clear();
        if let Some(d) = e.descriptor {
            if d.signed {
                buf.extend_from_slice(&DESCRIPTOR_SIG);
            }
            buf.extend_from_slice(&new.crc.to_le_bytes());
            if d.wide {
                buf.extend_from_slice(&new.csize.to_le_bytes());
                buf.extend_from_slice(&new.usize.to_le_bytes());
            } else {
                buf.extend_from_slice(&fit32(new.csize, "a member")?.to_le_bytes());
                buf.extend_from_slice(&fit32(new.usize, "a member")?.to_le_bytes());
            }
        }
        out.put(buf)
    }

    fn write_central(
        &self,
        out: &mut Vec<u8>,
        p: &EntryPlan,
        offset: u64,
    ) -> Result<(), FormatError> {
        let e = &self.entries[p.index];
        let at = out.len();
        out.extend_from_slice(self.at(e.central..e.central_extra.start));
        put16(out, at + 4, p.made_by);
        put16(out, at + 12, p.central_time.time);
        put16(out, at + 14, p.central_time.date);
        put16(out, at + 30, p.central_extra.len() as u16);
        put32(out, at + 38, p.external);
        let (crc, csize, usize) = match &p.new_data {
            Some(new) => {
                if e.method == DEFLATED {
                    let flags = (e.flags & !FLAG_DEFLATE_LEVEL) | FLAG_DEFLATE_MAXIMUM;
                    put16(out, at + 8, flags);
                }
                (new.crc, new.csize, new.usize)
            }
            None => (e.crc, e.csize, e.usize),
        };
        put32(out, at + 16, crc);
        let mut slots = Vec::new();
        for (i, (field, value, what)) in [
            (24, usize, "a member"),
            (20, csize, "a member"),
            (42, offset, "a member's offset"),
        ]
        .into_iter()
        .enumerate()
        {
            if e.central_escaped[i] {
                slots.push(value);
            } else {
                put32(out, at + field, fit32(value, what)?);
            }
        }
        let extra = out.len()..out.len() + p.central_extra.len();
        out.extend_from_slice(&p.central_extra);
        patch_zip64(out, extra, &slots);
        out.extend_from_slice(self.at(e.comment.clone()));
        Ok(())
    }
}
