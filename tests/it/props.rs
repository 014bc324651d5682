//! Property tests per handler: idempotence, convergence (same payload,
//! different noise, same bytes), payload preservation, and no panic on
//! arbitrary bytes.

use std::io::{Read, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder, read::MultiGzDecoder};
use proptest::prelude::*;
use strip_nd::config::Config;
use strip_nd::handlers::{Handler, Outcome, gzip::Gzip};

const EPOCH: u64 = 1_000_000_000;

/// Noise a build can leave in a gzip header. Builds run after the epoch, so
/// their mtimes are at or after it (earlier ones are kept, by design).
#[derive(Debug, Clone)]
struct Noise {
    mtime: u32,
    name: Option<String>,
    comment: Option<String>,
}

fn noise() -> impl Strategy<Value = Noise> {
    (
        (EPOCH as u32)..=u32::MAX,
        proptest::option::of("[a-zA-Z0-9._-]{1,20}"),
        proptest::option::of("[ -~]{0,30}"),
    )
        .prop_map(|(mtime, name, comment)| Noise {
            mtime,
            name,
            comment,
        })
}

fn gz(members: &[Vec<u8>], level: u32, noise: &Noise) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut b = GzBuilder::new().mtime(noise.mtime);
        if let Some(n) = &noise.name {
            b = b.filename(n.as_str());
        }
        if let Some(c) = &noise.comment {
            b = b.comment(c.as_str());
        }
        let mut w = b.write(Vec::new(), Compression::new(level));
        w.write_all(m).unwrap();
        out.extend(w.finish().unwrap());
    }
    out
}

fn normalize(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
    let config = Config::with_epoch(EPOCH);
    Gzip.normalize(input, &config.context(Path::new("p.gz")))
}

fn output(input: &[u8]) -> Vec<u8> {
    normalize(input).unwrap().bytes(input).to_vec()
}

proptest! {
    #[test]
    fn gzip_is_idempotent_convergent_and_keeps_the_payload(
        members in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 1..4),
        level in 0u32..10,
        a in noise(),
        b in noise(),
    ) {
        let x = gz(&members, level, &a);
        let y = gz(&members, level, &b);
        let nx = output(&x);
        let ny = output(&y);
        prop_assert_eq!(&nx, &ny, "same payload, different noise, different bytes");
        prop_assert_eq!(normalize(&nx).unwrap(), Outcome::Unchanged);
        let mut payload = Vec::new();
        MultiGzDecoder::new(&nx[..]).read_to_end(&mut payload).unwrap();
        prop_assert_eq!(payload, members.concat());
        let mtime = u32::from_le_bytes(nx[4..8].try_into().unwrap());
        prop_assert_eq!(u64::from(mtime), EPOCH);
    }

    #[test]
    fn gzip_clamps_but_never_raises_mtimes(mtime in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let x = gz(&[data], 6, &Noise { mtime, name: None, comment: None });
        let nx = output(&x);
        let got = u32::from_le_bytes(nx[4..8].try_into().unwrap());
        prop_assert_eq!(u64::from(got), u64::from(mtime).min(EPOCH));
    }

    #[test]
    fn gzip_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut input = vec![0x1f, 0x8b, 0x08];
        input.extend(tail);
        let _ = normalize(&input);
    }

    #[test]
    fn gzip_never_panics_on_mutated_files(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = gz(&[data], 6, &Noise { mtime: 7, name: Some("n".into()), comment: None });
        for (i, v) in flips {
            let i = i.index(input.len());
            input[i] = v;
        }
        let keep = cut.index(input.len() + 1);
        input.truncate(keep.max(1));
        if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&input) {
            prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
        }
    }
}

/// PE images and COFF objects. Noise goes into the fields the handlers own,
/// located here with goblin and a walk of our own, independently of the
/// handlers, in real images from the corpus; COFF objects are synthesized.
mod pe_coff {
    use std::path::Path;
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use strip_nd::FormatError;
    use strip_nd::config::Config;
    use strip_nd::handlers::{Handler, Outcome, coff::Coff, pe::Pe};

    use super::EPOCH;

    fn run(h: &dyn Handler, input: &[u8]) -> Result<Outcome, FormatError> {
        let config = Config::with_epoch(EPOCH);
        h.normalize(input, &config.context(Path::new("p")))
    }

    fn output(h: &dyn Handler, input: &[u8]) -> Vec<u8> {
        run(h, input).unwrap().bytes(input).to_vec()
    }

    fn u16_at(b: &[u8], at: usize) -> usize {
        usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Stamp,
        Guid,
        Age,
        CheckSum,
    }

    impl Kind {
        fn width(self) -> usize {
            if self == Kind::Guid { 16 } else { 4 }
        }
    }

    struct Image {
        bytes: Vec<u8>,
        fields: Vec<(usize, Kind)>,
    }

    impl Image {
        fn load(name: &str) -> Self {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus/pe")
                .join(name);
            let bytes = std::fs::read(path).unwrap();
            let pe = goblin::pe::PE::parse(&bytes).unwrap();
            let opt = pe.header.optional_header.unwrap();
            let fa = opt.windows_fields.file_alignment;
            let opts = goblin::pe::options::ParseOptions::default();
            let off = |rva: u32| {
                goblin::pe::utils::find_offset(rva as usize, &pe.sections, fa, &opts).unwrap()
            };
            let lfanew = pe.header.dos_header.pe_pointer as usize;
            let mut fields = vec![
                (lfanew + 8, Kind::Stamp),
                (lfanew + 24 + 64, Kind::CheckSum),
            ];
            let dirs = &opt.data_directories;
            if let Some(e) = dirs.get_export_table() {
                fields.push((off(e.virtual_address) + 4, Kind::Stamp));
            }
            if let Some(d) = dirs.get_debug_table() {
                let at = off(d.virtual_address);
                for i in 0..d.size as usize / 28 {
                    let e = at + 28 * i;
                    fields.push((e + 4, Kind::Stamp));
                    let ptr = u32_at(&bytes, e + 24) as usize;
                    if u32_at(&bytes, e + 12) == 2 && &bytes[ptr..ptr + 4] == b"RSDS" {
                        fields.push((ptr + 4, Kind::Guid));
                        fields.push((ptr + 20, Kind::Age));
                    }
                }
            }
            if let Some(r) = dirs.get_resource_table() {
                let base = off(r.virtual_address);
                let mut todo = vec![0];
                while let Some(rel) = todo.pop() {
                    let table = base + rel;
                    fields.push((table + 4, Kind::Stamp));
                    for i in 0..u16_at(&bytes, table + 12) + u16_at(&bytes, table + 14) {
                        let target = u32_at(&bytes, table + 16 + 8 * i + 4);
                        if target & 0x8000_0000 != 0 {
                            todo.push((target & 0x7fff_ffff) as usize);
                        }
                    }
                }
            }
            Self { bytes, fields }
        }

        fn in_field(&self, i: usize) -> bool {
            self.fields
                .iter()
                .any(|&(at, k)| (at..at + k.width()).contains(&i))
        }

        fn with(&self, n: &PeNoise) -> Vec<u8> {
            let mut b = self.bytes.clone();
            let mut stamps = n.stamps.iter().cycle();
            for &(at, kind) in &self.fields {
                let value = match kind {
                    Kind::Stamp => stamps.next().unwrap().to_le_bytes().to_vec(),
                    Kind::Guid => n.guid.to_vec(),
                    Kind::Age => n.age.to_le_bytes().to_vec(),
                    Kind::CheckSum => n.checksum.to_le_bytes().to_vec(),
                };
                b[at..at + kind.width()].copy_from_slice(&value);
            }
            b
        }
    }

    /// A DLL (exports, resources, `CodeView`), a PE32+ and a PE32 exe.
    static IMAGES: LazyLock<Vec<Image>> = LazyLock::new(|| {
        ["foo.1.dll", "hello.1.exe", "hello32.1.exe"]
            .iter()
            .map(|n| Image::load(n))
            .collect()
    });

    #[derive(Debug, Clone)]
    struct PeNoise {
        stamps: Vec<u32>,
        guid: [u8; 16],
        age: u32,
        checksum: u32,
    }

    fn pe_noise(stamps: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = PeNoise> {
        (
            proptest::collection::vec(stamps, 8),
            any::<[u8; 16]>(),
            any::<u32>(),
            1..=u32::MAX,
        )
            .prop_map(|(stamps, guid, age, checksum)| PeNoise {
                stamps,
                guid,
                age,
                checksum,
            })
    }

    /// The PE checksum as the spec words it, folding after every addition: a
    /// second implementation to hold the handler's against.
    fn spec_checksum(b: &[u8], field: usize) -> u32 {
        let byte = |i: usize| {
            if (field..field + 4).contains(&i) {
                0
            } else {
                b.get(i).copied().unwrap_or(0)
            }
        };
        let mut sum: u32 = 0;
        for i in (0..b.len()).step_by(2) {
            sum += u32::from(u16::from_le_bytes([byte(i), byte(i + 1)]));
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum + b.len() as u32
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn pe_is_idempotent_convergent_and_keeps_everything_else(
            which in 0usize..3,
            a in pe_noise(EPOCH as u32..=u32::MAX),
            b in pe_noise(EPOCH as u32..=u32::MAX),
        ) {
            let img = &IMAGES[which];
            let nx = output(&Pe, &img.with(&a));
            let ny = output(&Pe, &img.with(&b));
            prop_assert!(nx == ny, "same image, different noise, different bytes");
            prop_assert_eq!(run(&Pe, &nx).unwrap(), Outcome::Unchanged);
            for (i, (p, q)) in img.bytes.iter().zip(&nx).enumerate() {
                prop_assert!(p == q || img.in_field(i), "byte {:#x} changed outside the fields", i);
            }
            for &(at, kind) in &img.fields {
                match kind {
                    Kind::Stamp => prop_assert_eq!(u64::from(u32_at(&nx, at)), EPOCH),
                    Kind::Age => prop_assert_eq!(u32_at(&nx, at), 1),
                    Kind::CheckSum => prop_assert_eq!(u32_at(&nx, at), spec_checksum(&nx, at)),
                    Kind::Guid => prop_assert_ne!(&nx[at..at + 16], &a.guid[..]),
                }
            }
        }

        #[test]
        fn pe_clamps_but_never_raises_timestamps(which in 0usize..3, n in pe_noise(0..=u32::MAX)) {
            let img = &IMAGES[which];
            let x = img.with(&n);
            let nx = output(&Pe, &x);
            for &(at, kind) in &img.fields {
                if kind == Kind::Stamp {
                    let before = u64::from(u32_at(&x, at));
                    prop_assert_eq!(u64::from(u32_at(&nx, at)), before.min(EPOCH));
                }
            }
        }

        #[test]
        fn pe_never_panics_on_mutated_images(
            which in 0usize..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut input = IMAGES[which].bytes.clone();
            // Most flips land in the headers, where the parsing happens.
            for (i, v) in flips {
                let i = i.index(if v % 2 == 0 { 0x400 } else { input.len() });
                input[i] = v;
            }
            input.truncate(cut.index(input.len() + 1).max(1));
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Pe, &input) {
                prop_assert_eq!(run(&Pe, &bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn pe_never_panics_on_arbitrary_bytes(
            lfanew in 64u32..512,
            tail in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut input = vec![0; lfanew as usize];
            input[..2].copy_from_slice(b"MZ");
            input[0x3c..0x40].copy_from_slice(&lfanew.to_le_bytes());
            input.extend_from_slice(b"PE\0\0");
            input.extend(tail);
            let _ = run(&Pe, &input);
        }
    }

    /// A classic COFF object: `sections` as raw data, `symbols` symbols, an
    /// empty string table.
    fn object(machine: u16, stamp: u32, sections: &[Vec<u8>], symbols: u32) -> Vec<u8> {
        let n = sections.len();
        let mut data_at = 20 + 40 * n;
        let symtab = data_at + sections.iter().map(Vec::len).sum::<usize>();
        let mut o = Vec::new();
        o.extend_from_slice(&machine.to_le_bytes());
        o.extend_from_slice(&(n as u16).to_le_bytes());
        o.extend_from_slice(&stamp.to_le_bytes());
        o.extend_from_slice(&(symtab as u32).to_le_bytes());
        o.extend_from_slice(&symbols.to_le_bytes());
        o.extend_from_slice(&[0; 4]);
        for (i, s) in sections.iter().enumerate() {
            o.extend_from_slice(format!(".s{i}\0\0\0\0\0").as_bytes()[..8].as_ref());
            o.extend_from_slice(&[0; 8]);
            o.extend_from_slice(&(s.len() as u32).to_le_bytes());
            let at = if s.is_empty() { 0 } else { data_at as u32 };
            o.extend_from_slice(&at.to_le_bytes());
            o.extend_from_slice(&[0; 12]);
            o.extend_from_slice(&0x4000_0040u32.to_le_bytes());
            data_at += s.len();
        }
        for s in sections {
            o.extend_from_slice(s);
        }
        for i in 0..symbols {
            o.extend_from_slice(format!("sym{i:04}\0").as_bytes()[..8].as_ref());
            o.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 2, 0]);
        }
        o.extend_from_slice(&4u32.to_le_bytes());
        o
    }

    fn import(machine: u16, stamp: u32, symbol: &str, dll: &str, ty: u16) -> Vec<u8> {
        let names = format!("{symbol}\0{dll}\0");
        let mut o = vec![0, 0, 0xff, 0xff, 0, 0];
        o.extend_from_slice(&machine.to_le_bytes());
        o.extend_from_slice(&stamp.to_le_bytes());
        o.extend_from_slice(&(names.len() as u32).to_le_bytes());
        o.extend_from_slice(&[0, 0]);
        o.extend_from_slice(&ty.to_le_bytes());
        o.extend_from_slice(names.as_bytes());
        o
    }

    fn machine() -> impl Strategy<Value = u16> {
        prop::sample::select(vec![0x014c_u16, 0x8664, 0x01c4, 0xaa64])
    }

    proptest! {
        #[test]
        fn coff_objects_are_idempotent_convergent_and_keep_the_payload(
            machine in machine(),
            sections in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..5),
            symbols in 0u32..20,
            a in any::<u32>(),
            b in any::<u32>(),
        ) {
            let config = Config::with_epoch(EPOCH);
            let ctx = config.context(Path::new("x.o"));
            let x = object(machine, a, &sections, symbols);
            prop_assert!(Coff.sniff(&x, &ctx) && !Pe.sniff(&x, &ctx));
            let nx = output(&Coff, &x);
            prop_assert_eq!(u64::from(u32_at(&nx, 4)), u64::from(a).min(EPOCH));
            prop_assert_eq!(&nx[..4], &x[..4]);
            prop_assert_eq!(&nx[8..], &x[8..]);
            prop_assert_eq!(run(&Coff, &nx).unwrap(), Outcome::Unchanged);
            let (late_a, late_b) = (a.max(EPOCH as u32), b.max(EPOCH as u32));
            prop_assert_eq!(
                output(&Coff, &object(machine, late_a, &sections, symbols)),
                output(&Coff, &object(machine, late_b, &sections, symbols))
            );
        }

        #[test]
        fn coff_import_objects_are_idempotent_convergent_and_keep_the_names(
            machine in machine(),
            symbol in "[A-Za-z_][A-Za-z0-9_@?]{0,40}",
            dll in "[a-z0-9_]{1,12}\\.dll",
            ty in prop::sample::select(vec![0x0000_u16, 0x0004, 0x0005, 0x000a, 0x000c]),
            a in any::<u32>(),
            b in EPOCH as u32..=u32::MAX,
        ) {
            let x = import(machine, a, &symbol, &dll, ty);
            let nx = output(&Coff, &x);
            prop_assert_eq!(u64::from(u32_at(&nx, 8)), u64::from(a).min(EPOCH));
            prop_assert_eq!(&nx[..8], &x[..8]);
            prop_assert_eq!(&nx[12..], &x[12..]);
            prop_assert_eq!(run(&Coff, &nx).unwrap(), Outcome::Unchanged);
            let late = output(&Coff, &import(machine, b, &symbol, &dll, ty));
            let epoch = output(&Coff, &import(machine, EPOCH as u32, &symbol, &dll, ty));
            prop_assert_eq!(late, epoch);
        }

        #[test]
        fn coff_never_panics_on_arbitrary_bytes(
            head in prop::sample::select(vec![
                vec![0x64_u8, 0x86, 2, 0],
                vec![0, 0, 0xff, 0xff, 0, 0, 0x64, 0x86],
                vec![0, 0, 0xff, 0xff, 2, 0, 0x64, 0x86],
            ]),
            tail in proptest::collection::vec(any::<u8>(), 0..1024),
        ) {
            let mut input = head;
            input.extend(tail);
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Coff, &input) {
                prop_assert_eq!(run(&Coff, &bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn coff_never_panics_on_mutated_objects(
            sections in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut input = object(0x8664, 2_000_000_000, &sections, 3);
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            input.truncate(cut.index(input.len() + 1).max(1));
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Coff, &input) {
                prop_assert_eq!(run(&Coff, &bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }
}
