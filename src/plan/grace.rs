//! The grace period: nothing used or created moments ago is removed, whatever the limits say.
//!
//! # Why
//!
//! Cargo's lock protocol has gaps (cargo-internals.md §3.4). A build extracts sources under
//! `.package-cache` (Cargo's `DownloadExclusive`), *releases it*, and only then takes
//! `.package-cache-mutate` shared to compile: a clean that takes both locks in between holds
//! them legitimately, and removes sources the build is about to compile ("could not execute
//! process `rustc` … No such file or directory"). `cargo run` and `cargo test` release the build
//! directory's locks before they execute what they built. Locks alone cannot protect these
//! windows, so `gc`, `trim` and `sweep` never remove what was used within the grace period.
//!
//! # Why 10 minutes by default
//!
//! Cargo moves a `.global-cache` timestamp only when it is more than 300 s old
//! (`UPDATE_RESOLUTION`, cargo-internals.md §1.6): a row can be up to 5 minutes stale at the very
//! moment Cargo uses its entry. On top of that come the download→compile gap (seconds) and the
//! build→exec gap of `cargo run` (seconds, or a long-running test binary). Ten minutes covers
//! the staleness twice over; `--grace` changes it, `--grace "0 seconds"` turns it off.
//!
//! # What is compared with which clock
//!
//! * CARGO_HOME entries (extracted sources, `.crate` files, git checkouts and databases,
//!   indexes): the **row's timestamp** against the database's clock ([`crate::observe::now`],
//!   which honours `__CARGO_TEST_LAST_USE_NOW` as Cargo does). A directory removed with entries
//!   inside (an index with its registry's `src/` and `cache/`, a git database with its
//!   checkouts) counts the newest of its own row and theirs. An entry without a row: for `gc`,
//!   "now", because Cargo's sync records it as used now; for `trim`, which does not sync, its
//!   own modification time on the real clock (a source extracted moments ago is fresh; a `.crate`
//!   restored from a CI cache keeps its old time).
//! * Target-dir units and incremental sessions: the newest **modification time** of their files
//!   and directories, and **access time** of their files, against the **real** clock (file times
//!   are real, never the test variable). Access times of directories (listing one moves it) and
//!   of the files our own commands read (`.json`, `.d`, `CACHEDIR.TAG`) are not counted: they
//!   would show our own reads as uses.
//!
//! Everything here is pure: callers observe the times and pass them in.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{Plan, PlanItem};
use crate::observe::home::{Entry, Inventory};
use crate::quantity::Span;

/// The default grace period: 10 minutes.
pub const DEFAULT: Span = Span(10 * 60);

/// Which clock a time was taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// A `.global-cache` timestamp, compared with the database's "now".
    Db,
    /// A file time, compared with the real clock.
    Disk,
}

/// One known use of something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    /// Unix seconds.
    pub at: u64,
    pub clock: Clock,
}

impl Use {
    pub fn db(at: u64) -> Use {
        Use {
            at,
            clock: Clock::Db,
        }
    }

    pub fn disk(at: u64) -> Use {
        Use {
            at,
            clock: Clock::Disk,
        }
    }
}

/// The grace period and the two clocks it is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grace {
    pub period: Span,
    /// The database's now ([`crate::observe::now`]).
    pub db_now: u64,
    /// The real clock ([`crate::observe::disk_now`]).
    pub disk_now: u64,
}

impl Grace {
    /// Whether a use at `u` is within the period: less than the period before now on its
    /// clock, or later than now (a clock skew, or a time from the future: not old). A period
    /// of zero keeps nothing.
    pub fn keeps(&self, u: Use) -> bool {
        let now = match u.clock {
            Clock::Db => self.db_now,
            Clock::Disk => self.disk_now,
        };
        self.period.secs() > 0 && now.saturating_sub(u.at) < self.period.secs()
    }

    /// The newest of `uses` that the period keeps, if any.
    pub fn keeps_any<'a>(&self, uses: impl IntoIterator<Item = &'a Use>) -> Option<Use> {
        uses.into_iter()
            .copied()
            .filter(|u| self.keeps(*u))
            .max_by_key(|u| u.at)
    }
}

/// Something a plan would have removed, kept because it was used within the grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub path: PathBuf,
    /// The kind the removal would have had (`registry-src`, `unit`, `target-dir`, …).
    pub kind: String,
    /// When it was last used (unix seconds; a row's time for CARGO_HOME entries, a file time
    /// for target dirs and for CARGO_HOME entries without a row).
    pub last_use: u64,
}

/// What the grace period kept, for `--json` and the human line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The period, in seconds (0: off).
    pub seconds: u64,
    /// How many removals it prevented.
    pub kept: usize,
    pub items: Vec<Kept>,
}

impl Report {
    pub fn new(period: Span, items: Vec<Kept>) -> Report {
        Report {
            seconds: period.secs(),
            kept: items.len(),
            items,
        }
    }
}

/// How `gc` and `trim` date an entry that has no row.
#[derive(Clone, Copy, Debug)]
pub enum Untracked<'a> {
    /// As used at this database time: Cargo's sync inserts it with "now" (`gc`).
    Now(u64),
    /// By its own modification time, from this map (`trim`, which does not sync).
    Mtime(&'a HashMap<PathBuf, u64>),
}

/// The known uses of everything `gc` or `trim` can remove in a home, by path: each entry's row
/// (or, without one, what `untracked` says), and for a directory removed with entries inside
/// (an index and its registry's `src/` and `cache/` directories; a git database and its
/// `checkouts/` directory) also those entries' uses.
pub fn home_uses(inv: &Inventory, untracked: Untracked<'_>) -> HashMap<PathBuf, Vec<Use>> {
    let used = |e: &Entry| -> Option<Use> {
        match (e.last_use, untracked) {
            (Some(t), _) => Some(Use::db(t)),
            (None, Untracked::Now(now)) => Some(Use::db(now)),
            (None, Untracked::Mtime(times)) => times.get(&e.path).map(|t| Use::disk(*t)),
        }
    };
    let mut map: HashMap<PathBuf, Vec<Use>> = HashMap::new();
    let reg_root = inv.root.join("registry");
    for r in &inv.registries {
        let crates: Vec<Use> = r.crates.iter().filter_map(used).collect();
        let srcs: Vec<Use> = r.srcs.iter().filter_map(used).collect();
        for e in r.crates.iter().chain(&r.srcs) {
            map.insert(e.path.clone(), used(e).into_iter().collect());
        }
        map.insert(reg_root.join("cache").join(&r.name), crates.clone());
        map.insert(reg_root.join("src").join(&r.name), srcs.clone());
        let mut all = crates;
        all.extend(srcs);
        if let Some(index) = &r.index {
            all.extend(used(index));
            map.insert(index.path.clone(), all);
        }
    }
    let co_root = inv.root.join("git").join("checkouts");
    for g in &inv.git {
        let cos: Vec<Use> = g.checkouts.iter().filter_map(used).collect();
        for e in &g.checkouts {
            map.insert(e.path.clone(), used(e).into_iter().collect());
        }
        map.insert(co_root.join(&g.name), cos.clone());
        if let Some(db) = &g.db {
            let mut all = cos;
            all.extend(used(db));
            map.insert(db.path.clone(), all);
        }
    }
    map
}

fn kind_name(item: &PlanItem) -> String {
    item.kind.name().to_owned()
}

/// Splits a plan into what may go and what the grace period keeps. `uses` gives each item's
/// known uses (an item with none known is not kept: nothing says it is in use).
pub fn split(plan: Plan, grace: &Grace, uses: &dyn Fn(&PlanItem) -> Vec<Use>) -> (Plan, Vec<Kept>) {
    let mut keep = Plan::default();
    let mut kept = Vec::new();
    for item in plan.items {
        match grace.keeps_any(&uses(&item)) {
            Some(u) => kept.push(Kept {
                path: item.path.clone(),
                kind: kind_name(&item),
                last_use: u.at,
            }),
            None => keep.items.push(item),
        }
    }
    (keep, kept)
}

/// [`split`] for a home's plan (`gc`, `trim`): each item's uses from [`home_uses`]; an item
/// that is no entry (an index cache file of `trim --ci`) is dated by its modification time
/// when `untracked` has one.
pub fn split_home(
    plan: Plan,
    inv: &Inventory,
    grace: &Grace,
    untracked: Untracked<'_>,
) -> (Plan, Vec<Kept>) {
    let uses = home_uses(inv, untracked);
    split(plan, grace, &|i| match (uses.get(&i.path), untracked) {
        (Some(u), _) => u.clone(),
        (None, Untracked::Mtime(times)) => times
            .get(&i.path)
            .map(|t| Use::disk(*t))
            .into_iter()
            .collect(),
        (None, Untracked::Now(_)) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ItemKind, Row};

    const NOW: u64 = 1_800_000_000;

    fn grace(secs: u64) -> Grace {
        Grace {
            period: Span(secs),
            db_now: NOW,
            // The real clock differs from the database's (time travel in tests).
            disk_now: NOW + 1_000_000,
        }
    }

    #[test]
    fn keeps_what_was_used_within_the_period_on_its_own_clock() {
        let g = grace(600);
        assert!(g.keeps(Use::db(NOW)));
        assert!(g.keeps(Use::db(NOW - 599)));
        assert!(
            !g.keeps(Use::db(NOW - 600)),
            "exactly the period ago is old"
        );
        assert!(
            g.keeps(Use::db(NOW + 50)),
            "a time from the future is not old"
        );
        assert!(!g.keeps(Use::disk(NOW)), "file times are on the real clock");
        assert!(g.keeps(Use::disk(NOW + 1_000_000 - 10)));
        let off = grace(0);
        assert!(!off.keeps(Use::db(NOW)), "--grace 0 keeps nothing");
        assert!(!off.keeps(Use::db(NOW + 50)));
        assert_eq!(
            g.keeps_any(&[Use::db(NOW - 5000), Use::db(NOW - 10), Use::db(NOW - 20)]),
            Some(Use::db(NOW - 10))
        );
        assert_eq!(g.keeps_any(&[]), None);
    }

    fn item(path: &str) -> PlanItem {
        PlanItem {
            path: path.into(),
            kind: ItemKind::RegistrySrc,
            bytes: 1,
            disk_bytes: None,
            reason: "r".into(),
            row: Row::None,
            after_previous: false,
        }
    }

    #[test]
    fn split_keeps_recent_items_and_reports_them() {
        let plan = Plan {
            items: vec![item("/old"), item("/new"), item("/unknown")],
        };
        let uses = |i: &PlanItem| match i.path.to_str().unwrap() {
            "/old" => vec![Use::db(NOW - 86_400)],
            "/new" => vec![Use::db(NOW - 86_400), Use::db(NOW - 30)],
            _ => vec![],
        };
        let (go, kept) = split(plan, &grace(600), &uses);
        let gone: Vec<_> = go.items.iter().map(|i| i.path.clone()).collect();
        assert_eq!(gone, [PathBuf::from("/old"), PathBuf::from("/unknown")]);
        assert_eq!(
            kept,
            [Kept {
                path: "/new".into(),
                kind: "registry-src".into(),
                last_use: NOW - 30
            }]
        );
    }

    #[test]
    fn a_directory_counts_the_entries_inside_it() {
        use crate::observe::home::{GitRepo, Registry};
        let e = |path: &str, last_use: Option<u64>| Entry {
            name: path.rsplit('/').next().unwrap().into(),
            path: path.into(),
            last_use,
            db_size: None,
            size: None,
            is_link: false,
        };
        let inv = Inventory {
            root: "/h".into(),
            registries: vec![Registry {
                name: "reg".into(),
                index: Some(e("/h/registry/index/reg", Some(NOW - 900))),
                crates: vec![e("/h/registry/cache/reg/a-1.crate", Some(NOW - 5000))],
                srcs: vec![
                    e("/h/registry/src/reg/a-1", Some(NOW - 500)),
                    e("/h/registry/src/reg/b-1", None),
                ],
                has_cache_dir: true,
                has_src_dir: true,
                row: Some((1, NOW - 900)),
            }],
            git: vec![GitRepo {
                name: "g".into(),
                db: Some(e("/h/git/db/g", Some(NOW - 5000))),
                checkouts: vec![e("/h/git/checkouts/g/abc", Some(NOW - 100))],
                has_checkouts_dir: true,
                row: Some((1, NOW - 5000)),
            }],
            ..Inventory::default()
        };
        let g = grace(600);
        let newest = |m: &HashMap<PathBuf, Vec<Use>>, p: &str| g.keeps_any(&m[&PathBuf::from(p)]);
        // gc: an entry without a row is used now (Cargo's sync).
        let m = home_uses(&inv, Untracked::Now(NOW));
        assert_eq!(newest(&m, "/h/registry/src/reg/b-1"), Some(Use::db(NOW)));
        assert_eq!(
            newest(&m, "/h/registry/src/reg/a-1"),
            Some(Use::db(NOW - 500))
        );
        assert_eq!(newest(&m, "/h/registry/cache/reg/a-1.crate"), None);
        assert_eq!(newest(&m, "/h/registry/cache/reg"), None);
        // The index is 900 s old, but a source under it was used 500 s ago (Cargo moves the
        // index's row only every 300 s): the index, with its src/, is kept.
        assert_eq!(newest(&m, "/h/registry/index/reg"), Some(Use::db(NOW)));
        assert!(newest(&m, "/h/registry/src/reg").is_some());
        assert_eq!(newest(&m, "/h/git/db/g"), Some(Use::db(NOW - 100)));
        assert_eq!(newest(&m, "/h/git/checkouts/g"), Some(Use::db(NOW - 100)));
        // trim: an entry without a row is dated by its modification time, on the real clock.
        let times: HashMap<PathBuf, u64> =
            [(PathBuf::from("/h/registry/src/reg/b-1"), NOW - 86_400)].into();
        let m = home_uses(&inv, Untracked::Mtime(&times));
        assert_eq!(newest(&m, "/h/registry/src/reg/b-1"), None);
        let times: HashMap<PathBuf, u64> = [(
            PathBuf::from("/h/registry/src/reg/b-1"),
            NOW + 1_000_000 - 3,
        )]
        .into();
        let m = home_uses(&inv, Untracked::Mtime(&times));
        assert_eq!(
            newest(&m, "/h/registry/src/reg/b-1"),
            Some(Use::disk(NOW + 1_000_000 - 3))
        );
    }
}
