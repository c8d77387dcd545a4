//! Reading Cargo's last-use database, `$CARGO_HOME/.global-cache`, without changing it.
//!
//! The schema is cargo's (`global_cache_tracker.rs`, cargo-internals.md §1): parent tables
//! `registry_index` and `git_db` with integer ids, child tables `registry_crate`,
//! `registry_src` and `git_checkout` keyed by `(parent id, name)`, and `global_data` with one
//! `last_auto_gc` row. `PRAGMA user_version` counts applied migrations: 7 for every cargo so
//! far. Migrations are additive by Cargo's own rule, so a newer database (a higher version,
//! extra tables or columns) still has these tables with these meanings; we read it, and say so.
//!
//! Here the database is opened read-only, with no Cargo lock: a snapshot for reporting. Anything
//! that goes wrong (busy, corrupt, missing tables) makes the snapshot [`DbRead::Unusable`] and
//! callers fall back to the disk alone.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The number of migrations cargo 1.78 through 1.100 applies.
pub const CARGO_SCHEMA_VERSION: i64 = 7;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentRow {
    pub id: i64,
    pub name: String,
    pub timestamp: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildRow {
    pub parent_id: i64,
    pub name: String,
    pub size: Option<u64>,
    pub timestamp: u64,
}

/// Every row of the five tables, read in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub user_version: i64,
    pub registry_index: Vec<ParentRow>,
    pub registry_crate: Vec<ChildRow>,
    pub registry_src: Vec<ChildRow>,
    pub git_db: Vec<ParentRow>,
    pub git_checkout: Vec<ChildRow>,
    pub last_auto_gc: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum DbRead {
    /// No `.global-cache`: normal for a home only ever used by cargo older than 1.78.
    Missing,
    Read(Snapshot),
    /// The file exists but could not be read; the reason is one line for a warning.
    Unusable(String),
}

impl DbRead {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            DbRead::Read(s) => Some(s),
            _ => None,
        }
    }

    /// A one-line note for the user, if the database is not simply there and current.
    pub fn note(&self) -> Option<String> {
        match self {
            DbRead::Missing => None,
            DbRead::Unusable(why) => Some(format!(
                "cannot read .global-cache ({why}); sizes come from walking the disk and last use is unknown"
            )),
            DbRead::Read(s) if s.user_version > CARGO_SCHEMA_VERSION => Some(format!(
                ".global-cache has schema version {} (this tool knows {CARGO_SCHEMA_VERSION}); reading the tables it knows",
                s.user_version
            )),
            DbRead::Read(_) => None,
        }
    }
}

/// Reads a snapshot of the database at `path`, read-only.
pub fn read(path: &Path) -> DbRead {
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return DbRead::Missing,
        Err(e) => return DbRead::Unusable(e.to_string()),
        Ok(m) if !m.is_file() => return DbRead::Unusable("not a regular file".into()),
        Ok(_) => {}
    }
    match read_inner(path) {
        Ok(s) => DbRead::Read(s),
        Err(e) => DbRead::Unusable(e.to_string()),
    }
}

fn read_inner(path: &Path) -> rusqlite::Result<Snapshot> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(1))?;
    read_snapshot(&conn)
}

/// Reads all rows through an open connection, in one read transaction.
pub fn read_snapshot(conn: &Connection) -> rusqlite::Result<Snapshot> {
    conn.execute_batch("BEGIN")?;
    let result = read_tables(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn read_tables(conn: &Connection) -> rusqlite::Result<Snapshot> {
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let ts = |v: i64| v.max(0) as u64;
    let parents = |table: &str| -> rusqlite::Result<Vec<ParentRow>> {
        let mut st = conn.prepare(&format!("SELECT id, name, timestamp FROM {table}"))?;
        st.query_map([], |r| {
            Ok(ParentRow {
                id: r.get(0)?,
                name: r.get(1)?,
                timestamp: ts(r.get(2)?),
            })
        })?
        .collect()
    };
    let children = |table: &str, parent: &str| -> rusqlite::Result<Vec<ChildRow>> {
        let mut st = conn.prepare(&format!(
            "SELECT {parent}, name, size, timestamp FROM {table}"
        ))?;
        st.query_map([], |r| {
            Ok(ChildRow {
                parent_id: r.get(0)?,
                name: r.get(1)?,
                size: r.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                timestamp: ts(r.get(3)?),
            })
        })?
        .collect()
    };
    let last_auto_gc = conn
        .query_row("SELECT last_auto_gc FROM global_data LIMIT 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| Some(ts(v)))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    Ok(Snapshot {
        user_version,
        registry_index: parents("registry_index")?,
        registry_crate: children("registry_crate", "registry_id")?,
        registry_src: children("registry_src", "registry_id")?,
        git_db: parents("git_db")?,
        git_checkout: children("git_checkout", "git_id")?,
        last_auto_gc,
    })
}
