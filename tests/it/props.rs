//! Property tests per handler: idempotence, convergence (same payload,
//! different noise, same bytes), payload preservation, and no panic on
//! arbitrary bytes.

use std::io::{Read, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder, read::MultiGzDecoder};
use proptest::prelude::*;
use strip_nd::config::Config;
use strip_nd::handlers::{Handler, Outcome, gzip::Gzip};

const EPOCH: u64 = 1_000_000_000;

/// Noise a build can leave in a gzip header. Builds run after the epoch, so
/// their mtimes are at or after it (earlier ones are kept, by design).
#[derive(Debug, Clone)]
struct Noise {
    mtime: u32,
    name: Option<String>,
    comment: Option<String>,
}

fn noise() -> impl Strategy<Value = Noise> {
    (
        (EPOCH as u32)..=u32::MAX,
        proptest::option::of("[a-zA-Z0-9._-]{1,20}"),
        proptest::option::of("[ -~]{0,30}"),
    )
        .prop_map(|(mtime, name, comment)| Noise {
            mtime,
            name,
            comment,
        })
}

fn gz(members: &[Vec<u8>], level: u32, noise: &Noise) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut b = GzBuilder::new().mtime(noise.mtime);
        if let Some(n) = &noise.name {
            b = b.filename(n.as_str());
        }
        if let Some(c) = &noise.comment {
            b = b.comment(c.as_str());
        }
        let mut w = b.write(Vec::new(), Compression::new(level));
        w.write_all(m).unwrap();
        out.extend(w.finish().unwrap());
    }
    out
}

fn normalize(input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
    let config = Config::with_epoch(EPOCH);
    Gzip.normalize(input, &config.context(Path::new("p.gz")))
}

fn output(input: &[u8]) -> Vec<u8> {
    normalize(input).unwrap().bytes(input).to_vec()
}

proptest! {
    #[test]
    fn gzip_is_idempotent_convergent_and_keeps_the_payload(
        members in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 1..4),
        level in 0u32..10,
        a in noise(),
        b in noise(),
    ) {
        let x = gz(&members, level, &a);
        let y = gz(&members, level, &b);
        let nx = output(&x);
        let ny = output(&y);
        prop_assert_eq!(&nx, &ny, "same payload, different noise, different bytes");
        prop_assert_eq!(normalize(&nx).unwrap(), Outcome::Unchanged);
        let mut payload = Vec::new();
        MultiGzDecoder::new(&nx[..]).read_to_end(&mut payload).unwrap();
        prop_assert_eq!(payload, members.concat());
        let mtime = u32::from_le_bytes(nx[4..8].try_into().unwrap());
        prop_assert_eq!(u64::from(mtime), EPOCH);
    }

    #[test]
    fn gzip_clamps_but_never_raises_mtimes(mtime in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let x = gz(&[data], 6, &Noise { mtime, name: None, comment: None });
        let nx = output(&x);
        let got = u32::from_le_bytes(nx[4..8].try_into().unwrap());
        prop_assert_eq!(u64::from(got), u64::from(mtime).min(EPOCH));
    }

    #[test]
    fn gzip_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut input = vec![0x1f, 0x8b, 0x08];
        input.extend(tail);
        let _ = normalize(&input);
    }

    #[test]
    fn gzip_never_panics_on_mutated_files(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut input = gz(&[data], 6, &Noise { mtime: 7, name: Some("n".into()), comment: None });
        for (i, v) in flips {
            let i = i.index(input.len());
            input[i] = v;
        }
        let keep = cut.index(input.len() + 1);
        input.truncate(keep.max(1));
        if let Ok(Outcome::Rewritten { bytes, .. }) = normalize(&input) {
            prop_assert_eq!(normalize(&bytes).unwrap(), Outcome::Unchanged);
        }
    }
}
