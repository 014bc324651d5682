//! The run: validate roots, normalize every file in parallel, clamp mtimes,
//! then self-check (NAR hash, normalize again in another schedule, NAR hash again).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use filetime::FileTime;
use rayon::prelude::*;

use crate::budget::{Budget, Reservation};
use crate::cargo_checksum::{self, Crates};
use crate::config::Config;
use crate::dispatch::{Recorder, Untouched, run_guarded, run_guarded_to};
use crate::error::Error;
use crate::fsio;
use crate::handler::{Context, FormatError, Handler, Outcome, Written};
use crate::handlers::HEAD_LEN;
use crate::mtime::{MtimeStats, clamp_dirs, clamp_tree};
use crate::nar::{self, HashFormat};
use crate::recover::{DirGuard, Journals, Recovery, lock_roots, recover};
use crate::report::{
    EpochSource, FileChange, HandlerStats, Mode, Note, RecoveryReport, Report, ReportPath,
    RootReport, SelfCheck, SelfCheckStatus,
};
use crate::stream::{FileSource, New, TempSink, TempSpill};
use crate::walk::{Entry, Order, walk};

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Handler settings.
    pub config: Config,
    /// Where the epoch came from, for the report.
    pub epoch_source: EpochSource,
    /// Worker threads.
    pub jobs: usize,
    /// Only report what would change.
    pub check: bool,
    /// Clamp mtimes after normalizing.
    pub mtimes: bool,
    /// Run the self-check.
    pub self_check: bool,
    /// Keep the path of every clamped mtime in the report.
    pub list_mtimes: bool,
    /// Bytes the workers may hold at once, by [`estimated_peak`]: a worker
    /// waits for room before it reads a claimed file (see [`crate::budget`]).
    pub memory: u64,
}

impl Options {
    /// Defaults for `config`: normalize, clamp mtimes, self-check, all cores.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            epoch_source: EpochSource::Default,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            check: false,
            mtimes: true,
            self_check: true,
            list_mtimes: false,
            memory: crate::budget::default_bytes(),
        }
    }
}

/// What normalizing a claimed file of `len` bytes may hold in memory at its
/// peak, reserved from the budget before the file is read.
///
/// Today's handlers hold the input and build the output beside it, and a
/// compressed container also holds what it expands to and its rewrite:
/// measured peaks (GNU time, one file per run) are 2.1x the file for gzip,
/// tar and zip, 5.3x for a `.tar.gz` of incompressible data (issue 12). Six
/// times the size covers those, plus a fixed share for the handler's own
/// tables. A streaming handler will lower this (per handler, through here).
pub fn estimated_peak(len: u64) -> u64 {
    len.saturating_mul(6).saturating_add(1 << 20)
}

/// A path for reports: lossy for display, with its bytes when not UTF-8.
fn show(path: &Path) -> ReportPath {
    ReportPath::from(path)
}

/// Directories holding the Nix store: `/nix/store` and `$NIX_STORE_DIR`.
fn store_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/nix/store")];
    if let Some(d) = std::env::var_os("NIX_STORE_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// The absolute, symlink-free location of `root`, without following `root`
/// itself if it is a symlink.
fn locate(root: &Path) -> Result<PathBuf, Error> {
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

/// What happened to one file.
enum FileResult {
    Unclaimed,
    Unchanged(&'static str),
    Rewritten(&'static str, Vec<String>),
    Malformed(&'static str, String),
    Skipped(Option<&'static str>, String),
    Failed(Error),
}

/// Files up to this size are read whole before sniffing (one read call);
/// larger ones are sniffed from their head and read whole only when claimed.
const READ_WHOLE: u64 = 64 * 1024;

/// Reads a file, picks its handler and normalizes it, without writing anything.
/// On a rewrite, the new bytes are returned beside the result; the members
/// some handler left untouched come last. A claimed file is read only once
/// its [`estimated_peak`] is reserved in `hold`, which the caller keeps
/// until the new bytes are written.
fn examine<'b>(
    path: &Path,
    meta: &Metadata,
    config: &Config,
    roots: &[PathBuf],
    mtimes: bool,
    hold: (&'b Budget, &mut Option<Reservation<'b>>),
) -> (FileResult, Option<New>, Vec<Untouched>) {
    let recorder = Recorder::new(&config.table);
    let (result, bytes) = examine_with(path, meta, config, roots, mtimes, &recorder, hold);
    (result, bytes, recorder.into_untouched())
}

fn examine_with<'b>(
    path: &Path,
    meta: &Metadata,
    config: &Config,
    roots: &[PathBuf],
    mtimes: bool,
    recorder: &Recorder,
    (budget, hold): (&'b Budget, &mut Option<Reservation<'b>>),
) -> (FileResult, Option<New>) {
    if meta.len() == 0 {
        return (FileResult::Unclaimed, None);
    }
    let relative = relative_to_roots(path, roots);
    let mut ctx = Context::new(&config.settings, recorder, path);
    ctx.relative = Some(&relative);
    ctx.spill = &TempSpill;
    let fail = |e| (FileResult::Failed(Error::io(path, e)), None);
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let whole = meta.len() <= READ_WHOLE;
    let read = if whole {
        fsio::read_all(&mut file, meta.len())
    } else {
        fsio::read_up_to(&mut file, HEAD_LEN)
    };
    let mut data = match read {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let Some(handler) = config.table.sniff(&data, &ctx) else {
        return (FileResult::Unclaimed, None);
    };
    if meta.len() > config.settings.max_size {
        let reason = format!(
            "{} bytes, larger than the {}-byte limit",
            meta.len(),
            config.settings.max_size
        );
        return (FileResult::Skipped(Some(handler.name()), reason), None);
    }
    ctx.companion_mtime = handler
        .companion(path)
        .and_then(|c| companion_mtime(&c, config, mtimes));
    let stream = meta.len() > config.settings.in_memory && handler.streams();
    // A streamed file holds at most its members up to `in_memory` at once.
    let in_hand = if stream {
        config.settings.in_memory
    } else {
        meta.len()
    };
    *hold = Some(budget.reserve(estimated_peak(in_hand)));
    if stream {
        return streamed(path, file, meta.len(), handler, &ctx);
    }
    if !whole {
        if let Err(e) = fsio::read_rest(&mut file, &mut data, meta.len()) {
            return fail(e);
        }
    }
    match run_guarded(handler, &data, &ctx) {
        Ok(Outcome::Unchanged) => (FileResult::Unchanged(handler.name()), None),
        Ok(Outcome::Rewritten { bytes, changes }) => (
            FileResult::Rewritten(
                handler.name(),
                changes.iter().map(ToString::to_string).collect(),
            ),
            Some(New::Bytes(bytes)),
        ),
        Err(e) => (failed(handler, e), None),
    }
}

fn failed(handler: &dyn Handler, e: FormatError) -> FileResult {
    match e {
        FormatError::Malformed(m) => FileResult::Malformed(handler.name(), m),
        e @ (FormatError::Unsupported(_) | FormatError::TooLarge(_)) => {
            FileResult::Skipped(Some(handler.name()), e.to_string())
        }
    }
}

/// A file larger than `in_memory` whose handler streams: read by position,
/// written to a temp file beside it (removed when unchanged).
fn streamed(
    path: &Path,
    file: File,
    len: u64,
    handler: &dyn Handler,
    ctx: &Context,
) -> (FileResult, Option<New>) {
    let fail = |e| (FileResult::Failed(Error::io(path, e)), None);
    let mut sink = match TempSink::beside(path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match run_guarded_to(handler, &FileSource::new(file, len), &mut sink, ctx) {
        Ok(Written::Unchanged) => (FileResult::Unchanged(handler.name()), None),
        Ok(Written::Rewritten(changes)) => match sink.finish() {
            Ok(tmp) => (
                FileResult::Rewritten(
                    handler.name(),
                    changes.iter().map(ToString::to_string).collect(),
                ),
                Some(New::Temp(tmp)),
            ),
            Err(e) => fail(e),
        },
        Err(e) => (failed(handler, e), None),
    }
}

/// `path` relative to the root it lies under; the file name for a root that
/// is the file itself.
fn relative_to_roots(path: &Path, roots: &[PathBuf]) -> PathBuf {
    roots
        .iter()
        .find_map(|r| path.strip_prefix(r).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .or_else(|| path.file_name().map(Path::new))
        .unwrap_or(path)
        .to_owned()
}

/// The mtime a handler's companion file will have when the run is over:
/// `--final-mtime` when given (Nix sets it after the build, whatever strip-nd
/// does); otherwise the companion's mtime (following symlinks, as Python's
/// `stat` does), clamped to the epoch when the run clamps mtimes. The value
/// only depends on the companion's current mtime and the settings, so the
/// self-check's second pass computes the same one. `None` when it does not
/// exist or is not a regular file.
fn companion_mtime(companion: &Path, config: &Config, mtimes: bool) -> Option<i64> {
    if let Some(m) = config.settings.final_mtime {
        return Some(m);
    }
    let meta = std::fs::metadata(companion).ok()?;
    if !meta.is_file() {
        return None;
    }
    let raw = meta.mtime();
    Some(if mtimes {
        raw.min(i64::try_from(config.settings.epoch).unwrap_or(i64::MAX))
    } else {
        raw
    })
}

/// Accumulates results of one pass.
#[derive(Default)]
struct Pass {
    seen: u64,
    stats: BTreeMap<&'static str, HandlerStats>,
    changes: Vec<(PathBuf, &'static str, Vec<String>)>,
    malformed: Vec<(PathBuf, Note)>,
    skipped: Vec<(PathBuf, Note)>,
    errors: Vec<Error>,
    /// Files and symlinks whose mtime was (or would be) clamped.
    clamped: u64,
    clamped_paths: Vec<PathBuf>,
    /// Files with several links, by (device, inode), gathered until all are seen.
    linked: HashMap<(u64, u64), (Vec<PathBuf>, Metadata)>,
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
struct PassSettings<'a> {
    config: &'a Config,
    /// The roots walked, to name each file relative to its root.
    roots: &'a [PathBuf],
    /// `None` for a dry run (`--check`).
    guard: Option<&'a DirGuard<'a>>,
    /// The epoch as a file time, when mtimes are clamped.
    clamp: Option<FileTime>,
    keep_clamped_paths: bool,
    /// Vendored crates' checksum files met in this pass.
    crates: Crates,
    /// The memory budget this pass's workers share.
    budget: &'a Budget,
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
            self.clamp.is_some(),
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

    fn entry(&self, mut acc: Pass, entry: Result<Entry, Error>) -> Pass {
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
            self.clamp_entry(&mut acc, &entry.path, &entry.meta);
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
            return acc;
        }
        acc.seen += 1;
        if entry.meta.nlink() > 1 {
            let key = (entry.meta.dev(), entry.meta.ino());
            acc.linked
                .entry(key)
                .or_insert_with(|| (Vec::new(), entry.meta.clone()))
                .0
                .push(entry.path);
            return acc;
        }
        self.process(&mut acc, std::slice::from_ref(&entry.path), &entry.meta);
        acc
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

/// One normalization pass over all roots.
fn pass(roots: &[PathBuf], order: Order, settings: &PassSettings) -> Pass {
    let mut entries = roots.iter().flat_map(|r| walk(r, order));
    let batches = std::iter::from_fn(move || {
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
        (!batch.is_empty()).then_some(batch)
    });
    let mut out = batches
        .par_bridge()
        .fold(Pass::default, |acc, batch| {
            batch.into_iter().fold(acc, |acc, e| settings.entry(acc, e))
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
            settings.process(&mut acc, &paths, &meta);
            acc
        })
        .reduce(Pass::default, Pass::merge);
    out = out.merge(linked);
    // Checksum files last: every file under them has been written.
    let (changed, errors) = settings.crates.finish(settings.guard, settings.clamp);
    for (path, notes) in changed {
        out.record(&path, FileResult::Rewritten(cargo_checksum::HANDLER, notes));
    }
    out.errors.extend(errors);
    out.sort();
    out
}

fn pool(jobs: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("strip-nd-{i}"))
        .build()
        .expect("a thread pool of a positive size can be built")
}

fn hash_roots(roots: &[PathBuf], jobs: usize) -> Vec<Result<String, String>> {
    roots
        .iter()
        .map(|r| {
            nar::hash_with(r, jobs)
                .map(|d| nar::format_hash(&d, HashFormat::Typed))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The report's form of a pass's changes, moved rather than copied: they
/// are the one list that grows with the files rewritten.
fn changes_of(changes: Vec<(PathBuf, &'static str, Vec<String>)>) -> Vec<FileChange> {
    changes
        .into_iter()
        .map(|(path, handler, changes)| FileChange {
            path: show(&path),
            handler,
            changes,
        })
        .collect()
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Wall time per phase, for the report.
struct Phases(Instant, Vec<(&'static str, u64)>);

impl Phases {
    fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        self.1.push((name, ms(now - self.0)));
        self.0 = now;
    }
}

/// NAR-hashes the roots, normalizes them again in reverse order with another
/// thread count, and hashes them again. Returns the verdict and the final hashes.
fn self_check(
    roots: &[PathBuf],
    opts: &Options,
    clamp: Option<FileTime>,
    jobs: usize,
    main: &mut Pass,
    phases: &mut Phases,
    journals: &Journals,
) -> (SelfCheck, Vec<Result<String, String>>) {
    let before = hash_roots(roots, opts.jobs);
    phases.done("self-check hash");
    let guard = DirGuard::journaled(journals);
    let settings = PassSettings {
        config: &opts.config,
        roots,
        guard: Some(&guard),
        clamp,
        keep_clamped_paths: false,
        crates: Crates::default(),
        // The main pass is over and holds nothing: the same budget afresh.
        budget: &Budget::new(opts.memory),
    };
    let mut second = pool(jobs).install(|| pass(roots, Order::Reverse, &settings));
    main.errors.extend(guard.restore());
    main.errors.append(&mut second.errors);
    if opts.mtimes && !second.changes.is_empty() {
        let mut again = MtimeStats::default();
        for r in roots {
            clamp_tree(r, opts.config.settings.epoch, true, false, &mut again);
        }
        main.errors.append(&mut again.errors);
    }
    phases.done("self-check normalize");
    let after = hash_roots(roots, opts.jobs);
    phases.done("self-check hash again");
    let changed = changes_of(second.changes);
    let status = if before.iter().any(Result::is_err) || after.iter().any(Result::is_err) {
        if changed.is_empty() {
            SelfCheckStatus::Incomplete
        } else {
            SelfCheckStatus::Mismatch
        }
    } else if before != after || !changed.is_empty() {
        SelfCheckStatus::Mismatch
    } else {
        SelfCheckStatus::Ok
    };
    let check = SelfCheck {
        status,
        before: before.iter().map(|r| r.clone().ok()).collect(),
        after: after.iter().map(|r| r.clone().ok()).collect(),
        changed,
        jobs,
    };
    (check, after)
}

/// What recovery repaired, for the report.
fn recovery_report(recovery: &Recovery) -> RecoveryReport {
    RecoveryReport {
        removed_temps: recovery.removed.iter().map(|p| show(p)).collect(),
        restored_modes: recovery.restored.iter().map(|p| show(p)).collect(),
        rejoined_links: recovery.rejoined.iter().map(|p| show(p)).collect(),
    }
}

/// Runs strip-nd over `roots`. Returns `Err` only when the run could not start
/// (a missing root, a root in the Nix store); every per-file problem is in the report.
pub fn run(roots: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let mut phases = Phases(start, Vec::new());
    let walk_roots = prepare_roots(roots, !opts.check)?;
    let config = &opts.config;
    let epoch = config.settings.epoch;
    let clamp = opts
        .mtimes
        .then(|| FileTime::from_unix_time(i64::try_from(epoch).unwrap_or(i64::MAX), 0));
    // Under the roots' locks, no other live run works here: repair what a
    // killed one left (see `recover`).
    let _locks = lock_roots(&walk_roots)?;
    let journals = Journals::new(&walk_roots);
    let guard = DirGuard::journaled(&journals);
    let recovery = recover(&walk_roots, (!opts.check).then_some(&guard));
    let budget = Budget::new(opts.memory);
    let settings = PassSettings {
        config,
        roots: &walk_roots,
        guard: (!opts.check).then_some(&guard),
        clamp,
        keep_clamped_paths: opts.list_mtimes,
        crates: Crates::default(),
        budget: &budget,
    };

    let mut main = pool(opts.jobs).install(|| pass(&walk_roots, Order::Forward, &settings));
    main.errors.extend(guard.restore());
    phases.done("normalize");

    let mut mtimes = MtimeStats::default();
    if opts.mtimes {
        for r in &walk_roots {
            clamp_dirs(r, epoch, !opts.check, opts.list_mtimes, &mut mtimes);
        }
    }
    main.errors.append(&mut mtimes.errors);
    mtimes.clamped += main.clamped;
    mtimes.paths.append(&mut main.clamped_paths);
    mtimes
        .paths
        .sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    phases.done("mtimes");

    // One thread more than the main pass: a different schedule that still
    // keeps every core busy (one fewer would leave a core idle).
    let second_jobs = opts.jobs + 1;
    let (self_check, final_hashes) = if !opts.check && opts.self_check {
        self_check(
            &walk_roots,
            opts,
            clamp,
            second_jobs,
            &mut main,
            &mut phases,
            &journals,
        )
    } else {
        let hashes = hash_roots(&walk_roots, opts.jobs);
        phases.done("hash");
        let not_run = SelfCheck {
            status: SelfCheckStatus::NotRun,
            before: Vec::new(),
            after: Vec::new(),
            changed: Vec::new(),
            jobs: second_jobs,
        };
        (not_run, hashes)
    };

    let recovered = recovery_report(&recovery);
    main.errors.extend(recovery.errors);
    if !opts.check {
        main.errors.extend(journals.finish());
    }
    main.errors.sort_by_key(ToString::to_string);
    Ok(Report {
        recovered,
        mode: if opts.check {
            Mode::Check
        } else {
            Mode::Normalize
        },
        epoch,
        epoch_source: opts.epoch_source,
        jobs: opts.jobs,
        handlers: config.table.enabled.names(),
        files_seen: main.seen,
        per_handler: main.stats,
        changes: changes_of(main.changes),
        malformed: main.malformed.into_iter().map(|(_, n)| n).collect(),
        skipped: main.skipped.into_iter().map(|(_, n)| n).collect(),
        errors: main.errors.iter().map(ToString::to_string).collect(),
        mtimes_clamped: mtimes.clamped,
        mtime_paths: mtimes.paths.iter().map(|p| show(p)).collect(),
        roots: walk_roots
            .iter()
            .zip(final_hashes)
            .map(|(r, h)| RootReport {
                path: show(r),
                nar_hash: h.clone().ok(),
                nar_error: h.err(),
            })
            .collect(),
        self_check,
        elapsed_ms: ms(start.elapsed()),
        phases_ms: phases.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{HandlerSet, Table};
    use crate::handler::{Change, Handler, Settings};
    use crate::report::ExitCode;

    /// A deliberately broken handler: it is not idempotent, so the self-check
    /// must catch it.
    struct Grows;

    impl Handler for Grows {
        fn name(&self) -> &'static str {
            "grows"
        }
        fn describe(&self) -> &'static str {
            "test handler that appends a byte every time"
        }
        fn sniff(&self, head: &[u8], _: &Context) -> bool {
            head.starts_with(b"grow")
        }
        fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
            let mut bytes = input.to_vec();
            bytes.push(b'!');
            Ok(Outcome::Rewritten {
                bytes,
                changes: vec![Change::remark("", "appended a byte")],
            })
        }
    }

    static BROKEN: &[&dyn Handler] = &[&Grows];

    #[test]
    fn self_check_catches_a_handler_that_is_not_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g"), b"grow").unwrap();
        std::fs::write(dir.path().join("other"), b"plain").unwrap();
        let config = Config {
            table: Table {
                entries: BROKEN,
                ..Table::default()
            },
            ..Config::default()
        };
        let report = run(&[dir.path().to_owned()], &Options::new(config)).unwrap();
        assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
        assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
        assert_eq!(report.self_check.changed.len(), 1);
        assert!(report.self_check.changed[0].path.ends_with("/g"));
        assert_eq!(report.self_check.changed[0].handler, "grows");
        assert_ne!(report.self_check.before, report.self_check.after);
    }

    #[test]
    fn files_are_named_relative_to_their_root() {
        let roots = [PathBuf::from("out/a"), PathBuf::from("/abs/b")];
        let rel = |p: &str| relative_to_roots(Path::new(p), &roots);
        assert_eq!(rel("out/a/include/x.h"), Path::new("include/x.h"));
        assert_eq!(rel("/abs/b/x.h"), Path::new("x.h"));
        // A root that is the file itself: its name.
        assert_eq!(rel("out/a"), Path::new("a"));
    }

    #[test]
    fn companion_mtimes_follow_final_mtime_then_the_clamp() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("m.py");
        std::fs::write(&src, b"x = 1\n").unwrap();
        filetime::set_file_mtime(&src, FileTime::from_unix_time(2_000_000_000, 0)).unwrap();
        let config = Config::with_epoch(1_000);
        assert_eq!(companion_mtime(&src, &config, true), Some(1_000));
        assert_eq!(companion_mtime(&src, &config, false), Some(2_000_000_000));
        let mut nix = Config::with_epoch(1_000);
        nix.settings.final_mtime = Some(1);
        assert_eq!(companion_mtime(&src, &nix, true), Some(1));
        assert_eq!(
            companion_mtime(&dir.path().join("gone.py"), &config, true),
            None
        );
        assert_eq!(companion_mtime(dir.path(), &config, true), None);
    }

    /// The first-clock case of every corpus folder (`corpus/<fmt>/*.1.*`),
    /// plus a file for the rules handler: a tree every handler has work in.
    fn tree_for_every_handler(dir: &Path) {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for fmt in std::fs::read_dir(&corpus).unwrap() {
            let fmt = fmt.unwrap().path();
            let Ok(entries) = std::fs::read_dir(&fmt) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_file() && name.contains(".1.") {
                    let to = dir.join(fmt.file_name().unwrap());
                    std::fs::create_dir_all(&to).unwrap();
                    std::fs::copy(&path, to.join(&name)).unwrap();
                }
            }
        }
        std::fs::write(dir.join("stamp.txt"), b"built on 2030-05-06\n").unwrap();
    }

    #[test]
    fn self_check_passes_for_the_real_handlers() {
        let dir = tempfile::tempdir().unwrap();
        tree_for_every_handler(dir.path());
        let rules = crate::rules::Rules::parse(
            "[[rule]]\nscope = \"stamp.txt\"\nregex = 'built on (?P<date>\\d{4}-\\d\\d-\\d\\d)'\nformat = \"%Y-%m-%d\"\n",
            1_000_000_000,
        )
        .unwrap();
        let mut enabled = HandlerSet::default();
        enabled.set(crate::dispatch::by_name("rules").unwrap().0, true);
        let config = Config {
            settings: Settings {
                rules: Some(std::sync::Arc::new(rules)),
                ..Config::with_epoch(1_000_000_000).settings
            },
            table: Table {
                enabled,
                ..Table::default()
            },
        };
        let report = run(&[dir.path().to_owned()], &Options::new(config)).unwrap();
        assert_eq!(report.self_check.status, SelfCheckStatus::Ok, "{report:#?}");
        assert_eq!(report.exit_code(true), ExitCode::Success, "{report:#?}");
        // The second pass had work to check in every handler of the table.
        for h in crate::handlers::HANDLERS {
            let stats = report.per_handler.get(h.name());
            assert!(
                stats.is_some_and(|s| s.rewritten > 0),
                "no corpus file rewritten by {}: {stats:?}",
                h.name()
            );
        }
    }
}
