//! Cargo's lock files: which names are Cargo's, what each one guards, and a probe that tells
//! whether one is held right now without waiting (and without holding it for more than an
//! instant).

use std::fs::{File, TryLockError};
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
    /// The file cannot be opened or locked here (missing, permissions, a filesystem without
    /// locks).
    Unknown,
}

/// Probes `path` without blocking: a shared try first (fails only against an exclusive
/// holder), then an exclusive try (fails against shared holders too). A successful try is
/// released at once. Opens read-only and never creates the file.
pub fn probe(path: &Path) -> Probe {
    let Ok(file) = File::open(path) else {
        return Probe::Unknown;
    };
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => return Probe::HeldExclusive,
        Err(TryLockError::Error(_)) => return Probe::Unknown,
        Ok(()) => {
            let _ = file.unlock();
        }
    }
    match file.try_lock() {
        Err(TryLockError::WouldBlock) => Probe::HeldShared,
        Err(TryLockError::Error(_)) => Probe::Unknown,
        Ok(()) => {
            let _ = file.unlock();
            Probe::Free
        }
    }
}

/// The lock files Cargo keeps in a Cargo home.
pub fn home_lock_files(home: &Path) -> Vec<PathBuf> {
    [
        ".package-cache",
        ".package-cache-mutate",
        ".crates.toml",
        ".crates2.json",
    ]
    .iter()
    .map(|n| home.join(n))
    .filter(|p| p.is_file())
    .collect()
}

/// The lock files of a target or build directory: `<dir>/<profile>/` and
/// `<dir>/<triple>/<profile>/`, for every profile directory that has one.
pub fn target_lock_files(dir: &Path) -> Vec<PathBuf> {
    let names = [".cargo-lock", ".cargo-build-lock", ".cargo-artifact-lock"];
    let mut out = Vec::new();
    let subdirs = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for d in subdirs(dir) {
        let mut found = false;
        for n in names {
            let p = d.join(n);
            if p.is_file() {
                out.push(p);
                found = true;
            }
        }
        if !found {
            for sub in subdirs(&d) {
                for n in names {
                    let p = sub.join(n);
                    if p.is_file() {
                        out.push(p);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(probe(&p), Probe::Free);
        let held = File::open(&p).unwrap();
        held.lock_shared().unwrap();
        assert_eq!(probe(&p), Probe::HeldShared);
        held.unlock().unwrap();
        held.lock().unwrap();
        assert_eq!(probe(&p), Probe::HeldExclusive);
        drop(held);
        assert_eq!(probe(&p), Probe::Free);
        assert_eq!(probe(&t.path().join("missing")), Probe::Unknown);
    }
}
