//! Cargo's lock files: which names are Cargo's, what each one guards, and a probe that tells
//! whether one is held right now without waiting (and without holding it for more than an
//! instant).

use std::fs::TryLockError;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What a lock file guards, with the words of Cargo's "Blocking waiting for file lock on …".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    /// `$CARGO_HOME/.package-cache`.
    PackageCache,
    /// `$CARGO_HOME/.package-cache-mutate`.
    PackageCacheMutate,
    /// `<build-dir>/<profile>/.cargo-build-lock` (cargo 1.96+) or `.cargo-lock`.
    BuildDir,
    /// `<target-dir>/<profile>/.cargo-artifact-lock` (cargo 1.96+).
    ArtifactDir,
    /// `<build-dir>/<profile>/build/<pkg>/<hash>/.lock` (`-Zfine-grain-locking`).
    Unit,
    /// `<workspace>/Cargo.lock`.
    CargoLock,
    /// `$CARGO_HOME/.crates.toml`, `.crates2.json` (`cargo install`).
    CrateMetadata,
}

impl LockKind {
    pub const ALL: [LockKind; 7] = [
        LockKind::PackageCache,
        LockKind::PackageCacheMutate,
        LockKind::BuildDir,
        LockKind::ArtifactDir,
        LockKind::Unit,
        LockKind::CargoLock,
        LockKind::CrateMetadata,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LockKind::PackageCache => "package-cache",
            LockKind::PackageCacheMutate => "package-cache-mutate",
            LockKind::BuildDir => "build-dir",
            LockKind::ArtifactDir => "artifact-dir",
            LockKind::Unit => "unit",
            LockKind::CargoLock => "cargo-lock",
            LockKind::CrateMetadata => "crate-metadata",
        }
    }

    pub fn parse(s: &str) -> Option<LockKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Which of Cargo's lock files `path` is, by its name and place.
pub fn classify(path: &Path) -> Option<LockKind> {
    let name = path.file_name()?.to_str()?;
    Some(match name {
        ".package-cache" => LockKind::PackageCache,
        ".package-cache-mutate" => LockKind::PackageCacheMutate,
        ".cargo-build-lock" | ".cargo-lock" => LockKind::BuildDir,
        ".cargo-artifact-lock" => LockKind::ArtifactDir,
        "Cargo.lock" => LockKind::CargoLock,
        ".crates.toml" | ".crates2.json" => LockKind::CrateMetadata,
        ".lock" => {
            // build/<pkg>/<hash>/.lock
            let hash = path.parent()?;
            let build = hash.parent()?.parent()?;
            if build.file_name()? == "build" {
                LockKind::Unit
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// What the lock file's holder makes a waiting cargo print.
pub fn message(
    path: &Path,
    kind: LockKind,
    holder_mode: Option<crate::observe::procs::Mode>,
) -> String {
    use crate::observe::procs::Mode;
    let what = match kind {
        LockKind::PackageCache => "package cache".to_string(),
        // Held exclusively (by a clean), builds print "shared package cache"; held shared (by
        // builds), a clean prints "package cache mutation".
        LockKind::PackageCacheMutate => match holder_mode {
            Some(Mode::Shared) => "package cache mutation".to_string(),
            _ => "shared package cache".to_string(),
        },
        LockKind::BuildDir if path.file_name().is_some_and(|n| n == ".cargo-lock") => {
            "build directory (`cargo check`) or artifact directory (`cargo build`)".to_string()
        }
        LockKind::BuildDir => "build directory".to_string(),
        LockKind::ArtifactDir => "artifact directory".to_string(),
        LockKind::Unit => {
            let hash = path.parent().and_then(Path::file_name);
            let pkg = path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name);
            match (pkg, hash) {
                (Some(p), Some(h)) => format!("{} ({})", p.to_string_lossy(), h.to_string_lossy()),
                _ => "a build unit".to_string(),
            }
        }
        LockKind::CargoLock => "Cargo.lock file".to_string(),
        LockKind::CrateMetadata => "crate metadata".to_string(),
    };
    format!("Blocking waiting for file lock on {what}")
}

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
    pub file: Option<(u64, u64)>,
}

/// Probes `path` without blocking: a shared try first (fails only against an exclusive
/// holder), then an exclusive try (fails against shared holders too). A successful try is
/// released at once. Opens read-only, never creates the file, never follows a symlink, and
/// opens nothing but a regular file ([`crate::sys::probe`]).
pub fn probe(path: &Path) -> Probed {
    use crate::sys::probe::{OpenError, open_lock_file};
    use std::os::unix::fs::MetadataExt;
    let identity = || path.symlink_metadata().ok().map(|m| (m.dev(), m.ino()));
    let done = |probe, error: Option<String>, file| Probed {
        path: path.to_owned(),
        probe,
        error,
        file,
    };
    let file = match open_lock_file(path) {
        Ok(f) => f,
        Err(OpenError::Missing) => return done(Probe::Missing, None, None),
        Err(e) => return done(Probe::Unknown, Some(e.to_string()), identity()),
    };
    let id = file.metadata().ok().map(|m| (m.dev(), m.ino()));
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
/// or a file this user cannot open is probed, and reported, too).
pub fn home_lock_files(home: &Path) -> LockFiles {
    let mut out = LockFiles::default();
    for n in [
        ".package-cache",
        ".package-cache-mutate",
        ".crates.toml",
        ".crates2.json",
    ] {
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
                break;
            }
        }
    }
    out
}

/// The lock files of a target or build directory: `<dir>/<profile>/` and
/// `<dir>/<triple>/<profile>/`, for every profile directory that has one. A directory that
/// cannot be looked into is reported in [`LockFiles::unlisted`].
pub fn target_lock_files(dir: &Path) -> LockFiles {
    const NAMES: [&str; 3] = [".cargo-lock", ".cargo-build-lock", ".cargo-artifact-lock"];
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
        for n in NAMES {
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
    fn classifies_cargo_lock_files() {
        let k = |p: &str| classify(Path::new(p));
        assert_eq!(k("/h/.package-cache"), Some(LockKind::PackageCache));
        assert_eq!(
            k("/h/.package-cache-mutate"),
            Some(LockKind::PackageCacheMutate)
        );
        assert_eq!(k("/p/target/debug/.cargo-lock"), Some(LockKind::BuildDir));
        assert_eq!(
            k("/p/target/debug/.cargo-build-lock"),
            Some(LockKind::BuildDir)
        );
        assert_eq!(
            k("/p/target/debug/.cargo-artifact-lock"),
            Some(LockKind::ArtifactDir)
        );
        assert_eq!(
            k("/p/target/debug/build/itoa/0123abcd/.lock"),
            Some(LockKind::Unit)
        );
        assert_eq!(k("/p/Cargo.lock"), Some(LockKind::CargoLock));
        assert_eq!(k("/h/.crates2.json"), Some(LockKind::CrateMetadata));
        assert_eq!(k("/p/.git/index.lock"), None);
        assert_eq!(k("/p/x/.lock"), None);
    }

    #[test]
    fn messages_follow_cargo() {
        use crate::observe::procs::Mode;
        let m = |p: &str, mode| message(Path::new(p), classify(Path::new(p)).unwrap(), mode);
        assert_eq!(
            m("/h/.package-cache", None),
            "Blocking waiting for file lock on package cache"
        );
        assert_eq!(
            m("/h/.package-cache-mutate", Some(Mode::Exclusive)),
            "Blocking waiting for file lock on shared package cache"
        );
        assert_eq!(
            m("/h/.package-cache-mutate", Some(Mode::Shared)),
            "Blocking waiting for file lock on package cache mutation"
        );
        assert_eq!(
            m("/p/t/debug/build/itoa/6a6d3f3d53caa1d6/.lock", None),
            "Blocking waiting for file lock on itoa (6a6d3f3d53caa1d6)"
        );
    }

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
        held.unlock().unwrap();
        held.lock().unwrap();
        assert_eq!(probe(&p), Probe::HeldExclusive);
        drop(held);
        assert_eq!(probe(&p), Probe::Free);
        assert_eq!(probe(&t.path().join("missing")), Probe::Missing);
    }
}
