//! Processes: the facts the lock doctor reads and the controls `stop` and `run` use, behind
//! portable types (locks.md §A.2, §A.3; lock-holders-macos-windows.md).
//!
//! # Facts: [`ProcessTable`]
//!
//! A [`Snapshot`] lists every process this user can see ([`ProcInfo`]: parent, group, state as
//! a [`ProcState`], command line, working directory, CPU time, age, owner) and every use of a
//! Cargo lock file among them ([`LockUse`]: holding, waiting, or only open). Each lock use
//! carries its [`Evidence`]:
//!
//! * [`Evidence::Exact`]: the kernel says so. Linux lists every flock with its `->` waiters in
//!   `/proc/locks`, and gives a `lock:` line in `/proc/PID/fdinfo/FD` to every process sharing
//!   a locked open file description (the pid in `/proc/locks` is whoever called `flock`, which
//!   may be a dead parent). macOS marks an open file description that acquired a flock
//!   (`FWASLOCKED`), and `F_GETLK` says the file is held ([`openers`]).
//! * [`Evidence::Probable`]: only that the process has the file open, with the holder told from
//!   the waiters by a heuristic: Windows lists openers only ([`attribute`]); macOS when its
//!   flag is ambiguous (it outlives an unlock until the descriptor is closed) or the file
//!   cannot be probed.
//!
//! # Control: [`ProcessControl`]
//!
//! A process is named by a [`ProcId`]: its pid and an opaque [`StartStamp`] (Linux: start
//! ticks since boot; macOS: start time; Windows: creation time), which `stop PID:START` takes
//! in its text form. [`ProcessControl::pin`] holds on to exactly that process (a pidfd on Linux
//! 5.3+, else a start-stamp check before every signal), so a reused pid is never signalled.
//! [`ProcessControl::rungs`] lists the ways this platform can stop a process ([`Rung`]); the
//! stop ladder is built from them (`plan::stop`), so a platform without SIGINT gets an honest
//! shorter ladder, not one whose steps silently do nothing.
//!
//! [`supervise`] starts `run`'s command: in the terminal's foreground group, or in a process
//! group of its own with our SIGINT, SIGTERM and SIGHUP forwarded to it. On Windows in a job
//! object of its own ([`job`]).
//!
//! # Platforms
//!
//! Linux ([`linux`]): all of the above. macOS ([`macos`], with the pure decoding in [`darwin`]
//! and the attribution in [`openers`], both built and tested everywhere): all of the above
//! from libproc and `sysctl`, with the start time checked before every signal (no pidfd).
//! Windows (`windows.rs`): the openers of each lock file from the system handle table, a probe
//! for held or free, and the holder told from the waiters by [`attribute`] (evidence:
//! probable); `stop` has only `TerminateProcess`, through a handle checked against the start
//! time. Elsewhere ([`unsupported`]) the table and the control say plainly "not implemented on
//! this platform yet"; `run` still runs its command (on Unix with the same process-group
//! handling, `unix.rs`).

// macOS's decoders and the attribution from openers are pure: built everywhere, so that
// their tests run on Linux too; so is Windows' attribution.
#[cfg_attr(not(windows), allow(dead_code))]
mod attribute;
#[cfg(unix)]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod darwin;
#[cfg(windows)]
mod job;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod openers;
#[cfg(windows)]
mod restart_manager;
#[cfg(unix)]
mod unix;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod unsupported;
#[cfg(windows)]
mod windows;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use serde::Serialize;

pub use crate::sys::fs::FileId;

/// A process's scheduling state, in the words every platform can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
// Each platform constructs its own subset: Linux all, macOS all but `Idle`, Windows only
// `Unknown` (no API gives a process's state there).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub enum ProcState {
    Running,
    Sleeping,
    /// Uninterruptible: in the kernel on a disk or a network filesystem; signals wait.
    DiskWait,
    /// Stopped by a signal (Ctrl-Z, SIGSTOP): it runs again only when continued.
    Stopped,
    /// Stopped by a debugger.
    Traced,
    /// Exited and not yet reaped: it holds no locks any more.
    Zombie,
    /// An idle kernel thread (Linux only).
    Idle,
    Unknown,
}

impl ProcState {
    /// Plain words for the user.
    pub fn words(self) -> &'static str {
        match self {
            ProcState::Running => "running",
            ProcState::Sleeping => "sleeping",
            ProcState::DiskWait => "uninterruptible (disk or network filesystem)",
            ProcState::Stopped => "stopped",
            ProcState::Traced => "traced",
            ProcState::Zombie => "zombie",
            ProcState::Idle => "idle",
            ProcState::Unknown => "unknown",
        }
    }

    /// Stopped or traced: it keeps its locks and does nothing until continued.
    pub fn is_stopped(self) -> bool {
        matches!(self, ProcState::Stopped | ProcState::Traced)
    }
}

/// When a process started, in the platform's own unit: with the pid, it names one process
/// for good. Opaque: compare it, print it, parse it back; never do arithmetic on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StartStamp(u64);

impl StartStamp {
    #[cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]
    pub(crate) fn from_raw(raw: u64) -> StartStamp {
        StartStamp(raw)
    }
}

/// The text form `stop PID:START` takes and `locks --json` prints (`start_time`): a decimal
/// number on every platform.
impl fmt::Display for StartStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for StartStamp {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(StartStamp)
    }
}

/// Printed as a number in JSON (`start_time`), as before it became opaque.
impl Serialize for StartStamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// One process, exactly: its pid and when it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: u32,
    pub start: StartStamp,
}

impl fmt::Display for ProcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pid, self.start)
    }
}

/// `s` with its control characters escaped (`\n`, `\u{1b}`): any user's command line and
/// process name can be read, and shown raw they could drive the terminal of whoever runs the
/// lock doctor.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// What the OS says about one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    /// 0 when it has no parent in this PID namespace.
    pub ppid: u32,
    /// Its process group (0 where the platform has none).
    pub pgid: u32,
    /// The kernel's short name for it (Linux cuts it at 15 bytes).
    pub name: String,
    /// Empty when not readable (a kernel thread, or a zombie).
    pub cmdline: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub state: ProcState,
    /// User and system CPU time so far, its reaped children's included.
    pub cpu: Duration,
    /// How long it has run, when known.
    pub age: Option<Duration>,
    pub start: StartStamp,
    /// Its owner, where the platform has numeric users.
    pub uid: Option<u32>,
    /// Its parent exited and nothing adopted it: Windows, where `ppid` is then 0. (On Unix
    /// init or a subreaper adopts an orphan, which `ppid` shows; this is always false.)
    pub parent_exited: bool,
}

impl ProcInfo {
    pub fn id(&self) -> ProcId {
        ProcId {
            pid: self.pid,
            start: self.start,
        }
    }

    /// The command line as one string, or `[name]` when it has none. Control characters are
    /// escaped (`\n`, `\u{1b}`): any user's command line can be read, and printing it raw
    /// would let it drive the terminal of whoever runs the lock doctor.
    pub fn command(&self) -> String {
        let raw = if self.cmdline.is_empty() {
            format!("[{}]", self.name)
        } else {
            self.cmdline.join(" ")
        };
        printable(&raw)
    }

    /// The program's file name (`cargo`, `rustc`, `build-script-build`), from the command
    /// line when there is one (the kernel's name is cut short), else the kernel's name.
    pub fn program(&self) -> &str {
        self.cmdline
            .first()
            .map(|c| c.rsplit(['/', '\\']).next().unwrap_or(c))
            .filter(|c| !c.is_empty())
            .unwrap_or(&self.name)
    }
}

/// Shared (`LOCK_SH`, "READ") or exclusive (`LOCK_EX`, "WRITE").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Shared,
    Exclusive,
}

impl Mode {
    pub fn words(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        }
    }
}

/// How we know who holds and who waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The kernel lists the lock and its waiters (Linux).
    Exact,
    /// The process has the lock file open; that it holds rather than waits is inferred.
    Probable,
}

/// One process's use of one lock file: holding it, waiting for it, or just having it open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockUse {
    pub pid: u32,
    pub path: PathBuf,
    /// The lock file was deleted while open (someone "fixed" a wait by deleting it).
    pub deleted: bool,
    pub file: FileId,
    pub holding: Option<Mode>,
    pub waiting: Option<Mode>,
    pub evidence: Evidence,
}

/// Everything one look at the system found.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub procs: BTreeMap<u32, ProcInfo>,
    pub uses: Vec<LockUse>,
}

impl Snapshot {
    /// The chain of parents of `pid`, nearest first (at most 64).
    pub fn ancestors(&self, pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cur = pid;
        while let Some(p) = self.procs.get(&cur) {
            if p.ppid == 0 || out.len() >= 64 || out.contains(&p.ppid) || p.ppid == pid {
                break;
            }
            out.push(p.ppid);
            cur = p.ppid;
        }
        out
    }

    /// The direct children of `pid`, oldest first.
    pub fn children(&self, pid: u32) -> Vec<u32> {
        let mut v: Vec<&ProcInfo> = self
            .procs
            .values()
            .filter(|p| p.ppid == pid && p.pid != pid)
            .collect();
        v.sort_by_key(|p| (std::cmp::Reverse(p.age), p.pid));
        v.into_iter().map(|p| p.pid).collect()
    }

    /// `pid` and all its descendants, parents before children.
    pub fn subtree(&self, pid: u32) -> Vec<u32> {
        let mut out = vec![pid];
        let mut i = 0;
        while i < out.len() {
            for c in self.children(out[i]) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            i += 1;
        }
        out
    }

    /// Whether `pid` is waiting for some Cargo lock.
    pub fn is_waiting(&self, pid: u32) -> bool {
        self.uses
            .iter()
            .any(|u| u.pid == pid && u.waiting.is_some())
    }
}

/// The facts about processes this platform can give.
pub trait ProcessTable {
    /// Every process we can see, and every use of a Cargo lock file among them.
    fn snapshot(&self, is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot>;
    /// CPU time used so far by each of these processes (for sampling).
    fn cpu(&self, pids: &[u32]) -> BTreeMap<u32, Duration>;
    /// The process's environment, when this user may read it.
    fn environ(&self, pid: u32) -> Option<Vec<(String, String)>>;
    /// Whether `pid` ignores this rung's signal (a background job of a non-interactive shell
    /// ignores SIGINT); false when unknown.
    fn ignores(&self, pid: u32, rung: Rung) -> bool;
    /// A second source, for lock files a probe found held (`Mode`: how) while `snap` shows no
    /// holder: their uses found another way, with their evidence (Windows: the Restart
    /// Manager). None where the platform has no second source.
    fn second_source(&self, held: &[(PathBuf, FileId, Mode)], snap: &Snapshot) -> Vec<LockUse> {
        let _ = (held, snap);
        Vec::new()
    }
}

/// One way of asking a process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rung {
    /// Ctrl-C (SIGINT): what a user at the terminal would do.
    Interrupt,
    /// SIGTERM: the polite "exit now".
    Terminate,
    /// SIGCONT: a stopped process keeps a termination request pending until continued.
    Continue,
    /// SIGKILL (Windows: TerminateProcess): no cleanup at all.
    Kill,
}

impl Rung {
    /// Its name on this platform (`SIGINT`, …).
    pub fn name(self) -> &'static str {
        #[cfg(unix)]
        {
            match self {
                Rung::Interrupt => "SIGINT",
                Rung::Terminate => "SIGTERM",
                Rung::Continue => "SIGCONT",
                Rung::Kill => "SIGKILL",
            }
        }
        #[cfg(not(unix))]
        {
            match self {
                Rung::Interrupt => "interrupt",
                Rung::Terminate => "terminate",
                Rung::Continue => "continue",
                Rung::Kill if cfg!(windows) => "TerminateProcess",
                Rung::Kill => "kill",
            }
        }
    }
}

/// A process held on to: signals reach this process or nothing, never a reused pid.
#[derive(Debug)]
pub struct Pinned {
    pub id: ProcId,
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
    /// Opened while its creation time matched: the process object stays ours, so the pid
    /// cannot name another process through it.
    #[cfg(windows)]
    handle: std::os::windows::io::OwnedHandle,
}

/// Stopping processes, with the rungs this platform has.
pub trait ProcessControl {
    /// The rungs this platform has, gentlest first.
    fn rungs(&self) -> &'static [Rung];
    /// Holds on to `id` if it still is that process (`None` if it exited or the pid was
    /// reused, or where this is not implemented).
    fn pin(&self, id: ProcId) -> Option<Pinned>;
    /// The pinned process's state now; `None` once it is gone (or only a zombie).
    fn state(&self, p: &Pinned) -> Option<ProcState>;
    /// Sends `rung` to the pinned process only. Whether it was delivered.
    fn send(&self, p: &Pinned, rung: Rung) -> bool;
    /// Sends `rung` to the process group `leader` leads, while it still is that process.
    fn send_group(&self, leader: &Pinned, rung: Rung) -> bool;
    /// Starts `run`'s command under `how` ([`supervise`]).
    fn supervise(&self, cmd: Command, how: Supervision) -> io::Result<Supervised> {
        supervise(cmd, how)
    }
}

/// The process table of this platform.
pub fn table() -> Box<dyn ProcessTable> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::Linux)
    }
    #[cfg(target_os = "macos")]
    {
        Box::new(macos::Macos)
    }
    #[cfg(windows)]
    {
        Box::new(windows::Windows)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        Box::new(unsupported::Unsupported)
    }
}

/// The process control of this platform.
pub fn control() -> Box<dyn ProcessControl> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::Linux)
    }
    #[cfg(target_os = "macos")]
    {
        Box::new(macos::Macos)
    }
    #[cfg(windows)]
    {
        Box::new(windows::Windows)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        Box::new(unsupported::Unsupported)
    }
}

/// This process's pid.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// This process's parent's pid (0 when it has none we can name).
pub fn parent_pid() -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::process::parent_id()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// This process's process group, where there are process groups.
pub fn current_pgid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(unix::current_pgid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The user this process acts as (Unix: the effective uid), comparable with
/// [`ProcInfo::uid`].
pub fn current_user() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(unix::effective_uid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The exit code `run` passes on: the command's own, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        unix::exit_code(status)
    }
    #[cfg(not(unix))]
    {
        status.code().unwrap_or(1)
    }
}

/// How `run` starts its command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervision {
    /// On a terminal: the command stays in our process group, the terminal's foreground
    /// group, so it reads the terminal and Ctrl-C and Ctrl-Z reach it directly; we ignore
    /// SIGINT and SIGQUIT meanwhile (and give the command the defaults back).
    Foreground,
    /// Without a terminal: the command leads a process group of its own, and our SIGINT,
    /// SIGTERM and SIGHUP are forwarded to that group.
    OwnGroup,
}

/// `run`'s command, started under a [`Supervision`].
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    #[cfg_attr(windows, allow(dead_code))]
    how: Supervision,
    done: bool,
    /// Windows: the job it runs in ([`job`]).
    #[cfg(windows)]
    job: job::Job,
}

/// Starts `cmd` under `how`.
pub fn supervise(cmd: Command, how: Supervision) -> io::Result<Supervised> {
    #[cfg(unix)]
    let child = unix::spawn_supervised(cmd, how)?;
    #[cfg(windows)]
    let (child, job) = job::spawn_supervised(cmd, how)?;
    #[cfg(not(any(unix, windows)))]
    let child = {
        let mut cmd = cmd;
        cmd.spawn()?
    };
    Ok(Supervised {
        child,
        how,
        done: false,
        #[cfg(windows)]
        job,
    })
}

impl Supervised {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What [`Supervised::stop`] stops, in words: "process group 123" on Unix, "the job of
    /// process 123" on Windows.
    pub fn describe(&self) -> String {
        #[cfg(windows)]
        {
            self.job.describe()
        }
        #[cfg(not(windows))]
        {
            format!("process group {}", self.child.id())
        }
    }

    /// Its exit code ([`exit_code`]) once it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<i32>> {
        let status = self.child.try_wait()?;
        if status.is_some() {
            self.finished();
        }
        Ok(status.map(exit_code))
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> io::Result<i32> {
        let status = self.child.wait()?;
        self.finished();
        Ok(exit_code(status))
    }

    /// Asks the command to stop: its own process group, or (sharing ours, on a terminal)
    /// `tree`, its processes deepest first, as found a moment ago. The command itself is not
    /// reaped until [`Supervised::try_wait`] or [`Supervised::wait`] says it exited, so its
    /// pid and group id cannot name another process meanwhile.
    pub fn stop(&mut self, tree: &[u32], rung: Rung) {
        if self.done {
            return;
        }
        #[cfg(unix)]
        unix::stop_supervised(self.child.id(), self.how, tree, rung);
        #[cfg(windows)]
        {
            let _ = tree;
            self.job.stop(&mut self.child, rung);
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = (tree, rung, self.how);
            let _ = self.child.kill();
        }
    }

    fn finished(&mut self) {
        if !self.done {
            self.done = true;
            #[cfg(unix)]
            unix::forget_supervised(self.how);
            #[cfg(windows)]
            self.job.forget();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.finished();
    }
}

/// The width of the terminal on stderr, in columns, when stderr is one.
pub fn stderr_columns() -> Option<usize> {
    #[cfg(unix)]
    {
        unix::stderr_columns()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, age: u64) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            pgid: pid,
            name: "x".into(),
            cmdline: vec!["/usr/bin/x".into(), "arg".into()],
            cwd: None,
            state: ProcState::Sleeping,
            cpu: Duration::ZERO,
            age: Some(Duration::from_secs(age)),
            start: StartStamp(age),
            uid: None,
            parent_exited: false,
        }
    }

    #[test]
    fn trees() {
        let s = Snapshot {
            procs: [
                proc(1, 0, 100),
                proc(2, 1, 50),
                proc(3, 2, 5),
                proc(4, 2, 9),
            ]
            .into_iter()
            .map(|p| (p.pid, p))
            .collect(),
            uses: Vec::new(),
        };
        assert_eq!(s.ancestors(3), [2, 1]);
        assert_eq!(s.children(2), [4, 3], "oldest first");
        assert_eq!(s.subtree(2), [2, 4, 3]);
        assert_eq!(s.procs[&3].program(), "x");
        assert_eq!(s.procs[&3].command(), "/usr/bin/x arg");
        let mut evil = s.procs[&3].clone();
        evil.cmdline = vec!["x\u{1b}]0;owned\u{7}\n".into()];
        assert_eq!(evil.command(), "x\\u{1b}]0;owned\\u{7}\\n");
    }

    #[test]
    fn start_stamps_round_trip() {
        let s: StartStamp = "123456".parse().unwrap();
        assert_eq!(s.to_string(), "123456");
        assert!("x".parse::<StartStamp>().is_err());
        assert_eq!(serde_json::to_string(&s).unwrap(), "123456");
        let id = ProcId { pid: 7, start: s };
        assert_eq!(id.to_string(), "7:123456");
    }

    #[test]
    fn who_we_are() {
        assert_eq!(current_pid(), std::process::id());
        #[cfg(unix)]
        {
            assert_eq!(parent_pid(), std::os::unix::process::parent_id());
            assert!(current_pgid().is_some_and(|g| g > 0));
            assert!(current_user().is_some());
        }
    }
}
