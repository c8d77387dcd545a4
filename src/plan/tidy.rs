//! What `tidy` removes to bring CARGO_HOME and target dirs under one budget. Pure.
//!
//! # The order: cost to recreate per byte
//!
//! Everything removable is one *candidate* in one of seven tiers, cheapest to recreate first:
//!
//! 1. incremental sessions (`<profile>/incremental/<crate>-<hash>`): a build without them is a
//!    full build of that crate, and they are often the largest part of a target dir;
//! 2. target-dir units (every artifact of one fingerprint): rebuilt from sources, offline;
//! 3. extracted sources (`registry/src/…`): re-extracted from their `.crate`, offline;
//! 4. git checkouts: checked out again from their database, offline;
//! 5. `.crate` files: downloaded again (network);
//! 6. git databases: fetched again (network);
//! 7. registry indexes: fetched again, and a build cannot even resolve without them.
//!
//! Within a tier, least recently used first (a target unit by the atime of its fingerprint
//! files, a CARGO_HOME entry by its `.global-cache` row or, without one, its modification
//! time), then by path. Candidates are taken in that order while the budget is exceeded or a
//! filesystem holding a cache has less free space than asked; what is not needed stays.
//!
//! # What is never taken
//!
//! * Anything used within the grace period ([`super::grace`]), whatever the budget says.
//! * Unless `hard`: what the known lockfiles pin and cannot be recreated offline: a pinned
//!   `.crate`, a pinned git database, and a pinned source or checkout whose `.crate` or
//!   database is not there to recreate it from. (A pinned package's source and checkout, and
//!   its target units, *are* taken: a build recreates them offline.) So every pinned project
//!   still builds `--offline --locked` after a run.
//! * A registry index while any `.crate` or source of its registry stays, and a git database
//!   while any of its checkouts stays: removing them would take those along.
//! * Symlinked entries of CARGO_HOME (what you cannot identify, keep).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use super::grace::{self, Clock, Grace, Kept, Untracked, Use};
use super::sweep::{self, DirPlan, freed, incremental_removal, unit_key, unit_removal};
use super::{ItemKind, Plan, PlanItem, Row};
use crate::discover::lockfile::KeepSet;
use crate::observe::home::{Entry, Inventory};
use crate::observe::target_dir::TargetDir;
use crate::quantity::{self, HumanBytes, Span};

/// The eviction tiers, cheapest to recreate first (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Incremental,
    Unit,
    Source,
    Checkout,
    Crate,
    GitDb,
    Index,
}

/// How much free space to keep on each filesystem that holds a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MinFree {
    Bytes(u64),
    /// Per mille of the filesystem's size (`12.5%` is 125).
    PerMille(u64),
}

impl MinFree {
    /// Parses `SIZE` (Cargo's size grammar) or `N%` / `N.N%` of the filesystem.
    pub fn parse(s: &str) -> Result<MinFree, String> {
        if let Some(p) = s.strip_suffix('%') {
            let bad = || {
                format!(
                    "invalid --min-free `{s}`: expected a percentage of the filesystem (\"10%\", \
                     \"12.5%\", at most 100%) or {}",
                    quantity::SIZE_GRAMMAR
                )
            };
            let (int, frac) = p.trim().split_once('.').unwrap_or((p.trim(), "0"));
            if int.is_empty()
                || !int.bytes().all(|b| b.is_ascii_digit())
                || frac.len() != 1
                || !frac.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            let pm =
                int.parse::<u64>().map_err(|_| bad())? * 10 + u64::from(frac.as_bytes()[0] - b'0');
            if pm > 1000 {
                return Err(bad());
            }
            return Ok(MinFree::PerMille(pm));
        }
        quantity::parse_size(s)
            .map(MinFree::Bytes)
            .map_err(|e| format!("{e}, or a percentage of the filesystem (\"10%\")"))
    }

    /// The free bytes wanted on a filesystem of `size` bytes.
    pub fn bytes(self, size: u64) -> u64 {
        match self {
            MinFree::Bytes(b) => b,
            MinFree::PerMille(pm) => (u128::from(size) * u128::from(pm) / 1000) as u64,
        }
    }
}

impl std::fmt::Display for MinFree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MinFree::Bytes(b) => write!(f, "{}", HumanBytes(*b)),
            MinFree::PerMille(pm) => write!(f, "{}.{}%", pm / 10, pm % 10),
        }
    }
}

/// What the budget is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Bytes on disk that CARGO_HOME and the target dirs may take together.
    pub budget: Option<u64>,
    pub min_free: Option<MinFree>,
    /// The budget wins over the lockfiles' keep-set.
    pub hard: bool,
    pub grace: Grace,
    /// Also take what was unused this long, whether or not the limits need it.
    pub max_age: Option<Span>,
}

/// One filesystem holding a cache: its identity (the device number), size and free space
/// (available to unprivileged users), in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Space {
    pub device: u64,
    /// A path on it (the first cache root found on it), for reports.
    pub path: PathBuf,
    pub size_bytes: u64,
    pub free_bytes: u64,
}

/// The facts about CARGO_HOME.
pub struct HomeFacts<'a> {
    /// Measured on disk (`SizeMode::Exact`): every entry's `disk_bytes` is known.
    pub inv: &'a Inventory,
    /// Modification times of entries without a row (real clock).
    pub mtimes: &'a HashMap<PathBuf, u64>,
    /// Bytes on disk of the whole home.
    pub total_bytes: u64,
    pub device: u64,
}

/// The facts about one target dir.
pub struct TargetFacts<'a> {
    pub td: &'a TargetDir,
    pub device: u64,
}

pub struct Facts<'a> {
    pub home: Option<HomeFacts<'a>>,
    pub targets: Vec<TargetFacts<'a>>,
    pub keep: &'a KeepSet,
    pub spaces: Vec<Space>,
}

/// Where a candidate is: the home, or the target dir at this index of [`Facts::targets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Root {
    Home,
    Target(usize),
}

/// Something the budget may remove.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    tier: Tier,
    root: Root,
    device: u64,
    /// What identifies it: a unit's first path, an incremental session, a home entry.
    path: PathBuf,
    kind: ItemKind,
    row: Row,
    /// Bytes on disk it frees.
    bytes: u64,
    /// Its last use, for the LRU order (unix seconds; 0 when unknown), and the clock it is on.
    last_use: u64,
    clock: Clock,
    /// Its uses, for the grace period.
    uses: Vec<Use>,
    /// Kept by the lockfiles unless `hard`.
    pinned: bool,
    /// Taken only once all of these are taken (an index's `.crate` files and sources, a git
    /// database's checkouts).
    requires: Vec<PathBuf>,
}

/// One planned removal, in the global order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub tier: Tier,
    #[serde(skip)]
    pub root: Root,
    pub path: PathBuf,
    pub kind: ItemKind,
    pub bytes: u64,
    pub last_use: u64,
    pub reason: String,
    #[serde(skip)]
    pub row: Row,
}

/// The plan: removals in order, and why the rest stays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TidyPlan {
    pub items: Vec<Item>,
    /// Bytes on disk of CARGO_HOME and every target dir, before.
    pub total_bytes: u64,
    /// Bytes on disk the removals free.
    pub planned_bytes: u64,
    /// Bytes wanted gone for the budget (0 when it already holds or there is none).
    pub over_budget_bytes: u64,
    /// Per filesystem: bytes wanted gone for `--min-free`.
    pub short_bytes: BTreeMap<u64, u64>,
    /// Whether the budget and every filesystem's free space hold once the plan is carried out.
    pub met: bool,
    /// What the grace period kept, of what the budget would have taken.
    pub kept_recent: Vec<Kept>,
    /// How many candidates the lockfiles kept (0 with `hard`), and their bytes.
    pub kept_pinned: usize,
    pub kept_pinned_bytes: u64,
}

fn entry_bytes(e: &Entry) -> u64 {
    e.size.map_or(0, |s| s.disk_bytes.unwrap_or(s.bytes))
}

fn home_candidates(h: &HomeFacts<'_>, keep: &KeepSet, out: &mut Vec<Candidate>) {
    let uses = grace::home_uses(h.inv, Untracked::Mtime(h.mtimes));
    let last = |e: &Entry| match e.last_use {
        Some(t) => (t, Clock::Db),
        None => (h.mtimes.get(&e.path).copied().unwrap_or(0), Clock::Disk),
    };
    let mut push = |e: &Entry, tier, kind, row, pinned, requires: Vec<PathBuf>| {
        if e.is_link {
            return;
        }
        out.push(Candidate {
            tier,
            root: Root::Home,
            device: h.device,
            path: e.path.clone(),
            kind,
            row,
            bytes: entry_bytes(e),
            last_use: last(e).0,
            clock: last(e).1,
            uses: uses.get(&e.path).cloned().unwrap_or_default(),
            pinned,
            requires,
        });
    };
    for r in &h.inv.registries {
        // Only a registry whose index is there is known to Cargo's GC (and to us).
        let Some(index) = &r.index else { continue };
        let pinned = keep.registries.get(&r.name);
        let is_pinned = |pkg: &str| pinned.is_some_and(|s| s.contains(pkg));
        let crates: HashSet<&str> = r
            .crates
            .iter()
            .map(|e| e.name.trim_end_matches(".crate"))
            .collect();
        for e in &r.srcs {
            // A pinned source goes only if its `.crate` is there to re-extract it from.
            let pinned = is_pinned(&e.name) && !crates.contains(e.name.as_str());
            let row = Row::RegistrySrc {
                registry: r.name.clone(),
                name: e.name.clone(),
            };
            push(e, Tier::Source, ItemKind::RegistrySrc, row, pinned, vec![]);
        }
        for e in &r.crates {
            let pinned = is_pinned(e.name.trim_end_matches(".crate"));
            let row = Row::RegistryCrate {
                registry: r.name.clone(),
                name: e.name.clone(),
            };
            push(e, Tier::Crate, ItemKind::RegistryCrate, row, pinned, vec![]);
        }
        let requires = r
            .crates
            .iter()
            .chain(&r.srcs)
            .map(|e| e.path.clone())
            .collect();
        let row = Row::RegistryIndex {
            name: index.name.clone(),
        };
        push(
            index,
            Tier::Index,
            ItemKind::RegistryIndex,
            row,
            false,
            requires,
        );
    }
    for g in &h.inv.git {
        let Some(db) = &g.db else { continue };
        let db_pinned = keep.git.contains_key(&g.name);
        for co in &g.checkouts {
            // A pinned checkout goes: it is checked out again from its database, kept.
            let pinned = keep.keeps_checkout(&g.name, &co.name) && !db_pinned;
            let row = Row::GitCheckout {
                db: g.name.clone(),
                name: co.name.clone(),
            };
            push(
                co,
                Tier::Checkout,
                ItemKind::GitCheckout,
                row,
                pinned,
                vec![],
            );
        }
        let requires = g.checkouts.iter().map(|e| e.path.clone()).collect();
        let row = Row::GitDb {
            name: g.name.clone(),
        };
        push(db, Tier::GitDb, ItemKind::GitDb, row, db_pinned, requires);
    }
}

fn target_candidates(i: usize, t: &TargetFacts<'_>, out: &mut Vec<Candidate>) {
    for inc in &t.td.incremental {
        out.push(Candidate {
            tier: Tier::Incremental,
            root: Root::Target(i),
            device: t.device,
            path: inc.path.clone(),
            kind: ItemKind::Incremental,
            row: Row::None,
            bytes: freed(inc.files.iter()).0,
            last_use: inc.last_use.or(inc.touched).unwrap_or(0),
            clock: Clock::Disk,
            uses: inc.touched.map(Use::disk).into_iter().collect(),
            pinned: false,
            requires: vec![],
        });
    }
    for u in &t.td.units {
        out.push(Candidate {
            tier: Tier::Unit,
            root: Root::Target(i),
            device: t.device,
            path: unit_key(u).to_owned(),
            kind: ItemKind::Unit,
            row: Row::None,
            bytes: freed(u.files.iter()).0,
            // On a noatime mount the last build stands for the last use.
            last_use: u.last_use.or(u.modified).unwrap_or(0),
            clock: Clock::Disk,
            uses: u.touched.map(Use::disk).into_iter().collect(),
            pinned: false,
            requires: vec![],
        });
    }
}

/// Why a candidate is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Budget,
    MinFree,
    MaxAge,
}

fn reason(c: &Candidate, policy: &Policy, why: Why, now: u64) -> String {
    let why = match (why, policy.budget, policy.min_free, policy.max_age) {
        (Why::Budget, Some(b), _, _) => format!("over --budget {}", HumanBytes(b)),
        (Why::MinFree, _, Some(m), _) => format!("short of --min-free {m}"),
        (_, _, _, Some(a)) => format!("unused for over {} (max-age)", quantity::span_words(a)),
        _ => "over the budget".to_owned(),
    };
    let used = if c.last_use == 0 {
        "last use unknown".to_owned()
    } else {
        format!("last used {}", quantity::ago(now, c.last_use))
    };
    format!("{} ({used}), {why}", c.tier.label())
}

impl Tier {
    pub fn label(self) -> &'static str {
        match self {
            Tier::Incremental => "incremental session",
            Tier::Unit => "least recently used build unit",
            Tier::Source => "least recently used extracted source",
            Tier::Checkout => "least recently used git checkout",
            Tier::Crate => "least recently used .crate file",
            Tier::GitDb => "least recently used git database",
            Tier::Index => "least recently used registry index",
        }
    }
}

/// The budget's plan (see the module docs). `now` is the real clock, for reasons.
pub fn plan(facts: &Facts<'_>, policy: &Policy, now: u64) -> TidyPlan {
    let mut cands = Vec::new();
    if let Some(h) = &facts.home {
        home_candidates(h, facts.keep, &mut cands);
    }
    for (i, t) in facts.targets.iter().enumerate() {
        target_candidates(i, t, &mut cands);
    }
    cands.sort_by(|a, b| (a.tier, a.last_use, &a.path).cmp(&(b.tier, b.last_use, &b.path)));

    let total: u64 = facts.home.as_ref().map_or(0, |h| h.total_bytes)
        + facts
            .targets
            .iter()
            .map(|t| t.td.total_disk_bytes)
            .sum::<u64>();
    let over = policy.budget.map_or(0, |b| total.saturating_sub(b));
    let mut short: BTreeMap<u64, u64> = BTreeMap::new();
    if let Some(m) = policy.min_free {
        for s in &facts.spaces {
            short.insert(s.device, m.bytes(s.size_bytes).saturating_sub(s.free_bytes));
        }
    }
    let mut plan = TidyPlan {
        total_bytes: total,
        over_budget_bytes: over,
        short_bytes: short.clone(),
        ..TidyPlan::default()
    };
    let mut over_left = over;
    let mut taken: HashSet<PathBuf> = HashSet::new();
    for c in cands {
        let fs_short = short.get(&c.device).copied().unwrap_or(0);
        let clock_now = match c.clock {
            Clock::Db => policy.grace.db_now,
            Clock::Disk => policy.grace.disk_now,
        };
        let aged = c.last_use > 0
            && policy
                .max_age
                .is_some_and(|a| clock_now.saturating_sub(c.last_use) >= a.secs());
        if over_left == 0 && fs_short == 0 && !aged {
            if policy.max_age.is_none() && short.values().all(|s| *s == 0) {
                break;
            }
            continue;
        }
        if let Some(u) = policy.grace.keeps_any(&c.uses) {
            plan.kept_recent.push(Kept {
                path: c.path.clone(),
                kind: serde_json::to_value(c.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                last_use: u.at,
            });
            continue;
        }
        if c.pinned && !policy.hard {
            plan.kept_pinned += 1;
            plan.kept_pinned_bytes += c.bytes;
            continue;
        }
        if !c.requires.iter().all(|p| taken.contains(p)) {
            continue;
        }
        let why = if over_left > 0 {
            Why::Budget
        } else if fs_short > 0 {
            Why::MinFree
        } else {
            Why::MaxAge
        };
        over_left = over_left.saturating_sub(c.bytes);
        if let Some(s) = short.get_mut(&c.device) {
            *s = s.saturating_sub(c.bytes);
        }
        plan.planned_bytes += c.bytes;
        taken.insert(c.path.clone());
        plan.items.push(Item {
            reason: reason(&c, policy, why, now),
            tier: c.tier,
            root: c.root,
            path: c.path,
            kind: c.kind,
            bytes: c.bytes,
            last_use: c.last_use,
            row: c.row,
        });
    }
    plan.met = over_left == 0 && short.values().all(|s| *s == 0);
    plan
}

/// The removals a plan makes in target dir `root`, by identifying path, with their reasons.
pub fn selected(plan: &TidyPlan, root: Root) -> HashMap<PathBuf, String> {
    plan.items
        .iter()
        .filter(|i| i.root == root)
        .map(|i| (i.path.clone(), i.reason.clone()))
        .collect()
}

/// The plan of one target dir as scanned again under its locks: the selected units and
/// sessions that are still there, less what was touched within the grace period meanwhile.
pub fn dir_plan(td: &TargetDir, selected: &HashMap<PathBuf, String>, grace: &Grace) -> DirPlan {
    let mut plan = DirPlan {
        units: td.units.len(),
        ..DirPlan::default()
    };
    let mut files = Vec::new();
    for inc in &td.incremental {
        if let Some(why) = selected.get(&inc.path) {
            plan.removals.push(incremental_removal(inc, why.clone()));
            files.extend(inc.files.iter());
        }
    }
    for u in &td.units {
        if let Some(why) = selected.get(unit_key(u)) {
            plan.removals.push(unit_removal(u, why.clone()));
            plan.removed_units += 1;
            files.extend(u.files.iter());
        }
    }
    let (disk, apparent) = freed(files);
    plan.reclaimed_bytes = disk;
    plan.reclaimed_apparent_bytes = apparent;
    sweep::keep_recent(plan, td, grace)
}

/// The home's part of a plan as CARGO_HOME is scanned again under Cargo's lock: the selected
/// entries that are still there (as the same kind of entry), less what was used within the
/// grace period meanwhile. In the plan's order.
pub fn home_plan(
    plan: &TidyPlan,
    inv: &Inventory,
    mtimes: &HashMap<PathBuf, u64>,
    grace: &Grace,
) -> (Plan, Vec<Kept>) {
    let present: HashSet<&PathBuf> = inv
        .entries()
        .filter(|e| !e.is_link)
        .map(|e| &e.path)
        .collect();
    let chosen: HashSet<&PathBuf> = plan
        .items
        .iter()
        .filter(|i| i.root == Root::Home && present.contains(&i.path))
        .map(|i| &i.path)
        .collect();
    // An index or git database goes only with everything under it: what appeared since the
    // plan (a cargo downloaded it meanwhile) keeps it.
    let mut whole: HashSet<&PathBuf> = HashSet::new();
    for r in &inv.registries {
        if let Some(index) = &r.index
            && r.crates
                .iter()
                .chain(&r.srcs)
                .all(|e| chosen.contains(&e.path))
        {
            whole.insert(&index.path);
        }
    }
    for g in &inv.git {
        if let Some(db) = &g.db
            && g.checkouts.iter().all(|e| chosen.contains(&e.path))
        {
            whole.insert(&db.path);
        }
    }
    let items = plan
        .items
        .iter()
        .filter(|i| i.root == Root::Home && chosen.contains(&i.path))
        .filter(|i| {
            !matches!(i.kind, ItemKind::RegistryIndex | ItemKind::GitDb) || whole.contains(&i.path)
        })
        .map(|i| PlanItem {
            path: i.path.clone(),
            kind: i.kind,
            // As measured for the plan (a scan under the lock is not measured again).
            bytes: i.bytes,
            disk_bytes: Some(i.bytes),
            reason: i.reason.clone(),
            row: i.row.clone(),
            after_previous: false,
        })
        .collect();
    grace::split_home(Plan { items }, inv, grace, Untracked::Mtime(mtimes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::home::{GitRepo, Measured, Registry, SizeSource};
    use crate::observe::target_dir::{FileFact, Incremental, Layout, Unit};
    use crate::quantity::Span;

    const NOW: u64 = 1_800_000_000;
    const DAY: u64 = 86_400;

    fn grace(secs: u64) -> Grace {
        Grace {
            period: Span(secs),
            db_now: NOW,
            disk_now: NOW,
        }
    }

    fn policy(budget: u64) -> Policy {
        Policy {
            budget: Some(budget),
            min_free: None,
            hard: false,
            grace: grace(600),
            max_age: None,
        }
    }

    fn entry(path: &str, last_use: u64, bytes: u64) -> Entry {
        Entry {
            name: path.rsplit('/').next().unwrap().into(),
            path: path.into(),
            last_use: Some(last_use),
            db_size: None,
            size: Some(Measured {
                bytes,
                disk_bytes: Some(bytes),
                source: SizeSource::Disk,
            }),
            is_link: false,
        }
    }

    fn file(path: &str, ino: u64, bytes: u64) -> FileFact {
        FileFact {
            path: std::path::Path::new(path).into(),
            key: (1, ino),
            nlink: 1,
            bytes,
            disk_bytes: bytes,
            is_dir: false,
        }
    }

    fn unit(hash: &str, last_use: u64, ino: u64, bytes: u64) -> Unit {
        Unit {
            pkg: "p".into(),
            hash: hash.into(),
            layout: Layout::Legacy,
            profile: "/t/debug".into(),
            fingerprint: format!("/t/debug/.fingerprint/p-{hash}").into(),
            paths: vec![format!("/t/debug/deps/libp-{hash}.rlib").into()],
            files: vec![file(&format!("/t/debug/deps/libp-{hash}.rlib"), ino, bytes)],
            last_use: Some(last_use),
            touched: Some(last_use),
            modified: Some(last_use),
        }
    }

    /// A home with one registry (alpha 1 and 2 as .crate and source) and one git repo, and a
    /// target dir with two units and an incremental session.
    fn world() -> (Inventory, TargetDir) {
        let inv = Inventory {
            root: "/h".into(),
            registries: vec![Registry {
                name: "reg".into(),
                index: Some(entry("/h/registry/index/reg", NOW - 2 * DAY, 1000)),
                crates: vec![
                    entry(
                        "/h/registry/cache/reg/alpha-1.0.0.crate",
                        NOW - 9 * DAY,
                        100,
                    ),
                    entry(
                        "/h/registry/cache/reg/alpha-2.0.0.crate",
                        NOW - 3 * DAY,
                        100,
                    ),
                ],
                srcs: vec![
                    entry("/h/registry/src/reg/alpha-1.0.0", NOW - 9 * DAY, 300),
                    entry("/h/registry/src/reg/alpha-2.0.0", NOW - 3 * DAY, 300),
                ],
                has_cache_dir: true,
                has_src_dir: true,
                row: Some((1, NOW - 2 * DAY)),
            }],
            git: vec![GitRepo {
                name: "g-1234".into(),
                db: Some(entry("/h/git/db/g-1234", NOW - 8 * DAY, 500)),
                checkouts: vec![entry("/h/git/checkouts/g-1234/abcdef0", NOW - 8 * DAY, 200)],
                has_checkouts_dir: true,
                row: Some((1, NOW - 8 * DAY)),
            }],
            ..Inventory::default()
        };
        let td = TargetDir {
            path: "/t".into(),
            units: vec![
                unit("aaaaaaaaaaaaaaaa", NOW - DAY, 1, 400),
                unit("bbbbbbbbbbbbbbbb", NOW - 5 * DAY, 2, 400),
            ],
            incremental: vec![Incremental {
                path: "/t/debug/incremental/p-xyz".into(),
                profile: "/t/debug".into(),
                last_use: Some(NOW - DAY),
                touched: Some(NOW - DAY),
                files: vec![file("/t/debug/incremental/p-xyz/s", 3, 700)],
            }],
            total_disk_bytes: 1500,
            ..TargetDir::default()
        };
        (inv, td)
    }

    fn keep_alpha2() -> KeepSet {
        let mut k = KeepSet::default();
        k.registries
            .entry("reg".into())
            .or_default()
            .insert("alpha-2.0.0".into());
        k
    }

    fn run(inv: &Inventory, td: &TargetDir, keep: &KeepSet, p: &Policy) -> TidyPlan {
        let mtimes = HashMap::new();
        let facts = Facts {
            home: Some(HomeFacts {
                inv,
                mtimes: &mtimes,
                total_bytes: 2600,
                device: 1,
            }),
            targets: vec![TargetFacts { td, device: 2 }],
            keep,
            spaces: vec![
                Space {
                    device: 1,
                    path: "/h".into(),
                    size_bytes: 10_000,
                    free_bytes: 5_000,
                },
                Space {
                    device: 2,
                    path: "/t".into(),
                    size_bytes: 10_000,
                    free_bytes: 9_000,
                },
            ],
        };
        plan(&facts, p, NOW)
    }

    fn paths(p: &TidyPlan) -> Vec<String> {
        p.items
            .iter()
            .map(|i| i.path.display().to_string())
            .collect()
    }

    #[test]
    fn nothing_goes_when_the_budget_holds() {
        let (inv, td) = world();
        let p = run(&inv, &td, &KeepSet::default(), &policy(4100));
        assert!(p.items.is_empty());
        assert!(p.met);
        assert_eq!(p.total_bytes, 4100);
    }

    #[test]
    fn evicts_by_tier_then_least_recent_use_until_the_budget_holds() {
        let (inv, td) = world();
        // 4100 in all; 1500 over a budget of 2600: the session (700), then the least recently
        // used unit (400), then the other (400).
        let p = run(&inv, &td, &KeepSet::default(), &policy(2600));
        assert_eq!(
            paths(&p),
            [
                "/t/debug/incremental/p-xyz",
                "/t/debug/.fingerprint/p-bbbbbbbbbbbbbbbb",
                "/t/debug/.fingerprint/p-aaaaaaaaaaaaaaaa",
            ]
        );
        assert!(p.met);
        assert_eq!(p.planned_bytes, 1500);
        assert!(
            p.items[1].reason.contains("over --budget"),
            "{}",
            p.items[1].reason
        );

        // Down to 1100: sources (oldest first), the checkout, .crate files, the git database.
        let p = run(&inv, &td, &KeepSet::default(), &policy(1100));
        let tiers: Vec<Tier> = p.items.iter().map(|i| i.tier).collect();
        let mut sorted = tiers.clone();
        sorted.sort();
        assert_eq!(tiers, sorted, "tier order");
        assert_eq!(
            &paths(&p)[3..],
            [
                "/h/registry/src/reg/alpha-1.0.0",
                "/h/registry/src/reg/alpha-2.0.0",
                "/h/git/checkouts/g-1234/abcdef0",
                "/h/registry/cache/reg/alpha-1.0.0.crate",
                "/h/registry/cache/reg/alpha-2.0.0.crate",
                "/h/git/db/g-1234",
            ]
        );
        assert!(p.met, "3000 of 3000 over");

        // Nothing left but the index and 100 bytes of other files: the index goes last, after
        // its registry's entries.
        let p = run(&inv, &td, &KeepSet::default(), &policy(100));
        assert_eq!(paths(&p).last().unwrap(), "/h/registry/index/reg");
        assert!(p.met);
    }

    #[test]
    fn the_keep_set_keeps_what_cannot_be_recreated_offline_unless_hard() {
        let (inv, td) = world();
        let p = run(&inv, &td, &keep_alpha2(), &policy(0));
        let got = paths(&p);
        // The pinned source goes (its .crate stays to re-extract it); its .crate stays, and so
        // does the index (a registry entry stays).
        assert!(got.contains(&"/h/registry/src/reg/alpha-2.0.0".to_string()));
        assert!(!got.contains(&"/h/registry/cache/reg/alpha-2.0.0.crate".to_string()));
        assert!(!got.contains(&"/h/registry/index/reg".to_string()));
        assert!(got.contains(&"/h/registry/cache/reg/alpha-1.0.0.crate".to_string()));
        assert_eq!(p.kept_pinned, 1);
        assert_eq!(p.kept_pinned_bytes, 100);
        assert!(!p.met);

        // Without its .crate, a pinned source is the only copy: kept.
        let mut inv2 = inv.clone();
        inv2.registries[0]
            .crates
            .retain(|e| !e.name.starts_with("alpha-2"));
        let p = run(&inv2, &td, &keep_alpha2(), &policy(0));
        assert!(!paths(&p).contains(&"/h/registry/src/reg/alpha-2.0.0".to_string()));

        // --hard: the budget wins.
        let hard = Policy {
            hard: true,
            ..policy(100)
        };
        let p = run(&inv, &td, &keep_alpha2(), &hard);
        assert_eq!(p.items.len(), 10);
        assert_eq!(p.kept_pinned, 0);
        assert!(p.met);
    }

    #[test]
    fn pinned_git_database_stays_with_its_checkout_recreatable() {
        let (inv, td) = world();
        let mut keep = KeepSet::default();
        keep.git
            .entry("g-1234".into())
            .or_default()
            .insert("abcdef0123456789abcdef0123456789abcdef01".into());
        let p = run(&inv, &td, &keep, &policy(0));
        let got = paths(&p);
        assert!(got.contains(&"/h/git/checkouts/g-1234/abcdef0".to_string()));
        assert!(!got.contains(&"/h/git/db/g-1234".to_string()));
    }

    #[test]
    fn the_grace_period_keeps_what_was_used_moments_ago() {
        let (mut inv, mut td) = world();
        td.units[1].touched = Some(NOW - 60);
        inv.registries[0].srcs[0].last_use = Some(NOW - 30);
        let p = run(&inv, &td, &KeepSet::default(), &policy(0));
        let got = paths(&p);
        assert!(!got.contains(&"/t/debug/.fingerprint/p-bbbbbbbbbbbbbbbb".to_string()));
        assert!(!got.contains(&"/h/registry/src/reg/alpha-1.0.0".to_string()));
        assert!(!got.contains(&"/h/registry/index/reg".to_string()));
        let kept: Vec<String> = p
            .kept_recent
            .iter()
            .map(|k| k.path.display().to_string())
            .collect();
        // The index counts the uses of what is under it.
        assert_eq!(
            kept,
            [
                "/t/debug/.fingerprint/p-bbbbbbbbbbbbbbbb",
                "/h/registry/src/reg/alpha-1.0.0",
                "/h/registry/index/reg"
            ]
        );
        assert!(!p.met);
        // Off: everything goes.
        let off = Policy {
            grace: grace(0),
            ..policy(0)
        };
        assert_eq!(run(&inv, &td, &KeepSet::default(), &off).items.len(), 10);
    }

    #[test]
    fn min_free_takes_only_from_the_filesystem_that_is_short() {
        let (inv, td) = world();
        // The home's filesystem has 5000 free of 10000; 52% wants 5200: 200 more, from the
        // home only (the target dir is on another filesystem with room to spare).
        let p = Policy {
            budget: None,
            min_free: Some(MinFree::parse("52%").unwrap()),
            hard: false,
            grace: grace(600),
            max_age: None,
        };
        let got = run(&inv, &td, &KeepSet::default(), &p);
        assert_eq!(paths(&got), ["/h/registry/src/reg/alpha-1.0.0"]);
        assert!(got.items[0].reason.contains("--min-free 52.0%"));
        assert_eq!(got.short_bytes[&1], 200);
        assert!(got.met);
    }

    #[test]
    fn max_age_takes_what_was_unused_that_long_even_within_the_budget() {
        let (inv, td) = world();
        let p = Policy {
            max_age: Some(Span(7 * DAY)),
            ..policy(1_000_000)
        };
        let got = run(&inv, &td, &KeepSet::default(), &p);
        // Unused for 8 and 9 days: the old source, the checkout, the old .crate and the git
        // database (after its checkout).
        assert_eq!(
            paths(&got),
            [
                "/h/registry/src/reg/alpha-1.0.0",
                "/h/git/checkouts/g-1234/abcdef0",
                "/h/registry/cache/reg/alpha-1.0.0.crate",
                "/h/git/db/g-1234",
            ]
        );
        let r = &got.items[0].reason;
        assert!(r.contains("unused for over 1 week (max-age)"), "{r}");
        assert!(got.met);
    }

    #[test]
    fn min_free_parses_sizes_and_percentages() {
        assert_eq!(MinFree::parse("10%"), Ok(MinFree::PerMille(100)));
        assert_eq!(MinFree::parse("12.5%"), Ok(MinFree::PerMille(125)));
        assert_eq!(MinFree::parse("1gb"), Ok(MinFree::Bytes(1_000_000_000)));
        for bad in ["101%", "%", "1.25%", "-1%", "ten", "5 GB free"] {
            let e = MinFree::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
            assert!(e.contains('%'), "{e}");
        }
        assert_eq!(MinFree::PerMille(125).bytes(1000), 125);
    }

    #[test]
    fn re_planning_under_the_locks_keeps_only_what_is_still_there_and_old() {
        let (inv, td) = world();
        let p = run(&inv, &td, &KeepSet::default(), &policy(0));
        // A build touched unit a meanwhile: kept.
        let mut td2 = td.clone();
        td2.units[0].touched = Some(NOW - 5);
        let d = dir_plan(&td2, &selected(&p, Root::Target(0)), &grace(600));
        assert_eq!(d.removals.len(), 2);
        assert_eq!(d.removed_units, 1);
        assert_eq!(d.reclaimed_bytes, 1100);
        assert_eq!(d.kept.len(), 1);
        // A source was removed meanwhile: not listed.
        let mut inv2 = inv.clone();
        inv2.registries[0].srcs.remove(0);
        let (hp, kept) = home_plan(&p, &inv2, &HashMap::new(), &grace(600));
        assert!(kept.is_empty());
        assert_eq!(hp.items.len(), 6);
        assert_eq!(
            hp.items[0].path,
            PathBuf::from("/h/registry/src/reg/alpha-2.0.0")
        );
        assert_eq!(hp.items[0].disk_bytes, Some(300));
    }
}
