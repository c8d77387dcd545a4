//! The command line: cargo's global habits (`--color`, `-q`, `-v`, `--cargo-home`) and one
//! subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The duration grammar, at the end of the `--help` of every subcommand with a duration flag
/// (one grammar for all of them: [`crate::quantity::parse_duration`]). A macro, so that each
/// subcommand's examples can come before it (`concat!`).
macro_rules! duration_help {
    () => {
        "DURATION: Cargo's \"N seconds|minutes|hours|days|weeks|months\" \
(\"30 days\", \"10 minutes\"; a month is 30.436875 days), or a short unit: ms, s, min, h, d, w \
(\"500ms\", \"30s\", \"5min\", \"2h\", \"7d\", \"2w\"). A fraction is allowed (\"1.5h\", \"0.5s\"), \
\"0\" alone is zero, and `m` is refused (minutes or months?). Ages, grace periods and timeouts \
count whole seconds, a fraction rounded up. (In cargo config, only Cargo's own form is accepted, \
as in Cargo.)"
    };
}
pub const DURATION_HELP: &str = duration_help!();

/// A subcommand's examples, then the duration grammar.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:\n", $("  ", $line, "\n",)+ "\n", duration_help!())
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Parser)]
#[command(
    name = "cargo-janitor",
    bin_name = "cargo janitor",
    version,
    about = "Keeps Cargo's shared state healthy: names who holds Cargo's locks, and cleans \
             CARGO_HOME and target dirs the way Cargo itself would, under Cargo's own locks.",
    after_help = "Exit codes: 0 success (run: the command's own), 1 failure, 2 bad input, \
                  3 a lock was busy (--no-wait), 4 timed out, 5 not stopped. See the README.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The Cargo home to work on [default: $CARGO_HOME, else ~/.cargo]
    #[arg(long, global = true, value_name = "PATH")]
    pub cargo_home: Option<PathBuf>,
    /// Coloring [default: $CARGO_TERM_COLOR, else auto]
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    /// Print less: no progress, no status lines (warnings and errors still show)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more (-vv for even more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What is in CARGO_HOME: sizes, last use, what Cargo's automatic clean would remove
    #[command(after_help = "Examples:\n  \
        cargo janitor status            # the home's components, registries, what to do next\n  \
        cargo janitor status --top 10   # also the 10 largest sources, archives and git repos\n  \
        cargo janitor status --exact    # walk everything instead of Cargo's stored sizes")]
    Status(StatusArgs),
    /// Clean CARGO_HOME like `cargo clean gc`, on stable, under Cargo's locks
    #[command(
        long_about = "Clean CARGO_HOME like `cargo clean gc`, on stable, under Cargo's locks.\n\n\
        With no limit given, uses Cargo's automatic-clean defaults (1 month for extracted \
        sources and git checkouts, 3 months for .crate files, indexes and git databases), or \
        the values of [cache.global-clean] in cargo config. With any limit given, only the \
        given limits apply, as in Cargo.\n\n\
        Sizes: \"N[.N] b|kb|mb|gb|kib|mib|gib\" (Cargo's grammar).",
        after_help = examples!(
            "cargo janitor gc -n                       # what Cargo's automatic clean removes",
            "cargo janitor gc --max-download-age 2w    # unused for two weeks",
            "cargo janitor gc --max-crate-size 500MiB  # least recently used archives over 500 MiB",
            "cargo janitor gc --auto                   # for a timer: only when due",
        )
    )]
    Gc(GcArgs),
    /// Who holds and who waits on every Cargo lock, and why (-v: each holder's process tree)
    #[command(after_help = examples!(
        "cargo janitor locks               # every held or awaited lock, and why",
        "cargo janitor locks -v            # with each holder's process tree",
        "cargo janitor locks --message \"Blocking waiting for file lock on build directory\"",
    ))]
    Locks(LocksArgs),
    /// Block until Cargo's locks are free (exit 4 on timeout)
    #[command(after_help = examples!(
        "cargo janitor wait --timeout 5min && cargo build",
        "cargo janitor wait --lock package-cache",
    ))]
    Wait(WaitArgs),
    /// Run a command (e.g. `cargo build`) and explain any lock wait as it happens
    #[command(after_help = examples!(
        "cargo janitor run -- cargo build --release",
        "cargo janitor run --timeout 10min -- cargo test",
    ))]
    Run(RunArgs),
    /// Stop a stuck lock holder safely: SIGINT, then SIGTERM, then (with --force) SIGKILL
    #[command(after_help = examples!(
        "cargo janitor stop 4242           # asks first, then SIGINT, SIGTERM",
        "cargo janitor stop 4242:8812345 --yes --force",
    ))]
    Stop(StopArgs),
    /// Remove stale build artifacts inside target dirs, under Cargo's build locks
    #[command(after_help = examples!(
        "cargo janitor sweep                         # report this workspace's target dir",
        "cargo janitor sweep --max-age 30d -n        # what is unused for 30 days",
        "cargo janitor sweep -r ~/src --toolchains   # units of uninstalled toolchains",
        "cargo janitor sweep --used-by \"cargo build --release\"",
    ))]
    Sweep(SweepArgs),
    /// Keep only what the given lockfiles need, in CARGO_HOME and target dirs (CI caches)
    #[command(
        long_about = "Keep only what the given lockfiles need, in CARGO_HOME and target dirs \
        (CI caches).\n\n\
        Each lockfile's sources are mapped with the cargo config cargo would read in its \
        workspace (the workspace's .cargo/config.toml and its ancestors', then \
        $CARGO_HOME/config.toml; for --lockfile, the lockfile's directory's), so source \
        replacement there applies.\n\n\
        In target dirs, a unit is removed only when its package is identified: a registry \
        package version or git revision (known by its sources' paths, in any Cargo home) that \
        no lockfile pins or that another toolchain built, or a path package (a workspace \
        member or path dependency: its sources are in no registry or checkout, and the \
        lockfiles list its name without a source). Units that cannot be identified (no \
        dep-info, vendored sources, a package no lockfile lists) are kept and counted as \
        unknown.\n\n\
        A lockfile that lists no packages, is a manifest (Cargo.toml), has a dependency on a \
        package it does not list (a file cut short), is not TOML, or is of an unknown version \
        is refused: exit 2, nothing removed.",
        after_help = examples!(
            "cargo janitor trim -n                       # what this workspace's lockfile does not pin",
            "cargo janitor trim --ci --grace 0           # before saving a CI cache",
            "cargo janitor trim --lockfile a/Cargo.lock --lockfile b/Cargo.lock --yes",
        )
    )]
    Trim(TrimArgs),
    /// Keep CARGO_HOME and every target dir under one disk budget, removing what is cheapest
    /// to recreate first
    #[command(
        long_about = "Keep CARGO_HOME and every target dir under one disk budget (--budget), \
        or enough free space on their filesystems (--min-free), removing what is cheapest to \
        recreate first: incremental sessions, then build units by least recent use, then \
        extracted sources, git checkouts, .crate files and git databases by least recent use, \
        registry indexes last. Nothing a build holds or used in the grace period is removed, \
        and what the known lockfiles pin and cannot be recreated offline (.crate files, git \
        databases) stays unless --hard.\n\n\
        Exit code 1 when the limits still do not hold afterwards (the reason is printed).\n\n\
        Sizes: \"N[.N] b|kb|mb|gb|kib|mib|gib\" (Cargo's grammar).",
        after_help = DURATION_HELP
    )]
    Tidy(crate::commands::tidy::TidyArgs),
    /// Run `tidy` by itself: a systemd user timer, a launchd agent or a Task Scheduler task
    Schedule(crate::commands::schedule::ScheduleArgs),
    /// Print a shell completion script on stdout (bash, zsh and fish: for `cargo janitor` too)
    #[command(after_help = "Examples:\n  \
        cargo janitor completions bash > ~/.local/share/bash-completion/completions/cargo-janitor\n  \
        cargo janitor completions zsh > ~/.zfunc/_cargo-janitor\n  \
        cargo janitor completions fish > ~/.config/fish/conf.d/cargo-janitor.fish")]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of tables
    #[arg(long)]
    pub json: bool,
    /// Walk everything instead of using the sizes Cargo stored in .global-cache
    #[arg(long)]
    pub exact: bool,
    /// Also list the N largest extracted sources, .crate archives and git repositories, with
    /// their last use
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

/// Arguments as `cargo janitor …` passes them (`cargo-janitor janitor …`) or as typed directly.
pub fn args_from_env() -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "janitor") {
        args.remove(1);
    }
    args
}

/// A duration flag in whole seconds (see [`crate::quantity`]: one grammar for every flag).
fn span(s: &str) -> Result<crate::quantity::Span, String> {
    crate::quantity::parse_duration(s).map(crate::quantity::Span::from_duration)
}

fn size(s: &str) -> Result<u64, String> {
    crate::quantity::parse_size(s)
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Remove extracted sources unused for this long
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_src_age: Option<crate::quantity::Span>,
    /// Remove .crate files unused for this long
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_crate_age: Option<crate::quantity::Span>,
    /// Remove registry indexes (with their .crate files and sources) unused for this long
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_index_age: Option<crate::quantity::Span>,
    /// Remove git checkouts unused for this long
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_git_co_age: Option<crate::quantity::Span>,
    /// Remove git databases (with their checkouts) unused for this long
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_git_db_age: Option<crate::quantity::Span>,
    /// All five ages at once (each becomes the smaller of this and its own flag)
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_download_age: Option<crate::quantity::Span>,
    /// Remove the least recently used extracted sources until they fit
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_src_size: Option<u64>,
    /// Remove the least recently used .crate files until they fit
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_crate_size: Option<u64>,
    /// Remove the least recently used git databases and checkouts until they fit
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_git_size: Option<u64>,
    /// Remove the least recently used .crate files and sources until they fit together
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_download_size: Option<u64>,
    /// Never remove what was used this recently, whatever the limits say: a cargo may be
    /// between two of its locks, about to use it ("0" turns this off)
    #[arg(long, value_name = "DURATION", default_value = "10 minutes", value_parser = span)]
    pub grace: crate::quantity::Span,
    /// List what would be removed, and remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Work on caches on a network filesystem (NFS, SMB, 9p, FUSE), where Cargo's locks do
    /// not reach the other machines using them
    #[arg(long)]
    pub force_network_fs: bool,
    /// If a Cargo lock is busy, exit with code 3 instead of waiting
    #[arg(long)]
    pub no_wait: bool,
    /// Cargo's automatic clean: only when `cache.auto-clean-frequency` has passed since the
    /// last one, skipping silently if a cargo is busy
    #[arg(long, conflicts_with_all = [
        "max_src_age", "max_crate_age", "max_index_age", "max_git_co_age", "max_git_db_age",
        "max_download_age", "max_src_size", "max_crate_size", "max_git_size", "max_download_size",
    ])]
    pub auto: bool,
}

/// A duration flag with its fraction of a second (`--sample 0.5s`): the same grammar.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::quantity::parse_duration(s)
}

#[derive(Debug, Args)]
pub struct LocksArgs {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// How long to watch CPU use to tell a busy holder from an idle one (a DURATION such as
    /// "0.5s" or "500ms"; "0" skips)
    #[arg(long, value_name = "DURATION", default_value = "0.5s", value_parser = duration)]
    pub sample: std::time::Duration,
    /// A "Blocking waiting for file lock on …" message as cargo printed it (any version,
    /// with or without -vv's path): says what it means and shows only that lock
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Target or build directories whose lock files to probe [default: the current
    /// workspace's]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Give up after this long ("30 seconds", "30s", "5min") with exit code 4
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub timeout: Option<crate::quantity::Span>,
    /// Which lock: all, package-cache, package-cache-mutate, build-dir, artifact-dir, unit,
    /// cargo-lock, crate-metadata, registry-index, git (the last two: cargo 1.35 and older)
    #[arg(long, value_name = "KIND")]
    pub lock: Option<String>,
    /// A target or build directory [default: the current workspace's]
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stop the command (its whole process group) once it has been blocked on a lock this
    /// long, and exit with code 4
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub timeout: Option<crate::quantity::Span>,
    /// The command to run
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Processes to stop: PID, or PID:START as `locks --json` prints (refused if the pid now
    /// names another process)
    #[arg(required = true, value_name = "PID")]
    pub pids: Vec<String>,
    /// Send SIGKILL when SIGINT and SIGTERM did not work
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    /// How long to wait after each signal ("3 seconds", "500ms")
    #[arg(long, value_name = "DURATION", default_value = "3 seconds", value_parser = span)]
    pub grace: crate::quantity::Span,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Target or build directories [default: the current workspace's]; with --recursive, trees
    /// to search
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Search PATHs (default: the current directory) for target dirs
    #[arg(short, long)]
    pub recursive: bool,
    /// With --recursive, also search hidden directories
    #[arg(long)]
    pub hidden: bool,
    /// Remove units not used for this long ("30 days", "2w")
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_age: Option<crate::quantity::Span>,
    /// Remove units built by toolchains that are not installed, or with =NAMES (comma
    /// separated: "nightly,1.80") by those toolchains
    #[arg(long, value_name = "NAMES", num_args = 0..=1, require_equals = true)]
    pub toolchains: Option<Option<String>>,
    /// Keep each target dir under this size, removing least recently used units first
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub max_size: Option<u64>,
    /// Remove incremental compilation caches (those unused for --max-age, if given)
    #[arg(long)]
    pub incremental: bool,
    /// Remove whole target dirs in which nothing was used for --max-age
    #[arg(long)]
    pub all: bool,
    /// Run this cargo command (repeatable; e.g. "cargo build --release") and keep exactly the
    /// units it reports, removing every other unit in the target and build dirs it used
    #[arg(
        long,
        value_name = "CARGO COMMAND",
        conflicts_with_all = ["paths", "recursive", "max_age", "toolchains", "max_size", "incremental", "all"]
    )]
    pub used_by: Vec<String>,
    /// Never remove what was used this recently, whatever the limits say: a cargo may be
    /// between two of its locks, about to use it ("0" turns this off)
    #[arg(long, value_name = "DURATION", default_value = "10 minutes", value_parser = span)]
    pub grace: crate::quantity::Span,
    /// List what would be removed, and remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Work on caches on a network filesystem (NFS, SMB, 9p, FUSE), where Cargo's locks do
    /// not reach the other machines using them
    #[arg(long)]
    pub force_network_fs: bool,
    /// Skip a target dir whose build lock is busy (exit code 3) instead of waiting
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct TrimArgs {
    /// A Cargo.lock whose packages to keep (repeatable), mapped with the cargo config of its
    /// directory
    #[arg(long, value_name = "PATH")]
    pub lockfile: Vec<PathBuf>,
    /// A workspace root whose Cargo.lock to keep and whose target dir to trim (repeatable),
    /// with the cargo config that applies in it [default: the current workspace]
    #[arg(long, value_name = "DIR")]
    pub workspace: Vec<PathBuf>,
    /// Also remove what CI re-creates cheaply: every extracted source and git checkout, and
    /// the index cache entries of packages no lockfile pins
    #[arg(long)]
    pub ci: bool,
    /// A target dir to trim (repeatable) [default: the workspaces' target dirs]
    #[arg(long, value_name = "DIR")]
    pub target_dir: Vec<PathBuf>,
    /// Run this cargo command (repeatable) and, in the target and build dirs it used, keep
    /// exactly the units it reports instead of mapping them by lockfile
    #[arg(long, value_name = "CARGO COMMAND", conflicts_with = "target_dir")]
    pub used_by: Vec<String>,
    /// Never remove what was used this recently, whatever the limits say: a cargo may be
    /// between two of its locks, about to use it ("0" turns this off)
    #[arg(long, value_name = "DURATION", default_value = "10 minutes", value_parser = span)]
    pub grace: crate::quantity::Span,
    /// List what would be removed, and remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Work on caches on a network filesystem (NFS, SMB, 9p, FUSE), where Cargo's locks do
    /// not reach the other machines using them
    #[arg(long)]
    pub force_network_fs: bool,
    /// If a Cargo lock is busy, exit with code 3 instead of waiting
    #[arg(long)]
    pub no_wait: bool,
    /// Do not ask before removing more than a tenth of CARGO_HOME's entries (asked only on a
    /// terminal, outside --ci; elsewhere such a trim is refused without --yes)
    #[arg(short, long)]
    pub yes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::{MONTH_SECS, Span};
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo-janitor").chain(args.iter().copied()))
    }

    /// Every duration flag, as (the arguments before its value, how to read it back in
    /// milliseconds).
    #[allow(clippy::type_complexity)]
    fn duration_flags() -> Vec<(Vec<&'static str>, Box<dyn Fn(&Cli) -> u128>)> {
        let secs = |s: Option<Span>| u128::from(s.expect("set").secs()) * 1000;
        macro_rules! flag {
            ($args:expr, $variant:ident, |$a:ident| $get:expr) => {
                (
                    $args,
                    Box::new(move |c: &Cli| match &c.command {
                        Command::$variant($a) => $get,
                        other => panic!("parsed as {other:?}"),
                    }) as Box<dyn Fn(&Cli) -> u128>,
                )
            };
        }
        vec![
            flag!(vec!["gc", "--grace"], Gc, |a| secs(Some(a.grace))),
            flag!(vec!["gc", "--max-src-age"], Gc, |a| secs(a.max_src_age)),
            flag!(vec!["gc", "--max-crate-age"], Gc, |a| secs(a.max_crate_age)),
            flag!(vec!["gc", "--max-index-age"], Gc, |a| secs(a.max_index_age)),
            flag!(vec!["gc", "--max-git-co-age"], Gc, |a| secs(
                a.max_git_co_age
            )),
            flag!(vec!["gc", "--max-git-db-age"], Gc, |a| secs(
                a.max_git_db_age
            )),
            flag!(vec!["gc", "--max-download-age"], Gc, |a| secs(
                a.max_download_age
            )),
            flag!(vec!["sweep", "--max-age"], Sweep, |a| secs(a.max_age)),
            flag!(vec!["sweep", "--grace"], Sweep, |a| secs(Some(a.grace))),
            flag!(vec!["trim", "--grace"], Trim, |a| secs(Some(a.grace))),
            flag!(vec!["tidy", "--grace"], Tidy, |a| secs(a.grace)),
            flag!(vec!["tidy", "--max-age"], Tidy, |a| secs(a.max_age)),
            flag!(vec!["wait", "--timeout"], Wait, |a| secs(a.timeout)),
            flag!(vec!["stop", "1", "--grace"], Stop, |a| secs(Some(a.grace))),
            flag!(vec!["locks", "--sample"], Locks, |a| a.sample.as_millis()),
            // `run`'s command comes last, after `--`.
            flag!(vec!["run", "--timeout"], Run, |a| secs(a.timeout)),
        ]
    }

    #[test]
    fn every_duration_flag_takes_the_same_grammar() {
        for (prefix, get) in duration_flags() {
            let sub_second = prefix == ["locks", "--sample"];
            for (value, ms) in [
                ("30 seconds", 30_000),
                ("30s", 30_000),
                ("10 minutes", 600_000),
                ("5min", 300_000),
                ("2h", 7_200_000),
                ("1.5h", 5_400_000),
                ("7d", 7 * 86_400_000),
                ("2 weeks", 14 * 86_400_000),
                ("2w", 14 * 86_400_000),
                ("1month", u128::from(MONTH_SECS) * 1000),
                ("0", 0),
                ("0 seconds", 0),
                // Sub-second values: kept by --sample, a whole second elsewhere.
                ("500ms", if sub_second { 500 } else { 1000 }),
                ("0.5s", if sub_second { 500 } else { 1000 }),
            ] {
                let mut args = prefix.clone();
                args.push(value);
                if prefix[0] == "run" {
                    args.extend(["--", "true"]);
                }
                let cli = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert_eq!(get(&cli), ms, "{args:?}");
            }
            for value in ["5m", "30", "1 year", "1 Day", "-1s", "soon", ""] {
                let mut args = prefix.clone();
                let flag = args.pop().unwrap();
                let joined = format!("{flag}={value}");
                args.push(&joined);
                if prefix[0] == "run" {
                    args.extend(["--", "true"]);
                }
                let err = parse(&args).expect_err(&format!("{args:?} is refused"));
                assert_eq!(
                    err.kind(),
                    clap::error::ErrorKind::ValueValidation,
                    "{args:?}"
                );
                let msg = err.to_string();
                assert!(msg.contains(flag), "{args:?}: {msg}");
                assert!(
                    msg.contains("seconds|minutes|hours|days|weeks|months")
                        || (value == "5m" && msg.contains("ambiguous")),
                    "{args:?}: {msg}"
                );
            }
        }
    }

    #[test]
    fn duration_defaults_parse() {
        let cli = parse(&["gc"]).unwrap();
        let Command::Gc(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.grace, Span(600));
        let cli = parse(&["locks"]).unwrap();
        let Command::Locks(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.sample, Duration::from_millis(500));
        let cli = parse(&["stop", "1"]).unwrap();
        let Command::Stop(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.grace, Span(3));
    }

    #[test]
    fn every_subcommand_with_a_duration_flag_documents_the_grammar() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for name in [
            "gc", "locks", "wait", "run", "stop", "sweep", "trim", "tidy",
        ] {
            let mut sub = cmd.find_subcommand(name).unwrap().clone();
            let help = sub.render_help().to_string();
            assert!(help.contains("DURATION: Cargo's"), "{name}: {help}");
            assert!(help.contains("ms, s, min, h, d, w"), "{name}: {help}");
        }
    }
}
