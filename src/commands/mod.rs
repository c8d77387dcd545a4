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

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{self, Cli, Command, GlobalArgs, args_from_env};
use crate::report::Output;
use crate::{exit, report};

/// The whole program: parse the arguments, run the command, print any error as Cargo does
/// (the outermost message, then each cause indented), and give the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(args_from_env()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT as u8
            } else {
                exit::OK as u8
            });
        }
    };
    let out = output(&cli.global);
    let code = match run(&cli, &out) {
        Ok(code) => code,
        // The reader of our output went away (`| head`): not a failure, and nothing to say,
        // as in ripgrep.
        Err(err) if report::is_broken_pipe(&err) => exit::OK,
        Err(err) => {
            // Cargo's shape: the outermost message, then each cause indented.
            let mut chain = err.chain();
            out.error(chain.next().map(ToString::to_string).unwrap_or_default());
            let causes: Vec<String> = chain.map(ToString::to_string).collect();
            if !causes.is_empty() {
                out.line("\nCaused by:");
                for c in causes {
                    out.line(format!("  {c}"));
                }
            }
            if err.chain().any(|e| e.is::<exit::BadInput>()) {
                exit::BAD_INPUT
            } else {
                exit::FAILURE
            }
        }
    };
    ExitCode::from(code as u8)
}

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

/// The output settings of the global flags (report/ sees no clap type).
pub fn output(global: &GlobalArgs) -> Output {
    let color = global.color.map(|c| match c {
        cli::ColorChoice::Auto => crate::report::ColorChoice::Auto,
        cli::ColorChoice::Always => crate::report::ColorChoice::Always,
        cli::ColorChoice::Never => crate::report::ColorChoice::Never,
    });
    Output::new(color, global.quiet, global.verbose)
}

/// A Cargo home's inventory (`snapshot`: the database's rows), sized as `mode` says with
/// progress under `label`. An entry that cannot be read stops the run here, before anything
/// is written or removed: it must not make Cargo's rows look orphaned. Unreadable files
/// inside entries are one warning (what is printed is sized without them).
pub fn scan_home(
    home: &crate::discover::CargoHome,
    snapshot: Option<&crate::observe::db::Snapshot>,
    mode: crate::observe::home::SizeMode,
    label: &str,
    out: &Output,
) -> Result<crate::observe::home::Inventory> {
    use crate::observe::home;
    let mut inv = home::scan(&home.path, snapshot);
    if let Some((path, err)) = inv.errors.first() {
        anyhow::bail!(
            "`{}` {err}; nothing was removed{}",
            path.display(),
            if inv.errors.len() > 1 {
                format!(" ({} more problems like it)", inv.errors.len() - 1)
            } else {
                String::new()
            }
        );
    }
    let progress = out.progress(label);
    let tick = |n| progress.tick(n);
    let mut walker = crate::observe::walk::Walker::with_progress(&tick);
    home::measure(&mut inv, mode, &mut walker);
    progress.finish();
    out.warn_unread(&walker.errors);
    Ok(inv)
}
