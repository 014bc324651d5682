//! Zstandard (RFC 8878), recognized by the frame magic `28 B5 2F FD`. See
//! [`super`] for what is normalized (the payload, through its own handler)
//! and when the stream is recompressed.
//!
//! A rewrite keeps what the frame header records: the content checksum flag,
//! and whether the content size is written (the `zstd` tool writes it when it
//! compresses a file, not a pipe; dpkg-deb writes it). The compression level
//! is not recorded: the rewrite uses 3, the default of the `zstd` tool and of
//! dpkg-deb. Window size, `--long` and worker threads are not recorded either;
//! the rewrite is single-threaded at level 3's parameters, fed as the tool
//! feeds a file. The frame header then announces what `zstd -3` announces; the
//! blocks are those of the bundled libzstd (1.5.7), which splits payloads
//! past 128 KiB otherwise than the zstd 1.5.4 of Debian 12 does (smaller
//! ones come out byte for byte the same).
//!
//! Not read (left alone and reported): frames that need a dictionary, or a
//! window larger than 128 MiB (`--long=28` and up; `zstd -d` refuses them
//! without `--memory` too). Not rewritten (reported when the payload would
//! change): several frames, skippable frames.

use zstd::zstd_safe::zstd_sys::{ZSTD_EndDirective, ZSTD_ErrorCode};
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, InBuffer, OutBuffer};

use std::io::Write;

use super::{Codec, Decoded, OUT_ROOM, Reader, emit, truncated};
use crate::handler::{FormatError, Source};

/// The zstd codec.
pub struct Zstd;

const MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// The level of `zstd` and dpkg-deb without `-<level>`.
const LEVEL: i32 = 3;

/// What a rewrite keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `Content_Checksum_flag`.
    pub checksum: bool,
    /// Whether `Frame_Content_Size` is present.
    pub content_size: bool,
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "zstd -{LEVEL} {}check, {}content size",
            if self.checksum { "--" } else { "--no-" },
            if self.content_size { "with " } else { "no " }
        )
    }
}

fn error(code: usize, at: u64) -> FormatError {
    let name = zstd_safe::get_error_name(code);
    if zstd_safe::is_error_kind(
        code,
        ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge,
    ) || zstd_safe::is_error_kind(code, ZSTD_ErrorCode::ZSTD_error_dictionary_wrong)
    {
        FormatError::Unsupported(format!("zstd frame: {name}"))
    } else {
        FormatError::malformed(format!("corrupt zstd data near offset {at}: {name}"))
    }
}

impl Codec for Zstd {
    type Settings = Settings;
    const NAME: &'static str = "zstd";
    const DESCRIBE: &'static str = "zstd frames, magic 28 b5 2f fd: the payload (a tar...) goes to its handler; \
         recompressed at level 3 only when it changed, keeping the checksum and content-size flags; \
         left: an unchanged payload; several or skippable frames are reported, not rewritten";
    const SUFFIXES: &'static [(&'static str, &'static str)] =
        &[(".tzst", ".tar"), (".zst", ""), (".zstd", "")];

    const STARTS: &'static [u8] = MAGIC;

    fn sniff(head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn scan(input: &[u8]) -> Result<Result<Settings, String>, FormatError> {
        let fhd = *input
            .get(4)
            .ok_or_else(|| truncated("zstd", input.len() as u64))?;
        if fhd & 0x08 != 0 {
            return Err(FormatError::malformed(
                "zstd frame header: the reserved bit is set",
            ));
        }
        let single_segment = fhd & 0x20 != 0;
        let dict_len = [0, 1, 2, 4][usize::from(fhd & 3)];
        let at = 5 + usize::from(!single_segment);
        let dict = input
            .get(at..at + dict_len)
            .ok_or_else(|| truncated("zstd", input.len() as u64))?;
        if dict.iter().any(|&b| b != 0) {
            return Err(FormatError::Unsupported(
                "the zstd frame needs a dictionary".into(),
            ));
        }
        Ok(Ok(Settings {
            checksum: fhd & 0x04 != 0,
            content_size: fhd >> 6 != 0 || single_segment,
        }))
    }

    fn decode_to(
        input: &dyn Source,
        out: &mut dyn Write,
        limit: u64,
    ) -> Result<Decoded, FormatError> {
        let mut dctx = DCtx::try_create()
            .ok_or_else(|| FormatError::TooLarge("no memory for a zstd decoder".into()))?;
        let mut r = Reader::new(input);
        let len = r.len();
        let mut room = vec![0; OUT_ROOM];
        let mut written = 0u64;
        let mut pos = 0;
        let mut frames = 0;
        let mut in_frame = false;
        while pos < len || in_frame {
            if written >= limit {
                return Ok(Decoded {
                    complete: false,
                    streams: frames + 1,
                    end: len,
                });
            }
            let data = r.at(pos)?;
            let mut src = InBuffer::around(data);
            let mut dst = OutBuffer::around(&mut room[..]);
            let hint = dctx
                .decompress_stream(&mut dst, &mut src)
                .map_err(|code| error(code, pos))?;
            let made = dst.pos();
            let used = src.pos as u64;
            emit(out, &room[..made])?;
            written += made as u64;
            pos += used;
            in_frame = hint != 0;
            if hint == 0 {
                frames += 1;
            } else if used == 0 && made == 0 {
                return Err(truncated("zstd", len));
            }
        }
        Ok(Decoded {
            complete: true,
            streams: frames,
            end: len,
        })
    }

    fn encode_to(
        payload: &dyn Source,
        s: &Settings,
        _old_len: u64,
        out: &mut dyn Write,
    ) -> Result<(), FormatError> {
        let failed = |code: usize| {
            FormatError::malformed(format!(
                "recompressing with zstd failed: {}",
                zstd_safe::get_error_name(code)
            ))
        };
        let mut cctx = CCtx::try_create()
            .ok_or_else(|| FormatError::TooLarge("no memory for a zstd encoder".into()))?;
        for p in [
            CParameter::CompressionLevel(LEVEL),
            CParameter::ChecksumFlag(s.checksum),
            CParameter::ContentSizeFlag(s.content_size),
        ] {
            cctx.set_parameter(p).map_err(failed)?;
        }
        let len = payload.len();
        if s.content_size {
            cctx.set_pledged_src_size(Some(len)).map_err(failed)?;
        }
        // As the zstd tool feeds a file: input-sized chunks, then the end.
        let step = CCtx::in_size();
        let mut room = vec![0; CCtx::out_size()];
        let mut chunk = vec![0; step.min(len as usize)];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(step as u64) as usize;
            chunk.truncate(n);
            payload
                .read_at(at, &mut chunk)
                .map_err(|e| FormatError::malformed(format!("read failed at offset {at}: {e}")))?;
            let mut src = InBuffer::around(&chunk[..]);
            while src.pos < n {
                let mut dst = OutBuffer::around(&mut room[..]);
                cctx.compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_continue)
                    .map_err(failed)?;
                let made = dst.pos();
                emit(out, &room[..made])?;
            }
            at += n as u64;
        }
        loop {
            let mut dst = OutBuffer::around(&mut room[..]);
            let mut src = InBuffer::around(&[]);
            let left = cctx
                .compress_stream2(&mut dst, &mut src, ZSTD_EndDirective::ZSTD_e_end)
                .map_err(failed)?;
            let made = dst.pos();
            emit(out, &room[..made])?;
            if left == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_back_and_frames_counted() {
        for checksum in [false, true] {
            for content_size in [false, true] {
                let s = Settings {
                    checksum,
                    content_size,
                };
                let a = Zstd::encode(&[5; 1000], &s, 0).unwrap();
                assert_eq!(Zstd::scan(&a).unwrap(), Ok(s));
                let mut out = Vec::new();
                let d = Zstd::decode(&a, &mut out, usize::MAX).unwrap();
                assert_eq!((out.len(), d.streams), (1000, 1));
                let two = [a.as_slice(), &a].concat();
                out.clear();
                assert_eq!(Zstd::decode(&two, &mut out, usize::MAX).unwrap().streams, 2);
                assert_eq!(out.len(), 2000);
                assert!(Zstd::decode(&two[..two.len() - 2], &mut Vec::new(), usize::MAX).is_err());
                let garbage = [a.as_slice(), b"xyz"].concat();
                assert!(Zstd::decode(&garbage, &mut Vec::new(), usize::MAX).is_err());
            }
        }
    }
}
