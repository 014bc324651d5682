//! Raw deflate both ways: a fixed-level encoder and a reusable inflater.

use std::io::Write;

use flate2::Compression;
use flate2::Decompress;
use flate2::FlushDecompress;
use flate2::Status;
use flate2::write::DeflateEncoder;

/// Raw deflate at a fixed level: the same bytes for the same input.
pub(super) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::with_capacity(data.len() / 2 + 64), Compression::best());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// Inflates raw deflate data with one reusable state.
pub(super) struct Inflater {
    state: Decompress,
}

impl Inflater {
    pub(super) fn new() -> Self {
        Self {
            state: Decompress::new(false),
        }
    }

    /// Inflates into `out` until it is full or the stream ends; returns how
    /// many bytes were produced and whether the stream ended.
    fn fill(&mut self, data: &[u8], out: &mut [u8]) -> Result<(usize, bool), String> {
        self.state.reset(false);
        loop {
            let read = self.state.total_in() as usize;
            let done = self.state.total_out() as usize;
            if done == out.len() {
                return Ok((done, false));
            }
            let status = self
                .state
                .decompress(&data[read..], &mut out[done..], FlushDecompress::None)
                .map_err(|e| format!("corrupt deflate data: {e}"))?;
            if status == Status::StreamEnd {
                return Ok((self.state.total_out() as usize, true));
            }
            if self.state.total_in() as usize == read && self.state.total_out() as usize == done {
                return Err("truncated deflate data".into());
            }
        }
    }

    /// The first `limit` bytes of the member (fewer if it is shorter).
    pub(super) fn head(&mut self, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0; limit];
        let (n, _) = self.fill(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// The whole member, which must be exactly `size` bytes.
    pub(super) fn all(&mut self, data: &[u8], size: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0; size.saturating_add(1)];
        let (n, ended) = self.fill(data, &mut out)?;
        if n != size || !ended {
            return Err(format!(
                "inflates to {}{n} bytes, not the {size} its headers say",
                if ended { "" } else { "more than " }
            ));
        }
        out.truncate(n);
        Ok(out)
    }
}
