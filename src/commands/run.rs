//! `cargo janitor run -- <command…>`: run a command (typically cargo) with its own terminal,
//! and explain any Cargo lock wait of it or its descendants as it happens, with the holder
//! line of `locks`.
//!
//! On a terminal the command stays in our process group, which is the terminal's foreground
//! group: it reads the terminal, Ctrl-C reaches it directly (we ignore SIGINT and SIGQUIT
//! and report its exit), and Ctrl-Z stops us both, as with plain cargo. `--timeout` then stops
//! the command's process tree. Without a terminal the command gets a process group of its
//! own, which `--timeout` stops, and we forward SIGINT, SIGTERM and SIGHUP to it
//! ([`crate::sys::process::supervise`]).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{GlobalArgs, RunArgs};
use crate::discover::CargoHome;
use crate::exit;
use crate::observe::lock_doctor;
use crate::plan::locks::{self, Context as Advice, Verdict};
use crate::report::Output;
use crate::report::locks::holders_words;
use crate::sys::process::{self, LockUse, Rung, Snapshot, Supervision};

const WATCH: Duration = Duration::from_millis(250);

/// The command's processes, deepest first.
fn deepest_first(snap: &Snapshot, pid: u32) -> Vec<u32> {
    let mut tree = snap.subtree(pid);
    tree.sort_by_key(|p| std::cmp::Reverse(snap.ancestors(*p).len()));
    tree
}

pub fn run(global: &GlobalArgs, args: &RunArgs, out: &Output) -> Result<i32> {
    let Some((program, rest)) = args.command.split_first() else {
        bail!(crate::exit::BadInput(
            "no command given: `cargo janitor run -- cargo build`".into()
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(rest);
    let how = if std::io::stdin().is_terminal() {
        Supervision::Foreground
    } else {
        Supervision::OwnGroup
    };
    let mut child = process::control()
        .supervise(cmd, how)
        .map_err(|e| crate::exit::BadInput(format!("cannot run `{program}`: {e}")))?;
    let pid = child.pid();
    let home = CargoHome::locate(global.cargo_home.as_deref())
        .map(|h| h.path)
        .unwrap_or_else(|_| PathBuf::from(".cargo"));

    let table = process::table();
    let timeout = args.timeout.map(|t| Duration::from_secs(t.secs()));
    let mut blocked_since: Option<Instant> = None;
    // What was said, without durations: each is said once.
    let mut said: BTreeSet<String> = BTreeSet::new();
    let mut earlier: Option<(Snapshot, Instant)> = None;
    let mut last_watch = Instant::now() - WATCH;
    loop {
        if let Some(code) = child.try_wait().context("waiting for the command")? {
            return Ok(code);
        }
        if last_watch.elapsed() >= WATCH {
            last_watch = Instant::now();
            // The CPU used since the last look tells a busy holder from an idle one.
            let look = lock_doctor::look_since(table.as_ref(), &[], earlier.as_ref(), &home);
            if look.blind.is_some() {
                std::thread::sleep(WATCH);
                continue;
            }
            let waiting = waiting_in(&look.snap, pid);
            if waiting.is_empty() {
                blocked_since = None;
            } else if earlier.is_some() {
                blocked_since.get_or_insert_with(Instant::now);
                say_blocked(&look, &waiting, &mut said, out);
            }
            if let (Some(t), Some(since)) = (timeout, blocked_since)
                && since.elapsed() >= t
            {
                out.error(format!(
                    "blocked on a Cargo lock for {}s: stopping `{}` ({})",
                    since.elapsed().as_secs(),
                    args.command.join(" "),
                    child.describe()
                ));
                stop_tree(&mut child, table.as_ref(), look.snap, pid)?;
                return Ok(exit::TIMED_OUT);
            }
            earlier = Some((look.snap, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lock uses of the command's tree (`pid` and its descendants) that wait.
fn waiting_in(snap: &Snapshot, pid: u32) -> Vec<LockUse> {
    let ours: BTreeSet<u32> = snap.subtree(pid).into_iter().collect();
    snap.uses
        .iter()
        .filter(|u| u.waiting.is_some() && ours.contains(&u.pid))
        .cloned()
        .collect()
}

/// Says, once each, who blocks each waiting process of the tree, and the advice.
fn say_blocked(
    look: &lock_doctor::Look,
    waiting: &[LockUse],
    said: &mut BTreeSet<String>,
    out: &Output,
) {
    let report = locks::diagnose(look);
    for w in waiting {
        let Some(lock) = report.locks.iter().find(|l| l.file == Some(w.file)) else {
            continue;
        };
        let about = format!(
            "{} {} {:?}",
            w.pid,
            lock.path.display(),
            lock.holders
                .iter()
                .map(|h| (h.pid, h.verdict))
                .collect::<Vec<_>>()
        );
        if !said.insert(about) {
            continue;
        }
        out.warn(format!(
            "pid {} is blocked on the {} lock `{}`, {}",
            w.pid,
            lock.kind.name(),
            lock.path.display(),
            holders_words(lock)
        ));
        for h in &lock.holders {
            if h.verdict == Verdict::Deadlock || !out.quiet {
                out.warn(format!(
                    "{}: {}",
                    h.verdict.name(),
                    locks::advice(h, Advice::Other)
                ));
            }
        }
    }
}

/// Stops the command's tree (as in `snap`): Terminate, 3 seconds, then Kill of the tree as
/// it is then.
fn stop_tree(
    child: &mut process::Supervised,
    table: &dyn process::ProcessTable,
    snap: Snapshot,
    pid: u32,
) -> Result<()> {
    child.stop(&deepest_first(&snap, pid), Rung::Terminate);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = lock_doctor::snapshot(table).0;
    let snap = if now.procs.is_empty() { snap } else { now };
    child.stop(&deepest_first(&snap, pid), Rung::Kill);
    let _ = child.wait();
    Ok(())
}
