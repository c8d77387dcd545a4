//! `cargo janitor locks`: who holds and who waits on every Cargo lock, and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::cli::{GlobalArgs, LocksArgs};
use crate::discover::paths::Need;
use crate::discover::{self, CargoConfig, CargoHome, target};
use crate::exit;
use crate::observe::lockfiles::{self, LockFiles, Probe};
use crate::observe::procs::{self, Snapshot, System};
use crate::plan::locks::{self, Probed, Report};
use crate::report::{self, Output};

/// The lock files to probe directly: the Cargo home's, and those of the given target dirs
/// (default: the current workspace's), with the directories that could not be looked into.
pub fn candidates(global: &GlobalArgs, paths: &[PathBuf]) -> Result<LockFiles> {
    let cwd = std::env::current_dir()?;
    let given = (paths.iter())
        .map(|p| discover::paths::check(&cwd, p, Need::LockDir, "PATH"))
        .collect::<Result<Vec<_>, _>>()?;
    let home = CargoHome::locate_existing(global.cargo_home.as_deref())?;
    let mut files = lockfiles::home_lock_files(&home.path);
    let dirs: Vec<PathBuf> = if paths.is_empty() {
        let config = CargoConfig::load(&cwd, &home)?;
        target::target_dirs(&cwd, &config, &home)
    } else {
        given
    };
    for d in dirs {
        files.extend(lockfiles::target_lock_files(&d));
    }
    Ok(files)
}

/// A look at the system: processes and their Cargo lock files. On platforms where that is
/// not implemented, an empty snapshot and a note.
pub fn look(sys: &dyn System, out: &Output) -> Snapshot {
    match sys.snapshot(&|p: &Path| lockfiles::classify(p).is_some()) {
        Ok(s) => s,
        Err(e) => {
            out.warn(format!("{e}; only whether each lock is held is shown"));
            Snapshot::default()
        }
    }
}

/// CPU share of every process in the holders' trees over `sample`.
pub fn sample_cpu(sys: &dyn System, snap: &Snapshot, sample: Duration) -> BTreeMap<u32, f64> {
    let mut pids: Vec<u32> = snap
        .uses
        .iter()
        .filter(|u| u.holding.is_some())
        .flat_map(|u| snap.subtree(u.pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let before = sys.cpu_ticks(&pids);
    std::thread::sleep(sample);
    let after = sys.cpu_ticks(&pids);
    let secs = sample.as_secs_f64() * snap.ticks_per_sec.max(1) as f64;
    after
        .iter()
        .filter_map(|(pid, t1)| {
            let t0 = before.get(pid)?;
            Some((*pid, t1.saturating_sub(*t0) as f64 / secs))
        })
        .collect()
}

pub fn diagnose(
    global: &GlobalArgs,
    paths: &[PathBuf],
    sample: Duration,
    out: &Output,
) -> Result<(Report, usize)> {
    let found = candidates(global, paths)?;
    let sys = procs::system();
    let snap = look(sys.as_ref(), out);
    let cpu = (!sample.is_zero()).then(|| sample_cpu(sys.as_ref(), &snap, sample));
    let mut report = locks::diagnose(&snap, &probed(&found.files), cpu.as_ref());
    report.unlisted = found.unlisted;
    Ok((report, found.files.len()))
}

pub fn run(global: &GlobalArgs, args: &LocksArgs, out: &Output) -> Result<i32> {
    let (report, checked) = diagnose(global, &args.paths, args.sample, out)?;
    if args.json {
        report::json(&report)?;
    } else {
        report::print(report::locks::render(&report, checked, out))?;
    }
    Ok(exit::OK)
}

/// Probes each file, with its identity.
pub fn probed(files: &[PathBuf]) -> Vec<Probed> {
    files.iter().map(|f| lockfiles::probe(f)).collect()
}

/// Who holds these lock files, in one line: the lock doctor's naming, for every command
/// that waits.
pub fn who_holds(held: &[PathBuf]) -> String {
    let sys = procs::system();
    let snap = sys
        .snapshot(&|p: &Path| lockfiles::classify(p).is_some())
        .unwrap_or_default();
    let probes = probed(held);
    let ids: Vec<(u64, u64)> = probes.iter().filter_map(|p| p.file).collect();
    let report = locks::diagnose(&snap, &probes, None);
    // The same file, whatever path it was reached by (a symlinked home, `..`).
    let same_file = |l: &locks::Lock| {
        held.contains(&l.path)
            || snap
                .uses
                .iter()
                .any(|u| u.path == l.path && ids.contains(&u.file))
    };
    let parts: Vec<String> = report
        .locks
        .iter()
        .filter(|l| same_file(l))
        .map(|l| {
            let who = match l.holders.first() {
                Some(h) => format!(
                    "pid {} `{}` ({})",
                    h.pid,
                    h.cmdline,
                    format!("{:?}", h.verdict).to_lowercase()
                ),
                None if l.probe == Some(Probe::Unknown) => {
                    return report::locks::not_probed_kind(&l.path, l.probe_error.as_deref());
                }
                None => "a process this user cannot see".to_string(),
            };
            format!("{} (`{}`), held by {who}", l.kind.name(), l.path.display())
        })
        .collect();
    if parts.is_empty() {
        "a Cargo lock".into()
    } else {
        parts.join("; ")
    }
}

/// Cargo's "Blocking waiting for file lock on …" status line, naming the holder the way
/// `locks` does: for every command that waits for a lock.
pub fn blocking_notice(out: &Output) -> impl FnMut(&'static str, &Path) + '_ {
    move |what, path| {
        out.status(
            "Blocking",
            format!(
                "waiting for file lock on {what}: {}",
                who_holds(&[path.to_owned()])
            ),
        );
    }
}
