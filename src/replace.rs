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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use filetime::FileTime;
use rustix::fs::{Mode, OFlags};
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
    // The old inode, held open so that the rename does not free it (see
    // `reap`). Never following a symlink nor waiting on a FIFO put there
    // since the file was examined; a file it cannot open is let go as before.
    let old = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()
    .map(fs::File::from);
    tmp.persist(path).map_err(|e| err(e.error))?;
    if let Some(old) = old {
        reap(old);
    }
    Ok(())
}

/// Lets go of replaced files' old inodes off the workers' threads.
///
/// The last reference to a replaced inode frees its blocks, and on a file
/// system mounted with online `discard` (ext4 here) that waits for the
/// device to discard them: about 0.2 ms a file, inside the `rename` when
/// the rename drops the last reference. Holding the old file open across
/// the rename and closing it on one of a few reaper threads lets the
/// workers go on while the discards run, several at a time.
struct Reaper {
    tx: Option<SyncSender<fs::File>>,
    /// Files sent and not yet closed.
    pending: Mutex<usize>,
    idle: Condvar,
}

/// Reaper threads: discards in flight at once.
const REAPERS: usize = 4;
/// Old inodes waiting for a reaper: a full queue makes the worker wait, so
/// at most this many (and their blocks) outlive their rename.
const REAP_QUEUE: usize = 64;

fn reaper() -> &'static Reaper {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    REAPER.get_or_init(|| {
        let (tx, rx) = sync_channel::<fs::File>(REAP_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..REAPERS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("strip-nd-reap-{i}"))
                .spawn(move || {
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(file)) = next else { return };
                        drop(file);
                        let r = reaper();
                        let mut n = r.pending.lock().unwrap_or_else(PoisonError::into_inner);
                        *n -= 1;
                        if *n == 0 {
                            r.idle.notify_all();
                        }
                    }
                });
            started += usize::from(spawned.is_ok());
        }
        Reaper {
            tx: (started > 0).then_some(tx),
            pending: Mutex::new(0),
            idle: Condvar::new(),
        }
    })
}

/// Closes `old` on a reaper thread (here, if none could be started).
fn reap(old: fs::File) {
    let r = reaper();
    let Some(tx) = &r.tx else { return };
    *r.pending.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    if let Err(e) = tx.send(old) {
        drop(e.0);
        *r.pending.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
    }
}

/// Waits until every old inode handed to the reapers is closed, so a run
/// returns with the blocks of the files it replaced freed.
pub fn let_go_of_old_files() {
    let r = reaper();
    let mut n = r.pending.lock().unwrap_or_else(PoisonError::into_inner);
    while *n > 0 {
        n = r.idle.wait(n).unwrap_or_else(PoisonError::into_inner);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The open files of this process that are `path`, deleted.
    fn held_deleted(path: &Path) -> usize {
        let gone = format!("{} (deleted)", path.display());
        fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.as_os_str() == gone.as_str())
            .count()
    }

    #[test]
    fn the_old_inode_outlives_the_rename_until_the_reapers_close_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        for round in 0..20 {
            fs::write(&p, format!("old {round}")).unwrap();
            let meta = fs::symlink_metadata(&p).unwrap();
            replace(&p, &meta, b"new", FileTime::from_unix_time(1, 0)).unwrap();
            assert_eq!(fs::read(&p).unwrap(), b"new");
        }
        let_go_of_old_files();
        assert_eq!(held_deleted(&p), 0, "an old inode is still open");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "a temp file is left"
        );
    }
}
