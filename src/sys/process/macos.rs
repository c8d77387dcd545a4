//! macOS: libproc (`proc_listallpids`, `proc_pidinfo`, `proc_pidfdinfo`, `proc_pid_rusage`),
//! `sysctl(KERN_PROCARGS2)`, `fcntl(F_GETLK)` and signals (lock-holders-macos-windows.md §1).
//!
//! This file only fills buffers; what they mean is decoded in `darwin.rs`, and who holds and
//! who waits is decided in `openers.rs`, both pure and tested on recorded inputs.
//!
//! * Openers: every vnode descriptor of every process this user may inspect
//!   (`PROC_PIDLISTFDS`, then `PROC_PIDFDVNODEPATHINFO`: device, inode, path, and the open
//!   file description's `FWASLOCKED`, set once it acquired a flock). `proc_pidfdinfo` answers
//!   only for this user's processes (or root): a lock held by another user's process is seen
//!   held by the probe, with nobody in sight.
//! * State of each lock file: `fcntl(F_GETLK)` on our own read-only descriptor of it (opened
//!   without following symlinks, checked to be the same file), which reports a conflicting
//!   flock's type without taking any lock.
//! * Process facts: `PROC_PIDTBSDINFO` (another user's: `PROC_PIDT_SHORTBSDINFO`, without
//!   start time), `PROC_PIDTASKINFO` and `RUSAGE_INFO_V2` (CPU, reaped children's included),
//!   `KERN_PROCARGS2` (argv, environment), `PROC_PIDVNODEPATHINFO` (cwd).
//! * Control: no pidfd on macOS; every signal is sent only after checking that the pid still
//!   has the start time it was named with (microseconds since the epoch).
//!
//! Nothing here has run on a Mac: it is compile-checked and clippy-clean for both Apple
//! targets, and the layouts it relies on are checked against the `libc` crate below.

use std::collections::BTreeMap;
use std::io;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libc::c_int;

use super::darwin::{self, Facts};
use super::openers::{self, Held, Opener};
use super::{
    FileId, Pinned, ProcId, ProcInfo, ProcState, ProcessControl, ProcessTable, Rung, Snapshot,
};

pub struct Macos;

/// `struct proc_fileinfo` (xnu `sys/proc_info.h`; not in the `libc` crate).
#[repr(C)]
struct ProcFileinfo {
    fi_openflags: u32,
    fi_status: u32,
    fi_offset: i64,
    fi_type: i32,
    fi_guardflags: u32,
}

/// `struct vnode_fdinfowithpath` (not in the `libc` crate).
#[repr(C)]
struct VnodeFdinfowithpath {
    pfi: ProcFileinfo,
    pvip: libc::vnode_info_path,
}

// The layouts `darwin.rs` decodes, checked against the declarations of the `libc` crate (and
// xnu's, for the two structures it lacks) on every build for macOS.
const _: () = {
    use darwin::{bsdinfo, fdinfo, shortinfo, taskinfo};
    assert!(size_of::<VnodeFdinfowithpath>() == darwin::VNODE_FDINFOWITHPATH_SIZE);
    assert!(
        offset_of!(VnodeFdinfowithpath, pfi) + offset_of!(ProcFileinfo, fi_openflags)
            == fdinfo::FI_OPENFLAGS
    );
    assert!(
        offset_of!(VnodeFdinfowithpath, pfi) + offset_of!(ProcFileinfo, fi_status)
            == fdinfo::FI_STATUS
    );
    const VI: usize = offset_of!(VnodeFdinfowithpath, pvip)
        + offset_of!(libc::vnode_info_path, vip_vi)
        + offset_of!(libc::vnode_info, vi_stat);
    assert!(VI + offset_of!(libc::vinfo_stat, vst_dev) == fdinfo::VST_DEV);
    assert!(VI + offset_of!(libc::vinfo_stat, vst_nlink) == fdinfo::VST_NLINK);
    assert!(VI + offset_of!(libc::vinfo_stat, vst_ino) == fdinfo::VST_INO);
    assert!(
        offset_of!(VnodeFdinfowithpath, pvip) + offset_of!(libc::vnode_info_path, vip_path)
            == fdinfo::VIP_PATH
    );
    assert!(size_of::<libc::vnode_info_path>() == darwin::VNODE_INFO_PATH_SIZE);
    assert!(
        offset_of!(libc::vnode_info_path, vip_path) + darwin::MAXPATHLEN
            == darwin::VNODE_INFO_PATH_SIZE
    );
    assert!(offset_of!(libc::proc_vnodepathinfo, pvi_cdir) == 0);

    assert!(size_of::<libc::proc_bsdinfo>() == darwin::PROC_BSDINFO_SIZE);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_flags) == bsdinfo::FLAGS);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_status) == bsdinfo::STATUS);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_pid) == bsdinfo::PID);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_ppid) == bsdinfo::PPID);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_uid) == bsdinfo::UID);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_comm) == bsdinfo::COMM);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_name) == bsdinfo::NAME);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_pgid) == bsdinfo::PGID);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_start_tvsec) == bsdinfo::START_TVSEC);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_start_tvusec) == bsdinfo::START_TVUSEC);

    assert!(size_of::<libc::proc_bsdshortinfo>() == darwin::PROC_BSDSHORTINFO_SIZE);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_pid) == shortinfo::PID);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_ppid) == shortinfo::PPID);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_pgid) == shortinfo::PGID);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_status) == shortinfo::STATUS);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_comm) == shortinfo::COMM);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_flags) == shortinfo::FLAGS);
    assert!(offset_of!(libc::proc_bsdshortinfo, pbsi_uid) == shortinfo::UID);

    assert!(size_of::<libc::proc_taskinfo>() == darwin::PROC_TASKINFO_SIZE);
    assert!(offset_of!(libc::proc_taskinfo, pti_total_user) == taskinfo::TOTAL_USER);
    assert!(offset_of!(libc::proc_taskinfo, pti_total_system) == taskinfo::TOTAL_SYSTEM);
    assert!(offset_of!(libc::proc_taskinfo, pti_numrunning) == taskinfo::NUMRUNNING);

    assert!(size_of::<libc::rusage_info_v2>() == darwin::RUSAGE_INFO_V2_SIZE);
    assert!(offset_of!(libc::rusage_info_v2, ri_child_user_time) == darwin::RI_CHILD_USER_TIME);
    assert!(offset_of!(libc::rusage_info_v2, ri_child_system_time) == darwin::RI_CHILD_SYSTEM_TIME);

    assert!(libc::SSTOP == darwin::SSTOP);
};

/// `struct mach_timebase_info` (the `libc` crate's is deprecated in favour of `mach2`).
#[repr(C)]
#[derive(Default)]
struct MachTimebaseInfo {
    numer: u32,
    denom: u32,
}

unsafe extern "C" {
    /// `<mach/mach_time.h>`, in libSystem.
    fn mach_timebase_info(info: *mut MachTimebaseInfo) -> libc::c_int;
}

/// Nanoseconds per Mach absolute time unit, as `(numer, denom)`.
fn timebase() -> (u32, u32) {
    static TB: OnceLock<(u32, u32)> = OnceLock::new();
    *TB.get_or_init(|| {
        let mut tb = MachTimebaseInfo::default();
        // SAFETY: `tb` is a valid, writable `mach_timebase_info`; the call fills it.
        let rc = unsafe { mach_timebase_info(&mut tb) };
        if rc == 0 && tb.denom != 0 {
            (tb.numer, tb.denom)
        } else {
            (1, 1)
        }
    })
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// `proc_pidinfo(pid, flavor, 0)` into a buffer of `size` bytes; `None` unless it filled it.
fn pidinfo(pid: u32, flavor: c_int, size: usize) -> Option<Vec<u8>> {
    let pid = c_int::try_from(pid).ok()?;
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` is valid for writes of `size` bytes, the size we pass; the kernel writes
    // at most that many.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            flavor,
            0,
            buf.as_mut_ptr().cast(),
            c_int::try_from(size).ok()?,
        )
    };
    (usize::try_from(n).ok()? >= size).then_some(buf)
}

/// The BSD facts: the full form for this user's processes, the short one for others'.
fn bsd(pid: u32) -> Option<darwin::Bsd> {
    match pidinfo(pid, libc::PROC_PIDTBSDINFO, darwin::PROC_BSDINFO_SIZE) {
        Some(b) => darwin::bsd_info(&b),
        None => darwin::bsd_short_info(&pidinfo(
            pid,
            libc::PROC_PIDT_SHORTBSDINFO,
            darwin::PROC_BSDSHORTINFO_SIZE,
        )?),
    }
}

fn task(pid: u32) -> Option<darwin::Task> {
    darwin::task_info(&pidinfo(
        pid,
        libc::PROC_PIDTASKINFO,
        darwin::PROC_TASKINFO_SIZE,
    )?)
}

/// The CPU time of the reaped children, in Mach units.
fn children_ticks(pid: u32) -> Option<u64> {
    let pid = c_int::try_from(pid).ok()?;
    let mut buf = vec![0u8; darwin::RUSAGE_INFO_V2_SIZE];
    // SAFETY: `buf` holds a whole `rusage_info_v2`, which is what the kernel writes for
    // RUSAGE_INFO_V2 (the parameter is typed as a pointer to `rusage_info_t`, but is the
    // buffer itself).
    let rc = unsafe { libc::proc_pid_rusage(pid, libc::RUSAGE_INFO_V2, buf.as_mut_ptr().cast()) };
    if rc != 0 {
        return None;
    }
    darwin::rusage_children(&buf)
}

fn cwd(pid: u32) -> Option<std::path::PathBuf> {
    let b = pidinfo(
        pid,
        libc::PROC_PIDVNODEPATHINFO,
        size_of::<libc::proc_vnodepathinfo>(),
    )?;
    darwin::vnode_path(&b)
}

/// `sysctl(KERN_ARGMAX)`: the largest `KERN_PROCARGS2` answer.
fn argmax() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
        let mut max: c_int = 0;
        let mut len = size_of::<c_int>();
        // SAFETY: `mib` names 2 levels; `max` is a writable c_int and `len` says so; no new
        // value is set (null, 0).
        let rc = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                2,
                (&raw mut max).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        match usize::try_from(max) {
            Ok(m) if rc == 0 && m > 0 => m.min(16 << 20),
            _ => 1 << 20,
        }
    })
}

/// `sysctl(KERN_PROCARGS2)` for `pid` (this user's processes only), decoded; `buf` is reused.
fn proc_args(pid: u32, buf: &mut Vec<u8>) -> Option<darwin::ProcArgs> {
    let mut mib = [
        libc::CTL_KERN,
        libc::KERN_PROCARGS2,
        c_int::try_from(pid).ok()?,
    ];
    buf.resize(argmax(), 0);
    let mut len = buf.len();
    // SAFETY: `mib` names 3 levels; `buf` is writable for `len` bytes and `len` says so; the
    // kernel sets `len` to what it wrote. No new value is set (null, 0).
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    darwin::proc_args(&buf[..len.min(buf.len())])
}

/// Every pid, from `proc_listallpids`.
fn all_pids() -> io::Result<Vec<u32>> {
    // SAFETY: a null buffer of size 0 only asks how many there are.
    let n = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // Room for processes started meanwhile.
    let cap = n + 64;
    let mut pids: Vec<c_int> = vec![0; cap];
    let bytes = c_int::try_from(cap * size_of::<c_int>()).map_err(io::Error::other)?;
    // SAFETY: `pids` is valid for writes of `bytes` bytes, the size we pass; the kernel
    // writes at most that many and returns how many pids it wrote.
    let n = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    pids.truncate(n.min(cap));
    Ok(pids
        .into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .filter(|p| *p != 0)
        .collect())
}

/// The vnode descriptors of `pid` (`None`: another user's process, or gone).
fn vnode_fds(pid: u32) -> Option<Vec<c_int>> {
    let cpid = c_int::try_from(pid).ok()?;
    let entry = size_of::<libc::proc_fdinfo>();
    // SAFETY: a null buffer of size 0 only asks how many bytes the list takes.
    let need =
        unsafe { libc::proc_pidinfo(cpid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    let need = usize::try_from(need).ok().filter(|n| *n > 0)?;
    let cap = need / entry + 16;
    let mut list = vec![
        libc::proc_fdinfo {
            proc_fd: 0,
            proc_fdtype: 0
        };
        cap
    ];
    // SAFETY: `list` is valid for writes of `cap` entries, the size in bytes we pass; the
    // kernel writes at most that many and returns the bytes it wrote.
    let n = unsafe {
        libc::proc_pidinfo(
            cpid,
            libc::PROC_PIDLISTFDS,
            0,
            list.as_mut_ptr().cast(),
            c_int::try_from(cap * entry).ok()?,
        )
    };
    let n = usize::try_from(n).ok()?;
    list.truncate((n / entry).min(cap));
    Some(
        list.into_iter()
            .filter(|f| f.proc_fdtype == libc::PROX_FDTYPE_VNODE as u32)
            .map(|f| f.proc_fd)
            .collect(),
    )
}

/// `proc_pidfdinfo(pid, fd, PROC_PIDFDVNODEPATHINFO)`, decoded.
fn vnode_fd(pid: u32, fd: c_int) -> Option<darwin::VnodeFd> {
    let pid = c_int::try_from(pid).ok()?;
    let size = darwin::VNODE_FDINFOWITHPATH_SIZE;
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` is valid for writes of `size` bytes, the size we pass; the kernel writes
    // at most that many.
    let n = unsafe {
        libc::proc_pidfdinfo(
            pid,
            fd,
            darwin::PROC_PIDFDVNODEPATHINFO,
            buf.as_mut_ptr().cast(),
            c_int::try_from(size).ok()?,
        )
    };
    if usize::try_from(n).ok()? < size {
        return None;
    }
    darwin::vnode_fd(&buf)
}

/// Whether the lock file `file` (reached at `path`) is held, and how: `F_GETLK` asking for an
/// exclusive lock reports any conflicting flock's type (its `l_pid` is -1: it does not say
/// whose). Done by hand: rustix's wrapper would turn that -1 into a pid.
fn probe(path: &Path, file: FileId) -> Held {
    use std::os::fd::AsRawFd;
    let Ok(f) = crate::sys::probe::open_lock_file(path) else {
        return Held::Unknown;
    };
    // The path may name another file now (the lock file was deleted or replaced).
    if crate::sys::fs::file_stat(&f).map(|st| st.id).ok() != Some(file) {
        return Held::Unknown;
    }
    let mut fl = libc::flock {
        l_start: 0,
        l_len: 0,
        l_pid: 0,
        l_type: libc::F_WRLCK,
        l_whence: libc::SEEK_SET as libc::c_short,
    };
    // SAFETY: `f` is an open descriptor for the duration of the call, and `fl` a valid,
    // writable `struct flock` that F_GETLK reads and overwrites.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &raw mut fl) };
    if rc == -1 {
        return Held::Unknown;
    }
    match fl.l_type {
        libc::F_UNLCK => Held::Free,
        libc::F_RDLCK => Held::Shared,
        libc::F_WRLCK => Held::Exclusive,
        _ => Held::Unknown,
    }
}

fn facts(pid: u32, args: &mut Vec<u8>) -> Facts {
    Facts {
        task: task(pid),
        children_ticks: children_ticks(pid),
        args: proc_args(pid, args),
        cwd: cwd(pid),
    }
}

fn read_proc(pid: u32, args: &mut Vec<u8>) -> Option<ProcInfo> {
    let b = bsd(pid)?;
    Some(darwin::proc_info(&b, &facts(pid, args), now(), timebase()))
}

impl ProcessTable for Macos {
    fn snapshot(&self, is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot> {
        let mut procs = BTreeMap::new();
        let mut found: Vec<Opener> = Vec::new();
        let mut args = Vec::new();
        for pid in all_pids()? {
            let Some(info) = read_proc(pid, &mut args) else {
                continue; // gone
            };
            procs.insert(pid, info);
            // Another user's process: its descriptors cannot be inspected.
            for fd in vnode_fds(pid).unwrap_or_default() {
                if let Some(o) =
                    vnode_fd(pid, fd).and_then(|v| darwin::opener(pid, &v, is_lock_file))
                {
                    found.push(o);
                }
            }
        }
        let mut held = std::collections::HashMap::new();
        for o in &found {
            held.entry(o.file).or_insert_with(|| probe(&o.path, o.file));
        }
        let uses = openers::attribute(&found, &held, &procs);
        Ok(Snapshot { procs, uses })
    }

    fn cpu(&self, pids: &[u32]) -> BTreeMap<u32, Duration> {
        let (numer, denom) = timebase();
        pids.iter()
            .filter_map(|&pid| {
                let ticks = task(pid)?
                    .cpu_ticks
                    .saturating_add(children_ticks(pid).unwrap_or(0));
                Some((pid, darwin::mach_time(ticks, numer, denom)))
            })
            .collect()
    }

    fn environ(&self, pid: u32) -> Option<Vec<(String, String)>> {
        Some(proc_args(pid, &mut Vec::new())?.env)
    }

    /// macOS has no interface for another process's ignored signals short of `kinfo_proc`,
    /// which the `libc` crate lacks: unknown, so false.
    fn ignores(&self, _: u32, _: Rung) -> bool {
        false
    }
}

/// Whether `id` still is the process the pid names (same start time), and its state.
fn current(id: ProcId) -> Option<ProcState> {
    let b = bsd(id.pid)?;
    (b.start.map(darwin::start_stamp) == Some(id.start))
        .then(|| darwin::state(&b, task(id.pid).as_ref()))
}

impl ProcessControl for Macos {
    fn rungs(&self) -> &'static [Rung] {
        &[Rung::Interrupt, Rung::Terminate, Rung::Continue, Rung::Kill]
    }

    fn pin(&self, id: ProcId) -> Option<Pinned> {
        current(id)?;
        Some(Pinned { id })
    }

    fn state(&self, p: &Pinned) -> Option<ProcState> {
        match current(p.id)? {
            ProcState::Zombie => None,
            s => Some(s),
        }
    }

    fn send(&self, p: &Pinned, rung: Rung) -> bool {
        // No pidfd: the start time is checked right before the signal.
        current(p.id).is_some() && super::unix::kill(p.id.pid, rung)
    }

    fn send_group(&self, leader: &Pinned, rung: Rung) -> bool {
        self.state(leader).is_some()
            && super::unix::current_pgid() != leader.id.pid
            && super::unix::kill_group(leader.id.pid, rung)
    }
}
