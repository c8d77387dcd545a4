//! The macOS lock doctor on recorded inputs (`testdata/macos/*.txt`, written by `record.py`
//! from xnu's struct layouts): the bytes libproc and sysctl return are decoded, attributed
//! ([`attribute`]) and diagnosed (`plan::locks`), exactly as on a Mac, minus the FFI.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::observe::lock_doctor::{Look, is_lock_file};
use crate::plan::locks::{ActivityKind, Lock, Report, Verdict, diagnose};
use crate::sys::process::openers::{Held, attribute};
use crate::sys::process::{Evidence, LockUse, Mode, Snapshot};

/// One recorded look at a Mac.
struct Recorded {
    snap: Snapshot,
    env: BTreeMap<u32, Vec<(String, String)>>,
}

fn unhex(s: &str, size: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(b.len() <= size.max(b.len()));
    if b.len() < size {
        b.resize(size, 0);
    }
    b
}

fn text(name: &str) -> &'static str {
    match name {
        "holder_and_waiter" => include_str!("../testdata/macos/holder_and_waiter.txt"),
        "co_holders" => include_str!("../testdata/macos/co_holders.txt"),
        "orphans" => include_str!("../testdata/macos/orphans.txt"),
        "stopped" => include_str!("../testdata/macos/stopped.txt"),
        "deadlock" => include_str!("../testdata/macos/deadlock.txt"),
        "other_user" => include_str!("../testdata/macos/other_user.txt"),
        "stale_flag" => include_str!("../testdata/macos/stale_flag.txt"),
        _ => panic!("no recording {name}"),
    }
}

/// Decodes a recording as `macos.rs` decodes what the kernel returns.
fn load(name: &str) -> Recorded {
    let mut now = Duration::ZERO;
    let mut timebase = (1, 1);
    let mut bsd: BTreeMap<u32, Bsd> = BTreeMap::new();
    let mut facts: BTreeMap<u32, Facts> = BTreeMap::new();
    let mut fds: Vec<(u32, VnodeFd)> = Vec::new();
    let mut held: std::collections::HashMap<FileId, Held> = Default::default();
    for line in text(name).lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let w: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| w[i].parse::<u64>().unwrap();
        let hex = |i: usize, size| unhex(w.get(i).copied().unwrap_or(""), size);
        let pid = || num(1) as u32;
        match w[0] {
            "now" => now = Duration::from_secs(num(1)),
            "timebase" => timebase = (num(1) as u32, num(2) as u32),
            "bsd" => {
                let b = bsd_info(&hex(2, PROC_BSDINFO_SIZE)).unwrap();
                assert_eq!(b.pid, pid());
                bsd.insert(pid(), b);
            }
            "short" => {
                let b = bsd_short_info(&hex(2, PROC_BSDSHORTINFO_SIZE)).unwrap();
                assert_eq!(b.pid, pid());
                bsd.insert(pid(), b);
            }
            "task" => facts.entry(pid()).or_default().task = task_info(&hex(2, PROC_TASKINFO_SIZE)),
            "rusage" => {
                facts.entry(pid()).or_default().children_ticks =
                    rusage_children(&hex(2, RUSAGE_INFO_V2_SIZE))
            }
            "args" => facts.entry(pid()).or_default().args = proc_args(&hex(2, 0)),
            "cwd" => {
                facts.entry(pid()).or_default().cwd = vnode_path(&hex(2, VNODE_INFO_PATH_SIZE))
            }
            "fd" => fds.push((pid(), vnode_fd(&hex(3, VNODE_FDINFOWITHPATH_SIZE)).unwrap())),
            "probe" => {
                let state = match w[3] {
                    "free" => Held::Free,
                    "shared" => Held::Shared,
                    "exclusive" => Held::Exclusive,
                    _ => Held::Unknown,
                };
                held.insert(FileId::from_raw(num(1), num(2)), state);
            }
            other => panic!("unknown record {other}"),
        }
    }
    let procs: BTreeMap<u32, ProcInfo> = bsd
        .iter()
        .map(|(pid, b)| {
            let f = facts.get(pid).cloned().unwrap_or_default();
            (*pid, proc_info(b, &f, now, timebase))
        })
        .collect();
    let openers: Vec<Opener> = fds
        .iter()
        .filter_map(|(pid, fd)| opener(*pid, fd, &is_lock_file))
        .collect();
    let uses = attribute(&openers, &held, &procs);
    let env = facts
        .iter()
        .filter_map(|(pid, f)| Some((*pid, f.args.as_ref()?.env.clone())))
        .collect();
    Recorded {
        snap: Snapshot { procs, uses },
        env,
    }
}

/// The diagnosis, with a CPU sample in which nobody used CPU.
fn report(r: &Recorded) -> Report {
    diagnose(&Look {
        snap: r.snap.clone(),
        cpu: Some(BTreeMap::new()),
        sample: Duration::from_millis(500),
        ..Look::default()
    })
}

fn lock<'a>(r: &'a Report, path_end: &str) -> &'a Lock {
    r.locks
        .iter()
        .find(|l| l.path.to_string_lossy().ends_with(path_end))
        .unwrap_or_else(|| panic!("no lock {path_end} in {r:#?}"))
}

fn holders(l: &Lock) -> Vec<(u32, Mode, Verdict, Evidence)> {
    l.holders
        .iter()
        .map(|h| (h.pid, h.mode, h.verdict, h.evidence))
        .collect()
}

fn waiters(l: &Lock) -> Vec<(u32, Mode)> {
    l.waiters.iter().map(|w| (w.pid, w.mode)).collect()
}

fn use_of(r: &Recorded, pid: u32, path_end: &str) -> LockUse {
    r.snap
        .uses
        .iter()
        .find(|u| u.pid == pid && u.path.to_string_lossy().ends_with(path_end))
        .cloned()
        .unwrap_or_else(|| panic!("no use of {path_end} by {pid}"))
}

#[test]
fn holder_and_waiter() {
    let r = load("holder_and_waiter");
    // The process facts, decoded.
    let cargo = &r.snap.procs[&501];
    assert_eq!(cargo.program(), "cargo");
    assert_eq!(cargo.cmdline[1], "build");
    assert_eq!((cargo.ppid, cargo.pgid, cargo.uid), (350, 501, Some(501)));
    assert_eq!(cargo.state, ProcState::Sleeping, "no running thread");
    assert_eq!(r.snap.procs[&512].state, ProcState::Running);
    assert_eq!(cargo.age, Some(Duration::from_millis(119_750)));
    assert_eq!(cargo.start.to_string(), "1763999880250000");
    // 2 s of its own and 40 s of reaped children, from Apple silicon ticks.
    let cpu = cargo.cpu.as_secs_f64();
    assert!((cpu - 42.0).abs() < 1e-6, "{cpu}");
    assert_eq!(
        r.snap.procs[&620].cwd.as_deref(),
        Some(std::path::Path::new("/Users/dev/proj"))
    );
    assert!(r.env[&620].contains(&("HOME".into(), "/Users/dev".into())));
    assert_eq!(r.snap.procs[&1].name, "launchd");
    assert_eq!(r.snap.procs[&1].state, ProcState::Unknown);

    // Who holds and who waits.
    let u = use_of(&r, 620, ".cargo-lock");
    assert_eq!((u.holding, u.waiting), (None, Some(Mode::Exclusive)));
    let u = use_of(&r, 620, ".package-cache-mutate");
    assert_eq!(
        (u.holding, u.evidence),
        (Some(Mode::Shared), Evidence::Exact)
    );

    let rep = report(&r);
    let build = lock(&rep, "target/debug/.cargo-lock");
    assert_eq!(
        holders(build),
        [(501, Mode::Exclusive, Verdict::Building, Evidence::Exact)]
    );
    let a = build.holders[0].activity.as_ref().unwrap();
    assert_eq!(
        (a.pid, a.kind, a.name.as_str()),
        (512, ActivityKind::Compiling, "serde")
    );
    assert_eq!(waiters(build), [(620, Mode::Exclusive)]);
    assert_eq!(build.holders[0].ancestors[0].comm, "zsh");
    // The second cargo holds the mutate lock while it waits: listed, never a verdict.
    let mutate = lock(&rep, ".package-cache-mutate");
    assert_eq!(
        holders(mutate),
        [(501, Mode::Shared, Verdict::Building, Evidence::Exact)]
    );
    assert_eq!(mutate.waiting_holders.len(), 1);
    assert_eq!(mutate.waiting_holders[0].pid, 620);
    assert!(mutate.waiters.is_empty());
}

#[test]
fn co_holders_name_the_eldest_non_descendant() {
    let r = load("co_holders");
    // Both processes sharing the description hold it, eldest first.
    let holding: Vec<u32> = r
        .snap
        .uses
        .iter()
        .filter(|u| u.holding.is_some())
        .map(|u| u.pid)
        .collect();
    assert_eq!(holding, [700, 701]);
    // Intel timebase: ticks are nanoseconds.
    assert_eq!(r.snap.procs[&700].cpu, Duration::from_millis(100));
    let rep = report(&r);
    let l = lock(&rep, "/.package-cache");
    assert_eq!(
        holders(l),
        [(700, Mode::Exclusive, Verdict::Idle, Evidence::Exact)],
        "the child that inherited the description is not named"
    );
    assert!(l.holders[0].suggestion.contains("`python3` is not cargo"));
    assert_eq!(waiters(l), [(720, Mode::Exclusive)]);
}

#[test]
fn orphans_of_launchd() {
    let r = load("orphans");
    let rep = report(&r);
    let l = lock(&rep, "/.package-cache");
    assert_eq!(
        holders(l),
        [
            (702, Mode::Exclusive, Verdict::Orphaned, Evidence::Exact),
            (701, Mode::Exclusive, Verdict::Orphaned, Evidence::Exact),
        ],
        "siblings sharing one description: both named, the eldest first"
    );
    let other = lock(&rep, "other/target/debug/.cargo-lock");
    assert_eq!(
        holders(other),
        [(901, Mode::Exclusive, Verdict::Orphaned, Evidence::Exact)]
    );
    assert_eq!(other.holders[0].ancestors[0].comm, "launchd");
    assert!(
        other.holders[0]
            .suggestion
            .contains("cargo janitor stop 901")
    );
}

#[test]
fn a_stopped_holder() {
    let r = load("stopped");
    assert_eq!(r.snap.procs[&801].state, ProcState::Stopped);
    let rep = report(&r);
    let l = lock(&rep, "/.package-cache");
    assert_eq!(
        holders(l),
        [(801, Mode::Exclusive, Verdict::Stopped, Evidence::Exact)]
    );
    assert_eq!(l.holders[0].state, "stopped");
    assert!(l.holders[0].suggestion.contains("kill -CONT 801"));
    assert_eq!(waiters(l), [(820, Mode::Exclusive)]);
}

#[test]
fn a_nested_cargo_waiting_for_its_grandparent_is_a_deadlock() {
    let r = load("deadlock");
    let rep = report(&r);
    let l = lock(&rep, "proj/target/debug/.cargo-lock");
    assert_eq!(
        holders(l),
        [(1001, Mode::Exclusive, Verdict::Deadlock, Evidence::Exact)]
    );
    assert_eq!(waiters(l), [(1020, Mode::Exclusive)]);
    assert!(l.holders[0].suggestion.contains("CARGO_TARGET_DIR"));
}

#[test]
fn another_users_holder_cannot_be_inspected() {
    let r = load("other_user");
    let them = &r.snap.procs[&1100];
    assert_eq!((them.uid, them.state), (Some(502), ProcState::Unknown));
    assert!(them.cmdline.is_empty() && them.age.is_none());
    assert_eq!(them.command(), "[cargo]");
    let rep = report(&r);
    let l = lock(&rep, "/Users/Shared/cargo/.package-cache");
    assert!(l.holders.is_empty() && l.waiting_holders.is_empty());
    assert!(!l.visible, "held by a process this user cannot see");
    assert_eq!(waiters(l), [(1120, Mode::Exclusive)]);
    assert_eq!(
        crate::report::locks::holders_words(l),
        "held by a process this user cannot see"
    );
}

#[test]
fn a_flag_left_by_an_unlock_is_not_a_holder() {
    let r = load("stale_flag");
    // The free file: nobody holds it and nobody waits, whatever FWASLOCKED says.
    for pid in [1200, 1220] {
        let u = use_of(&r, pid, "/Users/dev/.cargo/.package-cache");
        assert_eq!((u.holding, u.waiting), (None, None), "{pid}");
    }
    let rep = report(&r);
    assert_eq!(rep.locks.len(), 1, "{rep:#?}");
    // Two unrelated, unshared locked descriptions of an exclusively held file: one of them is
    // stale, so neither holder is certain, and the advice says so.
    let l = lock(&rep, "h2/.package-cache");
    let ev: Vec<(u32, Evidence)> = l.holders.iter().map(|h| (h.pid, h.evidence)).collect();
    assert_eq!(ev, [(1230, Evidence::Probable), (1240, Evidence::Probable)]);
    assert!(l.holders[0].suggestion.starts_with("probably the holder"));
}
