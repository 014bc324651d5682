//! bzip2 (the format of bzip2 1.0.8, which has no written spec besides its
//! source), recognized by `BZh` and a block size digit `1`-`9`, then the
//! block magic `31 41 59 26 53 59` or, for an empty stream, the end-of-stream
//! magic `17 72 45 38 50 90`. See [`super`] for what is normalized (the
//! payload, through its own handler) and when the stream is recompressed.
//!
//! A rewrite keeps the block size the header's digit announces (`bzip2 -9`
//! writes `BZh9`), with bzip2's default work factor 30, which the stream does
//! not record. The encoder is libbz2-rs-sys, a port of bzip2 1.0.8 that writes
//! the same bytes as `bzip2 -<digit>` (a test checks it).
//!
//! Several concatenated streams (pbzip2, `cat a.bz2 b.bz2`) are read as one
//! payload but never rewritten; bytes after the last stream are malformed
//! (`bzip2 -t` warns about them too).

use bzip2::{Action, Compress, Compression, Decompress, Status};

use std::io::Write;

use super::{Codec, Decoded, Decoding, OUT_ROOM, Reader, emit, truncated};
use crate::handler::{FormatError, Source};

/// The bzip2 codec.
pub struct Bzip2;

const BLOCK_MAGIC: &[u8] = &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const END_MAGIC: &[u8] = &[0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

/// What a rewrite keeps: the block size in units of 100 kB (1-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The header's digit.
    pub level: u32,
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bzip2 -{}", self.level)
    }
}

fn is_header(b: &[u8]) -> bool {
    b.len() >= 10
        && b.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&b[3])
        && (b[4..10] == *BLOCK_MAGIC || b[4..10] == *END_MAGIC)
}

impl Codec for Bzip2 {
    type Settings = Settings;
    const NAME: &'static str = "bzip2";
    const DESCRIBE: &'static str = "bzip2 streams, magic BZh1-9 + block magic: the payload (a tar...) goes to its handler; \
         recompressed only when it changed, at the block size the header announces; \
         left: an unchanged payload; several streams are reported, not rewritten";
    const SUFFIXES: &'static [(&'static str, &'static str)] =
        &[(".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", "")];

    const STARTS: &'static [u8] = b"BZh";

    fn sniff(head: &[u8]) -> bool {
        is_header(head)
    }

    /// The whole first block: bzip2 must decode all of a block before it
    /// yields a byte, and checks its CRC only once the block is out, so a
    /// head that stops short would leave damage unseen for little saved.
    fn head_len(input: &[u8]) -> usize {
        input
            .get(3)
            .map_or(0, |&d| usize::from(d.saturating_sub(b'0')) * 100_000 + 1)
    }

    fn scan(input: &[u8]) -> Result<Result<Settings, String>, FormatError> {
        if !is_header(input) {
            return Err(truncated("bzip2", input.len() as u64));
        }
        Ok(Ok(Settings {
            level: u32::from(input[3] - b'0'),
        }))
    }

    fn decode_to(
        input: &dyn Source,
        out: &mut dyn Write,
        limit: u64,
    ) -> Result<Decoded, FormatError> {
        let mut r = Reader::new(input);
        let len = r.len();
        let mut d = Decoding::new(out, limit);
        let mut pos = 0;
        let mut streams = 0;
        while pos < len {
            if streams > 0 && !is_header(&r.peek(pos, 10)?) {
                return Err(FormatError::malformed(format!(
                    "trailing garbage after the bzip2 stream at offset {pos}"
                )));
            }
            let mut stream = Decompress::new(false);
            let ended = d.stream(&mut r, &mut pos, "bzip2", |data, room, at| {
                let (was_in, was_out) = (stream.total_in(), stream.total_out());
                let status = stream.decompress(data, room).map_err(|e| {
                    FormatError::malformed(format!("corrupt bzip2 data near offset {at}: {e}"))
                })?;
                Ok((
                    stream.total_in() - was_in,
                    (stream.total_out() - was_out) as usize,
                    status == Status::StreamEnd,
                ))
            })?;
            if !ended {
                return Ok(Decoded {
                    complete: false,
                    streams: streams + 1,
                    end: len,
                });
            }
            streams += 1;
        }
        Ok(Decoded {
            complete: true,
            streams,
            end: len,
        })
    }

    fn encode_to(
        payload: &dyn Source,
        s: &Settings,
        _old_len: u64,
        out: &mut dyn Write,
    ) -> Result<(), FormatError> {
        let mut stream = Compress::new(Compression::new(s.level), 30);
        let mut r = Reader::new(payload);
        let len = r.len();
        let mut room = vec![0; OUT_ROOM];
        loop {
            let at = stream.total_in();
            let was_out = stream.total_out();
            let data = r.at(at)?;
            let action = if at + data.len() as u64 == len {
                Action::Finish
            } else {
                Action::Run
            };
            let status = stream.compress(data, &mut room, action).map_err(|e| {
                FormatError::malformed(format!("recompressing with bzip2 failed: {e}"))
            })?;
            emit(out, &room[..(stream.total_out() - was_out) as usize])?;
            if status == Status::StreamEnd {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_block_size_and_counts_streams() {
        for level in [1, 9] {
            let s = Settings { level };
            let a = Bzip2::encode(b"hello hello", &s, 0).unwrap();
            assert_eq!(Bzip2::scan(&a).unwrap(), Ok(s));
            let mut out = Vec::new();
            let d = Bzip2::decode(&a, &mut out, usize::MAX).unwrap();
            assert_eq!((out.as_slice(), d.streams), (&b"hello hello"[..], 1));
        }
        let empty = Bzip2::encode(b"", &Settings { level: 9 }, 0).unwrap();
        assert!(
            Bzip2::sniff(&empty),
            "the end-of-stream magic follows the header"
        );
        let one = Bzip2::encode(b"one ", &Settings { level: 9 }, 0).unwrap();
        let two = [one.as_slice(), &one].concat();
        let mut out = Vec::new();
        assert_eq!(
            Bzip2::decode(&two, &mut out, usize::MAX).unwrap().streams,
            2
        );
        assert_eq!(out, b"one one ");
        for bad in [&two[..two.len() - 3], &[two.as_slice(), b"x"].concat()[..]] {
            assert!(Bzip2::decode(bad, &mut Vec::new(), usize::MAX).is_err());
        }
    }
}
