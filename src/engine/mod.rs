//! The run: validate roots, normalize every file in parallel, clamp mtimes,
//! then self-check (examine again, dry and in another schedule, the files that
//! can still change; NAR-hash once; compare fingerprints).

mod examine;
mod options;
mod pass;
mod report;
mod roots;
mod selfcheck;
#[cfg(test)]
mod tests;

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use filetime::FileTime;

use crate::budget::Budget;
use crate::cargo_checksum::Crates;
use crate::error::Error;
use crate::mtime::{MtimeStats, clamp_dirs};
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
        watch: !opts.check && opts.self_check,
    };

    let mut main = pool(opts.jobs).install(|| pass(walked(&walk_roots, Order::Forward), &settings));
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
        )
    } else {
        let hashes = hash_roots(&walk_roots, opts.jobs);
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
