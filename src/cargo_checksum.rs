//! Vendored crates' `.cargo-checksum.json` (written by `cargo vendor`, read
//! by cargo's directory sources, which refuse to build a crate whose file
//! does not match its entry): `{"files":{"<relative path>":"<sha256 hex>",...},
//! "package":"<sha256 of the .crate>"}`, compact, keys sorted, as
//! `serde_json` writes it.
//!
//! This is a file-system rule, so it lives in the engine, not in a handler:
//! before a file is rewritten, every directory between it and its root is
//! looked at for a `.cargo-checksum.json`. When one lists the file (its path
//! relative to that directory, `/`-separated), the entry must hold the sha256
//! of the file as it is now; the file is then rewritten and, after the pass,
//! the entry gets the new file's sha256. The file keeps every other byte: it
//! is parsed and written again with `serde_json`, and only taken when writing
//! it back unchanged gives exactly the bytes read (cargo's own form), so key
//! order, formatting and `package` (the hash of the `.crate` archive, which
//! nothing here changes) stay. It is replaced atomically like any rewrite and
//! reported as a change of the pseudo-handler `cargo-checksum`.
//!
//! The safe side when it cannot be kept right: a file under a
//! `.cargo-checksum.json` that cannot be read, parsed or written back
//! byte-identically, or whose entry does not match the file before the
//! change, is **not rewritten** (reported as skipped, with the reason). Files a
//! checksum file does not list are rewritten freely (cargo checks listed files
//! only).

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use filetime::FileTime;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::recover::DirGuard;
use crate::replace::replace;

/// The file name cargo vendor writes in each crate directory.
pub const FILE_NAME: &str = ".cargo-checksum.json";

/// The name changes are reported under.
pub const HANDLER: &str = "cargo-checksum";

/// A checksum file as read: its bytes and its `files` map, or why it cannot
/// be kept right.
struct Checksums {
    bytes: Vec<u8>,
    files: Result<BTreeMap<String, String>, String>,
}

/// The entries that list a file about to be rewritten, and its new sha256.
#[derive(Debug)]
pub struct Pending {
    queued: Vec<(PathBuf, String)>,
    new_hex: String,
}

/// The checksum files met during a pass and the entries to update.
#[derive(Default)]
pub struct Crates {
    /// Directory -> its checksum file, `None` when it has none.
    dirs: Mutex<HashMap<PathBuf, Option<Arc<Checksums>>>>,
    /// Checksum file -> (key -> new sha256 hex).
    updates: Mutex<BTreeMap<PathBuf, BTreeMap<String, String>>>,
}

fn hex(data: &[u8]) -> String {
    hex_digest(&Sha256::digest(data))
}

/// A sha256 digest as the lowercase hex `.cargo-checksum.json` records.
pub fn hex_digest(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Reads and checks a checksum file.
fn load(path: &Path) -> Option<Checksums> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Some(Checksums {
                bytes: Vec::new(),
                files: Err(format!("cannot be read: {e}")),
            });
        }
    };
    let files = parse(&bytes);
    Some(Checksums { bytes, files })
}

/// The `files` map of a checksum file in cargo's form.
fn parse(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("is not JSON: {e}"))?;
    let again = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    if again != bytes {
        return Err(
            "is not in the compact form cargo writes, so it cannot be kept byte for byte".into(),
        );
    }
    let files = value
        .get("files")
        .and_then(serde_json::Value::as_object)
        .ok_or("has no \"files\" object")?;
    files
        .iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("entry {k:?} is not a string"))
        })
        .collect()
}

/// `path` relative to `dir`, `/`-separated, when it is UTF-8.
fn key(path: &Path, dir: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let parts: Option<Vec<&str>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    Some(parts?.join("/"))
}

impl Crates {
    /// The checksum file of `dir`, read once.
    fn of(&self, dir: &Path) -> Option<Arc<Checksums>> {
        let mut dirs = self.dirs.lock().unwrap_or_else(PoisonError::into_inner);
        dirs.entry(dir.to_owned())
            .or_insert_with(|| load(&dir.join(FILE_NAME)).map(Arc::new))
            .clone()
    }

    /// Whether some checksum file may list the file with links `paths`
    /// (under `roots`): one lies in a directory above it, inside its root.
    /// A dry run hashes a streamed file's new contents only then.
    pub fn may_list(&self, paths: &[PathBuf], roots: &[PathBuf]) -> bool {
        paths.iter().any(|path| {
            let Some(root) = roots.iter().find(|r| path.starts_with(r)) else {
                return false;
            };
            std::iter::successors(path.parent(), |d| d.parent())
                .take_while(|d| d.starts_with(root))
                .any(|d| self.of(d).is_some())
        })
    }

    /// Whether the file with links `paths` (under `roots`) may get the
    /// contents `new`. On `Ok`, the entries that list it, to hand to
    /// [`Crates::commit`] once the file is written; on `Err`, the reason to
    /// leave it untouched.
    pub fn admit(
        &self,
        paths: &[PathBuf],
        roots: &[PathBuf],
        new: &[u8],
    ) -> Result<Pending, String> {
        self.admit_hashed(paths, roots, || Ok(hex(new)))
    }

    /// [`Crates::admit`] for new contents not in memory (a streamed file):
    /// `new_hex` gives their sha256 in hex, and is called only when some
    /// checksum file lists the file.
    pub fn admit_hashed(
        &self,
        paths: &[PathBuf],
        roots: &[PathBuf],
        new_hex: impl FnOnce() -> Result<String, String>,
    ) -> Result<Pending, String> {
        let mut queued = Vec::new();
        let mut old_hex: Option<String> = None;
        for path in paths {
            let Some(root) = roots.iter().find(|r| path.starts_with(r)) else {
                continue;
            };
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(root)) {
                if let Some(sums) = self.of(d) {
                    let json = d.join(FILE_NAME);
                    let files = sums.files.as_ref().map_err(|e| {
                        format!(
                            "lies under {}, which {e}; left untouched so the vendored crate still builds",
                            json.display()
                        )
                    })?;
                    if let Some(k) = key(path, d) {
                        if let Some(recorded) = files.get(&k) {
                            if old_hex.is_none() {
                                let old = std::fs::read(path).map_err(|e| e.to_string())?;
                                old_hex = Some(hex(&old));
                            }
                            if old_hex.as_deref() != Some(recorded.as_str()) {
                                return Err(format!(
                                    "its entry {k:?} in {} does not match it; left untouched",
                                    json.display()
                                ));
                            }
                            queued.push((json, k));
                        }
                    }
                }
                dir = d.parent();
            }
        }
        let new_hex = if queued.is_empty() {
            String::new()
        } else {
            new_hex()?
        };
        Ok(Pending { queued, new_hex })
    }

    /// Queues the entries of a file that was written (or, in a dry run,
    /// would be) for [`Crates::finish`].
    pub fn commit(&self, pending: Pending) {
        if pending.queued.is_empty() {
            return;
        }
        let mut updates = self.updates.lock().unwrap_or_else(PoisonError::into_inner);
        for (json, k) in pending.queued {
            updates
                .entry(json)
                .or_default()
                .insert(k, pending.new_hex.clone());
        }
    }

    /// Writes the queued entries (unless `guard` is `None`: a dry run).
    /// Returns each checksum file changed with its notes, and the errors.
    pub fn finish(
        &self,
        guard: Option<&DirGuard>,
        clamp: Option<FileTime>,
    ) -> (Vec<(PathBuf, Vec<String>)>, Vec<Error>) {
        let updates =
            std::mem::take(&mut *self.updates.lock().unwrap_or_else(PoisonError::into_inner));
        let mut changed = Vec::new();
        let mut errors = Vec::new();
        for (json, entries) in updates {
            let Some(sums) = json.parent().and_then(|d| self.of(d)) else {
                continue;
            };
            // Parsed once already, in `admit`.
            let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&sums.bytes) else {
                continue;
            };
            let Some(files) = value.get_mut("files").and_then(|f| f.as_object_mut()) else {
                continue;
            };
            let mut notes = Vec::new();
            for (k, new) in entries {
                if let Some(old) = files.get(&k).and_then(|v| v.as_str()) {
                    if old != new {
                        notes.push(format!("files.{k}: sha256 {old} -> {new}"));
                    }
                }
                files.insert(k, serde_json::Value::String(new));
            }
            if notes.is_empty() {
                continue;
            }
            let Ok(bytes) = serde_json::to_vec(&value) else {
                continue;
            };
            if let Some(guard) = guard {
                let done = std::fs::symlink_metadata(&json)
                    .map_err(|e| Error::io(&json, e))
                    .and_then(|meta| {
                        guard.writable_parent(&json)?;
                        let now = FileTime::from_last_modification_time(&meta);
                        let mtime = clamp.map_or(now, |c| now.min(c));
                        replace(&json, &meta, &bytes, mtime)
                    });
                if let Err(e) = done {
                    errors.push(e);
                    continue;
                }
            }
            changed.push((json, notes));
        }
        (changed, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cargos_compact_form_is_taken() {
        let ok = br#"{"files":{"Cargo.toml":"ab","src/lib.rs":"cd"},"package":"ef"}"#;
        let files = parse(ok).unwrap();
        assert_eq!(files["src/lib.rs"], "cd");
        assert!(parse(br#"{"files": {}, "package": "ef"}"#).is_err());
        assert!(parse(b"{\"files\":{},\"package\":\"ef\"}\n").is_err());
        assert!(parse(br#"{"files":{"a":1},"package":null}"#).is_err());
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"files":{},"package":null}"#).is_ok());
    }

    #[test]
    fn keys_are_slash_separated_relative_paths() {
        let d = Path::new("/v/foo-1.0");
        assert_eq!(
            key(Path::new("/v/foo-1.0/src/a.rs"), d).unwrap(),
            "src/a.rs"
        );
        assert!(key(Path::new("/v/bar/a.rs"), d).is_none());
    }
}
