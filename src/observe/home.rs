//! What is in a Cargo home: the registries, `.crate` archives, extracted sources, git
//! databases and checkouts Cargo's GC knows about, joined with their `.global-cache` rows.
//!
//! Listing ([`scan`]) reads directory entries only. Sizing ([`measure`]) uses the sizes Cargo
//! stored where it has them and walks the rest (or everything, when asked to be exact).
//! Entries are recognised the way Cargo's own database sync recognises them
//! (cargo-internals.md §2.3): directories in `registry/index`, `registry/src/<reg>`, `git/db`
//! and `git/checkouts/<db>`, and `*.crate` files in `registry/cache/<reg>`.
//!
//! Symlinks are never followed. Cargo's sync never *adds* a symlink, but it keeps the row of
//! one it already tracks (its existence check follows links) and its clean then unlinks the
//! link itself; so a symlink with a row is an entry (`is_link`), sized zero, never walked,
//! only ever unlinked. A symlink where Cargo expects one of its own directories
//! (`registry/`, `registry/src/<reg>`, …) is an error, as is a directory that cannot be read:
//! treating either as empty would make Cargo's rows look orphaned.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::db::Snapshot;
use super::walk::{Skip, Usage, Walker, file_usage};

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
    /// A symlink Cargo tracks (never walked, only unlinked).
    pub is_link: bool,
}

impl Entry {
    fn new(name: String, path: PathBuf) -> Entry {
        Entry {
            name,
            path,
            last_use: None,
            db_size: None,
            size: None,
            is_link: false,
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
    /// Directories that could not be listed, or are symlinks where Cargo keeps its own
    /// directories. `gc` refuses to act on an inventory with errors.
    pub errors: Vec<(PathBuf, String)>,
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

    /// Apparent bytes of every entry (indexes, `.crate` files, sources, git), as measured.
    pub fn cache_bytes(&self) -> u64 {
        self.entries().filter_map(|e| e.size.map(|s| s.bytes)).sum()
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

/// What a listing wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Dirs,
    Files,
}

/// One listed name: `(name, is_link)`.
type Listed = (String, bool);

/// Lists the real directories (or regular files) in `dir`, plus symlinks whose target exists
/// (Cargo's `exists()`), sorted. A missing `dir` is empty; a symlinked or unreadable `dir` is
/// an error recorded in `errors`.
fn list(dir: &Path, want: Want, errors: &mut Vec<(PathBuf, String)>) -> Vec<Listed> {
    match dir.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push((dir.to_owned(), format!("cannot be read: {e}")));
            return Vec::new();
        }
        Ok(m) if m.file_type().is_symlink() => {
            errors.push((
                dir.to_owned(),
                "is a symlink; Cargo's own directories are never followed".into(),
            ));
            return Vec::new();
        }
        Ok(m) if !m.is_dir() => return Vec::new(),
        Ok(_) => {}
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push((dir.to_owned(), format!("cannot be read: {e}")));
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for e in rd {
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                errors.push((dir.to_owned(), format!("cannot be read: {err}")));
                continue;
            }
        };
        let Ok(name) = e.file_name().into_string() else {
            continue; // Cargo skips names that are not UTF-8 too.
        };
        let Ok(ft) = e.file_type() else { continue };
        let real = match want {
            Want::Dirs => ft.is_dir(),
            Want::Files => ft.is_file(),
        };
        if real {
            names.push((name, false));
        } else if ft.is_symlink() && e.path().exists() {
            names.push((name, true));
        }
    }
    names.sort();
    names
}

fn real_names(listed: &[Listed]) -> impl Iterator<Item = &String> {
    listed.iter().filter(|(_, link)| !link).map(|(n, _)| n)
}

/// Lists the Cargo home at `root` and joins each entry with its database row.
pub fn scan(root: &Path, db: Option<&Snapshot>) -> Inventory {
    let mut errors = Vec::new();
    for container in [
        "registry",
        "registry/index",
        "registry/cache",
        "registry/src",
        "git",
        "git/db",
        "git/checkouts",
    ] {
        let p = root.join(container);
        if p.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            errors.push((
                p,
                "is a symlink; Cargo's own directories are never followed".to_string(),
            ));
        }
    }
    if !errors.is_empty() {
        return Inventory {
            root: root.to_owned(),
            errors,
            ..Inventory::default()
        };
    }
    let rows = Rows::new(db);
    let reg = root.join("registry");
    let indexes = list(&reg.join("index"), Want::Dirs, &mut errors);
    let mut names: HashSet<String> = HashSet::new();
    // A registry is known by a real directory anywhere, or by a tracked symlinked index.
    names.extend(real_names(&indexes).cloned());
    names.extend(
        indexes
            .iter()
            .filter(|(n, link)| *link && rows.index.contains_key(n.as_str()))
            .map(|(n, _)| n.clone()),
    );
    for sub in ["cache", "src"] {
        names.extend(real_names(&list(&reg.join(sub), Want::Dirs, &mut errors)).cloned());
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();

    let mut registries = Vec::new();
    for name in names {
        let row = rows.index.get(name.as_str()).copied();
        let index_path = reg.join("index").join(&name);
        let index = indexes
            .iter()
            .find(|(n, _)| *n == name)
            .filter(|(_, link)| !link || row.is_some())
            .map(|(_, link)| {
                let mut e = Entry::new(name.clone(), index_path);
                e.last_use = row.map(|r| r.1);
                e.is_link = *link;
                e
            });
        let cache_dir = reg.join("cache").join(&name);
        let crates = list(&cache_dir, Want::Files, &mut errors)
            .into_iter()
            .filter(|(n, _)| n.ends_with(".crate"))
            .filter_map(|(n, link)| {
                rows.child(
                    &rows.crates,
                    row,
                    Entry::new(n.clone(), cache_dir.join(&n)),
                    link,
                )
            })
            .collect();
        let src_dir = reg.join("src").join(&name);
        let srcs = list(&src_dir, Want::Dirs, &mut errors)
            .into_iter()
            .filter_map(|(n, link)| {
                rows.child(
                    &rows.srcs,
                    row,
                    Entry::new(n.clone(), src_dir.join(&n)),
                    link,
                )
            })
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
    let dbs = list(&git_root.join("db"), Want::Dirs, &mut errors);
    let mut gnames: HashSet<String> = HashSet::new();
    gnames.extend(real_names(&dbs).cloned());
    gnames.extend(
        dbs.iter()
            .filter(|(n, link)| *link && rows.git.contains_key(n.as_str()))
            .map(|(n, _)| n.clone()),
    );
    gnames.extend(real_names(&list(&git_root.join("checkouts"), Want::Dirs, &mut errors)).cloned());
    let mut gnames: Vec<String> = gnames.into_iter().collect();
    gnames.sort();
    let mut git = Vec::new();
    for name in gnames {
        let row = rows.git.get(name.as_str()).copied();
        let db_path = git_root.join("db").join(&name);
        let db_entry = dbs
            .iter()
            .find(|(n, _)| *n == name)
            .filter(|(_, link)| !link || row.is_some())
            .map(|(_, link)| {
                let mut e = Entry::new(name.clone(), db_path);
                e.last_use = row.map(|r| r.1);
                e.is_link = *link;
                e
            });
        let co_dir = git_root.join("checkouts").join(&name);
        let checkouts = list(&co_dir, Want::Dirs, &mut errors)
            .into_iter()
            .filter_map(|(n, link)| {
                rows.child(
                    &rows.checkouts,
                    row,
                    Entry::new(n.clone(), co_dir.join(&n)),
                    link,
                )
            })
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
        errors,
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

    /// Joins an entry with its row. A symlink is an entry only if Cargo tracks it.
    fn child(
        &self,
        map: &HashMap<(i64, &'a str), (Option<u64>, u64)>,
        parent: Option<(i64, u64)>,
        mut e: Entry,
        is_link: bool,
    ) -> Option<Entry> {
        if let Some((id, _)) = parent
            && let Some(&(size, ts)) = map.get(&(id, e.name.as_str()))
        {
            e.last_use = Some(ts);
            e.db_size = size;
        }
        e.is_link = is_link;
        (!is_link || e.last_use.is_some()).then_some(e)
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
    let checkout_paths: HashSet<PathBuf> = inv
        .git
        .iter()
        .flat_map(|g| g.checkouts.iter().map(|c| c.path.clone()))
        .collect();
    // First what needs no walk, then walk the rest on all cores, in entry order.
    let mut to_walk: Vec<(PathBuf, Skip)> = Vec::new();
    for e in inv.entries_mut() {
        let is_crate_file = e.name.ends_with(".crate") && !e.path.is_dir();
        e.size = match (mode, e.db_size) {
            // A tracked symlink is never walked: removing it frees nothing of its target.
            _ if e.is_link => Some(Measured::disk(Usage::default())),
            _ if is_crate_file => Some(match crate::sys::fs::lstat(&e.path) {
                Ok(st) => Measured::disk(file_usage(&st)),
                Err(_) => Measured::disk(Usage::default()),
            }),
            (SizeMode::Stored | SizeMode::Cargo, Some(bytes)) => Some(Measured {
                bytes,
                disk_bytes: None,
                source: SizeSource::Database,
            }),
            _ => {
                let skip = if mode == SizeMode::Cargo && checkout_paths.contains(&e.path) {
                    Skip::DotGit
                } else {
                    Skip::Nothing
                };
                to_walk.push((e.path.clone(), skip));
                None
            }
        };
    }
    let jobs: Vec<(&Path, Skip)> = to_walk.iter().map(|(p, s)| (p.as_path(), *s)).collect();
    let mut usages = walker.usage_many(&jobs).into_iter();
    let mut item_paths: HashSet<PathBuf> = HashSet::new();
    for e in inv.entries_mut() {
        item_paths.insert(e.path.clone());
        if e.size.is_none() {
            e.size = Some(Measured::disk(usages.next().unwrap_or_default()));
        }
    }
    let bin = inv.root.join("bin");
    inv.bin = walker.usage(&bin);
    item_paths.insert(bin);
    inv.other = walker.usage_skipping(&inv.root, &|p| item_paths.contains(p));
}

/// The `.cache` files of every index: `(registry, package name, path, bytes)`.
pub fn index_cache_entries(home: &Path) -> Vec<(String, String, PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(home.join("registry/index")) else {
        return out;
    };
    for reg in rd.filter_map(Result::ok) {
        if !reg.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = reg.file_name().to_string_lossy().into_owned();
        let mut stack = vec![reg.path().join(".cache")];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.filter_map(Result::ok) {
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(e.path());
                } else if ft.is_file() {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((
                        name.clone(),
                        e.file_name().to_string_lossy().into_owned(),
                        e.path(),
                        len,
                    ));
                }
            }
        }
    }
    out
}
