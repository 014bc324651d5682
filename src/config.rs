//! Settings shared by every handler ([`Config`]) and the per-call view a handler
//! receives ([`Context`]).

use std::path::Path;
use std::sync::Arc;

use crate::handlers::{HANDLERS, Handler, HandlerSet};
use crate::rules::Rules;

/// The epoch used when neither `--epoch` nor `SOURCE_DATE_EPOCH` is given:
/// 1980-01-01T00:00:00Z, the default of nixpkgs' stdenv (and the earliest DOS
/// date; zip times themselves never go below 1980-01-02 02:00, see the zip handler).
pub const DEFAULT_EPOCH: u64 = 315_532_800;

/// Default nesting limit for archives inside archives.
pub const DEFAULT_MAX_DEPTH: u32 = 8;

/// Default size limit for one file or archive member: 4 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 30;

/// Settings that hold for a whole run.
#[derive(Clone)]
pub struct Config {
    /// Every timestamp written is clamped to this value (seconds since 1970, UTC).
    pub epoch: u64,
    /// Archives nested deeper than this are passed through untouched.
    pub max_depth: u32,
    /// Files or members larger than this are passed through untouched.
    pub max_size: u64,
    /// Which handlers of `table` may claim files.
    pub handlers: HandlerSet,
    /// The handler table, in dispatch order: [`HANDLERS`] except in tests of
    /// the engine itself.
    pub table: &'static [&'static dyn Handler],
    /// The mtime every file will end with after the run, when something
    /// outside strip-nd sets it (Nix sets 1 when it registers an output).
    /// Handlers that record another file's mtime (pyc) record this value.
    pub final_mtime: Option<i64>,
    /// User date rules (`--rules`, `STRIP_ND_RULES`); `None` when none are given.
    pub rules: Option<Arc<Rules>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            epoch: DEFAULT_EPOCH,
            max_depth: DEFAULT_MAX_DEPTH,
            max_size: DEFAULT_MAX_SIZE,
            handlers: HandlerSet::default(),
            table: HANDLERS,
            final_mtime: None,
            rules: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("epoch", &self.epoch)
            .field("max_depth", &self.max_depth)
            .field("max_size", &self.max_size)
            .field("handlers", &self.handlers.names())
            .field("final_mtime", &self.final_mtime)
            .field("rules", &self.rules.as_ref().map(|r| r.len()))
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A config with the given epoch and every default-enabled handler.
    pub fn with_epoch(epoch: u64) -> Self {
        Self {
            epoch,
            ..Self::default()
        }
    }

    /// The context for a top-level file.
    pub fn context<'a>(&'a self, name: &'a Path) -> Context<'a> {
        Context {
            config: self,
            name,
            depth: 0,
            relative: None,
            companion_mtime: None,
        }
    }
}

/// What a handler knows about the file it is normalizing.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Run-wide settings.
    pub config: &'a Config,
    /// The file's path (top level) or member name (inside an archive). Names may
    /// narrow a match but never decide it alone.
    pub name: &'a Path,
    /// 0 for a file on disk, n for a member nested n archives deep.
    pub depth: u32,
    /// A top-level file's path relative to the root it was found under (its
    /// file name when the root is the file itself); `None` for members and
    /// for contexts made outside a run. Date rules match their scope on it.
    pub relative: Option<&'a Path>,
    /// The mtime the file named by [`Handler::companion`] will have when the
    /// run is over (see [`crate::engine`]); `None` when the handler names no
    /// companion, the companion does not exist, or the file is a member.
    pub companion_mtime: Option<i64>,
}

impl<'a> Context<'a> {
    /// The clamp target for timestamps.
    pub fn epoch(&self) -> u64 {
        self.config.epoch
    }

    /// Clamps a timestamp: later values become the epoch, earlier ones stay.
    pub fn clamp(&self, t: u64) -> u64 {
        t.min(self.config.epoch)
    }

    /// The context for a member of the current file.
    #[must_use]
    pub fn nested(&self, name: &'a Path) -> Context<'a> {
        Context {
            config: self.config,
            name,
            depth: self.depth + 1,
            relative: None,
            companion_mtime: None,
        }
    }

    /// The path date-rule scopes are matched against: the path relative to
    /// its root for a top-level file, the member path inside an archive.
    pub fn scope_path(&self) -> &'a Path {
        self.relative.unwrap_or(self.name)
    }
}
