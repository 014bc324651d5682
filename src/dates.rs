//! Calendar arithmetic and the textual date formats that the embedded-date
//! handlers (`mo`, `png`, `javadoc`, `properties`, `perllocal`) meet.
//!
//! Each parser takes the exact text of one date (the caller finds its span),
//! accepts it only when the whole text matches, and returns the instant it
//! names ([`Date::secs`], seconds since 1970 UTC) together with its *shape*, so
//! that [`Date::render`] can write another instant the same way: same fields,
//! same separators, same precision, and the zone written as UTC in the same
//! style (`+0000`, `+00:00`, `Z`, `UTC`...).
//!
//! Formats:
//!
//! * ISO 8601 and its relatives ([`parse_iso`]): `2026-03-04`,
//!   `2026-03-04 05:06+0100`, `2026-03-04T05:06:07.123+01:00`,
//!   `2026:03:04 05:06:07` (EXIF), with or without a zone (none means UTC);
//! * `java.util.Date.toString()` ([`parse_java`]): `Wed Mar 04 05:06:07 CET 2026`;
//! * Perl's scalar `localtime` ([`parse_perl`]): `Wed Mar  4 05:06:07 2026`
//!   (no zone: read as UTC);
//! * RFC 1123 / RFC 2822 ([`parse_rfc2822`]): `Wed, 04 Mar 2026 05:06:07 GMT`.
//!
//! Zone abbreviations are not unique and not all known; [`zone_offset`] reads
//! the common ones, picking for an ambiguous one the reading that gives the
//! latest instant, and reads an unknown one as UTC. The error is at most about
//! half a day, which only matters for dates within that distance of the epoch.

use std::fmt::Write;
use std::ops::Range;

use crate::handler::Epoch;

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `input` with each range of `edits` (sorted by start, disjoint) replaced by
/// its new text: how every embedded-date handler writes its dates back.
pub fn replace_ranges<'a>(
    input: &[u8],
    edits: impl IntoIterator<Item = (Range<usize>, &'a [u8])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 8);
    let mut pos = 0;
    for (r, new) in edits {
        out.extend_from_slice(&input[pos..r.start]);
        out.extend_from_slice(new);
        pos = r.end;
    }
    out.extend_from_slice(&input[pos..]);
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Always 1..=31 and 1..=12 by construction.
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub min: u32,
    /// 0..=59.
    pub sec: u32,
    /// 0 = Sunday.
    pub weekday: usize,
}

impl Civil {
    /// The UTC broken-down time of `secs` since 1970.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem / 60 % 60,
            sec: rem % 60,
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }

    /// `2026-03-04 05:06:07 UTC`, for notes and reports.
    pub fn utc(secs: i64) -> String {
        let c = Self::from_unix(secs);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            c.year, c.month, c.day, c.hour, c.min, c.sec
        )
    }

    /// The three-letter English day name (`Tue`).
    pub fn day_name(&self) -> &'static str {
        DAYS[self.weekday]
    }

    /// The three-letter English month name (`Jan`).
    pub fn month_name(&self) -> &'static str {
        MONTHS[self.month as usize - 1]
    }
}

/// Seconds since 1970 of a validated date and time read in a zone `offset`
/// seconds east of UTC; `None` when a field is out of range.
fn to_unix(
    year: i64,
    month: u32,
    day: u32,
    (hour, min, sec): (u32, u32, u32),
    offset: i64,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec);
    Some(local - offset)
}

/// Whether `secs` is later than `epoch` (so it must be clamped to it).
pub fn is_later(secs: i64, epoch: u64) -> bool {
    i128::from(secs) > i128::from(epoch)
}

/// The epoch as `i64` (saturating: no real epoch comes near the limit).
pub fn epoch_secs(epoch: u64) -> i64 {
    Epoch::new(epoch).as_i64()
}

/// How the zone of an ISO-like date was written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IsoZone {
    /// No zone: read as UTC.
    None,
    /// `Z`.
    Z,
    /// `+HH:MM`.
    Colon,
    /// `+HHMM`.
    Compact,
    /// `+HH`.
    Hour,
    /// An abbreviation, written back as `UTC` (`GMT` stays `GMT`).
    Name(&'static str),
}

/// The shape of an ISO-like date.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IsoShape {
    /// `-` or `:` between the date fields.
    date_sep: u8,
    /// `T` or space before the time; `None` for a date alone.
    time_sep: Option<u8>,
    seconds: bool,
    /// Digits after the decimal point of the seconds (written back as zeros).
    fraction: usize,
    /// A space between the time and the zone.
    zone_space: bool,
    zone: IsoZone,
}

/// The shape of a date, enough to write another instant the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Iso(IsoShape),
    /// `Wed Mar 04 05:06:07 UTC 2026`.
    Java,
    /// `Wed Mar  4 05:06:07 2026`.
    Perl,
    /// `[Wed, ]04 Mar 2026 05:06[:07] ZONE`.
    Rfc2822 {
        weekday: bool,
        two_digit_day: bool,
        seconds: bool,
        /// The UTC zone as it will be written: `+0000`, `GMT`, `UT` or `UTC`.
        zone: &'static str,
    },
}

/// A parsed date: the instant it names and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Date {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    shape: Shape,
}

impl Date {
    /// Writes `secs` in this date's shape, in UTC.
    pub fn render(&self, secs: i64) -> String {
        let c = Civil::from_unix(secs);
        match &self.shape {
            Shape::Iso(s) => {
                let sep = char::from(s.date_sep);
                let mut out = format!("{:04}{sep}{:02}{sep}{:02}", c.year, c.month, c.day);
                if let Some(t) = s.time_sep {
                    out.push(char::from(t));
                    let _ = write!(out, "{:02}:{:02}", c.hour, c.min);
                    if s.seconds {
                        let _ = write!(out, ":{:02}", c.sec);
                        if s.fraction > 0 {
                            out.push('.');
                            out.push_str(&"0".repeat(s.fraction));
                        }
                    }
                }
                if s.zone_space {
                    out.push(' ');
                }
                match &s.zone {
                    IsoZone::None => {}
                    IsoZone::Z => out.push('Z'),
                    IsoZone::Colon => out.push_str("+00:00"),
                    IsoZone::Compact => out.push_str("+0000"),
                    IsoZone::Hour => out.push_str("+00"),
                    IsoZone::Name(n) => out.push_str(n),
                }
                out
            }
            Shape::Java => format!(
                "{} {} {:02} {:02}:{:02}:{:02} UTC {:04}",
                c.day_name(),
                c.month_name(),
                c.day,
                c.hour,
                c.min,
                c.sec,
                c.year
            ),
            Shape::Perl => format!(
                "{} {} {:>2} {:02}:{:02}:{:02} {}",
                c.day_name(),
                c.month_name(),
                c.day,
                c.hour,
                c.min,
                c.sec,
                c.year
            ),
            Shape::Rfc2822 {
                weekday,
                two_digit_day,
                seconds,
                zone,
            } => {
                let mut out = String::new();
                if *weekday {
                    out.push_str(c.day_name());
                    out.push_str(", ");
                }
                // Writing to a String cannot fail.
                if *two_digit_day {
                    let _ = write!(out, "{:02}", c.day);
                } else {
                    let _ = write!(out, "{}", c.day);
                }
                let _ = write!(
                    out,
                    " {} {:04} {:02}:{:02}",
                    c.month_name(),
                    c.year,
                    c.hour,
                    c.min
                );
                if *seconds {
                    let _ = write!(out, ":{:02}", c.sec);
                }
                out.push(' ');
                out.push_str(zone);
                out
            }
        }
    }

    /// The text to write instead of this date when it is later than `epoch`
    /// (the epoch in the same shape), or `None` when it stays.
    pub fn clamped(&self, epoch: u64) -> Option<String> {
        is_later(self.secs, epoch).then(|| self.render(epoch_secs(epoch)))
    }
}

/// A small cursor over ASCII text.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u64, usize)> {
        let start = self.pos;
        let mut v: u64 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + u64::from(d - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let n = self.pos - start;
        (n >= min).then_some((v, n))
    }

    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        self.digits(min, max).map(|(v, _)| v as u32)
    }

    /// Letters only.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default()
    }

    fn rest(&self) -> &'a str {
        std::str::from_utf8(&self.s[self.pos..]).unwrap_or_default()
    }
}

fn month_number(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

/// `+HH:MM`, `+HHMM` or `+HH` after the sign; returns seconds east of UTC.
fn numeric_offset(c: &mut Cursor) -> Option<(i64, IsoZone)> {
    let sign = match c.peek()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    c.pos += 1;
    let h = c.num(2, 2)?;
    let (m, style) = if c.eat(b':') {
        (c.num(2, 2)?, IsoZone::Colon)
    } else if let Some(m) = c.num(2, 2) {
        (m, IsoZone::Compact)
    } else {
        (0, IsoZone::Hour)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (i64::from(h) * 3600 + i64::from(m) * 60), style))
}

/// Seconds east of UTC of a zone abbreviation; ambiguous ones take the
/// reading that gives the latest instant (the smallest offset), unknown ones
/// are read as UTC. `GMT+01:00`, the form Java prints for custom zones, is read too.
pub fn zone_offset(name: &str) -> i64 {
    if let Some(rest) = name
        .strip_prefix("GMT")
        .or_else(|| name.strip_prefix("UTC"))
        && !rest.is_empty()
    {
        let mut c = Cursor::new(rest);
        if let Some((off, _)) = numeric_offset(&mut c)
            && c.done()
        {
            return off;
        }
        return 0;
    }
    let hours: f64 = match name {
        "WEST" | "CET" | "MET" | "BST" | "IST" | "WAT" => 1.0,
        "CEST" | "MEST" | "EET" | "SAST" | "CAT" => 2.0,
        "EEST" | "MSK" | "EAT" => 3.0,
        "PKT" => 5.0,
        "HKT" | "SGT" | "AWST" | "PHT" => 8.0,
        "JST" | "KST" => 9.0,
        "ACST" => 9.5,
        "AEST" => 10.0,
        "ACDT" => 10.5,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        "NST" => -3.5,
        "NDT" => -2.5,
        "BRT" | "ART" | "ADT" => -3.0,
        "AST" | "EDT" => -4.0,
        "EST" | "CDT" => -5.0,
        "CST" | "MDT" => -6.0,
        "MST" | "PDT" => -7.0,
        "PST" | "AKDT" => -8.0,
        "AKST" | "HDT" => -9.0,
        "HST" => -10.0,
        _ => 0.0, // UTC, GMT, UT, Z, WET and the unknown
    };
    (hours * 3600.0) as i64
}

/// An ISO 8601-like date: `YYYY-MM-DD`, optionally followed by `T` or a space
/// and `HH:MM[:SS[.fff]]`, optionally followed (after an optional space) by a
/// zone `Z`, `+HH:MM`, `+HHMM`, `+HH` or an upper-case abbreviation (`UTC`,
/// `GMT`, `CET`...). `:` may separate the date fields (EXIF). No zone means
/// UTC. The whole text must match.
pub fn parse_iso(text: &str) -> Option<Date> {
    let mut c = Cursor::new(text);
    let year = c.num(4, 4)?;
    let date_sep = c.peek().filter(|b| matches!(b, b'-' | b':'))?;
    c.pos += 1;
    let month = c.num(1, 2)?;
    if !c.eat(date_sep) {
        return None;
    }
    let day = c.num(1, 2)?;
    let mut shape = IsoShape {
        date_sep,
        time_sep: None,
        seconds: false,
        fraction: 0,
        zone_space: false,
        zone: IsoZone::None,
    };
    let (mut hour, mut min, mut sec) = (0, 0, 0);
    if let Some(t @ (b'T' | b' ')) = c.peek()
        && c.s.get(c.pos + 1).is_some_and(u8::is_ascii_digit)
    {
        c.pos += 1;
        shape.time_sep = Some(t);
        hour = c.num(1, 2)?;
        if !c.eat(b':') {
            return None;
        }
        min = c.num(2, 2)?;
        if c.eat(b':') {
            sec = c.num(2, 2)?;
            shape.seconds = true;
            if c.eat(b'.') || c.eat(b',') {
                shape.fraction = c.digits(1, 9)?.1;
            }
        }
    }
    let mut offset = 0;
    if !c.done() {
        shape.zone_space = c.eat(b' ');
        if c.eat(b'Z') {
            shape.zone = IsoZone::Z;
        } else if let Some((off, style)) = numeric_offset(&mut c) {
            offset = off;
            shape.zone = style;
        } else {
            // An abbreviation (`CET`, as some hand-edited catalogs have),
            // read with the table of [`zone_offset`]; written back as `UTC`
            // (or `GMT` when it was `GMT`).
            let w = c.word();
            if !(1..=5).contains(&w.len()) || !w.bytes().all(|b| b.is_ascii_uppercase()) {
                return None;
            }
            offset = zone_offset(w);
            shape.zone = IsoZone::Name(if w == "GMT" { "GMT" } else { "UTC" });
        }
        shape.time_sep?;
    }
    if !c.done() {
        return None;
    }
    let secs = to_unix(i64::from(year), month, day, (hour, min, sec), offset)?;
    Some(Date {
        secs,
        shape: Shape::Iso(shape),
    })
}

/// `HH:MM:SS`.
fn hms(c: &mut Cursor) -> Option<(u32, u32, u32)> {
    let h = c.num(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let m = c.num(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let s = c.num(2, 2)?;
    Some((h, m, s))
}

fn day_and_month(c: &mut Cursor) -> Option<u32> {
    if !DAYS.contains(&c.word()) || !c.eat(b' ') {
        return None;
    }
    let month = month_number(c.word())?;
    c.eat(b' ').then_some(month)
}

/// `java.util.Date.toString()`: `EEE MMM dd HH:mm:ss zzz yyyy`, where the zone
/// is an abbreviation or `GMT+HH:MM`.
pub fn parse_java(text: &str) -> Option<Date> {
    let mut c = Cursor::new(text);
    let month = day_and_month(&mut c)?;
    let day = c.num(2, 2)?;
    if !c.eat(b' ') {
        return None;
    }
    let time = hms(&mut c)?;
    if !c.eat(b' ') {
        return None;
    }
    let zone_start = c.pos;
    while c.peek().is_some_and(|b| b != b' ') {
        c.pos += 1;
    }
    let zone = std::str::from_utf8(&c.s[zone_start..c.pos]).ok()?;
    if zone.is_empty()
        || !zone.starts_with(|ch: char| ch.is_ascii_alphabetic())
        || !zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b':'))
        || !c.eat(b' ')
    {
        return None;
    }
    let year = i64::from(c.num(4, 4)?);
    if !c.done() {
        return None;
    }
    let secs = to_unix(year, month, day, time, zone_offset(zone))?;
    Some(Date {
        secs,
        shape: Shape::Java,
    })
}

/// Perl's scalar `localtime`: `EEE MMM %e HH:MM:SS YYYY` (the day padded with
/// a space). It has no zone; it is read as UTC.
pub fn parse_perl(text: &str) -> Option<Date> {
    let mut c = Cursor::new(text);
    let month = day_and_month(&mut c)?;
    c.eat(b' ');
    let day = c.num(1, 2)?;
    if c.pos != 10 || !c.eat(b' ') {
        return None;
    }
    let time = hms(&mut c)?;
    if !c.eat(b' ') {
        return None;
    }
    let year = i64::from(c.num(4, 4)?);
    if !c.done() {
        return None;
    }
    let secs = to_unix(year, month, day, time, 0)?;
    Some(Date {
        secs,
        shape: Shape::Perl,
    })
}

/// RFC 1123 / RFC 2822: `[EEE, ]d[d] MMM yyyy HH:MM[:SS] ZONE` where the zone
/// is `+HHMM`, `GMT`, `UT`, `UTC` or a US abbreviation.
pub fn parse_rfc2822(text: &str) -> Option<Date> {
    let mut c = Cursor::new(text);
    let weekday = c.peek().is_some_and(|b| b.is_ascii_alphabetic());
    if weekday && (!DAYS.contains(&c.word()) || !c.eat(b',') || !c.eat(b' ')) {
        return None;
    }
    let (day, day_digits) = c.digits(1, 2)?;
    if !c.eat(b' ') {
        return None;
    }
    let month = month_number(c.word())?;
    if !c.eat(b' ') {
        return None;
    }
    let year = i64::from(c.num(4, 4)?);
    if !c.eat(b' ') {
        return None;
    }
    let hour = c.num(2, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let min = c.num(2, 2)?;
    let seconds = c.eat(b':');
    let sec = if seconds { c.num(2, 2)? } else { 0 };
    if !c.eat(b' ') {
        return None;
    }
    let (offset, zone) = if let Some((off, IsoZone::Compact)) = numeric_offset(&mut c) {
        (off, "+0000")
    } else {
        let w = c.rest();
        let zone = match w {
            "GMT" => "GMT",
            "UT" => "UT",
            "UTC" => "UTC",
            "EST" | "EDT" | "CST" | "CDT" | "MST" | "MDT" | "PST" | "PDT" => "+0000",
            _ => return None,
        };
        c.pos = c.s.len();
        (zone_offset(w), zone)
    };
    if !c.done() {
        return None;
    }
    let secs = to_unix(year, month, day as u32, (hour, min, sec), offset)?;
    Some(Date {
        secs,
        shape: Shape::Rfc2822 {
            weekday,
            two_digit_day: day_digits == 2,
            seconds,
            zone,
        },
    })
}

/// Any of the formats above, tried in turn.
pub fn parse_any(text: &str) -> Option<Date> {
    parse_iso(text)
        .or_else(|| parse_rfc2822(text))
        .or_else(|| parse_java(text))
        .or_else(|| parse_perl(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 315_532_800; // 1980-01-01T00:00:00Z, a Tuesday

    fn clamp(d: Option<Date>) -> String {
        d.expect("parses")
            .clamped(EPOCH)
            .expect("later than the epoch")
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-800_000, -1, 0, 1, 3652, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let c = Civil::from_unix(1_772_600_767);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.min, c.sec, c.day_name()),
            (2026, 3, 4, 5, 6, 7, "Wed")
        );
        assert_eq!(Civil::from_unix(epoch_secs(EPOCH)).day_name(), "Tue");
    }

    #[test]
    fn iso_shapes_are_kept() {
        let d = parse_iso("2026-03-04 05:06+0100").unwrap();
        assert_eq!(d.secs, 1_772_600_760 - 3600);
        assert_eq!(clamp(Some(d)), "1980-01-01 00:00+0000");
        assert_eq!(
            clamp(parse_iso("2026-03-04 05:06:07+0100")),
            "1980-01-01 00:00:00+0000"
        );
        assert_eq!(
            clamp(parse_iso("2026-03-04T05:06:07.123-05:00")),
            "1980-01-01T00:00:00.000+00:00"
        );
        assert_eq!(clamp(parse_iso("2026-03-04")), "1980-01-01");
        assert_eq!(
            clamp(parse_iso("2026-3-4 5:06+0100")),
            "1980-01-01 00:00+0000"
        );
        assert_eq!(
            clamp(parse_iso("2026:03:04 05:06:07")),
            "1980:01:01 00:00:00"
        );
        assert_eq!(
            clamp(parse_iso("2026-03-04 05:06 GMT")),
            "1980-01-01 00:00 GMT"
        );
        assert_eq!(
            clamp(parse_iso("2026-03-04T05:06:07Z")),
            "1980-01-01T00:00:00Z"
        );
        let cet = parse_iso("2026-03-04 05:06 CET").unwrap();
        assert_eq!(cet.secs, 1_772_600_760 - 3600);
        assert_eq!(clamp(Some(cet)), "1980-01-01 00:00 UTC");
        for bad in [
            "YEAR-MO-DA HO:MI+ZONE",
            "2026-13-01",
            "2026-02-30",
            "2026-03-04 25:00",
            "2026-03-04+0100",
            "2026-03-04 05:06+0100 junk",
            "",
        ] {
            assert!(parse_iso(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn earlier_dates_stay() {
        assert!(
            parse_iso("1979-12-31 23:59+0000")
                .unwrap()
                .clamped(EPOCH)
                .is_none()
        );
        assert!(
            parse_iso("1980-01-01 01:00+0100")
                .unwrap()
                .clamped(EPOCH)
                .is_none()
        );
        assert!(
            parse_java("Tue Jan 01 00:00:00 UTC 1980")
                .unwrap()
                .clamped(EPOCH)
                .is_none()
        );
    }

    #[test]
    fn java_perl_and_rfc2822() {
        assert_eq!(
            clamp(parse_java("Wed Mar 04 05:06:07 CET 2026")),
            "Tue Jan 01 00:00:00 UTC 1980"
        );
        let custom = parse_java("Wed Mar 04 05:06:07 GMT+01:00 2026").unwrap();
        assert_eq!(custom.secs, 1_772_600_767 - 3600);
        assert_eq!(
            parse_java("Wed Mar 04 05:06:07 XYZT 2026").unwrap().secs,
            1_772_600_767
        );
        assert_eq!(
            clamp(parse_perl("Wed Mar  4 05:06:07 2026")),
            "Tue Jan  1 00:00:00 1980"
        );
        assert_eq!(
            parse_perl("Sat Mar 14 05:06:07 2026").unwrap().secs,
            1_773_464_767
        );
        assert!(parse_perl("Wed Mar 4 05:06:07 2026").is_none());
        assert_eq!(
            clamp(parse_rfc2822("Wed, 04 Mar 2026 05:06:07 GMT")),
            "Tue, 01 Jan 1980 00:00:00 GMT"
        );
        assert_eq!(
            clamp(parse_rfc2822("4 Mar 2026 05:06 +0100")),
            "1 Jan 1980 00:00 +0000"
        );
        assert!(parse_any("not a date").is_none());
    }
}
