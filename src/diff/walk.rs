//! Walking the two trees in lockstep in NAR order: every file is read once,
//! feeding its side's NAR hash (on a thread of its own) and the comparison;
//! entries are paired by name and each pair is compared.

use std::collections::BTreeSet;
use std::fs;
use std::fs::File;
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;

use sha2::{Digest, Sha256};

use super::compare::analyse;
use super::hints::RefTimes;
use super::{ANALYSE_MAX, DiffKind, Difference};
use crate::config::Config;
use crate::error::Error;
use crate::nar;

/// A NAR sink that hashes on its own thread, so two trees hash in parallel
/// with the walk that reads them.
pub(super) struct ThreadedHash {
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    handle: Option<thread::JoinHandle<[u8; 32]>>,
    buf: Vec<u8>,
}

impl ThreadedHash {
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
        let handle = thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
            }
            h.finalize().into()
        });
        Self {
            tx: Some(tx),
            handle: Some(handle),
            buf: Vec::with_capacity(1 << 20),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > 1 << 20 {
            self.flush();
        }
        if bytes.len() >= 1 << 20 {
            if let Some(tx) = &self.tx {
                let _ = tx.send(bytes.to_vec());
            }
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20));
            if let Some(tx) = &self.tx {
                let _ = tx.send(chunk);
            }
        }
    }

    pub(super) fn finish(mut self) -> [u8; 32] {
        self.flush();
        drop(self.tx.take());
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl nar::Sink for ThreadedHash {
    fn put(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
}

/// One side of the comparison: its root, hasher and reference times.
pub(super) struct Side {
    pub(super) root: PathBuf,
    pub(super) hash: nar::Encoder<ThreadedHash>,
}

/// A file-system node and its `lstat`.
pub(super) struct Node {
    pub(super) path: PathBuf,
    pub(super) meta: Metadata,
}

pub(super) fn node(path: &Path) -> Result<Node, Error> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    Ok(Node {
        path: path.to_owned(),
        meta,
    })
}

fn kind_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "regular file"
    } else {
        nar::special_kind(ft)
    }
}

fn is_exec(meta: &Metadata) -> bool {
    meta.permissions().mode() & 0o100 != 0
}

fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, Error> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(|e| Error::io(dir, e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Reads a whole file, feeding its NAR serialization to `side`'s hash.
/// Returns its bytes when it is small enough to analyse.
fn read_into(side: &mut Side, n: &Node) -> Result<Option<Vec<u8>>, Error> {
    let mut file = File::open(&n.path).map_err(|e| Error::io(&n.path, e))?;
    let len = n.meta.len();
    side.hash.regular(is_exec(&n.meta), len);
    let keep = len <= ANALYSE_MAX;
    let mut kept = Vec::new();
    let mut buf = vec![0; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Error::Changed {
                    path: n.path.clone(),
                });
            }
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&n.path, e)),
        };
        side.hash.data(&buf[..got]);
        if keep {
            kept.extend_from_slice(&buf[..got]);
        }
        left -= got as u64;
    }
    side.hash.regular_end(len);
    Ok(keep.then_some(kept))
}

/// Serializes a node (recursively) into one side's hash only.
fn serialize_one(side: &mut Side, n: &Node) -> Result<(), Error> {
    let ft = n.meta.file_type();
    if ft.is_file() {
        read_into(side, n)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(&n.path).map_err(|e| Error::io(&n.path, e))?;
        side.hash.symlink(target.as_os_str().as_bytes());
    } else if ft.is_dir() {
        side.hash.directory();
        for name in sorted_names(&n.path)? {
            side.hash.entry(name.as_bytes());
            serialize_one(side, &node(&n.path.join(&name))?)?;
            side.hash.entry_end();
        }
        side.hash.directory_end();
    } else {
        return Err(Error::NarUnsupported {
            path: n.path.clone(),
            kind: nar::special_kind(ft),
        });
    }
    Ok(())
}

/// The time a tree was built: the latest status-change time of its root,
/// which for a Nix store path is when Nix registered it.
pub(super) fn build_time(meta: &Metadata) -> i64 {
    meta.ctime().max(meta.mtime())
}

pub(super) struct Walk<'a> {
    pub(super) a: Side,
    pub(super) b: Side,
    pub(super) config: &'a Config,
    pub(super) refs: RefTimes,
    pub(super) out: Vec<Difference>,
}

impl Walk<'_> {
    fn rel(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.a.root).unwrap_or(path);
        if rel.as_os_str().is_empty() {
            path.file_name()
                .map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
        } else {
            rel.to_string_lossy().into_owned()
        }
    }

    fn simple(&mut self, path: String, kind: DiffKind, field: String) {
        self.out.push(Difference {
            path,
            kind,
            handler: None,
            fields: vec![field],
            verdict: None,
            remaining: Vec::new(),
            hints: Vec::new(),
        });
    }

    pub(super) fn pair(&mut self, a: &Node, b: &Node) -> Result<(), Error> {
        let (fa, fb) = (a.meta.file_type(), b.meta.file_type());
        let rel = self.rel(&a.path);
        if kind_name(&a.meta) != kind_name(&b.meta) {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
            let field = format!("{} vs {}", kind_name(&a.meta), kind_name(&b.meta));
            self.simple(rel, DiffKind::Type, field);
        } else if fa.is_dir() {
            self.dirs(a, b)?;
        } else if fa.is_symlink() {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
            let ta = fs::read_link(&a.path).map_err(|e| Error::io(&a.path, e))?;
            let tb = fs::read_link(&b.path).map_err(|e| Error::io(&b.path, e))?;
            if ta != tb {
                let field = format!(
                    "target {:?} vs {:?}",
                    ta.display().to_string(),
                    tb.display().to_string()
                );
                self.simple(rel, DiffKind::SymlinkTarget, field);
            }
        } else if fa.is_file() && fb.is_file() {
            if is_exec(&a.meta) != is_exec(&b.meta) {
                let field = format!(
                    "executable {} vs {}",
                    if is_exec(&a.meta) { "yes" } else { "no" },
                    if is_exec(&b.meta) { "yes" } else { "no" }
                );
                self.simple(rel.clone(), DiffKind::Executable, field);
            }
            let da = read_into(&mut self.a, a)?;
            let db = read_into(&mut self.b, b)?;
            match (da, db) {
                (Some(da), Some(db)) if da != db => {
                    let name = PathBuf::from(&rel);
                    let diffs = analyse(&da, &db, &name, &rel, self.config, &self.refs, 0);
                    self.out.extend(diffs);
                }
                (Some(_), Some(_)) => {}
                _ => {
                    if !same_contents(&a.path, &b.path)? {
                        self.simple(
                            rel,
                            DiffKind::Contents,
                            "contents differ (too large to analyse)".into(),
                        );
                    }
                }
            }
        } else {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
        }
        Ok(())
    }

    fn dirs(&mut self, a: &Node, b: &Node) -> Result<(), Error> {
        for side in [&mut self.a, &mut self.b] {
            side.hash.directory();
        }
        let na = sorted_names(&a.path)?;
        let nb = sorted_names(&b.path)?;
        let names: BTreeSet<&[u8]> = na.iter().chain(&nb).map(|n| n.as_bytes()).collect();
        for name in names {
            let name = std::ffi::OsStr::from_bytes(name);
            let in_a = na.iter().any(|n| n == name);
            let in_b = nb.iter().any(|n| n == name);
            for (side, present) in [(&mut self.a, in_a), (&mut self.b, in_b)] {
                if present {
                    side.hash.entry(name.as_bytes());
                }
            }
            let pa = a.path.join(name);
            let pb = b.path.join(name);
            match (in_a, in_b) {
                (true, true) => self.pair(&node(&pa)?, &node(&pb)?)?,
                (true, false) => {
                    let n = node(&pa)?;
                    serialize_one(&mut self.a, &n)?;
                    let rel = self.rel(&pa);
                    self.simple(
                        rel,
                        DiffKind::OnlyInA,
                        format!("{} only in A", kind_name(&n.meta)),
                    );
                }
                (false, true) => {
                    let n = node(&pb)?;
                    serialize_one(&mut self.b, &n)?;
                    let rel = self.rel(&pa);
                    self.simple(
                        rel,
                        DiffKind::OnlyInB,
                        format!("{} only in B", kind_name(&n.meta)),
                    );
                }
                (false, false) => {}
            }
            for (side, present) in [(&mut self.a, in_a), (&mut self.b, in_b)] {
                if present {
                    side.hash.entry_end();
                }
            }
        }
        for side in [&mut self.a, &mut self.b] {
            side.hash.directory_end();
        }
        Ok(())
    }
}

fn same_contents(a: &Path, b: &Path) -> Result<bool, Error> {
    let mut fa = File::open(a).map_err(|e| Error::io(a, e))?;
    let mut fb = File::open(b).map_err(|e| Error::io(b, e))?;
    let mut ba = vec![0; 1 << 20];
    let mut bb = vec![0; 1 << 20];
    loop {
        let na = crate::fsio::read_up_to(&mut fa, ba.len()).map_err(|e| Error::io(a, e))?;
        let nb = crate::fsio::read_up_to(&mut fb, bb.len()).map_err(|e| Error::io(b, e))?;
        if na != nb {
            return Ok(false);
        }
        if na.is_empty() {
            return Ok(true);
        }
        ba.clear();
        bb.clear();
        ba.resize(1 << 20, 0);
        bb.resize(1 << 20, 0);
    }
}
