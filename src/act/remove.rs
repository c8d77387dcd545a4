//! Removing whole units inside a Cargo home, crash-safely and without following symlinks.
//!
//! A directory (an extracted source, a checkout, a git database, an index) is first
//! *renamed* into a trash directory, which is atomic: at every instant Cargo sees either the
//! whole unit or nothing, never a source directory that is half deleted with its `.cargo-ok`
//! marker still saying "complete". Only then are its contents deleted. A run killed while
//! emptying the trash leaves the trash behind; the next run empties it first.
//!
//! The trash is `$CARGO_HOME/.janitor-trash`, or, when `registry/` or `git/` is another
//! filesystem (a CI cache mount), `registry/.janitor-trash` or `git/.janitor-trash`; Cargo
//! looks at none of them. A trash must be a real directory: a symlink there is refused, never
//! followed. When no rename is possible, every `.cargo-ok` marker of the directory and of its
//! immediate subdirectories (a whole `registry/src/<registry>` holds many sources) is removed
//! first and the directory is deleted in place: Cargo then re-extracts. A `.crate` file, or a
//! symlink Cargo tracks, is one `unlink`.
//!
//! Every path must lie strictly inside the home, reached through real directories only (the
//! last component may be a symlink, which is unlinked, never followed), and must not be one of
//! Cargo's lock files or `.global-cache`.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
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
    counter: u64,
    /// Top-level directories that get a trash of their own (they may be other filesystems).
    mounts: Vec<&'static str>,
}

impl Remover {
    /// A remover for a Cargo home (whose `registry/` and `git/` may be other filesystems).
    pub fn new(root: &Path) -> Remover {
        Remover {
            root: root.to_owned(),
            counter: 0,
            mounts: vec!["registry", "git"],
        }
    }

    /// A remover for a target or build directory.
    pub fn for_target(root: &Path) -> Remover {
        Remover {
            root: root.to_owned(),
            counter: 0,
            mounts: Vec::new(),
        }
    }

    /// Every place a trash can be, in order of preference.
    fn trashes(&self) -> Vec<PathBuf> {
        std::iter::once(self.root.join(TRASH))
            .chain(self.mounts.iter().map(|m| self.root.join(m).join(TRASH)))
            .collect()
    }

    /// The trashes that can take `path` by rename: the root's, then its top directory's.
    fn trashes_for(&self, path: &Path) -> Vec<PathBuf> {
        let mut v = vec![self.root.join(TRASH)];
        for m in &self.mounts {
            if path.starts_with(self.root.join(m)) {
                v.push(self.root.join(m).join(TRASH));
            }
        }
        v
    }

    /// Makes sure `trash` is a real directory (creating it if needed).
    fn ensure_trash(&self, trash: &Path) -> Result<()> {
        match trash.symlink_metadata() {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => bail!(
                "refusing to use `{}` as trash: it is not a directory (a symlink is never followed)",
                trash.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(parent) = trash.parent()
            && parent != self.root
        {
            self.check(parent)?;
        }
        match fs::create_dir(trash) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        match trash.symlink_metadata() {
            Ok(m) if m.is_dir() => Ok(()),
            _ => bail!("refusing to use `{}` as trash", trash.display()),
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
                // The unit itself may be a symlink Cargo tracks: it is unlinked, not followed.
                Ok(m) if m.file_type().is_symlink() && i + 1 == n => {}
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

    /// What emptying the leftover trash would take.
    pub fn measure_leftover(&self) -> Result<Removed> {
        let mut r = Removed::default();
        for dir in self.leftover_trash()? {
            r += self.measure(&dir);
        }
        Ok(r)
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
        for trash in self.trashes_for(path) {
            self.ensure_trash(&trash)?;
            self.counter += 1;
            let dest = trash.join(format!("{}-{}", std::process::id(), self.counter));
            match fs::rename(path, &dest) {
                Ok(()) => return Ok(Detached::Trash(dest)),
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // No trash on this filesystem: make Cargo re-extract whatever survives a crash, then
        // delete in place.
        remove_markers(path)?;
        Ok(Detached::InPlace(path.to_owned()))
    }

    /// Trash left behind by a run that was killed, to be emptied first. A trash that is not a
    /// real directory is an error (it is never followed).
    pub fn leftover_trash(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for trash in self.trashes() {
            match trash.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!(
                    "refusing to empty `{}`: it is not a directory (a symlink is never followed)",
                    trash.display()
                ),
                Err(_) => continue,
            }
            for e in fs::read_dir(&trash)? {
                out.push(e?.path());
            }
        }
        Ok(out)
    }

    /// Removes the trash directories once they are empty.
    pub fn finish(&self) {
        for trash in self.trashes() {
            if trash.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                let _ = fs::remove_dir(&trash);
            }
        }
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

/// Removes `.cargo-ok` in `dir` and in each of its immediate subdirectories.
fn remove_markers(dir: &Path) -> io::Result<()> {
    let gone = |r: io::Result<()>| match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    gone(fs::remove_file(dir.join(".cargo-ok")))?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            gone(fs::remove_file(e.path().join(".cargo-ok")))?;
        }
    }
    Ok(())
}

/// Deletes a directory tree, counting what it held (a file with several links once, as the
/// dry run's walk counts it). Symlinks are removed, never followed.
pub fn empty(dir: &Path) -> io::Result<Removed> {
    empty_counting(dir, &mut HashSet::new())
}

fn empty_counting(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> io::Result<Removed> {
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
            removed += empty_counting(&entry.path(), seen)?;
        } else {
            let meta = entry.metadata().ok();
            let key = meta.as_ref().map(|m| (m.dev(), m.ino()));
            let counted = key.is_some_and(|k| seen.contains(&k));
            if let (Some(m), Some(k)) = (&meta, key)
                && m.nlink() > 1
            {
                seen.insert(k);
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if !counted {
                removed += Removed {
                    files: 1,
                    bytes: meta.filter(|m| m.is_file()).map_or(0, |m| m.len()),
                };
            }
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
        assert!(
            r.check(&root.join("git/db/x")).is_err(),
            "through a symlinked dir"
        );
        assert!(r.check(&root.join("registry/../x")).is_err());
        assert!(r.check(&root.join(".package-cache")).is_err());
        assert!(r.check(&root.join("registry/src/r/ok-1.0.0")).is_ok());
        // A symlink as the unit itself is unlinked, never followed.
        fs::write(outside.join("precious"), "x").unwrap();
        let mut r = r;
        let link = root.join("registry/src/r/link");
        assert!(matches!(r.detach(&link).unwrap(), Detached::Removed(_)));
        assert!(link.symlink_metadata().is_err());
        assert!(outside.join("precious").exists());
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
        assert_eq!(r.leftover_trash().unwrap(), vec![dest.clone()]);
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

    #[test]
    fn a_symlinked_trash_is_refused_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        let victim = t.path().join("victim");
        fs::create_dir_all(victim.join("keep")).unwrap();
        fs::write(victim.join("keep/file"), "precious").unwrap();
        fs::create_dir_all(root.join("registry/src/r/a-1.0.0")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join(TRASH)).unwrap();
        let mut r = Remover::new(&root);
        assert!(r.leftover_trash().is_err());
        assert!(r.detach(&root.join("registry/src/r/a-1.0.0")).is_err());
        assert!(root.join("registry/src/r/a-1.0.0").exists());
        assert_eq!(
            fs::read_to_string(victim.join("keep/file")).unwrap(),
            "precious"
        );
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 1);
    }

    #[test]
    fn markers_go_first_when_deleting_in_place() {
        let t = tempfile::tempdir().unwrap();
        let reg = t.path().join("src-reg");
        for n in ["a-1", "b-1"] {
            fs::create_dir_all(reg.join(n)).unwrap();
            fs::write(reg.join(n).join(".cargo-ok"), "{\"v\":1}").unwrap();
            fs::write(reg.join(n).join("lib.rs"), "x").unwrap();
        }
        remove_markers(&reg).unwrap();
        assert!(!reg.join("a-1/.cargo-ok").exists());
        assert!(!reg.join("b-1/.cargo-ok").exists());
        assert!(reg.join("a-1/lib.rs").exists());
    }

    #[test]
    fn hard_links_count_once_when_emptying() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a"), vec![0u8; 100]).unwrap();
        fs::hard_link(d.join("a"), d.join("b")).unwrap();
        let r = Remover::new(t.path());
        assert_eq!(
            r.measure(&d),
            Removed {
                files: 1,
                bytes: 100
            }
        );
        assert_eq!(
            empty(&d).unwrap(),
            Removed {
                files: 1,
                bytes: 100
            }
        );
    }
}
