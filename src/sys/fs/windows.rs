//! [`super::Dir`] on Windows: every name opened relative to a directory handle with
//! `NtCreateFile` (`OBJECT_ATTRIBUTES::RootDirectory`), never following a reparse point in
//! it (`FILE_OPEN_REPARSE_POINT`: a symlink or junction is opened as itself, then refused or
//! removed as itself); deletion and renaming by handle (`NtSetInformationFile` with
//! `FileDispositionInformationEx` / `FileRenameInformation`), the way std's `remove_dir_all`
//! works on Windows.
//!
//! Differences from Unix, each on the safe side:
//! * a rename never replaces an existing name (`AlreadyExists`);
//! * a read-only file is deleted (`FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE`, or the
//!   attribute cleared through the handle being deleted, where the filesystem lacks the flag);
//! * `make_writable` and `make_dir_accessible` clear the read-only attribute; they never change
//!   an ACL, so what an ACL denies stays an error ("access denied"), reported, not worked
//!   around;
//! * a file another process holds open without `FILE_SHARE_DELETE` cannot be deleted or its
//!   directory renamed: that is an error for the unit, which is then kept;
//! * last-access times are not trusted ([`filesystem`]); reading without moving one
//!   ([`open_noatime`]) is `Unsupported`.

use std::ffi::{OsStr, OsString, c_void};
use std::fs::File;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::ptr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Wdk::Storage::FileSystem as nt;
use windows_sys::Win32::Foundation as wf;
use windows_sys::Win32::Storage::FileSystem as fs;
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::{Entry, FileId, FileOptions, Filesystem, Kind, Stat};

/// A directory opened for listing, and as the root of relative opens.
#[derive(Debug)]
pub struct Dir {
    h: OwnedHandle,
}

const SHARE_ALL: u32 = fs::FILE_SHARE_READ | fs::FILE_SHARE_WRITE | fs::FILE_SHARE_DELETE;
const DIR_ACCESS: u32 =
    fs::FILE_LIST_DIRECTORY | fs::FILE_TRAVERSE | fs::FILE_READ_ATTRIBUTES | fs::SYNCHRONIZE;
/// Every open: synchronous I/O (std's `File` needs it), and the last component itself even
/// when it is a reparse point.
const OPTIONS: u32 = nt::FILE_SYNCHRONOUS_IO_NONALERT
    | nt::FILE_OPEN_REPARSE_POINT
    | nt::FILE_OPEN_FOR_BACKUP_INTENT;
/// `IsReparseTagNameSurrogate`: the reparse point names another file (symlink, junction).
const NAME_SURROGATE: u32 = 0x2000_0000;
/// `DRIVE_REMOTE` of `GetDriveTypeW`.
const DRIVE_REMOTE: u32 = 4;

/// An `io::Error` for a failed NT call, in the `io::ErrorKind` Unix gives for the same
/// condition.
fn nt_error(status: wf::NTSTATUS) -> io::Error {
    match status {
        wf::STATUS_FILE_IS_A_DIRECTORY => io::ErrorKind::IsADirectory.into(),
        wf::STATUS_NOT_A_DIRECTORY => io::ErrorKind::NotADirectory.into(),
        wf::STATUS_DIRECTORY_NOT_EMPTY => io::ErrorKind::DirectoryNotEmpty.into(),
        wf::STATUS_NOT_SAME_DEVICE => io::ErrorKind::CrossesDevices.into(),
        // Being deleted by someone else: as good as gone.
        wf::STATUS_DELETE_PENDING => io::ErrorKind::NotFound.into(),
        _ => {
            // SAFETY: a pure conversion of a status code; no pointers.
            let code = unsafe { wf::RtlNtStatusToDosError(status) };
            io::Error::from_raw_os_error(code as i32)
        }
    }
}

fn win32_result(ok: windows_sys::core::BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens `name` (one component, or empty for `root` itself) relative to the directory
/// `root`, never following a reparse point in it.
fn open_at(
    root: BorrowedHandle<'_>,
    name: &OsStr,
    access: u32,
    disposition: u32,
    options: u32,
) -> io::Result<OwnedHandle> {
    let wide: Vec<u16> = name.encode_wide().collect();
    let bytes = u16::try_from(wide.len() * 2)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file name too long"))?;
    let uname = wf::UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: wide.as_ptr().cast_mut(),
    };
    let attrs = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: root.as_raw_handle(),
        ObjectName: &uname,
        Attributes: wf::OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: ptr::null(),
        SecurityQualityOfService: ptr::null(),
    };
    let mut handle: wf::HANDLE = ptr::null_mut();
    let mut iosb = IO_STATUS_BLOCK::default();
    // SAFETY: `handle`, `attrs` (and the `uname` and `wide` it points to) and `iosb` are live
    // locals for the whole call; `root` is an open handle borrowed for it; no EA buffer and
    // no allocation size are passed (null, 0).
    let status = unsafe {
        nt::NtCreateFile(
            &mut handle,
            access,
            &attrs,
            &mut iosb,
            ptr::null(),
            fs::FILE_ATTRIBUTE_NORMAL,
            SHARE_ALL,
            disposition,
            options | OPTIONS,
            ptr::null(),
            0,
        )
    };
    if status < 0 {
        return Err(nt_error(status));
    }
    // SAFETY: NtCreateFile succeeded, so `handle` is a new open handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

fn time(ft: wf::FILETIME) -> SystemTime {
    // 100-nanosecond intervals since 1601-01-01.
    const TO_UNIX: u64 = 116_444_736_000_000_000;
    let t = (u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime);
    let d =
        |n: u64| Duration::from_secs(n / 10_000_000) + Duration::from_nanos(n % 10_000_000 * 100);
    if t >= TO_UNIX {
        UNIX_EPOCH + d(t - TO_UNIX)
    } else {
        UNIX_EPOCH - d(TO_UNIX - t)
    }
}

/// The reparse tag of an open reparse point (`None` if the filesystem will not say).
fn reparse_tag(h: BorrowedHandle<'_>) -> Option<u32> {
    let mut info = fs::FILE_ATTRIBUTE_TAG_INFO::default();
    // SAFETY: `info` is a writable FILE_ATTRIBUTE_TAG_INFO, the size passed is its size, and
    // `h` is an open handle.
    let ok = unsafe {
        fs::GetFileInformationByHandleEx(
            h.as_raw_handle(),
            fs::FileAttributeTagInfo,
            (&raw mut info).cast::<c_void>(),
            size_of::<fs::FILE_ATTRIBUTE_TAG_INFO>() as u32,
        )
    };
    (ok != 0).then_some(info.ReparseTag)
}

fn kind_of(h: BorrowedHandle<'_>, attributes: u32) -> Kind {
    let dir = attributes & fs::FILE_ATTRIBUTE_DIRECTORY != 0;
    if attributes & fs::FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        // A symlink or junction names something else: never followed. Other reparse points
        // (deduplicated or cloud files) are the file itself; an unknown one is a link.
        match reparse_tag(h) {
            Some(tag) if tag & NAME_SURROGATE == 0 && !dir => Kind::File,
            Some(tag) if tag & NAME_SURROGATE == 0 => Kind::Other,
            _ => Kind::Symlink,
        }
    } else if dir {
        Kind::Dir
    } else {
        Kind::File
    }
}

/// The facts of what `h` is open on (the reparse point itself if it was opened as one).
fn stat_handle(h: BorrowedHandle<'_>) -> io::Result<Stat> {
    let mut info = fs::BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: `info` is a writable BY_HANDLE_FILE_INFORMATION and `h` an open handle.
    win32_result(unsafe { fs::GetFileInformationByHandle(h.as_raw_handle(), &mut info) })?;
    let mut standard = fs::FILE_STANDARD_INFO::default();
    // SAFETY: `standard` is a writable FILE_STANDARD_INFO, the size passed is its size, and
    // `h` is an open handle.
    win32_result(unsafe {
        fs::GetFileInformationByHandleEx(
            h.as_raw_handle(),
            fs::FileStandardInfo,
            (&raw mut standard).cast::<c_void>(),
            size_of::<fs::FILE_STANDARD_INFO>() as u32,
        )
    })?;
    Ok(Stat {
        kind: kind_of(h, info.dwFileAttributes),
        len: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        allocated: standard.AllocationSize.max(0) as u64,
        id: FileId {
            device: u64::from(info.dwVolumeSerialNumber),
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        },
        links: u64::from(info.nNumberOfLinks),
        accessed: time(info.ftLastAccessTime),
        modified: time(info.ftLastWriteTime),
    })
}

fn attributes(h: BorrowedHandle<'_>) -> io::Result<u32> {
    let mut info = fs::FILE_BASIC_INFO::default();
    // SAFETY: `info` is a writable FILE_BASIC_INFO, the size passed is its size, and `h` is
    // an open handle.
    win32_result(unsafe {
        fs::GetFileInformationByHandleEx(
            h.as_raw_handle(),
            fs::FileBasicInfo,
            (&raw mut info).cast::<c_void>(),
            size_of::<fs::FILE_BASIC_INFO>() as u32,
        )
    })?;
    Ok(info.FileAttributes)
}

/// Clears the read-only attribute of what `h` is open on (it needs `FILE_WRITE_ATTRIBUTES`).
fn clear_read_only(h: BorrowedHandle<'_>) -> io::Result<()> {
    let attrs = attributes(h)?;
    if attrs & fs::FILE_ATTRIBUTE_READONLY == 0 {
        return Ok(());
    }
    let mut new = attrs & !fs::FILE_ATTRIBUTE_READONLY;
    if new == 0 {
        // 0 would mean "leave the attributes as they are".
        new = fs::FILE_ATTRIBUTE_NORMAL;
    }
    // Zero times mean "leave them as they are".
    let info = fs::FILE_BASIC_INFO {
        FileAttributes: new,
        ..Default::default()
    };
    // SAFETY: `info` is a FILE_BASIC_INFO whose size is passed; `h` is an open handle.
    win32_result(unsafe {
        fs::SetFileInformationByHandle(
            h.as_raw_handle(),
            fs::FileBasicInfo,
            (&raw const info).cast::<c_void>(),
            size_of::<fs::FILE_BASIC_INFO>() as u32,
        )
    })
}

/// Deletes what `h` is open on (it was opened with `DELETE`): POSIX semantics where the
/// filesystem has them (the name goes at once, even while others hold it open), else the
/// classic delete-on-close, which takes the name when the last handle closes.
fn delete_by_handle(h: BorrowedHandle<'_>) -> io::Result<()> {
    let info = fs::FILE_DISPOSITION_INFO_EX {
        Flags: fs::FILE_DISPOSITION_FLAG_DELETE
            | fs::FILE_DISPOSITION_FLAG_POSIX_SEMANTICS
            | fs::FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE,
    };
    // SAFETY: `info` is a FILE_DISPOSITION_INFO_EX whose size is passed; `h` is open.
    let ok = unsafe {
        fs::SetFileInformationByHandle(
            h.as_raw_handle(),
            fs::FileDispositionInfoEx,
            (&raw const info).cast::<c_void>(),
            size_of::<fs::FILE_DISPOSITION_INFO_EX>() as u32,
        )
    };
    if ok != 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    let unsupported = [
        wf::ERROR_INVALID_PARAMETER,
        wf::ERROR_NOT_SUPPORTED,
        wf::ERROR_INVALID_FUNCTION,
    ];
    if !e
        .raw_os_error()
        .is_some_and(|c| unsupported.contains(&(c as u32)))
    {
        return Err(e);
    }
    // FAT, older Windows, Wine: no Ex class. A read-only file cannot be deleted this way, so
    // the attribute is cleared first, on this very file (best effort: without
    // FILE_WRITE_ATTRIBUTES the delete below says why it failed).
    let _ = clear_read_only(h);
    let info = fs::FILE_DISPOSITION_INFO { DeleteFile: true };
    // SAFETY: `info` is a FILE_DISPOSITION_INFO whose size is passed; `h` is open.
    win32_result(unsafe {
        fs::SetFileInformationByHandle(
            h.as_raw_handle(),
            fs::FileDispositionInfo,
            (&raw const info).cast::<c_void>(),
            size_of::<fs::FILE_DISPOSITION_INFO>() as u32,
        )
    })
}

/// Opens `name` relative to `root` for deletion, with `FILE_WRITE_ATTRIBUTES` too when
/// allowed (to clear a read-only attribute where the filesystem needs that).
fn open_for_delete(
    root: BorrowedHandle<'_>,
    name: &OsStr,
    options: u32,
) -> io::Result<OwnedHandle> {
    let access = fs::DELETE | fs::FILE_READ_ATTRIBUTES | fs::SYNCHRONIZE;
    match open_at(
        root,
        name,
        access | fs::FILE_WRITE_ATTRIBUTES,
        nt::FILE_OPEN,
        options,
    ) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            open_at(root, name, access, nt::FILE_OPEN, options)
        }
        r => r,
    }
}

fn wide_nul(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

pub fn lstat(path: &Path) -> io::Result<Stat> {
    let f = std::fs::OpenOptions::new()
        .access_mode(fs::FILE_READ_ATTRIBUTES)
        .share_mode(SHARE_ALL)
        .custom_flags(fs::FILE_FLAG_BACKUP_SEMANTICS | fs::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    stat_handle(f.as_handle())
}

pub fn file_stat(file: &File) -> io::Result<Stat> {
    stat_handle(file.as_handle())
}

pub fn open_noatime(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "reading a file without moving its access time is not implemented on Windows",
    ))
}

/// The volume holding `path` (`GetVolumePathNameW`), its serial number and file system name
/// (`GetVolumeInformationW`), whether it is remote (`GetDriveTypeW`), and its size and the
/// space available to this user (`GetDiskFreeSpaceExW`). NTFS updates last-access times only
/// when the system is configured to (off by default on large volumes since Windows 10 1803),
/// and then lazily, to the hour: never trusted.
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    let wide = wide_nul(path);
    let mut volume = vec![0u16; wide.len().max(wf::MAX_PATH as usize) + 1];
    // SAFETY: `wide` is NUL-terminated; `volume` is writable for the length passed.
    let ok =
        unsafe { fs::GetVolumePathNameW(wide.as_ptr(), volume.as_mut_ptr(), volume.len() as u32) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `volume` holds a NUL-terminated root path.
    let remote = unsafe { fs::GetDriveTypeW(volume.as_ptr()) } == DRIVE_REMOTE;
    let mut serial = 0u32;
    let mut fs_name = [0u16; wf::MAX_PATH as usize + 1];
    // SAFETY: `volume` is a NUL-terminated root path; the serial number and the name buffer
    // are writable for the length passed; the other outputs are optional (null).
    let ok = unsafe {
        fs::GetVolumeInformationW(
            volume.as_ptr(),
            ptr::null_mut(),
            0,
            &mut serial,
            ptr::null_mut(),
            ptr::null_mut(),
            fs_name.as_mut_ptr(),
            fs_name.len() as u32,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let name_len = fs_name
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(fs_name.len());
    let fs_name = String::from_utf16_lossy(&fs_name[..name_len]);
    let (mut free, mut total, mut total_free) = (0u64, 0u64, 0u64);
    // SAFETY: `wide` is NUL-terminated; the three outputs are writable u64s.
    let ok =
        unsafe { fs::GetDiskFreeSpaceExW(wide.as_ptr(), &mut free, &mut total, &mut total_free) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Filesystem {
        device: u64::from(serial),
        size_bytes: total,
        free_bytes: free,
        keeps_atime: false,
        network: super::kind::network_on_windows(remote, &fs_name),
    })
}

/// A buffer for `NtQueryDirectoryFile`, aligned as its records need.
#[repr(C, align(8))]
struct QueryBuf([u8; 64 * 1024]);

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("four bytes"))
}

/// Windows lists with a fresh handle each time ([`Dir::entries`]): nothing to keep.
#[derive(Default)]
pub struct ListBuf;

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let f = std::fs::OpenOptions::new()
            .access_mode(DIR_ACCESS)
            .share_mode(SHARE_ALL)
            .custom_flags(fs::FILE_FLAG_BACKUP_SEMANTICS)
            .open(path)?;
        if attributes(f.as_handle())? & fs::FILE_ATTRIBUTE_DIRECTORY == 0 {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Dir { h: f.into() })
    }

    fn open_here(
        &self,
        name: &OsStr,
        access: u32,
        disposition: u32,
        options: u32,
    ) -> io::Result<OwnedHandle> {
        open_at(self.h.as_handle(), name, access, disposition, options)
    }

    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        match self.open_here(name, DIR_ACCESS, nt::FILE_OPEN, nt::FILE_DIRECTORY_FILE) {
            Ok(h) => {
                if kind_of(h.as_handle(), attributes(h.as_handle())?) != Kind::Dir {
                    return Err(super::symlink_refused());
                }
                Ok(Dir { h })
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory && self.is_symlink(name) => {
                Err(super::symlink_refused())
            }
            Err(e) => Err(e),
        }
    }

    fn is_symlink(&self, name: &OsStr) -> bool {
        self.stat(name).is_ok_and(|s| s.kind == Kind::Symlink)
    }

    pub fn stat(&self, name: &OsStr) -> io::Result<Stat> {
        let h = self.open_here(
            name,
            fs::FILE_READ_ATTRIBUTES | fs::SYNCHRONIZE,
            nt::FILE_OPEN,
            0,
        )?;
        stat_handle(h.as_handle())
    }

    pub fn metadata(&self) -> io::Result<Stat> {
        stat_handle(self.h.as_handle())
    }

    pub fn read_once(&self, _buf: &mut ListBuf, out: &mut Vec<Entry>) -> io::Result<()> {
        out.extend(self.entries()?);
        Ok(())
    }

    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        // A fresh handle for the listing, so it always starts at the beginning.
        let h = self.open_here(
            OsStr::new(""),
            fs::FILE_LIST_DIRECTORY | fs::SYNCHRONIZE,
            nt::FILE_OPEN,
            nt::FILE_DIRECTORY_FILE,
        )?;
        let mut buf = Box::new(QueryBuf([0; 64 * 1024]));
        let mut out = Vec::new();
        let name_at = offset_of!(nt::FILE_DIRECTORY_INFORMATION, FileName);
        loop {
            let mut iosb = IO_STATUS_BLOCK::default();
            // SAFETY: `buf` is writable for the length passed and aligned to 8; `iosb` is a
            // live local; `h` is an open synchronous directory handle, so the call completes
            // before it returns; no event, APC or file name filter (null).
            let status = unsafe {
                nt::NtQueryDirectoryFile(
                    h.as_raw_handle(),
                    ptr::null_mut(),
                    None,
                    ptr::null(),
                    &mut iosb,
                    buf.0.as_mut_ptr().cast::<c_void>(),
                    buf.0.len() as u32,
                    nt::FileDirectoryInformation,
                    false,
                    ptr::null(),
                    false,
                )
            };
            if status == wf::STATUS_NO_MORE_FILES || status == wf::STATUS_NO_SUCH_FILE {
                break;
            }
            if status < 0 {
                return Err(nt_error(status));
            }
            let b = &buf.0[..iosb.Information.min(buf.0.len())];
            let mut at = 0;
            while at + name_at <= b.len() {
                let next = u32_at(b, at) as usize;
                let attrs = u32_at(
                    b,
                    at + offset_of!(nt::FILE_DIRECTORY_INFORMATION, FileAttributes),
                );
                let len = u32_at(
                    b,
                    at + offset_of!(nt::FILE_DIRECTORY_INFORMATION, FileNameLength),
                ) as usize;
                let Some(raw) = b.get(at + name_at..at + name_at + len) else {
                    break;
                };
                let wide: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                    .collect();
                let name = OsString::from_wide(&wide);
                if name != "." && name != ".." {
                    let kind = if attrs & fs::FILE_ATTRIBUTE_REPARSE_POINT != 0 {
                        None
                    } else if attrs & fs::FILE_ATTRIBUTE_DIRECTORY != 0 {
                        Some(Kind::Dir)
                    } else {
                        Some(Kind::File)
                    };
                    out.push(Entry { name, kind });
                }
                if next == 0 {
                    break;
                }
                at += next;
            }
        }
        Ok(out)
    }

    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        let h = open_for_delete(self.h.as_handle(), name, 0)?;
        if stat_handle(h.as_handle())?.kind == Kind::Dir {
            return Err(io::ErrorKind::IsADirectory.into());
        }
        delete_by_handle(h.as_handle())
    }

    pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
        let h = open_for_delete(self.h.as_handle(), name, nt::FILE_DIRECTORY_FILE)?;
        if stat_handle(h.as_handle())?.kind != Kind::Dir {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        delete_by_handle(h.as_handle())
    }

    pub fn rename(&self, name: &OsStr, to: &Dir, new_name: &OsStr) -> io::Result<()> {
        self.rename_to(name, to, new_name, false)
    }

    pub fn replace_file(&self, name: &OsStr, new_name: &OsStr) -> io::Result<()> {
        self.rename_to(name, self, new_name, true)
    }

    /// `FileRenameInformation` relative to `to`, replacing an existing `new_name` only if
    /// `replace`.
    fn rename_to(&self, name: &OsStr, to: &Dir, new_name: &OsStr, replace: bool) -> io::Result<()> {
        let h = self.open_here(
            name,
            fs::DELETE | fs::FILE_READ_ATTRIBUTES | fs::SYNCHRONIZE,
            nt::FILE_OPEN,
            0,
        )?;
        let wide: Vec<u16> = new_name.encode_wide().collect();
        let name_at = offset_of!(nt::FILE_RENAME_INFORMATION, FileName);
        let size = (name_at + wide.len() * 2).max(size_of::<nt::FILE_RENAME_INFORMATION>());
        // u64s: aligned for the struct's handle field.
        let mut buf = vec![0u64; size.div_ceil(8)];
        let info = buf.as_mut_ptr().cast::<nt::FILE_RENAME_INFORMATION>();
        // SAFETY: `buf` is zeroed, 8-aligned and at least `size` bytes: room for the struct
        // and the name after `FileName`'s offset. The fields are written through raw pointers
        // into it; the zeroed union means "never replace an existing name", unless
        // `ReplaceIfExists` is set.
        unsafe {
            if replace {
                (&raw mut (*info).Anonymous.ReplaceIfExists).write(true);
            }
            (&raw mut (*info).RootDirectory).write(to.h.as_raw_handle());
            (&raw mut (*info).FileNameLength).write((wide.len() * 2) as u32);
            ptr::copy_nonoverlapping(
                wide.as_ptr(),
                (&raw mut (*info).FileName).cast::<u16>(),
                wide.len(),
            );
        }
        let mut iosb = IO_STATUS_BLOCK::default();
        // SAFETY: `buf` holds a FILE_RENAME_INFORMATION of `size` bytes (above); `iosb` is a
        // live local; `h` was opened with DELETE and `to.h` is an open directory handle, both
        // alive for the call.
        let status = unsafe {
            nt::NtSetInformationFile(
                h.as_raw_handle(),
                &mut iosb,
                buf.as_ptr().cast::<c_void>(),
                size as u32,
                nt::FileRenameInformation,
            )
        };
        if status < 0 {
            return Err(nt_error(status));
        }
        Ok(())
    }

    pub fn create_dir(&self, name: &OsStr) -> io::Result<()> {
        // FILE_CREATE fails on any existing name, a dangling symlink included.
        self.open_here(
            name,
            fs::FILE_LIST_DIRECTORY | fs::SYNCHRONIZE,
            nt::FILE_CREATE,
            nt::FILE_DIRECTORY_FILE,
        )
        .map(drop)
    }

    pub fn open_file(&self, name: &OsStr, opts: FileOptions) -> io::Result<File> {
        let mut access = wf::GENERIC_READ | fs::FILE_READ_ATTRIBUTES | fs::SYNCHRONIZE;
        if opts.write {
            access |= wf::GENERIC_WRITE;
        }
        let disposition = if opts.create {
            nt::FILE_OPEN_IF
        } else {
            nt::FILE_OPEN
        };
        let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
        let h = match self.open_here(name, access, disposition, nt::FILE_NON_DIRECTORY_FILE) {
            Ok(h) => h,
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                return Err(if self.is_symlink(name) {
                    super::symlink_refused()
                } else {
                    not_regular()
                });
            }
            Err(e) => return Err(e),
        };
        match stat_handle(h.as_handle())?.kind {
            Kind::File => Ok(File::from(h)),
            Kind::Symlink => Err(super::symlink_refused()),
            _ => Err(not_regular()),
        }
    }

    pub fn make_writable(&self) -> io::Result<()> {
        let h = self.open_here(
            OsStr::new(""),
            fs::FILE_READ_ATTRIBUTES | fs::FILE_WRITE_ATTRIBUTES | fs::SYNCHRONIZE,
            nt::FILE_OPEN,
            nt::FILE_DIRECTORY_FILE,
        )?;
        clear_read_only(h.as_handle())
    }

    pub fn make_dir_accessible(&self, name: &OsStr) -> io::Result<()> {
        let h = self.open_here(
            name,
            fs::FILE_READ_ATTRIBUTES | fs::FILE_WRITE_ATTRIBUTES | fs::SYNCHRONIZE,
            nt::FILE_OPEN,
            0,
        )?;
        match stat_handle(h.as_handle())?.kind {
            Kind::Dir => clear_read_only(h.as_handle()),
            Kind::Symlink => Err(super::symlink_refused()),
            _ => Err(io::ErrorKind::NotADirectory.into()),
        }
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            h: self.h.try_clone()?,
        })
    }
}

/// Tests: makes `link` a junction (a mount-point reparse point, which needs no privilege) to
/// the directory `target`.
#[cfg(test)]
pub(crate) fn junction(link: &Path, target: &Path) -> io::Result<()> {
    use windows_sys::Win32::System::IO::DeviceIoControl;
    use windows_sys::Win32::System::Ioctl::FSCTL_SET_REPARSE_POINT;
    const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;
    std::fs::create_dir(link)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(fs::FILE_FLAG_BACKUP_SEMANTICS | fs::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(link)?;
    // REPARSE_DATA_BUFFER, MountPointReparseBuffer: the NT path, then an empty print name.
    let target: Vec<u16> = OsStr::new(r"\??\")
        .encode_wide()
        .chain(target.as_os_str().encode_wide())
        .collect();
    let sub_len = (target.len() * 2) as u16;
    let mut data: Vec<u8> = Vec::new();
    for v in [0, sub_len, sub_len + 2, 0] {
        data.extend(u16::to_le_bytes(v));
    }
    data.extend(target.iter().flat_map(|w| w.to_le_bytes()));
    data.extend([0; 4]);
    let mut buf = Vec::new();
    buf.extend(IO_REPARSE_TAG_MOUNT_POINT.to_le_bytes());
    buf.extend((data.len() as u16).to_le_bytes());
    buf.extend([0; 2]);
    buf.extend(data);
    let mut returned = 0u32;
    // SAFETY: `buf` is a complete REPARSE_DATA_BUFFER of the length passed, read only; no
    // output buffer (null, 0); `returned` is a live local; `f` is open; no OVERLAPPED.
    win32_result(unsafe {
        DeviceIoControl(
            f.as_raw_handle(),
            FSCTL_SET_REPARSE_POINT,
            buf.as_ptr().cast::<c_void>(),
            buf.len() as u32,
            ptr::null_mut(),
            0,
            &mut returned,
            ptr::null_mut(),
        )
    })
    .inspect_err(|_| {
        let _ = std::fs::remove_dir(link);
    })
}
