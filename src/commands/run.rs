//! `cargo janitor run -- <command…>`: run a command (typically cargo) with its own terminal,
//! and explain any Cargo lock wait of it or its descendants as it happens.
//!
//! On a terminal the command stays in our process group, which is the terminal's foreground
//! group: it reads the terminal, Ctrl-C reaches it directly (we ignore SIGINT and SIGQUIT
//! and report its exit), and Ctrl-Z stops us both, as with plain cargo. `--timeout` then stops
//! the command's process tree. Without a terminal the command gets a process group of its
//! own, which `--timeout` stops, and we forward SIGINT, SIGTERM and SIGHUP to it.

use std::collections::BTreeSet;
use std::io::IsTerminal;
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

/// Sends `sig` to the command: its own process group, or (sharing ours, on a terminal) its
/// process tree, deepest first. The child is not reaped yet, so its pid cannot be reused.
fn stop_child(snap: &crate::observe::procs::Snapshot, pid: u32, terminal: bool, sig: i32) {
    if terminal {
        let mut tree = snap.subtree(pid);
        tree.sort_by_key(|p| std::cmp::Reverse(snap.ancestors(*p).len()));
        for p in tree {
            // SAFETY: kill on the command's own descendants, found a moment ago.
            unsafe { libc::kill(p as i32, sig) };
        }
    } else {
        // SAFETY: kill(-pgid) on the group we created for it.
        unsafe { libc::kill(-(pid as i32), sig) };
    }
}

pub fn run(_global: &GlobalArgs, args: &RunArgs, out: &Output) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!(crate::exit::BadInput(
            "no command given: `cargo janitor run -- cargo build`".into()
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(rest);
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        // We ignore SIGINT and SIGQUIT below, and ignored signals stay ignored across exec:
        // give the child the defaults back.
        // SAFETY: `signal` is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
    } else {
        // Its own process group, so that `--timeout` can stop everything it started.
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| crate::exit::BadInput(format!("cannot run `{program}`: {e}")))?;
    let pid = child.id();
    if terminal {
        // SAFETY: ignore the terminal's signals here; the child (same group) gets them.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        }
    } else {
        CHILD_PGID.store(pid as i32, Ordering::SeqCst);
        install_forwarding();
    }

    let sys = procs::system();
    let timeout = args.timeout.map(|t| Duration::from_secs(t.secs()));
    let mut blocked_since: Option<Instant> = None;
    let mut said: BTreeSet<String> = BTreeSet::new();
    let mut last_watch = Instant::now() - WATCH;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the command")? {
            CHILD_PGID.store(0, Ordering::SeqCst);
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
                stop_child(&snap, pid, terminal, libc::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    if child.try_wait()?.is_some() {
                        CHILD_PGID.store(0, Ordering::SeqCst);
                        return Ok(exit::TIMED_OUT);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let snap = sys
                    .snapshot(&|p| lockfiles::classify(p).is_some())
                    .unwrap_or(snap);
                stop_child(&snap, pid, terminal, libc::SIGKILL);
                let _ = child.wait();
                CHILD_PGID.store(0, Ordering::SeqCst);
                return Ok(exit::TIMED_OUT);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
