//! Removing whole units inside a Cargo home, crash-safely and without following symlinks.
//!
//! A directory (an extracted source, a checkout, a git database, an index) is first
//! *renamed* into `$CARGO_HOME/.janitor-trash/`, which is atomic: at every instant Cargo
//! sees either the whole unit or nothing, never a source directory that is half deleted with
//! its `.cargo-ok` marker still saying "complete". Only then are its contents deleted. A run
//! killed while emptying the trash leaves the trash behind; the next run empties it first.
//! When the rename is impossible (the unit is on another filesystem than the home), the
//! `.cargo-ok` marker is removed first and the directory is deleted in place: Cargo then
//! re-extracts it. A `.crate` file is one `unlink`.
//!
//! Every path must lie strictly inside the home, reached through real directories only (no
//! symlink anywhere on the way), and must not be one of Cargo's lock files or `.global-cache`.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

use crate::observe::walk::Walker;

/// The trash directory's name in the Cargo home.
pub const TRASH: &str = ".janitor-trash";

/// Files we never remove, wherever they are.
const PROTECTED: &[&str] = &[
    ".package-cache",
    ".package-cache-mutate",
    ".global-cache",
    ".global-cache-journal",
    ".cargo-lock",
    ".cargo-build-lock",
    ".cargo-artifact-lock",
];

/// What a removal took: files (non-directories) and their apparent bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub files: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Removed {
    fn add_assign(&mut self, o: Removed) {
        self.files += o.files;
        self.bytes += o.bytes;
    }
}

pub struct Remover {
    root: PathBuf,
    trash: PathBuf,
    counter: u64,
}

impl Remover {
    pub fn new(root: &Path) -> Remover {
        Remover {
            root: root.to_owned(),
            trash: root.join(TRASH),
            counter: 0,
        }
    }

    /// Fails unless `path` is strictly inside the root, reached through real directories, and
    /// not a protected file.
    pub fn check(&self, path: &Path) -> Result<()> {
        let rel = match path.strip_prefix(&self.root) {
            Ok(r) if !r.as_os_str().is_empty() => r,
            _ => bail!(
                "refusing to remove `{}`: not inside `{}`",
                path.display(),
                self.root.display()
            ),
        };
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            bail!("refusing to remove `{}`: not a plain path", path.display());
        }
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && PROTECTED.contains(&name)
        {
            bail!("refusing to remove `{}`: Cargo needs it", path.display());
        }
        let mut cur = self.root.clone();
        let n = rel.components().count();
        for (i, c) in rel.components().enumerate() {
            cur.push(c);
            match cur.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => bail!(
                    "refusing to remove `{}`: `{}` is a symlink",
                    path.display(),
                    cur.display()
                ),
                Ok(m) if i + 1 < n && !m.is_dir() => {
                    bail!(
                        "refusing to remove `{}`: `{}` is not a directory",
                        path.display(),
                        cur.display()
                    )
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// What removing `path` would take, without removing anything.
    pub fn measure(&self, path: &Path) -> Removed {
        let u = Walker::new().usage(path);
        Removed {
            files: u.files,
            bytes: u.bytes,
        }
    }

    /// Makes `path` disappear from Cargo's view at once. A file is unlinked; a directory is
    /// renamed into the trash and returned, to be emptied with [`empty`]. A path that is
    /// already gone is fine.
    pub fn detach(&mut self, path: &Path) -> Result<Detached> {
        self.check(path)?;
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Detached::Gone),
            Err(e) => return Err(e.into()),
        };
        if !meta.is_dir() {
            let removed = Removed {
                files: 1,
                bytes: if meta.is_file() { meta.len() } else { 0 },
            };
            fs::remove_file(path)?;
            return Ok(Detached::Removed(removed));
        }
        fs::create_dir_all(&self.trash)?;
        self.counter += 1;
        let dest = self
            .trash
            .join(format!("{}-{}", std::process::id(), self.counter));
        match fs::rename(path, &dest) {
            Ok(()) => Ok(Detached::Trash(dest)),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                // Another filesystem: make Cargo re-extract, then delete in place.
                match fs::remove_file(path.join(".cargo-ok")) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                Ok(Detached::InPlace(path.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Trash left behind by a run that was killed, to be emptied first.
    pub fn leftover_trash(&self) -> Vec<PathBuf> {
        let Ok(rd) = fs::read_dir(&self.trash) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok).map(|e| e.path()).collect()
    }

    /// Removes the trash directory once it is empty.
    pub fn finish(&self) {
        let _ = fs::remove_dir(&self.trash);
    }
}

/// The result of [`Remover::detach`].
#[derive(Debug)]
pub enum Detached {
    Gone,
    Removed(Removed),
    /// Renamed into the trash: delete with [`empty`].
    Trash(PathBuf),
    /// Could not be moved: delete in place with [`empty`] (its `.cargo-ok` is already gone).
    InPlace(PathBuf),
}

/// Deletes a directory tree, counting what it held. Symlinks are removed, never followed.
pub fn empty(dir: &Path) -> io::Result<Removed> {
    let mut removed = Removed::default();
    let meta = match dir.symlink_metadata() {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        fs::remove_file(dir)?;
        return Ok(Removed {
            files: 1,
            bytes: if meta.is_file() { meta.len() } else { 0 },
        });
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            removed += empty(&entry.path())?;
        } else {
            let len = if ft.is_file() {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            } else {
                0
            };
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            removed += Removed {
                files: 1,
                bytes: len,
            };
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(removed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(removed),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_outside_symlinks_and_lock_files() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        fs::create_dir_all(root.join("registry/src/r")).unwrap();
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("registry/src/r/link")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("git")).unwrap();
        let r = Remover::new(&root);
        assert!(r.check(&outside).is_err());
        assert!(r.check(&root).is_err());
        assert!(r.check(&root.join("registry/src/r/link")).is_err());
        assert!(
            r.check(&root.join("git/db/x")).is_err(),
            "through a symlinked dir"
        );
        assert!(r.check(&root.join("registry/../x")).is_err());
        assert!(r.check(&root.join(".package-cache")).is_err());
        assert!(r.check(&root.join("registry/src/r/ok-1.0.0")).is_ok());
    }

    #[test]
    fn detach_renames_then_empty_counts() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_owned();
        let unit = root.join("registry/src/r/a-1.0.0");
        fs::create_dir_all(unit.join("src")).unwrap();
        fs::write(unit.join(".cargo-ok"), "{\"v\":1}").unwrap();
        fs::write(unit.join("src/lib.rs"), "x".repeat(100)).unwrap();
        let mut r = Remover::new(&root);
        assert_eq!(
            r.measure(&unit),
            Removed {
                files: 2,
                bytes: 107
            }
        );
        let Detached::Trash(dest) = r.detach(&unit).unwrap() else {
            panic!("expected a rename")
        };
        assert!(!unit.exists());
        assert_eq!(r.leftover_trash(), vec![dest.clone()]);
        assert_eq!(
            empty(&dest).unwrap(),
            Removed {
                files: 2,
                bytes: 107
            }
        );
        r.finish();
        assert!(!root.join(TRASH).exists());
        assert!(matches!(r.detach(&unit).unwrap(), Detached::Gone));
    }
}
