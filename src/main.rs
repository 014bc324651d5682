//! The `strip-nd` command line: a thin layer over the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use strip_nd::config::{Config, DEFAULT_EPOCH, DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE};
use strip_nd::dispatch::{self, HandlerSet, Table};
use strip_nd::engine::{self, Options};
use strip_nd::handler::{DateRules, Settings};
use strip_nd::handlers::HANDLERS;
use strip_nd::nar::{self, HashFormat};
use strip_nd::report::{EpochSource, ExitCode};
use strip_nd::rules::Rules;

/// mimalloc instead of glibc's malloc: a run keeps a few small records per
/// rewritten file while it allocates and frees whole-file buffers, and glibc
/// lets each retained record pin the freed buffer pages around it, so its peak
/// RSS grew with the tree (161 MB on the man tree, 443 MB on four copies).
/// mimalloc keeps small and large allocations in separate pages. Its v2
/// (the `v2` feature) rather than v3: v3 keeps freed pages committed for a
/// while before purging them, and under the churn of whole-file buffers that
/// took four copies of the man tree (`benches/memory.sh`) to 114-120 MB peak
/// RSS, where v2 peaks at 64 MB (and `strip-nd hash` of it at 51 MB, not
/// 105 MB). With v3 tuned by `MIMALLOC_PURGE_DELAY=0
/// MIMALLOC_ARENA_EAGER_COMMIT=0` the run peaks at 48 MB: the live data
/// grows by about 110 bytes per file, the rest is freed memory kept mapped.
/// Built with `no_thp`: v2 otherwise madvises its 1 GiB arena for
/// transparent huge pages, so each page it touches again after a purge is
/// faulted in and zeroed 2 MiB at a time (9% of a run over the man tree in
/// `clear_page_erms`, and 10 MiB more peak RSS).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit codes:
  0  done (or, with --check, nothing would change)
  1  an I/O error; a malformed file under --strict; --check found work
  2  usage error
  3  self-check mismatch: normalizing the output again would change it (a strip-nd bug), or files changed on disk during the run

Environment:
  SOURCE_DATE_EPOCH  the epoch, unless --epoch is given
  NIX_BUILD_CORES    the default of --jobs when set and > 0
  NIX_BUILD_TOP      set inside a Nix build; without it, paths in /nix/store are refused
  STRIP_ND_RULES     a date-rules file, unless --rules is given

Rules file (TOML; giving one turns the rules handler on):
  [[rule]]
  scope = \"**/*.h\"      # glob on the path relative to its root, or the member path
  regex = 'generated on (?P<date>\\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d UTC \\d{4})'
  format = \"%a %b %e %H:%M:%S UTC %Y\"   # strftime; the epoch is written in it (UTC)";

/// Normalize build outputs for reproducible builds.
///
/// Walks each PATH, picks a handler for every regular file by its magic number,
/// rewrites only what is nondeterministic (timestamps, names, order), atomically
/// and in place, clamps mtimes to the epoch, then self-checks: NAR-hash the
/// output, normalize it again, NAR-hash again, and fail if anything moved.
#[derive(Parser, Debug)]
#[command(name = "strip-nd", version, after_help = EXIT_CODES)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Files or directories to normalize (symlinks are never followed).
    #[arg(required_unless_present = "list_handlers", value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Change nothing: list each file that would change and why; exit 1 if any would.
    #[arg(long)]
    check: bool,

    #[command(flatten)]
    common: Common,

    /// Handlers to use: "+a,-b" adjusts the default set, "a,b" uses only those
    /// (write --handlers=-a when the value starts with a dash).
    #[arg(long, value_name = "SPEC")]
    handlers: Option<String>,

    /// List the handlers in dispatch order and exit.
    #[arg(long)]
    list_handlers: bool,

    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    json: bool,

    /// Do not clamp file, directory and symlink mtimes.
    #[arg(long)]
    no_mtimes: bool,

    /// Skip the self-check (NAR hash, normalize again, NAR hash again).
    #[arg(long)]
    no_self_check: bool,

    /// Treat a malformed file as an error (exit 1) instead of a warning.
    #[arg(long)]
    strict: bool,

    /// Nested archives deeper than this are left as they are.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_DEPTH)]
    max_depth: u32,

    /// Files and members larger than this many bytes are left as they are.
    /// Default: no limit.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,

    /// Memory the workers may hold at once, e.g. 256M (K, M, G, T: powers of
    /// 1024). Before normalizing a file a worker reserves its estimated peak
    /// and waits while that would exceed the budget; a file larger than the
    /// whole budget runs alone. Results never depend on it. Default: a quarter
    /// of `MemAvailable`, at least 256M and at most 8G, since a Nix builder runs
    /// several builds' fixups at once.
    #[arg(long, value_name = "BYTES", value_parser = strip_nd::budget::parse_bytes)]
    memory: Option<u64>,

    /// The mtime every file will end with after the run, as Nix sets 1 when it
    /// registers an output: a .pyc records it as its source's mtime, so Python
    /// does not find it stale (the Nix setup hook is to pass 1).
    #[arg(long, value_name = "SECONDS")]
    final_mtime: Option<u64>,

    /// Date rules (TOML, see below) for files no handler knows; enables the
    /// rules handler. Default: the file named by `STRIP_ND_RULES`, if any.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,

    /// More output: -v lists every file rewritten and every mtime clamped.
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,

    /// Print only warnings and errors.
    #[arg(short, long)]
    quiet: bool,

    /// Print the summary as one line per root (the Nix setup hook uses this).
    /// With -v or -q, whichever comes last wins, so flags given after the
    /// hook's own --oneline replace it.
    #[arg(long, overrides_with_all = ["quiet", "verbose"])]
    oneline: bool,
}

#[derive(Args, Debug)]
struct Common {
    /// Clamp timestamps to SECONDS since 1970 (overrides `SOURCE_DATE_EPOCH`; when
    /// both are absent, 315532800 = 1980-01-01, the default of nixpkgs' stdenv).
    #[arg(long, value_name = "SECONDS")]
    epoch: Option<u64>,

    /// Worker threads (default: `NIX_BUILD_CORES` when set and > 0, else all cores).
    /// The self-check's second pass runs one more, so its schedule differs.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the NAR hash of PATH, as `nix hash path` computes it.
    Hash(HashArgs),
    /// Explain why two builds differ, file by file and field by field, and
    /// whether strip-nd removes each difference. Exit 0 when identical, 1 when
    /// they differ, 2 on usage errors.
    Diff(DiffArgs),
    /// Nix's diff-hook: `diff-hook = <a script running strip-nd diff-hook "$@">`
    /// with `run-diff-hook = true`. Prints the report for OUT and CHECK-OUT to
    /// stderr and always exits 0 (Nix ignores the status).
    DiffHook(DiffHookArgs),
    /// Print a shell completion script for SHELL on stdout, generated from
    /// these options (e.g. `strip-nd completions bash > strip-nd.bash`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page, strip-nd(1), as roff on stdout.
    Man,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// The epoch normalization clamps to (default: as for normalizing).
    #[arg(long, value_name = "SECONDS")]
    epoch: Option<u64>,
    /// The first build (a tree or a file), e.g. `result`.
    a: PathBuf,
    /// The second build, e.g. the `.check` path of `nix-build --check --keep-failed`.
    b: PathBuf,
}

#[derive(Args, Debug)]
struct DiffHookArgs {
    /// The output of the first build.
    out: PathBuf,
    /// The output of the check build.
    check_out: PathBuf,
    /// The derivation.
    drv: Option<PathBuf>,
    /// Anything else Nix passes.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

#[derive(Args, Debug)]
#[group(multiple = false)]
struct HashFormatArgs {
    /// Lowercase hex (as `nix-hash --type sha256`).
    #[arg(long)]
    base16: bool,
    /// Bare Nix base32 (as `nix-hash --type sha256 --base32`).
    #[arg(long)]
    base32: bool,
    /// SRI, `sha256-<base64>` (as `nix hash path`).
    #[arg(long)]
    sri: bool,
}

#[derive(Args, Debug)]
struct HashArgs {
    #[command(flatten)]
    format: HashFormatArgs,
    /// Threads reading files ahead of the hasher (default: as for normalizing).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// The file, directory or symlink to hash (not followed).
    path: PathBuf,
}

/// An error that must exit with status 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn epoch(cli: Option<u64>) -> anyhow::Result<(u64, EpochSource)> {
    if let Some(e) = cli {
        return Ok((e, EpochSource::Flag));
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
            Ok(e) => Ok((e, EpochSource::SourceDateEpoch)),
            Err(_) => Err(Usage(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970"
            ))
            .into()),
        },
        _ => Ok((DEFAULT_EPOCH, EpochSource::Default)),
    }
}

/// Loads the rules from `--rules`, else from `STRIP_ND_RULES`; a bad file is
/// a usage error naming the file and the rule.
fn rules(cli: Option<&Path>, epoch: u64) -> anyhow::Result<Option<Arc<Rules>>> {
    let path = match cli {
        Some(p) => p.to_owned(),
        None => match std::env::var_os("STRIP_ND_RULES") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => return Ok(None),
        },
    };
    match Rules::load(&path, epoch) {
        Ok(r) => Ok(Some(Arc::new(r))),
        Err(e) => Err(Usage(format!("bad rules file {e}")).into()),
    }
}

fn jobs(cli: Option<u32>) -> usize {
    if let Some(j) = cli {
        return j as usize;
    }
    match std::env::var("NIX_BUILD_CORES")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(1, usize::from),
    }
}

fn list_handlers(set: HandlerSet) {
    let mut out = std::io::stdout().lock();
    for (i, h) in HANDLERS.iter().enumerate() {
        let state = if set.contains(i) { "on " } else { "off" };
        let _ = writeln!(
            out,
            "{:>2}. {:<10} {state}  {}",
            i + 1,
            h.name(),
            h.describe()
        );
    }
}

fn hash(args: &HashArgs) -> anyhow::Result<ExitCode> {
    let format = if args.format.base16 {
        HashFormat::Base16
    } else if args.format.base32 {
        HashFormat::Base32
    } else if args.format.sri {
        HashFormat::Sri
    } else {
        HashFormat::Typed
    };
    let digest = nar::hash_with(&args.path, jobs(args.jobs))?;
    println!("{}", nar::format_hash(&digest, format));
    Ok(ExitCode::Success)
}

fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let (epoch, _) = epoch(args.epoch)?;
    let config = Config::with_epoch(epoch);
    let report = match strip_nd::diff::diff(&args.a, &args.b, &config) {
        Ok(r) => r,
        Err(e) if strip_nd::diff::is_missing(&e) => return Err(Usage(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        strip_nd::diff::print(&report, &mut std::io::stdout().lock())?;
    }
    Ok(if report.identical {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn diff_hook(args: &DiffHookArgs) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let drv = args
        .drv
        .as_ref()
        .map_or_else(String::new, |d| format!(" ({})", d.display()));
    let _ = writeln!(
        err,
        "strip-nd diff-hook: why the outputs of the check{drv} differ:"
    );
    let config = Config::with_epoch(epoch(None).map_or(DEFAULT_EPOCH, |e| e.0));
    match strip_nd::diff::diff(&args.out, &args.check_out, &config) {
        Ok(report) => {
            let _ = strip_nd::diff::print(&report, &mut err);
        }
        Err(e) => {
            let _ = writeln!(err, "strip-nd diff-hook: cannot compare: {e}");
        }
    }
    ExitCode::Success
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Command::Hash(args)) => return hash(args),
        Some(Command::Diff(args)) => return diff(args),
        Some(Command::DiffHook(args)) => return Ok(diff_hook(args)),
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "strip-nd", &mut script);
            if *shell == clap_complete::Shell::Bash {
                // clap_complete (up to 4.6.12 at least) spells the subcommand
                // states of a hyphenated binary two ways: the word loop sets
                // `strip__nd__subcmd__diff`, the case arms test
                // `strip__subcmd__nd__subcmd__diff`, so nothing completes after
                // a subcommand (clap-rs/clap#6421). Spell the arms as the loop does.
                let text = String::from_utf8(script)?;
                script = text.replace("strip__subcmd__nd", "strip__nd").into_bytes();
            }
            std::io::stdout().lock().write_all(&script)?;
            return Ok(ExitCode::Success);
        }
        Some(Command::Man) => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
            return Ok(ExitCode::Success);
        }
        None => {}
    }
    let (epoch, epoch_source) = epoch(cli.common.epoch)?;
    let rules = rules(cli.rules.as_deref(), epoch)?;
    let mut base = HandlerSet::default();
    if rules.is_some() {
        if let Some((i, _)) = dispatch::by_name("rules") {
            base.set(i, true);
        }
    }
    let handlers = match &cli.handlers {
        Some(spec) => HandlerSet::parse_with(spec, base).map_err(|e| Usage(e.to_string()))?,
        None => base,
    };
    if cli.list_handlers {
        list_handlers(handlers);
        return Ok(ExitCode::Success);
    }
    let final_mtime = match cli.final_mtime {
        Some(m) => {
            Some(i64::try_from(m).map_err(|_| Usage(format!("--final-mtime {m} is too large")))?)
        }
        None => None,
    };
    let config = Config {
        settings: Settings {
            epoch,
            max_depth: cli.max_depth,
            max_size: cli.max_size.unwrap_or(DEFAULT_MAX_SIZE),
            in_memory: in_memory()?,
            final_mtime,
            rules: rules.map(|r| r as Arc<dyn DateRules>),
        },
        table: Table {
            enabled: handlers,
            ..Table::default()
        },
    };
    let opts = Options {
        config,
        epoch_source,
        jobs: jobs(cli.common.jobs),
        check: cli.check,
        mtimes: !cli.no_mtimes,
        self_check: !cli.no_self_check,
        list_mtimes: cli.verbose > 0,
        memory: cli.memory.unwrap_or_else(strip_nd::budget::default_bytes),
    };
    if cli.paths.is_empty() {
        bail!(Usage("no PATH given".into()));
    }
    let report = engine::run(&cli.paths, &opts).context("nothing was changed")?;
    if cli.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    }
    strip_nd::summary::print(&report, cli.verbose, cli.quiet, cli.oneline);
    Ok(report.exit_code(cli.strict))
}

/// Files and members held whole in memory: `STRIP_ND_IN_MEMORY` bytes
/// (undocumented, for tests that make the streamed paths run on small
/// inputs), else the default.
fn in_memory() -> Result<u64, Usage> {
    match std::env::var("STRIP_ND_IN_MEMORY") {
        Ok(v) => v
            .parse()
            .map_err(|_| Usage(format!("STRIP_ND_IN_MEMORY={v:?} is not a byte count"))),
        Err(_) => Ok(strip_nd::handler::DEFAULT_IN_MEMORY),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strip-nd: error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::Usage
            } else {
                ExitCode::Failure
            }
        }
    };
    code.into()
}
