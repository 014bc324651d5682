//! Real Nix (Debian's nix-bin 2.8, offline, as root, no nixpkgs): the setup
//! hook end to end with `nix-build --check`, the `.nix` files' evaluation, and
//! the store guard.
//!
//! The real stdenv cannot be fetched offline, so the derivations run their
//! build with `tests/nix/stdenv-runner.sh`, a few lines that stand in for
//! stdenv: they define `getAllOutputNames` and a `runHook` that calls
//! `postFixupHooks` as stdenv's fixup phase does, and source
//! `nix/setup-hook.sh` exactly as `makeSetupHook` would.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{need, run};

const NIX_CONFIG: &str =
    "substituters =\nexperimental-features = nix-command\nsandbox = false\nbuild-users-group =\n";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nix(program: &str, args: &[&OsStr]) -> Output {
    Command::new(program)
        .env("NIX_CONFIG", NIX_CONFIG)
        .env_remove("NIX_BUILD_TOP")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Shell functions every build script may use: a random clock per build, so
/// two builds of one derivation really differ. `ft` also unsets
/// `SOURCE_DATE_EPOCH` (which the stdenv stand-in exports, as stdenv does):
/// `ImageMagick`, `CPython`'s `compileall` and `ExtUtils::MakeMaker` honour it, and
/// these tests stand for the many tools that do not.
const PRELUDE: &str = r#"
t=$(( $(date +%s) + 86400 + (RANDOM * 32768 + RANDOM) % 50000000 ))
stamp=$(date -u -d "@$t" '+%Y-%m-%d %H:%M:%S')
ft() { env -u SOURCE_DATE_EPOCH faketime "$stamp" "$@"; }
rtouch() { touch -d "@$t" "$@"; }
"#;

/// One artifact kind and the shell commands that make it under `$out`.
struct Artifact {
    name: &'static str,
    script: &'static str,
}

const ARTIFACTS: &[Artifact] = &[
    Artifact {
        name: "gzip",
        script: r#"
mkdir -p "$out/share/man/man1"
printf '.TH HELLO 1\n.SH NAME\nhello\n' > hello.1 && rtouch hello.1
gzip -c hello.1 > "$out/share/man/man1/hello.1.gz"
"#,
    },
    Artifact {
        name: "zip-jar",
        script: r#"
mkdir -p d classes "$out/share/java"
echo hello > d/a.txt && echo world > d/b.txt && rtouch d d/a.txt d/b.txt
ft zip -q -r "$out/share/doc.zip" d
printf 'public class Hello { public static void main(String[] a) { System.out.println("hello"); } }\n' > Hello.java
ft javac -d classes Hello.java
ft jar cfe "$out/share/java/hello.jar" Hello -C classes .
"#,
    },
    Artifact {
        name: "ar",
        script: r#"
mkdir -p "$out/lib"
printf 'int one(void) { return 1; }\n' > one.c && printf 'int two(void) { return 2; }\n' > two.c
gcc -c one.c two.c && rtouch one.o two.o
ar rcU "$out/lib/libnums.a" one.o two.o
"#,
    },
    Artifact {
        name: "mo",
        script: r#"
mkdir -p "$out/share/locale/de/LC_MESSAGES"
printf '#include <libintl.h>\nconst char *s(void) { return gettext("Hello"); }\n' > h.c
ft xgettext --package-name=hello -o hello.pot h.c
ft msginit --no-translator -l de_DE.UTF-8 -i hello.pot -o de.po
ft msgfmt -o "$out/share/locale/de/LC_MESSAGES/hello.mo" de.po
"#,
    },
    Artifact {
        name: "png",
        script: r#"
mkdir -p "$out/share/icons"
ft /usr/bin/convert -size 4x4 xc:red "$out/share/icons/red.png"
"#,
    },
    Artifact {
        name: "pyc",
        script: r#"
mkdir -p "$out/lib/python"
printf 'X = 41\n\ndef answer():\n    return X + 1\n' > "$out/lib/python/mod.py"
rtouch "$out/lib/python/mod.py"
ft /usr/bin/python3 -m compileall -q "$out/lib/python"
"#,
    },
    Artifact {
        name: "perllocal",
        script: r#"
mkdir -p Hello/lib && cd Hello
printf 'package Hello;\nour $VERSION = "1.0";\n1;\n' > lib/Hello.pm
printf 'use ExtUtils::MakeMaker;\nWriteMakefile(NAME => "Hello", VERSION_FROM => "lib/Hello.pm");\n' > Makefile.PL
perl Makefile.PL INSTALL_BASE="$out" >/dev/null
make >/dev/null
ft make install >/dev/null
"#,
    },
    Artifact {
        name: "targz",
        script: r#"
mkdir -p t/sub "$out/share"
echo a > t/a && echo b > t/sub/b && rtouch t t/a t/sub t/sub/b
tar czf "$out/share/t.tar.gz" t
"#,
    },
];

fn nix_string(s: &str) -> String {
    format!("''{}''", s.replace("''", "'''").replace("${", "''${"))
}

/// Writes the expression with a `<name>-plain` and a `<name>-hook` attribute per
/// artifact, and returns its path.
fn expression(dir: &Path) -> PathBuf {
    let bin = env!("CARGO_BIN_EXE_strip-nd");
    let mut e = String::new();
    let _ = writeln!(e, "let");
    let _ = writeln!(
        e,
        "  mk = import {}/tests/nix/artifact.nix;",
        repo().display()
    );
    let _ = writeln!(
        e,
        "  stripNd = builtins.path {{ path = \"{bin}\"; name = \"strip-nd\"; }};"
    );
    let _ = writeln!(e, "  setupHook = {}/nix/setup-hook.sh;", repo().display());
    let _ = writeln!(e, "in {{");
    for a in ARTIFACTS {
        let script = nix_string(&format!("{PRELUDE}{}", a.script));
        for hook in [false, true] {
            let _ = writeln!(
                e,
                "  \"{}-{}\" = mk {{ name = \"{}\"; useHook = {hook}; buildScript = {script}; inherit stripNd setupHook; }};",
                a.name,
                if hook { "hook" } else { "plain" },
                a.name
            );
        }
    }
    let _ = writeln!(e, "}}");
    let path = dir.join("artifacts.nix");
    fs::write(&path, e).unwrap();
    path
}

fn build(expr: &Path, attr: &str, check: bool) -> (Option<i32>, String) {
    let mut args: Vec<&OsStr> = vec![expr.as_os_str(), OsStr::new("-A"), OsStr::new(attr)];
    args.push(OsStr::new("--no-out-link"));
    if check {
        args.push(OsStr::new("--check"));
    }
    let o = nix("nix-build", &args);
    (o.status.code(), text(&o))
}

fn need_tools() {
    need("nix-build", "nix-bin");
    need("faketime", "faketime");
    need("zip", "zip");
    need("javac", "default-jdk-headless");
    need("msginit", "gettext");
    need("convert", "imagemagick");
    need("gcc", "gcc");
    need("make", "make");
}

#[test]
#[ignore = "needs nix-bin"]
fn nix_build_check_differs_without_the_hook_and_passes_with_it() {
    need_tools();
    let t = tempfile::tempdir().unwrap();
    let expr = expression(t.path());
    let mut table = String::new();
    let mut failures = Vec::new();
    for a in ARTIFACTS {
        let mut row = format!("{:10}", a.name);
        for hook in [false, true] {
            let attr = format!("{}-{}", a.name, if hook { "hook" } else { "plain" });
            let (code, log) = build(&expr, &attr, false);
            assert_eq!(code, Some(0), "building {attr}:\n{log}");
            // --check always runs the builder again, so its log has the hook's line.
            let (code, log) = build(&expr, &attr, true);
            if hook {
                assert!(
                    log.contains("strip-nd: /nix/store/") && log.contains("self-check ok"),
                    "{attr}: no summary line from the hook:\n{log}"
                );
            }
            let _ = write!(row, "  {attr}: --check exit {}", code.unwrap_or(-1));
            let want = if hook { 0 } else { 104 };
            if code != Some(want) {
                failures.push(format!(
                    "{attr}: nix-build --check exited {code:?}, want {want}\n{log}"
                ));
            }
        }
        let _ = writeln!(table, "{row}");
    }
    eprintln!("nix-build --check per artifact kind:\n{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_outputs_hash_as_nix_says_and_their_pycs_load_without_recompiling() {
    need_tools();
    let t = tempfile::tempdir().unwrap();
    let expr = expression(t.path());
    for attr in ["gzip-hook", "pyc-hook"] {
        let (code, log) = build(&expr, attr, false);
        assert_eq!(code, Some(0), "{log}");
        let out = log
            .lines()
            .rev()
            .find(|l| l.starts_with("/nix/store/"))
            .unwrap()
            .to_string();
        let ours = run([OsStr::new("hash"), OsStr::new(&out)]);
        let ours = String::from_utf8(ours.stdout).unwrap().trim().to_string();
        let q = nix(
            "nix-store",
            &[OsStr::new("-q"), OsStr::new("--hash"), OsStr::new(&out)],
        );
        assert_eq!(
            ours,
            String::from_utf8_lossy(&q.stdout).trim(),
            "{}",
            text(&q)
        );
        let sri = run([OsStr::new("hash"), OsStr::new("--sri"), OsStr::new(&out)]);
        let p = nix(
            "nix",
            &[OsStr::new("hash"), OsStr::new("path"), OsStr::new(&out)],
        );
        assert_eq!(
            String::from_utf8(sri.stdout).unwrap().trim(),
            String::from_utf8_lossy(&p.stdout).trim()
        );
        if attr == "pyc-hook" {
            // Nix set every mtime to 1 when it registered the output; the pyc
            // must match its source's mtime so Python uses it as it is.
            let lib = Path::new(&out).join("lib/python");
            let o = Command::new("/usr/bin/python3")
                .args(["-B", "-v", "-c", "import mod; print(mod.answer())"])
                .env("PYTHONPATH", &lib)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "42");
            let pyc_used = err.lines().any(|l| {
                l.contains("code object from") && l.contains("__pycache__/mod.") && l.contains(&out)
            });
            assert!(pyc_used, "the pyc was not used (stale?):\n{err}");
        }
    }
}

#[test]
#[ignore = "needs nix-bin"]
fn every_nix_file_parses_and_the_overlay_appends_the_hook() {
    need("nix-instantiate", "nix-bin");
    for f in [
        "nix/package.nix",
        "nix/hook.nix",
        "nix/overlay.nix",
        "flake.nix",
        "tests/nix/artifact.nix",
    ] {
        let o = nix(
            "nix-instantiate",
            &[OsStr::new("--parse"), repo().join(f).as_os_str()],
        );
        assert!(o.status.success(), "{f}: {}", text(&o));
    }
    // A minimal package set, standing in for nixpkgs: just what the overlay uses.
    let t = tempfile::tempdir().unwrap();
    let test = t.path().join("eval.nix");
    fs::write(
        &test,
        format!(
            r#"
let
  overlay = import {repo}/nix/overlay.nix;
  mkPkg = attrs: attrs // {{
    overrideAttrs = f: mkPkg (attrs // f attrs);
  }};
  prev = {{
    callPackage = fn: args:
      let f = import fn; in
      if baseNameOf (toString fn) == "package.nix" then mkPkg {{ pname = "strip-nd"; meta = {{ license = "mit"; platforms = [ ]; }}; }}
      else f ({{ makeSetupHook = attrs: script: mkPkg (attrs // {{ hookScript = script; }}); }} // args);
    stdenv = {{ override = f: f {{ extraNativeBuildInputs = [ "existing-hook" ]; }}; }};
  }};
  final = prev // overlay final prev;
  hello = mkPkg {{ pname = "hello"; nativeBuildInputs = [ "pkg-config" ]; }};
  wrapped = final.withStripNd hello;
in {{
  hasPackage = final.strip-nd.pname == "strip-nd";
  hookName = final.stripNdHook.name;
  hookPropagates = map (p: p.pname) final.stripNdHook.propagatedBuildInputs;
  hookScript = baseNameOf (toString final.stripNdHook.hookScript);
  inputs = map (x: if builtins.isString x then x else x.name) wrapped.nativeBuildInputs;
  stdenvInputs = map (x: if builtins.isString x then x else x.name) final.stripNdStdenv.extraNativeBuildInputs;
  stdenvAllowedRequisites = final.stripNdStdenv.allowedRequisites;
}}
"#,
            repo = repo().display()
        ),
    )
    .unwrap();
    let o = nix(
        "nix-instantiate",
        &[
            OsStr::new("--eval"),
            OsStr::new("--strict"),
            OsStr::new("--json"),
            test.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["hasPackage"], true);
    assert_eq!(v["hookName"], "strip-nd-hook");
    assert_eq!(v["hookPropagates"], serde_json::json!(["strip-nd"]));
    assert_eq!(v["hookScript"], "setup-hook.sh");
    assert_eq!(
        v["inputs"],
        serde_json::json!(["pkg-config", "strip-nd-hook"]),
        "appends, keeping the others"
    );
    assert_eq!(
        v["stdenvInputs"],
        serde_json::json!(["existing-hook", "strip-nd-hook"])
    );
    assert_eq!(v["stdenvAllowedRequisites"], serde_json::Value::Null);
}

#[test]
#[ignore = "needs nix-bin"]
fn strip_nd_refuses_the_store_outside_a_build_and_the_store_stays_intact() {
    need_tools();
    let t = tempfile::tempdir().unwrap();
    let expr = expression(t.path());
    let (code, log) = build(&expr, "gzip-plain", false);
    assert_eq!(code, Some(0), "{log}");
    let out = log
        .lines()
        .rev()
        .find(|l| l.starts_with("/nix/store/"))
        .unwrap()
        .to_string();
    let before = fs::read(Path::new(&out).join("share/man/man1/hello.1.gz")).unwrap();
    let o = run([OsStr::new(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing to modify the Nix store") && err.contains(&out),
        "{err}"
    );
    assert_eq!(
        fs::read(Path::new(&out).join("share/man/man1/hello.1.gz")).unwrap(),
        before
    );
    let v = nix(
        "nix-store",
        &[OsStr::new("--verify"), OsStr::new("--check-contents")],
    );
    assert!(v.status.success(), "{}", text(&v));
    assert!(!text(&v).contains("modified"), "{}", text(&v));
}

/// A build with one difference strip-nd fixes (a gzip header) and one it does
/// not (the build date, written by `date`).
const DIFFERS: &str = r#"
mkdir -p "$out/share/man/man1"
printf '.TH HELLO 1\n' > hello.1 && rtouch hello.1
gzip -c hello.1 > "$out/share/man/man1/hello.1.gz"
sleep 1.1 # two builds in one second would write the same date
echo "built on $(date)" > "$out/share/build-date"
"#;

/// Writes the expression of the DIFFERS build and returns its path.
fn differs_expression(dir: &Path) -> PathBuf {
    let expr = dir.join("differs.nix");
    let script = nix_string(&format!("{PRELUDE}{DIFFERS}"));
    fs::write(
        &expr,
        format!(
            "import {}/tests/nix/artifact.nix {{ name = \"differs-{}\"; useHook = false; buildScript = {script}; stripNd = builtins.path {{ path = \"{}\"; name = \"strip-nd\"; }}; setupHook = {}/nix/setup-hook.sh; }}",
            repo().display(),
            std::process::id(),
            env!("CARGO_BIN_EXE_strip-nd"),
            repo().display()
        ),
    )
    .unwrap();
    expr
}

/// Asserts a report names the gzip mtime as fixed and the date as not fixed,
/// with a timestamp hint.
fn assert_differs_report(report: &str) {
    let gz = report
        .lines()
        .position(|l| l.starts_with("share/man/man1/hello.1.gz"))
        .expect("gzip named");
    assert!(
        report
            .lines()
            .nth(gz)
            .unwrap()
            .contains("[fixed by strip-nd]"),
        "{report}"
    );
    assert!(
        report.lines().nth(gz + 1).unwrap().contains("mtime"),
        "{report}"
    );
    let date = report
        .lines()
        .position(|l| l.starts_with("share/build-date"))
        .expect("date file named");
    assert!(
        report.lines().nth(date).unwrap().contains("[not fixed]"),
        "{report}"
    );
    assert!(
        report.lines().skip(date).take(12).any(|l| {
            l.contains("hint:") && l.contains("looks like a timestamp") && l.contains("build time")
        }),
        "{report}"
    );
}

#[test]
#[ignore = "needs nix-bin"]
fn diff_explains_a_failed_check_and_runs_as_nix_diff_hook() {
    need_tools();
    let t = tempfile::tempdir().unwrap();
    let expr = differs_expression(t.path());
    let o = nix(
        "nix-build",
        &[expr.as_os_str(), OsStr::new("--no-out-link")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = nix(
        "nix-build",
        &[
            expr.as_os_str(),
            OsStr::new("--no-out-link"),
            OsStr::new("--check"),
            OsStr::new("--keep-failed"),
        ],
    );
    assert_eq!(o.status.code(), Some(104), "{}", text(&o));
    let check = format!("{out}.check");
    let d = run([OsStr::new("diff"), OsStr::new(&out), OsStr::new(&check)]);
    let report = String::from_utf8_lossy(&d.stdout).into_owned();
    eprintln!("strip-nd diff {out} {check}:\n{report}");
    assert_eq!(d.status.code(), Some(1));
    assert_differs_report(&report);
    let _ = fs::remove_dir_all(&check);

    // As Nix's diff-hook: the report lands in the build log.
    let hook = t.path().join("diff-hook");
    fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec {} diff-hook \"$@\"\n",
            env!("CARGO_BIN_EXE_strip-nd")
        ),
    )
    .unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = Command::new("nix-build")
        .env(
            "NIX_CONFIG",
            format!(
                "{NIX_CONFIG}diff-hook = {}\nrun-diff-hook = true\n",
                hook.display()
            ),
        )
        .env_remove("NIX_BUILD_TOP")
        .args([
            expr.as_os_str(),
            OsStr::new("--no-out-link"),
            OsStr::new("--check"),
        ])
        .output()
        .unwrap();
    let log = text(&o);
    eprintln!("nix-build --check with the diff-hook:\n{log}");
    assert_eq!(o.status.code(), Some(104), "{log}");
    assert!(log.contains("strip-nd diff-hook"), "{log}");
    assert!(
        log.contains("share/man/man1/hello.1.gz") && log.contains("[fixed by strip-nd]"),
        "{log}"
    );
    assert!(
        log.contains("share/build-date") && log.contains("[not fixed]"),
        "{log}"
    );
}
