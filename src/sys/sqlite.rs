//! Which file SQLite opened.
//!
//! `SQLITE_OPEN_NOFOLLOW` is enforced by SQLite's Unix VFS only (its Windows VFS never reports
//! a link), so on Windows the `.global-cache` checked without following links
//! (`observe::db::locate`) could be swapped for a link before SQLite opens it by path. The
//! identity of the file SQLite actually has open, compared with the one checked, closes that
//! gap: a database that is not the file we checked is not used.

use std::io;

use rusqlite::Connection;

use crate::sys::fs::FileId;

/// The identity of the main database file `conn` has open, where this platform needs the
/// check (Windows); `Ok(None)` elsewhere, where SQLite refuses links itself.
#[cfg(windows)]
pub fn opened_file(conn: &Connection) -> io::Result<Option<FileId>> {
    use std::fs::File;
    use std::mem::ManuallyDrop;
    use std::os::windows::io::{FromRawHandle, RawHandle};

    let mut handle: RawHandle = std::ptr::null_mut();
    // SAFETY: `conn.handle()` is the live connection's database pointer, used only for this
    // call; SQLITE_FCNTL_WIN32_GET_HANDLE writes one HANDLE to the pointer it is given,
    // which points at `handle`.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_WIN32_GET_HANDLE,
            (&raw mut handle).cast(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK || handle.is_null() {
        return Err(io::Error::other(format!(
            "SQLite did not give the handle of the database it opened (error {rc})"
        )));
    }
    // SAFETY: SQLite's own open handle to the database file, borrowed for one query while
    // the connection lives; ManuallyDrop: it is never closed here.
    let file = ManuallyDrop::new(unsafe { File::from_raw_handle(handle) });
    Ok(Some(crate::sys::fs::file_stat(&file)?.id))
}

#[cfg(not(windows))]
pub fn opened_file(_conn: &Connection) -> io::Result<Option<FileId>> {
    Ok(None)
}
