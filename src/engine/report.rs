//! The report's forms of what the passes found, and wall time per phase.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::recover::Recovery;
use crate::report::{FileChange, RecoveryReport, ReportPath};

/// A path for reports: lossy for display, with its bytes when not UTF-8.
pub(super) fn show(path: &Path) -> ReportPath {
    ReportPath::from(path)
}

/// The report's form of a pass's changes, moved rather than copied: they
/// are the one list that grows with the files rewritten.
pub(super) fn changes_of(changes: Vec<(PathBuf, &'static str, Vec<String>)>) -> Vec<FileChange> {
    changes
        .into_iter()
        .map(|(path, handler, changes)| FileChange {
            path: show(&path),
            handler,
            changes,
        })
        .collect()
}

pub(super) fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Wall time per phase, for the report.
pub(super) struct Phases(pub(super) Instant, pub(super) Vec<(&'static str, u64)>);

impl Phases {
    pub(super) fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        self.1.push((name, ms(now - self.0)));
        self.0 = now;
    }
}

/// What recovery repaired, for the report.
pub(super) fn recovery_report(recovery: &Recovery) -> RecoveryReport {
    RecoveryReport {
        removed_temps: recovery.removed.iter().map(|p| show(p)).collect(),
        restored_modes: recovery.restored.iter().map(|p| show(p)).collect(),
        rejoined_links: recovery.rejoined.iter().map(|p| show(p)).collect(),
    }
}
