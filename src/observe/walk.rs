//! The one directory walker: apparent and on-disk sizes, hard links counted once, symlinks
//! never followed, files never opened.
//!
//! It walks on directory handles ([`crate::sys::fs::Dir`]): each directory is opened relative
//! to its parent without following symlinks, and each entry is `stat`ed relative to its
//! directory. So a path of any length is counted (a `node_modules` in a build script's
//! `OUT_DIR` is often longer than `PATH_MAX`, where path-based calls fail), the dry run counts
//! exactly what the remover, which walks the same way, deletes, and a directory swapped for a
//! symlink mid-walk is never entered. Measured in locks.md §B.2: a serial listing plus one
//! `stat` relative to the directory per entry matches `du`; path-based walkers are 1.5–2×
//! slower. So this is a plain walker, no dependency.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use crate::sys::fs::{Dir, DirStack, FileId, Kind, OPEN_DIRS, Stat};

/// What a walk found. `bytes` is apparent size (the sum of regular files' lengths, like
/// Cargo's own size accounting); `disk_bytes` is allocated blocks of every entry, directories
/// included (what `du -s` reports and what deleting gives back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
    pub disk_bytes: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.disk_bytes += o.disk_bytes;
    }
}

/// A file with more than one link, met during a walk: counted only where first met, in the
/// order the walks were asked for.
#[derive(Clone, Copy, Debug)]
struct Linked {
    key: FileId,
    bytes: u64,
    disk_bytes: u64,
}

/// One walk's result before hard links are attributed.
#[derive(Default)]
struct Raw {
    usage: Usage,
    linked: Vec<Linked>,
    errors: Vec<(PathBuf, io::Error)>,
    entries: u64,
}

type SkipFn<'a> = &'a (dyn Fn(&Path) -> bool + Sync);

/// Walks `path` without following symlinks (in `path`'s last component or below it; the
/// directories leading to it are taken as given). Files with several links go to `linked`.
fn walk_raw(path: &Path, skip: SkipFn<'_>) -> Raw {
    let mut raw = Raw::default();
    let opened = match path.file_name() {
        Some(name) => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Dir::open(parent).map(|d| (d, Some(name)))
        }
        // `/` or a path ending in `..`: the directory itself, as given.
        None => Dir::open(path).map(|d| (d, None)),
    };
    match opened {
        Ok((parent, Some(name))) => walk_at(&parent, name, path, skip, &mut raw),
        Ok((dir, None)) => match dir.metadata() {
            Ok(st) => {
                raw.count(&st);
                walk_tree(dir, path, skip, &mut raw);
            }
            Err(e) => raw.errors.push((path.to_owned(), e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => raw.errors.push((path.to_owned(), e)),
    }
    raw
}

/// Walks the entry `name` of `parent` (shown as `path`).
fn walk_at(parent: &Dir, name: &OsStr, path: &Path, skip: SkipFn<'_>, raw: &mut Raw) {
    let st = match parent.stat(name) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            raw.errors.push((path.to_owned(), e));
            return;
        }
    };
    raw.count(&st);
    if st.kind != Kind::Dir {
        return;
    }
    match parent.open_dir(name) {
        Ok(dir) => walk_tree(dir, path, skip, raw),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => raw.errors.push((path.to_owned(), e)),
    }
}

/// Counts everything below the open directory `top` (shown as `path`), depth first.
fn walk_tree(top: Dir, path: &Path, skip: SkipFn<'_>, raw: &mut Raw) {
    // Each directory's state: the subdirectories still to walk, once it has been listed.
    let mut stack: DirStack<Option<Vec<std::ffi::OsString>>> =
        match DirStack::new(top, None, OPEN_DIRS) {
            Ok(s) => s,
            Err(e) => {
                raw.errors.push((path.to_owned(), e));
                return;
            }
        };
    let mut at = path.to_owned();
    loop {
        let next = match stack.top() {
            Err(e) => {
                raw.errors.push((at.clone(), e));
                None
            }
            Ok((dir, pending)) => {
                let pending = pending.get_or_insert_with(|| {
                    let mut subdirs = Vec::new();
                    match dir.entries() {
                        Ok(entries) => {
                            for e in entries {
                                let child = at.join(&e.name);
                                if skip(&child) {
                                    continue;
                                }
                                match dir.stat(&e.name) {
                                    Ok(st) => {
                                        raw.count(&st);
                                        if st.kind == Kind::Dir {
                                            subdirs.push(e.name);
                                        }
                                    }
                                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                                    Err(e) => raw.errors.push((child, e)),
                                }
                            }
                        }
                        Err(e) => raw.errors.push((at.clone(), e)),
                    }
                    subdirs
                });
                pending.pop()
            }
        };
        if let Some(name) = next {
            match stack.push(&name, None) {
                Ok(()) => at.push(&name),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => raw.errors.push((at.join(&name), e)),
            }
            continue;
        }
        stack.pop();
        if stack.is_empty() {
            break;
        }
        at.pop();
    }
}

impl Raw {
    fn count(&mut self, st: &Stat) {
        self.entries += 1;
        let is_dir = st.kind == Kind::Dir;
        let bytes = if st.kind == Kind::File { st.len } else { 0 };
        let disk_bytes = st.allocated;
        if !is_dir && st.links > 1 {
            self.linked.push(Linked {
                key: st.id,
                bytes,
                disk_bytes,
            });
            return;
        }
        if !is_dir {
            self.usage.files += 1;
        }
        self.usage.bytes += bytes;
        self.usage.disk_bytes += disk_bytes;
    }
}

/// A walker that remembers every multiply-linked inode it has counted, so a file hard-linked
/// into two places counts once across all walks made with the same `Walker`, in the place
/// walked first.
#[derive(Default)]
pub struct Walker<'p> {
    seen: HashSet<FileId>,
    entries: u64,
    progress: Option<&'p dyn Fn(u64)>,
    /// Entries that could not be read (permission denied, vanished mid-walk).
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// What to leave out of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    Nothing,
    /// Every entry named `.git`, at any depth (how Cargo sizes git checkouts).
    DotGit,
}

impl Skip {
    fn test(self, p: &Path) -> bool {
        match self {
            Skip::Nothing => false,
            Skip::DotGit => p.file_name().is_some_and(|n| n == ".git"),
        }
    }
}

impl<'p> Walker<'p> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f(entries_seen_so_far)` every few thousand entries.
    pub fn with_progress(f: &'p dyn Fn(u64)) -> Self {
        Walker {
            progress: Some(f),
            ..Self::default()
        }
    }

    /// Usage of `path` and everything below it. A symlink counts as itself. A missing path
    /// is zero.
    pub fn usage(&mut self, path: &Path) -> Usage {
        self.usage_skipping(path, &|_| false)
    }

    /// Like [`Walker::usage`], but entries for which `skip` returns true (checked on every
    /// directory's entries by full path) are left out with everything below them.
    pub fn usage_skipping(&mut self, path: &Path, skip: &(dyn Fn(&Path) -> bool + Sync)) -> Usage {
        let raw = walk_raw(path, skip);
        self.absorb(raw)
    }

    /// Usage of the entry `name` of the open directory `parent` (shown as `path` in errors):
    /// for callers that reached `parent` through handles, like the remover's dry run.
    pub fn usage_at(&mut self, parent: &Dir, name: &OsStr, path: &Path) -> Usage {
        let mut raw = Raw::default();
        walk_at(parent, name, path, &|_| false, &mut raw);
        self.absorb(raw)
    }

    /// The usage of each path, walked on all cores, with hard links attributed exactly as if
    /// the paths had been walked one after the other in this order.
    pub fn usage_many(&mut self, paths: &[(&Path, Skip)]) -> Vec<Usage> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
            .min(paths.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicU64::new(0);
        let slots: Vec<std::sync::Mutex<Option<Raw>>> =
            paths.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let work = || {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(path, skip)) = paths.get(i) else {
                    break;
                };
                let raw = walk_raw(path, &|p| skip.test(p));
                done.fetch_add(raw.entries, std::sync::atomic::Ordering::Relaxed);
                *slots[i].lock().expect("poisoned") = Some(raw);
            }
        };
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            // This thread works too, and reports progress.
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(path, skip)) = paths.get(i) else {
                    break;
                };
                let raw = walk_raw(path, &|p| skip.test(p));
                let total = done.fetch_add(raw.entries, std::sync::atomic::Ordering::Relaxed);
                if let Some(f) = self.progress {
                    f(self.entries + total + raw.entries);
                }
                *slots[i].lock().expect("poisoned") = Some(raw);
            }
        });
        slots
            .into_iter()
            .map(|m| {
                let raw = m.into_inner().expect("poisoned").unwrap_or_default();
                self.absorb(raw)
            })
            .collect()
    }

    /// Attributes a walk's multiply-linked files (those not yet seen) and keeps its errors.
    fn absorb(&mut self, raw: Raw) -> Usage {
        let before = self.entries;
        self.entries += raw.entries;
        if let Some(f) = self.progress
            && before / 4096 != self.entries / 4096
        {
            f(self.entries);
        }
        let mut u = raw.usage;
        for l in raw.linked {
            if self.seen.insert(l.key) {
                u.files += 1;
                u.bytes += l.bytes;
                u.disk_bytes += l.disk_bytes;
            }
        }
        self.errors.extend(raw.errors);
        u
    }
}

/// Usage of a single regular file from its `lstat` (no walk).
pub fn file_usage(st: &Stat) -> Usage {
    Usage {
        files: 1,
        bytes: if st.kind == Kind::File { st.len } else { 0 },
        disk_bytes: st.allocated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn hard_links_once_symlinks_not_followed() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("a/f"), vec![0u8; 10_000]).unwrap();
        fs::hard_link(root.join("a/f"), root.join("g")).unwrap();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("big"), vec![0u8; 100_000]).unwrap();
        crate::sys::fs::symlink(&outside, root.join("link")).unwrap();

        let mut w = Walker::new();
        let u = w.usage(&root);
        assert_eq!(u.bytes, 10_000);
        assert_eq!(u.files, 2, "the file once, the symlink once");
        // A second walk with the same walker does not count the linked file again.
        let again = w.usage(&root.join("g"));
        assert_eq!(again.bytes, 0);
    }

    #[test]
    fn parallel_walks_attribute_links_in_order() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir_all(a.join(".git")).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("f"), vec![0u8; 5000]).unwrap();
        fs::hard_link(b.join("f"), a.join("f")).unwrap();
        fs::write(a.join(".git/x"), b"123").unwrap();
        let mut w = Walker::new();
        let u = w.usage_many(&[(&b, Skip::Nothing), (&a, Skip::DotGit)]);
        assert_eq!((u[0].bytes, u[1].bytes), (5000, 0));
        let mut w = Walker::new();
        let u = w.usage_many(&[(&a, Skip::Nothing), (&b, Skip::Nothing)]);
        assert_eq!((u[0].bytes, u[1].bytes), (5003, 0));
    }

    #[test]
    fn paths_longer_than_path_max_are_counted() {
        use crate::sys::fs::FileOptions;
        use std::io::Write;
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("top");
        fs::create_dir(&top).unwrap();
        // 30 levels of 200-byte names: over 6000 bytes, longer than PATH_MAX (4096). On
        // Windows 15 (3000 bytes, far past MAX_PATH, 260): Wine maps every name to a Unix
        // path, which cannot be longer than 4096 bytes.
        let name = "d".repeat(200);
        let mut d = Dir::open(&top).unwrap();
        for _ in 0..if cfg!(windows) { 15 } else { 30 } {
            d.create_dir(&name).unwrap();
            d = d.open_dir(&name).unwrap();
        }
        let opts = FileOptions {
            write: true,
            create: true,
        };
        d.open_file("f", opts)
            .unwrap()
            .write_all(&[0u8; 1000])
            .unwrap();
        let mut w = Walker::new();
        let u = w.usage(&top);
        assert!(w.errors.is_empty(), "{:?}", w.errors);
        assert_eq!((u.files, u.bytes), (1, 1000));
    }

    #[test]
    fn skipping_and_missing() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("keep")).unwrap();
        fs::create_dir_all(t.path().join("skip")).unwrap();
        fs::write(t.path().join("keep/a"), b"12345").unwrap();
        fs::write(t.path().join("skip/b"), b"1234567").unwrap();
        let skip = t.path().join("skip");
        let u = Walker::new().usage_skipping(t.path(), &|p| p == skip);
        assert_eq!(u.bytes, 5);
        assert_eq!(
            Walker::new().usage(&t.path().join("nope")),
            Usage::default()
        );
    }
}
