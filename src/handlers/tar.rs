//! tar archives: POSIX ustar and pax (POSIX.1-2001, `pax` in IEEE Std
//! 1003.1), and GNU tar's format (GNU tar manual, "Basic Tar Format"),
//! recognized by the magic at offset 257: `ustar\0` (POSIX) or `ustar  \0`
//! (GNU). gzip-compressed tars reach this handler through the gzip handler,
//! which hands a claimed payload on. Version 7 archives have no magic: they
//! cannot be told from arbitrary bytes, so they are not claimed, and a header
//! without a magic inside a claimed archive makes it
//! [`FormatError::Unsupported`].
//!
//! Normalized, in every header (entries, pax headers, GNU long-name records):
//!
//! * `mtime` clamped to the epoch (GNU headers' `atime`/`ctime` too);
//! * `uid` and `gid` become 0, `uname` and `gname` empty, as
//!   `tar --owner=0 --group=0 --numeric-owner` leaves them;
//! * the checksum recomputed when anything changed.
//!
//! Numbers are rewritten in the layout the field had (digit count, padding,
//! terminator), so only the value moves. In pax extended headers (`x`, and the
//! global header `g`) the records `atime`, `ctime`, `uid`, `gid`, `uname`,
//! `gname`, `LIBARCHIVE.creationtime`, `SCHILY.dev`, `SCHILY.ino` and
//! `SCHILY.nlink` are dropped and `mtime` is clamped (later values become the
//! integer epoch); the length prefix of each record is recomputed. A pax header
//! left with no record is dropped. The process id older GNU tars put in pax
//! header names (`PaxHeaders.1234/`) is removed.
//!
//! Entry order: entries are sorted by path, compared component by component
//! (`.` and empty components ignored), so a directory comes right before its
//! contents, as with `tar --sort=name`. Each entry moves with the pax and GNU
//! long-name/long-link headers that precede it. A hard link that would sort
//! before its target is placed right after the target instead. If a hard link's
//! target is not a single earlier entry of the archive, or the sorted order
//! would still put a link before its target, the original order is kept.
//! Global pax headers, volume labels and multi-volume continuations (`g`,
//! `V`, `M`) apply to what follows them: they stay where they are, and entries
//! are sorted only between them.
//!
//! Regular files' contents (not sparse files, whose stored data is not the
//! file) up to `config.max_size` go to the dispatcher, so a `.gz` or a jar
//! inside is normalized too; when that changes a member's size, its size field
//! (or its pax `size` record) follows.
//!
//! End of archive: when no entry changed size the bytes after the last entry
//! (the two zero blocks and the zero padding to the record size) are kept as
//! they are. Otherwise a new end is written: two zero blocks, padded with zeros
//! to a multiple of 10240 bytes (GNU tar's and bsdtar's default record) when the
//! input's length was such a multiple, else as many zero bytes as the input had
//! after its last entry (at least two blocks). Non-zero bytes after the
//! end-of-archive marker, a bad header checksum or a truncated entry make the
//! archive malformed. A link, directory or special-file entry with a non-zero
//! size is refused as [`FormatError::Unsupported`]: readers disagree on whether
//! data follows it.
//!
//! Left alone: names, link names, modes, device numbers, other pax records
//! (`path`, `linkpath`, `size`, `SCHILY.xattr.*`, `GNU.sparse.*`, ...), the
//! data of every member no handler claims, sparse maps.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member as HandlerMember, Outcome, Sink, Source, Written};
use crate::handlers::held::{Held, Out, dispatch_member, read};

/// The tar handler.
pub struct Tar;

const BLOCK: usize = 512;
const RECORD: usize = 10240;
const NAME: Range<usize> = 0..100;
const UID: Range<usize> = 108..116;
const GID: Range<usize> = 116..124;
const SIZE: Range<usize> = 124..136;
const MTIME: Range<usize> = 136..148;
const CHKSUM: Range<usize> = 148..156;
const TYPEFLAG: usize = 156;
const LINKNAME: Range<usize> = 157..257;
const UNAME: Range<usize> = 265..297;
const GNAME: Range<usize> = 297..329;
const PREFIX: Range<usize> = 345..500;
const GNU_ATIME: Range<usize> = 345..357;
const GNU_CTIME: Range<usize> = 357..369;
const GNU_ISEXTENDED: usize = 482;
const POSIX_MAGIC: &[u8] = b"ustar\0";
const GNU_MAGIC: &[u8] = b"ustar  \0";

/// pax records dropped: access and change times, owners, and the inode data
/// some writers add.
const DROPPED: &[&[u8]] = &[
    b"atime",
    b"ctime",
    b"uid",
    b"gid",
    b"uname",
    b"gname",
    b"LIBARCHIVE.creationtime",
    b"SCHILY.dev",
    b"SCHILY.ino",
    b"SCHILY.nlink",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Posix,
    Gnu,
}

/// One header block with what belongs to it, as offsets into the input.
#[derive(Debug)]
struct Part {
    header: usize,
    dialect: Dialect,
    typeflag: u8,
    /// GNU sparse extension blocks between the header and the data.
    ext: Range<usize>,
    /// The data, without padding.
    data: Range<usize>,
    /// The end of the data's padding.
    end: usize,
}

/// An entry: the pax and GNU long-name headers that precede it, then its own.
#[derive(Debug)]
struct Entry {
    parts: Vec<Part>,
    /// The effective path (pax `path`, GNU long name, or prefix and name).
    name: Vec<u8>,
    /// The effective link target.
    link: Vec<u8>,
    /// Sparse files' stored data is not the file: not dispatched.
    sparse: bool,
    /// `g`, `V`, `M`: entries are not moved across these.
    barrier: bool,
}

impl Entry {
    fn main(&self) -> &Part {
        self.parts.last().expect("an entry has its own header")
    }
}

impl Handler for Tar {
    fn name(&self) -> &'static str {
        "tar"
    }

    fn describe(&self) -> &'static str {
        "tar (ustar, GNU, pax), magic ustar at 257: clamps mtimes, owners 0/empty, drops pax atime/ctime, sorts entries, members to the dispatcher"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.get(257..265).is_some_and(|m| m == GNU_MAGIC)
            || head.get(257..263).is_some_and(|m| m == POSIX_MAGIC)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        // Both magics start with `ustar` at 257.
        prefix
            .get(257..)
            .is_some_and(|m| crate::handler::starts_none_of(m, &[b"ustar"]))
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        crate::handler::normalize_through(self, input, ctx)
    }

    fn streams(&self) -> bool {
        true
    }

    /// Headers and pax records are read by position and rewritten; member
    /// data is copied by range, or, for members a handler claims, replaced
    /// by what the dispatcher made of it (held in memory up to
    /// `in_memory`, in a scratch file above).
    fn normalize_to(
        &self,
        input: &dyn Source,
        sink: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        // Extended headers are read whole: from a file, only up to
        // `in_memory` (never below the default, so lowering the limit to test
        // the streamed paths does not refuse ordinary archives). Real pax
        // headers are a few hundred bytes; this only stops a hostile one
        // from asking for gigabytes.
        let limit = if input.as_slice().is_some() {
            u64::MAX
        } else {
            ctx.settings
                .in_memory
                .max(crate::handler::DEFAULT_IN_MEMORY)
        };
        let (entries, trailer) = parse_source(input, limit)?;
        let mut changes = Vec::new();
        let order = sort(&entries);
        if order.iter().enumerate().any(|(i, &j)| i != j) {
            changes.push(Change::remark("", "entries sorted by name"));
        }
        let mut out = Out::new(sink, input);
        for &i in &order {
            write_entry(&mut out, &entries[i], ctx, &mut changes)?;
        }
        if out.pos == trailer.start as u64 {
            out.copy(trailer.start, trailer.len())?;
        } else {
            let last = usize::try_from(out.pos).unwrap_or(usize::MAX);
            let end = if input.len() % RECORD as u64 == 0 {
                (last + 2 * BLOCK).next_multiple_of(RECORD)
            } else {
                last + trailer.len().max(2 * BLOCK)
            };
            out.zeros(end - last)?;
            changes.push(Change::remark(
                "end of archive rewritten",
                format!("{} zero bytes after the last entry", end - last),
            ));
        }
        if out.same && out.pos == input.len() {
            return Ok(Written::Unchanged);
        }
        if changes.is_empty() {
            changes.push(Change::remark("", "headers rewritten"));
        }
        Ok(Written::Rewritten(changes))
    }

    /// Regular files in stored order, with their effective paths (symlinks,
    /// directories and other entries carry no contents).
    fn members(
        &self,
        input: &[u8],
        _ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        Some(parse(input).map(|(entries, _)| {
            entries
                .iter()
                .filter(|e| matches!(e.main().typeflag, b'0' | 0 | b'7') && !e.sparse)
                .map(|e| HandlerMember {
                    name: String::from_utf8_lossy(&e.name).into_owned(),
                    bytes: input[e.main().data.clone()].to_vec(),
                })
                .collect()
        }))
    }
}

/// A regular file's raw path and the range of its data.
pub(crate) type FileSpan = (Vec<u8>, Range<usize>);

/// Regular files (as [`Handler::members`] lists them) with their raw path
/// bytes and where their data lies in `input`, for callers that patch a
/// member in place (a `.deb`'s `md5sums`).
pub(crate) fn files(input: &[u8]) -> Result<Vec<FileSpan>, FormatError> {
    let (entries, _) = parse(input)?;
    Ok(entries
        .into_iter()
        .filter(|e| matches!(e.main().typeflag, b'0' | 0 | b'7') && !e.sparse)
        .map(|e| {
            let data = e.main().data.clone();
            (e.name, data)
        })
        .collect())
}

/// Zeros up to the next 512-byte block.
fn pad(out: &mut Out) -> Result<(), FormatError> {
    let pos = usize::try_from(out.pos).unwrap_or(usize::MAX);
    out.zeros(pos.next_multiple_of(BLOCK) - pos)
}

/// Writes one entry, normalized, to `out`.
fn write_entry(
    out: &mut Out,
    entry: &Entry,
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let input = out.input;
    let label = String::from_utf8_lossy(&entry.name).into_owned();
    let main = entry.main();
    let mut new_data: Option<Held> = None;
    let mut nested = Vec::new();
    if matches!(main.typeflag, b'0' | 0 | b'7') && !entry.sparse && !main.data.is_empty() {
        let name = Path::new(OsStr::from_bytes(&entry.name));
        new_data = dispatch_member(input, main.data.clone(), name, ctx, &mut nested)?;
    }
    let new_size = new_data.as_ref().map(|d| d.source().len());
    let mut pax_size = None;
    for (n, p) in entry.parts.iter().enumerate() {
        if p.typeflag == b'x'
            && pax_records(&read(input, p.data.clone())?)
                .is_ok_and(|r| r.iter().any(|(k, _)| *k == b"size"))
        {
            pax_size = Some(n);
        }
    }
    for (n, part) in entry.parts.iter().enumerate() {
        let is_main = n + 1 == entry.parts.len();
        let mut header: [u8; BLOCK] = read(input, part.header..part.header + BLOCK)?
            .as_ref()
            .try_into()
            .expect("parse checked the block");
        let mut body = None;
        let mut dirty = false;
        let mut kept = true;
        if matches!(part.typeflag, b'x' | b'g') {
            let size = if pax_size == Some(n) { new_size } else { None };
            let old = read(input, part.data.clone())?;
            if let Some(records) = normalize_pax(&old, ctx, size, &label, changes)? {
                if records.is_empty() {
                    changes.push(Change::gone(&*label, "empty pax header", "", "dropped"));
                    out.same = false;
                    continue;
                }
                set_number(&mut header[SIZE], records.len() as u64);
                body = Some(records);
                dirty = true;
                kept = false;
            }
            dirty |= strip_pid(&mut header, &label, changes);
        }
        dirty |= normalize_header(&mut header, part.dialect, ctx, &label, changes)?;
        let mut new_body = None;
        if is_main {
            if let Some(d) = &new_data {
                if pax_size.is_none() {
                    set_number(&mut header[SIZE], d.source().len());
                }
                new_body = Some(d.source());
                dirty = true;
                kept = false;
            }
        }
        if dirty {
            set_checksum(&mut header);
        }
        out.write(&header)?;
        out.copy(part.ext.start, part.ext.len())?;
        if kept
            && read(input, part.data.end..part.end)?
                .iter()
                .any(|&b| b != 0)
        {
            changes.push(Change::gone(&*label, "non-zero padding", "", "cleared"));
        }
        match (new_body, body) {
            (Some(src), _) => out.copy_new(src)?,
            (None, Some(records)) => out.write(&records)?,
            (None, None) => out.copy(part.data.start, part.data.len())?,
        }
        pad(out)?;
    }
    changes.extend(nested);
    Ok(())
}

/// Normalizes the fields of one header block. Returns whether it changed.
fn normalize_header(
    h: &mut [u8; BLOCK],
    dialect: Dialect,
    ctx: &Context,
    label: &str,
    changes: &mut Vec<Change>,
) -> Result<bool, FormatError> {
    let mut dirty = false;
    let mut times = vec![("mtime", MTIME)];
    if dialect == Dialect::Gnu {
        times.push(("atime", GNU_ATIME));
        times.push(("ctime", GNU_CTIME));
    }
    for (what, range) in times {
        match number(&h[range.clone()]) {
            Some(Num::Value(t)) if ctx.clamp(t) != t => {
                let c = ctx.clamp(t);
                set_number(&mut h[range], c);
                changes.push(Change::set(label, what, t, c));
                dirty = true;
            }
            Some(_) => {}
            None => {
                return Err(FormatError::malformed(format!(
                    "{label}: bad {what} field {:?}",
                    String::from_utf8_lossy(&h[range])
                )));
            }
        }
    }
    for (what, range) in [("uid", UID), ("gid", GID)] {
        match number(&h[range.clone()]) {
            Some(Num::Value(0)) => {}
            Some(Num::Value(v)) => {
                set_number(&mut h[range], 0);
                changes.push(Change::set(label, what, v, 0));
                dirty = true;
            }
            Some(Num::Negative) => {
                set_number(&mut h[range], 0);
                changes.push(Change::set(label, what, "(negative)", 0));
                dirty = true;
            }
            None => {
                return Err(FormatError::malformed(format!(
                    "{label}: bad {what} field {:?}",
                    String::from_utf8_lossy(&h[range])
                )));
            }
        }
    }
    for (what, range) in [("uname", UNAME), ("gname", GNAME)] {
        let field = &mut h[range];
        if field.iter().any(|&b| b != 0) {
            changes.push(Change::set(
                label,
                what,
                format!("{:?}", String::from_utf8_lossy(until_nul(field))),
                "\"\"",
            ));
            field.fill(0);
            dirty = true;
        }
    }
    Ok(dirty)
}

/// Removes the process id from `PaxHeaders.<pid>/` in a pax header's name.
fn strip_pid(h: &mut [u8; BLOCK], label: &str, changes: &mut Vec<Change>) -> bool {
    const TAG: &[u8] = b"PaxHeaders.";
    let name = until_nul(&h[NAME]);
    let Some(at) = memchr::memmem::find(name, TAG) else {
        return false;
    };
    let digits_start = at + TAG.len() - 1; // the dot
    let digits = name[digits_start + 1..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || name.get(digits_start + 1 + digits) != Some(&b'/') {
        return false;
    }
    let mut new = name[..digits_start].to_vec();
    new.extend_from_slice(&name[digits_start + 1 + digits..]);
    new.resize(NAME.len(), 0);
    h[NAME].copy_from_slice(&new);
    changes.push(Change::remark(
        label,
        "process id removed from the pax header name",
    ));
    true
}

/// The normalized records of a pax header, or `None` when nothing changes.
/// `size` replaces the value of a `size` record.
fn normalize_pax(
    data: &[u8],
    ctx: &Context,
    size: Option<u64>,
    label: &str,
    changes: &mut Vec<Change>,
) -> Result<Option<Vec<u8>>, FormatError> {
    let records = pax_records(data)
        .map_err(|e| FormatError::malformed(format!("{label}: pax header: {e}")))?;
    let mut dirty = false;
    let mut out = Vec::with_capacity(data.len());
    for (key, value) in records {
        if DROPPED.contains(&key) {
            changes.push(Change::gone(
                label,
                format!("pax {}", String::from_utf8_lossy(key)),
                "",
                "dropped",
            ));
            dirty = true;
            continue;
        }
        let mut value = Cow::Borrowed(value);
        if key == b"mtime" {
            if let Some(clamped) = clamp_pax_time(&value, ctx) {
                changes.push(Change::set(
                    label,
                    "pax mtime",
                    String::from_utf8_lossy(&value),
                    &clamped,
                ));
                value = Cow::Owned(clamped.into_bytes());
                dirty = true;
            }
        } else if key == b"size" {
            if let Some(s) = size {
                let s = s.to_string().into_bytes();
                if *value != *s {
                    value = Cow::Owned(s);
                    dirty = true;
                }
            }
        }
        push_record(&mut out, key, &value);
    }
    Ok(dirty.then_some(out))
}

/// `Some(epoch)` when a pax time is later than the epoch.
fn clamp_pax_time(value: &[u8], ctx: &Context) -> Option<String> {
    if value.first() == Some(&b'-') {
        return None;
    }
    let (int, frac) = match memchr::memchr(b'.', value) {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let epoch = ctx.epoch();
    let later = match std::str::from_utf8(int).ok()?.parse::<u64>() {
        Ok(t) => t > epoch || (t == epoch && frac.iter().any(|&d| d != b'0')),
        Err(_) => true, // more digits than a u64: far in the future
    };
    later.then(|| epoch.to_string())
}

/// Appends `"<len> key=value\n"`, where the length counts itself.
fn push_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // space, '=', newline
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Parses `"<len> key=value\n"` records. Trailing NUL bytes are tolerated.
/// A pax record: key and value.
type Record<'a> = (&'a [u8], &'a [u8]);

fn pax_records(data: &[u8]) -> Result<Vec<Record<'_>>, String> {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data[pos..].iter().all(|&b| b == 0) {
            break;
        }
        let rest = &data[pos..];
        let space = memchr::memchr(b' ', rest)
            .filter(|&s| s > 0 && rest[..s].iter().all(u8::is_ascii_digit))
            .ok_or_else(|| format!("bad record length at byte {pos}"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > space + 2 && l <= rest.len())
            .ok_or_else(|| format!("record length out of range at byte {pos}"))?;
        let record = &rest[space + 1..len];
        let Some((&b'\n', body)) = record.split_last() else {
            return Err(format!("record at byte {pos} does not end with a newline"));
        };
        let eq = memchr::memchr(b'=', body)
            .filter(|&e| e > 0)
            .ok_or_else(|| format!("record at byte {pos} has no key"))?;
        records.push((&body[..eq], &body[eq + 1..]));
        pos += len;
    }
    Ok(records)
}

/// A numeric header field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Value(u64),
    /// GNU base-256 negative numbers (times before 1970).
    Negative,
}

/// Reads an octal field (leading spaces, digits, then spaces or NULs; blank
/// is 0) or a GNU base-256 one. `None` when it is neither.
fn number(field: &[u8]) -> Option<Num> {
    if field[0] & 0x80 != 0 {
        if field[0] & 0x40 != 0 {
            return Some(Num::Negative);
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(Num::Value(v));
    }
    let lead = field.iter().take_while(|&&b| b == b' ').count();
    let digits = field[lead..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(*b))
        .count();
    if !field[lead + digits..].iter().all(|&b| b == b' ' || b == 0) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in &field[lead..lead + digits] {
        v = v.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(Num::Value(v))
}

/// Writes `value` into a numeric field, keeping the field's layout (digit
/// count, leading spaces, terminator) when the value fits it; otherwise as
/// zero-padded octal and a NUL, or GNU base-256 when even that is too small.
fn set_number(field: &mut [u8], value: u64) {
    let digits = format!("{value:o}");
    if field[0] & 0x80 == 0 {
        let lead = field.iter().take_while(|&&b| b == b' ').count();
        let span = lead
            + field[lead..]
                .iter()
                .take_while(|b| (b'0'..=b'7').contains(*b))
                .count();
        if span > lead && digits.len() <= span {
            field[..span].fill(if lead > 0 { b' ' } else { b'0' });
            field[span - digits.len()..span].copy_from_slice(digits.as_bytes());
            return;
        }
    }
    let width = field.len() - 1;
    if digits.len() <= width {
        field[..width].fill(b'0');
        field[width - digits.len()..width].copy_from_slice(digits.as_bytes());
        field[width] = 0;
    } else {
        field.fill(0);
        let bytes = value.to_be_bytes();
        let n = field.len();
        field[n - 8..].copy_from_slice(&bytes);
        field[0] = 0x80;
    }
}

/// The unsigned sum of a header with its checksum field read as spaces.
fn checksum(h: &[u8]) -> u64 {
    let spaces = 8 * u64::from(b' ');
    h.iter().map(|&b| u64::from(b)).sum::<u64>()
        - h[CHKSUM].iter().map(|&b| u64::from(b)).sum::<u64>()
        + spaces
}

/// The same with bytes read as signed, as some old tars computed it.
fn signed_checksum(h: &[u8]) -> i64 {
    let spaces = 8 * i64::from(b' ');
    let signed = |b: &u8| i64::from(*b) - if *b >= 0x80 { 256 } else { 0 };
    h.iter().map(signed).sum::<i64>() - h[CHKSUM].iter().map(signed).sum::<i64>() + spaces
}

fn set_checksum(h: &mut [u8; BLOCK]) {
    let sum = checksum(h);
    let field = &mut h[CHKSUM];
    if number(field).is_none() || field[..6].iter().any(|b| !b.is_ascii_digit()) {
        field.copy_from_slice(b"000000\0 ");
    }
    set_number(&mut h[CHKSUM], sum);
}

fn until_nul(field: &[u8]) -> &[u8] {
    memchr::memchr(0, field).map_or(field, |n| &field[..n])
}

/// Parses the archive into entries, and the range after the last one.
fn parse(input: &[u8]) -> Result<(Vec<Entry>, Range<usize>), FormatError> {
    parse_source(&input, u64::MAX)
}

/// Whether `input` holds only zero bytes from `from` on, or the offset of
/// the first that is not.
fn first_non_zero(input: &dyn Source, from: usize) -> Result<Option<usize>, FormatError> {
    let len = usize::try_from(input.len()).unwrap_or(usize::MAX);
    let mut at = from;
    while at < len {
        let end = len.min(at + crate::handler::COPY_CHUNK);
        let chunk = read(input, at..end)?;
        if let Some(i) = chunk.iter().position(|&b| b != 0) {
            return Ok(Some(at + i));
        }
        at = end;
    }
    Ok(None)
}

/// [`parse`] over bytes read by position: headers and pax records are read,
/// member data is not. Extended headers (pax, GNU long names) above `limit`
/// bytes are refused as [`FormatError::TooLarge`].
fn parse_source(input: &dyn Source, limit: u64) -> Result<(Vec<Entry>, Range<usize>), FormatError> {
    let input_len = usize::try_from(input.len())
        .map_err(|_| FormatError::TooLarge("larger than the address space".into()))?;
    let mut entries = Vec::new();
    let mut pending: Vec<Part> = Vec::new();
    let mut pos = 0;
    loop {
        if pos == input_len {
            if !pending.is_empty() {
                return Err(FormatError::malformed(
                    "the archive ends after an extended header, without its entry",
                ));
            }
            break;
        }
        let n = entries.len() + 1;
        if pos + BLOCK > input_len {
            return Err(FormatError::malformed(format!(
                "truncated header at offset {pos} (entry {n})"
            )));
        }
        let h = read(input, pos..pos + BLOCK)?;
        if h.iter().all(|&b| b == 0) {
            if !pending.is_empty() {
                return Err(FormatError::malformed(format!(
                    "end-of-archive marker at offset {pos} right after an extended header"
                )));
            }
            if let Some(at) = first_non_zero(input, pos)? {
                return Err(FormatError::malformed(format!(
                    "non-zero byte at offset {at} after the end-of-archive marker"
                )));
            }
            break;
        }
        let pax = pax_of(input, &pending)?;
        let part = read_part(input, &h, pos, n, &pax)?;
        if matches!(part.typeflag, b'x' | b'g' | b'L' | b'K' | b'X')
            && part.data.len() as u64 > limit
        {
            return Err(FormatError::TooLarge(format!(
                "extended header at offset {pos} holds {} bytes, more than the {limit}-byte \
                 in-memory limit",
                part.data.len()
            )));
        }
        let (dialect, typeflag, end) = (part.dialect, part.typeflag, part.end);
        pos = end;
        if matches!(typeflag, b'x' | b'L' | b'K' | b'X') {
            pending.push(part);
            continue;
        }
        let header_name = if dialect == Dialect::Posix && h[PREFIX.start] != 0 {
            let mut n = until_nul(&h[PREFIX]).to_vec();
            n.push(b'/');
            n.extend_from_slice(until_nul(&h[NAME]));
            n
        } else {
            until_nul(&h[NAME]).to_vec()
        };
        let long = |flag: u8| -> Result<Option<Vec<u8>>, FormatError> {
            pending
                .iter()
                .rev()
                .find(|p| p.typeflag == flag)
                .map(|p| Ok(until_nul(&read(input, p.data.clone())?).to_vec()))
                .transpose()
        };
        let name = match pax.path {
            Some(p) => p,
            None => long(b'L')?.unwrap_or(header_name),
        };
        let link = match pax.linkpath {
            Some(l) => l,
            None => long(b'K')?.unwrap_or_else(|| until_nul(&h[LINKNAME]).to_vec()),
        };
        let mut parts = std::mem::take(&mut pending);
        parts.push(part);
        entries.push(Entry {
            parts,
            name,
            link,
            sparse: typeflag == b'S' || pax.sparse,
            barrier: matches!(typeflag, b'g' | b'V' | b'M'),
        });
    }
    Ok((entries, pos..input_len))
}

/// Reads the header block at `pos` (entry `n`) and locates its data. `pax`
/// holds what preceding pax headers say about this entry.
fn read_part(
    input: &dyn Source,
    h: &[u8],
    pos: usize,
    n: usize,
    pax: &PaxInfo,
) -> Result<Part, FormatError> {
    let input_len = usize::try_from(input.len()).unwrap_or(usize::MAX);
    let dialect = if &h[257..265] == GNU_MAGIC {
        Dialect::Gnu
    } else if &h[257..263] == POSIX_MAGIC {
        Dialect::Posix
    } else if h[257..265].iter().all(|&b| b == 0) {
        return Err(FormatError::Unsupported(format!(
            "header at offset {pos} (entry {n}) has no ustar magic: a v7 header"
        )));
    } else {
        return Err(FormatError::malformed(format!(
            "header at offset {pos} (entry {n}): unknown magic"
        )));
    };
    let Some(Num::Value(stored)) = number(&h[CHKSUM]) else {
        return Err(FormatError::malformed(format!(
            "header at offset {pos}: unreadable checksum"
        )));
    };
    if stored != checksum(h) && i64::try_from(stored).ok() != Some(signed_checksum(h)) {
        return Err(FormatError::malformed(format!(
            "header at offset {pos} (entry {n}): checksum {stored:o} does not match {:o}",
            checksum(h)
        )));
    }
    let typeflag = h[TYPEFLAG];
    let size = match (
        pax.size,
        matches!(typeflag, b'x' | b'g' | b'L' | b'K' | b'X'),
    ) {
        (Some(s), false) => s,
        _ => match number(&h[SIZE]) {
            Some(Num::Value(s)) => s,
            _ => {
                return Err(FormatError::malformed(format!(
                    "header at offset {pos}: bad size field"
                )));
            }
        },
    };
    if matches!(typeflag, b'1'..=b'6') && size != 0 {
        // pax lets a hard link carry data; readers disagree on the rest.
        return Err(FormatError::Unsupported(format!(
            "entry at offset {pos}: a link, directory or special file with {size} bytes of data"
        )));
    }
    let mut ext_end = pos + BLOCK;
    if dialect == Dialect::Gnu && typeflag == b'S' && h[GNU_ISEXTENDED] != 0 {
        loop {
            if ext_end + BLOCK > input_len {
                return Err(FormatError::malformed(format!(
                    "truncated sparse header at offset {ext_end}"
                )));
            }
            let ext = read(input, ext_end..ext_end + BLOCK)?;
            ext_end += BLOCK;
            if ext[504] == 0 {
                break;
            }
        }
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let data_end = ext_end
        .checked_add(size)
        .filter(|&e| e <= input_len)
        .ok_or_else(|| {
            FormatError::malformed(format!(
                "entry at offset {pos}: {size} bytes of data, past the end of the archive"
            ))
        })?;
    let end = data_end.next_multiple_of(BLOCK);
    if end > input_len {
        return Err(FormatError::malformed(format!(
            "entry at offset {pos}: the last block is truncated"
        )));
    }
    Ok(Part {
        header: pos,
        dialect,
        typeflag,
        ext: pos + BLOCK..ext_end,
        data: ext_end..data_end,
        end,
    })
}

/// What the pax headers before an entry say about it.
#[derive(Default)]
struct PaxInfo {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

fn pax_of(input: &dyn Source, pending: &[Part]) -> Result<PaxInfo, FormatError> {
    let mut info = PaxInfo::default();
    for p in pending.iter().filter(|p| p.typeflag == b'x') {
        let data = read(input, p.data.clone())?;
        // A malformed pax header is reported when it is normalized.
        for (key, value) in pax_records(&data).unwrap_or_default() {
            match key {
                b"path" => info.path = Some(value.to_vec()),
                b"GNU.sparse.name" => {
                    info.path = Some(value.to_vec());
                    info.sparse = true;
                }
                b"linkpath" => info.linkpath = Some(value.to_vec()),
                b"size" => info.size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
                k if k.starts_with(b"GNU.sparse.") => info.sparse = true,
                _ => {}
            }
        }
    }
    Ok(info)
}

/// The path as sort key: its components, without `.` and empty ones.
fn key(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// The output order of the entries (see the module header for the rule).
fn sort(entries: &[Entry]) -> Vec<usize> {
    let mut order = Vec::with_capacity(entries.len());
    let mut start = 0;
    let mut seen: HashMap<Vec<&[u8]>, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.barrier {
            order.extend(sort_run(entries, start..i, &seen));
            order.push(i);
            for done in &entries[start..=i] {
                *seen.entry(key(&done.name)).or_default() += 1;
            }
            start = i + 1;
        }
    }
    order.extend(sort_run(entries, start..entries.len(), &seen));
    order
}

/// Sorts `run`, or keeps it as it is when a hard link would end up before
/// its target or its target is ambiguous. `before` counts the names of earlier
/// runs.
fn sort_run(
    entries: &[Entry],
    run: Range<usize>,
    before: &HashMap<Vec<&[u8]>, usize>,
) -> Vec<usize> {
    let original: Vec<usize> = run.clone().collect();
    let keys: Vec<Vec<&[u8]>> = run.clone().map(|i| key(&entries[i].name)).collect();
    // Per key: how many entries have it, and the first of them.
    let mut count: HashMap<&Vec<&[u8]>, (usize, usize)> = HashMap::new();
    for (n, k) in keys.iter().enumerate() {
        count.entry(k).or_insert((0, n)).0 += 1;
    }
    // Per entry: (primary key, placed after the target, own key, position).
    let mut sortable = Vec::with_capacity(keys.len());
    let mut targets = Vec::with_capacity(keys.len());
    for (n, i) in run.clone().enumerate() {
        let e = &entries[i];
        let own = keys[n].clone();
        let mut target = None;
        if e.main().typeflag == b'1' {
            let tk = key(&e.link);
            match (count.get(&tk).copied(), before.get(&tk)) {
                (Some((1, t)), None) if t < n => target = Some(t),
                (None, Some(1)) => {}
                _ => return original,
            }
        }
        targets.push(target);
        match target {
            Some(t) if keys[t] > own => sortable.push((keys[t].clone(), true, own, n)),
            _ => sortable.push((own.clone(), false, own, n)),
        }
    }
    sortable.sort();
    let mut placed = vec![false; keys.len()];
    for (_, _, _, n) in &sortable {
        if targets[*n].is_some_and(|t| !placed[t]) {
            return original;
        }
        placed[*n] = true;
    }
    sortable
        .into_iter()
        .map(|(_, _, _, n)| run.start + n)
        .collect()
}

#[cfg(test)]
mod tests;
