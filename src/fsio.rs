//! Reading whole files with as few system calls as the kernel allows.
//!
//! `std`'s `read_to_end` asks the file for its size and position (statx, lseek),
//! probes with small reads and always ends on a zero-length read: five or six
//! calls for a small file. Reads go to a buffer's spare capacity, not
//! zero-filled first (which cost 1% of a run on many small files). Callers here already know the size from `lstat`, so
//! they read `size + 1` bytes at once: a short read that stops exactly at the
//! known size is the end of the file. Anything else falls back to reading on
//! until a read returns 0, so a file that grew or shrank is read as it is.

use std::fs::File;
use std::io;

use rustix::buffer::spare_capacity;

/// Reads into `buf`'s spare capacity (none of it zero-filled first),
/// retrying on `EINTR`; the number of bytes read, 0 at the end of the file.
fn read_spare(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match rustix::io::read(file, spare_capacity(&mut *buf)) {
            Err(rustix::io::Errno::INTR) => {}
            r => return r.map_err(|e| io::Error::from_raw_os_error(e.raw_os_error())),
        }
    }
}

/// Reads up to `limit` bytes from the current position (fewer at end of file).
pub fn read_up_to(file: &mut File, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit);
    while buf.len() < limit {
        if read_spare(file, &mut buf)? == 0 {
            break;
        }
    }
    Ok(buf)
}

/// Appends the rest of `file` to `buf`, expecting the file to be `size` bytes
/// long in all (so `size - buf.len()` more).
pub fn read_rest(file: &mut File, buf: &mut Vec<u8>, size: u64) -> io::Result<()> {
    let want = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_sub(buf.len());
    buf.reserve_exact(want.saturating_add(1));
    loop {
        if buf.capacity() == buf.len() {
            buf.reserve(64 * 1024);
        }
        let room = buf.capacity() - buf.len();
        let n = read_spare(file, buf)?;
        if n == 0 || (n < room && buf.len() as u64 == size) {
            return Ok(());
        }
    }
}

/// Reads a whole file that `lstat` said is `size` bytes long.
pub fn read_all(file: &mut File, size: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_rest(file, &mut buf, size)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn reads_whole_files_whatever_the_size_hint() {
        let mut t = tempfile::tempfile().unwrap();
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        t.write_all(&body).unwrap();
        for hint in [0, 10, 99_999, 100_000, 100_001, 10 << 20] {
            t.rewind().unwrap();
            assert_eq!(read_all(&mut t, hint).unwrap(), body, "hint {hint}");
        }
        t.rewind().unwrap();
        let mut head = read_up_to(&mut t, 4096).unwrap();
        assert_eq!(head, &body[..4096]);
        read_rest(&mut t, &mut head, 100_000).unwrap();
        assert_eq!(head, body);
    }
}
