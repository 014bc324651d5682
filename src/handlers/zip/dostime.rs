//! DOS dates and times (APPNOTE 4.4.6: local time, 2-second resolution,
//! 1980 to 2107), their conversion to and from Unix time, and the 1980 floor.

use std::fmt;

use crate::dates::civil_from_days;
use crate::dates::days_from_civil;
use crate::handler::Context;

/// 1980-01-02T02:00:00Z: the earliest time written (see the module header).
/// The earliest DOS date, 1980-01-01 00:00:00, is not safe: `unzip` reads a
/// DOS time as local time with the zone's current offset (up to UTC+14, as
/// `TZ=Pacific/Kiritimati`), and a zone may have been as far as UTC−12 in
/// 1980 (Kiritimati itself was UTC−10:40), where Python's `zipfile` then
/// finds a 1979 date and refuses to zip the file again. 26 hours after the
/// DOS epoch, every such pair of zones still reads 1980-01-01 or later.
pub(super) const DOS_FLOOR: u64 = 315_626_400;

/// A DOS date and time, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DosTime {
    pub(super) date: u16,
    pub(super) time: u16,
}

impl DosTime {
    /// [`DOS_FLOOR`]: 1980-01-02 02:00:00.
    pub(super) const FLOOR: DosTime = DosTime {
        date: (1 << 5) | 2,
        time: 2 << 11,
    };

    fn fields(self) -> (u64, u32, u32, u32, u32, u32) {
        (
            1980 + u64::from(self.date >> 9),
            u32::from((self.date >> 5) & 15),
            u32::from(self.date & 31),
            u32::from(self.time >> 11),
            u32::from((self.time >> 5) & 63),
            u32::from(self.time & 31) * 2,
        )
    }

    /// Seconds since 1970, reading the fields as UTC; `None` when invalid.
    pub(super) fn unix(self) -> Option<u64> {
        let (year, month, day, hour, minute, second) = self.fields();
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        // Years 1980 to 2107: the day number is positive.
        let days = u64::try_from(days_from_civil(i64::try_from(year).ok()?, month, day)).ok()?;
        Some(days * 86_400 + u64::from(hour * 3600 + minute * 60 + second))
    }

    /// The DOS time of `t` (between 1980 and 2107), rounded down to 2 seconds.
    pub(super) fn from_unix(t: u64) -> Self {
        let secs = (t % 86_400) as u32;
        let (year, month, day) = civil_from_days(i64::try_from(t / 86_400).unwrap_or(i64::MAX));
        let year = u16::try_from((year - 1980).clamp(0, 127)).unwrap_or(0);
        DosTime {
            date: (year << 9) | ((month as u16) << 5) | day as u16,
            time: (((secs / 3600) as u16) << 11)
                | ((((secs / 60) % 60) as u16) << 5)
                | ((secs % 60) / 2) as u16,
        }
    }

    /// Clamped to the epoch, with the DOS floor; invalid times become the floor.
    pub(super) fn clamped(self, ctx: &Context) -> Self {
        match self.unix() {
            Some(t) => {
                let c = ctx.clamp(t).max(DOS_FLOOR);
                if c == t { self } else { Self::from_unix(c) }
            }
            None => Self::FLOOR,
        }
    }
}

/// A UT mtime clamped to the epoch, with [`DOS_FLOOR`].
pub(super) fn clamp_unix(t: u32, ctx: &Context) -> u32 {
    u32::try_from(ctx.clamp(u64::from(t)).max(DOS_FLOOR)).unwrap_or(t)
}

impl fmt::Display for DosTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unix().is_none() {
            return write!(
                f,
                "invalid (date {:#06x}, time {:#06x})",
                self.date, self.time
            );
        }
        let (year, month, day, hour, minute, second) = self.fields();
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"
        )
    }
}
