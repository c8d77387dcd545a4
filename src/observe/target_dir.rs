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
//! **Last use** is the newest atime of the unit's fingerprint hash files (`lib-<name>`,
//! `bin-<name>`, `run-build-script-…`) and `dep-*` files, which every `cargo build` that
//! checks the unit reads: under `relatime` their atime moves at least daily. The scan only
//! ever `stat`s those files (reading them would move the very signal we rely on).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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
    pub path: PathBuf,
    pub key: (u64, u64),
    pub nlink: u64,
    pub bytes: u64,
    pub disk_bytes: u64,
    pub is_dir: bool,
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
}

#[derive(Clone, Debug)]
pub struct Incremental {
    pub path: PathBuf,
    pub profile: PathBuf,
    pub last_use: Option<u64>,
    pub files: Vec<FileFact>,
}

#[derive(Clone, Debug, Default)]
pub struct TargetDir {
    pub path: PathBuf,
    pub units: Vec<Unit>,
    pub incremental: Vec<Incremental>,
    /// Profile directories (each has its own build locks).
    pub profiles: Vec<PathBuf>,
    /// Every file in the whole directory (for totals), hard links once.
    pub total_bytes: u64,
    pub total_disk_bytes: u64,
    pub errors: Vec<(PathBuf, String)>,
}

fn secs(t: io::Result<SystemTime>) -> Option<u64> {
    t.ok()?.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
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

/// Every file (and directory) below `path`, never following symlinks.
fn facts(path: &Path, out: &mut Vec<FileFact>) {
    let Ok(m) = path.symlink_metadata() else {
        return;
    };
    out.push(FileFact {
        path: path.to_owned(),
        key: (m.dev(), m.ino()),
        nlink: m.nlink(),
        bytes: if m.is_file() { m.len() } else { 0 },
        disk_bytes: m.blocks() * 512,
        is_dir: m.is_dir(),
    });
    if m.is_dir() {
        for e in entries(path) {
            facts(&e.path(), out);
        }
    }
}

/// Newest atime of the signal files in a fingerprint directory (stat only).
fn fingerprint_atime(dir: &Path) -> Option<u64> {
    entries(dir)
        .into_iter()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.ends_with(".json") && n != "invoked.timestamp" && !n.starts_with("output-")
        })
        .filter_map(|e| secs(e.metadata().and_then(|m| m.accessed())))
        .max()
}

/// Profile directories: those with `.fingerprint/` or `build/`, directly in `dir` or one
/// level down (`<triple>/<profile>`).
fn profiles(dir: &Path) -> Vec<PathBuf> {
    let looks = |p: &Path| p.join(".fingerprint").is_dir() || p.join("build").is_dir();
    let mut out = Vec::new();
    for e in entries(dir) {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if looks(&p) {
            out.push(p);
        } else {
            for sub in entries(&p) {
                if sub.file_type().is_ok_and(|t| t.is_dir()) && looks(&sub.path()) {
                    out.push(sub.path());
                }
            }
        }
    }
    out.sort();
    out
}

/// Scans a target or build directory into units.
pub fn scan(dir: &Path) -> TargetDir {
    let mut td = TargetDir {
        path: dir.to_owned(),
        ..TargetDir::default()
    };
    for profile in profiles(dir) {
        scan_profile(&profile, &mut td);
        td.profiles.push(profile);
    }
    let mut all = Vec::new();
    facts(dir, &mut all);
    let mut seen = HashSet::new();
    for f in &all {
        if f.is_dir || f.nlink <= 1 || seen.insert(f.key) {
            td.total_bytes += f.bytes;
            td.total_disk_bytes += f.disk_bytes;
        }
    }
    td
}

fn scan_profile(profile: &Path, td: &mut TargetDir) {
    let mut units: BTreeMap<String, Unit> = BTreeMap::new();
    let new_unit = |pkg: &str, hash: &str, layout: Layout, fingerprint: PathBuf| Unit {
        pkg: pkg.to_owned(),
        hash: hash.to_owned(),
        layout,
        profile: profile.to_owned(),
        fingerprint,
        paths: Vec::new(),
        files: Vec::new(),
        last_use: None,
    };
    // Legacy: .fingerprint/<pkg>-<hash>.
    for e in entries(&profile.join(".fingerprint")) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pkg, hash)) = name.rsplit_once('-') else {
            continue;
        };
        if !is_hash(hash) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let mut u = new_unit(pkg, hash, Layout::Legacy, e.path());
        u.last_use = fingerprint_atime(&e.path());
        units.insert(hash.to_owned(), u);
    }
    // New layout: build/<pkg>/<hash>/fingerprint; legacy: build/<pkg>-<hash>.
    for e in entries(&profile.join("build")) {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((_, hash)) = name.rsplit_once('-')
            && is_hash(hash)
        {
            if let Some(u) = units.get_mut(hash) {
                u.paths.push(e.path());
            }
            continue;
        }
        for h in entries(&e.path()) {
            let hash = h.file_name().to_string_lossy().into_owned();
            let fp = h.path().join("fingerprint");
            if is_hash(&hash) && fp.is_dir() {
                let mut u = new_unit(&name, &hash, Layout::New, fp.clone());
                u.last_use = fingerprint_atime(&fp);
                u.paths.push(h.path());
                units.insert(hash, u);
            }
        }
    }
    // Legacy artifacts named `…-<hash>[.ext]` in deps/ and examples/.
    for sub in ["deps", "examples"] {
        for e in entries(&profile.join(sub)) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hash) = hash_in_name(&name)
                && let Some(u) = units.get_mut(hash)
            {
                u.paths.push(e.path());
            }
        }
    }
    // Facts of every path, then uplifted hard links in the profile dir and examples/.
    let mut by_inode: HashMap<(u64, u64), String> = HashMap::new();
    for u in units.values_mut() {
        facts(&u.fingerprint.clone(), &mut u.files);
        for p in u.paths.clone() {
            if u.layout == Layout::New && p.join("fingerprint") == u.fingerprint {
                // The unit dir holds the fingerprint: list its other children.
                let mut fs_ = Vec::new();
                facts(&p, &mut fs_);
                u.files = fs_;
            } else {
                facts(&p, &mut u.files);
            }
        }
        for f in &u.files {
            if !f.is_dir && f.nlink > 1 {
                by_inode.insert(f.key, u.hash.clone());
            }
        }
    }
    for dir in [profile.to_owned(), profile.join("examples")] {
        for e in entries(&dir) {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() || m.nlink() <= 1 {
                continue;
            }
            if let Some(hash) = by_inode.get(&(m.dev(), m.ino()))
                && let Some(u) = units.get_mut(hash)
                && !u.paths.contains(&e.path())
            {
                u.paths.push(e.path());
                facts(&e.path(), &mut u.files);
            }
        }
    }
    td.units.extend(units.into_values());
    // incremental/<crate>-<hash>/
    for e in entries(&profile.join("incremental")) {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let mut files = Vec::new();
        facts(&e.path(), &mut files);
        let last_use = files
            .iter()
            .filter_map(|f| secs(f.path.symlink_metadata().and_then(|m| m.modified())))
            .max();
        td.incremental.push(Incremental {
            path: e.path(),
            profile: profile.to_owned(),
            last_use,
            files,
        });
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

/// A unit's own fingerprint values (the hex in its hash files), read with `O_NOATIME` so the
/// read leaves the last-use signal alone. Empty when that is not possible.
pub fn unit_fingerprints(u: &Unit) -> Vec<u64> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    entries(&u.fingerprint)
        .into_iter()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !n.contains('.') && !n.starts_with("dep-") && !n.starts_with("output-")
        })
        .filter_map(|e| {
            let mut f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOATIME)
                .open(e.path())
                .ok()?;
            let mut s = String::new();
            f.read_to_string(&mut s).ok()?;
            u64::from_str_radix(s.trim(), 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
