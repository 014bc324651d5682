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
//! The serializer streams: a walker thread lists the tree in NAR order in
//! batches, and worker threads each read a batch's small files (the cost of
//! hashing a store path is mostly system calls on many small files) and,
//! when its turn comes, feed it to the sink themselves, streaming its large
//! files. Files are opened relative to their directory's descriptor
//! (`openat`, one `fstat`, one `read` for a small file) into batch buffers
//! that are recycled, never zero-filled. A fixed number of batches and chunk
//! buffers circulate, so memory does not grow with the size of the tree or of
//! any file.

use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use rustix::buffer::spare_capacity;
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat, fstat, openat, readlinkat, statat};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::fingerprint::Fingerprint;
use crate::progress::Progress;
use crate::walk::is_temp;

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
    hash_watched(path, jobs, None)
}

/// Called with the path and [`Fingerprint`] of every regular file and
/// symlink the hasher serializes, from any of its threads. A file's is
/// taken after it was read to its end, so a write before then shows.
pub type Watch<'a> = &'a (dyn Fn(&Path, Fingerprint) + Sync);

/// [`hash_with`], telling `watch` what it read (the self-check's test that
/// nothing changed on disk since the pass that left the tree).
pub fn hash_watched(path: &Path, jobs: usize, watch: Option<Watch<'_>>) -> Result<[u8; 32], Error> {
    hash_gated(path, jobs, watch, None)
}

/// Which root of a normalizing pass is hashed, and that pass's progress:
/// the hasher reads each entry only once the pass has left it for good.
pub type Gate<'a> = (&'a Progress, usize);

/// [`hash_watched`], beside the normalizing pass `gate` tells of (see
/// [`crate::progress`]): each entry is read once that pass is done with it,
/// and a directory is listed again while it holds a temp file of a rewrite
/// in progress, so the hash is the one of the tree the pass leaves.
pub fn hash_gated(
    path: &Path,
    jobs: usize,
    watch: Option<Watch<'_>>,
    gate: Option<Gate<'_>>,
) -> Result<[u8; 32], Error> {
    let mut sink = HashSink(Sha256::new());
    serialize(path, jobs, &mut sink, watch, gate)?;
    Ok(sink.0.finalize().into())
}

/// Writes the NAR serialization of `path` to `out`.
pub fn dump<W: Write + Send>(path: &Path, out: &mut W) -> Result<(), Error> {
    serialize(path, 2, out, None, None)
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
/// by the worker writing their batch, so memory stays bounded.
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

/// A directory of the tree: an open descriptor the workers open its files
/// relative to (one path lookup per name, not per path), and its path, for
/// messages only. `fd: None` is the current directory, for a root that is
/// not a directory (its `name` is then the whole root path).
struct Dir {
    fd: Option<OwnedFd>,
    path: PathBuf,
}

impl Dir {
    fn at(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().map_or(CWD, AsFd::as_fd)
    }
    fn join(&self, name: &CStr) -> PathBuf {
        self.path.join(OsStr::from_bytes(name.to_bytes()))
    }
}

/// One piece of the NAR stream, in order.
enum Item {
    /// Serialized structure (directory entries, symlinks, tokens): a range
    /// of the batch's `meta`.
    Bytes(Range<usize>),
    /// A regular file for a worker to read: its directory and its name, a
    /// NUL-terminated range of the batch's `names` (no allocation per file).
    File(Arc<Dir>, Range<usize>),
    /// A small file a worker has read: its contents are a range of the
    /// batch's `data`.
    Read { exec: bool, at: Range<usize> },
    /// A large file its batch's worker streams when the batch is written.
    Large {
        dir: Arc<Dir>,
        name: CString,
        exec: bool,
        len: u64,
    },
    /// A walk or read error: the serialization stops here.
    Failed(Error),
}

/// What threads pass around: a run of items with the bytes they refer to.
/// Batches are recycled, worker to walker, so their buffers are allocated
/// (and faulted in) once, not once per file; their number bounds the memory
/// in flight.
struct Batch {
    seq: u64,
    items: Vec<Item>,
    meta: Vec<u8>,
    names: Vec<u8>,
    data: Vec<u8>,
}

impl Batch {
    /// A batch whose `data` holds a full batch of the largest small files
    /// without growing: growing a buffer copies it into fresh pages the
    /// kernel must zero first (a fifth of the time on many small files).
    /// Only the pages a batch uses become resident.
    fn new() -> Self {
        Self {
            seq: 0,
            items: Vec::with_capacity(2 * BATCH_FILES + 2),
            meta: Vec::new(),
            names: Vec::new(),
            data: Vec::with_capacity(BATCH_FILES * (PREFETCH_MAX as usize + 1)),
        }
    }
}

fn io_err(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn open_file(dir: &Dir, name: &CStr) -> io::Result<(OwnedFd, Stat)> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY;
    let fd = openat(dir.at(), name, flags, Mode::empty()).map_err(io_err)?;
    let st = fstat(&fd).map_err(io_err)?;
    Ok((fd, st))
}

/// Reads a file the walk listed as regular into `data` (a small one) or
/// notes its length (a large one, streamed later). The size comes from
/// `fstat` on the open file; a read that stops short exactly there is the
/// end, anything else reads on to a zero-length read, so a file that changed
/// is read as it is. Appends into spare capacity: no zero-filling.
fn read_file(dir: &Arc<Dir>, name: &CStr, data: &mut Vec<u8>, watch: Option<Watch<'_>>) -> Item {
    let path = || dir.join(name);
    let (fd, st) = match open_file(dir, name) {
        Ok(x) => x,
        Err(e) => return Item::Failed(Error::io(path(), e)),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Item::Failed(Error::Changed { path: path() });
    }
    let exec = st.st_mode & 0o100 != 0;
    let len = u64::try_from(st.st_size).unwrap_or(0);
    if len > PREFETCH_MAX {
        return Item::Large {
            dir: Arc::clone(dir),
            name: name.to_owned(),
            exec,
            len,
        };
    }
    let start = data.len();
    data.reserve(usize::try_from(len).unwrap_or(0) + 1);
    loop {
        if data.capacity() == data.len() {
            data.reserve(64 * 1024);
        }
        let room = data.capacity() - data.len();
        match rustix::io::read(&fd, spare_capacity(data)) {
            Ok(0) => break,
            Ok(n) if n < room && (data.len() - start) as u64 == len => break,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                data.truncate(start);
                return Item::Failed(Error::io(path(), io_err(e)));
            }
        }
    }
    if let Some(watch) = watch {
        match fstat(&fd) {
            Ok(st) => watch(&path(), Fingerprint::of_stat(&st)),
            Err(e) => return Item::Failed(Error::io(path(), io_err(e))),
        }
    }
    Item::Read {
        exec,
        at: start..data.len(),
    }
}

/// The walker: lists the tree in NAR order, serializing its structure and
/// leaving regular files for the workers, in numbered batches taken from the
/// pool.
struct Walker<'w> {
    seq: u64,
    /// The batch being filled.
    batch: Batch,
    /// Where `enc.sink` was when the last item was pushed.
    mark: usize,
    files: usize,
    /// Encodes structure into what becomes the batch's `meta` when it is
    /// sent (the batch's own `meta` is swapped in then, empty).
    enc: Encoder<Vec<u8>>,
    pool: mpsc::Receiver<Batch>,
    jobs: mpsc::Sender<Batch>,
    watch: Option<Watch<'w>>,
    gate: Option<Gate<'w>>,
    /// The next entry's index in walk order (the root's own is 0), as the
    /// normalizing pass numbers them.
    index: u64,
    /// Batches handed to the workers.
    sent: u64,
}

impl Walker<'_> {
    /// Turns pending structure bytes into an item.
    fn take_bytes(&mut self) {
        let end = self.enc.sink.len();
        if end > self.mark {
            self.batch.items.push(Item::Bytes(self.mark..end));
            self.mark = end;
        }
    }

    /// Sends the current batch and takes an empty one. False when the
    /// workers have stopped.
    fn send(&mut self) -> bool {
        self.take_bytes();
        if self.batch.items.is_empty() {
            return true;
        }
        let Ok(mut next) = self.pool.recv() else {
            return false;
        };
        next.items.clear();
        next.meta.clear();
        next.names.clear();
        next.data.clear();
        next.seq = self.seq + 1;
        let mut full = std::mem::replace(&mut self.batch, next);
        std::mem::swap(&mut full.meta, &mut self.enc.sink);
        self.seq += 1;
        self.mark = 0;
        self.files = 0;
        self.sent += 1;
        self.jobs.send(full).is_ok()
    }

    /// The next entry in walk order: once the pass is done with it, visited.
    fn node(&mut self, dir: &Arc<Dir>, name: &CStr, ft: FileType) -> bool {
        if let Some((progress, root)) = self.gate {
            progress.wait_for(root, self.index);
        }
        self.index += 1;
        self.visit(dir, name, ft)
    }

    fn visit(&mut self, dir: &Arc<Dir>, name: &CStr, ft: FileType) -> bool {
        match ft {
            FileType::RegularFile => {
                self.take_bytes();
                let at = self.batch.names.len();
                self.batch.names.extend_from_slice(name.to_bytes_with_nul());
                self.batch
                    .items
                    .push(Item::File(Arc::clone(dir), at..self.batch.names.len()));
                self.files += 1;
                self.files < BATCH_FILES || self.send()
            }
            FileType::Symlink => match readlinkat(dir.at(), name, Vec::new()) {
                Ok(target) => {
                    self.enc.symlink(target.as_bytes());
                    let Some(watch) = self.watch else {
                        return true;
                    };
                    match statat(dir.at(), name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => {
                            watch(&dir.join(name), Fingerprint::of_stat(&st));
                            true
                        }
                        Err(e) => self.fail(Error::io(dir.join(name), io_err(e))),
                    }
                }
                Err(e) => self.fail(Error::io(dir.join(name), io_err(e))),
            },
            FileType::Directory => self.directory(dir, name),
            FileType::Unknown => match statat(dir.at(), name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                    FileType::Unknown => self.special(dir, name, st.st_mode),
                    ft => self.visit(dir, name, ft),
                },
                Err(e) => self.fail(Error::io(dir.join(name), io_err(e))),
            },
            _ => match statat(dir.at(), name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => self.special(dir, name, st.st_mode),
                Err(e) => self.fail(Error::io(dir.join(name), io_err(e))),
            },
        }
    }

    fn special(&mut self, dir: &Dir, name: &CStr, mode: u32) -> bool {
        let kind = match FileType::from_raw_mode(mode) {
            FileType::Fifo => "FIFO",
            FileType::Socket => "socket",
            FileType::BlockDevice => "block device",
            FileType::CharacterDevice => "character device",
            _ => "special file",
        };
        self.fail(Error::NarUnsupported {
            path: dir.join(name),
            kind,
        })
    }

    fn directory(&mut self, parent: &Dir, name: &CStr) -> bool {
        let path = parent.join(name);
        let (fd, mut entries) = loop {
            let before = self.gate.map(|(p, _)| p.final_below());
            let (fd, entries) = match list(parent, name) {
                Ok(x) => x,
                Err(e) => return self.fail(Error::io(path, io_err(e))),
            };
            // A temp file is a rewrite in progress, gone when it is done:
            // listed again once the pass has moved on.
            match (self.gate, before) {
                (Some((p, _)), Some(before))
                    if !p.is_over()
                        && entries
                            .iter()
                            .any(|(n, _)| is_temp(OsStr::from_bytes(n.to_bytes()))) =>
                {
                    p.wait_past(before);
                }
                _ => break (fd, entries),
            }
        };
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let dir = Arc::new(Dir { fd: Some(fd), path });
        self.enc.directory();
        for (name, ft) in entries {
            self.enc.entry(name.as_bytes());
            if !self.node(&dir, &name, ft) {
                return false;
            }
            self.enc.entry_end();
        }
        self.enc.directory_end();
        true
    }

    fn fail(&mut self, e: Error) -> bool {
        self.take_bytes();
        self.batch.items.push(Item::Failed(e));
        self.send();
        false
    }
}

/// The entries of directory `name` in `parent` but `.` and `..`, unsorted,
/// with the open directory.
fn list(parent: &Dir, name: &CStr) -> rustix::io::Result<(OwnedFd, Vec<(CString, FileType)>)> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = openat(parent.at(), name, flags, Mode::empty())?;
    let mut entries = Vec::new();
    for e in rustix::fs::Dir::read_from(&fd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            entries.push((e.file_name().to_owned(), e.file_type()));
        }
    }
    Ok((fd, entries))
}

/// Serializes `root` to `out`: a walker thread lists the tree in NAR order
/// and `jobs` workers each take the next batch, read its small files and,
/// when every earlier batch is written, write it to `out` themselves
/// (streaming its large files). The bytes are then fed to the sink by the
/// core that just read them, from its cache: sha256 ran at 2.0 GB/s on
/// bytes in cache and 1.3 GB/s on bytes from memory here, and a writer
/// thread of its own (the design before this one) both hashed bytes another
/// core had read and took a core's share from the readers.
fn serialize<W: Write + Send>(
    root: &Path,
    jobs: usize,
    out: &mut W,
    watch: Option<Watch<'_>>,
    gate: Option<Gate<'_>>,
) -> Result<(), Error> {
    let meta = fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    let root_name = CString::new(root.as_os_str().as_bytes())
        .map_err(|e| Error::io(root, io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let cwd = Arc::new(Dir {
        fd: None,
        path: PathBuf::new(),
    });
    let root_ft = FileType::from_raw_mode(std::os::unix::fs::MetadataExt::mode(&meta));
    let jobs = jobs.max(1);
    let (pool_tx, pool_rx) = mpsc::channel::<Batch>();
    for _ in 0..(2 * jobs + 2).min(MAX_IN_FLIGHT) - 1 {
        let _ = pool_tx.send(Batch::new());
    }
    let (job_tx, job_rx) = mpsc::channel::<Batch>();
    let job_rx = Mutex::new(job_rx);
    let turn = Turn {
        state: Mutex::new(TurnState {
            next: 0,
            failed: None,
            pool: Some(pool_tx),
        }),
        moved: Condvar::new(),
        out: Mutex::new(out),
    };
    let sent = std::thread::scope(|s| {
        for _ in 0..jobs {
            let (rx, turn) = (&job_rx, &turn);
            s.spawn(move || {
                // A worker that panics stops the others and the walker
                // instead of leaving them waiting for its turn.
                let _guard = turn.guard();
                let mut buf = Vec::new();
                loop {
                    let job = lock(rx).recv();
                    let Ok(mut batch) = job else { break };
                    for item in &mut batch.items {
                        let Item::File(dir, at) = item else { continue };
                        let name = CStr::from_bytes_with_nul(&batch.names[at.clone()])
                            .expect("one NUL-terminated name");
                        let read = read_file(dir, name, &mut batch.data, watch);
                        *item = read;
                    }
                    if !turn.write(&mut batch, &mut buf, watch) {
                        break;
                    }
                    turn.give_back(batch);
                }
            });
        }
        let walker = s.spawn(move || {
            let mut w = Walker {
                seq: 0,
                batch: Batch::new(),
                mark: 0,
                files: 0,
                enc: Encoder::new(Vec::new()),
                pool: pool_rx,
                jobs: job_tx,
                watch,
                gate,
                index: 0,
                sent: 0,
            };
            w.enc.magic();
            if w.node(&cwd, &root_name, root_ft) {
                w.send();
            }
            w.sent
        });
        walker.join()
    });
    let sent = sent.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let state = turn
        .state
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match state.failed {
        Some(e) => Err(e),
        // Every batch the walker sent was written: the stream is whole.
        None if state.next == sent => Ok(()),
        None => Err(Error::io(
            root,
            io::Error::other(format!(
                "NAR serialization wrote {} of {sent} batches",
                state.next
            )),
        )),
    }
}

/// Whose turn it is to write: batches are written in sequence, each by the
/// worker that read it.
struct Turn<'o, W> {
    state: Mutex<TurnState>,
    /// Signalled when `next` moves or the serialization fails.
    moved: Condvar,
    /// Locked only by the worker whose turn it is.
    out: Mutex<&'o mut W>,
}

struct TurnState {
    /// The sequence number of the next batch to write.
    next: u64,
    /// The first error, in NAR order: every worker then stops.
    failed: Option<Error>,
    /// Where written batches go back to the walker; dropped on failure, so
    /// the walker stops once the batches in the pool are used up.
    pool: Option<mpsc::Sender<Batch>>,
}

/// Fails the serialization if its worker unwinds.
struct Guard<'t, 'o, W>(&'t Turn<'o, W>);

impl<W> Drop for Guard<'_, '_, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail(Error::io(
                "<output>",
                io::Error::other("a NAR serialization worker panicked"),
            ));
        }
    }
}

impl<'o, W> Turn<'o, W> {
    fn guard(&self) -> Guard<'_, 'o, W> {
        Guard(self)
    }

    /// Records the first error and wakes every waiting worker.
    fn fail(&self, e: Error) {
        let mut state = lock(&self.state);
        if state.failed.is_none() {
            state.failed = Some(e);
        }
        state.pool = None;
        drop(state);
        self.moved.notify_all();
    }

    /// Returns a written batch to the walker's pool.
    fn give_back(&self, batch: Batch) {
        if let Some(pool) = &lock(&self.state).pool {
            // Refused once the walker is done: the batch is not needed.
            let _ = pool.send(batch);
        }
    }
}

impl<W: Write> Turn<'_, W> {
    /// Waits for `batch`'s turn and writes it. False once the serialization
    /// has failed (here or in another worker).
    fn write(&self, batch: &mut Batch, buf: &mut Vec<u8>, watch: Option<Watch<'_>>) -> bool {
        let mut state = lock(&self.state);
        while state.next != batch.seq && state.failed.is_none() {
            state = self
                .moved
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if state.failed.is_some() {
            return false;
        }
        drop(state);
        let written = {
            let mut out = lock(&self.out);
            write_batch(&mut **out, batch, buf, watch)
        };
        match written {
            Ok(()) => {
                lock(&self.state).next += 1;
                self.moved.notify_all();
                true
            }
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }
}

/// A lock that a panicking holder did not spoil: the panic itself is
/// propagated when the scope joins.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes the items of one batch to `out`, streaming its large files
/// through `buf`; the batch's items are left empty.
fn write_batch<W: Write>(
    out: &mut W,
    batch: &mut Batch,
    buf: &mut Vec<u8>,
    watch: Option<Watch<'_>>,
) -> Result<(), Error> {
    let werr = |e| Error::io("<output>", e);
    for item in batch.items.drain(..) {
        match item {
            Item::Bytes(r) => out.write_all(&batch.meta[r]).map_err(werr)?,
            Item::Failed(e) => return Err(e),
            Item::Read { exec, at } => {
                let c = &batch.data[at];
                write_head(out, exec, c.len() as u64).map_err(werr)?;
                out.write_all(c).map_err(werr)?;
                write_tail(out, c.len() as u64).map_err(werr)?;
            }
            Item::Large {
                dir,
                name,
                exec,
                len,
            } => {
                if buf.capacity() < BUF_LEN {
                    buf.reserve(BUF_LEN);
                }
                write_head(out, exec, len).map_err(werr)?;
                stream(out, &dir, &name, len, buf, watch)?;
                write_tail(out, len).map_err(werr)?;
            }
            Item::File(dir, _) => {
                unreachable!("a file in {} was not read", dir.path.display())
            }
        }
    }
    Ok(())
}

/// Copies exactly `len` bytes of a large file to `out` through `buf` (its
/// capacity, reused, never zero-filled), failing if the file changed size.
/// On this thread, not read ahead by another: handing chunks between cores
/// cost more (cache lines moving, wake-ups) than overlapping the reads saved.
fn stream<W: Write>(
    out: &mut W,
    dir: &Dir,
    name: &CStr,
    len: u64,
    buf: &mut Vec<u8>,
    watch: Option<Watch<'_>>,
) -> Result<(), Error> {
    let path = || dir.join(name);
    let (fd, _) = open_file(dir, name).map_err(|e| Error::io(path(), e))?;
    let mut left = len;
    // Chunks until `len` bytes, then a read that must find the end.
    loop {
        buf.clear();
        let n = loop {
            match rustix::io::read(&fd, spare_capacity(buf)) {
                Err(rustix::io::Errno::INTR) => {}
                r => break r.map_err(|e| Error::io(path(), io_err(e)))? as u64,
            }
        };
        if n > left || (n == 0 && left > 0) {
            return Err(Error::Changed { path: path() });
        }
        if n == 0 {
            if let Some(watch) = watch {
                let st = fstat(&fd).map_err(|e| Error::io(path(), io_err(e)))?;
                watch(&path(), Fingerprint::of_stat(&st));
            }
            return Ok(());
        }
        left -= n;
        out.write_all(buf).map_err(|e| Error::io("<output>", e))?;
    }
}

fn write_head<W: Write>(out: &mut W, exec: bool, len: u64) -> io::Result<()> {
    let mut head = Encoder::new(Vec::with_capacity(128));
    head.regular(exec, len);
    out.write_all(&head.sink)
}

fn write_tail<W: Write>(out: &mut W, len: u64) -> io::Result<()> {
    let mut tail = Encoder::new(Vec::with_capacity(24));
    tail.regular_end(len);
    out.write_all(&tail.sink)
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
