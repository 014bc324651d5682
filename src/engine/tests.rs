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
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("g"), b"grow").unwrap();
    std::fs::write(dir.path().join("other"), b"plain").unwrap();
    let config = Config {
        table: Table {
            entries: BROKEN,
            ..Table::default()
        },
        ..Config::default()
    };
    let report = run(&[dir.path().to_owned()], &Options::new(config)).unwrap();
    assert_eq!(report.self_check.status, SelfCheckStatus::Mismatch);
    assert_eq!(report.exit_code(false), ExitCode::SelfCheck);
    assert_eq!(report.self_check.changed.len(), 1);
    assert!(report.self_check.changed[0].path.ends_with("/g"));
    assert_eq!(report.self_check.changed[0].handler, "grows");
    assert_ne!(report.self_check.before, report.self_check.after);
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
