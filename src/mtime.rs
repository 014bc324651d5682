//! The mtime pass: one bottom-up walk that clamps the mtime of every file,
//! directory and symlink to the epoch where it is later. Earlier mtimes stay;
//! atimes are left as they are.

use std::path::Path;

use filetime::FileTime;

use crate::error::Error;
use crate::handler::Epoch;
use crate::walk::{Order, walk};

/// What the pass did (or, with `apply == false`, would do).
#[derive(Debug, Default)]
pub struct MtimeStats {
    /// Entries whose mtime was later than the epoch.
    pub clamped: u64,
    /// Their paths, kept only when asked for.
    pub paths: Vec<std::path::PathBuf>,
    /// Errors, each naming its path.
    pub errors: Vec<Error>,
}

/// Clamps the mtimes of the directories under `root` (the root included),
/// children before parents. The normalization pass has already clamped every
/// file and symlink as it went; only directories must wait until all the
/// files in them are replaced. Other entries are not even `lstat`ed.
pub fn clamp_dirs(root: &Path, epoch: u64, apply: bool, keep_paths: bool, stats: &mut MtimeStats) {
    let target = FileTime::from_unix_time(Epoch::new(epoch).as_i64(), 0);
    let dirs = walkdir::WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
        .contents_first(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !crate::walk::is_temp(e.file_name()));
    for entry in dirs {
        let entry = match entry {
            Ok(e) if e.file_type().is_dir() => e,
            Ok(_) => continue,
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                stats.errors.push(Error::io(path, e.into()));
                continue;
            }
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                stats.errors.push(Error::io(entry.path(), e.into()));
                continue;
            }
        };
        if FileTime::from_last_modification_time(&meta) <= target {
            continue;
        }
        stats.clamped += 1;
        if keep_paths {
            stats.paths.push(entry.path().to_owned());
        }
        if apply {
            let atime = FileTime::from_last_access_time(&meta);
            if let Err(e) = filetime::set_symlink_file_times(entry.path(), atime, target) {
                stats.errors.push(Error::io(entry.path(), e));
            }
        }
    }
}

/// Clamps mtimes under `root` to `epoch`. Children come before their parents,
/// so a directory's own clamp is never undone by work inside it.
pub fn clamp_tree(root: &Path, epoch: u64, apply: bool, keep_paths: bool, stats: &mut MtimeStats) {
    let target = FileTime::from_unix_time(Epoch::new(epoch).as_i64(), 0);
    for entry in walk(root, Order::ContentsFirst) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                stats.errors.push(e);
                continue;
            }
        };
        let mtime = FileTime::from_last_modification_time(&entry.meta);
        if mtime <= target {
            continue;
        }
        stats.clamped += 1;
        if keep_paths {
            stats.paths.push(entry.path.clone());
        }
        if !apply {
            continue;
        }
        // Path-based utimensat without following links: it never opens the
        // entry, so FIFOs and devices cannot block the pass.
        let atime = FileTime::from_last_access_time(&entry.meta);
        if let Err(e) = filetime::set_symlink_file_times(&entry.path, atime, target) {
            stats.errors.push(Error::io(&entry.path, e));
        }
    }
}
