//! The run: validate roots, normalize every file in parallel while the NAR
//! hash follows the pass (see [`crate::progress`]), clamp mtimes, then
//! self-check (examine again, dry and in another schedule, the files that
//! can still change; compare fingerprints).

mod examine;
mod options;
mod pass;
mod report;
mod roots;
mod selfcheck;
#[cfg(test)]
mod tests;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use filetime::FileTime;

use crate::budget::Budget;
use crate::cargo_checksum::Crates;
use crate::error::Error;
use crate::fingerprint::Fingerprint;
use crate::mtime::{MtimeStats, clamp_dirs};
use crate::nar::Watch;
use crate::progress::Progress;
use crate::recover::{DirGuard, Journals, lock_roots, recover};
use crate::report::{Mode, Report, RootReport};
use crate::walk::Order;

pub use examine::estimated_peak;
pub use options::Options;
pub use roots::prepare_roots;

use pass::{PassSettings, pass, pool, walked};
use report::{Phases, changes_of, ms, recovery_report, show};
use selfcheck::{hash_roots, not_run, self_check};

/// Runs strip-nd over `roots`. Returns `Err` only when the run could not start
/// (a missing root, a root in the Nix store); every per-file problem is in the report.
pub fn run(roots: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let phases = Phases(start, Vec::new());
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
    // The hash runs beside the pass, reading each entry once the pass is
    // done with it (see `crate::progress`); a dry run changes nothing, so
    // its hash need not wait at all.
    let progress = Progress::new();
    if opts.check {
        progress.finish();
    }
    let watching = !opts.check && opts.self_check;
    let seen = Mutex::new(Vec::new());
    let record = |path: &Path, print: Fingerprint| {
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((path.to_owned(), print));
    };
    let watch: Option<Watch<'_>> = if watching { Some(&record) } else { None };
    let settings = PassSettings {
        config,
        roots: &walk_roots,
        guard: (!opts.check).then_some(&guard),
        clamp,
        keep_clamped_paths: opts.list_mtimes,
        crates: Crates::default(),
        budget: &budget,
        watch: watching,
        progress: Some(&progress),
    };
    std::thread::scope(|s| {
        let hasher = s.spawn(|| hash_roots(&walk_roots, opts.jobs, watch, Some(&progress)));
        let wait_hash = || {
            hasher
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        let finish = progress.finish_on_drop();
        let main = pool(opts.jobs).install(|| {
            pass(
                walked(&walk_roots, Order::Forward, Some(&progress)),
                &settings,
            )
        });
        drop(finish);
        Ok(finish_run(
            RunState {
                start,
                phases,
                walk_roots: &walk_roots,
                opts,
                clamp,
                guard: &guard,
                journals: &journals,
                recovery,
                main,
            },
            wait_hash,
            &seen,
        ))
    })
}

/// What [`run`] has when its main pass is over.
struct RunState<'a> {
    start: Instant,
    phases: Phases,
    walk_roots: &'a [PathBuf],
    opts: &'a Options,
    clamp: Option<FileTime>,
    guard: &'a DirGuard<'a>,
    journals: &'a Journals,
    recovery: crate::recover::Recovery,
    main: pass::Pass,
}

/// The rest of [`run`] after its main pass: directory mtimes, the
/// self-check (`wait_hash` waits for the hash running beside the pass, `seen`
/// holds what it fingerprinted) and the report.
fn finish_run(
    state: RunState<'_>,
    wait_hash: impl FnOnce() -> Vec<Result<String, String>>,
    seen: &Mutex<Vec<(PathBuf, Fingerprint)>>,
) -> Report {
    let RunState {
        start,
        mut phases,
        walk_roots,
        opts,
        clamp,
        guard,
        journals,
        recovery,
        mut main,
    } = state;
    let config = &opts.config;
    let epoch = config.settings.epoch;
    main.errors.extend(guard.restore());
    phases.done("normalize");

    let mut mtimes = MtimeStats::default();
    if opts.mtimes {
        for r in walk_roots {
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
            walk_roots,
            opts,
            clamp,
            second_jobs,
            &mut main,
            &mut phases,
            wait_hash,
            seen,
        )
    } else {
        let hashes = wait_hash();
        phases.done("hash");
        (not_run(second_jobs), hashes)
    };

    // The replaced files' blocks are freed before the run returns.
    crate::replace::let_go_of_old_files();
    let recovered = recovery_report(&recovery);
    main.errors.extend(recovery.errors);
    if !opts.check {
        main.errors.extend(journals.finish());
    }
    main.errors.sort_by_key(ToString::to_string);
    Report {
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
    }
}
