//! Unix `ar` archives (static libraries, `.deb` packages), recognized by the
//! global header `!<arch>\n`. There is no single standard; this follows the
//! common layout documented in FreeBSD's ar(5) and the System V ABI: a 60-byte
//! member header (name 16, date 12, uid 6, gid 6, mode 8, size 10, all ASCII,
//! space-padded, then `` `\n``), the member data, and one padding byte (`\n`)
//! after odd-sized data.
//!
//! Both variants are read:
//!
//! * GNU/System V: names end with `/`; the symbol table is the member `/`
//!   (32-bit big-endian offsets) or `/SYM64/` (64-bit); long names live in the
//!   member `//` and are referenced as `/<offset>`.
//! * BSD: names longer than 16 bytes (or containing spaces) are written as
//!   `#1/<len>` and stored at the start of the data (the size field counts
//!   them); the symbol table is `__.SYMDEF` or `__.SYMDEF SORTED` (and their
//!   `_64` forms), an array of `(string index, member offset)` pairs.
//!
//! Normalized, per member header:
//!
//! * the date is clamped to the epoch;
//! * uid and gid become `0`;
//! * the mode becomes `644`, or `755` when the owner-execute bit is set (what
//!   `ar D` writes, except that `ar D` also drops the execute bit);
//! * the symbol table is written as `ar D` writes it: date, uid, gid and mode
//!   `0`. The long-name table `//` carries no date or owner (GNU ar leaves those
//!   fields blank) and is left alone.
//!
//! Member order is kept (a `.deb` needs `debian-binary` first, and a linker
//! may depend on the order of objects). Every other member is handed to the
//! dispatcher (a `.deb`'s `data.tar.gz`, an object...). When a nested handler
//! changes a member's size, the size field and the padding byte follow, and the
//! member offsets in the symbol table are rewritten to the members' new
//! positions (a symbol table that names an offset where no member starts makes
//! the archive malformed in that case). Members larger than
//! `config.max_size` are not handed on.
//!
//! The archive is read by position, never whole: headers, BSD names and
//! long names a piece at a time, each member as the dispatcher takes it
//! (past `in_memory`, read by position and rewritten into scratch space).
//! Data that stays is copied from the input; rewritten members are held in
//! memory up to `in_memory` in all, in scratch space beyond. A package whose
//! data member changed is the exception: `md5sums` needs that member, old
//! and new, and the control member in memory.
//!
//! A `.deb` (first member `debian-binary`) whose data tarball a nested
//! handler changed gets its `md5sums` updated to match, or is refused when
//! that cannot be done right (see [`deb`]). A package (first member
//! `debian-binary`, or a file named `.deb`/`.udeb`/`.ddeb`) whose members are
//! not `debian-binary`, `_*`, `control.tar*`, `data.tar*` in that order is a
//! damaged package dpkg-deb refuses: it is malformed, not rewritten as a plain
//! archive ([`deb::check_layout`]).
//!
//! Left alone: the names, the long-name table, the data of the symbol table
//! other than member offsets, the padding byte's value. Thin archives
//! (`!<thin>\n`, whose members live in other files) are claimed and refused as
//! [`FormatError::Unsupported`], so reports say why they were skipped.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member as HandlerMember, Outcome, Sink, Source, Written};
use crate::handlers::deb;
use crate::handlers::held::{Held, dispatch_member, read, read_failed, same_bytes, write_failed};

/// The ar handler.
pub struct Ar;

const MAGIC: &[u8; 8] = b"!<arch>\n";
const THIN: &[u8; 8] = b"!<thin>\n";
const HEADER: usize = 60;
const DATE: Range<usize> = 16..28;
const UID: Range<usize> = 28..34;
const GID: Range<usize> = 34..40;
const MODE: Range<usize> = 40..48;
const SIZE: Range<usize> = 48..58;

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A file.
    Regular,
    /// The GNU/System V long-name table `//`.
    LongNames,
    /// A symbol table, in one of its layouts.
    Symbols(SymTab),
}

/// The layouts of a symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SymTab {
    /// `/`: a big-endian u32 count, then that many u32 member offsets.
    Gnu32,
    /// `/SYM64/`: the same with u64s.
    Gnu64,
    /// `__.SYMDEF`: a u32 byte length, then `(strx, offset)` u32 pairs.
    Bsd32,
    /// `__.SYMDEF_64`: the same with u64s.
    Bsd64,
}

/// One member, as offsets into the input.
#[derive(Debug)]
struct Member {
    /// The 60-byte header.
    header: usize,
    kind: Kind,
    /// The name, resolved (long names looked up, trailing `/` removed).
    name: Vec<u8>,
    /// For BSD `#1/<len>` names: the name bytes at the start of the data.
    bsd_name: Range<usize>,
    /// The member's data (after a BSD name).
    data: Range<usize>,
    /// The padding byte after odd-sized data, when present.
    pad: Range<usize>,
}

impl Handler for Ar {
    fn name(&self) -> &'static str {
        "ar"
    }

    fn describe(&self) -> &'static str {
        "ar archives (GNU and BSD), magic !<arch>: clamps dates, uid/gid 0, mode 644/755, members to the dispatcher"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.starts_with(MAGIC) || head.starts_with(THIN)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[MAGIC, THIN])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        crate::handler::normalize_through(self, input, ctx)
    }

    fn streams(&self) -> bool {
        true
    }

    /// Reads the headers by position and each member as
    /// [`dispatch_member`] does (past `in_memory` through scratch space);
    /// member data that stays is copied from the input. Rewritten members
    /// are held in memory up to `in_memory` in all, in scratch space beyond.
    /// A package whose data member changed reads that member and its
    /// control member whole, old and new, to bring `md5sums` along.
    fn normalize_to(
        &self,
        input: &dyn Source,
        out: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        let len = usize::try_from(input.len())
            .map_err(|_| FormatError::TooLarge("does not fit in memory".into()))?;
        if read(input, 0..len.min(THIN.len()))?.as_ref() == THIN {
            return Err(FormatError::Unsupported(
                "thin archive: its members are other files, normalized on their own".into(),
            ));
        }
        let members = parse(input)?;
        deb::check_layout(
            &members
                .iter()
                .map(|m| m.name.as_slice())
                .collect::<Vec<_>>(),
            ctx,
        )?;
        let mut changes = Vec::new();
        let mut originals = Vec::with_capacity(members.len());
        let mut headers = Vec::with_capacity(members.len());
        let mut news: Vec<Option<Held>> = Vec::with_capacity(members.len());
        let mut held_in_memory = 0u64;
        for m in &members {
            let label = String::from_utf8_lossy(&m.name);
            let mut header: [u8; HEADER] = read(input, m.header..m.header + HEADER)?
                .as_ref()
                .try_into()
                .expect("parse checked the header length");
            originals.push(header);
            normalize_header(&mut header, m.kind, ctx, &label, &mut changes)?;
            let mut new = None;
            if m.kind == Kind::Regular {
                let name = Path::new(OsStr::from_bytes(&m.name));
                new = dispatch_member(input, m.data.clone(), name, ctx, &mut changes)?;
                if let Some(held) = &mut new {
                    set_size(&mut header, m.bsd_name.len() as u64 + held.len(), &label)?;
                    if let Held::Memory(v) = held {
                        held_in_memory += v.len() as u64;
                        if held_in_memory > ctx.settings.in_memory {
                            held_in_memory -= v.len() as u64;
                            held.move_to_scratch(ctx).map_err(|e| write_failed(&e))?;
                            held.finish().map_err(|e| write_failed(&e))?;
                        }
                    }
                }
            }
            headers.push(header);
            news.push(new);
        }

        // A package's md5sums follows what nested dispatch did to its data.
        sync_deb(input, &members, &mut headers, &mut news, ctx, &mut changes)?;

        // Where each member starts in the output, to remap symbol tables.
        let mut moved = false;
        let mut same = true;
        let mut offsets = Vec::with_capacity(members.len());
        let mut pos = MAGIC.len() as u64;
        for (((m, original), header), new) in
            members.iter().zip(&originals).zip(&headers).zip(&news)
        {
            offsets.push((m.header as u64, pos));
            moved |= m.header as u64 != pos;
            let size =
                m.bsd_name.len() as u64 + new.as_ref().map_or(m.data.len() as u64, Held::len);
            let pad = pad_len(m, new.is_none(), size);
            if same {
                same = original == header
                    && match new {
                        None => true,
                        Some(held) => {
                            pad == m.pad.len() as u64
                                && (pad == 0 || read(input, m.pad.clone())?.as_ref() == b"\n")
                                && same_bytes(input, m.data.clone(), held.source())?
                        }
                    };
            }
            pos += HEADER as u64 + size + pad;
        }
        if same {
            return Ok(Written::Unchanged);
        }

        write_archive(
            input,
            out,
            &members,
            &headers,
            &news,
            moved.then_some(&offsets),
            &mut changes,
        )?;
        Ok(Written::Rewritten(changes))
    }

    /// The files in stored order (not the symbol and long-name tables).
    fn members(
        &self,
        input: &[u8],
        _ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        if input.starts_with(THIN) {
            return None;
        }
        Some(parse(&input).map(|members| {
            members
                .into_iter()
                .filter(|m| m.kind == Kind::Regular)
                .map(|m| HandlerMember {
                    name: String::from_utf8_lossy(&m.name).into_owned(),
                    bytes: input[m.data].to_vec(),
                })
                .collect()
        }))
    }
}

/// Writes the archive: the new headers, each member's data (rewritten,
/// copied from the input, or a symbol table remapped to `moved` offsets)
/// and its padding.
fn write_archive(
    input: &dyn Source,
    out: &mut dyn Sink,
    members: &[Member],
    headers: &[[u8; HEADER]],
    news: &[Option<Held>],
    moved: Option<&Vec<(u64, u64)>>,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let wrote = |r: std::io::Result<()>| r.map_err(|e| write_failed(&e));
    wrote(out.write_all(MAGIC))?;
    for ((m, header), new) in members.iter().zip(headers).zip(news) {
        wrote(out.write_all(header))?;
        wrote(out.copy_from(input, m.bsd_name.start as u64, m.bsd_name.len() as u64))?;
        match (m.kind, moved, new) {
            (Kind::Symbols(layout), Some(offsets), _) => {
                let mut data = read(input, m.data.clone())?.into_owned();
                remap(&mut data, layout, offsets).map_err(|e| {
                    FormatError::malformed(format!(
                        "symbol table {}: {e}",
                        String::from_utf8_lossy(&m.name)
                    ))
                })?;
                wrote(out.write_all(&data))?;
                changes.push(Change::gone(
                    String::from_utf8_lossy(&m.name),
                    "member offsets",
                    "",
                    "updated",
                ));
            }
            (_, _, Some(held)) => wrote(out.copy_from(held.source(), 0, held.len()))?,
            _ => wrote(out.copy_from(input, m.data.start as u64, m.data.len() as u64))?,
        }
        match new {
            None => wrote(out.copy_from(input, m.pad.start as u64, m.pad.len() as u64))?,
            Some(held) if (m.bsd_name.len() as u64 + held.len()) % 2 == 1 => {
                wrote(out.write_all(b"\n"))?;
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A member's data before and after nested normalization.
type OldNew<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Updates a `.deb`'s `md5sums` (in its control member) for the data
/// member's new contents; see [`deb`]. Only a package whose data member was
/// rewritten reads members whole: that one, old and new, and its control
/// member.
fn sync_deb(
    input: &dyn Source,
    members: &[Member],
    headers: &mut [[u8; HEADER]],
    news: &mut [Option<Held>],
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let names: Vec<&[u8]> = members.iter().map(|m| m.name.as_slice()).collect();
    let find = |prefix: &[u8]| names.iter().position(|n| n.starts_with(prefix));
    let (Some(c), Some(d)) = (find(b"control.tar"), find(b"data.tar")) else {
        return Ok(());
    };
    if names.first() != Some(&&b"debian-binary"[..]) || news[d].is_none() {
        return Ok(());
    }
    let whole = |i: usize| -> Result<OldNew, FormatError> {
        let old = read(input, members[i].data.clone())?;
        let new = match &news[i] {
            None => old.clone(),
            Some(held) => Cow::Owned(
                held.source()
                    .read_vec(0, usize::try_from(held.len()).unwrap_or(usize::MAX))
                    .map_err(|e| read_failed(0, &e))?,
            ),
        };
        Ok((old, new))
    };
    let (old_c, new_c) = whole(c)?;
    let (old_d, new_d) = whole(d)?;
    let mut olds: Vec<&[u8]> = vec![&[]; members.len()];
    let mut fresh: Vec<&[u8]> = vec![&[]; members.len()];
    (olds[c], fresh[c], olds[d], fresh[d]) = (&old_c, &new_c, &old_d, &new_d);
    let Some(r) = deb::sync_md5sums(&names, &olds, &fresh, ctx)? else {
        return Ok(());
    };
    set_size(
        &mut headers[r.index],
        (members[r.index].bsd_name.len() + r.bytes.len()) as u64,
        "member",
    )?;
    news[r.index] = Some(Held::Memory(r.bytes));
    changes.extend(r.notes);
    Ok(())
}

/// Writes `size` into a header's size field; too large for its ten digits
/// is refused.
fn set_size(header: &mut [u8; HEADER], size: u64, label: &str) -> Result<(), FormatError> {
    let field = format!("{size:<10}");
    if field.len() != 10 {
        return Err(FormatError::TooLarge(format!(
            "{label}: normalized member of {size} bytes does not fit the size field"
        )));
    }
    header[SIZE].copy_from_slice(field.as_bytes());
    Ok(())
}

/// The padding the output gives a member of `size` bytes, whose data is the
/// original (`kept`) or new.
fn pad_len(m: &Member, kept: bool, size: u64) -> u64 {
    if kept { m.pad.len() as u64 } else { size % 2 }
}

/// Writes the normalized fields into `header`, noting each change.
fn normalize_header(
    header: &mut [u8; HEADER],
    kind: Kind,
    ctx: &Context,
    label: &str,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let (date, mode) = match kind {
        Kind::LongNames => return Ok(()),
        Kind::Symbols(_) => (0, 0),
        Kind::Regular => {
            let date = decimal(&header[DATE], label, "date")?;
            let mode = octal(&header[MODE], label, "mode")?;
            (
                ctx.clamp(date),
                if mode & 0o100 == 0 { 0o644 } else { 0o755 },
            )
        }
    };
    set_field(header, DATE, &date.to_string(), label, "date", changes);
    set_field(header, UID, "0", label, "uid", changes);
    set_field(header, GID, "0", label, "gid", changes);
    set_field(header, MODE, &format!("{mode:o}"), label, "mode", changes);
    Ok(())
}

/// Writes `value` left-justified and space-padded into `header[range]` if the
/// field differs, and notes it.
fn set_field(
    header: &mut [u8; HEADER],
    range: Range<usize>,
    value: &str,
    label: &str,
    what: &str,
    changes: &mut Vec<Change>,
) {
    let width = range.len();
    let new = format!("{value:<width$}");
    let field = &mut header[range];
    if field != new.as_bytes() {
        let old = String::from_utf8_lossy(field).trim_end().to_string();
        changes.push(Change::set(label, what, format!("{old:?}"), value));
        field.copy_from_slice(new.as_bytes());
    }
}

/// A space-padded decimal field; blank means 0.
fn decimal(field: &[u8], label: &str, what: &str) -> Result<u64, FormatError> {
    number(field, 10, label, what)
}

/// A space-padded octal field; blank means 0.
fn octal(field: &[u8], label: &str, what: &str) -> Result<u64, FormatError> {
    number(field, 8, label, what)
}

fn number(field: &[u8], radix: u32, label: &str, what: &str) -> Result<u64, FormatError> {
    let text = std::str::from_utf8(field)
        .ok()
        .map(|s| s.trim_end_matches(' '));
    match text {
        Some("") => Ok(0),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => u64::from_str_radix(t, radix)
            .map_err(|_| FormatError::malformed(format!("{label}: bad {what} field {t:?}"))),
        _ => Err(FormatError::malformed(format!(
            "{label}: bad {what} field {:?}",
            String::from_utf8_lossy(field)
        ))),
    }
}

/// Parses every member header, checking that the data fits.
fn parse(input: &dyn Source) -> Result<Vec<Member>, FormatError> {
    let len = usize::try_from(input.len())
        .map_err(|_| FormatError::TooLarge("does not fit in memory".into()))?;
    if read(input, 0..len.min(MAGIC.len()))?.as_ref() != MAGIC {
        return Err(FormatError::malformed("no !<arch> magic"));
    }
    let mut members = Vec::new();
    let mut long_names: Option<Range<usize>> = None;
    let mut pos = MAGIC.len();
    while pos < len {
        let n = members.len() + 1;
        if len - pos < HEADER {
            return Err(FormatError::malformed(format!(
                "{} trailing bytes at offset {pos}, too short for member {n}'s header",
                len - pos
            )));
        }
        let header = read(input, pos..pos + HEADER)?;
        if &header[58..60] != b"`\n" {
            return Err(FormatError::malformed(format!(
                "member {n} at offset {pos}: header does not end with `\\n"
            )));
        }
        let label = format!("member {n}");
        let size = usize::try_from(decimal(&header[SIZE], &label, "size")?)
            .map_err(|_| FormatError::malformed(format!("{label}: size overflows")))?;
        let start = pos + HEADER;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                FormatError::malformed(format!(
                    "{label} at offset {pos}: {size} bytes of data, past the end of the file"
                ))
            })?;
        let raw = trim_name(&header[..16]);
        let (kind, name, bsd_name) = if raw == b"/" {
            (Kind::Symbols(SymTab::Gnu32), raw.to_vec(), start..start)
        } else if raw == b"/SYM64/" {
            (Kind::Symbols(SymTab::Gnu64), raw.to_vec(), start..start)
        } else if raw == b"//" {
            long_names = Some(start..end);
            (Kind::LongNames, raw.to_vec(), start..start)
        } else if let Some(digits) = raw.strip_prefix(b"#1/") {
            let name_len = usize::try_from(decimal(digits, &label, "BSD name length")?)
                .ok()
                .filter(|&l| l <= size)
                .ok_or_else(|| {
                    FormatError::malformed(format!("{label}: BSD name longer than the member"))
                })?;
            let name = trim_nuls(&read(input, start..start + name_len)?).to_vec();
            (bsd_kind(&name), name, start..start + name_len)
        } else if let Some(offset) = raw.strip_prefix(b"/") {
            let name = long_name(input, long_names.as_ref(), offset, &label)?;
            (Kind::Regular, name, start..start)
        } else {
            let name = raw.strip_suffix(b"/").unwrap_or(raw).to_vec();
            (bsd_kind(&name), name, start..start)
        };
        let pad_end = if size % 2 == 1 && end < len {
            end + 1
        } else {
            end
        };
        members.push(Member {
            header: pos,
            kind,
            name,
            data: bsd_name.end..end,
            bsd_name,
            pad: end..pad_end,
        });
        pos = pad_end;
    }
    Ok(members)
}

/// BSD symbol tables are recognized by name; anything else is a file.
fn bsd_kind(name: &[u8]) -> Kind {
    match name {
        b"__.SYMDEF" | b"__.SYMDEF SORTED" => Kind::Symbols(SymTab::Bsd32),
        b"__.SYMDEF_64" | b"__.SYMDEF_64 SORTED" => Kind::Symbols(SymTab::Bsd64),
        _ => Kind::Regular,
    }
}

/// The name field without its space padding.
fn trim_name(field: &[u8]) -> &[u8] {
    let end = field.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &field[..end]
}

fn trim_nuls(name: &[u8]) -> &[u8] {
    let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &name[..end]
}

/// Looks `/<offset>` up in the long-name table (entries end with `/\n`, or
/// `\n` in some System V variants).
fn long_name(
    input: &dyn Source,
    table: Option<&Range<usize>>,
    offset: &[u8],
    label: &str,
) -> Result<Vec<u8>, FormatError> {
    let table = table
        .ok_or_else(|| FormatError::malformed(format!("{label}: long name before the // table")))?;
    let offset = usize::try_from(decimal(offset, label, "long-name offset")?).unwrap_or(usize::MAX);
    if offset >= table.len() {
        return Err(FormatError::malformed(format!(
            "{label}: long-name offset {offset} past the table"
        )));
    }
    // Read a piece at a time up to the newline: the table may be large,
    // its names are short.
    let mut name = Vec::new();
    let mut at = table.start + offset;
    while at < table.end {
        let piece = read(input, at..table.end.min(at + 4096))?;
        if let Some(end) = memchr::memchr(b'\n', &piece) {
            name.extend_from_slice(&piece[..end]);
            break;
        }
        name.extend_from_slice(&piece);
        at += piece.len();
    }
    if name.ends_with(b"/") {
        name.pop();
    }
    Ok(name)
}

/// Rewrites the member offsets of a symbol table in place, from the old
/// header offsets to the new ones (`map` is sorted by old offset).
fn remap(data: &mut [u8], layout: SymTab, map: &[(u64, u64)]) -> Result<(), String> {
    let find = |old: u64| {
        map.binary_search_by_key(&old, |&(o, _)| o)
            .map(|i| map[i].1)
            .map_err(|_| format!("offset {old} is no member's header"))
    };
    let (width, first, step, count) = match layout {
        SymTab::Gnu32 | SymTab::Gnu64 => {
            let w = if layout == SymTab::Gnu32 { 4 } else { 8 };
            let n = read_be(data, 0, w).ok_or("truncated count")?;
            (w, w, w, n)
        }
        SymTab::Bsd32 | SymTab::Bsd64 => {
            let w = if layout == SymTab::Bsd32 { 4 } else { 8 };
            let bytes = read_le(data, 0, w).ok_or("truncated size")?;
            (w, w, 2 * w, bytes / (2 * w as u64))
        }
    };
    let big_endian = matches!(layout, SymTab::Gnu32 | SymTab::Gnu64);
    let count = usize::try_from(count).map_err(|_| "count overflows")?;
    let end = count
        .checked_mul(step)
        .and_then(|b| b.checked_add(first))
        .filter(|&e| e <= data.len())
        .ok_or("more entries than bytes")?;
    let mut at = first + step - width;
    while at < end {
        let old = if big_endian {
            read_be(data, at, width)
        } else {
            read_le(data, at, width)
        }
        .ok_or("truncated entry")?;
        let new = find(old)?;
        let field = &mut data[at..at + width];
        match (big_endian, width) {
            (true, 4) => {
                field.copy_from_slice(&u32::try_from(new).map_err(|_| "overflow")?.to_be_bytes());
            }
            (true, _) => field.copy_from_slice(&new.to_be_bytes()),
            (false, 4) => {
                field.copy_from_slice(&u32::try_from(new).map_err(|_| "overflow")?.to_le_bytes());
            }
            (false, _) => field.copy_from_slice(&new.to_le_bytes()),
        }
        at += step;
    }
    Ok(())
}

fn read_be(data: &[u8], at: usize, width: usize) -> Option<u64> {
    let b = data.get(at..at + width)?;
    Some(b.iter().fold(0, |acc, &x| acc << 8 | u64::from(x)))
}

fn read_le(data: &[u8], at: usize, width: usize) -> Option<u64> {
    let b = data.get(at..at + width)?;
    Some(b.iter().rev().fold(0, |acc, &x| acc << 8 | u64::from(x)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const EPOCH: u64 = 1_000_000;

    fn header(name: &str, date: u64, uid: u32, mode: &str, size: usize) -> Vec<u8> {
        let h = format!("{name:<16}{date:<12}{uid:<6}{uid:<6}{mode:<8}{size:<10}`\n");
        assert_eq!(h.len(), HEADER);
        h.into_bytes()
    }

    fn member(out: &mut Vec<u8>, name: &str, mtime: u64, mode: &str, data: &[u8]) {
        out.extend(header(name, mtime, 1000, mode, data.len()));
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(EPOCH);
        Ar.normalize(input, &cfg.context(Path::new("lib.a")))
    }

    fn rewritten(input: &[u8]) -> (Vec<u8>, Vec<String>) {
        match run(input).unwrap() {
            Outcome::Rewritten { bytes, changes } => {
                (bytes, changes.iter().map(ToString::to_string).collect())
            }
            Outcome::Unchanged => panic!("expected a rewrite"),
        }
    }

    fn headers(a: &[u8]) -> Vec<String> {
        parse(&a)
            .unwrap()
            .iter()
            .map(|m| String::from_utf8_lossy(&a[m.header..m.header + HEADER]).into_owned())
            .collect()
    }

    #[test]
    fn damaged_packages_are_malformed_not_rewritten_as_plain_archives() {
        let cfg = Config::with_epoch(EPOCH);
        let package = |names: &[&str]| {
            let mut a = MAGIC.to_vec();
            for n in names {
                member(&mut a, n, 2_000_000, "100644", b"2.0\n");
            }
            a
        };
        let good = package(&["debian-binary", "control.tar", "data.tar"]);
        assert!(matches!(
            Ar.normalize(&good, &cfg.context(Path::new("p.deb"))),
            Ok(Outcome::Rewritten { .. })
        ));
        for (a, file) in [
            (
                package(&["debian-binary", "control.tar", "data.tar !"]),
                "p",
            ),
            (
                package(&["debian-binarx", "control.tar", "data.tar"]),
                "p.deb",
            ),
            (MAGIC.to_vec(), "p.deb"),
        ] {
            assert!(matches!(
                Ar.normalize(&a, &cfg.context(Path::new(file))),
                Err(FormatError::Malformed(_))
            ));
        }
        let library = package(&["debian-binarx", "control.tar", "data.tar"]);
        assert!(run(&library).is_ok(), "an archive named .a is no package");
    }

    #[test]
    fn gnu_members_get_clamped_dates_zero_owners_and_plain_modes() {
        let mut a = MAGIC.to_vec();
        member(
            &mut a,
            "/",
            2_000_000,
            "0",
            &[0, 0, 0, 1, 0, 0, 0, 0x44, b'f', 0],
        );
        member(&mut a, "a.o/", 2_000_000, "100644", b"odd");
        member(&mut a, "run/", 999, "100775", b"#!");
        let (out, changes) = rewritten(&a);
        let h = headers(&out);
        assert_eq!(
            h[0],
            format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "/", 0, 0, 0, 0, 10)
        );
        assert_eq!(
            h[1],
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                "a.o/", EPOCH, 0, 0, 644, 3
            )
        );
        assert_eq!(
            h[2],
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                "run/", 999, 0, 0, 755, 2
            )
        );
        assert!(
            changes.contains(&format!("a.o: date \"2000000\" -> {EPOCH}")),
            "{changes:?}"
        );
        assert!(
            changes.contains(&"run: mode \"100775\" -> 755".to_string()),
            "{changes:?}"
        );
        assert_eq!(out.len(), a.len(), "data and padding kept");
        assert_eq!(run(&out).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn long_names_and_bsd_names_are_resolved() {
        let mut a = MAGIC.to_vec();
        member(&mut a, "//", 0, "", b"a_long_object_name.o/\n");
        // A long-name table keeps its blank fields.
        let blank = format!("{:<16}{:<32}{:<10}`\n", "//", "", 22);
        a[8..68].copy_from_slice(blank.as_bytes());
        member(&mut a, "/0", 5, "644", b"x");
        member(&mut a, "#1/12", 5, "644", b"bsd_name.o\0\0data");
        let members = parse(&a).unwrap();
        assert_eq!(members[1].name, b"a_long_object_name.o");
        assert_eq!(members[2].name, b"bsd_name.o");
        assert_eq!(&a[members[2].data.clone()], b"data");
        let (out, changes) = rewritten(&a);
        assert_eq!(&out[8..68], blank.as_bytes(), "// left alone");
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("a_long_object_name.o: uid")),
            "{changes:?}"
        );
        assert!(
            changes.iter().any(|c| c.starts_with("bsd_name.o: gid")),
            "{changes:?}"
        );
    }

    #[test]
    fn already_normal_archives_are_unchanged() {
        let mut a = MAGIC.to_vec();
        a.extend(header("a.o/", 5, 0, "644", 1));
        a.extend(b"x\n");
        assert_eq!(run(&a).unwrap(), Outcome::Unchanged);
        assert_eq!(run(MAGIC).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn symbol_table_offsets_follow_members_that_change_size() {
        let gz = |mtime: u32| {
            use std::io::Write;
            let mut w = flate2::GzBuilder::new()
                .mtime(mtime)
                .filename("page")
                .write(Vec::new(), flate2::Compression::default());
            w.write_all(b"payload").unwrap();
            w.finish().unwrap()
        };
        let first = gz(2_000_000);
        let first_at = 8 + 60 + 12;
        let second_at = first_at + 60 + first.len() + first.len() % 2;
        let mut sym = vec![0, 0, 0, 2];
        sym.extend(u32::try_from(first_at).unwrap().to_be_bytes());
        sym.extend(u32::try_from(second_at).unwrap().to_be_bytes());
        let mut a = MAGIC.to_vec();
        member(&mut a, "/", 0, "0", &sym);
        member(&mut a, "page.gz/", 5, "644", &first);
        member(&mut a, "b.o/", 5, "644", b"object");
        let (out, changes) = rewritten(&a);
        let members = parse(&out).unwrap();
        let table = &out[members[0].data.clone()];
        let offsets: Vec<u32> = table[4..]
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(
            offsets,
            vec![members[1].header as u32, members[2].header as u32]
        );
        assert!(
            members[2].header < a.len() - 60 - 6,
            "the gzip member shrank"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("page.gz!member 1: name")),
            "{changes:?}"
        );
        assert!(
            changes.contains(&"/: member offsets updated".to_string()),
            "{changes:?}"
        );
        assert_eq!(&out[members[2].data.clone()], b"object");
        assert_eq!(run(&out).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn bsd_symbol_table_offsets_follow_members_that_change_size() {
        use std::io::Write;
        let mut w = flate2::GzBuilder::new()
            .filename("a-long-file-name")
            .write(Vec::new(), flate2::Compression::default());
        w.write_all(b"payload").unwrap();
        let gz = w.finish().unwrap();
        // __.SYMDEF (#1/12 name): u32 LE byte length of the (strx, offset)
        // pairs, the pairs, u32 LE string table length, the strings.
        let table_len = 60 + 12 + 4 + 16 + 4 + 4;
        let first_at = 8 + table_len;
        let second_at = first_at + 60 + gz.len() + gz.len() % 2;
        let mut sym = b"__.SYMDEF\0\0\0".to_vec();
        sym.extend(16u32.to_le_bytes());
        for (strx, at) in [(0u32, first_at), (2, second_at)] {
            sym.extend(strx.to_le_bytes());
            sym.extend(u32::try_from(at).unwrap().to_le_bytes());
        }
        sym.extend(4u32.to_le_bytes());
        sym.extend(b"f\0g\0");
        let mut a = MAGIC.to_vec();
        member(&mut a, "#1/12", 0, "0", &sym);
        assert_eq!(a.len(), first_at);
        member(&mut a, "x.gz", 5, "644", &gz);
        member(&mut a, "b.o", 5, "644", b"object");
        let (out, _) = rewritten(&a);
        let members = parse(&out).unwrap();
        assert_eq!(members[0].kind, Kind::Symbols(SymTab::Bsd32));
        let table = &out[members[0].data.clone()];
        let offset =
            |i: usize| u32::from_le_bytes(table[8 + 8 * i..12 + 8 * i].try_into().unwrap());
        assert_eq!(offset(0) as usize, members[1].header);
        assert_eq!(offset(1) as usize, members[2].header);
        assert!(members[2].header < second_at, "the gzip member shrank");
        assert_eq!(&table[..8], &sym[12..20], "the rest of the table is kept");
    }

    #[test]
    fn members_are_the_files_in_stored_order() {
        let mut a = MAGIC.to_vec();
        member(&mut a, "/", 0, "0", &[0, 0, 0, 0]);
        member(&mut a, "b.o/", 5, "644", b"B");
        member(&mut a, "#1/4", 5, "644", b"a.o\0A");
        let cfg = Config::with_epoch(EPOCH);
        let got = Ar
            .members(&a, &cfg.context(Path::new("x.a")))
            .unwrap()
            .unwrap();
        let got: Vec<(&str, &[u8])> = got
            .iter()
            .map(|m| (m.name.as_str(), &m.bytes[..]))
            .collect();
        assert_eq!(got, [("b.o", &b"B"[..]), ("a.o", &b"A"[..])]);
    }

    #[test]
    fn thin_archives_are_refused_and_damage_is_malformed() {
        assert!(matches!(
            run(b"!<thin>\n"),
            Err(FormatError::Unsupported(_))
        ));
        let mut a = MAGIC.to_vec();
        member(&mut a, "a.o/", 5, "644", b"0123456789");
        for cut in [20, 67, a.len() - 1] {
            assert!(
                matches!(run(&a[..cut]), Err(FormatError::Malformed(_))),
                "cut {cut}"
            );
        }
        let mut bad = a.clone();
        bad[8 + 58] = b'x';
        assert!(matches!(run(&bad), Err(FormatError::Malformed(_))));
        let mut bad = a.clone();
        bad[8 + 16] = b'z';
        assert!(matches!(run(&bad), Err(FormatError::Malformed(_))));
        let mut long = MAGIC.to_vec();
        member(&mut long, "/4", 5, "644", b"x");
        assert!(matches!(run(&long), Err(FormatError::Malformed(m)) if m.contains("//")));
    }
}
