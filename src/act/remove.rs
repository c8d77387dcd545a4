//! Removing whole units inside a Cargo home or a target dir: crash-safely, and on directory
//! handles, so that no race can make us touch anything outside the root.
//!
//! # Crash safety
//!
//! A directory (an extracted source, a checkout, a git database, an index, a unit's
//! fingerprint) is first *renamed* into a trash directory, which is atomic: at every instant
//! Cargo sees either the whole unit or nothing, never a source directory that is half deleted
//! with its `.cargo-ok` marker still saying "complete". Only then are its contents deleted. A
//! run killed while emptying leaves the trash behind; the next run that may write there
//! (`gc`, `trim`, `sweep`, under the locks they take for that root) empties it first, even
//! when it has nothing else to remove.
//!
//! The trash is `<root>/.janitor-trash`, or, when `registry/` or `git/` is another filesystem
//! (a CI cache mount), `registry/.janitor-trash` or `git/.janitor-trash`; Cargo looks at none
//! of them. When no rename is possible, every `.cargo-ok` marker of the directory and of its
//! immediate subdirectories (a whole `registry/src/<registry>` holds many sources) is removed
//! first and the directory is emptied in place: Cargo then re-extracts. A `.crate` file, or a
//! symlink Cargo tracks, is one `unlink`.
//!
//! A target-dir unit is several paths (its fingerprint first, then its artifacts), which no
//! one rename can take together. Before its first path goes, the unit's paths are recorded
//! in the root's trash ([`Remover::begin_unit`], written under a temporary name and renamed,
//! so a record is whole or absent); the record goes once every path is detached. A run
//! killed in between leaves the record, and the next run, under the same locks, detaches
//! what it lists ([`Remover::finish_units`]) if the unit's fingerprint is still gone (if a
//! build made it again meanwhile, the record is dropped). Without it, the artifacts of a unit
//! whose fingerprint went are recognised by no later scan, and stay forever.
//!
//! # Containment
//!
//! The root is opened once, as the user named it (a symlinked `~/.cargo` is fine). From that
//! handle every unit is reached one directory at a time, each opened without following a
//! symlink ([`crate::sys::fs`]): a symlinked directory on the way is refused, with a message
//! naming it. The unit itself is `stat`ed without following it: a file or a symlink is
//! unlinked relative to its parent's handle (a symlink goes, its target is never touched); a
//! directory is renamed, handle to handle, into the trash, which is itself opened (or
//! created) relative to the root's handle and never followed. Emptying works the same way:
//! each subdirectory is opened without following relative to its parent, its entries are
//! unlinked relative to it, and it is removed relative to its parent. No path is ever
//! resolved again once checked, so a directory swapped for a symlink at any instant (the race
//! of CVE-2022-21658 against std's `remove_dir_all`) only ever makes us remove that symlink.
//! Cargo's lock files and `.global-cache` are never removed.
//!
//! A directory inside a unit that we may not write (a crate shipping read-only directories,
//! a build script that made some) is made writable through its own handle and the removal
//! retried, as uv's remover does; permissions outside the unit are never changed. Emptying
//! holds a bounded number of descriptors ([`crate::sys::fs::DirStack`]), so a path longer than
//! `PATH_MAX` is removed like any other.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

use crate::observe::walk::Walker;
use crate::sys::fs::{self as sysfs, Dir, DirStack, FileId, Kind, OPEN_DIRS, Stat};

/// The trash directory's name.
pub const TRASH: &str = ".janitor-trash";

/// The suffix of a unit's record in the trash ([`Remover::begin_unit`]).
const RECORD: &str = ".unit";

/// How often what is being emptied may change under us (entries added, a directory swapped
/// for a symlink) before we give up on it and report it.
const CHANGES: u32 = 64;

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

/// A directory out of Cargo's view (in the trash, or in place without its `.cargo-ok`
/// markers), held by its parent's handle and its name there: delete it with [`empty`].
#[derive(Debug)]
pub struct Trashed {
    parent: Arc<Dir>,
    name: OsString,
    /// Where it is, for messages.
    pub path: PathBuf,
}

/// The result of [`Remover::detach`].
#[derive(Debug)]
pub enum Detached {
    Gone,
    Removed(Removed),
    /// Renamed into the trash: delete with [`empty`].
    Trash(Trashed),
    /// Could not be moved: delete in place with [`empty`] (its `.cargo-ok` is already gone).
    InPlace(Trashed),
}

pub struct Remover {
    root_path: PathBuf,
    root: Dir,
    /// Top-level directories that get a trash of their own (they may be other filesystems).
    mounts: Vec<&'static str>,
    counter: u64,
    /// Trash directories opened so far: `None` is the root's, `Some(m)` is `m/.janitor-trash`.
    trashes: Vec<(Option<&'static str>, Arc<Dir>)>,
}

impl Remover {
    /// A remover for a Cargo home (whose `registry/` and `git/` may be other filesystems).
    pub fn new(root: &Path) -> Result<Remover> {
        Self::with_mounts(root, vec!["registry", "git"])
    }

    /// A remover for a target or build directory.
    pub fn for_target(root: &Path) -> Result<Remover> {
        Self::with_mounts(root, Vec::new())
    }

    /// The root, as given.
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Whether this remover is a Cargo home's ([`Remover::new`]).
    pub fn is_home(&self) -> bool {
        !self.mounts.is_empty()
    }

    fn with_mounts(root: &Path, mounts: Vec<&'static str>) -> Result<Remover> {
        let dir = Dir::open(root).with_context(|| format!("cannot open `{}`", root.display()))?;
        Ok(Remover {
            root_path: root.to_owned(),
            root: dir,
            mounts,
            counter: 0,
            trashes: Vec::new(),
        })
    }

    /// Every place a trash can be: the root's, then each top directory's.
    fn trash_places(&self) -> Vec<Option<&'static str>> {
        std::iter::once(None)
            .chain(self.mounts.iter().map(|m| Some(*m)))
            .collect()
    }

    fn trash_path(&self, place: Option<&str>) -> PathBuf {
        match place {
            None => self.root_path.join(TRASH),
            Some(m) => self.root_path.join(m).join(TRASH),
        }
    }

    /// The directory a trash lives in: the root, or a top directory (never followed).
    fn trash_base(&self, place: Option<&str>) -> io::Result<Dir> {
        match place {
            None => self.root.try_clone(),
            Some(m) => self.root.open_dir(m),
        }
    }

    /// The trash at `place`, opened (and created if missing) without following a symlink.
    fn trash(&mut self, place: Option<&'static str>) -> Result<Arc<Dir>> {
        if let Some((_, d)) = self.trashes.iter().find(|(p, _)| *p == place) {
            return Ok(d.clone());
        }
        let path = self.trash_path(place);
        let refuse = |e: io::Error| -> anyhow::Error {
            if sysfs::is_symlink(&e) {
                anyhow!(
                    "refusing to use `{}` as trash: it is a symlink (never followed)",
                    path.display()
                )
            } else if e.kind() == io::ErrorKind::NotADirectory {
                anyhow!(
                    "refusing to use `{}` as trash: it is not a directory",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot open `{}`", path.display()))
            }
        };
        let base = self.trash_base(place).map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "cannot open `{}`",
                path.parent().unwrap_or(&path).display()
            ))
        })?;
        let dir = match base.open_dir(TRASH) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match base.create_dir(TRASH) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot create `{}`", path.display())));
                    }
                }
                base.open_dir(TRASH).map_err(refuse)?
            }
            Err(e) => return Err(refuse(e)),
        };
        let dir = Arc::new(dir);
        self.trashes.push((place, dir.clone()));
        Ok(dir)
    }

    /// `path` relative to the root, as plain names; refuses anything outside the root, the
    /// root itself, `..`, and Cargo's lock files and database.
    fn names<'p>(&self, path: &'p Path) -> Result<Vec<&'p OsStr>> {
        let rel = match path.strip_prefix(&self.root_path) {
            Ok(r) if !r.as_os_str().is_empty() => r,
            _ => bail!(
                "refusing to remove `{}`: not inside `{}`",
                path.display(),
                self.root_path.display()
            ),
        };
        let mut names = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => names.push(n),
                _ => bail!("refusing to remove `{}`: not a plain path", path.display()),
            }
        }
        if let Some(name) = names.last().and_then(|n| n.to_str())
            && crate::cargo::locks::PROTECTED.contains(&name)
        {
            bail!("refusing to remove `{}`: Cargo needs it", path.display());
        }
        Ok(names)
    }

    /// The directory holding `path`, reached from the root's handle through real directories
    /// only, and `path`'s last name. `None` when a directory on the way is gone (so is
    /// `path`).
    fn reach(&self, path: &Path) -> Result<Option<(Dir, OsString)>> {
        let names = self.names(path)?;
        let (last, dirs) = names.split_last().expect("names() is never empty");
        let mut cur = self.root.try_clone()?;
        let mut at = self.root_path.clone();
        for n in dirs {
            at.push(n);
            cur = match cur.open_dir(n) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) if sysfs::is_symlink(&e) => bail!(
                    "refusing to remove `{}`: `{}` is a symlink (never followed)",
                    path.display(),
                    at.display()
                ),
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => bail!(
                    "refusing to remove `{}`: `{}` is not a directory",
                    path.display(),
                    at.display()
                ),
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("cannot open `{}`", at.display()))
                    );
                }
            };
        }
        Ok(Some((cur, (*last).to_owned())))
    }

    /// What removing `path` would take, without removing anything: the same checks as
    /// [`Remover::detach`] (strictly inside the root, reached through real directories, not
    /// a protected file), then the same walk on handles as [`empty`].
    pub fn measure(&self, path: &Path) -> Result<Removed> {
        let Some((parent, name)) = self.reach(path)? else {
            return Ok(Removed::default());
        };
        let u = Walker::new().usage_at(&parent, &name, path);
        Ok(Removed {
            files: u.files,
            bytes: u.bytes,
        })
    }

    /// What emptying the leftover trash would take.
    pub fn measure_leftover(&self) -> Result<Removed> {
        let mut r = Removed::default();
        for t in self.leftover_trash()? {
            let u = Walker::new().usage_at(&t.parent, &t.name, &t.path);
            r += Removed {
                files: u.files,
                bytes: u.bytes,
            };
        }
        Ok(r)
    }

    /// Makes `path` disappear from Cargo's view at once. A file or symlink is unlinked; a
    /// directory is renamed into the trash and returned, to be emptied with [`empty`]. A path
    /// that is already gone is fine.
    pub fn detach(&mut self, path: &Path) -> Result<Detached> {
        let Some((parent, name)) = self.reach(path)? else {
            return Ok(Detached::Gone);
        };
        let st = match parent.stat(&name) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Detached::Gone),
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot read `{}`", path.display()))
                );
            }
        };
        if st.kind != Kind::Dir {
            match parent.remove_file(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Detached::Gone),
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot remove `{}`", path.display())));
                }
            }
            return Ok(Detached::Removed(Removed {
                files: 1,
                bytes: if st.kind == Kind::File { st.len } else { 0 },
            }));
        }
        let top = self.names(path)?[0];
        let places: Vec<Option<&'static str>> = self
            .trash_places()
            .into_iter()
            .filter(|p| p.is_none_or(|m| top == m))
            .collect();
        'places: for place in places {
            let trash = self.trash(place)?;
            // A name left by a killed run with the same pid is skipped, never replaced.
            for _ in 0..100 {
                self.counter += 1;
                let new = format!("{}-{}", std::process::id(), self.counter);
                match parent.rename(&name, &trash, &new) {
                    Ok(()) => {
                        return Ok(Detached::Trash(Trashed {
                            parent: trash,
                            path: self.trash_path(place).join(&new),
                            name: new.into(),
                        }));
                    }
                    Err(e) if e.kind() == io::ErrorKind::CrossesDevices => continue 'places,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Detached::Gone),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
                        ) => {}
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "cannot move `{}` into `{}`",
                            path.display(),
                            self.trash_path(place).display()
                        )));
                    }
                }
            }
            bail!(
                "cannot move `{}` into `{}`: every name tried is taken",
                path.display(),
                self.trash_path(place).display()
            );
        }
        // No trash on this filesystem: make Cargo re-extract whatever survives a crash, then
        // delete in place.
        remove_markers(&parent, &name)
            .with_context(|| format!("cannot remove the markers of `{}`", path.display()))?;
        Ok(Detached::InPlace(Trashed {
            parent: Arc::new(parent),
            name,
            path: path.to_owned(),
        }))
    }

    /// Records, in the root's trash, the paths of a unit about to be removed: `first` (its
    /// fingerprint, whose absence makes Cargo rebuild the unit) and `rest`. Returns the
    /// record's name, for [`Remover::end_unit`] once every path is detached; `None` when a
    /// path is not plain UTF-8 (nothing is recorded then).
    pub fn begin_unit(&mut self, first: &Path, rest: &[&Path]) -> Result<Option<OsString>> {
        let mut text = String::new();
        for p in std::iter::once(first).chain(rest.iter().copied()) {
            let names = self.names(p)?;
            let Some(names) = names.iter().map(|n| n.to_str()).collect::<Option<Vec<_>>>() else {
                return Ok(None);
            };
            if names.iter().any(|n| n.contains('\n')) {
                return Ok(None);
            }
            text.push_str(&names.join("/"));
            text.push('\n');
        }
        let trash = self.trash(None)?;
        self.counter += 1;
        let base = format!("{}-{}", std::process::id(), self.counter);
        let (tmp, name) = (format!("{base}.tmp"), format!("{base}{RECORD}"));
        let at = self.trash_path(None).join(&name);
        let write = || -> io::Result<()> {
            use std::io::Write;
            let opts = sysfs::FileOptions {
                write: true,
                create: true,
            };
            let mut f = trash.open_file(&tmp, opts)?;
            f.set_len(0)?;
            f.write_all(text.as_bytes())?;
            // Whole or absent: a run killed while writing leaves only the temporary name.
            trash.rename(&tmp, &trash, &name)
        };
        write().with_context(|| format!("cannot write `{}`", at.display()))?;
        Ok(Some(name.into()))
    }

    /// Drops the record [`Remover::begin_unit`] made, once every path of the unit is
    /// detached.
    pub fn end_unit(&mut self, record: &OsStr) -> Result<()> {
        let trash = self.trash(None)?;
        match trash.remove_file(record) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(anyhow::Error::new(e).context(format!(
                    "cannot remove `{}`",
                    self.trash_path(None).join(record).display()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Finishes the units a killed run left half detached: for each record in the root's
    /// trash whose unit's fingerprint is still gone, detaches and deletes the paths it lists
    /// (each checked and reached like any path to remove); then drops the record. Errors are
    /// returned with the path they concern; the records are dropped all the same.
    pub fn finish_units(&mut self) -> (Removed, Vec<(PathBuf, String)>) {
        let mut removed = Removed::default();
        let mut errors = Vec::new();
        let Ok(base) = self.trash_base(None) else {
            return (removed, errors);
        };
        let Ok(trash) = base.open_dir(TRASH) else {
            // Missing; a symlink or a file there is reported by `leftover_trash`.
            return (removed, errors);
        };
        let trash_path = self.trash_path(None);
        let entries = match trash.entries() {
            Ok(e) => e,
            Err(e) => {
                errors.push((trash_path, e.to_string()));
                return (removed, errors);
            }
        };
        for e in entries {
            if !e.name.to_str().is_some_and(|n| n.ends_with(RECORD)) {
                continue;
            }
            let at = trash_path.join(&e.name);
            let text = trash
                .open_file(&e.name, sysfs::FileOptions::default())
                .and_then(|mut f| {
                    let mut t = String::new();
                    std::io::Read::read_to_string(&mut f, &mut t).map(|_| t)
                });
            match text {
                Ok(text) => {
                    let root = self.root_path.clone();
                    let mut lines = text.lines().map(|l| root.join(l));
                    let fingerprint_gone = lines.next().is_some_and(|fp| {
                        matches!(self.reach(&fp), Ok(None))
                            || matches!(self.reach(&fp), Ok(Some((d, n))) if d.stat(&n)
                                .is_err_and(|e| e.kind() == io::ErrorKind::NotFound))
                    });
                    if fingerprint_gone {
                        for p in lines {
                            match self.detach(&p) {
                                Ok(Detached::Gone) => {}
                                Ok(Detached::Removed(r)) => removed += r,
                                Ok(Detached::Trash(t) | Detached::InPlace(t)) => match empty(&t) {
                                    Ok(r) => removed += r,
                                    Err(err) => errors.push((p, err.to_string())),
                                },
                                Err(err) => errors.push((p, format!("{err:#}"))),
                            }
                        }
                    }
                }
                Err(err) => errors.push((at.clone(), err.to_string())),
            }
            if let Err(err) = trash.remove_file(&e.name)
                && err.kind() != io::ErrorKind::NotFound
            {
                errors.push((at, err.to_string()));
            }
        }
        (removed, errors)
    }

    /// Whether a trash is there (left by a killed run, or a symlink to refuse), so that a run
    /// with nothing else to remove still takes its locks and deals with it.
    pub fn has_leftover(&self) -> bool {
        self.trash_places()
            .into_iter()
            .any(|p| self.trash_base(p).is_ok_and(|b| b.stat(TRASH).is_ok()))
    }

    /// Trash left behind by a run that was killed, to be emptied first. A trash that is not a
    /// real directory is an error (it is never followed).
    pub fn leftover_trash(&self) -> Result<Vec<Trashed>> {
        let mut out = Vec::new();
        for place in self.trash_places() {
            // A top directory that is missing or a symlink holds no trash of ours.
            let Ok(base) = self.trash_base(place) else {
                continue;
            };
            let path = self.trash_path(place);
            let dir = match base.open_dir(TRASH) {
                Ok(d) => Arc::new(d),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if sysfs::is_symlink(&e) => bail!(
                    "refusing to empty `{}`: it is a symlink (never followed)",
                    path.display()
                ),
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => bail!(
                    "refusing to empty `{}`: it is not a directory",
                    path.display()
                ),
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("cannot open `{}`", path.display()))
                    );
                }
            };
            let entries = dir
                .entries()
                .with_context(|| format!("cannot list `{}`", path.display()))?;
            for e in entries {
                out.push(Trashed {
                    parent: dir.clone(),
                    path: path.join(&e.name),
                    name: e.name,
                });
            }
        }
        Ok(out)
    }

    /// Removes the trash directories once they are empty.
    pub fn finish(&self) {
        for place in self.trash_places() {
            if let Ok(base) = self.trash_base(place) {
                // Only an empty directory goes; a symlink there is not a directory.
                let _ = base.remove_dir(TRASH);
            }
        }
    }
}

/// Removes `.cargo-ok` in the directory `name` of `parent` and in each of its immediate
/// subdirectories.
fn remove_markers(parent: &Dir, name: &OsStr) -> io::Result<()> {
    let gone = |r: io::Result<()>| match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    let dir = parent.open_dir(name)?;
    gone(dir.remove_file(".cargo-ok"))?;
    for e in dir.entries()? {
        let is_dir = match e.kind {
            Some(k) => k == Kind::Dir,
            None => dir.stat(&e.name).is_ok_and(|s| s.kind == Kind::Dir),
        };
        if !is_dir {
            continue;
        }
        match dir.open_dir(&e.name) {
            Ok(sub) => gone(sub.remove_file(".cargo-ok"))?,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory
                    || sysfs::is_symlink(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes a detached directory tree on handles, counting what it held (a file with several
/// links once, as the dry run's walk counts it). Symlinks are removed, never followed.
pub fn empty(t: &Trashed) -> io::Result<Removed> {
    let mut removed = Removed::default();
    empty_entry(
        &t.parent,
        &t.name,
        &t.path,
        &mut HashSet::new(),
        &mut removed,
    )?;
    Ok(removed)
}

/// `e`, saying where.
fn at_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!(
        "`{}` kept changing while being removed; left in place",
        path.display()
    ))
}

/// Removes the entry `name` of `parent` (shown as `path`), whatever it is.
fn empty_entry(
    parent: &Dir,
    name: &OsStr,
    path: &Path,
    seen: &mut HashSet<FileId>,
    removed: &mut Removed,
) -> io::Result<()> {
    let mut changes = 0;
    loop {
        if changes > CHANGES {
            return Err(changed(path));
        }
        let st = match parent.stat(name) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(at_path(e, path)),
        };
        if st.kind != Kind::Dir {
            match unlink(parent, name, &st, seen, removed, false) {
                Ok(()) => return Ok(()),
                // It became a directory meanwhile.
                Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                    changes += 1;
                    continue;
                }
                Err(e) => return Err(at_path(e, path)),
            }
        }
        let top = match open_subdir(parent, name) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // It became a symlink or a file meanwhile: look again.
            Err(e) if sysfs::is_symlink(&e) || e.kind() == io::ErrorKind::NotADirectory => {
                changes += 1;
                continue;
            }
            Err(e) => return Err(at_path(e, path)),
        };
        empty_tree(top, path, seen, removed, &mut changes)?;
        match parent.remove_dir(name) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotADirectory
                ) =>
            {
                changes += 1;
            }
            Err(e) => return Err(at_path(e, path)),
        }
    }
}

/// Opens the subdirectory `name` of `dir` (inside what we remove), giving its owner access
/// first if it has none.
fn open_subdir(dir: &Dir, name: &OsStr) -> io::Result<Dir> {
    match dir.open_dir(name) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            dir.make_dir_accessible(name)?;
            dir.open_dir(name)
        }
        r => r,
    }
}

/// Unlinks the non-directory `name` of `dir` (described by `st`) and counts it, a file with
/// several links only the first time. With `repair`, a `dir` we may not write is made
/// writable and the unlink retried.
fn unlink(
    dir: &Dir,
    name: &OsStr,
    st: &Stat,
    seen: &mut HashSet<FileId>,
    removed: &mut Removed,
    repair: bool,
) -> io::Result<()> {
    let r = match dir.remove_file(name) {
        Err(e) if repair && e.kind() == io::ErrorKind::PermissionDenied => {
            dir.make_writable()?;
            dir.remove_file(name)
        }
        r => r,
    };
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    // The other links of a file may be gone already (its link count then reads 1): look
    // every file up, remember those with several links.
    let counted_before = seen.contains(&st.id);
    if st.links > 1 {
        seen.insert(st.id);
    }
    if !counted_before {
        removed.files += 1;
        removed.bytes += if st.kind == Kind::File { st.len } else { 0 };
    }
    Ok(())
}

/// A directory's state while it is emptied: listed yet, and the subdirectories still to go.
#[derive(Default)]
struct Listing {
    listed: bool,
    subdirs: Vec<OsString>,
}

/// Removes everything inside the open directory `top` (shown as `path`), depth first, each
/// directory's non-directories unlinked relative to it, then the directory removed relative
/// to its parent.
fn empty_tree(
    top: Dir,
    path: &Path,
    seen: &mut HashSet<FileId>,
    removed: &mut Removed,
    changes: &mut u32,
) -> io::Result<()> {
    let mut stack =
        DirStack::new(top, Listing::default(), OPEN_DIRS).map_err(|e| at_path(e, path))?;
    let mut at = path.to_owned();
    loop {
        if *changes > CHANGES {
            return Err(changed(&at));
        }
        // List the deepest directory once: unlink its non-directories, keep its subdirectories.
        let next = {
            let (dir, listing) = stack.top().map_err(|e| at_path(e, &at))?;
            if !listing.listed {
                listing.subdirs.clear();
                for e in dir.entries().map_err(|e| at_path(e, &at))? {
                    if e.kind == Some(Kind::Dir) {
                        listing.subdirs.push(e.name);
                        continue;
                    }
                    let st = match dir.stat(&e.name) {
                        Ok(st) => st,
                        Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(at_path(err, &at.join(&e.name))),
                    };
                    if st.kind == Kind::Dir {
                        listing.subdirs.push(e.name);
                        continue;
                    }
                    match unlink(dir, &e.name, &st, seen, removed, true) {
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::IsADirectory => {
                            *changes += 1;
                            listing.subdirs.push(e.name);
                        }
                        Err(err) => return Err(at_path(err, &at.join(&e.name))),
                    }
                }
                listing.listed = true;
            }
            listing.subdirs.pop()
        };
        // Go into the next subdirectory.
        if let Some(name) = next {
            let mut opened = stack.push(&name, Listing::default());
            if matches!(&opened, Err(e) if e.kind() == io::ErrorKind::PermissionDenied) {
                let (dir, _) = stack.top().map_err(|e| at_path(e, &at))?;
                opened = dir
                    .make_dir_accessible(&name)
                    .and_then(|()| stack.push(&name, Listing::default()));
            }
            match opened {
                Ok(()) => at.push(&name),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Replaced by a symlink or a file since the listing: list again, so that
                // what is there now is unlinked, never followed.
                Err(e) if sysfs::is_symlink(&e) || e.kind() == io::ErrorKind::NotADirectory => {
                    *changes += 1;
                    let (_, listing) = stack.top().map_err(|e| at_path(e, &at))?;
                    listing.listed = false;
                }
                Err(e) => return Err(at_path(e, &at.join(&name))),
            }
            continue;
        }
        // This directory is empty: remove it from its parent (the caller removes the top).
        if stack.len() == 1 {
            return Ok(());
        }
        let (name, _) = stack.pop().expect("deeper than the top");
        let (dir, listing) = stack.top().map_err(|e| at_path(e, &at))?;
        let r = match dir.remove_dir(&name) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                dir.make_writable().map_err(|e| at_path(e, &at))?;
                dir.remove_dir(&name)
            }
            r => r,
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Something was put in it, or something else is at its name now: list the
            // parent again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotADirectory
                ) =>
            {
                *changes += 1;
                listing.listed = false;
            }
            Err(e) => return Err(at_path(e, &at)),
        }
        at.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::lock::{Held, MutateExclusive, Wait};
    use crate::sys::fs::symlink;

    /// The Cargo home `root`'s `MutateExclusive`, held.
    fn home_lock(root: &Path) -> MutateExclusive {
        MutateExclusive::acquire(root, Wait::NoWait, &mut |_, _| panic!("busy")).unwrap()
    }
    use std::fs;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn trashed(parent: &Path, name: &str) -> Trashed {
        Trashed {
            parent: Arc::new(Dir::open(parent).unwrap()),
            name: name.into(),
            path: parent.join(name),
        }
    }

    #[test]
    fn refuses_outside_symlinks_and_lock_files() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        fs::create_dir_all(root.join("registry/src/r")).unwrap();
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("registry/src/r/link")).unwrap();
        symlink(&outside, root.join("git")).unwrap();
        let mut r = Remover::new(&root).unwrap();
        assert!(r.measure(&outside).is_err());
        assert!(r.measure(&root).is_err());
        let e = r.measure(&root.join("git/db/x")).unwrap_err().to_string();
        assert!(e.contains("`") && e.contains("git` is a symlink"), "{e}");
        assert!(r.measure(&root.join("registry/../x")).is_err());
        for lock in [".package-cache", ".global-cache", "registry/.cargo-lock"] {
            assert!(r.measure(&root.join(lock)).is_err(), "{lock}");
        }
        assert!(r.measure(&root.join("registry/src/r/ok-1.0.0")).is_ok());
        // A symlink as the unit itself is unlinked, never followed.
        fs::write(outside.join("precious"), "x").unwrap();
        let link = root.join("registry/src/r/link");
        assert!(matches!(r.detach(&link).unwrap(), Detached::Removed(_)));
        assert!(link.symlink_metadata().is_err());
        assert!(outside.join("precious").exists());
        // Nothing was created: no trash, nothing in the symlinked `git`.
        assert!(!root.join(TRASH).exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    }

    #[test]
    fn detach_renames_then_empty_counts() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_owned();
        let unit = root.join("registry/src/r/a-1.0.0");
        fs::create_dir_all(unit.join("src")).unwrap();
        fs::write(unit.join(".cargo-ok"), "{\"v\":1}").unwrap();
        fs::write(unit.join("src/lib.rs"), "x".repeat(100)).unwrap();
        let mut r = Remover::new(&root).unwrap();
        let two = Removed {
            files: 2,
            bytes: 107,
        };
        assert_eq!(r.measure(&unit).unwrap(), two);
        assert!(!r.has_leftover());
        let Detached::Trash(dest) = r.detach(&unit).unwrap() else {
            panic!("expected a rename")
        };
        assert!(!unit.exists());
        assert!(r.has_leftover());
        let left = r.leftover_trash().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path, dest.path);
        assert_eq!(r.measure_leftover().unwrap(), two);
        assert_eq!(empty(&dest).unwrap(), two);
        r.finish();
        assert!(matches!(r.detach(&unit).unwrap(), Detached::Gone));
        // Closed first: without POSIX delete semantics (FAT, Wine) a directory deleted
        // through a handle keeps its name until the last handle to it closes.
        drop((left, dest, r));
        assert!(!root.join(TRASH).exists());
    }

    #[test]
    fn a_symlinked_trash_is_refused_not_followed() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        let victim = t.path().join("victim");
        fs::create_dir_all(victim.join("keep")).unwrap();
        fs::write(victim.join("keep/file"), "precious").unwrap();
        fs::create_dir_all(root.join("registry/src/r/a-1.0.0")).unwrap();
        symlink(&victim, root.join(TRASH)).unwrap();
        let mut r = Remover::new(&root).unwrap();
        assert!(r.has_leftover(), "a symlinked trash is reported");
        let e = r.leftover_trash().unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
        assert!(r.detach(&root.join("registry/src/r/a-1.0.0")).is_err());
        assert!(root.join("registry/src/r/a-1.0.0").exists());
        r.finish();
        assert!(root.join(TRASH).symlink_metadata().is_ok());
        assert_eq!(
            fs::read_to_string(victim.join("keep/file")).unwrap(),
            "precious"
        );
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 1);
    }

    #[test]
    fn markers_go_first_when_deleting_in_place() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let reg = t.path().join("src-reg");
        for n in ["a-1", "b-1"] {
            fs::create_dir_all(reg.join(n)).unwrap();
            fs::write(reg.join(n).join(".cargo-ok"), "{\"v\":1}").unwrap();
            fs::write(reg.join(n).join("lib.rs"), "x").unwrap();
        }
        // A symlinked subdirectory's marker is not followed.
        let outside = t.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join(".cargo-ok"), "").unwrap();
        symlink(&outside, reg.join("c-1")).unwrap();
        remove_markers(&Dir::open(t.path()).unwrap(), OsStr::new("src-reg")).unwrap();
        assert!(!reg.join("a-1/.cargo-ok").exists());
        assert!(!reg.join("b-1/.cargo-ok").exists());
        assert!(reg.join("a-1/lib.rs").exists());
        assert!(outside.join(".cargo-ok").exists());
    }

    #[test]
    fn hard_links_count_once_when_emptying() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a"), vec![0u8; 100]).unwrap();
        fs::hard_link(d.join("a"), d.join("b")).unwrap();
        let r = Remover::new(t.path()).unwrap();
        let once = Removed {
            files: 1,
            bytes: 100,
        };
        assert_eq!(r.measure(&d).unwrap(), once);
        assert_eq!(empty(&trashed(t.path(), "d")).unwrap(), once);
        assert!(!d.exists());
    }

    #[test]
    fn a_path_longer_than_path_max_is_emptied_and_measured_alike() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        let unit = root.join("debug/build/x-0123456789abcdef");
        fs::create_dir_all(unit.join("out")).unwrap();
        // 40 levels of 150-byte names (over 6000 bytes, past PATH_MAX), more levels than
        // the emptier keeps open, with a file at every level.
        let name = "n".repeat(150);
        let mut d = Dir::open(&unit.join("out")).unwrap();
        for i in 0..40 {
            d.create_dir(&name).unwrap();
            d = d.open_dir(&name).unwrap();
            let opts = sysfs::FileOptions {
                write: true,
                create: true,
            };
            std::io::Write::write_all(&mut d.open_file("f", opts).unwrap(), &[0u8; 10]).unwrap();
            if i == 39 {
                symlink("/", unit.join("out/x")).unwrap();
            }
        }
        let mut r = Remover::for_target(&root).unwrap();
        let dry = r.measure(&unit).unwrap();
        assert_eq!(
            dry,
            Removed {
                files: 41,
                bytes: 400
            }
        );
        let Detached::Trash(dest) = r.detach(&unit).unwrap() else {
            panic!("expected a rename")
        };
        assert_eq!(empty(&dest).unwrap(), dry);
        r.finish();
        assert_eq!(
            fs::read_dir(&root).unwrap().count(),
            1,
            "only debug/ is left"
        );
        assert!(!root.join(TRASH).exists());
    }

    #[test]
    fn symlinks_in_a_leftover_trash_are_removed_never_followed() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        let outside = t.path().join("outside");
        let victims = names("v", 3);
        sentinels(&outside, &victims);
        let trash = root.join(TRASH);
        fs::create_dir_all(trash.join("1-1/a/b")).unwrap();
        symlink(&outside, trash.join("1-1/a/b/link")).unwrap();
        symlink(&outside, trash.join("1-1/a/dirlink")).unwrap();
        symlink(&outside, trash.join("1-2")).unwrap();
        symlink(outside.join("v0"), trash.join("1-3")).unwrap();
        let r = Remover::for_target(&root).unwrap();
        let dry = r.measure_leftover().unwrap();
        let mut removed = Removed::default();
        for t in r.leftover_trash().unwrap() {
            removed += empty(&t).unwrap();
        }
        r.finish();
        assert_eq!(dry, removed);
        assert_eq!(removed.files, 4, "four symlinks");
        assert!(!trash.exists());
        assert_intact(&outside, &victims, 0);
    }

    /// `dir` holds exactly `names`, each file with its own content.
    fn sentinels(dir: &Path, names: &[String]) {
        fs::create_dir_all(dir).unwrap();
        for n in names {
            fs::write(dir.join(n), format!("sentinel {n}")).unwrap();
        }
    }

    fn assert_intact(dir: &Path, names: &[String], round: usize) {
        let mut found: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        found.sort();
        let mut want = names.to_vec();
        want.sort();
        assert_eq!(found, want, "round {round}: the outside directory changed");
        for n in names {
            assert_eq!(
                fs::read_to_string(dir.join(n)).unwrap(),
                format!("sentinel {n}"),
                "round {round}"
            );
        }
    }

    /// A thread that keeps swapping `target` for a symlink to `outside` (moving the real one
    /// aside and back) until told to stop; [`Attacker::join`] says how many swaps it made.
    struct Attacker {
        thread: std::thread::JoinHandle<()>,
        swaps: Arc<std::sync::atomic::AtomicU64>,
    }

    impl Attacker {
        /// Waits for the first swap, so that what runs next races it even on a busy machine.
        fn started(self) -> Attacker {
            let t = std::time::Instant::now();
            while self.swaps.load(Ordering::Relaxed) == 0 {
                assert!(t.elapsed().as_secs() < 30, "the attacker never swapped");
                std::thread::yield_now();
            }
            self
        }

        fn join(self) -> u64 {
            self.thread.join().unwrap();
            self.swaps.load(Ordering::Relaxed)
        }
    }

    fn attacker(target: PathBuf, outside: PathBuf, stop: Arc<AtomicBool>) -> Attacker {
        let swaps = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = swaps.clone();
        let thread = std::thread::spawn(move || {
            let aside = PathBuf::from(format!("{}.aside", target.display()));
            // What an earlier round left aside (its way back was taken by a new directory)
            // would make every rename below fail.
            let _ = fs::remove_dir_all(&aside);
            while !stop.load(Ordering::Relaxed) {
                if fs::rename(&target, &aside).is_ok() {
                    if symlink(&outside, &target).is_ok() {
                        counted.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                        let _ = fs::remove_file(&target);
                    }
                    let _ = fs::rename(&aside, &target);
                }
                std::thread::yield_now();
            }
        });
        Attacker { thread, swaps }.started()
    }

    const ROUNDS: usize = 300;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn race_detach_against_a_swapped_intermediate_directory() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        // What `registry/src/r/u<i>` means once `r` is a symlink to `outside`.
        let outside = t.path().join("outside");
        let units = names("u", 10);
        let victims = names("v", 5);
        for u in &units {
            sentinels(&outside.join(u), &victims);
        }
        let (mut swaps, mut removed) = (0, 0);
        for round in 0..ROUNDS {
            for u in &units {
                sentinels(&root.join("registry/src/r").join(u), &names("f", 5));
            }
            let mut r = Remover::new(&root).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let a = attacker(root.join("registry/src/r"), outside.clone(), stop.clone());
            for u in &units {
                let res = r.detach(&root.join("registry/src/r").join(u));
                if let Ok(Detached::Trash(t) | Detached::InPlace(t)) = &res {
                    empty(t).unwrap();
                }
                removed += usize::from(res.is_ok());
            }
            stop.store(true, Ordering::Relaxed);
            swaps += a.join();
            r.finish();
            for u in &units {
                assert_intact(&outside.join(u), &victims, round);
            }
            assert_eq!(fs::read_dir(&outside).unwrap().count(), units.len());
        }
        assert!(swaps >= ROUNDS as u64, "the attacker raced: {swaps} swaps");
        assert!(removed > 0, "some removals went through");
    }

    #[test]
    fn race_empty_against_a_swapped_directory_inside_the_unit() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        let outside = t.path().join("outside");
        let victims = names("f", 30);
        sentinels(&outside, &victims);
        let mut swaps = 0;
        for round in 0..ROUNDS {
            let unit = root.join("registry/src/r/a-1.0.0");
            // The same names as outside, so a remover that follows `sub` deletes sentinels.
            sentinels(&unit.join("sub"), &victims);
            sentinels(&unit.join("sub/deeper"), &victims);
            let mut r = Remover::new(&root).unwrap();
            let Detached::Trash(dest) = r.detach(&unit).unwrap() else {
                panic!("expected a rename")
            };
            let stop = Arc::new(AtomicBool::new(false));
            let a = attacker(dest.path.join("sub"), outside.clone(), stop.clone());
            // It may give up on a tree that keeps changing, never leave it.
            let _ = empty(&dest);
            stop.store(true, Ordering::Relaxed);
            swaps += a.join();
            assert_intact(&outside, &victims, round);
            for t in r.leftover_trash().unwrap() {
                empty(&t).unwrap();
            }
            r.finish();
            assert!(!root.join(TRASH).exists(), "round {round}");
        }
        assert!(swaps >= ROUNDS as u64, "the attacker raced: {swaps} swaps");
    }

    #[test]
    fn race_the_executor_against_a_swapped_trash_directory() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        use crate::act::executor;
        use crate::plan::{ItemKind, Plan, PlanItem, Row};
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("home");
        let outside = t.path().join("outside");
        let victims = names("s", 30);
        sentinels(&outside, &victims);
        let mut swaps = 0;
        for round in 0..ROUNDS {
            // A killed run's trash whose entries have the sentinels' names, and a unit.
            sentinels(&root.join(TRASH), &victims);
            let unit = root.join("registry/src/r/a-1.0.0");
            sentinels(&unit, &names("f", 5));
            let plan = Plan {
                items: vec![PlanItem {
                    path: unit.clone(),
                    kind: ItemKind::Unit,
                    bytes: 0,
                    disk_bytes: None,
                    reason: "test".into(),
                    row: Row::None,
                    after_previous: false,
                }],
            };
            let mut r = Remover::new(&root).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let a = attacker(root.join(TRASH), outside.clone(), stop.clone());
            let lock = home_lock(&root);
            let _ = executor::execute(&plan, &mut r, Held::Home(&lock), None, &|_| {});
            stop.store(true, Ordering::Relaxed);
            swaps += a.join();
            assert_intact(&outside, &victims, round);
            // Clean up for the next round, without the attacker.
            let mut r = Remover::new(&root).unwrap();
            let out = executor::execute(&plan, &mut r, Held::Home(&lock), None, &|_| {}).unwrap();
            assert!(out.errors.is_empty(), "round {round}: {:?}", out.errors);
            assert!(!root.join(TRASH).exists(), "round {round}");
            assert!(!unit.exists(), "round {round}");
        }
        assert!(swaps >= ROUNDS as u64, "the attacker raced: {swaps} swaps");
    }
}
