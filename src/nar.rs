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

/// Appends a NAR string (length, bytes, padding) to `buf`.
fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s);
    buf.extend_from_slice(&[0; 8][..(8 - s.len() % 8) % 8]);
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
    buf: Vec<u8>,
    batch: Vec<Item>,
    files: usize,
    jobs: mpsc::Sender<(u64, Vec<Item>)>,
}

impl Walker<'_> {
    /// Moves pending structure bytes into the batch.
    fn take_bytes(&mut self) {
        if !self.buf.is_empty() {
            self.batch.push(Item::Bytes(std::mem::take(&mut self.buf)));
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
        put_str(&mut self.buf, b"(");
        if ft.is_symlink() {
            match fs::read_link(path) {
                Ok(target) => {
                    for t in [&b"type"[..], b"symlink", b"target"] {
                        put_str(&mut self.buf, t);
                    }
                    put_str(&mut self.buf, target.as_os_str().as_bytes());
                }
                Err(e) => return self.fail(Error::io(path, e)),
            }
        } else if ft.is_dir() {
            put_str(&mut self.buf, b"type");
            put_str(&mut self.buf, b"directory");
            let entries = fs::read_dir(path).and_then(|rd| {
                rd.map(|e| e.and_then(|e| Ok((e.file_name(), e.file_type()?))))
                    .collect::<io::Result<Vec<_>>>()
            });
            let mut entries = match entries {
                Ok(e) => e,
                Err(e) => return self.fail(Error::io(path, e)),
            };
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (name, ft) in entries {
                for t in [&b"entry"[..], b"(", b"name"] {
                    put_str(&mut self.buf, t);
                }
                put_str(&mut self.buf, name.as_bytes());
                put_str(&mut self.buf, b"node");
                if !self.node(&path.join(&name), ft) {
                    return false;
                }
                put_str(&mut self.buf, b")");
            }
        } else {
            return self.fail(Error::NarUnsupported {
                path: path.to_owned(),
                kind: special_kind(ft),
            });
        }
        put_str(&mut self.buf, b")");
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
                buf: Vec::new(),
                batch: Vec::new(),
                files: 0,
                jobs: job_tx,
            };
            put_str(&mut w.buf, b"nix-archive-1");
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
    let mut head = Vec::with_capacity(128);
    put_str(&mut head, b"(");
    put_str(&mut head, b"type");
    put_str(&mut head, b"regular");
    if data.exec {
        put_str(&mut head, b"executable");
        put_str(&mut head, b"");
    }
    put_str(&mut head, b"contents");
    head.extend_from_slice(&data.len.to_le_bytes());
    out.write_all(&head).map_err(err)?;
    match data.contents {
        Some(c) => out.write_all(&c).map_err(err)?,
        None => stream(out, path, data.len, buf)?,
    }
    let mut tail = Vec::with_capacity(24);
    tail.resize((8 - (data.len % 8) as usize) % 8, 0);
    put_str(&mut tail, b")");
    out.write_all(&tail).map_err(err)
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
