//! Typed errors. `FormatError` (defined with the handler API) means "this file is not what it claimed to be";
//! `Error` is everything that concerns the file system or the run.

use std::io;
use std::path::PathBuf;

pub use crate::handler::FormatError;

/// Errors of a run: I/O, refusals and self-check failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The path lies in the Nix store and no Nix build is running.
    #[error(
        "{}: refusing to modify the Nix store outside a Nix build (NIX_BUILD_TOP is unset); \
         copy the output elsewhere, or use --check to only inspect it",
        path.display()
    )]
    NixStore {
        /// The offending root.
        path: PathBuf,
    },
    /// A NAR cannot represent this file type.
    #[error("{}: a {kind} cannot be stored in a NAR (Nix refuses it too)", path.display())]
    NarUnsupported {
        /// The offending file.
        path: PathBuf,
        /// "FIFO", "socket", "device"...
        kind: &'static str,
    },
    /// A file changed size while it was being hashed.
    #[error("{}: file changed while it was being read", path.display())]
    Changed {
        /// The file concerned.
        path: PathBuf,
    },
}

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
