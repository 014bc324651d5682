//! PE images (`.exe`, `.dll`, `.sys`, ...: PE32 and PE32+), as specified by
//! Microsoft's "PE Format" document, recognized by `MZ` at offset 0 and
//! `PE\0\0` at the offset `e_lfanew` (0x3c) gives, within the sniffed head.
//!
//! The image is parsed with goblin; an image goblin cannot parse is a format
//! error and is left untouched. The fields below are then located again on the
//! raw bytes, every offset checked against the file's length and against
//! goblin's reading of the headers, and only those fields are patched. The
//! file's length never changes.
//!
//! Normalized:
//!
//! * `TimeDateStamp` of the COFF file header, of the export directory, of every
//!   resource directory table (the whole tree is walked; each table is visited
//!   once, so a cyclic tree cannot loop) and of every debug-directory entry:
//!   clamped to the epoch, like every timestamp strip-nd writes. Not zeroed:
//!   GNU ld's reproducible mode writes `SOURCE_DATE_EPOCH` there (ld 2.40 does,
//!   and Nix's stdenv sets it), so a clamped image is what a reproducible
//!   link would have written, and images from `--no-insert-timestamp` (0) or
//!   windres (0 in resource tables) keep their 0 since earlier values stay.
//! * The `CodeView` `RSDS` record of each debug entry of type 2
//!   (`IMAGE_DEBUG_TYPE_CODEVIEW`): its GUID becomes the first 16 bytes of a
//!   SHA-256 of the image in which the GUIDs, ages, the timestamps above and the
//!   checksum read as zeros, so it follows the image's content and nothing
//!   else; its age becomes 1. The PDB path is kept. A matching PDB is not
//!   rewritten (out of scope): a debugger will no longer pair the image with
//!   the PDB its build wrote.
//! * The optional header's `CheckSum`, when it was non-zero, is recomputed
//!   last, with the documented algorithm: the 16-bit little-endian words of the
//!   file, the checksum field read as zero, summed with the carries folded back
//!   in, plus the file length. A zero checksum (not computed) stays zero. A
//!   non-zero checksum that does not match the input's bytes is not
//!   recomputed: the image is reported malformed and left untouched, since a
//!   fresh checksum would hide the damage it records.
//!
//! Left alone on purpose, byte for byte: the DOS header and stub, the Rich
//! header, every other header field, section contents (code, data, import and
//! export tables, resource data, `.NET` metadata with its MVID), the
//! `TimeDateStamp` of import, delay-import and load-config structures (0 unless
//! the image was bound, and binding is a deliberate act), the `CodeView` `NB10`
//! format and the contents of other debug records (`REPRO` hashes, POGO...),
//! and any overlay after the last section.
//!
//! Refused, and left untouched:
//!
//! * signed images (data directory 4, the certificate table, is not empty):
//!   any change would break the Authenticode signature, so they are reported
//!   as [`FormatError::Unsupported`];
//! * images goblin cannot parse, and images whose fields point outside the
//!   file or outside every section's file data, or whose section data is not
//!   aligned as the loader reads it, as [`FormatError::Malformed`];
//! * images in which the patched fields overlap each other or the structures
//!   that locate them (only a hostile file does that): patching would move
//!   them, so normalizing would not be idempotent; [`FormatError::Malformed`].
//!
//! Not handled, since linkers do not produce them: export, resource or debug
//! data placed in the headers rather than in a section (reported as malformed
//! and left untouched), and images whose `PE\0\0` signature lies beyond the
//! first 4096 bytes (not claimed).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::bytes::{u16_le, u32_le};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};
use crate::handlers::coff::stamp;

/// The PE image handler.
pub struct Pe;

const DOS_HEADER: usize = 64;
const E_LFANEW: usize = 0x3c;
const PE_SIGNATURE: &[u8; 4] = b"PE\0\0";
const COFF_HEADER: usize = 20;
const SECTION_HEADER: usize = 40;
const PE32: u16 = 0x10b;
const PE32_PLUS: u16 = 0x20b;
/// Offset of `CheckSum` in the optional header (the same in PE32 and PE32+).
const CHECKSUM: usize = 64;
const MAX_DIRECTORIES: usize = 16;
const EXPORT_DIRECTORY: usize = 0;
const RESOURCE_DIRECTORY: usize = 2;
const CERTIFICATE_TABLE: usize = 4;
const DEBUG_DIRECTORY: usize = 6;
const EXPORT_DIRECTORY_SIZE: usize = 40;
const RESOURCE_TABLE: usize = 16;
const RESOURCE_ENTRY: usize = 8;
/// Entries read in one resource tree, at most: real trees hold thousands; a
/// hostile one of overlapping tables could otherwise cost the square of its size.
const MAX_RESOURCE_ENTRIES: usize = 1 << 20;
const DEBUG_ENTRY: usize = 28;
const CODEVIEW: u32 = 2;
const RSDS: &[u8; 4] = b"RSDS";
/// `RSDS`, GUID, age: the fixed part of a `CodeView` 7.0 record.
const RSDS_FIXED: usize = 24;
/// Domain separation for the derived GUID, so it is not any other hash of the image.
const GUID_DOMAIN: &[u8] = b"strip-nd: PE CodeView GUID, v1\0";

/// What a patched field is, for the notes and for equality between passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The COFF file header's `TimeDateStamp`.
    CoffStamp,
    /// The export directory's `TimeDateStamp`.
    ExportStamp,
    /// The `TimeDateStamp` of the resource directory table at this offset in
    /// the resource tree.
    ResourceStamp(u32),
    /// The `TimeDateStamp` of debug-directory entry `n` (from 1) of this type.
    DebugStamp(usize, u32),
    /// The GUID of a `CodeView` `RSDS` record.
    Guid,
    /// The age of a `CodeView` `RSDS` record.
    Age,
    /// The optional header's `CheckSum`.
    CheckSum,
}

impl Field {
    /// The field's width in bytes.
    pub fn width(self) -> usize {
        match self {
            Field::Guid => 16,
            _ => 4,
        }
    }

    fn is_stamp(self) -> bool {
        !matches!(self, Field::Guid | Field::Age | Field::CheckSum)
    }

    fn describe(self) -> String {
        match self {
            Field::CoffStamp => "COFF header: TimeDateStamp".into(),
            Field::ExportStamp => "export directory: TimeDateStamp".into(),
            Field::ResourceStamp(at) => {
                format!("resource directory table at +{at:#x}: TimeDateStamp")
            }
            Field::DebugStamp(n, ty) => {
                format!(
                    "debug directory entry {n} ({}): TimeDateStamp",
                    debug_type(ty)
                )
            }
            Field::Guid => "CodeView RSDS record: GUID".into(),
            Field::Age => "CodeView RSDS record: age".into(),
            Field::CheckSum => "optional header: CheckSum".into(),
        }
    }
}

fn debug_type(ty: u32) -> String {
    match ty {
        1 => "COFF".into(),
        2 => "CodeView".into(),
        12 => "VC feature".into(),
        13 => "POGO".into(),
        16 => "repro".into(),
        20 => "extended DLL characteristics".into(),
        _ => format!("type {ty}"),
    }
}

/// A field at a file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// File offset of the field's first byte.
    pub at: usize,
    /// What the field is.
    pub field: Field,
}

fn malformed(msg: impl Into<String>) -> FormatError {
    FormatError::malformed(msg)
}

/// A section header's placement fields.
#[derive(Debug, Clone, Copy)]
struct Section {
    virtual_size: u32,
    virtual_address: u32,
    raw_size: u32,
    raw_pointer: u32,
}

/// The headers, read from the raw bytes with every offset checked.
struct Headers {
    coff: usize,
    checksum: Option<usize>,
    file_alignment: u32,
    directories: Vec<(u32, u32)>,
    sections: Vec<Section>,
}

impl Headers {
    fn read(input: &[u8]) -> Result<Self, FormatError> {
        if input.len() < DOS_HEADER || !input.starts_with(b"MZ") {
            return Err(malformed("no DOS header"));
        }
        let lfanew = u32_le(input, E_LFANEW).unwrap_or_default() as usize;
        if input.get(lfanew..lfanew.saturating_add(4)) != Some(PE_SIGNATURE) {
            return Err(malformed(format!(
                "no PE signature at e_lfanew {lfanew:#x}"
            )));
        }
        let coff = lfanew + 4;
        let header = input
            .get(coff..coff + COFF_HEADER)
            .ok_or_else(|| malformed("truncated COFF header"))?;
        let nsec = usize::from(u16_le(header, 2).unwrap_or_default());
        let opt_size = usize::from(u16_le(header, 16).unwrap_or_default());
        let opt = coff + COFF_HEADER;
        let optional = input
            .get(opt..opt + opt_size)
            .ok_or_else(|| malformed("truncated optional header"))?;
        let directories_at = match u16_le(optional, 0) {
            Some(PE32) => 96,
            Some(PE32_PLUS) => 112,
            Some(magic) => return Err(malformed(format!("optional header magic {magic:#x}"))),
            None => return Err(malformed("no optional header: an object, not an image")),
        };
        let count = u32_le(optional, directories_at - 4)
            .ok_or_else(|| malformed("optional header too short for its data directories"))?
            as usize;
        if count > MAX_DIRECTORIES || directories_at + 8 * count > opt_size {
            return Err(malformed(format!(
                "{count} data directories do not fit the {opt_size}-byte optional header"
            )));
        }
        let directories: Vec<(u32, u32)> = (0..count)
            .map(|i| {
                let at = directories_at + 8 * i;
                (
                    u32_le(optional, at).unwrap_or_default(),
                    u32_le(optional, at + 4).unwrap_or_default(),
                )
            })
            .collect();
        let table = opt + opt_size;
        let sections = input
            .get(table..table + nsec * SECTION_HEADER)
            .ok_or_else(|| malformed(format!("section table ({nsec} sections) is truncated")))?
            .chunks_exact(SECTION_HEADER)
            .map(|h| Section {
                virtual_size: u32_le(h, 8).unwrap_or_default(),
                virtual_address: u32_le(h, 12).unwrap_or_default(),
                raw_size: u32_le(h, 16).unwrap_or_default(),
                raw_pointer: u32_le(h, 20).unwrap_or_default(),
            })
            .collect::<Vec<Section>>();
        layout_as_the_loader_maps_it(optional, &directories, &sections)?;
        for (i, s) in sections.iter().enumerate() {
            let end = u64::from(s.raw_pointer) + u64::from(s.raw_size);
            if s.raw_size != 0 && end > input.len() as u64 {
                return Err(malformed(format!(
                    "section {}'s data ({} bytes at offset {:#x}) extends past the end of the file",
                    i + 1,
                    s.raw_size,
                    s.raw_pointer
                )));
            }
        }
        Ok(Self {
            coff,
            checksum: (opt_size >= CHECKSUM + 4).then_some(opt + CHECKSUM),
            file_alignment: u32_le(optional, 36).unwrap_or_default(),
            directories,
            sections,
        })
    }

    /// Data directory `i`, when present (address and size both non-zero).
    fn directory(&self, i: usize) -> Option<(u32, u32)> {
        self.directories
            .get(i)
            .copied()
            .filter(|&(rva, size)| rva != 0 && size != 0)
    }

    /// Checks that goblin read the same headers we are about to patch by.
    fn agrees_with(&self, input: &[u8], pe: &goblin::pe::PE) -> Result<(), FormatError> {
        let disagree = |what: &str| {
            malformed(format!(
                "goblin and strip-nd read the {what} differently; not patching"
            ))
        };
        if pe.header.coff_header.time_date_stamp != u32_le(input, self.coff + 4).unwrap_or(0) {
            return Err(disagree("COFF header"));
        }
        let Some(opt) = &pe.header.optional_header else {
            return Err(disagree("optional header"));
        };
        if opt.windows_fields.file_alignment != self.file_alignment
            || Some(opt.windows_fields.check_sum) != self.checksum.and_then(|at| u32_le(input, at))
        {
            return Err(disagree("optional header"));
        }
        for i in 0..MAX_DIRECTORIES {
            let ours = self.directories.get(i).copied().unwrap_or((0, 0));
            let theirs = opt.data_directories.data_directories[i]
                .map_or((0, 0), |(_, d)| (d.virtual_address, d.size));
            if ours != theirs {
                return Err(disagree("data directories"));
            }
        }
        let same = pe.sections.len() == self.sections.len()
            && pe.sections.iter().zip(&self.sections).all(|(g, s)| {
                g.virtual_size == s.virtual_size
                    && g.virtual_address == s.virtual_address
                    && g.size_of_raw_data == s.raw_size
                    && g.pointer_to_raw_data == s.raw_pointer
            });
        if !same {
            return Err(disagree("section table"));
        }
        Ok(())
    }
}

/// The image layout the Windows loader and LLVM's reader insist on (PE/COFF
/// spec, "Section Table"): sections in ascending virtual order, each one's
/// aligned virtual extent ending at or before the next one's start and the
/// last one within `SizeOfImage`; every data directory (but the certificate
/// table, which holds a file offset) inside `SizeOfImage`. A damaged
/// `VirtualSize` makes two sections overlap, so an RVA would map into the
/// wrong one: such an image is malformed, not patched.
fn layout_as_the_loader_maps_it(
    optional: &[u8],
    directories: &[(u32, u32)],
    sections: &[Section],
) -> Result<(), FormatError> {
    let (Some(align), Some(image)) = (u32_le(optional, 32), u32_le(optional, 56)) else {
        return Err(malformed(
            "optional header too short for SectionAlignment and SizeOfImage",
        ));
    };
    if align == 0 || !align.is_power_of_two() {
        return Err(malformed(format!(
            "SectionAlignment {align:#x} is not a power of two"
        )));
    }
    let image = u64::from(image);
    let mut floor = 0u64;
    for (i, s) in sections.iter().enumerate() {
        let start = u64::from(s.virtual_address);
        let size = if s.virtual_size == 0 {
            s.raw_size
        } else {
            s.virtual_size
        };
        let end = (start + u64::from(size)).next_multiple_of(u64::from(align));
        if start < floor {
            return Err(malformed(format!(
                "section {} starts at RVA {start:#x}, inside the section before it (which ends at {floor:#x})",
                i + 1
            )));
        }
        if start + u64::from(size) > image {
            return Err(malformed(format!(
                "section {} (RVA {start:#x}, {size:#x} bytes) ends past SizeOfImage {image:#x}",
                i + 1
            )));
        }
        floor = end;
    }
    for (i, &(rva, size)) in directories.iter().enumerate() {
        if i == CERTIFICATE_TABLE || (rva == 0 && size == 0) {
            continue;
        }
        if u64::from(rva) + u64::from(size) > image {
            return Err(malformed(format!(
                "data directory {i} (RVA {rva:#x}, {size} bytes) lies past SizeOfImage {image:#x}"
            )));
        }
    }
    Ok(())
}

/// Maps RVAs to file offsets, checked three ways: inside a section's file
/// data, inside the file, and equal to goblin's mapping.
struct Mapper<'a> {
    input: &'a [u8],
    headers: &'a Headers,
    goblin_sections: &'a [goblin::pe::section_table::SectionTable],
}

impl Mapper<'_> {
    fn offset(&self, rva: u32, len: usize, what: &str) -> Result<usize, FormatError> {
        let outside = || {
            malformed(format!(
                "{what} (RVA {rva:#x}, {len} bytes) lies outside every section's file data"
            ))
        };
        let s = self
            .headers
            .sections
            .iter()
            .find(|s| {
                let extent = extent(s);
                rva >= s.virtual_address && rva - s.virtual_address < extent
            })
            .ok_or_else(outside)?;
        let within = (rva - s.virtual_address) as usize;
        if within
            .checked_add(len)
            .is_none_or(|end| end > extent(s) as usize)
        {
            return Err(outside());
        }
        let fa = self.headers.file_alignment;
        if fa == 0 || !fa.is_power_of_two() || s.raw_pointer % fa != 0 {
            return Err(malformed(format!(
                "{what} lies in a section whose PointerToRawData {:#x} is not a multiple of FileAlignment {fa:#x}",
                s.raw_pointer
            )));
        }
        let at = s.raw_pointer as usize + within;
        if at + len > self.input.len() {
            return Err(malformed(format!(
                "{what} at offset {at:#x} ({len} bytes) extends past the end of the file"
            )));
        }
        let goblin = goblin::pe::utils::find_offset(
            rva as usize,
            self.goblin_sections,
            fa,
            &goblin::pe::options::ParseOptions::default(),
        );
        if goblin != Some(at) {
            return Err(malformed(format!(
                "{what}: goblin maps RVA {rva:#x} to {goblin:?}, strip-nd to {at:#x}; not patching"
            )));
        }
        Ok(at)
    }
}

/// The bytes of a section the loader maps from the file.
fn extent(s: &Section) -> u32 {
    if s.virtual_size == 0 {
        s.raw_size
    } else {
        s.virtual_size.min(s.raw_size)
    }
}

/// Every field to normalize, sorted by offset, none overlapping another.
pub fn fields(input: &[u8]) -> Result<Vec<Patch>, FormatError> {
    let headers = Headers::read(input)?;
    if let Some((offset, size)) = headers
        .directories
        .get(CERTIFICATE_TABLE)
        .copied()
        .filter(|&d| d != (0, 0))
    {
        return Err(FormatError::Unsupported(format!(
            "signed PE image: changing a timestamp breaks the signature (certificate table: {size} bytes at offset {offset:#x})"
        )));
    }
    let pe = goblin::pe::PE::parse(input)
        .map_err(|e| malformed(format!("goblin cannot parse the image: {e}")))?;
    headers.agrees_with(input, &pe)?;
    let map = Mapper {
        input,
        headers: &headers,
        goblin_sections: &pe.sections,
    };
    let mut patches = vec![Patch {
        at: headers.coff + 4,
        field: Field::CoffStamp,
    }];
    if let Some(at) = headers.checksum {
        patches.push(Patch {
            at,
            field: Field::CheckSum,
        });
    }
    if let Some((rva, _)) = headers.directory(EXPORT_DIRECTORY) {
        let at = map.offset(rva, EXPORT_DIRECTORY_SIZE, "export directory")?;
        patches.push(Patch {
            at: at + 4,
            field: Field::ExportStamp,
        });
    }
    if let Some((rva, _)) = headers.directory(RESOURCE_DIRECTORY) {
        resource_tables(&map, rva, &mut patches)?;
    }
    if let Some((rva, size)) = headers.directory(DEBUG_DIRECTORY) {
        debug_entries(&map, rva, size as usize, &mut patches)?;
    }
    patches.sort_by_key(|p| p.at);
    patches.dedup();
    for pair in patches.windows(2) {
        if pair[0].at + pair[0].field.width() > pair[1].at {
            return Err(malformed(format!(
                "{} at {:#x} overlaps {} at {:#x}",
                pair[0].field.describe(),
                pair[0].at,
                pair[1].field.describe(),
                pair[1].at
            )));
        }
    }
    Ok(patches)
}

/// Walks the resource tree from its root table at `base`, adding the
/// timestamp of each table. Each table is visited once.
fn resource_tables(map: &Mapper, base: u32, patches: &mut Vec<Patch>) -> Result<(), FormatError> {
    let input = map.input;
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![0u32];
    let mut budget = MAX_RESOURCE_ENTRIES;
    while let Some(rel) = todo.pop() {
        if !seen.insert(rel) {
            continue;
        }
        let what = format!("resource directory table at +{rel:#x}");
        let rva = base
            .checked_add(rel)
            .ok_or_else(|| malformed(format!("{what}: RVA overflows")))?;
        let at = map.offset(rva, RESOURCE_TABLE, &what)?;
        let named = usize::from(u16_le(input, at + 12).unwrap_or_default());
        let ids = usize::from(u16_le(input, at + 14).unwrap_or_default());
        budget = budget.checked_sub(named + ids).ok_or_else(|| {
            malformed(format!(
                "resource tree holds more than {MAX_RESOURCE_ENTRIES} entries"
            ))
        })?;
        let entries = (named + ids) * RESOURCE_ENTRY;
        // The entries follow the table header; checked as one block.
        let at = map.offset(rva, RESOURCE_TABLE + entries, &what)?;
        patches.push(Patch {
            at: at + 4,
            field: Field::ResourceStamp(rel),
        });
        for e in 0..named + ids {
            let target =
                u32_le(input, at + RESOURCE_TABLE + e * RESOURCE_ENTRY + 4).unwrap_or_default();
            if target & 0x8000_0000 != 0 {
                todo.push(target & 0x7fff_ffff);
            }
        }
    }
    Ok(())
}

/// Adds the timestamp of each debug-directory entry, and the GUID and age of
/// each `CodeView` `RSDS` record they point to.
fn debug_entries(
    map: &Mapper,
    rva: u32,
    size: usize,
    patches: &mut Vec<Patch>,
) -> Result<(), FormatError> {
    let input = map.input;
    let count = size / DEBUG_ENTRY;
    if count == 0 {
        return Err(malformed(format!(
            "debug directory of {size} bytes holds no entry"
        )));
    }
    let at = map.offset(rva, count * DEBUG_ENTRY, "debug directory")?;
    for i in 0..count {
        let e = at + i * DEBUG_ENTRY;
        let ty = u32_le(input, e + 12).unwrap_or_default();
        patches.push(Patch {
            at: e + 4,
            field: Field::DebugStamp(i + 1, ty),
        });
        if ty != CODEVIEW {
            continue;
        }
        let len = u32_le(input, e + 16).unwrap_or_default() as usize;
        let address = u32_le(input, e + 20).unwrap_or_default();
        let pointer = u32_le(input, e + 24).unwrap_or_default() as usize;
        if pointer == 0 || len < RSDS_FIXED {
            continue; // not in the file, or not a CodeView 7.0 record
        }
        let what = format!("debug directory entry {}'s CodeView record", i + 1);
        if pointer.checked_add(len).is_none_or(|end| end > input.len()) {
            return Err(malformed(format!(
                "{what} ({len} bytes at offset {pointer:#x}) extends past the end of the file"
            )));
        }
        if address != 0 && map.offset(address, len, &what)? != pointer {
            return Err(malformed(format!(
                "{what}: AddressOfRawData {address:#x} and PointerToRawData {pointer:#x} disagree"
            )));
        }
        if input[pointer..].starts_with(RSDS) {
            patches.push(Patch {
                at: pointer + 4,
                field: Field::Guid,
            });
            patches.push(Patch {
                at: pointer + 20,
                field: Field::Age,
            });
        }
    }
    Ok(())
}

/// The GUID derived from the image with every field of `patches` read as zeros.
fn derived_guid(input: &[u8], patches: &[Patch]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(GUID_DOMAIN);
    let mut pos = 0;
    for p in patches {
        h.update(&input[pos..p.at]);
        h.update(&[0u8; 16][..p.field.width()]);
        pos = p.at + p.field.width();
    }
    h.update(&input[pos..]);
    let digest = h.finalize();
    let mut guid = [0; 16];
    guid.copy_from_slice(&digest[..16]);
    guid
}

/// The PE checksum of `image`, the 4 bytes at `field` read as zeros.
pub fn checksum(image: &[u8], field: usize) -> u32 {
    // Sum the 16-bit words exactly, then fold: the same result as folding
    // after every addition, since folding keeps the value modulo 0xffff and
    // never turns a non-zero sum into zero.
    let mut sum: u64 = 0;
    let mut chunks = image.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().unwrap_or_default());
        sum += (v & 0xffff) + ((v >> 16) & 0xffff) + ((v >> 32) & 0xffff) + (v >> 48);
    }
    let base = image.len() - chunks.remainder().len();
    for (i, &b) in chunks.remainder().iter().enumerate() {
        sum += u64::from(b) << (8 * ((base + i) % 2));
    }
    for (i, &b) in image.iter().enumerate().skip(field).take(4) {
        sum -= u64::from(b) << (8 * (i % 2));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The length of a file within the size limit fits; a PE image cannot
    // exceed 4 GiB anyway.
    (sum as u32).wrapping_add(image.len() as u32)
}

/// A Windows GUID string, `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`.
fn guid_string(g: &[u8]) -> String {
    let d1 = u32_le(g, 0).unwrap_or_default();
    let d2 = u16_le(g, 4).unwrap_or_default();
    let d3 = u16_le(g, 6).unwrap_or_default();
    let tail = g[8..16].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    format!(
        "{{{d1:08x}-{d2:04x}-{d3:04x}-{}-{}}}",
        &tail[..4],
        &tail[4..]
    )
}

impl Handler for Pe {
    fn name(&self) -> &'static str {
        "pe"
    }

    fn describe(&self) -> &'static str {
        "PE images (PE/COFF spec), MZ + PE\\0\\0 at e_lfanew: clamps COFF/export/resource/debug TimeDateStamps, derives the CodeView GUID, recomputes CheckSum; refuses signed images"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.len() >= DOS_HEADER
            && head.starts_with(b"MZ")
            && u32_le(head, E_LFANEW).is_some_and(|at| {
                let at = at as usize;
                head.get(at..at.saturating_add(4)) == Some(PE_SIGNATURE)
            })
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[b"MZ"])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size || u32::try_from(input.len()).is_err() {
            return Err(FormatError::TooLarge(format!(
                "{} bytes, larger than the size limit or a PE image's 4 GiB",
                input.len()
            )));
        }
        let patches = fields(input)?;
        // A stored checksum that does not match the bytes says the image was
        // damaged (or edited) after linking; a fresh checksum would hide it.
        if let Some(p) = patches.iter().find(|p| p.field == Field::CheckSum) {
            let stored = u32_le(input, p.at).unwrap_or_default();
            let actual = checksum(input, p.at);
            if stored != 0 && stored != actual {
                return Err(malformed(format!(
                    "stored checksum {stored:#010x} does not match the image's bytes ({actual:#010x}): \
                     the image was damaged or edited after linking; not recomputing it, \
                     which would hide that"
                )));
            }
        }
        let guid = patches
            .iter()
            .any(|p| p.field == Field::Guid)
            .then(|| derived_guid(input, &patches));
        let mut out: Option<Vec<u8>> = None;
        let mut changes = Vec::new();
        let mut checksum_at = None;
        for p in &patches {
            let old = &input[p.at..p.at + p.field.width()];
            let new: Vec<u8> = match p.field {
                Field::CheckSum => {
                    checksum_at = Some(p.at);
                    continue;
                }
                Field::Guid => guid.unwrap_or_default().to_vec(),
                Field::Age => 1u32.to_le_bytes().to_vec(),
                _ => {
                    let t = u32_le(old, 0).unwrap_or_default();
                    ctx.epoch_value().clamp_u32(t).to_le_bytes().to_vec()
                }
            };
            if old == new.as_slice() {
                continue;
            }
            let (was, now) = match p.field {
                Field::Guid => (guid_string(old), guid_string(&new)),
                f if f.is_stamp() => (
                    stamp(u64::from(u32_le(old, 0).unwrap_or_default())),
                    stamp(u64::from(u32_le(&new, 0).unwrap_or_default())),
                ),
                _ => (
                    u32_le(old, 0).unwrap_or_default().to_string(),
                    u32_le(&new, 0).unwrap_or_default().to_string(),
                ),
            };
            changes.push((p.at, Change::set("", p.field.describe(), was, now)));
            out.get_or_insert_with(|| input.to_vec())[p.at..p.at + new.len()].copy_from_slice(&new);
        }
        if let Some(at) = checksum_at {
            let old = u32_le(input, at).unwrap_or_default();
            if old != 0 {
                let new = checksum(out.as_deref().unwrap_or(input), at);
                if new != old {
                    changes.push((
                        at,
                        Change::set(
                            "",
                            Field::CheckSum.describe(),
                            format!("{old:#010x}"),
                            format!("{new:#010x}"),
                        ),
                    ));
                    out.get_or_insert_with(|| input.to_vec())[at..at + 4]
                        .copy_from_slice(&new.to_le_bytes());
                }
            }
        }
        let Some(bytes) = out else {
            return Ok(Outcome::Unchanged);
        };
        // The fields were located through headers the patches must not have
        // moved; finding the same fields again in the output proves it, and
        // with it that a second pass changes nothing.
        if fields(&bytes).ok().as_ref() != Some(&patches) {
            return Err(malformed(
                "the fields to normalize overlap the structures that locate them; not patching",
            ));
        }
        changes.sort_by_key(|(at, _)| *at);
        Ok(Outcome::Rewritten {
            bytes,
            changes: changes.into_iter().map(|(_, c)| c).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const EPOCH: u64 = 315_532_800;
    /// A DLL from the corpus: exports, a version resource, a build id.
    const DLL: &[u8] = include_bytes!("../../corpus/pe/foo.1.dll");
    /// A PE32 exe from the corpus.
    const EXE32: &[u8] = include_bytes!("../../corpus/pe/hello32.1.exe");

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(EPOCH);
        Pe.normalize(input, &cfg.context(Path::new("x.dll")))
    }

    fn rewrite(input: &[u8]) -> (Vec<u8>, Vec<String>) {
        match run(input).unwrap() {
            Outcome::Rewritten { bytes, changes } => {
                (bytes, changes.iter().map(ToString::to_string).collect())
            }
            Outcome::Unchanged => panic!("expected a rewrite"),
        }
    }

    fn at(input: &[u8], field: Field) -> usize {
        fields(input)
            .unwrap()
            .into_iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("no {field:?}"))
            .at
    }

    /// Gives an edited image the checksum of its new bytes, as a linker
    /// would have written it.
    fn resum(image: &mut [u8]) {
        let cs = Headers::read(image).unwrap().checksum.unwrap();
        let sum = checksum(image, cs);
        image[cs..cs + 4].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn checksum_matches_the_one_ld_wrote() {
        for image in [DLL, EXE32] {
            let at = Headers::read(image).unwrap().checksum.unwrap();
            assert_eq!(checksum(image, at), u32_le(image, at).unwrap());
        }
    }

    #[test]
    fn checksum_handles_odd_lengths_and_unaligned_fields() {
        // 01 02 | 03 [04 05 06 07] 08 | 09: words 0x0201, 0x0803 (field
        // bytes read as zero: 0x0003 and 0x0800), and 0x09 as the last byte.
        let image = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(checksum(&image, 3), 0x0201 + 0x0003 + 0x0800 + 0x0009 + 9);
        // A carry is folded back in.
        let ff = [0xff; 4];
        assert_eq!(checksum(&ff, 100), 0xffff + 4);
    }

    #[test]
    fn a_corpus_dll_is_normalized_field_by_field() {
        let (out, changes) = rewrite(DLL);
        assert_eq!(out.len(), DLL.len());
        let stamps: Vec<&String> = changes
            .iter()
            .filter(|c| c.contains("TimeDateStamp"))
            .collect();
        assert_eq!(
            stamps.len(),
            2,
            "COFF header and export directory: {changes:?}"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("CodeView RSDS record: GUID {"))
        );
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("optional header: CheckSum"))
        );
        for f in [Field::CoffStamp, Field::ExportStamp] {
            assert_eq!(u32_le(&out, at(DLL, f)), Some(EPOCH as u32));
        }
        let cs = at(DLL, Field::CheckSum);
        assert_eq!(u32_le(&out, cs), Some(checksum(&out, cs)));
        // Only the fields differ.
        let fields = fields(DLL).unwrap();
        for (i, (a, b)) in DLL.iter().zip(&out).enumerate() {
            if a != b {
                assert!(
                    fields
                        .iter()
                        .any(|p| (p.at..p.at + p.field.width()).contains(&i)),
                    "byte {i:#x} changed outside every field"
                );
            }
        }
        assert_eq!(run(&out).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn resource_tables_are_all_found_and_clamped() {
        let found: Vec<Patch> = fields(DLL)
            .unwrap()
            .into_iter()
            .filter(|p| matches!(p.field, Field::ResourceStamp(_)))
            .collect();
        assert_eq!(found.len(), 3, "type, name and language tables: {found:?}");
        let mut stamped = DLL.to_vec();
        for p in &found {
            stamped[p.at..p.at + 4].copy_from_slice(&2_000_000_000u32.to_le_bytes());
        }
        resum(&mut stamped);
        let (out, changes) = rewrite(&stamped);
        for p in &found {
            assert_eq!(u32_le(&out, p.at), Some(EPOCH as u32));
        }
        assert_eq!(
            changes
                .iter()
                .filter(|c| c.starts_with("resource directory table"))
                .count(),
            3
        );
        // Earlier values stay.
        let mut early = DLL.to_vec();
        early[found[1].at..found[1].at + 4].copy_from_slice(&1000u32.to_le_bytes());
        resum(&mut early);
        let (out, _) = rewrite(&early);
        assert_eq!(u32_le(&out, found[1].at), Some(1000));
    }

    #[test]
    fn a_cyclic_resource_tree_is_walked_once() {
        let tables: Vec<usize> = fields(DLL)
            .unwrap()
            .into_iter()
            .filter(|p| matches!(p.field, Field::ResourceStamp(_)))
            .map(|p| p.at - 4)
            .collect();
        // Point the language table's entry back at the root.
        let mut cyclic = DLL.to_vec();
        let entry = tables[2] + RESOURCE_TABLE;
        cyclic[entry + 4..entry + 8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        // goblin refuses the cycle, so the image is left alone...
        assert!(matches!(run(&cyclic), Err(FormatError::Malformed(m)) if m.contains("goblin")));
        // ...and the walk, which does not rely on that, terminates.
        let headers = Headers::read(&cyclic).unwrap();
        let pe = goblin::pe::PE::parse(DLL).unwrap();
        let map = Mapper {
            input: &cyclic,
            headers: &headers,
            goblin_sections: &pe.sections,
        };
        let mut found = Vec::new();
        let root = headers.directory(RESOURCE_DIRECTORY).unwrap().0;
        resource_tables(&map, root, &mut found).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn the_guid_follows_the_content_not_the_noise() {
        let (plain, _) = rewrite(DLL);
        let mut noisy = DLL.to_vec();
        let guid = at(DLL, Field::Guid);
        noisy[guid..guid + 16].copy_from_slice(&[0x5a; 16]);
        noisy[guid + 16..guid + 20].copy_from_slice(&7u32.to_le_bytes());
        let coff = at(DLL, Field::CoffStamp);
        noisy[coff..coff + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        resum(&mut noisy);
        let (denoised, changes) = rewrite(&noisy);
        assert_eq!(plain, denoised);
        assert!(changes.contains(&"CodeView RSDS record: age 7 -> 1".to_string()));
        // A change of content gives another GUID.
        let mut other = DLL.to_vec();
        let code = 0x400 + 0x10;
        other[code] ^= 1;
        resum(&mut other);
        let (edited, _) = rewrite(&other);
        assert_ne!(plain[guid..guid + 16], edited[guid..guid + 16]);
    }

    #[test]
    fn a_zero_checksum_stays_zero() {
        let mut zero = EXE32.to_vec();
        let cs = at(EXE32, Field::CheckSum);
        zero[cs..cs + 4].fill(0);
        let (out, changes) = rewrite(&zero);
        assert_eq!(u32_le(&out, cs), Some(0));
        assert!(!changes.iter().any(|c| c.contains("CheckSum")));
    }

    #[test]
    fn a_stored_checksum_that_does_not_match_is_malformed_not_recomputed() {
        let cs = at(EXE32, Field::CheckSum);
        // A damaged byte in the last section, and a damaged checksum field.
        let mut damaged = EXE32.to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x55;
        let mut wrong = EXE32.to_vec();
        wrong[cs] ^= 1;
        for image in [damaged, wrong] {
            match run(&image) {
                Err(FormatError::Malformed(m)) => {
                    assert!(m.starts_with("stored checksum 0x"), "{m}");
                    assert!(m.contains("does not match"), "{m}");
                }
                other => panic!("expected malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn signed_images_are_refused() {
        let mut signed = EXE32.to_vec();
        let h = Headers::read(EXE32).unwrap();
        let dd = h.coff + COFF_HEADER + 96 + 8 * CERTIFICATE_TABLE;
        signed[dd..dd + 4].copy_from_slice(&(EXE32.len() as u32).to_le_bytes());
        signed[dd + 4..dd + 8].copy_from_slice(&8u32.to_le_bytes());
        assert!(
            matches!(run(&signed), Err(FormatError::Unsupported(m)) if m.starts_with("signed PE image"))
        );
    }

    #[test]
    fn pointers_outside_the_file_are_malformed() {
        let d = at(DLL, Field::DebugStamp(1, CODEVIEW)) - 4;
        let mut far = DLL.to_vec();
        far[d + 24..d + 28].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        assert!(matches!(run(&far), Err(FormatError::Malformed(_))));
        for cut in [10, 100, 0x200, DLL.len() / 2, DLL.len() - 1] {
            assert!(run(&DLL[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn sections_that_overlap_or_pass_size_of_image_are_malformed() {
        let h = Headers::read(DLL).unwrap();
        let table = h.coff + COFF_HEADER + usize::from(u16_le(DLL, h.coff + 16).unwrap());
        // Section 2's VirtualSize with a high bit set: it reaches over the
        // sections after it, as LLVM's reader refuses ("unexpected end").
        let mut grown = DLL.to_vec();
        let vs = table + SECTION_HEADER + 8;
        let old = u32_le(DLL, vs).unwrap();
        grown[vs..vs + 4].copy_from_slice(&(old | 0x8000).to_le_bytes());
        assert!(
            matches!(run(&grown), Err(FormatError::Malformed(m)) if m.contains("inside the section before it")),
            "{:?}",
            run(&grown)
        );
        // The last section past SizeOfImage.
        let last = table + (h.sections.len() - 1) * SECTION_HEADER + 8;
        let mut past = DLL.to_vec();
        past[last..last + 4].copy_from_slice(&0x0100_0000u32.to_le_bytes());
        assert!(matches!(run(&past), Err(FormatError::Malformed(m)) if m.contains("SizeOfImage")));
        // A data directory at an RVA past the image, though its size is 0.
        let dd = h.coff + COFF_HEADER + 112 + 8 * EXPORT_DIRECTORY;
        let mut far = DLL.to_vec();
        far[dd..dd + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        far[dd + 4..dd + 8].fill(0);
        assert!(
            matches!(run(&far), Err(FormatError::Malformed(m)) if m.contains("data directory 0"))
        );
        assert!(run(DLL).is_ok());
    }

    #[test]
    fn overlapping_fields_are_refused() {
        let d = at(DLL, Field::DebugStamp(1, CODEVIEW)) - 4;
        // The CodeView record placed on the debug entry itself: its GUID
        // would cover the entry's timestamp.
        let mut overlap = DLL.to_vec();
        overlap[d..d + 4].copy_from_slice(RSDS);
        overlap[d + 20..d + 24].fill(0); // AddressOfRawData 0: no RVA cross-check
        overlap[d + 24..d + 28].copy_from_slice(&(d as u32).to_le_bytes());
        assert!(matches!(run(&overlap), Err(FormatError::Malformed(m)) if m.contains("overlaps")));
        // The record 8 bytes in: its GUID covers the entry's type and
        // pointers, so patching it would move what located it.
        let mut moving = DLL.to_vec();
        moving[d + 8..d + 12].copy_from_slice(RSDS);
        moving[d + 20..d + 24].fill(0);
        moving[d + 24..d + 28].copy_from_slice(&(d as u32 + 8).to_le_bytes());
        resum(&mut moving);
        assert!(
            matches!(run(&moving), Err(FormatError::Malformed(m)) if m.contains("structures that locate them"))
        );
    }

    #[test]
    fn elf_text_and_dos_programs_are_not_claimed() {
        let cfg = Config::default();
        let ctx = cfg.context(Path::new("x"));
        assert!(Pe.sniff(DLL, &ctx));
        let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
        elf.resize(200, 0);
        let mut dos = b"MZ".to_vec();
        dos.resize(200, 0);
        for head in [&elf[..], &dos, b"MZ", b"", b"MZ this is text"] {
            assert!(!Pe.sniff(head, &ctx), "{head:?}");
        }
    }
}
