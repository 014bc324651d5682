//! cpio archives (cpio(5) of libarchive, and GNU cpio's manual, "Options",
//! `--format`): the portable ASCII formats, POSIX.1 `odc` (magic `070707`)
//! and the SVR4 `newc` format without (`070701`) and with (`070702`, "crc")
//! checksums, and the old binary format (`bin`, GNU cpio's default): magic
//! `070707` as a 16-bit number (`0x71c7`) in the writer's byte order, either
//! order, then 12 more 16-bit words (`dev`, `ino`, `mode`, `uid`, `gid`,
//! `nlink`, `rdev`, `mtime` in two words, `namesize`, `filesize` in two words;
//! the two-word fields put their most significant word first, each word in the
//! archive's byte order), the name padded to an even length and the data to
//! an even length. Its two-byte magic is weak evidence, so a binary archive is
//! claimed only when its first header also has a known file type (or is an
//! empty archive's trailer) and a NUL-terminated name.
//!
//! Normalized, per entry:
//!
//! * `mtime` clamped to the epoch;
//! * `uid` and `gid` become 0;
//! * the device of the file system (`dev`, or `devmajor`/`devminor`) becomes
//!   0. `rdev` (`rdevmajor`/`rdevminor`) is kept for character and block
//!   devices (it is what the node is) and becomes 0 for every other kind of
//!   entry, where it means nothing;
//! * inode numbers renumbered from 0 in the **output** order, as
//!   `cpio --reproducible` does: entries that shared a (device, inode) pair,
//!   i.e. hard links, still share a number, every other entry gets its own
//!   (numbering restarts with each archive of a concatenation). A number that
//!   does not fit the field (more than 65536 inodes in a binary archive) makes
//!   the archive [`FormatError::Unsupported`];
//! * the order of the entries and where a hard-linked file's data lives (see
//!   below); `filesize` follows the data an entry carries;
//! * in `070702` archives, the checksum of a regular file is the sum of the
//!   data it carries (recomputed when that data moved or a nested handler
//!   changed it).
//!
//! **Order.** Entries are sorted by name compared component by component
//! (split at `/`, `.` and empty components ignored, bytes compared as they
//! are), so every directory comes right before its contents, as the Linux
//! initramfs unpacker expects and as `find | sort` would give if `/` sorted
//! first; the `TRAILER!!!` entry stays last. cpio takes its order from the file
//! list it is given, so two builds that list files differently converge. The
//! order is kept as it is when sorting could change what a reader extracts:
//! when two entries have the same name (a later one overrides an earlier
//! one), when an entry that is not a directory has entries under it (a
//! symlink to a directory, say), when one archive mixes header formats, or
//! when the links of a hard-linked file carry different data (below).
//!
//! **Hard links** are regular files with `nlink` > 1 sharing a (device,
//! inode) pair in one archive. In newc and crc the data is stored once: GNU
//! cpio and libarchive put it on the group's last link and give the others
//! size 0, and readers (GNU cpio, libarchive, the kernel) link the entries and
//! take the data from whichever carries it. After sorting, the data goes to
//! the last link of the group in the new order and the other links get size 0.
//! In odc and binary archives every link carries the whole data (GNU cpio and
//! libarchive both write it so; GNU cpio extracts the first link's data and
//! links the others to it), so nothing moves: the entries are sorted only when
//! every link of each group carries the same bytes. If the links of a newc
//! group carry different non-empty data, the archive keeps its order too.
//! Links' data are compared as they will be written (each normalized by the
//! nested handlers under its own name), so a second run decides the same.
//! Moved data is normalized under the name of the link that carries it.
//!
//! Regular files' data up to `config.max_size` go to the dispatcher; when that
//! changes a size, the size field and the alignment padding follow (4 bytes
//! in newc, 2 in binary archives, none in odc).
//!
//! The `TRAILER!!!` entry is kept byte for byte. The zero padding after it (GNU
//! cpio pads to 512-byte blocks) is kept as it is when nothing before it
//! changed size; otherwise the output is padded again to a multiple of 512
//! bytes if the input was, or with as many zeros as before. Several archives
//! one after the other (as in early-microcode initramfs images) are each
//! handled; anything else after a trailer makes the file
//! [`FormatError::Unsupported`].
//!
//! Left alone: names, modes, link counts, `namesize`, symlink targets, the
//! byte order of a binary archive, the letter case of hex digits, the data of
//! members no handler claims. A missing trailer, a truncated entry, a name
//! without its terminating NUL, a field that is not a number, or a bad
//! checksum (`070702`) makes the archive malformed.
//!
//! The archive is read by position, never whole: headers and names as they
//! come, each regular file's data as the dispatcher takes it (past
//! `in_memory`, read by position and rewritten into scratch space), and a
//! `070702` checksum summed a chunk at a time. Data that stays is copied
//! from the input; whether the output is still the input is tracked as it
//! is written.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Member as HandlerMember, Outcome, Sink, Source, Written};
use crate::handlers::held::{Held, Out, Slice, dispatch_member, same_bytes};

mod header;

use header::{Entry, Field, Format, Item, S_IFBLK, S_IFCHR, S_IFDIR, S_IFREG, parse, sum_of};

/// The cpio handler.
pub struct Cpio;

impl Handler for Cpio {
    fn name(&self) -> &'static str {
        "cpio"
    }

    fn describe(&self) -> &'static str {
        "cpio (newc 070701/070702, odc 070707, binary 0x71c7 either byte order): sorts entries (directories first), clamps mtimes, uid/gid 0, renumbers inodes, dev 0, members to the dispatcher"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        matches!(head.get(..6), Some(b"070701" | b"070702" | b"070707")) || header::sniff_bin(head)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(
            prefix,
            &[
                b"070701",
                b"070702",
                b"070707",
                header::BIN_STARTS[0],
                header::BIN_STARTS[1],
            ],
        )
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        crate::handler::normalize_through(self, input, ctx)
    }

    fn streams(&self) -> bool {
        true
    }

    /// Reads the headers and names by position and each regular file's
    /// data as [`dispatch_member`] does (past `in_memory` through scratch
    /// space); data that stays is copied from the input.
    fn normalize_to(
        &self,
        input: &dyn Source,
        sink: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        let items = parse(input)?;
        let mut changes = Vec::new();
        let mut out = Out::new(sink, input);
        let mut archive: Vec<&Entry> = Vec::new();
        for item in &items {
            match item {
                Item::Entry(e) if e.is_trailer() => {
                    write_archive(&mut out, &archive, ctx, &mut changes)?;
                    archive.clear();
                    out.copy(e.start, e.end - e.start)?;
                }
                Item::Entry(e) => archive.push(e),
                Item::Padding(r) => {
                    if out.pos == r.start as u64 {
                        out.copy(r.start, r.len())?;
                    } else if r.end % 512 == 0 {
                        let pos = usize::try_from(out.pos).unwrap_or(usize::MAX);
                        out.zeros(pos.next_multiple_of(512) - pos)?;
                    } else {
                        out.zeros(r.len())?;
                    }
                }
            }
        }
        if out.same && out.pos == input.len() {
            return Ok(Written::Unchanged);
        }
        if changes.is_empty() {
            changes.push(Change::remark("", "alignment padding set to zeros"));
        }
        Ok(Written::Rewritten(changes))
    }

    /// Regular files that carry data, in stored order (in newc, a hard-linked
    /// file's data comes with one link only).
    fn members(
        &self,
        input: &[u8],
        _ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        Some(parse(&input).map(|items| {
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Entry(e) if e.kind() == S_IFREG && !e.data.is_empty() => {
                        Some(HandlerMember {
                            name: String::from_utf8_lossy(&e.name).into_owned(),
                            bytes: input[e.data.clone()].to_vec(),
                        })
                    }
                    _ => None,
                })
                .collect()
        }))
    }
}

/// What the entries of one archive become: the order to write them in
/// (indices into the archive's entries), and the data each entry carries.
#[derive(Debug)]
struct Plan {
    order: Vec<usize>,
    data: Vec<Range<usize>>,
}

/// The name as sort key: its components, without `.` and empty ones.
fn key(name: &[u8]) -> Vec<&[u8]> {
    name.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// A regular file's data as it will be written: the input's bytes, or
/// their rewrite.
enum Body {
    Kept(Range<usize>),
    New(Held),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Kept(r) => r.len() as u64,
            Body::New(h) => h.len(),
        }
    }
}

/// Whether two bodies hold the same bytes.
fn same_body(input: &dyn Source, one: &Body, other: &Body) -> Result<bool, FormatError> {
    match (one, other) {
        (Body::Kept(kept), Body::Kept(also)) => same_bytes(
            input,
            kept.clone(),
            &Slice {
                src: input,
                range: also.clone(),
            },
        ),
        (Body::Kept(kept), Body::New(new)) | (Body::New(new), Body::Kept(kept)) => {
            same_bytes(input, kept.clone(), new.source())
        }
        (Body::New(new), Body::New(also)) => {
            let len = usize::try_from(new.len()).unwrap_or(usize::MAX);
            same_bytes(new.source(), 0..len, also.source())
        }
    }
}

/// Decides the order and the hard-link data of one archive (the rules are in
/// the module header), with a note per kind of change made.
fn plan(
    input: &dyn Source,
    entries: &[&Entry],
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<Plan, FormatError> {
    let keep = Plan {
        order: (0..entries.len()).collect(),
        data: entries.iter().map(|e| e.data.clone()).collect(),
    };
    let Some(format) = entries.first().map(|e| e.format) else {
        return Ok(keep);
    };
    if entries.iter().any(|e| e.format != format) {
        return Ok(keep);
    }
    let keys: Vec<Vec<&[u8]>> = entries.iter().map(|e| key(&e.name)).collect();
    let mut order = keep.order.clone();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    for pair in order.windows(2) {
        let (a, b) = (&keys[pair[0]], &keys[pair[1]]);
        if a == b || (b.starts_with(a) && entries[pair[0]].kind() != S_IFDIR) {
            return Ok(keep);
        }
    }
    // Hard-link groups, each in the new order, in the order of their first link.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<(u64, u64, u64), usize> = HashMap::new();
    for &i in &order {
        let e = entries[i];
        if e.kind() != S_IFREG || e.get(Field::Nlink) < 2 {
            continue;
        }
        let id = (
            e.get(Field::DevMajor),
            e.get(Field::DevMinor),
            e.get(Field::Ino),
        );
        let g = *group_of.entry(id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    // Links are compared as they would be written, each normalized under its
    // own name, so that normalizing the output again decides the same.
    let same = |links: &[usize]| -> Result<bool, FormatError> {
        let own = |i: usize| {
            let e = entries[i];
            nested(input, e.data.clone(), &e.name, ctx, &mut Vec::new())
        };
        let first = own(links[0])?;
        for &i in &links[1..] {
            if !same_body(input, &own(i)?, &first)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut data = keep.data.clone();
    let mut notes = Vec::new();
    for links in &groups {
        let carriers: Vec<usize> = links
            .iter()
            .copied()
            .filter(|&i| !entries[i].data.is_empty())
            .collect();
        if format.data_with_last_link() {
            let Some(&first) = carriers.first() else {
                continue;
            };
            if !same(&carriers)? {
                return Ok(keep);
            }
            let last = *links.last().expect("a group has a link");
            for &i in links {
                data[i] = entries[i].data.start..entries[i].data.start;
            }
            data[last] = entries[first].data.clone();
            if carriers != [last] {
                let name = |i: usize| String::from_utf8_lossy(&entries[i].name);
                let from: Vec<_> = carriers.iter().map(|&c| name(c)).collect();
                notes.push(Change::remark(
                    name(last),
                    format!(
                        "carries the data of its hard links (was with {})",
                        from.join(", ")
                    ),
                ));
            }
        } else if !same(links)? {
            return Ok(keep);
        }
    }
    if order != keep.order {
        changes.push(Change::remark(
            "",
            "entries sorted by name, directories before their contents",
        ));
    }
    changes.extend(notes);
    Ok(Plan { order, data })
}

/// Writes the normalized entries of one archive (without its trailer).
fn write_archive(
    out: &mut Out,
    entries: &[&Entry],
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let plan = plan(out.input, entries, ctx, changes)?;
    // Renumbered in output order; hard links never span two archives.
    let mut inodes: HashMap<(u64, u64, u64), u64> = HashMap::new();
    for &i in &plan.order {
        let e = entries[i];
        let id = (
            e.get(Field::DevMajor),
            e.get(Field::DevMinor),
            e.get(Field::Ino),
        );
        let next = inodes.len() as u64;
        let ino = *inodes.entry(id).or_insert(next);
        write_entry(out, e, plan.data[i].clone(), ino, ctx, changes)?;
    }
    Ok(())
}

/// A header being rewritten, with the name its change notes start with.
struct Header<'a> {
    bytes: Vec<u8>,
    format: Format,
    label: &'a str,
}

impl Header<'_> {
    /// Sets a field the format has, with a note when its value changes.
    fn set(
        &mut self,
        f: Field,
        value: u64,
        what: &str,
        changes: &mut Vec<Change>,
    ) -> Result<(), FormatError> {
        let Some(r) = self.format.range(f) else {
            return Ok(());
        };
        let old = self.format.decode(&self.bytes[r.clone()]).unwrap_or(0);
        if old == value {
            return Ok(());
        }
        let label = self.label;
        self.format
            .encode(&mut self.bytes, r, value)
            .map_err(|capacity| {
                let msg = format!("{label}: {what} {value} does not fit a {capacity}");
                match f {
                    Field::FileSize => FormatError::TooLarge(msg),
                    _ => FormatError::Unsupported(msg),
                }
            })?;
        changes.push(Change::set(label, what, old, value));
        Ok(())
    }
}

/// Writes one normalized entry to `out`, carrying the bytes `data` of the
/// input (its own data, or that of a hard link).
fn write_entry(
    out: &mut Out,
    e: &Entry,
    data: Range<usize>,
    ino: u64,
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<(), FormatError> {
    let input = out.input;
    let label = String::from_utf8_lossy(&e.name).into_owned();
    let fmt = e.format;
    let kind = e.kind();
    let mut inner = Vec::new();
    let body = if kind == S_IFREG {
        nested(input, data, &e.name, ctx, &mut inner)?
    } else {
        Body::Kept(data)
    };
    let mut h = Header {
        bytes: e.header().to_vec(),
        format: fmt,
        label: &label,
    };
    h.set(
        Field::Mtime,
        ctx.clamp(e.get(Field::Mtime)),
        "mtime",
        changes,
    )?;
    h.set(Field::Uid, 0, "uid", changes)?;
    h.set(Field::Gid, 0, "gid", changes)?;
    h.set(Field::Ino, ino, "ino", changes)?;
    h.set(Field::DevMajor, 0, "dev", changes)?;
    h.set(Field::DevMinor, 0, "dev minor", changes)?;
    if !matches!(kind, S_IFCHR | S_IFBLK) {
        h.set(Field::RdevMajor, 0, "rdev", changes)?;
        h.set(Field::RdevMinor, 0, "rdev minor", changes)?;
    }
    h.set(Field::FileSize, body.len(), "size", changes)?;
    if fmt == Format::Crc && kind == S_IFREG {
        // Follows the data; not a change of its own.
        let r = fmt.range(Field::Check).expect("crc has a checksum");
        let check = match &body {
            Body::Kept(r) => sum_of(input, r.clone())?,
            Body::New(held) => {
                let n = usize::try_from(held.len()).unwrap_or(usize::MAX);
                sum_of(held.source(), 0..n)?
            }
        };
        fmt.encode(&mut h.bytes, r, u64::from(check))
            .expect("a u32 fits 8 hex digits");
    }
    changes.extend(inner);
    out.write(&h.bytes)?;
    out.write(&e.name)?;
    out.write(&[0])?;
    align(out, fmt)?;
    match &body {
        Body::Kept(r) => out.copy(r.start, r.len())?,
        Body::New(held) => out.copy_new_compared(held.source())?,
    }
    align(out, fmt)
}

/// Zeros up to the format's alignment.
fn align(out: &mut Out, fmt: Format) -> Result<(), FormatError> {
    let pos = usize::try_from(out.pos).unwrap_or(usize::MAX);
    out.zeros(fmt.align(pos) - pos)
}

/// Hands a regular file's data (`data` of the input) to the dispatcher:
/// its rewrite (and its notes in `changes`), or the data as it is.
fn nested(
    input: &dyn Source,
    data: Range<usize>,
    name: &[u8],
    ctx: &Context,
    changes: &mut Vec<Change>,
) -> Result<Body, FormatError> {
    if data.is_empty() {
        return Ok(Body::Kept(data));
    }
    let name = Path::new(OsStr::from_bytes(name));
    Ok(
        match dispatch_member(input, data.clone(), name, ctx, changes)? {
            Some(held) => Body::New(held),
            None => Body::Kept(data),
        },
    )
}

#[cfg(test)]
mod tests;
