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
//!
//! **Never through a symlink.** [`locate`] looks at `.global-cache` (and SQLite's journal, WAL
//! and shared-memory files beside it) relative to a handle on the home, without following:
//! a symlink there is refused with an error naming it. SQLite is then given the home's
//! resolved path (a symlinked home is fine) and `SQLITE_OPEN_NOFOLLOW`, so it too refuses a
//! symlink that appeared meanwhile instead of opening, or creating, the file it points to;
//! SQLite opens its journal files with `O_NOFOLLOW` itself.

use std::path::{Path, PathBuf};
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

/// SQLite's own files for a database, beside it.
const SIDE_FILES: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The database file, checked without following symlinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbFile {
    /// The path to give SQLite: the home resolved, then `.global-cache` (with
    /// `SQLITE_OPEN_NOFOLLOW`, SQLite refuses a path with any symlink in it).
    pub sqlite_path: PathBuf,
    pub exists: bool,
}

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbRefused {
    #[error("refusing to use `{}`: it is a symlink; Cargo's database is never followed", .0.display())]
    Symlink(PathBuf),
    #[error("refusing to use `{}`: it is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("cannot open `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Looks at the database `path` (`$CARGO_HOME/.global-cache`) and SQLite's files beside it
/// without following symlinks: a symlink or a non-file is refused.
pub fn locate(path: &Path) -> Result<DbFile, DbRefused> {
    use crate::sys::fs::{Dir, Kind};
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(DbRefused::NotAFile(path.to_owned()));
    };
    let home = Dir::open(dir).map_err(|e| DbRefused::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let mut exists = false;
    for suffix in std::iter::once("").chain(SIDE_FILES) {
        let mut n = name.to_owned();
        n.push(suffix);
        let shown = dir.join(&n);
        match home.stat(&n) {
            Ok(st) if st.kind == Kind::Symlink => return Err(DbRefused::Symlink(shown)),
            Ok(st) if st.kind != Kind::File => return Err(DbRefused::NotAFile(shown)),
            Ok(_) => exists |= suffix.is_empty(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DbRefused::Io {
                    path: shown,
                    source: e,
                });
            }
        }
    }
    let resolved = std::fs::canonicalize(dir).map_err(|e| DbRefused::Io {
        path: path.to_owned(),
        source: e,
    })?;
    Ok(DbFile {
        sqlite_path: resolved.join(name),
        exists,
    })
}

/// Whether SQLite refused to open `path` because of a symlink.
pub fn is_symlink_refusal(e: &rusqlite::Error) -> bool {
    e.sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CANTOPEN_SYMLINK)
}

/// Reads a snapshot of the database at `path`, read-only.
pub fn read(path: &Path) -> DbRead {
    let file = match locate(path) {
        Ok(f) if !f.exists => return DbRead::Missing,
        Ok(f) => f,
        Err(e) => return DbRead::Unusable(e.to_string()),
    };
    match read_inner(&file.sqlite_path) {
        Ok(s) => DbRead::Read(s),
        Err(e) if is_symlink_refusal(&e) => {
            DbRead::Unusable(DbRefused::Symlink(path.to_owned()).to_string())
        }
        Err(e) => DbRead::Unusable(e.to_string()),
    }
}

fn read_inner(path: &Path) -> rusqlite::Result<Snapshot> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
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
