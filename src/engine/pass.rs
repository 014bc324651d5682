//! One normalization pass over the roots: files handed to threads in
//! batches, each examined and replaced, results gathered in path order.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use rayon::prelude::*;

use crate::budget::Budget;
use crate::cargo_checksum::{self, Crates};
use crate::config::Config;
use crate::dispatch::Untouched;
use crate::error::Error;
use crate::fingerprint::Fingerprint;
use crate::handler::FormatError;
use crate::nar;
use crate::progress::Progress;
use crate::recover::DirGuard;
use crate::report::{HandlerStats, Note};
use crate::walk::{Entry, Order, walk};

use super::examine::{FileResult, Mode, Output, examine};
use super::report::show;

/// Accumulates results of one pass.
#[derive(Default)]
pub(super) struct Pass {
    pub(super) seen: u64,
    pub(super) stats: BTreeMap<&'static str, HandlerStats>,
    pub(super) changes: Vec<(PathBuf, &'static str, Vec<String>)>,
    pub(super) malformed: Vec<(PathBuf, Note)>,
    pub(super) skipped: Vec<(PathBuf, Note)>,
    pub(super) errors: Vec<Error>,
    /// Files and symlinks whose mtime was (or would be) clamped.
    pub(super) clamped: u64,
    pub(super) clamped_paths: Vec<PathBuf>,
    /// Files with several links, by (device, inode), gathered until all are seen.
    pub(super) linked: HashMap<(u64, u64), (Vec<PathBuf>, Metadata)>,
    /// Every file and symlink seen, with its fingerprint as the pass left
    /// it, when asked for ([`PassSettings::watch`]).
    pub(super) prints: Vec<(PathBuf, Fingerprint)>,
    /// The regular files whose result can still move, when asked for
    /// ([`PassSettings::watch`]): every link of a rewritten file, and every
    /// file a handler names a companion for (see `selfcheck`).
    pub(super) again: Vec<PathBuf>,
}

impl Pass {
    fn record(&mut self, path: &Path, result: FileResult) {
        let note = |handler, reason| Note {
            path: show(path),
            handler,
            reason,
        };
        match result {
            FileResult::Unclaimed => {}
            FileResult::Unchanged(h) => self.stats.entry(h).or_default().claimed += 1,
            FileResult::Rewritten(h, changes) => {
                let s = self.stats.entry(h).or_default();
                s.claimed += 1;
                s.rewritten += 1;
                self.changes.push((path.to_owned(), h, changes));
            }
            FileResult::Malformed(h, reason) => {
                let s = self.stats.entry(h).or_default();
                s.claimed += 1;
                s.malformed += 1;
                self.malformed
                    .push((path.to_owned(), note(Some(h), reason)));
            }
            FileResult::Skipped(h, reason) => {
                if let Some(h) = h {
                    let s = self.stats.entry(h).or_default();
                    s.claimed += 1;
                    s.skipped += 1;
                }
                self.skipped.push((path.to_owned(), note(h, reason)));
            }
            FileResult::Failed(e) => self.errors.push(e),
        }
    }

    /// Reports the members handlers left untouched inside the file at
    /// `path`, as `path!member!...`, beside the files left untouched.
    fn record_untouched(&mut self, path: &Path, untouched: Vec<Untouched>) {
        for u in untouched {
            let mut name = path.as_os_str().as_bytes().to_vec();
            for m in &u.members {
                name.push(b'!');
                name.extend_from_slice(m.as_bytes());
            }
            let at = PathBuf::from(OsString::from_vec(name));
            let note = Note {
                path: show(&at),
                handler: Some(u.handler),
                reason: match &u.error {
                    FormatError::Malformed(m) => m.clone(),
                    e => e.to_string(),
                },
            };
            match u.error {
                FormatError::Malformed(_) => self.malformed.push((at, note)),
                _ => self.skipped.push((at, note)),
            }
        }
    }

    fn merge(mut self, other: Pass) -> Pass {
        self.seen += other.seen;
        for (h, s) in other.stats {
            let mine = self.stats.entry(h).or_default();
            mine.claimed += s.claimed;
            mine.rewritten += s.rewritten;
            mine.malformed += s.malformed;
            mine.skipped += s.skipped;
        }
        self.changes.extend(other.changes);
        self.malformed.extend(other.malformed);
        self.skipped.extend(other.skipped);
        self.errors.extend(other.errors);
        self.clamped += other.clamped;
        self.clamped_paths.extend(other.clamped_paths);
        self.prints.extend(other.prints);
        self.again.extend(other.again);
        for (k, (paths, meta)) in other.linked {
            match self.linked.entry(k) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().0.extend(paths),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((paths, meta));
                }
            }
        }
        self
    }

    /// Sorts every list by raw path bytes, so reports do not depend on scheduling.
    fn sort(&mut self) {
        let key = |p: &PathBuf| p.as_os_str().as_bytes().to_vec();
        self.changes.sort_by_key(|c| key(&c.0));
        self.malformed.sort_by_key(|c| key(&c.0));
        self.skipped.sort_by_key(|c| key(&c.0));
        self.clamped_paths.sort_by_key(key);
        self.errors.sort_by_key(ToString::to_string);
    }
}

/// How a pass treats what it finds.
pub(super) struct PassSettings<'a> {
    pub(super) config: &'a Config,
    /// The roots walked, to name each file relative to its root.
    pub(super) roots: &'a [PathBuf],
    /// `None` for a dry run (`--check`).
    pub(super) guard: Option<&'a DirGuard<'a>>,
    /// The epoch as a file time, when mtimes are clamped.
    pub(super) clamp: Option<FileTime>,
    pub(super) keep_clamped_paths: bool,
    /// Vendored crates' checksum files met in this pass.
    pub(super) crates: Crates,
    /// The memory budget this pass's workers share.
    pub(super) budget: &'a Budget,
    /// Record what the self-check needs: every file's and symlink's
    /// [`Fingerprint`] as the pass leaves it ([`Pass::prints`]), and the
    /// files to examine again ([`Pass::again`]).
    pub(super) watch: bool,
    /// Told of each batch of entries done, for a hasher running beside the
    /// pass (see [`crate::progress`]). The entries must then come from
    /// [`walked`] with the same progress.
    pub(super) progress: Option<&'a Progress>,
}

impl PassSettings<'_> {
    /// The mtime a file or symlink should end with, if it must change.
    fn new_mtime(&self, meta: &Metadata) -> Option<FileTime> {
        let epoch = self.clamp?;
        (FileTime::from_last_modification_time(meta) > epoch).then_some(epoch)
    }

    /// Counts an mtime to clamp and, unless dry, clamps it (never opening the entry).
    fn clamp_entry(&self, acc: &mut Pass, path: &Path, meta: &Metadata) {
        let Some(epoch) = self.new_mtime(meta) else {
            return;
        };
        acc.clamped += 1;
        if self.keep_clamped_paths {
            acc.clamped_paths.push(path.to_owned());
        }
        if self.guard.is_some() {
            let atime = FileTime::from_last_access_time(meta);
            if let Err(e) = filetime::set_symlink_file_times(path, atime, epoch) {
                acc.errors.push(Error::io(path, e));
            }
        }
    }

    /// How `process` examines the file with links `paths`: a dry pass
    /// streams to nowhere, hashing the new contents only when a checksum
    /// file may list them.
    fn mode(&self, paths: &[PathBuf], meta: &Metadata) -> Mode {
        let output = if self.guard.is_some() {
            Output::Beside
        } else {
            Output::Dry {
                digest: meta.len() > self.config.settings.in_memory
                    && self.crates.may_list(paths, self.roots),
            }
        };
        Mode {
            mtimes: self.clamp.is_some(),
            output,
        }
    }

    /// Examines one file; when not dry, replaces it (new mtime included) or
    /// clamps its mtime.
    fn process(&self, acc: &mut Pass, paths: &[PathBuf], meta: &Metadata) {
        let first = &paths[0];
        // Declared before `bytes`, so dropped after them: held until written.
        let mut hold = None;
        let (mut result, bytes, untouched) = examine(
            first,
            meta,
            self.config,
            self.roots,
            self.mode(paths, meta),
            (self.budget, &mut hold),
        );
        acc.record_untouched(first, untouched);
        if let Some(bytes) = bytes {
            if paths.len() as u64 == meta.nlink() {
                let pending = match self
                    .crates
                    .admit_hashed(paths, self.roots, || bytes.sha256_hex())
                {
                    Ok(p) => p,
                    Err(reason) => {
                        let handler = match &result {
                            FileResult::Rewritten(h, _) => Some(*h),
                            _ => None,
                        };
                        self.clamp_entry(acc, first, meta);
                        acc.record(first, FileResult::Skipped(handler, reason));
                        return;
                    }
                };
                let new_mtime = self.new_mtime(meta);
                if let Some(guard) = self.guard {
                    let mtime =
                        new_mtime.unwrap_or_else(|| FileTime::from_last_modification_time(meta));
                    let done = paths
                        .iter()
                        .try_for_each(|p| guard.writable_parent(p))
                        .and_then(|()| guard.note_group(paths))
                        .and_then(|()| bytes.write_over(paths, meta, mtime));
                    match done {
                        Ok(()) => self.crates.commit(pending),
                        Err(e) => result = FileResult::Failed(e),
                    }
                } else {
                    self.crates.commit(pending);
                }
                // A failed rewrite left the old file and its mtime: no clamp to report.
                if new_mtime.is_some() && !matches!(result, FileResult::Failed(_)) {
                    acc.clamped += 1;
                    if self.keep_clamped_paths {
                        acc.clamped_paths.push(first.clone());
                    }
                }
                acc.record(first, result);
                return;
            }
            let handler = match &result {
                FileResult::Rewritten(h, _) => Some(*h),
                _ => None,
            };
            result = FileResult::Skipped(
                handler,
                format!(
                    "has {} hardlinks but only {} inside the roots ({}); \
                     left untouched so the links stay one file: pass a root holding them all",
                    meta.nlink(),
                    paths.len(),
                    paths
                        .iter()
                        .map(|p| p.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if (paths.len() as u64) < meta.nlink() {
            // Another link lies outside the roots: its mtime is that file's too.
            if self.new_mtime(meta).is_some() && !matches!(result, FileResult::Skipped(..)) {
                let reason = format!(
                    "mtime not clamped: has {} hardlinks but only {} inside the roots, \
                     and clamping it would change the files outside",
                    meta.nlink(),
                    paths.len()
                );
                acc.skipped.push((
                    first.clone(),
                    Note {
                        path: show(first),
                        handler: None,
                        reason,
                    },
                ));
            }
        } else {
            self.clamp_entry(acc, first, meta);
        }
        acc.record(first, result);
    }

    /// One entry of the walk, at position `at` in it (for [`Self::progress`]).
    fn entry(&self, mut acc: Pass, entry: Result<Entry, Error>, at: u64) -> Pass {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                acc.errors.push(e);
                return acc;
            }
        };
        let ft = entry.meta.file_type();
        if ft.is_dir() {
            // Directories are clamped after the pass, bottom-up: rewriting a
            // file inside one changes its mtime.
            return acc;
        }
        if ft.is_symlink() {
            let mark = acc.mark();
            self.clamp_entry(&mut acc, &entry.path, &entry.meta);
            self.print(&mut acc, &entry.path, &entry.meta, mark);
            return acc;
        }
        if !ft.is_file() {
            let kind = nar::special_kind(ft);
            let reason = format!("{kind}, not a regular file");
            acc.skipped.push((
                entry.path.clone(),
                Note {
                    path: show(&entry.path),
                    handler: None,
                    reason,
                },
            ));
            // Not hashable: the hash fails on it, and names it.
            return acc;
        }
        acc.seen += 1;
        // Finished after the walk (below, and by the checksum files' pass):
        // a hasher beside the pass must wait for them.
        let linked = entry.meta.nlink() > 1;
        if let Some(p) = self.progress {
            if linked || entry.path.file_name() == Some(OsStr::new(cargo_checksum::FILE_NAME)) {
                p.defer(at);
            }
        }
        if linked {
            let key = (entry.meta.dev(), entry.meta.ino());
            acc.linked
                .entry(key)
                .or_insert_with(|| (Vec::new(), entry.meta.clone()))
                .0
                .push(entry.path);
            return acc;
        }
        self.process_watched(&mut acc, std::slice::from_ref(&entry.path), &entry.meta);
        acc
    }

    /// [`Self::process`], then what the self-check needs of the file.
    fn process_watched(&self, acc: &mut Pass, paths: &[PathBuf], meta: &Metadata) {
        let mark = acc.mark();
        self.process(acc, paths, meta);
        if !self.watch {
            return;
        }
        if acc.changes.len() > mark.1 {
            acc.again.extend(paths.iter().cloned());
        } else if let Some(p) = paths.iter().find(|p| {
            self.config
                .table
                .entries
                .iter()
                .any(|h| h.companion(p).is_some())
        }) {
            acc.again.push(p.clone());
        }
        for p in paths {
            self.print(acc, p, meta, mark);
        }
    }

    /// Records `path`'s fingerprint as the pass leaves it: `meta` (from the
    /// walk) when nothing happened to it since `mark`, else a fresh `lstat`.
    fn print(&self, acc: &mut Pass, path: &Path, meta: &Metadata, mark: Mark) {
        if !self.watch {
            return;
        }
        let print = if self.guard.is_some() && acc.mark() != mark {
            match std::fs::symlink_metadata(path) {
                Ok(m) => Fingerprint::of(&m),
                // Gone: the hash names it (or fails on it).
                Err(_) => return,
            }
        } else {
            Fingerprint::of(meta)
        };
        acc.prints.push((path.to_owned(), print));
    }
}

/// Where a [`Pass`] stood before one file: its clamped, changes and errors
/// counts; a file after which it moved was (or may have been) written.
type Mark = (u64, usize, usize);

impl Pass {
    fn mark(&self) -> Mark {
        (self.clamped, self.changes.len(), self.errors.len())
    }
}

/// Entries are handed to threads in batches: one lock per batch instead of
/// one per file, and neighbouring files (one directory) stay on one thread,
/// so threads rarely contend for a directory's lock when replacing files.
const BATCH: usize = 64;

/// A batch also ends once its regular files reach this many bytes: big files
/// then go to different threads (as the memory budget allows) instead of
/// queueing on one behind their neighbours, which left a tree of a few big
/// files on one thread whatever `-j`.
const BATCH_BYTES: u64 = 16 << 20;

/// Every entry under the roots, in `order`, each counted in `progress`.
pub(super) fn walked<'a>(
    roots: &'a [PathBuf],
    order: Order,
    progress: Option<&'a Progress>,
) -> impl Iterator<Item = Result<Entry, Error>> + Send + 'a {
    roots.iter().enumerate().flat_map(move |(i, r)| {
        let mut first = true;
        walk(r, order).inspect(move |_| {
            if let Some(p) = progress {
                if std::mem::take(&mut first) {
                    p.root_starts(i);
                }
                p.pulled_one();
            }
        })
    })
}

/// One normalization pass over `entries`.
pub(super) fn pass(
    entries: impl Iterator<Item = Result<Entry, Error>> + Send,
    settings: &PassSettings,
) -> Pass {
    let mut entries = entries;
    let progress = settings.progress;
    let mut seq = 0u64;
    let batches = std::iter::from_fn(move || {
        let start = progress.map_or(0, Progress::position);
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for entry in entries.by_ref() {
            if let Ok(e) = &entry {
                if e.meta.is_file() {
                    bytes = bytes.saturating_add(e.meta.len());
                }
            }
            batch.push(entry);
            if batch.len() == BATCH || bytes >= BATCH_BYTES {
                break;
            }
        }
        if batch.is_empty() {
            return None;
        }
        seq += 1;
        if let Some(p) = progress {
            p.batch_made(seq - 1, p.position());
        }
        Some((seq - 1, start, batch))
    });
    let mut out = batches
        .par_bridge()
        .fold(Pass::default, |acc, (seq, start, batch)| {
            let acc = (start..)
                .zip(batch)
                .fold(acc, |acc, (at, e)| settings.entry(acc, e, at));
            if let Some(p) = progress {
                p.batch_done(seq);
            }
            acc
        })
        .reduce(Pass::default, Pass::merge);

    // Each inode with several links is handled once, after all its links are known.
    let mut groups: Vec<(Vec<PathBuf>, Metadata)> = std::mem::take(&mut out.linked)
        .into_values()
        .map(|(mut paths, meta)| {
            paths.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
            (paths, meta)
        })
        .collect();
    groups.sort_by(|a, b| {
        a.0[0]
            .as_os_str()
            .as_bytes()
            .cmp(b.0[0].as_os_str().as_bytes())
    });
    out.seen -= groups.iter().map(|g| g.0.len() as u64 - 1).sum::<u64>();
    let linked = groups
        .into_par_iter()
        .fold(Pass::default, |mut acc, (paths, meta)| {
            settings.process_watched(&mut acc, &paths, &meta);
            acc
        })
        .reduce(Pass::default, Pass::merge);
    out = out.merge(linked);
    // Checksum files last: every file under them has been written.
    let (changed, errors) = settings.crates.finish(settings.guard, settings.clamp);
    if settings.watch && !changed.is_empty() {
        // Rewritten after their pass: fingerprinted again, examined again.
        let at: HashMap<&Path, usize> = out
            .prints
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.as_path(), i))
            .collect();
        let mut fresh = Vec::new();
        for (path, _) in &changed {
            if let (Some(&i), Ok(m)) = (at.get(path.as_path()), std::fs::symlink_metadata(path)) {
                fresh.push((i, Fingerprint::of(&m)));
            }
        }
        for (i, f) in fresh {
            out.prints[i].1 = f;
        }
        out.again.extend(changed.iter().map(|(p, _)| p.clone()));
    }
    for (path, notes) in changed {
        out.record(&path, FileResult::Rewritten(cargo_checksum::HANDLER, notes));
    }
    out.errors.extend(errors);
    out.sort();
    out
}

pub(super) fn pool(jobs: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("strip-nd-{i}"))
        .build()
        .expect("a thread pool of a positive size can be built")
}
