//! strip-nd: a build-time normalization post-processor for reproducible builds.
//!
//! The pipeline runs in one direction:
//!
//! ```text
//! paths ──walk──▶ candidates ──sniff──▶ (file, handler) ──normalize──▶ bytes ──replace──▶ file
//!                                                                                      │
//!         report ◀── self-check: normalize again, compare fingerprints ◀── mtime pass ◀── NAR hash (beside the pass)
//! ```
//!
//! * [`bytes`] reads and writes fixed-width integers at an offset, checked.
//! * [`walk`] lists the regular files under each root in a stable order, never following links.
//! * [`handler`] is the handler API (a leaf): [`Handler`], [`Outcome`], typed [`Change`]s, [`Context`].
//! * [`handlers`] holds the static handler table; each handler is a pure function of bytes.
//! * [`dispatch`] picks the handler of a file or member, with the limits and the panic guard.
//! * [`replace`] writes results atomically (temp file in the same directory, then rename).
//! * [`mtime`] clamps timestamps on the file system.
//! * [`nar`] serializes and hashes a tree exactly like `nix-store --dump` / `nix hash path`;
//!   [`progress`] lets it run beside the normalizing pass.
//! * [`dates`] holds calendar arithmetic and the textual date formats the handlers meet.
//! * [`rules`] compiles user date rules (`--rules`) for the `rules` handler.
//! * [`engine`] ties them together and produces a [`report::Report`]; [`summary`] prints it;
//!   [`budget`] bounds how many bytes its workers hold at once.
//! * [`cargo_checksum`] keeps vendored crates' `.cargo-checksum.json` true to the files rewritten.
//! * [`diff`] explains why two builds differ (`strip-nd diff`, Nix's diff-hook).

pub mod budget;
pub mod bytes;
pub mod cargo_checksum;
pub mod config;
pub mod dates;
pub mod diff;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod fingerprint;
pub mod fsio;
pub mod handler;
pub mod handlers;
pub mod inflate;
pub mod mtime;
pub mod nar;
pub mod progress;
pub mod recover;
pub mod replace;
pub mod report;
pub mod rules;
pub mod stream;
pub mod summary;
pub mod walk;

pub use config::Config;
pub use error::Error;
pub use handler::{Change, Context, DEFAULT_EPOCH, Epoch, FormatError, Handler, Outcome};
