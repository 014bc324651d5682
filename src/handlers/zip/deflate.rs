//! Raw deflate both ways: a fixed-level encoder and a reusable inflater that
//! reads its input by position, so a member larger than memory streams
//! through (the shared loop of [`crate::inflate`]).

use std::io::Write;
use std::ops::Range;

use flate2::Compression;
use flate2::write::DeflateEncoder;

use crate::handler::Source;

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

/// Inflates raw deflate data with one reusable state: the shared loop of
/// [`crate::inflate`], whose errors print as the texts zip has always
/// reported.
pub(super) struct Inflater(crate::inflate::Inflater);

impl Inflater {
    pub(super) fn new() -> Self {
        Self(crate::inflate::Inflater::new())
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
        self.0
            .inflate(src, data, limit, emit)
            .map_err(|e| e.to_string())
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
