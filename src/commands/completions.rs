//! `cargo janitor completions SHELL` (clap_complete) and the hidden `cargo janitor man`
//! (clap_mangen): both generated from the same command-line definition as `--help`, so they
//! cannot disagree with it.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;
use crate::report;

/// The command as installed: `cargo-janitor`, which cargo runs for `cargo janitor`.
fn command() -> clap::Command {
    Cli::command().bin_name("cargo-janitor")
}

/// A completion script for `shell`, on stdout (through the one writer: `| head` is quiet).
pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cargo-janitor", &mut buf);
    report::print(String::from_utf8_lossy(&buf))?;
    Ok(exit::OK)
}

/// The man page, cargo-janitor(1), in roff on stdout: `cargo janitor man | man -l -`.
pub fn man() -> Result<i32> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(command()).render(&mut buf)?;
    report::print(String::from_utf8_lossy(&buf))?;
    Ok(exit::OK)
}
