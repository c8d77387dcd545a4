//! Stopping a stuck lock holder safely (locks.md §A.3).
//!
//! * The target is the holder's process group when it leads one (as rust-analyzer's cargo
//!   and `setsid` do), otherwise its process tree, deepest first: signalling only the cargo
//!   pid would orphan its build scripts and rustc, which go on writing.
//! * We never signal ourselves or an ancestor of ours (`cargo janitor stop` run from a build
//!   script, or from a shell inside the holder's tree): [`protected`] lists them, the command
//!   refuses a target among them, and a process group holding one of them is signalled
//!   member by member without them (never with `kill(-pgid)`), saying what was left out.
//! * The ladder is planned by [`crate::plan::stop::ladder`] from the platform's rungs: SIGINT
//!   (skipped when the process ignores it, as background jobs of non-interactive shells do)
//!   → wait → SIGTERM, with SIGCONT when stopped (a stopped process keeps SIGTERM pending) →
//!   wait → SIGKILL only when forced.
//! * A process is only ever signalled pinned ([`crate::sys::process::ProcessControl::pin`]):
//!   through a pidfd opened while we knew it was the right process (Linux 5.3+), or after
//!   checking its start stamp again: a reused pid is never hit.
//! * Success means the process and everything signalled are gone: the kernel has then
//!   released every lock they held (a shared lock may still be held by others, and a
//!   waiter's lock by its holder). The tree is looked at again before every signal, so rustc
//!   and build scripts started meanwhile are stopped too. A process in uninterruptible sleep
//!   (`D`) is reported, not signalled in a loop.

use std::time::{Duration, Instant};

use crate::plan::stop::Step as Planned;
use crate::sys::process::{self, Pinned, ProcState, ProcessControl, ProcessTable, Rung, Snapshot};

/// One rung of the ladder, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub signal: String,
    pub to: String,
    /// Whether the lock was free and the process gone after this step.
    pub released: bool,
}

/// A process left out of every signal, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    pub pid: u32,
    pub cmdline: String,
    /// "this command" or "an ancestor of this command".
    pub who: &'static str,
    /// The process group it was found in.
    pub group: u32,
}

/// What the ladder reports as it goes.
pub enum Event<'a> {
    /// A process of the holder's process group is left out (reported once).
    Excluded(&'a Excluded),
    Step(&'a Step),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub pid: u32,
    pub steps: Vec<Step>,
    pub released: bool,
    /// Processes left in uninterruptible sleep (they cannot take a signal until their I/O ends).
    pub uninterruptible: Vec<u32>,
    /// Processes left out of every signal: this command and its ancestors.
    pub excluded: Vec<Excluded>,
}

/// This process and its ancestors, nearest first: never signalled.
pub fn protected(snap: &Snapshot) -> Vec<u32> {
    let me = process::current_pid();
    let mut v = vec![me];
    for a in snap.ancestors(me) {
        if !v.contains(&a) {
            v.push(a);
        }
    }
    let parent = process::parent_pid();
    if parent != 0 && !v.contains(&parent) {
        v.push(parent);
    }
    v
}

/// Pins each of `pids` (as `snap` shows them) that is not yet in `into`.
fn pin_new(
    ctl: &dyn ProcessControl,
    snap: &Snapshot,
    pids: impl IntoIterator<Item = u32>,
    into: &mut Vec<Pinned>,
) {
    for p in pids {
        let Some(id) = snap.procs.get(&p).map(|i| i.id()) else {
            continue;
        };
        if into.iter().any(|t| t.id == id) {
            continue;
        }
        if let Some(pinned) = ctl.pin(id) {
            into.push(pinned);
        }
    }
}

/// The holder's descendants, deepest first, without `protected`.
fn tree(snap: &Snapshot, pid: u32, protected: &[u32]) -> Vec<u32> {
    let mut pids = snap.subtree(pid);
    pids.retain(|p| *p != pid && !protected.contains(p));
    pids.sort_by_key(|p| std::cmp::Reverse(snap.ancestors(*p).len()));
    pids
}

fn cmdline(snap: &Snapshot, pid: u32) -> String {
    snap.procs
        .get(&pid)
        .map(|p| p.command())
        .unwrap_or_default()
}

/// Runs the planned `steps` against `holder` (pinned), which must not be in
/// `protected(snap)`.
pub fn ladder(
    table: &dyn ProcessTable,
    ctl: &dyn ProcessControl,
    snap: &Snapshot,
    holder: &Pinned,
    steps: &[Planned],
    wait: Duration,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Outcome {
    let hpid = holder.id.pid;
    let leads_group = snap.procs.get(&hpid).is_some_and(|p| p.pgid == p.pid);
    let me = process::current_pid();
    let we_lead_it = process::current_pgid() == Some(hpid);
    let mut protect = protected(snap);
    let mut out = Outcome {
        pid: hpid,
        steps: Vec::new(),
        released: false,
        uninterruptible: Vec::new(),
        excluded: Vec::new(),
    };
    if protect.contains(&hpid) {
        // Callers refuse this: signalling it would stop this command first.
        return out;
    }
    let alive = |p: &Pinned| ctl.state(p).is_some();
    // Everything signalled besides the holder (its tree, and group members signalled one by
    // one), each pinned when first seen.
    let mut targets: Vec<Pinned> = Vec::new();
    pin_new(ctl, snap, tree(snap, hpid, &protect), &mut targets);
    let gone = |targets: &[Pinned]| !alive(holder) && targets.iter().all(|p| !alive(p));
    for step in steps {
        // Look again: pin what was started since, and whoever is now an ancestor of ours.
        let now = table.snapshot(&|_| false).unwrap_or_else(|_| snap.clone());
        for p in protected(&now) {
            if !protect.contains(&p) {
                protect.push(p);
            }
        }
        pin_new(ctl, &now, tree(&now, hpid, &protect), &mut targets);
        // The holder's group, when it leads one, and which of us is in it.
        let mut ours_in_group: Vec<u32> = Vec::new();
        if leads_group {
            ours_in_group = protect
                .iter()
                .copied()
                .filter(|p| now.procs.get(p).is_some_and(|i| i.pgid == hpid))
                .collect();
            if we_lead_it && !ours_in_group.contains(&me) {
                ours_in_group.push(me);
            }
            for &p in &ours_in_group {
                if out.excluded.iter().any(|e| e.pid == p) {
                    continue;
                }
                let e = Excluded {
                    pid: p,
                    cmdline: cmdline(&now, p),
                    who: if p == me {
                        "this command"
                    } else {
                        "an ancestor of this command"
                    },
                    group: hpid,
                };
                on_event(Event::Excluded(&e));
                out.excluded.push(e);
            }
            if !ours_in_group.is_empty() {
                let members: Vec<u32> = now
                    .procs
                    .values()
                    .filter(|p| p.pgid == hpid && p.pid != hpid)
                    .filter(|p| !protect.contains(&p.pid))
                    .map(|p| p.pid)
                    .collect();
                pin_new(ctl, &now, members, &mut targets);
            }
        }
        let stopped = ctl.state(holder).is_some_and(ProcState::is_stopped);
        let send = |r: Rung| -> String {
            if leads_group && ours_in_group.is_empty() {
                // The group's leader is the pinned holder: signalled only while it is still
                // that process, and never while we are in it.
                ctl.send_group(holder, r);
                // Members that left the group are in the tree.
                for p in &targets {
                    ctl.send(p, r);
                }
                format!("process group {hpid}")
            } else {
                for p in &targets {
                    ctl.send(p, r);
                }
                ctl.send(holder, r);
                if leads_group {
                    let left_out: Vec<String> =
                        ours_in_group.iter().map(|p| format!("pid {p}")).collect();
                    format!(
                        "process group {hpid} one process at a time ({} processes), without {}",
                        targets.len() + 1,
                        left_out.join(" and ")
                    )
                } else {
                    format!("pid {hpid} and its {} descendants", targets.len())
                }
            }
        };
        let to = send(step.rung);
        let name = if step.resume_if_stopped && stopped {
            send(Rung::Continue);
            format!("{}+{}", step.rung.name(), Rung::Continue.name())
        } else {
            step.rung.name().to_string()
        };
        let released = wait_until(wait, || gone(&targets));
        let step = Step {
            signal: name,
            to,
            released,
        };
        on_event(Event::Step(&step));
        out.steps.push(step);
        if released {
            out.released = true;
            return out;
        }
    }
    out.uninterruptible = std::iter::once(holder)
        .chain(targets.iter())
        .filter(|p| ctl.state(p) == Some(ProcState::DiskWait))
        .map(|p| p.id.pid)
        .collect();
    out
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
