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
    let config = Config::with_epoch(EPOCH).panicking();
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

// ---- pyc: marshal trees with shared objects, serialized with random FLAG_REF noise ----

mod pyc {
    use std::path::Path;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::{Handler, Outcome, pyc::Pyc};

    const EPOCH: u64 = 1_000_000_000;
    /// Final magics of 3.6 to 3.14 and pre-release ones of each header and
    /// layout (3390: 12-byte header, 3401: the 3.6 layout with PEP 552).
    const MAGICS: [u16; 15] = [
        3379, 3394, 3413, 3425, 3439, 3495, 3531, 3571, 3627, 3372, 3390, 3401, 3430, 3509, 3608,
    ];

    /// The header up to the mtime: 12 bytes before 3392 (no flags word).
    fn magic_and_flags(magic: u16, flags: u32) -> Vec<u8> {
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(b"\r\n");
        if magic >= 3392 {
            h.extend_from_slice(&flags.to_le_bytes());
        }
        h
    }

    /// A marshal value; `Ref(k)` shares the k-th (mod count) object written before it.
    #[derive(Debug, Clone)]
    enum Node {
        Int(i32),
        Str(String),
        Tuple(Vec<Node>),
        Ref(usize),
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Node::Int),
            "[a-z]{0,6}".prop_map(Node::Str),
            any::<usize>().prop_map(Node::Ref),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Node::Tuple)
        })
    }

    /// Walks `n` in stream order, numbering shareable objects and resolving
    /// each `Ref` to one of them (`None` when none precedes it).
    fn resolve(n: &Node, count: &mut usize, targets: &mut Vec<Option<usize>>) {
        match n {
            Node::Ref(k) => targets.push((*count > 0).then(|| k % *count)),
            Node::Tuple(items) => {
                *count += 1;
                for i in items {
                    resolve(i, count, targets);
                }
            }
            _ => *count += 1,
        }
    }

    /// Serializes `n`: an object is flagged when referenced or when `noise`
    /// says so; references use the reader's table numbering.
    struct Writer<'a> {
        referenced: &'a [bool],
        noise: &'a [bool],
        targets: &'a [Option<usize>],
        obj: usize,
        refs: usize,
        /// Table slot of each flagged object, by object number.
        slot: Vec<Option<u32>>,
        next_slot: u32,
        out: Vec<u8>,
    }

    impl Writer<'_> {
        fn type_byte(&mut self, t: u8) {
            let o = self.obj;
            self.obj += 1;
            let flag = self.referenced[o] || self.noise[o % self.noise.len()];
            if flag {
                self.slot[o] = Some(self.next_slot);
                self.next_slot += 1;
                self.out.push(t | 0x80);
            } else {
                self.out.push(t);
            }
        }

        fn write(&mut self, n: &Node) {
            match n {
                Node::Int(v) => {
                    self.type_byte(b'i');
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
                Node::Str(s) => {
                    self.type_byte(b'z');
                    self.out.push(s.len() as u8);
                    self.out.extend_from_slice(s.as_bytes());
                }
                Node::Tuple(items) => {
                    self.type_byte(b')');
                    self.out.push(items.len() as u8);
                    for i in items {
                        self.write(i);
                    }
                }
                Node::Ref(_) => {
                    let target = self.targets[self.refs];
                    self.refs += 1;
                    match target {
                        Some(t) => {
                            self.out.push(b'r');
                            self.out
                                .extend_from_slice(&self.slot[t].unwrap().to_le_bytes());
                        }
                        None => self.out.push(b'N'),
                    }
                }
            }
        }
    }

    fn pyc(magic: u16, mtime: u32, tree: &Node, noise: &[bool]) -> Vec<u8> {
        let mut count = 0;
        let mut targets = Vec::new();
        resolve(tree, &mut count, &mut targets);
        let mut referenced = vec![false; count];
        for t in targets.iter().flatten() {
            referenced[*t] = true;
        }
        let mut w = Writer {
            referenced: &referenced,
            noise,
            targets: &targets,
            obj: 0,
            refs: 0,
            slot: vec![None; count],
            next_slot: 0,
            out: Vec::new(),
        };
        w.out = magic_and_flags(magic, 0);
        w.out.extend_from_slice(&mtime.to_le_bytes());
        w.out.extend_from_slice(&7u32.to_le_bytes());
        // importlib loads only a code object: the tree is its one constant.
        let (ints, py311) = match magic {
            ..3413 => (5, false),
            3413..3494 => (6, false),
            _ => (5, true),
        };
        w.out.push(b'c');
        w.out.extend(std::iter::repeat_n(0, 4 * ints));
        w.out.extend_from_slice(b"s\0\0\0\0)\x01"); // co_code, co_consts
        w.write(tree);
        let rest: &[u8] = if py311 {
            // names, localsplusnames, localspluskinds, filename, name,
            // qualname, firstlineno, linetable, exceptiontable
            b")\0)\0s\0\0\0\0z\0z\0z\0\0\0\0\0s\0\0\0\0s\0\0\0\0"
        } else {
            // names, varnames, freevars, cellvars, filename, name,
            // firstlineno, lnotab
            b")\0)\0)\0)\0z\0z\0\0\0\0\0s\0\0\0\0"
        };
        w.out.extend_from_slice(rest);
        w.out
    }

    fn normalize(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        Pyc.normalize(input, &config.context(Path::new("m.pyc")))
    }

    proptest! {
        #[test]
        fn pyc_is_idempotent_convergent_and_keeps_the_objects(
            tree in node(),
            magic in proptest::sample::select(&MAGICS[..]),
            a in (EPOCH as u32.., proptest::collection::vec(any::<bool>(), 1..8)),
            b in (EPOCH as u32.., proptest::collection::vec(any::<bool>(), 1..8)),
        ) {
            let x = pyc(magic, a.0, &tree, &a.1);
            let y = pyc(magic, b.0, &tree, &b.1);
            // The canonical form: only referenced objects flagged, mtime clamped.
            let want = pyc(magic, EPOCH as u32, &tree, &[false]);
            let nx = normalize(&x).unwrap().bytes(&x).to_vec();
            let ny = normalize(&y).unwrap().bytes(&y).to_vec();
            prop_assert_eq!(&nx, &want);
            prop_assert_eq!(&ny, &want);
            prop_assert_eq!(normalize(&nx).unwrap(), Outcome::Unchanged);
        }

        #[test]
        fn pyc_never_panics_on_arbitrary_bytes(
            magic in proptest::sample::select(&MAGICS[..]),
            flags in 0u32..4,
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut input = magic_and_flags(magic, flags);
            input.extend(tail);
            if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&input) {
                prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }
}

/// ar, tar and cpio: archives written here from the same members with
/// different noise (clocks, owners, inode numbers, and for tar the member
/// order) must normalize to the same bytes, keep every member's data, and be
/// fixed points; arbitrary bytes behind each magic must never panic.
mod archives {
    use std::collections::BTreeMap;
    use std::path::Path;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::{Handler, Outcome, ar::Ar, cpio::Cpio, tar::Tar};

    const EPOCH: u64 = 1_000_000_000;

    fn run(h: &dyn Handler, input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        h.normalize(input, &config.context(Path::new("p")))
    }

    fn output(h: &dyn Handler, input: &[u8]) -> Vec<u8> {
        run(h, input).unwrap().bytes(input).to_vec()
    }

    /// Distinct member names with their contents.
    fn members() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
        proptest::collection::btree_map(
            "[a-z]{1,8}",
            proptest::collection::vec(any::<u8>(), 0..300),
            1..6,
        )
    }

    /// What one build leaves: a clock after the epoch, owners, inode numbers.
    #[derive(Debug, Clone)]
    struct Noise {
        mtime: u64,
        uid: u32,
        gid: u32,
        inode: u32,
    }

    fn noise() -> impl Strategy<Value = Noise> {
        (
            EPOCH..EPOCH * 4,
            0u32..65_535,
            0u32..65_535,
            1u32..1_000_000,
        )
            .prop_map(|(mtime, uid, gid, inode)| Noise {
                mtime,
                uid,
                gid,
                inode,
            })
    }

    fn ar(members: &BTreeMap<String, Vec<u8>>, n: &Noise) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            let h = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8o}{:<10}`\n",
                format!("{name}/"),
                n.mtime,
                n.uid,
                n.gid,
                0o100_644,
                data.len()
            );
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// Member names and data, read with the layout alone.
    fn ar_members(a: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut pos = 8;
        while pos < a.len() {
            let h = &a[pos..pos + 60];
            let name = String::from_utf8_lossy(&h[..16])
                .trim_end()
                .trim_end_matches('/')
                .to_string();
            let size: usize = String::from_utf8_lossy(&h[48..58]).trim().parse().unwrap();
            out.insert(name, a[pos + 60..pos + 60 + size].to_vec());
            pos += 60 + size + size % 2;
        }
        out
    }

    fn octal(field: &mut [u8], v: u64) {
        let w = field.len() - 1;
        field[..w].copy_from_slice(format!("{v:0w$o}").as_bytes());
        field[w] = 0;
    }

    /// A GNU-format tar of `members` in the order given.
    fn tar(members: &[(&String, &Vec<u8>)], n: &Noise) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in members {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            octal(&mut h[100..108], 0o644);
            octal(&mut h[108..116], u64::from(n.uid));
            octal(&mut h[116..124], u64::from(n.gid));
            octal(&mut h[124..136], data.len() as u64);
            octal(&mut h[136..148], n.mtime);
            h[156] = b'0';
            h[257..265].copy_from_slice(b"ustar  \0");
            h[265..270].copy_from_slice(b"build");
            h[148..156].fill(b' ');
            let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(512), 0);
        }
        out.resize((out.len() + 1024).next_multiple_of(10240), 0);
        out
    }

    fn compressed_handler(codec: u8) -> &'static dyn Handler {
        use strip_nd::handlers::compressed::{BZIP2, XZ, ZSTD};
        match codec {
            0 => &XZ,
            1 => &BZIP2,
            _ => &ZSTD,
        }
    }

    /// `data` compressed by the codec's library, at `level`: xz with a CRC32
    /// or SHA-256 check (`flag`), bzip2 at that block size, zstd with or
    /// without its checksum.
    fn compress(codec: u8, level: u32, flag: bool, data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match codec {
            0 => {
                let check = if flag {
                    liblzma::stream::Check::Crc32
                } else {
                    liblzma::stream::Check::Sha256
                };
                let s = liblzma::stream::Stream::new_easy_encoder(level, check).unwrap();
                let mut w = liblzma::write::XzEncoder::new_stream(Vec::new(), s);
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
            1 => {
                let mut w =
                    bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(level));
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
            _ => {
                let mut w =
                    zstd::stream::Encoder::new(Vec::new(), i32::try_from(level).unwrap()).unwrap();
                w.include_checksum(flag).unwrap();
                w.write_all(data).unwrap();
                w.finish().unwrap()
            }
        }
    }

    fn decompress(codec: u8, data: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        match codec {
            0 => liblzma::read::XzDecoder::new(data).read_to_end(&mut out),
            1 => bzip2::read::BzDecoder::new(data).read_to_end(&mut out),
            _ => zstd::stream::Decoder::new(data)
                .unwrap()
                .read_to_end(&mut out),
        }
        .unwrap();
        out
    }

    fn tar_members(a: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while a[pos..pos + 512].iter().any(|&b| b != 0) {
            let h = &a[pos..pos + 512];
            let name =
                String::from_utf8_lossy(h[..100].split(|&b| b == 0).next().unwrap()).into_owned();
            let size =
                usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
            out.push((name, a[pos + 512..pos + 512 + size].to_vec()));
            pos += 512 + size.next_multiple_of(512);
        }
        out
    }

    /// The cpio header layouts the handler reads.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum CpioFormat {
        Newc,
        Crc,
        Odc,
        Bin,
    }

    /// What the cpio builders write for one entry besides its name and data.
    struct CpioHead {
        mode: u64,
        ino: u64,
        nlink: u64,
        uid: u64,
        gid: u64,
        mtime: u64,
    }

    fn cpio_entry(out: &mut Vec<u8>, f: CpioFormat, name: &str, h: &CpioHead, data: &[u8]) {
        let namesize = name.len() + 1;
        match f {
            CpioFormat::Newc | CpioFormat::Crc => {
                let (magic, check) = if f == CpioFormat::Crc && h.mode & 0o170_000 == 0o100_000 {
                    ("070702", data.iter().map(|&b| u64::from(b)).sum::<u64>())
                } else {
                    (
                        if f == CpioFormat::Crc {
                            "070702"
                        } else {
                            "070701"
                        },
                        0,
                    )
                };
                let fields = [
                    h.ino,
                    h.mode,
                    h.uid,
                    h.gid,
                    h.nlink,
                    h.mtime,
                    data.len() as u64,
                    8,
                    1,
                    0,
                    0,
                    namesize as u64,
                    check,
                ];
                out.extend_from_slice(magic.as_bytes());
                for v in fields {
                    out.extend_from_slice(format!("{v:08X}").as_bytes());
                }
            }
            CpioFormat::Odc => out.extend_from_slice(
                format!(
                    "070707{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:011o}{:06o}{:011o}",
                    0o777,
                    h.ino,
                    h.mode,
                    h.uid,
                    h.gid,
                    h.nlink,
                    0,
                    h.mtime,
                    namesize,
                    data.len()
                )
                .as_bytes(),
            ),
            CpioFormat::Bin => {
                let size = data.len() as u64;
                let words = [
                    0o070_707,
                    0o777,
                    h.ino,
                    h.mode,
                    h.uid,
                    h.gid,
                    h.nlink,
                    0,
                    h.mtime >> 16,
                    h.mtime & 0xffff,
                    namesize as u64,
                    size >> 16,
                    size & 0xffff,
                ];
                for w in words {
                    out.extend_from_slice(&u16::try_from(w).unwrap().to_le_bytes());
                }
            }
        }
        let align = |n: usize| match f {
            CpioFormat::Newc | CpioFormat::Crc => n.next_multiple_of(4),
            CpioFormat::Odc => n,
            CpioFormat::Bin => n.next_multiple_of(2),
        };
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(align(out.len()), 0);
        out.extend_from_slice(data);
        out.resize(align(out.len()), 0);
    }

    /// The name of the hard link added to the first member, and the directory
    /// and the files around it that test the sort rule (the digits keep them
    /// apart from the generated names).
    fn link_name(members: &BTreeMap<String, Vec<u8>>) -> String {
        format!("{}1", members.keys().next().unwrap())
    }
    const CPIO_DIR: &str = "0d";
    const CPIO_IN_DIR: &str = "0d/f";
    const CPIO_BESIDE_DIR: &str = "0d.x";

    /// A cpio of `members` in format `f`, written in the order `order` gives
    /// (a permutation of the entries), with the first member hard-linked
    /// under a second name and a directory holding a file. In newc and crc the
    /// link group's data goes with its last link in that order, as GNU cpio
    /// writes it; in odc and bin with every link.
    fn cpio(members: &BTreeMap<String, Vec<u8>>, n: &Noise, f: CpioFormat, order: u64) -> Vec<u8> {
        let first = members.keys().next().unwrap().clone();
        let link = link_name(members);
        let mut list: Vec<(String, u64, Vec<u8>)> = members
            .iter()
            .map(|(k, v)| (k.clone(), 0o100_644, v.clone()))
            .collect();
        list.push((link.clone(), 0o100_644, members[&first].clone()));
        list.push((CPIO_DIR.to_string(), 0o040_755, Vec::new()));
        list.push((CPIO_IN_DIR.to_string(), 0o100_600, b"in".to_vec()));
        list.push((CPIO_BESIDE_DIR.to_string(), 0o100_600, b"beside".to_vec()));
        // A deterministic shuffle driven by the generated seed.
        let mut s = order | 1;
        for i in (1..list.len()).rev() {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            list.swap(i, (s >> 33) as usize % (i + 1));
        }
        let last_link = list
            .iter()
            .rposition(|(k, ..)| *k == first || *k == link)
            .unwrap();
        let inode = u64::from(n.inode) % 60_000;
        let mut out = Vec::new();
        for (i, (name, mode, data)) in list.iter().enumerate() {
            let linked = *name == first || *name == link;
            let h = CpioHead {
                mode: *mode,
                ino: if linked { inode } else { inode + 1 + i as u64 },
                nlink: if linked { 2 } else { 1 },
                uid: u64::from(n.uid),
                gid: u64::from(n.gid),
                mtime: n.mtime,
            };
            let carries =
                !linked || i == last_link || !matches!(f, CpioFormat::Newc | CpioFormat::Crc);
            cpio_entry(&mut out, f, name, &h, if carries { data } else { &[] });
        }
        let trailer = CpioHead {
            mode: 0,
            ino: 0,
            nlink: 1,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        cpio_entry(&mut out, f, "TRAILER!!!", &trailer, &[]);
        out.resize(out.len().next_multiple_of(512), 0);
        out
    }

    /// Every entry's name and data, in archive order, read with the layout alone.
    fn cpio_entries(a: &[u8], f: CpioFormat) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let (head, namesize, size) = match f {
                CpioFormat::Newc | CpioFormat::Crc => {
                    let field = |i: usize| {
                        let at = pos + 6 + 8 * i;
                        usize::from_str_radix(std::str::from_utf8(&a[at..at + 8]).unwrap(), 16)
                            .unwrap()
                    };
                    (110, field(11), field(6))
                }
                CpioFormat::Odc => {
                    let field = |at: usize, len: usize| {
                        let at = pos + at;
                        usize::from_str_radix(std::str::from_utf8(&a[at..at + len]).unwrap(), 8)
                            .unwrap()
                    };
                    (76, field(59, 6), field(65, 11))
                }
                CpioFormat::Bin => {
                    let word = |i: usize| {
                        usize::from(u16::from_le_bytes([a[pos + 2 * i], a[pos + 2 * i + 1]]))
                    };
                    (26, word(10), word(11) << 16 | word(12))
                }
            };
            let align = |n: usize| match f {
                CpioFormat::Newc | CpioFormat::Crc => n.next_multiple_of(4),
                CpioFormat::Odc => n,
                CpioFormat::Bin => n.next_multiple_of(2),
            };
            let name =
                String::from_utf8_lossy(&a[pos + head..pos + head + namesize - 1]).into_owned();
            let data = align(pos + head + namesize);
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((name, a[data..data + size].to_vec()));
            pos = align(data + size);
        }
    }

    fn cpio_format() -> impl Strategy<Value = CpioFormat> {
        prop_oneof![
            Just(CpioFormat::Newc),
            Just(CpioFormat::Crc),
            Just(CpioFormat::Odc),
            Just(CpioFormat::Bin),
        ]
    }

    proptest! {
        #[test]
        fn ar_is_idempotent_convergent_and_keeps_the_members(m in members(), a in noise(), b in noise()) {
            let (x, y) = (ar(&m, &a), ar(&m, &b));
            let nx = output(&Ar, &x);
            prop_assert_eq!(&nx, &output(&Ar, &y), "same members, different noise, different bytes");
            prop_assert_eq!(run(&Ar, &nx).unwrap(), Outcome::Unchanged);
            prop_assert_eq!(ar_members(&nx), m);
            prop_assert!(String::from_utf8_lossy(&nx[8 + 16..8 + 28]).trim() == EPOCH.to_string());
        }

        /// xz, bzip2 and zstd around a noisy tar, at the settings each
        /// codec can announce: the same members converge whatever the
        /// noise, the output is a fixed point, keeps the members and the
        /// announced settings, and two streams are never rewritten.
        #[test]
        fn compressed_tars_are_idempotent_convergent_and_keep_members_and_settings(
            m in members(),
            a in noise(),
            b in noise(),
            codec in 0u8..3,
            level in 1u32..10,
            flag in any::<bool>(),
        ) {
            let pack = |t: &[u8]| compress(codec, level, flag, t);
            let handler = compressed_handler(codec);
            let sorted: Vec<_> = m.iter().collect();
            let (x, y) = (pack(&tar(&sorted, &a)), pack(&tar(&sorted, &b)));
            let nx = output(handler, &x);
            prop_assert_ne!(&nx, &x, "the tar inside is noisy");
            prop_assert_eq!(&nx, &output(handler, &y), "same members, different noise, different bytes");
            prop_assert_eq!(run(handler, &nx).unwrap(), Outcome::Unchanged);
            let want: Vec<(String, Vec<u8>)> = m.clone().into_iter().collect();
            prop_assert_eq!(tar_members(&decompress(codec, &nx)), want);
            // The settings the stream announced: xz check, bzip2 block
            // size, zstd checksum flag.
            match codec {
                0 => prop_assert_eq!(nx[7], x[7]),
                1 => prop_assert_eq!(nx[3], x[3]),
                _ => prop_assert_eq!(nx[4] & 0x04, x[4] & 0x04),
            }
            let two = [x.clone(), pack(&[0; 512])].concat();
            prop_assert!(matches!(run(handler, &two), Err(strip_nd::FormatError::Unsupported(_))));
        }

        #[test]
        fn compressed_handlers_never_panic_on_arbitrary_or_mutated_bytes(
            codec in 0u8..3,
            tail in proptest::collection::vec(any::<u8>(), 0..512),
            m in members(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let handler = compressed_handler(codec);
            let magic: &[u8] = match codec {
                0 => &[0xfd, b'7', b'z', b'X', b'Z', 0],
                1 => b"BZh91AY&SY",
                _ => &[0x28, 0xb5, 0x2f, 0xfd],
            };
            let _ = run(handler, &[magic, &tail].concat());
            let sorted: Vec<_> = m.iter().collect();
            let n = Noise { mtime: EPOCH * 2, uid: 1, gid: 1, inode: 1 };
            let mut input = compress(codec, 6, true, &tar(&sorted, &n));
            for (at, b) in flips {
                let i = at.index(input.len());
                input[i] = b;
            }
            input.truncate(cut.index(input.len() + 1));
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(handler, &input) {
                prop_assert_eq!(run(handler, &bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn tar_is_idempotent_convergent_whatever_the_order_and_keeps_the_members(
            m in members(),
            a in noise(),
            b in noise(),
            order in Just(()).prop_perturb(|(), mut rng| rng.random::<u64>()),
        ) {
            let sorted: Vec<_> = m.iter().collect();
            let mut shuffled = sorted.clone();
            // A deterministic shuffle driven by the generated seed.
            let mut s = order | 1;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let nx = output(&Tar, &tar(&sorted, &a));
            prop_assert_eq!(&nx, &output(&Tar, &tar(&shuffled, &b)), "different noise or order, different bytes");
            prop_assert_eq!(run(&Tar, &nx).unwrap(), Outcome::Unchanged);
            let want: Vec<(String, Vec<u8>)> = m.into_iter().collect();
            prop_assert_eq!(tar_members(&nx), want);
        }

        #[test]
        fn cpio_is_idempotent_convergent_whatever_the_order_and_keeps_the_members(
            m in members(),
            f in cpio_format(),
            a in noise(),
            b in noise(),
            orders in Just(()).prop_perturb(|(), mut rng| (rng.random::<u64>(), rng.random::<u64>())),
        ) {
            let nx = output(&Cpio, &cpio(&m, &a, f, orders.0));
            prop_assert_eq!(&nx, &output(&Cpio, &cpio(&m, &b, f, orders.1)), "different noise or order, different bytes");
            prop_assert_eq!(run(&Cpio, &nx).unwrap(), Outcome::Unchanged);
            // Sorted by component, the directory before its file; the
            // hard-link group's data on its last link in newc, on both in
            // odc and bin.
            let link = link_name(&m);
            let first = m.keys().next().unwrap().clone();
            let newc = matches!(f, CpioFormat::Newc | CpioFormat::Crc);
            let mut want = vec![
                (CPIO_DIR.to_string(), Vec::new()),
                (CPIO_IN_DIR.to_string(), b"in".to_vec()),
                (CPIO_BESIDE_DIR.to_string(), b"beside".to_vec()),
            ];
            for (k, v) in &m {
                let v = if *k == first && newc { Vec::new() } else { v.clone() };
                want.push((k.clone(), v));
                if *k == first {
                    want.push((link.clone(), m[k].clone()));
                }
            }
            prop_assert_eq!(cpio_entries(&nx, f), want);
        }

        #[test]
        fn archive_handlers_never_panic_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let mut a = b"!<arch>\n".to_vec();
            a.extend_from_slice(&tail);
            let _ = run(&Ar, &a);
            let mut t = tail.clone();
            t.resize(t.len().max(265), 0);
            t[257..265].copy_from_slice(b"ustar  \0");
            let _ = run(&Tar, &t);
            for magic in [&b"070701"[..], b"070707", b"\xc7\x71", b"\x71\xc7"] {
                let mut c = magic.to_vec();
                c.extend_from_slice(&tail);
                let _ = run(&Cpio, &c);
            }
        }

        #[test]
        fn archive_handlers_never_panic_on_mutated_archives(
            m in members(),
            n in noise(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let sorted: Vec<_> = m.iter().collect();
            for (h, mut input) in [
                (&Ar as &dyn Handler, ar(&m, &n)),
                (&Tar, tar(&sorted, &n)),
                (&Cpio, cpio(&m, &n, CpioFormat::Newc, 1)),
                (&Cpio, cpio(&m, &n, CpioFormat::Bin, 2)),
            ] {
                for (i, v) in &flips {
                    let i = i.index(input.len());
                    input[i] = *v;
                }
                input.truncate(cut.index(input.len() + 1).max(1));
                if let Ok(Outcome::Rewritten { bytes, .. }) = run(h, &input) {
                    prop_assert_eq!(run(h, &bytes).unwrap(), Outcome::Unchanged, "{}", h.name());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// zip

mod zip_props {
    use std::io::{Read, Write};
    use std::path::Path;

    use flate2::{Compression, GzBuilder, read::GzDecoder};
    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::{Handler, Outcome, zip::Zip};

    use super::EPOCH;
    use crate::zipgen::{self, Member, Options};

    /// One member's payload and the choices its tool makes (the same in every build).
    #[derive(Debug, Clone)]
    struct Payload {
        name: String,
        data: Vec<u8>,
        deflate: bool,
        descriptor: bool,
        exec: bool,
    }

    /// What differs from build to build: clocks at or after the epoch, order,
    /// the build user, group-write permission bits and the zip tool's version.
    #[derive(Debug, Clone)]
    struct Noise {
        mtimes: Vec<u64>,
        order: Vec<u32>,
        ids: Option<(u32, u32)>,
        group_write: bool,
        made_by: u8,
    }

    fn payloads() -> impl Strategy<Value = Vec<Payload>> {
        proptest::collection::btree_map(
            "[a-z]{1,6}(/[a-z]{1,6}){0,2}",
            (
                proptest::collection::vec(any::<u8>(), 0..600),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
            1..6,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(name, (data, deflate, descriptor, exec))| Payload {
                    name,
                    data,
                    deflate,
                    descriptor,
                    exec,
                })
                .collect()
        })
    }

    fn noise() -> impl Strategy<Value = Noise> {
        (
            proptest::collection::vec(EPOCH..4_000_000_000u64, 8),
            proptest::collection::vec(any::<u32>(), 8),
            proptest::option::of((any::<u32>(), any::<u32>())),
            any::<bool>(),
            10u8..64,
        )
            .prop_map(|(mtimes, order, ids, group_write, made_by)| Noise {
                mtimes,
                order,
                ids,
                group_write,
                made_by,
            })
    }

    fn gz(data: &[u8], mtime: u64) -> Vec<u8> {
        let mut w = GzBuilder::new()
            .mtime(mtime as u32)
            .filename("n")
            .write(Vec::new(), Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    /// A build: the payloads (plus a nested gzip of `nested`, if any) with noise.
    fn build(
        p: &[Payload],
        nested: Option<&[u8]>,
        timestamps: bool,
        zip64: bool,
        n: &Noise,
    ) -> Vec<u8> {
        let mut members: Vec<(u32, Member)> = p
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let perm =
                    if p.exec { 0o755 } else { 0o644 } | if n.group_write { 0o020 } else { 0 };
                let m = Member {
                    name: p.name.as_bytes().to_vec(),
                    data: p.data.clone(),
                    deflate: p.deflate,
                    mtime: n.mtimes[i],
                    mode: 0o100_000 | perm,
                    descriptor: p.descriptor,
                };
                (n.order[i], m)
            })
            .collect();
        if let Some(inner) = nested {
            members.push((
                n.order[7],
                Member::file("nested.gz", &gz(inner, n.mtimes[7]), n.mtimes[7]),
            ));
        }
        members.sort_by_key(|(k, _)| *k);
        let members: Vec<Member> = members.into_iter().map(|(_, m)| m).collect();
        zipgen::build(
            &members,
            &Options {
                timestamps,
                ids: n.ids,
                made_by: n.made_by,
                zip64,
                ..Options::default()
            },
        )
    }

    fn normalize(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        Zip.normalize(input, &config.context(Path::new("p.zip")))
    }

    fn output(input: &[u8]) -> Vec<u8> {
        normalize(input).unwrap().bytes(input).to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn zip_is_idempotent_convergent_and_keeps_the_payload(
            p in payloads(),
            nested in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            timestamps in any::<bool>(),
            zip64 in any::<bool>(),
            a in noise(),
            b in noise(),
        ) {
            let x = build(&p, nested.as_deref(), timestamps, zip64, &a);
            let y = build(&p, nested.as_deref(), timestamps, zip64, &b);
            let nx = output(&x);
            let ny = output(&y);
            prop_assert!(nx == ny, "same payload, different noise, different bytes");
            prop_assert_eq!(normalize(&nx).unwrap(), Outcome::Unchanged);
            let read = zipgen::read(&nx);
            let mut want: Vec<&Payload> = p.iter().collect();
            want.sort_by(|a, b| a.name.cmp(&b.name));
            let mut members = read.iter().filter(|(n, _, _)| n != b"nested.gz");
            for w in want {
                let (name, data, mode) = members.next().unwrap();
                prop_assert_eq!(name, w.name.as_bytes());
                prop_assert_eq!(data, &w.data);
                prop_assert_eq!(*mode, if w.exec { 0o100_755 } else { 0o100_644 });
            }
            if let Some(inner) = &nested {
                let (_, gz, _) = read.iter().find(|(n, _, _)| n == b"nested.gz").unwrap();
                prop_assert_eq!(u32::from_le_bytes(gz[4..8].try_into().unwrap()), EPOCH as u32);
                prop_assert_eq!(gz[3] & 0x08, 0, "gzip name dropped");
                let mut payload = Vec::new();
                GzDecoder::new(&gz[..]).read_to_end(&mut payload).unwrap();
                prop_assert_eq!(&payload, inner);
            }
            // Every DOS time, local and central, is the epoch's (the noise is
            // never earlier).
            for t in zipgen::times(&nx) {
                prop_assert_eq!(t, [zipgen::dos(EPOCH); 2]);
            }
        }

        #[test]
        fn zip_never_panics_on_arbitrary_bytes(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            end in proptest::collection::vec(any::<u8>(), 16),
        ) {
            let mut input = b"PK\x03\x04".to_vec();
            input.extend(&body);
            let _ = normalize(&input);
            // The same bytes ending in an end record, so that parsing goes deeper.
            input.extend(b"PK\x05\x06");
            input.extend(&end);
            input.extend([0, 0]);
            if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&input) {
                prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn zip_never_panics_on_mutated_archives(
            p in payloads(),
            zip64 in any::<bool>(),
            a in noise(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut input = build(&p, Some(b"inner"), true, zip64, &a);
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            let keep = cut.index(input.len() + 1);
            input.truncate(keep.max(input.len() * 3 / 4));
            if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&input) {
                prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
            }
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
        let config = Config::with_epoch(EPOCH).panicking();
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
                    Kind::CheckSum => continue,
                };
                b[at..at + kind.width()].copy_from_slice(&value);
            }
            // The checksum the linker would have written for these bytes (a
            // stale one is malformed, never recomputed).
            for &(at, kind) in &self.fields {
                if kind == Kind::CheckSum {
                    let sum = spec_checksum(&b, at);
                    b[at..at + 4].copy_from_slice(&sum.to_le_bytes());
                }
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
    }

    fn pe_noise(stamps: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = PeNoise> {
        (
            proptest::collection::vec(stamps, 8),
            any::<[u8; 16]>(),
            any::<u32>(),
        )
            .prop_map(|(stamps, guid, age)| PeNoise { stamps, guid, age })
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
            let config = Config::with_epoch(EPOCH).panicking();
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

// ------------------------------------------------------------------------
// Embedded-date handlers: mo, png, uimage, javadoc, properties, perllocal.
// Noise is a build time at or after EPOCH (earlier times are kept by design),
// written in the shapes real tools use; the payload is everything else.

mod dates {
    use std::fmt::Write as _;
    use std::io::{Read, Write};
    use std::path::Path;

    use flate2::Compression;
    use flate2::read::ZlibDecoder;
    use flate2::write::ZlibEncoder;
    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::dates::Civil;
    use strip_nd::handlers::javadoc::Javadoc;
    use strip_nd::handlers::mo::Mo;
    use strip_nd::handlers::perllocal::Perllocal;
    use strip_nd::handlers::png::Png;
    use strip_nd::handlers::properties::Properties;
    use strip_nd::handlers::uimage::UImage;
    use strip_nd::handlers::{Handler, Outcome};

    use super::EPOCH;

    const EPOCH_I64: i64 = 1_000_000_000;

    /// A build time: from a day after the epoch to the year 2200. (A date
    /// written to the minute or the day that falls in the epoch's own minute
    /// or day is not later than the epoch, so it is kept as written; an
    /// unpadded one, `2001-9-9 1:46`, would then not converge with a padded
    /// epoch from another build. Real builds are not that close to the epoch.)
    fn when() -> impl Strategy<Value = i64> {
        (EPOCH_I64 + 86_400)..7_258_118_400
    }

    fn run(h: &dyn Handler, input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        h.normalize(input, &config.context(Path::new("p")))
    }

    fn output(h: &dyn Handler, input: &[u8]) -> Vec<u8> {
        run(h, input).unwrap().bytes(input).to_vec()
    }

    /// Normalizes two noisy builds of one payload; they must converge, the
    /// result must be a fixed point, and it is returned.
    fn converge(h: &dyn Handler, a: &[u8], b: &[u8]) -> Result<Vec<u8>, TestCaseError> {
        let (na, nb) = (output(h, a), output(h, b));
        prop_assert_eq!(&na, &nb, "same payload, different noise, different bytes");
        prop_assert_eq!(run(h, &na).unwrap(), Outcome::Unchanged);
        Ok(na)
    }

    fn iso(t: i64, style: u8) -> String {
        let c = Civil::from_unix(t);
        match style % 4 {
            0 => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min
            ),
            1 => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min, c.sec
            ),
            2 => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
                c.year, c.month, c.day, c.hour, c.min, c.sec
            ),
            _ => format!(
                "{}-{}-{} {}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min
            ),
        }
    }

    fn java(t: i64) -> String {
        let c = Civil::from_unix(t);
        format!(
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            c.day_name(),
            c.month_name(),
            c.day,
            c.hour,
            c.min,
            c.sec,
            c.year
        )
    }

    fn perl(t: i64) -> String {
        let c = Civil::from_unix(t);
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            c.day_name(),
            c.month_name(),
            c.day,
            c.hour,
            c.min,
            c.sec,
            c.year
        )
    }

    // ---- .mo

    /// A little-endian catalog as msgfmt lays it out (no hash table).
    fn mo(entries: &[(String, String)]) -> Vec<u8> {
        let n = entries.len() as u32;
        let mut at = 28 + 16 * n;
        let mut out = Vec::new();
        for v in [0x9504_12de_u32, 0, n, 28, 28 + 8 * n, 0, 28 + 16 * n] {
            out.extend(v.to_le_bytes());
        }
        let mut data = Vec::new();
        for k in 0..2 {
            for e in entries {
                let s = if k == 0 { &e.0 } else { &e.1 };
                out.extend((s.len() as u32).to_le_bytes());
                out.extend(at.to_le_bytes());
                data.extend_from_slice(s.as_bytes());
                data.push(0);
                at += s.len() as u32 + 1;
            }
        }
        out.extend(data);
        out
    }

    /// The `(msgid, translation)` pairs of a catalog `mo` wrote (or rewrote).
    fn mo_entries(mo: &[u8]) -> Vec<(String, String)> {
        let word = |at: usize| u32::from_le_bytes(mo[at..at + 4].try_into().unwrap()) as usize;
        let (count, orig, trans) = (word(8), word(12), word(16));
        let string = |tab: usize, i: usize| {
            let (len, off) = (word(tab + 8 * i), word(tab + 8 * i + 4));
            String::from_utf8(mo[off..off + len].to_vec()).unwrap()
        };
        (0..count)
            .map(|i| (string(orig, i), string(trans, i)))
            .collect()
    }

    fn mo_build(msgs: &[(String, String)], pot: i64, rev: i64, style: u8) -> Vec<u8> {
        let header = format!(
            "Project-Id-Version: p 1\nPOT-Creation-Date: {}\nPO-Revision-Date: {}\nContent-Type: text/plain; charset=UTF-8\n",
            iso(pot, style),
            iso(rev, style)
        );
        let mut entries = vec![(String::new(), header)];
        entries.extend(msgs.iter().cloned());
        mo(&entries)
    }

    fn messages() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[a-zA-Z0-9 .,!?]{1,30}", "[^\u{0}]{0,30}", 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn mo_is_idempotent_convergent_and_keeps_the_translations(
            msgs in messages(), t1 in when(), t2 in when(), t3 in when(), t4 in when(), style in any::<u8>(),
        ) {
            let a = mo_build(&msgs, t1, t2, style);
            let b = mo_build(&msgs, t3, t4, style);
            let out = converge(&Mo, &a, &b)?;
            let got = mo_entries(&out);
            prop_assert_eq!(&got[1..], &msgs[..]);
            // The epoch is written zero-padded even where the build was not.
            let pot = iso(EPOCH_I64, if style % 4 == 3 { 0 } else { style });
            prop_assert!(got[0].1.contains(&format!("POT-Creation-Date: {pot}\n")), "{}", got[0].1);
        }

        #[test]
        fn mo_never_panics_on_arbitrary_bytes(be in any::<bool>(), tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = if be { vec![0x95, 0x04, 0x12, 0xde] } else { vec![0xde, 0x12, 0x04, 0x95] };
            input.extend(tail);
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Mo, &input) {
                prop_assert_eq!(run(&Mo, &bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn mo_never_panics_on_mutated_catalogs(
            msgs in messages(), t in when(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut input = mo_build(&msgs, t, t, 3);
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Mo, &input) {
                prop_assert_eq!(run(&Mo, &bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }

    // ---- PNG

    fn chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[4..]);
        out.extend(crc.to_be_bytes());
        out
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A grey image of `w` x `h` with the given rows, a tIME at `t1` and
    /// date text chunks at `t2` (tEXt) and `t3` (zTXt).
    fn png(width: u32, pixels: &[u8], t1: i64, t2: i64, t3: i64) -> Vec<u8> {
        let height = pixels.len() as u32 / width;
        let mut raw = Vec::new();
        for row in pixels.chunks(width as usize) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let c = Civil::from_unix(t1);
        let y = u16::try_from(c.year).unwrap().to_be_bytes();
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 0, 0, 0, 0]);
        let mut z = b"date:modify\0\0".to_vec();
        z.extend(zlib(iso(t3, 2).as_bytes()));
        let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
        out.extend(chunk(*b"IHDR", &ihdr));
        out.extend(chunk(
            *b"tIME",
            &[
                y[0],
                y[1],
                c.month as u8,
                c.day as u8,
                c.hour as u8,
                c.min as u8,
                c.sec as u8,
            ],
        ));
        out.extend(chunk(*b"IDAT", &zlib(&raw)));
        out.extend(chunk(
            *b"tEXt",
            format!("date:create\0{}", iso(t2, 2)).as_bytes(),
        ));
        out.extend(chunk(*b"zTXt", &z));
        out.extend(chunk(*b"IEND", &[]));
        out
    }

    /// The inflated IDAT data.
    fn png_pixels(b: &[u8]) -> Vec<u8> {
        let mut pos = 8;
        let mut idat = Vec::new();
        while pos < b.len() {
            let len = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
            if &b[pos + 4..pos + 8] == b"IDAT" {
                idat.extend_from_slice(&b[pos + 8..pos + 8 + len]);
            }
            pos += 12 + len;
        }
        let mut out = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut out).unwrap();
        out
    }

    proptest! {
        #[test]
        fn png_is_idempotent_convergent_and_keeps_the_pixels(
            w in 1u32..8, rows in 1usize..8, seed in any::<u8>(),
            a in (when(), when(), when()), b in (when(), when(), when()),
        ) {
            let pixels: Vec<u8> = (0..w as usize * rows).map(|i| seed.wrapping_mul(i as u8)).collect();
            let x = png(w, &pixels, a.0, a.1, a.2);
            let y = png(w, &pixels, b.0, b.1, b.2);
            let out = converge(&Png, &x, &y)?;
            prop_assert_eq!(png_pixels(&out), png_pixels(&x));
            prop_assert!(out.windows(4).all(|c| c != b"tIME"), "a late tIME is removed");
        }

        #[test]
        fn png_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
            input.extend(tail);
            let _ = run(&Png, &input);
        }
    }

    // ---- uImage

    fn uimage(time: u32, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(&[0x27, 0x05, 0x19, 0x56]);
        h[8..12].copy_from_slice(&time.to_be_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
        h[24..28].copy_from_slice(&crc32fast::hash(data).to_be_bytes());
        h[28..32].copy_from_slice(&[5, 2, 2, 0]);
        let crc = crc32fast::hash(&h);
        h[4..8].copy_from_slice(&crc.to_be_bytes());
        h.extend_from_slice(data);
        h
    }

    proptest! {
        #[test]
        fn uimage_is_idempotent_convergent_and_keeps_the_data(
            data in proptest::collection::vec(any::<u8>(), 0..1024),
            a in (EPOCH as u32)..=u32::MAX, b in (EPOCH as u32)..=u32::MAX,
        ) {
            let out = converge(&UImage, &uimage(a, &data), &uimage(b, &data))?;
            prop_assert_eq!(&out, &uimage(EPOCH as u32, &data));
        }

        #[test]
        fn uimage_clamps_but_never_raises(t in any::<u32>()) {
            let out = output(&UImage, &uimage(t, b"x"));
            prop_assert_eq!(out, uimage(t.min(EPOCH as u32), b"x"));
        }

        #[test]
        fn uimage_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = vec![0x27, 0x05, 0x19, 0x56];
            input.extend(tail);
            let _ = run(&UImage, &input);
        }
    }

    // ---- text formats

    fn javadoc(t: i64, body: &str, crlf: bool) -> Vec<u8> {
        let c = Civil::from_unix(t);
        let page = format!(
            "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<!-- Generated by javadoc (17) on {} -->\n\
             <title>T</title>\n<meta name=\"dc.created\" content=\"{:04}-{:02}-{:02}\">\n</head>\n<body>{body}</body>\n</html>\n",
            java(t),
            c.year,
            c.month,
            c.day
        );
        if crlf {
            page.replace('\n', "\r\n").into_bytes()
        } else {
            page.into_bytes()
        }
    }

    fn properties(t: i64, entries: &[(String, String)]) -> Vec<u8> {
        let mut out = format!("#Generated by Maven\n#{}\n", java(t));
        for (k, v) in entries {
            let _ = writeln!(out, "{k}={v}");
        }
        out.into_bytes()
    }

    fn perllocal(times: &[i64], module: &str) -> Vec<u8> {
        let mut out = String::new();
        for t in times {
            let _ = write!(
                out,
                "=head2 {}: C<Module> L<{module}|{module}>\n\n=over 4\n\n=item *\n\nC<VERSION: 1.00>\n\n=back\n\n",
                perl(*t)
            );
        }
        out.into_bytes()
    }

    proptest! {
        #[test]
        fn javadoc_is_idempotent_convergent_and_keeps_the_body(
            body in "[^<\\x00]{0,200}", crlf in any::<bool>(), a in when(), b in when(),
        ) {
            let out = converge(&Javadoc, &javadoc(a, &body, crlf), &javadoc(b, &body, crlf))?;
            prop_assert_eq!(out, javadoc(EPOCH_I64, &body, crlf));
        }

        #[test]
        fn properties_is_idempotent_convergent_and_keeps_the_entries(
            entries in proptest::collection::vec(("[a-z.]{1,12}", "[a-zA-Z0-9 ]{0,20}"), 0..8),
            a in when(), b in when(),
        ) {
            let out = converge(&Properties, &properties(a, &entries), &properties(b, &entries))?;
            prop_assert_eq!(out, properties(EPOCH_I64, &entries));
        }

        #[test]
        fn perllocal_is_idempotent_convergent_and_keeps_the_entries(
            module in "[A-Z][a-z]{0,8}(::[A-Z][a-z]{0,8}){0,2}",
            a in proptest::collection::vec(when(), 1..4),
            shift in 0i64..1_000_000,
        ) {
            let b: Vec<i64> = a.iter().map(|t| t + shift).collect();
            let out = converge(&Perllocal, &perllocal(&a, &module), &perllocal(&b, &module))?;
            prop_assert_eq!(out, perllocal(&vec![EPOCH_I64; a.len()], &module));
        }

        #[test]
        fn text_handlers_never_panic_on_arbitrary_text(
            prefix in prop::sample::select(vec!["<!-- Generated by javadoc", "#", "=head2 ", ""]),
            tail in ".{0,300}",
        ) {
            let input = format!("{prefix}{tail}");
            for h in [&Javadoc as &dyn Handler, &Properties, &Perllocal] {
                if let Ok(Outcome::Rewritten { bytes, .. }) = run(h, input.as_bytes()) {
                    prop_assert_eq!(run(h, &bytes).unwrap(), Outcome::Unchanged);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// rules

/// User date rules: two files that differ only in the dates a rule matches
/// normalize to the same bytes, everything outside the dates is kept, a
/// rewrite is a fixed point, and arbitrary bytes never panic.
mod rules_props {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::{Handler, Outcome, rules::RulesHandler};
    use strip_nd::rules::Rules;

    const EPOCH: u64 = 315_532_800;
    const RULES: &str = r#"
[[rule]]
scope = "**/*.h"
regex = 'generated on (?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)'
format = "%Y-%m-%d %H:%M:%S"
"#;

    fn config() -> Config {
        let mut config = Config::with_epoch(EPOCH).panicking();
        config.settings.rules = Some(Arc::new(Rules::parse(RULES, EPOCH).unwrap()));
        config
    }

    fn normalize(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = config();
        RulesHandler.normalize(input, &config.context(Path::new("include/v.h")))
    }

    /// A date after the epoch, as the rule writes it.
    fn date() -> impl Strategy<Value = String> {
        (
            1981u32..2100,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..60,
        )
            .prop_map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
    }

    proptest! {
        #[test]
        fn rules_converge_keep_the_rest_and_are_idempotent(
            before in "[a-z /*\n]{0,200}",
            after in "[a-z /*\n]{0,200}",
            a in date(),
            b in date(),
        ) {
            let x = format!("{before}/* generated on {a} */{after}");
            let y = format!("{before}/* generated on {b} */{after}");
            let nx = normalize(x.as_bytes()).unwrap().bytes(x.as_bytes()).to_vec();
            let ny = normalize(y.as_bytes()).unwrap().bytes(y.as_bytes()).to_vec();
            prop_assert_eq!(&nx, &ny);
            let want = format!("{before}/* generated on 1980-01-01 00:00:00 */{after}");
            prop_assert_eq!(String::from_utf8(nx.clone()).unwrap(), want);
            prop_assert_eq!(normalize(&nx).unwrap(), Outcome::Unchanged);
        }

        #[test]
        fn rules_never_panic_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&data) {
                prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }
}

// ---- font: sfnt files with random head dates and payload tables ----

mod font {
    use std::path::Path;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::font::{Font, MAC_EPOCH_OFFSET, checksum};
    use strip_nd::handlers::{Handler, Outcome};

    use super::EPOCH;

    /// The epoch as a `LONGDATETIME`.
    const MAC_EPOCH: i64 = 1_000_000_000 + MAC_EPOCH_OFFSET;

    /// A font with a `head` and the given payload tables, every checksum right.
    fn font(version: [u8; 4], created: i64, modified: i64, tables: &[Vec<u8>]) -> Vec<u8> {
        let mut head = vec![0u8; 54];
        head[..4].copy_from_slice(&[0, 1, 0, 0]);
        head[12..16].copy_from_slice(&0x5F0F_3CF5u32.to_be_bytes());
        head[18..20].copy_from_slice(&1000u16.to_be_bytes());
        head[20..28].copy_from_slice(&created.to_be_bytes());
        head[28..36].copy_from_slice(&modified.to_be_bytes());
        let mut all = vec![(*b"head", head)];
        for (i, t) in tables.iter().enumerate() {
            all.push((
                [b't', b'b', b'0' + (i / 10) as u8, b'0' + (i % 10) as u8],
                t.clone(),
            ));
        }
        let n = all.len();
        let mut out = version.to_vec();
        out.extend((n as u16).to_be_bytes());
        out.extend([0; 6]);
        let mut at = 12 + 16 * n;
        let mut body = Vec::new();
        for (tag, data) in &all {
            out.extend_from_slice(tag);
            out.extend(checksum(data).to_be_bytes());
            out.extend((at as u32).to_be_bytes());
            out.extend((data.len() as u32).to_be_bytes());
            body.extend_from_slice(data);
            body.resize(body.len().div_ceil(4) * 4, 0);
            at = 12 + 16 * n + body.len();
        }
        let head_at = out.len();
        out.extend(body);
        let adj = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[head_at + 8..head_at + 12].copy_from_slice(&adj.to_be_bytes());
        out
    }

    fn run(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        Font.normalize(input, &config.context(Path::new("p.ttf")))
    }

    fn output(input: &[u8]) -> Vec<u8> {
        run(input).unwrap().bytes(input).to_vec()
    }

    fn late() -> impl Strategy<Value = i64> {
        (MAC_EPOCH + 1)..i64::MAX
    }

    fn version() -> impl Strategy<Value = [u8; 4]> {
        prop_oneof![Just([0, 1, 0, 0]), Just(*b"OTTO"), Just(*b"true")]
    }

    fn tables() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6)
    }

    proptest! {
        #[test]
        fn font_is_idempotent_convergent_and_keeps_the_tables(
            v in version(), t in tables(), a in late(), b in late(), c in late(), d in late(),
        ) {
            let x = output(&font(v, a, b, &t));
            let y = output(&font(v, c, d, &t));
            prop_assert_eq!(&x, &y, "same tables, different dates, different bytes");
            prop_assert_eq!(run(&x).unwrap(), Outcome::Unchanged);
            let e = MAC_EPOCH;
            prop_assert_eq!(&x, &font(v, e, e, &t));
            prop_assert_eq!(checksum(&x), 0xB1B0_AFBA);
        }

        #[test]
        fn font_clamps_but_never_raises_dates(a in any::<i64>(), b in any::<i64>()) {
            let e = MAC_EPOCH;
            let clamp = |t: i64| if t > e { e } else { t };
            let x = output(&font([0, 1, 0, 0], a, b, &[b"glyf".to_vec()]));
            prop_assert_eq!(x, font([0, 1, 0, 0], clamp(a), clamp(b), &[b"glyf".to_vec()]));
        }

        #[test]
        fn font_never_panics_on_arbitrary_bytes(
            magic in prop_oneof![Just(*b"\0\x01\0\0"), Just(*b"OTTO"), Just(*b"ttcf")],
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut input = magic.to_vec();
            input.extend(tail);
            let _ = run(&input);
        }

        #[test]
        fn font_never_panics_on_mutated_files(
            t in tables(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut input = font([0, 1, 0, 0], i64::MAX, 7, &t);
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            input.truncate(cut.index(input.len() + 1).max(1));
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&input) {
                prop_assert_eq!(bytes.len(), input.len());
                prop_assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }
}

mod iso {
    use std::path::Path;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::iso9660::Iso9660;
    use strip_nd::handlers::{Handler, Outcome};

    use super::EPOCH;

    fn image() -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/iso9660/xorriso-rj.1.iso"))
            .unwrap()
    }

    fn run(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        Iso9660.normalize(input, &config.context(Path::new("x.iso")))
    }

    fn output(input: &[u8]) -> Vec<u8> {
        run(input).unwrap().bytes(input).to_vec()
    }

    /// Writes a later build time (years 2002..2155, any zone) into the PVD's
    /// creation date and the root record's recording date.
    fn noisy(year: u32, tz: i8) -> Vec<u8> {
        let mut img = image();
        let pvd = 0x8000;
        let text = format!("{year:04}0607080910{:02}", 11);
        img[pvd + 813..pvd + 829].copy_from_slice(text.as_bytes());
        img[pvd + 829] = tz.to_ne_bytes()[0];
        let y = u8::try_from(year - 1900).unwrap();
        img[pvd + 156 + 18..pvd + 156 + 25].copy_from_slice(&[
            y,
            6,
            7,
            8,
            9,
            10,
            tz.to_ne_bytes()[0],
        ]);
        img
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn iso_is_idempotent_convergent_and_keeps_the_size(
            ya in 2002u32..2155, yb in 2002u32..2155, ta in -48i8..=52, tb in -48i8..=52,
        ) {
            let (a, b) = (noisy(ya, ta), noisy(yb, tb));
            let (na, nb) = (output(&a), output(&b));
            prop_assert_eq!(&na, &nb);
            prop_assert_eq!(na.len(), a.len());
            prop_assert_eq!(run(&na).unwrap(), Outcome::Unchanged);
        }

        #[test]
        fn iso_never_panics_on_damaged_images(
            edits in proptest::collection::vec((0usize..81_920, any::<u8>()), 1..16),
            cut in 0usize..81_920,
        ) {
            let mut img = image();
            for (at, v) in edits {
                img[at] = v;
            }
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&img) {
                prop_assert_eq!(bytes.len(), img.len());
                prop_assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
            }
            img.truncate(cut);
            let _ = run(&img);
        }
    }
}

// ---- pdf: documents with random dates, zones, /ID and XMP ids around a payload ----

mod pdf {
    use std::path::Path;

    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::dates::Civil;
    use strip_nd::handlers::pdf::Pdf;
    use strip_nd::handlers::{Handler, Outcome};

    use super::EPOCH;

    const EPOCH_I64: i64 = 1_000_000_000;

    fn hex(bytes: &[u8], upper: bool) -> String {
        bytes
            .iter()
            .map(|&b| {
                if upper {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect::<Vec<_>>()
            .concat()
    }

    /// How the dates are written (one shape per document, as one producer does).
    #[derive(Debug, Clone, Copy)]
    enum Shape {
        /// `D:YYYYMMDDHHmmSS+HH'mm'` (ghostscript, gropdf).
        Apostrophes,
        /// `D:YYYYMMDDHHmmSS+HH'mm` (cairo).
        Cairo,
        /// `D:YYYYMMDDHHmmSSZ`.
        Zulu,
        /// As a hex string, `<443A...>`.
        Hex,
    }

    /// A date written at `secs` in a zone `off` minutes east of UTC.
    fn pdf_date(secs: i64, off: i32, shape: Shape) -> (String, String) {
        let off = if matches!(shape, Shape::Zulu) { 0 } else { off };
        let c = Civil::from_unix(secs + i64::from(off) * 60);
        let local = format!(
            "D:{:04}{:02}{:02}{:02}{:02}{:02}",
            c.year, c.month, c.day, c.hour, c.min, c.sec
        );
        let sign = if off < 0 { '-' } else { '+' };
        let (h, m) = (off.abs() / 60, off.abs() % 60);
        let pdf = match shape {
            Shape::Apostrophes | Shape::Hex => format!("{local}{sign}{h:02}'{m:02}'"),
            Shape::Cairo => format!("{local}{sign}{h:02}'{m:02}"),
            Shape::Zulu => format!("{local}Z"),
        };
        let pdf = if matches!(shape, Shape::Hex) {
            format!("<{}>", hex(pdf.as_bytes(), true))
        } else {
            format!("({pdf})")
        };
        let xmp = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{h:02}:{m:02}",
            c.year, c.month, c.day, c.hour, c.min, c.sec
        );
        (pdf, xmp)
    }

    /// A one-page document: catalog, pages, page, the payload as its content
    /// stream, an XMP packet, the /Info dictionary, a classic xref and /ID.
    fn document(
        payload: &[u8],
        created: i64,
        modified: i64,
        off: i32,
        shape: Shape,
        id: Option<([u8; 16], [u8; 16])>,
    ) -> Vec<u8> {
        let (c_pdf, c_xmp) = pdf_date(created, off, shape);
        let (m_pdf, m_xmp) = pdf_date(modified, off, shape);
        let uuid = id.map_or([7; 16], |(a, _)| a);
        let uuid = hex(&uuid, false);
        let xmp = format!(
            "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>\n<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>\
             <rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/'>\
             <xmp:CreateDate>{c_xmp}</xmp:CreateDate><xmp:ModifyDate>{m_xmp}</xmp:ModifyDate></rdf:Description>\
             <rdf:Description rdf:about='' xmlns:xmpMM='http://ns.adobe.com/xap/1.0/mm/' \
             xmpMM:DocumentID='uuid:{}-{}-{}-{}-{}'/></rdf:RDF></x:xmpmeta>\n<?xpacket end='w'?>",
            &uuid[..8],
            &uuid[8..12],
            &uuid[12..16],
            &uuid[16..20],
            &uuid[20..]
        );
        let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::new();
        let mut obj = |out: &mut Vec<u8>, body: &[u8]| {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", offsets.len()).bytes());
            out.extend_from_slice(body);
            out.extend(b"\nendobj\n");
        };
        obj(
            &mut out,
            b"<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>",
        );
        obj(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        obj(
            &mut out,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>",
        );
        let mut s = format!("<< /Length {} >>\nstream\n", payload.len()).into_bytes();
        s.extend_from_slice(payload);
        s.extend(b"\nendstream");
        obj(&mut out, &s);
        let s = format!(
            "<< /Type /Metadata /Subtype /XML /Length {} >>\nstream\n{xmp}\nendstream",
            xmp.len()
        );
        obj(&mut out, s.as_bytes());
        let s = format!("<< /CreationDate {c_pdf} /ModDate {m_pdf} /Producer (props) >>");
        obj(&mut out, s.as_bytes());
        let xref = out.len();
        out.extend(b"xref\n0 7\n0000000000 65535 f \n");
        for o in &offsets {
            out.extend(format!("{o:010} 00000 n \n").bytes());
        }
        out.extend(b"trailer\n<< /Size 7 /Root 1 0 R /Info 6 0 R");
        if let Some((a, b)) = id {
            out.extend(format!(" /ID [<{}><{}>]", hex(&a, true), hex(&b, true)).bytes());
        }
        out.extend(format!(" >>\nstartxref\n{xref}\n%%EOF\n").bytes());
        out
    }

    fn run(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH).panicking();
        Pdf.normalize(input, &config.context(Path::new("d.pdf")))
    }

    fn output(input: &[u8]) -> Vec<u8> {
        run(input).unwrap().bytes(input).to_vec()
    }

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Apostrophes),
            Just(Shape::Cairo),
            Just(Shape::Zulu),
            Just(Shape::Hex)
        ]
    }

    /// Later than the epoch, before the year 9999 (in every zone).
    fn late() -> impl Strategy<Value = i64> {
        (EPOCH_I64 + 1)..250_000_000_000
    }

    /// Offsets from -12:00 to +14:00, in quarter hours.
    fn zone() -> impl Strategy<Value = i32> {
        (-48i32..=56).prop_map(|q| q * 15)
    }

    fn id() -> impl Strategy<Value = Option<([u8; 16], [u8; 16])>> {
        proptest::option::of(any::<([u8; 16], [u8; 16])>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn pdf_is_idempotent_convergent_and_keeps_the_size_and_payload(
            payload in proptest::collection::vec(any::<u8>(), 0..400),
            s in shape(),
            (a, b, oa) in (late(), late(), zone()),
            (c, d, ob) in (late(), late(), zone()),
            (ia, ib) in (id(), id()),
        ) {
            let ib = ia.and(ib.or(ia));
            let (x, y) = (document(&payload, a, b, oa, s, ia), document(&payload, c, d, ob, s, ib));
            let (nx, ny) = (output(&x), output(&y));
            prop_assert_eq!(&nx, &ny, "same payload, different dates and ids, different bytes");
            prop_assert_eq!(nx.len(), x.len());
            prop_assert_eq!(run(&nx).unwrap(), Outcome::Unchanged);
            prop_assert!(nx.windows(payload.len().max(1)).any(|w| w == &payload[..]) || payload.is_empty());
            // Without /ID, the output is the document written at the epoch in UTC.
            if ia.is_none() {
                let e = EPOCH_I64;
                let want = document(&payload, e, e, 0, s, None);
                // The only difference left: the XMP uuid, derived from the content.
                let diff = nx.iter().zip(&want).filter(|(p, q)| p != q).count();
                prop_assert!(diff <= 32, "{} bytes differ from the epoch document", diff);
            }
        }

        #[test]
        fn pdf_clamps_but_never_raises_dates(
            a in 0i64..=EPOCH_I64, b in 0i64..=EPOCH_I64, off in zone(), s in shape(),
        ) {
            // At or before the epoch: no /ID, so nothing is derived either... but
            // the XMP uuid is; it is already a fixed point after one run.
            let x = document(b"q", a, b, off, s, None);
            let nx = output(&x);
            let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i] != nx[i]).collect();
            let uuid_at = x.windows(10).position(|w| w == b"uuid:07070").unwrap();
            prop_assert!(diff.iter().all(|&i| (uuid_at..uuid_at + 41).contains(&i)), "{:?}", diff);
        }

        #[test]
        fn pdf_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut input = b"%PDF-1.7\n".to_vec();
            input.extend(tail);
            let _ = run(&input);
        }

        #[test]
        fn pdf_never_panics_on_damaged_documents(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut input = document(b"BT /F1 1 Tf (x) Tj ET", 2_000_000_000, 2_000_000_001, 60, Shape::Apostrophes, Some(([1; 16], [2; 16])));
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&input) {
                prop_assert_eq!(bytes.len(), input.len());
                prop_assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
            }
            input.truncate(cut.index(input.len() + 1));
            let _ = run(&input);
        }
    }

    #[test]
    fn pdf_generated_documents_pass_the_handler_and_change() {
        let x = document(
            b"q Q",
            2_000_000_000,
            2_000_000_000,
            -300,
            Shape::Cairo,
            Some(([1; 16], [1; 16])),
        );
        let Outcome::Rewritten { changes, .. } = run(&x).unwrap() else {
            panic!("nothing changed");
        };
        assert!(
            changes
                .iter()
                .any(|c| c.to_string().contains("/Info /CreationDate")),
            "{changes:?}"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.to_string().contains("XMP xmp:ModifyDate")),
            "{changes:?}"
        );
        assert!(
            changes.iter().any(|c| c.to_string().contains("/ID")),
            "{changes:?}"
        );
    }
}
