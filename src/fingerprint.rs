//! What changes when a file or symlink is written, replaced or touched: its
//! inode, size, mode, and modification and change times (`ctime` moves with
//! every write, `chmod`, `utimes` and rename, and cannot be set back). The
//! self-check compares the fingerprints the main pass leaves with those the
//! NAR hasher sees, to name a file changed on disk meanwhile.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// One file's or symlink's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    /// From `lstat`/`fstat` metadata.
    #[must_use]
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mode: meta.mode(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// From a raw `stat` (the NAR hasher's `fstat`/`fstatat`).
    #[must_use]
    pub fn of_stat(st: &rustix::fs::Stat) -> Self {
        // The kernel's fields are signed or unsigned by architecture; the
        // casts give the values `Metadata` gives for the same stat.
        #[allow(
            clippy::cast_possible_wrap,
            clippy::cast_sign_loss,
            clippy::unnecessary_cast
        )]
        Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mode: st.st_mode as u32,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_stat_and_metadata_give_one_fingerprint_and_a_write_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let before = Fingerprint::of_stat(&rustix::fs::fstat(&f).unwrap());
        assert_eq!(before, Fingerprint::of(&f.metadata().unwrap()));
        std::fs::write(&p, b"abcd").unwrap();
        assert_ne!(
            Fingerprint::of_stat(&rustix::fs::fstat(&f).unwrap()),
            before
        );
    }
}
