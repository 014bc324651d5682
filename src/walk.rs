//! Walking the roots: never following symlinks (not even a root that is one),
//! never leaving the roots, in a stable order sorted by raw name bytes (or its
//! reverse, for the self-check's second pass), skipping strip-nd's own temp files.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::Error;

/// Prefix of the temp files [`crate::replace`] creates beside a file.
pub const TEMP_PREFIX: &str = ".strip-nd-tmp.";

/// Whether a file name is one of strip-nd's own temp files.
pub fn is_temp(name: &OsStr) -> bool {
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// One file-system entry with its `lstat` metadata.
#[derive(Debug)]
pub struct Entry {
    /// The path, under one of the roots.
    pub path: PathBuf,
    /// `lstat` of the path.
    pub meta: Metadata,
}

/// Order of the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Sorted by raw name bytes, parents before children.
    Forward,
    /// The reverse name order, parents before children.
    Reverse,
    /// Sorted by name, children before their parent (for the mtime pass).
    ContentsFirst,
}

/// Every entry under `root` (the root included), lazily: memory is bounded by
/// the largest directory and the depth, not by the size of the tree.
pub fn walk(root: &Path, order: Order) -> impl Iterator<Item = Result<Entry, Error>> + Send {
    let reverse = order == Order::Reverse;
    WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
        .contents_first(order == Order::ContentsFirst)
        .sort_by(move |a, b| {
            let o = name(a).cmp(name(b));
            if reverse { o.reverse() } else { o }
        })
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !name(e).starts_with(TEMP_PREFIX.as_bytes()))
        .map(|r| {
            let e = r.map_err(walk_error)?;
            let meta = e.metadata().map_err(walk_error)?;
            Ok(Entry {
                path: e.into_path(),
                meta,
            })
        })
}

/// The name of an entry below a root: what follows the last `/` of its
/// path, which walkdir builds as the parent's path joined with the name.
/// `DirEntry::file_name` parses the path's components instead, and the sort
/// calls it for every comparison (2% of a run on the man tree).
fn name(e: &walkdir::DirEntry) -> &[u8] {
    let path = e.path().as_os_str().as_bytes();
    memchr::memrchr(b'/', path).map_or(path, |i| &path[i + 1..])
}

fn walk_error(e: walkdir::Error) -> Error {
    let path = e.path().map(Path::to_path_buf).unwrap_or_default();
    let io = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("file system loop"));
    Error::io(path, io)
}
