//! How a run is asked to go ([`Options`]).

use crate::config::Config;
use crate::report::EpochSource;

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
    /// Bytes the workers may hold at once, by [`estimated_peak`](super::estimated_peak): a worker
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
