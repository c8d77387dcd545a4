//! [`super::Dir`] on Unix: `openat` and friends through `rustix`, every name relative to a
//! directory descriptor, `O_NOFOLLOW` / `AT_SYMLINK_NOFOLLOW` on every last component.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Entry, FileId, FileOptions, Filesystem, Kind, Stat, kind};

/// A directory opened for reading its entries.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// What an open that refused to follow a symlink returns: `ELOOP` for `O_NOFOLLOW`, `ENOTDIR`
/// when `O_DIRECTORY` is checked first (Linux), `EMLINK` on FreeBSD.
fn may_be_symlink(e: Errno) -> bool {
    e == Errno::LOOP || e == Errno::NOTDIR || (cfg!(target_os = "freebsd") && e == Errno::MLINK)
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY);

fn time(secs: i64, nsec: u64) -> SystemTime {
    let nsec = Duration::from_nanos(nsec.min(999_999_999));
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64) + nsec
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nsec
    }
}

// The field types of `struct stat` differ between targets; these casts widen them.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn stat_of(s: &rustix::fs::Stat) -> Stat {
    let kind = match FileType::from_raw_mode(s.st_mode as _) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    Stat {
        kind,
        len: (s.st_size as i64).max(0) as u64,
        allocated: (s.st_blocks as u64).saturating_mul(512),
        id: FileId {
            device: s.st_dev as u64,
            index: s.st_ino as u64,
        },
        links: s.st_nlink as u64,
        accessed: time(s.st_atime as i64, s.st_atime_nsec as u64),
        modified: time(s.st_mtime as i64, s.st_mtime_nsec as u64),
    }
}

pub fn stat_of_metadata(m: &std::fs::Metadata) -> Stat {
    use std::os::unix::fs::MetadataExt;
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Stat {
        kind,
        len: m.len(),
        allocated: m.blocks().saturating_mul(512),
        id: FileId {
            device: m.dev(),
            index: m.ino(),
        },
        links: m.nlink(),
        accessed: time(m.atime(), m.atime_nsec().max(0) as u64),
        modified: time(m.mtime(), m.mtime_nsec().max(0) as u64),
    }
}

pub fn lstat(path: &Path) -> io::Result<Stat> {
    path.symlink_metadata().map(|m| stat_of_metadata(&m))
}

pub fn file_stat(file: &File) -> io::Result<Stat> {
    rustix::fs::fstat(file).map(|s| stat_of(&s)).map_err(err)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn open_noatime(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOATIME | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(err)?;
    Ok(File::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn open_noatime(_path: &Path) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this platform cannot read a file without moving its access time",
    ))
}

/// Size, free space and device of the filesystem holding `path` (`statvfs`, `stat`).
fn space(path: &Path) -> io::Result<(u64, u64, u64, rustix::fs::StatVfs)> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(path)?.dev();
    let v = rustix::fs::statvfs(path).map_err(err)?;
    let block = if v.f_frsize > 0 {
        v.f_frsize
    } else {
        v.f_bsize
    };
    Ok((
        device,
        v.f_blocks.saturating_mul(block),
        v.f_bavail.saturating_mul(block),
        v,
    ))
}

/// Linux: the mount's `ST_NOATIME` (`statvfs`) and the filesystem's magic (`statfs`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    use rustix::fs::StatVfsMountFlags;
    let (device, size_bytes, free_bytes, v) = space(path)?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let magic = (rustix::fs::statfs(path).map_err(err)?.f_type as i64) as u64 & 0xffff_ffff;
    Ok(Filesystem {
        device,
        size_bytes,
        free_bytes,
        keeps_atime: !v.f_flag.contains(StatVfsMountFlags::NOATIME),
        network: kind::network_by_magic(magic as u32),
    })
}

/// macOS and FreeBSD: the mount's flags and filesystem type name (`statfs`).
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    let (device, size_bytes, free_bytes, _) = space(path)?;
    let f = rustix::fs::statfs(path).map_err(err)?;
    let name: Vec<u8> = (f.f_fstypename.iter())
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(Filesystem {
        device,
        size_bytes,
        free_bytes,
        #[allow(clippy::unnecessary_cast)]
        keeps_atime: (f.f_flags as u64) & (libc::MNT_NOATIME as u64) == 0,
        network: kind::network_by_name(&String::from_utf8_lossy(&name)),
    })
}

/// Other Unixes: sizes only; every filesystem reads as local and keeping access times.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
pub fn filesystem(path: &Path) -> io::Result<Filesystem> {
    let (device, size_bytes, free_bytes, _) = space(path)?;
    Ok(Filesystem {
        device,
        size_bytes,
        free_bytes,
        keeps_atime: true,
        network: None,
    })
}

/// What a listing says an entry is (`None`: the filesystem does not say; `stat` it).
fn kind_of(t: FileType) -> Option<Kind> {
    match t {
        FileType::RegularFile => Some(Kind::File),
        FileType::Directory => Some(Kind::Dir),
        FileType::Symlink => Some(Kind::Symlink),
        FileType::Unknown => None,
        _ => Some(Kind::Other),
    }
}

/// A listed entry, unless it is `.` or `..`.
fn push_entry(out: &mut Vec<Entry>, name: &[u8], kind: FileType) {
    if name != b"." && name != b".." {
        out.push(Entry {
            name: OsString::from(OsStr::from_bytes(name)),
            kind: kind_of(kind),
        });
    }
}

/// Bytes of `getdents` buffer: most directories of a target dir in one call.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LIST_BUF: usize = 64 << 10;

/// The `getdents` buffer of [`Dir::read_once`], allocated on first use.
#[derive(Default)]
pub struct ListBuf(#[allow(dead_code)] Vec<std::mem::MaybeUninit<u8>>);

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd =
            rustix::fs::openat(rustix::fs::CWD, path, DIR_FLAGS, Mode::empty()).map_err(err)?;
        Ok(Dir { fd })
    }

    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => Ok(Dir { fd }),
            Err(e) if may_be_symlink(e) && self.is_symlink(name) => Err(super::symlink_refused()),
            Err(e) => Err(err(e)),
        }
    }

    fn is_symlink(&self, name: &OsStr) -> bool {
        self.stat(name).is_ok_and(|s| s.kind == Kind::Symlink)
    }

    pub fn stat(&self, name: &OsStr) -> io::Result<Stat> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|s| stat_of(&s))
            .map_err(err)
    }

    pub fn metadata(&self) -> io::Result<Stat> {
        rustix::fs::fstat(&self.fd)
            .map(|s| stat_of(&s))
            .map_err(err)
    }

    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        // A fresh descriptor for the listing, so it always starts at the beginning.
        let mut d = rustix::fs::Dir::read_from(&self.fd).map_err(err)?;
        let mut out = Vec::new();
        while let Some(e) = d.read() {
            let e = e.map_err(err)?;
            push_entry(&mut out, e.file_name().to_bytes(), e.file_type());
        }
        Ok(out)
    }

    /// Elsewhere (macOS: no `getdents`; rustix has no raw listing) a fresh listing.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn read_once(&self, _buf: &mut ListBuf, out: &mut Vec<Entry>) -> io::Result<()> {
        out.extend(self.entries()?);
        Ok(())
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn read_once(&self, buf: &mut ListBuf, out: &mut Vec<Entry>) -> io::Result<()> {
        if buf.0.is_empty() {
            buf.0 = vec![std::mem::MaybeUninit::uninit(); LIST_BUF];
        }
        let mut d = rustix::fs::RawDir::new(&self.fd, &mut buf.0);
        while let Some(e) = d.next() {
            let e = e.map_err(err)?;
            push_entry(out, e.file_name().to_bytes(), e.file_type());
        }
        Ok(())
    }

    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(err)
    }

    pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR).map_err(err)
    }

    pub fn rename(&self, name: &OsStr, to: &Dir, new_name: &OsStr) -> io::Result<()> {
        rustix::fs::renameat(&self.fd, name, &to.fd, new_name).map_err(err)
    }

    pub fn replace_file(&self, name: &OsStr, new_name: &OsStr) -> io::Result<()> {
        // renameat replaces what is at `new_name` (a symlink itself, never its target).
        rustix::fs::renameat(&self.fd, name, &self.fd, new_name).map_err(err)
    }

    pub fn create_dir(&self, name: &OsStr) -> io::Result<()> {
        // mkdirat never follows a symlink in the last component: EEXIST instead.
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)).map_err(err)
    }

    pub fn open_file(&self, name: &OsStr, opts: FileOptions) -> io::Result<File> {
        // O_NONBLOCK: opening a FIFO planted at a lock file's name must not hang; it is
        // refused below, and cleared for the regular file we keep.
        let mut flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        flags |= if opts.write {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        if opts.create {
            flags |= OFlags::CREATE;
        }
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => fd,
            Err(e) if may_be_symlink(e) && self.is_symlink(name) => {
                return Err(super::symlink_refused());
            }
            Err(e) => return Err(err(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(err)?;
        if FileType::from_raw_mode(st.st_mode as _) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let fl = rustix::fs::fcntl_getfl(&fd).map_err(err)?;
        rustix::fs::fcntl_setfl(&fd, fl - OFlags::NONBLOCK).map_err(err)?;
        Ok(File::from(fd))
    }

    pub fn make_writable(&self) -> io::Result<()> {
        let st = rustix::fs::fstat(&self.fd).map_err(err)?;
        let mode = Mode::from_raw_mode(st.st_mode as _) & Mode::from_raw_mode(0o7777);
        rustix::fs::fchmod(&self.fd, mode | Mode::RWXU).map_err(err)
    }

    /// Linux: `fchmodat` cannot refuse a symlink before 6.6 (`fchmodat2`), so the directory is
    /// pinned with an `O_PATH | O_NOFOLLOW` descriptor (which needs no permission on it) and
    /// changed through `/proc/self/fd`, which names exactly that inode.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn make_dir_accessible(&self, name: &OsStr) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) if may_be_symlink(e) && self.is_symlink(name) => {
                return Err(super::symlink_refused());
            }
            Err(e) => return Err(err(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(err)?;
        let mode = Mode::from_raw_mode(st.st_mode as _) & Mode::from_raw_mode(0o7777);
        let magic = format!("/proc/self/fd/{}", fd.as_raw_fd());
        rustix::fs::chmod(magic.as_str(), mode | Mode::RWXU).map_err(err)
    }

    /// Elsewhere `fchmodat(AT_SYMLINK_NOFOLLOW)` changes a symlink itself, never its target.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn make_dir_accessible(&self, name: &OsStr) -> io::Result<()> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
        match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Directory => {}
            FileType::Symlink => return Err(super::symlink_refused()),
            _ => return Err(io::ErrorKind::NotADirectory.into()),
        }
        let mode = Mode::from_raw_mode(st.st_mode as _) & Mode::from_raw_mode(0o7777);
        rustix::fs::chmodat(&self.fd, name, mode | Mode::RWXU, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(err)
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
        })
    }
}
