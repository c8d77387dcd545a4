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

/// The whole program (see [`commands::main`]).
pub fn main() -> std::process::ExitCode {
    commands::main()
}

/// What `examples/synth_home.rs` needs to write a `.global-cache` as Cargo does; nothing else
/// of the crate is public.
#[doc(hidden)]
pub mod for_examples {
    pub use crate::act::db::{migrate, open};
}
