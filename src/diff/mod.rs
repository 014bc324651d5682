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

use std::collections::BTreeSet;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use regex::bytes::Regex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::Error;
use crate::handlers::dates::Civil;
use crate::handlers::{self, Handler, Outcome};
use crate::nar::{self, HashFormat};

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

/// One difference between the trees.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// The path relative to the roots; members of archives follow a `!`.
    pub path: String,
    /// `only-in-a`, `only-in-b`, `type`, `executable`, `symlink-target` or `contents`.
    pub kind: &'static str,
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

/// A NAR sink that hashes on its own thread, so two trees hash in parallel
/// with the walk that reads them.
struct ThreadedHash {
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    handle: Option<thread::JoinHandle<[u8; 32]>>,
    buf: Vec<u8>,
}

impl ThreadedHash {
    fn new() -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
        let handle = thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
            }
            h.finalize().into()
        });
        Self {
            tx: Some(tx),
            handle: Some(handle),
            buf: Vec::with_capacity(1 << 20),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > 1 << 20 {
            self.flush();
        }
        if bytes.len() >= 1 << 20 {
            if let Some(tx) = &self.tx {
                let _ = tx.send(bytes.to_vec());
            }
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20));
            if let Some(tx) = &self.tx {
                let _ = tx.send(chunk);
            }
        }
    }

    fn finish(mut self) -> [u8; 32] {
        self.flush();
        drop(self.tx.take());
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl nar::Sink for ThreadedHash {
    fn put(&mut self, bytes: &[u8]) {
        self.push(bytes);
    }
}

/// One side of the comparison: its root, hasher and reference times.
struct Side {
    root: PathBuf,
    hash: nar::Encoder<ThreadedHash>,
}

/// A file-system node and its `lstat`.
struct Node {
    path: PathBuf,
    meta: Metadata,
}

fn node(path: &Path) -> Result<Node, Error> {
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    Ok(Node {
        path: path.to_owned(),
        meta,
    })
}

fn kind_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "regular file"
    } else {
        nar::special_kind(ft)
    }
}

fn is_exec(meta: &Metadata) -> bool {
    meta.permissions().mode() & 0o100 != 0
}

fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, Error> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(|e| Error::io(dir, e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Reads a whole file, feeding its NAR serialization to `side`'s hash.
/// Returns its bytes when it is small enough to analyse.
fn read_into(side: &mut Side, n: &Node) -> Result<Option<Vec<u8>>, Error> {
    let mut file = File::open(&n.path).map_err(|e| Error::io(&n.path, e))?;
    let len = n.meta.len();
    side.hash.regular(is_exec(&n.meta), len);
    let keep = len <= ANALYSE_MAX;
    let mut kept = Vec::new();
    let mut buf = vec![0; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Error::Changed {
                    path: n.path.clone(),
                });
            }
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&n.path, e)),
        };
        side.hash.data(&buf[..got]);
        if keep {
            kept.extend_from_slice(&buf[..got]);
        }
        left -= got as u64;
    }
    side.hash.regular_end(len);
    Ok(keep.then_some(kept))
}

/// Serializes a node (recursively) into one side's hash only.
fn serialize_one(side: &mut Side, n: &Node) -> Result<(), Error> {
    let ft = n.meta.file_type();
    if ft.is_file() {
        read_into(side, n)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(&n.path).map_err(|e| Error::io(&n.path, e))?;
        side.hash.symlink(target.as_os_str().as_bytes());
    } else if ft.is_dir() {
        side.hash.directory();
        for name in sorted_names(&n.path)? {
            side.hash.entry(name.as_bytes());
            serialize_one(side, &node(&n.path.join(&name))?)?;
            side.hash.entry_end();
        }
        side.hash.directory_end();
    } else {
        return Err(Error::NarUnsupported {
            path: n.path.clone(),
            kind: nar::special_kind(ft),
        });
    }
    Ok(())
}

/// The times a value may be "near": each build's time and the epoch.
struct RefTimes {
    builds: [i64; 2],
    epoch: i64,
}

/// The time a tree was built: the latest status-change time of its root,
/// which for a Nix store path is when Nix registered it.
fn build_time(meta: &Metadata) -> i64 {
    meta.ctime().max(meta.mtime())
}

struct Walk<'a> {
    a: Side,
    b: Side,
    config: &'a Config,
    refs: RefTimes,
    out: Vec<Difference>,
}

impl Walk<'_> {
    fn rel(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.a.root).unwrap_or(path);
        if rel.as_os_str().is_empty() {
            path.file_name()
                .map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
        } else {
            rel.to_string_lossy().into_owned()
        }
    }

    fn simple(&mut self, path: String, kind: &'static str, field: String) {
        self.out.push(Difference {
            path,
            kind,
            handler: None,
            fields: vec![field],
            verdict: None,
            remaining: Vec::new(),
            hints: Vec::new(),
        });
    }

    fn pair(&mut self, a: &Node, b: &Node) -> Result<(), Error> {
        let (fa, fb) = (a.meta.file_type(), b.meta.file_type());
        let rel = self.rel(&a.path);
        if kind_name(&a.meta) != kind_name(&b.meta) {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
            let field = format!("{} vs {}", kind_name(&a.meta), kind_name(&b.meta));
            self.simple(rel, "type", field);
        } else if fa.is_dir() {
            self.dirs(a, b)?;
        } else if fa.is_symlink() {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
            let ta = fs::read_link(&a.path).map_err(|e| Error::io(&a.path, e))?;
            let tb = fs::read_link(&b.path).map_err(|e| Error::io(&b.path, e))?;
            if ta != tb {
                let field = format!(
                    "target {:?} vs {:?}",
                    ta.display().to_string(),
                    tb.display().to_string()
                );
                self.simple(rel, "symlink-target", field);
            }
        } else if fa.is_file() && fb.is_file() {
            if is_exec(&a.meta) != is_exec(&b.meta) {
                let field = format!(
                    "executable {} vs {}",
                    if is_exec(&a.meta) { "yes" } else { "no" },
                    if is_exec(&b.meta) { "yes" } else { "no" }
                );
                self.simple(rel.clone(), "executable", field);
            }
            let da = read_into(&mut self.a, a)?;
            let db = read_into(&mut self.b, b)?;
            match (da, db) {
                (Some(da), Some(db)) if da != db => {
                    let name = PathBuf::from(&rel);
                    let diffs = analyse(&da, &db, &name, &rel, self.config, &self.refs, 0);
                    self.out.extend(diffs);
                }
                (Some(_), Some(_)) => {}
                _ => {
                    if !same_contents(&a.path, &b.path)? {
                        self.simple(
                            rel,
                            "contents",
                            "contents differ (too large to analyse)".into(),
                        );
                    }
                }
            }
        } else {
            serialize_one(&mut self.a, a)?;
            serialize_one(&mut self.b, b)?;
        }
        Ok(())
    }

    fn dirs(&mut self, a: &Node, b: &Node) -> Result<(), Error> {
        for side in [&mut self.a, &mut self.b] {
            side.hash.directory();
        }
        let na = sorted_names(&a.path)?;
        let nb = sorted_names(&b.path)?;
        let names: BTreeSet<&[u8]> = na.iter().chain(&nb).map(|n| n.as_bytes()).collect();
        for name in names {
            let name = std::ffi::OsStr::from_bytes(name);
            let in_a = na.iter().any(|n| n == name);
            let in_b = nb.iter().any(|n| n == name);
            for (side, present) in [(&mut self.a, in_a), (&mut self.b, in_b)] {
                if present {
                    side.hash.entry(name.as_bytes());
                }
            }
            let pa = a.path.join(name);
            let pb = b.path.join(name);
            match (in_a, in_b) {
                (true, true) => self.pair(&node(&pa)?, &node(&pb)?)?,
                (true, false) => {
                    let n = node(&pa)?;
                    serialize_one(&mut self.a, &n)?;
                    let rel = self.rel(&pa);
                    self.simple(
                        rel,
                        "only-in-a",
                        format!("{} only in A", kind_name(&n.meta)),
                    );
                }
                (false, true) => {
                    let n = node(&pb)?;
                    serialize_one(&mut self.b, &n)?;
                    let rel = self.rel(&pa);
                    self.simple(
                        rel,
                        "only-in-b",
                        format!("{} only in B", kind_name(&n.meta)),
                    );
                }
                (false, false) => {}
            }
            for (side, present) in [(&mut self.a, in_a), (&mut self.b, in_b)] {
                if present {
                    side.hash.entry_end();
                }
            }
        }
        for side in [&mut self.a, &mut self.b] {
            side.hash.directory_end();
        }
        Ok(())
    }
}

fn same_contents(a: &Path, b: &Path) -> Result<bool, Error> {
    let mut fa = File::open(a).map_err(|e| Error::io(a, e))?;
    let mut fb = File::open(b).map_err(|e| Error::io(b, e))?;
    let mut ba = vec![0; 1 << 20];
    let mut bb = vec![0; 1 << 20];
    loop {
        let na = crate::fsio::read_up_to(&mut fa, ba.len()).map_err(|e| Error::io(a, e))?;
        let nb = crate::fsio::read_up_to(&mut fb, bb.len()).map_err(|e| Error::io(b, e))?;
        if na != nb {
            return Ok(false);
        }
        if na.is_empty() {
            return Ok(true);
        }
        ba.clear();
        bb.clear();
        ba.resize(1 << 20, 0);
        bb.resize(1 << 20, 0);
    }
}

/// Compares two trees (or files).
pub fn diff(a: &Path, b: &Path, config: &Config) -> Result<DiffReport, Error> {
    let na = node(a)?;
    let nb = node(b)?;
    let refs = RefTimes {
        builds: [build_time(&na.meta), build_time(&nb.meta)],
        epoch: i64::try_from(config.epoch).unwrap_or(i64::MAX),
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

/// Analyses two differing contents of one file (or member).
fn analyse(
    a: &[u8],
    b: &[u8],
    name: &Path,
    path: &str,
    config: &Config,
    refs: &RefTimes,
    depth: u32,
) -> Vec<Difference> {
    let ctx = config.context(name);
    let ctx = crate::config::Context { depth, ..ctx };
    let ha = handlers::sniff(a, &ctx);
    let hb = handlers::sniff(b, &ctx);
    let mut d = Difference {
        path: path.to_string(),
        kind: "contents",
        handler: None,
        fields: Vec::new(),
        verdict: Some(Verdict::NotFixed),
        remaining: Vec::new(),
        hints: hints(a, b, refs),
    };
    let handler = match (ha, hb) {
        (Some(x), Some(y)) if x.name() == y.name() => x,
        (x, y) => {
            if x.is_some() || y.is_some() {
                d.fields.push(format!(
                    "claimed by {} vs {}",
                    x.map_or("no handler", |h| h.name()),
                    y.map_or("no handler", |h| h.name())
                ));
            }
            d.remaining = raw_diff(a, b);
            return vec![d];
        }
    };
    d.handler = Some(handler.name());
    let oa = handlers::run_guarded(handler, a, &ctx);
    let ob = handlers::run_guarded(handler, b, &ctx);
    let (na, nb) = match (&oa, &ob) {
        (Ok(x), Ok(y)) => (x.bytes(a).to_vec(), y.bytes(b).to_vec()),
        (x, y) => {
            for (side, r) in [("A", x), ("B", y)] {
                if let Err(e) = r {
                    d.fields.push(format!("{side} cannot be normalized: {e}"));
                }
            }
            d.remaining = raw_diff(a, b);
            return vec![d];
        }
    };
    d.fields = align_notes(&notes(oa.as_ref().ok()), &notes(ob.as_ref().ok()));
    let mut nested = Vec::new();
    if let Some(order) = member_order(handler, a, b, &ctx) {
        d.fields.push(order);
    }
    if na == nb {
        d.verdict = Some(Verdict::FixedByStripNd);
        if d.fields.is_empty() {
            d.fields
                .push("differs only in what strip-nd normalizes".into());
        }
    } else {
        match (handler.members(&na, &ctx), handler.members(&nb, &ctx)) {
            (Some(Ok(ma)), Some(Ok(mb))) if depth < config.max_depth => {
                let (remaining, deeper) = compare_members(&ma, &mb, path, config, refs, depth);
                d.remaining = remaining;
                nested = deeper;
            }
            _ => d.remaining = raw_diff(&na, &nb),
        }
        if d.remaining.is_empty() && nested.is_empty() {
            let same_members = matches!(
                (handler.members(&na, &ctx), handler.members(&nb, &ctx)),
                (Some(Ok(x)), Some(Ok(y))) if x == y
            );
            d.remaining.push(if same_members {
                "the members are identical: only the encoding differs (compression level, tool version or layout)".into()
            } else {
                "the normalized files still differ".into()
            });
        }
    }
    let mut out = vec![d];
    out.extend(nested);
    out
}

/// The change notes of a normalization, or none.
fn notes(o: Option<&Outcome>) -> Vec<String> {
    match o {
        Some(Outcome::Rewritten { changes, .. }) => changes.clone(),
        _ => Vec::new(),
    }
}

/// "entry order differs (first at index 3)" when both archives hold the same
/// members in another order.
fn member_order(
    handler: &dyn Handler,
    a: &[u8],
    b: &[u8],
    ctx: &crate::config::Context,
) -> Option<String> {
    let (Some(Ok(ma)), Some(Ok(mb))) = (handler.members(a, ctx), handler.members(b, ctx)) else {
        return None;
    };
    let na: Vec<&str> = ma.iter().map(|m| m.name.as_str()).collect();
    let nb: Vec<&str> = mb.iter().map(|m| m.name.as_str()).collect();
    if na == nb {
        return None;
    }
    let (mut sa, mut sb) = (na.clone(), nb.clone());
    sa.sort_unstable();
    sb.sort_unstable();
    if sa != sb {
        return None;
    }
    let first = na.iter().zip(&nb).position(|(x, y)| x != y).unwrap_or(0);
    Some(format!("entry order differs (first at index {first})"))
}

/// Compares the members of two normalized archives: what remains at this level
/// (members only on one side, order) and the differences of members in both.
fn compare_members(
    ma: &[handlers::Member],
    mb: &[handlers::Member],
    path: &str,
    config: &Config,
    refs: &RefTimes,
    depth: u32,
) -> (Vec<String>, Vec<Difference>) {
    let mut remaining = Vec::new();
    let mut nested = Vec::new();
    let names_b: BTreeSet<&str> = mb.iter().map(|m| m.name.as_str()).collect();
    let names_a: BTreeSet<&str> = ma.iter().map(|m| m.name.as_str()).collect();
    for m in ma
        .iter()
        .filter(|m| !names_b.contains(m.name.as_str()))
        .take(MEMBERS)
    {
        remaining.push(format!("member {} only in A", m.name));
    }
    for m in mb
        .iter()
        .filter(|m| !names_a.contains(m.name.as_str()))
        .take(MEMBERS)
    {
        remaining.push(format!("member {} only in B", m.name));
    }
    let order_a: Vec<&str> = ma
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| names_b.contains(n))
        .collect();
    let order_b: Vec<&str> = mb
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| names_a.contains(n))
        .collect();
    if order_a != order_b {
        let first = order_a
            .iter()
            .zip(&order_b)
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        remaining.push(format!("member order differs (first at index {first})"));
    }
    for m in ma.iter().take(MEMBERS * 20) {
        if let Some(other) = mb.iter().find(|o| o.name == m.name) {
            if other.bytes != m.bytes {
                let sub = format!("{path}!{}", m.name);
                nested.extend(analyse(
                    &m.bytes,
                    &other.bytes,
                    Path::new(&m.name),
                    &sub,
                    config,
                    refs,
                    depth + 1,
                ));
            }
        }
    }
    (remaining, nested)
}

/// Pairs the change notes of A and B into "field a vs b" lines. Notes equal on
/// both sides are no difference between the builds and are left out. A note of
/// A pairs with the note of B that shares the longest prefix ending at a word
/// and holding the location (`member 1: mtime`, `hello.jar: DOS time`); what
/// follows is each side's old value.
pub fn align_notes(a: &[String], b: &[String]) -> Vec<String> {
    let only_a: Vec<&str> = a
        .iter()
        .filter(|n| !b.contains(n))
        .map(String::as_str)
        .collect();
    let mut only_b: Vec<Option<&str>> = b
        .iter()
        .filter(|n| !a.contains(n))
        .map(|n| Some(n.as_str()))
        .collect();
    let mut out = Vec::new();
    for na in only_a {
        let va = old_value(na);
        let best = only_b
            .iter()
            .enumerate()
            .filter_map(|(i, nb)| nb.map(|nb| (i, shared_field(va, old_value(nb)))))
            .filter(|(_, len)| *len > 0)
            .max_by_key(|(_, len)| *len);
        if let Some((i, len)) = best {
            let vb = old_value(only_b[i].take().unwrap_or_default());
            out.push(format!(
                "{} {} vs {}",
                &va[..len],
                &va[len + 1..],
                &vb[len + 1..]
            ));
        } else {
            let (field, value) = split_note(na);
            out.push(format!("{field} {value} vs absent"));
        }
    }
    for nb in only_b.into_iter().flatten() {
        let (field, value) = split_note(nb);
        out.push(format!("{field} absent vs {value}"));
    }
    out
}

/// A note without its new value: `x: mtime 5 -> 1` gives `x: mtime 5`,
/// `x: name "n" dropped` gives `x: name "n"`.
fn old_value(note: &str) -> &str {
    note.rsplit_once(" -> ")
        .map(|(l, _)| l)
        .or_else(|| note.strip_suffix(" dropped"))
        .unwrap_or(note)
}

/// The length of the longest common prefix of `a` and `b` that ends before a
/// space, holds a `:` (the location) and leaves a value on both sides; 0 if none.
fn shared_field(a: &str, b: &str) -> usize {
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let Some(space) = a[..common.min(a.len())].rfind(' ') else {
        return 0;
    };
    let field = &a[..space];
    if field.contains(':') && space + 1 < a.len() && space + 1 < b.len() {
        space
    } else {
        0
    }
}

/// Splits a change note into the field and the old value:
/// `member 1: mtime 1772600767 -> 315532800` gives (`member 1: mtime`, `1772600767`);
/// `member 1: name "b.1" dropped` gives (`member 1: name`, `"b.1"`).
fn split_note(note: &str) -> (String, String) {
    let body = old_value(note);
    // The value is the quoted string, or the last word, at the end of the body.
    if let Some(inner) = body.strip_suffix('"') {
        if let Some(q) = inner.rfind(" \"") {
            return (body[..q].to_string(), body[q + 1..].to_string());
        }
    }
    match body.rsplit_once(' ') {
        Some((field, value)) => (field.to_string(), value.to_string()),
        None => (body.to_string(), String::new()),
    }
}

fn is_text(bytes: &[u8]) -> bool {
    !bytes[..bytes.len().min(8192)].contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// A short unified diff (text) or the first differing offsets (binary).
fn raw_diff(a: &[u8], b: &[u8]) -> Vec<String> {
    if is_text(a) && is_text(b) {
        let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        let diff = similar::TextDiff::configure()
            .timeout(std::time::Duration::from_secs(2))
            .diff_lines(ta.as_ref(), tb.as_ref());
        let text = diff
            .unified_diff()
            .context_radius(1)
            .header("A", "B")
            .to_string();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() > DIFF_LINES {
            let more = lines.len() - DIFF_LINES;
            lines.truncate(DIFF_LINES);
            lines.push(format!("... {more} more diff lines"));
        }
        if sorted_lines(a) == sorted_lines(b) {
            lines.push("the same lines in another order".into());
        }
        return lines;
    }
    let mut out = Vec::new();
    if a.len() != b.len() {
        out.push(format!("size {} vs {} bytes", a.len(), b.len()));
    }
    let mut i = 0;
    let n = a.len().min(b.len());
    while i < n && out.len() < BINARY_OFFSETS + 1 {
        if a[i] == b[i] {
            i += 1;
            continue;
        }
        let start = i.saturating_sub(4);
        let end = (i + 12).min(n);
        out.push(format!(
            "offset {i:#x}: {} vs {}",
            hex(&a[start..end.min(a.len())]),
            hex(&b[start..end.min(b.len())])
        ));
        i = end;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&c| c == b'\n').collect();
    lines.sort_unstable();
    lines
}

/// Dates written in the usual text forms, with the pieces needed to read them.
fn date_patterns() -> &'static [Regex; 3] {
    static PATTERNS: std::sync::OnceLock<[Regex; 3]> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // 2026-03-04 05:06:07 / 2026-03-04T05:06
            Regex::new(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?").expect("valid"),
            // Wed Mar  4 05:06:07 UTC 2026 / Wed Mar 04 05:06:07 2026
            Regex::new(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?: [A-Z]{2,5})? (\d{4})").expect("valid"),
            // seconds since 1970 (9 or 10 digits)
            Regex::new(r"\b(\d{9,10})\b").expect("valid"),
        ]
    })
}

/// Days since 1970 of a captured year, month and day (the one calendar
/// routine of the crate, in `handlers::dates`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let part = |v: i64| u32::try_from(v).unwrap_or(0);
    crate::handlers::dates::days_from_civil(y, part(m), part(d))
}

fn num(m: Option<regex::bytes::Match>) -> i64 {
    m.and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every date or timestamp in `text`, as seconds since 1970, with its text.
fn timestamps(text: &[u8]) -> Vec<(i64, String)> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let [iso, ctime, secs] = date_patterns();
    let mut out = Vec::new();
    for c in iso.captures_iter(text) {
        let t = days_from_civil(num(c.get(1)), num(c.get(2)), num(c.get(3))) * 86_400
            + num(c.get(4)) * 3600
            + num(c.get(5)) * 60
            + num(c.get(6));
        out.push((t, String::from_utf8_lossy(&c[0]).into_owned()));
    }
    for c in ctime.captures_iter(text) {
        let month = MONTHS
            .iter()
            .zip(1..)
            .find_map(|(m, n)| (*m == &c[1]).then_some(n))
            .unwrap_or(1);
        let t = days_from_civil(num(c.get(6)), month, num(c.get(2))) * 86_400
            + num(c.get(3)) * 3600
            + num(c.get(4)) * 60
            + num(c.get(5));
        out.push((t, String::from_utf8_lossy(&c[0]).into_owned()));
    }
    for c in secs.captures_iter(text) {
        out.push((num(c.get(1)), String::from_utf8_lossy(&c[1]).into_owned()));
    }
    out
}

/// The bytes of A and B where they differ (each side's differing region, by
/// lines for text), for hints.
fn differing_regions<'a>(a: &'a [u8], b: &'a [u8]) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // Widen to whole lines (or 32 bytes) so that a date split by the first
    // differing byte is seen whole.
    let widen = |s: &'a [u8], lo: usize, hi: usize| -> &'a [u8] {
        let lo = s[..lo]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(lo.saturating_sub(32), |p| p + 1)
            .max(lo.saturating_sub(256));
        let hi = s[hi..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or((hi + 32).min(s.len()), |p| hi + p)
            .min(hi + 256);
        &s[lo..hi.min(s.len())]
    };
    let ra = widen(a, prefix, a.len() - suffix);
    let rb = widen(b, prefix, b.len() - suffix);
    (vec![ra], vec![rb])
}

/// Whether `t` (found on `side`, 0 for A and 1 for B) is near a build time or
/// the epoch; that side's own build time is tried first.
fn near(t: i64, refs: &RefTimes, side: usize) -> Option<&'static str> {
    const NAMES: [&str; 2] = ["near A's build time", "near B's build time"];
    if (t - refs.builds[side]).abs() <= NEAR {
        Some(NAMES[side])
    } else if (t - refs.builds[1 - side]).abs() <= NEAR {
        Some(NAMES[1 - side])
    } else if (t - refs.epoch).abs() <= NEAR {
        Some("near the epoch")
    } else {
        None
    }
}

/// Hints about what makes A and B differ.
fn hints(a: &[u8], b: &[u8], refs: &RefTimes) -> Vec<String> {
    let mut out = Vec::new();
    let (ra, rb) = differing_regions(a, b);
    for (i, (side, regions)) in [("A", &ra), ("B", &rb)].into_iter().enumerate() {
        for region in regions {
            for (t, text) in timestamps(region) {
                if let Some(why) = near(t, refs, i) {
                    out.push(format!(
                        "{side}: {text:?} looks like a timestamp ({}), {why}",
                        Civil::utc(t)
                    ));
                }
            }
            for m in build_path().find_iter(region) {
                out.push(format!(
                    "{side}: {:?} looks like a build path",
                    String::from_utf8_lossy(m.as_bytes())
                ));
            }
        }
    }
    // Binary timestamps: 32-bit words at the first differing offset.
    if !is_text(a) || !is_text(b) {
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        if let Some(i) = first {
            for start in i.saturating_sub(3)..=i {
                for (i, (side, s)) in [("A", a), ("B", b)].into_iter().enumerate() {
                    if let Some(w) = s.get(start..start + 4) {
                        let w: [u8; 4] = w.try_into().unwrap_or_default();
                        for (order, v) in [
                            ("little-endian", u32::from_le_bytes(w)),
                            ("big-endian", u32::from_be_bytes(w)),
                        ] {
                            if let Some(why) = near(i64::from(v), refs, i) {
                                out.push(format!(
                                    "{side}: the {order} word {v} at offset {start:#x} looks like a timestamp ({}), {why}",
                                    Civil::utc(i64::from(v))
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    out.dedup();
    out.truncate(HINTS);
    out
}

fn build_path() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?:/build/|/tmp/nix-build-)[^\s\x00'\x22<>]*").expect("valid"))
}

/// Prints a report for humans.
pub fn print(report: &DiffReport, out: &mut impl Write) -> io::Result<()> {
    if report.identical {
        writeln!(
            out,
            "identical: {} and {} ({})",
            report.a, report.b, report.nar_a
        )?;
        return Ok(());
    }
    writeln!(out, "{} differs from {}", report.a, report.b)?;
    writeln!(out, "  NAR {} vs {}", report.nar_a, report.nar_b)?;
    for d in &report.differences {
        let verdict = match d.verdict {
            Some(Verdict::FixedByStripNd) => " [fixed by strip-nd]",
            Some(Verdict::NotFixed) => " [not fixed]",
            None => "",
        };
        let handler = d.handler.map(|h| format!(" ({h})")).unwrap_or_default();
        writeln!(out, "{}{handler}{verdict}", d.path)?;
        if !d.fields.is_empty() {
            writeln!(out, "  {}", d.fields.join("; "))?;
        }
        for r in &d.remaining {
            writeln!(out, "  | {r}")?;
        }
        for h in &d.hints {
            writeln!(out, "  hint: {h}")?;
        }
    }
    writeln!(
        out,
        "{} differences: {} fixed by strip-nd, {} not fixed",
        report.differences.len(),
        report.fixed,
        report.not_fixed
    )?;
    if report.fixed > 0 {
        writeln!(
            out,
            "strip-nd removes the differences marked fixed: add its setup hook (stripNdHook) to the derivation's nativeBuildInputs"
        )?;
    }
    Ok(())
}

/// Whether `e` means one side was not there, for exit codes.
pub fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_pair_into_fields() {
        let a = vec![
            "member 1: mtime 1772600767 -> 315532800".to_string(),
            "member 1: name \"b.1\" dropped".to_string(),
            "member 2: comment dropped".to_string(),
        ];
        let b = vec![
            "member 1: mtime 1818065472 -> 315532800".to_string(),
            "member 2: comment dropped".to_string(),
        ];
        assert_eq!(
            align_notes(&a, &b),
            vec![
                "member 1: mtime 1772600767 vs 1818065472".to_string(),
                "member 1: name \"b.1\" vs absent".to_string(),
            ]
        );
        let a = vec![
            "x.jar!a.txt: DOS time 2027-01-15 08:00:00 -> 1980-01-01 00:00:00".to_string(),
            "readme: DOS time 2027-01-15 08:00:00 -> 1980-01-01 00:00:00".to_string(),
        ];
        let b = vec![
            "readme: DOS time 2030-03-17 17:46:40 -> 1980-01-01 00:00:00".to_string(),
            "x.jar!a.txt: DOS time 2030-03-17 17:46:40 -> 1980-01-01 00:00:00".to_string(),
        ];
        assert_eq!(
            align_notes(&a, &b),
            vec![
                "x.jar!a.txt: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
                "readme: DOS time 2027-01-15 08:00:00 vs 2030-03-17 17:46:40".to_string(),
            ]
        );
    }

    #[test]
    fn dates_are_read_in_their_usual_forms() {
        let t = days_from_civil(2026, 3, 4) * 86_400 + 5 * 3600 + 6 * 60 + 7;
        assert_eq!(Civil::utc(t), "2026-03-04 05:06:07 UTC");
        for text in [
            &b"built 2026-03-04 05:06:07 here"[..],
            b"Wed Mar  4 05:06:07 UTC 2026",
            b"at 1772600767.",
        ] {
            let found = timestamps(text);
            assert!(
                found.iter().any(|(x, _)| *x == t),
                "{:?}: {found:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn binary_diffs_show_offsets_and_text_diffs_show_lines() {
        let d = raw_diff(b"\x00\x01\x02\x03", b"\x00\x01\xff\x03");
        assert!(d[0].starts_with("offset 0x2:"), "{d:?}");
        let d = raw_diff(b"a\nb\nc\n", b"a\nB\nc\n");
        assert!(
            d.iter().any(|l| l == "-b") && d.iter().any(|l| l == "+B"),
            "{d:?}"
        );
        let d = raw_diff(b"x\ny\n", b"y\nx\n");
        assert!(d.iter().any(|l| l.contains("another order")), "{d:?}");
    }
}
