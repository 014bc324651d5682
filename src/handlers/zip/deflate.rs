//! Raw deflate both ways: a fixed-level encoder and a reusable inflater that
//! reads its input by position, so a member larger than memory streams through.

use std::io::Write;
use std::ops::Range;

use flate2::Compression;
use flate2::Decompress;
use flate2::FlushDecompress;
use flate2::Status;
use flate2::write::DeflateEncoder;

use crate::handler::Source;

/// How many compressed bytes are read, and inflated bytes handed on, at a time.
const CHUNK: usize = 1 << 16;

/// Raw deflate at a fixed level: the same bytes for the same input.
pub(super) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = deflater(Vec::with_capacity(data.len() / 2 + 64));
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// The encoder of [`deflate`] over any writer: the same bytes however the
/// input is split into writes (zlib compresses only once it has its full
/// lookahead, or at the end).
pub(super) fn deflater<W: Write>(w: W) -> DeflateEncoder<W> {
    DeflateEncoder::new(w, Compression::best())
}

/// Inflates raw deflate data with one reusable state.
pub(super) struct Inflater {
    state: Decompress,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Inflater {
    pub(super) fn new() -> Self {
        Self {
            state: Decompress::new(false),
            input: Vec::new(),
            output: Vec::new(),
        }
    }

    /// Inflates the deflate data at `data` of `src`, handing the output to
    /// `emit` in pieces, until `limit` bytes came out or the stream ends;
    /// returns how many bytes were produced and whether the stream ended.
    pub(super) fn inflate(
        &mut self,
        src: &dyn Source,
        data: Range<u64>,
        limit: u64,
        emit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(u64, bool), String> {
        self.state.reset(false);
        let len = data.end - data.start;
        let whole = src.as_slice().and_then(|all| {
            all.get(usize::try_from(data.start).ok()?..usize::try_from(data.end).ok()?)
        });
        let room = usize::try_from(limit).unwrap_or(CHUNK).min(CHUNK);
        self.output.resize(room, 0);
        // `self.input` holds the compressed bytes from `held` on.
        let mut held = 0u64;
        self.input.clear();
        let mut produced = 0u64;
        loop {
            if produced == limit {
                return Ok((produced, false));
            }
            let read = self.state.total_in();
            let input: &[u8] = if let Some(w) = whole {
                &w[read as usize..]
            } else {
                if read - held >= self.input.len() as u64 {
                    let n = usize::try_from(len - read).unwrap_or(CHUNK).min(CHUNK);
                    self.input.resize(n, 0);
                    src.read_at(data.start + read, &mut self.input)
                        .map_err(|e| format!("read failed: {e}"))?;
                    held = read;
                }
                &self.input[(read - held) as usize..]
            };
            let out_room = usize::try_from(limit - produced).unwrap_or(room).min(room);
            let before = self.state.total_out();
            let status = self
                .state
                .decompress(input, &mut self.output[..out_room], FlushDecompress::None)
                .map_err(|e| format!("corrupt deflate data: {e}"))?;
            let n = self.state.total_out() - before;
            emit(&self.output[..n as usize])?;
            produced += n;
            if status == Status::StreamEnd {
                return Ok((produced, true));
            }
            if self.state.total_in() == read && n == 0 {
                return Err("truncated deflate data".into());
            }
        }
    }

    /// The first `limit` bytes of the member at `data` (fewer if it is shorter).
    pub(super) fn head(
        &mut self,
        src: &dyn Source,
        data: Range<u64>,
        limit: usize,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(limit);
        self.inflate(src, data, limit as u64, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        Ok(out)
    }

    /// The whole member at `data`, which must be exactly `size` bytes.
    pub(super) fn all(
        &mut self,
        src: &dyn Source,
        data: Range<u64>,
        size: usize,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(size);
        let (n, ended) = self.inflate(src, data, size as u64 + 1, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })?;
        check_size(n, ended, size as u64)?;
        Ok(out)
    }
}

/// The error of a member that inflated to `n` bytes (`ended`: and the
/// stream ended there) when its headers say `size`.
pub(super) fn check_size(n: u64, ended: bool, size: u64) -> Result<(), String> {
    if n != size || !ended {
        return Err(format!(
            "inflates to {}{n} bytes, not the {size} its headers say",
            if ended { "" } else { "more than " }
        ));
    }
    Ok(())
}
