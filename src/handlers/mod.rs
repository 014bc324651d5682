//! The handler table and dispatch.
//!
//! A handler claims a file by its magic bytes (or, for text formats, a content
//! signature found in the first [`SNIFF_LEN`] bytes) and normalizes it as a pure
//! function: bytes in, bytes out. Dispatch picks the **first** enabled handler in
//! [`HANDLERS`] that claims a file, so the order of the table is part of the
//! behaviour; it is written down here:
//!
//! 1. `gzip` — magic `1f 8b`.
//! 2. `zip` — magic `PK 03 04` / `PK 05 06`, also after a `#!` line or an `MZ`
//!    stub when the signature shows in the first 4096 bytes (before PE, which
//!    takes the other `MZ` files).
//! 3. `ar` — magic `!<arch>\n` (and `!<thin>\n`, refused).
//! 4. `tar` — `ustar\0` or `ustar  \0` at offset 257.
//! 5. `cpio` — `070701`, `070702` or `070707` (ASCII) at offset 0.
//! 6. `pe` — `MZ` and `PE\0\0` at `e_lfanew`; after `zip`, which claims
//!    self-extracting zips (they start with `MZ` too) when it sees `PK`.
//! 7. `coff` — no magic: a known machine type and sane headers (see
//!    [`coff`]), or `00 00 ff ff` for import and bigobj objects; next to
//!    `pe`, after the handlers with a magic number at offset 0. Its signature
//!    needs NUL bytes, so it cannot take a file from the text handlers.
//! 8. `pyc` — `CPython` 3.8 to 3.14 bytecode caches, magic `<2 bytes> 0d 0a`
//!    (after the archive and binary handlers).
//! 9. `rules` — user date rules (`--rules`): last, off unless rules are given;
//!    claims by scope (path glob) only.
//!
//! Binary formats with a magic number at offset 0 come first, formats whose magic
//! may follow a prefix (self-extracting zips) before the formats of those prefixes
//! (PE), and text formats matched by a content signature last.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::config::Context;
use crate::error::FormatError;

pub mod ar;
pub mod coff;
pub mod cpio;
pub mod gzip;
pub mod pe;
pub mod pyc;
pub mod rules;
pub mod tar;
pub mod zip;

/// How many leading bytes dispatch reads to pick a handler.
pub const SNIFF_LEN: usize = 4096;

/// The result of normalizing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing nondeterministic was found; the file must not be touched.
    Unchanged,
    /// The normalized bytes, and one human-readable note per field changed
    /// (for example `member 1: mtime 1700000000 -> 315532800`).
    Rewritten {
        /// The new file contents.
        bytes: Vec<u8>,
        /// What changed and why, in file order.
        changes: Vec<String>,
    },
}

impl Outcome {
    /// The output bytes: the new ones, or `input` when unchanged.
    pub fn bytes<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        match self {
            Outcome::Unchanged => input,
            Outcome::Rewritten { bytes, .. } => bytes,
        }
    }
}

/// One file format.
pub trait Handler: Sync {
    /// Short name used in reports and in `--handlers`.
    fn name(&self) -> &'static str;
    /// One line for `--list-handlers`: the format, its spec and how it is recognized.
    fn describe(&self) -> &'static str;
    /// Whether this handler claims a file starting with `head` (at most
    /// [`SNIFF_LEN`] bytes, fewer for short files). `ctx.name` may narrow a
    /// match but must never decide it alone.
    fn sniff(&self, head: &[u8], ctx: &Context) -> bool;
    /// Normalizes a whole file. Must be deterministic, idempotent and must not
    /// touch the file system.
    fn normalize(&self, input: &[u8], ctx: &Context) -> Result<Outcome, FormatError>;
    /// Whether the handler is on without being asked for.
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// For formats that hold files (archives, compressed streams): the members
    /// of `input` in stored order, as (name, contents), so `strip-nd diff` can
    /// compare two builds member by member. `None` for formats that hold no files.
    fn members(&self, _input: &[u8], _ctx: &Context) -> Option<Result<Vec<Member>, FormatError>> {
        None
    }
    /// Another file whose metadata this handler needs to normalize the file at
    /// `path` (a `.pyc` records its source's mtime). Handlers never touch the
    /// file system: the engine stats the companion and passes what it found in
    /// [`Context::companion_mtime`].
    fn companion(&self, path: &Path) -> Option<PathBuf> {
        let _ = path;
        None
    }
}

/// A member of an archive, for [`Handler::members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (path) inside the archive.
    pub name: String,
    /// Its contents, uncompressed.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for dyn Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every handler, in dispatch order.
pub static HANDLERS: &[&dyn Handler] = &[
    &gzip::Gzip,
    &zip::Zip,
    &ar::Ar,
    &tar::Tar,
    &cpio::Cpio,
    &pe::Pe,
    &coff::Coff,
    &pyc::Pyc,
    &rules::RulesHandler,
];

/// Looks a handler up by name.
pub fn by_name(name: &str) -> Option<(usize, &'static dyn Handler)> {
    HANDLERS
        .iter()
        .copied()
        .enumerate()
        .find(|(_, h)| h.name() == name)
}

/// A set of enabled handlers (a bit per entry of [`HANDLERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerSet(u64);

impl Default for HandlerSet {
    fn default() -> Self {
        let mut bits = 0;
        for (i, h) in HANDLERS.iter().enumerate() {
            if h.enabled_by_default() {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }
}

/// A `--handlers` value named an unknown handler or was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerSpecError(String);

impl HandlerSet {
    /// No handler at all.
    pub fn none() -> Self {
        Self(0)
    }

    /// Whether handler number `i` of [`HANDLERS`] is enabled.
    pub fn contains(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// Enables or disables handler number `i`.
    pub fn set(&mut self, i: usize, on: bool) {
        if on {
            self.0 |= 1 << i;
        } else {
            self.0 &= !(1 << i);
        }
    }

    /// Parses a `--handlers` value. `+a,-b` adjusts the default set; a plain
    /// list `a,b` enables exactly those handlers. Mixing is allowed: plain
    /// names then mean "only these", and `+`/`-` apply on top.
    pub fn parse(spec: &str) -> Result<Self, HandlerSpecError> {
        Self::parse_with(spec, Self::default())
    }

    /// Like [`HandlerSet::parse`], with `base` as the set `+a,-b` adjusts
    /// (the default set plus `rules` when rules are given, say).
    pub fn parse_with(spec: &str, base: Self) -> Result<Self, HandlerSpecError> {
        let items: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(HandlerSpecError(
                "--handlers needs a list such as +gzip,-zip or gzip,zip".into(),
            ));
        }
        let exclusive = items.iter().any(|s| !s.starts_with(['+', '-']));
        let mut set = if exclusive { Self::none() } else { base };
        for item in items {
            let (on, name) = match item.as_bytes()[0] {
                b'+' => (true, &item[1..]),
                b'-' => (false, &item[1..]),
                _ => (true, item),
            };
            let Some((i, _)) = by_name(name) else {
                let known: Vec<&str> = HANDLERS.iter().map(|h| h.name()).collect();
                return Err(HandlerSpecError(format!(
                    "unknown handler {name:?} in --handlers; known handlers: {}",
                    known.join(", ")
                )));
            };
            set.set(i, on);
        }
        Ok(set)
    }

    /// Names of the enabled handlers, in table order.
    pub fn names(self) -> Vec<&'static str> {
        HANDLERS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, h)| h.name())
            .collect()
    }
}

/// The first enabled handler that claims `head`.
pub fn sniff(head: &[u8], ctx: &Context) -> Option<&'static dyn Handler> {
    let head = &head[..head.len().min(SNIFF_LEN)];
    ctx.config
        .table
        .iter()
        .enumerate()
        .find(|(i, h)| ctx.config.handlers.contains(*i) && h.sniff(head, ctx))
        .map(|(_, h)| *h)
}

/// Runs `handler` on `input`, turning a panic into a [`FormatError`] so one bad
/// file never takes a run down, and discarding a "rewrite" that produced the
/// input unchanged.
pub fn run_guarded(
    handler: &dyn Handler,
    input: &[u8],
    ctx: &Context,
) -> Result<Outcome, FormatError> {
    let result = catch_unwind(AssertUnwindSafe(|| handler.normalize(input, ctx)));
    match result {
        Ok(Ok(Outcome::Rewritten { bytes, .. })) if bytes == input => Ok(Outcome::Unchanged),
        Ok(other) => other,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(FormatError::Malformed(format!(
                "handler {} panicked ({msg}); this is a bug in strip-nd, please report it",
                handler.name()
            )))
        }
    }
}

/// Sniffs `input` and runs the claiming handler on it. Archive handlers call
/// this for each member with a [`Context::nested`] context. Returns the
/// handler's name with its outcome, or `None` when no handler claims the bytes.
pub fn dispatch(
    input: &[u8],
    ctx: &Context,
) -> Option<(&'static str, Result<Outcome, FormatError>)> {
    let handler = sniff(input, ctx)?;
    if ctx.depth > ctx.config.max_depth {
        return Some((
            handler.name(),
            Err(FormatError::TooLarge(format!(
                "nested deeper than {} archives",
                ctx.config.max_depth
            ))),
        ));
    }
    Some((handler.name(), run_guarded(handler, input, ctx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_adjusts_or_replaces_the_default_set() {
        let all = HandlerSet::default();
        assert!(all.contains(0));
        let without = HandlerSet::parse("-gzip").unwrap();
        assert!(!without.contains(0));
        let only = HandlerSet::parse("gzip").unwrap();
        assert_eq!(only.names(), vec!["gzip"]);
        assert!(HandlerSet::parse("+nope").is_err());
        assert!(HandlerSet::parse(" , ").is_err());
    }
}
