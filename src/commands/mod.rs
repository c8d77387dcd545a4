//! One thin function per subcommand, composing discover → observe → plan → act → report.

pub mod completions;
pub mod gc;
pub mod locks;
pub mod network;
pub mod run;
pub mod schedule;
pub mod status;
pub mod stop;
pub mod sweep;
pub mod tidy;
pub mod trim;
pub mod used_by;
pub mod wait;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::report::Output;

/// Runs the parsed command line and returns the exit code.
pub fn run(cli: &Cli, out: &Output) -> Result<i32> {
    match &cli.command {
        Command::Status(args) => status::run(&cli.global, args, out),
        Command::Gc(args) => gc::run(&cli.global, args, out),
        Command::Locks(args) => locks::run(&cli.global, args, out),
        Command::Wait(args) => wait::run(&cli.global, args, out),
        Command::Run(args) => run::run(&cli.global, args, out),
        Command::Stop(args) => stop::run(&cli.global, args, out),
        Command::Sweep(args) => sweep::run(&cli.global, args, out),
        Command::Trim(args) => trim::run(&cli.global, args, out),
        Command::Completions(args) => completions::completions(args.shell),
        Command::Man => completions::man(),
        Command::Tidy(args) => tidy::run(&cli.global, args, out),
        Command::Schedule(args) => schedule::run(&cli.global, args, out),
    }
}

/// Records the target dirs a real run worked on (and forgets `dropped`) for the home named
/// by `cargo_home` (the `--cargo-home` flag, else the environment), so that `tidy` knows them
/// later ([`crate::discover::known`]). A failure is a warning: the run itself went as it did.
pub fn record_target_dirs(
    cargo_home: Option<&std::path::Path>,
    dirs: &[std::path::PathBuf],
    dropped: &[std::path::PathBuf],
    out: &Output,
) {
    if dirs.is_empty() && dropped.is_empty() {
        return;
    }
    let home = match crate::discover::CargoHome::resolve(cargo_home) {
        Ok(h) => h,
        Err(_) => return,
    };
    if let Err(e) = crate::discover::known::record(&home.path, dirs, dropped) {
        out.warn(format!(
            "could not record the target dirs this run worked on (for `tidy`): {e}"
        ));
    }
}
