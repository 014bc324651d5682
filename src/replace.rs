//! Atomic replacement of a file's contents.
//!
//! The new bytes go to a temp file in the same directory, which gets the
//! original's mode, owner (where permitted) and times, and is then renamed over
//! the original. A crash leaves the old file or the new one, never a mix; a
//! temp file left by a crash is named with [`TEMP_PREFIX`] and skipped by the walk.
//!
//! A file with several hardlinks, all inside the roots, is replaced link by
//! link: the first path gets the new inode by rename, and every other path is
//! re-pointed to that inode by `link` + rename. Each path is atomically old or
//! new at every moment, and at the end all the links share one inode again.

use std::borrow::Cow;
use std::fs::{self, Metadata, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use filetime::FileTime;
use tempfile::NamedTempFile;

use crate::error::Error;
use crate::walk::TEMP_PREFIX;

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `dir` made absolute against the working directory, read once per run:
/// `tempfile` otherwise asks the kernel for it (`getcwd`) for every temp
/// file it makes in a relative directory. strip-nd never changes its
/// working directory, and the renames use relative paths against it too.
pub(crate) fn absolute(dir: &Path) -> Cow<'_, Path> {
    static CWD: OnceLock<Option<PathBuf>> = OnceLock::new();
    match CWD.get_or_init(|| std::env::current_dir().ok()) {
        Some(cwd) if !dir.is_absolute() => Cow::Owned(cwd.join(dir)),
        _ => Cow::Borrowed(dir),
    }
}

/// The new contents of a file.
pub enum Contents<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// Already written to a temp file (a streamed file: see
    /// `crate::stream::TempSink`), in the file's directory and named with
    /// [`TEMP_PREFIX`] when it could be; otherwise it is copied there.
    Temp(NamedTempFile),
}

/// Replaces the contents of `path` (whose `lstat` is `meta`) with `bytes`;
/// the new file keeps the old one's mode, owner and atime, and gets `mtime`.
pub fn replace(path: &Path, meta: &Metadata, bytes: &[u8], mtime: FileTime) -> Result<(), Error> {
    replace_with(path, meta, Contents::Bytes(bytes), mtime)
}

/// [`replace`] with contents in memory or in a temp file beside `path`.
pub fn replace_with(
    path: &Path,
    meta: &Metadata,
    contents: Contents,
    mtime: FileTime,
) -> Result<(), Error> {
    let err = |e| Error::io(path, e);
    let dir = parent(path);
    let fresh = || {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(absolute(dir))
            .map_err(err)
    };
    let tmp = match contents {
        Contents::Bytes(bytes) => {
            let mut tmp = fresh()?;
            tmp.write_all(bytes).map_err(err)?;
            tmp
        }
        Contents::Temp(tmp) if same_dir(tmp.path(), dir) => tmp,
        Contents::Temp(elsewhere) => {
            let mut tmp = fresh()?;
            io::copy(&mut elsewhere.reopen().map_err(err)?, &mut tmp).map_err(err)?;
            tmp
        }
    };
    let file = tmp.as_file();
    // chown first: it clears setuid/setgid, which the chmod then restores.
    match std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
        Err(e) => return Err(err(e)),
    }
    file.set_permissions(Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(err)?;
    filetime::set_file_handle_times(
        file,
        Some(FileTime::from_last_access_time(meta)),
        Some(mtime),
    )
    .map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn same_dir(tmp: &Path, dir: &Path) -> bool {
    let tmp_dir = parent(tmp);
    tmp_dir == dir
        || matches!((fs::metadata(tmp_dir), fs::metadata(dir)),
            (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
}

/// Replaces every link of one inode: `paths` must be all its links.
pub fn replace_linked(
    paths: &[PathBuf],
    meta: &Metadata,
    bytes: &[u8],
    mtime: FileTime,
) -> Result<(), Error> {
    replace_linked_with(paths, meta, Contents::Bytes(bytes), mtime)
}

/// [`replace_linked`] with contents in memory or in a temp file beside the
/// first path.
pub fn replace_linked_with(
    paths: &[PathBuf],
    meta: &Metadata,
    contents: Contents,
    mtime: FileTime,
) -> Result<(), Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some((first, rest)) = paths.split_first() else {
        return Ok(());
    };
    replace_with(first, meta, contents, mtime)?;
    for p in rest {
        let dir = parent(p);
        let tmp = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!("{TEMP_PREFIX}{}.{n}", std::process::id()));
            match fs::hard_link(first, &tmp) {
                Ok(()) => break tmp,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        };
        if let Err(e) = fs::rename(&tmp, p) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(p, e));
        }
        // rename(2) does nothing when both names already name one inode
        // (a rejoined or already replaced link): the temp name must still go.
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
    }
    Ok(())
}
