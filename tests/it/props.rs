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

// ------------------------------------------------------------------------
// Embedded-date handlers: mo, png, uimage, javadoc, properties, perllocal.
// Noise is a build time at or after EPOCH (earlier times are kept by design),
// written in the shapes real tools use; the payload is everything else.

mod dates {
    use std::fmt::Write as _;
    use std::io::{Read, Write};
    use std::path::Path;

    use flate2::Compression;
    use flate2::read::ZlibDecoder;
    use flate2::write::ZlibEncoder;
    use proptest::prelude::*;
    use strip_nd::config::Config;
    use strip_nd::handlers::dates::Civil;
    use strip_nd::handlers::javadoc::Javadoc;
    use strip_nd::handlers::mo::Mo;
    use strip_nd::handlers::perllocal::Perllocal;
    use strip_nd::handlers::png::Png;
    use strip_nd::handlers::properties::Properties;
    use strip_nd::handlers::uimage::UImage;
    use strip_nd::handlers::{Handler, Outcome};

    use super::EPOCH;

    const EPOCH_I64: i64 = 1_000_000_000;

    /// A build time: from a day after the epoch to the year 2200. (A date
    /// written to the minute or the day that falls in the epoch's own minute
    /// or day is not later than the epoch, so it is kept as written; an
    /// unpadded one, `2001-9-9 1:46`, would then not converge with a padded
    /// epoch from another build. Real builds are not that close to the epoch.)
    fn when() -> impl Strategy<Value = i64> {
        (EPOCH_I64 + 86_400)..7_258_118_400
    }

    fn run(h: &dyn Handler, input: &[u8]) -> Result<Outcome, strip_nd::FormatError> {
        let config = Config::with_epoch(EPOCH);
        h.normalize(input, &config.context(Path::new("p")))
    }

    fn output(h: &dyn Handler, input: &[u8]) -> Vec<u8> {
        run(h, input).unwrap().bytes(input).to_vec()
    }

    /// Normalizes two noisy builds of one payload; they must converge, the
    /// result must be a fixed point, and it is returned.
    fn converge(h: &dyn Handler, a: &[u8], b: &[u8]) -> Result<Vec<u8>, TestCaseError> {
        let (na, nb) = (output(h, a), output(h, b));
        prop_assert_eq!(&na, &nb, "same payload, different noise, different bytes");
        prop_assert_eq!(run(h, &na).unwrap(), Outcome::Unchanged);
        Ok(na)
    }

    fn iso(t: i64, style: u8) -> String {
        let c = Civil::from_unix(t);
        match style % 4 {
            0 => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min
            ),
            1 => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min, c.sec
            ),
            2 => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
                c.year, c.month, c.day, c.hour, c.min, c.sec
            ),
            _ => format!(
                "{}-{}-{} {}:{:02}+0000",
                c.year, c.month, c.day, c.hour, c.min
            ),
        }
    }

    fn java(t: i64) -> String {
        let c = Civil::from_unix(t);
        format!(
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            c.day_name(),
            c.month_name(),
            c.day,
            c.hour,
            c.min,
            c.sec,
            c.year
        )
    }

    fn perl(t: i64) -> String {
        let c = Civil::from_unix(t);
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            c.day_name(),
            c.month_name(),
            c.day,
            c.hour,
            c.min,
            c.sec,
            c.year
        )
    }

    // ---- .mo

    /// A little-endian catalog as msgfmt lays it out (no hash table).
    fn mo(entries: &[(String, String)]) -> Vec<u8> {
        let n = entries.len() as u32;
        let mut at = 28 + 16 * n;
        let mut out = Vec::new();
        for v in [0x9504_12de_u32, 0, n, 28, 28 + 8 * n, 0, 28 + 16 * n] {
            out.extend(v.to_le_bytes());
        }
        let mut data = Vec::new();
        for k in 0..2 {
            for e in entries {
                let s = if k == 0 { &e.0 } else { &e.1 };
                out.extend((s.len() as u32).to_le_bytes());
                out.extend(at.to_le_bytes());
                data.extend_from_slice(s.as_bytes());
                data.push(0);
                at += s.len() as u32 + 1;
            }
        }
        out.extend(data);
        out
    }

    /// The `(msgid, translation)` pairs of a catalog `mo` wrote (or rewrote).
    fn mo_entries(mo: &[u8]) -> Vec<(String, String)> {
        let word = |at: usize| u32::from_le_bytes(mo[at..at + 4].try_into().unwrap()) as usize;
        let (count, orig, trans) = (word(8), word(12), word(16));
        let string = |tab: usize, i: usize| {
            let (len, off) = (word(tab + 8 * i), word(tab + 8 * i + 4));
            String::from_utf8(mo[off..off + len].to_vec()).unwrap()
        };
        (0..count)
            .map(|i| (string(orig, i), string(trans, i)))
            .collect()
    }

    fn mo_build(msgs: &[(String, String)], pot: i64, rev: i64, style: u8) -> Vec<u8> {
        let header = format!(
            "Project-Id-Version: p 1\nPOT-Creation-Date: {}\nPO-Revision-Date: {}\nContent-Type: text/plain; charset=UTF-8\n",
            iso(pot, style),
            iso(rev, style)
        );
        let mut entries = vec![(String::new(), header)];
        entries.extend(msgs.iter().cloned());
        mo(&entries)
    }

    fn messages() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[a-zA-Z0-9 .,!?]{1,30}", "[^\u{0}]{0,30}", 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn mo_is_idempotent_convergent_and_keeps_the_translations(
            msgs in messages(), t1 in when(), t2 in when(), t3 in when(), t4 in when(), style in any::<u8>(),
        ) {
            let a = mo_build(&msgs, t1, t2, style);
            let b = mo_build(&msgs, t3, t4, style);
            let out = converge(&Mo, &a, &b)?;
            let got = mo_entries(&out);
            prop_assert_eq!(&got[1..], &msgs[..]);
            // The epoch is written zero-padded even where the build was not.
            let pot = iso(EPOCH_I64, if style % 4 == 3 { 0 } else { style });
            prop_assert!(got[0].1.contains(&format!("POT-Creation-Date: {pot}\n")), "{}", got[0].1);
        }

        #[test]
        fn mo_never_panics_on_arbitrary_bytes(be in any::<bool>(), tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = if be { vec![0x95, 0x04, 0x12, 0xde] } else { vec![0xde, 0x12, 0x04, 0x95] };
            input.extend(tail);
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Mo, &input) {
                prop_assert_eq!(run(&Mo, &bytes).unwrap(), Outcome::Unchanged);
            }
        }

        #[test]
        fn mo_never_panics_on_mutated_catalogs(
            msgs in messages(), t in when(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut input = mo_build(&msgs, t, t, 3);
            for (i, v) in flips {
                let i = i.index(input.len());
                input[i] = v;
            }
            if let Ok(Outcome::Rewritten { bytes, .. }) = run(&Mo, &input) {
                prop_assert_eq!(run(&Mo, &bytes).unwrap(), Outcome::Unchanged);
            }
        }
    }

    // ---- PNG

    fn chunk(kind: [u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[4..]);
        out.extend(crc.to_be_bytes());
        out
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A grey image of `w` x `h` with the given rows, a tIME at `t1` and
    /// date text chunks at `t2` (tEXt) and `t3` (zTXt).
    fn png(width: u32, pixels: &[u8], t1: i64, t2: i64, t3: i64) -> Vec<u8> {
        let height = pixels.len() as u32 / width;
        let mut raw = Vec::new();
        for row in pixels.chunks(width as usize) {
            raw.push(0);
            raw.extend_from_slice(row);
        }
        let c = Civil::from_unix(t1);
        let y = u16::try_from(c.year).unwrap().to_be_bytes();
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 0, 0, 0, 0]);
        let mut z = b"date:modify\0\0".to_vec();
        z.extend(zlib(iso(t3, 2).as_bytes()));
        let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
        out.extend(chunk(*b"IHDR", &ihdr));
        out.extend(chunk(
            *b"tIME",
            &[
                y[0],
                y[1],
                c.month as u8,
                c.day as u8,
                c.hour as u8,
                c.min as u8,
                c.sec as u8,
            ],
        ));
        out.extend(chunk(*b"IDAT", &zlib(&raw)));
        out.extend(chunk(
            *b"tEXt",
            format!("date:create\0{}", iso(t2, 2)).as_bytes(),
        ));
        out.extend(chunk(*b"zTXt", &z));
        out.extend(chunk(*b"IEND", &[]));
        out
    }

    /// The inflated IDAT data.
    fn png_pixels(b: &[u8]) -> Vec<u8> {
        let mut pos = 8;
        let mut idat = Vec::new();
        while pos < b.len() {
            let len = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
            if &b[pos + 4..pos + 8] == b"IDAT" {
                idat.extend_from_slice(&b[pos + 8..pos + 8 + len]);
            }
            pos += 12 + len;
        }
        let mut out = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut out).unwrap();
        out
    }

    proptest! {
        #[test]
        fn png_is_idempotent_convergent_and_keeps_the_pixels(
            w in 1u32..8, rows in 1usize..8, seed in any::<u8>(),
            a in (when(), when(), when()), b in (when(), when(), when()),
        ) {
            let pixels: Vec<u8> = (0..w as usize * rows).map(|i| seed.wrapping_mul(i as u8)).collect();
            let x = png(w, &pixels, a.0, a.1, a.2);
            let y = png(w, &pixels, b.0, b.1, b.2);
            let out = converge(&Png, &x, &y)?;
            prop_assert_eq!(png_pixels(&out), png_pixels(&x));
            prop_assert!(out.windows(4).all(|c| c != b"tIME"), "a late tIME is removed");
        }

        #[test]
        fn png_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
            input.extend(tail);
            let _ = run(&Png, &input);
        }
    }

    // ---- uImage

    fn uimage(time: u32, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(&[0x27, 0x05, 0x19, 0x56]);
        h[8..12].copy_from_slice(&time.to_be_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
        h[24..28].copy_from_slice(&crc32fast::hash(data).to_be_bytes());
        h[28..32].copy_from_slice(&[5, 2, 2, 0]);
        let crc = crc32fast::hash(&h);
        h[4..8].copy_from_slice(&crc.to_be_bytes());
        h.extend_from_slice(data);
        h
    }

    proptest! {
        #[test]
        fn uimage_is_idempotent_convergent_and_keeps_the_data(
            data in proptest::collection::vec(any::<u8>(), 0..1024),
            a in (EPOCH as u32)..=u32::MAX, b in (EPOCH as u32)..=u32::MAX,
        ) {
            let out = converge(&UImage, &uimage(a, &data), &uimage(b, &data))?;
            prop_assert_eq!(&out, &uimage(EPOCH as u32, &data));
        }

        #[test]
        fn uimage_clamps_but_never_raises(t in any::<u32>()) {
            let out = output(&UImage, &uimage(t, b"x"));
            prop_assert_eq!(out, uimage(t.min(EPOCH as u32), b"x"));
        }

        #[test]
        fn uimage_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut input = vec![0x27, 0x05, 0x19, 0x56];
            input.extend(tail);
            let _ = run(&UImage, &input);
        }
    }

    // ---- text formats

    fn javadoc(t: i64, body: &str, crlf: bool) -> Vec<u8> {
        let c = Civil::from_unix(t);
        let page = format!(
            "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<!-- Generated by javadoc (17) on {} -->\n\
             <title>T</title>\n<meta name=\"dc.created\" content=\"{:04}-{:02}-{:02}\">\n</head>\n<body>{body}</body>\n",
            java(t),
            c.year,
            c.month,
            c.day
        );
        if crlf {
            page.replace('\n', "\r\n").into_bytes()
        } else {
            page.into_bytes()
        }
    }

    fn properties(t: i64, entries: &[(String, String)]) -> Vec<u8> {
        let mut out = format!("#Generated by Maven\n#{}\n", java(t));
        for (k, v) in entries {
            let _ = writeln!(out, "{k}={v}");
        }
        out.into_bytes()
    }

    fn perllocal(times: &[i64], module: &str) -> Vec<u8> {
        let mut out = String::new();
        for t in times {
            let _ = write!(
                out,
                "=head2 {}: C<Module> L<{module}|{module}>\n\n=over 4\n\n=item *\n\nC<VERSION: 1.00>\n\n=back\n\n",
                perl(*t)
            );
        }
        out.into_bytes()
    }

    proptest! {
        #[test]
        fn javadoc_is_idempotent_convergent_and_keeps_the_body(
            body in "[^<]{0,200}", crlf in any::<bool>(), a in when(), b in when(),
        ) {
            let out = converge(&Javadoc, &javadoc(a, &body, crlf), &javadoc(b, &body, crlf))?;
            prop_assert_eq!(out, javadoc(EPOCH_I64, &body, crlf));
        }

        #[test]
        fn properties_is_idempotent_convergent_and_keeps_the_entries(
            entries in proptest::collection::vec(("[a-z.]{1,12}", "[a-zA-Z0-9 ]{0,20}"), 0..8),
            a in when(), b in when(),
        ) {
            let out = converge(&Properties, &properties(a, &entries), &properties(b, &entries))?;
            prop_assert_eq!(out, properties(EPOCH_I64, &entries));
        }

        #[test]
        fn perllocal_is_idempotent_convergent_and_keeps_the_entries(
            module in "[A-Z][a-z]{0,8}(::[A-Z][a-z]{0,8}){0,2}",
            a in proptest::collection::vec(when(), 1..4),
            shift in 0i64..1_000_000,
        ) {
            let b: Vec<i64> = a.iter().map(|t| t + shift).collect();
            let out = converge(&Perllocal, &perllocal(&a, &module), &perllocal(&b, &module))?;
            prop_assert_eq!(out, perllocal(&vec![EPOCH_I64; a.len()], &module));
        }

        #[test]
        fn text_handlers_never_panic_on_arbitrary_text(
            prefix in prop::sample::select(vec!["<!-- Generated by javadoc", "#", "=head2 ", ""]),
            tail in ".{0,300}",
        ) {
            let input = format!("{prefix}{tail}");
            for h in [&Javadoc as &dyn Handler, &Properties, &Perllocal] {
                if let Ok(Outcome::Rewritten { bytes, .. }) = run(h, input.as_bytes()) {
                    prop_assert_eq!(run(h, &bytes).unwrap(), Outcome::Unchanged);
                }
            }
        }
    }
}
