//! Crash safety and exclusion: a lock per root, a journal per root, and the
//! recovery a run does before it touches anything.
//!
//! **Lock.** Every run takes an exclusive `flock` on each root directory (the
//! parent directory for a root that is a file), opened read-only, for its whole
//! length. A second run on the same root waits, saying so on stderr, until the
//! first one ends: waiting is kinder in a build than failing. The lock is
//! released by the kernel when the holder dies, `kill -9` included.
//!
//! **Stale temp files.** A run holding a root's lock knows no other live run
//! works in that root, so every strip-nd temp file ([`crate::walk::TEMP_PREFIX`])
//! it finds there was left by a dead run: it removes it and reports it
//! (`--check` reports it as work to do).
//!
//! **Journal.** Two changes cannot be made atomic by a rename: relaxing a
//! read-only directory to owner-writable, and re-pointing every link of a
//! hardlink group to a new inode. Before either, the run appends one line to a
//! journal, then acts. The journal cannot live in the root: the root's content
//! must not change, and a read-only directory cannot take a file before it is
//! relaxed (a journal written after the `chmod` leaves a window where a kill
//! loses the original mode). Extended attributes need write access to the
//! inode and are not supported everywhere. So the journal lives in the
//! temporary directory (`$TMPDIR`, else `/tmp`), named after a hash of the
//! root's canonical path, where the next run on the same root finds it:
//! `strip-nd-<hash>.journal`. Its lines are `D <octal mode> <hex path>` (a
//! directory's original mode) and `G <hex path>...` (a hardlink group, the
//! name replaced first first). Paths are absolute, hex-encoded raw bytes.
//! Lines are written (not fsynced) before the change they describe: a killed
//! process's writes are in the page cache; a power loss is not covered (the
//! rewritten files themselves are not fsynced either).
//!
//! **Recovery**, under the lock, before the pass: every `D` directory gets its
//! recorded mode back; every `G` group whose names no longer share one inode
//! is rejoined on the inode of its first name (which always holds the new
//! content, since it is replaced first); then the journal keeps only the
//! groups, until the run ends and removes it. A run started with another
//! `$TMPDIR` does not see the journal: keep it the same between runs.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{FlockOperation, flock};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::replace::parent;
use crate::walk::is_temp;

/// Held locks: dropping it releases them.
#[derive(Debug)]
pub struct Locks(#[allow(dead_code)] Vec<File>);

/// The directory whose lock guards `root`: the root, or its parent when the
/// root is not a directory.
fn lock_dir(root: &Path) -> PathBuf {
    match fs::symlink_metadata(root) {
        Ok(m) if m.is_dir() => root.to_owned(),
        _ => match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        },
    }
}

/// Takes the lock of every root, waiting (with a message on stderr) while
/// another run holds one.
pub fn lock_roots(roots: &[PathBuf]) -> Result<Locks, Error> {
    let mut held = Vec::new();
    let mut seen = HashSet::new();
    for root in roots {
        let dir = lock_dir(root);
        let f = File::open(&dir).map_err(|e| Error::io(&dir, e))?;
        let meta = f.metadata().map_err(|e| Error::io(&dir, e))?;
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        match flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                eprintln!(
                    "strip-nd: another strip-nd run is working on {}; waiting for it to finish",
                    root.display()
                );
                flock(&f, FlockOperation::LockExclusive)
                    .map_err(|e| Error::io(&dir, io::Error::from(e)))?;
            }
            Err(e) => return Err(Error::io(&dir, io::Error::from(e))),
        }
        held.push(f);
    }
    Ok(Locks(held))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<PathBuf> {
    if s.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(PathBuf::from(OsString::from_vec(bytes)))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Where the journal of `root` lives.
pub fn journal_path(root: &Path) -> PathBuf {
    let canon = fs::canonicalize(root).unwrap_or_else(|_| absolute(root));
    let digest = Sha256::digest(canon.as_os_str().as_bytes());
    std::env::temp_dir().join(format!("strip-nd-{}.journal", hex(&digest[..16])))
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Dir(u32, PathBuf),
    Group(Vec<PathBuf>),
}

fn parse(text: &str) -> Vec<Record> {
    // Only whole lines: a kill in the middle of a write leaves a torn last line.
    text.split_inclusive('\n')
        .filter_map(|line| {
            let mut words = line.strip_suffix('\n')?.split(' ');
            match words.next()? {
                "D" => {
                    let mode = u32::from_str_radix(words.next()?, 8).ok()?;
                    Some(Record::Dir(mode, unhex(words.next()?)?))
                }
                "G" => Some(Record::Group(words.map(unhex).collect::<Option<_>>()?)),
                _ => None,
            }
        })
        .collect()
}

fn line(r: &Record) -> String {
    match r {
        Record::Dir(mode, p) => format!("D {mode:o} {}\n", hex(p.as_os_str().as_bytes())),
        Record::Group(ps) => {
            let mut s = String::from("G");
            for p in ps {
                s.push(' ');
                s.push_str(&hex(p.as_os_str().as_bytes()));
            }
            s.push('\n');
            s
        }
    }
}

/// The journals of a run, one per root.
#[derive(Debug)]
pub struct Journals {
    roots: Vec<(PathBuf, PathBuf, Mutex<Option<File>>)>,
}

impl Journals {
    /// Journals for `roots` (not created until something is recorded).
    pub fn new(roots: &[PathBuf]) -> Self {
        Self {
            roots: roots
                .iter()
                .map(|r| (r.clone(), journal_path(r), Mutex::new(None)))
                .collect(),
        }
    }

    fn append(&self, under: &Path, r: &Record) -> Result<(), Error> {
        let Some((_, jpath, file)) = self
            .roots
            .iter()
            .find(|(root, _, _)| under.starts_with(root))
            .or(self.roots.first())
        else {
            return Ok(());
        };
        let mut file = file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(jpath)
                .map_err(|e| Error::io(jpath, e))?;
            *file = Some(f);
        }
        let f = file.as_mut().expect("opened above");
        f.write_all(line(r).as_bytes())
            .map_err(|e| Error::io(jpath, e))
    }

    /// Records a directory's original mode, before it is relaxed.
    pub fn dir(&self, dir: &Path, mode: u32) -> Result<(), Error> {
        self.append(dir, &Record::Dir(mode, absolute(dir)))
    }

    /// Records a hardlink group, before its first name is replaced.
    pub fn group(&self, paths: &[PathBuf]) -> Result<(), Error> {
        let Some(first) = paths.first() else {
            return Ok(());
        };
        self.append(
            first,
            &Record::Group(paths.iter().map(|p| absolute(p)).collect()),
        )
    }

    /// Removes every journal: the run ended and everything is consistent.
    pub fn finish(&self) -> Vec<Error> {
        self.roots
            .iter()
            .filter_map(|(_, jpath, file)| {
                *file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                match fs::remove_file(jpath) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Some(Error::io(jpath, e)),
                    _ => None,
                }
            })
            .collect()
    }
}

/// What recovery found (or, under `--check`, would do).
#[derive(Debug, Default)]
pub struct Recovery {
    /// Stale temp files removed.
    pub removed: Vec<PathBuf>,
    /// Directories whose recorded mode was restored.
    pub restored: Vec<PathBuf>,
    /// Names re-pointed to their group's inode.
    pub rejoined: Vec<PathBuf>,
    /// Errors, each naming its path.
    pub errors: Vec<Error>,
}

impl Recovery {
    /// Whether anything was (or would be) repaired.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.restored.is_empty() && self.rejoined.is_empty()
    }
}

/// Reads the journal a dead run left for `root`, restores its directories'
/// modes and keeps only its groups in the journal. Returns the groups.
/// Must run under the root's lock.
pub fn replay_dirs(root: &Path, apply: bool, rec: &mut Recovery) -> Vec<Vec<PathBuf>> {
    let jpath = journal_path(root);
    let text = match fs::read(&jpath) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return Vec::new(),
    };
    let records = parse(&text);
    let mut done = HashSet::new();
    let mut groups = Vec::new();
    for r in records {
        match r {
            Record::Dir(mode, dir) => {
                // The first record of a directory holds its original mode.
                if !done.insert(dir.clone()) {
                    continue;
                }
                let Ok(meta) = fs::symlink_metadata(&dir) else {
                    continue;
                };
                if !meta.is_dir() || meta.mode() & 0o7777 == mode {
                    continue;
                }
                rec.restored.push(dir.clone());
                if apply {
                    if let Err(e) = fs::set_permissions(&dir, Permissions::from_mode(mode)) {
                        rec.errors.push(Error::io(&dir, e));
                    }
                }
            }
            Record::Group(g) => groups.push(g),
        }
    }
    if apply {
        let kept: String = groups
            .iter()
            .map(|g| line(&Record::Group(g.clone())))
            .collect();
        let tmp = jpath.with_extension("journal.new");
        let res = fs::write(&tmp, kept).and_then(|()| fs::rename(&tmp, &jpath));
        if let Err(e) = res {
            rec.errors.push(Error::io(&jpath, e));
        }
    }
    groups
}

/// The names of `group` that are not on the inode of its first name, when
/// all of them are regular files.
pub fn split_names(group: &[PathBuf]) -> Vec<PathBuf> {
    let Some((first, rest)) = group.split_first() else {
        return Vec::new();
    };
    let Ok(m0) = fs::symlink_metadata(first) else {
        return Vec::new();
    };
    if !m0.is_file() {
        return Vec::new();
    }
    rest.iter()
        .filter(|p| {
            fs::symlink_metadata(p)
                .is_ok_and(|m| m.is_file() && (m.dev(), m.ino()) != (m0.dev(), m0.ino()))
        })
        .cloned()
        .collect()
}

/// Every strip-nd temp file under `root` (not descending into them).
pub fn stale_temps(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_type().is_dir() || is_temp(e.file_name()))
        .filter_map(Result::ok)
        .filter(|e| e.depth() > 0 && is_temp(e.file_name()))
        .map(walkdir::DirEntry::into_path)
        .collect()
}

/// Repairs what dead runs left in `roots`: directory modes, split hardlink
/// groups, temp files. With `guard` `None` (`--check`), only reports.
/// Must run under the roots' locks.
pub fn recover(roots: &[PathBuf], guard: Option<&DirGuard>) -> Recovery {
    let mut rec = Recovery::default();
    for root in roots {
        for group in replay_dirs(root, guard.is_some(), &mut rec) {
            for name in split_names(&group) {
                rec.rejoined.push(name.clone());
                if let Some(g) = guard {
                    let res = g
                        .writable_parent(&name)
                        .and_then(|()| relink(&group[0], &name));
                    if let Err(e) = res {
                        rec.errors.push(e);
                    }
                }
            }
        }
        for tmp in stale_temps(root) {
            rec.removed.push(tmp.clone());
            if let Some(g) = guard {
                let res = g
                    .writable_parent(&tmp)
                    .and_then(|()| fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e)));
                if let Err(e) = res {
                    rec.errors.push(e);
                }
            }
        }
    }
    rec.removed.sort();
    rec.restored.sort();
    rec.rejoined.sort();
    rec
}

/// Points `name` at the inode of `first`: a temp link, then a rename over it.
fn relink(first: &Path, name: &Path) -> Result<(), Error> {
    let dir = match name.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        "{}{}.rejoin",
        crate::walk::TEMP_PREFIX,
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    fs::hard_link(first, &tmp).map_err(|e| Error::io(name, e))?;
    fs::rename(&tmp, name).map_err(|e| Error::io(name, e))?;
    if fs::symlink_metadata(&tmp).is_ok() {
        fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    Ok(())
}

/// Directories temporarily given owner-write permission so files in them can
/// be replaced; [`DirGuard::restore`] puts their modes back.
/// With a journal, each original mode is recorded before the `chmod`, so a
/// run killed before [`DirGuard::restore`] is repaired by the next one
/// (see [`crate::recover`]).
#[derive(Debug, Default)]
pub struct DirGuard<'a> {
    /// Every directory checked, with its original mode when it was relaxed
    /// (`None`: it was writable already). Checked once each: a rewrite per
    /// file would otherwise `stat` its directory every time.
    relaxed: Mutex<HashMap<PathBuf, Option<u32>>>,
    journal: Option<&'a Journals>,
}

impl<'a> DirGuard<'a> {
    /// A guard that journals every relaxed directory and hardlink group.
    pub fn journaled(journal: &'a Journals) -> Self {
        Self {
            relaxed: Mutex::default(),
            journal: Some(journal),
        }
    }

    /// Records a hardlink group before its links are replaced.
    pub fn note_group(&self, paths: &[PathBuf]) -> Result<(), Error> {
        match self.journal {
            Some(j) if paths.len() > 1 => j.group(paths),
            _ => Ok(()),
        }
    }

    /// Makes the directory holding `path` writable by its owner, once.
    pub fn writable_parent(&self, path: &Path) -> Result<(), Error> {
        let dir = parent(path);
        let mut relaxed = self
            .relaxed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if relaxed.contains_key(dir) {
            return Ok(());
        }
        let mode = fs::metadata(dir).map_err(|e| Error::io(dir, e))?.mode() & 0o7777;
        if mode & 0o200 == 0 {
            if let Some(j) = self.journal {
                j.dir(dir, mode)?;
            }
            fs::set_permissions(dir, Permissions::from_mode(mode | 0o200))
                .map_err(|e| Error::io(dir, e))?;
            relaxed.insert(dir.to_owned(), Some(mode));
        } else {
            relaxed.insert(dir.to_owned(), None);
        }
        Ok(())
    }

    /// Restores every relaxed directory's mode.
    pub fn restore(&self) -> Vec<Error> {
        let mut relaxed = self
            .relaxed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        relaxed
            .drain()
            .filter_map(|(dir, mode)| Some((dir, mode?)))
            .filter_map(|(dir, mode)| {
                fs::set_permissions(&dir, Permissions::from_mode(mode))
                    .err()
                    .map(|e| Error::io(dir, e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_lines() {
        let odd = PathBuf::from(OsString::from_vec(b"/r/a b\xff\n".to_vec()));
        let recs = vec![
            Record::Dir(0o555, odd.clone()),
            Record::Group(vec![odd, PathBuf::from("/r/x")]),
        ];
        let text: String = recs.iter().map(line).collect();
        assert_eq!(parse(&text), recs);
        // A torn last line (a kill mid-write) is ignored, not misread.
        assert_eq!(parse(&text[..text.len() - 3]), recs[..1]);
    }
}
