//! User date rules through the CLI on temp trees: `--rules`, `STRIP_ND_RULES`,
//! scopes relative to the root, binary files, bad rules files, and the
//! handler list.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{bin, gnu_gzip, put, run, stderr};

const HEADER_RULES: &str = r#"
[[rule]]
scope = "**/*.h"
regex = 'generated on (?P<date>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4})'
format = "%a %b %e %H:%M:%S UTC %Y"
"#;

fn rules_file(dir: &Path, text: &str) -> PathBuf {
    put(dir, "rules.toml", text.as_bytes())
}

#[test]
fn the_readme_example_rewrites_a_generated_header() {
    let cfg = tempfile::tempdir().unwrap();
    let rules = rules_file(cfg.path(), HEADER_RULES);
    let tree = tempfile::tempdir().unwrap();
    let header = put(
        tree.path(),
        "include/gen.h",
        b"/* generated on Wed Mar  4 05:06:07 UTC 2026 */\n#define X 1\n",
    );
    let other = put(
        tree.path(),
        "src/gen.c",
        b"/* generated on Wed Mar  4 05:06:07 UTC 2026 */\n",
    );
    let out = run([
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("-v"),
        tree.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(&header).unwrap(),
        b"/* generated on Tue Jan  1 00:00:00 UTC 1980 */\n#define X 1\n"
    );
    assert_eq!(
        fs::read(&other).unwrap(),
        b"/* generated on Wed Mar  4 05:06:07 UTC 2026 */\n",
        "out of scope"
    );
    assert!(
        stderr(&out).contains("[rules]: rule 1: date"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rules_come_from_the_environment_and_scopes_are_relative_to_the_root() {
    let cfg = tempfile::tempdir().unwrap();
    let rules = rules_file(
        cfg.path(),
        r#"
[[rule]]
scope = "share/*.txt"
regex = 'built (?P<date>\d{4}-\d\d-\d\d)'
format = "%Y-%m-%d"
"#,
    );
    let tree = tempfile::tempdir().unwrap();
    let inside = put(tree.path(), "share/a.txt", b"built 2026-03-04\n");
    let deeper = put(tree.path(), "share/sub/b.txt", b"built 2026-03-04\n");
    let out = bin()
        .env("STRIP_ND_RULES", &rules)
        .arg(tree.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&inside).unwrap(), b"built 1980-01-01\n");
    // `*` stays within one path component.
    assert_eq!(fs::read(&deeper).unwrap(), b"built 2026-03-04\n");
    // --rules wins over the environment, and without either nothing happens.
    put(tree.path(), "share/a.txt", b"built 2026-03-04\n");
    let out = run([tree.path().as_os_str()]);
    assert!(out.status.success());
    assert_eq!(fs::read(&inside).unwrap(), b"built 2026-03-04\n");
}

#[test]
fn binary_files_get_only_same_length_replacements() {
    let cfg = tempfile::tempdir().unwrap();
    let rules = rules_file(
        cfg.path(),
        r#"
[[rule]]
scope = "**/*.dat"
regex = 'stamp=(?P<date>\d{4}-\d\d-\d\d)'
format = "%Y-%m-%d"

[[rule]]
scope = "**/*.dat"
regex = 'long=(?P<date>\w+ \d+)'
format = "%B %Y"
"#,
    );
    let tree = tempfile::tempdir().unwrap();
    let input = b"\x7fBIN\0\0stamp=2026-03-04\0long=March 2026\0";
    let file = put(tree.path(), "lib/x.dat", input);
    let out = run([
        OsStr::new("--rules"),
        rules.as_os_str(),
        tree.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // "January 1980" is longer than "March 2026": left alone in a binary file.
    assert_eq!(
        fs::read(&file).unwrap(),
        b"\x7fBIN\0\0stamp=1980-01-01\0long=March 2026\0"
    );
    // The same dates in a text file get both replacements.
    let text = put(
        tree.path(),
        "lib/y.dat",
        b"stamp=2026-03-04 long=March 2026\n",
    );
    let out = run([
        OsStr::new("--rules"),
        rules.as_os_str(),
        tree.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(&text).unwrap(),
        b"stamp=1980-01-01 long=January 1980\n"
    );
}

#[test]
fn a_bad_rules_file_is_a_usage_error_naming_the_file_and_the_rule() {
    let cfg = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    let victim = put(
        tree.path(),
        "a.h",
        b"generated on Wed Mar  4 05:06:07 UTC 2026",
    );
    let bad = rules_file(
        cfg.path(),
        &format!(
            "{HEADER_RULES}\n[[rule]]\nscope = \"*.x\"\nregex = 'no group'\nformat = \"%Y\"\n"
        ),
    );
    for args in [
        vec![
            OsStr::new("--rules"),
            bad.as_os_str(),
            tree.path().as_os_str(),
        ],
        vec![
            OsStr::new("--rules"),
            OsStr::new("/nonexistent/rules.toml"),
            tree.path().as_os_str(),
        ],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(args[1].to_str().unwrap()), "{err}");
        if args[1] == bad.as_os_str() {
            assert!(err.contains("rule 2 (scope \"*.x\")"), "{err}");
            assert!(err.contains("named group `date`"), "{err}");
        }
    }
    let env = bin()
        .env("STRIP_ND_RULES", &bad)
        .arg(tree.path())
        .output()
        .unwrap();
    assert_eq!(env.status.code(), Some(2));
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"generated on Wed Mar  4 05:06:07 UTC 2026",
        "nothing is touched after a usage error"
    );
}

#[test]
fn list_handlers_shows_rules_off_unless_rules_are_given() {
    let line = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains(" rules "))
            .unwrap()
            .to_string()
    };
    let off = run(["--list-handlers"]);
    assert!(line(&off).contains(" off "), "{}", line(&off));
    let last = String::from_utf8_lossy(&off.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(last.contains(" rules "), "rules is last: {last}");
    let cfg = tempfile::tempdir().unwrap();
    let rules = rules_file(cfg.path(), HEADER_RULES);
    let on = run([
        OsStr::new("--list-handlers"),
        OsStr::new("--rules"),
        rules.as_os_str(),
    ]);
    assert!(line(&on).contains(" on "), "{}", line(&on));
    let disabled = run([
        OsStr::new("--list-handlers"),
        OsStr::new("--rules"),
        rules.as_os_str(),
        OsStr::new("--handlers=-rules"),
    ]);
    assert!(line(&disabled).contains(" off "), "{}", line(&disabled));
}

#[test]
fn a_file_another_handler_claims_is_not_seen_by_rules() {
    // The documented limitation: first claim wins.
    let cfg = tempfile::tempdir().unwrap();
    let rules = rules_file(
        cfg.path(),
        r#"
[[rule]]
scope = "**"
regex = '(?P<date>\d{4})'
format = "%Y"
"#,
    );
    let tree = tempfile::tempdir().unwrap();
    let gz = gnu_gzip(tree.path(), "n2026", b"2026", "2026-03-04 05:06:07");
    let file = put(tree.path(), "n2026.gz", &gz);
    let text = put(tree.path(), "plain", b"year 2026\n");
    let out = run([
        OsStr::new("--rules"),
        rules.as_os_str(),
        tree.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&text).unwrap(), b"year 1980\n");
    let after = fs::read(&file).unwrap();
    // gzip normalized its header (the name "n2026" dropped) but no rule ran on it.
    assert!(!after.windows(4).any(|w| w == b"1980"));
    assert_ne!(after, gz);
}

/// An ELF program that prints the `__DATE__` and `__TIME__` it was built with.
const STAMPED_C: &str =
    "#include <stdio.h>\nint main(void) { puts(\"built \" __DATE__ \" \" __TIME__); return 0; }\n";

const ELF_RULES: &str = r#"
[[rule]]
scope = "bin/*"
regex = 'built (?P<date>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{4})'
format = "%b %e %Y"

[[rule]]
scope = "bin/*"
regex = 'built \w{3} [ \d]\d \d{4} (?P<date>\d\d:\d\d:\d\d)'
format = "%H:%M:%S"
"#;

#[test]
#[ignore = "needs gcc"]
fn elf_date_strings_are_normalized_in_data_sections_and_the_program_still_runs() {
    crate::util::need("gcc", "gcc");
    let t = tempfile::tempdir().unwrap();
    let src = put(t.path(), "stamped.c", STAMPED_C.as_bytes());
    let exe = t.path().join("out/bin/stamped");
    fs::create_dir_all(exe.parent().unwrap()).unwrap();
    let o = std::process::Command::new("gcc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .env("SOURCE_DATE_EPOCH", "1900000000") // __DATE__ after the epoch below
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = fs::read(&exe).unwrap();
    let printed = |exe: &Path| {
        let o = std::process::Command::new(exe).output().unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(printed(&exe).starts_with("built "), "{}", printed(&exe));

    // ELF images are left byte-identical without rules.
    let out = run([
        OsStr::new("--epoch"),
        OsStr::new("315532800"),
        t.path().join("out").as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(&exe).unwrap(),
        before,
        "an ELF image changed without rules"
    );

    let rules = rules_file(t.path(), ELF_RULES);
    let out = bin()
        .args(["--json", "--epoch", "315532800", "--rules"])
        .arg(&rules)
        .arg(t.path().join("out"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = v["changes"][0]["changes"].to_string();
    assert!(notes.contains("in section .rodata"), "{notes}");
    let after = fs::read(&exe).unwrap();
    assert_eq!(after.len(), before.len());
    let differing: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    assert!(!differing.is_empty());
    assert_eq!(printed(&exe), "built Jan  1 1980 00:00:00\n");
}
