//! One inflate loop for every handler that reads deflate data (gzip members,
//! zip entries, PNG's zlib text chunks): the compressed bytes are read by
//! position from a [`Source`] in windows of [`CHUNK`] bytes, and the output
//! is handed on in pieces of at most [`CHUNK`] bytes, so a stream larger
//! than memory goes through a fixed, reused pair of buffers.
//!
//! The windows are the same whether the source is in memory or on disk (a
//! slice is cut into the windows a file would be read in), so the offsets in
//! error messages do not depend on where the input lives.
//!
//! An inflate can pause (the caller's `emit` returns `false`) and be resumed
//! with the same state: gzip sniffs its payload's first bytes, then decides
//! whether to go on without inflating the head a second time.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut, Range};

use flate2::{Decompress, FlushDecompress, Status};

use crate::handler::Source;

/// How many compressed bytes are read, and inflated bytes handed on, at a time.
pub const CHUNK: usize = 1 << 16;

/// Why an inflate stopped short.
#[derive(Debug)]
pub enum InflateError {
    /// The deflate data is invalid; `offset` is where the window the
    /// decompressor was given began (in the source), `msg` zlib's reason.
    Corrupt {
        /// Source offset of the failing window.
        offset: u64,
        /// The decompressor's message.
        msg: String,
    },
    /// The data ran out before the final block.
    Truncated,
    /// Reading the source failed.
    Read(io::Error),
    /// The caller's `emit` refused a piece, for this reason.
    Emit(String),
}

/// The texts zip has always reported (`corrupt deflate data: ...`).
impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::Corrupt { msg, .. } => write!(f, "corrupt deflate data: {msg}"),
            InflateError::Truncated => f.write_str("truncated deflate data"),
            InflateError::Read(e) => write!(f, "read failed: {e}"),
            InflateError::Emit(m) => f.write_str(m),
        }
    }
}

/// Why [`Inflater::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The final block was inflated.
    Ended,
    /// `limit` bytes came out, and the stream may go on.
    Limit,
    /// `emit` asked to pause; [`Inflater::run`] resumes.
    Paused,
}

/// Inflates raw deflate (or zlib) data with one reusable state and buffers.
pub struct Inflater {
    state: Decompress,
    zlib: bool,
    /// The compressed bytes being read, as a source range.
    data: Range<u64>,
    /// The current window: `win` bytes from source offset `data.start + held`
    /// (copied into `input` unless the source is a slice).
    held: u64,
    win: usize,
    input: Vec<u8>,
    output: Vec<u8>,
}

thread_local! {
    /// This thread's spare raw inflater (see [`Inflater::pooled`]).
    static SPARE: Cell<Option<Inflater>> = const { Cell::new(None) };
}

/// A raw-deflate [`Inflater`] borrowed from this thread's spare, given back
/// when dropped: a tree of many small gzip files then sets up one
/// decompressor and one pair of buffers per thread instead of one per file.
/// A nested borrow (a gzip inside a tar inside a gzip) finds no spare and
/// makes its own.
pub struct Pooled(Option<Inflater>);

impl Deref for Pooled {
    type Target = Inflater;
    fn deref(&self) -> &Inflater {
        self.0
            .as_ref()
            .expect("a pooled inflater is held until dropped")
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Inflater {
        self.0
            .as_mut()
            .expect("a pooled inflater is held until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        SPARE.set(self.0.take());
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// An inflater for raw deflate data (no zlib header).
    #[must_use]
    pub fn new() -> Self {
        Self::with_header(false)
    }

    /// A raw-deflate inflater from this thread's spare ([`Pooled`]); every
    /// stream is started with [`Inflater::begin`], which resets it.
    #[must_use]
    pub fn pooled() -> Pooled {
        Pooled(Some(SPARE.take().unwrap_or_default()))
    }

    /// An inflater for zlib streams (RFC 1950: a header and an Adler-32).
    #[must_use]
    pub fn zlib() -> Self {
        Self::with_header(true)
    }

    fn with_header(zlib: bool) -> Self {
        Self {
            state: Decompress::new(zlib),
            zlib,
            data: 0..0,
            held: 0,
            win: 0,
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Starts a new stream at `data` of the source: the compressed bytes
    /// are read from `data.start` and never past `data.end`.
    pub fn begin(&mut self, data: Range<u64>) {
        self.state.reset(self.zlib);
        self.data = data;
        self.held = 0;
        self.win = 0;
    }

    /// Compressed bytes consumed since [`Inflater::begin`].
    #[must_use]
    pub fn total_in(&self) -> u64 {
        self.state.total_in()
    }

    /// Bytes produced since [`Inflater::begin`].
    #[must_use]
    pub fn total_out(&self) -> u64 {
        self.state.total_out()
    }

    /// Inflates until the stream ends, `limit` bytes in all came out, or
    /// `emit` returns `false` (after taking its piece). `src` must be the
    /// source given since [`Inflater::begin`].
    pub fn run(
        &mut self,
        src: &dyn Source,
        limit: u64,
        emit: &mut dyn FnMut(&[u8]) -> Result<bool, String>,
    ) -> Result<Stop, InflateError> {
        let whole = src.as_slice();
        let len = self.data.end - self.data.start;
        loop {
            let produced = self.state.total_out();
            if produced >= limit {
                return Ok(Stop::Limit);
            }
            let read = self.state.total_in();
            if read - self.held >= self.win as u64 {
                self.win = usize::try_from(len - read).unwrap_or(CHUNK).min(CHUNK);
                self.held = read;
                if whole.is_none() {
                    self.input.resize(self.win, 0);
                    src.read_at(self.data.start + read, &mut self.input)
                        .map_err(InflateError::Read)?;
                }
            }
            let at = self.data.start + self.held;
            let window: &[u8] = match whole {
                Some(all) => usize::try_from(at)
                    .ok()
                    .and_then(|at| all.get(at..at + self.win))
                    .ok_or(InflateError::Read(io::ErrorKind::UnexpectedEof.into()))?,
                None => &self.input[..self.win],
            };
            let input = &window[usize::try_from(read - self.held).unwrap_or(usize::MAX)..];
            let room = usize::try_from(limit - produced)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            if self.output.len() < room {
                self.output.resize(room, 0);
            }
            let status = self
                .state
                .decompress(input, &mut self.output[..room], FlushDecompress::None)
                .map_err(|e| InflateError::Corrupt {
                    offset: self.data.start + read,
                    msg: e.to_string(),
                })?;
            let n = usize::try_from(self.state.total_out() - produced).unwrap_or(usize::MAX);
            let more = emit(&self.output[..n]).map_err(InflateError::Emit)?;
            if status == Status::StreamEnd {
                return Ok(Stop::Ended);
            }
            if self.state.total_in() == read && n == 0 {
                return Err(InflateError::Truncated);
            }
            if !more {
                return Ok(Stop::Paused);
            }
        }
    }

    /// Inflates the stream at `data` of `src` from its start, handing the
    /// output to `emit` in pieces, until `limit` bytes came out or the
    /// stream ends; returns how many bytes were produced and whether the
    /// stream ended.
    pub fn inflate(
        &mut self,
        src: &dyn Source,
        data: Range<u64>,
        limit: u64,
        emit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(u64, bool), InflateError> {
        self.begin(data);
        let stop = self.run(src, limit, &mut |b| emit(b).map(|()| true))?;
        Ok((self.total_out(), stop == Stop::Ended))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::{DeflateEncoder, ZlibEncoder};

    use super::*;

    /// Bytes readable only by position, as a file is.
    pub(crate) struct Positional(pub(crate) Vec<u8>);

    impl Source for Positional {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            self.0.as_slice().read_at(offset, buf)
        }
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 3 == 0 { (x >> 24) as u8 } else { b'a' }
            })
            .collect()
    }

    fn deflated(d: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    }

    fn all(src: &dyn Source, range: Range<u64>, limit: u64) -> Result<(Vec<u8>, bool), String> {
        let mut out = Vec::new();
        let (n, ended) = Inflater::new()
            .inflate(src, range, limit, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        assert_eq!(n, out.len() as u64);
        Ok((out, ended))
    }

    #[test]
    fn a_slice_and_a_file_inflate_alike_and_stop_at_the_limit() {
        let d = data(300_000);
        let mut z = b"head".to_vec();
        z.extend(deflated(&d));
        z.extend_from_slice(b"trailer");
        let range = 4..z.len() as u64;
        for src in [&z as &dyn Source, &Positional(z.clone())] {
            assert_eq!(
                all(src, range.clone(), u64::MAX).unwrap(),
                (d.clone(), true)
            );
            let (head, ended) = all(src, range.clone(), 1000).unwrap();
            assert_eq!((&head[..], ended), (&d[..1000], false));
        }
    }

    /// Inflates all of `z` with `inf`, from its start.
    fn whole(inf: &mut Inflater, z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (_, ended) = inf
            .inflate(&z, 0..z.len() as u64, u64::MAX, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert!(ended);
        out
    }

    #[test]
    fn a_pooled_inflater_is_reused_reset_and_never_shared() {
        let (a, b) = (data(150_000), data(90_000)[..].repeat(2));
        let (za, zb) = (deflated(&a), deflated(&b));
        {
            let mut inf = Inflater::pooled();
            // Given back mid-stream: the next borrower must not see it.
            inf.begin(0..za.len() as u64);
            assert_eq!(inf.run(&za, 1000, &mut |_| Ok(true)).unwrap(), Stop::Limit);
        }
        let mut again = Inflater::pooled();
        // The same inflater came back (its count is the stream left off)...
        assert!(
            again.total_out() >= 1000,
            "not reused: {}",
            again.total_out()
        );
        // ...and `begin` starts the next stream afresh.
        assert_eq!(whole(&mut again, &zb), b);
        // A borrow while one is held (a nested gzip) gets its own.
        let mut nested = Inflater::pooled();
        assert_eq!(nested.total_out(), 0);
        assert_eq!(whole(&mut nested, &za), a);
        assert_eq!(whole(&mut again, &za), a);
    }

    #[test]
    fn a_paused_inflate_resumes_where_it_stopped() {
        let d = data(200_000);
        let z = deflated(&d);
        let mut inf = Inflater::new();
        inf.begin(0..z.len() as u64);
        let mut out = Vec::new();
        let stop = inf
            .run(&z, u64::MAX, &mut |b| {
                out.extend_from_slice(b);
                Ok(false)
            })
            .unwrap();
        assert_eq!(stop, Stop::Paused);
        assert!(!out.is_empty() && out.len() < d.len());
        let stop = inf
            .run(&z, u64::MAX, &mut |b| {
                out.extend_from_slice(b);
                Ok(true)
            })
            .unwrap();
        assert_eq!(stop, Stop::Ended);
        assert_eq!(out, d);
        assert_eq!(inf.total_in(), z.len() as u64);
    }

    #[test]
    fn truncation_and_corruption_are_errors_at_the_same_offset_from_a_file() {
        let d = data(200_000);
        let z = deflated(&d);
        let cut = &z[..z.len() / 2];
        for src in [&cut as &dyn Source, &Positional(cut.to_vec())] {
            let e = all(src, 0..cut.len() as u64, u64::MAX).unwrap_err();
            assert_eq!(e, "truncated deflate data");
        }
        let mut bad = z.clone();
        for b in &mut bad[100..200] {
            *b = 0xff;
        }
        let offsets: Vec<u64> = [&bad as &dyn Source, &Positional(bad.clone())]
            .into_iter()
            .map(|src| {
                match Inflater::new().inflate(src, 0..bad.len() as u64, u64::MAX, &mut |_| Ok(())) {
                    Err(InflateError::Corrupt { offset, .. }) => offset,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(offsets[0], offsets[1]);
    }

    #[test]
    fn zlib_streams_are_checked() {
        let d = data(50_000);
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(&d).unwrap();
        let z = e.finish().unwrap();
        let mut out = Vec::new();
        let (_, ended) = Inflater::zlib()
            .inflate(&z, 0..z.len() as u64, u64::MAX, &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert!(ended);
        assert_eq!(out, d);
        let mut bad = z.clone();
        let at = bad.len() - 1;
        bad[at] ^= 1; // the Adler-32
        assert!(
            Inflater::zlib()
                .inflate(&bad, 0..bad.len() as u64, u64::MAX, &mut |_| Ok(()))
                .is_err()
        );
    }
}
