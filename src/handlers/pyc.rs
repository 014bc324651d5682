//! `CPython` bytecode caches (`.pyc`) of `CPython` 3.6 to 3.14, recognized by
//! their magic number: two version bytes followed by `\r\n`, from the list in
//! `Include/internal/pycore_magic_number.h` (formerly
//! `Lib/importlib/_bootstrap_external.py`), which names the change behind every
//! magic. Claimed are the final magic of each release (3379 for 3.6, 3394,
//! 3413, 3425, 3439, 3495, 3531, 3571, 3627 for 3.14) and every pre-release
//! magic whose layout is known to be the one the table below gives it:
//!
//! | magics | release | header | code object |
//! |---|---|---|---|
//! | 3360–3361, 3370–3373, 3375–3379 | 3.6 | 12 bytes | 3.6 |
//! | 3390–3391 | 3.7a1–a2 | 12 bytes | 3.6 |
//! | 3392–3394 | 3.7 (PEP 552 at 3392) | 16 bytes | 3.6 |
//! | 3400–3401 | 3.8a1 | 16 bytes | 3.6 |
//! | 3413 | 3.8 | 16 bytes | 3.8 |
//! | 3420–3425, 3430–3439 | 3.9, 3.10 | 16 bytes | 3.8 |
//! | 3494–3495 | 3.11b1– | 16 bytes | 3.11 |
//! | 3500–3531, 3550–3571, 3600–3627 | 3.12, 3.13, 3.14 | 16 bytes | 3.11 (`TYPE_SLICE` from 3608) |
//!
//! Code-object layouts, as the integers and objects after the type byte:
//! 3.6 has argcount, kwonlyargcount, nlocals, stacksize, flags; 8 objects;
//! firstlineno; lnotab. 3.8 adds posonlyargcount after argcount (3.10's
//! linetable takes lnotab's place). 3.11 drops nlocals, replaces varnames,
//! freevars and cellvars with localsplusnames and localspluskinds, adds
//! qualname after name and exceptiontable after linetable.
//!
//! Reported as skipped ([`FormatError::Unsupported`], with the magic and the
//! reason) instead of normalized: 3410–3412 (3.8b1–b3: the magic list puts
//! `co_posonlyargcount` at 3410, a cross-version reader (`xdis`) reads those
//! magics without it, and no file of theirs could be checked), 3450–3493 (the
//! 3.11 alphas: the code object changed at 3450, 3452, 3453, 3459, 3460 and
//! 3494), Python 2 and 3.0–3.5 caches, magics of later releases, and magics no
//! release uses. Sniffing claims such a file only when it really looks like a
//! pyc: the `\r\n` after the magic, and a code object's type byte (`c`, or
//! `0xe3` with `FLAG_REF`) right after a 16-byte header with a flags word below
//! 256, or after a 12-byte (3.3–3.5) or 8-byte (Python 2, 3.0–3.2) header
//! behind a magic of those releases; a file named `*.pyc` needs only the
//! `\r\n`.
//!
//! The header is 12 bytes up to 3.7a2 (magic, source mtime, source size), 16
//! bytes from 3.7a4 on (PEP 552): the magic, a 32-bit flags word, then either
//! the source's mtime and size (flags 0: timestamp-based) or an 8-byte hash of
//! the source (flag bit 0: hash-based). The rest is one object in `CPython`'s
//! `marshal` format (version 4 since 3.4, 5 in 3.14 for slices).
//!
//! Normalized:
//!
//! * **Source mtime** of a timestamp-based pyc. `CPython` compares it with the
//!   mtime of the `.py` it caches (mod 2^32) and recompiles on every import when
//!   they differ, which it cannot even save inside a read-only store. So the
//!   field is set to the mtime the source will have when the run is over:
//!   `--final-mtime` when given (Nix sets every mtime to 1 when it registers an
//!   output), else the source's mtime, clamped to the epoch when the run clamps
//!   mtimes. The engine finds the source through [`Pyc`]'s
//!   [`Handler::companion`] (`dir/__pycache__/m.cpython-311[.opt-N].pyc` ->
//!   `dir/m.py`, legacy `m.pyc` -> `m.py`) and passes its mtime in
//!   [`Context::companion_mtime`]. A pyc without a source (or inside an archive)
//!   keeps its recorded mtime clamped to the epoch (`--final-mtime` when given):
//!   `CPython` checks the field only against an existing source.
//! * **`FLAG_REF` bits** of the marshal stream. The writer sets `FLAG_REF` (0x80
//!   on the type byte) on an object when its reference count at compile time
//!   says it might be seen again, so two builds of one module can differ only
//!   in these bits. The stream is parsed once, iteratively (no recursion, so no
//!   stack overflow on hostile nesting), in linear time: `FLAG_REF` is cleared
//!   on every object no `TYPE_REF` (`r`) points to, the remaining references
//!   are renumbered in stream order (the order in which the reader fills its
//!   table: containers and code objects reserve their slot before their
//!   children, in every release from 3.4 on), and every `r` index is rewritten
//!   to match. The output has the same length and loads to equal objects with
//!   the same sharing.
//!
//! Left alone on purpose: the source size (it comes from the source, which
//! strip-nd does not change), the whole header of hash-based pycs (flags 1 or
//! 3; the hash is of the source), every object's contents (bytecode, constants,
//! names, line tables) and any bytes after the marshal object (`marshal.loads`
//! ignores them). Duplicate objects that one build shares with `r` and another
//! writes twice are not merged: that would need hashing every subtree.
//!
//! Malformed (the file is left untouched): whatever `CPython`'s loader refuses,
//! as far as the walk can tell without building objects. A truncated header
//! or stream, flag bits other than 0 and 1, an unknown type code (including
//! `TYPE_SLICE` before 3608), a negative length, a `NULL` outside a dict, a
//! reference to an index not yet in the table or to a code object, frozenset
//! or slice still being read (the reader reserves their slot: "invalid
//! reference"), nesting deeper than `MAX_MARSHAL_STACK_DEPTH` (2000), a `u`/`t`
//! string that is not UTF-8 (lone surrogates pass, as with `surrogatepass`),
//! a long with a digit of 2^15 or more or a zero top digit, a float text that
//! is not a number, an unhashable set element or dict key (a list, dict or
//! set, or a tuple holding one); and for each code object what its
//! constructor refuses (`PyCode_New`, `_PyCode_Validate` from 3.11): negative
//! counts or `posonlyargcount > argcount`, a field of the wrong type (bytecode,
//! line table and `localspluskinds` must be `bytes`, constants a tuple, names
//! a tuple of `str`, file and function names `str`), bytecode of odd length,
//! `localsplusnames` and `localspluskinds` of different lengths, fewer local
//! names than arguments ("varnames is too small"). The top object must be a
//! code object (importlib: "Non-code object"). Found by a mutation campaign
//! with each release's own interpreter as the oracle (`tests/it/pyc.rs`).
//! Bytes after the object are not an error: `marshal.loads` and importlib
//! ignore them, so the file loads as it is.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::bytes::{i32_le, put_u32_le, u16_le, u32_le};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The pyc handler.
pub struct Pyc;

/// Set on a type byte: the reader adds the object to its reference table.
const FLAG_REF: u8 = 0x80;

/// The fixed-size fields of a code object, between its object fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeLayout {
    /// 3.6 to 3.8a1 (3.3 on, in fact): argcount, kwonlyargcount, nlocals,
    /// stacksize, flags; code, consts, names, varnames, freevars, cellvars,
    /// filename, name; firstlineno; lnotab.
    Py36,
    /// 3.8 to 3.10: argcount, posonlyargcount, kwonlyargcount, nlocals,
    /// stacksize, flags; code, consts, names, varnames, freevars, cellvars,
    /// filename, name; firstlineno; lnotab (3.10: linetable).
    Py38,
    /// 3.11 to 3.14: argcount, posonlyargcount, kwonlyargcount, stacksize,
    /// flags; code, consts, names, localsplusnames, localspluskinds, filename,
    /// name, qualname; firstlineno; linetable, exceptiontable.
    Py311,
}

impl CodeLayout {
    /// The fields after the type byte, as (bytes of 32-bit integers, objects)
    /// runs in stream order.
    fn fields(self) -> [(usize, u32); 2] {
        match self {
            CodeLayout::Py36 => [(5 * 4, 8), (4, 1)],
            CodeLayout::Py38 => [(6 * 4, 8), (4, 1)],
            CodeLayout::Py311 => [(5 * 4, 8), (4, 2)],
        }
    }
}

/// A run of magic numbers of one `CPython` release that share a layout.
#[derive(Debug, Clone, Copy)]
struct Magics {
    first: u16,
    last: u16,
    /// The release, `3.10`.
    release: &'static str,
    /// The release's final magic number.
    final_magic: u16,
    /// 12 (magic, mtime, size) or 16 (PEP 552: magic, flags, mtime/size or hash).
    header_len: usize,
    code: CodeLayout,
    /// `TYPE_SLICE` (marshal version 5, 3.14a1 from 3608 on).
    slices: bool,
}

/// One supported magic number.
#[derive(Debug, Clone, Copy)]
struct Version {
    magic: u16,
    layout: Magics,
}

impl Version {
    /// `3.10`, or `3.10 pre-release (magic 3430)`.
    fn name(self) -> String {
        if self.magic == self.layout.final_magic {
            self.layout.release.to_string()
        } else {
            format!("{} pre-release (magic {})", self.layout.release, self.magic)
        }
    }
}

const fn magics(
    first: u16,
    last: u16,
    release: &'static str,
    final_magic: u16,
    header_len: usize,
    code: CodeLayout,
) -> Magics {
    Magics {
        first,
        last,
        release,
        final_magic,
        header_len,
        code,
        slices: false,
    }
}

/// Every supported magic number, from the list in `pycore_magic_number.h`
/// (3374 and the gaps between runs were never used).
const MAGICS: [Magics; 14] = [
    magics(3360, 3361, "3.6", 3379, 12, CodeLayout::Py36),
    magics(3370, 3373, "3.6", 3379, 12, CodeLayout::Py36),
    magics(3375, 3379, "3.6", 3379, 12, CodeLayout::Py36),
    // PEP 552's 16-byte header came with 3392 (3.7a4).
    magics(3390, 3391, "3.7", 3394, 12, CodeLayout::Py36),
    magics(3392, 3394, "3.7", 3394, 16, CodeLayout::Py36),
    // co_posonlyargcount came with 3410 (PEP 570).
    magics(3400, 3401, "3.8", 3413, 16, CodeLayout::Py36),
    magics(3413, 3413, "3.8", 3413, 16, CodeLayout::Py38),
    magics(3420, 3425, "3.9", 3425, 16, CodeLayout::Py38),
    magics(3430, 3439, "3.10", 3439, 16, CodeLayout::Py38),
    // 3494 (3.11a7, and 3.11b1 to b3) brought the final location table.
    magics(3494, 3495, "3.11", 3495, 16, CodeLayout::Py311),
    magics(3500, 3531, "3.12", 3531, 16, CodeLayout::Py311),
    magics(3550, 3571, "3.13", 3571, 16, CodeLayout::Py311),
    magics(3600, 3607, "3.14", 3627, 16, CodeLayout::Py311),
    Magics {
        slices: true,
        ..magics(3608, 3627, "3.14", 3627, 16, CodeLayout::Py311)
    },
];

/// The two magic bytes as a number, when `\r\n` follows them.
fn magic_of(head: &[u8]) -> Option<u16> {
    (head.len() >= 4 && head[2..4] == *b"\r\n").then(|| u16::from_le_bytes([head[0], head[1]]))
}

/// The supported release whose magic number starts `head`.
fn version(head: &[u8]) -> Option<Version> {
    let magic = magic_of(head)?;
    MAGICS
        .iter()
        .find(|m| (m.first..=m.last).contains(&magic))
        .map(|&layout| Version { magic, layout })
}

/// Why a pyc-shaped file with this (unsupported) magic number is left alone.
fn unsupported(magic: u16) -> String {
    let what = match magic {
        3410..=3412 => {
            "CPython 3.8 beta: whether its code objects carry co_posonlyargcount \
             could not be checked"
        }
        3450..=3493 => {
            "CPython 3.11 alpha: its code-object layout changed six times \
             between 3450 and 3494"
        }
        3000..=3351 => "CPython 3.0 to 3.5: not supported",
        3650..=3999 => "a CPython release after 3.14: not supported",
        20121 | 50428 | 50823 | 60202 | 60717 | 62011..=62211 => "Python 1 or 2: not supported",
        _ => "no CPython release uses it",
    };
    // No comma: the summary groups skip reasons by their text up to one.
    format!("pyc magic number {magic} ({what})")
}

/// A type byte of a code object (`c`, with or without `FLAG_REF`).
fn is_code(b: Option<&u8>) -> bool {
    b.is_some_and(|&b| b & !FLAG_REF == b'c')
}

/// A flags word a text file cannot hold (NUL bytes) and a pyc may.
fn plausible_flags(head: &[u8]) -> bool {
    head.len() >= 8 && head[5..8] == [0, 0, 0]
}

/// Whether `head` looks like a pyc of any release: the magic's `\r\n`, then a
/// header of the release's shape followed by a code object.
fn looks_like_pyc(head: &[u8]) -> bool {
    let Some(magic) = magic_of(head) else {
        return false;
    };
    let py3 = (3000..=3999).contains(&magic);
    let old = matches!(magic, 20121 | 50428 | 50823 | 60202 | 60717 | 62011..=62211)
        || (3000..=3209).contains(&magic);
    (plausible_flags(head) && is_code(head.get(16)))
        || (py3 && is_code(head.get(12)))
        || (old && is_code(head.get(8)))
}

/// The source file `CPython` validates a pyc at `path` against:
/// `d/__pycache__/m.TAG.pyc` and `d/__pycache__/m.TAG.opt-N.pyc` -> `d/m.py`
/// (as `importlib.util.source_from_cache` computes it), a legacy `d/m.pyc` ->
/// `d/m.py`. `None` for names that follow neither pattern.
pub fn source_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.as_bytes();
    let stem = name.strip_suffix(b".pyc")?;
    let parent = path.parent()?;
    let in_cache = parent.file_name().is_some_and(|n| n == "__pycache__");
    let base: &[u8] = if in_cache {
        let parts: Vec<&[u8]> = stem.split(|&b| b == b'.').collect();
        let ok = match parts.len() {
            2 => true,
            3 => parts[2].starts_with(b"opt-"),
            _ => false,
        };
        if !ok || parts[0].is_empty() || parts[1].is_empty() {
            return None;
        }
        parts[0]
    } else {
        if stem.is_empty() {
            return None;
        }
        stem
    };
    let mut file = base.to_vec();
    file.extend_from_slice(b".py");
    let dir = if in_cache { parent.parent()? } else { parent };
    Some(dir.join(OsString::from_vec(file)))
}

impl Handler for Pyc {
    fn name(&self) -> &'static str {
        "pyc"
    }

    fn describe(&self) -> &'static str {
        "CPython 3.6-3.14 .pyc (PEP 552 from 3.7), magic <ver> 0d 0a: source mtime set to the source's final mtime; marshal FLAG_REF canonical; other pyc magics reported as skipped"
    }

    fn sniff(&self, head: &[u8], ctx: &Context) -> bool {
        if magic_of(head).is_none() {
            return false;
        }
        // The name narrows: a truncated or damaged `.pyc` is still reported.
        if ctx.name.extension().is_some_and(|e| e == "pyc") {
            return true;
        }
        match version(head) {
            Some(v) if v.layout.header_len == 16 => plausible_flags(head),
            Some(_) => is_code(head.get(12)),
            None => looks_like_pyc(head),
        }
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        // Every magic number is two bytes and `\r\n`.
        prefix.get(2..4).is_some_and(|crlf| crlf != b"\r\n")
    }

    fn companion(&self, path: &Path) -> Option<PathBuf> {
        source_of(path)
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        normalize(input, ctx, true)
    }
}

/// The handler's work; `code_only` (always, but in unit tests of the
/// marshal walk) refuses a top object that is not a code object, as
/// importlib does.
fn normalize(input: &[u8], ctx: &Context, code_only: bool) -> Result<Outcome, FormatError> {
    let Some(magic) = magic_of(input) else {
        return Err(FormatError::malformed(
            "no pyc magic number (two bytes and \\r\\n)",
        ));
    };
    let v = version(input).ok_or_else(|| FormatError::Unsupported(unsupported(magic)))?;
    let header_len = v.layout.header_len;
    if input.len() < header_len {
        return Err(FormatError::malformed(format!(
            "truncated header: {} of {header_len} bytes",
            input.len()
        )));
    }
    // Flags, then mtime and size (PEP 552); or mtime and size.
    let (flags, mtime_at) = if header_len == 16 {
        (
            u32_le(input, 4).expect("inside the header checked above"),
            8,
        )
    } else {
        (0, 4)
    };
    if flags & !0b11 != 0 {
        return Err(FormatError::malformed(format!(
            "invalid flags {flags:#x} (CPython {} rejects it)",
            v.name()
        )));
    }
    let (scan, top) = scan(input, header_len, v)?;
    if code_only && top != Kind::Code {
        // importlib: "Non-code object in ...".
        return Err(FormatError::malformed(
            "the marshalled object is not a code object (CPython refuses to import it)",
        ));
    }

    let mut changes = Vec::new();
    let mut new_mtime = None;
    if flags & 1 == 0 {
        let old = u32_le(input, mtime_at).expect("inside the header checked above");
        let want = target_mtime(old, ctx);
        if want != old {
            changes.push(Change::set("", "source mtime", old, want));
            new_mtime = Some(want);
        }
    }
    let unreferenced = scan.referenced.iter().filter(|r| !**r).count();
    if unreferenced > 0 || !scan.inert.is_empty() {
        let cleared = unreferenced + scan.inert.len();
        changes.push(match scan.moved_refs() {
            0 => Change::remark(
                "marshal",
                format!("FLAG_REF cleared on {cleared} unreferenced objects"),
            ),
            moved => Change::remark(
                "marshal",
                format!(
                    "FLAG_REF cleared on {cleared} unreferenced objects, \
                     {moved} references renumbered"
                ),
            ),
        });
    }
    if changes.is_empty() {
        return Ok(Outcome::Unchanged);
    }

    let mut out = input.to_vec();
    if let Some(m) = new_mtime {
        put_u32_le(&mut out, mtime_at, m);
    }
    scan.apply(&mut out);
    Ok(Outcome::Rewritten {
        bytes: out,
        changes,
    })
}

/// The source mtime a timestamp-based pyc must record (mod 2^32, as `CPython`
/// compares it).
fn target_mtime(old: u32, ctx: &Context) -> u32 {
    let t = ctx
        .companion_mtime
        .or(ctx.settings.final_mtime)
        .unwrap_or_else(|| ctx.epoch_value().clamp_i64(i64::from(old)));
    u32::try_from(t & 0xffff_ffff).expect("masked to 32 bits")
}

/// What one pass over the marshal stream found.
#[derive(Debug, Default)]
struct Scan {
    /// Offsets of the type bytes of objects that carry `FLAG_REF` and take a
    /// slot in the reader's reference table, in slot order.
    table: Vec<usize>,
    /// Whether some `r` points to each slot of `table`.
    referenced: Vec<bool>,
    /// Offsets of the 4-byte index of every `r`, with the slot it names.
    refs: Vec<(usize, u32)>,
    /// Offsets of type bytes carrying a `FLAG_REF` the reader ignores
    /// (`None`, `True`, `r` itself...): no slot, nothing can point to them.
    inert: Vec<usize>,
}

impl Scan {
    /// The slot each old slot gets: its rank among the referenced slots.
    fn renumbering(&self) -> Vec<u32> {
        let mut next = 0u32;
        self.referenced
            .iter()
            .map(|&r| {
                let n = next;
                if r {
                    next += 1;
                }
                n
            })
            .collect()
    }

    /// How many `r` indices change.
    fn moved_refs(&self) -> usize {
        let new = self.renumbering();
        self.refs
            .iter()
            .filter(|(_, old)| new[*old as usize] != *old)
            .count()
    }

    /// Clears the unneeded flags and rewrites the `r` indices in `out`.
    fn apply(&self, out: &mut [u8]) {
        for (slot, &at) in self.table.iter().enumerate() {
            if !self.referenced[slot] {
                out[at] &= !FLAG_REF;
            }
        }
        for &at in &self.inert {
            out[at] &= !FLAG_REF;
        }
        let new = self.renumbering();
        for &(at, old) in &self.refs {
            out[at..at + 4].copy_from_slice(&new[old as usize].to_le_bytes());
        }
    }
}

/// Work left in the iterative parse.
#[derive(Debug, Clone, Copy)]
enum Task {
    /// Parse this many objects, at this nesting depth.
    Objects(u32, u32),
    /// Skip this many bytes of fixed-size fields.
    Skip(usize),
    /// Parse a dict key (or the `NULL` that ends the dict), then its value.
    DictEntry(u32),
    /// A container or code object whose children are parsed: check them.
    Finish(Finish),
}

/// A container waiting for its children.
#[derive(Debug, Clone, Copy)]
struct Finish {
    /// Offset of its type byte.
    at: usize,
    /// Height of the value stack before its first child.
    base: usize,
    /// Its slot in the reference table, if flagged.
    slot: Option<usize>,
}

/// What the reader would have built, as far as the checks of `marshal` and
/// of the code-object constructor care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `bytes`, with its offset and length in the stream.
    Bytes { at: usize, len: usize },
    /// `str`.
    Str,
    /// A tuple: its length, whether it holds only `str`, whether hashable.
    Tuple {
        len: u32,
        strs: bool,
        hashable: bool,
    },
    /// A code object.
    Code,
    /// A list, dict or set (unhashable).
    Mutable,
    /// Anything else: numbers, `None`, frozensets... (hashable).
    Scalar,
    /// A slot reserved by a code object, frozenset or slice still being
    /// read: `CPython` refuses a reference to it ("invalid reference").
    Pending,
}

impl Kind {
    fn hashable(self) -> bool {
        match self {
            Kind::Tuple { hashable, .. } => hashable,
            Kind::Mutable => false,
            _ => true,
        }
    }
}

/// `CPython`'s `MAX_MARSHAL_STACK_DEPTH`: deeper streams are refused
/// ("recursion limit exceeded").
const MAX_DEPTH: u32 = 2000;

/// `co_flags` bits that add an argument slot.
const CO_VARARGS: i32 = 0x4;
const CO_VARKEYWORDS: i32 = 0x8;
/// `co_localspluskinds` bit of a plain local (arguments included).
const CO_FAST_LOCAL: u8 = 0x20;

/// A cursor over the stream with bounds-checked reads.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<usize, FormatError> {
        let at = self.pos;
        match at.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                self.pos = end;
                Ok(at)
            }
            _ => Err(FormatError::malformed(format!(
                "truncated marshal data: {what} at offset {at} needs {n} bytes"
            ))),
        }
    }

    fn byte(&mut self, what: &str) -> Result<u8, FormatError> {
        let at = self.take(1, what)?;
        Ok(self.data[at])
    }

    fn i32(&mut self, what: &str) -> Result<i32, FormatError> {
        let at = self.take(4, what)?;
        Ok(i32_le(self.data, at).expect("taken: inside the data"))
    }

    /// A 32-bit length that must not be negative.
    fn len(&mut self, what: &str) -> Result<usize, FormatError> {
        let at = self.pos;
        let n = self.i32(what)?;
        usize::try_from(n)
            .map_err(|_| FormatError::malformed(format!("negative {what} {n} at offset {at}")))
    }

    /// A count of objects, each of which takes at least one byte.
    fn count(&mut self, n: usize, what: &str) -> Result<u32, FormatError> {
        let left = self.data.len() - self.pos;
        if n > left {
            return Err(FormatError::malformed(format!(
                "{what} of {n} items at offset {} but only {left} bytes left",
                self.pos
            )));
        }
        Ok(n as u32) // n <= left, and the stream holds at most 2^32 objects
    }
}

/// Whether `b` is UTF-8 as `CPython` decodes marshal strings, with the
/// `surrogatepass` error handler (lone surrogates, `ED A0..BF xx`, pass).
fn utf8_surrogatepass(mut b: &[u8]) -> bool {
    loop {
        match std::str::from_utf8(b) {
            Ok(_) => return true,
            Err(e) => {
                let rest = &b[e.valid_up_to()..];
                if rest.len() >= 3
                    && rest[0] == 0xed
                    && (0xa0..=0xbf).contains(&rest[1])
                    && (0x80..=0xbf).contains(&rest[2])
                {
                    b = &rest[3..];
                } else {
                    return false;
                }
            }
        }
    }
}

/// Whether `text` is a float as `PyOS_string_to_double` reads it (`TYPE_FLOAT`
/// and `TYPE_COMPLEX`, marshal versions 0 and 1).
fn float_text(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok_and(|t| {
        !t.is_empty()
            && t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
            && t.parse::<f64>().is_ok()
    })
}

/// Parses the marshal object starting at `start` once, in linear time, and
/// records every `FLAG_REF` and `r`. Also checks what `marshal.loads` and
/// the code-object constructor check, so that a stream `CPython` refuses is
/// malformed here too; returns the top object's kind with the scan.
fn scan(data: &[u8], start: usize, v: Version) -> Result<(Scan, Kind), FormatError> {
    if data.len() - start > u32::MAX as usize {
        return Err(FormatError::TooLarge(
            "marshal streams over 4 GiB are not supported".into(),
        ));
    }
    let mut st = State {
        s: Scan::default(),
        kinds: Vec::new(),
        vals: Vec::new(),
        stack: vec![Task::Objects(1, 1)],
        v,
    };
    let mut c = Cursor { data, pos: start };
    while let Some(task) = st.stack.pop() {
        match task {
            Task::Skip(n) => {
                c.take(n, "code object field")?;
            }
            Task::Objects(n, depth) => {
                if n > 1 {
                    st.stack.push(Task::Objects(n - 1, depth));
                }
                st.object(&mut c, depth)?;
            }
            Task::DictEntry(depth) => {
                let at = c.pos;
                let code = *data.get(at).ok_or_else(|| {
                    FormatError::malformed(format!("truncated marshal data: dict at offset {at}"))
                })?;
                if code & !FLAG_REF == b'0' {
                    // The NULL that ends a dict.
                    c.pos += 1;
                    if code & FLAG_REF != 0 {
                        st.s.inert.push(at);
                    }
                    continue;
                }
                st.stack.push(Task::DictEntry(depth));
                st.stack.push(Task::Objects(1, depth));
                st.object(&mut c, depth)?;
            }
            Task::Finish(f) => st.finish(data, f)?,
        }
    }
    let top = st.vals.pop().expect("one object parsed");
    Ok((st.s, top))
}

/// The parse in progress.
struct State {
    s: Scan,
    /// The kind of the object in each slot of `s.table`.
    kinds: Vec<Kind>,
    /// Kinds of parsed objects whose container is not finished.
    vals: Vec<Kind>,
    stack: Vec<Task>,
    v: Version,
}

impl State {
    /// Parses one object's type byte and fixed-size payload; pushes its
    /// children. A scalar's kind goes to `vals` now, a container's when it
    /// is finished.
    #[allow(clippy::too_many_lines)] // one arm per type code
    fn object(&mut self, c: &mut Cursor, depth: u32) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::malformed(format!(
                "marshal data nested deeper than {MAX_DEPTH} objects (CPython refuses it)"
            )));
        }
        let at = c.pos;
        let tasks_before = self.stack.len();
        let code = c.byte("type code")?;
        let flagged = code & FLAG_REF != 0;
        // Objects that take a slot in the reader's table when flagged.
        let mut slot = true;
        // A container's kind before its children are read (what a reference
        // from inside it sees), `None` for a scalar with its kind in `done`.
        let mut open: Option<Kind> = None;
        let mut done = Kind::Scalar;
        let children = depth + 1;
        match code & !FLAG_REF {
            b'N' | b'F' | b'T' | b'S' | b'.' => slot = false,
            b'0' => {
                return Err(FormatError::malformed(format!(
                    "NULL object at offset {at} outside a dict"
                )));
            }
            b'i' => {
                c.take(4, "int")?;
            }
            b'I' => {
                c.take(8, "int64")?;
            }
            b'g' => {
                c.take(8, "binary float")?;
            }
            b'y' => {
                c.take(16, "binary complex")?;
            }
            b'f' | b'x' => {
                for _ in 0..if code & !FLAG_REF == b'x' { 2 } else { 1 } {
                    let n = c.byte("float length")?;
                    let p = c.take(usize::from(n), "float")?;
                    if !float_text(&c.data[p..p + usize::from(n)]) {
                        return Err(FormatError::malformed(format!(
                            "bad float text at offset {p}"
                        )));
                    }
                }
            }
            b'l' => {
                let n = c.i32("long size")?;
                let digits = n.unsigned_abs() as usize;
                let p = c.take(digits * 2, "long digits")?;
                let d = |i: usize| u16_le(c.data, p + 2 * i).expect("taken: inside the data");
                if (0..digits).any(|i| d(i) >= 0x8000) {
                    return Err(FormatError::malformed(format!(
                        "long at offset {at} has a digit out of range"
                    )));
                }
                if digits > 0 && d(digits - 1) == 0 {
                    return Err(FormatError::malformed(format!(
                        "long at offset {at} is not normalized"
                    )));
                }
            }
            b's' => {
                let n = c.len("string length")?;
                let p = c.take(n, "string")?;
                done = Kind::Bytes { at: p, len: n };
            }
            b't' | b'u' => {
                let n = c.len("string length")?;
                let p = c.take(n, "string")?;
                if !utf8_surrogatepass(&c.data[p..p + n]) {
                    return Err(FormatError::malformed(format!(
                        "string at offset {at} is not UTF-8"
                    )));
                }
                done = Kind::Str;
            }
            b'a' | b'A' => {
                let n = c.len("string length")?;
                c.take(n, "string")?;
                done = Kind::Str;
            }
            b'z' | b'Z' => {
                let n = c.byte("short string length")?;
                c.take(usize::from(n), "short string")?;
                done = Kind::Str;
            }
            t @ (b'(' | b')' | b'[' | b'<' | b'>') => {
                let n = if t == b')' {
                    usize::from(c.byte("small tuple size")?)
                } else {
                    c.len("container size")?
                };
                let n = c.count(n, "container")?;
                open = Some(match t {
                    b'(' | b')' => Kind::Tuple {
                        len: n,
                        strs: false,
                        hashable: true,
                    },
                    // A frozenset reserves its slot, unless empty.
                    b'>' if n > 0 => Kind::Pending,
                    b'>' => Kind::Scalar,
                    _ => Kind::Mutable,
                });
                if n > 0 {
                    self.stack.push(Task::Objects(n, children));
                }
            }
            b'{' => {
                open = Some(Kind::Mutable);
                self.stack.push(Task::DictEntry(children));
            }
            b'c' => {
                open = Some(Kind::Pending);
                let [(ints, objs), (ints2, objs2)] = self.v.layout.code.fields();
                c.take(ints, "code object field")?;
                self.stack.push(Task::Objects(objs2, children));
                self.stack.push(Task::Skip(ints2));
                self.stack.push(Task::Objects(objs, children));
            }
            b':' if self.v.layout.slices => {
                open = Some(Kind::Pending);
                self.stack.push(Task::Objects(3, children));
            }
            b'r' => {
                slot = false;
                let idx_at = c.pos;
                let n = c.i32("reference")?;
                let idx = usize::try_from(n)
                    .ok()
                    .filter(|&i| i < self.s.table.len())
                    .ok_or_else(|| {
                        FormatError::malformed(format!(
                            "reference {n} at offset {at} but only {} objects are flagged before it",
                            self.s.table.len()
                        ))
                    })?;
                done = self.kinds[idx];
                if done == Kind::Pending {
                    return Err(FormatError::malformed(format!(
                        "reference {n} at offset {at} to a code object, frozenset or slice \
                         still being read (CPython: invalid reference)"
                    )));
                }
                self.s.referenced[idx] = true;
                self.s.refs.push((idx_at, idx as u32));
            }
            other => {
                return Err(FormatError::malformed(format!(
                    "unknown marshal type code {other:#04x} at offset {at} for CPython {}",
                    self.v.name()
                )));
            }
        }
        let mut my_slot = None;
        if flagged {
            if slot {
                my_slot = Some(self.s.table.len());
                self.s.table.push(at);
                self.s.referenced.push(false);
                self.kinds.push(open.unwrap_or(done));
            } else {
                self.s.inert.push(at);
            }
        }
        if open.is_some() {
            // Below the children just pushed: runs once they are parsed.
            let f = Task::Finish(Finish {
                at,
                base: self.vals.len(),
                slot: my_slot,
            });
            self.stack.insert(tasks_before, f);
        } else {
            self.vals.push(done);
        }
        Ok(())
    }

    /// Checks a container's children and pushes its kind.
    fn finish(&mut self, data: &[u8], f: Finish) -> Result<(), FormatError> {
        let children = self.vals.split_off(f.base);
        let code = data[f.at] & !FLAG_REF;
        let unhashable = |what: &str| {
            FormatError::malformed(format!(
                "{what} at offset {} holds an unhashable object (CPython: TypeError)",
                f.at
            ))
        };
        let kind = match code {
            b'(' | b')' => Kind::Tuple {
                len: children.len() as u32,
                strs: children.iter().all(|k| *k == Kind::Str),
                hashable: children.iter().all(|k| k.hashable()),
            },
            b'[' => Kind::Mutable,
            b'<' | b'>' => {
                if !children.iter().all(|k| k.hashable()) {
                    return Err(unhashable("set"));
                }
                if code == b'<' {
                    Kind::Mutable
                } else {
                    Kind::Scalar
                }
            }
            b'{' => {
                if !children.iter().step_by(2).all(|k| k.hashable()) {
                    return Err(unhashable("dict key"));
                }
                Kind::Mutable
            }
            b'c' => {
                check_code(data, f.at, self.v.layout.code, &children)?;
                Kind::Code
            }
            _ => Kind::Scalar, // b':', a slice
        };
        if let Some(slot) = f.slot {
            self.kinds[slot] = kind;
        }
        self.vals.push(kind);
        Ok(())
    }
}

/// What the code-object constructor (`PyCode_New` up to 3.10,
/// `_PyCode_Validate` from 3.11) refuses: negative counts, fields of the
/// wrong type ("bad argument to internal function"), names that are not
/// strings ("non-string found in code slot"), odd bytecode, fewer variable
/// names than arguments ("varnames is too small").
fn check_code(data: &[u8], at: usize, layout: CodeLayout, f: &[Kind]) -> Result<(), FormatError> {
    let int = |i: usize| i32_le(data, at + 1 + 4 * i).expect("4 bytes");
    let bad = |why: &str| {
        FormatError::malformed(format!(
            "code object at offset {at}: {why} (CPython refuses it)"
        ))
    };
    let (argcount, posonly, kwonly, flags) = match layout {
        CodeLayout::Py36 => (int(0), 0, int(1), int(4)),
        CodeLayout::Py38 => (int(0), int(1), int(2), int(5)),
        CodeLayout::Py311 => (int(0), int(1), int(2), int(4)),
    };
    let nlocals = match layout {
        CodeLayout::Py36 => int(2),
        CodeLayout::Py38 => int(3),
        CodeLayout::Py311 => 0,
    };
    if argcount < 0 || posonly < 0 || kwonly < 0 || nlocals < 0 || posonly > argcount {
        return Err(bad("negative or inconsistent argument counts"));
    }
    let bytes = |k: Kind| matches!(k, Kind::Bytes { .. });
    let tuple = |k: Kind| matches!(k, Kind::Tuple { .. });
    let strs = |k: Kind| matches!(k, Kind::Tuple { strs: true, .. });
    let text = |k: Kind| k == Kind::Str;
    let ok = match layout {
        CodeLayout::Py36 | CodeLayout::Py38 => {
            bytes(f[0])
                && tuple(f[1])
                && strs(f[2])
                && strs(f[3])
                && strs(f[4])
                && strs(f[5])
                && text(f[6])
                && text(f[7])
                && bytes(f[8])
        }
        CodeLayout::Py311 => {
            bytes(f[0])
                && tuple(f[1])
                && strs(f[2])
                && strs(f[3])
                && bytes(f[4])
                && text(f[5])
                && text(f[6])
                && text(f[7])
                && bytes(f[8])
                && bytes(f[9])
        }
    };
    if !ok {
        return Err(bad("a field of the wrong type"));
    }
    if matches!(f[0], Kind::Bytes { len, .. } if len % 2 != 0) {
        return Err(bad("bytecode of odd length"));
    }
    let total_args = i64::from(argcount)
        + i64::from(kwonly)
        + i64::from(flags & CO_VARARGS != 0)
        + i64::from(flags & CO_VARKEYWORDS != 0);
    let names = match (layout, f[3], f[4]) {
        (CodeLayout::Py311, Kind::Tuple { len: n, .. }, Kind::Bytes { at: k, len }) => {
            if n as usize != len {
                return Err(bad(
                    "co_localsplusnames and co_localspluskinds differ in length",
                ));
            }
            i64::try_from(
                data[k..k + len]
                    .iter()
                    .filter(|&&b| b & CO_FAST_LOCAL != 0)
                    .count(),
            )
            .expect("a stream under 4 GiB")
        }
        (_, Kind::Tuple { len, .. }, _) => i64::from(len),
        _ => unreachable!("types checked above"),
    };
    if total_args > names {
        return Err(bad("varnames is too small"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const EPOCH: u64 = 315_532_800;

    fn header(magic: u16, flags: u32, mtime: u32, size: u32) -> Vec<u8> {
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(b"\r\n");
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&mtime.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h
    }

    fn run(input: &[u8], companion: Option<i64>) -> Result<Outcome, FormatError> {
        let config = Config::with_epoch(EPOCH);
        let mut ctx = config.context(Path::new("m.cpython-311.pyc"));
        ctx.companion_mtime = companion;
        normalize(input, &ctx, false)
    }

    fn out(input: &[u8], companion: Option<i64>) -> Vec<u8> {
        run(input, companion).unwrap().bytes(input).to_vec()
    }

    /// A short ASCII string object.
    fn z(s: &str, flag: bool) -> Vec<u8> {
        let mut v = vec![b'z' | if flag { FLAG_REF } else { 0 }, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn r(i: u32) -> Vec<u8> {
        let mut v = vec![b'r'];
        v.extend_from_slice(&i.to_le_bytes());
        v
    }

    fn tuple(items: &[Vec<u8>], flag: bool) -> Vec<u8> {
        let mut v = vec![b')' | if flag { FLAG_REF } else { 0 }, items.len() as u8];
        for i in items {
            v.extend_from_slice(i);
        }
        v
    }

    /// A 12-byte header (3.6, 3.7a1-a2).
    fn short_header(magic: u16, mtime: u32, size: u32) -> Vec<u8> {
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(b"\r\n");
        h.extend_from_slice(&mtime.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h
    }

    #[test]
    fn final_and_checkable_prerelease_magics_are_claimed() {
        let config = Config::default();
        let ctx = config.context(Path::new("x"));
        for (magic, name) in [
            (3379, "3.6"),
            (3394, "3.7"),
            (3413, "3.8"),
            (3425, "3.9"),
            (3439, "3.10"),
            (3495, "3.11"),
            (3531, "3.12"),
            (3571, "3.13"),
            (3627, "3.14"),
            (3360, "3.6 pre-release (magic 3360)"),
            (3372, "3.6 pre-release (magic 3372)"),
            (3390, "3.7 pre-release (magic 3390)"),
            (3393, "3.7 pre-release (magic 3393)"),
            (3401, "3.8 pre-release (magic 3401)"),
            (3430, "3.10 pre-release (magic 3430)"),
            (3494, "3.11 pre-release (magic 3494)"),
            (3509, "3.12 pre-release (magic 3509)"),
            (3550, "3.13 pre-release (magic 3550)"),
            (3608, "3.14 pre-release (magic 3608)"),
        ] {
            let v = version(&header(magic, 0, 0, 0)).unwrap();
            assert_eq!(v.name(), name);
            let mut h = if v.layout.header_len == 12 {
                short_header(magic, 0, 0)
            } else {
                header(magic, 0, 0, 0)
            };
            h.push(b'c' | FLAG_REF);
            assert!(Pyc.sniff(&h, &ctx), "{name}");
        }
        // Header lengths and layouts at the documented boundaries.
        let at = |m: u16| version(&header(m, 0, 0, 0)).unwrap().layout;
        assert_eq!(at(3391).header_len, 12);
        assert_eq!(at(3392).header_len, 16);
        assert_eq!(at(3401).code, CodeLayout::Py36);
        assert_eq!(at(3413).code, CodeLayout::Py38);
        assert_eq!(at(3439).code, CodeLayout::Py38);
        assert_eq!(at(3494).code, CodeLayout::Py311);
        assert!(!at(3607).slices);
        assert!(at(3608).slices);
        // Unused, unverified, older and later magics are not supported.
        for magic in [
            3351u16, 3374, 3380, 3395, 3410, 3412, 3450, 3493, 3532, 3628, 3650,
        ] {
            assert!(version(&header(magic, 0, 0, 0)).is_none(), "{magic}");
        }
        // The version bytes must be followed by \r\n.
        assert!(!Pyc.sniff(&[0x6f, 0x0d, 0x0d, 0x0b], &ctx));
    }

    #[test]
    fn unknown_magics_are_claimed_only_when_they_look_like_a_pyc_and_are_unsupported() {
        let config = Config::default();
        let ctx = config.context(Path::new("data.bin"));
        let with = |mut h: Vec<u8>, code: u8| {
            h.push(code);
            h.extend_from_slice(&[0; 20]);
            h
        };
        // 3.11a1 and 3.15 (16-byte headers), 3.5 (12 bytes), Python 2.7 (8 bytes).
        let mut py27 = vec![0x03, 0xf3, b'\r', b'\n', 1, 2, 3, 4];
        py27.push(b'c');
        let shaped = [
            (
                with(header(3450, 0, 9, 9), 0xe3),
                "3450 (CPython 3.11 alpha",
            ),
            (
                with(header(3650, 1, 9, 9), 0xe3),
                "3650 (a CPython release after 3.14",
            ),
            (
                with(short_header(3351, 9, 9), b'c'),
                "3351 (CPython 3.0 to 3.5",
            ),
            (with(header(3410, 0, 9, 9), 0xe3), "3410 (CPython 3.8 beta"),
            (
                with(header(3399, 0, 9, 9), 0xe3),
                "3399 (no CPython release uses it",
            ),
            (with(py27, 0), "62211 (Python 1 or 2"),
        ];
        for (input, why) in &shaped {
            assert!(Pyc.sniff(input, &ctx), "{why}");
            match Pyc.normalize(input, &ctx) {
                Err(FormatError::Unsupported(m)) => {
                    assert!(m.starts_with(&format!("pyc magic number {why}")), "{m}");
                }
                other => panic!("{why}: {other:?}"),
            }
        }
        // Not a pyc: no code object after the header, text where the flags
        // would be, the right bytes at the wrong offset.
        let not = [
            with(header(3450, 0, 9, 9), b'N'),
            b"ab\r\nflagsmtimesizec...".to_vec(),
            b"##\r\n#\r\n#\r\n#\r\n#\r\nc".to_vec(),
            with(short_header(0x6261, 9, 9), b'c'),
            // A known magic whose flags word is text, or a 12-byte header
            // without a code object.
            with(b"o\r\r\nabcdefghijkl".to_vec(), b'c'),
            with(short_header(3379, 9, 9), b')'),
        ];
        for input in &not {
            assert!(
                !Pyc.sniff(input, &ctx),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // A file named `.pyc` needs the \r\n only; it is reported, not parsed.
        let named = config.context(Path::new("a/__pycache__/m.cpython-35.pyc"));
        let short = 3351u16
            .to_le_bytes()
            .iter()
            .copied()
            .chain(*b"\r\n")
            .collect::<Vec<u8>>();
        assert!(Pyc.sniff(&short, &named));
        assert!(matches!(
            Pyc.normalize(&short, &named),
            Err(FormatError::Unsupported(_))
        ));
        assert!(!Pyc.sniff(b"not a pyc", &named));
    }

    #[test]
    fn short_headers_record_the_mtime_at_offset_4() {
        let mut input = short_header(3379, 1_700_000_000, 3);
        input.extend(tuple(&[z("a", true)], false));
        let got = run(&input, Some(1_000)).unwrap();
        let Outcome::Rewritten { bytes, changes } = got else {
            panic!("expected a rewrite")
        };
        let mut want = short_header(3379, 1_000, 3);
        want.extend(tuple(&[z("a", false)], false));
        assert_eq!(bytes, want);
        assert_eq!(
            changes,
            vec![
                "source mtime 1700000000 -> 1000",
                "marshal: FLAG_REF cleared on 1 unreferenced objects"
            ]
        );
        // No flags word: what would be flags in a 16-byte header is the mtime.
        assert_eq!(run(&bytes, Some(1_000)).unwrap(), Outcome::Unchanged);
        assert!(matches!(
            run(&input[..11], None),
            Err(FormatError::Malformed(m)) if m.contains("of 12 bytes")
        ));
    }

    #[test]
    fn unreferenced_flags_are_cleared_and_references_renumbered() {
        // ("a"*, "b", "c"*, r(1)) where "a" is flagged but never referenced,
        // so "c" (slot 1) becomes slot 0.
        let mut input = header(3495, 0, 100, 7);
        input.extend(tuple(
            &[z("a", true), z("b", false), z("c", true), r(1)],
            false,
        ));
        let got = run(&input, Some(100)).unwrap();
        let Outcome::Rewritten { bytes, changes } = got else {
            panic!("expected a rewrite")
        };
        let mut want = header(3495, 0, 100, 7);
        want.extend(tuple(
            &[z("a", false), z("b", false), z("c", true), r(0)],
            false,
        ));
        assert_eq!(bytes, want);
        assert_eq!(
            changes,
            vec!["marshal: FLAG_REF cleared on 1 unreferenced objects, 1 references renumbered"]
        );
        assert_eq!(run(&bytes, Some(100)).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn flag_differences_alone_converge() {
        let build = |fa: bool, fb: bool, ft: bool| {
            let mut v = header(3531, 0, 5, 1);
            v.extend(tuple(
                &[z("a", fa), z("b", fb), tuple(&[], ft), r(u32::from(fa))],
                false,
            ));
            v
        };
        // "b" is referenced in both; whether "a" and the empty tuple carry
        // FLAG_REF is refcount noise.
        let one = build(true, true, false);
        let two = build(false, true, true);
        assert_ne!(one, two);
        assert_eq!(out(&one, Some(5)), out(&two, Some(5)));
    }

    #[test]
    fn flags_the_reader_ignores_are_cleared_too() {
        let mut input = header(3439, 0, 5, 1);
        input.extend([b'(' | FLAG_REF, 2, 0, 0, 0, b'N' | FLAG_REF, b'T']);
        let got = out(&input, Some(5));
        assert_eq!(&got[16..], &[b'(', 2, 0, 0, 0, b'N', b'T']);
    }

    #[test]
    fn slots_are_reserved_before_children() {
        // A flagged tuple holding a flagged string: the tuple is slot 0, the
        // string slot 1, and the references keep pointing at the right ones.
        let mut input = header(3495, 0, 5, 1);
        let inner = tuple(&[z("s", true)], true);
        input.extend(tuple(&[inner, r(1), r(0)], false));
        assert_eq!(run(&input, Some(5)).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn source_mtime_follows_the_companion_then_final_mtime_then_the_clamp() {
        let mut input = header(3495, 0, 1_700_000_000, 3);
        input.push(b'N');
        // The source will have this mtime.
        let got = out(&input, Some(1_000));
        assert_eq!(u32_le(&got, 8).unwrap(), 1_000);
        // No source: the recorded value, clamped.
        let got = out(&input, None);
        assert_eq!(u64::from(u32_le(&got, 8).unwrap()), EPOCH);
        let mut early = header(3495, 0, 7, 3);
        early.push(b'N');
        assert_eq!(run(&early, None).unwrap(), Outcome::Unchanged);
        // --final-mtime wins over the clamp.
        let mut config = Config::with_epoch(EPOCH);
        config.settings.final_mtime = Some(1);
        let ctx = config.context(Path::new("x.pyc"));
        let got = normalize(&input, &ctx, false).unwrap();
        assert_eq!(u32_le(got.bytes(&input), 8).unwrap(), 1);
        // The size field is never touched.
        assert_eq!(u32_le(got.bytes(&input), 12).unwrap(), 3);
        // mod 2^32, as CPython compares it.
        let got = out(&input, Some((1i64 << 32) + 9));
        assert_eq!(u32_le(&got, 8).unwrap(), 9);
    }

    #[test]
    fn hash_based_headers_are_kept() {
        for flags in [1u32, 3] {
            let mut input = header(3495, flags, 0xdead_beef, 0x1234_5678);
            input.push(b'N');
            assert_eq!(run(&input, Some(1)).unwrap(), Outcome::Unchanged);
        }
    }

    /// A code object of `layout` with one positional argument `a`, whose
    /// filename is flagged, whose name is a reference to it, and whose last
    /// fields are flagged but unreferenced.
    fn code(layout: CodeLayout) -> Vec<u8> {
        let bytes = |b: &[u8], flag: bool| {
            let mut v = vec![b's' | if flag { FLAG_REF } else { 0 }];
            v.extend((b.len() as u32).to_le_bytes());
            v.extend_from_slice(b);
            v
        };
        let mut v = vec![b'c'];
        let [(ints, _), (ints2, objs2)] = layout.fields();
        let mut fields = vec![0u8; ints];
        fields[0] = 1; // argcount
        v.extend(fields);
        v.extend(bytes(b"d\x00S\x00", false)); // co_code
        v.extend(tuple(&[vec![b'N']], false)); // co_consts
        v.extend(tuple(&[], false)); // co_names
        #[allow(clippy::single_match_else)] // the two layouts side by side
        match layout {
            CodeLayout::Py311 => {
                v.extend(tuple(&[z("a", false)], false)); // co_localsplusnames
                v.extend(bytes(&[CO_FAST_LOCAL], false)); // co_localspluskinds
                v.extend(z("f.py", true)); // co_filename
                v.extend(r(0)); // co_name
                v.extend(z("f", false)); // co_qualname
            }
            _ => {
                v.extend(tuple(&[z("a", false)], false)); // co_varnames
                v.extend(tuple(&[], false)); // co_freevars
                v.extend(tuple(&[], false)); // co_cellvars
                v.extend(z("f.py", true)); // co_filename
                v.extend(r(0)); // co_name
            }
        }
        v.extend(std::iter::repeat_n(0u8, ints2));
        for _ in 0..objs2 {
            v.extend(bytes(b"t", true));
        }
        v
    }

    #[test]
    fn code_objects_of_both_layouts_are_walked() {
        for (magic, layout) in [
            (3379u16, CodeLayout::Py36),
            (3394, CodeLayout::Py36),
            (3413, CodeLayout::Py38),
            (3627, CodeLayout::Py311),
        ] {
            let mut input = if magic == 3379 {
                short_header(magic, 5, 1)
            } else {
                header(magic, 0, 5, 1)
            };
            let len = input.len();
            input.extend(code(layout));
            let config = Config::with_epoch(EPOCH);
            let mut ctx = config.context(Path::new("m.pyc"));
            ctx.companion_mtime = Some(5);
            let got = Pyc.normalize(&input, &ctx).unwrap().bytes(&input).to_vec();
            let flagged: Vec<u8> = got[len..]
                .iter()
                .filter(|&&b| b & FLAG_REF != 0)
                .copied()
                .collect();
            assert_eq!(
                flagged,
                vec![b'z' | FLAG_REF],
                "{magic}: only the filename keeps its flag"
            );
            assert_eq!(run(&got, Some(5)).unwrap(), Outcome::Unchanged);
            // Trailing bytes after the object are kept.
            let mut trailing = got.clone();
            trailing.extend_from_slice(b"junk");
            assert_eq!(run(&trailing, Some(5)).unwrap(), Outcome::Unchanged);
        }
        // The layouts differ: a 3.8 code object read as 3.11 is misparsed
        // (its sixth integer is taken for a type code).
        let mut wrong = header(3495, 0, 5, 1);
        wrong.extend(code(CodeLayout::Py38));
        assert!(matches!(
            run(&wrong, Some(5)),
            Err(FormatError::Malformed(_))
        ));
        let mut right = header(3413, 0, 5, 1);
        right.extend(code(CodeLayout::Py38));
        assert!(matches!(
            run(&right, Some(5)),
            Ok(Outcome::Rewritten { .. })
        ));
    }

    #[test]
    fn every_scalar_and_container_type_parses() {
        let mut body = vec![b'[' | FLAG_REF];
        let items: Vec<Vec<u8>> = vec![
            vec![b'N'],
            vec![b'F'],
            vec![b'T'],
            vec![b'S'],
            vec![b'.'],
            vec![b'i', 1, 0, 0, 0],
            vec![b'I', 1, 0, 0, 0, 0, 0, 0, 0],
            vec![b'l', 0xfe, 0xff, 0xff, 0xff, 1, 0, 2, 0], // -2 digits
            vec![b'f', 3, b'1', b'.', b'5'],
            vec![b'g', 0, 0, 0, 0, 0, 0, 0xf8, 0x3f],
            vec![b'x', 1, b'1', 1, b'2'],
            [vec![b'y'], vec![0; 16]].concat(),
            vec![b's', 2, 0, 0, 0, b'h', b'i'],
            vec![b't', 1, 0, 0, 0, b'a'],
            vec![b'u', 2, 0, 0, 0, 0xc3, 0xa9],
            vec![b'a', 1, 0, 0, 0, b'a'],
            vec![b'A', 1, 0, 0, 0, b'a'],
            vec![b'z', 1, b'a'],
            vec![b'Z', 1, b'a'],
            vec![b'(', 1, 0, 0, 0, b'N'],
            vec![b')', 0],
            vec![b'<', 1, 0, 0, 0, b'i', 0, 0, 0, 0],
            vec![b'>', 0, 0, 0, 0],
            vec![b'{', b'z', 1, b'k', b'N', b'0'],
            r(0),
        ];
        body.extend((items.len() as u32).to_le_bytes());
        for i in &items {
            body.extend(i);
        }
        let mut input = header(3571, 0, 5, 1);
        input.extend(&body);
        assert_eq!(run(&input, Some(5)).unwrap(), Outcome::Unchanged);
        // A slice is a 3.14 type only.
        let mut slice = header(3627, 0, 5, 1);
        slice.extend([b':', b'N', b'i', 1, 0, 0, 0, b'N']);
        assert_eq!(run(&slice, Some(5)).unwrap(), Outcome::Unchanged);
        let mut old = header(3571, 0, 5, 1);
        old.extend([b':', b'N', b'N', b'N']);
        assert!(matches!(run(&old, Some(5)), Err(FormatError::Malformed(_))));
    }

    #[test]
    fn hostile_streams_are_malformed() {
        let cases: Vec<Vec<u8>> = vec![
            header(3495, 4, 0, 0),                        // unknown flag bits
            header(3495, 0, 0, 0)[..12].to_vec(),         // truncated header
            header(3495, 0, 0, 0),                        // no object
            [header(3495, 0, 0, 0), vec![b'?']].concat(), // unknown type
            [header(3495, 0, 0, 0), vec![b'0']].concat(), // NULL
            [header(3495, 0, 0, 0), r(0)].concat(),       // dangling reference
            [header(3495, 0, 0, 0), vec![b's', 0xff, 0xff, 0xff, 0xff]].concat(), // negative
            [header(3495, 0, 0, 0), vec![b'(', 0xff, 0xff, 0xff, 0x7f]].concat(), // huge count
            [header(3495, 0, 0, 0), vec![b'l', 0, 0, 0, 0x80]].concat(), // i32::MIN digits
            [header(3495, 0, 0, 0), vec![b'{', b'N']].concat(), // unterminated dict
            [header(3495, 0, 0, 0), vec![b'c', 0, 0]].concat(), // truncated code
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(
                matches!(run(c, None), Err(FormatError::Malformed(_))),
                "case {i}: {:?}",
                run(c, None)
            );
        }
    }

    /// Streams `CPython` refuses to load (each reason found by the mutation
    /// campaign of `tests/it/pyc.rs`, checked by hand with 3.11's `marshal`)
    /// are malformed, not rewritten.
    #[test]
    fn what_cpython_refuses_to_load_is_malformed() {
        let ok = [header(3495, 0, 0, 0), code(CodeLayout::Py311)].concat();
        let config = Config::with_epoch(EPOCH);
        let ctx = config.context(Path::new("m.pyc"));
        assert!(matches!(
            Pyc.normalize(&ok, &ctx),
            Ok(Outcome::Rewritten { .. })
        ));
        let find = |needle: &[u8]| {
            ok.windows(needle.len())
                .position(|w| w == needle)
                .expect("in the stream")
        };
        let edit = |at: usize, new: &[u8]| {
            let mut m = ok.clone();
            m.splice(at..at + new.len(), new.iter().copied());
            m
        };
        let varnames = find(&tuple(&[z("a", false)], false));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            // importlib: "Non-code object".
            (
                "not a code object",
                [header(3495, 0, 0, 0), vec![b'N']].concat(),
            ),
            // "bad argument to internal function": co_code a str.
            ("wrong type", edit(16 + 1 + 20, b"t")),
            // "non-string found in code slot": a name that is bytes.
            ("wrong type", {
                let mut m = ok.clone();
                m.splice(varnames + 2..varnames + 4, *b"s\x01\x00\x00\x00");
                m
            }),
            // "code: co_varnames is too small": argcount 2, one local.
            ("varnames is too small", edit(16 + 1, &[2])),
            // posonlyargcount above argcount.
            ("argument counts", edit(16 + 1 + 4, &[2])),
            // bytecode of odd length (co_code 3 bytes, the 4th read as a type).
            ("odd length", {
                let mut m = edit(16 + 1 + 21, &[3]);
                m.remove(16 + 1 + 25 + 3);
                m
            }),
        ];
        for (why, m) in &cases {
            match Pyc.normalize(m, &ctx) {
                Err(FormatError::Malformed(msg)) => assert!(msg.contains(why), "{why}: {msg}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        let stream = |body: &[u8]| [header(3495, 0, 0, 0), body.to_vec()].concat();
        let marshal_cases: Vec<(&str, Vec<u8>)> = vec![
            // "bad marshal data (invalid reference)": a code object's slot
            // is reserved until it is built.
            ("still being read", {
                let mut m = ok.clone();
                m[16] |= FLAG_REF;
                let name = find(&r(0));
                m.splice(name..name + 5, r(0));
                m
            }),
            ("not UTF-8", stream(b"u\x01\x00\x00\x00\xff")),
            ("digit out of range", stream(b"l\x01\x00\x00\x00\x00\x80")),
            ("not normalized", stream(b"l\x01\x00\x00\x00\x00\x00")),
            ("unhashable", stream(b"<\x01\x00\x00\x00[\x00\x00\x00\x00")),
            ("unhashable", stream(b"{[\x00\x00\x00\x00N0")),
            ("bad float", stream(b"f\x03abc")),
        ];
        for (why, m) in &marshal_cases {
            match run(m, None) {
                Err(FormatError::Malformed(msg)) => assert!(msg.contains(why), "{why}: {msg}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // Lone surrogates pass, as CPython's surrogatepass decoder lets them.
        assert!(run(&stream(b"u\x03\x00\x00\x00\xed\xa0\x80"), None).is_ok());
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let nest = |depth: usize| {
            let mut input = header(3495, 0, 5, 1);
            input.extend(std::iter::repeat_n([b')' | FLAG_REF, 1], depth).flatten());
            input.push(b'N');
            input
        };
        let got = out(&nest(MAX_DEPTH as usize - 1), Some(5));
        assert!(got[16..].iter().all(|&b| b & FLAG_REF == 0));
        // CPython refuses deeper streams ("recursion limit exceeded"); so
        // does the walk, without recursing either.
        for depth in [MAX_DEPTH as usize, 1_000_000] {
            assert!(matches!(
                run(&nest(depth), Some(5)),
                Err(FormatError::Malformed(_))
            ));
        }
    }

    #[test]
    fn companions_follow_importlib_naming() {
        let cases = [
            ("/a/__pycache__/m.cpython-311.pyc", Some("/a/m.py")),
            ("/a/__pycache__/m.cpython-311.opt-1.pyc", Some("/a/m.py")),
            ("/a/__pycache__/m.cpython-311.opt-2.pyc", Some("/a/m.py")),
            ("__pycache__/m.cpython-38.pyc", Some("m.py")),
            ("/a/m.pyc", Some("/a/m.py")),
            ("m.pyc", Some("m.py")),
            ("/a/__pycache__/m.pyc", None),
            ("/a/__pycache__/m.cpython-311.x.pyc", None),
            ("/a/__pycache__/m.a.b.c.pyc", None),
            ("/a/m.py", None),
        ];
        for (pyc, want) in cases {
            assert_eq!(source_of(Path::new(pyc)), want.map(PathBuf::from), "{pyc}");
        }
    }
}
