//! `run`'s command on Windows: in a job object of its own, so that `--timeout` ends exactly
//! the command's process tree, and nothing else.
//!
//! Windows has no process tree to walk safely (a parent pid may already name another
//! process) and no signal a process group gets, so:
//!
//! * the command starts suspended, is put in a new job, then resumed: every process it starts
//!   is in the job from its first instruction, and none can escape before the job exists;
//!   `TerminateJobObject` is then [`Rung::Kill`] for exactly that tree;
//! * without a terminal ([`Supervision::OwnGroup`]) it also leads a console process group
//!   (`CREATE_NEW_PROCESS_GROUP`), and [`Rung::Terminate`] is `CTRL_BREAK_EVENT` to that group
//!   (the only request to stop that a console program can handle: cargo stops as on Ctrl-C);
//!   our own Ctrl-C and Ctrl-Break are passed on to it the same way;
//! * on a terminal ([`Supervision::Foreground`]) it shares our console, so Ctrl-C reaches it
//!   directly, as with plain cargo, and we ignore Ctrl-C and Ctrl-Break meanwhile to report
//!   its exit. There is no gentler rung than the job's end then (a group we are in cannot be
//!   sent `CTRL_BREAK_EVENT` without receiving it ourselves).
//!
//! Where a job cannot be made (a parent job that forbids nesting, before Windows 8),
//! `Rung::Kill` ends the command's own process only, and [`Job::describe`] says so.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, GenerateConsoleCtrlEvent, SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, TerminateJobObject,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED, OpenThread, ResumeThread, THREAD_SUSPEND_RESUME,
};

use super::{Rung, Supervision};

/// The command's console process group, for [`on_ctrl`] (0: none, or on a terminal).
static GROUP: AtomicU32 = AtomicU32::new(0);

/// The job `run`'s command is in, and how it was started.
#[derive(Debug)]
pub(super) struct Job {
    job: Option<OwnedHandle>,
    how: Supervision,
    pid: u32,
}

fn owned(h: HANDLE) -> Option<OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return None;
    }
    // SAFETY: a handle just returned to us by a call that creates one, which nothing else
    // owns; it is closed once, when the OwnedHandle drops.
    Some(unsafe { OwnedHandle::from_raw_handle(h as RawHandle) })
}

/// Our console control handler while a command runs: Ctrl-C and Ctrl-Break are the
/// command's. On a terminal it got them itself; in its own group we pass them on as
/// `CTRL_BREAK_EVENT` (a new group ignores `CTRL_C_EVENT`). Other events (the console
/// closing, logoff) go on to the default handler.
unsafe extern "system" fn on_ctrl(event: u32) -> windows_sys::core::BOOL {
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        return 0;
    }
    let group = GROUP.load(Ordering::SeqCst);
    if group != 0 {
        // SAFETY: takes no pointers; a group that is gone makes it fail, which is harmless.
        unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group) };
    }
    1
}

/// Resumes every thread of `pid` (a process started suspended has one).
fn resume(pid: u32) -> io::Result<usize> {
    // SAFETY: no pointers; the snapshot handle is owned right away.
    let snap = owned(unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) })
        .ok_or_else(io::Error::last_os_error)?;
    let mut entry = THREADENTRY32 {
        dwSize: size_of::<THREADENTRY32>() as u32,
        ..THREADENTRY32::default()
    };
    let mut resumed = 0;
    // SAFETY: `entry` is a THREADENTRY32 with its dwSize set, as Thread32First/Next require,
    // and lives across the calls; the snapshot handle is valid until `snap` drops.
    let mut ok = unsafe { Thread32First(snap.as_raw_handle() as HANDLE, &mut entry) };
    while ok != 0 {
        if entry.th32OwnerProcessID == pid {
            // SAFETY: no pointers; the thread handle is owned right away.
            let thread = owned(unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) });
            if let Some(t) = thread {
                // SAFETY: a valid thread handle we own.
                if unsafe { ResumeThread(t.as_raw_handle() as HANDLE) } != u32::MAX {
                    resumed += 1;
                }
            }
        }
        // SAFETY: as for Thread32First.
        ok = unsafe { Thread32Next(snap.as_raw_handle() as HANDLE, &mut entry) };
    }
    Ok(resumed)
}

pub(super) fn spawn_supervised(mut cmd: Command, how: Supervision) -> io::Result<(Child, Job)> {
    let group = match how {
        Supervision::OwnGroup => CREATE_NEW_PROCESS_GROUP,
        Supervision::Foreground => 0,
    };
    // SAFETY: null attributes and name: an unnamed job with default security.
    let job = owned(unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) });
    let suspended = job.is_some();
    cmd.creation_flags(group | if suspended { CREATE_SUSPENDED } else { 0 });
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let job = job.filter(|j| {
        // SAFETY: both handles are valid: the job we own, the child's process handle.
        unsafe {
            AssignProcessToJobObject(j.as_raw_handle() as HANDLE, child.as_raw_handle() as HANDLE)
                != 0
        }
    });
    // Started suspended whenever a job was made, in it or not: it must run now.
    if suspended && !resume(pid).is_ok_and(|threads| threads > 0) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("it could not be resumed after it started"));
    }
    if how == Supervision::OwnGroup {
        GROUP.store(pid, Ordering::SeqCst);
    }
    // SAFETY: `on_ctrl` is an `extern "system" fn(u32) -> BOOL` that only reads an atomic
    // and calls GenerateConsoleCtrlEvent; it stays valid for the life of the program.
    unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 1) };
    Ok((child, Job { job, how, pid }))
}

impl Job {
    /// What `--timeout` stops, in words: "the job of process 123" or "process 123".
    pub(super) fn describe(&self) -> String {
        if self.job.is_some() {
            format!("the job of process {}", self.pid)
        } else {
            format!("process {}", self.pid)
        }
    }

    /// `rung` to the command: `CTRL_BREAK_EVENT` to its group (when it has one) for
    /// `Terminate`, the end of its job (or of its own process) for `Kill`.
    pub(super) fn stop(&self, child: &mut Child, rung: Rung) {
        match rung {
            Rung::Kill => match &self.job {
                // SAFETY: a job handle we own.
                Some(j) => unsafe {
                    TerminateJobObject(j.as_raw_handle() as HANDLE, 1);
                },
                None => {
                    let _ = child.kill();
                }
            },
            _ if self.how == Supervision::OwnGroup => {
                // SAFETY: takes no pointers; the group is the command's, which is not reaped
                // yet (its pid cannot name another process).
                unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.pid) };
            }
            _ => {}
        }
    }

    /// The command exited: our Ctrl-C is ours again.
    pub(super) fn forget(&self) {
        GROUP.store(0, Ordering::SeqCst);
        // SAFETY: removes the handler added in `spawn_supervised`.
        unsafe { SetConsoleCtrlHandler(Some(on_ctrl), 0) };
    }
}
