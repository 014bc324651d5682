//! Examining one file: read it (whole, or its head then the rest), sniff its
//! handler and normalize it in memory or streamed, without writing anything.

use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::budget::{Budget, Reservation};
use crate::config::Config;
use crate::dispatch::{Recorder, Untouched, run_guarded, run_guarded_to};
use crate::error::Error;
use crate::fsio;
use crate::handler::{Context, FormatError, Handler, Outcome, Written};
use crate::handlers::HEAD_LEN;
use crate::stream::{DrySink, FileSource, New, TempSink, TempSpill};

use super::roots::relative_to_roots;

/// What normalizing a claimed file of `len` bytes may hold in memory at its
/// peak, reserved from the budget before the file is read.
///
/// Today's handlers hold the input and build the output beside it, and a
/// compressed container also holds what it expands to and its rewrite:
/// measured peaks (GNU time, one file per run) are 2.1x the file for gzip,
/// tar and zip, 5.3x for a `.tar.gz` of incompressible data (issue 12). Six
/// times the size covers those, plus a fixed share for the handler's own
/// tables. A streaming handler will lower this (per handler, through here).
pub fn estimated_peak(len: u64) -> u64 {
    len.saturating_mul(6).saturating_add(1 << 20)
}

/// Where a streamed file's new contents go.
#[derive(Clone, Copy)]
pub(super) enum Output {
    /// To a temp file beside it, to be renamed over it.
    Beside,
    /// Nowhere (a dry run); `digest`: their sha256 is computed as they
    /// pass, for a `.cargo-checksum.json` that may list the file.
    Dry { digest: bool },
}

/// How a file is examined: whether mtimes are clamped (a companion's
/// mtime is taken as it will end), and where streamed output goes.
#[derive(Clone, Copy)]
pub(super) struct Mode {
    pub(super) mtimes: bool,
    pub(super) output: Output,
}

/// What happened to one file.
pub(super) enum FileResult {
    Unclaimed,
    Unchanged(&'static str),
    Rewritten(&'static str, Vec<String>),
    Malformed(&'static str, String),
    Skipped(Option<&'static str>, String),
    Failed(Error),
}

/// Files up to this size are read whole before sniffing (one read call);
/// larger ones are sniffed from their head and read whole only when claimed.
pub(super) const READ_WHOLE: u64 = 64 * 1024;

/// Reads a file, picks its handler and normalizes it, without writing anything.
/// On a rewrite, the new bytes are returned beside the result; the members
/// some handler left untouched come last. A claimed file is read only once
/// its [`estimated_peak`] is reserved in `hold`, which the caller keeps
/// until the new bytes are written.
pub(super) fn examine<'b>(
    path: &Path,
    meta: &Metadata,
    config: &Config,
    roots: &[PathBuf],
    mode: Mode,
    hold: (&'b Budget, &mut Option<Reservation<'b>>),
) -> (FileResult, Option<New>, Vec<Untouched>) {
    let recorder = Recorder::new(&config.table);
    let (result, bytes) = examine_with(path, meta, config, roots, mode, &recorder, hold);
    (result, bytes, recorder.into_untouched())
}

pub(super) fn examine_with<'b>(
    path: &Path,
    meta: &Metadata,
    config: &Config,
    roots: &[PathBuf],
    mode: Mode,
    recorder: &Recorder,
    (budget, hold): (&'b Budget, &mut Option<Reservation<'b>>),
) -> (FileResult, Option<New>) {
    if meta.len() == 0 {
        return (FileResult::Unclaimed, None);
    }
    let relative = relative_to_roots(path, roots);
    let mut ctx = Context::new(&config.settings, recorder, path);
    ctx.relative = Some(&relative);
    ctx.spill = &TempSpill;
    let fail = |e| (FileResult::Failed(Error::io(path, e)), None);
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let whole = meta.len() <= READ_WHOLE;
    let read = if whole {
        fsio::read_all(&mut file, meta.len())
    } else {
        fsio::read_up_to(&mut file, HEAD_LEN)
    };
    let mut data = match read {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let Some(handler) = config.table.sniff(&data, &ctx) else {
        return (FileResult::Unclaimed, None);
    };
    if meta.len() > config.settings.max_size {
        let reason = format!(
            "{} bytes, larger than the {}-byte limit",
            meta.len(),
            config.settings.max_size
        );
        return (FileResult::Skipped(Some(handler.name()), reason), None);
    }
    ctx.companion_mtime = handler
        .companion(path)
        .and_then(|c| companion_mtime(&c, config, mode.mtimes));
    let stream = meta.len() > config.settings.in_memory && handler.streams();
    // A streamed file holds at most its members up to `in_memory` at once.
    let in_hand = if stream {
        config.settings.in_memory
    } else {
        meta.len()
    };
    *hold = Some(budget.reserve(estimated_peak(in_hand)));
    if stream {
        return streamed(path, file, meta.len(), handler, &ctx, mode.output);
    }
    if !whole {
        if let Err(e) = fsio::read_rest(&mut file, &mut data, meta.len()) {
            return fail(e);
        }
    }
    match run_guarded(handler, &data, &ctx) {
        Ok(Outcome::Unchanged) => (FileResult::Unchanged(handler.name()), None),
        Ok(Outcome::Rewritten { bytes, changes }) => (
            FileResult::Rewritten(
                handler.name(),
                changes.into_iter().map(String::from).collect(),
            ),
            Some(New::Bytes(bytes)),
        ),
        Err(e) => (failed(handler, e), None),
    }
}

pub(super) fn failed(handler: &dyn Handler, e: FormatError) -> FileResult {
    match e {
        FormatError::Malformed(m) => FileResult::Malformed(handler.name(), m),
        e @ (FormatError::Unsupported(_) | FormatError::TooLarge(_)) => {
            FileResult::Skipped(Some(handler.name()), e.to_string())
        }
    }
}

/// A file larger than `in_memory` whose handler streams: read by position,
/// written to a temp file beside it (removed when unchanged), or, dry, to
/// nowhere.
pub(super) fn streamed(
    path: &Path,
    file: File,
    len: u64,
    handler: &dyn Handler,
    ctx: &Context,
    output: Output,
) -> (FileResult, Option<New>) {
    let fail = |e| (FileResult::Failed(Error::io(path, e)), None);
    let source = FileSource::new(file, len);
    let rewritten = |changes: Vec<crate::handler::Change>| {
        FileResult::Rewritten(
            handler.name(),
            changes.into_iter().map(String::from).collect(),
        )
    };
    match output {
        Output::Beside => {
            let mut sink = match TempSink::beside(path) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match run_guarded_to(handler, &source, &mut sink, ctx) {
                Ok(Written::Unchanged) => (FileResult::Unchanged(handler.name()), None),
                Ok(Written::Rewritten(changes)) => match sink.finish() {
                    Ok(tmp) => (rewritten(changes), Some(New::Temp(tmp))),
                    Err(e) => fail(e),
                },
                Err(e) => (failed(handler, e), None),
            }
        }
        Output::Dry { digest } => {
            let mut sink = if digest {
                DrySink::hashing()
            } else {
                DrySink::discarding()
            };
            match run_guarded_to(handler, &source, &mut sink, ctx) {
                Ok(Written::Unchanged) => (FileResult::Unchanged(handler.name()), None),
                Ok(Written::Rewritten(changes)) => {
                    (rewritten(changes), Some(New::Dry(sink.finish())))
                }
                Err(e) => (failed(handler, e), None),
            }
        }
    }
}

/// The mtime a handler's companion file will have when the run is over:
/// `--final-mtime` when given (Nix sets it after the build, whatever strip-nd
/// does); otherwise the companion's mtime (following symlinks, as Python's
/// `stat` does), clamped to the epoch when the run clamps mtimes. The value
/// only depends on the companion's current mtime and the settings, so the
/// self-check's second pass computes the same one. `None` when it does not
/// exist or is not a regular file.
pub(super) fn companion_mtime(companion: &Path, config: &Config, mtimes: bool) -> Option<i64> {
    if let Some(m) = config.settings.final_mtime {
        return Some(m);
    }
    let meta = std::fs::metadata(companion).ok()?;
    if !meta.is_file() {
        return None;
    }
    let raw = meta.mtime();
    Some(if mtimes {
        raw.min(i64::try_from(config.settings.epoch).unwrap_or(i64::MAX))
    } else {
        raw
    })
}
