//! The handler API: what a format handler is given and what it returns.
//!
//! This module is a leaf: it imports nothing else of the crate, so every
//! handler can depend on it without depending on the table that holds the
//! handlers, on the run's configuration or on each other.
//!
//! * [`Handler`] — one file format: sniff by magic, normalize as a pure function.
//! * [`Outcome`] — unchanged, or new bytes with one typed [`Change`] per field.
//! * [`Context`] — what a handler knows: the run's [`Settings`] (epoch, limits,
//!   final mtime, date rules), the file's name and depth, and a [`Dispatch`]
//!   through which archive handlers hand their members back to the table.
//! * [`FormatError`] — why a file is left untouched.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many leading bytes dispatch reads to pick a handler.
pub const SNIFF_LEN: usize = 4096;

/// Whether `prefix` cannot be the start of anything that starts with one of
/// `starts`: for [`Handler::ruled_out`] of a handler that claims only heads
/// starting with one of them.
#[must_use]
pub fn starts_none_of(prefix: &[u8], starts: &[&[u8]]) -> bool {
    starts.iter().all(|&s| {
        let k = prefix.len().min(<[u8]>::len(s));
        prefix[..k] != s[..k]
    })
}

/// The epoch used when neither `--epoch` nor `SOURCE_DATE_EPOCH` is given:
/// 1980-01-01T00:00:00Z, the default of nixpkgs' stdenv (and the earliest DOS
/// date; zip times themselves never go below 1980-01-02 02:00, see the zip handler).
pub const DEFAULT_EPOCH: u64 = 315_532_800;

/// A clamp target: seconds since 1970 UTC, with the conversions every
/// handler needs in one place, so that none writes its own saturating cast.
///
/// The epoch is a `u64` (as `SOURCE_DATE_EPOCH` is read); fields are `u32`,
/// `i64` or other widths. Clamping a field only ever lowers it, so the result
/// of [`Epoch::clamp_u32`] always fits the field it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// The epoch `secs` seconds after 1970-01-01T00:00:00Z.
    #[must_use]
    pub const fn new(secs: u64) -> Self {
        Self(secs)
    }

    /// The seconds since 1970, as given.
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The seconds since 1970 as `i64`, saturating at `i64::MAX` (no real
    /// epoch comes near it).
    #[must_use]
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// `t` clamped: a later value becomes the epoch, an earlier one stays.
    #[must_use]
    pub fn clamp(self, t: u64) -> u64 {
        t.min(self.0)
    }

    /// A 32-bit unsigned field clamped; the result is at most `t`, so it fits.
    #[must_use]
    pub fn clamp_u32(self, t: u32) -> u32 {
        u32::try_from(self.clamp(u64::from(t))).unwrap_or(t)
    }

    /// A signed field clamped; the result is at most `t`.
    #[must_use]
    pub fn clamp_i64(self, t: i64) -> i64 {
        t.min(self.as_i64())
    }
}

impl From<u64> for Epoch {
    fn from(secs: u64) -> Self {
        Self(secs)
    }
}

/// Default nesting limit for archives inside archives.
pub const DEFAULT_MAX_DEPTH: u32 = 8;

/// Default size limit for one file or archive member: none (`--max-size` is
/// an opt-in). Large files are streamed or spilled rather than refused
/// (issue 12); formats with 32-bit fields refuse what they cannot record.
pub const DEFAULT_MAX_SIZE: u64 = u64::MAX;

/// Default for [`Settings::in_memory`]: files and members up to 32 MiB are
/// held whole in memory; larger ones are read by position and written
/// through a [`Sink`] ([`Handler::normalize_to`]), or spilled to [`Scratch`].
pub const DEFAULT_IN_MEMORY: u64 = 32 << 20;

/// A handler could not (or would not) normalize its input. The file is left untouched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FormatError {
    /// The bytes do not follow the format's spec (truncated, bad checksum, trailing garbage...).
    /// Fatal under `--strict`.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Valid, but a kind this handler deliberately leaves alone (encrypted, signed...).
    #[error("left alone: {0}")]
    Unsupported(String),
    /// Larger than the configured limits, or nested too deep.
    #[error("too large: {0}")]
    TooLarge(String),
}

impl FormatError {
    /// Shorthand for [`FormatError::Malformed`].
    pub fn malformed(msg: impl Into<String>) -> Self {
        Self::Malformed(msg.into())
    }
}

/// Where a [`Change`] lies: the archive members it is nested in (outermost
/// first), then the place inside the innermost file (`member 1`, `a.o`,
/// `CreationDate at 0x1f`; empty when the file has one such field).
/// Borrowed from the change ([`Change::at`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At<'a> {
    /// The member names, outermost first, each followed by `!` (`a.jar!b.gz!`;
    /// empty for a top-level file).
    pub members: &'a str,
    /// The place inside the innermost file.
    pub place: &'a str,
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.members)?;
        f.write_str(self.place)
    }
}

/// What became of a changed field ([`Change::became`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum New<'a> {
    /// It holds this value now.
    To(&'a str),
    /// It went away, or was rewritten as a whole; the word says how
    /// (`dropped`, `removed`, `cleared`, `updated`).
    Gone(&'a str),
    /// Nothing to show beyond the field itself (`recompressed at level 6 ...`).
    Remark,
}

/// How a [`Change`]'s text ends, after the old value (see [`New`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tail {
    /// ` -> new`.
    To,
    /// ` word`, or `word` alone when no field or old value precedes it.
    Gone,
    /// Nothing.
    Remark,
}

/// One field a handler changed: `{at}: {field} {old} -> {new}`.
///
/// [`Display`](fmt::Display) gives the text reports have always shown
/// (`member 1: mtime 1700000000 -> 315532800`, `a.jar!b.gz!member 1: name
/// "b" dropped`); `strip-nd diff` pairs the changes of two builds by
/// `(at, field)` ([`Change::at`], [`Change::field`]) and compares their
/// [`Change::old`] values.
///
/// A jar of 100,000 members makes half a million changes, all held until
/// the report is printed, so a change is stored as its text alone, in one
/// allocation of exactly its length, with the ends of its parts as offsets
/// (40 bytes beside the text, where five `String`s took 120 and four more
/// allocations). The parts are slices of the text; printing it is one
/// write (so `to_string` allocates exactly its length), and
/// [`String::from`] takes the text over without copying.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// What [`Display`](fmt::Display) prints:
    /// `{members}{place}[: ]{field}[ ]{old}[ -> new | [ ]word]`.
    text: Box<str>,
    /// End of the members' prefix (`a.jar!b.gz!`).
    members: u32,
    /// End of the place.
    place: u32,
    /// End of the field.
    field: u32,
    /// End of the old value.
    old: u32,
    /// What follows the old value.
    tail: Tail,
}

/// A byte offset into a change's text. The text is a few names and values,
/// never 4 GiB; were it longer, the parts would read as empty (see
/// [`Change::part`]) but the text would still print whole.
fn offset(text: &str) -> u32 {
    u32::try_from(text.len()).unwrap_or(u32::MAX)
}

/// Appends `sep` and `part` to `text`, or nothing when `part` prints as
/// nothing; returns the end of the text.
fn push_part(text: &mut String, sep: &str, part: impl fmt::Display) -> u32 {
    use fmt::Write as _;
    let before = text.len();
    text.push_str(sep);
    let with_sep = text.len();
    let _ = write!(text, "{part}");
    if text.len() == with_sep {
        text.truncate(before);
    }
    offset(text)
}

impl Change {
    /// `place: field old -> new`.
    pub fn set(
        place: impl Into<String>,
        field: impl Into<String>,
        old: impl fmt::Display,
        new: impl fmt::Display,
    ) -> Self {
        Self::assemble("", &place.into(), &field.into(), old, Tail::To, new)
    }

    /// `place: field old <word>` (`dropped`, `removed`, `cleared`, `updated`).
    pub fn gone(
        place: impl Into<String>,
        field: impl Into<String>,
        old: impl Into<String>,
        word: &'static str,
    ) -> Self {
        Self::assemble(
            "",
            &place.into(),
            &field.into(),
            old.into(),
            Tail::Gone,
            word,
        )
    }

    /// `place: remark`, a change with no old or new value to show.
    pub fn remark(place: impl Into<String>, remark: impl Into<String>) -> Self {
        Self::assemble("", &place.into(), &remark.into(), "", Tail::Remark, "")
    }

    /// Writes the text part by part, noting where each ends: the members,
    /// the place and `: ` when there is one, the field, a space and the old
    /// value when both show, then the tail (`new` is the new value of
    /// [`Tail::To`], the word of [`Tail::Gone`]).
    fn assemble(
        members: impl fmt::Display,
        place: &str,
        field: &str,
        old: impl fmt::Display,
        tail: Tail,
        new: impl fmt::Display,
    ) -> Self {
        let mut text = String::new();
        let members = push_part(&mut text, "", members);
        text.push_str(place);
        let place = offset(&text);
        if place > members {
            text.push_str(": ");
        }
        let field_start = Self::field_start(members, place);
        let field = push_part(&mut text, "", field);
        let old = push_part(&mut text, if field > field_start { " " } else { "" }, old);
        match tail {
            Tail::To => push_part(&mut text, "", format_args!(" -> {new}")),
            Tail::Gone => push_part(&mut text, if old > field_start { " " } else { "" }, new),
            Tail::Remark => old,
        };
        Self {
            text: text.into_boxed_str(),
            members,
            place,
            field,
            old,
            tail,
        }
    }

    /// Where the field starts: after the place's `: ` when there is a place.
    fn field_start(members: u32, place: u32) -> u32 {
        if place > members { place + 2 } else { place }
    }

    /// Where the old value starts: after the field's space when both show.
    fn old_start(&self) -> u32 {
        let field_start = Self::field_start(self.members, self.place);
        if self.old > self.field && self.field > field_start {
            self.field + 1
        } else {
            self.field
        }
    }

    /// The text from `start` to `end` (empty if they do not fall on it).
    fn part(&self, start: u32, end: u32) -> &str {
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    /// Where the field is: the members it is nested in, and the place.
    pub fn at(&self) -> At<'_> {
        At {
            members: self.part(0, self.members),
            place: self.part(self.members, self.place),
        }
    }

    /// Which field (`mtime`, `name`, `local DOS time`); empty when
    /// [`Change::at`] names it.
    pub fn field(&self) -> &str {
        self.part(Self::field_start(self.members, self.place), self.field)
    }

    /// The old value as shown (`1700000000`, `"a.txt"`); empty when not shown.
    pub fn old(&self) -> &str {
        self.part(self.old_start(), self.old)
    }

    /// What the field became.
    pub fn became(&self) -> New<'_> {
        let end = offset(&self.text);
        match self.tail {
            Tail::To => New::To(self.part(self.old + 4, end)),
            Tail::Gone => New::Gone(self.part(self.old, end).trim_start_matches(' ')),
            Tail::Remark => New::Remark,
        }
    }

    /// The same change with its parts replaced: what the text is made of.
    fn rebuilt(&self, members: impl fmt::Display, place: &str, field: &str) -> Self {
        let (tail, new) = match self.became() {
            New::To(v) | New::Gone(v) => (self.tail, v),
            New::Remark => (Tail::Remark, ""),
        };
        Self::assemble(members, place, field, self.old(), tail, new)
    }

    /// The same change, seen from the archive that holds it as member `member`.
    #[must_use]
    pub fn inside(self, member: impl Into<String>) -> Self {
        let member = member.into();
        let at = self.at();
        self.rebuilt(
            format_args!("{member}!{}", at.members),
            at.place,
            self.field(),
        )
    }

    /// The same change at another place inside its file (a zip member's
    /// name, for the changes found in its extra fields).
    #[must_use]
    pub fn with_place(self, place: &str) -> Self {
        self.rebuilt(self.at().members, place, self.field())
    }

    /// The same change to another field (`local mtime` for `mtime`, when the
    /// local and central copies of a field differ).
    #[must_use]
    pub fn with_field(self, field: &str) -> Self {
        let at = self.at();
        self.rebuilt(at.members, at.place, field)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("at", &self.at())
            .field("field", &self.field())
            .field("old", &self.old())
            .field("new", &self.became())
            .finish()
    }
}

/// The change's text, taken over without a copy.
impl From<Change> for String {
    fn from(c: Change) -> Self {
        c.text.into_string()
    }
}

/// A change equals the text it prints as (so a test can say what it expects
/// to read in a report).
impl PartialEq<str> for Change {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<&str> for Change {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

impl PartialEq<String> for Change {
    fn eq(&self, other: &String) -> bool {
        &*self.text == other.as_str()
    }
}

/// The result of normalizing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing nondeterministic was found; the file must not be touched.
    Unchanged,
    /// The normalized bytes, and one change per field, in file order.
    Rewritten {
        /// The new file contents.
        bytes: Vec<u8>,
        /// What changed.
        changes: Vec<Change>,
    },
}

impl Outcome {
    /// The output bytes: the new ones, or `input` when unchanged.
    pub fn bytes<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        match self {
            Outcome::Unchanged => input,
            Outcome::Rewritten { bytes, .. } => bytes,
        }
    }

    /// The changes as the text reports show (empty when unchanged).
    pub fn notes(&self) -> Vec<String> {
        match self {
            Outcome::Unchanged => Vec::new(),
            Outcome::Rewritten { changes, .. } => changes.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A member of an archive, for [`Handler::members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (path) inside the archive.
    pub name: String,
    /// Its contents, uncompressed.
    pub bytes: Vec<u8>,
}

/// Bytes a handler reads by position: a file on disk, a scratch file, or a
/// slice in memory. Large inputs are never copied whole into memory.
pub trait Source: Sync {
    /// The input's length in bytes.
    fn len(&self) -> u64;
    /// Whether the input is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset`; an error when they run out.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The whole input, when it is already in memory.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
    /// The file behind the input, when this source's offsets are that
    /// file's offsets: a [`Sink`] writing to a file can then copy ranges of
    /// it in the kernel (`copy_file_range`) instead of through a buffer.
    fn file(&self) -> Option<&std::fs::File> {
        None
    }
    /// `len` bytes at `offset`, read into a new buffer.
    fn read_vec(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        if let Some(all) = self.as_slice() {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            return all
                .get(start..start.saturating_add(len))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| io::ErrorKind::UnexpectedEof.into());
        }
        let mut buf = vec![0; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let bytes = self
            .get(start..start.saturating_add(buf.len()))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A reference reads as what it points to, so a slice in memory can be
/// passed as `&dyn Source` (`&bytes` where `bytes: &[u8]`).
impl<T: Source + ?Sized> Source for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }

    fn as_slice(&self) -> Option<&[u8]> {
        (**self).as_slice()
    }

    fn file(&self) -> Option<&std::fs::File> {
        (**self).file()
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_at(offset, buf)
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// How many bytes [`Sink::copy_from`] moves per read.
pub const COPY_CHUNK: usize = 1 << 20;

/// Where a streamed output goes: written in order, with ranges of the input
/// copied across without being held in memory.
pub trait Sink: Write {
    /// Appends `len` bytes of `src` starting at `offset`.
    fn copy_from(&mut self, src: &dyn Source, offset: u64, len: u64) -> io::Result<()> {
        copy_buffered(self, src, offset, len)
    }
}

/// [`Sink::copy_from`] through memory: the slice itself when the source is
/// in memory, else [`COPY_CHUNK`] bytes at a time. Sinks that override
/// `copy_from` fall back to it.
pub fn copy_buffered<W: Write + ?Sized>(
    out: &mut W,
    src: &dyn Source,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    if let Some(all) = src.as_slice() {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = offset
            .checked_add(len)
            .and_then(|e| usize::try_from(e).ok())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        return out.write_all(all.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?);
    }
    let mut buf = vec![0; COPY_CHUNK.min(usize::try_from(len).unwrap_or(COPY_CHUNK))];
    let mut done = 0;
    while done < len {
        let n = buf
            .len()
            .min(usize::try_from(len - done).unwrap_or(usize::MAX));
        src.read_at(offset + done, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

impl Sink for Vec<u8> {}

/// A scratch file: written once through [`Sink`], then read back by
/// position through [`Source`] (a member too large to hold in memory: the
/// tar inside a 3 GB `.tar.gz`, say).
pub trait Scratch: Source + Sink + Send {
    /// The bytes written so far, readable from now on.
    fn finish(&mut self) -> io::Result<()>;
}

/// Makes scratch files; the engine's puts them in the temp directory and
/// removes them when they are dropped. Handlers never touch the file system
/// otherwise.
pub trait Spill: Sync {
    /// A new, empty scratch file.
    fn scratch(&self) -> io::Result<Box<dyn Scratch>>;
}

/// A [`Spill`] with no scratch space: members too large for memory are
/// left as they are (contexts made outside a run).
pub struct NoSpill;

impl Spill for NoSpill {
    fn scratch(&self) -> io::Result<Box<dyn Scratch>> {
        Err(io::Error::other(
            "no scratch space for large members in this context",
        ))
    }
}

/// The result of [`Handler::normalize_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Nothing to change: what was written to the sink is to be discarded.
    Unchanged,
    /// The sink holds the new file; one change per field.
    Rewritten(Vec<Change>),
}

impl Written {
    /// The [`Outcome`] of a `normalize_to` whose sink was `bytes`: how a
    /// streaming handler's `normalize` is its `normalize_to` into a Vec.
    pub fn into_outcome(self, bytes: Vec<u8>) -> Outcome {
        match self {
            Written::Unchanged => Outcome::Unchanged,
            Written::Rewritten(changes) => Outcome::Rewritten { bytes, changes },
        }
    }
}

/// A streaming handler's [`Handler::normalize`]: its
/// [`Handler::normalize_to`] into a `Vec` (given room for the input's
/// length, which an output usually about has), so both paths run the same
/// code.
pub fn normalize_through<H: Handler + ?Sized>(
    handler: &H,
    input: &[u8],
    ctx: &Context,
) -> Result<Outcome, FormatError> {
    let mut bytes = Vec::with_capacity(input.len());
    Ok(handler
        .normalize_to(&input, &mut bytes, ctx)?
        .into_outcome(bytes))
}

/// One file format.
pub trait Handler: Sync {
    /// Short name used in reports and in `--handlers`.
    fn name(&self) -> &'static str;
    /// One line for `--list-handlers`: the format, its spec and how it is recognized.
    fn describe(&self) -> &'static str;
    /// Whether this handler claims a file starting with `head` (at most
    /// [`Handler::sniff_len`] bytes, fewer for short files). `ctx.name` may
    /// narrow a match but must never decide it alone.
    fn sniff(&self, head: &[u8], ctx: &Context) -> bool;
    /// How many head bytes [`Handler::sniff`] is given: [`SNIFF_LEN`] unless a
    /// format's magic lies further in.
    fn sniff_len(&self) -> usize {
        SNIFF_LEN
    }
    /// Whether no head of at most [`SNIFF_LEN`] bytes that starts with
    /// `prefix` is claimed by [`Handler::sniff`]: a caller that must inflate
    /// to sniff (a gzip's payload) can then stop after a few hundred bytes.
    /// Never true for a prefix of a head this handler claims (checked on the
    /// corpus); the default is sure only once the prefix holds all the bytes
    /// sniff looks at. Handlers whose claims all start alike override it
    /// (see [`starts_none_of`]).
    fn ruled_out(&self, prefix: &[u8], ctx: &Context) -> bool {
        prefix.len() >= self.sniff_len() && !self.sniff(&prefix[..self.sniff_len()], ctx)
    }
    /// Normalizes a whole file. Must be deterministic, idempotent and must not
    /// touch the file system. Members go back through [`Context::dispatch`].
    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError>;
    /// Whether [`Handler::normalize_to`] reads its input by position
    /// (memory bounded by the budget, not by the file) rather than whole.
    fn streams(&self) -> bool {
        false
    }
    /// Normalizes a file read by position, writing the new file to `out`.
    /// Must give the same bytes and changes as [`Handler::normalize`]. The
    /// default reads the input whole and calls `normalize`; handlers for
    /// formats that grow large (gzip, tar, zip) override it and set
    /// [`Handler::streams`].
    fn normalize_to(
        &self,
        input: &dyn Source,
        out: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        let owned;
        let bytes = if let Some(b) = input.as_slice() {
            b
        } else {
            let len = usize::try_from(input.len())
                .map_err(|_| FormatError::TooLarge("does not fit in memory".into()))?;
            owned = input
                .read_vec(0, len)
                .map_err(|e| FormatError::malformed(format!("read failed: {e}")))?;
            &owned[..]
        };
        match self.normalize(bytes, ctx)? {
            Outcome::Unchanged => Ok(Written::Unchanged),
            Outcome::Rewritten { bytes, changes } => {
                out.write_all(&bytes)
                    .map_err(|e| FormatError::malformed(format!("write failed: {e}")))?;
                Ok(Written::Rewritten(changes))
            }
        }
    }
    /// Whether the handler is on without being asked for.
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// For formats that hold files (archives, compressed streams): the members
    /// of `input` in stored order, so `strip-nd diff` can compare two builds
    /// member by member. `None` for formats that hold no files.
    fn members(&self, _input: &[u8], _ctx: &Context) -> Option<Result<Vec<Member>, FormatError>> {
        None
    }
    /// Another file whose metadata this handler needs to normalize the file at
    /// `path` (a `.pyc` records its source's mtime). Handlers never touch the
    /// file system: the engine stats the companion and passes what it found in
    /// [`Context::companion_mtime`].
    fn companion(&self, path: &Path) -> Option<PathBuf> {
        let _ = path;
        None
    }
}

impl fmt::Debug for dyn Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A file rewritten by date rules: its new bytes and one change per date.
pub type RulesRewrite = (Vec<u8>, Vec<Change>);

/// User date rules, as the `rules` handler applies them (see `crate::rules`).
pub trait DateRules: Send + Sync {
    /// Whether some rule's scope matches `path`.
    fn in_scope(&self, path: &Path) -> bool;
    /// The rewritten file and one change per date replaced; `None` when no
    /// rule changes anything; `Err` (why) when the file is left alone.
    fn apply(&self, path: &Path, input: &[u8]) -> Result<Option<RulesRewrite>, String>;
}

/// The settings of a run that handlers need.
#[derive(Clone)]
pub struct Settings {
    /// Every timestamp written is clamped to this value (seconds since 1970, UTC).
    pub epoch: u64,
    /// Archives nested deeper than this are passed through untouched.
    pub max_depth: u32,
    /// Files or members larger than this are passed through untouched.
    pub max_size: u64,
    /// Files and members up to this size are held whole in memory; larger
    /// ones are streamed ([`Handler::normalize_to`]) or spilled to scratch.
    pub in_memory: u64,
    /// The mtime every file will end with after the run, when something
    /// outside strip-nd sets it (Nix sets 1 when it registers an output).
    /// Handlers that record another file's mtime (pyc) record this value.
    pub final_mtime: Option<i64>,
    /// User date rules (`--rules`, `STRIP_ND_RULES`); `None` when none are given.
    pub rules: Option<Arc<dyn DateRules>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            epoch: DEFAULT_EPOCH,
            max_depth: DEFAULT_MAX_DEPTH,
            max_size: DEFAULT_MAX_SIZE,
            in_memory: DEFAULT_IN_MEMORY,
            final_mtime: None,
            rules: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("epoch", &self.epoch)
            .field("max_depth", &self.max_depth)
            .field("max_size", &self.max_size)
            .field("in_memory", &self.in_memory)
            .field("final_mtime", &self.final_mtime)
            .field("rules", &self.rules.is_some())
            .finish()
    }
}

/// What became of a member handed to [`Dispatch::member`].
#[derive(Debug)]
pub enum Nested {
    /// No enabled handler claims it.
    NotClaimed,
    /// The named handler claimed it and found nothing to change.
    Unchanged(&'static str),
    /// The named handler rewrote it; the changes are already placed inside
    /// the member ([`Change::inside`]).
    Rewritten {
        /// The claiming handler.
        handler: &'static str,
        /// The member's new contents.
        bytes: Vec<u8>,
        /// What changed, with the member's name in front.
        changes: Vec<Change>,
    },
    /// The named handler left it untouched, for this reason. The dispatcher
    /// has already reported it; the caller keeps the member as it is.
    Failed(&'static str, FormatError),
}

/// The handler table as handlers see it: archive handlers hand each member
/// back through this, and the table applies the limits (size, depth), the
/// panic guard and the name prefix once, for every format.
pub trait Dispatch: Sync {
    /// The first enabled handler that claims a file starting with `head`.
    fn sniff(&self, head: &[u8], ctx: &Context) -> Option<&'static dyn Handler>;
    /// Whether no enabled handler can claim a head of at most [`SNIFF_LEN`]
    /// bytes that starts with `prefix` ([`Handler::ruled_out`]). False when
    /// unsure.
    fn ruled_out(&self, _prefix: &[u8], _ctx: &Context) -> bool {
        false
    }
    /// Normalizes `input`, the member called `ctx.name` of the file one level
    /// up (`ctx` comes from [`Context::nested`]).
    fn member(&self, input: &[u8], ctx: &Context) -> Nested;
    /// Like [`Dispatch::member`] for a member too large for memory, read by
    /// position (a scratch file, usually) and written to `out`. The changes
    /// of [`NestedWritten::Rewritten`] are already placed inside the member.
    fn member_to(&self, input: &dyn Source, out: &mut dyn Sink, ctx: &Context) -> NestedWritten;
}

/// What became of a member handed to [`Dispatch::member_to`].
#[derive(Debug)]
pub enum NestedWritten {
    /// No enabled handler claims it.
    NotClaimed,
    /// The named handler claimed it and found nothing to change (discard `out`).
    Unchanged(&'static str),
    /// `out` holds the member's new contents.
    Rewritten(&'static str, Vec<Change>),
    /// Left untouched for this reason, already reported (discard `out`).
    Failed(&'static str, FormatError),
}

/// What a handler knows about the file it is normalizing.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Run-wide settings.
    pub settings: &'a Settings,
    /// The table, for members.
    pub dispatch: &'a dyn Dispatch,
    /// Scratch space for members too large for memory.
    pub spill: &'a dyn Spill,
    /// The file's path (top level) or member name (inside an archive). Names may
    /// narrow a match but never decide it alone.
    pub name: &'a Path,
    /// 0 for a file on disk, n for a member nested n archives deep.
    pub depth: u32,
    /// The context of the file this one is a member of.
    pub parent: Option<&'a Context<'a>>,
    /// A top-level file's path relative to the root it was found under (its
    /// file name when the root is the file itself); `None` for members and
    /// for contexts made outside a run. Date rules match their scope on it.
    pub relative: Option<&'a Path>,
    /// The mtime the file named by [`Handler::companion`] will have when the
    /// run is over; `None` when the handler names no companion, the companion
    /// does not exist, or the file is a member.
    pub companion_mtime: Option<i64>,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("settings", self.settings)
            .field("name", &self.name)
            .field("depth", &self.depth)
            .field("relative", &self.relative)
            .field("companion_mtime", &self.companion_mtime)
            .finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// The context of a top-level file.
    pub fn new(settings: &'a Settings, dispatch: &'a dyn Dispatch, name: &'a Path) -> Self {
        Self {
            settings,
            dispatch,
            spill: &NoSpill,
            name,
            depth: 0,
            parent: None,
            relative: None,
            companion_mtime: None,
        }
    }

    /// The clamp target for timestamps.
    pub fn epoch(&self) -> u64 {
        self.settings.epoch
    }

    /// The clamp target as an [`Epoch`], with its conversions to field widths.
    pub fn epoch_value(&self) -> Epoch {
        Epoch::new(self.settings.epoch)
    }

    /// Clamps a timestamp: later values become the epoch, earlier ones stay.
    pub fn clamp(&self, t: u64) -> u64 {
        self.epoch_value().clamp(t)
    }

    /// The context for a member of the current file.
    #[must_use]
    pub fn nested(&'a self, name: &'a Path) -> Context<'a> {
        Context {
            settings: self.settings,
            dispatch: self.dispatch,
            spill: self.spill,
            name,
            depth: self.depth + 1,
            parent: Some(self),
            relative: None,
            companion_mtime: None,
        }
    }

    /// Hands member `name` of the current file back to the table.
    pub fn member(&self, name: &Path, input: &[u8]) -> Nested {
        self.dispatch.member(input, &self.nested(name))
    }

    /// The first enabled handler that claims member `name` starting with `head`.
    pub fn sniff_member(&self, name: &Path, head: &[u8]) -> Option<&'static dyn Handler> {
        self.dispatch.sniff(head, &self.nested(name))
    }

    /// The path date-rule scopes are matched against: the path relative to
    /// its root for a top-level file, the member path inside an archive.
    pub fn scope_path(&self) -> &'a Path {
        self.relative.unwrap_or(self.name)
    }

    /// The member names from the top-level file down to this one (empty
    /// for a top-level file).
    pub fn members(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut at = Some(self);
        while let Some(c) = at {
            if c.parent.is_some() {
                names.push(c.name.to_string_lossy().into_owned());
            }
            at = c.parent;
        }
        names.reverse();
        names
    }
}

/// A [`Dispatch`] that claims nothing: for contexts of a single format.
pub struct NoDispatch;

impl Dispatch for NoDispatch {
    fn sniff(&self, _head: &[u8], _ctx: &Context) -> Option<&'static dyn Handler> {
        None
    }

    fn member(&self, _input: &[u8], _ctx: &Context) -> Nested {
        Nested::NotClaimed
    }

    fn member_to(&self, _input: &dyn Source, _out: &mut dyn Sink, _ctx: &Context) -> NestedWritten {
        NestedWritten::NotClaimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_print_as_the_notes_reports_have_always_shown() {
        let c = Change::set("member 1", "mtime", 1_700_000_000, 315_532_800);
        assert_eq!(c.to_string(), "member 1: mtime 1700000000 -> 315532800");
        let c = Change::gone("member 1", "name", "\"b\"", "dropped").inside("x.tar");
        assert_eq!(c.to_string(), "x.tar!member 1: name \"b\" dropped");
        let c = Change::gone("", "", "", "dropped");
        assert_eq!(c.to_string(), "dropped");
        let c = Change::set("", "source mtime", 5, 1)
            .inside("a")
            .inside("top.pyc");
        assert_eq!(c.to_string(), "top.pyc!a!source mtime 5 -> 1");
        let c = Change::set("CreationDate at 0x10", "", "D:2020", "D:1980");
        assert_eq!(c.to_string(), "CreationDate at 0x10: D:2020 -> D:1980");
        let c = Change::remark("member 1", "recompressed at deflate level 9");
        assert_eq!(c.to_string(), "member 1: recompressed at deflate level 9");
        let c = Change::gone("a", "non-zero padding", "", "cleared");
        assert_eq!(c.to_string(), "a: non-zero padding cleared");
    }

    #[test]
    fn a_change_gives_back_the_parts_it_was_made_of() {
        fn parts(c: &Change) -> (String, String, String, String, New<'_>) {
            let at = c.at();
            (
                at.members.to_owned(),
                at.place.to_owned(),
                c.field().to_owned(),
                c.old().to_owned(),
                c.became(),
            )
        }
        let c = Change::set("member 1", "mtime", 1_700_000_000, 315_532_800);
        assert_eq!(
            parts(&c),
            (
                String::new(),
                "member 1".into(),
                "mtime".into(),
                "1700000000".into(),
                New::To("315532800")
            )
        );
        let c = c.inside("b.tar").inside("a.tar.gz");
        assert_eq!(
            c.to_string(),
            "a.tar.gz!b.tar!member 1: mtime 1700000000 -> 315532800"
        );
        assert_eq!(c.at().members, "a.tar.gz!b.tar!");
        assert_eq!((c.field(), c.old()), ("mtime", "1700000000"));
        assert_eq!(c.became(), New::To("315532800"));
        // No place: no colon, and the field starts the text after the members.
        let c = Change::set("", "source mtime", 5, 1).inside("top.pyc");
        assert_eq!(parts(&c).1, "");
        assert_eq!((c.field(), c.old()), ("source mtime", "5"));
        // No field: the old value follows the place's colon.
        let c = Change::set("CreationDate at 0x10", "", "D:2020", "D:1980");
        assert_eq!((c.field(), c.old()), ("", "D:2020"));
        // A word with nothing before it but the place; with a field; alone.
        let c = Change::gone("a", "", "", "dropped");
        assert_eq!(
            (c.to_string().as_str(), c.became()),
            ("a: dropped", New::Gone("dropped"))
        );
        let c = Change::gone("a", "non-zero padding", "", "cleared");
        assert_eq!(
            (c.field(), c.old(), c.became()),
            ("non-zero padding", "", New::Gone("cleared"))
        );
        let c = Change::gone("", "", "", "dropped").inside("x.gz");
        assert_eq!(
            (c.to_string().as_str(), c.became()),
            ("x.gz!dropped", New::Gone("dropped"))
        );
        let c = Change::remark("member 1", "recompressed at deflate level 9");
        assert_eq!(
            (c.field(), c.old(), c.became()),
            ("recompressed at deflate level 9", "", New::Remark)
        );
    }

    #[test]
    fn a_change_moved_to_another_place_or_field_reads_as_if_made_there() {
        let made = Change::set("", "mtime", 7, 1).with_place("a.txt");
        assert_eq!(made, Change::set("a.txt", "mtime", 7, 1));
        assert_eq!(made.to_string(), "a.txt: mtime 7 -> 1");
        let made = made.with_field("local mtime");
        assert_eq!(made, Change::set("a.txt", "local mtime", 7, 1));
        let gone = Change::gone("", "", "", "dropped").with_field("uid/gid");
        assert_eq!(gone, Change::gone("", "uid/gid", "", "dropped"));
        assert_eq!(gone.to_string(), "uid/gid dropped");
        let inner = Change::remark("", "updated")
            .inside("x.jar")
            .with_place("m");
        assert_eq!(inner, Change::remark("m", "updated").inside("x.jar"));
        assert_eq!(inner.to_string(), "x.jar!m: updated");
    }

    #[test]
    fn a_change_is_its_text_and_four_offsets() {
        // Half a million of them are held for a jar of 100,000 members: the
        // five Strings they used to be took 120 bytes beside the text.
        assert!(size_of::<Change>() <= 40, "{}", size_of::<Change>());
        let c = Change::set(
            "org/example/p0/C0.class",
            "DOS time",
            "2026-12-02",
            "1980-01-02",
        );
        let text = c.to_string();
        assert_eq!(text.capacity(), text.len(), "printed in one write");
        let moved = String::from(c);
        assert_eq!(moved, text);
    }

    #[test]
    fn a_nested_context_knows_its_path_and_depth() {
        let settings = Settings::default();
        let top = Context::new(&settings, &NoDispatch, Path::new("out/a.jar"));
        let inner = top.nested(Path::new("b.zip"));
        let innermost = inner.nested(Path::new("c.class"));
        assert_eq!(innermost.depth, 2);
        assert_eq!(innermost.members(), ["b.zip", "c.class"]);
        assert!(top.members().is_empty());
    }

    #[test]
    fn epoch_conversions_saturate_and_clamps_only_lower() {
        let e = Epoch::new(1_000);
        assert_eq!(e.as_u64(), 1_000);
        assert_eq!(e.as_i64(), 1_000);
        assert_eq!(Epoch::new(u64::MAX).as_i64(), i64::MAX);
        assert_eq!(e.clamp(999), 999);
        assert_eq!(e.clamp(1_001), 1_000);
        assert_eq!(e.clamp_u32(7), 7);
        assert_eq!(e.clamp_u32(u32::MAX), 1_000);
        // An epoch past the field's range leaves every value of the field alone.
        assert_eq!(Epoch::new(u64::MAX).clamp_u32(u32::MAX), u32::MAX);
        assert_eq!(e.clamp_i64(-5), -5);
        assert_eq!(e.clamp_i64(i64::MAX), 1_000);
        assert_eq!(Epoch::new(u64::MAX).clamp_i64(i64::MAX), i64::MAX);
    }
}
