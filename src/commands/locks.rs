//! `cargo janitor locks`: who holds and who waits on every Cargo lock, and why; and the
//! one-line holder notice every command that waits for a lock prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cargo::locks as vocab;
use crate::cli::{GlobalArgs, LocksArgs};
use crate::discover::paths::Need;
use crate::discover::{self, CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::lock_doctor::{self, Look};
use crate::observe::lockfiles::LockFiles;
use crate::plan::locks;
use crate::report::{self, Output};
use crate::sys::process;

/// How long the commands that only mention a holder (`wait`, the Blocking line) watch its
/// CPU before saying whether it is busy.
pub const SHORT_SAMPLE: Duration = Duration::from_millis(250);

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

/// Warns when processes cannot be looked at here.
pub fn warn_blind(look: &Look, out: &Output) {
    if let Some(why) = &look.blind {
        out.warn(format!("{why}; only whether each lock is held is shown"));
    }
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
    warn_blind(&look, out);
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

/// The locks at these paths (the same files, whatever path they were reached by) in `look`'s
/// diagnosis.
pub fn locks_of(look: &Look, held: &[PathBuf]) -> Vec<locks::Lock> {
    locks::at_paths(locks::diagnose(look), &look.probes, held)
}

/// Who holds these lock files, in one line: the lock doctor's holder line, for every
/// command that waits.
pub fn who_holds(look: &Look, held: &[PathBuf]) -> String {
    let parts: Vec<String> = locks_of(look, held)
        .iter()
        .map(report::locks::lock_line)
        .collect();
    if parts.is_empty() {
        "a Cargo lock".into()
    } else {
        parts.join("; ")
    }
}

/// The Cargo home to assume for a holder whose environment cannot be read.
fn some_home() -> PathBuf {
    CargoHome::locate(None)
        .map(|h| h.path)
        .unwrap_or_else(|_| PathBuf::from(".cargo"))
}

/// Cargo's "Blocking waiting for file lock on …" status line, naming the holder the way
/// `locks` does: for every command that waits for a lock.
pub fn blocking_notice(out: &Output) -> impl FnMut(&'static str, &Path) + '_ {
    move |what, path| {
        let table = process::table();
        let files = [path.to_owned()];
        let look = lock_doctor::look(table.as_ref(), &files, SHORT_SAMPLE, &some_home());
        out.status(
            "Blocking",
            format!(
                "waiting for file lock on {what}: {}",
                who_holds(&look, &files)
            ),
        );
    }
}
