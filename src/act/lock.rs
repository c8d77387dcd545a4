//! Cargo's package-cache locks, taken the way Cargo takes them (cargo-internals.md §3).
//!
//! Deleting anything under `registry/` or `git/` needs Cargo's `MutateExclusive` mode:
//! `flock(LOCK_EX)` on `$CARGO_HOME/.package-cache-mutate`, **then** on
//! `$CARGO_HOME/.package-cache`. Builds hold the first one shared while they compile, and every
//! download, resolution and `.global-cache` access holds the second one exclusively, so with
//! both held nothing in Cargo reads or writes the caches. As in Cargo, a non-blocking attempt
//! comes first; only if it would block do we say so and wait (or give up, when told not to
//! wait). The lock files are opened (created if needed, never deleted) and released by closing.
//!
//! A lock file is opened relative to a handle on its directory, never following a symlink
//! ([`crate::sys::fs::Dir::open_file`]), and created, as Cargo does, only there. A symlink at
//! `.package-cache`, `.package-cache-mutate` or a build lock's name is refused with an error
//! naming it: run as root over other users' directories, following a dangling one would create
//! a file wherever it points, and locking a file elsewhere would not exclude the cargos that
//! use this directory. A profile directory is reached from the target dir's handle through
//! real directories only.

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys::fs::{self as sysfs, Dir, FileOptions, Kind};

/// What to do when a lock is held by someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Wait for it (after telling the user who holds it).
    Block,
    /// Give up at once.
    NoWait,
}

impl Wait {
    /// [`Wait::NoWait`] if `no_wait`, else [`Wait::Block`].
    pub fn unless(no_wait: bool) -> Wait {
        if no_wait { Wait::NoWait } else { Wait::Block }
    }
}

/// Cargo's two package-cache lock files, with the words Cargo's "Blocking" message uses.
pub const MUTATE: (&str, &str) = (".package-cache-mutate", "package cache mutation");
pub const DOWNLOAD: (&str, &str) = (".package-cache", "package cache");

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the {what} lock (`{}`) is held by another process", path.display())]
    Busy { what: &'static str, path: PathBuf },
    #[error("cannot open the {what} lock `{}`: {source}", path.display())]
    Open {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot lock `{}`: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("refusing to use `{}`: it is a symlink; Cargo's lock files are never followed", path.display())]
    Symlink { path: PathBuf },
    #[error(
        "refusing to lock `{}`: `{}` is a symlink; build directories are reached through real directories only",
        profile.display(),
        link.display()
    )]
    SymlinkedDir { profile: PathBuf, link: PathBuf },
}

impl LockError {
    /// Whether the home is read-only (nothing can be changed there anyway).
    pub fn is_read_only(&self) -> bool {
        matches!(self, LockError::Open { source, .. }
            if source.kind() == io::ErrorKind::ReadOnlyFilesystem
                || source.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// Both package-cache locks, held until dropped.
#[derive(Debug)]
pub struct MutateExclusive {
    /// The Cargo home, as given.
    root: PathBuf,
    _mutate: File,
    _download: File,
}

/// Opens (creating it if needed) the lock file `file` in `dir`, shown as `dir_path`.
fn open(
    dir: &Dir,
    dir_path: &Path,
    (file, what): (&str, &'static str),
) -> Result<(File, PathBuf), LockError> {
    let path = dir_path.join(file);
    let opts = FileOptions {
        write: true,
        create: true,
    };
    match dir.open_file(file, opts) {
        Ok(f) => Ok((f, path)),
        Err(e) if sysfs::is_symlink(&e) => Err(LockError::Symlink { path }),
        Err(source) => Err(LockError::Open { what, path, source }),
    }
}

/// How many times this process waited for a lock another process held, and for how long in
/// all (nanoseconds): one process is one run, and `tidy --metrics` reports them.
static WAITS: AtomicU64 = AtomicU64::new(0);
static WAITED_NANOS: AtomicU64 = AtomicU64::new(0);

/// How many times this process waited for a lock a build held, and how long in all.
pub fn waits() -> (u64, Duration) {
    (
        WAITS.load(Ordering::Relaxed),
        Duration::from_nanos(WAITED_NANOS.load(Ordering::Relaxed)),
    )
}

/// Takes one lock exclusively: try first, then wait (calling `on_block`) or give up.
fn acquire(
    dir: &Dir,
    dir_path: &Path,
    which: (&str, &'static str),
    wait: Wait,
    on_block: &mut dyn FnMut(&'static str, &Path),
) -> Result<File, LockError> {
    let (file, path) = open(dir, dir_path, which)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => match wait {
            Wait::NoWait => Err(LockError::Busy {
                what: which.1,
                path,
            }),
            Wait::Block => {
                on_block(which.1, &path);
                let started = Instant::now();
                let locked = file.lock();
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                WAITS.fetch_add(1, Ordering::Relaxed);
                WAITED_NANOS.fetch_add(nanos, Ordering::Relaxed);
                locked.map_err(|source| LockError::Lock { path, source })?;
                Ok(file)
            }
        },
        Err(TryLockError::Error(source)) => Err(LockError::Lock { path, source }),
    }
}

/// Opens the directory a lock file lives in, as given (a symlinked home is fine).
fn open_root(path: &Path, which: (&str, &'static str)) -> Result<Dir, LockError> {
    Dir::open(path).map_err(|source| LockError::Open {
        what: which.1,
        path: path.join(which.0),
        source,
    })
}

impl MutateExclusive {
    /// Cargo's `MutateExclusive`: the mutate lock, then the package-cache lock. With
    /// [`Wait::NoWait`], if the second is busy the first is released again (as Cargo's
    /// automatic clean does).
    pub fn acquire(
        home: &Path,
        wait: Wait,
        on_block: &mut dyn FnMut(&'static str, &Path),
    ) -> Result<MutateExclusive, LockError> {
        let dir = open_root(home, MUTATE)?;
        let mutate = acquire(&dir, home, MUTATE, wait, on_block)?;
        let download = acquire(&dir, home, DOWNLOAD, wait, on_block)?;
        Ok(MutateExclusive {
            root: home.to_owned(),
            _mutate: mutate,
            _download: download,
        })
    }
}

/// A target or build directory's locks, held until dropped.
#[derive(Debug)]
pub struct BuildLocks {
    /// The target (or build) directory, as given.
    root: PathBuf,
    _files: Vec<File>,
}

/// The locks a removal needs, held: [`super::executor::execute`] takes this value, so nothing
/// is removed from a Cargo home without its `MutateExclusive`, or from a target dir without
/// its build locks.
#[derive(Clone, Copy, Debug)]
pub enum Held<'a> {
    /// A Cargo home's package-cache locks.
    Home(&'a MutateExclusive),
    /// A target dir's build locks (the profile directories it holds).
    Target(&'a [BuildLocks]),
}

impl Held<'_> {
    /// Whether these are the locks of the Cargo home (`home`) or target dir (not `home`) at
    /// `root`.
    pub fn cover(&self, root: &Path, home: bool) -> bool {
        match self {
            Held::Home(l) => home && l.root == root,
            Held::Target(ls) => !home && !ls.is_empty() && ls.iter().all(|l| l.root == root),
        }
    }
}

/// The build-dir lock files in the order cargo 1.96+ takes them; `.cargo-lock` is the only
/// one before 1.96.
pub const BUILD_LOCK_NAMES: [&str; 3] =
    [".cargo-build-lock", ".cargo-lock", ".cargo-artifact-lock"];

impl BuildLocks {
    /// Takes, exclusively, every lock file of every profile directory of the target (or
    /// build) directory `root`, in the order given (host profiles first, as Cargo does):
    /// whatever cargo wrote the directory (≤ 1.95 takes `.cargo-lock` exclusively; 1.96+
    /// takes `.cargo-build-lock` and `.cargo-artifact-lock` exclusively and `.cargo-lock`
    /// shared), none of them can build there while we hold these. `.cargo-lock` is always
    /// taken (created if needed), so an old cargo is excluded even from a directory only a new
    /// one has used. Each profile is reached from `root`'s handle through real directories.
    pub fn acquire(
        root: &Path,
        profiles: &[PathBuf],
        wait: Wait,
        on_block: &mut dyn FnMut(&'static str, &Path),
    ) -> Result<BuildLocks, LockError> {
        let what = "build directory";
        let mut files = Vec::new();
        let top = open_root(root, (".cargo-lock", what))?;
        for profile in profiles {
            let dir = open_profile(&top, root, profile)?;
            for name in BUILD_LOCK_NAMES {
                let take = name == ".cargo-lock"
                    || match dir.stat(name) {
                        Ok(st) => st.kind != Kind::Dir,
                        Err(_) => false,
                    };
                if take {
                    files.push(acquire(&dir, profile, (name, what), wait, on_block)?);
                }
            }
        }
        Ok(BuildLocks {
            root: root.to_owned(),
            _files: files,
        })
    }
}

/// The profile directory `profile` (a path below `root`), opened from `root`'s handle one
/// real directory at a time.
fn open_profile(top: &Dir, root: &Path, profile: &Path) -> Result<Dir, LockError> {
    let open_err = |source: io::Error| LockError::Open {
        what: "build directory",
        path: profile.join(".cargo-lock"),
        source,
    };
    let rel = profile.strip_prefix(root).map_err(|_| {
        open_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not inside `{}`", root.display()),
        ))
    })?;
    let mut dir = top.try_clone().map_err(open_err)?;
    let mut at = root.to_owned();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(open_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain path",
            )));
        };
        at.push(name);
        dir = match dir.open_dir(OsStr::new(name)) {
            Ok(d) => d,
            Err(e) if sysfs::is_symlink(&e) => {
                return Err(LockError::SymlinkedDir {
                    profile: profile.to_owned(),
                    link: at,
                });
            }
            Err(e) => return Err(open_err(e)),
        };
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fs::symlink;

    fn no_block() -> impl FnMut(&'static str, &Path) {
        |_, _| panic!("nothing holds these locks")
    }

    #[test]
    fn lock_files_are_created_in_place_and_a_symlinked_home_is_fine() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir(&home).unwrap();
        symlink(&home, t.path().join("link")).unwrap();
        let l = MutateExclusive::acquire(&t.path().join("link"), Wait::NoWait, &mut no_block())
            .unwrap();
        assert!(home.join(".package-cache").is_file());
        assert!(home.join(".package-cache-mutate").is_file());
        drop(l);
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_nothing_is_created() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        for name in [".package-cache-mutate", ".package-cache"] {
            for dangling in [true, false] {
                let t = tempfile::tempdir().unwrap();
                let home = t.path().join("home");
                std::fs::create_dir(&home).unwrap();
                let target = t.path().join("victim");
                if !dangling {
                    std::fs::write(&target, "precious").unwrap();
                }
                symlink(&target, home.join(name)).unwrap();
                let e = MutateExclusive::acquire(&home, Wait::NoWait, &mut no_block()).unwrap_err();
                assert!(matches!(e, LockError::Symlink { .. }), "{name}: {e}");
                let msg = e.to_string();
                assert!(
                    msg.contains(name) && msg.contains("never followed"),
                    "{msg}"
                );
                if dangling {
                    assert!(target.symlink_metadata().is_err(), "{name}: created");
                } else {
                    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
                }
            }
        }
    }

    #[test]
    fn build_locks_refuse_symlinked_lock_files_and_profile_dirs() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(root.join("debug")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // A dangling `.cargo-lock`.
        symlink(outside.join("created"), root.join("debug/.cargo-lock")).unwrap();
        let e = BuildLocks::acquire(&root, &[root.join("debug")], Wait::NoWait, &mut no_block())
            .unwrap_err();
        assert!(matches!(e, LockError::Symlink { .. }), "{e}");
        // A symlinked `.cargo-build-lock` (cargo 1.96+) is refused too.
        std::fs::remove_file(root.join("debug/.cargo-lock")).unwrap();
        std::fs::write(outside.join("other"), "").unwrap();
        symlink(outside.join("other"), root.join("debug/.cargo-build-lock")).unwrap();
        let e = BuildLocks::acquire(&root, &[root.join("debug")], Wait::NoWait, &mut no_block())
            .unwrap_err();
        assert!(e.to_string().contains(".cargo-build-lock"), "{e}");
        // A profile dir (or a directory above it) that is a symlink.
        std::fs::create_dir_all(outside.join("release")).unwrap();
        symlink(outside.join("release"), root.join("release")).unwrap();
        symlink(&outside, root.join("x86_64-unknown-linux-gnu")).unwrap();
        for p in ["release", "x86_64-unknown-linux-gnu/release"] {
            let e = BuildLocks::acquire(&root, &[root.join(p)], Wait::NoWait, &mut no_block())
                .unwrap_err();
            assert!(matches!(e, LockError::SymlinkedDir { .. }), "{p}: {e}");
        }
        let mut left: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["other", "release"]);
        assert_eq!(
            std::fs::read_dir(outside.join("release")).unwrap().count(),
            0
        );
        // Real directories get their `.cargo-lock`.
        std::fs::create_dir_all(root.join("host/debug")).unwrap();
        BuildLocks::acquire(
            &root,
            &[root.join("host/debug")],
            Wait::NoWait,
            &mut no_block(),
        )
        .unwrap();
        assert!(root.join("host/debug/.cargo-lock").is_file());
    }
}
