//! Cargo's GC algorithm (`GlobalCacheTracker::clean_inner`, cargo 1.95), as a pure function.
//!
//! Cargo first syncs its database with the disk, then deletes rows in a fixed order and removes
//! the paths those rows name. We reproduce both steps on values:
//!
//! 1. [`Model::synced`] is the database *as Cargo's sync would leave it*: every index and git
//!    database directory gets a row (untracked ones as used `now`); rows whose files are gone
//!    are dropped; `.crate` files, extracted sources and checkouts under a tracked parent get a
//!    row (untracked ones as used `now`, with a size only when a size limit is in force); and a
//!    parent row whose directory vanished takes its cache, src or checkouts directory with it
//!    (an *orphan*). Directories of a registry that has neither an index directory nor a row are
//!    invisible to Cargo's GC, and so to ours.
//! 2. [`plan`] applies the limits in Cargo's order: index age, src age, crate age, git db age,
//!    checkout age, then crate size, src size, git size and download size, each size limit
//!    removing the least recently used first with Cargo's tie-break (timestamp, then name).
//!    Age comparisons are strict (`timestamp < now - age`) and an age longer than the time
//!    since 1970 removes nothing (Cargo overflows there).

use std::path::PathBuf;

use super::grace::{Grace, Kept, Untracked, split_home};
use super::policy::{Origin, Policy};
use super::sync::{ChildKind, SyncChanges};
use super::{ItemKind, Plan, PlanItem, Row};
use crate::observe::db::Snapshot;
use crate::observe::home::{Entry, Inventory};
use crate::quantity::{self, Span};

/// One tracked entry, as Cargo's database would describe it after the sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    pub path: PathBuf,
    pub timestamp: u64,
    /// The size Cargo's algorithm sees (the row's `size`), if any.
    pub cargo_size: Option<u64>,
    /// Measured apparent bytes, for reports.
    pub bytes: u64,
    pub disk_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedRegistry {
    pub index: Tracked,
    pub crates: Vec<Tracked>,
    pub srcs: Vec<Tracked>,
    pub cache_dir: PathBuf,
    pub src_dir: PathBuf,
    pub has_cache_dir: bool,
    pub has_src_dir: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedGit {
    /// `cargo_size` of a db is `du` of its directory, measured only for `--max-git-size`.
    pub db: Tracked,
    pub checkouts: Vec<Tracked>,
    pub checkouts_dir: PathBuf,
    pub has_checkouts_dir: bool,
}

/// The database after Cargo's sync, plus the orphan directories the sync queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub registries: Vec<TrackedRegistry>,
    pub git: Vec<TrackedGit>,
    pub orphans: Vec<PlanItem>,
}

fn tracked(e: &Entry, now: u64, sync_sizes: bool) -> Tracked {
    let measured = e.size.unwrap_or(crate::observe::home::Measured {
        bytes: e.db_size.unwrap_or(0),
        disk_bytes: None,
        source: crate::observe::home::SizeSource::Database,
    });
    Tracked {
        name: e.name.clone(),
        path: e.path.clone(),
        timestamp: e.last_use.unwrap_or(now),
        cargo_size: e.db_size.or(if sync_sizes {
            Some(measured.bytes)
        } else {
            None
        }),
        bytes: measured.bytes,
        disk_bytes: measured.disk_bytes,
    }
}

fn sum_disk(items: &[Tracked]) -> Option<u64> {
    items.iter().map(|t| t.disk_bytes).sum()
}

impl Model {
    /// The model of the database after Cargo's sync (see the module docs): the rows that
    /// exist, plus those `changes` (from [`super::sync::changes`]) inserts. `sync_sizes` is
    /// whether a size limit is in force: Cargo then fills missing sizes from the disk, which
    /// must already be measured in `inv` (checkouts without their `.git`, as Cargo counts).
    pub fn synced(inv: &Inventory, changes: &SyncChanges, now: u64, sync_sizes: bool) -> Model {
        // An untracked entry is in the model only if the sync gives it a row.
        let inserted: std::collections::HashSet<(ChildKind, &str, &str)> = changes
            .insert_children
            .iter()
            .map(|r| (r.kind, r.parent.as_str(), r.name.as_str()))
            .collect();
        let kept = |kind: ChildKind, parent: &str, e: &&Entry| {
            e.last_use.is_some() || inserted.contains(&(kind, parent, e.name.as_str()))
        };
        let mut m = Model::default();
        let reg_root = inv.root.join("registry");
        for r in &inv.registries {
            let cache_dir = reg_root.join("cache").join(&r.name);
            let src_dir = reg_root.join("src").join(&r.name);
            match &r.index {
                Some(index) => {
                    let crates: Vec<Tracked> = r
                        .crates
                        .iter()
                        .filter(|e| kept(ChildKind::Crate, &r.name, e))
                        .map(|e| {
                            let mut t = tracked(e, now, sync_sizes);
                            // A `.crate` row always has a size: the file's length.
                            t.cargo_size = e.db_size.or(Some(t.bytes));
                            t
                        })
                        .collect();
                    m.registries.push(TrackedRegistry {
                        index: tracked(index, now, false),
                        crates,
                        srcs: r
                            .srcs
                            .iter()
                            .filter(|e| kept(ChildKind::Src, &r.name, e))
                            .map(|e| tracked(e, now, sync_sizes))
                            .collect(),
                        cache_dir,
                        src_dir,
                        has_cache_dir: r.has_cache_dir,
                        has_src_dir: r.has_src_dir,
                    });
                }
                None if r.row.is_some() => {
                    let crates: Vec<Tracked> =
                        r.crates.iter().map(|e| tracked(e, now, false)).collect();
                    let srcs: Vec<Tracked> =
                        r.srcs.iter().map(|e| tracked(e, now, false)).collect();
                    let why = format!("its registry index `registry/index/{}` is gone", r.name);
                    if r.has_cache_dir {
                        m.orphans.push(PlanItem {
                            path: cache_dir,
                            kind: ItemKind::RegistryCacheDir,
                            bytes: crates.iter().map(|t| t.bytes).sum(),
                            disk_bytes: sum_disk(&crates),
                            reason: why.clone(),
                            row: Row::None,
                            after_previous: false,
                        });
                    }
                    if r.has_src_dir {
                        m.orphans.push(PlanItem {
                            path: src_dir,
                            kind: ItemKind::RegistrySrcDir,
                            bytes: srcs.iter().map(|t| t.bytes).sum(),
                            disk_bytes: sum_disk(&srcs),
                            reason: why,
                            row: Row::None,
                            after_previous: false,
                        });
                    }
                }
                None => {}
            }
        }
        let co_root = inv.root.join("git").join("checkouts");
        for g in &inv.git {
            let checkouts_dir = co_root.join(&g.name);
            match &g.db {
                Some(db) => {
                    let mut db_t = tracked(db, now, false);
                    db_t.cargo_size = Some(db_t.bytes);
                    m.git.push(TrackedGit {
                        db: db_t,
                        checkouts: g
                            .checkouts
                            .iter()
                            .filter(|e| kept(ChildKind::Checkout, &g.name, e))
                            .map(|e| tracked(e, now, sync_sizes))
                            .collect(),
                        checkouts_dir,
                        has_checkouts_dir: g.has_checkouts_dir,
                    });
                }
                None if g.row.is_some() && g.has_checkouts_dir => {
                    let cos: Vec<Tracked> =
                        g.checkouts.iter().map(|e| tracked(e, now, false)).collect();
                    m.orphans.push(PlanItem {
                        path: checkouts_dir,
                        kind: ItemKind::GitCheckoutsDir,
                        bytes: cos.iter().map(|t| t.bytes).sum(),
                        disk_bytes: sum_disk(&cos),
                        reason: format!("its git database `git/db/{}` is gone", g.name),
                        row: Row::None,
                        after_previous: false,
                    });
                }
                None => {}
            }
        }
        m
    }
}

fn cutoff(now: u64, age: Span) -> u64 {
    now.saturating_sub(age.secs())
}

/// "last used 2 months ago (default max-src-age 1 month)": the limit, named by where it came
/// from (`name` is its key, `max-src-age`).
fn age_reason(name: &str, origin: Origin, age: Span, now: u64, ts: u64) -> String {
    format!(
        "last used {} ({})",
        quantity::ago(now, ts),
        origin.describe(name, &quantity::span_words(age))
    )
}

fn size_reason(flag: &str, limit: u64) -> String {
    format!(
        "least recently used over the limit ({flag} {})",
        quantity::HumanBytes(limit)
    )
}

fn item(t: &Tracked, kind: ItemKind, reason: String, row: Row) -> PlanItem {
    PlanItem {
        path: t.path.clone(),
        kind,
        bytes: t.bytes,
        disk_bytes: t.disk_bytes,
        reason,
        row,
        after_previous: false,
    }
}

/// Removes from `list` the entries with `timestamp < cut`, returning them.
fn take_older(list: &mut Vec<Tracked>, cut: u64) -> Vec<Tracked> {
    let (old, keep): (Vec<_>, Vec<_>) = list.drain(..).partition(|t| t.timestamp < cut);
    *list = keep;
    old
}

/// Which of a registry's children a size limit applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Child {
    Crate,
    Src,
}

/// Cargo's `get_registry_items_to_clean_size` for one table: if the sum of sizes is over
/// `max`, remove rows in (timestamp, name) order while the bytes removed *before* each row
/// are still short of `total - max`.
fn registry_size_limit(m: &mut Model, which: Child, max: u64, flag: &str, plan: &mut Plan) {
    let list = |r: &TrackedRegistry| -> Vec<Tracked> {
        match which {
            Child::Crate => r.crates.clone(),
            Child::Src => r.srcs.clone(),
        }
    };
    let total: u64 = m
        .registries
        .iter()
        .flat_map(&list)
        .filter_map(|t| t.cargo_size)
        .sum();
    if total <= max {
        return;
    }
    let to_remove = total - max;
    let mut rows: Vec<(u64, String, usize, PathBuf, Option<u64>)> = Vec::new();
    for (ri, r) in m.registries.iter().enumerate() {
        for t in list(r) {
            rows.push((
                t.timestamp,
                t.name.clone(),
                ri,
                t.path.clone(),
                t.cargo_size,
            ));
        }
    }
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut running: u64 = 0;
    let mut doomed: Vec<(usize, PathBuf)> = Vec::new();
    for (_, _, ri, path, size) in rows {
        let Some(size) = size else { continue };
        running += size;
        if running - size < to_remove {
            doomed.push((ri, path));
        }
    }
    for (ri, path) in doomed {
        let r = &mut m.registries[ri];
        let reg = r.index.name.clone();
        let children = match which {
            Child::Crate => &mut r.crates,
            Child::Src => &mut r.srcs,
        };
        if let Some(pos) = children.iter().position(|t| t.path == path) {
            let t = children.remove(pos);
            let (kind, row) = match which {
                Child::Crate => (
                    ItemKind::RegistryCrate,
                    Row::RegistryCrate {
                        registry: reg,
                        name: t.name.clone(),
                    },
                ),
                Child::Src => (
                    ItemKind::RegistrySrc,
                    Row::RegistrySrc {
                        registry: reg,
                        name: t.name.clone(),
                    },
                ),
            };
            plan.items.push(item(&t, kind, size_reason(flag, max), row));
        }
    }
}

/// Cargo's `get_git_items_to_clean_size`: databases (sized by `du`) and sized checkouts in one
/// list, oldest first; a removed database takes its listed checkouts with it.
fn git_size_limit(m: &mut Model, max: u64, plan: &mut Plan) {
    // (timestamp, name, db index, checkout index or None)
    let mut list: Vec<(u64, String, usize, Option<String>, u64)> = Vec::new();
    for (gi, g) in m.git.iter().enumerate() {
        list.push((
            g.db.timestamp,
            g.db.name.clone(),
            gi,
            None,
            g.db.cargo_size.unwrap_or(0),
        ));
        for c in &g.checkouts {
            if let Some(size) = c.cargo_size {
                list.push((c.timestamp, c.name.clone(), gi, Some(c.name.clone()), size));
            }
        }
    }
    // Newest first, so `pop` yields the oldest.
    list.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let mut total: u64 = list.iter().map(|r| r.4).sum();
    let reason = size_reason("--max-git-size", max);
    // In Cargo's removal order: a popped checkout; or a popped database, then each of its
    // checkouts still in the list.
    let mut removed: Vec<(usize, Option<String>)> = Vec::new();
    while let Some((_, _, gi, co, size)) = list.pop() {
        if total <= max {
            break;
        }
        total = total.saturating_sub(size);
        let is_db = co.is_none();
        removed.push((gi, co));
        if is_db {
            let mut i = 0;
            while i < list.len() {
                if list[i].2 == gi && list[i].3.is_some() {
                    let r = list.remove(i);
                    total = total.saturating_sub(r.4);
                    removed.push((gi, r.3));
                } else {
                    i += 1;
                }
            }
        }
    }
    for (gi, co) in &removed {
        let g = &m.git[*gi];
        match co {
            Some(co) => {
                if let Some(t) = g.checkouts.iter().find(|c| &c.name == co) {
                    plan.items.push(item(
                        t,
                        ItemKind::GitCheckout,
                        reason.clone(),
                        Row::GitCheckout {
                            db: g.db.name.clone(),
                            name: t.name.clone(),
                        },
                    ));
                }
            }
            None => plan.items.push(item(
                &g.db,
                ItemKind::GitDb,
                reason.clone(),
                Row::GitDb {
                    name: g.db.name.clone(),
                },
            )),
        }
    }
    let mut dbs: Vec<usize> = Vec::new();
    for (gi, co) in removed {
        match co {
            Some(co) => m.git[gi].checkouts.retain(|c| c.name != co),
            None => dbs.push(gi),
        }
    }
    dbs.sort_unstable();
    for gi in dbs.into_iter().rev() {
        m.git.remove(gi);
    }
}

/// Cargo's `get_registry_items_to_clean_size_both`: `.crate` files and sized sources in one
/// list by (timestamp, name), removed oldest first until the total fits.
fn download_size_limit(m: &mut Model, max: u64, plan: &mut Plan) {
    let mut rows: Vec<(u64, String, usize, Child, u64)> = Vec::new();
    for (ri, r) in m.registries.iter().enumerate() {
        for t in &r.srcs {
            if let Some(s) = t.cargo_size {
                rows.push((t.timestamp, t.name.clone(), ri, Child::Src, s));
            }
        }
        for t in &r.crates {
            rows.push((
                t.timestamp,
                t.name.clone(),
                ri,
                Child::Crate,
                t.cargo_size.unwrap_or(0),
            ));
        }
    }
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut total: u64 = rows.iter().map(|r| r.4).sum();
    let reason = size_reason("--max-download-size", max);
    for (_, name, ri, which, size) in rows {
        if total <= max {
            break;
        }
        let r = &mut m.registries[ri];
        let reg = r.index.name.clone();
        let (list, kind) = match which {
            Child::Src => (&mut r.srcs, ItemKind::RegistrySrc),
            Child::Crate => (&mut r.crates, ItemKind::RegistryCrate),
        };
        if let Some(pos) = list.iter().position(|t| t.name == name) {
            let t = list.remove(pos);
            let row = match which {
                Child::Src => Row::RegistrySrc {
                    registry: reg,
                    name: t.name.clone(),
                },
                Child::Crate => Row::RegistryCrate {
                    registry: reg,
                    name: t.name.clone(),
                },
            };
            plan.items.push(item(&t, kind, reason.clone(), row));
        }
        total -= size;
    }
}

/// What Cargo's GC removes from this model under this policy, in Cargo's order.
pub fn plan(model: &Model, policy: &Policy, now: u64) -> Plan {
    let mut m = model.clone();
    let mut plan = Plan {
        items: m.orphans.clone(),
    };

    if let Some(age) = policy.max_index_age {
        let cut = cutoff(now, age);
        let (old, keep): (Vec<_>, Vec<_>) = m
            .registries
            .drain(..)
            .partition(|r| r.index.timestamp < cut);
        m.registries = keep;
        for r in old {
            let reason = age_reason(
                "max-index-age",
                policy.origins.index,
                age,
                now,
                r.index.timestamp,
            );
            let gone = format!("its registry index was removed ({reason})");
            plan.items.push(item(
                &r.index,
                ItemKind::RegistryIndex,
                reason,
                Row::RegistryIndex {
                    name: r.index.name.clone(),
                },
            ));
            if r.has_src_dir {
                plan.items.push(PlanItem {
                    path: r.src_dir.clone(),
                    kind: ItemKind::RegistrySrcDir,
                    bytes: r.srcs.iter().map(|t| t.bytes).sum(),
                    disk_bytes: sum_disk(&r.srcs),
                    reason: gone.clone(),
                    row: Row::None,
                    after_previous: false,
                });
            }
            if r.has_cache_dir {
                plan.items.push(PlanItem {
                    path: r.cache_dir.clone(),
                    kind: ItemKind::RegistryCacheDir,
                    bytes: r.crates.iter().map(|t| t.bytes).sum(),
                    disk_bytes: sum_disk(&r.crates),
                    reason: gone,
                    row: Row::None,
                    after_previous: false,
                });
            }
        }
    }

    for (age, which, name, origin) in [
        (
            policy.max_src_age,
            Child::Src,
            "max-src-age",
            policy.origins.src,
        ),
        (
            policy.max_crate_age,
            Child::Crate,
            "max-crate-age",
            policy.origins.crate_,
        ),
    ] {
        let Some(age) = age else { continue };
        let cut = cutoff(now, age);
        for r in &mut m.registries {
            let reg = r.index.name.clone();
            let list = match which {
                Child::Src => &mut r.srcs,
                Child::Crate => &mut r.crates,
            };
            for t in take_older(list, cut) {
                let reason = age_reason(name, origin, age, now, t.timestamp);
                let (kind, row) = match which {
                    Child::Src => (
                        ItemKind::RegistrySrc,
                        Row::RegistrySrc {
                            registry: reg.clone(),
                            name: t.name.clone(),
                        },
                    ),
                    Child::Crate => (
                        ItemKind::RegistryCrate,
                        Row::RegistryCrate {
                            registry: reg.clone(),
                            name: t.name.clone(),
                        },
                    ),
                };
                plan.items.push(item(&t, kind, reason, row));
            }
        }
    }

    if let Some(age) = policy.max_git_db_age {
        let cut = cutoff(now, age);
        let (old, keep): (Vec<_>, Vec<_>) = m.git.drain(..).partition(|g| g.db.timestamp < cut);
        m.git = keep;
        for g in old {
            let reason = age_reason(
                "max-git-db-age",
                policy.origins.git_db,
                age,
                now,
                g.db.timestamp,
            );
            plan.items.push(item(
                &g.db,
                ItemKind::GitDb,
                reason.clone(),
                Row::GitDb {
                    name: g.db.name.clone(),
                },
            ));
            if g.has_checkouts_dir {
                plan.items.push(PlanItem {
                    path: g.checkouts_dir.clone(),
                    kind: ItemKind::GitCheckoutsDir,
                    bytes: g.checkouts.iter().map(|t| t.bytes).sum(),
                    disk_bytes: sum_disk(&g.checkouts),
                    reason: format!("its git database was removed ({reason})"),
                    row: Row::None,
                    after_previous: false,
                });
            }
        }
    }

    if let Some(age) = policy.max_git_co_age {
        let cut = cutoff(now, age);
        for g in &mut m.git {
            for t in take_older(&mut g.checkouts, cut) {
                let reason = age_reason(
                    "max-git-co-age",
                    policy.origins.git_co,
                    age,
                    now,
                    t.timestamp,
                );
                plan.items.push(item(
                    &t,
                    ItemKind::GitCheckout,
                    reason,
                    Row::GitCheckout {
                        db: g.db.name.clone(),
                        name: t.name.clone(),
                    },
                ));
            }
        }
    }

    if let Some(max) = policy.max_crate_size {
        registry_size_limit(&mut m, Child::Crate, max, "--max-crate-size", &mut plan);
    }
    if let Some(max) = policy.max_src_size {
        registry_size_limit(&mut m, Child::Src, max, "--max-src-size", &mut plan);
    }
    if let Some(max) = policy.max_git_size {
        git_size_limit(&mut m, max, &mut plan);
    }
    if let Some(max) = policy.max_download_size {
        download_size_limit(&mut m, max, &mut plan);
    }
    plan
}

/// `gc`'s plan: Cargo's sync of the inventory with the database (`sizes`: with the sizes a
/// size limit needs), its clean under `policy`, then the grace period: nothing used moments
/// ago goes, whatever the limits say (an entry without a row is used now, as Cargo's sync
/// records it). Returns the sync's changes (written after the removals), the plan, and what
/// the grace period kept.
pub fn gc(
    inv: &Inventory,
    snapshot: Option<&Snapshot>,
    policy: &Policy,
    now: u64,
    grace: &Grace,
) -> (SyncChanges, Plan, Vec<Kept>) {
    let sizes = policy.has_size_limit();
    let changes = super::sync::changes(inv, snapshot, sizes);
    let model = Model::synced(inv, &changes, now, sizes);
    let plan = plan(&model, policy, now);
    let (plan, kept) = split_home(plan, inv, grace, Untracked::Now(now));
    (changes, plan, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::MONTH_SECS;

    const NOW: u64 = 1_800_000_000;
    const DAY: u64 = 86_400;

    fn t(name: &str, path: &str, age_days: u64, size: Option<u64>) -> Tracked {
        Tracked {
            name: name.into(),
            path: PathBuf::from(path),
            timestamp: NOW - age_days * DAY,
            cargo_size: size,
            bytes: size.unwrap_or(7),
            disk_bytes: None,
        }
    }

    fn registry(idx_age: u64, crates: Vec<Tracked>, srcs: Vec<Tracked>) -> TrackedRegistry {
        TrackedRegistry {
            index: t("reg-1", "/h/registry/index/reg-1", idx_age, None),
            crates,
            srcs,
            cache_dir: "/h/registry/cache/reg-1".into(),
            src_dir: "/h/registry/src/reg-1".into(),
            has_cache_dir: true,
            has_src_dir: true,
        }
    }

    fn paths(p: &Plan) -> Vec<String> {
        p.items
            .iter()
            .map(|i| i.path.display().to_string())
            .collect()
    }

    #[test]
    fn auto_defaults_remove_old_src_then_old_crates() {
        let m = Model {
            registries: vec![registry(
                1,
                vec![
                    t("a-1.crate", "/c/a-1.crate", 100, Some(10)),
                    t("b-1.crate", "/c/b-1.crate", 40, Some(10)),
                ],
                vec![
                    t("a-1", "/s/a-1", 100, Some(50)),
                    t("b-1", "/s/b-1", 40, Some(50)),
                    t("c-1", "/s/c-1", 1, Some(50)),
                ],
            )],
            ..Model::default()
        };
        let p = plan(&m, &Policy::auto_defaults(), NOW);
        assert_eq!(paths(&p), ["/s/a-1", "/s/b-1", "/c/a-1.crate"]);
        assert_eq!(p.bytes(), 110);
        assert!(
            p.items[0].reason.contains("(default max-src-age 1 month)"),
            "{}",
            p.items[0].reason
        );
    }

    #[test]
    fn old_index_takes_everything_of_its_registry() {
        let m = Model {
            registries: vec![registry(
                200,
                vec![t("a-1.crate", "/c/a-1.crate", 1, Some(10))],
                vec![t("a-1", "/s/a-1", 1, Some(50))],
            )],
            ..Model::default()
        };
        let p = plan(&m, &Policy::auto_defaults(), NOW);
        assert_eq!(
            paths(&p),
            [
                "/h/registry/index/reg-1",
                "/h/registry/src/reg-1",
                "/h/registry/cache/reg-1"
            ]
        );
        assert_eq!(
            p.items[0].row,
            Row::RegistryIndex {
                name: "reg-1".into()
            }
        );
    }

    #[test]
    fn ages_are_strict_and_never_underflow() {
        let m = Model {
            registries: vec![registry(
                0,
                vec![],
                vec![Tracked {
                    timestamp: NOW - MONTH_SECS,
                    ..t("a-1", "/s/a-1", 0, Some(1))
                }],
            )],
            ..Model::default()
        };
        let one_month = Policy {
            max_src_age: Some(Span(MONTH_SECS)),
            ..Policy::default()
        };
        assert!(
            plan(&m, &one_month, NOW).items.is_empty(),
            "exactly at the limit is kept"
        );
        let forever = Policy {
            max_src_age: Some(Span(u64::MAX)),
            max_index_age: Some(Span(NOW + 1)),
            ..Policy::default()
        };
        assert!(plan(&m, &forever, NOW).items.is_empty());
        let zero = Policy {
            max_src_age: Some(Span(0)),
            ..Policy::default()
        };
        let fresh = Model {
            registries: vec![registry(0, vec![], vec![t("b-1", "/s/b-1", 0, Some(1))])],
            ..Model::default()
        };
        assert!(
            plan(&fresh, &zero, NOW).items.is_empty(),
            "a row used `now` is kept at age 0"
        );
        assert_eq!(plan(&m, &zero, NOW).items.len(), 1);
    }

    #[test]
    fn crate_size_removes_oldest_until_under() {
        // Cargo's verified example: sizes 16000 limit, the two oldest go.
        let m = Model {
            registries: vec![registry(
                0,
                vec![
                    t("a.crate", "/c/a", 3, Some(5000)),
                    t("b.crate", "/c/b", 2, Some(5078)),
                    t("c.crate", "/c/c", 1, Some(15935)),
                ],
                vec![],
            )],
            ..Model::default()
        };
        let p = plan(
            &m,
            &Policy {
                max_crate_size: Some(16000),
                ..Policy::default()
            },
            NOW,
        );
        assert_eq!(paths(&p), ["/c/a", "/c/b"]);
    }

    #[test]
    fn size_ties_break_by_name() {
        let m = Model {
            registries: vec![registry(
                0,
                vec![t("itoa-1.0.18.crate", "/c/itoa", 5, Some(100))],
                vec![t("itoa-1.0.18", "/s/itoa", 5, Some(100))],
            )],
            ..Model::default()
        };
        let p = plan(
            &m,
            &Policy {
                max_download_size: Some(150),
                ..Policy::default()
            },
            NOW,
        );
        assert_eq!(
            paths(&p),
            ["/s/itoa"],
            "`itoa-1.0.18` sorts before `itoa-1.0.18.crate`"
        );
    }

    #[test]
    fn git_size_removes_db_with_its_checkouts() {
        let m = Model {
            git: vec![
                TrackedGit {
                    db: t("old-1", "/g/db/old-1", 10, Some(1000)),
                    checkouts: vec![t("abc1234", "/g/co/old-1/abc1234", 1, Some(300))],
                    checkouts_dir: "/g/co/old-1".into(),
                    has_checkouts_dir: true,
                },
                TrackedGit {
                    db: t("new-1", "/g/db/new-1", 2, Some(500)),
                    checkouts: vec![],
                    checkouts_dir: "/g/co/new-1".into(),
                    has_checkouts_dir: false,
                },
            ],
            ..Model::default()
        };
        let p = plan(
            &m,
            &Policy {
                max_git_size: Some(600),
                ..Policy::default()
            },
            NOW,
        );
        assert_eq!(paths(&p), ["/g/db/old-1", "/g/co/old-1/abc1234"]);
    }

    #[test]
    fn orphans_come_first() {
        let orphan = PlanItem {
            path: "/h/registry/src/gone-1".into(),
            kind: ItemKind::RegistrySrcDir,
            bytes: 5,
            disk_bytes: None,
            reason: "gone".into(),
            row: Row::None,
            after_previous: false,
        };
        let m = Model {
            orphans: vec![orphan.clone()],
            ..Model::default()
        };
        assert_eq!(plan(&m, &Policy::default(), NOW).items, vec![orphan]);
    }
}
