//! A file read by position ([`FileSource`]), a file written in order
//! ([`FileSink`]) and scratch files in the temp directory ([`TempSpill`]):
//! what the engine gives a streaming handler, made here so the zip handler's
//! streamed path can be tested and measured before the engine's own are
//! merged. Included by `tests/it/main.rs` and `examples/zip_memory.rs`.
#![allow(dead_code)] // each includer uses a different part of it

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use strip_nd::handler::{Scratch, Sink, Source, Spill};

/// A file read by position; never in memory as a whole (`as_slice` is `None`).
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

/// A file written in order.
pub struct FileSink(pub BufWriter<File>);

impl FileSink {
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Self(BufWriter::with_capacity(1 << 20, File::create(path)?)))
    }
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Sink for FileSink {}

/// An anonymous temp file, written then read back by position.
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

impl Sink for TempScratch {}

impl Source for TempScratch {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.out.get_ref().read_exact_at(buf, offset)
    }
}

impl Scratch for TempScratch {
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Scratch files in the temp directory (removed as soon as they are made:
/// `tempfile::tempfile`), counted so a test can tell the spill path ran.
#[derive(Default)]
pub struct TempSpill {
    pub made: AtomicUsize,
}

impl TempSpill {
    pub fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }
}

impl Spill for TempSpill {
    fn scratch(&self) -> io::Result<Box<dyn Scratch>> {
        self.made.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(TempScratch {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            len: 0,
        }))
    }
}
