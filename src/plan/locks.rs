//! The lock doctor's diagnosis, as a pure function of what the OS showed: every Cargo lock
//! that is held or waited on, who holds it, who waits, and *why* (a verdict per holder, with
//! what to do about it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

pub use crate::observe::lockfiles::Probed;
use crate::observe::lockfiles::{self, LockKind, Probe, Unlisted};
use crate::observe::procs::{Mode, Snapshot};

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
    /// Using CPU somewhere in its process tree.
    Building,
    /// No CPU in the sample: possibly stuck on the network.
    Idle,
    /// Not sampled (`--sample 0`).
    Holding,
}

impl Verdict {
    pub fn suggestion(self, pid: u32) -> String {
        match self {
            Verdict::Deadlock => format!(
                "a cargo it started (from a build script?) waits for a lock it holds, which never resolves: \
                 `cargo janitor stop {pid}`, and give the nested cargo its own CARGO_TARGET_DIR \
                 (or CARGO_BUILD_BUILD_DIR, or CARGO_HOME)"
            ),
            Verdict::Stopped => format!(
                "it is stopped (Ctrl-Z?): resume it with `fg` in its terminal or `kill -CONT {pid}`, \
                 or `cargo janitor stop {pid}`"
            ),
            Verdict::Orphaned => format!(
                "its parent is gone and nobody reads its output: `cargo janitor stop {pid}`"
            ),
            Verdict::Editor => {
                "your editor's background cargo: wait, or give the editor its own target dir \
                 (rust-analyzer: `\"rust-analyzer.cargo.targetDir\": true`)"
                    .to_string()
            }
            Verdict::Building => "it is building: wait (`cargo janitor wait`)".to_string(),
            Verdict::Idle => format!(
                "it used no CPU in the sample, so it may be stuck on the network: wait a little, \
                 or `cargo janitor stop {pid}`"
            ),
            Verdict::Holding => "run without `--sample 0` to see whether it is busy".to_string(),
        }
    }
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
    pub suggestion: String,
    pub ancestors: Vec<Ancestor>,
    /// Clock ticks since boot at which it started: with the pid, names it exactly
    /// (`cargo janitor stop PID:START`).
    pub start_time: u64,
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
    pub waiters: Vec<Waiter>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
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

fn base(s: &str) -> String {
    s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase()
}

/// Whether `pid` is an editor itself (by its name or program).
pub fn is_editor(snap: &Snapshot, pid: u32) -> bool {
    snap.procs.get(&pid).is_some_and(|p| {
        let prog = p.cmdline.first().map(|c| base(c)).unwrap_or_default();
        EDITORS.contains(&base(&p.comm).as_str()) || EDITORS.contains(&prog.as_str())
    })
}

fn state_word(c: char) -> String {
    match c {
        'R' => "running",
        'S' => "sleeping",
        'D' => "uninterruptible (disk or network filesystem)",
        'T' => "stopped",
        't' => "traced",
        'Z' => "zombie",
        'I' => "idle",
        _ => "unknown",
    }
    .to_string()
}

fn cmdline(snap: &Snapshot, pid: u32) -> String {
    snap.procs
        .get(&pid)
        .map(|p| {
            if p.cmdline.is_empty() {
                format!("[{}]", p.comm)
            } else {
                p.cmdline.join(" ")
            }
        })
        .unwrap_or_else(|| "(not visible)".into())
}

/// Builds the diagnosis. `probes` are the lock files checked directly (held by someone we
/// may not see); `cpu` is each process's CPU share over the sample, if one was taken.
pub fn diagnose(snap: &Snapshot, probes: &[Probed], cpu: Option<&BTreeMap<u32, f64>>) -> Report {
    // Group uses by file.
    let mut files: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    for u in &snap.uses {
        if u.holding.is_some() || u.waiting.is_some() {
            files.entry(u.file).or_insert_with(|| u.path.clone());
        }
    }
    let mut locks = Vec::new();
    let mut seen_files: BTreeSet<(u64, u64)> = BTreeSet::new();
    for (file, path) in &files {
        let Some(kind) = lockfiles::classify(path) else {
            continue;
        };
        let uses: Vec<_> = snap.uses.iter().filter(|u| u.file == *file).collect();
        let holding: Vec<_> = uses.iter().filter(|u| u.holding.is_some()).collect();
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
                state: snap
                    .procs
                    .get(&u.pid)
                    .map(|p| state_word(p.state))
                    .unwrap_or_default(),
                elapsed_s: snap.elapsed_secs(u.pid),
            })
            .collect();
        let holders: Vec<Holder> = owners
            .iter()
            .map(|u| {
                holder(
                    snap,
                    u.pid,
                    u.holding.unwrap_or(Mode::Exclusive),
                    &waiters,
                    cpu,
                )
            })
            .collect();
        let mode = holders.first().map(|h| h.mode);
        seen_files.insert(*file);
        let probed = probes.iter().find(|p| p.file == Some(*file));
        locks.push(Lock {
            path: path.clone(),
            kind,
            deleted: uses.iter().any(|u| u.deleted),
            message: lockfiles::message(path, kind, mode),
            visible: !holders.is_empty(),
            probe: probed.map(|p| p.probe),
            probe_error: probed.and_then(|p| p.error.clone()),
            holders,
            waiters,
        });
    }
    // Held lock files whose holder we cannot see, and those that could not be probed.
    for Probed {
        path,
        probe,
        error,
        file,
    } in probes
    {
        if file.is_some_and(|f| seen_files.contains(&f))
            || matches!(probe, Probe::Free | Probe::Missing)
        {
            continue;
        }
        let Some(kind) = lockfiles::classify(path) else {
            continue;
        };
        let mode = match probe {
            Probe::HeldShared => Some(Mode::Shared),
            Probe::HeldExclusive => Some(Mode::Exclusive),
            _ => None,
        };
        locks.push(Lock {
            path: path.clone(),
            kind,
            deleted: false,
            message: lockfiles::message(path, kind, mode),
            visible: false,
            probe: Some(*probe),
            probe_error: error.clone(),
            holders: Vec::new(),
            waiters: Vec::new(),
        });
    }
    locks.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    Report {
        locks,
        unlisted: Vec::new(),
    }
}

fn holder(
    snap: &Snapshot,
    pid: u32,
    mode: Mode,
    waiters: &[Waiter],
    cpu: Option<&BTreeMap<u32, f64>>,
) -> Holder {
    let ancestors: Vec<Ancestor> = snap
        .ancestors(pid)
        .into_iter()
        .map(|a| Ancestor {
            pid: a,
            comm: snap
                .procs
                .get(&a)
                .map(|p| p.comm.clone())
                .unwrap_or_default(),
        })
        .collect();
    let info = snap.procs.get(&pid);
    let cpu_share = cpu.map(|c| {
        snap.subtree(pid)
            .iter()
            .filter_map(|p| c.get(p))
            .sum::<f64>()
    });
    let state = info.map(|p| p.state).unwrap_or('?');
    let parent = info.map(|p| p.ppid).unwrap_or(0);
    // In a container whose PID 1 is a shell, a child of PID 1 is simply that shell's child.
    let init_is_shell = snap
        .procs
        .get(&1)
        .is_some_and(|p| SHELLS.contains(&base(&p.comm).as_str()));
    let orphaned = (parent == 1 && !init_is_shell)
        || snap
            .procs
            .get(&parent)
            .is_some_and(|p| REAPERS.contains(&base(&p.comm).as_str()));
    let deadlock = waiters.iter().any(|w| snap.ancestors(w.pid).contains(&pid));
    let editor = ancestors.iter().any(|a| is_editor(snap, a.pid));
    let verdict = if deadlock {
        Verdict::Deadlock
    } else if matches!(state, 'T' | 't') {
        Verdict::Stopped
    } else if orphaned {
        Verdict::Orphaned
    } else if editor {
        Verdict::Editor
    } else {
        match cpu_share {
            None => Verdict::Holding,
            Some(s) if s > 0.005 => Verdict::Building,
            Some(_) => Verdict::Idle,
        }
    };
    Holder {
        pid,
        mode,
        cmdline: cmdline(snap, pid),
        cwd: info.and_then(|p| p.cwd.clone()),
        state: state_word(state),
        elapsed_s: snap.elapsed_secs(pid),
        cpu_share,
        verdict,
        suggestion: verdict.suggestion(pid),
        ancestors,
        start_time: info.map(|p| p.start_ticks).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::procs::{LockUse, ProcInfo};

    fn proc(pid: u32, ppid: u32, comm: &str, state: char) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            state,
            comm: comm.into(),
            cmdline: vec![comm.into()],
            cwd: None,
            cpu_ticks: 0,
            start_ticks: 100,
            uid: Some(0),
        }
    }

    fn uses(pid: u32, path: &str, holding: Option<Mode>, waiting: Option<Mode>) -> LockUse {
        LockUse {
            pid,
            path: path.into(),
            deleted: false,
            file: (1, if path.ends_with("mutate") { 2 } else { 3 }),
            holding,
            waiting,
        }
    }

    fn snap(procs: Vec<ProcInfo>, u: Vec<LockUse>) -> Snapshot {
        Snapshot {
            procs: procs.into_iter().map(|p| (p.pid, p)).collect(),
            uses: u,
            ticks_per_sec: 100,
            uptime_secs: 10.0,
            ..Snapshot::default()
        }
    }

    #[test]
    fn nested_cargo_waiting_on_its_parent_is_a_deadlock() {
        let s = snap(
            vec![
                proc(10, 5, "cargo", 'S'),
                proc(11, 10, "build-script-build", 'S'),
                proc(12, 11, "cargo", 'S'),
                proc(5, 1, "bash", 'S'),
            ],
            vec![
                uses(10, "/t/debug/.cargo-lock", Some(Mode::Exclusive), None),
                uses(12, "/t/debug/.cargo-lock", None, Some(Mode::Exclusive)),
            ],
        );
        let r = diagnose(&s, &[], None);
        assert_eq!(r.locks.len(), 1);
        let l = &r.locks[0];
        assert_eq!(l.kind, LockKind::BuildDir);
        assert_eq!(l.holders[0].pid, 10);
        assert_eq!(l.holders[0].verdict, Verdict::Deadlock);
        assert_eq!(l.waiters[0].pid, 12);
        assert!(l.holders[0].suggestion.contains("CARGO_TARGET_DIR"));
    }

    #[test]
    fn verdicts_in_order_of_urgency() {
        let s = snap(
            vec![
                proc(20, 1, "cargo", 'T'),
                proc(21, 1, "cargo", 'S'),
                proc(30, 31, "cargo", 'S'),
                proc(31, 2, "rust-analyzer", 'S'),
                proc(40, 41, "cargo", 'S'),
                proc(41, 2, "bash", 'S'),
                proc(42, 40, "rustc", 'R'),
            ],
            vec![
                uses(20, "/h/a/.package-cache", Some(Mode::Exclusive), None),
                uses(21, "/h/b/.package-cache", Some(Mode::Exclusive), None),
                uses(30, "/h/c/.package-cache", Some(Mode::Exclusive), None),
                uses(40, "/h/d/.package-cache", Some(Mode::Exclusive), None),
            ],
        );
        // Distinct files.
        let mut s = s;
        for (i, u) in s.uses.iter_mut().enumerate() {
            u.file = (1, 100 + i as u64);
        }
        let cpu: BTreeMap<u32, f64> = [(42, 0.8)].into_iter().collect();
        let r = diagnose(&s, &[], Some(&cpu));
        let v: Vec<(u32, Verdict)> = r
            .locks
            .iter()
            .map(|l| (l.holders[0].pid, l.holders[0].verdict))
            .collect();
        assert_eq!(
            v,
            [
                (20, Verdict::Stopped),
                (21, Verdict::Orphaned),
                (30, Verdict::Editor),
                (40, Verdict::Building)
            ]
        );
        let r = diagnose(&s, &[], Some(&BTreeMap::new()));
        assert_eq!(r.locks[3].holders[0].verdict, Verdict::Idle);
        let r = diagnose(&s, &[], None);
        assert_eq!(r.locks[3].holders[0].verdict, Verdict::Holding);
    }

    #[test]
    fn an_inheriting_child_is_named_only_when_its_parent_is_gone() {
        let both = snap(
            vec![proc(50, 2, "flock", 'S'), proc(51, 50, "sleep", 'S')],
            vec![
                uses(50, "/h/.package-cache", Some(Mode::Exclusive), None),
                uses(51, "/h/.package-cache", Some(Mode::Exclusive), None),
            ],
        );
        let r = diagnose(&both, &[], None);
        assert_eq!(r.locks[0].holders.len(), 1);
        assert_eq!(r.locks[0].holders[0].pid, 50);
        let child_only = snap(
            vec![proc(51, 1, "python3", 'S')],
            vec![uses(51, "/h/.package-cache", Some(Mode::Exclusive), None)],
        );
        let r = diagnose(&child_only, &[], None);
        assert_eq!(r.locks[0].holders[0].pid, 51);
        assert_eq!(r.locks[0].holders[0].verdict, Verdict::Orphaned);
    }

    #[test]
    fn held_but_invisible() {
        let r = diagnose(
            &Snapshot::default(),
            &[
                Probed {
                    path: "/h/.package-cache".into(),
                    probe: Probe::HeldExclusive,
                    error: None,
                    file: Some((1, 50)),
                },
                Probed {
                    path: "/h/.package-cache-mutate".into(),
                    probe: Probe::Free,
                    error: None,
                    file: Some((1, 51)),
                },
                Probed {
                    path: "/h/.crates.toml".into(),
                    probe: Probe::Missing,
                    error: None,
                    file: None,
                },
            ],
            None,
        );
        assert_eq!(r.locks.len(), 1);
        assert!(!r.locks[0].visible);
        assert_eq!(r.locks[0].probe, Some(Probe::HeldExclusive));
        assert!(r.locks[0].holders.is_empty());
    }

    #[test]
    fn a_lock_that_could_not_be_probed_is_reported_as_such() {
        let r = diagnose(
            &Snapshot::default(),
            &[Probed {
                path: "/h/.package-cache".into(),
                probe: Probe::Unknown,
                error: Some("permission denied".into()),
                file: Some((1, 50)),
            }],
            None,
        );
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
        let s = snap(
            vec![proc(60, 2, "cargo", 'S')],
            vec![LockUse {
                pid: 60,
                path: "/real/home/.package-cache".into(),
                deleted: false,
                file: (1, 77),
                holding: Some(Mode::Exclusive),
                waiting: None,
            }],
        );
        let r = diagnose(
            &s,
            &[Probed {
                path: "/link/home/.package-cache".into(),
                probe: Probe::HeldExclusive,
                error: None,
                file: Some((1, 77)),
            }],
            None,
        );
        assert_eq!(r.locks.len(), 1, "one lock, not a second invisible one");
        assert!(r.locks[0].visible);
        assert_eq!(r.locks[0].probe, Some(Probe::HeldExclusive));
    }

    #[test]
    fn a_shell_as_pid_1_does_not_make_orphans() {
        let mut shell_init = proc(1, 0, "bash", 'S');
        shell_init.cmdline = vec!["/bin/bash".into()];
        let s = snap(
            vec![shell_init, proc(70, 1, "cargo", 'S')],
            vec![uses(70, "/h/.package-cache", Some(Mode::Exclusive), None)],
        );
        let r = diagnose(&s, &[], None);
        assert_eq!(r.locks[0].holders[0].verdict, Verdict::Holding);
    }
}
