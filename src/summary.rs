//! The human summary of a run's [`Report`], printed to stderr by the CLI:
//! problems (leftovers of a killed run, malformed files, errors, self-check
//! failures), then the rewritten files and the totals.

use std::fmt;
use std::io::Write;

use crate::report::{Mode, Report, SelfCheckStatus};

/// A file's notes separated by `; `, written one by one: a jar of 100,000
/// members has half a million notes, which `join` would first copy into
/// one 40 MB string.
struct Joined<'a>(&'a [String]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for note in self.0 {
            f.write_str(sep)?;
            f.write_str(note)?;
            sep = "; ";
        }
        Ok(())
    }
}

fn problems(e: &mut impl Write, r: &Report) {
    // Leftovers of a killed run are always shown: they say a run died here.
    let verb = |done: &'static str, todo: &'static str| {
        if r.mode == Mode::Check { todo } else { done }
    };
    for p in &r.recovered.removed_temps {
        let v = verb("removed", "would remove");
        let _ = writeln!(e, "strip-nd: {v} {p}: a temp file left by a killed run");
    }
    for p in &r.recovered.restored_modes {
        let v = verb("restored", "would restore");
        let _ = writeln!(
            e,
            "strip-nd: {v} the mode of {p}: a killed run had made it writable"
        );
    }
    for p in &r.recovered.rejoined_links {
        let v = verb("rejoined", "would rejoin");
        let _ = writeln!(
            e,
            "strip-nd: {v} {p} to its hardlink group: a killed run had split it"
        );
    }
    for n in &r.malformed {
        let _ = writeln!(
            e,
            "strip-nd: warning: {}: {} handler: {}; left untouched",
            n.path,
            n.handler.unwrap_or("?"),
            n.reason
        );
    }
    for err in &r.errors {
        let _ = writeln!(e, "strip-nd: error: {err}");
    }
    for c in &r.self_check.changed {
        let _ = writeln!(
            e,
            "strip-nd: self-check: {} changed again by the {} handler: {}",
            c.path,
            c.handler,
            Joined(&c.changes)
        );
    }
    for p in &r.self_check.changed_on_disk {
        let _ = writeln!(
            e,
            "strip-nd: self-check: {} changed on disk during the run (by another process?)",
            p.path
        );
    }
    if r.self_check.status == SelfCheckStatus::Mismatch {
        let _ = writeln!(
            e,
            "strip-nd: SELF-CHECK FAILED: {}",
            if r.self_check.changed.is_empty() {
                "files changed on disk while strip-nd ran, so the hash may not be the tree's"
            } else {
                "normalizing the output a second time would change it; \
                 this is a strip-nd bug, please report it"
            }
        );
    }
}

fn details(e: &mut impl Write, r: &Report, verbose: u8) {
    let verb = if r.mode == Mode::Check {
        "would rewrite"
    } else {
        "rewrote"
    };
    if r.mode == Mode::Check || verbose > 0 {
        for c in &r.changes {
            let _ = writeln!(
                e,
                "{verb} {} [{}]: {}",
                c.path,
                c.handler,
                Joined(&c.changes)
            );
        }
    }
    if verbose > 0 {
        for n in &r.skipped {
            let _ = writeln!(e, "skipped {}: {}", n.path, n.reason);
        }
        for p in &r.mtime_paths {
            let _ = writeln!(e, "mtime {p}: clamped to {}", r.epoch);
        }
    }
}

fn totals(e: &mut impl Write, r: &Report, verbose: u8) {
    let verb = if r.mode == Mode::Check {
        "would rewrite"
    } else {
        "rewrote"
    };
    let per = per_handler(r);
    let _ = writeln!(
        e,
        "strip-nd: {} files seen, {verb} {}{}, {} malformed, {} skipped, {} mtimes {}; epoch {} ({})",
        r.files_seen,
        r.changes.len(),
        per,
        r.malformed.len(),
        r.skipped.len(),
        r.mtimes_clamped,
        if r.mode == Mode::Check {
            "to clamp"
        } else {
            "clamped"
        },
        r.epoch,
        r.epoch_source,
    );
    if !r.skipped.is_empty() && verbose == 0 {
        let mut reasons: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for n in &r.skipped {
            *reasons
                .entry(n.reason.split(',').next().unwrap_or(""))
                .or_default() += 1;
        }
        for (why, count) in reasons {
            let _ = writeln!(e, "strip-nd:   skipped {count}: {why} (-v lists them)");
        }
    }
    for root in &r.roots {
        match (&root.nar_hash, &root.nar_error) {
            (Some(h), _) => {
                let _ = writeln!(e, "strip-nd: {} {h}", root.path);
            }
            (None, Some(err)) => {
                let _ = writeln!(e, "strip-nd: {}: no NAR hash: {err}", root.path);
            }
            (None, None) => {}
        }
    }
    let check = match r.self_check.status {
        SelfCheckStatus::Ok => format!(
            "self-check ok ({} threads, reverse order)",
            r.self_check.jobs
        ),
        SelfCheckStatus::Mismatch => "self-check FAILED".into(),
        SelfCheckStatus::NotRun => "self-check not run".into(),
        SelfCheckStatus::Incomplete => {
            "self-check incomplete (a root could not be NAR-hashed)".into()
        }
    };
    let phases: Vec<String> = r
        .phases_ms
        .iter()
        .map(|(p, ms)| format!("{p} {ms}"))
        .collect();
    let _ = writeln!(
        e,
        "strip-nd: {check}; {} ms ({})",
        r.elapsed_ms,
        phases.join(", ")
    );
}

/// One line per root: what a build log needs, and nothing more.
fn oneline(e: &mut impl Write, r: &Report) {
    let per = per_handler(r);
    let check = match r.self_check.status {
        SelfCheckStatus::Ok => "self-check ok",
        SelfCheckStatus::Mismatch => "self-check FAILED",
        SelfCheckStatus::NotRun => "no self-check",
        SelfCheckStatus::Incomplete => "self-check incomplete",
    };
    for root in &r.roots {
        let _ = writeln!(
            e,
            "strip-nd: {}: {} files, rewrote {}{}, {} malformed, {} skipped, {} mtimes clamped, {check}, {}, {} ms",
            root.path,
            r.files_seen,
            r.changes.len(),
            per,
            r.malformed.len(),
            r.skipped.len(),
            r.mtimes_clamped,
            root.nar_hash.as_deref().unwrap_or("no NAR hash"),
            r.elapsed_ms,
        );
    }
}

/// ` (gzip 3, zip 1)`: the files each handler rewrote; empty when none.
fn per_handler(r: &Report) -> String {
    let per: Vec<String> = r
        .per_handler
        .iter()
        .filter(|(_, s)| s.rewritten > 0)
        .map(|(h, s)| format!("{h} {}", s.rewritten))
        .collect();
    if per.is_empty() {
        String::new()
    } else {
        format!(" ({})", per.join(", "))
    }
}

/// Prints the run's summary to stderr: problems always, then one line per
/// root (`oneline`, for build logs) or, unless `quiet`, the rewritten files
/// (under `--check` or `-v`) and the totals.
pub fn print(r: &Report, verbose: u8, quiet: bool, one_line: bool) {
    let mut e = std::io::stderr().lock();
    write(&mut e, r, verbose, quiet, one_line);
}

/// [`print`] to any writer.
pub fn write(e: &mut impl Write, r: &Report, verbose: u8, quiet: bool, one_line: bool) {
    problems(e, r);
    if one_line {
        oneline(e, r);
    } else if !quiet {
        details(e, r, verbose);
        totals(e, r, verbose);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{EpochSource, FileChange, ReportPath, SelfCheck};
    use std::path::Path;

    fn report(mode: Mode, changes: Vec<FileChange>) -> Report {
        Report {
            mode,
            epoch: 1,
            epoch_source: EpochSource::Flag,
            jobs: 1,
            handlers: vec!["zip"],
            files_seen: 1,
            per_handler: std::collections::BTreeMap::new(),
            recovered: crate::report::RecoveryReport::default(),
            changes,
            malformed: Vec::new(),
            skipped: Vec::new(),
            errors: Vec::new(),
            mtimes_clamped: 0,
            mtime_paths: Vec::new(),
            roots: Vec::new(),
            self_check: SelfCheck {
                status: SelfCheckStatus::NotRun,
                before: Vec::new(),
                after: Vec::new(),
                changed: Vec::new(),
                changed_on_disk: Vec::new(),
                jobs: 2,
            },
            elapsed_ms: 0,
            phases_ms: Vec::new(),
        }
    }

    #[test]
    fn a_files_notes_print_on_its_line_separated_by_semicolons() {
        let changed = FileChange {
            path: ReportPath::from(Path::new("out/a.jar")),
            handler: "zip",
            changes: vec!["a: x -> y".into(), "b: z dropped".into(), "c".into()],
        };
        let mut r = report(Mode::Check, vec![changed.clone()]);
        let mut out = Vec::new();
        write(&mut out, &r, 0, false, false);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("would rewrite out/a.jar [zip]: a: x -> y; b: z dropped; c")
        );
        r.self_check.changed.push(changed);
        let mut out = Vec::new();
        write(&mut out, &r, 0, true, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "strip-nd: self-check: out/a.jar changed again by the zip handler: \
             a: x -> y; b: z dropped; c\n"
        );
    }
}
