//! The report of a run: what was seen, changed, skipped, and the self-check.
//! Serialized as JSON for `--json`; printed for humans by the binary.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Serialize, Serializer};

/// A path as the report gives it: `path`, lossy UTF-8 for reading, and, when
/// the path is not UTF-8, `path_bytes`, its exact bytes, so that two names
/// that print alike (`a\xff` and `a\xfe` both print `a\u{fffd}`) stay apart.
/// In a record (a change, a note, a root) both are fields of the record; in a
/// list of paths an entry is a plain string, or `{path, path_bytes}` when it
/// is not UTF-8.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReportPath {
    /// The path, with invalid UTF-8 replaced by U+FFFD.
    pub path: String,
    /// Its bytes, when `path` is not exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
}

impl From<&Path> for ReportPath {
    fn from(p: &Path) -> Self {
        let bytes = p.as_os_str().as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => Self {
                path: s.to_owned(),
                path_bytes: None,
            },
            Err(_) => Self {
                path: String::from_utf8_lossy(bytes).into_owned(),
                path_bytes: Some(bytes.to_vec()),
            },
        }
    }
}

impl fmt::Display for ReportPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

impl Deref for ReportPath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.path
    }
}

/// Serializes a list of paths as strings, but for a path that is not UTF-8,
/// which becomes `{path, path_bytes}`.
fn path_list<S: Serializer>(paths: &[ReportPath], s: S) -> Result<S::Ok, S::Error> {
    struct Entry<'a>(&'a ReportPath);
    impl Serialize for Entry<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self.0.path_bytes {
                None => s.serialize_str(&self.0.path),
                Some(_) => self.0.serialize(s),
            }
        }
    }
    s.collect_seq(paths.iter().map(Entry))
}

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
    /// The file's path (`path`, and `path_bytes` when it is not UTF-8).
    #[serde(flatten)]
    pub path: ReportPath,
    /// The handler that claimed it.
    pub handler: &'static str,
    /// One note per field changed.
    pub changes: Vec<String>,
}

/// A file left untouched, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Note {
    /// The file's path (`path`, and `path_bytes` when it is not UTF-8).
    #[serde(flatten)]
    pub path: ReportPath,
    /// The handler concerned, if any.
    pub handler: Option<&'static str>,
    /// Why it was left untouched.
    pub reason: String,
}

/// One root and its NAR hash after the run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RootReport {
    /// The root as given on the command line (`path`, and `path_bytes`
    /// when it is not UTF-8).
    #[serde(flatten)]
    pub path: ReportPath,
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

/// The self-check: the files that can still change examined again, dry, in
/// another schedule; one NAR hash; fingerprints compared (see the engine's
/// `selfcheck` module).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SelfCheck {
    /// The verdict.
    pub status: SelfCheckStatus,
    /// Always empty: the tree is hashed once now (kept so the JSON keeps
    /// its shape; the hashes are in `after`).
    pub before: Vec<Option<String>>,
    /// Each root's hash, after the second pass.
    pub after: Vec<Option<String>>,
    /// Files the second pass would change (each one is a bug).
    pub changed: Vec<FileChange>,
    /// Files and symlinks added, removed or changed on disk between the
    /// second pass and the end of the hash (by another process).
    #[serde(serialize_with = "path_list")]
    pub changed_on_disk: Vec<ReportPath>,
    /// Thread count of the second pass.
    pub jobs: usize,
}

/// What a run repaired of an earlier, killed run before its own work (or,
/// under `--check`, would repair). See the `recover` module.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Stale strip-nd temp files removed.
    #[serde(serialize_with = "path_list")]
    pub removed_temps: Vec<ReportPath>,
    /// Directories given back the read-only mode a killed run had relaxed.
    #[serde(serialize_with = "path_list")]
    pub restored_modes: Vec<ReportPath>,
    /// Hardlink names re-pointed to their group's inode.
    #[serde(serialize_with = "path_list")]
    pub rejoined_links: Vec<ReportPath>,
}

impl RecoveryReport {
    /// Whether nothing was repaired.
    pub fn is_empty(&self) -> bool {
        self.removed_temps.is_empty()
            && self.restored_modes.is_empty()
            && self.rejoined_links.is_empty()
    }
}

/// What a run was asked to do.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Rewrite files (the default).
    Normalize,
    /// Only say what would change (`--check`).
    Check,
}

/// Where the epoch came from. Serialized as the name the user gave it
/// (`--epoch`, `SOURCE_DATE_EPOCH`), as reports have always shown it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum EpochSource {
    /// `--epoch N`.
    #[serde(rename = "--epoch")]
    Flag,
    /// The `SOURCE_DATE_EPOCH` environment variable.
    #[serde(rename = "SOURCE_DATE_EPOCH")]
    SourceDateEpoch,
    /// Neither: 1980-01-01.
    #[serde(rename = "default")]
    Default,
}

impl std::fmt::Display for EpochSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "--epoch",
            Self::SourceDateEpoch => "SOURCE_DATE_EPOCH",
            Self::Default => "default",
        })
    }
}

/// Everything a run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// `normalize` or `check`.
    pub mode: Mode,
    /// The epoch timestamps were clamped to.
    pub epoch: u64,
    /// Where the epoch came from.
    pub epoch_source: EpochSource,
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
    #[serde(serialize_with = "path_list")]
    pub mtime_paths: Vec<ReportPath>,
    /// Each root with its final NAR hash.
    pub roots: Vec<RootReport>,
    /// The self-check.
    pub self_check: SelfCheck,
    /// Wall time of the run, in milliseconds (reported, never written into outputs).
    pub elapsed_ms: u64,
    /// Wall time of each phase, in milliseconds, in the order they ran.
    pub phases_ms: Vec<(&'static str, u64)>,
}

/// How `strip-nd` exits (the CLI's `--help` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Done; with `--check`, nothing would change; `diff`: the trees are identical.
    Success = 0,
    /// An I/O error, a malformed file under `--strict`, work found by
    /// `--check`; `diff`: the trees differ.
    Failure = 1,
    /// A usage error: a bad flag, epoch, rules file or path.
    Usage = 2,
    /// The self-check failed: normalizing the output again changed it.
    SelfCheck = 3,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        Self::from(code as u8)
    }
}

impl Report {
    /// The exit code: self-check on a mismatch; failure on I/O errors, on
    /// malformed files under `strict`, or under `--check` when anything
    /// would change; else success.
    pub fn exit_code(&self, strict: bool) -> ExitCode {
        if self.self_check.status == SelfCheckStatus::Mismatch {
            return ExitCode::SelfCheck;
        }
        let failed = !self.errors.is_empty()
            || (strict && !self.malformed.is_empty())
            || (self.mode == Mode::Check
                && (!self.changes.is_empty()
                    || self.mtimes_clamped > 0
                    || !self.recovered.is_empty()));
        if failed {
            ExitCode::Failure
        } else {
            ExitCode::Success
        }
    }
}
