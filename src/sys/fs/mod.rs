//! Directory handles: the filesystem part of the OS floor.
//!
//! Everything that deletes, creates or locks inside a Cargo home or a target dir goes through
//! a [`Dir`]: a handle opened once from a path the user gave (that path is followed, so a
//! symlinked `~/.cargo` works), and from then on only *relative to handles*, one name at a
//! time, never following a symlink. Once a directory is open, renaming or replacing its path
//! (say, swapping it for a symlink to `/home/someone/important`) changes nothing for us: we
//! keep working on the directory we opened. This is how std's `remove_dir_all` closed
//! CVE-2022-21658, and what a path-based remover (check the path, then act on the path) cannot
//! do: between the check and the act, the path can come to mean something else.
//!
//! The rules every method keeps:
//! * a name is one component: no `/`, not `.` or `..` (anything else is `InvalidInput`);
//! * nothing follows a symlink in the last component: [`Dir::open_dir`] and [`Dir::open_file`]
//!   refuse one (an error for which [`is_symlink`] is true), [`Dir::stat`] describes the
//!   link itself, [`Dir::remove_file`] removes the link itself;
//! * errors are `io::Error`s with the platform's error mapped to its `io::ErrorKind`
//!   (`CrossesDevices`, `DirectoryNotEmpty`, `NotADirectory`, `ReadOnlyFilesystem`, …), so no
//!   code above this module looks at an errno.
//!
//! The signatures carry no platform type. The Unix implementation (`unix.rs`) uses `openat`,
//! `fstatat`, `unlinkat`, `renameat` and `mkdirat` through `rustix`. A Windows one can keep
//! the same shape with handle-relative `NtCreateFile` (`FILE_OPEN_REPARSE_POINT` to refuse
//! reparse points) and `SetFileInformationByHandle` for renames and deletion, as std's
//! `remove_dir_all` does on Windows; until it exists every call there fails with
//! `Unsupported`.
//!
//! [`DirStack`] walks deep trees with a bounded number of open handles: a path longer than
//! `PATH_MAX` (a `node_modules` in a build script's `OUT_DIR`) is just a deeper stack.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::SystemTime;

pub mod kind;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

#[cfg(not(any(unix, windows)))]
mod unsupported;
#[cfg(not(any(unix, windows)))]
use unsupported as imp;

/// What a directory entry is, seen without following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// A file's identity on this machine (device and inode on Unix): two names with the same
/// `FileId` are hard links to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    device: u64,
    index: u64,
}

impl FileId {
    /// The identity another OS interface reports: a device and an inode (macOS libproc gives
    /// a descriptor's, in the same units as `stat`'s `st_dev` and `st_ino`), or a volume's
    /// serial number and the file's index on it (Windows' `GetFileInformationByHandle`).
    #[cfg_attr(not(any(target_os = "macos", windows)), allow(dead_code))]
    pub(crate) fn from_raw(device: u64, index: u64) -> FileId {
        FileId { device, index }
    }
}

/// The facts of one entry, seen without following it.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub kind: Kind,
    /// Apparent length in bytes (for a symlink, the length of its target's name).
    pub len: u64,
    /// Bytes allocated on disk.
    pub allocated: u64,
    pub id: FileId,
    /// Hard links to this file.
    pub links: u64,
    pub accessed: SystemTime,
    pub modified: SystemTime,
}

#[cfg(unix)]
impl Stat {
    /// The facts std already read (Unix: every field is in `Metadata`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn of_metadata(m: &std::fs::Metadata) -> Stat {
        imp::stat_of_metadata(m)
    }
}

impl FileId {
    /// The identity as two numbers (device or volume, then index), for plain tables.
    pub fn pair(self) -> (u64, u64) {
        (self.device, self.index)
    }
}

/// The facts of `path` itself: a symlink (on Windows, any reparse point) in its last
/// component is described, not followed. For read-only code that walks by path; anything
/// that deletes or locks uses a [`Dir`].
pub fn lstat(path: &Path) -> io::Result<Stat> {
    imp::lstat(path)
}

/// The facts of an open file.
pub fn file_stat(file: &File) -> io::Result<Stat> {
    imp::file_stat(file)
}

/// Opens the regular file at `path` for reading without moving its access time (Linux's
/// `O_NOATIME`). `Unsupported` where that cannot be promised: then the caller must not read
/// a file whose atime it relies on.
pub fn open_noatime(path: &Path) -> io::Result<File> {
    imp::open_noatime(path)
}

pub use kind::{Filesystem, facts as filesystem};

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    /// What the listing says it is, when it says (else `stat` it).
    pub kind: Option<Kind>,
}

/// A buffer for [`Dir::read_once`], kept by a walker between directories.
#[derive(Default)]
pub struct ListBuf(imp::ListBuf);

/// How [`Dir::open_file`] opens a regular file (always for reading).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileOptions {
    pub write: bool,
    /// Create the file if it is missing (never through a symlink).
    pub create: bool,
}

/// The error for a symlink met where none may be followed.
#[derive(Debug)]
struct SymlinkRefused;

impl std::fmt::Display for SymlinkRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if cfg!(windows) {
            f.write_str("it is a symlink or junction (a reparse point), which is never followed")
        } else {
            f.write_str("it is a symlink, which is never followed")
        }
    }
}

impl std::error::Error for SymlinkRefused {}

#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
fn symlink_refused() -> io::Error {
    io::Error::other(SymlinkRefused)
}

/// Whether `e` is the refusal to follow a symlink ([`Dir::open_dir`], [`Dir::open_file`]).
pub fn is_symlink(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<SymlinkRefused>())
}

/// Fails unless `name` is a single path component.
fn check_name(name: &OsStr) -> io::Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.as_encoded_bytes().contains(&b'/')
        || (cfg!(windows)
            && (name.as_encoded_bytes().contains(&b'\\')
                || name.as_encoded_bytes().contains(&b':')));
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a single file name", name.to_string_lossy()),
        ));
    }
    Ok(())
}

/// An open directory. Every method works relative to it and never follows a symlink in the
/// name it is given.
#[derive(Debug)]
pub struct Dir(imp::Dir);

impl Dir {
    /// Opens the directory at `path`, following symlinks in it: the one place a path is
    /// resolved, for a root the user named.
    pub fn open(path: &Path) -> io::Result<Dir> {
        imp::Dir::open(path).map(Dir)
    }

    /// Opens the subdirectory `name`. A symlink is refused ([`is_symlink`]), a non-directory
    /// is `NotADirectory`.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> io::Result<Dir> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.open_dir(name).map(Dir)
    }

    /// The facts of `name` itself (a symlink is described, not followed).
    pub fn stat(&self, name: impl AsRef<OsStr>) -> io::Result<Stat> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.stat(name)
    }

    /// The facts of this directory.
    pub fn metadata(&self) -> io::Result<Stat> {
        self.0.metadata()
    }

    /// Every entry but `.` and `..`, in the order the filesystem lists them.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        self.0.entries()
    }

    /// The entries of a directory this handle has not listed before, read from the handle's
    /// own position into `out` (cleared first), with `buf` reused between calls: one
    /// `getdents` per buffer-full on Linux, no second handle. For walkers, which list each
    /// handle they open once; [`Dir::entries`] lists from the start every time.
    pub fn read_once(&self, buf: &mut ListBuf, out: &mut Vec<Entry>) -> io::Result<()> {
        out.clear();
        self.0.read_once(&mut buf.0, out)
    }

    /// Removes the non-directory `name` (a symlink itself, never its target).
    pub fn remove_file(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.remove_file(name)
    }

    /// Removes the empty directory `name`.
    pub fn remove_dir(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.remove_dir(name)
    }

    /// Renames `name` here to `new_name` in `to`, atomically (`CrossesDevices` when `to` is
    /// on another filesystem). Whatever `name` is (a symlink too) is moved, not followed.
    pub fn rename(
        &self,
        name: impl AsRef<OsStr>,
        to: &Dir,
        new_name: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (name, new_name) = (name.as_ref(), new_name.as_ref());
        check_name(name)?;
        check_name(new_name)?;
        self.0.rename(name, &to.0, new_name)
    }

    /// Renames the file `name` here to `new_name` here, replacing a file already there, in one
    /// step (`renameat` on Unix; `FileRenameInformation` with `ReplaceIfExists` on Windows,
    /// where [`Dir::rename`] never replaces): readers see the old file or the new one.
    pub fn replace_file(
        &self,
        name: impl AsRef<OsStr>,
        new_name: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (name, new_name) = (name.as_ref(), new_name.as_ref());
        check_name(name)?;
        check_name(new_name)?;
        self.0.replace_file(name, new_name)
    }

    /// Creates the directory `name` (`AlreadyExists` if anything has that name, a dangling
    /// symlink included: nothing is created at its target).
    pub fn create_dir(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.create_dir(name)
    }

    /// Opens the regular file `name` (creating it here if asked). A symlink is refused
    /// ([`is_symlink`]), dangling or not, and nothing is created at its target; anything but
    /// a regular file is `InvalidInput`.
    pub fn open_file(&self, name: impl AsRef<OsStr>, opts: FileOptions) -> io::Result<File> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.open_file(name, opts)
    }

    /// Gives the owner read, write and search permission on this directory (through the
    /// handle), so that its entries can be removed.
    pub fn make_writable(&self) -> io::Result<()> {
        self.0.make_writable()
    }

    /// Gives the owner read, write and search permission on the subdirectory `name`, which
    /// could not be opened. A symlink is refused, never followed.
    pub fn make_dir_accessible(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        self.0.make_dir_accessible(name)
    }

    /// A second handle to the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        self.0.try_clone().map(Dir)
    }
}

/// Tests: makes a symlink at `link` to `target` (on Windows a directory symlink when
/// `target` is a directory, else a file symlink).
#[cfg(test)]
pub(crate) fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    return {
        let link = link.as_ref();
        if target.as_ref().is_dir() {
            std::os::windows::fs::symlink_dir(target, link)?;
        } else {
            std::os::windows::fs::symlink_file(target, link)?;
        }
        // Wine 8 says yes and makes nothing.
        match link.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "symlinks cannot be made here",
            )),
        }
    };
}

/// Tests: true, after saying so, where symlinks cannot be made (Windows without the
/// privilege or Developer Mode; Wine 8, which has no reparse points at all). A test that
/// needs them then returns at once.
#[cfg(test)]
pub(crate) fn skip_without_symlinks() -> bool {
    static CAN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let can = *CAN.get_or_init(|| {
        let t = tempfile::tempdir().expect("a temporary directory");
        symlink(t.path(), t.path().join("link")).is_ok()
    });
    if !can {
        eprintln!("skipped: symlinks cannot be made on this system");
    }
    !can
}

/// How many directory handles a [`DirStack`] keeps open below its top.
pub const OPEN_DIRS: usize = 24;

struct Frame<T> {
    name: OsString,
    id: FileId,
    dir: Option<Dir>,
    state: T,
}

/// The directories from a walk's top down to where the walk is, each opened relative to the
/// one above it without following symlinks, with a state `T` per directory.
///
/// At most `window` of the deepest handles stay open, plus the top's, so a tree of any depth
/// is walked with a bounded number of descriptors. A directory whose handle was closed is
/// opened again from the deepest open one above it, one name at a time, and must be the very
/// directory it was (same [`FileId`]); if the tree was rearranged meanwhile the walk gets an
/// error instead of carrying on somewhere else.
pub struct DirStack<T> {
    frames: Vec<Frame<T>>,
    window: usize,
}

impl<T> DirStack<T> {
    pub fn new(top: Dir, state: T, window: usize) -> io::Result<DirStack<T>> {
        let id = top.metadata()?.id;
        Ok(DirStack {
            frames: vec![Frame {
                name: OsString::new(),
                id,
                dir: Some(top),
                state,
            }],
            window: window.max(1),
        })
    }

    /// How many directories deep the walk is (1: at the top).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The deepest directory and its state (opened again if its handle was closed).
    pub fn top(&mut self) -> io::Result<(&Dir, &mut T)> {
        self.reopen()?;
        let f = self.frames.last_mut().expect("a stack is never used empty");
        Ok((f.dir.as_ref().expect("reopened"), &mut f.state))
    }

    /// Opens `name` in the deepest directory (never following a symlink) and goes into it.
    pub fn push(&mut self, name: &OsStr, state: T) -> io::Result<()> {
        let (dir, _) = self.top()?;
        let child = dir.open_dir(name)?;
        let id = child.metadata()?.id;
        self.frames.push(Frame {
            name: name.to_owned(),
            id,
            dir: Some(child),
            state,
        });
        // Close the handle that just left the window (never the top's).
        let n = self.frames.len();
        if n > self.window + 1 {
            self.frames[n - 1 - self.window].dir = None;
        }
        Ok(())
    }

    /// Leaves the deepest directory, returning its name in the one above and its state.
    pub fn pop(&mut self) -> Option<(OsString, T)> {
        self.frames.pop().map(|f| (f.name, f.state))
    }

    /// Opens the deepest directory again if its handle was closed, from the deepest open
    /// ancestor, checking that each directory on the way is the one that was there.
    fn reopen(&mut self) -> io::Result<()> {
        let last = self.frames.len() - 1;
        if self.frames[last].dir.is_some() {
            return Ok(());
        }
        let start = (0..last)
            .rev()
            .find(|&i| self.frames[i].dir.is_some())
            .expect("the top stays open");
        let mut held: Option<Dir> = None;
        for m in start + 1..=last {
            let parent = match &held {
                Some(d) => d,
                None => self.frames[m - 1].dir.as_ref().expect("open"),
            };
            let d = parent.open_dir(&self.frames[m].name)?;
            if d.metadata()?.id != self.frames[m].id {
                return Err(io::Error::other(format!(
                    "`{}` was replaced while being walked",
                    self.frames[m].name.to_string_lossy()
                )));
            }
            if m + self.window > last {
                self.frames[m].dir = Some(d);
                held = None;
            } else {
                held = Some(d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path()).unwrap();
        (t, d)
    }

    #[test]
    fn names_are_single_components() {
        let (_t, d) = tmp();
        let windows: &[&str] = if cfg!(windows) { &["a\\b", "c:d"] } else { &[] };
        for &bad in ["", ".", "..", "a/b", "/etc"].iter().chain(windows) {
            let e = d.stat(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn symlinks_are_refused_or_described_never_followed() {
        if skip_without_symlinks() {
            return;
        }
        let (t, d) = tmp();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        symlink(&outside, t.path().join("to-dir")).unwrap();
        symlink(t.path().join("outside/nothing"), t.path().join("dangling")).unwrap();
        std::fs::write(t.path().join("file"), "x").unwrap();

        assert!(is_symlink(&d.open_dir("to-dir").unwrap_err()));
        assert!(is_symlink(&d.open_dir("dangling").unwrap_err()));
        assert_eq!(
            d.open_dir("file").unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
        let create = FileOptions {
            write: true,
            create: true,
        };
        assert!(is_symlink(&d.open_file("dangling", create).unwrap_err()));
        assert!(!outside.join("nothing").exists(), "nothing created there");
        assert_eq!(
            d.create_dir("dangling").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(!outside.join("nothing").exists());
        assert_eq!(d.stat("to-dir").unwrap().kind, Kind::Symlink);
        d.remove_file("to-dir").unwrap();
        assert!(outside.is_dir());
        assert_eq!(
            d.open_file("to-dir", FileOptions::default())
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn removal_by_handle_counts_links_and_copes_with_read_only_files() {
        let (t, d) = tmp();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), "12345").unwrap();
        std::fs::hard_link(t.path().join("d/f"), t.path().join("d/g")).unwrap();
        let mut ro = std::fs::metadata(t.path().join("d/f"))
            .unwrap()
            .permissions();
        ro.set_readonly(true);
        std::fs::set_permissions(t.path().join("d/f"), ro).unwrap();
        let sub = d.open_dir("d").unwrap();
        let mut names: Vec<_> = sub.entries().unwrap().into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["f", "g"]);
        let (f, g) = (sub.stat("f").unwrap(), sub.stat("g").unwrap());
        assert_eq!((f.kind, f.len, f.links), (Kind::File, 5, 2));
        assert_eq!(f.id, g.id, "hard links are one file");
        assert_ne!(f.id, d.stat("d").unwrap().id);
        assert_eq!(
            d.remove_dir("d").unwrap_err().kind(),
            io::ErrorKind::DirectoryNotEmpty
        );
        assert_eq!(
            d.remove_file("d").unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        assert_eq!(
            sub.remove_dir("f").unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
        // Read-only, and open elsewhere (std shares deletion): removed all the same.
        let held = File::open(t.path().join("d/g")).unwrap();
        sub.remove_file("f").unwrap();
        // Without POSIX delete semantics (FAT, Wine) the name goes with the last handle.
        drop(held);
        assert_eq!(sub.stat("g").unwrap().links, 1);
        sub.remove_file("g").unwrap();
        assert_eq!(sub.stat("g").unwrap_err().kind(), io::ErrorKind::NotFound);
        drop(sub);
        d.remove_dir("d").unwrap();
        assert!(!t.path().join("d").exists());
    }

    #[test]
    fn files_are_created_here_renamed_by_handle_and_only_regular_ones_opened() {
        let (t, d) = tmp();
        let create = FileOptions {
            write: true,
            create: true,
        };
        std::io::Write::write_all(&mut d.open_file("lock", create).unwrap(), b"x").unwrap();
        assert_eq!(std::fs::read(t.path().join("lock")).unwrap(), b"x");
        d.create_dir("sub").unwrap();
        assert_eq!(
            d.create_dir("sub").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            d.open_file("sub", FileOptions::default())
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidInput
        );
        let sub = d.open_dir("sub").unwrap();
        d.rename("lock", &sub, "moved").unwrap();
        assert_eq!(std::fs::read(t.path().join("sub/moved")).unwrap(), b"x");
        d.create_dir("dir").unwrap();
        std::fs::write(t.path().join("dir/inside"), "y").unwrap();
        d.rename("dir", &sub, "dir2").unwrap();
        assert!(t.path().join("sub/dir2/inside").is_file());
        assert_eq!(
            d.rename("nothing", &sub, "x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let kinds: Vec<_> = sub.entries().unwrap().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&Some(Kind::Dir)) || kinds.contains(&None));
        d.make_writable().unwrap();
        d.make_dir_accessible("sub").unwrap();
    }

    /// A junction (a directory reparse point any user may make) is refused, described, and
    /// removed as itself, never followed.
    #[cfg(windows)]
    #[test]
    fn junctions_are_refused_or_described_never_followed() {
        let (t, d) = tmp();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "k").unwrap();
        if let Err(e) = windows::junction(&t.path().join("j"), &outside) {
            eprintln!("skipped: junctions cannot be made on this system ({e})");
            return;
        }
        assert_eq!(d.stat("j").unwrap().kind, Kind::Symlink);
        assert!(is_symlink(&d.open_dir("j").unwrap_err()));
        let opts = FileOptions::default();
        assert!(is_symlink(&d.open_file("j", opts).unwrap_err()));
        assert!(is_symlink(&d.make_dir_accessible("j").unwrap_err()));
        assert_eq!(
            d.remove_dir("j").unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
        d.remove_file("j").unwrap();
        assert!(outside.join("keep").is_file(), "the target is untouched");
        assert!(t.path().join("j").symlink_metadata().is_err());
    }

    #[cfg(unix)]
    #[test]
    fn rename_across_filesystems_is_crosses_devices() {
        // /dev/shm is tmpfs on Linux; skip where it is not another filesystem.
        let shm = Path::new("/dev/shm");
        let (t, d) = tmp();
        let Ok(other) = tempfile::tempdir_in(shm) else {
            return;
        };
        let o = Dir::open(other.path()).unwrap();
        if o.metadata().unwrap().id.device == d.metadata().unwrap().id.device {
            return;
        }
        std::fs::create_dir(t.path().join("x")).unwrap();
        let e = d.rename("x", &o, "y").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::CrossesDevices);
    }

    #[test]
    fn a_deep_walk_keeps_few_handles_and_notices_a_replaced_directory() {
        let (t, top) = tmp();
        let mut cur = top.try_clone().unwrap();
        for _ in 0..40 {
            cur.create_dir("d").unwrap();
            cur = cur.open_dir("d").unwrap();
        }
        let mut s = DirStack::new(top.try_clone().unwrap(), 0usize, 3).unwrap();
        for i in 1..=40 {
            s.push(OsStr::new("d"), i).unwrap();
        }
        assert!(s.frames.iter().filter(|f| f.dir.is_some()).count() <= 4);
        // Back up past the window: the handles are opened again.
        for _ in 0..10 {
            s.pop();
        }
        let (_, state) = s.top().unwrap();
        assert_eq!(*state, 30);
        // Replace a directory above the window: the walk refuses to go on elsewhere.
        for _ in 0..5 {
            s.pop();
        }
        let mut p = t.path().to_owned();
        for _ in 0..10 {
            p.push("d");
        }
        std::fs::rename(&p, t.path().join("moved")).unwrap();
        std::fs::create_dir_all(p.join("d/d/d/d/d/d/d/d/d/d/d/d/d/d/d")).unwrap();
        let e = s.top().unwrap_err();
        assert!(e.to_string().contains("replaced"), "{e}");
    }
}
