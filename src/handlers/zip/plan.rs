//! Planning a rewrite: the output order, the new times (with the rule that a
//! source stays older than its compiled form), extra fields, modes, version
//! made by, dropped members and nested members' new contents.

use std::borrow::Cow;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::deflate::{Inflater, check_size, deflate, deflater};
use super::dostime::{DOS_FLOOR, DosTime, clamp_unix};
use super::fields::{extra_records, le32, malformed, put32, show, to_usize};
use super::manifest::{META_INF, clean_manifest, is_manifest, is_maven_leftover};
use super::read::{Archive, Entry};
use super::{
    BOMB_MIN_SIZE, BOMB_RATIO, DEFLATED, DOS_DIRECTORY, EXTRA_NTFS, EXTRA_TIMESTAMP,
    EXTRA_UNIX_IDS, EXTRA_UNIX_NEW, EXTRA_UNIX_OLD, HOST_UNIX, S_IFLNK, S_IFMT, STORED,
};
use crate::handler::Context;
use crate::handler::FormatError;

use crate::handler::SNIFF_LEN;
use crate::handler::{Change, Nested, NestedWritten, Scratch, Sink};

/// The earliest time of a compiled member whose source is in the archive:
/// its source must be strictly earlier and not below [`DOS_FLOOR`].
const COMPILED_FLOOR: u64 = DOS_FLOOR + 2;

/// How an entry's times are chosen beyond the clamp and the floor, so that a
/// source stays strictly older than its compiled form in the same archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// No source or compiled counterpart in the archive.
    Plain,
    /// Compiled from a source in the archive: at least [`COMPILED_FLOOR`].
    Compiled,
    /// The source of compiled members: this one time (even seconds, strictly
    /// before every time they carry) for its DOS times and UT mtimes.
    Source(u64),
}

impl Role {
    fn dos(self, d: DosTime, ctx: &Context) -> DosTime {
        match self {
            Role::Plain => d.clamped(ctx),
            Role::Compiled => {
                let c = d.clamped(ctx);
                if c.unix().is_some_and(|t| t >= COMPILED_FLOOR) {
                    c
                } else {
                    DosTime::from_unix(COMPILED_FLOOR)
                }
            }
            Role::Source(t) => DosTime::from_unix(t),
        }
    }

    fn ut(self, t: u32, ctx: &Context) -> u32 {
        match self {
            Role::Plain => clamp_unix(t, ctx),
            Role::Compiled => clamp_unix(t, ctx).max(COMPILED_FLOOR as u32),
            Role::Source(s) => u32::try_from(s).unwrap_or(u32::MAX),
        }
    }
}

/// The members a compiled member is made from, by name: Clojure's
/// `x/y__init.class` from `x/y.clj` or `x/y.cljc` (what `clojure.lang.RT.load`
/// compares), `CPython`'s `d/__pycache__/m.<tag>.pyc` and `d/m.pyc` from `d/m.py`
/// (the pyc handler's rule, which follows `importlib.util.source_from_cache`).
fn sources_of(name: &[u8]) -> Vec<Vec<u8>> {
    if let Some(base) = name.strip_suffix(b"__init.class") {
        if base.is_empty() || base.ends_with(b"/") {
            return Vec::new();
        }
        return [&b".clj"[..], b".cljc"]
            .iter()
            .map(|ext| [base, ext].concat())
            .collect();
    }
    if name.ends_with(b".pyc") {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(name));
        return crate::handlers::pyc::source_of(path)
            .map(|p| p.into_os_string().into_vec())
            .into_iter()
            .collect();
    }
    Vec::new()
}

/// The mtimes of the UT records of an extra field block that have one.
pub(super) fn ut_mtimes(extra: &[u8]) -> impl Iterator<Item = u32> + '_ {
    extra_records(extra).0.into_iter().filter_map(|(id, r)| {
        let d = &extra[r];
        (id == EXTRA_TIMESTAMP && d.len() >= 5 && d[0] & 1 != 0).then(|| le32(d, 1))
    })
}

/// Every entry's [`Role`], and the entries by name.
struct Times<'a> {
    roles: Vec<Role>,
    index: std::collections::HashMap<&'a [u8], usize>,
}

impl Times<'_> {
    /// The DOS time (read as UTC) the member called `name` will have.
    fn of(&self, archive: &Archive, name: &[u8], ctx: &Context) -> Option<i64> {
        let &i = self.index.get(name)?;
        let t = self.roles[i]
            .dos(archive.entries[i].local_time, ctx)
            .unix()?;
        i64::try_from(t).ok()
    }
}

/// A member's new stored bytes (compressed as the member was).
pub(super) enum Content {
    /// Held in memory.
    Memory(Vec<u8>),
    /// In a scratch file: a member larger than [`Settings::in_memory`](crate::handler::Settings).
    Spilled(Box<dyn Scratch>),
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Memory(v) => write!(f, "Memory({} bytes)", v.len()),
            Content::Spilled(s) => write!(f, "Spilled({} bytes)", s.len()),
        }
    }
}

impl Content {
    /// Appends the bytes to `sink`.
    pub(super) fn write_to(&self, sink: &mut dyn Sink) -> std::io::Result<()> {
        match self {
            Content::Memory(v) => sink.write_all(v),
            Content::Spilled(s) => sink.copy_from(&**s, 0, s.len()),
        }
    }

    /// The bytes, read into memory when they are spilled.
    pub(super) fn bytes(&self) -> Result<Cow<'_, [u8]>, FormatError> {
        match self {
            Content::Memory(v) => Ok(Cow::Borrowed(v)),
            Content::Spilled(s) => {
                let len = to_usize(s.len(), "member size")?;
                s.read_vec(0, len)
                    .map(Cow::Owned)
                    .map_err(|e| scratch_failed(&e))
            }
        }
    }
}

fn scratch_failed(e: &std::io::Error) -> FormatError {
    FormatError::TooLarge(format!("scratch space for a large member failed: {e}"))
}

/// New contents of a member.
#[derive(Debug)]
pub(super) struct NewData {
    pub(super) data: Content,
    pub(super) crc: u32,
    pub(super) csize: u64,
    pub(super) usize: u64,
}

/// What to write for one entry.
#[derive(Debug)]
pub(super) struct EntryPlan<'a> {
    pub(super) index: usize,
    pub(super) local_time: DosTime,
    pub(super) central_time: DosTime,
    pub(super) local_extra: Cow<'a, [u8]>,
    pub(super) central_extra: Cow<'a, [u8]>,
    pub(super) made_by: u16,
    pub(super) external: u32,
    pub(super) new_data: Option<NewData>,
}

/// The whole rewrite: entries in output order and the notes.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub(super) entries: Vec<EntryPlan<'a>>,
    pub(super) changes: Vec<Change>,
}

impl Archive<'_> {
    /// The output order: jar and mimetype exceptions first, then raw names.
    fn order(&self) -> Result<Vec<usize>, FormatError> {
        let first_local = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.local)
            .map(|(i, _)| i);
        let jar = self.entries.iter().any(|e| is_manifest(self.name(e)));
        let rank = |i: usize| {
            let name = self.name(&self.entries[i]);
            if Some(i) == first_local && name == b"mimetype" {
                0
            } else if jar && name.eq_ignore_ascii_case(META_INF) {
                1
            } else if jar && is_manifest(name) {
                2
            } else {
                3
            }
        };
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by(|&a, &b| {
            (rank(a), self.name(&self.entries[a])).cmp(&(rank(b), self.name(&self.entries[b])))
        });
        let mut names: Vec<&[u8]> = self.entries.iter().map(|e| self.name(e)).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(FormatError::Unsupported(format!(
                "duplicate entry name {}",
                show(w[0])
            )));
        }
        Ok(order)
    }

    pub(super) fn plan(&self, ctx: &Context) -> Result<Plan<'_>, FormatError> {
        let mut order = self.order()?;
        let mut changes = Vec::new();
        let jar = self.entries.iter().any(|e| is_manifest(self.name(e)));
        let kept = |&i: &usize| !(jar && is_maven_leftover(self.name(&self.entries[i])));
        for &i in order.iter().filter(|i| !kept(i)) {
            changes.push(Change::gone(
                show(self.name(&self.entries[i])),
                "",
                "",
                "dropped (a Maven compiler leftover whose name or content changes with every build)",
            ));
        }
        order.retain(kept);
        let mut by_local: Vec<usize> = (0..self.entries.len()).filter(kept).collect();
        by_local.sort_by_key(|&i| self.entries[i].local);
        if by_local != order {
            changes.push(Change::remark("local headers", "entries sorted by name"));
        }
        if !order
            .iter()
            .copied()
            .eq((0..self.entries.len()).filter(kept))
        {
            changes.push(Change::remark(
                "central directory",
                "entries sorted by name",
            ));
        }
        let times = self.times(ctx);
        let mut inflater = Inflater::new();
        let mut entries = Vec::with_capacity(order.len());
        for &i in &order {
            entries.push(self.plan_entry(i, ctx, &times, &mut inflater, &mut changes)?);
        }
        Ok(Plan { entries, changes })
    }

    /// Every entry's [`Role`]: compiled members whose source is in the archive
    /// get at least [`COMPILED_FLOOR`], and each such source one time 2 s
    /// (rounded down to even seconds) before the earliest time its compiled
    /// members carry, unless it is earlier already.
    fn times(&self, ctx: &Context) -> Times<'_> {
        let index: std::collections::HashMap<&[u8], usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.name(e), i))
            .collect();
        let mut roles = vec![Role::Plain; self.entries.len()];
        let mut limits: Vec<Option<u64>> = vec![None; self.entries.len()];
        for (i, e) in self.entries.iter().enumerate() {
            let sources: Vec<usize> = sources_of(self.name(e))
                .iter()
                .filter_map(|s| index.get(&s[..]).copied())
                .collect();
            if sources.is_empty() {
                continue;
            }
            roles[i] = Role::Compiled;
            let t = self.earliest(e, Role::Compiled, ctx);
            for s in sources {
                limits[s] = Some(limits[s].map_or(t, |l| l.min(t)));
            }
        }
        for (i, limit) in limits.into_iter().enumerate() {
            if let Some(limit) = limit {
                let own = self.earliest(&self.entries[i], Role::Plain, ctx);
                // limit >= COMPILED_FLOOR, so the result is >= DOS_FLOOR.
                roles[i] = Role::Source(own.min(limit - 2) & !1);
            }
        }
        Times { roles, index }
    }

    /// The earliest of the times `e` will carry as `role` (DOS times read as
    /// UTC, UT mtimes), local and central.
    fn earliest(&self, e: &Entry, role: Role, ctx: &Context) -> u64 {
        let dos = [e.local_time, e.central_time]
            .into_iter()
            .map(|d| role.dos(d, ctx).unix().unwrap_or(DOS_FLOOR));
        let ut = [&e.local_extra, &e.central_extra]
            .into_iter()
            .flat_map(|x| ut_mtimes(self.at(x.clone())))
            .map(|t| u64::from(role.ut(t, ctx)));
        dos.chain(ut).min().unwrap_or(DOS_FLOOR)
    }

    fn plan_entry(
        &self,
        index: usize,
        ctx: &Context,
        times: &Times,
        inflater: &mut Inflater,
        changes: &mut Vec<Change>,
    ) -> Result<EntryPlan<'_>, FormatError> {
        let e = &self.entries[index];
        let name = show(self.name(e));
        let mut notes = Vec::new();

        let role = times.roles[index];
        let local_time = role.dos(e.local_time, ctx);
        let central_time = role.dos(e.central_time, ctx);
        if local_time != e.local_time && local_time != Role::Plain.dos(e.local_time, ctx) {
            notes.push(match role {
                Role::Compiled => Change::remark(
                    "",
                    format!(
                        "compiled form of a source in the archive: not before {}",
                        DosTime::from_unix(COMPILED_FLOOR)
                    ),
                ),
                _ => Change::remark(
                    "",
                    "source of a compiled member: kept strictly older than it",
                ),
            });
        }
        let same_times = e.local_time == e.central_time;
        if local_time != e.local_time {
            let which = if same_times { "" } else { "local " };
            notes.push(Change::set(
                "",
                format!("{which}DOS time"),
                e.local_time,
                local_time,
            ));
        }
        if central_time != e.central_time && !same_times {
            notes.push(Change::set(
                "",
                "central DOS time",
                e.central_time,
                central_time,
            ));
        }

        let mut local_notes = Vec::new();
        let local_extra =
            normalize_extra(self.at(e.local_extra.clone()), ctx, role, &mut local_notes);
        let mut central_notes = Vec::new();
        let central_extra = normalize_extra(
            self.at(e.central_extra.clone()),
            ctx,
            role,
            &mut central_notes,
        );
        if local_notes == central_notes {
            notes.extend(local_notes);
        } else {
            let side = |side: &str, n: Change| {
                let field = format!("{side} {}", n.field());
                n.with_field(&field)
            };
            notes.extend(local_notes.into_iter().map(|n| side("local", n)));
            notes.extend(central_notes.into_iter().map(|n| side("central", n)));
        }

        let made_by = (e.made_by & 0xff00) | (e.needed & 0x00ff);
        if made_by != e.made_by {
            notes.push(Change::set(
                "",
                "version made by",
                format!("{:#06x}", e.made_by),
                format!("{made_by:#06x}"),
            ));
        }
        let external = normalize_external(e.made_by, e.external);
        if external != e.external {
            notes.push(Change::set(
                "",
                "external attributes",
                format!("{:#010x}", e.external),
                format!("{external:#010x}"),
            ));
        }
        changes.extend(notes.into_iter().map(|n| n.with_place(&name)));

        let new_data = self.member(e, &name, ctx, times, inflater, changes)?;
        Ok(EntryPlan {
            index,
            local_time,
            central_time,
            local_extra,
            central_extra,
            made_by,
            external,
            new_data,
        })
    }

    /// Normalizes a member's content: the jar manifest here, anything else
    /// through the dispatcher. `None` when the content stays as it is.
    fn member(
        &self,
        e: &Entry,
        name: &str,
        ctx: &Context,
        times: &Times,
        inflater: &mut Inflater,
        changes: &mut Vec<Change>,
    ) -> Result<Option<NewData>, FormatError> {
        let expandable = (e.method == STORED || e.method == DEFLATED)
            && e.usize <= ctx.settings.max_size
            && !(e.usize > BOMB_MIN_SIZE && e.usize > e.csize.saturating_mul(BOMB_RATIO));
        if !expandable {
            return Ok(None);
        }
        let src = self.bytes.source();
        let range = e.data.start as u64..e.data.end as u64;
        let bad = |msg: String| malformed(format!("entry {name}: {msg}"));
        let is_manifest = is_manifest(self.name(e));
        let path = PathBuf::from(name);
        let mut nested = ctx.nested(&path);
        if !is_manifest {
            let head = match e.method {
                STORED => self.data(e.data.start..e.data.end.min(e.data.start + SNIFF_LEN))?,
                _ => Cow::Owned(inflater.head(src, range.clone(), SNIFF_LEN).map_err(bad)?),
            };
            let Some(handler) = nested.dispatch.sniff(&head, &nested) else {
                return Ok(None);
            };
            // A pyc records its source's time: the time that member gets here.
            nested.companion_mtime = handler
                .companion(&path)
                .and_then(|c| times.of(self, c.as_os_str().as_bytes(), ctx));
        }
        if e.usize > ctx.settings.in_memory && !is_manifest {
            if let Ok(raw) = ctx.spill.scratch() {
                return self.spilled(e, raw, &nested, inflater, changes);
            }
            // No scratch space: held in memory, as it always was.
        }
        let size = to_usize(e.usize, "uncompressed size")?;
        let content = match e.method {
            STORED => self.data(e.data.clone())?,
            _ => Cow::Owned(inflater.all(src, range, size).map_err(bad)?),
        };
        let crc = crc32fast::hash(&content);
        if crc != e.crc {
            return Err(bad(format!(
                "CRC32 {:#010x} does not match the data ({crc:#010x})",
                e.crc
            )));
        }
        let new = if is_manifest {
            clean_manifest(&content).map(|(bytes, dropped)| {
                for a in dropped {
                    changes.push(Change::gone(name, "attribute", a, "dropped"));
                }
                bytes
            })
        } else {
            match nested.dispatch.member(&content, &nested) {
                Nested::Rewritten {
                    bytes,
                    changes: inner,
                    ..
                } => {
                    changes.extend(inner);
                    Some(bytes)
                }
                _ => None,
            }
        };
        Ok(new.map(|bytes| {
            let crc = crc32fast::hash(&bytes);
            let usize = bytes.len() as u64;
            let data = if e.method == STORED {
                bytes
            } else {
                deflate(&bytes)
            };
            NewData {
                csize: data.len() as u64,
                data: Content::Memory(data),
                crc,
                usize,
            }
        }))
    }

    /// The bytes of `r` of the input: borrowed when it is in memory.
    pub(super) fn data(&self, r: std::ops::Range<usize>) -> Result<Cow<'_, [u8]>, FormatError> {
        if let Some(all) = self.bytes.whole() {
            return Ok(Cow::Borrowed(&all[r]));
        }
        self.bytes
            .source()
            .read_vec(r.start as u64, r.end - r.start)
            .map(Cow::Owned)
            .map_err(|e| malformed(format!("read failed at offset {}: {e}", r.start)))
    }

    /// [`Archive::member`] for a member larger than memory, which a handler
    /// claims: expanded into the scratch file `raw` (its CRC32 and size
    /// checked on the way), handed to the dispatcher by position, and, when
    /// rewritten, compressed again from its scratch file into another, with
    /// the same bytes as [`deflate`] gives in memory.
    fn spilled(
        &self,
        e: &Entry,
        mut raw: Box<dyn Scratch>,
        nested: &Context,
        inflater: &mut Inflater,
        changes: &mut Vec<Change>,
    ) -> Result<Option<NewData>, FormatError> {
        let name = nested.name.to_string_lossy();
        let bad = |msg: String| malformed(format!("entry {name}: {msg}"));
        let src = self.bytes.source();
        let range = e.data.start as u64..e.data.end as u64;
        let mut crc = crc32fast::Hasher::new();
        let mut write = |b: &[u8]| {
            crc.update(b);
            raw.write_all(b).map_err(|e| e.to_string())
        };
        if e.method == STORED {
            let mut buf = vec![0; CHUNK.min(to_usize(e.usize, "size")?)];
            let mut at = range.start;
            while at < range.end {
                let n = buf.len().min(to_usize(range.end - at, "size")?);
                src.read_at(at, &mut buf[..n])
                    .map_err(|e| bad(format!("read failed: {e}")))?;
                write(&buf[..n]).map_err(|m| scratch_failed(&std::io::Error::other(m)))?;
                at += n as u64;
            }
        } else {
            let (n, ended) = inflater
                .inflate(src, range, e.usize + 1, &mut write)
                .map_err(bad)?;
            check_size(n, ended, e.usize).map_err(bad)?;
        }
        let crc = crc.finalize();
        if crc != e.crc {
            return Err(bad(format!(
                "CRC32 {:#010x} does not match the data ({crc:#010x})",
                e.crc
            )));
        }
        raw.finish().map_err(|e| scratch_failed(&e))?;
        let mut out = nested.spill.scratch().map_err(|e| scratch_failed(&e))?;
        let NestedWritten::Rewritten(_, inner) =
            nested.dispatch.member_to(&*raw, &mut *out, nested)
        else {
            return Ok(None);
        };
        changes.extend(inner);
        drop(raw);
        out.finish().map_err(|e| scratch_failed(&e))?;
        let usize = out.len();
        let mut crc = crc32fast::Hasher::new();
        let mut packed = if e.method == STORED {
            None
        } else {
            let z = nested.spill.scratch().map_err(|e| scratch_failed(&e))?;
            Some(deflater(z))
        };
        let mut buf = vec![0; CHUNK.min(to_usize(usize, "size")?)];
        let mut at = 0;
        while at < usize {
            let n = buf.len().min(to_usize(usize - at, "size")?);
            out.read_at(at, &mut buf[..n])
                .map_err(|e| scratch_failed(&e))?;
            crc.update(&buf[..n]);
            if let Some(z) = &mut packed {
                z.write_all(&buf[..n]).map_err(|e| scratch_failed(&e))?;
            }
            at += n as u64;
        }
        let data = match packed {
            None => out,
            Some(z) => {
                drop(out);
                let mut z = z.finish().map_err(|e| scratch_failed(&e))?;
                z.finish().map_err(|e| scratch_failed(&e))?;
                z
            }
        };
        Ok(Some(NewData {
            csize: data.len(),
            data: Content::Spilled(data),
            crc: crc.finalize(),
            usize,
        }))
    }
}

/// How many bytes a spilled member moves per read.
const CHUNK: usize = 1 << 20;

/// Normalizes the external attributes of an entry made by `made_by`.
fn normalize_external(made_by: u16, external: u32) -> u32 {
    let mode = external >> 16;
    if made_by >> 8 != HOST_UNIX || mode == 0 {
        return external;
    }
    let kind = mode & S_IFMT;
    let perm = if kind == S_IFLNK {
        0o777
    } else if mode & 0o100 != 0 {
        0o755
    } else {
        0o644
    };
    ((kind | perm) << 16) | (external & DOS_DIRECTORY)
}

/// Normalizes an extra field block (the same rule for local and central
/// headers); notes go to `notes`. Borrowed when nothing changes.
fn normalize_extra<'a>(
    extra: &'a [u8],
    ctx: &Context,
    role: Role,
    notes: &mut Vec<Change>,
) -> Cow<'a, [u8]> {
    let (records, tail) = extra_records(extra);
    let mut out: Option<Vec<u8>> = None;
    for (id, data) in &records {
        let raw = &extra[data.start - 4..data.end];
        let new: Option<Cow<[u8]>> = match *id {
            EXTRA_NTFS => {
                notes.push(Change::gone(
                    "",
                    "NTFS times extra field (0x000a)",
                    "",
                    "dropped",
                ));
                None
            }
            EXTRA_UNIX_OLD => {
                notes.push(Change::gone(
                    "",
                    "Info-ZIP Unix extra field (0x5855: times, uid, gid)",
                    "",
                    "dropped",
                ));
                None
            }
            EXTRA_UNIX_IDS | EXTRA_UNIX_NEW => {
                notes.push(Change::gone(
                    "",
                    format!("Info-ZIP uid/gid extra field ({id:#06x})"),
                    "",
                    "dropped",
                ));
                None
            }
            EXTRA_TIMESTAMP => normalize_timestamp(&extra[data.clone()], ctx, role, notes)
                .map(|t| Cow::Owned(t.to_vec())),
            _ => Some(Cow::Borrowed(raw)),
        };
        let same = new.as_deref() == Some(raw);
        if !same && out.is_none() {
            // Records are contiguous from 0: everything before this one is kept.
            out = Some(extra[..data.start - 4].to_vec());
        }
        if let (Some(o), Some(new)) = (&mut out, &new) {
            o.extend_from_slice(new);
        }
    }
    match out {
        None => Cow::Borrowed(extra),
        Some(mut o) => {
            o.extend_from_slice(&extra[tail..]);
            Cow::Owned(o)
        }
    }
}

/// The normalized form of an extended timestamp record (with its header), or
/// `None` to drop it.
fn normalize_timestamp(
    data: &[u8],
    ctx: &Context,
    role: Role,
    notes: &mut Vec<Change>,
) -> Option<[u8; 9]> {
    let flags = data.first().copied().unwrap_or(0);
    let mtime = data
        .get(1..5)
        .filter(|_| flags & 1 != 0)
        .map(|m| le32(m, 0));
    let Some(mtime) = mtime else {
        notes.push(Change::gone(
            "",
            "extended timestamp (0x5455) without a modification time",
            "",
            "dropped",
        ));
        return None;
    };
    let clamped = role.ut(mtime, ctx);
    if clamped != mtime {
        notes.push(Change::set("", "extended timestamp mtime", mtime, clamped));
    }
    if flags != 1 || data.len() != 5 {
        notes.push(Change::gone(
            "",
            "extended timestamp: access and creation times",
            "",
            "dropped",
        ));
    }
    let mut rec = [0x55, 0x54, 5, 0, 1, 0, 0, 0, 0];
    put32(&mut rec, 5, clamped);
    Some(rec)
}
