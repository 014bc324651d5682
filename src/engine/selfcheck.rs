//! The self-check: NAR hash, normalize again in another schedule, NAR hash again.

use std::path::PathBuf;

use filetime::FileTime;

use crate::budget::Budget;
use crate::cargo_checksum::Crates;
use crate::mtime::{MtimeStats, clamp_dirs, clamp_tree};
use crate::nar::{self, HashFormat};
use crate::recover::{DirGuard, Journals};
use crate::report::{SelfCheck, SelfCheckStatus};
use crate::walk::Order;

use super::options::Options;
use super::pass::{Pass, PassSettings, pass, pool};
use super::report::{Phases, changes_of};

pub(super) fn hash_roots(roots: &[PathBuf], jobs: usize) -> Vec<Result<String, String>> {
    roots
        .iter()
        .map(|r| {
            nar::hash_with(r, jobs)
                .map(|d| nar::format_hash(&d, HashFormat::Typed))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// NAR-hashes the roots, normalizes them again in reverse order with another
/// thread count, and hashes them again. Returns the verdict and the final hashes.
pub(super) fn self_check(
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
    if opts.mtimes {
        // A rewrite changes files' mtimes; and a streamed file, even left
        // unchanged, had a temp file made and removed beside it, which moved
        // its directory's mtime after the mtime pass. So directories are
        // always clamped again, and files too when anything was rewritten.
        let mut again = MtimeStats::default();
        let epoch = opts.config.settings.epoch;
        for r in roots {
            if second.changes.is_empty() {
                clamp_dirs(r, epoch, true, false, &mut again);
            } else {
                clamp_tree(r, epoch, true, false, &mut again);
            }
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
