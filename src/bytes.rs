//! Fixed-width integers at an offset, little- or big-endian.
//!
//! The readers are checked: `None` when `b` does not hold the whole value
//! (also when `at + width` overflows), so a handler turns a short file into a
//! [`FormatError`](crate::handler::FormatError) instead of a panic. The
//! writers overwrite bytes the handler has already read (a field it found),
//! so they index like a slice and panic on a range outside `b`.
//!
//! [`Endian`] picks the order at run time, for formats written in either
//! (gettext catalogs, binary cpio).
//!
//! This module imports nothing of the crate.

/// The `N` bytes at `at`, if `b` holds them.
fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The little-endian `u16` at `at`.
#[must_use]
pub fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `at`.
#[must_use]
pub fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}

/// The little-endian `u64` at `at`.
#[must_use]
pub fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}

/// The little-endian `i32` at `at`.
#[must_use]
pub fn i32_le(b: &[u8], at: usize) -> Option<i32> {
    array(b, at).map(i32::from_le_bytes)
}

/// The big-endian `u16` at `at`.
#[must_use]
pub fn u16_be(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_be_bytes)
}

/// The big-endian `u32` at `at`.
#[must_use]
pub fn u32_be(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}

/// The big-endian `u64` at `at`.
#[must_use]
pub fn u64_be(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_be_bytes)
}

/// The big-endian `i64` at `at`.
#[must_use]
pub fn i64_be(b: &[u8], at: usize) -> Option<i64> {
    array(b, at).map(i64::from_be_bytes)
}

/// Writes `v` little-endian at `at`. Panics if `b` does not hold it.
pub fn put_u32_le(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes `v` big-endian at `at`. Panics if `b` does not hold it.
pub fn put_u32_be(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian at `at`. Panics if `b` does not hold it.
pub fn put_i64_be(b: &mut [u8], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// A byte order chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl Endian {
    /// The `u16` at `at` in this order.
    #[must_use]
    pub fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        match self {
            Endian::Little => u16_le(b, at),
            Endian::Big => u16_be(b, at),
        }
    }

    /// The `u32` at `at` in this order.
    #[must_use]
    pub fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        match self {
            Endian::Little => u32_le(b, at),
            Endian::Big => u32_be(b, at),
        }
    }

    /// `v`'s bytes in this order.
    #[must_use]
    pub fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// Writes `v` at `at` in this order. Panics if `b` does not hold it.
    pub fn put_u32(self, b: &mut [u8], at: usize, v: u32) {
        match self {
            Endian::Little => put_u32_le(b, at, v),
            Endian::Big => put_u32_be(b, at, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [u8; 9] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09];

    #[test]
    fn readers_take_the_bytes_at_the_offset_in_their_order() {
        assert_eq!(u16_le(&B, 1), Some(0x0302));
        assert_eq!(u16_be(&B, 1), Some(0x0203));
        assert_eq!(u32_le(&B, 1), Some(0x0504_0302));
        assert_eq!(u32_be(&B, 1), Some(0x0203_0405));
        assert_eq!(u64_le(&B, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u64_be(&B, 1), Some(0x0203_0405_0607_0809));
        assert_eq!(i32_le(&[0xff; 4], 0), Some(-1));
        assert_eq!(i64_be(&[0xff; 8], 0), Some(-1));
        assert_eq!(Endian::Little.u16(&B, 0), u16_le(&B, 0));
        assert_eq!(Endian::Big.u32(&B, 0), u32_be(&B, 0));
    }

    #[test]
    fn readers_refuse_what_the_slice_does_not_hold() {
        assert_eq!(u16_le(&B, 8), None);
        assert_eq!(u32_be(&B, 6), None);
        assert_eq!(u64_le(&B, 2), None);
        assert_eq!(u64_be(&B, 1), Some(0x0203_0405_0607_0809));
        assert_eq!(u32_le(&B, usize::MAX - 1), None, "at + 4 overflows");
        assert_eq!(Endian::Big.u16(&[], 0), None);
    }

    #[test]
    fn writers_round_trip_with_the_readers() {
        let mut b = [0u8; 12];
        put_u32_le(&mut b, 1, 0xdead_beef);
        assert_eq!(u32_le(&b, 1), Some(0xdead_beef));
        put_u32_be(&mut b, 5, 0x0102_0304);
        assert_eq!(b[5..9], [1, 2, 3, 4]);
        put_i64_be(&mut b, 4, -2);
        assert_eq!(i64_be(&b, 4), Some(-2));
        Endian::Big.put_u32(&mut b, 0, 7);
        assert_eq!(Endian::Big.u32(&b, 0), Some(7));
        Endian::Little.put_u32(&mut b, 0, 7);
        assert_eq!(b[..4], [7, 0, 0, 0]);
        assert_eq!(Endian::Big.u16_bytes(0x0102), [1, 2]);
        assert_eq!(Endian::Little.u16_bytes(0x0102), [2, 1]);
    }
}
