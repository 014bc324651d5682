//! U-Boot legacy images (`mkimage -A ... -T ...` without `-f`), as defined by
//! U-Boot's `include/image.h` (`struct legacy_img_hdr`, formerly
//! `image_header_t`), recognized by the big-endian magic `0x27051956`.
//!
//! The 64-byte header holds, big endian: `ih_magic`, `ih_hcrc` (CRC-32 of the
//! header with this field zeroed), `ih_time` (creation time, seconds since
//! 1970), `ih_size` (data size), `ih_load`, `ih_ep`, `ih_dcrc` (CRC-32 of the
//! data), then `ih_os`, `ih_arch`, `ih_type`, `ih_comp` and the 32-byte
//! `ih_name`.
//!
//! Normalized: `ih_time` is clamped to the epoch and `ih_hcrc` recomputed.
//!
//! Left alone: every other field, the image data (a compressed kernel is
//! not handed to the gzip handler, since its bytes are covered by
//! `ih_dcrc` and by signatures outside the file), and bytes after the data
//! (flash padding). The header CRC is verified, and the data CRC too before
//! any rewrite; a mismatch, or data shorter than `ih_size`, is `Malformed` and
//! the file is left untouched.

use crate::bytes::{put_u32_be, u32_be};
use crate::handler::Context;
use crate::handler::FormatError;
use crate::handler::{Change, Handler, Outcome};

/// The U-Boot legacy image handler.
pub struct UImage;

const MAGIC: [u8; 4] = [0x27, 0x05, 0x19, 0x56];
const HEADER_LEN: usize = 64;

/// CRC-32 of a header with `ih_hcrc` taken as zero.
fn header_crc(header: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..4]);
    h.update(&[0; 4]);
    h.update(&header[8..HEADER_LEN]);
    h.finalize()
}

impl Handler for UImage {
    fn name(&self) -> &'static str {
        "uimage"
    }

    fn describe(&self) -> &'static str {
        "U-Boot legacy image, magic 27 05 19 56: clamps ih_time, recomputes ih_hcrc; data untouched"
    }

    fn sniff(&self, head: &[u8], _ctx: &Context) -> bool {
        head.starts_with(&MAGIC)
    }

    fn ruled_out(&self, prefix: &[u8], _ctx: &Context) -> bool {
        crate::handler::starts_none_of(prefix, &[&MAGIC])
    }

    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError> {
        if input.len() as u64 > ctx.settings.max_size {
            return Err(FormatError::TooLarge(format!("{} bytes", input.len())));
        }
        if input.len() < HEADER_LEN || !input.starts_with(&MAGIC) {
            return Err(FormatError::malformed("shorter than the 64-byte header"));
        }
        let field = |at| u32_be(input, at).expect("inside the 64-byte header checked above");
        let stored = field(4);
        let actual = header_crc(input);
        if stored != actual {
            return Err(FormatError::malformed(format!(
                "header CRC {stored:#010x} does not match {actual:#010x}"
            )));
        }
        let size = field(12) as usize;
        let data = input
            .get(HEADER_LEN..HEADER_LEN.saturating_add(size))
            .ok_or_else(|| {
                FormatError::malformed(format!(
                    "truncated: ih_size says {size} bytes, {} follow the header",
                    input.len() - HEADER_LEN
                ))
            })?;
        let time = field(8);
        let clamped = ctx.epoch_value().clamp_u32(time);
        if clamped == time {
            return Ok(Outcome::Unchanged);
        }
        let (stored, actual) = (field(24), crc32fast::hash(data));
        if stored != actual {
            return Err(FormatError::malformed(format!(
                "data CRC {stored:#010x} does not match {actual:#010x}"
            )));
        }
        let mut out = input.to_vec();
        put_u32_be(&mut out, 8, clamped);
        let crc = header_crc(&out);
        put_u32_be(&mut out, 4, crc);
        Ok(Outcome::Rewritten {
            bytes: out,
            changes: vec![Change::set("", "ih_time", time, clamped)],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn image(time: u32, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&time.to_be_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
        h[24..28].copy_from_slice(&crc32fast::hash(data).to_be_bytes());
        h[28..32].copy_from_slice(&[5, 2, 2, 0]);
        h[32..36].copy_from_slice(b"demo");
        let crc = header_crc(&h);
        h[4..8].copy_from_slice(&crc.to_be_bytes());
        h.extend_from_slice(data);
        h
    }

    fn run(input: &[u8]) -> Result<Outcome, FormatError> {
        let cfg = Config::with_epoch(315_532_800);
        UImage.normalize(input, &cfg.context(Path::new("uImage")))
    }

    #[test]
    fn time_is_clamped_and_the_header_crc_recomputed() {
        let a = image(1_772_600_767, b"kernel bytes");
        let Outcome::Rewritten { bytes, changes } = run(&a).unwrap() else {
            panic!("expected a rewrite")
        };
        assert_eq!(bytes, image(315_532_800, b"kernel bytes"));
        assert_eq!(changes, vec!["ih_time 1772600767 -> 315532800".to_string()]);
        assert_eq!(run(&bytes).unwrap(), Outcome::Unchanged);
        assert_eq!(run(&image(1000, b"x")).unwrap(), Outcome::Unchanged);
    }

    #[test]
    fn padding_is_kept_and_damage_is_malformed() {
        let mut a = image(1_772_600_767, b"kernel bytes");
        a.extend_from_slice(&[0xff; 16]);
        let Outcome::Rewritten { bytes, .. } = run(&a).unwrap() else {
            panic!("expected a rewrite")
        };
        assert!(bytes.ends_with(&[0xff; 16]));
        let a = image(1_772_600_767, b"kernel bytes");
        for at in [4, 20, 70] {
            let mut bad = a.clone();
            bad[at] ^= 1;
            assert!(
                matches!(run(&bad), Err(FormatError::Malformed(_))),
                "flip at {at}"
            );
        }
        assert!(run(&a[..a.len() - 1]).is_err());
        assert!(run(&a[..40]).is_err());
    }
}
