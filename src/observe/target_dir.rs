//! A Cargo target (or build) directory as *units*: every artifact of one fingerprint hash.
//!
//! Both layouts (cargo-internals.md §4), detected per profile directory:
//! * legacy: `<profile>/.fingerprint/<pkg>-<hash>/`, the `deps/` and `examples/` files whose
//!   name ends in `-<hash>` (before the extension), `build/<pkg>-<hash>/`, and the files in the
//!   profile directory hard-linked to any of those (uplifted binaries and libraries);
//! * new (`-Zbuild-dir-new-layout`, default from Cargo 1.100): `<profile>/build/<pkg>/<hash>/`
//!   with `fingerprint/`, `out/`, `run/`, plus uplifted hard links.
//!
//! Plus the `incremental/<crate>-<hash>/` directories. Anything else is not recognised and is
//! never part of a unit.
//!
//! **Profile directories** are recognised by their contents, not their place: a directory with
//! a `.fingerprint/`, a new-layout `build/<pkg>/<hash>/fingerprint/`, or one of Cargo's build
//! lock files, up to [`PROFILE_DEPTH`] levels below the root. So `<dir>/debug` and
//! `<dir>/<triple>/release` are found, and so are nested target dirs: `target/miri/<host>/debug`
//! (cargo-miri), `target/rust-analyzer/debug` (rust-analyzer's `cargo.targetDir`),
//! `target/llvm-cov-target/debug`. A profile directory is not searched for further profiles.
//!
//! **Last use** is the newest atime of the unit's fingerprint hash files (`lib-<name>`,
//! `bin-<name>`, `run-build-script-…`) and `dep-*` files, which every `cargo build` that
//! checks the unit reads: under `relatime` their atime moves at least daily. The scan only
//! ever `stat`s those files (reading them would move the very signal we rely on).
//!
//! **Touched** (for the grace period, [`crate::plan::grace`]) is the newest mtime of anything
//! of a unit and atime of its files, except the files some command of ours reads (`.json`
//! fingerprints, `.d` dep-info, `CACHEDIR.TAG`): a unit built, rebuilt or executed moments ago
//! is touched then.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::walk;
use crate::sys::fs::{self as sysfs, Kind};

/// Which layout a unit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Legacy,
    New,
}

/// One file of a unit, with what deleting it frees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFact {
    /// Shared: a unit's files are clones of the scan's, not new paths.
    pub path: Arc<Path>,
    pub key: (u64, u64),
    pub nlink: u64,
    pub bytes: u64,
    pub disk_bytes: u64,
    pub is_dir: bool,
}

/// Seconds since the epoch (0 for a time before it).
fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A whole directory walked once, in pre-order: a directory's subtree is the contiguous run
/// of entries after it, up to `end`.
struct Tree<'w> {
    walk: &'w walk::Tree,
    facts: Vec<FileFact>,
    end: Vec<usize>,
    atime: Vec<u64>,
    mtime: Vec<u64>,
    /// When each entry was touched itself (see [`Tree::touched`]).
    touch: Vec<u64>,
}

impl<'w> Tree<'w> {
    /// The facts of a walk's nodes, each with its path.
    fn of(w: &'w walk::Tree) -> Tree<'w> {
        let n = w.nodes.len();
        let mut t = Tree {
            walk: w,
            facts: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            atime: Vec::with_capacity(n),
            mtime: Vec::with_capacity(n),
            touch: Vec::with_capacity(n),
        };
        for (i, node) in w.nodes.iter().enumerate() {
            let st = &node.stat;
            let path: Arc<Path> = if i == 0 {
                w.path.as_path().into()
            } else {
                t.facts[node.parent as usize].path.join(&node.name).into()
            };
            let (atime, mtime) = (unix_secs(st.accessed), unix_secs(st.modified));
            // Not the atime of directories (our own listing moves it), nor of the files some
            // command of ours reads: `.json` and `.d` (`--toolchains`, `trim`) and
            // `CACHEDIR.TAG` (every command that finds target dirs).
            let name = node.name.as_encoded_bytes();
            let read_by_us = name.ends_with(b".json")
                || name.ends_with(b".d")
                || (i > 0 && name == b"CACHEDIR.TAG");
            t.touch.push(if st.kind == Kind::Dir || read_by_us {
                mtime
            } else {
                mtime.max(atime)
            });
            t.facts.push(FileFact {
                path,
                key: st.id.pair(),
                nlink: st.links,
                bytes: if st.kind == Kind::File { st.len } else { 0 },
                disk_bytes: st.allocated,
                is_dir: st.kind == Kind::Dir,
            });
            t.atime.push(atime);
            t.mtime.push(mtime);
            t.end.push(node.end as usize);
        }
        t
    }

    /// Direct children of entry `i`.
    fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.end[i];
        let mut j = i + 1;
        std::iter::from_fn(move || {
            if j >= end {
                return None;
            }
            let c = j;
            j = self.end[j];
            Some(c)
        })
    }

    fn name(&self, i: usize) -> std::borrow::Cow<'w, str> {
        self.walk.nodes[i].name.to_string_lossy()
    }

    /// The facts of entry `i` and everything below it.
    fn subtree(&self, i: usize) -> &[FileFact] {
        &self.facts[i..self.end[i]]
    }

    /// Newest time entry `i` and everything below it were touched: the mtime of every entry,
    /// the atime of files. Not the atime of directories (our own listing moves it), nor of the
    /// files some command of ours reads: `.json` and `.d` (`--toolchains`, `trim`) and
    /// `CACHEDIR.TAG` (every command that finds target dirs).
    fn touched(&self, i: usize) -> Option<u64> {
        self.touch[i..self.end[i]].iter().copied().max()
    }
}

fn newest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

#[derive(Clone, Debug)]
pub struct Unit {
    pub pkg: String,
    pub hash: String,
    pub layout: Layout,
    /// The profile directory (`target/debug`, `target/<triple>/release`, …).
    pub profile: PathBuf,
    /// The fingerprint directory (removed first: without it Cargo rebuilds the unit).
    pub fingerprint: PathBuf,
    /// Every other path of the unit (whole directories or files).
    pub paths: Vec<PathBuf>,
    /// Every file below all the unit's paths, for sizes and hard links.
    pub files: Vec<FileFact>,
    /// Newest atime of the fingerprint hash and dep-info files (unix seconds).
    pub last_use: Option<u64>,
    /// Newest mtime of anything of the unit and atime of its files (see the module docs).
    pub touched: Option<u64>,
    /// Newest mtime of anything of the unit: when it was last built or written. Unlike
    /// atimes, a reader of the tree (a cache restore, an indexer) never moves it.
    pub modified: Option<u64>,
}

impl Unit {
    /// Adds tree entry `c` and everything below it to the unit.
    fn add(&mut self, t: &Tree, c: usize) {
        self.files.extend_from_slice(t.subtree(c));
        self.touched = newest(self.touched, t.touched(c));
        self.modified = newest(self.modified, (c..t.end[c]).map(|j| t.mtime[j]).max());
    }
}

#[derive(Clone, Debug)]
pub struct Incremental {
    pub path: PathBuf,
    pub profile: PathBuf,
    /// Newest mtime inside.
    pub last_use: Option<u64>,
    /// Newest mtime inside and atime of its files.
    pub touched: Option<u64>,
    pub files: Vec<FileFact>,
}

#[derive(Clone, Debug, Default)]
pub struct TargetDir {
    pub path: PathBuf,
    pub units: Vec<Unit>,
    pub incremental: Vec<Incremental>,
    /// Profile directories (each has its own build locks), host profiles first.
    pub profiles: Vec<PathBuf>,
    /// Profile directories left out of this view because their build locks could not be
    /// taken (see [`restrict`]): nothing in them is planned, and the directory is not emptied.
    pub busy_profiles: Vec<PathBuf>,
    /// Every directory that directly holds a build lock file, wherever it is.
    pub lock_dirs: Vec<PathBuf>,
    /// Every file in the whole directory (for totals), hard links once.
    pub total_bytes: u64,
    pub total_disk_bytes: u64,
    /// Newest time anything in the directory was touched: every unit's and incremental
    /// session's, and the mtime (and atime, as for units) of every other file. The root's own
    /// times, directories outside units and the trash are left out (our own removals move them).
    pub touched: Option<u64>,
    pub errors: Vec<(PathBuf, String)>,
}

fn entries(dir: &Path) -> Vec<fs::DirEntry> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn is_hash(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The unit hash in an artifact name: `libfoo-0123456789abcdef.rlib` → `0123456789abcdef`.
pub fn hash_in_name(name: &str) -> Option<&str> {
    let mut search = name;
    while let Some(i) = search.rfind('-') {
        let cand = name.get(i + 1..i + 17)?;
        let after = &name[i + 17..];
        if is_hash(cand) && (after.is_empty() || after.starts_with('.')) {
            return Some(cand);
        }
        search = &name[..i];
    }
    None
}

/// Newest atime of the signal files in a fingerprint directory (from the walk's `stat`s).
fn fingerprint_atime(t: &Tree, fp: usize) -> Option<u64> {
    t.children(fp)
        .filter(|&c| {
            let n = t.name(c);
            !t.facts[c].is_dir
                && !n.ends_with(".json")
                && n != "invoked.timestamp"
                && !n.starts_with("output-")
        })
        .map(|c| t.atime[c])
        .max()
}

/// How many levels below the root profile directories are searched for: `<profile>` is 1,
/// `<triple>/<profile>` 2, `miri/<triple>/<profile>` 3.
pub const PROFILE_DEPTH: usize = 4;

/// Whether these names, the entries of one directory, make it a Cargo profile directory:
/// `.fingerprint/` (legacy layout) or a build lock file. A new-layout profile (`build/<pkg>/<hash>/fingerprint/`)
/// is told by [`is_new_layout_build`].
pub fn profile_marker(name: &str, is_dir: bool) -> bool {
    (is_dir && name == ".fingerprint")
        || (!is_dir && crate::act::lock::BUILD_LOCK_NAMES.contains(&name))
}

/// Whether tree entry `i` is a profile directory (see the module docs).
fn is_profile(t: &Tree, i: usize) -> bool {
    t.children(i).any(|c| {
        let name = t.name(c);
        profile_marker(&name, t.facts[c].is_dir)
            || (name == "build"
                && t.facts[c].is_dir
                && t.children(c).filter(|&p| t.facts[p].is_dir).any(|p| {
                    t.children(p).any(|h| {
                        t.facts[h].is_dir
                            && is_hash(&t.name(h))
                            && child_named(t, h, "fingerprint").is_some_and(|f| t.facts[f].is_dir)
                    })
                }))
    })
}

/// Profile directories up to [`PROFILE_DEPTH`] levels below the root (not below a profile,
/// nor in the trash), in pre-order.
fn profiles(t: &Tree) -> Vec<usize> {
    fn go(t: &Tree, i: usize, depth: usize, out: &mut Vec<usize>) {
        for c in t.children(i).filter(|&c| t.facts[c].is_dir) {
            if depth == 1 && t.name(c) == crate::act::remove::TRASH {
                continue;
            }
            if is_profile(t, c) {
                out.push(c);
            } else if depth < PROFILE_DEPTH {
                go(t, c, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    go(t, 0, 1, &mut out);
    out
}

/// Scans a target or build directory into units (one walk: listings and `stat`s only).
pub fn scan(dir: &Path) -> TargetDir {
    scan_all(std::slice::from_ref(&dir.to_owned()))
        .pop()
        .unwrap_or_default()
}

/// A target dir from its walk.
fn of_walk(w: &walk::Tree) -> TargetDir {
    let mut td = TargetDir {
        path: w.path.clone(),
        errors: (w.errors.iter())
            .map(|(p, e)| (p.clone(), e.to_string()))
            .collect(),
        ..TargetDir::default()
    };
    let t = Tree::of(w);
    if t.facts.is_empty() {
        return td;
    }
    let mut seen = HashSet::new();
    for f in &t.facts {
        if f.is_dir || f.nlink <= 1 || seen.insert(f.key) {
            td.total_bytes += f.bytes;
            td.total_disk_bytes += f.disk_bytes;
        }
    }
    for p in profiles(&t) {
        scan_profile(&t, p, &mut td);
        td.profiles.push(t.facts[p].path.to_path_buf());
    }
    // Lock files anywhere, and the newest touch of every file outside the trash.
    let trash = child_named(&t, 0, crate::act::remove::TRASH);
    let mut i = 1;
    while i < t.facts.len() {
        if Some(i) == trash {
            i = t.end[i];
            continue;
        }
        let f = &t.facts[i];
        if !f.is_dir {
            let name = f.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if crate::act::lock::BUILD_LOCK_NAMES.contains(&name)
                && let Some(parent) = f.path.parent()
            {
                td.lock_dirs.push(parent.to_owned());
            }
            td.touched = newest(td.touched, t.touched(i));
        }
        i += 1;
    }
    td.lock_dirs.sort();
    td.lock_dirs.dedup();
    for u in &td.units {
        td.touched = newest(td.touched, u.touched);
    }
    for inc in &td.incremental {
        td.touched = newest(td.touched, inc.touched);
    }
    // Host profiles (`<dir>/<profile>`) before `<dir>/<triple>/<profile>`: the order Cargo
    // locks them in, so that waiting for both can never deadlock with a cargo.
    td.profiles
        .sort_by_key(|p| (p.components().count(), p.clone()));
    td
}

fn child_named(t: &Tree, i: usize, name: &str) -> Option<usize> {
    t.children(i).find(|&c| t.name(c) == name)
}

fn scan_profile(t: &Tree, p: usize, td: &mut TargetDir) {
    let profile = t.facts[p].path.to_path_buf();
    let mut units: BTreeMap<String, Unit> = BTreeMap::new();
    let new_unit = |pkg: &str, hash: &str, layout: Layout, fingerprint: PathBuf| Unit {
        pkg: pkg.to_owned(),
        hash: hash.to_owned(),
        layout,
        profile: profile.clone(),
        fingerprint,
        paths: Vec::new(),
        files: Vec::new(),
        last_use: None,
        touched: None,
        modified: None,
    };
    // Legacy: .fingerprint/<pkg>-<hash>.
    if let Some(fps) = child_named(t, p, ".fingerprint") {
        for c in t.children(fps).filter(|&c| t.facts[c].is_dir) {
            let name = t.name(c);
            let Some((pkg, hash)) = name.rsplit_once('-') else {
                continue;
            };
            if !is_hash(hash) {
                continue;
            }
            let mut u = new_unit(pkg, hash, Layout::Legacy, t.facts[c].path.to_path_buf());
            u.last_use = fingerprint_atime(t, c);
            u.add(t, c);
            units.insert(hash.to_owned(), u);
        }
    }
    // New layout: build/<pkg>/<hash>/fingerprint; legacy: build/<pkg>-<hash>.
    let mut legacy_build: Vec<(String, usize)> = Vec::new();
    if let Some(build) = child_named(t, p, "build") {
        for c in t.children(build).filter(|&c| t.facts[c].is_dir) {
            let name = t.name(c);
            if let Some((_, hash)) = name.rsplit_once('-')
                && is_hash(hash)
            {
                legacy_build.push((hash.to_owned(), c));
                continue;
            }
            for h in t.children(c).filter(|&h| t.facts[h].is_dir) {
                let hash = t.name(h);
                let Some(fp) = child_named(t, h, "fingerprint") else {
                    continue;
                };
                if !is_hash(&hash) {
                    continue;
                }
                let mut u = new_unit(&name, &hash, Layout::New, t.facts[fp].path.to_path_buf());
                u.last_use = fingerprint_atime(t, fp);
                u.paths.push(t.facts[h].path.to_path_buf());
                u.add(t, h);
                units.insert(hash.into_owned(), u);
            }
        }
    }
    for (hash, c) in legacy_build {
        if let Some(u) = units.get_mut(&hash) {
            u.paths.push(t.facts[c].path.to_path_buf());
            u.add(t, c);
        }
    }
    // Legacy artifacts named `…-<hash>[.ext]` in deps/ and examples/.
    for sub in ["deps", "examples"] {
        let Some(d) = child_named(t, p, sub) else {
            continue;
        };
        for c in t.children(d) {
            let name = t.name(c);
            if let Some(hash) = hash_in_name(&name)
                && let Some(u) = units.get_mut(hash)
            {
                u.paths.push(t.facts[c].path.to_path_buf());
                u.add(t, c);
            }
        }
    }
    // Uplifted hard links in the profile dir and examples/.
    let mut by_inode: HashMap<(u64, u64), String> = HashMap::new();
    for u in units.values() {
        for f in &u.files {
            if !f.is_dir && f.nlink > 1 {
                by_inode.insert(f.key, u.hash.clone());
            }
        }
    }
    let examples = child_named(t, p, "examples");
    for dir in std::iter::once(p).chain(examples) {
        for c in t.children(dir) {
            let f = &t.facts[c];
            if f.is_dir || f.nlink <= 1 {
                continue;
            }
            if let Some(hash) = by_inode.get(&f.key)
                && let Some(u) = units.get_mut(hash)
                && !u.paths.iter().any(|p| *p == *f.path)
            {
                u.paths.push(f.path.to_path_buf());
                u.add(t, c);
            }
        }
    }
    td.units.extend(units.into_values());
    // incremental/<crate>-<hash>/
    if let Some(inc) = child_named(t, p, "incremental") {
        for c in t.children(inc).filter(|&c| t.facts[c].is_dir) {
            let last_use = (c..t.end[c]).map(|i| t.mtime[i]).max();
            td.incremental.push(Incremental {
                path: t.facts[c].path.to_path_buf(),
                profile: profile.clone(),
                last_use,
                touched: t.touched(c),
                files: t.subtree(c).to_vec(),
            });
        }
    }
}

/// The `rustc` hash a unit was built with, from its fingerprint JSON (not a signal file, so
/// reading it moves no atime we use). 0 for build-script runs, which record none.
pub fn unit_rustc(u: &Unit) -> Option<u64> {
    entries(&u.fingerprint)
        .into_iter()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .find_map(|e| {
            let text = fs::read_to_string(e.path()).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v.get("rustc")?.as_u64()
        })
}

/// The fingerprints a unit depends on (`deps[].3` of its JSON).
pub fn unit_deps(u: &Unit) -> Vec<u64> {
    entries(&u.fingerprint)
        .into_iter()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let v: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(e.path()).ok()?).ok()?;
            Some(
                v.get("deps")?
                    .as_array()?
                    .iter()
                    .filter_map(|d| d.get(3)?.as_u64())
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Cargo writes a fingerprint as the hex of the u64's little-endian bytes (`util::hex`).
pub fn decode_fingerprint(hex: &str) -> Option<u64> {
    if hex.len() != 16 {
        return None;
    }
    let mut bytes = [0u8; 8];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(u64::from_le_bytes(bytes))
}

/// A unit's own fingerprint values (the hex in its hash files), read with `O_NOATIME` so the
/// read leaves the last-use signal alone. Empty when that is not possible.
pub fn unit_fingerprints(u: &Unit) -> Vec<u64> {
    use std::io::Read;
    // Without O_NOATIME (`sysfs::open_noatime` is `Unsupported`), reading a hash file would
    // move the atime `sweep` relies on: such links are not made (a build-script run is then
    // kept as unknown).
    entries(&u.fingerprint)
        .into_iter()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !n.contains('.') && !n.starts_with("dep-") && !n.starts_with("output-")
        })
        .filter_map(|e| {
            let mut f = sysfs::open_noatime(&e.path()).ok()?;
            let mut s = String::new();
            f.read_to_string(&mut s).ok()?;
            decode_fingerprint(s.trim())
        })
        .collect()
}

/// Where a unit's sources came from, read from its own dep-info (`.d`) files.
///
/// Registry and git sources are recognised by the shape of their path, whichever Cargo home
/// they are in (a target built with another `CARGO_HOME` maps to the same packages): the
/// registry directory name is a hash of the registry's URL, and a registry never serves two
/// different crates as one `<name>-<version>`, so the same directory and version is the same
/// package version, in this home or another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitSource {
    /// `…/registry/src/<registry>/<name>-<version>/…`, where `<name>` is the unit's package;
    /// `package` is `<name>-<version>`.
    Registry { registry: String, package: String },
    /// `…/git/checkouts/<db>/<rev>/…`.
    Git { db: String, rev: String },
    /// Sources, none of them in a registry or a git checkout. A path package (a workspace
    /// member or a path dependency) when the lockfiles list the unit's package without a
    /// source; otherwise (vendored sources, a package no lockfile lists) not identified.
    Local,
    /// Not identified: no dep-info of its own and no unit of the same package it was built
    /// from (a build-script run takes its build script's source), dep-info that names no
    /// sources, sources in more than one registry package or checkout, or a registry package
    /// other than the unit's.
    Unknown,
}

/// One path of a dep-info file, by its shape.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Registry(String, String),
    Git(String, String),
    Other,
}

/// `<prefix>-<16 hex>`: how Cargo names registry and git database directories.
fn is_hashed_dir(s: &str) -> bool {
    s.rsplit_once('-')
        .is_some_and(|(prefix, hash)| !prefix.is_empty() && is_hash(hash))
}

/// A git checkout directory: the commit's short id (hex, 7 to 40 digits).
fn is_rev_dir(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `dir` is `<pkg>-<version>` (`version` being `MAJOR.MINOR.PATCH[-pre][+build]`).
pub fn is_package_dir(dir: &str, pkg: &str) -> bool {
    let Some(version) = dir
        .strip_prefix(pkg)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The shape of a source path: `…/registry/src/<registry>/<pkg-dir>/<file…>` or
/// `…/git/checkouts/<db>/<rev>/<file…>` anywhere in it, else other.
fn shape(p: &Path) -> Shape {
    let c: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for i in 0..c.len().saturating_sub(4) {
        let (a, b, x, y) = (&c[i], &c[i + 1], &c[i + 2], &c[i + 3]);
        if a == "registry" && b == "src" && is_hashed_dir(x) && !y.is_empty() {
            return Shape::Registry(x.clone(), y.clone());
        }
        if a == "git" && b == "checkouts" && is_hashed_dir(x) && is_rev_dir(y) {
            return Shape::Git(x.clone(), y.clone());
        }
    }
    Shape::Other
}

/// The prerequisites of every rule of a Makefile-style dep-info file, as rustc writes it
/// (spaces in paths escaped as `\ `; `# …` lines are comments).
pub fn dep_info_paths(text: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' if chars.peek() == Some(&' ') => {
                    cur.push(' ');
                    chars.next();
                }
                ' ' | '\t' => {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                }
                _ => cur.push(ch),
            }
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        // `target: prerequisite…`; the target is the first word ending with `:`.
        let Some(t) = words.iter().position(|w| w.ends_with(':')) else {
            continue;
        };
        out.extend(words[t + 1..].iter().map(PathBuf::from));
    }
    out.sort();
    out.dedup();
    out
}

/// The unit's own dep-info files. Legacy layout: the `.d` files named with its hash directly
/// in `deps/`, `examples/` or its `build/<pkg>-<hash>/` directory. New layout: the `.d` files
/// directly in its `out/` directory (binaries' and build scripts' carry no hash there), unless
/// the unit is a build-script run, whose `out/` is the script's `OUT_DIR`.
fn own_dep_info(u: &Unit) -> impl Iterator<Item = &FileFact> {
    let is_run = u.files.iter().any(|f| {
        f.path.parent() == Some(u.fingerprint.as_path())
            && f.path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-build-script-"))
    });
    u.files.iter().filter(move |f| {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let Some(parent) = f.path.parent() else {
            return false;
        };
        if f.is_dir || !name.ends_with(".d") {
            return false;
        }
        match u.layout {
            Layout::Legacy => {
                hash_in_name(&name) == Some(u.hash.as_str())
                    && (u.paths.iter().any(|p| p == parent)
                        || parent
                            .file_name()
                            .is_some_and(|n| n == "deps" || n == "examples"))
            }
            Layout::New => {
                !is_run
                    && parent.file_name().is_some_and(|n| n == "out")
                    && parent
                        .parent()
                        .is_some_and(|pp| u.paths.iter().any(|p| p == pp))
            }
        }
    })
}

/// Larger dep-info files are not read (the unit is then unknown): rustc's list a crate's
/// source files, a few KiB.
const MAX_DEP_INFO_BYTES: u64 = 64 << 20;

/// Classifies a unit by its own dep-info; `None` when it has none (the caller may then take
/// the source of a unit of the same package it was built from).
fn own_source(u: &Unit) -> Option<UnitSource> {
    let mut files = own_dep_info(u).peekable();
    files.peek()?;
    let mut registry = HashSet::new();
    let mut git = HashSet::new();
    let mut local_rs = false;
    for f in files {
        // Only a regular file of a dep-info's size (never a symlink or a FIFO left there).
        let regular = fs::symlink_metadata(&f.path)
            .is_ok_and(|m| m.is_file() && m.len() <= MAX_DEP_INFO_BYTES);
        let text = regular.then(|| fs::read_to_string(&f.path).ok()).flatten();
        let Some(text) = text else {
            return Some(UnitSource::Unknown);
        };
        for p in dep_info_paths(&text) {
            match shape(&p) {
                Shape::Registry(r, pkg) => {
                    registry.insert((r, pkg));
                }
                Shape::Git(db, rev) => {
                    git.insert((db, rev));
                }
                Shape::Other => local_rs |= p.extension().is_some_and(|e| e == "rs"),
            }
        }
    }
    Some(match (registry.len(), git.len()) {
        (0, 0) if local_rs => UnitSource::Local,
        (1, 0) => {
            let (registry, package) = registry.into_iter().next().expect("one");
            if is_package_dir(&package, &u.pkg) {
                UnitSource::Registry { registry, package }
            } else {
                UnitSource::Unknown
            }
        }
        (0, 1) => {
            let (db, rev) = git.into_iter().next().expect("one");
            UnitSource::Git { db, rev }
        }
        _ => UnitSource::Unknown,
    })
}

/// For each unit, the units it depends on by fingerprint (a build-script run depends on its
/// compiled build script). Fingerprint values are read with `O_NOATIME`.
pub fn dependency_links(td: &TargetDir) -> HashMap<String, Vec<String>> {
    let mut by_fp: HashMap<u64, String> = HashMap::new();
    for u in &td.units {
        for fp in unit_fingerprints(u) {
            by_fp.insert(fp, u.hash.clone());
        }
    }
    td.units
        .iter()
        .map(|u| {
            let deps = unit_deps(u)
                .into_iter()
                .filter_map(|d| by_fp.get(&d).cloned())
                .collect();
            (u.hash.clone(), deps)
        })
        .collect()
}

/// Whether reading files under `path` leaves their atime alone (a `noatime` mount; Windows,
/// see [`sysfs::Filesystem::keeps_atime`]): then atimes say nothing about use.
pub fn noatime(path: &Path) -> bool {
    // Unreadable: as the platform usually is (Unix keeps atimes, Windows does not).
    sysfs::filesystem(path).map_or(!cfg!(unix), |f| !f.keeps_atime)
}

/// The `rustc` hash of every unit; a build-script run (which records 0) takes its compiled
/// build script's.
pub fn rustc_by_unit(td: &TargetDir) -> HashMap<String, u64> {
    let mut map: HashMap<String, u64> = td
        .units
        .iter()
        .map(|u| (u.hash.clone(), unit_rustc(u).unwrap_or(0)))
        .collect();
    let links = dependency_links(td);
    for u in &td.units {
        if map.get(&u.hash) == Some(&0)
            && let Some(r) = links
                .get(&u.hash)
                .into_iter()
                .flatten()
                .filter_map(|h| map.get(h).copied())
                .find(|r| *r != 0)
        {
            map.insert(u.hash.clone(), r);
        }
    }
    map
}

/// Where each unit's sources came from. A unit without dep-info of its own (a build-script
/// run) takes the source of the units of the *same package* it was built from (its compiled
/// build script), when they agree; otherwise it is unknown.
pub fn sources_by_unit(td: &TargetDir) -> HashMap<String, UnitSource> {
    let own: HashMap<&str, Option<UnitSource>> = td
        .units
        .iter()
        .map(|u| (u.hash.as_str(), own_source(u)))
        .collect();
    let links = if own.values().any(Option::is_none) {
        dependency_links(td)
    } else {
        HashMap::new()
    };
    let pkg: HashMap<&str, &str> = td
        .units
        .iter()
        .map(|u| (u.hash.as_str(), u.pkg.as_str()))
        .collect();
    td.units
        .iter()
        .map(|u| {
            let source = match &own[u.hash.as_str()] {
                Some(s) => s.clone(),
                None => {
                    let mut found: Vec<&UnitSource> = Vec::new();
                    for s in links
                        .get(&u.hash)
                        .into_iter()
                        .flatten()
                        .filter(|h| pkg.get(h.as_str()) == Some(&u.pkg.as_str()))
                        .filter_map(|h| own.get(h.as_str())?.as_ref())
                    {
                        if !found.contains(&s) {
                            found.push(s);
                        }
                    }
                    match found.as_slice() {
                        [one] => (*one).clone(),
                        _ => UnitSource::Unknown,
                    }
                }
            };
            (u.hash.clone(), source)
        })
        .collect()
}

/// What a unit builds, as Cargo names its fingerprint hash file: `lib-serde`, `bin-app`,
/// `build-script-build-script-build`, `run-build-script-build-script-build`,
/// `test-integration-test-it`, … (from the scan: nothing is read).
pub fn unit_target(u: &Unit) -> Option<String> {
    u.files
        .iter()
        .filter(|f| !f.is_dir && f.path.parent() == Some(u.fingerprint.as_path()))
        .filter_map(|f| f.path.file_name()?.to_str().map(str::to_owned))
        .filter(|n| !n.contains('.') && !n.starts_with("dep-") && !n.starts_with("output-"))
        .min()
}

/// The version of each unit of `hashes` that came from a registry package, from its own
/// dep-info (`…/registry/src/<registry>/<name>-<version>/…`), or for a build-script run, from
/// its compiled build script's. Nothing for a unit of a path package or a git checkout: the
/// version in their `Cargo.toml` now may not be the one the unit was built from.
pub fn versions(td: &TargetDir, hashes: &HashSet<String>) -> HashMap<String, String> {
    let by_hash: HashMap<&str, &Unit> = td.units.iter().map(|u| (u.hash.as_str(), u)).collect();
    let mut own: HashMap<&str, Option<UnitSource>> = HashMap::new();
    for h in hashes {
        if let Some(u) = by_hash.get(h.as_str()) {
            own.insert(&u.hash, own_source(u));
        }
    }
    let links = if own.values().any(Option::is_none) {
        dependency_links(td)
    } else {
        HashMap::new()
    };
    let mut out = HashMap::new();
    for (hash, source) in &own {
        let u = by_hash[hash];
        let source = match source {
            Some(s) => Some(s.clone()),
            // A build-script run: its compiled build script's (same package), when one.
            None => {
                let found: HashSet<String> = (links.get(*hash).into_iter().flatten())
                    .filter_map(|h| by_hash.get(h.as_str()))
                    .filter(|d| d.pkg == u.pkg)
                    .filter_map(|d| match own_source(d) {
                        Some(UnitSource::Registry { package, .. }) => Some(package),
                        _ => None,
                    })
                    .collect();
                (found.len() == 1).then(|| UnitSource::Registry {
                    registry: String::new(),
                    package: found.into_iter().next().expect("one"),
                })
            }
        };
        if let Some(UnitSource::Registry { package, .. }) = source
            && let Some(v) = package
                .strip_prefix(u.pkg.as_str())
                .and_then(|v| v.strip_prefix('-'))
        {
            out.insert(u.hash.clone(), v.to_owned());
        }
    }
    out
}

/// How deep [`contents_except_locks`] looks for lock files below a directory before it
/// assumes there is one.
const LOCK_SEARCH_DEPTH: usize = 32;

fn is_lock_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| crate::act::lock::BUILD_LOCK_NAMES.contains(&n))
}

/// Whether `dir` itself holds a build lock file, now.
fn holds_a_lock(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| is_lock_name(&e.file_name()))
    })
}

/// Whether a build lock file is anywhere below `dir`, now (past [`LOCK_SEARCH_DEPTH`] levels,
/// assumed so).
fn lock_below(dir: &Path, depth: usize) -> bool {
    if depth == 0 {
        return true;
    }
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok).any(|e| {
            is_lock_name(&e.file_name())
                || (e.file_type().is_ok_and(|t| t.is_dir()) && lock_below(&e.path(), depth - 1))
        })
    })
}

/// Whether `dir` holds anything but directories, at any depth (an empty directory may be a
/// profile Cargo has just created and is about to lock: it is never removed).
fn holds_a_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| !e.file_type().is_ok_and(|t| t.is_dir()) || holds_a_file(&e.path()))
    })
}

/// `sweep --all`: everything in the directory to remove, as whole paths, but `CACHEDIR.TAG`,
/// the record of use (`.janitor-use.json`, see [`crate::observe::use_record`]),
/// the trash and Cargo's lock files (never deleted, wherever they are). A profile directory in
/// `td.profiles` (those whose locks are held) is emptied but for its lock files. Any other
/// directory that holds lock files (a busy profile, one that appeared since the scan, a nested
/// one too deep to be recognised) is kept whole; the directories above any of these are
/// entered. The directory is listed now, and every directory is checked for lock files now,
/// not only in the scan. A directory holding no file at all is kept: it may be a profile
/// Cargo has just created and is about to lock.
pub fn contents_except_locks(td: &TargetDir) -> Vec<PathBuf> {
    fn walk(dir: &Path, td: &TargetDir, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().unwrap_or_default();
            if is_lock_name(name)
                || name == "CACHEDIR.TAG"
                || name == crate::act::remove::TRASH
                || (dir == td.path && name == crate::observe::use_record::NAME)
            {
                continue;
            }
            if !p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                out.push(p);
            } else if td.profiles.contains(&p) {
                walk(&p, td, out);
            } else if td.lock_dirs.contains(&p) || td.busy_profiles.contains(&p) || holds_a_lock(&p)
            {
                // Lock files we do not hold: not ours to empty.
            } else if td
                .profiles
                .iter()
                .chain(&td.lock_dirs)
                .chain(&td.busy_profiles)
                .any(|h| h.starts_with(&p))
                || lock_below(&p, LOCK_SEARCH_DEPTH)
            {
                walk(&p, td, out);
            } else if holds_a_file(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&td.path, td, &mut out);
    out
}

/// The view of `td` limited to the profile directories in `held` (those whose build locks
/// are held): units and incremental caches of other profiles are dropped, and those
/// profiles are listed in `busy_profiles`.
pub fn restrict(mut td: TargetDir, held: &[PathBuf]) -> TargetDir {
    let (mine, busy): (Vec<PathBuf>, Vec<PathBuf>) =
        td.profiles.drain(..).partition(|p| held.contains(p));
    td.profiles = mine;
    td.busy_profiles.extend(busy);
    td.units.retain(|u| held.contains(&u.profile));
    td.incremental.retain(|i| held.contains(&i.profile));
    td
}

/// Scans the dirs, keeping their order: one walk of them all on all cores (threads share
/// directories, so one big dir is walked by all of them), then each dir's units.
pub fn scan_all(dirs: &[PathBuf]) -> Vec<TargetDir> {
    let roots: Vec<_> = (dirs.iter())
        .map(|d| (walk::Root::Path(d), walk::Skip::Nothing))
        .collect();
    walk::map_on_all_cores(&walk::walk(&roots, None), of_walk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_little_endian_hex() {
        assert_eq!(decode_fingerprint("0100000000000000"), Some(1));
        assert_eq!(
            decode_fingerprint("00000000000000ff"),
            Some(0xff00_0000_0000_0000)
        );
        assert_eq!(decode_fingerprint("xyz"), None);
    }

    #[test]
    fn hashes_in_artifact_names() {
        assert_eq!(
            hash_in_name("libitoa-596f5dc9ff69f7fc.rlib"),
            Some("596f5dc9ff69f7fc")
        );
        assert_eq!(
            hash_in_name("p1-45103c0285be5dad"),
            Some("45103c0285be5dad")
        );
        assert_eq!(
            hash_in_name("p1-45103c0285be5dad.d"),
            Some("45103c0285be5dad")
        );
        assert_eq!(
            hash_in_name("cfg-if-0123456789abcdef.d"),
            Some("0123456789abcdef")
        );
        assert_eq!(hash_in_name("libfoo.rlib"), None);
        assert_eq!(hash_in_name("foo-bar"), None);
        assert_eq!(hash_in_name("x-0123456789abcdefg"), None);
    }

    #[test]
    fn dep_info_prerequisites_with_escaped_spaces() {
        let text = "/t/debug/deps/a-0123456789abcdef.d: src/main.rs /my\\ dir/x.rs\n\n\
                    /t/debug/deps/a-0123456789abcdef: src/main.rs /my\\ dir/x.rs\n\n\
                    src/main.rs:\n/my\\ dir/x.rs:\n\n# env-dep:CARGO_PKG_NAME=a\n";
        assert_eq!(
            dep_info_paths(text),
            [PathBuf::from("/my dir/x.rs"), PathBuf::from("src/main.rs")]
        );
    }

    #[test]
    fn sources_are_recognised_by_shape_in_any_home() {
        let reg =
            "/other/home/registry/src/index.crates.io-1949cf8c6b5b557f/cfg-if-1.0.0/src/lib.rs";
        assert_eq!(
            shape(Path::new(reg)),
            Shape::Registry(
                "index.crates.io-1949cf8c6b5b557f".into(),
                "cfg-if-1.0.0".into()
            )
        );
        let git = "/h/git/checkouts/gitdep-1c9d4c25eca3252c/157c27d/src/lib.rs";
        assert_eq!(
            shape(Path::new(git)),
            Shape::Git("gitdep-1c9d4c25eca3252c".into(), "157c27d".into())
        );
        for other in [
            "src/lib.rs",
            "/ws/registry/src/lib.rs",
            "/ws/registry/src/notahash/x-1.0.0/lib.rs",
            "/ws/git/checkouts/repo-1c9d4c25eca3252c/main/src/lib.rs",
            "/h/registry/src/index.crates.io-1949cf8c6b5b557f/x-1.0.0",
        ] {
            assert_eq!(shape(Path::new(other)), Shape::Other, "{other}");
        }
        assert!(is_package_dir("cfg-if-1.0.0", "cfg-if"));
        assert!(is_package_dir("foo-1.0.0-rc.1+build.5", "foo"));
        assert!(!is_package_dir("foo-2-1.0.0", "foo"), "package foo-2");
        assert!(!is_package_dir("foo-bar-1.0.0", "foo"));
        assert!(!is_package_dir("foo-1.0", "foo"));
    }

    /// A legacy unit `<pkg>-<hash>` whose `deps/<crate>-<hash>.d` lists `sources` (none: no
    /// dep-info), with a fingerprint of `kind`.
    fn legacy_unit(profile: &Path, pkg: &str, hash: &str, kind: &str, sources: Option<&str>) {
        let fp = profile.join(".fingerprint").join(format!("{pkg}-{hash}"));
        fs::create_dir_all(&fp).unwrap();
        fs::write(fp.join(kind), "0100000000000000").unwrap();
        fs::create_dir_all(profile.join("deps")).unwrap();
        if let Some(src) = sources {
            let crate_name = pkg.replace('-', "_");
            let d = profile.join("deps").join(format!("{crate_name}-{hash}.d"));
            fs::write(&d, format!("{}: {src}\n\n{src}:\n", d.display())).unwrap();
        }
    }

    /// Creates `rel` below `root` (a directory when it ends in `/`, else a file).
    fn make(root: &Path, rel: &str) {
        let p = root.join(rel);
        if rel.ends_with('/') {
            fs::create_dir_all(&p).unwrap();
        } else {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "x").unwrap();
        }
    }

    #[test]
    fn units_are_classified_by_their_own_dep_info() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("debug");
        let reg = "/elsewhere/registry/src/index.crates.io-1949cf8c6b5b557f";
        let h = |n: u8| format!("{n:016x}");
        legacy_unit(&p, "app", &h(1), "bin-app", Some("src/main.rs"));
        legacy_unit(
            &p,
            "alpha",
            &h(2),
            "lib-alpha",
            Some(&format!(
                "{reg}/alpha-1.0.0/src/lib.rs /t/debug/build/alpha-x/out/gen.rs"
            )),
        );
        legacy_unit(
            &p,
            "beta",
            &h(3),
            "lib-beta",
            Some(&format!("{reg}/alpha-1.0.0/src/lib.rs")),
        );
        legacy_unit(
            &p,
            "gamma",
            &h(4),
            "lib-gamma",
            Some(&format!(
                "{reg}/gamma-0.1.0/src/lib.rs {reg}/gamma-0.2.0/src/lib.rs"
            )),
        );
        legacy_unit(&p, "delta", &h(5), "lib-delta", None);
        legacy_unit(&p, "eps", &h(6), "lib-eps", Some("README.md"));
        legacy_unit(
            &p,
            "gitdep",
            &h(7),
            "lib-gitdep",
            Some("/h/git/checkouts/gitdep-1c9d4c25eca3252c/157c27d/src/lib.rs"),
        );
        // A dep-info that is a symlink (to a plausible one) is not read.
        legacy_unit(&p, "sym", &h(8), "lib-sym", None);
        let elsewhere = t.path().join("elsewhere.d");
        fs::write(&elsewhere, format!("x: {reg}/sym-1.0.0/src/lib.rs\n")).unwrap();
        crate::sys::fs::symlink(&elsewhere, p.join("deps").join(format!("sym-{}.d", h(8))))
            .unwrap();
        let td = scan(t.path());
        let s = sources_by_unit(&td);
        assert_eq!(s[&h(8)], UnitSource::Unknown, "a symlinked dep-info");
        assert_eq!(s[&h(1)], UnitSource::Local);
        assert_eq!(
            s[&h(2)],
            UnitSource::Registry {
                registry: "index.crates.io-1949cf8c6b5b557f".into(),
                package: "alpha-1.0.0".into()
            }
        );
        assert_eq!(s[&h(3)], UnitSource::Unknown, "another package's sources");
        assert_eq!(s[&h(4)], UnitSource::Unknown, "two package versions");
        assert_eq!(s[&h(5)], UnitSource::Unknown, "no dep-info");
        assert_eq!(s[&h(6)], UnitSource::Unknown, "no Rust source");
        assert_eq!(
            s[&h(7)],
            UnitSource::Git {
                db: "gitdep-1c9d4c25eca3252c".into(),
                rev: "157c27d".into()
            }
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_build_script_run_takes_its_own_packages_source_only() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("debug");
        let reg = "/h/registry/src/index.crates.io-1949cf8c6b5b557f";
        let h = |n: u8| format!("{n:016x}");
        // gamma's compiled build script (fingerprint value 7, written little-endian) …
        let fp = p.join(".fingerprint").join(format!("gamma-{}", h(1)));
        fs::create_dir_all(&fp).unwrap();
        fs::write(
            fp.join("build-script-build-script-build"),
            "0700000000000000",
        )
        .unwrap();
        let b = p.join("build").join(format!("gamma-{}", h(1)));
        fs::create_dir_all(&b).unwrap();
        let d = b.join(format!("build_script_build-{}.d", h(1)));
        fs::write(&d, format!("{}: {reg}/gamma-0.1.0/build.rs\n", d.display())).unwrap();
        // … alpha's lib (fingerprint value 8) …
        legacy_unit(
            &p,
            "alpha",
            &h(2),
            "lib-alpha",
            Some(&format!("{reg}/alpha-1.0.0/src/lib.rs")),
        );
        fs::write(
            p.join(".fingerprint")
                .join(format!("alpha-{}", h(2)))
                .join("lib-alpha"),
            "0800000000000000",
        )
        .unwrap();
        // … and two runs: gamma's depends on alpha's lib first, then its own build script;
        // delta's only on alpha's lib.
        for (pkg, n, deps) in [
            ("gamma", 3, "[[0,\"a\",false,8],[0,\"b\",false,7]]"),
            ("delta", 4, "[[0,\"a\",false,8]]"),
        ] {
            let fp = p.join(".fingerprint").join(format!("{pkg}-{}", h(n)));
            fs::create_dir_all(&fp).unwrap();
            fs::write(
                fp.join("run-build-script-build-script-build.json"),
                format!("{{\"rustc\":0,\"deps\":{deps}}}"),
            )
            .unwrap();
            fs::create_dir_all(p.join("build").join(format!("{pkg}-{}/out", h(n)))).unwrap();
        }
        let s = sources_by_unit(&scan(t.path()));
        let gamma = UnitSource::Registry {
            registry: "index.crates.io-1949cf8c6b5b557f".into(),
            package: "gamma-0.1.0".into(),
        };
        assert_eq!(s[&h(1)], gamma);
        assert_eq!(s[&h(3)], gamma, "the run goes with its build script");
        assert_eq!(s[&h(4)], UnitSource::Unknown, "never with another package");
    }

    #[test]
    fn profiles_are_recognised_by_their_contents_at_any_depth_up_to_the_bound() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        for rel in [
            "CACHEDIR.TAG",
            // Legacy, the usual places.
            "debug/.cargo-lock",
            "debug/.fingerprint/a-0123456789abcdef/lib-a",
            "x86_64-unknown-linux-gnu/release/.fingerprint/a-1123456789abcdef/lib-a",
            // cargo-miri: a nested target dir with a cross profile.
            "miri/x86_64-unknown-linux-gnu/debug/.cargo-lock",
            "miri/x86_64-unknown-linux-gnu/debug/.fingerprint/a-2123456789abcdef/lib-a",
            // rust-analyzer's target dir, new layout, lock files not written yet.
            "rust-analyzer/debug/build/a/3123456789abcdef/fingerprint/lib-a",
            // A profile Cargo has just created and locked: no fingerprint yet.
            "llvm-cov-target/release/.cargo-build-lock",
            // Not profiles: documentation with a module named `build`, and lock files too
            // deep to be looked for.
            "doc/mycrate/build/index.html",
            "deep/a/b/c/debug/.cargo-lock",
            "deep/a/b/c/debug/.fingerprint/a-4123456789abcdef/lib-a",
        ] {
            make(&root, rel);
        }
        let td = scan(&root);
        let rel: Vec<String> = td
            .profiles
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            rel,
            [
                "debug",
                "llvm-cov-target/release",
                "rust-analyzer/debug",
                "x86_64-unknown-linux-gnu/release",
                "miri/x86_64-unknown-linux-gnu/debug",
            ],
            "host profiles (shallower) first"
        );
        let mut hashes: Vec<&str> = td.units.iter().map(|u| u.hash.as_str()).collect();
        hashes.sort();
        assert_eq!(
            hashes,
            [
                "0123456789abcdef",
                "1123456789abcdef",
                "2123456789abcdef",
                "3123456789abcdef"
            ]
        );
        assert!(td.lock_dirs.contains(&root.join("deep/a/b/c/debug")));
        assert!(td.units.iter().all(|u| u.touched.is_some()));
        assert!(td.touched.is_some());

        // `--all` with every profile held: everything but lock files, CACHEDIR.TAG and the
        // directory holding lock files nobody holds.
        let mut all = contents_except_locks(&td);
        all.sort();
        let rel: Vec<String> = all
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            rel,
            [
                "debug/.fingerprint",
                "doc",
                "miri/x86_64-unknown-linux-gnu/debug/.fingerprint",
                "rust-analyzer/debug/build",
                "x86_64-unknown-linux-gnu/release/.fingerprint",
            ]
        );

        // Only some held: the others are busy; their units are not in the view, and `--all`
        // leaves them whole.
        let held = vec![root.join("debug")];
        let td = restrict(td, &held);
        assert_eq!(td.profiles, held);
        assert_eq!(td.busy_profiles.len(), 4);
        assert_eq!(td.units.len(), 1);
        let rel: Vec<String> = contents_except_locks(&td)
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(rel, ["debug/.fingerprint", "doc"]);
    }

    #[test]
    fn an_empty_directory_is_never_removed_by_all() {
        // Cargo creates a profile directory, then its lock file: in between it is empty.
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        make(&root, "debug/.cargo-lock");
        make(&root, "debug/.fingerprint/a-0123456789abcdef/lib-a");
        make(&root, "release/");
        make(&root, "wasm32-unknown-unknown/debug/");
        make(&root, "tmp/file");
        let td = scan(&root);
        let rel: Vec<String> = contents_except_locks(&td)
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(rel, ["debug/.fingerprint", "tmp"]);
        // A profile directory that appeared after the scan, and is locked: kept whole.
        make(&root, "release/.cargo-lock");
        make(&root, "release/deps/libx-0123456789abcdef.rlib");
        make(&root, "wasm32-unknown-unknown/debug/.cargo-lock");
        make(&root, "wasm32-unknown-unknown/other/file");
        let rel: Vec<String> = contents_except_locks(&td)
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            rel,
            ["debug/.fingerprint", "tmp", "wasm32-unknown-unknown/other"]
        );
    }
}
