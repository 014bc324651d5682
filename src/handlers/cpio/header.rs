//! The four header layouts, their fields, and the parser that cuts an input
//! into entries.

use std::ops::Range;

use crate::handler::{COPY_CHUNK, FormatError, Source};
use crate::handlers::held::read;

pub(super) const TRAILER: &[u8] = b"TRAILER!!!";
pub(super) const S_IFMT: u64 = 0o170_000;
pub(super) const S_IFREG: u64 = 0o100_000;
pub(super) const S_IFDIR: u64 = 0o040_000;
pub(super) const S_IFCHR: u64 = 0o020_000;
pub(super) const S_IFBLK: u64 = 0o060_000;

/// `070707` as a 16-bit number, the magic of the binary format.
const BIN_MAGIC: u16 = 0o070_707;

/// How a binary header starts, little- and big-endian: `BIN_MAGIC`.
pub(super) const BIN_STARTS: [&[u8]; 2] = [&BIN_MAGIC.to_le_bytes(), &BIN_MAGIC.to_be_bytes()];

/// The byte order of a binary header's 16-bit words.
pub(super) use crate::bytes::Endian;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `070701`.
    Newc,
    /// `070702`: newc with a checksum of the data.
    Crc,
    /// `070707`, octal.
    Odc,
    /// The old binary format: 13 16-bit words in the writer's byte order.
    Bin(Endian),
}

/// Header fields in the order of the newc header (after the magic).
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    Ino,
    Mode,
    Uid,
    Gid,
    Nlink,
    Mtime,
    FileSize,
    DevMajor,
    DevMinor,
    RdevMajor,
    RdevMinor,
    NameSize,
    Check,
}

/// The fields `parse` reads besides the sizes, so a bad digit anywhere is
/// reported before anything is rewritten.
const CHECKED: [Field; 11] = [
    Field::Ino,
    Field::Mode,
    Field::Uid,
    Field::Gid,
    Field::Nlink,
    Field::Mtime,
    Field::DevMajor,
    Field::DevMinor,
    Field::RdevMajor,
    Field::RdevMinor,
    Field::Check,
];

impl Format {
    /// The format of the header at the start of `bytes`, by its magic.
    pub(super) fn of(bytes: &[u8]) -> Option<Format> {
        match bytes.get(..6) {
            Some(b"070701") => return Some(Format::Newc),
            Some(b"070702") => return Some(Format::Crc),
            Some(b"070707") => return Some(Format::Odc),
            _ => {}
        }
        if Endian::Little.u16(bytes, 0)? == BIN_MAGIC {
            Some(Format::Bin(Endian::Little))
        } else if Endian::Big.u16(bytes, 0)? == BIN_MAGIC {
            Some(Format::Bin(Endian::Big))
        } else {
            None
        }
    }

    pub(super) fn header_len(self) -> usize {
        match self {
            Format::Newc | Format::Crc => 110,
            Format::Odc => 76,
            Format::Bin(_) => 26,
        }
    }

    /// Whether a hard-linked file's data comes once, with its last link
    /// (newc), rather than with every link (odc and binary).
    pub(super) fn data_with_last_link(self) -> bool {
        matches!(self, Format::Newc | Format::Crc)
    }

    /// Where a field lives in the header; `None` when the format lacks it.
    /// In odc and binary headers, `DevMajor` stands for the single `dev` and
    /// `RdevMajor` for `rdev`.
    pub(super) fn range(self, f: Field) -> Option<Range<usize>> {
        let (at, len) = match self {
            Format::Newc | Format::Crc => (6 + 8 * f as usize, 8),
            Format::Odc => match f {
                Field::DevMajor => (6, 6),
                Field::Ino => (12, 6),
                Field::Mode => (18, 6),
                Field::Uid => (24, 6),
                Field::Gid => (30, 6),
                Field::Nlink => (36, 6),
                Field::RdevMajor => (42, 6),
                Field::Mtime => (48, 11),
                Field::NameSize => (59, 6),
                Field::FileSize => (65, 11),
                Field::DevMinor | Field::RdevMinor | Field::Check => return None,
            },
            // Byte offsets of the words after the magic; `mtime` and
            // `filesize` take two words each.
            Format::Bin(_) => match f {
                Field::DevMajor => (2, 2),
                Field::Ino => (4, 2),
                Field::Mode => (6, 2),
                Field::Uid => (8, 2),
                Field::Gid => (10, 2),
                Field::Nlink => (12, 2),
                Field::RdevMajor => (14, 2),
                Field::Mtime => (16, 4),
                Field::NameSize => (20, 2),
                Field::FileSize => (22, 4),
                Field::DevMinor | Field::RdevMinor | Field::Check => return None,
            },
        };
        Some(at..at + len)
    }

    /// Aligns an offset as the format pads names and data.
    pub(super) fn align(self, at: usize) -> usize {
        match self {
            Format::Newc | Format::Crc => at.next_multiple_of(4),
            Format::Odc => at,
            Format::Bin(_) => at.next_multiple_of(2),
        }
    }

    /// Reads a field's bytes: hex or octal digits (`None` if one is not a
    /// digit), or 16-bit words, most significant word first, each in the
    /// archive's byte order (the "PDP-endian" `mtime` and `filesize`).
    pub(super) fn decode(self, field: &[u8]) -> Option<u64> {
        let radix = match self {
            Format::Newc | Format::Crc => 16,
            Format::Odc => 8,
            Format::Bin(endian) => {
                return Some(field.chunks_exact(2).fold(0, |acc, w| {
                    let word = endian.u16(w, 0).expect("chunks of 2 bytes");
                    acc << 16 | u64::from(word)
                }));
            }
        };
        let text = std::str::from_utf8(field).ok()?;
        if !text.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        u64::from_str_radix(text, radix).ok()
    }

    /// Writes `value` into `header[r]` in the field's layout (digit count,
    /// the header's letter case for hex, byte order). `Err` names the field's
    /// capacity when the value does not fit.
    pub(super) fn encode(
        self,
        header: &mut [u8],
        r: Range<usize>,
        value: u64,
    ) -> Result<(), String> {
        let width = r.len();
        if let Format::Bin(endian) = self {
            let bits = 8 * width;
            if value >> bits != 0 {
                return Err(format!("{bits}-bit field"));
            }
            for (i, w) in header[r].chunks_exact_mut(2).rev().enumerate() {
                let word = (value >> (16 * i)) as u16;
                w.copy_from_slice(&endian.u16_bytes(word));
            }
            return Ok(());
        }
        let text = match self {
            Format::Odc => format!("{value:0width$o}"),
            _ if header.iter().any(u8::is_ascii_lowercase) => format!("{value:0width$x}"),
            _ => format!("{value:0width$X}"),
        };
        if text.len() > width {
            return Err(format!("{width}-digit field"));
        }
        header[r].copy_from_slice(text.as_bytes());
        Ok(())
    }
}

/// One entry: its header and name, and where it lies in the input.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) start: usize,
    pub(super) format: Format,
    /// The header's bytes.
    pub(super) head: Vec<u8>,
    /// The name without its NUL.
    pub(super) name: Vec<u8>,
    pub(super) data: Range<usize>,
    /// The end of the data's padding.
    pub(super) end: usize,
}

/// The pieces of the file: entries, and the zero runs after trailers.
#[derive(Debug)]
pub(super) enum Item {
    Entry(Entry),
    Padding(Range<usize>),
}

impl Entry {
    pub(super) fn header(&self) -> &[u8] {
        &self.head
    }

    /// A field's value (0 when the format lacks it; `parse` checked the rest).
    pub(super) fn get(&self, f: Field) -> u64 {
        self.format
            .range(f)
            .map_or(0, |r| self.format.decode(&self.head[r]).unwrap_or(0))
    }

    pub(super) fn is_trailer(&self) -> bool {
        self.name == TRAILER
    }

    pub(super) fn kind(&self) -> u64 {
        self.get(Field::Mode) & S_IFMT
    }
}

/// Whether `head` starts with a binary cpio header that looks real: its two
/// bytes of magic are weak evidence, so the first entry must also have a
/// known file type (or be an empty archive's trailer) and a NUL-terminated
/// name within `head`.
pub(super) fn sniff_bin(head: &[u8]) -> bool {
    let Some(format @ Format::Bin(_)) = Format::of(head) else {
        return false;
    };
    let Some(header) = head.get(..format.header_len()) else {
        return false;
    };
    let field = |f: Field| {
        format
            .range(f)
            .and_then(|r| format.decode(&header[r]))
            .unwrap_or(0)
    };
    let Ok(name_size) = usize::try_from(field(Field::NameSize)) else {
        return false;
    };
    let Some(name) = head.get(header.len()..header.len() + name_size) else {
        return false;
    };
    let Some((0, name)) = name.split_last() else {
        return false;
    };
    let known = matches!(
        field(Field::Mode) & S_IFMT,
        0o010_000 | S_IFCHR | S_IFDIR | S_IFBLK | S_IFREG | 0o120_000 | 0o140_000
    );
    !name.contains(&0) && (known || name == TRAILER)
}

/// The newc checksum: the sum of the data bytes, modulo 2^32.
pub(super) fn sum(data: &[u8]) -> u32 {
    data.iter()
        .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)))
}

/// [`sum`] of `range` of `input`, read a chunk at a time.
pub(super) fn sum_of(input: &dyn Source, range: Range<usize>) -> Result<u32, FormatError> {
    let mut total = 0u32;
    let mut at = range.start;
    while at < range.end {
        let end = range.end.min(at + COPY_CHUNK);
        total = total.wrapping_add(sum(&read(input, at..end)?));
        at = end;
    }
    Ok(total)
}

/// How many zero bytes `input` holds from `at` on.
fn zeros_from(input: &dyn Source, at: usize, len: usize) -> Result<usize, FormatError> {
    let mut n = 0;
    while at + n < len {
        let end = len.min(at + n + 64 * 1024);
        let chunk = read(input, at + n..end)?;
        match chunk.iter().position(|&b| b != 0) {
            Some(i) => return Ok(n + i),
            None => n += chunk.len(),
        }
    }
    Ok(n)
}

/// Parses every entry and the padding after each trailer, reading the
/// headers and names by position.
pub(super) fn parse(input: &dyn Source) -> Result<Vec<Item>, FormatError> {
    let len = usize::try_from(input.len())
        .map_err(|_| FormatError::TooLarge("does not fit in memory".into()))?;
    let mut items = Vec::new();
    let mut pos = 0;
    let mut after_trailer = false;
    while pos < len {
        let format = match Format::of(&read(input, pos..len.min(pos + 6))?) {
            Some(f) => f,
            None if after_trailer => {
                return Err(FormatError::Unsupported(format!(
                    "data after the cpio trailer at offset {pos} is not another cpio archive"
                )));
            }
            None => {
                return Err(FormatError::malformed(format!(
                    "no cpio header at offset {pos}"
                )));
            }
        };
        after_trailer = false;
        if pos + format.header_len() > len {
            return Err(FormatError::malformed(format!(
                "truncated header at offset {pos}"
            )));
        }
        let header = read(input, pos..pos + format.header_len())?.into_owned();
        let field = |f: Field| -> Result<u64, FormatError> {
            format.range(f).map_or(Ok(0), |r| {
                format.decode(&header[r]).ok_or_else(|| {
                    FormatError::malformed(format!("header at offset {pos}: bad {f:?} field"))
                })
            })
        };
        for f in CHECKED {
            field(f)?;
        }
        let name_size = usize::try_from(field(Field::NameSize)?).unwrap_or(usize::MAX);
        let file_size = usize::try_from(field(Field::FileSize)?).unwrap_or(usize::MAX);
        let name_start = pos + format.header_len();
        let name_end = name_start
            .checked_add(name_size)
            .filter(|&e| name_size > 0 && e <= len)
            .ok_or_else(|| {
                FormatError::malformed(format!("entry at offset {pos}: name past the end"))
            })?;
        let mut name = read(input, name_start..name_end)?.into_owned();
        if name.pop() != Some(0) {
            return Err(FormatError::malformed(format!(
                "entry at offset {pos}: name not terminated by NUL"
            )));
        }
        let data_start = format.align(name_end);
        let data_end = data_start
            .checked_add(file_size)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                FormatError::malformed(format!(
                    "entry at offset {pos}: {file_size} bytes of data, past the end of the file"
                ))
            })?;
        let end = format.align(data_end).min(len);
        if format == Format::Crc && field(Field::Mode)? & S_IFMT == S_IFREG {
            let stored = field(Field::Check)?;
            let actual = u64::from(sum_of(input, data_start..data_end)?);
            if stored != actual {
                return Err(FormatError::malformed(format!(
                    "entry at offset {pos}: checksum {stored:08X} does not match the data ({actual:08X})"
                )));
            }
        }
        let entry = Entry {
            start: pos,
            format,
            head: header,
            name,
            data: data_start..data_end,
            end,
        };
        pos = end;
        let trailer = entry.is_trailer();
        items.push(Item::Entry(entry));
        if trailer {
            let zeros = zeros_from(input, pos, len)?;
            items.push(Item::Padding(pos..pos + zeros));
            pos += zeros;
            after_trailer = true;
        }
    }
    if !after_trailer {
        return Err(FormatError::malformed(
            "the archive ends without a TRAILER!!! entry",
        ));
    }
    Ok(items)
}
