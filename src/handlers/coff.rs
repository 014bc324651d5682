//! COFF object files (`.o`, `.obj`) and short import objects, the members of
//! Windows import libraries (`.lib`, mingw's `.a` / `.dll.a`), as specified by
//! Microsoft's "PE Format" (sections "COFF File Header (Object and Image)",
//! "Import Library Format") and, for the big-object variant, by the
//! `ANON_OBJECT_HEADER_BIGOBJ` structure of `winnt.h`.
//!
//! Three layouts are recognized:
//!
//! * a classic COFF object: a 20-byte COFF file header at offset 0;
//! * a "bigobj" object (`gcc -Wa,-mbig-obj`, `cl /bigobj`): `Sig1 = 0`,
//!   `Sig2 = 0xffff`, `Version = 2` and the bigobj class id;
//! * a short import object ("import object header"): `Sig1 = 0`,
//!   `Sig2 = 0xffff`, `Version = 0`, then the symbol and DLL names.
//!
//! In each, the one field normalized is the header's `TimeDateStamp`, clamped to
//! the epoch (0, which GNU as, GNU ld's `--out-implib` and llvm-dlltool write,
//! stays 0). Everything else is left byte for byte as it is: section data,
//! relocations, symbols, the string table, and the import name strings.
//! Objects carry no checksum and no other clock.
//!
//! # Recognizing a COFF object (the heuristic, and its risk)
//!
//! A classic COFF object has no magic string, so a file is claimed only when:
//!
//! * its first two bytes are a known machine type (i386, amd64, arm, thumb,
//!   armnt, arm64, arm64ec, arm64x, ia64, riscv32/64/128, loongarch32/64);
//! * `NumberOfSections` is between 1 and 65279 (the format's limit);
//! * `SizeOfOptionalHeader` is 0 (objects have no optional header; images,
//!   which start with `MZ`, belong to the `pe` handler);
//! * `PointerToSymbolTable` is 0 with no symbols, or points past the section
//!   table, and the symbol table lies inside the file when the whole file is
//!   in the sniffed head;
//! * every section header visible in the sniffed head has a plausible name
//!   (printable bytes padded with zeros, or `/<digits>` for a long name) and
//!   raw-data and relocation pointers that are 0 or past the section table.
//!
//! Text cannot pass (the optional-header size needs two zero bytes, and the
//! machine values whose two bytes are both printable, such as `dP` for riscv64,
//! would need a NUL in the section count). A random binary file passes with a
//! probability far below one in 2^32 (a 16-bit machine value from a list of 14,
//! two zero bytes, a bounded pointer and well-formed 40-byte section names).
//! A false positive is never rewritten blindly: `normalize` then checks that
//! every section's data and relocations and the symbol and string tables lie
//! inside the file, and reports anything else as malformed, leaving it
//! untouched. Other "anonymous" objects (`Version` 1, e.g. MSVC `/GL`
//! link-time-code-generation objects) are not claimed.

use crate::bytes::{u16_le, u32_le};
use crate::dates::Civil;
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The COFF object and import-object handler.
pub struct Coff;

/// Machine types this handler (and the `pe` handler's notes) know, from the
/// PE/COFF spec's "Machine Types".
pub const MACHINES: &[(u16, &str)] = &[
    (0x014c, "i386"),
    (0x8664, "amd64"),
    (0x01c0, "arm"),
    (0x01c2, "thumb"),
    (0x01c4, "armnt"),
    (0xaa64, "arm64"),
    (0xa641, "arm64ec"),
    (0xa64e, "arm64x"),
    (0x0200, "ia64"),
    (0x5032, "riscv32"),
    (0x5064, "riscv64"),
    (0x5128, "riscv128"),
    (0x6232, "loongarch32"),
    (0x6264, "loongarch64"),
];

/// The class id of a bigobj header, as stored in the file.
const BIGOBJ_CLASS_ID: [u8; 16] = [
    0xc7, 0xa1, 0xba, 0xd1, 0xee, 0xba, 0xa9, 0x4b, 0xaf, 0x20, 0xfa, 0xf6, 0x6a, 0xa4, 0xdc, 0xb8,
];

const HEADER: usize = 20;
const BIGOBJ_HEADER: usize = 56;
const SECTION_HEADER: usize = 40;
const SYMBOL: usize = 18;
const BIGOBJ_SYMBOL: usize = 20;
const RELOCATION: usize = 10;
/// The largest section count of a classic object (`IMAGE_SYM_SECTION_MAX`).
const MAX_SECTIONS: usize = 0xfeff;
/// A bigobj's section numbers are 32-bit; this bounds the header walk.
const MAX_BIGOBJ_SECTIONS: usize = 1 << 24;
/// `IMPORT_OBJECT_HEADER` type bits: code, data, const (3 is invalid).
const IMPORT_TYPE_MASK: u16 = 0x3;
/// Name types 0 to 4 (ordinal, name, no prefix, undecorate, export-as).
const IMPORT_NAME_TYPE_MAX: u16 = 4;

/// Which layout a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A classic COFF object.
    Object,
    /// An `ANON_OBJECT_HEADER_BIGOBJ` object.
    BigObj,
    /// A short import object (`IMPORT_OBJECT_HEADER`).
    Import,
}

/// The name of a machine type, if this handler knows it.
pub fn machine_name(machine: u16) -> Option<&'static str> {
    MACHINES
        .iter()
        .find(|(m, _)| *m == machine)
        .map(|(_, n)| *n)
}

/// Formats a timestamp for change notes: seconds and the UTC date.
pub fn stamp(t: u64) -> String {
    format!("{t} ({})", Civil::utc(i64::try_from(t).unwrap_or(i64::MAX)))
}

/// The layout of `head`, if it looks like one this handler claims.
pub fn sniff_kind(head: &[u8]) -> Option<Kind> {
    let sig1 = u16_le(head, 0)?;
    let sig2 = u16_le(head, 2)?;
    if sig1 == 0 && sig2 == 0xffff {
        let version = u16_le(head, 4)?;
        machine_name(u16_le(head, 6)?)?;
        return match version {
            0 => {
                let ty = u16_le(head, 18)?;
                let valid = ty & IMPORT_TYPE_MASK != 3
                    && (ty >> 2) & 0x7 <= IMPORT_NAME_TYPE_MAX
                    && ty >> 5 == 0;
                valid.then_some(Kind::Import)
            }
            2 if head.get(12..28)? == BIGOBJ_CLASS_ID => {
                let nsec = u32_le(head, 44)? as usize;
                let symtab = u32_le(head, 48)? as usize;
                let sections_end = BIGOBJ_HEADER + nsec.checked_mul(SECTION_HEADER)?;
                let plausible = nsec <= MAX_BIGOBJ_SECTIONS
                    && (symtab == 0 || symtab >= sections_end)
                    && sections_plausible(head, BIGOBJ_HEADER, nsec, sections_end);
                plausible.then_some(Kind::BigObj)
            }
            _ => None,
        };
    }
    machine_name(sig1)?;
    let nsec = usize::from(sig2);
    let symtab = u32_le(head, 8)? as usize;
    let nsyms = u32_le(head, 12)? as usize;
    let opt = u16_le(head, 16)?;
    let sections_end = HEADER + nsec * SECTION_HEADER;
    if nsec == 0 || nsec > MAX_SECTIONS || opt != 0 {
        return None;
    }
    if symtab == 0 {
        if nsyms != 0 {
            return None;
        }
    } else if symtab < sections_end {
        return None;
    }
    // A head shorter than the sniff length is the whole file.
    if head.len() < crate::handlers::SNIFF_LEN
        && symtab.saturating_add(nsyms.saturating_mul(SYMBOL)) > head.len()
    {
        return None;
    }
    sections_plausible(head, HEADER, nsec, sections_end).then_some(Kind::Object)
}

/// Whether the section headers within `head` look like an object's.
fn sections_plausible(head: &[u8], start: usize, nsec: usize, sections_end: usize) -> bool {
    let mut seen = 0;
    for i in 0..nsec {
        let at = start + i * SECTION_HEADER;
        let Some(h) = head.get(at..at + SECTION_HEADER) else {
            break;
        };
        seen += 1;
        if !name_plausible(&h[..8]) {
            return false;
        }
        let raw = u32_le(h, 20).unwrap_or_default() as usize;
        let relocs = u32_le(h, 24).unwrap_or_default() as usize;
        if (raw != 0 && raw < sections_end) || (relocs != 0 && relocs < sections_end) {
            return false;
        }
    }
    // At least one header must have been checked, or the claim rests on the
    // first 20 bytes alone.
    seen > 0
}

/// A section name: printable bytes then zero padding, or `/` and decimal
/// digits (an offset into the string table).
fn name_plausible(name: &[u8]) -> bool {
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    if len == 0 || name[len..].iter().any(|&b| b != 0) {
        return false;
    }
    let name = &name[..len];
    if name[0] == b'/' {
        return len > 1 && name[1..].iter().all(u8::is_ascii_digit);
    }
    name.iter().all(|&b| (0x20..0x7f).contains(&b))
}

fn malformed(what: &str, msg: impl std::fmt::Display) -> FormatError {
    FormatError::malformed(format!("{what}: {msg}"))
}

/// Checks that a `len`-byte table at `at` lies inside `input`.
fn inside(input: &[u8], at: usize, len: Option<usize>, what: &str) -> Result<(), FormatError> {
    match len.and_then(|l| at.checked_add(l)) {
        Some(end) if end <= input.len() => Ok(()),
        _ => Err(FormatError::malformed(format!(
            "{what} at offset {at} extends past the end of the file ({} bytes)",
            input.len()
        ))),
    }
}

/// Checks the section table, section data, relocations and symbol/string
/// tables of an object whose section table starts at `start`.
fn check_object(
    input: &[u8],
    start: usize,
    nsec: usize,
    symtab: usize,
    nsyms: usize,
    symbol_size: usize,
) -> Result<(), FormatError> {
    inside(
        input,
        start,
        nsec.checked_mul(SECTION_HEADER),
        "section table",
    )?;
    for i in 0..nsec {
        let h = &input[start + i * SECTION_HEADER..start + (i + 1) * SECTION_HEADER];
        let size = u32_le(h, 16).unwrap_or_default() as usize;
        let raw = u32_le(h, 20).unwrap_or_default() as usize;
        let relocs = u32_le(h, 24).unwrap_or_default() as usize;
        let nrelocs = usize::from(u16_le(h, 32).unwrap_or_default());
        let name = String::from_utf8_lossy(&h[..8]);
        let name = name.trim_end_matches('\0');
        if raw != 0 {
            inside(input, raw, Some(size), &format!("section {name}'s data"))?;
        }
        if relocs != 0 {
            inside(
                input,
                relocs,
                Some(nrelocs * RELOCATION),
                &format!("section {name}'s relocations"),
            )?;
        }
    }
    if symtab != 0 {
        inside(
            input,
            symtab,
            nsyms.checked_mul(symbol_size),
            "symbol table",
        )?;
        let strings = symtab + nsyms * symbol_size;
        // The string table follows the symbols, its size field (which counts
        // itself) even when it holds no name: binutils ("file too short") and
        // LLVM ("Invalid data") refuse an object that ends after the symbols.
        let size = u32_le(input, strings)
            .ok_or_else(|| malformed("string table", "missing or truncated size field"))?
            as usize;
        if size < 4 && size != 0 {
            return Err(malformed("string table", format!("size {size} < 4")));
        }
        inside(input, strings, Some(size), "string table")?;
    } else if nsyms != 0 {
        return Err(malformed(
            "COFF header",
            format!("{nsyms} symbols but no symbol table"),
        ));
    }
    Ok(())
}

/// Checks an import object's size and names; returns "symbol from dll".
fn check_import(input: &[u8]) -> Result<String, FormatError> {
    let size = u32_le(input, 12).unwrap_or_default() as usize;
    if HEADER.checked_add(size) != Some(input.len()) {
        return Err(malformed(
            "import object",
            format!(
                "SizeOfData {size} does not match the {} bytes after the header",
                input.len().saturating_sub(HEADER)
            ),
        ));
    }
    let data = &input[HEADER..];
    let mut names = data.split(|&b| b == 0);
    let symbol = names.next().unwrap_or_default();
    let dll = names.next().unwrap_or_default();
    if symbol.is_empty() || dll.is_empty() || data.last() != Some(&0) {
        return Err(malformed(
            "import object",
            "the symbol and DLL names are not two non-empty NUL-terminated strings",
        ));
    }
    Ok(format!(
        "{} from {}",
        String::from_utf8_lossy(symbol),
        String::from_utf8_lossy(dll)
    ))
}

impl Handler for Coff {
    fn name(&self) -> &'static str {
        "coff"
    }

    fn describe(&self) -> &'static str {
        "COFF objects, bigobj objects and short import objects (PE/COFF spec), known machine type and sane headers: clamps TimeDateStamp"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        sniff_kind(head).is_some()
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        // Every kind starts with a known machine, or with 0 (an import or
        // bigobj header, whose machine comes later).
        u16_le(prefix, 0).is_some_and(|m| m != 0 && machine_name(m).is_none())
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!(
                "{} bytes, larger than the {}-byte limit",
                input.len(),
                ctx.settings.max_size
            )));
        }
        let head = &input[..input.len().min(crate::handlers::SNIFF_LEN)];
        let kind = sniff_kind(head)
            .ok_or_else(|| FormatError::malformed("not a COFF object or import object"))?;
        let (stamp_at, what) = match kind {
            Kind::Object => {
                let nsec = usize::from(u16_le(input, 2).unwrap_or_default());
                let symtab = u32_le(input, 8).unwrap_or_default() as usize;
                let nsyms = u32_le(input, 12).unwrap_or_default() as usize;
                check_object(input, HEADER, nsec, symtab, nsyms, SYMBOL)?;
                (4, "COFF header".to_string())
            }
            Kind::BigObj => {
                let nsec = u32_le(input, 44).unwrap_or_default() as usize;
                let symtab = u32_le(input, 48).unwrap_or_default() as usize;
                let nsyms = u32_le(input, 52).unwrap_or_default() as usize;
                check_object(input, BIGOBJ_HEADER, nsec, symtab, nsyms, BIGOBJ_SYMBOL)?;
                (8, "bigobj header".to_string())
            }
            Kind::Import => {
                let names = check_import(input)?;
                (8, format!("import object header ({names})"))
            }
        };
        let old = u32_le(input, stamp_at).unwrap_or_default();
        let new = ctx.epoch_value().clamp_u32(old);
        if new == old {
            return Ok(Outcome::Unchanged);
        }
        let mut bytes = input.to_vec();
        bytes[stamp_at..stamp_at + 4].copy_from_slice(&new.to_le_bytes());
        Ok(Outcome::Rewritten {
            bytes,
            changes: vec![Change::set(
                what,
                "TimeDateStamp",
                stamp(u64::from(old)),
                stamp(u64::from(new)),
            )],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const EPOCH: u64 = 315_532_800;

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(EPOCH);
        Coff.normalize(input, &cfg.context(Path::new("x.o")))
    }

    /// A classic amd64 object: one `.text` section of `code` bytes (`ret`
    /// then `nop`s), one symbol and an empty string table.
    fn object_with(stamp: u32, code: usize) -> Vec<u8> {
        let symtab = 60 + code as u32;
        let mut o = Vec::new();
        o.extend_from_slice(&0x8664u16.to_le_bytes());
        o.extend_from_slice(&1u16.to_le_bytes());
        o.extend_from_slice(&stamp.to_le_bytes());
        o.extend_from_slice(&symtab.to_le_bytes());
        o.extend_from_slice(&1u32.to_le_bytes());
        o.extend_from_slice(&[0, 0, 0, 0]); // optional header size, characteristics
        o.extend_from_slice(b".text\0\0\0");
        o.extend_from_slice(&[0; 8]); // virtual size, address
        o.extend_from_slice(&(code as u32).to_le_bytes());
        o.extend_from_slice(&60u32.to_le_bytes());
        o.extend_from_slice(&[0; 12]);
        o.extend_from_slice(&0x6000_0020u32.to_le_bytes());
        o.push(0xc3);
        o.resize(60 + code, 0x90);
        o.extend_from_slice(b"main\0\0\0\0");
        o.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0x20, 0, 2, 0]);
        o.extend_from_slice(&4u32.to_le_bytes());
        o
    }

    fn object(stamp: u32) -> Vec<u8> {
        object_with(stamp, 4)
    }

    fn import(stamp: u32) -> Vec<u8> {
        let names = b"foo_add\0foo.dll\0";
        let mut o = vec![0, 0, 0xff, 0xff, 0, 0];
        o.extend_from_slice(&0x8664u16.to_le_bytes());
        o.extend_from_slice(&stamp.to_le_bytes());
        o.extend_from_slice(&(names.len() as u32).to_le_bytes());
        o.extend_from_slice(&[0, 0, 0x04, 0]); // hint 0, code, by name
        o.extend_from_slice(names);
        o
    }

    #[test]
    fn the_synthetic_files_are_claimed() {
        assert_eq!(sniff_kind(&object(0)), Some(Kind::Object));
        assert_eq!(sniff_kind(&import(0)), Some(Kind::Import));
    }

    #[test]
    fn object_timestamp_is_clamped_and_nothing_else_moves() {
        let a = object(1_772_600_767);
        let Outcome::Rewritten { bytes, changes } = run(&a).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(u32_le(&bytes, 4), Some(EPOCH as u32));
        assert_eq!(bytes[..4], a[..4]);
        assert_eq!(bytes[8..], a[8..]);
        assert_eq!(
            changes,
            [
                "COFF header: TimeDateStamp 1772600767 (2026-03-04 05:06:07 UTC) -> 315532800 (1980-01-01 00:00:00 UTC)"
            ]
        );
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn earlier_and_zero_timestamps_stay() {
        for t in [0, 1000, EPOCH as u32] {
            assert_eq!(run(&object(t)).unwrap(), Outcome::Unchanged);
            assert_eq!(run(&import(t)).unwrap(), Outcome::Unchanged);
        }
    }

    #[test]
    fn import_timestamp_is_clamped_and_named_in_the_note() {
        let a = import(u32::MAX);
        let Outcome::Rewritten { bytes, changes } = run(&a).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(u32_le(&bytes, 8), Some(EPOCH as u32));
        assert_eq!(bytes[12..], a[12..]);
        assert!(
            changes[0]
                .to_string()
                .starts_with("import object header (foo_add from foo.dll)")
        );
    }

    #[test]
    fn bad_import_sizes_and_names_are_malformed() {
        let a = import(2_000_000_000);
        assert!(run(&a[..a.len() - 1]).is_err(), "short data");
        let mut long = a.clone();
        long.push(0);
        assert!(run(&long).is_err(), "data past SizeOfData");
        let mut one_name = import(2_000_000_000);
        one_name.truncate(HEADER + 8);
        one_name[12..16].copy_from_slice(&8u32.to_le_bytes());
        assert!(matches!(run(&one_name), Err(FormatError::Malformed(m)) if m.contains("names")));
    }

    #[test]
    fn objects_pointing_outside_the_file_are_malformed() {
        let a = object(2_000_000_000);
        let mut sym = a.clone();
        sym[12..16].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(
            sniff_kind(&sym),
            None,
            "a whole file in the head is checked when sniffed"
        );
        // Past the sniffed head, the check falls to normalize.
        let big = object_with(2_000_000_000, 5000);
        assert!(matches!(run(&big), Ok(Outcome::Rewritten { .. })));
        let mut sym = big.clone();
        sym[12..16].copy_from_slice(&100u32.to_le_bytes());
        assert!(matches!(run(&sym), Err(FormatError::Malformed(m)) if m.contains("symbol table")));
        let mut data = big.clone();
        data[20 + 16..20 + 20].copy_from_slice(&6000u32.to_le_bytes());
        assert!(matches!(run(&data), Err(FormatError::Malformed(m)) if m.contains(".text")));
        let mut relocs = big.clone();
        relocs[20 + 24..20 + 28].copy_from_slice(&60u32.to_le_bytes());
        relocs[20 + 32..20 + 34].copy_from_slice(&600u16.to_le_bytes());
        assert!(
            matches!(run(&relocs), Err(FormatError::Malformed(m)) if m.contains("relocations"))
        );
        for cut in [10, 30, 62, 4500, big.len() - 4, big.len() - 1] {
            assert!(run(&big[..cut]).is_err(), "cut at {cut}");
        }
        // Ending right after the symbols, without the string table's size
        // field, is what binutils and LLVM refuse.
        assert!(
            matches!(run(&big[..big.len() - 4]), Err(FormatError::Malformed(m)) if m.contains("string table"))
        );
    }

    #[test]
    fn text_and_images_are_not_claimed() {
        for head in [
            &b"dP this is text about riscv64 objects\n"[..],
            b"db loongarch text\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            b"MZ\x90\0",
            b"\x7fELF\x02\x01\x01\0",
            b"",
        ] {
            assert_eq!(sniff_kind(head), None, "{head:?}");
        }
        let mut image_like = object(0);
        image_like[16] = 0xf0; // an optional header: an image, not an object
        assert_eq!(sniff_kind(&image_like), None);
        let mut bad_name = object(0);
        bad_name[20] = 0x01;
        assert_eq!(sniff_kind(&bad_name), None);
        let mut unknown_machine = object(0);
        unknown_machine[0] = 0x4d;
        assert_eq!(sniff_kind(&unknown_machine), None);
    }

    #[test]
    fn stamps_format_as_utc_dates() {
        assert_eq!(stamp(0), "0 (1970-01-01 00:00:00 UTC)");
        assert_eq!(stamp(951_782_400), "951782400 (2000-02-29 00:00:00 UTC)");
        assert_eq!(
            stamp(u64::from(u32::MAX)),
            "4294967295 (2106-02-07 06:28:15 UTC)"
        );
    }
}
