//! `cargo janitor wait`: block until Cargo's locks are free, with a timeout, saying who
//! holds them meanwhile.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::{GlobalArgs, WaitArgs};
use crate::exit::{self, BadInput};
use crate::observe::lockfiles::{self, LockKind, Probe};
use crate::report::Output;

/// How often the locks are probed.
const POLL: Duration = Duration::from_millis(50);
/// How often the holder is looked up again while waiting.
const LOOKUP: Duration = Duration::from_secs(2);

pub fn run(global: &GlobalArgs, args: &WaitArgs, out: &Output) -> Result<i32> {
    let kind = match args.lock.as_deref() {
        None | Some("all") => None,
        Some(k) => Some(LockKind::parse(k).ok_or_else(|| {
            BadInput(format!(
                "invalid value `{k}` for --lock: expected all, {}",
                LockKind::ALL.map(|k| k.name()).join(", ")
            ))
        })?),
    };
    let paths: Vec<PathBuf> = args.path.iter().cloned().collect();
    let found = super::locks::candidates(global, &paths)?;
    let files: Vec<PathBuf> = found
        .files
        .into_iter()
        .filter(|f| kind.is_none() || lockfiles::classify(f) == kind)
        .collect();
    // Directories that could not be looked into: their locks may be held, for as long as
    // they stay that way.
    let unlisted: Vec<String> = found
        .unlisted
        .iter()
        .filter(|u| kind.is_none_or(|k| u.kinds.contains(&k)))
        .map(|u| {
            format!(
                "the locks in `{}`: could not look for them: {}; they may be held",
                u.path.display(),
                u.error
            )
        })
        .collect();
    let start = Instant::now();
    let timeout = args.timeout.map(|t| Duration::from_secs(t.secs()));
    let progress = out.progress("Waiting");
    let mut last_held: Vec<PathBuf> = Vec::new();
    let mut last_lookup: Option<Instant> = None;
    let mut said = String::new();
    loop {
        let probes = super::locks::probed(&files);
        let held: Vec<PathBuf> = probes
            .iter()
            .filter(|p| matches!(p.probe, Probe::HeldShared | Probe::HeldExclusive))
            .map(|p| p.path.clone())
            .collect();
        // Never "free" while a lock could not be probed: it may be held.
        let mut unknown: Vec<String> = probes
            .iter()
            .filter(|p| p.probe == Probe::Unknown)
            .map(|p| crate::report::locks::not_probed_kind(&p.path, p.error.as_deref()))
            .collect();
        unknown.extend(unlisted.iter().cloned());
        if held.is_empty() && unknown.is_empty() {
            progress.finish();
            if !said.is_empty() {
                out.status(
                    "Free",
                    format!("after {:.1}s", start.elapsed().as_secs_f64()),
                );
            }
            return Ok(exit::OK);
        }
        if held != last_held || last_lookup.is_none_or(|t| t.elapsed() >= LOOKUP) {
            let mut parts = Vec::new();
            if !held.is_empty() {
                parts.push(super::locks::who_holds(&held));
            }
            parts.extend(unknown.iter().cloned());
            let words = parts.join("; ");
            if words != said {
                if out.stderr_tty {
                    progress.tick(0);
                } else if !out.quiet {
                    out.line(format!("Waiting for {words}"));
                }
                said = words;
            }
            last_held = held;
            last_lookup = Some(Instant::now());
        }
        if out.stderr_tty {
            progress.message(&format!("Waiting for {said}"));
        }
        if let Some(t) = timeout
            && start.elapsed() >= t
        {
            progress.finish();
            out.error(format!(
                "timed out after {}s waiting for {said}",
                start.elapsed().as_secs()
            ));
            return Ok(exit::TIMED_OUT);
        }
        std::thread::sleep(POLL);
    }
}
