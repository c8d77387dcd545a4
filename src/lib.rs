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

pub mod act;
pub mod cargo;
pub mod cli;
pub mod commands;
pub mod discover;
pub mod exit;
pub mod observe;
pub mod plan;
pub mod report;
pub mod sys;
pub mod units;
