//! zip, as specified by PKWARE's APPNOTE.TXT (6.3.x), and the formats built on
//! it: jar (JAR File Specification), jmod (JDK module files), Python zipapps
//! (PEP 441) and self-extracting archives.
//!
//! # Recognition
//!
//! A file starting `PK 03 04` (a local header) or `PK 05 06` (the end record of
//! an empty archive). A prefix is allowed when it can be seen in the sniffed
//! head: a `#!` line (Python zipapps) or an `MZ` stub (self-extractors) followed
//! within the first 4096 bytes by `PK 03 04` or `PK 05 06`. An `MZ` file without
//! such a signature in its head is left to the PE handler. A jmod is the 4-byte
//! header `JM 01 00` (`jdk.internal.jmod.JmodFile`, major version 1, minor 0)
//! directly followed by `PK 03 04` or `PK 05 06`. The archive itself
//! is found from its end record, so whatever precedes the first local header
//! is the prefix: it is kept byte for byte. Offsets recorded in the central
//! directory keep the convention of the input (relative to the start of the
//! file, as `zip -A` and Python write them, or to the start of the zip data,
//! as a plain `cat stub a.zip` leaves them), and are recomputed for the new
//! layout.
//!
//! # What is normalized
//!
//! * **Order**: entries are sorted by the raw bytes of their names, in the local
//!   headers and in the central directory alike. Exceptions, because readers
//!   depend on them: in a jar (an entry `META-INF/MANIFEST.MF` exists; these
//!   two names are compared ignoring ASCII case, as Java does),
//!   `META-INF/` and then `META-INF/MANIFEST.MF` come first, as
//!   `java.util.jar.JarInputStream` requires; and an entry `mimetype` that is
//!   first stays first (EPUB and `OpenDocument` require it, stored, at offset 0).
//! * **DOS date and time** (local and central): read as UTC and clamped to the
//!   epoch, with **1980-01-02 02:00:00** as the floor, which
//!   the result never goes below, even when the epoch is earlier (nixpkgs'
//!   default epoch, 1980-01-01 00:00:00, gives the floor). Not the earliest
//!   DOS date: `unzip` reads a DOS time as local time, so under
//!   `TZ=Asia/Tokyo` 1980-01-01 00:00:00 extracts to a 1979 mtime, and Python's
//!   `zipfile` refuses to zip such a file again. `unzip` subtracts the zone's
//!   current offset (at most UTC+14, `Pacific/Kiritimati`), and the file may
//!   be zipped again in a zone that was UTC−12 in 1980 (Kiritimati itself was
//!   UTC−10:40 then): 26 hours after the DOS epoch every such pair of zones
//!   still reads 1980 (strip-nondeterminism's 1980-01-01 12:01 does not, east
//!   of UTC+12). An odd-second epoch becomes the even second before it (DOS
//!   has 2-second resolution). An invalid date or time (month 0, hour 25...)
//!   is not a time at all and becomes the floor.
//! * **Sources stay older than their compiled forms.** Clojure loads
//!   `x/y__init.class` only when it is strictly newer than `x/y.clj` (or
//!   `x/y.cljc`), comparing the entries' times, so one clamped time for both
//!   makes it compile the source at every start (and run whatever the source
//!   says). So when a compiled member and its source are in the same archive
//!   (`x/y__init.class` ↔ `x/y.clj`, `x/y.cljc`; `d/__pycache__/m.<tag>.pyc` and
//!   `d/m.pyc` ↔ `d/m.py`, named as `importlib` names them), the compiled
//!   member is clamped as usual but not below the floor + 2 s, and the source
//!   gets one time for its DOS times and UT mtimes: its own clamped time, or
//!   2 s (rounded down to even seconds) before the earliest time any of its
//!   compiled members carries when that is earlier. Both then order the same
//!   way in every zone when both or neither have UT fields (Java reads UT when
//!   present, else the DOS time as local time). A pyc member whose source is
//!   in the archive records that source's new time (the nested pyc handler
//!   gets it as [`Context::companion_mtime`]): `zipimport` uses `d/m.pyc` only
//!   when its recorded source mtime is within 1 s of `d/m.py`'s DOS time
//!   (read as local time: as UTC in a Nix build).
//! * **Extra fields**, the same rule in local and central headers:
//!   * extended timestamp `0x5455` ("UT"): **normalized**, kept with its
//!     modification time only (flags `01`), clamped to the epoch (read as an
//!     unsigned count of seconds); access and creation times are dropped. A UT
//!     field without a modification time is dropped. Keeping the clamped mtime
//!     lets `unzip` restore exactly the epoch (the DOS time is local time to it).
//!     The same floor applies, and the same source/compiled rule.
//!   * NTFS times `0x000a`: **dropped** (three more clocks, Windows only).
//!   * Info-ZIP Unix `0x5855` ("UX": atime, mtime, uid, gid), Info-ZIP Unix
//!     `0x7855` ("Ux": uid, gid) and Info-ZIP new Unix `0x7875` ("ux": uid,
//!     gid): **dropped** (clocks and the build user's ids).
//!   * zip64 `0x0001`: kept, its values updated for the new layout.
//!   * any other field (jar's `0xcafe` marker, Unicode path `0x7075`, zipalign
//!     padding `0xd935`, ...) and any unparseable tail: kept byte for byte.
//! * **External attributes**, for entries made on Unix (host byte 3): the Unix
//!   file type is kept (a symlink stays a symlink, a directory a directory), and
//!   the permissions become `0644`, or `0755` when the owner-execute bit was set;
//!   setuid, setgid and sticky bits are dropped. Symlinks get `0777`, the mode
//!   every Linux `lstat` reports for them (and what `zip -y` writes): a `0755`
//!   symlink is a mode no Unix system produces. Of the low 16 (MS-DOS) bits only
//!   the directory bit is kept. An all-zero Unix mode means "not recorded" and
//!   stays as it is. Entries from other hosts (MS-DOS/FAT as `jar` writes them,
//!   NTFS, ...) keep their attributes: they hold no permissions or owners.
//! * **Version made by**: its host byte is kept (it says how to read the
//!   external attributes) and its version byte, which only tells the version of
//!   the tool that wrote the archive, becomes the entry's "version needed to
//!   extract". `jar` and Python already write exactly that.
//! * **Jar manifest** (`META-INF/MANIFEST.MF` whose content starts with
//!   `Manifest-Version:`): these attributes, which record the build's clock,
//!   user, host or exact JDK build, are dropped in every section, with their
//!   72-byte continuation lines (lines starting with a space), names compared
//!   ignoring ASCII case as the jar spec does ([`DROPPED_ATTRIBUTES`]):
//!   `Bnd-LastModified`, `Build-Date`, `Build-Host`, `Build-Jdk`, `Build-Time`,
//!   `Build-Timestamp`, `Build-User`, `Built-By`, `Built-Date`, `Built-Host`,
//!   `Built-On`. `Created-By` (the tool and its version) and `Build-Jdk-Spec`
//!   (the Java release, e.g. `17`) are kept: under a pinned toolchain they are
//!   constant, and they are useful provenance. Other lines are kept byte for
//!   byte, line endings included. Maven's `pom.properties` reaches the `.properties`
//!   handler through dispatch like any other member.
//! * **Maven compiler leftovers**, in a jar only (an entry
//!   `META-INF/MANIFEST.MF` exists): the top-level entries `javac.sh` (it
//!   records the build directory) and
//!   `org.codehaus.plexus.compiler.javac.JavacCompiler<digits>arguments` (its
//!   name carries a random number), which Maven's compiler plugin leaves in the
//!   classes directory when it forks `javac`, are **dropped**, and the entry
//!   counts of the end records follow. Nothing reads them at run time, and
//!   with them two builds never converge.
//! * **Nested members**: each member compressed with `stored` or `deflate` is
//!   handed to the dispatcher (`dispatch` with `ctx.nested(name)`), recursively
//!   up to `max_depth`. To keep an archive whose members need no change cheap,
//!   only the first 4096 bytes of each member are inflated for sniffing; a
//!   member is inflated whole (and its CRC32 and size verified) only when a
//!   handler claims it. A member a nested handler rewrites is stored again with
//!   its original method: `stored` stays stored (fat jars need that), `deflate`
//!   is recompressed with flate2 at level 9 (general purpose bits 1-2 set to
//!   "maximum"); CRC32 and sizes are updated in the local header (where they
//!   were not left zero for a data descriptor), the data descriptor and the
//!   central directory. A nested handler's error (malformed, refused, too large)
//!   leaves the member untouched. Its notes are prefixed with the member name
//!   and `!`, e.g. `lib/a.jar!META-INF/MANIFEST.MF: attribute Built-By dropped`.
//! * **Wheel `RECORD`**: when a member's content changes (or a member is
//!   dropped), `<name>.dist-info/RECORD` gets its new hash and size (or loses
//!   its row), everything else of it kept byte for byte; when that cannot be
//!   done right (another hash algorithm, a stale or unreadable `RECORD`, a
//!   signed wheel) the archive is refused. See `zip/record.rs`.
//!
//! # Left alone on purpose
//!
//! The prefix, the archive comment, entry comments, internal attributes,
//! general purpose flags (except bits 1-2 of a recompressed member), version
//! needed to extract, the presence and form of data descriptors (with or
//! without signature, 32- or 64-bit sizes), which fields are escaped to zip64,
//! the zip64 end record's own version fields and extensible data, and all
//! compressed data of members that need no change, copied byte for byte. The
//! PKWARE Unix extra field `0x000d` and the `ASi` Unix one `0x756e` (rare;
//! they can hold a link target) are kept as they are.
//!
//! Members are **not expanded** (kept as they are, silently: nothing about them
//! changes) when they use another compression method (bzip2, LZMA, zstd...),
//! when their uncompressed size exceeds `ctx.config.max_size`, when their
//! compression ratio is absurd (more than 1 MiB and more than 1000:1, past
//! what deflate produces from real data: a zip bomb), or when they sit at the
//! nesting limit. The CRC32 of a member that is not expanded is not verified
//! (`unzip -t` is the tool for that).
//!
//! # Refused: the archive is left untouched
//!
//! * `Unsupported`: encrypted members (flag bits 0, 6 or 13); signed jars (an
//!   entry `META-INF/*.SF`, `*.RSA`, `*.DSA`, `*.EC` or `META-INF/SIG-*`: the
//!   signature covers the manifest, and rewriting around it is not shown to keep
//!   `jarsigner -verify` passing); split or spanned archives; duplicate entry
//!   names (no order of them is canonical); bytes between members or between the
//!   last member and the central directory that no entry accounts for (an APK
//!   signing block lives there, and a signature must not be invalidated).
//! * `Malformed`: no end record (truncated, or bytes after it), a central
//!   directory out of bounds or claiming more entries than it can hold, central
//!   and local headers (or a data descriptor) that disagree about the name,
//!   method, CRC32, sizes or the encryption, data-descriptor and UTF-8 flags, members out of bounds or overlapping (two entries
//!   sharing data is how "overlapping zip bombs" and loops are built), absurd
//!   sizes (a stored member whose sizes differ, a deflated one claiming more
//!   than deflate can expand to), and, for a member that is expanded, corrupt
//!   deflate data or a wrong CRC32 or size.
//! * `TooLarge`: a rewrite that would need zip64 fields the input lacks (a
//!   member or offset crossing 4 GiB).

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use flate2::{Compression, Decompress, FlushDecompress, Status, write::DeflateEncoder};

use crate::config::Context;
use crate::error::FormatError;
use crate::handlers::dates::{civil_from_days, days_from_civil};
use crate::handlers::{self, Handler, Member as HandlerMember, Outcome, SNIFF_LEN};

mod record;

/// The zip handler.
pub struct Zip;

const LOCAL_SIG: [u8; 4] = *b"PK\x03\x04";
const CENTRAL_SIG: [u8; 4] = *b"PK\x01\x02";
const END_SIG: [u8; 4] = *b"PK\x05\x06";
const ZIP64_END_SIG: [u8; 4] = *b"PK\x06\x06";
const ZIP64_LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const DESCRIPTOR_SIG: [u8; 4] = *b"PK\x07\x08";
/// A jmod's header (`jdk.internal.jmod.JmodFile`): `JM`, major 1, minor 0.
const JMOD_MAGIC: &[u8] = b"JM\x01\x00";

const LOCAL_LEN: usize = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
const ZIP64_END_LEN: usize = 56;
const ZIP64_LOCATOR_LEN: usize = 20;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DEFLATE_LEVEL: u16 = 0b110;
const FLAG_DEFLATE_MAXIMUM: u16 = 0b010;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_ENCRYPTED_DIRECTORY: u16 = 1 << 13;
/// Bit 11 (EFS): the name and comment are UTF-8. When the two headers disagree
/// the name means two things, and unzip warns (exit 1) on every read.
const FLAG_UTF8: u16 = 1 << 11;

const STORED: u16 = 0;
const DEFLATED: u16 = 8;

const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_NTFS: u16 = 0x000a;
const EXTRA_TIMESTAMP: u16 = 0x5455;
const EXTRA_UNIX_OLD: u16 = 0x5855;
const EXTRA_UNIX_IDS: u16 = 0x7855;
const EXTRA_UNIX_NEW: u16 = 0x7875;

const HOST_UNIX: u16 = 3;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
const DOS_DIRECTORY: u32 = 0x10;

/// 32-bit fields holding this value are escaped to zip64.
const ESCAPED: u32 = u32::MAX;

/// 1980-01-02T02:00:00Z: the earliest time written (see the module header).
/// The earliest DOS date, 1980-01-01 00:00:00, is not safe: `unzip` reads a
/// DOS time as local time with the zone's current offset (up to UTC+14, as
/// `TZ=Pacific/Kiritimati`), and a zone may have been as far as UTC−12 in
/// 1980 (Kiritimati itself was UTC−10:40), where Python's `zipfile` then
/// finds a 1979 date and refuses to zip the file again. 26 hours after the
/// DOS epoch, every such pair of zones still reads 1980-01-01 or later.
const DOS_FLOOR: u64 = 315_626_400;

/// The earliest time of a compiled member whose source is in the archive:
/// its source must be strictly earlier and not below [`DOS_FLOOR`].
const COMPILED_FLOOR: u64 = DOS_FLOOR + 2;

/// Members above this size and ratio are not expanded.
const BOMB_MIN_SIZE: u64 = 1 << 20;
const BOMB_RATIO: u64 = 1000;
/// Deflate cannot expand beyond about 1032:1; a size beyond this is a lie.
const DEFLATE_MAX_RATIO: u64 = 1032;

/// Jar manifest attributes that record when, where or by whom a build ran,
/// dropped from every section (names compared ignoring ASCII case).
pub const DROPPED_ATTRIBUTES: &[&str] = &[
    "Bnd-LastModified",
    "Build-Date",
    "Build-Host",
    "Build-Jdk",
    "Build-Time",
    "Build-Timestamp",
    "Build-User",
    "Built-By",
    "Built-Date",
    "Built-Host",
    "Built-On",
];

const MANIFEST: &[u8] = b"META-INF/MANIFEST.MF";
const META_INF: &[u8] = b"META-INF/";

impl Handler for Zip {
    fn name(&self) -> &'static str {
        "zip"
    }

    fn describe(&self) -> &'static str {
        "zip/jar/jmod/zipapp (PKWARE APPNOTE), magic PK 03 04 or PK 05 06, also after a #! line, \
         an MZ stub or a jmod header: sorts entries, clamps DOS times (floor 1980-01-02 02:00, \
         sources before their compiled forms), normalizes extra fields, modes, version made by and \
         jar manifests, drops Maven compiler leftovers, normalizes nested members; compressed data \
         copied as is"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        if head.starts_with(&LOCAL_SIG) || head.starts_with(&END_SIG) {
            return true;
        }
        // A jmod: its 4-byte header, then the zip.
        if let Some(zip) = head.strip_prefix(JMOD_MAGIC) {
            return zip.starts_with(&LOCAL_SIG) || zip.starts_with(&END_SIG);
        }
        (head.starts_with(b"#!") || head.starts_with(b"MZ"))
            && (memchr::memmem::find(head, &LOCAL_SIG).is_some()
                || memchr::memmem::find(head, &END_SIG).is_some())
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        let archive = Archive::parse(input)?;
        let mut plan = archive.plan(ctx)?;
        record::update(&archive, &mut plan)?;
        if plan.changes.is_empty() {
            debug_assert!(
                archive.write(&plan).is_ok_and(|b| b == input),
                "a plan without changes must reproduce its input"
            );
            return Ok(Outcome::Unchanged);
        }
        let bytes = archive.write(&plan)?;
        Ok(Outcome::Rewritten {
            bytes,
            changes: plan.changes,
        })
    }

    /// The entries in stored (central directory) order, decompressed. Entries
    /// that cannot be expanded within the limits (encrypted, another method,
    /// too large, a bomb) are listed with their raw stored bytes, so that a
    /// difference still shows.
    fn members(
        &self,
        input: &[u8],
        ctx: &Context,
    ) -> Option<Result<Vec<HandlerMember>, FormatError>> {
        Some(Archive::parse(input).and_then(|archive| {
            let mut inflater = Inflater::new();
            let mut order: Vec<&Entry> = archive.entries.iter().collect();
            order.sort_by_key(|e| e.local);
            order
                .into_iter()
                .map(|e| {
                    let name = show(archive.name(e));
                    let data = &input[e.data.clone()];
                    let expandable = !e.encrypted()
                        && (e.method == STORED || e.method == DEFLATED)
                        && e.usize <= ctx.config.max_size
                        && !(e.usize > BOMB_MIN_SIZE
                            && e.usize > e.csize.saturating_mul(BOMB_RATIO));
                    let bytes = if !expandable || e.method == STORED {
                        data.to_vec()
                    } else {
                        let size = to_usize(e.usize, "uncompressed size")?;
                        inflater
                            .all(data, size)
                            .map_err(|m| malformed(format!("entry {name}: {m}")))?
                    };
                    Ok(HandlerMember { name, bytes })
                })
                .collect()
        }))
    }
}

// ---------------------------------------------------------------------------
// Reading

fn malformed(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

fn take<'a>(input: &'a [u8], pos: usize, len: usize, what: &str) -> Result<&'a [u8], FormatError> {
    pos.checked_add(len)
        .and_then(|end| input.get(pos..end))
        .ok_or_else(|| malformed(format!("truncated {what} at offset {pos}")))
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn to_usize(v: u64, what: &str) -> Result<usize, FormatError> {
    usize::try_from(v).map_err(|_| malformed(format!("{what} {v} is out of range")))
}

/// The records of an extra field block: `(id, data range)` relative to the
/// block, and where the parseable records end (an unparseable tail follows).
fn extra_records(extra: &[u8]) -> (Vec<(u16, Range<usize>)>, usize) {
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
fn zip64_record(extra: &[u8]) -> Option<Range<usize>> {
    extra_records(extra)
        .0
        .into_iter()
        .find(|(id, _)| *id == EXTRA_ZIP64)
        .map(|(_, r)| r)
}

/// A DOS date and time, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DosTime {
    date: u16,
    time: u16,
}

impl DosTime {
    /// [`DOS_FLOOR`]: 1980-01-02 02:00:00.
    const FLOOR: DosTime = DosTime {
        date: (1 << 5) | 2,
        time: 2 << 11,
    };

    fn fields(self) -> (u64, u32, u32, u32, u32, u32) {
        (
            1980 + u64::from(self.date >> 9),
            u32::from((self.date >> 5) & 15),
            u32::from(self.date & 31),
            u32::from(self.time >> 11),
            u32::from((self.time >> 5) & 63),
            u32::from(self.time & 31) * 2,
        )
    }

    /// Seconds since 1970, reading the fields as UTC; `None` when invalid.
    fn unix(self) -> Option<u64> {
        let (year, month, day, hour, minute, second) = self.fields();
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        // Years 1980 to 2107: the day number is positive.
        let days = u64::try_from(days_from_civil(i64::try_from(year).ok()?, month, day)).ok()?;
        Some(days * 86_400 + u64::from(hour * 3600 + minute * 60 + second))
    }

    /// The DOS time of `t` (between 1980 and 2107), rounded down to 2 seconds.
    fn from_unix(t: u64) -> Self {
        let secs = (t % 86_400) as u32;
        let (year, month, day) = civil_from_days(i64::try_from(t / 86_400).unwrap_or(i64::MAX));
        let year = u16::try_from((year - 1980).clamp(0, 127)).unwrap_or(0);
        DosTime {
            date: (year << 9) | ((month as u16) << 5) | day as u16,
            time: (((secs / 3600) as u16) << 11)
                | ((((secs / 60) % 60) as u16) << 5)
                | ((secs % 60) / 2) as u16,
        }
    }

    /// Clamped to the epoch, with the DOS floor; invalid times become the floor.
    fn clamped(self, ctx: &Context) -> Self {
        match self.unix() {
            Some(t) => {
                let c = ctx.clamp(t).max(DOS_FLOOR);
                if c == t { self } else { Self::from_unix(c) }
            }
            None => Self::FLOOR,
        }
    }
}

/// A UT mtime clamped to the epoch, with [`DOS_FLOOR`].
fn clamp_unix(t: u32, ctx: &Context) -> u32 {
    u32::try_from(ctx.clamp(u64::from(t)).max(DOS_FLOOR)).unwrap_or(t)
}

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
        return handlers::pyc::source_of(path)
            .map(|p| p.into_os_string().into_vec())
            .into_iter()
            .collect();
    }
    Vec::new()
}

/// The mtimes of the UT records of an extra field block that have one.
fn ut_mtimes(extra: &[u8]) -> impl Iterator<Item = u32> + '_ {
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

impl fmt::Display for DosTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unix().is_none() {
            return write!(
                f,
                "invalid (date {:#06x}, time {:#06x})",
                self.date, self.time
            );
        }
        let (year, month, day, hour, minute, second) = self.fields();
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
        )
    }
}

/// Where a data descriptor is and how it is written.
#[derive(Debug, Clone, Copy)]
struct Descriptor {
    signed: bool,
    wide: bool,
}

impl Descriptor {
    fn len(self) -> usize {
        4 * usize::from(self.signed) + 4 + if self.wide { 16 } else { 8 }
    }
}

/// One member: its central header, its local header and its data, as offsets
/// into the input.
#[derive(Debug)]
struct Entry {
    /// Offset of the central header.
    central: usize,
    name: Range<usize>,
    made_by: u16,
    needed: u16,
    flags: u16,
    method: u16,
    central_time: DosTime,
    crc: u32,
    csize: u64,
    usize: u64,
    external: u32,
    central_extra: Range<usize>,
    comment: Range<usize>,
    /// Raw 32-bit fields of the central header that are escaped to zip64.
    central_escaped: [bool; 3],
    /// Offset of the local header in the input.
    local: usize,
    local_flags: u16,
    local_time: DosTime,
    local_crc: u32,
    local_extra: Range<usize>,
    /// The local header's sizes as written (`None`: escaped without a value).
    local_sizes: [Option<u64>; 2],
    data: Range<usize>,
    descriptor: Option<Descriptor>,
    /// Just past the data descriptor, or the data.
    end: usize,
}

impl Entry {
    fn encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_ENCRYPTED_DIRECTORY) != 0
    }
}

/// The zip64 end record and its locator.
#[derive(Debug)]
struct Zip64End {
    record: Range<usize>,
    locator: usize,
}

/// A parsed archive.
#[derive(Debug)]
struct Archive<'a> {
    input: &'a [u8],
    /// Added to a recorded offset to find the byte it designates.
    base: u64,
    /// Where the first member (or the central directory) starts.
    prefix: usize,
    /// In central directory order.
    entries: Vec<Entry>,
    zip64: Option<Zip64End>,
    /// The end record; the archive comment follows it to the end of the input.
    end: usize,
}

/// Finds the end record: the last `PK 05 06` whose comment reaches exactly
/// the end of the input.
fn find_end(input: &[u8]) -> Result<usize, FormatError> {
    let window = input.len().saturating_sub(END_LEN + 0xffff);
    for at in memchr::memmem::rfind_iter(&input[window..], &END_SIG) {
        let pos = window + at;
        if let Some(rec) = input.get(pos..pos + END_LEN) {
            if usize::from(le16(rec, 20)) == input.len() - pos - END_LEN {
                return Ok(pos);
            }
        }
    }
    Err(malformed(
        "no end of central directory record ending the file (truncated, or bytes after it)",
    ))
}

impl<'a> Archive<'a> {
    fn parse(input: &'a [u8]) -> Result<Self, FormatError> {
        let end = find_end(input)?;
        let rec = &input[end..end + END_LEN];
        let raw = [
            u64::from(le16(rec, 4)),
            u64::from(le16(rec, 6)),
            u64::from(le16(rec, 8)),
            u64::from(le16(rec, 10)),
            u64::from(le32(rec, 12)),
            u64::from(le32(rec, 16)),
        ];
        let locator = end
            .checked_sub(ZIP64_LOCATOR_LEN)
            .filter(|&l| input[l..].starts_with(&ZIP64_LOCATOR_SIG));
        let (fields, zip64, directory_end) = match locator {
            None => (raw, None, end),
            Some(l) => {
                let (fields, record) = zip64_end(input, l, &raw)?;
                let start = record.start;
                (fields, Some(Zip64End { record, locator: l }), start)
            }
        };
        let [disk, directory_disk, on_disk, count, size, offset] = fields;
        if disk != 0 || directory_disk != 0 || on_disk != count {
            return Err(FormatError::Unsupported(
                "split or spanned archive (several disks)".into(),
            ));
        }
        let start = (directory_end as u64)
            .checked_sub(size)
            .ok_or_else(|| malformed(format!("central directory of {size} bytes does not fit")))?;
        let base = start.checked_sub(offset).ok_or_else(|| {
            malformed(format!(
                "central directory offset {offset} points past its real position {start}"
            ))
        })?;
        let directory = start as usize..directory_end;
        if let Some(z) = &zip64 {
            let recorded = le64(&input[z.locator..], 8);
            if recorded.checked_add(base) != Some(z.record.start as u64) {
                return Err(malformed(
                    "zip64 end record offset disagrees with the central directory offset",
                ));
            }
        }
        if count > (size / CENTRAL_LEN as u64) {
            return Err(malformed(format!(
                "{count} entries claimed, more than a {size}-byte central directory can hold"
            )));
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut pos = directory.start;
        for n in 0..count {
            let e = parse_central(input, pos, directory.end, n + 1, base)?;
            pos = e.comment.end;
            entries.push(e);
        }
        if pos != directory.end {
            return Err(malformed(format!(
                "central directory has {} bytes after its {count} entries",
                directory.end - pos
            )));
        }
        if let Some(e) = entries.iter().find(|e| e.encrypted()) {
            return Err(FormatError::Unsupported(format!(
                "encrypted entry {}",
                show(&input[e.name.clone()])
            )));
        }
        if let Some(e) = entries
            .iter()
            .find(|e| is_signature(&input[e.name.clone()]))
        {
            return Err(FormatError::Unsupported(format!(
                "signed jar ({}): rewriting it could break the signature",
                show(&input[e.name.clone()])
            )));
        }
        for e in &mut entries {
            parse_local(input, e, directory.start)?;
        }
        let prefix = check_layout(&entries, directory.start)?;
        Ok(Archive {
            input,
            base,
            prefix,
            entries,
            zip64,
            end,
        })
    }
}

/// Reads the zip64 end record through its locator at `l`; returns the end
/// record's six fields with the zip64 values, and the record's range.
fn zip64_end(
    input: &[u8],
    l: usize,
    raw: &[u64; 6],
) -> Result<([u64; 6], Range<usize>), FormatError> {
    let loc = &input[l..l + ZIP64_LOCATOR_LEN];
    if le32(loc, 4) != 0 || le32(loc, 16) > 1 {
        return Err(FormatError::Unsupported(
            "split or spanned zip64 archive (several disks)".into(),
        ));
    }
    let recorded = le64(loc, 8);
    // The record ends at the locator. It is found where its offset says
    // (offsets relative to the file) or right before the locator without
    // extensible data (offsets relative to the zip data after a prefix).
    let fits = |start: usize| {
        input.get(start..l).is_some_and(|r| {
            r.len() >= ZIP64_END_LEN
                && r.starts_with(&ZIP64_END_SIG)
                && le64(r, 4).checked_add(12) == Some(r.len() as u64)
        })
    };
    let start = usize::try_from(recorded)
        .ok()
        .filter(|&s| fits(s))
        .or_else(|| l.checked_sub(ZIP64_END_LEN).filter(|&s| fits(s)))
        .ok_or_else(|| malformed("zip64 end of central directory record not found"))?;
    let r = &input[start..l];
    let wide = [
        u64::from(le32(r, 16)),
        u64::from(le32(r, 20)),
        le64(r, 24),
        le64(r, 32),
        le64(r, 40),
        le64(r, 48),
    ];
    let escape = [
        0xffff,
        0xffff,
        0xffff,
        0xffff,
        u64::from(ESCAPED),
        u64::from(ESCAPED),
    ];
    for i in 0..6 {
        if raw[i] != escape[i] && raw[i] != wide[i] {
            return Err(malformed(
                "end of central directory record disagrees with the zip64 end record",
            ));
        }
    }
    Ok((wide, start..l))
}

/// Whether a name is one of the files that sign a jar.
fn is_signature(name: &[u8]) -> bool {
    if name.len() <= META_INF.len() || !name[..META_INF.len()].eq_ignore_ascii_case(META_INF) {
        return false;
    }
    let file = &name[META_INF.len()..];
    if file.contains(&b'/') {
        return false;
    }
    let upper = file.to_ascii_uppercase();
    upper.starts_with(b"SIG-")
        || [&b".SF"[..], b".RSA", b".DSA", b".EC"]
            .iter()
            .any(|ext| upper.ends_with(ext))
}

/// Parses central header number `n` at `pos`.
fn parse_central(
    input: &[u8],
    pos: usize,
    limit: usize,
    n: u64,
    base: u64,
) -> Result<Entry, FormatError> {
    let what = format!("central header {n}");
    let h = take(&input[..limit], pos, CENTRAL_LEN, &what)?;
    if !h.starts_with(&CENTRAL_SIG) {
        return Err(malformed(format!("{what}: bad signature at offset {pos}")));
    }
    let name_len = usize::from(le16(h, 28));
    let extra_len = usize::from(le16(h, 30));
    let comment_len = usize::from(le16(h, 32));
    let name = pos + CENTRAL_LEN..pos + CENTRAL_LEN + name_len;
    let extra = name.end..name.end + extra_len;
    let comment = extra.end..extra.end + comment_len;
    take(
        &input[..limit],
        name.start,
        name_len + extra_len + comment_len,
        &what,
    )?;
    let csize32 = le32(h, 20);
    let usize32 = le32(h, 24);
    let offset32 = le32(h, 42);
    let disk16 = le16(h, 34);
    let escaped = [usize32 == ESCAPED, csize32 == ESCAPED, offset32 == ESCAPED];
    let mut values = [u64::from(usize32), u64::from(csize32), u64::from(offset32)];
    let mut disk = u64::from(disk16);
    if escaped.contains(&true) || disk16 == 0xffff {
        let block = &input[extra.clone()];
        let missing = || malformed(format!("{what}: zip64 extra field missing or too short"));
        let data = zip64_record(block).ok_or_else(missing)?;
        let data = &block[data];
        let mut at = 0;
        for (i, &esc) in escaped.iter().enumerate() {
            if esc {
                values[i] = le64(data.get(at..at + 8).ok_or_else(missing)?, 0);
                at += 8;
            }
        }
        if disk16 == 0xffff {
            disk = u64::from(le32(data.get(at..at + 4).ok_or_else(missing)?, 0));
        }
    }
    if disk != 0 {
        return Err(malformed(format!(
            "{what}: entry on disk {disk} of a single-disk archive"
        )));
    }
    let [usize, csize, offset] = values;
    let local = offset
        .checked_add(base)
        .ok_or_else(|| malformed(format!("{what}: local header offset out of range")))?;
    Ok(Entry {
        central: pos,
        name,
        made_by: le16(h, 4),
        needed: le16(h, 6),
        flags: le16(h, 8),
        method: le16(h, 10),
        central_time: DosTime {
            time: le16(h, 12),
            date: le16(h, 14),
        },
        crc: le32(h, 16),
        csize,
        usize,
        external: le32(h, 38),
        central_extra: extra,
        comment,
        central_escaped: escaped,
        local: to_usize(local, "local header offset")?,
        local_flags: 0,
        local_time: DosTime::FLOOR,
        local_crc: 0,
        local_extra: 0..0,
        local_sizes: [None; 2],
        data: 0..0,
        descriptor: None,
        end: 0,
    })
}

/// Parses the local header, data and data descriptor of `e`, which must lie
/// before the central directory at `limit`, and checks them against the
/// central header.
fn parse_local(input: &[u8], e: &mut Entry, limit: usize) -> Result<(), FormatError> {
    let name = show(&input[e.name.clone()]);
    let bad = |msg: &str| malformed(format!("entry {name}: {msg}"));
    let region = &input[..limit];
    let h = take(
        region,
        e.local,
        LOCAL_LEN,
        &format!("local header of {name}"),
    )?;
    if !h.starts_with(&LOCAL_SIG) {
        return Err(bad(&format!("no local header at offset {}", e.local)));
    }
    let name_len = usize::from(le16(h, 26));
    let extra_len = usize::from(le16(h, 28));
    let local_name = e.local + LOCAL_LEN..e.local + LOCAL_LEN + name_len;
    e.local_extra = local_name.end..local_name.end + extra_len;
    take(
        region,
        local_name.start,
        name_len + extra_len,
        &format!("local header of {name}"),
    )?;
    if input[local_name] != input[e.name.clone()] {
        return Err(bad("local and central headers disagree about the name"));
    }
    e.local_flags = le16(h, 6);
    if le16(h, 8) != e.method {
        return Err(bad("local and central headers disagree about the method"));
    }
    if (e.local_flags ^ e.flags) & (FLAG_ENCRYPTED | FLAG_DESCRIPTOR | FLAG_UTF8) != 0 {
        return Err(bad("local and central headers disagree about the flags"));
    }
    e.local_time = DosTime {
        time: le16(h, 10),
        date: le16(h, 12),
    };
    e.local_crc = le32(h, 14);
    let raw = [le32(h, 22), le32(h, 18)];
    let block = &input[e.local_extra.clone()];
    let z64 = zip64_record(block).map(|r| &block[r]);
    let escaped = raw.map(|v| v == ESCAPED);
    let both = escaped[0] && escaped[1];
    for i in 0..2 {
        e.local_sizes[i] = if escaped[i] {
            // Both sizes when both are escaped (APPNOTE 4.5.3), else the one.
            let at = if both { 8 * i } else { 0 };
            z64.and_then(|d| d.get(at..at + 8)).map(|s| le64(s, 0))
        } else {
            Some(u64::from(raw[i]))
        };
    }
    let descriptor = e.local_flags & FLAG_DESCRIPTOR != 0;
    let want = [e.usize, e.csize];
    let sizes_agree = (0..2).all(|i| match e.local_sizes[i] {
        Some(v) => v == want[i] || (descriptor && v == 0),
        None => descriptor,
    });
    let crc_agrees = e.local_crc == e.crc || (descriptor && e.local_crc == 0);
    if !sizes_agree {
        return Err(bad("local and central headers disagree about the sizes"));
    }
    if !crc_agrees {
        return Err(bad("local and central headers disagree about the CRC32"));
    }
    if !e.encrypted() {
        if e.method == STORED && e.csize != e.usize {
            return Err(bad(
                "stored, but its compressed and uncompressed sizes differ",
            ));
        }
        if e.method == DEFLATED && e.usize > e.csize.saturating_mul(DEFLATE_MAX_RATIO) + 1024 {
            return Err(bad(&format!(
                "claims {} bytes from {} deflated bytes, more than deflate can expand to",
                e.usize, e.csize
            )));
        }
    }
    let data_end = (e.local_extra.end as u64)
        .checked_add(e.csize)
        .filter(|&end| end <= limit as u64)
        .ok_or_else(|| bad("data runs past the central directory"))? as usize;
    e.data = e.local_extra.end..data_end;
    e.end = data_end;
    if descriptor {
        let d = parse_descriptor(input, e, z64.is_some(), limit)
            .ok_or_else(|| bad("data descriptor missing or disagrees with the central header"))?;
        e.end = data_end + d.len();
        e.descriptor = Some(d);
    }
    Ok(())
}

/// Finds the form of the data descriptor after the data of `e` whose values
/// match the central header.
fn parse_descriptor(input: &[u8], e: &Entry, z64: bool, limit: usize) -> Option<Descriptor> {
    let at = e.data.end;
    let signed_first = input[at..limit].starts_with(&DESCRIPTOR_SIG);
    let wide_first = z64 || e.csize >= u64::from(ESCAPED) || e.usize >= u64::from(ESCAPED);
    // The signature is optional, and a CRC32 could look like it.
    let signed: &[bool] = if signed_first {
        &[true, false]
    } else {
        &[false]
    };
    let forms = signed
        .iter()
        .flat_map(|&signed| [wide_first, !wide_first].map(|wide| Descriptor { signed, wide }));
    forms.into_iter().find(|d| {
        let Some(b) = input
            .get(at..at + d.len())
            .filter(|_| at + d.len() <= limit)
        else {
            return false;
        };
        let b = &b[4 * usize::from(d.signed)..];
        let (csize, usize) = if d.wide {
            (le64(b, 4), le64(b, 12))
        } else {
            (u64::from(le32(b, 4)), u64::from(le32(b, 8)))
        };
        le32(b, 0) == e.crc && csize == e.csize && usize == e.usize
    })
}

/// Checks that the members tile the space between the prefix and the central
/// directory; returns where the prefix ends.
fn check_layout(entries: &[Entry], directory: usize) -> Result<usize, FormatError> {
    let mut spans: Vec<(usize, usize)> = entries.iter().map(|e| (e.local, e.end)).collect();
    spans.sort_unstable();
    let prefix = spans.first().map_or(directory, |s| s.0);
    let mut at = prefix;
    for &(start, end) in &spans {
        if start < at {
            return Err(malformed(format!(
                "members overlap at offset {start} (the same bytes are claimed twice)"
            )));
        }
        if start > at {
            return Err(FormatError::Unsupported(format!(
                "{} bytes at offset {at} belong to no member (a signing block?)",
                start - at
            )));
        }
        at = end;
    }
    if at < directory {
        return Err(FormatError::Unsupported(format!(
            "{} bytes at offset {at} between the last member and the central directory \
             belong to no member (an APK signing block?)",
            directory - at
        )));
    }
    Ok(prefix)
}

/// Whether a name is the jar manifest's (Java compares it ignoring case).
fn is_manifest(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(MANIFEST)
}

/// Whether a jar member is one of the files Maven's compiler plugin leaves in
/// the classes directory when it forks `javac` (plexus-compiler): the
/// arguments file, whose name carries a random number
/// (`org.codehaus.plexus.compiler.javac.JavacCompiler<digits>arguments`), and
/// `javac.sh`, which records the build directory. Only at the top level, where
/// the classes directory puts them.
fn is_maven_leftover(name: &[u8]) -> bool {
    name == b"javac.sh"
        || name
            .strip_prefix(b"org.codehaus.plexus.compiler.javac.JavacCompiler")
            .and_then(|r| r.strip_suffix(b"arguments"))
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// A name for messages.
fn show(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

// ---------------------------------------------------------------------------
// Planning

/// New contents of a member.
#[derive(Debug)]
struct NewData {
    data: Vec<u8>,
    crc: u32,
    csize: u64,
    usize: u64,
}

/// What to write for one entry.
#[derive(Debug)]
struct EntryPlan<'a> {
    index: usize,
    local_time: DosTime,
    central_time: DosTime,
    local_extra: Cow<'a, [u8]>,
    central_extra: Cow<'a, [u8]>,
    made_by: u16,
    external: u32,
    new_data: Option<NewData>,
}

/// The whole rewrite: entries in output order and the notes.
#[derive(Debug)]
struct Plan<'a> {
    entries: Vec<EntryPlan<'a>>,
    changes: Vec<String>,
}

impl<'a> Archive<'a> {
    fn name(&self, e: &Entry) -> &'a [u8] {
        &self.input[e.name.clone()]
    }

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

    fn plan(&self, ctx: &Context) -> Result<Plan<'a>, FormatError> {
        let mut order = self.order()?;
        let mut changes = Vec::new();
        let jar = self.entries.iter().any(|e| is_manifest(self.name(e)));
        let kept = |&i: &usize| !(jar && is_maven_leftover(self.name(&self.entries[i])));
        for &i in order.iter().filter(|i| !kept(i)) {
            changes.push(format!(
                "{}: dropped (a Maven compiler leftover whose name or content changes with every build)",
                show(self.name(&self.entries[i]))
            ));
        }
        order.retain(kept);
        let mut by_local: Vec<usize> = (0..self.entries.len()).filter(kept).collect();
        by_local.sort_by_key(|&i| self.entries[i].local);
        if by_local != order {
            changes.push("local headers: entries sorted by name".to_string());
        }
        if !order
            .iter()
            .copied()
            .eq((0..self.entries.len()).filter(kept))
        {
            changes.push("central directory: entries sorted by name".to_string());
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
    fn times(&self, ctx: &Context) -> Times<'a> {
        let index: std::collections::HashMap<&'a [u8], usize> = self
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
            .flat_map(|x| ut_mtimes(&self.input[x.clone()]))
            .map(|t| u64::from(role.ut(t, ctx)));
        dos.chain(ut).min().unwrap_or(DOS_FLOOR)
    }

    fn plan_entry(
        &self,
        index: usize,
        ctx: &Context,
        times: &Times,
        inflater: &mut Inflater,
        changes: &mut Vec<String>,
    ) -> Result<EntryPlan<'a>, FormatError> {
        let e = &self.entries[index];
        let name = show(self.name(e));
        let mut notes = Vec::new();

        let role = times.roles[index];
        let local_time = role.dos(e.local_time, ctx);
        let central_time = role.dos(e.central_time, ctx);
        if local_time != e.local_time && local_time != Role::Plain.dos(e.local_time, ctx) {
            notes.push(match role {
                Role::Compiled => format!(
                    "compiled form of a source in the archive: not before {}",
                    DosTime::from_unix(COMPILED_FLOOR)
                ),
                _ => "source of a compiled member: kept strictly older than it".to_string(),
            });
        }
        let same_times = e.local_time == e.central_time;
        if local_time != e.local_time {
            let which = if same_times { "" } else { "local " };
            notes.push(format!("{which}DOS time {} -> {local_time}", e.local_time));
        }
        if central_time != e.central_time && !same_times {
            notes.push(format!(
                "central DOS time {} -> {central_time}",
                e.central_time
            ));
        }

        let mut local_notes = Vec::new();
        let local_extra = normalize_extra(
            &self.input[e.local_extra.clone()],
            ctx,
            role,
            &mut local_notes,
        );
        let mut central_notes = Vec::new();
        let central_extra = normalize_extra(
            &self.input[e.central_extra.clone()],
            ctx,
            role,
            &mut central_notes,
        );
        if local_notes == central_notes {
            notes.extend(local_notes);
        } else {
            notes.extend(local_notes.into_iter().map(|n| format!("local {n}")));
            notes.extend(central_notes.into_iter().map(|n| format!("central {n}")));
        }

        let made_by = (e.made_by & 0xff00) | (e.needed & 0x00ff);
        if made_by != e.made_by {
            notes.push(format!(
                "version made by {:#06x} -> {made_by:#06x}",
                e.made_by
            ));
        }
        let external = normalize_external(e.made_by, e.external);
        if external != e.external {
            notes.push(format!(
                "external attributes {:#010x} -> {external:#010x}",
                e.external
            ));
        }
        changes.extend(notes.into_iter().map(|n| format!("{name}: {n}")));

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
        changes: &mut Vec<String>,
    ) -> Result<Option<NewData>, FormatError> {
        let data = &self.input[e.data.clone()];
        let expandable = (e.method == STORED || e.method == DEFLATED)
            && e.usize <= ctx.config.max_size
            && !(e.usize > BOMB_MIN_SIZE && e.usize > e.csize.saturating_mul(BOMB_RATIO));
        if !expandable {
            return Ok(None);
        }
        let bad = |msg: String| malformed(format!("entry {name}: {msg}"));
        let is_manifest = is_manifest(self.name(e));
        if !is_manifest && ctx.depth >= ctx.config.max_depth {
            return Ok(None);
        }
        let path = PathBuf::from(name);
        let mut nested = ctx.nested(&path);
        if !is_manifest {
            let head = match e.method {
                STORED => Cow::Borrowed(&data[..data.len().min(SNIFF_LEN)]),
                _ => Cow::Owned(inflater.head(data, SNIFF_LEN).map_err(bad)?),
            };
            let Some(handler) = handlers::sniff(&head, &nested) else {
                return Ok(None);
            };
            // A pyc records its source's time: the time that member gets here.
            nested.companion_mtime = handler
                .companion(&path)
                .and_then(|c| times.of(self, c.as_os_str().as_bytes(), ctx));
        }
        let size = to_usize(e.usize, "uncompressed size")?;
        let content = match e.method {
            STORED => Cow::Borrowed(data),
            _ => Cow::Owned(inflater.all(data, size).map_err(bad)?),
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
                    changes.push(format!("{name}: attribute {a} dropped"));
                }
                bytes
            })
        } else {
            match handlers::dispatch(&content, &nested) {
                Some((
                    _,
                    Ok(Outcome::Rewritten {
                        bytes,
                        changes: inner,
                    }),
                )) => {
                    changes.extend(inner.into_iter().map(|n| format!("{name}!{n}")));
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
                data,
                crc,
                usize,
            }
        }))
    }
}

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
    notes: &mut Vec<String>,
) -> Cow<'a, [u8]> {
    let (records, tail) = extra_records(extra);
    let mut out: Option<Vec<u8>> = None;
    for (id, data) in &records {
        let raw = &extra[data.start - 4..data.end];
        let new: Option<Cow<[u8]>> = match *id {
            EXTRA_NTFS => {
                notes.push("NTFS times extra field (0x000a) dropped".into());
                None
            }
            EXTRA_UNIX_OLD => {
                notes.push("Info-ZIP Unix extra field (0x5855: times, uid, gid) dropped".into());
                None
            }
            EXTRA_UNIX_IDS | EXTRA_UNIX_NEW => {
                notes.push(format!("Info-ZIP uid/gid extra field ({id:#06x}) dropped"));
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
    notes: &mut Vec<String>,
) -> Option<[u8; 9]> {
    let flags = data.first().copied().unwrap_or(0);
    let mtime = data
        .get(1..5)
        .filter(|_| flags & 1 != 0)
        .map(|m| le32(m, 0));
    let Some(mtime) = mtime else {
        notes.push("extended timestamp (0x5455) without a modification time dropped".into());
        return None;
    };
    let clamped = role.ut(mtime, ctx);
    if clamped != mtime {
        notes.push(format!("extended timestamp mtime {mtime} -> {clamped}"));
    }
    if flags != 1 || data.len() != 5 {
        notes.push("extended timestamp: access and creation times dropped".into());
    }
    let mut rec = [0x55, 0x54, 5, 0, 1, 0, 0, 0, 0];
    put32(&mut rec, 5, clamped);
    Some(rec)
}

/// Drops [`DROPPED_ATTRIBUTES`] from a manifest. Returns the new text and the
/// names dropped, or `None` when nothing is dropped.
fn clean_manifest(text: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    const VERSION: &[u8] = b"Manifest-Version:";
    if text.len() < VERSION.len() || !text[..VERSION.len()].eq_ignore_ascii_case(VERSION) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    let mut dropped = Vec::new();
    let mut skipping = false;
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let (content, end) = match memchr::memchr2(b'\r', b'\n', rest) {
            None => (rest, rest.len()),
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], i + 2),
            Some(i) => (&rest[..i], i + 1),
        };
        if content.first() == Some(&b' ') {
            // A continuation line belongs to the attribute before it.
        } else {
            let name = content.split(|&b| b == b':').next().unwrap_or_default();
            skipping = content.contains(&b':')
                && DROPPED_ATTRIBUTES
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(name));
            if skipping {
                dropped.push(show(name));
            }
        }
        if !skipping {
            out.extend_from_slice(&rest[..end]);
        }
        pos += end;
    }
    (!dropped.is_empty()).then_some((out, dropped))
}

/// Raw deflate at a fixed level: the same bytes for the same input.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Compression::best());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// Inflates raw deflate data with one reusable state.
struct Inflater {
    state: Decompress,
}

impl Inflater {
    fn new() -> Self {
        Self {
            state: Decompress::new(false),
        }
    }

    /// Inflates into `out` until it is full or the stream ends; returns how
    /// many bytes were produced and whether the stream ended.
    fn fill(&mut self, data: &[u8], out: &mut [u8]) -> Result<(usize, bool), String> {
        self.state.reset(false);
        loop {
            let read = self.state.total_in() as usize;
            let done = self.state.total_out() as usize;
            if done == out.len() {
                return Ok((done, false));
            }
            let status = self
                .state
                .decompress(&data[read..], &mut out[done..], FlushDecompress::None)
                .map_err(|e| format!("corrupt deflate data: {e}"))?;
            if status == Status::StreamEnd {
                return Ok((self.state.total_out() as usize, true));
            }
            if self.state.total_in() as usize == read && self.state.total_out() as usize == done {
                return Err("truncated deflate data".into());
            }
        }
    }

    /// The first `limit` bytes of the member (fewer if it is shorter).
    fn head(&mut self, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0; limit];
        let (n, _) = self.fill(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// The whole member, which must be exactly `size` bytes.
    fn all(&mut self, data: &[u8], size: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0; size.saturating_add(1)];
        let (n, ended) = self.fill(data, &mut out)?;
        if n != size || !ended {
            return Err(format!(
                "inflates to {}{n} bytes, not the {size} its headers say",
                if ended { "" } else { "more than " }
            ));
        }
        out.truncate(n);
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Writing

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

impl Archive<'_> {
    fn write(&self, plan: &Plan) -> Result<Vec<u8>, FormatError> {
        let input = self.input;
        let mut out = Vec::with_capacity(input.len() + 64);
        out.extend_from_slice(&input[..self.prefix]);
        let mut offsets = Vec::with_capacity(plan.entries.len());
        for p in &plan.entries {
            offsets.push(out.len() as u64 - self.base);
            self.write_local(&mut out, p)?;
        }
        let directory = out.len() as u64 - self.base;
        for (p, &offset) in plan.entries.iter().zip(&offsets) {
            self.write_central(&mut out, p, offset)?;
        }
        let directory_size = out.len() as u64 - self.base - directory;
        let record = out.len() as u64 - self.base;
        let count = plan.entries.len() as u64;
        if let Some(z) = &self.zip64 {
            let at = out.len();
            out.extend_from_slice(&input[z.record.clone()]);
            put64(&mut out, at + 24, count);
            put64(&mut out, at + 32, count);
            put64(&mut out, at + 40, directory_size);
            put64(&mut out, at + 48, directory);
            let at = out.len();
            out.extend_from_slice(&input[z.locator..z.locator + ZIP64_LOCATOR_LEN]);
            put64(&mut out, at + 8, record);
        }
        let at = out.len();
        out.extend_from_slice(&input[self.end..]);
        let rec = &input[self.end..];
        for field in [8, 10] {
            // Fewer entries than read (dropped ones): never more, so it fits.
            if le16(rec, field) != 0xffff {
                put16(&mut out, at + field, count as u16);
            }
        }
        if le32(rec, 12) != ESCAPED {
            let v = fit32(directory_size, "the central directory")?;
            put32(&mut out, at + 12, v);
        }
        if le32(rec, 16) != ESCAPED {
            let v = fit32(directory, "the central directory offset")?;
            put32(&mut out, at + 16, v);
        }
        Ok(out)
    }

    fn write_local(&self, out: &mut Vec<u8>, p: &EntryPlan) -> Result<(), FormatError> {
        let e = &self.entries[p.index];
        let input = self.input;
        let at = out.len();
        out.extend_from_slice(&input[e.local..e.local_extra.start]);
        put16(out, at + 10, p.local_time.time);
        put16(out, at + 12, p.local_time.date);
        put16(out, at + 28, p.local_extra.len() as u16);
        let extra = out.len()..out.len() + p.local_extra.len();
        out.extend_from_slice(&p.local_extra);
        let Some(new) = &p.new_data else {
            out.extend_from_slice(&input[e.data.start..e.end]);
            return Ok(());
        };
        let descriptor = e.descriptor.is_some();
        if e.method == DEFLATED {
            let flags = (e.local_flags & !FLAG_DEFLATE_LEVEL) | FLAG_DEFLATE_MAXIMUM;
            put16(out, at + 6, flags);
        }
        if !(descriptor && e.local_crc == 0) {
            put32(out, at + 14, new.crc);
        }
        let mut slots = Vec::new();
        for (i, (field, value)) in [(22, new.usize), (18, new.csize)].into_iter().enumerate() {
            let raw = le32(out, at + field);
            let old = e.local_sizes[i];
            let keep_zero = descriptor && old == Some(0);
            if raw == ESCAPED {
                if old.is_some() {
                    slots.push(if keep_zero { 0 } else { value });
                }
            } else if !keep_zero {
                put32(out, at + field, fit32(value, "a member")?);
            }
        }
        patch_zip64(out, extra, &slots);
        out.extend_from_slice(&new.data);
        if let Some(d) = e.descriptor {
            if d.signed {
                out.extend_from_slice(&DESCRIPTOR_SIG);
            }
            out.extend_from_slice(&new.crc.to_le_bytes());
            if d.wide {
                out.extend_from_slice(&new.csize.to_le_bytes());
                out.extend_from_slice(&new.usize.to_le_bytes());
            } else {
                out.extend_from_slice(&fit32(new.csize, "a member")?.to_le_bytes());
                out.extend_from_slice(&fit32(new.usize, "a member")?.to_le_bytes());
            }
        }
        Ok(())
    }

    fn write_central(
        &self,
        out: &mut Vec<u8>,
        p: &EntryPlan,
        offset: u64,
    ) -> Result<(), FormatError> {
        let e = &self.entries[p.index];
        let input = self.input;
        let at = out.len();
        out.extend_from_slice(&input[e.central..e.central_extra.start]);
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
        out.extend_from_slice(&input[e.comment.clone()]);
        Ok(())
    }
}

#[cfg(test)]
#[path = "../../../tests/it/zipgen.rs"]
mod zipgen;

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use flate2::{Compression, GzBuilder};

    use super::zipgen::{self, Member, Options};
    use super::*;
    use crate::config::Config;

    const EPOCH: u64 = 1_000_000_000; // 2001-09-09 01:46:40
    const LATE: u64 = 1_700_000_000; // 2023-11-14
    const LATER: u64 = 1_800_000_000; // 2027-01-15

    fn run_with(input: &[u8], cfg: &Config) -> Result<Outcome, FormatError> {
        Zip.normalize(input, &cfg.context(Path::new("t.zip")))
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        run_with(input, &Config::with_epoch(EPOCH))
    }

    /// The normalized bytes, checking that they are a fixed point.
    fn out(input: &[u8]) -> Vec<u8> {
        let bytes = run(input).unwrap().bytes(input).to_vec();
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged, "not idempotent");
        bytes
    }

    fn changes(input: &[u8]) -> Vec<String> {
        match run(input).unwrap() {
            Outcome::Rewritten { changes, .. } => changes,
            Outcome::Unchanged => Vec::new(),
        }
    }

    fn gz(data: &[u8], mtime: u32) -> Vec<u8> {
        let mut w = GzBuilder::new()
            .mtime(mtime)
            .filename("inner")
            .write(Vec::new(), Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn members(t: u64) -> Vec<Member> {
        vec![
            Member::dir("doc/", t),
            Member::file("doc/a.txt", &b"alpha ".repeat(500), t),
            Member {
                mode: 0o100_775,
                ..Member::file("bin/run", b"#!/bin/sh\necho hi\n", t)
            },
            Member {
                mode: 0o120_777,
                deflate: false,
                ..Member::file("link", b"doc/a.txt", t)
            },
        ]
    }

    fn noisy(uid: u32) -> Options {
        Options {
            timestamps: true,
            ids: Some((uid, uid)),
            made_by: 30,
            comment: b"archive comment".to_vec(),
            ..Options::default()
        }
    }

    #[test]
    fn sniffs_magic_and_visible_prefixes_only() {
        let cfg = Config::default();
        let ctx = cfg.context(Path::new("x"));
        let zip = zipgen::build(&members(LATE), &Options::default());
        assert!(Zip.sniff(&zip, &ctx));
        assert!(Zip.sniff(&zipgen::build(&[], &Options::default()), &ctx));
        let mut app = b"#!/usr/bin/env python3\n".to_vec();
        app.extend_from_slice(&zip);
        assert!(Zip.sniff(&app, &ctx));
        let mut exe = b"MZ\x90\0".to_vec();
        exe.extend_from_slice(&[0; 200]);
        assert!(
            !Zip.sniff(&exe, &ctx),
            "a PE without a visible zip is not ours"
        );
        exe.extend_from_slice(&zip);
        assert!(Zip.sniff(&exe, &ctx));
        assert!(!Zip.sniff(b"#!/bin/sh\necho PK\n", &ctx));
        assert!(
            !Zip.sniff(b"hello PK\x03\x04", &ctx),
            "no prefix but #! and MZ"
        );
    }

    #[test]
    fn dos_times_convert_both_ways_and_clamp_with_a_floor() {
        for t in [
            DOS_FLOOR,
            951_782_400, /* 2000-02-29 */
            LATE,
            4_354_819_198, /* 2107-12-31 23:59:58 */
        ] {
            let d = DosTime::from_unix(t);
            assert_eq!(d.unix(), Some(t), "{d}");
        }
        assert_eq!(
            DosTime::from_unix(LATE + 1).unix(),
            Some(LATE),
            "2-second resolution"
        );
        assert_eq!(
            DosTime::from_unix(951_782_400).to_string(),
            "2000-02-29 00:00:00"
        );
        let cfg = Config::with_epoch(EPOCH + 1);
        let ctx = cfg.context(Path::new("x"));
        let late = DosTime::from_unix(LATE);
        assert_eq!(
            late.clamped(&ctx).unix(),
            Some(EPOCH),
            "odd epoch rounds down"
        );
        let early = DosTime::from_unix(EPOCH - 10);
        assert_eq!(early.clamped(&ctx), early, "earlier times stay");
        let cfg = Config::with_epoch(0);
        assert_eq!(late.clamped(&cfg.context(Path::new("x"))), DosTime::FLOOR);
        assert_eq!(DosTime::FLOOR.unix(), Some(DOS_FLOOR));
        assert_eq!(DosTime::FLOOR.to_string(), "1980-01-02 02:00:00");
        // The first DOS day is below the floor: east of UTC it extracts to 1979.
        let first_day = DosTime::from_unix(315_532_800 + 12 * 3600);
        assert_eq!(first_day.clamped(&ctx), DosTime::FLOOR);
        let cfg = Config::with_epoch(0);
        let zero = cfg.context(Path::new("x"));
        assert_eq!(
            clamp_unix(1_700_000_000, &zero),
            DOS_FLOOR as u32,
            "UT floor"
        );
        assert_eq!(clamp_unix(0, &ctx), DOS_FLOOR as u32);
        assert_eq!(
            clamp_unix(LATE as u32, &ctx),
            EPOCH as u32 + 1,
            "UT keeps odd seconds"
        );
        for bad in [
            DosTime { date: 0, time: 0 },
            DosTime {
                date: 0x21,
                time: 24 << 11,
            },
            DosTime {
                date: (2 << 5) | 0x1e,
                time: 0,
            },
        ] {
            assert_eq!(bad.unix(), None);
            assert_eq!(bad.clamped(&ctx), DosTime::FLOOR);
        }
    }

    #[test]
    fn two_builds_at_different_times_orders_and_users_converge() {
        let a = zipgen::build(&members(LATE), &noisy(0));
        let mut m = members(LATER);
        m.reverse();
        let b = zipgen::build(&m, &noisy(1000));
        assert_ne!(a, b);
        let (na, nb) = (out(&a), out(&b));
        assert!(na == nb, "the two builds do not converge");
        assert!(na.len() < a.len(), "uid/gid fields and atime/ctime dropped");
        let read = zipgen::read(&na);
        let names: Vec<&[u8]> = read.iter().map(|(n, _, _)| &n[..]).collect();
        assert_eq!(names, [&b"bin/run"[..], b"doc/", b"doc/a.txt", b"link"]);
        for (name, data, mode) in read {
            let orig = members(LATE).into_iter().find(|m| m.name == name).unwrap();
            assert_eq!(data, orig.data, "payload of {}", show(&name));
            let want = match orig.mode & S_IFMT {
                0o120_000 => 0o120_777,
                0o040_000 => 0o40_755,
                _ if orig.mode & 0o100 != 0 => 0o100_755,
                _ => 0o100_644,
            };
            assert_eq!(mode, want, "mode of {}", show(&name));
        }
        assert!(na.ends_with(b"archive comment"), "comment kept");
        let ch = changes(&a);
        for want in [
            "central directory: entries sorted by name",
            "doc/a.txt: DOS time 2023-11-14 22:13:20 -> 2001-09-09 01:46:40",
            "doc/a.txt: extended timestamp mtime 1700000000 -> 1000000000",
            "doc/a.txt: extended timestamp: access and creation times dropped",
            "doc/a.txt: Info-ZIP uid/gid extra field (0x7875) dropped",
            "doc/a.txt: version made by 0x031e -> 0x0314",
            "bin/run: external attributes 0x81fd0000 -> 0x81ed0000",
        ] {
            assert!(ch.iter().any(|c| c == want), "no {want:?} in {ch:#?}");
        }
    }

    #[test]
    fn a_normal_archive_is_unchanged_and_earlier_times_stay() {
        let early = zipgen::build(&members(EPOCH - 100), &Options::default());
        let n = out(&early);
        assert_eq!(run(&n).unwrap(), Outcome::Unchanged);
        let sorted = zipgen::build(
            &{
                let mut m = members(EPOCH - 100);
                m.sort_by(|a, b| a.name.cmp(&b.name));
                m[0].mode = 0o100_755; // bin/run, as normalized
                m
            },
            &Options {
                made_by: 20,
                ..Options::default()
            },
        );
        assert_eq!(
            run(&sorted).unwrap(),
            Outcome::Unchanged,
            "{:?}",
            changes(&sorted)
        );
    }

    #[test]
    fn jar_manifest_first_and_mimetype_first_stay_first() {
        let jar = zipgen::build(
            &[
                Member::file("a/B.class", b"cafe", LATE),
                Member::file(
                    "META-INF/MANIFEST.MF",
                    b"Manifest-Version: 1.0\r\n\r\n",
                    LATE,
                ),
                Member::dir("META-INF/", LATE),
                Member::file("A.class", b"babe", LATE),
            ],
            &Options::default(),
        );
        let names: Vec<Vec<u8>> = zipgen::read(&out(&jar)).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                &b"META-INF/"[..],
                b"META-INF/MANIFEST.MF",
                b"A.class",
                b"a/B.class"
            ]
        );
        // Java finds the manifest whatever its case; it must still come first.
        let lower = zipgen::build(
            &[
                Member::file("A.class", b"babe", LATE),
                Member::file("meta-inf/manifest.mf", b"Manifest-Version: 1.0\n", LATE),
            ],
            &Options::default(),
        );
        let names: Vec<Vec<u8>> = zipgen::read(&out(&lower))
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, [&b"meta-inf/manifest.mf"[..], b"A.class"]);
        let epub = zipgen::build(
            &[
                Member {
                    deflate: false,
                    ..Member::file("mimetype", b"application/epub+zip", LATE)
                },
                Member::file("META-INF/container.xml", b"<container/>", LATE),
                Member::file("EPUB/a.xhtml", b"<html/>", LATE),
            ],
            &Options::default(),
        );
        let n = out(&epub);
        assert_eq!(
            &n[30..38],
            b"mimetype",
            "mimetype is still the first local header"
        );
        let names: Vec<Vec<u8>> = zipgen::read(&n).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [&b"mimetype"[..], b"EPUB/a.xhtml", b"META-INF/container.xml"]
        );
    }

    #[test]
    fn manifest_build_attributes_are_dropped_with_their_continuations() {
        let manifest = b"Manifest-Version: 1.0\r\n\
Created-By: Maven JAR Plugin 3.3.0\r\n\
Built-By: alice\r\n\
Bnd-LastModified: 1700000000000\r\n\
Build-Jdk-Spec: 17\r\n\
Class-Path: lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jar\r\n \
lib/b.jar\r\n\
build-date: 2023-11-14T22:13:20Z and a long value that needs a continua\r\n \
tion line\r\n\
\r\n\
Name: a/B.class\r\n\
Built-By: bob\r\n\
SHA-256-Digest: abc\r\n\
\r\n";
        let want = b"Manifest-Version: 1.0\r\n\
Created-By: Maven JAR Plugin 3.3.0\r\n\
Build-Jdk-Spec: 17\r\n\
Class-Path: lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.jar\r\n \
lib/b.jar\r\n\
\r\n\
Name: a/B.class\r\n\
SHA-256-Digest: abc\r\n\
\r\n";
        let (cleaned, dropped) = clean_manifest(manifest).unwrap();
        assert_eq!(
            String::from_utf8(cleaned.clone()).unwrap(),
            String::from_utf8(want.to_vec()).unwrap()
        );
        assert_eq!(
            dropped,
            ["Built-By", "Bnd-LastModified", "build-date", "Built-By"]
        );
        assert_eq!(clean_manifest(&cleaned), None);
        assert_eq!(clean_manifest(b"Built-By: x\n"), None, "not a manifest");

        let jar = zipgen::build(
            &[
                Member::dir("META-INF/", EPOCH),
                Member::file("META-INF/MANIFEST.MF", manifest, EPOCH),
            ],
            &Options::default(),
        );
        let n = out(&jar);
        assert_eq!(zipgen::read(&n)[1].1, want);
        assert!(
            changes(&jar).contains(&"META-INF/MANIFEST.MF: attribute Built-By dropped".to_string())
        );
    }

    #[test]
    fn nested_members_are_normalized_and_recompressed_deterministically() {
        let inner = |t| zipgen::build(&members(t), &noisy(5));
        let outer = |t| {
            zipgen::build(
                &[
                    Member::file("lib/inner.jar", &inner(t), t),
                    Member {
                        deflate: false,
                        ..Member::file("stored.jar", &inner(t), t)
                    },
                    Member::file("x.gz", &gz(&b"payload ".repeat(100), t as u32), t),
                    Member {
                        descriptor: true,
                        ..Member::file("y.gz", &gz(b"more", t as u32), t)
                    },
                ],
                &Options::default(),
            )
        };
        let (a, b) = (outer(LATE), outer(LATER));
        let na = out(&a);
        assert!(na == out(&b), "nested builds do not converge");
        let read = zipgen::read(&na);
        assert_eq!(read[0].1, out(&inner(LATE)), "the nested jar is normalized");
        assert_eq!(read[1].1, out(&inner(LATE)), "a stored nested jar too");
        let gz_out = crate::handlers::gzip::Gzip
            .normalize(
                &gz(&b"payload ".repeat(100), LATE as u32),
                &Config::with_epoch(EPOCH).context(Path::new("x.gz")),
            )
            .unwrap();
        assert_eq!(
            read[2].1,
            gz_out.bytes(&[]),
            "the nested gzip is normalized"
        );
        let ch = changes(&a);
        assert!(
            ch.iter()
                .any(|c| c.starts_with("lib/inner.jar!doc/a.txt: DOS time")),
            "{ch:#?}"
        );
        assert!(
            ch.iter().any(|c| c.starts_with("x.gz!member 1: mtime")),
            "{ch:#?}"
        );
        // The stored member stays stored, the deflated one is deflated again.
        let arch = Archive::parse(&na).unwrap();
        let methods: Vec<u16> = arch.entries.iter().map(|e| e.method).collect();
        assert_eq!(methods, [DEFLATED, STORED, DEFLATED, DEFLATED]);
        assert!(arch.entries[3].descriptor.is_some(), "data descriptor kept");
    }

    #[test]
    fn nesting_stops_at_the_depth_limit_and_size_limits() {
        let inner = zipgen::build(&members(LATE), &Options::default());
        let outer = zipgen::build(
            &[Member::file("in.zip", &inner, EPOCH)],
            &Options::default(),
        );
        let mut cfg = Config::with_epoch(EPOCH);
        cfg.max_depth = 0;
        assert_eq!(run_with(&outer, &cfg).unwrap(), Outcome::Unchanged);
        cfg.max_depth = 1;
        assert!(matches!(
            run_with(&outer, &cfg).unwrap(),
            Outcome::Rewritten { .. }
        ));
        cfg.max_size = inner.len() as u64 - 1;
        assert_eq!(
            run_with(&outer, &cfg).unwrap(),
            Outcome::Unchanged,
            "too large to expand"
        );
        // A bomb: 4 MiB of zeros inside a gzip inside a zip, over 1000:1.
        let bomb = zipgen::build(
            &[Member::file(
                "z.gz",
                &gz(&vec![0; 4 << 20], LATE as u32),
                EPOCH,
            )],
            &Options::default(),
        );
        let bomb = zipgen::build(&[Member::file("b.zip", &bomb, EPOCH)], &Options::default());
        assert!(
            matches!(run(&bomb).unwrap(), Outcome::Rewritten { .. }),
            "the gzip is reached"
        );
        let zeros = zipgen::build(
            &[Member::file("z", &vec![0; 8 << 20], EPOCH)],
            &Options::default(),
        );
        let deep = zipgen::build(&[Member::file("d.zip", &zeros, EPOCH)], &Options::default());
        let arch = Archive::parse(&zeros).unwrap();
        assert!(
            arch.entries[0].usize > BOMB_RATIO * arch.entries[0].csize,
            "really a bomb"
        );
        assert_eq!(run(&deep).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn members_are_not_inflated_whole_unless_claimed() {
        // Corrupt the deflate data well past the first 4096 output bytes of a
        // member nobody claims: an unchanged archive never reads that far.
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i} ").into_bytes())
            .collect();
        let zip = zipgen::build(&[Member::file("a.txt", &text, EPOCH)], &Options::default());
        let arch = Archive::parse(&zip).unwrap();
        let mut bad = zip.clone();
        let at = arch.entries[0].data.end - 100;
        bad[at..at + 50].fill(0xff);
        assert_eq!(run(&bad).unwrap(), Outcome::Unchanged);
        // The same corruption in a claimed member is found.
        let mut gzipped = gz(&text, 5);
        let at = gzipped.len() - 100;
        gzipped[at..at + 50].fill(0xff);
        let zip = zipgen::build(
            &[Member {
                deflate: false,
                ..Member::file("a.gz", &gzipped, EPOCH)
            }],
            &Options::default(),
        );
        assert_eq!(
            run(&zip).unwrap(),
            Outcome::Unchanged,
            "nested malformed gzip passed through"
        );
    }

    #[test]
    fn prefixes_are_kept_with_either_offset_convention() {
        for relative in [false, true] {
            let o = |uid| Options {
                prefix: b"#!/usr/bin/env python3\n".to_vec(),
                relative_offsets: relative,
                ..noisy(uid)
            };
            let a = zipgen::build(&members(LATE), &o(0));
            let b = zipgen::build(&members(LATER), &o(1000));
            let na = out(&a);
            assert!(na == out(&b));
            assert!(na.starts_with(b"#!/usr/bin/env python3\nPK\x03\x04"));
            let arch = Archive::parse(&na).unwrap();
            assert_eq!(arch.base, if relative { 23 } else { 0 });
            assert_eq!(zipgen::read(&na).len(), 4);
        }
    }

    #[test]
    fn zip64_and_data_descriptors_are_updated() {
        let m = |t| {
            members(t)
                .into_iter()
                .map(|m| Member {
                    descriptor: m.deflate,
                    ..m
                })
                .chain([Member::file("n.gz", &gz(b"nested", t as u32), t)])
                .collect::<Vec<_>>()
        };
        let o = |uid| Options {
            zip64: true,
            ..noisy(uid)
        };
        let a = zipgen::build(&m(LATE), &o(0));
        let mut rev = m(LATER);
        rev.reverse();
        let b = zipgen::build(&rev, &o(1000));
        let na = out(&a);
        assert!(na == out(&b));
        let arch = Archive::parse(&na).unwrap();
        assert!(arch.zip64.is_some());
        let read = zipgen::read(&na);
        assert_eq!(read.len(), 5);
        assert_eq!(read[2].1, b"alpha ".repeat(500));
    }

    #[test]
    fn empty_archives_are_fine() {
        let empty = zipgen::build(
            &[],
            &Options {
                comment: b"c".to_vec(),
                ..Options::default()
            },
        );
        assert_eq!(run(&empty).unwrap(), Outcome::Unchanged);
        let mut app = b"#!/bin/sh\n".to_vec();
        app.extend_from_slice(&empty);
        assert_eq!(run(&app).unwrap(), Outcome::Unchanged);
    }

    /// The DOS times (local and central, read as UTC) and UT mtimes of the
    /// entry called `name`.
    fn entry_times(zip: &[u8], name: &str) -> Vec<u64> {
        let arch = Archive::parse(zip).unwrap();
        let e = arch
            .entries
            .iter()
            .find(|e| arch.name(e) == name.as_bytes())
            .unwrap();
        let mut t: Vec<u64> = [e.local_time, e.central_time]
            .iter()
            .map(|d| d.unix().unwrap())
            .collect();
        for x in [&e.local_extra, &e.central_extra] {
            t.extend(ut_mtimes(&zip[x.clone()]).map(u64::from));
        }
        t
    }

    /// A timestamp-based `CPython` 3.11 pyc holding `None`.
    fn pyc(mtime: u32, size: u32) -> Vec<u8> {
        let mut v = b"\xa7\x0d\x0d\x0a\0\0\0\0".to_vec();
        v.extend_from_slice(&mtime.to_le_bytes());
        v.extend_from_slice(&size.to_le_bytes());
        // An empty 3.11 code object: the pyc handler loads only code.
        v.push(b'c');
        v.extend_from_slice(&[0; 20]);
        v.extend_from_slice(b"s\0\0\0\0)\0)\0)\0s\0\0\0\0z\0z\0z\0\0\0\0\0s\0\0\0\0s\0\0\0\0");
        v
    }

    fn compiled_pairs(t: u64, source_delay: i64) -> Vec<Member> {
        let s = t.saturating_add_signed(source_delay);
        vec![
            Member::file("demo/core.clj", b"(ns demo.core)", s),
            Member::file("demo/core__init.class", b"\xca\xfe\xba\xbe", t),
            Member::file("demo/util.cljc", b"(ns demo.util)", s),
            Member::file("demo/util__init.class", b"\xca\xfe\xba\xbe", t),
            Member::file("pkg/m.py", b"print(1)\n", s),
            Member::file("pkg/__pycache__/m.cpython-311.pyc", &pyc(s as u32, 9), t),
            Member::file(
                "pkg/__pycache__/m.cpython-311.opt-1.pyc",
                &pyc(s as u32, 9),
                t + 60,
            ),
            Member::file("top.py", b"print(2)\n", s),
            Member::file("top.pyc", &pyc(s as u32, 9), t),
            Member::file("alone.clj", b"(ns alone)", t),
            Member::file("Alone.class", b"\xca\xfe\xba\xbe", t),
        ]
    }

    #[test]
    fn sources_stay_strictly_older_than_their_compiled_forms() {
        let pairs = [
            ("demo/core.clj", &["demo/core__init.class"][..]),
            ("demo/util.cljc", &["demo/util__init.class"]),
            (
                "pkg/m.py",
                &[
                    "pkg/__pycache__/m.cpython-311.pyc",
                    "pkg/__pycache__/m.cpython-311.opt-1.pyc",
                ],
            ),
            ("top.py", &["top.pyc"]),
        ];
        for epoch in [EPOCH, EPOCH + 1, 0, DOS_FLOOR, DOS_FLOOR + 2] {
            let cfg = Config::with_epoch(epoch);
            let run = |z: &[u8]| {
                let ctx = cfg.context(Path::new("t.jar"));
                let n = Zip.normalize(z, &ctx).unwrap().bytes(z).to_vec();
                assert_eq!(Zip.normalize(&n, &ctx).unwrap(), Outcome::Unchanged);
                n
            };
            for ut in [false, true] {
                let o = Options {
                    timestamps: ut,
                    ..Options::default()
                };
                // Sources written before, with, or (oddly) after their classes.
                let builds: Vec<Vec<u8>> = [(LATE, -60), (LATER, 0), (LATE, 3)]
                    .iter()
                    .map(|&(t, d)| run(&zipgen::build(&compiled_pairs(t, d), &o)))
                    .collect();
                assert!(builds.windows(2).all(|w| w[0] == w[1]), "epoch {epoch}");
                let n = &builds[0];
                for (source, compiled) in pairs {
                    let latest = entry_times(n, source).into_iter().max().unwrap();
                    assert!(latest >= DOS_FLOOR, "{source} below the floor");
                    for c in compiled {
                        let earliest = entry_times(n, c).into_iter().min().unwrap();
                        assert!(
                            latest < earliest,
                            "epoch {epoch}, UT {ut}: {source} at {latest}, {c} at {earliest}"
                        );
                    }
                }
                // Without a counterpart, a source and a class keep the plain rule.
                let plain = epoch.max(DOS_FLOOR) & !1;
                assert_eq!(entry_times(n, "alone.clj")[0], plain);
                assert_eq!(entry_times(n, "Alone.class")[0], plain);
            }
        }
        // A source already older than its class keeps its time.
        let early = zipgen::build(&compiled_pairs(EPOCH - 100, -50), &Options::default());
        let n = out(&early);
        assert_eq!(entry_times(&n, "demo/core.clj")[0], EPOCH - 150);
        assert_eq!(entry_times(&n, "demo/core__init.class")[0], EPOCH - 100);
        let ch = changes(&zipgen::build(
            &compiled_pairs(LATE, 0),
            &Options::default(),
        ));
        assert!(
            ch.contains(
                &"demo/core.clj: source of a compiled member: kept strictly older than it"
                    .to_string()
            ),
            "{ch:#?}"
        );
    }

    #[test]
    fn a_pyc_member_records_the_time_its_source_member_gets() {
        let zip = zipgen::build(&compiled_pairs(LATE, 0), &Options::default());
        let n = out(&zip);
        for (source, pyc) in [
            ("top.py", "top.pyc"),
            ("pkg/m.py", "pkg/__pycache__/m.cpython-311.pyc"),
        ] {
            let source_time = entry_times(&n, source)[0];
            assert_eq!(source_time, EPOCH - 2);
            let read = zipgen::read(&n);
            let (_, data, _) = read
                .iter()
                .find(|(name, _, _)| name == pyc.as_bytes())
                .unwrap();
            assert_eq!(
                u64::from(le32(data, 8)),
                source_time,
                "{pyc} must record {source}'s DOS time, as zipimport compares them"
            );
        }
        assert!(
            changes(&zip).contains(&format!("top.pyc!source mtime {LATE} -> {}", EPOCH - 2)),
            "{:#?}",
            changes(&zip)
        );
    }

    #[test]
    fn maven_compiler_leftovers_are_dropped_from_jars_only() {
        let files = |t, n: u64| {
            vec![
                Member::file("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", t),
                Member::file("demo/Main.class", b"\xca\xfe\xba\xbe", t),
                Member::file(
                    &format!("org.codehaus.plexus.compiler.javac.JavacCompiler{n}arguments"),
                    format!("-d /build/{n}/target/classes").as_bytes(),
                    t,
                ),
                Member::file("javac.sh", format!("javac @/build/{n}/args").as_bytes(), t),
                Member::file("demo/javac.sh", b"kept: not at the top", t),
                Member::file(
                    "org.codehaus.plexus.compiler.javac.JavacCompilerXarguments",
                    b"kept: not a number",
                    t,
                ),
            ]
        };
        for zip64 in [false, true] {
            let o = Options {
                zip64,
                ..Options::default()
            };
            let a = zipgen::build(&files(LATE, 8_317_664_259_372_871_219), &o);
            let b = zipgen::build(&files(LATER, 42), &o);
            let na = out(&a);
            assert!(na == out(&b), "jars with leftovers do not converge");
            let names: Vec<Vec<u8>> = zipgen::read(&na).into_iter().map(|e| e.0).collect();
            assert_eq!(
                names,
                [
                    &b"META-INF/MANIFEST.MF"[..],
                    b"demo/Main.class",
                    b"demo/javac.sh",
                    b"org.codehaus.plexus.compiler.javac.JavacCompilerXarguments"
                ]
            );
            let arch = Archive::parse(&na).unwrap();
            assert_eq!(arch.entries.len(), 4, "entry counts follow");
            assert!(
                changes(&a).contains(
                    &"javac.sh: dropped (a Maven compiler leftover whose name or content changes \
                  with every build)"
                        .to_string()
                )
            );
        }
        // Not a jar: nothing is dropped.
        let zip = zipgen::build(&files(LATE, 1)[1..], &Options::default());
        assert_eq!(zipgen::read(&out(&zip)).len(), 5);
    }

    #[test]
    fn jmods_are_zips_after_a_four_byte_header() {
        let cfg = Config::default();
        let ctx = cfg.context(Path::new("x"));
        let o = |t: u64| Options {
            prefix: b"JM\x01\x00".to_vec(),
            relative_offsets: true,
            ..noisy(t as u32)
        };
        let a = zipgen::build(&members(LATE), &o(LATE));
        assert!(Zip.sniff(&a, &ctx));
        assert!(!Zip.sniff(b"JM\x01\x00not a zip", &ctx));
        assert!(Zip.sniff(&zipgen::build(&[], &o(0)), &ctx), "an empty jmod");
        let na = out(&a);
        assert!(na == out(&zipgen::build(&members(LATER), &o(LATER))));
        assert!(na.starts_with(b"JM\x01\x00PK\x03\x04"));
        assert_eq!(Archive::parse(&na).unwrap().base, 4);
    }

    fn plain() -> Vec<u8> {
        zipgen::build(&members(LATE), &Options::default())
    }

    fn patched(f: impl FnOnce(&mut Vec<u8>, &Archive)) -> Vec<u8> {
        let zip = plain();
        let arch = Archive::parse(&zip).unwrap();
        let mut bad = zip.clone();
        f(&mut bad, &arch);
        bad
    }

    fn is_malformed(input: &[u8], what: &str) {
        match run(input) {
            Err(FormatError::Malformed(m)) => assert!(m.contains(what), "{m:?} lacks {what:?}"),
            other => panic!("expected malformed ({what}), got {other:?}"),
        }
    }

    #[test]
    fn hostile_archives_are_malformed() {
        let zip = plain();
        is_malformed(&zip[..zip.len() - 1], "no end of central directory");
        is_malformed(&[&zip[..], b"x"].concat(), "no end of central directory");
        is_malformed(&zip[40..], "");
        // Two central entries pointing at the same local header.
        is_malformed(
            &patched(|b, a| {
                let (first, second) = (&a.entries[0], &a.entries[1]);
                let off = b[first.central + 42..first.central + 46].to_vec();
                b[second.central + 42..second.central + 46].copy_from_slice(&off);
            }),
            "",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.local + 30] ^= 1;
            }),
            "name",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.local + 14] ^= 1;
            }),
            "CRC32",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.local + 22] ^= 1;
            }),
            "sizes",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.local + 8] = 0;
            }),
            "method",
        );
        // Only the central header says the name is UTF-8 (unzip warns, exit 1).
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.central + 9] ^= 0x08;
            }),
            "flags",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[2];
                b[e.central + 42..e.central + 46].copy_from_slice(&u32::MAX.to_le_bytes());
            }),
            "zip64",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[2];
                b[e.central + 42..e.central + 46].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
            }),
            "truncated local header",
        );
        is_malformed(
            &patched(|b, a| {
                b[a.end + 8..a.end + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
            }),
            "entries claimed",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                let huge = (u32::MAX - 1).to_le_bytes();
                b[e.central + 24..e.central + 28].copy_from_slice(&huge);
                b[e.local + 22..e.local + 26].copy_from_slice(&huge);
            }),
            "more than deflate can expand to",
        );
        is_malformed(
            &patched(|b, a| {
                let e = &a.entries[1];
                let big = (e.csize as u32 + 1_000_000).to_le_bytes();
                b[e.central + 20..e.central + 24].copy_from_slice(&big);
                b[e.local + 18..e.local + 22].copy_from_slice(&big);
            }),
            "past the central directory",
        );
        // A claimed member with a wrong CRC32.
        let zip = zipgen::build(
            &[Member::file("x.gz", &gz(b"data", 1), EPOCH)],
            &Options::default(),
        );
        let arch = Archive::parse(&zip).unwrap();
        let mut bad = zip.clone();
        for at in [arch.entries[0].central + 16, arch.entries[0].local + 14] {
            bad[at] ^= 1;
        }
        is_malformed(&bad, "CRC32");
    }

    #[test]
    fn encrypted_signed_split_gapped_and_duplicate_archives_are_refused() {
        let unsupported = |input: &[u8], what: &str| match run(input) {
            Err(FormatError::Unsupported(m)) => assert!(m.contains(what), "{m:?} lacks {what:?}"),
            other => panic!("expected unsupported ({what}), got {other:?}"),
        };
        unsupported(
            &patched(|b, a| {
                let e = &a.entries[1];
                b[e.central + 8] |= 1;
                b[e.local + 6] |= 1;
            }),
            "encrypted",
        );
        let signed = zipgen::build(
            &[
                Member::file("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n", LATE),
                Member::file("META-INF/KEY.SF", b"sig", LATE),
                Member::file("META-INF/KEY.RSA", b"sig", LATE),
            ],
            &Options::default(),
        );
        unsupported(&signed, "signed jar");
        let dup = zipgen::build(
            &[Member::file("a", b"1", LATE), Member::file("a", b"2", LATE)],
            &Options::default(),
        );
        unsupported(&dup, "duplicate");
        // Bytes no member accounts for before the central directory.
        let zip = plain();
        let arch = Archive::parse(&zip).unwrap();
        let cd = arch.entries.iter().map(|e| e.end).max().unwrap();
        let mut gap = zip[..cd].to_vec();
        gap.extend_from_slice(b"APK Sig Block 42");
        gap.extend_from_slice(&zip[cd..]);
        let end = gap.len() - 22;
        let off = u32::try_from(cd + 16).unwrap();
        gap[end + 16..end + 20].copy_from_slice(&off.to_le_bytes());
        unsupported(&gap, "belong to no member");
        let mut split = plain();
        let end = split.len() - 22;
        split[end + 4] = 1;
        unsupported(&split, "split");
    }

    #[test]
    fn unparseable_extra_tails_and_unknown_fields_are_kept() {
        let mut zip = zipgen::build(&[Member::file("a", b"1", LATE)], &noisy(1));
        // Append an unknown field and 2 bytes of padding to the local extra.
        let arch = Archive::parse(&zip).unwrap();
        let e = &arch.entries[0];
        let add = b"\xfe\xca\0\0zz";
        let at = e.local_extra.end;
        zip.splice(at..at, add.iter().copied());
        let len = (e.local_extra.len() + add.len()) as u16;
        zip[e.local + 28..e.local + 30].copy_from_slice(&len.to_le_bytes());
        let shift = add.len() as u32;
        let end = zip.len() - 22 - 15;
        let off = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) + shift;
        zip[end + 16..end + 20].copy_from_slice(&off.to_le_bytes());
        let n = out(&zip);
        let arch = Archive::parse(&n).unwrap();
        let extra = &n[arch.entries[0].local_extra.clone()];
        assert!(extra.ends_with(b"\xfe\xca\0\0zz"), "{extra:?}");
        assert_eq!(&extra[..9], &[0x55, 0x54, 5, 0, 1, 0, 0xca, 0x9a, 0x3b]);
    }
}
