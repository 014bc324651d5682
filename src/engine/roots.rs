//! Locating and validating the roots before anything is touched, and naming
//! files relative to them.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Directories holding the Nix store: `/nix/store` and `$NIX_STORE_DIR`.
pub(super) fn store_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/nix/store")];
    if let Some(d) = std::env::var_os("NIX_STORE_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The absolute, symlink-free location of `root`, without following `root`
/// itself if it is a symlink.
pub(super) fn locate(root: &Path) -> Result<PathBuf, Error> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| Error::io(root, e))?;
    if meta.file_type().is_symlink() {
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let parent = parent.canonicalize().map_err(|e| Error::io(root, e))?;
        Ok(parent.join(root.file_name().unwrap_or_default()))
    } else {
        root.canonicalize().map_err(|e| Error::io(root, e))
    }
}

/// Checks the roots before anything is touched, and drops roots nested in
/// other roots (their files would otherwise be visited twice). Returns the
/// roots to walk, in a stable order.
pub fn prepare_roots(roots: &[PathBuf], modify: bool) -> Result<Vec<PathBuf>, Error> {
    let in_build = std::env::var_os("NIX_BUILD_TOP").is_some();
    let mut located = Vec::new();
    for root in roots {
        let abs = locate(root)?;
        if modify && !in_build {
            for store in store_dirs() {
                if abs.starts_with(&store) || store.starts_with(&abs) {
                    return Err(Error::NixStore { path: root.clone() });
                }
            }
        }
        located.push((abs, root.clone()));
    }
    located.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let mut kept: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (abs, root) in located {
        if !kept.iter().any(|(k, _)| abs.starts_with(k)) {
            kept.push((abs, root));
        }
    }
    Ok(kept.into_iter().map(|(_, r)| r).collect())
}

/// `path` relative to the root it lies under; the file name for a root that
/// is the file itself.
pub(super) fn relative_to_roots(path: &Path, roots: &[PathBuf]) -> PathBuf {
    roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .or_else(|| path.file_name().map(Path::new))
        .unwrap_or(path)
        .to_owned()
}
