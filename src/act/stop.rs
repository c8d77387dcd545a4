//! Stopping a stuck lock holder safely (locks.md §A.3).
//!
//! * The target is the holder's process group when it leads one (as rust-analyzer's cargo
//!   and `setsid` do), otherwise its process tree, deepest first: signalling only the cargo
//!   pid would orphan its build scripts and rustc, which go on writing.
//! * The ladder: SIGINT (skipped when the process ignores it, as background jobs of
//!   non-interactive shells do) → wait → SIGTERM, with SIGCONT when stopped (a stopped
//!   process keeps SIGTERM pending) → wait → SIGKILL only when forced.
//! * A pid is only ever signalled through a pidfd opened while we knew it was the right
//!   process (Linux 5.3+), or after checking its start time again: a reused pid is never hit.
//! * Success means the process and its whole tree are gone: the kernel has then released
//!   every lock they held (a shared lock may still be held by others, and a waiter's lock by
//!   its holder). The tree is looked at again before every signal, so rustc and build scripts
//!   started meanwhile are stopped too. A process in uninterruptible sleep (`D`) is reported,
//!   not signalled in a loop.

use std::time::{Duration, Instant};

use crate::observe::procs::{Snapshot, System};

/// One rung of the ladder, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub signal: &'static str,
    pub to: String,
    /// Whether the lock was free and the process gone after this step.
    pub released: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub pid: u32,
    pub steps: Vec<Step>,
    pub released: bool,
    /// Processes left in uninterruptible sleep (they cannot take a signal until their I/O ends).
    pub uninterruptible: Vec<u32>,
}

/// A process pinned at diagnosis time: its pid, start time and (on Linux) a pidfd.
pub struct Pinned {
    pub pid: u32,
    pub start_ticks: u64,
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl Pinned {
    /// Pins `pid` if it still is the process that started at `start_ticks`.
    pub fn new(pid: u32, start_ticks: u64) -> Option<Pinned> {
        #[cfg(target_os = "linux")]
        let pidfd = {
            use std::os::fd::FromRawFd;
            // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
            let fd = unsafe {
                libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long)
            };
            // SAFETY: a non-negative return is a file descriptor we now own.
            (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
        };
        let pinned = Pinned {
            pid,
            start_ticks,
            #[cfg(target_os = "linux")]
            pidfd,
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
    fn signal(&self, sig: i32) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            use std::os::fd::AsRawFd;
            // SAFETY: pidfd_send_signal(fd, sig, NULL, 0).
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd() as libc::c_long,
                    sig as libc::c_long,
                    std::ptr::null::<libc::siginfo_t>(),
                    0 as libc::c_long,
                )
            };
            return r == 0;
        }
        if read_start(self.pid) != Some(self.start_ticks) {
            return false;
        }
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(self.pid as libc::pid_t, sig) == 0 }
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

fn signame(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCONT => "SIGCONT",
        libc::SIGKILL => "SIGKILL",
        _ => "signal",
    }
}

/// The holder's descendants, deepest first, each pinned now.
fn pinned_tree(snap: &Snapshot, pid: u32) -> Vec<Pinned> {
    let mut pids = snap.subtree(pid);
    pids.retain(|p| *p != pid);
    pids.sort_by_key(|p| std::cmp::Reverse(snap.ancestors(*p).len()));
    pids.into_iter()
        .filter_map(|p| {
            let start = snap.procs.get(&p)?.start_ticks;
            Pinned::new(p, start)
        })
        .collect()
}

/// Runs the ladder against `holder` (pinned).
pub fn ladder(
    sys: &dyn System,
    snap: &Snapshot,
    holder: &Pinned,
    force: bool,
    wait: Duration,
    on_step: &mut dyn FnMut(&Step),
) -> Outcome {
    let leads_group = snap.procs.get(&holder.pid).is_some_and(|p| p.pgid == p.pid);
    let mut tree: Vec<Pinned> = pinned_tree(snap, holder.pid);
    let gone = |tree: &[Pinned]| !holder.alive() && tree.iter().all(|p| !p.alive());
    let mut out = Outcome {
        pid: holder.pid,
        steps: Vec::new(),
        released: false,
        uninterruptible: Vec::new(),
    };
    let ignores_int = sys.signals_ignored(holder.pid) & (1 << (libc::SIGINT - 1)) != 0;
    let mut rungs: Vec<i32> = Vec::new();
    if !ignores_int {
        rungs.push(libc::SIGINT);
    }
    rungs.push(libc::SIGTERM);
    if force {
        rungs.push(libc::SIGKILL);
    }
    for sig in rungs {
        // Look at the tree again: pin what was started since.
        if let Ok(now) = sys.snapshot(&|_| false) {
            for p in pinned_tree(&now, holder.pid) {
                if !tree
                    .iter()
                    .any(|t| t.pid == p.pid && t.start_ticks == p.start_ticks)
                {
                    tree.push(p);
                }
            }
        }
        let stopped = read_state(holder.pid).is_some_and(|s| s == 'T' || s == 't');
        let send = |s: i32| -> String {
            if leads_group {
                // The group's leader is the pinned holder: only while it is still that process.
                if holder.alive() {
                    // SAFETY: kill(-pgid, sig) on the holder's own group.
                    unsafe { libc::kill(-(holder.pid as libc::pid_t), s) };
                }
                // Members that left the group are in the tree.
                for p in &tree {
                    p.signal(s);
                }
                format!("process group {}", holder.pid)
            } else {
                for p in &tree {
                    p.signal(s);
                }
                holder.signal(s);
                format!("pid {} and its {} descendants", holder.pid, tree.len())
            }
        };
        let to = send(sig);
        let name = if sig == libc::SIGTERM && stopped {
            send(libc::SIGCONT);
            "SIGTERM+SIGCONT"
        } else {
            signame(sig)
        };
        let released = wait_until(wait, || gone(&tree));
        let step = Step {
            signal: name,
            to,
            released,
        };
        on_step(&step);
        out.steps.push(step);
        if released {
            out.released = true;
            return out;
        }
    }
    out.uninterruptible = std::iter::once(holder.pid)
        .chain(tree.iter().map(|p| p.pid))
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
