//! Processes and the Cargo lock files they hold or wait on, from the OS, behind one small
//! trait per platform ([`System`]).
//!
//! On Linux ([`linux`]) the kernel tells us exactly: `/proc/locks` lists every flock with its
//! `->` waiters, and `/proc/PID/fdinfo/FD` has a `lock:` line for every process that shares a
//! locked open file description (the pid printed in `/proc/locks` is whoever called `flock`,
//! which may be a dead parent). Elsewhere this is not implemented yet ([`unsupported`]).

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(not(target_os = "linux"))]
pub mod unsupported;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

/// Shared (`LOCK_SH`, "READ") or exclusive (`LOCK_EX`, "WRITE").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Shared,
    Exclusive,
}

/// What the OS says about one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// `R`, `S`, `D`, `T`, `t`, `Z`, …
    pub state: char,
    pub comm: String,
    pub cmdline: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// User and system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time, in clock ticks since boot (with the pid, it identifies the process).
    pub start_ticks: u64,
    pub uid: Option<u32>,
}

/// One process's use of one lock file: holding it, waiting for it, or just having it open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockUse {
    pub pid: u32,
    pub path: PathBuf,
    /// The lock file was deleted while open (someone "fixed" a wait by deleting it).
    pub deleted: bool,
    /// (device, inode) of the lock file.
    pub file: (u64, u64),
    pub holding: Option<Mode>,
    pub waiting: Option<Mode>,
}

/// A lock as the kernel lists it, with the pid that took it (which may be dead, or in
/// another namespace). Used to name holders whose file descriptors we cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLock {
    pub major: u32,
    pub minor: u32,
    pub ino: u64,
    pub pid: Option<u32>,
    pub mode: Mode,
    pub waiting: bool,
}

/// Everything one look at the system found.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub procs: BTreeMap<u32, ProcInfo>,
    pub uses: Vec<LockUse>,
    pub kernel: Vec<KernelLock>,
    /// Clock ticks per second and seconds since boot, to turn start times into ages.
    pub ticks_per_sec: u64,
    pub uptime_secs: f64,
}

impl Snapshot {
    /// The chain of parents of `pid`, nearest first (at most 64).
    pub fn ancestors(&self, pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = pid;
        while let Some(p) = self.procs.get(&cur) {
            if p.ppid == 0 || out.len() >= 64 || out.contains(&p.ppid) {
                break;
            }
            out.push(p.ppid);
            cur = p.ppid;
        }
        out
    }

    /// `pid` and all its descendants.
    pub fn subtree(&self, pid: u32) -> Vec<u32> {
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(
                self.procs
                    .values()
                    .filter(|p| p.ppid == parent && !out.contains(&p.pid))
                    .map(|p| p.pid)
                    .collect::<Vec<_>>(),
            );
            i += 1;
        }
        out
    }

    /// Seconds since `pid` started.
    pub fn elapsed_secs(&self, pid: u32) -> Option<u64> {
        let p = self.procs.get(&pid)?;
        let started = p.start_ticks as f64 / self.ticks_per_sec.max(1) as f64;
        Some((self.uptime_secs - started).max(0.0) as u64)
    }
}

/// The per-platform facts the lock doctor needs.
pub trait System {
    /// Every process we can see, and every use of a Cargo lock file among them.
    fn snapshot(&self, is_lock_file: &dyn Fn(&std::path::Path) -> bool) -> io::Result<Snapshot>;
    /// CPU ticks used so far by each of these processes (for sampling).
    fn cpu_ticks(&self, pids: &[u32]) -> BTreeMap<u32, u64>;
    /// The mask of signals `pid` ignores (bit n-1 for signal n); 0 when unknown.
    fn signals_ignored(&self, pid: u32) -> u64;
    /// `(major, minor)` of a device number.
    fn device(&self, dev: u64) -> (u32, u32);
}

/// The implementation for this platform.
pub fn system() -> Box<dyn System> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::Linux)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Box::new(unsupported::Unsupported)
    }
}

/// Parses `/proc/PID/stat` (Linux); `None` elsewhere.
pub fn linux_stat(pid: u32, text: &str) -> Option<ProcInfo> {
    #[cfg(target_os = "linux")]
    {
        linux::parse_stat(pid, text)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, text);
        None
    }
}
