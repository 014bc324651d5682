//! `strip-nd diff`: why two builds differ, file by file and field by field, and
//! whether strip-nd removes the difference.
//!
//! The two trees are walked in lockstep in NAR order. Every file is read once:
//! its bytes feed that tree's NAR hash and are compared with the other side, so
//! a large tree with few differences costs about one NAR hash of each tree.
//! Equal NAR hashes mean "identical"; otherwise each difference is reported in
//! path order:
//!
//! * entries only in A or only in B, type changes, executable-bit changes and
//!   symlink target changes (exactly what a NAR records);
//! * for a regular file a handler claims, the fields that differ in that
//!   format's terms, taken from what normalizing each side changes, and a
//!   verdict: **fixed by strip-nd** when both sides normalize to the same bytes,
//!   **not fixed** otherwise, with what remains after normalizing. Archives are
//!   compared member by member (`bundle.zip!hello.jar!META-INF/MANIFEST.MF`);
//! * for other files, a short unified diff (text) or the first differing offsets
//!   (binary);
//! * hints: values that look like timestamps near either build's time or near
//!   the epoch, strings that look like build paths, and differences that look
//!   like ordering (the same lines or members in another order).

// `a` and `b` are the two builds throughout this module, and the date code
// follows the published civil-date algorithms letter for letter.
#![allow(clippy::many_single_char_names)]

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::error::Error;
use crate::handler::Epoch;
use crate::nar;
use crate::nar::HashFormat;

mod compare;
mod hints;
mod notes;
mod raw;
mod render;
mod walk;

pub use notes::align_notes;
pub use render::print;

use hints::RefTimes;
use walk::{Side, ThreadedHash, Walk, build_time, node};

/// Files larger than this are compared but not analysed field by field.
const ANALYSE_MAX: u64 = 256 << 20;
/// Lines of unified diff shown per file.
const DIFF_LINES: usize = 40;
/// Differing offsets shown per binary file.
const BINARY_OFFSETS: usize = 5;
/// Hints shown per file.
const HINTS: usize = 8;
/// Archive members reported per archive before the rest is summarized.
const MEMBERS: usize = 50;
/// Seconds within which a value counts as "near" a build time or the epoch.
const NEAR: i64 = 3 * 86_400;

/// Whether normalizing removes a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Both sides normalize to the same bytes: add the strip-nd hook.
    FixedByStripNd,
    /// Something remains after normalizing (see `remaining`).
    NotFixed,
}

/// What differs between the two sides at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffKind {
    /// Present in A only.
    OnlyInA,
    /// Present in B only.
    OnlyInB,
    /// A file on one side, a directory or symlink on the other.
    Type,
    /// The executable bit.
    Executable,
    /// Where a symlink points.
    SymlinkTarget,
    /// The contents of a file (or member).
    Contents,
}

impl DiffKind {
    /// The name reports print (`only-in-a`, `contents`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnlyInA => "only-in-a",
            Self::OnlyInB => "only-in-b",
            Self::Type => "type",
            Self::Executable => "executable",
            Self::SymlinkTarget => "symlink-target",
            Self::Contents => "contents",
        }
    }
}

/// One difference between the trees.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// The path relative to the roots; members of archives follow a `!`.
    pub path: String,
    /// What differs.
    pub kind: DiffKind,
    /// The handler that claims the file, if any.
    pub handler: Option<&'static str>,
    /// What differs, in the format's terms (`mtime 1772600767 vs 1818065472`).
    pub fields: Vec<String>,
    /// Whether strip-nd removes it (files only).
    pub verdict: Option<Verdict>,
    /// What still differs after normalizing both sides.
    pub remaining: Vec<String>,
    /// Hints about the cause.
    pub hints: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiffReport {
    /// The first tree or file.
    pub a: String,
    /// The second tree or file.
    pub b: String,
    /// `sha256:<nix32>` of A's NAR serialization.
    pub nar_a: String,
    /// `sha256:<nix32>` of B's NAR serialization.
    pub nar_b: String,
    /// Equal NAR hashes.
    pub identical: bool,
    /// Every difference, in path order.
    pub differences: Vec<Difference>,
    /// Differences strip-nd fixes.
    pub fixed: usize,
    /// Differences strip-nd does not fix.
    pub not_fixed: usize,
}

/// Compares two trees (or files).
pub fn diff(a: &Path, b: &Path, config: &Config) -> Result<DiffReport, Error> {
    let na = node(a)?;
    let nb = node(b)?;
    let refs = RefTimes {
        builds: [build_time(&na.meta), build_time(&nb.meta)],
        epoch: Epoch::new(config.settings.epoch).as_i64(),
    };
    let mut walk = Walk {
        a: Side {
            root: a.to_owned(),
            hash: nar::Encoder::new(ThreadedHash::new()),
        },
        b: Side {
            root: b.to_owned(),
            hash: nar::Encoder::new(ThreadedHash::new()),
        },
        config,
        refs,
        out: Vec::new(),
    };
    walk.a.hash.magic();
    walk.b.hash.magic();
    walk.pair(&na, &nb)?;
    let Walk {
        a: side_a,
        b: side_b,
        out,
        ..
    } = walk;
    let ha = side_a.hash.sink.finish();
    let hb = side_b.hash.sink.finish();
    let identical = ha == hb;
    let fixed = out
        .iter()
        .filter(|d| d.verdict == Some(Verdict::FixedByStripNd))
        .count();
    Ok(DiffReport {
        a: a.display().to_string(),
        b: b.display().to_string(),
        nar_a: nar::format_hash(&ha, HashFormat::Typed),
        nar_b: nar::format_hash(&hb, HashFormat::Typed),
        identical,
        not_fixed: out.len() - fixed,
        fixed,
        differences: out,
    })
}

/// Whether `e` means one side was not there, for exit codes.
pub fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests;
