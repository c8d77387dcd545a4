//! Who probably holds a lock, where the OS lists only who has the lock file open (Windows;
//! lock-holders-macos-windows.md §2). A pure function of recorded facts, on every platform, so
//! its rules are unit-tested everywhere.
//!
//! Windows lists every handle to a file (the system handle table), and a non-blocking
//! `LockFileEx` on a handle of our own says whether the file is locked, and how; but no
//! Windows API says *which* handle owns a byte-range lock. So, per lock file:
//!
//! * free, or not probed: every opener only has it open (no verdict, no waiter);
//! * held exclusively: one holder, the eldest opener that is *building* (a live build step
//!   among its descendants: rustc, rustdoc, clippy-driver, a build script, a linker), else
//!   the eldest opener (it opened the file first in the usual case: a waiter opens the file,
//!   then blocks). Every other opener waits. Which mode a waiter asked for is not known: it is
//!   reported as exclusive;
//! * held shared: every opener holds it shared (Cargo shares `.package-cache-mutate` among all
//!   its builds, and a cargo that waits for a build directory still holds it); whoever waits
//!   for it exclusively is counted among them.
//!
//! Every use found this way carries [`Evidence::Probable`]. "Eldest" is by start stamp, then
//! pid; an opener whose facts could not be read comes last.
//!
//! Also here, pure as well: [`split_command_line`], a Windows command line into its arguments.

use std::path::PathBuf;

use super::{Evidence, FileId, LockUse, Mode, ProcInfo, ProcState, Snapshot};

/// What a probe of the lock file on a handle of our own found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Free,
    Shared,
    Exclusive,
    /// It could not be probed: nothing is said about it.
    Unknown,
}

/// One lock file and the processes that have it open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub path: PathBuf,
    pub file: FileId,
    /// Marked for deletion while open (someone "fixed" a wait by deleting the lock file).
    pub deleted: bool,
    pub held: Held,
    /// The processes with a handle to it (each once; never this process).
    pub openers: Vec<u32>,
}

/// Build steps: a holder with one of these among its live descendants is building.
const BUILD_STEPS: &[&str] = &[
    "rustc",
    "rustdoc",
    "clippy-driver",
    "cc",
    "c++",
    "gcc",
    "g++",
    "clang",
    "clang++",
    "ld",
    "lld",
    "lld-link",
    "link",
    "rust-lld",
    "collect2",
];

/// The program's name without its directory and `.exe`, lower case.
fn program(p: &ProcInfo) -> String {
    let name = p.program().to_ascii_lowercase();
    match name.strip_suffix(".exe") {
        Some(n) => n.to_string(),
        None => name,
    }
}

/// Whether a live descendant of `pid` runs a build step.
fn building(procs: &Snapshot, pid: u32) -> bool {
    procs
        .subtree(pid)
        .into_iter()
        .skip(1)
        .filter_map(|p| procs.procs.get(&p))
        .filter(|p| p.state != ProcState::Zombie)
        .any(|p| {
            let prog = program(p);
            prog.starts_with("build-script-") || BUILD_STEPS.contains(&prog.as_str())
        })
}

/// The lock uses these openers probably are (see the module docs). `procs` is the process
/// table of the same look (its `uses` are not read).
pub fn attribute(files: &[Opened], procs: &Snapshot) -> Vec<LockUse> {
    let mut out = Vec::new();
    for f in files {
        let mut openers = f.openers.clone();
        openers.sort_unstable();
        openers.dedup();
        // Eldest first: by start stamp, then pid; unknown processes last.
        openers.sort_by_key(|pid| match procs.procs.get(pid) {
            Some(p) => (0, p.start, *pid),
            None => (1, Default::default(), *pid),
        });
        let holder: Option<u32> = match f.held {
            Held::Exclusive => openers
                .iter()
                .copied()
                .find(|p| building(procs, *p))
                .or(openers.first().copied()),
            _ => None,
        };
        for pid in openers {
            let (holding, waiting) = match f.held {
                Held::Free | Held::Unknown => (None, None),
                Held::Shared => (Some(Mode::Shared), None),
                Held::Exclusive if holder == Some(pid) => (Some(Mode::Exclusive), None),
                Held::Exclusive => (None, Some(Mode::Exclusive)),
            };
            out.push(LockUse {
                pid,
                path: f.path.clone(),
                deleted: f.deleted,
                file: f.file,
                holding,
                waiting,
                evidence: Evidence::Probable,
            });
        }
    }
    out
}

/// A Windows command line split into arguments the way the C runtime (and Rust's std) split
/// it: whitespace separates arguments outside double quotes; `2n` backslashes before a quote
/// are `n` backslashes and the quote toggles quoting, `2n+1` are `n` and a literal quote;
/// `""` inside quotes is a literal quote; other backslashes are literal. The program name (the
/// first argument) ends at the first whitespace outside quotes and takes no escapes.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    // The program name.
    let mut first = String::new();
    let mut quoted = false;
    while let Some(&c) = chars.peek() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && (c == ' ' || c == '\t') {
            break;
        } else {
            first.push(c);
        }
        chars.next();
    }
    if first.is_empty() && line.trim().is_empty() {
        return args;
    }
    args.push(first);
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                '\\' => {
                    let mut n = 0;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            arg.push('"');
                            chars.next();
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                    continue;
                }
                '"' => {
                    chars.next();
                    if quoted && chars.peek() == Some(&'"') {
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                    continue;
                }
                ' ' | '\t' if !quoted => break,
                _ => arg.push(c),
            }
            chars.next();
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::process::StartStamp;
    use std::time::Duration;

    /// A process as Windows reports it: Toolhelp's parent and exe name, the image path as its
    /// command line, the creation time as its start stamp.
    fn proc(pid: u32, ppid: u32, exe: &str, start: u64) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            pgid: 0,
            name: exe.into(),
            cmdline: vec![format!("C:\\Users\\u\\.cargo\\bin\\{exe}")],
            cwd: None,
            state: ProcState::Unknown,
            cpu: Duration::ZERO,
            age: None,
            start: StartStamp::from_raw(start),
            uid: None,
            parent_exited: false,
        }
    }

    fn table(procs: Vec<ProcInfo>) -> Snapshot {
        Snapshot {
            procs: procs.into_iter().map(|p| (p.pid, p)).collect(),
            uses: Vec::new(),
        }
    }

    fn opened(n: u64, held: Held, openers: &[u32]) -> Opened {
        Opened {
            path: PathBuf::from(format!("C:\\Users\\u\\.cargo\\lock{n}\\.package-cache")),
            file: FileId::from_raw(7, n),
            deleted: false,
            held,
            openers: openers.to_vec(),
        }
    }

    /// (pid, holding, waiting) of each use, in order.
    fn roles(uses: &[LockUse]) -> Vec<(u32, Option<Mode>, Option<Mode>)> {
        uses.iter().map(|u| (u.pid, u.holding, u.waiting)).collect()
    }

    const X: Option<Mode> = Some(Mode::Exclusive);
    const S: Option<Mode> = Some(Mode::Shared);

    #[test]
    fn the_eldest_opener_holds_and_the_others_wait() {
        // Recorded under Wine: the holder test program started first, the waiter second.
        let procs = table(vec![
            proc(32, 0, "cargo-janitor.exe", 900),
            proc(252, 32, "locker.exe", 100),
            proc(264, 32, "locker.exe", 200),
        ]);
        let uses = attribute(&[opened(1, Held::Exclusive, &[264, 252, 252])], &procs);
        assert_eq!(roles(&uses), [(252, X, None), (264, None, X)]);
        assert!(uses.iter().all(|u| u.evidence == Evidence::Probable));
    }

    #[test]
    fn a_building_opener_holds_even_when_younger() {
        // An old editor-started cargo waits; a newer terminal cargo runs rustc.
        let procs = table(vec![
            proc(10, 1, "rust-analyzer.exe", 10),
            proc(11, 10, "cargo.exe", 20),
            proc(20, 1, "cargo.exe", 500),
            proc(21, 20, "rustc.exe", 600),
        ]);
        let uses = attribute(&[opened(1, Held::Exclusive, &[11, 20])], &procs);
        assert_eq!(roles(&uses), [(11, None, X), (20, X, None)]);
        // A build script counts too (deeper in the tree); a dead one does not.
        let mut procs = table(vec![
            proc(11, 1, "cargo.exe", 20),
            proc(20, 1, "cargo.exe", 500),
            proc(21, 20, "cmd.exe", 600),
            proc(22, 21, "build-script-build.exe", 700),
        ]);
        let uses = attribute(&[opened(1, Held::Exclusive, &[11, 20])], &procs);
        assert_eq!(roles(&uses), [(11, None, X), (20, X, None)]);
        procs.procs.get_mut(&22).unwrap().state = ProcState::Zombie;
        let uses = attribute(&[opened(1, Held::Exclusive, &[11, 20])], &procs);
        assert_eq!(roles(&uses), [(11, X, None), (20, None, X)]);
    }

    #[test]
    fn a_nested_cargo_waits_on_its_ancestor() {
        // cargo -> build script -> cargo on the same build directory: the parent is the
        // eldest and building; the nested one waits (the diagnosis calls it a deadlock).
        let procs = table(vec![
            proc(40, 1, "cargo.exe", 100),
            proc(41, 40, "build-script-build.exe", 200),
            proc(42, 41, "cargo.exe", 300),
        ]);
        let uses = attribute(&[opened(1, Held::Exclusive, &[42, 40])], &procs);
        assert_eq!(roles(&uses), [(40, X, None), (42, None, X)]);
        let snap = Snapshot {
            uses: uses
                .into_iter()
                .map(|mut u| {
                    u.path = ["p", "target", "debug", ".cargo-lock"].iter().collect();
                    u
                })
                .collect(),
            ..procs
        };
        let look = crate::observe::lock_doctor::Look {
            snap,
            ..Default::default()
        };
        let r = crate::plan::locks::diagnose(&look);
        let h = &r.locks[0].holders[0];
        assert_eq!(
            (h.pid, h.verdict, h.evidence),
            (
                40,
                crate::plan::locks::Verdict::Deadlock,
                Evidence::Probable
            )
        );
        assert!(h.suggestion.starts_with("probably the holder"), "{h:?}");
        assert_eq!(r.locks[0].waiters[0].pid, 42);
    }

    #[test]
    fn shared_locks_are_held_by_every_opener() {
        let procs = table(vec![
            proc(50, 1, "cargo.exe", 100),
            proc(51, 50, "rustc.exe", 150),
            proc(60, 1, "cargo.exe", 200),
        ]);
        let uses = attribute(&[opened(2, Held::Shared, &[60, 50])], &procs);
        assert_eq!(roles(&uses), [(50, S, None), (60, S, None)]);
    }

    #[test]
    fn free_or_unprobed_files_are_only_open() {
        let procs = table(vec![proc(50, 1, "cargo.exe", 100)]);
        for held in [Held::Free, Held::Unknown] {
            let uses = attribute(&[opened(3, held, &[50])], &procs);
            assert_eq!(roles(&uses), [(50, None, None)], "{held:?}");
        }
    }

    #[test]
    fn unknown_processes_come_last_and_files_stay_apart() {
        // Pid 99 exited between the handle table and the process list.
        let procs = table(vec![
            proc(70, 1, "cargo.exe", 300),
            proc(71, 1, "cargo.exe", 400),
        ]);
        let mut a = opened(4, Held::Exclusive, &[99, 71]);
        a.deleted = true;
        let b = opened(5, Held::Exclusive, &[71, 70]);
        let uses = attribute(&[a.clone(), b.clone()], &procs);
        assert_eq!(
            roles(&uses),
            [(71, X, None), (99, None, X), (70, X, None), (71, None, X)]
        );
        assert!(uses[..2].iter().all(|u| u.deleted && u.file == a.file));
        assert!(uses[2..].iter().all(|u| !u.deleted && u.file == b.file));
        assert!(attribute(&[opened(6, Held::Exclusive, &[])], &procs).is_empty());
    }

    #[test]
    fn command_lines_split_as_the_c_runtime_does() {
        let split = |s: &str| split_command_line(s);
        assert_eq!(
            split(r#""C:\Program Files\cargo.exe" build --offline"#),
            [r"C:\Program Files\cargo.exe", "build", "--offline"]
        );
        assert_eq!(
            split(r#"rustc.exe --crate-name "my crate" a\\"b c" d\"e f\\g"#),
            [
                "rustc.exe",
                "--crate-name",
                "my crate",
                r"a\b c",
                r#"d"e"#,
                r"f\\g"
            ]
        );
        assert_eq!(split(r#"x "a""b" """#), ["x", r#"a"b"#, ""]);
        assert_eq!(split(r"C:\dir\x.exe   "), [r"C:\dir\x.exe"]);
        assert!(split("  ").is_empty());
    }
}
