//! The Restart Manager: Windows' own answer to "which processes use this file", the second
//! source of lock holders (lock-holders-macos-windows.md §2). It is asked only about lock
//! files that a probe finds held while the handle table showed no opener (the holder's
//! handles could not be duplicated: another user's or an elevated process). It names
//! processes with their start time, so a reused pid is never taken for the holder; like the
//! handle table it cannot say which opener owns the byte-range lock, so what it finds is
//! attributed as probable ([`super::attribute`]). Where it does not answer (Wine, a service
//! that is off) nothing is added.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, ERROR_SUCCESS};
use windows_sys::Win32::System::RestartManager::{
    CCH_RM_SESSION_KEY, RM_PROCESS_INFO, RmEndSession, RmGetList, RmRegisterResources,
    RmStartSession,
};

/// Ends a Restart Manager session when dropped.
struct Session(u32);

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: a session handle RmStartSession gave us, ended once.
        unsafe { RmEndSession(self.0) };
    }
}

fn check(code: u32) -> io::Result<()> {
    if code == ERROR_SUCCESS {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code as i32))
    }
}

/// The processes using `path`: (pid, creation time as a FILETIME in 100 ns units).
pub(super) fn users(path: &Path) -> io::Result<Vec<(u32, u64)>> {
    let mut key = [0u16; CCH_RM_SESSION_KEY as usize + 1];
    let mut handle = 0u32;
    // SAFETY: `handle` and `key` (CCH_RM_SESSION_KEY + 1 wide characters, as documented) are
    // ours and outlive the call.
    check(unsafe { RmStartSession(&mut handle, 0, key.as_mut_ptr()) })?;
    let session = Session(handle);
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    let names = [wide.as_ptr()];
    // SAFETY: one NUL-terminated wide path, alive across the call; no applications or
    // services.
    check(unsafe {
        RmRegisterResources(
            session.0,
            1,
            names.as_ptr(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
        )
    })?;
    let mut infos: Vec<RM_PROCESS_INFO> = Vec::new();
    // The list may grow between the two calls: ask again while it says "more data".
    for _ in 0..4 {
        let mut needed = 0u32;
        let mut count = infos.len() as u32;
        let mut reasons = 0u32;
        // SAFETY: `infos` has room for `count` entries (none on the first call, with a null
        // pointer allowed for a zero count); the counters are ours.
        let code = unsafe {
            RmGetList(
                session.0,
                &mut needed,
                &mut count,
                if infos.is_empty() {
                    std::ptr::null_mut()
                } else {
                    infos.as_mut_ptr()
                },
                &mut reasons,
            )
        };
        if code == ERROR_MORE_DATA {
            // SAFETY: RM_PROCESS_INFO is plain data (integers and arrays of them), for which
            // all-zero bytes are a valid value.
            infos = vec![unsafe { std::mem::zeroed() }; needed as usize + 1];
            continue;
        }
        check(code)?;
        infos.truncate(count as usize);
        return Ok(infos
            .iter()
            .map(|i| {
                let t = i.Process.ProcessStartTime;
                let start = (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
                (i.Process.dwProcessId, start)
            })
            .collect());
    }
    Err(io::Error::other("the Restart Manager's list kept changing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the Restart Manager answers (not Wine 8, whose `RmGetList` lists nobody), a file
    /// this test process holds open is used by exactly this process, with its start time.
    #[test]
    fn names_the_process_that_has_a_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".package-cache");
        let file = std::fs::File::create(&path).unwrap();
        file.lock().unwrap();
        match users(&path) {
            Err(e) => eprintln!("the Restart Manager did not answer: {e}"),
            Ok(list) if list.is_empty() => eprintln!("the Restart Manager listed nobody"),
            Ok(list) => {
                let me = std::process::id();
                assert!(list.iter().any(|(pid, _)| *pid == me), "{list:?}");
                let (_, start) = list.iter().find(|(pid, _)| *pid == me).unwrap();
                use crate::sys::process::{ProcessTable, StartStamp, windows::Windows};
                let snap = Windows.snapshot(&|_| false).unwrap();
                assert_eq!(snap.procs[&me].start, StartStamp::from_raw(*start));
            }
        }
    }
}
