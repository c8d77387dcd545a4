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

use crate::cli::{self, Cli, Command, GlobalArgs};
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

/// The output settings of the global flags (report/ sees no clap type).
pub fn output(global: &GlobalArgs) -> Output {
    let color = global.color.map(|c| match c {
        cli::ColorChoice::Auto => crate::report::ColorChoice::Auto,
        cli::ColorChoice::Always => crate::report::ColorChoice::Always,
        cli::ColorChoice::Never => crate::report::ColorChoice::Never,
    });
    Output::new(color, global.quiet, global.verbose)
}
