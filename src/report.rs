//! The report of a run: what was seen, changed, skipped, and the self-check.
//! Serialized as JSON for `--json`; printed for humans by the binary.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters for one handler.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct HandlerStats {
    /// Files (top level) the handler claimed.
    pub claimed: u64,
    /// Files rewritten (or, under `--check`, that would be).
    pub rewritten: u64,
    /// Files left untouched because they are malformed.
    pub malformed: u64,
    /// Files left untouched for another reason (too large, unsupported...).
    pub skipped: u64,
}

/// A file that was (or would be) rewritten.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileChange {
    /// The file's path (lossy UTF-8 for display).
    pub path: String,
    /// The handler that claimed it.
    pub handler: &'static str,
    /// One note per field changed.
    pub changes: Vec<String>,
}

/// A file left untouched, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Note {
    /// The file's path.
    pub path: String,
    /// The handler concerned, if any.
    pub handler: Option<&'static str>,
    /// Why it was left untouched.
    pub reason: String,
}

/// One root and its NAR hash after the run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RootReport {
    /// The root as given on the command line.
    pub path: String,
    /// `sha256:<nix32>` of its NAR serialization, when it could be computed.
    pub nar_hash: Option<String>,
    /// Why the hash could not be computed.
    pub nar_error: Option<String>,
}

/// Outcome of the self-check.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SelfCheckStatus {
    /// Normalizing again changed nothing.
    Ok,
    /// Normalizing again changed something: a handler bug.
    Mismatch,
    /// `--no-self-check`, or `--check` (which changes nothing to check).
    NotRun,
    /// A root could not be hashed (it holds a FIFO, say); see the root's `nar_error`.
    Incomplete,
}

/// The self-check: NAR hash, normalize again in another schedule, NAR hash again.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SelfCheck {
    /// The verdict.
    pub status: SelfCheckStatus,
    /// Each root's hash before the second pass.
    pub before: Vec<Option<String>>,
    /// Each root's hash after it.
    pub after: Vec<Option<String>>,
    /// Files the second pass changed (each one is a bug).
    pub changed: Vec<FileChange>,
    /// Thread count of the second pass.
    pub jobs: usize,
}

/// What a run repaired of an earlier, killed run before its own work (or,
/// under `--check`, would repair). See the `recover` module.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Stale strip-nd temp files removed.
    pub removed_temps: Vec<String>,
    /// Directories given back the read-only mode a killed run had relaxed.
    pub restored_modes: Vec<String>,
    /// Hardlink names re-pointed to their group's inode.
    pub rejoined_links: Vec<String>,
}

impl RecoveryReport {
    /// Whether nothing was repaired.
    pub fn is_empty(&self) -> bool {
        self.removed_temps.is_empty()
            && self.restored_modes.is_empty()
            && self.rejoined_links.is_empty()
    }
}

/// Everything a run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// `normalize` or `check`.
    pub mode: &'static str,
    /// The epoch timestamps were clamped to.
    pub epoch: u64,
    /// Where the epoch came from: `--epoch`, `SOURCE_DATE_EPOCH` or `default`.
    pub epoch_source: &'static str,
    /// Worker threads of the main pass.
    pub jobs: usize,
    /// Enabled handlers, in dispatch order.
    pub handlers: Vec<&'static str>,
    /// Regular files seen.
    pub files_seen: u64,
    /// Per-handler counters, for handlers that claimed at least one file.
    pub per_handler: BTreeMap<&'static str, HandlerStats>,
    /// Repairs of a killed run's leftovers.
    pub recovered: RecoveryReport,
    /// Files rewritten (or that would be), in path order.
    pub changes: Vec<FileChange>,
    /// Files left untouched because a handler found them malformed.
    pub malformed: Vec<Note>,
    /// Files and entries left untouched for other reasons (special files, limits...).
    pub skipped: Vec<Note>,
    /// I/O errors.
    pub errors: Vec<String>,
    /// Entries whose mtime was (or would be) clamped.
    pub mtimes_clamped: u64,
    /// Their paths, with `-v`.
    pub mtime_paths: Vec<String>,
    /// Each root with its final NAR hash.
    pub roots: Vec<RootReport>,
    /// The self-check.
    pub self_check: SelfCheck,
    /// Wall time of the run, in milliseconds (reported, never written into outputs).
    pub elapsed_ms: u64,
    /// Wall time of each phase, in milliseconds, in the order they ran.
    pub phases_ms: Vec<(&'static str, u64)>,
}

impl Report {
    /// The exit code: 3 on a self-check mismatch; 1 on I/O errors, on malformed
    /// files under `strict`, or under `--check` when anything would change; else 0.
    pub fn exit_code(&self, strict: bool) -> u8 {
        if self.self_check.status == SelfCheckStatus::Mismatch {
            return 3;
        }
        let failed = !self.errors.is_empty()
            || (strict && !self.malformed.is_empty())
            || (self.mode == "check"
                && (!self.changes.is_empty()
                    || self.mtimes_clamped > 0
                    || !self.recovered.is_empty()));
        u8::from(failed)
    }
}
