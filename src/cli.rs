//! The command line: cargo's global habits (`--color`, `-q`, `-v`, `--cargo-home`) and one
//! subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
             CARGO_HOME the way Cargo itself would, under Cargo's own locks.",
    after_help = "Exit codes: 0 success, 1 failure, 2 bad input. See the README for the rest.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
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
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of tables
    #[arg(long)]
    pub json: bool,
    /// Walk everything instead of using the sizes Cargo stored in .global-cache
    #[arg(long)]
    pub exact: bool,
}

/// Arguments as `cargo janitor …` passes them (`cargo-janitor janitor …`) or as typed directly.
pub fn args_from_env() -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "janitor") {
        args.remove(1);
    }
    args
}
