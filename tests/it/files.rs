//! Test and example helpers over the engine's own stream types
//! ([`strip_nd::stream`]): opening a file as a [`FileSource`], a file written
//! in order ([`FileSink`]), and a [`CountingSpill`] that says whether the
//! spill path ran. Included by `tests/it/main.rs` and `examples/zip_memory.rs`.
#![allow(dead_code)] // each includer uses a different part of it

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use strip_nd::handler::{Scratch, Sink, Spill};
pub use strip_nd::stream::FileSource;
use strip_nd::stream::TempSpill;

/// The file at `path`, read by position.
pub fn open(path: &Path) -> io::Result<FileSource> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(FileSource::new(file, len))
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

/// The engine's scratch files ([`TempSpill`]), counted so a test can tell
/// the spill path ran.
#[derive(Default)]
pub struct CountingSpill {
    made: AtomicUsize,
}

impl CountingSpill {
    pub fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }
}

impl Spill for CountingSpill {
    fn scratch(&self) -> io::Result<Box<dyn Scratch>> {
        self.made.fetch_add(1, Ordering::Relaxed);
        TempSpill.scratch()
    }
}
