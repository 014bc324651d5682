//! NAR serialization and hashing, byte-identical to `nix-store --dump` and
//! `nix hash path`.
//!
//! A NAR is a sequence of strings, each a little-endian u64 length, the bytes
//! and zero padding to a multiple of 8. The tree is written as
//! `nix-archive-1 ( type regular [executable ""] contents <data> )`,
//! `( type symlink target <target> )` or
//! `( type directory entry ( name <n> node <node> ) ... )` with entries sorted by
//! their raw name bytes. Only the owner-execute bit is recorded; mtimes, owners,
//! other mode bits, xattrs and hardlinks are not. The root is never followed if
//! it is a symlink. FIFOs, sockets and devices cannot be represented.
//!
//! The serializer streams: a walker thread lists the tree in NAR order, worker
//! threads read small files ahead (the cost of hashing a store path is mostly
//! system calls on many small files), and the calling thread feeds the pieces
//! to the sink in order. At most a fixed number of pieces are in flight and
//! large files are streamed through a fixed buffer, so memory does not grow
//! with the size of the tree or of any file.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::Error;

const BUF_LEN: usize = 256 * 1024;

/// How `strip-nd hash` prints a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFormat {
    /// `sha256:<nix base32>`, as `nix-store -q --hash` prints it.
    #[default]
    Typed,
    /// Lowercase hex, as `nix-hash --type sha256` prints it.
    Base16,
    /// Nix base32, as `nix-hash --type sha256 --base32` prints it.
    Base32,
    /// `sha256-<base64>`, as `nix hash path` prints it.
    Sri,
}

/// Formats a sha256 digest.
pub fn format_hash(digest: &[u8; 32], format: HashFormat) -> String {
    match format {
        HashFormat::Typed => format!("sha256:{}", nix32(digest)),
        HashFormat::Base16 => digest.iter().fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        }),
        HashFormat::Base32 => nix32(digest),
        HashFormat::Sri => format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
    }
}

/// Nix's base32: the alphabet `0-9a-z` without `e o u t`, read from the end of
/// the digest (this is not RFC 4648).
pub fn nix32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    if bytes.is_empty() {
        return String::new();
    }
    let len = (bytes.len() * 8 - 1) / 5 + 1;
    (0..len)
        .rev()
        .map(|n| {
            let bit = n * 5;
            let (i, j) = (bit / 8, bit % 8);
            let low = u32::from(bytes[i]) >> j;
            let high = bytes.get(i + 1).map_or(0, |&b| u32::from(b) << (8 - j));
            char::from(ALPHABET[((low | high) & 0x1f) as usize])
        })
        .collect()
}

/// Decodes Nix's base32 (the inverse of [`nix32`]): `None` for a character
/// outside the alphabet or set bits beyond the last byte, as Nix refuses them.
pub fn nix32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let len = text.len() * 5 / 8;
    let mut out = vec![0u8; len];
    for (n, c) in text.bytes().rev().enumerate() {
        let digit = ALPHABET.iter().position(|&a| a == c)?;
        let digit = u16::try_from(digit).ok()?;
        let (i, j) = (n * 5 / 8, n * 5 % 8);
        let wide = digit << j;
        let [low, high] = wide.to_le_bytes();
        if i < len {
            out[i] |= low;
        } else if low != 0 {
            return None;
        }
        if high != 0 {
            *out.get_mut(i + 1)? |= high;
        }
    }
    Some(out)
}

/// The sha256 of the NAR serialization of `path`, reading files on all cores.
pub fn hash(path: &Path) -> Result<[u8; 32], Error> {
    hash_with(
        path,
        std::thread::available_parallelism().map_or(1, usize::from),
    )
}

/// The sha256 of the NAR serialization of `path`, reading files with `jobs` threads.
pub fn hash_with(path: &Path, jobs: usize) -> Result<[u8; 32], Error> {
    let mut sink = HashSink(Sha256::new());
    serialize(path, jobs, &mut sink)?;
    Ok(sink.0.finalize().into())
}

/// Writes the NAR serialization of `path` to `out`.
pub fn dump<W: Write>(path: &Path, out: &mut W) -> Result<(), Error> {
    serialize(path, 2, out)
}

struct HashSink(Sha256);

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Files up to this size are read whole by a worker; larger ones are streamed
/// by the writer when their turn comes, so memory stays bounded.
const PREFETCH_MAX: u64 = 256 * 1024;

/// Files per batch: threads exchange batches, not files, which keeps locking
/// and wake-ups rare next to the work of reading.
const BATCH_FILES: usize = 32;

/// At most this many batches are in flight (so at most
/// `MAX_IN_FLIGHT * BATCH_FILES * PREFETCH_MAX` = 128 MiB of file contents).
const MAX_IN_FLIGHT: usize = 16;

/// Where NAR bytes go: a buffer, a hasher, a channel to a hashing thread.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// The one NAR encoder: typed nodes in, NAR tokens out. `strip-nd hash` (the
/// serializer below) and `strip-nd diff` both drive it, so the two cannot
/// disagree on the format. Directory entries must come in NAR order (raw name
/// bytes, strictly increasing, no empty, `.`, `..` or `/`-holding name): a
/// caller that breaks it is a bug, and the encoder panics rather than write
/// a NAR Nix would reject.
pub struct Encoder<S: Sink> {
    /// The sink.
    pub sink: S,
    /// For each open directory, the last entry name written.
    open: Vec<Option<Vec<u8>>>,
}

impl<S: Sink> Encoder<S> {
    /// An encoder writing to `sink`; call [`Encoder::magic`] first for a whole NAR.
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            open: Vec::new(),
        }
    }

    /// A NAR string: little-endian u64 length, the bytes, zero padding to 8.
    fn str(&mut self, s: &[u8]) {
        self.sink.put(&(s.len() as u64).to_le_bytes());
        self.sink.put(s);
        self.sink.put(&[0; 8][..(8 - s.len() % 8) % 8]);
    }

    fn strs(&mut self, ss: &[&[u8]]) {
        for s in ss {
            self.str(s);
        }
    }

    /// `nix-archive-1`, the start of a NAR.
    pub fn magic(&mut self) {
        self.str(b"nix-archive-1");
    }

    /// The start of a regular file of `len` bytes, up to its contents: the
    /// caller then writes exactly `len` bytes with [`Encoder::data`] and calls
    /// [`Encoder::regular_end`].
    pub fn regular(&mut self, executable: bool, len: u64) {
        self.strs(&[b"(", b"type", b"regular"]);
        if executable {
            self.strs(&[b"executable", b""]);
        }
        self.str(b"contents");
        self.sink.put(&len.to_le_bytes());
    }

    /// Contents of the current regular file.
    pub fn data(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    /// The end of a regular file of `len` bytes: padding and `)`.
    pub fn regular_end(&mut self, len: u64) {
        self.sink.put(&[0; 8][..(8 - (len % 8) as usize) % 8]);
        self.str(b")");
    }

    /// A whole symlink node.
    pub fn symlink(&mut self, target: &[u8]) {
        self.strs(&[b"(", b"type", b"symlink", b"target"]);
        self.str(target);
        self.str(b")");
    }

    /// The start of a directory node.
    pub fn directory(&mut self) {
        self.strs(&[b"(", b"type", b"directory"]);
        self.open.push(None);
    }

    /// The start of an entry of the innermost open directory; its node follows.
    ///
    /// # Panics
    /// When `name` is not a valid NAR name or does not sort after the
    /// directory's previous entry.
    pub fn entry(&mut self, name: &[u8]) {
        assert!(
            !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/'),
            "NAR entry name {:?} is not a file name",
            String::from_utf8_lossy(name)
        );
        let last = self.open.last_mut().expect("NAR entry outside a directory");
        assert!(
            last.as_deref().is_none_or(|prev| prev < name),
            "NAR entries out of order: {:?} after {:?}",
            String::from_utf8_lossy(name),
            last.as_deref().map(String::from_utf8_lossy)
        );
        match last {
            // The directory's one buffer, reused: no allocation per entry.
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(name);
            }
            None => *last = Some(name.to_vec()),
        }
        self.strs(&[b"entry", b"(", b"name"]);
        self.str(name);
        self.str(b"node");
    }

    /// The end of an entry.
    pub fn entry_end(&mut self) {
        self.str(b")");
    }

    /// The end of the innermost directory.
    ///
    /// # Panics
    /// When no directory is open.
    pub fn directory_end(&mut self) {
        self.open.pop().expect("NAR directory end without a start");
        self.str(b")");
    }
}

/// One piece of the NAR stream, in order.
enum Item {
    /// Serialized structure (directory entries, symlinks, tokens).
    Bytes(Vec<u8>),
    /// A regular file for a worker to read.
    File(PathBuf),
    /// A regular file a worker has read.
    Read(PathBuf, Result<FileData, Error>),
    /// A walk error: the serialization stops here.
    Failed(Error),
}

struct FileData {
    exec: bool,
    /// The whole contents, or `None` for a large file the writer streams.
    contents: Option<Vec<u8>>,
    len: u64,
}

fn read_file(path: &Path) -> Result<FileData, Error> {
    let err = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    let exec = meta.permissions().mode() & 0o100 != 0;
    if meta.len() > PREFETCH_MAX {
        return Ok(FileData {
            exec,
            contents: None,
            len: meta.len(),
        });
    }
    let contents = crate::fsio::read_all(&mut file, meta.len()).map_err(err)?;
    Ok(FileData {
        exec,
        len: contents.len() as u64,
        contents: Some(contents),
    })
}

/// Counts batches in flight; the walker waits when too many are.
struct Gate {
    limit: usize,
    count: Mutex<usize>,
    cv: Condvar,
    stop: AtomicBool,
}

impl Gate {
    /// Waits for room; false when the writer has stopped.
    fn enter(&self) -> bool {
        let mut n = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *n >= self.limit && !self.stop.load(Ordering::Relaxed) {
            n = self
                .cv
                .wait(n)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *n += 1;
        !self.stop.load(Ordering::Relaxed)
    }

    fn leave(&self) {
        let mut n = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *n -= 1;
        self.cv.notify_one();
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cv.notify_all();
    }
}

/// The walker: lists the tree in NAR order, serializing its structure and
/// leaving regular files for the workers, in numbered batches.
struct Walker<'a> {
    gate: &'a Gate,
    seq: u64,
    /// Structure not yet batched, encoded.
    enc: Encoder<Vec<u8>>,
    batch: Vec<Item>,
    files: usize,
    jobs: mpsc::Sender<(u64, Vec<Item>)>,
}

impl Walker<'_> {
    /// Moves pending structure bytes into the batch.
    fn take_bytes(&mut self) {
        if !self.enc.sink.is_empty() {
            self.batch
                .push(Item::Bytes(std::mem::take(&mut self.enc.sink)));
        }
    }

    /// Sends the current batch. False when the writer has stopped.
    fn send(&mut self) -> bool {
        self.take_bytes();
        if self.batch.is_empty() {
            return true;
        }
        if !self.gate.enter() {
            return false;
        }
        let batch = std::mem::take(&mut self.batch);
        self.files = 0;
        let ok = self.jobs.send((self.seq, batch)).is_ok();
        self.seq += 1;
        ok
    }

    fn node(&mut self, path: &Path, ft: fs::FileType) -> bool {
        if ft.is_file() {
            self.take_bytes();
            self.batch.push(Item::File(path.to_owned()));
            self.files += 1;
            return self.files < BATCH_FILES || self.send();
        }
        if ft.is_symlink() {
            match fs::read_link(path) {
                Ok(target) => self.enc.symlink(target.as_os_str().as_bytes()),
                Err(e) => return self.fail(Error::io(path, e)),
            }
        } else if ft.is_dir() {
            let entries = fs::read_dir(path).and_then(|rd| {
                rd.map(|e| e.and_then(|e| Ok((e.file_name(), e.file_type()?))))
                    .collect::<io::Result<Vec<_>>>()
            });
            let mut entries = match entries {
                Ok(e) => e,
                Err(e) => return self.fail(Error::io(path, e)),
            };
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            self.enc.directory();
            for (name, ft) in entries {
                self.enc.entry(name.as_bytes());
                if !self.node(&path.join(&name), ft) {
                    return false;
                }
                self.enc.entry_end();
            }
            self.enc.directory_end();
        } else {
            return self.fail(Error::NarUnsupported {
                path: path.to_owned(),
                kind: special_kind(ft),
            });
        }
        true
    }

    fn fail(&mut self, e: Error) -> bool {
        self.take_bytes();
        self.batch.push(Item::Failed(e));
        self.send();
        false
    }
}

/// Serializes `root` to `out`: a walker thread lists the tree in NAR order,
/// `jobs` workers read the files of each batch, and this thread writes the
/// batches in order.
fn serialize<W: Write>(root: &Path, jobs: usize, out: &mut W) -> Result<(), Error> {
    let meta = fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    let jobs = jobs.max(1);
    let gate = Gate {
        limit: (2 * jobs + 2).min(MAX_IN_FLIGHT),
        count: Mutex::new(0),
        cv: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (done_tx, done_rx) = mpsc::channel::<(u64, Vec<Item>)>();
    let (job_tx, job_rx) = mpsc::channel::<(u64, Vec<Item>)>();
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = done_tx.clone();
            let rx = &job_rx;
            s.spawn(move || {
                loop {
                    let job = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((seq, batch)) = job else { break };
                    let read = batch
                        .into_iter()
                        .map(|item| match item {
                            Item::File(path) => {
                                let data = read_file(&path);
                                Item::Read(path, data)
                            }
                            other => other,
                        })
                        .collect();
                    if tx.send((seq, read)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let gate_ref = &gate;
        s.spawn(move || {
            let mut w = Walker {
                gate: gate_ref,
                seq: 0,
                enc: Encoder::new(Vec::new()),
                batch: Vec::new(),
                files: 0,
                jobs: job_tx,
            };
            w.enc.magic();
            if w.node(root, meta.file_type()) {
                w.send();
            }
        });
        let result = write_in_order(&done_rx, &gate, out);
        gate.halt();
        drop(done_rx);
        result
    })
}

/// Receives batches, puts them back in sequence and writes them.
fn write_in_order<W: Write>(
    rx: &mpsc::Receiver<(u64, Vec<Item>)>,
    gate: &Gate,
    out: &mut W,
) -> Result<(), Error> {
    let mut pending: BTreeMap<u64, Vec<Item>> = BTreeMap::new();
    let mut next = 0u64;
    let mut buf = vec![0; BUF_LEN];
    for (seq, batch) in rx {
        pending.insert(seq, batch);
        while let Some(batch) = pending.remove(&next) {
            next += 1;
            gate.leave();
            for item in batch {
                match item {
                    Item::Bytes(b) => out.write_all(&b).map_err(|e| Error::io("<output>", e))?,
                    Item::Failed(e) => return Err(e),
                    Item::Read(path, data) => write_file(out, &path, data?, &mut buf)?,
                    Item::File(path) => unreachable!("{} was not read", path.display()),
                }
            }
        }
    }
    Ok(())
}

fn write_file<W: Write>(
    out: &mut W,
    path: &Path,
    data: FileData,
    buf: &mut [u8],
) -> Result<(), Error> {
    let err = |e| Error::io(path, e);
    let mut head = Encoder::new(Vec::with_capacity(128));
    head.regular(data.exec, data.len);
    out.write_all(&head.sink).map_err(err)?;
    match data.contents {
        Some(c) => out.write_all(&c).map_err(err)?,
        None => stream(out, path, data.len, buf)?,
    }
    let mut tail = Encoder::new(Vec::with_capacity(24));
    tail.regular_end(data.len);
    out.write_all(&tail.sink).map_err(err)
}

/// Copies exactly `len` bytes of a large file, failing if it changed size.
fn stream<W: Write>(out: &mut W, path: &Path, len: u64, buf: &mut [u8]) -> Result<(), Error> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(Error::Changed { path: path.into() }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        out.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
        left -= n as u64;
    }
    if file.read(&mut buf[..1]).map_err(|e| Error::io(path, e))? != 0 {
        return Err(Error::Changed { path: path.into() });
    }
    Ok(())
}

/// A name for a file type that is neither file, directory nor symlink.
pub fn special_kind(ft: fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix32_of_empty_sha256_matches_nix() {
        let d: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            nix32(&d),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(
            format_hash(&d, HashFormat::Sri),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Printed by `nix-hash --type T --to-base32 HEX` (Nix 2.8) for the md5,
    /// sha1, sha256 and sha512 of "", "abc" and "strip-nd".
    const NIX32_VECTORS: &[(&str, &str)] = &[
        (
            "d41d8cd98f00b204e9800998ecf8427e",
            "3y8bwfr609h3lh9ch0izcqq7fl",
        ),
        (
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "143xibwh31h9bvxzalr0sjvbbvpa6ffs",
        ),
        (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
        ),
        (
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "0zdl9zrg8r3i9c1g90lgg9ip5ijzv3yhz91i0zzn3r8ap9ws784gkp9dk9j3aglhgf1amqb0pj21mh7h1nxcl18akqvvf7ggqsy30yg",
        ),
        (
            "900150983cd24fb0d6963f7d28e17f72",
            "3jgzhjhz9zjvbb0kyj7jc500ch",
        ),
        (
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "kpcd173cq987hw957sx6m0868wv3x6d9",
        ),
        (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
        ),
        (
            "30580b7176594acb9771f478caa4c7f0",
            "7hqyjcly7lf6bwnjjrfrqhnn1h",
        ),
        (
            "df092a2af858a9d491d41713a2ffd0ce56d088f6",
            "ys4d0mnfs3zs44qpsj8x9aaqz0m2l2fz",
        ),
        (
            "7b7fef9a1419912b460506f7a2d78c7e310bc23aba5ecaf30fc1b73033db615f",
            "0pv1vcrk1dy11zrwlpms7b10ncbyikbs5xq60m32p48r2jdfyzvv",
        ),
        (
            "d58e479cae6e5207de835269a636ac92eefbe4a30c588df2073d1fd2a61275e76eb089d3821ae055b8eed423981a71a4b35c707600a26be04a1eb945ec3a8329",
            "0lq6fpc8nwiwjp0dfi00xkhbjrs8w8sk0ix9vmqaph1m0nki6q6xrvm2akd47rx0zr8sn0clgjgpvljmhvacsajhgg0flkfmsf4g3nm",
        ),
    ];

    #[test]
    fn nix32_encodes_and_decodes_nix_vectors() {
        for (h, b32) in NIX32_VECTORS {
            assert_eq!(nix32(&hex(h)), *b32, "encode {h}");
            assert_eq!(nix32_decode(b32), Some(hex(h)), "decode {b32}");
        }
    }

    #[test]
    fn nix32_decode_refuses_what_nix_refuses() {
        // Letters Nix's alphabet leaves out, and upper case.
        for bad in ["e", "o", "u", "t"] {
            let s = format!("{}{bad}", &NIX32_VECTORS[0].1[1..]);
            assert_eq!(nix32_decode(&s), None, "{s}");
        }
        assert_eq!(nix32_decode(&NIX32_VECTORS[0].1.to_uppercase()), None);
        // 26 characters carry 130 bits: a md5 (128) leaves the top 2 clear.
        let mut over = NIX32_VECTORS[0].1.to_string();
        over.replace_range(0..1, "z");
        assert_eq!(nix32_decode(&over), None);
    }

    fn encoded(f: impl FnOnce(&mut Encoder<Vec<u8>>)) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        f(&mut e);
        e.sink
    }

    #[test]
    fn the_encoder_writes_a_directory_as_nix_store_dump_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("b"), b"bee").unwrap();
        std::os::unix::fs::symlink("b", root.join("a")).unwrap();
        let mut ours = Vec::new();
        dump(&root, &mut ours).unwrap();
        let want = encoded(|e| {
            e.magic();
            e.directory();
            e.entry(b"a");
            e.symlink(b"b");
            e.entry_end();
            e.entry(b"b");
            e.regular(false, 3);
            e.data(b"bee");
            e.regular_end(3);
            e.entry_end();
            e.directory_end();
        });
        assert_eq!(ours, want);
    }

    #[test]
    #[should_panic(expected = "NAR entries out of order")]
    fn the_encoder_refuses_entries_out_of_order() {
        encoded(|e| {
            e.directory();
            e.entry(b"b");
            e.entry_end();
            e.entry(b"a");
        });
    }

    #[test]
    #[should_panic(expected = "is not a file name")]
    fn the_encoder_refuses_a_name_with_a_slash() {
        encoded(|e| {
            e.directory();
            e.entry(b"a/b");
        });
    }

    #[test]
    fn a_regular_file_serializes_as_nix_does() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"hello").unwrap();
        let mut out = Vec::new();
        dump(&f, &mut out).unwrap();
        let mut want = Vec::new();
        for s in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hello",
            b")",
        ] {
            want.extend_from_slice(&(s.len() as u64).to_le_bytes());
            want.extend_from_slice(s);
            want.resize(want.len().div_ceil(8) * 8, 0);
        }
        assert_eq!(out, want);
    }
}
