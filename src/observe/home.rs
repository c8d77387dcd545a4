//! What is in a Cargo home: the registries, `.crate` archives, extracted sources, git
//! databases and checkouts Cargo's GC knows about, joined with their `.global-cache` rows.
//!
//! Listing ([`scan`]) reads directory entries only. Sizing ([`measure`]) uses the sizes Cargo
//! stored where it has them and walks the rest (or everything, when asked to be exact).
//! Entries are recognised the way Cargo's own database sync recognises them
//! (cargo-internals.md §2.3): directories in `registry/index`, `registry/src/<reg>`, `git/db`
//! and `git/checkouts/<db>`, and `*.crate` files in `registry/cache/<reg>`. Symlinks are never
//! entries and are never followed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::db::Snapshot;
use super::walk::{Usage, Walker, file_usage};

/// Where a size came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeSource {
    /// The size Cargo stored in `.global-cache` (apparent bytes; no on-disk figure).
    Database,
    /// `lstat` of a single file, or a walk of a directory.
    Disk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measured {
    pub bytes: u64,
    /// Known only when measured on disk.
    pub disk_bytes: Option<u64>,
    pub source: SizeSource,
}

impl Measured {
    fn disk(u: Usage) -> Measured {
        Measured {
            bytes: u.bytes,
            disk_bytes: Some(u.disk_bytes),
            source: SizeSource::Disk,
        }
    }
}

/// One thing Cargo's GC can delete as a whole.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The `.global-cache` name: `foo-1.0.0.crate`, `foo-1.0.0`, a checkout id, or for an
    /// index or git db the directory name.
    pub name: String,
    pub path: PathBuf,
    /// The row's timestamp, if the database has a row for it.
    pub last_use: Option<u64>,
    /// The size stored in the row, if any.
    pub db_size: Option<u64>,
    /// Filled in by [`measure`].
    pub size: Option<Measured>,
}

impl Entry {
    fn new(name: String, path: PathBuf) -> Entry {
        Entry {
            name,
            path,
            last_use: None,
            db_size: None,
            size: None,
        }
    }
}

/// One registry directory name, with what exists under each of index/, cache/ and src/.
#[derive(Clone, Debug)]
pub struct Registry {
    pub name: String,
    /// `registry/index/<name>`, if it exists.
    pub index: Option<Entry>,
    pub crates: Vec<Entry>,
    pub srcs: Vec<Entry>,
    /// Whether `registry/cache/<name>` and `registry/src/<name>` exist as directories.
    pub has_cache_dir: bool,
    pub has_src_dir: bool,
    /// The `registry_index` row, if any: (id, timestamp).
    pub row: Option<(i64, u64)>,
}

/// One git database directory name, with its checkouts.
#[derive(Clone, Debug)]
pub struct GitRepo {
    pub name: String,
    /// `git/db/<name>`, if it exists.
    pub db: Option<Entry>,
    pub checkouts: Vec<Entry>,
    /// Whether `git/checkouts/<name>` exists as a directory.
    pub has_checkouts_dir: bool,
    pub row: Option<(i64, u64)>,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub root: PathBuf,
    pub registries: Vec<Registry>,
    pub git: Vec<GitRepo>,
    /// `bin/`: installed binaries (walked by [`measure`]).
    pub bin: Usage,
    /// Everything that is none of the above (walked by [`measure`]).
    pub other: Usage,
}

impl Inventory {
    /// Every entry, in a fixed order: per registry index, crates, srcs; per git repo db,
    /// checkouts.
    pub fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        let regs = self.registries.iter_mut().flat_map(|r| {
            r.index
                .iter_mut()
                .chain(r.crates.iter_mut())
                .chain(r.srcs.iter_mut())
        });
        let gits = self
            .git
            .iter_mut()
            .flat_map(|g| g.db.iter_mut().chain(g.checkouts.iter_mut()));
        regs.chain(gits)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        let regs = self
            .registries
            .iter()
            .flat_map(|r| r.index.iter().chain(r.crates.iter()).chain(r.srcs.iter()));
        let gits = self
            .git
            .iter()
            .flat_map(|g| g.db.iter().chain(g.checkouts.iter()));
        regs.chain(gits)
    }
}

fn is_dir(p: &Path) -> bool {
    p.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false)
}

/// Names of the entries of `dir` that are real directories (not symlinks), sorted.
fn subdirs(dir: &Path) -> Vec<String> {
    list(dir, |ft| ft.is_dir())
}

fn list(dir: &Path, keep: impl Fn(&fs::FileType) -> bool) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|ft| keep(&ft)).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Lists the Cargo home at `root` and joins each entry with its database row.
pub fn scan(root: &Path, db: Option<&Snapshot>) -> Inventory {
    let reg = root.join("registry");
    let mut names: HashSet<String> = HashSet::new();
    for sub in ["index", "cache", "src"] {
        names.extend(subdirs(&reg.join(sub)));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();

    let rows = Rows::new(db);
    let mut registries = Vec::new();
    for name in names {
        let row = rows.index.get(name.as_str()).copied();
        let index_path = reg.join("index").join(&name);
        let index = is_dir(&index_path).then(|| {
            let mut e = Entry::new(name.clone(), index_path);
            e.last_use = row.map(|r| r.1);
            e
        });
        let cache_dir = reg.join("cache").join(&name);
        let crates = list(&cache_dir, |ft| ft.is_file())
            .into_iter()
            .filter(|n| n.ends_with(".crate"))
            .map(|n| rows.child(&rows.crates, row, Entry::new(n.clone(), cache_dir.join(&n))))
            .collect();
        let src_dir = reg.join("src").join(&name);
        let srcs = subdirs(&src_dir)
            .into_iter()
            .map(|n| rows.child(&rows.srcs, row, Entry::new(n.clone(), src_dir.join(&n))))
            .collect();
        registries.push(Registry {
            name,
            index,
            crates,
            srcs,
            has_cache_dir: is_dir(&cache_dir),
            has_src_dir: is_dir(&src_dir),
            row,
        });
    }

    let git_root = root.join("git");
    let mut gnames: HashSet<String> = HashSet::new();
    gnames.extend(subdirs(&git_root.join("db")));
    gnames.extend(subdirs(&git_root.join("checkouts")));
    let mut gnames: Vec<String> = gnames.into_iter().collect();
    gnames.sort();
    let mut git = Vec::new();
    for name in gnames {
        let row = rows.git.get(name.as_str()).copied();
        let db_path = git_root.join("db").join(&name);
        let db_entry = is_dir(&db_path).then(|| {
            let mut e = Entry::new(name.clone(), db_path);
            e.last_use = row.map(|r| r.1);
            e
        });
        let co_dir = git_root.join("checkouts").join(&name);
        let checkouts = subdirs(&co_dir)
            .into_iter()
            .map(|n| rows.child(&rows.checkouts, row, Entry::new(n.clone(), co_dir.join(&n))))
            .collect();
        git.push(GitRepo {
            name,
            db: db_entry,
            checkouts,
            has_checkouts_dir: is_dir(&co_dir),
            row,
        });
    }

    Inventory {
        root: root.to_owned(),
        registries,
        git,
        bin: Usage::default(),
        other: Usage::default(),
    }
}

/// Database rows indexed for joining.
struct Rows<'a> {
    index: HashMap<&'a str, (i64, u64)>,
    git: HashMap<&'a str, (i64, u64)>,
    crates: HashMap<(i64, &'a str), (Option<u64>, u64)>,
    srcs: HashMap<(i64, &'a str), (Option<u64>, u64)>,
    checkouts: HashMap<(i64, &'a str), (Option<u64>, u64)>,
}

impl<'a> Rows<'a> {
    fn new(db: Option<&'a Snapshot>) -> Rows<'a> {
        let mut r = Rows {
            index: HashMap::new(),
            git: HashMap::new(),
            crates: HashMap::new(),
            srcs: HashMap::new(),
            checkouts: HashMap::new(),
        };
        let Some(db) = db else { return r };
        for p in &db.registry_index {
            r.index.insert(&p.name, (p.id, p.timestamp));
        }
        for p in &db.git_db {
            r.git.insert(&p.name, (p.id, p.timestamp));
        }
        for (map, rows) in [
            (&mut r.crates, &db.registry_crate),
            (&mut r.srcs, &db.registry_src),
            (&mut r.checkouts, &db.git_checkout),
        ] {
            for c in rows {
                map.insert((c.parent_id, &c.name), (c.size, c.timestamp));
            }
        }
        r
    }

    fn child(
        &self,
        map: &HashMap<(i64, &'a str), (Option<u64>, u64)>,
        parent: Option<(i64, u64)>,
        mut e: Entry,
    ) -> Entry {
        if let Some((id, _)) = parent
            && let Some(&(size, ts)) = map.get(&(id, e.name.as_str()))
        {
            e.last_use = Some(ts);
            e.db_size = size;
        }
        e
    }
}

/// How to size entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeMode {
    /// Stored sizes where Cargo has them; walk only the rest.
    Stored,
    /// Walk everything.
    Exact,
    /// Like `Stored`, but a git checkout is walked without its `.git`, which is how Cargo
    /// sizes checkouts (`du(path, ["!.git"])`). Used by `gc`, whose size limits must see the
    /// sizes Cargo would.
    Cargo,
}

/// Fills in every entry's size, and `bin` and `other`, with one walker (so hard links count
/// once across the whole home).
pub fn measure(inv: &mut Inventory, mode: SizeMode, walker: &mut Walker<'_>) {
    let mut item_paths: HashSet<PathBuf> = HashSet::new();
    let checkout_paths: HashSet<PathBuf> = inv
        .git
        .iter()
        .flat_map(|g| g.checkouts.iter().map(|c| c.path.clone()))
        .collect();
    for e in inv.entries_mut() {
        item_paths.insert(e.path.clone());
        let is_crate_file = e.name.ends_with(".crate") && !e.path.is_dir();
        e.size = Some(match (mode, e.db_size) {
            (SizeMode::Stored | SizeMode::Cargo, Some(bytes)) if !is_crate_file => Measured {
                bytes,
                disk_bytes: None,
                source: SizeSource::Database,
            },
            _ if is_crate_file => match e.path.symlink_metadata() {
                Ok(m) => Measured::disk(file_usage(&m)),
                Err(_) => Measured::disk(Usage::default()),
            },
            _ if mode == SizeMode::Cargo && checkout_paths.contains(&e.path) => Measured::disk(
                walker.usage_skipping(&e.path, &|p| p.file_name().is_some_and(|n| n == ".git")),
            ),
            _ => Measured::disk(walker.usage(&e.path)),
        });
    }
    let bin = inv.root.join("bin");
    inv.bin = walker.usage(&bin);
    item_paths.insert(bin);
    inv.other = walker.usage_skipping(&inv.root, &|p| item_paths.contains(p));
}

/// Groups entries by name for quick lookups by tests and planners.
pub fn by_path(inv: &Inventory) -> BTreeMap<PathBuf, &Entry> {
    inv.entries().map(|e| (e.path.clone(), e)).collect()
}
