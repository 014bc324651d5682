//! Files too large for memory, as the handler API sees them: a file read by
//! position ([`FileSource`]), the temp file its replacement is written to
//! ([`TempSink`], renamed over the original by [`crate::replace`]), and
//! scratch files for large members ([`TempSpill`]), removed when dropped;
//! and, for a dry run, a sink that writes nothing ([`DrySink`]).
//!
//! Handlers never touch the file system: the engine builds these and hands
//! them over as [`Source`], [`Sink`] and [`Spill`] trait objects.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::handler::{Scratch, Sink, Source, Spill};
use crate::replace::{Contents, replace_linked_with};
use crate::walk::TEMP_PREFIX;

/// Buffer of the writers below: large writes, few system calls.
const BUF: usize = 1 << 20;

/// A file read by position (`pread`), never whole.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// `file`, taken to be `len` bytes long (its size when it was examined).
    pub fn new(file: File, len: u64) -> Self {
        Self { file, len }
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.file.read_exact_at(buf, offset)
    }

    fn file(&self) -> Option<&File> {
        Some(&self.file)
    }
}

/// Appends `len` bytes of `src` from `offset` to the file behind `out`: in
/// the kernel (`copy_file_range`: no copy through user memory, a reflink on
/// file systems that share extents) when `src` is a file and the range is at
/// least [`KERNEL_MIN`], else through memory.
///
/// `out` is flushed first, so the file's position is the end of what was
/// written; `copy_file_range` without an output offset writes there and
/// moves it, so later buffered writes follow on. When the kernel cannot copy
/// between these files (EXDEV across file systems on some kernels, ENOSYS,
/// EINVAL, EOPNOTSUPP), the rest goes through memory.
fn copy_into<F: Write + AsFd>(
    out: &mut BufWriter<F>,
    src: &dyn Source,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    use rustix::io::Errno;
    let Some(file) = src.file().filter(|_| len >= KERNEL_MIN) else {
        return crate::handler::copy_buffered(out, src, offset, len);
    };
    let end = offset
        .checked_add(len)
        .filter(|&end| end <= src.len())
        .ok_or(io::ErrorKind::UnexpectedEof)?;
    out.flush()?;
    let mut at = offset;
    while at < end {
        let want = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(KERNEL_CHUNK);
        match rustix::fs::copy_file_range(file, Some(&mut at), out.get_ref(), None, want) {
            // The file is shorter than when it was examined.
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                return crate::handler::copy_buffered(out, src, at, end - at);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Ranges shorter than this are copied through memory: a jar's small
/// members would cost a flush and a system call each, for a few hundred
/// bytes that a buffered write takes in one `memcpy`.
const KERNEL_MIN: u64 = 128 << 10;

/// The most one `copy_file_range` call is asked for (the kernel caps a call
/// near 2 GiB anyway; short copies are looped on).
const KERNEL_CHUNK: usize = 1 << 30;

/// The temp file, in the directory of the file it will replace, that a
/// streamed handler writes the new contents to.
pub struct TempSink {
    out: BufWriter<NamedTempFile>,
}

impl TempSink {
    /// A new temp file beside `path`, named with [`TEMP_PREFIX`] so the walk
    /// skips it and recovery removes it after a crash.
    ///
    /// When that directory is not writable (a dry run in a read-only tree),
    /// the file goes to the system's temp directory instead, and
    /// [`crate::replace`] copies it beside the target when it is written.
    pub fn beside(path: &Path) -> io::Result<Self> {
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix(TEMP_PREFIX);
            b
        };
        let tmp = match builder.tempfile_in(crate::replace::absolute(crate::replace::parent(path)))
        {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => builder.tempfile()?,
            Err(e) => return Err(e),
        };
        Ok(Self {
            out: BufWriter::with_capacity(BUF, tmp),
        })
    }

    /// The written temp file, flushed; removed when dropped unless persisted.
    pub fn finish(self) -> io::Result<NamedTempFile> {
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

impl Write for TempSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Sink for TempSink {
    fn copy_from(&mut self, src: &dyn Source, offset: u64, len: u64) -> io::Result<()> {
        copy_into(&mut self.out, src, offset, len)
    }
}

/// Where a dry examination (`--check`, the self-check's second pass) of a
/// streamed file writes: nowhere. It makes no temp file, so a dry run
/// neither needs a writable tree nor moves a directory's mtime, and costs
/// no inode allocation. When the new contents' sha256 is needed (the file
/// is listed in a `.cargo-checksum.json`, whose entry a dry run reports
/// too), it is computed from the bytes as they pass.
pub struct DrySink {
    hasher: Option<sha2::Sha256>,
}

impl DrySink {
    /// A sink that keeps nothing.
    pub fn discarding() -> Self {
        Self { hasher: None }
    }

    /// A sink that keeps only the sha256 of what is written to it.
    pub fn hashing() -> Self {
        use sha2::Digest;
        Self {
            hasher: Some(sha2::Sha256::new()),
        }
    }

    /// The sha256 of everything written, when made by [`DrySink::hashing`].
    pub fn finish(self) -> Option<[u8; 32]> {
        use sha2::Digest;
        self.hasher.map(|h| h.finalize().into())
    }
}

impl Write for DrySink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(h) = &mut self.hasher {
            sha2::Digest::update(h, buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for DrySink {
    fn copy_from(&mut self, src: &dyn Source, offset: u64, len: u64) -> io::Result<()> {
        if self.hasher.is_some() {
            return crate::handler::copy_buffered(self, src, offset, len);
        }
        // Nothing to read, but a range past the end fails as it would when
        // written: the result of a dry run is the result of a real one.
        match offset.checked_add(len) {
            Some(end) if end <= src.len() => Ok(()),
            _ => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// A scratch file in the temp directory: unnamed (`O_TMPFILE` or unlinked at
/// once), so nothing is left behind even when the run is killed.
pub struct TempScratch {
    out: BufWriter<File>,
    len: u64,
}

impl Write for TempScratch {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Sink for TempScratch {
    fn copy_from(&mut self, src: &dyn Source, offset: u64, len: u64) -> io::Result<()> {
        copy_into(&mut self.out, src, offset, len)?;
        self.len += len;
        Ok(())
    }
}

impl Source for TempScratch {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // Bytes still in the write buffer are not in the file yet: readers
        // must call `finish` first, as the `Scratch` contract says.
        self.out.get_ref().read_exact_at(buf, offset)
    }
}

impl Scratch for TempScratch {
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Makes [`TempScratch`] files in the system's temp directory.
pub struct TempSpill;

impl Spill for TempSpill {
    fn scratch(&self) -> io::Result<Box<dyn Scratch>> {
        Ok(Box::new(TempScratch {
            out: BufWriter::with_capacity(BUF, tempfile::tempfile()?),
            len: 0,
        }))
    }
}

/// A file's new contents, as `examine` found them.
pub enum New {
    /// Held in memory (files up to `in_memory`, and handlers that do not stream).
    Bytes(Vec<u8>),
    /// Written to a temp file beside the file (streamed).
    Temp(NamedTempFile),
    /// Examined dry and streamed: not kept, only their sha256 when it was
    /// asked for ([`DrySink::hashing`]).
    Dry(Option<[u8; 32]>),
}

impl New {
    /// The sha256 of the new contents in lowercase hex (`.cargo-checksum.json`).
    pub fn sha256_hex(&self) -> Result<String, String> {
        match self {
            New::Bytes(b) => {
                use sha2::Digest;
                Ok(crate::cargo_checksum::hex_digest(&sha2::Sha256::digest(b)))
            }
            New::Temp(t) => sha256_of(t.as_file())
                .map(|d| crate::cargo_checksum::hex_digest(&d))
                .map_err(|e| format!("cannot hash the new contents: {e}")),
            New::Dry(Some(d)) => Ok(crate::cargo_checksum::hex_digest(d)),
            New::Dry(None) => Err("the new contents were not hashed in this dry run".into()),
        }
    }

    /// Replaces every link of the file with these contents
    /// ([`crate::replace::replace_linked_with`]).
    pub fn write_over(
        self,
        paths: &[std::path::PathBuf],
        meta: &std::fs::Metadata,
        mtime: filetime::FileTime,
    ) -> Result<(), crate::error::Error> {
        match self {
            New::Bytes(b) => replace_linked_with(paths, meta, Contents::Bytes(&b), mtime),
            New::Temp(t) => replace_linked_with(paths, meta, Contents::Temp(t), mtime),
            New::Dry(_) => Err(crate::error::Error::io(
                &paths[0],
                io::Error::other("a dry examination has no contents to write"),
            )),
        }
    }
}

/// The sha256 of a file's contents, read in chunks.
pub fn sha256_of(file: &File) -> io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0; BUF];
    let mut at = 0;
    loop {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_file_reads_back_what_was_written() {
        let mut s = TempSpill.scratch().unwrap();
        s.write_all(b"hello, ").unwrap();
        let src: &[u8] = b"xxworldxx";
        s.copy_from(&src, 2, 5).unwrap();
        s.finish().unwrap();
        assert_eq!(s.len(), 12);
        assert_eq!(s.read_vec(0, 12).unwrap(), b"hello, world");
        assert!(s.read_vec(8, 5).is_err());
    }

    /// Ranges of a file copied in the kernel land between the buffered
    /// writes around them, in order, and a scratch file counts them.
    #[test]
    fn kernel_copies_keep_their_place_among_buffered_writes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3 * KERNEL_MIN as usize)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let src = FileSource::new(File::open(&p).unwrap(), data.len() as u64);
        let (a, b) = (7, 7 + 2 * KERNEL_MIN as usize);
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[a..b]);
        want.extend_from_slice(b"mid");
        want.extend_from_slice(&data[1..4]);
        want.extend_from_slice(b"tail");
        let fill = |s: &mut dyn Sink| {
            s.write_all(b"head").unwrap();
            s.copy_from(&src, a as u64, (b - a) as u64).unwrap();
            s.write_all(b"mid").unwrap();
            s.copy_from(&src, 1, 3).unwrap();
            s.write_all(b"tail").unwrap();
        };
        let mut sink = TempSink::beside(&p).unwrap();
        fill(&mut sink);
        let tmp = sink.finish().unwrap();
        assert!(std::fs::read(tmp.path()).unwrap() == want);
        let mut scratch = TempSpill.scratch().unwrap();
        fill(&mut *scratch);
        scratch.finish().unwrap();
        assert_eq!(scratch.len(), want.len() as u64);
        assert!(scratch.read_vec(0, want.len()).unwrap() == want);
        let mut short = TempSpill.scratch().unwrap();
        let past = data.len() as u64 - KERNEL_MIN;
        assert!(short.copy_from(&src, past, KERNEL_MIN + 1).is_err());
        let mut hashing = DrySink::hashing();
        fill(&mut hashing);
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&want).into();
        assert_eq!(hashing.finish(), Some(digest));
        let mut discarding = DrySink::discarding();
        fill(&mut discarding);
        assert!(discarding.copy_from(&src, past, KERNEL_MIN + 1).is_err());
        assert!(
            DrySink::hashing()
                .copy_from(&src, past, KERNEL_MIN + 1)
                .is_err()
        );
        assert_eq!(discarding.finish(), None);
    }

    #[test]
    fn a_file_source_reads_by_position_and_stops_at_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let src = FileSource::new(File::open(&p).unwrap(), 10);
        assert_eq!(src.read_vec(3, 4).unwrap(), b"3456");
        assert!(src.read_vec(8, 3).is_err());
    }

    #[test]
    fn a_temp_sink_lives_beside_the_file_and_goes_away_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut sink = TempSink::beside(&p).unwrap();
        sink.write_all(b"abc").unwrap();
        let tmp = sink.finish().unwrap();
        assert_eq!(tmp.path().parent(), Some(dir.path()));
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"abc");
        let digest = crate::cargo_checksum::hex_digest(&sha256_of(tmp.as_file()).unwrap());
        assert_eq!(digest[..8], *"ba7816bf");
        drop(tmp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
