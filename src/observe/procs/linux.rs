//! Linux: `/proc/locks`, `/proc/PID/fd`, `/proc/PID/fdinfo`, `/proc/PID/stat`.
//!
//! We parse these ourselves (locks.md §A.2): `procfs` drops the `->` marker that tells a
//! waiter from a holder, and does not expose fdinfo's `lock:` lines.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{KernelLock, LockUse, Mode, ProcInfo, Snapshot, System};

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

/// Fields of `/proc/PID/stat`: split after the *last* `)` (comm may hold spaces and parens).
pub fn parse_stat(pid: u32, text: &str) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let f: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // f[0] is field 3 (state).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcInfo {
        pid,
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        pgid: num(2)? as u32,
        sid: num(3)? as u32,
        // utime + stime, plus the reaped children's (short-lived rustc runs count too).
        cpu_ticks: num(11)? + num(12)? + num(13).unwrap_or(0) + num(14).unwrap_or(0),
        start_ticks: num(19)?,
        comm,
        cmdline: Vec::new(),
        cwd: None,
        uid: None,
    })
}

fn read_proc(pid: u32) -> Option<ProcInfo> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    let mut p = parse_stat(pid, &stat)?;
    p.cmdline = fs::read(dir.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    p.cwd = fs::read_link(dir.join("cwd")).ok();
    p.uid = fs::metadata(&dir).ok().map(|m| m.uid());
    Some(p)
}

fn pids() -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// `(major, minor)` of a device number, as `/proc/locks` prints it.
pub fn major_minor(dev: u64) -> (u32, u32) {
    (libc::major(dev), libc::minor(dev))
}

impl System for Linux {
    fn snapshot(&self, is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot> {
        let locks_text = fs::read_to_string("/proc/locks")?;
        let table: Vec<LockLine> = locks_text
            .lines()
            .filter_map(parse_lock_line)
            .filter(|l| l.kind == "FLOCK")
            .collect();
        let mut snap = Snapshot {
            // SAFETY: sysconf has no preconditions.
            ticks_per_sec: unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64,
            uptime_secs: fs::read_to_string("/proc/uptime")
                .ok()
                .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
                .unwrap_or(0.0),
            ..Snapshot::default()
        };
        for pid in pids() {
            let Some(info) = read_proc(pid) else { continue };
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
                let (dev, ino) = (meta.dev(), meta.ino());
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
                    file: (dev, ino),
                    holding,
                    waiting: if holding.is_some() { None } else { waiting },
                });
            }
        }
        snap.kernel = table
            .into_iter()
            .map(|l| KernelLock {
                major: l.major,
                minor: l.minor,
                ino: l.ino,
                pid: l.pid,
                mode: l.mode,
                waiting: l.waiting,
            })
            .collect();
        Ok(snap)
    }

    fn cpu_ticks(&self, pids: &[u32]) -> BTreeMap<u32, u64> {
        pids.iter()
            .filter_map(|&pid| {
                let t = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                Some((pid, parse_stat(pid, &t)?.cpu_ticks))
            })
            .collect()
    }

    fn signals_ignored(&self, pid: u32) -> u64 {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("SigIgn:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(0)
    }

    fn device(&self, dev: u64) -> (u32, u32) {
        major_minor(dev)
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
    fn stat_with_spaces_and_parens_in_comm() {
        let text =
            "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 0 0";
        let p = parse_stat(4242, text).unwrap();
        assert_eq!(p.comm, "we ird) (x)");
        assert_eq!(p.state, 'S');
        assert_eq!((p.ppid, p.pgid, p.sid), (1, 4242, 4242));
        assert_eq!(p.cpu_ticks, 10);
        assert_eq!(p.start_ticks, 123456);
    }
}
