//! strip-nd: a build-time normalization post-processor for reproducible builds.
//!
//! The pipeline runs in one direction:
//!
//! ```text
//! paths ──walk──▶ candidates ──sniff──▶ (file, handler) ──normalize──▶ bytes ──replace──▶ file
//!                                                                                      │
//!         report ◀── self-check: NAR hash, normalize again, NAR hash again ◀── mtime pass
//! ```
//!
//! * [`walk`] lists the regular files under each root in a stable order, never following links.
//! * [`handlers`] holds the static handler table; each handler is a pure function of bytes.
//! * [`replace`] writes results atomically (temp file in the same directory, then rename).
//! * [`mtime`] clamps timestamps on the file system.
//! * [`nar`] serializes and hashes a tree exactly like `nix-store --dump` / `nix hash path`.
//! * [`rules`] compiles user date rules (`--rules`) for the `rules` handler.
//! * [`engine`] ties them together and produces a [`report::Report`]; [`budget`] bounds
//!   how many bytes its workers hold at once.
//! * [`cargo_checksum`] keeps vendored crates' `.cargo-checksum.json` true to the files rewritten.
//! * [`diff`] explains why two builds differ (`strip-nd diff`, Nix's diff-hook).

pub mod budget;
pub mod cargo_checksum;
pub mod config;
pub mod diff;
pub mod engine;
pub mod error;
pub mod fsio;
pub mod handlers;
pub mod mtime;
pub mod nar;
pub mod recover;
pub mod replace;
pub mod report;
pub mod rules;
pub mod walk;

pub use config::{Config, Context, DEFAULT_EPOCH};
pub use error::{Error, FormatError};
pub use handlers::{Handler, Outcome};
