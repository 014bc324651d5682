//! Little-endian fields, bounds-checked slices and extra-field records: the
//! byte-level helpers shared by reading, planning and writing.

use std::ops::Range;

use super::EXTRA_ZIP64;
use crate::handler::FormatError;

pub(super) fn malformed(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

pub(super) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(super) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub(super) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn to_usize(v: u64, what: &str) -> Result<usize, FormatError> {
    usize::try_from(v).map_err(|_| malformed(format!("{what} {v} is out of range")))
}

/// The records of an extra field block: `(id, data range)` relative to the
/// block, and where the parseable records end (an unparseable tail follows).
pub(super) fn extra_records(extra: &[u8]) -> (Vec<(u16, Range<usize>)>, usize) {
    let mut records = Vec::new();
    let mut pos = 0;
    while let Some(head) = extra.get(pos..pos + 4) {
        let id = le16(head, 0);
        let len = usize::from(le16(head, 2));
        let data = pos + 4..pos + 4 + len;
        if data.end > extra.len() {
            break;
        }
        records.push((id, data.clone()));
        pos = data.end;
    }
    (records, pos)
}

/// The data of the first zip64 record of an extra field block.
pub(super) fn zip64_record(extra: &[u8]) -> Option<Range<usize>> {
    extra_records(extra)
        .0
        .into_iter()
        .find(|(id, _)| *id == EXTRA_ZIP64)
        .map(|(_, r)| r)
}

/// A name for messages.
pub(super) fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
