//! Cargo's package-cache locks, taken the way Cargo takes them (cargo-internals.md §3).
//!
//! Deleting anything under `registry/` or `git/` needs Cargo's `MutateExclusive` mode:
//! `flock(LOCK_EX)` on `$CARGO_HOME/.package-cache-mutate`, **then** on
//! `$CARGO_HOME/.package-cache`. Builds hold the first one shared while they compile, and every
//! download, resolution and `.global-cache` access holds the second one exclusively, so with
//! both held nothing in Cargo reads or writes the caches. As in Cargo, a non-blocking attempt
//! comes first; only if it would block do we say so and wait (or give up, when told not to
//! wait). The lock files are opened (created if needed, never deleted) and released by closing.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// What to do when a lock is held by someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Wait for it (after telling the user who holds it).
    Block,
    /// Give up at once.
    NoWait,
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
}

impl LockError {
    /// Whether the home is read-only (nothing can be changed there anyway).
    pub fn is_read_only(&self) -> bool {
        matches!(self, LockError::Open { source, .. }
            if source.raw_os_error() == Some(libc::EROFS)
                || source.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// Both package-cache locks, held until dropped.
#[derive(Debug)]
pub struct MutateExclusive {
    _mutate: File,
    _download: File,
}

fn open(home: &Path, (file, what): (&str, &'static str)) -> Result<(File, PathBuf), LockError> {
    let path = home.join(file);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map(|f| (f, path.clone()))
        .map_err(|source| LockError::Open { what, path, source })
}

/// Takes one lock exclusively: try first, then wait (calling `on_block`) or give up.
fn acquire(
    home: &Path,
    which: (&str, &'static str),
    wait: Wait,
    on_block: &mut dyn FnMut(&'static str, &Path),
) -> Result<File, LockError> {
    let (file, path) = open(home, which)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => match wait {
            Wait::NoWait => Err(LockError::Busy {
                what: which.1,
                path,
            }),
            Wait::Block => {
                on_block(which.1, &path);
                file.lock()
                    .map_err(|source| LockError::Lock { path, source })?;
                Ok(file)
            }
        },
        Err(TryLockError::Error(source)) => Err(LockError::Lock { path, source }),
    }
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
        let mutate = acquire(home, MUTATE, wait, on_block)?;
        let download = acquire(home, DOWNLOAD, wait, on_block)?;
        Ok(MutateExclusive {
            _mutate: mutate,
            _download: download,
        })
    }
}

/// A target or build directory's locks, held until dropped.
#[derive(Debug)]
pub struct BuildLocks {
    _files: Vec<File>,
}

/// The build-dir lock files in the order cargo 1.96+ takes them; `.cargo-lock` is the only
/// one before 1.96.
pub const BUILD_LOCK_NAMES: [&str; 3] =
    [".cargo-build-lock", ".cargo-lock", ".cargo-artifact-lock"];

impl BuildLocks {
    /// Takes, exclusively, every lock file of every profile directory, in the order given
    /// (host profiles first, as Cargo does): whatever cargo wrote the directory (≤ 1.95 takes
    /// `.cargo-lock` exclusively; 1.96+ takes `.cargo-build-lock` and `.cargo-artifact-lock`
    /// exclusively and `.cargo-lock` shared), none of them can build there while we hold these.
    /// `.cargo-lock` is always taken (created if needed), so an old cargo is excluded even
    /// from a directory only a new one has used.
    pub fn acquire(
        profiles: &[PathBuf],
        wait: Wait,
        on_block: &mut dyn FnMut(&'static str, &Path),
    ) -> Result<BuildLocks, LockError> {
        let mut files = Vec::new();
        for profile in profiles {
            let names: Vec<&str> = BUILD_LOCK_NAMES
                .iter()
                .copied()
                .filter(|n| *n == ".cargo-lock" || profile.join(n).is_file())
                .collect();
            for name in names {
                files.push(acquire(profile, (name, "build directory"), wait, on_block)?);
            }
        }
        Ok(BuildLocks { _files: files })
    }
}
