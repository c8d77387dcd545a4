//! Holders and waiters from the *openers* of lock files: for a platform that lists which
//! processes have a lock file open and marks the open file descriptions that acquired a lock
//! (macOS: `FWASLOCKED`), but keeps no table of locks and waiters as Linux does. A pure
//! function ([`attribute`]) of the openers, the state of each lock file (a probe: free, held
//! shared or exclusive) and the process facts, so it is tested on recorded inputs everywhere.
//!
//! The rules, per lock file:
//!
//! * **Free** (the probe could lock it): nobody holds or waits, whatever the flags say
//!   (`FWASLOCKED` stays set after an unlock until the description is closed).
//! * **Held**: every process with a locked description of it is a holder, in the probe's
//!   mode. Processes sharing one description (fork) are co-holders; the lock doctor names the
//!   eldest that does not descend from another holder (`plan::locks`), so holders are listed
//!   eldest first. The evidence is [`Evidence::Exact`], unless an exclusive lock shows
//!   locked descriptions in unrelated processes that are not marked shared (one of them
//!   unlocked without closing): then every holder is [`Evidence::Probable`].
//! * Every other opener of a held file **waits** (Cargo opens a lock file only to lock it).
//!   The platform does not say which mode a waiter asked for: behind a shared holder it can
//!   only be exclusive; behind an exclusive one it is taken to be what Cargo asks for that
//!   file (shared for `.package-cache-mutate`, which builds take shared; else exclusive).
//! * Held with no locked description in sight: its holder is a process this user cannot
//!   inspect (another user's); the other openers still wait.
//! * **Unknown** (the probe failed): locked descriptions are probable holders (exclusive
//!   assumed), and the other openers wait only if there is one.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{Evidence, LockUse, Mode, ProcInfo};
use crate::sys::fs::FileId;

/// One descriptor of a lock file in one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opener {
    pub pid: u32,
    pub path: PathBuf,
    pub file: FileId,
    /// The file was deleted while open.
    pub deleted: bool,
    /// Its open file description acquired a lock (macOS `FWASLOCKED`).
    pub locked: bool,
    /// Its open file description is shared with other descriptors (macOS `PROC_FP_SHARED`).
    pub shared: bool,
}

/// What probing a lock file found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Free,
    Shared,
    Exclusive,
    /// It could not be probed.
    Unknown,
}

/// Oldest first: longest running, then earliest start, then lowest pid.
fn eldest_first(procs: &BTreeMap<u32, ProcInfo>, pids: &mut [u32]) {
    pids.sort_by_key(|pid| {
        let p = procs.get(pid);
        (
            std::cmp::Reverse(p.and_then(|p| p.age)),
            p.map(|p| p.start),
            *pid,
        )
    });
}

/// Whether `pid` descends from one of `others` (through the parents in `procs`).
fn descends(procs: &BTreeMap<u32, ProcInfo>, pid: u32, others: &[u32]) -> bool {
    let mut cur = pid;
    for _ in 0..64 {
        match procs.get(&cur) {
            Some(p) if p.ppid != 0 && p.ppid != cur => {
                if others.contains(&p.ppid) {
                    return true;
                }
                cur = p.ppid;
            }
            _ => return false,
        }
    }
    false
}

/// The mode a waiter behind `held` waits for (see the module docs).
fn waiter_mode(path: &std::path::Path, held: Held) -> Mode {
    let mutate = path
        .file_name()
        .is_some_and(|n| n == ".package-cache-mutate");
    match held {
        Held::Shared => Mode::Exclusive,
        _ if mutate => Mode::Shared,
        _ => Mode::Exclusive,
    }
}

/// The lock uses these openers make, per file in the order the files are first seen: the
/// holders eldest first, then the waiters eldest first, then the openers that neither hold
/// nor wait. `held` gives each file's probe (missing: [`Held::Unknown`]).
pub fn attribute(
    openers: &[Opener],
    held: &HashMap<FileId, Held>,
    procs: &BTreeMap<u32, ProcInfo>,
) -> Vec<LockUse> {
    let mut files: Vec<FileId> = Vec::new();
    for o in openers {
        if !files.contains(&o.file) {
            files.push(o.file);
        }
    }
    let mut uses = Vec::new();
    for file in files {
        let of_file: Vec<&Opener> = openers.iter().filter(|o| o.file == file).collect();
        // One use per process: it holds if any of its descriptors of the file is locked.
        let mut pids: Vec<u32> = of_file.iter().map(|o| o.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        let locked_pids: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| of_file.iter().any(|o| o.pid == *p && o.locked))
            .collect();
        let state = held.get(&file).copied().unwrap_or(Held::Unknown);
        let holding_mode = match state {
            Held::Free => None,
            Held::Shared => Some(Mode::Shared),
            Held::Exclusive | Held::Unknown => Some(Mode::Exclusive),
        };
        let someone_holds = match state {
            Held::Free => false,
            Held::Shared | Held::Exclusive => true,
            Held::Unknown => !locked_pids.is_empty(),
        };
        // Independent holders: those not descending from another holder.
        let roots: Vec<u32> = locked_pids
            .iter()
            .copied()
            .filter(|p| !descends(procs, *p, &locked_pids))
            .collect();
        let all_shared = of_file.iter().filter(|o| o.locked).all(|o| o.shared);
        let evidence = match state {
            Held::Exclusive if roots.len() > 1 && !all_shared => Evidence::Probable,
            Held::Unknown => Evidence::Probable,
            _ => Evidence::Exact,
        };
        let mut holders = if holding_mode.is_some() {
            locked_pids.clone()
        } else {
            Vec::new()
        };
        let mut waiters: Vec<u32> = if someone_holds {
            pids.iter()
                .copied()
                .filter(|p| !holders.contains(p))
                .collect()
        } else {
            Vec::new()
        };
        let mut rest: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| !holders.contains(p) && !waiters.contains(p))
            .collect();
        eldest_first(procs, &mut holders);
        eldest_first(procs, &mut waiters);
        eldest_first(procs, &mut rest);
        let first = |pid: u32| {
            of_file
                .iter()
                .find(|o| o.pid == pid && o.locked)
                .or_else(|| of_file.iter().find(|o| o.pid == pid))
                .copied()
        };
        let mut push = |pid: u32, holding: Option<Mode>, waiting: Option<Mode>| {
            if let Some(o) = first(pid) {
                uses.push(LockUse {
                    pid,
                    path: o.path.clone(),
                    deleted: of_file.iter().any(|o| o.pid == pid && o.deleted),
                    file,
                    holding,
                    waiting,
                    // A waiter only has the file open: that it waits is inferred too.
                    evidence: if holding.is_some() {
                        evidence
                    } else {
                        Evidence::Probable
                    },
                });
            }
        };
        for pid in holders {
            push(pid, holding_mode, None);
        }
        for pid in waiters {
            let path = first(pid).map(|o| o.path.clone()).unwrap_or_default();
            push(pid, None, Some(waiter_mode(&path, state)));
        }
        for pid in rest {
            push(pid, None, None);
        }
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::process::{ProcState, StartStamp};
    use std::time::Duration;

    fn proc(pid: u32, ppid: u32, age: u64) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            pgid: pid,
            name: "cargo".into(),
            cmdline: vec!["cargo".into()],
            cwd: None,
            state: ProcState::Sleeping,
            cpu: Duration::ZERO,
            age: Some(Duration::from_secs(age)),
            start: StartStamp::from_raw(1000 - age),
            uid: Some(501),
            parent_exited: false,
        }
    }

    fn opener(pid: u32, locked: bool) -> Opener {
        Opener {
            pid,
            path: "/h/.package-cache".into(),
            file: FileId::from_raw(1, 2),
            deleted: true,
            locked,
            shared: false,
        }
    }

    #[test]
    fn a_deleted_lock_file_that_cannot_be_probed() {
        let procs: BTreeMap<u32, ProcInfo> = [proc(10, 1, 50), proc(11, 1, 5), proc(12, 1, 9)]
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        let held: HashMap<FileId, Held> = [(FileId::from_raw(1, 2), Held::Unknown)].into();
        let uses = attribute(
            &[opener(11, false), opener(10, true), opener(12, false)],
            &held,
            &procs,
        );
        let got: Vec<_> = uses
            .iter()
            .map(|u| (u.pid, u.holding, u.waiting, u.evidence, u.deleted))
            .collect();
        assert_eq!(
            got,
            [
                (10, Some(Mode::Exclusive), None, Evidence::Probable, true),
                (12, None, Some(Mode::Exclusive), Evidence::Probable, true),
                (11, None, Some(Mode::Exclusive), Evidence::Probable, true),
            ],
            "holder, then waiters eldest first"
        );
        // Nobody with the flag and no probe: nobody is said to hold or wait.
        let uses = attribute(&[opener(11, false), opener(12, false)], &held, &procs);
        assert!(
            uses.iter()
                .all(|u| u.holding.is_none() && u.waiting.is_none())
        );
        // The waiter's mode behind a shared holder, and behind an exclusive one.
        let p = std::path::Path::new("/h/.package-cache-mutate");
        assert_eq!(waiter_mode(p, Held::Shared), Mode::Exclusive);
        assert_eq!(waiter_mode(p, Held::Exclusive), Mode::Shared);
        assert_eq!(
            waiter_mode(
                std::path::Path::new("/t/debug/.cargo-lock"),
                Held::Exclusive
            ),
            Mode::Exclusive
        );
    }
}
