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
//! # Memory
//!
//! The archive is read by position ([`Handler::normalize_to`]; `normalize`
//! is the same code over the slice): only its end records, central directory,
//! local headers and data descriptors are loaded (at most 128 MiB of them,
//! else `TooLarge`; a 100,000-member jar needs about 10 MiB), and member data
//! is copied to the output by range. A member up to `settings.in_memory` that
//! a handler claims is expanded in memory; a larger one is expanded into a
//! scratch file (`ctx.spill`), handed on by position
//! ([`Dispatch::member_to`](crate::handler::Dispatch::member_to): the nested
//! handler must stream, else the member is left as it is and reported), and
//! when rewritten stored or deflated again from scratch, with the bytes the
//! in-memory path gives. Without scratch space (`NoSpill`) such a member is
//! expanded in memory, as it always was. A wheel's `RECORD` update reads a
//! changed member whole (to hash it).
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
//! when their uncompressed size exceeds `ctx.settings.max_size`, when their
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

use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Handler, Member as HandlerMember, Outcome, Sink, Source, Written};

mod bytes;
mod deflate;
mod dostime;
mod fields;
mod manifest;
mod plan;
mod read;
mod record;
mod write;

use bytes::InMemory;
use deflate::{Inflater, deflate};
use fields::{malformed, show, to_usize};
pub use manifest::DROPPED_ATTRIBUTES;
use plan::{NewData, Plan};
use read::{Archive, Entry};

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

/// How many bytes of an archive read by position its metadata (end records,
/// central directory, local headers) may take in memory. A 100,000-member jar
/// needs about 10 MiB; this guards against headers that claim gigabytes.
const METADATA_BUDGET: u64 = 128 << 20;

/// Members above this size and ratio are not expanded.
const BOMB_MIN_SIZE: u64 = 1 << 20;
const BOMB_RATIO: u64 = 1000;
/// Deflate cannot expand beyond about 1032:1; a size beyond this is a lie.
const DEFLATE_MAX_RATIO: u64 = 1032;

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

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[&LOCAL_SIG, &END_SIG, JMOD_MAGIC, b"#!", b"MZ"])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        let mut bytes = Vec::with_capacity(input.len() + 64);
        Ok(self
            .normalize_to(&InMemory(input), &mut bytes, ctx)?
            .into_outcome(bytes))
    }

    fn streams(&self) -> bool {
        true
    }

    /// Reads the end records, the central directory and the local headers
    /// by position (at most `METADATA_BUDGET` bytes of them), and copies
    /// member data by range: memory stays bounded by the budget however
    /// large the archive is.
    fn normalize_to(
        &self,
        input: &dyn Source,
        out: &mut dyn Sink,
        ctx: &Context,
    ) -> Result<Written, FormatError> {
        let archive = Archive::read(input, METADATA_BUDGET)?;
        let mut plan = archive.plan(ctx)?;
        record::update(&archive, &mut plan)?;
        if plan.changes.is_empty() {
            debug_assert!(
                input.as_slice().is_none_or(|all| {
                    let mut again = Vec::new();
                    archive.write(&plan, &mut again).is_ok() && again == all
                }),
                "a plan without changes must reproduce its input"
            );
            return Ok(Written::Unchanged);
        }
        archive.write(&plan, out)?;
        Ok(Written::Rewritten(plan.changes))
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
        let whole = InMemory(input);
        Some(Archive::read(&whole, u64::MAX).and_then(|archive| {
            let mut inflater = Inflater::new();
            let mut order: Vec<&Entry> = archive.entries.iter().collect();
            order.sort_by_key(|e| e.local);
            order
                .into_iter()
                .map(|e| {
                    let name = show(archive.name(e));
                    let data = &input[e.data.clone()];
                    let src: &dyn Source = &whole;
                    let expandable = !e.encrypted()
                        && (e.method == STORED || e.method == DEFLATED)
                        && e.usize <= ctx.settings.max_size
                        && !(e.usize > BOMB_MIN_SIZE
                            && e.usize > e.csize.saturating_mul(BOMB_RATIO));
                    let bytes = if !expandable || e.method == STORED {
                        data.to_vec()
                    } else {
                        let size = to_usize(e.usize, "uncompressed size")?;
                        let range = e.data.start as u64..e.data.end as u64;
                        inflater
                            .all(src, range, size)
                            .map_err(|m| malformed(format!("entry {name}: {m}")))?
                    };
                    Ok(HandlerMember { name, bytes })
                })
                .collect()
        }))
    }
}

#[cfg(test)]
#[path = "../../../tests/it/zipgen.rs"]
mod zipgen;

#[cfg(test)]
mod tests;
