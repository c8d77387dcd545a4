//! Linux: `/proc/locks`, `/proc/PID/{stat,cmdline,cwd,fd,fdinfo,status,environ}`, pidfds.
//!
//! We parse these ourselves (locks.md §A.2): `procfs` drops the `->` marker that tells a
//! waiter from a holder, and does not expose fdinfo's `lock:` lines. The evidence is
//! [`Evidence::Exact`]: the kernel lists holders and waiters itself.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Evidence, LockUse, Mode, Pinned, ProcId, ProcInfo, ProcState, ProcessControl, ProcessTable,
    Rung, Snapshot, StartStamp,
};

pub struct Linux;

/// One line of `/proc/locks` (or a fdinfo `lock:` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockLine {
    pub kind: String,
    pub waiting: bool,
    pub mode: Mode,
    /// The pid that called `flock` (may be dead; `-1` for OFD locks becomes `None`).
    pub pid: Option<u32>,
    pub major: u32,
    pub minor: u32,
    pub ino: u64,
}

/// Parses `<id>: [-> ]<TYPE> <ADVISORY|MANDATORY> <READ|WRITE> <PID> <MAJ>:<MIN>:<INODE> <START> <END>`.
pub fn parse_lock_line(line: &str) -> Option<LockLine> {
    let (_, rest) = line.split_once(':')?;
    let mut words = rest.split_whitespace().peekable();
    let waiting = words.peek() == Some(&"->");
    if waiting {
        words.next();
    }
    let kind = words.next()?.to_owned();
    let _advisory = words.next()?;
    let mode = match words.next()? {
        "READ" => Mode::Shared,
        "WRITE" => Mode::Exclusive,
        _ => return None,
    };
    let pid = words.next()?.parse::<i64>().ok()?;
    let mut dev = words.next()?.split(':');
    let major = u32::from_str_radix(dev.next()?, 16).ok()?;
    let minor = u32::from_str_radix(dev.next()?, 16).ok()?;
    let ino = dev.next()?.parse().ok()?;
    Some(LockLine {
        kind,
        waiting,
        mode,
        pid: u32::try_from(pid).ok().filter(|p| *p > 0),
        major,
        minor,
        ino,
    })
}

/// The `lock:` lines of a `/proc/PID/fdinfo/FD` file (present only for holders).
pub fn parse_fdinfo_locks(text: &str) -> Vec<LockLine> {
    text.lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .filter_map(|l| parse_lock_line(l.trim_start()))
        .collect()
}

/// The fields of `/proc/PID/stat` we use, raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub state: char,
    pub ppid: u32,
    pub pgid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub cpu_ticks: u64,
    /// Clock ticks since boot at which it started.
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`: split after the *last* `)` (the name may hold spaces and parens).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // f[0] is field 3 (state).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        name,
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        pgid: num(2)? as u32,
        // utime + stime, plus the reaped children's (short-lived rustc runs count too).
        cpu_ticks: num(11)? + num(12)? + num(13).unwrap_or(0) + num(14).unwrap_or(0),
        start_ticks: num(19)?,
    })
}

/// The state letter of `/proc/PID/stat`.
pub fn state_of(c: char) -> ProcState {
    match c {
        'R' => ProcState::Running,
        'S' => ProcState::Sleeping,
        'D' => ProcState::DiskWait,
        'T' => ProcState::Stopped,
        't' => ProcState::Traced,
        'Z' | 'X' | 'x' => ProcState::Zombie,
        'I' => ProcState::Idle,
        _ => ProcState::Unknown,
    }
}

fn ticks_per_sec() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

fn ticks(t: u64) -> Duration {
    let hz = ticks_per_sec();
    Duration::from_secs(t / hz) + Duration::from_nanos((t % hz) * 1_000_000_000 / hz)
}

fn uptime() -> Option<Duration> {
    let text = fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn read_proc(pid: u32, uptime: Option<Duration>) -> Option<ProcInfo> {
    use std::os::unix::fs::MetadataExt;
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = read_stat(pid)?;
    let cmdline = fs::read(dir.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| super::printable(&String::from_utf8_lossy(s)))
                .collect()
        })
        .unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        name: super::printable(&stat.name),
        cmdline,
        cwd: fs::read_link(dir.join("cwd")).ok(),
        state: state_of(stat.state),
        cpu: ticks(stat.cpu_ticks),
        age: uptime.map(|u| u.saturating_sub(ticks(stat.start_ticks))),
        start: StartStamp::from_raw(stat.start_ticks),
        uid: fs::metadata(&dir).ok().map(|m| m.uid()),
        parent_exited: false,
    })
}

fn pids() -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

impl ProcessTable for Linux {
    fn snapshot(&self, is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot> {
        let locks_text = fs::read_to_string("/proc/locks")?;
        let table: Vec<LockLine> = locks_text
            .lines()
            .filter_map(parse_lock_line)
            .filter(|l| l.kind == "FLOCK")
            .collect();
        let up = uptime();
        let mut snap = Snapshot::default();
        for pid in pids() {
            let Some(info) = read_proc(pid, up) else {
                continue;
            };
            snap.procs.insert(pid, info);
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue; // another user's process: only /proc/locks and cmdline are readable
            };
            for fd in fds.filter_map(Result::ok) {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                // A lock file deleted while open reads as "<path> (deleted)".
                let text = target.to_string_lossy();
                let (target, deleted) = match text.strip_suffix(" (deleted)") {
                    Some(t) => (PathBuf::from(t), true),
                    None => (target.clone(), false),
                };
                if !is_lock_file(&target) {
                    continue;
                }
                // The file the descriptor refers to (following the magic link works even
                // when the file was deleted, or lives in another mount namespace).
                let Ok(meta) = fs::metadata(fd.path()) else {
                    continue;
                };
                let ino = {
                    use std::os::unix::fs::MetadataExt;
                    meta.ino()
                };
                let fdinfo = fs::read_to_string(format!(
                    "/proc/{pid}/fdinfo/{}",
                    fd.file_name().to_string_lossy()
                ))
                .unwrap_or_default();
                let holding = parse_fdinfo_locks(&fdinfo)
                    .into_iter()
                    .find(|l| l.kind == "FLOCK" && l.ino == ino && !l.waiting)
                    .map(|l| l.mode);
                // A process blocks on one lock at a time, so its `->` line and the inode
                // identify the file; the device printed there is the superblock's, which
                // differs from st_dev on btrfs, so it is not compared.
                let waiting = table
                    .iter()
                    .find(|l| l.waiting && l.pid == Some(pid) && l.ino == ino)
                    .map(|l| l.mode);
                snap.uses.push(LockUse {
                    pid,
                    path: target,
                    deleted,
                    file: crate::sys::fs::Stat::of_metadata(&meta).id,
                    holding,
                    waiting: if holding.is_some() { None } else { waiting },
                    evidence: Evidence::Exact,
                });
            }
        }
        Ok(snap)
    }

    fn cpu(&self, pids: &[u32]) -> BTreeMap<u32, Duration> {
        pids.iter()
            .filter_map(|&pid| Some((pid, ticks(read_stat(pid)?.cpu_ticks))))
            .collect()
    }

    fn environ(&self, pid: u32) -> Option<Vec<(String, String)>> {
        let bytes = fs::read(format!("/proc/{pid}/environ")).ok()?;
        Some(
            bytes
                .split(|c| *c == 0)
                .filter_map(|kv| {
                    let kv = String::from_utf8_lossy(kv);
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.to_owned()))
                })
                .collect(),
        )
    }

    fn ignores(&self, pid: u32, rung: Rung) -> bool {
        let sig = super::unix::signal(rung).as_raw();
        let mask = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("SigIgn:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(0);
        (1..=64).contains(&sig) && mask & (1 << (sig - 1)) != 0
    }
}

/// Whether `id` still is the process `/proc` shows, and its state letter.
fn current(id: ProcId) -> Option<char> {
    let s = read_stat(id.pid)?;
    (StartStamp::from_raw(s.start_ticks) == id.start).then_some(s.state)
}

impl ProcessControl for Linux {
    fn rungs(&self) -> &'static [Rung] {
        &[Rung::Interrupt, Rung::Terminate, Rung::Continue, Rung::Kill]
    }

    fn pin(&self, id: ProcId) -> Option<Pinned> {
        let pidfd: Option<OwnedFd> = rustix::process::Pid::from_raw(id.pid as i32).and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
        });
        // Checked after opening the pidfd: if the start time still matches, the pidfd names
        // the right process for good.
        current(id)?;
        Some(Pinned { id, pidfd })
    }

    fn state(&self, p: &Pinned) -> Option<ProcState> {
        match state_of(current(p.id)?) {
            ProcState::Zombie => None,
            s => Some(s),
        }
    }

    fn send(&self, p: &Pinned, rung: Rung) -> bool {
        match &p.pidfd {
            Some(fd) => rustix::process::pidfd_send_signal(fd, super::unix::signal(rung)).is_ok(),
            None => current(p.id).is_some() && super::unix::kill(p.id.pid, rung),
        }
    }

    fn send_group(&self, leader: &Pinned, rung: Rung) -> bool {
        // Only while the group's leader is still the pinned process, and never while we are
        // in that group ourselves.
        self.state(leader).is_some()
            && super::unix::current_pgid() != leader.id.pid
            && super::unix::kill_group(leader.id.pid, rung)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines() {
        let h = parse_lock_line("3: FLOCK  ADVISORY  WRITE 5712 fe:00:10036016 0 EOF").unwrap();
        assert_eq!(
            h,
            LockLine {
                kind: "FLOCK".into(),
                waiting: false,
                mode: Mode::Exclusive,
                pid: Some(5712),
                major: 0xfe,
                minor: 0,
                ino: 10036016
            }
        );
        let w = parse_lock_line("3:  -> FLOCK  ADVISORY  READ 5788 fe:00:10036016 0 EOF").unwrap();
        assert!(w.waiting);
        assert_eq!(w.mode, Mode::Shared);
        let ofd = parse_lock_line("1: OFDLCK ADVISORY  WRITE -1 00:27:10044898 0 EOF").unwrap();
        assert_eq!(ofd.pid, None);
        assert_eq!((ofd.major, ofd.minor), (0, 0x27));
        assert!(parse_lock_line("garbage").is_none());
        assert!(parse_lock_line("1: FLOCK ADVISORY WRITE 1 zz:00:1 0 EOF").is_none());
    }

    #[test]
    fn fdinfo_lock_lines_only_for_holders() {
        let holder = "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t10035874\n\
                      lock:\t1: FLOCK  ADVISORY  WRITE 3955 fe:00:10035874 0 EOF\n";
        let locks = parse_fdinfo_locks(holder);
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].ino, 10035874);
        assert!(parse_fdinfo_locks("pos:\t0\nflags:\t02\nino:\t5\n").is_empty());
    }

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let text =
            "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 0 0";
        let p = parse_stat(text).unwrap();
        assert_eq!(p.name, "we ird) (x)");
        assert_eq!(state_of(p.state), ProcState::Sleeping);
        assert_eq!((p.ppid, p.pgid), (1, 4242));
        assert_eq!(p.cpu_ticks, 10);
        assert_eq!(p.start_ticks, 123456);
        assert_eq!(state_of('T'), ProcState::Stopped);
        assert_eq!(state_of('t'), ProcState::Traced);
        assert_eq!(state_of('D'), ProcState::DiskWait);
        assert_eq!(state_of('Z'), ProcState::Zombie);
        assert_eq!(state_of('?'), ProcState::Unknown);
    }

    #[test]
    fn this_process_seen_pinned_and_signalled() {
        let snap = Linux.snapshot(&|_| false).unwrap();
        let me = &snap.procs[&std::process::id()];
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        assert!(me.age.is_some());
        assert!(!me.cmdline.is_empty());
        let pinned = Linux.pin(me.id()).expect("pinned");
        assert!(Linux.state(&pinned).is_some());
        assert!(
            Linux.send(&pinned, Rung::Continue),
            "SIGCONT to ourselves is harmless"
        );
        let wrong = ProcId {
            pid: me.pid,
            start: StartStamp::from_raw(1),
        };
        assert!(Linux.pin(wrong).is_none(), "a reused pid is never pinned");
        assert!(!Linux.ignores(me.pid, Rung::Kill));
        let env = Linux.environ(me.pid).unwrap();
        assert!(env.iter().any(|(k, _)| k == "PATH"));
        assert!(Linux.cpu(&[me.pid]).contains_key(&me.pid));
    }
}
