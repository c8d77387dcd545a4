//! `cargo janitor run -- <command…>`: run a command (typically cargo) with its own terminal,
//! and explain any Cargo lock wait of it or its descendants as it happens.

use std::collections::BTreeSet;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{GlobalArgs, RunArgs};
use crate::exit;
use crate::observe::lockfiles;
use crate::observe::procs;
use crate::plan::locks::{self, Verdict};
use crate::report::Output;

/// The child's process group, for the signal forwarder.
static CHILD_PGID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pgid = CHILD_PGID.load(Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(-pgid, sig) };
    }
}

/// Forwards Ctrl-C, SIGTERM and SIGHUP to the child's process group.
fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only calls kill.
        unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
    }
}

const WATCH: Duration = Duration::from_millis(250);

pub fn run(_global: &GlobalArgs, args: &RunArgs, out: &Output) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!(crate::exit::BadInput(
            "no command given: `cargo janitor run -- cargo build`".into()
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(rest);
    // Its own process group, so that `--timeout` can stop everything it started.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| crate::exit::BadInput(format!("cannot run `{program}`: {e}")))?;
    let pid = child.id();
    CHILD_PGID.store(pid as i32, Ordering::SeqCst);
    install_forwarding();

    let sys = procs::system();
    let timeout = args.timeout.map(|t| Duration::from_secs(t.secs()));
    let mut blocked_since: Option<Instant> = None;
    let mut said: BTreeSet<String> = BTreeSet::new();
    let mut last_watch = Instant::now() - WATCH;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the command")? {
            return Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
        }
        if last_watch.elapsed() >= WATCH {
            last_watch = Instant::now();
            let snap = match sys.snapshot(&|p| lockfiles::classify(p).is_some()) {
                Ok(s) => s,
                Err(_) => {
                    std::thread::sleep(WATCH);
                    continue;
                }
            };
            let ours: BTreeSet<u32> = snap.subtree(pid).into_iter().collect();
            let waiting: Vec<_> = snap
                .uses
                .iter()
                .filter(|u| u.waiting.is_some() && ours.contains(&u.pid))
                .collect();
            if waiting.is_empty() {
                blocked_since = None;
            } else {
                blocked_since.get_or_insert_with(Instant::now);
                let report = locks::diagnose(&snap, &[], None);
                for w in &waiting {
                    let Some(lock) = report.locks.iter().find(|l| l.path == w.path) else {
                        continue;
                    };
                    let holders: Vec<String> = lock
                        .holders
                        .iter()
                        .map(|h| {
                            format!(
                                "pid {} `{}` ({})",
                                h.pid,
                                h.cmdline,
                                format!("{:?}", h.verdict).to_lowercase()
                            )
                        })
                        .collect();
                    let who = if holders.is_empty() {
                        "a process this user cannot see".to_string()
                    } else {
                        holders.join(", ")
                    };
                    let line = format!(
                        "pid {} is blocked on the {} lock `{}`, held by {who}",
                        w.pid,
                        lock.kind.name(),
                        lock.path.display()
                    );
                    if said.insert(line.clone()) {
                        out.warn(&line);
                        if let Some(h) = lock.holders.first()
                            && (h.verdict == Verdict::Deadlock || !out.quiet)
                        {
                            out.warn(format!(
                                "{}: {}",
                                format!("{:?}", h.verdict).to_lowercase(),
                                h.suggestion
                            ));
                        }
                    }
                }
            }
            if let (Some(t), Some(since)) = (timeout, blocked_since)
                && since.elapsed() >= t
            {
                out.error(format!(
                    "blocked on a Cargo lock for {}s: stopping `{}` (process group {pid})",
                    since.elapsed().as_secs(),
                    args.command.join(" ")
                ));
                // SAFETY: kill(-pgid, sig) on the group we created.
                unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    if child.try_wait()?.is_some() {
                        return Ok(exit::TIMED_OUT);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // SAFETY: as above.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                let _ = child.wait();
                return Ok(exit::TIMED_OUT);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
