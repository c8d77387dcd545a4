//! Opening one of Cargo's lock files to probe it (locks.md §A.2.4).
//!
//! Read-only, and only a regular file: a symlink is reported, never followed (`O_NOFOLLOW`;
//! on Windows the reparse point itself is opened, `FILE_FLAG_OPEN_REPARSE_POINT`), and nothing
//! else is opened at all (opening a FIFO would block, and opening a device can have side
//! effects). On Unix the file is opened without blocking, never becomes our controlling
//! terminal, and is closed on exec.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::sys::fs::{Kind, file_stat, lstat};

/// Why a lock file could not be opened, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("it is a symbolic link (never followed)")]
    Symlink,
    #[error("it is not a regular file")]
    NotRegular,
    #[error("it does not exist")]
    Missing,
    #[error("{}", describe(.0))]
    Io(io::Error),
}

/// Plain words for an I/O error ("permission denied", not "Permission denied (os error 13)").
pub fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::NotFound => "it does not exist".to_string(),
        _ => e.to_string(),
    }
}

fn classify(e: io::Error) -> OpenError {
    if e.kind() == io::ErrorKind::NotFound {
        OpenError::Missing
    } else if is_loop(&e) {
        OpenError::Symlink
    } else {
        OpenError::Io(e)
    }
}

#[cfg(unix)]
fn is_loop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

#[cfg(not(unix))]
fn is_loop(_: &io::Error) -> bool {
    false
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

#[cfg(windows)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

#[cfg(not(any(unix, windows)))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens the lock file at `path` read-only, as described above. The file returned is the
/// regular file that `path` named when it was looked at.
pub fn open_lock_file(path: &Path) -> Result<File, OpenError> {
    let before = lstat(path).map_err(classify)?;
    match before.kind {
        Kind::File => {}
        Kind::Symlink => return Err(OpenError::Symlink),
        Kind::Dir | Kind::Other => return Err(OpenError::NotRegular),
    }
    let file = open_no_follow(path).map_err(classify)?;
    let after = file_stat(&file).map_err(OpenError::Io)?;
    // Replaced between the look and the open: whatever it is now, it is not what we looked at.
    match after.kind {
        Kind::Symlink => return Err(OpenError::Symlink),
        Kind::File if after.id == before.id => {}
        _ => return Err(OpenError::NotRegular),
    }
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn opens_only_regular_files_and_never_follows_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join(".package-cache");
        std::fs::write(&file, "").unwrap();
        assert!(open_lock_file(&file).is_ok());
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(open_lock_file(&link), Err(OpenError::Symlink)));
        assert!(matches!(
            open_lock_file(t.path()),
            Err(OpenError::NotRegular)
        ));
        assert!(matches!(
            open_lock_file(&t.path().join("missing")),
            Err(OpenError::Missing)
        ));
        let fifo = t.path().join("fifo");
        // mkfifo(1): rustix has no mkfifoat on every Unix.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(
            matches!(open_lock_file(&fifo), Err(OpenError::NotRegular)),
            "a FIFO is neither opened nor waited on"
        );
        assert_eq!(
            OpenError::Io(io::Error::from(io::ErrorKind::PermissionDenied)).to_string(),
            "permission denied"
        );
    }
}
