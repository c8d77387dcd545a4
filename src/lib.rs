//! cargo-janitor: keeps Cargo's shared state healthy.
//!
//! Every command is one pipeline, and the modules follow it:
//!
//! * [`cargo`]: Cargo's names, no I/O (its lock files and their messages, every version);
//! * [`discover`]: where things are (CARGO_HOME, cargo config, registry names);
//! * [`observe`]: read-only facts (the `.global-cache` rows, sizes from one walker);
//! * [`plan`]: pure functions from facts and policy to what to report or delete;
//! * [`act`]: the one executor that takes Cargo's locks and deletes;
//! * [`report`]: tables, JSON and progress.
//!
//! [`sys`] is the floor: the only code that talks to the OS (directory handles, processes).
//! [`commands`] composes them, one small function per subcommand.

mod act;
mod cargo;
mod cli;
mod commands;
mod discover;
mod exit;
mod observe;
mod plan;
mod quantity;
mod report;
mod sys;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, args_from_env};

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
    let out = commands::output(&cli.global);
    let code = match commands::run(&cli, &out) {
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

/// What `examples/synth_home.rs` needs to write a `.global-cache` as Cargo does; nothing else
/// of the crate is public.
#[doc(hidden)]
pub mod for_examples {
    pub use crate::act::db::{migrate, open};
}
