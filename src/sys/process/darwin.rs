//! What macOS's process interfaces return, decoded: pure functions on the bytes libproc and
//! `sysctl` fill in, with no FFI, so they compile and are tested on every platform (on
//! recorded inputs, `testdata/macos/`). `macos.rs` only fills the buffers.
//!
//! The layouts are xnu's `sys/proc_info.h` and `sys/sysctl.h` (lock-holders-macos-windows.md
//! §1), the same on both Apple targets (LP64, little-endian). `macos.rs` checks every size
//! and offset used here against the `libc` crate's declarations at compile time.
//!
//! * `proc_pidfdinfo(PROC_PIDFDVNODEPATHINFO)` → [`VnodeFd`]: the file (device, inode, links,
//!   path) and the open file description's flags. `FWASLOCKED` in `fi_openflags` says this
//!   description *acquired* a flock (a process blocked in `flock` has it clear); it stays set
//!   until the description is closed, which Cargo does when it releases a lock.
//!   `PROC_FP_SHARED` in `fi_status` says the description is shared (fork, dup).
//! * `proc_pidinfo(PROC_PIDTBSDINFO)` (same user only) or `PROC_PIDT_SHORTBSDINFO` (any
//!   user) → [`Bsd`]: parent, group, status, owner, start time.
//! * `proc_pidinfo(PROC_PIDTASKINFO)` → [`Task`]: CPU (in Mach absolute time units on Apple
//!   silicon, nanoseconds on Intel: converted with the timebase) and running threads.
//! * `sysctl(KERN_PROCARGS2)` → [`ProcArgs`]: argv and the environment.

use std::path::PathBuf;
use std::time::Duration;

use super::openers::Opener;
use super::{ProcInfo, ProcState, StartStamp};
use crate::sys::fs::FileId;

/// `FWASLOCKED` (alias `FHASLOCK`) in `fi_openflags`: the description has (had) a flock.
/// Kernel-only in the headers, so defined here (xnu `sys/fcntl.h`).
pub const FWASLOCKED: u32 = 0x4000;
/// `PROC_FP_SHARED` in `fi_status`: the description is shared by several descriptors.
pub const PROC_FP_SHARED: u32 = 1;
/// `PROC_FLAG_TRACED` in `pbi_flags`.
pub const PROC_FLAG_TRACED: u32 = 2;
/// `p_stat` values (`pbi_status`).
pub const SIDL: u32 = 1;
pub const SRUN: u32 = 2;
pub const SSLEEP: u32 = 3;
pub const SSTOP: u32 = 4;
pub const SZOMB: u32 = 5;
/// `PROC_PIDFDVNODEPATHINFO`: not in the `libc` crate.
pub const PROC_PIDFDVNODEPATHINFO: i32 = 2;

/// `struct vnode_fdinfowithpath`: `proc_fileinfo` (24 bytes), `vnode_info` (152), path (1024).
pub const VNODE_FDINFOWITHPATH_SIZE: usize = 1200;
/// `struct proc_bsdinfo`.
pub const PROC_BSDINFO_SIZE: usize = 136;
/// `struct proc_bsdshortinfo`.
pub const PROC_BSDSHORTINFO_SIZE: usize = 64;
/// `struct proc_taskinfo`.
pub const PROC_TASKINFO_SIZE: usize = 96;
/// `struct vnode_info_path` (the cwd is the first of two in `proc_vnodepathinfo`).
pub const VNODE_INFO_PATH_SIZE: usize = 1176;
/// `MAXPATHLEN`.
pub const MAXPATHLEN: usize = 1024;

/// Offsets in `vnode_fdinfowithpath`.
pub mod fdinfo {
    pub const FI_OPENFLAGS: usize = 0;
    pub const FI_STATUS: usize = 4;
    /// `pvip.vip_vi.vi_stat`: `vst_dev` (u32), `vst_mode` (u16), `vst_nlink` (u16), `vst_ino`.
    pub const VST_DEV: usize = 24;
    pub const VST_NLINK: usize = 30;
    pub const VST_INO: usize = 32;
    pub const VIP_PATH: usize = 24 + 152;
}

/// Offsets in `proc_bsdinfo`.
pub mod bsdinfo {
    pub const FLAGS: usize = 0;
    pub const STATUS: usize = 4;
    pub const PID: usize = 12;
    pub const PPID: usize = 16;
    pub const UID: usize = 20;
    pub const COMM: usize = 48;
    pub const NAME: usize = 64;
    pub const PGID: usize = 100;
    pub const START_TVSEC: usize = 120;
    pub const START_TVUSEC: usize = 128;
}

/// Offsets in `proc_bsdshortinfo`.
pub mod shortinfo {
    pub const PID: usize = 0;
    pub const PPID: usize = 4;
    pub const PGID: usize = 8;
    pub const STATUS: usize = 12;
    pub const COMM: usize = 16;
    pub const FLAGS: usize = 32;
    pub const UID: usize = 36;
}

/// Offsets in `proc_taskinfo`.
pub mod taskinfo {
    pub const TOTAL_USER: usize = 16;
    pub const TOTAL_SYSTEM: usize = 24;
    pub const NUMRUNNING: usize = 88;
}

fn bytes<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    bytes(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    bytes(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    bytes(b, at).map(u64::from_le_bytes)
}

/// A NUL-terminated string in a fixed field (lossy: names are shown, never used as paths).
fn cstr(b: &[u8], at: usize, len: usize) -> Option<String> {
    let field = b.get(at..at.checked_add(len)?)?;
    let end = field.iter().position(|c| *c == 0).unwrap_or(field.len());
    Some(String::from_utf8_lossy(&field[..end]).into_owned())
}

/// A NUL-terminated path in a fixed field, byte for byte.
fn cpath(b: &[u8], at: usize, len: usize) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let field = b.get(at..at.checked_add(len)?)?;
    let end = field.iter().position(|c| *c == 0).unwrap_or(field.len());
    (end > 0).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&field[..end])))
}

/// One vnode descriptor of a process, from `PROC_PIDFDVNODEPATHINFO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VnodeFd {
    /// `fi_openflags`.
    pub openflags: u32,
    /// `fi_status`.
    pub status: u32,
    /// `vst_dev` and `vst_ino`, as `stat` reports them.
    pub file: FileId,
    /// `vst_nlink`: 0 once the file was deleted while open.
    pub links: u16,
    /// `vip_path`; `None` when the kernel has no name for it.
    pub path: Option<PathBuf>,
}

impl VnodeFd {
    /// This description acquired a flock (and is still open).
    pub fn locked(&self) -> bool {
        self.openflags & FWASLOCKED != 0
    }

    /// Other descriptors, maybe of other processes, share this description.
    pub fn shared(&self) -> bool {
        self.status & PROC_FP_SHARED != 0
    }
}

/// Decodes a `vnode_fdinfowithpath` (`None` if it is short).
pub fn vnode_fd(b: &[u8]) -> Option<VnodeFd> {
    if b.len() < VNODE_FDINFOWITHPATH_SIZE {
        return None;
    }
    // `vst_dev` is a `dev_t` (i32) that std widens with its sign: do the same, so that the
    // identity equals the one `stat` gives for the same file.
    let dev = u32_at(b, fdinfo::VST_DEV)? as i32 as i64 as u64;
    Some(VnodeFd {
        openflags: u32_at(b, fdinfo::FI_OPENFLAGS)?,
        status: u32_at(b, fdinfo::FI_STATUS)?,
        file: FileId::from_raw(dev, u64_at(b, fdinfo::VST_INO)?),
        links: u16_at(b, fdinfo::VST_NLINK)?,
        path: cpath(b, fdinfo::VIP_PATH, MAXPATHLEN),
    })
}

/// The path of a `vnode_info_path` (a process's cwd from `PROC_PIDVNODEPATHINFO`).
pub fn vnode_path(b: &[u8]) -> Option<PathBuf> {
    cpath(b, 152, MAXPATHLEN)
}

/// A process's BSD facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bsd {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub status: u32,
    pub flags: u32,
    pub uid: u32,
    /// `pbi_name` (up to 32 bytes), else `pbi_comm` (16).
    pub name: String,
    /// `pbi_start_tvsec` and `pbi_start_tvusec`; `None` from the short form (another user's
    /// process).
    pub start: Option<(u64, u64)>,
}

/// Decodes a `proc_bsdinfo`.
pub fn bsd_info(b: &[u8]) -> Option<Bsd> {
    if b.len() < PROC_BSDINFO_SIZE {
        return None;
    }
    let name = cstr(b, bsdinfo::NAME, 32).filter(|n| !n.is_empty());
    Some(Bsd {
        pid: u32_at(b, bsdinfo::PID)?,
        ppid: u32_at(b, bsdinfo::PPID)?,
        pgid: u32_at(b, bsdinfo::PGID)?,
        status: u32_at(b, bsdinfo::STATUS)?,
        flags: u32_at(b, bsdinfo::FLAGS)?,
        uid: u32_at(b, bsdinfo::UID)?,
        name: match name {
            Some(n) => n,
            None => cstr(b, bsdinfo::COMM, 16)?,
        },
        start: Some((
            u64_at(b, bsdinfo::START_TVSEC)?,
            u64_at(b, bsdinfo::START_TVUSEC)?,
        )),
    })
}

/// Decodes a `proc_bsdshortinfo` (readable for every user's processes).
pub fn bsd_short_info(b: &[u8]) -> Option<Bsd> {
    if b.len() < PROC_BSDSHORTINFO_SIZE {
        return None;
    }
    Some(Bsd {
        pid: u32_at(b, shortinfo::PID)?,
        ppid: u32_at(b, shortinfo::PPID)?,
        pgid: u32_at(b, shortinfo::PGID)?,
        status: u32_at(b, shortinfo::STATUS)?,
        flags: u32_at(b, shortinfo::FLAGS)?,
        uid: u32_at(b, shortinfo::UID)?,
        name: cstr(b, shortinfo::COMM, 16)?,
        start: None,
    })
}

/// The start time as a [`StartStamp`]: microseconds since the epoch. With the pid it names
/// one process (a pid is not reused within a microsecond).
pub fn start_stamp(start: (u64, u64)) -> StartStamp {
    StartStamp::from_raw(start.0.saturating_mul(1_000_000).saturating_add(start.1))
}

/// How long a process that started at `start` has run at `now` (both since the epoch).
pub fn age(start: (u64, u64), now: Duration) -> Option<Duration> {
    let started = Duration::from_secs(start.0) + Duration::from_micros(start.1.min(999_999));
    now.checked_sub(started)
}

/// A process's task facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// `pti_total_user + pti_total_system`, in Mach absolute time units.
    pub cpu_ticks: u64,
    /// `pti_numrunning`: threads on a CPU or ready to run.
    pub running: u32,
}

/// Decodes a `proc_taskinfo`.
pub fn task_info(b: &[u8]) -> Option<Task> {
    if b.len() < PROC_TASKINFO_SIZE {
        return None;
    }
    Some(Task {
        cpu_ticks: u64_at(b, taskinfo::TOTAL_USER)?
            .saturating_add(u64_at(b, taskinfo::TOTAL_SYSTEM)?),
        running: u32_at(b, taskinfo::NUMRUNNING)?,
    })
}

/// Mach absolute time units as a duration, with the timebase (`numer/denom` nanoseconds per
/// unit: 1/1 on Intel, 125/3 on Apple silicon).
pub fn mach_time(ticks: u64, numer: u32, denom: u32) -> Duration {
    let nanos = u128::from(ticks) * u128::from(numer) / u128::from(denom.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A process's state from its BSD status and, when readable, its running threads. `SRUN`
/// only means "not stopped, not a zombie" (a process blocked in `flock` is `SRUN`), so it
/// says running only when a thread runs, and unknown without the task facts.
pub fn state(bsd: &Bsd, task: Option<&Task>) -> ProcState {
    match bsd.status {
        SSTOP if bsd.flags & PROC_FLAG_TRACED != 0 => ProcState::Traced,
        SSTOP => ProcState::Stopped,
        SZOMB => ProcState::Zombie,
        SRUN | SSLEEP => match task {
            Some(t) if t.running > 0 => ProcState::Running,
            Some(_) => ProcState::Sleeping,
            None if bsd.status == SSLEEP => ProcState::Sleeping,
            None => ProcState::Unknown,
        },
        SIDL => ProcState::Unknown,
        _ => ProcState::Unknown,
    }
}

/// Decodes the children's CPU time from a `rusage_info_v2` (`ri_child_user_time +
/// ri_child_system_time`, in Mach absolute time units): the CPU of reaped children, such as
/// the rustc runs a cargo has finished.
pub fn rusage_children(b: &[u8]) -> Option<u64> {
    if b.len() < RUSAGE_INFO_V2_SIZE {
        return None;
    }
    Some(u64_at(b, RI_CHILD_USER_TIME)?.saturating_add(u64_at(b, RI_CHILD_SYSTEM_TIME)?))
}

/// `struct rusage_info_v2`, and the offsets of its children's times.
pub const RUSAGE_INFO_V2_SIZE: usize = 160;
pub const RI_CHILD_USER_TIME: usize = 96;
pub const RI_CHILD_SYSTEM_TIME: usize = 104;

/// A process's arguments and environment, from `KERN_PROCARGS2`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcArgs {
    /// The executable's path as exec saw it.
    pub exec_path: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Decodes `KERN_PROCARGS2`: `argc` (i32), the exec path, NUL padding, `argc` strings, the
/// environment's strings, an empty string, then the "apple" strings (not read).
pub fn proc_args(b: &[u8]) -> Option<ProcArgs> {
    let argc = usize::try_from(i32::from_le_bytes(bytes(b, 0)?)).ok()?;
    let mut rest = b.get(4..)?;
    let next = |rest: &mut &[u8]| -> Option<String> {
        let end = rest.iter().position(|c| *c == 0)?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        *rest = &rest[end + 1..];
        Some(s)
    };
    let exec_path = next(&mut rest)?;
    // Padding to a word boundary (and more): skip every NUL.
    let pad = rest.iter().take_while(|c| **c == 0).count();
    rest = &rest[pad..];
    let mut argv = Vec::with_capacity(argc.min(4096));
    for _ in 0..argc {
        match next(&mut rest) {
            Some(a) => argv.push(a),
            None => break,
        }
    }
    let mut env = Vec::new();
    while let Some(kv) = next(&mut rest) {
        if kv.is_empty() {
            break;
        }
        if let Some((k, v)) = kv.split_once('=') {
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    Some(ProcArgs {
        exec_path,
        argv,
        env,
    })
}

/// The facts read for one process (each `None` when it could not be read: another user's
/// process gives only the short BSD facts).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub task: Option<Task>,
    /// Reaped children's CPU, in Mach absolute time units.
    pub children_ticks: Option<u64>,
    pub args: Option<ProcArgs>,
    pub cwd: Option<PathBuf>,
}

/// A [`ProcInfo`] from what macOS said about a process, at `now` (since the epoch), with the
/// Mach timebase `(numer, denom)`.
pub fn proc_info(bsd: &Bsd, facts: &Facts, now: Duration, timebase: (u32, u32)) -> ProcInfo {
    let ticks = facts
        .task
        .map_or(0, |t| t.cpu_ticks)
        .saturating_add(facts.children_ticks.unwrap_or(0));
    ProcInfo {
        pid: bsd.pid,
        ppid: bsd.ppid,
        pgid: bsd.pgid,
        name: super::printable(&bsd.name),
        cmdline: facts
            .args
            .as_ref()
            .map(|a| a.argv.iter().map(|s| super::printable(s)).collect())
            .unwrap_or_default(),
        cwd: facts.cwd.clone(),
        state: state(bsd, facts.task.as_ref()),
        cpu: mach_time(ticks, timebase.0, timebase.1),
        age: bsd.start.and_then(|s| age(s, now)),
        start: bsd.start.map(start_stamp).unwrap_or_default(),
        uid: Some(bsd.uid),
        parent_exited: false,
    }
}

/// The [`Opener`] a vnode descriptor of `pid` makes, if it is a lock file (`is_lock_file`
/// of the path the kernel gives).
pub fn opener(
    pid: u32,
    fd: &VnodeFd,
    is_lock_file: &dyn Fn(&std::path::Path) -> bool,
) -> Option<Opener> {
    let path = fd.path.clone()?;
    if !is_lock_file(&path) {
        return None;
    }
    Some(Opener {
        pid,
        path,
        file: fd.file,
        deleted: fd.links == 0,
        locked: fd.locked(),
        shared: fd.shared(),
    })
}

#[cfg(test)]
mod recorded;

#[cfg(test)]
mod tests {
    use super::*;

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    #[test]
    fn a_descriptor_that_acquired_a_lock() {
        let mut b = vec![0u8; VNODE_FDINFOWITHPATH_SIZE];
        put(&mut b, 0, &(FWASLOCKED | 0x2).to_le_bytes());
        put(&mut b, 4, &PROC_FP_SHARED.to_le_bytes());
        put(&mut b, 24, &0x0100_0010u32.to_le_bytes());
        put(&mut b, 30, &1u16.to_le_bytes());
        put(&mut b, 32, &12_345_678u64.to_le_bytes());
        put(&mut b, 176, b"/Users/dev/.cargo/.package-cache");
        let fd = vnode_fd(&b).unwrap();
        assert!(fd.locked() && fd.shared());
        assert_eq!(fd.file, FileId::from_raw(0x0100_0010, 12_345_678));
        assert_eq!(fd.links, 1);
        assert_eq!(
            fd.path.as_deref(),
            Some(std::path::Path::new("/Users/dev/.cargo/.package-cache"))
        );
        // A negative dev_t is widened with its sign, as std's `MetadataExt::dev` does.
        put(&mut b, 24, &(-5i32).to_le_bytes());
        assert_eq!(
            vnode_fd(&b).unwrap().file,
            FileId::from_raw(-5i64 as u64, 12_345_678)
        );
        assert!(vnode_fd(&b[..1199]).is_none(), "a short buffer is refused");
    }

    #[test]
    fn states() {
        let bsd = |status, flags| Bsd {
            pid: 1,
            ppid: 0,
            pgid: 1,
            status,
            flags,
            uid: 0,
            name: String::new(),
            start: None,
        };
        let idle = Task {
            cpu_ticks: 0,
            running: 0,
        };
        let busy = Task {
            cpu_ticks: 0,
            running: 2,
        };
        assert_eq!(state(&bsd(SSTOP, 0), None), ProcState::Stopped);
        assert_eq!(
            state(&bsd(SSTOP, PROC_FLAG_TRACED), None),
            ProcState::Traced
        );
        assert_eq!(state(&bsd(SZOMB, 0), None), ProcState::Zombie);
        assert_eq!(state(&bsd(SRUN, 0), Some(&idle)), ProcState::Sleeping);
        assert_eq!(state(&bsd(SRUN, 0), Some(&busy)), ProcState::Running);
        assert_eq!(
            state(&bsd(SRUN, 0), None),
            ProcState::Unknown,
            "SRUN alone does not say it runs"
        );
        assert_eq!(state(&bsd(SIDL, 0), None), ProcState::Unknown);
    }

    #[test]
    fn mach_time_on_both_kinds_of_mac() {
        assert_eq!(mach_time(1_500_000_000, 1, 1), Duration::from_millis(1500));
        // Apple silicon: 24 MHz ticks.
        assert_eq!(mach_time(24_000_000, 125, 3), Duration::from_secs(1));
        assert_eq!(mach_time(u64::MAX, 125, 3), Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn start_stamps_and_ages() {
        assert_eq!(
            start_stamp((1_764_000_000, 250_000)).to_string(),
            "1764000000250000"
        );
        assert_eq!(
            age((100, 500_000), Duration::from_secs(160)),
            Some(Duration::from_millis(59_500))
        );
        assert_eq!(age((200, 0), Duration::from_secs(100)), None);
    }

    #[test]
    fn procargs2_with_padding_environment_and_apple_strings() {
        let mut b = 3i32.to_le_bytes().to_vec();
        b.extend_from_slice(b"/opt/cargo\0\0\0\0\0\0cargo\0build\0--offline\0");
        b.extend_from_slice(b"HOME=/Users/dev\0CARGO_NET_OFFLINE=true\0\0");
        b.extend_from_slice(b"executable_path=/opt/cargo\0ptr_munge=\0");
        let a = proc_args(&b).unwrap();
        assert_eq!(a.exec_path, "/opt/cargo");
        assert_eq!(a.argv, ["cargo", "build", "--offline"]);
        assert_eq!(
            a.env,
            [
                ("HOME".to_string(), "/Users/dev".to_string()),
                ("CARGO_NET_OFFLINE".to_string(), "true".to_string())
            ]
        );
        // Truncated in the middle of argv: what was read, nothing invented.
        let a = proc_args(&b[..27]).unwrap();
        assert_eq!(a.argv, ["cargo"]);
        assert!(proc_args(&[1, 0]).is_none());
        assert!(proc_args(&(-1i32).to_le_bytes()).is_none());
    }
}
