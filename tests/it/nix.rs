//! Real Nix (Debian's nix-bin 2.8, offline, as root, no nixpkgs): the setup
//! hook end to end with `nix-build --check`, the `.nix` files' evaluation, and
//! the store guard.
//!
//! The real stdenv cannot be fetched offline, so the derivations are built by
//! a model of it (`tests/nix/`): `artifact.nix` stands for `mkDerivation`,
//! `stdenv-runner.sh` for stdenv's builder (structured attributes, inputs
//! sourced in stdenv's order with its default hooks last, `runHook` running a
//! `postFixup` attribute before `postFixupHooks`, the fixup phase),
//! `make-setup-hook.nix` for `makeSetupHook` (with its `@name@`
//! substitutions), and `default-hooks/` for two of stdenv's own hooks. The
//! hook itself is `nix/hook.nix` around `nix/setup-hook.sh`, built by that
//! model around the binary under test (`strip-nd-hook.nix`).

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

/// The `let` bindings every expression starts with: `mk` (the `mkDerivation`
/// model), `hook` (nix/hook.nix around the binary under test) and `hookNamed`
/// (another copy of it, around a strip-nd package of another name).
fn prelude() -> String {
    let repo = repo();
    let repo = repo.display();
    let bin = env!("CARGO_BIN_EXE_strip-nd");
    format!(
        "let\n  mk = import {repo}/tests/nix/artifact.nix;\n  \
         bin = builtins.path {{ path = \"{bin}\"; name = \"strip-nd\"; }};\n  \
         hookNamed = pname: import {repo}/tests/nix/strip-nd-hook.nix {{ inherit bin pname; }};\n  \
         hook = hookNamed \"strip-nd\";\n"
    )
}

/// Writes the expression with a `<name>-plain` and a `<name>-hook` attribute per
/// artifact, and returns its path.
fn expression(dir: &Path) -> PathBuf {
    let mut e = prelude();
    let _ = writeln!(e, "in {{");
    for a in ARTIFACTS {
        let script = nix_string(&format!("{PRELUDE}{}", a.script));
        for hook in [false, true] {
            let attr = format!("{}-{}", a.name, if hook { "hook" } else { "plain" });
            let _ = writeln!(
                e,
                "  \"{attr}\" = mk {{ name = \"{attr}\"; nativeBuildInputs = [ {} ]; buildScript = {script}; }};",
                if hook { "hook" } else { "" }
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

/// Writes a minimal package set standing in for nixpkgs under `dir`, just
/// what the overlay uses, and returns its directory. Its `path` is a second
/// copy (what `import pkgs.path` gives) whose strip-nd has another store
/// path, so a test can tell which instance built a hook.
fn write_mock_nixpkgs(dir: &Path) -> PathBuf {
    let set = dir.join("set");
    let unhooked = dir.join("unhooked");
    fs::create_dir(&set).unwrap();
    fs::create_dir(&unhooked).unwrap();
    fs::write(
        set.join("default.nix"),
        format!(
            r#"
{{ hash ? "00000000000000000000000000000000", ... }}:
let
  mkPkg = attrs: attrs // {{
    overrideAttrs = f: mkPkg (attrs // f attrs);
  }};
in {{
  inherit mkPkg;
  path = {unhooked};
  callPackage = fn: args:
    let f = import fn; in
    if baseNameOf (toString fn) == "package.nix" then mkPkg {{ pname = "strip-nd"; outPath = "/nix/store/${{hash}}-strip-nd"; meta = {{ license = "mit"; platforms = [ ]; }}; }}
    else f ({{ makeSetupHook = attrs: script: mkPkg (attrs // {{ hookScript = script; }}); }} // args);
  stdenv = {{
    hostPlatform.system = "x86_64-linux";
    override = f: f {{ extraNativeBuildInputs = [ "existing-hook" ]; }};
  }};
}}
"#,
            unhooked = unhooked.display()
        ),
    )
    .unwrap();
    fs::write(
        unhooked.join("default.nix"),
        format!(
            r#"args: import {set} {{ hash = "11111111111111111111111111111111"; }}"#,
            set = set.display()
        ),
    )
    .unwrap();
    set
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
        "tests/nix/make-setup-hook.nix",
        "tests/nix/strip-nd-hook.nix",
    ] {
        let o = nix(
            "nix-instantiate",
            &[OsStr::new("--parse"), repo().join(f).as_os_str()],
        );
        assert!(o.status.success(), "{f}: {}", text(&o));
    }
    // A minimal package set, standing in for nixpkgs: just what the overlay
    // uses. `path` is a second copy of it (what `import pkgs.path` gives),
    // whose strip-nd has another store path, so the test can tell which
    // instance built the hook that stripNdStdenv carries.
    let t = tempfile::tempdir().unwrap();
    let test = t.path().join("eval.nix");
    let set = write_mock_nixpkgs(t.path());
    fs::write(
        &test,
        format!(
            r#"
let
  overlay = import {repo}/nix/overlay.nix;
  prev = import {set} {{ }};
  mkPkg = prev.mkPkg;
  final = prev // overlay final prev;
  hello = mkPkg {{ pname = "hello"; nativeBuildInputs = [ "pkg-config" ]; }};
  wrapped = final.withStripNd hello;
in {{
  hasPackage = final.strip-nd.pname == "strip-nd";
  hookName = final.stripNdHook.name;
  hookPropagates = final.stripNdHook.propagatedBuildInputs or [ ];
  hookStripNd = final.stripNdHook.substitutions.stripNd;
  hookScript = baseNameOf (toString final.stripNdHook.hookScript);
  inputs = map (x: if builtins.isString x then x else x.name) wrapped.nativeBuildInputs;
  stdenvInputs = map (x: if builtins.isString x then x else x.name) final.stripNdStdenv.extraNativeBuildInputs;
  stdenvAllowedRequisites = final.stripNdStdenv.allowedRequisites;
  stdenvHookStripNd = (builtins.elemAt final.stripNdStdenv.extraNativeBuildInputs 1).substitutions.stripNd;
}}
"#,
            repo = repo().display(),
            set = set.display()
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
    assert_eq!(
        v["hookStripNd"], "/nix/store/00000000000000000000000000000000-strip-nd/bin/strip-nd",
        "@stripNd@ is the store path of the binary"
    );
    assert_eq!(
        v["hookPropagates"],
        serde_json::json!([]),
        "strip-nd is not put on PATH"
    );
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
    assert_eq!(
        v["stdenvHookStripNd"], "/nix/store/11111111111111111111111111111111-strip-nd/bin/strip-nd",
        "the whole-set stdenv's hook is built from nixpkgs without the overlay, so it cannot need itself"
    );
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
            "{}in mk {{ name = \"differs-{}\"; buildScript = {script}; }}",
            prelude(),
            std::process::id(),
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

/// A man page gzipped with its name and a fixed mtime (1700000000, after the
/// epoch): the same bytes every build, and something strip-nd rewrites.
const GZIP_MAN: &str = r#"
mkdir -p "$out/share/man/man1"
printf '.TH HELLO 1\n.SH NAME\nhello\n' > hello.1 && touch -d @1700000000 hello.1
gzip -c hello.1 > "$out/share/man/man1/hello.1.gz"
"#;

/// A derivation name no earlier run used, so that `nix-build` really builds
/// and its log has the hook's lines.
fn fresh(stem: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{stem}-{}-{nanos}", std::process::id())
}

/// Writes `prelude() + extra_let + in { attrs }` and returns its path.
fn write_expression(dir: &Path, file: &str, extra_let: &str, attrs: &str) -> PathBuf {
    let path = dir.join(file);
    fs::write(&path, format!("{}{extra_let}in {{\n{attrs}}}\n", prelude())).unwrap();
    path
}

/// The output path `nix-build` printed last.
fn out_path(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.starts_with("/nix/store/"))
        .unwrap_or_else(|| panic!("no output path in:\n{log}"))
        .to_string()
}

/// The hook's one-line summaries in a build log: (output path, NAR hash).
fn summaries(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("strip-nd: /nix/store/")?;
            let (path, tail) = rest.split_once(": ")?;
            let hash = tail.split(", ").find(|f| f.starts_with("sha256:"))?;
            Some((format!("/nix/store/{path}"), hash.to_string()))
        })
        .collect()
}

/// The NAR hash Nix registered for a store path.
fn store_hash(path: &str) -> String {
    let q = nix(
        "nix-store",
        &[OsStr::new("-q"), OsStr::new("--hash"), OsStr::new(path)],
    );
    assert!(q.status.success(), "{}", text(&q));
    String::from_utf8_lossy(&q.stdout).trim().to_string()
}

/// Asserts strip-nd finds nothing left to do in a store path (`--check` is
/// read-only, so it may look at the store).
fn assert_normalized(path: &str) {
    let o = run([OsStr::new("--check"), OsStr::new(path)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{path} is not normalized:\n{}",
        text(&o)
    );
}

#[test]
fn oneline_gives_way_to_a_later_v_or_q() {
    // The hook puts --oneline first and the user's stripNdFlags after it.
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a"), "a\n").unwrap();
    let dir = t.path().as_os_str();
    let err = |args: &[&str]| {
        let mut a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        a.push(dir);
        let o = run(a);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let oneline = ": 1 files, rewrote 0";
    let full = "files seen";
    let e = err(&["--check", "--no-mtimes", "--oneline", "-v"]);
    assert!(e.contains(full) && !e.contains(oneline), "{e}");
    let e = err(&["--check", "--no-mtimes", "-v", "--oneline"]);
    assert!(e.contains(oneline) && !e.contains(full), "{e}");
    let e = err(&["--check", "--no-mtimes", "--oneline", "-q"]);
    assert!(e.is_empty(), "{e}");
    let e = err(&["--check", "--no-mtimes", "-q", "--oneline"]);
    assert!(e.contains(oneline), "{e}");
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_takes_v_or_q_in_strip_nd_flags() {
    need("nix-build", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    let script = nix_string(GZIP_MAN);
    let cases = [
        ("v", r#"stripNdFlags = "-v";"#),
        ("q", r#"stripNdFlags = "-q";"#),
        (
            "v-list",
            r#"__structuredAttrs = true; stripNdFlags = [ "-v" ];"#,
        ),
        (
            "q-list",
            r#"__structuredAttrs = true; stripNdFlags = [ "-q" ];"#,
        ),
    ];
    let mut attrs = String::new();
    for (attr, extra) in cases {
        let _ = writeln!(
            attrs,
            "  \"{attr}\" = mk {{ name = \"{}\"; nativeBuildInputs = [ hook ]; buildScript = {script}; {extra} }};",
            fresh(&format!("flags-{attr}"))
        );
    }
    let expr = write_expression(t.path(), "flags.nix", "", &attrs);
    for (attr, _) in cases {
        let (code, log) = build(&expr, attr, false);
        assert_eq!(code, Some(0), "{attr}:\n{log}");
        let out = out_path(&log);
        assert_normalized(&out);
        assert!(
            summaries(&log).is_empty(),
            "{attr}: the hook's --oneline was not replaced:\n{log}"
        );
        if attr.starts_with('v') {
            assert!(
                log.contains("share/man/man1/hello.1.gz [gzip]: member 1: mtime 1700000000"),
                "{attr}: -v lists no change:\n{log}"
            );
        } else {
            assert!(
                !log.lines().any(|l| l.starts_with("strip-nd:")),
                "{attr}: -q printed a summary:\n{log}"
            );
        }
    }
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_runs_once_per_output_when_sourced_twice() {
    need("nix-build", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    let script = nix_string(
        r#"
mkdir -p "$out/share/doc" "$man/share/man/man1"
echo hello > "$out/share/doc/README"
printf '.TH HELLO 1\n' > "$man/share/man/man1/hello.1" && touch -d @1700000000 "$man/share/man/man1/hello.1"
"#,
    );
    let cases = [
        // The same hook as a native and as a host input.
        (
            "native-and-host",
            "nativeBuildInputs = [ hook ]; buildInputs = [ hook ];",
        ),
        // The overlay's stripNdStdenv carries one copy, the package another
        // (the flake's `packages.hook`, say).
        (
            "stdenv-and-native",
            r#"extraNativeBuildInputs = [ hook ]; nativeBuildInputs = [ (hookNamed "strip-nd-flake") ];"#,
        ),
    ];
    let mut attrs = String::new();
    for (attr, inputs) in cases {
        let _ = writeln!(
            attrs,
            "  \"{attr}\" = mk {{ name = \"{}\"; outputs = [ \"out\" \"man\" ]; {inputs} buildScript = {script}; }};",
            fresh(&format!("twice-{attr}"))
        );
    }
    let expr = write_expression(t.path(), "twice.nix", "", &attrs);
    for (attr, _) in cases {
        let (code, log) = build(&expr, attr, false);
        assert_eq!(code, Some(0), "{attr}:\n{log}");
        let runs = summaries(&log);
        let mut outputs: Vec<&str> = runs.iter().map(|(p, _)| p.as_str()).collect();
        outputs.sort_unstable();
        outputs.dedup();
        assert_eq!(outputs.len(), 2, "{attr}: two outputs:\n{log}");
        assert_eq!(
            runs.len(),
            2,
            "{attr}: strip-nd ran more than once on an output:\n{log}"
        );
        let man = outputs.iter().find(|p| p.ends_with("-man")).unwrap();
        assert_normalized(man);
    }
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_runs_last_in_fixup_and_prints_the_final_hash() {
    need("nix-build", "nix-bin");
    need("faketime", "faketime");
    let t = tempfile::tempdir().unwrap();
    // A setup hook from buildInputs (sourced after this one) whose postFixup
    // hook writes a gzip with a new mtime every build.
    let late = nix_string(
        r#"
postFixupHooks+=(_lateWritesAGzip)
_lateWritesAGzip() {
    echo "late hook: writing $out/share/late.gz"
    mkdir -p "$out/share"
    echo late > late.txt
    touch -d "@$(( 1700000000 + RANDOM * 32768 + RANDOM ))" late.txt
    gzip -c late.txt > "$out/share/late.gz"
}
"#,
    );
    let extra_let = format!(
        "  lateHook = import {}/tests/nix/make-setup-hook.nix {{ name = \"late-hook\"; }} (builtins.toFile \"late-hook.sh\" {late});\n",
        repo().display()
    );
    // An absolute symlink into the output, for stdenv's make-symlinks-relative
    // (a default hook, sourced after the hook), and the package's own
    // postFixup, which runs before every hook of postFixupHooks.
    let script = nix_string(
        r#"
mkdir -p "$out/share"
echo target > "$out/share/target"
ln -s "$out/share/target" "$out/share/link"
"#,
    );
    let own = nix_string(
        r#"
echo own > own.txt && touch -d "@$(( 1700000000 + RANDOM ))" own.txt
gzip -c own.txt > "$out/share/own.gz"
"#,
    );
    let mut attrs = String::new();
    for (attr, extra) in [
        ("plain-attrs", ""),
        ("structured", "__structuredAttrs = true;"),
    ] {
        let _ = writeln!(
            attrs,
            "  \"{attr}\" = mk {{ name = \"{}\"; nativeBuildInputs = [ hook ]; buildInputs = [ lateHook ]; buildScript = {script}; postFixup = {own}; {extra} }};",
            fresh(&format!("last-{attr}"))
        );
    }
    let expr = write_expression(t.path(), "last.nix", &extra_let, &attrs);
    for attr in ["plain-attrs", "structured"] {
        let (code, log) = build(&expr, attr, false);
        assert_eq!(code, Some(0), "{attr}:\n{log}");
        let out = out_path(&log);
        assert_eq!(
            fs::read_link(Path::new(&out).join("share/link")).unwrap(),
            Path::new("target"),
            "{attr}: make-symlinks-relative did not run"
        );
        let late = log.find("late hook: writing").expect("the late hook ran");
        let runs = summaries(&log);
        assert_eq!(runs.len(), 1, "{attr}:\n{log}");
        assert!(
            log.find(&format!("strip-nd: {out}:")).unwrap() > late,
            "{attr}: strip-nd ran before the late hook:\n{log}"
        );
        assert_eq!(
            runs[0],
            (out.clone(), store_hash(&out)),
            "{attr}: the hash the hook printed is not the output's final one:\n{log}"
        );
        assert_normalized(&out);
        let (code, log) = build(&expr, attr, true);
        assert_eq!(code, Some(0), "{attr}: nix-build --check differs:\n{log}");
    }
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_calls_its_own_strip_nd_and_says_how_to_skip_it() {
    need("nix-build", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    // A strip-nd earlier on PATH than any other: it only says it ran.
    let extra_let = r##"  fake = builtins.toFile "strip-nd" "#!/bin/sh\necho \"FAKE strip-nd $*\"\n";
  shadow = derivation {
    name = "shadow-strip-nd";
    system = builtins.currentSystem;
    builder = "/bin/bash";
    args = [ "-c" "/bin/mkdir -p $out/bin && /bin/cp ${fake} $out/bin/strip-nd && /bin/chmod 755 $out/bin/strip-nd; exit $?" ];
  };
"##;
    let script = nix_string(GZIP_MAN);
    let broken = nix_string(
        r#"
mkdir -p "$out/share"
seq 1 2000 > numbers && gzip -c numbers > full.gz
head -c 40 full.gz > "$out/share/truncated.gz"
"#,
    );
    let attrs = format!(
        "  shadowed = mk {{ name = \"{}\"; nativeBuildInputs = [ shadow hook ]; buildScript = {script}; }};\n  \
         failing = mk {{ name = \"{}\"; nativeBuildInputs = [ hook ]; stripNdFlags = \"--strict\"; buildScript = {broken}; }};\n",
        fresh("shadowed"),
        fresh("failing")
    );
    let expr = write_expression(t.path(), "path.nix", extra_let, &attrs);
    let (code, log) = build(&expr, "shadowed", false);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        !log.contains("FAKE strip-nd"),
        "the strip-nd on PATH ran:\n{log}"
    );
    assert_eq!(summaries(&log).len(), 1, "{log}");
    assert_normalized(&out_path(&log));

    // --strict and a truncated gzip: strip-nd exits 1 and the build fails.
    let (code, log) = build(&expr, "failing", false);
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("truncated.gz: gzip handler")
            && log.contains("with status 1; see above (set `dontStripNd = true;` to skip)"),
        "{log}"
    );
}

#[test]
#[ignore = "needs nix-bin"]
fn hook_checks_a_fixed_output_derivation_and_leaves_it_unmodified() {
    need("nix-build", "nix-bin");
    let t = tempfile::tempdir().unwrap();
    let script = nix_string(GZIP_MAN);
    // The hash of the output as the build makes it, from a build without the hook.
    let plain = write_expression(
        t.path(),
        "fod-plain.nix",
        "",
        &format!(
            "  plain = mk {{ name = \"{}\"; buildScript = {script}; }};\n",
            fresh("fod-plain")
        ),
    );
    let (code, log) = build(&plain, "plain", false);
    assert_eq!(code, Some(0), "{log}");
    let plain_out = out_path(&log);
    let gz = "share/man/man1/hello.1.gz";
    let original = fs::read(Path::new(&plain_out).join(gz)).unwrap();
    let hash = store_hash(&plain_out);
    let nix32 = hash.strip_prefix("sha256:").unwrap();

    let mut attrs = String::new();
    for (attr, extra) in [("fod", ""), ("fod-structured", "__structuredAttrs = true;")] {
        let _ = writeln!(
            attrs,
            "  \"{attr}\" = mk {{ name = \"{}\"; nativeBuildInputs = [ hook ]; buildScript = {script}; \
             outputHashMode = \"recursive\"; outputHashAlgo = \"sha256\"; outputHash = \"{nix32}\"; {extra} }};",
            fresh(attr)
        );
    }
    let expr = write_expression(t.path(), "fod.nix", "", &attrs);
    for attr in ["fod", "fod-structured"] {
        let (code, log) = build(&expr, attr, false);
        assert_eq!(code, Some(0), "{attr}:\n{log}");
        let out = out_path(&log);
        assert!(
            log.contains("is a fixed-output derivation (outputHash is set): left unmodified"),
            "{attr}:\n{log}"
        );
        assert!(
            log.contains(&format!(
                "would rewrite {out}/{gz} [gzip]: member 1: mtime 1700000000 -> 315532800"
            )),
            "{attr}: the log does not say what strip-nd would change:\n{log}"
        );
        assert!(
            log.contains("the changes above were not made"),
            "{attr}:\n{log}"
        );
        assert_eq!(
            fs::read(Path::new(&out).join(gz)).unwrap(),
            original,
            "{attr}: the file was modified"
        );
        assert_eq!(store_hash(&out), hash, "{attr}");
        let (code, log) = build(&expr, attr, true);
        assert_eq!(code, Some(0), "{attr}: nix-build --check:\n{log}");
    }
}
