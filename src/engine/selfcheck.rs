//! The self-check: the files whose result can still depend on the schedule
//! or on other files are examined again, dry, in another schedule; the tree
//! is NAR-hashed once, beside the main pass; and every file's fingerprint is
//! compared before and after, so a file changed on disk meanwhile is named.
//!
//! # Which files the second pass examines, and why no others
//!
//! The normalizer must leave a fixed point: run again, it changes nothing.
//! The main pass already examined every file, and a file it left unchanged
//! was found to be a fixed point right there, by the same handlers with
//! the same settings; examining it again under the same conditions can
//! only give the same answer. What can differ is the conditions:
//!
//! - a file the main pass **rewrote** has never been examined in its new
//!   form: examining it again checks the handler's idempotence, and doing
//!   so in reverse order with one thread more checks that the rewrite did
//!   not depend on the order or the thread count;
//! - a file with a **companion** (a `.pyc` records its `.py`'s mtime, see
//!   [`crate::handler::Handler::companion`]) depends on another file, which
//!   the main pass may have clamped or rewritten after it examined the
//!   first: every file some handler names a companion for is examined again;
//! - a `.cargo-checksum.json` depends on the files it lists: it is finished
//!   after the main pass from their final contents, and rewritten, so it is
//!   examined again as a rewritten file, and any listed file that was
//!   rewritten is examined again too.
//!
//! The pass is dry: a file it would change is a self-check failure (exit 3)
//! naming the file and the handler. Its limit, written down: a handler that
//! leaves a file unchanged under the main schedule but would change it
//! under another one is not caught, since such a file is not examined
//! again. Such a handler's *rewrites* are caught (they are re-examined in
//! the other schedule); the old design, which examined every file twice,
//! caught both and cost a second pass over the whole tree plus two hashes.
//!
//! # Files changed on disk
//!
//! The main pass records every file's and symlink's fingerprint (inode,
//! size, mode, mtime and ctime: a write, `chmod`, `utimes` or rename moves
//! the ctime, which cannot be set back) as it leaves it: from its walk for a
//! file it did not touch, from a fresh `lstat` after a rewrite or a clamp.
//! The NAR hash runs beside the main pass and reads each entry once the pass
//! has left it for good ([`crate::progress`]): it fingerprints every file
//! again once it has read it to its end (and every symlink as it reads its
//! target), so the hash and the comparison share one walk and one read of
//! the tree. A file added, removed or changed between the pass leaving it
//! and the hasher reading it is a failure naming the file.
//!
//! The hasher may read a file before the second pass runs. When the second
//! pass examines anything, every file and symlink is therefore `lstat`ed
//! once more after it, from a fresh walk, and compared too: a change made
//! while the second pass ran is named as before, when the hash came after
//! it. When it examines nothing, nothing runs after the hasher but this
//! bookkeeping, and that walk is left out. Directories are left out:
//! NAR records no directory metadata, and the second pass leaves them as
//! they are (it writes nothing, not even the temp file of a streamed file:
//! see [`crate::stream::DrySink`]).
//!
//! The second pass walks nothing: the main pass hands it the list of files
//! to examine again, which it examines in reverse path order.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use filetime::FileTime;

use crate::budget::Budget;
use crate::cargo_checksum::Crates;
use crate::error::Error;
use crate::fingerprint::Fingerprint;
use crate::nar::{self, HashFormat, Watch};
use crate::progress::Progress;
use crate::report::{ReportPath, SelfCheck, SelfCheckStatus};
use crate::walk::{Entry, Order, walk};

use super::options::Options;
use super::pass::{Pass, PassSettings, pass, pool};
use super::report::{Phases, changes_of, show};

/// The NAR hash of each root, beside the pass `progress` tells of (see
/// [`nar::hash_gated`]), telling `watch` what it read.
pub(super) fn hash_roots(
    roots: &[PathBuf],
    jobs: usize,
    watch: Option<Watch<'_>>,
    progress: Option<&Progress>,
) -> Vec<Result<String, String>> {
    roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            nar::hash_gated(r, jobs, watch, progress.map(|p| (p, i)))
                .map(|d| nar::format_hash(&d, HashFormat::Typed))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Examines again, dry, in reverse order with `jobs` threads, the files
/// that can still change (see the module docs), takes the hashes of the
/// roots (`wait_hash` waits for the hasher that ran beside the main pass and
/// fingerprinted into `seen`), and names the files changed on disk
/// meanwhile. Returns the verdict and the hashes.
#[allow(clippy::too_many_arguments)]
pub(super) fn self_check(
    roots: &[PathBuf],
    opts: &Options,
    clamp: Option<FileTime>,
    jobs: usize,
    main: &mut Pass,
    phases: &mut Phases,
    wait_hash: impl FnOnce() -> Vec<Result<String, String>>,
    seen: &Mutex<Vec<(PathBuf, Fingerprint)>>,
) -> (SelfCheck, Vec<Result<String, String>>) {
    let mut again = std::mem::take(&mut main.again);
    // Reverse path order: another schedule than the main pass's.
    again.sort_unstable_by(|a, b| b.as_os_str().as_bytes().cmp(a.as_os_str().as_bytes()));
    again.dedup();
    let examined = !again.is_empty();
    let entries = again.into_iter().map(|path| {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Entry { path, meta })
    });
    let settings = PassSettings {
        config: &opts.config,
        roots,
        guard: None,
        clamp,
        keep_clamped_paths: false,
        crates: Crates::default(),
        // The main pass is over and holds nothing: the same budget afresh.
        budget: &Budget::new(opts.memory),
        watch: false,
        progress: None,
    };
    let second = pool(jobs).install(|| pass(entries, &settings));
    main.errors.extend(second.errors);
    phases.done("self-check normalize");
    let hashes = wait_hash();
    phases.done("self-check hash");
    // The hasher ran beside the main pass and may have read a file before
    // the second pass ran: when that pass examined anything, the tree is
    // looked at once more, last (see the module docs).
    let (last, unlisted) = if examined {
        fingerprints(roots)
    } else {
        (Vec::new(), roots.iter().collect())
    };
    // A root whose hash stopped early was not seen whole: its files not
    // seen are not taken as removed.
    let partial: Vec<&PathBuf> = roots
        .iter()
        .zip(&hashes)
        .filter(|(_, h)| h.is_err())
        .map(|(r, _)| r)
        .collect();
    let mut before = std::mem::take(&mut main.prints);
    before.sort_unstable_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let hashed_seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    let mut on_disk = changed_on_disk(&before, hashed_seen, &partial);
    on_disk.extend(changed_on_disk(&before, last, &unlisted));
    on_disk.sort_unstable_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    on_disk.dedup();
    let on_disk: Vec<ReportPath> = on_disk.iter().map(|p| show(p)).collect();
    phases.done("self-check fingerprints");
    let changed = changes_of(second.changes);
    let status = if !changed.is_empty() || !on_disk.is_empty() {
        SelfCheckStatus::Mismatch
    } else if hashes.iter().any(Result::is_err) {
        SelfCheckStatus::Incomplete
    } else {
        SelfCheckStatus::Ok
    };
    let check = SelfCheck {
        status,
        before: Vec::new(),
        after: hashes.iter().map(|r| r.clone().ok()).collect(),
        changed,
        changed_on_disk: on_disk,
        jobs,
    };
    (check, hashes)
}

/// The report of a self-check not run (`--no-self-check`, `--check`).
pub(super) fn not_run(jobs: usize) -> SelfCheck {
    SelfCheck {
        status: SelfCheckStatus::NotRun,
        before: Vec::new(),
        after: Vec::new(),
        changed: Vec::new(),
        changed_on_disk: Vec::new(),
        jobs,
    }
}

/// The fingerprint of every file and symlink under `roots`, from one walk,
/// and the roots the walk could not list whole.
fn fingerprints(roots: &[PathBuf]) -> (Vec<(PathBuf, Fingerprint)>, Vec<&PathBuf>) {
    let mut prints = Vec::new();
    let mut unlisted = Vec::new();
    for root in roots {
        for entry in walk(root, Order::Forward) {
            match entry {
                Ok(e) if e.meta.is_file() || e.meta.is_symlink() => {
                    prints.push((e.path, Fingerprint::of(&e.meta)));
                }
                Ok(_) => {}
                Err(_) => {
                    if unlisted.last() != Some(&root) {
                        unlisted.push(root);
                    }
                }
            }
        }
    }
    (prints, unlisted)
}

/// The files and symlinks whose fingerprint `now` (as seen later) differs
/// from `before` (as the main pass left them, sorted by path bytes), or that
/// only one of the two holds. Files of a root in `partial` that only
/// `before` holds are left out: `now` stopped before them.
fn changed_on_disk(
    before: &[(PathBuf, Fingerprint)],
    mut now: Vec<(PathBuf, Fingerprint)>,
    partial: &[&PathBuf],
) -> Vec<PathBuf> {
    now.sort_unstable_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let gone = |p: &Path| !partial.iter().any(|r| p.starts_with(r));
    let mut out = Vec::new();
    let (mut a, mut b) = (before.iter().peekable(), now.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    out.push(x.0.clone());
                }
                a.next();
                b.next();
            }
            (Some(x), Some(y)) if x.0.as_os_str().as_bytes() < y.0.as_os_str().as_bytes() => {
                if gone(&x.0) {
                    out.push(x.0.clone());
                }
                a.next();
            }
            (Some(x), None) => {
                if gone(&x.0) {
                    out.push(x.0.clone());
                }
                a.next();
            }
            (_, Some(y)) => {
                out.push(y.0.clone());
                b.next();
            }
        }
    }
    out
}
