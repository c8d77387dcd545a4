//! The lock doctor's diagnosis, as a pure function of one look at the system
//! ([`crate::observe::lock_doctor::Look`]): every Cargo lock that is held or waited on, who
//! holds it, who waits, and *why* (a verdict per holder, with what to do about it).
//!
//! The rules, in the order they are applied to each holder:
//!
//! 1. A process that waits for a Cargo lock is never a holder with a verdict: a second cargo
//!    holds `.package-cache-mutate` shared while it waits for the build directory, and it is
//!    listed as a waiter (and as a holder-that-waits of the other lock), never as "idle".
//! 2. `deadlock`: a waiter descends from the holder (a nested cargo in a build script).
//! 3. `stopped`, `orphaned`, `editor`: its state, its parent, its ancestors.
//! 4. `building`: it has a live child running a build step (a build script, rustc, rustdoc,
//!    a linker, a test binary), or, for cargo, any live child: named with how long it has
//!    run, whatever the CPU sample says (a build script that sleeps is still a build).
//!    `fetching` when that child is git or ssh.
//! 5. From the CPU sample of its whole tree: `busy`, or `idle`. Only an idle *cargo that can
//!    use the network* is "possibly stuck on the network".
//! 6. `holding`: not sampled.
//!
//! Verdicts are phrased by their evidence: with [`Evidence::Probable`] (an opener of the lock
//! file, where the platform cannot say who holds it) the holder is a probable one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cargo::locks::{self as vocab, LockKind, Meaning};
use crate::observe::lock_doctor::Look;
pub use crate::observe::lockfiles::Probed;
use crate::observe::lockfiles::{Probe, Unlisted};
use crate::sys::process::{
    Evidence, FileId, LockUse, Mode, ProcInfo, ProcState, Snapshot, StartStamp,
};

/// Why a holder holds, most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A waiter descends from the holder: a nested cargo (in a build script) waiting for its
    /// parent. It never resolves by itself.
    Deadlock,
    /// Stopped (Ctrl-Z, SIGSTOP): it holds the lock until continued.
    Stopped,
    /// Its parent is gone (re-parented to init or a subreaper).
    Orphaned,
    /// Started by an editor (rust-analyzer and the like).
    Editor,
    /// Running a build step (build script, rustc, linker, test binary).
    Building,
    /// Fetching with git or ssh.
    Fetching,
    /// Using CPU, with no build step running.
    Busy,
    /// No CPU in the sample and no build step.
    Idle,
    /// Not sampled (`--sample 0`).
    Holding,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Deadlock => "deadlock",
            Verdict::Stopped => "stopped",
            Verdict::Orphaned => "orphaned",
            Verdict::Editor => "editor",
            Verdict::Building => "building",
            Verdict::Fetching => "fetching",
            Verdict::Busy => "busy",
            Verdict::Idle => "idle",
            Verdict::Holding => "holding",
        }
    }
}

/// Which command gives the advice: each names only what that command has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// `cargo janitor locks`, sampled or not (`--sample 0`).
    Locks,
    /// `wait`, `run`, and the Blocking line of `gc`, `sweep` and `trim`.
    Other,
}

/// What a holder's child is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivityKind {
    BuildScript,
    Compiling,
    Documenting,
    Linking,
    TestBinary,
    Fetching,
    Running,
}

impl ActivityKind {
    /// A build step (what makes a holder that is not cargo itself "building").
    fn is_build(self) -> bool {
        !matches!(self, ActivityKind::Fetching | ActivityKind::Running)
    }
}

/// The child a holder waits for: the busiest of its jobs, else the oldest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Activity {
    pub pid: u32,
    pub kind: ActivityKind,
    /// The package, crate or program (`gamma`, `cc`).
    pub name: String,
    pub elapsed_s: Option<u64>,
    /// CPU seconds per second of its tree during the sample.
    pub cpu_share: Option<f64>,
    /// How many other jobs the holder runs.
    pub others: usize,
}

/// One process of a holder's tree (`locks -v`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TreeNode {
    pub pid: u32,
    /// 0 for the holder, 1 for its children, …
    pub depth: usize,
    pub cmdline: String,
    pub state: String,
    pub elapsed_s: Option<u64>,
    pub cpu_share: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ancestor {
    pub pid: u32,
    pub comm: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    pub pid: u32,
    pub mode: Mode,
    pub cmdline: String,
    pub cwd: Option<PathBuf>,
    pub state: String,
    pub elapsed_s: Option<u64>,
    /// CPU seconds per second used by its whole process tree during the sample.
    pub cpu_share: Option<f64>,
    pub verdict: Verdict,
    /// What to do, as `locks` says it.
    pub suggestion: String,
    pub ancestors: Vec<Ancestor>,
    /// With the pid, names it exactly (`cargo janitor stop PID:START`).
    pub start_time: StartStamp,
    /// `exact` (the kernel lists it as holding) or `probable` (it has the file open).
    pub evidence: Evidence,
    /// The build step it runs, if any.
    pub activity: Option<Activity>,
    /// For cargo: why it cannot use the network (`--offline`), if it cannot.
    pub offline: Option<String>,
    /// Its process tree, itself first.
    pub tree: Vec<TreeNode>,
    /// Whether it is cargo itself.
    #[serde(skip)]
    pub is_cargo: bool,
    /// Its program's name.
    #[serde(skip)]
    pub program: String,
    /// How long the CPU sample was.
    #[serde(skip)]
    pub sample: Duration,
}

/// A process that holds this lock while it waits for another one: not a holder with a
/// verdict (it is stuck behind someone else), but it does keep the lock.
#[derive(Clone, Debug, Serialize)]
pub struct WaitingHolder {
    pub pid: u32,
    pub mode: Mode,
    pub cmdline: String,
    /// The lock it waits for.
    pub waiting_for: PathBuf,
    pub waiting_kind: Option<LockKind>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Waiter {
    pub pid: u32,
    pub mode: Mode,
    pub cmdline: String,
    pub cwd: Option<PathBuf>,
    pub state: String,
    pub elapsed_s: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Lock {
    pub path: PathBuf,
    pub kind: LockKind,
    /// The lock file was deleted while held: a new cargo locks a *new* file, so two cargos
    /// can now run at once.
    pub deleted: bool,
    /// What a cargo waiting on it prints.
    pub message: String,
    /// False when no holder can be seen: the lock is held by a process this user cannot see
    /// (another user, another PID namespace or container, another machine), or it could not
    /// be probed (`probe` is `unknown`).
    pub visible: bool,
    /// What probing the file directly found (`null` when it was not among the files probed).
    pub probe: Option<Probe>,
    /// Why it could not be probed ("permission denied"): it may be held.
    pub probe_error: Option<String>,
    pub holders: Vec<Holder>,
    /// Processes that hold it while themselves waiting for another lock.
    pub waiting_holders: Vec<WaitingHolder>,
    pub waiters: Vec<Waiter>,
    /// The file's identity (to match a lock reached by another path).
    #[serde(skip)]
    pub file: Option<FileId>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// What a pasted message (`--message`) means, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaning: Option<Meaning>,
    pub locks: Vec<Lock>,
    /// Directories whose lock files could not be looked for: their locks may be held.
    pub unlisted: Vec<Unlisted>,
}

/// Names of processes that are editors (or their language servers).
const EDITORS: &[&str] = &[
    "rust-analyzer",
    "code",
    "code-oss",
    "codium",
    "cursor",
    "zed",
    "zed-editor",
    "nvim",
    "vim",
    "emacs",
    "helix",
    "hx",
    "idea",
    "clion",
    "rustrover",
    "sublime_text",
    "kate",
    "lapce",
];

/// Shells (a PID 1 that is one is a container's interactive shell, not an init).
const SHELLS: &[&str] = &["bash", "sh", "zsh", "fish", "dash", "ash", "ksh"];

/// Names of processes that adopt orphans (init and subreapers).
const REAPERS: &[&str] = &[
    "systemd",
    "init",
    "launchd",
    "tini",
    "dumb-init",
    "docker-init",
    "catatonit",
];

/// Linkers and the compiler drivers rustc runs as linkers.
const LINKERS: &[&str] = &[
    "cc", "c++", "gcc", "g++", "clang", "clang++", "collect2", "ld", "ld.bfd", "ld.gold", "ld.lld",
    "ld64.lld", "lld", "lld-link", "link.exe", "mold", "rust-lld", "wasm-ld",
];

/// Programs that fetch over the network for cargo.
const FETCHERS: &[&str] = &["git", "git-remote-http", "git-remote-https", "ssh", "curl"];

/// CPU seconds per second above which a tree counts as busy.
const BUSY: f64 = 0.005;

fn base(s: &str) -> String {
    s.rsplit(['/', '\\'])
        .next()
        .unwrap_or(s)
        .to_ascii_lowercase()
}

/// Whether `pid` is an editor itself (by its name or program).
pub fn is_editor(snap: &Snapshot, pid: u32) -> bool {
    snap.procs.get(&pid).is_some_and(|p| {
        EDITORS.contains(&base(&p.name).as_str()) || EDITORS.contains(&base(p.program()).as_str())
    })
}

fn cmdline(snap: &Snapshot, pid: u32) -> String {
    snap.procs
        .get(&pid)
        .map(ProcInfo::command)
        .unwrap_or_else(|| "(not visible)".into())
}

fn elapsed(snap: &Snapshot, pid: u32) -> Option<u64> {
    snap.procs.get(&pid)?.age.map(|a| a.as_secs())
}

fn state_words(snap: &Snapshot, pid: u32) -> String {
    snap.procs
        .get(&pid)
        .map(|p| p.state.words())
        .unwrap_or("unknown")
        .to_string()
}

/// A name with Cargo's `-<16 hex digits>` suffix taken off (`gamma-0a1b…` → `gamma`).
fn without_hash(s: &str) -> &str {
    match s.rsplit_once('-') {
        Some((name, hash)) if hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => s,
    }
}

fn is_hash(s: &str) -> bool {
    s.len() >= 8 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The value after `flag` in a command line.
fn arg_after<'a>(cmdline: &'a [String], flag: &str) -> Option<&'a str> {
    let i = cmdline.iter().position(|a| a == flag)?;
    cmdline.get(i + 1).map(String::as_str)
}

/// What one process of a build is, and its name.
fn step_of(p: &ProcInfo) -> (ActivityKind, String) {
    let program = p.program().to_string();
    let argv0 = std::path::Path::new(p.cmdline.first().map_or("", String::as_str));
    let dir = |n: usize| {
        argv0
            .ancestors()
            .nth(n)
            .and_then(|d| d.file_name())
            .map(|d| d.to_string_lossy().into_owned())
    };
    if program.starts_with("build-script-") || p.name.starts_with("build-script-") {
        // build/<pkg>-<hash>/build-script-build, or build/<pkg>/<hash>/… (new layout).
        let pkg = match dir(1) {
            Some(d) if is_hash(&d) => dir(2),
            Some(d) => Some(without_hash(&d).to_string()),
            None => None,
        };
        return (ActivityKind::BuildScript, pkg.unwrap_or_else(|| "?".into()));
    }
    let prog = program.strip_suffix(".exe").unwrap_or(&program);
    if matches!(prog, "rustc" | "clippy-driver" | "rustdoc") {
        let krate = arg_after(&p.cmdline, "--crate-name").unwrap_or("?");
        let name = if krate == "build_script_build" {
            // Its build script: the package is in the output directory's name.
            match arg_after(&p.cmdline, "--out-dir")
                .and_then(|d| std::path::Path::new(d).file_name())
                .map(|d| d.to_string_lossy().into_owned())
            {
                Some(d) if !is_hash(&d) => format!("{}'s build script", without_hash(&d)),
                _ => "a build script".into(),
            }
        } else {
            krate.to_string()
        };
        let kind = if prog == "rustdoc" {
            ActivityKind::Documenting
        } else {
            ActivityKind::Compiling
        };
        return (kind, name);
    }
    if LINKERS.contains(&prog) {
        return (ActivityKind::Linking, program);
    }
    if FETCHERS.contains(&prog) {
        return (ActivityKind::Fetching, program);
    }
    if dir(1).as_deref() == Some("deps") {
        return (ActivityKind::TestBinary, without_hash(&program).to_string());
    }
    (ActivityKind::Running, program)
}

fn tree_cpu(snap: &Snapshot, pid: u32, cpu: Option<&BTreeMap<u32, f64>>) -> Option<f64> {
    cpu.map(|c| snap.subtree(pid).iter().filter_map(|p| c.get(p)).sum())
}

fn live(snap: &Snapshot, pid: u32) -> bool {
    snap.procs
        .get(&pid)
        .is_some_and(|p| p.state != ProcState::Zombie)
}

/// What the holder is doing through its children, if anything (rule 4).
fn activity(
    snap: &Snapshot,
    pid: u32,
    is_cargo: bool,
    cpu: Option<&BTreeMap<u32, f64>>,
) -> Option<Activity> {
    let jobs: Vec<u32> = snap
        .children(pid)
        .into_iter()
        .filter(|c| live(snap, *c))
        .collect();
    if jobs.is_empty() {
        return None;
    }
    let builds = || {
        snap.subtree(pid)
            .into_iter()
            .skip(1)
            .filter(|p| live(snap, *p))
            .filter_map(|p| snap.procs.get(&p))
            .any(|p| step_of(p).0.is_build())
    };
    if !is_cargo && !builds() {
        return None;
    }
    // The busiest job, else the oldest (`children` lists the oldest first).
    let busiest = jobs
        .iter()
        .map(|j| (*j, tree_cpu(snap, *j, cpu).unwrap_or(0.0)))
        .fold(None::<(u32, f64)>, |best, (j, c)| match best {
            Some((_, bc)) if bc >= c => best,
            _ => Some((j, c)),
        });
    let pick = match busiest {
        Some((j, c)) if c > BUSY => j,
        _ => jobs[0],
    };
    let (kind, name) = step_of(snap.procs.get(&pick)?);
    Some(Activity {
        pid: pick,
        kind,
        name,
        elapsed_s: elapsed(snap, pick),
        cpu_share: tree_cpu(snap, pick, cpu),
        others: jobs.len() - 1,
    })
}

/// The holder's process tree, depth first (at most 200 processes).
fn tree(snap: &Snapshot, pid: u32, cpu: Option<&BTreeMap<u32, f64>>) -> Vec<TreeNode> {
    let mut out = Vec::new();
    let mut stack = vec![(pid, 0usize)];
    while let Some((p, depth)) = stack.pop() {
        if out.len() >= 200 || out.iter().any(|n: &TreeNode| n.pid == p) {
            continue;
        }
        out.push(TreeNode {
            pid: p,
            depth,
            cmdline: cmdline(snap, p),
            state: state_words(snap, p),
            elapsed_s: elapsed(snap, p),
            cpu_share: cpu.and_then(|c| c.get(&p).copied()),
        });
        for c in snap.children(p).into_iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

/// Builds the diagnosis from one look.
pub fn diagnose(look: &Look) -> Report {
    let snap = &look.snap;
    let cpu = look.cpu.as_ref();
    // Group uses by file, in the order first seen.
    let mut files: Vec<(FileId, PathBuf)> = Vec::new();
    for u in &snap.uses {
        if (u.holding.is_some() || u.waiting.is_some()) && !files.iter().any(|(f, _)| *f == u.file)
        {
            files.push((u.file, u.path.clone()));
        }
    }
    let mut locks = Vec::new();
    let mut seen_files: Vec<FileId> = Vec::new();
    for (file, path) in &files {
        let Some(kind) = vocab::classify(path) else {
            continue;
        };
        let uses: Vec<&LockUse> = snap.uses.iter().filter(|u| u.file == *file).collect();
        // Rule 1: a holder that is itself waiting for another lock.
        let (blocked, holding): (Vec<&LockUse>, Vec<&LockUse>) = uses
            .iter()
            .copied()
            .filter(|u| u.holding.is_some())
            .partition(|u| snap.is_waiting(u.pid));
        let holder_pids: BTreeSet<u32> = holding.iter().map(|u| u.pid).collect();
        // A child that inherited the descriptor shares its parent's lock: name the parent.
        let owners: Vec<_> = holding
            .iter()
            .filter(|u| {
                !snap
                    .ancestors(u.pid)
                    .iter()
                    .any(|a| holder_pids.contains(a))
            })
            .collect();
        let waiters: Vec<Waiter> = uses
            .iter()
            .filter_map(|u| u.waiting.map(|m| (u, m)))
            .map(|(u, mode)| Waiter {
                pid: u.pid,
                mode,
                cmdline: cmdline(snap, u.pid),
                cwd: snap.procs.get(&u.pid).and_then(|p| p.cwd.clone()),
                state: state_words(snap, u.pid),
                elapsed_s: elapsed(snap, u.pid),
            })
            .collect();
        let waiting_holders: Vec<WaitingHolder> = blocked
            .iter()
            .map(|u| {
                let elsewhere = snap
                    .uses
                    .iter()
                    .find(|w| w.pid == u.pid && w.waiting.is_some());
                WaitingHolder {
                    pid: u.pid,
                    mode: u.holding.unwrap_or(Mode::Shared),
                    cmdline: cmdline(snap, u.pid),
                    waiting_for: elsewhere.map(|w| w.path.clone()).unwrap_or_default(),
                    waiting_kind: elsewhere.and_then(|w| vocab::classify(&w.path)),
                }
            })
            .collect();
        let holders: Vec<Holder> = owners
            .iter()
            .map(|u| {
                holder(
                    look,
                    u.pid,
                    u.holding.unwrap_or(Mode::Exclusive),
                    u.evidence,
                    &waiters,
                    cpu,
                )
            })
            .collect();
        let mode = holders
            .first()
            .map(|h| h.mode)
            .or(waiting_holders.first().map(|h| h.mode));
        seen_files.push(*file);
        let probed = look.probes.iter().find(|p| p.file == Some(*file));
        locks.push(Lock {
            path: path.clone(),
            kind,
            deleted: uses.iter().any(|u| u.deleted),
            message: vocab::message(path, kind, mode),
            visible: !holders.is_empty() || !waiting_holders.is_empty(),
            probe: probed.map(|p| p.probe),
            probe_error: probed.and_then(|p| p.error.clone()),
            holders,
            waiting_holders,
            waiters,
            file: Some(*file),
        });
    }
    // Held lock files whose holder we cannot see, and those that could not be probed.
    for p in &look.probes {
        if p.file.is_some_and(|f| seen_files.contains(&f))
            || matches!(p.probe, Probe::Free | Probe::Missing)
        {
            continue;
        }
        let Some(kind) = vocab::classify(&p.path) else {
            continue;
        };
        let mode = match p.probe {
            Probe::HeldShared => Some(Mode::Shared),
            Probe::HeldExclusive => Some(Mode::Exclusive),
            _ => None,
        };
        locks.push(Lock {
            path: p.path.clone(),
            kind,
            deleted: false,
            message: vocab::message(&p.path, kind, mode),
            visible: false,
            probe: Some(p.probe),
            probe_error: p.error.clone(),
            holders: Vec::new(),
            waiting_holders: Vec::new(),
            waiters: Vec::new(),
            file: p.file,
        });
    }
    locks.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    Report {
        meaning: None,
        locks,
        unlisted: Vec::new(),
    }
}

fn holder(
    look: &Look,
    pid: u32,
    mode: Mode,
    evidence: Evidence,
    waiters: &[Waiter],
    cpu: Option<&BTreeMap<u32, f64>>,
) -> Holder {
    let snap = &look.snap;
    let ancestors: Vec<Ancestor> = snap
        .ancestors(pid)
        .into_iter()
        .map(|a| Ancestor {
            pid: a,
            comm: snap
                .procs
                .get(&a)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
        })
        .collect();
    let info = snap.procs.get(&pid);
    let program = info.map(|p| p.program().to_string()).unwrap_or_default();
    let is_cargo = crate::cargo::is_cargo(&program);
    let cpu_share = tree_cpu(snap, pid, cpu);
    let state = info.map_or(ProcState::Unknown, |p| p.state);
    let parent = info.map_or(0, |p| p.ppid);
    // In a container whose PID 1 is a shell, a child of PID 1 is simply that shell's child.
    let init_is_shell = snap
        .procs
        .get(&1)
        .is_some_and(|p| SHELLS.contains(&base(&p.name).as_str()));
    let orphaned = info.is_some_and(|p| p.parent_exited)
        || (parent == 1 && !init_is_shell)
        || snap
            .procs
            .get(&parent)
            .is_some_and(|p| REAPERS.contains(&base(&p.name).as_str()));
    let deadlock = waiters.iter().any(|w| snap.ancestors(w.pid).contains(&pid));
    let editor = ancestors.iter().any(|a| is_editor(snap, a.pid));
    let activity = activity(snap, pid, is_cargo, cpu);
    let verdict = if deadlock {
        Verdict::Deadlock
    } else if state.is_stopped() {
        Verdict::Stopped
    } else if orphaned {
        Verdict::Orphaned
    } else if editor {
        Verdict::Editor
    } else if let Some(a) = &activity {
        if a.kind == ActivityKind::Fetching {
            Verdict::Fetching
        } else {
            Verdict::Building
        }
    } else {
        match cpu_share {
            None => Verdict::Holding,
            Some(s) if s > BUSY => Verdict::Busy,
            Some(_) => Verdict::Idle,
        }
    };
    let mut h = Holder {
        pid,
        mode,
        cmdline: cmdline(snap, pid),
        cwd: info.and_then(|p| p.cwd.clone()),
        state: state.words().to_string(),
        elapsed_s: elapsed(snap, pid),
        cpu_share,
        verdict,
        suggestion: String::new(),
        ancestors,
        start_time: info.map(|p| p.start).unwrap_or_default(),
        evidence,
        activity,
        offline: look.offline.get(&pid).cloned(),
        tree: tree(snap, pid, cpu),
        is_cargo,
        program,
        sample: look.sample,
    };
    h.suggestion = advice(&h, Context::Locks);
    h
}

/// Keeps only what a pasted message means: among the lock files probed (`probes`: this Cargo
/// home's, the target dirs', the path `-vv` printed), those of its kind; with `-vv`'s path,
/// that file (`path_id`: its identity, when it exists), reached by any path. Directories that
/// could not be looked into stay when they may hold such a lock.
pub fn narrow(report: &mut Report, m: &Meaning, probes: &[Probed], path_id: Option<FileId>) {
    let probed = |l: &Lock| {
        probes
            .iter()
            .any(|p| p.path == l.path || (p.file.is_some() && p.file == l.file))
    };
    report
        .locks
        .retain(|l| probed(l) && (m.matches(&l.path) || (path_id.is_some() && l.file == path_id)));
    report
        .unlisted
        .retain(|u| m.path.is_none() && u.kinds.iter().any(|k| m.wording.kinds.contains(k)));
}

/// The locks of `report` at these paths, the same files whatever path they were reached by
/// (their identities from `probes`).
pub fn at_paths(report: Report, probes: &[Probed], paths: &[PathBuf]) -> Vec<Lock> {
    let ids: Vec<FileId> = probes
        .iter()
        .filter(|p| paths.contains(&p.path))
        .filter_map(|p| p.file)
        .collect();
    report
        .locks
        .into_iter()
        .filter(|l| paths.contains(&l.path) || l.file.is_some_and(|f| ids.contains(&f)))
        .collect()
}

/// A duration as the lock doctor prints it: `12s`, `3m05s`, `2h10m`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The sample's length in words (`0.5s`, `0.25s`, `2s`).
pub fn sample_words(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        duration(d.as_secs())
    } else {
        let t = format!("{s:.2}");
        format!("{}s", t.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// What to do about a holder, in the words of the command that says it, phrased by its
/// evidence: a holder only known to have the lock file open is a probable one.
pub fn advice(h: &Holder, ctx: Context) -> String {
    let what = advice_for(h, ctx);
    match h.evidence {
        Evidence::Exact => what,
        Evidence::Probable => format!(
            "probably the holder (it has the lock file open, and this platform does not say \
             who holds a lock): {what}"
        ),
    }
}

fn advice_for(h: &Holder, ctx: Context) -> String {
    let pid = h.pid;
    let stop = format!("`cargo janitor stop {pid}`");
    match h.verdict {
        Verdict::Deadlock => format!(
            "a cargo it started (from a build script?) waits for a lock it holds, which never \
             resolves: {stop}, and give the nested cargo its own CARGO_TARGET_DIR (or \
             CARGO_BUILD_BUILD_DIR, or CARGO_HOME)"
        ),
        Verdict::Stopped => format!(
            "it is stopped (Ctrl-Z?): resume it with `fg` in its terminal or `kill -CONT {pid}`, \
             or {stop}"
        ),
        Verdict::Orphaned => {
            format!("its parent is gone and nobody reads its output: {stop}")
        }
        Verdict::Editor => "your editor's background cargo: wait, or give the editor its own \
                            target dir (rust-analyzer: `\"rust-analyzer.cargo.targetDir\": true`)"
            .to_string(),
        Verdict::Building => {
            "it is building: wait (`cargo janitor wait` returns as soon as the lock is free)"
                .to_string()
        }
        Verdict::Fetching => format!(
            "it is fetching over the network: wait; if it stays at it for many minutes \
             with no CPU, {stop}"
        ),
        Verdict::Busy => "it is working (resolving dependencies, unpacking sources?) without \
                          a build step yet: wait"
            .to_string(),
        Verdict::Idle => {
            let sample = sample_words(h.sample);
            if !h.is_cargo {
                format!(
                    "`{}` is not cargo, runs no build step and used no CPU in {sample}: a script \
                     or tool that holds the lock on purpose? Ask whoever started it, or {stop}",
                    h.program
                )
            } else if let Some(why) = &h.offline {
                format!(
                    "it runs no build step and used no CPU in {sample}; it is offline ({why}), so \
                     it waits on something else (a slow disk, a full pipe?): wait a little, or {stop}"
                )
            } else {
                format!(
                    "it runs no build step and used no CPU in {sample}, so it may be stuck on \
                     the network: wait a little, or {stop}"
                )
            }
        }
        Verdict::Holding => match ctx {
            Context::Locks => {
                "`--sample 0` skipped the CPU sample: run without it to see whether it is busy"
                    .to_string()
            }
            Context::Other => "`cargo janitor locks` shows whether it is busy".to_string(),
        },
    }
}

/// The locks at these paths (the same files, whatever path they were reached by) in `look`'s
/// diagnosis.
pub fn locks_of(look: &Look, held: &[std::path::PathBuf]) -> Vec<Lock> {
    at_paths(diagnose(look), &look.probes, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, name: &str, state: ProcState) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            pgid: pid,
            name: name.into(),
            cmdline: vec![name.into()],
            cwd: None,
            state,
            cpu: Duration::ZERO,
            age: Some(Duration::from_secs(10 + pid as u64)),
            start: StartStamp::from_raw(100),
            uid: Some(0),
            parent_exited: false,
        }
    }

    const S: ProcState = ProcState::Sleeping;

    /// A distinct, stable file identity per `n`: this crate's own source files' (read-only).
    pub(crate) fn file(n: u64) -> FileId {
        static IDS: std::sync::OnceLock<Vec<FileId>> = std::sync::OnceLock::new();
        let ids = IDS.get_or_init(|| {
            let mut paths = Vec::new();
            let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
            while let Some(d) = dirs.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else {
                        paths.push(p);
                    }
                }
            }
            paths.sort();
            paths
                .iter()
                .map(|p| crate::sys::fs::lstat(p).unwrap().id)
                .collect()
        });
        ids[n as usize]
    }

    fn uses(pid: u32, path: &str, holding: Option<Mode>, waiting: Option<Mode>) -> LockUse {
        LockUse {
            pid,
            path: path.into(),
            deleted: false,
            file: file(if path.ends_with("mutate") { 2 } else { 3 }),
            holding,
            waiting,
            evidence: Evidence::Exact,
        }
    }

    fn look(procs: Vec<ProcInfo>, u: Vec<LockUse>) -> Look {
        Look {
            snap: Snapshot {
                procs: procs.into_iter().map(|p| (p.pid, p)).collect(),
                uses: u,
            },
            sample: Duration::from_millis(500),
            ..Look::default()
        }
    }

    #[test]
    fn nested_cargo_waiting_on_its_parent_is_a_deadlock() {
        let l = look(
            vec![
                proc(10, 5, "cargo", S),
                proc(11, 10, "build-script-build", S),
                proc(12, 11, "cargo", S),
                proc(5, 1, "bash", S),
            ],
            vec![
                uses(10, "/t/debug/.cargo-lock", Some(Mode::Exclusive), None),
                uses(12, "/t/debug/.cargo-lock", None, Some(Mode::Exclusive)),
            ],
        );
        let r = diagnose(&l);
        assert_eq!(r.locks.len(), 1);
        let l = &r.locks[0];
        assert_eq!(l.kind, LockKind::BuildDir);
        assert_eq!(l.holders[0].pid, 10);
        assert_eq!(l.holders[0].verdict, Verdict::Deadlock);
        assert_eq!(l.waiters[0].pid, 12);
        assert!(l.holders[0].suggestion.contains("CARGO_TARGET_DIR"));
    }

    fn distinct(l: &mut Look) {
        let ids: Vec<FileId> = (0..l.snap.uses.len() as u64)
            .map(|i| file(10 + i))
            .collect();
        for (u, id) in l.snap.uses.iter_mut().zip(ids) {
            u.file = id;
        }
    }

    #[test]
    fn verdicts_in_order_of_urgency() {
        let mut l = look(
            vec![
                proc(20, 1, "cargo", ProcState::Stopped),
                proc(21, 1, "cargo", S),
                proc(30, 31, "cargo", S),
                proc(31, 2, "rust-analyzer", S),
                proc(40, 41, "cargo", S),
                proc(41, 2, "bash", S),
                proc(42, 40, "rustc", ProcState::Running),
                proc(50, 41, "cargo", S),
            ],
            vec![
                uses(20, "/h/a/.package-cache", Some(Mode::Exclusive), None),
                uses(21, "/h/b/.package-cache", Some(Mode::Exclusive), None),
                uses(30, "/h/c/.package-cache", Some(Mode::Exclusive), None),
                uses(40, "/h/d/.package-cache", Some(Mode::Exclusive), None),
                uses(50, "/h/e/.package-cache", Some(Mode::Exclusive), None),
            ],
        );
        distinct(&mut l);
        l.cpu = Some([(42, 0.8), (50, 0.3)].into_iter().collect());
        let v = |l: &Look| -> Vec<(u32, Verdict)> {
            diagnose(l)
                .locks
                .iter()
                .map(|l| (l.holders[0].pid, l.holders[0].verdict))
                .collect()
        };
        assert_eq!(
            v(&l),
            [
                (20, Verdict::Stopped),
                (21, Verdict::Orphaned),
                (30, Verdict::Editor),
                (40, Verdict::Building),
                (50, Verdict::Busy),
            ]
        );
        // A live build step is a build even with no CPU in the sample (a sleeping build
        // script); a cargo with none and no CPU is idle.
        l.cpu = Some(BTreeMap::new());
        assert_eq!(v(&l)[3], (40, Verdict::Building));
        assert_eq!(v(&l)[4], (50, Verdict::Idle));
        l.cpu = None;
        assert_eq!(v(&l)[4], (50, Verdict::Holding));
    }

    #[test]
    fn a_sleeping_build_script_is_named_and_network_only_when_online() {
        let mut script = proc(61, 60, "build-script-bu", S);
        script.cmdline =
            vec!["/p/target/debug/build/gamma-0123456789abcdef/build-script-build".into()];
        let mut cargo = proc(60, 59, "cargo", S);
        cargo.cmdline = vec!["cargo".into(), "build".into(), "--offline".into()];
        let mut l = look(
            vec![proc(59, 2, "bash", S), cargo, script],
            vec![uses(
                60,
                "/t/debug/.cargo-lock",
                Some(Mode::Exclusive),
                None,
            )],
        );
        l.cpu = Some(BTreeMap::new());
        let h = &diagnose(&l).locks[0].holders[0];
        assert_eq!(h.verdict, Verdict::Building);
        let a = h.activity.as_ref().unwrap();
        assert_eq!(
            (a.kind, a.name.as_str(), a.pid),
            (ActivityKind::BuildScript, "gamma", 61)
        );
        assert_eq!(a.elapsed_s, Some(71));
        assert!(!h.suggestion.contains("network") && !h.suggestion.contains("stop"));
        assert_eq!(
            h.tree.iter().map(|n| (n.pid, n.depth)).collect::<Vec<_>>(),
            [(60, 0), (61, 1)]
        );

        // Without the build script: idle; "network" only when it can use the network.
        l.snap.procs.remove(&61);
        let h = diagnose(&l).locks[0].holders[0].clone();
        assert_eq!(h.verdict, Verdict::Idle);
        assert!(
            h.suggestion.contains("stuck on the network"),
            "{}",
            h.suggestion
        );
        l.offline.insert(60, "`--offline`".into());
        let h = diagnose(&l).locks[0].holders[0].clone();
        assert!(
            !h.suggestion.contains("stuck on the network"),
            "{}",
            h.suggestion
        );
        assert!(h.suggestion.contains("`--offline`"), "{}", h.suggestion);
        // Not cargo: never "network".
        l.snap.procs.get_mut(&60).unwrap().cmdline = vec!["flock".into()];
        let h = diagnose(&l).locks[0].holders[0].clone();
        assert!(
            h.suggestion.contains("`flock` is not cargo"),
            "{}",
            h.suggestion
        );
        assert!(!h.suggestion.contains("network"), "{}", h.suggestion);
    }

    #[test]
    fn steps_are_named() {
        let p = |argv: &[&str]| {
            let mut p = proc(1, 0, "x", S);
            p.cmdline = argv.iter().map(|s| s.to_string()).collect();
            step_of(&p)
        };
        assert_eq!(
            p(&["/usr/bin/rustc", "--crate-name", "serde", "--edition=2021"]),
            (ActivityKind::Compiling, "serde".into())
        );
        assert_eq!(
            p(&[
                "rustc",
                "--crate-name",
                "build_script_build",
                "--out-dir",
                "/t/debug/build/gamma-0123456789abcdef"
            ]),
            (ActivityKind::Compiling, "gamma's build script".into())
        );
        assert_eq!(p(&["cc", "-o", "x"]), (ActivityKind::Linking, "cc".into()));
        assert_eq!(
            p(&["/t/debug/deps/mytest-0123456789abcdef"]),
            (ActivityKind::TestBinary, "mytest".into())
        );
        assert_eq!(
            p(&["/t/debug/build/gamma/0123456789abcdef/build-script-build"]),
            (ActivityKind::BuildScript, "gamma".into())
        );
        assert_eq!(
            p(&["git-remote-https", "origin"]),
            (ActivityKind::Fetching, "git-remote-https".into())
        );
        assert_eq!(p(&["make"]), (ActivityKind::Running, "make".into()));
    }

    #[test]
    fn a_holder_that_waits_is_a_waiter_only() {
        // The first build holds the build dir and the mutate lock (shared); the second holds
        // the mutate lock too and waits for the build dir.
        let mut first = uses(70, "/t/debug/.cargo-lock", Some(Mode::Exclusive), None);
        let mut waiting = uses(71, "/t/debug/.cargo-lock", None, Some(Mode::Exclusive));
        let (a, b) = (file(20), file(21));
        first.file = a;
        waiting.file = a;
        let mut m1 = uses(70, "/h/.package-cache-mutate", Some(Mode::Shared), None);
        let mut m2 = uses(71, "/h/.package-cache-mutate", Some(Mode::Shared), None);
        m1.file = b;
        m2.file = b;
        let mut l = look(
            vec![
                proc(69, 2, "bash", S),
                proc(70, 69, "cargo", S),
                proc(71, 69, "cargo", S),
            ],
            vec![first, m1, waiting, m2],
        );
        l.cpu = Some(BTreeMap::new());
        let r = diagnose(&l);
        let holders: Vec<u32> = r
            .locks
            .iter()
            .flat_map(|l| &l.holders)
            .map(|h| h.pid)
            .collect();
        assert_eq!(holders, [70, 70], "{r:#?}");
        let mutate = r
            .locks
            .iter()
            .find(|l| l.kind == LockKind::PackageCacheMutate)
            .unwrap();
        assert_eq!(mutate.waiting_holders.len(), 1);
        assert_eq!(mutate.waiting_holders[0].pid, 71);
        assert_eq!(
            mutate.waiting_holders[0].waiting_kind,
            Some(LockKind::BuildDir)
        );
        let dir = r
            .locks
            .iter()
            .find(|l| l.kind == LockKind::BuildDir)
            .unwrap();
        assert_eq!(dir.waiters[0].pid, 71);
    }

    #[test]
    fn an_inheriting_child_is_named_only_when_its_parent_is_gone() {
        let both = look(
            vec![proc(50, 2, "flock", S), proc(51, 50, "sleep", S)],
            vec![
                uses(50, "/h/.package-cache", Some(Mode::Exclusive), None),
                uses(51, "/h/.package-cache", Some(Mode::Exclusive), None),
            ],
        );
        let r = diagnose(&both);
        assert_eq!(r.locks[0].holders.len(), 1);
        assert_eq!(r.locks[0].holders[0].pid, 50);
        assert!(
            r.locks[0].holders[0].activity.is_none(),
            "flock's sleep is no build"
        );
        let child_only = look(
            vec![proc(51, 1, "python3", S)],
            vec![uses(51, "/h/.package-cache", Some(Mode::Exclusive), None)],
        );
        let r = diagnose(&child_only);
        assert_eq!(r.locks[0].holders[0].pid, 51);
        assert_eq!(r.locks[0].holders[0].verdict, Verdict::Orphaned);
    }

    #[test]
    fn a_holder_whose_parent_exited_on_windows_is_orphaned() {
        // Windows adopts no orphans: the sys layer makes such a process parentless and says
        // its parent exited. A parentless process whose parent did not exit (a service
        // started by the system) is not an orphan.
        let mut gone = proc(61, 0, "cargo.exe", ProcState::Unknown);
        gone.parent_exited = true;
        let r = diagnose(&look(
            vec![gone],
            vec![uses(61, "/h/.package-cache", Some(Mode::Exclusive), None)],
        ));
        assert_eq!(r.locks[0].holders[0].verdict, Verdict::Orphaned);
        let r = diagnose(&look(
            vec![proc(62, 0, "cargo.exe", ProcState::Unknown)],
            vec![uses(62, "/h/.package-cache", Some(Mode::Exclusive), None)],
        ));
        assert_ne!(r.locks[0].holders[0].verdict, Verdict::Orphaned);
    }

    fn probed(path: &str, probe: Probe, error: Option<&str>, f: Option<FileId>) -> Probed {
        Probed {
            path: path.into(),
            probe,
            error: error.map(Into::into),
            file: f,
        }
    }

    #[test]
    fn held_but_invisible() {
        let l = Look {
            probes: vec![
                probed(
                    "/h/.package-cache",
                    Probe::HeldExclusive,
                    None,
                    Some(file(30)),
                ),
                probed(
                    "/h/.package-cache-mutate",
                    Probe::Free,
                    None,
                    Some(file(31)),
                ),
                probed("/h/.crates.toml", Probe::Missing, None, None),
            ],
            ..Look::default()
        };
        let r = diagnose(&l);
        assert_eq!(r.locks.len(), 1);
        assert!(!r.locks[0].visible);
        assert_eq!(r.locks[0].probe, Some(Probe::HeldExclusive));
        assert!(r.locks[0].holders.is_empty());
    }

    #[test]
    fn a_lock_that_could_not_be_probed_is_reported_as_such() {
        let l = Look {
            probes: vec![probed(
                "/h/.package-cache",
                Probe::Unknown,
                Some("permission denied"),
                Some(file(30)),
            )],
            ..Look::default()
        };
        let r = diagnose(&l);
        assert_eq!(r.locks.len(), 1);
        let l = &r.locks[0];
        assert!(!l.visible);
        assert_eq!(l.probe, Some(Probe::Unknown));
        assert_eq!(l.probe_error.as_deref(), Some("permission denied"));
        assert_eq!(l.message, "Blocking waiting for file lock on package cache");
    }

    #[test]
    fn a_probed_file_is_matched_by_identity_not_path() {
        // The probe went through a symlinked home; the holder's descriptor names the real path.
        let id = file(7);
        let mut u = uses(60, "/real/home/.package-cache", Some(Mode::Exclusive), None);
        u.file = id;
        let mut l = look(vec![proc(60, 2, "cargo", S)], vec![u]);
        l.probes = vec![probed(
            "/link/home/.package-cache",
            Probe::HeldExclusive,
            None,
            Some(id),
        )];
        let r = diagnose(&l);
        assert_eq!(r.locks.len(), 1, "one lock, not a second invisible one");
        assert!(r.locks[0].visible);
        assert_eq!(r.locks[0].probe, Some(Probe::HeldExclusive));
    }

    #[test]
    fn a_shell_as_pid_1_does_not_make_orphans() {
        let mut shell_init = proc(1, 0, "bash", S);
        shell_init.cmdline = vec!["/bin/bash".into()];
        let l = look(
            vec![shell_init, proc(70, 1, "cargo", S)],
            vec![uses(70, "/h/.package-cache", Some(Mode::Exclusive), None)],
        );
        let r = diagnose(&l);
        assert_eq!(r.locks[0].holders[0].verdict, Verdict::Holding);
    }

    #[test]
    fn advice_names_only_what_the_command_has() {
        let l = look(
            vec![proc(2, 0, "bash", S), proc(70, 2, "cargo", S)],
            vec![uses(70, "/h/.package-cache", Some(Mode::Exclusive), None)],
        );
        let h = &diagnose(&l).locks[0].holders[0];
        assert_eq!(h.verdict, Verdict::Holding);
        assert!(advice(h, Context::Locks).contains("--sample 0"));
        assert!(
            !advice(h, Context::Other).contains("--"),
            "{}",
            advice(h, Context::Other)
        );
        for v in [
            Verdict::Deadlock,
            Verdict::Stopped,
            Verdict::Orphaned,
            Verdict::Editor,
            Verdict::Building,
            Verdict::Fetching,
            Verdict::Busy,
            Verdict::Idle,
        ] {
            let mut h = h.clone();
            h.verdict = v;
            assert!(!advice(&h, Context::Other).contains("--"), "{v:?}");
        }
    }

    #[test]
    fn a_probable_holder_is_called_so() {
        let mut u = uses(70, "/h/.package-cache", Some(Mode::Exclusive), None);
        u.evidence = Evidence::Probable;
        let l = look(
            vec![proc(2, 0, "bash", S), proc(70, 2, "cargo", S)],
            vec![u],
        );
        let h = &diagnose(&l).locks[0].holders[0];
        assert_eq!(h.evidence, Evidence::Probable);
        assert!(
            h.suggestion.starts_with("probably the holder"),
            "{}",
            h.suggestion
        );
    }

    #[test]
    fn a_message_narrows_to_the_probed_files_of_its_kind() {
        let mut ours = uses(70, "/h/.package-cache", Some(Mode::Exclusive), None);
        ours.file = file(40);
        let mut theirs = uses(71, "/other/.package-cache", Some(Mode::Exclusive), None);
        theirs.file = file(41);
        let mut mutate = uses(72, "/h/.package-cache-mutate", Some(Mode::Shared), None);
        mutate.file = file(42);
        let mut l = look(
            vec![
                proc(70, 2, "cargo", S),
                proc(71, 2, "cargo", S),
                proc(72, 2, "cargo", S),
            ],
            vec![ours, theirs, mutate],
        );
        l.probes = vec![
            probed(
                "/h/.package-cache",
                Probe::HeldExclusive,
                None,
                Some(file(40)),
            ),
            probed(
                "/h/.package-cache-mutate",
                Probe::HeldShared,
                None,
                Some(file(42)),
            ),
        ];
        let m =
            vocab::parse_message("Blocking waiting for file lock on the registry index").unwrap();
        let mut r = diagnose(&l);
        narrow(&mut r, &m, &l.probes, None);
        let pids: Vec<u32> = r.locks.iter().map(|l| l.holders[0].pid).collect();
        assert_eq!(pids, [70], "this home's package cache only");
        let at = at_paths(
            diagnose(&l),
            &l.probes,
            &["/h/.package-cache-mutate".into()],
        );
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].holders[0].pid, 72);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(7800), "2h10m");
        assert_eq!(sample_words(Duration::from_millis(500)), "0.5s");
        assert_eq!(sample_words(Duration::from_millis(250)), "0.25s");
        assert_eq!(sample_words(Duration::from_secs(2)), "2s");
    }
}
