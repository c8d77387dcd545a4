//! Stopping a stuck lock holder safely (locks.md §A.3).
//!
//! * The target is the holder's process group when it leads one (as rust-analyzer's cargo
//!   and `setsid` do), otherwise its process tree, deepest first: signalling only the cargo
//!   pid would orphan its build scripts and rustc, which go on writing.
//! * We never signal ourselves or an ancestor of ours (`cargo janitor stop` run from a build
//!   script, or from a shell inside the holder's tree): [`protected`] lists them, the command
//!   refuses a target among them, and a process group holding one of them is signalled
//!   member by member without them (never with `kill(-pgid)`), saying what was left out.
//! * The ladder: SIGINT (skipped when the process ignores it, as background jobs of
//!   non-interactive shells do) → wait → SIGTERM, with SIGCONT when stopped (a stopped
//!   process keeps SIGTERM pending) → wait → SIGKILL only when forced.
//! * A pid is only ever signalled through a pidfd opened while we knew it was the right
//!   process (Linux 5.3+), or after checking its start time again: a reused pid is never hit.
//! * Success means the process and everything signalled are gone: the kernel has then
//!   released every lock they held (a shared lock may still be held by others, and a
//!   waiter's lock by its holder). The tree is looked at again before every signal, so rustc
//!   and build scripts started meanwhile are stopped too. A process in uninterruptible sleep
//!   (`D`) is reported, not signalled in a loop.

use std::time::{Duration, Instant};

use crate::observe::procs::{Snapshot, System};
use crate::sys::process::{self, Handle, Sig};

/// One rung of the ladder, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub signal: &'static str,
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

/// A process pinned at diagnosis time: its pid, start time and (on Linux) a pidfd.
pub struct Pinned {
    pub pid: u32,
    pub start_ticks: u64,
    handle: Handle,
}

impl Pinned {
    /// Pins `pid` if it still is the process that started at `start_ticks`.
    pub fn new(pid: u32, start_ticks: u64) -> Option<Pinned> {
        let pinned = Pinned {
            pid,
            start_ticks,
            handle: Handle::open(pid),
        };
        // Checked after opening the pidfd: if the start time still matches, the pidfd names
        // the right process for good.
        pinned.same().then_some(pinned)
    }

    /// Whether the pid still names the pinned process.
    pub fn same(&self) -> bool {
        read_start(self.pid) == Some(self.start_ticks)
    }

    fn alive(&self) -> bool {
        match read_state(self.pid) {
            None | Some('Z') | Some('X') => false,
            Some(_) => read_start(self.pid) == Some(self.start_ticks),
        }
    }

    /// Sends `sig` to this process only, never to a reused pid.
    fn signal(&self, sig: Sig) -> bool {
        if let Some(sent) = self.handle.signal(sig) {
            return sent;
        }
        self.same() && process::kill(self.pid, sig)
    }
}

fn stat_field(pid: u32) -> Option<(char, u64)> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let p = crate::observe::procs::linux_stat(pid, &t)?;
    Some((p.state, p.start_ticks))
}

fn read_state(pid: u32) -> Option<char> {
    stat_field(pid).map(|s| s.0)
}

fn read_start(pid: u32) -> Option<u64> {
    stat_field(pid).map(|s| s.1)
}

/// Pins each of `pids` (as `snap` shows them) that is not yet in `into`.
fn pin_new(snap: &Snapshot, pids: impl IntoIterator<Item = u32>, into: &mut Vec<Pinned>) {
    for p in pids {
        let Some(start) = snap.procs.get(&p).map(|i| i.start_ticks) else {
            continue;
        };
        if into.iter().any(|t| t.pid == p && t.start_ticks == start) {
            continue;
        }
        if let Some(pinned) = Pinned::new(p, start) {
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
        .map(|p| {
            if p.cmdline.is_empty() {
                p.comm.clone()
            } else {
                p.cmdline.join(" ")
            }
        })
        .unwrap_or_default()
}

/// Runs the ladder against `holder` (pinned), which must not be in `protected(snap)`.
pub fn ladder(
    sys: &dyn System,
    snap: &Snapshot,
    holder: &Pinned,
    force: bool,
    wait: Duration,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Outcome {
    let leads_group = snap.procs.get(&holder.pid).is_some_and(|p| p.pgid == p.pid);
    let me = process::current_pid();
    let mut protect = protected(snap);
    let mut out = Outcome {
        pid: holder.pid,
        steps: Vec::new(),
        released: false,
        uninterruptible: Vec::new(),
        excluded: Vec::new(),
    };
    if protect.contains(&holder.pid) {
        // Callers refuse this: signalling it would stop this command first.
        return out;
    }
    // Everything signalled besides the holder (its tree, and group members signalled one by
    // one), each pinned when first seen.
    let mut targets: Vec<Pinned> = Vec::new();
    pin_new(snap, tree(snap, holder.pid, &protect), &mut targets);
    let gone = |targets: &[Pinned]| !holder.alive() && targets.iter().all(|p| !p.alive());
    let ignores_int = sys.signals_ignored(holder.pid) & (1 << (Sig::Int.number() - 1)) != 0;
    let mut rungs: Vec<Sig> = Vec::new();
    if !ignores_int {
        rungs.push(Sig::Int);
    }
    rungs.push(Sig::Term);
    if force {
        rungs.push(Sig::Kill);
    }
    for sig in rungs {
        // Look again: pin what was started since, and whoever is now an ancestor of ours.
        let now = sys.snapshot(&|_| false).unwrap_or_else(|_| snap.clone());
        for p in protected(&now) {
            if !protect.contains(&p) {
                protect.push(p);
            }
        }
        pin_new(&now, tree(&now, holder.pid, &protect), &mut targets);
        // The holder's group, when it leads one, and which of us is in it.
        let mut ours_in_group: Vec<u32> = Vec::new();
        if leads_group {
            ours_in_group = protect
                .iter()
                .copied()
                .filter(|p| now.procs.get(p).is_some_and(|i| i.pgid == holder.pid))
                .collect();
            if process::current_pgid() == holder.pid && !ours_in_group.contains(&me) {
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
                    group: holder.pid,
                };
                on_event(Event::Excluded(&e));
                out.excluded.push(e);
            }
            if !ours_in_group.is_empty() {
                let members: Vec<u32> = now
                    .procs
                    .values()
                    .filter(|p| p.pgid == holder.pid && p.pid != holder.pid)
                    .filter(|p| !protect.contains(&p.pid))
                    .map(|p| p.pid)
                    .collect();
                pin_new(&now, members, &mut targets);
            }
        }
        let stopped = read_state(holder.pid).is_some_and(|s| s == 'T' || s == 't');
        let send = |s: Sig| -> String {
            if leads_group && ours_in_group.is_empty() {
                // The group's leader is the pinned holder: only while it is still that
                // process, and never while we are in it.
                if holder.alive() && process::current_pgid() != holder.pid {
                    process::kill_group(holder.pid, s);
                }
                // Members that left the group are in the tree.
                for p in &targets {
                    p.signal(s);
                }
                format!("process group {}", holder.pid)
            } else {
                for p in &targets {
                    p.signal(s);
                }
                holder.signal(s);
                if leads_group {
                    let left_out: Vec<String> =
                        ours_in_group.iter().map(|p| format!("pid {p}")).collect();
                    format!(
                        "process group {} one process at a time ({} processes), without {}",
                        holder.pid,
                        targets.len() + 1,
                        left_out.join(" and ")
                    )
                } else {
                    format!("pid {} and its {} descendants", holder.pid, targets.len())
                }
            }
        };
        let to = send(sig);
        let name = if sig == Sig::Term && stopped {
            send(Sig::Cont);
            "SIGTERM+SIGCONT"
        } else {
            sig.name()
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
    out.uninterruptible = std::iter::once(holder.pid)
        .chain(targets.iter().map(|p| p.pid))
        .filter(|p| read_state(*p) == Some('D'))
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
