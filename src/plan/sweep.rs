//! What `sweep` removes from one target directory: pure, from the scanned units, their
//! toolchain hashes, the criteria, `now` and the grace period.
//!
//! Whatever the criteria, a unit or incremental session touched within the grace period is
//! kept ([`keep_recent`], shared with `trim`), and `--all` empties a directory only if nothing
//! in it was touched within the period and every profile directory in it is held
//! ([`TargetDir::busy_profiles`] is empty).
//!
//! Reclaimable bytes are exact: a file with several hard links (an uplifted binary and its
//! `deps/` original) frees its blocks only when every link goes, so it counts only then, once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::grace::{Grace, Kept, Use};
use crate::observe::target_dir::{FileFact, Incremental, Layout, TargetDir, Unit};
use crate::quantity::{self, Span};

/// Which toolchains' units to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchains {
    /// Units whose `rustc` hash is none of these (the installed toolchains).
    NotIn(Vec<u64>),
    /// Units whose `rustc` hash is one of these (named toolchains).
    In(Vec<u64>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Criteria {
    pub max_age: Option<Span>,
    pub toolchains: Option<Toolchains>,
    pub max_size: Option<u64>,
    pub incremental: bool,
    pub all: bool,
}

impl Criteria {
    pub fn any(&self) -> bool {
        self.max_age.is_some()
            || self.toolchains.is_some()
            || self.max_size.is_some()
            || self.incremental
            || self.all
    }
}

/// What names a removed unit, beyond its paths (all `None` for a whole target dir; an
/// incremental session has only its profile).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnitName {
    pub package: Option<String>,
    pub hash: Option<String>,
    /// The version of a registry package (read from the unit's dep-info before it goes, see
    /// [`crate::observe::target_dir::versions`]); `None` when unknown or not from a registry.
    pub version: Option<String>,
    /// The profile directory the unit is in (`<target>/debug`, `<target>/<triple>/release`).
    pub profile: Option<PathBuf>,
    /// What it builds, as Cargo names its fingerprint ([`crate::observe::target_dir::unit_target`]).
    pub target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// The first of `paths`: what names the removal (as `path` does in `gc` and `trim`).
    pub path: PathBuf,
    /// Paths in removal order (a unit's fingerprint first: without it Cargo rebuilds).
    pub paths: Vec<PathBuf>,
    /// `unit`, `incremental` or `target-dir`.
    pub kind: &'static str,
    #[serde(flatten)]
    pub unit: UnitName,
    pub reason: String,
    /// Bytes on disk this removal frees (hard links counted when their last link goes).
    pub bytes: u64,
    /// When what it removes was last touched (unix seconds, real clock), for the grace period.
    #[serde(skip)]
    pub touched: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirPlan {
    pub removals: Vec<Removal>,
    pub units: usize,
    pub removed_units: usize,
    /// Bytes on disk freed, and apparent bytes of the files freed.
    pub reclaimed_bytes: u64,
    pub reclaimed_apparent_bytes: u64,
    /// Removals the grace period prevented.
    pub kept: Vec<Kept>,
}

/// The removal of one unit: its fingerprint first (legacy layout; without it Cargo rebuilds
/// the unit), then its other paths.
pub fn unit_removal(u: &Unit, reason: String) -> Removal {
    let mut paths = Vec::new();
    if u.layout == Layout::Legacy {
        paths.push(u.fingerprint.clone());
    }
    paths.extend(u.paths.iter().cloned());
    Removal {
        path: paths.first().cloned().unwrap_or_default(),
        paths,
        kind: "unit",
        unit: UnitName {
            package: Some(u.pkg.clone()),
            hash: Some(u.hash.clone()),
            version: None,
            profile: Some(u.profile.clone()),
            target: crate::observe::target_dir::unit_target(u),
        },
        reason,
        bytes: freed(u.files.iter()).0,
        touched: u.touched,
    }
}

/// The first path of a unit's removal (its fingerprint in the legacy layout, its
/// `build/<pkg>/<hash>` directory in the new one): what identifies the unit in a plan.
pub fn unit_key(u: &Unit) -> &Path {
    match (u.layout, u.paths.first()) {
        (Layout::New, Some(p)) => p,
        _ => &u.fingerprint,
    }
}

/// The removal of one incremental compilation cache.
pub fn incremental_removal(inc: &Incremental, reason: String) -> Removal {
    Removal {
        path: inc.path.clone(),
        paths: vec![inc.path.clone()],
        kind: "incremental",
        unit: UnitName {
            profile: Some(inc.profile.clone()),
            ..UnitName::default()
        },
        reason,
        bytes: freed(inc.files.iter()).0,
        touched: inc.touched,
    }
}

/// Drops from `plan` every removal touched within the grace period (listing it in
/// `plan.kept`), and counts the units and bytes of what is left, exactly as a plan of only
/// those removals would. For `sweep` and `trim` alike.
pub fn keep_recent(mut plan: DirPlan, td: &TargetDir, grace: &Grace) -> DirPlan {
    let (go, stay): (Vec<Removal>, Vec<Removal>) = plan
        .removals
        .drain(..)
        .partition(|r| !r.touched.is_some_and(|t| grace.keeps(Use::disk(t))));
    if stay.is_empty() {
        plan.removals = go;
        return plan;
    }
    for r in &stay {
        plan.kept.push(Kept {
            path: r.paths.first().cloned().unwrap_or_default(),
            kind: r.kind.to_string(),
            last_use: r.touched.unwrap_or(0),
        });
    }
    if go.iter().any(|r| r.kind == "target-dir") {
        // A whole directory is never split: it went or stayed as one.
        plan.removals = go;
        return plan;
    }
    recount(plan, td, go)
}

/// Keeps in `plan` only the removals `done` says were carried out in full (the executor
/// removed every path of theirs), and counts units and bytes again for those alone: what a
/// report says was freed is what was. A whole target dir with any failure counts as not
/// removed.
pub fn only_done(mut plan: DirPlan, td: &TargetDir, done: impl Fn(&Removal) -> bool) -> DirPlan {
    if plan.removals.iter().all(&done) {
        return plan;
    }
    let go: Vec<Removal> = plan.removals.drain(..).filter(|r| done(r)).collect();
    if go.iter().any(|r| r.kind == "target-dir") {
        plan.removals = go;
        return plan;
    }
    recount(plan, td, go)
}

/// `plan` with `go` as its removals, its units and bytes counted for them alone.
fn recount(mut plan: DirPlan, td: &TargetDir, go: Vec<Removal>) -> DirPlan {
    let mut files: HashMap<&Path, &[FileFact]> = HashMap::new();
    for u in &td.units {
        files.insert(unit_key(u), &u.files);
    }
    for inc in &td.incremental {
        files.insert(&inc.path, &inc.files);
    }
    let freed_files = go
        .iter()
        .filter_map(|r| r.paths.first().and_then(|p| files.get(p.as_path())))
        .flat_map(|f| f.iter());
    let (disk, apparent) = freed(freed_files);
    plan.reclaimed_bytes = disk;
    plan.reclaimed_apparent_bytes = apparent;
    plan.removed_units = go.iter().filter(|r| r.kind == "unit").count();
    plan.removals = go;
    plan
}

/// Disk and apparent bytes freed by removing all of `files` (a set of facts), hard links only
/// when every link is among them.
pub fn freed<'a>(files: impl IntoIterator<Item = &'a FileFact>) -> (u64, u64) {
    let mut links: HashMap<(u64, u64), (u64, &FileFact)> = HashMap::new();
    for f in files {
        links.entry(f.key).or_insert((0, f)).0 += 1;
    }
    let mut disk = 0;
    let mut apparent = 0;
    for (count, f) in links.values() {
        if f.is_dir || *count >= f.nlink {
            disk += f.disk_bytes;
            apparent += f.bytes;
        }
    }
    (disk, apparent)
}

/// Plans one target dir. `rustc` maps a unit hash to the `rustc` hash it was built with.
/// `atime_ok` is false on a `noatime` mount: then no age is known, and age and size limits
/// remove nothing from this dir. Nothing touched within `grace` is removed.
pub fn plan_dir(
    td: &TargetDir,
    rustc: &HashMap<String, u64>,
    c: &Criteria,
    now: u64,
    atime_ok: bool,
    grace: &Grace,
) -> DirPlan {
    let mut plan = DirPlan {
        units: td.units.len(),
        ..DirPlan::default()
    };
    let cutoff = c.max_age.map(|a| now.saturating_sub(a.secs()));

    if c.all {
        let newest = td.units.iter().filter_map(|u| u.last_use).max();
        // A directory with no unit whose last use is known is kept: we cannot tell. One with
        // a profile directory whose locks are not held (a build appeared meanwhile) is in use.
        let unused = matches!((cutoff, atime_ok), (Some(cut), true) if newest.is_some_and(|n| n < cut))
            && td.busy_profiles.is_empty();
        let recent = td.touched.filter(|t| grace.keeps(Use::disk(*t)));
        if let (true, Some(t)) = (unused, recent) {
            // Unused for --max-age by the atime signal, but something in it was built or run
            // moments ago: kept whole; the per-unit criteria below still apply.
            plan.kept.push(Kept {
                path: td.path.clone(),
                kind: "target-dir".into(),
                last_use: t,
            });
        } else if unused {
            let age = c.max_age.expect("checked");
            plan.removals.push(Removal {
                path: td.path.clone(),
                paths: vec![td.path.clone()],
                kind: "target-dir",
                unit: UnitName::default(),
                reason: format!(
                    "nothing in it used for {} (--all --max-age)",
                    quantity::span_words(age)
                ),
                bytes: td.total_disk_bytes,
                touched: td.touched,
            });
            plan.removed_units = td.units.len();
            plan.reclaimed_bytes = td.total_disk_bytes;
            plan.reclaimed_apparent_bytes = td.total_bytes;
            return plan;
        }
    }

    let mut doomed: Vec<(usize, String)> = Vec::new();
    for (i, u) in td.units.iter().enumerate() {
        let mut why = None;
        if let (Some(cut), Some(age), true) = (cutoff, c.max_age, atime_ok)
            && let Some(t) = u.last_use
            && t < cut
        {
            why = Some(format!(
                "last used {} (--max-age {})",
                quantity::ago(now, t),
                quantity::span_words(age)
            ));
        }
        if why.is_none()
            && let Some(rule) = &c.toolchains
            && let Some(&r) = rustc.get(&u.hash)
            && r != 0
        {
            match rule {
                Toolchains::NotIn(installed) if !installed.contains(&r) => {
                    why = Some("built by a toolchain that is not installed (--toolchains)".into())
                }
                Toolchains::In(named) if named.contains(&r) => {
                    why = Some("built by a named toolchain (--toolchains)".into())
                }
                _ => {}
            }
        }
        if let Some(w) = why {
            doomed.push((i, w));
        }
    }

    if let Some(max) = c.max_size
        && atime_ok
    {
        let files = |set: &HashSet<usize>| -> u64 {
            freed(set.iter().flat_map(|i| td.units[*i].files.iter())).0
        };
        let mut set: HashSet<usize> = doomed.iter().map(|d| d.0).collect();
        let mut lru: Vec<usize> = (0..td.units.len())
            .filter(|i| !set.contains(i) && td.units[*i].last_use.is_some())
            .collect();
        lru.sort_by_key(|i| (td.units[*i].last_use, td.units[*i].hash.clone()));
        for i in lru {
            if td.total_disk_bytes.saturating_sub(files(&set)) <= max {
                break;
            }
            set.insert(i);
            doomed.push((
                i,
                format!(
                    "least recently used over the limit (--max-size {})",
                    quantity::HumanBytes(max)
                ),
            ));
        }
    }

    let mut all_files: Vec<&FileFact> = Vec::new();
    for (i, why) in &doomed {
        let u = &td.units[*i];
        plan.removals.push(unit_removal(u, why.clone()));
        all_files.extend(u.files.iter());
    }
    plan.removed_units = doomed.len();

    if c.incremental {
        for inc in &td.incremental {
            let stale = match (cutoff, c.max_age) {
                (Some(cut), Some(_)) => inc.last_use.is_none_or(|t| t < cut),
                _ => true,
            };
            if stale {
                plan.removals.push(incremental_removal(
                    inc,
                    match c.max_age {
                        Some(a) => format!(
                            "incremental session unused for {} (--incremental)",
                            quantity::span_words(a)
                        ),
                        None => "incremental compilation cache (--incremental)".into(),
                    },
                ));
                all_files.extend(inc.files.iter());
            }
        }
    }
    let (disk, apparent) = freed(all_files);
    plan.reclaimed_bytes = disk;
    plan.reclaimed_apparent_bytes = apparent;
    keep_recent(plan, td, grace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::target_dir::Unit;

    fn fact(path: &str, ino: u64, nlink: u64, bytes: u64) -> FileFact {
        FileFact {
            path: Path::new(path).into(),
            key: (1, ino),
            nlink,
            bytes,
            disk_bytes: bytes.div_ceil(4096) * 4096,
            is_dir: false,
        }
    }

    fn unit(hash: &str, last_use: u64, files: Vec<FileFact>) -> Unit {
        Unit {
            pkg: "p".into(),
            hash: hash.into(),
            layout: Layout::Legacy,
            profile: "/t/debug".into(),
            fingerprint: format!("/t/debug/.fingerprint/p-{hash}").into(),
            paths: vec![],
            files,
            last_use: Some(last_use),
            touched: Some(last_use),
            modified: Some(last_use),
        }
    }

    const NOW: u64 = 10_000_000;

    const OFF: Grace = Grace {
        period: Span(0),
        db_now: NOW,
        disk_now: NOW,
    };

    const TEN_MINUTES: Grace = Grace {
        period: Span(600),
        db_now: NOW,
        disk_now: NOW,
    };

    fn dir(units: Vec<Unit>) -> TargetDir {
        TargetDir {
            path: "/t".into(),
            total_disk_bytes: units.iter().map(|u| freed(u.files.iter()).0).sum(),
            units,
            ..TargetDir::default()
        }
    }

    #[test]
    fn hard_links_count_when_the_last_link_goes() {
        let a = fact("/t/debug/deps/x-1", 7, 2, 5000);
        let b = fact("/t/debug/x", 7, 2, 5000);
        assert_eq!(freed([&a]), (0, 0));
        assert_eq!(freed([&a, &b]), (8192, 5000));
    }

    #[test]
    fn max_age_then_lru_size() {
        let old = unit(
            "aaaaaaaaaaaaaaaa",
            NOW - 40 * 86_400,
            vec![fact("/a", 1, 1, 4096)],
        );
        let mid = unit(
            "bbbbbbbbbbbbbbbb",
            NOW - 10 * 86_400,
            vec![fact("/b", 2, 1, 4096)],
        );
        let new = unit("cccccccccccccccc", NOW, vec![fact("/c", 3, 1, 4096)]);
        let td = dir(vec![old, mid, new]);
        let c = Criteria {
            max_age: Some(Span(30 * 86_400)),
            ..Criteria::default()
        };
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &OFF);
        assert_eq!(p.removed_units, 1);
        assert_eq!(p.removals[0].unit.hash.as_deref(), Some("aaaaaaaaaaaaaaaa"));
        assert_eq!(p.reclaimed_bytes, 4096);
        // Same plus a size limit of one unit: the next least recently used goes too.
        let c = Criteria {
            max_size: Some(4096),
            ..c
        };
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &OFF);
        let hashes: Vec<_> = p
            .removals
            .iter()
            .map(|r| r.unit.hash.clone().unwrap())
            .collect();
        assert_eq!(hashes, ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]);
        // On a noatime mount nothing is known to be old.
        assert!(
            plan_dir(&td, &HashMap::new(), &c, NOW, false, &OFF)
                .removals
                .is_empty()
        );
    }

    #[test]
    fn toolchains_named_or_not_installed_and_build_runs_kept() {
        let a = unit("aaaaaaaaaaaaaaaa", NOW, vec![]);
        let b = unit("bbbbbbbbbbbbbbbb", NOW, vec![]);
        let run = unit("cccccccccccccccc", NOW, vec![]);
        let td = dir(vec![a, b, run]);
        let rustc: HashMap<String, u64> = [
            ("aaaaaaaaaaaaaaaa".to_string(), 11),
            ("bbbbbbbbbbbbbbbb".to_string(), 22),
            ("cccccccccccccccc".to_string(), 0),
        ]
        .into_iter()
        .collect();
        let c = Criteria {
            toolchains: Some(Toolchains::NotIn(vec![11])),
            ..Criteria::default()
        };
        let p = plan_dir(&td, &rustc, &c, NOW, true, &OFF);
        assert_eq!(p.removals.len(), 1);
        assert_eq!(p.removals[0].unit.hash.as_deref(), Some("bbbbbbbbbbbbbbbb"));
        let c = Criteria {
            toolchains: Some(Toolchains::In(vec![11])),
            ..Criteria::default()
        };
        let p = plan_dir(&td, &rustc, &c, NOW, true, &OFF);
        assert_eq!(p.removals[0].unit.hash.as_deref(), Some("aaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn units_touched_within_the_grace_period_are_kept_and_listed() {
        // Old by the atime signal, but rebuilt (mtime) a minute ago.
        let mut rebuilt = unit(
            "aaaaaaaaaaaaaaaa",
            NOW - 40 * 86_400,
            vec![fact("/a", 1, 1, 4096)],
        );
        rebuilt.touched = Some(NOW - 60);
        let old = unit(
            "bbbbbbbbbbbbbbbb",
            NOW - 40 * 86_400,
            vec![fact("/b", 2, 1, 4096)],
        );
        let td = dir(vec![rebuilt, old]);
        let c = Criteria {
            max_age: Some(Span(30 * 86_400)),
            ..Criteria::default()
        };
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &TEN_MINUTES);
        let hashes: Vec<_> = p
            .removals
            .iter()
            .map(|r| r.unit.hash.clone().unwrap())
            .collect();
        assert_eq!(hashes, ["bbbbbbbbbbbbbbbb"]);
        assert_eq!(p.removed_units, 1);
        assert_eq!(
            p.reclaimed_bytes, 4096,
            "only what actually goes is counted"
        );
        assert_eq!(p.kept.len(), 1);
        assert_eq!(
            p.kept[0].path,
            PathBuf::from("/t/debug/.fingerprint/p-aaaaaaaaaaaaaaaa")
        );
        assert_eq!(p.kept[0].last_use, NOW - 60);
        // Without the grace period both go.
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &OFF);
        assert_eq!(p.removed_units, 2);
        assert!(p.kept.is_empty());
    }

    #[test]
    fn all_keeps_a_directory_touched_moments_ago_or_with_a_busy_profile() {
        let old = unit(
            "aaaaaaaaaaaaaaaa",
            NOW - 40 * 86_400,
            vec![fact("/a", 1, 1, 4096)],
        );
        let mut td = dir(vec![old]);
        td.touched = Some(NOW - 40 * 86_400);
        let c = Criteria {
            max_age: Some(Span(30 * 86_400)),
            all: true,
            ..Criteria::default()
        };
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &TEN_MINUTES);
        assert_eq!(p.removals[0].kind, "target-dir", "unused: emptied");

        // A file in it (say `target/tmp`, used by a test binary) was written a minute ago:
        // the directory stays; its old unit still goes by --max-age.
        td.touched = Some(NOW - 60);
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &TEN_MINUTES);
        assert_eq!(p.removals.len(), 1);
        assert_eq!(p.removals[0].kind, "unit");
        assert_eq!(p.kept[0].kind, "target-dir");
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &OFF);
        assert_eq!(p.removals[0].kind, "target-dir");

        // A profile directory whose locks are not held: never emptied as a whole.
        td.busy_profiles = vec!["/t/release".into()];
        let p = plan_dir(&td, &HashMap::new(), &c, NOW, true, &OFF);
        assert!(p.removals.iter().all(|r| r.kind != "target-dir"));
    }
}
