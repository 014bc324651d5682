//! Shell completions and the man page, generated from the clap definition:
//! checked by the shells and by groff, and against the options `--help` lists.

use std::collections::BTreeSet;
use std::process::Command;

use crate::util::{bin, need};

fn stdout_of(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "strip-nd {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Every `--long` option `strip-nd --help` prints.
fn long_options() -> BTreeSet<String> {
    let help = stdout_of(&["--help"]);
    let opts: BTreeSet<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .collect();
    assert!(
        opts.contains("--check") && opts.contains("--json"),
        "{opts:?}"
    );
    opts
}

/// What bash's programmable completion offers for `words` (the last one being
/// completed), with the script `strip-nd completions bash` prints loaded.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("strip-nd.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    let line = words.join(" ");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let driver = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT={}\n\
         f=$(complete -p strip-nd | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')\n\
         \"$f\" strip-nd '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        line.len(),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(driver)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "bash failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_options_and_subcommands_from_the_real_definition() {
    let offered = bash_complete(&["strip-nd", "--"]);
    for opt in long_options() {
        assert!(
            offered.contains(&opt),
            "bash does not offer {opt}: {offered:?}"
        );
    }
    assert_eq!(bash_complete(&["strip-nd", "--che"]), ["--check"]);
    // Past a subcommand, its own options (clap-rs/clap#6421 broke these).
    let hash = bash_complete(&["strip-nd", "hash", "--b"]);
    assert_eq!(hash, ["--base16", "--base32"]);
    let shells = bash_complete(&["strip-nd", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|s| s == shell), "{shells:?}");
    }
}

#[test]
#[ignore = "needs zsh, fish"]
fn zsh_and_fish_scripts_parse_and_name_every_option() {
    need("zsh", "zsh");
    need("fish", "fish");
    for (shell, flag, spell) in [("zsh", "-n", "--"), ("fish", "--no-execute", "-l ")] {
        let script = stdout_of(&["completions", shell]);
        for opt in long_options() {
            let word = format!("{spell}{}", &opt[2..]);
            assert!(script.contains(&word), "the {shell} script lacks {opt}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("strip-nd.{shell}"));
        std::fs::write(&path, script).unwrap();
        let out = Command::new(shell).arg(flag).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} {flag} rejects the script: {out:?}"
        );
    }
}

#[test]
#[ignore = "needs groff"]
fn the_man_page_renders_without_warnings_and_documents_every_option() {
    need("groff", "groff-base");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("strip-nd.1");
    std::fs::write(&page, stdout_of(&["man"])).unwrap();
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success(), "groff failed: {out:?}");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "groff warns: {warnings}");
    let text = String::from_utf8(out.stdout).unwrap();
    // groff may typeset a hyphen as U+2010; compare on plain hyphens.
    let text = text.replace(['\u{2010}', '\u{2212}'], "-");
    for opt in long_options() {
        assert!(text.contains(&opt), "the man page does not document {opt}");
    }
    for sub in ["hash", "diff", "diff-hook", "completions", "man"] {
        assert!(
            text.contains(&format!("strip-nd-{sub}")) || text.contains(sub),
            "{sub}"
        );
    }
    assert!(text.contains("SOURCE_DATE_EPOCH"));
}
