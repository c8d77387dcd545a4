//! The database changes of Cargo's `sync_db_with_files`, computed from what is on disk and in
//! the database (see [`super::clean`] for the resulting view).

use std::collections::{HashMap, HashSet};

use super::Row;
use crate::observe::db::Snapshot;
use crate::observe::home::{Entry, Inventory};

/// A child table of `.global-cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildKind {
    Crate,
    Src,
    Checkout,
}

impl ChildKind {
    /// (parent table, table, parent id column).
    pub fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ChildKind::Crate => ("registry_index", "registry_crate", "registry_id"),
            ChildKind::Src => ("registry_index", "registry_src", "registry_id"),
            ChildKind::Checkout => ("git_db", "git_checkout", "git_id"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildRow {
    pub kind: ChildKind,
    pub parent: String,
    pub name: String,
    pub size: Option<u64>,
}

/// What the sync writes. Inserted rows get the timestamp `now`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncChanges {
    /// `(table, name)` of index and git db directories without a row.
    pub insert_parents: Vec<(&'static str, String)>,
    /// Child rows whose file or directory is gone.
    pub delete_children: Vec<Row>,
    /// Parent rows whose directory is gone (their children go by cascade).
    pub delete_parents: Vec<Row>,
    /// Untracked `.crate` files, sources and checkouts under a tracked parent.
    pub insert_children: Vec<ChildRow>,
    /// Tracked sources and checkouts with no size, when a size limit is in force.
    pub fill_sizes: Vec<ChildRow>,
}

impl SyncChanges {
    pub fn is_empty(&self) -> bool {
        self.insert_parents.is_empty()
            && self.delete_children.is_empty()
            && self.delete_parents.is_empty()
            && self.insert_children.is_empty()
            && self.fill_sizes.is_empty()
    }
}

fn measured(e: &Entry) -> Option<u64> {
    e.size.map(|s| s.bytes)
}

/// Cargo's sync as a diff. `sync_sizes`: a size limit is in force, so new rows get sizes and
/// missing sizes are filled (from `inv`, which must be measured the way Cargo measures).
pub fn changes(inv: &Inventory, db: Option<&Snapshot>, sync_sizes: bool) -> SyncChanges {
    let mut c = SyncChanges::default();
    let empty = Snapshot::default();
    let db = db.unwrap_or(&empty);

    // What exists, by (parent, name).
    let mut present: HashSet<(ChildKind, &str, &str)> = HashSet::new();
    for r in &inv.registries {
        for e in &r.crates {
            present.insert((ChildKind::Crate, &r.name, &e.name));
        }
        for e in &r.srcs {
            present.insert((ChildKind::Src, &r.name, &e.name));
        }
    }
    for g in &inv.git {
        for e in &g.checkouts {
            present.insert((ChildKind::Checkout, &g.name, &e.name));
        }
    }
    let index_dirs: HashSet<&str> = inv
        .registries
        .iter()
        .filter(|r| r.index.is_some())
        .map(|r| r.name.as_str())
        .collect();
    let db_dirs: HashSet<&str> = inv
        .git
        .iter()
        .filter(|g| g.db.is_some())
        .map(|g| g.name.as_str())
        .collect();

    // 1. Parent rows for every index and git db directory.
    let index_rows: HashMap<i64, &str> = db
        .registry_index
        .iter()
        .map(|p| (p.id, p.name.as_str()))
        .collect();
    let git_rows: HashMap<i64, &str> = db.git_db.iter().map(|p| (p.id, p.name.as_str())).collect();
    let index_names: HashSet<&str> = index_rows.values().copied().collect();
    let git_names: HashSet<&str> = git_rows.values().copied().collect();
    for r in &inv.registries {
        if r.index.is_some() && !index_names.contains(r.name.as_str()) {
            c.insert_parents.push(("registry_index", r.name.clone()));
        }
    }
    for g in &inv.git {
        if g.db.is_some() && !git_names.contains(g.name.as_str()) {
            c.insert_parents.push(("git_db", g.name.clone()));
        }
    }

    // 2. Child rows whose path is gone.
    for (kind, rows, parents) in [
        (ChildKind::Crate, &db.registry_crate, &index_rows),
        (ChildKind::Src, &db.registry_src, &index_rows),
        (ChildKind::Checkout, &db.git_checkout, &git_rows),
    ] {
        for row in rows {
            let Some(parent) = parents.get(&row.parent_id) else {
                continue;
            };
            if !present.contains(&(kind, parent, row.name.as_str())) {
                let (parent, name) = (parent.to_string(), row.name.clone());
                c.delete_children.push(match kind {
                    ChildKind::Crate => Row::RegistryCrate {
                        registry: parent,
                        name,
                    },
                    ChildKind::Src => Row::RegistrySrc {
                        registry: parent,
                        name,
                    },
                    ChildKind::Checkout => Row::GitCheckout { db: parent, name },
                });
            }
        }
    }

    // 3. Parent rows whose directory is gone.
    for p in &db.registry_index {
        if !index_dirs.contains(p.name.as_str()) {
            c.delete_parents.push(Row::RegistryIndex {
                name: p.name.clone(),
            });
        }
    }
    for p in &db.git_db {
        if !db_dirs.contains(p.name.as_str()) {
            c.delete_parents.push(Row::GitDb {
                name: p.name.clone(),
            });
        }
    }

    // `git_checkout.name` is UNIQUE across all repositories and Cargo's insert is `ON CONFLICT
    // DO NOTHING`: an untracked checkout whose short id already has a row (under any
    // repository) is never tracked, so Cargo's GC never sees it.
    let mut checkout_names: HashSet<String> = HashSet::new();
    for row in &db.git_checkout {
        let Some(parent) = git_rows.get(&row.parent_id) else {
            continue;
        };
        if db_dirs.contains(parent)
            && present.contains(&(ChildKind::Checkout, parent, row.name.as_str()))
        {
            checkout_names.insert(row.name.clone());
        }
    }

    // 4./5. Untracked children under a parent that has (or now gets) a row; 6. null sizes.
    let mut child = |kind: ChildKind, parent: &str, e: &Entry, size: Option<u64>| {
        let row = ChildRow {
            kind,
            parent: parent.to_owned(),
            name: e.name.clone(),
            size,
        };
        if e.last_use.is_none() {
            if kind == ChildKind::Checkout && !checkout_names.insert(e.name.clone()) {
                return;
            }
            c.insert_children.push(row);
        } else if sync_sizes && e.db_size.is_none() && kind != ChildKind::Crate {
            c.fill_sizes.push(row);
        }
    };
    for r in inv.registries.iter().filter(|r| r.index.is_some()) {
        for e in &r.crates {
            child(ChildKind::Crate, &r.name, e, measured(e));
        }
        for e in &r.srcs {
            child(
                ChildKind::Src,
                &r.name,
                e,
                measured(e).filter(|_| sync_sizes),
            );
        }
    }
    for g in inv.git.iter().filter(|g| g.db.is_some()) {
        for e in &g.checkouts {
            child(
                ChildKind::Checkout,
                &g.name,
                e,
                measured(e).filter(|_| sync_sizes),
            );
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::db::{ChildRow as DbChild, ParentRow};
    use crate::observe::home::{self, Measured, Registry, SizeSource};
    use std::path::PathBuf;

    fn entry(name: &str, last_use: Option<u64>, bytes: u64) -> Entry {
        Entry {
            name: name.into(),
            path: PathBuf::from("/h").join(name),
            last_use,
            db_size: None,
            size: Some(Measured {
                bytes,
                disk_bytes: None,
                source: SizeSource::Disk,
            }),
            is_link: false,
        }
    }

    #[test]
    fn untracked_added_vanished_dropped_orphans_deleted() {
        let inv = Inventory {
            root: "/h".into(),
            registries: vec![Registry {
                name: "reg-1".into(),
                index: Some(entry("reg-1", Some(5), 0)),
                crates: vec![entry("a-1.crate", None, 10)],
                srcs: vec![entry("a-1", None, 100), entry("b-1", Some(5), 50)],
                has_cache_dir: true,
                has_src_dir: true,
                row: Some((1, 5)),
            }],
            ..Inventory::default()
        };
        let db = Snapshot {
            user_version: 7,
            registry_index: vec![
                ParentRow {
                    id: 1,
                    name: "reg-1".into(),
                    timestamp: 5,
                },
                ParentRow {
                    id: 2,
                    name: "gone-2".into(),
                    timestamp: 5,
                },
            ],
            registry_src: vec![
                DbChild {
                    parent_id: 1,
                    name: "b-1".into(),
                    size: None,
                    timestamp: 5,
                },
                DbChild {
                    parent_id: 1,
                    name: "c-1".into(),
                    size: Some(3),
                    timestamp: 5,
                },
            ],
            ..Snapshot::default()
        };
        let c = changes(&inv, Some(&db), false);
        assert!(c.insert_parents.is_empty());
        assert_eq!(
            c.delete_children,
            [Row::RegistrySrc {
                registry: "reg-1".into(),
                name: "c-1".into()
            }]
        );
        assert_eq!(
            c.delete_parents,
            [Row::RegistryIndex {
                name: "gone-2".into()
            }]
        );
        let names: Vec<_> = c
            .insert_children
            .iter()
            .map(|r| (&r.name[..], r.size))
            .collect();
        assert_eq!(names, [("a-1.crate", Some(10)), ("a-1", None)]);
        assert!(c.fill_sizes.is_empty());

        let with_sizes = changes(&inv, Some(&db), true);
        assert_eq!(with_sizes.insert_children[1].size, Some(100));
        assert_eq!(with_sizes.fill_sizes.len(), 1);
        assert_eq!(with_sizes.fill_sizes[0].name, "b-1");
        let _ = home::SizeMode::Exact;
    }

    #[test]
    fn a_checkout_id_tracked_elsewhere_is_never_tracked() {
        use crate::observe::home::GitRepo;
        let repo = |name: &str, co: Entry, row| GitRepo {
            name: name.into(),
            db: Some(entry(name, row, 0)),
            checkouts: vec![co],
            has_checkouts_dir: true,
            row: row.map(|t| (if name == "a" { 1 } else { 2 }, t)),
        };
        let inv = Inventory {
            root: "/h".into(),
            git: vec![
                repo("a", entry("157c27d", Some(5), 10), Some(5)),
                repo("b", entry("157c27d", None, 10), Some(5)),
                repo("c", entry("abcdef0", None, 10), None),
            ],
            ..Inventory::default()
        };
        let db = Snapshot {
            git_db: vec![
                ParentRow {
                    id: 1,
                    name: "a".into(),
                    timestamp: 5,
                },
                ParentRow {
                    id: 2,
                    name: "b".into(),
                    timestamp: 5,
                },
            ],
            git_checkout: vec![DbChild {
                parent_id: 1,
                name: "157c27d".into(),
                size: None,
                timestamp: 5,
            }],
            ..Snapshot::default()
        };
        let c = changes(&inv, Some(&db), false);
        assert_eq!(c.insert_parents, [("git_db", "c".to_string())]);
        let names: Vec<_> = c
            .insert_children
            .iter()
            .map(|r| (&r.parent[..], &r.name[..]))
            .collect();
        assert_eq!(names, [("c", "abcdef0")]);
        assert!(!c.insert_children.iter().any(|r| r.parent == "b"));
    }
}
