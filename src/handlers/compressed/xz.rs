//! xz (the `.xz` file format 1.2.0 of XZ Utils), recognized by the stream
//! header magic `FD 37 7A 58 5A 00`. See [`super`] for what is normalized (the
//! payload, through its own handler) and when the stream is recompressed.
//!
//! A rewrite keeps what the stream records:
//!
//! * the check type of the stream flags (None, CRC32, CRC64 or SHA-256);
//! * the block layout: blocks whose headers record their sizes are what the
//!   multi-threaded encoder writes (`xz -T`, dpkg-deb), so the payload is
//!   compressed with it again (one thread; its output does not depend on the
//!   thread count), with the first block's uncompressed size as block size
//!   when the stream has several blocks (and it is at least 64 KiB), else
//!   liblzma's default (three times the dictionary, at least 1 MiB). Blocks without
//!   sizes are what single-threaded `xz` writes; so is the rewrite, one block;
//! * the preset, read from the LZMA2 dictionary size: 256 KiB → 0, 1 MiB → 1,
//!   2 MiB → 2, 4 MiB → 4, 8 MiB → 6 (xz's default; 5 has the same dictionary),
//!   16, 32 and 64 MiB → 7, 8 and 9. Any other size means custom options,
//!   which are not recorded: preset 6. `-e` (extreme) is not recorded either.
//!
//! With those, the bytes are those of `xz -6 -T1 --check=crc64` (single
//! block) for the same payload at the same liblzma version; the bundled
//! liblzma (5.8) writes the same bytes as the xz 5.4 of Debian 12 (a test
//! checks it).
//!
//! Left as they are: stream padding after the stream (copied). Not rewritten
//! (reported when the payload would change): filter chains other than a lone
//! LZMA2 (BCJ and delta filters), several streams, reserved check types.

use liblzma::stream::{Action, Check, MtStreamBuilder, Status, Stream, TELL_UNSUPPORTED_CHECK};

use std::io::Write;

use super::{Codec, Decoded, Decoding, OUT_ROOM, Reader, emit, truncated};
use crate::handler::{FormatError, Source};

/// The xz codec.
pub struct Xz;

const MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const LZMA2: u64 = 0x21;
/// The decoder's memory limit: `xz -9` needs 65 MiB, so this leaves room for
/// custom dictionaries while a forged header cannot make it allocate gigabytes.
const MEMLIMIT: u64 = 1 << 28;

/// The smallest block size a rewrite reproduces (`xz --block-size=64KiB`).
const MIN_BLOCK: u64 = 64 << 10;

/// What a rewrite keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The preset level (0-9).
    pub preset: u32,
    /// The check ID of the stream flags (0, 1, 4 or 10).
    pub check: u8,
    /// For streams from the multi-threaded encoder: the first block's
    /// uncompressed size (`None` for single-threaded streams).
    pub first_block: Option<u64>,
}

impl Settings {
    fn check(self) -> Check {
        match self.check {
            0 => Check::None,
            1 => Check::Crc32,
            10 => Check::Sha256,
            _ => Check::Crc64,
        }
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let check = match self.check {
            0 => "none",
            1 => "crc32",
            10 => "sha256",
            _ => "crc64",
        };
        write!(f, "xz -{} --check={check}", self.preset)?;
        if self.first_block.is_some() {
            f.write_str(", multi-threaded block layout")?;
        }
        Ok(())
    }
}

/// Reads a multibyte integer of the xz format at `*pos`.
fn varint(input: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let b = *input.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (b != 0 || i == 0).then_some(value);
        }
    }
    None
}

/// The preset whose LZMA2 dictionary size the props byte `b` announces.
fn preset_for(b: u8) -> u32 {
    match b {
        12 => 0,
        16 => 1,
        18 => 2,
        20 => 4,
        24 => 7,
        26 => 8,
        28 => 9,
        _ => 6,
    }
}

impl Codec for Xz {
    type Settings = Settings;
    const NAME: &'static str = "xz";
    const DESCRIBE: &'static str = "xz streams, magic fd 37 7a 58 5a 00: the payload (a tar...) goes to its handler; \
         recompressed only when it changed, keeping check type, preset (from the dictionary) and block layout; \
         left: an unchanged payload, stream padding; several streams or BCJ/delta filters are reported, not rewritten";
    const SUFFIXES: &'static [(&'static str, &'static str)] = &[(".txz", ".tar"), (".xz", "")];

    const STARTS: &'static [u8] = MAGIC;

    fn sniff(head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn scan(input: &[u8]) -> Result<Result<Settings, String>, FormatError> {
        let header = input
            .get(..12)
            .ok_or_else(|| truncated("xz", input.len() as u64))?;
        if header[6] != 0 || header[7] & 0xf0 != 0 {
            return Err(FormatError::malformed(format!(
                "xz stream flags {:02x} {:02x} are reserved",
                header[6], header[7]
            )));
        }
        if crc32fast::hash(&header[6..8]).to_le_bytes() != header[8..12] {
            return Err(FormatError::malformed(
                "xz stream header CRC32 does not match",
            ));
        }
        let check = header[7];
        let mut settings = Settings {
            preset: 6,
            check,
            first_block: None,
        };
        if !matches!(check, 0 | 1 | 4 | 10) {
            return Ok(Err(format!("the check type {check} is not one xz writes")));
        }
        // The first block header: size, flags, [compressed size], [uncompressed
        // size], filter flags. A first byte 0 is the index: no block at all.
        let size = usize::from(*input.get(12).ok_or_else(|| truncated("xz", 12))?);
        if size == 0 {
            return Ok(Ok(settings));
        }
        let block = input
            .get(12..12 + (size + 1) * 4)
            .ok_or_else(|| truncated("xz", input.len() as u64))?;
        let flags = block[1];
        if flags & 0x3c != 0 {
            return Err(FormatError::malformed("xz block header flags are reserved"));
        }
        let mut pos = 2;
        let bad = || FormatError::malformed("xz block header is malformed");
        if flags & 0x40 != 0 {
            varint(block, &mut pos).ok_or_else(bad)?;
        }
        if flags & 0x80 != 0 {
            settings.first_block = Some(varint(block, &mut pos).ok_or_else(bad)?);
        }
        let filters = usize::from(flags & 3) + 1;
        let id = varint(block, &mut pos).ok_or_else(bad)?;
        let props = varint(block, &mut pos).ok_or_else(bad)?;
        if filters != 1 || id != LZMA2 || props != 1 {
            return Ok(Err(format!(
                "its filter chain ({filters} filters, the first {id:#x}) is not a lone LZMA2"
            )));
        }
        settings.preset = preset_for(*block.get(pos).ok_or_else(bad)?);
        if flags & 0xc0 != 0xc0 {
            settings.first_block = None;
        }
        Ok(Ok(settings))
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
        let mut end = 0;
        while pos < len {
            if streams > 0 {
                // Stream padding: zero bytes, a multiple of four.
                let zeros = r.zeros(pos)?;
                if pos + zeros == len && zeros % 4 == 0 {
                    break;
                }
                if zeros % 4 != 0 || r.peek(pos + zeros, MAGIC.len())? != MAGIC {
                    return Err(FormatError::malformed(format!(
                        "trailing garbage after the xz stream at offset {}",
                        pos + zeros
                    )));
                }
                pos += zeros;
            }
            let mut stream = Stream::new_stream_decoder(MEMLIMIT, TELL_UNSUPPORTED_CHECK)
                .map_err(|e| FormatError::malformed(format!("xz decoder: {e:?}")))?;
            let ended = d.stream(&mut r, &mut pos, "xz", |data, room, at| {
                let (was_in, was_out) = (stream.total_in(), stream.total_out());
                let status = stream
                    .process(data, room, Action::Run)
                    .map_err(|e| match e {
                        liblzma::stream::Error::MemLimit => FormatError::Unsupported(format!(
                            "the xz stream needs more than {} MiB to decompress",
                            MEMLIMIT >> 20
                        )),
                        liblzma::stream::Error::UnsupportedCheck => {
                            FormatError::Unsupported("the xz check type is unknown".into())
                        }
                        e => FormatError::malformed(format!(
                            "corrupt xz data near offset {at}: {e:?}"
                        )),
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
                    end,
                });
            }
            end = pos;
            streams += 1;
        }
        Ok(Decoded {
            complete: true,
            streams,
            end,
        })
    }

    fn encode_to(
        payload: &dyn Source,
        s: &Settings,
        old_len: u64,
        out: &mut dyn Write,
    ) -> Result<(), FormatError> {
        let failed = |e: liblzma::stream::Error| {
            FormatError::malformed(format!("recompressing with xz failed: {e:?}"))
        };
        let mut stream = match s.first_block {
            None => Stream::new_easy_encoder(s.preset, s.check()),
            Some(first) => {
                // Several blocks: the first is as large as the block size.
                // Below MIN_BLOCK, liblzma's default: each block resets the
                // encoder, which a forged stream of tiny blocks would make
                // cost as much as a block per payload byte.
                let block = if first < old_len && first >= MIN_BLOCK {
                    first
                } else {
                    0
                };
                MtStreamBuilder::new()
                    .threads(1)
                    .block_size(block)
                    .preset(s.preset)
                    .check(s.check())
                    .encoder()
            }
        }
        .map_err(failed)?;
        let mut r = Reader::new(payload);
        let len = r.len();
        let mut room = vec![0; OUT_ROOM];
        loop {
            let at = stream.total_in();
            let was_out = stream.total_out();
            // The input's end is told only with the last of it.
            let data = r.at(at)?;
            let action = if at + data.len() as u64 == len {
                Action::Finish
            } else {
                Action::Run
            };
            let status = stream.process(data, &mut room, action).map_err(failed)?;
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

    fn xz(data: &[u8], s: &Settings) -> Vec<u8> {
        Xz::encode(data, s, data.len()).unwrap()
    }

    const SINGLE: Settings = Settings {
        preset: 6,
        check: 4,
        first_block: None,
    };

    #[test]
    fn settings_are_read_back_from_what_the_encoder_writes() {
        for s in [
            SINGLE,
            Settings {
                preset: 9,
                check: 10,
                first_block: None,
            },
            Settings {
                preset: 1,
                check: 0,
                first_block: None,
            },
        ] {
            assert_eq!(Xz::scan(&xz(b"hello", &s)).unwrap(), Ok(s));
        }
        let mt = Settings {
            preset: 6,
            check: 1,
            first_block: Some(5),
        };
        let out = xz(b"hello", &mt);
        assert_eq!(Xz::scan(&out).unwrap(), Ok(mt), "sizes in the block header");
    }

    #[test]
    fn decode_round_trips_and_keeps_count_of_streams_and_padding() {
        let a = xz(b"one ", &SINGLE);
        let mut out = Vec::new();
        let d = Xz::decode(&a, &mut out, usize::MAX).unwrap();
        assert_eq!(
            (out.as_slice(), d.streams, d.end),
            (&b"one "[..], 1, a.len() as u64)
        );
        let mut two = a.clone();
        two.extend_from_slice(&[0; 8]);
        two.extend_from_slice(&xz(b"two", &SINGLE));
        two.extend_from_slice(&[0; 4]);
        out.clear();
        let d = Xz::decode(&two, &mut out, usize::MAX).unwrap();
        assert_eq!(
            (out.as_slice(), d.streams, d.end),
            (&b"one two"[..], 2, two.len() as u64 - 4)
        );
        for bad in [
            &two[..two.len() - 6],
            &[two.as_slice(), &[0, 0]].concat()[..],
        ] {
            assert!(Xz::decode(bad, &mut Vec::new(), usize::MAX).is_err());
        }
        let mut flipped = a.clone();
        let at = a.len() / 2;
        flipped[at] ^= 1;
        assert!(Xz::decode(&flipped, &mut Vec::new(), usize::MAX).is_err());
    }

    #[test]
    fn the_limit_stops_decoding() {
        let a = xz(&vec![7; 1 << 20], &SINGLE);
        let mut out = Vec::new();
        let d = Xz::decode(&a, &mut out, 1000).unwrap();
        assert!(!d.complete);
        assert!(out.len() < 1 << 20);
    }

    #[test]
    fn block_sizes_are_kept_from_64_kib_on() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for (block, kept) in [(64 << 10, true), (1024, false)] {
            let mut out = Vec::with_capacity(1 << 20);
            let mut s = MtStreamBuilder::new()
                .threads(1)
                .block_size(block)
                .preset(6)
                .check(Check::Crc64)
                .encoder()
                .unwrap();
            while s
                .process_vec(&data[s.total_in() as usize..], &mut out, Action::Finish)
                .unwrap()
                != Status::StreamEnd
            {
                out.reserve(1 << 20);
            }
            let settings = Xz::scan(&out).unwrap().unwrap();
            assert_eq!(settings.first_block, Some(block));
            let again = Xz::encode(&data, &settings, data.len()).unwrap();
            let first = Xz::scan(&again).unwrap().unwrap().first_block;
            assert_eq!(first == Some(block), kept, "block {block}: {first:?}");
            if kept {
                assert_eq!(again, out, "the same layout, the same bytes");
            }
        }
    }

    #[test]
    fn a_bcj_filter_chain_is_not_rewritten() {
        let mut filters = liblzma::stream::Filters::new();
        filters.x86();
        filters.lzma2(&liblzma::stream::LzmaOptions::new_preset(6).unwrap());
        let mut s = Stream::new_stream_encoder(&filters, Check::Crc64).unwrap();
        let mut out = Vec::with_capacity(1 << 16);
        s.process_vec(b"abc", &mut out, Action::Finish).unwrap();
        assert!(Xz::scan(&out).unwrap().is_err());
    }
}
