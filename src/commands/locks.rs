//! `cargo janitor locks`: who holds and who waits on every Cargo lock, and why. The lock
//! doctor's services live below: one look (`observe::lock_doctor`), the diagnosis
//! (`plan::locks`), the holder line and the "Blocking waiting…" notice every waiting command
//! prints (`report::locks`).

use std::path::PathBuf;

use anyhow::Result;

use crate::cargo::locks as vocab;
use crate::cli::{GlobalArgs, LocksArgs};
use crate::discover::paths::Need;
use crate::discover::{self, CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::lock_doctor;
use crate::observe::lockfiles::LockFiles;
use crate::plan::locks;
use crate::report::{self, Output};
use crate::sys::process;

/// The Cargo home, and the lock files to probe directly: the home's, and those of the given
/// target dirs (default: the current workspace's), with the directories that could not be
/// looked into.
pub fn candidates(global: &GlobalArgs, paths: &[PathBuf]) -> Result<(CargoHome, LockFiles)> {
    let cwd = std::env::current_dir()?;
    let given = (paths.iter())
        .map(|p| discover::paths::check(&cwd, p, Need::LockDir, "PATH"))
        .collect::<Result<Vec<_>, _>>()?;
    let home = CargoHome::locate_existing(global.cargo_home.as_deref())?;
    let dirs: Vec<PathBuf> = if paths.is_empty() {
        let config = CargoConfig::load(&cwd, &home)?;
        target::target_dirs(&cwd, &config, &home)
    } else {
        given
    };
    let files = lock_doctor::lock_files(&home.path, &dirs);
    Ok((home, files))
}

pub fn run(global: &GlobalArgs, args: &LocksArgs, out: &Output) -> Result<i32> {
    let meaning = match &args.message {
        None => None,
        Some(text) => Some(vocab::parse_message(text).ok_or_else(|| {
            BadInput(format!(
                "invalid value `{text}` for --message: expected {}",
                vocab::message_grammar()
            ))
        })?),
    };
    let (home, mut found) = candidates(global, &args.paths)?;
    super::network::note(&home.path, out);
    // A path from `-vv` is probed too, wherever it is.
    if let Some(p) = meaning.as_ref().and_then(|m| m.path.as_ref())
        && vocab::classify(p).is_some()
        && !found.files.contains(p)
    {
        found.files.push(p.clone());
    }
    let table = process::table();
    let look = lock_doctor::look(table.as_ref(), &found.files, args.sample, &home.path);
    report::locks::warn_blind(&look, out);
    let mut report = locks::diagnose(&look);
    report.unlisted = found.unlisted;
    if let Some(m) = meaning {
        let path_id = m
            .path
            .as_ref()
            .and_then(|p| crate::sys::fs::lstat(p).ok())
            .map(|st| st.id);
        locks::narrow(&mut report, &m, &look.probes, path_id);
        report.meaning = Some(m);
    }
    if args.json {
        report::json(&report)?;
    } else {
        report::print_human(report::locks::render(&report, found.files.len(), out))?;
    }
    Ok(exit::OK)
}
