//! Hints about the cause of a difference: timestamps near a build time or
//! the epoch, build paths, and ordering.

use regex::bytes::Regex;

use super::raw::is_text;
use super::{HINTS, NEAR};
use crate::dates::Civil;

/// The times a value may be "near": each build's time and the epoch.
pub(super) struct RefTimes {
    pub(super) builds: [i64; 2],
    pub(super) epoch: i64,
}

/// Dates written in the usual text forms, with the pieces needed to read them.
fn date_patterns() -> &'static [Regex; 3] {
    static PATTERNS: std::sync::OnceLock<[Regex; 3]> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // 2026-03-04 05:06:07 / 2026-03-04T05:06
            Regex::new(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?").expect("valid"),
            // Wed Mar  4 05:06:07 UTC 2026 / Wed Mar 04 05:06:07 2026
            Regex::new(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: [A-Z]{2,5})? (\d{4})").expect("valid"),
            // seconds since 1970 (9 or 10 digits)
            Regex::new(r"\b(\d{9,10})\b").expect("valid"),
        ]
    })
}

/// Days since 1970 of a captured year, month and day (the one calendar
/// routine of the crate, in `dates`).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let part = |v: i64| u32::try_from(v).unwrap_or(0);
    crate::dates::days_from_civil(y, part(m), part(d))
}

fn num(m: Option<regex::bytes::Match>) -> i64 {
    m.and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every date or timestamp in `text`, as seconds since 1970, with its text.
pub(super) fn timestamps(text: &[u8]) -> Vec<(i64, String)> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let [iso, ctime, secs] = date_patterns();
    let mut out = Vec::new();
    for c in iso.captures_iter(text) {
        let t = days_from_civil(num(c.get(1)), num(c.get(2)), num(c.get(3))) * 86_400
            + num(c.get(4)) * 3600
            + num(c.get(5)) * 60
            + num(c.get(6));
        out.push((t, String::from_utf8_lossy(&c[0]).into_owned()));
    }
    for c in ctime.captures_iter(text) {
        let month = MONTHS
            .iter()
            .zip(1..)
            .find_map(|(m, n)| (*m == &c[1]).then_some(n))
            .unwrap_or(1);
        let t = days_from_civil(num(c.get(6)), month, num(c.get(2))) * 86_400
            + num(c.get(3)) * 3600
            + num(c.get(4)) * 60
            + num(c.get(5));
        out.push((t, String::from_utf8_lossy(&c[0]).into_owned()));
    }
    for c in secs.captures_iter(text) {
        out.push((num(c.get(1)), String::from_utf8_lossy(&c[1]).into_owned()));
    }
    out
}

/// The bytes of A and B where they differ (each side's differing region, by
/// lines for text), for hints.
fn differing_regions<'a>(a: &'a [u8], b: &'a [u8]) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Widen to whole lines (or 32 bytes) so that a date split by the first
    // differing byte is seen whole.
    let widen = |s: &'a [u8], lo: usize, hi: usize| -> &'a [u8] {
        let lo = s[..lo]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(lo.saturating_sub(32), |p| p + 1)
            .max(lo.saturating_sub(256));
        let hi = s[hi..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or((hi + 32).min(s.len()), |p| hi + p)
            .min(hi + 256);
        &s[lo..hi.min(s.len())]
    };
    let ra = widen(a, prefix, a.len() - suffix);
    let rb = widen(b, prefix, b.len() - suffix);
    (vec![ra], vec![rb])
}

/// Whether `t` (found on `side`, 0 for A and 1 for B) is near a build time or
/// the epoch; that side's own build time is tried first.
fn near(t: i64, refs: &RefTimes, side: usize) -> Option<&'static str> {
    const NAMES: [&str; 2] = ["near A's build time", "near B's build time"];
    if (t - refs.builds[side]).abs() <= NEAR {
        Some(NAMES[side])
    } else if (t - refs.builds[1 - side]).abs() <= NEAR {
        Some(NAMES[1 - side])
    } else if (t - refs.epoch).abs() <= NEAR {
        Some("near the epoch")
    } else {
        None
    }
}

/// Hints about what makes A and B differ.
pub(super) fn hints(a: &[u8], b: &[u8], refs: &RefTimes) -> Vec<String> {
    let mut out = Vec::new();
    let (ra, rb) = differing_regions(a, b);
    for (i, (side, regions)) in [("A", &ra), ("B", &rb)].into_iter().enumerate() {
        for region in regions {
            for (t, text) in timestamps(region) {
                if let Some(why) = near(t, refs, i) {
                    out.push(format!(
                        "{side}: {text:?} looks like a timestamp ({}), {why}",
                        Civil::utc(t)
                    ));
                }
            }
            for m in build_path().find_iter(region) {
                out.push(format!(
                    "{side}: {:?} looks like a build path",
                    String::from_utf8_lossy(m.as_bytes())
                ));
            }
        }
    }
    // Binary timestamps: 32-bit words at the first differing offset.
    if !is_text(a) || !is_text(b) {
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        if let Some(i) = first {
            for start in i.saturating_sub(3)..=i {
                for (i, (side, s)) in [("A", a), ("B", b)].into_iter().enumerate() {
                    if let Some(w) = s.get(start..start + 4) {
                        let w: [u8; 4] = w.try_into().unwrap_or_default();
                        for (order, v) in [
                            ("little-endian", u32::from_le_bytes(w)),
                            ("big-endian", u32::from_be_bytes(w)),
                        ] {
                            if let Some(why) = near(i64::from(v), refs, i) {
                                out.push(format!(
                                    "{side}: the {order} word {v} at offset {start:#x} looks like a timestamp ({}), {why}",
                                    Civil::utc(i64::from(v))
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    out.dedup();
    out.truncate(HINTS);
    out
}

fn build_path() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?:/build/|/tmp/nix-build-)[^\s\x00'\x22<>]*").expect("valid"))
}
