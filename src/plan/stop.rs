//! The stop ladder, as data: which rungs to climb, in which order, built from the rungs this
//! platform has ([`crate::sys::process::ProcessControl::rungs`]), so that a platform without
//! SIGINT gets an honest shorter ladder instead of steps that silently do nothing
//! (locks.md §A.3.2).
//!
//! * Interrupt first (what Ctrl-C would do), unless the process ignores it (a background job
//!   of a non-interactive shell ignores SIGINT) or the platform has none.
//! * Terminate next, with Continue when the process is stopped (a stopped process keeps a
//!   termination request pending until it is continued).
//! * Kill only when forced: it gives cargo no chance to finish writing a file.

use std::path::PathBuf;

use crate::sys::process::{Rung, Snapshot, StartStamp};

/// One step of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub rung: Rung,
    /// Also send Continue right after, when the process is stopped.
    pub resume_if_stopped: bool,
}

/// Why there is no ladder to climb.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoLadder {
    #[error("stopping processes is not implemented on this platform yet")]
    Unsupported,
    #[error("this platform can only kill it outright: pass --force")]
    OnlyKill,
}

/// The steps for `stop`: from the platform's rungs, whether the process ignores Interrupt,
/// and whether Kill is allowed (`--force`).
pub fn ladder(
    available: &[Rung],
    ignores_interrupt: bool,
    force: bool,
) -> Result<Vec<Step>, NoLadder> {
    let has = |r| available.contains(&r);
    let mut steps = Vec::new();
    if has(Rung::Interrupt) && !ignores_interrupt {
        steps.push(Step {
            rung: Rung::Interrupt,
            resume_if_stopped: false,
        });
    }
    if has(Rung::Terminate) {
        steps.push(Step {
            rung: Rung::Terminate,
            resume_if_stopped: has(Rung::Continue),
        });
    }
    if force && has(Rung::Kill) {
        steps.push(Step {
            rung: Rung::Kill,
            resume_if_stopped: false,
        });
    }
    if steps.is_empty() {
        return Err(if has(Rung::Kill) {
            NoLadder::OnlyKill
        } else {
            NoLadder::Unsupported
        });
    }
    Ok(steps)
}

/// Whether `pid` may be stopped, judged on a snapshot of the processes (`ours`: this
/// process and its ancestors, never signalled; `me`: our user; `start`: the start stamp the
/// user gave, if any). Returns the Cargo lock files it holds or waits on, or why not (the
/// words after "not stopping pid N: ").
pub fn check(
    snap: &Snapshot,
    ours: &[u32],
    me: Option<u32>,
    pid: u32,
    start: Option<StartStamp>,
) -> Result<Vec<PathBuf>, String> {
    if pid == 1 {
        return Err("it is the init process".into());
    }
    let Some(info) = snap.procs.get(&pid) else {
        return Err("no such process".into());
    };
    if let Some(start) = start
        && start != info.start
    {
        return Err(format!(
            "the pid now names another process (started at {}, not {start})",
            info.start
        ));
    }
    if let Some(i) = ours.iter().position(|p| *p == pid) {
        let chain: Vec<String> = ours[..=i]
            .iter()
            .map(|p| {
                // The program's name (`comm` is cut at 15 bytes).
                let name = snap.procs.get(p).map_or("?", |i| i.program());
                format!("{name} ({p})")
            })
            .collect();
        return Err(if i == 0 {
            "it is this cargo-janitor process".to_string()
        } else {
            format!(
                "it is an ancestor of this cargo-janitor ({}), which never signals itself \
                 or its ancestors, so nothing was sent; run `cargo janitor stop {pid}` from \
                 outside its process tree",
                chain.join(" <- ")
            )
        });
    }
    if info.uid.is_some_and(|u| Some(u) != me) {
        return Err("it belongs to another user".into());
    }
    if super::locks::is_editor(snap, pid) {
        return Err(format!(
            "`{}` is an editor: stop the cargo it started instead (see `cargo janitor locks`)",
            info.program()
        ));
    }
    let held: Vec<PathBuf> = snap
        .uses
        .iter()
        .filter(|u| u.pid == pid && (u.holding.is_some() || u.waiting.is_some()))
        .map(|u| u.path.clone())
        .collect();
    if held.is_empty() {
        return Err("it neither holds nor waits on a Cargo lock".into());
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rungs(r: Result<Vec<Step>, NoLadder>) -> Vec<Rung> {
        r.unwrap().into_iter().map(|s| s.rung).collect()
    }

    #[test]
    fn ladders_per_platform() {
        let unix = [Rung::Interrupt, Rung::Terminate, Rung::Continue, Rung::Kill];
        assert_eq!(
            rungs(ladder(&unix, false, false)),
            [Rung::Interrupt, Rung::Terminate]
        );
        assert_eq!(rungs(ladder(&unix, true, false)), [Rung::Terminate]);
        assert_eq!(
            rungs(ladder(&unix, false, true)),
            [Rung::Interrupt, Rung::Terminate, Rung::Kill]
        );
        assert!(ladder(&unix, false, false).unwrap()[1].resume_if_stopped);
        // A platform that can only kill (Windows' TerminateProcess) needs --force.
        assert_eq!(ladder(&[Rung::Kill], false, false), Err(NoLadder::OnlyKill));
        assert_eq!(rungs(ladder(&[Rung::Kill], false, true)), [Rung::Kill]);
        assert_eq!(ladder(&[], false, true), Err(NoLadder::Unsupported));
    }

    /// A snapshot: pid 10 `cargo` (ours: uid 0) holding the package cache, 11 `bash` (its
    /// parent, ours, holding nothing), 12 `code` (an editor) waiting on it, 13 another
    /// user's cargo holding it.
    fn snap() -> Snapshot {
        use crate::sys::process::{Evidence, LockUse, Mode, ProcInfo, ProcState};
        let proc = |pid: u32, ppid: u32, name: &str, uid: u32| ProcInfo {
            pid,
            ppid,
            pgid: pid,
            name: name.into(),
            cmdline: vec![name.into()],
            cwd: None,
            state: ProcState::Sleeping,
            cpu: std::time::Duration::ZERO,
            age: None,
            start: StartStamp::from_raw(100),
            uid: Some(uid),
            parent_exited: false,
        };
        let uses = |pid: u32, holding: Option<Mode>, waiting: Option<Mode>| LockUse {
            pid,
            path: "/h/.package-cache".into(),
            deleted: false,
            file: crate::sys::fs::lstat(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .id,
            holding,
            waiting,
            evidence: Evidence::Exact,
        };
        Snapshot {
            procs: [
                proc(10, 11, "cargo", 0),
                proc(11, 1, "bash", 0),
                proc(12, 1, "code", 0),
                proc(13, 1, "cargo", 7),
            ]
            .into_iter()
            .map(|p| (p.pid, p))
            .collect(),
            uses: vec![
                uses(10, Some(Mode::Exclusive), None),
                uses(12, None, Some(Mode::Exclusive)),
                uses(13, Some(Mode::Shared), None),
            ],
        }
    }

    #[test]
    fn who_may_be_stopped() {
        let s = snap();
        let me = Some(0);
        let held = check(&s, &[99], me, 10, None).unwrap();
        assert_eq!(held, vec![PathBuf::from("/h/.package-cache")]);
        assert_eq!(
            check(&s, &[99], me, 10, Some(StartStamp::from_raw(100))),
            Ok(held)
        );
        let refused = |pid, start, ours: &[u32]| check(&s, ours, me, pid, start).unwrap_err();
        assert_eq!(refused(1, None, &[99]), "it is the init process");
        assert_eq!(refused(42, None, &[99]), "no such process");
        assert!(
            refused(10, Some(StartStamp::from_raw(5)), &[99])
                .starts_with("the pid now names another process")
        );
        assert_eq!(refused(10, None, &[10]), "it is this cargo-janitor process");
        assert!(
            refused(11, None, &[10, 11])
                .starts_with("it is an ancestor of this cargo-janitor (cargo (10) <- bash (11))")
        );
        assert_eq!(refused(13, None, &[99]), "it belongs to another user");
        assert!(refused(12, None, &[99]).contains("is an editor"));
        assert_eq!(
            check(&s, &[99], me, 11, None).unwrap_err(),
            "it neither holds nor waits on a Cargo lock"
        );
    }
}
