//! The engine's unit tests: the self-check with test handlers, naming, companions.

use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::examine::companion_mtime;
use super::roots::relative_to_roots;
use super::{Options, run};
use crate::config::Config;
use crate::dispatch::{HandlerSet, Table};
use crate::handler::{Change, Handler, Settings};
use crate::handler::{Context, FormatError, Outcome};
use crate::report::ExitCode;
use crate::report::SelfCheckStatus;

/// A deliberately broken handler: it is not idempotent, so the self-check
/// must catch it.
struct Grows;

impl Handler for Grows {
    fn name(&self) -> &'static str {
        "grows"
    }
    fn describe(&self) -> &'static str {
        "test handler that appends a byte every time"
    }
    fn sniff(&self, head: &[u8], _: &Context) -> bool {
        head.starts_with(b"grow")
    }
    fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
        let mut bytes = input.to_vec();
        bytes.push(b'!');
        Ok(Outcome::Rewritten {
            bytes,
            changes: vec![Change::remark("", "appended a byte")],
        })
    }
}

static BROKEN: &[&dyn Handler] = &[&Grows];

#[test]
fn self_check_catches_a_handler_that_is_not_idempotent() {
    let dir = tree(&[("g", b"grow"), ("other", b"plain")]);
    let report = run_table(BROKEN, dir.path());
    assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
    assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
    assert_eq!(report.self_check.changed.len(), 1);
    assert!(report.self_check.changed[0].path.ends_with("/g"));
    assert_eq!(report.self_check.changed[0].handler, "grows");
    assert!(report.self_check.changed_on_disk.is_empty());
    // The second pass is dry: the file was rewritten once, by the main pass.
    assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), b"grow!");
}

/// A fresh tree holding `files` (name, contents).
fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Runs `handlers` alone over `dir` with two threads (the self-check's
/// second pass has three).
fn run_table(handlers: &'static [&'static dyn Handler], dir: &Path) -> crate::report::Report {
    let config = Config {
        table: Table {
            entries: handlers,
            ..Table::default()
        },
        ..Config::default()
    };
    let mut opts = Options::new(config);
    opts.jobs = 2;
    run(&[dir.to_owned()], &opts).unwrap()
}

fn changed_names(report: &crate::report::Report) -> Vec<String> {
    report
        .self_check
        .changed
        .iter()
        .map(|c| c.path.path.rsplit('/').next().unwrap().to_owned())
        .collect()
}

/// A broken handler whose output is the thread count of the pool it runs in.
struct Threads;

impl Handler for Threads {
    fn name(&self) -> &'static str {
        "threads"
    }
    fn describe(&self) -> &'static str {
        "test handler that writes the thread count"
    }
    fn sniff(&self, head: &[u8], _: &Context) -> bool {
        head.starts_with(b"threads")
    }
    fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
        let want = format!("threads {}", rayon::current_num_threads()).into_bytes();
        if input == want {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Rewritten {
            bytes: want,
            changes: vec![Change::remark("", "wrote the thread count")],
        })
    }
}

static THREADS: &[&dyn Handler] = &[&Threads];

#[test]
fn self_check_catches_a_handler_whose_output_depends_on_the_thread_count() {
    let dir = tree(&[("t", b"threads ?"), ("other", b"plain")]);
    let report = run_table(THREADS, dir.path());
    assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
    assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
    assert_eq!(changed_names(&report), ["t"]);
    assert_eq!(report.self_check.jobs, 3);
    assert_eq!(std::fs::read(dir.path().join("t")).unwrap(), b"threads 2");
}

/// A broken handler whose output is the order in which it met its files.
struct Visits;

static VISITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Handler for Visits {
    fn name(&self) -> &'static str {
        "visits"
    }
    fn describe(&self) -> &'static str {
        "test handler that numbers the files it meets"
    }
    fn sniff(&self, head: &[u8], _: &Context) -> bool {
        head.starts_with(b"visit")
    }
    fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
        let n = VISITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let want = format!("visit {}", n % 2).into_bytes();
        if input == want {
            return Ok(Outcome::Unchanged);
        }
        Ok(Outcome::Rewritten {
            bytes: want,
            changes: vec![Change::remark("", "numbered the file")],
        })
    }
}

static ORDERED: &[&dyn Handler] = &[&Visits];

#[test]
fn self_check_catches_a_handler_whose_output_depends_on_the_order() {
    // Two files in one directory are one batch: met in name order by the
    // main pass (a = 0, b = 1), in reverse by the second (b = 0, a = 1).
    let dir = tree(&[("a", b"visit ?"), ("b", b"visit ?")]);
    let report = run_table(ORDERED, dir.path());
    assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
    assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
    assert_eq!(changed_names(&report), ["a", "b"]);
}

/// A handler that is right, run beside another process that writes to the
/// tree: examining its file the second time, it appends to `victim`.
struct Meddles;

static VICTIM: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

impl Handler for Meddles {
    fn name(&self) -> &'static str {
        "meddles"
    }
    fn describe(&self) -> &'static str {
        "test handler that changes another file while the self-check runs"
    }
    fn sniff(&self, head: &[u8], _: &Context) -> bool {
        head.starts_with(b"meddle")
    }
    fn normalize(&self, input: &[u8], _: &Context) -> Result<Outcome, FormatError> {
        if input == b"meddle 1" {
            return Ok(Outcome::Rewritten {
                bytes: b"meddle 2".to_vec(),
                changes: vec![Change::remark("", "counted")],
            });
        }
        if let Some(victim) = VICTIM.lock().unwrap().as_ref() {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(victim)
                .unwrap();
            f.write_all(b" and more").unwrap();
        }
        Ok(Outcome::Unchanged)
    }
}

static MEDDLING: &[&dyn Handler] = &[&Meddles];

#[test]
fn self_check_names_a_file_changed_on_disk_between_the_passes() {
    let dir = tree(&[("m", b"meddle 1"), ("victim", b"plain")]);
    let victim = dir.path().join("victim");
    *VICTIM.lock().unwrap() = Some(victim.clone());
    let report = run_table(MEDDLING, dir.path());
    assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
    assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
    assert!(report.self_check.changed.is_empty(), "{report:#?}");
    let named: Vec<_> = report
        .self_check
        .changed_on_disk
        .iter()
        .map(|p| p.path.clone())
        .collect();
    assert_eq!(named, [victim.display().to_string()]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"plain and more");
}

#[test]
fn files_are_named_relative_to_their_root() {
    let roots = [PathBuf::from("out/a"), PathBuf::from("/abs/b")];
    let rel = |p: &str| relative_to_roots(Path::new(p), &roots);
    assert_eq!(rel("out/a/include/x.h"), Path::new("include/x.h"));
    assert_eq!(rel("/abs/b/x.h"), Path::new("x.h"));
    // A root that is the file itself: its name.
    assert_eq!(rel("out/a"), Path::new("a"));
}

#[test]
fn companion_mtimes_follow_final_mtime_then_the_clamp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("m.py");
    std::fs::write(&src, b"x = 1\n").unwrap();
    filetime::set_file_mtime(&src, FileTime::from_unix_time(2_000_000_000, 0)).unwrap();
    let config = Config::with_epoch(1_000);
    assert_eq!(companion_mtime(&src, &config, true), Some(1_000));
    assert_eq!(companion_mtime(&src, &config, false), Some(2_000_000_000));
    let mut nix = Config::with_epoch(1_000);
    nix.settings.final_mtime = Some(1);
    assert_eq!(companion_mtime(&src, &nix, true), Some(1));
    assert_eq!(
        companion_mtime(&dir.path().join("gone.py"), &config, true),
        None
    );
    assert_eq!(companion_mtime(dir.path(), &config, true), None);
}

/// The first-clock case of every corpus folder (`corpus/<fmt>/*.1.*`),
/// plus a file for the rules handler: a tree every handler has work in.
fn tree_for_every_handler(dir: &Path) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for fmt in std::fs::read_dir(&corpus).unwrap() {
        let fmt = fmt.unwrap().path();
        let Ok(entries) = std::fs::read_dir(&fmt) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && name.contains(".1.") {
                let to = dir.join(fmt.file_name().unwrap());
                std::fs::create_dir_all(&to).unwrap();
                std::fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    std::fs::write(dir.join("stamp.txt"), b"built on 2030-05-06\n").unwrap();
}

#[test]
fn self_check_passes_for_the_real_handlers() {
    let dir = tempfile::tempdir().unwrap();
    tree_for_every_handler(dir.path());
    let rules = crate::rules::Rules::parse(
        "[[rule]]\nscope = \"stamp.txt\"\nregex = 'built on (?P<date>\\d{4}-\\d\\d-\\d\\d)'\nformat = \"%Y-%m-%d\"\n",
        1_000_000_000,
    )
    .unwrap();
    let mut enabled = HandlerSet::default();
    enabled.set(crate::dispatch::by_name("rules").unwrap().0, true);
    let config = Config {
        settings: Settings {
            rules: Some(std::sync::Arc::new(rules)),
            ..Config::with_epoch(1_000_000_000).settings
        },
        table: Table {
            enabled,
            ..Table::default()
        },
    };
    let report = run(&[dir.path().to_owned()], &Options::new(config)).unwrap();
    assert_eq!(report.self_check.status, SelfCheckStatus::Ok, "{report:#?}");
    assert_eq!(report.exit_code(true), ExitCode::Success, "{report:#?}");
    // The second pass had work to check in every handler of the table.
    for h in crate::handlers::HANDLERS {
        let stats = report.per_handler.get(h.name());
        assert!(
            stats.is_some_and(|s| s.rewritten > 0),
            "no corpus file rewritten by {}: {stats:?}",
            h.name()
        );
    }
}
