//! The `status` summary: one row per component of a Cargo home, per-registry rows with their
//! URLs, what Cargo's automatic clean would remove today, and dead registry directories.

use std::path::PathBuf;

use serde::Serialize;

use super::clean::{self, Model};
use super::policy::Policy;
use crate::discover::registry::{RegistryNames, Scheme};
use crate::observe::db::DbRead;
use crate::observe::home::{Entry, Inventory, SizeSource};
use crate::observe::walk::Usage;

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub cargo_home: PathBuf,
    /// The time the report was made (unix seconds).
    pub now: u64,
    /// Whether every size was measured on disk (`--exact`).
    pub exact: bool,
    pub database: DatabaseInfo,
    pub components: Vec<Component>,
    pub registries: Vec<RegistryRow>,
    /// Apparent bytes of everything in the home (hard links once).
    pub total_bytes: u64,
    /// Bytes on disk; null unless every part was measured on disk.
    pub total_disk_bytes: Option<u64>,
    /// What Cargo's automatic clean would remove today at its default ages.
    pub auto_clean_reclaimable_bytes: u64,
    pub stale_registries: Vec<StaleRegistry>,
    /// One row per git repository (its database and its checkouts), largest first.
    pub git_repos: Vec<GitRepoRow>,
    /// With `--top N`: the N largest extracted sources, `.crate` archives and git
    /// repositories, largest first (empty without).
    pub top: Vec<TopItem>,
    /// What to run next, with what it frees.
    pub next_steps: Vec<NextStep>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GitRepoRow {
    /// `git/db/<name>` and `git/checkouts/<name>`.
    pub name: String,
    /// Its database.
    pub path: PathBuf,
    pub checkout_count: u64,
    /// The database and every checkout (a file hard-linked between them once).
    pub bytes: u64,
    pub disk_bytes: Option<u64>,
    /// The newest use of the database or a checkout.
    pub last_use: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopItem {
    /// `registry-src`, `registry-crate`, or `git-db` for a whole repository (its database
    /// and checkouts).
    pub kind: &'static str,
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub disk_bytes: Option<u64>,
    pub last_use: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NextStep {
    /// The command line, as typed.
    pub command: String,
    /// What it would free.
    pub bytes: u64,
    pub why: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseInfo {
    /// `ok`, `missing`, `newer-schema` or `unusable`.
    pub state: &'static str,
    pub user_version: Option<i64>,
    pub last_auto_gc: Option<u64>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Component {
    /// `registry-index`, `registry-crate`, `registry-src`, `git-db`, `git-checkout`, `bin`,
    /// `other`.
    pub kind: &'static str,
    pub count: u64,
    pub bytes: u64,
    pub disk_bytes: Option<u64>,
    pub oldest_use: Option<u64>,
    pub newest_use: Option<u64>,
    /// Entries with no row in `.global-cache` (Cargo counts them as used now).
    pub untracked: u64,
    /// `database`, `disk` or `mixed`.
    pub size_source: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct RegistryRow {
    pub name: String,
    pub url: Option<String>,
    /// `current` (Rust 1.85+ name), `legacy` (older cargo) or null when the URL is unknown.
    pub scheme: Option<Scheme>,
    pub index_bytes: u64,
    pub crate_count: u64,
    pub crate_bytes: u64,
    pub src_count: u64,
    pub src_bytes: u64,
    pub last_use: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StaleRegistry {
    pub name: String,
    pub url: String,
    pub bytes: u64,
    pub disk_bytes: Option<u64>,
}

fn component<'a>(kind: &'static str, entries: impl Iterator<Item = &'a Entry>) -> Component {
    let mut c = Component {
        kind,
        count: 0,
        bytes: 0,
        disk_bytes: Some(0),
        oldest_use: None,
        newest_use: None,
        untracked: 0,
        size_source: "disk",
    };
    let (mut from_db, mut from_disk) = (0, 0);
    for e in entries {
        c.count += 1;
        if let Some(s) = e.size {
            c.bytes += s.bytes;
            c.disk_bytes = c.disk_bytes.zip(s.disk_bytes).map(|(a, b)| a + b);
            match s.source {
                SizeSource::Database => from_db += 1,
                SizeSource::Disk => from_disk += 1,
            }
        }
        match e.last_use {
            Some(t) => {
                c.oldest_use = Some(c.oldest_use.map_or(t, |o| o.min(t)));
                c.newest_use = Some(c.newest_use.map_or(t, |n| n.max(t)));
            }
            None => c.untracked += 1,
        }
    }
    c.size_source = match (from_db, from_disk) {
        (0, _) => "disk",
        (_, 0) => "database",
        _ => "mixed",
    };
    c
}

fn walked(kind: &'static str, u: Usage) -> Component {
    Component {
        kind,
        count: u.files,
        bytes: u.bytes,
        disk_bytes: Some(u.disk_bytes),
        oldest_use: None,
        newest_use: None,
        untracked: 0,
        size_source: "disk",
    }
}

fn bytes<'a>(entries: impl Iterator<Item = &'a Entry>) -> (u64, Option<u64>) {
    entries.fold((0, Some(0)), |(b, d), e| match e.size {
        Some(s) => (b + s.bytes, d.zip(s.disk_bytes).map(|(x, y)| x + y)),
        None => (b, None),
    })
}

/// Builds the summary from measured facts.
pub fn build(
    inv: &Inventory,
    db: &DbRead,
    names: &RegistryNames,
    now: u64,
    exact: bool,
    top: Option<usize>,
) -> Status {
    let regs = &inv.registries;
    let gits = &inv.git;
    let mut components = vec![
        component(
            "registry-index",
            regs.iter().filter_map(|r| r.index.as_ref()),
        ),
        component("registry-crate", regs.iter().flat_map(|r| r.crates.iter())),
        component("registry-src", regs.iter().flat_map(|r| r.srcs.iter())),
        component("git-db", gits.iter().filter_map(|g| g.db.as_ref())),
        component("git-checkout", gits.iter().flat_map(|g| g.checkouts.iter())),
        walked("bin", inv.bin),
        walked("other", inv.other),
    ];
    // Index directories and git databases never have a stored size.
    for c in &mut components {
        if c.count == 0 {
            c.size_source = "disk";
        }
    }

    let mut registries = Vec::new();
    let mut stale_registries = Vec::new();
    for r in regs {
        let known = names.lookup(&r.name);
        let (index_bytes, index_disk) = bytes(r.index.iter());
        let (crate_bytes, crate_disk) = bytes(r.crates.iter());
        let (src_bytes, src_disk) = bytes(r.srcs.iter());
        registries.push(RegistryRow {
            name: r.name.clone(),
            url: known.map(|k| k.url.clone()),
            scheme: known.map(|k| k.scheme),
            index_bytes,
            crate_count: r.crates.len() as u64,
            crate_bytes,
            src_count: r.srcs.len() as u64,
            src_bytes,
            last_use: r.row.map(|(_, ts)| ts),
        });
        if let Some(k) = known
            && k.scheme == Scheme::Legacy
        {
            stale_registries.push(StaleRegistry {
                name: r.name.clone(),
                url: k.url.clone(),
                bytes: index_bytes + crate_bytes + src_bytes,
                disk_bytes: index_disk
                    .zip(crate_disk)
                    .zip(src_disk)
                    .map(|((a, b), c)| a + b + c),
            });
        }
    }

    let total_bytes = components.iter().map(|c| c.bytes).sum();
    let total_disk_bytes = components.iter().map(|c| c.disk_bytes).sum::<Option<u64>>();

    let changes = super::sync::changes(inv, db.snapshot(), false);
    let model = Model::synced(inv, &changes, now, false);
    let auto_clean_reclaimable_bytes = clean::plan(&model, &Policy::auto_defaults(), now).bytes();

    let newest = |es: &[&Entry]| es.iter().filter_map(|e| e.last_use).max();
    let mut git_repos: Vec<GitRepoRow> = gits
        .iter()
        .map(|g| {
            let all: Vec<&Entry> = g.db.iter().chain(g.checkouts.iter()).collect();
            let (b, d) = bytes(all.iter().copied());
            GitRepoRow {
                name: g.name.clone(),
                path: inv.root.join("git/db").join(&g.name),
                checkout_count: g.checkouts.len() as u64,
                bytes: b,
                disk_bytes: d,
                last_use: newest(&all),
            }
        })
        .collect();
    git_repos.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));

    let mut items: Vec<TopItem> = Vec::new();
    if top.is_some() {
        for r in regs {
            for (kind, es) in [("registry-src", &r.srcs), ("registry-crate", &r.crates)] {
                for e in es {
                    let (b, d) = bytes(std::iter::once(e));
                    items.push(TopItem {
                        kind,
                        name: e.name.clone(),
                        path: e.path.clone(),
                        bytes: b,
                        disk_bytes: d,
                        last_use: e.last_use,
                    });
                }
            }
        }
        for g in &git_repos {
            items.push(TopItem {
                kind: "git-db",
                name: g.name.clone(),
                path: g.path.clone(),
                bytes: g.bytes,
                disk_bytes: g.disk_bytes,
                last_use: g.last_use,
            });
        }
    }
    // Largest on disk where measured (what `du` says), else by apparent size.
    items.sort_by(|a, b| {
        (b.disk_bytes.unwrap_or(b.bytes))
            .cmp(&a.disk_bytes.unwrap_or(a.bytes))
            .then_with(|| a.path.cmp(&b.path))
    });
    items.truncate(top.unwrap_or(0));

    let mut next_steps = Vec::new();
    if auto_clean_reclaimable_bytes > 0 {
        next_steps.push(NextStep {
            command: "cargo janitor gc".into(),
            bytes: auto_clean_reclaimable_bytes,
            why: "what Cargo's automatic clean would remove".into(),
        });
    }

    let database = match db {
        DbRead::Missing => DatabaseInfo {
            state: "missing",
            user_version: None,
            last_auto_gc: None,
            note: None,
        },
        DbRead::Unusable(_) => DatabaseInfo {
            state: "unusable",
            user_version: None,
            last_auto_gc: None,
            note: db.note(),
        },
        DbRead::Read(s) => DatabaseInfo {
            state: if db.note().is_some() {
                "newer-schema"
            } else {
                "ok"
            },
            user_version: Some(s.user_version),
            last_auto_gc: s.last_auto_gc,
            note: db.note(),
        },
    };

    Status {
        cargo_home: inv.root.clone(),
        now,
        exact,
        database,
        components,
        registries,
        total_bytes,
        total_disk_bytes,
        auto_clean_reclaimable_bytes,
        stale_registries,
        git_repos,
        top: items,
        next_steps,
    }
}
