//! cpio archives in the portable ASCII formats (POSIX.1 `odc`, and the SVR4
//! `newc` format with and without checksums, as documented in cpio(5) of
//! libarchive and GNU cpio's manual), recognized by the magic `070701` (newc),
//! `070702` (newc with CRC) or `070707` (odc). The old binary format (magic
//! `070707` as a 16-bit number) is not claimed.
//!
//! Normalized, per entry:
//!
//! * `mtime` clamped to the epoch;
//! * `uid` and `gid` become 0;
//! * inode numbers renumbered from 0 in archive order, as
//!   `cpio --reproducible` does: entries that shared a (device, inode) pair,
//!   i.e. hard links, still share a number, every other entry gets its own
//!   (numbering restarts with each archive of a concatenation);
//! * the device of the file system (`dev`, `devmajor`/`devminor`) becomes 0.
//!   `rdev` is kept for character and block devices (it is what the node
//!   is) and becomes 0 for every other kind of entry, where it means nothing;
//! * in `070702` archives, the checksum of a member whose data a nested
//!   handler changed is recomputed (the sum of its bytes).
//!
//! Regular files' data up to `config.max_size` go to the dispatcher; when that
//! changes a size, the size field and the 4-byte alignment padding of newc
//! follow. Entry order is kept: cpio takes it from the file list it is given
//! (`find | sort | cpio`), and in newc the data of a hard-linked file travels
//! with its last link, so moving entries would mean moving data between them.
//!
//! The `TRAILER!!!` entry is kept byte for byte. The zero padding after it (GNU
//! cpio pads to 512-byte blocks) is kept as it is when nothing before it
//! changed size; otherwise the output is padded again to a multiple of 512
//! bytes if the input was, or with as many zeros as before. Several archives
//! one after the other (as in early-microcode initramfs images) are each
//! handled; anything else after a trailer makes the file
//! [`FormatError::Unsupported`].
//!
//! Left alone: names, modes, link counts, symlink targets, the data of members
//! no handler claims. A missing trailer, a truncated entry, a name without its
//! terminating NUL, or a bad checksum (`070702`) makes the archive malformed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::config::Context;
use crate::error::FormatError;
use crate::handlers::{Handler, Member as HandlerMember, Outcome, dispatch};

/// The cpio handler.
pub struct Cpio;

const TRAILER: &[u8] = b"TRAILER!!!";
const S_IFMT: u64 = 0o170_000;
const S_IFREG: u64 = 0o100_000;
const S_IFCHR: u64 = 0o020_000;
const S_IFBLK: u64 = 0o060_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `070701`.
    Newc,
    /// `070702`: newc with a checksum of the data.
    Crc,
    /// `070707`, octal.
    Odc,
}

/// Header fields in the order of the newc header (after the magic).
#[derive(Debug, Clone, Copy)]
enum Field {
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
    fn header_len(self) -> usize {
        match self {
            Format::Newc | Format::Crc => 110,
            Format::Odc => 76,
        }
    }

    fn radix(self) -> u32 {
        match self {
            Format::Newc | Format::Crc => 16,
            Format::Odc => 8,
        }
    }

    /// Where a field lives in the header; `None` when the format lacks it.
    /// In odc, `DevMajor` stands for the single `dev` and `RdevMajor` for `rdev`.
    fn range(self, f: Field) -> Option<Range<usize>> {
        match self {
            Format::Newc | Format::Crc => {
                let at = 6 + 8 * f as usize;
                Some(at..at + 8)
            }
            Format::Odc => {
                let (at, len) = match f {
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
                };
                Some(at..at + len)
            }
        }
    }

    /// Aligns an offset as the format pads names and data.
    fn align(self, at: usize) -> usize {
        match self {
            Format::Newc | Format::Crc => at.next_multiple_of(4),
            Format::Odc => at,
        }
    }
}

/// One entry, as offsets into the input.
#[derive(Debug)]
struct Entry {
    start: usize,
    format: Format,
    /// The name without its NUL.
    name: Range<usize>,
    data: Range<usize>,
    /// The end of the data's padding.
    end: usize,
}

/// The pieces of the file: entries, and the zero runs after trailers.
#[derive(Debug)]
enum Item {
    Entry(Entry),
    Padding(Range<usize>),
}

impl Entry {
    fn header<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        &input[self.start..self.start + self.format.header_len()]
    }

    fn get(&self, input: &[u8], f: Field) -> u64 {
        self.format.range(f).map_or(0, |r| {
            read(&self.header(input)[r], self.format.radix()).unwrap_or(0)
        })
    }

    fn is_trailer(&self, input: &[u8]) -> bool {
        &input[self.name.clone()] == TRAILER
    }
}

impl Handler for Cpio {
    fn name(&self) -> &'static str {
        "cpio"
    }

    fn describe(&self) -> &'static str {
        "cpio (newc 070701/070702, odc 070707): clamps mtimes, uid/gid 0, renumbers inodes, dev 0, members to the dispatcher"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        matches!(head.get(..6), Some(b"070701" | b"070702" | b"070707"))
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        let items = parse(input)?;
        let mut changes = Vec::new();
        let mut inodes: HashMap<(u64, u64, u64), u64> = HashMap::new();
        let mut out = Vec::with_capacity(input.len());
        for item in &items {
            match item {
                Item::Entry(e) if e.is_trailer(input) => {
                    out.extend_from_slice(&input[e.start..e.end]);
                }
                Item::Entry(e) => write_entry(&mut out, input, e, ctx, &mut inodes, &mut changes)?,
                Item::Padding(r) => {
                    // Hard links never span two archives.
                    inodes.clear();
                    if out.len() == r.start {
                        out.extend_from_slice(&input[r.clone()]);
                    } else if r.end % 512 == 0 {
                        out.resize(out.len().next_multiple_of(512), 0);
                    } else {
                        out.resize(out.len() + r.len(), 0);
                    }
                }
            }
        }
        if out == input {
            return Ok(Outcome::Unchanged);
        }
        if changes.is_empty() {
            changes.push("alignment padding set to zeros".to_string());
        }
        Ok(Outcome::Rewritten {
            bytes: out,
            changes,
        })
    }

    /// Regular files that carry data, in stored order (in newc, a hard-linked
    /// file's data comes with its last link).
    fn members(
        &self,
        input: &[u8],
        _ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        Some(parse(input).map(|items| {
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Entry(e)
                        if e.get(input, Field::Mode) & S_IFMT == S_IFREG && !e.data.is_empty() =>
                    {
                        Some(HandlerMember {
                            name: String::from_utf8_lossy(&input[e.name.clone()]).into_owned(),
                            bytes: input[e.data.clone()].to_vec(),
                        })
                    }
                    _ => None,
                })
                .collect()
        }))
    }
}

/// Writes one normalized entry to `out`.
fn write_entry(
    out: &mut Vec<u8>,
    input: &[u8],
    e: &Entry,
    ctx: &Context,
    inodes: &mut HashMap<(u64, u64, u64), u64>,
    changes: &mut Vec<String>,
) -> Result<(), FormatError> {
    let label = String::from_utf8_lossy(&input[e.name.clone()]).into_owned();
    let fmt = e.format;
    let mut header = e.header(input).to_vec();
    let mode = e.get(input, Field::Mode);
    let key = (
        e.get(input, Field::DevMajor),
        e.get(input, Field::DevMinor),
        e.get(input, Field::Ino),
    );
    let next = inodes.len() as u64;
    let ino = *inodes.entry(key).or_insert(next);
    let mut set = |f: Field, value: u64, what: &str| -> Result<(), FormatError> {
        let Some(r) = fmt.range(f) else {
            return Ok(());
        };
        let old = read(&header[r.clone()], fmt.radix()).unwrap_or(0);
        if old == value {
            return Ok(());
        }
        write(&mut header, r, value, fmt).map_err(|width| {
            FormatError::Unsupported(format!(
                "{label}: {what} {value} does not fit a {width}-digit field"
            ))
        })?;
        changes.push(format!("{label}: {what} {old} -> {value}"));
        Ok(())
    };
    set(Field::Mtime, ctx.clamp(e.get(input, Field::Mtime)), "mtime")?;
    set(Field::Uid, 0, "uid")?;
    set(Field::Gid, 0, "gid")?;
    set(Field::Ino, ino, "ino")?;
    set(Field::DevMajor, 0, "dev")?;
    set(Field::DevMinor, 0, "dev minor")?;
    if !matches!(mode & S_IFMT, S_IFCHR | S_IFBLK) {
        set(Field::RdevMajor, 0, "rdev")?;
        set(Field::RdevMinor, 0, "rdev minor")?;
    }
    let body = if mode & S_IFMT == S_IFREG {
        nested(input, e, &mut header, ctx, &label, changes)?
    } else {
        Cow::Borrowed(&input[e.data.clone()])
    };
    out.extend_from_slice(&header);
    let name_end = e.name.end + 1;
    out.extend_from_slice(&input[e.start + fmt.header_len()..name_end]);
    out.resize(fmt.align(out.len()), 0);
    out.extend_from_slice(&body);
    out.resize(fmt.align(out.len()), 0);
    Ok(())
}

/// Hands a regular file's data to the dispatcher; on a rewrite, updates the
/// size (and checksum) fields in `header` and returns the new data.
fn nested<'a>(
    input: &'a [u8],
    e: &Entry,
    header: &mut [u8],
    ctx: &Context,
    label: &str,
    changes: &mut Vec<String>,
) -> Result<Cow<'a, [u8]>, FormatError> {
    let data = &input[e.data.clone()];
    if data.is_empty() || data.len() as u64 > ctx.config.max_size {
        return Ok(Cow::Borrowed(data));
    }
    let name = Path::new(OsStr::from_bytes(&input[e.name.clone()]));
    let Some((
        _,
        Ok(Outcome::Rewritten {
            bytes,
            changes: inner,
        }),
    )) = dispatch(data, &ctx.nested(name))
    else {
        return Ok(Cow::Borrowed(data));
    };
    let fmt = e.format;
    let range = fmt.range(Field::FileSize).expect("every format has a size");
    write(header, range, bytes.len() as u64, fmt)
        .map_err(|_| FormatError::TooLarge(format!("{label}: normalized member too large")))?;
    if fmt == Format::Crc {
        let range = fmt.range(Field::Check).expect("crc has a checksum");
        write(header, range, u64::from(sum(&bytes)), fmt).expect("a u32 fits 8 hex digits");
    }
    changes.extend(inner.into_iter().map(|c| format!("{label}!{c}")));
    Ok(Cow::Owned(bytes))
}

/// The newc checksum: the sum of the data bytes, modulo 2^32.
fn sum(data: &[u8]) -> u32 {
    data.iter()
        .fold(0u32, |acc, &b| acc.wrapping_add(u32::from(b)))
}

/// Reads a hex or octal field; `None` if a character is not a digit.
fn read(field: &[u8], radix: u32) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    if !text.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(text, radix).ok()
}

/// Writes a field in its width, in the header's letter case for hex.
/// `Err(width)` when the value does not fit.
fn write(header: &mut [u8], r: Range<usize>, value: u64, fmt: Format) -> Result<(), usize> {
    let width = r.len();
    let text = match fmt {
        Format::Odc => format!("{value:0width$o}"),
        _ if header.iter().any(u8::is_ascii_lowercase) => format!("{value:0width$x}"),
        _ => format!("{value:0width$X}"),
    };
    if text.len() > width {
        return Err(width);
    }
    header[r].copy_from_slice(text.as_bytes());
    Ok(())
}

/// Parses every entry and the padding after each trailer.
fn parse(input: &[u8]) -> Result<Vec<Item>, FormatError> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut after_trailer = false;
    while pos < input.len() {
        let format = match input.get(pos..pos + 6) {
            Some(b"070701") => Format::Newc,
            Some(b"070702") => Format::Crc,
            Some(b"070707") => Format::Odc,
            _ if after_trailer => {
                return Err(FormatError::Unsupported(format!(
                    "data after the cpio trailer at offset {pos} is not another cpio archive"
                )));
            }
            _ => {
                return Err(FormatError::malformed(format!(
                    "no cpio header at offset {pos}"
                )));
            }
        };
        after_trailer = false;
        let header = input
            .get(pos..pos + format.header_len())
            .ok_or_else(|| FormatError::malformed(format!("truncated header at offset {pos}")))?;
        let field = |f: Field| -> Result<u64, FormatError> {
            format.range(f).map_or(Ok(0), |r| {
                read(&header[r], format.radix()).ok_or_else(|| {
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
            .filter(|&e| name_size > 0 && e <= input.len())
            .ok_or_else(|| {
                FormatError::malformed(format!("entry at offset {pos}: name past the end"))
            })?;
        if input[name_end - 1] != 0 {
            return Err(FormatError::malformed(format!(
                "entry at offset {pos}: name not terminated by NUL"
            )));
        }
        let data_start = format.align(name_end);
        let data_end = data_start
            .checked_add(file_size)
            .filter(|&e| e <= input.len())
            .ok_or_else(|| {
                FormatError::malformed(format!(
                    "entry at offset {pos}: {file_size} bytes of data, past the end of the file"
                ))
            })?;
        let end = format.align(data_end).min(input.len());
        let entry = Entry {
            start: pos,
            format,
            name: name_start..name_end - 1,
            data: data_start..data_end,
            end,
        };
        if format == Format::Crc && field(Field::Mode)? & S_IFMT == S_IFREG {
            let stored = field(Field::Check)?;
            let actual = u64::from(sum(&input[entry.data.clone()]));
            if stored != actual {
                return Err(FormatError::malformed(format!(
                    "entry at offset {pos}: checksum {stored:08X} does not match the data ({actual:08X})"
                )));
            }
        }
        pos = end;
        let trailer = entry.is_trailer(input);
        items.push(Item::Entry(entry));
        if trailer {
            let zeros = input[pos..].iter().take_while(|&&b| b == 0).count();
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

#[cfg(test)]
mod tests;
