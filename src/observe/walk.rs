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

/// A walker that remembers every multiply-linked inode it has counted, so a file hard-linked
/// into two places counts once across all walks made with the same `Walker`.
#[derive(Default)]
pub struct Walker<'p> {
    seen: HashSet<(u64, u64)>,
    entries: u64,
    progress: Option<&'p dyn Fn(u64)>,
    /// Entries that could not be read (permission denied, vanished mid-walk).
    pub errors: Vec<(PathBuf, io::Error)>,
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

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Usage of `path` and everything below it. A symlink counts as itself. A missing path
    /// is zero.
    pub fn usage(&mut self, path: &Path) -> Usage {
        self.usage_skipping(path, &|_| false)
    }

    /// Like [`Walker::usage`], but entries for which `skip` returns true (checked on every
    /// directory's entries by full path) are left out with everything below them.
    pub fn usage_skipping(&mut self, path: &Path, skip: &dyn Fn(&Path) -> bool) -> Usage {
        let mut usage = Usage::default();
        let meta = match path.symlink_metadata() {
            Ok(m) => m,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    self.errors.push((path.to_owned(), e));
                }
                return usage;
            }
        };
        self.count(&meta, &mut usage);
        if !meta.is_dir() {
            return usage;
        }
        let mut stack = vec![path.to_owned()];
        while let Some(dir) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    self.errors.push((dir, e));
                    continue;
                }
            };
            for entry in rd {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        self.errors.push((dir.clone(), e));
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
                            self.errors.push((child, e));
                        }
                        continue;
                    }
                };
                self.count(&meta, &mut usage);
                if meta.is_dir() {
                    stack.push(child);
                }
            }
        }
        usage
    }

    fn count(&mut self, meta: &std::fs::Metadata, usage: &mut Usage) {
        self.entries += 1;
        if let Some(f) = self.progress
            && self.entries.is_multiple_of(4096)
        {
            f(self.entries);
        }
        let is_dir = meta.is_dir();
        if !is_dir && meta.nlink() > 1 && !self.seen.insert((meta.dev(), meta.ino())) {
            return;
        }
        if !is_dir {
            usage.files += 1;
        }
        if meta.is_file() {
            usage.bytes += meta.len();
        }
        usage.disk_bytes += meta.blocks() * 512;
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
