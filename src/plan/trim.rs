//! What `trim` removes: everything the given lockfiles do not pin. Pure.
//!
//! * CARGO_HOME: `.crate` files, extracted sources, git databases and checkouts that no
//!   lockfile pins, as whole units. With `--ci`, also every extracted source and checkout
//!   (cargo re-extracts from the `.crate` and re-checks-out from the database, cheaply) and
//!   the index cache entries of packages no lockfile pins.
//! * Target dirs: every unit but those of pinned dependencies built by the current toolchain:
//!   workspace members (they change with every commit), dependency versions no longer pinned,
//!   other toolchains, and all incremental caches. A unit is removed only when its package is
//!   positively identified as unpinned: a registry package version or git revision (by its
//!   sources' paths, in any Cargo home) no lockfile pins, or a path package (sources outside
//!   registries and checkouts, and a package name the lockfiles list without a source).
//!   Anything else is kept and counted as unknown.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::sweep::{DirPlan, freed, incremental_removal, unit_removal};
use super::{ItemKind, Plan, PlanItem, Row};
use crate::discover::lockfile::KeepSet;
use crate::observe::home::Inventory;
use crate::observe::target_dir::{TargetDir, Unit, UnitSource};

fn item(path: PathBuf, kind: ItemKind, bytes: u64, reason: &str, row: Row) -> PlanItem {
    PlanItem {
        path,
        kind,
        bytes,
        disk_bytes: None,
        reason: reason.to_owned(),
        row,
        after_previous: false,
    }
}

/// Removals in CARGO_HOME.
pub fn plan_home(inv: &Inventory, keep: &KeepSet, ci: bool) -> Plan {
    let mut plan = Plan::default();
    let size = |e: &crate::observe::home::Entry| e.size.map_or(0, |s| s.bytes);
    for r in &inv.registries {
        let pinned = keep.registries.get(&r.name);
        let pinned_here = |pkg: &str| pinned.is_some_and(|s| s.contains(pkg));
        for e in &r.crates {
            let pkg = e.name.trim_end_matches(".crate");
            if !pinned_here(pkg) {
                plan.items.push(item(
                    e.path.clone(),
                    ItemKind::RegistryCrate,
                    size(e),
                    "pinned by no lockfile",
                    Row::RegistryCrate {
                        registry: r.name.clone(),
                        name: e.name.clone(),
                    },
                ));
            }
        }
        for e in &r.srcs {
            let why = if !pinned_here(&e.name) {
                "pinned by no lockfile"
            } else if ci {
                "re-extracted from its .crate when needed (--ci)"
            } else {
                continue;
            };
            plan.items.push(item(
                e.path.clone(),
                ItemKind::RegistrySrc,
                size(e),
                why,
                Row::RegistrySrc {
                    registry: r.name.clone(),
                    name: e.name.clone(),
                },
            ));
        }
    }
    for g in &inv.git {
        let pinned = keep.git.contains_key(&g.name);
        if !pinned {
            if let Some(db) = &g.db {
                plan.items.push(item(
                    db.path.clone(),
                    ItemKind::GitDb,
                    size(db),
                    "pinned by no lockfile",
                    Row::GitDb {
                        name: g.name.clone(),
                    },
                ));
            }
            for co in &g.checkouts {
                plan.items.push(item(
                    co.path.clone(),
                    ItemKind::GitCheckout,
                    size(co),
                    "its git database is pinned by no lockfile",
                    Row::GitCheckout {
                        db: g.name.clone(),
                        name: co.name.clone(),
                    },
                ));
            }
            continue;
        }
        for co in &g.checkouts {
            let why = if !keep.keeps_checkout(&g.name, &co.name) {
                "a revision no lockfile pins"
            } else if ci {
                "checked out again from its database when needed (--ci)"
            } else {
                continue;
            };
            plan.items.push(item(
                co.path.clone(),
                ItemKind::GitCheckout,
                size(co),
                why,
                Row::GitCheckout {
                    db: g.name.clone(),
                    name: co.name.clone(),
                },
            ));
        }
    }
    plan
}

/// `--ci`: index cache entries (`registry/index/<reg>/.cache/…/<name>`) of packages no
/// lockfile pins. `entries` are `(registry, package name, path, bytes)`.
pub fn plan_index(entries: &[(String, String, PathBuf, u64)], keep: &KeepSet) -> Plan {
    let mut plan = Plan::default();
    for (reg, name, path, bytes) in entries {
        if !keep.names.get(reg).is_some_and(|n| n.contains(name)) {
            plan.items.push(item(
                path.clone(),
                ItemKind::IndexEntry,
                *bytes,
                "index entry of a package no lockfile pins (--ci)",
                Row::None,
            ));
        }
    }
    plan
}

/// The plan for one target dir, and how many units it keeps because their package could
/// not be identified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetPlan {
    pub plan: DirPlan,
    pub kept_unknown: usize,
}

/// Removals in one target dir. `sources` maps unit hashes to where their sources came from
/// (build-script runs resolved to their build script's), `rustc` to the toolchain hash they
/// were built with; `current` are the current toolchain's hashes.
/// Whether `u` is a build-script run: its fingerprint is `run-build-script-…`.
fn is_build_script_run(u: &Unit) -> bool {
    u.files.iter().any(|f| {
        f.path.parent() == Some(u.fingerprint.as_path())
            && f.path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("run-build-script-"))
    })
}

pub fn plan_target(
    td: &TargetDir,
    sources: &HashMap<String, UnitSource>,
    rustc: &HashMap<String, u64>,
    current: &[u64],
    keep: &KeepSet,
) -> TargetPlan {
    let mut plan = DirPlan {
        units: td.units.len(),
        ..DirPlan::default()
    };
    let mut kept_unknown = 0;
    let mut all_files = Vec::new();
    for u in &td.units {
        let why = match sources.get(&u.hash).unwrap_or(&UnitSource::Unknown) {
            UnitSource::Local if keep.path_packages.contains(&u.pkg) => {
                Some("a workspace member or path package (rebuilt every commit)")
            }
            UnitSource::Local | UnitSource::Unknown => {
                kept_unknown += 1;
                continue;
            }
            UnitSource::Registry { registry, package } => {
                if !keep
                    .registries
                    .get(registry)
                    .is_some_and(|s| s.contains(package))
                {
                    Some("a dependency version no lockfile pins")
                } else {
                    None
                }
            }
            UnitSource::Git { db, rev } => {
                if !keep.keeps_checkout(db, rev) {
                    Some("a git revision no lockfile pins")
                } else {
                    None
                }
            }
        };
        // With no current toolchain known (`rustc -vV` could not run: no rustc on PATH, as
        // under Wine), no unit is known to be another toolchain's: what cannot be told is kept.
        let why = why.or_else(|| {
            let r = rustc.get(&u.hash).copied().unwrap_or(0);
            (r != 0 && !current.is_empty() && !current.contains(&r))
                .then_some("built by another toolchain")
        });
        let Some(why) = why else { continue };
        plan.removals.push(unit_removal(u, why.to_owned()));
        plan.removed_units += 1;
        all_files.extend(u.files.iter());
    }
    // Build-script runs first: a run has no dep-info and is identified through its compiled
    // build script, so a run killed between the two must leave the build script (which the
    // next run identifies by its own dep-info), never the run (which nothing would identify
    // again). The sort is stable: the rest keeps the scan's order.
    let runs: HashSet<&str> = td
        .units
        .iter()
        .filter(|u| is_build_script_run(u))
        .map(|u| u.hash.as_str())
        .collect();
    plan.removals
        .sort_by_key(|r| !r.unit.hash.as_deref().is_some_and(|h| runs.contains(h)));
    for inc in &td.incremental {
        plan.removals.push(incremental_removal(
            inc,
            "incremental compilation cache (useless in CI)".into(),
        ));
        all_files.extend(inc.files.iter());
    }
    let (disk, apparent) = freed(all_files);
    plan.reclaimed_bytes = disk;
    plan.reclaimed_apparent_bytes = apparent;
    TargetPlan { plan, kept_unknown }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::target_dir::{Layout, Unit};

    fn unit(pkg: &str, hash: &str) -> Unit {
        Unit {
            pkg: pkg.into(),
            hash: hash.into(),
            layout: Layout::Legacy,
            profile: "/t/debug".into(),
            fingerprint: format!("/t/debug/.fingerprint/{pkg}-{hash}").into(),
            paths: Vec::new(),
            files: Vec::new(),
            last_use: None,
            touched: None,
            modified: None,
        }
    }

    #[test]
    fn only_positively_identified_units_are_removed() {
        let reg = "index.crates.io-1949cf8c6b5b557f".to_string();
        let mut keep = KeepSet::default();
        keep.path_packages.insert("app".into());
        keep.registries
            .entry(reg.clone())
            .or_default()
            .insert("alpha-2.0.0".into());
        let units = [
            ("app", UnitSource::Local),
            ("old-member", UnitSource::Local),
            ("vendored", UnitSource::Local),
            ("mystery", UnitSource::Unknown),
            (
                "alpha",
                UnitSource::Registry {
                    registry: reg.clone(),
                    package: "alpha-2.0.0".into(),
                },
            ),
            (
                "alpha",
                UnitSource::Registry {
                    registry: reg.clone(),
                    package: "alpha-1.0.0".into(),
                },
            ),
        ];
        let td = TargetDir {
            units: (0..units.len())
                .map(|i| unit(units[i].0, &format!("{i:016x}")))
                .collect(),
            ..TargetDir::default()
        };
        let sources = (0..units.len())
            .map(|i| (format!("{i:016x}"), units[i].1.clone()))
            .collect();
        let p = plan_target(&td, &sources, &HashMap::new(), &[], &keep);
        let removed: Vec<_> = p
            .plan
            .removals
            .iter()
            .map(|r| (r.unit.hash.clone().unwrap(), r.reason.clone()))
            .collect();
        assert_eq!(
            removed,
            [
                (
                    format!("{:016x}", 0),
                    "a workspace member or path package (rebuilt every commit)".to_string()
                ),
                (
                    format!("{:016x}", 5),
                    "a dependency version no lockfile pins".to_string()
                )
            ]
        );
        assert_eq!(p.kept_unknown, 3);
        assert_eq!(p.plan.units - p.plan.removed_units, 4);
    }

    /// Regression (found under Wine, where `rustc -vV` cannot run): without a current
    /// toolchain, pinned dependencies' units are not "built by another toolchain".
    #[test]
    fn an_unknown_current_toolchain_removes_no_pinned_unit() {
        let reg = "index.crates.io-1949cf8c6b5b557f".to_string();
        let mut keep = KeepSet::default();
        keep.registries
            .entry(reg.clone())
            .or_default()
            .insert("alpha-2.0.0".into());
        let pinned = UnitSource::Registry {
            registry: reg,
            package: "alpha-2.0.0".into(),
        };
        let td = TargetDir {
            units: (0..2)
                .map(|i| unit("alpha", &format!("{i:016x}")))
                .collect(),
            ..TargetDir::default()
        };
        let sources = (0..2)
            .map(|i| (format!("{i:016x}"), pinned.clone()))
            .collect();
        let rustc: HashMap<String, u64> = (0..2).map(|i| (format!("{i:016x}"), 7 + i)).collect();
        let p = plan_target(&td, &sources, &rustc, &[], &keep);
        assert_eq!(p.plan.removed_units, 0, "{:?}", p.plan.removals);
        // With the current toolchain known, the other toolchain's unit goes.
        let p = plan_target(&td, &sources, &rustc, &[7], &keep);
        let removed: Vec<_> = p.plan.removals.iter().map(|r| r.reason.clone()).collect();
        assert_eq!(removed, ["built by another toolchain"]);
    }

    /// Regression (issue #9 kill test): a build-script run is removed before the compiled
    /// build script it is identified through, so that a run killed between the two leaves
    /// something the next run identifies.
    #[test]
    fn build_script_runs_are_removed_before_their_build_scripts() {
        let reg = "index.crates.io-1949cf8c6b5b557f".to_string();
        let old = UnitSource::Registry {
            registry: reg,
            package: "b-1.0.0".into(),
        };
        let mut units: Vec<Unit> = (0..3).map(|i| unit("b", &format!("{i:016x}"))).collect();
        // The last unit in scan order is the run.
        let fp = units[2].fingerprint.clone();
        units[2].files.push(crate::observe::target_dir::FileFact {
            path: fp.join("run-build-script-build-script-build").into(),
            key: (0, 1),
            nlink: 1,
            bytes: 16,
            disk_bytes: 4096,
            is_dir: false,
        });
        let td = TargetDir {
            units,
            ..TargetDir::default()
        };
        let sources = (0..3).map(|i| (format!("{i:016x}"), old.clone())).collect();
        let p = plan_target(&td, &sources, &HashMap::new(), &[], &KeepSet::default());
        let order: Vec<_> = p
            .plan
            .removals
            .iter()
            .map(|r| r.unit.hash.clone().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                format!("{:016x}", 2),
                format!("{:016x}", 0),
                format!("{:016x}", 1)
            ]
        );
    }
}
