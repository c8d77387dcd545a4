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
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::sys::fs::{Dir, DirStack, Entry, FileId, Kind, ListBuf, OPEN_DIRS, Stat};

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

/// One entry met by a walk. A tree's nodes are in pre-order: a directory's subtree is the
/// contiguous run of nodes after it, up to `end`.
#[derive(Debug)]
pub struct Node {
    /// The entry's name in its directory (empty for the root).
    pub name: OsString,
    pub stat: Stat,
    /// The directory holding it (`NO_PARENT` for the root).
    pub parent: u32,
    /// One past the last node of its subtree.
    pub end: u32,
}

/// The `parent` of a tree's root.
pub const NO_PARENT: u32 = u32::MAX;

/// What one walk found: every entry below its root (the root first), and what could not be
/// read. A root that does not exist gives no nodes and no error.
#[derive(Debug, Default)]
pub struct Tree {
    /// The root, as given.
    pub path: PathBuf,
    pub nodes: Vec<Node>,
    /// Entries that could not be read (permission denied, a directory replaced mid-walk);
    /// an entry that vanished mid-walk is simply not there, not an error.
    pub errors: Vec<(PathBuf, io::Error)>,
}

impl Tree {
    #[cfg(test)]
    /// The path of node `i` (the root's path joined with the names down to it).
    pub fn path_of(&self, i: usize) -> PathBuf {
        let mut names = Vec::new();
        let mut j = i;
        while j != 0 {
            names.push(&self.nodes[j].name);
            j = self.nodes[j].parent as usize;
        }
        let mut p = self.path.clone();
        for n in names.into_iter().rev() {
            p.push(n);
        }
        p
    }
}

/// Where a walk starts.
#[derive(Clone, Copy)]
pub enum Root<'a> {
    /// A path: the directories leading to its last component are followed as given, the last
    /// component never (a symlink there is counted as itself).
    Path(&'a Path),
    /// The entry `name` of a directory reached through handles, shown as `path`.
    At(&'a Dir, &'a OsStr, &'a Path),
}

/// What to leave out of a walk, with everything below it.
#[derive(Clone, Copy)]
pub enum Skip<'a> {
    Nothing,
    /// Every entry named `.git`, at any depth (how Cargo sizes git checkouts).
    DotGit,
    /// Every entry whose full path the function accepts.
    Matching(&'a (dyn Fn(&Path) -> bool + Sync)),
}

impl Skip<'_> {
    fn test(self, dir: &Path, name: &OsStr) -> bool {
        match self {
            Skip::Nothing => false,
            Skip::DotGit => name == ".git",
            Skip::Matching(f) => f(&dir.join(name)),
        }
    }
}

/// Below this depth a directory's subtree is walked by the thread that reached it, with a
/// bounded number of open handles ([`DirStack`]), so a tree of any depth never runs out of
/// descriptors. Above it, directories are shared between threads.
const SHARED_DEPTH: u32 = 48;

/// No subdirectory listing (not a directory, or not entered).
const NO_SLOT: u32 = u32::MAX;

/// One directory to list: opened already, or to be opened relative to its parent.
struct Job {
    walk: u32,
    slot: u32,
    depth: u32,
    parent: Option<Arc<Dir>>,
    name: OsString,
    dir: Option<Dir>,
    path: PathBuf,
}

/// One directory's entries, each with the slot of its own listing if it is a directory
/// that was entered.
struct Listing {
    slot: u32,
    entries: Entries,
}

/// A directory's entries: name, facts, and the slot of its own listing (`NO_SLOT`: none).
type Entries = Vec<(OsString, Stat, u32)>;

struct Queue {
    jobs: Vec<Job>,
    /// Jobs taken and not finished: while any runs, more may come.
    running: usize,
}

/// What the walking threads share.
struct Shared<'a> {
    queue: Mutex<Queue>,
    more: Condvar,
    slots: AtomicU32,
    entries: AtomicU64,
    skips: &'a [Skip<'a>],
}

/// What one walking thread collects.
#[derive(Default)]
struct Local {
    listings: Vec<Listing>,
    errors: Vec<(u32, PathBuf, io::Error)>,
    buf: ListBuf,
    names: Vec<Entry>,
}

fn ignore_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl Shared<'_> {
    fn take(&self) -> Option<Job> {
        let mut q = self.queue.lock().expect("poisoned");
        loop {
            if let Some(j) = q.jobs.pop() {
                q.running += 1;
                return Some(j);
            }
            if q.running == 0 {
                return None;
            }
            q = self.more.wait(q).expect("poisoned");
        }
    }

    fn finish(&self, new: Vec<Job>) {
        let mut q = self.queue.lock().expect("poisoned");
        q.running -= 1;
        let (n, done) = (new.len(), q.running == 0 && new.is_empty());
        q.jobs.extend(new);
        drop(q);
        if done || n > 1 {
            self.more.notify_all();
        } else if n == 1 {
            self.more.notify_one();
        }
    }

    /// Runs jobs until none is left; `progress` (the calling thread's) hears of entries.
    fn work(&self, local: &mut Local, progress: Option<&dyn Fn(u64)>) {
        while let Some(job) = self.take() {
            let mut new = Vec::new();
            let before = self.entries.load(Ordering::Relaxed);
            self.run(job, local, &mut new);
            if let Some(f) = progress {
                let now = self.entries.load(Ordering::Relaxed);
                if before / 4096 != now / 4096 {
                    f(now);
                }
            }
            self.finish(new);
        }
    }

    /// Lists one directory; its subdirectories become jobs in `new`, or, deep down, are
    /// walked here.
    fn run(&self, job: Job, local: &mut Local, new: &mut Vec<Job>) {
        let dir = match job.dir {
            Some(d) => d,
            None => {
                let parent = job
                    .parent
                    .as_ref()
                    .expect("a job has a directory or a parent");
                match parent.open_dir(&job.name) {
                    Ok(d) => d,
                    Err(e) => {
                        if !ignore_missing(&e) {
                            local.errors.push((job.walk, job.path, e));
                        }
                        return;
                    }
                }
            }
        };
        drop(job.parent);
        if job.depth >= SHARED_DEPTH {
            self.walk_deep(job.walk, job.slot, dir, job.path, local);
            return;
        }
        let dir = Arc::new(dir);
        let subdirs = self.list(job.walk, job.slot, &dir, &job.path, local);
        for (name, slot) in subdirs {
            new.push(Job {
                walk: job.walk,
                slot,
                depth: job.depth + 1,
                parent: Some(dir.clone()),
                path: job.path.join(&name),
                name,
                dir: None,
            });
        }
    }

    /// Lists and `stat`s the entries of `dir` (shown as `path`) into its listing; returns
    /// its subdirectories, each with the slot of its listing to come.
    fn list(
        &self,
        walk: u32,
        slot: u32,
        dir: &Dir,
        path: &Path,
        local: &mut Local,
    ) -> Vec<(OsString, u32)> {
        let skip = self.skips[walk as usize];
        let mut names = std::mem::take(&mut local.names);
        if let Err(e) = dir.read_once(&mut local.buf, &mut names) {
            local.errors.push((walk, path.to_owned(), e));
        }
        let mut entries = Vec::with_capacity(names.len());
        let mut subdirs = Vec::new();
        for e in names.drain(..) {
            if skip.test(path, &e.name) {
                continue;
            }
            match dir.stat(&e.name) {
                Ok(st) => {
                    let child = if st.kind == Kind::Dir {
                        let s = self.slots.fetch_add(1, Ordering::Relaxed);
                        subdirs.push((e.name.clone(), s));
                        s
                    } else {
                        NO_SLOT
                    };
                    entries.push((e.name, st, child));
                }
                Err(err) if ignore_missing(&err) => {}
                Err(err) => local.errors.push((walk, path.join(&e.name), err)),
            }
        }
        local.names = names;
        self.entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        local.listings.push(Listing { slot, entries });
        subdirs
    }

    /// Walks the whole subtree of `top` on this thread, depth first, with a bounded number
    /// of open handles.
    fn walk_deep(&self, walk: u32, slot: u32, top: Dir, path: PathBuf, local: &mut Local) {
        // Each directory's state: its subdirectories still to walk, once it has been listed.
        type Pending = Option<Vec<(OsString, u32)>>;
        let mut stack: DirStack<(u32, Pending)> = match DirStack::new(top, (slot, None), OPEN_DIRS)
        {
            Ok(s) => s,
            Err(e) => {
                local.errors.push((walk, path, e));
                return;
            }
        };
        let mut at = path;
        loop {
            let next = match stack.top() {
                Err(e) => {
                    local.errors.push((walk, at.clone(), e));
                    None
                }
                Ok((dir, (slot, pending))) => {
                    if pending.is_none() {
                        *pending = Some(self.list(walk, *slot, dir, &at, local));
                    }
                    pending.as_mut().and_then(Vec::pop)
                }
            };
            if let Some((name, slot)) = next {
                match stack.push(&name, (slot, None)) {
                    Ok(()) => at.push(&name),
                    Err(e) if ignore_missing(&e) => {}
                    Err(e) => local.errors.push((walk, at.join(&name), e)),
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
}

/// How many threads a walk or a [`map_on_all_cores`] uses.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// `f` of every item, on all cores, in the items' order: for the work that follows a walk
/// (one target dir's units from its tree).
pub fn map_on_all_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return out;
            };
            out.push((i, f(item)));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads().min(items.len()))
            .map(|_| s.spawn(work))
            .collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().expect("a worker thread panicked"));
        }
        all
    });
    all.sort_by_key(|&(i, _)| i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Walks every root, on all cores, without following symlinks, never opening a file.
/// Threads share directories (not whole roots), so one big root is walked by all of them.
/// `progress` is called now and then with the entries seen so far.
pub fn walk(roots: &[(Root<'_>, Skip<'_>)], progress: Option<&dyn Fn(u64)>) -> Vec<Tree> {
    let mut trees: Vec<Tree> = Vec::with_capacity(roots.len());
    let mut jobs = Vec::new();
    let mut root_slots = Vec::new();
    let mut slot = 0u32;
    for (w, &(root, _)) in roots.iter().enumerate() {
        let (path, start) = match root {
            Root::Path(path) => (path, start_path(path)),
            Root::At(parent, name, path) => (
                path,
                parent.try_clone().and_then(|p| start_at(Arc::new(p), name)),
            ),
        };
        let mut tree = Tree {
            path: path.to_owned(),
            ..Tree::default()
        };
        let mut root_slot = NO_SLOT;
        match start {
            Ok(None) => {}
            Ok(Some((st, dir))) => {
                if let Some((parent, name, dir)) = dir {
                    root_slot = slot;
                    slot += 1;
                    jobs.push(Job {
                        walk: w as u32,
                        slot: root_slot,
                        depth: 0,
                        parent,
                        name,
                        dir,
                        path: path.to_owned(),
                    });
                }
                tree.nodes.push(Node {
                    name: OsString::new(),
                    stat: st,
                    parent: NO_PARENT,
                    end: 1,
                });
            }
            Err(e) => tree.errors.push((path.to_owned(), e)),
        }
        root_slots.push(root_slot);
        trees.push(tree);
    }
    // Last pushed is first taken: walk the roots in their order.
    jobs.reverse();
    let skips: Vec<Skip<'_>> = roots.iter().map(|&(_, s)| s).collect();
    let shared = Shared {
        queue: Mutex::new(Queue { jobs, running: 0 }),
        more: Condvar::new(),
        slots: AtomicU32::new(slot),
        entries: AtomicU64::new(0),
        skips: &skips,
    };
    let threads = threads();
    let mut locals: Vec<Local> = Vec::new();
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut local = Local::default();
                    shared.work(&mut local, None);
                    local
                })
            })
            .collect();
        let mut mine = Local::default();
        shared.work(&mut mine, progress);
        locals.push(mine);
        for h in helpers {
            locals.push(h.join().expect("a walking thread panicked"));
        }
    });
    // Put the listings in their slots, then lay each tree out in pre-order.
    let mut by_slot: Vec<Option<Entries>> = Vec::new();
    by_slot.resize_with(shared.slots.load(Ordering::Relaxed) as usize, || None);
    for local in &mut locals {
        for l in local.listings.drain(..) {
            by_slot[l.slot as usize] = Some(l.entries);
        }
        for (w, path, e) in local.errors.drain(..) {
            trees[w as usize].errors.push((path, e));
        }
    }
    for (tree, root_slot) in trees.iter_mut().zip(root_slots) {
        tree.errors.sort_by(|a, b| a.0.cmp(&b.0));
        if root_slot != NO_SLOT {
            lay_out(tree, root_slot, &mut by_slot);
        }
    }
    trees
}

/// Appends the listing of `slot` and everything below it to `tree`, in pre-order.
fn lay_out(tree: &mut Tree, slot: u32, by_slot: &mut [Option<Entries>]) {
    type Frame = (usize, std::vec::IntoIter<(OsString, Stat, u32)>);
    let take =
        |by_slot: &mut [Option<Vec<_>>], s: u32| by_slot[s as usize].take().unwrap_or_default();
    let mut stack: Vec<Frame> = vec![(0, take(by_slot, slot).into_iter())];
    while let Some((node, it)) = stack.last_mut() {
        let parent = *node as u32;
        match it.next() {
            Some((name, stat, child)) => {
                let i = tree.nodes.len();
                tree.nodes.push(Node {
                    name,
                    stat,
                    parent,
                    end: i as u32 + 1,
                });
                if child != NO_SLOT {
                    stack.push((i, take(by_slot, child).into_iter()));
                }
            }
            None => {
                let end = tree.nodes.len() as u32;
                tree.nodes[*node].end = end;
                stack.pop();
            }
        }
    }
}

/// The root's own facts and, for a directory, how to list it: its parent and name, or the
/// directory already open. `None`: it does not exist.
type Start = Option<(Stat, Option<(Option<Arc<Dir>>, OsString, Option<Dir>)>)>;

fn start_path(path: &Path) -> io::Result<Start> {
    let missing = |r: io::Result<Start>| match r {
        Err(e) if ignore_missing(&e) => Ok(None),
        r => r,
    };
    match path.file_name() {
        Some(name) => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            missing(Dir::open(parent).and_then(|d| start_at(Arc::new(d), name)))
        }
        // `/` or a path ending in `..`: the directory itself, as given.
        None => missing(Dir::open(path).and_then(|d| {
            let st = d.metadata()?;
            Ok(Some((st, Some((None, OsString::new(), Some(d))))))
        })),
    }
}

fn start_at(parent: Arc<Dir>, name: &OsStr) -> io::Result<Start> {
    let st = match parent.stat(name) {
        Ok(st) => st,
        Err(e) if ignore_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let list = (st.kind == Kind::Dir).then(|| (Some(parent), name.to_owned(), None));
    Ok(Some((st, list)))
}

/// One walk's counts before hard links are attributed.
#[derive(Default)]
struct Raw {
    usage: Usage,
    linked: Vec<Linked>,
    entries: u64,
}

impl Raw {
    fn of(tree: &Tree) -> Raw {
        let mut raw = Raw::default();
        for n in &tree.nodes {
            raw.count(&n.stat);
        }
        raw
    }

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
    /// Entries that could not be read (permission denied, replaced mid-walk).
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

    /// Usage of `path` and everything below it. A symlink counts as itself. A missing path
    /// is zero.
    pub fn usage(&mut self, path: &Path) -> Usage {
        self.usage_many(&[(path, Skip::Nothing)])[0]
    }

    /// Like [`Walker::usage`], but entries for which `skip` returns true (checked on every
    /// directory's entries by full path) are left out with everything below them.
    pub fn usage_skipping(&mut self, path: &Path, skip: &(dyn Fn(&Path) -> bool + Sync)) -> Usage {
        self.usage_many(&[(path, Skip::Matching(skip))])[0]
    }

    /// Usage of the entry `name` of the open directory `parent` (shown as `path` in errors):
    /// for callers that reached `parent` through handles, like the remover's dry run.
    pub fn usage_at(&mut self, parent: &Dir, name: &OsStr, path: &Path) -> Usage {
        self.usage_of(&[(Root::At(parent, name, path), Skip::Nothing)])[0]
    }

    /// The usage of each path, walked on all cores, with hard links attributed exactly as if
    /// the paths had been walked one after the other in this order.
    pub fn usage_many(&mut self, paths: &[(&Path, Skip<'_>)]) -> Vec<Usage> {
        let roots: Vec<_> = paths.iter().map(|&(p, s)| (Root::Path(p), s)).collect();
        self.usage_of(&roots)
    }

    fn usage_of(&mut self, roots: &[(Root<'_>, Skip<'_>)]) -> Vec<Usage> {
        let base = self.entries;
        let tick = |n: u64| {
            if let Some(f) = self.progress {
                f(base + n);
            }
        };
        let progress: Option<&dyn Fn(u64)> = self.progress.map(|_| &tick as &dyn Fn(u64));
        let trees = walk(roots, progress);
        trees
            .into_iter()
            .map(|mut t| {
                self.errors.append(&mut t.errors);
                self.absorb(Raw::of(&t))
            })
            .collect()
    }

    /// Attributes a walk's multiply-linked files (those not yet seen).
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

    /// Deeper than [`SHARED_DEPTH`]: the subtree below it is walked on one thread with a
    /// bounded number of handles, and laid out in pre-order with the rest.
    #[test]
    fn deep_trees_are_walked_whole_in_pre_order() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("top");
        let mut d = top.clone();
        let depth = SHARED_DEPTH as usize + 40;
        for i in 0..depth {
            d.push(format!("d{i}"));
        }
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("f"), b"12345").unwrap();
        fs::write(top.join("g"), b"1").unwrap();
        let trees = walk(&[(Root::Path(&top), Skip::Nothing)], None);
        let tree = &trees[0];
        assert!(tree.errors.is_empty(), "{:?}", tree.errors);
        // The root, `depth` directories, and the two files.
        assert_eq!(tree.nodes.len(), depth + 3);
        for (i, n) in tree.nodes.iter().enumerate() {
            assert!(n.end as usize > i && n.end as usize <= tree.nodes.len());
            if i > 0 {
                let p = n.parent as usize;
                assert!(p < i && tree.nodes[p].end >= n.end, "pre-order at {i}");
            }
        }
        let f = (tree.nodes.iter()).position(|n| n.name == "f").unwrap();
        assert_eq!(tree.path_of(f), d.join("f"));
        assert_eq!(Walker::new().usage(&top).bytes, 6);
    }

    /// A directory that cannot be listed is an error of the walk, with its path, and the
    /// rest is counted.
    #[cfg(unix)]
    #[test]
    fn unreadable_directories_are_errors_not_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("shut")).unwrap();
        fs::write(t.path().join("shut/x"), b"123").unwrap();
        fs::write(t.path().join("open"), b"12").unwrap();
        fs::set_permissions(t.path().join("shut"), fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read_dir(t.path().join("shut")).is_ok() {
            eprintln!("skipped: this user reads any directory (root)");
            return;
        }
        let mut w = Walker::new();
        let u = w.usage(t.path());
        fs::set_permissions(t.path().join("shut"), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(u.bytes, 2);
        assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
        assert_eq!(w.errors[0].0, t.path().join("shut"));
        assert_eq!(w.errors[0].1.kind(), io::ErrorKind::PermissionDenied);
    }
}
