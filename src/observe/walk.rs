//! The one directory walker: apparent and on-disk sizes, hard links counted once, symlinks
//! never followed, files never opened.
//!
//! Measured in locks.md §B.2: a serial `read_dir` + `DirEntry::metadata` walk (one `statx`
//! relative to the directory fd per entry) matches `du`, and path-based walkers are 1.5–2×
//! slower. So this is a plain std walker, no dependency.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
    key: (u64, u64),
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

/// Walks `path` without following symlinks. Files with several links go to `linked`.
fn walk_raw(path: &Path, skip: &(dyn Fn(&Path) -> bool + Sync)) -> Raw {
    let mut raw = Raw::default();
    let meta = match path.symlink_metadata() {
        Ok(m) => m,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                raw.errors.push((path.to_owned(), e));
            }
            return raw;
        }
    };
    raw.count(&meta);
    if !meta.is_dir() {
        return raw;
    }
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                raw.errors.push((dir, e));
                continue;
            }
        };
        for entry in rd {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    raw.errors.push((dir.clone(), e));
                    continue;
                }
            };
            let child = entry.path();
            if skip(&child) {
                continue;
            }
            // fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW): never follows a symlink.
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    if e.kind() != io::ErrorKind::NotFound {
                        raw.errors.push((child, e));
                    }
                    continue;
                }
            };
            raw.count(&meta);
            if meta.is_dir() {
                stack.push(child);
            }
        }
    }
    raw
}

impl Raw {
    fn count(&mut self, meta: &std::fs::Metadata) {
        self.entries += 1;
        let is_dir = meta.is_dir();
        let bytes = if meta.is_file() { meta.len() } else { 0 };
        let disk_bytes = meta.blocks() * 512;
        if !is_dir && meta.nlink() > 1 {
            self.linked.push(Linked {
                key: (meta.dev(), meta.ino()),
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
    seen: HashSet<(u64, u64)>,
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
pub fn file_usage(meta: &std::fs::Metadata) -> Usage {
    Usage {
        files: 1,
        bytes: if meta.is_file() { meta.len() } else { 0 },
        disk_bytes: meta.blocks() * 512,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn hard_links_once_symlinks_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("a/f"), vec![0u8; 10_000]).unwrap();
        fs::hard_link(root.join("a/f"), root.join("g")).unwrap();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("big"), vec![0u8; 100_000]).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();

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
