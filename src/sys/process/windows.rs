//! Windows: the openers of Cargo's lock files from the system handle table, a probe of each on
//! a handle of our own, process facts from Toolhelp and process handles, and
//! `TerminateProcess` through a handle checked against the start time
//! (lock-holders-macos-windows.md §2; cross-platform.md §4).
//!
//! # Openers
//!
//! `NtQuerySystemInformation(SystemExtendedHandleInformation)` lists every handle of every
//! process. For each process we may open with `PROCESS_DUP_HANDLE`, each of its file handles
//! is duplicated into this process, and:
//!
//! 1. `GetFileType` must say `FILE_TYPE_DISK` before anything else is asked: a name query on a
//!    pipe can block for as long as someone reads it;
//! 2. then, on a worker thread we stop waiting for after [`QUERY_LIMIT`] (a file opened for
//!    synchronous I/O answers nothing while one of its owner's threads is blocked in it, and a
//!    waiter blocked in `LockFileEx` is exactly that), its final path
//!    (`GetFinalPathNameByHandleW`, `\\?\` taken off), its identity (volume serial number and
//!    file index, `GetFileInformationByHandle`) and whether it is marked for deletion. A
//!    handle that did not answer is not asked again by this process.
//!
//! Files are told apart by identity, never by the path's spelling. The Restart Manager, the
//! documented API for "who has this file open", answers nothing under Wine (its calls are
//! stubs), so it is not used: the handle table works under both, and can be tested.
//!
//! # Holder or waiter
//!
//! No Windows API says which handle owns a byte-range lock. A non-blocking `LockFileEx`
//! (std's `try_lock_shared`, then `try_lock`) on a handle of our own to the same file (from
//! `ReOpenFile`, so no path is resolved again; else the path, opened without following a
//! reparse point and checked to be the same file) says whether it is held and how; each try
//! is released by closing the handle. [`super::attribute`] then names the probable holder
//! and the waiters.
//!
//! What this does not see: processes of other users and elevated ones (no `PROCESS_DUP_HANDLE`
//! without `SeDebugPrivilege`; their locks show only as "held by a process we cannot see"),
//! and, on real Windows, a waiter whose synchronous `LockFileEx` keeps its handle from
//! answering (it is left out; the holder is still named). A lock file deleted with POSIX
//! semantics (`DeleteFile`'s default on NTFS since Windows 10 1809) no longer has a lock
//! file's name (`\$Extend\$Deleted\…`), so its openers are not found either.
//!
//! # Processes
//!
//! Toolhelp gives pid, parent and executable name; `QueryFullProcessImageNameW` the image,
//! `NtQueryInformationProcess(ProcessCommandLineInformation)` the command line,
//! `GetProcessTimes` the creation time (the [`StartStamp`]: 100 ns units since 1601) and the
//! CPU time. A parent created after its child is a reused pid: the child is then parentless.
//! Windows has no process groups, no stopped state we read, and no working directory we
//! read of another process: `pgid` 0, state unknown, `cwd` none.
//!
//! # Stopping
//!
//! The only rung is [`Rung::Kill`] (`TerminateProcess`), so `stop` needs `--force`
//! ([`crate::plan::stop`]). The process is opened (`PROCESS_TERMINATE`) and its creation time
//! compared with the start stamp the caller named; the handle then keeps that process object,
//! so a later pid reuse cannot redirect it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsString, c_void};
use std::fs::{File, TryLockError};
use std::io;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use windows_sys::Wdk::System::SystemInformation::NtQuerySystemInformation;
use windows_sys::Wdk::System::Threading::{
    NtQueryInformationProcess, ProcessCommandLineInformation,
};
use windows_sys::Win32::Foundation::{
    DUPLICATE_SAME_ACCESS, DuplicateHandle, FALSE, FILETIME, GENERIC_READ, HANDLE,
    INVALID_HANDLE_VALUE, STATUS_INFO_LENGTH_MISMATCH, UNICODE_STRING, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_NAME_NORMALIZED, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_STANDARD_INFO, FILE_TYPE_DISK, FileStandardInfo,
    GetFileInformationByHandle, GetFileInformationByHandleEx, GetFileType,
    GetFinalPathNameByHandleW, ReOpenFile, VOLUME_NAME_DOS,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::SystemInformation::GetSystemTimeAsFileTime;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetProcessTimes, OpenProcess, PROCESS_DUP_HANDLE, PROCESS_NAME_WIN32,
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
    QueryFullProcessImageNameW, TerminateProcess, WaitForSingleObject,
};

use super::attribute::{self, Held, Opened};
use super::{
    FileId, LockUse, Mode, Pinned, ProcId, ProcInfo, ProcState, ProcessControl, ProcessTable, Rung,
    Snapshot, StartStamp, restart_manager,
};

pub struct Windows;

/// How long one handle's questions may take before it is given up on.
const QUERY_LIMIT: Duration = Duration::from_millis(500);

/// Worker threads left blocked on a handle, at most; past it, no more handles are asked.
const MAX_STUCK: usize = 8;

/// `SystemExtendedHandleInformation`: every handle, with 64-bit pids and handle values.
const SYSTEM_EXTENDED_HANDLE_INFORMATION: i32 = 64;

/// One row of `SYSTEM_HANDLE_INFORMATION_EX` (`SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct HandleEntry {
    object: usize,
    pid: usize,
    handle: usize,
    access: u32,
    back_trace: u16,
    type_index: u16,
    attributes: u32,
    reserved: u32,
}

/// `SYSTEM_HANDLE_INFORMATION_EX`'s header; the rows follow it.
#[repr(C)]
struct HandleTableHeader {
    count: usize,
    reserved: usize,
}

/// Handles that did not answer in time, by (pid, handle value): never asked again.
static STUCK: Mutex<BTreeSet<(u32, usize)>> = Mutex::new(BTreeSet::new());

fn owned(h: HANDLE) -> Option<OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return None;
    }
    // SAFETY: a handle just returned to us by a call that creates one, which nothing else
    // owns; it is closed once, when the OwnedHandle drops.
    Some(unsafe { OwnedHandle::from_raw_handle(h as RawHandle) })
}

fn raw(h: &impl AsRawHandle) -> HANDLE {
    h.as_raw_handle() as HANDLE
}

fn filetime(t: FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
}

fn hundred_ns(t: u64) -> Duration {
    Duration::from_nanos(t.saturating_mul(100))
}

fn wide(buf: &[u16]) -> OsString {
    let end = buf.iter().position(|c| *c == 0).unwrap_or(buf.len());
    OsString::from_wide(&buf[..end])
}

/// Opens process `pid` with `access`.
fn open_process(pid: u32, access: u32) -> Option<OwnedHandle> {
    // SAFETY: no pointers; the result is checked and owned.
    owned(unsafe { OpenProcess(access, FALSE, pid) })
}

/// Creation time (100 ns units since 1601) and user + kernel CPU time.
fn times(process: &OwnedHandle) -> Option<(u64, Duration)> {
    let mut created = FILETIME::default();
    let mut exited = FILETIME::default();
    let mut kernel = FILETIME::default();
    let mut user = FILETIME::default();
    // SAFETY: a live process handle of ours and four writable FILETIMEs.
    let ok = unsafe {
        GetProcessTimes(
            raw(process),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    (ok != 0).then(|| {
        (
            filetime(created),
            hundred_ns(filetime(kernel).saturating_add(filetime(user))),
        )
    })
}

/// The executable's full path.
fn image(process: &OwnedHandle) -> Option<PathBuf> {
    let mut buf = vec![0u16; 32 * 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` u16s; the call writes at most that many and updates `len`.
    let ok = unsafe {
        QueryFullProcessImageNameW(raw(process), PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len)
    };
    (ok != 0).then(|| PathBuf::from(OsString::from_wide(&buf[..len as usize])))
}

/// The command line, as the process was given it.
fn command_line(process: &OwnedHandle) -> Option<String> {
    // A UNICODE_STRING followed by its text; u64s keep it aligned.
    let mut buf = vec![0u64; 512];
    for _ in 0..4 {
        let bytes = (buf.len() * 8) as u32;
        let mut needed = 0u32;
        // SAFETY: `buf` is writable for `bytes` bytes and aligned for UNICODE_STRING.
        let status = unsafe {
            NtQueryInformationProcess(
                raw(process),
                ProcessCommandLineInformation,
                buf.as_mut_ptr().cast::<c_void>(),
                bytes,
                &mut needed,
            )
        };
        if status == STATUS_INFO_LENGTH_MISMATCH && needed > bytes && needed < (1 << 20) {
            buf = vec![0u64; (needed as usize).div_ceil(8)];
            continue;
        }
        if status < 0 {
            return None;
        }
        // SAFETY: on success the buffer starts with a UNICODE_STRING.
        let s: UNICODE_STRING = unsafe { std::ptr::read(buf.as_ptr().cast::<UNICODE_STRING>()) };
        let start = buf.as_ptr() as usize;
        let text = s.Buffer as usize;
        let len = usize::from(s.Length);
        // Its text must lie inside our buffer.
        if s.Buffer.is_null() || text < start || text + len > start + buf.len() * 8 || len % 2 != 0
        {
            return None;
        }
        // SAFETY: checked just above: `len` bytes at `text` are inside `buf`, u16-aligned.
        let units = unsafe { std::slice::from_raw_parts(s.Buffer, len / 2) };
        return Some(String::from_utf16_lossy(units));
    }
    None
}

/// Every process: Toolhelp's (pid, parent, executable name).
fn toolhelp() -> io::Result<Vec<(u32, u32, String)>> {
    // SAFETY: no pointers; the result is checked and owned.
    let snap = owned(unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) })
        .ok_or_else(io::Error::last_os_error)?;
    let mut out = Vec::new();
    let mut e = PROCESSENTRY32W {
        dwSize: size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    // SAFETY: a live snapshot handle and a PROCESSENTRY32W with its dwSize set.
    let mut ok = unsafe { Process32FirstW(raw(&snap), &mut e) };
    while ok != 0 {
        out.push((
            e.th32ProcessID,
            e.th32ParentProcessID,
            wide(&e.szExeFile).to_string_lossy().into_owned(),
        ));
        // SAFETY: as above.
        ok = unsafe { Process32NextW(raw(&snap), &mut e) };
    }
    Ok(out)
}

fn now_filetime() -> u64 {
    let mut t = FILETIME::default();
    // SAFETY: a writable FILETIME.
    unsafe { GetSystemTimeAsFileTime(&mut t) };
    filetime(t)
}

/// Every process we can see, with the facts we can read of each.
fn processes() -> io::Result<BTreeMap<u32, ProcInfo>> {
    let now = now_filetime();
    let mut procs = BTreeMap::new();
    for (pid, ppid, exe) in toolhelp()? {
        let process = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION);
        let t = process.as_ref().and_then(times);
        let cmdline = process
            .as_ref()
            .and_then(command_line)
            .map(|l| attribute::split_command_line(&l))
            .filter(|a| !a.is_empty())
            .or_else(|| {
                let image = process.as_ref().and_then(image)?;
                Some(vec![image.to_string_lossy().into_owned()])
            })
            .unwrap_or_default();
        procs.insert(
            pid,
            ProcInfo {
                pid,
                ppid,
                pgid: 0,
                name: super::printable(&exe),
                cmdline: cmdline.iter().map(|a| super::printable(a)).collect(),
                cwd: None,
                state: ProcState::Unknown,
                cpu: t.map_or(Duration::ZERO, |t| t.1),
                age: t.map(|(created, _)| hundred_ns(now.saturating_sub(created))),
                start: StartStamp::from_raw(t.map_or(0, |t| t.0)),
                uid: None,
                parent_exited: false,
            },
        );
    }
    // A parent created after its child is another process that got the pid of the real,
    // exited parent. Windows adopts no orphans: a process whose parent is gone (or reused)
    // is parentless, and orphaned.
    let starts: BTreeMap<u32, StartStamp> = procs.iter().map(|(p, i)| (*p, i.start)).collect();
    for p in procs.values_mut() {
        let unknown = StartStamp::default();
        let reused = p.ppid == p.pid
            || starts
                .get(&p.ppid)
                .is_none_or(|parent| *parent != unknown && p.start != unknown && *parent > p.start);
        if reused && p.ppid != 0 {
            p.ppid = 0;
            p.parent_exited = true;
        }
    }
    Ok(procs)
}

/// The system handle table.
fn handle_table() -> io::Result<Vec<HandleEntry>> {
    let mut buf = vec![0u64; 1 << 17];
    loop {
        let bytes = (buf.len() * 8) as u32;
        let mut needed = 0u32;
        // SAFETY: `buf` is writable for `bytes` bytes and 8-aligned.
        let status = unsafe {
            NtQuerySystemInformation(
                SYSTEM_EXTENDED_HANDLE_INFORMATION,
                buf.as_mut_ptr().cast::<c_void>(),
                bytes,
                &mut needed,
            )
        };
        if status == STATUS_INFO_LENGTH_MISMATCH {
            let more = (needed as usize).max(buf.len() * 8 * 2).div_ceil(8) + 4096;
            if more * 8 > 1 << 30 {
                return Err(io::Error::other("the system handle table is over 1 GiB"));
            }
            buf = vec![0u64; more];
            continue;
        }
        if status < 0 {
            return Err(io::Error::other(format!(
                "NtQuerySystemInformation(SystemExtendedHandleInformation) failed: {:#x}",
                status as u32
            )));
        }
        let header = size_of::<HandleTableHeader>();
        // SAFETY: the buffer is at least a header long and starts with one.
        let count = unsafe { std::ptr::read(buf.as_ptr().cast::<HandleTableHeader>()) }.count;
        let fits = (buf.len() * 8 - header) / size_of::<HandleEntry>();
        let count = count.min(fits);
        // SAFETY: `count` rows fit after the header (checked above); the buffer is 8-aligned
        // and so is the header's size, as HandleEntry requires.
        let rows = unsafe {
            std::slice::from_raw_parts(
                buf.as_ptr().cast::<u8>().add(header).cast::<HandleEntry>(),
                count,
            )
        };
        return Ok(rows.to_vec());
    }
}

/// Duplicates `handle` of `process` into this process.
fn duplicate(process: &OwnedHandle, handle: usize) -> Option<OwnedHandle> {
    let mut dup: HANDLE = std::ptr::null_mut();
    // SAFETY: a live process handle with PROCESS_DUP_HANDLE; `handle` is only a value in
    // that process's table (a stale one fails); `dup` is writable.
    let ok = unsafe {
        DuplicateHandle(
            raw(process),
            handle as HANDLE,
            GetCurrentProcess(),
            &mut dup,
            0,
            FALSE,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return None;
    }
    owned(dup)
}

/// Whether `h` is a file on a disk (not a pipe, console, socket or device).
fn is_disk_file(h: &OwnedHandle) -> bool {
    // SAFETY: a live handle of ours; GetFileType does not wait on the file.
    unsafe { GetFileType(raw(h)) == FILE_TYPE_DISK }
}

/// A file's identity from an open handle to it: its volume's serial number and its index.
pub(crate) fn file_id(file: &impl AsRawHandle) -> io::Result<FileId> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: a live file handle and a writable BY_HANDLE_FILE_INFORMATION.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FileId::from_raw(
        u64::from(info.dwVolumeSerialNumber),
        (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
    ))
}

/// Whether the file is marked for deletion.
fn delete_pending(h: &OwnedHandle) -> bool {
    let mut info = FILE_STANDARD_INFO::default();
    // SAFETY: a live file handle and a writable FILE_STANDARD_INFO of the size given.
    let ok = unsafe {
        GetFileInformationByHandleEx(
            raw(h),
            FileStandardInfo,
            (&mut info as *mut FILE_STANDARD_INFO).cast::<c_void>(),
            size_of::<FILE_STANDARD_INFO>() as u32,
        )
    };
    ok != 0 && info.DeletePending
}

/// A path as `GetFinalPathNameByHandleW` gives it, in the form users type: `\\?\C:\x` is
/// `C:\x`, `\\?\UNC\server\share` is `\\server\share`.
fn normalise(path: OsString) -> PathBuf {
    let s = path.to_string_lossy();
    if let Some(rest) = s.strip_prefix(r"\\?\UNC\") {
        PathBuf::from(format!(r"\\{rest}"))
    } else if let Some(rest) = s.strip_prefix(r"\\?\") {
        PathBuf::from(rest)
    } else {
        PathBuf::from(path)
    }
}

/// The final path of an open file.
fn final_path(h: &OwnedHandle) -> Option<PathBuf> {
    let mut buf = vec![0u16; 1024];
    for _ in 0..3 {
        // SAFETY: `buf` holds `buf.len()` u16s; the call writes at most that many.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                raw(h),
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        } as usize;
        if n == 0 {
            return None;
        }
        if n < buf.len() {
            return Some(normalise(OsString::from_wide(&buf[..n])));
        }
        // Too small: `n` is the size needed, with the NUL.
        buf = vec![0u16; n + 1];
    }
    None
}

/// An open file, identified.
#[derive(Debug)]
struct Identified {
    path: PathBuf,
    file: FileId,
    deleted: bool,
}

fn identify(h: &OwnedHandle) -> Option<Identified> {
    Some(Identified {
        path: final_path(h)?,
        file: file_id(h).ok()?,
        deleted: delete_pending(h),
    })
}

/// A handle of our own to the file `h` is open on.
fn reopen(h: &OwnedHandle, path: &Path, file: FileId) -> Option<File> {
    // SAFETY: a live file handle of ours; the result is checked and owned.
    let ours = owned(unsafe {
        ReOpenFile(
            raw(h),
            GENERIC_READ,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            0,
        )
    });
    if let Some(ours) = ours {
        return Some(File::from(ours));
    }
    // No ReOpenFile: the path, never through a reparse point, and only if it still is the
    // same file.
    let f = crate::sys::probe::open_lock_file(path).ok()?;
    (file_id(&f).ok()? == file).then_some(f)
}

/// Held or free, and how: a shared try (fails only against an exclusive holder), then an
/// exclusive one; each on a fresh handle of ours, released by closing it.
fn probe(h: &OwnedHandle, path: &Path, file: FileId) -> Held {
    let Some(f) = reopen(h, path, file) else {
        return Held::Unknown;
    };
    match f.try_lock_shared() {
        Err(TryLockError::WouldBlock) => return Held::Exclusive,
        Err(TryLockError::Error(_)) => return Held::Unknown,
        Ok(()) => drop(f),
    }
    let Some(f) = reopen(h, path, file) else {
        return Held::Unknown;
    };
    match f.try_lock() {
        Err(TryLockError::WouldBlock) => Held::Shared,
        Err(TryLockError::Error(_)) => Held::Unknown,
        Ok(()) => Held::Free,
    }
}

/// What the worker thread is asked.
enum Job {
    Identify(OwnedHandle),
    Probe(OwnedHandle, PathBuf, FileId),
}

enum Answer {
    Identified(OwnedHandle, Option<Identified>),
    Probed(Held),
}

/// A worker thread for questions that may block, given up on after [`QUERY_LIMIT`].
struct Worker {
    jobs: Sender<Job>,
    answers: Receiver<Answer>,
    stuck: usize,
}

impl Worker {
    fn start(stuck: usize) -> Worker {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (answer_tx, answers) = mpsc::channel::<Answer>();
        std::thread::spawn(move || {
            for job in job_rx {
                let answer = match job {
                    Job::Identify(h) => {
                        let id = identify(&h);
                        Answer::Identified(h, id)
                    }
                    Job::Probe(h, path, file) => Answer::Probed(probe(&h, &path, file)),
                };
                if answer_tx.send(answer).is_err() {
                    return;
                }
            }
        });
        Worker {
            jobs,
            answers,
            stuck,
        }
    }

    /// The answer, or `None` when it did not come in time (the thread is then left to its
    /// wait, and a new one takes the next question).
    fn ask(&mut self, job: Job) -> Option<Answer> {
        if self.stuck >= MAX_STUCK || self.jobs.send(job).is_err() {
            return None;
        }
        match self.answers.recv_timeout(QUERY_LIMIT) {
            Ok(a) => Some(a),
            Err(_) => {
                *self = Worker::start(self.stuck + 1);
                None
            }
        }
    }
}

/// The lock files open in other processes, each with its openers and a probe.
fn openers(is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Vec<Opened>> {
    let me = std::process::id();
    let table = handle_table()?;
    // The object type of files: that of a file handle of ours, when the table shows it.
    let ours = File::open(std::env::current_exe()?).ok();
    let file_type = ours.as_ref().and_then(|f| {
        let h = f.as_raw_handle() as usize;
        table
            .iter()
            .find(|e| e.pid == me as usize && e.handle == h)
            .map(|e| e.type_index)
    });
    drop(ours);
    let mut by_pid: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let stuck = STUCK.lock().map(|s| s.clone()).unwrap_or_default();
    for e in &table {
        let Ok(pid) = u32::try_from(e.pid) else {
            continue;
        };
        if pid == me || pid == 0 || file_type.is_some_and(|t| t != e.type_index) {
            continue;
        }
        if stuck.contains(&(pid, e.handle)) {
            continue;
        }
        by_pid.entry(pid).or_default().push(e.handle);
    }
    let mut worker = Worker::start(0);
    let mut files: Vec<(Opened, OwnedHandle)> = Vec::new();
    for (pid, handles) in by_pid {
        let Some(process) = open_process(pid, PROCESS_DUP_HANDLE) else {
            continue; // another user's, or elevated
        };
        for handle in handles {
            let Some(dup) = duplicate(&process, handle) else {
                continue;
            };
            if !is_disk_file(&dup) {
                continue;
            }
            let (dup, id) = match worker.ask(Job::Identify(dup)) {
                Some(Answer::Identified(dup, Some(id))) => (dup, id),
                Some(_) => continue,
                None => {
                    if let Ok(mut s) = STUCK.lock() {
                        s.insert((pid, handle));
                    }
                    continue;
                }
            };
            if !is_lock_file(&id.path) {
                continue;
            }
            match files.iter_mut().find(|(f, _)| f.file == id.file) {
                Some((f, _)) => {
                    f.openers.push(pid);
                    f.deleted |= id.deleted;
                }
                None => files.push((
                    Opened {
                        path: id.path,
                        file: id.file,
                        deleted: id.deleted,
                        held: Held::Unknown,
                        openers: vec![pid],
                    },
                    dup,
                )),
            }
        }
    }
    let mut out = Vec::new();
    for (mut f, dup) in files {
        f.held = match worker.ask(Job::Probe(dup, f.path.clone(), f.file)) {
            Some(Answer::Probed(held)) => held,
            _ => Held::Unknown,
        };
        out.push(f);
    }
    Ok(out)
}

impl ProcessTable for Windows {
    fn snapshot(&self, is_lock_file: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot> {
        let mut snap = Snapshot {
            procs: processes()?,
            uses: Vec::new(),
        };
        let files = openers(is_lock_file)?;
        snap.uses = attribute::attribute(&files, &snap);
        Ok(snap)
    }

    fn cpu(&self, pids: &[u32]) -> BTreeMap<u32, Duration> {
        pids.iter()
            .filter_map(|&pid| {
                let p = open_process(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
                Some((pid, times(&p)?.1))
            })
            .collect()
    }

    fn environ(&self, _: u32) -> Option<Vec<(String, String)>> {
        None
    }

    fn ignores(&self, _: u32, _: Rung) -> bool {
        false
    }

    /// The Restart Manager's users of each file, when they are processes of the snapshot with
    /// the same start time (never this one), attributed as the handle table's openers are.
    fn second_source(&self, held: &[(PathBuf, FileId, Mode)], snap: &Snapshot) -> Vec<LockUse> {
        let me = std::process::id();
        let files: Vec<Opened> = held
            .iter()
            .filter_map(|(path, file, mode)| {
                let openers: Vec<u32> = restart_manager::users(path)
                    .ok()?
                    .into_iter()
                    .filter(|&(pid, start)| {
                        pid != me
                            && (snap.procs.get(&pid))
                                .is_some_and(|p| p.start == StartStamp::from_raw(start))
                    })
                    .map(|(pid, _)| pid)
                    .collect();
                (!openers.is_empty()).then(|| Opened {
                    path: path.clone(),
                    file: *file,
                    deleted: false,
                    held: match mode {
                        Mode::Shared => Held::Shared,
                        Mode::Exclusive => Held::Exclusive,
                    },
                    openers,
                })
            })
            .collect();
        attribute::attribute(&files, snap)
    }
}

/// Whether the process is still running.
fn running(process: &OwnedHandle) -> bool {
    // SAFETY: a live process handle with SYNCHRONIZE; a zero timeout never waits.
    unsafe { WaitForSingleObject(raw(process), 0) == WAIT_TIMEOUT }
}

impl ProcessControl for Windows {
    fn rungs(&self) -> &'static [Rung] {
        &[Rung::Kill]
    }

    fn pin(&self, id: ProcId) -> Option<Pinned> {
        let handle = open_process(
            id.pid,
            PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
        )?;
        // Checked after opening: if the creation time matches, the handle names that process
        // for good.
        let (created, _) = times(&handle)?;
        (StartStamp::from_raw(created) == id.start && running(&handle))
            .then_some(Pinned { id, handle })
    }

    fn state(&self, p: &Pinned) -> Option<ProcState> {
        running(&p.handle).then_some(ProcState::Unknown)
    }

    fn send(&self, p: &Pinned, rung: Rung) -> bool {
        // SAFETY: a live process handle with PROCESS_TERMINATE, pinned to this process.
        rung == Rung::Kill && unsafe { TerminateProcess(raw(&p.handle), 1) } != 0
    }

    fn send_group(&self, _: &Pinned, _: Rung) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_seen_and_pinned() {
        let snap = Windows.snapshot(&|_| false).unwrap();
        let me = &snap.procs[&std::process::id()];
        assert!(me.age.is_some());
        assert!(!me.cmdline.is_empty());
        assert_ne!(me.start, StartStamp::default());
        let pinned = Windows.pin(me.id()).expect("pinned");
        assert_eq!(Windows.state(&pinned), Some(ProcState::Unknown));
        let wrong = ProcId {
            pid: me.pid,
            start: StartStamp::from_raw(1),
        };
        assert!(Windows.pin(wrong).is_none(), "a reused pid is never pinned");
        assert!(Windows.cpu(&[me.pid]).contains_key(&me.pid));
        assert_eq!(Windows.rungs(), [Rung::Kill]);
    }

    #[test]
    fn identities_and_paths() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join(".package-cache");
        std::fs::write(&a, "").unwrap();
        std::fs::write(t.path().join("other"), "").unwrap();
        let f1 = File::open(&a).unwrap();
        let f2 = File::open(&a).unwrap();
        let f3 = File::open(t.path().join("other")).unwrap();
        assert_eq!(file_id(&f1).unwrap(), file_id(&f2).unwrap());
        assert_ne!(file_id(&f1).unwrap(), file_id(&f3).unwrap());
        let h = OwnedHandle::from(f1);
        let id = identify(&h).unwrap();
        assert_eq!(id.file, file_id(&f2).unwrap());
        assert!(!id.deleted);
        assert_eq!(id.path.file_name().unwrap(), ".package-cache");
        assert!(!id.path.to_string_lossy().starts_with(r"\\?\"), "{id:?}");
        assert_eq!(probe(&h, &a, id.file), Held::Free);
        f2.lock_shared().unwrap();
        assert_eq!(probe(&h, &a, id.file), Held::Shared);
        drop(f2);
        let f4 = File::options().read(true).write(true).open(&a).unwrap();
        f4.lock().unwrap();
        assert_eq!(probe(&h, &a, id.file), Held::Exclusive);
        drop(f4);
        assert_eq!(probe(&h, &a, id.file), Held::Free);
        assert_eq!(
            normalise(r"\\?\UNC\srv\share\x".into()),
            PathBuf::from(r"\\srv\share\x")
        );
        assert_eq!(normalise(r"\\?\C:\x".into()), PathBuf::from(r"C:\x"));
    }
}
