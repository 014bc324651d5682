//! Helpers shared by the integration tests.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use strip_nd::config::Config;
use strip_nd::handlers::Outcome;

/// The epoch every test uses unless it says otherwise.
pub const EPOCH: u64 = 315_532_800;

/// The default config at [`EPOCH`] with `in_memory` as the streaming
/// threshold: files and members past it are streamed or spilled.
pub fn config_in_memory(in_memory: u64) -> Config {
    Config {
        settings: strip_nd::handler::Settings {
            epoch: EPOCH,
            in_memory,
            ..strip_nd::handler::Settings::default()
        },
        ..Config::default()
    }
}

/// The built binary with a clean environment: no epoch, no Nix build, no core count.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strip-nd"));
    for var in [
        "SOURCE_DATE_EPOCH",
        "NIX_BUILD_TOP",
        "NIX_BUILD_CORES",
        "NIX_STORE_DIR",
        "STRIP_ND_RULES",
    ] {
        c.env_remove(var);
    }
    c
}

/// The built binary as `bin()` gives it, but run as the unprivileged user
/// `nobody` (65534) when the tests run as root, through util-linux's
/// `setpriv`: root may write into a 0555 directory, so a test of what a
/// read-only mode forbids must not run as root.
pub fn bin_unprivileged() -> Command {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return bin();
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    c.arg(env!("CARGO_BIN_EXE_strip-nd"));
    for var in [
        "SOURCE_DATE_EPOCH",
        "NIX_BUILD_TOP",
        "NIX_BUILD_CORES",
        "NIX_STORE_DIR",
        "STRIP_ND_RULES",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs the binary with `args`.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    bin().args(args).output().expect("strip-nd runs")
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `corpus/<name>` in the source tree.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// Panics with the line that installs `tool` when it is missing: in CI a
/// missing oracle is a failure, never a skip.
pub fn need(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    assert!(
        found,
        "this test needs {tool}: apt-get install -y {package}"
    );
}

/// Runs a tool and returns its output, panicking with its stderr on failure.
pub fn tool<I, S>(program: &str, args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Normalizes bytes as a top-level file called `name` would be.
pub fn normalize(bytes: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new(name));
    match strip_nd::dispatch::dispatch(bytes, &ctx) {
        None => Err(format!("{name}: no handler claims it")),
        Some((_, Err(e))) => Err(format!("{name}: {e}")),
        Some((_, Ok(Outcome::Unchanged))) => Ok(bytes.to_vec()),
        Some((_, Ok(Outcome::Rewritten { bytes, .. }))) => Ok(bytes),
    }
}

/// Whether normalizing `bytes` again leaves them unchanged.
pub fn is_fixed_point(bytes: &[u8], name: &str) -> bool {
    let config = Config::with_epoch(EPOCH);
    let ctx = config.context(Path::new(name));
    matches!(
        strip_nd::dispatch::dispatch(bytes, &ctx),
        Some((_, Ok(Outcome::Unchanged)))
    )
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn put(dir: &Path, name: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, bytes).unwrap();
    p
}

/// A gzip file made by GNU gzip (name and mtime recorded), with the given mtime.
pub fn gnu_gzip(dir: &Path, name: &str, content: &[u8], mtime: &str) -> Vec<u8> {
    let src = dir.join(name);
    fs::write(&src, content).unwrap();
    tool(
        "touch",
        [OsStr::new("-d"), OsStr::new(mtime), src.as_os_str()],
    );
    let out = tool("gzip", [OsStr::new("-c"), src.as_os_str()]);
    fs::remove_file(&src).unwrap();
    out
}

/// The mtime of a path in seconds, without following symlinks.
pub fn mtime(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    u64::try_from(fs::symlink_metadata(path).unwrap().mtime()).expect("mtime after 1970")
}

/// Copies `corpus/<format>/<folder>` (at least `min` files) to a temp dir,
/// runs the binary on it with `args` before the path, and checks that it
/// exits 0, that every file is byte for byte as it was, and that a line of
/// stderr names each file and contains every one of `words`. Returns the
/// temp dir, for a further run (`--strict`, say).
pub fn left_untouched(
    format: &str,
    folder: &str,
    min: usize,
    args: &[&str],
    words: &[&str],
) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    for e in fs::read_dir(corpus(format).join(folder)).unwrap() {
        let e = e.unwrap();
        let dst = tmp.path().join(e.file_name());
        fs::copy(e.path(), &dst).unwrap();
        originals.push((dst, fs::read(e.path()).unwrap()));
    }
    assert!(
        originals.len() >= min,
        "{format}/{folder}: {} files, fewer than {min}",
        originals.len()
    );
    let out = bin()
        .args(args)
        .arg(tmp.path())
        .output()
        .expect("strip-nd runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    for (path, bytes) in &originals {
        assert!(
            &fs::read(path).unwrap() == bytes,
            "{} was modified",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            err.lines()
                .any(|l| l.contains(name) && words.iter().all(|w| l.contains(w))),
            "no line naming {name} with {words:?}:\n{err}"
        );
    }
    tmp
}

/// Copies `corpus/<format>/malformed` to a temp dir, runs the binary on it,
/// and checks each file is untouched and warned about by `handler`.
pub fn malformed_left_untouched(format: &str, handler: &str) {
    left_untouched(format, "malformed", 2, &[], &[handler, "warning"]);
}

/// A small seeded generator (xorshift64*), so a campaign makes the same
/// cases on every run.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
