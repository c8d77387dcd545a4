//! Cargo's lock files on disk: finding those of a Cargo home and of target dirs, and a probe
//! that tells whether one is held right now without waiting (and without holding it for more
//! than an instant). Their names and what they guard are Cargo's vocabulary
//! ([`crate::cargo::locks`]).

use std::fs::TryLockError;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cargo::locks::{self as vocab, LockKind};
use crate::sys::fs::FileId;

/// Whether a lock is held right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    Free,
    HeldShared,
    HeldExclusive,
    /// The file exists (or may exist) but could not be opened or locked here (permissions,
    /// a symlink, not a regular file, a filesystem without locks): it may be held.
    Unknown,
    /// There is no such file: no lock to wait for.
    Missing,
}

/// A lock file checked directly: its path as we know it, the probe, why it could not be
/// probed, and its (device, inode) when it exists (matched against the processes' files,
/// whatever path they used).
#[derive(Clone, Debug)]
pub struct Probed {
    pub path: PathBuf,
    pub probe: Probe,
    /// For [`Probe::Unknown`]: why, in plain words ("permission denied").
    pub error: Option<String>,
    pub file: Option<FileId>,
}

/// Probes `path` without blocking: a shared try first (fails only against an exclusive
/// holder), then an exclusive try (fails against shared holders too). A successful try is
/// released at once. Opens read-only, never creates the file, never follows a symlink, and
/// opens nothing but a regular file ([`crate::sys::probe`]).
pub fn probe(path: &Path) -> Probed {
    use crate::sys::fs::{file_stat, lstat};
    use crate::sys::probe::{OpenError, open_lock_file};
    let identity_of_link = || lstat(path).ok().map(|st| st.id);
    let done = |probe, error: Option<String>, file| Probed {
        path: path.to_owned(),
        probe,
        error,
        file,
    };
    let file = match open_lock_file(path) {
        Ok(f) => f,
        Err(OpenError::Missing) => return done(Probe::Missing, None, None),
        Err(e) => return done(Probe::Unknown, Some(e.to_string()), identity_of_link()),
    };
    let id = file_stat(&file).ok().map(|st| st.id);
    let cannot_lock = |e: std::io::Error| {
        Some(format!(
            "it cannot be locked here: {}",
            crate::sys::probe::describe(&e)
        ))
    };
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => return done(Probe::HeldExclusive, None, id),
        Err(TryLockError::Error(e)) => return done(Probe::Unknown, cannot_lock(e), id),
        Ok(()) => {
            let _ = file.unlock();
        }
    }
    match file.try_lock() {
        Err(TryLockError::WouldBlock) => done(Probe::HeldShared, None, id),
        Err(TryLockError::Error(e)) => done(Probe::Unknown, cannot_lock(e), id),
        Ok(()) => {
            let _ = file.unlock();
            done(Probe::Free, None, id)
        }
    }
}

/// The lock files found in some directories, and the directories that could not be looked
/// into (with why): their locks may be held.
#[derive(Clone, Debug, Default)]
pub struct LockFiles {
    pub files: Vec<PathBuf>,
    pub unlisted: Vec<Unlisted>,
}

/// A directory whose lock files could not be looked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    pub path: PathBuf,
    pub error: String,
    /// The kinds of lock it would hold.
    #[serde(skip)]
    pub kinds: &'static [LockKind],
}

impl LockFiles {
    pub fn extend(&mut self, other: LockFiles) {
        self.files.extend(other.files);
        self.unlisted.extend(other.unlisted);
    }
}

/// Whether an error just means "nothing there".
fn nothing_there(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

const HOME_KINDS: &[LockKind] = &[
    LockKind::PackageCache,
    LockKind::PackageCacheMutate,
    LockKind::CrateMetadata,
];
const TARGET_KINDS: &[LockKind] = &[LockKind::BuildDir, LockKind::ArtifactDir];

/// The lock files Cargo keeps in a Cargo home: every one that exists in any form (a symlink
/// or a file this user cannot open is probed, and reported, too), and those of old cargos
/// (`git/.cargo-lock-git`, `registry/index/*/.cargo-index-lock`) when they exist.
pub fn home_lock_files(home: &Path) -> LockFiles {
    let mut out = LockFiles::default();
    for n in vocab::HOME_FILES {
        let p = home.join(n);
        match p.symlink_metadata() {
            Ok(_) => out.files.push(p),
            Err(e) if nothing_there(&e) => {}
            Err(e) => {
                out.unlisted = vec![Unlisted {
                    path: home.to_owned(),
                    error: crate::sys::probe::describe(&e),
                    kinds: HOME_KINDS,
                }];
                out.files.clear();
                return out;
            }
        }
    }
    // Old cargos' files: looked for quietly (a home without them is the usual case).
    let old_git = home.join("git").join(vocab::OLD_GIT_FILE);
    if old_git.symlink_metadata().is_ok() {
        out.files.push(old_git);
    }
    if let Ok(rd) = std::fs::read_dir(home.join("registry/index")) {
        let mut old: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path().join(vocab::OLD_INDEX_FILE))
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        old.sort();
        out.files.extend(old);
    }
    out
}

/// The lock files of a target or build directory: `<dir>/<profile>/` and
/// `<dir>/<triple>/<profile>/`, for every profile directory that has one. A directory that
/// cannot be looked into is reported in [`LockFiles::unlisted`].
pub fn target_lock_files(dir: &Path) -> LockFiles {
    let mut out = LockFiles::default();
    let unlisted = |out: &mut LockFiles, d: &Path, e: &std::io::Error| {
        out.unlisted.push(Unlisted {
            path: d.to_owned(),
            error: crate::sys::probe::describe(e),
            kinds: TARGET_KINDS,
        })
    };
    // The real subdirectories of `d`.
    let subdirs = |out: &mut LockFiles, d: &Path| -> Vec<PathBuf> {
        match std::fs::read_dir(d) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect(),
            Err(e) if nothing_there(&e) => Vec::new(),
            Err(e) => {
                unlisted(out, d, &e);
                Vec::new()
            }
        }
    };
    // The lock files in `d`, whatever they are (a symlink or an unreadable file is probed,
    // and reported, too); `None` when `d` cannot be looked into.
    let locks_in = |out: &mut LockFiles, d: &Path| -> Option<Vec<PathBuf>> {
        let mut found = Vec::new();
        for n in vocab::PROFILE_FILES {
            let p = d.join(n);
            match p.symlink_metadata() {
                Ok(_) => found.push(p),
                Err(e) if nothing_there(&e) => {}
                Err(e) => {
                    unlisted(out, d, &e);
                    return None;
                }
            }
        }
        Some(found)
    };
    for d in subdirs(&mut out, dir) {
        let Some(found) = locks_in(&mut out, &d) else {
            continue;
        };
        if !found.is_empty() {
            out.files.extend(found);
            continue;
        }
        for sub in subdirs(&mut out, &d) {
            if let Some(found) = locks_in(&mut out, &sub) {
                out.files.extend(found);
            }
        }
    }
    out.files.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn probe_sees_holders() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(".package-cache");
        std::fs::write(&p, "").unwrap();
        let probe = |p: &Path| super::probe(p).probe;
        assert_eq!(probe(&p), Probe::Free);
        let held = File::open(&p).unwrap();
        held.lock_shared().unwrap();
        assert_eq!(probe(&p), Probe::HeldShared);
        // Closed, not unlocked: Wine's UnlockFile fails on a lock it did release.
        drop(held);
        let held = File::open(&p).unwrap();
        held.lock().unwrap();
        assert_eq!(probe(&p), Probe::HeldExclusive);
        drop(held);
        assert_eq!(probe(&p), Probe::Free);
        assert_eq!(probe(&t.path().join("missing")), Probe::Missing);
    }
}
