//! The configuration of a run: the [`Settings`] handlers see and the handler
//! [`Table`] that dispatches files and members to them.

use std::path::Path;

pub use crate::dispatch::{HandlerSet, Table};
pub use crate::handler::{Context, DEFAULT_EPOCH, DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE, Settings};

/// Settings that hold for a whole run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// What handlers see: epoch, limits, final mtime, date rules.
    pub settings: Settings,
    /// The handlers, and which of them are on.
    pub table: Table,
}

impl Config {
    /// A config with the given epoch and every default-enabled handler.
    pub fn with_epoch(epoch: u64) -> Self {
        Self {
            settings: Settings {
                epoch,
                ..Settings::default()
            },
            ..Self::default()
        }
    }

    /// The context for a top-level file, dispatching members to the table.
    pub fn context<'a>(&'a self, name: &'a Path) -> Context<'a> {
        Context::new(&self.settings, &self.table, name)
    }

    /// The same config, with panics of nested handlers left to propagate
    /// (see [`Table::catch_panics`]): for property tests and fuzzing.
    #[must_use]
    pub fn panicking(mut self) -> Self {
        self.table.catch_panics = false;
        self
    }

    /// The clamp target for timestamps.
    pub fn epoch(&self) -> u64 {
        self.settings.epoch
    }
}
