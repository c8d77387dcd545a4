//! `cargo janitor wait`: block until Cargo's locks are free, with a timeout, saying who
//! holds them meanwhile (the holder line of `locks`; on a terminal, a spinner cut to its
//! width).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cargo::locks::{self as vocab, LockKind};
use crate::cli::{GlobalArgs, WaitArgs};
use crate::exit::{self, BadInput};
use crate::observe::lock_doctor;
use crate::observe::lockfiles::{self, Probe};
use crate::report::Output;
use crate::report::locks::{fit, lock_line, not_probed_kind, short_line};
use crate::report::progress::Progress;
use crate::sys::process::{self, Snapshot};

/// How often the locks are probed.
const POLL: Duration = Duration::from_millis(50);
/// How often the holder is looked up again while waiting.
const LOOKUP: Duration = Duration::from_secs(2);

pub fn run(global: &GlobalArgs, args: &WaitArgs, out: &Output) -> Result<i32> {
    let kind = lock_kind(args.lock.as_deref())?;
    let paths: Vec<PathBuf> = args.path.iter().cloned().collect();
    let (home, found) = super::locks::candidates(global, &paths)?;
    let files: Vec<PathBuf> = found
        .files
        .into_iter()
        .filter(|f| kind.is_none() || vocab::classify(f) == kind)
        .collect();
    // Directories that could not be looked into: their locks may be held, for as long as
    // they stay that way.
    let unlisted = unlisted_words(&found.unlisted, kind);
    let table = process::table();
    let start = Instant::now();
    let timeout = args.timeout.map(|t| Duration::from_secs(t.secs()));
    let progress = out.progress("Waiting");
    let mut last_held: Vec<PathBuf> = Vec::new();
    let mut last_lookup: Option<Instant> = None;
    let mut earlier: Option<(Snapshot, Instant)> = None;
    let mut warned = false;
    // What was said (with durations), and what it is about (without: printed again only
    // when that changes).
    let mut said = String::new();
    let mut said_short = String::new();
    let mut said_about = String::new();
    loop {
        let (held, mut unknown) = probe_all(&files);
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
            let [mut parts, mut short, mut about] = [Vec::new(), Vec::new(), Vec::new()];
            if !held.is_empty() {
                let look = holders(table.as_ref(), &held, earlier.as_ref(), &home.path);
                if !warned {
                    crate::report::locks::warn_blind(&look, out);
                    warned = true;
                }
                [parts, short, about] = lock_words(&look, &held);
                earlier = Some((look.snap, Instant::now()));
            }
            parts.extend(unknown.iter().cloned());
            short.extend(unknown.iter().cloned());
            about.extend(unknown.iter().cloned());
            said = parts.join("; ");
            said_short = short.join("; ");
            let about = about.join("; ");
            if about != said_about {
                if !progress.shown() && !out.quiet {
                    out.line(format!("Waiting for {said}"));
                }
                said_about = about;
            }
            last_held = held;
            last_lookup = Some(Instant::now());
        }
        progress.message(&fit(
            &format!("Waiting for {said_short}"),
            Progress::columns(),
        ));
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

/// `--lock`: all (`None`) or one kind.
fn lock_kind(arg: Option<&str>) -> Result<Option<LockKind>> {
    Ok(match arg {
        None | Some("all") => None,
        Some(k) => Some(LockKind::parse(k).ok_or_else(|| {
            BadInput(format!(
                "invalid value `{k}` for --lock: expected all, {}",
                LockKind::ALL.map(|k| k.name()).join(", ")
            ))
        })?),
    })
}

/// Who holds the locks `held`: CPU since the last look (`earlier`), or a short sample of its
/// own the first time.
fn holders(
    table: &dyn process::ProcessTable,
    held: &[PathBuf],
    earlier: Option<&(Snapshot, Instant)>,
    home: &std::path::Path,
) -> lock_doctor::Look {
    match earlier {
        Some(_) => lock_doctor::look_since(table, held, earlier, home),
        None => lock_doctor::look(table, held, crate::observe::lock_doctor::SHORT_SAMPLE, home),
    }
}

/// What a lock's line is about, without durations: printed again only when this changes.
fn about_line(l: &crate::plan::locks::Lock) -> String {
    let holders: Vec<String> = l
        .holders
        .iter()
        .map(|h| format!("{}:{}", h.pid, h.verdict.name()))
        .collect();
    format!("{} {}", l.path.display(), holders.join(","))
}

/// What cannot be said free: the directories (of the locks of `kind`, or all) that could not
/// be looked into.
fn unlisted_words(unlisted: &[lockfiles::Unlisted], kind: Option<LockKind>) -> Vec<String> {
    unlisted
        .iter()
        .filter(|u| kind.is_none_or(|k| u.kinds.contains(&k)))
        .map(|u| {
            format!(
                "the locks in `{}`: could not look for them: {}; they may be held",
                u.path.display(),
                u.error
            )
        })
        .collect()
}

/// Probes the lock files: those held, and what could not be probed (never "free" while a
/// lock could not be probed: it may be held).
fn probe_all(files: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let probes: Vec<_> = files.iter().map(|f| lockfiles::probe(f)).collect();
    let held: Vec<PathBuf> = probes
        .iter()
        .filter(|p| matches!(p.probe, Probe::HeldShared | Probe::HeldExclusive))
        .map(|p| p.path.clone())
        .collect();
    let unknown: Vec<String> = probes
        .iter()
        .filter(|p| p.probe == Probe::Unknown)
        .map(|p| not_probed_kind(&p.path, p.error.as_deref()))
        .collect();
    (held, unknown)
}

/// The held locks `held` in words: each one's line, its short line (for the spinner), and
/// what it is about (without durations).
fn lock_words(look: &lock_doctor::Look, held: &[PathBuf]) -> [Vec<String>; 3] {
    let [mut parts, mut short, mut about] = [Vec::new(), Vec::new(), Vec::new()];
    let locks = crate::plan::locks::locks_of(look, held);
    if locks.is_empty() {
        parts.push("a Cargo lock".to_string());
        short.push("a Cargo lock".to_string());
    }
    for l in &locks {
        parts.push(lock_line(l));
        short.push(short_line(l));
        about.push(about_line(l));
    }
    [parts, short, about]
}
